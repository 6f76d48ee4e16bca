//! Element gathers and scatters, tensor indexing, index_add, masked_scatter, scans (cumulative
//! sums, products, log-sum-exps).
use super::{int_values, norm_dim, same_dtype, tc, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("GatherElements", gather_elements);
    m.insert("OneHot", one_hot);
    m.insert("ScatterElements", scatter_elements);
    m.insert("IndexByTensor", index_by_tensor);
    m.insert("TensorScatterUpdate", |c| tensor_scatter(c, Fold::Update));
    m.insert("TensorScatterAdd", |c| tensor_scatter(c, Fold::Add));
    m.insert("TensorScatterMax", |c| tensor_scatter(c, Fold::Max));
    m.insert("TensorScatterMin", |c| tensor_scatter(c, Fold::Min));
    m.insert("Cumsum", |c| scan(c, Scan::Sum));
    m.insert("Cumprod", |c| scan(c, Scan::Prod));
    m.insert("CumulativeLogsumexp", |c| scan(c, Scan::LogSumExp));
    m.insert("InplaceIndexAdd", inplace_index_add);
    m.insert("MaskedScatter", masked_scatter);
}

fn index_tensor(t: &Tensor, what: &str) -> Result<(), String> {
    if !matches!(t.kind(), Kind::Int64 | Kind::Int) {
        return Err(format!("{what} must be INT32/INT64, got {:?}", t.kind()));
    }
    Ok(())
}

/// Every index in [lo, n).
fn in_range(idx: &Tensor, lo: i64, n: i64, what: &str) -> Result<(), String> {
    if idx.numel() == 0 {
        return Ok(());
    }
    let (mn, mx) = (idx.min().int64_value(&[]), idx.max().int64_value(&[]));
    if mn < lo || mx >= n {
        return Err(format!(
            "{what} holds values in [{mn}, {mx}], outside [{lo}, {n})"
        ));
    }
    Ok(())
}

/// The checks GatherElements and ScatterElements share: same rank, index within x along the
/// other dims, values within the axis.
fn element_checks(x: &Tensor, idx: &Tensor, axis: i64) -> Result<i64, String> {
    index_tensor(idx, "index")?;
    let rank = x.dim() as i64;
    let axis = norm_dim(axis, rank);
    if idx.dim() != x.dim() || axis < 0 || axis >= rank.max(1) {
        return Err(format!(
            "index {:?} and x {:?} need the same rank and a valid axis",
            idx.size(),
            x.size()
        ));
    }
    for (d, (&i, &s)) in idx.size().iter().zip(x.size().iter()).enumerate() {
        if d as i64 != axis && i > s {
            return Err(format!(
                "index {:?} is bigger than x {:?} outside the axis",
                idx.size(),
                x.size()
            ));
        }
    }
    let n = if rank == 0 {
        1
    } else {
        x.size()[axis as usize]
    };
    in_range(idx, 0, n, "index")?;
    Ok(axis)
}

fn gather_elements(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let idx = c.input("index")?;
    let axis = element_checks(x, idx, c.int("dim")?)?;
    Ok(vec![tc(x.f_gather(
        axis,
        &idx.to_kind(Kind::Int64),
        false,
    ))?])
}

fn scatter_elements(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("data")?;
    let idx = c.input("indices")?;
    let upd = c.input("updates")?;
    same_dtype(x, upd)?;
    if idx.size() != upd.size() {
        return Err(format!(
            "indices {:?} and updates {:?} differ in shape",
            idx.size(),
            upd.size()
        ));
    }
    let axis = element_checks(x, idx, c.int("axis")?)?;
    let idx = idx.to_kind(Kind::Int64);
    Ok(vec![match c.string("reduction")?.as_str() {
        "none" => tc(x.f_scatter(axis, &idx, upd))?,
        "add" => tc(x.f_scatter_add(axis, &idx, upd))?,
        "mul" => tc(x.f_scatter_reduce(axis, &idx, upd, "multiply"))?,
        r => return Err(format!("reduction '{r}' is not none/add/mul")),
    }])
}

/// ATen's `x[i0, :, i2]`: indices_mask says which dims take an index (1) or are kept whole (0).
fn index_by_tensor(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let given = c.dynamic("indices");
    let mask = c.ints("indices_mask")?;
    let mask = if mask.is_empty() {
        vec![1; given.len()]
    } else {
        mask
    };
    if mask.iter().filter(|&&m| m != 0).count() != given.len() || mask.len() > x.dim() {
        return Err(format!(
            "indices_mask {mask:?} does not match {} indices for rank {}",
            given.len(),
            x.dim()
        ));
    }
    let mut it = given.into_iter();
    let mut opts: Vec<Option<Tensor>> = vec![];
    for (d, &m) in mask.iter().enumerate() {
        if m == 0 {
            opts.push(None);
            continue;
        }
        let t = it.next().ok_or("too few indices")?;
        if t.kind() != Kind::Int64 {
            return Err(format!("indices must be INT64, got {:?}", t.kind()));
        }
        let n = x.size()[d];
        in_range(t, -n, n, "an index")?;
        opts.push(Some(t.shallow_clone()));
    }
    Ok(vec![tc(x.f_index(&opts))?])
}

/// How a TensorScatter* kernel combines an update with what is there.
#[derive(Clone, Copy, PartialEq)]
enum Fold {
    Update,
    Add,
    Max,
    Min,
}

/// x[indices[..., :]] = (or +=, max=, min=) updates, with indices [..., k] naming the first k
/// dims (TensorScatterMax/Min name x `input`).
fn tensor_scatter(c: &KCtx, fold: Fold) -> Result<Vec<Tensor>, String> {
    let x = match fold {
        Fold::Update | Fold::Add => c.input("x")?,
        Fold::Max | Fold::Min => c.input("input")?,
    };
    let idx = c.input("indices")?;
    let upd = c.input("updates")?;
    same_dtype(x, upd)?;
    index_tensor(idx, "indices")?;
    let is = idx.size();
    let k = *is.last().ok_or("indices must have at least 1 dim")?;
    if k < 1 || k as usize > x.dim() {
        return Err(format!(
            "indices {is:?} name more dims than x {:?}",
            x.size()
        ));
    }
    let batch = &is[..is.len() - 1];
    let mut want: Vec<i64> = batch.to_vec();
    want.extend(&x.size()[k as usize..]);
    if upd.size() != want {
        return Err(format!(
            "updates {:?} should be {want:?} for indices {is:?} and x {:?}",
            upd.size(),
            x.size()
        ));
    }
    let n: i64 = batch.iter().product();
    let flat = idx.to_kind(Kind::Int64).reshape([n, k]);
    let mut cols = vec![];
    for d in 0..k {
        let col = flat.select(1, d);
        in_range(&col, 0, x.size()[d as usize], "indices")?;
        cols.push(Some(col));
    }
    let mut rest = vec![n];
    rest.extend(&x.size()[k as usize..]);
    let upd = upd.reshape(rest.as_slice());
    let reduce = match fold {
        Fold::Update | Fold::Add => {
            return Ok(vec![tc(x.f_index_put(&cols, &upd, fold == Fold::Add))?])
        }
        Fold::Max => "amax",
        Fold::Min => "amin",
    };
    // The indexed dims as one: position = sum of index × that dim's stride in x[..k].
    let lead = &x.size()[..k as usize];
    let mut lin = Tensor::zeros([n], (Kind::Int64, tch::Device::Cpu));
    let mut stride = 1;
    for d in (0..k as usize).rev() {
        lin += cols[d].as_ref().expect("a column per dim") * stride;
        stride *= lead[d];
    }
    let mut shape = vec![stride];
    shape.extend(&x.size()[k as usize..]);
    let y = tc(x
        .reshape(shape.as_slice())
        .f_index_reduce(0, &lin, &upd, reduce, true))?;
    Ok(vec![y.reshape(x.size())])
}

/// How a scan kernel combines along its axis, and the identity an exclusive scan starts with.
#[derive(Clone, Copy)]
enum Scan {
    Sum,
    Prod,
    LogSumExp,
}

/// `Cumsum`, `Cumprod`, `CumulativeLogsumexp`: the inclusive scan along `axis` (one value), or
/// with `exclusive` shifted by one (the identity first), with `reverse` from the far end.
fn scan(c: &KCtx, op: Scan) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    if x.kind() == Kind::Bool {
        return Err("takes no BOOL".into());
    }
    if matches!(op, Scan::LogSumExp) && !matches!(x.kind(), Kind::Float | Kind::Half | Kind::Double)
    {
        return Err(format!(
            "x must be FLOAT16/FLOAT/DOUBLE, got {:?}",
            x.kind()
        ));
    }
    let axis_t = c.input("axis")?;
    if matches!(op, Scan::LogSumExp) && axis_t.kind() != Kind::Int {
        return Err(format!("axis must be INT32, got {:?}", axis_t.kind()));
    }
    let axis = int_values(axis_t)?;
    let [axis] = axis.as_slice() else {
        return Err("axis must hold one value".into());
    };
    let rank = x.dim() as i64;
    let axis = norm_dim(*axis, rank);
    if axis < 0 || axis >= rank {
        return Err(format!("axis out of range for rank {rank}"));
    }
    let (exclusive, reverse) = (c.bool("exclusive")?, c.bool("reverse")?);
    let t = if reverse {
        x.flip([axis])
    } else {
        x.shallow_clone()
    };
    let mut y = match op {
        Scan::Sum => tc(t.f_cumsum(axis, Some(x.kind())))?,
        Scan::Prod => tc(t.f_cumprod(axis, Some(x.kind())))?,
        Scan::LogSumExp => tc(t.f_logcumsumexp(axis))?,
    };
    if exclusive {
        // Shift by one along the axis: [identity, y0, y0∘y1, ...].
        let n = t.size()[axis as usize];
        let first = t.narrow(axis, 0, n.min(1));
        let identity = match op {
            Scan::Sum => first.zeros_like(),
            Scan::Prod => first.ones_like(),
            Scan::LogSumExp => first.full_like(f64::NEG_INFINITY),
        };
        y = Tensor::cat(&[identity, y.narrow(axis, 0, (n - 1).max(0))], axis);
    }
    if reverse {
        y = y.flip([axis]);
    }
    Ok(vec![y])
}

/// `on_value` where the last axis equals `x`, `off_value` elsewhere (axis -1 only).
fn one_hot(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let depth = int_values(c.input("depth")?)?;
    let [depth] = depth.as_slice() else {
        return Err("OneHot: depth must hold one value".into());
    };
    if c.int("axis")? != -1 {
        return Err("OneHot: only axis -1 is supported".into());
    }
    let (on, off) = (c.input("on_value")?, c.input("off_value")?);
    let hot = tc(x.to_kind(tch::Kind::Int64).f_one_hot(*depth))?.to_kind(tch::Kind::Bool);
    Ok(vec![tc(off.f_where_self(&hot.logical_not(), on))?])
}

/// `var` with `alpha * updates` (alpha: a 1-element tensor of var's dtype, 1 when unfed) added
/// at `indices` along `axis`; duplicate indices accumulate.
fn inplace_index_add(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let var = c.input("var")?;
    let idx = c.input("indices")?;
    let upd = c.input("updates")?;
    index_tensor(idx, "indices")?;
    same_dtype(var, upd)?;
    let rank = var.dim() as i64;
    let axis = norm_dim(c.int("axis")?, rank);
    if axis < 0 || axis >= rank.max(1) {
        return Err(format!(
            "axis {} out of range for rank {rank}",
            c.int("axis")?
        ));
    }
    if idx.dim() != 1 {
        return Err(format!("indices must be 1-D, got {:?}", idx.size()));
    }
    let n = if rank == 0 {
        1
    } else {
        var.size()[axis as usize]
    };
    in_range(idx, 0, n, "indices")?;
    let upd = match c.opt("alpha") {
        None => upd.shallow_clone(),
        Some(a) => {
            same_dtype(var, a)?;
            if a.numel() != 1 {
                return Err(format!("alpha must hold one value, got {:?}", a.size()));
            }
            tc(upd.f_mul(&a.reshape([-1i64]).squeeze()))?
        }
    };
    Ok(vec![tc(var.f_index_add(
        axis,
        &idx.to_kind(Kind::Int64),
        &upd,
    ))?])
}

/// `x` with the positions where `mask` (BOOL, x's shape) is true taken, in order, from the
/// flattened `updates`, which must hold at least that many elements.
fn masked_scatter(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let mask = c.input("mask")?;
    let upd = c.input("updates")?;
    same_dtype(x, upd)?;
    if mask.kind() != Kind::Bool {
        return Err(format!("mask must be BOOL, got {:?}", mask.kind()));
    }
    if mask.size() != x.size() {
        return Err(format!(
            "mask shape {:?} differs from x shape {:?}",
            mask.size(),
            x.size()
        ));
    }
    let need = mask.sum(Kind::Int64).int64_value(&[]);
    if need > upd.numel() as i64 {
        return Err(format!(
            "mask selects {need} positions but updates holds {} elements",
            upd.numel()
        ));
    }
    Ok(vec![tc(x.f_masked_scatter(mask, upd))?])
}
