//! Linear-algebra products and distances: dot, mv, addmv, addbmm, inner, tensordot, kron,
//! chain_matmul / linalg.multi_dot, cross / linalg.cross, cdist, pairwise_distance. Every
//! product is a MatMulV2 / BatchMatMulV2 (or Mul + ReduceSum) around Reshape / Transpose /
//! Unsqueeze; operands are cast to the result dtype first.
use super::spatial::{squeeze, unsqueeze};
use super::sym::Dim;
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, Value};

pub fn register(r: &mut Rules) {
    r.add(
        "aten::dot",
        dot,
        "ReduceSum(Mul(⇑out self, ⇑out tensor), K64([0]))",
    );
    r.add(
        "aten::vdot",
        vdot,
        "ReduceSum(Mul(⇑out self, ⇑out other), K64([0])) (real tensors)",
    );
    r.add(
        "aten::addr",
        addr,
        "Add(Mul(self, beta), Mul(Mul(Unsqueeze(vec1, [1]), Unsqueeze(vec2, [0])), alpha)); beta=0 drops self",
    );
    r.add(
        "aten::mv",
        mv,
        "Squeeze(MatMulV2(⇑out self, Unsqueeze(⇑out vec, axes=[1])), axis=[1])",
    );
    r.add(
        "aten::addmv",
        addmv,
        "Add(Mul(self, beta), Mul(mv(mat, vec), alpha)); beta=0 drops self, 1s drop their Mul",
    );
    r.add(
        "aten::addbmm",
        addbmm,
        "Add(Mul(self, beta), Mul(ReduceSum(BatchMatMulV2(batch1, batch2), K64([0])), alpha)); beta=0 drops self",
    );
    r.add(
        "aten::inner",
        inner,
        "Reshape(MatMulV2(Reshape(self, [P, K]), Reshape(other, [Q, K]); transpose_x2), out shape); a 0-D operand: Mul (static K; one dynamic free dim per side)",
    );
    r.add(
        "aten::tensordot",
        tensordot,
        "Reshape(MatMulV2(Reshape(Transpose(self, free+dims_self), [P, K]), Reshape(Transpose(other, free+dims_other), [Q, K]); transpose_x2), out shape) (static contracted dims; one dynamic free dim per side)",
    );
    r.add(
        "aten::kron",
        kron,
        "Reshape(Mul(Reshape(self, [a0,1,a1,1,..]), Reshape(other, [1,b0,1,b1,..])), [a0·b0, a1·b1, ..]) (dynamic dims: Gather(Shape(x)), Mul, Pack)",
    );
    r.add(
        "aten::chain_matmul",
        |c| multi_dot(c, "matrices"),
        "MatMulV2 left to right; one matrix: nothing",
    );
    r.add(
        "aten::linalg_multi_dot",
        |c| multi_dot(c, "tensors"),
        "MatMulV2 left to right; a 1-D first / last operand via Unsqueeze, Squeeze of the result",
    );
    r.add(
        "aten::cross",
        cross,
        "ConcatV2(Sub(Mul(a1, b2), Mul(a2, b1)), …, dim) of StridedSliceV2 components (dim None: the first of size 3)",
    );
    r.add(
        "aten::linalg_cross",
        cross,
        "ConcatV2(Sub(Mul(a1, b2), Mul(a2, b1)), …, dim) of StridedSliceV2 components",
    );
    r.add(
        "aten::cdist",
        cdist,
        "p=2 with compute_mode 1, or default and > 25 rows (as ATen): Sqrt(Relu(MatMulV2|BatchMatMulV2(ConcatV2(Mul(x1, -2), ReduceSum(x1²), OnesLike), ConcatV2(x2, OnesLike, ReduceSum(x2²)); transposed))); else norm_p over the last axis of d = Sub(Unsqueeze(x1, [-2]), Unsqueeze(x2, [-3])): p=2 Sqrt(ReduceSum(Mul(d, d))), p=1 ReduceSum(Abs), inf ReduceMax(Abs), p=0 ReduceSum(Cast(NotEqual(d, 0))), else Pow(ReduceSum(Pow(Abs, p)), 1/p)",
    );
    r.add(
        "aten::pairwise_distance",
        pairwise_distance,
        "norm_p(Add(Sub(x1, x2), eps)) over the last axis (keepdim), as cdist's norm",
    );
}

fn mul(c: &mut Ctx, a: Port, b: Port, dt: DType) -> Result<Port, String> {
    c.op1("Mul", vec![In::P(a), In::P(b)], vec![], dt)
}

fn sub(c: &mut Ctx, a: Port, b: Port, dt: DType) -> Result<Port, String> {
    c.op1("Sub", vec![In::P(a), In::P(b)], vec![], dt)
}

fn matmul2(c: &mut Ctx, a: Port, b: Port, tb: bool, dt: DType) -> Result<Port, String> {
    c.op1(
        "MatMulV2",
        vec![In::P(a), In::P(b), In::Unfed],
        vec![
            ("transpose_x1", attr::boolean(false)),
            ("transpose_x2", attr::boolean(tb)),
        ],
        dt,
    )
}

fn need_rank(c: &Ctx, name: &str, want: &[usize]) -> Result<usize, String> {
    let r = c.rank(name)?;
    if !want.contains(&r) {
        return Err(format!(
            "{} needs '{name}' with {want:?} dims, got {r}",
            c.node.op_name()
        ));
    }
    Ok(r)
}

fn dot(c: &mut Ctx) -> RuleResult {
    need_rank(c, "self", &[1])?;
    need_rank(c, "tensor", &[1])?;
    let out = c.out_dtype(0)?;
    let a = c.tensor_as("self", out)?;
    let b = c.tensor_as("tensor", out)?;
    let m = mul(c, a, b, out)?;
    Ok(vec![c.reduce_axes("ReduceSum", m, &[0], false, out)?])
}

fn vdot(c: &mut Ctx) -> RuleResult {
    need_rank(c, "self", &[1])?;
    need_rank(c, "other", &[1])?;
    let out = c.out_dtype(0)?;
    let a = c.tensor_as("self", out)?;
    let b = c.tensor_as("other", out)?;
    let m = mul(c, a, b, out)?;
    Ok(vec![c.reduce_axes("ReduceSum", m, &[0], false, out)?])
}

fn addr(c: &mut Ctx) -> RuleResult {
    need_rank(c, "vec1", &[1])?;
    need_rank(c, "vec2", &[1])?;
    let out = c.out_dtype(0)?;
    let a = c.tensor_as("vec1", out)?;
    let b = c.tensor_as("vec2", out)?;
    let a = unsqueeze(c, a, vec![1], out)?;
    let b = unsqueeze(c, b, vec![0], out)?;
    let y = mul(c, a, b, out)?;
    Ok(vec![scaled_add(c, y, out)?])
}

fn mv_port(c: &mut Ctx, mat: &str, vec: &str, out: DType) -> Result<Port, String> {
    need_rank(c, mat, &[2])?;
    need_rank(c, vec, &[1])?;
    let a = c.tensor_as(mat, out)?;
    let v = c.tensor_as(vec, out)?;
    let v = unsqueeze(c, v, vec![1], out)?;
    let y = matmul2(c, a, v, false, out)?;
    squeeze(c, y, vec![1], out)
}

fn mv(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    Ok(vec![mv_port(c, "self", "vec", out)?])
}

/// `beta·self + alpha·y`, as ATen's addmv/addbmm: beta 0 ignores self (NaNs included).
fn scaled_add(c: &mut Ctx, y: Port, out: DType) -> Result<Port, String> {
    let alpha = c.float("alpha")?;
    let beta = c.float("beta")?;
    let mut y = y;
    if alpha != 1.0 {
        let a = c.scalar(alpha, out)?;
        y = mul(c, y, a, out)?;
    }
    if beta == 0.0 {
        return Ok(y);
    }
    let mut s = c.tensor_as("self", out)?;
    if beta != 1.0 {
        let b = c.scalar(beta, out)?;
        s = mul(c, s, b, out)?;
    }
    c.op1("Add", vec![In::P(s), In::P(y)], vec![], out)
}

fn addmv(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let y = mv_port(c, "mat", "vec", out)?;
    Ok(vec![scaled_add(c, y, out)?])
}

fn addbmm(c: &mut Ctx) -> RuleResult {
    need_rank(c, "batch1", &[3])?;
    need_rank(c, "batch2", &[3])?;
    let out = c.out_dtype(0)?;
    let a = c.tensor_as("batch1", out)?;
    let b = c.tensor_as("batch2", out)?;
    let p = c.batch_matmul(a, b, None, false, out)?;
    let y = c.reduce_axes("ReduceSum", p, &[0], false, out)?;
    Ok(vec![scaled_add(c, y, out)?])
}

fn inner(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let (ra, rb) = (c.rank("self")? as i64, c.rank("other")? as i64);
    if ra == 0 || rb == 0 {
        let a = c.tensor_as("self", out)?;
        let b = c.tensor_as("other", out)?;
        return Ok(vec![mul(c, a, b, out)?]);
    }
    contract(c, &[ra - 1], &[rb - 1], out)
}

fn tensordot(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let (ra, rb) = (c.rank("self")?, c.rank("other")?);
    let norm = |ds: Vec<i64>, r: usize| -> Result<Vec<i64>, String> {
        ds.into_iter()
            .map(|d| {
                let n = Ctx::dim(d, r as i64);
                if n < 0 || n >= r as i64 {
                    Err(format!("tensordot dim {d} out of range for {r} dims"))
                } else {
                    Ok(n)
                }
            })
            .collect()
    };
    let da = norm(c.ints("dims_self")?, ra)?;
    let db = norm(c.ints("dims_other")?, rb)?;
    contract(c, &da, &db, out)
}

/// Sums self · other over the paired dims `da` of self and `db` of other: both Transposed to
/// free dims first and contracted dims last, Reshaped to [P, K] and [Q, K], MatMulV2 with
/// transpose_x2, Reshaped to self's free dims then other's. Dynamic dims (free or contracted)
/// enter P, Q, K and the result shape as products of `Gather(Shape(x))`. As ATen, a pair whose
/// one side has size 1 broadcasts: the other side is summed over its dim first (keep_dims).
fn contract(c: &mut Ctx, da: &[i64], db: &[i64], out: DType) -> RuleResult {
    let mut sa = c.sym_dims("self")?;
    let mut sb = c.sym_dims("other")?;
    let (ka, kb) = (
        c.tensor_value("self")?.tensor.size(),
        c.tensor_value("other")?.tensor.size(),
    );
    let op = c.node.op_name().to_string();
    let mismatch = || {
        format!(
            "{op} contracts dims {da:?} of {ka:?} with dims {db:?} of {kb:?}: they must pair up with equal sizes (or one of them 1)"
        )
    };
    if da.len() != db.len() {
        return Err(mismatch());
    }
    let mut a = c.tensor_as("self", out)?;
    let mut b = c.tensor_as("other", out)?;
    for (&i, &j) in da.iter().zip(db) {
        let (i, j) = (i as usize, j as usize);
        if ka[i] == kb[j] {
            continue;
        }
        // The side of size 1 decides which is summed: that size must hold for every size the
        // export admits.
        let (x, d, one) = if kb[j] == 1 {
            (&mut a, i, sb[j])
        } else if ka[i] == 1 {
            (&mut b, j, sa[i])
        } else {
            return Err(mismatch());
        };
        if !matches!(one, Dim::K(1)) {
            return Err(format!(
                "{op}: its broadcast of a contracted dim of size 1 needs that dim static (it is dynamic)"
            ));
        }
        *x = c.reduce_axes("ReduceSum", *x, &[d as i64], true, out)?;
        if kb[j] == 1 {
            sa[i] = Dim::K(1);
        } else {
            sb[j] = Dim::K(1);
        }
    }
    let free = |s: &[Dim], ds: &[i64]| -> Vec<i64> {
        (0..s.len() as i64).filter(|d| !ds.contains(d)).collect()
    };
    let (fa, fb) = (free(&sa, da), free(&sb, db));
    let product = |c: &mut Ctx, s: &[Dim], ds: &[i64]| -> Result<Dim, String> {
        let mut n = Dim::K(1);
        for &d in ds {
            n = c.dim_times(n, s[d as usize])?;
        }
        Ok(n)
    };
    let k = product(c, &sa, da)?;
    let p = product(c, &sa, &fa)?;
    let q = product(c, &sb, &fb)?;
    let perm_a: Vec<i64> = fa.iter().chain(da).copied().collect();
    let perm_b: Vec<i64> = fb.iter().chain(db).copied().collect();
    let a = permute(c, a, &perm_a, out)?;
    let b = permute(c, b, &perm_b, out)?;
    let a = c.reshape_dims(a, &[p, k], out)?;
    let b = c.reshape_dims(b, &[q, k], out)?;
    let y = matmul2(c, a, b, true, out)?;
    if fa.len() == 1 && fb.len() == 1 {
        return Ok(vec![y]);
    }
    let shape: Vec<Dim> = fa
        .iter()
        .map(|&d| sa[d as usize])
        .chain(fb.iter().map(|&d| sb[d as usize]))
        .collect();
    Ok(vec![c.reshape_dims(y, &shape, out)?])
}

/// Transpose, or nothing for the identity permutation.
fn permute(c: &mut Ctx, x: Port, perm: &[i64], dt: DType) -> Result<Port, String> {
    if perm.iter().enumerate().all(|(i, &p)| i as i64 == p) {
        return Ok(x);
    }
    c.transpose_const(x, perm, dt)
}

fn kron(c: &mut Ctx) -> RuleResult {
    let res = c.out_dtype(0)?;
    // BOOL (a logical and) runs as UINT8: Mul does not list BOOL.
    let out = if res == DType::Bool { DType::U8 } else { res };
    // Dynamic dims come from Shape: the result's dim i is a_i · b_i.
    let mut sa = c.sym_dims("self")?;
    let mut sb = c.sym_dims("other")?;
    let n = sa.len().max(sb.len());
    while sa.len() < n {
        sa.insert(0, Dim::K(1));
    }
    while sb.len() < n {
        sb.insert(0, Dim::K(1));
    }
    let wide_a: Vec<Dim> = sa.iter().flat_map(|&d| [d, Dim::K(1)]).collect();
    let wide_b: Vec<Dim> = sb.iter().flat_map(|&d| [Dim::K(1), d]).collect();
    let a = c.tensor_as("self", out)?;
    let b = c.tensor_as("other", out)?;
    let a = c.reshape_dims(a, &wide_a, out)?;
    let b = c.reshape_dims(b, &wide_b, out)?;
    let y = mul(c, a, b, out)?;
    let mut shape = vec![];
    for (&x, &z) in sa.iter().zip(&sb) {
        shape.push(c.dim_times(x, z)?);
    }
    let y = c.reshape_dims(y, &shape, out)?;
    Ok(vec![c.cast(y, res)?])
}

fn multi_dot(c: &mut Ctx, name: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    let items: Vec<Value> = match c.arg(name)? {
        Value::List(v) | Value::Tuple(v) => v.clone(),
        _ => return Err(format!("argument '{name}' must be a list of tensors")),
    };
    let ranks: Vec<usize> = items
        .iter()
        .map(|v| v.as_tensor().map(|t| t.tensor.dim()))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("argument '{name}' must be a list of tensors"))?;
    let mut ports = super::layout::tensor_list(c, name, out)?;
    let n = ports.len();
    if n == 0 {
        return Err(format!("{} needs at least one tensor", c.node.op_name()));
    }
    if n == 1 {
        return Ok(vec![ports[0]]);
    }
    let first_vec = ranks[0] == 1;
    let last_vec = ranks[n - 1] == 1;
    for (i, r) in ranks.iter().enumerate() {
        let ok = *r == 2 || (*r == 1 && name == "tensors" && (i == 0 || i == n - 1));
        if !ok {
            return Err(format!(
                "{} needs 2-D matrices (linalg.multi_dot also a 1-D first or last), got {r} dims at position {i}",
                c.node.op_name()
            ));
        }
    }
    if first_vec {
        ports[0] = unsqueeze(c, ports[0], vec![0], out)?;
    }
    if last_vec {
        ports[n - 1] = unsqueeze(c, ports[n - 1], vec![1], out)?;
    }
    let mut y = ports[0];
    for &p in &ports[1..] {
        y = matmul2(c, y, p, false, out)?;
    }
    let axes: Vec<i64> = [(first_vec, 0), (last_vec, 1)]
        .iter()
        .filter(|(f, _)| *f)
        .map(|(_, a)| *a)
        .collect();
    if !axes.is_empty() {
        y = squeeze(c, y, axes, out)?;
    }
    Ok(vec![y])
}

fn cross(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let r = c.out_rank(0)?;
    let dyn_out = c.out_dynamic(0)?;
    let dim = if c.has("dim") {
        Ctx::dim(c.int("dim")?, r as i64)
    } else {
        // ATen's default: the first dim of self of size 3 (linalg_cross then needs other to
        // have as many dims).
        let own = c.in_desc_shape("self")?;
        if own.len() != r {
            return Err(format!(
                "cross without dim needs self and other with as many dims, got {own:?} and {:?}",
                c.in_desc_shape("other")?
            ));
        }
        own.iter()
            .position(|&s| s == 3)
            .ok_or("cross without dim needs a dim of size 3 in self; fix: pass dim")? as i64
    };
    if dim < 0 || dim >= r as i64 {
        return Err(format!(
            "cross along dim {dim}: the dim must exist (size 3)"
        ));
    }
    if dyn_out[dim as usize] {
        // PyTorch fixes it: cross needs a dim of size 3 there, so it is pinned (with a note).
        c.bake(format!(
            "{} along dim {dim} takes its size as the constant 3",
            c.node.op_name()
        ));
    }
    let mut comps = vec![];
    for name in ["self", "other"] {
        let rank = c.rank(name)? as i64;
        let axis = dim - (r as i64 - rank);
        let dims = c.in_dims(name)?;
        if axis < 0 || dims[axis as usize] != Some(3) {
            return Err(format!(
                "cross needs '{name}' to have size 3 along dim {dim}, got {:?}",
                c.in_desc_shape(name)?
            ));
        }
        let x = c.tensor_as(name, out)?;
        let mut v = vec![];
        for i in 0..3 {
            v.push(c.slice_axis(x, axis, i, i + 1, out)?);
        }
        comps.push(v);
    }
    let (a, b) = (&comps[0], &comps[1]);
    let mut parts = vec![];
    for (i, j) in [(1, 2), (2, 0), (0, 1)] {
        let l = mul(c, a[i], b[j], out)?;
        let rr = mul(c, a[j], b[i], out)?;
        parts.push(sub(c, l, rr, out)?);
    }
    let d = c.scalar_i64(dim)?;
    Ok(vec![c.op1(
        "ConcatV2",
        vec![In::Dyn(parts), In::P(d)],
        vec![("N", attr::int(3))],
        out,
    )?])
}

/// The p-norm of `d` over `axis`, as ATen's norm computes it.
fn pnorm(c: &mut Ctx, d: Port, p: f64, axis: i64, keep: bool, dt: DType) -> Result<Port, String> {
    if p == 2.0 {
        let sq = mul(c, d, d, dt)?;
        let s = c.reduce_axes("ReduceSum", sq, &[axis], keep, dt)?;
        return c.op1("Sqrt", vec![In::P(s)], vec![], dt);
    }
    if p == 0.0 {
        // The count of nonzero entries.
        let z = c.scalar(0.0, dt)?;
        let nz = c.op1("NotEqual", vec![In::P(d), In::P(z)], vec![], DType::Bool)?;
        let nz = c.cast(nz, dt)?;
        return c.reduce_axes("ReduceSum", nz, &[axis], keep, dt);
    }
    if p.is_nan() || p < 0.0 {
        return Err(format!(
            "{} with p={p}: p must be >= 0 (or inf); fix: pass a non-negative p",
            c.node.op_name()
        ));
    }
    let a = c.op1("Abs", vec![In::P(d)], vec![], dt)?;
    if p == 1.0 {
        return c.reduce_axes("ReduceSum", a, &[axis], keep, dt);
    }
    if p.is_infinite() {
        return c.reduce_axes("ReduceMax", a, &[axis], keep, dt);
    }
    let e = c.scalar(p, dt)?;
    let pw = c.op1("Pow", vec![In::P(a), In::P(e)], vec![], dt)?;
    let s = c.reduce_axes("ReduceSum", pw, &[axis], keep, dt)?;
    let inv = c.scalar(1.0 / p, dt)?;
    c.op1("Pow", vec![In::P(s), In::P(inv)], vec![], dt)
}

fn cdist(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let (r1, r2) = (c.rank("x1")?, c.rank("x2")?);
    if r1 < 2 || r2 < 2 {
        return Err(format!(
            "cdist needs x1 and x2 with at least 2 dims, got {r1} and {r2}"
        ));
    }
    if !out.is_float() {
        return Err(format!("cdist needs float inputs, got {out:?}"));
    }
    let p = c.float("p")?;
    // ATen's choice: p=2 goes through a matrix product when compute_mode asks for it (1), or by
    // default (None, 0) when either side has more than 25 rows; its results (rounding included,
    // e.g. a small nonzero distance of a point to itself) differ from the direct difference.
    let mode = if c.has("compute_mode") {
        c.int("compute_mode")?
    } else {
        0
    };
    let rows = |c: &Ctx, name: &str, r: usize| -> Result<(i64, bool), String> {
        let t = c.tensor_value(name)?;
        Ok((t.tensor.size()[r - 2], t.dynamic_dims()[r - 2]))
    };
    let (n1, dyn1) = rows(c, "x1", r1)?;
    let (n2, dyn2) = rows(c, "x2", r2)?;
    let use_mm = p == 2.0 && (mode == 1 || (mode == 0 && (n1 > 25 || n2 > 25)));
    if p == 2.0 && mode == 0 && (dyn1 || dyn2) {
        c.assumptions.push(format!(
            "cdist takes its {} path for {n1} × {n2} rows; sizes on the other side of 25 rows need another export",
            if use_mm { "matrix-product" } else { "direct" }
        ));
    }
    let a = c.tensor_as("x1", out)?;
    let b = c.tensor_as("x2", out)?;
    if use_mm {
        return Ok(vec![euclidean_mm(c, a, b, r1, r2, out)?]);
    }
    let a = unsqueeze(c, a, vec![r1 as i64 - 1], out)?;
    let b = unsqueeze(c, b, vec![r2 as i64 - 2], out)?;
    let d = sub(c, a, b, out)?;
    Ok(vec![pnorm(c, d, p, -1, false, out)?])
}

fn pairwise_distance(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let r = c.rank("x1")?.max(c.rank("x2")?);
    if r == 0 {
        return Err("pairwise_distance needs inputs with at least 1 dim".into());
    }
    if !out.is_float() {
        return Err(format!("pairwise_distance needs float inputs, got {out:?}"));
    }
    let p = c.float("p")?;
    let eps = c.float("eps")?;
    let keep = c.bool("keepdim")?;
    let a = c.tensor_as("x1", out)?;
    let b = c.tensor_as("x2", out)?;
    let d = sub(c, a, b, out)?;
    let e = c.scalar(eps, out)?;
    let d = c.op1("Add", vec![In::P(d), In::P(e)], vec![], out)?;
    Ok(vec![pnorm(c, d, p, r as i64 - 1, keep, out)?])
}

/// ATen's `_euclidean_dist`: Sqrt(Relu(Cat(-2·x1, |x1|², 1) · Cat(x2, 1, |x2|²)ᵀ)).
fn euclidean_mm(
    c: &mut Ctx,
    a: Port,
    b: Port,
    r1: usize,
    r2: usize,
    dt: DType,
) -> Result<Port, String> {
    let norm = |c: &mut Ctx, x: Port| -> Result<(Port, Port), String> {
        let sq = mul(c, x, x, dt)?;
        let n = c.reduce_axes("ReduceSum", sq, &[-1], true, dt)?;
        let ones = c.op1("OnesLike", vec![In::P(n)], vec![], dt)?;
        Ok((n, ones))
    };
    let cat = |c: &mut Ctx, parts: Vec<Port>, axis: usize| -> Result<Port, String> {
        let d = c.scalar_i64(axis as i64)?;
        c.op1(
            "ConcatV2",
            vec![In::Dyn(parts), In::P(d)],
            vec![("N", attr::int(3))],
            dt,
        )
    };
    let (na, oa) = norm(c, a)?;
    let (nb, ob) = norm(c, b)?;
    let k = c.scalar(-2.0, dt)?;
    let a2 = mul(c, a, k, dt)?;
    let a_ = cat(c, vec![a2, na, oa], r1 - 1)?;
    let b_ = cat(c, vec![b, ob, nb], r2 - 1)?;
    let y = if r1 == 2 && r2 == 2 {
        matmul2(c, a_, b_, true, dt)?
    } else {
        c.batch_matmul(a_, b_, None, true, dt)?
    };
    // clamp_min(0) as Relu, whose prototype lacks BF16: that runs in FLOAT.
    let w = super::spatial::work_dtype("Relu", dt);
    let y = c.cast(y, w)?;
    let y = c.op1("Relu", vec![In::P(y)], vec![], w)?;
    let y = c.op1("Sqrt", vec![In::P(y)], vec![], w)?;
    c.cast(y, dt)
}
