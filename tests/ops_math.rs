//! The pointwise math, activation and extra loss fixture (models/make_ops_math.py): exported, run
//! by the runner and compared with the TorchScript module, with its edge values (signed zeros,
//! NaN, ±inf) appended to the random inputs; and the calls torch2air refuses, refused cleanly.
mod common;
use common::*;

/// Exports ops/math.pt (static or with every input dim dynamic), runs it and checks every
/// output against TorchScript; returns the written graph.
fn verified(dynamic: bool) -> torch2air::proto::ModelDef {
    let r = verify_fixture_at(
        "ops/math.pt",
        &["f32[4,6]:-4..4", "f32[4,6]:-4..4"],
        dynamic,
        1e-5,
    );
    assert_eq!(r.checks.len(), 66, "one output per case");
    r.air
}

#[test]
fn ops_math_matches_torchscript() {
    let m = verified(false);
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
    // Input dims dynamic (-1 in the graph): no rule may bake a shape.
    let m = verified(true);
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
    // poisson_nll_loss with full=True (which 0) is lowered now (PoissonNllLoss full=true).
    let (c, out, e) = cli(
        d.path(),
        &[
            "verify",
            model.to_str().unwrap(),
            "--input",
            "f32[3,4]",
            "--input",
            "int:0",
        ],
    );
    assert_eq!(c, 0, "{e}");
    assert!(out.contains("verify: PASS"), "{out}");
    let (c, _, e) = cli(
        d.path(),
        &[
            "export",
            model.to_str().unwrap(),
            "--input",
            "f32[3,4]",
            "--input",
            "int:1",
        ],
    );
    assert_clean_error(c, &e, "rrelu with training=True");
}
