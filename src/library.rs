//! The public API: what a crate that depends on torch2air uses. Everything else in the crate is
//! internal (the command line and the tests reach it through a hidden module with no stability
//! promise).
//!
//! - [`dynamo_export`] keeps the names and argument order of TorchAir's `dynamo_export`;
//!   [`Export`] is the same export with builder-style options.
//! - [`Input`] is one sample argument of `forward`: a `tch::Tensor`, a Python value, or a SPEC
//!   such as `f32[2,4]`.
//! - [`ExportReport`] is what an export did (files, guards, weight mode, the ATC command); it is
//!   `Send`.
//! - [`Air`] loads an `.air` (torch2air's or another exporter's) and runs it with the reference
//!   runner; [`torchscript_outputs`] runs the TorchScript module for comparison.
use crate::error::{Error, Result};
use crate::value::{Origin, TensorValue, Value};
use std::path::{Path, PathBuf};
use tch::Tensor;

pub use crate::api::{
    CompilerConfig, ExperimentalConfig, ExportConfig, WeightsMode, DEFAULT_EXPORT_NAME,
    DEFAULT_EXPORT_PATH,
};
pub use crate::walk::Guard;
pub use crate::write::pbtxt::PbtxtMode;
pub use crate::write::WeightMode;

/// One sample argument of the model's `forward` (after `self`), in order.
#[derive(Debug)]
pub enum Input {
    /// A tensor: it becomes a `Data` input of the graph.
    Tensor(Tensor),
    /// A Python `int`, baked into the graph.
    Int(i64),
    /// A Python `float`, baked into the graph.
    Float(f64),
    /// A Python `bool`, baked into the graph.
    Bool(bool),
    /// A Python `str`, baked into the graph.
    Str(String),
    /// Python `None` (an Optional argument left out).
    None,
}

impl Input {
    /// An input from a SPEC, as the command line's `--input` takes it: `f32[2,4]` (random:
    /// floats N(0,1), ints in [0,10)), `i64[1,8]:0..100` (random in [LO,HI)), `f32[]` (0-d),
    /// `path/to/x.npy`, `int:3`, `float:0.5`, `bool:true`, `str:text`, `none`. Random values use
    /// `seed`.
    pub fn spec(spec: &str, seed: u64) -> Result<Input> {
        let v = crate::spec::make_all(&[spec.to_string()], seed)
            .map_err(for_library)?
            .pop()
            .ok_or_else(|| Error::Input(format!("SPEC '{spec}' makes no value")))?;
        Input::from_value(&v)
    }

    fn from_value(v: &Value) -> Result<Input> {
        Ok(match v {
            Value::Tensor(t) => Input::Tensor(t.tensor.shallow_clone()),
            Value::Int(i) => Input::Int(*i),
            Value::Float(f) => Input::Float(*f),
            Value::Bool(b) => Input::Bool(*b),
            Value::Str(s) => Input::Str(s.clone()),
            Value::None => Input::None,
            other => {
                return Err(Error::Input(format!(
                    "a sample input of kind {other:?} has no public form; fix: pass tensors or Python scalars"
                )))
            }
        })
    }

    pub(crate) fn to_value(&self) -> Value {
        match self {
            Input::Tensor(t) => {
                Value::Tensor(TensorValue::new(t.shallow_clone(), Origin::Constant))
            }
            Input::Int(i) => Value::Int(*i),
            Input::Float(f) => Value::Float(*f),
            Input::Bool(b) => Value::Bool(*b),
            Input::Str(s) => Value::Str(s.clone()),
            Input::None => Value::None,
        }
    }
}

impl From<Tensor> for Input {
    fn from(t: Tensor) -> Self {
        Input::Tensor(t)
    }
}

impl From<i64> for Input {
    fn from(i: i64) -> Self {
        Input::Int(i)
    }
}

impl From<f64> for Input {
    fn from(f: f64) -> Self {
        Input::Float(f)
    }
}

impl From<bool> for Input {
    fn from(b: bool) -> Self {
        Input::Bool(b)
    }
}

/// What an export did. `Send`: it can be handed to another thread.
#[derive(Debug)]
pub struct ExportReport {
    /// `<export_path>/<export_name>.air`.
    pub air: PathBuf,
    /// Every file written, the `.air` last.
    pub files: Vec<PathBuf>,
    /// The decisions the graph was specialised on (branches taken, values baked in).
    pub guards: Vec<Guard>,
    /// Where the weights went: inline `Const` nodes or `FileConstant` nodes and files.
    pub weight_mode: WeightMode,
    /// Bytes of weights written (inline or in files).
    pub weight_bytes: u64,
    /// Bytes of the `.air`.
    pub graph_bytes: u64,
    /// Nodes in the graph.
    pub node_count: usize,
    /// Input/output dtypes outside the GE prototypes' advisory type sets.
    pub warnings: Vec<String>,
    /// Dynamic exports: the input dims exported as `-1`, as `name[dim]`.
    pub dynamic_dims: Vec<String>,
    /// The same dims as (input index, dim).
    pub dynamic_input_dims: Vec<(usize, usize)>,
    /// Dynamic exports: a note for each requested dim the model fixes (exported static).
    pub notes: Vec<String>,
    /// The `atc` command that compiles this export (`--soc_version` is a placeholder).
    pub atc: String,
    /// The sample inputs' tensors the export was walked with, in order (the traced module's own
    /// when none were given): the inputs for [`Air::run`] and [`torchscript_outputs`].
    pub input_tensors: Vec<Tensor>,
    /// True when the inputs came from the traced module itself.
    pub used_traced_inputs: bool,
}

impl ExportReport {
    fn from_internal(r: crate::api::ExportReport) -> Self {
        let input_tensors = crate::verify::graph_tensors(&r.inputs);
        ExportReport {
            air: r.air,
            files: r.files,
            guards: r.guards,
            weight_mode: r.weight_mode,
            weight_bytes: r.weight_bytes,
            graph_bytes: r.graph_bytes,
            node_count: r.node_count,
            warnings: r.warnings,
            dynamic_dims: r.dynamic_dims,
            dynamic_input_dims: r.dynamic_input_dims,
            notes: r.notes,
            atc: r.atc,
            input_tensors,
            used_traced_inputs: r.used_traced_inputs,
        }
    }
}

/// Exports `model` (a TorchScript `.pt`) called with `args` to `<export_path>/<export_name>.air`,
/// `<export_path>/dynamo.pbtxt` and, above the weight threshold, one file per weight: TorchAir's
/// `dynamo_export(*args, model, export_path, export_name, dynamic, config)`. Empty `args` takes
/// the sample inputs a traced module stores.
pub fn dynamo_export(
    args: Vec<Input>,
    model: impl AsRef<Path>,
    export_path: &str,
    export_name: &str,
    dynamic: bool,
    config: &CompilerConfig,
) -> Result<ExportReport> {
    let values = args.iter().map(Input::to_value).collect();
    crate::api::dynamo_export(values, model, export_path, export_name, dynamic, config)
        .map(ExportReport::from_internal)
        .map_err(for_library)
}

/// An export with builder-style options; `Export::new("m.pt").dynamic(true).run(inputs)`.
#[derive(Debug, Clone)]
pub struct Export {
    model: PathBuf,
    export_path: String,
    export_name: String,
    dynamic: bool,
    config: CompilerConfig,
}

impl Export {
    /// An export of the TorchScript file `model` into `export_file/export.air` (TorchAir's
    /// defaults), static, weights inline below the threshold.
    pub fn new(model: impl AsRef<Path>) -> Self {
        Export {
            model: model.as_ref().to_path_buf(),
            export_path: DEFAULT_EXPORT_PATH.into(),
            export_name: DEFAULT_EXPORT_NAME.into(),
            dynamic: false,
            config: CompilerConfig::default(),
        }
    }

    /// The folder written (created if missing; a symbolic link is refused).
    pub fn export_path(mut self, path: impl Into<String>) -> Self {
        self.export_path = path.into();
        self
    }

    /// The `.air` file's name without extension.
    pub fn export_name(mut self, name: impl Into<String>) -> Self {
        self.export_name = name.into();
        self
    }

    /// Tags input dims as dynamic (`-1`) and keeps shape arithmetic in the graph.
    pub fn dynamic(mut self, on: bool) -> Self {
        self.dynamic = on;
        self
    }

    /// With [`Export::dynamic`]: only these dims of input `name` are dynamic (negative counts
    /// from the end; empty: none). Inputs not named keep every dim dynamic.
    pub fn dynamic_dims(mut self, name: &str, dims: &[i64]) -> Self {
        self.config
            .export
            .dynamic_dims
            .insert(name.into(), dims.to_vec());
        self
    }

    /// With [`Export::dynamic`]: a branch or loop count that depends on a dynamic dim is an
    /// error instead of a guard.
    pub fn strict_dynamic(mut self, on: bool) -> Self {
        self.config.export.strict_dynamic = on;
        self
    }

    /// Graph + weight bytes above which weights become `FileConstant` nodes and files (0: always
    /// files). Default: TorchAir's 2 GB - 200 MB.
    pub fn weight_threshold(mut self, bytes: u64) -> Self {
        self.config.export.weight_threshold = Some(bytes);
        self
    }

    /// Records `nn_module_stack` on every op inlined from a submodule (TorchAir's
    /// `enable_record_nn_module_stack`).
    pub fn record_nn_module_stack(mut self, on: bool) -> Self {
        self.config
            .export
            .experimental
            .enable_record_nn_module_stack = on;
        self
    }

    /// What `dynamo.pbtxt` holds.
    pub fn pbtxt(mut self, mode: PbtxtMode) -> Self {
        self.config.export.pbtxt = mode;
        self
    }

    /// Where the weights are while exporting: in memory, streamed from the archive (models
    /// larger than memory), or chosen by the memory available (default).
    pub fn weights(mut self, mode: WeightsMode) -> Self {
        self.config.export.weights = mode;
        self
    }

    /// Also writes `<export_path>/atc.sh`, the ATC command that compiles the export.
    pub fn atc_script(mut self, on: bool) -> Self {
        self.config.export.atc_script = on;
        self
    }

    /// Writes every op kind of the graph (count, status, lowering, source lines) to this `.md`
    /// or `.csv` file, also when the export fails on unsupported ops.
    pub fn report(mut self, path: impl AsRef<Path>) -> Self {
        self.config.export.report = Some(path.as_ref().to_path_buf());
        self
    }

    /// The whole TorchAir-style config, for options not covered above.
    pub fn config(mut self, config: CompilerConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs the export with these sample inputs (empty: a traced module's own).
    pub fn run(&self, inputs: Vec<Input>) -> Result<ExportReport> {
        dynamo_export(
            inputs,
            &self.model,
            &self.export_path,
            &self.export_name,
            self.dynamic,
            &self.config,
        )
    }
}

/// One graph input of an `.air`: its name, dtype (when the desc names a known one) and shape
/// (`-1` for dynamic dims).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AirInput {
    /// The `Data` node's name.
    pub name: String,
    /// Its dtype, when the desc names one torch2air knows.
    pub dtype: Option<crate::dtype::DType>,
    /// Its shape; `-1` marks a dynamic dim.
    pub shape: Vec<i64>,
}

/// A loaded `.air` graph, ready to run with the reference runner (GE semantics computed with
/// libtorch kernels). `FileConstant` weights are read from beside the file.
#[derive(Debug)]
pub struct Air {
    path: PathBuf,
    model: crate::proto::ModelDef,
}

impl Air {
    /// Reads and validates `path` (a GE `ModelDef`).
    pub fn load(path: impl AsRef<Path>) -> Result<Air> {
        let path = path.as_ref().to_path_buf();
        let model = crate::write::read_air(&path).map_err(for_library)?;
        crate::run::validate(&model).map_err(for_library)?;
        Ok(Air { path, model })
    }

    /// The GE `ModelDef` protobuf message.
    pub fn model(&self) -> &crate::proto::ModelDef {
        &self.model
    }

    /// The graph's inputs, in order.
    pub fn inputs(&self) -> Vec<AirInput> {
        crate::run::graph_inputs(&self.model)
            .into_iter()
            .map(|(name, _, dtype, shape)| AirInput { name, dtype, shape })
            .collect()
    }

    /// Where the weights are: inline `Const`, `FileConstant` files, or none.
    pub fn weight_mode(&self) -> WeightMode {
        let ops = || self.model.graph.iter().flat_map(|g| &g.op);
        if ops().any(|o| o.r#type == "FileConstant") {
            WeightMode::FileConstant
        } else if ops().any(|o| o.r#type == "Const") {
            WeightMode::Const
        } else {
            WeightMode::None
        }
    }

    /// Problems against the GE operator prototypes and the weight files (empty: none).
    pub fn check(&self) -> Vec<String> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        crate::check::check_model(&self.model, dir)
    }

    /// Runs the graph on `inputs` (one tensor per graph input, in order).
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        crate::run::run_model(&self.model, dir, inputs).map_err(for_library)
    }
}

/// The TorchScript module's own outputs on `inputs` (as for [`dynamo_export`]), flattened to
/// tensors: the reference an exported graph is compared with.
pub fn torchscript_outputs(model: impl AsRef<Path>, inputs: &[Input]) -> Result<Vec<Tensor>> {
    let values: Vec<Value> = inputs.iter().map(Input::to_value).collect();
    crate::verify::torchscript_outputs(model.as_ref(), &values).map_err(for_library)
}

/// The library's wording of an error: the command line's flags in its messages become the
/// options of this API.
fn for_library(e: Error) -> Error {
    const NAMES: &[(&str, &str)] = &[
        ("--dynamic-dims", "Export::dynamic_dims"),
        ("--strict-dynamic", "Export::strict_dynamic"),
        ("--dynamic", "Export::dynamic / dynamic = true"),
        ("--weight-threshold", "Export::weight_threshold"),
        ("--export-path", "Export::export_path"),
        ("--export-name", "Export::export_name"),
        ("--input SPEC", "Input"),
        ("--input", "Input"),
        ("--report", "Export::report"),
        ("--pbtxt", "Export::pbtxt"),
        ("--weights", "Export::weights"),
        ("--atc-script", "Export::atc_script"),
        (
            "--enable-record-nn-module-stack",
            "Export::record_nn_module_stack",
        ),
    ];
    let reword = |s: String| {
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        'scan: while let Some(i) = rest.find("--") {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            for (flag, name) in NAMES {
                let after = tail[flag.len().min(tail.len())..].chars().next();
                if tail.starts_with(flag)
                    && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    out.push_str(name);
                    rest = &tail[flag.len()..];
                    continue 'scan;
                }
            }
            out.push_str("--");
            rest = &tail[2..];
        }
        out.push_str(rest);
        out
    };
    match e {
        Error::Model(s) => Error::Model(reword(s)),
        Error::Input(s) => Error::Input(reword(s)),
        Error::Schema(s) => Error::Schema(reword(s)),
        Error::Io(s) => Error::Io(reword(s)),
        Error::Run(s) => Error::Run(reword(s)),
        Error::Mismatch(s) => Error::Mismatch(reword(s)),
        Error::Unsupported(u) => Error::Unsupported(u),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn results_are_send() {
        assert_send::<ExportReport>();
        assert_send::<Air>();
        assert_send::<Input>();
        assert_send::<Error>();
    }

    #[test]
    fn errors_name_the_api_not_the_flags() {
        let e = for_library(Error::Input(
            "dims are dynamic; fix: pin them (--dynamic-dims) or export without --dynamic, or pass --input SPEC".into(),
        ));
        assert_eq!(
            e.to_string(),
            "dims are dynamic; fix: pin them (Export::dynamic_dims) or export without Export::dynamic / dynamic = true, or pass Input"
        );
    }
}
