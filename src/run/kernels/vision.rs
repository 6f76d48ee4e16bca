//! Vision GE ops: convolution, pooling, normalization, resize, pad, clipping activations.
//! NCHW only: a kernel whose `data_format` is anything else fails (the exporter writes NCHW).
use super::{int_values, same_dtype, KCtx, Kernel};
use crate::dtype::DType;
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("Conv2D", conv2d);
    m.insert("Conv2DTranspose", conv2d_transpose);
    m.insert("MaxPoolV3", max_pool_v3);
    m.insert("AvgPoolV2", avg_pool_v2);
    m.insert("AdaptiveAvgPool2d", adaptive_avg_pool2d);
    m.insert("BNInfer", bn_infer);
    m.insert("GroupNorm", group_norm);
    m.insert("InstanceNorm", instance_norm);
    m.insert("ResizeNearestNeighborV2", resize_nearest);
    m.insert("ResizeBilinearV2", resize_bilinear);
    m.insert("PadV3", pad_v3);
    m.insert("MirrorPad", mirror_pad);
    m.insert("HardSwish", |c| float_unary(c, "x", Tensor::f_hardswish));
    m.insert("Relu6", |c| {
        Ok(vec![c.input("x")?.f_clamp(0.0, 6.0).map_err(torch_err)?])
    });
    m.insert("HardSigmoid", hard_sigmoid);
    m.insert("LeakyRelu", leaky_relu);
    m.insert("Elu", elu);
    m.insert("ClipByValueV2", clip_by_value);
    m.insert("PRelu", prelu);
    m.insert("Softplus", softplus);
    m.insert("Mish", |c| float_unary(c, "x", Tensor::f_mish));
    m.insert("Selu", |c| float_unary(c, "x", Tensor::f_selu));
}

type R = Result<Vec<Tensor>, String>;

fn torch_err(e: tch::TchError) -> String {
    crate::load::short_torch_message(&e.to_string())
}

fn is_float(t: &Tensor) -> bool {
    matches!(
        t.kind(),
        Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double
    )
}

fn need_float(t: &Tensor, what: &str) -> Result<(), String> {
    if is_float(t) {
        Ok(())
    } else {
        Err(format!("{what} must be a float tensor, got {:?}", t.kind()))
    }
}

fn float_unary(c: &KCtx, name: &str, f: fn(&Tensor) -> Result<Tensor, tch::TchError>) -> R {
    let x = c.input(name)?;
    need_float(x, name)?;
    Ok(vec![f(x).map_err(torch_err)?])
}

fn nchw(c: &KCtx) -> Result<(), String> {
    let f = c.string("data_format")?;
    if f != "NCHW" {
        return Err(format!(
            "data_format '{f}' is not supported by the runner (NCHW is)"
        ));
    }
    Ok(())
}

fn rank4(t: &Tensor, what: &str) -> Result<(), String> {
    if t.dim() != 4 {
        return Err(format!("{what} must be 4-D (NCHW), got {:?}", t.size()));
    }
    Ok(())
}

/// A 4-entry NCHW attr whose N and C entries must be 1; returns the (H, W) entries.
fn hw_attr(c: &KCtx, name: &str) -> Result<[i64; 2], String> {
    let v = c.ints(name)?;
    match v.as_slice() {
        [1, 1, h, w] => Ok([*h, *w]),
        _ => Err(format!("{name}={v:?}: expected [1, 1, h, w] for NCHW")),
    }
}

/// pads [top, bottom, left, right] → symmetric (pH, pW), or None when asymmetric.
fn sym_pads(p: &[i64]) -> Result<Option<[i64; 2]>, String> {
    let [t, b, l, r] = p else {
        return Err(format!("pads {p:?} must have 4 entries"));
    };
    if p.iter().any(|&v| v < 0) {
        return Err(format!("negative pads {p:?}"));
    }
    Ok((t == b && l == r).then_some([*t, *l]))
}

fn conv2d(c: &KCtx) -> R {
    nchw(c)?;
    if c.opt("offset_w").is_some() || c.int("offset_x")? != 0 {
        return Err("quantized Conv2D (offset_w/offset_x) is not supported by the runner".into());
    }
    let (x, w) = (c.input("x")?, c.input("filter")?);
    rank4(x, "x")?;
    rank4(w, "filter")?;
    same_dtype(x, w)?;
    need_float(x, "x")?;
    let strides = hw_attr(c, "strides")?;
    let dilations = hw_attr(c, "dilations")?;
    let pads = c.ints("pads")?;
    let groups = c.int("groups")?;
    let (x, pad) = match sym_pads(&pads)? {
        Some(p) => (x.shallow_clone(), p),
        // Asymmetric pads (padding="same" with an even kernel): pad explicitly with zeros.
        None => (
            x.f_constant_pad_nd([pads[2], pads[3], pads[0], pads[1]])
                .map_err(torch_err)?,
            [0, 0],
        ),
    };
    let y = x
        .f_conv2d(w, None::<Tensor>, strides, pad, dilations, groups)
        .map_err(torch_err)?;
    Ok(vec![add_bias(c, y)?])
}

/// (kernel, stride, symmetric padding) of a 2-D pool, (H, W) each.
type Pool = ([i64; 2], [i64; 2], [i64; 2]);

/// Adds the optional per-channel `bias` to an NCHW conv result: of y's dtype, or FLOAT (added in
/// FLOAT, the result rounded back).
fn add_bias(c: &KCtx, y: Tensor) -> Result<Tensor, String> {
    let Some(b) = c.opt("bias") else {
        return Ok(y);
    };
    let ch = y.size()[1];
    if b.size() != [ch] {
        return Err(format!("bias must be [{ch}], got {:?}", b.size()));
    }
    let b4 = b.reshape([1, ch, 1, 1]);
    if b.kind() == y.kind() {
        Ok(y + b4)
    } else if b.kind() == Kind::Float {
        Ok((y.to_kind(Kind::Float) + b4).to_kind(y.kind()))
    } else {
        Err(format!(
            "bias is {:?}; it must be {:?} like x, or FLOAT",
            b.kind(),
            y.kind()
        ))
    }
}

/// The transposed convolution (the gradient of Conv2D with respect to its input): `pads` are the
/// pads of that forward conv, `input_size` is the output's shape.
fn conv2d_transpose(c: &KCtx) -> R {
    nchw(c)?;
    if c.opt("offset_w").is_some() || c.int("offset_x")? != 0 {
        return Err("quantized Conv2DTranspose is not supported by the runner".into());
    }
    let (x, w) = (c.input("x")?, c.input("filter")?);
    rank4(x, "x")?;
    rank4(w, "filter")?;
    same_dtype(x, w)?;
    need_float(x, "x")?;
    let size = int_values(c.input("input_size")?)?;
    let strides = hw_attr(c, "strides")?;
    let dilations = hw_attr(c, "dilations")?;
    let out_pad = c.ints("output_padding")?;
    let [0, 0, oh, ow] = out_pad[..] else {
        return Err(format!("output_padding {out_pad:?}: expected [0, 0, h, w]"));
    };
    let pad = sym_pads(&c.ints("pads")?)?
        .ok_or("asymmetric pads are not supported by the runner for Conv2DTranspose")?;
    let y = x
        .f_conv_transpose2d(
            w,
            None::<Tensor>,
            strides,
            pad,
            [oh, ow],
            c.int("groups")?,
            dilations,
        )
        .map_err(torch_err)?;
    let y = add_bias(c, y)?;
    if y.size() != size {
        return Err(format!(
            "input_size {size:?} does not match the computed output shape {:?}",
            y.size()
        ));
    }
    Ok(vec![y])
}

/// y = log(1 + exp(x)), evaluated as max(x, 0) + log1p(exp(-|x|)) so large x do not overflow.
fn softplus(c: &KCtx) -> R {
    let x = c.input("x")?;
    need_float(x, "x")?;
    Ok(vec![x.clamp_min(0.0) + (-x.abs()).exp().log1p()])
}

/// y = x for x > 0, else weight * x, with `weight` one value per channel (dim 1) or one in all.
fn prelu(c: &KCtx) -> R {
    let (x, w) = (c.input("x")?, c.input("weight")?);
    same_dtype(x, w)?;
    need_float(x, "x")?;
    Ok(vec![x.f_prelu(w).map_err(torch_err)?])
}

fn pool_attrs(c: &KCtx) -> Result<Pool, String> {
    nchw(c)?;
    if c.string("padding_mode")? != "CALCULATED" {
        return Err("only padding_mode CALCULATED is supported by the runner".into());
    }
    if c.bool("global_pooling")? {
        return Err("global_pooling=true is not supported by the runner".into());
    }
    let k = hw_attr(c, "ksize")?;
    let s = hw_attr(c, "strides")?;
    let p = sym_pads(&c.ints("pads")?)?
        .ok_or("asymmetric pooling pads are not supported by the runner")?;
    Ok((k, s, p))
}

fn max_pool_v3(c: &KCtx) -> R {
    let (k, s, p) = pool_attrs(c)?;
    let x = c.input("x")?;
    rank4(x, "x")?;
    Ok(vec![x
        .f_max_pool2d(k, s, p, [1, 1], c.bool("ceil_mode")?)
        .map_err(torch_err)?])
}

fn avg_pool_v2(c: &KCtx) -> R {
    let (k, s, p) = pool_attrs(c)?;
    let x = c.input("x")?;
    rank4(x, "x")?;
    need_float(x, "x")?;
    let div = c.int("divisor_override")?;
    let y = x
        .f_avg_pool2d(
            k,
            s,
            p,
            c.bool("ceil_mode")?,
            !c.bool("exclusive")?,
            (div != 0).then_some(div),
        )
        .map_err(torch_err)?;
    Ok(vec![y])
}

fn adaptive_avg_pool2d(c: &KCtx) -> R {
    let x = c.input("x")?;
    need_float(x, "x")?;
    if x.dim() != 3 && x.dim() != 4 {
        return Err(format!("x must be 3-D or 4-D, got {:?}", x.size()));
    }
    let o = c.ints("output_size")?;
    if o.len() != 2 {
        return Err(format!("output_size {o:?} must have 2 entries"));
    }
    Ok(vec![x.f_adaptive_avg_pool2d(o).map_err(torch_err)?])
}

/// The per-channel parameter `name`, checked to be 1-D of `ch` entries and of dtype `kind`.
fn channel(c: &KCtx, name: &str, ch: i64, kind: Kind) -> Result<Tensor, String> {
    let t = c.input(name)?;
    if t.size() != [ch] {
        return Err(format!("{name} must be [{ch}], got {:?}", t.size()));
    }
    if t.kind() != kind {
        return Err(format!("{name} must be {kind:?}, got {:?}", t.kind()));
    }
    Ok(t.shallow_clone())
}

fn bn_infer(c: &KCtx) -> R {
    let x = c.input("x")?;
    rank4(x, "x")?;
    if !matches!(x.kind(), Kind::Float | Kind::Half) {
        return Err(format!("x must be FLOAT or FLOAT16, got {:?}", x.kind()));
    }
    let ch = x.size()[1];
    // BNInfer's scale/offset/mean/variance are FLOAT whatever x is.
    let p: Vec<Tensor> = ["scale", "offset", "mean", "variance"]
        .iter()
        .map(|n| channel(c, n, ch, Kind::Float))
        .collect::<Result<_, _>>()?;
    let eps = c.float("epsilon")?;
    let y = x
        .to_kind(Kind::Float)
        .f_batch_norm(
            Some(&p[0]),
            Some(&p[1]),
            Some(&p[2]),
            Some(&p[3]),
            false,
            0.0,
            eps,
            false,
        )
        .map_err(torch_err)?;
    Ok(vec![y.to_kind(x.kind())])
}

/// Mean and biased variance of `x` viewed as [N, G, -1], over the last dim: [N, G] each.
fn group_stats(x: &Tensor, groups: i64) -> (Tensor, Tensor) {
    let n = x.size()[0];
    let v = x.reshape([n, groups, -1]);
    let mean = v.mean_dim([2i64].as_slice(), false, None);
    let var = v.var_dim([2i64].as_slice(), false, false);
    (mean, var)
}

fn norm_inputs(c: &KCtx) -> Result<(Tensor, Tensor, Tensor), String> {
    nchw(c)?;
    let x = c.input("x")?;
    rank4(x, "x")?;
    need_float(x, "x")?;
    let ch = x.size()[1];
    let gamma = channel(c, "gamma", ch, x.kind())?;
    let beta = channel(c, "beta", ch, x.kind())?;
    Ok((x.shallow_clone(), gamma, beta))
}

fn group_norm(c: &KCtx) -> R {
    if !c.bool("is_training")? {
        return Err("is_training=false is not supported by the runner".into());
    }
    let (x, gamma, beta) = norm_inputs(c)?;
    let groups = c.int("num_groups")?;
    let ch = x.size()[1];
    if groups <= 0 || ch % groups != 0 {
        return Err(format!("num_groups {groups} does not divide {ch} channels"));
    }
    let eps = c.float("eps")?;
    let y = x
        .f_group_norm(groups, Some(&gamma), Some(&beta), eps, false)
        .map_err(torch_err)?;
    let (mean, var) = group_stats(&x, groups);
    Ok(vec![y, mean, var])
}

fn instance_norm(c: &KCtx) -> R {
    let (x, gamma, beta) = norm_inputs(c)?;
    let eps = c.float("epsilon")?;
    let ch = x.size()[1];
    // Instance norm is group norm with one group per channel.
    let y = x
        .f_group_norm(ch, Some(&gamma), Some(&beta), eps, false)
        .map_err(torch_err)?;
    let n = x.size()[0];
    let (mean, var) = group_stats(&x, ch);
    Ok(vec![
        y,
        mean.reshape([n, ch, 1, 1]),
        var.reshape([n, ch, 1, 1]),
    ])
}

fn resize_size(c: &KCtx) -> Result<[i64; 2], String> {
    let s = c.input("size")?;
    if s.kind() != Kind::Int {
        return Err(format!("size must be INT32, got {:?}", s.kind()));
    }
    let v = int_values(s)?;
    match v.as_slice() {
        [h, w] if *h > 0 && *w > 0 => Ok([*h, *w]),
        _ => Err(format!("size {v:?} must be two positive sizes")),
    }
}

fn resize_nearest(c: &KCtx) -> R {
    let x = c.input("x")?;
    rank4(x, "x")?;
    let size = resize_size(c)?;
    let (align, half) = (c.bool("align_corners")?, c.bool("half_pixel_centers")?);
    // Source pixel = floor(dst * in/out) (ATen's "nearest"), or floor((dst + 0.5) * in/out)
    // with half_pixel_centers (ATen's "nearest-exact").
    let y = match (align, half) {
        (false, false) => x.f_upsample_nearest2d(size, None, None),
        (false, true) => x.f_internal_upsample_nearest_exact2d(size, None, None),
        _ => return Err("align_corners=true is not supported by the runner".into()),
    };
    Ok(vec![y.map_err(torch_err)?])
}

fn resize_bilinear(c: &KCtx) -> R {
    let x = c.input("x")?;
    rank4(x, "x")?;
    need_float(x, "x")?;
    let size = resize_size(c)?;
    let (align, half) = (c.bool("align_corners")?, c.bool("half_pixel_centers")?);
    // ATen's bilinear is half-pixel without align_corners and corner-aligned with it.
    if align == half {
        return Err(format!(
            "align_corners={align} with half_pixel_centers={half} is not supported by the runner"
        ));
    }
    // y is FLOAT (the `dtype` attr); the interpolation runs in FLOAT.
    let dt = c.int("dtype")?;
    if DType::from_ge_cpp(dt) != Some(DType::F32) {
        return Err(format!(
            "dtype {dt} is not supported by the runner (DT_FLOAT is)"
        ));
    }
    let y = x
        .to_kind(Kind::Float)
        .f_upsample_bilinear2d(size, align, None, None)
        .map_err(torch_err)?;
    Ok(vec![y])
}

/// GE's dim-first paddings (`[d0_begin, d0_end, d1_begin, ...]`) as ATen's last-dim-first list,
/// trimmed of leading dims without padding.
fn aten_pads(p: &[i64], rank: usize) -> Result<Vec<i64>, String> {
    if p.len() != 2 * rank {
        return Err(format!(
            "paddings {p:?} must hold 2 entries per dim of a rank-{rank} input"
        ));
    }
    if p.iter().any(|&v| v < 0) {
        return Err(format!(
            "negative paddings {p:?} are not supported by the runner"
        ));
    }
    let first = (0..rank)
        .find(|&d| p[2 * d] != 0 || p[2 * d + 1] != 0)
        .unwrap_or(rank);
    Ok((first..rank)
        .rev()
        .flat_map(|d| [p[2 * d], p[2 * d + 1]])
        .collect())
}

fn pad_with(x: &Tensor, pads: &[i64], mode: &str) -> Result<Tensor, String> {
    if pads.is_empty() {
        return Ok(x.shallow_clone());
    }
    // ATen's reflect/replicate pad the last 1-3 dims of a batched or unbatched tensor.
    let padded_dims = pads.len() as i64 / 2;
    if padded_dims > 3 || x.dim() as i64 <= padded_dims {
        return Err(format!(
            "{mode} padding of {padded_dims} dim(s) of a rank-{} tensor is not supported by the runner",
            x.dim()
        ));
    }
    x.f_pad(pads, mode, None).map_err(torch_err)
}

fn pad_v3(c: &KCtx) -> R {
    let x = c.input("x")?;
    let p = int_values(c.input("paddings")?)?;
    let rank = x.dim();
    let p = if c.bool("paddings_contiguous")? {
        p
    } else {
        // [begin_0, begin_1, ..., end_0, end_1, ...]
        let n = p.len() / 2;
        (0..n).flat_map(|d| [p[d], p[n + d]]).collect()
    };
    let pads = aten_pads(&p, rank)?;
    let mode = c.string("mode")?;
    let y = match mode.as_str() {
        "constant" => {
            let v = match c.opt("constant_values") {
                Some(v) => {
                    same_dtype(x, v)?;
                    if v.numel() != 1 {
                        return Err("constant_values must hold one value".into());
                    }
                    v.reshape([1i64]).double_value(&[0])
                }
                None => 0.0,
            };
            x.f_pad(pads.as_slice(), "constant", Some(v))
                .map_err(torch_err)?
        }
        "edge" => pad_with(x, &pads, "replicate")?,
        "reflect" => pad_with(x, &pads, "reflect")?,
        m => return Err(format!("mode '{m}' is not supported by the runner")),
    };
    Ok(vec![y])
}

fn mirror_pad(c: &KCtx) -> R {
    let x = c.input("x")?;
    let p = c.input("paddings")?;
    let rank = x.dim();
    if p.size() != [rank as i64, 2] {
        return Err(format!("paddings must be [{rank}, 2], got {:?}", p.size()));
    }
    let pads = aten_pads(&int_values(p)?, rank)?;
    let mode = c.string("mode")?;
    let y = match mode.as_str() {
        "REFLECT" => pad_with(x, &pads, "reflect")?,
        m => {
            return Err(format!(
                "mode '{m}' is not supported by the runner (REFLECT is)"
            ))
        }
    };
    Ok(vec![y])
}

/// y = max(0, min(1, alpha * x + beta)).
fn hard_sigmoid(c: &KCtx) -> R {
    let x = c.input("input_x")?;
    need_float(x, "input_x")?;
    let (alpha, beta) = (c.float("alpha")?, c.float("beta")?);
    Ok(vec![(x * alpha + beta).clamp(0.0, 1.0)])
}

fn leaky_relu(c: &KCtx) -> R {
    let x = c.input("x")?;
    need_float(x, "x")?;
    let slope = c.float("negative_slope")?;
    Ok(vec![x.where_self(&x.gt(0.0), &(x * slope))])
}

/// y = scale * x for x > 0, else scale * alpha * (exp(input_scale * x) - 1).
fn elu(c: &KCtx) -> R {
    let x = c.input("x")?;
    need_float(x, "x")?;
    let (alpha, scale, input_scale) = (
        c.float("alpha")?,
        c.float("scale")?,
        c.float("input_scale")?,
    );
    let neg = ((x * input_scale).expm1()) * (alpha * scale);
    Ok(vec![(x * scale).where_self(&x.gt(0.0), &neg)])
}

/// y = min(max(x, clip_value_min), clip_value_max), bounds broadcast to x.
fn clip_by_value(c: &KCtx) -> R {
    let x = c.input("x")?;
    let (lo, hi) = (c.input("clip_value_min")?, c.input("clip_value_max")?);
    same_dtype(x, lo)?;
    same_dtype(x, hi)?;
    let y = x
        .f_maximum(lo)
        .and_then(|t| t.f_minimum(hi))
        .map_err(torch_err)?;
    if y.size() != x.size() {
        return Err(format!(
            "bounds {:?}/{:?} do not broadcast to x {:?}",
            lo.size(),
            hi.size(),
            x.size()
        ));
    }
    Ok(vec![y])
}
