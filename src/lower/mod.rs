//! Stage 3, lower: one small rule per ATen op, registered by schema name and grouped by family.
//! A rule sees the node's inputs (concrete values whose tensors carry their GE origin) and the
//! concrete outputs the walker computed with libtorch, and emits GE ops for the tensor outputs.
//! Output dtypes come from the concrete outputs, so every rule casts operands to PyTorch's own
//! promotion result instead of relying on GE's implicit casts (aten-to-ge.md section 1.3).
mod activation;
mod arrange;
mod attention;
mod collectives;
mod compare;
mod conv;
mod create;
mod datadep;
mod decomp;
mod detection;
mod elementwise;
mod index;
mod layout;
mod linalg;
mod loss;
mod math;
mod nn;
mod norm;
mod order;
mod pad;
mod patches;
mod pool;
mod reduction;
mod resize;
mod rnn;
mod scatter;
mod shape;
mod sort;
mod spatial;
mod special;
mod stats;
pub mod sym;
mod transformer;
mod views;

use crate::dtype::DType;
use crate::ge::{attr, GraphBuilder, In};
use crate::load::Node;
use crate::proto::AttrDef;
use crate::value::{Origin, Port, TensorValue, Value};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::OnceLock;

pub type RuleResult = Result<Vec<Port>, String>;

/// The attr on a node whose output size was taken from the sample's data.
pub const SAMPLE_SIZE_ATTR: &str = "_torch2air_sample_size";
pub type Rule = fn(&mut Ctx) -> RuleResult;

pub struct Rules {
    map: BTreeMap<&'static str, (Rule, &'static str)>,
}

impl Rules {
    /// Registers `rule` for an op name: `aten::add.Tensor` (one overload) or `aten::add` (all).
    /// `ge` says in aten-to-ge terms what the rule emits (for `torch2air ops`).
    pub fn add(&mut self, op: &'static str, rule: Rule, ge: &'static str) {
        assert!(
            self.map.insert(op, (rule, ge)).is_none(),
            "rule for {op} registered twice"
        );
    }

    /// The rule for a schema name, trying the exact overload, then the base name; in-place
    /// variants (`aten::add_`) use the rule of their functional op.
    pub fn get(&self, op: &str) -> Option<Rule> {
        self.lookup(op).map(|(r, _)| *r)
    }

    /// What the rule for `op` emits (its `ge` text), by the same lookup as `get`.
    pub fn describe(&self, op: &str) -> Option<&'static str> {
        self.lookup(op).map(|(_, g)| *g)
    }

    /// The registered name whose rule `get(op)` returns (`aten::add_.Tensor` → `aten::add`).
    pub fn key_of(&self, op: &str) -> Option<&'static str> {
        self.entry(op).map(|(k, _)| *k)
    }

    fn lookup(&self, op: &str) -> Option<&(Rule, &'static str)> {
        self.entry(op).map(|(_, v)| v)
    }

    #[allow(clippy::type_complexity)]
    fn entry(&self, op: &str) -> Option<(&&'static str, &(Rule, &'static str))> {
        let (base, overload) = match op.split_once('.') {
            Some((b, o)) => (b, Some(o)),
            None => (op, None),
        };
        let find = |b: &str| {
            overload
                .and_then(|o| self.map.get_key_value(format!("{b}.{o}").as_str()))
                .or_else(|| self.map.get_key_value(b))
        };
        find(base).or_else(|| base.strip_suffix('_').and_then(find))
    }

    pub fn list(&self) -> impl Iterator<Item = (&&'static str, &&'static str)> {
        self.map.iter().map(|(k, (_, g))| (k, g))
    }
}

/// Why an op without a rule has none, where that is known (no CANN prototype computes it).
pub fn gap(op: &str) -> Option<&'static str> {
    decomp::gap(op)
}

pub fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut r = Rules {
            map: BTreeMap::new(),
        };
        collectives::register(&mut r);
        elementwise::register(&mut r);
        nn::register(&mut r);
        reduction::register(&mut r);
        shape::register(&mut r);
        sym::register(&mut r);
        attention::register(&mut r);
        compare::register(&mut r);
        create::register(&mut r);
        index::register(&mut r);
        layout::register(&mut r);
        arrange::register(&mut r);
        math::register(&mut r);
        sort::register(&mut r);
        conv::register(&mut r);
        pool::register(&mut r);
        norm::register(&mut r);
        resize::register(&mut r);
        pad::register(&mut r);
        activation::register(&mut r);
        transformer::register(&mut r);
        rnn::register(&mut r);
        loss::register(&mut r);
        patches::register(&mut r);
        linalg::register(&mut r);
        decomp::register(&mut r);
        detection::register(&mut r);
        views::register(&mut r);
        scatter::register(&mut r);
        order::register(&mut r);
        stats::register(&mut r);
        datadep::register(&mut r);
        special::register(&mut r);
        copy_variants(&mut r);
        r
    })
}

/// The `*_copy` ops (functionalization's out-of-place views: `view_copy`, `permute_copy`, ...)
/// return what their view op returns, and take the same arguments: each uses its view's rule.
fn copy_variants(r: &mut Rules) {
    const COPIES: &[&str] = &[
        "aten::view_copy",
        "aten::permute_copy",
        "aten::t_copy",
        "aten::transpose_copy.int",
        "aten::unsqueeze_copy",
        "aten::squeeze_copy",
        "aten::squeeze_copy.dim",
        "aten::split_with_sizes_copy",
        "aten::unbind_copy.int",
        "aten::unfold_copy",
        "aten::narrow_copy",
    ];
    for &op in COPIES {
        let (base, overload) = op.split_once('.').unwrap_or((op, ""));
        let view = base.strip_suffix("_copy").unwrap_or(base);
        let view = if overload.is_empty() {
            view.to_string()
        } else {
            format!("{view}.{overload}")
        };
        if let Some((rule, ge)) = r.lookup(&view).copied() {
            if !r.map.contains_key(op) {
                r.add(op, rule, ge);
            }
        }
    }
}

/// Whether an op name is an in-place variant (`aten::relu_`), whose first input the walker
/// rebinds to the result.
pub fn is_inplace(op: &str) -> bool {
    let base = op.split_once('.').map(|(b, _)| b).unwrap_or(op);
    base.ends_with('_') && !base.ends_with("__")
}

/// GE nodes already made for weights and constants, so each is emitted once.
#[derive(Default)]
pub struct Materialized {
    weights: HashMap<String, Port>,
    /// Keyed by the value's tensor handle, which the entry keeps alive (so no later tensor can
    /// take its address); a value written in place gets a new handle, hence a new Const.
    constants: HashMap<*const tch::Tensor, (Rc<tch::Tensor>, Port)>,
    /// `Shape(x)` per port, and each symbolic int's port (dynamic exports), keyed by the
    /// symbolic int's handle. The entry holds a weak reference: the walk drops values no later
    /// node reads, and while the weak reference lives the handle's allocation is not freed, so
    /// no other int can take its address (its value, and the tensor it may hold, are freed).
    shapes: HashMap<Port, Port>,
    syms: HashMap<*const crate::value::SymInt, (std::rc::Weak<crate::value::SymInt>, Port)>,
    /// When set (`verify --bisect`): each weight and Const made, with a copy of its value at
    /// that moment, and its weight path (None for a constant).
    pub record: Option<Vec<(Port, tch::Tensor, Option<String>)>>,
}

impl Materialized {
    /// Every Const made from a value's tensor, with that tensor.
    pub fn constants(&self) -> impl Iterator<Item = (&tch::Tensor, Port)> {
        self.constants.values().map(|(t, p)| (&**t, *p))
    }
}

/// Turns a tensor value into a GE port, emitting its weight or Const node the first time.
pub fn port_of(
    b: &mut GraphBuilder,
    m: &mut Materialized,
    t: &TensorValue,
) -> Result<Port, String> {
    match &t.origin {
        Origin::Port(p) => Ok(*p),
        Origin::Weight(path) => {
            if let Some(p) = m.weights.get(path) {
                return Ok(*p);
            }
            let p = b.weight(path, t.tensor.clone())?;
            m.weights.insert(path.clone(), p);
            if let Some(r) = &mut m.record {
                r.push((p, t.tensor.copy(), Some(path.clone())));
            }
            Ok(p)
        }
        Origin::Constant => {
            let key = Rc::as_ptr(&t.tensor);
            if let Some((_, p)) = m.constants.get(&key) {
                return Ok(*p);
            }
            let readable = readable(&t.tensor);
            let p = b.constant(&t.tensor, &readable)?;
            m.constants.insert(key, (t.tensor.clone(), p));
            if let Some(r) = &mut m.record {
                r.push((p, t.tensor.copy(), None));
            }
            Ok(p)
        }
        Origin::Unsupported => {
            Err("internal: a value computed by an unsupported op reached lowering".into())
        }
    }
}

fn readable(t: &tch::Tensor) -> String {
    if t.numel() == 1 && t.dim() == 0 {
        return format!("{}", t.double_value(&[]));
    }
    format!("tensor({})", crate::dtype::spelled(t))
}

/// What a rule works with.
pub struct Ctx<'a> {
    pub b: &'a mut GraphBuilder,
    pub mat: &'a mut Materialized,
    pub node: &'a Node,
    pub inputs: &'a [Value],
    /// Concrete outputs, computed by libtorch.
    pub outputs: &'a [Value],
    /// What the rule assumed about dynamic dims (e.g. a slice clamped to a constant length):
    /// the walker prints each as a guard on a dynamic dim.
    pub assumptions: Vec<String>,
    /// Values the rule took as constants although they depend on a dynamic dim (a static shape,
    /// an int argument): guards like `assumptions`, so the dims they depend on are pinned (with
    /// a note) and the graph is right for every size it admits.
    pub baked: std::cell::RefCell<Vec<String>>,
    /// Sizes the rule took from the sample's data (nonzero's count, say): the walker prints each
    /// as a guard, and the node carries it for the runner to name when another input gives
    /// another size.
    pub data_guards: Vec<String>,
}

impl<'a> Ctx<'a> {
    /// Marks the node of `p` as specialised to a size the sample's data gave (`what`, e.g.
    /// "5 nonzero elements"): a guard on the console, and the node's
    /// `_torch2air_sample_size` attr, which the runner names when another input gives another
    /// size (so such an input is refused, never computed into a wrong shape).
    /// `shape` (the sample's) becomes the output's desc shape, which the runner checks.
    pub fn data_dependent(&mut self, p: Port, shape: &[i64], what: String) {
        let op = &mut self.b.ops[p.node];
        op.attr.insert(SAMPLE_SIZE_ATTR.into(), attr::string(&what));
        if let Some(d) = op.output_desc.get_mut(p.index) {
            d.shape = Some(crate::proto::ShapeDef {
                dim: shape.to_vec(),
            });
        }
        self.data_guards
            .push(format!("{what} (a size taken from the sample's data)"));
    }

    fn index(&self, name: &str) -> Result<usize, String> {
        self.node
            .args
            .iter()
            .position(|a| a == name)
            .ok_or_else(|| format!("internal: {} has no argument '{name}'", self.node.op_name()))
    }

    /// An argument by schema name.
    pub fn arg(&self, name: &str) -> Result<&'a Value, String> {
        let i = self.index(name)?;
        self.inputs
            .get(i)
            .ok_or_else(|| format!("internal: argument '{name}' missing"))
    }

    pub fn has(&self, name: &str) -> bool {
        self.index(name)
            .ok()
            .and_then(|i| self.inputs.get(i))
            .is_some_and(|v| !matches!(v, Value::None))
    }

    /// An int argument that the rule bakes into the graph. In a dynamic export an int that
    /// depends on a dynamic dim is refused here (baking it would break other sizes): rules that
    /// can compute it in the graph use `int_port`/`ints_port` instead.
    pub fn int(&self, name: &str) -> Result<i64, String> {
        let v = self.arg(name)?;
        if v.is_symbolic() {
            self.bake_arg(name, v);
        }
        v.as_int()
            .ok_or_else(|| format!("argument '{name}' must be an int"))
    }

    /// An argument that depends on a dynamic dim, taken as its sample value: the dims it
    /// depends on get pinned (see `baked`).
    fn bake_arg(&self, name: &str, v: &Value) {
        self.bake(format!(
            "argument '{name}' of {} ({v:?}) is taken as a constant",
            self.node.op_name()
        ));
    }

    /// Records a value taken as a constant although it depends on a dynamic dim.
    pub fn bake(&self, what: String) {
        self.baked.borrow_mut().push(what);
    }

    /// An int argument (plain or depending on a dynamic dim) as a 0-D INT64 port.
    pub fn int_port(&mut self, v: &Value) -> Result<Port, String> {
        sym::int_port(self.b, self.mat, v)
    }

    /// A list-of-ints argument (some may depend on dynamic dims) as a 1-D INT64 port: a Const
    /// when none does.
    pub fn ints_port(&mut self, name: &str) -> Result<Port, String> {
        let items = match self.arg(name)? {
            Value::List(v) | Value::Tuple(v) => v.clone(),
            v @ (Value::Int(_) | Value::SymInt(_)) => vec![v.clone()],
            _ => return Err(format!("argument '{name}' must be a list of ints")),
        };
        sym::ints_port(self.b, self.mat, &items)
    }

    /// Dim `d` of a tensor argument as a 0-D INT64 port (a Const when the dim is static).
    pub fn dim_port(&mut self, name: &str, d: usize) -> Result<Port, String> {
        let t = self.tensor_value(name)?.clone();
        sym::dim_port(self.b, self.mat, &t, d)
    }

    /// The shape of a tensor argument as a 1-D INT64 port: a Const when no dim is dynamic, else
    /// `Shape(x)`.
    pub fn shape_port(&mut self, name: &str) -> Result<Port, String> {
        let t = self.tensor_value(name)?.clone();
        if t.dynamic_dims().iter().any(|d| *d) {
            sym::shape_port(self.b, self.mat, &t)
        } else {
            self.const_i64(&t.tensor.size())
        }
    }

    /// The shape of a tensor argument with -1 for dynamic dims.
    pub fn in_desc_shape(&self, name: &str) -> Result<Vec<i64>, String> {
        Ok(self.tensor_value(name)?.desc_shape())
    }

    /// The shape of concrete output `i` with -1 for dynamic dims.
    pub fn out_desc_shape(&self, i: usize) -> Result<Vec<i64>, String> {
        self.outputs
            .get(i)
            .and_then(|v| v.tensors().first().map(|t| t.desc_shape()))
            .ok_or_else(|| {
                format!(
                    "internal: output {i} of {} is not a tensor",
                    self.node.op_name()
                )
            })
    }

    /// The rank of a tensor argument (always static).
    pub fn rank(&self, name: &str) -> Result<usize, String> {
        Ok(self.tensor_value(name)?.tensor.dim())
    }

    /// The dims of a tensor argument, None for dynamic ones.
    pub fn in_dims(&self, name: &str) -> Result<Vec<Option<i64>>, String> {
        let t = self.tensor_value(name)?;
        Ok(t.tensor
            .size()
            .into_iter()
            .zip(t.dynamic_dims())
            .map(|(s, d)| (!d).then_some(s))
            .collect())
    }

    /// Which dims of concrete output `i` are dynamic.
    pub fn out_dynamic(&self, i: usize) -> Result<Vec<bool>, String> {
        let t = self
            .outputs
            .get(i)
            .and_then(|v| v.tensors().first().map(|t| t.dynamic_dims()));
        t.ok_or_else(|| {
            format!(
                "internal: output {i} of {} is not a tensor",
                self.node.op_name()
            )
        })
    }

    pub fn out_rank(&self, i: usize) -> Result<usize, String> {
        Ok(self.out_tensor(i)?.dim())
    }

    pub fn float(&self, name: &str) -> Result<f64, String> {
        let v = self.arg(name)?;
        if v.is_symbolic() {
            self.bake_arg(name, v);
        }
        v.as_f64()
            .ok_or_else(|| format!("argument '{name}' must be a number"))
    }

    pub fn bool(&self, name: &str) -> Result<bool, String> {
        let v = self.arg(name)?;
        if v.is_symbolic() {
            self.bake_arg(name, v);
        }
        v.as_bool()
            .ok_or_else(|| format!("argument '{name}' must be a bool"))
    }

    pub fn ints(&self, name: &str) -> Result<Vec<i64>, String> {
        let v = self.arg(name)?;
        if v.is_symbolic() {
            self.bake_arg(name, v);
        }
        v.as_int_list()
            .ok_or_else(|| format!("argument '{name}' must be a list of ints"))
    }

    pub fn tensor_value(&self, name: &str) -> Result<&'a TensorValue, String> {
        self.arg(name)?
            .as_tensor()
            .ok_or_else(|| format!("argument '{name}' must be a tensor"))
    }

    /// The GE port of a tensor argument.
    pub fn tensor(&mut self, name: &str) -> Result<Port, String> {
        let t = self.tensor_value(name)?;
        port_of(self.b, self.mat, t)
    }

    pub fn port(&mut self, t: &TensorValue) -> Result<Port, String> {
        port_of(self.b, self.mat, t)
    }

    /// A tensor argument cast to `dt`.
    pub fn tensor_as(&mut self, name: &str, dt: DType) -> Result<Port, String> {
        let p = self.tensor(name)?;
        self.cast(p, dt)
    }

    /// A tensor or a Python number as a port of dtype `dt` (numbers become 0-D Consts).
    pub fn operand(&mut self, name: &str, dt: DType) -> Result<Port, String> {
        match self.arg(name)? {
            Value::Tensor(_) => self.tensor_as(name, dt),
            // An int computed from a dynamic dim is computed in the graph, then cast.
            v @ Value::SymInt(_) => {
                let v = v.clone();
                let p = self.int_port(&v)?;
                self.cast(p, dt)
            }
            v => {
                let x = v
                    .as_f64()
                    .ok_or_else(|| format!("argument '{name}' must be a tensor or a number"))?;
                self.scalar(x, dt)
            }
        }
    }

    pub fn in_dtype(&self, name: &str) -> Result<DType, String> {
        crate::dtype::of_tensor(&self.tensor_value(name)?.tensor)
    }

    /// The static shape of a tensor argument; when a dim is dynamic, the sample's, and the dims
    /// it depends on get pinned (see `baked`; `in_dims` for rules that handle dynamic dims).
    pub fn in_shape(&self, name: &str) -> Result<Vec<i64>, String> {
        let t = self.tensor_value(name)?;
        if t.dynamic_dims().iter().any(|d| *d) {
            self.bake(format!(
                "the rule for {} takes the shape of '{name}' ({:?}) as the constant {:?}",
                self.node.op_name(),
                t.desc_shape(),
                t.tensor.size()
            ));
        }
        Ok(t.tensor.size())
    }

    /// The sizes of the dims from `from` on of a tensor argument; those that are dynamic are
    /// taken as the sample's, and the dims they depend on get pinned (with a note saying `why`):
    /// for rules whose graph needs them constant (windows, weights computed at export).
    pub fn in_dims_pinned(&self, name: &str, from: usize, why: &str) -> Result<Vec<i64>, String> {
        let t = self.tensor_value(name)?;
        let size = t.tensor.size();
        let from = from.min(size.len());
        if t.dynamic_dims()[from..].iter().any(|d| *d) {
            self.bake(format!(
                "{} takes dims {from}.. of '{name}' ({:?}) as the constants {:?}: {why}",
                self.node.op_name(),
                &t.desc_shape()[from..],
                &size[from..]
            ));
        }
        Ok(size[from..].to_vec())
    }

    fn out_tensor(&self, i: usize) -> Result<&tch::Tensor, String> {
        let t = self
            .outputs
            .get(i)
            .and_then(|v| v.tensors().first().map(|t| &*t.tensor));
        t.ok_or_else(|| {
            format!(
                "internal: output {i} of {} is not a tensor",
                self.node.op_name()
            )
        })
    }

    /// dtype of concrete output `i`.
    pub fn out_dtype(&self, i: usize) -> Result<DType, String> {
        crate::dtype::of_tensor(self.out_tensor(i)?)
    }

    /// The static shape of concrete output `i`; when a dim of it is dynamic, the sample's, and
    /// the dims it depends on get pinned (see `baked`).
    pub fn out_shape(&self, i: usize) -> Result<Vec<i64>, String> {
        if self.out_dynamic(i)?.iter().any(|d| *d) {
            self.bake(format!(
                "the rule for {} takes the shape of output {i} ({:?}) as the constant {:?}",
                self.node.op_name(),
                self.out_desc_shape(i)?,
                self.out_tensor(i)?.size()
            ));
        }
        Ok(self.out_tensor(i)?.size())
    }

    pub fn op(
        &mut self,
        ty: &str,
        inputs: Vec<In>,
        attrs: Vec<(&str, AttrDef)>,
        outs: &[Option<DType>],
    ) -> RuleResult {
        self.b.op(ty, inputs, attrs, outs)
    }

    /// A one-input op of dtype `t`.
    pub fn un(&mut self, ty: &str, x: Port, t: DType) -> Result<Port, String> {
        self.op1(ty, vec![In::P(x)], vec![], t)
    }

    /// A two-input op of dtype `t` (the operands already cast as it needs).
    pub fn bin(&mut self, ty: &str, a: Port, b: Port, t: DType) -> Result<Port, String> {
        self.op1(ty, vec![In::P(a), In::P(b)], vec![], t)
    }

    /// A single-output op.
    pub fn op1(
        &mut self,
        ty: &str,
        inputs: Vec<In>,
        attrs: Vec<(&str, AttrDef)>,
        out: DType,
    ) -> Result<Port, String> {
        Ok(self.b.op(ty, inputs, attrs, &[Some(out)])?[0])
    }

    /// `Cast` to `dt`, or `p` itself when it already has that dtype; a small `Const` (a Python
    /// scalar a trace kept as an f64 tensor, say) becomes a `Const` of `dt` instead of a `Const`
    /// and a `Cast`, as TorchAir writes scalars.
    pub fn cast(&mut self, p: Port, dt: DType) -> Result<Port, String> {
        if self.b.out_dtype(p) == Some(dt) {
            return Ok(p);
        }
        if let Some(t) = self.small_const(p) {
            let readable = self.b.ops[p.node]
                .attr
                .get("_readable_value")
                .and_then(attr::as_str)
                .unwrap_or_default();
            return self.b.constant(&t.to_kind(dt.kind()), &readable);
        }
        self.op1(
            "Cast",
            vec![In::P(p)],
            vec![("dst_type", attr::int(dt.ge_cpp()))],
            dt,
        )
    }

    /// The value of the `Const` at `p` when it has at most 16 elements (folding a `Cast` of it
    /// then costs nothing).
    fn small_const(&self, p: Port) -> Option<tch::Tensor> {
        let op = &self.b.ops[p.node];
        if op.r#type != "Const" || p.index != 0 {
            return None;
        }
        let v = op.attr.get("value").and_then(attr::as_tensor)?;
        let d = v.desc.as_ref()?;
        let dt = DType::from_ge_proto(d.dtype)?;
        let shape = d.shape.as_ref().map(|s| s.dim.clone()).unwrap_or_default();
        if shape.iter().product::<i64>() > 16 {
            return None;
        }
        crate::run::tensor_from_bytes(&v.data, dt, &shape).ok()
    }

    /// `BatchMatMulV2(a, b (transposed when adj_b), bias?)`.
    pub fn batch_matmul(
        &mut self,
        a: Port,
        b: Port,
        bias: Option<Port>,
        adj_b: bool,
        dt: DType,
    ) -> Result<Port, String> {
        self.op1(
            "BatchMatMulV2",
            vec![In::P(a), In::P(b), bias.map(In::P).unwrap_or(In::Unfed)],
            vec![
                ("adj_x1", attr::boolean(false)),
                ("adj_x2", attr::boolean(adj_b)),
            ],
            dt,
        )
    }

    /// `x[begin:end]` along `axis` (StridedSliceV2 with constant bounds).
    pub fn slice_axis(
        &mut self,
        x: Port,
        axis: i64,
        begin: i64,
        end: i64,
        dt: DType,
    ) -> Result<Port, String> {
        let b = self.const_i64(&[begin])?;
        let e = self.const_i64(&[end])?;
        let a = self.const_i64(&[axis])?;
        let s = self.const_i64(&[1])?;
        self.op1(
            "StridedSliceV2",
            vec![In::P(x), In::P(b), In::P(e), In::P(a), In::P(s)],
            vec![],
            dt,
        )
    }

    /// `Reshape(x, K64(shape))`.
    pub fn reshape_const(&mut self, x: Port, shape: &[i64], dt: DType) -> Result<Port, String> {
        let s = self.const_i64(shape)?;
        self.op1("Reshape", vec![In::P(x), In::P(s)], vec![], dt)
    }

    /// `Transpose(x, K64(perm))`.
    pub fn transpose_const(&mut self, x: Port, perm: &[i64], dt: DType) -> Result<Port, String> {
        let p = self.const_i64(perm)?;
        self.op1("Transpose", vec![In::P(x), In::P(p)], vec![], dt)
    }

    /// A 0-D Const of dtype `dt`.
    pub fn scalar(&mut self, x: f64, dt: DType) -> Result<Port, String> {
        let t = tch::Tensor::from(x).to_kind(dt.kind());
        self.b.constant(&t, &format!("{x}"))
    }

    /// An INT64 Const: 1-D from a list.
    pub fn const_i64(&mut self, v: &[i64]) -> Result<Port, String> {
        let t = tch::Tensor::from_slice(v);
        self.b.constant(&t, &format!("{v:?}"))
    }

    /// `ty(x, K64(axes); keep_dims)`: a GE reduction (ReduceSum, ReduceMax, ...) over `axes`.
    pub fn reduce_axes(
        &mut self,
        ty: &str,
        x: Port,
        axes: &[i64],
        keep: bool,
        dt: DType,
    ) -> Result<Port, String> {
        let a = self.const_i64(axes)?;
        self.op1(
            ty,
            vec![In::P(x), In::P(a)],
            vec![("keep_dims", crate::ge::attr::boolean(keep))],
            dt,
        )
    }

    /// A 0-D INT64 Const.
    pub fn scalar_i64(&mut self, v: i64) -> Result<Port, String> {
        let t = tch::Tensor::from(v);
        self.b.constant(&t, &format!("{v}"))
    }

    /// Normalizes a possibly negative dim against a rank.
    pub fn dim(d: i64, rank: i64) -> i64 {
        if d < 0 {
            d + rank.max(1)
        } else {
            d
        }
    }
}

/// The GE value of `other` after an in-place op wrote `written` (the op's result, a view's new
/// value) into part of its memory: `other` flattened, its elements at `p` replaced by
/// `written`'s at `q` (`TensorScatterUpdate`), reshaped back. `p`, `q` come from the concrete
/// tensors' memory (walk/alias.rs), so this needs static shapes.
pub fn write_back(
    b: &mut GraphBuilder,
    m: &mut Materialized,
    other: &TensorValue,
    written: &TensorValue,
    p: &tch::Tensor,
    q: &tch::Tensor,
) -> Result<Port, String> {
    let dt = crate::dtype::of_tensor(&other.tensor)?;
    let x = port_of(b, m, other)?;
    let w = port_of(b, m, written)?;
    let flat = b.constant(&tch::Tensor::from_slice(&[-1i64]), "[-1]")?;
    let xf = b.op("Reshape", vec![In::P(x), In::P(flat)], vec![], &[Some(dt)])?[0];
    let wf = b.op("Reshape", vec![In::P(w), In::P(flat)], vec![], &[Some(dt)])?[0];
    let qc = b.constant(q, "positions in the written view")?;
    let axis = b.constant(&tch::Tensor::from(0i64), "0")?;
    let upd = b.op(
        "GatherV2",
        vec![In::P(wf), In::P(qc), In::P(axis)],
        vec![],
        &[Some(dt)],
    )?[0];
    let pc = b.constant(&p.unsqueeze(1), "positions written")?;
    let y = b.op(
        "TensorScatterUpdate",
        vec![In::P(xf), In::P(pc), In::P(upd)],
        vec![],
        &[Some(dt)],
    )?[0];
    let shape = other.tensor.size();
    let s = b.constant(&tch::Tensor::from_slice(&shape), &format!("{shape:?}"))?;
    Ok(b.op("Reshape", vec![In::P(y), In::P(s)], vec![], &[Some(dt)])?[0])
}
