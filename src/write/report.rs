//! `--report FILE`: every op kind of the walked graph (like TorchAir's fx_summary), with how it
//! was handled, the GE ops its rule emits, the input dtypes and shapes seen and the source lines.
//! Markdown (`.md`) or CSV (`.csv`) by the file's extension. Written for failed exports too (the
//! unsupported ops are what the user needs then), atomically, never through a symlink.
use crate::error::{Error, Result, UnsupportedOp};
use std::io::Write;
use std::path::Path;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Markdown,
    Csv,
}

fn format_of(path: &Path) -> Result<Format> {
    match path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .as_deref()
    {
        Some("md") | Some("markdown") => Ok(Format::Markdown),
        Some("csv") => Ok(Format::Csv),
        _ => Err(Error::Input(format!(
            "report file '{}' must end in .md or .csv (that picks its format); fix: rename it",
            path.display()
        ))),
    }
}

/// Checks the report path before any work is done.
pub fn check_path(path: &Path) -> Result<()> {
    format_of(path)?;
    super::stage::refuse_links(path, "report file")?;
    if path.is_dir() {
        return Err(Error::Io(format!(
            "report file '{}' is a folder; fix: give a file path ending in .md or .csv",
            path.display()
        )));
    }
    Ok(())
}

fn ge_of(op: &str) -> String {
    match crate::lower::rules().describe(op) {
        Some(ge) => ge.to_string(),
        None => String::new(),
    }
}

/// Writes the report of `ops` (every op kind of the graph) for `model` to `path`.
pub fn write(path: &Path, model: &Path, ops: &[UnsupportedOp]) -> Result<()> {
    check_path(path)?;
    let body = match format_of(path)? {
        Format::Markdown => markdown(model, ops),
        Format::Csv => csv(ops)?,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let io = |e: std::io::Error| {
        Error::Io(format!(
            "cannot write report '{}': {e}; fix: choose a writable path",
            path.display()
        ))
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".torch2air-report-")
        .tempfile_in(&dir)
        .map_err(io)?;
    tmp.write_all(body.as_bytes()).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

fn markdown(model: &Path, ops: &[UnsupportedOp]) -> String {
    let nodes: usize = ops.iter().map(|o| o.count).sum();
    let bad: Vec<&UnsupportedOp> = ops.iter().filter(|o| o.status.blocks()).collect();
    let mut s = format!(
        "# torch2air op report: {}\n\n{} op kind(s), {} node(s); {} kind(s) unsupported ({} node(s)).\n\n",
        model.display(),
        ops.len(),
        nodes,
        bad.len(),
        bad.iter().map(|o| o.count).sum::<usize>()
    );
    s.push_str("| ATen op | count | status | GE lowering | inputs seen | source lines |\n");
    s.push_str("|---|---|---|---|---|---|\n");
    let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
    for o in ops {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            o.op,
            o.count,
            cell(&o.status_text()),
            cell(&ge_of(&o.op)),
            cell(&o.signatures.join("; ")),
            cell(&o.sites.join("<br>"))
        ));
    }
    s
}

fn csv(ops: &[UnsupportedOp]) -> Result<String> {
    let mut w = csv::Writer::from_writer(vec![]);
    let err = |e: csv::Error| Error::Io(format!("cannot format the CSV report: {e}"));
    w.write_record([
        "op",
        "count",
        "status",
        "ge_lowering",
        "inputs_seen",
        "source_lines",
    ])
    .map_err(err)?;
    for o in ops {
        w.write_record([
            o.op.as_str(),
            &o.count.to_string(),
            &o.status_text(),
            &ge_of(&o.op),
            &o.signatures.join("; "),
            &o.sites.join("; "),
        ])
        .map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Io(format!("cannot format the CSV report: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
