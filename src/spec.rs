//! Sample-input SPECs (`--input`): how users describe the values forward is called with.
//!
//! Grammar:
//!   DTYPE[D0,D1,...]            random tensor: floats ~ N(0,1); ints in [0,10); bool fair coin
//!   DTYPE[D0,...]:LO..HI        random tensor with values in [LO, HI) (uniform; ints: integers)
//!   DTYPE[]                     0-d tensor
//!   bool:true | bool:false      a Python bool
//!   int:3                       a Python int
//!   float:0.5                   a Python float
//!   str:TEXT                    a Python str
//!   none                        None (for an Optional argument)
//!   PATH.npy                    a tensor read from a NumPy .npy file
//! DTYPE is one of f32 f16 bf16 f64 i64 i32 i16 i8 u8 bool.
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::value::{Origin, TensorValue, Value};
use npyz::WriterBuilder;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use std::path::Path;

pub const GRAMMAR: &str = "SPEC is one of: DTYPE[D0,D1,...] (random: floats N(0,1), ints in [0,10), bools); \
DTYPE[D0,...]:LO..HI (random in [LO,HI)); DTYPE[] (0-d); bool:true|false; int:N; float:X; str:TEXT; none; or a path to a .npy file. \
DTYPE: f32 f16 bf16 f64 i64 i32 i16 i8 u8 bool";

/// The largest random input a SPEC may ask for (2^28 elements: 1 GiB of f32).
pub const MAX_RANDOM_ELEMENTS: i64 = 1 << 28;

#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Random {
        dtype: DType,
        shape: Vec<i64>,
        range: Option<(f64, f64)>,
    },
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    None,
    Npy(String),
}

fn bad(s: &str, why: &str) -> Error {
    Error::Input(format!("malformed input SPEC '{s}': {why}. {GRAMMAR}"))
}

pub fn parse(s: &str) -> Result<Spec> {
    let t = s.trim();
    if t.ends_with(".npy") {
        return Ok(Spec::Npy(t.to_string()));
    }
    if let Some(v) = s.strip_prefix("str:") {
        return Ok(Spec::Str(v.to_string()));
    }
    if matches!(t, "none" | "None") {
        return Ok(Spec::None);
    }
    if let Some(v) = t.strip_prefix("bool:") {
        return match v {
            "true" | "True" | "1" => Ok(Spec::Bool(true)),
            "false" | "False" | "0" => Ok(Spec::Bool(false)),
            _ => Err(bad(s, "a bool is bool:true or bool:false")),
        };
    }
    if let Some(v) = t.strip_prefix("int:") {
        return v
            .parse()
            .map(Spec::Int)
            .map_err(|_| bad(s, "int:N needs a whole number"));
    }
    if let Some(v) = t.strip_prefix("float:") {
        return v
            .parse()
            .map(Spec::Float)
            .map_err(|_| bad(s, "float:X needs a number"));
    }
    let Some(open) = t.find('[') else {
        return Err(bad(
            s,
            "expected DTYPE[dims], bool:/int:/float:/str:, none or a .npy path",
        ));
    };
    let dname = &t[..open];
    let dtype =
        DType::from_name(dname).ok_or_else(|| bad(s, &format!("unknown dtype '{dname}'")))?;
    let close = t.find(']').ok_or_else(|| bad(s, "missing ']'"))?;
    let dims = &t[open + 1..close];
    let shape = if dims.trim().is_empty() {
        vec![]
    } else {
        dims.split(',')
            .map(|d| d.trim().parse::<i64>().ok().filter(|v| *v >= 0))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad(s, "dims must be non-negative whole numbers"))?
    };
    let elements = shape
        .iter()
        .try_fold(1i64, |n, d| n.checked_mul(*d))
        .filter(|n| *n <= MAX_RANDOM_ELEMENTS);
    if elements.is_none() {
        return Err(bad(
            s,
            &format!(
                "that is more than the {MAX_RANDOM_ELEMENTS} elements torch2air makes for a random input; \
                 fix: use smaller sizes, or pass the tensor as a .npy file"
            ),
        ));
    }
    let rest = &t[close + 1..];
    let range = if rest.is_empty() {
        None
    } else {
        let r = rest
            .strip_prefix(':')
            .ok_or_else(|| bad(s, "after ']' only ':LO..HI' may follow"))?;
        let (lo, hi) = r
            .split_once("..")
            .ok_or_else(|| bad(s, "a range is LO..HI"))?;
        let lo: f64 = lo
            .trim()
            .parse()
            .map_err(|_| bad(s, "range bounds must be numbers"))?;
        let hi: f64 = hi
            .trim()
            .parse()
            .map_err(|_| bad(s, "range bounds must be numbers"))?;
        check_range(dtype, lo, hi).map_err(|why| bad(s, &why))?;
        Some((lo, hi))
    };
    Ok(Spec::Random {
        dtype,
        shape,
        range,
    })
}

/// The values a dtype holds, as f64: (lowest, highest) (for floats, the largest finite values).
fn dtype_limits(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F32 => (f32::MIN as f64, f32::MAX as f64),
        DType::F16 => (half::f16::MIN.to_f64(), half::f16::MAX.to_f64()),
        DType::BF16 => (half::bf16::MIN.to_f64(), half::bf16::MAX.to_f64()),
        DType::F64 => (f64::MIN, f64::MAX),
        DType::I64 => (i64::MIN as f64, i64::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        DType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DType::I8 => (i8::MIN as f64, i8::MAX as f64),
        DType::U8 => (0.0, u8::MAX as f64),
        DType::Bool => (0.0, 1.0),
    }
}

/// A range LO..HI must be finite, non-empty and inside the dtype: values are never wrapped or
/// saturated into it.
fn check_range(dtype: DType, lo: f64, hi: f64) -> std::result::Result<(), String> {
    if !lo.is_finite() || !hi.is_finite() {
        return Err("range bounds must be finite numbers (not inf or nan)".into());
    }
    if hi <= lo {
        return Err("a range LO..HI needs LO < HI".into());
    }
    let (min, max) = dtype_limits(dtype);
    let name = dtype.name();
    if dtype.is_float() {
        if lo < min || hi > max || !(hi - lo).is_finite() {
            return Err(format!(
                "{lo}..{hi} is outside what {name} holds (or wider than it can span); fix: keep LO and HI within \
                 ±{max:e} and HI - LO within that too"
            ));
        }
    } else {
        // Integers are drawn from ceil(LO) .. ceil(HI) - 1.
        let (first, last) = (lo.ceil(), hi.ceil() - 1.0);
        if first > last {
            return Err(format!("{lo}..{hi} holds no whole number"));
        }
        if first < min || last > max {
            return Err(format!(
                "{lo}..{hi} is outside what {name} holds ({min}..={max}), and torch2air does not wrap values; \
                 fix: give a range within it, e.g. {name}[...]:{min}..{}",
                // i64's limits are not exact in f64: print them as whole numbers.
                if dtype == DType::I64 { i64::MAX.to_string() } else { (max + 1.0).to_string() }
            ));
        }
    }
    Ok(())
}

/// Makes the value a SPEC describes. `rng` is shared so that `--seed` covers all inputs.
pub fn make(spec: &Spec, rng: &mut rand::rngs::StdRng) -> Result<Value> {
    Ok(match spec {
        Spec::Bool(b) => Value::Bool(*b),
        Spec::Int(i) => Value::Int(*i),
        Spec::Float(f) => Value::Float(*f),
        Spec::Str(s) => Value::Str(s.clone()),
        Spec::None => Value::None,
        Spec::Npy(p) => Value::Tensor(TensorValue::new(read_npy(Path::new(p))?, Origin::Constant)),
        Spec::Random {
            dtype,
            shape,
            range,
        } => {
            let n: i64 = shape.iter().product();
            let vals: Vec<f64> = (0..n)
                .map(|_| match (dtype, range) {
                    (d, Some((lo, hi))) if d.is_float() => rng.random_range(*lo..*hi),
                    (_, Some((lo, hi))) => {
                        rng.random_range(lo.ceil() as i64..=(hi.ceil() - 1.0) as i64) as f64
                    }
                    (DType::Bool, None) => rng.random_bool(0.5) as i64 as f64,
                    (d, None) if d.is_float() => StandardNormal.sample(rng),
                    (_, None) => rng.random_range(0..10) as f64,
                })
                .collect();
            let t = tch::Tensor::from_slice(&vals)
                .reshape(shape.as_slice())
                .to_kind(dtype.kind());
            Value::Tensor(TensorValue::new(t, Origin::Constant))
        }
    })
}

pub fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// Parses and makes every SPEC.
pub fn make_all(specs: &[String], seed: u64) -> Result<Vec<Value>> {
    let mut r = rng(seed);
    specs
        .iter()
        .map(|s| parse(s).and_then(|p| make(&p, &mut r)))
        .collect()
}

pub fn read_npy(path: &Path) -> Result<tch::Tensor> {
    let err = |why: String| {
        Error::Input(format!(
            "cannot read input '{}': {why}; fix: pass a .npy file written by numpy.save",
            path.display()
        ))
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    npy_from_bytes(&bytes, path)
}

/// A tensor from the bytes of a `.npy` file (`path` names it in errors).
pub fn npy_from_bytes(bytes: &[u8], path: &Path) -> Result<tch::Tensor> {
    let err = |why: String| {
        Error::Input(format!(
            "cannot read input '{}': {why}; fix: pass a .npy file written by numpy.save",
            path.display()
        ))
    };
    // npyz's header parsing can overflow on a crafted shape: that is a malformed file too.
    crate::error::catch_quietly(|| npy_parse(bytes, &err))
        .map_err(|p| err(format!("its header is malformed ({p})")))?
}

fn npy_parse(bytes: &[u8], err: &dyn Fn(String) -> Error) -> Result<tch::Tensor> {
    let npy = npyz::NpyFile::new(bytes).map_err(|e| err(e.to_string()))?;
    // A crafted header can claim any shape: its element count must fit in the file's bytes
    // (every dtype takes at least one byte) before anything is allocated for it.
    npy.shape()
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .filter(|n| *n <= bytes.len() as u64)
        .ok_or_else(|| {
            err(format!(
                "its header's shape {:?} holds more elements than the file's {} bytes",
                npy.shape(),
                bytes.len()
            ))
        })?;
    let shape: Vec<i64> = npy.shape().iter().map(|&d| d as i64).collect();
    if npy.order() == npyz::Order::Fortran {
        return Err(err("Fortran-ordered arrays are not supported".into()));
    }
    // npyz gives the descr as a Python literal, quotes included: `'<f4'`.
    let descr = npy.dtype().descr();
    let t = match descr.trim_matches('\'').trim_start_matches(['<', '|', '=']) {
        "f4" => tch::Tensor::from_slice(&npy.into_vec::<f32>().map_err(|e| err(e.to_string()))?),
        "f8" => tch::Tensor::from_slice(&npy.into_vec::<f64>().map_err(|e| err(e.to_string()))?),
        "f2" => {
            let v: Vec<half::f16> = npy
                .into_vec::<half::f16>()
                .map_err(|e| err(e.to_string()))?;
            tch::Tensor::from_slice(&v)
        }
        "i8" => tch::Tensor::from_slice(&npy.into_vec::<i64>().map_err(|e| err(e.to_string()))?),
        "i4" => tch::Tensor::from_slice(&npy.into_vec::<i32>().map_err(|e| err(e.to_string()))?),
        "i2" => tch::Tensor::from_slice(&npy.into_vec::<i16>().map_err(|e| err(e.to_string()))?),
        "i1" => tch::Tensor::from_slice(&npy.into_vec::<i8>().map_err(|e| err(e.to_string()))?),
        "u1" => tch::Tensor::from_slice(&npy.into_vec::<u8>().map_err(|e| err(e.to_string()))?),
        "b1" => {
            let v: Vec<bool> = npy.into_vec::<bool>().map_err(|e| err(e.to_string()))?;
            tch::Tensor::from_slice(&v)
        }
        other => {
            return Err(err(format!(
                "dtype '{other}' is not supported (f2 f4 f8 i1 i2 i4 i8 u1 b1)"
            )))
        }
    };
    t.f_reshape(shape.as_slice())
        .map_err(|e| err(crate::load::short_torch_message(&e.to_string())))
}

/// Writes a tensor as .npy (bf16 is widened to f32: NumPy has no bf16).
pub fn write_npy(t: &tch::Tensor, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let t = t.contiguous();
    let shape: Vec<u64> = t.size().iter().map(|&d| d as u64).collect();
    let flat = t.flatten(0, -1);
    macro_rules! put {
        ($ty:ty, $_descr:expr, $v:expr) => {{
            let v: Vec<$ty> = $v;
            let mut out = npyz::WriteOptions::<$ty>::new()
                .default_dtype()
                .shape(&shape)
                .writer(w)
                .begin_nd()?;
            out.extend(v)?;
            out.finish()
        }};
    }
    let conv = |e: tch::TchError| std::io::Error::other(e.to_string());
    match t.kind() {
        tch::Kind::Double => put!(f64, "", Vec::<f64>::try_from(&flat).map_err(conv)?),
        tch::Kind::Half => put!(
            half::f16,
            "",
            Vec::<f32>::try_from(&flat.to_kind(tch::Kind::Float))
                .map_err(conv)?
                .into_iter()
                .map(half::f16::from_f32)
                .collect()
        ),
        tch::Kind::Int64 => put!(i64, "", Vec::<i64>::try_from(&flat).map_err(conv)?),
        tch::Kind::Int => put!(i32, "", Vec::<i32>::try_from(&flat).map_err(conv)?),
        tch::Kind::Int16 => put!(i16, "", Vec::<i16>::try_from(&flat).map_err(conv)?),
        tch::Kind::Int8 => put!(i8, "", Vec::<i8>::try_from(&flat).map_err(conv)?),
        tch::Kind::Uint8 => put!(u8, "", Vec::<u8>::try_from(&flat).map_err(conv)?),
        tch::Kind::Bool => put!(bool, "", Vec::<bool>::try_from(&flat).map_err(conv)?),
        _ => put!(
            f32,
            "",
            Vec::<f32>::try_from(&flat.to_kind(tch::Kind::Float)).map_err(conv)?
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_grammar() {
        assert_eq!(
            parse("f32[2,4]").unwrap(),
            Spec::Random {
                dtype: DType::F32,
                shape: vec![2, 4],
                range: None
            }
        );
        assert_eq!(
            parse("i64[2,16]:0..500").unwrap(),
            Spec::Random {
                dtype: DType::I64,
                shape: vec![2, 16],
                range: Some((0.0, 500.0))
            }
        );
        assert_eq!(
            parse("bf16[]").unwrap(),
            Spec::Random {
                dtype: DType::BF16,
                shape: vec![],
                range: None
            }
        );
        assert_eq!(parse("bool:true").unwrap(), Spec::Bool(true));
        assert_eq!(parse("none").unwrap(), Spec::None);
        assert_eq!(parse("str:a b").unwrap(), Spec::Str("a b".into()));
        assert_eq!(parse("int:3").unwrap(), Spec::Int(3));
        assert_eq!(parse("float:0.5").unwrap(), Spec::Float(0.5));
        assert_eq!(parse("a/b.npy").unwrap(), Spec::Npy("a/b.npy".into()));
    }

    #[test]
    fn rejects_malformed_specs() {
        for s in [
            "f33[2]",
            "f32[2,",
            "f32[-1]",
            "f32[2]:5..1",
            "bool:maybe",
            "int:x",
            "[2]",
            "f32[2]x",
            "f32[99999999999,4]",
            "f32[9223372036854775807,2]",
            "f32[2]:nan..1",
            "f32[2]:-inf..1",
            "f32[2]:-1e308..1e308",
            "f64[2]:-1e308..1e308",
            "u8[2]:-5..5",
            "u8[2]:0..257",
            "i64[2]:0..1e30",
            "i32[2]:0.2..0.7",
        ] {
            let e = parse(s).unwrap_err().to_string();
            assert!(e.contains("malformed input SPEC"), "{s}: {e}");
        }
    }

    #[test]
    fn random_ints_respect_their_range_and_seed() {
        let a = make_all(&["i64[100]:3..7".into()], 1).unwrap();
        let b = make_all(&["i64[100]:3..7".into()], 1).unwrap();
        let (ta, tb) = (
            &a[0].as_tensor().unwrap().tensor,
            &b[0].as_tensor().unwrap().tensor,
        );
        assert!(ta.equal(tb));
        assert!(ta.min().int64_value(&[]) >= 3 && ta.max().int64_value(&[]) < 7);
    }
}
