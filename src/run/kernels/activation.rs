//! Activations: Gelu, HardSwish, Relu6, HardSigmoid, LeakyRelu, Elu, ClipByValueV2, PRelu, Softplus,
//! Mish, Selu, LogSigmoid, CeluV2, HardShrink, SoftShrink, ThresholdV2D.
use super::spatial::{float_unary, need_float, torch_err, R};
use super::{same_dtype, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::Tensor;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("HardSwish", |c| float_unary(c, "x", Tensor::f_hardswish));
    // GE's Gelu is the erf form, x * Phi(x) (GeluV2 has the tanh approximation).
    m.insert("Gelu", |c| float_unary(c, "x", |x| x.f_gelu("none")));
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
    m.insert("LogSigmoid", |c| float_unary(c, "x", Tensor::f_log_sigmoid));
    m.insert("CeluV2", celu_v2);
    m.insert("HardShrink", hard_shrink);
    m.insert("SoftShrink", soft_shrink);
    m.insert("ThresholdV2D", threshold_v2d);
}

/// y = x for x > 0, else alpha · (exp(x / alpha) - 1).
fn celu_v2(c: &KCtx) -> R {
    let x = c.input("x")?;
    need_float(x, "x")?;
    let alpha = c.float("alpha")?;
    if alpha == 0.0 {
        return Err("alpha must not be 0".into());
    }
    let neg = (x * (1.0 / alpha)).expm1() * alpha;
    Ok(vec![x.where_self(&x.gt(0.0), &neg)])
}

/// y = 0 for -lambd ≤ x ≤ lambd, else x (NaN stays NaN).
fn hard_shrink(c: &KCtx) -> R {
    let x = c.input("input_x")?;
    need_float(x, "input_x")?;
    let l = c.float("lambd")?;
    let inside = x.ge(-l).logical_and(&x.le(l));
    Ok(vec![x.masked_fill(&inside, 0.0)])
}

/// y = x - lambd for x > lambd, x + lambd for x < -lambd, else 0 (NaN stays NaN).
fn soft_shrink(c: &KCtx) -> R {
    let x = c.input("input_x")?;
    need_float(x, "input_x")?;
    let l = c.float("lambd")?;
    let mid = x * 0.0;
    let low = (x + l).where_self(&x.lt(-l), &mid);
    Ok(vec![(x - l).where_self(&x.gt(l), &low)])
}

/// y = x where x > threshold, else value.
fn threshold_v2d(c: &KCtx) -> R {
    let x = c.input("x")?;
    if x.kind() == tch::Kind::Bool {
        return Err("x takes no BOOL".into());
    }
    let (th, v) = (c.float("threshold")?, c.float("value")?);
    Ok(vec![x.masked_fill(&x.le(th), v)])
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
