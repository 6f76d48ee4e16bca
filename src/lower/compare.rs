//! Comparisons, logical ops, bitwise ops, where/masked_fill and any/all.
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, Value};

pub fn register(r: &mut Rules) {
    r.add(
        "aten::eq",
        |c| compare(c, "Equal"),
        "Equal(⇑t self, ⇑t other), t = torch.result_type",
    );
    r.add(
        "aten::ne",
        |c| compare(c, "NotEqual"),
        "NotEqual(⇑t self, ⇑t other), t = torch.result_type; BOOL operands ⇑UINT8",
    );
    r.add(
        "aten::lt",
        |c| compare(c, "Less"),
        "Less(⇑t self, ⇑t other), t = torch.result_type; BOOL operands ⇑UINT8",
    );
    r.add(
        "aten::le",
        |c| compare(c, "LessEqual"),
        "LessEqual(⇑t self, ⇑t other), t = torch.result_type; BOOL operands ⇑UINT8",
    );
    r.add(
        "aten::gt",
        |c| compare(c, "Greater"),
        "Greater(⇑t self, ⇑t other), t = torch.result_type; BOOL operands ⇑UINT8",
    );
    r.add(
        "aten::ge",
        |c| compare(c, "GreaterEqual"),
        "GreaterEqual(⇑t self, ⇑t other), t = torch.result_type; BOOL operands ⇑UINT8",
    );
    r.add(
        "aten::logical_and",
        |c| logical(c, "LogicalAnd"),
        "LogicalAnd(⇑BOOL self, ⇑BOOL other) [Cast out]",
    );
    r.add(
        "aten::logical_or",
        |c| logical(c, "LogicalOr"),
        "LogicalOr(⇑BOOL self, ⇑BOOL other) [Cast out]",
    );
    r.add(
        "aten::logical_xor",
        |c| logical(c, "NotEqual"),
        "NotEqual(⇑UINT8 ⇑BOOL self, ⇑UINT8 ⇑BOOL other) [Cast out] (GE has no LogicalXor)",
    );
    r.add(
        "aten::logical_not",
        logical_not,
        "LogicalNot(⇑BOOL self) [Cast out]",
    );
    const AND: &str = "BOOL: LogicalAnd; integers: BitwiseAnd (⇑out both)";
    const OR: &str = "BOOL: LogicalOr; integers: BitwiseOr (⇑out both)";
    const XOR: &str = "BOOL: NotEqual(⇑UINT8 both) → Cast BOOL; integers: BitwiseXor (⇑out both)";
    const NOT: &str = "BOOL: LogicalNot; integers: Invert";
    r.add("aten::bitwise_and", |c| bitwise(c, Bit::And), AND);
    r.add("aten::__and__", |c| bitwise(c, Bit::And), AND);
    r.add("aten::bitwise_or", |c| bitwise(c, Bit::Or), OR);
    r.add("aten::__or__", |c| bitwise(c, Bit::Or), OR);
    r.add("aten::bitwise_xor", |c| bitwise(c, Bit::Xor), XOR);
    r.add("aten::__xor__", |c| bitwise(c, Bit::Xor), XOR);
    r.add("aten::bitwise_not", bitwise_not, NOT);
    r.add(
        "aten::where",
        where_,
        "SelectV2(⇑BOOL condition, ⇑out self, ⇑out other) (BOOL out via UINT8); where(cond) alone is refused (data-dependent shape)",
    );
    r.add(
        "aten::masked_fill",
        masked_fill,
        "MaskedFill(self, ⇑BOOL mask, ⇑out value) for FLOAT/FLOAT16/BF16/INT8/INT32/INT64; other dtypes: SelectV2(mask, value, self)",
    );
    r.add(
        "aten::any",
        |c| any_all(c, "ReduceAny"),
        "ReduceAny(⇑BOOL self, K64(dims or all); keep_dims) [Cast out]; 0-D: Cast BOOL",
    );
    r.add(
        "aten::all",
        |c| any_all(c, "ReduceAll"),
        "ReduceAll(⇑BOOL self, K64(dims or all); keep_dims) [Cast out]; 0-D: Cast BOOL",
    );
    r.add(
        "aten::isclose",
        isclose,
        "IsClose(⇑t self, ⇑t other; rtol, atol, equal_nan), t = torch.result_type (BF16 via FLOAT)",
    );
}

fn isclose(c: &mut Ctx) -> RuleResult {
    let (a, b) = (c.in_dtype("self")?, c.in_dtype("other")?);
    if a != b {
        return Err(format!(
            "isclose of {} and {} tensors (PyTorch requires one dtype); fix: cast one to the other's dtype",
            a.name(),
            b.name()
        ));
    }
    let (rtol, atol) = (c.float("rtol")?, c.float("atol")?);
    if rtol < 0.0 || atol < 0.0 {
        return Err(format!(
            "isclose with rtol {rtol} and atol {atol}: both must be non-negative"
        ));
    }
    let equal_nan = c.bool("equal_nan")?;
    let t = if a == DType::BF16 { DType::F32 } else { a };
    let x = c.tensor_as("self", t)?;
    let y = c.tensor_as("other", t)?;
    Ok(vec![c.op1(
        "IsClose",
        vec![In::P(x), In::P(y)],
        vec![
            ("rtol", attr::float(rtol as f32)),
            ("atol", attr::float(atol as f32)),
            ("equal_nan", attr::boolean(equal_nan)),
        ],
        DType::Bool,
    )?])
}

/// A stand-in with the dtype and "dimensionality class" (0-D or not) of a tensor argument, so
/// libtorch itself can say what `torch.result_type` gives.
fn probe(t: &tch::Tensor) -> tch::Tensor {
    let shape: &[i64] = if t.dim() == 0 { &[] } else { &[1] };
    tch::Tensor::zeros(shape, (t.kind(), tch::Device::Cpu))
}

/// `torch.result_type(self, other)` where `other` is a tensor or a Python number.
pub fn result_type(c: &Ctx, a: &str, b: &str) -> Result<DType, String> {
    let ta = c.tensor_value(a)?;
    let pa = probe(&ta.tensor);
    let r = match c.arg(b)? {
        Value::Tensor(tb) => pa.f_add(&probe(&tb.tensor)),
        Value::Bool(x) => pa.f_add(&tch::Tensor::from(*x)),
        Value::Int(i) => pa.f_add_scalar(*i),
        Value::SymInt(s) => pa.f_add_scalar(s.value),
        Value::Float(f) => pa.f_add_scalar(*f),
        v => {
            return Err(format!(
                "argument '{b}' must be a tensor or a number, got {v:?}"
            ))
        }
    };
    let r = r.map_err(|e| format!("cannot promote the operands: {e}"))?;
    crate::dtype::of_tensor(&r)
}

fn compare(c: &mut Ctx, ty: &str) -> RuleResult {
    let mut t = result_type(c, "self", "other")?;
    // GE's order comparisons and NotEqual take no BOOL; UINT8 orders false < true the same way.
    if t == DType::Bool && ty != "Equal" {
        t = DType::U8;
    }
    let x = c.operand("self", t)?;
    let y = c.operand("other", t)?;
    let out = c.op1(ty, vec![In::P(x), In::P(y)], vec![], DType::Bool)?;
    let dt = c.out_dtype(0)?;
    Ok(vec![c.cast(out, dt)?])
}

fn logical(c: &mut Ctx, ty: &str) -> RuleResult {
    let x = c.operand("self", DType::Bool)?;
    let y = c.operand("other", DType::Bool)?;
    let out = if ty == "NotEqual" {
        let x = c.cast(x, DType::U8)?;
        let y = c.cast(y, DType::U8)?;
        c.op1(ty, vec![In::P(x), In::P(y)], vec![], DType::Bool)?
    } else {
        c.op1(ty, vec![In::P(x), In::P(y)], vec![], DType::Bool)?
    };
    let dt = c.out_dtype(0)?;
    Ok(vec![c.cast(out, dt)?])
}

fn logical_not(c: &mut Ctx) -> RuleResult {
    let x = c.tensor_as("self", DType::Bool)?;
    let out = c.op1("LogicalNot", vec![In::P(x)], vec![], DType::Bool)?;
    let dt = c.out_dtype(0)?;
    Ok(vec![c.cast(out, dt)?])
}

#[derive(Clone, Copy)]
enum Bit {
    And,
    Or,
    Xor,
}

fn bitwise(c: &mut Ctx, op: Bit) -> RuleResult {
    let out = c.out_dtype(0)?;
    if out.is_float() {
        return Err(format!(
            "bitwise ops take bool or integer tensors, got {}; fix: compare or cast first",
            out.name()
        ));
    }
    let x = c.operand("self", out)?;
    let y = c.operand("other", out)?;
    if out == DType::Bool {
        return Ok(vec![match op {
            Bit::And => c.op1("LogicalAnd", vec![In::P(x), In::P(y)], vec![], out)?,
            Bit::Or => c.op1("LogicalOr", vec![In::P(x), In::P(y)], vec![], out)?,
            Bit::Xor => {
                let x = c.cast(x, DType::U8)?;
                let y = c.cast(y, DType::U8)?;
                c.op1("NotEqual", vec![In::P(x), In::P(y)], vec![], out)?
            }
        }]);
    }
    let ty = match op {
        Bit::And => "BitwiseAnd",
        Bit::Or => "BitwiseOr",
        Bit::Xor => "BitwiseXor",
    };
    Ok(vec![c.op1(ty, vec![In::P(x), In::P(y)], vec![], out)?])
}

fn bitwise_not(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", out)?;
    match out {
        DType::Bool => Ok(vec![c.op1("LogicalNot", vec![In::P(x)], vec![], out)?]),
        d if d.is_float() => Err(format!(
            "bitwise_not takes bool or integer tensors, got {}",
            d.name()
        )),
        _ => Ok(vec![c.op1("Invert", vec![In::P(x)], vec![], out)?]),
    }
}

/// `SelectV2(cond, a, b)` of dtype `out`; BOOL values go through UINT8 (SelectV2 takes no BOOL).
pub fn select(c: &mut Ctx, cond: Port, a: Port, b: Port, out: DType) -> Result<Port, String> {
    if out != DType::Bool {
        return c.op1(
            "SelectV2",
            vec![In::P(cond), In::P(a), In::P(b)],
            vec![],
            out,
        );
    }
    let a = c.cast(a, DType::U8)?;
    let b = c.cast(b, DType::U8)?;
    let y = c.op1(
        "SelectV2",
        vec![In::P(cond), In::P(a), In::P(b)],
        vec![],
        DType::U8,
    )?;
    c.cast(y, DType::Bool)
}

fn where_(c: &mut Ctx) -> RuleResult {
    if !c.has("self") {
        return Err("where(condition) returns indices whose count depends on the data; fix: use the three-argument torch.where(condition, x, y)".into());
    }
    let out = c.out_dtype(0)?;
    let cond = c.tensor_as("condition", DType::Bool)?;
    let a = c.operand("self", out)?;
    let b = c.operand("other", out)?;
    Ok(vec![select(c, cond, a, b, out)?])
}

fn masked_fill(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if c.out_desc_shape(0)? != c.in_desc_shape("self")? {
        return Err("the mask broadcasts self to a bigger shape; fix: expand self first".into());
    }
    let x = c.tensor_as("self", out)?;
    let mask = c.tensor_as("mask", DType::Bool)?;
    let v = c.operand("value", out)?;
    use DType::*;
    if matches!(out, F32 | F16 | BF16 | I8 | I32 | I64) {
        Ok(vec![c.op1(
            "MaskedFill",
            vec![In::P(x), In::P(mask), In::P(v)],
            vec![],
            out,
        )?])
    } else {
        Ok(vec![select(c, mask, v, x, out)?])
    }
}

/// The dims a reduction names: `dim` as an int, a list, or None/absent for all.
pub fn reduce_dims(c: &Ctx, rank: i64) -> Result<Vec<i64>, String> {
    let dims: Vec<i64> = if c.has("dim") {
        match c.arg("dim")? {
            Value::List(_) => c.ints("dim")?,
            _ => vec![c.int("dim")?],
        }
    } else {
        vec![]
    };
    Ok(if dims.is_empty() {
        (0..rank).collect()
    } else {
        dims.into_iter().map(|d| Ctx::dim(d, rank)).collect()
    })
}

fn any_all(c: &mut Ctx, ty: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let x = c.tensor_as("self", DType::Bool)?;
    if rank == 0 {
        return Ok(vec![c.cast(x, out)?]);
    }
    let dims = reduce_dims(c, rank)?;
    let keep = c.has("keepdim") && c.bool("keepdim")?;
    let axes = c.const_i64(&dims)?;
    let y = c.op1(
        ty,
        vec![In::P(x), In::P(axes)],
        vec![("keep_dims", attr::boolean(keep))],
        DType::Bool,
    )?;
    Ok(vec![c.cast(y, out)?])
}
