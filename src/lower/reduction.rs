//! Reductions over dims.
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, Value};

pub fn register(r: &mut Rules) {
    r.add(
        "aten::mean",
        |c| reduce(c, "ReduceMean"),
        "[Cast out] → ReduceMean(x, K64(dims or all); keep_dims)",
    );
    r.add(
        "aten::sum",
        |c| reduce(c, "ReduceSum"),
        "[Cast out] → ReduceSum(x, K64(dims or all); keep_dims)",
    );
    const NORM: &str = "p finite and > 0: LpNormV2(x; p, axes=dims (or all), keepdim, epsilon=0); inf: ReduceMax(Abs(x)); -inf: ReduceMin(Abs(x)); 0: ReduceSum(Cast(NotEqual(x, 0))); p < 0 or DOUBLE: Pow(ReduceSum(Pow(Abs(x), p)), 1/p) (p 2: Sqrt(ReduceSum(Mul(x, x)))); dtype=: Cast first";
    r.add("aten::linalg_vector_norm", |c| lp_norm(c, "ord"), NORM);
    r.add("aten::norm", |c| lp_norm(c, "p"), NORM);
    r.add(
        "aten::var",
        |c| variance(c, false),
        "d = Sub(x, ReduceMean(x, K64(dims); keep_dims)) → ReduceSum(Mul(d, d), K64(dims); keepdim) → RealDiv(Kout(n − correction)) (TorchAir has no var lowering; static reduced dims)",
    );
    r.add(
        "aten::std",
        |c| variance(c, true),
        "ReduceStdWithMean(x, BroadcastTo(ReduceMean(x, K64(dims); keep_dims=true), K64(shape)); dim, unbiased, keepdim, correction) (TorchAir's lowering; FLOAT/FLOAT16/BF16, whole-number correction below N, static shapes); else as aten::var, then Sqrt",
    );
    r.add(
        "aten::var_mean",
        |c| moments(c, false),
        "as aten::var; the mean is its ReduceMean(x, K64(dims); keep_dims=true) [Squeeze(axis=dims) without keepdim]",
    );
    r.add(
        "aten::std_mean",
        |c| moments(c, true),
        "as aten::std; the mean is its ReduceMean(x, K64(dims); keep_dims=true) [Squeeze(axis=dims) without keepdim]",
    );
    r.add(
        "aten::prod",
        |c| reduce(c, "ReduceProd"),
        "[Cast out] → ReduceProd(x, K64(dims or all); keep_dims) (a dtype= result: the Cast first, as ATen multiplies in it)",
    );
    r.add(
        "aten::logsumexp",
        logsumexp,
        "[Cast out] → ReduceLogSumExp(x, K64(dims); keep_dims)",
    );
    r.add(
        "aten::nansum",
        |c| nan_reduce(c, false),
        "ReduceSum(SelectV2(IsNan(x), Kout(0), ⇑out x), K64(dims or all); keep_dims) (ints: ReduceSum)",
    );
    r.add(
        "aten::nanmean",
        |c| nan_reduce(c, true),
        "as nansum, then Div by ReduceSum(Cast(LogicalNot(IsNan(x))), same dims) (NaN where a slice holds no number, as PyTorch)",
    );
    r.add(
        "aten::sum_to_size",
        sum_to_size,
        "ReduceSum(x, K64(leading dims and dims size brings to 1); keep_dims=true) → Reshape(K64(size)); nothing when the shape is size (static shapes)",
    );
}

/// `x.sum_to_size(size)`: sums the dims `size` lacks (leading) or makes 1, as broadcasting's
/// inverse.
fn sum_to_size(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    let size = c.out_shape(0)?;
    let lead = shape.len().checked_sub(size.len()).ok_or_else(|| {
        format!("sum_to_size: size {size:?} has more dims than the input {shape:?}")
    })?;
    let dims: Vec<i64> = (0..shape.len())
        .filter(|&i| i < lead || (size[i - lead] == 1 && shape[i] != 1))
        .map(|i| i as i64)
        .collect();
    let x = c.tensor_as("self", out)?;
    if dims.is_empty() {
        return Ok(vec![x]);
    }
    let axes = c.const_i64(&dims)?;
    let y = c.op1(
        "ReduceSum",
        vec![In::P(x), In::P(axes)],
        vec![("keep_dims", attr::boolean(true))],
        out,
    )?;
    Ok(vec![c.reshape_const(y, &size, out)?])
}

/// The dims argument `name` (an int, a list, or None/absent/empty for every dim), normalized.
fn dims_arg(c: &Ctx, name: &str, rank: i64) -> Result<Vec<i64>, String> {
    let dims = match c.has(name).then(|| c.arg(name)).transpose()? {
        None | Some(Value::None) => vec![],
        Some(Value::List(_)) => c.ints(name)?,
        Some(_) => vec![c.int(name)?],
    };
    Ok(if dims.is_empty() {
        (0..rank).collect()
    } else {
        dims.into_iter().map(|d| Ctx::dim(d, rank)).collect()
    })
}

fn keepdim(c: &Ctx) -> Result<bool, String> {
    Ok(c.has("keepdim") && c.bool("keepdim")?)
}

pub(super) fn lp_norm(c: &mut Ctx, p_name: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err(format!("a norm of {} values", out.name()));
    }
    // dtype=: the input is cast to it (the result's dtype) first, as ATen does.
    let p = match c.has(p_name).then(|| c.arg(p_name)).transpose()? {
        None | Some(Value::None) => 2.0,
        Some(v) => v.as_f64().ok_or("the norm's order must be a number")?,
    };
    if p.is_nan() {
        return Err("a norm of order NaN".into());
    }
    let rank = c.rank("self")? as i64;
    let dims = dims_arg(c, "dim", rank)?;
    let keep = keepdim(c)?;
    let x = c.tensor_as("self", out)?;
    // LpNormV2 takes a finite p > 0 and no DOUBLE.
    if !(p.is_finite() && p > 0.0) || out == DType::F64 {
        return other_norm(c, x, p, dims, keep, out);
    }
    Ok(vec![c.op1(
        "LpNormV2",
        vec![In::P(x)],
        vec![
            ("p", attr::float(p as f32)),
            ("axes", attr::list_int(dims)),
            ("keepdim", attr::boolean(keep)),
            ("epsilon", attr::float(0.0)),
        ],
        out,
    )?])
}

fn variance(c: &mut Ctx, std: bool) -> RuleResult {
    Ok(vec![variance_and_mean(c, std)?.0])
}

/// `var_mean` / `std_mean`: the variance rule's result, and the mean it subtracted.
fn moments(c: &mut Ctx, std: bool) -> RuleResult {
    let (v, mean, dims, keep) = variance_and_mean(c, std)?;
    let out = c.out_dtype(1)?;
    let mean = if keep {
        mean
    } else {
        super::spatial::squeeze(c, mean, dims, out)?
    };
    Ok(vec![v, mean])
}

/// The variance (or std) over the reduced dims, the mean over them (keepdim form), the dims and
/// keepdim.
fn variance_and_mean(c: &mut Ctx, std: bool) -> Result<(Port, Port, Vec<i64>, bool), String> {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err(format!("the variance of {} values", out.name()));
    }
    let shape = c.in_dims("self")?;
    let dims = dims_arg(c, "dim", shape.len() as i64)?;
    let correction = if c.has("correction") {
        match c.arg("correction")? {
            Value::None => 1.0,
            v => v.as_f64().ok_or("correction must be a number")?,
        }
    } else if c.has("unbiased") {
        if c.bool("unbiased")? {
            1.0
        } else {
            0.0
        }
    } else {
        1.0
    };
    // The count N over the reduced dims: a constant, or (dynamic dims) their product in the graph.
    let n: Option<i64> = dims.iter().map(|d| shape[*d as usize]).product();
    let keep = keepdim(c)?;
    let x = c.tensor_as("self", out)?;
    let axes = c.const_i64(&dims)?;
    let mean = c.op1(
        "ReduceMean",
        vec![In::P(x), In::P(axes)],
        vec![("keep_dims", attr::boolean(true))],
        out,
    )?;
    // std, as TorchAir lowers it: the mean broadcast to x, then CANN's fused
    // ReduceStdWithMean (FLOAT/FLOAT16/BF16; a whole-number correction below N; static shapes).
    let full: Option<Vec<i64>> = shape.iter().copied().collect();
    let fused = std
        && matches!(out, DType::F32 | DType::F16 | DType::BF16)
        && correction.fract() == 0.0
        && correction >= 0.0
        && n.is_some_and(|n| (n as f64) > correction);
    if let (true, Some(full)) = (fused, full) {
        let to = c.const_i64(&full)?;
        let m = c.op1("BroadcastTo", vec![In::P(mean), In::P(to)], vec![], out)?;
        let y = c.op1(
            "ReduceStdWithMean",
            vec![In::P(x), In::P(m)],
            vec![
                ("dim", attr::list_int(dims.clone())),
                ("unbiased", attr::boolean(correction != 0.0)),
                ("keepdim", attr::boolean(keep)),
                ("invert", attr::boolean(false)),
                ("epsilon", attr::float(0.001)),
                ("correction", attr::int(correction as i64)),
            ],
            out,
        )?;
        return Ok((y, mean, dims, keep));
    }
    let d = c.op1("Sub", vec![In::P(x), In::P(mean)], vec![], out)?;
    let sq = c.op1("Mul", vec![In::P(d), In::P(d)], vec![], out)?;
    let sum = c.op1(
        "ReduceSum",
        vec![In::P(sq), In::P(axes)],
        vec![("keep_dims", attr::boolean(keep))],
        out,
    )?;
    let denom = match n {
        Some(n) => c.scalar((n as f64 - correction).max(0.0), out)?,
        None => {
            let mut n = c.scalar_i64(1)?;
            for d in &dims {
                let p = c.dim_port("self", *d as usize)?;
                n = c.bin("Mul", n, p, DType::I64)?;
            }
            let n = c.cast(n, out)?;
            let k = c.scalar(correction, out)?;
            let n = c.bin("Sub", n, k, out)?;
            let zero = c.scalar(0.0, out)?;
            c.bin("Maximum", n, zero, out)?
        }
    };
    let var = c.op1("RealDiv", vec![In::P(sum), In::P(denom)], vec![], out)?;
    let v = if std {
        c.op1("Sqrt", vec![In::P(var)], vec![], out)?
    } else {
        var
    };
    Ok((v, mean, dims, keep))
}

fn logsumexp(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let dims = dims_arg(c, "dim", rank)?;
    let keep = keepdim(c)?;
    let x = c.tensor_as("self", out)?;
    let axes = c.const_i64(&dims)?;
    Ok(vec![c.op1(
        "ReduceLogSumExp",
        vec![In::P(x), In::P(axes)],
        vec![("keep_dims", attr::boolean(keep))],
        out,
    )?])
}

fn reduce(c: &mut Ctx, ty: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let dims: Vec<i64> = if c.has("dim") {
        match c.arg("dim")? {
            crate::value::Value::List(_) => c.ints("dim")?,
            _ => vec![c.int("dim")?],
        }
    } else {
        vec![]
    };
    let dims: Vec<i64> = if dims.is_empty() {
        (0..rank).collect()
    } else {
        dims.into_iter().map(|d| Ctx::dim(d, rank)).collect()
    };
    let keep = c.has("keepdim") && c.bool("keepdim")?;
    let x = c.tensor_as("self", out)?;
    if rank == 0 {
        // A 0-d tensor reduced over its only "dim" (0 or -1, as PyTorch allows) is itself.
        return Ok(vec![x]);
    }
    let axes = c.const_i64(&dims)?;
    Ok(vec![c.op1(
        ty,
        vec![In::P(x), In::P(axes)],
        vec![("keep_dims", attr::boolean(keep))],
        out,
    )?])
}

/// `nansum` / `nanmean(self, dim, keepdim, dtype)`: NaNs count as 0 and (mean) are not counted.
fn nan_reduce(c: &mut Ctx, mean: bool) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("self")? as i64;
    let x = c.tensor_as("self", out)?;
    let float = out.is_float();
    let (x, valid) = if float {
        let nan = c.op1("IsNan", vec![In::P(x)], vec![], DType::Bool)?;
        let zero = c.scalar(0.0, out)?;
        let x = c.op1(
            "SelectV2",
            vec![In::P(nan), In::P(zero), In::P(x)],
            vec![],
            out,
        )?;
        let ok = c.op1("LogicalNot", vec![In::P(nan)], vec![], DType::Bool)?;
        (x, Some(c.cast(ok, out)?))
    } else {
        (x, None)
    };
    if rank == 0 {
        if !mean {
            return Ok(vec![x]);
        }
        let valid = valid.ok_or("nanmean needs a float input")?;
        return Ok(vec![c.bin("Div", x, valid, out)?]);
    }
    let dims = dims_arg(c, "dim", rank)?;
    let keep = keepdim(c)?;
    let axes = c.const_i64(&dims)?;
    let sum = |c: &mut Ctx, p: Port| {
        c.op1(
            "ReduceSum",
            vec![In::P(p), In::P(axes)],
            vec![("keep_dims", attr::boolean(keep))],
            out,
        )
    };
    let s = sum(c, x)?;
    if !mean {
        return Ok(vec![s]);
    }
    let valid = valid.ok_or("nanmean needs a float input")?;
    let n = sum(c, valid)?;
    Ok(vec![c.bin("Div", s, n, out)?])
}

/// Vector norms LpNormV2 does not take: ±inf (max/min of |x|), 0 (the count of non-zeros),
/// other orders ((Σ|x|ᵖ)^(1/p)), and any order of DOUBLE values.
fn other_norm(c: &mut Ctx, x: Port, p: f64, dims: Vec<i64>, keep: bool, out: DType) -> RuleResult {
    let axes = c.const_i64(&dims)?;
    let kd = vec![("keep_dims", attr::boolean(keep))];
    let reduce =
        |c: &mut Ctx, ty: &str, v: Port| c.op1(ty, vec![In::P(v), In::P(axes)], kd.clone(), out);
    if p.is_nan() {
        return Err("a norm of order NaN".into());
    }
    if p == 0.0 {
        let z = c.scalar(0.0, out)?;
        let nz = c.op1("NotEqual", vec![In::P(x), In::P(z)], vec![], DType::Bool)?;
        let nz = c.cast(nz, out)?;
        return Ok(vec![reduce(c, "ReduceSum", nz)?]);
    }
    let a = c.un("Abs", x, out)?;
    if p == f64::INFINITY {
        return Ok(vec![reduce(c, "ReduceMax", a)?]);
    }
    if p == f64::NEG_INFINITY {
        return Ok(vec![reduce(c, "ReduceMin", a)?]);
    }
    if p == 1.0 {
        return Ok(vec![reduce(c, "ReduceSum", a)?]);
    }
    if p == 2.0 {
        let sq = c.bin("Mul", a, a, out)?;
        let s = reduce(c, "ReduceSum", sq)?;
        return Ok(vec![c.un("Sqrt", s, out)?]);
    }
    let pk = c.scalar(p, out)?;
    let ap = c.bin("Pow", a, pk, out)?;
    let s = reduce(c, "ReduceSum", ap)?;
    let inv = c.scalar(1.0 / p, out)?;
    Ok(vec![c.bin("Pow", s, inv, out)?])
}
