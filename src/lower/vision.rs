//! Vision ops: convolution, pooling, batch/group/instance norm, resize, pad and the activations
//! of vision backbones (hardswish, hardsigmoid, relu6/hardtanh, leaky_relu, elu, clamp).
//!
//! Layout: every conv/pool/norm/resize op gets `data_format="NCHW"` (PyTorch's layout), as
//! TorchAir's converters set it (aten-to-ge.md 1.6). Int-list arguments (strides, pads, ksize)
//! are attrs; shapes and sizes are read through `Ctx`.
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, Value};

pub fn register(r: &mut Rules) {
    let conv = "transposed=false: Conv2D(x, filter, bias?; strides=[1,1,s..], pads=[t,b,l,r], dilations=[1,1,d..], groups, data_format=NCHW); 1-D: Unsqueeze(axes=[2]) on x and weight → Conv2D → Squeeze(axis=[2]); unbatched: Unsqueeze/Squeeze 0; f64 runs in FLOAT (Cast in/out): the prototype lacks it";
    r.add("aten::_convolution", convolution, conv);
    r.add("aten::convolution", convolution, conv);
    r.add("aten::conv2d", convolution, conv);
    r.add("aten::conv1d", convolution, conv);
    let convt = "Conv2DTranspose(input_size=K32(output shape), x, filter, bias?; strides, pads=[t,b,l,r], dilations, groups, output_padding=[0,0,oh,ow], data_format=NCHW); 1-D via Unsqueeze/Squeeze at 2 (also aten::_convolution with transposed=true); as TorchAir, also for FLOAT, which the prototype's x/filter type lists omit (export warns)";
    r.add("aten::conv_transpose1d", convolution, convt);
    r.add("aten::conv_transpose2d.input", convolution, convt);
    r.add(
        "aten::max_pool1d",
        |c| max_pool(c, 1),
        "Unsqueeze(axes=[2]) → MaxPoolV3 (as max_pool2d, H = 1) → Squeeze(axis=[2]); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::avg_pool1d",
        |c| avg_pool(c, 1),
        "Unsqueeze(axes=[2]) → AvgPoolV2 (as avg_pool2d, H = 1) → Squeeze(axis=[2]); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::adaptive_avg_pool1d",
        |c| adaptive_avg_pool(c, 1),
        "output 1: ReduceMean(x, K64([-1]); keep_dims); else Unsqueeze(axes=[2]) → AdaptiveAvgPool2d([1, L]) → Squeeze(axis=[2])",
    );
    r.add(
        "aten::max_pool2d",
        |c| max_pool(c, 2),
        "[Unsqueeze 0] → MaxPoolV3(ksize=[1,1,kH,kW], strides=[1,1,sH,sW], pads=[pH,pH,pW,pW], ceil_mode, data_format=NCHW) → [Squeeze 0]; dilation must be 1; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::avg_pool2d",
        |c| avg_pool(c, 2),
        "[Unsqueeze 0] → AvgPoolV2(ksize, strides, pads, ceil_mode, exclusive=!count_include_pad, divisor_override, data_format=NCHW) → [Squeeze 0]; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::adaptive_avg_pool2d",
        |c| adaptive_avg_pool(c, 2),
        "output 1x1: ReduceMean(x, K64([-2,-1]); keep_dims) (as AOT decomposes it); else AdaptiveAvgPool2d(output_size)",
    );
    r.add(
        "aten::batch_norm",
        batch_norm,
        "eval: [Unsqueeze/Reshape to 4-D] → BNInfer(x, scale, offset, mean, variance; epsilon) (params as FLOAT; missing weight/bias → constants 1/0) → [Squeeze/Reshape back]; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
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
    r.add(
        "aten::upsample_nearest1d",
        |c| resize(c, Resize::Nearest, 1),
        "Unsqueeze(axes=[2]) → ResizeNearestNeighborV2(x, K32([1,ol])) → Squeeze(axis=[2]); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::upsample_linear1d",
        |c| resize(c, Resize::Bilinear, 1),
        "Unsqueeze(axes=[2]) → ResizeBilinearV2(x, K32([1,ol]); align_corners, half_pixel_centers=!align_corners, dtype=FLOAT) → Squeeze(axis=[2]) → [Cast out]; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::upsample_nearest2d",
        |c| resize(c, Resize::Nearest, 2),
        "ResizeNearestNeighborV2(x, K32([oh,ow]); align_corners=false, half_pixel_centers=false); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::_upsample_nearest_exact2d",
        |c| resize(c, Resize::NearestExact, 2),
        "ResizeNearestNeighborV2(x, K32([oh,ow]); align_corners=false, half_pixel_centers=true); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::upsample_bilinear2d",
        |c| resize(c, Resize::Bilinear, 2),
        "ResizeBilinearV2(x, K32([oh,ow]); align_corners, half_pixel_centers=!align_corners, dtype=FLOAT) → [Cast out] (y is FLOAT); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::constant_pad_nd",
        |c| pad_mode(c, "constant"),
        "PadV3(x, K64(pads dim-first), Kx(value); mode=constant, paddings_contiguous=true)",
    );
    r.add(
        "aten::pad",
        pad,
        "constant: PadV3(mode=constant); reflect: MirrorPad(x, K64([rank,2]); mode=REFLECT); replicate: PadV3(mode=edge); pads dim-first; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    for op in ["aten::reflection_pad1d", "aten::reflection_pad2d"] {
        r.add(
            op,
            |c| pad_mode(c, "reflect"),
            "MirrorPad(x, K64([rank,2] pads dim-first); mode=REFLECT); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
        );
    }
    for op in ["aten::replication_pad1d", "aten::replication_pad2d"] {
        r.add(
            op,
            |c| pad_mode(c, "replicate"),
            "PadV3(x, K64(pads dim-first); mode=edge, paddings_contiguous=true)",
        );
    }
    r.add(
        "aten::hardswish",
        |c| unary(c, "HardSwish"),
        "HardSwish; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::hardsigmoid",
        hardsigmoid,
        "HardSigmoid(alpha=1/6, beta=0.5); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add("aten::relu6", |c| unary(c, "Relu6"), "Relu6");
    r.add(
        "aten::mish",
        |c| unary(c, "Mish"),
        "Mish; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::selu",
        |c| unary(c, "Selu"),
        "Selu; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::softplus",
        softplus,
        "beta 1: Softplus; else Mul(x, beta) → Softplus → RealDiv(beta) (threshold: GE computes log(1+exp(x)) everywhere, which differs from x above it by < 1e-8); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::prelu",
        prelu,
        "PRelu(x, weight ⇑out) (one slope per channel, dim 1, or one for all); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::hardtanh",
        hardtanh,
        "(0, 6): Relu6; else ClipByValueV2(x, Kout(min_val), Kout(max_val))",
    );
    r.add(
        "aten::leaky_relu",
        leaky_relu,
        "LeakyRelu(negative_slope); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::elu",
        elu,
        "Elu(alpha, scale, input_scale); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::clamp",
        clamp,
        "ClipByValueV2(x ⇑out, min ⇑out, max ⇑out); a missing bound is the dtype's extreme (±inf for floats)",
    );
    r.add(
        "aten::clamp_min",
        |c| clamp_one(c, "min", "Maximum"),
        "Maximum(x ⇑out, min ⇑out); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::clamp_max",
        |c| clamp_one(c, "max", "Minimum"),
        "Minimum(x ⇑out, max ⇑out); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::_transformer_encoder_layer_fwd",
        super::vision_encoder::encoder_layer,
        "decomposed (nn.TransformerEncoderLayer's inference fast path): BatchMatMulV2 for the qkv, output and feed-forward projections, StridedSliceV2/Reshape/Transpose heads, Mul 1/√d, Add or MaskedFill mask, SoftmaxV2, Relu|GeluV2, LayerNorm ×2",
    );
    r.add(
        "aten::_native_multi_head_attention",
        super::vision_encoder::multi_head_attention,
        "decomposed (nn.MultiheadAttention's inference path, self-attention): as _transformer_encoder_layer_fwd's attention; weights: ReduceMean over heads (average_attn_weights) or the SoftmaxV2 output",
    );
    r.add(
        "aten::lstm.input",
        super::vision_rnn::lstm,
        "unrolled per step like gru: BatchMatMulV2 projections → Sigmoid (i, f, o) / Tanh (g) on StridedSliceV2 gate slices → Mul/Add cell update, Tanh → ConcatV2 over time (and directions)",
    );
    r.add(
        "aten::gru.input",
        super::vision_rnn::gru,
        "unrolled per step: BatchMatMulV2 (input and hidden projections, biases fused) → StridedSliceV2 gates → Sigmoid/Tanh/Mul/Sub/Add → ConcatV2 over time (and directions); not the fused dynamic GRU op, whose x and weights are FLOAT16-only",
    );
}

/// The first tensor argument: `input` in some schemas, `self` in others.
fn xname(c: &Ctx) -> &'static str {
    if c.has("input") {
        "input"
    } else {
        "self"
    }
}

/// The dtype to run GE op `ty` in for a result of dtype `dt`: `dt` itself when the prototype's
/// first input lists it, else FLOAT when that is listed (bf16 models: BNInfer, pools, resizes,
/// HardSwish...; f64: Conv2D), with Casts around, as TorchAir upcasts for GridSampler2D.
fn work_dtype(ty: &str, dt: DType) -> DType {
    input_dtype(ty, None, dt)
}

/// The dtype for input `input` (default: the first) of GE op `ty` for a value of dtype `dt`:
/// `dt` when the prototype lists it, else FLOAT when listed.
fn input_dtype(ty: &str, input: Option<&str>, dt: DType) -> DType {
    let types = crate::ge::schema::op(ty)
        .and_then(|p| match input {
            Some(n) => p.inputs.iter().find(|i| i.name == n),
            None => p.inputs.first(),
        })
        .and_then(|i| i.types.as_ref());
    let Some(types) = types else { return dt };
    let has = |d: DType| types.iter().any(|t| t == d.ge_name());
    if dt.is_float() && !has(dt) && has(DType::F32) {
        DType::F32
    } else {
        dt
    }
}

/// The rule's result: `y` cast back to the result dtype `res` (a no-op when it already is).
fn back(c: &mut Ctx, y: Port, res: DType) -> RuleResult {
    Ok(vec![c.cast(y, res)?])
}

fn unary(c: &mut Ctx, ty: &str) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype(ty, res);
    let x = c.tensor_as(xname(c), out)?;
    let y = c.op1(ty, vec![In::P(x)], vec![], out)?;
    back(c, y, res)
}

pub(super) fn unsqueeze(c: &mut Ctx, p: Port, axes: Vec<i64>, dt: DType) -> Result<Port, String> {
    c.op1(
        "Unsqueeze",
        vec![In::P(p)],
        vec![("axes", attr::list_int(axes))],
        dt,
    )
}

pub(super) fn squeeze(c: &mut Ctx, p: Port, axes: Vec<i64>, dt: DType) -> Result<Port, String> {
    c.op1(
        "Squeeze",
        vec![In::P(p)],
        vec![("axis", attr::list_int(axes))],
        dt,
    )
}

/// An int-list argument of `n` spatial entries: a single value is repeated, as ATen does.
fn spatial(c: &Ctx, name: &str, n: usize, default: Option<&[i64]>) -> Result<Vec<i64>, String> {
    let v = match c.arg(name)? {
        Value::Int(i) => vec![*i],
        _ => c.ints(name)?,
    };
    let v = if v.is_empty() {
        default.map(<[i64]>::to_vec).unwrap_or_default()
    } else {
        v
    };
    match v.len() {
        1 => Ok(vec![v[0]; n]),
        k if k == n => Ok(v),
        k => Err(format!(
            "argument '{name}' has {k} values, expected 1 or {n}"
        )),
    }
}

fn convolution(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype("Conv2D", res);
    // Only its rank is used: batch and spatial dims may be dynamic.
    let xs = c.in_desc_shape("input")?;
    let ws = c.in_shape("weight")?;
    let nsp = ws.len().saturating_sub(2);
    if !(1..=2).contains(&nsp) {
        return Err(format!(
            "only 1-D and 2-D convolutions are supported (weight {ws:?}); Conv3D is not lowered yet"
        ));
    }
    let transposed = c.node.op_name().starts_with("aten::conv_transpose")
        || (c.has("transposed") && c.bool("transposed")?);
    if !out.is_float() {
        return Err(format!(
            "convolution of {} tensors: GE's Conv2D takes float inputs",
            out.name()
        ));
    }
    let batched = xs.len() == ws.len();
    let stride = spatial(c, "stride", nsp, None)?;
    let dilation = spatial(c, "dilation", nsp, None)?;
    // Pads as (begin, end) per spatial dim; `padding="same"|"valid"` is the conv*.padding overload.
    let pads: Vec<(i64, i64)> = match c.arg("padding")? {
        Value::Str(s) if s == "valid" => vec![(0, 0); nsp],
        Value::Str(s) if s == "same" => (0..nsp)
            .map(|i| {
                let total = dilation[i] * (ws[2 + i] - 1);
                (total / 2, total - total / 2)
            })
            .collect(),
        Value::Str(s) => return Err(format!("padding='{s}' is not 'same' or 'valid'")),
        _ => spatial(c, "padding", nsp, None)?
            .into_iter()
            .map(|p| (p, p))
            .collect(),
    };
    let groups = c.int("groups")?;
    let mut x = c.tensor_as("input", out)?;
    let mut w = c.tensor_as("weight", out)?;
    let bias = if c.has("bias") {
        // Conv2D's bias has no BF16: a bf16 conv takes a FLOAT bias.
        In::P(c.tensor_as("bias", input_dtype("Conv2D", Some("bias"), out))?)
    } else {
        In::Unfed
    };
    if !batched {
        x = unsqueeze(c, x, vec![0], out)?;
    }
    let (strides, pads, dilations) = if nsp == 1 {
        x = unsqueeze(c, x, vec![2], out)?;
        w = unsqueeze(c, w, vec![2], out)?;
        (
            vec![1, 1, 1, stride[0]],
            vec![0, 0, pads[0].0, pads[0].1],
            vec![1, 1, 1, dilation[0]],
        )
    } else {
        (
            vec![1, 1, stride[0], stride[1]],
            vec![pads[0].0, pads[0].1, pads[1].0, pads[1].1],
            vec![1, 1, dilation[0], dilation[1]],
        )
    };
    let mut attrs = vec![
        ("strides", attr::list_int(strides)),
        ("pads", attr::list_int(pads)),
        ("dilations", attr::list_int(dilations)),
        ("groups", attr::int(groups)),
        ("data_format", attr::string("NCHW")),
    ];
    let mut y = if transposed {
        let mut op = spatial(c, "output_padding", nsp, None)?;
        if nsp == 1 {
            op.insert(0, 0);
        }
        attrs.push(("output_padding", attr::list_int(vec![0, 0, op[0], op[1]])));
        // input_size: the 4-D output shape, INT32 (TorchAir builds it with Pack; it is static here).
        let mut os = c.out_shape(0)?;
        if !batched {
            os.insert(0, 1);
        }
        if nsp == 1 {
            os.insert(2, 1);
        }
        let os: Vec<i32> = os.iter().map(|&d| d as i32).collect();
        let size =
            c.b.constant(&tch::Tensor::from_slice(&os), &format!("{os:?}"))?;
        c.op1(
            "Conv2DTranspose",
            vec![In::P(size), In::P(x), In::P(w), bias],
            attrs,
            out,
        )?
    } else {
        c.op1("Conv2D", vec![In::P(x), In::P(w), bias], attrs, out)?
    };
    if nsp == 1 {
        y = squeeze(c, y, vec![2], out)?;
    }
    if !batched {
        y = squeeze(c, y, vec![0], out)?;
    }
    back(c, y, res)
}

/// Runs `f` on a 4-D NCHW view of `name`, then brings the result back to the input's layout:
/// `nsp` = 2: [C,H,W] gets a batch dim; `nsp` = 1: [N,C,L] becomes [N,C,1,L] ([C,L] also gets a
/// batch dim), as TorchAir lowers 1-D convs and pools.
fn on_4d(
    c: &mut Ctx,
    name: &str,
    ty: &str,
    nsp: usize,
    f: impl FnOnce(&mut Ctx, Port, DType) -> Result<Port, String>,
) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype(ty, res);
    let rank = c.rank(name)?;
    if rank != nsp + 1 && rank != nsp + 2 {
        return Err(format!(
            "expects a {}-D or {}-D input, got rank {rank}",
            nsp + 1,
            nsp + 2
        ));
    }
    let unbatched = rank == nsp + 1;
    let mut x = c.tensor_as(name, out)?;
    if unbatched {
        x = unsqueeze(c, x, vec![0], out)?;
    }
    if nsp == 1 {
        x = unsqueeze(c, x, vec![2], out)?;
    }
    let mut y = f(c, x, out)?;
    if nsp == 1 {
        y = squeeze(c, y, vec![2], out)?;
    }
    if unbatched {
        y = squeeze(c, y, vec![0], out)?;
    }
    back(c, y, res)
}

/// (ksize, strides, pads) attrs of a pool over `nsp` spatial dims, as a 2-D NCHW pool.
type PoolAttrs = (Vec<i64>, Vec<i64>, Vec<i64>);

fn pool_params(c: &Ctx, nsp: usize) -> Result<PoolAttrs, String> {
    let mut k = spatial(c, "kernel_size", nsp, None)?;
    let mut s = spatial(c, "stride", nsp, Some(&k))?;
    let mut p = spatial(c, "padding", nsp, None)?;
    if nsp == 1 {
        k.insert(0, 1);
        s.insert(0, 1);
        p.insert(0, 0);
    }
    Ok((
        vec![1, 1, k[0], k[1]],
        vec![1, 1, s[0], s[1]],
        vec![p[0], p[0], p[1], p[1]],
    ))
}

fn max_pool(c: &mut Ctx, nsp: usize) -> RuleResult {
    let (ksize, strides, pads) = pool_params(c, nsp)?;
    let dilation = spatial(c, "dilation", nsp, None)?;
    if dilation.iter().any(|&d| d != 1) {
        return Err(format!(
            "max pooling with dilation {dilation:?}: GE's MaxPoolV3 has no dilation; use dilation=1"
        ));
    }
    let ceil = c.bool("ceil_mode")?;
    on_4d(c, "self", "MaxPoolV3", nsp, |c, x, out| {
        c.op1(
            "MaxPoolV3",
            vec![In::P(x)],
            vec![
                ("ksize", attr::list_int(ksize)),
                ("strides", attr::list_int(strides)),
                ("padding_mode", attr::string("CALCULATED")),
                ("pads", attr::list_int(pads)),
                ("data_format", attr::string("NCHW")),
                ("ceil_mode", attr::boolean(ceil)),
            ],
            out,
        )
    })
}

fn avg_pool(c: &mut Ctx, nsp: usize) -> RuleResult {
    let (ksize, strides, pads) = pool_params(c, nsp)?;
    let ceil = c.bool("ceil_mode")?;
    let include_pad = c.bool("count_include_pad")?;
    let divisor = if c.has("divisor_override") {
        c.int("divisor_override")?
    } else {
        0
    };
    // TorchAir forces exclusive=true for fp16 inputs, which changes the result when padding is
    // counted; here exclusive is always !count_include_pad.
    on_4d(c, "self", "AvgPoolV2", nsp, |c, x, out| {
        c.op1(
            "AvgPoolV2",
            vec![In::P(x)],
            vec![
                ("ksize", attr::list_int(ksize)),
                ("strides", attr::list_int(strides)),
                ("padding_mode", attr::string("CALCULATED")),
                ("pads", attr::list_int(pads)),
                ("data_format", attr::string("NCHW")),
                ("ceil_mode", attr::boolean(ceil)),
                ("exclusive", attr::boolean(!include_pad)),
                ("divisor_override", attr::int(divisor)),
            ],
            out,
        )
    })
}

fn adaptive_avg_pool(c: &mut Ctx, nsp: usize) -> RuleResult {
    // The output's spatial size is the op's own argument: static even when batch is dynamic.
    let oshape = c.out_desc_shape(0)?;
    let mut size = oshape[oshape.len().saturating_sub(nsp)..].to_vec();
    if size.iter().all(|&d| d == 1) {
        let out = c.out_dtype(0)?;
        let x = c.tensor_as("self", out)?;
        let axes: Vec<i64> = (-(nsp as i64)..0).collect();
        let axes = c.const_i64(&axes)?;
        return Ok(vec![c.op1(
            "ReduceMean",
            vec![In::P(x), In::P(axes)],
            vec![("keep_dims", attr::boolean(true))],
            out,
        )?]);
    }
    if nsp == 1 {
        size.insert(0, 1);
    }
    on_4d(c, "self", "AdaptiveAvgPool2d", nsp, |c, x, out| {
        c.op1(
            "AdaptiveAvgPool2d",
            vec![In::P(x)],
            vec![("output_size", attr::list_int(size))],
            out,
        )
    })
}

/// A per-channel parameter: the argument cast to `dt`, or a Const filled with `fill`.
fn channel_param(
    c: &mut Ctx,
    name: &str,
    channels: i64,
    fill: f64,
    dt: DType,
) -> Result<Port, String> {
    if c.has(name) {
        return c.tensor_as(name, dt);
    }
    let t = tch::Tensor::full([channels], fill, (dt.kind(), tch::Device::Cpu));
    c.b.constant(&t, &format!("full([{channels}], {fill})"))
}

/// Brings an [N, C, ...] tensor to 4-D for BNInfer/GroupNorm/InstanceNorm: rank 2/3 gets trailing
/// unit dims, rank > 4 folds the trailing dims into one. Returns the way back.
enum Back {
    None,
    Squeeze(Vec<i64>),
    Reshape(Vec<i64>),
}

/// The input's shape with -1 for dynamic dims; its channel dim (1) must be static.
fn channels_static(c: &Ctx) -> Result<Vec<i64>, String> {
    let shape = c.in_desc_shape("input")?;
    if shape.get(1).is_some_and(|&ch| ch < 0) {
        return Err("the channel dim (1) is dynamic; fix: pin it (--dynamic-dims)".into());
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
        r if r > 4 && shape.contains(&-1) => Err(format!(
            "a rank-{r} input with dynamic dims is not supported; fix: pin them (--dynamic-dims)"
        )),
        r if r > 4 => {
            let s = c.const_i64(&[shape[0], shape[1], shape[2], -1])?;
            let y = c.op1("Reshape", vec![In::P(x), In::P(s)], vec![], dt)?;
            Ok((y, Back::Reshape(shape.to_vec())))
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
        Back::Reshape(shape) => {
            let s = c.const_i64(&shape)?;
            c.op1("Reshape", vec![In::P(y), In::P(s)], vec![], dt)
        }
    }
}

/// Eval-mode batch norm with running statistics → BNInfer (FLOAT parameters, as its prototype
/// requires; half-precision models get their parameters cast up).
fn bn_infer(c: &mut Ctx, eps: f64) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype("BNInfer", res);
    let shape = channels_static(c)?;
    if shape.len() < 2 {
        return Err(format!("batch norm of a rank-{} tensor", shape.len()));
    }
    let ch = shape[1];
    let x = c.tensor_as("input", out)?;
    let scale = channel_param(c, "weight", ch, 1.0, DType::F32)?;
    let offset = channel_param(c, "bias", ch, 0.0, DType::F32)?;
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
    self::back(c, y, res)
}

fn batch_norm(c: &mut Ctx) -> RuleResult {
    if c.bool("training")? || !c.has("running_mean") || !c.has("running_var") {
        return Err(
            "batch_norm in training mode (or without running statistics) is not supported; fix: call model.eval() before saving, and keep track_running_stats=True".into(),
        );
    }
    let eps = c.float("eps")?;
    bn_infer(c, eps)
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
    let gamma = channel_param(c, "weight", shape[1], 1.0, out)?;
    let beta = channel_param(c, "bias", shape[1], 0.0, out)?;
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
    self::back(c, y, res)
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
    let gamma = channel_param(c, "weight", shape[1], 1.0, out)?;
    let beta = channel_param(c, "bias", shape[1], 0.0, out)?;
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
    self::back(c, y, res)
}

#[derive(Clone, Copy, PartialEq)]
enum Resize {
    Nearest,
    NearestExact,
    Bilinear,
}

/// The scale factors the op was given, if any (`.vec` overloads: `scale_factors`; the others:
/// `scales_h`/`scales_w`, or `scales` for 1-D).
fn given_scales(c: &Ctx) -> Result<Option<Vec<f64>>, String> {
    if c.has("scale_factors") {
        let v = match c.arg("scale_factors")? {
            Value::List(v) => v.iter().filter_map(Value::as_f64).collect(),
            _ => return Err("scale_factors must be a list of floats".into()),
        };
        return Ok(Some(v));
    }
    if c.has("scales_h") || c.has("scales_w") {
        return Ok(Some(vec![c.float("scales_h")?, c.float("scales_w")?]));
    }
    if c.has("scales") {
        return Ok(Some(vec![c.float("scales")?]));
    }
    Ok(None)
}

/// 2-D resizes on [N,C,H,W]; 1-D ones (`nsp` = 1) on [N,C,L] viewed as [N,C,1,L].
fn resize(c: &mut Ctx, mode: Resize, nsp: usize) -> RuleResult {
    let res = c.out_dtype(0)?;
    // Both resize prototypes list the same x types.
    let out = work_dtype("ResizeBilinearV2", res);
    let name = xname(c);
    // Batch and channels may be dynamic; the spatial sizes are baked into the resize.
    let ins = c.in_desc_shape(name)?;
    let os = c.out_desc_shape(0)?;
    if ins[2..].iter().chain(&os[2..]).any(|&d| d < 0) {
        return Err(
            "a resize over dynamic spatial dims is not supported; fix: pin them (--dynamic-dims)"
                .into(),
        );
    }
    if ins.len() != nsp + 2 {
        return Err(format!("expects a {}-D input, got {ins:?}", nsp + 2));
    }
    let align = mode == Resize::Bilinear && c.bool("align_corners")?;
    // GE maps output to input pixels with in/out; ATen uses 1/scale_factor when one is given.
    // They agree when out = in * scale exactly.
    if let Some(s) = given_scales(c)? {
        let exact = s.len() == nsp
            && s.iter()
                .zip(ins[2..].iter().zip(&os[2..]))
                .all(|(f, (i, o))| (*f * *i as f64 - *o as f64).abs() < 1e-9);
        if !exact && !align {
            return Err(format!(
                "scale_factor {s:?} does not give the output size {:?} exactly, and GE resizes by in/out; fix: pass size= (or recompute_scale_factor=True) to interpolate",
                &os[2..]
            ));
        }
    }
    let (oh, ow) = if nsp == 1 { (1, os[2]) } else { (os[2], os[3]) };
    let size = c.b.constant(
        &tch::Tensor::from_slice(&[oh as i32, ow as i32]),
        &format!("[{oh}, {ow}]"),
    )?;
    let (ty, half_pixel) = match mode {
        Resize::Nearest => ("ResizeNearestNeighborV2", false),
        Resize::NearestExact => ("ResizeNearestNeighborV2", true),
        Resize::Bilinear => ("ResizeBilinearV2", !align),
    };
    let mut attrs = vec![
        ("align_corners", attr::boolean(align)),
        ("half_pixel_centers", attr::boolean(half_pixel)),
    ];
    // ResizeBilinearV2's y is FLOAT whatever x is (its `dtype` attr).
    let ydt = if mode == Resize::Bilinear {
        attrs.push(("dtype", attr::dtype_cpp(DType::F32.ge_cpp())));
        DType::F32
    } else {
        out
    };
    let mut x = c.tensor_as(name, out)?;
    if nsp == 1 {
        x = unsqueeze(c, x, vec![2], out)?;
    }
    let mut y = c.op1(ty, vec![In::P(x), In::P(size)], attrs, ydt)?;
    if nsp == 1 {
        y = squeeze(c, y, vec![2], ydt)?;
    }
    back(c, y, res)
}

fn pad(c: &mut Ctx) -> RuleResult {
    let mode = match c.arg("mode")? {
        Value::Str(s) => s.clone(),
        Value::None => "constant".into(),
        _ => return Err("mode must be a string".into()),
    };
    pad_mode(c, &mode)
}

/// ATen's pads (last dim first, one (begin, end) pair per dim) as GE's dim-first pairs.
fn dim_first_pads(aten: &[i64], rank: usize) -> Result<Vec<i64>, String> {
    if !aten.len().is_multiple_of(2) || aten.len() / 2 > rank {
        return Err(format!(
            "pad {aten:?} must hold one (begin, end) pair per padded dim, at most {rank}"
        ));
    }
    let mut p = vec![0i64; 2 * rank];
    for (k, pair) in aten.chunks(2).enumerate() {
        let d = rank - 1 - k;
        p[2 * d] = pair[0];
        p[2 * d + 1] = pair[1];
    }
    Ok(p)
}

fn pad_mode(c: &mut Ctx, mode: &str) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype(
        if mode == "reflect" {
            "MirrorPad"
        } else {
            "PadV3"
        },
        res,
    );
    // Constant pad widths: any dim may be dynamic.
    let rank = c.rank("self")?;
    let aten = c.ints(if c.has("pad") { "pad" } else { "padding" })?;
    let p = dim_first_pads(&aten, rank)?;
    if p.iter().any(|&v| v < 0) {
        return Err(format!(
            "negative padding {aten:?} (cropping) is not supported; fix: slice the tensor instead"
        ));
    }
    let x = c.tensor_as("self", out)?;
    let y = match mode {
        "constant" => {
            let value = if c.has("value") {
                c.float("value")?
            } else {
                0.0
            };
            let pads = c.const_i64(&p)?;
            let v = c.scalar(value, out)?;
            c.op1(
                "PadV3",
                vec![In::P(x), In::P(pads), In::P(v)],
                vec![
                    ("mode", attr::string("constant")),
                    ("paddings_contiguous", attr::boolean(true)),
                ],
                out,
            )?
        }
        "reflect" => {
            let t = tch::Tensor::from_slice(&p).reshape([rank as i64, 2]);
            let pads = c.b.constant(&t, &format!("{p:?}"))?;
            c.op1(
                "MirrorPad",
                vec![In::P(x), In::P(pads)],
                vec![("mode", attr::string("REFLECT"))],
                out,
            )?
        }
        "replicate" => {
            let pads = c.const_i64(&p)?;
            c.op1(
                "PadV3",
                vec![In::P(x), In::P(pads)],
                vec![
                    ("mode", attr::string("edge")),
                    ("paddings_contiguous", attr::boolean(true)),
                ],
                out,
            )?
        }
        m => {
            return Err(format!(
                "pad mode '{m}' is not supported (constant, reflect, replicate are)"
            ))
        }
    };
    back(c, y, res)
}

fn softplus(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype("Softplus", res);
    let beta = c.float("beta")?;
    let threshold = c.float("threshold")?;
    // ATen returns x where beta * x > threshold; log(1 + exp(x)) differs there by
    // ~exp(-threshold) / beta.
    if (-threshold).exp() / beta > 1e-6 {
        return Err(format!(
            "softplus threshold {threshold} (beta {beta}) is too low for GE's Softplus, which has none"
        ));
    }
    let x = c.tensor_as("self", out)?;
    if beta == 1.0 {
        let y = c.op1("Softplus", vec![In::P(x)], vec![], out)?;
        return back(c, y, res);
    }
    let b = c.scalar(beta, out)?;
    let xb = c.op1("Mul", vec![In::P(x), In::P(b)], vec![], out)?;
    let y = c.op1("Softplus", vec![In::P(xb)], vec![], out)?;
    let y = c.op1("RealDiv", vec![In::P(y), In::P(b)], vec![], out)?;
    back(c, y, res)
}

fn prelu(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype("PRelu", res);
    let x = c.tensor_as("self", out)?;
    let w = c.tensor_as("weight", out)?;
    let y = c.op1("PRelu", vec![In::P(x), In::P(w)], vec![], out)?;
    back(c, y, res)
}

fn hardsigmoid(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype("HardSigmoid", res);
    let x = c.tensor_as("self", out)?;
    let y = c.op1(
        "HardSigmoid",
        vec![In::P(x)],
        vec![
            ("alpha", attr::float(1.0 / 6.0)),
            ("beta", attr::float(0.5)),
        ],
        out,
    )?;
    back(c, y, res)
}

fn clip(c: &mut Ctx, x: Port, lo: Port, hi: Port, out: DType) -> Result<Port, String> {
    c.op1(
        "ClipByValueV2",
        vec![In::P(x), In::P(lo), In::P(hi)],
        vec![],
        out,
    )
}

fn hardtanh(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let (lo, hi) = (c.float("min_val")?, c.float("max_val")?);
    let x = c.tensor_as("self", out)?;
    if lo == 0.0 && hi == 6.0 {
        return Ok(vec![c.op1("Relu6", vec![In::P(x)], vec![], out)?]);
    }
    let (l, h) = (c.scalar(lo, out)?, c.scalar(hi, out)?);
    Ok(vec![clip(c, x, l, h, out)?])
}

fn leaky_relu(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype("LeakyRelu", res);
    let slope = c.float("negative_slope")?;
    let x = c.tensor_as("self", out)?;
    let y = c.op1(
        "LeakyRelu",
        vec![In::P(x)],
        vec![("negative_slope", attr::float(slope as f32))],
        out,
    )?;
    back(c, y, res)
}

fn elu(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype("Elu", res);
    let (alpha, scale, input_scale) = (
        c.float("alpha")?,
        c.float("scale")?,
        c.float("input_scale")?,
    );
    let x = c.tensor_as("self", out)?;
    let y = c.op1(
        "Elu",
        vec![In::P(x)],
        vec![
            ("alpha", attr::float(alpha as f32)),
            ("scale", attr::float(scale as f32)),
            ("input_scale", attr::float(input_scale as f32)),
        ],
        out,
    )?;
    back(c, y, res)
}

/// The lowest or highest value of a dtype, as a 0-D Const of that dtype.
fn extreme(c: &mut Ctx, dt: DType, high: bool) -> Result<Port, String> {
    let t = if dt.is_float() {
        tch::Tensor::from(if high {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        })
        .to_kind(dt.kind())
    } else {
        let info = match dt {
            DType::I64 => (i64::MIN, i64::MAX),
            DType::I32 => (i32::MIN as i64, i32::MAX as i64),
            DType::I16 => (i16::MIN as i64, i16::MAX as i64),
            DType::I8 => (i8::MIN as i64, i8::MAX as i64),
            DType::U8 => (0, u8::MAX as i64),
            d => return Err(format!("clamp of a {} tensor", d.name())),
        };
        tch::Tensor::from(if high { info.1 } else { info.0 }).to_kind(dt.kind())
    };
    c.b.constant(&t, if high { "max" } else { "min" })
}

fn clamp(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    // Desc shapes: -1 where a dim is dynamic, so a dynamic input compares with its output.
    if c.in_desc_shape("self")? != c.out_desc_shape(0)? {
        return Err(
            "clamp with tensor bounds that broadcast the input to a larger shape is not supported"
                .into(),
        );
    }
    let (has_lo, has_hi) = (c.has("min"), c.has("max"));
    if !has_lo && !has_hi {
        return Err("clamp needs at least one of min and max".into());
    }
    let x = c.tensor_as("self", out)?;
    let lo = if has_lo {
        c.operand("min", out)?
    } else {
        extreme(c, out, false)?
    };
    let hi = if has_hi {
        c.operand("max", out)?
    } else {
        extreme(c, out, true)?
    };
    Ok(vec![clip(c, x, lo, hi, out)?])
}

fn clamp_one(c: &mut Ctx, bound: &str, ty: &str) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype(ty, res);
    let x = c.tensor_as("self", out)?;
    let b = c.operand(bound, out)?;
    let y = c.op1(ty, vec![In::P(x), In::P(b)], vec![], out)?;
    back(c, y, res)
}
