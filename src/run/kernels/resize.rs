//! `ResizeNearestNeighborV2`, `ResizeBilinearV2`.
use super::spatial::{need_float, rank4, torch_err, R};
use super::{int_values, KCtx, Kernel};
use crate::dtype::DType;
use std::collections::BTreeMap;
use tch::Kind;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("ResizeNearestNeighborV2", resize_nearest);
    m.insert("ResizeBilinearV2", resize_bilinear);
    m.insert("GridSampler2D", grid_sampler_2d);
    m.insert("GridSampler3D", grid_sampler_3d);
    m.insert("AffineGrid", affine_grid);
}

/// PyTorch's `grid_sample` on NCHW `x` at the normalised (x, y) points of `grid` [N, Ho, Wo, 2].
fn grid_sampler_2d(c: &KCtx) -> R {
    grid_sampler(c, 2)
}

/// `GridSampler3D` (NCDHW): x [N, C, D, H, W], grid [N, D', H', W', 3] → [N, C, D', H', W'];
/// trilinear ("bilinear") or nearest sampling, zeros/border/reflection padding.
fn grid_sampler_3d(c: &KCtx) -> R {
    let layout = c.string("data_format")?;
    if layout != "NCDHW" {
        return Err(format!(
            "data_format '{layout}' is not supported by the runner (NCDHW is)"
        ));
    }
    grid_sampler(c, 3)
}

fn grid_sampler(c: &KCtx, nsp: usize) -> R {
    let x = c.input("x")?;
    let grid = c.input("grid")?;
    if nsp == 2 {
        rank4(x, "x")?;
    } else if x.dim() != 5 {
        return Err(format!("x must be 5-D (NCDHW), got {:?}", x.size()));
    }
    need_float(x, "x")?;
    super::same_dtype(x, grid)?;
    let r = nsp + 2;
    if grid.dim() != r || grid.size()[r - 1] != nsp as i64 || grid.size()[0] != x.size()[0] {
        return Err(format!(
            "grid must be [N, spatial.., {nsp}] with x's N = {}, got {:?}",
            x.size()[0],
            grid.size()
        ));
    }
    let mode = match c.string("interpolation_mode")?.as_str() {
        "bilinear" => 0,
        "nearest" => 1,
        m => {
            return Err(format!(
                "interpolation_mode '{m}' is not supported by the runner (bilinear, nearest are)"
            ))
        }
    };
    let pad = match c.string("padding_mode")?.as_str() {
        "zeros" => 0,
        "border" => 1,
        "reflection" => 2,
        m => {
            return Err(format!(
                "padding_mode '{m}' is not zeros, border or reflection"
            ))
        }
    };
    let align = c.bool("align_corners")?;
    Ok(vec![if nsp == 2 {
        x.f_grid_sampler_2d(grid, mode, pad, align)
    } else {
        x.f_grid_sampler_3d(grid, mode, pad, align)
    }
    .map_err(torch_err)?])
}

/// PyTorch's `affine_grid` for 2-D: theta [N, 2, 3], output_size INT32 [N, C, H, W] →
/// [N, H, W, 2].
fn affine_grid(c: &KCtx) -> R {
    let theta = c.input("theta")?;
    need_float(theta, "theta")?;
    let s = c.input("output_size")?;
    if s.kind() != Kind::Int {
        return Err(format!("output_size must be INT32, got {:?}", s.kind()));
    }
    let size = int_values(s)?;
    if size.len() != 4 || size.iter().any(|&d| d <= 0) {
        return Err(format!(
            "output_size {size:?} must be 4 positive sizes [N, C, H, W]"
        ));
    }
    if theta.size() != [size[0], 2, 3] {
        return Err(format!(
            "theta must be [N, 2, 3] with N = {}, got {:?}",
            size[0],
            theta.size()
        ));
    }
    Ok(vec![tch::Tensor::f_affine_grid_generator(
        theta,
        size.as_slice(),
        c.bool("align_corners")?,
    )
    .map_err(torch_err)?])
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
