//! `aten::gru.input` as an unrolled decomposition, one group of GE ops per time step.
//!
//! Why not GE's DynamicGRUV2: its prototype takes `x`, `weight_input` and `weight_hidden` in
//! FLOAT16 only, so an f32 model would lose f32 accuracy (and the runner could not check f32
//! results against TorchScript at 1e-4). The unrolled form uses only MatMul/activation ops whose
//! semantics are plain, at the price of graph size (about 13 ops per step, layer and direction).
//!
//! Per layer and direction, with PyTorch's gate order (r, z, n) in the stacked weights:
//!   gi = x_l @ W_ih^T + b_ih                      once, [T, B, 3H] (BatchMatMulV2 with bias)
//!   for each step t (reversed for the backward direction), h: [1, B, H]:
//!     gh    = h @ W_hh^T + b_hh                   [1, B, 3H]
//!     r, z  = Sigmoid(gi_t[..2H] + gh[..2H]) split at H
//!     n     = Tanh(gi_t[2H..] + r * gh[2H..])
//!     h     = n + z * (h - n)                     (= (1 - z) * n + z * h)
//!   the layer output is the h of every step, concatenated over time (and over directions on
//!   the last axis); h_n stacks the final h of every layer and direction.
use super::vision::{squeeze, unsqueeze};
use super::{Ctx, RuleResult};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, Value};

/// `x[begin:end]` along `axis` (StridedSliceV2).
fn slice(c: &mut Ctx, x: Port, axis: i64, begin: i64, end: i64, dt: DType) -> Result<Port, String> {
    let b = c.const_i64(&[begin])?;
    let e = c.const_i64(&[end])?;
    let a = c.const_i64(&[axis])?;
    let s = c.const_i64(&[1])?;
    c.op1(
        "StridedSliceV2",
        vec![In::P(x), In::P(b), In::P(e), In::P(a), In::P(s)],
        vec![],
        dt,
    )
}

fn bin(c: &mut Ctx, ty: &str, a: Port, b: Port, dt: DType) -> Result<Port, String> {
    c.op1(ty, vec![In::P(a), In::P(b)], vec![], dt)
}

/// `x @ w^T (+ bias)` for x of rank 3 and w [3H, K].
fn project(c: &mut Ctx, x: Port, w: Port, b: Option<Port>, dt: DType) -> Result<Port, String> {
    c.op1(
        "BatchMatMulV2",
        vec![In::P(x), In::P(w), b.map(In::P).unwrap_or(In::Unfed)],
        vec![
            ("adj_x1", attr::boolean(false)),
            ("adj_x2", attr::boolean(true)),
        ],
        dt,
    )
}

fn concat(c: &mut Ctx, ports: Vec<Port>, axis: i64, dt: DType) -> Result<Port, String> {
    if ports.len() == 1 {
        return Ok(ports[0]);
    }
    let d = c.scalar_i64(axis)?;
    let n = ports.len() as i64;
    c.op1(
        "ConcatV2",
        vec![In::Dyn(ports), In::P(d)],
        vec![("N", attr::int(n))],
        dt,
    )
}

struct Cell {
    w_ih: Port,
    w_hh: Port,
    b_ih: Option<Port>,
    b_hh: Option<Port>,
}

/// One direction of one layer over the sequence `x` [T, B, K]; returns (output [T, B, H], h_n [1, B, H]).
#[allow(clippy::too_many_arguments)]
fn run_direction(
    c: &mut Ctx,
    x: Port,
    steps: i64,
    hidden: i64,
    cell: &Cell,
    h0: Port,
    reverse: bool,
    dt: DType,
) -> Result<(Port, Port), String> {
    let gi = project(c, x, cell.w_ih, cell.b_ih, dt)?;
    let mut h = h0;
    let mut outs: Vec<Option<Port>> = vec![None; steps as usize];
    let order: Vec<i64> = if reverse {
        (0..steps).rev().collect()
    } else {
        (0..steps).collect()
    };
    for t in order {
        let gi_t = slice(c, gi, 0, t, t + 1, dt)?;
        let gh = project(c, h, cell.w_hh, cell.b_hh, dt)?;
        let gi_rz = slice(c, gi_t, 2, 0, 2 * hidden, dt)?;
        let gh_rz = slice(c, gh, 2, 0, 2 * hidden, dt)?;
        let a = bin(c, "Add", gi_rz, gh_rz, dt)?;
        let rz = c.op1("Sigmoid", vec![In::P(a)], vec![], dt)?;
        let r = slice(c, rz, 2, 0, hidden, dt)?;
        let z = slice(c, rz, 2, hidden, 2 * hidden, dt)?;
        let gi_n = slice(c, gi_t, 2, 2 * hidden, 3 * hidden, dt)?;
        let gh_n = slice(c, gh, 2, 2 * hidden, 3 * hidden, dt)?;
        let rn = bin(c, "Mul", r, gh_n, dt)?;
        let pre = bin(c, "Add", gi_n, rn, dt)?;
        let n = c.op1("Tanh", vec![In::P(pre)], vec![], dt)?;
        let d = bin(c, "Sub", h, n, dt)?;
        let zd = bin(c, "Mul", z, d, dt)?;
        h = bin(c, "Add", n, zd, dt)?;
        outs[t as usize] = Some(h);
    }
    let outs: Vec<Port> = outs.into_iter().flatten().collect();
    Ok((concat(c, outs, 0, dt)?, h))
}

pub fn gru(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let has_biases = c.bool("has_biases")?;
    let layers = c.int("num_layers")?;
    let bidir = c.bool("bidirectional")?;
    let batch_first = c.bool("batch_first")?;
    if c.bool("train")? && c.float("dropout")? > 0.0 {
        return Err("GRU with dropout in training mode; fix: call model.eval()".into());
    }
    let params: Vec<crate::value::TensorValue> = match c.arg("params")? {
        Value::List(v) | Value::Tuple(v) => v
            .iter()
            .map(|p| p.as_tensor().cloned().ok_or("params must be tensors"))
            .collect::<Result<_, _>>()?,
        _ => return Err("params must be a list of tensors".into()),
    };
    let dirs: i64 = if bidir { 2 } else { 1 };
    let per_cell = if has_biases { 4 } else { 2 };
    if params.len() as i64 != layers * dirs * per_cell {
        return Err(format!(
            "{} GRU parameters for {layers} layer(s) x {dirs} direction(s); projections (proj_size) are not supported",
            params.len()
        ));
    }
    let in_shape = c.in_shape("input")?;
    let batched = in_shape.len() == 3;
    let hx_shape = c.in_shape("hx")?;
    let hidden = *hx_shape.last().ok_or("hx must not be 0-D")?;
    let mut x = c.tensor_as("input", out)?;
    let mut hx = c.tensor_as("hx", out)?;
    if !batched {
        x = unsqueeze(c, x, vec![1], out)?;
        hx = unsqueeze(c, hx, vec![1], out)?;
    } else if batch_first {
        let perm = c.const_i64(&[1, 0, 2])?;
        x = c.op1("Transpose", vec![In::P(x), In::P(perm)], vec![], out)?;
    }
    let steps = if batched && batch_first {
        in_shape[1]
    } else {
        in_shape[0]
    };
    let mut finals = vec![];
    for l in 0..layers {
        let mut seqs = vec![];
        for d in 0..dirs {
            let k = ((l * dirs + d) * per_cell) as usize;
            let mut port = |i: usize| -> Result<Port, String> {
                let p = c.port(&params[k + i])?;
                c.cast(p, out)
            };
            let cell = Cell {
                w_ih: port(0)?,
                w_hh: port(1)?,
                b_ih: if has_biases { Some(port(2)?) } else { None },
                b_hh: if has_biases { Some(port(3)?) } else { None },
            };
            let idx = l * dirs + d;
            let h0 = slice(c, hx, 0, idx, idx + 1, out)?;
            let (seq, h_n) = run_direction(c, x, steps, hidden, &cell, h0, d == 1, out)?;
            seqs.push(seq);
            finals.push(h_n);
        }
        x = concat(c, seqs, 2, out)?;
    }
    let mut h_n = concat(c, finals, 0, out)?;
    if !batched {
        x = squeeze(c, x, vec![1], out)?;
        h_n = squeeze(c, h_n, vec![1], out)?;
    } else if batch_first {
        let perm = c.const_i64(&[1, 0, 2])?;
        x = c.op1("Transpose", vec![In::P(x), In::P(perm)], vec![], out)?;
    }
    Ok(vec![x, h_n])
}
