//! dynamic=true: each dynamic fixture is exported once, then run by the runner at three sizes
//! per dynamic dim and compared with the TorchScript module's own output at that size. Static
//! exports of the same models hold no -1 and no shape op.
mod common;
use common::*;
use std::collections::BTreeMap;
use torch2air::internal::api::{dynamo_export, CompilerConfig};
use torch2air::internal::value::Value;
use torch2air::internal::verify::{compare, graph_tensors, torchscript_outputs};
use torch2air::internal::{run::run_air, spec};
use torch2air::proto::ModelDef;

fn dyn_model(name: &str) -> std::path::PathBuf {
    model(&format!("dynamic/{name}"))
}

fn inputs(specs: &[String], seed: u64) -> Vec<Value> {
    spec::make_all(specs, seed).unwrap()
}

fn export(
    name: &str,
    specs: &[&str],
    dynamic: bool,
    config: &CompilerConfig,
) -> (
    tempfile::TempDir,
    torch2air::internal::api::ExportReport,
    ModelDef,
) {
    let d = tmp();
    let out = d.path().join("out");
    let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
    let r = dynamo_export(
        inputs(&specs, 1),
        dyn_model(name),
        out.to_str().unwrap(),
        "export",
        dynamic,
        config,
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let m = read_air(&r.air);
    torch2air::internal::ge::schema::check_graph(&m.graph[0]).unwrap();
    (d, r, m)
}

/// Runs the export on `spec` and compares with TorchScript at that size.
fn check_at(name: &str, air: &std::path::Path, spec: &str, seed: u64) {
    check_model_at(&dyn_model(name), air, &[spec], seed, 1e-5)
}

fn check_model_at(
    model: &std::path::Path,
    air: &std::path::Path,
    specs: &[&str],
    seed: u64,
    tol: f64,
) {
    let name = model.display();
    let spec = specs.join(" ");
    let args = inputs(
        &specs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        seed,
    );
    let reference = torchscript_outputs(model, &args).unwrap();
    let got =
        run_air(air, &graph_tensors(&args)).unwrap_or_else(|e| panic!("{name} at {spec}: {e}"));
    for c in compare(&reference, &got, None, None).unwrap() {
        assert!(c.ok, "{name} at {spec}: {c}");
        assert!(c.max_abs <= tol, "{name} at {spec}: {c}");
    }
}

fn types(m: &ModelDef) -> Vec<String> {
    m.graph[0].op.iter().map(|o| o.r#type.clone()).collect()
}

fn data_shape(m: &ModelDef, name: &str) -> Vec<i64> {
    op(m, name).output_desc[0]
        .shape
        .as_ref()
        .unwrap()
        .dim
        .clone()
}

fn any_minus_one(m: &ModelDef) -> bool {
    m.graph[0].op.iter().any(|o| {
        o.input_desc
            .iter()
            .chain(&o.output_desc)
            .any(|d| d.shape.as_ref().is_some_and(|s| s.dim.contains(&-1)))
            || o.attr.get("value").is_some_and(|a| {
                matches!(&a.value, Some(torch2air::proto::attr_def::Value::T(t))
                    if t.desc.as_ref().is_some_and(|d| d.dtype == 9) && {
                        let v: Vec<i64> = t.data.chunks(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect();
                        v.contains(&-1)
                    })
            })
    })
}

/// Exports once with dynamic=true and checks three sizes along each dynamic dim.
fn dynamic_case(name: &str, sample: &str, sizes: &[&str]) -> ModelDef {
    let (_d, r, m) = export(name, &[sample], true, &CompilerConfig::default());
    assert_eq!(r.dynamic_dims, vec!["x[0]", "x[1]"], "{name}");
    assert_eq!(r.notes.len(), 1, "{name}: {:?}", r.notes);
    assert!(
        r.notes[0].contains("'x' dim 2 is fixed at") && r.notes[0].contains("exported as static"),
        "{name}: {:?}",
        r.notes
    );
    let x = data_shape(&m, "x");
    assert_eq!(&x[..2], &[-1, -1], "{name}: Data x is {x:?}");
    assert!(x[2] > 0);
    assert_eq!(sizes.len(), 6, "three sizes per dynamic dim");
    for (k, s) in sizes.iter().enumerate() {
        check_at(name, &r.air, s, 10 + k as u64);
    }
    m
}

/// The same model exported static: no -1 anywhere, no shape op, and it verifies.
fn static_case(name: &str, sample: &str) {
    let (_d, r, m) = export(name, &[sample], false, &CompilerConfig::default());
    assert!(r.dynamic_dims.is_empty());
    assert!(!any_minus_one(&m), "{name}: static export holds a -1");
    let t = types(&m);
    assert!(
        !t.iter().any(|t| t == "Shape" || t == "Pack"),
        "{name}: static export holds shape ops: {t:?}"
    );
    check_at(name, &r.air, sample, 1);
    // ... and only at the sample size: the runner refuses another.
    let other = sample.replace("[2,", "[3,");
    let args = inputs(&[other], 2);
    assert!(run_air(&r.air, &graph_tensors(&args)).is_err());
}

#[test]
fn attention_block_dynamic_batch_and_sequence() {
    let m = dynamic_case(
        "attention.pt",
        "f32[2,5,16]",
        &[
            "f32[1,5,16]",
            "f32[3,5,16]",
            "f32[7,5,16]",
            "f32[2,1,16]",
            "f32[2,4,16]",
            "f32[2,11,16]",
        ],
    );
    let t = types(&m);
    // view(b, s, 3, h, d // h) and reshape(b, s, d) with b and s dynamic: computed shapes.
    assert!(t.iter().filter(|t| *t == "Shape").count() >= 1, "{t:?}");
    assert!(t.iter().any(|t| t == "Pack"), "{t:?}");
}

#[test]
fn flatten_mlp_dynamic_computed_sizes() {
    let m = dynamic_case(
        "flatten_mlp.pt",
        "f32[2,5,4]",
        &[
            "f32[1,5,4]",
            "f32[4,5,4]",
            "f32[9,5,4]",
            "f32[2,2,4]",
            "f32[2,3,4]",
            "f32[2,8,4]",
        ],
    );
    let t = types(&m);
    // `h.sum(1) / t` divides by the run-time sequence length.
    assert!(t.iter().any(|t| t == "Gather"), "{t:?}");
    // Shape computations are marked as TorchAir marks them.
    for o in m.graph[0]
        .op
        .iter()
        .filter(|o| o.r#type == "Gather" || o.r#type == "Pack")
    {
        assert_eq!(
            o.attr.get("_force_unknown_shape").map(|a| a.value.clone()),
            Some(Some(torch2air::proto::attr_def::Value::B(true))),
            "{}",
            o.name
        );
    }
}

#[test]
fn traced_size_view_chain_dynamic() {
    dynamic_case(
        "traced_chain.pt",
        "f32[2,5,8]",
        &[
            "f32[1,5,8]",
            "f32[3,5,8]",
            "f32[6,5,8]",
            "f32[2,1,8]",
            "f32[2,2,8]",
            "f32[2,9,8]",
        ],
    );
}

#[test]
fn static_exports_hold_no_dynamic_dims_or_shape_ops() {
    static_case("attention.pt", "f32[2,5,16]");
    static_case("flatten_mlp.pt", "f32[2,5,4]");
    static_case("traced_chain.pt", "f32[2,5,8]");
}

#[test]
fn dynamic_dims_option_pins_the_rest() {
    let mut c = CompilerConfig::default();
    c.export.dynamic_dims = BTreeMap::from([("x".to_string(), vec![0])]);
    let (_d, r, m) = export("attention.pt", &["f32[2,5,16]"], true, &c);
    assert_eq!(r.dynamic_dims, vec!["x[0]"]);
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    assert_eq!(data_shape(&m, "x"), vec![-1, 5, 16]);
    check_at("attention.pt", &r.air, "f32[6,5,16]", 3);
    // The sequence is static now: another length is refused.
    let args = inputs(&["f32[2,6,16]".into()], 4);
    assert!(run_air(&r.air, &graph_tensors(&args)).is_err());
}

#[test]
fn branch_on_a_dynamic_dim_is_a_guard_and_strict_makes_it_an_error() {
    let d = tmp();
    let m = model("branchy.pt");
    let m = m.to_str().unwrap();
    let (code, out, err) = cli(
        d.path(),
        &[
            "export",
            m,
            "--input",
            "f32[3,4]",
            "--input",
            "bool:true",
            "--dynamic",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // `if x.size(0) > 1` would be wrong at size 1: the dim it reads is pinned, not left -1.
    assert!(out.contains("dynamic dims: none"), "{out}");
    assert!(out.contains("'x' dim 1 is fixed at 4"), "{out}");
    assert!(
        out.contains("'x' dim 0 is pinned at 3: the graph depends on it at")
            && out.contains("if x.size(0) > 1:  -> true; exported as static"),
        "{out}"
    );
    let m_air = read_air(&d.path().join("export_file/export.air"));
    assert_eq!(data_shape(&m_air, "x"), vec![3, 4]);
    assert!(!any_minus_one(&m_air));
    // The guard stays listed, as a plain (static) one now.
    let guard = out
        .lines()
        .find(|l| l.contains("if x.size(0) > 1:") && !l.starts_with("note"))
        .unwrap_or_else(|| panic!("no guard line: {out}"));
    assert!(!guard.contains("depends on a dynamic dim"), "{guard}");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m,
            "--input",
            "f32[3,4]",
            "--input",
            "bool:true",
            "--strict-dynamic",
            "--export-path",
            "strict",
        ],
    );
    assert_clean_error(code, &err, "depends on a dynamic dim");
    assert!(err.contains("if x.size(0) > 1:"), "{err}");
    assert!(!d.path().join("strict").exists());
}

#[test]
fn dynamic_dims_errors_are_clear() {
    let d = tmp();
    let m = dyn_model("attention.pt");
    let m = m.to_str().unwrap();
    for (dims, msg) in [
        ("y=0", "forward's arguments are (x)"),
        ("x=3", "'x' has rank 3"),
        ("x", "NAME=DIMS"),
    ] {
        let (code, _, err) = cli(
            d.path(),
            &[
                "export",
                m,
                "--input",
                "f32[2,5,16]",
                "--dynamic-dims",
                dims,
            ],
        );
        assert_clean_error(code, &err, msg);
    }
}

#[test]
fn seed_single_card_dims_are_fixed_by_its_parameters() {
    // x + y + p1 + p2 with p1, p2 of shape (2, 4): forward fails at any other size, so every
    // requested dim is reported and exported static.
    let d = tmp();
    let out = d.path().join("out");
    let args = inputs(&["f32[2,4]".into(), "f32[2,4]".into()], 0);
    let r = dynamo_export(
        args,
        model("seed_single.pt"),
        out.to_str().unwrap(),
        "export",
        true,
        &CompilerConfig::default(),
    )
    .unwrap();
    assert!(r.dynamic_dims.is_empty());
    assert_eq!(r.notes.len(), 4, "{:?}", r.notes);
    for n in ["'x' dim 0", "'x' dim 1", "'y' dim 0", "'y' dim 1"] {
        assert!(
            r.notes
                .iter()
                .any(|x| x.starts_with(n) && x.contains("exported as static")),
            "{n}: {:?}",
            r.notes
        );
    }
    let m = read_air(&r.air);
    assert_eq!(data_shape(&m, "x"), vec![2, 4]);
    assert!(!any_minus_one(&m));
}

#[test]
fn integer_arithmetic_on_dynamic_sizes_is_computed_in_the_graph() {
    let d = tmp();
    let m = dyn_model("size_arith.pt");
    let (code, out, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[2,5]",
            "--dynamic",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // max(t // 2, 1) and min(t, 2) pick an operand that other sizes of t would not: t (dim 1)
    // is pinned with a note naming the choice; the batch dim stays dynamic.
    assert!(out.contains("dynamic dims: x[0]\n"), "{out}");
    assert!(
        out.contains("'x' dim 1 is pinned at 5: the graph depends on it at")
            && out.contains("max(...) = its first operand (2)"),
        "{out}"
    );
    let air = d.path().join("export_file/export.air");
    let m = read_air(&air);
    assert_eq!(data_shape(&m, "x"), vec![-1, 5]);
    for s in ["f32[1,5]", "f32[2,5]", "f32[7,5]"] {
        check_at("size_arith.pt", &air, s, 5);
    }
    // Another length is refused by the runner, not computed wrong.
    let args = inputs(&["f32[2,6]".into()], 5);
    assert!(run_air(&air, &graph_tensors(&args)).is_err());
    // --strict-dynamic: the choice is an error.
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m_path(&dyn_model("size_arith.pt")),
            "--input",
            "f32[2,5]",
            "--dynamic",
            "--strict-dynamic",
            "--export-path",
            "s",
        ],
    );
    assert_clean_error(code, &err, "depends on a dynamic dim");
}

fn m_path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn tensors_made_from_dynamic_sizes() {
    let (_d, r, m) = export(
        "creators.pt",
        &["f32[3,6]"],
        true,
        &CompilerConfig::default(),
    );
    assert_eq!(r.dynamic_dims, vec!["x[0]", "x[1]"]);
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    let t = types(&m);
    for ty in [
        "Range",
        "Fill",
        "BroadcastTo",
        "Tile",
        "StridedSliceV2",
        "Shape",
        "Pack",
    ] {
        assert!(t.iter().any(|x| x == ty), "no {ty} in {t:?}");
    }
    for s in [
        "f32[1,6]", "f32[2,6]", "f32[5,6]", "f32[3,2]", "f32[3,5]", "f32[3,9]",
    ] {
        check_at("creators.pt", &r.air, s, 6);
    }
    // Static: every creation folded into Consts.
    let (_d, r, m) = export(
        "creators.pt",
        &["f32[3,6]"],
        false,
        &CompilerConfig::default(),
    );
    let t = types(&m);
    assert!(!t.iter().any(|x| x == "Range" || x == "Shape"), "{t:?}");
    check_at("creators.pt", &r.air, "f32[3,6]", 6);
}

#[test]
fn losses_and_bucketize_over_a_dynamic_batch() {
    // F.mse_loss & co. broadcast their operands (one of them [1, C]); cross entropy of N-D logits
    // flattens by the class count and reshapes "none" results by the target's run-time shape.
    let mut c = CompilerConfig::default();
    c.export.dynamic_dims = BTreeMap::from([("x".to_string(), vec![0])]);
    let (_d, r, m) = export("batch_losses.pt", &["f32[4,5]"], true, &c);
    assert_eq!(r.dynamic_dims, vec!["x[0]"]);
    assert_eq!(data_shape(&m, "x"), vec![-1, 5]);
    let t = types(&m);
    for ty in [
        "BroadcastTo",
        "Shape",
        "NLLLoss",
        "MseLoss",
        "SmoothL1LossV2",
    ] {
        assert!(t.iter().any(|x| x == ty), "no {ty} in {t:?}");
    }
    for s in ["f32[2,5]", "f32[3,5]", "f32[9,5]"] {
        check_at("batch_losses.pt", &r.air, s, 7);
    }
}

#[test]
fn seed_multi_card_dims_are_fixed_by_its_parameters() {
    // The seed's multi-card example with dynamic=true: p1, p2 of shape (2, 2) fix every dim of
    // x and y; forward needs a process group, so the walk of both ranks decides.
    let d = tmp();
    let m = model("multicard/seed_mp.pt");
    let (code, out, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "i32[2,2]",
            "--input",
            "i32[2,2]",
            "--export-path",
            "mp",
            "--export-name",
            "mp_rank",
            "--world-size",
            "2",
            "--dynamic",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dynamic dims: none"), "{out}");
    for n in ["'x' dim 0", "'x' dim 1", "'y' dim 0", "'y' dim 1"] {
        assert!(
            out.lines().any(|l| l
                .starts_with(&format!("note: {n} is fixed at 2 by the model (at 3:"))
                && l.ends_with("exported as static")),
            "{n}: {out}"
        );
    }
    for r in 0..2 {
        let m = read_air(&d.path().join(format!("mp/mp_rank{r}.air")));
        assert_eq!(data_shape(&m, "x"), vec![2, 2]);
        assert_eq!(data_shape(&m, "y"), vec![2, 2]);
        assert!(!any_minus_one(&m));
        assert!(types(&m).iter().any(|t| t == "HcomAllReduce"));
    }
}

/// The transformer fixtures (traced from Hugging Face models) exported once with batch and
/// sequence dynamic, then run at other batch sizes and lengths.
#[test]
fn transformers_dynamic_batch_and_sequence() {
    for name in ["gpt2", "bert", "llama"] {
        let m = model(&format!("transformers/{name}.pt"));
        let ids = model(&format!("transformers/{name}_ids.npy"));
        let mask = model(&format!("transformers/{name}_mask.npy"));
        let d = tmp();
        let out = d.path().join("out");
        let args =
            spec::make_all(&[ids.display().to_string(), mask.display().to_string()], 0).unwrap();
        let r = dynamo_export(
            args,
            &m,
            out.to_str().unwrap(),
            "export",
            true,
            &CompilerConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            r.dynamic_dims,
            vec![
                "input_ids[0]",
                "input_ids[1]",
                "attention_mask[0]",
                "attention_mask[1]"
            ],
            "{name}"
        );
        let g = read_air(&r.air);
        torch2air::internal::ge::schema::check_graph(&g.graph[0]).unwrap();
        assert_eq!(data_shape(&g, "input_ids"), vec![-1, -1], "{name}");
        for (b, s) in [(1, 8), (3, 8), (5, 8), (2, 3), (2, 5), (2, 13)] {
            let ids = format!("i64[{b},{s}]:0..90");
            let mask = format!("i64[{b},{s}]:1..2");
            check_model_at(&m, &r.air, &[&ids, &mask], 7, 1e-4);
        }
    }
}

/// Vision fixtures with batch and image size dynamic (channels are fixed by the first conv).
#[test]
fn vision_dynamic_batch_and_image_size() {
    for (name, sizes) in [
        (
            "resnet",
            vec![
                "f32[1,3,32,32]",
                "f32[3,3,32,32]",
                "f32[4,3,32,32]",
                "f32[2,3,24,40]",
                "f32[2,3,48,32]",
                "f32[2,3,64,64]",
            ],
        ),
        (
            "mobilenet_v3",
            vec![
                "f32[1,3,32,32]",
                "f32[3,3,32,32]",
                "f32[5,3,32,32]",
                "f32[2,3,16,48]",
                "f32[2,3,48,16]",
                "f32[2,3,64,64]",
            ],
        ),
        (
            "vit",
            vec!["f32[1,3,16,16]", "f32[3,3,16,16]", "f32[6,3,16,16]"],
        ),
    ] {
        let m = model(&format!("vision/{name}.pt"));
        let sample = model(&format!("vision/{name}.in0.npy"));
        let d = tmp();
        let out = d.path().join("out");
        let args = spec::make_all(&[sample.display().to_string()], 0).unwrap();
        let r = dynamo_export(
            args,
            &m,
            out.to_str().unwrap(),
            "export",
            true,
            &CompilerConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.dynamic_dims.len(), 3, "{name}: {:?}", r.dynamic_dims);
        assert!(
            r.notes.iter().any(|n| n.contains("dim 1 is fixed at 3")),
            "{name}: {:?}",
            r.notes
        );
        let g = read_air(&r.air);
        torch2air::internal::ge::schema::check_graph(&g.graph[0]).unwrap();
        for s in sizes {
            check_model_at(&m, &r.air, &[s], 3, 1e-4);
        }
    }
}

#[test]
fn constant_slices_of_a_dynamic_dim_are_guards() {
    let d = tmp();
    let m = dyn_model("window.pt");
    let (code, out, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[2,6]",
            "--dynamic",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // `x[:, :4]` keeps 4 only while the dim is at least 4: the dim is pinned, with the slice named.
    assert!(out.contains("dynamic dims: x[0]\n"), "{out}");
    assert!(
        out.contains("'x' dim 1 is pinned at 6")
            && out.contains("a slice [:4] of a dynamic dim keeps 4 element(s)"),
        "{out}"
    );
    let air = d.path().join("export_file/export.air");
    assert_eq!(data_shape(&read_air(&air), "x"), vec![-1, 6]);
    for s in ["f32[1,6]", "f32[3,6]", "f32[8,6]"] {
        check_at("window.pt", &air, s, 2);
    }
    // Length 3 is refused by the runner, not computed wrong.
    let args = inputs(&["f32[2,3]".into()], 2);
    assert!(run_air(&air, &graph_tensors(&args)).is_err());
    // --strict-dynamic makes the assumption an error.
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[2,6]",
            "--strict-dynamic",
            "--export-path",
            "s",
        ],
    );
    assert_clean_error(
        code,
        &err,
        "a slice [:4] of a dynamic dim keeps 4 element(s)",
    );
}

#[test]
fn a_rank_that_changes_with_a_dynamic_dim_is_refused() {
    let d = tmp();
    let m = dyn_model("squeeze_batch.pt");
    // By default a dim of size 1 in the sample is static (as torch.export specialises it), with
    // a note: the squeeze exports.
    let (code, out, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[1,4]",
            "--dynamic",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dynamic dims: x[1]\n"), "{out}");
    assert!(
        out.contains("note: 'x' dim 0 has size 1 in the sample; exported as static 1")
            && out.contains("--dynamic-dims (x=0)"),
        "{out}"
    );
    let air = d.path().join("export_file/export.air");
    assert_eq!(data_shape(&read_air(&air), "x"), vec![1, -1]);
    check_at("squeeze_batch.pt", &air, "f32[1,9]", 3);
    // Named in --dynamic-dims, the dim is dynamic, and the squeeze is refused.
    let d = tmp();
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[1,4]",
            "--dynamic-dims",
            "x=0",
        ],
    );
    assert_clean_error(
        code,
        &err,
        "gives a result of another rank when the dynamic dims change size",
    );
    assert!(err.contains("make_dynamic.py:103: x.squeeze"), "{err}");
    assert!(files_in(d.path()).is_empty());
    // Pinning the dim exports it.
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[1,4]",
            "--dynamic-dims",
            "x=1",
        ],
    );
    assert_eq!(code, 0, "{err}");
}

/// Dims that each grow on their own but not together (`x.view(5, -1)` of a [50, 5]: 51x5 and
/// 50x6 divide by 5, 51x6 does not): the larger group is kept, the other pinned with a note;
/// broadcasting against size-1 dims (static by default) exports dynamic.
#[test]
fn dims_that_cannot_grow_together_are_pinned_one_group_at_a_time() {
    let d = tmp();
    let (code, out, err) = cli(
        d.path(),
        &[
            "export",
            dyn_model("view_five.pt").to_str().unwrap(),
            "--input",
            "f32[50,5]",
            "--dynamic",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dynamic dims: x[0]\n"), "{out}");
    assert!(
        out.contains(
            "note: 'x' dim 1 is fixed at 5: it can grow on its own, but not together with 'x' dim 0"
        ),
        "{out}"
    );
    let air = d.path().join("export_file/export.air");
    assert_eq!(data_shape(&read_air(&air), "x"), vec![-1, 5]);
    for (k, s) in ["f32[50,5]", "f32[45,5]", "f32[7,5]"].iter().enumerate() {
        check_at("view_five.pt", &air, s, k as u64);
    }

    let specs = ["f32[3]", "f32[1,2,1]", "f32[5,1,1]"];
    let (_d, r, m) = export(
        "broadcast_many.pt",
        &specs,
        true,
        &CompilerConfig::default(),
    );
    assert_eq!(r.dynamic_dims, vec!["a[0]", "b[1]", "c[0]"]);
    assert_eq!(r.notes.len(), 4, "{:?}", r.notes);
    assert!(
        r.notes
            .iter()
            .all(|n| n.contains("has size 1 in the sample")),
        "{:?}",
        r.notes
    );
    assert_eq!(data_shape(&m, "b"), vec![1, -1, 1]);
    for (k, sizes) in [
        ["f32[4]", "f32[1,7,1]", "f32[2,1,1]"],
        ["f32[9]", "f32[1,1,1]", "f32[1,1,1]"],
    ]
    .iter()
    .enumerate()
    {
        check_model_at(
            &dyn_model("broadcast_many.pt"),
            &r.air,
            sizes,
            k as u64,
            1e-5,
        );
    }
}

#[test]
fn verify_of_a_dynamic_export_also_checks_larger_sizes() {
    let d = tmp();
    let out = d.path().join("out");
    let args = inputs(&["f32[2,5,16]".into()], 0);
    let r = torch2air::internal::verify::verify(
        args,
        &dyn_model("attention.pt"),
        out.to_str().unwrap(),
        "export",
        true,
        &CompilerConfig::default(),
        None,
        None,
    )
    .unwrap();
    assert_eq!(r.grown.len(), 2, "a check at each growth");
    let g = &r.grown[0];
    assert_eq!(g.inputs, vec!["f32[4, 7, 16]"]);
    assert_eq!(r.grown[1].inputs, vec!["f32[9, 12, 16]"]);
    assert!(r.grown[1].binding && r.grown[1].checks.iter().all(|c| c.ok));
    assert!(g.binding && g.note.is_none());
    assert_eq!(g.checks.len(), 2);
    assert_eq!(g.checks[0].shape, vec![4, 7, 16]);
    assert!(g.checks.iter().all(|c| c.ok && c.max_abs <= 1e-5));
    assert!(r.passed());

    // A guard on a dynamic dim pins that dim, so the larger sizes always count.
    let args = spec::make_all(&["f32[2,5]".into()], 0).unwrap();
    let r = torch2air::internal::verify::verify(
        args,
        &model("regress/guarded_loop.pt"),
        d.path().join("b").to_str().unwrap(),
        "export",
        true,
        &CompilerConfig::default(),
        None,
        None,
    )
    .unwrap();
    assert_eq!(r.export.dynamic_dims, vec!["x[0]"]);
    let g = &r.grown[0];
    assert_eq!(g.inputs, vec!["f32[4, 5]"]);
    assert!(g.binding && g.note.is_none());
    assert!(r.passed());
}

/// The command line end to end: `torch2air export --dynamic` once, then `torch2air run` on .npy
/// inputs at three sizes per dynamic dim; the outputs it saves equal TorchScript's at that size.
#[test]
fn cli_exports_once_and_runs_at_other_sizes() {
    let d = tmp();
    let m = dyn_model("attention.pt");
    let (code, out, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[2,5,16]",
            "--dynamic",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("x[0]") && out.contains("x[1]"), "{out}");
    let sizes = [
        "f32[1,5,16]",
        "f32[3,5,16]",
        "f32[8,5,16]",
        "f32[2,1,16]",
        "f32[2,3,16]",
        "f32[2,12,16]",
    ];
    for (k, s) in sizes.iter().enumerate() {
        let args = inputs(&[s.to_string()], 20 + k as u64);
        let x = d.path().join(format!("x{k}.npy"));
        let mut f = std::fs::File::create(&x).unwrap();
        spec::write_npy(&graph_tensors(&args)[0], &mut f).unwrap();
        let saved = format!("out{k}");
        let (code, _, err) = cli(
            d.path(),
            &[
                "run",
                "export_file/export.air",
                "--input",
                x.to_str().unwrap(),
                "--save-outputs",
                &saved,
            ],
        );
        assert_eq!(code, 0, "{s}: {err}");
        let reference = torchscript_outputs(&m, &args).unwrap();
        assert_eq!(
            files_in(&d.path().join(&saved)).len(),
            reference.len(),
            "{s}"
        );
        for (i, r) in reference.iter().enumerate() {
            let p = d.path().join(&saved).join(format!("output_{i}.npy"));
            let got = spec::read_npy(&p).unwrap();
            assert_eq!(got.size(), r.size(), "{s} output {i}");
            let diff = (got.to_kind(tch::Kind::Double) - r.to_kind(tch::Kind::Double))
                .abs()
                .max()
                .double_value(&[]);
            assert!(diff <= 1e-5, "{s} output {i}: max abs {diff}");
        }
    }
}

/// Strides and roundings map the sample's size and the probe's (one larger) to the same size: a
/// stride-2 conv and 2x2 pool on 9x9 (9 and 10 both give 5, then 2), `s[:, ::2]` of length 7 (7
/// and 8 both give 4), `t[:, :t.size(1) // 2]` of length 8 (8 and 9 both give 4). Those dims
/// vary all the same: the far probe finds them, so the outputs are -1 there and the graph is
/// right at other sizes (odd, even, and more than a stride away).
#[test]
fn dims_a_stride_maps_to_the_probe_size_stay_dynamic() {
    let specs = ["f32[2,3,9,9]", "f32[2,7,4]", "f32[2,8,4]"];
    let (_d, r, m) = export("strided.pt", &specs, true, &CompilerConfig::default());
    assert_eq!(
        r.dynamic_dims,
        vec!["x[0]", "x[2]", "x[3]", "s[0]", "s[1]", "s[2]", "t[0]", "t[1]", "t[2]"]
    );
    let net = ops_of_type(&m, "NetOutput")[0];
    let outs: Vec<Vec<i64>> = net
        .input_desc
        .iter()
        .map(|d| d.shape.as_ref().unwrap().dim.clone())
        .collect();
    // flatten(1) of [b, 4, h', w'] with h', w' dynamic; ::2 and //2 of a dynamic length.
    assert_eq!(
        outs,
        vec![
            vec![-1, -1],
            vec![-1, -1, -1],
            vec![-1, -1],
            vec![-1, -1, -1]
        ]
    );
    let model = dyn_model("strided.pt");
    for (k, sizes) in [
        ["f32[2,3,10,10]", "f32[2,8,4]", "f32[2,9,4]"],
        ["f32[3,3,11,12]", "f32[3,9,5]", "f32[1,10,2]"],
        ["f32[1,3,16,7]", "f32[2,4,4]", "f32[2,3,4]"],
        ["f32[2,3,41,33]", "f32[2,39,4]", "f32[2,40,4]"],
    ]
    .iter()
    .enumerate()
    {
        check_model_at(&model, &r.air, sizes, 20 + k as u64, 1e-5);
    }
}

/// `settle`'s probe forwards run on the module the walk loaded (its own weights, no second
/// copy); a forward that changes the module's state (a buffer written in place) says so, so
/// the export loads the module again before walking it.
#[test]
fn probe_forward_runs_on_the_loaded_module_and_reports_state_writes() {
    use torch2air::internal::load::Module;
    let m = Module::load(&dyn_model("attention.pt")).unwrap();
    let (run, mutated) = m.forward_runs(&inputs(&["f32[2,5,16]".into()], 0)).unwrap();
    assert!(run.is_ok() && !mutated, "{run:?}");
    let (run, mutated) = m.forward_runs(&inputs(&["f32[2,5,17]".into()], 0)).unwrap();
    let e = run.unwrap_err();
    assert!(
        e.starts_with("TorchScript forward failed: ") && e.contains("17"),
        "{e}"
    );
    assert!(!mutated);

    let m = Module::load(&model("buffer_write.pt")).unwrap();
    let x = inputs(&["f32[2,3]".into()], 0);
    let (run, mutated) = m.forward_runs(&x).unwrap();
    assert!(run.is_ok() && mutated);
    // The write really happened on this module: a fresh load differs from it.
    let Value::Tensor(count) = m.attr("count").unwrap() else {
        panic!("count is not a tensor")
    };
    assert_eq!(
        count
            .tensor
            .sum(torch2air::tch::Kind::Float)
            .double_value(&[]),
        3.0
    );
}

/// Rules that need a size as a constant pin the dim it comes from, with a note naming the rule,
/// instead of refusing the export: an adaptive pool to `x.size(2)`, a kthvalue along dim 3, an
/// instance norm's channels. The batch stays dynamic and the graph is right at other batches.
#[test]
fn rules_that_need_a_constant_size_pin_its_dim_with_a_note() {
    let (_d, r, m) = export(
        "pinned.pt",
        &["f32[2,3,8,8]"],
        true,
        &CompilerConfig::default(),
    );
    assert_eq!(r.dynamic_dims, vec!["x[0]"]);
    let expect = [
        "'x' dim 1 is pinned at 3: ",
        "aten::instance_norm takes the channel dim (1) as the constant 3",
        "'x' dim 2 is pinned at 8: ",
        "aten::adaptive_avg_pool2d takes its output size as the constant [8, 4]",
        "'x' dim 3 is pinned at 8: ",
        "aten::kthvalue along dim 3 takes its size as the constant 8",
    ];
    for e in expect {
        assert!(r.notes.iter().any(|n| n.contains(e)), "{e}: {:?}", r.notes);
    }
    assert_eq!(data_shape(&m, "x"), vec![-1, 3, 8, 8]);
    for (k, s) in ["f32[1,3,8,8]", "f32[3,3,8,8]", "f32[5,3,8,8]"]
        .iter()
        .enumerate()
    {
        check_at("pinned.pt", &r.air, s, k as u64);
    }
    // A non-integer scale factor no longer pins the spatial dims: PyTorch's floor(in · 1.5) and
    // its source indices are computed in the graph, right at sizes where in · 1.5 is not whole.
    let (_d2, r2, m2) = export(
        "scale_half.pt",
        &["f32[2,3,6,4]"],
        true,
        &CompilerConfig::default(),
    );
    assert_eq!(r2.dynamic_dims, vec!["x[0]", "x[1]", "x[2]", "x[3]"]);
    assert!(r2.notes.is_empty(), "{:?}", r2.notes);
    assert_eq!(data_shape(&m2, "x"), vec![-1, -1, -1, -1]);
    for (k, s) in ["f32[3,5,6,4]", "f32[1,2,7,5]", "f32[2,1,3,9]"]
        .iter()
        .enumerate()
    {
        check_at("scale_half.pt", &r2.air, s, 4 + k as u64);
    }
    // --strict-dynamic makes the same an error naming the rule.
    let d = tmp();
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            dyn_model("pinned.pt").to_str().unwrap(),
            "--input",
            "f32[2,3,8,8]",
            "--strict-dynamic",
        ],
    );
    assert_clean_error(code, &err, "depends on a dynamic dim");
}
