//! `MaxPoolV3`, `AvgPoolV2`, `AdaptiveAvgPool2d`.
use super::spatial::{hw_attr, nchw, need_float, rank4, sym_pads, torch_err, R};
use super::{KCtx, Kernel};
use std::collections::BTreeMap;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("MaxPoolV3", max_pool_v3);
    m.insert("AvgPoolV2", avg_pool_v2);
    m.insert("AdaptiveAvgPool2d", adaptive_avg_pool2d);
    m.insert("AdaptiveMaxPool2d", adaptive_max_pool2d);
    m.insert("MaxPoolWithArgmaxV1", max_pool_with_argmax_v1);
}

/// PyTorch's adaptive max pooling: `y`, and `argmax` (INT64), each maximum's flat position in
/// its H×W plane.
fn adaptive_max_pool2d(c: &KCtx) -> R {
    let x = c.input("x")?;
    rank4(x, "x")?;
    need_float(x, "x")?;
    let size = c.ints("output_size")?;
    let [h, w] = size.as_slice() else {
        return Err(format!("output_size {size:?} must have 2 entries"));
    };
    if *h <= 0 || *w <= 0 {
        return Err(format!("output_size {size:?} must be positive"));
    }
    let (y, i) = x.f_adaptive_max_pool2d([*h, *w]).map_err(torch_err)?;
    Ok(vec![y, i])
}

/// `MaxPoolWithArgmaxV1` (NCHW): `ksize`, `strides` and `pads` are 4-entry lists with the window
/// in entries 1 and 2 (`[1, kh, kw, 1]`), `dilation` likewise, `ceil_mode`. Outputs y and argmax:
/// the runner's argmax is each maximum's flat position in its H×W plane (INT32), not the NPU's
/// bit-mask layout, which only MaxPoolGradWithArgmaxV1 reads.
fn max_pool_with_argmax_v1(c: &KCtx) -> R {
    nchw(c)?;
    let x = c.input("x")?;
    rank4(x, "x")?;
    need_float(x, "x")?;
    let mid = |name: &str| -> Result<[i64; 2], String> {
        let v = c.ints(name)?;
        match v.as_slice() {
            [_, h, w, _] => Ok([*h, *w]),
            _ => Err(format!("{name}={v:?}: expected 4 entries [1, h, w, 1]")),
        }
    };
    let (k, s, p, d) = (
        mid("ksize")?,
        mid("strides")?,
        mid("pads")?,
        mid("dilation")?,
    );
    let (y, i) = x
        .f_max_pool2d_with_indices(k, s, p, d, c.bool("ceil_mode")?)
        .map_err(torch_err)?;
    Ok(vec![y, i.to_kind(tch::Kind::Int)])
}

/// (kernel, stride, symmetric padding) of a 2-D pool, (H, W) each.
type Pool = ([i64; 2], [i64; 2], [i64; 2]);

fn pool_attrs(c: &KCtx) -> Result<Pool, String> {
    nchw(c)?;
    if c.string("padding_mode")? != "CALCULATED" {
        return Err("only padding_mode CALCULATED is supported by the runner".into());
    }
    if c.bool("global_pooling")? {
        return Err("global_pooling=true is not supported by the runner".into());
    }
    let k = hw_attr(c, "ksize")?;
    let s = hw_attr(c, "strides")?;
    let p = sym_pads(&c.ints("pads")?)?
        .ok_or("asymmetric pooling pads are not supported by the runner")?;
    Ok((k, s, p))
}

fn max_pool_v3(c: &KCtx) -> R {
    let (k, s, p) = pool_attrs(c)?;
    let x = c.input("x")?;
    rank4(x, "x")?;
    Ok(vec![x
        .f_max_pool2d(k, s, p, [1, 1], c.bool("ceil_mode")?)
        .map_err(torch_err)?])
}

fn avg_pool_v2(c: &KCtx) -> R {
    let (k, s, p) = pool_attrs(c)?;
    let x = c.input("x")?;
    rank4(x, "x")?;
    need_float(x, "x")?;
    let div = c.int("divisor_override")?;
    let y = x
        .f_avg_pool2d(
            k,
            s,
            p,
            c.bool("ceil_mode")?,
            !c.bool("exclusive")?,
            (div != 0).then_some(div),
        )
        .map_err(torch_err)?;
    Ok(vec![y])
}

fn adaptive_avg_pool2d(c: &KCtx) -> R {
    let x = c.input("x")?;
    need_float(x, "x")?;
    if x.dim() != 3 && x.dim() != 4 {
        return Err(format!("x must be 3-D or 4-D, got {:?}", x.size()));
    }
    let o = c.ints("output_size")?;
    if o.len() != 2 {
        return Err(format!("output_size {o:?} must have 2 entries"));
    }
    Ok(vec![x.f_adaptive_avg_pool2d(o).map_err(torch_err)?])
}
