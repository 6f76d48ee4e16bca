//! Histogram, Pdist, Renorm and LinSpace: statistics and distances with libtorch's own kernels.
use super::{tc, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("Histogram", histogram);
    m.insert("Pdist", pdist);
    m.insert("Renorm", renorm);
    m.insert("LinSpace", linspace);
}

fn float_input<'a>(c: &'a KCtx, kinds: &[Kind], names: &str) -> Result<&'a Tensor, String> {
    let x = c.input("x")?;
    if !kinds.contains(&x.kind()) {
        return Err(format!("x must be {names}, got {:?}", x.kind()));
    }
    Ok(x)
}

/// `bins` equal-width bins over [min, max] (both 0: the data's own range), values outside
/// ignored: counts as FLOAT (INT32 for an INT32 x).
fn histogram(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = float_input(
        c,
        &[Kind::Float, Kind::Half, Kind::Int],
        "FLOAT16/FLOAT/INT32",
    )?;
    let bins = c.int("bins")?;
    if bins <= 0 {
        return Err(format!("bins must be positive, got {bins}"));
    }
    let (lo, hi) = (c.float("min")?, c.float("max")?);
    if lo > hi {
        return Err(format!("min {lo} is above max {hi}"));
    }
    let xf = x.to_kind(Kind::Float).flatten(0, -1);
    let y = if lo == 0.0 && hi == 0.0 {
        tc(xf.f_histc(bins))?
    } else {
        // libtorch's histc through tch takes no range: the values inside [lo, hi] with lo and
        // hi themselves added span exactly that range; their two counts are taken off again.
        let (lo, hi) = if lo == hi {
            (lo - 1.0, hi + 1.0)
        } else {
            (lo, hi)
        };
        let inside = xf.ge(lo).logical_and(&xf.le(hi));
        let kept = xf.masked_select(&inside);
        let ends = Tensor::from_slice(&[lo as f32, hi as f32]);
        let y = tc(Tensor::cat(&[kept, ends], 0).f_histc(bins))?;
        let mut added = vec![0f32; bins as usize];
        added[0] += 1.0;
        added[bins as usize - 1] += 1.0;
        y - Tensor::from_slice(&added)
    };
    Ok(vec![if x.kind() == Kind::Int {
        y.to_kind(Kind::Int)
    } else {
        y
    }])
}

/// The p-norm distance between each pair of rows of a 2-D x, in row-major pair order.
fn pdist(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = float_input(c, &[Kind::Float, Kind::Half], "FLOAT/FLOAT16")?;
    if x.dim() != 2 {
        return Err(format!("x must be 2-D, got {:?}", x.size()));
    }
    let p = c.float("p")?;
    if p < 0.0 {
        return Err(format!("p must be ≥ 0, got {p}"));
    }
    Ok(vec![tc(x.f_pdist(p))?])
}

/// Each slice along `dim` whose p-norm exceeds maxnorm scaled down to maxnorm.
fn renorm(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = float_input(
        c,
        &[Kind::Float, Kind::Half, Kind::BFloat16, Kind::Double],
        "a float type",
    )?;
    let rank = x.dim() as i64;
    let dim = super::norm_dim(c.int("dim")?, rank);
    if dim < 0 || dim >= rank.max(1) {
        return Err(format!(
            "dim {} out of range for rank {rank}",
            c.int("dim")?
        ));
    }
    let (p, maxnorm) = (c.float("p")?, c.float("maxnorm")?);
    if p <= 0.0 || maxnorm < 0.0 {
        return Err(format!(
            "p ({p}) must be positive and maxnorm ({maxnorm}) not negative"
        ));
    }
    Ok(vec![tc(x.f_renorm(p, dim, maxnorm))?])
}

/// `num` evenly spaced values from start to stop (0-D floats of one dtype; num an INT32/INT64).
fn linspace(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (s, e, n) = (c.input("start")?, c.input("stop")?, c.input("num")?);
    super::same_dtype(s, e)?;
    if !matches!(s.kind(), Kind::Float | Kind::Double) {
        return Err(format!("start must be FLOAT/DOUBLE, got {:?}", s.kind()));
    }
    if s.numel() != 1 || e.numel() != 1 || n.numel() != 1 {
        return Err("start, stop and num must hold one value each".into());
    }
    let num = super::int_values(n)?[0];
    if num < 0 {
        return Err(format!("num must not be negative, got {num}"));
    }
    let opts = (s.kind(), tch::Device::Cpu);
    Ok(vec![tc(Tensor::f_linspace(
        s.double_value(&[]),
        e.double_value(&[]),
        num,
        opts,
    ))?])
}
