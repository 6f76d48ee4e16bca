//! Runner kernels: one small function per GE op type, grouped by family.
mod activation;
mod collectives;
mod compare;
mod conv;
mod detection;
mod elementwise;
mod index;
mod layout;
mod linalg;
mod loss;
mod math;
mod nn;
mod norm;
mod pad;
mod patches;
mod pool;
mod reduction;
mod resize;
mod select;
mod shape;
mod sort;
mod spatial;
mod special;
mod stats;

use crate::ge::attr;
use crate::proto::OpDef;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use tch::Tensor;

pub type Kernel = fn(&KCtx) -> Result<Vec<Tensor>, String>;

pub struct KCtx<'a> {
    pub op: &'a OpDef,
    /// Inputs by slot; None for an unfed optional input.
    pub inputs: Vec<Option<Tensor>>,
    /// A graph torch2air did not write: GE's leniencies apply (with a warning) where torch2air's
    /// own graphs are held to the prototype.
    pub foreign: bool,
}

impl KCtx<'_> {
    /// The input whose desc has this name (`x`, `x1`, `bias`), if fed.
    pub fn opt(&self, name: &str) -> Option<&Tensor> {
        let i = self.op.input_desc.iter().position(|d| d.name == name)?;
        self.inputs.get(i)?.as_ref()
    }
    pub fn input(&self, name: &str) -> Result<&Tensor, String> {
        self.opt(name)
            .ok_or_else(|| format!("input '{name}' is missing"))
    }
    /// A dynamic input: `x0`, `x1`, ...
    pub fn dynamic(&self, name: &str) -> Vec<&Tensor> {
        (0..)
            .map_while(|k| self.opt(&format!("{name}{k}")))
            .collect()
    }
    /// The attr as given, else its prototype default (GE fills in defaults of absent attrs).
    fn attr(&self, name: &str) -> Result<std::borrow::Cow<'_, crate::proto::AttrDef>, String> {
        if let Some(a) = self.op.attr.get(name) {
            return Ok(std::borrow::Cow::Borrowed(a));
        }
        crate::ge::schema::op(&self.op.r#type)
            .and_then(|p| p.attr(name))
            .and_then(crate::ge::schema::default_attr)
            .map(std::borrow::Cow::Owned)
            .ok_or_else(|| format!("attr '{name}' is missing"))
    }
    /// The layout of the input named `name`: its `input_layout_info` entry (TorchAir: formats,
    /// then input indices), else the op's `data_format` attr (or its default).
    pub fn input_layout(&self, name: &str) -> Result<String, String> {
        let k = self.op.input_desc.iter().position(|d| d.name == name);
        if let (Some(l), Some(k)) = (
            self.op.attr.get("input_layout_info").and_then(layout_info),
            k,
        ) {
            if let Some((_, f)) = l.iter().find(|(i, _)| *i == k as i64) {
                return Ok(f.clone());
            }
        }
        self.string("data_format")
    }
    pub fn int(&self, name: &str) -> Result<i64, String> {
        attr::as_int(&*self.attr(name)?).ok_or_else(|| format!("attr '{name}' is not an int"))
    }
    pub fn float(&self, name: &str) -> Result<f64, String> {
        attr::as_float(&*self.attr(name)?)
            .map(f64::from)
            .ok_or_else(|| format!("attr '{name}' is not a float"))
    }
    pub fn bool(&self, name: &str) -> Result<bool, String> {
        attr::as_bool(&*self.attr(name)?).ok_or_else(|| format!("attr '{name}' is not a bool"))
    }
    pub fn string(&self, name: &str) -> Result<String, String> {
        attr::as_str(&*self.attr(name)?).ok_or_else(|| format!("attr '{name}' is not a string"))
    }
    pub fn ints(&self, name: &str) -> Result<Vec<i64>, String> {
        attr::as_list_int(&*self.attr(name)?)
            .ok_or_else(|| format!("attr '{name}' is not a list of ints"))
    }
}

/// An `input_layout_info`/`output_layout_info` attr: a list holding the formats (s) and the
/// input/output indices (i) they apply to, pairwise.
pub fn layout_info(a: &crate::proto::AttrDef) -> Option<Vec<(i64, String)>> {
    let Some(crate::proto::attr_def::Value::List(l)) = &a.value else {
        return None;
    };
    if l.s.len() != l.i.len() {
        return None;
    }
    Some(
        l.i.iter()
            .zip(&l.s)
            .map(|(i, s)| (*i, String::from_utf8_lossy(s).into_owned()))
            .collect(),
    )
}

/// Values of an integer tensor input (axes, perm, shape).
pub fn int_values(t: &Tensor) -> Result<Vec<i64>, String> {
    match t.kind() {
        tch::Kind::Int64 | tch::Kind::Int => {
            Vec::<i64>::try_from(t.to_kind(tch::Kind::Int64).flatten(0, -1))
                .map_err(|e| e.to_string())
        }
        k => Err(format!("expected an INT32/INT64 tensor, got {k:?}")),
    }
}

pub fn norm_dim(d: i64, rank: i64) -> i64 {
    if d < 0 {
        d + rank
    } else {
        d
    }
}

/// The promoted dtype of two dtypes (libtorch's promotion table: INT32 with INT64 is INT64, an
/// int with a float is the float).
pub fn promote(a: tch::Kind, b: tch::Kind) -> tch::Kind {
    let z = |k| Tensor::zeros([0i64; 0], (k, tch::Device::Cpu));
    (z(a) + z(b)).kind()
}

/// Both operands of a binary op must share a dtype: GE does not promote.
pub fn same_dtype(a: &Tensor, b: &Tensor) -> Result<(), String> {
    if a.kind() != b.kind() {
        return Err(format!(
            "operands have different dtypes ({:?} and {:?}); GE does not promote",
            a.kind(),
            b.kind()
        ));
    }
    Ok(())
}

/// A libtorch result as a runner error (its first line, without the C++ backtrace).
pub fn tc<T>(r: Result<T, tch::TchError>) -> Result<T, String> {
    r.map_err(|e| crate::load::short_torch_message(&e.to_string()))
}

/// A kernel family's registration function.
type Register = fn(&mut BTreeMap<&'static str, Kernel>);

fn registry() -> &'static BTreeMap<&'static str, Kernel> {
    static K: OnceLock<BTreeMap<&'static str, Kernel>> = OnceLock::new();
    K.get_or_init(|| {
        let families: &[(&str, Register)] = &[
            ("elementwise", elementwise::register),
            ("nn", nn::register),
            ("reduction", reduction::register),
            ("shape", shape::register),
            ("compare", compare::register),
            ("index", index::register),
            ("layout", layout::register),
            ("math", math::register),
            ("sort", sort::register),
            ("collectives", collectives::register),
            ("conv", conv::register),
            ("pool", pool::register),
            ("norm", norm::register),
            ("resize", resize::register),
            ("pad", pad::register),
            ("activation", activation::register),
            ("loss", loss::register),
            ("patches", patches::register),
            ("detection", detection::register),
            ("stats", stats::register),
            ("select", select::register),
            ("special", special::register),
            ("linalg", linalg::register),
        ];
        let mut m = BTreeMap::new();
        for (family, register) in families {
            let mut part = BTreeMap::new();
            register(&mut part);
            for (op, k) in part {
                assert!(
                    m.insert(op, k).is_none(),
                    "kernel for {op} registered twice (again by {family})"
                );
            }
        }
        m
    })
}

pub fn kernel(op_type: &str) -> Option<Kernel> {
    registry().get(op_type).copied()
}

pub fn kernel_names() -> Vec<&'static str> {
    registry().keys().copied().collect()
}
