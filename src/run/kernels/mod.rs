//! Runner kernels: one small function per GE op type, grouped by family.
mod activation;
mod collectives;
mod compare;
mod conv;
mod elementwise;
mod index;
mod layout;
mod loss;
mod math;
mod nn;
mod norm;
mod pad;
mod patches;
mod pool;
mod reduction;
mod resize;
mod shape;
mod sort;
mod spatial;

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
    fn attr(&self, name: &str) -> Result<&crate::proto::AttrDef, String> {
        self.op
            .attr
            .get(name)
            .ok_or_else(|| format!("attr '{name}' is missing"))
    }
    pub fn int(&self, name: &str) -> Result<i64, String> {
        attr::as_int(self.attr(name)?).ok_or_else(|| format!("attr '{name}' is not an int"))
    }
    pub fn float(&self, name: &str) -> Result<f64, String> {
        attr::as_float(self.attr(name)?)
            .map(f64::from)
            .ok_or_else(|| format!("attr '{name}' is not a float"))
    }
    pub fn bool(&self, name: &str) -> Result<bool, String> {
        attr::as_bool(self.attr(name)?).ok_or_else(|| format!("attr '{name}' is not a bool"))
    }
    pub fn string(&self, name: &str) -> Result<String, String> {
        attr::as_str(self.attr(name)?).ok_or_else(|| format!("attr '{name}' is not a string"))
    }
    pub fn ints(&self, name: &str) -> Result<Vec<i64>, String> {
        attr::as_list_int(self.attr(name)?)
            .ok_or_else(|| format!("attr '{name}' is not a list of ints"))
    }
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
