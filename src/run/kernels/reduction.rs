//! Reductions.
use super::{int_values, norm_dim, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::Tensor;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("ReduceMean", |c| reduce(c, true));
    m.insert("ReduceSum", |c| reduce(c, false));
    m.insert("LpNormV2", lp_norm);
    m.insert("ReduceLogSumExp", log_sum_exp);
    m.insert("ReduceProd", reduce_prod);
    m.insert("ReduceStdWithMean", std_with_mean);
    m.insert("ReduceMeanWithCast", mean_with_cast);
    m.insert("ReduceProdD", reduce_prod_d);
    m.insert("Trace", trace);
}

/// `Trace`: the sum of a 2-D x's main diagonal, a 0-D tensor of x's dtype (a float or INT64/
/// UINT64 one: the prototype's outputs).
fn trace(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    if x.dim() != 2 {
        return Err(format!("x must be 2-D, got {:?}", x.size()));
    }
    if !matches!(
        x.kind(),
        tch::Kind::Float | tch::Kind::Half | tch::Kind::Double | tch::Kind::Int64
    ) {
        return Err(format!(
            "x must be FLOAT/FLOAT16/DOUBLE/INT64 (the output types), got {:?}",
            x.kind()
        ));
    }
    Ok(vec![super::tc(x.f_trace())?.to_kind(x.kind())])
}

/// `ReduceStdWithMean`: the standard deviation of x over `dim` (every dim when empty) around the
/// given `mean` (broadcast to x): sqrt(sum((x - mean)^2) / (n - correction)), correction applying
/// when `unbiased`; with `invert`, 1 / sqrt(var + epsilon).
fn std_with_mean(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (x, mean) = (c.input("x")?, c.input("mean")?);
    super::same_dtype(x, mean)?;
    let rank = x.dim() as i64;
    let mut dims: Vec<i64> = c.ints("dim")?.iter().map(|&d| norm_dim(d, rank)).collect();
    if let Some(d) = dims.iter().find(|&&d| d < 0 || d >= rank) {
        return Err(format!("dim {d} out of range for rank {rank}"));
    }
    if dims.is_empty() {
        dims = (0..rank).collect();
    }
    dims.sort_unstable();
    dims.dedup();
    let n: i64 = dims.iter().map(|&d| x.size()[d as usize]).product();
    let correction = if c.bool("unbiased")? {
        c.int("correction")?
    } else {
        0
    };
    let d = super::tc(x.f_sub(mean))?;
    let ss = (&d * &d).sum_dim_intlist(dims.as_slice(), c.bool("keepdim")?, None);
    let var = ss / ((n - correction).max(0) as f64);
    Ok(vec![if c.bool("invert")? {
        (var + c.float("epsilon")?).rsqrt()
    } else {
        var.sqrt()
    }])
}

/// `ReduceMeanWithCast`: x cast to the `dtype` attr (DT_UNDEFINED: x's own), then ReduceMean.
fn mean_with_cast(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let code = c.int("dtype")?;
    let kind = match crate::dtype::DType::from_ge_cpp(code) {
        Some(dt) => dt.kind(),
        None if code == 28 => x.kind(),
        None => return Err(format!("dtype {code} is not a dtype the runner knows")),
    };
    let x = x.to_kind(kind);
    let axes = int_values(c.input("axes")?)?;
    if axes.is_empty() {
        return Ok(vec![x]);
    }
    let dims = checked_dims(&x, &axes)?;
    Ok(vec![super::tc(x.f_mean_dim(
        dims.as_slice(),
        c.bool("keep_dims")?,
        None::<tch::Kind>,
    ))?])
}

/// `ReduceProdD`: ReduceProd with the axes as an attr.
fn reduce_prod_d(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let dims = checked_dims(x, &c.ints("axes")?)?;
    let keep = c.bool("keep_dims")?;
    let mut y = x.shallow_clone();
    for &d in dims.iter().rev() {
        y = super::tc(y.f_prod_dim_int(d, keep, Some(x.kind())))?;
    }
    Ok(vec![y])
}

/// Axes normalized, in range, sorted and unique.
fn checked_dims(x: &Tensor, axes: &[i64]) -> Result<Vec<i64>, String> {
    let rank = x.dim() as i64;
    let mut dims: Vec<i64> = axes.iter().map(|&d| norm_dim(d, rank)).collect();
    if let Some(d) = dims.iter().find(|&&d| d < 0 || d >= rank) {
        return Err(format!("axis {d} out of range for rank {rank}"));
    }
    dims.sort_unstable();
    dims.dedup();
    Ok(dims)
}

/// The product over `axes` (every axis when empty: an empty list reduces nothing in
/// ReduceMean/ReduceSum, so here too x itself), in x's dtype.
fn reduce_prod(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    if x.kind() == tch::Kind::Bool {
        return Err("takes no BOOL".into());
    }
    let axes = int_values(c.input("axes")?)?;
    let keep = c.bool("keep_dims")?;
    let rank = x.dim() as i64;
    let mut dims: Vec<i64> = axes.iter().map(|&d| norm_dim(d, rank)).collect();
    if let Some(d) = dims.iter().find(|&&d| d < 0 || d >= rank) {
        return Err(format!("axis {d} out of range for rank {rank}"));
    }
    dims.sort_unstable();
    dims.dedup();
    let mut y = x.shallow_clone();
    // From the last dim down, so the earlier ones keep their positions.
    for &d in dims.iter().rev() {
        y = super::tc(y.f_prod_dim_int(d, keep, Some(x.kind())))?;
    }
    Ok(vec![y])
}

/// `max(‖x‖_p over axes, epsilon)`.
fn lp_norm(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let rank = x.dim() as i64;
    let axes: Vec<i64> = c.ints("axes")?.iter().map(|&d| norm_dim(d, rank)).collect();
    let all: Vec<i64> = (0..rank).collect();
    let dims = if axes.is_empty() { &all } else { &axes };
    let p = c.float("p")?;
    let y = super::tc(x.f_norm_scalaropt_dim(p, dims.as_slice(), c.bool("keepdim")?))?;
    Ok(vec![y.clamp_min(c.float("epsilon")?)])
}

fn log_sum_exp(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let rank = x.dim() as i64;
    let dims: Vec<i64> = int_values(c.input("axes")?)?
        .iter()
        .map(|&d| norm_dim(d, rank))
        .collect();
    Ok(vec![super::tc(
        x.f_logsumexp(dims.as_slice(), c.bool("keep_dims")?),
    )?])
}

fn reduce(c: &KCtx, mean: bool) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let axes = int_values(c.input("axes")?)?;
    let keep = c.bool("keep_dims")?;
    if axes.is_empty() {
        return Ok(vec![x.shallow_clone()]);
    }
    let rank = x.dim() as i64;
    let dims: Vec<i64> = axes.iter().map(|&d| norm_dim(d, rank)).collect();
    let dt = Some(x.kind());
    Ok(vec![if mean {
        x.mean_dim(dims.as_slice(), keep, dt)
    } else {
        x.sum_dim_intlist(dims.as_slice(), keep, dt)
    }])
}
