//! Special functions with CANN prototypes: `Igamma`, `Igammac`, `Erfinv`, `NextAfter`,
//! `BesselI0e`.
use super::{same_dtype, tc, KCtx, Kernel};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("Igamma", |c| gamma_inc(c, false));
    m.insert("Igammac", |c| gamma_inc(c, true));
    m.insert("Erfinv", erfinv);
    m.insert("NextAfter", next_after);
    m.insert("BesselI0e", bessel_i0e);
}

fn kinds(t: &Tensor, ok: &[Kind], what: &str) -> Result<(), String> {
    if ok.contains(&t.kind()) {
        Ok(())
    } else {
        Err(format!("{what} takes {ok:?}, got {:?}", t.kind()))
    }
}

/// The regularized lower (`Igamma`) or upper (`Igammac`) incomplete gamma function of (a, x);
/// the two broadcast.
fn gamma_inc(c: &KCtx, upper: bool) -> Result<Vec<Tensor>, String> {
    let (a, x) = (c.input("a")?, c.input("x")?);
    same_dtype(a, x)?;
    kinds(a, &[Kind::Float, Kind::Double], "a")?;
    Ok(vec![if upper {
        tc(a.f_igammac(x))?
    } else {
        tc(a.f_igamma(x))?
    }])
}

fn erfinv(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("input_x")?;
    kinds(x, &[Kind::Float, Kind::Half], "input_x")?;
    Ok(vec![tc(x.f_erfinv())?])
}

/// The next representable value after x1 towards x2, in their dtype.
fn next_after(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let (a, b) = (c.input("x1")?, c.input("x2")?);
    same_dtype(a, b)?;
    kinds(a, &[Kind::Float, Kind::Double], "x1")?;
    Ok(vec![tc(a.f_nextafter(b))?])
}

/// Exponentially scaled modified Bessel function of order 0: exp(−|x|)·I0(x).
fn bessel_i0e(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let x = c.input("x")?;
    kinds(x, &[Kind::Double, Kind::Float, Kind::Half], "x")?;
    Ok(vec![tc(x.f_special_i0e())?])
}
