//! In-place writes through aliases. TorchScript mutates tensors in place (`z[:, j] = v` is a
//! `slice` then `copy_`/`index_put_` on it); the walker rebinds the mutated value to the op's
//! result, but every *other* value sharing its memory (the base a view was taken from, other
//! views of it) keeps a GE origin that misses the write. Those values are marked stale here, by
//! their concrete tensors' memory, and reading one later is an error instead of a wrong graph.
use crate::value::Value;

/// The byte range a tensor's elements occupy (None for an empty tensor).
fn span(t: &tch::Tensor) -> Option<(usize, usize)> {
    if t.numel() == 0 {
        return None;
    }
    let start = t.data_ptr() as usize;
    let elt = t.kind().elt_size_in_bytes();
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
    Some((begin as usize, end as usize))
}

/// Whether any tensor in `v` shares memory with `target`.
pub fn overlaps(target: &tch::Tensor, v: &Value) -> bool {
    let Some((a0, a1)) = span(target) else {
        return false;
    };
    v.tensors().iter().any(|t| match span(&t.tensor) {
        Some((b0, b1)) => a0 < b1 && b0 < a1,
        None => false,
    })
}
