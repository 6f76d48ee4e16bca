//! Numerical integration (`trapezoid`/`trapz`/`cumulative_trapezoid`), `gradient`, statistics
//! (`cov`, `corrcoef`, `histc` as Histogram), distances and norms (`dist`, `pdist` as Pdist,
//! `renorm` as Renorm), `combinations`, `isin`, tensor-bounded `linspace`/`logspace`
//! (LinSpace) and `_chunk_cat`. Formulas follow ATen's own so that results round alike.
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, Value};

pub fn register(r: &mut Rules) {
    const TRAPZ: &str = "x given: Sum(Mul(dx, Add(y[1:], y[:-1])), dim) / 2 with dx = Sub(x[1:], x[:-1]) (1-D x: Reshape along dim); dx a number: (ReduceSum(y, dim) − (y[0] + y[−1]) · 0.5) · dx (StridedSliceV2 slices)";
    r.add("aten::trapezoid", |c| trapezoid(c, false), TRAPZ);
    r.add("aten::trapz", |c| trapezoid(c, false), TRAPZ);
    r.add(
        "aten::cumulative_trapezoid",
        |c| trapezoid(c, true),
        "as trapezoid with Cumsum(·, dim) instead of the sum",
    );
    r.add(
        "aten::gradient.scalarint",
        gradient,
        "per dim: interior Div(Sub(x[2:], x[:-2]), K(2h)); edges (edge_order 1) Div(Sub(x[1], x[0]), K(h)) and the same at the end, or (edge_order 2) the 3-point one-sided formulas → ConcatV2",
    );
    r.add(
        "aten::cov",
        cov,
        "X (1-D: [1, n]); w = Cast(fweights) · aweights; avg = ReduceSum(X [· w], 1) / Σw; Xc = Sub(X, avg); BatchMatMulV2(Xc, Xc [· w]; adj_x2) / (Σw − correction [· Σ(w · aweights)/Σw]) (0 when ≤ 0) → Reshape (squeezed)",
    );
    r.add(
        "aten::corrcoef",
        corrcoef,
        "c = cov(x); s = Sqrt(diagonal(c)); ClipByValueV2(c / s[:, None] / s[None, :], −1, 1) (0-D: c / c)",
    );
    r.add(
        "aten::dist",
        dist,
        "d = Sub(⇑out self, ⇑out other); p finite > 0: LpNormV2(d; p, all axes); p = ±inf: ReduceMax|ReduceMin(Abs(d)); p = 0: ReduceSum(Cast(NotEqual(d, 0))); p < 0 or DOUBLE: Pow(ReduceSum(Pow(Abs(d), p)), 1/p)",
    );
    r.add("aten::pdist", pdist, "Pdist(x; p) (FLOAT/FLOAT16)");
    r.add(
        "aten::renorm",
        renorm,
        "Renorm(x; p, dim, maxnorm) (floats)",
    );
    r.add(
        "aten::histc",
        histc,
        "Histogram(Cast FLOAT x; bins, min, max) (min = max = 0: the data's range, as PyTorch) → Cast out",
    );
    r.add(
        "aten::histogram",
        histogram,
        "edges = LinSpace(lo, hi, K32(bins + 1)) (lo, hi: range, or ReduceMin/ReduceMax of x, ∓0.5 when equal) or the bins tensor; bin = ReduceSum(GreaterEqual(x[:, None], interior edges)); hist = ReduceSum(Cast(Equal(bin[:, None], K(iota)) ∧ first ≤ x ≤ last) [· weight], 0) [density: / (ΣHist · Sub(edges[1:], edges[:-1]))]",
    );
    r.add(
        "aten::histogramdd",
        histogramdd,
        "per dim d of Reshape(x, [N, D]): edges = the bins tensor, or LinSpace(lo, hi, K32(b + 1)) (range, or ReduceMin/ReduceMax of the column, ∓0.5 when equal); bin = ReduceSum(GreaterEqual(x_d, interior edges)); flat = Σ bin_d · stride_d; hist = Reshape(ReduceSum(Cast(Equal(flat, K(iota)) ∧ every first ≤ x_d ≤ last) [· weight], 0), bins) [density: Div by ΣHist, then by each dim's Sub(edges[1:], edges[:-1])]",
    );
    r.add(
        "aten::combinations",
        combinations,
        "GatherV2(x, K64(index table of the r-combinations, [C, r]), axis=0) (1-D x, static length)",
    );
    r.add(
        "aten::isin.Tensor_Tensor",
        isin,
        "ReduceAny(Equal(Unsqueeze(⇑t elements, [rank]), Reshape(⇑t test_elements, [-1])), [-1]) [LogicalNot when invert]",
    );
    const SPACE: &str =
        "LinSpace(Cast start, Cast end, K32(steps)) [logspace: Pow(Kout(base), ·)] → Cast out";
    r.add("aten::linspace.Tensor_Tensor", |c| space(c, false), SPACE);
    r.add("aten::linspace.Tensor_Scalar", |c| space(c, false), SPACE);
    r.add("aten::linspace.Scalar_Tensor", |c| space(c, false), SPACE);
    r.add("aten::logspace.Tensor_Tensor", |c| space(c, true), SPACE);
    r.add("aten::logspace.Tensor_Scalar", |c| space(c, true), SPACE);
    r.add("aten::logspace.Scalar_Tensor", |c| space(c, true), SPACE);
    r.add(
        "aten::_chunk_cat",
        chunk_cat,
        "per tensor: [PadV3 dim to a multiple of num_chunks] → Reshape(lead dims, num_chunks, −1) → ConcatV2 along dim + 1",
    );
}

fn slice(c: &mut Ctx, x: Port, dim: i64, a: i64, b: i64, dt: DType) -> Result<Port, String> {
    c.slice_axis(x, dim, a, b, dt)
}

/// `trapezoid(y, x, dim)` / `trapezoid(y, dx=1, dim)` and the cumulative form.
fn trapezoid(c: &mut Ctx, cumulative: bool) -> RuleResult {
    let out = c.out_dtype(0)?;
    let ys = c.in_shape("y")?;
    let rank = ys.len() as i64;
    if rank == 0 {
        return Err(format!("{} of a 0-D tensor", c.node.op_name()));
    }
    let dim = Ctx::dim(c.int("dim")?, rank);
    let n = ys[dim as usize];
    let y = c.tensor_as("y", out)?;
    if n == 0 || (n == 1 && cumulative) {
        let shape = c.out_shape(0)?;
        let dims = c.const_i64(&shape)?;
        let zero = c.scalar(0.0, out)?;
        return Ok(vec![c.op1(
            "Fill",
            vec![In::P(dims), In::P(zero)],
            vec![],
            out,
        )?]);
    }
    let axes = c.const_i64(&[dim])?;
    let two = c.scalar(2.0, out)?;
    let right = slice(c, y, dim, 1, n, out)?;
    let left = slice(c, y, dim, 0, n - 1, out)?;
    let x_tensor = c.has("x") && matches!(c.arg("x")?, Value::Tensor(_));
    if !x_tensor {
        let dx = if c.has("dx") {
            c.operand("dx", out)?
        } else {
            c.scalar(1.0, out)?
        };
        if cumulative {
            let sum = c.bin("Add", left, right, out)?;
            let half = c.bin("Div", dx, two, out)?;
            let t = c.bin("Mul", half, sum, out)?;
            return Ok(vec![c.op1(
                "Cumsum",
                vec![In::P(t), In::P(axes)],
                vec![],
                out,
            )?]);
        }
        let total = c.op1(
            "ReduceSum",
            vec![In::P(y), In::P(axes)],
            vec![("keep_dims", attr::boolean(false))],
            out,
        )?;
        let first = c.slice_axis(y, dim, 0, 1, out)?;
        let last = c.slice_axis(y, dim, n - 1, n, out)?;
        let ends = c.bin("Add", first, last, out)?;
        let ends = super::spatial::squeeze(c, ends, vec![dim], out)?;
        let half = c.scalar(0.5, out)?;
        let ends = c.bin("Mul", ends, half, out)?;
        let inner = c.bin("Sub", total, ends, out)?;
        return Ok(vec![c.bin("Mul", inner, dx, out)?]);
    }
    let xs = c.in_shape("x")?;
    let x = c.tensor_as("x", out)?;
    let dx = if xs.len() == 1 {
        if xs[0] != n {
            return Err(format!(
                "{}: x has {} points, y {n} along dim",
                c.node.op_name(),
                xs[0]
            ));
        }
        let r = slice(c, x, 0, 1, n, out)?;
        let l = slice(c, x, 0, 0, n - 1, out)?;
        let d = c.bin("Sub", r, l, out)?;
        let mut view = vec![1i64; rank as usize];
        view[dim as usize] = n - 1;
        c.reshape_const(d, &view, out)?
    } else {
        let xr = xs.len() as i64;
        let xd = Ctx::dim(c.int("dim")?, xr);
        let m = xs[xd as usize];
        let r = slice(c, x, xd, 1, m, out)?;
        let l = slice(c, x, xd, 0, m - 1, out)?;
        c.bin("Sub", r, l, out)?
    };
    let sum = c.bin("Add", left, right, out)?;
    let t = c.bin("Mul", dx, sum, out)?;
    let s = if cumulative {
        c.op1("Cumsum", vec![In::P(t), In::P(axes)], vec![], out)?
    } else {
        c.op1(
            "ReduceSum",
            vec![In::P(t), In::P(axes)],
            vec![("keep_dims", attr::boolean(false))],
            out,
        )?
    };
    let s = c.bin("Div", s, two, out)?;
    // Broadcasting dx against y can change the shape: take the result's.
    let shape = c.out_shape(0)?;
    Ok(vec![c.reshape_const(s, &shape, out)?])
}

/// `gradient(self, spacing: number?, dim: int?, edge_order)`: one tensor per dim.
fn gradient(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err("gradient of an integer tensor is not lowered; fix: cast to float".into());
    }
    let shape = c.in_shape("self")?;
    let rank = shape.len() as i64;
    let h = match c.arg("spacing")? {
        Value::None => 1.0,
        v => v
            .as_f64()
            .ok_or("gradient: spacing must be a number here")?,
    };
    let dims: Vec<i64> = match c.arg("dim")? {
        Value::None => (0..rank).collect(),
        _ => vec![Ctx::dim(c.int("dim")?, rank)],
    };
    let order = c.int("edge_order")?;
    let x = c.tensor_as("self", out)?;
    let mut res = vec![];
    for d in dims {
        let n = shape[d as usize];
        if n < order + 1 {
            return Err(format!(
                "gradient needs at least edge_order + 1 = {} points along dim {d}, got {n}",
                order + 1
            ));
        }
        let hi = slice(c, x, d, 2, n, out)?;
        let lo = slice(c, x, d, 0, n - 2, out)?;
        let diff = c.bin("Sub", hi, lo, out)?;
        let k2h = c.scalar(2.0 * h, out)?;
        let inner = c.bin("Div", diff, k2h, out)?;
        let at = |c: &mut Ctx, i: i64| slice(c, x, d, i, i + 1, out);
        let (first, last) = if order == 1 {
            let kh = c.scalar(h, out)?;
            let (a, b) = (at(c, 1)?, at(c, 0)?);
            let f = c.bin("Sub", a, b, out)?;
            let f = c.bin("Div", f, kh, out)?;
            let (a, b) = (at(c, n - 1)?, at(c, n - 2)?);
            let l = c.bin("Sub", a, b, out)?;
            let l = c.bin("Div", l, kh, out)?;
            (f, l)
        } else {
            // (-3 f0 + 4 f1 - f2) / 2h and (3 fn-1 - 4 fn-2 + fn-3) / 2h.
            let k3 = c.scalar(3.0, out)?;
            let k4 = c.scalar(4.0, out)?;
            let (f0, f1, f2) = (at(c, 0)?, at(c, 1)?, at(c, 2)?);
            let a = c.bin("Mul", k4, f1, out)?;
            let b = c.bin("Mul", k3, f0, out)?;
            let f = c.bin("Sub", a, b, out)?;
            let f = c.bin("Sub", f, f2, out)?;
            let f = c.bin("Div", f, k2h, out)?;
            let (g0, g1, g2) = (at(c, n - 1)?, at(c, n - 2)?, at(c, n - 3)?);
            let a = c.bin("Mul", k3, g0, out)?;
            let b = c.bin("Mul", k4, g1, out)?;
            let l = c.bin("Sub", a, b, out)?;
            let l = c.bin("Add", l, g2, out)?;
            let l = c.bin("Div", l, k2h, out)?;
            (f, l)
        };
        let axis = c.scalar_i64(d)?;
        res.push(c.op1(
            "ConcatV2",
            vec![In::Dyn(vec![first, inner, last]), In::P(axis)],
            vec![("N", attr::int(3))],
            out,
        )?);
    }
    Ok(res)
}

/// The covariance matrix of `name` ([vars, obs] or [obs]) as a [vars, vars] port (not squeezed).
fn covariance(c: &mut Ctx, name: &str, out: DType) -> Result<Port, String> {
    let shape = c.in_shape(name)?;
    if shape.len() > 2 {
        return Err(format!(
            "{} takes at most 2 dims, got {shape:?}",
            c.node.op_name()
        ));
    }
    let (vars, obs) = match shape.as_slice() {
        [] => (1, 1),
        [n] => (1, *n),
        [v, n] => (*v, *n),
        _ => unreachable!(),
    };
    let x = c.tensor_as(name, out)?;
    let x = c.reshape_const(x, &[vars, obs], out)?;
    let correction = if c.has("correction") {
        c.int("correction")?
    } else {
        1
    };
    let weight = |c: &mut Ctx, n: &str| -> Result<Option<Port>, String> {
        if !c.has(n) {
            return Ok(None);
        }
        let p = c.tensor_as(n, out)?;
        Ok(Some(c.reshape_const(p, &[1, obs], out)?))
    };
    let fw = weight(c, "fweights")?;
    let aw = weight(c, "aweights")?;
    let w = match (fw, aw) {
        (Some(f), Some(a)) => Some(c.bin("Mul", f, a, out)?),
        (f, a) => f.or(a),
    };
    let (avg, norm) = match w {
        None => {
            let s = c.reduce_axes("ReduceSum", x, &[1], true, out)?;
            let n = c.scalar(obs as f64, out)?;
            let avg = c.bin("Div", s, n, out)?;
            let norm = c.scalar((obs - correction) as f64, out)?;
            (avg, norm)
        }
        Some(w) => {
            let wsum = c.reduce_axes("ReduceSum", w, &[0, 1], false, out)?;
            let xw = c.bin("Mul", x, w, out)?;
            let s = c.reduce_axes("ReduceSum", xw, &[1], true, out)?;
            let avg = c.bin("Div", s, wsum, out)?;
            let norm = if correction == 0 {
                wsum
            } else {
                let k = c.scalar(correction as f64, out)?;
                let sub = match aw {
                    Some(a) => {
                        let waw = c.bin("Mul", w, a, out)?;
                        let t = c.reduce_axes("ReduceSum", waw, &[0, 1], false, out)?;
                        let t = c.bin("Div", t, wsum, out)?;
                        c.bin("Mul", k, t, out)?
                    }
                    None => k,
                };
                c.bin("Sub", wsum, sub, out)?
            };
            (avg, norm)
        }
    };
    // A factor ≤ 0 is taken as 0 (PyTorch warns and divides by 0).
    let zero = c.scalar(0.0, out)?;
    let le = c.bin("LessEqual", norm, zero, DType::Bool)?;
    let norm = super::compare::select(c, le, zero, norm, out)?;
    let xc = c.bin("Sub", x, avg, out)?;
    let rhs = match w {
        Some(w) => c.bin("Mul", xc, w, out)?,
        None => xc,
    };
    let m = c.batch_matmul(xc, rhs, None, true, out)?;
    c.bin("Div", m, norm, out)
}

fn cov(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err("cov of an integer tensor is not lowered; fix: cast to float".into());
    }
    let m = covariance(c, "self", out)?;
    let shape = c.out_shape(0)?;
    Ok(vec![c.reshape_const(m, &shape, out)?])
}

fn corrcoef(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err("corrcoef of an integer tensor is not lowered; fix: cast to float".into());
    }
    let m = covariance(c, "self", out)?;
    let shape = c.out_shape(0)?;
    if shape.is_empty() {
        let m = c.reshape_const(m, &[], out)?;
        return Ok(vec![c.bin("Div", m, m, out)?]);
    }
    let v = shape[0];
    let eye = tch::Tensor::eye(v, (tch::Kind::Bool, tch::Device::Cpu));
    let eye = c.b.constant(&eye, "identity mask")?;
    let zero = c.scalar(0.0, out)?;
    let diag = super::compare::select(c, eye, m, zero, out)?;
    let d = c.reduce_axes("ReduceSum", diag, &[1], false, out)?;
    let s = c.un("Sqrt", d, out)?;
    let col = c.reshape_const(s, &[v, 1], out)?;
    let row = c.reshape_const(s, &[1, v], out)?;
    let m = c.bin("Div", m, col, out)?;
    let m = c.bin("Div", m, row, out)?;
    let lo = c.scalar(-1.0, out)?;
    let hi = c.scalar(1.0, out)?;
    Ok(vec![c.op1(
        "ClipByValueV2",
        vec![In::P(m), In::P(lo), In::P(hi)],
        vec![],
        out,
    )?])
}

fn dist(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err("dist of integer tensors is not lowered; fix: cast to float".into());
    }
    let p = c.float("p")?;
    let a = c.tensor_as("self", out)?;
    let b = c.tensor_as("other", out)?;
    let d = c.bin("Sub", a, b, out)?;
    let rank = c.rank("self")?.max(c.rank("other")?) as i64;
    let all: Vec<i64> = (0..rank).collect();
    if rank == 0 {
        let d = c.reshape_const(d, &[1], out)?;
        return norm_of(c, d, &[0], p, out);
    }
    norm_of(c, d, &all, p, out)
}

/// The p-norm of `d` over `axes` (not kept).
fn norm_of(c: &mut Ctx, d: Port, axes: &[i64], p: f64, out: DType) -> RuleResult {
    if p.is_finite() && p > 0.0 && out != DType::F64 {
        return Ok(vec![c.op1(
            "LpNormV2",
            vec![In::P(d)],
            vec![
                ("p", attr::float(p as f32)),
                ("axes", attr::list_int(axes.to_vec())),
                ("keepdim", attr::boolean(false)),
                ("epsilon", attr::float(0.0)),
            ],
            out,
        )?]);
    }
    let a = c.un("Abs", d, out)?;
    if p == f64::INFINITY {
        return Ok(vec![c.reduce_axes("ReduceMax", a, axes, false, out)?]);
    }
    if p == f64::NEG_INFINITY {
        return Ok(vec![c.reduce_axes("ReduceMin", a, axes, false, out)?]);
    }
    if p == 0.0 {
        let zero = c.scalar(0.0, out)?;
        let nz = c.bin("NotEqual", d, zero, DType::Bool)?;
        let nz = c.cast(nz, out)?;
        return Ok(vec![c.reduce_axes("ReduceSum", nz, axes, false, out)?]);
    }
    if p.is_nan() {
        return Err("a norm of order NaN".into());
    }
    // Other orders (p < 0, or DOUBLE, which LpNormV2 does not take): (Σ|d|^p)^(1/p).
    let kp = c.scalar(p, out)?;
    let pw = c.bin("Pow", a, kp, out)?;
    let s = c.reduce_axes("ReduceSum", pw, axes, false, out)?;
    let inv = c.scalar(1.0 / p, out)?;
    Ok(vec![c.bin("Pow", s, inv, out)?])
}

fn pdist(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !matches!(out, DType::F32 | DType::F16) {
        return Err(format!(
            "pdist of {} values: Pdist takes FLOAT/FLOAT16",
            out.name()
        ));
    }
    let p = c.float("p")?;
    if p < 0.0 || p.is_nan() {
        return Err(format!("pdist p={p}: p must be ≥ 0"));
    }
    let x = c.tensor_as("self", out)?;
    Ok(vec![c.op1(
        "Pdist",
        vec![In::P(x)],
        vec![("p", attr::float(p as f32))],
        out,
    )?])
}

fn renorm(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err("renorm of an integer tensor is not lowered; fix: cast to float".into());
    }
    let rank = c.rank("self")? as i64;
    let dim = Ctx::dim(c.int("dim")?, rank);
    let p = c.float("p")?;
    let maxnorm = c.float("maxnorm")?;
    let x = c.tensor("self")?;
    Ok(vec![c.op1(
        "Renorm",
        vec![In::P(x)],
        vec![
            ("p", attr::float(p as f32)),
            ("dim", attr::int(dim)),
            ("maxnorm", attr::float(maxnorm as f32)),
        ],
        out,
    )?])
}

fn histc(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let bins = c.int("bins")?;
    let (lo, hi) = (c.float("min")?, c.float("max")?);
    if bins <= 0 {
        return Err(format!("histc bins={bins}: bins must be positive"));
    }
    let x = c.tensor_as("self", DType::F32)?;
    let y = c.op1(
        "Histogram",
        vec![In::P(x)],
        vec![
            ("bins", attr::int(bins)),
            ("min", attr::float(lo as f32)),
            ("max", attr::float(hi as f32)),
        ],
        DType::F32,
    )?;
    Ok(vec![c.cast(y, out)?])
}

/// Index rows of the r-combinations of n items, in lexicographic order (with repetition when
/// `rep`), as itertools lists them.
fn combination_rows(n: i64, r: usize, rep: bool) -> Vec<Vec<i64>> {
    let mut rows = vec![];
    let mut cur: Vec<i64> = vec![];
    fn walk(n: i64, r: usize, rep: bool, start: i64, cur: &mut Vec<i64>, rows: &mut Vec<Vec<i64>>) {
        if cur.len() == r {
            rows.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            walk(n, r, rep, if rep { i } else { i + 1 }, cur, rows);
            cur.pop();
        }
    }
    walk(n, r, rep, 0, &mut cur, &mut rows);
    rows
}

fn combinations(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    if shape.len() != 1 {
        return Err("combinations takes a 1-D tensor".into());
    }
    let r = c.int("r")?;
    let rep = c.bool("with_replacement")?;
    let oshape = c.out_shape(0)?;
    if r < 0 {
        return Err(format!("combinations r={r}: r must be ≥ 0"));
    }
    let rows = combination_rows(shape[0], r as usize, rep);
    if rows.is_empty() || r == 0 {
        let dims = c.const_i64(&oshape)?;
        let zero = c.scalar(0.0, out)?;
        return Ok(vec![c.op1(
            "Fill",
            vec![In::P(dims), In::P(zero)],
            vec![],
            out,
        )?]);
    }
    let flat: Vec<i64> = rows.concat();
    let idx = tch::Tensor::from_slice(&flat).reshape([rows.len() as i64, r]);
    let idx = c.b.constant(&idx, "combination indices")?;
    let x = c.tensor_as("self", out)?;
    let axis = c.scalar_i64(0)?;
    let y = c.op1(
        "GatherV2",
        vec![In::P(x), In::P(idx), In::P(axis)],
        vec![],
        out,
    )?;
    Ok(vec![c.reshape_const(y, &oshape, out)?])
}

fn isin(c: &mut Ctx) -> RuleResult {
    let t = super::compare::result_type(c, "elements", "test_elements")?;
    let t = if t == DType::Bool { DType::U8 } else { t };
    let rank = c.rank("elements")? as i64;
    let e = c.tensor_as("elements", t)?;
    let e = super::spatial::unsqueeze(c, e, vec![rank], t)?;
    let s = c.tensor_as("test_elements", t)?;
    let s = c.reshape_const(s, &[-1], t)?;
    let eq = c.bin("Equal", e, s, DType::Bool)?;
    let any = c.reduce_axes("ReduceAny", eq, &[-1], false, DType::Bool)?;
    if c.has("invert") && c.bool("invert")? {
        return Ok(vec![c.un("LogicalNot", any, DType::Bool)?]);
    }
    Ok(vec![any])
}

/// `linspace`/`logspace` with a tensor start or end (0-D).
fn space(c: &mut Ctx, log: bool) -> RuleResult {
    let out = c.out_dtype(0)?;
    let steps = c.int("steps")?;
    let w = if out == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    if !out.is_float() {
        return Err(format!(
            "{} with an integer dtype and tensor bounds is not lowered; fix: use a float dtype and round",
            c.node.op_name()
        ));
    }
    let mut ends = vec![];
    for name in ["start", "end"] {
        let p = match c.arg(name)? {
            Value::Tensor(t) => {
                if t.tensor.numel() != 1 {
                    return Err(format!("{}: {name} must hold one value", c.node.op_name()));
                }
                let t = t.clone();
                let p = c.port(&t)?;
                let p = c.cast(p, w)?;
                c.reshape_const(p, &[], w)?
            }
            _ => c.operand(name, w)?,
        };
        ends.push(p);
    }
    let n =
        c.b.constant(&tch::Tensor::from(steps as i32), &format!("{steps}"))?;
    let y = c.op1(
        "LinSpace",
        vec![In::P(ends[0]), In::P(ends[1]), In::P(n)],
        vec![],
        w,
    )?;
    let y = if log {
        let base = c.float("base")?;
        let b = c.scalar(base, w)?;
        c.bin("Pow", b, y, w)?
    } else {
        y
    };
    Ok(vec![c.cast(y, out)?])
}

/// `_chunk_cat(tensors, dim, num_chunks)`: each tensor padded along dim to a multiple of
/// num_chunks, seen as [lead dims, num_chunks, −1], concatenated along dim + 1.
fn chunk_cat(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let items: Vec<Value> = match c.arg("tensors")? {
        Value::List(v) | Value::Tuple(v) => v.clone(),
        _ => return Err("_chunk_cat: tensors must be a list".into()),
    };
    let k = c.int("num_chunks")?;
    let mut parts = vec![];
    let mut dim_n = 0;
    for v in &items {
        let t = v
            .as_tensor()
            .ok_or("_chunk_cat: tensors must be tensors")?
            .clone();
        let shape = t.tensor.size();
        if t.dynamic_dims().iter().any(|d| *d) {
            // The padding and the views below use the sample's sizes: those dims are pinned.
            c.bake(format!(
                "aten::_chunk_cat takes the shape {shape:?} of its inputs as constants"
            ));
        }
        let dim = Ctx::dim(c.int("dim")?, shape.len() as i64) as usize;
        dim_n = dim;
        let p = c.port(&t)?;
        let mut p = c.cast(p, out)?;
        let len = shape[dim];
        let padded = (len + k - 1) / k * k;
        if padded != len {
            let mut pads = vec![0i64; 2 * shape.len()];
            pads[2 * dim + 1] = padded - len;
            let pp = c.const_i64(&pads)?;
            let zero = c.scalar(0.0, out)?;
            p = c.op1(
                "PadV3",
                vec![In::P(p), In::P(pp), In::P(zero)],
                vec![
                    ("mode", attr::string("constant")),
                    ("paddings_contiguous", attr::boolean(true)),
                ],
                out,
            )?;
        }
        let mut view: Vec<i64> = shape[..dim].to_vec();
        view.push(k);
        view.push(-1);
        parts.push(c.reshape_const(p, &view, out)?);
    }
    let axis = c.scalar_i64(dim_n as i64 + 1)?;
    let n = parts.len() as i64;
    Ok(vec![c.op1(
        "ConcatV2",
        vec![In::Dyn(parts), In::P(axis)],
        vec![("N", attr::int(n))],
        out,
    )?])
}

/// `histogram(self, bins: int | Tensor, range, weight, density)` → (hist, bin_edges).
fn histogram(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !matches!(out, DType::F32 | DType::F64) {
        return Err(format!("histogram of {} values", out.name()));
    }
    let shape = c.in_shape("self")?;
    let n: i64 = shape.iter().product();
    let b = c.out_shape(0)?[0];
    let x = c.tensor_as("self", out)?;
    let flat = c.reshape_const(x, &[n], out)?;
    let edges = match c.arg("bins")? {
        Value::Tensor(_) => {
            let e = c.tensor_as("bins", out)?;
            c.reshape_const(e, &[b + 1], out)?
        }
        _ => {
            let (lo, hi) = match c.arg("range")? {
                Value::None => {
                    if n == 0 {
                        (c.scalar(0.0, out)?, c.scalar(1.0, out)?)
                    } else {
                        let lo = c.reduce_axes("ReduceMin", flat, &[0], false, out)?;
                        let hi = c.reduce_axes("ReduceMax", flat, &[0], false, out)?;
                        (lo, hi)
                    }
                }
                v => {
                    let r: Vec<f64> = match v {
                        Value::List(items) | Value::Tuple(items) => {
                            items.iter().filter_map(Value::as_f64).collect()
                        }
                        _ => vec![],
                    };
                    let [lo, hi] = r.as_slice() else {
                        return Err("histogram range must be two numbers".into());
                    };
                    (c.scalar(*lo, out)?, c.scalar(*hi, out)?)
                }
            };
            // Equal ends widen by 0.5 each way, as PyTorch (and NumPy) do.
            let eq = c.bin("Equal", lo, hi, DType::Bool)?;
            let half = c.scalar(0.5, out)?;
            let lo2 = c.bin("Sub", lo, half, out)?;
            let hi2 = c.bin("Add", hi, half, out)?;
            let lo = super::compare::select(c, eq, lo2, lo, out)?;
            let hi = super::compare::select(c, eq, hi2, hi, out)?;
            let k =
                c.b.constant(&tch::Tensor::from((b + 1) as i32), &format!("{}", b + 1))?;
            c.op1(
                "LinSpace",
                vec![In::P(lo), In::P(hi), In::P(k)],
                vec![],
                out,
            )?
        }
    };
    let xs = c.reshape_const(flat, &[n, 1], out)?;
    let pos = if b > 1 {
        let inner = c.slice_axis(edges, 0, 1, b, out)?;
        let inner = c.reshape_const(inner, &[1, b - 1], out)?;
        let ge = c.bin("GreaterEqual", xs, inner, DType::Bool)?;
        let ge = c.cast(ge, DType::I32)?;
        c.reduce_axes("ReduceSum", ge, &[1], true, DType::I32)?
    } else {
        let dims = c.const_i64(&[n, 1])?;
        let zero = c.b.constant(&tch::Tensor::from(0i32), "0")?;
        c.op1("Fill", vec![In::P(dims), In::P(zero)], vec![], DType::I32)?
    };
    let first = c.slice_axis(edges, 0, 0, 1, out)?;
    let last = c.slice_axis(edges, 0, b, b + 1, out)?;
    let above = c.bin("GreaterEqual", xs, first, DType::Bool)?;
    let below = c.bin("LessEqual", xs, last, DType::Bool)?;
    let valid = c.bin("LogicalAnd", above, below, DType::Bool)?;
    let iota = tch::Tensor::arange(b, (tch::Kind::Int, tch::Device::Cpu)).reshape([1, b]);
    let iota = c.b.constant(&iota, "bin numbers")?;
    let hit = c.bin("Equal", pos, iota, DType::Bool)?;
    let hit = c.bin("LogicalAnd", hit, valid, DType::Bool)?;
    let mut hit = c.cast(hit, out)?;
    if c.has("weight") {
        let w = c.tensor_as("weight", out)?;
        let w = c.reshape_const(w, &[n, 1], out)?;
        hit = c.bin("Mul", hit, w, out)?;
    }
    let mut hist = c.reduce_axes("ReduceSum", hit, &[0], false, out)?;
    if c.bool("density")? {
        let total = c.reduce_axes("ReduceSum", hist, &[0], false, out)?;
        let hi = c.slice_axis(edges, 0, 1, b + 1, out)?;
        let lo = c.slice_axis(edges, 0, 0, b, out)?;
        let width = c.bin("Sub", hi, lo, out)?;
        let scale = c.bin("Mul", width, total, out)?;
        hist = c.bin("Div", hist, scale, out)?;
    }
    Ok(vec![hist, edges])
}

/// The edges of one dim of histogramdd (`[b + 1]`): the given tensor, or LinSpace over the
/// range (or the column's min/max, widened by 0.5 each way when equal, as ATen does).
fn dd_edges(c: &mut Ctx, col: Port, n: i64, d: usize, b: i64, out: DType) -> Result<Port, String> {
    if let Value::List(items) = c.arg("bins")? {
        if items.first().is_some_and(|v| v.as_tensor().is_some()) {
            let t = items[d]
                .as_tensor()
                .ok_or("histogramdd bins must be all tensors or all ints")?
                .clone();
            let e = c.port(&t)?;
            let e = c.cast(e, out)?;
            return c.reshape_const(e, &[b + 1], out);
        }
    }
    let (lo, hi) = match c.arg("range")? {
        Value::None => {
            if n == 0 {
                (c.scalar(0.0, out)?, c.scalar(0.0, out)?)
            } else {
                let lo = c.reduce_axes("ReduceMin", col, &[0], false, out)?;
                let hi = c.reduce_axes("ReduceMax", col, &[0], false, out)?;
                (lo, hi)
            }
        }
        v => {
            let r: Vec<f64> = match v {
                Value::List(items) | Value::Tuple(items) => {
                    items.iter().filter_map(Value::as_f64).collect()
                }
                _ => vec![],
            };
            let (Some(lo), Some(hi)) = (r.get(2 * d), r.get(2 * d + 1)) else {
                return Err(format!(
                    "histogramdd range must hold two numbers per dim, got {r:?}"
                ));
            };
            (c.scalar(*lo, out)?, c.scalar(*hi, out)?)
        }
    };
    let eq = c.bin("Equal", lo, hi, DType::Bool)?;
    let half = c.scalar(0.5, out)?;
    let lo2 = c.bin("Sub", lo, half, out)?;
    let hi2 = c.bin("Add", hi, half, out)?;
    let lo = super::compare::select(c, eq, lo2, lo, out)?;
    let hi = super::compare::select(c, eq, hi2, hi, out)?;
    let k =
        c.b.constant(&tch::Tensor::from((b + 1) as i32), &format!("{}", b + 1))?;
    c.op1(
        "LinSpace",
        vec![In::P(lo), In::P(hi), In::P(k)],
        vec![],
        out,
    )
}

/// `torch.histogramdd`: the last dim of self holds the D coordinates of each point. Per dim,
/// the bin is the count of interior edges ≤ x (as ATen's search), the point counts when every
/// coordinate lies within its first and last edge; the flat bin index selects, by Equal with
/// the bin numbers, what ReduceSum adds up.
fn histogramdd(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !matches!(out, DType::F32 | DType::F64) {
        return Err(format!("histogramdd of {} values", out.name()));
    }
    let shape = c.in_shape("self")?;
    let Some(&dd) = shape.last() else {
        return Err("histogramdd needs self with at least 1 dim ([..., D])".into());
    };
    let n: i64 = shape[..shape.len() - 1].iter().product();
    let bins = c.out_shape(0)?;
    if bins.len() != dd as usize {
        return Err(format!(
            "histogramdd: {} bin counts for {dd} dims",
            bins.len()
        ));
    }
    let total: i64 = bins.iter().product();
    let x = c.tensor_as("self", out)?;
    let pts = c.reshape_const(x, &[n, dd], out)?;
    let mut flat: Option<Port> = None;
    let mut valid: Option<Port> = None;
    let mut edges = vec![];
    let mut stride = total;
    for (d, &b) in bins.iter().enumerate() {
        stride /= b.max(1);
        let col = c.slice_axis(pts, 1, d as i64, d as i64 + 1, out)?;
        let flat_col = c.reshape_const(col, &[n], out)?;
        let e = dd_edges(c, flat_col, n, d, b, out)?;
        edges.push(e);
        let pos = if b > 1 {
            let inner = c.slice_axis(e, 0, 1, b, out)?;
            let inner = c.reshape_const(inner, &[1, b - 1], out)?;
            let ge = c.bin("GreaterEqual", col, inner, DType::Bool)?;
            let ge = c.cast(ge, DType::I32)?;
            c.reduce_axes("ReduceSum", ge, &[1], true, DType::I32)?
        } else {
            let dims = c.const_i64(&[n, 1])?;
            let zero = c.b.constant(&tch::Tensor::from(0i32), "0")?;
            c.op1("Fill", vec![In::P(dims), In::P(zero)], vec![], DType::I32)?
        };
        let first = c.slice_axis(e, 0, 0, 1, out)?;
        let last = c.slice_axis(e, 0, b, b + 1, out)?;
        let above = c.bin("GreaterEqual", col, first, DType::Bool)?;
        let below = c.bin("LessEqual", col, last, DType::Bool)?;
        let ok = c.bin("LogicalAnd", above, below, DType::Bool)?;
        valid = Some(match valid {
            Some(v) => c.bin("LogicalAnd", v, ok, DType::Bool)?,
            None => ok,
        });
        let term = if stride == 1 {
            pos
        } else {
            let s = c.b.constant(&tch::Tensor::from(stride as i32), "stride")?;
            c.bin("Mul", pos, s, DType::I32)?
        };
        flat = Some(match flat {
            Some(f) => c.bin("Add", f, term, DType::I32)?,
            None => term,
        });
    }
    let (Some(flat), Some(valid)) = (flat, valid) else {
        return Err("histogramdd needs at least one dim".into());
    };
    let iota = tch::Tensor::arange(total, (tch::Kind::Int, tch::Device::Cpu)).reshape([1, total]);
    let iota = c.b.constant(&iota, "bin numbers")?;
    let hit = c.bin("Equal", flat, iota, DType::Bool)?;
    let hit = c.bin("LogicalAnd", hit, valid, DType::Bool)?;
    let mut hit = c.cast(hit, out)?;
    if c.has("weight") {
        let w = c.tensor_as("weight", out)?;
        let w = c.reshape_const(w, &[n, 1], out)?;
        hit = c.bin("Mul", hit, w, out)?;
    }
    let hist = c.reduce_axes("ReduceSum", hit, &[0], false, out)?;
    let mut hist = c.reshape_const(hist, &bins, out)?;
    if c.bool("density")? {
        let all: Vec<i64> = (0..bins.len() as i64).collect();
        let sum = c.reduce_axes("ReduceSum", hist, &all, false, out)?;
        hist = c.bin("Div", hist, sum, out)?;
        for (d, &b) in bins.iter().enumerate() {
            let hi = c.slice_axis(edges[d], 0, 1, b + 1, out)?;
            let lo = c.slice_axis(edges[d], 0, 0, b, out)?;
            let width = c.bin("Sub", hi, lo, out)?;
            let mut s = vec![1i64; bins.len()];
            s[d] = b;
            let width = c.reshape_const(width, &s, out)?;
            hist = c.bin("Div", hist, width, out)?;
        }
    }
    let mut v = vec![hist];
    v.extend(edges);
    Ok(v)
}
