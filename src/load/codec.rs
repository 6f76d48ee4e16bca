//! The word encoding of values between Rust and the shim (tags in src/shim/shim.h).
use super::ffi::*;
use crate::value::{Origin, TensorValue, Value};
use std::os::raw::c_void;

/// An encoded value list ready to hand to the shim. Tensor pointers borrow from the values,
/// which must outlive the call.
#[derive(Default)]
pub struct Encoded {
    pub words: Vec<i64>,
    pub tensors: Vec<*mut c_void>,
}

impl Encoded {
    pub fn push(&mut self, v: &Value) -> Result<(), String> {
        match v {
            Value::None => self.words.push(TAG_NONE),
            Value::Bool(b) | Value::SymBool(b, ..) => self.words.extend([TAG_BOOL, *b as i64]),
            Value::Int(i) => self.words.extend([TAG_INT, *i]),
            Value::SymInt(s) => self.words.extend([TAG_INT, s.value]),
            Value::Float(f) => self.words.extend([TAG_DOUBLE, f.to_bits() as i64]),
            Value::Str(s) => {
                self.words.push(TAG_STR);
                self.push_str(s);
            }
            Value::Tensor(t) => {
                self.words.extend([TAG_TENSOR, self.tensors.len() as i64]);
                self.tensors.push(t.tensor.as_ptr() as *mut c_void);
            }
            Value::List(items) | Value::Tuple(items) => {
                let tag = if matches!(v, Value::List(_)) {
                    TAG_LIST
                } else {
                    TAG_TUPLE
                };
                self.words.extend([tag, items.len() as i64]);
                for i in items {
                    self.push(i)?;
                }
            }
            Value::Device(t, i) => self.words.extend([TAG_DEVICE, *t, *i]),
            Value::Object { class, .. } => {
                return Err(format!(
                    "a module object ({class}) cannot be passed to an operator"
                ))
            }
            Value::Other(s) => {
                return Err(format!(
                    "a value of kind {s} cannot be passed to an operator"
                ))
            }
            Value::Dict(_) => return Err("a dict cannot be passed to an operator".into()),
        }
        Ok(())
    }

    fn push_str(&mut self, s: &str) {
        let b = s.as_bytes();
        self.words.push(b.len() as i64);
        for chunk in b.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.words.push(i64::from_le_bytes(w));
        }
    }
}

/// Decodes a buffer returned by the shim, taking ownership of its tensors and freeing it.
pub fn decode_buf(buf: T2ABuf) -> Result<Value, String> {
    let words = unsafe { std::slice::from_raw_parts(buf.words, buf.nwords) }.to_vec();
    let ptrs = unsafe { std::slice::from_raw_parts(buf.tensors, buf.ntensors) }.to_vec();
    unsafe {
        t2a_free(buf.words as *mut c_void);
        t2a_free(buf.tensors as *mut c_void);
    }
    // Adopt every tensor first so none leaks if decoding fails.
    let mut tensors: Vec<Option<tch::Tensor>> = ptrs
        .into_iter()
        .map(|p| Some(unsafe { tch::Tensor::from_ptr(p as *mut _) }))
        .collect();
    let mut pos = 0;
    let v = decode(&words, &mut pos, &mut tensors)?;
    Ok(v)
}

fn next(words: &[i64], pos: &mut usize) -> Result<i64, String> {
    let w = *words.get(*pos).ok_or("truncated value from the shim")?;
    *pos += 1;
    Ok(w)
}

fn read_str(words: &[i64], pos: &mut usize) -> Result<String, String> {
    let len = next(words, pos)? as usize;
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        let w = next(words, pos)?.to_le_bytes();
        let take = (len - bytes.len()).min(8);
        bytes.extend_from_slice(&w[..take]);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn decode(
    words: &[i64],
    pos: &mut usize,
    tensors: &mut [Option<tch::Tensor>],
) -> Result<Value, String> {
    let tag = next(words, pos)?;
    Ok(match tag {
        TAG_NONE => Value::None,
        TAG_BOOL => Value::Bool(next(words, pos)? != 0),
        TAG_INT => Value::Int(next(words, pos)?),
        TAG_DOUBLE => Value::Float(f64::from_bits(next(words, pos)? as u64)),
        TAG_STR => Value::Str(read_str(words, pos)?),
        TAG_TENSOR => {
            let i = next(words, pos)? as usize;
            let t = tensors
                .get_mut(i)
                .and_then(Option::take)
                .ok_or("bad tensor index from the shim")?;
            Value::Tensor(TensorValue::new(t, Origin::Constant))
        }
        TAG_LIST | TAG_TUPLE => {
            let n = next(words, pos)? as usize;
            let items = (0..n)
                .map(|_| decode(words, pos, tensors))
                .collect::<Result<Vec<_>, _>>()?;
            if tag == TAG_LIST {
                Value::List(items)
            } else {
                Value::Tuple(items)
            }
        }
        TAG_DEVICE => Value::Device(next(words, pos)?, next(words, pos)?),
        TAG_OBJECT => Value::Object {
            class: read_str(words, pos)?,
            path: String::new(),
        },
        TAG_OTHER => Value::Other(read_str(words, pos)?),
        TAG_DICT => {
            let n = next(words, pos)? as usize;
            let pairs = (0..n)
                .map(|_| Ok((decode(words, pos, tensors)?, decode(words, pos, tensors)?)))
                .collect::<Result<Vec<_>, String>>()?;
            Value::Dict(pairs)
        }
        t => return Err(format!("unknown value tag {t} from the shim")),
    })
}
