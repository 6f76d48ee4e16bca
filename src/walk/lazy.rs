//! The walk with `--weights lazy`: the module's parameters and buffers are meta tensors (shapes
//! and dtypes, no bytes). An op with a meta input runs on the meta device (the CPU tensors it
//! also takes are moved there: shapes only), so everything computed from a weight is a meta
//! tensor too, and the lowering rules see the shapes and dtypes they need. An op that needs a
//! value (`.item()`, a branch on a tensor, a data-dependent size, a constant fold) gets the
//! weights it reads from the archive when they are small ([`LOAD_LIMIT`] in all) and none of
//! its meta inputs was computed; otherwise the export ends with an error naming the op, its
//! line and the fix. An op libtorch has no meta kernel for (`index_select`, behind
//! `embedding`: PyTorch's own meta versions of many ops are Python) runs on CPU stand-ins of its
//! meta inputs when its result's shapes follow from its inputs' shapes alone.
use super::{site, Walker};
use crate::error::{Error, Result};
use crate::load::Node;
use crate::value::{Origin, Probe, TensorValue, Value};
use std::rc::Rc;

/// Weights the lazy walk reads for an op that needs their values, at most this many bytes per op.
pub const LOAD_LIMIT: u64 = 64 << 20;

pub fn has_meta(v: &Value) -> bool {
    v.tensors().iter().any(|t| crate::load::is_meta(&t.tensor))
}

/// `v` with every tensor moved to the meta device (shapes only), and the CPU device (which
/// [`as_if_on_cpu`] reports for meta tensors: `x.to(w.device)`) taken as the meta device.
fn to_meta(v: &Value) -> std::result::Result<Value, String> {
    Ok(match v {
        Value::Device(CPU_DEVICE, _) => Value::Device(META_DEVICE, -1),
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

/// libtorch's words for an op that has no kernel for meta tensors (as opposed to one that
/// refuses them because it needs their data). A convolution whose backend libtorch picks by
/// device (a depthwise one: ConvNeXt, SegFormer; wav2vec2's grouped conv1d) has none either.
fn no_meta_kernel(msg: &str) -> bool {
    msg.contains("no fake impl or Meta kernel")
        || msg.contains("from the 'Meta' backend")
        || msg.contains("convolution_overrideable not implemented")
}

/// c10::DeviceType::Meta and ::CPU.
const META_DEVICE: i64 = 14;
const CPU_DEVICE: i64 = 0;

/// What an op run on meta tensors returns, as the model sees it with its weights on the CPU
/// (as `--weights memory` loads them): a model may branch on where its tensors are
/// (nn.MultiheadAttention and nn.TransformerEncoderLayer take their fused fast path only for
/// "cpu" or "cuda" tensors), and the lazy export must take the branch the memory one takes.
fn as_if_on_cpu(n: &Node, outs: Vec<Value>) -> Vec<Value> {
    match n.kind.as_str() {
        "prim::is_meta" => vec![Value::Bool(false)],
        "prim::is_cpu" => vec![Value::Bool(true)],
        _ => outs
            .into_iter()
            .map(|v| match v {
                Value::Device(META_DEVICE, _) => Value::Device(CPU_DEVICE, -1),
                other => other,
            })
            .collect(),
    }
}

/// Whether a node's results are tensors whose shapes follow from its inputs' shapes (and
/// non-tensor arguments) alone, so that running it on stand-in values gives the right shapes.
fn shape_follows_shapes(n: &Node) -> bool {
    const DATA_SHAPED: &[&str] = &[
        "aten::nonzero",
        "aten::nonzero_numpy",
        "aten::argwhere",
        "aten::masked_select",
        "aten::unique",
        "aten::_unique",
        "aten::_unique2",
        "aten::unique_dim",
        "aten::unique_consecutive",
        "aten::bincount",
        "aten::repeat_interleave",
        "aten::histc",
        "aten::histogram",
        "aten::item",
        "aten::_local_scalar_dense",
        "aten::equal",
        "aten::allclose",
    ];
    let op = n.op_name();
    let base = op.split_once('.').map(|(b, _)| b).unwrap_or(op);
    if DATA_SHAPED.contains(&base) || (base == "aten::where" && n.inputs.len() == 1) {
        return false;
    }
    n.outputs.iter().all(|o| {
        !matches!(
            o.ty.as_str(),
            "int" | "float" | "bool" | "complex" | "number" | "Scalar" | "str" | "NoneType"
        ) && !o.ty.starts_with("int[")
            && !o.ty.starts_with("float[")
            && !o.ty.starts_with("bool[")
    })
}

/// `v` with each meta tensor replaced by a CPU tensor of its shape and dtype: uninitialised
/// floats, zero ints and bools (so that indices stay in range).
fn stand_in(v: &Value) -> Value {
    match v {
        Value::Tensor(t) if crate::load::is_meta(&t.tensor) => {
            let kind = t.tensor.kind();
            let size = t.tensor.size();
            let opts = (kind, tch::Device::Cpu);
            let x = if t.tensor.is_floating_point() {
                tch::Tensor::empty(&size, opts)
            } else {
                tch::Tensor::zeros(&size, opts)
            };
            Value::Tensor(TensorValue {
                tensor: Rc::new(x),
                origin: t.origin.clone(),
                probe: None,
                far: None,
            })
        }
        Value::List(items) => Value::List(items.iter().map(stand_in).collect()),
        Value::Tuple(items) => Value::Tuple(items.iter().map(stand_in).collect()),
        other => other.clone(),
    }
}

/// Runs a node with a meta input: on the meta device; if that cannot give its result, with
/// the values of the (small) weights it reads; else a clear error.
/// (`probe`: the inputs are a dynamic walk's probe twins.)
pub fn exec(
    w: &mut Walker,
    n: &Node,
    inputs: &[Value],
    probe: Option<Probe>,
) -> Result<Vec<Value>> {
    let meta: Vec<Value> = inputs
        .iter()
        .map(to_meta)
        .collect::<std::result::Result<_, _>>()
        .map_err(Error::Run)?;
    let failure = match w.m.exec(n.index, &meta) {
        Ok(outs) => return Ok(as_if_on_cpu(n, outs)),
        Err(e) => e,
    };
    if loadable(w, inputs).is_some() {
        let real: Vec<Value> = inputs
            .iter()
            .map(|v| with_values(w, v))
            .collect::<Result<_>>()?;
        if !real.iter().any(has_meta) {
            return w.exec_as(n, &real, probe);
        }
    }
    if shape_follows_shapes(n) {
        // Run it on CPU stand-ins of the meta inputs (uninitialised memory: the pages the kernel
        // never writes are never made resident). Where libtorch has no meta kernel for the op
        // (many are Python-only) their shapes are the result's; where the meta kernel refused
        // the inputs, a failure here too is the op's own (shapes that do not fit), not a value
        // the lazy walk lacks.
        let stand_ins: Vec<Value> = inputs.iter().map(stand_in).collect();
        match w.m.exec(n.index, &stand_ins) {
            Ok(outs) if no_meta_kernel(&failure) => {
                drop(stand_ins);
                return outs
                    .iter()
                    .map(to_meta)
                    .collect::<std::result::Result<_, _>>()
                    .map_err(Error::Run);
            }
            Ok(_) => {}
            // The op fails on inputs of these shapes (an index past a table's end): a probe's
            // failure says the dynamic dims cannot grow there, as in a walk with the weights.
            Err(e) if probe.is_some() => return Err(w.exec_failure(n, &stand_ins, probe, &e)),
            Err(e) => {
                return Err(Error::Run(format!(
                    "{} ({}) fails on inputs of these shapes: {}\n  its inputs were: {}\n  \
                     (--weights lazy ran it on stand-ins of the weights it reads, which stay on the meta device)\n\
                     fix: check that --input gives the dtypes and shapes forward expects, or export with --weights memory",
                    site(n),
                    n.op_name(),
                    crate::load::short_torch_message(&e),
                    inputs.iter().map(super::describe).collect::<Vec<_>>().join(", ")
                )))
            }
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
