//! torch2air: export TorchScript models to Huawei Ascend AIR graphs (GE `ModelDef` protobuf),
//! with a reference runner and a verifier.
//!
//! The pipeline, one module per stage: [`load`] → [`walk`] → [`lower`] → [`write`] → [`run`] →
//! [`verify`]. [`api::dynamo_export`] is the entry point, named after TorchAir's. [`check`] and
//! [`inspect`] read any .air, torch2air's or another exporter's.
pub mod api;
pub mod check;
pub mod dist;
pub mod dtype;
pub mod error;
pub mod ge;
pub mod inspect;
pub mod load;
pub mod lower;
pub mod opinfo;
pub mod progress;
pub mod proto;
pub mod run;
pub mod show;
pub mod spec;
pub mod value;
pub mod verify;
pub mod walk;
pub mod write;

pub use api::{
    dynamo_export, tensor_inputs, CompilerConfig, ExperimentalConfig, ExportConfig, ExportReport,
};
pub use error::{Error, Result};
/// The tch crate torch2air is built on: inputs and outputs are `tch::Tensor`s, and a dependent
/// crate uses this one rather than adding its own (the versions must agree).
pub use tch;
