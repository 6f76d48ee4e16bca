//! Helpers shared by the op families of NCHW tensors (conv, pool, norm, resize, pad,
//! activation): which argument is the input, the dtype an op runs in where its GE prototype
//! lacks the model's (bf16, f64), and the Unsqueeze/Squeeze that carry 1-D and unbatched inputs
//! to the 2-D ops.
//!
//! Layout: every conv/pool/norm/resize op gets `data_format="NCHW"` (PyTorch's layout), as
//! TorchAir's converters set it (aten-to-ge.md 1.6). Int-list arguments (strides, pads, ksize)
//! are attrs; shapes and sizes are read through `Ctx`.
use super::{Ctx, RuleResult};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, Value};

/// The first tensor argument: `input` in some schemas, `self` in others.
pub(super) fn xname(c: &Ctx) -> &'static str {
    if c.has("input") {
        "input"
    } else {
        "self"
    }
}

/// The dtype to run GE op `ty` in for a result of dtype `dt`: `dt` itself when the prototype's
/// first input lists it, else FLOAT when that is listed (bf16 models: BNInfer, pools, resizes,
/// HardSwish...; f64: Conv2D), with Casts around, as TorchAir upcasts for GridSampler2D.
pub(super) fn work_dtype(ty: &str, dt: DType) -> DType {
    input_dtype(ty, None, dt)
}

/// The dtype for input `input` (default: the first) of GE op `ty` for a value of dtype `dt`:
/// `dt` when the prototype lists it, else FLOAT when listed.
pub(super) fn input_dtype(ty: &str, input: Option<&str>, dt: DType) -> DType {
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
pub(super) fn back(c: &mut Ctx, y: Port, res: DType) -> RuleResult {
    Ok(vec![c.cast(y, res)?])
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
pub(super) fn spatial(
    c: &Ctx,
    name: &str,
    n: usize,
    default: Option<&[i64]>,
) -> Result<Vec<i64>, String> {
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
