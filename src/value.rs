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
}

impl TensorValue {
    pub fn new(tensor: tch::Tensor, origin: Origin) -> Self {
        TensorValue {
            tensor: Rc::new(tensor),
            origin,
        }
    }
}

#[derive(Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tensor(TensorValue),
    List(Vec<Value>),
    Tuple(Vec<Value>),
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
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Tensor(_) => "Tensor",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
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
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Bool(b) => Some(*b as i64 as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }

    pub fn as_int_list(&self) -> Option<Vec<i64>> {
        match self {
            Value::List(v) | Value::Tuple(v) => v.iter().map(Value::as_int).collect(),
            Value::Int(i) => Some(vec![*i]),
            _ => None,
        }
    }

    /// Every tensor inside this value, depth first.
    pub fn tensors(&self) -> Vec<&TensorValue> {
        let mut out = Vec::new();
        fn go<'a>(v: &'a Value, out: &mut Vec<&'a TensorValue>) {
            match v {
                Value::Tensor(t) => out.push(t),
                Value::List(items) | Value::Tuple(items) => items.iter().for_each(|i| go(i, out)),
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
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Tensor(t) => write!(f, "Tensor({:?}, {:?})", t.tensor.kind(), t.tensor.size()),
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
        }
    }
}
