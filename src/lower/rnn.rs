//! `aten::gru.input` and `aten::lstm.input` as unrolled decompositions, one group of GE ops per
//! time step.
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
//!
//! LSTM likewise (no fused GE LSTM op here either: DynamicRNN's x is FLOAT16-only too), with
//! PyTorch's gate order (i, f, g, o):
//!     g4    = gi_t + h @ W_hh^T + b_hh           [1, B, 4H]
//!     i,f,o = Sigmoid(g4 slices), g = Tanh(g4[2H..3H])
//!     c     = f * c + i * g;  h = o * Tanh(c)   (c_n stacked like h_n)
use super::spatial::{squeeze, unsqueeze};
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::{attr, In};
use crate::value::{Port, Value};

pub fn register(r: &mut Rules) {
    r.add(
        "aten::lstm.input",
        lstm,
        "unrolled per step like gru: BatchMatMulV2 projections → Sigmoid (i, f, o) / Tanh (g) on StridedSliceV2 gate slices → Mul/Add cell update, Tanh → ConcatV2 over time (and directions); dynamic: batch dynamic, sequence and feature dims pinned",
    );
    r.add(
        "aten::gru.input",
        gru,
        "unrolled per step: BatchMatMulV2 (input and hidden projections, biases fused) → StridedSliceV2 gates → Sigmoid/Tanh/Mul/Sub/Add → ConcatV2 over time (and directions); not the fused dynamic GRU op, whose x and weights are FLOAT16-only",
    );
}

/// `x @ w^T (+ bias)` for x of rank 3 and w [3H, K].
fn project(c: &mut Ctx, x: Port, w: Port, b: Option<Port>, dt: DType) -> Result<Port, String> {
    c.batch_matmul(x, w, b, true, dt)
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

#[derive(Clone, Copy, PartialEq)]
enum Rnn {
    Gru,
    Lstm,
}

/// One GRU step: the new h.
fn gru_step(
    c: &mut Ctx,
    gi_t: Port,
    gh: Port,
    h: Port,
    hidden: i64,
    dt: DType,
) -> Result<Port, String> {
    let gi_rz = c.slice_axis(gi_t, 2, 0, 2 * hidden, dt)?;
    let gh_rz = c.slice_axis(gh, 2, 0, 2 * hidden, dt)?;
    let a = c.bin("Add", gi_rz, gh_rz, dt)?;
    let rz = c.op1("Sigmoid", vec![In::P(a)], vec![], dt)?;
    let r = c.slice_axis(rz, 2, 0, hidden, dt)?;
    let z = c.slice_axis(rz, 2, hidden, 2 * hidden, dt)?;
    let gi_n = c.slice_axis(gi_t, 2, 2 * hidden, 3 * hidden, dt)?;
    let gh_n = c.slice_axis(gh, 2, 2 * hidden, 3 * hidden, dt)?;
    let rn = c.bin("Mul", r, gh_n, dt)?;
    let pre = c.bin("Add", gi_n, rn, dt)?;
    let n = c.op1("Tanh", vec![In::P(pre)], vec![], dt)?;
    let d = c.bin("Sub", h, n, dt)?;
    let zd = c.bin("Mul", z, d, dt)?;
    c.bin("Add", n, zd, dt)
}

/// One LSTM step: the new (h, c).
fn lstm_step(
    c: &mut Ctx,
    gi_t: Port,
    gh: Port,
    cell: Port,
    hidden: i64,
    dt: DType,
) -> Result<(Port, Port), String> {
    let g4 = c.bin("Add", gi_t, gh, dt)?;
    let s = c.op1("Sigmoid", vec![In::P(g4)], vec![], dt)?;
    let i = c.slice_axis(s, 2, 0, hidden, dt)?;
    let f = c.slice_axis(s, 2, hidden, 2 * hidden, dt)?;
    let o = c.slice_axis(s, 2, 3 * hidden, 4 * hidden, dt)?;
    let g_pre = c.slice_axis(g4, 2, 2 * hidden, 3 * hidden, dt)?;
    let g = c.op1("Tanh", vec![In::P(g_pre)], vec![], dt)?;
    let fc = c.bin("Mul", f, cell, dt)?;
    let ig = c.bin("Mul", i, g, dt)?;
    let cell = c.bin("Add", fc, ig, dt)?;
    let tc = c.op1("Tanh", vec![In::P(cell)], vec![], dt)?;
    Ok((c.bin("Mul", o, tc, dt)?, cell))
}

/// One direction of one layer over the sequence `x` [T, B, K], from state (h0, c0) [1, B, H];
/// returns (output [T, B, H], h_n, c_n).
#[allow(clippy::too_many_arguments)]
fn run_direction(
    c: &mut Ctx,
    kind: Rnn,
    x: Port,
    steps: i64,
    hidden: i64,
    cell: &Cell,
    state: (Port, Option<Port>),
    reverse: bool,
    dt: DType,
) -> Result<(Port, Port, Option<Port>), String> {
    let gi = project(c, x, cell.w_ih, cell.b_ih, dt)?;
    let (mut h, mut cs) = state;
    let mut outs: Vec<Option<Port>> = vec![None; steps as usize];
    let order: Vec<i64> = if reverse {
        (0..steps).rev().collect()
    } else {
        (0..steps).collect()
    };
    for t in order {
        let gi_t = c.slice_axis(gi, 0, t, t + 1, dt)?;
        let gh = project(c, h, cell.w_hh, cell.b_hh, dt)?;
        match kind {
            Rnn::Gru => h = gru_step(c, gi_t, gh, h, hidden, dt)?,
            Rnn::Lstm => {
                let prev = cs.ok_or("internal: LSTM without a cell state")?;
                let (nh, nc) = lstm_step(c, gi_t, gh, prev, hidden, dt)?;
                h = nh;
                cs = Some(nc);
            }
        }
        outs[t as usize] = Some(h);
    }
    let outs: Vec<Port> = outs.into_iter().flatten().collect();
    Ok((concat(c, outs, 0, dt)?, h, cs))
}

pub fn gru(c: &mut Ctx) -> RuleResult {
    recurrent(c, Rnn::Gru)
}

pub fn lstm(c: &mut Ctx) -> RuleResult {
    recurrent(c, Rnn::Lstm)
}

fn tensor_list(c: &Ctx, name: &str) -> Result<Vec<crate::value::TensorValue>, String> {
    match c.arg(name)? {
        Value::List(v) | Value::Tuple(v) => v
            .iter()
            .map(|p| {
                p.as_tensor()
                    .cloned()
                    .ok_or_else(|| format!("{name} must be tensors"))
            })
            .collect(),
        _ => Err(format!("{name} must be a list of tensors")),
    }
}

fn recurrent(c: &mut Ctx, kind: Rnn) -> RuleResult {
    let what = if kind == Rnn::Gru { "GRU" } else { "LSTM" };
    let out = c.out_dtype(0)?;
    let has_biases = c.bool("has_biases")?;
    let layers = c.int("num_layers")?;
    let bidir = c.bool("bidirectional")?;
    let batch_first = c.bool("batch_first")?;
    if c.bool("train")? && c.float("dropout")? > 0.0 {
        return Err(format!(
            "{what} with dropout in training mode; fix: call model.eval()"
        ));
    }
    let params = tensor_list(c, "params")?;
    let dirs: i64 = if bidir { 2 } else { 1 };
    let per_cell = if has_biases { 4 } else { 2 };
    if params.len() as i64 != layers * dirs * per_cell {
        return Err(format!(
            "{} {what} parameters for {layers} layer(s) x {dirs} direction(s); projections (proj_size) are not supported",
            params.len()
        ));
    }
    // Batch and feature dims may be dynamic; the step count is unrolled (below).
    let in_dims = c.in_dims("input")?;
    let in_shape = c.tensor_value("input")?.tensor.size();
    let batched = in_shape.len() == 3;
    // GRU: hx is h0; LSTM: hx is [h0, c0].
    let (mut h0, mut c0) = match kind {
        Rnn::Gru => (c.tensor_as("hx", out)?, None),
        Rnn::Lstm => {
            let hx = tensor_list(c, "hx")?;
            let [h, cc] = hx.as_slice() else {
                return Err("LSTM hx must be (h0, c0)".into());
            };
            let h = c.port(h)?;
            let cc = c.port(cc)?;
            (c.cast(h, out)?, Some(c.cast(cc, out)?))
        }
    };
    // W_hh is [gates·H, H].
    let hidden = *params[1]
        .tensor
        .size()
        .last()
        .ok_or("the recurrent weight must be 2-D")?;
    let mut x = c.tensor_as("input", out)?;
    if !batched {
        x = unsqueeze(c, x, vec![1], out)?;
        h0 = unsqueeze(c, h0, vec![1], out)?;
        c0 = c0.map(|p| unsqueeze(c, p, vec![1], out)).transpose()?;
    } else if batch_first {
        let perm = c.const_i64(&[1, 0, 2])?;
        x = c.op1("Transpose", vec![In::P(x), In::P(perm)], vec![], out)?;
    }
    let feature_axis = in_shape.len() - 1;
    if in_dims[feature_axis].is_none() {
        // PyTorch requires input.size(-1) == input_size (W_ih is [gates·H, input_size]); a
        // traced module lost that check, so the dim is pinned here.
        c.assumptions.push(format!(
            "the {what}'s input has input_size = {} features",
            in_shape[feature_axis]
        ));
    }
    let seq_axis = usize::from(batched && batch_first);
    let steps = in_shape[seq_axis];
    if in_dims[seq_axis].is_none() {
        // The graph holds one group of ops per step, so a dynamic sequence length is pinned
        // (as dynamo specialises a Python loop over it); the batch dim stays dynamic.
        c.assumptions.push(format!(
            "the {what} is unrolled over the {steps} steps of its sequence dim"
        ));
    }
    let (mut h_finals, mut c_finals) = (vec![], vec![]);
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
            let h = c.slice_axis(h0, 0, idx, idx + 1, out)?;
            let cs = c0
                .map(|p| c.slice_axis(p, 0, idx, idx + 1, out))
                .transpose()?;
            let (seq, h_n, c_n) =
                run_direction(c, kind, x, steps, hidden, &cell, (h, cs), d == 1, out)?;
            seqs.push(seq);
            h_finals.push(h_n);
            c_finals.extend(c_n);
        }
        x = concat(c, seqs, 2, out)?;
    }
    let mut states = vec![concat(c, h_finals, 0, out)?];
    if kind == Rnn::Lstm {
        states.push(concat(c, c_finals, 0, out)?);
    }
    if !batched {
        x = squeeze(c, x, vec![1], out)?;
        for s in &mut states {
            *s = squeeze(c, *s, vec![1], out)?;
        }
    } else if batch_first {
        let perm = c.const_i64(&[1, 0, 2])?;
        x = c.op1("Transpose", vec![In::P(x), In::P(perm)], vec![], out)?;
    }
    let mut res = vec![x];
    res.extend(states);
    Ok(res)
}
