//! Stage 6, verify: run the exported .air with the runner and the TorchScript module itself (the
//! whole module, through tch) on the same inputs, and compare every output.
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::value::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{IValue, Tensor};

/// Default (atol, rtol) for a dtype: |got - ref| <= atol + rtol * |ref| element-wise.
pub fn default_tolerance(dt: DType) -> (f64, f64) {
    match dt {
        DType::F64 => (1e-9, 1e-9),
        DType::F32 => (1e-5, 1e-5),
        DType::F16 => (1e-2, 1e-2),
        DType::BF16 => (5e-2, 5e-2),
        _ => (0.0, 0.0),
    }
}

#[derive(Debug, Clone)]
pub struct OutputCheck {
    pub index: usize,
    pub dtype: DType,
    pub shape: Vec<i64>,
    pub max_abs: f64,
    pub max_rel: f64,
    pub atol: f64,
    pub rtol: f64,
    pub ok: bool,
    /// Why it failed, when the problem is not a number (shape or dtype differ).
    pub problem: Option<String>,
}

impl std::fmt::Display for OutputCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "output {}: {}{:?}  max abs err {:.3e}  max rel err {:.3e}  (atol {:.0e}, rtol {:.0e})  {}",
            self.index,
            self.dtype.name(),
            self.shape,
            self.max_abs,
            self.max_rel,
            self.atol,
            self.rtol,
            if self.ok { "ok" } else { "MISMATCH" }
        )?;
        if let Some(p) = &self.problem {
            write!(f, ": {p}")?;
        }
        Ok(())
    }
}

/// Compares outputs pairwise.
pub fn compare(
    reference: &[Tensor],
    got: &[Tensor],
    atol: Option<f64>,
    rtol: Option<f64>,
) -> Result<Vec<OutputCheck>> {
    if reference.len() != got.len() {
        return Err(Error::Mismatch(format!(
            "TorchScript returns {} tensor(s) but the exported graph returns {}",
            reference.len(),
            got.len()
        )));
    }
    let mut out = vec![];
    for (i, (r, g)) in reference.iter().zip(got).enumerate() {
        let dt = crate::dtype::of_tensor(r).map_err(Error::Run)?;
        let (da, dr) = default_tolerance(dt);
        let (atol, rtol) = (atol.unwrap_or(da), rtol.unwrap_or(dr));
        let mut c = OutputCheck {
            index: i,
            dtype: dt,
            shape: r.size(),
            max_abs: 0.0,
            max_rel: 0.0,
            atol,
            rtol,
            ok: true,
            problem: None,
        };
        if r.size() != g.size() || r.kind() != g.kind() {
            c.ok = false;
            c.max_abs = f64::INFINITY;
            c.problem = Some(format!(
                "TorchScript gives {}, the graph {}",
                crate::dtype::spelled(r),
                crate::dtype::spelled(g)
            ));
        } else if r.numel() > 0 {
            let (rf, gf) = (r.to_kind(tch::Kind::Double), g.to_kind(tch::Kind::Double));
            let diff = (&rf - &gf).abs();
            // NaNs must sit at the same places.
            let nan_mismatch = rf.isnan().ne_tensor(&gf.isnan()).any().int64_value(&[]) != 0;
            let diff = diff.nan_to_num(0.0, None, None);
            c.max_abs = diff.max().double_value(&[]);
            c.max_rel = (&diff / rf.abs().clamp_min(1e-12))
                .nan_to_num(0.0, None, None)
                .max()
                .double_value(&[]);
            let excess = (&diff - rf.abs().nan_to_num(0.0, None, None) * rtol)
                .max()
                .double_value(&[]);
            c.ok = excess <= atol && !nan_mismatch;
            if nan_mismatch {
                c.problem = Some("NaNs differ".into());
            }
        }
        out.push(c);
    }
    Ok(out)
}

fn to_ivalue(v: &Value) -> Result<IValue> {
    Ok(match v {
        Value::None => IValue::None,
        Value::Bool(b) => IValue::Bool(*b),
        Value::Int(i) => IValue::Int(*i),
        Value::Float(f) => IValue::Double(*f),
        Value::Str(s) => IValue::String(s.clone()),
        Value::Tensor(t) => IValue::Tensor(t.tensor.shallow_clone()),
        Value::List(items) if items.iter().all(|i| matches!(i, Value::Tensor(_))) => {
            IValue::TensorList(
                items
                    .iter()
                    .filter_map(|i| i.as_tensor().map(|t| t.tensor.shallow_clone()))
                    .collect(),
            )
        }
        Value::List(items) => {
            IValue::GenericList(items.iter().map(to_ivalue).collect::<Result<_>>()?)
        }
        Value::Tuple(items) => IValue::Tuple(items.iter().map(to_ivalue).collect::<Result<_>>()?),
        other => {
            return Err(Error::Input(format!(
                "a {} cannot be passed to forward",
                other.kind_name()
            )))
        }
    })
}

fn flatten(v: IValue, out: &mut Vec<Tensor>) {
    match v {
        IValue::Tensor(t) => out.push(t),
        IValue::TensorList(ts) => out.extend(ts),
        IValue::Tuple(items) | IValue::GenericList(items) => {
            items.into_iter().for_each(|i| flatten(i, out))
        }
        // Dict values in insertion order, as the exported graph outputs them.
        IValue::GenericDict(items) => items.into_iter().for_each(|(_, i)| flatten(i, out)),
        _ => {}
    }
}

/// Runs the whole TorchScript module (eval mode, no grad) and returns its tensors, flattened.
pub fn torchscript_outputs(model: &Path, inputs: &[Value]) -> Result<Vec<Tensor>> {
    let _g = tch::no_grad_guard();
    let progress = crate::progress::line("{spinner} running the TorchScript module ({elapsed})");
    progress.enable_steady_tick(std::time::Duration::from_millis(120));
    let mut m = tch::CModule::load(model).map_err(|e| {
        Error::Model(format!(
            "cannot load '{}': {}",
            model.display(),
            crate::load::short_torch_message(&e.to_string())
        ))
    })?;
    m.set_eval();
    let args = inputs.iter().map(to_ivalue).collect::<Result<Vec<_>>>()?;
    let out = m.forward_is(&args).map_err(|e| {
        Error::Run(format!(
            "TorchScript forward failed: {}",
            crate::load::short_torch_message(&e.to_string())
        ))
    })?;
    let mut v = vec![];
    flatten(out, &mut v);
    Ok(v)
}

/// After a lazy export: TorchScript's reference run loads the whole module, so the weights
/// must fit in the memory available; the export stays written either way.
fn check_memory_for_reference(model: &Path, export: &crate::api::ExportReport) -> Result<()> {
    use crate::load::archive::{human, ArchiveIndex};
    let need = ArchiveIndex::open(model).map(|i| i.data_bytes + i.constant_bytes)?;
    let (avail, source) = crate::api::available_memory()?;
    if need > avail {
        return Err(Error::Input(format!(
            "the export was written ({}), but verify cannot check it here: it runs the TorchScript module, which loads its weights, {} ({need} bytes), and {} ({avail} bytes) are available to this process ({source}). fix: run verify --weights lazy on a machine with enough memory (it exports lazily and needs the memory only for the reference run)",
            export.air.display(),
            human(need),
            human(avail)
        )));
    }
    Ok(())
}

/// The tensors among the inputs: what the exported graph takes (non-tensor inputs are baked in).
pub fn graph_tensors(inputs: &[Value]) -> Vec<Tensor> {
    inputs
        .iter()
        .filter_map(|v| v.as_tensor().map(|t| t.tensor.shallow_clone()))
        .collect()
}

pub struct VerifyReport {
    pub export: crate::api::ExportReport,
    pub checks: Vec<OutputCheck>,
    /// With `--bisect`: why the graph compared could not be run as a whole (its outputs are then
    /// not compared; the bisection still runs what it can).
    pub run_error: Option<String>,
    /// With `--bisect`, when the outputs differ: the first node that differs.
    pub bisect: Option<Bisect>,
    /// Dynamic exports: the same comparison with every dynamic dim grown by each of `GROWN_BY`
    /// (sizes the export never saw). Empty for static exports.
    pub grown: Vec<GrownCheck>,
}

/// How much `verify` grows each dynamic dim for its further comparisons: sizes neither probe of
/// the export saw (it grows by 1 and by `walk::dynamic::FAR`). 2 changes every stride-2 size;
/// 7 every size a stride or a floor division up to 7 computes, and every remainder by 2, 3 or 5.
pub const GROWN_BY: [usize; 2] = [2, 7];

pub struct GrownCheck {
    /// How much every dynamic dim was grown.
    pub by: usize,
    /// The inputs' dtypes and shapes, e.g. `f32[4, 7, 16]`.
    pub inputs: Vec<String>,
    pub checks: Vec<OutputCheck>,
    /// Whether the result counts: not when TorchScript itself fails at those sizes.
    pub binding: bool,
    pub note: Option<String>,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.run_error.is_none()
            && self.checks.iter().all(|c| c.ok)
            && self
                .grown
                .iter()
                .all(|g| !g.binding || g.checks.iter().all(|c| c.ok))
    }
}

/// Exports, runs the .air and the TorchScript module on the same inputs, compares.
#[allow(clippy::too_many_arguments)]
pub fn verify(
    args: Vec<Value>,
    model: &Path,
    export_path: &str,
    export_name: &str,
    dynamic: bool,
    config: &crate::api::CompilerConfig,
    atol: Option<f64>,
    rtol: Option<f64>,
) -> Result<VerifyReport> {
    verify_with(
        args,
        model,
        export_path,
        export_name,
        dynamic,
        config,
        atol,
        rtol,
        None,
    )
}

/// `verify --bisect`: what to compare node by node, and where to save the first differing node.
#[derive(Debug, Clone, Default)]
pub struct BisectOptions {
    /// Compare this .air (one edited by hand, or exported earlier) instead of the fresh export;
    /// its nodes are matched to TorchScript's values by name.
    pub air: Option<PathBuf>,
    /// Save the first differing node's output as `ours.npy` and TorchScript's as
    /// `torchscript.npy` in this folder.
    pub dump: Option<PathBuf>,
}

/// [`verify`], plus with `bisect`: on a mismatch, the exported graph is run node by node against
/// the TorchScript values the walk recorded for the same ops ([`Bisect`]).
#[allow(clippy::too_many_arguments)]
pub fn verify_with(
    args: Vec<Value>,
    model: &Path,
    export_path: &str,
    export_name: &str,
    dynamic: bool,
    config: &crate::api::CompilerConfig,
    atol: Option<f64>,
    rtol: Option<f64>,
    bisect: Option<&BisectOptions>,
) -> Result<VerifyReport> {
    let mut config = config.clone();
    config.export.record_values = bisect.is_some();
    let export =
        crate::api::dynamo_export(args, model, export_path, export_name, dynamic, &config)?;
    if export.lazy {
        check_memory_for_reference(model, &export)?;
    }
    let reference = torchscript_outputs(model, &export.inputs)?;
    let target = bisect
        .and_then(|b| b.air.clone())
        .unwrap_or_else(|| export.air.clone());
    let inputs = graph_tensors(&export.inputs);
    let outcome =
        crate::run::run_air(&target, &inputs).and_then(|got| compare(&reference, &got, atol, rtol));
    let (checks, run_error) = match (outcome, bisect) {
        (Ok(c), _) => (c, None),
        // Bisecting a graph that fails as a whole still compares what runs.
        (Err(e), Some(_)) => (vec![], Some(e.to_string())),
        (Err(e), None) => return Err(e),
    };
    let grown = if export.dynamic_input_dims.is_empty() || bisect.is_some_and(|b| b.air.is_some()) {
        vec![]
    } else {
        GROWN_BY
            .iter()
            .map(|&by| grown_check(model, &export, by, atol, rtol))
            .collect::<Result<Vec<_>>>()?
    };
    let differs = run_error.is_some() || checks.iter().any(|c| !c.ok);
    let bisect = match bisect {
        Some(b) if differs => Some(self::bisect(
            &target,
            &export.recorded,
            &inputs,
            atol,
            rtol,
            b.dump.as_deref(),
        )?),
        _ => None,
    };
    Ok(VerifyReport {
        export,
        checks,
        run_error,
        bisect,
        grown,
    })
}

/// The first GE node output that differs from TorchScript's value for it.
#[derive(Debug, Clone)]
pub struct NodeDiff {
    pub node: String,
    pub op_type: String,
    pub output: usize,
    /// The ATen op the node came from, and its source line.
    pub aten: String,
    pub site: String,
    pub check: OutputCheck,
    /// Each input (`node:index`) with its comparison; None: no TorchScript value stands for it
    /// (an intermediate step of a lowering).
    pub inputs: Vec<(String, Option<OutputCheck>)>,
}

/// What `verify --bisect` found.
#[derive(Debug, Clone, Default)]
pub struct Bisect {
    /// Node outputs compared with TorchScript's values.
    pub compared: usize,
    /// Node outputs with no TorchScript value (intermediate steps of a lowering).
    pub uncovered: usize,
    pub first: Option<NodeDiff>,
    /// What could not be run (the graph's malformations, nodes that failed), one line each.
    pub problems: Vec<String>,
    /// Nodes not run because an input comes from a node that failed.
    pub skipped: usize,
    /// TorchScript values whose node output the graph does not have (`node:index`), e.g. in an
    /// .air another exporter wrote.
    pub unmatched: Vec<String>,
    /// Files written by `--dump`.
    pub dumped: Vec<PathBuf>,
}

/// Compares one node output with TorchScript's value: shapes must agree; dtypes may differ (a
/// lowering may compute in another dtype), values are compared in f64 with the tolerance of
/// TorchScript's dtype.
fn compare_value(
    reference: &Tensor,
    got: &Tensor,
    output: usize,
    atol: Option<f64>,
    rtol: Option<f64>,
) -> Result<OutputCheck> {
    if reference.kind() == got.kind() || reference.size() != got.size() {
        let mut c = compare(
            &[reference.shallow_clone()],
            &[got.shallow_clone()],
            atol,
            rtol,
        )?;
        let mut c = c.remove(0);
        c.index = output;
        return Ok(c);
    }
    let dt = crate::dtype::of_tensor(reference).map_err(Error::Run)?;
    let (da, dr) = default_tolerance(dt);
    let (a, r) = (atol.unwrap_or(da), rtol.unwrap_or(dr));
    let d = tch::Kind::Double;
    let mut c = compare(&[reference.to_kind(d)], &[got.to_kind(d)], Some(a), Some(r))?.remove(0);
    c.index = output;
    c.dtype = dt;
    Ok(c)
}

/// Runs the .air at `air` node by node and compares each node output that stands for a
/// TorchScript value with `recorded` ([`crate::api::ExportReport::recorded`]), in execution
/// order; `dump` saves the first differing node's tensors. What cannot run is listed and the rest
/// still compared.
pub fn bisect(
    air: &Path,
    recorded: &[crate::walk::Recorded],
    inputs: &[Tensor],
    atol: Option<f64>,
    rtol: Option<f64>,
    dump: Option<&Path>,
) -> Result<Bisect> {
    let m = crate::write::read_air(air)?;
    let dir = air
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let by_port: HashMap<(&str, usize), &crate::walk::Recorded> = recorded
        .iter()
        .map(|r| ((r.node.as_str(), r.output), r))
        .collect();
    let mut b = Bisect::default();
    let mut checks: HashMap<String, OutputCheck> = HashMap::new();
    let mut seen: std::collections::HashSet<(String, usize)> = Default::default();
    let mut first_tensors: Option<(Tensor, Tensor)> = None;
    let mut failure: Option<Error> = None;
    // Graph inputs, in Data index order: a Data node is matched by its index, whatever its name.
    let graph_inputs: Vec<&crate::walk::Recorded> =
        recorded.iter().filter(|r| r.aten == "input").collect();
    let mut observe = |op: &crate::proto::OpDef, outs: &[Tensor]| {
        for (k, t) in outs.iter().enumerate() {
            let data = (op.r#type == "Data")
                .then(|| op.attr.get("index").and_then(crate::ge::attr::as_int))
                .map(|i| i.unwrap_or(0))
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| graph_inputs.get(i));
            let Some(r) = data.or_else(|| by_port.get(&(op.name.as_str(), k))) else {
                b.uncovered += 1;
                continue;
            };
            seen.insert((r.node.clone(), r.output));
            let c = match compare_value(&r.tensor, t, k, atol, rtol) {
                Ok(c) => c,
                Err(e) => {
                    failure.get_or_insert(e);
                    continue;
                }
            };
            b.compared += 1;
            if !c.ok && b.first.is_none() {
                let ins = op
                    .input
                    .iter()
                    .filter(|i| !i.is_empty() && !i.starts_with('^') && !i.ends_with(":-1"))
                    .map(|i| (i.clone(), checks.get(i).cloned()))
                    .collect();
                b.first = Some(NodeDiff {
                    node: op.name.clone(),
                    op_type: op.r#type.clone(),
                    output: k,
                    aten: r.aten.clone(),
                    site: r.site.clone(),
                    check: c.clone(),
                    inputs: ins,
                });
                first_tensors = Some((t.copy(), r.tensor.shallow_clone()));
            }
            checks.insert(format!("{}:{k}", op.name), c);
        }
    };
    let o = crate::run::run_model_observed(&m, &dir, inputs, &mut observe)?;
    if let Some(e) = failure {
        return Err(e);
    }
    b.problems = o.problems;
    b.skipped = o.skipped;
    b.unmatched = recorded
        .iter()
        .filter(|r| {
            !matches!(r.aten.as_str(), "constant" | "weight")
                && !seen.contains(&(r.node.clone(), r.output))
        })
        .map(|r| format!("{}:{}", r.node, r.output))
        .collect();
    if let (Some(dir), Some((ours, theirs))) = (dump, first_tensors) {
        let mut stage = crate::write::stage::Stage::for_option(dir, "--dump")?;
        for (name, t) in [("ours.npy", &ours), ("torchscript.npy", &theirs)] {
            stage.file(Path::new(name), |w| crate::spec::write_npy(t, w))?;
        }
        b.dumped = stage.commit()?;
    }
    Ok(b)
}

/// Runs TorchScript and the export with every dynamic dim grown by `by` and compares.
fn grown_check(
    model: &Path,
    export: &crate::api::ExportReport,
    by: usize,
    atol: Option<f64>,
    rtol: Option<f64>,
) -> Result<GrownCheck> {
    let inputs = crate::walk::dynamic::grown_by(&export.inputs, &export.dynamic_input_dims, by);
    let shown = inputs
        .iter()
        .filter_map(|v| v.as_tensor())
        .map(|t| {
            let dt = crate::dtype::of_tensor(&t.tensor)
                .map(|d| d.name())
                .unwrap_or("?");
            format!("{dt}{:?}", t.tensor.size())
        })
        .collect();
    let reference = match torchscript_outputs(model, &inputs) {
        Ok(r) => r,
        Err(Error::Run(msg)) => {
            return Ok(GrownCheck {
                by,
                inputs: shown,
                checks: vec![],
                binding: false,
                note: Some(format!(
                    "skipped: TorchScript itself fails at these sizes ({msg})"
                )),
            })
        }
        Err(e) => return Err(e),
    };
    let got = crate::run::run_air(&export.air, &graph_tensors(&inputs))?;
    let checks = compare(&reference, &got, atol, rtol)?;
    Ok(GrownCheck {
        by,
        inputs: shown,
        checks,
        // Dims a guard depends on were pinned, so every size the export admits must match.
        binding: true,
        note: None,
    })
}
