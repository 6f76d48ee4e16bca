//! The `torch2air` command line.
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use torch2air::api::{CompilerConfig, DEFAULT_EXPORT_NAME, DEFAULT_EXPORT_PATH};
use torch2air::error::{Error, Result};
use torch2air::value::Value;
use torch2air::{spec, verify, write};

const SPEC_HELP: &str = "Sample input for forward, one per argument, in order. SPEC forms:
  f32[2,4]           random tensor (floats ~ N(0,1), ints in [0,10), bools 50/50)
  i64[2,16]:0..500   random tensor with values in [0, 500)
  f32[]              0-d tensor
  bool:true  int:3  float:0.5   Python values (baked into the graph)
  path/to/x.npy      a tensor from a NumPy file
dtypes: f32 f16 bf16 f64 i64 i32 i16 i8 u8 bool.
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
}

#[derive(Args, Clone)]
struct InputArgs {
    #[arg(long = "input", value_name = "SPEC", help = SPEC_HELP)]
    inputs: Vec<String>,
    /// Seed of the random sample inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
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
    /// Dims the model itself fixes (e.g. by adding a parameter of fixed shape) are reported and
    /// exported static.
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
    /// when the export fails on unsupported ops.
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
    /// config.export.experimental.enable_record_nn_module_stack (accepted; not implemented yet).
    #[arg(long)]
    record_nn_module_stack: bool,
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
        c.export.experimental.auto_atc_config_generated = self.auto_atc_config;
        c.export.experimental.enable_record_nn_module_stack = self.record_nn_module_stack;
        c
    }
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
    /// Run an exported .air with the reference runner (GE semantics, libtorch kernels).
    Run {
        /// The .air file written by export.
        air: PathBuf,
        #[command(flatten)]
        inputs: InputArgs,
        /// Write each output as <DIR>/output_<i>.npy.
        #[arg(long, value_name = "DIR")]
        save_outputs: Option<PathBuf>,
    },
    /// Export, then run the .air and the TorchScript module on the same inputs and compare.
    Verify {
        model: PathBuf,
        #[command(flatten)]
        inputs: InputArgs,
        #[command(flatten)]
        export: ExportArgs,
        /// Absolute tolerance [default by dtype: f32 1e-5, f16 1e-2, bf16 5e-2, f64 1e-9, ints 0].
        #[arg(long)]
        atol: Option<f64>,
        /// Relative tolerance [default by dtype, as --atol].
        #[arg(long)]
        rtol: Option<f64>,
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
            torch2air::dtype::of_tensor(&t.tensor)
                .map(|d| d.name())
                .unwrap_or("?"),
            t.tensor.size()
        ),
        other => format!("{other:?}"),
    }
}

fn print_export(r: &torch2air::ExportReport) {
    if r.used_traced_inputs {
        let shown: Vec<String> = r.inputs.iter().map(describe).collect();
        println!(
            "no --input given: using the input dtypes and shapes torch.jit.trace recorded (random values, seed 0): {}",
            shown.join(", ")
        );
    }
    if !r.dynamic_dims.is_empty() || !r.notes.is_empty() {
        println!(
            "dynamic dims: {}",
            if r.dynamic_dims.is_empty() {
                "none".to_string()
            } else {
                r.dynamic_dims.join(", ")
            }
        );
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    if !r.guards.is_empty() {
        println!("guards (the graph is specialised to these; other values need another export):");
        for g in &r.guards {
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
    println!(
        "exported {} ({} nodes, {weights})",
        r.air.display(),
        r.node_count
    );
    for f in &r.files {
        println!("  wrote {}", f.display());
    }
}

fn ops(markdown: bool) {
    let rules = torch2air::lower::rules();
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
    match cli.cmd {
        Cmd::Export {
            model,
            inputs,
            export,
        } => {
            let args = spec::make_all(&inputs.inputs, inputs.seed)?;
            let r = torch2air::dynamo_export(
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
            inputs,
            save_outputs,
        } => {
            let args = spec::make_all(&inputs.inputs, inputs.seed)?;
            let tensors: Vec<tch::Tensor> = args
                .iter()
                .map(|v| {
                    v.as_tensor().map(|t| t.tensor.shallow_clone()).ok_or_else(|| {
                        Error::Input(format!(
                            "a {} input was given, but an exported graph takes only tensors (Python values were baked in at export)",
                            v.kind_name()
                        ))
                    })
                })
                .collect::<Result<_>>()?;
            let outs = torch2air::run::run_air(&air, &tensors)?;
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
                println!("output {i}: {:?}{:?}  {stats}", t.kind(), t.size());
            }
            if let Some(dir) = save_outputs {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::Io(format!("cannot create '{}': {e}", dir.display())))?;
                for (i, t) in outs.iter().enumerate() {
                    let p = dir.join(format!("output_{i}.npy"));
                    let mut f =
                        std::io::BufWriter::new(std::fs::File::create(&p).map_err(|e| {
                            Error::Io(format!("cannot write '{}': {e}", p.display()))
                        })?);
                    spec::write_npy(t, &mut f)
                        .map_err(|e| Error::Io(format!("cannot write '{}': {e}", p.display())))?;
                    println!("  saved {}", p.display());
                }
            }
            Ok(true)
        }
        Cmd::Verify {
            model,
            inputs,
            export,
            atol,
            rtol,
        } => {
            let args = spec::make_all(&inputs.inputs, inputs.seed)?;
            let r = verify::verify(
                args,
                &model,
                &export.export_path,
                &export.export_name,
                export.dynamic(),
                &export.config(),
                atol,
                rtol,
            )?;
            print_export(&r.export);
            for c in &r.checks {
                println!("{c}");
            }
            if r.passed() {
                println!(
                    "verify: PASS ({} output(s) match TorchScript)",
                    r.checks.len()
                );
                Ok(true)
            } else {
                eprintln!("verify: FAIL: the exported graph's outputs differ from TorchScript's beyond tolerance");
                Ok(false)
            }
        }
        Cmd::Ops { markdown } => {
            ops(markdown);
            Ok(true)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let report = match &cli.cmd {
        Cmd::Export { export, .. } | Cmd::Verify { export, .. } => export.report.clone(),
        _ => None,
    };
    match main_result(cli) {
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
