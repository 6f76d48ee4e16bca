//! Shape arithmetic in the graph, for dynamic exports: an int that depends on a dynamic dim
//! (`x.size(0)`, `x.size(1) * 4`, `aten::Int` of a shape tensor) is emitted as the GE computation
//! that yields it at run time (`Shape` → `Gather` → `Add`/`Sub`/`Mul`/`FloorDiv`/...), and a list
//! of such ints as a `Pack` of them. Plain ints stay `Const`s, so static exports hold no shape op.
use super::{port_of, Ctx, Materialized, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, GraphBuilder, In};
use crate::value::{BinOp, Sym, SymInt, TensorValue, Value};
use std::rc::Rc;

pub fn register(r: &mut Rules) {
    r.add(
        "prim::NumToTensor",
        num_to_tensor,
        "an int: a 0-D constant; an int computed from a dynamic dim: that computation (Shape, Gather, Add/Sub/Mul/FloorDiv/FloorMod/Maximum/Minimum)",
    );
}

fn num_to_tensor(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let v = c
        .inputs
        .first()
        .cloned()
        .ok_or("NumToTensor without input")?;
    let p = c.int_port(&v)?;
    Ok(vec![c.cast(p, out)?])
}

/// `Shape(x)` as INT64, once per tensor port.
pub fn shape_port(
    b: &mut GraphBuilder,
    m: &mut Materialized,
    t: &TensorValue,
) -> Result<super::Port, String> {
    let p = port_of(b, m, t)?;
    if let Some(s) = m.shapes.get(&p) {
        return Ok(*s);
    }
    let s = b.op(
        "Shape",
        vec![In::P(p)],
        vec![("dtype", attr::int(DType::I64.ge_cpp()))],
        &[Some(DType::I64)],
    )?[0];
    m.shapes.insert(p, s);
    Ok(s)
}

fn scalar_i64(b: &mut GraphBuilder, v: i64) -> Result<super::Port, String> {
    b.constant(&tch::Tensor::from(v), &format!("{v}"))
}

/// Dim `d` of a tensor as a 0-D INT64 port: a Const when the dim is static, else
/// `Gather(Shape(x), d)`.
pub fn dim_port(
    b: &mut GraphBuilder,
    m: &mut Materialized,
    t: &TensorValue,
    d: usize,
) -> Result<super::Port, String> {
    if !t.dynamic_dims().get(d).copied().unwrap_or(false) {
        return scalar_i64(b, t.tensor.size()[d]);
    }
    // As TorchAir lowers sym_size: Shape(x, INT64) → Gather(shape, K64(dim)), marked
    // `_force_unknown_shape`.
    let s = shape_port(b, m, t)?;
    let i = scalar_i64(b, d as i64)?;
    Ok(b.op(
        "Gather",
        vec![In::P(s), In::P(i)],
        vec![("_force_unknown_shape", attr::boolean(true))],
        &[Some(DType::I64)],
    )?[0])
}

/// A symbolic int as a 0-D INT64 port, emitted once per value.
pub fn sym_port(
    b: &mut GraphBuilder,
    m: &mut Materialized,
    s: &Rc<SymInt>,
) -> Result<super::Port, String> {
    let key = Rc::as_ptr(s);
    if let Some((_, p)) = m.syms.get(&key) {
        return Ok(*p);
    }
    let p = match &s.sym {
        Sym::Dim(t, d) => dim_port(b, m, t, *d)?,
        Sym::Scalar(t) => {
            let p = port_of(b, m, t)?;
            let p = if t.tensor.dim() > 0 {
                let shape = b.constant(&tch::Tensor::from_slice::<i64>(&[]), "[]")?;
                b.op(
                    "Reshape",
                    vec![In::P(p), In::P(shape)],
                    vec![],
                    &[b.out_dtype(p)],
                )?[0]
            } else {
                p
            };
            if b.out_dtype(p) == Some(DType::I64) {
                p
            } else {
                b.op(
                    "Cast",
                    vec![In::P(p)],
                    vec![("dst_type", attr::int(DType::I64.ge_cpp()))],
                    &[Some(DType::I64)],
                )?[0]
            }
        }
        Sym::Bin(op, x, y) => {
            let x = int_port(b, m, x)?;
            let y = int_port(b, m, y)?;
            let ty = match op {
                BinOp::Add => "Add",
                BinOp::Sub => "Sub",
                BinOp::Mul => "Mul",
                BinOp::FloorDiv => "FloorDiv",
                BinOp::Rem => "FloorMod",
                BinOp::Max => "Maximum",
                BinOp::Min => "Minimum",
            };
            b.op(ty, vec![In::P(x), In::P(y)], vec![], &[Some(DType::I64)])?[0]
        }
        Sym::Opaque(what) => {
            return Err(format!(
                "a size that depends on a dynamic dim ({} at the sample) is computed by {what}, which the graph cannot express",
                s.value
            ))
        }
    };
    m.syms.insert(key, (Rc::downgrade(s), p));
    Ok(p)
}

/// An int or symbolic int as a 0-D INT64 port.
pub fn int_port(
    b: &mut GraphBuilder,
    m: &mut Materialized,
    v: &Value,
) -> Result<super::Port, String> {
    match v {
        Value::SymInt(s) => sym_port(b, m, s),
        other => {
            let i = other
                .as_int()
                .ok_or_else(|| format!("expected an int, got {}", other.kind_name()))?;
            scalar_i64(b, i)
        }
    }
}

/// A list of ints (some symbolic) as a 1-D INT64 port: a Const when all are plain ints, else a
/// `Pack` of 0-D ports.
pub fn ints_port(
    b: &mut GraphBuilder,
    m: &mut Materialized,
    items: &[Value],
) -> Result<super::Port, String> {
    if !items.iter().any(Value::is_symbolic) {
        let v: Vec<i64> = items
            .iter()
            .map(|i| i.as_int().ok_or("expected a list of ints"))
            .collect::<Result<_, _>>()?;
        return b.constant(&tch::Tensor::from_slice(&v), &format!("{v:?}"));
    }
    let ports = items
        .iter()
        .map(|v| int_port(b, m, v))
        .collect::<Result<Vec<_>, _>>()?;
    pack(b, ports)
}

/// `Pack` of 0-D INT64 ports into a 1-D one.
pub fn pack(b: &mut GraphBuilder, ports: Vec<super::Port>) -> Result<super::Port, String> {
    let n = ports.len() as i64;
    Ok(b.op(
        "Pack",
        vec![In::Dyn(ports)],
        vec![
            ("axis", attr::int(0)),
            ("N", attr::int(n)),
            ("_force_unknown_shape", attr::boolean(true)),
        ],
        &[Some(DType::I64)],
    )?[0])
}

/// A dim of a shape a rule builds: a constant, or a 0-D INT64 port computed in the graph.
#[derive(Clone, Copy, Debug)]
pub enum Dim {
    K(i64),
    P(super::Port),
}

/// The dims of a tensor: constants where static, `Gather(Shape(t), i)` where dynamic.
pub fn tensor_dims(
    b: &mut GraphBuilder,
    m: &mut Materialized,
    t: &TensorValue,
) -> Result<Vec<Dim>, String> {
    let size = t.tensor.size();
    let mut v = vec![];
    for (i, dynamic) in t.dynamic_dims().into_iter().enumerate() {
        v.push(if dynamic {
            Dim::P(dim_port(b, m, t, i)?)
        } else {
            Dim::K(size[i])
        });
    }
    Ok(v)
}

impl Ctx<'_> {
    /// The dims of a tensor argument: constants where static, `Gather(Shape(x), i)` where dynamic.
    pub fn sym_dims(&mut self, name: &str) -> Result<Vec<Dim>, String> {
        let t = self.tensor_value(name)?.clone();
        tensor_dims(self.b, self.mat, &t)
    }

    fn dim_op(&mut self, ty: &str, a: Dim, k: i64) -> Result<Dim, String> {
        match a {
            Dim::K(a) => Ok(Dim::K(match ty {
                "Mul" => a * k,
                _ => a.div_euclid(k),
            })),
            Dim::P(p) => {
                let k = self.scalar_i64(k)?;
                Ok(Dim::P(self.bin(ty, p, k, DType::I64)?))
            }
        }
    }

    /// A dim as a 0-D INT64 port.
    pub fn dim_scalar(&mut self, d: Dim) -> Result<super::Port, String> {
        match d {
            Dim::K(k) => self.scalar_i64(k),
            Dim::P(p) => Ok(p),
        }
    }

    /// `a · b`.
    pub fn dim_times(&mut self, a: Dim, b: Dim) -> Result<Dim, String> {
        if let (Dim::K(a), Dim::K(b)) = (a, b) {
            return Ok(Dim::K(a * b));
        }
        let a = self.dim_scalar(a)?;
        let b = self.dim_scalar(b)?;
        Ok(Dim::P(self.bin("Mul", a, b, DType::I64)?))
    }

    /// `a + k`.
    pub fn dim_add(&mut self, a: Dim, k: i64) -> Result<Dim, String> {
        match a {
            Dim::K(a) => Ok(Dim::K(a + k)),
            Dim::P(p) => {
                let k = self.scalar_i64(k)?;
                Ok(Dim::P(self.bin("Add", p, k, DType::I64)?))
            }
        }
    }

    /// `a + b`.
    pub fn dim_plus(&mut self, a: Dim, b: Dim) -> Result<Dim, String> {
        match (a, b) {
            (Dim::K(a), Dim::K(b)) => Ok(Dim::K(a + b)),
            (a, Dim::K(k)) | (Dim::K(k), a) => self.dim_add(a, k),
            (Dim::P(a), Dim::P(b)) => Ok(Dim::P(self.bin("Add", a, b, DType::I64)?)),
        }
    }

    /// `a · k`.
    pub fn dim_mul(&mut self, a: Dim, k: i64) -> Result<Dim, String> {
        self.dim_op("Mul", a, k)
    }

    /// `a // k`.
    pub fn dim_div(&mut self, a: Dim, k: i64) -> Result<Dim, String> {
        self.dim_op("FloorDiv", a, k)
    }

    /// The broadcast of two dims, as PyTorch broadcasts them (one of them is 1, or they are
    /// equal): constant when both are, the other when one is the constant 1, the constant when
    /// only one is constant (the other is 1 or that same size), and else computed in the graph
    /// as `Maximum(a, b) · Minimum(Minimum(a, b), 1)` (a size 0 against a 1 gives 0).
    pub fn dim_broadcast(&mut self, a: Dim, b: Dim) -> Result<Dim, String> {
        Ok(match (a, b) {
            (Dim::K(1), d) | (d, Dim::K(1)) => d,
            (Dim::K(x), Dim::K(y)) => Dim::K(x.max(y)),
            (Dim::K(k), Dim::P(_)) | (Dim::P(_), Dim::K(k)) => Dim::K(k),
            (Dim::P(x), Dim::P(y)) if x == y => Dim::P(x),
            (Dim::P(x), Dim::P(y)) => {
                let hi = self.bin("Maximum", x, y, DType::I64)?;
                let lo = self.bin("Minimum", x, y, DType::I64)?;
                let one = self.scalar_i64(1)?;
                let nonzero = self.bin("Minimum", lo, one, DType::I64)?;
                Dim::P(self.bin("Mul", hi, nonzero, DType::I64)?)
            }
        })
    }

    /// The broadcast shape of several shapes (right-aligned), per dim as `dim_broadcast`.
    pub fn broadcast_dims(&mut self, shapes: &[Vec<Dim>]) -> Result<Vec<Dim>, String> {
        let rank = shapes.iter().map(Vec::len).max().unwrap_or(0);
        let mut out = vec![Dim::K(1); rank];
        for s in shapes {
            let off = rank - s.len();
            for (i, d) in s.iter().enumerate() {
                out[off + i] = self.dim_broadcast(out[off + i], *d)?;
            }
        }
        Ok(out)
    }

    /// A shape as a 1-D INT64 port: a Const when every dim is constant, else a `Pack`.
    pub fn dims_port(&mut self, dims: &[Dim]) -> Result<super::Port, String> {
        if let Some(k) = dims
            .iter()
            .map(|d| match d {
                Dim::K(k) => Some(*k),
                Dim::P(_) => None,
            })
            .collect::<Option<Vec<i64>>>()
        {
            return self.const_i64(&k);
        }
        let mut ports = vec![];
        for d in dims {
            ports.push(self.dim_scalar(*d)?);
        }
        pack(self.b, ports)
    }

    /// `Reshape(x, dims)`.
    pub fn reshape_dims(
        &mut self,
        x: super::Port,
        dims: &[Dim],
        dt: DType,
    ) -> Result<super::Port, String> {
        let s = self.dims_port(dims)?;
        self.op1("Reshape", vec![In::P(x), In::P(s)], vec![], dt)
    }
}

/// The constant value of dims known statically, for messages and checks.
pub fn known(dims: &[Dim]) -> Vec<i64> {
    dims.iter()
        .map(|d| match d {
            Dim::K(k) => *k,
            Dim::P(_) => -1,
        })
        .collect()
}
