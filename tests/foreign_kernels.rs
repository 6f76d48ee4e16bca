//! Runner kernels for the GE op types TorchAir's converters emit (spec/aten-to-ge.md) that the
//! graphs in tests/torchair_graphs do not exercise: each runs in a one-op graph (built with the
//! crate's GraphBuilder, no torch2air marker, so a foreign graph) and is compared with the
//! libtorch expression of the op's documented meaning.
use tch::{Kind, Tensor};
use torch2air::internal::dtype::DType;
use torch2air::internal::ge::{attr, GraphBuilder, In};
use torch2air::proto::{AttrDef, GraphDef, ModelDef};

fn f(v: &[f32], shape: &[i64]) -> Tensor {
    Tensor::from_slice(v).reshape(shape)
}

fn randn(shape: &[i64], seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randn(shape, (Kind::Float, tch::Device::Cpu))
}

fn i64s(v: &[i64]) -> Tensor {
    Tensor::from_slice(v)
}

/// Runs `op_type` on `inputs` (prototype order; None: an unfed optional) with `attrs`; the
/// outputs' shapes are declared as `expected`'s, and the outputs must match them within `tol`.
fn check(
    op_type: &str,
    inputs: &[Option<Tensor>],
    attrs: Vec<(&str, AttrDef)>,
    expected: &[Tensor],
    tol: f64,
) {
    let mut b = GraphBuilder::new();
    let mut fed = vec![];
    let mut ins = vec![];
    for t in inputs {
        match t {
            Some(t) => {
                let dt = DType::from_kind(t.kind()).unwrap();
                let p = b.data(&format!("in{}", fed.len()), fed.len() as i64, dt, &t.size());
                fed.push(t.shallow_clone());
                ins.push(In::P(p));
            }
            None => ins.push(In::Unfed),
        }
    }
    let outs = b
        .op(op_type, ins, attrs, &vec![None; expected.len()])
        .unwrap_or_else(|e| panic!("{op_type}: {e}"));
    let declared: Vec<_> = outs
        .iter()
        .zip(expected)
        .map(|(p, e)| (*p, e.size()))
        .collect();
    b.net_output(&declared);
    b.normalize();
    let m = ModelDef {
        graph: vec![GraphDef {
            name: "g".into(),
            op: b.ops,
            ..Default::default()
        }],
        ..Default::default()
    };
    let got = torch2air::internal::run::run_model(&m, std::path::Path::new("."), &fed)
        .unwrap_or_else(|e| panic!("{op_type}: {e}"));
    assert_eq!(got.len(), expected.len(), "{op_type}: output count");
    for (k, (g, e)) in got.iter().zip(expected).enumerate() {
        assert_eq!(g.kind(), e.kind(), "{op_type} output {k}: dtype");
        assert_eq!(g.size(), e.size(), "{op_type} output {k}: shape");
        let err = (g.to_kind(Kind::Double) - e.to_kind(Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(err <= tol, "{op_type} output {k}: {err:e} off");
    }
}

#[test]
fn axpy_v2_muls_div() {
    let (a, b) = (randn(&[2, 3], 1), randn(&[2, 3], 2));
    let alpha = f(&[0.5], &[]);
    check(
        "AxpyV2",
        &[Some(a.copy()), Some(b.copy()), Some(alpha)],
        vec![],
        &[&a + &b * 0.5],
        1e-6,
    );
    check(
        "Muls",
        &[Some(a.copy())],
        vec![("value", attr::float(-2.5))],
        &[&a * -2.5],
        1e-6,
    );
    let ints = Tensor::from_slice(&[1i32, -3, 7]);
    check(
        "Muls",
        &[Some(ints.copy())],
        vec![("value", attr::float(2.0))],
        &[ints * 2],
        0.0,
    );
    check(
        "Div",
        &[Some(a.copy()), Some(b.copy())],
        vec![],
        &[&a / &b],
        1e-6,
    );
}

#[test]
fn tensor_move_and_assign() {
    let a = randn(&[3, 2], 3);
    check("TensorMove", &[Some(a.copy())], vec![], &[a.copy()], 0.0);
    let v = randn(&[3, 2], 4);
    check("Assign", &[Some(a), Some(v.copy())], vec![], &[v], 0.0);
}

#[test]
fn expand_dims_flatten_as_strided() {
    let x = randn(&[2, 3, 4], 5);
    check(
        "ExpandDims",
        &[Some(x.copy()), Some(i64s(&[-1]))],
        vec![],
        &[x.unsqueeze(3)],
        0.0,
    );
    check(
        "FlattenV2",
        &[Some(x.copy())],
        vec![("axis", attr::int(1)), ("end_axis", attr::int(-1))],
        &[x.reshape([2, 12])],
        0.0,
    );
    // The transpose of a [3, 4] matrix, read with strides.
    let m = Tensor::arange(12, (Kind::Float, tch::Device::Cpu)).reshape([3, 4]);
    check(
        "AsStrided",
        &[
            Some(m.copy()),
            Some(i64s(&[4, 3])),
            Some(i64s(&[1, 4])),
            Some(i64s(&[0])),
        ],
        vec![],
        &[m.transpose(0, 1).contiguous()],
        0.0,
    );
}

#[test]
fn reduce_mean_with_cast_and_prod_d() {
    let x = Tensor::from_slice(&[1i32, 2, 3, 4, 5, 6]).reshape([2, 3]);
    check(
        "ReduceMeanWithCast",
        &[Some(x.copy()), Some(i64s(&[1]))],
        vec![
            ("keep_dims", attr::boolean(true)),
            ("dtype", attr::dtype_cpp(DType::F32.ge_cpp())),
        ],
        &[f(&[2.0, 5.0], &[2, 1])],
        1e-6,
    );
    check(
        "ReduceProdD",
        &[Some(x.copy())],
        vec![("axes", attr::list_int(vec![0]))],
        &[Tensor::from_slice(&[4i32, 10, 18])],
        0.0,
    );
}

#[test]
fn batch_norm_v3_eval_and_training() {
    let x = randn(&[2, 3, 4, 4], 6);
    let (w, b) = (randn(&[3], 7), randn(&[3], 8));
    let rm = randn(&[3], 9);
    let rv = randn(&[3], 10).abs() + 0.5;
    let eps = 1e-5;
    let inputs = [
        Some(x.copy()),
        Some(w.copy()),
        Some(b.copy()),
        Some(rm.copy()),
        Some(rv.copy()),
    ];
    let y = x.batch_norm(
        Some(&w),
        Some(&b),
        Some(&rm),
        Some(&rv),
        false,
        0.1,
        eps,
        false,
    );
    check(
        "BatchNormV3",
        &inputs,
        vec![("is_training", attr::boolean(false))],
        &[y, rm.copy(), rv.copy(), rm.copy(), (&rv + eps).rsqrt()],
        1e-5,
    );
    // Training: batch statistics, running stats moved by momentum 0.1 (unbiased var), as torch.
    let (rm2, rv2) = (rm.copy(), rv.copy());
    let y = x.batch_norm(
        Some(&w),
        Some(&b),
        Some(&rm2),
        Some(&rv2),
        true,
        0.1,
        eps,
        false,
    );
    let mean = x.mean_dim([0i64, 2, 3].as_slice(), false, None);
    let var = x.var_dim([0i64, 2, 3].as_slice(), false, false);
    check(
        "BatchNormV3",
        &inputs,
        vec![("is_training", attr::boolean(true))],
        &[y, rm2, rv2, mean, (var + eps).rsqrt()],
        1e-5,
    );
}

#[test]
fn group_norm_v2_with_layout_info() {
    let x = randn(&[2, 4, 3, 3], 11);
    let (g, b) = (randn(&[4], 12), randn(&[4], 13));
    let y = x.group_norm(2, Some(&g), Some(&b), 1e-5, false);
    let v = x.reshape([2, 2, -1]);
    let mean = v.mean_dim([2i64].as_slice(), false, None);
    let rstd = (v.var_dim([2i64].as_slice(), false, false) + 1e-5).rsqrt();
    // data_format stays at its NHWC default; input_layout_info says x is NCHW (as TorchAir).
    let layout = AttrDef {
        value: Some(torch2air::proto::attr_def::Value::List(
            torch2air::proto::attr_def::ListValue {
                s: vec![b"NCHW".to_vec()],
                i: vec![0],
                ..Default::default()
            },
        )),
    };
    check(
        "GroupNormV2",
        &[Some(x.copy()), Some(g), Some(b)],
        vec![("num_groups", attr::int(2)), ("input_layout_info", layout)],
        &[y, mean, rstd],
        1e-5,
    );
}

#[test]
fn layer_norm_v4_without_gamma_beta() {
    // Optional gamma and beta unfed ("" inputs): 1 and 0.
    let x = randn(&[2, 3, 4], 14);
    let y = x.layer_norm(
        [3i64, 4].as_slice(),
        None::<Tensor>,
        None::<Tensor>,
        1e-5,
        false,
    );
    let mean = x.mean_dim([1i64, 2].as_slice(), true, None);
    let rstd = (x.var_dim([1i64, 2].as_slice(), false, true) + 1e-5).rsqrt();
    check(
        "LayerNormV4",
        &[Some(x.copy()), Some(i64s(&[3, 4])), None, None],
        vec![],
        &[y, mean, rstd],
        1e-5,
    );
}

#[test]
fn matmul_batch_matmul_argmin_with_value() {
    let (a, b) = (randn(&[2, 3, 4], 15), randn(&[2, 5, 4], 16));
    check(
        "BatchMatMul",
        &[Some(a.copy()), Some(b.copy())],
        vec![("adj_x2", attr::boolean(true))],
        &[a.matmul(&b.transpose(-1, -2))],
        1e-5,
    );
    let (m, n) = (randn(&[4, 3], 17), randn(&[4, 5], 18));
    let bias = randn(&[5], 19);
    check(
        "MatMul",
        &[Some(m.copy()), Some(n.copy()), Some(bias.copy())],
        vec![("transpose_x1", attr::boolean(true))],
        &[m.transpose(0, 1).mm(&n) + bias],
        1e-5,
    );
    let x = randn(&[3, 5], 20);
    let (v, i) = x.min_dim(1, false);
    check(
        "ArgMinWithValue",
        &[Some(x)],
        vec![("dimension", attr::int(1))],
        &[i.to_kind(Kind::Int), v],
        0.0,
    );
}

#[test]
fn conv3d_and_max_pool3d_with_layout_info() {
    let x = randn(&[1, 2, 5, 6, 7], 21);
    let w = randn(&[4, 2, 3, 3, 3], 22);
    let bias = randn(&[4], 23);
    let ncdhw = AttrDef {
        value: Some(torch2air::proto::attr_def::Value::List(
            torch2air::proto::attr_def::ListValue {
                s: vec![b"NCDHW".to_vec()],
                i: vec![0],
                ..Default::default()
            },
        )),
    };
    let y = x.conv3d(&w, Some(&bias), [1, 2, 1], [1, 0, 1], [1, 1, 1], 1);
    check(
        "Conv3D",
        &[Some(x.copy()), Some(w.copy()), Some(bias.copy())],
        vec![
            ("strides", attr::list_int(vec![1, 1, 1, 2, 1])),
            ("pads", attr::list_int(vec![1, 1, 0, 0, 1, 1])),
            ("input_layout_info", ncdhw),
        ],
        &[y],
        1e-4,
    );
    let (y, i) = x.max_pool3d_with_indices([2, 2, 2], [2, 2, 2], [0, 1, 0], [1, 1, 1], true);
    check(
        "MaxPool3DWithArgmaxV2",
        &[Some(x.copy())],
        vec![
            ("ksize", attr::list_int(vec![2, 2, 2])),
            ("strides", attr::list_int(vec![])),
            ("pads", attr::list_int(vec![0, 1, 0])),
            ("ceil_mode", attr::boolean(true)),
        ],
        &[y, i.to_kind(Kind::Int)],
        0.0,
    );
}

#[test]
fn embedding_bag_modes() {
    let w = randn(&[10, 3], 24);
    let idx = Tensor::from_slice(&[1i32, 2, 4, 5, 4, 3, 2, 9]);
    let offs = Tensor::from_slice(&[0i32, 4]);
    let (il, ol) = (idx.to_kind(Kind::Int64), offs.to_kind(Kind::Int64));
    for (mode, m) in [("sum", 0), ("mean", 1), ("max", 2)] {
        let (y, _, _, _) =
            Tensor::embedding_bag(&w, &il, &ol, false, m, false, None::<Tensor>, false);
        check(
            "EmbeddingBag",
            &[Some(w.copy()), Some(idx.copy()), Some(offs.copy())],
            vec![("mode", attr::string(mode))],
            &[y],
            1e-6,
        );
    }
    // No offsets: each row of 2-D indices is a bag.
    let rows = Tensor::from_slice(&[1i32, 2, 4, 5, 4, 3, 2, 9]).reshape([2, 4]);
    let (y, _, _, _) = Tensor::embedding_bag(&w, &il, &ol, false, 1, false, None::<Tensor>, false);
    check(
        "EmbeddingBag",
        &[Some(w.copy()), Some(rows), None],
        vec![],
        &[y],
        1e-6,
    );
}
