//! Ops whose result size depends on the data: `nonzero`/`argwhere`/`nonzero_numpy` (NonZero),
//! `masked_select` (MaskedSelect), `unique_consecutive` (UniqueConsecutive), `_unique2`
//! (Sort → UniqueConsecutive), `repeat_interleave` with tensor repeats (RepeatInterleave) and
//! `tensor_split` at indices held by a tensor. The graph computes them in full, but its descs
//! hold the sample's sizes: each such node is marked (`Ctx::data_dependent`), the export prints
//! the guard, and the runner refuses an input that gives another size. Also the static forms:
//! `nonzero_static`, `hsplit`/`vsplit`/`dsplit` and `tensor_split` at constant positions.
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Origin, Port, Value};

pub fn register(r: &mut Rules) {
    r.add(
        "aten::nonzero",
        nonzero,
        "NonZero(x; transpose=false, dtype=INT64); the output size is the sample's (a guard: run refuses inputs giving another size)",
    );
    r.add("aten::argwhere", nonzero, "as aten::nonzero");
    r.add(
        "aten::nonzero_numpy",
        nonzero_numpy,
        "NonZero(x; transpose=true, dtype=INT64) → GatherV2 of each row; the output size is the sample's (a guard: run refuses inputs giving another size)",
    );
    r.add(
        "aten::masked_select",
        masked_select,
        "MaskedSelect([BroadcastTo] x, [BroadcastTo] ⇑BOOL mask); the output size is the sample's (a guard: run refuses inputs giving another size)",
    );
    r.add(
        "aten::unique_consecutive",
        unique_consecutive,
        "UniqueConsecutive(x; return_idx, return_counts, axis=dim or 1000 (flattened)); the output size is the sample's (a guard: run refuses inputs giving another size)",
    );
    r.add(
        "aten::_unique2",
        unique2,
        "UniqueConsecutive(Sort(Reshape(x, [-1])); return_counts) → values, counts; inverse = Reshape(ReduceSum(Cast INT64(Less(Unsqueeze(values, 0), Unsqueeze(flat x, 1))), [1])); the output size is the sample's (a guard: run refuses inputs giving another size)",
    );
    r.add(
        "aten::repeat_interleave.self_Tensor",
        repeat_interleave,
        "RepeatInterleave(x [Reshape [-1] when dim is None], ⇑INT64 repeats; axis=dim); the output size is the sample's (a guard: run refuses inputs giving another size)",
    );
    r.add(
        "aten::tensor_split",
        tensor_split,
        "constant positions (sections, indices, a constant tensor): StridedSliceV2 per piece; indices in a computed tensor: StridedSliceV2(x, begin=Reshape(GatherV2(idx, k−1)), end=Reshape(GatherV2(idx, k))) per piece, sizes the sample's (a guard: run refuses inputs giving another size)",
    );
    const SPLIT: &str =
        "StridedSliceV2 per piece, positions as tensor_split's (dim 1 (0 for 1-D) / 0 / 2)";
    r.add("aten::hsplit", |c| hvd_split(c, Hvd::H), SPLIT);
    r.add("aten::vsplit", |c| hvd_split(c, Hvd::V), SPLIT);
    r.add("aten::dsplit", |c| hvd_split(c, Hvd::D), SPLIT);
    r.add(
        "aten::nonzero_static",
        nonzero_static,
        "static: rank = Cumsum(Cast INT64(NotEqual(Reshape(x, [-1]), 0))) − 1; TensorScatterUpdate(Fill([size + 1, rank], fill_value), SelectV2(nonzero ∧ rank < size, rank, size), K64(every element's coordinates)) → StridedSliceV2 [0, size)",
    );
}

fn count_note(n: i64, what: &str) -> String {
    format!("{n} {what}")
}

fn nonzero(c: &mut Ctx) -> RuleResult {
    let t = c.tensor_value("self")?;
    let n = c.outputs[0].tensors()[0].tensor.size()[0];
    let dt = crate::dtype::of_tensor(&t.tensor)?;
    let x = c.tensor("self")?;
    let x = if dt == DType::BF16 {
        c.cast(x, DType::F32)?
    } else {
        x
    };
    let y = c.op1(
        "NonZero",
        vec![In::P(x)],
        vec![
            ("transpose", attr::boolean(false)),
            ("dtype", attr::dtype_cpp(DType::I64.ge_cpp())),
        ],
        DType::I64,
    )?;
    let shape = c.out_desc_shape(0)?;
    c.data_dependent(y, &shape, count_note(n, "nonzero element(s)"));
    Ok(vec![y])
}

fn nonzero_numpy(c: &mut Ctx) -> RuleResult {
    let rank = c.rank("self")?;
    let n = c.outputs[0].tensors()[0].tensor.size()[0];
    let dt = c.in_dtype("self")?;
    let mut x = c.tensor("self")?;
    if dt == DType::BF16 {
        x = c.cast(x, DType::F32)?;
    }
    // A 0-D tensor reads as one element (PyTorch gives one index tensor).
    let rank = if rank == 0 {
        let xdt = c.b.out_dtype(x).unwrap_or(dt);
        x = c.reshape_const(x, &[1], xdt)?;
        1
    } else {
        rank
    };
    let y = c.op1(
        "NonZero",
        vec![In::P(x)],
        vec![
            ("transpose", attr::boolean(true)),
            ("dtype", attr::dtype_cpp(DType::I64.ge_cpp())),
        ],
        DType::I64,
    )?;
    let nd = c.out_desc_shape(0)?[0];
    c.data_dependent(y, &[rank as i64, nd], count_note(n, "nonzero element(s)"));
    let axis = c.scalar_i64(0)?;
    let mut outs = vec![];
    for d in 0..rank as i64 {
        let i = c.scalar_i64(d)?;
        outs.push(c.op1(
            "GatherV2",
            vec![In::P(y), In::P(i), In::P(axis)],
            vec![],
            DType::I64,
        )?);
    }
    Ok(outs)
}

/// Both tensors broadcast to their common (static) shape.
fn broadcast_pair(
    c: &mut Ctx,
    a: &str,
    b: &str,
    ta: DType,
    tb: DType,
) -> Result<(Port, Port), String> {
    let (sa, sb) = (c.in_shape(a)?, c.in_shape(b)?);
    let probe = |s: &[i64]| tch::Tensor::zeros(s, (tch::Kind::Bool, tch::Device::Cpu));
    let common = tch::Tensor::f_broadcast_tensors(&[probe(&sa), probe(&sb)])
        .map_err(|e| crate::load::short_torch_message(&e.to_string()))?[0]
        .size();
    let mut pa = c.tensor_as(a, ta)?;
    let mut pb = c.tensor_as(b, tb)?;
    if sa != common {
        pa = super::layout::broadcast_to(c, pa, &common, ta)?;
    }
    if sb != common {
        pb = super::layout::broadcast_to(c, pb, &common, tb)?;
    }
    Ok((pa, pb))
}

fn masked_select(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let n = c.outputs[0].tensors()[0].tensor.size()[0];
    let (x, m) = broadcast_pair(c, "self", "mask", out, DType::Bool)?;
    let y = c.op1("MaskedSelect", vec![In::P(x), In::P(m)], vec![], out)?;
    let shape = c.out_desc_shape(0)?;
    c.data_dependent(y, &shape, count_note(n, "selected element(s)"));
    Ok(vec![y])
}

/// `UniqueConsecutive` of `x` with the output dtypes of the op's three outputs.
fn unique_node(
    c: &mut Ctx,
    x: Port,
    dt: DType,
    idx: bool,
    counts: bool,
    axis: i64,
) -> Result<Vec<Port>, String> {
    c.op(
        "UniqueConsecutive",
        vec![In::P(x)],
        vec![
            ("return_idx", attr::boolean(idx)),
            ("return_counts", attr::boolean(counts)),
            ("axis", attr::int(axis)),
        ],
        &[Some(dt), Some(DType::I64), Some(DType::I64)],
    )
}

fn unique_consecutive(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let idx = c.bool("return_inverse")?;
    let counts = c.bool("return_counts")?;
    let axis = match c.arg("dim")? {
        Value::None => 1000,
        _ => Ctx::dim(c.int("dim")?, rank),
    };
    let x = c.tensor_as("self", out)?;
    let ys = unique_node(c, x, out, idx, counts, axis)?;
    let n = c.outputs[0].tensors()[0].tensor.size();
    let shape = c.out_desc_shape(0)?;
    c.data_dependent(ys[0], &shape, format!("unique values of shape {n:?}"));
    Ok(ys)
}

fn unique2(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let sorted = c.bool("sorted")?;
    let values = &c.outputs[0].tensors()[0].tensor;
    if !sorted && values.numel() > 1 {
        let v = values.to_kind(tch::Kind::Double);
        let n = v.size()[0];
        let ascending = v
            .narrow(0, 1, n - 1)
            .ge_tensor(&v.narrow(0, 0, n - 1))
            .all()
            .int64_value(&[])
            != 0;
        if !ascending {
            return Err("unique(sorted=False) gives values in an order of libtorch's own choosing; fix: pass sorted=True".into());
        }
    }
    let n = values.size()[0];
    let inverse = c.bool("return_inverse")?;
    let counts = c.bool("return_counts")?;
    let shape = c.in_shape("self")?;
    let work = super::spatial::work_dtype("Sort", out);
    let x = c.tensor_as("self", work)?;
    let flat = c.reshape_const(x, &[-1], work)?;
    let s = c.op(
        "Sort",
        vec![In::P(flat)],
        vec![
            ("axis", attr::int(-1)),
            ("descending", attr::boolean(false)),
            ("stable", attr::boolean(true)),
        ],
        &[Some(work), Some(DType::I32)],
    )?;
    let ys = unique_node(c, s[0], work, false, counts, 1000)?;
    let vshape = c.out_desc_shape(0)?;
    c.data_dependent(ys[0], &vshape, count_note(n, "unique value(s)"));
    let v = c.cast(ys[0], out)?;
    let inv = if inverse {
        let a = super::spatial::unsqueeze(c, ys[0], vec![0], work)?;
        let b = super::spatial::unsqueeze(c, flat, vec![1], work)?;
        let lt = c.bin("Less", a, b, DType::Bool)?;
        let lt = c.cast(lt, DType::I64)?;
        let axes = c.const_i64(&[1])?;
        let r = c.op1(
            "ReduceSum",
            vec![In::P(lt), In::P(axes)],
            vec![("keep_dims", attr::boolean(false))],
            DType::I64,
        )?;
        c.reshape_const(r, &shape, DType::I64)?
    } else {
        empty_like_output(c, 1)?
    };
    let cnt = if counts {
        ys[2]
    } else {
        empty_like_output(c, 2)?
    };
    Ok(vec![v, inv, cnt])
}

/// A Const of concrete output `i` (an empty tensor: an output the op was not asked for).
fn empty_like_output(c: &mut Ctx, i: usize) -> Result<Port, String> {
    let t = c.outputs[i].tensors()[0].tensor.copy();
    if t.numel() != 0 {
        return Err(format!(
            "internal: output {i} of {} was expected empty",
            c.node.op_name()
        ));
    }
    c.b.constant(&t, "empty")
}

fn repeat_interleave(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let n = c.outputs[0].tensors()[0].tensor.size();
    let x = c.tensor_as("self", out)?;
    let (x, axis) = match c.arg("dim")? {
        Value::None => (c.reshape_const(x, &[-1], out)?, 0),
        _ => {
            let rank = c.rank("self")? as i64;
            (x, Ctx::dim(c.int("dim")?, rank))
        }
    };
    let r = c.tensor_as("repeats", DType::I64)?;
    let y = c.op1(
        "RepeatInterleave",
        vec![In::P(x), In::P(r)],
        vec![("axis", attr::int(axis))],
        out,
    )?;
    let shape = c.out_desc_shape(0)?;
    c.data_dependent(y, &shape, format!("repeated shape {n:?}"));
    Ok(vec![y])
}

/// One piece per [begin, end) along `dim` (Python slicing: negative positions count from the
/// end, out-of-range ones clamp).
fn pieces(c: &mut Ctx, dim: i64, bounds: &[(i64, i64)], out: DType) -> RuleResult {
    let x = c.tensor_as("self", out)?;
    let mut outs = vec![];
    for &(b, e) in bounds {
        outs.push(c.slice_axis(x, dim, b, e, out)?);
    }
    Ok(outs)
}

/// The [begin, end) bounds of tensor_split at `indices`.
fn index_bounds(indices: &[i64], n: i64) -> Vec<(i64, i64)> {
    let mut b = vec![];
    let mut prev = 0;
    for &i in indices {
        b.push((prev, i));
        prev = i;
    }
    b.push((prev, n));
    b
}

/// The [begin, end) bounds of tensor_split into `k` sections of a dim of `n`.
fn section_bounds(k: i64, n: i64) -> Result<Vec<(i64, i64)>, String> {
    if k <= 0 {
        return Err(format!(
            "tensor_split into {k} sections: the count must be positive"
        ));
    }
    let (q, r) = (n / k, n % k);
    let mut b = vec![];
    let mut start = 0;
    for j in 0..k {
        let len = q + i64::from(j < r);
        b.push((start, start + len));
        start += len;
    }
    Ok(b)
}

fn tensor_split(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    let rank = shape.len() as i64;
    let dim = Ctx::dim(c.int("dim")?, rank);
    let n = *shape
        .get(dim as usize)
        .ok_or("tensor_split of a 0-D tensor")?;
    if c.has("sections") {
        let b = section_bounds(c.int("sections")?, n)?;
        return pieces(c, dim, &b, out);
    }
    if c.has("indices") {
        let b = index_bounds(&c.ints("indices")?, n);
        return pieces(c, dim, &b, out);
    }
    let t = c.tensor_value("tensor_indices_or_sections")?.clone();
    let vals: Vec<i64> = Vec::<i64>::try_from(t.tensor.to_kind(tch::Kind::Int64).flatten(0, -1))
        .map_err(|e| e.to_string())?;
    if t.tensor.dim() == 0 {
        if matches!(t.origin, Origin::Constant) {
            let b = section_bounds(vals[0], n)?;
            return pieces(c, dim, &b, out);
        }
        return computed_sections(c, &t, dim, n, vals[0], out);
    }
    if matches!(t.origin, Origin::Constant) {
        let b = index_bounds(&vals, n);
        return pieces(c, dim, &b, out);
    }
    // Indices computed in the graph: each piece's bounds are read from them.
    let x = c.tensor_as("self", out)?;
    let idx = c.port(&t)?;
    let idx = c.cast(idx, DType::I64)?;
    let zero_axis = c.scalar_i64(0)?;
    let axes = c.const_i64(&[dim])?;
    let one = c.const_i64(&[1])?;
    let mut outs = vec![];
    for k in 0..=vals.len() {
        let bound = |c: &mut Ctx, j: usize| -> Result<Port, String> {
            let i = c.const_i64(&[j as i64])?;
            c.op1(
                "GatherV2",
                vec![In::P(idx), In::P(i), In::P(zero_axis)],
                vec![],
                DType::I64,
            )
        };
        let b = if k == 0 {
            c.const_i64(&[0])?
        } else {
            bound(c, k - 1)?
        };
        let e = if k == vals.len() {
            c.const_i64(&[i64::MAX / 4])?
        } else {
            bound(c, k)?
        };
        let y = c.op1(
            "StridedSliceV2",
            vec![In::P(x), In::P(b), In::P(e), In::P(axes), In::P(one)],
            vec![],
            out,
        )?;
        let piece = c.outputs[0].tensors()[k].desc_shape();
        let size = c.outputs[0].tensors()[k].tensor.size()[dim as usize];
        c.data_dependent(
            y,
            &piece,
            format!("split position(s) {vals:?} (piece {k} has {size} along dim {dim})"),
        );
        outs.push(y);
    }
    Ok(outs)
}

/// tensor_split into `k` sections, k held by a computed 0-D tensor: the graph has the sample's
/// k pieces (the model's own unpacking fixes that count), and computes each piece's bounds from
/// the tensor (begin j = j·(n / k) + min(j, n % k)), so another count gives other sizes, which
/// the runner refuses.
fn computed_sections(
    c: &mut Ctx,
    t: &crate::value::TensorValue,
    dim: i64,
    n: i64,
    k: i64,
    out: DType,
) -> RuleResult {
    section_bounds(k, n)?;
    let x = c.tensor_as("self", out)?;
    let kp = c.port(t)?;
    let kp = c.cast(kp, DType::I64)?;
    let kp = c.reshape_const(kp, &[1], DType::I64)?;
    let kn = c.const_i64(&[n])?;
    let q = c.bin("FloorDiv", kn, kp, DType::I64)?;
    let r = c.bin("FloorMod", kn, kp, DType::I64)?;
    let axes = c.const_i64(&[dim])?;
    let one = c.const_i64(&[1])?;
    let begin = |c: &mut Ctx, j: i64| -> Result<Port, String> {
        let kj = c.const_i64(&[j])?;
        let a = c.bin("Mul", kj, q, DType::I64)?;
        let m = c.bin("Minimum", kj, r, DType::I64)?;
        c.bin("Add", a, m, DType::I64)
    };
    let mut outs = vec![];
    for j in 0..k {
        let b = begin(c, j)?;
        let e = begin(c, j + 1)?;
        let y = c.op1(
            "StridedSliceV2",
            vec![In::P(x), In::P(b), In::P(e), In::P(axes), In::P(one)],
            vec![],
            out,
        )?;
        let piece = c.outputs[0].tensors()[j as usize].desc_shape();
        c.data_dependent(
            y,
            &piece,
            format!("{k} sections (a count held by a tensor)"),
        );
        outs.push(y);
    }
    Ok(outs)
}

#[derive(Clone, Copy)]
enum Hvd {
    H,
    V,
    D,
}

fn hvd_split(c: &mut Ctx, which: Hvd) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    let dim = match which {
        Hvd::H if shape.len() == 1 => 0,
        Hvd::H => 1,
        Hvd::V => 0,
        Hvd::D => 2,
    };
    let n = *shape
        .get(dim)
        .ok_or_else(|| format!("{} needs more dims than {shape:?}", c.node.op_name()))?;
    let b = if c.has("sections") {
        let k = c.int("sections")?;
        if k <= 0 || n % k != 0 {
            return Err(format!(
                "{}: a dim of {n} does not split into {k} equal sections",
                c.node.op_name()
            ));
        }
        section_bounds(k, n)?
    } else {
        index_bounds(&c.ints("indices")?, n)
    };
    pieces(c, dim as i64, &b, out)
}

fn nonzero_static(c: &mut Ctx) -> RuleResult {
    let shape = c.in_shape("self")?;
    let size = c.int("size")?;
    let fill = c.int("fill_value")?;
    let rank = shape.len() as i64;
    let numel: i64 = shape.iter().product();
    let oshape = c.out_shape(0)?;
    if size <= 0 || numel == 0 || rank == 0 {
        // No element to place (or a [size, 0] result): the fill value everywhere.
        let dims = c.const_i64(&oshape)?;
        let v = c.scalar_i64(fill)?;
        return Ok(vec![c.op1(
            "Fill",
            vec![In::P(dims), In::P(v)],
            vec![],
            DType::I64,
        )?]);
    }
    let dt = c.in_dtype("self")?;
    let x = c.tensor("self")?;
    let x = if dt == DType::Bool {
        c.cast(x, DType::U8)?
    } else {
        x
    };
    let xdt = if dt == DType::Bool { DType::U8 } else { dt };
    let flat = c.reshape_const(x, &[-1], xdt)?;
    let zero = c.scalar(0.0, xdt)?;
    let nz = c.bin("NotEqual", flat, zero, DType::Bool)?;
    let m = c.cast(nz, DType::I64)?;
    let axis = c.scalar_i64(0)?;
    let cs = c.op1("Cumsum", vec![In::P(m), In::P(axis)], vec![], DType::I64)?;
    let one = c.scalar_i64(1)?;
    let r = c.bin("Sub", cs, one, DType::I64)?;
    let ks = c.scalar_i64(size)?;
    let lt = c.bin("Less", r, ks, DType::Bool)?;
    let keep = c.bin("LogicalAnd", nz, lt, DType::Bool)?;
    let slot = c.op1(
        "SelectV2",
        vec![In::P(keep), In::P(r), In::P(ks)],
        vec![],
        DType::I64,
    )?;
    let slot = c.reshape_const(slot, &[-1, 1], DType::I64)?;
    let cols = rank;
    let coords = {
        let pos = tch::Tensor::arange(numel, (tch::Kind::Int64, tch::Device::Cpu));
        let mut cs = vec![];
        let mut rest = pos.shallow_clone();
        for d in (0..shape.len()).rev() {
            cs.push(rest.remainder(shape[d]));
            rest = rest.divide_scalar_mode(shape[d], "floor");
        }
        cs.reverse();
        tch::Tensor::stack(&cs, 1)
    };
    let coords = c.b.constant(&coords, "element coordinates")?;
    let dims = c.const_i64(&[size + 1, cols])?;
    let v = c.scalar_i64(fill)?;
    let buf = c.op1("Fill", vec![In::P(dims), In::P(v)], vec![], DType::I64)?;
    let y = c.op1(
        "TensorScatterUpdate",
        vec![In::P(buf), In::P(slot), In::P(coords)],
        vec![],
        DType::I64,
    )?;
    let y = c.slice_axis(y, 0, 0, size, DType::I64)?;
    Ok(vec![c.reshape_const(y, &oshape, DType::I64)?])
}
