//! Stage 3, lower: one small rule per ATen op, registered by schema name and grouped by family.
//! A rule sees the node's inputs (concrete values whose tensors carry their GE origin) and the
//! concrete outputs the walker computed with libtorch, and emits GE ops for the tensor outputs.
//! Output dtypes come from the concrete outputs, so every rule casts operands to PyTorch's own
//! promotion result instead of relying on GE's implicit casts (aten-to-ge.md section 1.3).
mod elementwise;
mod nn;
mod reduction;
mod shape;
mod vision;
mod vision_borrowed;
mod vision_encoder;
mod vision_rnn;

use crate::dtype::DType;
use crate::ge::{attr, GraphBuilder, In};
use crate::load::Node;
use crate::proto::AttrDef;
use crate::value::{Origin, Port, TensorValue, Value};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::OnceLock;

pub type RuleResult = Result<Vec<Port>, String>;
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
        let (base, overload) = match op.split_once('.') {
            Some((b, o)) => (b, Some(o)),
            None => (op, None),
        };
        let find = |b: &str| {
            overload
                .and_then(|o| self.map.get(format!("{b}.{o}").as_str()))
                .or_else(|| self.map.get(b))
                .map(|(r, _)| *r)
        };
        find(base).or_else(|| base.strip_suffix('_').and_then(find))
    }

    pub fn list(&self) -> impl Iterator<Item = (&&'static str, &&'static str)> {
        self.map.iter().map(|(k, (_, g))| (k, g))
    }
}

pub fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut r = Rules {
            map: BTreeMap::new(),
        };
        elementwise::register(&mut r);
        nn::register(&mut r);
        reduction::register(&mut r);
        shape::register(&mut r);
        vision::register(&mut r);
        vision_borrowed::register(&mut r);
        r
    })
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
    constants: HashMap<*const tch::Tensor, Port>,
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
            Ok(p)
        }
        Origin::Constant => {
            let key = Rc::as_ptr(&t.tensor);
            if let Some(p) = m.constants.get(&key) {
                return Ok(*p);
            }
            let readable = readable(&t.tensor);
            let p = b.constant(&t.tensor, &readable)?;
            m.constants.insert(key, p);
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
    format!("tensor(dtype={:?}, shape={:?})", t.kind(), t.size())
}

/// What a rule works with.
pub struct Ctx<'a> {
    pub b: &'a mut GraphBuilder,
    pub mat: &'a mut Materialized,
    pub node: &'a Node,
    pub inputs: &'a [Value],
    /// Concrete outputs, computed by libtorch.
    pub outputs: &'a [Value],
}

impl<'a> Ctx<'a> {
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

    pub fn int(&self, name: &str) -> Result<i64, String> {
        self.arg(name)?
            .as_int()
            .ok_or_else(|| format!("argument '{name}' must be an int"))
    }

    pub fn float(&self, name: &str) -> Result<f64, String> {
        self.arg(name)?
            .as_f64()
            .ok_or_else(|| format!("argument '{name}' must be a number"))
    }

    pub fn bool(&self, name: &str) -> Result<bool, String> {
        self.arg(name)?
            .as_bool()
            .ok_or_else(|| format!("argument '{name}' must be a bool"))
    }

    pub fn ints(&self, name: &str) -> Result<Vec<i64>, String> {
        self.arg(name)?
            .as_int_list()
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

    pub fn in_shape(&self, name: &str) -> Result<Vec<i64>, String> {
        Ok(self.tensor_value(name)?.tensor.size())
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

    pub fn out_shape(&self, i: usize) -> Result<Vec<i64>, String> {
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

    /// `Cast` to `dt`, or `p` itself when it already has that dtype.
    pub fn cast(&mut self, p: Port, dt: DType) -> Result<Port, String> {
        if self.b.out_dtype(p) == Some(dt) {
            return Ok(p);
        }
        self.op1(
            "Cast",
            vec![In::P(p)],
            vec![("dst_type", attr::int(dt.ge_cpp()))],
            dt,
        )
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
