//! The values the walker computes with: concrete TorchScript values, where tensors also carry
//! where they come from in the GE graph being built.
use std::fmt;
use std::rc::Rc;

/// An output port of a GE node: (node index in the graph builder, output index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    pub node: usize,
    pub index: usize,
}

/// Where a tensor value comes from, for lowering.
#[derive(Clone, Debug)]
pub enum Origin {
    /// Produced by a GE node.
    Port(Port),
    /// A module parameter, buffer or tensor attribute, by dotted path; becomes a weight node.
    Weight(String),
    /// A constant of the graph (or computed from constants only); becomes a `Const` node.
    Constant,
    /// Computed by an op that has no lowering; the export fails, the walk goes on to find more.
    Unsupported,
}

#[derive(Clone)]
pub struct TensorValue {
    pub tensor: Rc<tch::Tensor>,
    pub origin: Origin,
    /// In a dynamic export, the same value computed from the probe inputs (every dynamic input dim
    /// one larger): the dims where the two differ are the tensor's dynamic dims.
    pub probe: Option<Rc<tch::Tensor>>,
    /// The same value computed from the far probe inputs (every dynamic input dim
    /// `dynamic::FAR` larger): a dim that a stride or a rounding maps to the same size at the
    /// sample and at the probe differs here.
    pub far: Option<Rc<tch::Tensor>>,
}

impl TensorValue {
    pub fn new(tensor: tch::Tensor, origin: Origin) -> Self {
        TensorValue {
            tensor: Rc::new(tensor),
            origin,
            probe: None,
            far: None,
        }
    }

    /// Per dim: whether it is dynamic (differs between the sample and either probe).
    pub fn dynamic_dims(&self) -> Vec<bool> {
        let size = self.tensor.size();
        let differs = |p: &Option<Rc<tch::Tensor>>| match p {
            Some(p) => {
                let ps = p.size();
                size.iter()
                    .enumerate()
                    .map(|(i, d)| ps.get(i) != Some(d))
                    .collect()
            }
            None => vec![false; size.len()],
        };
        let (a, b) = (differs(&self.probe), differs(&self.far));
        a.into_iter().zip(b).map(|(x, y)| x || y).collect()
    }

    /// The value computed from the probe (or the far probe) inputs, if any.
    pub fn probe_of(&self, which: Probe) -> Option<&Rc<tch::Tensor>> {
        match which {
            Probe::Near => self.probe.as_ref(),
            Probe::Far => self.far.as_ref(),
        }
    }

    /// Sizes of dim `d` at (sample, probe, far probe); the sample's size where a probe is missing.
    pub fn dim_triple(&self, d: usize) -> (i64, i64, i64) {
        let s = self.tensor.size()[d];
        let at =
            |p: Option<&Rc<tch::Tensor>>| p.and_then(|p| p.size().get(d).copied()).unwrap_or(s);
        (s, at(self.probe.as_ref()), at(self.far.as_ref()))
    }

    /// The shape with -1 for dynamic dims (as written in descs).
    pub fn desc_shape(&self) -> Vec<i64> {
        self.tensor
            .size()
            .into_iter()
            .zip(self.dynamic_dims())
            .map(|(d, dy)| if dy { -1 } else { d })
            .collect()
    }
}

/// How an int that depends on a dynamic dim is computed, so that lowering can emit the same
/// computation in the graph (`Shape`, `GatherV2`, integer arithmetic) instead of a constant.
#[derive(Clone)]
pub enum Sym {
    /// Dim `dim` of a tensor.
    Dim(TensorValue, usize),
    /// The value of a 0-D integer tensor computed in the graph (`aten::Int` of a shape tensor).
    Scalar(TensorValue),
    /// An arithmetic op on two ints (either may be symbolic).
    Bin(BinOp, Box<Value>, Box<Value>),
    /// Computed by something the graph cannot express; the string says what.
    Opaque(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    FloorDiv,
    Rem,
    Max,
    Min,
}

/// An int that depends on a dynamic dim: its value for the sample inputs, for the probe inputs,
/// and how to compute it.
pub struct SymInt {
    pub value: i64,
    pub probe: i64,
    /// Its value for the far probe inputs.
    pub far: i64,
    pub sym: Sym,
}

/// Which of the two probe input sets of a dynamic export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Every dynamic dim grown by one.
    Near,
    /// Every dynamic dim grown by `dynamic::FAR`.
    Far,
}

#[derive(Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tensor(TensorValue),
    /// An int that depends on a dynamic dim (dynamic exports only).
    SymInt(Rc<SymInt>),
    /// A bool computed from a dynamic dim (dynamic exports only): a branch on it is a guard on
    /// the dynamic dim. (sample value, probe value, far probe value)
    SymBool(bool, bool, bool),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// A TorchScript dict: (key, value) pairs in insertion order.
    Dict(Vec<(Value, Value)>),
    /// c10::DeviceType and index.
    Device(i64, i64),
    /// A TorchScript object (a module): its class name and its attribute path from the root.
    Object {
        class: String,
        path: String,
    },
    /// A value the walker can hold but not compute with (a dict, a future, ...).
    Other(String),
}

impl Value {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::SymInt(_) => "int",
            Value::SymBool(..) => "bool",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Tensor(_) => "Tensor",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Device(..) => "Device",
            Value::Object { .. } => "object",
            Value::Other(_) => "other",
        }
    }

    pub fn as_tensor(&self) -> Option<&TensorValue> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::SymInt(s) => Some(s.value),
            Value::Bool(b) | Value::SymBool(b, ..) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::SymInt(s) => Some(s.value as f64),
            Value::Float(f) => Some(*f),
            Value::Bool(b) | Value::SymBool(b, ..) => Some(*b as i64 as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) | Value::SymBool(b, ..) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            Value::SymInt(s) => Some(s.value != 0),
            _ => None,
        }
    }

    pub fn as_int_list(&self) -> Option<Vec<i64>> {
        match self {
            Value::List(v) | Value::Tuple(v) => v.iter().map(Value::as_int).collect(),
            Value::Int(_) | Value::SymInt(_) => Some(vec![self.as_int()?]),
            _ => None,
        }
    }

    /// Whether this value (or anything in it) depends on a dynamic dim: a symbolic int or
    /// bool, or a tensor with a probe.
    pub fn is_symbolic(&self) -> bool {
        match self {
            Value::SymInt(_) | Value::SymBool(..) => true,
            Value::List(v) | Value::Tuple(v) => v.iter().any(Value::is_symbolic),
            Value::Dict(v) => v.iter().any(|(_, x)| x.is_symbolic()),
            _ => false,
        }
    }

    /// The same value as computed from the probe inputs.
    pub fn probe(&self) -> Value {
        self.probe_at(Probe::Near)
    }

    /// The same value as computed from the probe (or far probe) inputs.
    pub fn probe_at(&self, which: Probe) -> Value {
        match self {
            Value::SymInt(s) => Value::Int(match which {
                Probe::Near => s.probe,
                Probe::Far => s.far,
            }),
            Value::SymBool(_, p, f) => Value::Bool(match which {
                Probe::Near => *p,
                Probe::Far => *f,
            }),
            Value::Tensor(t) => match t.probe_of(which) {
                Some(p) => Value::Tensor(TensorValue {
                    tensor: p.clone(),
                    origin: t.origin.clone(),
                    probe: None,
                    far: None,
                }),
                None => self.clone(),
            },
            Value::List(v) => Value::List(v.iter().map(|x| x.probe_at(which)).collect()),
            Value::Tuple(v) => Value::Tuple(v.iter().map(|x| x.probe_at(which)).collect()),
            Value::Dict(v) => Value::Dict(
                v.iter()
                    .map(|(k, x)| (k.clone(), x.probe_at(which)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Whether any tensor in this value carries a probe.
    pub fn has_probe(&self) -> bool {
        self.is_symbolic()
            || self
                .tensors()
                .iter()
                .any(|t| t.probe.is_some() || t.far.is_some())
    }

    /// Every tensor inside this value, depth first.
    pub fn tensors(&self) -> Vec<&TensorValue> {
        let mut out = Vec::new();
        fn go<'a>(v: &'a Value, out: &mut Vec<&'a TensorValue>) {
            match v {
                Value::Tensor(t) => out.push(t),
                Value::List(items) | Value::Tuple(items) => items.iter().for_each(|i| go(i, out)),
                Value::Dict(items) => items.iter().for_each(|(_, i)| go(i, out)),
                _ => {}
            }
        }
        go(self, &mut out);
        out
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => write!(f, "None"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::SymInt(s) => write!(f, "{} (dynamic)", s.value),
            Value::SymBool(b, ..) => write!(f, "{b} (dynamic)"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Tensor(t) => write!(f, "Tensor({})", crate::dtype::spelled(&t.tensor)),
            Value::List(v) => f.debug_list().entries(v).finish(),
            Value::Tuple(v) => {
                write!(f, "(")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{x:?}")?;
                }
                write!(f, ")")
            }
            Value::Device(t, i) => write!(f, "Device({t}, {i})"),
            Value::Object { class, path } => write!(f, "{class} at '{path}'"),
            Value::Other(s) => write!(f, "<{s}>"),
            Value::Dict(v) => f
                .debug_map()
                .entries(v.iter().map(|(k, x)| (k, x)))
                .finish(),
        }
    }
}
