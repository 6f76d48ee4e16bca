//! Loss functions. torch2air emits them with `reduction="none"` (the mean or sum follows as a
//! ReduceMean/ReduceSum); GE gives its reducing forms shape [1], which the runner does not
//! model, so it refuses them rather than guess.
use super::{same_dtype, tc, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::{Kind, Reduction, Tensor};

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("CTCLossV2", ctc_loss_v2);
    m.insert("MseLoss", |c| {
        pair(c, "predict", "label", |x, y| {
            x.f_mse_loss(y, Reduction::None)
        })
    });
    m.insert("LpLoss", lp_loss);
    m.insert("SmoothL1LossV2", smooth_l1);
    m.insert("BinaryCrossEntropy", bce);
    m.insert("SigmoidCrossEntropyWithLogitsV2", bce_logits);
    m.insert("KLDiv", |c| {
        pair(c, "x", "target", |x, y| {
            x.f_kl_div(y, Reduction::None, false)
        })
    });
    m.insert("NLLLoss", nll);
    m.insert("PoissonNllLoss", poisson_nll);
    m.insert("SoftMarginLoss", |c| {
        pair(c, "input_x", "input_y", |x, y| {
            x.f_soft_margin_loss(y, Reduction::None)
        })
    });
}

/// log_input: exp(x) - y·x; else x - y·log(x + eps). The Stirling term (full) is not modelled.
fn poisson_nll(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let full = c.bool("full")?;
    let (log_input, eps) = (c.bool("log_input")?, c.float("eps")?);
    pair_with(c, "input_x", "target", |x, y| {
        x.f_poisson_nll_loss(y, log_input, full, eps, Reduction::None)
    })
}

fn no_reduction(c: &KCtx) -> Result<(), String> {
    let r = c.string("reduction")?;
    if r != "none" {
        return Err(format!(
            "{} with reduction \"{r}\": the runner models reduction \"none\" only (take the mean or sum with ReduceMean/ReduceSum)",
            c.op.r#type
        ));
    }
    Ok(())
}

fn float(t: &Tensor) -> Result<(), String> {
    match t.kind() {
        Kind::Float | Kind::Half => Ok(()),
        k => Err(format!("takes FLOAT or FLOAT16, got {k:?}")),
    }
}

type Loss = fn(&Tensor, &Tensor) -> Result<Tensor, tch::TchError>;

fn pair(c: &KCtx, a: &str, b: &str, f: Loss) -> Result<Vec<Tensor>, String> {
    pair_with(c, a, b, f)
}

fn pair_with(
    c: &KCtx,
    a: &str,
    b: &str,
    f: impl Fn(&Tensor, &Tensor) -> Result<Tensor, tch::TchError>,
) -> Result<Vec<Tensor>, String> {
    no_reduction(c)?;
    let (x, y) = (c.input(a)?, c.input(b)?);
    same_dtype(x, y)?;
    float(x)?;
    if x.size() != y.size() {
        return Err(format!(
            "{a} and {b} have different shapes ({:?} and {:?})",
            x.size(),
            y.size()
        ));
    }
    Ok(vec![tc(f(x, y))?])
}

fn lp_loss(c: &KCtx) -> Result<Vec<Tensor>, String> {
    match c.int("p")? {
        1 => pair(c, "predict", "label", |x, y| {
            x.f_l1_loss(y, Reduction::None)
        }),
        p => Err(format!("LpLoss with p={p}: the runner models p=1")),
    }
}

fn smooth_l1(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let sigma = c.float("sigma")?;
    if sigma <= 0.0 {
        return Err(format!(
            "SmoothL1LossV2 with sigma {sigma}: sigma must be positive"
        ));
    }
    no_reduction(c)?;
    let (x, y) = (c.input("predict")?, c.input("label")?);
    same_dtype(x, y)?;
    float(x)?;
    Ok(vec![tc(x.f_smooth_l1_loss(y, Reduction::None, sigma))?])
}

/// An optional weight input, which must have the shape of `like` (the lowering broadcasts).
fn weight<'a>(c: &'a KCtx, name: &str, like: &Tensor) -> Result<Option<&'a Tensor>, String> {
    match c.opt(name) {
        Some(w) => {
            same_dtype(w, like)?;
            if w.size() != like.size() {
                return Err(format!(
                    "{name} has shape {:?}, the input {:?}",
                    w.size(),
                    like.size()
                ));
            }
            Ok(Some(w))
        }
        None => Ok(None),
    }
}

fn bce(c: &KCtx) -> Result<Vec<Tensor>, String> {
    no_reduction(c)?;
    let (x, y) = (c.input("x")?, c.input("y")?);
    same_dtype(x, y)?;
    float(x)?;
    let w = weight(c, "weight", x)?;
    Ok(vec![tc(x.f_binary_cross_entropy(y, w, Reduction::None))?])
}

fn bce_logits(c: &KCtx) -> Result<Vec<Tensor>, String> {
    no_reduction(c)?;
    let (x, y) = (c.input("predict")?, c.input("target")?);
    same_dtype(x, y)?;
    float(x)?;
    let w = weight(c, "weight", x)?;
    let pw = weight(c, "pos_weight", x)?;
    Ok(vec![tc(x.f_binary_cross_entropy_with_logits(
        y,
        w,
        pw,
        Reduction::None,
    ))?])
}

/// `y[i] = -weight[t_i] · x[i, t_i]` (0 where `t_i == ignore_index`); `total_weight` is the
/// sum of the weights of the counted targets.
fn nll(c: &KCtx) -> Result<Vec<Tensor>, String> {
    no_reduction(c)?;
    let (x, t) = (c.input("x")?, c.input("target")?);
    if x.kind() != Kind::Float {
        return Err(format!("x must be FLOAT, got {:?}", x.kind()));
    }
    if !matches!(t.kind(), Kind::Int64 | Kind::Int) || x.dim() != 2 || t.dim() != 1 {
        return Err(format!(
            "NLLLoss takes x [N, C] and an INT32/INT64 target [N], got {:?} and {:?} {:?}",
            x.size(),
            t.kind(),
            t.size()
        ));
    }
    let t = t.to_kind(Kind::Int64);
    let ignore = c.int("ignore_index")?;
    let w = c.opt("weight");
    if let Some(w) = w {
        if w.kind() != Kind::Float || w.size() != [x.size()[1]] {
            return Err(format!(
                "weight must be FLOAT [C] = [{}], got {:?} {:?}",
                x.size()[1],
                w.kind(),
                w.size()
            ));
        }
    }
    let y = tc(x.f_nll_loss(&t, w, Reduction::None, ignore))?;
    let keep = t.ne(ignore).to_kind(Kind::Float);
    let per = match w {
        Some(w) => w.index_select(0, &t.where_scalarother(&t.ne(ignore), 0)) * &keep,
        None => keep,
    };
    Ok(vec![y, per.sum(Kind::Float)])
}

/// `CTCLossV2` with reduction "none": the per-sample negative log likelihood ([N]) and ATen's
/// log_alpha ([N, T, 2·S+1]; the NPU's own layout of it may differ). zero_infinity zeroes
/// infinite losses, as ATen's ctc_loss does.
fn ctc_loss_v2(c: &KCtx) -> Result<Vec<Tensor>, String> {
    no_reduction(c)?;
    let lp = c.input("log_probs")?;
    if !matches!(lp.kind(), Kind::Float | Kind::Double) || lp.dim() != 3 {
        return Err(format!(
            "log_probs must be FLOAT/DOUBLE [T, N, C], got {:?} {:?}",
            lp.kind(),
            lp.size()
        ));
    }
    let targets = c.input("targets")?;
    let lens = |name: &str| -> Result<Vec<i64>, String> {
        let t = c.input(name)?;
        if !matches!(t.kind(), Kind::Int | Kind::Int64) || t.dim() != 1 {
            return Err(format!("{name} must be a 1-D INT32/INT64 tensor"));
        }
        Vec::<i64>::try_from(t.to_kind(Kind::Int64)).map_err(|e| format!("{name}: {e}"))
    };
    let (il, tl) = (lens("input_lengths")?, lens("target_lengths")?);
    let zero_inf = c.bool("zero_infinity")?;
    let (nll, alpha) = tc(Tensor::f_internal_ctc_loss(
        lp,
        &targets.to_kind(Kind::Int64),
        il.as_slice(),
        tl.as_slice(),
        c.int("blank")?,
        zero_inf,
    ))?;
    let nll = if zero_inf {
        let inf = nll.isinf();
        nll.where_self(&inf.logical_not(), &nll.zeros_like())
    } else {
        nll
    };
    Ok(vec![nll, alpha])
}
