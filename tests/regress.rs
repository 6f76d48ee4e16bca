//! Regressions found by measuring from outside (issue 10): a heap corruption on traced
//! `chunk(n, dim=-1)`, wrong results that exited 0 (training-mode dropout, 0-d reductions and
//! index_select), `-1` dims that a guard made a lie, and refusals that hid each other.
mod common;
use common::*;

#[test]
fn traced_chunk_on_the_last_dim_exports_and_verifies() {
    // libtorch's restore_shapes load path corrupted the heap on these (exit 134).
    for (name, pieces) in [
        ("regress/chunk_neg3.pt", 3),
        ("regress/chunk_neg4.pt", 4),
        ("regress/chunk_neg2.pt", 2),
    ] {
        let r = verify_fixture(name, &[], 0.0);
        assert!(r.export.used_traced_inputs, "{name}");
        assert_eq!(r.checks.len(), pieces, "{name}");
        let split = ops_of_type(&r.air, "SplitV");
        assert_eq!(split.len(), 1, "{name}");
        assert_eq!(attr_i(split[0], "num_split"), pieces as i64, "{name}");
    }
    // The same through the CLI, which is where the abort showed.
    let d = tmp();
    let (code, out, err) = cli(
        d.path(),
        &["verify", model("regress/chunk_neg3.pt").to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verify: PASS (3 output(s)"), "{out}");
}

#[test]
fn training_mode_dropout_with_p_1_is_zeros_and_other_p_is_refused() {
    let r = verify_fixture("regress/dropout_train.pt", &["f32[3,4,5]"], 0.0);
    assert_eq!(r.checks.len(), 4);
    // Mul by a zero Const for each of the three p=1 calls; p=0 is the identity.
    assert_eq!(ops_of_type(&r.air, "Mul").len(), 3, "{:?}", types(&r.air));
    let got = torch2air::run::run_air(
        &r.export.air,
        &torch2air::verify::graph_tensors(&r.export.inputs),
    )
    .unwrap();
    for t in &got[..3] {
        assert_eq!(t.abs().sum(tch::Kind::Double).double_value(&[]), 0.0);
    }
    let d = tmp();
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            model("regress/dropout_half.pt").to_str().unwrap(),
            "--input",
            "f32[3,4]",
        ],
    );
    assert_clean_error(
        code,
        &err,
        "dropout with p=0.5 in training mode draws random masks",
    );
    assert_eq!(code, 2);
    assert!(err.contains("model.eval()"), "{err}");
    assert!(!d.path().join("export_file").exists());
}

#[test]
fn zero_d_index_select_and_reductions_run() {
    let r = verify_fixture("regress/zero_d.pt", &["f32[]", "i64[1]:0..1"], 0.0);
    assert_eq!(r.checks.len(), 5);
    for c in &r.checks {
        assert!(c.shape.len() <= 1, "{c}");
    }
}

#[test]
fn a_loop_over_a_dynamic_dim_pins_that_dim() {
    let d = tmp();
    let m = model("regress/guarded_loop.pt");
    let (code, out, err) = cli(
        d.path(),
        &[
            "verify",
            m.to_str().unwrap(),
            "--input",
            "f32[2,5]",
            "--dynamic",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dynamic dims: x[0]\n"), "{out}");
    assert!(
        out.contains("note: 'x' dim 1 is pinned at 5: the graph depends on it at")
            && out.contains("for t in range(x.size(1)):  -> 5 iteration(s), unrolled"),
        "{out}"
    );
    // The larger-size comparison is binding and passes: batch grown, length kept.
    assert!(out.contains("f32[4, 5]"), "{out}");
    assert!(!out.contains("informational"), "{out}");
    let air = d.path().join("export_file/export.air");
    let m = read_air(&air);
    let desc = &op(&m, "x").output_desc[0];
    assert_eq!(desc.shape.as_ref().unwrap().dim, vec![-1, 5]);
    // Another length is refused by the runner (it would have needed 7 unrolled steps).
    std::fs::write(d.path().join("x.npy"), npy_f32(&[2, 7])).unwrap();
    let (code, _, err) = cli(
        d.path(),
        &["run", air.to_str().unwrap(), "--input", "x.npy"],
    );
    assert_clean_error(code, &err, "x");
    assert_eq!(code, 2);
}

#[test]
fn every_refusal_and_unsupported_op_is_listed_at_once() {
    let d = tmp();
    let m = model("regress/refusals.pt");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[3,4]",
            "--report",
            "ops.md",
        ],
    );
    assert_clean_error(code, &err, "aten::dropout x2");
    assert_eq!(code, 2);
    for needle in [
        "refused: dropout with p=0.5 in training mode",
        "refused: dropout with p=0.25 in training mode",
        "make_regress.py:66",
        "make_regress.py:67",
        "aten::histc x1",
        "make_regress.py:68",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let report = std::fs::read_to_string(d.path().join("ops.md")).unwrap();
    assert!(
        report.contains("2 kind(s) unsupported (3 node(s))"),
        "{report}"
    );
    assert!(
        report.contains("| `aten::dropout` | 2 | REFUSED: dropout with p=0.5"),
        "{report}"
    );
    assert!(
        report.contains("| `aten::histc` | 1 | UNSUPPORTED |"),
        "{report}"
    );
    assert!(!d.path().join("export_file").exists());
}

/// A little-endian f32 .npy of zeros.
fn npy_f32(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend((header.len() as u16).to_le_bytes());
    v.extend(header.as_bytes());
    v.extend(vec![0u8; 4 * shape.iter().product::<usize>()]);
    v
}
