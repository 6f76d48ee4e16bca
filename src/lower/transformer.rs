//! `aten::_transformer_encoder_layer_fwd`: the fused kernel `nn.TransformerEncoderLayer` calls in
//! eval mode under `torch.no_grad()` (its "fast path"), which is how a scripted
//! `nn.TransformerEncoder` runs at inference. GE has no such op; the rule decomposes it into the
//! layer's own math (TorchAir never sees it: AOT decomposes the layer before its converters run):
//!
//!   qkv   = x @ Wqkv^T + bqkv                 BatchMatMulV2(adj_x2, bias)
//!   q,k,v = split qkv, [B,L,E] → [B,h,L,d]   StridedSliceV2 → Reshape → Transpose
//!   p     = softmax(q/√d @ k^T + mask)        Mul, BatchMatMulV2(adj_x2), Add | MaskedFill, SoftmaxV2
//!   a     = (p @ v) → [B,L,E] @ Wo^T + bo     BatchMatMulV2, Transpose, Reshape, BatchMatMulV2
//!   post-norm: x = LN1(x + a); x = LN2(x + FF(x));  pre-norm: x = x + a(LN1 x); x = x + FF(LN2 x)
//!   FF(x) = W2 act(W1 x + b1) + b2, act = Relu or GeluV2
//!
//! Masks: mask_type 0 is an attention mask [L, S], 1 a key padding mask [B, S], 2 a full
//! [B, h, L, S] mask; a float mask is added to the scores, a bool mask (True = masked) sets them
//! to -inf.
use super::sym::Dim;
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::Port;

pub fn register(r: &mut Rules) {
    r.add(
        "aten::_transformer_encoder_layer_fwd",
        encoder_layer,
        "decomposed (nn.TransformerEncoderLayer's inference fast path): BatchMatMulV2 for the qkv, output and feed-forward projections, StridedSliceV2/Reshape/Transpose heads, Mul 1/√d, Add or MaskedFill mask, SoftmaxV2, Relu|GeluV2, LayerNorm ×2",
    );
    r.add(
        "aten::_native_multi_head_attention",
        multi_head_attention,
        "decomposed (nn.MultiheadAttention's inference path, self-attention): as _transformer_encoder_layer_fwd's attention; weights: ReduceMean over heads (average_attn_weights) or the SoftmaxV2 output",
    );
}

fn slice_last(c: &mut Ctx, x: Port, begin: i64, end: i64, dt: DType) -> Result<Port, String> {
    c.slice_axis(x, -1, begin, end, dt)
}

fn add(c: &mut Ctx, a: Port, b: Port, dt: DType) -> Result<Port, String> {
    c.op1("Add", vec![In::P(a), In::P(b)], vec![], dt)
}

fn layer_norm(c: &mut Ctx, x: Port, w: &str, b: &str, eps: f64, dt: DType) -> Result<Port, String> {
    let g = c.tensor_as(w, dt)?;
    let be = c.tensor_as(b, dt)?;
    let ys = c.op(
        "LayerNorm",
        vec![In::P(x), In::P(g), In::P(be)],
        vec![
            ("begin_norm_axis", attr::int(-1)),
            ("begin_params_axis", attr::int(-1)),
            ("epsilon", attr::float(eps as f32)),
        ],
        &[Some(dt), Some(dt), Some(dt)],
    )?;
    Ok(ys[0])
}

/// The attention mask as something to combine with scores [B, h, L, S]: an attention mask
/// [L, S] and a key padding mask [B, S] get their missing axes by `Unsqueeze` (any L, S, B).
fn mask_for_scores(c: &mut Ctx, dt: DType) -> Result<Option<(Port, bool)>, String> {
    if !c.has("mask") {
        return Ok(None);
    }
    let rank = c.rank("mask")?;
    let mask_type = if c.has("mask_type") {
        c.int("mask_type")?
    } else {
        -1
    };
    let axes: Vec<i64> = match (mask_type, rank) {
        (0, 2) => vec![0, 1],
        (1, 2) => vec![1, 2],
        (2, 4) | (-1, 4) => vec![],
        _ => {
            return Err(format!(
                "attention mask of shape {:?} with mask_type {mask_type} is not supported",
                c.in_desc_shape("mask")?
            ))
        }
    };
    let is_bool = c.in_dtype("mask")? == DType::Bool;
    let m = if is_bool {
        c.tensor("mask")?
    } else {
        c.tensor_as("mask", dt)?
    };
    let m = if axes.is_empty() {
        m
    } else {
        let mdt = if is_bool { DType::Bool } else { dt };
        c.op1(
            "Unsqueeze",
            vec![In::P(m)],
            vec![("axes", attr::list_int(axes))],
            mdt,
        )?
    };
    Ok(Some((m, is_bool)))
}

/// Sizes of a batch-first self-attention: batch and sequence may be dynamic.
#[derive(Clone, Copy)]
struct Dims {
    b: Dim,
    l: Dim,
    e: i64,
    heads: i64,
}

/// Multi-head self-attention of `h` [B, L, E] with the fused `qkv_weight`/`qkv_bias` and the
/// output projection `proj_weight`/`proj_bias` (argument names shared by both fused ATen ops).
/// Returns (output [B, L, E], attention probabilities [B, h, L, S]).
fn self_attention(
    c: &mut Ctx,
    h: Port,
    dims: Dims,
    mask: Option<(Port, bool)>,
    out: DType,
) -> Result<(Port, Port), String> {
    let Dims { b, l, e, heads } = dims;
    let d = e / heads;
    let w = c.tensor_as("qkv_weight", out)?;
    let bias = c.tensor_as("qkv_bias", out)?;
    let qkv = c.batch_matmul(h, w, Some(bias), true, out)?;
    let heads_of = |c: &mut Ctx, k: i64| -> Result<Port, String> {
        let t = slice_last(c, qkv, k * e, (k + 1) * e, out)?;
        let t = c.reshape_dims(t, &[b, l, Dim::K(heads), Dim::K(d)], out)?;
        c.transpose_const(t, &[0, 2, 1, 3], out)
    };
    let q = heads_of(c, 0)?;
    let k = heads_of(c, 1)?;
    let v = heads_of(c, 2)?;
    let scale = c.scalar(1.0 / (d as f64).sqrt(), out)?;
    let q = c.op1("Mul", vec![In::P(q), In::P(scale)], vec![], out)?;
    let mut scores = c.batch_matmul(q, k, None, true, out)?;
    if let Some((m, is_bool)) = mask {
        scores = if is_bool {
            let ninf = c.scalar(f64::NEG_INFINITY, out)?;
            c.op1(
                "MaskedFill",
                vec![In::P(scores), In::P(m), In::P(ninf)],
                vec![],
                out,
            )?
        } else {
            add(c, scores, m, out)?
        };
    }
    let p = c.op1(
        "SoftmaxV2",
        vec![In::P(scores)],
        vec![("axes", attr::list_int(vec![-1]))],
        out,
    )?;
    let a = c.batch_matmul(p, v, None, false, out)?;
    let a = c.transpose_const(a, &[0, 2, 1, 3], out)?;
    let a = c.reshape_dims(a, &[b, l, Dim::K(e)], out)?;
    let wo = c.tensor_as("proj_weight", out)?;
    let bo = c.tensor_as("proj_bias", out)?;
    Ok((c.batch_matmul(a, wo, Some(bo), true, out)?, p))
}

/// [B, L, E] and heads, checked (E must be static: the projections fix it).
fn dims_of(c: &mut Ctx, x: &str, heads_arg: &str) -> Result<Dims, String> {
    let shape = c.sym_dims(x)?;
    let [b, l, Dim::K(e)] = shape[..] else {
        return Err(format!(
            "{x} must be [batch, seq, embed] (batch_first) with a constant embed, got {:?}",
            super::sym::known(&shape)
        ));
    };
    let heads = c.int(heads_arg)?;
    if c.int("embed_dim")? != e || heads <= 0 || e % heads != 0 {
        return Err(format!(
            "embed_dim {e} is not divisible by num_heads {heads}"
        ));
    }
    Ok(Dims { b, l, e, heads })
}

pub fn encoder_layer(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let dims = dims_of(c, "src", "num_heads")?;
    let eps = c.float("eps")?;
    let norm_first = c.bool("norm_first")?;
    let gelu = c.bool("use_gelu")?;
    let x = c.tensor_as("src", out)?;
    let mask = mask_for_scores(c, out)?;
    let feed_forward = |c: &mut Ctx, h: Port| -> Result<Port, String> {
        let w1 = c.tensor_as("ffn_weight_1", out)?;
        let b1 = c.tensor_as("ffn_bias_1", out)?;
        let w2 = c.tensor_as("ffn_weight_2", out)?;
        let b2 = c.tensor_as("ffn_bias_2", out)?;
        let t = c.batch_matmul(h, w1, Some(b1), true, out)?;
        let t = if gelu {
            c.op1(
                "GeluV2",
                vec![In::P(t)],
                vec![("approximate", attr::string("none"))],
                out,
            )?
        } else {
            c.op1("Relu", vec![In::P(t)], vec![], out)?
        };
        c.batch_matmul(t, w2, Some(b2), true, out)
    };

    let y = if norm_first {
        let n1 = layer_norm(c, x, "norm_weight_1", "norm_bias_1", eps, out)?;
        let (a, _) = self_attention(c, n1, dims, mask, out)?;
        let h = add(c, x, a, out)?;
        let n2 = layer_norm(c, h, "norm_weight_2", "norm_bias_2", eps, out)?;
        let f = feed_forward(c, n2)?;
        add(c, h, f, out)?
    } else {
        let (a, _) = self_attention(c, x, dims, mask, out)?;
        let h = add(c, x, a, out)?;
        let h = layer_norm(c, h, "norm_weight_1", "norm_bias_1", eps, out)?;
        let f = feed_forward(c, h)?;
        let h2 = add(c, h, f, out)?;
        layer_norm(c, h2, "norm_weight_2", "norm_bias_2", eps, out)?
    };
    Ok(vec![y])
}

/// `aten::_native_multi_head_attention`: nn.MultiheadAttention's inference path (batch_first
/// self-attention). Returns the output and, when asked for, the attention weights averaged over
/// heads (ReduceMean over the head axis) or per head.
pub fn multi_head_attention(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let dims = dims_of(c, "query", "num_head")?;
    let q = c.tensor_as("query", out)?;
    let k = c.tensor_as("key", out)?;
    let v = c.tensor_as("value", out)?;
    if q != k || k != v {
        return Err(
            "attention whose query, key and value differ (cross-attention) is not supported on this path"
                .into(),
        );
    }
    let mask = mask_for_scores(c, out)?;
    let (y, p) = self_attention(c, q, dims, mask, out)?;
    let wants_weights = c.outputs.get(1).is_some_and(|o| !o.tensors().is_empty());
    if !wants_weights {
        return Ok(vec![y]);
    }
    let weights = if c.bool("average_attn_weights")? {
        let axes = c.const_i64(&[1])?;
        c.op1(
            "ReduceMean",
            vec![In::P(p), In::P(axes)],
            vec![("keep_dims", attr::boolean(false))],
            out,
        )?
    } else {
        p
    };
    Ok(vec![y, weights])
}
