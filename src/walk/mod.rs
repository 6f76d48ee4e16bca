//! Stage 2, walk: run the inlined graph on the sample inputs node by node. `prim::If` follows the
//! branch its condition selects (recorded as a guard), `prim::Loop` unrolls, ints/floats/bools/
//! lists/tuples/None are evaluated here and never exported, and every tensor op is executed with
//! libtorch (for the concrete values later decisions need) and handed to its lowering rule.
mod alias;
mod collective;
pub mod dynamic;
mod lazy;
mod module_stack;
pub use module_stack::SOURCE_ATTR;
mod prim;
mod views;

use crate::error::{Error, OpStatus, Result, UnsupportedOp, UnsupportedOps};
use crate::ge::GraphBuilder;
use crate::load::{Block, Module, Node};
use crate::lower::{self, Ctx, Materialized};
use crate::value::{Origin, Port, Probe, TensorValue, Value};
use std::collections::{BTreeMap, HashMap};

/// A decision the graph was specialised on.
#[derive(Debug, Clone)]
pub struct Guard {
    /// `file:line`
    pub location: String,
    /// The source text of the decision (the statement; a block statement's header).
    pub text: String,
    /// What was assumed.
    pub assumed: String,
    /// The decision depends on a dynamic dim: other sizes may take another path.
    pub dynamic: bool,
}

impl std::fmt::Display for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}  {}  -> {}{}",
            self.location,
            self.text.trim(),
            self.assumed,
            if self.dynamic {
                "  (depends on a dynamic dim)"
            } else {
                ""
            }
        )
    }
}

/// Guards as printed: identical ones once, with how many times they were met (an unrolled
/// loop's body meets the same branch at every step), in first-met order.
pub fn guard_lines(guards: &[Guard]) -> Vec<String> {
    let mut seen: Vec<(String, usize)> = vec![];
    for g in guards {
        let t = g.to_string();
        match seen.iter_mut().find(|(s, _)| *s == t) {
            Some((_, n)) => *n += 1,
            None => seen.push((t, 1)),
        }
    }
    seen.into_iter()
        .map(|(t, n)| if n > 1 { format!("{t}  (x{n})") } else { t })
        .collect()
}

#[cfg(test)]
mod guard_tests {
    use super::*;

    #[test]
    fn identical_guards_are_counted_once() {
        let g = |l: &str, a: &str| Guard {
            location: l.into(),
            text: "if x.size(0) > 2:".into(),
            assumed: a.into(),
            dynamic: false,
        };
        let lines = guard_lines(&[
            g("m.py:3", "true"),
            g("m.py:5", "true"),
            g("m.py:3", "true"),
        ]);
        assert_eq!(
            lines,
            [
                "m.py:3  if x.size(0) > 2:  -> true  (x2)",
                "m.py:5  if x.size(0) > 2:  -> true"
            ]
        );
    }
}

/// What the walk produced.
pub struct Walked {
    pub builder: GraphBuilder,
    pub guards: Vec<Guard>,
    /// Concrete outputs of forward (flattened tensors), as TorchScript computed them op by op.
    pub outputs: Vec<tch::Tensor>,
    /// Every tensor op kind of the graph, with counts, input signatures and source lines.
    pub ops: Vec<UnsupportedOp>,
    /// With [`WalkOptions::record_values`]: the TorchScript value behind each GE node output that
    /// stands for one, in walk order (for `verify --bisect`); empty otherwise.
    pub recorded: Vec<Recorded>,
}

/// A TorchScript value and the GE node output that stands for it.
pub struct Recorded {
    /// The GE node's name and output index.
    pub node: String,
    pub output: usize,
    /// The value as TorchScript computed it (a copy: later in-place ops do not change it).
    pub tensor: tch::Tensor,
    /// The ATen op it came from (`aten::add`), or `input`, `weight` (site: its attribute path)
    /// or `constant`.
    pub aten: String,
    /// `file:line: text` of that op (empty for constants and inputs).
    pub site: String,
}

/// A graph input as the walker binds it.
pub struct GraphInput {
    pub name: String,
    pub value: Value,
    /// Dynamic exports: the same input grown by one along each dynamic dim.
    pub probe: Option<Value>,
    /// Dynamic exports: the same input grown by `dynamic::FAR` along each dynamic dim.
    pub far: Option<Value>,
}

/// How the walk treats dynamic dims.
#[derive(Clone, Copy, Default)]
pub struct WalkOptions {
    /// Inputs carry probes: track which dims and ints are dynamic.
    pub dynamic: bool,
    /// A branch or loop count that depends on a dynamic dim is an error, not a guard.
    pub strict_dynamic: bool,
    /// Keep a copy of every TorchScript value a GE node output stands for ([`Walked::recorded`]).
    pub record_values: bool,
}

const MAX_LOOP_ITERATIONS: i64 = 1_000_000;

pub struct Walker<'m> {
    m: &'m Module,
    env: HashMap<u64, Value>,
    b: GraphBuilder,
    mat: Materialized,
    guards: Vec<Guard>,
    /// Every op kind met that produces tensors, with its uses (for the unsupported-op error and
    /// `--report`).
    uses: BTreeMap<String, UnsupportedOp>,
    progress: indicatif::ProgressBar,
    /// Nodes walked so far, nested ones and every loop step included.
    walked: u64,
    /// Values whose memory an in-place op wrote through another alias where torch2air cannot
    /// put the write back: value id -> (that op's site, why).
    stale: HashMap<u64, (String, String)>,
    /// How each value a view op made views its parent (by value id), for writes through views.
    views: HashMap<u64, views::ViewStep>,
    /// The same, by tensor handle (a view taken out of a list keeps its handle).
    view_handles: HashMap<*const tch::Tensor, views::ViewStep>,
    /// Whether the graph writes in place anywhere: only then are views recorded (a view's
    /// step keeps its base alive, every intermediate a view was taken of, to the walk's end).
    tracks_views: bool,
    /// Views of a tensor written through another view with dynamic dims, recomputed from the
    /// new base when first read (so views never read again add no nodes): value id -> the
    /// write's new chain values and its site.
    pending: HashMap<u64, (views::Chain, String)>,
    opts: WalkOptions,
    /// How many large tensor constants of the graph became weights (`constant.<k>`).
    big_constants: usize,
    /// `nn_module_stack` recording, when enabled.
    module_stack: Option<module_stack::ModuleStacks>,
    /// With `opts.record_values`: (port, value, ATen op, site) per lowered tensor output.
    recorded: Vec<(Port, tch::Tensor, String, String)>,
    /// `--weights lazy`: weights whose values an op needed, read from the archive, by path.
    loaded: HashMap<String, std::rc::Rc<tch::Tensor>>,
}

fn describe(v: &Value) -> String {
    match v {
        Value::Tensor(t) => {
            let dt = crate::dtype::of_tensor(&t.tensor)
                .map(|d| d.name().to_string())
                .unwrap_or_else(|e| e);
            format!("{dt}{:?}", t.tensor.size())
        }
        other => format!("{other:?}"),
    }
}

/// A block that computes no tensor and has no effect but messages (`warnings.warn`, `print`):
/// only the scalar, string and list bookkeeping such messages need.
fn no_effect(b: &Block) -> bool {
    b.outputs.is_empty()
        && b.nodes.iter().all(|n| {
            matches!(
                n.kind.as_str(),
                "prim::Constant"
                    | "aten::warn"
                    | "prim::Print"
                    | "aten::format"
                    | "aten::str"
                    | "aten::size"
                    | "aten::len"
                    | "aten::dim"
                    | "prim::ListConstruct"
                    | "prim::TupleConstruct"
                    | "prim::dtype"
                    | "prim::device"
                    | "prim::If"
            ) && !n.outputs.iter().any(|o| o.ty.contains("Tensor"))
                && n.blocks.iter().all(no_effect)
        })
}

/// Whether a block raises (`prim::RaiseException` at its top level): an input check's error arm.
fn raises(b: &Block) -> bool {
    b.nodes.iter().any(|n| n.kind == "prim::RaiseException")
}

/// `file:line: text` of a node, plus the user's own line when the node was inlined from a
/// submodule or function (the outermost call site).
fn site(n: &Node) -> String {
    let here = if n.source.file.is_empty() {
        "<unknown>".to_string()
    } else {
        format!("{}: {}", n.source.location(), n.source.text.trim())
    };
    match n.stack.first() {
        Some(f) if !f.source.file.is_empty() && f.source.location() != n.source.location() => {
            format!(
                "{here} (called from {}: {})",
                f.source.location(),
                f.source.text.trim()
            )
        }
        _ => here,
    }
}

impl<'m> Walker<'m> {
    pub fn new(m: &'m Module) -> Self {
        Self::with_options(m, WalkOptions::default())
    }

    pub fn with_options(m: &'m Module, opts: WalkOptions) -> Self {
        let progress = crate::progress::line(
            "{spinner} walking the graph: node {pos} of {len} ({msg} walked with branches and loops)",
        );
        let mut w = Walker {
            m,
            env: HashMap::new(),
            b: GraphBuilder::new(),
            mat: Materialized::default(),
            guards: vec![],
            uses: BTreeMap::new(),
            progress,
            walked: 0,
            stale: HashMap::new(),
            views: HashMap::new(),
            view_handles: HashMap::new(),
            tracks_views: true,
            pending: HashMap::new(),
            opts,
            big_constants: 0,
            module_stack: None,
            recorded: vec![],
            loaded: HashMap::new(),
        };
        if opts.record_values {
            w.mat.record = Some(vec![]);
        }
        w.b.archive = m.archive.clone();
        w
    }

    /// Adds the `nn_module_stack` attr to the ops of nodes inlined from submodules.
    pub fn record_module_stack(mut self, on: bool) -> Self {
        self.module_stack = match (on, self.m.graph.inputs.first()) {
            (true, Some(s)) => Some(module_stack::ModuleStacks::new(&self.m.graph, s.id)),
            _ => None,
        };
        self
    }

    /// Walks forward with `inputs` (one per forward argument after `self`). Tensor inputs become
    /// `Data` nodes (index in order of tensor inputs); other inputs are baked into the graph.
    pub fn run(mut self, inputs: Vec<GraphInput>) -> Result<Walked> {
        let graph = &self.m.graph;
        let self_id = graph
            .inputs
            .first()
            .map(|v| v.id)
            .ok_or_else(|| Error::Model("forward has no self".into()))?;
        self.env.insert(
            self_id,
            Value::Object {
                class: self.m.info.class.clone(),
                path: String::new(),
            },
        );
        let mut index = 0;
        for (vi, gi) in graph.inputs.iter().skip(1).zip(inputs) {
            let v = match gi.value {
                Value::Tensor(t) => {
                    let dt = crate::dtype::of_tensor(&t.tensor)
                        .map_err(|e| Error::Input(format!("input '{}': {e}", gi.name)))?;
                    let probe = match &gi.probe {
                        Some(Value::Tensor(p)) => Some(p.tensor.clone()),
                        _ => None,
                    };
                    let far = match &gi.far {
                        Some(Value::Tensor(p)) => Some(p.tensor.clone()),
                        _ => None,
                    };
                    let mut tv = TensorValue {
                        tensor: t.tensor,
                        origin: Origin::Constant,
                        probe,
                        far,
                    };
                    let p = self.b.data(&gi.name, index, dt, &tv.desc_shape());
                    if self.opts.record_values {
                        let t = tv.tensor.copy();
                        self.recorded.push((
                            p,
                            t,
                            "input".into(),
                            format!("forward argument '{}'", gi.name),
                        ));
                    }
                    tv.origin = Origin::Port(p);
                    index += 1;
                    Value::Tensor(tv)
                }
                other => {
                    self.guards.push(Guard {
                        location: "input".into(),
                        text: format!("{}: {}", gi.name, vi.ty),
                        assumed: format!("{other:?} (baked into the graph)"),
                        dynamic: false,
                    });
                    other
                }
            };
            self.env.insert(vi.id, v);
        }
        // Progress counts the graph's top-level nodes (a known total) and, in its message, every
        // node walked (a loop's body once per step).
        self.progress.set_length(graph.nodes.len() as u64);
        self.tracks_views = writes_in_place(graph);
        let mut dead = dead_after(graph);
        for (i, n) in graph.nodes.iter().enumerate() {
            self.node(n)?;
            // Values no later node reads are dropped here, so their tensors are freed as the
            // walk goes instead of all living until its end.
            for id in dead.remove(&i).unwrap_or_default() {
                self.env.remove(&id);
            }
            self.progress.inc(1);
        }
        for id in &graph.outputs {
            self.force(*id)?;
            self.refuse_stale("forward's return", *id)?;
        }
        let outs = graph
            .outputs
            .iter()
            .map(|id| self.get(*id))
            .collect::<Result<Vec<_>>>()?;
        self.progress.finish_and_clear();
        let all: Vec<UnsupportedOp> = std::mem::take(&mut self.uses).into_values().collect();
        let unsupported: Vec<UnsupportedOp> =
            all.iter().filter(|u| u.status.blocks()).cloned().collect();
        if !unsupported.is_empty() {
            return Err(Error::Unsupported(UnsupportedOps { unsupported, all }));
        }
        // NetOutput: every tensor of the returned value, flattened.
        let ret = outs.into_iter().next().unwrap_or(Value::None);
        let tensors = ret.tensors();
        if tensors.is_empty() {
            return Err(Error::Model(format!(
                "forward returns {} with no tensor in it; fix: return a tensor, or a tuple/list/dict of tensors",
                ret.kind_name()
            )));
        }
        if let Some(bad) = non_tensor_leaf(&ret) {
            return Err(Error::Model(format!(
                "forward returns a {bad} next to its tensors; an exported graph can only output tensors. \
                 fix: return only tensors (compute the {bad} outside the model)"
            )));
        }
        let mut outs = vec![];
        let mut concrete = vec![];
        for t in tensors {
            let p = lower::port_of(&mut self.b, &mut self.mat, t).map_err(Error::Run)?;
            outs.push((p, t.desc_shape()));
            concrete.push(t.tensor.shallow_clone());
        }
        self.b.net_output(&outs);
        let recorded = self.resolve_recorded();
        Ok(Walked {
            builder: self.b,
            guards: self.guards,
            outputs: concrete,
            ops: all,
            recorded,
        })
    }

    /// The recorded values by GE node name, plus every weight and Const made from a TorchScript
    /// value (as it was when made); each node output once (the first value recorded for it).
    fn resolve_recorded(&mut self) -> Vec<Recorded> {
        if !self.opts.record_values {
            return vec![];
        }
        let made = self.mat.record.take().unwrap_or_default();
        let consts = made.into_iter().map(|(p, t, path)| match path {
            Some(path) => (p, t, "weight".to_string(), path),
            None => (p, t, "constant".to_string(), String::new()),
        });
        let mut seen = std::collections::HashSet::new();
        let mut out = vec![];
        for (p, tensor, aten, site) in std::mem::take(&mut self.recorded).into_iter().chain(consts)
        {
            if p.node >= self.b.ops.len() || !seen.insert((p.node, p.index)) {
                continue;
            }
            out.push(Recorded {
                node: self.b.ops[p.node].name.clone(),
                output: p.index,
                tensor,
                aten,
                site,
            });
        }
        out
    }

    fn get(&self, id: u64) -> Result<Value> {
        self.env
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::Run(format!("internal: value %{id} used before it was computed")))
    }

    fn block(&mut self, b: &Block, inputs: Vec<Value>) -> Result<Vec<Value>> {
        self.block_with(b, inputs, vec![])
    }

    /// A block whose inputs miss the writes `stale` gives (by position).
    fn block_with(
        &mut self,
        b: &Block,
        inputs: Vec<Value>,
        stale: Vec<Option<(String, String)>>,
    ) -> Result<Vec<Value>> {
        for (vi, v) in b.inputs.iter().zip(inputs) {
            self.set(vi.id, v);
        }
        for (vi, x) in b.inputs.iter().zip(stale) {
            if let Some(x) = x {
                self.stale.insert(vi.id, x);
            }
        }
        for n in &b.nodes {
            self.node(n)?;
        }
        for id in &b.outputs {
            self.force(*id)?;
        }
        b.outputs.iter().map(|id| self.get(*id)).collect()
    }

    /// Names bound to a block's results (`to`) miss the writes its results (`from`) miss.
    fn carry_stale(&mut self, from: &[u64], to: &[u64]) {
        for (f, t) in from.iter().zip(to) {
            if let Some(x) = self.stale.get(f).cloned() {
                self.stale.insert(*t, x);
            }
        }
    }

    fn bind(&mut self, n: &Node, values: Vec<Value>) -> Result<()> {
        if values.len() != n.outputs.len() {
            return Err(Error::Run(format!(
                "internal: {} produced {} values for {} outputs",
                n.kind,
                values.len(),
                n.outputs.len()
            )));
        }
        for (o, v) in n.outputs.iter().zip(values) {
            self.set(o.id, v);
        }
        Ok(())
    }

    fn node(&mut self, n: &Node) -> Result<()> {
        self.walked += 1;
        if self.walked.is_multiple_of(64) {
            self.progress.set_message(self.walked.to_string());
        }
        for id in &n.inputs {
            self.force(*id)?;
        }
        for id in &n.inputs {
            self.refuse_stale(&site(n), *id)?;
        }
        let inputs: Vec<Value> = n
            .inputs
            .iter()
            .map(|id| self.get(*id))
            .collect::<Result<_>>()?;
        match n.kind.as_str() {
            "prim::Constant" if n.outputs.len() == 1 => {
                let mut outs = self.exec(n, &inputs)?;
                // A large tensor held in the graph itself (a frozen module's weights, a traced
                // module's captured tensors) is a weight, so that it is written like the module's
                // own (a FileConstant above the size threshold), named `constant.<k>`.
                if let Some(Value::Tensor(t)) = outs.first_mut() {
                    let bytes = t.tensor.numel() * t.tensor.kind().elt_size_in_bytes();
                    if bytes >= BIG_CONSTANT_BYTES {
                        t.origin = Origin::Weight(format!("constant.{}", self.big_constants));
                        self.big_constants += 1;
                    }
                }
                self.bind(n, outs)
            }
            "prim::GetAttr" => {
                let name = n.attr.clone().unwrap_or_default();
                let Value::Object { path, .. } = &inputs[0] else {
                    return Err(Error::Run(format!(
                        "{}: GetAttr '{name}' on a non-object",
                        site(n)
                    )));
                };
                let full = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                let v = self
                    .m
                    .attr(&full)
                    .map_err(|e| Error::Run(format!("{}: attribute '{full}': {e}", site(n))))?;
                let v = match v {
                    Value::Tensor(t) => Value::Tensor(TensorValue {
                        tensor: t.tensor,
                        origin: Origin::Weight(full),
                        probe: None,
                        far: None,
                    }),
                    // A list of module tensors (nn.GRU/LSTM's `_flat_weights`): weights too,
                    // named `<path>.<index>`.
                    Value::List(items) if items.iter().all(|i| i.as_tensor().is_some()) => {
                        Value::List(
                            items
                                .into_iter()
                                .enumerate()
                                .map(|(k, i)| match i {
                                    Value::Tensor(t) => Value::Tensor(TensorValue {
                                        tensor: t.tensor,
                                        origin: Origin::Weight(format!("{full}.{k}")),
                                        probe: None,
                                        far: None,
                                    }),
                                    other => other,
                                })
                                .collect(),
                        )
                    }
                    other => other,
                };
                self.bind(n, vec![v])
            }
            "prim::If" => {
                let cond = inputs[0].as_bool().ok_or_else(|| {
                    Error::Run(format!("{}: if condition is not a bool", site(n)))
                })?;
                // A branch with no result whose arms only warn or print changes nothing in
                // the graph, whichever way other sizes take it; nor does a check whose other arm
                // raises (PyTorch's own input checks: at sizes that take it, forward fails).
                let untaken = n.blocks.get(if cond { 1 } else { 0 });
                let dynamic = inputs[0].is_symbolic()
                    && !n.blocks.iter().all(no_effect)
                    && !untaken.is_some_and(raises);
                self.guard(n, format!("{cond}"), dynamic)?;
                let block = &n.blocks[if cond { 0 } else { 1 }];
                let outs = self.block(block, vec![])?;
                self.bind(n, outs)?;
                let to: Vec<u64> = n.outputs.iter().map(|o| o.id).collect();
                self.carry_stale(&block.outputs, &to);
                Ok(())
            }
            "prim::Loop" => self.unroll(n, inputs),
            _ => self.op(n, inputs),
        }
    }

    /// Records a decision the graph is specialised on; with --strict-dynamic, one that depends on
    /// a dynamic dim is an error.
    fn guard(&mut self, n: &Node, assumed: String, dynamic: bool) -> Result<()> {
        let g = Guard {
            location: n.source.location(),
            text: n.source.text.clone(),
            assumed,
            dynamic,
        };
        if dynamic && self.opts.strict_dynamic {
            return Err(Error::Input(format!(
                "{}: `{}` depends on a dynamic dim (taken: {}), so the graph would only be right for some sizes; \
                 fix: pin that dim (--dynamic-dims), rewrite the model so the decision does not depend on sizes, \
                 or drop --strict-dynamic to have torch2air pin that dim (exported static, with a note)",
                g.location,
                g.text.trim(),
                g.assumed
            )));
        }
        self.guards.push(g);
        Ok(())
    }

    fn unroll(&mut self, n: &Node, inputs: Vec<Value>) -> Result<()> {
        let max = inputs[0].as_int().unwrap_or(i64::MAX);
        let mut cond = inputs[1].as_bool().unwrap_or(true);
        let mut carried: Vec<Value> = inputs[2..].to_vec();
        let body = &n.blocks[0];
        let mut i = 0;
        while i < max && cond {
            if i >= MAX_LOOP_ITERATIONS {
                return Err(Error::Run(format!(
                    "{}: loop ran {MAX_LOOP_ITERATIONS} iterations while unrolling; fix: bound the loop by a size known at export",
                    site(n)
                )));
            }
            let mut block_inputs = vec![Value::Int(i)];
            block_inputs.extend(carried);
            let outs = self.block_carried(body, block_inputs, i > 0)?;
            cond = outs[0].as_bool().unwrap_or(false);
            carried = outs[1..].to_vec();
            i += 1;
        }
        if i > 0 || n.source.text.contains("while") {
            let dynamic = inputs[0].is_symbolic() || inputs[1].is_symbolic();
            self.guard(n, format!("{i} iteration(s), unrolled"), dynamic)?;
        }
        self.bind(n, carried)?;
        if i > 0 {
            let to: Vec<u64> = n.outputs.iter().map(|o| o.id).collect();
            self.carry_stale(&body.outputs[1..], &to);
        }
        Ok(())
    }

    /// A loop body's step: after the first, its carried inputs miss the writes the previous
    /// step's results missed.
    fn block_carried(
        &mut self,
        body: &Block,
        inputs: Vec<Value>,
        later: bool,
    ) -> Result<Vec<Value>> {
        let mut stale = vec![None];
        stale.extend(
            body.outputs[1..]
                .iter()
                .map(|id| later.then(|| self.stale.get(id).cloned()).flatten()),
        );
        self.block_with(body, inputs, stale)
    }

    fn op(&mut self, n: &Node, inputs: Vec<Value>) -> Result<()> {
        if let Some(r) = prim::mutate_list(&n.kind, &inputs) {
            let list = r.map_err(|e| Error::Run(format!("{}: {e}", site(n))))?;
            self.env.insert(n.inputs[0], list.clone());
            let outs = if n.outputs.is_empty() {
                vec![]
            } else {
                vec![list]
            };
            return self.bind(n, outs);
        }
        if let Some(r) = prim::eval(&n.kind, &inputs, n.outputs.len()) {
            let outs = r.map_err(|e| Error::Run(format!("{}: {e}", site(n))))?;
            return self.bind(n, outs);
        }
        let (mut outs, inputs) = if collective::is_collective(n.op_name()) {
            // Collectives are evaluated on the sample values only: their outputs carry no probe
            // (their shapes follow their inputs', which must then be static).
            let dynamic_input = inputs.iter().any(|v| {
                v.is_symbolic() || v.tensors().iter().any(|t| t.dynamic_dims().contains(&true))
            });
            if dynamic_input {
                return Err(Error::Input(format!(
                    "{}: {} on a tensor with dynamic dims is not supported yet; \
                     fix: pin those dims (--dynamic-dims) or export without --dynamic",
                    site(n),
                    n.op_name()
                )));
            }
            collective::eval(n, inputs).map_err(|e| Error::Run(format!("{}: {e}", site(n))))?
        } else {
            if lower::is_inplace(n.op_name()) {
                // Consts that share the memory about to be written keep their value.
                if let Some(t) = inputs.first().and_then(Value::as_tensor) {
                    let shared: Vec<Port> = self
                        .mat
                        .constants()
                        .filter(|(c, _)| alias::overlaps_tensor(&t.tensor, c))
                        .map(|(_, p)| p)
                        .collect();
                    for p in shared {
                        self.b.own_const_data(p);
                    }
                }
            }
            let mut outs = self.exec(n, &inputs)?;
            if self.opts.dynamic && inputs.iter().any(Value::has_probe) {
                let probe_outs = self.exec_probe(n, &inputs, Probe::Near)?;
                let far_outs = self.exec_probe(n, &inputs, Probe::Far)?;
                let mut guards = vec![];
                outs = dynamic::attach_probes(n, &inputs, outs, probe_outs, far_outs, &mut guards);
                let rank_changes = outs.iter().flat_map(|v| v.tensors()).any(|t| {
                    [&t.probe, &t.far]
                        .iter()
                        .any(|p| p.as_ref().is_some_and(|p| p.dim() != t.tensor.dim()))
                });
                if rank_changes {
                    return Err(Error::Input(format!(
                        "{} ({}) gives a result of another rank when the dynamic dims change size \
                         (e.g. a squeeze of a dim that is 1 in the sample); fix: pin that dim (--dynamic-dims) \
                         or give a sample where it is not 1",
                        site(n),
                        n.op_name()
                    )));
                }
                for assumed in guards {
                    self.guard(n, assumed, true)?;
                }
            }
            (outs, inputs)
        };
        let produces_tensors = outs.iter().any(|v| !v.tensors().is_empty());
        if !produces_tensors {
            // A Python value computed from tensor *data* is baked in: say so.
            if matches!(
                n.kind.as_str(),
                "aten::Int"
                    | "aten::Float"
                    | "aten::Bool"
                    | "aten::item"
                    | "aten::is_nonzero"
                    | "aten::equal"
            ) && inputs.iter().any(|v| {
                v.tensors()
                    .iter()
                    .any(|t| matches!(t.origin, Origin::Port(_) | Origin::Weight(_)))
            }) && !outs.iter().any(Value::is_symbolic)
            {
                self.guards.push(Guard {
                    location: n.source.location(),
                    text: n.source.text.clone(),
                    assumed: format!(
                        "{:?} (a tensor's value, baked in)",
                        outs.first().unwrap_or(&Value::None)
                    ),
                    dynamic: false,
                });
            }
            return self.bind(n, outs);
        }
        let in_tensors: Vec<&TensorValue> = inputs.iter().flat_map(|v| v.tensors()).collect();
        let origin_of_out = if in_tensors
            .iter()
            .any(|t| matches!(t.origin, Origin::Unsupported))
        {
            Some(Origin::Unsupported)
        } else if in_tensors
            .iter()
            .all(|t| matches!(t.origin, Origin::Constant))
            && !inputs.iter().any(Value::is_symbolic)
            && !is_random(&n.kind)
            && !collective::is_collective(n.op_name())
        {
            // Computed from constants only: folded, becomes a Const where it is used.
            Some(Origin::Constant)
        } else {
            None
        };
        let status = match (&origin_of_out, lower::rules().get(n.op_name())) {
            (Some(Origin::Constant), _) => OpStatus::Folded,
            (_, Some(_)) => OpStatus::Lowered,
            (_, None) => OpStatus::Unsupported,
        };
        self.record_use(n, &inputs, status);
        let ports: Vec<Port> = match origin_of_out {
            Some(o) => {
                set_origins(&mut outs, &mut std::iter::repeat_with(|| o.clone()));
                return self.finish_op(n, &inputs, outs);
            }
            None => match lower::rules().get(n.op_name()) {
                Some(_) => {
                    match self.lower_node(n, &inputs, &outs)? {
                        Ok(p) => p,
                        Err(reason) => {
                            // Collected like an op without a rule, so that one run lists every
                            // refusal; the walk goes on with its values marked unsupported.
                            self.refuse(n, &inputs, reason);
                            set_origins(
                                &mut outs,
                                &mut std::iter::repeat_with(|| Origin::Unsupported),
                            );
                            return self.finish_op(n, &inputs, outs);
                        }
                    }
                }
                None => {
                    set_origins(
                        &mut outs,
                        &mut std::iter::repeat_with(|| Origin::Unsupported),
                    );
                    return self.finish_op(n, &inputs, outs);
                }
            },
        };
        let n_tensors: usize = outs.iter().map(|v| v.tensors().len()).sum();
        if ports.len() != n_tensors {
            return Err(Error::Run(format!(
                "{}: internal: the rule for {} gave {} ports for {} tensor outputs",
                site(n),
                n.op_name(),
                ports.len(),
                n_tensors
            )));
        }
        if self.opts.record_values {
            let s = site(n);
            let tensors = outs.iter().flat_map(|v| v.tensors());
            for (p, t) in ports.iter().zip(tensors) {
                let copy = t.tensor.copy();
                self.recorded
                    .push((*p, copy, n.op_name().to_string(), s.clone()));
            }
        }
        set_origins(&mut outs, &mut ports.into_iter().map(Origin::Port));
        self.finish_op(n, &inputs, outs)
    }

    /// Runs the lowering rule of `n` on `inputs` (whose concrete results are `outs`): its ports,
    /// or the rule's refusal. What the rule assumed about dynamic dims becomes guards.
    fn lower_node(
        &mut self,
        n: &Node,
        inputs: &[Value],
        outs: &[Value],
    ) -> Result<std::result::Result<Vec<Port>, String>> {
        let Some(rule) = lower::rules().get(n.op_name()) else {
            return Ok(Err(format!("{} has no lowering rule", n.op_name())));
        };
        if let Some(m) = self.module_stack.as_ref() {
            if let Some(text) = m.text(n) {
                let a = crate::ge::attr::string(&text);
                self.b.scope_attrs.insert("nn_module_stack".into(), a);
            }
            let a = crate::ge::attr::string(&module_stack::source_text(n));
            self.b
                .scope_attrs
                .insert(module_stack::SOURCE_ATTR.into(), a);
        }
        let mut ctx = Ctx {
            b: &mut self.b,
            mat: &mut self.mat,
            node: n,
            inputs,
            outputs: outs,
            assumptions: vec![],
            baked: Default::default(),
            data_guards: vec![],
        };
        let ports = rule(&mut ctx);
        let mut assumptions = std::mem::take(&mut ctx.assumptions);
        assumptions.extend(ctx.baked.take());
        let data_guards = std::mem::take(&mut ctx.data_guards);
        self.b.scope_attrs.remove("nn_module_stack");
        self.b.scope_attrs.remove(module_stack::SOURCE_ATTR);
        if ports.is_ok() {
            for a in assumptions {
                self.guard(n, a, true)?;
            }
            for a in data_guards {
                self.guard(n, a, false)?;
            }
        }
        Ok(ports)
    }

    /// A rule refused this node: recorded with its reason (unique per op kind).
    fn refuse(&mut self, n: &Node, inputs: &[Value], reason: String) {
        // `record_use` already counted this node (as lowered).
        let Some(entry) = self.uses.get_mut(n.op_name()) else {
            return self.record_use(n, inputs, OpStatus::Refused);
        };
        entry.status = OpStatus::Refused;
        let reason = format!("{} ({})", reason.trim(), site(n));
        if !entry.reasons.contains(&reason) {
            entry.reasons.push(reason);
        }
    }

    fn record_use(&mut self, n: &Node, inputs: &[Value], status: OpStatus) {
        let entry = self
            .uses
            .entry(n.op_name().to_string())
            .or_insert_with(|| UnsupportedOp {
                op: n.op_name().to_string(),
                count: 0,
                sites: vec![],
                signatures: vec![],
                status,
                reasons: vec![],
            });
        // An op without a rule for a known reason says why.
        if status == OpStatus::Unsupported && entry.reasons.is_empty() {
            if let Some(why) = lower::gap(n.op_name()) {
                entry.reasons.push(why.to_string());
            }
        }
        // An op lowered once and folded elsewhere counts as lowered; unsupported and refused win
        // over both.
        if status.blocks() || (entry.status == OpStatus::Folded && !entry.status.blocks()) {
            entry.status = status;
        }
        entry.count += 1;
        let s = site(n);
        if !entry.sites.contains(&s) {
            entry.sites.push(s);
        }
        let sig = inputs.iter().map(describe).collect::<Vec<_>>().join(", ");
        if !entry.signatures.contains(&sig) {
            entry.signatures.push(sig);
        }
    }

    /// Runs `n` on the sample values `inputs`.
    fn exec(&mut self, n: &Node, inputs: &[Value]) -> Result<Vec<Value>> {
        self.exec_as(n, inputs, None)
    }

    /// Runs `n` on the `which` probe twins of `inputs`.
    fn exec_probe(&mut self, n: &Node, inputs: &[Value], which: Probe) -> Result<Vec<Value>> {
        let probe_inputs: Vec<Value> = inputs.iter().map(|v| v.probe_at(which)).collect();
        self.exec_as(n, &probe_inputs, Some(which))
    }

    /// Runs `n` on `inputs`: the sample values (`probe` None) or a probe's; with lazy weights,
    /// on the meta device when an input is a meta tensor.
    fn exec_as(&mut self, n: &Node, inputs: &[Value], probe: Option<Probe>) -> Result<Vec<Value>> {
        if self.m.archive.is_some() && inputs.iter().any(lazy::has_meta) {
            return lazy::exec(self, n, inputs, probe);
        }
        self.m
            .exec(n.index, inputs)
            .map_err(|e| self.exec_failure(n, inputs, probe, &e))
    }

    /// The error of `n` failing on `inputs` with libtorch's message `e`.
    fn exec_failure(&self, n: &Node, inputs: &[Value], probe: Option<Probe>, e: &str) -> Error {
        if probe.is_some() {
            return Error::Input(format!(
                "{} ({}) fails when the dynamic dims change size: {}\n\
                 fix: the model fixes some size there; pin the dims involved (--dynamic-dims) or export without --dynamic",
                site(n),
                n.op_name(),
                crate::load::short_torch_message(e)
            ));
        }
        let shown: Vec<String> = inputs.iter().map(describe).collect();
        // An op taking a TorchScript object (a quantized Linear's packed weights) can be
        // neither run here nor lowered: it is an unsupported op, not a wrong --input.
        if e.contains("cannot be passed to an operator") {
            let op = UnsupportedOp {
                op: n.op_name().to_string(),
                count: 1,
                sites: vec![site(n)],
                signatures: vec![shown.join(", ")],
                status: OpStatus::Unsupported,
                reasons: vec![],
            };
            let mut all: Vec<UnsupportedOp> = self.uses.values().cloned().collect();
            all.push(op);
            let unsupported = all.iter().filter(|u| u.status.blocks()).cloned().collect();
            return Error::Unsupported(UnsupportedOps { unsupported, all });
        }
        Error::Input(format!(
            "forward failed on the sample inputs at {} ({}): {}\n  its inputs were: {}\n\
             fix: check that --input gives the dtypes and shapes forward expects",
            site(n),
            n.op_name(),
            crate::load::short_torch_message(e),
            shown.join(", ")
        ))
    }

    /// Value `k` after an in-place op wrote `written` through `target`, another view of its
    /// memory: the write emitted as a scatter into it. None when that cannot be expressed (dynamic
    /// dims, a reinterpreting view, an unsupported producer): the value is then stale.
    fn write_back(&mut self, k: u64, target: &TensorValue, written: &Value) -> Option<Value> {
        let Value::Tensor(other) = self.env.get(&k)? else {
            return None;
        };
        let Value::Tensor(w) = written else {
            return None;
        };
        if matches!(other.origin, Origin::Constant) && matches!(w.origin, Origin::Constant) {
            // Folded: the concrete tensor already holds the write. A new handle, so that it is
            // not mistaken for a Const made before the write.
            return Some(Value::Tensor(TensorValue {
                tensor: std::rc::Rc::new(other.tensor.shallow_clone()),
                origin: Origin::Constant,
                probe: other.probe.clone(),
                far: other.far.clone(),
            }));
        }
        let dynamic = |t: &TensorValue| t.dynamic_dims().contains(&true);
        if dynamic(other)
            || dynamic(target)
            || matches!(other.origin, Origin::Unsupported)
            || matches!(w.origin, Origin::Unsupported)
        {
            return None;
        }
        let (p, q) = alias::write_map(&target.tensor, &other.tensor)?;
        if p.numel() == 0 {
            // Its memory span meets the written one's, but none of its elements is written
            // (interleaved columns): it keeps its value.
            return Some(Value::Tensor(other.clone()));
        }
        let other = other.clone();
        let port = lower::write_back(&mut self.b, &mut self.mat, &other, w, &p, &q).ok()?;
        Some(Value::Tensor(TensorValue {
            tensor: other.tensor,
            origin: Origin::Port(port),
            probe: other.probe,
            far: other.far,
        }))
    }

    /// A write into a module parameter or buffer (or a view of one). Weights are exported with
    /// their values before `forward`; a graph that also reads them after the write would need
    /// the module's state threaded through it, which torch2air does not do, so it says so.
    fn refuse_module_state_write(&self, n: &Node, target: &TensorValue) -> Result<()> {
        let weight = match &target.origin {
            Origin::Weight(path) => Some(path.clone()),
            _ => self.env.values().find_map(|v| match v {
                Value::Tensor(t) if alias::overlaps(&target.tensor, v) => match &t.origin {
                    Origin::Weight(path) => Some(path.clone()),
                    _ => None,
                },
                _ => None,
            }),
        };
        match weight {
            Some(path) => Err(Error::Model(format!(
                "{}: {} writes in place into the module's tensor '{path}'; torch2air exports parameters \
                 and buffers as constants holding their values before forward, so a write to them cannot \
                 be replayed. fix: compute the new value out of place (y = self.buf + 1, not \
                 self.buf.add_(1)), or pass that state to forward as an input",
                site(n),
                n.op_name()
            ))),
            None => Ok(()),
        }
    }

    /// Binds outputs; an in-place op also rebinds its first input to its result, and puts the
    /// write into every other value sharing the memory it wrote (or marks that value stale).
    fn finish_op(&mut self, n: &Node, inputs: &[Value], outs: Vec<Value>) -> Result<()> {
        if !lower::is_inplace(n.op_name()) {
            if self.tracks_views {
                self.record_views(n, inputs, &outs);
            }
            return self.bind(n, outs);
        }
        if let (Some(&id), Some(v), Some(target)) =
            (n.inputs.first(), outs.first(), inputs[0].as_tensor())
        {
            self.refuse_module_state_write(n, target)?;
            // Other values sharing the written memory keep GE origins without the write: each
            // gets it written back, or is marked stale (reading it later is refused).
            let outs_ids: Vec<u64> = n.outputs.iter().map(|o| o.id).collect();
            let mut hit: Vec<u64> = self
                .env
                .iter()
                .filter(|(k, val)| {
                    **k != id && !outs_ids.contains(k) && alias::overlaps(&target.tensor, val)
                })
                .map(|(k, _)| *k)
                .collect();
            // In the graph's order (the env's iteration order changes from run to run, and
            // which value is written back first decides the nodes made: one export, one graph).
            hit.sort_unstable();
            let s = site(n);
            let mut chain = None;
            let mut updates = vec![];
            for k in hit {
                // A value that already misses a write stays unreadable.
                if self.stale.contains_key(&k) {
                    continue;
                }
                // A view still to be recomputed after an earlier write is recomputed after this
                // one instead (from this write's chain), so the static path does not apply.
                let r = match self.pending.contains_key(&k) {
                    false => self.write_back(k, target, v),
                    true => None,
                };
                let r = match r {
                    Some(updated) => Ok(updated),
                    None => self.write_functionally(n, k, id, v, &mut chain)?,
                };
                updates.push((k, r));
            }
            for (k, r) in updates {
                match r {
                    Ok(updated) => {
                        self.env.insert(k, updated);
                    }
                    Err(why) => {
                        self.stale.insert(k, (s.clone(), why));
                    }
                }
            }
            self.env.insert(id, v.clone());
            self.stale.remove(&id);
            self.pending.remove(&id);
        }
        self.bind(n, outs)?;
        // The op's result is the tensor it wrote, under another name.
        if let (Some(&id), Some(o)) = (n.inputs.first(), n.outputs.first()) {
            if self.env.get(&o.id).and_then(Value::as_tensor).is_some() {
                self.views.insert(
                    o.id,
                    views::ViewStep {
                        parent: id,
                        how: views::How::Same,
                    },
                );
            }
        }
        Ok(())
    }

    /// Reading value `id` at `at` is an error when it misses a write torch2air could not put
    /// back into it.
    fn refuse_stale(&self, at: &str, id: u64) -> Result<()> {
        match self.stale.get(&id) {
            Some((write, why)) => Err(Error::Model(format!(
                "{at} reads a tensor that an in-place op wrote through a view of it at {write}, and torch2air \
                 cannot put that write back: {why}. fix: write it out of place (torch.index_put, torch.where, \
                 torch.slice_scatter / select_scatter, torch.cat) and use the result"
            ))),
            None => Ok(()),
        }
    }

    /// Recomputes value `k` if a write through another view left it pending (or marks it stale
    /// with why it cannot be).
    fn force(&mut self, k: u64) -> Result<()> {
        let Some((memo, write)) = self.pending.remove(&k) else {
            return Ok(());
        };
        let port = self.recompute(k, &mut memo.borrow_mut())?;
        match (port, self.env.get(&k).cloned()) {
            (Ok(p), Some(Value::Tensor(t))) => {
                self.env.insert(
                    k,
                    Value::Tensor(TensorValue {
                        origin: Origin::Port(p),
                        ..t
                    }),
                );
            }
            (Ok(_), _) => {}
            (Err(why), _) => {
                self.stale.insert(k, (write, why));
            }
        }
        Ok(())
    }

    /// Value `k` after an in-place op `n` wrote `written` through value `id`, where the static
    /// path cannot say it: through the views' chains (walk/views.rs), or why not. `chain` holds
    /// the written chain's new values, made on first use.
    fn write_functionally(
        &mut self,
        n: &Node,
        k: u64,
        id: u64,
        written: &Value,
        chain: &mut Option<views::Chain>,
    ) -> Result<std::result::Result<Value, String>> {
        let (Some(Value::Tensor(other)), Value::Tensor(w)) = (self.env.get(&k).cloned(), written)
        else {
            return Ok(Err(
                "it is held in a list or tuple, which torch2air does not update".into(),
            ));
        };
        let unsupported = |t: &TensorValue| matches!(t.origin, Origin::Unsupported);
        if unsupported(&other) || unsupported(w) {
            // The export fails on that op anyway; the walk goes on to list the others.
            return Ok(Ok(Value::Tensor(TensorValue {
                origin: Origin::Unsupported,
                ..other
            })));
        }
        if views::writes_metadata(n.op_name()) {
            // A new shape or strides, the same elements: the other values keep theirs.
            return Ok(Ok(Value::Tensor(other)));
        }
        if chain.is_none() {
            let mut memo = HashMap::new();
            self.write_up(id, w, &mut memo)?;
            *chain = Some(std::rc::Rc::new(std::cell::RefCell::new(memo)));
        }
        let memo = chain.clone().expect("made above");
        let on_chain = memo.borrow().get(&k).cloned();
        match on_chain {
            // The written view's own chain (its base, the views between) is made now.
            Some(port) => Ok(port.map(|p| {
                Value::Tensor(TensorValue {
                    origin: Origin::Port(p),
                    ..other
                })
            })),
            // Another view of the base: recomputed when read.
            None => {
                self.pending.insert(k, (memo, site(n)));
                Ok(Ok(Value::Tensor(other)))
            }
        }
    }
}

/// Whether any node of `b` (or of a block in it) is an in-place op.
fn writes_in_place(b: &Block) -> bool {
    b.nodes
        .iter()
        .any(|n| lower::is_inplace(n.op_name()) || n.blocks.iter().any(writes_in_place))
}

/// For each top-level node of `graph`, the values that no later node reads (in any nested block)
/// and that forward does not return: they can be dropped once that node is walked. Empty when
/// the graph writes in place anywhere: an in-place op's alias bookkeeping (write-backs into other
/// views, the refusal of writes into module state) looks at every value still bound.
fn dead_after(graph: &Block) -> HashMap<usize, Vec<u64>> {
    fn reads(b: &Block, out: &mut Vec<u64>) -> bool {
        out.extend(&b.outputs);
        for n in &b.nodes {
            if lower::is_inplace(n.op_name()) {
                return false;
            }
            out.extend(&n.inputs);
            if !n.blocks.iter().all(|b| reads(b, out)) {
                return false;
            }
        }
        true
    }
    let mut last: HashMap<u64, usize> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        let mut ids = n.inputs.clone();
        if lower::is_inplace(n.op_name()) || !n.blocks.iter().all(|b| reads(b, &mut ids)) {
            return HashMap::new();
        }
        for id in ids {
            last.insert(id, i);
        }
        for o in &n.outputs {
            last.entry(o.id).or_insert(i);
        }
    }
    for id in &graph.outputs {
        last.remove(id);
    }
    let mut dead: HashMap<usize, Vec<u64>> = HashMap::new();
    for (id, i) in last {
        dead.entry(i).or_default().push(id);
    }
    dead
}

/// Tensor constants of the graph from this size up are weights.
const BIG_CONSTANT_BYTES: usize = 16 * 1024;

fn is_random(kind: &str) -> bool {
    matches!(
        kind,
        "aten::rand"
            | "aten::randn"
            | "aten::randint"
            | "aten::rand_like"
            | "aten::randn_like"
            | "aten::randint_like"
            | "aten::bernoulli"
            | "aten::multinomial"
            | "aten::normal"
            | "aten::randperm"
    )
}

fn set_origins(vals: &mut [Value], origins: &mut dyn Iterator<Item = Origin>) {
    for v in vals {
        match v {
            Value::Tensor(t) => {
                if let Some(o) = origins.next() {
                    t.origin = o;
                }
            }
            Value::List(items) | Value::Tuple(items) => set_origins(items, origins),
            Value::Dict(items) => {
                for (_, x) in items {
                    set_origins(std::slice::from_mut(x), origins);
                }
            }
            _ => {}
        }
    }
}

fn non_tensor_leaf(v: &Value) -> Option<&'static str> {
    match v {
        Value::Tensor(_) => None,
        Value::List(items) | Value::Tuple(items) => items.iter().find_map(non_tensor_leaf),
        // The keys name the outputs; the values are what is output.
        Value::Dict(items) => items.iter().find_map(|(_, x)| non_tensor_leaf(x)),
        other => Some(other.kind_name()),
    }
}
