//! Nearest and bilinear upsampling (`ResizeNearestNeighborV2`, `ResizeBilinearV2`).
use super::spatial::{back, squeeze, unsqueeze, work_dtype, xname};
use super::sym::Dim;
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::Value;

pub fn register(r: &mut Rules) {
    r.add(
        "aten::upsample_nearest1d",
        |c| resize(c, Resize::Nearest, 1),
        "Unsqueeze(axes=[2]) → ResizeNearestNeighborV2(x, K32([1,ol])) → Squeeze(axis=[2]); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::upsample_linear1d",
        |c| resize(c, Resize::Bilinear, 1),
        "Unsqueeze(axes=[2]) → ResizeBilinearV2(x, K32([1,ol]); align_corners, half_pixel_centers=!align_corners, dtype=FLOAT) → Squeeze(axis=[2]) → [Cast out]; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::upsample_nearest2d",
        |c| resize(c, Resize::Nearest, 2),
        "ResizeNearestNeighborV2(x, K32([oh,ow]); align_corners=false, half_pixel_centers=false); dynamic sizes: Cast(Pack(output_size | Gather(Shape(x))·integer scale), INT32); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::_upsample_nearest_exact2d",
        |c| resize(c, Resize::NearestExact, 2),
        "ResizeNearestNeighborV2(x, K32([oh,ow]); align_corners=false, half_pixel_centers=true); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::upsample_bilinear2d",
        |c| resize(c, Resize::Bilinear, 2),
        "ResizeBilinearV2(x, K32([oh,ow]); align_corners, half_pixel_centers=!align_corners, dtype=FLOAT) → [Cast out] (y is FLOAT); dynamic sizes: Cast(Pack(output_size | Gather(Shape(x))·integer scale), INT32); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::upsample_bicubic2d",
        |c| by_weights(c, Interp::Bicubic, 2),
        WEIGHTS,
    );
    r.add(
        "aten::_upsample_bicubic2d_aa",
        |c| by_weights(c, Interp::BicubicAa, 2),
        WEIGHTS,
    );
    r.add(
        "aten::_upsample_bilinear2d_aa",
        |c| by_weights(c, Interp::LinearAa, 2),
        WEIGHTS,
    );
    r.add(
        "aten::upsample_trilinear3d",
        |c| by_weights(c, Interp::Linear, 3),
        WEIGHTS,
    );
    r.add(
        "aten::upsample_nearest3d",
        |c| by_weights(c, Interp::Nearest, 3),
        INDICES,
    );
    r.add(
        "aten::_upsample_nearest_exact1d",
        |c| by_weights(c, Interp::NearestExact, 1),
        INDICES,
    );
    r.add(
        "aten::_upsample_nearest_exact3d",
        |c| by_weights(c, Interp::NearestExact, 3),
        INDICES,
    );
    r.add(
        "aten::grid_sampler",
        grid_sampler,
        "4-D: GridSampler2D(⇑t x, ⇑t grid; interpolation_mode=bilinear|nearest, padding_mode=zeros|border|reflection, align_corners); 5-D: GridSampler3D(…; data_format=NCDHW); t = out (bf16 via FLOAT); bicubic refused",
    );
    r.add(
        "aten::grid_sampler_2d",
        grid_sampler,
        "GridSampler2D(⇑t x, ⇑t grid; interpolation_mode=bilinear|nearest, padding_mode=zeros|border|reflection, align_corners), t = out (bf16 via FLOAT); bicubic refused",
    );
    r.add(
        "aten::grid_sampler_3d",
        grid_sampler,
        "GridSampler3D(⇑t x, ⇑t grid; interpolation_mode=bilinear|nearest, padding_mode=zeros|border|reflection, align_corners, data_format=NCDHW), t = out",
    );
    r.add(
        "aten::affine_grid_generator",
        affine_grid,
        "AffineGrid(⇑t theta, output_size=K32([N,C,H,W]); align_corners), t = out (bf16 via FLOAT; f64 refused); 2-D (4-entry size) only",
    );
}

#[derive(Clone, Copy, PartialEq)]
enum Resize {
    Nearest,
    NearestExact,
    Bilinear,
}

/// The scale factors the op was given, if any (`.vec` overloads: `scale_factors`; the others:
/// `scales_h`/`scales_w`, or `scales` for 1-D).
fn given_scales(c: &Ctx) -> Result<Option<Vec<f64>>, String> {
    if c.has("scale_factors") {
        let v = match c.arg("scale_factors")? {
            Value::List(v) => v.iter().filter_map(Value::as_f64).collect(),
            _ => return Err("scale_factors must be a list of floats".into()),
        };
        return Ok(Some(v));
    }
    if c.has("scales_h") || c.has("scales_w") {
        return Ok(Some(vec![c.float("scales_h")?, c.float("scales_w")?]));
    }
    if c.has("scales") {
        return Ok(Some(vec![c.float("scales")?]));
    }
    Ok(None)
}

/// 2-D resizes on [N,C,H,W]; 1-D ones (`nsp` = 1) on [N,C,L] viewed as [N,C,1,L].
fn resize(c: &mut Ctx, mode: Resize, nsp: usize) -> RuleResult {
    let res = c.out_dtype(0)?;
    // Both resize prototypes list the same x types.
    let out = work_dtype("ResizeBilinearV2", res);
    let name = xname(c);
    // Every dim may be dynamic: a dynamic output size comes from `output_size` (computed in the
    // graph) or, for an integer scale factor, from `Shape(x) · scale`.
    let ins = c.in_desc_shape(name)?;
    let os = c.out_desc_shape(0)?;
    if ins.len() != nsp + 2 {
        return Err(format!("expects a {}-D input, got {ins:?}", nsp + 2));
    }
    let align = mode == Resize::Bilinear && c.bool("align_corners")?;
    let scales = given_scales(c)?;
    let mut os = os;
    let mut dynamic = ins[2..].iter().chain(&os[2..]).any(|&d| d < 0);
    // GE maps output to input pixels with in/out; ATen uses 1/scale_factor when one is given.
    // They agree when out = in * scale exactly: with dynamic sizes, only integer scales do.
    if let Some(s) = &scales {
        let (kin, kout) = (
            c.tensor_value(name)?.tensor.size(),
            c.outputs[0].tensors()[0].tensor.size(),
        );
        let exact_here = s.len() == nsp
            && s.iter()
                .zip(kin[2..].iter().zip(&kout[2..]))
                .all(|(f, (i, o))| (*f * *i as f64 - *o as f64).abs() < 1e-9);
        if (exact_here || align) && dynamic && s.iter().any(|f| f.fract() != 0.0) {
            // Exact at the sample's size only: the spatial sizes are taken as constants (those
            // dims are pinned, with a note).
            c.bake(format!(
                "{} by scale_factor {s:?} takes the output size {:?} as a constant (a non-integer \
                 scale is exact at some sizes only)",
                c.node.op_name(),
                &kout[2..]
            ));
            let n = os.len();
            os[2..].copy_from_slice(&kout[2..n]);
            dynamic = false;
        }
        let exact = exact_here && (!dynamic || s.iter().all(|f| f.fract() == 0.0));
        if !exact && !align && !dynamic {
            // GE's resize cannot take PyTorch's scale: PyTorch's own indices, in the graph.
            let kind = match mode {
                Resize::Nearest => Interp::Nearest,
                Resize::NearestExact => Interp::NearestExact,
                Resize::Bilinear => Interp::Linear,
            };
            return by_weights(c, kind, nsp);
        }
        if !exact && !align {
            return Err(format!(
                "scale_factor {s:?} does not give the output size {:?} exactly{}, and GE resizes by in/out; fix: pass size= (or recompute_scale_factor=True) to interpolate",
                &kout[2..],
                if dynamic { " at every size" } else { "" }
            ));
        }
    }
    let mut sizes = vec![];
    for i in 0..nsp {
        sizes.push(if os[2 + i] >= 0 {
            Dim::K(os[2 + i])
        } else if let Some(s) = scales.as_ref().filter(|s| s[i].fract() == 0.0) {
            let d = c.sym_dims(name)?[2 + i];
            c.dim_mul(d, s[i] as i64)?
        } else if c.has("output_size") {
            let items = match c.arg("output_size")? {
                Value::List(v) | Value::Tuple(v) => v.clone(),
                _ => return Err("output_size must be a list of ints".into()),
            };
            let v = items.get(i).ok_or("output_size is too short")?;
            Dim::P(c.int_port(v)?)
        } else {
            return Err("a resize to a dynamic size that is neither given nor an integer scale of the input; fix: pass size= to interpolate, or pin the dims (--dynamic-dims)".into());
        });
    }
    if nsp == 1 {
        sizes.insert(0, Dim::K(1));
    }
    let size = match super::sym::known(&sizes) {
        k if !k.contains(&-1) => {
            let k: Vec<i32> = k.iter().map(|&d| d as i32).collect();
            c.b.constant(&tch::Tensor::from_slice(&k), &format!("{k:?}"))?
        }
        _ => {
            let p = c.dims_port(&sizes)?;
            c.cast(p, DType::I32)?
        }
    };
    let (ty, half_pixel) = match mode {
        Resize::Nearest => ("ResizeNearestNeighborV2", false),
        Resize::NearestExact => ("ResizeNearestNeighborV2", true),
        Resize::Bilinear => ("ResizeBilinearV2", !align),
    };
    let mut attrs = vec![
        ("align_corners", attr::boolean(align)),
        ("half_pixel_centers", attr::boolean(half_pixel)),
    ];
    // ResizeBilinearV2's y is FLOAT whatever x is (its `dtype` attr).
    let ydt = if mode == Resize::Bilinear {
        attrs.push(("dtype", attr::dtype_cpp(DType::F32.ge_cpp())));
        DType::F32
    } else {
        out
    };
    let mut x = c.tensor_as(name, out)?;
    if nsp == 1 {
        x = unsqueeze(c, x, vec![2], out)?;
    }
    let mut y = c.op1(ty, vec![In::P(x), In::P(size)], attrs, ydt)?;
    if nsp == 1 {
        y = squeeze(c, y, vec![2], ydt)?;
    }
    back(c, y, res)
}

fn grid_sampler(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    let rank = c.rank("input")?;
    let ty = match rank {
        4 => "GridSampler2D",
        5 => "GridSampler3D",
        r => {
            return Err(format!(
                "grid_sampler on a {r}-D input: 4-D (GridSampler2D) and 5-D (GridSampler3D) are lowered"
            ))
        }
    };
    let mode =
        match c.int("interpolation_mode")? {
            0 => "bilinear",
            1 => "nearest",
            2 => return Err(
                "grid_sample mode='bicubic' is not lowered; fix: use mode='bilinear' or 'nearest'"
                    .into(),
            ),
            m => return Err(format!("grid_sampler interpolation_mode {m} is unknown")),
        };
    let pad = match c.int("padding_mode")? {
        0 => "zeros",
        1 => "border",
        2 => "reflection",
        p => return Err(format!("grid_sampler padding_mode {p} is unknown")),
    };
    let align = c.bool("align_corners")?;
    let work = work_dtype(ty, res);
    let x = c.tensor_as("input", work)?;
    let g = c.tensor_as("grid", work)?;
    let mut attrs = vec![
        ("interpolation_mode", attr::string(mode)),
        ("padding_mode", attr::string(pad)),
        ("align_corners", attr::boolean(align)),
    ];
    if rank == 5 {
        attrs.push(("data_format", attr::string("NCDHW")));
    }
    let y = c.op1(ty, vec![In::P(x), In::P(g)], attrs, work)?;
    back(c, y, res)
}

fn affine_grid(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    let size = c.ints("size")?;
    if size.len() != 4 {
        return Err(format!(
            "affine_grid with size {size:?}: only the 2-D form (size [N, C, H, W]) is lowered"
        ));
    }
    if res == DType::F64 {
        return Err("affine_grid in float64: GE's AffineGrid takes FLOAT16/FLOAT only and FLOAT would lose precision; fix: build theta in float32".into());
    }
    let align = c.bool("align_corners")?;
    let work = work_dtype("AffineGrid", res);
    let theta = c.tensor_as("theta", work)?;
    let s: Vec<i32> = size.iter().map(|&d| d as i32).collect();
    let sp =
        c.b.constant(&tch::Tensor::from_slice(&s), &format!("{size:?}"))?;
    let y = c.op1(
        "AffineGrid",
        vec![In::P(theta), In::P(sp)],
        vec![("align_corners", attr::boolean(align))],
        work,
    )?;
    back(c, y, res)
}

/// Applies a constant [out, in] matrix along each of the last `mats.len()` axes of a rank-`rank`
/// `x`: `BatchMatMulV2(x, K(Mᵀ))` on the last axis, then a Transpose that brings that axis in
/// front of the other spatial ones, once per axis (last axis first), which leaves them in order.
/// Separable resamplings (adaptive averages, PyTorch's interpolation weights) are such products.
pub(super) fn separable(
    c: &mut Ctx,
    x: crate::value::Port,
    rank: usize,
    mats: &[tch::Tensor],
    dt: DType,
) -> Result<crate::value::Port, String> {
    let k = mats.len();
    if k > rank {
        return Err(format!("{k} spatial axes in a rank-{rank} tensor"));
    }
    let mut perm: Vec<i64> = (0..(rank - k) as i64).collect();
    perm.push(rank as i64 - 1);
    perm.extend((rank - k) as i64..rank as i64 - 1);
    let mut y = x;
    for m in mats.iter().rev() {
        let (o, n) = (m.size()[0], m.size()[1]);
        let mt = m.tr().contiguous().to_kind(dt.kind());
        let w =
            c.b.constant(&mt, &format!("resampling weights [{n}, {o}]"))?;
        y = c.batch_matmul(y, w, None, false, dt)?;
        if k > 1 {
            y = c.transpose_const(y, &perm, dt)?;
        }
    }
    Ok(y)
}

const WEIGHTS: &str = "per spatial axis: BatchMatMulV2(x, K(Wᵀ)) → Transpose, W = PyTorch's own [out, in] interpolation weights for that axis (its kernel run on an identity at export: any scale factor, align_corners, antialias); static spatial dims";
const INDICES: &str = "per spatial axis: GatherV2(x, K64(PyTorch's own source index of each output), axis) (its kernel run on an identity at export: any scale factor); static spatial dims";

/// Resamplings computed from PyTorch's own per-axis indices or weights.
#[derive(Clone, Copy, PartialEq)]
enum Interp {
    Nearest,
    NearestExact,
    Linear,
    LinearAa,
    Bicubic,
    BicubicAa,
}

/// The scale each spatial axis was given (None: from the sizes).
fn axis_scales(c: &Ctx, nsp: usize) -> Result<Vec<Option<f64>>, String> {
    if c.has("scale_factors") {
        let v: Vec<Option<f64>> = match c.arg("scale_factors")? {
            Value::List(v) => v.iter().map(Value::as_f64).collect(),
            _ => return Err("scale_factors must be a list of floats".into()),
        };
        if v.len() != nsp || v.iter().any(Option::is_none) {
            return Err(format!("scale_factors must have {nsp} floats"));
        }
        return Ok(v);
    }
    let names: &[&str] = match nsp {
        1 => &["scales"],
        2 => &["scales_h", "scales_w"],
        _ => &["scales_d", "scales_h", "scales_w"],
    };
    names
        .iter()
        .map(|n| {
            if c.has(n) {
                c.float(n).map(Some)
            } else {
                Ok(None)
            }
        })
        .collect()
}

/// PyTorch's [o, n] weights (linear kinds) of one axis, or its source index of each output
/// (nearest kinds, as a [o] INT64 tensor): its own kernel run on the identity, so every rounding
/// rule (scale given or not, align_corners, antialias support) is PyTorch's.
fn axis_weights(
    kind: Interp,
    n: i64,
    o: i64,
    align: bool,
    scale: Option<f64>,
) -> Result<tch::Tensor, String> {
    let eye = tch::Tensor::eye(n, (tch::Kind::Float, tch::Device::Cpu));
    let e3 = eye.reshape([1, n, n]);
    // 2-D kernels resample the W axis of [1, n, 1, n] (H stays 1: the antialiased kernels
    // misbehave with W = 1).
    let e4 = eye.reshape([1, n, 1, n]);
    let err = |e: tch::TchError| format!("computing the resize weights: {e}");
    let w = match kind {
        Interp::Nearest => e3.f_upsample_nearest1d([o], scale).map_err(err)?,
        Interp::NearestExact => e3
            .f_internal_upsample_nearest_exact1d([o], scale)
            .map_err(err)?,
        Interp::Linear => e3.f_upsample_linear1d([o], align, scale).map_err(err)?,
        Interp::LinearAa => e4
            .f_internal_upsample_bilinear2d_aa([1, o], align, None, scale)
            .map_err(err)?,
        Interp::Bicubic => e4
            .f_upsample_bicubic2d([1, o], align, None, scale)
            .map_err(err)?,
        Interp::BicubicAa => e4
            .f_internal_upsample_bicubic2d_aa([1, o], align, None, scale)
            .map_err(err)?,
    };
    // [1, n (source), (1,) o (output)] → [o, n].
    let w = w.reshape([n, o]).tr().contiguous();
    Ok(match kind {
        Interp::Nearest | Interp::NearestExact => w.argmax(1, false),
        _ => w,
    })
}

/// Resizes by PyTorch's own indices (GatherV2 per axis) or weights (a matmul per axis): any
/// scale factor, rounding and antialias exactly as PyTorch, for static spatial dims.
fn by_weights(c: &mut Ctx, kind: Interp, nsp: usize) -> RuleResult {
    let res = c.out_dtype(0)?;
    if !res.is_float() {
        return Err(format!(
            "{} of {} values; fix: cast to float first",
            c.node.op_name(),
            res.name()
        ));
    }
    let name = xname(c);
    let ins = c.in_dims(name)?;
    let rank = ins.len();
    if rank != nsp + 2 && !(rank == nsp + 1 && nsp < 3) {
        return Err(format!("expects a {}-D input, got rank {rank}", nsp + 2));
    }
    let outs = c.out_desc_shape(0)?;
    let isp: Option<Vec<i64>> = ins[rank - nsp..].iter().copied().collect();
    let osp = outs[rank - nsp..].to_vec();
    let Some(isp) = isp.filter(|_| osp.iter().all(|&d| d >= 0)) else {
        return Err(format!(
            "{} over dynamic spatial dims: its weights are computed for static sizes; fix: pin the spatial dims (--dynamic-dims) or export without --dynamic",
            c.node.op_name()
        ));
    };
    let align = c.has("align_corners") && c.bool("align_corners")?;
    let scales = axis_scales(c, nsp)?;
    let w = if res == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let x = c.tensor_as(name, w)?;
    let mut mats = vec![];
    for i in 0..nsp {
        mats.push(axis_weights(kind, isp[i], osp[i], align, scales[i])?);
    }
    let y = if matches!(kind, Interp::Nearest | Interp::NearestExact) {
        let mut y = x;
        for (i, idx) in mats.iter().enumerate() {
            let ip = c.b.constant(idx, "source index of each output")?;
            let axis = c.scalar_i64((rank - nsp + i) as i64)?;
            y = c.op1(
                "GatherV2",
                vec![In::P(y), In::P(ip), In::P(axis)],
                vec![],
                w,
            )?;
        }
        y
    } else {
        separable(c, x, rank, &mats, w)?
    };
    back(c, y, res)
}
