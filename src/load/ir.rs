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
    pub text: String,
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
