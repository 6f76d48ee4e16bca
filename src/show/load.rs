//! Lenient reading of an .air for drawing: a file that decodes is taken whole; one that does not
//! (cut short, a damaged record) is read field by field, keeping every op that decodes and
//! listing what was lost.
//!
//! Protobuf merges concatenated encodings of a message, so the complete top-level fields of the
//! ModelDef (and of each GraphDef) other than the graphs (and ops) decode as one message, and
//! each op decodes on its own.
use crate::proto::{GraphDef, ModelDef, OpDef};
use prost::Message;
use std::path::Path;

/// A model as far as it could be read.
pub struct Loaded {
    pub model: ModelDef,
    /// What could not be read, one line each.
    pub problems: Vec<String>,
}

/// Reads an .air, leniently.
pub fn load(path: &Path) -> Loaded {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return Loaded {
                model: ModelDef::default(),
                problems: vec![format!("cannot read '{}': {e}", path.display())],
            }
        }
    };
    match ModelDef::decode(bytes.as_slice()) {
        Ok(model) => Loaded {
            model,
            problems: vec![],
        },
        Err(e) => {
            let mut problems = vec![format!(
                "'{}' is damaged or cut short (as a GE ModelDef: {e}); the ops that decode are drawn",
                path.display()
            )];
            let model = salvage(&bytes, &mut problems);
            Loaded { model, problems }
        }
    }
}

/// One field of an encoded message: its number, the bytes of the whole field, and for a
/// length-delimited field its payload (cut short where the data ends early).
struct Field<'a> {
    number: u32,
    whole: &'a [u8],
    payload: Option<&'a [u8]>,
    cut_short: bool,
}

/// The fields of an encoded message, in order, up to the first one that cannot be read.
fn fields(buf: &[u8]) -> (Vec<Field<'_>>, Option<String>) {
    let mut out = vec![];
    let mut pos = 0usize;
    while pos < buf.len() {
        let start = pos;
        let mut rest = &buf[pos..];
        let key = match prost::encoding::decode_varint(&mut rest) {
            Ok(k) => k,
            Err(_) => {
                return (
                    out,
                    Some(format!("an unreadable field key at byte {start}")),
                )
            }
        };
        pos = buf.len() - rest.len();
        let (number, wire) = ((key >> 3) as u32, key & 7);
        let end = match wire {
            0 => match prost::encoding::decode_varint(&mut rest) {
                Ok(_) => buf.len() - rest.len(),
                Err(_) => return (out, Some(format!("field {number} is cut short"))),
            },
            1 => pos + 8,
            5 => pos + 4,
            2 => {
                let len = match prost::encoding::decode_varint(&mut rest) {
                    Ok(l) => l as usize,
                    Err(_) => return (out, Some(format!("field {number} is cut short"))),
                };
                let p = buf.len() - rest.len();
                let end = p.saturating_add(len);
                if end > buf.len() {
                    out.push(Field {
                        number,
                        whole: &buf[start..],
                        payload: Some(&buf[p..]),
                        cut_short: true,
                    });
                    return (out, None);
                }
                out.push(Field {
                    number,
                    whole: &buf[start..end],
                    payload: Some(&buf[p..end]),
                    cut_short: false,
                });
                pos = end;
                continue;
            }
            w => {
                return (
                    out,
                    Some(format!(
                        "field {number} has wire type {w}, which GE's messages do not use"
                    )),
                )
            }
        };
        if end > buf.len() {
            return (out, Some(format!("field {number} is cut short")));
        }
        out.push(Field {
            number,
            whole: &buf[start..end],
            payload: None,
            cut_short: false,
        });
        pos = end;
    }
    (out, None)
}

/// ModelDef.graph, GraphDef.op (ge_ir.proto).
const MODEL_GRAPH: u32 = 7;
const GRAPH_OP: u32 = 6;

/// The parts of a ModelDef that decode.
fn salvage(bytes: &[u8], problems: &mut Vec<String>) -> ModelDef {
    let (fs, stop) = fields(bytes);
    if let Some(s) = stop {
        problems.push(format!("the model's fields end early: {s}"));
    }
    let mut rest = vec![];
    let mut graphs = vec![];
    for f in &fs {
        match (f.number, f.payload) {
            (MODEL_GRAPH, Some(p)) => graphs.push(salvage_graph(p, f.cut_short, problems)),
            _ if f.cut_short => problems.push(format!("model field {} is cut short", f.number)),
            _ => rest.extend_from_slice(f.whole),
        }
    }
    let mut m = ModelDef::decode(rest.as_slice()).unwrap_or_else(|e| {
        problems.push(format!("the model's own attrs do not decode ({e})"));
        ModelDef::default()
    });
    if graphs.is_empty() {
        problems.push("no graph could be read".into());
    }
    m.graph = graphs;
    m
}

fn salvage_graph(bytes: &[u8], cut_short: bool, problems: &mut Vec<String>) -> GraphDef {
    let (fs, stop) = fields(bytes);
    if cut_short {
        problems.push("the graph is cut short (the file ends inside it)".into());
    }
    if let Some(s) = stop {
        problems.push(format!("the graph's fields end early: {s}"));
    }
    let mut rest = vec![];
    let mut ops = vec![];
    let mut lost = 0usize;
    for f in &fs {
        match (f.number, f.payload) {
            (GRAPH_OP, Some(p)) if !f.cut_short => match OpDef::decode(p) {
                Ok(op) => ops.push(op),
                Err(e) => {
                    lost += 1;
                    problems.push(format!(
                        "op record {} does not decode ({e}); not drawn",
                        ops.len() + lost
                    ));
                }
            },
            (GRAPH_OP, _) => {
                lost += 1;
                // The name is the op's first field: say which op was lost where it is readable.
                let name = f
                    .payload
                    .map(fields)
                    .and_then(|(ff, _)| {
                        ff.into_iter()
                            .find(|x| x.number == 1 && !x.cut_short)
                            .and_then(|x| {
                                x.payload.map(|p| String::from_utf8_lossy(p).into_owned())
                            })
                    })
                    .map(|n| format!(" '{n}'"))
                    .unwrap_or_default();
                problems.push(format!("op{name} is cut short; not drawn"));
            }
            _ if f.cut_short => problems.push(format!("graph field {} is cut short", f.number)),
            _ => rest.extend_from_slice(f.whole),
        }
    }
    let mut g = GraphDef::decode(rest.as_slice()).unwrap_or_else(|e| {
        problems.push(format!("the graph's own fields do not decode ({e})"));
        GraphDef::default()
    });
    g.op = ops;
    g
}
