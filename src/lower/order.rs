//! Order statistics from a sort: `argsort`, `msort`, `median()`, `nanmedian`, `quantile` /
//! `nanquantile` with a scalar q, and `mode`. Positions are static (from the sorted dim's size)
//! except where NaNs are skipped: there the count of non-NaN values per row gives them, in the
//! graph, and GatherElements reads them.
use super::sort::{sort_last, transpose};
use super::spatial::work_dtype;
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, Value};

pub fn register(r: &mut Rules) {
    r.add(
        "aten::argsort",
        argsort,
        "[Transpose dim↔last] → Sort(x; axis=-1, descending, stable) → indices [Transpose back] → Cast INT64",
    );
    r.add(
        "aten::msort",
        msort,
        "[Transpose 0↔last] → Sort(x; axis=-1, ascending) → values [Transpose back]",
    );
    r.add(
        "aten::median",
        |c| quantile(c, Some(0.5), Interp::Lower, false),
        "median(): Sort(Reshape(x, [-1])) → StridedSliceV2 at (n−1)/2; SelectV2(IsNan(last sorted), NaN, ·) (a NaN anywhere gives NaN, as PyTorch)",
    );
    r.add(
        "aten::nanmedian",
        |c| quantile(c, Some(0.5), Interp::Lower, true),
        "Sort(x along dim, or Reshape(x, [-1])) → k = Floor(Maximum(0.5 · (n − ReduceSum(IsNan(x))) − 0.5, 0)) → GatherElements of values (and indices: nanmedian.dim) at k",
    );
    r.add(
        "aten::quantile.scalar",
        |c| quantile(c, None, Interp::Linear, false),
        "Sort(x along dim, or Reshape(x, [-1])) → StridedSliceV2 at Floor/Ceil(q·(n−1)) → Lerp (linear, midpoint) or one of them (lower, higher, nearest: half to even) → SelectV2(IsNan(last sorted), NaN, ·)",
    );
    r.add(
        "aten::nanquantile.scalar",
        |c| quantile(c, None, Interp::Linear, true),
        "as quantile.scalar with the position q·(count of non-NaN − 1) computed in the graph (ReduceSum(IsNan)), read by GatherElements",
    );
    r.add(
        "aten::mode",
        mode,
        "[Transpose dim↔last] → counts = ReduceSum(Cast INT32(Equal(Unsqueeze(x, -1), Unsqueeze(x, -2))), [-1]) → value = ReduceMin(SelectV2(Equal(counts, ReduceMax(counts)), x, K(max))) → index = ReduceMax(SelectV2(Equal(x, value), K64(iota), −1)) (the smallest most frequent value at its last position, as PyTorch)",
    );
}

fn rank0_index(c: &mut Ctx) -> Result<Port, String> {
    c.scalar_i64(0)
}

/// `argsort(self, dim, descending)` and `argsort.stable(self, stable, dim, descending)`.
fn argsort(c: &mut Ctx) -> RuleResult {
    let rank = c.rank("self")? as i64;
    if rank == 0 {
        return Ok(vec![rank0_index(c)?]);
    }
    let dim = Ctx::dim(c.int("dim")?, rank);
    let descending = c.bool("descending")?;
    let stable = match c.arg("stable") {
        Ok(v) => v.as_bool().unwrap_or(false),
        Err(_) => false,
    };
    let dt = work_dtype("Sort", c.in_dtype("self")?);
    let x = c.tensor_as("self", dt)?;
    let (_, si) = sort_last(c, x, dim, rank, descending, stable, dt)?;
    let i = transpose(c, si, dim, rank - 1, rank, DType::I32)?;
    Ok(vec![c.cast(i, DType::I64)?])
}

fn msort(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let x = c.tensor("self")?;
    if rank == 0 {
        return Ok(vec![x]);
    }
    let dt = work_dtype("Sort", out);
    let x = c.cast(x, dt)?;
    let (sv, _) = sort_last(c, x, 0, rank, false, false, dt)?;
    let v = transpose(c, sv, 0, rank - 1, rank, dt)?;
    Ok(vec![c.cast(v, out)?])
}

#[derive(Clone, Copy, PartialEq)]
enum Interp {
    Linear,
    Lower,
    Higher,
    Midpoint,
    Nearest,
}

fn interp_arg(c: &Ctx) -> Result<Interp, String> {
    if !c.has("interpolation") {
        return Ok(Interp::Linear);
    }
    Ok(match c.arg("interpolation")? {
        Value::Str(s) => match s.as_str() {
            "linear" => Interp::Linear,
            "lower" => Interp::Lower,
            "higher" => Interp::Higher,
            "midpoint" => Interp::Midpoint,
            "nearest" => Interp::Nearest,
            s => return Err(format!("quantile interpolation=\"{s}\" is not one of linear, lower, higher, midpoint, nearest")),
        },
        v => return Err(format!("interpolation must be a string, got {v:?}")),
    })
}

/// `Reshape(GatherElements(sorted, k), …)`: the sorted element at position `k` ([…, 1] INT64).
fn gather_last(c: &mut Ctx, sorted: Port, k: Port, dim: i64, dt: DType) -> Result<Port, String> {
    c.op1(
        "GatherElements",
        vec![In::P(sorted), In::P(k)],
        vec![("dim", attr::int(dim))],
        dt,
    )
}

/// The q-quantile (`q` None: the `q` argument) along `dim` (absent or None: of every element)
/// by `interp`; `skip_nan` ignores NaNs (nan* ops). Returns the value and, for ops with two
/// outputs (nanmedian.dim), its index.
fn quantile(c: &mut Ctx, q: Option<f64>, interp: Interp, skip_nan: bool) -> RuleResult {
    let out = c.out_dtype(0)?;
    let q = match q {
        Some(q) => q,
        None => c.float("q")?,
    };
    if !(0.0..=1.0).contains(&q) {
        return Err(format!("quantile q={q} is outside [0, 1]"));
    }
    let interp = if c.has("interpolation") {
        interp_arg(c)?
    } else {
        interp
    };
    let shape = c.in_shape("self")?;
    let in_dt = c.in_dtype("self")?;
    if in_dt == DType::Bool {
        return Err(format!(
            "{} of bool values; fix: cast to a number type first",
            c.node.op_name()
        ));
    }
    let dt = work_dtype("Sort", in_dt);
    let x = c.tensor_as("self", dt)?;
    let has_dim = c.has("dim") && !matches!(c.arg("dim")?, Value::None);
    let (x, rank, dim, n) = if has_dim && !shape.is_empty() {
        let rank = shape.len() as i64;
        let dim = Ctx::dim(c.int("dim")?, rank);
        (x, rank, dim, shape[dim as usize])
    } else {
        let n: i64 = shape.iter().product();
        (c.reshape_const(x, &[-1], dt)?, 1, 0, n)
    };
    if n == 0 {
        return Err(format!("{} of an empty dim", c.node.op_name()));
    }
    let last = rank - 1;
    let (sv, si) = sort_last(c, x, dim, rank, false, true, dt)?;
    let fdt = if dt == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let float = dt.is_float();
    // The values at the lower and upper positions, the weight between them, and the lower one's
    // index.
    let (lo, hi, w, lo_idx) = if skip_nan && float {
        let nan = c.op1("IsNan", vec![In::P(sv)], vec![], DType::Bool)?;
        let nan = c.cast(nan, fdt)?;
        let axes = c.const_i64(&[-1])?;
        let nans = c.op1(
            "ReduceSum",
            vec![In::P(nan), In::P(axes)],
            vec![("keep_dims", attr::boolean(true))],
            fdt,
        )?;
        let nm1 = c.scalar((n - 1) as f64, fdt)?;
        let valid_m1 = c.bin("Sub", nm1, nans, fdt)?;
        let kq = c.scalar(q, fdt)?;
        let pos = c.bin("Mul", kq, valid_m1, fdt)?;
        let zero = c.scalar(0.0, fdt)?;
        let pos = c.bin("Maximum", pos, zero, fdt)?;
        let fl = c.un("Floor", pos, fdt)?;
        let ce = c.un("Ceil", pos, fdt)?;
        let w = c.bin("Sub", pos, fl, fdt)?;
        let (a, b) = match interp {
            Interp::Nearest => {
                let r = c.un("Round", pos, fdt)?;
                (r, r)
            }
            _ => (fl, ce),
        };
        let ka = c.cast(a, DType::I64)?;
        let kb = c.cast(b, DType::I64)?;
        let lo = gather_last(c, sv, ka, last, dt)?;
        let hi = gather_last(c, sv, kb, last, dt)?;
        let li = gather_last(c, si, ka, last, DType::I32)?;
        (lo, hi, Some(w), li)
    } else {
        // PyTorch computes the position in the input's dtype: FLOAT rounding can move a
        // position that is whole in f64 just past it.
        let pos = if fdt == DType::F32 {
            ((q as f32) * ((n - 1) as f32)) as f64
        } else {
            q * (n - 1) as f64
        };
        let (a, b) = match interp {
            Interp::Nearest => {
                let r = pos.round_ties_even() as i64;
                (r, r)
            }
            _ => (pos.floor() as i64, pos.ceil() as i64),
        };
        let lo = c.slice_axis(sv, last, a, a + 1, dt)?;
        let hi = c.slice_axis(sv, last, b, b + 1, dt)?;
        let li = c.slice_axis(si, last, a, a + 1, DType::I32)?;
        let w = c.scalar(pos - pos.floor(), fdt)?;
        (lo, hi, Some(w), li)
    };
    let mut v = match interp {
        Interp::Lower | Interp::Nearest => lo,
        Interp::Higher => hi,
        Interp::Linear | Interp::Midpoint => {
            if !float {
                return Err(format!(
                    "{} interpolates, which needs a float input",
                    c.node.op_name()
                ));
            }
            let w = match interp {
                Interp::Midpoint => c.scalar(0.5, dt)?,
                _ => c.cast(w.expect("a weight"), dt)?,
            };
            let d = c.bin("Sub", hi, lo, dt)?;
            let wd = c.bin("Mul", w, d, dt)?;
            c.bin("Add", lo, wd, dt)?
        }
    };
    if !skip_nan && float {
        // NaN sorts last: a row holding one ends in NaN, and its quantile is NaN.
        let tail = c.slice_axis(sv, last, n - 1, n, dt)?;
        let has = c.op1("IsNan", vec![In::P(tail)], vec![], DType::Bool)?;
        let k_nan = c.scalar(f64::NAN, dt)?;
        v = c.op1(
            "SelectV2",
            vec![In::P(has), In::P(k_nan), In::P(v)],
            vec![],
            dt,
        )?;
    }
    let v = transpose(c, v, dim, last, rank, dt)?;
    let v = c.cast(v, out)?;
    let vs = c.out_shape(0)?;
    let v = c.reshape_const(v, &vs, out)?;
    if c.outputs.len() < 2 {
        return Ok(vec![v]);
    }
    let i = transpose(c, lo_idx, dim, last, rank, DType::I32)?;
    let i = c.cast(i, DType::I64)?;
    let is = c.out_shape(1)?;
    Ok(vec![v, c.reshape_const(i, &is, DType::I64)?])
}

/// `mode(self, dim, keepdim)`: the most frequent value along dim (the smallest among equally
/// frequent ones) and the position of its last occurrence.
fn mode(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    let x = c.tensor("self")?;
    if shape.is_empty() {
        return Ok(vec![x, rank0_index(c)?]);
    }
    let rank = shape.len() as i64;
    let dim = Ctx::dim(c.int("dim")?, rank);
    let n = shape[dim as usize];
    if n == 0 {
        return Err("mode of an empty dim".into());
    }
    let dt = match out {
        DType::Bool | DType::I8 | DType::I16 | DType::U8 => DType::I32,
        DType::BF16 => DType::F32,
        d => d,
    };
    let x = c.cast(x, dt)?;
    let last = rank - 1;
    let xt = transpose(c, x, dim, last, rank, dt)?;
    let a = super::spatial::unsqueeze(c, xt, vec![rank], dt)?;
    let b = super::spatial::unsqueeze(c, xt, vec![rank - 1], dt)?;
    let eq = c.bin("Equal", a, b, DType::Bool)?;
    let eq = c.cast(eq, DType::I32)?;
    let axes = c.const_i64(&[-1])?;
    let reduce = |c: &mut Ctx, ty: &str, p: Port, keep: bool, t: DType| {
        c.op1(
            ty,
            vec![In::P(p), In::P(axes)],
            vec![("keep_dims", attr::boolean(keep))],
            t,
        )
    };
    let counts = reduce(c, "ReduceSum", eq, false, DType::I32)?;
    let best = reduce(c, "ReduceMax", counts, true, DType::I32)?;
    let cand = c.bin("Equal", counts, best, DType::Bool)?;
    let big = match dt {
        DType::I32 => c.scalar(i32::MAX as f64, dt)?,
        DType::I64 => c.b.constant(&tch::Tensor::from(i64::MAX), "INT64 max")?,
        _ => c.scalar(f64::INFINITY, dt)?,
    };
    let masked = c.op1(
        "SelectV2",
        vec![In::P(cand), In::P(xt), In::P(big)],
        vec![],
        dt,
    )?;
    let v = reduce(c, "ReduceMin", masked, true, dt)?;
    let at = c.bin("Equal", xt, v, DType::Bool)?;
    let iota = c.b.constant(
        &tch::Tensor::arange(n, (tch::Kind::Int64, tch::Device::Cpu)),
        "positions along dim",
    )?;
    let none = c.scalar_i64(-1)?;
    let pos = c.op1(
        "SelectV2",
        vec![In::P(at), In::P(iota), In::P(none)],
        vec![],
        DType::I64,
    )?;
    let i = reduce(c, "ReduceMax", pos, true, DType::I64)?;
    let v = transpose(c, v, dim, last, rank, dt)?;
    let i = transpose(c, i, dim, last, rank, DType::I64)?;
    let v = c.cast(v, out)?;
    let (vs, is) = (c.out_shape(0)?, c.out_shape(1)?);
    let v = c.reshape_const(v, &vs, out)?;
    let i = c.reshape_const(i, &is, DType::I64)?;
    Ok(vec![v, i])
}
