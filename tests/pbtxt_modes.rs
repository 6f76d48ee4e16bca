//! `--pbtxt full|lean|none` (issue 15, item 4): the same graph, with dynamo.pbtxt in TorchAir's
//! full layout, with Const payloads left out, or not written.
mod common;

use common::*;

fn export(cwd: &std::path::Path, mode: &str) -> (std::path::PathBuf, u64) {
    let m = model("frozen_mlp.pt");
    let (c, _, e) = cli(
        cwd,
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[2,64]",
            "--pbtxt",
            mode,
        ],
    );
    assert_eq!(c, 0, "{e}");
    let f = cwd.join("export_file");
    let pbtxt = f.join("dynamo.pbtxt");
    let size = std::fs::metadata(&pbtxt).map(|m| m.len()).unwrap_or(0);
    (f, size)
}

#[test]
fn lean_and_none_write_less_text_for_the_same_graph() {
    let d = tmp();
    let (f, full) = export(d.path(), "full");
    let graph_full = read_air(&f.join("export.air")).graph;
    let text_full = std::fs::read_to_string(f.join("dynamo.pbtxt")).unwrap();
    let (_, lean) = export(d.path(), "lean");
    let text_lean = std::fs::read_to_string(f.join("dynamo.pbtxt")).unwrap();
    assert_eq!(read_air(&f.join("export.air")).graph, graph_full);
    // frozen_mlp's weights (38 KB) are escaped into the full listing, and left out of the lean one.
    assert!(full > 4 * lean, "full {full} bytes, lean {lean} bytes");
    assert!(
        text_lean.contains("bytes of f32[") && text_lean.contains("left out: --pbtxt lean"),
        "{}",
        &text_lean[..2000.min(text_lean.len())]
    );
    // Every node and attr key of the full listing is in the lean one.
    let lines = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains("name:") || l.contains("key:") || l.contains("op:"))
            .map(String::from)
            .collect()
    };
    assert_eq!(lines(&text_lean), lines(&text_full));
    // none: no listing; the one the earlier export wrote is removed with it.
    let (f, _) = export(d.path(), "none");
    assert_eq!(files_in(&f), ["export.air"]);
    assert_eq!(read_air(&f.join("export.air")).graph, graph_full);
    let m = model("frozen_mlp.pt");
    let (c, out, e) = cli(
        d.path(),
        &[
            "verify",
            m.to_str().unwrap(),
            "--input",
            "f32[2,64]",
            "--pbtxt",
            "lean",
        ],
    );
    assert_eq!(c, 0, "{out}{e}");
    let (c, _, e) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[2,64]",
            "--pbtxt",
            "short",
        ],
    );
    assert_eq!(c, 2);
    assert!(e.contains("fix: full, lean or none"), "{e}");
}
