//! `Conv2D`, `Conv2DTranspose` and `Conv3D`.
use super::spatial::{hw_attr, nchw, need_float, rank4, sym_pads, torch_err, R};
use super::{int_values, same_dtype, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("Conv2D", conv2d);
    m.insert("Conv2DTranspose", conv2d_transpose);
    m.insert("Conv3D", conv3d);
    m.insert("Conv3DTranspose", conv3d_transpose);
}

/// The checks the 3-D convolutions share: NCDHW layout, no quantization offsets, 5-D float x and
/// filter of one dtype.
fn ncdhw_operands<'a>(c: &'a KCtx, op: &str) -> Result<(&'a Tensor, &'a Tensor), String> {
    let layout = c.input_layout("x")?;
    if layout != "NCDHW" {
        return Err(format!(
            "layout '{layout}' is not supported by the runner (NCDHW is)"
        ));
    }
    if c.opt("offset_w").is_some() || c.int("offset_x")? != 0 {
        return Err(format!(
            "quantized {op} (offset_w/offset_x) is not supported by the runner"
        ));
    }
    let (x, w) = (c.input("x")?, c.input("filter")?);
    if x.dim() != 5 || w.dim() != 5 {
        return Err(format!(
            "x and filter must be 5-D (NCDHW), got {:?} and {:?}",
            x.size(),
            w.size()
        ));
    }
    same_dtype(x, w)?;
    need_float(x, "x")?;
    Ok((x, w))
}

/// `Conv3D` on NCDHW (its `input_layout_info` or `data_format`): `strides`/`dilations`
/// `[1, 1, d, h, w]`, `pads` `[front, back, top, bottom, left, right]`, `groups`, optional bias.
fn conv3d(c: &KCtx) -> R {
    let (x, w) = ncdhw_operands(c, "Conv3D")?;
    let dhw = |name: &str| -> Result<[i64; 3], String> {
        let v = c.ints(name)?;
        match v.as_slice() {
            [1, 1, d, h, w] => Ok([*d, *h, *w]),
            _ => Err(format!("{name}={v:?}: expected [1, 1, d, h, w] for NCDHW")),
        }
    };
    let (strides, dilations) = (dhw("strides")?, dhw("dilations")?);
    let pads = c.ints("pads")?;
    let [f, b, t, bo, l, r] = pads.as_slice() else {
        return Err(format!("pads {pads:?} must have 6 entries"));
    };
    if pads.iter().any(|&p| p < 0) {
        return Err(format!("negative pads {pads:?}"));
    }
    let (x, pad) = if f == b && t == bo && l == r {
        (x.shallow_clone(), [*f, *t, *l])
    } else {
        (
            x.f_constant_pad_nd([*l, *r, *t, *bo, *f, *b])
                .map_err(torch_err)?,
            [0, 0, 0],
        )
    };
    let y = x
        .f_conv3d(w, None::<Tensor>, strides, pad, dilations, c.int("groups")?)
        .map_err(torch_err)?;
    let Some(bias) = c.opt("bias") else {
        return Ok(vec![y]);
    };
    let ch = y.size()[1];
    if bias.size() != [ch] {
        return Err(format!("bias must be [{ch}], got {:?}", bias.size()));
    }
    same_dtype(&y, bias)?;
    Ok(vec![y + bias.reshape([1, ch, 1, 1, 1])])
}

fn conv2d(c: &KCtx) -> R {
    nchw(c)?;
    if c.opt("offset_w").is_some() || c.int("offset_x")? != 0 {
        return Err("quantized Conv2D (offset_w/offset_x) is not supported by the runner".into());
    }
    let (x, w) = (c.input("x")?, c.input("filter")?);
    rank4(x, "x")?;
    rank4(w, "filter")?;
    same_dtype(x, w)?;
    need_float(x, "x")?;
    let strides = hw_attr(c, "strides")?;
    let dilations = hw_attr(c, "dilations")?;
    let pads = c.ints("pads")?;
    let groups = c.int("groups")?;
    let (x, pad) = match sym_pads(&pads)? {
        Some(p) => (x.shallow_clone(), p),
        // Asymmetric pads (padding="same" with an even kernel): pad explicitly with zeros.
        None => (
            x.f_constant_pad_nd([pads[2], pads[3], pads[0], pads[1]])
                .map_err(torch_err)?,
            [0, 0],
        ),
    };
    let y = x
        .f_conv2d(w, None::<Tensor>, strides, pad, dilations, groups)
        .map_err(torch_err)?;
    Ok(vec![add_bias(c, y)?])
}

/// Adds the optional per-channel `bias` to an NCHW conv result: of y's dtype, or FLOAT (added in
/// FLOAT, the result rounded back).
fn add_bias(c: &KCtx, y: Tensor) -> Result<Tensor, String> {
    let Some(b) = c.opt("bias") else {
        return Ok(y);
    };
    let ch = y.size()[1];
    if b.size() != [ch] {
        return Err(format!("bias must be [{ch}], got {:?}", b.size()));
    }
    let b4 = b.reshape([1, ch, 1, 1]);
    if b.kind() == y.kind() {
        Ok(y + b4)
    } else if b.kind() == Kind::Float {
        Ok((y.to_kind(Kind::Float) + b4).to_kind(y.kind()))
    } else {
        Err(format!(
            "bias is {:?}; it must be {:?} like x, or FLOAT",
            b.kind(),
            y.kind()
        ))
    }
}

/// The transposed convolution (the gradient of Conv2D with respect to its input): `pads` are the
/// pads of that forward conv, `input_size` is the output's shape.
fn conv2d_transpose(c: &KCtx) -> R {
    nchw(c)?;
    if c.opt("offset_w").is_some() || c.int("offset_x")? != 0 {
        return Err("quantized Conv2DTranspose is not supported by the runner".into());
    }
    let (x, w) = (c.input("x")?, c.input("filter")?);
    rank4(x, "x")?;
    rank4(w, "filter")?;
    same_dtype(x, w)?;
    need_float(x, "x")?;
    let size = int_values(c.input("input_size")?)?;
    let strides = hw_attr(c, "strides")?;
    let dilations = hw_attr(c, "dilations")?;
    let out_pad = c.ints("output_padding")?;
    let [0, 0, oh, ow] = out_pad[..] else {
        return Err(format!("output_padding {out_pad:?}: expected [0, 0, h, w]"));
    };
    let pad = sym_pads(&c.ints("pads")?)?
        .ok_or("asymmetric pads are not supported by the runner for Conv2DTranspose")?;
    let y = x
        .f_conv_transpose2d(
            w,
            None::<Tensor>,
            strides,
            pad,
            [oh, ow],
            c.int("groups")?,
            dilations,
        )
        .map_err(torch_err)?;
    let y = add_bias(c, y)?;
    if y.size() != size {
        return Err(format!(
            "input_size {size:?} does not match the computed output shape {:?}",
            y.size()
        ));
    }
    Ok(vec![y])
}

/// `Conv3DTranspose` on NCDHW: `strides`/`dilations`/`output_padding` `[1, 1, d, h, w]` (or
/// `[0, 0, d, h, w]` for output_padding), symmetric `pads` [f, f, t, t, l, l], `groups`,
/// optional bias; `input_size` is the output's shape.
fn conv3d_transpose(c: &KCtx) -> R {
    let (x, w) = ncdhw_operands(c, "Conv3DTranspose")?;
    let size = int_values(c.input("input_size")?)?;
    let dhw = |name: &str, lead: i64| -> Result<[i64; 3], String> {
        let v = c.ints(name)?;
        match v.as_slice() {
            [a, b, d, h, w] if *a == lead && *b == lead => Ok([*d, *h, *w]),
            _ => Err(format!(
                "{name}={v:?}: expected [{lead}, {lead}, d, h, w] for NCDHW"
            )),
        }
    };
    let (strides, dilations) = (dhw("strides", 1)?, dhw("dilations", 1)?);
    let out_pad = dhw("output_padding", 0)?;
    let pads = c.ints("pads")?;
    let pad = match pads.as_slice() {
        [f, b, t, bo, l, r] if f == b && t == bo && l == r => [*f, *t, *l],
        _ => {
            return Err(format!(
                "pads {pads:?}: the runner takes 6 symmetric entries for Conv3DTranspose"
            ))
        }
    };
    let y = x
        .f_conv_transpose3d(
            w,
            None::<Tensor>,
            strides,
            pad,
            out_pad,
            c.int("groups")?,
            dilations,
        )
        .map_err(torch_err)?;
    let ch = y.size()[1];
    let y = match c.opt("bias") {
        None => y,
        Some(b) if b.size() == [ch] => {
            same_dtype(&y, b)?;
            y + b.reshape([1, ch, 1, 1, 1])
        }
        Some(b) => return Err(format!("bias must be [{ch}], got {:?}", b.size())),
    };
    if y.size() != size {
        return Err(format!(
            "input_size {size:?} does not match the computed output shape {:?}",
            y.size()
        ));
    }
    Ok(vec![y])
}
