//! Splitting, packing, tiling, broadcasting (BroadcastTo, Expand), triangles, Fill, OnesLike and
//! ZerosLike.
use super::{int_values, norm_dim, tc, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::Tensor;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("SplitV", split_v);
    m.insert("Roll", roll);
    m.insert("Pack", pack);
    m.insert("Tile", tile);
    m.insert("BroadcastTo", broadcast_to);
    m.insert("Triu", |c| triangle(c, true));
    m.insert("Tril", |c| triangle(c, false));
    m.insert("Fill", fill);
    m.insert("OnesLike", ones_like);
    m.insert("ZerosLike", |c| Ok(vec![c.input("x")?.zeros_like()]));
    m.insert("Expand", expand);
    m.insert("ReverseV2", reverse_v2);
}

fn split_v(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let sizes = int_values(c.input("size_splits")?)?;
    let dim_t = c.input("split_dim")?;
    if dim_t.kind() != tch::Kind::Int {
        return Err(format!("split_dim must be INT32, got {:?}", dim_t.kind()));
    }
    let dim = int_values(dim_t)?;
    let [dim] = dim.as_slice() else {
        return Err("split_dim must hold one value".into());
    };
    let rank = x.dim() as i64;
    let dim = norm_dim(*dim, rank);
    if dim < 0 || dim >= rank {
        return Err(format!("split_dim {dim} out of range for rank {rank}"));
    }
    if sizes.len() as i64 != c.int("num_split")? {
        return Err(format!(
            "num_split {} but {} sizes",
            c.int("num_split")?,
            sizes.len()
        ));
    }
    let total = x.size()[dim as usize];
    let known: i64 = sizes.iter().filter(|&&s| s >= 0).sum();
    let mut sizes = sizes.clone();
    match sizes.iter().filter(|&&s| s == -1).count() {
        0 if known == total => {}
        1 if known <= total => {
            for s in sizes.iter_mut().filter(|s| **s == -1) {
                *s = total - known;
            }
        }
        _ => return Err(format!("size_splits {sizes:?} do not add up to {total}")),
    }
    Ok(tc(x.f_split_with_sizes(sizes.as_slice(), dim))?
        .into_iter()
        .map(|t| t.contiguous())
        .collect())
}

fn pack(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let xs = c.dynamic("x");
    if xs.len() as i64 != c.int("N")? {
        return Err(format!("N={} but {} inputs", c.int("N")?, xs.len()));
    }
    let first = xs.first().ok_or("no inputs")?;
    if xs
        .iter()
        .any(|t| t.kind() != first.kind() || t.size() != first.size())
    {
        return Err("inputs differ in dtype or shape".into());
    }
    let rank = first.dim() as i64 + 1;
    let axis = norm_dim(c.int("axis")?, rank);
    if axis < 0 || axis >= rank {
        return Err(format!("axis out of range for rank {rank}"));
    }
    Ok(vec![tc(Tensor::f_stack(&xs, axis))?])
}

fn tile(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let m = int_values(c.input("multiples")?)?;
    if m.len() != x.dim() || m.iter().any(|&r| r < 0) {
        return Err(format!(
            "multiples {m:?} must hold one non-negative entry per dim of {:?}",
            x.size()
        ));
    }
    Ok(vec![tc(x.f_repeat(m.as_slice()))?])
}

/// NumPy broadcasting of `x` to `shape` (no -1 entries: GE takes the target shape as is).
fn broadcast_to(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let mut shape = int_values(c.input("shape")?)?;
    let xs = x.size();
    // -1 keeps x's size in that dim (TorchAir passes torch's expand(-1) through).
    let lead = shape.len() as i64 - xs.len() as i64;
    for (i, d) in shape.iter_mut().enumerate() {
        let j = i as i64 - lead;
        if *d == -1 && j >= 0 {
            *d = xs[j as usize];
        }
    }
    let ok = shape.len() >= xs.len()
        && shape.iter().all(|&d| d >= 0)
        && xs
            .iter()
            .rev()
            .zip(shape.iter().rev())
            .all(|(&a, &b)| a == b || a == 1);
    if !ok {
        return Err(format!("cannot broadcast {xs:?} to {shape:?}"));
    }
    Ok(vec![tc(x.f_broadcast_to(shape.as_slice()))?.contiguous()])
}

/// `Expand` broadcasts as BroadcastTo does (numpy rules, -1 keeps a dim). A foreign graph whose
/// x fits only as the leading dims of the shape (TorchAir's std: a mean reduced without
/// keep_dims, expanded back to x's shape) gets x's dims aligned left, with a warning.
fn expand(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let r = broadcast_to(c);
    if r.is_ok() || !c.foreign {
        return r;
    }
    let x = c.input("x")?;
    let shape = int_values(c.input("shape")?)?;
    let xs = x.size();
    let fits = shape.len() > xs.len()
        && shape.iter().all(|&d| d >= 0)
        && xs.iter().zip(&shape).all(|(&a, &b)| a == b || a == 1);
    if !fits {
        return r;
    }
    crate::run::warn_here(format!(
        "x {xs:?} does not broadcast to {shape:?} by GE's (numpy) rule; aligned left instead"
    ));
    let mut v = xs.clone();
    v.resize(shape.len(), 1);
    Ok(vec![tc(x
        .reshape(v.as_slice())
        .f_expand(shape.as_slice(), false))?
    .contiguous()])
}

fn triangle(c: &KCtx, upper: bool) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    if x.dim() < 2 {
        return Err(format!("needs at least 2 dims, got {:?}", x.size()));
    }
    // BOOL is outside the prototype (TorchAir feeds it; the runner warns for foreign graphs) but
    // the triangle of a mask is well defined.
    let d = c.int("diagonal")?;
    Ok(vec![if upper {
        tc(x.f_triu(d))?
    } else {
        tc(x.f_tril(d))?
    }])
}

fn fill(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let dims = int_values(c.input("dims")?)?;
    let v = c.input("value")?;
    if v.numel() != 1 {
        return Err(format!("value must hold one element, got {:?}", v.size()));
    }
    if dims.iter().any(|&d| d < 0) {
        return Err(format!("bad dims {dims:?}"));
    }
    Ok(vec![v
        .reshape([] as [i64; 0])
        .expand(dims.as_slice(), false)
        .contiguous()])
}

/// `OnesLike`: ones of x's shape and dtype (the prototype's types: no complex here).
fn ones_like(c: &KCtx) -> Result<Vec<Tensor>, String> {
    use tch::Kind::*;
    let x = c.input("x")?;
    match x.kind() {
        Half | Float | Double | Int8 | Uint8 | Int16 | Int | Int64 | Bool | BFloat16 => {
            Ok(vec![x.ones_like()])
        }
        k => Err(format!("OnesLike does not take {k:?}")),
    }
}

fn reverse_v2(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let axes = int_values(c.input("axis")?)?;
    let rank = x.dim() as i64;
    let mut dims = vec![];
    for a in axes {
        let d = norm_dim(a, rank);
        if d < 0 || d >= rank || dims.contains(&d) {
            return Err(format!(
                "axis {a} is out of range or repeated for rank {rank}"
            ));
        }
        dims.push(d);
    }
    Ok(vec![tc(x.f_flip(dims.as_slice()))?])
}

fn roll(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let shifts = c.ints("shifts")?;
    let dims = c.ints("dims")?;
    if dims.len() != shifts.len() {
        return Err(format!(
            "Roll: {} shifts for {} dims",
            shifts.len(),
            dims.len()
        ));
    }
    Ok(vec![super::tc(
        x.f_roll(shifts.as_slice(), dims.as_slice()),
    )?])
}
