//! Tensors made from a shape and a value: the `_like` and `new_` forms, and `arange`, `zeros`,
//! `ones`, `full`, `empty`. Those last take no tensor, so in a static export (and whenever their
//! sizes are plain ints) the walker folds them into `Const`s and no rule runs; their rules run in
//! dynamic exports, when a size depends on a dynamic dim.
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::In;
use crate::value::Value;

pub fn register(r: &mut Rules) {
    const FILL: &str = "Fill(dims=K64(output shape), value=Kout(v))";
    r.add("aten::zeros_like", |c| fill(c, Some(0.0)), FILL);
    r.add("aten::ones_like", |c| fill(c, Some(1.0)), FILL);
    r.add("aten::full_like", |c| fill(c, None), FILL);
    r.add("aten::new_zeros", |c| fill(c, Some(0.0)), FILL);
    r.add("aten::new_ones", |c| fill(c, Some(1.0)), FILL);
    r.add("aten::new_full", |c| fill(c, None), FILL);
    r.add("aten::fill", |c| fill(c, None), FILL);
    // Uninitialised memory in PyTorch: any value is right, zeros are deterministic.
    const EMPTY: &str =
        "Fill(dims=K64(output shape), value=Kout(0)) (the elements are unspecified in PyTorch)";
    r.add("aten::new_empty", |c| fill(c, Some(0.0)), EMPTY);
    r.add("aten::empty_like", |c| fill(c, Some(0.0)), EMPTY);
    r.add("aten::zero", |c| fill(c, Some(0.0)), FILL);
    const SIZED: &str = "Fill(dims=K64(size) or its shape computation, value=Kout(v)) (dynamic sizes only; else folded)";
    r.add("aten::zeros", |c| fill(c, Some(0.0)), SIZED);
    r.add("aten::ones", |c| fill(c, Some(1.0)), SIZED);
    r.add("aten::full", |c| fill(c, None), SIZED);
    r.add("aten::empty", |c| fill(c, Some(0.0)), SIZED);
    r.add(
        "aten::arange",
        arange,
        "Range(start, limit, delta) in INT64 or the output float dtype, then Cast (dynamic bounds only; else folded)",
    );
}

/// The dims of the output: `size` when the op has it, else the shape of `self` (`_like`).
fn dims_of(c: &mut Ctx) -> Result<super::Port, String> {
    if !c.out_dynamic(0)?.iter().any(|d| *d) {
        let shape = c.out_shape(0)?;
        return c.const_i64(&shape);
    }
    if c.node.args.iter().any(|a| a == "size") {
        c.ints_port("size")
    } else {
        c.shape_port("self")
    }
}

fn arange(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let arg = |c: &Ctx, n: &str| -> Option<Value> {
        c.node
            .args
            .iter()
            .any(|a| a == n)
            .then(|| c.arg(n).ok().cloned())
            .flatten()
    };
    let start = arg(c, "start").unwrap_or(Value::Int(0));
    let end = arg(c, "end").ok_or("arange without end")?;
    let step = arg(c, "step").unwrap_or(Value::Int(1));
    let ints = [&start, &end, &step]
        .iter()
        .all(|v| matches!(v, Value::Int(_) | Value::SymInt(_)));
    let work = if ints { DType::I64 } else { out };
    let mut ports = vec![];
    for v in [&start, &end, &step] {
        let p = match v {
            Value::Int(_) | Value::SymInt(_) => {
                let p = c.int_port(v)?;
                c.cast(p, work)?
            }
            v => {
                let x = v.as_f64().ok_or("arange bounds must be numbers")?;
                c.scalar(x, work)?
            }
        };
        ports.push(p);
    }
    let y = c.op1(
        "Range",
        ports.into_iter().map(In::P).collect(),
        vec![],
        work,
    )?;
    Ok(vec![c.cast(y, out)?])
}

/// `value` None: the op's `fill_value` (or, for `fill_`, `value`) argument.
fn fill(c: &mut Ctx, value: Option<f64>) -> RuleResult {
    let out = c.out_dtype(0)?;
    let v = match value {
        Some(v) => c.scalar(v, out)?,
        None if c.has("fill_value") => c.operand("fill_value", out)?,
        None => c.operand("value", out)?,
    };
    let dims = dims_of(c)?;
    Ok(vec![c.op1(
        "Fill",
        vec![In::P(dims), In::P(v)],
        vec![],
        out,
    )?])
}
