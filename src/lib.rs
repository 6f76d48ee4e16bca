//! torch2air: export TorchScript models to Huawei Ascend AIR graphs (GE `ModelDef` protobuf),
//! with a reference runner and a verifier, without Python.
//!
//! ```no_run
//! use torch2air::{tch, Air, Export, Input};
//! # fn main() -> torch2air::Result<()> {
//! let x = tch::Tensor::randn([2, 4], (tch::Kind::Float, tch::Device::Cpu));
//! let report = Export::new("model.pt")
//!     .export_path("out")
//!     .dynamic(true)
//!     .run(vec![Input::from(x)])?;
//! println!("{} nodes, weights {:?}", report.node_count, report.weight_mode);
//! let outputs = Air::load(&report.air)?.run(&report.input_tensors)?;
//! let reference = torch2air::torchscript_outputs("model.pt", &[Input::from(report.input_tensors[0].shallow_clone())])?;
//! # let _ = (outputs, reference);
//! # Ok(())
//! # }
//! ```
//!
//! The pipeline inside, one module per stage: load → walk → lower → write → run → verify.
#![warn(missing_docs)]

#[doc(hidden)]
pub mod internal;
mod library;
pub mod proto;

pub(crate) use internal::{
    api, check, dist, dtype, error, ge, inspect, load, lower, progress, run, spec, value, verify,
    walk, write,
};

pub use dtype::DType;
pub use error::{Error, OpStatus, Result, UnsupportedOp, UnsupportedOps};
pub use library::{
    dynamo_export, torchscript_outputs, Air, AirInput, CompilerConfig, ExperimentalConfig, Export,
    ExportConfig, ExportReport, Guard, Input, PbtxtMode, WeightMode, WeightsMode,
    DEFAULT_EXPORT_NAME, DEFAULT_EXPORT_PATH,
};
/// The tch crate torch2air is built on: inputs and outputs are `tch::Tensor`s, and a dependent
/// crate uses this one rather than adding its own (the versions must agree).
pub use tch;
