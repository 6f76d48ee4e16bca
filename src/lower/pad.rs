//! Constant, reflect and replicate padding (`PadV3`, `MirrorPad`).
use super::spatial::{back, work_dtype};
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::Port;
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
        "constant: PadV3(mode=constant); reflect: MirrorPad(x, K64([rank,2]); mode=REFLECT); replicate: PadV3(mode=edge); circular: ConcatV2(x[n−b:], x, x[:e]) per dim; pads dim-first; negative widths: StridedSliceV2 first (static dims); bf16 runs in FLOAT (Cast in/out): the prototype lacks it",
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
    let mut p = dim_first_pads(&aten, rank)?;
    // The widths in GE's dim-first order, as values (some symbolic).
    let mut order = vec![Value::Int(0); 2 * rank];
    for (k, pair) in items.chunks(2).enumerate() {
        let d = rank - 1 - k;
        order[2 * d] = pair[0].clone();
        order[2 * d + 1] = pair[1].clone();
    }
    let mut x = c.tensor_as("self", out)?;
    if p.iter().any(|&v| v < 0) {
        // Negative widths crop (StridedSliceV2), then the rest pads: ATen's result for every
        // mode, as its index map clamps into the cropped range.
        let dims = c.in_dims("self")?;
        if mode == "replicate" {
            return replicate_gather(c, x, &p, &dims, &aten, res, out);
        }
        for d in 0..rank {
            let (b, e) = (p[2 * d], p[2 * d + 1]);
            if b >= 0 && e >= 0 {
                continue;
            }
            let n = match dims[d] {
                Some(n) => n,
                None => pinned_size(c, d, &format!("negative padding {aten:?} crops it"))?,
            };
            let (lo, hi) = ((-b).max(0), n - (-e).max(0));
            if lo >= hi {
                return Err(format!(
                    "negative padding {aten:?} crops dim {d} (size {n}) away entirely"
                ));
            }
            x = c.slice_axis(x, d as i64, lo, hi, out)?;
            p[2 * d] = b.max(0);
            p[2 * d + 1] = e.max(0);
            order[2 * d] = Value::Int(p[2 * d]);
            order[2 * d + 1] = Value::Int(p[2 * d + 1]);
        }
    }
    if mode == "circular" {
        return circular(c, x, &p, &aten, res, out);
    }
    let pads_port = |c: &mut Ctx| super::sym::ints_port(c.b, c.mat, &order);
    // No padding at all (mobilenet-style `F.pad(x, [0, 0, 0, 0])`): no node, as GE would fold it.
    if p.iter().all(|&v| v == 0) && !order.iter().any(Value::is_symbolic) {
        return back(c, x, res);
    }
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
                "pad mode '{m}' is not supported (constant, reflect, replicate, circular are)"
            ))
        }
    };
    back(c, y, res)
}

/// Circular padding: per padded dim, `ConcatV2(x[n−b:], x, x[:e])` (static dims, widths at most
/// the dim's size, as ATen requires).
fn circular(c: &mut Ctx, x: Port, p: &[i64], aten: &[i64], res: DType, out: DType) -> RuleResult {
    let rank = p.len() / 2;
    let dims = c.in_dims("self")?;
    let mut y = x;
    for d in 0..rank {
        let (b, e) = (p[2 * d], p[2 * d + 1]);
        if b == 0 && e == 0 {
            continue;
        }
        // The size after any cropping of this dim.
        let full = match dims[d] {
            Some(n) => n,
            None => pinned_size(c, d, &format!("circular padding {aten:?} wraps around it"))?,
        };
        let n = full - (-aten_pair(aten, rank, d).0).max(0) - (-aten_pair(aten, rank, d).1).max(0);
        if b > n || e > n {
            return Err(format!(
                "circular padding {aten:?} wraps more than once around dim {d} (size {n})"
            ));
        }
        let mut parts = vec![];
        if b > 0 {
            parts.push(c.slice_axis(y, d as i64, n - b, n, out)?);
        }
        parts.push(y);
        if e > 0 {
            parts.push(c.slice_axis(y, d as i64, 0, e, out)?);
        }
        let axis = c.scalar_i64(d as i64)?;
        let k = parts.len() as i64;
        y = c.op1(
            "ConcatV2",
            vec![In::Dyn(parts), In::P(axis)],
            vec![("N", attr::int(k))],
            out,
        )?;
    }
    back(c, y, res)
}

/// ATen's (begin, end) widths of dim `d`.
fn aten_pair(aten: &[i64], rank: usize, d: usize) -> (i64, i64) {
    let k = rank - 1 - d;
    match aten.get(2 * k..2 * k + 2) {
        Some([b, e]) => (*b, *e),
        _ => (0, 0),
    }
}

/// Replicate padding with negative widths, as ATen indexes it: per dim, `GatherV2` of source
/// index clamp(j − begin, 0, n − 1) for each of the n + begin + end outputs (static dims).
fn replicate_gather(
    c: &mut Ctx,
    x: Port,
    p: &[i64],
    dims: &[Option<i64>],
    aten: &[i64],
    res: DType,
    out: DType,
) -> RuleResult {
    let mut y = x;
    for (d, dim) in dims.iter().enumerate() {
        let (b, e) = (p[2 * d], p[2 * d + 1]);
        if b == 0 && e == 0 {
            continue;
        }
        let n = match *dim {
            Some(n) => n,
            None => pinned_size(c, d, &format!("padding {aten:?} gathers along it"))?,
        };
        let len = n + b + e;
        if len <= 0 {
            return Err(format!(
                "padding {aten:?} leaves dim {d} (size {n}) with {len} elements"
            ));
        }
        let idx: Vec<i64> = (0..len).map(|j| (j - b).clamp(0, n - 1)).collect();
        let ip = c.const_i64(&idx)?;
        let axis = c.scalar_i64(d as i64)?;
        y = c.op1(
            "GatherV2",
            vec![In::P(y), In::P(ip), In::P(axis)],
            vec![],
            out,
        )?;
    }
    back(c, y, res)
}

/// The sample's size of dynamic dim `d` of 'self', taken as a constant: the dims it depends on
/// get pinned, with a note saying `why`.
fn pinned_size(c: &Ctx, d: usize, why: &str) -> Result<i64, String> {
    let size = c.tensor_value("self")?.tensor.size();
    c.bake(format!(
        "{} takes dynamic dim {d} of 'self' as the constant {}: {why}",
        c.node.op_name(),
        size[d]
    ));
    Ok(size[d])
}
