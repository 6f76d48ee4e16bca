//! Shape and layout GE ops.
use super::{int_values, norm_dim, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::Tensor;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("Reshape", reshape);
    m.insert("Transpose", transpose);
    m.insert("Unsqueeze", unsqueeze);
    m.insert("Squeeze", squeeze);
    m.insert("ConcatV2", concat_v2);
    m.insert("StridedSliceV2", strided_slice_v2);
    m.insert("Shape", shape);
    m.insert("Range", range);
    m.insert("ExpandDims", expand_dims);
    m.insert("FlattenV2", flatten_v2);
    m.insert("AsStrided", as_strided);
}

/// The dims of `x` as a 1-D tensor of the `dtype` attr (INT32 or INT64).
fn shape(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let dt = crate::dtype::DType::from_ge_cpp(c.int("dtype")?)
        .filter(|d| matches!(d, crate::dtype::DType::I32 | crate::dtype::DType::I64))
        .ok_or("Shape dtype must be DT_INT32 or DT_INT64")?;
    let dims = c.input("x")?.size();
    Ok(vec![Tensor::from_slice(&dims).to_kind(dt.kind())])
}

fn reshape(c: &KCtx) -> Result<Vec<Tensor>, String> {
    if c.int("axis")? != 0 || c.int("num_axes")? != -1 {
        return Err("Reshape with axis/num_axes other than 0/-1 is not supported".into());
    }
    let shape = int_values(c.input("shape")?)?;
    let x = c.input("x")?;
    if shape.iter().filter(|&&d| d == -1).count() > 1 || shape.iter().any(|&d| d < -1) {
        return Err(format!("bad shape {shape:?}"));
    }
    let known: i64 = shape.iter().filter(|&&d| d >= 0).product();
    let total = x.numel() as i64;
    let ok = if shape.contains(&-1) {
        known > 0 && total % known == 0
    } else {
        known == total
    };
    if !ok {
        return Err(format!("cannot reshape {:?} to {shape:?}", x.size()));
    }
    Ok(vec![x.reshape(shape.as_slice())])
}

fn transpose(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let perm = int_values(c.input("perm")?)?;
    let rank = x.dim() as i64;
    let mut sorted: Vec<i64> = perm.iter().map(|&p| norm_dim(p, rank)).collect();
    let perm_n = sorted.clone();
    sorted.sort();
    if sorted != (0..rank).collect::<Vec<_>>() {
        return Err(format!("perm {perm:?} is not a permutation of rank {rank}"));
    }
    Ok(vec![x.permute(perm_n.as_slice()).contiguous()])
}

fn unsqueeze(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let mut x = c.input("x")?.shallow_clone();
    let axes = c.ints("axes")?;
    let out_rank = x.dim() as i64 + axes.len() as i64;
    let mut a: Vec<i64> = axes.iter().map(|&d| norm_dim(d, out_rank)).collect();
    a.sort();
    for d in a {
        if d < 0 || d > x.dim() as i64 {
            return Err(format!("axis {d} out of range"));
        }
        x = x.unsqueeze(d);
    }
    Ok(vec![x])
}

fn squeeze(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let axes = c.ints("axis")?;
    let shape = x.size();
    let rank = shape.len() as i64;
    let axes: Vec<i64> = if axes.is_empty() {
        (0..rank).filter(|&d| shape[d as usize] == 1).collect()
    } else {
        axes.iter().map(|&d| norm_dim(d, rank)).collect()
    };
    let mut out = vec![];
    for (i, s) in shape.iter().enumerate() {
        if axes.contains(&(i as i64)) {
            if *s != 1 {
                return Err(format!("cannot squeeze dim {i} of size {s}"));
            }
        } else {
            out.push(*s);
        }
    }
    Ok(vec![x.reshape(out.as_slice())])
}

fn concat_v2(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let xs = c.dynamic("x");
    if xs.len() as i64 != c.int("N")? {
        return Err(format!("N={} but {} inputs", c.int("N")?, xs.len()));
    }
    let first = xs.first().ok_or("no inputs")?;
    if xs.iter().any(|t| t.kind() != first.kind()) {
        return Err("inputs have different dtypes".into());
    }
    let dim = int_values(c.input("concat_dim")?)?;
    let [dim] = dim.as_slice() else {
        return Err("concat_dim must hold one value".into());
    };
    Ok(vec![Tensor::cat(&xs, *dim)])
}

/// StridedSliceV2 with explicit axes (masks must be 0): x[begin:end:stride] along each axis.
fn strided_slice_v2(c: &KCtx) -> Result<Vec<Tensor>, String> {
    for m in [
        "begin_mask",
        "end_mask",
        "ellipsis_mask",
        "new_axis_mask",
        "shrink_axis_mask",
    ] {
        if c.int(m)? != 0 {
            return Err(format!("{m} != 0 is not supported by the runner"));
        }
    }
    let x = c.input("x")?;
    let rank = x.dim() as i64;
    let begin = int_values(c.input("begin")?)?;
    let end = int_values(c.input("end")?)?;
    let axes = match c.opt("axes") {
        Some(a) => int_values(a)?,
        None => (0..begin.len() as i64).collect(),
    };
    let strides = match c.opt("strides") {
        Some(s) => int_values(s)?,
        None => vec![1; begin.len()],
    };
    if begin.len() != axes.len() || end.len() != axes.len() || strides.len() != axes.len() {
        return Err("begin/end/axes/strides differ in length".into());
    }
    let mut y = x.shallow_clone();
    for i in 0..axes.len() {
        let axis = norm_dim(axes[i], rank);
        let size = x.size()[axis as usize];
        if strides[i] <= 0 {
            return Err("only positive strides are supported by the runner".into());
        }
        let clamp = |v: i64| (if v < 0 { v + size } else { v }).clamp(0, size);
        let (b, e) = (clamp(begin[i]), clamp(end[i]));
        y = y.slice(axis, b, e.max(b), strides[i]);
    }
    Ok(vec![y.contiguous()])
}

/// `ExpandDims`: x with a new dim of size 1 at `axis` (one value, -1 is the new last dim).
fn expand_dims(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let axis = int_values(c.input("axis")?)?;
    let [a] = axis.as_slice() else {
        return Err("axis must hold one value".into());
    };
    let rank = x.dim() as i64 + 1;
    let d = norm_dim(*a, rank);
    if d < 0 || d >= rank {
        return Err(format!("axis {a} out of range for rank {rank}"));
    }
    Ok(vec![x.unsqueeze(d)])
}

/// `FlattenV2`: dims `axis`..=`end_axis` merged into one.
fn flatten_v2(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let rank = (x.dim() as i64).max(1);
    let (a, e) = (
        norm_dim(c.int("axis")?, rank),
        norm_dim(c.int("end_axis")?, rank),
    );
    if a < 0 || e >= rank || a > e {
        return Err(format!(
            "axis {a}..end_axis {e} is not a dim range of rank {rank}"
        ));
    }
    Ok(vec![super::tc(x.f_flatten(a, e))?])
}

/// `AsStrided`: the view of x's (contiguous) elements with `size`, `stride` and
/// `storage_offset`, copied out; every element it reads must lie inside x.
fn as_strided(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?.contiguous();
    let size = int_values(c.input("size")?)?;
    let stride = int_values(c.input("stride")?)?;
    let off = int_values(c.input("storage_offset")?)?;
    let [off] = off.as_slice() else {
        return Err("storage_offset must hold one value".into());
    };
    if size.len() != stride.len() || size.iter().chain(&stride).any(|&v| v < 0) || *off < 0 {
        return Err(format!(
            "size {size:?}, stride {stride:?}, storage_offset {off}: sizes and strides must pair up, none negative"
        ));
    }
    let last = size
        .iter()
        .zip(&stride)
        .try_fold(*off, |acc, (s, t)| {
            if *s == 0 {
                Some(acc)
            } else {
                (s - 1).checked_mul(*t).and_then(|v| acc.checked_add(v))
            }
        })
        .ok_or("size and stride overflow")?;
    if size.iter().all(|&s| s > 0) && last >= x.numel() as i64 {
        return Err(format!(
            "reads element {last}, past x's {} elements",
            x.numel()
        ));
    }
    Ok(vec![super::tc(x.f_as_strided(
        size.as_slice(),
        stride.as_slice(),
        Some(*off),
    ))?
    .contiguous()])
}

/// [start, limit) by delta. Each 0-D input has its own type list (TorchAir feeds INT32 start and
/// delta with an INT64 limit); the output has the inputs' promoted dtype.
fn range(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (s, l, d) = (c.input("start")?, c.input("limit")?, c.input("delta")?);
    if s.numel() != 1 || l.numel() != 1 || d.numel() != 1 {
        return Err("Range inputs must be scalars".into());
    }
    let kind = super::promote(super::promote(s.kind(), l.kind()), d.kind());
    let opts = (kind, tch::Device::Cpu);
    let y = if matches!(kind, tch::Kind::Int64 | tch::Kind::Int) {
        let (a, b, k) = (s.int64_value(&[]), l.int64_value(&[]), d.int64_value(&[]));
        if k == 0 {
            return Err("Range delta is 0".into());
        }
        Tensor::arange_start_step(a, b, k, opts)
    } else {
        let (a, b, k) = (
            s.double_value(&[]),
            l.double_value(&[]),
            d.double_value(&[]),
        );
        if k == 0.0 {
            return Err("Range delta is 0".into());
        }
        Tensor::arange_start_step(a, b, k, opts)
    };
    Ok(vec![y])
}
