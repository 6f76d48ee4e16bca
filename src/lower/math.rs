//! Unary math and the remainder family; binary and special pointwise math (atan2, hypot,
//! logaddexp, logit, sinc, copysign, signbit, heaviside, fmax/fmin, lerp, addcmul...).
use super::compare::select;
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, Value};

pub fn register(r: &mut Rules) {
    register_real_views(r);
    r.add(
        "aten::ldexp",
        ldexp,
        "Mul(⇑out self, Pow(Kout(2), ⇑out other))",
    );
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
    r.add("aten::sgn", sign, "as aten::sign (real tensors)");
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
        "aten::isposinf",
        |c| is_inf_signed(c, f64::INFINITY),
        "Equal(x, K(+inf)); integers: Fill(false)",
    );
    r.add(
        "aten::isneginf",
        |c| is_inf_signed(c, f64::NEG_INFINITY),
        "Equal(x, K(-inf)); integers: Fill(false)",
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
    register_more(r);
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
        return round_decimals(c, out);
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

/// `round(x, decimals=d)` as ATen's kernel: `Round(x · 10^d) / 10^d`, or for d < 0
/// `Round(x / 10^-d) · 10^-d` (half to even; bf16 computed in FLOAT).
fn round_decimals(c: &mut Ctx, out: DType) -> RuleResult {
    if !out.is_float() {
        return Err(format!(
            "round(decimals != 0) of {out:?} tensors is not supported (PyTorch refuses it too)"
        ));
    }
    let d = c.int("decimals")?;
    let work = if out == DType::BF16 { DType::F32 } else { out };
    let p = c.scalar(10f64.powi(d.unsigned_abs().min(400) as i32), work)?;
    let x = c.tensor_as("self", work)?;
    let (pre, post) = if d > 0 {
        ("Mul", "RealDiv")
    } else {
        ("RealDiv", "Mul")
    };
    let y = c.op1(pre, vec![In::P(x), In::P(p)], vec![], work)?;
    let y = c.op1("Round", vec![In::P(y)], vec![], work)?;
    let y = c.op1(post, vec![In::P(y), In::P(p)], vec![], work)?;
    Ok(vec![c.cast(y, out)?])
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
        let dims = c.shape_port("self")?;
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

fn is_inf_signed(c: &mut Ctx, inf: f64) -> RuleResult {
    let dt = c.in_dtype("self")?;
    if !dt.is_float() {
        return is_class(c, "IsInf");
    }
    let x = c.tensor("self")?;
    let k = c.scalar(inf, dt)?;
    Ok(vec![c.op1(
        "Equal",
        vec![In::P(x), In::P(k)],
        vec![],
        DType::Bool,
    )?])
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

// --- Binary and special pointwise math: atan2, hypot, logaddexp(2), logit, frac, sinc,
// deg2rad/rad2deg, copysign, signbit, isfinite, heaviside, fmax/fmin, lerp, addcmul, addcdiv,
// count_nonzero. Decompositions run in FLOAT for FLOAT16/BF16 results (PyTorch's own op math),
// in the result dtype otherwise, and cast back.

fn register_more(r: &mut Rules) {
    r.add(
        "aten::atan2",
        |c| float_binary(c, "Atan2"),
        "Atan2(⇑w self, ⇑w other) (w: the result dtype; FLOAT16/BF16 via FLOAT)",
    );
    r.add(
        "aten::hypot",
        hypot,
        "Sqrt(Add(Mul(x, x), Mul(y, y))) in ⇑w (FLOAT16/BF16 via FLOAT); SelectV2(IsInf(x) ∨ IsInf(y), +inf, ·)",
    );
    r.add(
        "aten::logaddexp",
        |c| logaddexp(c, false),
        "Add(Maximum(x, y), Log1p(Exp(Neg(Abs(Sub(x, y)))))); SelectV2(IsInf(x) ∧ Equal(x, y), x, ·) as PyTorch",
    );
    r.add(
        "aten::logaddexp2",
        |c| logaddexp(c, true),
        "Add(Maximum(x, y), Mul(Log1p(Exp(Neg(Abs(Sub(x, y))); base=2)), 1/ln 2)); SelectV2(IsInf(x) ∧ Equal(x, y), x, ·)",
    );
    r.add(
        "aten::logit",
        logit,
        "Log(RealDiv(z, Sub(1, z))), z = x or, with eps ≥ 0, ClipByValueV2(x, eps, 1-eps)",
    );
    r.add("aten::frac", frac, "Sub(x, Trunc(x)) (floats only)");
    r.add(
        "aten::sinc",
        sinc,
        "SelectV2(Equal(x, 0), 1, RealDiv(Sin(p), p)), p = Mul(x, π)",
    );
    r.add(
        "aten::deg2rad",
        |c| scale(c, std::f64::consts::PI / 180.0),
        "Mul(⇑w x, Kw(π/180))",
    );
    r.add(
        "aten::rad2deg",
        |c| scale(c, 180.0 / std::f64::consts::PI),
        "Mul(⇑w x, Kw(180/π))",
    );
    r.add(
        "aten::copysign",
        copysign,
        "SelectV2(signbit(other), Neg(Abs(x)), Abs(x)) in ⇑w (signbit as for aten::signbit); a number other: Abs or Neg(Abs)",
    );
    r.add(
        "aten::signbit",
        signbit,
        "floats: Less(Bitcast(x; type=INT16|INT32|INT64), 0) (sees -0.0 and negative NaNs; BF16 via FLOAT); integers: Less(x, 0); BOOL, UINT8: Fill(false)",
    );
    r.add(
        "aten::isfinite",
        isfinite,
        "IsFinite (FLOAT16/BF16/FLOAT/DOUBLE); integers and BOOL: Fill(true)",
    );
    r.add(
        "aten::xlogy",
        xlogy,
        "SelectV2(IsNan(y), y, SelectV2(Equal(x, 0), 0, Mul(x, Log(y)))) (FLOAT16/BF16 via FLOAT)",
    );
    r.add(
        "aten::heaviside",
        heaviside,
        "SelectV2(Equal(x, 0), values, Cast(Greater(x, 0))) (FLOAT16/BF16 via FLOAT, small ints via INT32)",
    );
    r.add(
        "aten::fmax",
        |c| fminmax(c, "Maximum"),
        "Maximum(x, y) → SelectV2(IsNan(y), x, ·) → SelectV2(IsNan(x), y, ·) (the non-NaN wins)",
    );
    r.add(
        "aten::fmin",
        |c| fminmax(c, "Minimum"),
        "Minimum(x, y) → SelectV2(IsNan(y), x, ·) → SelectV2(IsNan(x), y, ·) (the non-NaN wins)",
    );
    r.add(
        "aten::lerp",
        lerp,
        "Lerp(⇑w self, ⇑w end, ⇑w weight) (a number weight: a 0-D constant; DOUBLE via FLOAT)",
    );
    r.add(
        "aten::addcmul",
        |c| addc(c, "Addcmul"),
        "Addcmul(⇑out self, ⇑out tensor1, ⇑out tensor2, Kout(value))",
    );
    r.add(
        "aten::addcdiv",
        |c| addc(c, "Addcdiv"),
        "Addcdiv(⇑out self, ⇑out tensor1, ⇑out tensor2, Kout(value))",
    );
    r.add(
        "aten::count_nonzero",
        count_nonzero,
        "Cast(x → BOOL) → Cast(INT64) → ReduceSum(dims, or every axis; keep_dims=false)",
    );
}

/// The dtype a float decomposition runs in for result dtype `out`.
fn float_work(c: &Ctx, out: DType) -> Result<DType, String> {
    match out {
        DType::F64 => Ok(DType::F64),
        DType::F32 | DType::F16 | DType::BF16 => Ok(DType::F32),
        d => Err(format!(
            "{} with a {} result: torch2air lowers it for float results only; fix: cast the input to float32",
            c.node.op_name(),
            d.name()
        )),
    }
}

/// Argument `name` cast to the result dtype `out` (PyTorch's promotion), then to `work`.
fn arg_in(c: &mut Ctx, name: &str, out: DType, work: DType) -> Result<Port, String> {
    let p = c.operand(name, out)?;
    c.cast(p, work)
}

fn float_binary(c: &mut Ctx, ty: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = float_work(c, out)?;
    let a = arg_in(c, "self", out, w)?;
    let b = arg_in(c, "other", out, w)?;
    let y = c.bin(ty, a, b, w)?;
    Ok(vec![c.cast(y, out)?])
}

fn hypot(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = float_work(c, out)?;
    let a = arg_in(c, "self", out, w)?;
    let b = arg_in(c, "other", out, w)?;
    let aa = c.bin("Mul", a, a, w)?;
    let bb = c.bin("Mul", b, b, w)?;
    let s = c.bin("Add", aa, bb, w)?;
    let y = c.un("Sqrt", s, w)?;
    // An infinite side gives +inf even when the other is NaN, as in C's hypot.
    let ia = c.un("IsInf", a, DType::Bool)?;
    let ib = c.un("IsInf", b, DType::Bool)?;
    let any = c.bin("LogicalOr", ia, ib, DType::Bool)?;
    let inf = c.scalar(f64::INFINITY, w)?;
    let y = select(c, any, inf, y, w)?;
    Ok(vec![c.cast(y, out)?])
}

fn logaddexp(c: &mut Ctx, base2: bool) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = float_work(c, out)?;
    let a = arg_in(c, "self", out, w)?;
    let b = arg_in(c, "other", out, w)?;
    let m = c.bin("Maximum", a, b, w)?;
    let d = c.bin("Sub", a, b, w)?;
    let d = c.un("Abs", d, w)?;
    let d = c.un("Neg", d, w)?;
    let e = if base2 {
        c.op1("Exp", vec![In::P(d)], vec![("base", attr::float(2.0))], w)?
    } else {
        c.un("Exp", d, w)?
    };
    let mut l = c.un("Log1p", e, w)?;
    if base2 {
        let k = c.scalar(1.0 / std::f64::consts::LN_2, w)?;
        l = c.bin("Mul", l, k, w)?;
    }
    let y = c.bin("Add", m, l, w)?;
    // Both infinite with one sign: PyTorch returns that infinity (the formula gives NaN).
    let inf = c.un("IsInf", a, DType::Bool)?;
    let same = c.bin("Equal", a, b, DType::Bool)?;
    let both = c.bin("LogicalAnd", inf, same, DType::Bool)?;
    let y = select(c, both, a, y, w)?;
    Ok(vec![c.cast(y, out)?])
}

fn logit(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = float_work(c, out)?;
    let mut z = arg_in(c, "self", out, w)?;
    if c.has("eps") {
        let eps = c.float("eps")?;
        // PyTorch clamps only for eps ≥ 0.
        if eps >= 0.0 {
            let lo = c.scalar(eps, w)?;
            let hi = c.scalar(1.0 - eps, w)?;
            z = c.op1(
                "ClipByValueV2",
                vec![In::P(z), In::P(lo), In::P(hi)],
                vec![],
                w,
            )?;
        }
    }
    let one = c.scalar(1.0, w)?;
    let q = c.bin("Sub", one, z, w)?;
    let r = c.bin("RealDiv", z, q, w)?;
    let y = c.un("Log", r, w)?;
    Ok(vec![c.cast(y, out)?])
}

fn frac(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = float_work(c, out)?;
    let x = arg_in(c, "self", out, w)?;
    let t = c.un("Trunc", x, w)?;
    let y = c.bin("Sub", x, t, w)?;
    Ok(vec![c.cast(y, out)?])
}

fn sinc(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = float_work(c, out)?;
    let x = arg_in(c, "self", out, w)?;
    let pi = c.scalar(std::f64::consts::PI, w)?;
    let p = c.bin("Mul", x, pi, w)?;
    let s = c.un("Sin", p, w)?;
    let q = c.bin("RealDiv", s, p, w)?;
    let zero = c.scalar(0.0, w)?;
    let one = c.scalar(1.0, w)?;
    let at0 = c.bin("Equal", x, zero, DType::Bool)?;
    let y = select(c, at0, one, q, w)?;
    Ok(vec![c.cast(y, out)?])
}

fn scale(c: &mut Ctx, k: f64) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = float_work(c, out)?;
    let x = arg_in(c, "self", out, w)?;
    let k = c.scalar(k, w)?;
    let y = c.bin("Mul", x, k, w)?;
    Ok(vec![c.cast(y, out)?])
}

/// Whether each element of float port `x` (dtype `w`: FLOAT16, FLOAT or DOUBLE) has its sign
/// bit set, -0.0 and negative NaNs included: Bitcast to the signed integer of its width, Less 0.
fn sign_bit_of(c: &mut Ctx, x: Port, w: DType) -> Result<Port, String> {
    let it = match w {
        DType::F16 => DType::I16,
        DType::F32 => DType::I32,
        DType::F64 => DType::I64,
        d => return Err(format!("internal: sign bit of a {} value", d.name())),
    };
    let bits = c.op1(
        "Bitcast",
        vec![In::P(x)],
        vec![("type", attr::dtype_cpp(it.ge_cpp()))],
        it,
    )?;
    let zero = c.scalar(0.0, it)?;
    c.bin("Less", bits, zero, DType::Bool)
}

fn copysign(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = float_work(c, out)?;
    let x = arg_in(c, "self", out, w)?;
    let a = c.un("Abs", x, w)?;
    let y = match c.arg("other")? {
        Value::Tensor(_) => {
            let o = arg_in(c, "other", out, w)?;
            let s = sign_bit_of(c, o, w)?;
            let n = c.un("Neg", a, w)?;
            select(c, s, n, a, w)?
        }
        v => {
            let k = v
                .as_f64()
                .ok_or("copysign: 'other' must be a tensor or a number")?;
            if k.is_sign_negative() {
                c.un("Neg", a, w)?
            } else {
                a
            }
        }
    };
    Ok(vec![c.cast(y, out)?])
}

/// A BOOL tensor of the shape of `self` filled with `v` (`Shape(self)` when a dim is dynamic).
fn fill_bool(c: &mut Ctx, v: bool) -> RuleResult {
    let dims = c.shape_port("self")?;
    let f = c.scalar(if v { 1.0 } else { 0.0 }, DType::Bool)?;
    Ok(vec![c.op1(
        "Fill",
        vec![In::P(dims), In::P(f)],
        vec![],
        DType::Bool,
    )?])
}

fn signbit(c: &mut Ctx) -> RuleResult {
    let dt = c.in_dtype("self")?;
    match dt {
        DType::Bool | DType::U8 => fill_bool(c, false),
        d if d.is_float() => {
            let w = if d == DType::BF16 { DType::F32 } else { d };
            let x = c.tensor_as("self", w)?;
            Ok(vec![sign_bit_of(c, x, w)?])
        }
        d => {
            let w = if d == DType::I64 { d } else { DType::I32 };
            let x = c.tensor_as("self", w)?;
            let zero = c.scalar(0.0, w)?;
            Ok(vec![c.bin("Less", x, zero, DType::Bool)?])
        }
    }
}

fn isfinite(c: &mut Ctx) -> RuleResult {
    let dt = c.in_dtype("self")?;
    if !dt.is_float() {
        return fill_bool(c, true);
    }
    let x = c.tensor("self")?;
    Ok(vec![c.un("IsFinite", x, DType::Bool)?])
}

/// A dtype that comparisons, Maximum/Minimum and SelectV2 all take, exact for `out`'s values.
fn exact_work(out: DType) -> Result<DType, String> {
    match out {
        DType::F16 | DType::BF16 => Ok(DType::F32),
        DType::I8 | DType::I16 | DType::U8 => Ok(DType::I32),
        DType::Bool => Err(
            "BOOL operands are not supported here; fix: cast them to an integer or float dtype"
                .into(),
        ),
        d => Ok(d),
    }
}

/// `x · log(y)`, 0 where x is 0 (whatever y), NaN where y is NaN.
fn xlogy(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = float_work(c, out)?;
    let x = arg_in(c, "self", out, w)?;
    let y = arg_in(c, "other", out, w)?;
    let log = c.un("Log", y, w)?;
    let p = c.bin("Mul", x, log, w)?;
    let zero = c.scalar(0.0, w)?;
    let x0 = c.bin("Equal", x, zero, DType::Bool)?;
    let p = select(c, x0, zero, p, w)?;
    let ny = c.un("IsNan", y, DType::Bool)?;
    let p = select(c, ny, y, p, w)?;
    Ok(vec![c.cast(p, out)?])
}

fn heaviside(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = exact_work(out)?;
    let x = arg_in(c, "self", out, w)?;
    let v = arg_in(c, "values", out, w)?;
    let zero = c.scalar(0.0, w)?;
    let is0 = c.bin("Equal", x, zero, DType::Bool)?;
    let pos = c.bin("Greater", x, zero, DType::Bool)?;
    let pos = c.cast(pos, w)?;
    let y = select(c, is0, v, pos, w)?;
    Ok(vec![c.cast(y, out)?])
}

fn fminmax(c: &mut Ctx, ty: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = exact_work(out)?;
    let a = arg_in(c, "self", out, w)?;
    let b = arg_in(c, "other", out, w)?;
    let mut y = c.bin(ty, a, b, w)?;
    if w.is_float() {
        let nb = c.un("IsNan", b, DType::Bool)?;
        y = select(c, nb, a, y, w)?;
        let na = c.un("IsNan", a, DType::Bool)?;
        y = select(c, na, b, y, w)?;
    }
    Ok(vec![c.cast(y, out)?])
}

fn lerp(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err(format!(
            "lerp of {} tensors; fix: use float tensors",
            out.name()
        ));
    }
    let w = super::spatial::work_dtype("Lerp", out);
    let mut ins = vec![];
    for name in ["self", "end", "weight"] {
        ins.push(In::P(arg_in(c, name, out, w)?));
    }
    let y = c.op1("Lerp", ins, vec![], w)?;
    Ok(vec![c.cast(y, out)?])
}

fn addc(c: &mut Ctx, ty: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    let value = c.float("value")?;
    let mut ins = vec![];
    for name in ["self", "tensor1", "tensor2"] {
        ins.push(In::P(c.tensor_as(name, out)?));
    }
    ins.push(In::P(c.scalar(value, out)?));
    Ok(vec![c.op1(ty, ins, vec![], out)?])
}

fn count_nonzero(c: &mut Ctx) -> RuleResult {
    let rank = c.rank("self")? as i64;
    let dims: Vec<i64> = match c.arg("dim")? {
        Value::None => (0..rank).collect(),
        v if v.as_int().is_some() => vec![c.int("dim")?],
        _ => c.ints("dim")?,
    };
    let mut axes: Vec<i64> = dims.iter().map(|&d| Ctx::dim(d, rank)).collect();
    if axes.is_empty() {
        axes = (0..rank).collect();
    }
    if let Some(d) = axes.iter().find(|&&d| d < 0 || d >= rank.max(1)) {
        return Err(format!(
            "count_nonzero: dim {d} is out of range for a {rank}-D tensor"
        ));
    }
    let x = c.tensor("self")?;
    let nz = c.cast(x, DType::Bool)?;
    let n = c.cast(nz, DType::I64)?;
    if rank == 0 {
        return Ok(vec![n]);
    }
    let a = c.const_i64(&axes)?;
    Ok(vec![c.op1(
        "ReduceSum",
        vec![In::P(n), In::P(a)],
        vec![("keep_dims", attr::boolean(false))],
        DType::I64,
    )?])
}

/// `ldexp(x, e) = x · 2^e`, as ATen computes it (`x * pow(2, e)`).
fn ldexp(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", out)?;
    let e = c.tensor_as("other", out)?;
    let two = c.scalar(2.0, out)?;
    let p = c.op1("Pow", vec![In::P(two), In::P(e)], vec![], out)?;
    Ok(vec![c.op1("Mul", vec![In::P(x), In::P(p)], vec![], out)?])
}

// --- float_power, frexp, and the complex-number views of real tensors (angle, isreal).

fn register_real_views(r: &mut Rules) {
    r.add(
        "aten::float_power",
        float_power,
        "Pow(⇑DOUBLE self, ⇑DOUBLE exponent) (PyTorch computes float_power in double)",
    );
    r.add(
        "aten::frexp.Tensor",
        frexp,
        "e = Floor(Log(|x|; base=2)) + 1, m = x · Pow(2, −e), each corrected by one step where |m| ≥ 1 or < 0.5; SelectV2 gives (x, 0) for 0, ±inf and NaN → (m, Cast INT32(e))",
    );
    r.add(
        "aten::angle",
        angle,
        "SelectV2(IsNan(x), x, SelectV2(Less(x, 0), Kout(π), Kout(0))) (real tensors; ints give FLOAT)",
    );
    r.add(
        "aten::isreal",
        isreal,
        "Fill(K64(shape) or Shape(x), K(true)) (real tensors are real)",
    );
}

fn float_power(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let a = c.operand("self", out)?;
    let b = c.operand("exponent", out)?;
    Ok(vec![c.bin("Pow", a, b, out)?])
}

fn frexp(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let edt = c.out_dtype(1)?;
    let w = float_work(c, out)?;
    let x = c.tensor_as("self", w)?;
    let ax = c.un("Abs", x, w)?;
    let l = c.op1("Log", vec![In::P(ax)], vec![("base", attr::float(2.0))], w)?;
    let one = c.scalar(1.0, w)?;
    let two = c.scalar(2.0, w)?;
    let half = c.scalar(0.5, w)?;
    let e = c.un("Floor", l, w)?;
    let e = c.bin("Add", e, one, w)?;
    let ne = c.un("Neg", e, w)?;
    let scale = c.bin("Pow", two, ne, w)?;
    let m = c.bin("Mul", x, scale, w)?;
    // Log2 rounds: one step fixes a mantissa just outside [0.5, 1).
    let am = c.un("Abs", m, w)?;
    let big = c.bin("GreaterEqual", am, one, DType::Bool)?;
    let m_half = c.bin("Mul", m, half, w)?;
    let e_up = c.bin("Add", e, one, w)?;
    let m = super::compare::select(c, big, m_half, m, w)?;
    let e = super::compare::select(c, big, e_up, e, w)?;
    let am = c.un("Abs", m, w)?;
    let small = c.bin("Less", am, half, DType::Bool)?;
    let m_twice = c.bin("Mul", m, two, w)?;
    let e_down = c.bin("Sub", e, one, w)?;
    let m = super::compare::select(c, small, m_twice, m, w)?;
    let e = super::compare::select(c, small, e_down, e, w)?;
    // 0, ±inf and NaN: the mantissa is x, the exponent 0.
    let zero = c.scalar(0.0, w)?;
    let is_zero = c.bin("Equal", x, zero, DType::Bool)?;
    let finite = c.un("IsFinite", x, DType::Bool)?;
    let not_finite = c.un("LogicalNot", finite, DType::Bool)?;
    let special = c.bin("LogicalOr", is_zero, not_finite, DType::Bool)?;
    let m = super::compare::select(c, special, x, m, w)?;
    let e = super::compare::select(c, special, zero, e, w)?;
    let m = c.cast(m, out)?;
    let e = c.cast(e, edt)?;
    Ok(vec![m, e])
}

fn angle(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", out)?;
    let zero = c.scalar(0.0, out)?;
    let pi = c.scalar(std::f64::consts::PI, out)?;
    let neg = c.bin("Less", x, zero, DType::Bool)?;
    let y = super::compare::select(c, neg, pi, zero, out)?;
    let nan = c.un("IsNan", x, DType::Bool)?;
    Ok(vec![super::compare::select(c, nan, x, y, out)?])
}

fn isreal(c: &mut Ctx) -> RuleResult {
    let dims = c.shape_port("self")?;
    let t = c.b.constant(&tch::Tensor::from(true), "true")?;
    Ok(vec![c.op1(
        "Fill",
        vec![In::P(dims), In::P(t)],
        vec![],
        DType::Bool,
    )?])
}
