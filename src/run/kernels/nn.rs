//! Matrix products, normalization, softmax, gather.
use super::{int_values, norm_dim, same_dtype, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::Tensor;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("MatMulV2", matmul_v2);
    m.insert("MatMul", matmul_v2);
    m.insert("BatchMatMulV2", batch_matmul_v2);
    m.insert("BatchMatMul", batch_matmul);
    m.insert("LayerNorm", layer_norm);
    m.insert("LayerNormV4", layer_norm_v4);
    m.insert("SoftmaxV2", |c| softmax(c, "x", false));
    m.insert("LogSoftmaxV2", |c| softmax(c, "logits", true));
    m.insert("GatherV2", gather_v2);
    m.insert("Gather", gather);
    m.insert("EmbeddingBag", embedding_bag);
}

fn t_last2(t: &Tensor, yes: bool) -> Tensor {
    if yes {
        t.transpose(-1, -2)
    } else {
        t.shallow_clone()
    }
}

fn with_bias(c: &KCtx, y: Tensor) -> Result<Vec<Tensor>, String> {
    if c.opt("offset_w").is_some() {
        return Err("offset_w (quantized matmul) is not supported by the runner".into());
    }
    Ok(vec![match c.opt("bias") {
        Some(b) => {
            same_dtype(&y, b)?;
            y + b
        }
        None => y,
    }])
}

fn matmul_v2(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    same_dtype(a, b)?;
    if a.dim() != 2 || b.dim() != 2 {
        return Err(format!(
            "{} takes 2-D operands, got {:?} and {:?}",
            c.op.r#type,
            a.size(),
            b.size()
        ));
    }
    let y = t_last2(a, c.bool("transpose_x1")?).mm(&t_last2(b, c.bool("transpose_x2")?));
    with_bias(c, y)
}

fn batch_matmul_v2(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    same_dtype(a, b)?;
    if a.dim() < 2 || b.dim() < 2 {
        return Err(format!(
            "BatchMatMulV2 takes operands of rank >= 2, got {:?} and {:?}",
            a.size(),
            b.size()
        ));
    }
    let y = t_last2(a, c.bool("adj_x1")?).matmul(&t_last2(b, c.bool("adj_x2")?));
    with_bias(c, y)
}

/// `BatchMatMul`: x1 @ x2 over broadcast batch dims, `adj_x1`/`adj_x2` transposing the last two
/// dims; no bias.
fn batch_matmul(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    same_dtype(a, b)?;
    if a.dim() < 2 || b.dim() < 2 {
        return Err(format!(
            "BatchMatMul takes operands of rank >= 2, got {:?} and {:?}",
            a.size(),
            b.size()
        ));
    }
    let y = t_last2(a, c.bool("adj_x1")?).f_matmul(&t_last2(b, c.bool("adj_x2")?));
    Ok(vec![super::tc(y)?])
}

/// `LayerNormV4`: normalizes x over its last dims, which the `normalized_shape` tensor gives;
/// gamma and beta optional (unfed: 1 and 0). Outputs y, and mean and rstd (1/sqrt(var + eps)),
/// each x's shape with the normalized dims kept as 1.
fn layer_norm_v4(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let ns = int_values(c.input("normalized_shape")?)?;
    let rank = x.dim() as i64;
    let k = ns.len() as i64;
    if k == 0 || k > rank || x.size()[(rank - k) as usize..] != ns[..] {
        return Err(format!(
            "normalized_shape {ns:?} is not the trailing dims of x {:?}",
            x.size()
        ));
    }
    for (name, p) in [("gamma", c.opt("gamma")), ("beta", c.opt("beta"))] {
        if let Some(p) = p {
            same_dtype(x, p)?;
            if p.size() != ns {
                return Err(format!(
                    "{name} has shape {:?}, not normalized_shape {ns:?}",
                    p.size()
                ));
            }
        }
    }
    let eps = c.float("epsilon")?;
    let y = super::tc(x.f_layer_norm(ns.as_slice(), c.opt("gamma"), c.opt("beta"), eps, false))?;
    let dims: Vec<i64> = (rank - k..rank).collect();
    let mean = x.mean_dim(dims.as_slice(), true, None);
    let rstd = (x.var_dim(dims.as_slice(), false, true) + eps).rsqrt();
    Ok(vec![y, mean, rstd])
}

/// `EmbeddingBag`: per bag, the sum/mean/max (`mode`) of the weight rows `indices` names. Bags
/// start at `offsets` (the last one closing the bags with `include_last_offset`); without
/// offsets, each row of a 2-D `indices` is a bag. `per_sample_weights` scale the rows (sum).
fn embedding_bag(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let w = c.input("weight")?;
    let idx = c.input("indices")?;
    let mode = match c.string("mode")?.as_str() {
        "sum" => 0,
        "mean" => 1,
        "max" => 2,
        m => return Err(format!("mode '{m}' is not sum, mean or max")),
    };
    let long = |t: &Tensor, what: &str| -> Result<Tensor, String> {
        int_values(t).map_err(|e| format!("{what}: {e}"))?;
        Ok(t.to_kind(tch::Kind::Int64))
    };
    let (idx, offsets) = match c.opt("offsets") {
        Some(o) => (long(idx, "indices")?, long(o, "offsets")?),
        None if idx.dim() == 2 => {
            let (b, n) = (idx.size()[0], idx.size()[1]);
            (
                long(idx, "indices")?.flatten(0, -1),
                Tensor::arange_start_step(0, b * n, n.max(1), (tch::Kind::Int64, tch::Device::Cpu)),
            )
        }
        None => return Err("without offsets, indices must be 2-D (one bag per row)".into()),
    };
    let offs = int_values(&offsets)?;
    if offsets.dim() != 1
        || offs.first().is_some_and(|&o| o != 0)
        || offs.windows(2).any(|p| p[0] > p[1])
        || offs.last().is_some_and(|&o| o > idx.numel() as i64)
    {
        return Err(format!(
            "offsets {offs:?} must be 1-D, start at 0, not decrease and stay within the {} indices",
            idx.numel()
        ));
    }
    let rows = w.size().first().copied().unwrap_or(0);
    if idx.numel() > 0 && (idx.min().int64_value(&[]) < 0 || idx.max().int64_value(&[]) >= rows) {
        return Err(format!("an index is outside the weight's {rows} rows"));
    }
    let (y, _, _, _) = super::tc(Tensor::f_embedding_bag(
        w,
        &idx,
        &offsets,
        c.bool("scale_grad_by_freq")?,
        mode,
        c.bool("sparse")?,
        c.opt("per_sample_weights"),
        c.bool("include_last_offset")?,
    ))?;
    Ok(vec![y])
}

fn layer_norm(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let (gamma, beta) = (c.input("gamma")?, c.input("beta")?);
    let rank = x.dim() as i64;
    let axis = norm_dim(c.int("begin_norm_axis")?, rank);
    let paxis = norm_dim(c.int("begin_params_axis")?, rank);
    if axis != paxis {
        return Err(format!(
            "begin_norm_axis {axis} != begin_params_axis {paxis} is not supported"
        ));
    }
    let ns: Vec<i64> = x.size()[axis as usize..].to_vec();
    if gamma.size() != ns || beta.size() != ns {
        return Err(format!(
            "gamma/beta shapes {:?}/{:?} do not match normalized shape {ns:?}",
            gamma.size(),
            beta.size()
        ));
    }
    let eps = c.float("epsilon")?;
    let y = x.layer_norm(ns.as_slice(), Some(gamma), Some(beta), eps, false);
    let dims: Vec<i64> = (axis..rank).collect();
    let mean = x.mean_dim(dims.as_slice(), true, None);
    let var = x.var_dim(dims.as_slice(), false, true);
    Ok(vec![y, mean, var])
}

fn softmax(c: &KCtx, input: &str, log: bool) -> Result<Vec<Tensor>, String> {
    let x = c.input(input)?;
    let axes = c.ints("axes")?;
    let [axis] = axes.as_slice() else {
        return Err(format!(
            "softmax over axes {axes:?}: only one axis is supported"
        ));
    };
    Ok(vec![if log {
        x.log_softmax(*axis, None)
    } else {
        x.softmax(*axis, None)
    }])
}

fn gather_v2(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let axis = int_values(c.input("axis")?)?;
    let [axis] = axis.as_slice() else {
        return Err("axis must hold one value".into());
    };
    gather_along(c, *axis)
}

/// `Gather`: GatherV2 along axis 0.
fn gather(c: &KCtx) -> Result<Vec<Tensor>, String> {
    gather_along(c, 0)
}

fn gather_along(c: &KCtx, axis: i64) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let idx = c.input("indices")?;
    if c.int("batch_dims")? != 0 {
        return Err("batch_dims != 0 is not supported".into());
    }
    let rank = x.dim() as i64;
    let axis = norm_dim(axis, rank);
    if axis < 0 || axis >= rank {
        return Err(format!("axis {axis} out of range for rank {rank}"));
    }
    let n = x.size()[axis as usize];
    if n == 0 {
        return Err("gather from an empty dim".into());
    }
    let flat = idx.flatten(0, -1).to_kind(tch::Kind::Int64);
    let negative = flat.lt(0).any().int64_value(&[]) != 0;
    if negative && !c.bool("negative_index_support")? {
        return Err("negative indices with negative_index_support=false".into());
    }
    let flat = flat.remainder(n);
    if flat.numel() > 0 && flat.max().int64_value(&[]) >= n {
        return Err(format!("index out of range for dim of size {n}"));
    }
    let mut shape: Vec<i64> = x.size()[..axis as usize].to_vec();
    shape.extend(idx.size());
    shape.extend(&x.size()[axis as usize + 1..]);
    Ok(vec![x.index_select(axis, &flat).reshape(shape.as_slice())])
}
