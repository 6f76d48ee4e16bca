//! `PadV3` and `MirrorPad`.
use super::spatial::{torch_err, R};
use super::{int_values, same_dtype, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::Tensor;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("PadV3", pad_v3);
    m.insert("MirrorPad", mirror_pad);
}

/// GE's dim-first paddings (`[d0_begin, d0_end, d1_begin, ...]`) as ATen's last-dim-first list,
/// trimmed of leading dims without padding.
fn aten_pads(p: &[i64], rank: usize) -> Result<Vec<i64>, String> {
    if p.len() != 2 * rank {
        return Err(format!(
            "paddings {p:?} must hold 2 entries per dim of a rank-{rank} input"
        ));
    }
    if p.iter().any(|&v| v < 0) {
        return Err(format!(
            "negative paddings {p:?} are not supported by the runner"
        ));
    }
    let first = (0..rank)
        .find(|&d| p[2 * d] != 0 || p[2 * d + 1] != 0)
        .unwrap_or(rank);
    Ok((first..rank)
        .rev()
        .flat_map(|d| [p[2 * d], p[2 * d + 1]])
        .collect())
}

fn pad_with(x: &Tensor, pads: &[i64], mode: &str) -> Result<Tensor, String> {
    if pads.is_empty() {
        return Ok(x.shallow_clone());
    }
    // ATen's reflect/replicate pad the last 1-3 dims of a batched or unbatched tensor.
    let padded_dims = pads.len() as i64 / 2;
    if padded_dims > 3 || x.dim() as i64 <= padded_dims {
        return Err(format!(
            "{mode} padding of {padded_dims} dim(s) of a rank-{} tensor is not supported by the runner",
            x.dim()
        ));
    }
    x.f_pad(pads, mode, None).map_err(torch_err)
}

fn pad_v3(c: &KCtx) -> R {
    let x = c.input("x")?;
    let p = int_values(c.input("paddings")?)?;
    let rank = x.dim();
    let p = if c.bool("paddings_contiguous")? {
        p
    } else {
        // [begin_0, begin_1, ..., end_0, end_1, ...]
        let n = p.len() / 2;
        (0..n).flat_map(|d| [p[d], p[n + d]]).collect()
    };
    let pads = aten_pads(&p, rank)?;
    let mode = c.string("mode")?;
    let y = match mode.as_str() {
        "constant" => {
            let v = match c.opt("constant_values") {
                Some(v) => {
                    same_dtype(x, v)?;
                    if v.numel() != 1 {
                        return Err("constant_values must hold one value".into());
                    }
                    v.reshape([1i64]).double_value(&[0])
                }
                None => 0.0,
            };
            x.f_pad(pads.as_slice(), "constant", Some(v))
                .map_err(torch_err)?
        }
        "edge" => pad_with(x, &pads, "replicate")?,
        "reflect" => pad_with(x, &pads, "reflect")?,
        m => return Err(format!("mode '{m}' is not supported by the runner")),
    };
    Ok(vec![y])
}

fn mirror_pad(c: &KCtx) -> R {
    let x = c.input("x")?;
    let p = c.input("paddings")?;
    let rank = x.dim();
    if p.size() != [rank as i64, 2] {
        return Err(format!("paddings must be [{rank}, 2], got {:?}", p.size()));
    }
    let pads = aten_pads(&int_values(p)?, rank)?;
    let mode = c.string("mode")?;
    let y = match mode.as_str() {
        "REFLECT" => pad_with(x, &pads, "reflect")?,
        m => {
            return Err(format!(
                "mode '{m}' is not supported by the runner (REFLECT is)"
            ))
        }
    };
    Ok(vec![y])
}
