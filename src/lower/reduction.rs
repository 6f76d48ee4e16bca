//! Reductions over dims.
use super::{Ctx, RuleResult, Rules};
use crate::ge::{attr, In};

pub fn register(r: &mut Rules) {
    r.add(
        "aten::mean",
        |c| reduce(c, "ReduceMean"),
        "[Cast out] → ReduceMean(x, K64(dims or all); keep_dims)",
    );
    r.add(
        "aten::sum",
        |c| reduce(c, "ReduceSum"),
        "[Cast out] → ReduceSum(x, K64(dims or all); keep_dims)",
    );
}

fn reduce(c: &mut Ctx, ty: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let dims: Vec<i64> = if c.has("dim") {
        match c.arg("dim")? {
            crate::value::Value::List(_) => c.ints("dim")?,
            _ => vec![c.int("dim")?],
        }
    } else {
        vec![]
    };
    let dims: Vec<i64> = if dims.is_empty() {
        (0..rank).collect()
    } else {
        dims.into_iter().map(|d| Ctx::dim(d, rank)).collect()
    };
    let keep = c.has("keepdim") && c.bool("keepdim")?;
    let x = c.tensor_as("self", out)?;
    let axes = c.const_i64(&dims)?;
    Ok(vec![c.op1(
        ty,
        vec![In::P(x), In::P(axes)],
        vec![("keep_dims", attr::boolean(keep))],
        out,
    )?])
}
