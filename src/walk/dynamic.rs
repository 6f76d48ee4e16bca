//! Dynamic dims (`dynamic=true`): which input dims are dynamic, the probe inputs, and how the
//! walk tracks what depends on them.
//!
//! The walk runs every op three times: on the sample inputs, on the *probe* inputs (the same
//! inputs grown by one along every dynamic dim, by repeating their last slice, so token ids and
//! masks stay valid) and on the *far probe* inputs (grown by [`FAR`]). A tensor dim that differs
//! between the sample and either probe is dynamic (`-1` in descs). Two probes because one growth
//! alone can collide: a stride-2 conv maps 8 and 9 to the same size, so with the near probe only
//! its output dim would look static; growing by `FAR` changes every dim that a stride (or a
//! floor/ceil division) up to `FAR` computes, and growing by one every remainder. An int computed
//! from a dynamic dim (`aten::size`, `aten::numel`, `aten::Int` of a tensor computed in the graph,
//! arithmetic on those) becomes a `Value::SymInt` that remembers how it was computed, so lowering
//! can emit that computation instead of a constant; a bool computed from one becomes a
//! `Value::SymBool`, and a branch on it is a guard on the dynamic dim.
//!
//! Before the walk, `settle` finds the dims the model itself fixes (e.g. adding a parameter of
//! fixed shape): forward run by libtorch fails when they change, so they are exported static and
//! the user is told.
use crate::error::{Error, Result};
use crate::load::Node;
use crate::value::{BinOp, Origin, Sym, SymInt, TensorValue, Value};
use std::collections::BTreeMap;
use std::rc::Rc;

/// An input dim: (index among forward's arguments after self, dim).
pub type InputDim = (usize, usize);

/// The input dims asked to be dynamic: every dim of every tensor input, except where
/// `only` (forward argument name → dims) says otherwise, and a note for each dim left static
/// because its sample size is 0 or 1 (as torch.export specialises them: a size-1 dim broadcasts
/// and squeezes unlike any other size). A dim named in `only` stays requested whatever its size.
pub fn requested_dims(
    names: &[String],
    inputs: &[Value],
    only: &BTreeMap<String, Vec<i64>>,
) -> Result<(Vec<InputDim>, Vec<String>)> {
    let mut notes = vec![];
    for name in only.keys() {
        if !names.iter().any(|n| n == name) {
            return Err(Error::Input(format!(
                "--dynamic-dims names '{name}', but forward's arguments are ({}); fix: use one of those names",
                names.join(", ")
            )));
        }
    }
    let mut out = vec![];
    for (i, (name, v)) in names.iter().zip(inputs).enumerate() {
        let Some(t) = v.as_tensor() else {
            if only.contains_key(name) {
                return Err(Error::Input(format!(
                    "--dynamic-dims names '{name}', which is a {} input, not a tensor; fix: name a tensor input",
                    v.kind_name()
                )));
            }
            continue;
        };
        let rank = t.tensor.dim() as i64;
        match only.get(name) {
            None => {
                for d in 0..rank as usize {
                    let size = t.tensor.size()[d];
                    if size <= 1 {
                        notes.push(format!(
                            "'{name}' dim {d} has size {size} in the sample; exported as static {size} \
                             (a size-0/1 dim broadcasts and squeezes unlike other sizes, so it is \
                             specialised, as torch.export does); fix: name it in --dynamic-dims \
                             ({name}={d}) or give a sample where it is larger"
                        ));
                    } else {
                        out.push((i, d));
                    }
                }
            }
            Some(dims) => {
                for &d in dims {
                    let n = if d < 0 { d + rank } else { d };
                    if !(0..rank).contains(&n) {
                        return Err(Error::Input(format!(
                            "--dynamic-dims {name}={d}: '{name}' has rank {rank}; fix: give dims in 0..{rank}"
                        )));
                    }
                    if !out.contains(&(i, n as usize)) {
                        out.push((i, n as usize));
                    }
                }
            }
        }
    }
    Ok((out, notes))
}

/// `t` grown by one along each of `dims`, repeating its last slice.
pub fn grow(t: &tch::Tensor, dims: &[usize]) -> tch::Tensor {
    let mut y = t.shallow_clone();
    for &d in dims {
        let size = y.size()[d];
        let last = y.narrow(d as i64, size - 1, 1);
        y = tch::Tensor::cat(&[&y, &last], d as i64);
    }
    y
}

/// How much the far probe grows each dynamic dim: no stride, pool window or floor/ceil division
/// up to this size maps the sample's size and the far probe's to the same output size. When
/// forward fails at that size (a position table of 32 with a sample of 8), `settle` halves it
/// until forward runs, and says so.
pub const FAR: usize = 32;

/// The inputs with `dims` grown by one (non-tensor inputs unchanged).
pub fn probe_values(inputs: &[Value], dims: &[InputDim]) -> Vec<Value> {
    grown_by(inputs, dims, 1)
}

/// The inputs with `dims` grown by `far` (what `settle` chose, at most [`FAR`]).
pub fn far_values(inputs: &[Value], dims: &[InputDim], far: usize) -> Vec<Value> {
    grown_by(inputs, dims, far)
}

/// The inputs with each of `dims` grown by `k` (repeating the last slice).
pub fn grown_by(inputs: &[Value], dims: &[InputDim], k: usize) -> Vec<Value> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Tensor(t) => {
                let ds: Vec<usize> = dims.iter().filter(|x| x.0 == i).map(|x| x.1).collect();
                if ds.is_empty() {
                    v.clone()
                } else {
                    let mut g = t.tensor.shallow_clone();
                    for _ in 0..k {
                        g = grow(&g, &ds);
                    }
                    Value::Tensor(TensorValue::new(g, Origin::Constant))
                }
            }
            other => other.clone(),
        })
        .collect()
}

/// The usual oracle of `settle`: forward of the loaded module `m` (its own weights) on the
/// inputs with `set` grown by `by`; and whether that run changed the module's state.
pub fn module_runs(
    m: &crate::load::Module,
    inputs: &[Value],
    set: &[InputDim],
    by: usize,
) -> Result<(std::result::Result<(), String>, bool)> {
    m.forward_runs(&grown_by(inputs, set, by))
        .map_err(|e| Error::Run(format!("cannot run forward on the probe inputs: {e}")))
}

/// What `settle` found.
pub struct Settled {
    /// The dims that stay dynamic.
    pub dims: Vec<InputDim>,
    /// A note for each dim the model fixes (and for a far probe smaller than [`FAR`]).
    pub notes: Vec<String>,
    /// How much the far probe grows the dynamic dims.
    pub far: usize,
}

/// Finds which requested dims can vary: `runs(set, by)` (forward with the dims in `set` grown
/// by `by`; for multi-card exports, the walk of every rank with probes grown by 1 and `by`)
/// must succeed. Returns the dims that stay dynamic, a note for each dim the model fixes, and
/// how far the far probe can grow them.
pub fn settle(
    names: &[String],
    inputs: &[Value],
    convolves: bool,
    requested: Vec<InputDim>,
    runs: impl FnMut(&[InputDim], usize) -> Result<std::result::Result<(), String>>,
) -> Result<Settled> {
    let (dims, mut notes, mut runs) = settle_near(names, inputs, requested, runs)?;
    if dims.is_empty() {
        return Ok(Settled {
            dims,
            notes,
            far: FAR,
        });
    }
    // The far probe: the largest growth (FAR, FAR/2, ..., 2) forward runs at, and that keeps the
    // probe's inputs small enough to run quickly (see `far_cap`).
    let mut far = far_cap(inputs, &dims, convolves);
    let start = far;
    if far < FAR {
        notes.push(format!(
            "the second probe grows the dynamic dims by {far} only (by {FAR} an input would \
             hold more than {FAR_GROWTH} times its sample's elements, and more than \
             {MAX_FAR_ELEMENTS}, or a convolution's inputs would have volumes whose product \
             exceeds {JOINT_FAR_VOLUME}): a size that a stride or a division above {far} computes may \
             be taken as static (`torch2air verify --dynamic` checks other sizes)"
        ));
    }
    let mut first_err = None;
    while far > 1 {
        match runs(&dims, far)? {
            Ok(()) => break,
            Err(e) => {
                first_err.get_or_insert(e);
                far /= 2;
            }
        }
    }
    if let Some(e) = first_err {
        notes.push(format!(
            "forward fails with the dynamic dims {start} larger ({}), so the second probe grows them by {far} only: a size that a stride or a division above {far} computes may be taken as static (`torch2air verify --dynamic` checks other sizes)",
            first_line(&e)
        ));
    }
    Ok(Settled { dims, notes, far })
}

/// How many times its sample's elements one far probe input may hold (when above
/// [`MAX_FAR_ELEMENTS`]).
pub const FAR_GROWTH: i64 = 4096;
/// A far probe input of up to this many elements is always allowed.
pub const MAX_FAR_ELEMENTS: i64 = 1 << 21;
/// The largest product of the volumes (last three dims) of two or more far probe inputs of rank 4
/// or more, not all of one shape, with three or more dynamic dims each, in a graph with a
/// convolution.
pub const JOINT_FAR_VOLUME: f64 = (1u64 << 28) as f64;

/// The far probe's growth before forward is tried: [`FAR`], halved while one of the grown inputs
/// would hold more than [`FAR_GROWTH`] times its sample's elements and more than
/// [`MAX_FAR_ELEMENTS`], or (a graph with a convolution: `convolves`) two or more inputs with
/// three or more dynamic dims would have volumes whose product exceeds [`JOINT_FAR_VOLUME`]. Growing every dim of a small 5-D input and weight by 32 multiplies
/// their elements by 10^5 and a 3-D transposed conv's work by far more, where a 4-D image or a
/// [batch, sequence, hidden] state grows by a factor of thousands at most.
pub fn far_cap(inputs: &[Value], dims: &[InputDim], convolves: bool) -> usize {
    // In a graph that convolves, two inputs of rank 4 or more, not of one shape, with three or
    // more dynamic dims each (a 3-D conv's input and its weight): an op's work can grow with the product of their volumes
    // (the last three dims, grown), where each alone stays small: a transposed conv's column
    // buffer is kernel volume × input volume. Operands of one shape (an elementwise op) grow its
    // work by their sum only.
    let volumetric: Vec<(usize, Vec<i64>)> = inputs
        .iter()
        .enumerate()
        .filter_map(|(i, v)| Some((i, v.as_tensor()?.tensor.size())))
        .filter(|(i, s)| s.len() >= 4 && dims.iter().filter(|(j, _)| j == i).count() >= 3)
        .collect();
    let one_shape = volumetric.windows(2).all(|w| w[0].1 == w[1].1);
    let joint_volume = |k: i64| -> f64 {
        if !convolves || volumetric.len() < 2 || one_shape {
            return 0.0;
        }
        volumetric
            .iter()
            .map(|(i, size)| {
                (size.len() - 3..size.len())
                    .map(|d| (size[d] + if dims.contains(&(*i, d)) { k } else { 0 }) as f64)
                    .product::<f64>()
            })
            .product()
    };
    let too_big = |k: i64| -> bool {
        inputs
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((i, v.as_tensor()?)))
            .any(|(i, t)| {
                let size = t.tensor.size();
                let sample = size.iter().product::<i64>().max(1);
                let grown: i64 = size
                    .iter()
                    .enumerate()
                    .map(|(d, &s)| if dims.contains(&(i, d)) { s + k } else { s })
                    .product();
                grown > MAX_FAR_ELEMENTS && grown > sample.saturating_mul(FAR_GROWTH)
            })
            || joint_volume(k) > JOINT_FAR_VOLUME
    };
    let mut far = FAR;
    while far > 2 && too_big(far as i64) {
        far /= 2;
    }
    far
}

/// Whether the graph (or a block in it) calls a convolution.
pub fn convolves(b: &crate::load::ir::Block) -> bool {
    b.nodes.iter().any(|n| {
        let op = n.op_name();
        op.starts_with("aten::conv")
            || op.starts_with("aten::_convolution")
            || n.blocks.iter().any(convolves)
    })
}

/// `settle`'s first part: which dims forward runs with, each grown by one.
#[allow(clippy::type_complexity)]
fn settle_near<F>(
    names: &[String],
    inputs: &[Value],
    requested: Vec<InputDim>,
    mut runs_by: F,
) -> Result<(Vec<InputDim>, Vec<String>, F)>
where
    F: FnMut(&[InputDim], usize) -> Result<std::result::Result<(), String>>,
{
    let mut runs = |set: &[InputDim]| runs_by(set, 1);
    let mut notes = vec![];
    let size = |(i, d): InputDim| {
        inputs[i]
            .as_tensor()
            .map(|t| t.tensor.size()[d])
            .unwrap_or(0)
    };
    let label = |(i, d): InputDim| format!("'{}' dim {d}", names[i]);
    let (mut dims, empty): (Vec<InputDim>, Vec<InputDim>) =
        requested.into_iter().partition(|&x| size(x) > 0);
    for x in empty {
        notes.push(format!(
            "{} has size 0 in the sample, so torch2air cannot tell how the model uses it; exported as static 0",
            label(x)
        ));
    }
    if dims.is_empty() || runs(&dims)?.is_ok() {
        return Ok((dims, notes, runs_by));
    }
    // Dims of equal sample size are likely the same symbol (batch of x and of its mask): try
    // them together, and find which ones the model fixes.
    let mut groups: BTreeMap<i64, Vec<InputDim>> = BTreeMap::new();
    for &x in &dims {
        groups.entry(size(x)).or_default().push(x);
    }
    let mut keep = vec![];
    for (s, mut group) in groups {
        loop {
            let err = match runs(&group)? {
                Ok(()) => break,
                Err(e) => e,
            };
            // One dim whose removal makes the rest work: the model fixes that one.
            let mut fixed = None;
            for k in 0..group.len() {
                let mut rest = group.clone();
                let x = rest.remove(k);
                if !rest.is_empty() && runs(&rest)?.is_ok() {
                    fixed = Some(vec![x]);
                    break;
                }
            }
            let fixed = match fixed {
                Some(f) => f,
                None => {
                    // Else every dim that cannot change on its own, or all of them.
                    let mut alone = vec![];
                    for &x in &group {
                        if runs(&[x])?.is_err() {
                            alone.push(x);
                        }
                    }
                    if alone.is_empty() {
                        group.clone()
                    } else {
                        alone
                    }
                }
            };
            for x in &fixed {
                notes.push(format!(
                    "{} is fixed at {s} by the model (at {}: {}); exported as static",
                    label(*x),
                    s + 1,
                    first_line(&err)
                ));
            }
            group.retain(|x| !fixed.contains(x));
            if group.is_empty() {
                break;
            }
        }
        if !group.is_empty() {
            keep.push((s, group));
        }
    }
    dims = keep.iter().flat_map(|(_, g)| g.clone()).collect();
    dims.sort();
    if !dims.is_empty() && runs(&dims)?.is_err() {
        // Each group runs grown on its own but not all together (`x.view(5, -1)` of a [50, 5]:
        // 51x5 and 50x6 divide by 5, 51x6 does not): keep the groups that run together, the
        // groups of more dims first, then of larger sample sizes, and pin the others.
        keep.sort_by_key(|(s, g)| std::cmp::Reverse((g.len(), *s)));
        let mut kept: Vec<InputDim> = vec![];
        for (s, group) in keep {
            let trial: Vec<InputDim> = kept.iter().chain(&group).copied().collect();
            match runs(&trial)? {
                Ok(()) => kept = trial,
                Err(e) => {
                    let with: Vec<String> = kept.iter().map(|&x| label(x)).collect();
                    for x in group {
                        notes.push(format!(
                            "{} is fixed at {s}: it can grow on its own, but not together with {} \
                             (forward fails: {}); exported as static; fix: choose the dynamic \
                             dims with --dynamic-dims",
                            label(x),
                            with.join(", "),
                            first_line(&e)
                        ));
                    }
                }
            }
        }
        kept.sort();
        dims = kept;
    }
    Ok((dims, notes, runs_by))
}

fn first_line(s: &str) -> String {
    let s = s.trim_start_matches("TorchScript forward failed: ");
    s.lines().next().unwrap_or_default().to_string()
}

/// Pairs each output with its probe twins: tensors get their probes, ints/bools computed from
/// dynamic dims become symbolic. A float computed from a dynamic dim is baked in: its note goes
/// to `guards`.
pub fn attach_probes(
    n: &Node,
    inputs: &[Value],
    outs: Vec<Value>,
    probe_outs: Vec<Value>,
    far_outs: Vec<Value>,
    guards: &mut Vec<String>,
) -> Vec<Value> {
    let kind = n.kind.as_str();
    if kind == "aten::size" && inputs.len() == 1 {
        // The whole size list: one entry per dim.
        if let (Some(t), Some(Value::List(v)), Some(Value::List(p)), Some(Value::List(f))) = (
            inputs[0].as_tensor(),
            outs.first(),
            probe_outs.first(),
            far_outs.first(),
        ) {
            let dyn_dims = t.dynamic_dims();
            let items = v
                .iter()
                .zip(p.iter().zip(f))
                .enumerate()
                .map(
                    |(d, (x, (px, fx)))| match (x.as_int(), px.as_int(), fx.as_int()) {
                        (Some(value), Some(probe), Some(far)) if dyn_dims[d] => {
                            Value::SymInt(Rc::new(SymInt {
                                value,
                                probe,
                                far,
                                sym: Sym::Dim(t.clone(), d),
                            }))
                        }
                        _ => x.clone(),
                    },
                )
                .collect();
            return vec![Value::List(items)];
        }
    }
    outs.into_iter()
        .zip(probe_outs.into_iter().zip(far_outs))
        .map(|(v, (p, f))| attach(kind, inputs, v, p, f, guards))
        .collect()
}

fn attach(
    kind: &str,
    inputs: &[Value],
    v: Value,
    p: Value,
    f: Value,
    guards: &mut Vec<String>,
) -> Value {
    match (v, p, f) {
        (Value::Tensor(mut t), Value::Tensor(pt), Value::Tensor(ft)) => {
            t.probe = Some(pt.tensor);
            t.far = Some(ft.tensor);
            Value::Tensor(t)
        }
        (Value::List(a), Value::List(b), Value::List(c))
            if a.len() == b.len() && a.len() == c.len() =>
        {
            Value::List(
                a.into_iter()
                    .zip(b.into_iter().zip(c))
                    .map(|(x, (y, z))| attach(kind, inputs, x, y, z, guards))
                    .collect(),
            )
        }
        (Value::Tuple(a), Value::Tuple(b), Value::Tuple(c))
            if a.len() == b.len() && a.len() == c.len() =>
        {
            Value::Tuple(
                a.into_iter()
                    .zip(b.into_iter().zip(c))
                    .map(|(x, (y, z))| attach(kind, inputs, x, y, z, guards))
                    .collect(),
            )
        }
        (Value::Int(value), Value::Int(probe), Value::Int(far)) => {
            if let Some(v) = min_max(kind, inputs, [value, probe, far], guards) {
                return v;
            }
            if matches!(kind, "aten::Int" | "aten::IntImplicit") {
                if let Some(s @ Value::SymInt(_)) = inputs.first() {
                    return s.clone();
                }
            }
            match symbolic_int(kind, inputs) {
                Some(sym) => Value::SymInt(Rc::new(SymInt {
                    value,
                    probe,
                    far,
                    sym,
                })),
                None => Value::Int(value),
            }
        }
        (Value::Bool(b), Value::Bool(q), Value::Bool(r)) if depends(kind, inputs) => {
            if same_sizes(kind, inputs) {
                // Sizes equal at the sample and at both probes are taken as the same expression
                // of the dynamic dims, so the comparison holds at every size (affine sizes that
                // agree at two points agree everywhere; the far probe, a stride away, tells
                // floor(n/2) from n/2-like pieces that agree at n and n+1).
                return Value::Bool(b);
            }
            Value::SymBool(b, q, r)
        }
        (Value::Float(f), Value::Float(_), Value::Float(_)) if depends(kind, inputs) => {
            guards.push(format!(
                "{f} (a float computed from a dynamic dim, baked in)"
            ));
            Value::Float(f)
        }
        (v, _, _) => v,
    }
}

/// `a == b` / `a != b` of ints or int lists (sizes) whose every pair is equal at the sample and
/// at both probes.
fn same_sizes(kind: &str, inputs: &[Value]) -> bool {
    let base = kind.split('.').next().unwrap_or(kind);
    if !matches!(base, "aten::eq" | "aten::ne") || inputs.len() != 2 {
        return false;
    }
    let pair = |v: &Value| match v {
        Value::SymInt(s) => Some((s.value, s.probe, s.far)),
        Value::Int(i) => Some((*i, *i, *i)),
        _ => None,
    };
    let items = |v: &Value| match v {
        Value::List(l) => l.iter().map(pair).collect::<Option<Vec<_>>>(),
        v => pair(v).map(|p| vec![p]),
    };
    match (items(&inputs[0]), items(&inputs[1])) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `max`/`min` of ints where one depends on a dynamic dim: a piecewise choice, so it is
/// specialised like a branch: the operand the sample (and the probe) picked, with a guard. When
/// the two pick differently the choice stays in the graph (`Maximum`/`Minimum`).
fn min_max(kind: &str, inputs: &[Value], at: [i64; 3], guards: &mut Vec<String>) -> Option<Value> {
    let value = at[0];
    let op = match kind.split('.').next() {
        Some("prim::max") => "max",
        Some("prim::min") => "min",
        _ => return None,
    };
    if inputs.len() != 2 || !inputs.iter().any(Value::is_symbolic) {
        return None;
    }
    let triple = |v: &Value| match v {
        Value::SymInt(s) => Some([s.value, s.probe, s.far]),
        Value::Int(i) => Some([*i; 3]),
        _ => None,
    };
    let (a, b) = (triple(&inputs[0])?, triple(&inputs[1])?);
    // Which operand each of the sample and the two probes picked.
    let k: Vec<usize> = (0..3).map(|j| if a[j] == at[j] { 0 } else { 1 }).collect();
    if k.iter().any(|&x| x != k[0]) || a[0] == b[0] {
        return None;
    }
    let k = k[0];
    guards.push(format!(
        "{op}(...) = its {} operand ({value}); sizes where the other operand is the {op} need another export",
        if k == 0 { "first" } else { "second" }
    ));
    let _ = b;
    Some(match &inputs[k] {
        s @ Value::SymInt(_) => s.clone(),
        _ => Value::Int(value),
    })
}

/// Ops that read a tensor's value into a Python scalar.
fn is_item(kind: &str) -> bool {
    matches!(
        kind,
        "aten::Int"
            | "aten::IntImplicit"
            | "aten::ScalarImplicit"
            | "aten::item"
            | "aten::Float"
            | "aten::FloatImplicit"
            | "aten::Bool"
            | "aten::is_nonzero"
    )
}

/// Whether a scalar result of `kind` depends on a dynamic dim (or on a value computed in the
/// graph, which the graph must then compute too).
fn depends(kind: &str, inputs: &[Value]) -> bool {
    // Identity tests and a list's length never depend on the sizes it holds
    // (`size is not None` of a list of computed sizes).
    let base = kind.split('.').next().unwrap_or(kind);
    if matches!(base, "aten::__is__" | "aten::__isnot__" | "aten::len") {
        return false;
    }
    inputs.iter().any(Value::is_symbolic)
        || (is_item(kind) && graph_tensor(inputs).is_some())
        || (matches!(kind, "aten::size" | "aten::numel")
            && inputs
                .first()
                .and_then(Value::as_tensor)
                .is_some_and(|t| t.dynamic_dims().iter().any(|d| *d)))
}

/// The tensor input of an item-like op, when it is computed in the graph with a probe.
fn graph_tensor(inputs: &[Value]) -> Option<&TensorValue> {
    inputs
        .first()
        .and_then(Value::as_tensor)
        .filter(|t| matches!(t.origin, Origin::Port(_)) && t.probe.is_some())
}

fn symbolic_int(kind: &str, inputs: &[Value]) -> Option<Sym> {
    if !depends(kind, inputs) {
        return None;
    }
    let base = kind.split('.').next().unwrap_or(kind);
    if base == "aten::size" {
        let t = inputs.first()?.as_tensor()?;
        let rank = t.tensor.dim() as i64;
        let d = inputs.get(1)?.as_int()?;
        let d = (if d < 0 { d + rank } else { d }) as usize;
        return t
            .dynamic_dims()
            .get(d)
            .copied()
            .unwrap_or(false)
            .then(|| Sym::Dim(t.clone(), d));
    }
    if base == "aten::numel" {
        let t = inputs.first()?.as_tensor()?;
        let size = t.tensor.size();
        let dyn_dims = t.dynamic_dims();
        let mut acc = Value::Int(1);
        for (d, &s) in size.iter().enumerate() {
            let dim = if dyn_dims[d] {
                let (_, probe, far) = t.dim_triple(d);
                Value::SymInt(Rc::new(SymInt {
                    value: s,
                    probe,
                    far,
                    sym: Sym::Dim(t.clone(), d),
                }))
            } else {
                Value::Int(s)
            };
            acc = mul(acc, dim);
        }
        return match acc {
            Value::SymInt(s) => Some(s.sym.clone()),
            _ => None,
        };
    }
    if is_item(base) {
        return graph_tensor(inputs).map(|t| Sym::Scalar(t.clone()));
    }
    let ints = inputs.len() == 2
        && inputs
            .iter()
            .all(|v| matches!(v, Value::Int(_) | Value::SymInt(_)));
    let bin = |op| {
        Some(Sym::Bin(
            op,
            Box::new(inputs[0].clone()),
            Box::new(inputs[1].clone()),
        ))
    };
    match base {
        "aten::add" | "aten::__iadd__" if ints => bin(BinOp::Add),
        "aten::sub" if ints => bin(BinOp::Sub),
        "aten::mul" if ints => bin(BinOp::Mul),
        "aten::floordiv" | "aten::__floordiv__" if ints => bin(BinOp::FloorDiv),
        "aten::remainder" | "aten::__mod__" if ints => bin(BinOp::Rem),
        "prim::max" if ints => bin(BinOp::Max),
        "prim::min" if ints => bin(BinOp::Min),
        "aten::neg" if inputs.len() == 1 => Some(Sym::Bin(
            BinOp::Sub,
            Box::new(Value::Int(0)),
            Box::new(inputs[0].clone()),
        )),
        _ => Some(Sym::Opaque(kind.to_string())),
    }
}

/// The product of two ints as a value (symbolic when either is).
fn mul(a: Value, b: Value) -> Value {
    match (&a, &b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x * y),
        _ => {
            let (va, pa, fa) = scalar_triple(&a);
            let (vb, pb, fb) = scalar_triple(&b);
            Value::SymInt(Rc::new(SymInt {
                value: va * vb,
                probe: pa * pb,
                far: fa * fb,
                sym: Sym::Bin(BinOp::Mul, Box::new(a), Box::new(b)),
            }))
        }
    }
}

fn scalar_triple(v: &Value) -> (i64, i64, i64) {
    match v {
        Value::SymInt(s) => (s.value, s.probe, s.far),
        other => {
            let x = other.as_int().unwrap_or(0);
            (x, x, x)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(shapes: &[&[i64]]) -> (Vec<Value>, Vec<InputDim>) {
        let mut vals = vec![];
        let mut dims = vec![];
        for (i, s) in shapes.iter().enumerate() {
            let t = tch::Tensor::zeros(*s, (tch::Kind::Float, tch::Device::Cpu));
            vals.push(Value::Tensor(TensorValue::new(t, Origin::Constant)));
            dims.extend((0..s.len()).filter(|&d| s[d] > 1).map(|d| (i, d)));
        }
        (vals, dims)
    }

    #[test]
    fn far_probe_is_capped_by_the_elements_it_would_create() {
        // OpInfo's conv_transpose3d: input [1,3,4,4,4], weight [3,3,3,3,3], bias [3], every dim
        // above 1 dynamic: by 32 the weight alone holds 35^5 = 52 M elements.
        // By 16 it holds 19^5 = 2.5 M; by 8, 11^5 = 161 051.
        let (v, d) = inputs(&[&[1, 3, 4, 4, 4], &[3, 3, 3, 3, 3], &[3]]);
        assert_eq!(far_cap(&v, &d, true), 8);
        // OpInfo's other sample: input [2,2,4,4,4] (by 16: 2.6 M elements, 10^4 times).
        let (v, d) = inputs(&[&[2, 2, 4, 4, 4], &[2, 2, 4, 5, 6], &[4]]);
        assert_eq!(far_cap(&v, &d, true), 8);
        // Images, token batches, hidden states and small 4-D inputs keep the full growth.
        for s in [
            &[1i64, 3, 224, 224][..],
            &[8, 3, 224, 224][..],
            &[2, 8][..],
            &[2, 128, 768][..],
            &[2, 3, 6, 4][..],
        ] {
            let (v, d) = inputs(&[s]);
            assert_eq!(far_cap(&v, &d, true), FAR, "{s:?}");
        }
        // An unbatched input [2,4,4,4] and a weight [2,2,4,5,6] with their spatial dims
        // dynamic: each grows less than 1000 times by 32, but a transposed conv's column buffer
        // holds out-channels × 36·37·38 × 36³ elements (4.7 G, 19 GB); by 16, 2 × 9240 × 8000.
        let v = inputs(&[&[2, 4, 4, 4], &[2, 2, 4, 5, 6]]).0;
        let d = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (1, 4)];
        assert_eq!(far_cap(&v, &d, true), 16);
        // Without a convolution (attention's q, k, v), such inputs keep the full growth.
        assert_eq!(far_cap(&v, &d, false), FAR);
        // One such input alone keeps the full growth (a video clip).
        let v = inputs(&[&[1, 3, 8, 112, 112]]).0;
        assert_eq!(far_cap(&v, &[(0, 0), (0, 2), (0, 3), (0, 4)], true), FAR);
        // No dynamic dim: nothing grows.
        let (v, _) = inputs(&[&[4, 4, 4, 4, 4]]);
        assert_eq!(far_cap(&v, &[], true), FAR);
    }
}
