//! Helpers shared by the NCHW kernel families (conv, pool, norm, resize, pad, activation).
//! NCHW only: a kernel whose input layout is anything else fails (the exporter writes NCHW).
use super::KCtx;
use tch::{Kind, Tensor};

pub(super) type R = Result<Vec<Tensor>, String>;

pub(super) fn torch_err(e: tch::TchError) -> String {
    crate::load::short_torch_message(&e.to_string())
}

fn is_float(t: &Tensor) -> bool {
    matches!(
        t.kind(),
        Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double
    )
}

pub(super) fn need_float(t: &Tensor, what: &str) -> Result<(), String> {
    if is_float(t) {
        Ok(())
    } else {
        Err(format!("{what} must be a float tensor, got {:?}", t.kind()))
    }
}

pub(super) fn float_unary(
    c: &KCtx,
    name: &str,
    f: fn(&Tensor) -> Result<Tensor, tch::TchError>,
) -> R {
    let x = c.input(name)?;
    need_float(x, name)?;
    Ok(vec![f(x).map_err(torch_err)?])
}

/// The layout of the op's input `x` must be NCHW: its `input_layout_info` entry where given
/// (TorchAir leaves `data_format` at its default then), else `data_format`.
pub(super) fn nchw(c: &KCtx) -> Result<(), String> {
    let f = c.input_layout("x")?;
    if f != "NCHW" {
        return Err(format!(
            "data_format '{f}' is not supported by the runner (NCHW is)"
        ));
    }
    Ok(())
}

pub(super) fn rank4(t: &Tensor, what: &str) -> Result<(), String> {
    if t.dim() != 4 {
        return Err(format!("{what} must be 4-D (NCHW), got {:?}", t.size()));
    }
    Ok(())
}

/// A 4-entry NCHW attr whose N and C entries must be 1; returns the (H, W) entries.
pub(super) fn hw_attr(c: &KCtx, name: &str) -> Result<[i64; 2], String> {
    let v = c.ints(name)?;
    match v.as_slice() {
        [1, 1, h, w] => Ok([*h, *w]),
        _ => Err(format!("{name}={v:?}: expected [1, 1, h, w] for NCHW")),
    }
}

/// pads [top, bottom, left, right] → symmetric (pH, pW), or None when asymmetric.
pub(super) fn sym_pads(p: &[i64]) -> Result<Option<[i64; 2]>, String> {
    let [t, b, l, r] = p else {
        return Err(format!("pads {p:?} must have 4 entries"));
    };
    if p.iter().any(|&v| v < 0) {
        return Err(format!("negative pads {p:?}"));
    }
    Ok((t == b && l == r).then_some([*t, *l]))
}
