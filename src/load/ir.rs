//! The inlined TorchScript graph as plain data (deserialized from the shim's JSON).
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct ValueInfo {
    pub id: u64,
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Source {
    pub file: String,
    pub line: i64,
    /// The statement the node came from, whole, on one line (see [`statement`]).
    #[serde(deserialize_with = "statement_of")]
    pub text: String,
}

fn statement_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d).map(|s| statement(&s))
}

/// The source snippet of a node: its range's text up to the end of the first statement (a line
/// break outside brackets, so a call spread over lines stays whole; a compound statement keeps its
/// header, `if ...:`, not its body), its lines joined by single spaces.
pub fn statement(range: &str) -> String {
    let mut depth = 0i32;
    let mut end = range.len();
    let mut quote: Option<char> = None;
    for (i, c) in range.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, '\n') if depth <= 0 => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    range[..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod statement_tests {
    use super::statement;

    #[test]
    fn a_call_over_lines_stays_whole_and_a_block_keeps_its_header() {
        assert_eq!(
            statement("torch.cat([a,\n      b],\n  dim=-1)\nnext = 1"),
            "torch.cat([a, b], dim=-1)"
        );
        assert_eq!(
            statement("if x.size(0) > 2:\n    y = x + 1\n"),
            "if x.size(0) > 2:"
        );
        assert_eq!(statement("s = \"(\"\nt = 2"), "s = \"(\"");
    }
}

impl Source {
    /// `file:line` with the file shortened to its last component, or "<unknown>".
    pub fn location(&self) -> String {
        if self.file.is_empty() {
            return "<unknown>".into();
        }
        let f = std::path::Path::new(&self.file)
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.file.clone());
        format!("{f}:{}", self.line)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Frame {
    #[serde(rename = "fn")]
    pub func: String,
    #[serde(default)]
    pub instance: Option<String>,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub source: Source,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    pub index: i64,
    pub kind: String,
    /// Schema operator name with overload (`aten::add.Tensor`), for nodes that have a schema.
    #[serde(default)]
    pub op: Option<String>,
    /// Schema argument names, in order.
    #[serde(default)]
    pub args: Vec<String>,
    /// `prim::GetAttr` attribute name.
    #[serde(default)]
    pub attr: Option<String>,
    pub inputs: Vec<u64>,
    pub outputs: Vec<ValueInfo>,
    pub source: Source,
    #[serde(default)]
    pub stack: Vec<Frame>,
    #[serde(default)]
    pub blocks: Vec<Block>,
}

impl Node {
    /// The name lowering rules are keyed by: the schema name when there is one, else the kind.
    pub fn op_name(&self) -> &str {
        self.op.as_deref().unwrap_or(&self.kind)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Block {
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<u64>,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Arg {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub has_default: bool,
    /// The default when it is None, a bool, an int, a float or a string.
    #[serde(default)]
    pub default: Option<ArgDefault>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArgDefault {
    None(Option<()>),
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModuleInfo {
    pub class: String,
    /// forward's arguments, `self` first.
    pub args: Vec<Arg>,
    pub returns: Vec<String>,
    pub parameters: Vec<String>,
    pub buffers: Vec<String>,
}
