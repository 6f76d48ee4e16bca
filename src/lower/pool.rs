//! Max, average and adaptive average pooling (`MaxPoolV3`, `AvgPoolV2`, `AdaptiveAvgPool2d`).
use super::spatial::{back, spatial, squeeze, unsqueeze, work_dtype};
use super::sym::Dim;
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
        "aten::max_pool1d_with_indices",
        |c| max_pool_argmax(c, 1, true),
        "Unsqueeze to [N, C, 1, 1, L] → MaxPool3DWithArgmaxV2(ksize, strides, pads, dilation, ceil_mode, data_format=NCDHW, dtype=INT64) → (y, argmax: the flat position, as PyTorch's indices) → Squeeze",
    );
    r.add(
        "aten::max_pool2d_with_indices",
        |c| max_pool_argmax(c, 2, true),
        "[Unsqueeze 0] → Unsqueeze(axes=[2]) → MaxPool3DWithArgmaxV2(D = 1; ksize, strides, pads, dilation, ceil_mode, data_format=NCDHW, dtype=INT64) → (y, argmax: the flat H×W position) → Squeeze",
    );
    r.add(
        "aten::max_pool3d",
        |c| max_pool_argmax(c, 3, false),
        "[Unsqueeze 0] → MaxPool3DWithArgmaxV2(ksize, strides, pads, dilation, ceil_mode, data_format=NCDHW) output y → [Squeeze 0]",
    );
    r.add(
        "aten::max_pool3d_with_indices",
        |c| max_pool_argmax(c, 3, true),
        "[Unsqueeze 0] → MaxPool3DWithArgmaxV2(ksize, strides, pads, dilation, ceil_mode, data_format=NCDHW, dtype=INT64) → (y, argmax: the flat D×H×W position) → [Squeeze 0]",
    );
    r.add(
        "aten::max_unpool2d",
        |c| max_unpool(c, 2),
        "ScatterElements(Fill([lead.., oH·oW], 0), Reshape(⇑INT64 indices, [lead.., H·W]), Reshape(x, [lead.., H·W]); axis=-1) → Reshape([lead.., oH, oW])",
    );
    r.add(
        "aten::max_unpool3d",
        |c| max_unpool(c, 3),
        "ScatterElements(Fill([lead.., oD·oH·oW], 0), Reshape(⇑INT64 indices, [lead.., D·H·W]), Reshape(x, [lead.., D·H·W]); axis=-1) → Reshape([lead.., oD, oH, oW])",
    );
    r.add(
        "aten::max_pool2d_with_indices_backward",
        max_pool2d_backward,
        "ScatterElements(Fill([N, C, H·W], 0), Reshape(⇑INT64 indices, [N, C, h·w]), Reshape(grad_output, [N, C, h·w]); axis=-1, reduction=add) → Reshape(self's shape)",
    );
    r.add(
        "aten::avg_pool3d",
        avg_pool3d,
        "[Unsqueeze 0] → AvgPool3D(ksize=[kD,kH,kW], strides, pads=[pD,pD,pH,pH,pW,pW], ceil_mode, count_include_pad, divisor_override, data_format=NCDHW) → [Squeeze 0]",
    );
    r.add(
        "aten::adaptive_avg_pool3d",
        adaptive_avg_pool3d,
        "output 1x1x1: ReduceMean(x, K64([-3,-2,-1]); keep_dims); windows of one size and stride: [Unsqueeze 0] → AvgPool3D(ksize, strides; data_format=NCDHW); else per spatial axis a BatchMatMulV2 with a constant averaging matrix (Transpose between)",
    );
    r.add(
        "aten::adaptive_max_pool1d",
        adaptive_max_pool1d,
        "[Unsqueeze 0] → Unsqueeze(axes=[2]) → AdaptiveMaxPool2d([1, oL]) → (values, argmax INT64) → Squeeze",
    );
    r.add(
        "aten::adaptive_max_pool3d",
        adaptive_max_pool3d,
        "windows of one size and stride per axis (PyTorch's adaptive windows when the sizes divide, or equal): [Unsqueeze 0] → MaxPool3DWithArgmaxV2(ksize, strides; dtype=INT64) → (values, argmax: the flat D×H×W position) → [Squeeze 0]; other sizes refused",
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
    let dilation = spatial(c, "dilation", nsp, None)?;
    if dilation.iter().any(|&d| d != 1) {
        // MaxPoolV3 has no dilation; the 3-D pool with argmax has.
        return max_pool_argmax(c, nsp, false);
    }
    let (ksize, strides, pads) = pool_params(c, nsp)?;
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

/// The last `nsp` dims of the output (an adaptive pool's `output_size`); one computed from a
/// dynamic dim is taken as a constant (the dims it comes from are pinned, with a note): the GE
/// pools take it as an attribute.
fn out_size_pinned(c: &Ctx, nsp: usize) -> Result<Vec<i64>, String> {
    let oshape = c.out_desc_shape(0)?;
    let size = oshape[oshape.len().saturating_sub(nsp)..].to_vec();
    if !size.iter().any(|&d| d < 0) {
        return Ok(size);
    }
    let k = c.outputs[0].tensors()[0].tensor.size();
    let size = k[k.len().saturating_sub(nsp)..].to_vec();
    c.bake(format!(
        "{} takes its output size as the constant {size:?}",
        c.node.op_name()
    ));
    Ok(size)
}

fn adaptive_avg_pool(c: &mut Ctx, nsp: usize) -> RuleResult {
    // The output's spatial size is the op's own argument (`output_size`): static even when batch
    // is dynamic. One computed from a dynamic dim is taken as a constant (that dim is pinned,
    // with a note): AdaptiveAvgPool2d takes it as an attribute.
    let mut size = out_size_pinned(c, nsp)?;
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
    let size = out_size_pinned(c, 2)?;
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

/// Carries an [N, C, spatial..] (or unbatched [C, spatial..]) input to NCDHW: a batch dim, then
/// unit dims in front of the `nsp` spatial dims. Returns the 5-D port and whether it was
/// unbatched.
fn to_5d(c: &mut Ctx, x: Port, rank: usize, nsp: usize, dt: DType) -> Result<(Port, bool), String> {
    if rank != nsp + 1 && rank != nsp + 2 {
        return Err(format!(
            "expects a {}-D or {}-D input, got rank {rank}",
            nsp + 1,
            nsp + 2
        ));
    }
    let unbatched = rank == nsp + 1;
    let mut x = x;
    if unbatched {
        x = unsqueeze(c, x, vec![0], dt)?;
    }
    if nsp < 3 {
        x = unsqueeze(c, x, (2..(5 - nsp as i64)).collect(), dt)?;
    }
    Ok((x, unbatched))
}

fn from_5d(c: &mut Ctx, y: Port, unbatched: bool, nsp: usize, dt: DType) -> Result<Port, String> {
    let mut y = y;
    if nsp < 3 {
        y = squeeze(c, y, (2..(5 - nsp as i64)).collect(), dt)?;
    }
    if unbatched {
        y = squeeze(c, y, vec![0], dt)?;
    }
    Ok(y)
}

/// `v` (one entry per spatial dim) as [d, h, w], padded in front with `fill`.
fn three(v: &[i64], fill: i64) -> Vec<i64> {
    let mut out = vec![fill; 3 - v.len()];
    out.extend_from_slice(v);
    out
}

/// `MaxPool3DWithArgmaxV2` on an NCDHW view: max pooling of 1 to 3 spatial dims with any
/// dilation, and PyTorch's indices (INT64, the flat position in the input's spatial volume:
/// unit leading dims do not change it).
/// A max pool's window over 1 to 3 spatial dims: kernel, stride, padding, dilation, ceil_mode.
struct Window<'w> {
    k: &'w [i64],
    s: &'w [i64],
    p: &'w [i64],
    d: &'w [i64],
    ceil: bool,
}

fn max_pool3d_argmax(c: &mut Ctx, name: &str, nsp: usize, w: Window) -> RuleResult {
    let Window { k, s, p, d, ceil } = w;
    let res = c.out_dtype(0)?;
    if !res.is_float() {
        return Err(format!(
            "max pooling with indices or dilation of {} values (MaxPool3DWithArgmaxV2 takes floats); fix: cast to float first",
            res.name()
        ));
    }
    let out = work_dtype("MaxPool3DWithArgmaxV2", res);
    let rank = c.rank(name)?;
    let x = c.tensor_as(name, out)?;
    let (x, unbatched) = to_5d(c, x, rank, nsp, out)?;
    let ys = c.op(
        "MaxPool3DWithArgmaxV2",
        vec![In::P(x)],
        vec![
            ("ksize", attr::list_int(three(k, 1))),
            ("strides", attr::list_int(three(s, 1))),
            ("pads", attr::list_int(three(p, 0))),
            ("dilation", attr::list_int(three(d, 1))),
            ("ceil_mode", attr::boolean(ceil)),
            ("data_format", attr::string("NCDHW")),
            ("dtype", attr::int(DType::I64.ge_cpp())),
        ],
        &[Some(out), Some(DType::I64)],
    )?;
    let y = from_5d(c, ys[0], unbatched, nsp, out)?;
    let i = from_5d(c, ys[1], unbatched, nsp, DType::I64)?;
    Ok(vec![c.cast(y, res)?, i])
}

fn max_pool_argmax(c: &mut Ctx, nsp: usize, with_indices: bool) -> RuleResult {
    let k = spatial(c, "kernel_size", nsp, None)?;
    let s = spatial(c, "stride", nsp, Some(&k))?;
    let p = spatial(c, "padding", nsp, None)?;
    let d = spatial(c, "dilation", nsp, None)?;
    let ceil = c.bool("ceil_mode")?;
    let w = Window {
        k: &k,
        s: &s,
        p: &p,
        d: &d,
        ceil,
    };
    let mut ys = max_pool3d_argmax(c, "self", nsp, w)?;
    if !with_indices {
        ys.truncate(1);
    }
    Ok(ys)
}

/// Scatters `src` (its spatial dims, the last `nsp`, flattened) into zeros of `nsp` spatial dims
/// `size` at the flat positions `index`: max_unpool, and the max pool's gradient (`add`).
fn unpool_scatter(
    c: &mut Ctx,
    src: &str,
    index: &str,
    nsp: usize,
    size: &[i64],
    reduction: &str,
) -> Result<Port, String> {
    let out = c.out_dtype(0)?;
    let dims = c.sym_dims(src)?;
    if dims.len() < nsp {
        return Err(format!("expects at least {nsp} dims, got {}", dims.len()));
    }
    let lead = &dims[..dims.len() - nsp];
    let mut flat: Vec<Dim> = lead.to_vec();
    flat.push(Dim::K(-1));
    let x = c.tensor_as(src, out)?;
    let x = c.reshape_dims(x, &flat, out)?;
    let idx = c.tensor_as(index, DType::I64)?;
    let idx = c.reshape_dims(idx, &flat, DType::I64)?;
    let mut zdims: Vec<Dim> = lead.to_vec();
    zdims.push(Dim::K(size.iter().product()));
    let zshape = c.dims_port(&zdims)?;
    let zero = c.scalar(0.0, out)?;
    let z = c.op1("Fill", vec![In::P(zshape), In::P(zero)], vec![], out)?;
    let y = c.op1(
        "ScatterElements",
        vec![In::P(z), In::P(idx), In::P(x)],
        vec![
            ("axis", attr::int(lead.len() as i64)),
            ("reduction", attr::string(reduction)),
        ],
        out,
    )?;
    let mut odims: Vec<Dim> = lead.to_vec();
    odims.extend(size.iter().map(|&n| Dim::K(n)));
    c.reshape_dims(y, &odims, out)
}

fn max_unpool(c: &mut Ctx, nsp: usize) -> RuleResult {
    let size = c.ints("output_size")?;
    if size.len() != nsp {
        return Err(format!("output_size {size:?} must have {nsp} entries"));
    }
    let rank = c.rank("self")?;
    if rank != nsp + 1 && rank != nsp + 2 {
        return Err(format!(
            "expects a {}-D or {}-D input, got rank {rank}",
            nsp + 1,
            nsp + 2
        ));
    }
    Ok(vec![unpool_scatter(
        c, "self", "indices", nsp, &size, "none",
    )?])
}

fn max_pool2d_backward(c: &mut Ctx) -> RuleResult {
    let dims = c.in_dims("self")?;
    if dims.len() < 3 {
        return Err(format!(
            "expects a 3-D or 4-D input, got rank {}",
            dims.len()
        ));
    }
    let size = c.in_dims_pinned(
        "self",
        dims.len() - 2,
        "the gradient's flat positions need the spatial sizes",
    )?;
    Ok(vec![unpool_scatter(
        c,
        "grad_output",
        "indices",
        2,
        &size,
        "add",
    )?])
}

fn avg_pool3d(c: &mut Ctx) -> RuleResult {
    let k = spatial(c, "kernel_size", 3, None)?;
    let s = spatial(c, "stride", 3, Some(&k))?;
    let p = spatial(c, "padding", 3, None)?;
    let ceil = c.bool("ceil_mode")?;
    let include_pad = c.bool("count_include_pad")?;
    let divisor = if c.has("divisor_override") {
        c.int("divisor_override")?
    } else {
        0
    };
    avg_pool3d_op(c, &k, &s, &p, ceil, include_pad, divisor)
}

fn avg_pool3d_op(
    c: &mut Ctx,
    k: &[i64],
    s: &[i64],
    p: &[i64],
    ceil: bool,
    include_pad: bool,
    divisor: i64,
) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype("AvgPool3D", res);
    let rank = c.rank("self")?;
    let x = c.tensor_as("self", out)?;
    let (x, unbatched) = to_5d(c, x, rank, 3, out)?;
    let y = c.op1(
        "AvgPool3D",
        vec![In::P(x)],
        vec![
            ("ksize", attr::list_int(k.to_vec())),
            ("strides", attr::list_int(s.to_vec())),
            (
                "pads",
                attr::list_int(vec![p[0], p[0], p[1], p[1], p[2], p[2]]),
            ),
            ("ceil_mode", attr::boolean(ceil)),
            ("count_include_pad", attr::boolean(include_pad)),
            ("divisor_override", attr::int(divisor)),
            ("data_format", attr::string("NCDHW")),
        ],
        out,
    )?;
    let y = from_5d(c, y, unbatched, 3, out)?;
    back(c, y, res)
}

/// PyTorch's adaptive pooling window of output `i` over an axis of `n` → `o`:
/// [floor(i·n/o), ceil((i+1)·n/o)).
fn adaptive_window(i: i64, n: i64, o: i64) -> (i64, i64) {
    ((i * n) / o, ((i + 1) * n + o - 1) / o)
}

/// (kernel, stride) when every adaptive window of `n` → `o` has one size and they start at a
/// fixed stride (so a plain pool computes them).
fn regular_windows(n: i64, o: i64) -> Option<(i64, i64)> {
    if o <= 0 {
        return None;
    }
    let (s0, e0) = adaptive_window(0, n, o);
    let k = e0 - s0;
    let stride = if o > 1 {
        adaptive_window(1, n, o).0 - s0
    } else {
        1
    };
    (0..o)
        .all(|i| {
            let (s, e) = adaptive_window(i, n, o);
            e - s == k && s == i * stride
        })
        .then_some((k, stride.max(1)))
}

/// The [o, n] matrix that averages each adaptive window of an axis.
fn averaging_matrix(n: i64, o: i64) -> tch::Tensor {
    let mut m = vec![0f32; (o * n) as usize];
    for i in 0..o {
        let (s, e) = adaptive_window(i, n, o);
        for j in s..e {
            m[(i * n + j) as usize] = 1.0 / (e - s) as f32;
        }
    }
    tch::Tensor::from_slice(&m).reshape([o, n])
}

fn adaptive_avg_pool3d(c: &mut Ctx) -> RuleResult {
    let size = out_size_pinned(c, 3)?;
    let res = c.out_dtype(0)?;
    if size.iter().all(|&d| d == 1) {
        let x = c.tensor_as("self", res)?;
        let axes = c.const_i64(&[-3, -2, -1])?;
        return Ok(vec![c.op1(
            "ReduceMean",
            vec![In::P(x), In::P(axes)],
            vec![("keep_dims", attr::boolean(true))],
            res,
        )?]);
    }
    let dims = c.in_dims("self")?;
    let isp = c.in_dims_pinned(
        "self",
        dims.len().saturating_sub(3),
        "its windows depend on the spatial sizes",
    )?;
    let regular: Option<Vec<(i64, i64)>> = isp
        .iter()
        .zip(&size)
        .map(|(&n, &o)| regular_windows(n, o))
        .collect();
    if let Some(ks) = regular {
        let k: Vec<i64> = ks.iter().map(|w| w.0).collect();
        let s: Vec<i64> = ks.iter().map(|w| w.1).collect();
        return avg_pool3d_op(c, &k, &s, &[0, 0, 0], false, true, 0);
    }
    let mats: Vec<tch::Tensor> = isp
        .iter()
        .zip(&size)
        .map(|(&n, &o)| averaging_matrix(n, o))
        .collect();
    let x = c.tensor_as("self", res)?;
    Ok(vec![super::resize::separable(
        c,
        x,
        dims.len(),
        &mats,
        res,
    )?])
}

fn adaptive_max_pool1d(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    if !res.is_float() {
        return Err(format!(
            "adaptive_max_pool1d of {} values (AdaptiveMaxPool2d takes floats); fix: cast to float first",
            res.name()
        ));
    }
    let out = work_dtype("AdaptiveMaxPool2d", res);
    let rank = c.rank("self")?;
    if rank != 2 && rank != 3 {
        return Err(format!("expects a 2-D or 3-D input, got rank {rank}"));
    }
    let ol = out_size_pinned(c, 1)?[0];
    let mut x = c.tensor_as("self", out)?;
    if rank == 2 {
        x = unsqueeze(c, x, vec![0], out)?;
    }
    x = unsqueeze(c, x, vec![2], out)?;
    let ys = c.op(
        "AdaptiveMaxPool2d",
        vec![In::P(x)],
        vec![("output_size", attr::list_int(vec![1, ol]))],
        &[Some(out), Some(DType::I64)],
    )?;
    let axes = if rank == 2 { vec![0, 2] } else { vec![2] };
    let y = squeeze(c, ys[0], axes.clone(), out)?;
    let i = squeeze(c, ys[1], axes, DType::I64)?;
    Ok(vec![c.cast(y, res)?, i])
}

fn adaptive_max_pool3d(c: &mut Ctx) -> RuleResult {
    let size = out_size_pinned(c, 3)?;
    let dims = c.in_dims("self")?;
    let isp = c.in_dims_pinned(
        "self",
        dims.len().saturating_sub(3),
        "its windows depend on the spatial sizes",
    )?;
    let regular: Option<Vec<(i64, i64)>> = isp
        .iter()
        .zip(&size)
        .map(|(&n, &o)| regular_windows(n, o))
        .collect();
    let Some(ks) = regular else {
        return Err(format!(
            "adaptive_max_pool3d from {isp:?} to {size:?}: its windows differ in size, which no GE max pool expresses; fix: use sizes that divide (or equal) the input's"
        ));
    };
    let k: Vec<i64> = ks.iter().map(|w| w.0).collect();
    let s: Vec<i64> = ks.iter().map(|w| w.1).collect();
    let w = Window {
        k: &k,
        s: &s,
        p: &[0, 0, 0],
        d: &[1, 1, 1],
        ceil: false,
    };
    max_pool3d_argmax(c, "self", 3, w)
}
