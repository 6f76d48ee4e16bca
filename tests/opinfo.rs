//! The fixed OpInfo sample: cases of PyTorch's operator database that `./dev opinfo` copied into
//! models/opinfo/, each replayed through `torch2air verify` (static and `--dynamic`), must end
//! exactly as recorded in models/opinfo/expected.tsv: a pass, or the same failure with the same
//! reason. docs/opinfo.md (the full run's table) must agree with the sample: when a fix changes
//! an outcome, `./dev opinfo` regenerates both.
mod common;
use common::*;
use std::time::Duration;
use torch2air::internal::opinfo::{classify, run_case, CaseResult, Outcome};

/// (entry, recorded result) per line of expected.tsv.
fn expected() -> Vec<(String, CaseResult)> {
    let text = std::fs::read_to_string(model("opinfo/expected.tsv")).expect("expected.tsv");
    text.lines()
        .map(|l| {
            let (entry, rest) = l.split_once('\t').expect("entry<TAB>result");
            let r = CaseResult::parse(rest).unwrap_or_else(|| panic!("bad line {l}"));
            (entry.to_string(), r)
        })
        .collect()
}

#[test]
fn opinfo_sample_ends_as_recorded() {
    let cases = expected();
    assert!(cases.len() >= 40, "the sample has {} runs", cases.len());
    let ids: std::collections::BTreeSet<&str> = cases.iter().map(|(_, r)| r.id.as_str()).collect();
    assert!(ids.len() >= 20, "the sample has {} cases", ids.len());
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_torch2air"));
    let mut differ = Vec::new();
    for (_, want) in &cases {
        let dir = model("opinfo").join(&want.id);
        let ran = run_case(bin, &dir, want.dynamic, Duration::from_secs(300));
        let (outcome, reason) = classify(&ran, &dir.to_string_lossy());
        assert!(
            !matches!(
                outcome,
                Outcome::Crash | Outcome::Internal | Outcome::Timeout
            ),
            "{} ({}): {}: {reason}\n{}",
            want.id,
            if want.dynamic { "dynamic" } else { "static" },
            outcome.name(),
            ran.stderr
        );
        let got = CaseResult {
            id: want.id.clone(),
            dynamic: want.dynamic,
            outcome,
            reason,
        };
        if &got != want {
            differ.push(format!(
                "recorded: {}\n     now: {}",
                want.line(),
                got.line()
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "OpInfo sample cases no longer end as recorded (a fix? run `./dev opinfo --rerun failed` to refresh docs/opinfo.md and models/opinfo/expected.tsv):\n{}",
        differ.join("\n")
    );
}

#[test]
fn opinfo_table_agrees_with_the_sample() {
    let table = std::fs::read_to_string(root().join("docs/opinfo.md")).expect("docs/opinfo.md");
    assert!(table.starts_with("# OpInfo coverage"), "{table}");
    for (entry, r) in expected() {
        let row = table
            .lines()
            .find(|l| {
                l.starts_with(&format!("| `{entry}` |"))
                    || l.starts_with(&format!("| `{entry}` (out of scope) |"))
            })
            .unwrap_or_else(|| {
                panic!("docs/opinfo.md has no row for {entry}; regenerate it with ./dev opinfo")
            });
        let cells: Vec<&str> = row.split(" | ").collect();
        let cell = cells[if r.dynamic { 3 } else { 2 }];
        let (pass, ran) = cell.split_once('/').expect("pass/ran");
        let (pass, ran): (usize, usize) = (pass.parse().unwrap(), ran.parse().unwrap());
        if r.outcome == Outcome::Pass {
            assert!(
                pass >= 1,
                "{entry}: the table counts no pass for {}: {row}",
                r.id
            );
        } else {
            assert!(
                pass < ran,
                "{entry}: the table counts no failure for {}: {row}",
                r.id
            );
            let mode = if r.dynamic { "dynamic: " } else { "" };
            let text = if r.reason.is_empty() {
                format!("{mode}{}", r.outcome.name())
            } else {
                format!("{mode}{}: {}", r.outcome.name(), r.reason)
            };
            assert!(
                row.contains(&text),
                "docs/opinfo.md is stale: {entry}'s row lacks {text:?}: {row}"
            );
        }
    }
}
