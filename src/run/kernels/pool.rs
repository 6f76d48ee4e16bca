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
    m.insert("MaxPool3DWithArgmaxV2", max_pool3d_with_argmax_v2);
    m.insert("AvgPool3D", avg_pool3d);
}

/// `AvgPool3D` on NCDHW: `ksize` and `strides` as [d, h, w], `pads` as [front, back, top,
/// bottom, left, right] (symmetric only), `ceil_mode`, `count_include_pad`, `divisor_override`
/// (0: none).
fn avg_pool3d(c: &KCtx) -> R {
    let layout = c.string("data_format")?;
    if layout != "NCDHW" {
        return Err(format!(
            "data_format '{layout}' is not supported by the runner (NCDHW is)"
        ));
    }
    let x = c.input("x")?;
    if x.dim() != 5 {
        return Err(format!("x must be 5-D (NCDHW), got {:?}", x.size()));
    }
    need_float(x, "x")?;
    let three = |name: &str| -> Result<Vec<i64>, String> {
        let v = c.ints(name)?;
        match v.len() {
            3 => Ok(v),
            _ => Err(format!("{name}={v:?}: expected [d, h, w]")),
        }
    };
    let (k, s) = (three("ksize")?, three("strides")?);
    let pads = c.ints("pads")?;
    let p = match pads.as_slice() {
        [a, b, t, bo, l, r] if a == b && t == bo && l == r => vec![*a, *t, *l],
        _ => {
            return Err(format!(
                "pads {pads:?}: the runner takes 6 symmetric entries [f, f, t, t, l, l]"
            ))
        }
    };
    let div = c.int("divisor_override")?;
    let y = x
        .f_avg_pool3d(
            k,
            s,
            p,
            c.bool("ceil_mode")?,
            c.bool("count_include_pad")?,
            (div != 0).then_some(div),
        )
        .map_err(torch_err)?;
    Ok(vec![y])
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

/// `MaxPool3DWithArgmaxV2` on NCDHW: `ksize`, `strides` (empty: the kernel), `pads`, `dilation`
/// as [d, h, w], `ceil_mode`. argmax (INT32, or the `dtype` attr's int type) is each maximum's
/// flat position in its D×H×W volume, libtorch's meaning; the NPU's own encoding may differ.
fn max_pool3d_with_argmax_v2(c: &KCtx) -> R {
    let layout = c.input_layout("x")?;
    if layout != "NCDHW" {
        return Err(format!(
            "layout '{layout}' is not supported by the runner (NCDHW is)"
        ));
    }
    let x = c.input("x")?;
    if x.dim() != 5 {
        return Err(format!("x must be 5-D (NCDHW), got {:?}", x.size()));
    }
    need_float(x, "x")?;
    let three = |name: &str| -> Result<Vec<i64>, String> {
        let v = c.ints(name)?;
        if v.len() != 3 {
            return Err(format!("{name}={v:?}: expected [d, h, w]"));
        }
        Ok(v)
    };
    let k = three("ksize")?;
    let s = match c.ints("strides")? {
        v if v.is_empty() => k.clone(),
        _ => three("strides")?,
    };
    let (p, d) = (three("pads")?, three("dilation")?);
    let (y, i) = x
        .f_max_pool3d_with_indices(k, s, p, d, c.bool("ceil_mode")?)
        .map_err(torch_err)?;
    let kind = match crate::dtype::DType::from_ge_cpp(c.int("dtype")?) {
        Some(crate::dtype::DType::I64) => tch::Kind::Int64,
        _ => tch::Kind::Int,
    };
    Ok(vec![y, i.to_kind(kind)])
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
