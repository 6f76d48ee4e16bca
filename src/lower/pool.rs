//! Max, average and adaptive average pooling (`MaxPoolV3`, `AvgPoolV2`, `AdaptiveAvgPool2d`).
use super::spatial::{back, spatial, squeeze, unsqueeze, work_dtype};
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::Port;

pub fn register(r: &mut Rules) {
    r.add(
        "aten::max_pool1d",
        |c| max_pool(c, 1),
        "Unsqueeze(axes=[2]) → MaxPoolV3 (as max_pool2d, H = 1) → Squeeze(axis=[2]); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::avg_pool1d",
        |c| avg_pool(c, 1),
        "Unsqueeze(axes=[2]) → AvgPoolV2 (as avg_pool2d, H = 1) → Squeeze(axis=[2]); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::adaptive_avg_pool1d",
        |c| adaptive_avg_pool(c, 1),
        "output 1: ReduceMean(x, K64([-1]); keep_dims); else Unsqueeze(axes=[2]) → AdaptiveAvgPool2d([1, L]) → Squeeze(axis=[2])",
    );
    r.add(
        "aten::max_pool2d",
        |c| max_pool(c, 2),
        "[Unsqueeze 0] → MaxPoolV3(ksize=[1,1,kH,kW], strides=[1,1,sH,sW], pads=[pH,pH,pW,pW], ceil_mode, data_format=NCHW) → [Squeeze 0]; dilation must be 1; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::avg_pool2d",
        |c| avg_pool(c, 2),
        "[Unsqueeze 0] → AvgPoolV2(ksize, strides, pads, ceil_mode, exclusive=!count_include_pad, divisor_override, data_format=NCHW) → [Squeeze 0]; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::adaptive_max_pool2d",
        adaptive_max_pool,
        "[Unsqueeze 0] → AdaptiveMaxPool2d(x; output_size) → (values, argmax INT64: the flat H×W position, as PyTorch's indices) → [Squeeze 0]; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::adaptive_avg_pool2d",
        |c| adaptive_avg_pool(c, 2),
        "output 1x1: ReduceMean(x, K64([-2,-1]); keep_dims) (as AOT decomposes it); else AdaptiveAvgPool2d(output_size)",
    );
}

/// Runs `f` on a 4-D NCHW view of `name`, then brings the result back to the input's layout:
/// `nsp` = 2: [C,H,W] gets a batch dim; `nsp` = 1: [N,C,L] becomes [N,C,1,L] ([C,L] also gets a
/// batch dim), as TorchAir lowers 1-D convs and pools.
fn on_4d(
    c: &mut Ctx,
    name: &str,
    ty: &str,
    nsp: usize,
    f: impl FnOnce(&mut Ctx, Port, DType) -> Result<Port, String>,
) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype(ty, res);
    let rank = c.rank(name)?;
    if rank != nsp + 1 && rank != nsp + 2 {
        return Err(format!(
            "expects a {}-D or {}-D input, got rank {rank}",
            nsp + 1,
            nsp + 2
        ));
    }
    let unbatched = rank == nsp + 1;
    let mut x = c.tensor_as(name, out)?;
    if unbatched {
        x = unsqueeze(c, x, vec![0], out)?;
    }
    if nsp == 1 {
        x = unsqueeze(c, x, vec![2], out)?;
    }
    let mut y = f(c, x, out)?;
    if nsp == 1 {
        y = squeeze(c, y, vec![2], out)?;
    }
    if unbatched {
        y = squeeze(c, y, vec![0], out)?;
    }
    back(c, y, res)
}

/// (ksize, strides, pads) attrs of a pool over `nsp` spatial dims, as a 2-D NCHW pool.
type PoolAttrs = (Vec<i64>, Vec<i64>, Vec<i64>);

fn pool_params(c: &Ctx, nsp: usize) -> Result<PoolAttrs, String> {
    let mut k = spatial(c, "kernel_size", nsp, None)?;
    let mut s = spatial(c, "stride", nsp, Some(&k))?;
    let mut p = spatial(c, "padding", nsp, None)?;
    if nsp == 1 {
        k.insert(0, 1);
        s.insert(0, 1);
        p.insert(0, 0);
    }
    Ok((
        vec![1, 1, k[0], k[1]],
        vec![1, 1, s[0], s[1]],
        vec![p[0], p[0], p[1], p[1]],
    ))
}

fn max_pool(c: &mut Ctx, nsp: usize) -> RuleResult {
    let (ksize, strides, pads) = pool_params(c, nsp)?;
    let dilation = spatial(c, "dilation", nsp, None)?;
    if dilation.iter().any(|&d| d != 1) {
        return Err(format!(
            "max pooling with dilation {dilation:?}: GE's MaxPoolV3 has no dilation; use dilation=1"
        ));
    }
    let ceil = c.bool("ceil_mode")?;
    on_4d(c, "self", "MaxPoolV3", nsp, |c, x, out| {
        c.op1(
            "MaxPoolV3",
            vec![In::P(x)],
            vec![
                ("ksize", attr::list_int(ksize)),
                ("strides", attr::list_int(strides)),
                ("padding_mode", attr::string("CALCULATED")),
                ("pads", attr::list_int(pads)),
                ("data_format", attr::string("NCHW")),
                ("ceil_mode", attr::boolean(ceil)),
            ],
            out,
        )
    })
}

fn avg_pool(c: &mut Ctx, nsp: usize) -> RuleResult {
    let (ksize, strides, pads) = pool_params(c, nsp)?;
    let ceil = c.bool("ceil_mode")?;
    let include_pad = c.bool("count_include_pad")?;
    let divisor = if c.has("divisor_override") {
        c.int("divisor_override")?
    } else {
        0
    };
    // TorchAir forces exclusive=true for fp16 inputs, which changes the result when padding is
    // counted; here exclusive is always !count_include_pad.
    on_4d(c, "self", "AvgPoolV2", nsp, |c, x, out| {
        c.op1(
            "AvgPoolV2",
            vec![In::P(x)],
            vec![
                ("ksize", attr::list_int(ksize)),
                ("strides", attr::list_int(strides)),
                ("padding_mode", attr::string("CALCULATED")),
                ("pads", attr::list_int(pads)),
                ("data_format", attr::string("NCHW")),
                ("ceil_mode", attr::boolean(ceil)),
                ("exclusive", attr::boolean(!include_pad)),
                ("divisor_override", attr::int(divisor)),
            ],
            out,
        )
    })
}

fn adaptive_avg_pool(c: &mut Ctx, nsp: usize) -> RuleResult {
    // The output's spatial size is the op's own argument (`output_size`): static even when batch
    // is dynamic. One computed from a dynamic dim is taken as a constant (that dim is pinned,
    // with a note): AdaptiveAvgPool2d takes it as an attribute.
    let oshape = c.out_desc_shape(0)?;
    let mut size = oshape[oshape.len().saturating_sub(nsp)..].to_vec();
    if size.iter().any(|&d| d < 0) {
        let k = c.outputs[0].tensors()[0].tensor.size();
        size = k[k.len().saturating_sub(nsp)..].to_vec();
        c.bake(format!(
            "{} takes its output size as the constant {size:?}",
            c.node.op_name()
        ));
    }
    if size.iter().all(|&d| d == 1) {
        let out = c.out_dtype(0)?;
        let x = c.tensor_as("self", out)?;
        let axes: Vec<i64> = (-(nsp as i64)..0).collect();
        let axes = c.const_i64(&axes)?;
        return Ok(vec![c.op1(
            "ReduceMean",
            vec![In::P(x), In::P(axes)],
            vec![("keep_dims", attr::boolean(true))],
            out,
        )?]);
    }
    if nsp == 1 {
        size.insert(0, 1);
    }
    on_4d(c, "self", "AdaptiveAvgPool2d", nsp, |c, x, out| {
        c.op1(
            "AdaptiveAvgPool2d",
            vec![In::P(x)],
            vec![("output_size", attr::list_int(size))],
            out,
        )
    })
}

fn adaptive_max_pool(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    if !res.is_float() {
        return Err(format!(
            "adaptive_max_pool2d of {} values (AdaptiveMaxPool2d takes floats); fix: cast to float first",
            res.name()
        ));
    }
    let out = work_dtype("AdaptiveMaxPool2d", res);
    let rank = c.rank("self")?;
    if rank != 3 && rank != 4 {
        return Err(format!("expects a 3-D or 4-D input, got rank {rank}"));
    }
    let oshape = c.out_desc_shape(0)?;
    let mut size = oshape[oshape.len() - 2..].to_vec();
    if size.iter().any(|&d| d < 0) {
        let k = c.outputs[0].tensors()[0].tensor.size();
        size = k[k.len() - 2..].to_vec();
        c.bake(format!(
            "{} takes its output size as the constant {size:?}",
            c.node.op_name()
        ));
    }
    if size.iter().any(|&d| d <= 0) {
        return Err(format!(
            "adaptive_max_pool2d output size {size:?} must be positive and static"
        ));
    }
    let mut x = c.tensor_as("self", out)?;
    if rank == 3 {
        x = unsqueeze(c, x, vec![0], out)?;
    }
    let ys = c.op(
        "AdaptiveMaxPool2d",
        vec![In::P(x)],
        vec![("output_size", attr::list_int(size))],
        &[Some(out), Some(DType::I64)],
    )?;
    let (mut y, mut i) = (ys[0], ys[1]);
    if rank == 3 {
        y = squeeze(c, y, vec![0], out)?;
        i = squeeze(c, i, vec![0], DType::I64)?;
    }
    let y = c.cast(y, res)?;
    Ok(vec![y, i])
}
