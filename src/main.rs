//! The `torch2air` command line.
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use torch2air::internal::api::{
    CompilerConfig, WeightsMode, DEFAULT_EXPORT_NAME, DEFAULT_EXPORT_PATH,
};
use torch2air::internal::error::{Error, Result};
use torch2air::internal::value::Value;
use torch2air::internal::{spec, verify, write};

const SPEC_HELP: &str = "Sample input for forward, one per argument, in order. SPEC forms:
  f32[2,4]           random tensor (floats ~ N(0,1), ints in [0,10), bools 50/50)
  i64[2,16]:0..500   random tensor with values in [0, 500)
  f32[]              0-d tensor
  bool:true  int:3  float:0.5  str:gelu   Python values (baked into the graph)
  none               None, for an Optional argument
  path/to/x.npy      a tensor from a NumPy file
dtypes: f32 f16 bf16 f64 i64 i32 i16 i8 u8 bool.
Trailing arguments with a default (None, a bool, int, float or str) may be left out.
Omit --input for a traced module to use the example inputs it was traced with.";

#[derive(Parser)]
#[command(
    name = "torch2air",
    version,
    about = "Export TorchScript models to Ascend AIR (GE) graphs, and verify them"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// No progress lines (they are drawn only on a terminal, on stderr, in any case).
    #[arg(long, global = true)]
    quiet: bool,
}

#[derive(Args, Clone)]
struct InputArgs {
    #[arg(long = "input", value_name = "SPEC", help = SPEC_HELP)]
    inputs: Vec<String>,
    /// Load a library of custom ops (a .so that registers them with libtorch, as
    /// torch.ops.load_library does) before loading the model, e.g. torchvision's _C.so for
    /// torchvision::roi_align / nms / deform_conv2d. Repeatable.
    #[arg(long = "load-library", value_name = "PATH.so")]
    libraries: Vec<PathBuf>,
    /// Seed of the random sample inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

const RUN_SPEC_HELP: &str = "Input tensor of the graph, one per Data node, in order. SPEC forms:
  f32[2,4]           random tensor (floats ~ N(0,1), ints in [0,10), bools 50/50)
  i64[2,16]:0..500   random tensor with values in [0, 500)
  f32[]              0-d tensor
  path/to/x.npy      a tensor from a NumPy file
dtypes: f32 f16 bf16 f64 i64 i32 i16 i8 u8 bool. The graph's Data nodes (in dynamo.pbtxt, and in
the error for a wrong count) give each input's dtype and shape (-1: any size); Python values
were baked into the graph at export and are not given again.";

/// `run`'s inputs: tensors only, one per graph input.
#[derive(Args, Clone)]
struct RunInputArgs {
    #[arg(long = "input", value_name = "SPEC", help = RUN_SPEC_HELP)]
    inputs: Vec<String>,
    /// Seed of the random sample inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args, Clone)]
struct BudgetArgs {
    /// The runner's memory budget: the largest tensor (bytes) it makes while running the graph;
    /// a larger one is refused with an error [default: $TORCH2AIR_MAX_TENSOR_BYTES, else
    /// 1073741824 = 1 GiB]. 0: no limit.
    #[arg(long, value_name = "BYTES")]
    max_tensor_bytes: Option<u64>,
    /// Read FileConstant weight files wherever their file_path points (absolute paths, other
    /// folders, symbolic links). By default only plain files in the .air's folder (or its
    /// rank_<r>/ folders) are read.
    #[arg(long)]
    allow_external_weights: bool,
}

#[derive(Args, Clone)]
struct BisectArgs {
    /// When the outputs differ, run the graph node by node against the TorchScript values of the
    /// same ops and name the first GE node that differs beyond tolerance (op type, ATen op,
    /// source line, its max error and its inputs').
    #[arg(long)]
    bisect: bool,
    /// With --bisect: compare this .air (edited by hand, or exported earlier) instead of the
    /// fresh export; its nodes are matched to TorchScript's values by name.
    #[arg(long, value_name = "PATH", requires = "bisect")]
    air: Option<PathBuf>,
    /// With --bisect: save the first differing node's output as <DIR>/ours.npy and TorchScript's
    /// as <DIR>/torchscript.npy.
    #[arg(long, value_name = "DIR", requires = "bisect")]
    dump: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct ExportArgs {
    /// Folder to write into (created if missing); symlinks are refused.
    #[arg(long, default_value = DEFAULT_EXPORT_PATH)]
    export_path: String,
    /// Model name: writes <export-path>/<export-name>.air (only the last path component is used).
    #[arg(long, default_value = DEFAULT_EXPORT_NAME)]
    export_name: String,
    /// dynamic=true: every dim of every tensor input is dynamic (-1 in the graph) unless
    /// --dynamic-dims says otherwise, and sizes computed from them are computed in the graph.
    /// Dims the model itself fixes (e.g. by adding a parameter of fixed shape), and dims of size
    /// 0 or 1 in the sample that --dynamic-dims does not name, are reported and exported static.
    #[arg(long)]
    dynamic: bool,
    /// NAME=DIMS: only these dims of input NAME (a forward argument) are dynamic, e.g. x=0,1
    /// or x=0,-1; NAME= (nothing) pins every dim of NAME. Repeatable; implies --dynamic.
    #[arg(long = "dynamic-dims", value_name = "NAME=DIMS", value_parser = parse_dynamic_dims)]
    dynamic_dims: Vec<(String, Vec<i64>)>,
    /// Make a branch or loop count that depends on a dynamic dim an error instead of a guard.
    /// Implies --dynamic.
    #[arg(long)]
    strict_dynamic: bool,
    /// Write every op kind of the graph (count, lowered/folded/UNSUPPORTED, GE lowering, input
    /// dtypes and shapes, source lines) to FILE: Markdown for .md, CSV for .csv. Written also
    /// when the export fails on unsupported ops. Multi-card: the walk of the first rank written.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Graph + weight bytes above which weights become FileConstant nodes plus raw files
    /// [default: $TORCH2AIR_WEIGHT_THRESHOLD, else 1937768448 = 2 GB - 200 MB]. 0 forces files.
    #[arg(long, value_name = "BYTES")]
    weight_threshold: Option<u64>,
    /// config.export.experimental.auto_atc_config_generated (multi-card exports only; a
    /// single-card export writes no json, as TorchAir).
    #[arg(long)]
    auto_atc_config: bool,
    /// What dynamo.pbtxt holds: full (TorchAir's listing, every Const byte escaped), lean (Const
    /// payloads over 64 bytes replaced by their dtype, shape and byte count), or none (not
    /// written).
    #[arg(long, value_name = "MODE", default_value = "full", value_parser = parse_pbtxt)]
    pbtxt: write::pbtxt::PbtxtMode,
    /// Where the weights are while exporting: memory (the module loaded whole), lazy (the
    /// module loaded on the meta device, shapes only; weight bytes streamed from the .pt to the
    /// export, for models larger than memory), or auto: lazy when the .pt's tensor bytes exceed
    /// the memory available (MemAvailable, or the cgroup's limit), said on stderr, and from
    /// 1 GiB of weights (the same files; a walk that needs values computed from the weights runs
    /// again in memory, said on stderr). --dynamic works in every mode.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = parse_weights)]
    weights: WeightsMode,
    /// Also write <export-path>/atc.sh: the ATC command that compiles the export (printed
    /// either way); run it as `SOC_VERSION=<chip> sh <export-path>/atc.sh`.
    #[arg(long)]
    atc_script: bool,
    /// config.export.experimental.enable_record_nn_module_stack: add the `nn_module_stack` attr
    /// (the submodules a node comes from, e.g. layer[0] of class Layer) to every op inlined
    /// from a submodule, and `_torch2air_source` (the op's source line and call stack, which
    /// `torch2air show` displays) to every lowered op.
    #[arg(long)]
    record_nn_module_stack: bool,
    /// Multi-card export of N ranks: <export-path>/<export-name><r>.air plus rank_<r>/ (pbtxt,
    /// weights) for every rank. The model path and .npy inputs may contain {rank}; collectives
    /// are computed across the ranks while walking.
    #[arg(long, value_name = "N")]
    world_size: Option<usize>,
    /// With --world-size: write only rank R (every rank is still walked for the collectives).
    #[arg(long, value_name = "R", requires = "world_size")]
    rank: Option<usize>,
    /// Declare a sub-group: TorchScript group name NAME (the group_name string the model passes
    /// to the collective) over global RANKS, e.g. --group 1=0,1. Group "0" is the world. Each
    /// group's GE `group` attr is tag=ptd:<NAME>;rank_list=<RANKS>.
    #[arg(long = "group", value_name = "NAME=RANKS", requires = "world_size")]
    groups: Vec<String>,
}

fn parse_weights(s: &str) -> std::result::Result<WeightsMode, String> {
    match s {
        "auto" => Ok(WeightsMode::Auto),
        "memory" => Ok(WeightsMode::Memory),
        "lazy" => Ok(WeightsMode::Lazy),
        _ => Err(format!(
            "'{s}' is not a weights mode; fix: auto, memory or lazy"
        )),
    }
}

fn parse_pbtxt(s: &str) -> std::result::Result<write::pbtxt::PbtxtMode, String> {
    use write::pbtxt::PbtxtMode;
    match s {
        "full" => Ok(PbtxtMode::Full),
        "lean" => Ok(PbtxtMode::Lean),
        "none" => Ok(PbtxtMode::None),
        _ => Err(format!(
            "'{s}' is not a pbtxt mode; fix: full, lean or none"
        )),
    }
}

fn parse_dynamic_dims(s: &str) -> std::result::Result<(String, Vec<i64>), String> {
    let (name, dims) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not NAME=DIMS (e.g. x=0,1)"))?;
    if name.is_empty() {
        return Err(format!("'{s}' has no input name before '='"));
    }
    let dims = dims
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            d.trim()
                .parse::<i64>()
                .map_err(|_| format!("'{d}' in '{s}' is not a dim index"))
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok((name.to_string(), dims))
}

impl ExportArgs {
    /// --dynamic-dims and --strict-dynamic imply --dynamic.
    fn dynamic(&self) -> bool {
        self.dynamic || !self.dynamic_dims.is_empty() || self.strict_dynamic
    }

    fn config(&self) -> CompilerConfig {
        let mut c = CompilerConfig::default();
        c.export.weight_threshold = self.weight_threshold;
        for (name, dims) in &self.dynamic_dims {
            c.export
                .dynamic_dims
                .entry(name.clone())
                .or_default()
                .extend(dims);
        }
        c.export.strict_dynamic = self.strict_dynamic;
        c.export.report = self.report.clone();
        c.export.atc_script = self.atc_script;
        c.export.pbtxt = self.pbtxt;
        c.export.weights = self.weights;
        c.export.experimental.auto_atc_config_generated = self.auto_atc_config;
        c.export.experimental.enable_record_nn_module_stack = self.record_nn_module_stack;
        c
    }

    fn dist(&self) -> Result<Option<torch2air::internal::dist::export::DistConfig>> {
        let Some(world_size) = self.world_size else {
            return Ok(None);
        };
        let groups = self
            .groups
            .iter()
            .map(|g| torch2air::internal::dist::parse_group_decl(g).map_err(Error::Input))
            .collect::<Result<_>>()?;
        Ok(Some(torch2air::internal::dist::export::DistConfig {
            world_size,
            rank: self.rank,
            groups,
        }))
    }
}

/// Rank r's SPECs: `{rank}` in a SPEC (an .npy path) becomes r.
fn rank_specs(specs: &[String], r: usize) -> Vec<String> {
    specs
        .iter()
        .map(|s| torch2air::internal::dist::export::for_rank(s, r))
        .collect()
}

#[derive(Subcommand)]
enum Cmd {
    /// Export MODEL.pt to <export-path>/<export-name>.air and dynamo.pbtxt (and weight files).
    Export {
        /// TorchScript file (torch.jit.save of a scripted or traced module).
        model: PathBuf,
        #[command(flatten)]
        inputs: InputArgs,
        #[command(flatten)]
        export: ExportArgs,
    },
    /// Run an .air with the reference runner (GE semantics, libtorch kernels); given a
    /// multi-card export folder, run all its ranks together (collectives across them). Graphs
    /// torch2air did not write (TorchAir's) run too: their descs are checked where they carry
    /// information, and disagreements are warnings.
    Run {
        /// The .air file (torch2air's or another exporter's), or the folder of a multi-card
        /// export (every rank; .npy inputs may contain {rank}).
        air: PathBuf,
        /// For a folder holding several multi-rank exports: the --export-name to run.
        #[arg(long)]
        export_name: Option<String>,
        #[command(flatten)]
        inputs: RunInputArgs,
        /// Write each output as <DIR>/output_<i>.npy.
        #[arg(long, value_name = "DIR")]
        save_outputs: Option<PathBuf>,
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// Export, then run the .air and the TorchScript module on the same inputs and compare.
    Verify {
        model: PathBuf,
        #[command(flatten)]
        inputs: InputArgs,
        #[command(flatten)]
        export: ExportArgs,
        /// Absolute tolerance [default by dtype: f32 1e-5, f16 1e-2, bf16 5e-2, f64 1e-9, ints 0].
        #[arg(long, value_parser = tolerance)]
        atol: Option<f64>,
        /// Relative tolerance [default by dtype, as --atol].
        #[arg(long, value_parser = tolerance)]
        rtol: Option<f64>,
        #[command(flatten)]
        bisect: BisectArgs,
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// Check an .air (any exporter's) or a multi-card folder against the GE operator prototypes:
    /// op types, input and attr names and types, input dtypes, dangling or empty inputs, cycles,
    /// Data indices, FileConstant files. Prints every problem (one line each, naming the node);
    /// exit 1 when there is any, else 0 with a one-line summary.
    Check {
        /// The .air file, or a folder holding one .air per rank.
        air: PathBuf,
    },
    /// Show what an .air (any exporter's) or a multi-card folder holds: inputs and outputs
    /// (dtypes, shapes, dynamic dims), node and op-type counts, weights, nn_module_stack scopes,
    /// Hcom groups; for a folder one block per rank and the ATC json summary.
    Inspect {
        /// The .air file, or a folder holding one .air per rank.
        air: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Draw an .air (any exporter's) or a multi-card folder: a self-contained HTML page (pan/zoom
    /// SVG, nodes in collapsible boxes by module scope, op types, shapes and dtypes on nodes and
    /// edges, a side panel with each node's attrs and source line, one tab per rank with Hcom
    /// nodes highlighted), or with -o X.svg a static picture. Shapes the descs leave out come
    /// from a run of the graph on random sample inputs. What cannot be read or drawn is listed
    /// (stderr and a banner); exit 0 when something was drawn, 2 when nothing could be.
    Show {
        /// The .air file, or a folder holding one .air per rank (or rank_<r>/ folders).
        air: PathBuf,
        /// Where to write: .html (the page) or .svg (a static picture of the first graph as
        /// the page opens it).
        #[arg(
            short = 'o',
            long = "output",
            value_name = "FILE",
            default_value = "graph.html"
        )]
        output: PathBuf,
        /// Do not run the graph for shapes: show only what the descs carry.
        #[arg(long)]
        no_run: bool,
    },
    /// List the ATen ops torch2air lowers and the GE ops they become.
    Ops {
        /// Print a Markdown table.
        #[arg(long)]
        markdown: bool,
    },
}

fn describe(v: &Value) -> String {
    match v {
        Value::Tensor(t) => format!(
            "{}{:?}",
            torch2air::internal::dtype::of_tensor(&t.tensor)
                .map(|d| d.name())
                .unwrap_or("?"),
            t.tensor.size()
        ),
        other => format!("{other:?}"),
    }
}

/// The dynamic dims of a dynamic export, and the dims the model fixed.
fn print_dynamic(dims: &[String], notes: &[String]) {
    if !dims.is_empty() || !notes.is_empty() {
        println!(
            "dynamic dims: {}",
            if dims.is_empty() {
                "none".to_string()
            } else {
                dims.join(", ")
            }
        );
    }
    for n in notes {
        println!("note: {n}");
    }
}

fn print_export(r: &torch2air::internal::api::ExportReport) {
    if r.used_traced_inputs {
        let shown: Vec<String> = r.inputs.iter().map(describe).collect();
        println!(
            "no --input given: using the input dtypes and shapes torch.jit.trace recorded (random values, seed 0): {}",
            shown.join(", ")
        );
    }
    print_dynamic(&r.dynamic_dims, &r.notes);
    if !r.guards.is_empty() {
        println!("guards (the graph is specialised to these; other values need another export):");
        for g in torch2air::internal::walk::guard_lines(&r.guards) {
            println!("  {g}");
        }
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
    let weights = match r.weight_mode {
        write::WeightMode::None => "no weights".to_string(),
        write::WeightMode::Const => format!("weights inline as Const ({} bytes)", r.weight_bytes),
        write::WeightMode::FileConstant => {
            format!("weights as FileConstant + files ({} bytes)", r.weight_bytes)
        }
    };
    let lazily = if r.lazy {
        ", walked with the weights read lazily from the archive"
    } else {
        ""
    };
    println!(
        "exported {} ({} nodes, {weights}{lazily})",
        r.air.display(),
        r.node_count
    );
    for f in &r.files {
        println!("  wrote {}", f.display());
    }
    print_atc(&r.atc, false);
}

/// The ATC step that follows an export.
fn print_atc(command: &str, multi_without_json: bool) {
    println!(
        "compile with ATC (fill in --soc_version with your chip, e.g. Ascend910B1):\n  {command}"
    );
    if multi_without_json {
        println!(
            "  (ATC's distributed build needs numa_config.json and model_relation_config.json: export with --auto-atc-config)"
        );
    }
}

fn ops(markdown: bool) {
    let rules = torch2air::internal::lower::rules();
    if markdown {
        println!("| ATen op | GE lowering |\n|---|---|");
        for (op, ge) in rules.list() {
            println!("| `{op}` | {} |", ge.replace('|', "\\|"));
        }
    } else {
        for (op, ge) in rules.list() {
            println!("{op:32} {ge}");
        }
    }
}

fn main_result(cli: Cli) -> Result<bool> {
    if let Cmd::Export { inputs, .. } | Cmd::Verify { inputs, .. } = &cli.cmd {
        for lib in &inputs.libraries {
            torch2air::internal::load::load_library(lib)?;
        }
    }
    match cli.cmd {
        Cmd::Export {
            model,
            inputs,
            export,
        } => {
            // The walk runs thousands of small libtorch ops on the sample inputs: on one thread,
            // libtorch never enters an OpenMP region, whose idle workers spin between ops (on
            // GPT-2-large, 2 cores: 6.5 s of CPU time with the default threads, 2 s on one).
            tch::set_num_threads(1);
            // A fixed threshold: blocks over 128 KiB (the walk's values) are mapped and given
            // back when freed. glibc's default raises it to the largest block freed (up to
            // 32 MiB), so freed values stayed in the heap: +6% peak RSS on GPT-2-large.
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: mallopt only sets an allocator parameter.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
            }
            if let Some(d) = export.dist()? {
                let specs = &inputs.inputs;
                let make = |r: usize| spec::make_all(&rank_specs(specs, r), inputs.seed);
                let model = model.to_string_lossy();
                let r = torch2air::internal::dist::export::export_ranks(
                    &make,
                    &model,
                    &export.export_path,
                    &export.export_name,
                    export.dynamic(),
                    &export.config(),
                    &d,
                )?;
                print_multi(&r);
                return Ok(true);
            }
            let args = spec::make_all(&inputs.inputs, inputs.seed)?;
            let r = torch2air::internal::api::dynamo_export(
                args,
                &model,
                &export.export_path,
                &export.export_name,
                export.dynamic(),
                &export.config(),
            )?;
            print_export(&r);
            Ok(true)
        }
        Cmd::Run {
            air,
            export_name,
            inputs,
            save_outputs,
            budget,
        } => {
            torch2air::internal::run::budget::set_max_tensor_bytes(budget.max_tensor_bytes);
            torch2air::internal::run::weights::allow_external(budget.allow_external_weights);
            if air.is_dir() {
                let make = |r: usize| {
                    graph_tensors(&spec::make_all(
                        &rank_specs(&inputs.inputs, r),
                        inputs.seed,
                    )?)
                };
                let outs =
                    torch2air::internal::dist::run::run_ranks(&air, export_name.as_deref(), &make);
                print_run_warnings();
                let outs = outs?;
                for (r, outs) in outs.iter().enumerate() {
                    println!("rank {r}:");
                    let dir = save_outputs.as_ref().map(|d| d.join(format!("rank_{r}")));
                    print_outputs(outs, dir)?;
                }
                return Ok(true);
            }
            let tensors = graph_tensors(&spec::make_all(&inputs.inputs, inputs.seed)?)?;
            let outs = torch2air::internal::run::run_air(&air, &tensors);
            print_run_warnings();
            let outs = outs?;
            print_outputs(&outs, save_outputs)?;
            Ok(true)
        }
        Cmd::Verify {
            model,
            inputs,
            export,
            atol,
            rtol,
            bisect,
            budget,
        } => {
            torch2air::internal::run::budget::set_max_tensor_bytes(budget.max_tensor_bytes);
            torch2air::internal::run::weights::allow_external(budget.allow_external_weights);
            if export.world_size.is_some() {
                return Err(Error::Input(
                    "verify compares with the TorchScript module run as a whole, which cannot run collectives without a process group; \
                     fix: export with --world-size, then `torch2air run <export-path>` and compare with a torch.distributed run"
                        .into(),
                ));
            }
            verify_cmd(model, inputs, export, (atol, rtol), bisect)
        }
        Cmd::Check { air } => check_cmd(&air),
        Cmd::Inspect { air, json } => {
            let v = torch2air::internal::inspect::inspect(&air)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v).map_err(|e| Error::Io(e.to_string()))?
                );
            } else {
                print!("{}", torch2air::internal::inspect::text(&v));
            }
            Ok(true)
        }
        Cmd::Show {
            air,
            output,
            no_run,
        } => show_cmd(&air, &output, no_run),
        Cmd::Ops { markdown } => {
            ops(markdown);
            Ok(true)
        }
    }
}

/// The runner's warnings about a foreign graph (descs that disagree with GE's inference, dtypes
/// outside a prototype), on stderr.
fn print_run_warnings() {
    for w in torch2air::internal::run::take_warnings() {
        eprintln!("warning: {w}");
    }
}

fn graph_tensors(args: &[Value]) -> Result<Vec<tch::Tensor>> {
    args.iter()
        .map(|v| {
            v.as_tensor().map(|t| t.tensor.shallow_clone()).ok_or_else(|| {
                Error::Input(format!(
                    "a {} input was given, but an exported graph takes only tensors (Python values were baked in at export)",
                    v.kind_name()
                ))
            })
        })
        .collect()
}

fn print_outputs(outs: &[tch::Tensor], save_outputs: Option<PathBuf>) -> Result<()> {
    for (i, t) in outs.iter().enumerate() {
        let f = t.to_kind(tch::Kind::Double);
        let stats = if t.numel() > 0 {
            format!(
                "min {:.6} max {:.6} mean {:.6}",
                f.min().double_value(&[]),
                f.max().double_value(&[]),
                f.mean(None).double_value(&[])
            )
        } else {
            "empty".into()
        };
        println!(
            "output {i}: {}  {stats}",
            torch2air::internal::dtype::spelled(t)
        );
    }
    if let Some(dir) = save_outputs {
        // Atomic like an export: all files appear together, or none.
        let mut stage =
            torch2air::internal::write::stage::Stage::for_option(&dir, "--save-outputs")?;
        for (i, t) in outs.iter().enumerate() {
            stage.file(std::path::Path::new(&format!("output_{i}.npy")), |w| {
                spec::write_npy(t, w)
            })?;
        }
        for p in stage.commit()? {
            println!("  saved {}", p.display());
        }
    }
    Ok(())
}

/// A tolerance: a finite number, zero or more.
fn tolerance(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!(
            "'{s}' is not a tolerance; fix: give a number >= 0, e.g. 1e-4"
        )),
    }
}

fn verify_cmd(
    model: PathBuf,
    inputs: InputArgs,
    export: ExportArgs,
    (atol, rtol): (Option<f64>, Option<f64>),
    bisect: BisectArgs,
) -> Result<bool> {
    let args = spec::make_all(&inputs.inputs, inputs.seed)?;
    let opts = bisect.bisect.then(|| verify::BisectOptions {
        air: bisect.air.clone(),
        dump: bisect.dump.clone(),
    });
    let r = verify::verify_with(
        args,
        &model,
        &export.export_path,
        &export.export_name,
        export.dynamic(),
        &export.config(),
        atol,
        rtol,
        opts.as_ref(),
    )?;
    print_export(&r.export);
    if let Some(a) = &bisect.air {
        println!("compared: {}", a.display());
    }
    if let Some(e) = &r.run_error {
        println!("the graph does not run as a whole: {e}");
    }
    for c in &r.checks {
        println!("{c}");
    }
    if let Some(b) = &r.bisect {
        print_bisect(b);
    }
    print_run_warnings();
    for g in &r.grown {
        println!(
            "at larger sizes, dynamic dims grown by {} (sizes the export never saw): {}",
            g.by,
            g.inputs.join(", ")
        );
        for c in &g.checks {
            println!("  {c}");
        }
        if let Some(n) = &g.note {
            println!("  {n}");
        }
    }
    if r.passed() {
        println!(
            "verify: PASS ({} output(s) match TorchScript)",
            r.checks.len()
        );
        Ok(true)
    } else {
        eprintln!(
            "verify: FAIL: the exported graph's outputs differ from TorchScript's beyond tolerance"
        );
        Ok(false)
    }
}

fn print_bisect(b: &verify::Bisect) {
    println!(
        "bisect: {} node output(s) compared with TorchScript's values in execution order ({} with no TorchScript value: steps inside a lowering, or nodes named otherwise)",
        b.compared, b.uncovered
    );
    for p in &b.problems {
        println!("bisect: cannot compare: {p}");
    }
    if b.skipped > 0 {
        println!(
            "bisect: cannot compare: {} node(s) not run, as an input comes from a node that failed",
            b.skipped
        );
    }
    if !b.unmatched.is_empty() {
        const SHOWN: usize = 5;
        let more = b.unmatched.len().saturating_sub(SHOWN);
        println!(
            "bisect: cannot compare: {} TorchScript value(s) have no node output of that name in the graph: {}{}",
            b.unmatched.len(),
            b.unmatched[..b.unmatched.len().min(SHOWN)].join(", "),
            if more > 0 { format!(", ... ({more} more)") } else { String::new() }
        );
    }
    match &b.first {
        None => println!(
            "bisect: no compared node output differs beyond tolerance: the difference is in what could not be compared, or small errors add up"
        ),
        Some(d) => {
            let from = match d.aten.as_str() {
                "weight" => format!("weight '{}'", d.site),
                "input" => d.site.clone(),
                a if d.site.is_empty() => a.to_string(),
                a => format!("{a} at {}", d.site),
            };
            println!(
                "bisect: first differing node: '{}' ({}) output {}, from {from}",
                d.node, d.op_type, d.output
            );
            let c = d.check.to_string();
            println!("  {}", c.split_once(": ").map(|(_, r)| r).unwrap_or(&c));
            for (name, c) in &d.inputs {
                match c {
                    Some(c) => println!(
                        "  input {name}: max abs err {:.3e}  {}",
                        c.max_abs,
                        if c.ok { "ok" } else { "MISMATCH" }
                    ),
                    None => println!("  input {name}: no TorchScript value to compare (a step inside a lowering)"),
                }
            }
        }
    }
    for p in &b.dumped {
        println!("  saved {}", p.display());
    }
}

fn show_cmd(air: &std::path::Path, output: &std::path::Path, no_run: bool) -> Result<bool> {
    let ext = output
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let svg = match ext.as_str() {
        "svg" => true,
        "html" | "htm" => false,
        _ => {
            return Err(Error::Input(format!(
                "'{}' is neither .html nor .svg; fix: -o graph.html (the page) or -o graph.svg (a static picture)",
                output.display()
            )))
        }
    };
    let opts = torch2air::internal::show::Options {
        run: !no_run,
        ..Default::default()
    };
    let shown = torch2air::internal::show::show(air, opts)?;
    for p in shown.problems() {
        eprintln!("warning: {p}");
    }
    let text = if svg {
        torch2air::internal::show::svg::svg(&shown.graphs[0])
    } else {
        torch2air::internal::show::html(&shown)
    };
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io = |e: std::io::Error| Error::Io(format!("cannot write '{}': {e}", output.display()));
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
    // A page to share: readable by all, as a file written with the usual umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let f = tmp.as_file();
        f.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io)?;
    }
    tmp.persist(output).map_err(|e| io(e.error))?;
    let boxes: usize = shown.graphs.iter().map(|g| g.scopes.len()).sum();
    println!(
        "drew {} nodes of {} graph(s), {boxes} module box(es){}: {}",
        shown.nodes(),
        shown.graphs.len(),
        if shown.problems().is_empty() {
            String::new()
        } else {
            format!(", {} problem(s) listed", shown.problems().len())
        },
        output.display()
    );
    Ok(true)
}

fn check_cmd(air: &std::path::Path) -> Result<bool> {
    let c = torch2air::internal::check::check(air)?;
    for (f, p) in &c.problems {
        println!("{}: {p}", f.display());
    }
    let what = format!("{} graph file(s), {} nodes", c.files.len(), c.nodes);
    if c.problems.is_empty() {
        println!("check: OK: {} ({what}): no problems", air.display());
        Ok(true)
    } else {
        eprintln!(
            "check: {} problem(s) in {} ({what})",
            c.problems.len(),
            air.display()
        );
        Ok(false)
    }
}

fn print_multi(m: &torch2air::internal::dist::export::MultiExport) {
    print_dynamic(&m.dynamic_dims, &m.notes);
    for r in &m.ranks {
        let Some(air) = &r.air else { continue };
        println!("rank {}:", r.rank);
        if !r.guards.is_empty() {
            println!(
                "  guards (the graph is specialised to these; other values need another export):"
            );
            for g in torch2air::internal::walk::guard_lines(&r.guards) {
                println!("    {g}");
            }
        }
        for w in &r.warnings {
            println!("  warning: {w}");
        }
        let groups: Vec<&str> = r.groups.iter().map(|g| g.ge.as_str()).collect();
        println!(
            "  exported {} ({} nodes, {}; groups: {})",
            air.display(),
            r.node_count,
            weights_text(r.weight_mode, r.weight_bytes),
            if groups.is_empty() {
                "none".to_string()
            } else {
                groups.join(" | ")
            }
        );
    }
    for f in &m.files {
        println!("  wrote {}", f.display());
    }
    let json = m
        .files
        .iter()
        .any(|f| f.ends_with(torch2air::internal::dist::atc::MODEL_RELATION_CONFIG));
    print_atc(&m.atc, !json);
}

fn weights_text(mode: write::WeightMode, bytes: u64) -> String {
    match mode {
        write::WeightMode::None => "no weights".to_string(),
        write::WeightMode::Const => format!("weights inline as Const ({bytes} bytes)"),
        write::WeightMode::FileConstant => {
            format!("weights as FileConstant + files ({bytes} bytes)")
        }
    }
}

fn main() -> ExitCode {
    // Output piped into `head` and closed early ends the process quietly, as for other Unix
    // tools, instead of a panic on the failed print.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Ctrl-C, SIGTERM or SIGHUP mid-export: remove the temp files being written and the folders
    // made for them, and exit as a shell expects (128 + the signal's number).
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                torch2air::internal::write::stage::remove_live_temps();
                torch2air::internal::write::stage::remove_live_dirs();
                std::process::exit(128 + sig);
            }
        });
    }
    let cli = Cli::parse();
    torch2air::internal::progress::set_quiet(cli.quiet);
    let report = match &cli.cmd {
        Cmd::Export { export, .. } | Cmd::Verify { export, .. } => export.report.clone(),
        _ => None,
    };
    // A panic is a torch2air bug (bad input has its own errors): say so in one line, not with a
    // Rust backtrace, and exit 3. Staged files are removed as the stack unwinds.
    std::panic::set_hook(Box::new(|info| {
        // A panic the library turns into an error (a kernel fed a malformed graph) is not a bug.
        if torch2air::internal::error::panic_is_quiet() {
            return;
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error{at}: {}\nthis is a torch2air bug: please report it with the model and the command",
            torch2air::internal::error::panic_text(info.payload())
        );
    }));
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| main_result(cli))) {
        Ok(r) => r,
        Err(_) => return ExitCode::from(3),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            if let (Error::Unsupported(_), Some(r)) = (&e, &report) {
                eprintln!("the op report of the whole graph is in {}", r.display());
            }
            ExitCode::from(match e {
                Error::Mismatch(_) => 1,
                _ => 2,
            })
        }
    }
}
