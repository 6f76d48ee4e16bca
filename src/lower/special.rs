//! Special functions: lgamma, digamma, polygamma and mvlgamma composed from elementwise ops
//! (GE has no prototype for them), and the ones CANN has: Igamma, Igammac, Erfinv, NextAfter,
//! BesselI0e (i0 = BesselI0e · exp|x|).
//!
//! The gamma family: for z > 0, the recurrence shifts z by `SHIFT` (ψ(z) = ψ(z + N) − Σ 1/(z + k),
//! likewise for lgamma and the polygammas), then the asymptotic (Stirling) series at z + N ≥ N,
//! whose first omitted term is below f32's resolution there; for x < 0, the reflection formulas
//! (lgamma(x) = log(π / |sin πx|) − lgamma(1 − x); ψ⁽ⁿ⁾(x) = (−1)ⁿ ψ⁽ⁿ⁾(1 − x) − πⁿ⁺¹ Pₙ(cot πx)
//! with Pₙ the n-th derivative polynomial of cot), with πx reduced to (−π/2, π/2] first.
use super::{Ctx, RuleResult, Rules};
use crate::dtype::DType;
use crate::ge::In;
use crate::value::Port;

/// How far the recurrence shifts a positive argument before the asymptotic series.
const SHIFT: i64 = 10;
/// Polygamma orders the series below is accurate for (in f32, at z + SHIFT ≥ SHIFT).
const MAX_ORDER: i64 = 8;

pub fn register(r: &mut Rules) {
    r.add(
        "aten::lgamma",
        lgamma_rule,
        "composed (no GE prototype): z = x<0 ? 1−x : x; Stirling series at z + 10 minus Σ Log(z + k), k < 10; x<0: Log(π) − Log|Sin(π·(x − Round(x)))| − that; f32 (f64 kept)",
    );
    r.add(
        "aten::digamma",
        |c| polygamma_rule(c, Some(0)),
        "composed (no GE prototype): asymptotic series at z + 10 minus Σ Reciprocal(z + k), k < 10, z = x<0 ? 1−x : x; x<0: reflection −π·cot(π·(x − Round(x))); negative integers: NaN",
    );
    r.add(
        "aten::polygamma",
        |c| polygamma_rule(c, None),
        "composed (no GE prototype): n = 0 as digamma; n ≥ 1: (−1)ⁿ⁺¹ n! (Σ Pow(z + k, −n−1), k < 10, + the asymptotic series at z + 10), z = x<0 ? 1−x : x; x<0: reflection through the n-th derivative polynomial of cot; n ≤ 8",
    );
    r.add(
        "aten::mvlgamma",
        mvlgamma_rule,
        "p(p−1)/4·log π + Σ lgamma(x − j/2), j < p (lgamma composed as aten::lgamma)",
    );
    r.add(
        "aten::igamma",
        |c| via_ge(c, "Igamma", &["self", "other"]),
        "Igamma(⇑f32 self, ⇑f32 other) (a, x)",
    );
    r.add(
        "aten::igammac",
        |c| via_ge(c, "Igammac", &["self", "other"]),
        "Igammac(⇑f32 self, ⇑f32 other) (a, x)",
    );
    r.add(
        "aten::erfinv",
        |c| via_ge(c, "Erfinv", &["self"]),
        "Erfinv(⇑f32 x)",
    );
    r.add(
        "aten::nextafter",
        |c| via_ge(c, "NextAfter", &["self", "other"]),
        "NextAfter(x1, x2) in the result dtype (FLOAT/DOUBLE)",
    );
    r.add(
        "aten::special_i0e",
        |c| via_ge(c, "BesselI0e", &["self"]),
        "BesselI0e(⇑f32 x)",
    );
    r.add("aten::i0", i0_rule, "Mul(BesselI0e(x), Exp(Abs(x)))");
    r.add(
        "aten::special_modified_bessel_i0",
        i0_rule,
        "Mul(BesselI0e(x), Exp(Abs(x)))",
    );
}

/// The dtype the composition runs in: f64 stays, other floats (and integer inputs) use f32.
fn work_of(out: DType) -> DType {
    if out == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// One GE op on the inputs cast to the work dtype, cast back to the result's. NextAfter is
/// exact per dtype, so it runs in the result dtype itself (FLOAT or DOUBLE).
fn via_ge(c: &mut Ctx, ty: &str, inputs: &[&str]) -> RuleResult {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err(format!(
            "{} with a {} result (GE's {ty} takes floats); fix: cast to float first",
            c.node.op_name(),
            out.name()
        ));
    }
    let w = match ty {
        "NextAfter" if !matches!(out, DType::F32 | DType::F64) => {
            return Err(format!(
                "nextafter of {} values: GE's NextAfter takes FLOAT and DOUBLE only; fix: cast to float32",
                out.name()
            ))
        }
        "NextAfter" => out,
        "Erfinv" => DType::F32,
        _ => work_of(out),
    };
    let mut ins = vec![];
    for name in inputs {
        let p = c.operand(name, out)?;
        ins.push(In::P(c.cast(p, w)?));
    }
    let y = c.op1(ty, ins, vec![], w)?;
    Ok(vec![c.cast(y, out)?])
}

fn i0_rule(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let w = work_of(out);
    let x = c.tensor_as("self", w)?;
    let e = c.un("BesselI0e", x, w)?;
    let a = c.un("Abs", x, w)?;
    let ex = c.un("Exp", a, w)?;
    let y = c.bin("Mul", e, ex, w)?;
    Ok(vec![c.cast(y, out)?])
}

/// Small graph-building helpers for the compositions, all in one dtype.
struct G<'c, 'a> {
    c: &'c mut Ctx<'a>,
    dt: DType,
}

impl G<'_, '_> {
    fn k(&mut self, v: f64) -> Result<Port, String> {
        self.c.scalar(v, self.dt)
    }
    fn bin(&mut self, ty: &str, a: Port, b: Port) -> Result<Port, String> {
        self.c.bin(ty, a, b, self.dt)
    }
    fn un(&mut self, ty: &str, a: Port) -> Result<Port, String> {
        self.c.un(ty, a, self.dt)
    }
    fn add_k(&mut self, a: Port, v: f64) -> Result<Port, String> {
        let k = self.k(v)?;
        self.bin("Add", a, k)
    }
    fn mul_k(&mut self, a: Port, v: f64) -> Result<Port, String> {
        let k = self.k(v)?;
        self.bin("Mul", a, k)
    }
    /// Σ coef[i] · t^i by Horner's rule.
    fn poly(&mut self, t: Port, coef: &[f64]) -> Result<Port, String> {
        let mut acc = self.k(*coef.last().unwrap_or(&0.0))?;
        for &a in coef.iter().rev().skip(1) {
            acc = self.bin("Mul", acc, t)?;
            acc = self.add_k(acc, a)?;
        }
        Ok(acc)
    }
    fn select(&mut self, cond: Port, a: Port, b: Port) -> Result<Port, String> {
        self.c.op1(
            "SelectV2",
            vec![In::P(cond), In::P(a), In::P(b)],
            vec![],
            self.dt,
        )
    }
    fn less_k(&mut self, a: Port, v: f64) -> Result<Port, String> {
        let k = self.k(v)?;
        self.c.bin("Less", a, k, DType::Bool)
    }
    /// x − Round(x): in [−½, ½], the same value of sin/cot(π·) up to sign (period 1 for cot,
    /// 2 for sin: only |sin| is used).
    fn reduced(&mut self, x: Port) -> Result<Port, String> {
        let r = self.un("Round", x)?;
        self.bin("Sub", x, r)
    }
    /// z = x < 0 ? 1 − x : x, and the x < 0 mask.
    fn reflect_arg(&mut self, x: Port) -> Result<(Port, Port), String> {
        let neg = self.less_k(x, 0.0)?;
        let one = self.k(1.0)?;
        let omx = self.bin("Sub", one, x)?;
        let z = self.select(neg, omx, x)?;
        Ok((z, neg))
    }

    /// lgamma(z) for z > 0: the Stirling series at y = z + SHIFT, minus Σ log(z + k).
    fn lgamma_pos(&mut self, z: Port) -> Result<Port, String> {
        let y = self.add_k(z, SHIFT as f64)?;
        let ly = self.un("Log", y)?;
        let ym = self.add_k(y, -0.5)?;
        let a = self.bin("Mul", ym, ly)?;
        let a = self.bin("Sub", a, y)?;
        let a = self.add_k(a, 0.5 * (2.0 * std::f64::consts::PI).ln())?;
        let t = self.un("Reciprocal", y)?;
        let t2 = self.bin("Mul", t, t)?;
        let s = self.poly(t2, &[1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0])?;
        let s = self.bin("Mul", s, t)?;
        let mut acc = self.bin("Add", a, s)?;
        for k in 0..SHIFT {
            let zk = self.add_k(z, k as f64)?;
            let l = self.un("Log", zk)?;
            acc = self.bin("Sub", acc, l)?;
        }
        Ok(acc)
    }

    fn lgamma(&mut self, x: Port) -> Result<Port, String> {
        let (z, neg) = self.reflect_arg(x)?;
        let pos = self.lgamma_pos(z)?;
        // x < 0: log(π / |sin πx|) − lgamma(1 − x).
        let r = self.reduced(x)?;
        let pr = self.mul_k(r, std::f64::consts::PI)?;
        let s = self.un("Sin", pr)?;
        let s = self.un("Abs", s)?;
        let ls = self.un("Log", s)?;
        let lp = self.k(std::f64::consts::PI.ln())?;
        let refl = self.bin("Sub", lp, ls)?;
        let refl = self.bin("Sub", refl, pos)?;
        let y = self.select(neg, refl, pos)?;
        // ATen: lgamma(±inf) = +inf (the series gives inf − inf there).
        let a = self.un("Abs", x)?;
        let inf = self.k(f64::INFINITY)?;
        let is_inf = self.c.bin("Equal", a, inf, DType::Bool)?;
        self.select(is_inf, inf, y)
    }

    /// ψ⁽ⁿ⁾(z) for z > 0 (n = 0: digamma).
    fn polygamma_pos(&mut self, n: i64, z: Port) -> Result<Port, String> {
        let y = self.add_k(z, SHIFT as f64)?;
        let t = self.un("Reciprocal", y)?;
        let t2 = self.bin("Mul", t, t)?;
        // Bernoulli numbers B2..B12.
        let b = [
            1.0 / 6.0,
            -1.0 / 30.0,
            1.0 / 42.0,
            -1.0 / 30.0,
            5.0 / 66.0,
            -691.0 / 2730.0,
        ];
        if n == 0 {
            // ψ(y) = log y − 1/(2y) − Σ B2k / (2k y^2k).
            let coef: Vec<f64> = b
                .iter()
                .enumerate()
                .map(|(i, bk)| -bk / (2.0 * (i as f64 + 1.0)))
                .collect();
            let s = self.poly(t2, &coef)?;
            let s = self.bin("Mul", s, t2)?;
            let ly = self.un("Log", y)?;
            let h = self.mul_k(t, -0.5)?;
            let mut acc = self.bin("Add", ly, h)?;
            acc = self.bin("Add", acc, s)?;
            for k in 0..SHIFT {
                let zk = self.add_k(z, k as f64)?;
                let r = self.un("Reciprocal", zk)?;
                acc = self.bin("Sub", acc, r)?;
            }
            return Ok(acc);
        }
        // ψ⁽ⁿ⁾(y) = (−1)ⁿ⁺¹ [ (n−1)!/yⁿ + n!/(2yⁿ⁺¹) + Σ B2k (2k+n−1)!/(2k)! / y^(2k+n) ].
        let fact = |m: i64| (1..=m).map(|i| i as f64).product::<f64>();
        let nf = n as f64;
        let mut coef = vec![fact(n - 1), fact(n) / 2.0];
        for (i, bk) in b.iter().enumerate() {
            let k2 = 2 * (i as i64 + 1);
            // the term of t^(2k) inside the bracket times t^n.
            let v = bk * fact(k2 + n - 1) / fact(k2);
            while coef.len() < k2 as usize {
                coef.push(0.0);
            }
            coef.push(v);
        }
        let s = self.poly(t, &coef)?;
        let tn = self.pow_k(t, nf)?;
        let mut acc = self.bin("Mul", s, tn)?;
        // + n! Σ (z + k)^−(n+1)
        let mut sum: Option<Port> = None;
        for k in 0..SHIFT {
            let zk = self.add_k(z, k as f64)?;
            let r = self.un("Reciprocal", zk)?;
            let p = self.pow_k(r, nf + 1.0)?;
            sum = Some(match sum {
                None => p,
                Some(a) => self.bin("Add", a, p)?,
            });
        }
        let sum = sum.ok_or("internal: empty recurrence")?;
        let sum = self.mul_k(sum, fact(n))?;
        acc = self.bin("Add", acc, sum)?;
        if n % 2 == 0 {
            acc = self.mul_k(acc, -1.0)?;
        }
        Ok(acc)
    }

    /// `a^e` for a small integer `e` by repeated Mul.
    fn pow_k(&mut self, a: Port, e: f64) -> Result<Port, String> {
        let mut p = a;
        for _ in 1..(e as i64) {
            p = self.bin("Mul", p, a)?;
        }
        Ok(p)
    }

    fn polygamma(&mut self, n: i64, x: Port) -> Result<Port, String> {
        let (z, neg) = self.reflect_arg(x)?;
        let pos = self.polygamma_pos(n, z)?;
        // x < 0: (−1)ⁿ ψ⁽ⁿ⁾(1 − x) − πⁿ⁺¹ Pₙ(cot πx).
        let p = if n == 1 {
            // π²/sin²(πx) with πx not reduced, as ATen's float trigamma computes it (its result
            // carries that rounding, up to 1e-4 relative near the poles).
            let pr = self.mul_k(x, std::f64::consts::PI)?;
            let s = self.un("Sin", pr)?;
            let s2 = self.bin("Mul", s, s)?;
            let one = self.k(-1.0)?;
            self.bin("RealDiv", one, s2)?
        } else {
            let r = self.reduced(x)?;
            let pr = self.mul_k(r, std::f64::consts::PI)?;
            let s = self.un("Sin", pr)?;
            let co = self.un("Cos", pr)?;
            let cot = self.bin("RealDiv", co, s)?;
            self.poly(cot, &cot_derivative(n))?
        };
        let p = self.mul_k(p, std::f64::consts::PI.powi(n as i32 + 1))?;
        let first = if n % 2 == 0 {
            pos
        } else {
            self.mul_k(pos, -1.0)?
        };
        let refl = self.bin("Sub", first, p)?;
        let mut y = self.select(neg, refl, pos)?;
        if n == 0 {
            // ATen: digamma of a negative integer is NaN (and of ±0, ∓inf).
            let f = self.un("Floor", x)?;
            let int = self.c.bin("Equal", x, f, DType::Bool)?;
            let bad = self.c.bin("LogicalAnd", int, neg, DType::Bool)?;
            let nan = self.k(f64::NAN)?;
            y = self.select(bad, nan, y)?;
            // ψ(±0) = ∓inf: −1/x keeps the zero's sign.
            let zero = self.k(0.0)?;
            let is_zero = self.c.bin("Equal", x, zero, DType::Bool)?;
            let r = self.un("Reciprocal", x)?;
            let r = self.mul_k(r, -1.0)?;
            y = self.select(is_zero, r, y)?;
        } else if n >= 2 {
            // ATen computes these as ±n!·ζ(n + 1, x): NaN at +inf, and ζ's pole (+inf) at −inf.
            let pinf = self.k(f64::INFINITY)?;
            let at_pinf = self.c.bin("Equal", x, pinf, DType::Bool)?;
            let nan = self.k(f64::NAN)?;
            y = self.select(at_pinf, nan, y)?;
            let minf = self.k(f64::NEG_INFINITY)?;
            let at_minf = self.c.bin("Equal", x, minf, DType::Bool)?;
            let pole = self.k(if n % 2 == 1 {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            })?;
            y = self.select(at_minf, pole, y)?;
        }
        Ok(y)
    }
}

/// Coefficients of Pₙ with dⁿ/dxⁿ cot(x) = Pₙ(cot x): P₀ = c, Pₙ₊₁ = −(1 + c²)·Pₙ'.
fn cot_derivative(n: i64) -> Vec<f64> {
    let mut p = vec![0.0, 1.0];
    for _ in 0..n {
        let d: Vec<f64> = p
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, a)| i as f64 * a)
            .collect();
        let mut q = vec![0.0; d.len() + 2];
        for (i, a) in d.iter().enumerate() {
            q[i] -= a;
            q[i + 2] -= a;
        }
        p = q;
    }
    p
}

fn gamma_work(c: &Ctx) -> Result<(DType, DType), String> {
    let out = c.out_dtype(0)?;
    if !out.is_float() {
        return Err(format!(
            "{} with a {} result; fix: cast the input to float32",
            c.node.op_name(),
            out.name()
        ));
    }
    Ok((out, work_of(out)))
}

fn lgamma_rule(c: &mut Ctx) -> RuleResult {
    let (out, w) = gamma_work(c)?;
    let x = c.tensor_as("self", w)?;
    let y = G { c, dt: w }.lgamma(x)?;
    Ok(vec![c.cast(y, out)?])
}

fn polygamma_rule(c: &mut Ctx, n: Option<i64>) -> RuleResult {
    let n = match n {
        Some(n) => n,
        None => c.int("n")?,
    };
    if !(0..=MAX_ORDER).contains(&n) {
        return Err(format!(
            "polygamma of order {n}: torch2air composes orders 0..={MAX_ORDER} (GE has no polygamma op)"
        ));
    }
    let (out, w) = gamma_work(c)?;
    let x = c.tensor_as("self", w)?;
    let y = G { c, dt: w }.polygamma(n, x)?;
    Ok(vec![c.cast(y, out)?])
}

fn mvlgamma_rule(c: &mut Ctx) -> RuleResult {
    let p = c.int("p")?;
    if p < 1 {
        return Err(format!("mvlgamma with p = {p}: p must be at least 1"));
    }
    let (out, w) = gamma_work(c)?;
    let x = c.tensor_as("self", w)?;
    let mut g = G { c, dt: w };
    let mut acc = None;
    for j in 0..p {
        let xj = g.add_k(x, -(j as f64) / 2.0)?;
        let l = g.lgamma(xj)?;
        acc = Some(match acc {
            None => l,
            Some(a) => g.bin("Add", a, l)?,
        });
    }
    let acc = acc.ok_or("internal: mvlgamma of no terms")?;
    let k = (p * (p - 1)) as f64 / 4.0 * std::f64::consts::PI.ln();
    let y = g.add_k(acc, k)?;
    Ok(vec![c.cast(y, out)?])
}
