//! Stage 6, verify: run the exported .air with the runner and the TorchScript module itself (the
//! whole module, through tch) on the same inputs, and compare every output.
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::value::Value;
use std::path::Path;
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
    /// Dynamic exports: the same comparison with every dynamic dim grown by `GROWN_BY` (sizes the
    /// export never saw). None for static exports.
    pub grown: Option<GrownCheck>,
}

/// How much `verify` grows each dynamic dim for its second comparison.
pub const GROWN_BY: usize = 2;

pub struct GrownCheck {
    /// The inputs' dtypes and shapes, e.g. `f32[4, 7, 16]`.
    pub inputs: Vec<String>,
    pub checks: Vec<OutputCheck>,
    /// Whether the result counts: not when TorchScript itself fails at those sizes.
    pub binding: bool,
    pub note: Option<String>,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
            && self
                .grown
                .as_ref()
                .is_none_or(|g| !g.binding || g.checks.iter().all(|c| c.ok))
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
    let export = crate::api::dynamo_export(args, model, export_path, export_name, dynamic, config)?;
    let reference = torchscript_outputs(model, &export.inputs)?;
    let got = crate::run::run_air(&export.air, &graph_tensors(&export.inputs))?;
    let checks = compare(&reference, &got, atol, rtol)?;
    let grown = if export.dynamic_input_dims.is_empty() {
        None
    } else {
        Some(grown_check(model, &export, atol, rtol)?)
    };
    Ok(VerifyReport {
        export,
        checks,
        grown,
    })
}

/// Runs TorchScript and the export with every dynamic dim grown by `GROWN_BY` and compares.
fn grown_check(
    model: &Path,
    export: &crate::api::ExportReport,
    atol: Option<f64>,
    rtol: Option<f64>,
) -> Result<GrownCheck> {
    let inputs =
        crate::walk::dynamic::grown_by(&export.inputs, &export.dynamic_input_dims, GROWN_BY);
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
        inputs: shown,
        checks,
        // Dims a guard depends on were pinned, so every size the export admits must match.
        binding: true,
        note: None,
    })
}
