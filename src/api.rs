//! The library entry point, with the names of TorchAir's `dynamo_export`.
use crate::error::{Error, Result};
use crate::load::Module;
use crate::value::Value;
use crate::walk::{dynamic, GraphInput, Guard, WalkOptions, Walker};
use crate::write::{self, stage::Stage, WeightMode, WriteOptions};
use std::path::{Path, PathBuf};

/// TorchAir's default `export_path`.
pub const DEFAULT_EXPORT_PATH: &str = "export_file";
/// TorchAir's default `export_name`.
pub const DEFAULT_EXPORT_NAME: &str = "export";

/// `config.export.experimental` of TorchAir's CompilerConfig.
#[derive(Debug, Clone, Default)]
pub struct ExperimentalConfig {
    /// Write `model_relation_config.json` and `numa_config.json` for multi-card exports
    /// (`dist::export::export_ranks`) whose rank 0 uses a process group; single-card exports
    /// write no json (as TorchAir).
    pub auto_atc_config_generated: bool,
    /// Add the `nn_module_stack` attr to every op of a node inlined from a submodule.
    pub enable_record_nn_module_stack: bool,
}

/// `config.export` of TorchAir's CompilerConfig, plus torch2air's weight threshold override.
#[derive(Debug, Clone, Default)]
pub struct ExportConfig {
    /// TorchAir's `config.export.experimental`.
    pub experimental: ExperimentalConfig,
    /// Graph + weight bytes above which weights become FileConstant nodes and files. None:
    /// `TORCH2AIR_WEIGHT_THRESHOLD` from the environment, else TorchAir's 2 GB - 200 MB.
    pub weight_threshold: Option<u64>,
    /// With `dynamic = true`: forward argument name → the dims of that input that are dynamic
    /// (negative counts from the end; empty: none). Inputs not named have every dim dynamic.
    pub dynamic_dims: std::collections::BTreeMap<String, Vec<i64>>,
    /// With `dynamic = true`: a branch or loop count that depends on a dynamic dim is an error
    /// instead of a guard.
    pub strict_dynamic: bool,
    /// Write every op kind of the graph (count, status, GE lowering, inputs seen, source lines)
    /// to this `.md` or `.csv` file, also when the export fails on unsupported ops. Multi-card
    /// exports report the walk of the first rank written.
    pub report: Option<PathBuf>,
    /// Keep the TorchScript value behind every GE node output ([`ExportReport::recorded`]), for
    /// `verify --bisect`. Single-card exports only.
    pub record_values: bool,
    /// Also write `<export_path>/atc.sh`, the ATC command that compiles the export (it is
    /// printed either way, in [`ExportReport::atc`]).
    pub atc_script: bool,
    /// What `dynamo.pbtxt` holds: TorchAir's full listing (default), lean (Const payloads left
    /// out), or none.
    pub pbtxt: write::pbtxt::PbtxtMode,
    /// Where the weights are while exporting: in memory, read lazily from the archive, or
    /// chosen by the memory available (default).
    pub weights: WeightsMode,
}

/// Where the weights are while exporting (`--weights`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WeightsMode {
    /// `lazy` when the archive's tensor bytes exceed the memory available to the process, or
    /// reach [`AUTO_LAZY_BYTES`]: then a walk that needs values computed
    /// from the weights runs again with them in memory, saying so on stderr. Else `memory`.
    #[default]
    Auto,
    /// The module is loaded with its weights (the walk computes every value).
    Memory,
    /// The module is loaded on the meta device (shapes only); weight bytes are streamed from
    /// the archive to the export.
    Lazy,
}

/// From this many bytes of weights, `auto` walks a static export lazily even when the weights
/// fit in memory: the exported files are the same, and the export's peak memory is the graph's
/// constants instead of the weights (a 3.1 GB GPT-2-large: 0.25 GB instead of 3.4 GB).
pub const AUTO_LAZY_BYTES: u64 = 1 << 30;
/// Environment override of [`AUTO_LAZY_BYTES`] (tests).
pub const AUTO_LAZY_ENV: &str = "TORCH2AIR_AUTO_LAZY_BYTES";

fn auto_lazy_bytes() -> Result<u64> {
    match std::env::var(AUTO_LAZY_ENV) {
        Ok(v) => v.trim().parse().map_err(|_| {
            Error::Input(format!(
                "{AUTO_LAZY_ENV}='{v}' is not a byte count; fix: set it to a whole number of bytes, or unset it"
            ))
        }),
        Err(_) => Ok(AUTO_LAZY_BYTES),
    }
}

/// How the weights are held for the walk: `lazy`, and whether the walk may run again with the
/// weights in memory when the lazy one needs their values (`auto` chose lazy by preference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LazyChoice {
    pub lazy: bool,
    pub fallback: bool,
}

/// Environment override of the memory available to the process, in bytes (tests, and machines
/// whose limit is not a cgroup's).
pub const AVAILABLE_MEMORY_ENV: &str = "TORCH2AIR_AVAILABLE_MEMORY";

/// Memory available to this process and where the figure comes from.
pub fn available_memory() -> Result<(u64, String)> {
    match std::env::var(AVAILABLE_MEMORY_ENV) {
        Ok(v) => v
            .trim()
            .parse()
            .map(|b| (b, AVAILABLE_MEMORY_ENV.to_string()))
            .map_err(|_| {
                Error::Input(format!(
                    "{AVAILABLE_MEMORY_ENV}='{v}' is not a byte count; fix: set it to a whole number of bytes, or unset it"
                ))
            }),
        Err(_) => Ok(crate::load::archive::available_memory()),
    }
}

/// Whether to walk with lazy weights: the mode asked for, checked against the memory available.
/// A model too large for the chosen mode is an error with the bytes needed and available.
pub(crate) fn choose_lazy(
    model: &Path,
    mode: WeightsMode,
    record_values: bool,
) -> Result<LazyChoice> {
    use crate::load::archive::{human, ArchiveIndex};
    let index = match (ArchiveIndex::open(model), mode) {
        (Ok(i), _) => i,
        (Err(e), WeightsMode::Lazy) => return Err(e),
        // Not an archive torch2air can index: the normal load says what is wrong with it.
        (Err(_), _) => {
            return Ok(LazyChoice {
                lazy: false,
                fallback: false,
            })
        }
    };
    let (avail, source) = available_memory()?;
    let in_memory = index.data_bytes + index.constant_bytes;
    // Lazy: the graph's constants, one chunk of a weight being copied, a non-contiguous weight
    // gathered whole.
    let gathered = index
        .tensors
        .values()
        .filter(|t| !t.is_contiguous())
        .map(|t| t.nbytes())
        .max()
        .unwrap_or(0);
    let lazy_need = index.constant_bytes + index.largest_record.min(8 << 20) + gathered;
    let need_msg = |need: u64, what: &str| {
        format!(
            "'{}' needs {} ({need} bytes) {what}, but {} ({avail} bytes) are available to this process ({source})",
            model.display(),
            human(need),
            human(avail)
        )
    };
    let mut fallback = false;
    let lazy = match mode {
        WeightsMode::Memory if in_memory > avail => {
            return Err(Error::Input(format!(
                "{} with --weights memory; fix: pass --weights lazy (or auto) to stream the weights from the archive",
                need_msg(in_memory, "for its weights")
            )))
        }
        WeightsMode::Memory => false,
        WeightsMode::Lazy => true,
        WeightsMode::Auto => {
            let lazy = in_memory > avail;
            if lazy {
                eprintln!(
                    "torch2air: the weights of '{}' ({}) exceed the memory available to this process ({}, {source}): exporting with --weights lazy (shapes walked on the meta device, weight bytes streamed from the archive)",
                    model.display(),
                    human(in_memory),
                    human(avail)
                );
            }
            // Large weights that fit: lazy by preference, memory when the walk needs values.
            // (`verify --bisect` records every value: never lazy by preference.)
            if !lazy
                && !record_values
                && in_memory >= auto_lazy_bytes()?
                && lazy_need <= avail
            {
                fallback = true;
                true
            } else {
                lazy
            }
        }
    };
    if lazy && lazy_need > avail {
        return Err(Error::Input(format!(
            "{} even with --weights lazy; fix: export on a machine with more memory",
            need_msg(lazy_need, "for its graph constants and weight copies")
        )));
    }
    Ok(LazyChoice { lazy, fallback })
}

/// TorchAir's `CompilerConfig`, the part an export reads.
#[derive(Debug, Clone, Default)]
pub struct CompilerConfig {
    /// `config.export`.
    pub export: ExportConfig,
}

/// What an export did.
pub struct ExportReport {
    /// `<export_path>/<export_name>.air`
    pub air: PathBuf,
    /// Every file written, the .air last.
    pub files: Vec<PathBuf>,
    pub guards: Vec<Guard>,
    pub weight_mode: WeightMode,
    pub weight_bytes: u64,
    pub graph_bytes: u64,
    pub node_count: usize,
    /// Input/output dtypes outside the GE prototypes' advisory type sets.
    pub warnings: Vec<String>,
    /// True when the inputs came from the traced module itself.
    pub used_traced_inputs: bool,
    /// The inputs forward was walked with (one per argument after self).
    pub inputs: Vec<Value>,
    /// Dynamic exports: the input dims exported as dynamic (`x[0]`), and a note for each
    /// requested dim that the model fixes (exported static).
    pub dynamic_dims: Vec<String>,
    pub notes: Vec<String>,
    /// The same dims as (forward argument index, dim).
    pub dynamic_input_dims: Vec<(usize, usize)>,
    /// The `atc` command that compiles this export (`--soc_version` a placeholder to fill in).
    pub atc: String,
    /// With [`ExportConfig::record_values`]: the TorchScript value behind each GE node output.
    pub recorded: Vec<crate::walk::Recorded>,
    /// The walk ran with lazy weights (`--weights lazy`, or chosen by `auto`).
    pub lazy: bool,
}

pub(crate) fn weight_threshold(config: &CompilerConfig) -> Result<u64> {
    if let Some(t) = config.export.weight_threshold {
        return Ok(t);
    }
    match std::env::var(write::THRESHOLD_ENV) {
        Ok(v) => v.trim().parse().map_err(|_| {
            Error::Input(format!(
                "{}='{v}' is not a byte count; fix: set it to a whole number such as 0",
                write::THRESHOLD_ENV
            ))
        }),
        Err(_) => Ok(write::DEFAULT_WEIGHT_THRESHOLD),
    }
}

/// An empty export path is refused: it names no folder (and `FileConstant` paths would become
/// `/<file>`, at the root of the file system).
pub fn check_export_path_given(export_path: &str) -> Result<()> {
    if export_path.is_empty() {
        return Err(Error::Input(
            "the export path is empty; fix: pass a folder, e.g. --export-path . for the current folder or --export-path export_file".into(),
        ));
    }
    Ok(())
}

/// TorchAir keeps only the last path component of export_name.
pub fn clean_export_name(export_name: &str) -> Result<String> {
    let last = Path::new(export_name)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if last.is_empty() || last == "." || last == ".." {
        return Err(Error::Input(format!(
            "export name '{export_name}' has no file name in it; fix: pass a plain name such as 'export'"
        )));
    }
    Ok(last)
}

/// Parses a graph value type such as `Float(2, 4, strides=[4, 1], requires_grad=0, device=cpu)`
/// into (dtype, shape), for traced modules whose graph records them.
fn traced_tensor_type(ty: &str) -> Option<(crate::dtype::DType, Vec<i64>)> {
    use crate::dtype::DType;
    let (head, rest) = ty.split_once('(')?;
    let dt = DType::from_torch_name(head)?;
    let dims = rest.split("strides=").next()?.trim_end_matches(')');
    let shape = dims
        .split(',')
        .filter_map(|d| d.trim().parse::<i64>().ok())
        .collect();
    Some((dt, shape))
}

fn signature(m: &Module) -> String {
    m.info
        .args
        .iter()
        .skip(1)
        .map(|a| format!("{}: {}", a.name, a.ty))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `inputs` followed by the defaults of the trailing arguments not given (where the default is
/// None, a bool, an int, a float or a string).
fn with_defaults(m: &Module, mut inputs: Vec<Value>) -> Vec<Value> {
    use crate::load::ArgDefault;
    for a in m.info.args.iter().skip(1 + inputs.len()) {
        inputs.push(match &a.default {
            Some(ArgDefault::None(_)) => Value::None,
            Some(ArgDefault::Bool(b)) => Value::Bool(*b),
            Some(ArgDefault::Int(i)) => Value::Int(*i),
            Some(ArgDefault::Float(f)) => Value::Float(*f),
            Some(ArgDefault::Str(s)) => Value::Str(s.clone()),
            None => break,
        });
    }
    inputs
}

/// Checks the sample inputs against forward's signature (and, for traced modules, the dtypes
/// and ranks the trace recorded).
fn check_inputs(m: &Module, inputs: &[Value]) -> Result<()> {
    let args = &m.info.args[1..];
    if inputs.len() != args.len() {
        return Err(Error::Input(format!(
            "forward({}) takes {} input(s) but {} were given; fix: pass one --input per argument, in order",
            signature(m),
            args.len(),
            inputs.len()
        )));
    }
    for (i, (a, v)) in args.iter().zip(inputs).enumerate() {
        let ty = a.ty.trim_start_matches("Optional[").trim_end_matches(']');
        let ok = match (ty, v) {
            (_, Value::None) => a.ty.starts_with("Optional["),
            ("Tensor", Value::Tensor(_)) => true,
            ("bool", Value::Bool(_)) => true,
            ("int", Value::Int(_)) => true,
            ("float", Value::Float(_) | Value::Int(_)) => true,
            ("str", Value::Str(_)) => true,
            ("number" | "Scalar", Value::Float(_) | Value::Int(_)) => true,
            _ => false,
        };
        if !ok
            && !matches!(
                ty,
                "Tensor" | "bool" | "int" | "float" | "str" | "number" | "Scalar"
            )
        {
            return Err(Error::Input(format!(
                "input {} ('{}') is {}, which --input cannot give (a SPEC is one tensor, one bool, int, \
                 float or str, or none); forward({}). fix: wrap the model in a module whose forward takes tensors \
                 and builds the {} itself (e.g. def forward(self, a, b): return self.model([a, b]))",
                i + 1,
                a.name,
                a.ty,
                signature(m),
                a.ty
            )));
        }
        if !ok {
            return Err(Error::Input(format!(
                "input {} ('{}') must be {} but a {} was given; forward({}). fix: pass a matching --input",
                i + 1,
                a.name,
                a.ty,
                v.kind_name(),
                signature(m)
            )));
        }
        if let (Value::Tensor(t), Some(gi)) = (v, m.graph.inputs.get(i + 1)) {
            if let Some((dt, shape)) = traced_tensor_type(&gi.ty) {
                let rank = shape.len();
                let got = crate::dtype::of_tensor(&t.tensor).map_err(Error::Input)?;
                if got != dt || t.tensor.dim() != rank {
                    return Err(Error::Input(format!(
                        "input {} ('{}') was traced as {} with rank {rank} but {}{:?} was given; fix: pass a {} tensor of rank {rank}",
                        i + 1,
                        a.name,
                        dt.name(),
                        got.name(),
                        t.tensor.size(),
                        dt.name()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Example inputs of a traced module from the dtypes and shapes its trace recorded. torch.jit.save
/// keeps those but not the values (the stored tensors hold no data), so values are random
/// (seed 0), like a SPEC's.
fn traced_specs(m: &Module) -> Option<Vec<Value>> {
    let mut rng = crate::spec::rng(0);
    m.graph.inputs[1..]
        .iter()
        .map(|gi| {
            let (dtype, shape) = traced_tensor_type(&gi.ty)?;
            crate::spec::make(
                &crate::spec::Spec::Random {
                    dtype,
                    shape,
                    range: None,
                },
                &mut rng,
            )
            .ok()
        })
        .collect()
}

/// Loads `model` and resolves its sample inputs: `args`, or the traced example inputs.
pub fn load_with_inputs(model: &Path, args: Vec<Value>) -> Result<(Module, Vec<Value>, bool)> {
    load_inputs(Module::load(model)?, model, args)
}

/// [`load_with_inputs`] of a module already loaded (lazily, say).
fn load_inputs(m: Module, model: &Path, args: Vec<Value>) -> Result<(Module, Vec<Value>, bool)> {
    let (inputs, traced) = if args.is_empty() && m.info.args.len() > 1 {
        let defaults = with_defaults(&m, vec![]);
        match m.traced_inputs()?.or_else(|| traced_specs(&m)) {
            Some(v) => (v, true),
            None if defaults.len() + 1 == m.info.args.len() => (defaults, false),
            None => {
                return Err(Error::Input(format!(
                    "no sample inputs given and '{}' stores none (it is not a traced module); forward expects ({}). \
                     fix: pass one --input SPEC per argument, e.g. --input f32[2,4]",
                    model.display(),
                    signature(&m)
                )))
            }
        }
    } else {
        (with_defaults(&m, args), false)
    };
    check_inputs(&m, &inputs)?;
    Ok((m, inputs, traced))
}

/// Exports `model` (a TorchScript file) called with `args` to `<export_path>/<export_name>.air`,
/// `<export_path>/dynamo.pbtxt` and, for large models, one weight file per weight.
pub fn dynamo_export(
    args: Vec<Value>,
    model: impl AsRef<Path>,
    export_path: &str,
    export_name: &str,
    dynamic: bool,
    config: &CompilerConfig,
) -> Result<ExportReport> {
    let xc = &config.export;
    if !dynamic && (!xc.dynamic_dims.is_empty() || xc.strict_dynamic) {
        return Err(Error::Input(
            "dynamic dims or strict-dynamic were given without dynamic=true; fix: pass --dynamic (dynamic = true)".into(),
        ));
    }
    let name = clean_export_name(export_name)?;
    check_export_path_given(export_path)?;
    let root = PathBuf::from(export_path);
    stage::check_export_path(&root)?;
    let air = root.join(format!("{name}.air"));
    if std::fs::symlink_metadata(&air).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Io(format!(
            "'{}' is a symbolic link; torch2air refuses to write through links. fix: remove it or choose another --export-name",
            air.display()
        )));
    }
    let threshold = weight_threshold(config)?;
    let choice = choose_lazy(model.as_ref(), xc.weights, xc.record_values)?;
    let walked = |args: Vec<Value>, lazy: bool| {
        export_walked(
            args,
            model.as_ref(),
            export_path,
            &name,
            &root,
            &air,
            dynamic,
            config,
            threshold,
            lazy,
        )
    };
    let mut lazy = choice.lazy;
    if choice.fallback {
        // Lazy by preference (auto, large weights that fit): a walk that needs values computed
        // from the weights runs again with them in memory.
        match walked(args.iter().map(deep_copy).collect(), true) {
            Err(e) if !matches!(e, Error::Unsupported(_) | Error::Input(_) | Error::Io(_)) => {
                eprintln!(
                    "torch2air: the walk with the weights read lazily stopped ({}); walking again with the weights in memory",
                    e.to_string().lines().next().unwrap_or_default()
                );
                lazy = false;
            }
            done => return done,
        }
    }
    walked(args, lazy)
}

/// A copy of an argument whose tensors share no memory with it (a walk that writes an input in
/// place and stops leaves the caller's tensors as they were for the next walk).
fn deep_copy(v: &Value) -> Value {
    match v {
        Value::Tensor(t) => {
            let mut c = t.clone();
            c.tensor = std::rc::Rc::new(t.tensor.copy());
            Value::Tensor(c)
        }
        Value::List(vs) => Value::List(vs.iter().map(deep_copy).collect()),
        Value::Tuple(vs) => Value::Tuple(vs.iter().map(deep_copy).collect()),
        other => other.clone(),
    }
}

/// `dynamo_export` from the load on, with the weights held as `lazy` says.
#[allow(clippy::too_many_arguments)]
fn export_walked(
    args: Vec<Value>,
    model: &Path,
    export_path: &str,
    name: &str,
    root: &Path,
    air: &Path,
    dynamic: bool,
    config: &CompilerConfig,
    threshold: u64,
    lazy: bool,
) -> Result<ExportReport> {
    let xc = &config.export;
    let (root, air, name) = (root.to_path_buf(), air.to_path_buf(), name.to_string());
    let loaded = if lazy {
        Module::load_lazy(model)?
    } else {
        Module::load(model)?
    };
    let (mut m, inputs, used_traced_inputs) = load_inputs(loaded, model, args)?;
    let names: Vec<String> = m.info.args[1..].iter().map(|a| a.name.clone()).collect();
    let (mut dynamic_input_dims, mut notes, mut far) = (vec![], vec![], dynamic::FAR);
    if dynamic {
        let (requested, pinned) = dynamic::requested_dims(&names, &inputs, &xc.dynamic_dims)?;
        // Forward runs on the loaded module itself (no second copy of the weights); one that
        // changed the module's state (wrote a buffer) makes the walk load it again. With lazy
        // weights the oracle is the walk itself, static, on the grown inputs: shapes on the
        // meta device, no forward (whose ops would need the weights' values).
        let mut mutated = false;
        let settled = dynamic::settle(
            &names,
            &inputs,
            dynamic::convolves(&m.graph),
            requested,
            |set, by| {
                if lazy {
                    return lazy_walk_runs(&m, &names, &dynamic::grown_by(&inputs, set, by));
                }
                let (run, changed) = dynamic::module_runs(&m, &inputs, set, by)?;
                mutated |= changed;
                Ok(run)
            },
        )?;
        if mutated {
            drop(m);
            m = Module::load(model)?;
        }
        (dynamic_input_dims, far) = (settled.dims, settled.far);
        notes = [pinned, settled.notes].concat();
    }
    if let Some(p) = &xc.report {
        write::report::check_path(p)?;
    }
    let walk = |dims: &[(usize, usize)]| {
        let probes = (!dims.is_empty()).then(|| dynamic::probe_values(&inputs, dims));
        let fars = (!dims.is_empty()).then(|| dynamic::far_values(&inputs, dims, far));
        let graph_inputs = names
            .iter()
            .zip(&inputs)
            .enumerate()
            .map(|(i, (name, v))| GraphInput {
                name: name.clone(),
                value: v.clone(),
                probe: probes.as_ref().map(|p| p[i].clone()),
                far: fars.as_ref().map(|p| p[i].clone()),
            })
            .collect();
        let opts = WalkOptions {
            dynamic: probes.is_some(),
            strict_dynamic: xc.strict_dynamic,
            record_values: xc.record_values,
        };
        Walker::with_options(&m, opts)
            .record_module_stack(config.export.experimental.enable_record_nn_module_stack)
            .run(graph_inputs)
    };
    let walked = match walk(&dynamic_input_dims).and_then(|w| {
        pin_guarded_dims(
            w,
            &names,
            &inputs,
            &mut dynamic_input_dims,
            &mut notes,
            &walk,
        )
    }) {
        Ok(w) => w,
        Err(Error::Unsupported(u)) => {
            if let Some(p) = &xc.report {
                write::report::write(p, model, &u.all)?;
            }
            return Err(Error::Unsupported(u));
        }
        Err(e) => return Err(e),
    };
    let dynamic_dims = dynamic_input_dims
        .iter()
        .map(|(i, d)| format!("{}[{d}]", names[*i]))
        .collect();
    if let Some(p) = &xc.report {
        write::report::write(p, model, &walked.ops)?;
    }
    let node_count = walked.builder.ops.len();
    let atc = write::atc::single_card(
        export_path,
        &name,
        &write::atc::input_shape(&walked.builder.ops),
        write::atc::SOC_PLACEHOLDER,
    );
    let mut stage = Stage::new(&root)?;
    stage.record_as(&name);
    if xc.atc_script {
        let text = write::atc::script(export_path, &atc);
        stage.file(Path::new("atc.sh"), |w| {
            std::io::Write::write_all(w, text.as_bytes())
        })?;
    }
    let air_name = format!("{name}.air");
    let opts = WriteOptions {
        export_path,
        subdir: "",
        air_name: &air_name,
        export_name: &name,
        pbtxt: xc.pbtxt,
        weight_threshold: threshold,
    };
    let recorded = walked.recorded;
    let w = write::write_graph(walked.builder, "graph_1", &mut stage, &opts)?;
    let files = stage.commit()?;
    Ok(ExportReport {
        air,
        files,
        guards: walked.guards,
        weight_mode: w.weight_mode,
        weight_bytes: w.weight_bytes,
        graph_bytes: w.graph_bytes,
        node_count,
        warnings: w.warnings,
        used_traced_inputs,
        inputs,
        dynamic_dims,
        notes,
        dynamic_input_dims,
        atc,
        recorded,
        lazy,
    })
}

use crate::write::stage;

/// `settle`'s oracle for a walk with lazy weights: whether a static walk of `m` on `inputs` (the
/// sample with some dims grown) gets through. An op failing on these inputs is the answer
/// (forward would fail there too); an op that needs values the lazy walk cannot give, or an
/// error other than an unsupported op, ends the export as it would end the walk.
fn lazy_walk_runs(
    m: &Module,
    names: &[String],
    inputs: &[Value],
) -> Result<std::result::Result<(), String>> {
    let graph_inputs = names
        .iter()
        .zip(inputs)
        .map(|(name, v)| GraphInput {
            name: name.clone(),
            value: v.clone(),
            probe: None,
            far: None,
        })
        .collect();
    match Walker::new(m).run(graph_inputs) {
        // Unsupported ops are found by a walk that ran every op: the inputs got through.
        Ok(_) | Err(Error::Unsupported(_)) => Ok(Ok(())),
        // (Said in settle's notes as "at <size>: <this>": the op's site is the news.)
        Err(Error::Input(e) | Error::Run(e)) => Ok(Err(e
            .strip_prefix("forward failed on the sample inputs at ")
            .unwrap_or(&e)
            .to_string())),
        Err(e) => Err(e),
    }
}

/// A dynamic export must be right for every size its `-1` dims admit, so a dim that a guard
/// depends on (a branch, a loop count, a `max`/`min`, a clamped slice, a float baked in) is
/// pinned, as dynamo specialises such dims. torch2air walks again with one dim at a time taken
/// out; a dim whose removal takes guards away is pinned (exported static, with a note naming
/// the guard), until no guard on a dynamic dim is left. Returns the walk of the dims kept.
pub(crate) fn pin_guarded_dims(
    walked: crate::walk::Walked,
    names: &[String],
    inputs: &[Value],
    dims: &mut Vec<dynamic::InputDim>,
    notes: &mut Vec<String>,
    walk: &dyn Fn(&[dynamic::InputDim]) -> Result<crate::walk::Walked>,
) -> Result<crate::walk::Walked> {
    let guards_of = |w: &crate::walk::Walked| -> Vec<crate::walk::Guard> {
        w.guards.iter().filter(|g| g.dynamic).cloned().collect()
    };
    let mut guards = guards_of(&walked);
    if guards.is_empty() {
        return Ok(walked);
    }
    let mut current = walked;
    let mut note = |(i, d): dynamic::InputDim, g: &crate::walk::Guard| {
        let size = inputs[i]
            .as_tensor()
            .map(|t| t.tensor.size()[d])
            .unwrap_or(0);
        notes.push(format!(
            "'{}' dim {d} is pinned at {size}: the graph depends on it at {}  {}  -> {}; exported as static",
            names[i],
            g.location,
            g.text.trim(),
            g.assumed
        ));
    };
    let size = |(i, d): dynamic::InputDim| inputs[i].as_tensor().map(|t| t.tensor.size()[d]);
    for &dim in dims.clone().iter() {
        if !dims.contains(&dim) {
            continue;
        }
        // The dim alone; when forward needs others to grow with it (`x + y`), the dims of the
        // same sample size with it.
        let group: Vec<_> = dims
            .iter()
            .copied()
            .filter(|x| size(*x) == size(dim))
            .collect();
        let mut tried = None;
        for out in [vec![dim], group] {
            let trial: Vec<_> = dims.iter().copied().filter(|x| !out.contains(x)).collect();
            if let Ok(w) = walk(&trial) {
                tried = Some((out, trial, w));
                break;
            }
        }
        let Some((out, trial, w)) = tried else {
            continue;
        };
        let left = guards_of(&w);
        if left.len() < guards.len() {
            let gone = guards
                .iter()
                .find(|g| {
                    !left
                        .iter()
                        .any(|l| l.location == g.location && l.assumed == g.assumed)
                })
                .unwrap_or(&guards[0]);
            for o in out {
                note(o, gone);
            }
            *dims = trial;
            guards = left;
            current = w;
            if guards.is_empty() {
                return Ok(current);
            }
        }
    }
    // Guards that no single dim explains (a size computed from dims 2 and 3 together): take
    // the dims out one after another until no guard is left, then put back each one whose
    // return brings none; pin the rest.
    drop(current);
    let (mut kept, mut out) = (dims.clone(), vec![]);
    let mut found = None;
    for &dim in dims.iter() {
        kept.retain(|x| *x != dim);
        out.push(dim);
        if let Ok(w) = walk(&kept) {
            if guards_of(&w).is_empty() {
                found = Some(w);
                break;
            }
        }
    }
    if let Some(mut w) = found {
        for dim in out.clone() {
            let mut trial = kept.clone();
            trial.push(dim);
            trial.sort();
            if let Ok(w2) = walk(&trial) {
                if guards_of(&w2).is_empty() {
                    (kept, w) = (trial, w2);
                    out.retain(|x| *x != dim);
                }
            }
        }
        for &o in &out {
            note(o, &guards[0]);
        }
        *dims = kept;
        return Ok(w);
    }
    for &dim in dims.iter() {
        note(dim, &guards[0]);
    }
    dims.clear();
    walk(&[])
}
