//! Comparisons, logical and bitwise ops, selects, boolean reductions.
use super::{int_values, norm_dim, same_dtype, tc, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("Equal", |c| cmp(c, true, Tensor::f_eq_tensor));
    m.insert("NotEqual", |c| cmp(c, false, Tensor::f_ne_tensor));
    m.insert("Less", |c| cmp(c, false, Tensor::f_lt_tensor));
    m.insert("LessEqual", |c| cmp(c, false, Tensor::f_le_tensor));
    m.insert("Greater", |c| cmp(c, false, Tensor::f_gt_tensor));
    m.insert("GreaterEqual", |c| cmp(c, false, Tensor::f_ge_tensor));
    m.insert("LogicalAnd", |c| logical(c, Tensor::f_logical_and));
    m.insert("LogicalOr", |c| logical(c, Tensor::f_logical_or));
    m.insert("LogicalNot", logical_not);
    m.insert("BitwiseAnd", |c| bitwise(c, Tensor::f_bitwise_and_tensor));
    m.insert("BitwiseOr", |c| bitwise(c, Tensor::f_bitwise_or_tensor));
    m.insert("BitwiseXor", |c| bitwise(c, Tensor::f_bitwise_xor_tensor));
    m.insert("Invert", invert);
    m.insert("SelectV2", select_v2);
    m.insert("MaskedFill", masked_fill);
    m.insert("ReduceAny", |c| reduce_bool(c, true));
    m.insert("ReduceAll", |c| reduce_bool(c, false));
    m.insert("IsClose", is_close);
}

type Bin = fn(&Tensor, &Tensor) -> Result<Tensor, tch::TchError>;

fn is_int(k: Kind) -> bool {
    matches!(
        k,
        Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8
    )
}

fn cmp(c: &KCtx, bool_ok: bool, f: Bin) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    same_dtype(a, b)?;
    if a.kind() == Kind::Bool && !bool_ok {
        return Err("this comparison takes no BOOL operands".into());
    }
    Ok(vec![tc(f(a, b))?])
}

fn need_bool(t: &Tensor, what: &str) -> Result<(), String> {
    if t.kind() != Kind::Bool {
        return Err(format!("{what} must be BOOL, got {:?}", t.kind()));
    }
    Ok(())
}

fn logical(c: &KCtx, f: Bin) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    need_bool(a, "x1")?;
    need_bool(b, "x2")?;
    Ok(vec![tc(f(a, b))?])
}

fn logical_not(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    need_bool(x, "x")?;
    Ok(vec![tc(x.f_logical_not())?])
}

fn bitwise(c: &KCtx, f: Bin) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    same_dtype(a, b)?;
    if !is_int(a.kind()) {
        return Err(format!("takes integer operands, got {:?}", a.kind()));
    }
    Ok(vec![tc(f(a, b))?])
}

fn invert(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    if !is_int(x.kind()) {
        return Err(format!("takes an integer operand, got {:?}", x.kind()));
    }
    Ok(vec![tc(x.f_bitwise_not())?])
}

fn select_v2(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let cond = c.input("condition")?;
    let (a, b) = (c.input("then")?, c.input("else")?);
    need_bool(cond, "condition")?;
    same_dtype(a, b)?;
    if a.kind() == Kind::Bool {
        return Err("then/else take no BOOL".into());
    }
    Ok(vec![tc(a.f_where_self(cond, b))?])
}

fn masked_fill(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let mask = c.input("mask")?;
    let v = c.input("value")?;
    need_bool(mask, "mask")?;
    same_dtype(x, v)?;
    if v.numel() != 1 {
        return Err(format!("value must hold one element, got {:?}", v.size()));
    }
    let y = tc(x.f_masked_fill_tensor(mask, &v.reshape([] as [i64; 0])))?;
    if y.size() != x.size() {
        return Err(format!(
            "mask {:?} broadcasts x {:?} to a bigger shape",
            mask.size(),
            x.size()
        ));
    }
    Ok(vec![y])
}

fn reduce_bool(c: &KCtx, any: bool) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    need_bool(x, "x")?;
    let axes = int_values(c.input("axes")?)?;
    let keep = c.bool("keep_dims")?;
    if axes.is_empty() {
        return Ok(vec![x.shallow_clone()]);
    }
    let rank = x.dim() as i64;
    let mut dims: Vec<i64> = axes.iter().map(|&d| norm_dim(d, rank)).collect();
    if dims.iter().any(|&d| d < 0 || d >= rank) {
        return Err(format!("axes {axes:?} out of range for rank {rank}"));
    }
    dims.sort();
    dims.dedup();
    let mut y = x.shallow_clone();
    for &d in dims.iter().rev() {
        y = if any {
            tc(y.f_any_dim(d, keep))?
        } else {
            tc(y.f_all_dim(d, keep))?
        };
    }
    Ok(vec![y])
}

/// |x1 - x2| ≤ atol + rtol · |x2| (or equal), NaNs equal when equal_nan; one dtype.
fn is_close(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    same_dtype(a, b)?;
    let (rtol, atol) = (c.float("rtol")?, c.float("atol")?);
    Ok(vec![tc(a.f_isclose(b, rtol, atol, c.bool("equal_nan")?))?])
}
