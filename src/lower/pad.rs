//! Constant, reflect and replicate padding (`PadV3`, `MirrorPad`).
use super::spatial::{back, work_dtype};
use super::{Ctx, RuleResult, Rules};
use crate::ge::{attr, In};
use crate::value::Value;

pub fn register(r: &mut Rules) {
    r.add(
        "aten::constant_pad_nd",
        |c| pad_mode(c, "constant"),
        "PadV3(x, K64(pads dim-first), Kx(value); mode=constant, paddings_contiguous=true)",
    );
    r.add(
        "aten::pad",
        pad,
        "constant: PadV3(mode=constant); reflect: MirrorPad(x, K64([rank,2]); mode=REFLECT); replicate: PadV3(mode=edge); pads dim-first; bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
    );
    for op in ["aten::reflection_pad1d", "aten::reflection_pad2d"] {
        r.add(
            op,
            |c| pad_mode(c, "reflect"),
            "MirrorPad(x, K64([rank,2] pads dim-first); mode=REFLECT); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
        );
    }
    for op in ["aten::replication_pad1d", "aten::replication_pad2d"] {
        r.add(
            op,
            |c| pad_mode(c, "replicate"),
            "PadV3(x, K64(pads dim-first); mode=edge, paddings_contiguous=true)",
        );
    }
}

fn pad(c: &mut Ctx) -> RuleResult {
    let mode = match c.arg("mode")? {
        Value::Str(s) => s.clone(),
        Value::None => "constant".into(),
        _ => return Err("mode must be a string".into()),
    };
    pad_mode(c, &mode)
}

/// ATen's pads (last dim first, one (begin, end) pair per dim) as GE's dim-first pairs.
fn dim_first_pads(aten: &[i64], rank: usize) -> Result<Vec<i64>, String> {
    if !aten.len().is_multiple_of(2) || aten.len() / 2 > rank {
        return Err(format!(
            "pad {aten:?} must hold one (begin, end) pair per padded dim, at most {rank}"
        ));
    }
    let mut p = vec![0i64; 2 * rank];
    for (k, pair) in aten.chunks(2).enumerate() {
        let d = rank - 1 - k;
        p[2 * d] = pair[0];
        p[2 * d + 1] = pair[1];
    }
    Ok(p)
}

fn pad_mode(c: &mut Ctx, mode: &str) -> RuleResult {
    let res = c.out_dtype(0)?;
    let out = work_dtype(
        if mode == "reflect" {
            "MirrorPad"
        } else {
            "PadV3"
        },
        res,
    );
    // Any dim may be dynamic; a pad width computed from a dynamic dim (`W % 2`) is computed in
    // the graph (`Pack` of the widths), others are constants.
    let rank = c.rank("self")?;
    let name = if c.has("pad") { "pad" } else { "padding" };
    let items = match c.arg(name)? {
        Value::List(v) | Value::Tuple(v) => v.clone(),
        _ => return Err(format!("argument '{name}' must be a list of ints")),
    };
    let at_sample = |v: &Value| match v {
        Value::SymInt(s) => Some(s.value),
        v => v.as_int(),
    };
    let aten: Vec<i64> = items
        .iter()
        .map(at_sample)
        .collect::<Option<_>>()
        .ok_or_else(|| format!("argument '{name}' must be a list of ints"))?;
    let p = dim_first_pads(&aten, rank)?;
    if p.iter().any(|&v| v < 0) {
        return Err(format!(
            "negative padding {aten:?} (cropping) is not supported; fix: slice the tensor instead"
        ));
    }
    // The widths in GE's dim-first order, as values (some symbolic).
    let mut order = vec![Value::Int(0); 2 * rank];
    for (k, pair) in items.chunks(2).enumerate() {
        let d = rank - 1 - k;
        order[2 * d] = pair[0].clone();
        order[2 * d + 1] = pair[1].clone();
    }
    let pads_port = |c: &mut Ctx| super::sym::ints_port(c.b, c.mat, &order);
    // No padding at all (mobilenet-style `F.pad(x, [0, 0, 0, 0])`): no node, as GE would fold it.
    if p.iter().all(|&v| v == 0) && !order.iter().any(Value::is_symbolic) {
        return Ok(vec![c.tensor("self")?]);
    }
    let x = c.tensor_as("self", out)?;
    let y = match mode {
        "constant" => {
            let value = if c.has("value") {
                c.float("value")?
            } else {
                0.0
            };
            let pads = pads_port(c)?;
            let v = c.scalar(value, out)?;
            c.op1(
                "PadV3",
                vec![In::P(x), In::P(pads), In::P(v)],
                vec![
                    ("mode", attr::string("constant")),
                    ("paddings_contiguous", attr::boolean(true)),
                ],
                out,
            )?
        }
        "reflect" => {
            let pads = if order.iter().any(Value::is_symbolic) {
                let flat = pads_port(c)?;
                c.reshape_const(flat, &[rank as i64, 2], crate::dtype::DType::I64)?
            } else {
                let t = tch::Tensor::from_slice(&p).reshape([rank as i64, 2]);
                c.b.constant(&t, &format!("{p:?}"))?
            };
            c.op1(
                "MirrorPad",
                vec![In::P(x), In::P(pads)],
                vec![("mode", attr::string("REFLECT"))],
                out,
            )?
        }
        "replicate" => {
            let pads = pads_port(c)?;
            c.op1(
                "PadV3",
                vec![In::P(x), In::P(pads)],
                vec![
                    ("mode", attr::string("edge")),
                    ("paddings_contiguous", attr::boolean(true)),
                ],
                out,
            )?
        }
        m => {
            return Err(format!(
                "pad mode '{m}' is not supported (constant, reflect, replicate are)"
            ))
        }
    };
    back(c, y, res)
}
