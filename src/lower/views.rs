//! Strided views by element positions: `as_strided` (AsStrided), `unfold`, the `*_scatter` ops
//! (a copy of self with one of its views overwritten), `diag_embed`/`diagflat` and `trace`.
//! The positions a view reads are computed at export, by applying libtorch's own view op to an
//! `arange` of the input's static shape, so the rules need static shapes (a dynamic dim is
//! refused with the usual "needs the static shape" error).
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::In;
use crate::value::Port;
use tch::{Kind, Tensor};

pub fn register(r: &mut Rules) {
    r.add(
        "aten::as_strided",
        as_strided,
        "AsStrided(x, size=K64(size), stride=K64(stride), storage_offset=K64(offset or 0)) (self must be contiguous; positions beyond self are refused)",
    );
    r.add("aten::as_strided_copy", as_strided, "as aten::as_strided");
    r.add(
        "aten::as_strided_scatter",
        |c| scatter_view(c, View::AsStrided),
        SCATTER,
    );
    r.add(
        "aten::diagonal_scatter",
        |c| scatter_view(c, View::Diagonal),
        SCATTER,
    );
    r.add(
        "aten::select_scatter",
        |c| scatter_view(c, View::Select),
        SCATTER,
    );
    r.add(
        "aten::slice_scatter",
        |c| scatter_view(c, View::Slice),
        SCATTER,
    );
    r.add(
        "aten::diag_embed",
        diag_embed,
        "Reshape(TensorScatterUpdate(Fill(K64([numel of out]), 0), K64(diagonal positions of out), Reshape(⇑out self, [-1])), K64(out shape))",
    );
    r.add(
        "aten::diagflat",
        diag_embed,
        "as aten::diag_embed on Reshape(self, [-1]) (2-D result)",
    );
    r.add(
        "aten::unfold",
        unfold,
        "GatherV2(Reshape(x, K64([-1])), K64(the window positions of x.unfold(dim, size, step)), axis=K64(0))",
    );
    r.add("aten::trace", trace, "Trace(⇑out x) (2-D)");
}

const SCATTER: &str = "Reshape(TensorScatterUpdate(Reshape(⇑out self, K64([-1])), K64(positions of the view in self, [n, 1]), Reshape(⇑out src, K64([-1]))), K64(self shape)); positions from the view op applied to an arange of self's shape";

/// `arange(numel)` in `shape`: each element holds its own flat position.
fn positions(shape: &[i64]) -> Tensor {
    let n: i64 = shape.iter().product();
    Tensor::arange(n, (Kind::Int64, tch::Device::Cpu)).reshape(shape)
}

/// The elements of `x` (flattened) at the positions `pos` hold: a tensor of `pos`'s shape.
fn gather_at(c: &mut Ctx, x: Port, pos: &Tensor, dt: DType) -> Result<Port, String> {
    let flat = c.reshape_const(x, &[-1], dt)?;
    let idx = c.b.constant(&pos.contiguous(), "view positions")?;
    let axis = c.scalar_i64(0)?;
    c.op1(
        "GatherV2",
        vec![In::P(flat), In::P(idx), In::P(axis)],
        vec![],
        dt,
    )
}

/// `x` (of `shape`) with the elements at the positions `pos` holds replaced by `src`'s, in
/// order.
fn scatter_at(
    c: &mut Ctx,
    x: Port,
    shape: &[i64],
    pos: &Tensor,
    src: Port,
    dt: DType,
) -> Result<Port, String> {
    let flat = c.reshape_const(x, &[-1], dt)?;
    let idx =
        c.b.constant(&pos.reshape([-1, 1]).contiguous(), "view positions")?;
    let upd = c.reshape_const(src, &[-1], dt)?;
    let y = c.op1(
        "TensorScatterUpdate",
        vec![In::P(flat), In::P(idx), In::P(upd)],
        vec![],
        dt,
    )?;
    c.reshape_const(y, shape, dt)
}

/// An optional int argument.
fn opt_int(c: &Ctx, name: &str) -> Result<Option<i64>, String> {
    if !c.has(name) {
        return Ok(None);
    }
    c.int(name).map(Some)
}

fn as_strided(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    let concrete = &c.tensor_value("self")?.tensor;
    if !concrete.is_contiguous() || concrete.storage_offset() != 0 {
        return Err(format!(
            "{} of a view (a tensor that is not contiguous or starts inside its storage) reads memory the graph does not hold; fix: call .contiguous() before it",
            c.node.op_name()
        ));
    }
    let size = c.ints("size")?;
    let stride = c.ints("stride")?;
    let offset = opt_int(c, "storage_offset")?.unwrap_or(0);
    let pos = positions(&[shape.iter().product()]);
    let view = pos
        .f_as_strided(size.as_slice(), stride.as_slice(), offset)
        .map_err(|e| {
            format!(
                "as_strided: {}",
                crate::load::short_torch_message(&e.to_string())
            )
        })?;
    let n = pos.numel() as i64;
    if view.numel() > 0 && (view.min().int64_value(&[]) < 0 || view.max().int64_value(&[]) >= n) {
        return Err(format!(
            "as_strided(size={size:?}, stride={stride:?}, storage_offset={offset}) reads beyond the {n} elements of self; fix: view a tensor that holds them"
        ));
    }
    let x = c.tensor_as("self", out)?;
    let s = c.const_i64(&size)?;
    let st = c.const_i64(&stride)?;
    let o = c.scalar_i64(offset)?;
    Ok(vec![c.op1(
        "AsStrided",
        vec![In::P(x), In::P(s), In::P(st), In::P(o)],
        vec![],
        out,
    )?])
}

#[derive(Clone, Copy)]
enum View {
    AsStrided,
    Diagonal,
    Select,
    Slice,
}

/// The positions (in self of `shape`) that the op's view of self covers.
fn view_positions(c: &Ctx, view: View, shape: &[i64]) -> Result<Tensor, String> {
    let pos = positions(shape);
    let r = match view {
        View::AsStrided => {
            let size = c.ints("size")?;
            let stride = c.ints("stride")?;
            let offset = opt_int(c, "storage_offset")?.unwrap_or(0);
            pos.reshape([-1])
                .f_as_strided(size.as_slice(), stride.as_slice(), offset)
        }
        View::Diagonal => pos.f_diagonal(c.int("offset")?, c.int("dim1")?, c.int("dim2")?),
        View::Select => pos.f_select(c.int("dim")?, c.int("index")?),
        View::Slice => pos.f_slice(
            c.int("dim")?,
            opt_int(c, "start")?,
            opt_int(c, "end")?,
            c.int("step")?,
        ),
    };
    let v = r.map_err(|e| {
        format!(
            "{}: {}",
            c.node.op_name(),
            crate::load::short_torch_message(&e.to_string())
        )
    })?;
    let n = pos.numel() as i64;
    if v.numel() > 0 && (v.min().int64_value(&[]) < 0 || v.max().int64_value(&[]) >= n) {
        return Err(format!(
            "{}: the view reaches beyond self's {n} elements",
            c.node.op_name()
        ));
    }
    Ok(v)
}

fn scatter_view(c: &mut Ctx, view: View) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    let pos = view_positions(c, view, &shape)?;
    let src_shape = c.in_shape("src")?;
    if src_shape != pos.size() {
        return Err(format!(
            "{}: src has shape {src_shape:?} but the view it is written to has {:?}",
            c.node.op_name(),
            pos.size()
        ));
    }
    let x = c.tensor_as("self", out)?;
    let src = c.tensor_as("src", out)?;
    Ok(vec![scatter_at(c, x, &shape, &pos, src, out)?])
}

/// `diag_embed(self, offset, dim1, dim2)` and `diagflat(self, offset)`: zeros of the output's
/// shape with self written along the diagonal.
fn diag_embed(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let flat = c.node.op_name().starts_with("aten::diagflat");
    let in_shape = c.in_shape("self")?;
    let shape = c.out_shape(0)?;
    let offset = opt_int(c, "offset")?.unwrap_or(0);
    let pos = positions(&shape);
    let diag = if flat {
        pos.f_diagonal(offset, 0, 1)
    } else {
        pos.f_diagonal(offset, c.int("dim1")?, c.int("dim2")?)
    }
    .map_err(|e| crate::load::short_torch_message(&e.to_string()))?;
    let n: i64 = in_shape.iter().product();
    if diag.numel() as i64 != n {
        return Err(format!(
            "{}: the diagonal holds {} elements, self {n}",
            c.node.op_name(),
            diag.numel()
        ));
    }
    // diag_embed's diagonal (the last dim of the view) follows self's last dim; the view's
    // other dims follow self's leading ones, so both flatten in the same order.
    let total: i64 = shape.iter().product();
    let dims = c.const_i64(&[total])?;
    let zero = c.scalar(0.0, out)?;
    let zeros = c.op1("Fill", vec![In::P(dims), In::P(zero)], vec![], out)?;
    let x = c.tensor_as("self", out)?;
    Ok(vec![scatter_at(c, zeros, &shape, &diag, x, out)?])
}

fn unfold(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let shape = c.in_shape("self")?;
    let pos = positions(&shape)
        .f_unfold(c.int("dimension")?, c.int("size")?, c.int("step")?)
        .map_err(|e| {
            format!(
                "unfold: {}",
                crate::load::short_torch_message(&e.to_string())
            )
        })?;
    let x = c.tensor_as("self", out)?;
    if pos.numel() == 0 {
        let dims = c.const_i64(&pos.size())?;
        let zero = c.scalar(0.0, out)?;
        return Ok(vec![c.op1(
            "Fill",
            vec![In::P(dims), In::P(zero)],
            vec![],
            out,
        )?]);
    }
    Ok(vec![gather_at(c, x, &pos, out)?])
}

fn trace(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    if c.rank("self")? != 2 {
        return Err("trace takes a 2-D tensor".into());
    }
    if !matches!(out, DType::F32 | DType::F16 | DType::F64 | DType::I64) {
        return Err(format!("trace with a {out:?} result is not lowered"));
    }
    let x = c.tensor_as("self", out)?;
    Ok(vec![c.op1("Trace", vec![In::P(x)], vec![], out)?])
}
