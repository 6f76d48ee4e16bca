//! In-place writes through views with dynamic shapes, as functionalization puts them back.
//! The walker records, for every tensor a view op made (its result shares memory with its first
//! input), the op and the values it ran on ([`ViewStep`]). When an in-place op writes through a
//! view and the static path (walk/alias.rs: element positions from the concrete tensors' memory)
//! cannot express the write (a dynamic dim), the write goes up the view's chain to its base, one
//! inverse per step:
//! - a view with the same elements in the same memory order (`contiguous`, `alias`, a full
//!   slice): the new value itself;
//! - a reshape-like view (`view`, `reshape`, `flatten`, `unflatten`, `(un)squeeze`): `Reshape`
//!   back to the base's dims (`Shape`-derived where dynamic);
//! - any other view (`slice`, `select`, `narrow`, `transpose`/`permute`, `diagonal`, `split`,
//!   `unfold`, ...): a functional scatter, `TensorScatterUpdate` of the flattened base at the
//!   positions the view covers, which are the view op's own lowering applied to `Range` of the
//!   base's element count reshaped to the base's dims (so they follow dynamic dims at run time);
//!
//! and every other alias of the base is recomputed from the new base by its own view chain (each
//! step's lowering rule again, on the new value) when it is next read, so views never read again
//! add no nodes; a later write through the same base supersedes the earlier one's recompute. A view that reinterprets the memory as another
//! dtype has no functional form: reading a tensor written through one is refused, naming the
//! view op and the write.
use super::{alias, dynamic, site, Walker};
use crate::error::Result;
use crate::ge::In;
use crate::load::Node;
use crate::lower::{self, sym, Ctx};
use crate::value::{Origin, Port, Probe, TensorValue, Value};
use std::collections::HashMap;
use std::rc::Rc;

/// How a tensor value was made from the value it views.
#[derive(Clone)]
pub(super) struct ViewStep {
    /// The id of the value viewed.
    pub parent: u64,
    pub how: How,
}

#[derive(Clone)]
pub(super) enum How {
    /// The same tensor under another name (an in-place op's result).
    Same,
    /// Tensor output `index` (depth first) of a view op.
    Op(Rc<ViewCall>, usize),
}

/// A view op as it ran: the node and the values it took and gave (the concrete tensors share
/// memory with the walker's, so they hold every later write).
pub(super) struct ViewCall {
    node: Rc<Node>,
    inputs: Vec<Value>,
    outputs: Vec<Value>,
    /// (data pointer, sizes, strides) of the viewed tensor when the view was made: the link
    /// holds while the value named `parent` still has them (a loop may rebind the name; an
    /// in-place view op like `t_` changes them).
    parent_geom: Geom,
}

type Geom = (usize, Vec<i64>, Vec<i64>);

/// The new values of a write's chain (the written view up to its base, then every view
/// recomputed from them), or why a value has none; shared by the views still to be recomputed.
pub(super) type Chain = Rc<std::cell::RefCell<HashMap<u64, std::result::Result<Port, String>>>>;

fn geom(t: &tch::Tensor) -> Geom {
    (t.data_ptr() as usize, t.size(), t.stride())
}

/// Reshape-like view ops: the view holds the base's elements in the base's order.
const RESHAPES: &[&str] = &[
    "aten::view",
    "aten::reshape",
    "aten::flatten",
    "aten::unflatten",
    "aten::view_as",
    "aten::reshape_as",
    "aten::unsqueeze",
    "aten::squeeze",
    "aten::ravel",
];

/// In-place ops that change a tensor's shape or strides, not its elements.
const METADATA_WRITES: &[&str] = &[
    "aten::t_",
    "aten::transpose_",
    "aten::swapaxes_",
    "aten::swapdims_",
    "aten::squeeze_",
    "aten::unsqueeze_",
    "aten::as_strided_",
    "aten::resize_",
    "aten::resize_as_",
    "aten::set_",
];

fn base_name(op: &str) -> &str {
    op.split_once('.').map(|(b, _)| b).unwrap_or(op)
}

/// Whether an in-place op changes its tensor's shape or strides (so views recorded of it no
/// longer describe it).
pub(super) fn writes_metadata(op: &str) -> bool {
    METADATA_WRITES.contains(&base_name(op))
}

/// The tensors' element-count-and-order preserving copy of `t`: `arange(numel)` in its shape.
fn positions_like(t: &tch::Tensor) -> tch::Tensor {
    let size = t.size();
    let n: i64 = size.iter().product();
    tch::Tensor::arange(n, (tch::Kind::Int64, tch::Device::Cpu)).reshape(&size)
}

/// A value's tensors, depth first.
fn nth_tensor(v: &[Value], index: usize) -> Option<&TensorValue> {
    v.iter().flat_map(Value::tensors).nth(index)
}

impl<'m> Walker<'m> {
    /// After a node ran: if its result shares memory with its first input (a view op), records
    /// how each such tensor was made, by tensor handle (bound names pick it up in `set`).
    pub(super) fn record_views(&mut self, n: &Node, inputs: &[Value], outs: &[Value]) {
        let (Some(&parent), Some(Value::Tensor(base))) = (n.inputs.first(), inputs.first()) else {
            return;
        };
        let viewing: Vec<usize> = outs
            .iter()
            .flat_map(Value::tensors)
            .enumerate()
            .filter(|(_, t)| alias::overlaps_tensor(&base.tensor, &t.tensor))
            .map(|(i, _)| i)
            .collect();
        if viewing.is_empty() {
            return;
        }
        let call = Rc::new(ViewCall {
            node: Rc::new(n.clone()),
            inputs: inputs.to_vec(),
            outputs: outs.to_vec(),
            parent_geom: geom(&base.tensor),
        });
        let tensors: Vec<&TensorValue> = outs.iter().flat_map(Value::tensors).collect();
        for i in viewing {
            let key = Rc::as_ptr(&tensors[i].tensor);
            self.view_handles.insert(
                key,
                ViewStep {
                    parent,
                    how: How::Op(call.clone(), i),
                },
            );
        }
    }

    /// Binds a name, keeping what is known of it as a view.
    pub(super) fn set(&mut self, id: u64, v: Value) {
        let step = match &v {
            Value::Tensor(t) => self.view_handles.get(&Rc::as_ptr(&t.tensor)).cloned(),
            _ => None,
        };
        match step {
            Some(s) => self.views.insert(id, s),
            None => self.views.remove(&id),
        };
        // A new value under that name: nothing pending or stale about it.
        self.pending.remove(&id);
        self.stale.remove(&id);
        self.env.insert(id, v);
    }

    /// The step that made value `k` from its parent, if the link still holds (both values
    /// still the tensors it was recorded with).
    fn step_of(&self, k: u64) -> Option<ViewStep> {
        let s = self.views.get(&k)?;
        let child = self.env.get(&k)?.as_tensor()?;
        let parent = self.env.get(&s.parent)?.as_tensor()?;
        let holds = match &s.how {
            How::Same => geom(&child.tensor) == geom(&parent.tensor),
            How::Op(call, i) => {
                let out = nth_tensor(&call.outputs, *i)?;
                geom(&parent.tensor) == call.parent_geom && geom(&child.tensor) == geom(&out.tensor)
            }
        };
        holds.then(|| s.clone())
    }

    /// The ports of the values sharing memory with `target` (id `id`) after an in-place op
    /// wrote `written` into it: `target`'s chain of views up to its base, each written back
    /// through its step's inverse. `memo` gets a port (or why there is none) per value on it.
    pub(super) fn write_up(
        &mut self,
        id: u64,
        written: &TensorValue,
        memo: &mut HashMap<u64, std::result::Result<Port, String>>,
    ) -> Result<()> {
        let mut new = lower::port_of(&mut self.b, &mut self.mat, written);
        memo.insert(id, new.clone());
        let mut k = id;
        let mut seen = vec![k];
        while let Some(step) = self.step_of(k) {
            if seen.contains(&step.parent) {
                break;
            }
            let parent = step.parent;
            // Its value must be current before the write goes into it.
            self.force(parent)?;
            new = match (new, self.stale.get(&parent)) {
                (Err(e), _) => Err(e),
                (Ok(_), Some((at, why))) => Err(format!(
                    "the tensor it views was already unreadable after the write at {at} ({why})"
                )),
                (Ok(p), None) => self.invert(k, &step, p)?,
            };
            memo.insert(parent, new.clone());
            seen.push(parent);
            k = parent;
        }
        Ok(())
    }

    /// Value `k`'s port after the write `write_up` put into `memo`: recomputed from the nearest
    /// value of the written chain it is a view of, by its own view steps.
    pub(super) fn recompute(
        &mut self,
        k: u64,
        memo: &mut HashMap<u64, std::result::Result<Port, String>>,
    ) -> Result<std::result::Result<Port, String>> {
        let mut path = vec![];
        let mut at = k;
        while !memo.contains_key(&at) {
            let Some(step) = self.step_of(at) else {
                return Ok(Err(
                    "it shares memory with the written view without being a view of the same tensor \
                     by ops torch2air follows (e.g. it came from an in-place view op such as t_, or \
                     from a loop's previous step)"
                        .into(),
                ));
            };
            if path.iter().any(|(c, _)| *c == at) {
                return Ok(Err("internal: a cycle of views".into()));
            }
            path.push((at, step.clone()));
            at = step.parent;
        }
        for (child, step) in path.into_iter().rev() {
            let from = memo[&step.parent].clone();
            let port = match from {
                Err(e) => Err(e),
                Ok(p) => self.replay(&step, p)?,
            };
            memo.insert(child, port);
        }
        Ok(memo[&k].clone())
    }

    /// `step` applied to the parent's new value `p`: the view op's rule on it (child `k`).
    fn replay(&mut self, step: &ViewStep, p: Port) -> Result<std::result::Result<Port, String>> {
        let How::Op(call, index) = &step.how else {
            return Ok(Ok(p));
        };
        if let Err(e) = same_dtype(call, *index) {
            return Ok(Err(e));
        }
        let mut inputs = call.inputs.clone();
        if let Value::Tensor(t) = &mut inputs[0] {
            t.origin = Origin::Port(p);
        }
        Ok(self
            .lower_node(&call.node, &inputs, &call.outputs)?
            .and_then(|ports| {
                ports
                    .get(*index)
                    .copied()
                    .ok_or_else(|| "internal: a port is missing".into())
            })
            .map_err(|e| {
                format!(
                    "the view {} ({}) cannot be made again from the written tensor: {e}",
                    call.node.op_name(),
                    site(&call.node)
                )
            }))
    }

    /// The parent's new value when its view `k` (made by `step`) became `c`.
    fn invert(
        &mut self,
        k: u64,
        step: &ViewStep,
        c: Port,
    ) -> Result<std::result::Result<Port, String>> {
        let parent = match self.env.get(&step.parent).and_then(Value::as_tensor) {
            Some(t) => t.clone(),
            None => return Ok(Err("internal: the viewed tensor is gone".into())),
        };
        let child = match self.env.get(&k).and_then(Value::as_tensor) {
            Some(t) => t.clone(),
            None => return Ok(Err("internal: the view is gone".into())),
        };
        if matches!(parent.origin, Origin::Unsupported) {
            return Ok(Err(
                "the tensor it views comes from an unsupported op".into()
            ));
        }
        let dt = crate::dtype::of_tensor(&parent.tensor).map_err(crate::error::Error::Run)?;
        let call = match &step.how {
            How::Same => return Ok(Ok(c)),
            How::Op(call, index) => {
                if let Err(e) = same_dtype(call, *index) {
                    return Ok(Err(e));
                }
                call.clone()
            }
        };
        let node = call.node.clone();
        // The new value in the view's dtype (the parent's: a write that casts, as copy_ does).
        let c = self.emit(&node, |cx| cx.cast(c, dt))?;
        let Ok(c) = c else { return Ok(c) };
        let same_shape = |a: &TensorValue, b: &TensorValue| {
            geom(&a.tensor) == geom(&b.tensor)
                && [Probe::Near, Probe::Far]
                    .iter()
                    .all(|&w| a.probe_of(w).map(|t| t.size()) == b.probe_of(w).map(|t| t.size()))
        };
        if same_shape(&child, &parent) {
            return Ok(Ok(c));
        }
        if RESHAPES.contains(&base_name(node.op_name())) || same_order(&child, &parent) {
            let pt = parent.clone();
            return self.emit(&node, |cx| {
                let dims = sym::tensor_dims(cx.b, cx.mat, &pt)?;
                cx.reshape_dims(c, &dims, dt)
            });
        }
        if let Some(perm) = permutation(&child, &parent) {
            // The view is the parent with its dims reordered: Transpose back.
            let mut back = vec![0i64; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                back[p] = i as i64;
            }
            return self.emit(&node, |cx| cx.transpose_const(c, &back, dt));
        }
        self.scatter_into(&call, &step.how, &parent, c, dt)
    }

    /// The parent with the elements its view covers replaced by `c` (the view's new value, in
    /// the parent's dtype): `TensorScatterUpdate` at the positions the view op's own rule picks
    /// from `Range(numel)` in the parent's dims.
    fn scatter_into(
        &mut self,
        call: &Rc<ViewCall>,
        how: &How,
        parent: &TensorValue,
        c: Port,
        dt: crate::dtype::DType,
    ) -> Result<std::result::Result<Port, String>> {
        let How::Op(_, index) = how else {
            return Ok(Ok(c));
        };
        let node = call.node.clone();
        let pt = parent.clone();
        // The positions tensor in the graph: Range(0, numel) reshaped to the parent's dims.
        let made = self.emit(&node, |cx| {
            let dims = sym::tensor_dims(cx.b, cx.mat, &pt)?;
            let mut n = sym::Dim::K(1);
            for d in &dims {
                n = cx.dim_times(n, *d)?;
            }
            let n = cx.dim_scalar(n)?;
            let zero = cx.scalar_i64(0)?;
            let one = cx.scalar_i64(1)?;
            let r = cx.op1(
                "Range",
                vec![In::P(zero), In::P(n), In::P(one)],
                vec![],
                crate::dtype::DType::I64,
            )?;
            let pos = cx.reshape_dims(r, &dims, crate::dtype::DType::I64)?;
            let p = cx.port(&pt)?;
            Ok((pos, dims, p))
        })?;
        let (pos_port, dims, p) = match made {
            Ok(x) => x,
            Err(e) => return Ok(Err(e)),
        };
        let positions = TensorValue {
            tensor: Rc::new(positions_like(&parent.tensor)),
            origin: Origin::Port(pos_port),
            probe: parent.probe.as_ref().map(|t| Rc::new(positions_like(t))),
            far: parent.far.as_ref().map(|t| Rc::new(positions_like(t))),
        };
        // The view op run on the positions (and their probes), then lowered on them.
        let mut inputs = call.inputs.clone();
        inputs[0] = Value::Tensor(positions);
        let outs = match self.exec_view(&node, &inputs) {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        let picked = match self.lower_node(&node, &inputs, &outs)? {
            Ok(ports) if ports.len() > *index => ports[*index],
            Ok(_) => return Ok(Err("internal: a port is missing".into())),
            Err(e) => {
                return Ok(Err(format!(
                    "the write through {} ({}) cannot be put back: {e}",
                    node.op_name(),
                    site(&node)
                )))
            }
        };
        self.emit(&node, |cx| {
            let flat = cx.reshape_const(p, &[-1], dt)?;
            let idx = cx.reshape_const(picked, &[-1, 1], crate::dtype::DType::I64)?;
            let upd = cx.reshape_const(c, &[-1], dt)?;
            let y = cx.op1(
                "TensorScatterUpdate",
                vec![In::P(flat), In::P(idx), In::P(upd)],
                vec![],
                dt,
            )?;
            cx.reshape_dims(y, &dims, dt)
        })
    }

    /// A view op run on other inputs (the sample's and, in a dynamic export, the probes').
    fn exec_view(&self, n: &Node, inputs: &[Value]) -> std::result::Result<Vec<Value>, String> {
        let outs = self.m.exec(n.index, inputs)?;
        if !(self.opts.dynamic && inputs.iter().any(Value::has_probe)) {
            return Ok(outs);
        }
        let at = |w: Probe| {
            let probe: Vec<Value> = inputs.iter().map(|v| v.probe_at(w)).collect();
            self.m.exec(n.index, &probe)
        };
        let (near, far) = (at(Probe::Near)?, at(Probe::Far)?);
        let mut guards = vec![];
        Ok(dynamic::attach_probes(
            n,
            inputs,
            outs,
            near,
            far,
            &mut guards,
        ))
    }

    /// Emits ops with a context for node `n` (no inputs or outputs of its own).
    fn emit<T>(
        &mut self,
        n: &Node,
        f: impl FnOnce(&mut Ctx) -> std::result::Result<T, String>,
    ) -> Result<std::result::Result<T, String>> {
        let mut cx = Ctx {
            b: &mut self.b,
            mat: &mut self.mat,
            node: n,
            inputs: &[],
            outputs: &[],
            assumptions: vec![],
            baked: Default::default(),
            data_guards: vec![],
        };
        let r = f(&mut cx);
        let mut assumed = std::mem::take(&mut cx.assumptions);
        assumed.extend(cx.baked.take());
        for a in assumed {
            self.guard(n, a, true)?;
        }
        Ok(r)
    }
}

/// The memory layout of a tensor as (size, stride) runs: dims of size 1 left out, dims that
/// continue each other merged. Two views with the same runs at the same address hold the same
/// elements in the same order.
fn runs(t: &tch::Tensor) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = vec![];
    for (n, s) in t.size().into_iter().zip(t.stride()) {
        if n == 1 {
            continue;
        }
        match out.last_mut() {
            Some((m, st)) if *st == n * s => {
                *m *= n;
                *st = s;
            }
            _ => out.push((n, s)),
        }
    }
    out
}

/// Whether `child` holds `parent`'s elements in `parent`'s order (a select of a dim of size 1,
/// a reshape, a squeeze), at the sample and at both probes: then `Reshape` writes it back.
fn same_order(child: &TensorValue, parent: &TensorValue) -> bool {
    let same = |c: &tch::Tensor, p: &tch::Tensor| {
        c.numel() > 0
            && c.numel() == p.numel()
            && c.data_ptr() == p.data_ptr()
            && runs(c) == runs(p)
    };
    same(&child.tensor, &parent.tensor)
        && [Probe::Near, Probe::Far].iter().all(|&w| {
            match (child.probe_of(w), parent.probe_of(w)) {
                (Some(c), Some(p)) => same(c, p),
                (None, None) => true,
                _ => false,
            }
        })
}

/// When `child` is `parent` with its dims reordered (`transpose`, `permute`, `t`, `movedim`,
/// ...): `perm` with `child = parent.permute(perm)`, checked at the sample and at both probes.
/// Each child dim is matched to a parent dim of the same size and stride (dims of size 1, which
/// any order serves, in order).
fn permutation(child: &TensorValue, parent: &TensorValue) -> Option<Vec<usize>> {
    let (c, p) = (&child.tensor, &parent.tensor);
    if c.dim() != p.dim() || c.data_ptr() != p.data_ptr() || c.dim() < 2 {
        return None;
    }
    let (cs, ct, ps, pt) = (c.size(), c.stride(), p.size(), p.stride());
    let mut used = vec![false; ps.len()];
    let mut perm = vec![];
    for i in 0..cs.len() {
        let j = (0..ps.len())
            .find(|&j| !used[j] && ps[j] == cs[i] && (ps[j] == 1 || pt[j] == ct[i]))?;
        used[j] = true;
        perm.push(j);
    }
    let dims: Vec<i64> = perm.iter().map(|&j| j as i64).collect();
    // Same sizes, and the same strides wherever a dim has more than one element.
    let fits = |c: &tch::Tensor, p: &tch::Tensor| {
        p.f_permute(dims.as_slice()).is_ok_and(|v| {
            v.size() == c.size()
                && v.size()
                    .iter()
                    .zip(v.stride().iter().zip(c.stride()))
                    .all(|(&n, (&a, b))| n <= 1 || a == b)
        })
    };
    let probes_fit =
        [Probe::Near, Probe::Far]
            .iter()
            .all(|&w| match (child.probe_of(w), parent.probe_of(w)) {
                (Some(c), Some(p)) => fits(c, p),
                (None, None) => true,
                _ => false,
            });
    (fits(c, p) && probes_fit && perm.iter().enumerate().any(|(i, &j)| i != j)).then_some(perm)
}

/// A view that reinterprets its tensor's memory as another dtype has no functional form.
fn same_dtype(call: &ViewCall, index: usize) -> std::result::Result<(), String> {
    let (Some(Value::Tensor(base)), Some(out)) =
        (call.inputs.first(), nth_tensor(&call.outputs, index))
    else {
        return Ok(());
    };
    if base.tensor.kind() == out.tensor.kind() {
        return Ok(());
    }
    Err(format!(
        "the view {} ({}) reinterprets {:?} memory as {:?}, which has no functional form to write back through",
        call.node.op_name(),
        site(&call.node),
        base.tensor.kind(),
        out.tensor.kind()
    ))
}
