//! Top-k, sort, arg-reductions, max/min reductions and elementwise max/min.
use super::{int_values, norm_dim, same_dtype, tc, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("TopKV2", topk);
    m.insert("Sort", sort);
    m.insert("ArgMaxV2", |c| arg(c, true));
    m.insert("ArgMin", |c| arg(c, false));
    m.insert("ArgMaxWithValue", |c| arg_with_value(c, true));
    m.insert("ArgMinWithValue", |c| arg_with_value(c, false));
    m.insert("ReduceMax", |c| reduce(c, true));
    m.insert("ReduceMin", |c| reduce(c, false));
    m.insert("Maximum", |c| binary(c, Tensor::f_maximum));
    m.insert("Minimum", |c| binary(c, Tensor::f_minimum));
    m.insert("Cummax", |c| cumulative(c, "dim", true));
    m.insert("Cummin", |c| cumulative(c, "axis", false));
}

/// `ArgMaxWithValue`/`ArgMinWithValue`: along `dimension`, the index (INT32) and the value of the
/// max/min; `keep_dims` keeps the dim as 1.
fn arg_with_value(c: &KCtx, max: bool) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    no_bool(x)?;
    let dim = axis_of(x, c.int("dimension")?)?;
    if x.size()[dim as usize] == 0 {
        return Err("reduces an empty dim".into());
    }
    let keep = c.bool("keep_dims")?;
    let (v, i) = if max {
        tc(x.f_max_dim(dim, keep))?
    } else {
        tc(x.f_min_dim(dim, keep))?
    };
    Ok(vec![i.to_kind(Kind::Int), v])
}

fn no_bool(t: &Tensor) -> Result<(), String> {
    if t.kind() == Kind::Bool {
        return Err("takes no BOOL".into());
    }
    Ok(())
}

fn axis_of(x: &Tensor, d: i64) -> Result<i64, String> {
    let rank = x.dim() as i64;
    let a = norm_dim(d, rank);
    if a < 0 || a >= rank {
        return Err(format!("axis {d} out of range for rank {rank}"));
    }
    Ok(a)
}

fn topk(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    no_bool(x)?;
    let kt = c.input("k")?;
    // The header lists INT32; GE's kernel takes INT64 too (TorchAir feeds it).
    if !matches!(kt.kind(), Kind::Int | Kind::Int64) {
        return Err(format!("k must be INT32 or INT64, got {:?}", kt.kind()));
    }
    let k = int_values(kt)?;
    let [k] = k.as_slice() else {
        return Err("k must hold one value".into());
    };
    let dim = axis_of(x, c.int("dim")?)?;
    if *k < 0 || *k > x.size()[dim as usize] {
        return Err(format!(
            "k={k} out of range for dim of size {}",
            x.size()[dim as usize]
        ));
    }
    let (v, i) = tc(x.f_topk(*k, dim, c.bool("largest")?, c.bool("sorted")?))?;
    Ok(vec![v, i.to_kind(Kind::Int)])
}

fn sort(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    no_bool(x)?;
    let axis = axis_of(x, c.int("axis")?)?;
    let (v, i) = if c.bool("stable")? {
        tc(x.f_sort_stable(true, axis, c.bool("descending")?))?
    } else {
        tc(x.f_sort(axis, c.bool("descending")?))?
    };
    Ok(vec![v, i.to_kind(Kind::Int)])
}

fn arg(c: &KCtx, max: bool) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    no_bool(x)?;
    let d = int_values(c.input("dimension")?)?;
    let [d] = d.as_slice() else {
        return Err("dimension must hold one value".into());
    };
    let axis = axis_of(x, *d)?;
    if x.size()[axis as usize] == 0 {
        return Err("arg-reduction over an empty dim".into());
    }
    let y = if max {
        tc(x.f_argmax(axis, false))?
    } else {
        tc(x.f_argmin(axis, false))?
    };
    let dt = crate::dtype::DType::from_ge_cpp(c.int("dtype")?)
        .filter(|d| matches!(d, crate::dtype::DType::I32 | crate::dtype::DType::I64))
        .ok_or("dtype must be INT32 or INT64")?;
    Ok(vec![y.to_kind(dt.kind())])
}

fn reduce(c: &KCtx, max: bool) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    no_bool(x)?;
    let axes = int_values(c.input("axes")?)?;
    let keep = c.bool("keep_dims")?;
    if axes.is_empty() {
        return Ok(vec![x.shallow_clone()]);
    }
    let mut dims = vec![];
    for &a in &axes {
        dims.push(axis_of(x, a)?);
    }
    if dims.iter().any(|&d| x.size()[d as usize] == 0) {
        return Err("max/min over an empty dim".into());
    }
    Ok(vec![if max {
        tc(x.f_amax(dims.as_slice(), keep))?
    } else {
        tc(x.f_amin(dims.as_slice(), keep))?
    }])
}

type Bin = fn(&Tensor, &Tensor) -> Result<Tensor, tch::TchError>;

fn binary(c: &KCtx, f: Bin) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    same_dtype(a, b)?;
    no_bool(a)?;
    Ok(vec![tc(f(a, b))?])
}

/// `Cummax` (attr `dim`) / `Cummin` (attr `axis`): the running max/min along the axis and the
/// index it came from, INT64; on ties the later index, as in PyTorch.
fn cumulative(c: &KCtx, attr: &str, max: bool) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    no_bool(x)?;
    if x.dim() == 0 {
        return Err("x must have at least one dim".into());
    }
    let axis = axis_of(x, c.int(attr)?)?;
    let (v, i) = if max {
        tc(x.f_cummax(axis))?
    } else {
        tc(x.f_cummin(axis))?
    };
    Ok(vec![v, i])
}
