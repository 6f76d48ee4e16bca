//! Rearrangements of whole tensors: diagonals, flips and rotations, `atleast_*`, stacks along
//! a dim, grids (`meshgrid`, `cartesian_prod`), block diagonals, pixel and channel shuffles.
use super::layout::tensor_list;
use super::sym::{self, Dim};
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, TensorValue, Value};

pub fn register(r: &mut Rules) {
    r.add(
        "aten::diagonal",
        diagonal,
        "GatherV2(Reshape(Transpose(x, dim1 and dim2 last), [.., n1·n2]), K64(diagonal positions), K64(last axis)); dynamic dims: positions by Range(start, start + len·(n2+1), n2+1), len from Shape (Minimum/Maximum)",
    );
    r.add(
        "aten::linalg_diagonal",
        |c| diagonal_of(c, "A"),
        "as aten::diagonal (of the last two dims by default)",
    );
    r.add(
        "aten::diagonal_copy",
        diagonal,
        "as aten::diagonal (static shapes)",
    );
    r.add(
        "aten::diag",
        diag,
        "1-D: Reshape(GatherV2(ConcatV2(K(0), x), K64(source of each element)), [m, m]); dynamic length: SelectV2(Equal(Range col - Range row, k), x padded, 0); 2-D: as diagonal",
    );
    r.add(
        "aten::fliplr",
        |c| flip_dims(c, &[1]),
        "ReverseV2(x, K64([1]))",
    );
    r.add(
        "aten::flipud",
        |c| flip_dims(c, &[0]),
        "ReverseV2(x, K64([0]))",
    );
    r.add(
        "aten::rot90",
        rot90,
        "k mod 4 = 1: Transpose(ReverseV2(x, [dims[1]]), swap dims); 2: ReverseV2(x, dims); 3: Transpose(ReverseV2(x, [dims[0]])); 0: nothing",
    );
    r.add(
        "aten::atleast_1d",
        |c| atleast(c, 1),
        "0-D: Reshape [1]; else nothing",
    );
    r.add(
        "aten::atleast_2d",
        |c| atleast(c, 2),
        "0-D: Reshape [1, 1]; 1-D: Unsqueeze(axes=[0]); else nothing",
    );
    r.add(
        "aten::atleast_3d",
        |c| atleast(c, 3),
        "0-D: Reshape [1, 1, 1]; 1-D: Unsqueeze(axes=[0, 2]); 2-D: Unsqueeze(axes=[2]); else nothing",
    );
    r.add(
        "aten::hstack",
        |c| stack_along(c, Stacking::H),
        "ConcatV2(atleast_1d(xi) ⇑out; dim 0 for 1-D, else 1)",
    );
    r.add(
        "aten::vstack",
        |c| stack_along(c, Stacking::V),
        "ConcatV2(atleast_2d(xi) ⇑out; dim 0)",
    );
    r.add(
        "aten::dstack",
        |c| stack_along(c, Stacking::D),
        "ConcatV2(atleast_3d(xi) ⇑out; dim 2)",
    );
    r.add(
        "aten::column_stack",
        |c| stack_along(c, Stacking::Column),
        "ConcatV2(xi ⇑out, 0-D/1-D as Unsqueeze columns; dim 1)",
    );
    r.add(
        "aten::meshgrid",
        meshgrid,
        "BroadcastTo(Reshape(ti, [1,..,-1,..,1]), grid shape: K64, or Pack of the lengths when dynamic) per tensor; xy swaps the first two axes",
    );
    r.add(
        "aten::cartesian_prod",
        cartesian_prod,
        "Pack(Reshape(BroadcastTo(Reshape(ti, ..), grid as meshgrid), [-1]) ⇑out; axis=1); one tensor: nothing",
    );
    r.add(
        "aten::block_diag",
        block_diag,
        "ConcatV2 over rows of ConcatV2(K(zeros), xi ⇑out, K(zeros); dim 1); zero blocks of a dynamic size: Fill(Pack(rows, cols) from Shape, 0)",
    );
    r.add(
        "aten::pixel_unshuffle",
        pixel_unshuffle,
        "Reshape [.., C, H, r, W, r] → Transpose [.., C, r, r, H, W] → Reshape [.., C·r·r, H, W] (dynamic dims from Shape: H/r, W/r by FloorDiv, C·r·r by Mul, Pack); r = 1: nothing",
    );
    r.add(
        "aten::channel_shuffle",
        channel_shuffle,
        "Reshape [N, g, C/g, ..] → Transpose(swap 1, 2) → Reshape [N, C, ..] (dynamic dims from Shape, C/g by FloorDiv; Pack)",
    );
}

/// `x` reshaped to `lead ++ [n1·n2]` gathered at the diagonal `offset` of its last two dims
/// (sizes n1, n2): output `lead ++ [L]`.
fn diag_gather(
    c: &mut Ctx,
    x: Port,
    lead: &[Dim],
    n1: Dim,
    n2: Dim,
    offset: i64,
    dt: DType,
) -> Result<Port, String> {
    let i = match (n1, n2) {
        (Dim::K(n1), Dim::K(n2)) => {
            let len = if offset >= 0 {
                n1.min(n2 - offset)
            } else {
                (n1 + offset).min(n2)
            }
            .max(0);
            let start = if offset >= 0 { offset } else { -offset * n2 };
            let idx: Vec<i64> = (0..len).map(|i| start + i * (n2 + 1)).collect();
            c.const_i64(&idx)?
        }
        _ => {
            // Dynamic: Range(start, start + len·(n2 + 1), n2 + 1) with
            // len = max(min(n1, n2 - offset), 0) (offset >= 0) or max(min(n1 + offset, n2), 0).
            let (a, b) = if offset >= 0 {
                (n1, c.dim_add(n2, -offset)?)
            } else {
                (c.dim_add(n1, offset)?, n2)
            };
            let (a, b) = (c.dim_scalar(a)?, c.dim_scalar(b)?);
            let len = c.bin("Minimum", a, b, DType::I64)?;
            let zero = c.scalar_i64(0)?;
            let len = c.bin("Maximum", len, zero, DType::I64)?;
            let step = c.dim_add(n2, 1)?;
            let step = c.dim_scalar(step)?;
            let start = if offset >= 0 {
                Dim::K(offset)
            } else {
                c.dim_mul(n2, -offset)?
            };
            let start = c.dim_scalar(start)?;
            let span = c.bin("Mul", len, step, DType::I64)?;
            let limit = c.bin("Add", start, span, DType::I64)?;
            c.op1(
                "Range",
                vec![In::P(start), In::P(limit), In::P(step)],
                vec![],
                DType::I64,
            )?
        }
    };
    let nn = c.dim_times(n1, n2)?;
    let flat: Vec<Dim> = lead.iter().copied().chain([nn]).collect();
    let x = c.reshape_dims(x, &flat, dt)?;
    let a = c.scalar_i64(lead.len() as i64)?;
    c.op1("GatherV2", vec![In::P(x), In::P(i), In::P(a)], vec![], dt)
}

fn diagonal(c: &mut Ctx) -> RuleResult {
    diagonal_of(c, "self")
}

fn diagonal_of(c: &mut Ctx, name: &str) -> RuleResult {
    let res = c.out_dtype(0)?;
    // BOOL moves as UINT8: Transpose and GatherV2 do not list it.
    let out = via_u8(res);
    let shape = c.sym_dims(name)?;
    let r = shape.len() as i64;
    let d1 = Ctx::dim(c.int("dim1")?, r);
    let d2 = Ctx::dim(c.int("dim2")?, r);
    if r < 2 || d1 == d2 || !(0..r).contains(&d1) || !(0..r).contains(&d2) {
        return Err(format!(
            "diagonal of {:?} over dims {d1} and {d2}: they must be two different dims",
            sym::known(&shape)
        ));
    }
    let offset = c.int("offset")?;
    let rest: Vec<i64> = (0..r).filter(|&d| d != d1 && d != d2).collect();
    let perm: Vec<i64> = rest.iter().copied().chain([d1, d2]).collect();
    let mut x = c.tensor_as(name, out)?;
    if perm.iter().enumerate().any(|(i, &p)| i as i64 != p) {
        x = c.transpose_const(x, &perm, out)?;
    }
    let lead: Vec<Dim> = rest.iter().map(|&d| shape[d as usize]).collect();
    let (n1, n2) = (shape[d1 as usize], shape[d2 as usize]);
    let y = diag_gather(c, x, &lead, n1, n2, offset, out)?;
    back(c, y, res)
}

fn diag(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    // BOOL moves as UINT8: Transpose and GatherV2 do not list it.
    let out = via_u8(res);
    let dims = c.sym_dims("self")?;
    let k = c.int("diagonal")?;
    let x = c.tensor_as("self", out)?;
    if let [n1, n2] = dims[..] {
        let y = diag_gather(c, x, &[], n1, n2, k, out)?;
        return back(c, y, res);
    }
    if let [Dim::P(n)] = dims[..] {
        let y = diag_embed_dynamic(c, x, n, k, out)?;
        return back(c, y, res);
    }
    // Here a 1-D self has a static length (a dynamic one took diag_embed_dynamic).
    let shape = super::sym::known(&dims);
    match shape.as_slice() {
        [n] => {
            // Element 0 of the source is a zero; every output element names its source.
            let m = n + k.abs();
            let mut idx = vec![0i64; (m * m) as usize];
            for i in 0..*n {
                let (row, col) = if k >= 0 { (i, i + k) } else { (i - k, i) };
                idx[(row * m + col) as usize] = i + 1;
            }
            let zero = tch::Tensor::zeros([1], (out.kind(), tch::Device::Cpu));
            let z = c.b.constant(&zero, "[0]")?;
            let d = c.scalar_i64(0)?;
            let src = c.op1(
                "ConcatV2",
                vec![In::Dyn(vec![z, x]), In::P(d)],
                vec![("N", attr::int(2))],
                out,
            )?;
            let i = c.const_i64(&idx)?;
            let y = c.op1(
                "GatherV2",
                vec![In::P(src), In::P(i), In::P(d)],
                vec![],
                out,
            )?;
            let y = c.reshape_const(y, &[m, m], out)?;
            back(c, y, res)
        }
        _ => Err(format!(
            "diag takes a 1-D or 2-D tensor, got {} dims",
            shape.len()
        )),
    }
}

/// `diag` of a 1-D `x` whose length `n` is dynamic: the [m, m] matrix (m = n + |k|) that is
/// `SelectV2(Equal(col - row, k), x padded to m along the rows (k >= 0) or the columns, 0)`,
/// rows and columns from `Range(0, m, 1)`.
fn diag_embed_dynamic(c: &mut Ctx, x: Port, n: Port, k: i64, dt: DType) -> Result<Port, String> {
    let x = if k == 0 {
        x
    } else {
        let zeros = tch::Tensor::zeros([k.abs()], (dt.kind(), tch::Device::Cpu));
        let z = c.b.constant(&zeros, &format!("zeros [{}]", k.abs()))?;
        let d = c.scalar_i64(0)?;
        c.op1(
            "ConcatV2",
            vec![In::Dyn(vec![x, z]), In::P(d)],
            vec![("N", attr::int(2))],
            dt,
        )?
    };
    let m = c.dim_add(Dim::P(n), k.abs())?;
    let m = c.dim_scalar(m)?;
    let (zero, one) = (c.scalar_i64(0)?, c.scalar_i64(1)?);
    let r = c.op1(
        "Range",
        vec![In::P(zero), In::P(m), In::P(one)],
        vec![],
        DType::I64,
    )?;
    let unsqueeze = |c: &mut Ctx, p: Port, axis: i64, t: DType| {
        c.op1(
            "Unsqueeze",
            vec![In::P(p)],
            vec![("axes", attr::list_int(vec![axis]))],
            t,
        )
    };
    let rows = unsqueeze(c, r, 1, DType::I64)?;
    let cols = unsqueeze(c, r, 0, DType::I64)?;
    let off = c.bin("Sub", cols, rows, DType::I64)?;
    let kk = c.scalar_i64(k)?;
    let mask = c.op1("Equal", vec![In::P(off), In::P(kk)], vec![], DType::Bool)?;
    let vals = unsqueeze(c, x, if k >= 0 { 1 } else { 0 }, dt)?;
    let zero = c.scalar(0.0, dt)?;
    super::compare::select(c, mask, vals, zero, dt)
}

fn flip_dims(c: &mut Ctx, dims: &[i64]) -> RuleResult {
    let out = c.out_dtype(0)?;
    let need = dims.iter().max().copied().unwrap_or(0) as usize + 1;
    if c.rank("self")? < need {
        return Err(format!(
            "{} needs a tensor with at least {need} dims, got {}",
            c.node.op_name(),
            c.rank("self")?
        ));
    }
    let x = c.tensor("self")?;
    let a = c.const_i64(dims)?;
    Ok(vec![c.op1(
        "ReverseV2",
        vec![In::P(x), In::P(a)],
        vec![],
        out,
    )?])
}

fn rot90(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    // BOOL moves as UINT8: Transpose and GatherV2 do not list it.
    let out = via_u8(res);
    let r = c.rank("self")? as i64;
    let dims: Vec<i64> = c.ints("dims")?.iter().map(|&d| Ctx::dim(d, r)).collect();
    let [d0, d1] = dims[..] else {
        return Err(format!("rot90 takes 2 dims, got {}", dims.len()));
    };
    if r < 2 || d0 == d1 || !(0..r).contains(&d0) || !(0..r).contains(&d1) {
        return Err(format!(
            "rot90 needs two different dims of a tensor with at least 2 dims, got {dims:?} of {r}"
        ));
    }
    let x = c.tensor_as("self", out)?;
    let reverse = |c: &mut Ctx, axes: &[i64]| -> Result<Port, String> {
        let a = c.const_i64(axes)?;
        c.op1("ReverseV2", vec![In::P(x), In::P(a)], vec![], out)
    };
    let mut perm: Vec<i64> = (0..r).collect();
    perm.swap(d0 as usize, d1 as usize);
    let y = match c.int("k")?.rem_euclid(4) {
        0 => x,
        1 => {
            let f = reverse(c, &[d1])?;
            c.transpose_const(f, &perm, out)?
        }
        2 => reverse(c, &[d0, d1])?,
        _ => {
            let f = reverse(c, &[d0])?;
            c.transpose_const(f, &perm, out)?
        }
    };
    back(c, y, res)
}

/// `p` (of rank `rank`) with at least `n` dims, as torch.atleast_{n}d.
fn atleast_port(c: &mut Ctx, p: Port, rank: usize, n: usize, dt: DType) -> Result<Port, String> {
    if rank >= n {
        return Ok(p);
    }
    if rank == 0 {
        return c.reshape_const(p, &vec![1; n], dt);
    }
    let axes = match (rank, n) {
        (1, 2) => vec![0],
        (1, 3) => vec![0, 2],
        _ => vec![2],
    };
    super::spatial::unsqueeze(c, p, axes, dt)
}

fn atleast(c: &mut Ctx, n: usize) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")?;
    let x = c.tensor("self")?;
    Ok(vec![atleast_port(c, x, rank, n, out)?])
}

#[derive(Clone, Copy, PartialEq)]
enum Stacking {
    H,
    V,
    D,
    Column,
}

fn stack_along(c: &mut Ctx, how: Stacking) -> RuleResult {
    let out = c.out_dtype(0)?;
    let ranks: Vec<usize> = match c.arg("tensors")? {
        Value::List(v) | Value::Tuple(v) => v
            .iter()
            .map(|t| t.as_tensor().map(|t| t.tensor.dim()))
            .collect::<Option<_>>(),
        _ => None,
    }
    .ok_or("argument 'tensors' must be a list of tensors")?;
    let ports = tensor_list(c, "tensors", out)?;
    if ports.is_empty() {
        return Err(format!("{} needs at least one tensor", c.node.op_name()));
    }
    let mut parts = vec![];
    for (p, r) in ports.into_iter().zip(&ranks) {
        parts.push(match how {
            Stacking::H => atleast_port(c, p, *r, 1, out)?,
            Stacking::V => atleast_port(c, p, *r, 2, out)?,
            Stacking::D => atleast_port(c, p, *r, 3, out)?,
            Stacking::Column => match r {
                0 => c.reshape_const(p, &[1, 1], out)?,
                1 => super::spatial::unsqueeze(c, p, vec![1], out)?,
                _ => p,
            },
        });
    }
    let dim = match how {
        Stacking::H if ranks[0] <= 1 => 0,
        Stacking::H | Stacking::Column => 1,
        Stacking::V => 0,
        Stacking::D => 2,
    };
    if parts.len() == 1 {
        return Ok(parts);
    }
    let d = c.scalar_i64(dim)?;
    let n = parts.len() as i64;
    Ok(vec![c.op1(
        "ConcatV2",
        vec![In::Dyn(parts), In::P(d)],
        vec![("N", attr::int(n))],
        out,
    )?])
}

/// The tensors of a 0-D/1-D tensor list with their lengths (None when dynamic).
fn vectors(c: &Ctx, what: &str) -> Result<Vec<(TensorValue, Option<i64>)>, String> {
    let items: Vec<Value> = match c.arg("tensors")? {
        Value::List(v) | Value::Tuple(v) => v.clone(),
        _ => return Err("argument 'tensors' must be a list of tensors".into()),
    };
    let mut v = vec![];
    for it in &items {
        let t = it
            .as_tensor()
            .ok_or("argument 'tensors' must be a list of tensors")?;
        if t.tensor.dim() > 1 {
            return Err(format!(
                "{what} takes 0-D or 1-D tensors, got {} dims",
                t.tensor.dim()
            ));
        }
        let dynamic = t.dynamic_dims().iter().any(|d| *d);
        v.push((t.clone(), (!dynamic).then(|| t.tensor.numel() as i64)));
    }
    Ok(v)
}

/// Each tensor broadcast over the grid whose axis `axis[i]` has tensor i's length: the grid
/// shape is a Const, or computed from the tensors' Shape when a length is dynamic.
fn grid(
    c: &mut Ctx,
    vs: &[(TensorValue, Option<i64>)],
    axis: &[usize],
    dt: DType,
) -> Result<Vec<Port>, String> {
    let n = vs.len();
    let shape = if vs.iter().all(|(_, l)| l.is_some()) {
        let mut s = vec![0; n];
        for ((_, l), &a) in vs.iter().zip(axis) {
            s[a] = l.unwrap_or_default();
        }
        c.const_i64(&s)?
    } else {
        let mut parts = vec![None; n];
        for ((t, _), &a) in vs.iter().zip(axis) {
            parts[a] = Some(if t.tensor.dim() == 0 {
                c.scalar_i64(1)?
            } else {
                super::sym::dim_port(c.b, c.mat, t, 0)?
            });
        }
        let parts = parts.into_iter().collect::<Option<Vec<Port>>>();
        super::sym::pack(
            c.b,
            parts.ok_or("internal: grid axes do not cover the grid")?,
        )?
    };
    let mut ports = vec![];
    for ((t, _), &a) in vs.iter().zip(axis) {
        let p = c.port(t)?;
        let p = c.cast(p, dt)?;
        let mut s = vec![1; n];
        s[a] = -1;
        let p = c.reshape_const(p, &s, dt)?;
        ports.push(c.op1("BroadcastTo", vec![In::P(p), In::P(shape)], vec![], dt)?);
    }
    Ok(ports)
}

fn meshgrid(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let vs = vectors(c, "meshgrid")?;
    let indexing = match c.arg("indexing") {
        Ok(Value::Str(s)) => s.clone(),
        _ => "ij".to_string(),
    };
    let mut axis: Vec<usize> = (0..vs.len()).collect();
    match indexing.as_str() {
        "ij" => {}
        "xy" if vs.len() >= 2 => axis.swap(0, 1),
        "xy" => {}
        other => {
            return Err(format!(
                "meshgrid indexing must be 'ij' or 'xy', got '{other}'"
            ))
        }
    }
    grid(c, &vs, &axis, out)
}

fn cartesian_prod(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let vs = vectors(c, "cartesian_prod")?;
    if vs.len() == 1 {
        let p = c.port(&vs[0].0)?;
        return Ok(vec![c.cast(p, out)?]);
    }
    let axis: Vec<usize> = (0..vs.len()).collect();
    let mut cols = vec![];
    for p in grid(c, &vs, &axis, out)? {
        cols.push(c.reshape_const(p, &[-1], out)?);
    }
    let n = cols.len() as i64;
    Ok(vec![c.op1(
        "Pack",
        vec![In::Dyn(cols)],
        vec![("axis", attr::int(1)), ("N", attr::int(n))],
        out,
    )?])
}

fn block_diag(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let items: Vec<Value> = match c.arg("tensors")? {
        Value::List(v) | Value::Tuple(v) => v.clone(),
        _ => return Err("argument 'tensors' must be a list of tensors".into()),
    };
    // Each block as [rows, cols]; dynamic sizes come from Shape, and the zero blocks around it
    // are then Fill(Pack(rows, cols), 0).
    let mut blocks = vec![];
    for it in &items {
        let t = it
            .as_tensor()
            .ok_or("argument 'tensors' must be a list of tensors")?
            .clone();
        let dims = sym::tensor_dims(c.b, c.mat, &t)?;
        let (r, k) = match dims[..] {
            [] => (Dim::K(1), Dim::K(1)),
            [n] => (Dim::K(1), n),
            [a, b] => (a, b),
            _ => {
                return Err(format!(
                    "block_diag takes tensors with at most 2 dims, got {:?}",
                    t.desc_shape()
                ))
            }
        };
        blocks.push((t, r, k));
    }
    let mut total = Dim::K(0);
    for b in &blocks {
        total = c.dim_plus(total, b.2)?;
    }
    let zeros = |c: &mut Ctx, r: Dim, k: Dim| -> Result<Port, String> {
        if let (Dim::K(r), Dim::K(k)) = (r, k) {
            let z = tch::Tensor::zeros([r, k], (out.kind(), tch::Device::Cpu));
            return c.b.constant(&z, &format!("zeros [{r}, {k}]"));
        }
        let dims = c.dims_port(&[r, k])?;
        let zero = c.scalar(0.0, out)?;
        c.op1("Fill", vec![In::P(dims), In::P(zero)], vec![], out)
    };
    let nonzero = |d: Dim| !matches!(d, Dim::K(0));
    let one = c.scalar_i64(1)?;
    let mut rows = vec![];
    let mut left = Dim::K(0);
    for (t, r, k) in &blocks {
        let (r, k) = (*r, *k);
        if nonzero(r) {
            let p = c.port(t)?;
            let p = c.cast(p, out)?;
            let p = c.reshape_dims(p, &[r, k], out)?;
            let mut parts = vec![];
            if nonzero(left) {
                parts.push(zeros(c, r, left)?);
            }
            parts.push(p);
            let used = c.dim_plus(left, k)?;
            let minus = c.dim_mul(used, -1)?;
            let right = c.dim_plus(total, minus)?;
            if nonzero(right) {
                parts.push(zeros(c, r, right)?);
            }
            let n = parts.len() as i64;
            rows.push(if n == 1 {
                parts[0]
            } else {
                c.op1(
                    "ConcatV2",
                    vec![In::Dyn(parts), In::P(one)],
                    vec![("N", attr::int(n))],
                    out,
                )?
            });
        }
        left = c.dim_plus(left, k)?;
    }
    let n = rows.len() as i64;
    Ok(vec![match n {
        0 => {
            let s = c.out_shape(0)?;
            zeros(c, Dim::K(s[0]), Dim::K(s[1]))?
        }
        1 => rows[0],
        _ => {
            let zero = c.scalar_i64(0)?;
            c.op1(
                "ConcatV2",
                vec![In::Dyn(rows), In::P(zero)],
                vec![("N", attr::int(n))],
                out,
            )?
        }
    }])
}

fn pixel_unshuffle(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    // BOOL moves as UINT8: Transpose and GatherV2 do not list it.
    let out = via_u8(res);
    // Every dim may be dynamic: height and width divided by r, the channels multiplied by r²,
    // in the graph when dynamic.
    let shape = c.sym_dims("self")?;
    let r = c.int("downscale_factor")?;
    let n = shape.len();
    if r == 1 {
        let x = c.tensor_as("self", res)?;
        return Ok(vec![x]);
    }
    let multiple = |d: &Dim| match d {
        Dim::K(k) => k % r == 0,
        Dim::P(_) => true,
    };
    let ch = match shape.get(n.wrapping_sub(3)) {
        Some(&ch) if r > 0 && multiple(&shape[n - 2]) && multiple(&shape[n - 1]) => ch,
        _ => {
            return Err(format!(
                "pixel_unshuffle of {:?} by {r}: needs at least 3 dims, height and width multiples of {r}",
                sym::known(&shape)
            ))
        }
    };
    let lead = &shape[..n - 3];
    let h = c.dim_div(shape[n - 2], r)?;
    let w = c.dim_div(shape[n - 1], r)?;
    let x = c.tensor_as("self", out)?;
    let split: Vec<Dim> = lead
        .iter()
        .copied()
        .chain([ch, h, Dim::K(r), w, Dim::K(r)])
        .collect();
    let x = c.reshape_dims(x, &split, out)?;
    let l = lead.len() as i64;
    let perm: Vec<i64> = (0..l).chain([l, l + 2, l + 4, l + 1, l + 3]).collect();
    let x = c.transpose_const(x, &perm, out)?;
    let merged: Vec<Dim> = lead
        .iter()
        .copied()
        .chain([c.dim_mul(ch, r * r)?, h, w])
        .collect();
    let y = c.reshape_dims(x, &merged, out)?;
    back(c, y, res)
}

fn channel_shuffle(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    // BOOL moves as UINT8: Transpose and GatherV2 do not list it.
    let out = via_u8(res);
    // Every dim may be dynamic: the channels divided by the groups in the graph when dynamic.
    let shape = c.sym_dims("self")?;
    let g = c.int("groups")?;
    let per_group = match shape.get(1) {
        Some(&Dim::K(ch)) if shape.len() >= 3 && g > 0 && ch % g == 0 => Dim::K(ch / g),
        Some(d @ Dim::P(_)) if shape.len() >= 3 && g > 0 => c.dim_div(*d, g)?,
        _ => {
            return Err(format!(
                "channel_shuffle of {:?} in {g} groups: needs at least 3 dims and channels a multiple of the groups",
                sym::known(&shape)
            ))
        }
    };
    let x = c.tensor_as("self", out)?;
    let split: Vec<Dim> = [shape[0], Dim::K(g), per_group]
        .into_iter()
        .chain(shape[2..].iter().copied())
        .collect();
    let x = c.reshape_dims(x, &split, out)?;
    let mut perm: Vec<i64> = (0..split.len() as i64).collect();
    perm.swap(1, 2);
    let x = c.transpose_const(x, &perm, out)?;
    let y = c.reshape_dims(x, &shape, out)?;
    back(c, y, res)
}

/// The dtype data moves in for a result of dtype `dt`: UINT8 for BOOL, else `dt`.
fn via_u8(dt: DType) -> DType {
    if dt == DType::Bool {
        DType::U8
    } else {
        dt
    }
}

/// A rule's single result `y` cast to the result dtype.
fn back(c: &mut Ctx, y: Port, res: DType) -> RuleResult {
    Ok(vec![c.cast(y, res)?])
}
