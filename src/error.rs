//! User-facing errors. Each message names the problem and, where there is one, the fix.
use std::fmt;

/// Every error torch2air returns: the message names the problem and, where there is one, the fix.
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

/// torch2air's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// How the walk handled an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    /// A lowering rule emitted GE ops for it.
    Lowered,
    /// Computed from constants only: folded into a `Const`.
    Folded,
    /// No lowering rule.
    Unsupported,
    /// A rule exists but refused these inputs or attributes (the reasons are in `reasons`).
    Refused,
}

impl OpStatus {
    /// How reports spell the status.
    pub fn name(self) -> &'static str {
        match self {
            OpStatus::Lowered => "lowered",
            OpStatus::Folded => "folded into a constant",
            OpStatus::Unsupported => "UNSUPPORTED",
            OpStatus::Refused => "REFUSED",
        }
    }

    /// Whether the export cannot be written because of this op.
    pub fn blocks(self) -> bool {
        matches!(self, OpStatus::Unsupported | OpStatus::Refused)
    }
}

/// One op kind of the walked graph with every place it was met.
#[derive(Debug, Clone)]
pub struct UnsupportedOp {
    /// The op's schema name (`aten::add.Tensor`) or node kind.
    pub op: String,
    /// How many nodes of this kind the walk met.
    pub count: usize,
    /// `file:line: source text`, unique, in walk order.
    pub sites: Vec<String>,
    /// Input dtypes/shapes seen, unique.
    pub signatures: Vec<String>,
    /// How the walk handled it.
    pub status: OpStatus,
    /// Why a rule refused it (status `Refused`), unique.
    pub reasons: Vec<String>,
}

impl UnsupportedOp {
    /// The status with the refusal reasons, for reports.
    pub fn status_text(&self) -> String {
        if self.reasons.is_empty() {
            self.status.name().to_string()
        } else {
            format!("{}: {}", self.status.name(), self.reasons.join("; "))
        }
    }
}

/// The op kinds without a lowering rule, and (for `--report`) every op kind of the graph.
#[derive(Debug, Clone, Default)]
pub struct UnsupportedOps {
    /// The op kinds that stop the export (no rule, or a rule refused them).
    pub unsupported: Vec<UnsupportedOp>,
    /// Every op kind of the walked graph, lowered or not.
    pub all: Vec<UnsupportedOp>,
}

impl fmt::Display for UnsupportedOps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: usize = self.unsupported.iter().map(|o| o.count).sum();
        writeln!(
            f,
            "the model uses {} op kind(s) that torch2air cannot lower to GE yet ({} node(s)); nothing was written:",
            self.unsupported.len(),
            total
        )?;
        for op in &self.unsupported {
            writeln!(
                f,
                "  {} x{}   inputs: {}",
                op.op,
                op.count,
                op.signatures.join("; ")
            )?;
            // A refused op says why the rule refused it; an op without a rule, why it has none.
            let label = if op.status == OpStatus::Unsupported {
                "no rule"
            } else {
                "refused"
            };
            for r in &op.reasons {
                writeln!(f, "      {label}: {r}")?;
            }
            for s in &op.sites {
                writeln!(f, "      at {s}")?;
            }
        }
        if self
            .unsupported
            .iter()
            .any(|o| o.op.starts_with("quantized::"))
        {
            writeln!(
                f,
                "quantized ops (torch.ao.quantization, e.g. quantize_dynamic) are not supported: export the float model"
            )?;
        }
        write!(
            f,
            "fix: rewrite those lines with supported ops (`torch2air ops` lists them), or file an issue asking for the op"
        )
    }
}

thread_local! {
    /// Depth of `catch_quietly` calls on this thread: a panic inside one is an error of the
    /// input being handled (a libtorch error from a kernel fed a malformed graph), not a bug.
    static QUIET: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// True while the current thread runs inside [`catch_quietly`]: a panic hook should stay silent
/// (the panic becomes an ordinary error).
pub fn panic_is_quiet() -> bool {
    QUIET.with(|q| q.get() > 0)
}

/// The readable part of a panic payload: for a libtorch error unwrapped by `tch`, the libtorch
/// message's first line, without `called Result::unwrap()` and the C++ backtrace.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    // `tch` unwraps a libtorch error as `...: Torch("<message, newlines escaped>")`.
    if let Some((_, rest)) = msg.split_once("value: Torch(\"") {
        let first = rest.split("\\n").next().unwrap_or(rest);
        return first.trim_end_matches("\")").trim().to_string();
    }
    crate::load::short_torch_message(msg)
}

/// Runs `f`, turning a panic inside it into `Err(message)` without the panic hook's report.
/// For code that runs libtorch on values an input file decides (the runner's kernels).
pub fn catch_quietly<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    QUIET.with(|q| q.set(q.get() + 1));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(q.get() - 1));
    r.map_err(|p| panic_text(p.as_ref()))
}
