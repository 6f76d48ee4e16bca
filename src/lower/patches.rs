//! Sliding-window blocks: `F.unfold` (aten::im2col) and `F.fold` (aten::col2im), NCHW.
use super::spatial::{input_dtype, spatial, squeeze, unsqueeze, work_dtype};
use super::sym::Dim;
use super::{Ctx, RuleResult, Rules};
use crate::ge::{attr, In};

pub fn register(r: &mut Rules) {
    r.add(
        "aten::im2col",
        im2col,
        "[Unsqueeze unbatched] → Im2col(x; ksizes, strides, dilations, padding_mode=\"CALCULATED\", pads=[pH, pH, pW, pW]) → [Squeeze] (output [N, C·kH·kW, L])",
    );
    r.add(
        "aten::col2im",
        col2im,
        "[Unsqueeze unbatched] → Reshape([N, C, kH·kW, L]) → Col2im(x, output_size=K32([H, W]); kernel_size, dilation, padding, stride) → [Squeeze] (BF16 via FLOAT)",
    );
}

/// The four int-pair arguments shared by both ops.
struct Window {
    kernel: Vec<i64>,
    dilation: Vec<i64>,
    padding: Vec<i64>,
    stride: Vec<i64>,
}

fn window(c: &Ctx) -> Result<Window, String> {
    let w = Window {
        kernel: spatial(c, "kernel_size", 2, None)?,
        dilation: spatial(c, "dilation", 2, Some(&[1]))?,
        padding: spatial(c, "padding", 2, Some(&[0]))?,
        stride: spatial(c, "stride", 2, Some(&[1]))?,
    };
    if w.kernel
        .iter()
        .chain(&w.dilation)
        .chain(&w.stride)
        .any(|&v| v <= 0)
        || w.padding.iter().any(|&v| v < 0)
    {
        return Err(format!(
            "kernel_size {:?}, dilation {:?} and stride {:?} must be positive, padding {:?} non-negative",
            w.kernel, w.dilation, w.stride, w.padding
        ));
    }
    Ok(w)
}

fn im2col(c: &mut Ctx) -> RuleResult {
    let w = window(c)?;
    let out = c.out_dtype(0)?;
    let dt = work_dtype("Im2col", out);
    let rank = c.rank("self")?;
    let mut x = c.tensor_as("self", dt)?;
    if rank == 3 {
        x = unsqueeze(c, x, vec![0], dt)?;
    }
    let (ph, pw) = (w.padding[0], w.padding[1]);
    let y = c.op1(
        "Im2col",
        vec![In::P(x)],
        vec![
            ("ksizes", attr::list_int(w.kernel)),
            ("strides", attr::list_int(w.stride)),
            ("dilations", attr::list_int(w.dilation)),
            ("padding_mode", attr::string("CALCULATED")),
            ("pads", attr::list_int(vec![ph, ph, pw, pw])),
        ],
        dt,
    )?;
    let y = if rank == 3 {
        squeeze(c, y, vec![0], dt)?
    } else {
        y
    };
    Ok(vec![c.cast(y, out)?])
}

fn col2im(c: &mut Ctx) -> RuleResult {
    let w = window(c)?;
    let size = spatial(c, "output_size", 2, None)?;
    let out = c.out_dtype(0)?;
    let dt = input_dtype("Col2im", Some("x"), out);
    if !matches!(dt, crate::dtype::DType::F32 | crate::dtype::DType::F16) {
        return Err(format!(
            "GE's Col2im takes FLOAT and FLOAT16, not {}; fix: fold in float32",
            out.name()
        ));
    }
    // The batch may be dynamic (from Shape); C·k·k and L are fixed by kernel_size and
    // output_size, as PyTorch checks.
    let shape = c.sym_dims("self")?;
    let batched = shape.len() == 3;
    let (n, ckk, l) = match shape[..] {
        [n, Dim::K(ckk), Dim::K(l)] => (n, ckk, l),
        [Dim::K(ckk), Dim::K(l)] => (Dim::K(1), ckk, l),
        _ => {
            return Err(format!(
                "col2im of {:?}: the channel·kernel and block dims must be constant (output_size and kernel_size fix them)",
                super::sym::known(&shape)
            ))
        }
    };
    let kk = w.kernel[0] * w.kernel[1];
    if ckk % kk != 0 {
        return Err(format!(
            "col2im input dim {ckk} is not a multiple of kernel_size {:?}",
            w.kernel
        ));
    }
    let x = c.tensor_as("self", dt)?;
    let x = c.reshape_dims(x, &[n, Dim::K(ckk / kk), Dim::K(kk), Dim::K(l)], dt)?;
    let sz = c.b.constant(
        &tch::Tensor::from_slice(&[size[0] as i32, size[1] as i32]),
        &format!("{size:?}"),
    )?;
    let y = c.op1(
        "Col2im",
        vec![In::P(x), In::P(sz)],
        vec![
            ("kernel_size", attr::list_int(w.kernel)),
            ("dilation", attr::list_int(w.dilation)),
            ("padding", attr::list_int(w.padding)),
            ("stride", attr::list_int(w.stride)),
        ],
        dt,
    )?;
    let y = if batched {
        y
    } else {
        squeeze(c, y, vec![0], dt)?
    };
    Ok(vec![c.cast(y, out)?])
}
