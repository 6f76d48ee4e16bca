//! Matrix decompositions, determinants, inverses and solves, on CANN's linalg prototypes:
//! Cholesky, Qr, Svd, Lu, SelfAdjointEig, MatrixInverse, MatrixDeterminant,
//! LogMatrixDeterminant, MatrixSolve, MatrixTriangularSolve. What they lack is composed from
//! them (cholesky_solve: two triangular solves; pinv: Svd; logdet: LogMatrixDeterminant's sign;
//! lu_unpack / lu_solve: LAPACK's pivots replayed as a permutation, step by step).
//!
//! GE's ops take FLOAT or DOUBLE (FLOAT16/BF16 inputs run in FLOAT) and equal batch dims on both
//! operands (broadcast here first). The rules need static shapes: dynamic dims are pinned.
use super::spatial::{squeeze, unsqueeze};
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, Value};
use tch::Tensor;

pub fn register(r: &mut Rules) {
    r.add(
        "aten::cholesky",
        |c| cholesky(c, "self", false),
        "Cholesky(x) (the lower factor); upper: Transpose of the last two dims",
    );
    r.add(
        "aten::linalg_cholesky",
        |c| cholesky(c, "self", false),
        "Cholesky(x) (the lower factor); upper: Transpose of the last two dims",
    );
    r.add(
        "aten::linalg_cholesky_ex",
        |c| cholesky(c, "self", true),
        "Cholesky(x) (upper: Transpose), info a constant 0 (GE's Cholesky fails at run time on a matrix that is not positive-definite)",
    );
    r.add(
        "aten::cholesky_inverse",
        cholesky_inverse,
        "Li = MatrixTriangularSolve(L, I; lower); lower: BatchMatMulV2(Liᵀ, Li), upper: BatchMatMulV2(Ui, Uiᵀ)",
    );
    r.add(
        "aten::cholesky_solve",
        cholesky_solve,
        "two MatrixTriangularSolve (lower: L then Lᵀ via adjoint; upper: Uᵀ via adjoint then U); batch dims broadcast (BroadcastTo)",
    );
    r.add(
        "aten::triangular_solve",
        triangular_solve,
        "MatrixTriangularSolve(A, B; lower=!upper, adjoint=transpose) (unitriangular: Add(Mul(A, 1-I), I) first); the cloned coefficient is A (BroadcastTo the batch)",
    );
    r.add(
        "aten::linalg_solve_triangular",
        solve_triangular,
        "MatrixTriangularSolve(A, B; lower=!upper); left=False: Transpose(MatrixTriangularSolve(A, Bᵀ; adjoint)); unitriangular: Add(Mul(A, 1-I), I) first",
    );
    r.add(
        "aten::linalg_det",
        |c| unary(c, "A", "MatrixDeterminant"),
        "MatrixDeterminant(x)",
    );
    r.add(
        "aten::slogdet",
        |c| slogdet(c, "self"),
        "LogMatrixDeterminant(x) → (sign, y)",
    );
    r.add(
        "aten::linalg_slogdet",
        |c| slogdet(c, "A"),
        "LogMatrixDeterminant(x) → (sign, y)",
    );
    r.add(
        "aten::logdet",
        logdet,
        "Add(y, Log(sign)) of LogMatrixDeterminant(x): NaN for a negative determinant, -inf for 0",
    );
    r.add(
        "aten::linalg_inv",
        |c| unary(c, "A", "MatrixInverse"),
        "MatrixInverse(x)",
    );
    r.add(
        "aten::linalg_inv_ex",
        inv_ex,
        "MatrixInverse(x), info a constant 0 (GE's MatrixInverse fails at run time on a singular matrix)",
    );
    r.add(
        "aten::linalg_solve",
        |c| solve(c, false),
        "MatrixSolve(A, B) (a vector B: Unsqueeze / Squeeze; left=False: Transpose(MatrixSolve(A, Bᵀ; adjoint))); batch dims broadcast",
    );
    r.add(
        "aten::linalg_solve_ex",
        |c| solve(c, true),
        "MatrixSolve(A, B) as linalg_solve, info a constant 0 (GE's MatrixSolve fails at run time on a singular matrix)",
    );
    r.add("aten::qr", qr_legacy, "Qr(x; full_matrices=!some) → (q, r)");
    r.add(
        "aten::linalg_qr",
        linalg_qr,
        "Qr(x; full_matrices=mode=='complete') → (q, r); mode 'r': q an empty constant",
    );
    r.add(
        "aten::svd",
        svd_legacy,
        "Svd(x; compute_uv, full_matrices=!some) → (u, sigma, v); compute_uv=False: U, V zero constants",
    );
    r.add(
        "aten::linalg_svd",
        linalg_svd,
        "Svd(x; compute_uv, full_matrices) → (u, sigma, Transpose(v))",
    );
    r.add(
        "aten::linalg_svdvals",
        svdvals,
        "Svd(x; compute_uv=False) → sigma",
    );
    r.add(
        "aten::pinverse",
        pinverse,
        "Svd(x) → BatchMatMulV2(Mul(v, Unsqueeze(SelectV2(Greater(sigma, rcond·sigma[0]), Reciprocal(sigma), 0))), uᵀ)",
    );
    r.add(
        "aten::linalg_pinv",
        linalg_pinv,
        "Svd(x) (hermitian: SelfAdjointEig(x), |eigenvalues|) → BatchMatMulV2(Mul(v, SelectV2(Greater(s, Maximum(atol, rtol·max s)), Reciprocal(s), 0)), uᵀ)",
    );
    r.add(
        "aten::linalg_matrix_rank",
        matrix_rank,
        "ReduceSum(Cast(Greater(s, Maximum(atol, rtol·max s)))) of Svd(x; compute_uv=False) (hermitian: |SelfAdjointEig|)",
    );
    r.add(
        "aten::linalg_eigh",
        |c| eigh(c, true),
        "SelfAdjointEig(x) → (eigen_value, eigen_vector) (UPLO 'L')",
    );
    r.add(
        "aten::linalg_eigvalsh",
        |c| eigh(c, false),
        "SelfAdjointEig(x; compute_v=False) (UPLO 'U': of Transpose(x)) → eigen_value",
    );
    r.add(
        "aten::_lu_with_info",
        |c| lu_factor(c, "self", true),
        "Lu(x) (non-square: padded square with ConcatV2) → LU, LAPACK pivots from the permutation (k unrolled steps of Equal, ArgMaxV2, SelectV2, Pack), info from Equal(diag(U), 0)",
    );
    r.add(
        "aten::linalg_lu_factor",
        |c| lu_factor(c, "A", false),
        "Lu(x) (non-square: padded square with ConcatV2) → LU, LAPACK pivots from the permutation (unrolled Equal, ArgMaxV2, SelectV2, Pack)",
    );
    r.add(
        "aten::linalg_lu_factor_ex",
        |c| lu_factor(c, "A", true),
        "Lu(x) as linalg_lu_factor, info from Equal(diag(U), 0) (ArgMaxV2)",
    );
    r.add(
        "aten::linalg_lu",
        linalg_lu,
        "Lu(x) (non-square: padded) → P = Transpose(OneHot(p)), L = Add(Tril(LU, -1), I), U = Triu(LU) (StridedSliceV2 to k)",
    );
    r.add(
        "aten::lu_unpack",
        lu_unpack,
        "P: OneHot of the permutation replayed from the pivots (k unrolled GatherElements / SelectV2 steps), Transpose; L = Add(Tril(LU, -1), I), U = Triu(LU) (StridedSliceV2 to k)",
    );
    r.add(
        "aten::lu_solve",
        |c| lu_solve(c, "self", "LU_data", "LU_pivots"),
        "GatherElements(B, rows permuted by the pivots' permutation) → MatrixTriangularSolve(Add(Tril(LU, -1), I); lower) → MatrixTriangularSolve(LU; upper)",
    );
    r.add(
        "aten::linalg_lu_solve",
        |c| lu_solve(c, "B", "LU", "pivots"),
        "GatherElements(B by the pivots' permutation), MatrixTriangularSolve with L (unit) and U; adjoint / left=False: the transposed solves, then the inverse permutation",
    );
    r.add(
        "aten::linalg_matrix_power",
        matrix_power,
        "n ≥ 0: BatchMatMulV2 by repeated squaring as ATen (n = 0: BroadcastTo(I)); n < 0: of MatrixInverse(x)",
    );
    r.add(
        "aten::linalg_householder_product",
        householder_product,
        "Q = I, then per reflector i (k unrolled steps): v = column i of Add(Tril(A, -1), I) (StridedSliceV2), Q = Sub(Q, Mul(BatchMatMulV2(Q, v), tau_i) · vᵀ); StridedSliceV2 to n columns",
    );
    r.add(
        "aten::ormqr",
        ormqr,
        "Q of the reflectors as linalg_householder_product ([m, m]); BatchMatMulV2 with other (left or right, Q or Qᵀ)",
    );
    r.add(
        "aten::geqrf",
        geqrf,
        "LAPACK's unblocked Householder QR unrolled over k columns: per column, beta = -sign(alpha)·Sqrt(alpha² + ‖x‖²), tau = (beta - alpha)/beta (0 when ‖x‖ = 0), v = x/(alpha - beta), R = Sub(R, tau·v·(vᵀR)) (MatMulV2, masks by SelectV2); packed as ATen's (a, tau)",
    );
    r.add(
        "aten::linalg_matrix_norm",
        matrix_norm,
        "'fro': Sqrt(ReduceSum(Mul(x, x), dims)); 'nuc' / ±2: ReduceSum / ReduceMax / ReduceMin of Svd(Transpose(x, dims last); compute_uv=False); ±1 / ±inf: ReduceMax|ReduceMin(ReduceSum(Abs(x), rows|cols)) (keepdim: Unsqueeze back)",
    );
    r.add(
        "aten::linalg_norm",
        linalg_norm,
        "ord given with 2 dims (or a 2-D input and no dim): as linalg_matrix_norm; else as linalg_vector_norm (ord None: 2)",
    );
    r.add(
        "aten::linalg_cond",
        cond,
        "p None / ±2: Div of the first and last of Svd(x; compute_uv=False) (Squeeze); else matrix_norm(x, p) · matrix_norm(MatrixInverse(x), p)",
    );
    r.add(
        "aten::linalg_vander",
        vander,
        "ConcatV2(OnesLike, Cumprod(BroadcastTo(Unsqueeze(x, -1), [..., n, N-1]), -1)) along the last dim",
    );
    r.add(
        "aten::linalg_tensorinv",
        tensorinv,
        "Reshape(MatrixInverse(Reshape(x, [prod(shape[:ind]), prod(shape[ind:])])), shape[ind:] + shape[:ind])",
    );
    r.add(
        "aten::linalg_tensorsolve",
        tensorsolve,
        "Reshape(MatrixSolve(Reshape(Transpose(A, dims last), [prod(B.shape), prod(rest)]), Reshape(B, [-1, 1])), A.shape[B.ndim:])",
    );
    r.add("aten::linalg_vecdot", vecdot, "ReduceSum(Mul(x, y), dim)");
}

/// Why ops of this family have no rule: CANN has no prototype that computes them, and no
/// composition of the ones it has reproduces ATen's result.
pub fn gap(op: &str) -> Option<&'static str> {
    let base = op.split('.').next().unwrap_or(op);
    Some(match base {
        "aten::hash_tensor" => "its result is UINT64 (the XOR of each element's FLOAT64 bits), a dtype torch2air's graphs and runner do not carry",
        "aten::linalg_matrix_exp" | "aten::matrix_exp" => "CANN has no matrix exponential, and ATen's Taylor degree and squaring count depend on the data's norm (a data-dependent graph)",
        "aten::linalg_eig" | "aten::linalg_eigvals" => "its results are complex and CANN has no general (non-symmetric) eigensolver",
        "aten::linalg_ldl_factor" | "aten::linalg_ldl_factor_ex" | "aten::linalg_ldl_solve" => "Bunch-Kaufman LDLᵀ's symmetric pivoting (1×1 or 2×2 blocks, chosen by the data) has no CANN prototype",
        "aten::linalg_lstsq" => "LAPACK's gelsy (a rank-revealing QR with column pivoting) has no CANN prototype; MatrixSolveLs is a regularised normal-equations solve with other results",
        _ => return None,
    })
}

/// The dtype GE's linalg ops run in for a value of `dt` (FLOAT or DOUBLE).
fn work(c: &Ctx, dt: DType) -> Result<DType, String> {
    match dt {
        DType::F64 => Ok(DType::F64),
        DType::F32 | DType::F16 | DType::BF16 => Ok(DType::F32),
        _ => Err(format!(
            "{} needs a floating-point tensor, got {dt:?}",
            c.node.op_name()
        )),
    }
}

/// A matrix argument: its port in the work dtype and its (static) shape, at least 2-D.
fn matrix(c: &mut Ctx, name: &str, square: bool) -> Result<(Port, Vec<i64>, DType), String> {
    let shape = c.in_shape(name)?;
    let n = shape.len();
    if n < 2 || (square && shape[n - 1] != shape[n - 2]) {
        return Err(format!(
            "{} needs '{name}' as {}matrices [..., m, n], got {shape:?}",
            c.node.op_name(),
            if square { "square " } else { "" }
        ));
    }
    let dt = work(c, c.in_dtype(name)?)?;
    let p = c.tensor_as(name, dt)?;
    Ok((p, shape, dt))
}

/// Transpose of the last two dims.
fn mt(c: &mut Ctx, x: Port, rank: usize, dt: DType) -> Result<Port, String> {
    let mut perm: Vec<i64> = (0..rank as i64).collect();
    perm.swap(rank - 2, rank - 1);
    c.transpose_const(x, &perm, dt)
}

fn swap_last(s: &[i64]) -> Vec<i64> {
    let mut s = s.to_vec();
    let n = s.len();
    s.swap(n - 2, n - 1);
    s
}

fn konst(c: &mut Ctx, t: &Tensor, what: &str) -> Result<Port, String> {
    c.b.constant(t, what)
}

fn eye(c: &mut Ctx, n: i64, m: i64, dt: DType) -> Result<Port, String> {
    let t = Tensor::eye_m(n, m, (dt.kind(), tch::Device::Cpu));
    konst(c, &t, &format!("eye({n}, {m})"))
}

/// A zero-filled Const of `shape` (an empty one when a dim is 0).
fn zeros(c: &mut Ctx, shape: &[i64], dt: DType) -> Result<Port, String> {
    let t = Tensor::zeros(shape, (dt.kind(), tch::Device::Cpu));
    konst(c, &t, &format!("zeros({shape:?})"))
}

/// `BroadcastTo(x, shape)`, or `x` when it has that shape already.
fn bcast(c: &mut Ctx, x: Port, from: &[i64], to: &[i64], dt: DType) -> Result<Port, String> {
    if from == to {
        return Ok(x);
    }
    let s = c.const_i64(to)?;
    c.op1("BroadcastTo", vec![In::P(x), In::P(s)], vec![], dt)
}

/// The broadcast of two batch shapes (the dims before the last two).
fn batch_of(c: &Ctx, a: &[i64], b: &[i64]) -> Result<Vec<i64>, String> {
    let (a, b) = (&a[..a.len() - 2], &b[..b.len() - 2]);
    let n = a.len().max(b.len());
    let at = |s: &[i64], i: usize| -> i64 {
        let k = i as i64 - (n - s.len()) as i64;
        if k < 0 {
            1
        } else {
            s[k as usize]
        }
    };
    (0..n)
        .map(|i| {
            let (x, y) = (at(a, i), at(b, i));
            if x == y || y == 1 {
                Ok(x)
            } else if x == 1 {
                Ok(y)
            } else {
                Err(format!(
                    "{}: batch dims {a:?} and {b:?} do not broadcast",
                    c.node.op_name()
                ))
            }
        })
        .collect()
}

fn with_batch(batch: &[i64], s: &[i64]) -> Vec<i64> {
    batch
        .iter()
        .chain(&s[s.len() - 2..])
        .copied()
        .collect::<Vec<_>>()
}

/// A matrix product of `[..., m, k]` and `[..., k, n]` (batch dims broadcast).
fn mm(c: &mut Ctx, a: Port, b: Port, rank: usize, dt: DType) -> Result<Port, String> {
    if rank == 2 {
        return c.op1(
            "MatMulV2",
            vec![In::P(a), In::P(b), In::Unfed],
            vec![
                ("transpose_x1", attr::boolean(false)),
                ("transpose_x2", attr::boolean(false)),
            ],
            dt,
        );
    }
    c.batch_matmul(a, b, None, false, dt)
}

/// `MatrixTriangularSolve(a, b; lower, adjoint)` with the batch dims of both broadcast first;
/// returns the port and its shape.
#[allow(clippy::too_many_arguments)]
fn tri_solve(
    c: &mut Ctx,
    a: Port,
    sa: &[i64],
    b: Port,
    sb: &[i64],
    lower: bool,
    adjoint: bool,
    dt: DType,
) -> Result<(Port, Vec<i64>), String> {
    let batch = batch_of(c, sa, sb)?;
    let (ta, tb) = (with_batch(&batch, sa), with_batch(&batch, sb));
    let a = bcast(c, a, sa, &ta, dt)?;
    let b = bcast(c, b, sb, &tb, dt)?;
    let y = c.op1(
        "MatrixTriangularSolve",
        vec![In::P(a), In::P(b)],
        vec![
            ("lower", attr::boolean(lower)),
            ("adjoint", attr::boolean(adjoint)),
        ],
        dt,
    )?;
    Ok((y, tb))
}

/// A with its diagonal replaced by ones: Add(Mul(A, 1 - I), I).
fn unit_diagonal(c: &mut Ctx, a: Port, n: i64, dt: DType) -> Result<Port, String> {
    let off = Tensor::ones([n, n], (dt.kind(), tch::Device::Cpu))
        - Tensor::eye(n, (dt.kind(), tch::Device::Cpu));
    let off = konst(c, &off, "1 - I")?;
    let i = eye(c, n, n, dt)?;
    let y = c.bin("Mul", a, off, dt)?;
    c.bin("Add", y, i, dt)
}

fn info_zeros(c: &mut Ctx, i: usize) -> Result<Port, String> {
    let s = c.out_shape(i)?;
    let dt = c.out_dtype(i)?;
    zeros(c, &s, dt)
}

fn cholesky(c: &mut Ctx, name: &str, ex: bool) -> RuleResult {
    let (x, s, dt) = matrix(c, name, true)?;
    let out = c.out_dtype(0)?;
    let mut l = c.op1("Cholesky", vec![In::P(x)], vec![], dt)?;
    if c.bool("upper")? {
        l = mt(c, l, s.len(), dt)?;
    }
    let mut v = vec![c.cast(l, out)?];
    if ex {
        v.push(info_zeros(c, 1)?);
    }
    Ok(v)
}

fn cholesky_inverse(c: &mut Ctx) -> RuleResult {
    let (l, s, dt) = matrix(c, "self", true)?;
    let out = c.out_dtype(0)?;
    let upper = c.bool("upper")?;
    let n = s[s.len() - 1];
    let r = s.len();
    let i = eye(c, n, n, dt)?;
    let (li, _) = tri_solve(c, l, &s, i, &[n, n], !upper, false, dt)?;
    let lt = mt(c, li, r, dt)?;
    let y = if upper {
        mm(c, li, lt, r, dt)?
    } else {
        mm(c, lt, li, r, dt)?
    };
    Ok(vec![c.cast(y, out)?])
}

fn cholesky_solve(c: &mut Ctx) -> RuleResult {
    let (b, sb, dt) = matrix(c, "self", false)?;
    let (l, sl, _) = matrix(c, "input2", true)?;
    let out = c.out_dtype(0)?;
    let upper = c.bool("upper")?;
    let (y, sy) = tri_solve(c, l, &sl, b, &sb, !upper, upper, dt)?;
    let (x, _) = tri_solve(c, l, &sl, y, &sy, !upper, !upper, dt)?;
    Ok(vec![c.cast(x, out)?])
}

fn triangular_solve(c: &mut Ctx) -> RuleResult {
    let (b, sb, dt) = matrix(c, "self", false)?;
    let (a0, sa, _) = matrix(c, "A", true)?;
    let out = c.out_dtype(0)?;
    let upper = c.bool("upper")?;
    let a = if c.bool("unitriangular")? {
        unit_diagonal(c, a0, sa[sa.len() - 1], dt)?
    } else {
        a0
    };
    let (x, _) = tri_solve(c, a, &sa, b, &sb, !upper, c.bool("transpose")?, dt)?;
    let x = c.cast(x, out)?;
    let a_in = c.tensor("A")?;
    let to = c.out_shape(1)?;
    let a_dt = c.out_dtype(1)?;
    let a_out = bcast(c, a_in, &sa, &to, a_dt)?;
    Ok(vec![x, a_out])
}

fn solve_triangular(c: &mut Ctx) -> RuleResult {
    let (a0, sa, dt) = matrix(c, "self", true)?;
    let (b, sb, _) = matrix(c, "B", false)?;
    let out = c.out_dtype(0)?;
    let upper = c.bool("upper")?;
    let a = if c.bool("unitriangular")? {
        unit_diagonal(c, a0, sa[sa.len() - 1], dt)?
    } else {
        a0
    };
    if c.bool("left")? {
        let (x, _) = tri_solve(c, a, &sa, b, &sb, !upper, false, dt)?;
        return Ok(vec![c.cast(x, out)?]);
    }
    // X·A = B: Aᵀ·Xᵀ = Bᵀ.
    let bt = mt(c, b, sb.len(), dt)?;
    let (xt, sx) = tri_solve(c, a, &sa, bt, &swap_last(&sb), !upper, true, dt)?;
    let x = mt(c, xt, sx.len(), dt)?;
    Ok(vec![c.cast(x, out)?])
}

fn unary(c: &mut Ctx, name: &str, ty: &str) -> RuleResult {
    let (x, _, dt) = matrix(c, name, true)?;
    let out = c.out_dtype(0)?;
    let y = c.op1(ty, vec![In::P(x)], vec![], dt)?;
    Ok(vec![c.cast(y, out)?])
}

fn inv_ex(c: &mut Ctx) -> RuleResult {
    let mut v = unary(c, "A", "MatrixInverse")?;
    v.push(info_zeros(c, 1)?);
    Ok(v)
}

fn slogdet(c: &mut Ctx, name: &str) -> RuleResult {
    let (x, _, dt) = matrix(c, name, true)?;
    let p = c.op(
        "LogMatrixDeterminant",
        vec![In::P(x)],
        vec![],
        &[Some(dt), Some(dt)],
    )?;
    let (o0, o1) = (c.out_dtype(0)?, c.out_dtype(1)?);
    Ok(vec![c.cast(p[0], o0)?, c.cast(p[1], o1)?])
}

fn logdet(c: &mut Ctx) -> RuleResult {
    let (x, _, dt) = matrix(c, "self", true)?;
    let p = c.op(
        "LogMatrixDeterminant",
        vec![In::P(x)],
        vec![],
        &[Some(dt), Some(dt)],
    )?;
    // log(sign): 0 for +1, NaN for -1 (log of a negative determinant), -inf for 0 (then y is
    // -inf too).
    let ls = c.un("Log", p[0], dt)?;
    let y = c.bin("Add", p[1], ls, dt)?;
    let out = c.out_dtype(0)?;
    Ok(vec![c.cast(y, out)?])
}

fn solve(c: &mut Ctx, ex: bool) -> RuleResult {
    let (a, sa, dt) = matrix(c, "A", true)?;
    let sb0 = c.in_shape("B")?;
    let out = c.out_dtype(0)?;
    // ATen's rule: B is a vector (or a batch of them) when 1-D, or when its shape is A's
    // without the last dim.
    let vector = sb0.len() == 1 || (sb0.len() + 1 == sa.len() && sb0[..] == sa[..sa.len() - 1]);
    let left = c.bool("left")?;
    let bdt = work(c, c.in_dtype("B")?)?;
    if bdt != dt {
        return Err(format!(
            "{} with A and B of different dtypes ({dt:?}, {bdt:?})",
            c.node.op_name()
        ));
    }
    let mut b = c.tensor_as("B", dt)?;
    let mut sb = sb0.clone();
    if vector {
        if !left {
            return Err(format!(
                "{} with left=False needs B as matrices, got a vector {sb0:?}",
                c.node.op_name()
            ));
        }
        b = unsqueeze(c, b, vec![sb0.len() as i64], dt)?;
        sb.push(1);
    }
    if sb.len() < 2 {
        return Err(format!("{}: B {sb0:?} must be a matrix", c.node.op_name()));
    }
    let (b, sb) = if left {
        (b, sb)
    } else {
        (mt(c, b, sb.len(), dt)?, swap_last(&sb))
    };
    let batch = batch_of(c, &sa, &sb)?;
    let (ta, tb) = (with_batch(&batch, &sa), with_batch(&batch, &sb));
    let a = bcast(c, a, &sa, &ta, dt)?;
    let b = bcast(c, b, &sb, &tb, dt)?;
    let mut x = c.op1(
        "MatrixSolve",
        vec![In::P(a), In::P(b)],
        vec![("adjoint", attr::boolean(!left))],
        dt,
    )?;
    if !left {
        x = mt(c, x, tb.len(), dt)?;
    }
    if vector {
        x = squeeze(c, x, vec![tb.len() as i64 - 1], dt)?;
    }
    let mut v = vec![c.cast(x, out)?];
    if ex {
        v.push(info_zeros(c, 1)?);
    }
    Ok(v)
}

fn qr_op(c: &mut Ctx, x: Port, full: bool, dt: DType) -> Result<Vec<Port>, String> {
    c.op(
        "Qr",
        vec![In::P(x)],
        vec![("full_matrices", attr::boolean(full))],
        &[Some(dt), Some(dt)],
    )
}

fn qr_legacy(c: &mut Ctx) -> RuleResult {
    let (x, _, dt) = matrix(c, "self", false)?;
    let p = qr_op(c, x, !c.bool("some")?, dt)?;
    let out = c.out_dtype(0)?;
    Ok(vec![c.cast(p[0], out)?, c.cast(p[1], out)?])
}

fn string_arg(c: &Ctx, name: &str) -> Result<String, String> {
    match c.arg(name)? {
        Value::Str(s) => Ok(s.clone()),
        v => Err(format!("argument '{name}' must be a string, got {v:?}")),
    }
}

fn linalg_qr(c: &mut Ctx) -> RuleResult {
    let (x, _, dt) = matrix(c, "A", false)?;
    let mode = string_arg(c, "mode")?;
    let full = match mode.as_str() {
        "reduced" | "r" => false,
        "complete" => true,
        m => {
            return Err(format!(
                "linalg_qr mode '{m}': must be 'reduced', 'complete' or 'r'"
            ))
        }
    };
    let p = qr_op(c, x, full, dt)?;
    let out = c.out_dtype(0)?;
    let q = if mode == "r" {
        let s = c.out_shape(0)?;
        zeros(c, &s, out)?
    } else {
        c.cast(p[0], out)?
    };
    Ok(vec![q, c.cast(p[1], out)?])
}

/// `Svd(x; compute_uv, full_matrices)` → [sigma, u, v].
fn svd_op(c: &mut Ctx, x: Port, uv: bool, full: bool, dt: DType) -> Result<Vec<Port>, String> {
    c.op(
        "Svd",
        vec![In::P(x)],
        vec![
            ("compute_uv", attr::boolean(uv)),
            ("full_matrices", attr::boolean(full)),
        ],
        &[Some(dt), Some(dt), Some(dt)],
    )
}

fn svd_legacy(c: &mut Ctx) -> RuleResult {
    let (x, _, dt) = matrix(c, "self", false)?;
    let out = c.out_dtype(0)?;
    let uv = c.bool("compute_uv")?;
    let p = svd_op(c, x, uv, !c.bool("some")?, dt)?;
    let s = c.cast(p[0], out)?;
    if !uv {
        // ATen's U and V are then zero-filled [m, m] and [n, n].
        let (su, sv) = (c.out_shape(0)?, c.out_shape(2)?);
        return Ok(vec![zeros(c, &su, out)?, s, zeros(c, &sv, out)?]);
    }
    Ok(vec![c.cast(p[1], out)?, s, c.cast(p[2], out)?])
}

fn linalg_svd(c: &mut Ctx) -> RuleResult {
    let (x, shape, dt) = matrix(c, "A", false)?;
    let out = c.out_dtype(0)?;
    let p = svd_op(c, x, true, c.bool("full_matrices")?, dt)?;
    let s = c.cast(p[0], out)?;
    let vh = mt(c, p[2], shape.len(), dt)?;
    Ok(vec![c.cast(p[1], out)?, s, c.cast(vh, out)?])
}

fn svdvals(c: &mut Ctx) -> RuleResult {
    let (x, _, dt) = matrix(c, "A", false)?;
    let out = c.out_dtype(0)?;
    let p = svd_op(c, x, false, false, dt)?;
    Ok(vec![c.cast(p[0], out)?])
}

/// A tolerance argument (a float, a tensor or None) as a port of `dt` with a trailing dim of 1
/// (a tensor of the batch shape then broadcasts against the singular values), or None.
fn tol_arg(c: &mut Ctx, name: &str, dt: DType) -> Result<Option<Port>, String> {
    if !c.has(name) {
        return Ok(None);
    }
    match c.arg(name)? {
        Value::Tensor(_) => {
            let r = c.rank(name)?;
            let p = c.tensor_as(name, dt)?;
            Ok(Some(if r == 0 {
                p
            } else {
                unsqueeze(c, p, vec![r as i64], dt)?
            }))
        }
        _ => {
            let v = c.float(name)?;
            Ok(Some(c.scalar(v, dt)?))
        }
    }
}

/// ATen's tolerances for pinv / matrix_rank: (atol, rtol), atol 0 when absent, rtol eps·max(m,
/// n) when absent (0 when atol is given and positive).
fn atol_rtol(c: &mut Ctx, shape: &[i64], input: DType) -> Result<(Port, Port), String> {
    let dt = DType::F64;
    let (atol, rtol) = if c.has("rcond") || c.has("tol") {
        // rcond (pinverse, linalg_pinv's rcond overloads): the relative tolerance; tol
        // (matrix_rank's): the absolute one.
        if c.has("rcond") {
            let r = tol_arg(c, "rcond", dt)?.expect("has rcond");
            (c.scalar(0.0, dt)?, r)
        } else {
            let a = tol_arg(c, "tol", dt)?.expect("has tol");
            (a, c.scalar(0.0, dt)?)
        }
    } else {
        let atol = tol_arg(c, "atol", dt)?;
        let rtol = tol_arg(c, "rtol", dt)?;
        let n = shape[shape.len() - 1].max(shape[shape.len() - 2]) as f64;
        let eps = if input == DType::F64 {
            f64::EPSILON
        } else {
            f32::EPSILON as f64
        };
        let default = eps * n;
        match (atol, rtol) {
            (a, Some(r)) => (a.map_or_else(|| c.scalar(0.0, dt), Ok)?, r),
            (None, None) => (c.scalar(0.0, dt)?, c.scalar(default, dt)?),
            (Some(a), None) => {
                // rtol = 0 where atol > 0, else the default.
                let z = c.scalar(0.0, dt)?;
                let pos = c.bin("Greater", a, z, DType::Bool)?;
                let d = c.scalar(default, dt)?;
                let r = c.op1("SelectV2", vec![In::P(pos), In::P(z), In::P(d)], vec![], dt)?;
                (a, r)
            }
        }
    };
    Ok((atol, rtol))
}

/// The singular values (or |eigenvalues| when hermitian) of x, with the vectors when `vectors`:
/// (s, u, v, s_signed) where x = u·diag(s_signed)·vᵀ.
fn spectrum(
    c: &mut Ctx,
    x: Port,
    hermitian: bool,
    vectors: bool,
    dt: DType,
) -> Result<(Port, Port, Port, Port), String> {
    if hermitian {
        let p = c.op(
            "SelfAdjointEig",
            vec![In::P(x)],
            vec![("compute_v", attr::boolean(vectors))],
            &[Some(dt), Some(dt)],
        )?;
        let a = c.un("Abs", p[0], dt)?;
        return Ok((a, p[1], p[1], p[0]));
    }
    let p = svd_op(c, x, vectors, false, dt)?;
    Ok((p[0], p[1], p[2], p[0]))
}

/// `Greater(s, max(atol, rtol · max(s)))`, compared in DOUBLE as ATen does (its tolerances
/// are DOUBLE tensors).
fn above_tol(c: &mut Ctx, s: Port, atol: Port, rtol: Port) -> Result<Port, String> {
    let f64t = DType::F64;
    let s = c.cast(s, f64t)?;
    let axes = c.const_i64(&[-1])?;
    let mx = c.op1(
        "ReduceMax",
        vec![In::P(s), In::P(axes)],
        vec![("keep_dims", attr::boolean(true))],
        f64t,
    )?;
    let r = c.bin("Mul", rtol, mx, f64t)?;
    let tol = c.bin("Maximum", atol, r, f64t)?;
    c.bin("Greater", s, tol, DType::Bool)
}

fn pinv_of(c: &mut Ctx, name: &str, hermitian: bool) -> RuleResult {
    let (x, shape, dt) = matrix(c, name, false)?;
    let out = c.out_dtype(0)?;
    if shape.contains(&0) {
        // No singular values: the pseudo-inverse is empty.
        let s = c.out_shape(0)?;
        return Ok(vec![zeros(c, &s, out)?]);
    }
    let (atol, rtol) = atol_rtol(c, &shape, dt)?;
    let (s, u, v, signed) = spectrum(c, x, hermitian, true, dt)?;
    let keep = above_tol(c, s, atol, rtol)?;
    let inv = c.un("Reciprocal", signed, dt)?;
    let z = c.scalar(0.0, dt)?;
    let sinv = c.op1(
        "SelectV2",
        vec![In::P(keep), In::P(inv), In::P(z)],
        vec![],
        dt,
    )?;
    let r = shape.len();
    let sinv = unsqueeze(c, sinv, vec![r as i64 - 2], dt)?;
    let vs = c.bin("Mul", v, sinv, dt)?;
    let ut = mt(c, u, r, dt)?;
    let y = mm(c, vs, ut, r, dt)?;
    Ok(vec![c.cast(y, out)?])
}

fn pinverse(c: &mut Ctx) -> RuleResult {
    pinv_of(c, "self", false)
}

fn linalg_pinv(c: &mut Ctx) -> RuleResult {
    let h = c.bool("hermitian")?;
    pinv_of(c, "self", h)
}

fn matrix_rank(c: &mut Ctx) -> RuleResult {
    let name = if c.has("input") { "input" } else { "self" };
    let (x, shape, dt) = matrix(c, name, false)?;
    let out = c.out_dtype(0)?;
    if shape[shape.len() - 1] == 0 || shape[shape.len() - 2] == 0 {
        let s = c.out_shape(0)?;
        return Ok(vec![zeros(c, &s, out)?]);
    }
    let h = c.bool("hermitian")?;
    let (atol, rtol) = atol_rtol(c, &shape, dt)?;
    let (s, ..) = spectrum(c, x, h, false, dt)?;
    let keep = above_tol(c, s, atol, rtol)?;
    let k = c.cast(keep, DType::I64)?;
    let axes = c.const_i64(&[-1])?;
    let n = c.op1(
        "ReduceSum",
        vec![In::P(k), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        DType::I64,
    )?;
    Ok(vec![c.cast(n, out)?])
}

fn eigh(c: &mut Ctx, vectors: bool) -> RuleResult {
    let (mut x, shape, dt) = matrix(c, "self", true)?;
    let uplo = string_arg(c, "UPLO")?;
    match uplo.as_str() {
        "L" | "l" => {}
        "U" | "u" if vectors => {
            return Err(
                "linalg_eigh with UPLO='U': GE's SelfAdjointEig reads the lower triangle, and the eigenvectors of the transposed matrix can differ in sign from LAPACK's for 'U'; fix: pass UPLO='L' on a symmetric matrix"
                    .into(),
            )
        }
        "U" | "u" => x = mt(c, x, shape.len(), dt)?,
        u => return Err(format!("UPLO '{u}': must be 'L' or 'U'")),
    }
    let p = c.op(
        "SelfAdjointEig",
        vec![In::P(x)],
        vec![("compute_v", attr::boolean(vectors))],
        &[Some(dt), Some(dt)],
    )?;
    let out = c.out_dtype(0)?;
    let mut v = vec![c.cast(p[0], out)?];
    if vectors {
        v.push(c.cast(p[1], out)?);
    }
    Ok(v)
}

/// Steps of LU that graphs may unroll (each a handful of small ops).
const MAX_LU_STEPS: i64 = 256;

/// Lu of `[..., m, n]`: GE's Lu takes square matrices, so a tall one gets columns [0; I] on
/// the right and a wide one rows [0 | I] below. Neither changes the first min(m, n) steps of
/// partial pivoting (the padding is zero in the columns those steps eliminate, so it never wins
/// a pivot a nonzero entry competes for, and its multipliers are 0), and the padded matrix is
/// as regular as the input's leading block. Returns the packed LU `[..., m, n]` (for a tall
/// matrix still in the row order of all m steps: see `lu_aten`) and the permutation
/// `[..., max(m, n)]` (INT32) with input[p] = L·U.
fn lu_op(c: &mut Ctx, x: Port, s: &[i64], dt: DType) -> Result<(Port, Port), String> {
    let r = s.len();
    let (m, n) = (s[r - 2], s[r - 1]);
    let batch = &s[..r - 2];
    let padded = if m == n {
        x
    } else {
        let (pad, axis) = if m > n {
            let e = Tensor::eye_m(m, m - n, (dt.kind(), tch::Device::Cpu)).roll([n], [0]);
            (e, r - 1)
        } else {
            let e = Tensor::eye_m(n - m, n, (dt.kind(), tch::Device::Cpu)).roll([m], [1]);
            (e, r - 2)
        };
        let ps: Vec<i64> = pad.size();
        let k = konst(c, &pad, "the square padding")?;
        let to = with_batch(batch, &ps);
        let k = bcast(c, k, &ps, &to, dt)?;
        let ax = c.scalar_i64(axis as i64)?;
        c.op1(
            "ConcatV2",
            vec![In::Dyn(vec![x, k]), In::P(ax)],
            vec![("N", attr::int(2))],
            dt,
        )?
    };
    let p = c.op(
        "Lu",
        vec![In::P(padded)],
        vec![("output_idx_type", attr::dtype_cpp(DType::I32.ge_cpp()))],
        &[Some(dt), Some(DType::I32)],
    )?;
    let mut lu = p[0];
    if m > n {
        lu = c.slice_axis(lu, r as i64 - 1, 0, n, dt)?;
    } else if m < n {
        lu = c.slice_axis(lu, r as i64 - 2, 0, m, dt)?;
    }
    Ok((lu, p[1]))
}

/// The position vector 0..n (INT32).
fn positions(c: &mut Ctx, n: i64) -> Result<Port, String> {
    let t = Tensor::arange(n, (tch::Kind::Int, tch::Device::Cpu));
    konst(c, &t, &format!("0..{n}"))
}

/// `x[..., i]` keeping the dim (`[..., 1]`).
fn col(c: &mut Ctx, x: Port, rank: usize, i: i64, dt: DType) -> Result<Port, String> {
    c.slice_axis(x, rank as i64 - 1, i, i + 1, dt)
}

/// LAPACK's pivots (1-based; step i swaps rows i and piv[i] - 1) of a permutation p
/// (`[..., big]` INT32, input[p] = L·U), for the first k steps: at step i the row p[i] sits at
/// position j of the rows as swapped so far; piv[i] = j + 1.
fn pivots_of(c: &mut Ctx, p: Port, pshape: &[i64], k: i64) -> Result<(Port, Port), String> {
    let r = pshape.len();
    let big = pshape[r - 1];
    if k > MAX_LU_STEPS {
        return Err(format!(
            "{}: LAPACK's pivots take {k} unrolled steps here; at most {MAX_LU_STEPS} are supported",
            c.node.op_name()
        ));
    }
    let i32t = DType::I32;
    let pos = positions(c, big)?;
    let mut cur = bcast(c, pos, &[big], pshape, i32t)?;
    let one = c.scalar(1.0, i32t)?;
    let axis = c.scalar_i64(r as i64 - 1)?;
    let mut piv = vec![];
    for i in 0..k {
        let target = col(c, p, r, i, i32t)?;
        let hit = c.bin("Equal", cur, target, DType::Bool)?;
        let hit = c.cast(hit, i32t)?;
        let j = c.op1(
            "ArgMaxV2",
            vec![In::P(hit), In::P(axis)],
            vec![("dtype", attr::dtype_cpp(i32t.ge_cpp()))],
            i32t,
        )?;
        piv.push(c.bin("Add", j, one, i32t)?);
        // Swap positions i and j of `cur` (cur[j] is the target).
        let ju = unsqueeze(c, j, vec![r as i64 - 1], i32t)?;
        cur = swap(c, cur, pos, r, i, ju, target)?;
    }
    if piv.is_empty() {
        let mut s = pshape.to_vec();
        s[r - 1] = 0;
        return Ok((zeros(c, &s, i32t)?, cur));
    }
    let piv = c.op1(
        "Pack",
        vec![In::Dyn(piv)],
        vec![("axis", attr::int(r as i64 - 1)), ("N", attr::int(k))],
        i32t,
    )?;
    Ok((piv, cur))
}

/// ATen's LU of `[..., m, n]` from GE's Lu: the packed LU, LAPACK's pivots and the row order
/// after the first k = min(m, n) steps (`[..., max(m, n)]`). For a tall matrix the padded
/// steps after k may swap rows again (and with them the multipliers below row k): the rows are
/// put back in the order of the first k steps (Equal, ArgMaxV2, GatherElements).
fn lu_aten(c: &mut Ctx, x: Port, s: &[i64], dt: DType) -> Result<(Port, Port, Port), String> {
    let r = s.len();
    let (m, n) = (s[r - 2], s[r - 1]);
    let k = m.min(n);
    let (mut lu, p) = lu_op(c, x, s, dt)?;
    let mut ps: Vec<i64> = s[..r - 2].to_vec();
    ps.push(m.max(n));
    let (piv, cur) = pivots_of(c, p, &ps, k)?;
    if m > n {
        // row i of ATen's LU is the row of GE's where p holds cur[i].
        let cu = unsqueeze(c, cur, vec![r as i64 - 1], DType::I32)?;
        let pu = unsqueeze(c, p, vec![r as i64 - 2], DType::I32)?;
        let hit = c.bin("Equal", cu, pu, DType::Bool)?;
        let hit = c.cast(hit, DType::I32)?;
        let axis = c.scalar_i64(r as i64 - 1)?;
        let at = c.op1(
            "ArgMaxV2",
            vec![In::P(hit), In::P(axis)],
            vec![("dtype", attr::dtype_cpp(DType::I32.ge_cpp()))],
            DType::I32,
        )?;
        let at = unsqueeze(c, at, vec![r as i64 - 1], DType::I32)?;
        let mut from = ps.clone();
        from.push(1);
        let at = bcast(c, at, &from, s, DType::I32)?;
        lu = c.op1(
            "GatherElements",
            vec![In::P(lu), In::P(at)],
            vec![("dim", attr::int(r as i64 - 2))],
            dt,
        )?;
    }
    Ok((lu, piv, cur))
}

/// The permutation p (`[..., m]` INT32, A[p] = L·U) that LAPACK's pivots (`[..., k]`) make:
/// p starts as 0..m and step i swaps p[i] and p[piv[i] - 1].
fn perm_of_pivots(c: &mut Ctx, piv: Port, batch: &[i64], m: i64, k: i64) -> Result<Port, String> {
    if k > MAX_LU_STEPS {
        return Err(format!(
            "{}: replaying {k} pivots takes as many unrolled steps; at most {MAX_LU_STEPS} are supported",
            c.node.op_name()
        ));
    }
    let i32t = DType::I32;
    let r = batch.len() + 1;
    let shape: Vec<i64> = batch.iter().copied().chain([m]).collect();
    let pos = positions(c, m)?;
    let mut p = bcast(c, pos, &[m], &shape, i32t)?;
    let one = c.scalar(1.0, i32t)?;
    for i in 0..k {
        let pi = col(c, piv, r, i, i32t)?;
        let j = c.bin("Sub", pi, one, i32t)?;
        let pj = c.op1(
            "GatherElements",
            vec![In::P(p), In::P(j)],
            vec![("dim", attr::int(r as i64 - 1))],
            i32t,
        )?;
        p = swap(c, p, pos, r, i, j, pj)?;
    }
    Ok(p)
}

/// `v` (INT32, rank `r`, positions `pos` along its last dim) with positions `i` and `j` swapped,
/// `vj` being v[..., j]: v[j] = v[i], then v[i] = vj.
fn swap(
    c: &mut Ctx,
    v: Port,
    pos: Port,
    r: usize,
    i: i64,
    j: Port,
    vj: Port,
) -> Result<Port, String> {
    let i32t = DType::I32;
    let vi = col(c, v, r, i, i32t)?;
    let at_j = c.bin("Equal", pos, j, DType::Bool)?;
    let ic = c.scalar(i as f64, i32t)?;
    let at_i = c.bin("Equal", pos, ic, DType::Bool)?;
    let moved = c.op1(
        "SelectV2",
        vec![In::P(at_j), In::P(vi), In::P(v)],
        vec![],
        i32t,
    )?;
    c.op1(
        "SelectV2",
        vec![In::P(at_i), In::P(vj), In::P(moved)],
        vec![],
        i32t,
    )
}

/// info of an LU: the first i (1-based) with U[i, i] = 0, else 0.
fn lu_info(c: &mut Ctx, lu: Port, s: &[i64], dt: DType) -> Result<Port, String> {
    let r = s.len();
    let k = s[r - 1].min(s[r - 2]);
    let i32t = DType::I32;
    if k == 0 {
        let b = &s[..r - 2];
        return zeros(c, b, i32t);
    }
    let top = c.slice_axis(lu, r as i64 - 2, 0, k, dt)?;
    let top = c.slice_axis(top, r as i64 - 1, 0, k, dt)?;
    let i = eye(c, k, k, dt)?;
    let d = c.bin("Mul", top, i, dt)?;
    let axes = c.const_i64(&[-1])?;
    let d = c.op1(
        "ReduceSum",
        vec![In::P(d), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        dt,
    )?;
    let z = c.scalar(0.0, dt)?;
    let zero = c.bin("Equal", d, z, DType::Bool)?;
    let zero = c.cast(zero, i32t)?;
    let axis = c.scalar_i64(r as i64 - 2)?;
    let j = c.op1(
        "ArgMaxV2",
        vec![In::P(zero), In::P(axis)],
        vec![("dtype", attr::dtype_cpp(i32t.ge_cpp()))],
        i32t,
    )?;
    let any = c.op1(
        "ReduceMax",
        vec![In::P(zero), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        i32t,
    )?;
    let one = c.scalar(1.0, i32t)?;
    let j1 = c.bin("Add", j, one, i32t)?;
    c.bin("Mul", any, j1, i32t)
}

fn lu_factor(c: &mut Ctx, name: &str, with_info: bool) -> RuleResult {
    let (x, s, dt) = matrix(c, name, false)?;
    if !c.bool("pivot")? {
        return Err(format!(
            "{} with pivot=False: GE's Lu always pivots rows",
            c.node.op_name()
        ));
    }
    let (lu, piv, _) = lu_aten(c, x, &s, dt)?;
    let out = c.out_dtype(0)?;
    let pdt = c.out_dtype(1)?;
    let mut v = vec![c.cast(lu, out)?, c.cast(piv, pdt)?];
    if with_info {
        let info = lu_info(c, lu, &s, dt)?;
        let idt = c.out_dtype(2)?;
        v.push(c.cast(info, idt)?);
    }
    Ok(v)
}

/// L (unit lower, `[..., m, k]`) and U (`[..., k, n]`) of a packed LU.
fn unpack_lu(c: &mut Ctx, lu: Port, s: &[i64], dt: DType) -> Result<(Port, Port), String> {
    let r = s.len();
    let (m, n) = (s[r - 2], s[r - 1]);
    let k = m.min(n);
    let low = c.op1(
        "Tril",
        vec![In::P(lu)],
        vec![("diagonal", attr::int(-1))],
        dt,
    )?;
    let low = if n > k {
        c.slice_axis(low, r as i64 - 1, 0, k, dt)?
    } else {
        low
    };
    let i = eye(c, m, k, dt)?;
    let l = c.bin("Add", low, i, dt)?;
    let up = c.op1(
        "Triu",
        vec![In::P(lu)],
        vec![("diagonal", attr::int(0))],
        dt,
    )?;
    let u = if m > k {
        c.slice_axis(up, r as i64 - 2, 0, k, dt)?
    } else {
        up
    };
    Ok((l, u))
}

/// The permutation matrix P (A = P·L·U) of a permutation p (`[..., m]` INT32): P[p[i], i] = 1.
fn perm_matrix(c: &mut Ctx, p: Port, rank: usize, m: i64, dt: DType) -> Result<Port, String> {
    let depth = c.scalar(m as f64, DType::I32)?;
    let on = c.scalar(1.0, dt)?;
    let off = c.scalar(0.0, dt)?;
    let o = c.op1(
        "OneHot",
        vec![In::P(p), In::P(depth), In::P(on), In::P(off)],
        vec![("axis", attr::int(-1))],
        dt,
    )?;
    mt(c, o, rank, dt)
}

fn linalg_lu(c: &mut Ctx) -> RuleResult {
    let (x, s, dt) = matrix(c, "A", false)?;
    if !c.bool("pivot")? {
        return Err("linalg_lu with pivot=False: GE's Lu always pivots rows".into());
    }
    let r = s.len();
    let m = s[r - 2];
    let (lu, _, p) = lu_aten(c, x, &s, dt)?;
    let p = if s[r - 1] > m {
        c.slice_axis(p, r as i64 - 2, 0, m, DType::I32)?
    } else {
        p
    };
    let pm = perm_matrix(c, p, r, m, dt)?;
    let (l, u) = unpack_lu(c, lu, &s, dt)?;
    let out = c.out_dtype(0)?;
    Ok(vec![c.cast(pm, out)?, c.cast(l, out)?, c.cast(u, out)?])
}

fn lu_unpack(c: &mut Ctx) -> RuleResult {
    let (lu, s, dt) = matrix(c, "LU_data", false)?;
    let r = s.len();
    let (m, n) = (s[r - 2], s[r - 1]);
    let k = m.min(n);
    let out = c.out_dtype(0)?;
    let (data, pivots) = (c.bool("unpack_data")?, c.bool("unpack_pivots")?);
    let ps = c.in_shape("LU_pivots")?;
    if ps.len() != r - 1 || ps[r - 2] != k {
        return Err(format!(
            "lu_unpack needs LU_pivots [..., {k}] for LU_data {s:?}, got {ps:?}"
        ));
    }
    let p = if pivots {
        let piv = c.tensor_as("LU_pivots", DType::I32)?;
        let perm = perm_of_pivots(c, piv, &s[..r - 2], m, k)?;
        let pm = perm_matrix(c, perm, r, m, dt)?;
        c.cast(pm, out)?
    } else {
        let s0 = c.out_shape(0)?;
        zeros(c, &s0, out)?
    };
    if !data {
        let (s1, s2) = (c.out_shape(1)?, c.out_shape(2)?);
        return Ok(vec![p, zeros(c, &s1, out)?, zeros(c, &s2, out)?]);
    }
    let (l, u) = unpack_lu(c, lu, &s, dt)?;
    Ok(vec![p, c.cast(l, out)?, c.cast(u, out)?])
}

/// Solves A·X = B (or Aᴴ·X = B, or X·A = B, X·Aᴴ = B) with A = P·L·U given packed.
fn lu_solve(c: &mut Ctx, b_name: &str, lu_name: &str, piv_name: &str) -> RuleResult {
    let (lu, s, dt) = matrix(c, lu_name, true)?;
    let (b, sb, _) = matrix(c, b_name, false)?;
    let out = c.out_dtype(0)?;
    let r = s.len();
    let m = s[r - 1];
    let ps = c.in_shape(piv_name)?;
    if ps.len() != r - 1 || ps[r - 2] != m {
        return Err(format!(
            "{} needs pivots [..., {m}] for LU {s:?}, got {ps:?}",
            c.node.op_name()
        ));
    }
    let left = !c.has("left") || c.bool("left")?;
    let adjoint = c.has("adjoint") && c.bool("adjoint")?;
    // X·A = B is Aᵀ·Xᵀ = Bᵀ; X·Aᵀ = B is A·Xᵀ = Bᵀ.
    let (b, sb) = if left {
        (b, sb)
    } else {
        (mt(c, b, sb.len(), dt)?, swap_last(&sb))
    };
    let transposed = adjoint == left;
    let piv = c.tensor_as(piv_name, DType::I32)?;
    let perm = perm_of_pivots(c, piv, &s[..r - 2], m, m)?;
    let low = c.op1(
        "Tril",
        vec![In::P(lu)],
        vec![("diagonal", attr::int(-1))],
        dt,
    )?;
    let i = eye(c, m, m, dt)?;
    let l = c.bin("Add", low, i, dt)?;
    let batch = batch_of(c, &s, &sb)?;
    let tb = with_batch(&batch, &sb);
    let pshape: Vec<i64> = batch.iter().copied().chain([m]).collect();
    let perm_b = bcast(c, perm, &ps, &pshape, DType::I32)?;
    let x = if !transposed {
        // L·U·X = Pᵀ·B, (Pᵀ·B)[i] = B[p[i]].
        let b = bcast(c, b, &sb, &tb, dt)?;
        let idx = unsqueeze(c, perm_b, vec![batch.len() as i64 + 1], DType::I32)?;
        let mut is = pshape.clone();
        is.push(1);
        let idx = bcast(c, idx, &is, &tb, DType::I32)?;
        let pb = c.op1(
            "GatherElements",
            vec![In::P(b), In::P(idx)],
            vec![("dim", attr::int(batch.len() as i64))],
            dt,
        )?;
        let (y, sy) = tri_solve(c, l, &s, pb, &tb, true, false, dt)?;
        tri_solve(c, lu, &s, y, &sy, false, false, dt)?.0
    } else {
        // Uᵀ·Lᵀ·Pᵀ·X = B: W = L⁻ᵀ·U⁻ᵀ·B, X = P·W, X[p[i]] = W[i].
        let (z, sz) = tri_solve(c, lu, &s, b, &sb, false, true, dt)?;
        let (w, _) = tri_solve(c, l, &s, z, &sz, true, true, dt)?;
        // X = P·W as a product with the permutation matrix (P[p[i], i] = 1).
        let pm = perm_matrix(c, perm_b, tb.len(), m, dt)?;
        mm(c, pm, w, tb.len().max(2), dt)?
    };
    let x = if left { x } else { mt(c, x, tb.len(), dt)? };
    Ok(vec![c.cast(x, out)?])
}

/// ATen's binary powering: z runs through x, x², x⁴, ...; result multiplies in the set bits.
fn matrix_power(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let n = c.int("n")?;
    let (x, s, dt) = matrix(c, "self", true)?;
    let r = s.len();
    if n == 0 {
        let m = s[r - 1];
        let i = eye(c, m, m, dt)?;
        let y = bcast(c, i, &[m, m], &s, dt)?;
        return Ok(vec![c.cast(y, out)?]);
    }
    let a = if n < 0 {
        c.op1("MatrixInverse", vec![In::P(x)], vec![], dt)?
    } else {
        x
    };
    let mut k = n.unsigned_abs();
    if k == 1 {
        return Ok(vec![c.cast(a, out)?]);
    }
    if k == 2 {
        let y = mm(c, a, a, r, dt)?;
        return Ok(vec![c.cast(y, out)?]);
    }
    if k == 3 {
        let y = mm(c, a, a, r, dt)?;
        let y = mm(c, y, a, r, dt)?;
        return Ok(vec![c.cast(y, out)?]);
    }
    let (mut z, mut result): (Option<Port>, Option<Port>) = (None, None);
    while k > 0 {
        let bit = k % 2;
        k /= 2;
        z = Some(match z {
            Some(z) => mm(c, z, z, r, dt)?,
            None => a,
        });
        if bit == 1 {
            let zz = z.expect("set above");
            result = Some(match result {
                Some(p) => mm(c, p, zz, r, dt)?,
                None => zz,
            });
        }
    }
    let y = result.expect("n > 0 has a set bit");
    Ok(vec![c.cast(y, out)?])
}

fn vecdot(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err(format!("linalg_vecdot needs float tensors, got {out:?}"));
    }
    let a = c.tensor_as("x", out)?;
    let b = c.tensor_as("y", out)?;
    let r = c.rank("x")?.max(c.rank("y")?);
    let dim = c.int("dim")?;
    if r == 0 || dim < -(r as i64) || dim >= r as i64 {
        return Err(format!(
            "linalg_vecdot along dim {dim} of {r}-D inputs: the dim must exist"
        ));
    }
    let p = c.bin("Mul", a, b, out)?;
    let axes = c.const_i64(&[dim])?;
    Ok(vec![c.op1(
        "ReduceSum",
        vec![In::P(p), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        out,
    )?])
}

/// The product of the k Householder reflectors H_i = I - tau_i·v_i·v_iᵀ packed below the
/// diagonal of `a` (`[..., m, n]`, v_i[i] = 1): `[..., m, m]`.
fn reflectors(
    c: &mut Ctx,
    a: Port,
    s: &[i64],
    tau: Port,
    k: i64,
    dt: DType,
) -> Result<Port, String> {
    let r = s.len();
    let m = s[r - 2];
    if k > MAX_LU_STEPS {
        return Err(format!(
            "{}: {k} reflectors take as many unrolled steps; at most {MAX_LU_STEPS} are supported",
            c.node.op_name()
        ));
    }
    let low = c.op1(
        "Tril",
        vec![In::P(a)],
        vec![("diagonal", attr::int(-1))],
        dt,
    )?;
    let n = s[r - 1];
    let i_mn = eye(c, m, n, dt)?;
    let v_all = c.bin("Add", low, i_mn, dt)?;
    let batch = &s[..r - 2];
    let i_m = eye(c, m, m, dt)?;
    let qs = with_batch(batch, &[m, m]);
    let mut q = bcast(c, i_m, &[m, m], &qs, dt)?;
    for i in 0..k {
        let v = c.slice_axis(v_all, r as i64 - 1, i, i + 1, dt)?; // [..., m, 1]
        let t = c.slice_axis(tau, r as i64 - 2, i, i + 1, dt)?; // [..., 1]
        let t = unsqueeze(c, t, vec![r as i64 - 1], dt)?; // [..., 1, 1]
        let qv = mm(c, q, v, r, dt)?; // [..., m, 1]
        let qv = c.bin("Mul", qv, t, dt)?;
        let vt = mt(c, v, r, dt)?;
        let upd = mm(c, qv, vt, r, dt)?;
        q = c.bin("Sub", q, upd, dt)?;
    }
    Ok(q)
}

fn reflector_inputs(
    c: &mut Ctx,
    a: &str,
    tau: &str,
) -> Result<(Port, Vec<i64>, Port, i64, DType), String> {
    let (x, s, dt) = matrix(c, a, false)?;
    let ts = c.in_shape(tau)?;
    let r = s.len();
    let k = *ts.last().unwrap_or(&0);
    if ts.len() != r - 1 || k > s[r - 1] || k > s[r - 2] {
        return Err(format!(
            "{} needs tau [..., k] with k ≤ min(m, n) for {s:?}, got {ts:?}",
            c.node.op_name()
        ));
    }
    let t = c.tensor_as(tau, dt)?;
    let tb: Vec<i64> = s[..r - 2].iter().copied().chain([k]).collect();
    let t = bcast(c, t, &ts, &tb, dt)?;
    Ok((x, s, t, k, dt))
}

fn householder_product(c: &mut Ctx) -> RuleResult {
    let (a, s, tau, k, dt) = reflector_inputs(c, "input", "tau")?;
    let out = c.out_dtype(0)?;
    let r = s.len();
    let (m, n) = (s[r - 2], s[r - 1]);
    if n > m {
        return Err(format!("linalg_householder_product needs m ≥ n, got {s:?}"));
    }
    let q = reflectors(c, a, &s, tau, k, dt)?;
    let q = if n < m {
        c.slice_axis(q, r as i64 - 1, 0, n, dt)?
    } else {
        q
    };
    Ok(vec![c.cast(q, out)?])
}

fn ormqr(c: &mut Ctx) -> RuleResult {
    let (a, s, tau, k, dt) = reflector_inputs(c, "self", "input2")?;
    let (o, so, _) = matrix(c, "input3", false)?;
    let out = c.out_dtype(0)?;
    let r = s.len();
    let m = s[r - 2];
    let (left, transpose) = (c.bool("left")?, c.bool("transpose")?);
    let want = if left {
        so[so.len() - 2]
    } else {
        so[so.len() - 1]
    };
    if want != m {
        return Err(format!(
            "ormqr: other {so:?} must have {m} {} for input {s:?}",
            if left { "rows" } else { "columns" }
        ));
    }
    let mut q = reflectors(c, a, &s, tau, k, dt)?;
    if transpose {
        q = mt(c, q, r, dt)?;
    }
    let qs = with_batch(&s[..r - 2], &[m, m]);
    let batch = batch_of(c, &qs, &so)?;
    let (tq, to) = (with_batch(&batch, &qs), with_batch(&batch, &so));
    let q = bcast(c, q, &qs, &tq, dt)?;
    let o = bcast(c, o, &so, &to, dt)?;
    let y = if left {
        mm(c, q, o, to.len(), dt)?
    } else {
        mm(c, o, q, to.len(), dt)?
    };
    Ok(vec![c.cast(y, out)?])
}

/// LAPACK's geqr2 (slarfg + slarf per column), unrolled: returns R with the reflectors below
/// its diagonal, and tau.
fn geqrf(c: &mut Ctx) -> RuleResult {
    let (x, s, dt) = matrix(c, "self", false)?;
    let out = c.out_dtype(0)?;
    let r = s.len();
    let (m, n) = (s[r - 2], s[r - 1]);
    let k = m.min(n);
    if k > MAX_LU_STEPS {
        return Err(format!(
            "geqrf of {s:?} takes {k} unrolled steps; at most {MAX_LU_STEPS} are supported"
        ));
    }
    let rows = |c: &mut Ctx, f: &dyn Fn(i64) -> bool| -> Result<Port, String> {
        let t: Vec<f64> = (0..m).map(|i| if f(i) { 1.0 } else { 0.0 }).collect();
        let t = Tensor::from_slice(&t).to_kind(dt.kind()).reshape([m, 1]);
        konst(c, &t, "row mask")
    };
    let zero = c.scalar(0.0, dt)?;
    let one = c.scalar(1.0, dt)?;
    let axes_rows = c.const_i64(&[r as i64 - 2])?;
    let mut a = x;
    let mut taus = vec![];
    for i in 0..k {
        let col = c.slice_axis(a, r as i64 - 1, i, i + 1, dt)?; // [..., m, 1]
        let below_mask = rows(c, &|j| j > i)?;
        let at_mask = rows(c, &|j| j == i)?;
        let below = c.bin("Mul", col, below_mask, dt)?;
        let alpha = c.bin("Mul", col, at_mask, dt)?;
        let alpha = c.op1(
            "ReduceSum",
            vec![In::P(alpha), In::P(axes_rows)],
            vec![("keep_dims", attr::boolean(true))],
            dt,
        )?; // [..., 1, 1]
        let sq = c.bin("Mul", below, below, dt)?;
        let xn2 = c.op1(
            "ReduceSum",
            vec![In::P(sq), In::P(axes_rows)],
            vec![("keep_dims", attr::boolean(true))],
            dt,
        )?;
        let a2 = c.bin("Mul", alpha, alpha, dt)?;
        let nn = c.bin("Add", a2, xn2, dt)?;
        let norm = c.un("Sqrt", nn, dt)?;
        // beta = -sign(alpha)·norm, with sign(0) = +1.
        let neg = c.bin("Less", alpha, zero, DType::Bool)?;
        let negn = c.un("Neg", norm, dt)?;
        let beta = c.op1(
            "SelectV2",
            vec![In::P(neg), In::P(norm), In::P(negn)],
            vec![],
            dt,
        )?;
        let trivial = c.bin("Equal", xn2, zero, DType::Bool)?;
        let bma = c.bin("Sub", beta, alpha, dt)?;
        let tau = c.bin("Div", bma, beta, dt)?;
        let tau = c.op1(
            "SelectV2",
            vec![In::P(trivial), In::P(zero), In::P(tau)],
            vec![],
            dt,
        )?;
        // H = I when x is zero: the diagonal keeps alpha.
        let beta = c.op1(
            "SelectV2",
            vec![In::P(trivial), In::P(alpha), In::P(beta)],
            vec![],
            dt,
        )?;
        let amb = c.bin("Sub", alpha, beta, dt)?;
        let safe = c.op1(
            "SelectV2",
            vec![In::P(trivial), In::P(one), In::P(amb)],
            vec![],
            dt,
        )?;
        let scale = c.un("Reciprocal", safe, dt)?;
        let vb = c.bin("Mul", below, scale, dt)?;
        let v = c.bin("Add", vb, at_mask, dt)?; // [..., m, 1], v[i] = 1
                                                // Apply H = I - tau·v·vᵀ to the columns right of i.
        let vt = mt(c, v, r, dt)?;
        let w = mm(c, vt, a, r, dt)?; // [..., 1, n]
        let tv = c.bin("Mul", v, tau, dt)?;
        let upd = mm(c, tv, w, r, dt)?;
        let right: Vec<f64> = (0..n).map(|j| if j > i { 1.0 } else { 0.0 }).collect();
        let right = Tensor::from_slice(&right)
            .to_kind(dt.kind())
            .reshape([1, n]);
        let right = konst(c, &right, "column mask")?;
        let upd = c.bin("Mul", upd, right, dt)?;
        let applied = c.bin("Sub", a, upd, dt)?;
        // Column i: the rows above unchanged, beta on the diagonal, v below it.
        let bi = c.bin("Mul", beta, at_mask, dt)?;
        let vi = c.bin("Mul", vb, below_mask, dt)?;
        let above_mask = rows(c, &|j| j < i)?;
        let keep = c.bin("Mul", col, above_mask, dt)?;
        let newcol = c.bin("Add", keep, bi, dt)?;
        let newcol = c.bin("Add", newcol, vi, dt)?;
        let cm: Vec<bool> = (0..n).map(|j| j == i).collect();
        let cm = Tensor::from_slice(&cm).reshape([1, n]);
        let cm = konst(c, &cm, "column i")?;
        a = c.op1(
            "SelectV2",
            vec![In::P(cm), In::P(newcol), In::P(applied)],
            vec![],
            dt,
        )?;
        let t = c.reshape_const(tau, &s[..r - 2], dt)?;
        taus.push(t);
    }
    let tau = if taus.is_empty() {
        let mut ts = s[..r - 2].to_vec();
        ts.push(0);
        zeros(c, &ts, dt)?
    } else {
        c.op1(
            "Pack",
            vec![In::Dyn(taus)],
            vec![("axis", attr::int(r as i64 - 2)), ("N", attr::int(k))],
            dt,
        )?
    };
    let o1 = c.out_dtype(1)?;
    Ok(vec![c.cast(a, out)?, c.cast(tau, o1)?])
}

/// A matrix norm's order: a number (±1, ±2, ±inf) or 'fro' / 'nuc'.
#[derive(Clone, Copy, PartialEq)]
enum Ord {
    Num(f64),
    Fro,
    Nuc,
}

fn ord_arg(c: &Ctx, name: &str) -> Result<Option<Ord>, String> {
    if !c.has(name) {
        return Ok(None);
    }
    match c.arg(name)? {
        Value::Str(s) => match s.as_str() {
            "fro" => Ok(Some(Ord::Fro)),
            "nuc" => Ok(Some(Ord::Nuc)),
            o => Err(format!(
                "{} ord '{o}': must be 'fro' or 'nuc' (or a number)",
                c.node.op_name()
            )),
        },
        v => v
            .as_f64()
            .map(|x| Some(Ord::Num(x)))
            .ok_or_else(|| format!("{} ord must be a number or a string", c.node.op_name())),
    }
}

/// The matrix norm of `x` (rank `r`) over dims d0, d1 (normalised), as ATen computes it.
#[allow(clippy::too_many_arguments)]
fn matrix_norm_of(
    c: &mut Ctx,
    x: Port,
    r: usize,
    ord: Ord,
    d0: i64,
    d1: i64,
    keep: bool,
    dt: DType,
) -> Result<Port, String> {
    let spectral = |c: &mut Ctx, ty: &str| -> Result<Port, String> {
        // svdvals of x with d0, d1 moved last, reduced over the values.
        let mut perm: Vec<i64> = (0..r as i64).filter(|&d| d != d0 && d != d1).collect();
        perm.extend([d0, d1]);
        let xt = if perm.iter().enumerate().all(|(i, &p)| i as i64 == p) {
            x
        } else {
            c.transpose_const(x, &perm, dt)?
        };
        let s = svd_op(c, xt, false, false, dt)?[0];
        let y = c.reduce_axes(ty, s, &[-1], false, dt)?;
        if !keep {
            return Ok(y);
        }
        let mut axes = vec![d0, d1];
        axes.sort();
        unsqueeze(c, y, axes, dt)
    };
    match ord {
        Ord::Fro => {
            let sq = c.bin("Mul", x, x, dt)?;
            let s = c.reduce_axes("ReduceSum", sq, &[d0, d1], keep, dt)?;
            c.un("Sqrt", s, dt)
        }
        Ord::Nuc => spectral(c, "ReduceSum"),
        Ord::Num(2.0) => spectral(c, "ReduceMax"),
        Ord::Num(-2.0) => spectral(c, "ReduceMin"),
        Ord::Num(p) if p.abs() == 1.0 || p.is_infinite() => {
            let (mut a, mut b) = (d0, d1);
            if p.is_infinite() {
                std::mem::swap(&mut a, &mut b);
            }
            if !keep && a < b {
                b -= 1;
            }
            let ab = c.un("Abs", x, dt)?;
            let s = c.reduce_axes("ReduceSum", ab, &[a], keep, dt)?;
            let ty = if p > 0.0 { "ReduceMax" } else { "ReduceMin" };
            c.reduce_axes(ty, s, &[b], keep, dt)
        }
        Ord::Num(p) => Err(format!(
            "{} ord={p}: a matrix norm takes ord ±1, ±2, ±inf, 'fro' or 'nuc'",
            c.node.op_name()
        )),
    }
}

fn norm_dtype(c: &Ctx) -> Result<DType, String> {
    let out = c.out_dtype(0)?;
    if !matches!(out, DType::F32 | DType::F64) {
        return Err(format!(
            "{} of {} values: FLOAT or DOUBLE only",
            c.node.op_name(),
            out.name()
        ));
    }
    Ok(out)
}

fn matrix_norm(c: &mut Ctx) -> RuleResult {
    let out = norm_dtype(c)?;
    let r = c.rank("self")?;
    let dims = c.ints("dim")?;
    let ord = ord_arg(c, "ord")?.unwrap_or(Ord::Fro);
    let keep = c.bool("keepdim")?;
    let [d0, d1] = dims[..] else {
        return Err(format!("linalg_matrix_norm needs 2 dims, got {dims:?}"));
    };
    let (d0, d1) = (Ctx::dim(d0, r as i64), Ctx::dim(d1, r as i64));
    if r < 2 || d0 == d1 || d0 >= r as i64 || d1 >= r as i64 {
        return Err(format!(
            "linalg_matrix_norm over dims {dims:?} of a {r}-D tensor: two different dims"
        ));
    }
    let x = c.tensor_as("self", out)?;
    Ok(vec![matrix_norm_of(c, x, r, ord, d0, d1, keep, out)?])
}

fn linalg_norm(c: &mut Ctx) -> RuleResult {
    let r = c.rank("self")?;
    let ord = ord_arg(c, "ord")?;
    let dims = if c.has("dim") {
        Some(c.ints("dim")?)
    } else {
        None
    };
    let matrix = ord.is_some()
        && match &dims {
            Some(d) => d.len() == 2,
            None => r == 2,
        };
    if !matrix {
        if matches!(ord, Some(Ord::Fro | Ord::Nuc)) {
            return Err("linalg_norm with a string ord needs a matrix (2 dims)".into());
        }
        return super::reduction::lp_norm(c, "ord");
    }
    let out = norm_dtype(c)?;
    let d = dims.unwrap_or(vec![0, 1]);
    let (d0, d1) = (Ctx::dim(d[0], r as i64), Ctx::dim(d[1], r as i64));
    let keep = c.bool("keepdim")?;
    let x = c.tensor_as("self", out)?;
    let ord = ord.expect("a matrix norm has an ord");
    Ok(vec![matrix_norm_of(c, x, r, ord, d0, d1, keep, out)?])
}

fn cond(c: &mut Ctx) -> RuleResult {
    let (x, s, dt) = matrix(c, "self", false)?;
    let out = c.out_dtype(0)?;
    if s.contains(&0) {
        let o = c.out_shape(0)?;
        return Ok(vec![zeros(c, &o, out)?]);
    }
    let ord = if c.has("p") {
        ord_arg(c, "p")?.unwrap_or(Ord::Num(2.0))
    } else {
        Ord::Num(2.0)
    };
    let r = s.len();
    if let Ord::Num(p) = ord {
        if p.abs() == 2.0 {
            let sv = svd_op(c, x, false, false, dt)?[0];
            let k = s[r - 1].min(s[r - 2]);
            let first = c.slice_axis(sv, r as i64 - 2, 0, 1, dt)?;
            let last = c.slice_axis(sv, r as i64 - 2, k - 1, k, dt)?;
            let y = if p < 0.0 {
                c.bin("Div", last, first, dt)?
            } else {
                c.bin("Div", first, last, dt)?
            };
            let y = squeeze(c, y, vec![r as i64 - 2], dt)?;
            return Ok(vec![c.cast(y, out)?]);
        }
    }
    if s[r - 1] != s[r - 2] {
        return Err(format!(
            "linalg_cond with this p needs square matrices, got {s:?}"
        ));
    }
    // A singular matrix stops GE's MatrixInverse at run time (ATen's answer is inf).
    let inv = c.op1("MatrixInverse", vec![In::P(x)], vec![], dt)?;
    let (d0, d1) = (r as i64 - 2, r as i64 - 1);
    let a = matrix_norm_of(c, x, r, ord, d0, d1, false, dt)?;
    let b = matrix_norm_of(c, inv, r, ord, d0, d1, false, dt)?;
    let y = c.bin("Mul", a, b, dt)?;
    Ok(vec![c.cast(y, out)?])
}

fn vander(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let mut s = c.in_shape("x")?;
    let mut x = c.tensor_as("x", out)?;
    if s.is_empty() {
        x = unsqueeze(c, x, vec![0], out)?;
        s.push(1);
    }
    let oshape = c.out_shape(0)?;
    let n = *oshape.last().expect("vander's result is at least 2-D");
    if n <= 1 {
        return Err(format!("linalg_vander N={n}: N must be greater than 1"));
    }
    let r = s.len();
    let xu = unsqueeze(c, x, vec![r as i64], out)?;
    let mut from = s.clone();
    from.push(1);
    let mut to = s.clone();
    to.push(n - 1);
    let xb = bcast(c, xu, &from, &to, out)?;
    let axis = c.scalar_i64(r as i64)?;
    let pw = c.op1("Cumprod", vec![In::P(xb), In::P(axis)], vec![], out)?;
    let ones = Tensor::ones(&from[..], (out.kind(), tch::Device::Cpu));
    let ones = konst(c, &ones, "ones")?;
    let ax = c.scalar_i64(r as i64)?;
    Ok(vec![c.op1(
        "ConcatV2",
        vec![In::Dyn(vec![ones, pw]), In::P(ax)],
        vec![("N", attr::int(2))],
        out,
    )?])
}

fn tensorinv(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let dt = work(c, out)?;
    let s = c.in_shape("self")?;
    let ind = c.int("ind")?;
    if ind <= 0 || ind as usize > s.len() {
        return Err(format!(
            "linalg_tensorinv ind={ind}: must be in 1..={} for {s:?}",
            s.len()
        ));
    }
    let (a, b) = s.split_at(ind as usize);
    let (p, q): (i64, i64) = (a.iter().product(), b.iter().product());
    if p != q {
        return Err(format!(
            "linalg_tensorinv of {s:?} with ind={ind}: the products {p} and {q} must agree"
        ));
    }
    let x = c.tensor_as("self", dt)?;
    let m = c.reshape_const(x, &[p, q], dt)?;
    let inv = c.op1("MatrixInverse", vec![In::P(m)], vec![], dt)?;
    let shape: Vec<i64> = b.iter().chain(a).copied().collect();
    let y = c.reshape_const(inv, &shape, dt)?;
    Ok(vec![c.cast(y, out)?])
}

fn tensorsolve(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let dt = work(c, out)?;
    let sa = c.in_shape("self")?;
    let sb = c.in_shape("other")?;
    let ra = sa.len() as i64;
    let mut a = c.tensor_as("self", dt)?;
    let mut shape = sa.clone();
    if c.has("dims") {
        let dims: Vec<i64> = c.ints("dims")?.iter().map(|&d| Ctx::dim(d, ra)).collect();
        if dims.iter().any(|&d| d < 0 || d >= ra) {
            return Err(format!(
                "linalg_tensorsolve dims {dims:?} out of range for {sa:?}"
            ));
        }
        let mut perm: Vec<i64> = (0..ra).filter(|d| !dims.contains(d)).collect();
        perm.extend(&dims);
        if perm.iter().enumerate().any(|(i, &p)| i as i64 != p) {
            a = c.transpose_const(a, &perm, dt)?;
        }
        shape = perm.iter().map(|&p| sa[p as usize]).collect();
    }
    if sb.len() > shape.len() {
        return Err(format!(
            "linalg_tensorsolve: other {sb:?} has more dims than self {sa:?}"
        ));
    }
    let rest = &shape[sb.len()..];
    let (p, q): (i64, i64) = (sb.iter().product(), rest.iter().product());
    if p * q != shape.iter().product::<i64>() || p != q {
        return Err(format!(
            "linalg_tensorsolve of {sa:?} and {sb:?}: the system must be square ({p} equations, {q} unknowns)"
        ));
    }
    let m = c.reshape_const(a, &[p, q], dt)?;
    let b = c.tensor_as("other", dt)?;
    let b = c.reshape_const(b, &[p, 1], dt)?;
    let x = c.op1(
        "MatrixSolve",
        vec![In::P(m), In::P(b)],
        vec![("adjoint", attr::boolean(false))],
        dt,
    )?;
    let y = c.reshape_const(x, rest, dt)?;
    Ok(vec![c.cast(y, out)?])
}
