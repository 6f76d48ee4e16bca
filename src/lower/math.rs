//! Unary math and the remainder family.
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};

pub fn register(r: &mut Rules) {
    for (op, ge) in [
        ("aten::sin", "[Cast out] → Sin"),
        ("aten::cos", "[Cast out] → Cos"),
        ("aten::tan", "[Cast out] → Tan"),
        ("aten::atan", "[Cast out] → Atan"),
        ("aten::asin", "[Cast out] → Asin"),
        ("aten::acos", "[Cast out] → Acos"),
        ("aten::sinh", "[Cast out] → Sinh"),
        ("aten::cosh", "[Cast out] → Cosh"),
        ("aten::asinh", "[Cast out] → Asinh"),
        ("aten::acosh", "[Cast out] → Acosh"),
        ("aten::atanh", "[Cast out] → Atanh"),
        ("aten::expm1", "[Cast out] → Expm1"),
        ("aten::log1p", "[Cast out] → Log1p"),
        ("aten::erfc", "[Cast out] → Erfc"),
        ("aten::reciprocal", "[Cast out] → Reciprocal"),
    ] {
        r.add(op, unary_by_name, ge);
    }
    r.add(
        "aten::nan_to_num",
        nan_to_num,
        "SelectV2(IsNan(x), Kout(nan), x) → SelectV2(IsInf(x) ∧ Greater(x, 0), Kout(posinf or max), ·) → SelectV2(IsInf(x) ∧ Less(x, 0), Kout(neginf or lowest), ·); integers: nothing",
    );
    r.add(
        "aten::floor",
        |c| rounding(c, "Floor"),
        "Floor (BF16 via FLOAT); integers: nothing",
    );
    r.add(
        "aten::ceil",
        |c| rounding(c, "Ceil"),
        "Ceil (BF16 via FLOAT); integers: nothing",
    );
    r.add(
        "aten::round",
        |c| rounding(c, "Round"),
        "Round, half to even (BF16 via FLOAT); integers: nothing; decimals≠0 refused",
    );
    r.add(
        "aten::trunc",
        |c| rounding(c, "Trunc"),
        "Trunc; integers: nothing",
    );
    r.add(
        "aten::sign",
        sign,
        "Sign (BF16 via FLOAT, small ints via INT32); BOOL: nothing",
    );
    r.add(
        "aten::log2",
        |c| log_base(c, "Log", 2.0),
        "[Cast out] → Log(base=2)",
    );
    r.add(
        "aten::log10",
        |c| log_base(c, "Log", 10.0),
        "[Cast out] → Log(base=10)",
    );
    r.add(
        "aten::exp2",
        |c| log_base(c, "Exp", 2.0),
        "[Cast out] → Exp(base=2)",
    );
    r.add("aten::square", square, "Mul(⇑out x, ⇑out x)");
    r.add(
        "aten::remainder",
        |c| binary(c, "FloorMod"),
        "FloorMod(⇑out self, ⇑out other) (BF16 via FLOAT)",
    );
    r.add(
        "aten::fmod",
        |c| binary(c, "Mod"),
        "Mod(⇑out self, ⇑out other), C-style truncated remainder (BF16 via FLOAT)",
    );
    r.add(
        "aten::floor_divide",
        |c| binary(c, "FloorDiv"),
        "FloorDiv(⇑out self, ⇑out other)",
    );
    r.add(
        "aten::cumprod",
        cumprod,
        "Cumprod(⇑out x, axis=K64(dim); exclusive=false, reverse=false) (a dtype= result: the Cast first, as ATen multiplies in it)",
    );
    r.add(
        "aten::logcumsumexp",
        logcumsumexp,
        "CumulativeLogsumexp(x, axis=K32(dim); exclusive=false, reverse=false) (BF16 via FLOAT)",
    );
    r.add(
        "aten::isnan",
        |c| is_class(c, "IsNan"),
        "IsNan (BF16 via FLOAT); integers: Fill(false)",
    );
    r.add(
        "aten::isinf",
        |c| is_class(c, "IsInf"),
        "IsInf (BF16 via FLOAT); integers: Fill(false)",
    );
}

/// The GE op of a plain unary math op, by ATen name.
fn ge_type(op: &str) -> Option<&'static str> {
    let base = op.trim_start_matches("aten::");
    let base = base.split('.').next().unwrap_or(base).trim_end_matches('_');
    Some(match base {
        "sin" => "Sin",
        "cos" => "Cos",
        "tan" => "Tan",
        "atan" => "Atan",
        "asin" => "Asin",
        "acos" => "Acos",
        "sinh" => "Sinh",
        "cosh" => "Cosh",
        "asinh" => "Asinh",
        "acosh" => "Acosh",
        "atanh" => "Atanh",
        "expm1" => "Expm1",
        "log1p" => "Log1p",
        "erfc" => "Erfc",
        "reciprocal" => "Reciprocal",
        _ => return None,
    })
}

fn unary_by_name(c: &mut Ctx) -> RuleResult {
    let ty = ge_type(c.node.op_name())
        .ok_or_else(|| format!("internal: no GE op for {}", c.node.op_name()))?;
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", out)?;
    Ok(vec![c.op1(ty, vec![In::P(x)], vec![], out)?])
}

/// Runs `ty` in `work` (a dtype the GE op takes) and casts back to `out`; both exact for ops
/// whose result is representable in `out` (rounding, sign, max, remainder of BF16 values).
fn via(c: &mut Ctx, ty: &str, inputs: &[&str], out: DType, work: DType) -> RuleResult {
    let mut ins = vec![];
    for name in inputs {
        ins.push(In::P(c.operand(name, out)?));
    }
    let ins = ins
        .into_iter()
        .map(|i| match i {
            In::P(p) => c.cast(p, work).map(In::P),
            other => Ok(other),
        })
        .collect::<Result<Vec<_>, String>>()?;
    let y = c.op1(ty, ins, vec![], work)?;
    Ok(vec![c.cast(y, out)?])
}

fn rounding(c: &mut Ctx, ty: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    if c.has("decimals") && c.int("decimals")? != 0 {
        return Err("round(decimals != 0) is not supported; fix: scale, round and unscale".into());
    }
    if !out.is_float() {
        return Ok(vec![c.tensor("self")?]);
    }
    let work = match (ty, out) {
        ("Trunc", d) => d,
        (_, DType::BF16) => DType::F32,
        (_, d) => d,
    };
    via(c, ty, &["self"], out, work)
}

fn sign(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let work = match out {
        DType::Bool => return Ok(vec![c.tensor("self")?]),
        DType::BF16 => DType::F32,
        DType::I8 | DType::I16 | DType::U8 => DType::I32,
        d => d,
    };
    via(c, "Sign", &["self"], out, work)
}

fn log_base(c: &mut Ctx, ty: &str, base: f64) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", out)?;
    Ok(vec![c.op1(
        ty,
        vec![In::P(x)],
        vec![("base", attr::float(base as f32))],
        out,
    )?])
}

fn square(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", out)?;
    Ok(vec![c.op1("Mul", vec![In::P(x), In::P(x)], vec![], out)?])
}

fn binary(c: &mut Ctx, ty: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    let work = match (ty, out) {
        ("FloorDiv", d) => d,
        (_, DType::BF16) => DType::F32,
        (_, DType::I16 | DType::U8 | DType::I8) if ty == "FloorMod" => DType::I32,
        (_, d) => d,
    };
    via(c, ty, &["self", "other"], out, work)
}

fn is_class(c: &mut Ctx, ty: &str) -> RuleResult {
    let dt = c.in_dtype("self")?;
    if !dt.is_float() {
        let shape = c.out_shape(0)?;
        let dims = c.const_i64(&shape)?;
        let f = c.scalar(0.0, DType::Bool)?;
        return Ok(vec![c.op1(
            "Fill",
            vec![In::P(dims), In::P(f)],
            vec![],
            DType::Bool,
        )?]);
    }
    let work = if dt == DType::BF16 { DType::F32 } else { dt };
    let x = c.tensor_as("self", work)?;
    Ok(vec![c.op1(ty, vec![In::P(x)], vec![], DType::Bool)?])
}

fn nan_to_num(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", out)?;
    if !out.is_float() {
        return Ok(vec![x]);
    }
    let (lowest, max) = match out {
        DType::F16 => (f64::from(half::f16::MIN), f64::from(half::f16::MAX)),
        DType::BF16 => (f64::from(half::bf16::MIN), f64::from(half::bf16::MAX)),
        DType::F32 => (f64::from(f32::MIN), f64::from(f32::MAX)),
        _ => (f64::MIN, f64::MAX),
    };
    let given = |c: &Ctx, name: &str, default: f64| -> Result<f64, String> {
        match c.arg(name)? {
            crate::value::Value::None => Ok(default),
            v => v.as_f64().ok_or_else(|| format!("{name} must be a number")),
        }
    };
    let (nan, pos, neg) = (
        given(c, "nan", 0.0)?,
        given(c, "posinf", max)?,
        given(c, "neginf", lowest)?,
    );
    let is_nan = c.op1("IsNan", vec![In::P(x)], vec![], DType::Bool)?;
    let k = c.scalar(nan, out)?;
    let mut y = c.op1(
        "SelectV2",
        vec![In::P(is_nan), In::P(k), In::P(x)],
        vec![],
        out,
    )?;
    let is_inf = c.op1("IsInf", vec![In::P(x)], vec![], DType::Bool)?;
    let zero = c.scalar(0.0, out)?;
    for (cmp, v) in [("Greater", pos), ("Less", neg)] {
        let side = c.op1(cmp, vec![In::P(x), In::P(zero)], vec![], DType::Bool)?;
        let hit = c.op1(
            "LogicalAnd",
            vec![In::P(is_inf), In::P(side)],
            vec![],
            DType::Bool,
        )?;
        let k = c.scalar(v, out)?;
        y = c.op1(
            "SelectV2",
            vec![In::P(hit), In::P(k), In::P(y)],
            vec![],
            out,
        )?;
    }
    Ok(vec![y])
}

fn cumprod(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let x = c.tensor_as("self", out)?;
    if rank == 0 {
        return Ok(vec![x]);
    }
    if out == DType::Bool {
        return Err("cumprod with a bool result; fix: cast to an int type first".into());
    }
    let dim = Ctx::dim(c.int("dim")?, rank);
    let axis = c.scalar_i64(dim)?;
    Ok(vec![c.op1(
        "Cumprod",
        vec![In::P(x), In::P(axis)],
        vec![],
        out,
    )?])
}

fn logcumsumexp(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err(format!("logcumsumexp of {} values", out.name()));
    }
    let rank = c.rank("self")? as i64;
    let x = c.tensor_as("self", out)?;
    if rank == 0 {
        return Ok(vec![x]);
    }
    let dim = Ctx::dim(c.int("dim")?, rank);
    let work = super::spatial::work_dtype("CumulativeLogsumexp", out);
    let x = c.cast(x, work)?;
    let axis =
        c.b.constant(&tch::Tensor::from(dim as i32), &format!("{dim}"))?;
    let y = c.op1(
        "CumulativeLogsumexp",
        vec![In::P(x), In::P(axis)],
        vec![],
        work,
    )?;
    Ok(vec![c.cast(y, out)?])
}
