//! TorchAir's own AIR graphs (tests/torchair_graphs, exported by TorchAir's `dynamo_export`):
//! every case runs through `torch2air run` and its outputs are compared with eager PyTorch's
//! (`expected_<k>.npy`) at 1e-5. The cases the README names as TorchAir's own bugs run too, and
//! their difference is asserted.
mod common;

use common::{cli, tmp};
use std::path::{Path, PathBuf};
use tch::Tensor;

fn graphs() -> PathBuf {
    common::root().join("tests").join("torchair_graphs")
}

fn npys(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    (0..)
        .map(|k| dir.join(format!("{prefix}_{k}.npy")))
        .take_while(|p| p.exists())
        .collect()
}

fn load(p: &Path) -> Tensor {
    torch2air::internal::spec::read_npy(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// What a case produced: exit code, stderr, and the outputs of each rank (one rank for a
/// single .air).
struct Ran {
    code: i32,
    stderr: String,
    ranks: Vec<Vec<Tensor>>,
}

/// The case's graph: `export.air`, `export/export.air` (single card), or the `export/` folder of
/// a multi-card export (`<name><r>.air` per rank).
fn air_of(dir: &Path) -> PathBuf {
    let single = [dir.join("export.air"), dir.join("export/export.air")];
    let airs_in_folder = std::fs::read_dir(dir.join("export"))
        .map(|rd| {
            rd.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".air"))
            })
            .count()
        })
        .unwrap_or(0);
    match single.iter().find(|p| p.exists()) {
        Some(p) if airs_in_folder <= 1 => p.clone(),
        _ => dir.join("export"),
    }
}

/// Runs `case` (ops/NAME or examples/NAME) with its inputs through the CLI.
fn run_case(case: &str) -> Ran {
    let dir = graphs().join(case);
    let air = air_of(&dir);
    let out = tmp();
    let saved = out.path().join("out");
    let mut args: Vec<String> = vec!["run".into(), air.display().to_string()];
    for i in npys(&dir, "in") {
        args.push("--input".into());
        args.push(i.display().to_string());
    }
    args.push("--save-outputs".into());
    args.push(saved.display().to_string());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = cli(out.path(), &argv);
    let rank_dirs: Vec<PathBuf> = if air.is_dir() {
        (0..)
            .map(|r| saved.join(format!("rank_{r}")))
            .take_while(|d| d.exists())
            .collect()
    } else {
        vec![saved.clone()]
    };
    let ranks = rank_dirs
        .iter()
        .map(|d| npys(d, "output").iter().map(|p| load(p)).collect())
        .collect();
    Ran {
        code,
        stderr,
        ranks,
    }
}

/// The largest absolute difference between `got` and `want` (same dtype and shape asserted).
fn max_err(got: &Tensor, want: &Tensor, what: &str) -> f64 {
    assert_eq!(got.kind(), want.kind(), "{what}: dtype");
    assert_eq!(got.size(), want.size(), "{what}: shape");
    if want.numel() == 0 {
        return 0.0;
    }
    let d = (got.to_kind(tch::Kind::Double) - want.to_kind(tch::Kind::Double)).abs();
    d.max().double_value(&[])
}

/// Runs `case` and returns, per expected output, its largest error on every rank.
fn errors(case: &str) -> Vec<f64> {
    let r = run_case(case);
    assert_eq!(r.code, 0, "{case}: run failed: {}", r.stderr);
    let expected: Vec<Tensor> = npys(&graphs().join(case), "expected")
        .iter()
        .map(|p| load(p))
        .collect();
    assert!(!expected.is_empty(), "{case}: no expected outputs");
    assert!(!r.ranks.is_empty(), "{case}: no outputs saved");
    let mut errs = vec![];
    for (rank, outs) in r.ranks.iter().enumerate() {
        assert_eq!(
            outs.len(),
            expected.len(),
            "{case} rank {rank}: output count"
        );
        for (k, (g, w)) in outs.iter().zip(&expected).enumerate() {
            errs.push(max_err(g, w, &format!("{case} rank {rank} output {k}")));
        }
    }
    errs
}

fn matches(case: &str) {
    for (k, e) in errors(case).into_iter().enumerate() {
        assert!(
            e <= 1e-5,
            "{case}: output {k} is {e:e} off (tolerance 1e-5)"
        );
    }
}

macro_rules! matching {
    ($group:literal: $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                matches(concat!($group, "/", stringify!($name)));
            }
        )*
    };
}

mod ops {
    use super::matches;
    matching!("ops":
        adaptive_avg_pool2d, arange_slice, argmax, avg_pool2d_nopad, batch_norm_eval,
        bilinear_align, bilinear_noalign, bmm_matmul, bool_mask_sum, conv2d_groups_dil,
        conv_transpose2d, cumsum, embedding, expand_neg, expand_permute_cat, gather, gelu_erf,
        group_norm, index_select, int_cast_mul, int_floordiv, layer_norm_2d, linear_3d,
        linear_nobias, log_softmax, masked_fill, max_pool2d_ceil, max_pool2d_plain, mean_dims,
        nearest_up, pad_reflect, pow_rsqrt_clamp, scatter_add, silu_hardswish, softmax_dim1,
        sort_desc, split_computed, topk_smallest, zeros_like_add,
    );

    #[test]
    fn where_() {
        matches("ops/where");
    }
}

mod examples {
    use super::matches;
    matching!("examples":
        a_seed_static, a2_seed_dynamic, b_mlp_static, c_mlp_dynamic, d_allreduce_2rank,
        e_allreduce_layers_2rank,
    );
}

/// Every case directory is covered by a test here (a case added later is not silently skipped).
#[test]
fn every_case_has_a_test() {
    let src = std::fs::read_to_string(common::root().join("tests/torchair_graphs.rs")).unwrap();
    for group in ["ops", "examples"] {
        for e in std::fs::read_dir(graphs().join(group)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let ident = if name == "where" {
                "where_".into()
            } else {
                name.clone()
            };
            assert!(
                src.contains(&format!(" {ident},")) || src.contains(&format!(" {ident}(")),
                "{group}/{name} has no test"
            );
        }
    }
}

/// TorchAir exports `gelu(approximate="tanh")` as the erf form: it runs, and is ~4.7e-4 off.
#[test]
fn gelu_tanh() {
    let errs = errors("ops/gelu_tanh");
    assert_eq!(errs.len(), 1);
    assert!(
        (3e-4..6e-4).contains(&errs[0]),
        "gelu_tanh should be ~4.7e-4 off eager's tanh form (TorchAir's erf Gelu), is {:e}",
        errs[0]
    );
    // ... and it is exactly the erf form of the same input.
    let x = load(&graphs().join("ops/gelu_tanh/in_0.npy"));
    let r = run_case("ops/gelu_tanh");
    let erf = x.gelu("none");
    assert!(max_err(&r.ranks[0][0], &erf, "gelu_tanh vs erf gelu") <= 1e-6);
}

/// A split of a graph input leaves TorchAir's NetOutput with no inputs: it runs, with no outputs.
#[test]
fn split_with_sizes() {
    let r = run_case("ops/split_with_sizes");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.ranks.len(), 1);
    assert!(
        r.ranks[0].is_empty(),
        "TorchAir's NetOutput here has no inputs, so nothing is computed"
    );
    assert_eq!(
        npys(&graphs().join("ops/split_with_sizes"), "expected").len(),
        3
    );
}

/// TorchAir's std: ReduceMean without keep_dims, then Expand of the [2, 3] mean to x's [2, 3, 4],
/// which GE's (numpy, right-aligned) broadcast rule does not allow. The runner aligns it left for a
/// foreign graph, with a warning, and the values match eager.
#[test]
fn std_dim() {
    let r = run_case("ops/std_dim");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: node 'Expand' (Expand): x [2, 3] does not broadcast to [2, 3, 4]"),
        "{}",
        r.stderr
    );
    matches("ops/std_dim");
}

/// TorchAir's ConvTranspose output-size chain subtracts INT64 constants from INT32 dims: Mul
/// promotes by its prototype, Sub (no Promote) is promoted with a warning.
#[test]
fn conv_transpose_int_chain_warns() {
    let r = run_case("ops/conv_transpose2d");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "warning: node 'Sub' (Sub): operands differ in dtype (Int and Int64) and the prototype does not promote"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("(Mul): operands differ"), "{}", r.stderr);
}

/// Triu on BOOL is outside its prototype: `run` warns (a foreign graph) and runs it as GE's
/// kernel would; the values match eager.
#[test]
fn triu_mask() {
    let r = run_case("ops/triu_mask");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains("Triu") && r.stderr.contains("BOOL"),
        "run should warn about Triu on BOOL: {}",
        r.stderr
    );
    matches("ops/triu_mask");
}

/// Exports the seed model (x + y + p1 + p2) into `dir`; returns the .air.
fn export_seed(dir: &Path) -> PathBuf {
    let m = common::model("seed_single.pt");
    let (code, _, err) = cli(
        dir,
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[2,4]",
            "--input",
            "f32[2,4]",
        ],
    );
    assert_eq!(code, 0, "export failed: {err}");
    dir.join("export_file/export.air")
}

fn write_model(p: &Path, m: &torch2air::proto::ModelDef) {
    use prost::Message;
    std::fs::write(p, m.encode_to_vec()).unwrap();
}

/// Our own graphs carry the marker attr and are held to every desc: a desc that disagrees with
/// what the op computes is an error. The same graph without the marker is foreign: a warning,
/// and the run goes on with GE's inferred dtype. A placeholder desc (no shape, DT_FLOAT) on an
/// int tensor is no mismatch at all for a foreign graph.
#[test]
fn own_graphs_strict_foreign_graphs_warn() {
    let d = tmp();
    let air = export_seed(d.path());
    let mut m = common::read_air(&air);
    assert!(
        torch2air::internal::run::is_ours(&m),
        "export writes the {} model attr",
        torch2air::internal::run::MARKER_ATTR
    );
    // A lying desc: the first Add's output declared INT32 with its real shape.
    let add = m.graph[0]
        .op
        .iter_mut()
        .find(|o| o.r#type == "Add")
        .unwrap();
    add.output_desc[0].dtype = torch2air::internal::dtype::DType::I32.ge_proto();
    write_model(&air, &m);
    let run = |air: &Path| {
        cli(
            d.path(),
            &[
                "run",
                air.to_str().unwrap(),
                "--input",
                "f32[2,4]",
                "--input",
                "f32[2,4]",
            ],
        )
    };
    let (code, _, err) = run(&air);
    common::assert_clean_error(code, &err, "is declared i32 but computes as f32");

    m.attr.remove(torch2air::internal::run::MARKER_ATTR);
    write_model(&air, &m);
    let (code, out, err) = run(&air);
    assert_eq!(code, 0, "a foreign graph's lying desc is a warning: {err}");
    assert!(
        err.contains("warning: node 'Add'") && err.contains("is declared i32 but computes as f32"),
        "{err}"
    );
    assert!(out.contains("output 0: f32[2, 4]"), "{out}");

    // Placeholder descs (no shape, DT_FLOAT) everywhere but Data and NetOutput: no warning.
    for op in m.graph[0].op.iter_mut() {
        if !matches!(op.r#type.as_str(), "Data" | "NetOutput" | "Const") {
            for desc in op.input_desc.iter_mut().chain(op.output_desc.iter_mut()) {
                desc.dtype = 1;
                desc.shape = None;
            }
        }
    }
    write_model(&air, &m);
    let (code, _, err) = run(&air);
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains("warning"),
        "placeholders are not mismatches: {err}"
    );
}

/// A foreign graph using an op the runner has no kernel for: the op type, the node, and a
/// pointer to `torch2air check`.
#[test]
fn unknown_op_names_type_node_and_check() {
    let d = tmp();
    let src = graphs().join("ops/gelu_erf/export.air");
    let mut m = common::read_air(&src);
    let g = m.graph[0]
        .op
        .iter_mut()
        .find(|o| o.r#type == "Gelu")
        .unwrap();
    g.r#type = "FancyGelu".into();
    let air = d.path().join("x.air");
    write_model(&air, &m);
    let x = graphs().join("ops/gelu_erf/in_0.npy");
    let (code, _, err) = cli(
        d.path(),
        &["run", air.to_str().unwrap(), "--input", x.to_str().unwrap()],
    );
    common::assert_clean_error(code, &err, "FancyGelu");
    assert!(
        err.contains("node 'Gelu'") && err.contains("torch2air check"),
        "{err}"
    );
}
