//! Gather, scatter, advanced indexing (`x[idx]`, `x[idx] = v`), index_select and cumsum.
use super::sym::Dim;
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Origin, Port, TensorValue, Value};

pub fn register(r: &mut Rules) {
    r.add(
        "aten::one_hot",
        one_hot,
        "OneHot(⇑INT64 self, depth=K64(num_classes), on_value=K64(1), off_value=K64(0); axis=-1)",
    );
    r.add(
        "aten::gather",
        gather,
        "GatherElements(x, ⇑INT64 index; dim normalised)",
    );
    r.add(
        "aten::scatter",
        scatter,
        "ScatterElements(⇑out self, ⇑INT64 index, updates; axis=dim, reduction=none|add|mul); updates = src (StridedSliceV2 to index's shape when bigger) or Fill(K64(index shape), Kout(value))",
    );
    r.add(
        "aten::scatter_add",
        scatter,
        "ScatterElements(⇑out self, ⇑INT64 index, ⇑out src; axis=dim, reduction=add)",
    );
    r.add(
        "aten::index.Tensor",
        index,
        "IndexByTensor(x (BOOL via UINT8), indices=each index ⇑INT64; indices_mask=1 per given index, 0 per None); a constant bool mask index becomes its nonzero() positions; one computed bool mask over the leading dims: GatherV2(Reshape(x, [rows, rest]), Reshape(NonZero(Reshape(mask, [-1])), [-1]), 0), the count the sample's (a guard: run refuses inputs giving another count)",
    );
    r.add(
        "aten::index_put",
        index_put,
        "one bool mask index and one value: SelectV2(Reshape(mask), value, x); a mask and one row of values per selected position: MaskedScatter(x, [BroadcastTo(Unsqueeze)] mask, values); values shared by every selected position: SelectV2(mask, BroadcastTo(values), x) (accumulate: Add(x, SelectV2(mask, values, 0))); integer indices on adjacent dims: [Transpose indexed dims first] → TensorScatterUpdate / TensorScatterAdd (accumulate)(x, Pack(BroadcastTo(FloorMod(⇑INT64 index, size)), axis=-1), BroadcastTo(⇑out values)) → [Transpose back]",
    );
    r.add(
        "aten::index_select",
        index_select,
        "GatherV2(x, ⇑INT64 index, axis=K64(dim))",
    );
    r.add(
        "aten::index_add",
        index_add,
        "InplaceIndexAdd(⇑out self, ⇑INT64 index, ⇑out source, alpha=Kout([alpha]) when alpha ≠ 1; axis=dim)",
    );
    r.add(
        "aten::take",
        take,
        "GatherV2(Reshape(x, K64([-1])), FloorMod(⇑INT64 index, K64(numel)), axis=K64(0)): negative indices count from the end, as in PyTorch",
    );
    r.add(
        "aten::masked_scatter",
        masked_scatter,
        "MaskedScatter(⇑out [BroadcastTo] self, [BroadcastTo] ⇑BOOL mask, ⇑out source): true positions take source's elements in order",
    );
    r.add(
        "aten::cumsum",
        cumsum,
        "Cumsum(⇑out x, axis=K64(dim); exclusive=false, reverse=false)",
    );
}

fn gather(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let dim = Ctx::dim(c.int("dim")?, rank);
    let x = c.tensor("self")?;
    let idx = c.tensor_as("index", DType::I64)?;
    Ok(vec![c.op1(
        "GatherElements",
        vec![In::P(x), In::P(idx)],
        vec![("dim", attr::int(dim))],
        out,
    )?])
}

fn scatter(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let dim = Ctx::dim(c.int("dim")?, rank);
    let ishape = c.in_desc_shape("index")?;
    let reduction = if c.node.op_name().starts_with("aten::scatter_add") {
        "add".to_string()
    } else if c.has("reduce") {
        match c.arg("reduce")? {
            Value::Str(s) if s == "add" => "add".into(),
            Value::Str(s) if s == "multiply" => "mul".into(),
            v => return Err(format!("scatter reduce={v:?} is not add or multiply")),
        }
    } else {
        "none".into()
    };
    let data = c.tensor_as("self", out)?;
    let idx = c.tensor_as("index", DType::I64)?;
    let updates = if c.has("src") {
        // src may be larger than index: its leading part, up to index's shape (Shape(index)
        // when dynamic), is used.
        let same = c.in_desc_shape("src")? == ishape
            && c.tensor_value("src")?.tensor.size() == c.tensor_value("index")?.tensor.size();
        let mut u = c.tensor_as("src", out)?;
        if !same {
            let b = c.const_i64(&vec![0; ishape.len()])?;
            let e = c.shape_port("index")?;
            let a = c.const_i64(&(0..ishape.len() as i64).collect::<Vec<_>>())?;
            let s = c.const_i64(&vec![1; ishape.len()])?;
            u = c.op1(
                "StridedSliceV2",
                vec![In::P(u), In::P(b), In::P(e), In::P(a), In::P(s)],
                vec![],
                out,
            )?;
        }
        u
    } else {
        let v = c.operand("value", out)?;
        let dims = c.shape_port("index")?;
        c.op1("Fill", vec![In::P(dims), In::P(v)], vec![], out)?
    };
    Ok(vec![c.op1(
        "ScatterElements",
        vec![In::P(data), In::P(idx), In::P(updates)],
        vec![
            ("axis", attr::int(dim)),
            ("reduction", attr::string(&reduction)),
        ],
        out,
    )?])
}

/// The entries of a `Tensor?[]` argument.
fn optional_tensors(c: &Ctx, name: &str) -> Result<Vec<Option<TensorValue>>, String> {
    match c.arg(name)? {
        Value::List(v) | Value::Tuple(v) => v
            .iter()
            .map(|x| match x {
                Value::None => Ok(None),
                Value::Tensor(t) => Ok(Some(t.clone())),
                other => Err(format!("index entry {other:?} is not a tensor or None")),
            })
            .collect(),
        _ => Err(format!("argument '{name}' must be a list of tensors")),
    }
}

fn is_mask(t: &TensorValue) -> bool {
    matches!(t.tensor.kind(), tch::Kind::Bool | tch::Kind::Uint8)
}

fn index(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let entries = optional_tensors(c, "indices")?;
    if let [Some(m)] = entries.as_slice() {
        if is_mask(m) && !matches!(m.origin, Origin::Constant) {
            return index_by_computed_mask(c, m.clone(), out);
        }
    }
    // IndexByTensor takes no BOOL x: index the UINT8 view of it.
    let work = if out == DType::Bool { DType::U8 } else { out };
    let x = c.tensor_as("self", work)?;
    let mut mask = vec![];
    let mut ports = vec![];
    for e in &entries {
        match e {
            None => mask.push(0),
            Some(t) if is_mask(t) => {
                if !matches!(t.origin, Origin::Constant) {
                    return Err("indexing with a computed boolean mask gives a shape that depends on the data; fix: use torch.where or masked_fill, which keep the shape".into());
                }
                // A constant mask selects fixed positions: one INT64 index per masked dim.
                let nz = t.tensor.nonzero();
                for d in 0..t.tensor.dim() as i64 {
                    let col = nz.select(1, d).contiguous();
                    ports.push(c.b.constant(&col, "nonzero(mask)")?);
                    mask.push(1);
                }
            }
            Some(t) => {
                let p = c.port(t)?;
                ports.push(c.cast(p, DType::I64)?);
                mask.push(1);
            }
        }
    }
    let y = c.op1(
        "IndexByTensor",
        vec![In::P(x), In::Dyn(ports)],
        vec![("indices_mask", attr::list_int(mask))],
        work,
    )?;
    Ok(vec![c.cast(y, out)?])
}

/// `x[mask]` with a computed mask over x's leading dims: the selected rows, in row-major order,
/// as GatherV2(Reshape(x, [rows, rest]), Reshape(NonZero(Reshape(mask, [-1])), [-1]), 0). The
/// count is the sample's (a guard; the runner refuses another).
fn index_by_computed_mask(c: &mut Ctx, m: TensorValue, out: DType) -> RuleResult {
    // Dims may be dynamic: the rows are -1 in the Reshape, the rest from Shape when dynamic.
    let xv = c.tensor_value("self")?.clone();
    let shape = xv.tensor.size();
    let ms = m.tensor.size();
    let leading =
        ms.len() <= shape.len() && (0..ms.len()).all(|i| m.dim_triple(i) == xv.dim_triple(i));
    if !leading {
        return Err("indexing with a computed boolean mask is supported for a mask of x's leading shape; fix: use torch.where or masked_fill, which keep the shape".into());
    }
    let sdims = c.sym_dims("self")?;
    let flat: Vec<Dim> = [Dim::K(-1)]
        .into_iter()
        .chain(sdims[ms.len()..].iter().copied())
        .collect();
    let n = c.outputs[0].tensors()[0].tensor.size()[0];
    let x = c.tensor("self")?;
    let x = c.reshape_dims(x, &flat, out)?;
    let mp = c.port(&m)?;
    let mp = c.cast(mp, DType::Bool)?;
    let mp = c.reshape_const(mp, &[-1], DType::Bool)?;
    let nz = c.op1(
        "NonZero",
        vec![In::P(mp)],
        vec![
            ("transpose", attr::boolean(false)),
            ("dtype", attr::dtype_cpp(DType::I64.ge_cpp())),
        ],
        DType::I64,
    )?;
    let nd = c.out_desc_shape(0)?[0];
    c.data_dependent(nz, &[nd, 1], format!("{n} selected row(s)"));
    let lin = c.reshape_const(nz, &[-1], DType::I64)?;
    let axis = c.scalar_i64(0)?;
    Ok(vec![c.op1(
        "GatherV2",
        vec![In::P(x), In::P(lin), In::P(axis)],
        vec![],
        out,
    )?])
}

fn broadcast_shapes(shapes: &[Vec<i64>]) -> Result<Vec<i64>, String> {
    let rank = shapes.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![1; rank];
    for s in shapes {
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[rank - s.len() + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(format!("index shapes {shapes:?} do not broadcast"));
            }
        }
    }
    Ok(out)
}

fn transpose(c: &mut Ctx, x: Port, perm: &[i64], dt: DType) -> Result<Port, String> {
    if perm.iter().enumerate().all(|(i, &p)| p == i as i64) {
        return Ok(x);
    }
    let p = c.const_i64(perm)?;
    c.op1("Transpose", vec![In::P(x), In::P(p)], vec![], dt)
}

fn index_put(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    // Sizes at the sample, for checks; dims of self may be dynamic (`sdims`).
    let shape = c.tensor_value("self")?.tensor.size();
    let sdims = c.sym_dims("self")?;
    let rank = shape.len();
    let entries = optional_tensors(c, "indices")?;
    let accumulate = c.has("accumulate") && c.bool("accumulate")?;
    let vdesc = c.in_desc_shape("values")?;
    let vshape = c.tensor_value("values")?.tensor.size();
    let vnumel: i64 = if vdesc.contains(&-1) {
        -1
    } else {
        vshape.iter().product()
    };
    // x[mask] = v with one value: a select, whatever the mask's origin.
    if let [Some(m)] = entries.as_slice() {
        if is_mask(m) {
            let ms = m.tensor.size();
            let selected = m
                .tensor
                .to_kind(tch::Kind::Bool)
                .sum(tch::Kind::Int64)
                .int64_value(&[]);
            let rest: i64 = shape[ms.len().min(rank)..].iter().product();
            if vnumel != 1
                && !accumulate
                && ms[..] == shape[..ms.len()]
                && vnumel == selected * rest
                && vshape.first() == Some(&selected)
            {
                // x[mask] = values, one row of values per selected position, in order:
                // MaskedScatter with the mask spread over the trailing dims.
                let mp = c.port(m)?;
                let mut mp = c.cast(mp, DType::Bool)?;
                if ms.len() < rank {
                    let axes: Vec<i64> = (ms.len() as i64..rank as i64).collect();
                    mp = c.op1(
                        "Unsqueeze",
                        vec![In::P(mp)],
                        vec![("axes", attr::list_int(axes))],
                        DType::Bool,
                    )?;
                    // self's shape (from Shape when dynamic).
                    let t = c.shape_port("self")?;
                    mp = c.op1(
                        "BroadcastTo",
                        vec![In::P(mp), In::P(t)],
                        vec![],
                        DType::Bool,
                    )?;
                }
                let x = c.tensor_as("self", out)?;
                let v = c.tensor_as("values", out)?;
                return Ok(vec![c.op1(
                    "MaskedScatter",
                    vec![In::P(x), In::P(mp), In::P(v)],
                    vec![],
                    out,
                )?]);
            }
            let rest_shape = &shape[ms.len().min(rank)..];
            // Values that broadcast over x's trailing dims: a dynamic dim of them must be the
            // same dim of x (equal at the sample and at both probes).
            let xv = c.tensor_value("self")?.clone();
            let vv = c.tensor_value("values")?.clone();
            let vdyn = vv.dynamic_dims();
            let vrank = vshape.len();
            let row_values = ms[..] == shape[..ms.len()]
                && vrank <= rest_shape.len()
                && (0..vrank).all(|i| {
                    let j = rank - vrank + i;
                    if vdyn[i] {
                        xv.dynamic_dims()[j] && vv.dim_triple(i) == xv.dim_triple(j)
                    } else {
                        vshape[i] == 1 || vshape[i] == shape[j]
                    }
                });
            if (vnumel != 1 || accumulate) && row_values {
                // Every selected position takes the same values (broadcast over the mask's
                // dims): a select, or (accumulate) an add of the selected values.
                let mp = c.port(m)?;
                let mut mp = c.cast(mp, DType::Bool)?;
                if ms.len() < rank {
                    let axes: Vec<i64> = (ms.len() as i64..rank as i64).collect();
                    mp = c.op1(
                        "Unsqueeze",
                        vec![In::P(mp)],
                        vec![("axes", attr::list_int(axes))],
                        DType::Bool,
                    )?;
                }
                let x = c.tensor_as("self", out)?;
                let v = c.tensor_as("values", out)?;
                let t = c.shape_port("self")?;
                let v = c.op1("BroadcastTo", vec![In::P(v), In::P(t)], vec![], out)?;
                if accumulate {
                    let zero = c.scalar(0.0, out)?;
                    let add = super::compare::select(c, mp, v, zero, out)?;
                    return Ok(vec![c.bin("Add", x, add, out)?]);
                }
                return Ok(vec![super::compare::select(c, mp, v, x, out)?]);
            }
            if vnumel != 1 || accumulate || ms[..] != shape[..ms.len()] {
                return Err("x[mask] = values is supported with one value and a mask of x's leading shape; fix: use torch.where(mask, values, x)".into());
            }
            let mp = c.port(m)?;
            let mut mp = c.cast(mp, DType::Bool)?;
            if ms.len() < rank {
                let axes: Vec<i64> = (ms.len() as i64..rank as i64).collect();
                mp = c.op1(
                    "Unsqueeze",
                    vec![In::P(mp)],
                    vec![("axes", attr::list_int(axes))],
                    DType::Bool,
                )?;
            }
            let x = c.tensor_as("self", out)?;
            let mut v = c.tensor_as("values", out)?;
            if !vshape.is_empty() {
                v = c.reshape_const(v, &[], out)?;
            }
            return Ok(vec![super::compare::select(c, mp, v, x, out)?]);
        }
    }
    let present: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].is_some())
        .collect();
    let (Some(&p), Some(&last)) = (present.first(), present.last()) else {
        return Err("index_put without indices".into());
    };
    let k = present.len();
    if last - p + 1 != k || entries.iter().flatten().any(is_mask) {
        return Err("x[...] = values is supported with integer indices on adjacent dims; fix: index one group of adjacent dims, or use scatter".into());
    }
    let idx_shapes: Vec<Vec<i64>> = entries.iter().flatten().map(|t| t.tensor.size()).collect();
    let bshape = broadcast_shapes(&idx_shapes)?;
    // The index shapes broadcast together: to a Const shape when static, else to the broadcast
    // of their dims computed in the graph (from Shape of each).
    let idx_dynamic = entries
        .iter()
        .flatten()
        .any(|t| t.dynamic_dims().contains(&true));
    let bdims: Vec<Dim> = if idx_dynamic {
        let mut shapes = vec![];
        for t in entries.iter().flatten() {
            shapes.push(super::sym::tensor_dims(c.b, c.mat, t)?);
        }
        c.broadcast_dims(&shapes)?
    } else {
        bshape.iter().map(|&k| Dim::K(k)).collect()
    };
    let bdesc = super::sym::known(&bdims);
    let mut bport = None;
    let mut idx_ports = vec![];
    for (j, t) in entries.iter().flatten().enumerate() {
        let ip = match (&t.origin, sdims[p + j]) {
            (Origin::Constant, Dim::K(size)) => {
                let norm = t.tensor.to_kind(tch::Kind::Int64).remainder(size);
                c.b.constant(&norm, "index")?
            }
            (_, size) => {
                // Negative indices count from the end: FloorMod by the dim's size (from Shape
                // when dynamic).
                let ip = c.port(t)?;
                let ip = c.cast(ip, DType::I64)?;
                let s = c.dim_scalar(size)?;
                c.op1("FloorMod", vec![In::P(ip), In::P(s)], vec![], DType::I64)?
            }
        };
        let ip = if t.tensor.size() != bshape || t.desc_shape() != bdesc {
            let target = match bport {
                Some(b) => b,
                None => *bport.insert(c.dims_port(&bdims)?),
            };
            c.op1(
                "BroadcastTo",
                vec![In::P(ip), In::P(target)],
                vec![],
                DType::I64,
            )?
        } else {
            ip
        };
        idx_ports.push(ip);
    }
    let b = bshape.len();
    let packed = c.op1(
        "Pack",
        vec![In::Dyn(idx_ports)],
        vec![("axis", attr::int(b as i64)), ("N", attr::int(k as i64))],
        DType::I64,
    )?;
    // values broadcast to what x[indices] would be: pre + B + post.
    let (pre, post) = (&sdims[..p], &sdims[p + k..]);
    let target: Vec<Dim> = pre.iter().chain(&bdims).chain(post).copied().collect();
    let static_target = super::sym::known(&target);
    let mut v = c.tensor_as("values", out)?;
    if vdesc != static_target || static_target.contains(&-1) {
        let t = c.dims_port(&target)?;
        v = c.op1("BroadcastTo", vec![In::P(v), In::P(t)], vec![], out)?;
    }
    let (p, b, k) = (p as i64, b as i64, k as i64);
    let rank = rank as i64;
    let perm_x: Vec<i64> = (p..p + k).chain(0..p).chain(p + k..rank).collect();
    let perm_v: Vec<i64> = (p..p + b)
        .chain(0..p)
        .chain(p + b..p + b + (rank - p - k))
        .collect();
    let x = c.tensor_as("self", out)?;
    let xt = transpose(c, x, &perm_x, out)?;
    let vt = transpose(c, v, &perm_v, out)?;
    let ty = if accumulate {
        "TensorScatterAdd"
    } else {
        "TensorScatterUpdate"
    };
    let y = c.op1(ty, vec![In::P(xt), In::P(packed), In::P(vt)], vec![], out)?;
    let mut inv = vec![0; perm_x.len()];
    for (i, &q) in perm_x.iter().enumerate() {
        inv[q as usize] = i as i64;
    }
    Ok(vec![transpose(c, y, &inv, out)?])
}

fn index_select(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let dim = Ctx::dim(c.int("dim")?, rank);
    let mut x = c.tensor("self")?;
    let idx = c.tensor_as("index", DType::I64)?;
    if rank == 0 {
        // PyTorch reads a 0-d self as one element along dim 0 (and gives a 0-d result): gather
        // from it seen as [1], then take the result's shape.
        x = c.reshape_const(x, &[1], out)?;
    }
    let axis = c.scalar_i64(0.max(dim))?;
    let y = c.op1(
        "GatherV2",
        vec![In::P(x), In::P(idx), In::P(axis)],
        vec![],
        out,
    )?;
    if rank == 0 {
        let shape = c.outputs[0].tensors()[0].tensor.size();
        return Ok(vec![c.reshape_const(y, &shape, out)?]);
    }
    Ok(vec![y])
}

fn cumsum(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let x = c.tensor_as("self", out)?;
    if rank == 0 {
        return Ok(vec![x]);
    }
    let dim = Ctx::dim(c.int("dim")?, rank);
    let axis = c.scalar_i64(dim)?;
    Ok(vec![c.op1(
        "Cumsum",
        vec![In::P(x), In::P(axis)],
        vec![],
        out,
    )?])
}

fn one_hot(c: &mut Ctx) -> RuleResult {
    let classes = c.int("num_classes")?;
    if classes < 0 {
        return Err(
            "one_hot without num_classes takes the class count from the data; fix: pass num_classes"
                .into(),
        );
    }
    let x = c.tensor_as("self", DType::I64)?;
    let depth = c.scalar_i64(classes)?;
    let on = c.scalar_i64(1)?;
    let off = c.scalar_i64(0)?;
    Ok(vec![c.op1(
        "OneHot",
        vec![In::P(x), In::P(depth), In::P(on), In::P(off)],
        vec![("axis", attr::int(-1))],
        DType::I64,
    )?])
}

fn index_add(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let dim = Ctx::dim(c.int("dim")?, rank);
    if c.rank("index")? > 1 {
        return Err("index_add: index must be 0-D or 1-D".into());
    }
    let x = c.tensor_as("self", out)?;
    let mut idx = c.tensor_as("index", DType::I64)?;
    if c.rank("index")? == 0 {
        idx = c.reshape_const(idx, &[1], DType::I64)?;
    }
    let src = c.tensor_as("source", out)?;
    let alpha = match c.has("alpha").then(|| c.arg("alpha")).transpose()? {
        None => 1.0,
        Some(v) => v.as_f64().ok_or("index_add: alpha must be a number")?,
    };
    let alpha = if alpha == 1.0 {
        In::Unfed
    } else {
        let a = tch::Tensor::from_slice(&[alpha]).to_kind(out.kind());
        In::P(c.b.constant(&a, &format!("[{alpha}]"))?)
    };
    Ok(vec![c.op1(
        "InplaceIndexAdd",
        vec![In::P(x), In::P(idx), In::P(src), alpha],
        vec![("axis", attr::int(dim))],
        out,
    )?])
}

fn take(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if c.tensor_value("self")?.tensor.numel() == 0 {
        return Err("take from an empty tensor".into());
    }
    // numel: a constant, or the product of the dims (from Shape when dynamic).
    let mut n = Dim::K(1);
    for d in c.sym_dims("self")? {
        n = c.dim_times(n, d)?;
    }
    let x = c.tensor("self")?;
    let flat = c.reshape_const(x, &[-1], out)?;
    let idx = c.tensor_as("index", DType::I64)?;
    let n = c.dim_scalar(n)?;
    let idx = c.op1("FloorMod", vec![In::P(idx), In::P(n)], vec![], DType::I64)?;
    let axis = c.scalar_i64(0)?;
    Ok(vec![c.op1(
        "GatherV2",
        vec![In::P(flat), In::P(idx), In::P(axis)],
        vec![],
        out,
    )?])
}

fn masked_scatter(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    // self and mask broadcast to the result: a Const shape when static, else the broadcast of
    // their dims computed in the graph.
    let shape = c.out_desc_shape(0)?;
    let (xs, ms) = (c.in_desc_shape("self")?, c.in_desc_shape("mask")?);
    let target = if !shape.contains(&-1) {
        c.const_i64(&shape)?
    } else if xs == shape {
        c.shape_port("self")?
    } else if ms == shape {
        c.shape_port("mask")?
    } else {
        let dims = [c.sym_dims("self")?, c.sym_dims("mask")?];
        let dims = c.broadcast_dims(&dims)?;
        c.dims_port(&dims)?
    };
    let mut x = c.tensor_as("self", out)?;
    if xs != shape {
        x = c.op1("BroadcastTo", vec![In::P(x), In::P(target)], vec![], out)?;
    }
    let mut m = c.tensor_as("mask", DType::Bool)?;
    if ms != shape {
        m = c.op1(
            "BroadcastTo",
            vec![In::P(m), In::P(target)],
            vec![],
            DType::Bool,
        )?;
    }
    let src = c.tensor_as("source", out)?;
    Ok(vec![c.op1(
        "MaskedScatter",
        vec![In::P(x), In::P(m), In::P(src)],
        vec![],
        out,
    )?])
}
