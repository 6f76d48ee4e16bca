//! Tensors made from a shape and a value: the `_like` and `new_` forms. (`arange`, `zeros`,
//! `ones`, `full` take no tensor, so the walker folds them into `Const`s and no rule runs.)
use super::{Ctx, RuleResult, Rules};
use crate::ge::In;

pub fn register(r: &mut Rules) {
    const FILL: &str = "Fill(dims=K64(output shape), value=Kout(v))";
    r.add("aten::zeros_like", |c| fill(c, Some(0.0)), FILL);
    r.add("aten::ones_like", |c| fill(c, Some(1.0)), FILL);
    r.add("aten::full_like", |c| fill(c, None), FILL);
    r.add("aten::new_zeros", |c| fill(c, Some(0.0)), FILL);
    r.add("aten::new_ones", |c| fill(c, Some(1.0)), FILL);
    r.add("aten::new_full", |c| fill(c, None), FILL);
}

/// `value` None: the op's `fill_value` argument.
fn fill(c: &mut Ctx, value: Option<f64>) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.out_shape(0)?;
    let v = match value {
        Some(v) => c.scalar(v, out)?,
        None => c.operand("fill_value", out)?,
    };
    let dims = c.const_i64(&shape)?;
    Ok(vec![c.op1(
        "Fill",
        vec![In::P(dims), In::P(v)],
        vec![],
        out,
    )?])
}
