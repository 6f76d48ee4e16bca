//! Stage 5, run: execute an exported .air with GE semantics, computing each op with libtorch
//! kernels (through tch). The runner is strict: every op needs a kernel, every input tensor must
//! have the dtype (and, where given, the shape) its input desc declares, and every output the
//! dtype its output desc declares, so a graph whose descs lie fails here.
mod kernels;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ge::attr;
use crate::proto::{ModelDef, TensorDescriptor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

pub use kernels::{kernel, kernel_names, KCtx};

fn tensor_from_bytes(
    bytes: &[u8],
    dt: DType,
    shape: &[i64],
) -> std::result::Result<Tensor, String> {
    let numel: i64 = shape.iter().product();
    let want = numel as usize * dt.size();
    if bytes.len() != want {
        return Err(format!(
            "holds {} bytes but {} {:?} needs {want}",
            bytes.len(),
            dt.name(),
            shape
        ));
    }
    Ok(Tensor::from_data_size(bytes, shape, dt.kind()))
}

fn desc_dtype(d: &TensorDescriptor) -> Option<DType> {
    DType::from_ge_proto(d.dtype)
}

fn shape_matches(desc: &[i64], actual: &[i64]) -> bool {
    desc.len() == actual.len() && desc.iter().zip(actual).all(|(d, a)| *d < 0 || d == a)
}

/// Where a FileConstant's file is: `file_path` as written (relative to the working folder, as
/// ATC reads it), else relative to the folder holding the export folder, else next to the .air.
pub fn resolve_weight(file_path: &str, air_dir: &Path) -> std::result::Result<PathBuf, String> {
    let p = Path::new(file_path);
    let mut tried = vec![p.to_path_buf()];
    if p.is_relative() {
        if let Some(parent) = air_dir.parent() {
            tried.push(parent.join(p));
        }
        if let Some(name) = p.file_name() {
            tried.push(air_dir.join(name));
            if let Some(rank_dir) = p.parent().and_then(|d| d.file_name()) {
                tried.push(air_dir.join(rank_dir).join(name));
            }
        }
    }
    for t in &tried {
        if t.is_file() {
            return Ok(t.clone());
        }
    }
    Err(format!(
        "weight file '{file_path}' not found (tried {}); fix: run from the folder you exported from, or keep the weight files next to the .air",
        tried.iter().map(|t| format!("'{}'", t.display())).collect::<Vec<_>>().join(", ")
    ))
}

/// The graph's inputs: (Data name, index, dtype, shape with -1 for dynamic dims).
pub fn graph_inputs(m: &ModelDef) -> Vec<(String, i64, Option<DType>, Vec<i64>)> {
    let g = &m.graph[0];
    let mut v: Vec<_> =
        g.op.iter()
            .filter(|o| o.r#type == "Data")
            .map(|o| {
                let idx = o.attr.get("index").and_then(attr::as_int).unwrap_or(0);
                let d = o.output_desc.first();
                let dt = d.and_then(desc_dtype);
                let shape = d
                    .and_then(|d| d.shape.as_ref())
                    .map(|s| s.dim.clone())
                    .unwrap_or_default();
                (o.name.clone(), idx, dt, shape)
            })
            .collect();
    v.sort_by_key(|x| x.1);
    v
}

/// Runs a ModelDef on `inputs` (one per Data node, by index). `air_dir` is the folder of the
/// .air file, for FileConstant paths.
pub fn run_model(m: &ModelDef, air_dir: &Path, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let _guard = tch::no_grad_guard();
    let g = m
        .graph
        .first()
        .ok_or_else(|| Error::Run("the .air holds no graph".into()))?;
    let expected = graph_inputs(m);
    if inputs.len() != expected.len() {
        return Err(Error::Input(format!(
            "the graph takes {} tensor input(s) ({}), {} given; fix: pass one --input per graph input, in order",
            expected.len(),
            expected.iter().map(|(n, _, dt, s)| format!("{n}: {}{s:?}", dt.map(|d| d.name()).unwrap_or("?"))).collect::<Vec<_>>().join(", "),
            inputs.len()
        )));
    }
    for ((name, _, dt, shape), t) in expected.iter().zip(inputs) {
        let got = crate::dtype::of_tensor(t).map_err(Error::Input)?;
        if Some(got) != *dt || !shape_matches(shape, &t.size()) {
            return Err(Error::Input(format!(
                "graph input '{name}' is {}{shape:?} but {}{:?} was given; fix: pass a matching --input",
                dt.map(|d| d.name()).unwrap_or("?"),
                got.name(),
                t.size()
            )));
        }
    }
    let mut values: HashMap<&str, Vec<Tensor>> = HashMap::new();
    let by_index: HashMap<i64, &Tensor> = expected.iter().map(|e| e.1).zip(inputs).collect();
    for op in &g.op {
        let fail =
            |e: String| Error::Run(format!("running node '{}' ({}): {e}", op.name, op.r#type));
        let mut ins: Vec<Option<Tensor>> = vec![];
        for (k, inp) in op.input.iter().filter(|i| !i.ends_with(":-1")).enumerate() {
            if inp.is_empty() {
                ins.push(None);
                continue;
            }
            let (src, idx) = inp
                .rsplit_once(':')
                .ok_or_else(|| fail(format!("bad input '{inp}'")))?;
            let idx: usize = idx
                .parse()
                .map_err(|_| fail(format!("bad input '{inp}'")))?;
            let t = values
                .get(src)
                .and_then(|v| v.get(idx))
                .ok_or_else(|| fail(format!("input '{inp}' is not computed before this node")))?;
            if let Some(d) = op.input_desc.get(k) {
                check_desc(t, d, "input").map_err(fail)?;
            }
            ins.push(Some(t.shallow_clone()));
        }
        let outs: Vec<Tensor> = match op.r#type.as_str() {
            "Data" => {
                let idx = op.attr.get("index").and_then(attr::as_int).unwrap_or(0);
                vec![by_index
                    .get(&idx)
                    .ok_or_else(|| fail(format!("no input for index {idx}")))?
                    .shallow_clone()]
            }
            "Const" => {
                let v = op
                    .attr
                    .get("value")
                    .and_then(attr::as_tensor)
                    .ok_or_else(|| fail("no value attr".into()))?;
                let d = v.desc.clone().unwrap_or_default();
                let dt = desc_dtype(&d)
                    .ok_or_else(|| fail(format!("unsupported Const dtype {}", d.dtype)))?;
                let shape = d.shape.map(|s| s.dim).unwrap_or_default();
                vec![tensor_from_bytes(&v.data, dt, &shape)
                    .map_err(|e| fail(format!("value {e}")))?]
            }
            "FileConstant" => {
                let path = op
                    .attr
                    .get("file_path")
                    .and_then(attr::as_str)
                    .ok_or_else(|| fail("no file_path".into()))?;
                let dt = op
                    .attr
                    .get("dtype")
                    .and_then(attr::as_int)
                    .and_then(DType::from_ge_cpp);
                let dt = dt.ok_or_else(|| fail("no or unsupported dtype attr".into()))?;
                let shape = op
                    .attr
                    .get("shape")
                    .and_then(attr::as_list_int)
                    .ok_or_else(|| fail("no shape attr".into()))?;
                let file = resolve_weight(&path, air_dir).map_err(fail)?;
                let bytes = std::fs::read(&file)
                    .map_err(|e| fail(format!("reading '{}': {e}", file.display())))?;
                vec![tensor_from_bytes(&bytes, dt, &shape)
                    .map_err(|e| fail(format!("file '{}' {e}", file.display())))?]
            }
            "NetOutput" => {
                return Ok(ins
                    .into_iter()
                    .map(|t| t.expect("NetOutput inputs are fed"))
                    .collect());
            }
            ty => {
                let k = kernel(ty)
                    .ok_or_else(|| fail("the runner has no kernel for this op type".into()))?;
                let ctx = KCtx { op, inputs: ins };
                let outs = k(&ctx).map_err(fail)?;
                for (t, d) in outs.iter().zip(&op.output_desc) {
                    check_desc(t, d, "output").map_err(fail)?;
                }
                outs
            }
        };
        values.insert(op.name.as_str(), outs);
    }
    Err(Error::Run("the graph has no NetOutput node".into()))
}

fn check_desc(t: &Tensor, d: &TensorDescriptor, what: &str) -> std::result::Result<(), String> {
    if d.dtype != 0 && desc_dtype(d).is_none() {
        return Err(format!(
            "{what} '{}' declares dtype {} (ge.proto numbering), which torch2air does not run",
            d.name, d.dtype
        ));
    }
    if let Some(dt) = desc_dtype(d) {
        let got = crate::dtype::of_tensor(t)?;
        if got != dt {
            return Err(format!(
                "{what} '{}' is declared {} but computes as {}",
                d.name,
                dt.name(),
                got.name()
            ));
        }
    }
    if let Some(s) = &d.shape {
        if !shape_matches(&s.dim, &t.size()) {
            return Err(format!(
                "{what} '{}' is declared with shape {:?} but is {:?}",
                d.name,
                s.dim,
                t.size()
            ));
        }
    }
    Ok(())
}

/// Reads and runs an .air file.
pub fn run_air(path: &Path, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let m = crate::write::read_air(path)?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    run_model(&m, &dir, inputs)
}
