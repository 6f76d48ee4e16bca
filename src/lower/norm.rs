//! Batch, group and instance norm (`BNInfer`, `GroupNorm`, `InstanceNorm`) on 4-D views.
use super::spatial::{self, squeeze, unsqueeze, work_dtype};
use super::sym::Dim;
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::Port;

pub fn register(r: &mut Rules) {
    r.add(
        "aten::rms_norm",
        rms_norm,
        "Mul(x, Rsqrt(Add(ReduceMean(Mul(x, x), K64(normalized dims); keep_dims), Kout(eps)))) [→ Mul(weight)]; eps None: the opmath dtype's epsilon",
    );
    r.add(
        "aten::batch_norm",
        batch_norm,
        "eval: [Unsqueeze/Reshape to 4-D] → BNInfer(x, scale, offset, mean, variance; epsilon) (params as FLOAT; missing weight/bias → constants 1/0) → [Squeeze/Reshape back]; training (or no running stats): the batch's moments, as native_batch_norm; an empty input: an empty K; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::native_batch_norm",
        native_batch_norm,
        "training: batch moments (ReduceMean over all dims but 1; Rsqrt(var + eps)) → Sub/Mul, Mul(weight)/Add(bias) as [C, 1..]; outputs y, mean, invstd; eval: the batch_norm lowering (BNInfer), empty mean/invstd K([])",
    );
    r.add(
        "aten::_native_batch_norm_legit",
        native_batch_norm,
        "as native_batch_norm (no_stats: batch moments)",
    );
    r.add(
        "aten::_native_batch_norm_legit_no_training",
        native_batch_norm_eval,
        "as native_batch_norm in eval (BNInfer, empty mean/invstd)",
    );
    r.add(
        "aten::_batch_norm_with_update",
        batch_norm_with_update,
        "as native_batch_norm in training (batch moments), plus an empty UINT8 reserve K([])",
    );
    r.add(
        "aten::native_layer_norm",
        super::nn::layer_norm_v4,
        "LayerNormV4(x, K64(normalized_shape), gamma?, beta?; epsilon): y, mean, rstd",
    );
    r.add(
        "aten::native_group_norm",
        native_group_norm,
        "Reshape(x, [N, group, -1]) → moments over axis 2 (ReduceMean, Rsqrt(var + eps)) → Reshape back, Mul(weight)/Add(bias) as [C, 1..]; outputs y, mean [N, group], rstd [N, group]",
    );
    r.add(
        "aten::group_norm",
        group_norm,
        "[Unsqueeze to 4-D] → GroupNorm(x, gamma, beta; num_groups, eps, data_format=NCHW, is_training=true) output 0 (missing weight/bias → constants 1/0); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::instance_norm",
        instance_norm,
        "input stats: [Unsqueeze to 4-D] → InstanceNorm(x, gamma, beta; data_format=NCHW, epsilon) output 0; running stats: as batch_norm (BNInfer); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
}

/// A per-channel parameter: the argument cast to `dt`, or a Const filled with `fill` (of the
/// input's channel count, pinned when dynamic).
fn channel_param(c: &mut Ctx, name: &str, fill: f64, dt: DType) -> Result<Port, String> {
    if c.has(name) {
        return c.tensor_as(name, dt);
    }
    let channels = channels_static(c)?[1];
    let t = tch::Tensor::full([channels], fill, (dt.kind(), tch::Device::Cpu));
    c.b.constant(&t, &format!("full([{channels}], {fill})"))
}

/// Brings an [N, C, ...] tensor to 4-D for BNInfer/GroupNorm/InstanceNorm: rank 2/3 gets trailing
/// unit dims, rank > 4 folds the trailing dims into one. Returns the way back.
enum Back {
    None,
    Squeeze(Vec<i64>),
    /// Back to the input's shape (a Const, or `Shape(input)` when dynamic).
    Reshape(Port),
}

/// The input's shape with -1 for dynamic dims; its channel dim (1) is static: the norm's
/// weight, bias and running stats fix it, so a dynamic one is pinned (with a note).
fn channels_static(c: &Ctx) -> Result<Vec<i64>, String> {
    let mut shape = c.in_desc_shape("input")?;
    if shape.get(1).is_some_and(|&ch| ch < 0) {
        let ch = c.tensor_value("input")?.tensor.size()[1];
        c.bake(format!(
            "{} takes the channel dim (1) as the constant {ch}",
            c.node.op_name()
        ));
        shape[1] = ch;
    }
    Ok(shape)
}

fn to_4d(c: &mut Ctx, x: Port, shape: &[i64], dt: DType) -> Result<(Port, Back), String> {
    let rank = shape.len() as i64;
    match rank {
        4 => Ok((x, Back::None)),
        2 | 3 => {
            let axes: Vec<i64> = (rank..4).collect();
            let y = unsqueeze(c, x, axes.clone(), dt)?;
            Ok((y, Back::Squeeze(axes)))
        }
        r if r > 4 => {
            // [N, C, D, rest...] → [N, C, D, -1]; dynamic N or D from Shape(input).
            let dims = c.sym_dims("input")?;
            let y = c.reshape_dims(x, &[dims[0], dims[1], dims[2], Dim::K(-1)], dt)?;
            let back = c.shape_port("input")?;
            Ok((y, Back::Reshape(back)))
        }
        r => Err(format!(
            "expects an input of shape [N, C, ...], got rank {r}"
        )),
    }
}

fn from_4d(c: &mut Ctx, y: Port, back: Back, dt: DType) -> Result<Port, String> {
    match back {
        Back::None => Ok(y),
        Back::Squeeze(axes) => squeeze(c, y, axes, dt),
        Back::Reshape(s) => c.op1("Reshape", vec![In::P(y), In::P(s)], vec![], dt),
    }
}

/// Eval-mode batch norm with running statistics → BNInfer (FLOAT parameters, as its prototype
/// requires; half-precision models get their parameters cast up).
fn bn_infer(c: &mut Ctx, eps: f64) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype("BNInfer", res);
    // Every dim may be dynamic (the parameters give the channels at run time).
    let shape = c.in_desc_shape("input")?;
    if shape.len() < 2 {
        return Err(format!("batch norm of a rank-{} tensor", shape.len()));
    }
    let x = c.tensor_as("input", out)?;
    let scale = channel_param(c, "weight", 1.0, DType::F32)?;
    let offset = channel_param(c, "bias", 0.0, DType::F32)?;
    let mean = c.tensor_as("running_mean", DType::F32)?;
    let var = c.tensor_as("running_var", DType::F32)?;
    let (x4, back) = to_4d(c, x, &shape, out)?;
    let y = c.op1(
        "BNInfer",
        vec![
            In::P(x4),
            In::P(scale),
            In::P(offset),
            In::P(mean),
            In::P(var),
        ],
        vec![("epsilon", attr::float(eps as f32))],
        out,
    )?;
    let y = from_4d(c, y, back, out)?;
    spatial::back(c, y, res)
}

fn batch_norm(c: &mut Ctx) -> RuleResult {
    let eps = c.float("eps")?;
    // An empty input normalises to an empty result (ATen returns it without checks).
    if c.in_dims("input")?.contains(&Some(0)) {
        let shape = c.out_shape(0)?;
        let dt = c.out_dtype(0)?;
        let t = tch::Tensor::zeros(shape.as_slice(), (dt.kind(), tch::Device::Cpu));
        return Ok(vec![c.b.constant(&t, "empty")?]);
    }
    if c.bool("training")? || !c.has("running_mean") || !c.has("running_var") {
        return Ok(vec![bn_train(c, eps)?[0]]);
    }
    bn_infer(c, eps)
}

/// `(x - mean, mean, rstd)` of `x` over `axes` (kept as 1s): the biased variance, as
/// normalisation uses it.
fn moments(
    c: &mut Ctx,
    x: Port,
    axes: &[i64],
    eps: f64,
    dt: DType,
) -> Result<(Port, Port, Port), String> {
    let ax = c.const_i64(axes)?;
    let keep = vec![("keep_dims", attr::boolean(true))];
    let mean = c.op1("ReduceMean", vec![In::P(x), In::P(ax)], keep.clone(), dt)?;
    let d = c.bin("Sub", x, mean, dt)?;
    let sq = c.bin("Mul", d, d, dt)?;
    let var = c.op1("ReduceMean", vec![In::P(sq), In::P(ax)], keep, dt)?;
    let e = c.scalar(eps, dt)?;
    let ve = c.bin("Add", var, e, dt)?;
    let rstd = c.un("Rsqrt", ve, dt)?;
    Ok((d, mean, rstd))
}

/// `y · weight + bias` with per-channel parameters broadcast along dim 1 of a rank-`rank` `y`
/// (reshaped to [-1, 1, ..], so the channels may be dynamic).
fn affine(c: &mut Ctx, y: Port, rank: usize, dt: DType) -> Result<Port, String> {
    let mut shape = vec![-1];
    shape.extend(std::iter::repeat_n(1, rank.saturating_sub(2)));
    let mut y = y;
    if c.has("weight") {
        let w = c.tensor_as("weight", dt)?;
        let w = c.reshape_const(w, &shape, dt)?;
        y = c.bin("Mul", y, w, dt)?;
    }
    if c.has("bias") {
        let b = c.tensor_as("bias", dt)?;
        let b = c.reshape_const(b, &shape, dt)?;
        y = c.bin("Add", y, b, dt)?;
    }
    Ok(y)
}

/// Training-mode batch norm from the batch's own moments over every dim but 1: y, mean [C],
/// invstd [C]. (The running statistics ATen updates in place are not graph outputs.)
fn bn_train(c: &mut Ctx, eps: f64) -> RuleResult {
    let out = c.out_dtype(0)?;
    // Every dim may be dynamic: nothing here needs the channel count.
    let rank = c.rank("input")?;
    if rank < 2 {
        return Err(format!("batch norm of a rank-{rank} tensor"));
    }
    let x = c.tensor_as("input", out)?;
    let axes: Vec<i64> = std::iter::once(0).chain(2..rank as i64).collect();
    let (d, mean, rstd) = moments(c, x, &axes, eps, out)?;
    let y = c.bin("Mul", d, rstd, out)?;
    let y = affine(c, y, rank, out)?;
    let mean = c.reshape_const(mean, &[-1], out)?;
    let rstd = c.reshape_const(rstd, &[-1], out)?;
    Ok(vec![y, mean, rstd])
}

/// An empty 1-D Const of dtype `dt` (the statistics ATen returns when it computes none).
fn empty(c: &mut Ctx, dt: DType) -> Result<Port, String> {
    let t = tch::Tensor::zeros([0], (dt.kind(), tch::Device::Cpu));
    c.b.constant(&t, "empty")
}

fn native_batch_norm(c: &mut Ctx) -> RuleResult {
    let eps = c.float("eps")?;
    if c.bool("training")? || !c.has("running_mean") || !c.has("running_var") {
        return bn_train(c, eps);
    }
    native_batch_norm_eval(c)
}

fn native_batch_norm_eval(c: &mut Ctx) -> RuleResult {
    let eps = c.float("eps")?;
    let y = bn_infer(c, eps)?[0];
    let (d1, d2) = (c.out_dtype(1)?, c.out_dtype(2)?);
    let (e1, e2) = (empty(c, d1)?, empty(c, d2)?);
    Ok(vec![y, e1, e2])
}

fn batch_norm_with_update(c: &mut Ctx) -> RuleResult {
    let eps = c.float("eps")?;
    let mut ys = bn_train(c, eps)?;
    let dt = c.out_dtype(3)?;
    ys.push(empty(c, dt)?);
    Ok(ys)
}

/// `native_group_norm(input, weight, bias, N, C, HxW, group, eps)`: y, mean and rstd ([N, group]).
fn native_group_norm(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = channels_static(c)?;
    let rank = shape.len();
    if rank < 2 {
        return Err(format!("group_norm of a rank-{rank} tensor"));
    }
    let groups = c.int("group")?;
    let eps = c.float("eps")?;
    let x = c.tensor_as("input", out)?;
    let dims = c.sym_dims("input")?;
    let xg = c.reshape_dims(x, &[dims[0], Dim::K(groups), Dim::K(-1)], out)?;
    let (d, mean, rstd) = moments(c, xg, &[2], eps, out)?;
    let y = c.bin("Mul", d, rstd, out)?;
    let back = c.shape_port("input")?;
    let y = c.op1("Reshape", vec![In::P(y), In::P(back)], vec![], out)?;
    let y = affine(c, y, rank, out)?;
    let ng = c.reshape_dims(mean, &[dims[0], Dim::K(groups)], out)?;
    let rs = c.reshape_dims(rstd, &[dims[0], Dim::K(groups)], out)?;
    Ok(vec![y, ng, rs])
}

fn group_norm(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype("GroupNorm", res);
    let shape = channels_static(c)?;
    if shape.len() < 2 {
        return Err(format!("group_norm of a rank-{} tensor", shape.len()));
    }
    let groups = c.int("num_groups")?;
    let eps = c.float("eps")?;
    let x = c.tensor_as("input", out)?;
    let gamma = channel_param(c, "weight", 1.0, out)?;
    let beta = channel_param(c, "bias", 0.0, out)?;
    let (x4, back) = to_4d(c, x, &shape, out)?;
    let ys = c.op(
        "GroupNorm",
        vec![In::P(x4), In::P(gamma), In::P(beta)],
        vec![
            ("num_groups", attr::int(groups)),
            ("data_format", attr::string("NCHW")),
            ("eps", attr::float(eps as f32)),
            ("is_training", attr::boolean(true)),
        ],
        &[Some(out), Some(out), Some(out)],
    )?;
    let y = from_4d(c, ys[0], back, out)?;
    spatial::back(c, y, res)
}

fn instance_norm(c: &mut Ctx) -> RuleResult {
    let eps = c.float("eps")?;
    if !c.bool("use_input_stats")? {
        if !c.has("running_mean") || !c.has("running_var") {
            return Err("instance_norm without input stats needs running statistics".into());
        }
        return bn_infer(c, eps);
    }
    let res = c.out_dtype(0)?;
    let out = work_dtype("InstanceNorm", res);
    let shape = channels_static(c)?;
    if shape.len() < 3 {
        return Err(format!(
            "instance_norm expects [N, C, ...], got rank {}",
            shape.len()
        ));
    }
    let x = c.tensor_as("input", out)?;
    let gamma = channel_param(c, "weight", 1.0, out)?;
    let beta = channel_param(c, "bias", 0.0, out)?;
    let (x4, back) = to_4d(c, x, &shape, out)?;
    let ys = c.op(
        "InstanceNorm",
        vec![In::P(x4), In::P(gamma), In::P(beta)],
        vec![
            ("data_format", attr::string("NCHW")),
            ("epsilon", attr::float(eps as f32)),
        ],
        &[Some(out), Some(out), Some(out)],
    )?;
    let y = from_4d(c, ys[0], back, out)?;
    spatial::back(c, y, res)
}

/// `rms_norm(x, normalized_shape, weight, eps)`: `x · rsqrt(mean(x², normalized dims) + eps)`,
/// times the weight; eps None is the machine epsilon of ATen's opmath type (f32 for f16/bf16).
fn rms_norm(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let ns = c.ints("normalized_shape")?;
    let rank = c.rank("input")? as i64;
    let dims: Vec<i64> = (rank - ns.len() as i64..rank).collect();
    let eps = if c.has("eps") {
        c.float("eps")?
    } else {
        // ATen's opmath type: f16 and bf16 use f32's.
        match out {
            DType::F64 => f64::EPSILON,
            _ => f32::EPSILON as f64,
        }
    };
    let x = c.tensor_as("input", out)?;
    let sq = c.op1("Mul", vec![In::P(x), In::P(x)], vec![], out)?;
    let axes = c.const_i64(&dims)?;
    let ms = c.op1(
        "ReduceMean",
        vec![In::P(sq), In::P(axes)],
        vec![("keep_dims", attr::boolean(true))],
        out,
    )?;
    let e = c.scalar(eps, out)?;
    let ms = c.op1("Add", vec![In::P(ms), In::P(e)], vec![], out)?;
    let r = c.op1("Rsqrt", vec![In::P(ms)], vec![], out)?;
    let mut y = c.op1("Mul", vec![In::P(x), In::P(r)], vec![], out)?;
    if c.has("weight") {
        let w = c.tensor_as("weight", out)?;
        y = c.op1("Mul", vec![In::P(y), In::P(w)], vec![], out)?;
    }
    Ok(vec![y])
}
