//! Splitting, stacking, repeating and broadcasting tensors; triangles and differences.
use super::sym::{self, Dim};
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, TensorValue, Value};

pub fn register(r: &mut Rules) {
    const SPLIT: &str =
        "SplitV(x, size_splits=K64(sizes) (listed sizes on a dynamic dim: Pack of them), split_dim=K32(dim); num_split); one piece: nothing";
    r.add("aten::split", split, SPLIT);
    r.add("aten::split_with_sizes", split, SPLIT);
    r.add("aten::unsafe_split", split, SPLIT);
    r.add("aten::chunk", split, SPLIT);
    r.add("aten::unsafe_chunk", split, SPLIT);
    r.add(
        "aten::unbind",
        unbind,
        "GatherV2(x, indices=K64(i, 0-D), axis=K64(dim)) per slice",
    );
    r.add(
        "aten::fft_fftshift",
        |c| fftshift(c, false),
        "Roll(x; shifts=size//2 per dim, dims) (every dim when dim is None); the rolled dims pinned",
    );
    r.add(
        "aten::fft_ifftshift",
        |c| fftshift(c, true),
        "Roll(x; shifts=-(size//2) per dim, dims) (every dim when dim is None); the rolled dims pinned",
    );
    r.add(
        "aten::roll",
        roll,
        "Roll(x; shifts, dims); no dims: Reshape(-1) → Roll(dims=[0]) → Reshape back",
    );
    r.add(
        "aten::pixel_shuffle",
        pixel_shuffle,
        "Reshape [.., C, r, r, H, W] → Transpose [.., C, H, r, W, r] → Reshape [.., C, H·r, W·r] (dynamic dims: Pack of Gather(Shape(x)), C/r² by FloorDiv and H·r, W·r by Mul); r = 1: nothing",
    );
    r.add(
        "aten::broadcast_tensors",
        broadcast_tensors,
        "BroadcastTo(xi, K64(common shape)) for each tensor; dynamic: Shape of the input that has it, or Pack of Gather(Shape(xi)) per dim",
    );
    r.add(
        "aten::outer",
        outer,
        "Mul(Unsqueeze(⇑out self, axes=[1]), Unsqueeze(⇑out vec2, axes=[0]))",
    );
    r.add(
        "aten::stack",
        stack,
        "Pack(x0..xN-1 ⇑out; axis=dim normalised, N)",
    );
    r.add(
        "aten::repeat",
        repeat,
        "Tile(x, multiples=K64(repeats)); more repeats than dims: Reshape to add leading 1s first",
    );
    r.add(
        "aten::expand",
        expand,
        "BroadcastTo(x, shape=K64(output shape, -1 resolved)); nothing when the shape is unchanged",
    );
    r.add(
        "aten::broadcast_to",
        expand,
        "BroadcastTo(x, shape=K64(output shape, -1 resolved)); nothing when the shape is unchanged",
    );
    r.add(
        "aten::expand_copy",
        expand,
        "BroadcastTo(x, shape=K64(output shape, -1 resolved)); nothing when the shape is unchanged",
    );
    r.add(
        "aten::expand_as",
        expand,
        "BroadcastTo(x, shape=K64(other's shape)); nothing when the shape is unchanged",
    );
    r.add(
        "aten::tile",
        tile,
        "Tile(x, multiples=K64(dims with leading 1s to the rank)); more dims than x: Unsqueeze leading axes first; all 1: nothing",
    );
    r.add(
        "aten::repeat_interleave.self_int",
        repeat_interleave,
        "Unsqueeze(axes=[dim+1]) → Tile(K64(repeats on the new dim)) → Reshape(output shape: K64, or Pack of Gather(Shape(x)) with -1 at dim); dim None: Reshape(-1) first",
    );
    r.add(
        "aten::triu",
        |c| triangle(c, "Triu"),
        "Triu(x; diagonal) (BOOL via UINT8)",
    );
    r.add(
        "aten::tril",
        |c| triangle(c, "Tril"),
        "Tril(x; diagonal) (BOOL via UINT8)",
    );
    r.add(
        "aten::flip",
        flip,
        "ReverseV2(x, axis=K64(dims normalised)); no dims: nothing",
    );
    r.add(
        "aten::diff",
        diff,
        "[ConcatV2(prepend, x, append)] → n × Sub(StridedSliceV2(x, 1:), StridedSliceV2(x, :-1)) along dim (BOOL: NotEqual of UINT8)",
    );
}

/// Every split form: the piece sizes are read from the concrete outputs.
fn split(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let dim = Ctx::dim(c.int("dim")?, rank);
    let pieces: Vec<i64> = c.outputs[0]
        .tensors()
        .iter()
        .map(|t| t.tensor.size()[dim as usize])
        .collect();
    let x = c.tensor("self")?;
    if pieces.len() == 1 {
        return Ok(vec![x]);
    }
    let dynamic = c.in_dims("self")?[dim as usize].is_none();
    // Sizes given as a list (split_with_sizes, split.sizes) are computed in the graph when they
    // depend on a dynamic dim; a split of a dynamic dim into pieces of one size or into a number
    // of chunks gives a number of pieces that depends on the size: that dim is pinned.
    let listed = ["split_sizes", "split_size"]
        .into_iter()
        .find(|a| c.has(a) && matches!(c.arg(a), Ok(Value::List(_))));
    let sizes = match listed {
        Some(name) if dynamic => c.ints_port(name)?,
        _ => {
            if dynamic {
                c.assumptions.push(format!(
                    "a split of a dynamic dim into {} pieces of sizes {pieces:?}",
                    pieces.len()
                ));
            }
            c.const_i64(&pieces)?
        }
    };
    let d =
        c.b.constant(&tch::Tensor::from(dim as i32), &format!("{dim}"))?;
    c.op(
        "SplitV",
        vec![In::P(x), In::P(sizes), In::P(d)],
        vec![("num_split", attr::int(pieces.len() as i64))],
        &vec![Some(out); pieces.len()],
    )
}

fn unbind(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let dims = c.in_dims("self")?;
    let dim = Ctx::dim(c.int("dim")?, dims.len() as i64);
    // One output per slice: the count along `dim` is the graph's structure, so a dynamic one is
    // pinned (other dims may stay dynamic).
    let count = c.tensor_value("self")?.tensor.size()[dim as usize];
    if dims[dim as usize].is_none() {
        c.assumptions.push(format!(
            "unbind gives {count} tensors, one per slice of a dynamic dim"
        ));
    }
    let x = c.tensor("self")?;
    let axis = c.scalar_i64(dim)?;
    let mut ports = vec![];
    for i in 0..count {
        let idx = c.scalar_i64(i)?;
        ports.push(c.op1(
            "GatherV2",
            vec![In::P(x), In::P(idx), In::P(axis)],
            vec![],
            out,
        )?);
    }
    Ok(ports)
}

/// The tensors of a `Tensor[]` argument.
pub fn tensor_list(c: &mut Ctx, name: &str, dt: DType) -> Result<Vec<Port>, String> {
    let items: Vec<Value> = match c.arg(name)? {
        Value::List(v) | Value::Tuple(v) => v.clone(),
        _ => return Err(format!("argument '{name}' must be a list of tensors")),
    };
    let mut ports = vec![];
    for v in &items {
        let t = v
            .as_tensor()
            .ok_or_else(|| format!("argument '{name}' must be a list of tensors"))?;
        let p = c.port(t)?;
        ports.push(c.cast(p, dt)?);
    }
    Ok(ports)
}

fn stack(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.out_rank(0)? as i64;
    let dim = Ctx::dim(c.int("dim")?, rank);
    let ports = tensor_list(c, "tensors", out)?;
    let n = ports.len() as i64;
    Ok(vec![c.op1(
        "Pack",
        vec![In::Dyn(ports)],
        vec![("axis", attr::int(dim)), ("N", attr::int(n))],
        out,
    )?])
}

/// `tile(x, dims)`: `repeat` with dims padded by leading 1s to x's rank.
/// `self` with `extra` leading dims of size 1 (Unsqueeze), as tile and repeat give a tensor
/// more repeats than dims.
fn lead_dims(c: &mut Ctx, extra: usize, out: DType) -> Result<Port, String> {
    let x = c.tensor("self")?;
    if extra == 0 {
        return Ok(x);
    }
    let axes: Vec<i64> = (0..extra as i64).collect();
    c.op1(
        "Unsqueeze",
        vec![In::P(x)],
        vec![("axes", attr::list_int(axes))],
        out,
    )
}

fn tile(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")?;
    let dims = c.ints("dims")?;
    let mut mult = vec![1i64; rank.saturating_sub(dims.len())];
    mult.extend(&dims);
    let x = lead_dims(c, mult.len() - rank, out)?;
    if mult.iter().all(|m| *m == 1) {
        return Ok(vec![x]);
    }
    let m = c.const_i64(&mult)?;
    Ok(vec![c.op1(
        "Tile",
        vec![In::P(x), In::P(m)],
        vec![],
        out,
    )?])
}

fn repeat(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")?;
    let reps = match c.arg("repeats")? {
        Value::List(v) | Value::Tuple(v) => v.clone(),
        _ => return Err("repeat takes a list of repeats".into()),
    };
    if reps.len() < rank {
        return Err(format!(
            "repeat needs at least as many repeats as dims ({} < {rank})",
            reps.len(),
        ));
    }
    let x = lead_dims(c, reps.len() - rank, out)?;
    if reps.iter().all(|r| matches!(r, Value::Int(1))) {
        return Ok(vec![x]);
    }
    let m = c.ints_port("repeats")?;
    Ok(vec![c.op1(
        "Tile",
        vec![In::P(x), In::P(m)],
        vec![],
        out,
    )?])
}

pub fn broadcast_to(c: &mut Ctx, x: Port, shape: &[i64], dt: DType) -> Result<Port, String> {
    let s = c.const_i64(shape)?;
    c.op1("BroadcastTo", vec![In::P(x), In::P(s)], vec![], dt)
}

fn expand(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor("self")?;
    if !c.out_dynamic(0)?.iter().any(|d| *d) {
        let shape = c.out_shape(0)?;
        if c.in_dims("self")?.iter().all(Option::is_some) && c.in_shape("self")? == shape {
            return Ok(vec![x]);
        }
        return Ok(vec![broadcast_to(c, x, &shape, out)?]);
    }
    // Dynamic: the target from the size argument (`expand_as`: the other tensor's shape), where
    // -1 keeps the input's own (right-aligned) dim.
    let shape = if c.node.args.iter().any(|a| a == "other") {
        c.shape_port("other")?
    } else {
        let size = match c.arg("size")? {
            Value::List(v) | Value::Tuple(v) => v.clone(),
            _ => return Err("expand takes a list of sizes".into()),
        };
        let lead = size.len() - c.rank("self")?;
        let mut parts = vec![];
        for (i, v) in size.iter().enumerate() {
            parts.push(match v {
                Value::Int(-1) if i >= lead => c.dim_port("self", i - lead)?,
                v => c.int_port(v)?,
            });
        }
        super::sym::pack(c.b, parts)?
    };
    Ok(vec![c.op1(
        "BroadcastTo",
        vec![In::P(x), In::P(shape)],
        vec![],
        out,
    )?])
}

fn repeat_interleave(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let r = c.int("repeats")?;
    // Dynamic dims stay in the graph: the repeated dim is merged back by a -1.
    let mut shape = c.sym_dims("self")?;
    let mut x = c.tensor("self")?;
    let dim = if c.has("dim") {
        Ctx::dim(c.int("dim")?, shape.len() as i64) as usize
    } else {
        x = c.reshape_const(x, &[-1], out)?;
        shape = vec![Dim::K(-1)];
        0
    };
    let u = c.op1(
        "Unsqueeze",
        vec![In::P(x)],
        vec![("axes", attr::list_int(vec![dim as i64 + 1]))],
        out,
    )?;
    let mut reps = vec![1; shape.len() + 1];
    reps[dim + 1] = r;
    let reps = c.const_i64(&reps)?;
    let t = c.op1("Tile", vec![In::P(u), In::P(reps)], vec![], out)?;
    shape[dim] = match shape[dim] {
        Dim::K(k) if k >= 0 => Dim::K(k * r),
        _ => Dim::K(-1),
    };
    Ok(vec![c.reshape_dims(t, &shape, out)?])
}

fn triangle(c: &mut Ctx, ty: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    let diagonal = c.int("diagonal")?;
    let work = if out == DType::Bool { DType::U8 } else { out };
    let x = c.tensor_as("self", work)?;
    let y = c.op1(
        ty,
        vec![In::P(x)],
        vec![("diagonal", attr::int(diagonal))],
        work,
    )?;
    Ok(vec![c.cast(y, out)?])
}

fn diff(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")?;
    let dim = Ctx::dim(c.int("dim")?, rank as i64) as usize;
    let n = c.int("n")?;
    // Booleans are sliced as UINT8 (StridedSliceV2 and ConcatV2 do not list BOOL); each step's
    // difference is their NotEqual.
    let work = if out == DType::Bool { DType::U8 } else { out };
    let mut x = c.tensor_as("self", work)?;
    let mut parts = vec![];
    if c.has("prepend") {
        parts.push("prepend");
    }
    parts.push("self");
    if c.has("append") {
        parts.push("append");
    }
    // The length along `dim` when it is static for every part; a dynamic one is sliced by
    // Python bounds (`1:` and `:-1`), which StridedSliceV2 resolves against the run-time size.
    let mut size = Some(0);
    for name in &parts {
        let dims = c.in_dims(name)?;
        if dims.len() != rank {
            return Err(format!("diff's {name} must have as many dims as self"));
        }
        size = size.zip(dims[dim]).map(|(a, b)| a + b);
    }
    if parts.len() > 1 {
        let mut ports = vec![];
        for name in &parts {
            ports.push(c.tensor_as(name, work)?);
        }
        let d = c.scalar_i64(dim as i64)?;
        let k = ports.len() as i64;
        x = c.op1(
            "ConcatV2",
            vec![In::Dyn(ports), In::P(d)],
            vec![("N", attr::int(k))],
            work,
        )?;
    }
    for _ in 0..n {
        let (hi, lo) = match size {
            Some(0) => break,
            Some(s) => (
                c.slice_axis(x, dim as i64, 1, s, work)?,
                c.slice_axis(x, dim as i64, 0, s - 1, work)?,
            ),
            None => (
                c.slice_axis(x, dim as i64, 1, i64::MAX, work)?,
                c.slice_axis(x, dim as i64, 0, -1, work)?,
            ),
        };
        x = if out == DType::Bool {
            let ne = c.op1("NotEqual", vec![In::P(hi), In::P(lo)], vec![], out)?;
            c.cast(ne, work)?
        } else {
            c.op1("Sub", vec![In::P(hi), In::P(lo)], vec![], out)?
        };
        size = size.map(|s| s - 1);
    }
    Ok(vec![c.cast(x, out)?])
}

fn flip(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let dims: Vec<i64> = c
        .ints("dims")?
        .into_iter()
        .map(|d| Ctx::dim(d, rank))
        .collect();
    let x = c.tensor("self")?;
    if dims.is_empty() {
        return Ok(vec![x]);
    }
    let a = c.const_i64(&dims)?;
    Ok(vec![c.op1(
        "ReverseV2",
        vec![In::P(x), In::P(a)],
        vec![],
        out,
    )?])
}

/// A GE `Roll` of `x` by `shifts` along `dims`.
fn roll_op(
    c: &mut Ctx,
    x: Port,
    shifts: Vec<i64>,
    dims: Vec<i64>,
    out: DType,
) -> Result<Port, String> {
    c.op1(
        "Roll",
        vec![In::P(x)],
        vec![
            ("shifts", attr::list_int(shifts)),
            ("dims", attr::list_int(dims)),
        ],
        out,
    )
}

fn roll(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shifts = c.ints("shifts")?;
    let dims = if c.has("dims") {
        c.ints("dims")?
    } else {
        vec![]
    };
    let x = c.tensor("self")?;
    if dims.is_empty() {
        // Rolls the flattened tensor.
        let shape = c.shape_port("self")?;
        let flat = c.reshape_const(x, &[-1], out)?;
        let y = roll_op(c, flat, shifts, vec![0], out)?;
        return Ok(vec![c.op1(
            "Reshape",
            vec![In::P(y), In::P(shape)],
            vec![],
            out,
        )?]);
    }
    let rank = c.rank("self")? as i64;
    let dims = dims.into_iter().map(|d| Ctx::dim(d, rank)).collect();
    Ok(vec![roll_op(c, x, shifts, dims, out)?])
}

/// `fft.fftshift` / `fft.ifftshift`: a Roll by half of each dim's size (its sample size: the
/// shift is an attr, so a dynamic dim rolled is pinned).
fn fftshift(c: &mut Ctx, inverse: bool) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let dims: Vec<i64> = if c.has("dim") {
        c.ints("dim")?
            .into_iter()
            .map(|d| Ctx::dim(d, rank))
            .collect()
    } else {
        (0..rank).collect()
    };
    if dims.iter().any(|&d| d < 0 || d >= rank) {
        return Err(format!(
            "{}: dim {dims:?} out of range for {rank} dims",
            c.node.op_name()
        ));
    }
    let shape = c.in_shape("self")?;
    let x = c.tensor("self")?;
    if dims.is_empty() {
        return Ok(vec![x]);
    }
    let shifts: Vec<i64> = dims
        .iter()
        .map(|&d| {
            let half = shape[d as usize] / 2;
            if inverse {
                -half
            } else {
                half
            }
        })
        .collect();
    Ok(vec![roll_op(c, x, shifts, dims, out)?])
}

fn pixel_shuffle(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    // Every dim may be dynamic: the channels divided by r² (a multiple of it, as PyTorch
    // checks) in the graph when dynamic.
    let shape = c.sym_dims("self")?;
    let r = c.int("upscale_factor")?;
    let n = shape.len();
    if r == 1 {
        return Ok(vec![c.tensor("self")?]);
    }
    let ch = match shape.get(n.wrapping_sub(3)) {
        Some(&Dim::K(ch)) if r > 0 && ch % (r * r) == 0 => Dim::K(ch / (r * r)),
        Some(d @ Dim::P(_)) if r > 0 => c.dim_div(*d, r * r)?,
        _ => {
            return Err(format!(
                "pixel_shuffle of {:?} by {r}: the channels must be a multiple of {}",
                sym::known(&shape),
                r * r
            ))
        }
    };
    let lead = &shape[..n - 3];
    let (h, w) = (shape[n - 2], shape[n - 1]);
    let x = c.tensor("self")?;
    let split: Vec<Dim> = lead
        .iter()
        .copied()
        .chain([ch, Dim::K(r), Dim::K(r), h, w])
        .collect();
    let x = c.reshape_dims(x, &split, out)?;
    let l = lead.len() as i64;
    let perm: Vec<i64> = (0..l).chain([l, l + 3, l + 1, l + 4, l + 2]).collect();
    let x = c.transpose_const(x, &perm, out)?;
    let (hr, wr) = (c.dim_mul(h, r)?, c.dim_mul(w, r)?);
    let merged: Vec<Dim> = lead.iter().copied().chain([ch, hr, wr]).collect();
    Ok(vec![c.reshape_dims(x, &merged, out)?])
}

fn broadcast_tensors(c: &mut Ctx) -> RuleResult {
    let items: Vec<Value> = match c.arg("tensors")? {
        Value::List(v) | Value::Tuple(v) => v.clone(),
        _ => return Err("broadcast_tensors takes a list of tensors".into()),
    };
    let inputs = items
        .iter()
        .map(|v| v.as_tensor().cloned())
        .collect::<Option<Vec<TensorValue>>>()
        .ok_or("broadcast_tensors takes a list of tensors")?;
    let outs = c.outputs[0].tensors();
    // A tensor that already has the common shape, at the sample sizes and at the probe's (each
    // dynamic dim one larger): unchanged; in a dynamic export it also gives the others' shape.
    let same = |t: &TensorValue, o: &TensorValue| {
        t.tensor.size() == o.tensor.size() && t.dynamic_dims() == o.dynamic_dims()
    };
    let dynamic = outs.iter().any(|o| o.dynamic_dims().contains(&true));
    let full = inputs
        .iter()
        .zip(&outs)
        .find(|(t, o)| same(t, o))
        .map(|(t, _)| t.clone());
    let mut ports = vec![];
    for (t, o) in inputs.iter().zip(&outs) {
        let dt = crate::dtype::of_tensor(&t.tensor)?;
        let p = c.port(t)?;
        ports.push(if same(t, o) {
            p
        } else if !dynamic {
            broadcast_to(c, p, &o.tensor.size(), dt)?
        } else {
            let shape = match &full {
                Some(full) => super::sym::shape_port(c.b, c.mat, full)?,
                None => common_shape(c, &inputs, o)?,
            };
            c.op1("BroadcastTo", vec![In::P(p), In::P(shape)], vec![], dt)?
        });
    }
    Ok(ports)
}

/// The common shape `o` of broadcast `inputs` when none of them has it: per dim (right-aligned),
/// a constant where static, else `Gather(Shape(t), i)` of an input whose dim is that one (the same
/// size at the sample and at the probe).
fn common_shape(c: &mut Ctx, inputs: &[TensorValue], o: &TensorValue) -> Result<Port, String> {
    let (osize, odyn) = (o.tensor.size(), o.dynamic_dims());

    let mut dims = vec![];
    for j in 0..osize.len() {
        if !odyn[j] {
            dims.push(Dim::K(osize[j]));
            continue;
        }
        let from = inputs.iter().find_map(|t| {
            let off = osize.len().checked_sub(t.tensor.dim())?;
            let i = j.checked_sub(off)?;
            (t.dynamic_dims()[i] && t.dim_triple(i) == o.dim_triple(j)).then(|| (t.clone(), i))
        });
        match from {
            Some((t, i)) => dims.push(Dim::P(sym::dim_port(c.b, c.mat, &t, i)?)),
            None => {
                // No input has that dim as it is (it is the broadcast of several): taken as a
                // constant, so the dims it comes from are pinned (with a note).
                c.bake(format!(
                    "{} takes dim {j} of the broadcast shape as the constant {}",
                    c.node.op_name(),
                    osize[j]
                ));
                dims.push(Dim::K(osize[j]));
            }
        }
    }
    c.dims_port(&dims)
}

fn outer(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let a = c.tensor_as("self", out)?;
    let b = c.tensor_as("vec2", out)?;
    let a = super::spatial::unsqueeze(c, a, vec![1], out)?;
    let b = super::spatial::unsqueeze(c, b, vec![0], out)?;
    Ok(vec![c.op1("Mul", vec![In::P(a), In::P(b)], vec![], out)?])
}
