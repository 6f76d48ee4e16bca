//! Elementwise GE ops.
use super::{same_dtype, KCtx, Kernel};
use crate::dtype::DType;
use std::collections::BTreeMap;
use tch::Tensor;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("Add", |c| binary(c, |a, b| a + b));
    m.insert("Sub", |c| binary(c, |a, b| a - b));
    m.insert("Mul", |c| binary(c, |a, b| a * b));
    m.insert("RealDiv", |c| binary(c, |a, b| a / b));
    m.insert("FloorDiv", |c| binary(c, |a, b| a.floor_divide(b)));
    m.insert("Pow", |c| binary(c, |a, b| a.pow(b)));
    m.insert("Neg", |c| unary(c, "x", |x| -x));
    m.insert("Relu", |c| unary(c, "x", Tensor::relu));
    m.insert("Sigmoid", |c| unary(c, "x", Tensor::sigmoid));
    m.insert("Tanh", |c| unary(c, "x", Tensor::tanh));
    m.insert("Sqrt", |c| unary(c, "x", Tensor::sqrt));
    m.insert("Rsqrt", |c| unary(c, "x", Tensor::rsqrt));
    m.insert("Erf", |c| unary(c, "x", Tensor::erf));
    m.insert("Abs", |c| unary(c, "x", Tensor::abs));
    m.insert("Trunc", |c| unary(c, "input_x", Tensor::trunc));
    m.insert("Identity", |c| unary(c, "x", Tensor::shallow_clone));
    m.insert("TensorMove", |c| unary(c, "x", Tensor::copy));
    m.insert("Assign", assign);
    m.insert("AxpyV2", axpy_v2);
    m.insert("Muls", muls);
    m.insert("Div", div);
    m.insert("Exp", exp);
    m.insert("Log", log);
    m.insert("Swish", swish);
    m.insert("GeluV2", gelu);
    m.insert("Cast", cast);
    m.insert("Bitcast", bitcast);
}

fn unary(c: &KCtx, name: &str, f: fn(&Tensor) -> Tensor) -> Result<Vec<Tensor>, String> {
    Ok(vec![f(c.input(name)?)])
}

/// Both operands in one dtype, unless the prototype's output is `Promote`d from its inputs (Mul,
/// Pow): then the operands are promoted (INT32 by INT64 is INT64). A foreign graph's other
/// binary ops are promoted too, with a warning (TorchAir's Sub of INT32 by INT64).
fn binary(c: &KCtx, f: fn(&Tensor, &Tensor) -> Tensor) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    if a.kind() != b.kind() {
        let promotes = crate::ge::schema::promotes(&c.op.r#type);
        if c.foreign && !promotes {
            crate::run::warn_here(format!(
                "operands differ in dtype ({:?} and {:?}) and the prototype does not promote; promoted",
                a.kind(),
                b.kind()
            ));
        }
        if promotes || c.foreign {
            let k = super::promote(a.kind(), b.kind());
            return Ok(vec![f(&a.to_kind(k), &b.to_kind(k))]);
        }
    }
    same_dtype(a, b)?;
    Ok(vec![f(a, b)])
}

/// `Assign(ref, value)`: the output `ref` holds value (same dtype; same shape with
/// `validate_shape`).
fn assign(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (r, v) = (c.input("ref")?, c.input("value")?);
    same_dtype(r, v)?;
    if c.bool("validate_shape")? && r.size() != v.size() {
        return Err(format!(
            "value {:?} does not have ref's shape {:?} (validate_shape)",
            v.size(),
            r.size()
        ));
    }
    Ok(vec![v.copy()])
}

/// `AxpyV2`: y = x1 + alpha * x2, alpha a tensor of x1's dtype.
fn axpy_v2(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (a, b, alpha) = (c.input("x1")?, c.input("x2")?, c.input("alpha")?);
    same_dtype(a, b)?;
    same_dtype(a, alpha)?;
    Ok(vec![super::tc(a.f_add(&(b * alpha)))?])
}

/// `Muls`: y = x * value (a float attr), in x's dtype.
fn muls(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let v = c.float("value")?;
    Ok(vec![(x.to_kind(tch::Kind::Double) * v).to_kind(x.kind())])
}

/// `Div` of floats (true division); the runner refuses integer operands, whose rounding the
/// header does not define.
fn div(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    same_dtype(a, b)?;
    if !matches!(
        a.kind(),
        tch::Kind::Float | tch::Kind::Half | tch::Kind::BFloat16 | tch::Kind::Double
    ) {
        return Err(format!(
            "Div of {:?} operands is not supported by the runner (floats are)",
            a.kind()
        ));
    }
    Ok(vec![a / b])
}

/// y = base^(scale*x + shift); base -1 means e.
fn exp(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (base, scale, shift) = (c.float("base")?, c.float("scale")?, c.float("shift")?);
    let x = c.input("x")?;
    let z = x * scale + shift;
    Ok(vec![if base == -1.0 {
        z.exp()
    } else {
        (z * base.ln()).exp()
    }])
}

/// y = log_base(scale*x + shift); base -1 means e.
fn log(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (base, scale, shift) = (c.float("base")?, c.float("scale")?, c.float("shift")?);
    let x = c.input("x")?;
    let z = (x * scale + shift).log();
    Ok(vec![if base == -1.0 { z } else { z / base.ln() }])
}

fn swish(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    let scale = c.float("scale")?;
    Ok(vec![x * (x * scale).sigmoid()])
}

fn gelu(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let approx = c.string("approximate")?;
    if approx != "none" && approx != "tanh" {
        return Err(format!("approximate '{approx}' is not none/tanh"));
    }
    Ok(vec![c.input("x")?.gelu(&approx)])
}

fn cast(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let dt = c.int("dst_type")?;
    let dt = DType::from_ge_cpp(dt)
        .ok_or_else(|| format!("dst_type {dt} is not a supported ge::DataType"))?;
    Ok(vec![c.input("x")?.to_kind(dt.kind())])
}

/// Reinterprets the bits of x as `type`. The runner models types of one width (the shape stays);
/// GE's width-changing forms (a last dim added or removed) are refused.
fn bitcast(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let dt = c.int("type")?;
    let dt = crate::dtype::DType::from_ge_cpp(dt)
        .ok_or_else(|| format!("type {dt} is not a supported ge::DataType"))?;
    let x = c.input("x")?;
    if x.kind() == tch::Kind::BFloat16 || dt == crate::dtype::DType::BF16 {
        return Err("Bitcast takes no BF16".into());
    }
    let (from, to) = (x.kind().elt_size_in_bytes(), dt.kind().elt_size_in_bytes());
    if from != to {
        return Err(format!(
            "Bitcast from {:?} to {} changes the element width ({from} → {to} bytes), which the runner does not model",
            x.kind(),
            dt.name()
        ));
    }
    Ok(vec![super::tc(x.f_view_dtype(dt.kind()))?])
}
