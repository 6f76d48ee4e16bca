//! The README documents the CLI: every `--flag` it names exists in some subcommand's `--help`
//! (cargo's own `--bench`/`--profile`/`--example` aside), and every flag of `--help` is in the README.
mod common;
use common::*;
use std::collections::BTreeSet;

fn flags(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"--[a-z][a-z0-9-]*").unwrap();
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

#[test]
fn readme_flags_and_help_agree() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut help = String::new();
    for cmd in ["export", "run", "verify", "check", "inspect", "show", "ops"] {
        let (code, out, err) = cli(&root(), &[cmd, "--help"]);
        assert_eq!(code, 0, "{err}");
        help.push_str(&out);
    }
    let in_help = flags(&help);
    let in_readme = flags(&readme);
    let cargo_flags: BTreeSet<String> = ["--bench", "--profile", "--example", "--help", "--open"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let undocumented: Vec<_> = in_help
        .difference(&in_readme)
        .filter(|f| !cargo_flags.contains(*f) && f.as_str() != "--version")
        .collect();
    assert!(
        undocumented.is_empty(),
        "flags in --help but not in README: {undocumented:?}"
    );
    // ATC's own options, in the README's ATC section (the regex stops at `_`: --soc_version).
    let atc_flags: BTreeSet<String> = [
        "--model",
        "--framework",
        "--output",
        "--soc",
        "--cluster",
        "--distributed",
        "--shard",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let unknown: Vec<_> = in_readme
        .difference(&in_help)
        .filter(|f| !cargo_flags.contains(*f) && !atc_flags.contains(*f))
        .collect();
    assert!(
        unknown.is_empty(),
        "flags in README but not in --help: {unknown:?}"
    );
}
