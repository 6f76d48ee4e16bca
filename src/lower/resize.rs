//! Nearest and bilinear upsampling (`ResizeNearestNeighborV2`, `ResizeBilinearV2`).
use super::spatial::{back, squeeze, unsqueeze, work_dtype, xname};
use super::sym::Dim;
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::Value;

/// What `dyn_resample` emits, for the rules' descriptions.
macro_rules! dynamic_resample {
    () => {
        "per spatial axis, PyTorch's source indices in the graph: Range(0, out) ⇑FLOAT · scale (1/scale_factor, in/out or align_corners' (in-1)/(out-1) by RealDiv) → Floor → ⇑INT64 → Minimum(in-1) (2-D nearest: SelectV2 for nearest_idx's out = in and out = 2·in cases); linear: two GatherV2 (i0, i1 = i0 + Less(i0, in-1)) weighted by Sub/Mul/Add; out = output_size or ⇑INT64 Floor(in ⇑DOUBLE · scale)"
    };
}

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
        concat!("ResizeNearestNeighborV2(x, K32([oh,ow]); align_corners=false, half_pixel_centers=false); dynamic sizes: Cast(Pack(output_size | Gather(Shape(x))·integer scale), INT32); other scales on dynamic sizes: ", dynamic_resample!(), "; bf16 runs in FLOAT (Cast in/out): the prototype lacks it"),
    );
    r.add(
        "aten::_upsample_nearest_exact2d",
        |c| resize(c, Resize::NearestExact, 2),
        "ResizeNearestNeighborV2(x, K32([oh,ow]); align_corners=false, half_pixel_centers=true); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    r.add(
        "aten::upsample_bilinear2d",
        |c| resize(c, Resize::Bilinear, 2),
        concat!("ResizeBilinearV2(x, K32([oh,ow]); align_corners, half_pixel_centers=!align_corners, dtype=FLOAT) → [Cast out] (y is FLOAT); dynamic sizes: Cast(Pack(output_size | Gather(Shape(x))·integer scale), INT32); other scales on dynamic sizes: ", dynamic_resample!(), "; bf16 runs in FLOAT (Cast in/out): the prototype lacks it"),
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
    let dynamic = ins[2..].iter().chain(&os[2..]).any(|&d| d < 0);
    let kind = match mode {
        Resize::Nearest => Interp::Nearest,
        Resize::NearestExact => Interp::NearestExact,
        Resize::Bilinear => Interp::Linear,
    };
    // GE maps output to input pixels with in/out; ATen uses 1/scale_factor when one is given.
    // They agree when out = in * scale exactly: with dynamic sizes, only integer scales do;
    // other scales take PyTorch's own indices, computed in the graph.
    if let Some(s) = &scales {
        let integer = s.len() == nsp && s.iter().all(|f| f.fract() == 0.0);
        if dynamic && !integer {
            return dyn_resample(c, kind, nsp);
        }
        let (kin, kout) = (
            c.tensor_value(name)?.tensor.size(),
            c.outputs[0].tensors()[0].tensor.size(),
        );
        let exact = s.len() == nsp
            && s.iter()
                .zip(kin[2..].iter().zip(&kout[2..]))
                .all(|(f, (i, o))| (*f * *i as f64 - *o as f64).abs() < 1e-9);
        if !exact && !align {
            // GE's resize cannot take PyTorch's scale: PyTorch's own indices, in the graph.
            return by_weights(c, kind, nsp);
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
            // Neither given nor an integer scale: PyTorch's floor(in · scale) and its indices.
            return dyn_resample(c, kind, nsp);
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

const WEIGHTS: &str = concat!("per spatial axis: BatchMatMulV2(x, K(Wᵀ)) → Transpose, W = PyTorch's own [out, in] interpolation weights for that axis (its kernel run on an identity at export: any scale factor, align_corners, antialias); dynamic spatial dims: linear ", dynamic_resample!(), ", antialiased and bicubic pin them");
const INDICES: &str = concat!("per spatial axis: GatherV2(x, K64(PyTorch's own source index of each output), axis) (its kernel run on an identity at export: any scale factor); dynamic spatial dims: ", dynamic_resample!());

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
    nsp: usize,
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
        // The 2-D kernel's nearest_idx copies when out == in and halves when out == 2·in; the
        // 1-D and 3-D kernels do not.
        Interp::Nearest if nsp == 2 => e4.f_upsample_nearest2d([1, o], None, scale).map_err(err)?,
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
    let isp = match isp.filter(|_| osp.iter().all(|&d| d >= 0)) {
        Some(isp) => isp,
        // Dynamic spatial dims: nearest and linear indices are computed in the graph.
        None if matches!(
            kind,
            Interp::Nearest | Interp::NearestExact | Interp::Linear
        ) =>
        {
            return dyn_resample(c, kind, nsp);
        }
        None => {
            // Antialiased and bicubic weights are computed for fixed sizes: the spatial dims are
            // taken as constants (pinned, with a note).
            c.bake(format!(
                "{} computes its weights for the spatial sizes {:?} -> {:?}",
                c.node.op_name(),
                &c.tensor_value(name)?.tensor.size()[rank - nsp..],
                &c.outputs[0].tensors()[0].tensor.size()[rank - nsp..]
            ));
            let isz = c.tensor_value(name)?.tensor.size();
            let osz = c.outputs[0].tensors()[0].tensor.size();
            return by_sizes(
                c,
                kind,
                nsp,
                isz[rank - nsp..].to_vec(),
                osz[rank - nsp..].to_vec(),
            );
        }
    };
    by_sizes(c, kind, nsp, isp, osp)
}

/// `by_weights` for static spatial sizes `isp` -> `osp`.
fn by_sizes(c: &mut Ctx, kind: Interp, nsp: usize, isp: Vec<i64>, osp: Vec<i64>) -> RuleResult {
    let res = c.out_dtype(0)?;
    let name = xname(c);
    let rank = c.rank(name)?;
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
        mats.push(axis_weights(kind, nsp, isp[i], osp[i], align, scales[i])?);
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

/// Resamples over dynamic spatial dims (nearest, nearest-exact, linear; any scale factor,
/// align_corners): per spatial axis, PyTorch's source index of each output position (and, for
/// linear, its two neighbours' weights) computed in the graph from the sizes, as its CPU
/// kernels compute them (UpSample.h: the same float rounding, the same special cases), then a
/// GatherV2 along the axis. A dynamic output size is `output_size` when given, else
/// `floor(in · scale)` (in double, as PyTorch).
fn dyn_resample(c: &mut Ctx, kind: Interp, nsp: usize) -> RuleResult {
    let res = c.out_dtype(0)?;
    let linear = kind == Interp::Linear;
    if linear && !res.is_float() {
        return Err(format!(
            "{} of {} values; fix: cast to float first",
            c.node.op_name(),
            res.name()
        ));
    }
    let name = xname(c);
    let rank = c.rank(name)?;
    if rank < nsp + 1 {
        return Err(format!("expects a {}-D input, got rank {rank}", nsp + 2));
    }
    let align = linear && c.has("align_corners") && c.bool("align_corners")?;
    let scales = axis_scales(c, nsp)?;
    let ins = c.sym_dims(name)?;
    let odesc = c.out_desc_shape(0)?;
    let given: Option<Vec<Value>> = if c.has("output_size") {
        match c.arg("output_size")? {
            Value::List(v) | Value::Tuple(v) => Some(v.clone()),
            _ => return Err("output_size must be a list of ints".into()),
        }
    } else {
        None
    };
    // Linear weights in the kernel's opmath type (double for double, else float).
    let w = if res == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let dt = if linear { w } else { res };
    let mut y = c.tensor_as(name, dt)?;
    for (i, &scale) in scales.iter().enumerate().take(nsp) {
        let axis = rank - nsp + i;
        let n = ins[axis];
        let o = match (odesc[axis], &given, scale) {
            (k, _, _) if k >= 0 => Dim::K(k),
            (_, Some(g), _) => {
                let v = g.get(i).ok_or("output_size is too short")?;
                Dim::P(c.int_port(v)?)
            }
            (_, None, Some(s)) => {
                // floor(in · scale) in double, as PyTorch's compute_output_size.
                let np = c.dim_scalar(n)?;
                let nf = c.cast(np, DType::F64)?;
                let k = c.scalar(s, DType::F64)?;
                let p = c.bin("Mul", nf, k, DType::F64)?;
                let p = c.un("Floor", p, DType::F64)?;
                Dim::P(c.cast(p, DType::I64)?)
            }
            (_, None, None) => {
                return Err(format!(
                    "{} without output_size or scale factors",
                    c.node.op_name()
                ))
            }
        };
        let axis_p = c.scalar_i64(axis as i64)?;
        let (n, o) = (c.dim_scalar(n)?, c.dim_scalar(o)?);
        let (i0, i1, l1) = source_index(c, kind, n, o, align, scale, w, nsp == 2)?;
        let x0 = c.op1(
            "GatherV2",
            vec![In::P(y), In::P(i0), In::P(axis_p)],
            vec![],
            dt,
        )?;
        y = match (i1, l1) {
            (Some(i1), Some(l1)) => {
                let x1 = c.op1(
                    "GatherV2",
                    vec![In::P(y), In::P(i1), In::P(axis_p)],
                    vec![],
                    dt,
                )?;
                // The weights along the axis: [o, 1, ..] against the later dims.
                let mut shape = vec![-1];
                shape.extend(vec![1; rank - 1 - axis]);
                let l1 = c.reshape_const(l1, &shape, w)?;
                let one = c.scalar(1.0, w)?;
                let l0 = c.bin("Sub", one, l1, w)?;
                let a = c.bin("Mul", x0, l0, w)?;
                let b = c.bin("Mul", x1, l1, w)?;
                c.bin("Add", a, b, w)?
            }
            _ => x0,
        };
    }
    back(c, y, res)
}

/// PyTorch's source positions along one axis of input size `n` and output size `o` (0-D INT64
/// ports): the index of each output's source (nearest kinds), or (linear) its two neighbours
/// and the second one's weight, in dtype `w`. `nearest_special`: nearest_idx's out == in and
/// out == 2·in cases (PyTorch's 2-D nearest kernel).
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn source_index(
    c: &mut Ctx,
    kind: Interp,
    n: crate::value::Port,
    o: crate::value::Port,
    align: bool,
    scale: Option<f64>,
    w: DType,
    nearest_special: bool,
) -> Result<
    (
        crate::value::Port,
        Option<crate::value::Port>,
        Option<crate::value::Port>,
    ),
    String,
> {
    use crate::value::Port;
    let f = if kind == Interp::Linear {
        w
    } else {
        DType::F32
    };
    let (zero, one) = (c.scalar_i64(0)?, c.scalar_i64(1)?);
    let dst = c.op1(
        "Range",
        vec![In::P(zero), In::P(o), In::P(one)],
        vec![],
        DType::I64,
    )?;
    let dst_f = c.cast(dst, f)?;
    let last = c.bin("Sub", n, one, DType::I64)?;
    // compute_scales_value / area_pixel_compute_scale: 1/scale (a double rounded to the
    // type) when a scale is given, else in/out; align_corners: (in-1)/(out-1), 0 for out ≤ 1.
    let ratio = |c: &mut Ctx, a: Port, b: Port| -> Result<Port, String> {
        let a = c.cast(a, f)?;
        let b = c.cast(b, f)?;
        c.bin("RealDiv", a, b, f)
    };
    let sc = if align {
        let om1 = c.bin("Sub", o, one, DType::I64)?;
        let den = c.bin("Maximum", om1, one, DType::I64)?;
        ratio(c, last, den)?
    } else {
        match scale.filter(|s| *s > 0.0) {
            Some(s) => c.scalar(1.0 / s, f)?,
            None => ratio(c, n, o)?,
        }
    };
    let to_index = |c: &mut Ctx, p: Port| -> Result<Port, String> {
        let p = c.un("Floor", p, f)?;
        let p = c.cast(p, DType::I64)?;
        c.bin("Minimum", p, last, DType::I64)
    };
    let same = c.bin("Equal", o, n, DType::Bool)?;
    match kind {
        Interp::Nearest => {
            // floor(i · scale); the 2-D kernel's nearest_idx also copies when out == in and
            // halves when out == 2·in (the 1-D and 3-D kernels do not).
            let p = c.bin("Mul", dst_f, sc, f)?;
            let idx = to_index(c, p)?;
            if !nearest_special {
                return Ok((idx, None, None));
            }
            let two = c.scalar_i64(2)?;
            let half = c.bin("FloorDiv", dst, two, DType::I64)?;
            let n2 = c.bin("Mul", n, two, DType::I64)?;
            let double = c.bin("Equal", o, n2, DType::Bool)?;
            let idx = super::compare::select(c, double, half, idx, DType::I64)?;
            let idx = super::compare::select(c, same, dst, idx, DType::I64)?;
            Ok((idx, None, None))
        }
        Interp::NearestExact => {
            // floorf((i + 0.5) · scale): the product in double, rounded to float, floored.
            let d = c.cast(dst, DType::F64)?;
            let h = c.scalar(0.5, DType::F64)?;
            let d = c.bin("Add", d, h, DType::F64)?;
            let s64 = c.cast(sc, DType::F64)?;
            let p = c.bin("Mul", d, s64, DType::F64)?;
            let p = c.cast(p, DType::F32)?;
            Ok((to_index(c, p)?, None, None))
        }
        Interp::Linear => {
            // area_pixel_compute_source_index, guard_index_and_lambda; out == in copies.
            let src = if align {
                c.bin("Mul", sc, dst_f, f)?
            } else {
                // scale · (i + 0.5) - 0.5, which PyTorch's kernels compute with one rounding
                // (a fused multiply-add): in double, then rounded (a product of two floats and
                // that difference are exact in double).
                let h = c.scalar(0.5, f)?;
                let d = c.bin("Add", dst_f, h, f)?;
                let s = if f == DType::F64 {
                    let s = c.bin("Mul", sc, d, f)?;
                    c.bin("Sub", s, h, f)?
                } else {
                    let (sc64, d64) = (c.cast(sc, DType::F64)?, c.cast(d, DType::F64)?);
                    let s = c.bin("Mul", sc64, d64, DType::F64)?;
                    let h64 = c.scalar(0.5, DType::F64)?;
                    let s = c.bin("Sub", s, h64, DType::F64)?;
                    c.cast(s, f)?
                };
                let z = c.scalar(0.0, f)?;
                c.bin("Maximum", s, z, f)?
            };
            let i0 = to_index(c, src)?;
            let i0f = c.cast(i0, f)?;
            let l1 = c.bin("Sub", src, i0f, f)?;
            let (z, u) = (c.scalar(0.0, f)?, c.scalar(1.0, f)?);
            let l1 = c.bin("Maximum", l1, z, f)?;
            let l1 = c.bin("Minimum", l1, u, f)?;
            let more = c.bin("Less", i0, last, DType::Bool)?;
            let step = c.cast(more, DType::I64)?;
            let i1 = c.bin("Add", i0, step, DType::I64)?;
            let i0 = super::compare::select(c, same, dst, i0, DType::I64)?;
            let i1 = super::compare::select(c, same, dst, i1, DType::I64)?;
            let l1 = super::compare::select(c, same, z, l1, f)?;
            Ok((i0, Some(i1), Some(l1)))
        }
        _ => Err("internal: dyn_resample of an antialiased or bicubic kind".into()),
    }
}
