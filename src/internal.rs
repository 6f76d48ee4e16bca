//! Not part of the API: the pipeline's stages, which torch2air's own command line, tests,
//! examples and benchmarks reach through `torch2air::internal`. No stability promise; hidden from
//! the documentation. The modules are declared here (not at the crate root) so that the crate's
//! public surface is only what lib.rs re-exports; their files stay where the pipeline puts them.
//! Inside the crate they are used as `crate::walk` etc. (lib.rs re-exports them to the crate).
#![allow(missing_docs)]
#[path = "api.rs"]
pub mod api;
#[path = "check.rs"]
pub mod check;
#[path = "dist/mod.rs"]
pub mod dist;
#[path = "dtype.rs"]
pub mod dtype;
#[path = "error.rs"]
pub mod error;
#[path = "ge/mod.rs"]
pub mod ge;
#[path = "inspect.rs"]
pub mod inspect;
#[path = "load/mod.rs"]
pub mod load;
#[path = "lower/mod.rs"]
pub mod lower;
#[path = "opinfo.rs"]
pub mod opinfo;
#[path = "progress.rs"]
pub mod progress;
#[path = "run/mod.rs"]
pub mod run;
#[path = "show/mod.rs"]
pub mod show;
#[path = "spec.rs"]
pub mod spec;
#[path = "value.rs"]
pub mod value;
#[path = "verify.rs"]
pub mod verify;
#[path = "walk/mod.rs"]
pub mod walk;
#[path = "write/mod.rs"]
pub mod write;
