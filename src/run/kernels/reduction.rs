//! Reductions.
use super::{int_values, norm_dim, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::Tensor;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("ReduceMean", |c| reduce(c, true));
    m.insert("ReduceSum", |c| reduce(c, false));
    m.insert("LpNormV2", lp_norm);
    m.insert("ReduceLogSumExp", log_sum_exp);
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
