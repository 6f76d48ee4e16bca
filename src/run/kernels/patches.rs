//! Sliding-window blocks: Im2col ([N, C, H, W] → [N, C·kH·kW, L]) and Col2im
//! ([N, C, kH·kW, L] summed back into [N, C, H, W]).
use super::spatial::{rank4, sym_pads, torch_err, R};
use super::{int_values, KCtx, Kernel};
use std::collections::BTreeMap;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("Im2col", im2col);
    m.insert("Col2im", col2im);
}

/// A 1- or 2-entry attr as (h, w); `default` when absent.
fn pair(c: &KCtx, name: &str, default: i64) -> Result<[i64; 2], String> {
    let v = match c.op.attr.get(name) {
        Some(_) => c.ints(name)?,
        None => vec![default],
    };
    match v.as_slice() {
        [a] => Ok([*a, *a]),
        [a, b] => Ok([*a, *b]),
        _ => Err(format!("{name}={v:?}: expected 1 or 2 entries")),
    }
}

fn im2col(c: &KCtx) -> R {
    let x = c.input("x")?;
    rank4(x, "x")?;
    let mode = c.string("padding_mode")?;
    if mode != "CALCULATED" {
        return Err(format!(
            "padding_mode '{mode}' is not supported by the runner (CALCULATED is)"
        ));
    }
    let k = pair(c, "ksizes", 1)?;
    let s = pair(c, "strides", 1)?;
    let d = pair(c, "dilations", 1)?;
    let pads = match c.op.attr.get("pads") {
        Some(_) => c.ints("pads")?,
        None => vec![0],
    };
    let p = match pads.as_slice() {
        [p] => [*p, *p],
        _ => {
            sym_pads(&pads)?.ok_or_else(|| format!("asymmetric pads {pads:?} are not supported"))?
        }
    };
    Ok(vec![x.f_im2col(k, d, p, s).map_err(torch_err)?])
}

fn col2im(c: &KCtx) -> R {
    let x = c.input("x")?;
    if !matches!(x.kind(), tch::Kind::Float | tch::Kind::Half) {
        return Err(format!("x must be FLOAT or FLOAT16, got {:?}", x.kind()));
    }
    let size = int_values(c.input("output_size")?)?;
    let k = pair(c, "kernel_size", 1)?;
    let (n, ch, kk, l) = match x.size().as_slice() {
        [n, ch, kk, l] => (*n, *ch, *kk, *l),
        s => return Err(format!("x must be [N, C, kH*kW, L], got {s:?}")),
    };
    if kk != k[0] * k[1] || size.len() != 2 {
        return Err(format!(
            "x {:?} does not match kernel_size {k:?}, or output_size {size:?} is not [H, W]",
            x.size()
        ));
    }
    let cols = x.reshape([n, ch * kk, l]);
    Ok(vec![cols
        .f_col2im(
            size,
            k,
            pair(c, "dilation", 1)?,
            pair(c, "padding", 0)?,
            pair(c, "stride", 1)?,
        )
        .map_err(torch_err)?])
}
