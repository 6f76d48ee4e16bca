//! Issue 5, transformer part: GPT-2, BERT and a Llama-style decoder (f32, f16, bf16) traced
//! from transformers, and one scripted module per op family, each exported, schema-checked,
//! run by the runner and compared with the TorchScript module (models/make_transformers.py).
mod common;
use common::*;
use torch2air::internal::dtype::DType;
use torch2air::internal::spec;
use torch2air::internal::verify::verify;

fn tmodel(name: &str) -> String {
    model(&format!("transformers/{name}"))
        .to_str()
        .unwrap()
        .to_string()
}

fn tpath(name: &str) -> std::path::PathBuf {
    model(&format!("transformers/{name}"))
}

struct Verified {
    _dir: tempfile::TempDir,
    air: torch2air::proto::ModelDef,
    checks: Vec<torch2air::internal::verify::OutputCheck>,
    outputs: Vec<tch::Tensor>,
}

/// Exports `name` with `specs`, runs the .air, compares with TorchScript at (atol, rtol) and
/// asserts every output is within `max_abs`; the written graph must pass the schema check.
fn verify_model(name: &str, specs: &[String], atol: Option<f64>, max_abs: f64) -> Verified {
    let d = tmp();
    let args = spec::make_all(specs, 3).unwrap();
    let out = d.path().join("out");
    let r = verify(
        args,
        &tpath(name),
        out.to_str().unwrap(),
        "export",
        false,
        &Default::default(),
        atol,
        None,
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(!r.checks.is_empty());
    for c in &r.checks {
        assert!(c.ok, "{name}: {c}");
        assert!(c.max_abs <= max_abs, "{name}: {c}");
    }
    let air = read_air(&out.join("export.air"));
    torch2air::internal::ge::schema::check_graph(&air.graph[0]).unwrap();
    // The same .air, run again on the same inputs, for comparisons with the eager outputs.
    let inputs: Vec<tch::Tensor> = spec::make_all(specs, 3)
        .unwrap()
        .into_iter()
        .filter_map(|v| v.as_tensor().map(|t| t.tensor.shallow_clone()))
        .collect();
    let outputs = torch2air::internal::run::run_air(&out.join("export.air"), &inputs).unwrap();
    Verified {
        _dir: d,
        air,
        checks: r.checks,
        outputs,
    }
}

fn model_inputs(name: &str) -> Vec<String> {
    vec![
        tmodel(&format!("{name}_ids.npy")),
        tmodel(&format!("{name}_mask.npy")),
    ]
}

/// The eager transformers model's output `i` (saved as float32 by the fixture script).
fn eager(name: &str, i: usize) -> tch::Tensor {
    let file = if i == 0 {
        format!("{name}_out.npy")
    } else {
        format!("{name}_out{i}.npy")
    };
    torch2air::internal::spec::read_npy(&tpath(&file)).unwrap()
}

fn max_abs_diff(a: &tch::Tensor, b: &tch::Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let a = a.to_kind(tch::Kind::Double);
    let b = b.to_kind(tch::Kind::Double);
    (a - b).abs().max().double_value(&[])
}

fn no_dtype_warnings(air: &torch2air::proto::ModelDef) {
    let w = torch2air::internal::ge::schema::dtype_warnings(&air.graph[0]);
    assert!(w.is_empty(), "{w:#?}");
}

fn has_types(air: &torch2air::proto::ModelDef, want: &[&str]) {
    let t = types(air);
    for w in want {
        assert!(t.iter().any(|x| x == w), "{w} missing in {t:?}");
    }
}

/// A transformers model at f32: verify at 1e-4, and the runner's numbers also match the eager
/// (untraced) model's saved outputs.
fn f32_model(name: &str, n_out: usize) -> Verified {
    let v = verify_model(&format!("{name}.pt"), &model_inputs(name), Some(1e-4), 1e-4);
    assert_eq!(v.outputs.len(), n_out);
    for (i, o) in v.outputs.iter().enumerate() {
        let e = eager(name, i);
        let d = max_abs_diff(o, &e);
        assert!(d <= 1e-4, "{name} output {i} vs eager: {d}");
    }
    no_dtype_warnings(&v.air);
    v
}

#[test]
fn gpt2_f32() {
    let v = f32_model("gpt2", 1);
    // The fused qkv projection is split with SplitV; SDPA decomposes to two batch matmuls.
    has_types(
        &v.air,
        &[
            "SplitV",
            "IndexByTensor",
            "SoftmaxV2",
            "SelectV2",
            "LayerNormV4",
        ],
    );
    assert_eq!(ops_of_type(&v.air, "SoftmaxV2").len(), 2);
    assert!(ops_of_type(&v.air, "BatchMatMulV2").len() >= 4);
}

#[test]
fn bert_f32() {
    let v = f32_model("bert", 2);
    has_types(
        &v.air,
        &[
            "BroadcastTo",
            "IndexByTensor",
            "GeluV2",
            "SoftmaxV2",
            "Tanh",
        ],
    );
}

#[test]
fn llama_f32() {
    let v = f32_model("llama", 1);
    // Rotary embeddings, RMSNorm, grouped KV heads (4 query heads over 2 KV heads), SiLU MLP.
    has_types(
        &v.air,
        &[
            "Sin",
            "Cos",
            "Rsqrt",
            "ReduceMean",
            "BroadcastTo",
            "Swish",
            "SelectV2",
            "SoftmaxV2",
        ],
    );
    // repeat_kv: each KV head broadcast to 2 query heads: [2, 2, 1, 8, 8] -> [2, 2, 2, 8, 8].
    let shapes: Vec<Vec<i64>> = ops_of_type(&v.air, "BroadcastTo")
        .iter()
        .map(|o| const_i64s(&v.air, &o.input[1]))
        .collect();
    assert_eq!(
        shapes.iter().filter(|s| **s == [2, 2, 2, 8, 8]).count(),
        4,
        "{shapes:?}"
    );
}

/// The INT64 values of the Const feeding input `port` (`name:0`).
fn const_i64s(m: &torch2air::proto::ModelDef, port: &str) -> Vec<i64> {
    let name = port.rsplit_once(':').unwrap().0;
    let c = op(m, name);
    assert_eq!(c.r#type, "Const");
    let Some(torch2air::proto::attr_def::Value::T(t)) = &c.attr["value"].value else {
        panic!("{name} has no tensor value");
    };
    t.data
        .chunks(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Half precision: the weights and the graph stay in the dtype; attention accumulates in FLOAT
/// (Cast nodes around it). Tolerances are verify's defaults for the dtype, which are about 10
/// units in the last place of a logit of magnitude ~1: f16 (10-bit mantissa, eps 9.8e-4) 1e-2;
/// bf16 (7-bit mantissa, eps 7.8e-3) 5e-2. The runner computes op by op with a rounding to the
/// dtype after every op, as the NPU does, while TorchScript's fused CPU kernels round less often.
fn half_model(name: &str, proto_dtype: DType, tol: f64) {
    let v = verify_model(&format!("{name}.pt"), &model_inputs(name), None, tol);
    let m = &v.air;
    let proto_dtype = proto_dtype.ge_proto();
    assert_eq!(
        op(m, "model.model.embed_tokens.weight").output_desc[0].dtype,
        proto_dtype
    );
    let out = ops_of_type(m, "NetOutput");
    assert_eq!(out[0].input_desc[0].dtype, proto_dtype);
    // The attention softmax runs in FLOAT.
    for s in ops_of_type(m, "SoftmaxV2") {
        assert_eq!(s.output_desc[0].dtype, DType::F32.ge_proto(), "{}", s.name);
    }
    let e = eager(name, 0);
    let d = max_abs_diff(&v.outputs[0], &e);
    assert!(d <= tol, "{name} vs eager: {d}");
    no_dtype_warnings(m);
}

#[test]
fn llama_f16() {
    half_model("llama_f16", DType::F16, 1e-2);
}

#[test]
fn llama_bf16() {
    half_model("llama_bf16", DType::BF16, 5e-2);
}

fn specs(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

#[test]
fn ops_compare_logical_where() {
    let v = verify_model(
        "ops_compare.pt",
        &specs(&["f32[3,4]", "f32[3,4]", "i64[3,4]:0..6"]),
        None,
        0.0,
    );
    assert_eq!(v.checks.len(), 38);
    has_types(
        &v.air,
        &[
            "Equal",
            "NotEqual",
            "Less",
            "LessEqual",
            "Greater",
            "GreaterEqual",
            "LogicalAnd",
            "LogicalOr",
            "LogicalNot",
            "SelectV2",
            "MaskedFill",
            "ReduceAny",
            "ReduceAll",
        ],
    );
    // `i < 2.5` compares in FLOAT: the int operand is cast first.
    assert!(ops_of_type(&v.air, "Less")
        .iter()
        .any(|o| o.input_desc[0].dtype == DType::F32.ge_proto()));
}

#[test]
fn ops_create_like_and_new() {
    let v = verify_model(
        "ops_create.pt",
        &specs(&["f32[3,4]", "i64[3,4]:0..6"]),
        None,
        1e-6,
    );
    has_types(&v.air, &["Fill"]);
    // arange/zeros/ones/full take no tensor: folded into Consts, no Range node.
    assert!(ops_of_type(&v.air, "Range").is_empty());
}

#[test]
fn ops_split_stack_repeat_expand_triangles_diff() {
    let v = verify_model(
        "ops_shape.pt",
        &specs(&["f32[3,4,4]", "f32[3,4,4]"]),
        None,
        1e-6,
    );
    has_types(
        &v.air,
        &[
            "SplitV",
            "Pack",
            "Tile",
            "BroadcastTo",
            "Triu",
            "Tril",
            "Sub",
            "NotEqual",
        ],
    );
    for s in ops_of_type(&v.air, "SplitV") {
        // split_dim is an INT32 Const.
        assert_eq!(s.input_desc[2].dtype, DType::I32.ge_proto());
    }
}

#[test]
fn ops_gather_scatter_index_cumsum() {
    let v = verify_model(
        "ops_index.pt",
        &specs(&["f32[2,4,3]", "i64[2,2,3]:0..3", "i64[3]:0..2", "f32[2,2,3]"]),
        None,
        1e-5,
    );
    has_types(
        &v.air,
        &[
            "GatherElements",
            "ScatterElements",
            "IndexByTensor",
            "TensorScatterUpdate",
            "TensorScatterAdd",
            "GatherV2",
            "Cumsum",
        ],
    );
    let adds: Vec<String> = ops_of_type(&v.air, "ScatterElements")
        .iter()
        .map(|o| attr_s(o, "reduction"))
        .collect();
    assert!(adds.contains(&"add".to_string()) && adds.contains(&"none".to_string()));
}

#[test]
fn ops_topk_sort_arg_max_min() {
    let v = verify_model(
        "ops_sort.pt",
        &specs(&["f32[4,5]", "i64[4,5]:0..100"]),
        None,
        0.0,
    );
    has_types(
        &v.air,
        &[
            "TopKV2",
            "Sort",
            "ArgMaxV2",
            "ArgMin",
            "ReduceMax",
            "ReduceMin",
            "Maximum",
            "Minimum",
        ],
    );
    // GE indices are INT32 and are cast to ATen's INT64.
    for t in ops_of_type(&v.air, "TopKV2") {
        assert_eq!(t.output_desc[1].dtype, DType::I32.ge_proto());
    }
}

#[test]
fn ops_unary_math() {
    let v = verify_model(
        "ops_math.pt",
        &specs(&["f32[3,4]", "i64[3,4]:1..9"]),
        None,
        1e-5,
    );
    has_types(
        &v.air,
        &[
            "Sin",
            "Cos",
            "Reciprocal",
            "Floor",
            "Ceil",
            "Round",
            "Trunc",
            "Sign",
            "Expm1",
            "Log1p",
            "Erfc",
            "FloorMod",
            "Mod",
            "FloorDiv",
            "IsNan",
            "ReverseV2",
        ],
    );
    let logs = ops_of_type(&v.air, "Log");
    let bases: Vec<f32> = logs
        .iter()
        .map(|o| match o.attr["base"].value {
            Some(torch2air::proto::attr_def::Value::F(f)) => f,
            _ => panic!("base is not a float"),
        })
        .collect();
    assert!(bases.contains(&2.0) && bases.contains(&10.0), "{bases:?}");
}

#[test]
fn ops_attention_baddbmm_einsum() {
    let v = verify_model(
        "ops_attention.pt",
        &specs(&[
            "f32[2,4,6,8]",
            "f32[2,4,6,8]",
            "f32[2,4,6,8]",
            "bool[2,1,6,6]",
            "f32[2,1,6,6]",
            "f32[2,2,6,8]",
        ]),
        None,
        1e-5,
    );
    // Seven SDPA calls, each one softmax.
    assert_eq!(ops_of_type(&v.air, "SoftmaxV2").len(), 7);
    has_types(&v.air, &["SelectV2", "Einsum", "BatchMatMulV2"]);
}

#[test]
fn boolean_mask_indexing_is_specialised_with_a_guard() {
    // x[x > 0]: its size depends on the data, so the export takes the sample's count, says so
    // as a guard, and the runner refuses an input with another count.
    let d = tmp();
    let m = tmodel("bool_index.pt");
    let (code, out, err) = cli(d.path(), &["export", &m, "--input", "f32[3,4]:-1..1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("selected row(s) (a size taken from the sample's data)"),
        "{out}"
    );
    let air = d.path().join("export_file/export.air");
    let air = air.to_str().unwrap();
    let (code, out, err) = cli(d.path(), &["run", air, "--input", "f32[3,4]:-1..1"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = cli(d.path(), &["run", air, "--input", "f32[3,4]:1..2"]);
    assert_clean_error(code, &err, "the graph was exported for the sample's");
}

/// A batch whose second sequence is left-padded (mask 0 on its first 3 tokens): the padded
/// query rows of the causal decoders have every key masked, which PyTorch's SDPA turns into
/// zeros; a plain softmax gives NaN there, and the next layer spreads it to every row.
#[test]
fn left_padded_batch_verifies() {
    for name in ["llama", "gpt2"] {
        let d = tmp();
        let mask = spec::read_npy(&tpath(&format!("{name}_mask.npy"))).unwrap();
        let _ = mask.get(1).narrow(0, 0, 3).fill_(0);
        let mask_file = d.path().join("mask.npy");
        let mut f = std::fs::File::create(&mask_file).unwrap();
        spec::write_npy(&mask, &mut f).unwrap();
        let specs = vec![
            tmodel(&format!("{name}_ids.npy")),
            mask_file.display().to_string(),
        ];
        let v = verify_model(&format!("{name}.pt"), &specs, Some(1e-4), 1e-4);
        for o in &v.outputs {
            assert!(!bool::try_from(o.isnan().any()).unwrap(), "{name}: NaN");
        }
    }
}
