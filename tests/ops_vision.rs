//! Issue 5, vision and recurrent side: the models of models/make_vision.py (ViT, ResNet,
//! MobileNetV2, a MobileNetV3-style net, a scripted nn.TransformerEncoder with a padding mask, a
//! scripted GRU tagger) and one module per op family, each exported, schema-checked, run by the
//! runner and compared with (a) the TorchScript module (torch2air::internal::verify) and (b) the eager
//! outputs make_vision.py saved, at <= 1e-4 max abs error.
mod common;
use common::*;
use std::path::PathBuf;
use tch::Tensor;
use torch2air::internal::spec;
use torch2air::internal::verify::verify;
use torch2air::proto::{attr_def, ModelDef, OpDef};

const TOL: f64 = 1e-4;

fn vision(file: &str) -> PathBuf {
    model(&format!("vision/{file}"))
}

/// The saved `<name>.in<k>.npy` / `<name>.out<k>.npy` files, in order.
fn numbered(name: &str, kind: &str) -> Vec<PathBuf> {
    (0..)
        .map(|k| vision(&format!("{name}.{kind}{k}.npy")))
        .take_while(|p| p.is_file())
        .collect()
}

struct Checked {
    _dir: tempfile::TempDir,
    air: ModelDef,
    path: PathBuf,
}

/// Exports `models/vision/<name>.pt` with its saved inputs and checks it every way we can.
fn check(name: &str) -> Checked {
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
        &vision(&format!("{name}.pt")),
        out.to_str().unwrap(),
        "export",
        false,
        &Default::default(),
        Some(TOL),
        Some(0.0),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(!r.checks.is_empty());
    for c in &r.checks {
        assert!(c.ok && c.max_abs <= TOL, "{name}: {c}");
    }
    let air = read_air(&out.join("export.air"));
    torch2air::internal::ge::schema::check_graph(&air.graph[0])
        .unwrap_or_else(|e| panic!("{name}: schema: {e:?}"));
    // Every node's dtypes are in its prototype's lists; Conv2DTranspose is emitted for FLOAT as
    // TorchAir does, though its prototype lists only FLOAT16/INT8 for x.
    for w in torch2air::internal::ge::schema::dtype_warnings(&air.graph[0]) {
        assert!(w.contains("(Conv2DTranspose)"), "{name}: {w}");
    }
    // `torch2air check` (which accepts Conv2DTranspose on FLOAT) finds nothing.
    let problems = torch2air::internal::check::check_model(&air, &out);
    assert!(
        problems.is_empty(),
        "{name}: torch2air check: {problems:#?}"
    );
    // Independently of the TorchScript run: the runner against the eager outputs.
    let feeds: Vec<Tensor> = torch2air::internal::verify::graph_tensors(&r.export.inputs);
    let got = torch2air::internal::run::run_air(&r.export.air, &feeds).unwrap();
    let want: Vec<Tensor> = numbered(name, "out")
        .iter()
        .map(|p| spec::read_npy(p).unwrap())
        .collect();
    assert_eq!(got.len(), want.len(), "{name}: output count");
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.size(), w.size(), "{name} output {k}");
        let err = (g - w).abs().max().double_value(&[]);
        assert!(err <= TOL, "{name} output {k}: max abs err {err} vs eager");
    }
    Checked {
        _dir: d,
        air,
        path: r.export.air.clone(),
    }
}

fn has(m: &ModelDef, ty: &str) -> bool {
    m.graph[0].op.iter().any(|o| o.r#type == ty)
}

fn assert_types(m: &ModelDef, want: &[&str]) {
    for w in want {
        assert!(has(m, w), "{w} missing in {:?}", types(m));
    }
}

fn ints(op: &OpDef, k: &str) -> Vec<i64> {
    match op.attr.get(k).and_then(|a| a.value.clone()) {
        Some(attr_def::Value::List(l)) => l.i,
        other => panic!("{}.{k} is not a list attr: {other:?}", op.name),
    }
}

fn boolean(op: &OpDef, k: &str) -> bool {
    match op.attr.get(k).and_then(|a| a.value.clone()) {
        Some(attr_def::Value::B(b)) => b,
        other => panic!("{}.{k} is not a bool attr: {other:?}", op.name),
    }
}

fn float(op: &OpDef, k: &str) -> f32 {
    match op.attr.get(k).and_then(|a| a.value.clone()) {
        Some(attr_def::Value::F(f)) => f,
        other => panic!("{}.{k} is not a float attr: {other:?}", op.name),
    }
}

// --- Models ------------------------------------------------------------------------------------

#[test]
fn vit_traced() {
    let c = check("vit");
    assert_types(
        &c.air,
        &[
            "Conv2D",
            "BroadcastTo",
            "LayerNormV4",
            "SoftmaxV2",
            "GeluV2",
        ],
    );
    // Patch embedding: a 4x4 stride-4 conv.
    let conv = &ops_of_type(&c.air, "Conv2D")[0];
    assert_eq!(ints(conv, "strides"), [1, 1, 4, 4]);
    assert_eq!(attr_s(conv, "data_format"), "NCHW");
}

#[test]
fn resnet_traced() {
    let c = check("resnet");
    assert_types(
        &c.air,
        &["Conv2D", "BNInfer", "Relu", "MaxPoolV3", "ReduceMean"],
    );
    // Every batch norm is one BNInfer: 8 convs, 8 norms.
    assert_eq!(ops_of_type(&c.air, "BNInfer").len(), 8);
    assert_eq!(ops_of_type(&c.air, "Conv2D").len(), 8);
}

#[test]
fn mobilenet_v2_traced() {
    let c = check("mobilenet_v2");
    assert_types(&c.air, &["PadV3", "Conv2D", "BNInfer", "Relu6"]);
    // Depthwise convolutions: groups = channels.
    assert!(ops_of_type(&c.air, "Conv2D")
        .iter()
        .any(|o| attr_i(o, "groups") > 1));
}

#[test]
fn mobilenet_v3_scripted() {
    let c = check("mobilenet_v3");
    assert_types(
        &c.air,
        &[
            "Conv2D",
            "BNInfer",
            "HardSwish",
            "HardSigmoid",
            "Relu6",
            "ReduceMean",
        ],
    );
    let dw: Vec<_> = ops_of_type(&c.air, "Conv2D")
        .into_iter()
        .filter(|o| attr_i(o, "groups") > 1)
        .collect();
    assert_eq!(dw.len(), 4, "one depthwise conv per block");
}

#[test]
fn transformer_encoder_with_padding_mask() {
    let c = check("transformer_encoder");
    // Two layers, each two LayerNorms and one attention softmax; the mask is applied.
    assert_eq!(ops_of_type(&c.air, "LayerNorm").len(), 4);
    assert_eq!(ops_of_type(&c.air, "SoftmaxV2").len(), 2);
    assert_types(&c.air, &["MaskedFill", "Fill"]);
    // Both Data inputs: the ids and the bool mask.
    let data = ops_of_type(&c.air, "Data");
    assert_eq!(data.len(), 2);
    // DT_BOOL is 11 in the proto's numbering.
    assert!(
        data.iter().any(|o| o.output_desc[0].dtype == 11),
        "a DT_BOOL input"
    );
}

#[test]
fn transformer_encoder_mask_changes_the_result() {
    // The same ids with another padding mask: the export differs only in the mask input, and
    // the runner's outputs follow the mask (so the mask is really wired).
    let c = check("transformer_encoder");
    let path = &c.path;
    let ids = spec::read_npy(&vision("transformer_encoder.in0.npy")).unwrap();
    let mask = spec::read_npy(&vision("transformer_encoder.in1.npy")).unwrap();
    let none = mask.zeros_like();
    let a = torch2air::internal::run::run_air(path, &[ids.shallow_clone(), mask]).unwrap();
    let b = torch2air::internal::run::run_air(path, &[ids, none]).unwrap();
    let diff = (&a[0] - &b[0]).abs().max().double_value(&[]);
    assert!(diff > 1e-3, "mask has no effect ({diff})");
}

#[test]
fn transformer_encoder_causal_prenorm_gelu() {
    // Pre-norm GELU layers with a causal src mask merged with the key padding mask. The mask
    // types differ (float vs bool), so forward runs `warnings.warn(f"...")`: the walker must
    // run aten::format (a vararg op) and skip aten::warn.
    let c = check("transformer_encoder_causal");
    assert_eq!(ops_of_type(&c.air, "GeluV2").len(), 2);
    assert_eq!(ops_of_type(&c.air, "LayerNorm").len(), 4);
    assert!(!has(&c.air, "Relu"));
}

#[test]
fn ops_multihead_attention() {
    // nn.MultiheadAttention's fused inference path: with a padding mask and averaged weights,
    // with per-head weights, without weights.
    let c = check("ops_mha");
    assert_eq!(ops_of_type(&c.air, "SoftmaxV2").len(), 3);
    // Only the averaged weights need a mean over the head axis.
    let means = ops_of_type(&c.air, "ReduceMean");
    assert_eq!(means.len(), 1);
    assert!(!boolean(means[0], "keep_dims"));
}

#[test]
fn gru_tagger_scripted() {
    let c = check("gru_tagger");
    // Unrolled: no DynamicGRUV2 (FLOAT16-only in its prototype).
    assert!(!has(&c.air, "DynamicGRUV2"));
    // 2 layers x 2 directions x 6 steps, one Tanh per step.
    assert_eq!(ops_of_type(&c.air, "Tanh").len(), 24);
    assert_eq!(ops_of_type(&c.air, "Sigmoid").len(), 24);
    // The GRU's parameters (its `_flat_weights` list) are weight nodes named by path.
    op(&c.air, "gru._flat_weights.0");
    op(&c.air, "gru._flat_weights.15");
}

#[test]
fn gru_tagger_weights_as_files() {
    // With every weight forced into files, the GRU parameters get one file each and the
    // export still verifies.
    let d = tmp();
    let m = vision("gru_tagger.pt");
    let input = vision("gru_tagger.in0.npy");
    let (code, out, err) = cli_env(
        d.path(),
        &[
            "verify",
            m.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--atol",
            "1e-4",
        ],
        &[("TORCH2AIR_WEIGHT_THRESHOLD", "0")],
    );
    assert_eq!(code, 0, "{out}{err}");
    let files = files_in(&d.path().join("export_file"));
    for k in 0..16 {
        let f = format!("gru__flat_weights_{k}");
        assert!(files.contains(&f), "{f} missing in {files:?}");
    }
    assert!(files.contains(&"emb_weight".to_string()), "{files:?}");
}

// --- Per-op fixtures ---------------------------------------------------------------------------

#[test]
fn ops_conv() {
    let c = check("ops_conv");
    let convs = ops_of_type(&c.air, "Conv2D");
    assert_eq!(convs.len(), 9);
    // nn.Conv2d(4, 8, (3, 2), stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2)
    assert!(convs.iter().any(|o| attr_i(o, "groups") == 2
        && ints(o, "strides") == [1, 1, 1, 2]
        && ints(o, "pads") == [2, 2, 1, 1]
        && ints(o, "dilations") == [1, 1, 2, 1]));
    // padding="same" with an even kernel (2, 4): asymmetric pads [0, 1, 1, 2].
    assert!(convs.iter().any(|o| ints(o, "pads") == [0, 1, 1, 2]));
    // conv1d(stride 2, padding 1) as a 2-D conv on [N, C, 1, L].
    assert!(convs
        .iter()
        .any(|o| ints(o, "strides") == [1, 1, 1, 2] && ints(o, "pads") == [0, 0, 1, 1]));
    // No bias input when the conv has none.
    assert!(convs.iter().any(|o| o.input.len() == 2));
    assert!(convs.iter().all(|o| attr_s(o, "data_format") == "NCHW"));
}

#[test]
fn ops_pool() {
    let c = check("ops_pool");
    let max = ops_of_type(&c.air, "MaxPoolV3");
    assert_eq!(max.len(), 5);
    assert!(max.iter().any(|o| boolean(o, "ceil_mode")));
    assert!(max
        .iter()
        .any(|o| ints(o, "ksize") == [1, 1, 3, 2] && ints(o, "strides") == [1, 1, 2, 1]));
    let avg = ops_of_type(&c.air, "AvgPoolV2");
    assert_eq!(avg.len(), 5);
    assert!(avg.iter().any(|o| !boolean(o, "exclusive")));
    assert!(avg
        .iter()
        .any(|o| boolean(o, "exclusive") && ints(o, "pads") == [1, 1, 1, 1]));
    assert!(avg.iter().any(|o| attr_i(o, "divisor_override") == 3));
    let ada = ops_of_type(&c.air, "AdaptiveAvgPool2d");
    assert_eq!(ada.len(), 2);
    assert!(ada.iter().any(|o| ints(o, "output_size") == [3, 2]));
    // adaptive_avg_pool2d(x, 1) is a mean.
    assert_eq!(ops_of_type(&c.air, "ReduceMean").len(), 1);
}

#[test]
fn ops_norm() {
    let c = check("ops_norm");
    assert_eq!(ops_of_type(&c.air, "BNInfer").len(), 4);
    let gn = ops_of_type(&c.air, "GroupNorm");
    assert_eq!(gn.len(), 2);
    assert!(gn.iter().any(|o| attr_i(o, "num_groups") == 3));
    assert_eq!(ops_of_type(&c.air, "InstanceNorm").len(), 3);
    // BNInfer's parameters are FLOAT, its input 4-D (BatchNorm1d inputs are unsqueezed).
    for o in ops_of_type(&c.air, "BNInfer") {
        assert!(o.input_desc[1..].iter().all(|d| d.dtype == 1), "{o:?}");
        assert!(float(o, "epsilon") > 0.0);
    }
}

#[test]
fn ops_resize_pad() {
    let c = check("ops_resize_pad");
    let near = ops_of_type(&c.air, "ResizeNearestNeighborV2");
    assert_eq!(near.len(), 2);
    let bil = ops_of_type(&c.air, "ResizeBilinearV2");
    assert_eq!(bil.len(), 3);
    assert!(bil
        .iter()
        .any(|o| boolean(o, "align_corners") && !boolean(o, "half_pixel_centers")));
    assert!(bil
        .iter()
        .any(|o| !boolean(o, "align_corners") && boolean(o, "half_pixel_centers")));
    let pads = ops_of_type(&c.air, "PadV3");
    assert!(pads.iter().any(|o| attr_s(o, "mode") == "constant"));
    assert!(pads.iter().any(|o| attr_s(o, "mode") == "edge"));
    assert_eq!(ops_of_type(&c.air, "MirrorPad").len(), 3);
}

#[test]
fn ops_activations_and_clamp() {
    let c = check("ops_act");
    assert_eq!(ops_of_type(&c.air, "HardSwish").len(), 1);
    let hs = &ops_of_type(&c.air, "HardSigmoid")[0];
    assert!((float(hs, "alpha") - 1.0 / 6.0).abs() < 1e-7);
    // relu6 (hardtanh(0, 6), as nn.ReLU6 calls it, is checked in mobilenet_v3).
    assert_eq!(ops_of_type(&c.air, "Relu6").len(), 1);
    let lr = ops_of_type(&c.air, "LeakyRelu");
    assert!(lr
        .iter()
        .any(|o| (float(o, "negative_slope") - 0.2).abs() < 1e-7));
    assert!(lr
        .iter()
        .any(|o| (float(o, "negative_slope") - 0.01).abs() < 1e-7));
    assert!(ops_of_type(&c.air, "Elu")
        .iter()
        .any(|o| (float(o, "alpha") - 0.5).abs() < 1e-7));
    // hardtanh(-1, 1), hardtanh(-0.5, 2), clamp x4 (both bounds, min only, max only, tensors),
    // clamp of i64 x2 (a missing bound is the dtype's extreme).
    let clips = ops_of_type(&c.air, "ClipByValueV2");
    assert_eq!(clips.len(), 8);
    let int64 = torch2air::internal::dtype::DType::I64.ge_proto();
    assert_eq!(
        clips
            .iter()
            .filter(|o| o.input_desc.iter().all(|d| d.dtype == int64))
            .count(),
        2
    );
    assert_types(&c.air, &["Maximum", "Minimum"]);
}

#[test]
fn ops_gru_variants() {
    // One layer with h0; two layers without biases (batch_first); bidirectional.
    let c = check("ops_gru");
    assert!(!has(&c.air, "DynamicGRUV2"));
    // Without biases the hidden projections take no bias input.
    assert!(ops_of_type(&c.air, "BatchMatMulV2")
        .iter()
        .any(|o| o.input.len() == 2));
}

#[test]
fn ops_lstm_variants() {
    // One layer with (h0, c0); two bidirectional layers, batch_first; unbatched without biases.
    let c = check("ops_lstm");
    // Steps: 4 (l1) + 2 layers x 2 directions x 4 (l2) + 4 (l3) = 24, two Tanh each.
    assert_eq!(ops_of_type(&c.air, "Tanh").len(), 48);
    op(&c.air, "l2._flat_weights.15");
}

#[test]
fn ops_conv_transpose() {
    let c = check("ops_conv_transpose");
    let t = ops_of_type(&c.air, "Conv2DTranspose");
    assert_eq!(t.len(), 4);
    // stride 2, padding 1, output_padding 1, no bias.
    assert!(t.iter().any(|o| ints(o, "strides") == [1, 1, 2, 2]
        && ints(o, "pads") == [1, 1, 1, 1]
        && ints(o, "output_padding") == [0, 0, 1, 1]
        && o.input.len() == 3));
    assert!(t
        .iter()
        .any(|o| attr_i(o, "groups") == 2 && ints(o, "dilations") == [1, 1, 1, 2]));
    assert!(!has(&c.air, "Conv2D"));
}

#[test]
fn ops_misc_1d_and_activations() {
    let c = check("ops_misc");
    // 1-D pools and resizes run as 2-D ops on [N, C, 1, L].
    assert_eq!(ops_of_type(&c.air, "MaxPoolV3").len(), 2);
    assert_eq!(ops_of_type(&c.air, "AvgPoolV2").len(), 2);
    assert!(ops_of_type(&c.air, "AdaptiveAvgPool2d")
        .iter()
        .any(|o| ints(o, "output_size") == [1, 3]));
    assert_eq!(ops_of_type(&c.air, "ReduceMean").len(), 1);
    assert_eq!(ops_of_type(&c.air, "ResizeBilinearV2").len(), 2);
    // nearest (1-D) and nearest-exact (2-D, half-pixel centers).
    let near = ops_of_type(&c.air, "ResizeNearestNeighborV2");
    assert_eq!(near.len(), 2);
    assert!(near.iter().any(|o| boolean(o, "half_pixel_centers")));
    assert_eq!(ops_of_type(&c.air, "PRelu").len(), 2);
    assert_eq!(ops_of_type(&c.air, "Softplus").len(), 2);
    assert_types(&c.air, &["Mish", "Selu"]);
}

#[test]
fn inexact_resize_scale_uses_pytorchs_indices() {
    // scale_factor 1.5 on 5 pixels: ATen samples with 1/1.5, GE's resize would with 5/7; the
    // export gathers ATen's own source indices instead, and matches TorchScript.
    let d = tmp();
    let m = vision("bad_resize_scale.pt");
    let (code, out, err) = cli(
        d.path(),
        &[
            "verify",
            m.to_str().unwrap(),
            "--input",
            "f32[1,2,5,5]",
            "--export-path",
            "out",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("verify: PASS"), "{out}");
    let air = read_air(&d.path().join("out").join("export.air"));
    assert!(ops_of_type(&air, "ResizeNearestNeighborV2").is_empty());
    assert_eq!(ops_of_type(&air, "GatherV2").len(), 2);
}

#[test]
fn inexact_resize_scale_over_dynamic_dims_is_computed_in_the_graph() {
    // scale_factor 1.5 on 5 pixels: with --dynamic, PyTorch's floor(in · 1.5) and its source
    // indices (1/1.5, not GE's in/out) are computed in the graph; every dim stays dynamic and
    // verify passes at sizes the export never saw (7 and 12 pixels).
    let d = tmp();
    let m = vision("bad_resize_scale.pt");
    let (code, out, err) = cli(
        d.path(),
        &[
            "verify",
            m.to_str().unwrap(),
            "--input",
            "f32[1,2,5,5]",
            "--dynamic",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dynamic dims: x[1], x[2], x[3]\n"), "{out}");
    assert!(!out.contains("pinned"), "{out}");
    assert!(out.contains("verify: PASS"), "{out}");
}

#[test]
fn npy_inputs_keep_dtype_and_shape() {
    let ids = spec::read_npy(&vision("gru_tagger.in0.npy")).unwrap();
    assert_eq!(ids.kind(), tch::Kind::Int64);
    assert_eq!(ids.size(), [3, 6]);
    let mask = spec::read_npy(&vision("transformer_encoder.in1.npy")).unwrap();
    assert_eq!(mask.kind(), tch::Kind::Bool);
    let x = spec::read_npy(&vision("vit.in0.npy")).unwrap();
    assert_eq!((x.kind(), x.size()), (tch::Kind::Float, vec![2, 3, 16, 16]));
}

#[test]
fn dilated_max_pool_lowers_to_the_3d_argmax_pool() {
    // MaxPoolV3 has no dilation: F.max_pool2d(x, 3, dilation=2) runs as a 3-D max pool (D = 1)
    // with its dilation attr, and matches TorchScript.
    let d = tmp();
    let m = vision("bad_pool_dilation.pt");
    let (code, out, err) = cli(
        d.path(),
        &[
            "verify",
            m.to_str().unwrap(),
            "--input",
            "f32[1,2,9,9]",
            "--export-path",
            "out",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("verify: PASS"), "{out}");
    let air = read_air(&d.path().join("out").join("export.air"));
    let pool = &ops_of_type(&air, "MaxPool3DWithArgmaxV2")[0];
    assert_eq!(ints(pool, "dilation"), vec![1, 2, 2]);
    assert_eq!(ints(pool, "ksize"), vec![1, 3, 3]);
    assert!(ops_of_type(&air, "MaxPoolV3").is_empty());
}

// --- Half precision ----------------------------------------------------------------------------

/// Verifies `models/vision/<file>` on random inputs at the dtype's default tolerance; the
/// export has no dtype warnings except for `allowed` op types.
fn check_half(file: &str, specs: &[&str], allowed: &[&str]) -> Checked {
    let args = spec::make_all(&specs.iter().map(|s| s.to_string()).collect::<Vec<_>>(), 3).unwrap();
    let d = tmp();
    let out = d.path().join("out");
    let r = verify(
        args,
        &vision(file),
        out.to_str().unwrap(),
        "export",
        false,
        &Default::default(),
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(!r.checks.is_empty());
    for c in &r.checks {
        assert!(c.ok, "{file}: {c}");
    }
    let air = read_air(&out.join("export.air"));
    torch2air::internal::ge::schema::check_graph(&air.graph[0])
        .unwrap_or_else(|e| panic!("{file}: schema: {e:?}"));
    for w in torch2air::internal::ge::schema::dtype_warnings(&air.graph[0]) {
        assert!(
            allowed.iter().any(|a| w.contains(&format!("({a})"))),
            "{file}: {w}"
        );
    }
    Checked {
        _dir: d,
        air,
        path: r.export.air.clone(),
    }
}

/// The proto dtype of input `k` of the first op of type `ty`.
fn in_dtype(m: &ModelDef, ty: &str, k: usize) -> i32 {
    ops_of_type(m, ty)[0].input_desc[k].dtype
}

// Proto numbering: DT_FLOAT 1, DT_FLOAT16 2, DT_BF16 27.
const F32: i32 = 1;
const F16: i32 = 2;
const BF16: i32 = 27;

#[test]
fn mobilenet_v3_bf16() {
    // Relu is not a vision rule; its prototype lacks BF16 (left to its owner).
    let c = check_half("mobilenet_v3_bf16.pt", &["bf16[2,3,32,32]"], &["Relu"]);
    // Conv2D takes bf16 (with a FLOAT bias); BNInfer and HardSwish run in FLOAT.
    assert_eq!(in_dtype(&c.air, "Conv2D", 0), BF16);
    assert_eq!(in_dtype(&c.air, "BNInfer", 0), F32);
    assert_eq!(in_dtype(&c.air, "HardSwish", 0), F32);
    assert_eq!(in_dtype(&c.air, "HardSigmoid", 0), F32);
    assert!(ops_of_type(&c.air, "Conv2D")
        .iter()
        .filter(|o| o.input_desc.len() > 2)
        .all(|o| o.input_desc[2].dtype == F32));
}

#[test]
fn resnet_f16_traced() {
    let c = check_half("resnet_f16.pt", &[], &[]);
    assert_eq!(in_dtype(&c.air, "Conv2D", 0), F16);
    // BNInfer keeps x in f16, its parameters in FLOAT.
    assert_eq!(in_dtype(&c.air, "BNInfer", 0), F16);
    assert_eq!(in_dtype(&c.air, "BNInfer", 1), F32);
    assert_eq!(in_dtype(&c.air, "MaxPoolV3", 0), F16);
}

#[test]
fn ops_half_precision() {
    for dt in ["bf16", "f16"] {
        let img = format!("{dt}[2,6,5,4]");
        let seq = format!("{dt}[2,6,7]");
        check_half(&format!("ops_norm_{dt}.pt"), &[&img, &seq], &[]);
        let img = format!("{dt}[2,3,5,4]");
        let seq = format!("{dt}[2,3,7]");
        let c = check_half(&format!("ops_misc_{dt}.pt"), &[&img, &seq], &[]);
        // ResizeBilinearV2's y is FLOAT, cast back to the model's dtype.
        for o in ops_of_type(&c.air, "ResizeBilinearV2") {
            assert_eq!(o.output_desc[0].dtype, F32);
        }
        check_half(
            &format!("ops_pool_{dt}.pt"),
            &[&format!("{dt}[2,3,9,8]")],
            &[],
        );
    }
}
