//! Progress lines (issue 15, item 5): drawn on a terminal (a pty from `script`), never into a
//! pipe, and not at all with `--quiet`.
mod common;

use common::*;
use std::process::Command;

/// Runs the CLI with `args` on a pseudo-terminal; returns everything it drew, or None when
/// util-linux's `script` is not here.
fn on_a_tty(cwd: &std::path::Path, args: &[&str]) -> Option<String> {
    let mut cmd = vec![env!("CARGO_BIN_EXE_torch2air").to_string()];
    cmd.extend(args.iter().map(|a| format!("'{a}'")));
    let o = Command::new("script")
        .args(["-qec", &cmd.join(" "), "/dev/null"])
        .current_dir(cwd)
        .output()
        .ok()?;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn an_export_shows_progress_on_a_terminal_only() {
    let d = tmp();
    let m = model("frozen_mlp.pt");
    let args = ["export", m.to_str().unwrap(), "--input", "f32[2,64]"];
    let Some(drawn) = on_a_tty(d.path(), &args) else {
        println!("skipped: util-linux `script` is not installed");
        return;
    };
    assert!(drawn.contains("writing export.air"), "{drawn}");
    assert!(drawn.contains("KiB written"), "{drawn}");
    let mut quiet = args.to_vec();
    quiet.push("--quiet");
    let drawn = on_a_tty(d.path(), &quiet).unwrap();
    assert!(
        !drawn.contains("writing") && !drawn.contains("walking"),
        "{drawn}"
    );
    assert!(drawn.contains("exported export_file/export.air"), "{drawn}");
    // Into a pipe: nothing on stderr.
    let (c, _, err) = cli(d.path(), &args);
    assert_eq!(c, 0);
    assert_eq!(err, "");
}

#[test]
fn verify_shows_the_runner_and_torchscript_stages_on_a_terminal() {
    let d = tmp();
    let (m, ids, mask) = (
        model("zoo/distilbert.pt"),
        model("zoo/distilbert_ids.npy"),
        model("zoo/distilbert_mask.npy"),
    );
    let args = [
        "verify",
        m.to_str().unwrap(),
        "--input",
        ids.to_str().unwrap(),
        "--input",
        mask.to_str().unwrap(),
    ];
    let Some(drawn) = on_a_tty(d.path(), &args) else {
        println!("skipped: util-linux `script` is not installed");
        return;
    };
    assert!(drawn.contains("running the graph: node"), "{drawn}");
    assert!(drawn.contains(" of 142"), "{drawn}");
    assert!(drawn.contains("verify: PASS"), "{drawn}");
}

#[test]
fn show_shows_the_sample_run_on_a_terminal() {
    let d = tmp();
    let t = model("transformers");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            t.join("gpt2.pt").to_str().unwrap(),
            "--input",
            t.join("gpt2_ids.npy").to_str().unwrap(),
            "--input",
            t.join("gpt2_mask.npy").to_str().unwrap(),
            "--pbtxt",
            "none",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let args = ["show", "export_file/export.air", "-o", "g.html"];
    let Some(drawn) = on_a_tty(d.path(), &args) else {
        println!("skipped: util-linux `script` is not installed");
        return;
    };
    assert!(
        drawn.contains("running the graph on sample inputs for shapes: node"),
        "{drawn}"
    );
    assert!(drawn.contains("drew 188 nodes"), "{drawn}");
    let mut quiet = args.to_vec();
    quiet.push("--quiet");
    let drawn = on_a_tty(d.path(), &quiet).unwrap();
    assert!(!drawn.contains("running the graph"), "{drawn}");
    assert!(drawn.contains("drew 188 nodes"), "{drawn}");
    let (c, _, err) = cli(d.path(), &args);
    assert_eq!(c, 0);
    assert_eq!(err, "");
}
