//! Shape and layout ops: reshape family, transposes, (un)squeeze, concatenation.
use super::{sym, Ctx, RuleResult, Rules};
use crate::ge::{attr, In};
use crate::value::{Port, Value};

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
    const LAST2: &str = "Transpose(x, K64(perm with the last two dims swapped)) (real tensors)";
    r.add("aten::mT", last_two, LAST2);
    r.add("aten::mH", last_two, LAST2);
    r.add("aten::matrix_H", last_two, LAST2);
    r.add(
        "aten::numpy_T",
        numpy_t,
        "Transpose(x, K64(dims reversed)); rank < 2: nothing",
    );
    r.add(
        "aten::movedim.intlist",
        movedim,
        "Transpose(x, K64(perm moving source dims to destination))",
    );
    r.add("aten::ravel", reshape, "Reshape(x, K64([-1]))");
    r.add("aten::real", same, "nothing (real tensors)");
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
    // Real tensors only (torch2air has no complex dtypes): these return their input's values.
    r.add("aten::alias_copy", same, "nothing");
    r.add("aten::positive", same, "nothing");
    r.add("aten::resolve_neg", same, "nothing (real tensors)");
    r.add("aten::resolve_conj", same, "nothing (real tensors)");
    r.add("aten::conj_physical", same, "nothing (real tensors)");
    r.add(
        "aten::select.int",
        select,
        "GatherV2(x, indices=K64(index normalised, 0-D), axis=K64(dim))",
    );
    r.add(
        "aten::copy",
        copy,
        "src cast to self's dtype, BroadcastTo(self's shape) when smaller (copy_ writes it into self)",
    );
    r.add(
        "aten::narrow",
        narrow,
        "StridedSliceV2(x, begin=[start], end=[start+length] (computed in the graph when dynamic), axes=[dim]); narrow.Tensor: begin = FloorMod(Reshape(⇑INT64 start, [1]), K64(size))",
    );
    r.add("aten::slice.Tensor", slice, "StridedSliceV2(x, begin=K64([start]), end=K64([end]), axes=K64([dim]), strides=K64([step])); nothing for a full slice");
    r.add(
        "aten::cat",
        cat,
        "ConcatV2(x0..xN-1 ⇑out, concat_dim=K64(dim); N)",
    );
}

fn same(c: &mut Ctx) -> RuleResult {
    Ok(vec![c.tensor("self")?])
}

/// Every reshape-like op: the output shape is known from the concrete result. In a dynamic export
/// an output with one dynamic dim is a Const shape with -1 there; with more, the shape is computed
/// in the graph from the op's own size arguments or the input's dims.
fn reshape(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor("self")?;
    let dynamic = c.out_dynamic(0)?;
    let n_dyn = dynamic.iter().filter(|d| **d).count();
    let shape = if n_dyn == 0 {
        let shape = c.out_shape(0)?;
        if c.in_dims("self")?.iter().all(Option::is_some) && c.in_shape("self")? == shape {
            return Ok(vec![x]);
        }
        c.const_i64(&shape)?
    } else if n_dyn == 1 {
        let shape: Vec<i64> = c.outputs[0]
            .as_tensor()
            .ok_or("internal: reshape output")?
            .desc_shape();
        c.const_i64(&shape)?
    } else {
        dynamic_shape(c)?
    };
    Ok(vec![c.op1(
        "Reshape",
        vec![In::P(x), In::P(shape)],
        vec![],
        out,
    )?])
}

/// The target shape of a reshape-like op with several dynamic output dims, computed in the graph.
fn dynamic_shape(c: &mut Ctx) -> Result<Port, String> {
    let op = c
        .node
        .op_name()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    // `view_copy` (functionalization's copy of a view) takes view's arguments.
    let op = op.strip_suffix("_copy").unwrap_or(&op);
    match op {
        "aten::view" | "aten::reshape" => c.ints_port(if c.has("size") { "size" } else { "shape" }),
        "aten::view_as" | "aten::reshape_as" => {
            let other = c.tensor_value("other")?.clone();
            let rank = other.tensor.dim();
            let dims = (0..rank)
                .map(|d| sym::dim_port(c.b, c.mat, &other, d))
                .collect::<Result<Vec<_>, _>>()?;
            sym::pack(c.b, dims)
        }
        "aten::flatten" => {
            let rank = c.rank("self")? as i64;
            let (s, e) = (
                Ctx::dim(c.int("start_dim")?, rank),
                Ctx::dim(c.int("end_dim")?, rank),
            );
            let mut parts = vec![];
            for d in 0..s {
                parts.push(c.dim_port("self", d as usize)?);
            }
            parts.push(c.scalar_i64(-1)?);
            for d in e + 1..rank {
                parts.push(c.dim_port("self", d as usize)?);
            }
            sym::pack(c.b, parts)
        }
        "aten::unflatten" => {
            let rank = c.rank("self")? as i64;
            let d = Ctx::dim(c.int("dim")?, rank);
            let sizes = match c.arg("sizes")? {
                Value::List(v) | Value::Tuple(v) => v.clone(),
                _ => return Err("unflatten sizes must be a list".into()),
            };
            let mut parts = vec![];
            for i in 0..d {
                parts.push(c.dim_port("self", i as usize)?);
            }
            for v in &sizes {
                parts.push(c.int_port(v)?);
            }
            for i in d + 1..rank {
                parts.push(c.dim_port("self", i as usize)?);
            }
            sym::pack(c.b, parts)
        }
        _ => Err(format!(
            "{op} with several dynamic dims is not supported yet"
        )),
    }
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
    let rank = c.rank("self")? as i64;
    let (d0, d1) = (
        Ctx::dim(c.int("dim0")?, rank),
        Ctx::dim(c.int("dim1")?, rank),
    );
    let mut perm: Vec<i64> = (0..rank).collect();
    perm.swap(d0 as usize, d1 as usize);
    transpose_perm(c, perm)
}

fn permute(c: &mut Ctx) -> RuleResult {
    let rank = c.rank("self")? as i64;
    let perm = c
        .ints("dims")?
        .into_iter()
        .map(|d| Ctx::dim(d, rank))
        .collect();
    transpose_perm(c, perm)
}

/// `x.mT` (and `mH`, `matrix_H` of real tensors): the last two dims swapped.
fn last_two(c: &mut Ctx) -> RuleResult {
    let rank = c.rank("self")? as i64;
    if rank < 2 {
        return Err(format!(
            "{} needs at least 2 dims, got {rank}",
            c.node.op_name()
        ));
    }
    let mut perm: Vec<i64> = (0..rank).collect();
    perm.swap(rank as usize - 2, rank as usize - 1);
    transpose_perm(c, perm)
}

fn numpy_t(c: &mut Ctx) -> RuleResult {
    let rank = c.rank("self")? as i64;
    transpose_perm(c, (0..rank).rev().collect())
}

/// `movedim(x, source, destination)`: the source dims go to the destination positions, the
/// others keep their order in the remaining places.
fn movedim(c: &mut Ctx) -> RuleResult {
    let rank = c.rank("self")? as i64;
    let src: Vec<i64> = c
        .ints("source")?
        .into_iter()
        .map(|d| Ctx::dim(d, rank))
        .collect();
    let dst: Vec<i64> = c
        .ints("destination")?
        .into_iter()
        .map(|d| Ctx::dim(d, rank))
        .collect();
    if src.len() != dst.len() {
        return Err("movedim needs as many source dims as destination dims".into());
    }
    let mut perm = vec![-1i64; rank as usize];
    for (s, d) in src.iter().zip(&dst) {
        perm[*d as usize] = *s;
    }
    let mut rest = (0..rank).filter(|d| !src.contains(d));
    for p in perm.iter_mut().filter(|p| **p < 0) {
        *p = rest.next().ok_or("movedim: repeated dims")?;
    }
    transpose_perm(c, perm)
}

fn t(c: &mut Ctx) -> RuleResult {
    if c.rank("self")? < 2 {
        return same(c);
    }
    transpose_perm(c, vec![1, 0])
}

fn unsqueeze(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
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
    // A dynamic dim is never squeezed (its probe size is not 1).
    let shape = c.in_dims("self")?;
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
        .filter(|&d| shape.get(d as usize) == Some(&Some(1)))
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
    let rank = c.out_rank(0)? as i64;
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
    let dims = c.in_dims("self")?;
    let dim = Ctx::dim(c.int("dim")?, dims.len() as i64);
    let index = c.arg("index")?.clone();
    let x = c.tensor("self")?;
    let idx = match (dims[dim as usize], index.is_symbolic()) {
        (Some(size), false) => {
            let i = c.int("index")?;
            c.scalar_i64(if i < 0 { i + size } else { i })?
        }
        (None, false) if c.int("index")? < 0 => {
            // A negative index on a dynamic dim counts from its run-time size.
            let size = c.dim_port("self", dim as usize)?;
            let i = c.scalar_i64(c.int("index")?)?;
            c.op1(
                "Add",
                vec![In::P(size), In::P(i)],
                vec![],
                crate::dtype::DType::I64,
            )?
        }
        _ => c.int_port(&index)?,
    };
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
    let dims = c.in_dims("self")?;
    let dim = Ctx::dim(c.int("dim")?, dims.len() as i64);
    let step = c.int("step")?;
    let (start, end) = (c.arg("start")?.clone(), c.arg("end")?.clone());
    let x = c.tensor("self")?;
    let (b, e) = match dims[dim as usize] {
        Some(size) if !start.is_symbolic() && !end.is_symbolic() => {
            let start = clamp_bound(start.as_int(), 0, size);
            let end = clamp_bound(end.as_int(), size, size).max(start);
            if start == 0 && end == size && step == 1 {
                return Ok(vec![x]);
            }
            (c.const_i64(&[start])?, c.const_i64(&[end])?)
        }
        _ => {
            // A slice of a dynamic dim with constant bounds that came out the same length for
            // the sample and the probe was clamped: other sizes may give another length.
            // `[:1]`, `[0:1]`: the same for every size >= 1, so nothing to assume.
            let first_only = start.as_int().unwrap_or(0) >= 0
                && end.as_int().is_some_and(|e| (0..=1).contains(&e));
            if dims[dim as usize].is_none()
                && !start.is_symbolic()
                && !end.is_symbolic()
                && !first_only
                && !c.out_dynamic(0)?[dim as usize]
            {
                let len = c.out_desc_shape(0)?[dim as usize];
                c.assumptions.push(format!(
                    "a slice [{}:{}] of a dynamic dim keeps {len} element(s); sizes that give another length need another export",
                    start.as_int().map(|v| v.to_string()).unwrap_or_default(),
                    end.as_int().map(|v| v.to_string()).unwrap_or_default(),
                ));
            }
            // A dynamic dim or bound: StridedSliceV2 takes Python's bounds itself (negative from
            // the end, clamped to the size), so they are passed as given.
            let bound = |c: &mut Ctx, v: &Value, default: i64| -> Result<Port, String> {
                match v {
                    Value::None => c.const_i64(&[default]),
                    v if v.is_symbolic() => {
                        let p = c.int_port(v)?;
                        sym::pack(c.b, vec![p])
                    }
                    v => c.const_i64(&[v.as_int().ok_or("slice bound must be an int")?]),
                }
            };
            let b = bound(c, &start, 0)?;
            let e = bound(c, &end, i64::MAX)?;
            (b, e)
        }
    };
    let a = c.const_i64(&[dim])?;
    let s = c.const_i64(&[step])?;
    Ok(vec![c.op1(
        "StridedSliceV2",
        vec![In::P(x), In::P(b), In::P(e), In::P(a), In::P(s)],
        vec![],
        out,
    )?])
}

fn narrow(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let dim = Ctx::dim(c.int("dim")?, rank);
    let (start, length) = (c.arg("start")?.clone(), c.arg("length")?.clone());
    let x = c.tensor("self")?;
    let (b, e) = if let Value::Tensor(t) = &start {
        // narrow.Tensor: the start is data (a 0-D tensor), read in the graph and wrapped into
        // [0, size) as PyTorch does; the length (and so the shape) is static.
        let size = c.in_dims("self")?[dim as usize];
        let l = c.int("length")?;
        let t = t.clone();
        let p = c.port(&t)?;
        let p = c.cast(p, crate::dtype::DType::I64)?;
        let p = c.reshape_const(p, &[1], crate::dtype::DType::I64)?;
        // The dim's size (from Shape when dynamic), at least 1.
        let n = match size {
            Some(k) => c.scalar_i64(k.max(1))?,
            None => {
                let d = c.dim_port("self", dim as usize)?;
                let one = c.scalar_i64(1)?;
                c.bin("Maximum", d, one, crate::dtype::DType::I64)?
            }
        };
        let s = c.op1(
            "FloorMod",
            vec![In::P(p), In::P(n)],
            vec![],
            crate::dtype::DType::I64,
        )?;
        let kl = c.const_i64(&[l])?;
        let e = c.op1(
            "Add",
            vec![In::P(s), In::P(kl)],
            vec![],
            crate::dtype::DType::I64,
        )?;
        (s, e)
    } else if start.is_symbolic() || length.is_symbolic() {
        let s = c.int_port(&start)?;
        let l = c.int_port(&length)?;
        let e = c.op1(
            "Add",
            vec![In::P(s), In::P(l)],
            vec![],
            crate::dtype::DType::I64,
        )?;
        (sym::pack(c.b, vec![s])?, sym::pack(c.b, vec![e])?)
    } else {
        let (s, l) = (c.int("start")?, c.int("length")?);
        // A negative start counts from the end of the dim (only static dims reach here
        // with one, as PyTorch wraps it before the size is known).
        let s = if s < 0 {
            let size = match c.in_dims("self")?[dim as usize] {
                Some(size) => size,
                None => {
                    let size = c.tensor_value("self")?.tensor.size()[dim as usize];
                    c.bake(format!(
                        "narrow with a negative start ({s}) takes the size of dim {dim} as the constant {size}"
                    ));
                    size
                }
            };
            s + size
        } else {
            s
        };
        (c.const_i64(&[s])?, c.const_i64(&[s + l])?)
    };
    let a = c.const_i64(&[dim])?;
    let st = c.const_i64(&[1])?;
    Ok(vec![c.op1(
        "StridedSliceV2",
        vec![In::P(x), In::P(b), In::P(e), In::P(a), In::P(st)],
        vec![],
        out,
    )?])
}

/// `self.copy_(src)`: self's new value is src, cast to self's dtype and broadcast to its shape
/// (the walker writes it back into whatever self is a view of).
fn copy(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let src = c.tensor_as("src", out)?;
    if c.in_desc_shape("src")? == c.out_desc_shape(0)? {
        return Ok(vec![src]);
    }
    let shape = c.shape_port("self")?;
    Ok(vec![c.op1(
        "BroadcastTo",
        vec![In::P(src), In::P(shape)],
        vec![],
        out,
    )?])
}
