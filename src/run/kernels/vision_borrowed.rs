//! Kernels for the GE ops of `lower/vision_borrowed.rs` (transformer-side ops the vision models
//! need; another helper owns their family, so the lead can dedupe them when merging).
use super::{int_values, same_dtype, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("ZerosLike", |c| Ok(vec![c.input("x")?.zeros_like()]));
    m.insert("MaskedFill", masked_fill);
    m.insert("BroadcastTo", broadcast_to);
    m.insert("LogicalNot", logical_not);
}

type R = Result<Vec<Tensor>, String>;

fn masked_fill(c: &KCtx) -> R {
    let (x, mask, v) = (c.input("x")?, c.input("mask")?, c.input("value")?);
    if mask.kind() != Kind::Bool {
        return Err(format!("mask must be BOOL, got {:?}", mask.kind()));
    }
    same_dtype(x, v)?;
    if v.numel() != 1 {
        return Err(format!("value must hold one element, got {:?}", v.size()));
    }
    let y = x
        .f_masked_fill_tensor(mask, &v.reshape([0i64; 0]))
        .map_err(|e| crate::load::short_torch_message(&e.to_string()))?;
    if y.size() != x.size() {
        return Err(format!(
            "mask {:?} does not broadcast to x {:?}",
            mask.size(),
            x.size()
        ));
    }
    Ok(vec![y])
}

fn broadcast_to(c: &KCtx) -> R {
    let x = c.input("x")?;
    let shape = int_values(c.input("shape")?)?;
    let y = x
        .f_broadcast_to(shape.as_slice())
        .map_err(|e| crate::load::short_torch_message(&e.to_string()))?;
    Ok(vec![y.contiguous()])
}

fn logical_not(c: &KCtx) -> R {
    let x = c.input("x")?;
    if x.kind() != Kind::Bool {
        return Err(format!("x must be BOOL, got {:?}", x.kind()));
    }
    Ok(vec![x.logical_not()])
}
