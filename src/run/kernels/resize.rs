//! `ResizeNearestNeighborV2`, `ResizeBilinearV2`.
use super::spatial::{need_float, rank4, torch_err, R};
use super::{int_values, KCtx, Kernel};
use crate::dtype::DType;
use std::collections::BTreeMap;
use tch::Kind;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("ResizeNearestNeighborV2", resize_nearest);
    m.insert("ResizeBilinearV2", resize_bilinear);
}

fn resize_size(c: &KCtx) -> Result<[i64; 2], String> {
    let s = c.input("size")?;
    if s.kind() != Kind::Int {
        return Err(format!("size must be INT32, got {:?}", s.kind()));
    }
    let v = int_values(s)?;
    match v.as_slice() {
        [h, w] if *h > 0 && *w > 0 => Ok([*h, *w]),
        _ => Err(format!("size {v:?} must be two positive sizes")),
    }
}

fn resize_nearest(c: &KCtx) -> R {
    let x = c.input("x")?;
    rank4(x, "x")?;
    let size = resize_size(c)?;
    let (align, half) = (c.bool("align_corners")?, c.bool("half_pixel_centers")?);
    // Source pixel = floor(dst * in/out) (ATen's "nearest"), or floor((dst + 0.5) * in/out)
    // with half_pixel_centers (ATen's "nearest-exact").
    let y = match (align, half) {
        (false, false) => x.f_upsample_nearest2d(size, None, None),
        (false, true) => x.f_internal_upsample_nearest_exact2d(size, None, None),
        _ => return Err("align_corners=true is not supported by the runner".into()),
    };
    Ok(vec![y.map_err(torch_err)?])
}

fn resize_bilinear(c: &KCtx) -> R {
    let x = c.input("x")?;
    rank4(x, "x")?;
    need_float(x, "x")?;
    let size = resize_size(c)?;
    let (align, half) = (c.bool("align_corners")?, c.bool("half_pixel_centers")?);
    // ATen's bilinear is half-pixel without align_corners and corner-aligned with it.
    if align == half {
        return Err(format!(
            "align_corners={align} with half_pixel_centers={half} is not supported by the runner"
        ));
    }
    // y is FLOAT (the `dtype` attr); the interpolation runs in FLOAT.
    let dt = c.int("dtype")?;
    if DType::from_ge_cpp(dt) != Some(DType::F32) {
        return Err(format!(
            "dtype {dt} is not supported by the runner (DT_FLOAT is)"
        ));
    }
    let y = x
        .to_kind(Kind::Float)
        .f_upsample_bilinear2d(size, align, None, None)
        .map_err(torch_err)?;
    Ok(vec![y])
}
