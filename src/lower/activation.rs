//! The activations of vision backbones and their relatives: hardswish, hardsigmoid,
//! relu6/hardtanh, mish, selu, softplus, prelu, leaky_relu, elu, clamp; log_sigmoid, celu,
//! hardshrink/softshrink, threshold, rrelu (eval).
use super::spatial::{back, work_dtype, xname};
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::Port;

pub fn register(r: &mut Rules) {
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
        "beta 1: Softplus; else Mul(x, beta) → Softplus → RealDiv(beta); a threshold where exp(−threshold)/beta > 1e-7: SelectV2(Greater(x·beta, threshold), x, that); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
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
    register_shrink(r);
}

fn unary(c: &mut Ctx, ty: &str) -> RuleResult {
    unary_with(c, ty, &[])
}

/// GE op `ty` on the input with float attrs, in the dtype its prototype takes (Casts around).
fn unary_with(c: &mut Ctx, ty: &str, floats: &[(&str, f64)]) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype(ty, res);
    let x = c.tensor_as(xname(c), out)?;
    let attrs = floats
        .iter()
        .map(|&(k, v)| (k, attr::float(v as f32)))
        .collect();
    let y = c.op1(ty, vec![In::P(x)], attrs, out)?;
    back(c, y, res)
}

fn softplus(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype("Softplus", res);
    let beta = c.float("beta")?;
    let threshold = c.float("threshold")?;
    let x = c.tensor_as("self", out)?;
    let b = c.scalar(beta, out)?;
    let xb = if beta == 1.0 {
        x
    } else {
        c.op1("Mul", vec![In::P(x), In::P(b)], vec![], out)?
    };
    let mut y = c.op1("Softplus", vec![In::P(xb)], vec![], out)?;
    if beta != 1.0 {
        y = c.op1("RealDiv", vec![In::P(y), In::P(b)], vec![], out)?;
    }
    // ATen returns x where beta * x > threshold; log(1 + exp(x)) differs there by
    // ~exp(-threshold) / beta, below f32's resolution for the default threshold 20.
    if (-threshold).exp() / beta > 1e-7 {
        let t = c.scalar(threshold, out)?;
        let above = c.op1("Greater", vec![In::P(xb), In::P(t)], vec![], DType::Bool)?;
        y = c.op1(
            "SelectV2",
            vec![In::P(above), In::P(x), In::P(y)],
            vec![],
            out,
        )?;
    }
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
    let slope = c.float("negative_slope")?;
    unary_with(c, "LeakyRelu", &[("negative_slope", slope)])
}

fn elu(c: &mut Ctx) -> RuleResult {
    let (alpha, scale, input_scale) = (
        c.float("alpha")?,
        c.float("scale")?,
        c.float("input_scale")?,
    );
    unary_with(
        c,
        "Elu",
        &[
            ("alpha", alpha),
            ("scale", scale),
            ("input_scale", input_scale),
        ],
    )
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

fn register_shrink(r: &mut Rules) {
    r.add(
        "aten::log_sigmoid",
        |c| unary(c, "LogSigmoid"),
        "LogSigmoid; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::celu",
        celu,
        "CeluV2(alpha); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::hardshrink",
        |c| shrink(c, "HardShrink"),
        "HardShrink(lambd); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::softshrink",
        |c| shrink(c, "SoftShrink"),
        "SoftShrink(lambd); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::threshold",
        threshold,
        "ThresholdV2D(threshold, value): y = x > threshold ? x : value",
    );
    r.add(
        "aten::rrelu",
        rrelu,
        "training=false: LeakyRelu(negative_slope=(lower+upper)/2); training=true (random slopes) refused",
    );
}

fn celu(c: &mut Ctx) -> RuleResult {
    let alpha = c.float("alpha")?;
    if alpha == 0.0 {
        return Err(
            "celu with alpha 0 is undefined (PyTorch refuses it too); fix: use alpha ≠ 0".into(),
        );
    }
    unary_with(c, "CeluV2", &[("alpha", alpha)])
}

fn shrink(c: &mut Ctx, ty: &str) -> RuleResult {
    let lambd = c.float("lambd")?;
    unary_with(c, ty, &[("lambd", lambd)])
}

fn threshold(c: &mut Ctx) -> RuleResult {
    let (th, v) = (c.float("threshold")?, c.float("value")?);
    unary_with(c, "ThresholdV2D", &[("threshold", th), ("value", v)])
}

fn rrelu(c: &mut Ctx) -> RuleResult {
    if c.bool("training")? {
        return Err(
            "rrelu with training=True draws random slopes, which a graph cannot reproduce; fix: export the model in eval mode (model.eval())"
                .into(),
        );
    }
    let slope = (c.float("lower")? + c.float("upper")?) / 2.0;
    unary_with(c, "LeakyRelu", &[("negative_slope", slope)])
}
