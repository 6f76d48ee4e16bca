//! The linear-algebra and data-movement fixtures (models/make_ops_linalg.py): exported, run by
//! the runner and compared with the TorchScript module itself.
mod common;
use common::*;

#[test]
fn ops_linalg() {
    let r = verify_fixture_at("ops/linalg.pt", &["f32[4,6]", "f32[4,6]"], false, 1e-5);
    assert_eq!(r.checks.len(), 94);
    let shapes: Vec<Vec<i64>> = r.checks.iter().map(|c| c.shape.clone()).collect();
    assert_eq!(shapes[0], Vec::<i64>::new()); // dot
    assert_eq!(shapes[1], vec![4]); // mv
    assert_eq!(shapes[12], vec![2, 3, 3, 2]); // tensordot over one dim
    assert_eq!(shapes[13], vec![4, 6]); // kron
    assert_eq!(shapes[21], Vec::<i64>::new()); // multi_dot of vector, matrices, vector
    assert_eq!(shapes[28], vec![5, 5]); // diag of 3 values at offset 2
    assert_eq!(shapes[36], vec![6, 4]); // rot90
    assert_eq!(shapes[52], vec![4, 12]); // hstack promoting to f64
    assert_eq!(r.checks[52].dtype, torch2air::internal::dtype::DType::F64);
    assert_eq!(shapes[66], vec![18, 3]); // cartesian_prod of three
    assert_eq!(shapes[69], vec![4, 9]); // block_diag of 0-D, 1-D, 2-D
    assert_eq!(shapes[70], vec![1, 4, 2, 3]); // pixel_unshuffle
    assert_eq!(shapes[78], vec![4, 4]); // cdist
    assert_eq!(shapes[83], vec![4, 1]); // pairwise_distance keepdim
    assert_eq!(shapes[86], vec![28, 28]); // cdist by matrix product
    assert_eq!(shapes[92], vec![4, 6]); // kron of BOOL
    assert_eq!(r.checks[92].dtype, torch2air::internal::dtype::DType::Bool);
    let types = types(&read_air(&r.export.air));
    for ty in [
        "MatMulV2",
        "BatchMatMulV2",
        "GatherV2",
        "ReverseV2",
        "ConcatV2",
        "Pack",
        "BroadcastTo",
        "Transpose",
        "Sqrt",
        "Pow",
        "ReduceMax",
        "OnesLike",
        "NotEqual",
    ] {
        assert!(types.iter().any(|t| t == ty), "no {ty} in the export");
    }
}

#[test]
fn ops_linalg_dynamic() {
    let r = verify_fixture_at(
        "ops/linalg_dynamic.pt",
        &["f32[4,6]", "f32[4,6]"],
        true,
        1e-5,
    );
    assert_eq!(r.checks.len(), 29);
    // The fixture's forward holds guards on every dim (cdist switches its algorithm at 25 rows;
    // `x[:, :3]` keeps 3 only while dim 1 is at least 3), so each dim is pinned with a note
    // rather than left -1 for sizes the graph would get wrong.
    assert!(r.export.dynamic_input_dims.is_empty());
    assert_eq!(r.export.notes.len(), 4, "{:?}", r.export.notes);
    for (dim, why) in [
        ("'x' dim 0 is pinned at 4", "cdist takes its direct path"),
        ("'y' dim 0 is pinned at 4", "cdist takes its direct path"),
        ("'x' dim 1 is pinned at 6", "a slice [:3] of a dynamic dim"),
        ("'y' dim 1 is pinned at 6", "a slice [:3] of a dynamic dim"),
    ] {
        assert!(
            r.export
                .notes
                .iter()
                .any(|n| n.contains(dim) && n.contains(why)),
            "{dim}: {:?}",
            r.export.notes
        );
    }
    let m = read_air(&r.export.air);
    assert!(types(&m).iter().any(|t| t == "MatMulV2"));
}

#[test]
fn kron_diagonal_block_diag_take_dynamic_dims() {
    // Once static-only (issue 10 item 4): their sizes now come from Shape in the graph.
    let r = verify_fixture_at(
        "ops/linalg_static.pt",
        &["f32[2,3]", "f32[3,2]"],
        true,
        1e-5,
    );
    assert_eq!(
        r.export.dynamic_dims,
        vec!["x[0]", "x[1]", "y[0]", "y[1]"],
        "{:?}",
        r.export.notes
    );
    assert!(types(&r.air).iter().any(|t| t == "Shape"));
    let shapes: Vec<Vec<i64>> = r.checks.iter().map(|c| c.shape.clone()).collect();
    assert_eq!(shapes, vec![vec![6, 6], vec![2], vec![5, 5]]);
    // Static: no shape op.
    let r = verify_fixture_at(
        "ops/linalg_static.pt",
        &["f32[2,3]", "f32[3,2]"],
        false,
        1e-5,
    );
    assert!(!types(&r.air).iter().any(|t| t == "Shape"));
}

/// Matrix decompositions, determinants, inverses and solves (models/make_ops_linalg.py's
/// OpsDecomp): every output against TorchScript, on matrices made well conditioned from the
/// inputs. Outputs whose signs LAPACK chooses (Q, R, U, V, eigenvectors) are compared as they
/// are: the runner's kernels take LAPACK's, as ATen does.
#[test]
fn ops_decomp() {
    let r = verify_fixture_at("ops/decomp.pt", &["f32[4,6]", "f32[4,6]"], false, 1e-2);
    assert_eq!(r.checks.len(), 158);
    let shapes: Vec<Vec<i64>> = r.checks.iter().map(|c| c.shape.clone()).collect();
    assert_eq!(shapes[2], vec![2, 4, 4]); // batched upper Cholesky
    assert_eq!(shapes[15], vec![2, 4, 4]); // triangular_solve's coefficient, broadcast
    assert_eq!(shapes[40], vec![6, 6]); // qr(some=False) of a tall matrix
    assert_eq!(shapes[44], vec![0]); // linalg.qr mode='r': no Q
    assert_eq!(shapes[51], vec![6, 6]); // svd(compute_uv=False): zero U
    assert_eq!(shapes[75], vec![4, 6]); // LU of a wide matrix
    assert_eq!(shapes[81], vec![2, 4]); // batched pivots
    assert_eq!(shapes[147], vec![4, 3, 5]); // vander with N
    use torch2air::internal::dtype::DType;
    for i in [4, 30, 37, 74, 77, 83] {
        assert_eq!(r.checks[i].dtype, DType::I32, "output {i}"); // infos and pivots
    }
    assert_eq!(r.checks[70].dtype, DType::I64); // matrix_rank
    let types = types(&read_air(&r.export.air));
    for ty in [
        "Cholesky",
        "MatrixTriangularSolve",
        "MatrixDeterminant",
        "LogMatrixDeterminant",
        "MatrixInverse",
        "MatrixSolve",
        "Qr",
        "Svd",
        "SelfAdjointEig",
        "Lu",
        "OneHot",
        "GatherElements",
        "ArgMaxV2",
        "Tril",
        "Triu",
        "Cumprod",
        "LinSpace",
    ] {
        assert!(types.iter().any(|t| t == ty), "no {ty} in the export");
    }
}

/// A --dynamic export of the fixture: its dims are fixed by the model itself (eye(4), the
/// reshapes), so it is exported static with a note per dim, and verifies.
#[test]
fn ops_decomp_dynamic_is_static() {
    let r = verify_fixture_at("ops/decomp.pt", &["f32[4,6]", "f32[4,6]"], true, 1e-2);
    assert_eq!(r.checks.len(), 158);
    assert!(r.export.dynamic_input_dims.is_empty());
    assert_eq!(r.export.notes.len(), 4, "{:?}", r.export.notes);
    assert!(
        r.export
            .notes
            .iter()
            .all(|n| n.contains("exported as static")),
        "{:?}",
        r.export.notes
    );
}

/// Ops no CANN prototype can compute are listed with the reason, exit 2.
#[test]
fn linalg_gaps_are_refused_with_the_reason() {
    let d = tmp();
    let m = model("ops/linalg_gap.pt");
    let (code, out, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[3,3]",
            "--export-path",
            "e",
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    common::assert_clean_error(code, &err, "");
    assert!(err.contains("aten::hash_tensor x1"), "{err}");
    assert!(err.contains("aten::linalg_matrix_exp x2"), "{err}");
    assert!(err.contains("no rule: its result is UINT64"), "{err}");
    assert!(
        err.contains("no rule: CANN has no matrix exponential"),
        "{err}"
    );
    assert!(!d.path().join("e").exists());
}
