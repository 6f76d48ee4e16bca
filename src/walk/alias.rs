//! In-place writes through aliases. TorchScript mutates tensors in place (`z[:, j] = v` is a
//! `slice` then `copy_`/`index_put_` on it); the walker rebinds the mutated value to the op's
//! result, and every *other* value sharing its memory (the base a view was taken from, other
//! views of it) is found here by its concrete tensor's memory. Where the write can be expressed
//! (static shapes, same dtype) it is emitted as a scatter into that value (`write_map` gives the
//! positions); otherwise the value is marked stale, and reading it later is an error instead of
//! a wrong graph.
use crate::value::Value;

/// The memory a tensor's elements occupy: (space, first byte, end) (None for an empty tensor).
/// CPU tensors share one address space (0); a meta tensor (`--weights lazy`) has no address,
/// so its storage is its space and its data pointer counts from 0.
fn span(t: &tch::Tensor) -> Option<(u64, usize, usize)> {
    if t.numel() == 0 {
        return None;
    }
    let space = if crate::load::is_meta(t) {
        crate::load::storage_id(t)
    } else {
        0
    };
    let start = t.data_ptr() as usize;
    let elt = elt_size(t);
    let mut lo = 0i64;
    let mut hi = 0i64;
    for (size, stride) in t.size().iter().zip(t.stride()) {
        let reach = (size - 1) * stride;
        if reach < 0 {
            lo += reach;
        } else {
            hi += reach;
        }
    }
    let begin = start as i64 + lo * elt as i64;
    let end = start as i64 + hi * elt as i64 + elt as i64;
    Some((space, begin as usize, end as usize))
}

/// Whether any tensor in `v` shares memory with `target`.
pub fn overlaps(target: &tch::Tensor, v: &Value) -> bool {
    v.tensors()
        .iter()
        .any(|t| overlaps_tensor(target, &t.tensor))
}

/// Whether two tensors' memory overlaps.
pub fn overlaps_tensor(a: &tch::Tensor, b: &tch::Tensor) -> bool {
    match (span(a), span(b)) {
        (Some((sa, a0, a1)), Some((sb, b0, b1))) => sa == sb && a0 < b1 && b0 < a1,
        _ => false,
    }
}

/// Each element's memory offset, in elements, from `origin` (a data pointer), flattened.
fn offsets(t: &tch::Tensor, origin: usize) -> tch::Tensor {
    let elt = elt_size(t);
    let start = ((t.data_ptr() as usize).wrapping_sub(origin) / elt) as i64;
    let size = t.size();
    let mut off = tch::Tensor::full(&size, start, (tch::Kind::Int64, tch::Device::Cpu));
    for (k, (&n, &s)) in size.iter().zip(t.stride().iter()).enumerate() {
        let mut shape = vec![1i64; size.len()];
        shape[k] = n;
        let a = tch::Tensor::arange(n, (tch::Kind::Int64, tch::Device::Cpu)) * s;
        off += a.reshape(&shape);
    }
    off.reshape([-1])
}

/// Where the written tensor `target` lands in `other` (which shares memory with it): the flat
/// indices P of `other`'s elements that `target` covers and, for each, the flat index Q of the
/// `target` element written there. None when the two differ in dtype (a reinterpreting view).
pub fn write_map(target: &tch::Tensor, other: &tch::Tensor) -> Option<(tch::Tensor, tch::Tensor)> {
    if target.kind() != other.kind() || target.numel() == 0 || other.numel() == 0 {
        return None;
    }
    let origin = (target.data_ptr() as usize).min(other.data_ptr() as usize);
    let t_off = offsets(target, origin);
    let o_off = offsets(other, origin);
    let (sorted, order) = t_off.sort(0, false);
    let pos = o_off
        .f_searchsorted(&sorted, false, false, "left", None::<tch::Tensor>)
        .ok()?
        .clamp_max(sorted.size()[0] - 1);
    let hit = sorted.gather(0, &pos, false).eq_tensor(&o_off);
    let p = hit.nonzero().reshape([-1]);
    let q = order.gather(0, &pos, false).masked_select(&hit);
    Some((p, q))
}

/// Bytes per element, also for the scalar types tch has no `Kind` for (an unsupported op's
/// UINT16/32/64 result, e.g. `hash_tensor`'s, is still walked past to list every refusal).
fn elt_size(t: &tch::Tensor) -> usize {
    match t.f_kind() {
        Ok(k) => k.elt_size_in_bytes(),
        // c10::ScalarType: UInt16, UInt32, UInt64; the sub-byte and 8-bit types otherwise.
        Err(tch::TchError::UnknownKind(27)) => 2,
        Err(tch::TchError::UnknownKind(28)) => 4,
        Err(tch::TchError::UnknownKind(29)) => 8,
        Err(_) => 1,
    }
}
