//! Reducing scatters and index writes: `scatter_reduce`, `index_reduce`, `index_copy`,
//! `index_fill`, `put`, and `take_along_dim`. Each turns its index into an element-wise one (of
//! the updates' shape) and uses ScatterElements (none/add/mul), TensorScatterMax/Min (amax/amin,
//! with coordinates packed from the index and constant iotas) or GatherElements.
use super::layout::broadcast_to;
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, Value};

pub fn register(r: &mut Rules) {
    r.add(
        "aten::scatter_reduce.two",
        scatter_reduce,
        "ScatterElements(base, ⇑INT64 index, ⇑out src [StridedSliceV2 to index's shape]; axis=dim, reduction=add (sum, mean) | mul (prod)); amax/amin: TensorScatterMax|Min(base, Pack(constant iotas and index, axis=-1), src); base = self, or (include_self=False) self with the scattered positions set to the reduction's identity (ScatterElements none of a Fill); mean: Div|FloorDiv by Maximum(count, 1), count a ScatterElements add of ones",
    );
    r.add(
        "aten::index_reduce",
        scatter_reduce,
        "as scatter_reduce.two, with index Reshape'd along dim and BroadcastTo source's shape (prod, mean, amax, amin)",
    );
    r.add(
        "aten::index_copy",
        index_copy,
        "ScatterElements(⇑out self, BroadcastTo(Reshape(FloorMod(⇑INT64 index, K64(size)), along dim), source shape), ⇑out source; axis=dim, reduction=none)",
    );
    r.add(
        "aten::index_fill",
        index_copy,
        "as index_copy with source = Fill(K64(self's shape with len(index) at dim), Kout(value))",
    );
    r.add(
        "aten::put",
        put,
        "Reshape(TensorScatterUpdate | TensorScatterAdd (accumulate)(Reshape(⇑out self, [-1]), Reshape(FloorMod(⇑INT64 index, K64(numel)), [-1, 1]), Reshape(⇑out source, [-1])), K64(self shape))",
    );
    r.add(
        "aten::segment_reduce",
        segment_reduce,
        "ids = ReduceSum(Cast INT64(LessEqual(Cumsum(lengths | Sub(offsets[1:], offsets[:-1])), K64(iota)[:, None])), [1]); [Transpose axis first] → UnsortedSegmentSum|Max|Min|Prod(data, ids, K64(segments)) → [Transpose back]; mean: Div by the segment counts (UnsortedSegmentSum of ones); empty max/min segments SelectV2 ∓inf; initial folded in (Add / Mul / Maximum / Minimum; mean: (sum + initial) / Maximum(count, 1), as PyTorch)",
    );
    r.add(
        "aten::_unsafe_masked_index",
        |c| masked_index(c, false),
        "lin = Σ FloorMod(ClipByValueV2(⇑INT64 index_d, −size, size − 1), size) · stride_d (BroadcastTo their common shape) → GatherV2(Reshape(x, [indexed elements, rest]), lin, 0) → SelectV2([BroadcastTo] mask, ·, Kout(fill)) (indices on the leading dims)",
    );
    r.add(
        "aten::_unsafe_masked_index_put_accumulate",
        |c| masked_index(c, true),
        "lin as _unsafe_masked_index → TensorScatterAdd(Reshape(x, [indexed elements, rest]), Unsqueeze(lin, −1), BroadcastTo(SelectV2(mask, values, 0))) → Reshape(x's shape)",
    );
    r.add(
        "aten::embedding_bag",
        embedding_bag,
        "EmbeddingBag(weight, Cast INT32 indices, Cast INT32 offsets, per_sample_weights; mode=sum|mean, include_last_offset); the other outputs as PyTorch's CPU kernel gives them: sum: an empty offset2bag, zero bag_size and max_indices (Consts); mean: offset2bag = ReduceSum(LessEqual(offsets[1:], iota)), bag_size = max_indices = Sub(ends, offsets); padding_idx and max mode refused",
    );
    r.add(
        "aten::take_along_dim",
        take_along_dim,
        "GatherElements(BroadcastTo(self), BroadcastTo(⇑INT64 indices); dim) (PyTorch's broadcast of both but along dim); dim None: on both flattened",
    );
}

/// 0-D tensors are scattered as [1] (and the result reshaped back).
fn as_1d(c: &mut Ctx, p: Port, rank: usize, dt: DType) -> Result<Port, String> {
    if rank == 0 {
        c.reshape_const(p, &[1], dt)
    } else {
        Ok(p)
    }
}

fn fill(c: &mut Ctx, dims: Port, v: f64, dt: DType) -> Result<Port, String> {
    let v = c.scalar(v, dt)?;
    c.op1("Fill", vec![In::P(dims), In::P(v)], vec![], dt)
}

fn scatter_elements(
    c: &mut Ctx,
    x: Port,
    idx: Port,
    upd: Port,
    dim: i64,
    reduction: &str,
    dt: DType,
) -> Result<Port, String> {
    c.op1(
        "ScatterElements",
        vec![In::P(x), In::P(idx), In::P(upd)],
        vec![
            ("axis", attr::int(dim)),
            ("reduction", attr::string(reduction)),
        ],
        dt,
    )
}

/// The identity of a reduction in dtype `dt` (what a scattered position starts from when self
/// is not included), as a 0-D Const.
fn identity(c: &mut Ctx, reduce: &str, dt: DType) -> Result<Port, String> {
    use tch::Tensor;
    let t = match (reduce, dt.is_float()) {
        ("prod", _) => Tensor::from(1i64),
        ("amax", true) => Tensor::from(f64::NEG_INFINITY),
        ("amin", true) => Tensor::from(f64::INFINITY),
        ("amax", false) => Tensor::from(match dt {
            DType::I64 => i64::MIN,
            DType::I32 => i32::MIN as i64,
            DType::I16 => i16::MIN as i64,
            DType::I8 => i8::MIN as i64,
            _ => 0,
        }),
        ("amin", false) => Tensor::from(match dt {
            DType::I64 => i64::MAX,
            DType::I32 => i32::MAX as i64,
            DType::I16 => i16::MAX as i64,
            DType::I8 => i8::MAX as i64,
            _ => u8::MAX as i64,
        }),
        _ => Tensor::from(0i64),
    };
    c.b.constant(&t.to_kind(dt.kind()), &format!("{reduce} identity"))
}

fn scatter_reduce(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if out == DType::Bool {
        return Err(format!(
            "{} of bool values is not lowered; fix: cast to an int type first",
            c.node.op_name()
        ));
    }
    let rank = c.rank("self")?;
    let dim = Ctx::dim(c.int("dim")?, rank as i64);
    let reduce = match c.arg("reduce")? {
        Value::Str(s) => s.clone(),
        v => return Err(format!("reduce must be a string, got {v:?}")),
    };
    let include_self = !c.has("include_self") || c.bool("include_self")?;
    let index_op = c.node.op_name().starts_with("aten::index_reduce");
    let x = c.tensor_as("self", out)?;
    let x = as_1d(c, x, rank, out)?;
    // The element-wise index and updates, both of shape `ishape`.
    let (idx, upd, ishape) = if index_op {
        let sshape = c.in_shape("source")?;
        let idx = along_dim(c, "index", dim, &sshape, rank)?;
        let s = c.tensor_as("source", out)?;
        (idx, as_1d(c, s, rank, out)?, sshape)
    } else {
        let ishape = c.in_shape("index")?;
        let idx = c.tensor_as("index", DType::I64)?;
        let mut u = c.tensor_as("src", out)?;
        if c.in_shape("src")? != ishape {
            let b = c.const_i64(&vec![0; ishape.len()])?;
            let e = c.const_i64(&ishape)?;
            let a = c.const_i64(&(0..ishape.len() as i64).collect::<Vec<_>>())?;
            let s = c.const_i64(&vec![1; ishape.len()])?;
            u = c.op1(
                "StridedSliceV2",
                vec![In::P(u), In::P(b), In::P(e), In::P(a), In::P(s)],
                vec![],
                out,
            )?;
        }
        (
            as_1d(c, idx, rank, DType::I64)?,
            as_1d(c, u, rank, out)?,
            ishape,
        )
    };
    let ishape = if rank == 0 { vec![1] } else { ishape };
    let idims = c.const_i64(&ishape)?;
    let base = if include_self {
        x
    } else {
        let v = identity(c, &reduce, out)?;
        let id = c.op1("Fill", vec![In::P(idims), In::P(v)], vec![], out)?;
        scatter_elements(c, x, idx, id, dim, "none", out)?
    };
    let y = match reduce.as_str() {
        "sum" => scatter_elements(c, base, idx, upd, dim, "add", out)?,
        "prod" => scatter_elements(c, base, idx, upd, dim, "mul", out)?,
        "mean" => {
            let s = scatter_elements(c, base, idx, upd, dim, "add", out)?;
            let xdims = c.shape_port("self")?;
            let xdims = if rank == 0 { c.const_i64(&[1])? } else { xdims };
            let start = fill(c, xdims, if include_self { 1.0 } else { 0.0 }, out)?;
            let ones = fill(c, idims, 1.0, out)?;
            let n = scatter_elements(c, start, idx, ones, dim, "add", out)?;
            let one = c.scalar(1.0, out)?;
            let n = c.bin("Maximum", n, one, out)?;
            let div = if out.is_float() { "Div" } else { "FloorDiv" };
            c.bin(div, s, n, out)?
        }
        "amax" | "amin" => {
            let coords = coordinates(c, idx, &ishape, dim)?;
            let ty = if reduce == "amax" {
                "TensorScatterMax"
            } else {
                "TensorScatterMin"
            };
            c.op1(
                ty,
                vec![In::P(base), In::P(coords), In::P(upd)],
                vec![],
                out,
            )?
        }
        r => {
            return Err(format!(
                "{} reduce=\"{r}\" is not one of sum, prod, mean, amax, amin",
                c.node.op_name()
            ))
        }
    };
    if rank == 0 {
        return Ok(vec![c.reshape_const(y, &[], out)?]);
    }
    Ok(vec![y])
}

/// Full coordinates [*ishape, rank] of each update: the index along `dim`, the update's own
/// position along every other dim.
fn coordinates(c: &mut Ctx, idx: Port, ishape: &[i64], dim: i64) -> Result<Port, String> {
    let rank = ishape.len();
    let mut cols = vec![];
    for d in 0..rank {
        if d as i64 == dim {
            cols.push(idx);
            continue;
        }
        let mut view = vec![1i64; rank];
        view[d] = ishape[d];
        let iota = tch::Tensor::arange(ishape[d], (tch::Kind::Int64, tch::Device::Cpu))
            .reshape(view.as_slice())
            .expand(ishape, false)
            .contiguous();
        cols.push(c.b.constant(&iota, "positions along a dim")?);
    }
    c.op1(
        "Pack",
        vec![In::Dyn(cols)],
        vec![
            ("axis", attr::int(rank as i64)),
            ("N", attr::int(rank as i64)),
        ],
        DType::I64,
    )
}

/// A 1-D (or 0-D) index argument along `dim`, wrapped into [0, size of self's dim) and
/// broadcast to `shape` (the updates' shape): the element-wise index of ScatterElements.
fn along_dim(
    c: &mut Ctx,
    name: &str,
    dim: i64,
    shape: &[i64],
    rank: usize,
) -> Result<Port, String> {
    if c.rank(name)? > 1 {
        return Err(format!("{}: index must be 0-D or 1-D", c.node.op_name()));
    }
    let size = if rank == 0 {
        1
    } else {
        c.in_shape("self")?[dim as usize]
    };
    let idx = c.tensor_as(name, DType::I64)?;
    let n = c.scalar_i64(size.max(1))?;
    let idx = c.op1("FloorMod", vec![In::P(idx), In::P(n)], vec![], DType::I64)?;
    let shape = if rank == 0 { vec![1] } else { shape.to_vec() };
    let mut view = vec![1i64; shape.len()];
    view[dim as usize] = -1;
    let idx = c.reshape_const(idx, &view, DType::I64)?;
    broadcast_to(c, idx, &shape, DType::I64)
}

/// `index_copy(self, dim, index, source)` and `index_fill(self, dim, index, value)`.
fn index_copy(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")?;
    let dim = Ctx::dim(c.int("dim")?, rank as i64);
    let mut shape = c.in_shape("self")?;
    let n = c.tensor_value("index")?.tensor.numel() as i64;
    let work = if out == DType::Bool { DType::U8 } else { out };
    let src = if c.has("source") {
        let s = c.tensor_as("source", work)?;
        let s = as_1d(c, s, rank, work)?;
        if rank > 0 {
            shape = c.in_shape("source")?;
        }
        s
    } else {
        if rank > 0 {
            shape[dim as usize] = n;
        }
        let dims = c.const_i64(if rank == 0 { &[1] } else { &shape })?;
        let v = c.operand("value", work)?;
        let v = if c.tensor_value("value").is_ok() && c.rank("value")? > 0 {
            return Err("index_fill: value must be a number or a 0-D tensor".into());
        } else {
            v
        };
        c.op1("Fill", vec![In::P(dims), In::P(v)], vec![], work)?
    };
    let idx = along_dim(c, "index", dim, &shape, rank)?;
    let x = c.tensor_as("self", work)?;
    let x = as_1d(c, x, rank, work)?;
    let mut y = scatter_elements(c, x, idx, src, dim, "none", work)?;
    if rank == 0 {
        y = c.reshape_const(y, &[], work)?;
    }
    Ok(vec![c.cast(y, out)?])
}

fn put(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    let numel: i64 = shape.iter().product();
    if numel == 0 {
        return Ok(vec![c.tensor_as("self", out)?]);
    }
    let accumulate = c.has("accumulate") && c.bool("accumulate")?;
    let work = if out == DType::Bool { DType::U8 } else { out };
    let x = c.tensor_as("self", work)?;
    let flat = c.reshape_const(x, &[-1], work)?;
    let idx = c.tensor_as("index", DType::I64)?;
    let n = c.scalar_i64(numel)?;
    let idx = c.op1("FloorMod", vec![In::P(idx), In::P(n)], vec![], DType::I64)?;
    let idx = c.reshape_const(idx, &[-1, 1], DType::I64)?;
    let src = c.tensor_as("source", work)?;
    let src = c.reshape_const(src, &[-1], work)?;
    let ty = if accumulate {
        "TensorScatterAdd"
    } else {
        "TensorScatterUpdate"
    };
    let y = c.op1(ty, vec![In::P(flat), In::P(idx), In::P(src)], vec![], work)?;
    let y = c.reshape_const(y, &shape, work)?;
    Ok(vec![c.cast(y, out)?])
}

fn take_along_dim(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor("self")?;
    let idx = c.tensor_as("indices", DType::I64)?;
    if !c.has("dim") {
        let xf = c.reshape_const(x, &[-1], out)?;
        let i = c.reshape_const(idx, &[-1], DType::I64)?;
        return Ok(vec![c.op1(
            "GatherElements",
            vec![In::P(xf), In::P(i)],
            vec![("dim", attr::int(0))],
            out,
        )?]);
    }
    let xs = c.in_shape("self")?;
    let is = c.in_shape("indices")?;
    if xs.len() != is.len() {
        return Err("take_along_dim: self and indices need the same rank".into());
    }
    let dim = Ctx::dim(c.int("dim")?, xs.len() as i64) as usize;
    let target = c.out_shape(0)?;
    let mut xt = target.clone();
    if !xt.is_empty() {
        xt[dim] = xs[dim];
    }
    let x = if xt != xs {
        broadcast_to(c, x, &xt, out)?
    } else {
        x
    };
    let idx = if target != is {
        broadcast_to(c, idx, &target, DType::I64)?
    } else {
        idx
    };
    Ok(vec![c.op1(
        "GatherElements",
        vec![In::P(x), In::P(idx)],
        vec![("dim", attr::int(dim as i64))],
        out,
    )?])
}

/// `segment_reduce(data, reduce, lengths | offsets, axis, unsafe, initial)`.
fn segment_reduce(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err("segment_reduce of integer data is not lowered; fix: cast to float".into());
    }
    let shape = c.in_shape("data")?;
    let rank = shape.len() as i64;
    let axis = Ctx::dim(c.int("axis")?, rank);
    if c.has("indices") {
        return Err("segment_reduce with indices= is not lowered (PyTorch does not implement it either); fix: pass lengths or offsets".into());
    }
    let reduce = match c.arg("reduce")? {
        Value::Str(s) => s.clone(),
        v => return Err(format!("reduce must be a string, got {v:?}")),
    };
    let lengths = if c.has("lengths") {
        let l = c.tensor_value("lengths")?;
        if l.tensor.dim() != 1 || axis != 0 {
            return Err("segment_reduce is lowered for 1-D lengths/offsets (axis 0)".into());
        }
        c.tensor_as("lengths", DType::I64)?
    } else if c.has("offsets") {
        let o = c.tensor_value("offsets")?;
        if o.tensor.dim() != 1 || axis != 0 {
            return Err("segment_reduce is lowered for 1-D lengths/offsets (axis 0)".into());
        }
        let m = o.tensor.size()[0];
        let p = c.tensor_as("offsets", DType::I64)?;
        let hi = c.slice_axis(p, 0, 1, m, DType::I64)?;
        let lo = c.slice_axis(p, 0, 0, m - 1, DType::I64)?;
        c.bin("Sub", hi, lo, DType::I64)?
    } else {
        return Err("segment_reduce needs lengths or offsets".into());
    };
    let segments = c.out_shape(0)?[axis as usize];
    let n = shape[axis as usize];
    let zero = c.scalar_i64(0)?;
    let ends = c.op1(
        "Cumsum",
        vec![In::P(lengths), In::P(zero)],
        vec![],
        DType::I64,
    )?;
    let ends = c.reshape_const(ends, &[1, segments], DType::I64)?;
    let iota = tch::Tensor::arange(n, (tch::Kind::Int64, tch::Device::Cpu)).reshape([n, 1]);
    let iota = c.b.constant(&iota, "element positions")?;
    let passed = c.bin("LessEqual", ends, iota, DType::Bool)?;
    let passed = c.cast(passed, DType::I64)?;
    let axes = c.const_i64(&[1])?;
    let ids = c.op1(
        "ReduceSum",
        vec![In::P(passed), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        DType::I64,
    )?;
    let x = c.tensor_as("data", out)?;
    let k = c.scalar_i64(segments)?;
    let seg = |c: &mut Ctx, ty: &str, x: Port| {
        c.op1(ty, vec![In::P(x), In::P(ids), In::P(k)], vec![], out)
    };
    let initial = if c.has("initial") {
        Some(c.float("initial")?)
    } else {
        None
    };
    let ones_shape = [n];
    let counts = |c: &mut Ctx| -> Result<Port, String> {
        let dims = c.const_i64(&ones_shape)?;
        let one = c.scalar(1.0, out)?;
        let ones = c.op1("Fill", vec![In::P(dims), In::P(one)], vec![], out)?;
        let cnt = seg(c, "UnsortedSegmentSum", ones)?;
        let mut view = vec![1i64; rank as usize];
        view[0] = segments;
        c.reshape_const(cnt, &view, out)
    };
    let init = |c: &mut Ctx| -> Result<Option<Port>, String> {
        initial.map(|v| c.scalar(v, out)).transpose()
    };
    let y = match reduce.as_str() {
        "sum" | "mean" => {
            let mut s = seg(c, "UnsortedSegmentSum", x)?;
            if let Some(i) = init(c)? {
                s = c.bin("Add", s, i, out)?;
            }
            if reduce == "sum" {
                s
            } else {
                let mut cnt = counts(c)?;
                if initial.is_some() {
                    // PyTorch: (sum + initial) / count, and initial for an empty segment.
                    let one = c.scalar(1.0, out)?;
                    cnt = c.bin("Maximum", cnt, one, out)?;
                }
                c.bin("Div", s, cnt, out)?
            }
        }
        "prod" => {
            let p = seg(c, "UnsortedSegmentProd", x)?;
            match init(c)? {
                Some(i) => c.bin("Mul", p, i, out)?,
                None => p,
            }
        }
        "max" | "min" => {
            let (ty, bound, pick) = if reduce == "max" {
                ("UnsortedSegmentMax", f64::NEG_INFINITY, "Maximum")
            } else {
                ("UnsortedSegmentMin", f64::INFINITY, "Minimum")
            };
            let m = seg(c, ty, x)?;
            match init(c)? {
                Some(i) => c.bin(pick, m, i, out)?,
                None => {
                    // An empty segment is ∓inf in PyTorch (GE gives the dtype's extreme).
                    let cnt = counts(c)?;
                    let zero = c.scalar(0.0, out)?;
                    let empty = c.bin("Equal", cnt, zero, DType::Bool)?;
                    let b = c.scalar(bound, out)?;
                    super::compare::select(c, empty, b, m, out)?
                }
            }
        }
        r => {
            return Err(format!(
                "segment_reduce reduce=\"{r}\" is not one of sum, mean, max, min, prod"
            ))
        }
    };
    Ok(vec![y])
}

/// `_unsafe_masked_index(self, mask, indices, fill)` and
/// `_unsafe_masked_index_put_accumulate(self, mask, indices, values)`: indices clamped into
/// range (masked-out positions may hold any index), on the leading dims.
fn masked_index(c: &mut Ctx, put: bool) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    let entries: Vec<crate::value::TensorValue> = match c.arg("indices")? {
        Value::List(v) | Value::Tuple(v) => v
            .iter()
            .map(|x| x.as_tensor().cloned())
            .collect::<Option<Vec<_>>>()
            .ok_or(
                "masked indexing with a None index is not lowered; fix: index the leading dims",
            )?,
        _ => return Err("indices must be a list of tensors".into()),
    };
    let k = entries.len();
    if k == 0 || k > shape.len() {
        return Err(format!(
            "{} indices for a tensor of rank {}",
            k,
            shape.len()
        ));
    }
    let probe = |s: &[i64]| tch::Tensor::zeros(s, (tch::Kind::Bool, tch::Device::Cpu));
    let probes: Vec<tch::Tensor> = entries.iter().map(|t| probe(&t.tensor.size())).collect();
    let bshape = tch::Tensor::f_broadcast_tensors(&probes)
        .map_err(|e| crate::load::short_torch_message(&e.to_string()))?[0]
        .size();
    let mut lin: Option<Port> = None;
    let mut stride = 1i64;
    for d in (0..k).rev() {
        let size = shape[d];
        let p = c.port(&entries[d])?;
        let p = c.cast(p, DType::I64)?;
        let lo = c.scalar_i64(-size)?;
        let hi = c.scalar_i64(size - 1)?;
        let p = c.op1(
            "ClipByValueV2",
            vec![In::P(p), In::P(lo), In::P(hi)],
            vec![],
            DType::I64,
        )?;
        let n = c.scalar_i64(size.max(1))?;
        let p = c.op1("FloorMod", vec![In::P(p), In::P(n)], vec![], DType::I64)?;
        let p = if entries[d].tensor.size() != bshape {
            broadcast_to(c, p, &bshape, DType::I64)?
        } else {
            p
        };
        let s = c.scalar_i64(stride)?;
        let term = c.bin("Mul", p, s, DType::I64)?;
        lin = Some(match lin {
            None => term,
            Some(acc) => c.bin("Add", acc, term, DType::I64)?,
        });
        stride *= size;
    }
    let lin = lin.expect("at least one index");
    let rest = &shape[k..];
    let mut flat_shape = vec![stride];
    flat_shape.extend(rest);
    let x = c.tensor_as("self", out)?;
    let x2 = c.reshape_const(x, &flat_shape, out)?;
    let mut target = bshape.clone();
    target.extend(rest);
    let mask = c.tensor_as("mask", DType::Bool)?;
    let mask = if c.in_shape("mask")? != target {
        broadcast_to(c, mask, &target, DType::Bool)?
    } else {
        mask
    };
    if !put {
        let axis = c.scalar_i64(0)?;
        let y = c.op1(
            "GatherV2",
            vec![In::P(x2), In::P(lin), In::P(axis)],
            vec![],
            out,
        )?;
        let fill = c.operand("fill", out)?;
        let y = super::compare::select(c, mask, y, fill, out)?;
        let oshape = c.out_shape(0)?;
        return Ok(vec![c.reshape_const(y, &oshape, out)?]);
    }
    let v = c.tensor_as("values", out)?;
    let v = if c.in_shape("values")? != target {
        broadcast_to(c, v, &target, out)?
    } else {
        v
    };
    let zero = c.scalar(0.0, out)?;
    let v = super::compare::select(c, mask, v, zero, out)?;
    let at = super::spatial::unsqueeze(c, lin, vec![bshape.len() as i64], DType::I64)?;
    let y = c.op1(
        "TensorScatterAdd",
        vec![In::P(x2), In::P(at), In::P(v)],
        vec![],
        out,
    )?;
    Ok(vec![c.reshape_const(y, &shape, out)?])
}

/// `embedding_bag(weight, indices, offsets, scale_grad_by_freq, mode, sparse,
/// per_sample_weights, include_last_offset[, padding_idx])` with 1-D indices and offsets.
fn embedding_bag(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if out != DType::F32 {
        return Err(format!(
            "embedding_bag of {} weights: EmbeddingBag takes FLOAT",
            out.name()
        ));
    }
    if c.has("padding_idx") {
        return Err("embedding_bag with padding_idx is not lowered (EmbeddingBag has none); fix: zero that row of the weight and drop padding_idx".into());
    }
    let mode = c.int("mode")?;
    let mode_name = match mode {
        0 => "sum",
        1 => "mean",
        _ => return Err("embedding_bag mode=\"max\" is not lowered (its max_indices output has no GE form here); fix: use sum or mean".into()),
    };
    let ishape = c.in_shape("indices")?;
    let oshape = c.in_shape("offsets")?;
    if ishape.len() != 1 || oshape.len() != 1 {
        return Err("embedding_bag is lowered for 1-D indices and offsets".into());
    }
    let (n, nb) = (ishape[0], oshape[0]);
    let last = c.bool("include_last_offset")?;
    let w = c.tensor("weight")?;
    let idx = c.tensor_as("indices", DType::I32)?;
    let offs = c.tensor_as("offsets", DType::I32)?;
    let psw = if c.has("per_sample_weights") {
        In::P(c.tensor_as("per_sample_weights", DType::F32)?)
    } else {
        In::Unfed
    };
    let y = c.op1(
        "EmbeddingBag",
        vec![In::P(w), In::P(idx), In::P(offs), psw],
        vec![
            ("mode", attr::string(mode_name)),
            (
                "scale_grad_by_freq",
                attr::boolean(c.bool("scale_grad_by_freq")?),
            ),
            ("sparse", attr::boolean(c.bool("sparse")?)),
            ("include_last_offset", attr::boolean(last)),
        ],
        DType::F32,
    )?;
    // The other outputs, as PyTorch's CPU kernel gives them.
    let aux: Vec<tch::Tensor> = (1..4)
        .map(|i| c.outputs[i].tensors()[0].tensor.copy())
        .collect();
    if mode == 0 {
        let mut ports = vec![y];
        for (i, t) in aux.iter().enumerate() {
            if t.numel() > 0 && t.abs().max().int64_value(&[]) != 0 {
                return Err(format!(
                    "internal: embedding_bag (sum) output {} was expected empty or zero",
                    i + 1
                ));
            }
            ports.push(c.b.constant(t, "zeros")?);
        }
        return Ok(ports);
    }
    // mean: offset2bag[i] = the bag of index i; bag_size = max_indices = each bag's length.
    let bags = if last { nb - 1 } else { nb };
    let offs64 = c.tensor_as("offsets", DType::I64)?;
    let starts = c.slice_axis(offs64, 0, 0, bags, DType::I64)?;
    let ends = if last {
        c.slice_axis(offs64, 0, 1, nb, DType::I64)?
    } else {
        let tail = c.const_i64(&[n])?;
        let next = c.slice_axis(offs64, 0, 1, nb, DType::I64)?;
        let axis = c.scalar_i64(0)?;
        c.op1(
            "ConcatV2",
            vec![In::Dyn(vec![next, tail]), In::P(axis)],
            vec![("N", attr::int(2))],
            DType::I64,
        )?
    };
    let size = c.bin("Sub", ends, starts, DType::I64)?;
    let inner = c.slice_axis(starts, 0, 1, bags, DType::I64)?;
    let inner = c.reshape_const(inner, &[1, bags - 1], DType::I64)?;
    let iota = tch::Tensor::arange(n, (tch::Kind::Int64, tch::Device::Cpu)).reshape([n, 1]);
    let iota = c.b.constant(&iota, "index positions")?;
    let passed = c.bin("LessEqual", inner, iota, DType::Bool)?;
    let passed = c.cast(passed, DType::I64)?;
    let axes = c.const_i64(&[1])?;
    let o2b = c.op1(
        "ReduceSum",
        vec![In::P(passed), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        DType::I64,
    )?;
    Ok(vec![y, o2b, size, size])
}
