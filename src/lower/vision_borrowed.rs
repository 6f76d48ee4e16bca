//! Transformer-side ops the vision/recurrent models need (ViT, nn.TransformerEncoder with a key
//! padding mask) whose family another helper owns. Kept in this file so the lead can dedupe them
//! against that helper's rules when merging.
use super::{Ctx, RuleResult, Rules};
use crate::ge::In;

pub fn register(r: &mut Rules) {
    r.add("aten::zeros_like", zeros_like, "[Cast out] → ZerosLike");
    r.add(
        "aten::masked_fill",
        masked_fill,
        "MaskedFill(x ⇑out, mask (BOOL), value Kout/⇑out)",
    );
    r.add(
        "aten::expand",
        expand,
        "BroadcastTo(x, K64(output shape)); nothing when the shape is unchanged",
    );
    r.add(
        "aten::logical_not",
        logical_not,
        "LogicalNot(x as BOOL) [Cast out]",
    );
}

fn zeros_like(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", out)?;
    Ok(vec![c.op1("ZerosLike", vec![In::P(x)], vec![], out)?])
}

fn masked_fill(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if c.in_shape("self")? != c.out_shape(0)? {
        return Err(
            "masked_fill whose mask broadcasts self to a larger shape is not supported".into(),
        );
    }
    let x = c.tensor_as("self", out)?;
    let mask = c.tensor_as("mask", crate::dtype::DType::Bool)?;
    let v = c.operand("value", out)?;
    Ok(vec![c.op1(
        "MaskedFill",
        vec![In::P(x), In::P(mask), In::P(v)],
        vec![],
        out,
    )?])
}

fn expand(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.out_shape(0)?;
    let x = c.tensor_as("self", out)?;
    if c.in_shape("self")? == shape {
        return Ok(vec![x]);
    }
    let s = c.const_i64(&shape)?;
    Ok(vec![c.op1(
        "BroadcastTo",
        vec![In::P(x), In::P(s)],
        vec![],
        out,
    )?])
}

fn logical_not(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", crate::dtype::DType::Bool)?;
    let y = c.op1(
        "LogicalNot",
        vec![In::P(x)],
        vec![],
        crate::dtype::DType::Bool,
    )?;
    Ok(vec![c.cast(y, out)?])
}
