//! User-facing errors. Each message names the problem and, where there is one, the fix.
use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file is missing, unreadable or not TorchScript.
    #[error("{0}")]
    Model(String),
    /// The sample inputs do not fit the model, or a SPEC is malformed.
    #[error("{0}")]
    Input(String),
    /// Ops without a lowering rule (every one found in the walk).
    #[error("{0}")]
    Unsupported(UnsupportedOps),
    /// An emitted node does not match its GE prototype (ge_ops.json).
    #[error("{0}")]
    Schema(String),
    /// The export folder or a file in it cannot be written or read.
    #[error("{0}")]
    Io(String),
    /// Running the model or the exported graph failed.
    #[error("{0}")]
    Run(String),
    /// The exported graph's outputs differ from TorchScript's beyond tolerance.
    #[error("{0}")]
    Mismatch(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// One unsupported op with every place it was met.
#[derive(Debug, Clone)]
pub struct UnsupportedOp {
    pub op: String,
    pub count: usize,
    /// `file:line: source text`, unique, in walk order.
    pub sites: Vec<String>,
    /// Input dtypes/shapes seen, unique.
    pub signatures: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UnsupportedOps(pub Vec<UnsupportedOp>);

impl fmt::Display for UnsupportedOps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: usize = self.0.iter().map(|o| o.count).sum();
        writeln!(
            f,
            "the model uses {} op kind(s) that torch2air cannot lower to GE yet ({} node(s)); nothing was written:",
            self.0.len(),
            total
        )?;
        for op in &self.0 {
            writeln!(
                f,
                "  {} x{}   inputs: {}",
                op.op,
                op.count,
                op.signatures.join("; ")
            )?;
            for s in &op.sites {
                writeln!(f, "      at {s}")?;
            }
        }
        write!(
            f,
            "fix: rewrite those lines with supported ops (`torch2air ops` lists them), or file an issue asking for the op"
        )
    }
}
