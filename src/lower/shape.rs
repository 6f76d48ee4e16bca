//! Shape and layout ops: reshape family, transposes, (un)squeeze, concatenation.
use super::{Ctx, RuleResult, Rules};
use crate::ge::{attr, In};

pub fn register(r: &mut Rules) {
    r.add("aten::view", reshape, "Reshape(x, K64(shape))");
    r.add("aten::reshape", reshape, "Reshape(x, K64(shape))");
    r.add("aten::flatten", reshape, "Reshape(x, K64(flattened shape))");
    r.add("aten::unflatten", reshape, "Reshape(x, K64(shape))");
    r.add("aten::view_as", reshape, "Reshape(x, K64(shape))");
    r.add("aten::reshape_as", reshape, "Reshape(x, K64(shape))");
    r.add(
        "aten::transpose",
        transpose,
        "Transpose(x, K64(perm with dim0↔dim1))",
    );
    r.add("aten::permute", permute, "Transpose(x, K64(dims))");
    r.add(
        "aten::t",
        t,
        "rank 2: Transpose(x, K64([1,0])); else nothing",
    );
    r.add("aten::unsqueeze", unsqueeze, "Unsqueeze(axes=[dim])");
    r.add(
        "aten::squeeze",
        squeeze,
        "Squeeze(axis=[dims of size 1]); nothing when no dim is 1",
    );
    r.add(
        "aten::contiguous",
        same,
        "nothing (GE tensors have no strides)",
    );
    r.add(
        "aten::clone",
        same,
        "nothing (values are immutable in the graph)",
    );
    r.add("aten::detach", same, "nothing");
    r.add(
        "aten::select.int",
        select,
        "GatherV2(x, indices=K64(index normalised, 0-D), axis=K64(dim))",
    );
    r.add("aten::slice.Tensor", slice, "StridedSliceV2(x, begin=K64([start]), end=K64([end]), axes=K64([dim]), strides=K64([step])); nothing for a full slice");
    r.add(
        "aten::cat",
        cat,
        "ConcatV2(x0..xN-1 ⇑out, concat_dim=K64(dim); N)",
    );
    r.add(
        "aten::concat",
        cat,
        "ConcatV2(x0..xN-1 ⇑out, concat_dim=K64(dim); N)",
    );
}

fn same(c: &mut Ctx) -> RuleResult {
    Ok(vec![c.tensor("self")?])
}

/// Every reshape-like op: the output shape is known from the concrete result.
fn reshape(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor("self")?;
    let shape = c.out_shape(0)?;
    if c.in_shape("self")? == shape {
        return Ok(vec![x]);
    }
    let s = c.const_i64(&shape)?;
    Ok(vec![c.op1(
        "Reshape",
        vec![In::P(x), In::P(s)],
        vec![],
        out,
    )?])
}

fn transpose_perm(c: &mut Ctx, perm: Vec<i64>) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor("self")?;
    if perm.iter().enumerate().all(|(i, p)| *p == i as i64) {
        return Ok(vec![x]);
    }
    let p = c.const_i64(&perm)?;
    Ok(vec![c.op1(
        "Transpose",
        vec![In::P(x), In::P(p)],
        vec![],
        out,
    )?])
}

fn transpose(c: &mut Ctx) -> RuleResult {
    let rank = c.in_shape("self")?.len() as i64;
    let (d0, d1) = (
        Ctx::dim(c.int("dim0")?, rank),
        Ctx::dim(c.int("dim1")?, rank),
    );
    let mut perm: Vec<i64> = (0..rank).collect();
    perm.swap(d0 as usize, d1 as usize);
    transpose_perm(c, perm)
}

fn permute(c: &mut Ctx) -> RuleResult {
    let rank = c.in_shape("self")?.len() as i64;
    let perm = c
        .ints("dims")?
        .into_iter()
        .map(|d| Ctx::dim(d, rank))
        .collect();
    transpose_perm(c, perm)
}

fn t(c: &mut Ctx) -> RuleResult {
    if c.in_shape("self")?.len() < 2 {
        return same(c);
    }
    transpose_perm(c, vec![1, 0])
}

fn unsqueeze(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.in_shape("self")?.len() as i64;
    let d = c.int("dim")?;
    let d = if d < 0 { d + rank + 1 } else { d };
    let x = c.tensor("self")?;
    Ok(vec![c.op1(
        "Unsqueeze",
        vec![In::P(x)],
        vec![("axes", attr::list_int(vec![d]))],
        out,
    )?])
}

fn squeeze(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    let rank = shape.len() as i64;
    let candidates: Vec<i64> = if c.has("dim") {
        match c.arg("dim")? {
            crate::value::Value::List(_) => c.ints("dim")?,
            _ => vec![c.int("dim")?],
        }
    } else {
        (0..rank).collect()
    };
    let axes: Vec<i64> = candidates
        .into_iter()
        .map(|d| Ctx::dim(d, rank))
        .filter(|&d| shape.get(d as usize) == Some(&1))
        .collect();
    let x = c.tensor("self")?;
    if axes.is_empty() {
        return Ok(vec![x]);
    }
    Ok(vec![c.op1(
        "Squeeze",
        vec![In::P(x)],
        vec![("axis", attr::list_int(axes))],
        out,
    )?])
}

fn cat(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let items: Vec<_> = match c.arg("tensors")? {
        crate::value::Value::List(v) | crate::value::Value::Tuple(v) => v.clone(),
        _ => return Err("cat expects a list of tensors".into()),
    };
    let rank = c.out_shape(0)?.len() as i64;
    let mut ports = vec![];
    for v in &items {
        let t = v.as_tensor().ok_or("cat expects a list of tensors")?;
        // ATen skips legacy empty 1-D tensors in cat.
        if t.tensor.dim() == 1 && t.tensor.size()[0] == 0 && rank != 1 {
            continue;
        }
        let p = c.port(t)?;
        ports.push(c.cast(p, out)?);
    }
    if ports.len() == 1 {
        return Ok(ports);
    }
    let dim = Ctx::dim(c.int("dim")?, rank);
    let d = c.scalar_i64(dim)?;
    let n = ports.len() as i64;
    Ok(vec![c.op1(
        "ConcatV2",
        vec![In::Dyn(ports), In::P(d)],
        vec![("N", attr::int(n))],
        out,
    )?])
}

fn select(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    let dim = Ctx::dim(c.int("dim")?, shape.len() as i64);
    let size = shape[dim as usize];
    let i = c.int("index")?;
    let i = if i < 0 { i + size } else { i };
    let x = c.tensor("self")?;
    let idx = c.scalar_i64(i)?;
    let axis = c.scalar_i64(dim)?;
    Ok(vec![c.op1(
        "GatherV2",
        vec![In::P(x), In::P(idx), In::P(axis)],
        vec![],
        out,
    )?])
}

/// ATen's slice bounds: None = whole, negative counts from the end, clamped to [0, size].
fn clamp_bound(v: Option<i64>, default: i64, size: i64) -> i64 {
    let v = v.unwrap_or(default);
    let v = if v < 0 { v + size } else { v };
    v.clamp(0, size)
}

fn slice(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    let dim = Ctx::dim(c.int("dim")?, shape.len() as i64);
    let size = shape[dim as usize];
    let start = clamp_bound(c.arg("start")?.as_int(), 0, size);
    let end = clamp_bound(c.arg("end")?.as_int(), size, size).max(start);
    let step = c.int("step")?;
    let x = c.tensor("self")?;
    if start == 0 && end == size && step == 1 {
        return Ok(vec![x]);
    }
    let b = c.const_i64(&[start])?;
    let e = c.const_i64(&[end])?;
    let a = c.const_i64(&[dim])?;
    let s = c.const_i64(&[step])?;
    Ok(vec![c.op1(
        "StridedSliceV2",
        vec![In::P(x), In::P(b), In::P(e), In::P(a), In::P(s)],
        vec![],
        out,
    )?])
}
