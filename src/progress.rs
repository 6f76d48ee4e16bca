//! Progress on a terminal: one line per stage (walking the graph, writing files with bytes and
//! rate). indicatif draws only when stderr is a terminal, so piped output gets nothing extra;
//! `--quiet` ([`set_quiet`]) hides it everywhere.
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Hides every progress line from now on (`--quiet`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// A one-line spinner with `template` (indicatif's syntax), hidden under `--quiet`.
pub fn line(template: &str) -> ProgressBar {
    let bar = if QUIET.load(Ordering::Relaxed) {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(style(template));
    // A stage that ends early (an error) takes its line with it.
    bar.with_finish(indicatif::ProgressFinish::AndClear)
}

/// indicatif's style for `template` (a spinner if the template does not parse).
pub fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}
