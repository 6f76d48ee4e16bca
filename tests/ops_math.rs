//! The pointwise math, activation and extra loss fixture (models/make_ops_math.py): exported, run
//! by the runner and compared with the TorchScript module, with its edge values (signed zeros,
//! NaN, ±inf) appended to the random inputs; and the calls torch2air refuses, refused cleanly.
mod common;
use common::*;
use torch2air::spec;
use torch2air::verify::verify;

/// Exports ops/math.pt (static or with every input dim dynamic), runs it and checks every
/// output against TorchScript; returns the written graph.
fn verified(dir: &std::path::Path, dynamic: bool) -> torch2air::proto::ModelDef {
    let specs: Vec<String> = ["f32[4,6]:-4..4", "f32[4,6]:-4..4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = dir.join(if dynamic { "dynamic" } else { "static" });
    let r = verify(
        spec::make_all(&specs, 7).unwrap(),
        &model("ops/math.pt"),
        out.to_str().unwrap(),
        "export",
        dynamic,
        &Default::default(),
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("ops/math.pt (dynamic {dynamic}): {e}"));
    assert_eq!(r.checks.len(), 66, "one output per case");
    for c in &r.checks {
        assert!(c.ok, "ops/math.pt (dynamic {dynamic}): {c}");
        assert!(c.max_abs <= 1e-5, "ops/math.pt (dynamic {dynamic}): {c}");
    }
    let m = read_air(&out.join("export.air"));
    torch2air::ge::schema::check_graph(&m.graph[0]).unwrap();
    m
}

#[test]
fn ops_math_matches_torchscript() {
    let d = tmp();
    let m = verified(d.path(), false);
    let types = types(&m);
    for ty in [
        "Atan2",
        "Bitcast",
        "IsFinite",
        "LogSigmoid",
        "CeluV2",
        "HardShrink",
        "SoftShrink",
        "ThresholdV2D",
        "LeakyRelu",
        "Lerp",
        "Addcmul",
        "Addcdiv",
        "IsClose",
        "PoissonNllLoss",
        "SoftMarginLoss",
    ] {
        assert!(types.iter().any(|t| t == ty), "no {ty} in the graph");
    }
    // Losses are emitted unreduced and reduced by ReduceMean/ReduceSum.
    for op in ops_of_type(&m, "PoissonNllLoss") {
        assert_eq!(attr_s(op, "reduction"), "none");
    }
}

#[test]
fn ops_math_with_dynamic_dims() {
    let d = tmp();
    // Input dims dynamic (-1 in the graph): no rule may bake a shape.
    let m = verified(d.path(), true);
    for name in ["x", "y"] {
        let dims = &op(&m, name).output_desc[0]
            .shape
            .as_ref()
            .expect("a Data shape")
            .dim;
        // The batch dim stays dynamic; the model fixes dim 1 (cat with the 6-wide edge rows).
        assert_eq!(dims, &vec![-1, 6], "Data {name}");
    }
}

#[test]
fn refused_calls_say_why() {
    let d = tmp();
    let model = model("ops/math_refused.pt");
    for (which, needle) in [
        ("int:0", "poisson_nll_loss with full=True"),
        ("int:1", "rrelu with training=True"),
    ] {
        let (c, _, e) = cli(
            d.path(),
            &[
                "export",
                model.to_str().unwrap(),
                "--input",
                "f32[3,4]",
                "--input",
                which,
            ],
        );
        assert_clean_error(c, &e, needle);
    }
}
