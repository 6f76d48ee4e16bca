//! The walk with `--weights lazy`: the module's parameters and buffers are meta tensors (shapes
//! and dtypes, no bytes). An op with a meta input runs on the meta device (the CPU tensors it
//! also takes are moved there: shapes only), so everything computed from a weight is a meta
//! tensor too, and the lowering rules see the shapes and dtypes they need. An op that needs a
//! value (`.item()`, a branch on a tensor, a data-dependent size, a constant fold) gets the
//! weights it reads from the archive when they are small ([`LOAD_LIMIT`] in all) and none of
//! its meta inputs was computed; otherwise the export ends with an error naming the op, its
//! line and the fix.
use super::{site, Walker};
use crate::error::{Error, Result};
use crate::load::Node;
use crate::value::{Origin, TensorValue, Value};
use std::rc::Rc;

/// Weights the lazy walk reads for an op that needs their values, at most this many bytes per op.
pub const LOAD_LIMIT: u64 = 64 << 20;

pub fn has_meta(v: &Value) -> bool {
    v.tensors().iter().any(|t| crate::load::is_meta(&t.tensor))
}

/// `v` with every tensor moved to the meta device (shapes only).
fn to_meta(v: &Value) -> std::result::Result<Value, String> {
    Ok(match v {
        Value::Tensor(t) => Value::Tensor(TensorValue {
            tensor: Rc::new(crate::load::to_meta(&t.tensor)?),
            origin: t.origin.clone(),
            probe: None,
            far: None,
        }),
        Value::List(items) => Value::List(
            items
                .iter()
                .map(to_meta)
                .collect::<std::result::Result<_, _>>()?,
        ),
        Value::Tuple(items) => Value::Tuple(
            items
                .iter()
                .map(to_meta)
                .collect::<std::result::Result<_, _>>()?,
        ),
        Value::Dict(items) => Value::Dict(
            items
                .iter()
                .map(|(k, x)| Ok((k.clone(), to_meta(x)?)))
                .collect::<std::result::Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// `v` with each meta weight replaced by its value (read from the archive, once per walk).
fn with_values(w: &mut Walker, v: &Value) -> Result<Value> {
    Ok(match v {
        Value::Tensor(t) if crate::load::is_meta(&t.tensor) => {
            let Origin::Weight(path) = &t.origin else {
                return Ok(v.clone());
            };
            let tensor = match w.loaded.get(path) {
                Some(x) => x.clone(),
                None => {
                    let archive = w.m.archive.as_ref().expect("lazy walk has an archive");
                    let x = Rc::new(archive.load_tensor(path)?);
                    w.loaded.insert(path.clone(), x.clone());
                    x
                }
            };
            Value::Tensor(TensorValue {
                tensor,
                origin: t.origin.clone(),
                probe: None,
                far: None,
            })
        }
        Value::List(items) => Value::List(
            items
                .iter()
                .map(|i| with_values(w, i))
                .collect::<Result<_>>()?,
        ),
        Value::Tuple(items) => Value::Tuple(
            items
                .iter()
                .map(|i| with_values(w, i))
                .collect::<Result<_>>()?,
        ),
        other => other.clone(),
    })
}

/// The meta weights among `inputs` whose values could be read for an op (each in the archive,
/// all together within [`LOAD_LIMIT`]); None when a meta input is not a weight (it was
/// computed) or they are too large.
fn loadable(w: &Walker, inputs: &[Value]) -> Option<u64> {
    let archive = w.m.archive.as_ref()?;
    let mut bytes = 0;
    for t in inputs.iter().flat_map(|v| v.tensors()) {
        if !crate::load::is_meta(&t.tensor) {
            continue;
        }
        let Origin::Weight(path) = &t.origin else {
            return None;
        };
        bytes += archive.get(path)?.nbytes();
    }
    (bytes <= LOAD_LIMIT).then_some(bytes)
}

/// Runs a node with a meta input: on the meta device; if that cannot give its result, with
/// the values of the (small) weights it reads; else a clear error.
pub fn exec(w: &mut Walker, n: &Node, inputs: &[Value]) -> Result<Vec<Value>> {
    let meta: Vec<Value> = inputs
        .iter()
        .map(to_meta)
        .collect::<std::result::Result<_, _>>()
        .map_err(Error::Run)?;
    let failure = match w.m.exec(n.index, &meta) {
        Ok(outs) => return Ok(outs),
        Err(e) => e,
    };
    if loadable(w, inputs).is_some() {
        let real: Vec<Value> = inputs
            .iter()
            .map(|v| with_values(w, v))
            .collect::<Result<_>>()?;
        if !real.iter().any(has_meta) {
            return w.exec(n, &real);
        }
    }
    Err(Error::Model(format!(
        "{} ({}) needs the values of tensors computed from the model's weights, and --weights lazy \
         reads only their shapes (libtorch on the meta device: {}). fix: export with --weights memory \
         on a machine with enough memory for the weights",
        site(n),
        n.op_name(),
        crate::load::short_torch_message(&failure)
    )))
}
