//! Attention and batched products: scaled_dot_product_attention, baddbmm, einsum.
use super::layout::{broadcast_to, tensor_list};
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::Port;

pub fn register(r: &mut Rules) {
    r.add(
        "aten::scaled_dot_product_attention",
        sdpa,
        "decomposed (TorchAir's math path): [enable_gqa: k, v heads repeated by Unsqueeze → BroadcastTo → Reshape; dynamic heads: Tile(Unsqueeze, Pack(1, .., FloorDiv(q heads, kv heads), 1, 1)) → Reshape(Pack of Gather(Shape))] → BatchMatMulV2(q, k; adj_x2) → Mul(Kt(scale); no scale and a dynamic head dim: Rsqrt(Cast(Gather(Shape(q), -1)))) → [bool mask or is_causal: SelectV2(mask, s, Kt(-inf)); float mask: Add] → SoftmaxV2(axes=[-1]) → [attn_mask: SelectV2(Equal(ReduceMax(s, [-1]; keep_dims), -inf), 0, ·): a row with every key masked gives 0, as PyTorch's safe softmax] → BatchMatMulV2(·, v) → [Cast out]; t = FLOAT for FLOAT16/BF16 inputs (accumulate in FLOAT, as the fused kernels do), else out",
    );
    r.add(
        "aten::baddbmm",
        baddbmm,
        "BatchMatMulV2(⇑out batch1, ⇑out batch2) [Mul Kout(alpha)] → Add(·, ⇑out self [Mul Kout(beta)]); beta 0: no Add",
    );
    r.add(
        "aten::einsum",
        einsum,
        "Einsum(x0..xN-1 ⇑t; equation, N), t = out (BF16 via FLOAT)",
    );
}

fn bmm(c: &mut Ctx, a: Port, b: Port, adj_b: bool, dt: DType) -> Result<Port, String> {
    c.batch_matmul(a, b, None, adj_b, dt)
}

/// Repeats the heads (dim -3) of `name` `n` times each, as `repeat_interleave` does for grouped
/// KV heads. `shape` has -1 for dynamic dims; then the merged shape is computed in the graph.
fn repeat_heads(
    c: &mut Ctx,
    name: &str,
    x: Port,
    shape: &[i64],
    n: i64,
    dt: DType,
) -> Result<Port, String> {
    let rank = shape.len();
    let u = c.op1(
        "Unsqueeze",
        vec![In::P(x)],
        vec![("axes", attr::list_int(vec![rank as i64 - 2]))],
        dt,
    )?;
    let mut out = shape.to_vec();
    out[rank - 3] *= n;
    if !shape.contains(&-1) {
        let mut wide = shape.to_vec();
        wide.insert(rank - 2, n);
        let b = broadcast_to(c, u, &wide, dt)?;
        return c.reshape_const(b, &out, dt);
    }
    let mut reps = vec![1; rank + 1];
    reps[rank - 2] = n;
    let m = c.const_i64(&reps)?;
    let tiled = c.op1("Tile", vec![In::P(u), In::P(m)], vec![], dt)?;
    let mut dims = vec![];
    for (i, &d) in out.iter().enumerate() {
        dims.push(if d == -1 {
            c.dim_port(name, i)?
        } else {
            c.scalar_i64(d)?
        });
    }
    let s = super::sym::pack(c.b, dims)?;
    c.op1("Reshape", vec![In::P(tiled), In::P(s)], vec![], dt)
}

/// `repeat_heads` with a repeat factor `n` and a result head count `heads` computed in the graph
/// (0-D INT64 ports): `Tile` by `Pack([1, .., n, 1, 1])`, then a `Reshape` to `name`'s dims with
/// the heads (dim -3) replaced by `heads`.
fn repeat_heads_dyn(
    c: &mut Ctx,
    name: &str,
    x: Port,
    shape: &[i64],
    heads: Port,
    n: Port,
    dt: DType,
) -> Result<Port, String> {
    let rank = shape.len();
    let u = c.op1(
        "Unsqueeze",
        vec![In::P(x)],
        vec![("axes", attr::list_int(vec![rank as i64 - 2]))],
        dt,
    )?;
    let one = c.scalar_i64(1)?;
    let mut reps = vec![one; rank + 1];
    reps[rank - 2] = n;
    let m = super::sym::pack(c.b, reps)?;
    let tiled = c.op1("Tile", vec![In::P(u), In::P(m)], vec![], dt)?;
    let mut dims = vec![];
    for i in 0..rank {
        dims.push(if i == rank - 3 {
            heads
        } else {
            c.dim_port(name, i)?
        });
    }
    let s = super::sym::pack(c.b, dims)?;
    c.op1("Reshape", vec![In::P(tiled), In::P(s)], vec![], dt)
}

/// PyTorch's causal mask `tril(ones(L, S))`: a Const for static sizes, else
/// `LessEqual(Range(S) as a row, Range(L) as a column)` computed in the graph.
fn causal_mask(c: &mut Ctx, l: i64, s: i64, qr: usize, kr: usize) -> Result<Port, String> {
    if l >= 0 && s >= 0 {
        let t = tch::Tensor::ones([l, s], (tch::Kind::Bool, tch::Device::Cpu)).tril(0);
        return c.b.constant(&t, "causal mask tril(ones(L, S))");
    }
    let lp = c.dim_port("query", qr - 2)?;
    let sp = c.dim_port("key", kr - 2)?;
    let (zero, one) = (c.scalar_i64(0)?, c.scalar_i64(1)?);
    let mut range = |n: Port| {
        c.op1(
            "Range",
            vec![In::P(zero), In::P(n), In::P(one)],
            vec![],
            DType::I64,
        )
    };
    let (rows, cols) = (range(lp)?, range(sp)?);
    let rows = c.op1(
        "Unsqueeze",
        vec![In::P(rows)],
        vec![("axes", attr::list_int(vec![1]))],
        DType::I64,
    )?;
    c.op1(
        "LessEqual",
        vec![In::P(cols), In::P(rows)],
        vec![],
        DType::Bool,
    )
}

fn sdpa(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if c.has("dropout_p") && c.float("dropout_p")? != 0.0 {
        return Err("dropout_p is not 0: attention dropout is random; fix: export with model.eval() and dropout_p=0.0".into());
    }
    let work = match out {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    };
    // -1 marks a dynamic dim (sequence lengths, batch).
    let qs = c.in_desc_shape("query")?;
    let ks = c.in_desc_shape("key")?;
    let vs = c.in_desc_shape("value")?;
    if qs.len() < 2 || ks.len() < 2 || vs.len() < 2 {
        return Err("query, key and value need at least 2 dims".into());
    }
    let (l, e) = (qs[qs.len() - 2], qs[qs.len() - 1]);
    let s = ks[ks.len() - 2];
    let q = c.tensor_as("query", work)?;
    let mut k = c.tensor_as("key", work)?;
    let mut v = c.tensor_as("value", work)?;
    let gqa = c.has("enable_gqa") && c.bool("enable_gqa")?;
    if gqa && qs.len() >= 3 && ks.len() >= 3 {
        let (hq, hk) = (qs[qs.len() - 3], ks[ks.len() - 3]);
        if hq < 0 || hk < 0 {
            // A dynamic number of heads: the repeat factor q_heads / kv_heads in the graph.
            let qh = c.dim_port("query", qs.len() - 3)?;
            let kh = c.dim_port("key", ks.len() - 3)?;
            let n = c.bin("FloorDiv", qh, kh, DType::I64)?;
            k = repeat_heads_dyn(c, "key", k, &ks, qh, n, work)?;
            v = repeat_heads_dyn(c, "value", v, &vs, qh, n, work)?;
        } else if hk != hq {
            if hk == 0 || hq % hk != 0 {
                return Err(format!(
                    "enable_gqa needs the query heads ({hq}) to be a multiple of the key heads ({hk})"
                ));
            }
            k = repeat_heads(c, "key", k, &ks, hq / hk, work)?;
            v = repeat_heads(c, "value", v, &vs, hq / hk, work)?;
        }
    }
    let kscale = if c.has("scale") {
        let scale = c.float("scale")?;
        c.scalar(scale, work)?
    } else if e < 0 {
        // A dynamic head dim: 1/√E from Shape(query) in the graph.
        let d = c.dim_port("query", qs.len() - 1)?;
        let d = c.cast(d, work)?;
        c.un("Rsqrt", d, work)?
    } else {
        c.scalar(1.0 / (e as f64).sqrt(), work)?
    };
    let scores = bmm(c, q, k, true, work)?;
    let mut scores = c.op1("Mul", vec![In::P(scores), In::P(kscale)], vec![], work)?;
    let causal = c.has("is_causal") && c.bool("is_causal")?;
    // A boolean mask keeps where true (-inf elsewhere); a float mask is added.
    let keep = if causal {
        if c.has("attn_mask") {
            return Err("attn_mask and is_causal=True together are refused by PyTorch too".into());
        }
        Some(causal_mask(c, l, s, qs.len(), ks.len())?)
    } else if c.has("attn_mask") && c.in_dtype("attn_mask")? == DType::Bool {
        Some(c.tensor("attn_mask")?)
    } else {
        if c.has("attn_mask") {
            let m = c.tensor_as("attn_mask", work)?;
            scores = c.op1("Add", vec![In::P(scores), In::P(m)], vec![], work)?;
        }
        None
    };
    let masked = c.has("attn_mask");
    let ninf = if masked || keep.is_some() {
        Some(c.scalar(f64::NEG_INFINITY, work)?)
    } else {
        None
    };
    if let (Some(m), Some(ninf)) = (keep, ninf) {
        scores = c.op1(
            "SelectV2",
            vec![In::P(m), In::P(scores), In::P(ninf)],
            vec![],
            work,
        )?;
    }
    let mut p = c.op1(
        "SoftmaxV2",
        vec![In::P(scores)],
        vec![("axes", attr::list_int(vec![-1]))],
        work,
    )?;
    if let (true, Some(ninf)) = (masked, ninf) {
        // PyTorch's safe softmax: a row whose every key is masked (max -inf) attends to nothing
        // (zeros), where a plain softmax gives NaN. A causal mask always keeps key 0.
        let axes = c.const_i64(&[-1])?;
        let mx = c.op1(
            "ReduceMax",
            vec![In::P(scores), In::P(axes)],
            vec![("keep_dims", attr::boolean(true))],
            work,
        )?;
        let dead = c.op1("Equal", vec![In::P(mx), In::P(ninf)], vec![], DType::Bool)?;
        let zero = c.scalar(0.0, work)?;
        p = c.op1(
            "SelectV2",
            vec![In::P(dead), In::P(zero), In::P(p)],
            vec![],
            work,
        )?;
    }
    let y = bmm(c, p, v, false, work)?;
    Ok(vec![c.cast(y, out)?])
}

fn baddbmm(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let (alpha, beta) = (c.float("alpha")?, c.float("beta")?);
    let a = c.tensor_as("batch1", out)?;
    let b = c.tensor_as("batch2", out)?;
    let mut y = bmm(c, a, b, false, out)?;
    if alpha != 1.0 {
        let k = c.scalar(alpha, out)?;
        y = c.op1("Mul", vec![In::P(y), In::P(k)], vec![], out)?;
    }
    if beta == 0.0 {
        return Ok(vec![y]);
    }
    let mut s = c.tensor_as("self", out)?;
    if beta != 1.0 {
        let k = c.scalar(beta, out)?;
        s = c.op1("Mul", vec![In::P(s), In::P(k)], vec![], out)?;
    }
    Ok(vec![c.op1("Add", vec![In::P(y), In::P(s)], vec![], out)?])
}

fn einsum(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let eq = match c.arg("equation")? {
        crate::value::Value::Str(s) => s.clone(),
        _ => return Err("argument 'equation' must be a string".into()),
    };
    let work = if out == DType::BF16 { DType::F32 } else { out };
    let ports = tensor_list(c, "tensors", work)?;
    let n = ports.len() as i64;
    let y = c.op1(
        "Einsum",
        vec![In::Dyn(ports)],
        vec![("equation", attr::string(&eq)), ("N", attr::int(n))],
        work,
    )?;
    Ok(vec![c.cast(y, out)?])
}
