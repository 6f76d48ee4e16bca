//! Multi-rank export (air-format.md section 9): every rank is walked in its own thread, with its
//! own module, sample inputs, walker and graph, meeting the others at each collective. Writes
//! `<export_path>/<export_name><r>.air`, `<export_path>/rank_<r>/dynamo.pbtxt` and the rank's
//! weight files, and (with `auto_atc_config_generated`) the ATC json files, all atomically.
use super::{atc, on_every_rank, Group, Groups};
use crate::api::{clean_export_name, load_with_inputs, CompilerConfig};
use crate::error::{Error, Result};
use crate::value::Value;
use crate::walk::dynamic::{self, InputDim};
use crate::walk::{GraphInput, Guard, WalkOptions, Walker};
use crate::write::{self, stage, stage::Stage, WeightMode, WriteOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The ranks of a multi-card export.
#[derive(Debug, Clone, Default)]
pub struct DistConfig {
    /// Number of ranks (cards).
    pub world_size: usize,
    /// Write only this rank's files (every rank is still walked, for the collectives' values).
    pub rank: Option<usize>,
    /// Sub-groups: TorchScript group name -> global ranks (`--group NAME=0,1`).
    pub groups: Vec<(String, Vec<usize>)>,
}

/// What one rank's export did.
pub struct RankExport {
    pub rank: usize,
    /// `<export_path>/<export_name><rank>.air`, None when this rank was walked but not written.
    pub air: Option<PathBuf>,
    pub guards: Vec<Guard>,
    pub weight_mode: WeightMode,
    pub weight_bytes: u64,
    pub node_count: usize,
    pub warnings: Vec<String>,
    pub used_traced_inputs: bool,
    /// Groups the rank's graph uses, in first-use order.
    pub groups: Vec<Group>,
    /// forward's outputs as the walk computed them (TorchScript op by op, collectives across
    /// the ranks).
    pub outputs: Vec<tch::Tensor>,
}

pub struct MultiExport {
    pub ranks: Vec<RankExport>,
    /// Every file written.
    pub files: Vec<PathBuf>,
    /// Dynamic exports: the input dims exported as dynamic (`x[0]`), and a note for each
    /// requested dim that the model fixes (exported static).
    pub dynamic_dims: Vec<String>,
    pub notes: Vec<String>,
    /// The `atc` command that compiles the ranks (ATC's distributed build over the json configs).
    pub atc: String,
}

/// `path` with `{rank}` replaced by `r`.
pub fn for_rank(path: &str, r: usize) -> String {
    path.replace("{rank}", &r.to_string())
}

/// Exports `model` (a path that may contain `{rank}`) for every rank; `inputs(r)` gives rank r's
/// sample inputs (empty: a traced module's own).
pub fn export_ranks(
    inputs: &(dyn Fn(usize) -> Result<Vec<Value>> + Sync),
    model: &str,
    export_path: &str,
    export_name: &str,
    dynamic: bool,
    config: &CompilerConfig,
    dist: &DistConfig,
) -> Result<MultiExport> {
    let world = dist.world_size;
    if config.export.weights == crate::api::WeightsMode::Lazy {
        return Err(Error::Input(
            "--weights lazy does not support multi-card exports (--world-size) yet; fix: export each rank's \
             model on its own with --weights lazy, or use --weights memory"
                .into(),
        ));
    }
    let groups = Groups::new(world, &dist.groups).map_err(Error::Input)?;
    if let Some(r) = dist.rank {
        if r >= world {
            return Err(Error::Input(format!(
                "--rank {r} is not below --world-size {world}; fix: pass a rank in 0..{}",
                world - 1
            )));
        }
    }
    let name = clean_export_name(export_name)?;
    crate::api::check_export_path_given(export_path)?;
    let root = PathBuf::from(export_path);
    stage::check_export_path(&root)?;
    let writes = |r: usize| dist.rank.is_none_or(|only| only == r);
    for r in (0..world).filter(|r| writes(*r)) {
        let air = root.join(format!("{name}{r}.air"));
        if std::fs::symlink_metadata(&air).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Io(format!(
                "'{}' is a symbolic link; torch2air refuses to write through links. fix: remove it or choose another --export-name",
                air.display()
            )));
        }
    }
    for r in 0..world {
        let p = for_rank(model, r);
        if !Path::new(&p).exists() {
            return Err(Error::Model(format!(
                "model file '{p}' (rank {r}) does not exist; fix: pass one .pt for all ranks, or a path with {{rank}} \
                 (e.g. model_rank{{rank}}.pt) naming a file for every rank 0..{}",
                world - 1
            )));
        }
    }
    let threshold = crate::api::weight_threshold(config)?;
    // `--report`: the op report of the first rank written (ranks of one model walk alike).
    let report = config.export.report.as_deref();
    if let Some(p) = report {
        write::report::check_path(p)?;
    }
    let report_rank = dist.rank.unwrap_or(0);
    let record = config.export.experimental.enable_record_nn_module_stack;
    let stage = Mutex::new(Stage::new(&root)?);
    // One walk of every rank, each in its own thread; `probe_dims`: the dynamic input dims
    // (dynamic exports); `dry`: walk only (to find which dims the model fixes), write nothing.
    let walk = |probe_dims: Option<&[InputDim]>,
                far: usize,
                dry: bool|
     -> Result<Vec<RankExport>> {
        let (stage, name, root) = (&stage, &name, &root);
        let results = on_every_rank(world, &groups, |r, comm| {
            let model_r = for_rank(model, r);
            let args = inputs(r)?;
            let (m, inputs, used_traced_inputs) = load_with_inputs(Path::new(&model_r), args)?;
            let probes = probe_dims.map(|d| dynamic::probe_values(&inputs, d));
            let fars = probe_dims.map(|d| dynamic::far_values(&inputs, d, far));
            let graph_inputs = m.info.args[1..]
                .iter()
                .zip(inputs)
                .enumerate()
                .map(|(i, (a, v))| GraphInput {
                    name: a.name.clone(),
                    value: v,
                    probe: probes.as_ref().map(|p| p[i].clone()),
                    far: fars.as_ref().map(|p| p[i].clone()),
                })
                .collect();
            let opts = WalkOptions {
                dynamic: probe_dims.is_some(),
                strict_dynamic: config.export.strict_dynamic,
                record_values: false,
            };
            let walked = Walker::with_options(&m, opts)
                .record_module_stack(record)
                .run(graph_inputs);
            if let (Some(p), true) = (report, r == report_rank) {
                match &walked {
                    Ok(w) => write::report::write(p, Path::new(&model_r), &w.ops)?,
                    Err(Error::Unsupported(u)) => {
                        write::report::write(p, Path::new(&model_r), &u.all)?
                    }
                    Err(_) => {}
                }
            }
            let walked = walked?;
            // A graph that depends on a dynamic dim (a branch, a size a rule takes as a
            // constant) would be wrong at other sizes: an error, so that `settle`, whose
            // oracle this walk is, pins that dim (multi-card exports pin no guard otherwise).
            if let Some(g) = walked.guards.iter().find(|g| g.dynamic) {
                return Err(Error::Input(format!(
                        "{}  {}  -> {}: the graph depends on a dynamic dim there; fix: pin that dim (--dynamic-dims)",
                        g.location,
                        g.text.trim(),
                        g.assumed
                    )));
            }
            let groups = comm.used_groups();
            let mut rep = RankExport {
                rank: r,
                air: None,
                guards: walked.guards,
                weight_mode: WeightMode::None,
                weight_bytes: 0,
                node_count: walked.builder.ops.len(),
                warnings: vec![],
                used_traced_inputs,
                groups,
                outputs: walked.outputs,
            };
            if writes(r) && !dry {
                let air_name = format!("{name}{r}.air");
                let subdir = format!("rank_{r}");
                let opts = WriteOptions {
                    export_path,
                    subdir: &subdir,
                    air_name: &air_name,
                    export_name: name,
                    pbtxt: config.export.pbtxt,
                    weight_threshold: threshold,
                };
                let mut st = stage.lock().unwrap_or_else(|e| e.into_inner());
                let w = write::write_graph(walked.builder, "graph_1", &mut st, &opts)?;
                rep.weight_mode = w.weight_mode;
                rep.weight_bytes = w.weight_bytes;
                rep.warnings = w.warnings;
                rep.air = Some(root.join(air_name));
            }
            Ok(rep)
        });
        first_error(results)
    };
    let (mut dims_report, mut notes) = (vec![], vec![]);
    let ranks = if dynamic {
        // Which requested dims can vary: forward cannot run without a process group, so the
        // oracle is the walk of every rank itself.
        let (m0, inputs0, _) = load_with_inputs(Path::new(&for_rank(model, 0)), inputs(0)?)?;
        let names: Vec<String> = m0.info.args[1..].iter().map(|a| a.name.clone()).collect();
        let (requested, pinned) =
            dynamic::requested_dims(&names, &inputs0, &config.export.dynamic_dims)?;
        let settled = dynamic::settle(
            &names,
            &inputs0,
            dynamic::convolves(&m0.graph),
            requested,
            |set, by| {
                Ok(walk(Some(set), by, true)
                    .map(|_| ())
                    .map_err(|e| e.to_string()))
            },
        )?;
        let (dims, n, far) = (settled.dims, [pinned, settled.notes].concat(), settled.far);
        dims_report = dims
            .iter()
            .map(|(i, d)| format!("{}[{d}]", names[*i]))
            .collect();
        notes = n;
        walk((!dims.is_empty()).then_some(dims.as_slice()), far, false)?
    } else {
        walk(None, dynamic::FAR, false)?
    };
    let mut stage = stage.into_inner().unwrap_or_else(|e| e.into_inner());
    // `--rank R` writes one rank of the export: the other ranks' .air files stay.
    if dist.rank.is_none() {
        stage.record_as(&name);
    }
    let rank0 = &ranks[0];
    if config.export.experimental.auto_atc_config_generated && writes(0) && !rank0.groups.is_empty()
    {
        let rel = atc::model_relation_config(&name, world, &rank0.groups);
        let numa = atc::numa_config(world);
        stage.file(Path::new(atc::MODEL_RELATION_CONFIG), |w| {
            w.write_all(atc::to_json(&rel).as_bytes())
        })?;
        stage.file(Path::new(atc::NUMA_CONFIG), |w| {
            w.write_all(atc::to_json(&numa).as_bytes())
        })?;
    }
    let atc = write::atc::multi_card(export_path, &name, write::atc::SOC_PLACEHOLDER);
    if config.export.atc_script && writes(0) {
        let text = write::atc::script(export_path, &atc);
        stage.file(Path::new("atc.sh"), |w| w.write_all(text.as_bytes()))?;
    }
    let files = stage.commit()?;
    Ok(MultiExport {
        ranks,
        files,
        dynamic_dims: dims_report,
        notes,
        atc,
    })
}

/// All ranks' results, or the most telling error: a rank's own failure rather than the other
/// ranks' "rank r failed without reaching ..." that follow from it; identical errors of
/// identical ranks are reported once.
pub(crate) fn first_error<T>(results: Vec<Result<T>>) -> Result<Vec<T>> {
    if results.iter().all(|r| r.is_ok()) {
        return Ok(results.into_iter().filter_map(|r| r.ok()).collect());
    }
    let errs: Vec<(usize, Error)> = results
        .into_iter()
        .enumerate()
        .filter_map(|(r, e)| e.err().map(|e| (r, e)))
        .collect();
    let own = |e: &Error| !e.to_string().contains(" without reaching ");
    let (r, e) = errs.iter().find(|(_, e)| own(e)).unwrap_or(&errs[0]);
    let all_same = errs.iter().all(|(_, x)| x.to_string() == e.to_string());
    let msg = if all_same {
        e.to_string()
    } else {
        format!("rank {r}: {e}")
    };
    Err(match e {
        Error::Model(_) => Error::Model(msg),
        Error::Input(_) => Error::Input(msg),
        Error::Unsupported(u) if all_same => Error::Unsupported(u.clone()),
        Error::Schema(_) => Error::Schema(msg),
        Error::Io(_) => Error::Io(msg),
        Error::Mismatch(_) => Error::Mismatch(msg),
        _ => Error::Run(msg),
    })
}
