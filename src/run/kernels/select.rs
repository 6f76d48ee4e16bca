//! Ops whose output size depends on the data: NonZero, MaskedSelect, UniqueConsecutive and
//! RepeatInterleave (the runner computes them in full; the graph's descs say which size the
//! export saw, and the runner's desc check refuses another).
use super::{int_values, norm_dim, tc, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("NonZero", non_zero);
    m.insert("MaskedSelect", masked_select);
    m.insert("UniqueConsecutive", unique_consecutive);
    m.insert("RepeatInterleave", repeat_interleave);
    m.insert("UnsortedSegmentSum", |c| unsorted_segment(c, Segment::Sum));
    m.insert("UnsortedSegmentMax", |c| unsorted_segment(c, Segment::Max));
    m.insert("UnsortedSegmentMin", |c| unsorted_segment(c, Segment::Min));
    m.insert("UnsortedSegmentProd", |c| {
        unsorted_segment(c, Segment::Prod)
    });
}

/// The coordinates of x's nonzero elements in row-major order: [n, rank] ([rank, n] with
/// `transpose`), of dtype `dtype` (INT64 or INT32).
fn non_zero(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    if matches!(x.kind(), Kind::ComplexFloat | Kind::ComplexDouble) {
        return Err(format!("x of {:?} is not a NonZero input type", x.kind()));
    }
    let mut y = tc(x.f_nonzero())?;
    if c.bool("transpose")? {
        y = y.transpose(0, 1).contiguous();
    }
    let kind = match crate::dtype::DType::from_ge_cpp(c.int("dtype")?) {
        Some(crate::dtype::DType::I64) => Kind::Int64,
        Some(crate::dtype::DType::I32) => Kind::Int,
        _ => return Err("dtype must be INT64 or INT32".into()),
    };
    Ok(vec![y.to_kind(kind)])
}

/// x's elements where mask (BOOL, x's shape) holds, in row-major order, as a 1-D tensor.
fn masked_select(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let mask = c.input("mask")?;
    if mask.kind() != Kind::Bool {
        return Err(format!("mask must be BOOL, got {:?}", mask.kind()));
    }
    if mask.size() != x.size() {
        return Err(format!(
            "mask {:?} and x {:?} differ in shape",
            mask.size(),
            x.size()
        ));
    }
    Ok(vec![tc(x.f_masked_select(mask))?])
}

/// Runs of equal elements (slices along `axis`; 1000: of the flattened x) collapsed to one:
/// (values, each element's run index, each run's length), INT64 indices; an index output not
/// asked for is empty.
fn unique_consecutive(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let axis = c.int("axis")?;
    let dim = if axis == 1000 {
        None
    } else {
        let rank = x.dim() as i64;
        let d = norm_dim(axis, rank);
        if d < 0 || d >= rank {
            return Err(format!("axis {axis} out of range for rank {rank}"));
        }
        Some(d)
    };
    let (y, idx, cnt) =
        tc(x.f_unique_consecutive(c.bool("return_idx")?, c.bool("return_counts")?, dim))?;
    Ok(vec![y, idx, cnt])
}

/// Each slice of x along `axis` repeated `repeats[i]` times (one count, or one per slice).
fn repeat_interleave(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let r = c.input("repeats")?;
    let counts = int_values(r)?;
    if counts.iter().any(|&k| k < 0) {
        return Err(format!("repeats must not be negative, got {counts:?}"));
    }
    let rank = x.dim() as i64;
    let axis = norm_dim(c.int("axis")?, rank);
    if axis < 0 || axis >= rank.max(1) {
        return Err(format!(
            "axis {} out of range for rank {rank}",
            c.int("axis")?
        ));
    }
    let n = if rank == 0 {
        1
    } else {
        x.size()[axis as usize]
    };
    if r.numel() != 1 && r.numel() as i64 != n {
        return Err(format!("repeats holds {} counts for {n} slices", r.numel()));
    }
    Ok(vec![tc(x.f_repeat_interleave_self_tensor(
        &r.to_kind(Kind::Int64).reshape([-1]),
        axis,
        None,
    ))?])
}

/// How an UnsortedSegment* kernel combines a segment's rows.
#[derive(Clone, Copy)]
enum Segment {
    Sum,
    Max,
    Min,
    Prod,
}

/// `UnsortedSegmentSum|Max|Min|Prod(x, segment_ids, num_segments)`: row i of x (ids' shape
/// leading x's) goes to segment ids[i]; a negative id drops the row. Empty segments hold 0
/// (sum), 1 (prod), or the lowest / highest value of the dtype (max / min).
fn unsorted_segment(c: &KCtx, how: Segment) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let ids = c.input("segment_ids")?;
    if !matches!(ids.kind(), Kind::Int64 | Kind::Int) {
        return Err(format!(
            "segment_ids must be INT32/INT64, got {:?}",
            ids.kind()
        ));
    }
    let n = int_values(c.input("num_segments")?)?;
    let [n] = n.as_slice() else {
        return Err("num_segments must hold one value".into());
    };
    let k = ids.dim();
    if k > x.dim() || ids.size()[..] != x.size()[..k] {
        return Err(format!(
            "segment_ids {:?} must lead x's shape {:?}",
            ids.size(),
            x.size()
        ));
    }
    let m = ids.numel() as i64;
    let rest = &x.size()[k..];
    let mut flat_shape = vec![m];
    flat_shape.extend(rest);
    let ids = ids.to_kind(Kind::Int64).reshape([m]);
    let xs = x.reshape(flat_shape.as_slice());
    if m > 0 && ids.max().int64_value(&[]) >= *n {
        return Err(format!(
            "segment_ids hold {} but num_segments is {n}",
            ids.max().int64_value(&[])
        ));
    }
    let keep = ids.ge(0);
    let ids = ids.masked_select(&keep);
    let xs = xs.index(&[Some(keep)]);
    let mut out_shape = vec![*n];
    out_shape.extend(rest);
    let opts = (x.kind(), tch::Device::Cpu);
    let shape = out_shape.as_slice();
    let extreme = |max: bool| -> Result<Tensor, String> {
        let sign = if max { 1.0 } else { -1.0 };
        Ok(match x.kind() {
            Kind::Half => Tensor::full(shape, sign * 65504.0, opts),
            Kind::BFloat16 => Tensor::full(shape, sign * 3.3895313892515355e38, opts),
            Kind::Float => Tensor::full(shape, sign * f32::MAX as f64, opts),
            Kind::Double => Tensor::full(shape, sign * f64::MAX, opts),
            k => {
                let (lo, hi) = match k {
                    Kind::Int64 => (i64::MIN, i64::MAX),
                    Kind::Int => (i32::MIN as i64, i32::MAX as i64),
                    Kind::Int16 => (i16::MIN as i64, i16::MAX as i64),
                    Kind::Int8 => (i8::MIN as i64, i8::MAX as i64),
                    Kind::Uint8 => (0, u8::MAX as i64),
                    k => return Err(format!("x of {k:?} is not a segment input type")),
                };
                Tensor::full(shape, if max { hi } else { lo }, opts)
            }
        })
    };
    let (init, reduce) = match how {
        Segment::Sum => (Tensor::zeros(shape, opts), None),
        Segment::Prod => (Tensor::ones(shape, opts), Some("prod")),
        Segment::Max => (extreme(false)?, Some("amax")),
        Segment::Min => (extreme(true)?, Some("amin")),
    };
    Ok(vec![match reduce {
        None => tc(init.f_index_add(0, &ids, &xs))?,
        Some(r) => tc(init.f_index_reduce(0, &ids, &xs, r, true))?,
    }])
}
