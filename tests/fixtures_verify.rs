//! Every fixture exported, run by the runner and compared with the TorchScript module itself.
mod common;
use common::*;

#[test]
fn seed_single() {
    verify_fixture("seed_single.pt", &["f32[2,4]", "f32[2,4]"], 1e-5);
}

#[test]
fn doc_linear_with_its_traced_inputs() {
    let r = verify_fixture("doc_linear.pt", &[], 1e-5);
    assert!(r.export.used_traced_inputs);
    assert_eq!(r.export.inputs.len(), 2);
    // Ones-initialised Linear(2,2): both outputs columns equal sum(x)+1 + sum(y)+1.
    let types: Vec<String> = read_air(&r.export.air).graph[0]
        .op
        .iter()
        .map(|o| o.r#type.clone())
        .collect();
    assert_eq!(
        types.iter().filter(|t| *t == "MatMulV2").count(),
        2,
        "{types:?}"
    );
}

#[test]
fn doc_linear_with_explicit_inputs() {
    verify_fixture("doc_linear.pt", &["f32[2,2]", "f32[2,2]"], 1e-5);
}

#[test]
fn mlp_f32() {
    let r = verify_fixture("mlp.pt", &["f32[5,16]"], 1e-5);
    let t = types(&read_air(&r.export.air));
    for want in ["MatMulV2", "LayerNormV4", "GeluV2", "SoftmaxV2"] {
        assert!(t.iter().any(|x| x == want), "{want} missing in {t:?}");
    }
}

#[test]
fn mlp_f16() {
    let r = verify_fixture("mlp_f16.pt", &["f16[5,16]"], 1e-2);
    // Weights and Data stay in half precision: DT_FLOAT16 is proto 2.
    let m = read_air(&r.export.air);
    assert_eq!(op(&m, "x").output_desc[0].dtype, 2);
    assert_eq!(op(&m, "fc1.weight").output_desc[0].dtype, 2);
}

#[test]
fn mlp_bf16() {
    let r = verify_fixture("mlp_bf16.pt", &["bf16[5,16]"], 5e-2);
    let m = read_air(&r.export.air);
    assert_eq!(op(&m, "fc1.weight").output_desc[0].dtype, 27);
}

#[test]
fn branchy_flag_true_and_false_give_different_graphs() {
    let t = verify_fixture("branchy.pt", &["f32[3,4]", "bool:true"], 1e-5);
    let f = verify_fixture("branchy.pt", &["f32[3,4]", "bool:false"], 1e-5);
    let (tt, ft) = (
        types(&read_air(&t.export.air)),
        types(&read_air(&f.export.air)),
    );
    assert_ne!(tt, ft);
    assert!(
        tt.contains(&"Relu".to_string()) && !tt.contains(&"Tanh".to_string()),
        "{tt:?}"
    );
    assert!(
        ft.contains(&"Tanh".to_string()) && !ft.contains(&"Relu".to_string()),
        "{ft:?}"
    );
    // The flag is baked in: the graph takes only x.
    assert_eq!(ops_of_type(&read_air(&t.export.air), "Data").len(), 1);
    // The guard list names both decisions with their source lines.
    let g: Vec<String> = t.export.guards.iter().map(|g| g.to_string()).collect();
    assert!(
        g.iter().any(|s| s.contains("make_fixtures.py")
            && s.contains("if flag:")
            && s.ends_with("true")),
        "{g:?}"
    );
    assert!(
        g.iter()
            .any(|s| s.contains("if x.size(0) > 1:") && s.ends_with("true")),
        "{g:?}"
    );
    // A batch of one takes the other branch of the size test.
    let one = verify_fixture("branchy.pt", &["f32[1,4]", "bool:true"], 1e-5);
    assert!(one
        .export
        .guards
        .iter()
        .any(|g| g.text.contains("x.size(0) > 1") && g.assumed == "false"));
    assert!(!types(&read_air(&one.export.air)).contains(&"ReduceMean".to_string()));
}

#[test]
fn ops_elementwise() {
    verify_fixture("ops/elementwise.pt", &["f32[3,4]", "f32[3,4]"], 1e-5);
}

#[test]
fn ops_integer_and_casts() {
    let r = verify_fixture("ops/int.pt", &["i64[2,3]:-5..5", "f32[2,3]"], 1e-5);
    assert!(r
        .checks
        .iter()
        .any(|c| c.dtype == torch2air::internal::dtype::DType::I64));
    assert!(r
        .checks
        .iter()
        .any(|c| c.dtype == torch2air::internal::dtype::DType::F64));
}

#[test]
fn ops_shape() {
    verify_fixture("ops/shape.pt", &["f32[2,3,4]", "f32[2,1,4]"], 1e-5);
}

#[test]
fn ops_nn() {
    verify_fixture(
        "ops/nn.pt",
        &["i64[2,4]:0..10", "f32[2,4,6]", "f32[3,6]"],
        1e-5,
    );
}

#[test]
fn ops_more() {
    let r = verify_fixture(
        "ops/more.pt",
        &["f32[2,3,5,6]", "i64[2,3]:-5..5", "i64[2,3]:-5..5"],
        1e-5,
    );
    // 29 single outputs, split_with_sizes 2, unbind 3, unsafe_chunk 2, unsafe_split 3.
    assert_eq!(r.checks.len(), 39);
    let t = types(&read_air(&r.export.air));
    for ty in [
        "Acos",
        "Asin",
        "Atanh",
        "Acosh",
        "Asinh",
        "Cosh",
        "Sinh",
        "BitwiseAnd",
        "BitwiseOr",
        "BitwiseXor",
        "LogicalAnd",
        "Conv2D",
        "IsInf",
        "MirrorPad",
        "SplitV",
    ] {
        assert!(t.iter().any(|x| x == ty), "no {ty} in {t:?}");
    }
}

#[test]
fn sdpa_rows_with_every_key_masked_are_zero() {
    let r = verify_fixture(
        "ops/sdpa_masked.pt",
        &[
            "f32[2,3,5,4]",
            "f32[2,3,6,4]",
            "f32[2,3,6,4]",
            "bool[2,1,5,6]",
        ],
        1e-5,
    );
    // Row 0 of the first, row 1 of the second attention: zeros, as PyTorch (not NaN).
    assert_eq!(r.checks.len(), 2);
    let t = types(&read_air(&r.export.air));
    assert_eq!(t.iter().filter(|x| *x == "ReduceMax").count(), 2, "{t:?}");
}

#[test]
fn trailing_arguments_take_their_defaults() {
    // forward(x, m: Optional[Tensor] = None, scale: float = 2.0, relu: bool = True, act: str = "id")
    let r = verify_fixture("optional_args.pt", &["f32[2,3]"], 1e-6);
    assert_eq!(r.export.inputs.len(), 5);
    assert!(matches!(&r.export.inputs[4], torch2air::internal::value::Value::Str(s) if s == "id"));
    assert!(matches!(
        r.export.inputs[1],
        torch2air::internal::value::Value::None
    ));
    assert!(matches!(r.export.inputs[2], torch2air::internal::value::Value::Float(f) if f == 2.0));
    assert!(matches!(
        r.export.inputs[3],
        torch2air::internal::value::Value::Bool(true)
    ));
    let t = types(&read_air(&r.export.air));
    assert!(t.iter().any(|x| x == "Relu"), "{t:?}");
    // Given explicitly: a mask tensor, another scale, no relu.
    let r = verify_fixture(
        "optional_args.pt",
        &[
            "f32[2,3]",
            "f32[2,3]",
            "float:0.5",
            "bool:false",
            "str:tanh",
        ],
        1e-6,
    );
    let t = types(&read_air(&r.export.air));
    assert!(!t.iter().any(|x| x == "Relu"), "{t:?}");
    assert!(t.iter().any(|x| x == "Tanh"), "{t:?}");
    assert_eq!(r.export.inputs.len(), 5);
    verify_fixture("optional_args.pt", &["f32[2,3]", "none"], 1e-6);
}

#[test]
fn dict_built_updated_and_returned() {
    // {"logits", "probs", "sum", "n"}: the graph outputs the dict's values in insertion order.
    let r = verify_fixture("dict_out.pt", &["f32[2,3]"], 1e-6);
    let shapes: Vec<Vec<i64>> = r.checks.iter().map(|c| c.shape.clone()).collect();
    assert_eq!(shapes, vec![vec![2, 3], vec![2, 3], vec![2], vec![]]);
}

#[test]
fn ops_common_norms_roll_one_hot() {
    let r = verify_fixture("ops/common.pt", &["f32[4,6,8]", "i64[3,5]:0..7"], 1e-5);
    assert_eq!(r.checks.len(), 23);
    let t = types(&read_air(&r.export.air));
    for ty in [
        "LpNormV2",
        "ReduceLogSumExp",
        "Roll",
        "OneHot",
        "IsNan",
        "IsInf",
    ] {
        assert!(t.iter().any(|x| x == ty), "no {ty} in {t:?}");
    }
}

#[test]
fn ops_loss_functions() {
    let r = verify_fixture(
        "ops/loss.pt",
        &["f32[6,5]", "f32[6,5]", "i64[6]:0..5"],
        1e-5,
    );
    assert_eq!(r.checks.len(), 27);
    // Reductions give 0-D results, as in PyTorch; "none" keeps the input's (or target's) shape.
    let shapes: Vec<Vec<i64>> = r.checks.iter().map(|c| c.shape.clone()).collect();
    assert_eq!(shapes[0], Vec::<i64>::new());
    assert_eq!(shapes[1], vec![6, 5]);
    assert_eq!(shapes[15], vec![6]);
    assert_eq!(shapes[20], vec![2, 3]);
    let m = read_air(&r.export.air);
    let t = types(&m);
    for ty in [
        "MseLoss",
        "LpLoss",
        "SmoothL1LossV2",
        "BinaryCrossEntropy",
        "SigmoidCrossEntropyWithLogitsV2",
        "KLDiv",
        "NLLLoss",
    ] {
        assert!(t.iter().any(|x| x == ty), "no {ty} in {t:?}");
    }
    // Every fused loss op is emitted unreduced; the mean or sum is a separate reduction.
    for n in &m.graph[0].op {
        if let Some(a) = n.attr.get("reduction") {
            assert_eq!(
                torch2air::internal::ge::attr::as_str(a).as_deref(),
                Some("none"),
                "{}",
                n.name
            );
        }
    }
}

#[test]
fn ops_unfold_fold_and_bucketize() {
    let r = verify_fixture(
        "ops/blocks.pt",
        &["f32[2,3,7,8]", "f32[4,6]", "i64[10]:0..20"],
        0.0,
    );
    let shapes: Vec<Vec<i64>> = r.checks.iter().map(|c| c.shape.clone()).collect();
    assert_eq!(shapes[0], vec![2, 27, 30]);
    assert_eq!(shapes[2], vec![12, 42]);
    assert_eq!(shapes[3], vec![2, 3, 7, 8]);
    assert_eq!(shapes[13], vec![4, 2]);
    let m = read_air(&r.export.air);
    let im2col: Vec<_> = m.graph[0]
        .op
        .iter()
        .filter(|n| n.r#type == "Im2col")
        .collect();
    assert_eq!(im2col.len(), 5);
    // F.unfold(img, (2, 3), dilation=(2, 1), padding=1, stride=(2, 2))
    let ints = |n: &torch2air::proto::OpDef, k: &str| {
        torch2air::internal::ge::attr::as_list_int(&n.attr[k]).unwrap()
    };
    let second = im2col[1];
    assert_eq!(ints(second, "ksizes"), vec![2, 3]);
    assert_eq!(ints(second, "dilations"), vec![2, 1]);
    assert_eq!(ints(second, "strides"), vec![2, 2]);
    assert_eq!(ints(second, "pads"), vec![1, 1, 1, 1]);
    assert_eq!(
        m.graph[0]
            .op
            .iter()
            .filter(|n| n.r#type == "Col2im")
            .count(),
        3
    );
}

#[test]
fn frozen_module_weights_are_weights() {
    // fc1.weight (128x64 f32, 32 KiB) is a graph constant in a frozen module: a weight named
    // constant.0, so a FileConstant (file constant_0) when weights go to files.
    let d = tmp();
    let (c, out, e) = cli(
        d.path(),
        &[
            "verify",
            model("frozen_mlp.pt").to_str().unwrap(),
            "--input",
            "f32[3,64]",
            "--weight-threshold",
            "0",
        ],
    );
    assert_eq!(c, 0, "{out}{e}");
    assert!(out.contains("verify: PASS"), "{out}");
    let file = d.path().join("export_file/constant_0");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 128 * 64 * 4);
    let m = read_air(&d.path().join("export_file/export.air"));
    let fc: Vec<_> = m.graph[0]
        .op
        .iter()
        .filter(|o| o.r#type == "FileConstant")
        .collect();
    assert_eq!(fc.len(), 1, "{:?}", types(&m));
    assert_eq!(fc[0].name, "constant.0");
    // The small ones (biases, fc2's 2 KiB weight) stay inline Consts.
    assert!(types(&m).iter().filter(|t| *t == "Const").count() >= 3);
}

#[test]
fn verify_cli_fails_past_tolerance() {
    let d = tmp();
    let m = model("mlp_f16.pt");
    let (code, out, err) = cli(
        d.path(),
        &[
            "verify",
            m.to_str().unwrap(),
            "--input",
            "f16[5,16]",
            "--atol",
            "0",
            "--rtol",
            "0",
        ],
    );
    // f16 kernels differ in the last bits between the fused module and the op-by-op runner, or
    // they agree exactly; either way the verdict must match the numbers printed.
    if out.contains("max abs err 0.000e0") && !out.contains("MISMATCH") {
        assert_eq!(code, 0);
    } else {
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            out.contains("MISMATCH") && err.contains("verify: FAIL"),
            "{out}{err}"
        );
    }
}

#[test]
fn compare_flags_differences() {
    let a = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    let b = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.1]);
    let c = torch2air::internal::verify::compare(&[a.shallow_clone()], &[b], None, None).unwrap();
    assert!(!c[0].ok);
    assert!((c[0].max_abs - 0.1).abs() < 1e-6);
    let ok = torch2air::internal::verify::compare(
        &[a.shallow_clone()],
        &[a.shallow_clone()],
        Some(0.0),
        Some(0.0),
    )
    .unwrap();
    assert!(ok[0].ok);
    let shape = torch2air::internal::verify::compare(
        &[a.shallow_clone()],
        &[a.reshape([3, 1])],
        None,
        None,
    )
    .unwrap();
    assert!(!shape[0].ok && shape[0].problem.is_some());
    assert!(torch2air::internal::verify::compare(&[a.shallow_clone()], &[], None, None).is_err());
}

#[test]
fn writes_through_views_are_written_back() {
    // z[:, 1] = y; z[1:, ::2] += 1; z.t()[0] *= 3: each write lands in z (and in w = z.t()).
    let r = verify_fixture("inplace_view.pt", &["f32[3,4]", "f32[3]"], 1e-6);
    assert_eq!(r.checks.len(), 2);
    let m = read_air(&r.export.air);
    let scatters = m.graph[0]
        .op
        .iter()
        .filter(|o| o.r#type == "TensorScatterUpdate")
        .count();
    assert!(scatters >= 3, "{scatters} TensorScatterUpdate");
}

#[test]
fn inplace_writes_into_constants_and_fills() {
    // A constant used, then written in place (its Const keeps the value it had when used);
    // fill_ of a view, zero_, fill_ with a 0-d tensor.
    let r = verify_fixture("inplace_more.pt", &["f32[3,3]", "f32[]"], 1e-6);
    assert_eq!(r.checks.len(), 5);
    let t = types(&read_air(&r.export.air));
    assert!(t.iter().filter(|x| *x == "Fill").count() >= 2, "{t:?}");
}
