//! Reductions.
use super::{int_values, norm_dim, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::Tensor;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("ReduceMean", |c| reduce(c, true));
    m.insert("ReduceSum", |c| reduce(c, false));
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
