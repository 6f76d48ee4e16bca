//! Neural-network ops: matrix products, normalization, softmax, embedding, dropout.
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::Port;

pub fn register(r: &mut Rules) {
    r.add(
        "aten::_softmax_backward_data",
        softmax_backward,
        "Mul(output, Sub(grad_output, ReduceSum(Mul(grad_output, output), K64([dim]); keep_dims)))",
    );
    r.add(
        "aten::native_dropout_backward",
        dropout_backward,
        "Mul(Mul(grad_output, Cast(mask)), Kt(scale))",
    );
    r.add(
        "aten::bilinear",
        bilinear,
        "Reshape(x1, [-1, I]) → MatMulV2(·, K-shaped Reshape(Transpose(weight, [1, 0, 2]), [I, O·J])) → Reshape([-1, O, J]) → Mul(Unsqueeze(Reshape(x2, [-1, J]), 1)) → ReduceSum(axis 2) [→ Add(bias)] → Reshape(lead.., O)",
    );
    r.add(
        "aten::glu",
        glu,
        "Mul(x[..n/2] along dim, Sigmoid(x[n/2..])) (StridedSliceV2 halves)",
    );
    r.add(
        "aten::cosine_similarity",
        cosine_similarity,
        "ReduceSum(Mul(RealDiv(x1, LpNormV2(x1; p=2, axes=[dim], keepdim, epsilon=eps)), RealDiv(x2, LpNormV2(x2; …))), K64([dim])), as ATen computes it",
    );
    r.add(
        "aten::_weight_norm",
        weight_norm,
        "v · RealDiv(g, Sqrt(ReduceSum(Mul(v, v), K64(every axis but dim); keep_dims))) (nn.utils.weight_norm)",
    );
    r.add(
        "aten::linear",
        linear,
        "2-D: MatMulV2(x, w, bias; transpose_x2); N-D: BatchMatMulV2(x, w, bias; adj_x2)",
    );
    r.add(
        "aten::matmul",
        matmul,
        "MatMulV2 (2-D) / BatchMatMulV2 (N-D), 1-D operands via Unsqueeze/Squeeze",
    );
    r.add("aten::mm", mm, "MatMulV2");
    r.add("aten::bmm", bmm, "BatchMatMulV2");
    r.add(
        "aten::addmm",
        addmm,
        "MatMulV2(mat1, mat2, bias=self) [Mul alpha/beta]",
    );
    r.add(
        "aten::layer_norm",
        layer_norm,
        "LayerNormV4(x, K64(normalized_shape), gamma?, beta?; epsilon) output 0 (TorchAir's lowering)",
    );
    r.add(
        "aten::_safe_softmax",
        safe_softmax,
        "SelectV2(Equal(ReduceMax(x, [dim], keep), K(-inf)), K(0), SoftmaxV2(x, axes=[dim])) (rows all -inf give 0)",
    );
    r.add(
        "aten::softmax",
        |c| softmax(c, "SoftmaxV2", "x"),
        "[Cast out] → SoftmaxV2(axes=[dim])",
    );
    r.add(
        "aten::_softmax",
        |c| softmax(c, "SoftmaxV2", "x"),
        "SoftmaxV2(axes=[dim])",
    );
    r.add(
        "aten::log_softmax",
        |c| softmax(c, "LogSoftmaxV2", "logits"),
        "[Cast out] → LogSoftmaxV2(axes=[dim])",
    );
    r.add(
        "aten::_log_softmax",
        |c| softmax(c, "LogSoftmaxV2", "logits"),
        "LogSoftmaxV2(axes=[dim])",
    );
    r.add(
        "aten::embedding",
        embedding,
        "GatherV2(weight, indices, axis=K64(0))",
    );
    const DROPOUT: &str =
        "nothing (inference, or p=0); training with p=1: Mul(x, K(0)); other training p: refused (random)";
    r.add("aten::dropout", dropout, DROPOUT);
    r.add("aten::feature_dropout", dropout, DROPOUT);
    const ALPHA: &str = "nothing (inference, or p=0); training: refused (random)";
    r.add("aten::alpha_dropout", alpha_dropout, ALPHA);
    r.add("aten::feature_alpha_dropout", alpha_dropout, ALPHA);
}

/// `dropout`/`feature_dropout` (dropout1d/2d/3d): the identity in eval mode. In training mode
/// p=1 drops everything (ATen multiplies by zero, so NaN stays NaN); any other p draws random
/// masks, which a deterministic graph cannot reproduce.
fn dropout(c: &mut Ctx) -> RuleResult {
    let (train, p) = (c.bool("train")?, c.float("p")?);
    if !train || p == 0.0 {
        return passthrough(c);
    }
    if p == 1.0 {
        let out = c.out_dtype(0)?;
        let x = c.tensor_as("input", out)?;
        let zero = c.scalar(0.0, out)?;
        return Ok(vec![c.op1(
            "Mul",
            vec![In::P(x), In::P(zero)],
            vec![],
            out,
        )?]);
    }
    Err(format!(
        "dropout with p={p} in training mode draws random masks, which an exported graph cannot reproduce; \
         fix: call model.eval() (or pass training=False) before torch.jit.trace/script"
    ))
}

fn alpha_dropout(c: &mut Ctx) -> RuleResult {
    let (train, p) = (c.bool("train")?, c.float("p")?);
    if !train || p == 0.0 {
        return passthrough(c);
    }
    Err(format!(
        "{} with p={p} in training mode draws random masks, which an exported graph cannot reproduce; \
         fix: call model.eval() (or pass training=False) before torch.jit.trace/script",
        c.node.op_name()
    ))
}

/// Ops that are the identity in an inference graph.
pub fn passthrough(c: &mut Ctx) -> RuleResult {
    let name = if c.has("input") { "input" } else { "self" };
    Ok(vec![c.tensor(name)?])
}

/// How a matrix product reads its operands.
#[derive(Clone, Copy, Default)]
struct Mm {
    /// Transpose the first / second operand's last two dims.
    ta: bool,
    tb: bool,
    /// BatchMatMulV2 (N-D, broadcasting) rather than MatMulV2 (2-D).
    batched: bool,
}

const MM: Mm = Mm {
    ta: false,
    tb: false,
    batched: false,
};
const MM_TB: Mm = Mm {
    ta: false,
    tb: true,
    batched: false,
};

fn matmul_op(
    c: &mut Ctx,
    a: Port,
    b: Port,
    bias: Option<Port>,
    mm: Mm,
    out: DType,
) -> Result<Port, String> {
    let bias = bias.map(In::P).unwrap_or(In::Unfed);
    if mm.batched {
        c.op1(
            "BatchMatMulV2",
            vec![In::P(a), In::P(b), bias],
            vec![
                ("adj_x1", attr::boolean(mm.ta)),
                ("adj_x2", attr::boolean(mm.tb)),
            ],
            out,
        )
    } else {
        c.op1(
            "MatMulV2",
            vec![In::P(a), In::P(b), bias],
            vec![
                ("transpose_x1", attr::boolean(mm.ta)),
                ("transpose_x2", attr::boolean(mm.tb)),
            ],
            out,
        )
    }
}

fn unsqueeze(c: &mut Ctx, p: Port, axis: i64, dt: DType) -> Result<Port, String> {
    c.op1(
        "Unsqueeze",
        vec![In::P(p)],
        vec![("axes", attr::list_int(vec![axis]))],
        dt,
    )
}

fn squeeze(c: &mut Ctx, p: Port, axis: i64, dt: DType) -> Result<Port, String> {
    c.op1(
        "Squeeze",
        vec![In::P(p)],
        vec![("axis", attr::list_int(vec![axis]))],
        dt,
    )
}

fn linear(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("input")?;
    let x = c.tensor_as("input", out)?;
    let w = c.tensor_as("weight", out)?;
    let bias = if c.has("bias") {
        Some(c.tensor_as("bias", out)?)
    } else {
        None
    };
    Ok(vec![match rank {
        1 => {
            let x2 = unsqueeze(c, x, 0, out)?;
            let y = matmul_op(c, x2, w, bias, MM_TB, out)?;
            squeeze(c, y, 0, out)?
        }
        2 => matmul_op(c, x, w, bias, MM_TB, out)?,
        _ => matmul_op(
            c,
            x,
            w,
            bias,
            Mm {
                batched: true,
                ..MM_TB
            },
            out,
        )?,
    }])
}

fn matmul(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let (ra, rb) = (c.rank("self")?, c.rank("other")?);
    let a = c.tensor_as("self", out)?;
    let b = c.tensor_as("other", out)?;
    if ra == 1 && rb == 1 {
        let m = c.op1("Mul", vec![In::P(a), In::P(b)], vec![], out)?;
        let axes = c.const_i64(&[0])?;
        return Ok(vec![c.op1(
            "ReduceSum",
            vec![In::P(m), In::P(axes)],
            vec![("keep_dims", attr::boolean(false))],
            out,
        )?]);
    }
    let a2 = if ra == 1 { unsqueeze(c, a, 0, out)? } else { a };
    let b2 = if rb == 1 { unsqueeze(c, b, 1, out)? } else { b };
    let batched = ra > 2 || rb > 2;
    let mut y = matmul_op(c, a2, b2, None, Mm { batched, ..MM }, out)?;
    if rb == 1 {
        y = squeeze(c, y, -1, out)?;
    }
    if ra == 1 {
        y = squeeze(c, y, if rb == 1 { -1 } else { -2 }, out)?;
    }
    Ok(vec![y])
}

fn mm(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let a = c.tensor_as("self", out)?;
    let b = c.tensor_as("mat2", out)?;
    Ok(vec![matmul_op(c, a, b, None, MM, out)?])
}

fn bmm(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let a = c.tensor_as("self", out)?;
    let b = c.tensor_as("mat2", out)?;
    Ok(vec![matmul_op(
        c,
        a,
        b,
        None,
        Mm {
            batched: true,
            ..MM
        },
        out,
    )?])
}

fn addmm(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let (alpha, beta) = (c.float("alpha")?, c.float("beta")?);
    let mut a = c.tensor_as("mat1", out)?;
    let b = c.tensor_as("mat2", out)?;
    let mut bias = c.tensor_as("self", out)?;
    if alpha != 1.0 {
        let k = c.scalar(alpha, out)?;
        a = c.op1("Mul", vec![In::P(a), In::P(k)], vec![], out)?;
    }
    if beta == 0.0 {
        return Ok(vec![matmul_op(c, a, b, None, MM, out)?]);
    }
    if beta != 1.0 {
        let k = c.scalar(beta, out)?;
        bias = c.op1("Mul", vec![In::P(bias), In::P(k)], vec![], out)?;
    }
    // MatMulV2's bias input is 1-D; any other bias shape is added after the product.
    if c.rank("self")? == 1 {
        Ok(vec![matmul_op(c, a, b, Some(bias), MM, out)?])
    } else {
        let y = matmul_op(c, a, b, None, MM, out)?;
        Ok(vec![c.op1(
            "Add",
            vec![In::P(y), In::P(bias)],
            vec![],
            out,
        )?])
    }
}

fn layer_norm(c: &mut Ctx) -> RuleResult {
    Ok(vec![layer_norm_v4(c)?[0]])
}

/// `LayerNormV4(x, K64(normalized_shape), gamma?, beta?; epsilon)`: y, mean and rstd (the last two
/// with the normalized dims kept as 1s, as `native_layer_norm` returns them).
pub(super) fn layer_norm_v4(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let ns = c.ints("normalized_shape")?;
    let eps = c.float("eps")?;
    let x = c.tensor_as("input", out)?;
    let shape = c.const_i64(&ns)?;
    // As TorchAir lowers native_layer_norm: LayerNormV4, gamma and beta left unfed when absent.
    let gamma = if c.has("weight") {
        In::P(c.tensor_as("weight", out)?)
    } else {
        In::Unfed
    };
    let beta = if c.has("bias") {
        In::P(c.tensor_as("bias", out)?)
    } else {
        In::Unfed
    };
    c.op(
        "LayerNormV4",
        vec![In::P(x), In::P(shape), gamma, beta],
        vec![("epsilon", attr::float(eps as f32))],
        &[Some(out), Some(out), Some(out)],
    )
}

fn softmax(c: &mut Ctx, ty: &str, _input: &str) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor_as("self", out)?;
    let dim = c.int("dim")?;
    Ok(vec![c.op1(
        ty,
        vec![In::P(x)],
        vec![("axes", attr::list_int(vec![dim]))],
        out,
    )?])
}

/// `_safe_softmax`: softmax, except that a row whose every element is -inf gives 0s (not NaN).
fn safe_softmax(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let y = softmax(c, "SoftmaxV2", "x")?[0];
    let x = c.tensor_as("self", out)?;
    let dim = c.int("dim")?;
    let axes = c.const_i64(&[dim])?;
    let m = c.op1(
        "ReduceMax",
        vec![In::P(x), In::P(axes)],
        vec![("keep_dims", attr::boolean(true))],
        out,
    )?;
    let ninf = c.scalar(f64::NEG_INFINITY, out)?;
    let all_ninf = c.op1("Equal", vec![In::P(m), In::P(ninf)], vec![], DType::Bool)?;
    let zero = c.scalar(0.0, out)?;
    Ok(vec![super::compare::select(c, all_ninf, zero, y, out)?])
}

fn embedding(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = c.tensor("weight")?;
    let idx = c.tensor("indices")?;
    let axis = c.scalar_i64(0)?;
    Ok(vec![c.op1(
        "GatherV2",
        vec![In::P(w), In::P(idx), In::P(axis)],
        vec![],
        out,
    )?])
}

/// `_weight_norm(v, g, dim)`: `v * (g / ||v||)`, the 2-norm over every axis but `dim` (all axes
/// for dim -1).
fn weight_norm(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let rank = c.rank("v")? as i64;
    let dim = c.int("dim")?;
    let axes: Vec<i64> = if dim == -1 {
        (0..rank).collect()
    } else {
        let d = Ctx::dim(dim, rank);
        (0..rank).filter(|a| *a != d).collect()
    };
    let v = c.tensor_as("v", out)?;
    let g = c.tensor_as("g", out)?;
    let sq = c.op1("Mul", vec![In::P(v), In::P(v)], vec![], out)?;
    let ax = c.const_i64(&axes)?;
    let sum = c.op1(
        "ReduceSum",
        vec![In::P(sq), In::P(ax)],
        vec![("keep_dims", attr::boolean(true))],
        out,
    )?;
    let norm = c.op1("Sqrt", vec![In::P(sum)], vec![], out)?;
    let scale = c.op1("RealDiv", vec![In::P(g), In::P(norm)], vec![], out)?;
    Ok(vec![c.op1(
        "Mul",
        vec![In::P(v), In::P(scale)],
        vec![],
        out,
    )?])
}

fn glu(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_desc_shape("self")?;
    let dim = Ctx::dim(c.int("dim")?, shape.len() as i64);
    let n = shape[dim as usize];
    if n < 0 || n % 2 != 0 {
        return Err(format!(
            "glu halves dim {dim}, which must be static and even (it is {n})"
        ));
    }
    let x = c.tensor_as("self", out)?;
    let a = c.slice_axis(x, dim, 0, n / 2, out)?;
    let b = c.slice_axis(x, dim, n / 2, n, out)?;
    let gate = c.op1("Sigmoid", vec![In::P(b)], vec![], out)?;
    Ok(vec![c.op1(
        "Mul",
        vec![In::P(a), In::P(gate)],
        vec![],
        out,
    )?])
}

fn cosine_similarity(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err(format!("cosine_similarity of {} values", out.name()));
    }
    let rank = c.rank("x1")?.max(c.rank("x2")?) as i64;
    let dim = Ctx::dim(c.int("dim")?, rank);
    let eps = c.float("eps")?;
    let mut unit = vec![];
    for name in ["x1", "x2"] {
        let x = c.tensor_as(name, out)?;
        let norm = c.op1(
            "LpNormV2",
            vec![In::P(x)],
            vec![
                ("p", attr::float(2.0)),
                ("axes", attr::list_int(vec![dim])),
                ("keepdim", attr::boolean(true)),
                ("epsilon", attr::float(eps as f32)),
            ],
            out,
        )?;
        unit.push(c.op1("RealDiv", vec![In::P(x), In::P(norm)], vec![], out)?);
    }
    let prod = c.op1("Mul", vec![In::P(unit[0]), In::P(unit[1])], vec![], out)?;
    let axes = c.const_i64(&[dim])?;
    Ok(vec![c.op1(
        "ReduceSum",
        vec![In::P(prod), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        out,
    )?])
}

/// Softmax's gradient: y · (g − Σ_dim g·y).
fn softmax_backward(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let g = c.tensor_as("grad_output", out)?;
    let y = c.tensor_as("output", out)?;
    let rank = c.rank("output")? as i64;
    let dim = Ctx::dim(c.int("dim")?, rank);
    let gy = c.bin("Mul", g, y, out)?;
    let axes = c.const_i64(&[dim])?;
    let s = c.op1(
        "ReduceSum",
        vec![In::P(gy), In::P(axes)],
        vec![("keep_dims", attr::boolean(true))],
        out,
    )?;
    let d = c.bin("Sub", g, s, out)?;
    Ok(vec![c.bin("Mul", y, d, out)?])
}

fn dropout_backward(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let g = c.tensor_as("grad_output", out)?;
    let m = c.tensor_as("mask", out)?;
    let scale = c.float("scale")?;
    let y = c.bin("Mul", g, m, out)?;
    let k = c.scalar(scale, out)?;
    Ok(vec![c.bin("Mul", y, k, out)?])
}

/// `y[.., o] = Σ_ij x1[.., i] · W[o, i, j] · x2[.., j] + b[o]`.
fn bilinear(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w_shape = c.in_shape("weight")?;
    let [o, i, j] = w_shape[..] else {
        return Err(format!("bilinear weight must be 3-D, got {w_shape:?}"));
    };
    let dims = c.sym_dims("input1")?;
    let lead = &dims[..dims.len().saturating_sub(1)];
    let x1 = c.tensor_as("input1", out)?;
    let x1 = c.reshape_const(x1, &[-1, i], out)?;
    let x2 = c.tensor_as("input2", out)?;
    let x2 = c.reshape_const(x2, &[-1, 1, j], out)?;
    let w = c.tensor_as("weight", out)?;
    let w = c.transpose_const(w, &[1, 0, 2], out)?;
    let w = c.reshape_const(w, &[i, o * j], out)?;
    let t = c.op1(
        "MatMulV2",
        vec![In::P(x1), In::P(w), In::Unfed],
        vec![
            ("transpose_x1", attr::boolean(false)),
            ("transpose_x2", attr::boolean(false)),
        ],
        out,
    )?;
    let t = c.reshape_const(t, &[-1, o, j], out)?;
    let t = c.bin("Mul", t, x2, out)?;
    let axes = c.const_i64(&[2])?;
    let mut y = c.op1(
        "ReduceSum",
        vec![In::P(t), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        out,
    )?;
    if c.has("bias") {
        let b = c.tensor_as("bias", out)?;
        y = c.bin("Add", y, b, out)?;
    }
    let mut shape: Vec<super::sym::Dim> = lead.to_vec();
    shape.push(super::sym::Dim::K(o));
    Ok(vec![c.reshape_dims(y, &shape, out)?])
}
