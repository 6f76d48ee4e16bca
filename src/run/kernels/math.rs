//! Unary math, rounding, remainders, float classes, Einsum, Atan2, IsFinite, Lerp,
//! Addcmul/Addcdiv.
use super::{same_dtype, tc, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

type Un = fn(&Tensor) -> Result<Tensor, tch::TchError>;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("Sin", |c| float_unary(c, Tensor::f_sin));
    m.insert("Cos", |c| float_unary(c, Tensor::f_cos));
    m.insert("Tan", |c| float_unary(c, Tensor::f_tan));
    m.insert("Atan", |c| float_unary(c, Tensor::f_atan));
    m.insert("Asin", |c| float_unary(c, Tensor::f_asin));
    m.insert("Acos", |c| float_unary(c, Tensor::f_acos));
    m.insert("Sinh", |c| float_unary(c, Tensor::f_sinh));
    m.insert("Cosh", |c| float_unary(c, Tensor::f_cosh));
    m.insert("Asinh", |c| float_unary(c, Tensor::f_asinh));
    m.insert("Acosh", |c| float_unary(c, Tensor::f_acosh));
    m.insert("Atanh", |c| float_unary(c, Tensor::f_atanh));
    m.insert("Expm1", |c| float_unary(c, Tensor::f_expm1));
    m.insert("Log1p", |c| float_unary(c, Tensor::f_log1p));
    m.insert("Erfc", |c| float_unary(c, Tensor::f_erfc));
    m.insert("Floor", |c| float_unary(c, Tensor::f_floor));
    m.insert("Ceil", |c| float_unary(c, Tensor::f_ceil));
    m.insert("Round", |c| unary(c, Tensor::f_round));
    m.insert("Sign", |c| unary(c, Tensor::f_sign));
    m.insert("Reciprocal", |c| unary(c, Tensor::f_reciprocal));
    m.insert("IsNan", |c| float_unary(c, Tensor::f_isnan));
    m.insert("IsInf", |c| float_unary(c, Tensor::f_isinf));
    m.insert("FloorMod", |c| binary(c, Tensor::f_remainder_tensor));
    m.insert("Mod", |c| binary(c, Tensor::f_fmod_tensor));
    m.insert("Einsum", einsum);
    m.insert("Atan2", atan2);
    m.insert("IsFinite", |c| float_unary(c, Tensor::f_isfinite));
    m.insert("Lerp", lerp);
    m.insert("Addcmul", |c| addc(c, false));
    m.insert("Addcdiv", |c| addc(c, true));
}

fn atan2(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    same_dtype(a, b)?;
    if !matches!(a.kind(), Kind::Float | Kind::Half | Kind::Double) {
        return Err(format!("takes FLOAT/FLOAT16/DOUBLE, got {:?}", a.kind()));
    }
    Ok(vec![tc(a.f_atan2(b))?])
}

/// y = start + weight · (end - start), as torch.lerp computes it; all three broadcast.
fn lerp(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (s, e, w) = (c.input("start")?, c.input("end")?, c.input("weight")?);
    same_dtype(s, e)?;
    same_dtype(s, w)?;
    if !matches!(s.kind(), Kind::Float | Kind::Half | Kind::BFloat16) {
        return Err(format!("takes FLOAT/FLOAT16/BF16, got {:?}", s.kind()));
    }
    Ok(vec![tc(s.f_lerp_tensor(e, w))?])
}

/// Addcmul: y = input_data + value · x1 · x2; Addcdiv: y = input_data + value · x1 / x2.
/// `value` is a tensor that broadcasts (a 0-D one from torch2air).
fn addc(c: &KCtx, div: bool) -> Result<Vec<Tensor>, String> {
    let x = c.input("input_data")?;
    let (a, b, v) = (c.input("x1")?, c.input("x2")?, c.input("value")?);
    same_dtype(x, a)?;
    same_dtype(x, b)?;
    same_dtype(x, v)?;
    let ok = if div {
        matches!(
            x.kind(),
            Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double | Kind::Int64
        )
    } else {
        matches!(
            x.kind(),
            Kind::Float
                | Kind::Half
                | Kind::BFloat16
                | Kind::Double
                | Kind::Int64
                | Kind::Int
                | Kind::Int8
                | Kind::Uint8
        )
    };
    if !ok {
        return Err(format!("does not take {:?}", x.kind()));
    }
    let t = tc(a.f_mul(v))?;
    let t = if div {
        tc(t.f_div(b))?
    } else {
        tc(t.f_mul(b))?
    };
    Ok(vec![tc(x.f_add(&t))?])
}

fn is_float(k: Kind) -> bool {
    matches!(k, Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double)
}

/// Ops GE defines on floating-point inputs only.
fn float_unary(c: &KCtx, f: Un) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    if !is_float(x.kind()) {
        return Err(format!("takes a floating-point input, got {:?}", x.kind()));
    }
    Ok(vec![tc(f(x))?])
}

fn unary(c: &KCtx, f: Un) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    if x.kind() == Kind::Bool {
        return Err("takes no BOOL".into());
    }
    Ok(vec![tc(f(x))?])
}

type Bin = fn(&Tensor, &Tensor) -> Result<Tensor, tch::TchError>;

fn binary(c: &KCtx, f: Bin) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    same_dtype(a, b)?;
    if a.kind() == Kind::Bool {
        return Err("takes no BOOL".into());
    }
    if !is_float(a.kind()) && b.eq(0).any().int64_value(&[]) != 0 {
        return Err("integer division by zero".into());
    }
    Ok(vec![tc(f(a, b))?])
}

fn einsum(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let xs = c.dynamic("x");
    if xs.len() as i64 != c.int("N")? {
        return Err(format!("N={} but {} inputs", c.int("N")?, xs.len()));
    }
    if let Some(first) = xs.first() {
        if xs.iter().any(|t| t.kind() != first.kind()) {
            return Err("inputs differ in dtype".into());
        }
    }
    let eq = c.string("equation")?;
    Ok(vec![tc(Tensor::f_einsum(&eq, &xs, None::<&[i64]>))?])
}
