//! `torch2air show`: a picture of an .air graph (any exporter's) or of a multi-card folder.
//!
//! The graph is read leniently ([`load`]): a file cut short or with damaged records gives the ops
//! that decode, and the rest is listed. Each op becomes a drawn node with its op type and output
//! dtypes and shapes (from the descs where they carry them, else from a run of the graph on
//! sample inputs by the reference runner); edges carry the dtype and shape of the tensor they
//! move. Nodes are grouped by module scope: the `nn_module_stack` attr where the export recorded
//! it, else the call stack in torch2air's `_torch2air_source` attr. Which scopes open expanded is
//! decided here ([`initial_expansion`]): large graphs open collapsed near the top-level modules.
//!
//! Two outputs: a self-contained HTML page ([`html`]; the vendored dagre library lays out the
//! visible part of the graph in the browser, pan/zoom, collapsible boxes, a side panel) and a
//! static SVG ([`svg::svg`], laid out by the `layout-rs` crate) of the graph as it opens.
mod load;
mod page;
pub mod svg;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ge::attr;
use crate::proto::{ModelDef, OpDef, TensorDescriptor};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use load::load;
pub use page::html;

/// How a node is styled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A graph input (`Data`).
    Input,
    /// A weight or constant (`Const`, `FileConstant`, `Constant`, `Variable`).
    Weight,
    /// `NetOutput`.
    Output,
    /// A collective (`Hcom*`), highlighted.
    Hcom,
    /// Any other op.
    Op,
}

/// A drawn node.
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    pub name: String,
    #[serde(rename = "type")]
    pub op_type: String,
    pub kind: Kind,
    /// Index into [`Graph::scopes`] of the innermost scope, -1 for none.
    pub scope: i64,
    /// One `f32[2,3]` text per output (`?` where neither the desc nor the run tells).
    pub outs: Vec<String>,
    /// The node's attrs as (name, text) pairs, sorted by name; weights abbreviated.
    pub attrs: Vec<(String, String)>,
    /// Where it comes from in the TorchScript source, when the export recorded it.
    pub source: Option<String>,
}

/// A drawn edge: `from`'s output `port` (-1: a control edge) feeds `to`.
#[derive(Clone, Debug, Serialize)]
pub struct Edge {
    pub from: usize,
    pub port: i64,
    pub to: usize,
    /// dtype and shape of the tensor (`f32[2,3]`), empty for a control edge.
    pub label: String,
}

/// A module scope: a box of the drawing.
#[derive(Clone, Debug, Serialize)]
pub struct Scope {
    /// The module path, e.g. `model.transformer.h[0]`.
    pub path: String,
    /// The module's class (its last dotted component), may be empty.
    pub class: String,
    /// The enclosing scope, -1 for a top-level one.
    pub parent: i64,
    /// Nodes in this scope and the scopes inside it.
    pub count: usize,
    /// Hcom nodes among them.
    pub hcom: usize,
}

/// One graph prepared for drawing (one rank of a multi-card folder).
#[derive(Clone, Debug, Serialize)]
pub struct Graph {
    /// The tab's title: `rank 0`, or the file name.
    pub label: String,
    pub file: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub scopes: Vec<Scope>,
    /// Scopes open when the page opens (see [`initial_expansion`]).
    pub expanded: Vec<usize>,
    /// What could not be read or drawn, one line each.
    pub problems: Vec<String>,
    /// How the shapes were found, and other remarks.
    pub notes: Vec<String>,
}

/// What the command draws.
#[derive(Clone, Debug, Serialize)]
pub struct Shown {
    pub title: String,
    pub graphs: Vec<Graph>,
}

impl Shown {
    /// Every problem, prefixed with its graph's label when there are several graphs.
    pub fn problems(&self) -> Vec<String> {
        let many = self.graphs.len() > 1;
        self.graphs
            .iter()
            .flat_map(|g| {
                g.problems.iter().map(move |p| {
                    if many {
                        format!("{}: {p}", g.label)
                    } else {
                        p.clone()
                    }
                })
            })
            .collect()
    }

    /// Nodes drawn over all graphs.
    pub fn nodes(&self) -> usize {
        self.graphs.iter().map(|g| g.nodes.len()).sum()
    }
}

/// Options of [`show`].
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Run the graph on sample inputs to learn the shapes its descs leave out.
    pub run: bool,
    /// At most this many boxes and nodes visible when the page opens.
    pub budget: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            run: true,
            budget: 50,
        }
    }
}

/// Reads an .air or a folder (one .air per rank: `<name><r>.air`, or `rank_<r>/` folders each
/// holding one) and prepares every graph for drawing. Fails (exit 2) only when no graph has a
/// node to draw.
pub fn show(path: &Path, opts: Options) -> Result<Shown> {
    let files = files_of(path)?;
    let bar = crate::progress::line("{spinner} reading graphs: {pos} of {len} {msg}");
    bar.set_length(files.len() as u64);
    let mut loaded = vec![];
    for (label, f) in &files {
        bar.set_message(f.display().to_string());
        loaded.push((label.clone(), f.clone(), load(f)));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let shapes = if opts.run {
        run_shapes(&loaded)
    } else {
        vec![
            (
                HashMap::new(),
                vec!["shapes: from the descs only (--no-run)".into()]
            );
            loaded.len()
        ]
    };
    let mut graphs = vec![];
    for ((label, file, l), (observed, notes)) in loaded.into_iter().zip(shapes) {
        let mut g = graph(&label, &file, l, &observed, opts.budget);
        g.notes.extend(notes);
        g.expanded = initial_expansion(&g, opts.budget);
        graphs.push(g);
    }
    if graphs.iter().all(|g| g.nodes.is_empty()) {
        let why: Vec<String> = graphs.iter().flat_map(|g| g.problems.clone()).collect();
        return Err(Error::Input(format!(
            "nothing to draw in '{}': {}; fix: pass an .air file (torch2air's or TorchAir's) or a multi-card export folder",
            path.display(),
            if why.is_empty() { "no nodes".to_string() } else { why.join("; ") }
        )));
    }
    Ok(Shown {
        title: path.display().to_string(),
        graphs,
    })
}

/// The graphs of a path with their tab labels: a file; a folder's `*.air` (a multi-rank export
/// `<name><r>.air` is labelled `rank r`); else its `rank_<r>/*.air`.
fn files_of(path: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !path.is_dir() {
        let f = crate::check::air_files(path)?;
        return Ok(f.into_iter().map(|f| (file_label(&f), f)).collect());
    }
    if let Ok(ranks) = crate::dist::run::find_ranks(path, None) {
        if ranks.len() > 1 {
            return Ok(ranks
                .into_iter()
                .enumerate()
                .map(|(r, f)| (format!("rank {r}"), f))
                .collect());
        }
    }
    let mut rank_dirs: Vec<(usize, PathBuf)> = std::fs::read_dir(path)
        .map_err(|e| Error::Io(format!("cannot read folder '{}': {e}", path.display())))?
        .flatten()
        .filter_map(|e| {
            let r: usize = e
                .file_name()
                .to_str()?
                .strip_prefix("rank_")?
                .parse()
                .ok()?;
            e.path().is_dir().then(|| (r, e.path()))
        })
        .collect();
    rank_dirs.sort();
    let mut out = vec![];
    for (r, d) in &rank_dirs {
        if let Ok(files) = crate::check::air_files(d) {
            if let [one] = files.as_slice() {
                out.push((format!("rank {r}"), one.clone()));
            }
        }
    }
    if !out.is_empty() && crate::check::air_files(path).is_err() {
        return Ok(out);
    }
    let f = crate::check::air_files(path)?;
    Ok(f.into_iter().map(|f| (file_label(&f), f)).collect())
}

fn file_label(f: &Path) -> String {
    f.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| f.display().to_string())
}

/// Output (dtype, shape) per node name, learnt from a run.
type Observed = HashMap<String, Vec<(Option<DType>, Vec<i64>)>>;

/// A sample input per `Data` node: random values of its dtype (integers 0 or 1), each dynamic
/// dim (-1) `dyn_size`.
fn sample_inputs(m: &ModelDef, dyn_size: i64) -> std::result::Result<Vec<tch::Tensor>, String> {
    crate::run::graph_inputs(m)
        .into_iter()
        .map(|(name, _, dt, shape)| {
            let dt =
                dt.ok_or_else(|| format!("graph input '{name}' has no dtype torch2air knows"))?;
            if shape == [-2] {
                return Err(format!("graph input '{name}' has an unknown rank"));
            }
            let dims: Vec<String> = shape
                .iter()
                .map(|d| if *d < 0 { dyn_size } else { *d }.to_string())
                .collect();
            // Integers in [0, 2): valid indices into any dim of size 2 or more.
            let range = if dt.is_float() || dt == DType::Bool {
                ""
            } else {
                ":0..2"
            };
            let spec = format!("{}[{}]{range}", dt.name(), dims.join(","));
            match crate::spec::make_all(&[spec], 0)
                .map_err(|e| e.to_string())?
                .pop()
            {
                Some(crate::value::Value::Tensor(t)) => Ok(t.tensor.shallow_clone()),
                _ => Err(format!("no sample input for '{name}'")),
            }
        })
        .collect()
}

fn has_dynamic_input(m: &ModelDef) -> bool {
    !m.graph.is_empty()
        && crate::run::graph_inputs(m)
            .iter()
            .any(|(_, _, _, s)| s.iter().any(|d| *d < 0))
}

/// Runs one model on sample inputs, recording every node's outputs; the run's problems as notes.
fn observe_one(
    m: &ModelDef,
    dir: &Path,
    dyn_size: i64,
    bar: &indicatif::ProgressBar,
) -> (Observed, Vec<String>) {
    let mut seen = Observed::new();
    if m.graph.iter().all(|g| g.op.is_empty()) {
        return (seen, vec![]);
    }
    let inputs = match sample_inputs(m, dyn_size) {
        Ok(i) => i,
        Err(e) => return (seen, vec![format!("shapes: from the descs only ({e})")]),
    };
    let r = crate::run::run_model_observed(m, dir, &inputs, &mut |op, outs| {
        bar.inc(1);
        seen.insert(
            op.name.clone(),
            outs.iter()
                .map(|t| (crate::dtype::of_tensor(t).ok(), t.size()))
                .collect(),
        );
    });
    let notes = match r {
        Ok(o) => o
            .problems
            .iter()
            .take(3)
            .map(|p| format!("shapes: the sample run could not compute every node ({p})"))
            .collect(),
        Err(e) => vec![format!(
            "shapes: from the descs only (the sample run failed: {e})"
        )],
    };
    (seen, notes)
}

/// Where a graph has dynamic dims, two runs (dynamic dims 3, then 5): a dim that differs is
/// shown as -1.
fn merge_dynamic(a: Observed, b: &Observed) -> Observed {
    a.into_iter()
        .map(|(k, outs)| {
            let other = b.get(&k);
            let outs = outs
                .into_iter()
                .enumerate()
                .map(|(i, (dt, s))| match other.and_then(|o| o.get(i)) {
                    Some((_, s2)) if s2.len() == s.len() => (
                        dt,
                        s.iter()
                            .zip(s2)
                            .map(|(x, y)| if x == y { *x } else { -1 })
                            .collect(),
                    ),
                    Some(_) => (dt, vec![-2]),
                    None => (dt, s),
                })
                .collect();
            (k, outs)
        })
        .collect()
}

/// Output shapes from running each graph on sample inputs (ranks together, collectives across
/// them); one (observed, notes) per loaded graph.
fn run_shapes(loaded: &[(String, PathBuf, load::Loaded)]) -> Vec<(Observed, Vec<String>)> {
    let bar = crate::progress::line(
        "{spinner} running the graph on sample inputs for shapes: node {pos} of {len} {msg}",
    );
    let dir_of = |f: &Path| {
        f.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ".".into())
    };
    let dynamic = loaded.iter().any(|(_, _, l)| has_dynamic_input(&l.model));
    let sizes: &[i64] = if dynamic { &[3, 5] } else { &[3] };
    let nodes: usize = loaded
        .iter()
        .map(|(_, _, l)| l.model.graph.iter().map(|g| g.op.len()).sum::<usize>())
        .sum();
    bar.set_length((nodes * sizes.len()) as u64);
    let mut runs: Vec<Vec<(Observed, Vec<String>)>> = vec![];
    for &size in sizes {
        if dynamic {
            bar.set_message(format!("(dynamic dims = {size})"));
        }
        let bar = &bar;
        let one = if loaded.len() > 1 {
            let world = loaded.len();
            match crate::dist::Groups::new(world, &[]) {
                Ok(groups) => crate::dist::on_every_rank(world, &groups, |r, _| {
                    let (_, f, l) = &loaded[r];
                    Ok(observe_one(&l.model, &dir_of(f), size, bar))
                })
                .into_iter()
                .map(|r| r.unwrap_or_else(|e| (Observed::new(), vec![format!("shapes: {e}")])))
                .collect(),
                Err(e) => loaded
                    .iter()
                    .map(|_| (Observed::new(), vec![format!("shapes: {e}")]))
                    .collect(),
            }
        } else {
            loaded
                .iter()
                .map(|(_, f, l)| observe_one(&l.model, &dir_of(f), size, bar))
                .collect()
        };
        runs.push(one);
    }
    bar.finish_and_clear();
    let mut runs = runs.into_iter();
    let first = runs.next().unwrap_or_default();
    let second = runs.next();
    first
        .into_iter()
        .enumerate()
        .map(|(i, (obs, mut notes))| {
            let obs = match &second {
                Some(s) => merge_dynamic(obs, &s[i].0),
                None => obs,
            };
            notes.insert(
                0,
                if dynamic {
                    "shapes: from the descs, else from two runs of the graph on random sample inputs (dynamic dims 3 and 5; dims that differ shown as -1)".to_string()
                } else {
                    "shapes: from the descs, else from a run of the graph on random sample inputs".to_string()
                },
            );
            (obs, notes)
        })
        .collect()
}

/// A tensor's dtype and shape as text (`f32[2,-1]`; `?` for what is unknown).
pub fn tensor_text(dt: Option<DType>, shape: Option<&[i64]>) -> String {
    crate::inspect::tensor_text(dt, shape)
}

/// A desc's dtype and shape when it carries them (TorchAir's placeholder descs carry neither).
fn desc_info(d: &TensorDescriptor) -> Option<(Option<DType>, Option<Vec<i64>>)> {
    if crate::run::is_placeholder(d) {
        return None;
    }
    Some((
        DType::from_ge_proto(d.dtype),
        d.shape.as_ref().map(|s| s.dim.clone()),
    ))
}

fn kind_of(op_type: &str) -> Kind {
    match op_type {
        "Data" | "RefData" => Kind::Input,
        "Const" | "Constant" | "FileConstant" | "Variable" => Kind::Weight,
        "NetOutput" => Kind::Output,
        t if t.starts_with("Hcom") => Kind::Hcom,
        _ => Kind::Op,
    }
}

/// The output texts of an op: the run's values, else its descs, else the weight's own attrs.
fn outputs_of(op: &OpDef, observed: &Observed) -> Vec<String> {
    let seen = observed.get(&op.name);
    let weight = match op.r#type.as_str() {
        "Const" => op
            .attr
            .get("value")
            .and_then(attr::as_tensor)
            .and_then(|t| t.desc.as_ref())
            .map(|d| {
                (
                    DType::from_ge_proto(d.dtype),
                    Some(d.shape.as_ref().map(|s| s.dim.clone()).unwrap_or_default()),
                )
            }),
        "FileConstant" => Some((
            op.attr
                .get("dtype")
                .and_then(attr::as_int)
                .and_then(DType::from_ge_cpp),
            op.attr.get("shape").and_then(attr::as_list_int),
        )),
        _ => None,
    };
    let n = op.output_desc.len().max(seen.map(|s| s.len()).unwrap_or(0));
    (0..n)
        .map(|i| {
            if let Some((dt, s)) = seen.and_then(|s| s.get(i)) {
                // A desc's -1 dims (a dynamic graph) stay -1 even where one run fixed them.
                let mut s = s.clone();
                if let Some(Some(ds)) = op.output_desc.get(i).and_then(desc_info).map(|x| x.1) {
                    if ds.len() == s.len() {
                        for (x, d) in s.iter_mut().zip(&ds) {
                            if *d < 0 {
                                *x = *d;
                            }
                        }
                    }
                }
                return tensor_text(*dt, Some(&s));
            }
            if i == 0 {
                if let Some((dt, s)) = &weight {
                    return tensor_text(*dt, s.as_deref());
                }
            }
            match op.output_desc.get(i).and_then(desc_info) {
                Some((dt, s)) => tensor_text(dt, s.as_deref()),
                None => "?".into(),
            }
        })
        .collect()
}

/// An attr's value as short text: weights by dtype, shape and size, long values cut.
fn attr_text(a: &crate::proto::AttrDef) -> String {
    if let Some(t) = attr::as_tensor(a) {
        let d = t.desc.clone().unwrap_or_default();
        return format!(
            "tensor {} ({} bytes)",
            tensor_text(
                DType::from_ge_proto(d.dtype),
                Some(&d.shape.map(|s| s.dim).unwrap_or_default())
            ),
            t.data.len()
        );
    }
    if let Some(s) = attr::as_str(a) {
        return cut(&s, 2000);
    }
    let t = crate::proto::text_format(a, "ge.proto.AttrDef");
    cut(t.trim(), 600)
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut c: String = s.chars().take(max).collect();
    c.push_str(" ...");
    c
}

/// The module chain of a node, outermost first, as (path, class) pairs: from `nn_module_stack`
/// (a Python dict repr), else from the call stack in `_torch2air_source`.
pub fn module_chain(op: &OpDef) -> Vec<(String, String)> {
    if let Some(stack) = op.attr.get("nn_module_stack").and_then(attr::as_str) {
        static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = RE.get_or_init(|| {
            regex::Regex::new(r#"\("([^"]*)",\s*<class '([^']*)'>\)"#).expect("valid regex")
        });
        let chain: Vec<(String, String)> = re
            .captures_iter(&stack)
            .map(|c| {
                let path = c[1]
                    .trim_start_matches("L['self']")
                    .trim_start_matches('.')
                    .to_string();
                let class = c[2].rsplit('.').next().unwrap_or("").to_string();
                (path, class)
            })
            .filter(|(p, _)| !p.is_empty())
            .collect();
        if !chain.is_empty() {
            return chain;
        }
    }
    // `  in <instance>.<fn> (<class>) called at ...` lines, innermost first.
    let Some(src) = op.attr.get(crate::walk::SOURCE_ATTR).and_then(attr::as_str) else {
        return vec![];
    };
    let mut frames: Vec<(String, String)> = src
        .lines()
        .skip(1)
        .filter_map(|l| {
            let l = l.trim().strip_prefix("in ")?;
            let (call, rest) = l.split_once(' ').unwrap_or((l, ""));
            let (inst, _) = call.rsplit_once('.')?;
            let class = rest
                .strip_prefix('(')
                .and_then(|r| r.split_once(')'))
                .map(|(c, _)| c.rsplit('.').next().unwrap_or("").to_string())
                .unwrap_or_default();
            Some((inst.to_string(), class))
        })
        .collect();
    frames.reverse();
    let mut out = vec![];
    let mut path = String::new();
    for (inst, class) in frames {
        path = if path.is_empty() {
            inst
        } else {
            format!("{path}.{inst}")
        };
        out.push((path.clone(), class));
    }
    out
}

/// Builds the drawn graph of one loaded model.
fn graph(label: &str, file: &Path, l: load::Loaded, observed: &Observed, budget: usize) -> Graph {
    let mut problems = l.problems;
    let ops: Vec<&OpDef> = l.model.graph.iter().flat_map(|g| &g.op).collect();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut scopes: Vec<Scope> = vec![];
    let mut scope_ids: HashMap<String, usize> = HashMap::new();
    let mut nodes = vec![];
    let mut unknown: BTreeMap<&str, usize> = BTreeMap::new();
    for op in &ops {
        if index.contains_key(op.name.as_str()) {
            problems.push(format!(
                "node name '{}' ({}) is used twice; the second is not drawn",
                op.name, op.r#type
            ));
            continue;
        }
        if crate::ge::schema::op(&op.r#type).is_none()
            && !matches!(
                op.r#type.as_str(),
                "Data" | "Const" | "FileConstant" | "NetOutput"
            )
        {
            *unknown.entry(op.r#type.as_str()).or_default() += 1;
        }
        let mut parent: i64 = -1;
        for (path, class) in module_chain(op) {
            let id = *scope_ids.entry(path.clone()).or_insert_with(|| {
                scopes.push(Scope {
                    path: path.clone(),
                    class: class.clone(),
                    parent,
                    count: 0,
                    hcom: 0,
                });
                scopes.len() - 1
            });
            parent = id as i64;
        }
        let kind = kind_of(&op.r#type);
        let attrs = op
            .attr
            .iter()
            .filter(|(k, _)| k.as_str() != crate::walk::SOURCE_ATTR)
            .map(|(k, v)| (k.clone(), attr_text(v)))
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect();
        index.insert(op.name.as_str(), nodes.len());
        nodes.push(Node {
            name: op.name.clone(),
            op_type: op.r#type.clone(),
            kind,
            scope: parent,
            outs: outputs_of(op, observed),
            attrs,
            source: op.attr.get(crate::walk::SOURCE_ATTR).and_then(attr::as_str),
        });
    }
    if !unknown.is_empty() {
        problems.push(format!(
            "op type(s) not in GE's prototypes (drawn, without port names): {}",
            unknown
                .iter()
                .map(|(t, n)| format!("{t} x{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut edges = vec![];
    for op in &ops {
        let Some(&to) = index.get(op.name.as_str()) else {
            continue;
        };
        for inp in &op.input {
            if inp.is_empty() {
                continue;
            }
            let inp = inp.strip_prefix('^').unwrap_or(inp);
            let (src, port) = match inp.rsplit_once(':') {
                Some((s, p)) => match p.parse::<i64>() {
                    Ok(p) => (s, p),
                    Err(_) => (inp, 0),
                },
                None => (inp, 0),
            };
            let Some(&from) = index.get(src) else {
                problems.push(format!(
                    "edge '{inp}' -> '{}': no node '{src}' in the graph; not drawn",
                    op.name
                ));
                continue;
            };
            let label = if port < 0 {
                String::new()
            } else {
                nodes[from]
                    .outs
                    .get(port as usize)
                    .cloned()
                    .unwrap_or_else(|| "?".into())
            };
            edges.push(Edge {
                from,
                port,
                to,
                label,
            });
        }
    }
    weights_into_scopes(&mut nodes, &edges, &scopes);
    let mut notes = vec![];
    if scopes.is_empty() && nodes.len() > budget {
        let parts = budget.max(2) * 4 / 5;
        let size = nodes.len().div_ceil(parts);
        for (k, chunk) in nodes.chunks_mut(size).enumerate() {
            scopes.push(Scope {
                path: format!("nodes {}-{}", k * size + 1, k * size + chunk.len()),
                class: String::new(),
                parent: -1,
                count: 0,
                hcom: 0,
            });
            for n in chunk {
                n.scope = k as i64;
            }
        }
        notes.push(format!(
            "no module scopes recorded (export with --record-nn-module-stack for them): the {} nodes are grouped in file order, {size} a box",
            nodes.len()
        ));
    }
    for n in &nodes {
        let mut s = n.scope;
        while s >= 0 {
            scopes[s as usize].count += 1;
            if n.kind == Kind::Hcom {
                scopes[s as usize].hcom += 1;
            }
            s = scopes[s as usize].parent;
        }
    }
    Graph {
        label: label.to_string(),
        file: file.display().to_string(),
        nodes,
        edges,
        scopes,
        expanded: vec![],
        problems,
        notes,
    }
}

/// Weights and constants carry no scope (TorchAir records none on Const, nor does torch2air):
/// each is drawn in the innermost scope holding all the nodes it feeds.
fn weights_into_scopes(nodes: &mut [Node], edges: &[Edge], scopes: &[Scope]) {
    let chain = |mut s: i64| {
        let mut c = vec![];
        while s >= 0 {
            c.push(s);
            s = scopes[s as usize].parent;
        }
        c.reverse();
        c
    };
    let mut common: HashMap<usize, Vec<i64>> = HashMap::new();
    for e in edges {
        if nodes[e.from].kind != Kind::Weight || nodes[e.from].scope >= 0 {
            continue;
        }
        let c = chain(nodes[e.to].scope);
        common
            .entry(e.from)
            .and_modify(|have| {
                let k = have.iter().zip(&c).take_while(|(a, b)| a == b).count();
                have.truncate(k);
            })
            .or_insert(c);
    }
    for (n, c) in common {
        if let Some(s) = c.last() {
            nodes[n].scope = *s;
        }
    }
}

/// The scopes open when the page opens: breadth first from the top-level modules, each opened
/// while the boxes and nodes on screen stay within `budget` (a graph that fits opens whole).
pub fn initial_expansion(g: &Graph, budget: usize) -> Vec<usize> {
    let mut children: Vec<Vec<usize>> = vec![vec![]; g.scopes.len()];
    let mut direct: Vec<usize> = vec![0; g.scopes.len()];
    let mut roots = vec![];
    for (i, s) in g.scopes.iter().enumerate() {
        match s.parent {
            p if p >= 0 => children[p as usize].push(i),
            _ => roots.push(i),
        }
    }
    for n in &g.nodes {
        if n.scope >= 0 {
            direct[n.scope as usize] += 1;
        }
    }
    let loose = g.nodes.iter().filter(|n| n.scope < 0).count();
    let mut visible = loose + roots.len();
    let mut queue: std::collections::VecDeque<usize> = roots.into_iter().collect();
    let mut open = vec![];
    while let Some(s) = queue.pop_front() {
        // Opening a box replaces it with its children and its own nodes.
        let after = visible + children[s].len() + direct[s] - 1;
        if after <= budget.max(1) {
            visible = after;
            open.push(s);
            queue.extend(children[s].iter().copied());
        }
    }
    open.sort();
    open
}

/// The node each drawn unit stands for when the graph opens: `Some(scope)` for a node inside a
/// closed box, else None (the node is drawn itself).
pub fn closed_box_of(g: &Graph, node: usize, expanded: &[usize]) -> Option<usize> {
    let mut chain = vec![];
    let mut s = g.nodes[node].scope;
    while s >= 0 {
        chain.push(s as usize);
        s = g.scopes[s as usize].parent;
    }
    chain.into_iter().rev().find(|s| !expanded.contains(s))
}
