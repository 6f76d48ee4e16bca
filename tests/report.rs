//! `--report FILE`: every op kind of the graph with its count, status, inputs and source lines,
//! in Markdown or CSV, written also when the export fails on unsupported ops.
mod common;
use common::*;

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "op",
            "count",
            "status",
            "ge_lowering",
            "inputs_seen",
            "source_lines"
        ]
    );
    r.records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn row<'a>(rows: &'a [Vec<String>], op: &str) -> &'a Vec<String> {
    rows.iter()
        .find(|r| r[0] == op)
        .unwrap_or_else(|| panic!("no row for {op}: {rows:?}"))
}

#[test]
fn unsupported_model_report_counts_and_lines() {
    let d = tmp();
    let m = model("unsupported.pt");
    let m = m.to_str().unwrap();
    let (c, _, e) = cli(
        d.path(),
        &["export", m, "--input", "f32[2,3,3]", "--report", "ops.csv"],
    );
    assert_clean_error(c, &e, "cannot lower to GE yet");
    assert!(
        e.contains("the op report of the whole graph is in ops.csv"),
        "{e}"
    );
    assert_eq!(
        files_in(d.path()),
        vec!["ops.csv"],
        "only the report is written"
    );
    let rows = csv_rows(&std::fs::read_to_string(d.path().join("ops.csv")).unwrap());
    let det = row(&rows, "aten::linalg_matrix_exp");
    assert_eq!(det[1], "2");
    // No rule, and the reason why.
    assert!(
        det[2].starts_with("UNSUPPORTED: CANN has no matrix exponential"),
        "{det:?}"
    );
    assert_eq!(det[3], "");
    assert_eq!(det[4], "f32[2, 3, 3]");
    assert!(
        det[5].contains("make_fixtures.py:176: torch.linalg.matrix_exp"),
        "{det:?}"
    );
    assert!(
        det[5].contains("make_fixtures.py:177: torch.linalg.matrix_exp"),
        "{det:?}"
    );
    let bc = row(&rows, "aten::bincount");
    assert_eq!((bc[1].as_str(), bc[2].as_str()), ("1", "UNSUPPORTED"));
    assert!(
        bc[5].contains("make_fixtures.py:178: torch.bincount"),
        "{bc:?}"
    );
    // The supported ops around them are listed too, with their GE lowering.
    let mul = row(&rows, "aten::mul.Scalar");
    assert_eq!((mul[1].as_str(), mul[2].as_str()), ("1", "lowered"));
    assert!(mul[3].contains("Mul"), "{mul:?}");
    let add = row(&rows, "aten::add.Tensor");
    assert_eq!(add[1], "2");
    let total: usize = rows.iter().map(|r| r[1].parse::<usize>().unwrap()).sum();
    assert_eq!(total, 11, "{rows:?}");

    // Markdown: the same table.
    let (c, _, _) = cli(
        d.path(),
        &["export", m, "--input", "f32[2,3,3]", "--report", "ops.md"],
    );
    assert_eq!(c, 2);
    let md = std::fs::read_to_string(d.path().join("ops.md")).unwrap();
    assert!(
        md.contains("8 op kind(s), 11 node(s); 2 kind(s) unsupported (3 node(s))."),
        "{md}"
    );
    assert!(
        md.lines().any(
            |l| l.starts_with("| `aten::linalg_matrix_exp` | 2 | UNSUPPORTED: ")
                && l.contains("make_fixtures.py:176")
        ),
        "{md}"
    );
}

#[test]
fn report_of_a_successful_export() {
    let d = tmp();
    let m = model("mlp.pt");
    let (c, out, e) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[3,16]",
            "--report",
            "r.md",
        ],
    );
    assert_eq!(c, 0, "{e}");
    assert!(out.contains("exported"), "{out}");
    assert!(d.path().join("export_file/export.air").exists());
    let md = std::fs::read_to_string(d.path().join("r.md")).unwrap();
    assert!(md.contains("; 0 kind(s) unsupported (0 node(s))."), "{md}");
    for op in [
        "aten::linear",
        "aten::layer_norm",
        "aten::gelu",
        "aten::softmax.int",
    ] {
        assert!(
            md.lines()
                .any(|l| l.starts_with(&format!("| `{op}` |")) && l.contains("| lowered |")),
            "{op}: {md}"
        );
    }
    assert!(!md.contains("UNSUPPORTED"));
}

#[test]
fn report_path_is_checked_before_work() {
    let d = tmp();
    let s = model("seed_single.pt");
    let s = s.to_str().unwrap();
    let (c, _, e) = cli(
        d.path(),
        &[
            "export", s, "--input", "f32[2,4]", "--input", "f32[2,4]", "--report", "r.txt",
        ],
    );
    assert_clean_error(c, &e, "must end in .md or .csv");
    std::os::unix::fs::symlink(d.path().join("elsewhere.md"), d.path().join("l.md")).unwrap();
    let (c, _, e) = cli(
        d.path(),
        &[
            "export", s, "--input", "f32[2,4]", "--input", "f32[2,4]", "--report", "l.md",
        ],
    );
    assert_clean_error(c, &e, "is a symbolic link");
    assert!(!d.path().join("elsewhere.md").exists());
    assert!(!d.path().join("export_file").exists());
}

#[test]
fn report_of_a_multi_card_export() {
    let d = tmp();
    let m = model("multicard/seed_mp.pt");
    let export = |extra: &[&str]| {
        let mut args = vec![
            "export",
            m.to_str().unwrap(),
            "--input",
            "i32[2,2]:1..2",
            "--input",
            "i32[2,2]:1..2",
            "--world-size",
            "2",
        ];
        args.extend_from_slice(extra);
        cli(d.path(), &args)
    };
    let (c, _, e) = export(&["--report", "r.csv"]);
    assert_eq!(c, 0, "{e}");
    let rows = csv_rows(&std::fs::read_to_string(d.path().join("r.csv")).unwrap());
    let ar = row(&rows, "_c10d_functional::all_reduce");
    assert_eq!((ar[1].as_str(), ar[2].as_str()), ("1", "lowered"));
    assert!(ar[3].contains("HcomAllReduce"), "{ar:?}");
    // i32 inputs plus the f32 parameters: the all_reduce sees f32.
    assert!(ar[4].starts_with("f32[2, 2], \"sum\""), "{ar:?}");
    // A bad report path fails before any rank is walked or written.
    let (c, _, e) = export(&["--export-path", "other", "--report", "r.txt"]);
    assert_clean_error(c, &e, "must end in .md or .csv");
    assert!(!d.path().join("other").exists());
}
