//! `dynamo.pbtxt`: the TensorBoard-style listing TorchAir writes (air-format.md section 4): one
//! `node { ... }` block per op with 4-space indents; each attr value is the protobuf text form of
//! the AttrDef (or TensorDescriptor, for `[i]`/`[o]` desc entries) printed as a Python bytes repr.
use crate::proto::{text_format, GraphDef};
use std::io::{self, Write};

/// Python's `repr(bytes)` without the leading `b`.
pub fn py_bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut s = String::with_capacity(b.len() + 2);
    s.push(quote);
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
    s.push(quote);
    s
}

fn attr_block(w: &mut dyn Write, key: &str, text: &str) -> io::Result<()> {
    writeln!(w, "    attr {{")?;
    writeln!(w, "        key: \"{key}\"")?;
    writeln!(w, "        value {{")?;
    writeln!(w, "            s: {}", py_bytes_repr(text.as_bytes()))?;
    writeln!(w, "        }}")?;
    writeln!(w, "    }}")
}

pub fn write(g: &GraphDef, w: &mut dyn Write) -> io::Result<()> {
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
            attr_block(w, k, &text_format(v, "ge.proto.AttrDef"))?;
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
