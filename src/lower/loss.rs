//! Loss functions (a model that returns its loss, e.g. a Hugging Face model given `labels`).
//! Each fused GE loss op is emitted with `reduction="none"` and the mean or sum is taken by
//! `ReduceMean`/`ReduceSum` over every axis, so the result is 0-D exactly as in PyTorch (GE's
//! reducing forms give shape [1]).
use super::compare::select;
use super::spatial::{squeeze, unsqueeze};
use super::sym::Dim;
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::Port;

pub fn register(r: &mut Rules) {
    r.add(
        "aten::mse_loss",
        |c| pointwise(c, "MseLoss", vec![]),
        "MseLoss(⇑t self, ⇑t target; reduction=\"none\") → [ReduceMean | ReduceSum over all axes] (t: FLOAT, FLOAT16; BF16 via FLOAT)",
    );
    r.add(
        "aten::l1_loss",
        |c| pointwise(c, "LpLoss", vec![("p", attr::int(1))]),
        "LpLoss(⇑t self, ⇑t target; p=1, reduction=\"none\") → [ReduceMean | ReduceSum over all axes]",
    );
    r.add(
        "aten::smooth_l1_loss",
        smooth_l1,
        "SmoothL1LossV2(⇑t self, ⇑t target; sigma=beta, reduction=\"none\") (beta 0: LpLoss p=1) → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::huber_loss",
        huber,
        "Mul(SmoothL1LossV2(⇑t self, ⇑t target; sigma=delta, reduction=\"none\"), Kt(delta)) → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::binary_cross_entropy",
        |c| weighted(c, "BinaryCrossEntropy", &["weight"]),
        "BinaryCrossEntropy(⇑t self, ⇑t target, [BroadcastTo weight]; reduction=\"none\") → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::binary_cross_entropy_with_logits",
        |c| weighted(c, "SigmoidCrossEntropyWithLogitsV2", &["weight", "pos_weight"]),
        "SigmoidCrossEntropyWithLogitsV2(⇑t self, ⇑t target, [BroadcastTo weight], [BroadcastTo pos_weight]; reduction=\"none\") → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::kl_div",
        kl_div,
        "KLDiv(⇑t self, ⇑t target; reduction=\"none\") (log_target: Mul(Exp(target), Sub(target, self))) → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::nll_loss_nd",
        |c| {
            let x = c.tensor("self")?;
            nll(c, x)
        },
        "class-index targets: [Transpose class dim last → Reshape(-1, C)] → NLLLoss(⇑FLOAT x, target, weight; reduction=\"none\", ignore_index) → none: Reshape(target shape); sum: ReduceSum; mean: RealDiv(ReduceSum, ReduceSum(weight of each counted target))",
    );
    r.add(
        "aten::cross_entropy_loss",
        cross_entropy,
        "class-index targets: LogSoftmaxV2(⇑FLOAT self; axes=[class dim]) → the nll_loss_nd lowering; label_smoothing ε: Add(Mul(nll, 1-ε), Mul(smooth, ε/C)), smooth = Neg(ReduceSum(Mul(logp, weight), [class dim])) zeroed by SelectV2 at ignored targets, reduced as the nll; class-probability targets: Neg(ReduceSum(Mul(Mul(logp, target·(1−ε) + ε/C), weight), [class dim])) → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::ctc_loss",
        ctc_loss,
        "CTCLossV2(log_probs, targets, INT64 input_lengths, INT64 target_lengths; blank, reduction=\"none\", zero_infinity) output 0 → mean: ReduceMean(RealDiv(loss, Maximum(target_lengths, 1))) | sum: ReduceSum; 3-D log_probs",
    );
    r.add(
        "aten::multi_margin_loss",
        multi_margin,
        "x_y = GatherElements(x, target, class dim); Pow(Relu(margin − x_y + x), p) [· GatherV2(weight, target)], zeroed at the target class (SelectV2(OneHot)), ReduceSum over classes / C → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::multilabel_margin_loss",
        multilabel_margin,
        "valid = Cumprod(target ≠ −1); is_target = ReduceAny(Equal(target[j], K(arange C)) ∧ valid[j], j); Relu(1 − x_y[j] + x[i]) masked by valid[j] ∧ ¬is_target[i], ReduceSum over (j, i) / C → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::triplet_margin_loss",
        triplet_margin,
        "d(a, b) = (ReduceSum(|a − b + eps|ᵖ, last))^(1/p); Relu(d(a, pos) − d(a, neg) [swap: Minimum with d(pos, neg)] + margin) → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::poisson_nll_loss",
        poisson_nll,
        "PoissonNllLoss(⇑t input, ⇑t target; log_input, full, eps, reduction=\"none\") → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::soft_margin_loss",
        |c| pointwise(c, "SoftMarginLoss", vec![]),
        "SoftMarginLoss(⇑t self, ⇑t target; reduction=\"none\") → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::margin_ranking_loss",
        margin_ranking,
        "Relu(Add(Mul(Neg(⇑t target), Sub(⇑t input1, ⇑t input2)), Kt(margin))) → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::hinge_embedding_loss",
        hinge_embedding,
        "Add(SelectV2(NotEqual(target, 1), Relu(Sub(Kt(margin), self)), 0), SelectV2(NotEqual(target, -1), self, 0)) → [ReduceMean | ReduceSum]",
    );
    r.add(
        "aten::cosine_embedding_loss",
        cosine_embedding,
        "cos = RealDiv(ReduceSum(Mul(x1, x2)), Sqrt(Mul(ReduceSum(Mul(x1, x1)) + 1e-12, ReduceSum(Mul(x2, x2)) + 1e-12))) over the last dim; Add(SelectV2(Equal(target, 1), Sub(1, cos), 0), SelectV2(Equal(target, -1), Relu(Sub(cos, Kt(margin))), 0)) → [ReduceMean | ReduceSum]",
    );
}

/// The dtype a loss is computed in: GE's loss ops take FLOAT and FLOAT16; BF16 goes through
/// FLOAT (exact); DOUBLE would lose precision and is refused.
fn compute_dtype(c: &Ctx) -> Result<DType, String> {
    match c.out_dtype(0)? {
        DType::F32 | DType::F16 => Ok(c.out_dtype(0)?),
        DType::BF16 => Ok(DType::F32),
        d => Err(format!(
            "GE's loss ops take FLOAT and FLOAT16, not {}; fix: compute the loss in float32",
            d.name()
        )),
    }
}

/// `reduction` (0 none, 1 mean, 2 sum) applied over every axis of `x`, then the output dtype.
fn reduce(c: &mut Ctx, x: Port, rank: usize, t: DType) -> RuleResult {
    let reduction = c.int("reduction")?;
    let y = match reduction {
        0 => x,
        1 | 2 if rank == 0 => x,
        1 | 2 => {
            let axes = c.const_i64(&(0..rank as i64).collect::<Vec<_>>())?;
            let ty = if reduction == 1 {
                "ReduceMean"
            } else {
                "ReduceSum"
            };
            c.op1(
                ty,
                vec![In::P(x), In::P(axes)],
                vec![("keep_dims", attr::boolean(false))],
                t,
            )?
        }
        r => return Err(format!("unknown reduction {r} (0 none, 1 mean, 2 sum)")),
    };
    let out = c.out_dtype(0)?;
    Ok(vec![c.cast(y, out)?])
}

/// Self and target as ports of dtype `t`, which must have one shape (F.* losses broadcast them
/// before calling the op; a direct call with two shapes is refused).
fn operands(c: &mut Ctx, t: DType) -> Result<(Port, Port, usize), String> {
    let (a, b) = (c.tensor_value("self")?, c.tensor_value("target")?);
    if a.tensor.size() != b.tensor.size() {
        return Err(format!(
            "{} of shapes {:?} and {:?}: GE's loss op takes one shape; fix: broadcast them first (torch.broadcast_tensors)",
            c.node.op_name(),
            a.tensor.size(),
            b.tensor.size()
        ));
    }
    let rank = a.tensor.dim();
    Ok((c.tensor_as("self", t)?, c.tensor_as("target", t)?, rank))
}

fn loss_op(
    c: &mut Ctx,
    ty: &str,
    x: Port,
    y: Port,
    mut attrs: Vec<(&'static str, crate::proto::AttrDef)>,
    t: DType,
) -> Result<Port, String> {
    attrs.push(("reduction", attr::string("none")));
    c.op1(ty, vec![In::P(x), In::P(y)], attrs, t)
}

fn pointwise(
    c: &mut Ctx,
    ty: &str,
    attrs: Vec<(&'static str, crate::proto::AttrDef)>,
) -> RuleResult {
    let t = compute_dtype(c)?;
    let (x, y, rank) = operands(c, t)?;
    let l = loss_op(c, ty, x, y, attrs, t)?;
    reduce(c, l, rank, t)
}

fn smooth_l1(c: &mut Ctx) -> RuleResult {
    let beta = c.float("beta")?;
    if beta == 0.0 {
        // PyTorch's beta 0 is the L1 loss; SmoothL1LossV2 would divide by sigma 0.
        return pointwise(c, "LpLoss", vec![("p", attr::int(1))]);
    }
    pointwise(
        c,
        "SmoothL1LossV2",
        vec![("sigma", attr::float(beta as f32))],
    )
}

/// huber(d) = delta · smooth_l1(d; beta = delta).
fn huber(c: &mut Ctx) -> RuleResult {
    let delta = c.float("delta")?;
    if delta <= 0.0 {
        return Err(format!(
            "huber_loss with delta {delta}: delta must be positive"
        ));
    }
    let t = compute_dtype(c)?;
    let (x, y, rank) = operands(c, t)?;
    let l = loss_op(
        c,
        "SmoothL1LossV2",
        x,
        y,
        vec![("sigma", attr::float(delta as f32))],
        t,
    )?;
    let d = c.scalar(delta, t)?;
    let l = c.op1("Mul", vec![In::P(l), In::P(d)], vec![], t)?;
    reduce(c, l, rank, t)
}

/// An optional weight argument cast to `t` and broadcast to the shape of `self`.
fn weight_like_self(c: &mut Ctx, name: &str, t: DType) -> Result<In, String> {
    if !c.has(name) {
        return Ok(In::Unfed);
    }
    let w = c.tensor_as(name, t)?;
    if c.tensor_value(name)?.tensor.size() == c.tensor_value("self")?.tensor.size() {
        return Ok(In::P(w));
    }
    let shape = c.shape_port("self")?;
    Ok(In::P(c.op1(
        "BroadcastTo",
        vec![In::P(w), In::P(shape)],
        vec![],
        t,
    )?))
}

/// A loss op with optional weight inputs after self and target (each broadcast to self).
fn weighted(c: &mut Ctx, ty: &str, weights: &[&str]) -> RuleResult {
    let t = compute_dtype(c)?;
    let (x, y, rank) = operands(c, t)?;
    let mut inputs = vec![In::P(x), In::P(y)];
    for w in weights {
        inputs.push(weight_like_self(c, w, t)?);
    }
    let l = c.op1(ty, inputs, vec![("reduction", attr::string("none"))], t)?;
    reduce(c, l, rank, t)
}

fn kl_div(c: &mut Ctx) -> RuleResult {
    let t = compute_dtype(c)?;
    let (x, y, rank) = operands(c, t)?;
    let l = if c.bool("log_target")? {
        let p = c.op1("Exp", vec![In::P(y)], vec![], t)?;
        let d = c.op1("Sub", vec![In::P(y), In::P(x)], vec![], t)?;
        c.op1("Mul", vec![In::P(p), In::P(d)], vec![], t)?
    } else {
        loss_op(c, "KLDiv", x, y, vec![], t)?
    };
    reduce(c, l, rank, t)
}

fn cross_entropy(c: &mut Ctx) -> RuleResult {
    if c.in_dtype("target")?.is_float() {
        return cross_entropy_probs(c);
    }
    compute_dtype(c)?;
    let f = DType::F32;
    let rank = c.rank("self")?;
    let class_dim = if rank == 1 { 0 } else { 1 };
    let x = c.tensor_as("self", f)?;
    let logp = c.op1(
        "LogSoftmaxV2",
        vec![In::P(x)],
        vec![("axes", attr::list_int(vec![class_dim]))],
        f,
    )?;
    let (loss, flat_target) = nll_f32(c, logp)?;
    let eps = c.float("label_smoothing")?;
    let out = c.out_dtype(0)?;
    if eps == 0.0 {
        return Ok(vec![c.cast(loss, out)?]);
    }
    // Label smoothing: (1 - ε)·nll + ε/C · smooth, smooth_i = -Σ_c weight_c·logp_ic (0 for an
    // ignored target), reduced as the nll is (a mean divides by the counted targets' weight).
    // C: a constant, or from Shape(self) when the class dim is dynamic.
    let classes = c.sym_dims("self")?[class_dim as usize];
    let weighted = if c.has("weight") {
        let w = c.tensor_as("weight", f)?;
        let w = if rank > 2 {
            let axes: Vec<i64> = (1..rank as i64 - 1).collect();
            unsqueeze(c, w, axes, f)?
        } else {
            w
        };
        c.op1("Mul", vec![In::P(logp), In::P(w)], vec![], f)?
    } else {
        logp
    };
    let axes = c.const_i64(&[class_dim])?;
    let sum = c.op1(
        "ReduceSum",
        vec![In::P(weighted), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        f,
    )?;
    let smooth = c.op1("Neg", vec![In::P(sum)], vec![], f)?;
    let target = c.tensor_as("target", DType::I64)?;
    let ig = c.scalar_i64(c.int("ignore_index")?)?;
    let keep = c.op1(
        "NotEqual",
        vec![In::P(target), In::P(ig)],
        vec![],
        DType::Bool,
    )?;
    let zero = c.scalar(0.0, f)?;
    let smooth = select(c, keep, smooth, zero, f)?;
    let target_rank = c.rank("target")?;
    let smooth = match c.int("reduction")? {
        0 => smooth,
        r => {
            let total = if target_rank == 0 {
                smooth
            } else {
                let axes = c.const_i64(&(0..target_rank as i64).collect::<Vec<_>>())?;
                c.op1(
                    "ReduceSum",
                    vec![In::P(smooth), In::P(axes)],
                    vec![("keep_dims", attr::boolean(false))],
                    f,
                )?
            };
            if r == 1 {
                let ig = c.int("ignore_index")?;
                let count = counted_weight(c, flat_target, ig, f)?;
                c.op1("RealDiv", vec![In::P(total), In::P(count)], vec![], f)?
            } else {
                total
            }
        }
    };
    let a = c.scalar(1.0 - eps, f)?;
    let b = match classes {
        Dim::K(k) => c.scalar(eps / k as f64, f)?,
        Dim::P(n) => {
            let n = c.cast(n, f)?;
            let e = c.scalar(eps, f)?;
            c.op1("RealDiv", vec![In::P(e), In::P(n)], vec![], f)?
        }
    };
    let l1 = c.op1("Mul", vec![In::P(loss), In::P(a)], vec![], f)?;
    let l2 = c.op1("Mul", vec![In::P(smooth), In::P(b)], vec![], f)?;
    let y = c.op1("Add", vec![In::P(l1), In::P(l2)], vec![], f)?;
    Ok(vec![c.cast(y, out)?])
}

/// The negative log-likelihood of class-index targets: `x` holds log-probabilities with the
/// class dim at 1 (0 for a single sample).
fn nll(c: &mut Ctx, x: Port) -> RuleResult {
    let (y, _) = nll_f32(c, x)?;
    let out = c.out_dtype(0)?;
    Ok(vec![c.cast(y, out)?])
}

/// The reduced NLL in FLOAT, and the flattened INT64 target it was computed with.
fn nll_f32(c: &mut Ctx, x: Port) -> Result<(Port, Port), String> {
    compute_dtype(c)?;
    if c.in_dtype("target")?.is_float() {
        return Err("nll_loss takes class indices as target (an integer tensor)".into());
    }
    let f = DType::F32;
    let x = c.cast(x, f)?;
    let rank = c.rank("self")?;
    let dims = c.sym_dims("self")?;
    let classes = if rank == 1 { dims[0] } else { dims[1] };
    // NLLLoss takes [N, C] and [N].
    let (x2, target) = match rank {
        1 => {
            let x2 = unsqueeze(c, x, vec![0], f)?;
            let tg = c.tensor_as("target", DType::I64)?;
            (x2, unsqueeze(c, tg, vec![0], DType::I64)?)
        }
        2 => (x, c.tensor_as("target", DType::I64)?),
        _ => {
            let mut perm: Vec<i64> = (0..rank as i64).filter(|&d| d != 1).collect();
            perm.push(1);
            let xt = c.transpose_const(x, &perm, f)?;
            let x2 = c.reshape_dims(xt, &[Dim::K(-1), classes], f)?;
            let tg = c.tensor_as("target", DType::I64)?;
            (x2, c.reshape_const(tg, &[-1], DType::I64)?)
        }
    };
    let ignore = c.int("ignore_index")?;
    let weight = if c.has("weight") {
        In::P(c.tensor_as("weight", f)?)
    } else {
        In::Unfed
    };
    let outs = c.op(
        "NLLLoss",
        vec![In::P(x2), In::P(target), weight],
        vec![
            ("reduction", attr::string("none")),
            ("ignore_index", attr::int(ignore)),
        ],
        &[Some(f), Some(f)],
    )?;
    let per_target = outs[0];
    let y = match c.int("reduction")? {
        0 => match rank {
            1 => squeeze(c, per_target, vec![0], f)?,
            2 => per_target,
            _ => {
                let shape = c.shape_port("target")?;
                c.op1("Reshape", vec![In::P(per_target), In::P(shape)], vec![], f)?
            }
        },
        r @ (1 | 2) => {
            let axes = c.const_i64(&[0])?;
            let sum = c.op1(
                "ReduceSum",
                vec![In::P(per_target), In::P(axes)],
                vec![("keep_dims", attr::boolean(false))],
                f,
            )?;
            if r == 2 {
                sum
            } else {
                let total = counted_weight(c, target, ignore, f)?;
                c.op1("RealDiv", vec![In::P(sum), In::P(total)], vec![], f)?
            }
        }
        r => return Err(format!("unknown reduction {r} (0 none, 1 mean, 2 sum)")),
    };
    Ok((y, target))
}

/// Σ weight[target_i] over the targets that are not `ignore_index` (their count without a
/// weight): the divisor of a mean NLL.
fn counted_weight(c: &mut Ctx, target: Port, ignore: i64, f: DType) -> Result<Port, String> {
    let ig = c.scalar_i64(ignore)?;
    let keep = c.op1(
        "NotEqual",
        vec![In::P(target), In::P(ig)],
        vec![],
        DType::Bool,
    )?;
    let keep_f = c.cast(keep, f)?;
    let per = if c.has("weight") {
        let w = c.tensor_as("weight", f)?;
        let zero = c.scalar_i64(0)?;
        let safe = select(c, keep, target, zero, DType::I64)?;
        let axis = c.scalar_i64(0)?;
        let wt = c.op1(
            "GatherV2",
            vec![In::P(w), In::P(safe), In::P(axis)],
            vec![],
            f,
        )?;
        c.op1("Mul", vec![In::P(wt), In::P(keep_f)], vec![], f)?
    } else {
        keep_f
    };
    let axes = c.const_i64(&[0])?;
    c.op1(
        "ReduceSum",
        vec![In::P(per), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        f,
    )
}

fn poisson_nll(c: &mut Ctx) -> RuleResult {
    let full = c.bool("full")?;
    let (log_input, eps) = (c.bool("log_input")?, c.float("eps")?);
    let t = compute_dtype(c)?;
    let (a, b) = (c.tensor_value("input")?, c.tensor_value("target")?);
    if a.tensor.size() != b.tensor.size() {
        return Err(format!(
            "poisson_nll_loss of shapes {:?} and {:?}: GE's PoissonNllLoss takes one shape; fix: broadcast them first (torch.broadcast_tensors)",
            a.tensor.size(),
            b.tensor.size()
        ));
    }
    let rank = a.tensor.dim();
    let x = c.tensor_as("input", t)?;
    let y = c.tensor_as("target", t)?;
    let l = c.op1(
        "PoissonNllLoss",
        vec![In::P(x), In::P(y)],
        vec![
            ("log_input", attr::boolean(log_input)),
            ("full", attr::boolean(full)),
            ("eps", attr::float(eps as f32)),
            ("reduction", attr::string("none")),
        ],
        t,
    )?;
    reduce(c, l, rank, t)
}

/// The rank of the broadcast of tensor arguments `names`.
fn broadcast_rank(c: &Ctx, names: &[&str]) -> Result<usize, String> {
    let mut r = 0;
    for n in names {
        r = r.max(c.rank(n)?);
    }
    Ok(r)
}

/// max(0, -target · (input1 - input2) + margin).
fn margin_ranking(c: &mut Ctx) -> RuleResult {
    let t = compute_dtype(c)?;
    let margin = c.float("margin")?;
    let rank = broadcast_rank(c, &["input1", "input2", "target"])?;
    let a = c.tensor_as("input1", t)?;
    let b = c.tensor_as("input2", t)?;
    let y = c.tensor_as("target", t)?;
    let d = c.bin("Sub", a, b, t)?;
    let ny = c.op1("Neg", vec![In::P(y)], vec![], t)?;
    let p = c.bin("Mul", ny, d, t)?;
    let m = c.scalar(margin, t)?;
    let s = c.bin("Add", p, m, t)?;
    let l = c.op1("Relu", vec![In::P(s)], vec![], t)?;
    reduce(c, l, rank, t)
}

/// self where target ≠ -1, plus max(0, margin - self) where target ≠ 1 (as ATen computes it).
fn hinge_embedding(c: &mut Ctx) -> RuleResult {
    let t = compute_dtype(c)?;
    let margin = c.float("margin")?;
    let rank = broadcast_rank(c, &["self", "target"])?;
    let x = c.tensor_as("self", t)?;
    let y = c.tensor_as("target", t)?;
    let (m, zero) = (c.scalar(margin, t)?, c.scalar(0.0, t)?);
    let (one, minus_one) = (c.scalar(1.0, t)?, c.scalar(-1.0, t)?);
    let mx = c.bin("Sub", m, x, t)?;
    let clamped = c.op1("Relu", vec![In::P(mx)], vec![], t)?;
    let not_pos = c.bin("NotEqual", y, one, DType::Bool)?;
    let lm = select(c, not_pos, clamped, zero, t)?;
    let not_neg = c.bin("NotEqual", y, minus_one, DType::Bool)?;
    let ls = select(c, not_neg, x, zero, t)?;
    let l = c.bin("Add", lm, ls, t)?;
    reduce(c, l, rank, t)
}

/// ATen's cosine_embedding_loss: cos over the last dim of 1-D or 2-D inputs (EPSILON 1e-12 added
/// to each squared magnitude), 1 - cos where target is 1, max(0, cos - margin) where it is -1.
fn cosine_embedding(c: &mut Ctx) -> RuleResult {
    let t = compute_dtype(c)?;
    let margin = c.float("margin")?;
    let (r1, r2, rt) = (c.rank("input1")?, c.rank("input2")?, c.rank("target")?);
    if rt > 1 || r1 != rt + 1 || r2 != rt + 1 {
        return Err(format!(
            "cosine_embedding_loss of ranks {r1}, {r2} with a {rt}-D target: expected 1-D or 2-D inputs and a target of one rank less"
        ));
    }
    let a = c.tensor_as("input1", t)?;
    let b = c.tensor_as("input2", t)?;
    let y = c.tensor_as("target", t)?;
    let axis = c.const_i64(&[rt as i64])?;
    let sum = |c: &mut Ctx, p: Port, q: Port| -> Result<Port, String> {
        let m = c.bin("Mul", p, q, t)?;
        c.op1(
            "ReduceSum",
            vec![In::P(m), In::P(axis)],
            vec![("keep_dims", attr::boolean(false))],
            t,
        )
    };
    let prod = sum(c, a, b)?;
    let eps = c.scalar(1e-12, t)?;
    let s1 = sum(c, a, a)?;
    let s1 = c.bin("Add", s1, eps, t)?;
    let s2 = sum(c, b, b)?;
    let s2 = c.bin("Add", s2, eps, t)?;
    let mag = c.bin("Mul", s1, s2, t)?;
    let denom = c.op1("Sqrt", vec![In::P(mag)], vec![], t)?;
    let cos = c.bin("RealDiv", prod, denom, t)?;
    let (one, minus_one, zero) = (c.scalar(1.0, t)?, c.scalar(-1.0, t)?, c.scalar(0.0, t)?);
    let pos = c.bin("Sub", one, cos, t)?;
    let m = c.scalar(margin, t)?;
    let neg = c.bin("Sub", cos, m, t)?;
    let neg = c.op1("Relu", vec![In::P(neg)], vec![], t)?;
    let is_pos = c.bin("Equal", y, one, DType::Bool)?;
    let lp = select(c, is_pos, pos, zero, t)?;
    let is_neg = c.bin("Equal", y, minus_one, DType::Bool)?;
    let ln = select(c, is_neg, neg, zero, t)?;
    let l = c.bin("Add", lp, ln, t)?;
    reduce(c, l, rt, t)
}

/// Cross entropy against class probabilities: −Σ_c weight_c · target_c · logp_c per sample
/// (targets smoothed to target·(1−ε) + ε/C), a mean dividing by the sample count.
fn cross_entropy_probs(c: &mut Ctx) -> RuleResult {
    compute_dtype(c)?;
    let f = DType::F32;
    let rank = c.rank("self")?;
    let class_dim = if rank == 1 { 0 } else { 1 };
    let x = c.tensor_as("self", f)?;
    let logp = c.op1(
        "LogSoftmaxV2",
        vec![In::P(x)],
        vec![("axes", attr::list_int(vec![class_dim]))],
        f,
    )?;
    let mut t = c.tensor_as("target", f)?;
    let eps = c.float("label_smoothing")?;
    if eps != 0.0 {
        let k = c.scalar(1.0 - eps, f)?;
        t = c.bin("Mul", t, k, f)?;
        // eps / classes (the class count from Shape when dynamic).
        let e = match c.in_dims("self")?[class_dim as usize] {
            Some(classes) => c.scalar(eps / classes as f64, f)?,
            None => {
                let n = c.dim_port("self", class_dim as usize)?;
                let n = c.cast(n, f)?;
                let e = c.scalar(eps, f)?;
                c.bin("RealDiv", e, n, f)?
            }
        };
        t = c.bin("Add", t, e, f)?;
    }
    let mut prod = c.bin("Mul", logp, t, f)?;
    if c.has("weight") {
        let w = c.tensor_as("weight", f)?;
        let w = if rank > 2 {
            let axes: Vec<i64> = (1..rank as i64 - 1).collect();
            unsqueeze(c, w, axes, f)?
        } else {
            w
        };
        prod = c.bin("Mul", prod, w, f)?;
    }
    let axes = c.const_i64(&[class_dim])?;
    let sum = c.op1(
        "ReduceSum",
        vec![In::P(prod), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        f,
    )?;
    let per = c.un("Neg", sum, f)?;
    reduce(c, per, rank.saturating_sub(1), f)
}

/// The loss input as [N, C] (a 0-D or 1-D input is one sample), the target as [N, 1] INT64,
/// and C.
fn samples_by_class(c: &mut Ctx, f: DType) -> Result<(Port, Port, i64, usize), String> {
    // Only the class dim must be static (the batch may be dynamic).
    let shape = c.in_dims("self")?;
    let classes = match shape.len() {
        0 => Some(1),
        1 => shape[0],
        2 => shape[1],
        r => return Err(format!("expects a 0-D, 1-D or 2-D input, got rank {r}")),
    };
    let classes = match classes {
        Some(k) => k,
        // The per-class layout is built for a fixed class count: pinned, with a note.
        None => *c
            .in_dims_pinned(
                "self",
                shape.len() - 1,
                "its per-class layout needs the class count",
            )?
            .first()
            .ok_or("internal: no class dim")?,
    };
    let x = c.tensor_as("self", f)?;
    let x = c.reshape_const(x, &[-1, classes], f)?;
    let t = c.tensor_as("target", DType::I64)?;
    Ok((x, t, classes, shape.len()))
}

fn multi_margin(c: &mut Ctx) -> RuleResult {
    let f = compute_dtype(c)?;
    let p = c.float("p")?;
    let margin = c.float("margin")?;
    if p != 1.0 && p != 2.0 {
        return Err(format!(
            "multi_margin_loss with p = {p}: PyTorch takes 1 or 2"
        ));
    }
    let (x, t, classes, rank) = samples_by_class(c, f)?;
    let t = c.reshape_const(t, &[-1, 1], DType::I64)?;
    let xy = c.op1(
        "GatherElements",
        vec![In::P(x), In::P(t)],
        vec![("dim", attr::int(1))],
        f,
    )?;
    let m = c.scalar(margin, f)?;
    let d = c.bin("Sub", m, xy, f)?;
    let d = c.bin("Add", d, x, f)?;
    let mut l = c.un("Relu", d, f)?;
    if p == 2.0 {
        l = c.bin("Mul", l, l, f)?;
    }
    if c.has("weight") {
        let w = c.tensor_as("weight", f)?;
        let axis = c.scalar_i64(0)?;
        let wy = c.op1("GatherV2", vec![In::P(w), In::P(t), In::P(axis)], vec![], f)?;
        l = c.bin("Mul", l, wy, f)?;
    }
    // Not the target's own class.
    let cls = c.const_i64(&(0..classes).collect::<Vec<_>>())?;
    let is_y = c.op1("Equal", vec![In::P(t), In::P(cls)], vec![], DType::Bool)?;
    let zero = c.scalar(0.0, f)?;
    let l = select(c, is_y, zero, l, f)?;
    let axes = c.const_i64(&[1])?;
    let s = c.op1(
        "ReduceSum",
        vec![In::P(l), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        f,
    )?;
    let k = c.scalar(classes as f64, f)?;
    let per = c.bin("RealDiv", s, k, f)?;
    // Per sample: [N] for a 2-D input, 0-D otherwise.
    let per = if rank < 2 {
        c.reshape_const(per, &[], f)?
    } else {
        per
    };
    reduce(c, per, if rank < 2 { 0 } else { 1 }, f)
}

fn multilabel_margin(c: &mut Ctx) -> RuleResult {
    let f = compute_dtype(c)?;
    let (x, t, classes, rank) = samples_by_class(c, f)?;
    let t = c.reshape_const(t, &[-1, classes], DType::I64)?;
    // valid[j]: no −1 at or before position j.
    let neg1 = c.scalar_i64(-1)?;
    let ne = c.op1("NotEqual", vec![In::P(t), In::P(neg1)], vec![], DType::Bool)?;
    let nef = c.cast(ne, f)?;
    let axis1 = c.scalar_i64(1)?;
    let valid = c.op1(
        "Cumprod",
        vec![In::P(nef), In::P(axis1)],
        vec![
            ("exclusive", attr::boolean(false)),
            ("reverse", attr::boolean(false)),
        ],
        f,
    )?;
    // is_target[i] = any_j(valid[j] ∧ t[j] = i): [N, C(j), 1] against [C(i)].
    let tj = unsqueeze(c, t, vec![2], DType::I64)?;
    let cls = c.const_i64(&(0..classes).collect::<Vec<_>>())?;
    let hit = c.op1("Equal", vec![In::P(tj), In::P(cls)], vec![], DType::Bool)?;
    let hitf = c.cast(hit, f)?;
    let vj = unsqueeze(c, valid, vec![2], f)?;
    let hitv = c.bin("Mul", hitf, vj, f)?;
    let axes_j = c.const_i64(&[1])?;
    let is_t = c.op1(
        "ReduceMax",
        vec![In::P(hitv), In::P(axes_j)],
        vec![("keep_dims", attr::boolean(true))],
        f,
    )?;
    // x_y[j] = x[t[j]] (invalid positions read class 0, masked below).
    let zero_i = c.scalar_i64(0)?;
    let tc = c.op1("Maximum", vec![In::P(t), In::P(zero_i)], vec![], DType::I64)?;
    let xy = c.op1(
        "GatherElements",
        vec![In::P(x), In::P(tc)],
        vec![("dim", attr::int(1))],
        f,
    )?;
    let xyj = unsqueeze(c, xy, vec![2], f)?;
    let xi = unsqueeze(c, x, vec![1], f)?;
    let one = c.scalar(1.0, f)?;
    let d = c.bin("Sub", one, xyj, f)?;
    let d = c.bin("Add", d, xi, f)?;
    let l = c.un("Relu", d, f)?;
    // mask = valid[j] · (1 − is_target[i]).
    let not_t = c.bin("Sub", one, is_t, f)?;
    let mask = c.bin("Mul", vj, not_t, f)?;
    let l = c.bin("Mul", l, mask, f)?;
    let axes = c.const_i64(&[1, 2])?;
    let s = c.op1(
        "ReduceSum",
        vec![In::P(l), In::P(axes)],
        vec![("keep_dims", attr::boolean(false))],
        f,
    )?;
    let k = c.scalar(classes as f64, f)?;
    let per = c.bin("RealDiv", s, k, f)?;
    let per = if rank < 2 {
        c.reshape_const(per, &[], f)?
    } else {
        per
    };
    reduce(c, per, if rank < 2 { 0 } else { 1 }, f)
}

/// ATen's pairwise distance over the last dim: ‖a − b + eps‖_p.
fn pdist(c: &mut Ctx, a: Port, b: Port, p: f64, eps: f64, f: DType) -> Result<Port, String> {
    let d = c.bin("Sub", a, b, f)?;
    let e = c.scalar(eps, f)?;
    let d = c.bin("Add", d, e, f)?;
    let d = c.un("Abs", d, f)?;
    let axes = c.const_i64(&[-1])?;
    let sum = |c: &mut Ctx, x: Port| {
        c.op1(
            "ReduceSum",
            vec![In::P(x), In::P(axes)],
            vec![("keep_dims", attr::boolean(false))],
            f,
        )
    };
    if p == 1.0 {
        return sum(c, d);
    }
    let pk = c.scalar(p, f)?;
    let dp = c.bin("Pow", d, pk, f)?;
    let s = sum(c, dp)?;
    if p == 2.0 {
        return c.un("Sqrt", s, f);
    }
    let inv = c.scalar(1.0 / p, f)?;
    c.bin("Pow", s, inv, f)
}

fn triplet_margin(c: &mut Ctx) -> RuleResult {
    let f = compute_dtype(c)?;
    let (margin, p, eps, swap) = (
        c.float("margin")?,
        c.float("p")?,
        c.float("eps")?,
        c.bool("swap")?,
    );
    if p <= 0.0 || !p.is_finite() {
        return Err(format!(
            "triplet_margin_loss with p = {p}: a finite p > 0 is lowered"
        ));
    }
    let rank = broadcast_rank(c, &["anchor", "positive", "negative"])?;
    let a = c.tensor_as("anchor", f)?;
    let pos = c.tensor_as("positive", f)?;
    let neg = c.tensor_as("negative", f)?;
    let dp = pdist(c, a, pos, p, eps, f)?;
    let mut dn = pdist(c, a, neg, p, eps, f)?;
    if swap {
        let ds = pdist(c, pos, neg, p, eps, f)?;
        dn = c.bin("Minimum", dn, ds, f)?;
    }
    let m = c.scalar(margin, f)?;
    let d = c.bin("Sub", dp, dn, f)?;
    let d = c.bin("Add", d, m, f)?;
    let l = c.un("Relu", d, f)?;
    reduce(c, l, rank.saturating_sub(1), f)
}

/// The lengths argument `name` of ctc_loss (an int list or a tensor) as an INT64 port.
fn lengths(c: &mut Ctx, name: &str) -> Result<Port, String> {
    match c.arg(name)? {
        crate::value::Value::Tensor(_) => c.tensor_as(name, DType::I64),
        _ => c.ints_port(name),
    }
}

fn ctc_loss(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !matches!(out, DType::F32 | DType::F64) {
        return Err(format!(
            "ctc_loss in {}: GE's CTCLossV2 takes FLOAT/DOUBLE; fix: compute it in float32",
            out.name()
        ));
    }
    if c.rank("log_probs")? != 3 {
        return Err(
            "ctc_loss of unbatched (2-D) log_probs is not lowered; fix: add a batch dim of 1"
                .into(),
        );
    }
    let lp = c.tensor_as("log_probs", out)?;
    let tg = c.tensor_as("targets", DType::I64)?;
    let il = lengths(c, "input_lengths")?;
    let tl = lengths(c, "target_lengths")?;
    let ys = c.op(
        "CTCLossV2",
        vec![In::P(lp), In::P(tg), In::P(il), In::P(tl)],
        vec![
            ("blank", attr::int(c.int("blank")?)),
            ("reduction", attr::string("none")),
            ("zero_infinity", attr::boolean(c.bool("zero_infinity")?)),
        ],
        &[Some(out), Some(out)],
    )?;
    let loss = ys[0];
    let axes = c.const_i64(&[0])?;
    let keep = vec![("keep_dims", attr::boolean(false))];
    let y = match c.int("reduction")? {
        0 => loss,
        1 => {
            let one = c.scalar_i64(1)?;
            let tl = c.op1("Maximum", vec![In::P(tl), In::P(one)], vec![], DType::I64)?;
            let tl = c.cast(tl, out)?;
            let per = c.bin("RealDiv", loss, tl, out)?;
            c.op1("ReduceMean", vec![In::P(per), In::P(axes)], keep, out)?
        }
        2 => c.op1("ReduceSum", vec![In::P(loss), In::P(axes)], keep, out)?,
        r => return Err(format!("unknown reduction {r} (0 none, 1 mean, 2 sum)")),
    };
    Ok(vec![y])
}
