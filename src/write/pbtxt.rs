//! `dynamo.pbtxt`: the TensorBoard-style listing TorchAir writes (air-format.md section 4): one
//! `node { ... }` block per op with 4-space indents; each attr value is the protobuf text form of
//! the AttrDef (or TensorDescriptor, for `[i]`/`[o]` desc entries) printed as a Python bytes repr.
use crate::proto::{attr_def, text_format, AttrDef, GraphDef};

use std::io::{self, Write};

/// Python's `repr(bytes)` without the leading `b`.
pub fn py_bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    format!("{quote}{}{quote}", py_escape(b, quote))
}

/// The inside of a Python bytes repr quoted with `quote`.
fn py_escape(b: &[u8], quote: char) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            c if c as char == quote => {
                s.push('\\');
                s.push(quote)
            }
            0x20..=0x7e => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

fn attr_block(w: &mut dyn Write, key: &str, text: &str) -> io::Result<()> {
    attr_open(w, key)?;
    writeln!(w, "{}", py_bytes_repr(text.as_bytes()))?;
    attr_close(w)
}

fn attr_open(w: &mut dyn Write, key: &str) -> io::Result<()> {
    writeln!(w, "    attr {{")?;
    writeln!(w, "        key: \"{key}\"")?;
    writeln!(w, "        value {{")?;
    write!(w, "            s: ")
}

fn attr_close(w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "        }}")?;
    writeln!(w, "    }}")
}

/// Tensor data at least this large is streamed (see `tensor_attr_block`).
const STREAM_DATA: usize = 1 << 16;
/// Stands in for the data while the rest of the attr is formatted (printable, so escaping leaves
/// it as it is).
const SPLICE: &str = "@@torch2air-tensor-data@@";

/// Each byte as the protobuf text format writes it inside a string (prost-reflect's escapes:
/// `\t \r \n \\ \' \"`, printable ASCII as is, else 3-digit octal), then escaped again for a
/// single-quoted Python bytes repr.
fn escape_table() -> &'static [String; 256] {
    static T: std::sync::OnceLock<[String; 256]> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        std::array::from_fn(|b| {
            let text = match b as u8 {
                b'\t' => "\\t".to_string(),
                b'\r' => "\\r".to_string(),
                b'\n' => "\\n".to_string(),
                b'\\' => "\\\\".to_string(),
                b'\'' => "\\'".to_string(),
                b'"' => "\\\"".to_string(),
                c @ 0x20..=0x7e => (c as char).to_string(),
                c => format!("\\{c:03o}"),
            };
            py_escape(text.as_bytes(), '\'')
        })
    })
}

/// A Const `value` attr with a large tensor, written as `attr_block` would write it but with the
/// tensor bytes streamed through a byte table instead of formatted twice in memory (a 500 MB
/// weight would otherwise need gigabytes of text).
fn tensor_attr_block(w: &mut dyn Write, key: &str, v: &AttrDef, data: &[u8]) -> io::Result<()> {
    // Cloning shares the data (`bytes::Bytes`), it does not copy it.
    let mut stub = v.clone();
    if let Some(attr_def::Value::T(t)) = &mut stub.value {
        t.data = bytes::Bytes::from_static(SPLICE.as_bytes());
    }
    let text = text_format(&stub, "ge.proto.AttrDef");
    let Some((pre, post)) = text.split_once(SPLICE) else {
        return attr_block(w, key, &text_format(v, "ge.proto.AttrDef"));
    };
    // The text always holds a `"` (the data's own quotes), so the repr is single-quoted.
    attr_open(w, key)?;
    write!(w, "'{}", py_escape(pre.as_bytes(), '\''))?;
    let table = escape_table();
    let mut buf = String::with_capacity(1 << 16);
    for chunk in data.chunks(1 << 14) {
        buf.clear();
        for &b in chunk {
            buf.push_str(&table[b as usize]);
        }
        w.write_all(buf.as_bytes())?;
    }
    writeln!(w, "{}'", py_escape(post.as_bytes(), '\''))?;
    attr_close(w)
}

/// What `dynamo.pbtxt` holds (`--pbtxt`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PbtxtMode {
    /// TorchAir's layout: every node, Const payloads escaped byte by byte.
    #[default]
    Full,
    /// Every node, but each Const payload over [`LEAN_KEEP`] bytes replaced by a note of its
    /// dtype, shape and byte count (a multi-GB inline export need not write its weights again
    /// as text).
    Lean,
    /// No `dynamo.pbtxt`.
    None,
}

/// Lean listings keep payloads up to this many bytes (scalars and short vectors stay readable).
pub const LEAN_KEEP: usize = 64;

/// Writes the listing in `mode` (nothing for [`PbtxtMode::None`]).
pub fn write_mode(g: &GraphDef, mode: PbtxtMode, w: &mut dyn Write) -> io::Result<()> {
    match mode {
        PbtxtMode::Full => write(g, w),
        PbtxtMode::Lean => write_with(g, true, w),
        PbtxtMode::None => Ok(()),
    }
}

/// The note that stands for a payload in a lean listing.
fn lean_note(t: &crate::proto::TensorDef) -> String {
    let (dtype, dims) = t
        .desc
        .as_ref()
        .map(|d| {
            (
                crate::dtype::DType::from_ge_proto(d.dtype)
                    .map(|x| x.name().to_string())
                    .unwrap_or_else(|| format!("dtype {}", d.dtype)),
                d.shape.as_ref().map(|s| s.dim.clone()).unwrap_or_default(),
            )
        })
        .unwrap_or_else(|| ("?".into(), vec![]));
    format!(
        "<{} bytes of {dtype}{dims:?} left out: --pbtxt lean; the .air holds them>",
        t.data.len()
    )
}

pub fn write(g: &GraphDef, w: &mut dyn Write) -> io::Result<()> {
    write_with(g, false, w)
}

fn write_with(g: &GraphDef, lean: bool, w: &mut dyn Write) -> io::Result<()> {
    for op in &g.op {
        writeln!(w, "node {{")?;
        writeln!(w, "    name: \"{}\"", op.name)?;
        writeln!(w, "    op: \"{}\"", op.r#type)?;
        for i in &op.input {
            match i.rsplit_once(':') {
                Some((src, "-1")) => writeln!(w, "    input: \"^{src}\"")?,
                _ => writeln!(w, "    input: \"{i}\"")?,
            }
        }
        for (k, v) in &op.attr {
            match &v.value {
                Some(attr_def::Value::T(t)) if lean && t.data.len() > LEAN_KEEP => {
                    let mut stub = v.clone();
                    if let Some(attr_def::Value::T(st)) = &mut stub.value {
                        st.data = bytes::Bytes::from(lean_note(t).into_bytes());
                    }
                    attr_block(w, k, &text_format(&stub, "ge.proto.AttrDef"))?
                }
                Some(attr_def::Value::T(t)) if t.data.len() >= STREAM_DATA => {
                    tensor_attr_block(w, k, v, &t.data)?
                }
                _ => attr_block(w, k, &text_format(v, "ge.proto.AttrDef"))?,
            }
        }
        for d in &op.input_desc {
            attr_block(
                w,
                &format!("[i]{}", d.name),
                &text_format(d, "ge.proto.TensorDescriptor"),
            )?;
        }
        for d in &op.output_desc {
            attr_block(
                w,
                &format!("[o]{}", d.name),
                &text_format(d, "ge.proto.TensorDescriptor"),
            )?;
        }
        writeln!(w, "}}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed form of a large tensor attr is byte for byte the formatted one.
    #[test]
    fn streamed_tensor_attr_equals_formatted() {
        let data: Vec<u8> = (0..STREAM_DATA + 300)
            .map(|i| (i * 7 % 256) as u8)
            .collect();
        let v = crate::ge::attr::tensor(crate::proto::TensorDef {
            desc: Some(crate::proto::TensorDescriptor {
                dtype: 1,
                layout: "ND".into(),
                ..Default::default()
            }),
            data: data.clone().into(),
        });
        let mut streamed = vec![];
        tensor_attr_block(&mut streamed, "value", &v, &data).unwrap();
        let mut formatted = vec![];
        attr_block(
            &mut formatted,
            "value",
            &text_format(&v, "ge.proto.AttrDef"),
        )
        .unwrap();
        assert!(streamed.len() > 2 * data.len());
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            String::from_utf8(formatted).unwrap()
        );
    }
}
