//! Elementwise arithmetic, activations, math functions and dtype conversion.
use super::{Ctx, RuleResult, Rules};
use crate::ge::{attr, In};

pub fn register(r: &mut Rules) {
    r.add("aten::add", add, "Add(⇑out self, ⇑out other [Mul alpha])");
    r.add("aten::sub", sub, "Sub(⇑out self, ⇑out other [Mul alpha])");
    r.add("aten::rsub", rsub, "Sub(⇑out other, ⇑out self [Mul alpha])");
    r.add("aten::mul", mul, "Mul(⇑out self, ⇑out other)");
    r.add(
        "aten::div",
        div,
        "RealDiv; rounding_mode floor: FloorDiv; trunc: RealDiv → Trunc",
    );
    r.add("aten::neg", |c| unary(c, "Neg"), "Neg");
    r.add("aten::relu", |c| unary(c, "Relu"), "Relu");
    r.add("aten::sigmoid", |c| unary(c, "Sigmoid"), "Sigmoid");
    r.add("aten::tanh", |c| unary(c, "Tanh"), "Tanh");
    r.add("aten::sqrt", |c| unary(c, "Sqrt"), "[Cast out] → Sqrt");
    r.add("aten::rsqrt", |c| unary(c, "Rsqrt"), "[Cast out] → Rsqrt");
    r.add("aten::erf", |c| unary(c, "Erf"), "[Cast out] → Erf");
    r.add("aten::abs", |c| unary(c, "Abs"), "Abs");
    r.add(
        "aten::exp",
        |c| unary(c, "Exp"),
        "[Cast out] → Exp (base -1 = e)",
    );
    r.add(
        "aten::log",
        |c| unary(c, "Log"),
        "[Cast out] → Log (base -1 = e)",
    );
    r.add("aten::silu", silu, "Swish(scale=1.0)");
    r.add("aten::gelu", gelu, "GeluV2(approximate=none|tanh)");
    r.add("aten::pow", pow, "Pow(⇑out self, ⇑out exponent)");
    r.add(
        "aten::to",
        to,
        "Cast(dst_type) when the dtype changes, else nothing",
    );
    r.add(
        "aten::type_as",
        to,
        "Cast(dst_type) when the dtype changes, else nothing",
    );
}

fn unary(c: &mut Ctx, ty: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", out)?;
    Ok(vec![c.op1(ty, vec![In::P(x)], vec![], out)?])
}

/// `other * alpha` for add/sub, with no Mul when alpha is 1.
fn scaled_other(c: &mut Ctx, other: &str) -> Result<crate::value::Port, String> {
    let out = c.out_dtype(0)?;
    let y = c.operand(other, out)?;
    let alpha = if c.has("alpha") {
        c.float("alpha")?
    } else {
        1.0
    };
    if alpha == 1.0 {
        return Ok(y);
    }
    let a = c.scalar(alpha, out)?;
    c.op1("Mul", vec![In::P(y), In::P(a)], vec![], out)
}

fn add(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.operand("self", out)?;
    let y = scaled_other(c, "other")?;
    Ok(vec![c.op1("Add", vec![In::P(x), In::P(y)], vec![], out)?])
}

fn sub(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.operand("self", out)?;
    let y = scaled_other(c, "other")?;
    Ok(vec![c.op1("Sub", vec![In::P(x), In::P(y)], vec![], out)?])
}

fn rsub(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let y = c.operand("other", out)?;
    let x = c.operand("self", out)?;
    let alpha = if c.has("alpha") {
        c.float("alpha")?
    } else {
        1.0
    };
    let x = if alpha == 1.0 {
        x
    } else {
        let a = c.scalar(alpha, out)?;
        c.op1("Mul", vec![In::P(x), In::P(a)], vec![], out)?
    };
    Ok(vec![c.op1("Sub", vec![In::P(y), In::P(x)], vec![], out)?])
}

fn mul(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.operand("self", out)?;
    let y = c.operand("other", out)?;
    Ok(vec![c.op1("Mul", vec![In::P(x), In::P(y)], vec![], out)?])
}

fn div(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let mode = match c.arg("rounding_mode") {
        Ok(crate::value::Value::Str(s)) => Some(s.clone()),
        _ => None,
    };
    match mode.as_deref() {
        Some("floor") => {
            let x = c.operand("self", out)?;
            let y = c.operand("other", out)?;
            Ok(vec![c.op1(
                "FloorDiv",
                vec![In::P(x), In::P(y)],
                vec![],
                out,
            )?])
        }
        Some("trunc") => {
            // Divide in a float type, truncate, then come back to the output dtype.
            let work = if out.is_float() {
                out
            } else {
                crate::dtype::DType::F32
            };
            let x = c.operand("self", work)?;
            let y = c.operand("other", work)?;
            let q = c.op1("RealDiv", vec![In::P(x), In::P(y)], vec![], work)?;
            let t = c.op1("Trunc", vec![In::P(q)], vec![], work)?;
            Ok(vec![c.cast(t, out)?])
        }
        _ => {
            let x = c.operand("self", out)?;
            let y = c.operand("other", out)?;
            Ok(vec![c.op1(
                "RealDiv",
                vec![In::P(x), In::P(y)],
                vec![],
                out,
            )?])
        }
    }
}

fn silu(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", out)?;
    Ok(vec![c.op1(
        "Swish",
        vec![In::P(x)],
        vec![("scale", attr::float(1.0))],
        out,
    )?])
}

fn gelu(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", out)?;
    let approximate = match c.arg("approximate") {
        Ok(crate::value::Value::Str(s)) => s.clone(),
        _ => "none".into(),
    };
    if approximate != "none" && approximate != "tanh" {
        return Err(format!(
            "gelu approximate='{approximate}' is not 'none' or 'tanh'"
        ));
    }
    Ok(vec![c.op1(
        "GeluV2",
        vec![In::P(x)],
        vec![("approximate", attr::string(&approximate))],
        out,
    )?])
}

fn pow(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.operand("self", out)?;
    let e = c.operand("exponent", out)?;
    Ok(vec![c.op1("Pow", vec![In::P(x), In::P(e)], vec![], out)?])
}

/// `to`/`type_as` (every overload): only the dtype matters for the graph; devices, layouts and
/// memory formats do not exist in it.
fn to(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor("self")?;
    Ok(vec![c.cast(x, out)?])
}
