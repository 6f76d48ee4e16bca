//! Issue 13 items 2 and 3, the nn / pool / resize / loss / norm / special-math families: the
//! real-usage modules of models/make_ops_families.py (a 3-D CNN, a UNet-style upsampler, pooling
//! with indices, special functions, losses, decomposed norms, padding), each exported,
//! schema-checked, run by the runner and compared with (a) the TorchScript module
//! (torch2air::internal::verify at its default tolerances) and (b) the eager outputs the script saved; the
//! GE ops each family lowers to are asserted.
mod common;
use common::*;
use std::path::PathBuf;
use tch::Tensor;
use torch2air::internal::spec;
use torch2air::internal::verify::verify;
use torch2air::proto::ModelDef;

/// Eager outputs vs the runner: |got − want| ≤ ATOL + RTOL·|want| (the special functions reach
/// 1e3 near their poles).
const ATOL: f64 = 1e-4;
const RTOL: f64 = 1e-4;

fn fixture(file: &str) -> PathBuf {
    model(&format!("families/{file}"))
}

fn numbered(name: &str, kind: &str) -> Vec<PathBuf> {
    (0..)
        .map(|k| fixture(&format!("{name}.{kind}{k}.npy")))
        .take_while(|p| p.is_file())
        .collect()
}

/// Exports `models/families/<name>.pt` with its saved inputs, verifies it against TorchScript,
/// checks the graph against the prototypes and runs it against the eager outputs. Returns the
/// graph.
fn check(name: &str) -> ModelDef {
    let inputs: Vec<String> = numbered(name, "in")
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    assert!(!inputs.is_empty(), "{name}: no saved inputs");
    let args = spec::make_all(&inputs, 0).unwrap();
    let d = tmp();
    let out = d.path().join("out");
    let r = verify(
        args,
        &fixture(&format!("{name}.pt")),
        out.to_str().unwrap(),
        "export",
        false,
        &Default::default(),
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let want: Vec<Tensor> = numbered(name, "out")
        .iter()
        .map(|p| spec::read_npy(p).unwrap())
        .collect();
    assert_eq!(r.checks.len(), want.len(), "{name}: checked outputs");
    for c in &r.checks {
        assert!(c.ok, "{name}: {c}");
    }
    let air = read_air(&out.join("export.air"));
    torch2air::internal::ge::schema::check_graph(&air.graph[0])
        .unwrap_or_else(|e| panic!("{name}: schema: {e:?}"));
    // FLOAT convolutions are emitted as TorchAir emits them (the 3-D prototypes list FLOAT16).
    for w in torch2air::internal::ge::schema::dtype_warnings(&air.graph[0]) {
        assert!(
            ["(Conv3D)", "(Conv3DTranspose)", "(Conv2DTranspose)"]
                .iter()
                .any(|t| w.contains(t)),
            "{name}: {w}"
        );
    }
    let feeds: Vec<Tensor> = torch2air::internal::verify::graph_tensors(&r.export.inputs);
    let got = torch2air::internal::run::run_air(&r.export.air, &feeds).unwrap();
    assert_eq!(got.len(), want.len(), "{name}: output count");
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.size(), w.size(), "{name} output {k}");
        assert_eq!(g.kind(), w.kind(), "{name} output {k}");
        let (g, w) = (g.to_kind(tch::Kind::Double), w.to_kind(tch::Kind::Double));
        let bad = ((&g - &w).abs() - w.abs() * RTOL)
            .gt(ATOL)
            .logical_and(&w.isfinite())
            .sum(tch::Kind::Int64)
            .int64_value(&[]);
        assert_eq!(bad, 0, "{name} output {k}: {bad} elements beyond tolerance");
        // Non-finite values (a pole, an infinite loss) must be the same: NaN where eager gives
        // NaN, and the same infinity where it gives one.
        assert!(
            g.isnan().eq_tensor(&w.isnan()).all().int64_value(&[]) == 1,
            "{name} output {k}: NaNs differ (got {g}, want {w})"
        );
        let inf = w.isinf();
        assert!(
            g.masked_select(&inf).equal(&w.masked_select(&inf)),
            "{name} output {k}: infinities differ (got {g}, want {w})"
        );
    }
    air
}

fn assert_types(m: &ModelDef, want: &[&str]) {
    let have = types(m);
    for w in want {
        assert!(have.iter().any(|t| t == w), "{w} missing in {have:?}");
    }
}

#[test]
fn cnn3d_conv_pool_resize_3d() {
    let air = check("cnn3d");
    assert_types(
        &air,
        &[
            "Conv3D",
            "BNInfer",
            "MaxPool3DWithArgmaxV2",
            "AvgPool3D",
            "Conv3DTranspose",
            "BatchMatMulV2",
        ],
    );
    // padding='same' with a 3x3x3 kernel: pads of 1 on every side.
    let conv = &ops_of_type(&air, "Conv3D")[0];
    assert_eq!(attr_s(conv, "data_format"), "NCDHW");
    let avg = &ops_of_type(&air, "AvgPool3D")[0];
    assert_eq!(attr_s(avg, "data_format"), "NCDHW");
}

#[test]
fn unet_upsampler_any_scale() {
    let air = check("unet_up");
    // max pooling with indices, then max_unpool2d by scatter; bicubic, antialiased and
    // non-integer-scale bilinear by weights; nearest(-exact) by gathers.
    assert_types(
        &air,
        &[
            "MaxPool3DWithArgmaxV2",
            "ScatterElements",
            "BatchMatMulV2",
            "GatherV2",
        ],
    );
    // Bicubic ×1.7 and antialiased bilinear: a weights matmul per spatial axis; nearest-exact
    // ×1.6 and nearest ×0.6: a source-index gather per spatial axis.
    assert!(ops_of_type(&air, "BatchMatMulV2").len() >= 4);
    assert!(ops_of_type(&air, "GatherV2").len() >= 4);
}

#[test]
fn pools_with_indices_dilation_and_gradient() {
    let air = check("pools");
    assert_types(
        &air,
        &[
            "MaxPool3DWithArgmaxV2",
            "AdaptiveMaxPool2d",
            "ScatterElements",
        ],
    );
    // The gradient of max pooling scatters with add.
    assert!(ops_of_type(&air, "ScatterElements")
        .iter()
        .any(|o| attr_s(o, "reduction") == "add"));
}

#[test]
fn special_functions() {
    let air = check("special");
    assert_types(
        &air,
        &["Igamma", "Igammac", "Erfinv", "BesselI0e", "NextAfter"],
    );
    // lgamma/digamma/polygamma are composed: no op of GE's named for them.
    assert!(types(&air)
        .iter()
        .all(|t| !t.contains("gamma") || t.starts_with("Igamma")));
}

/// The composed gamma family at ±inf, ±0, poles, NaN and huge arguments, where ATen's own
/// conventions (lgamma(±inf) = inf, digamma(±0) = ∓inf, polygamma(n ≥ 2, ±inf)) must hold.
#[test]
fn special_functions_at_the_edges_of_their_domain() {
    check("special_edges");
}

#[test]
fn losses() {
    let air = check("losses");
    assert_types(&air, &["CTCLossV2", "PoissonNllLoss", "LogSoftmaxV2"]);
    let p = &ops_of_type(&air, "PoissonNllLoss")[0];
    assert!(attr_b(p, "full"));
}

#[test]
fn decomposed_norms_and_vector_norms() {
    let air = check("norms");
    assert_types(
        &air,
        &["LayerNormV4", "BNInfer", "ReduceMax", "ReduceMean", "Rsqrt"],
    );
}

#[test]
fn padding_softplus_bilinear_grid_sample_3d() {
    let air = check("misc");
    assert_types(
        &air,
        &[
            "ConcatV2",
            "GridSampler3D",
            "Softplus",
            "SelectV2",
            "MatMulV2",
        ],
    );
}

#[test]
fn decomposed_and_scripted_forms() {
    let air = check("extras");
    assert_types(
        &air,
        &[
            "Conv3D",
            "Conv3DTranspose",
            "GridSampler2D",
            "GridSampler3D",
            "BNInfer",
            "BesselI0e",
            "GatherV2",
            "BatchMatMulV2",
        ],
    );
}

fn attr_b(op: &torch2air::proto::OpDef, k: &str) -> bool {
    match op.attr.get(k).and_then(|a| a.value.clone()) {
        Some(torch2air::proto::attr_def::Value::B(b)) => b,
        other => panic!("{}.{k} is not a bool attr: {other:?}", op.name),
    }
}
