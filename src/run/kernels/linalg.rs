//! Matrix decompositions and solves, with GE's (TensorFlow-derived) conventions: every op works
//! on the last two dims of `[..., M, N]` with the batch dims of all operands equal (GE does not
//! broadcast them), in FLOAT or DOUBLE.
//!
//! Where GE's conventions differ from ATen's: `Svd` returns `v` (not `vh`), and with
//! `compute_uv` false its `u` and `v` are empty `[0]` tensors; `Qr`'s `full_matrices` is the
//! opposite of ATen's `some`; `Lu` takes square matrices only and returns the row permutation
//! `p` (`input[p] = L·U`), not LAPACK's sequential pivots; `MatrixTriangularSolve` reads only
//! the triangle it is told (`lower`) and has no unit-diagonal flag. Singular vectors (Svd),
//! eigenvectors (SelfAdjointEig) and Q/R (Qr) are unique only up to signs: these kernels take
//! LAPACK's through libtorch, as ATen does; a device kernel may choose other signs.
use super::{tc, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

type R = Result<Vec<Tensor>, String>;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("Cholesky", cholesky);
    m.insert("MatrixInverse", matrix_inverse);
    m.insert("MatrixDeterminant", matrix_determinant);
    m.insert("LogMatrixDeterminant", log_matrix_determinant);
    m.insert("MatrixSolve", matrix_solve);
    m.insert("MatrixTriangularSolve", matrix_triangular_solve);
    m.insert("Qr", qr);
    m.insert("Svd", svd);
    m.insert("Lu", lu);
    m.insert("SelfAdjointEig", self_adjoint_eig);
}

/// A `[..., M, N]` FLOAT/DOUBLE input; `square` asks M = N.
fn matrix<'a>(c: &'a KCtx, name: &str, square: bool) -> Result<&'a Tensor, String> {
    let x = c.input(name)?;
    if !matches!(x.kind(), Kind::Float | Kind::Double) {
        return Err(format!(
            "'{name}' must be FLOAT or DOUBLE, got {:?}",
            x.kind()
        ));
    }
    let s = x.size();
    if s.len() < 2 || (square && s[s.len() - 1] != s[s.len() - 2]) {
        return Err(format!(
            "'{name}' must be {} matrices [..., M, {}], got {s:?}",
            if square { "square" } else { "" },
            if square { "M" } else { "N" }
        ));
    }
    Ok(x)
}

/// The adjoint (conjugate transpose; transpose for real inputs) of the last two dims.
fn adj(x: &Tensor) -> Tensor {
    x.transpose(-2, -1)
}

/// The batch dims of `a` and `b` must agree, and so must their inner sizes.
fn same_batch(a: &Tensor, b: &Tensor) -> Result<(), String> {
    let (sa, sb) = (a.size(), b.size());
    if sa.len() != sb.len() || sa[..sa.len() - 2] != sb[..sb.len() - 2] {
        return Err(format!(
            "matrix {sa:?} and rhs {sb:?} must have the same batch dims"
        ));
    }
    if sa[sa.len() - 2] != sb[sb.len() - 2] {
        return Err(format!("matrix {sa:?} and rhs {sb:?}: the rows must agree"));
    }
    if a.kind() != b.kind() {
        return Err(format!(
            "matrix and rhs dtypes differ: {:?} and {:?}",
            a.kind(),
            b.kind()
        ));
    }
    Ok(())
}

/// Cholesky: the lower factor L of a symmetric positive-definite matrix (A = L·Lᵀ); only the
/// lower triangle of the input is read. An input that is not positive-definite is an error.
fn cholesky(c: &KCtx) -> R {
    let x = matrix(c, "x", true)?;
    let (l, info) = tc(x.f_linalg_cholesky_ex(false, false))?;
    if info.numel() > 0 && tc(info.f_ne(0))?.any().int64_value(&[]) != 0 {
        return Err("Cholesky: the input is not positive-definite".into());
    }
    Ok(vec![l])
}

/// MatrixInverse: the inverse (of the adjoint when `adjoint`); a singular input is an error.
fn matrix_inverse(c: &KCtx) -> R {
    let x = matrix(c, "x", true)?;
    let x = if c.bool("adjoint")? {
        adj(x)
    } else {
        x.shallow_clone()
    };
    let (y, info) = tc(Tensor::f_linalg_inv_ex(&x, false))?;
    if info.numel() > 0 && tc(info.f_ne(0))?.any().int64_value(&[]) != 0 {
        return Err("MatrixInverse: the input is not invertible".into());
    }
    Ok(vec![y])
}

fn matrix_determinant(c: &KCtx) -> R {
    let x = matrix(c, "x", true)?;
    Ok(vec![tc(Tensor::f_linalg_det(x))?])
}

/// LogMatrixDeterminant: the sign (-1, 0, 1) and the log of the absolute value of the
/// determinant (−inf for a singular matrix).
fn log_matrix_determinant(c: &KCtx) -> R {
    let x = matrix(c, "x", true)?;
    let (sign, y) = tc(Tensor::f_linalg_slogdet(x))?;
    Ok(vec![sign, y])
}

/// MatrixSolve: X with matrix·X = rhs (adjoint(matrix)·X = rhs when `adjoint`).
fn matrix_solve(c: &KCtx) -> R {
    let a = matrix(c, "matrix", true)?;
    let b = matrix(c, "rhs", false)?;
    same_batch(a, b)?;
    let a = if c.bool("adjoint")? {
        adj(a)
    } else {
        a.shallow_clone()
    };
    let (y, info) = tc(Tensor::f_linalg_solve_ex(&a, b, true, false))?;
    if info.numel() > 0 && tc(info.f_ne(0))?.any().int64_value(&[]) != 0 {
        return Err("MatrixSolve: the matrix is not invertible".into());
    }
    Ok(vec![y])
}

/// MatrixTriangularSolve: X with T·X = rhs, T the lower (`lower`) or upper triangle of
/// `matrix` (the other triangle is not read), adjoint(T) when `adjoint`.
fn matrix_triangular_solve(c: &KCtx) -> R {
    let a = matrix(c, "matrix", true)?;
    let b = matrix(c, "rhs", false)?;
    same_batch(a, b)?;
    let lower = c.bool("lower")?;
    let (a, upper) = if c.bool("adjoint")? {
        (adj(a), lower)
    } else {
        (a.shallow_clone(), !lower)
    };
    Ok(vec![
        tc(a.f_linalg_solve_triangular(b, upper, true, false))?,
    ])
}

/// Qr: Q and R of x = Q·R; `full_matrices` gives Q [M, M] and R [M, N], else Q [M, K] and
/// R [K, N] with K = min(M, N).
fn qr(c: &KCtx) -> R {
    let x = matrix(c, "x", false)?;
    let mode = if c.bool("full_matrices")? {
        "complete"
    } else {
        "reduced"
    };
    let (q, r) = tc(Tensor::f_linalg_qr(x, mode))?;
    Ok(vec![q, r])
}

/// Svd: the singular values (descending), then u and v with x = u·diag(sigma)·vᵀ (v, not
/// vᵀ); `full_matrices` gives square u and v. Without `compute_uv`, u and v are empty [0].
fn svd(c: &KCtx) -> R {
    let x = matrix(c, "x", false)?;
    if !c.bool("compute_uv")? {
        let (_, s, _) = tc(x.f_svd(true, false))?;
        let empty = Tensor::zeros([0], (x.kind(), x.device()));
        return Ok(vec![s, empty.shallow_clone(), empty]);
    }
    // libtorch's svd returns V itself, as GE does.
    let (u, s, v) = tc(x.f_svd(!c.bool("full_matrices")?, true))?;
    Ok(vec![s, u, v])
}

/// Lu: the LU factorisation with partial pivoting of square matrices, L (unit diagonal, not
/// stored) and U packed in one matrix, and the row permutation p with input[p] = L·U, of
/// `output_idx_type` (INT32 or INT64).
fn lu(c: &KCtx) -> R {
    let x = matrix(c, "input", true)?;
    let t = c.int("output_idx_type")?;
    let kind = match crate::dtype::DType::from_ge_cpp(t) {
        Some(d @ (crate::dtype::DType::I32 | crate::dtype::DType::I64)) => d.kind(),
        _ => return Err(format!("output_idx_type {t}: must be INT32 or INT64")),
    };
    let (lu, piv, _) = tc(Tensor::f_linalg_lu_factor_ex(x, true, false))?;
    // LAPACK's pivots (row i swapped with row piv[i] - 1, in order) as a permutation.
    let s = x.size();
    let m = s[s.len() - 1];
    let batch: i64 = s[..s.len() - 2].iter().product();
    let piv =
        Vec::<i64>::try_from(piv.to_kind(Kind::Int64).flatten(0, -1)).map_err(|e| e.to_string())?;
    let mut perm = Vec::with_capacity((batch * m) as usize);
    for b in 0..batch as usize {
        let mut p: Vec<i64> = (0..m).collect();
        for i in 0..m as usize {
            let j = (piv[b * m as usize + i] - 1) as usize;
            p.swap(i, j);
        }
        perm.extend(p);
    }
    let perm = Tensor::from_slice(&perm)
        .reshape(&s[..s.len() - 1])
        .to_kind(kind);
    Ok(vec![lu, perm])
}

/// SelfAdjointEig: the eigenvalues (ascending) and eigenvectors (columns) of a symmetric
/// matrix, reading its lower triangle; without `compute_v` the eigenvectors are an empty [0].
fn self_adjoint_eig(c: &KCtx) -> R {
    let x = matrix(c, "x", true)?;
    if !c.bool("compute_v")? {
        let w = tc(x.f_linalg_eigvalsh("L"))?;
        return Ok(vec![w, Tensor::zeros([0], (x.kind(), x.device()))]);
    }
    let (w, v) = tc(x.f_linalg_eigh("L"))?;
    Ok(vec![w, v])
}
