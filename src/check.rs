//! `torch2air check`: the schema check of any AIR file or multi-card folder, torch2air's own or
//! another exporter's. Every problem is collected (one line each, naming the node): op types,
//! input and attr names and types ([`crate::ge::schema::check_graph`], the check every export
//! passes), input dtypes against each input's prototype list, dangling and empty inputs, cycles,
//! `Data` indices, and FileConstant files present with the right sizes.
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ge::{attr, schema};
use crate::proto::{GraphDef, ModelDef, OpDef, TensorDescriptor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The result of checking a file or folder.
pub struct Checked {
    /// The .air files checked, in order.
    pub files: Vec<PathBuf>,
    /// Nodes over all graphs.
    pub nodes: usize,
    /// (file, problem) pairs, in file order.
    pub problems: Vec<(PathBuf, String)>,
}

/// The .air files of a path: the file itself, or every `*.air` directly in a folder (a
/// multi-card export: one per rank), sorted.
pub fn air_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        if !path.exists() {
            return Err(Error::Input(format!(
                "'{}' does not exist; fix: pass an .air file or a multi-card export folder",
                path.display()
            )));
        }
        return Ok(vec![path.to_path_buf()]);
    }
    let rd = std::fs::read_dir(path)
        .map_err(|e| Error::Io(format!("cannot read folder '{}': {e}", path.display())))?;
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "air"))
        .collect();
    if v.is_empty() {
        return Err(Error::Input(format!(
            "'{}' holds no .air file; fix: pass an .air file or the folder of a multi-card export",
            path.display()
        )));
    }
    v.sort();
    Ok(v)
}

/// Checks an .air file or a folder of them.
pub fn check(path: &Path) -> Result<Checked> {
    let files = air_files(path)?;
    let mut out = Checked {
        files: files.clone(),
        nodes: 0,
        problems: vec![],
    };
    for f in &files {
        let m = match crate::write::read_air(f) {
            Ok(m) => m,
            Err(e) => {
                out.problems.push((f.clone(), e.to_string()));
                continue;
            }
        };
        out.nodes += m.graph.iter().map(|g| g.op.len()).sum::<usize>();
        let dir = f
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        for p in check_model(&m, &dir) {
            out.problems.push((f.clone(), p));
        }
    }
    Ok(out)
}

/// Every problem of a model, one line each; `air_dir` is where its FileConstant files are.
pub fn check_model(m: &ModelDef, air_dir: &Path) -> Vec<String> {
    let mut errs = vec![];
    match m.graph.len() {
        1 => {}
        0 => errs.push("the model holds no graph".to_string()),
        n => errs.push(format!(
            "the model holds {n} graphs; an .air is one graph (torch2air run takes one)"
        )),
    }
    for g in &m.graph {
        if let Err(e) = schema::check_graph(g) {
            errs.extend(e);
        }
        errs.extend(empty_inputs(g));
        errs.extend(cycles(g));
        errs.extend(data_indices(g));
        errs.extend(input_dtypes(g));
        errs.extend(file_constants(g, air_dir));
    }
    errs
}

fn at(op: &OpDef, what: String) -> String {
    format!("node '{}' ({}): {what}", op.name, op.r#type)
}

/// `""` inputs: allowed for an unfed optional input only.
fn empty_inputs(g: &GraphDef) -> Vec<String> {
    let mut errs = vec![];
    for op in &g.op {
        let proto = schema::op(&op.r#type);
        for (k, inp) in op.input.iter().enumerate() {
            if !inp.is_empty() {
                continue;
            }
            let name = op.input_desc.get(k).map(|d| d.name.as_str()).unwrap_or("");
            let optional = proto
                .and_then(|p| schema::input_proto(p, name))
                .is_some_and(|io| io.kind == "optional");
            if !optional {
                errs.push(at(
                    op,
                    format!(
                        "input {k} ('{name}') is empty (\"\"), which only an unfed optional input may be"
                    ),
                ));
            }
        }
    }
    errs
}

/// The nodes an op's data and control inputs name.
fn sources(op: &OpDef) -> impl Iterator<Item = &str> {
    op.input
        .iter()
        .filter(|i| !i.is_empty())
        .filter_map(|i| i.rsplit_once(':').map(|(s, _)| s))
}

/// Cycles among the edges, one line per cycle found (a depth-first search).
fn cycles(g: &GraphDef) -> Vec<String> {
    let idx: HashMap<&str, usize> =
        g.op.iter()
            .enumerate()
            .map(|(i, o)| (o.name.as_str(), i))
            .collect();
    let preds: Vec<Vec<usize>> =
        g.op.iter()
            .map(|o| sources(o).filter_map(|s| idx.get(s).copied()).collect())
            .collect();
    // 0 unvisited, 1 on the stack, 2 done.
    let mut state = vec![0u8; g.op.len()];
    let mut errs = vec![];
    for start in 0..g.op.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some((n, k)) = stack.last().copied() {
            if k < preds[n].len() {
                stack.last_mut().unwrap().1 += 1;
                let p = preds[n][k];
                match state[p] {
                    0 => {
                        state[p] = 1;
                        stack.push((p, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(s, _)| *s == p).unwrap_or(0);
                        let mut path: Vec<&str> = stack[from..]
                            .iter()
                            .rev()
                            .map(|(s, _)| g.op[*s].name.as_str())
                            .collect();
                        path.push(&g.op[p].name);
                        errs.push(at(
                            &g.op[p],
                            format!("is on a cycle: {}", path.join(" <- ")),
                        ));
                    }
                    _ => {}
                }
            } else {
                state[n] = 2;
                stack.pop();
            }
        }
    }
    errs
}

/// `Data` nodes: an int `index` each, 0..n-1, each once.
fn data_indices(g: &GraphDef) -> Vec<String> {
    let data: Vec<&OpDef> = g.op.iter().filter(|o| o.r#type == "Data").collect();
    let mut errs = vec![];
    let mut seen: HashMap<i64, &str> = HashMap::new();
    for o in &data {
        let idx = match o.attr.get("index") {
            None => 0,
            Some(a) => match attr::as_int(a) {
                Some(i) => i,
                None => {
                    errs.push(at(o, "'index' attr is not an int".into()));
                    continue;
                }
            },
        };
        if idx < 0 || idx as usize >= data.len() {
            errs.push(at(
                o,
                format!(
                    "index {idx} is outside 0..{} (one index per graph input)",
                    data.len()
                ),
            ));
        } else if let Some(other) = seen.insert(idx, &o.name) {
            errs.push(at(o, format!("index {idx} is also Data node '{other}''s")));
        }
    }
    errs
}

/// A desc's dtype when it carries one (not a placeholder: see [`crate::run::is_placeholder`]).
fn real_dtype(d: &TensorDescriptor) -> Option<DType> {
    if crate::run::is_placeholder(d) {
        return None;
    }
    DType::from_ge_proto(d.dtype)
}

/// Each input's dtype (from its desc, else its producer's output desc, where they carry one)
/// against the prototype's list for that input.
fn input_dtypes(g: &GraphDef) -> Vec<String> {
    let by_name: HashMap<&str, &OpDef> = g.op.iter().map(|o| (o.name.as_str(), o)).collect();
    let mut errs = vec![];
    for op in &g.op {
        if matches!(op.r#type.as_str(), "Data" | "Const" | "FileConstant") {
            continue;
        }
        let Some(proto) = schema::op(&op.r#type) else {
            continue;
        };
        let data_inputs = op.input.iter().filter(|i| !i.ends_with(":-1"));
        for (d, inp) in op.input_desc.iter().zip(data_inputs) {
            let produced = inp.rsplit_once(':').and_then(|(src, k)| {
                let k: usize = k.parse().ok()?;
                by_name.get(src)?.output_desc.get(k).and_then(real_dtype)
            });
            let Some(dt) = real_dtype(d).or(produced) else {
                continue;
            };
            let Some(types) = schema::input_types(proto, &d.name) else {
                continue;
            };
            if !schema::dtype_allowed(&op.r#type, &d.name, types, dt) {
                errs.push(at(
                    op,
                    format!(
                        "input '{}' is {}, which the prototype does not list ({})",
                        d.name,
                        dt.ge_name(),
                        types.join(", ")
                    ),
                ));
            }
        }
    }
    errs
}

/// FileConstant nodes: dtype and shape attrs, and a file holding exactly their bytes where the
/// runner looks for it.
fn file_constants(g: &GraphDef, air_dir: &Path) -> Vec<String> {
    let mut errs = vec![];
    for op in g.op.iter().filter(|o| o.r#type == "FileConstant") {
        let path = op.attr.get("file_path").and_then(attr::as_str);
        let dt = op
            .attr
            .get("dtype")
            .and_then(attr::as_int)
            .and_then(DType::from_ge_cpp);
        let shape = op.attr.get("shape").and_then(attr::as_list_int);
        let (Some(path), Some(dt), Some(shape)) = (path, dt, shape) else {
            errs.push(at(
                op,
                "needs file_path (string), dtype (a dtype torch2air knows) and shape (ints) attrs"
                    .into(),
            ));
            continue;
        };
        let bytes = match crate::run::tensor_bytes(dt, &shape) {
            Ok(b) => b,
            Err(e) => {
                errs.push(at(op, e));
                continue;
            }
        };
        if let Err(e) = crate::run::resolve_weight(&path, air_dir, bytes) {
            errs.push(at(op, e));
        }
    }
    errs
}
