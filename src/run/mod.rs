//! Stage 5, run: execute an .air with GE semantics, computing each op with libtorch kernels
//! (through tch). As GE's InferShape, every node's output dtype and shape follow from its op type,
//! its attrs and its inputs (the kernels implement the op's rules); the tensor descs are checked
//! against that. For graphs torch2air wrote (the `torch2air_version` model attr) every desc is
//! checked and a mismatch is an error, so a graph whose descs lie fails here. For other graphs
//! (TorchAir's, say) `Data` descs and the declared outputs are checked, other descs only where
//! they carry information (a desc with no shape and the default dtype is a placeholder), and a
//! mismatch is a warning ([`take_warnings`]).
mod kernels;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ge::attr;
use crate::proto::{ModelDef, TensorDescriptor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

pub use kernels::{kernel, kernel_names, KCtx};

/// The runner's memory budget: the largest tensor it makes. Every CPU allocation libtorch makes
/// while a graph runs is checked against it (a crafted `Fill` or `Tile` cannot take the
/// machine's memory), and so is every `Const`/`FileConstant` before its bytes are read.
pub mod budget {
    use crate::error::{Error, Result};
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    /// Default budget per tensor: 1 GiB (the largest random input a SPEC makes is as big).
    pub const DEFAULT_MAX_TENSOR_BYTES: u64 = 1 << 30;
    /// Environment override of the budget in bytes (0: no limit).
    pub const ENV: &str = "TORCH2AIR_MAX_TENSOR_BYTES";

    const UNSET: u64 = u64::MAX;
    static OVERRIDE: AtomicU64 = AtomicU64::new(UNSET);
    static ACTIVE: AtomicUsize = AtomicUsize::new(0);
    static CURRENT: AtomicU64 = AtomicU64::new(0);

    /// Sets the budget (`--max-tensor-bytes`); None: the environment's, else the default.
    pub fn set_max_tensor_bytes(bytes: Option<u64>) {
        OVERRIDE.store(bytes.unwrap_or(UNSET), Ordering::SeqCst);
    }

    /// The configured budget in bytes (0: no limit).
    pub fn configured() -> Result<u64> {
        let o = OVERRIDE.load(Ordering::SeqCst);
        if o != UNSET {
            return Ok(o);
        }
        match std::env::var(ENV) {
            Ok(v) => v.trim().parse().map_err(|_| {
                Error::Input(format!(
                    "{ENV}='{v}' is not a byte count; fix: set it to a whole number of bytes (0: no limit)"
                ))
            }),
            Err(_) => Ok(DEFAULT_MAX_TENSOR_BYTES),
        }
    }

    /// The budget in force while a graph runs (0 outside a run).
    pub(crate) fn current() -> u64 {
        CURRENT.load(Ordering::SeqCst)
    }

    pub(crate) fn over(bytes: u64, budget: u64) -> String {
        format!(
            "a tensor of {bytes} bytes is over the runner's budget of {budget} bytes per tensor; \
             fix: check the graph's shapes, or raise the budget with --max-tensor-bytes ({ENV}) if the graph is right"
        )
    }

    /// Holds the budget in force in libtorch's allocator while alive (nested and concurrent runs,
    /// such as the ranks of a multi-card run, share it).
    pub(crate) struct Active;

    impl Active {
        pub(crate) fn enter() -> Result<Active> {
            let b = configured()?;
            if ACTIVE.fetch_add(1, Ordering::SeqCst) == 0 {
                CURRENT.store(b, Ordering::SeqCst);
                crate::load::set_tensor_budget(b);
            }
            Ok(Active)
        }
    }

    impl Drop for Active {
        fn drop(&mut self) {
            if ACTIVE.fetch_sub(1, Ordering::SeqCst) == 1 {
                CURRENT.store(0, Ordering::SeqCst);
                crate::load::set_tensor_budget(0);
            }
        }
    }
}

/// The model attr torch2air writes on every .air it exports (its version); graphs without it
/// are foreign.
pub const MARKER_ATTR: &str = "torch2air_version";

/// Whether torch2air wrote this model.
pub fn is_ours(m: &ModelDef) -> bool {
    m.attr.contains_key(MARKER_ATTR)
}

static WARNINGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn warn(w: String) {
    if let Ok(mut v) = WARNINGS.lock() {
        if !v.contains(&w) {
            v.push(w);
        }
    }
}

/// The warnings of the runs so far (desc mismatches and prototype dtypes in foreign graphs),
/// each once; clears them.
pub fn take_warnings() -> Vec<String> {
    WARNINGS
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default()
}

/// Checks what the runner relies on before running anything: one graph, `Data` indices
/// 0..n each once, one `NetOutput` whose inputs are all given.
pub fn validate(m: &ModelDef) -> Result<()> {
    let bad = |why: String| Error::Run(format!("the .air is malformed: {why}"));
    let g = match m.graph.as_slice() {
        [] => return Err(bad("it holds no graph; fix: pass an .air written by torch2air export".into())),
        [g] => g,
        gs => {
            return Err(bad(format!(
                "it holds {} graphs ({}), and an .air is one graph; fix: export each graph to its own .air",
                gs.len(),
                gs.iter().map(|g| format!("'{}'", g.name)).collect::<Vec<_>>().join(", ")
            )))
        }
    };
    let mut seen: HashMap<i64, &str> = HashMap::new();
    let data: Vec<_> = g.op.iter().filter(|o| o.r#type == "Data").collect();
    for o in &data {
        let idx = match o.attr.get("index") {
            None => 0,
            Some(a) => attr::as_int(a).ok_or_else(|| {
                bad(format!(
                    "Data node '{}' has an 'index' attr that is not an int",
                    o.name
                ))
            })?,
        };
        if idx < 0 || idx as usize >= data.len() {
            return Err(bad(format!(
                "Data node '{}' has index {idx}, outside 0..{} (one index per graph input); fix: number the Data nodes 0, 1, ...",
                o.name,
                data.len()
            )));
        }
        if let Some(other) = seen.insert(idx, &o.name) {
            return Err(bad(format!(
                "Data nodes '{other}' and '{}' both have index {idx}, so one input would be dropped; fix: give each Data node its own index",
                o.name
            )));
        }
    }
    let outs: Vec<_> = g.op.iter().filter(|o| o.r#type == "NetOutput").collect();
    match outs.as_slice() {
        [] => {
            return Err(bad(
                "the graph has no NetOutput node; fix: pass an .air written by torch2air export".into(),
            ))
        }
        [o] => {
            if let Some(k) = o.input.iter().position(|i| i.is_empty()) {
                return Err(bad(format!(
                    "NetOutput '{}' input {k} is empty (\"\"): every output must name the node that computes it; fix: wire it as NODE:INDEX, or re-export the model",
                    o.name
                )));
            }
        }
        _ => {
            return Err(bad(
                "the graph has more than one NetOutput node; fix: pass an .air written by torch2air export".into(),
            ))
        }
    }
    Ok(())
}

pub(crate) fn tensor_from_bytes(
    bytes: &[u8],
    dt: DType,
    shape: &[i64],
) -> std::result::Result<Tensor, String> {
    let want = tensor_bytes(dt, shape)?;
    if bytes.len() as u64 != want {
        return Err(format!(
            "holds {} bytes but {} {:?} needs {want}",
            bytes.len(),
            dt.name(),
            shape
        ));
    }
    Ok(Tensor::from_data_size(bytes, shape, dt.kind()))
}

/// The bytes a tensor of `dt` and `shape` takes, checked: every dim at least 0, the product
/// within u64, and within the runner's tensor budget.
pub fn tensor_bytes(dt: DType, shape: &[i64]) -> std::result::Result<u64, String> {
    if let Some(d) = shape.iter().find(|d| **d < 0) {
        return Err(format!(
            "shape {shape:?} has a negative dim ({d}); a tensor's dims are sizes, 0 or more"
        ));
    }
    let bytes = shape
        .iter()
        .try_fold(dt.size() as u64, |n, d| n.checked_mul(*d as u64))
        .ok_or_else(|| format!("shape {shape:?} has more elements than memory can hold"))?;
    let budget = budget::current();
    if budget != 0 && bytes > budget {
        return Err(budget::over(bytes, budget));
    }
    Ok(bytes)
}

fn desc_dtype(d: &TensorDescriptor) -> Option<DType> {
    DType::from_ge_proto(d.dtype)
}

fn shape_matches(desc: &[i64], actual: &[i64]) -> bool {
    desc.len() == actual.len() && desc.iter().zip(actual).all(|(d, a)| *d < 0 || d == a)
}

/// Where the runner may read FileConstant weight files from.
pub mod weights {
    use std::sync::atomic::{AtomicBool, Ordering};
    static EXTERNAL: AtomicBool = AtomicBool::new(false);

    /// `--allow-external-weights`: follow `file_path` wherever it points.
    pub fn allow_external(yes: bool) {
        EXTERNAL.store(yes, Ordering::SeqCst);
    }

    pub fn external() -> bool {
        EXTERNAL.load(Ordering::SeqCst)
    }
}

/// Where a FileConstant's file is, checked to hold `bytes` bytes before anything is read.
///
/// By default only what belongs to the export is read: a plain file (no symbolic link) named
/// like `file_path`'s last component, in the .air's folder or, for multi-card exports, in its
/// `rank_<r>/` subfolder. `file_path` itself (relative to the working folder as ATC reads it, or
/// absolute) is followed only with `--allow-external-weights` ([`weights::allow_external`]).
pub fn resolve_weight(
    file_path: &str,
    air_dir: &Path,
    bytes: u64,
) -> std::result::Result<PathBuf, String> {
    let p = Path::new(file_path);
    let checked = |f: &Path, meta: std::fs::Metadata| -> std::result::Result<PathBuf, String> {
        if meta.len() != bytes {
            return Err(format!(
                "weight file '{}' does not hold the {bytes} bytes its FileConstant needs; \
                 fix: re-export, or keep the weight files of this export next to its .air",
                f.display()
            ));
        }
        Ok(f.to_path_buf())
    };
    if weights::external() {
        let mut tried = vec![p.to_path_buf()];
        if p.is_relative() {
            if let Some(parent) = air_dir.parent() {
                tried.push(parent.join(p));
            }
        }
        for t in &tried {
            if let Ok(meta) = std::fs::metadata(t) {
                if meta.is_file() {
                    return checked(t, meta);
                }
            }
        }
    }
    let name = match p.components().next_back() {
        Some(std::path::Component::Normal(n)) => n,
        _ => {
            return Err(format!(
                "FileConstant file_path '{file_path}' does not end in a file name; fix: re-export the model"
            ))
        }
    };
    let mut tried = vec![air_dir.join(name)];
    if let Some(std::path::Component::Normal(dir)) =
        p.parent().and_then(|d| d.components().next_back())
    {
        let dir_s = dir.to_string_lossy();
        if dir_s
            .strip_prefix("rank_")
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
        {
            let rank_dir = air_dir.join(dir);
            if std::fs::symlink_metadata(&rank_dir).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(format!(
                    "'{}' is a symbolic link; torch2air reads weights only from the export's own folders. \
                     fix: replace the link by the folder, or pass --allow-external-weights",
                    rank_dir.display()
                ));
            }
            tried.insert(0, rank_dir.join(name));
        }
    }
    for t in &tried {
        match std::fs::symlink_metadata(t) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "weight file '{}' is a symbolic link; torch2air reads weights only from the export's own folder. \
                     fix: copy the file there, or pass --allow-external-weights",
                    t.display()
                ))
            }
            Ok(m) if m.is_file() => return checked(t, m),
            _ => {}
        }
    }
    Err(format!(
        "weight file '{file_path}' not found in the export's folder (tried {}); fix: keep the weight files next to \
         the .air (as export writes them), or pass --allow-external-weights to read file_path as written",
        tried.iter().map(|t| format!("'{}'", t.display())).collect::<Vec<_>>().join(", ")
    ))
}

/// The graph's inputs: (Data name, index, dtype, shape with -1 for dynamic dims).
pub fn graph_inputs(m: &ModelDef) -> Vec<(String, i64, Option<DType>, Vec<i64>)> {
    let g = &m.graph[0];
    let mut v: Vec<_> =
        g.op.iter()
            .filter(|o| o.r#type == "Data")
            .map(|o| {
                let idx = o.attr.get("index").and_then(attr::as_int).unwrap_or(0);
                let d = o.output_desc.first();
                let dt = d.and_then(desc_dtype);
                let shape = d
                    .and_then(|d| d.shape.as_ref())
                    .map(|s| s.dim.clone())
                    .unwrap_or_default();
                (o.name.clone(), idx, dt, shape)
            })
            .collect();
    v.sort_by_key(|x| x.1);
    v
}

/// Runs a ModelDef on `inputs` (one per Data node, by index). `air_dir` is the folder of the
/// .air file, for FileConstant paths.
pub fn run_model(m: &ModelDef, air_dir: &Path, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let _guard = tch::no_grad_guard();
    validate(m)?;
    let _budget = budget::Active::enter()?;
    let g = &m.graph[0];
    let expected = graph_inputs(m);
    if inputs.len() != expected.len() {
        return Err(Error::Input(format!(
            "the graph takes {} tensor input(s) ({}), {} given; fix: pass one --input per graph input, in order",
            expected.len(),
            expected.iter().map(|(n, _, dt, s)| format!("{n}: {}{s:?}", dt.map(|d| d.name()).unwrap_or("?"))).collect::<Vec<_>>().join(", "),
            inputs.len()
        )));
    }
    for ((name, _, dt, shape), t) in expected.iter().zip(inputs) {
        let got = crate::dtype::of_tensor(t).map_err(Error::Input)?;
        if Some(got) != *dt || !shape_matches(shape, &t.size()) {
            return Err(Error::Input(format!(
                "graph input '{name}' is {}{shape:?} but {}{:?} was given; fix: pass a matching --input",
                dt.map(|d| d.name()).unwrap_or("?"),
                got.name(),
                t.size()
            )));
        }
    }
    let ours = is_ours(m);
    let mut values: HashMap<&str, Vec<Tensor>> = HashMap::new();
    let by_index: HashMap<i64, &Tensor> = expected.iter().map(|e| e.1).zip(inputs).collect();
    let progress = crate::progress::line("{spinner} running the graph: node {pos} of {len}");
    progress.set_length(g.op.len() as u64);
    for op in &g.op {
        progress.inc(1);
        match run_node(op, ours, &values, &by_index, air_dir)? {
            Step::Computed(outs) => {
                values.insert(op.name.as_str(), outs);
            }
            Step::Returned(outs) => {
                progress.finish_and_clear();
                return Ok(outs);
            }
        }
    }
    progress.finish_and_clear();
    Err(Error::Run("the graph has no NetOutput node".into()))
}

/// What running one node gives.
enum Step {
    Computed(Vec<Tensor>),
    /// NetOutput: the graph's outputs.
    Returned(Vec<Tensor>),
}

/// Runs one node on the values computed so far (by node name).
fn run_node(
    op: &crate::proto::OpDef,
    ours: bool,
    values: &HashMap<&str, Vec<Tensor>>,
    by_index: &HashMap<i64, &Tensor>,
    air_dir: &Path,
) -> Result<Step> {
    let fail = |e: String| Error::Run(format!("running node '{}' ({}): {e}", op.name, op.r#type));
    NODE.with(|n| *n.borrow_mut() = format!("node '{}' ({})", op.name, op.r#type));
    let mut ins: Vec<Option<Tensor>> = vec![];
    for (k, inp) in op.input.iter().filter(|i| !i.ends_with(":-1")).enumerate() {
        if inp.is_empty() {
            ins.push(None);
            continue;
        }
        let (src, idx) = inp
            .rsplit_once(':')
            .ok_or_else(|| fail(format!("bad input '{inp}'")))?;
        let idx: usize = idx
            .parse()
            .map_err(|_| fail(format!("bad input '{inp}'")))?;
        let t = values
            .get(src)
            .and_then(|v| v.get(idx))
            .ok_or_else(|| fail(format!("input '{inp}' is not computed before this node")))?;
        if let Some(d) = op.input_desc.get(k) {
            // NetOutput's inputs are the graph's declared outputs: always checked.
            let declared = op.r#type == "NetOutput";
            desc_rule(ours, declared, check_desc(t, d, "input", ours || declared)).map_err(fail)?;
        }
        ins.push(Some(t.shallow_clone()));
    }
    let outs: Vec<Tensor> = match op.r#type.as_str() {
        "Data" => {
            let idx = op.attr.get("index").and_then(attr::as_int).unwrap_or(0);
            vec![by_index
                .get(&idx)
                .ok_or_else(|| fail(format!("no input for index {idx}")))?
                .shallow_clone()]
        }
        "Const" => {
            let v = op
                .attr
                .get("value")
                .and_then(attr::as_tensor)
                .ok_or_else(|| fail("no value attr".into()))?;
            let d = v.desc.clone().unwrap_or_default();
            let dt = desc_dtype(&d)
                .ok_or_else(|| fail(format!("unsupported Const dtype {}", d.dtype)))?;
            let shape = d.shape.map(|s| s.dim).unwrap_or_default();
            vec![
                crate::error::catch_quietly(|| tensor_from_bytes(&v.data, dt, &shape))
                    .and_then(|r| r)
                    .map_err(|e| fail(format!("value {e}")))?,
            ]
        }
        "FileConstant" => {
            let path = op
                .attr
                .get("file_path")
                .and_then(attr::as_str)
                .ok_or_else(|| fail("no file_path".into()))?;
            let dt = op
                .attr
                .get("dtype")
                .and_then(attr::as_int)
                .and_then(DType::from_ge_cpp);
            let dt = dt.ok_or_else(|| fail("no or unsupported dtype attr".into()))?;
            let shape = op
                .attr
                .get("shape")
                .and_then(attr::as_list_int)
                .ok_or_else(|| fail("no shape attr".into()))?;
            let n = tensor_bytes(dt, &shape).map_err(fail)?;
            let file = resolve_weight(&path, air_dir, n).map_err(fail)?;
            let bytes = std::fs::read(&file)
                .map_err(|e| fail(format!("reading '{}': {e}", file.display())))?;
            vec![
                crate::error::catch_quietly(|| tensor_from_bytes(&bytes, dt, &shape))
                    .and_then(|r| r)
                    .map_err(|e| fail(format!("file '{}' {e}", file.display())))?,
            ]
        }
        "NetOutput" => {
            return ins
                .into_iter()
                .enumerate()
                .map(|(k, t)| t.ok_or_else(|| fail(format!("output {k} is not given"))))
                .collect::<Result<_>>()
                .map(Step::Returned);
        }
        ty => {
            let k = kernel(ty)
                .ok_or_else(|| {
                    fail(format!(
                        "the runner has no kernel for op type '{ty}'; fix: run `torch2air check` on the .air to see \
                         whether '{ty}' is a GE operator the graph uses correctly (the runner covers `torch2air ops`' \
                         lowerings and TorchAir's)"
                    ))
                })?;
            if !ours {
                prototype_dtypes(op, &ins);
            }
            let ctx = KCtx {
                op,
                inputs: ins,
                foreign: !ours,
            };
            // A libtorch error inside a kernel (a shape or value the op cannot take, an
            // allocation over the budget) is the graph's problem: an error naming the node.
            let outs = crate::error::catch_quietly(|| k(&ctx))
                .and_then(|r| r)
                .map_err(fail)?;
            for (t, d) in outs.iter().zip(&op.output_desc) {
                desc_rule(ours, false, check_desc(t, d, "output", ours))
                    .map_err(|e| sample_size_hint(op, e))
                    .map_err(fail)?;
            }
            outs
        }
    };
    Ok(Step::Computed(outs))
}

/// What [`run_model_observed`] could do.
pub struct Observed {
    /// The graph's outputs, when its NetOutput could be computed.
    pub outputs: Option<Vec<Tensor>>,
    /// What could not be run, one line each (the graph's malformations, nodes that failed).
    pub problems: Vec<String>,
    /// How many nodes were skipped because an input comes from a node that failed.
    pub skipped: usize,
}

/// Runs a ModelDef as [`run_model`] does, handing every node's outputs to `observe` in execution
/// order, and going on past what fails: a malformed graph, a node that fails (its dependents are
/// skipped) are listed in [`Observed::problems`], and the rest still runs. For `verify --bisect`.
pub fn run_model_observed(
    m: &ModelDef,
    air_dir: &Path,
    inputs: &[Tensor],
    observe: &mut dyn FnMut(&crate::proto::OpDef, &[Tensor]),
) -> Result<Observed> {
    let _guard = tch::no_grad_guard();
    let mut problems = vec![];
    if let Err(e) = validate(m) {
        problems.push(e.to_string());
    }
    let Some(g) = m.graph.first() else {
        return Ok(Observed {
            outputs: None,
            problems,
            skipped: 0,
        });
    };
    let _budget = budget::Active::enter()?;
    let expected = graph_inputs(m);
    if inputs.len() != expected.len() {
        problems.push(format!(
            "the graph takes {} tensor input(s), {} given",
            expected.len(),
            inputs.len()
        ));
    }
    for ((name, _, dt, shape), t) in expected.iter().zip(inputs) {
        let got = crate::dtype::of_tensor(t).ok();
        if got != *dt || !shape_matches(shape, &t.size()) {
            problems.push(format!(
                "graph input '{name}' is {}{shape:?} but {} is given",
                dt.map(|d| d.name()).unwrap_or("?"),
                crate::dtype::spelled(t)
            ));
        }
    }
    let ours = is_ours(m);
    let by_index: HashMap<i64, &Tensor> = expected.iter().map(|e| e.1).zip(inputs).collect();
    let mut values: HashMap<&str, Vec<Tensor>> = HashMap::new();
    let mut failed: std::collections::HashSet<&str> = Default::default();
    let (mut outputs, mut skipped) = (None, 0);
    for op in &g.op {
        let from_failed = op.input.iter().any(|i| {
            let i = i.strip_prefix('^').unwrap_or(i);
            failed.contains(i.rsplit_once(':').map(|(n, _)| n).unwrap_or(i))
        });
        if from_failed {
            failed.insert(op.name.as_str());
            skipped += 1;
            continue;
        }
        match run_node(op, ours, &values, &by_index, air_dir) {
            Ok(Step::Computed(outs)) => {
                observe(op, &outs);
                values.insert(op.name.as_str(), outs);
            }
            Ok(Step::Returned(outs)) => outputs = Some(outs),
            Err(e) => {
                problems.push(e.to_string());
                failed.insert(op.name.as_str());
            }
        }
    }
    Ok(Observed {
        outputs,
        problems,
        skipped,
    })
}

/// A desc that carries no information: no shape and the default dtype (DT_FLOAT) or none. TorchAir
/// writes these for tensors whose dtype and shape it leaves to GE's inference.
pub fn is_placeholder(d: &TensorDescriptor) -> bool {
    d.shape.is_none() && matches!(d.dtype, 0 | 1)
}

/// A desc mismatch: an error for our own graphs, a warning (naming the node) for foreign ones.
fn desc_rule(
    ours: bool,
    declared: bool,
    r: std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    match r {
        Err(e) if !ours => {
            let what = if declared { " (a declared output)" } else { "" };
            warn_here(format!(
                "{e}{what}; the value computed by GE's rules is used"
            ));
            Ok(())
        }
        r => r,
    }
}

thread_local! {
    static NODE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// A warning about the node being run.
pub(crate) fn warn_here(w: String) {
    let node = NODE.with(|n| n.borrow().clone());
    warn(format!("{node}: {w}"));
}

/// Input dtypes outside the op's prototype lists (foreign graphs only): a warning each. An index
/// input listed as INT32 takes INT64 and the other way round, as GE's kernels do (TopKV2's k).
fn prototype_dtypes(op: &crate::proto::OpDef, ins: &[Option<Tensor>]) {
    let Some(proto) = crate::ge::schema::op(&op.r#type) else {
        return;
    };
    for (d, t) in op.input_desc.iter().zip(ins) {
        let Some(t) = t else { continue };
        let Ok(dt) = crate::dtype::of_tensor(t) else {
            continue;
        };
        let Some(types) = crate::ge::schema::input_types(proto, &d.name) else {
            continue;
        };
        if !crate::ge::schema::dtype_allowed(&op.r#type, &d.name, types, dt) {
            warn_here(format!(
                "input '{}' is {}, which the prototype of {} does not list ({}); run as given",
                d.name,
                dt.ge_name(),
                op.r#type,
                types.join(", ")
            ));
        }
    }
}

/// Checks a tensor against its desc. `strict`: every desc counts; otherwise a placeholder desc
/// ([`is_placeholder`]) is skipped.
fn check_desc(
    t: &Tensor,
    d: &TensorDescriptor,
    what: &str,
    strict: bool,
) -> std::result::Result<(), String> {
    if !strict && is_placeholder(d) {
        return Ok(());
    }
    if d.dtype != 0 && desc_dtype(d).is_none() {
        return Err(format!(
            "{what} '{}' declares dtype {} (ge.proto numbering), which torch2air does not run",
            d.name, d.dtype
        ));
    }
    if let Some(dt) = desc_dtype(d) {
        let got = crate::dtype::of_tensor(t)?;
        if got != dt {
            return Err(format!(
                "{what} '{}' is declared {} but computes as {}",
                d.name,
                dt.name(),
                got.name()
            ));
        }
    }
    if let Some(s) = &d.shape {
        // [-2]: unknown rank (GE's UNKNOWN_RANK).
        if s.dim != [-2] && !shape_matches(&s.dim, &t.size()) {
            return Err(format!(
                "{what} '{}' is declared with shape {:?} but is {:?}",
                d.name,
                s.dim,
                t.size()
            ));
        }
    }
    Ok(())
}

/// A size check that failed on a node whose size the export took from the sample's data: says
/// so, and what to do.
fn sample_size_hint(op: &crate::proto::OpDef, e: String) -> String {
    match op
        .attr
        .get(crate::lower::SAMPLE_SIZE_ATTR)
        .and_then(crate::ge::attr::as_str)
    {
        Some(what) => format!(
            "{e}: the graph was exported for the sample's {what}, and this input gives another size; \
             fix: export again with an input like this one"
        ),
        None => e,
    }
}

/// Reads and runs an .air file.
pub fn run_air(path: &Path, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let m = crate::write::read_air(path)?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    run_model(&m, &dir, inputs)
}
