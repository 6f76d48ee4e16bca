//! `BNInfer`, `BatchNormV3`, `GroupNorm`, `GroupNormV2`, `InstanceNorm`.
use super::spatial::{nchw, need_float, rank4, torch_err, R};
use super::{KCtx, Kernel};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("BNInfer", bn_infer);
    m.insert("GroupNorm", group_norm);
    m.insert("InstanceNorm", instance_norm);
    m.insert("BatchNormV3", batch_norm_v3);
    m.insert("GroupNormV2", group_norm_v2);
}

/// The per-channel parameter `name`, checked to be 1-D of `ch` entries and of dtype `kind`.
fn channel(c: &KCtx, name: &str, ch: i64, kind: Kind) -> Result<Tensor, String> {
    let t = c.input(name)?;
    if t.size() != [ch] {
        return Err(format!("{name} must be [{ch}], got {:?}", t.size()));
    }
    if t.kind() != kind {
        return Err(format!("{name} must be {kind:?}, got {:?}", t.kind()));
    }
    Ok(t.shallow_clone())
}

fn bn_infer(c: &KCtx) -> R {
    let x = c.input("x")?;
    rank4(x, "x")?;
    if !matches!(x.kind(), Kind::Float | Kind::Half) {
        return Err(format!("x must be FLOAT or FLOAT16, got {:?}", x.kind()));
    }
    let ch = x.size()[1];
    // BNInfer's scale/offset/mean/variance are FLOAT whatever x is.
    let p: Vec<Tensor> = ["scale", "offset", "mean", "variance"]
        .iter()
        .map(|n| channel(c, n, ch, Kind::Float))
        .collect::<Result<_, _>>()?;
    let eps = c.float("epsilon")?;
    let y = x
        .to_kind(Kind::Float)
        .f_batch_norm(
            Some(&p[0]),
            Some(&p[1]),
            Some(&p[2]),
            Some(&p[3]),
            false,
            0.0,
            eps,
            false,
        )
        .map_err(torch_err)?;
    Ok(vec![y.to_kind(x.kind())])
}

/// Mean and biased variance of `x` viewed as [N, G, -1], over the last dim: [N, G] each.
fn group_stats(x: &Tensor, groups: i64) -> (Tensor, Tensor) {
    let n = x.size()[0];
    let v = x.reshape([n, groups, -1]);
    let mean = v.mean_dim([2i64].as_slice(), false, None);
    let var = v.var_dim([2i64].as_slice(), false, false);
    (mean, var)
}

fn norm_inputs(c: &KCtx) -> Result<(Tensor, Tensor, Tensor), String> {
    nchw(c)?;
    let x = c.input("x")?;
    rank4(x, "x")?;
    need_float(x, "x")?;
    let ch = x.size()[1];
    let gamma = channel(c, "gamma", ch, x.kind())?;
    let beta = channel(c, "beta", ch, x.kind())?;
    Ok((x.shallow_clone(), gamma, beta))
}

fn group_norm(c: &KCtx) -> R {
    if !c.bool("is_training")? {
        return Err("is_training=false is not supported by the runner".into());
    }
    let (y, mean, var, _) = grouped(c)?;
    Ok(vec![y, mean, var])
}

/// What GroupNorm and GroupNormV2 share: y, and each group's mean and variance, and eps.
fn grouped(c: &KCtx) -> Result<(Tensor, Tensor, Tensor, f64), String> {
    let (x, gamma, beta) = norm_inputs(c)?;
    let groups = c.int("num_groups")?;
    let ch = x.size()[1];
    if groups <= 0 || ch % groups != 0 {
        return Err(format!("num_groups {groups} does not divide {ch} channels"));
    }
    let eps = c.float("eps")?;
    let y = x
        .f_group_norm(groups, Some(&gamma), Some(&beta), eps, false)
        .map_err(torch_err)?;
    let (mean, var) = group_stats(&x, groups);
    Ok((y, mean, var, eps))
}

/// `BatchNormV3` over channel dim 1 of a 4-D/5-D x: y, the new running mean and var (with
/// `is_training`, moved towards the batch's mean and unbiased var by `momentum`; otherwise as
/// given), and the mean and rstd (1/sqrt(var + eps)) used.
fn batch_norm_v3(c: &KCtx) -> R {
    let x = c.input("x")?;
    if !matches!(x.dim(), 4 | 5) {
        return Err(format!("x must be 4-D or 5-D, got {:?}", x.size()));
    }
    need_float(x, "x")?;
    let ch = x.size()[1];
    let w = channel(c, "weight", ch, x.kind())?;
    let b = channel(c, "bias", ch, x.kind())?;
    let rm = channel(c, "running_mean", ch, Kind::Float)?;
    let rv = channel(c, "running_var", ch, Kind::Float)?;
    let eps = c.float("epsilon")?;
    let m = c.float("momentum")?;
    let xf = x.to_kind(Kind::Float);
    let dims: Vec<i64> = (0..x.dim() as i64).filter(|&d| d != 1).collect();
    let (mean, var, new_rm, new_rv) = if c.bool("is_training")? {
        let mean = xf.mean_dim(dims.as_slice(), false, None);
        let var = xf.var_dim(dims.as_slice(), false, false);
        let n = (xf.numel() as i64 / ch.max(1)) as f64;
        let unbiased = &var * (n / (n - 1.0).max(1.0));
        let new_rm = &rm * (1.0 - m) + &mean * m;
        let new_rv = &rv * (1.0 - m) + unbiased * m;
        (mean, var, new_rm, new_rv)
    } else {
        (rm.shallow_clone(), rv.shallow_clone(), rm.copy(), rv.copy())
    };
    let mut shape = vec![1i64; x.dim()];
    shape[1] = ch;
    let rstd = (&var + eps).rsqrt();
    let y = (&xf - mean.reshape(shape.as_slice()))
        * rstd.reshape(shape.as_slice())
        * w.to_kind(Kind::Float).reshape(shape.as_slice())
        + b.to_kind(Kind::Float).reshape(shape.as_slice());
    Ok(vec![y.to_kind(x.kind()), new_rm, new_rv, mean, rstd])
}

/// `GroupNormV2`: GroupNorm whose outputs are y, and the mean and rstd (1/sqrt(var + eps)) of
/// each group, [N, G].
fn group_norm_v2(c: &KCtx) -> R {
    let (y, mean, var, eps) = grouped(c)?;
    Ok(vec![y, mean, (var + eps).rsqrt()])
}

fn instance_norm(c: &KCtx) -> R {
    let (x, gamma, beta) = norm_inputs(c)?;
    let eps = c.float("epsilon")?;
    let ch = x.size()[1];
    // Instance norm is group norm with one group per channel.
    let y = x
        .f_group_norm(ch, Some(&gamma), Some(&beta), eps, false)
        .map_err(torch_err)?;
    let n = x.size()[0];
    let (mean, var) = group_stats(&x, ch);
    Ok(vec![
        y,
        mean.reshape([n, ch, 1, 1]),
        var.reshape([n, ch, 1, 1]),
    ])
}
