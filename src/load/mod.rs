//! Stage 1, load: open a TorchScript archive through the C++ shim and expose its inlined
//! `forward` graph, its attributes, its traced example inputs, and single-node execution.
pub mod archive;
pub mod codec;
mod ffi;
pub mod ir;
pub mod pickle;

use crate::error::{Error, Result};
use crate::value::Value;
use ffi::*;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use ir::{ArgDefault, Block, ModuleInfo, Node, Source};

/// A loaded TorchScript module (libtorch owns it; the shim holds its inlined graph).
pub struct Module {
    raw: *mut T2AModule,
    pub graph: Block,
    pub info: ModuleInfo,
    /// `--weights lazy`: the archive the module's tensors are read from (the module itself was
    /// loaded from a shape-only copy: its parameters and buffers are meta tensors).
    pub archive: Option<std::sync::Arc<archive::ArchiveIndex>>,
}

/// Whether a tensor is on the meta device (a lazy weight, or a value computed from one).
pub fn is_meta(t: &tch::Tensor) -> bool {
    // SAFETY: `as_ptr` is a live `at::Tensor*`.
    unsafe { t2a_tensor_is_meta(t.as_ptr() as *mut c_void) != 0 }
}

/// A meta tensor of `t`'s size, stride and dtype.
pub fn to_meta(t: &tch::Tensor) -> std::result::Result<tch::Tensor, String> {
    if is_meta(t) {
        return Ok(t.shallow_clone());
    }
    let mut err = std::ptr::null_mut();
    // SAFETY: `as_ptr` is a live `at::Tensor*`; the shim returns a new `at::Tensor*` that the
    // returned tch::Tensor owns.
    let p = unsafe { t2a_tensor_to_meta(t.as_ptr() as *mut c_void, &mut err) };
    if p.is_null() {
        return Err(take_err(err));
    }
    Ok(unsafe { tch::Tensor::from_ptr(p as *mut torch_sys::C_tensor) })
}

/// An id of the storage under `t`: tensors with different ids share no memory.
pub fn storage_id(t: &tch::Tensor) -> u64 {
    // SAFETY: `as_ptr` is a live `at::Tensor*`.
    unsafe { t2a_tensor_storage_id(t.as_ptr() as *mut c_void) }
}

fn take_err(err: *mut c_char) -> String {
    if err.is_null() {
        return "unknown error".into();
    }
    let s = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .into_owned();
    unsafe { t2a_free(err as *mut c_void) };
    s
}

fn take_string(p: *mut c_char) -> String {
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    unsafe { t2a_free(p as *mut c_void) };
    s
}

/// First line of a libtorch message, without its C++ backtrace noise.
/// For a failure inside the TorchScript interpreter, the line that names the error (it comes
/// last, after the interpreter's traceback).
pub fn short_torch_message(msg: &str) -> String {
    let lines: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let Some(first) = lines.first() else {
        return msg.trim().to_string();
    };
    if first.contains("failed in the TorchScript interpreter") {
        if let Some(l) = lines.iter().rev().find(|l| l.contains("Error: ")) {
            return l.to_string();
        }
    }
    first.to_string()
}

/// Makes libtorch refuse (with an error) any single CPU tensor allocation above `bytes`; 0 lifts
/// the limit. Process-wide.
pub fn set_tensor_budget(bytes: u64) {
    unsafe { t2a_set_tensor_budget(bytes) }
}

fn damaged(path: &Path, why: &str) -> Error {
    Error::Model(archive::damaged_message(path, why))
}

/// Checks every record of the model's zip archive against the CRC the archive records, so that
/// a record whose bytes do not match refuses the model (libtorch's reader does not check them).
/// A file that is not a zip archive is left to libtorch, which says so.
fn check_archive(path: &Path) -> Result<()> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(());
    };
    let Ok(mut zip) = zip::ZipArchive::new(&file) else {
        return Ok(());
    };
    archive::check_records(path, &mut zip, &file, &|_| false)
}

impl Module {
    /// Loads the module with its parameters and buffers on the meta device (shapes and dtypes;
    /// no bytes read): from a shape-only copy of the archive (see
    /// [`archive::ArchiveIndex::meta_copy`]). Their bytes are read from the archive when the
    /// export writes them.
    pub fn load_lazy(path: &Path) -> Result<Module> {
        let index = archive::ArchiveIndex::open(path)?;
        // The storage records are checked as they are read (the weight files' copies hash them).
        let file = std::fs::File::open(path).map_err(|e| {
            Error::Model(format!("cannot open model file '{}': {e}", path.display()))
        })?;
        let mut zip = zip::ZipArchive::new(&file).map_err(|e| damaged(path, &e.to_string()))?;
        let records: std::collections::HashSet<&str> =
            index.tensors.values().map(|t| t.record.as_str()).collect();
        archive::check_records(path, &mut zip, &file, &|name| records.contains(name))?;
        let copy = index.meta_copy()?;
        let mut m = Self::load_from(copy.path(), path)?;
        m.archive = Some(std::sync::Arc::new(index));
        Ok(m)
    }

    pub fn load(path: &Path) -> Result<Module> {
        check_archive(path)?;
        Self::load_from(path, path)
    }

    /// Loads `file`; messages name `path` (the model as the user gave it).
    fn load_from(file: &Path, path: &Path) -> Result<Module> {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::Model(format!(
                "cannot read model file '{shown}': {e}; fix: pass the path of a .pt file saved with torch.jit.save"
            ))
        })?;
        if meta.is_dir() {
            return Err(Error::Model(format!(
                "model path '{shown}' is a directory; fix: pass the .pt file saved with torch.jit.save"
            )));
        }
        std::fs::File::open(path).map_err(|e| {
            Error::Model(format!(
                "cannot open model file '{shown}': {e}; fix: check its permissions"
            ))
        })?;
        // The path's own bytes: a name that is not UTF-8 is opened as given.
        let c = CString::new(file.as_os_str().as_bytes())
            .map_err(|_| Error::Model(format!("model path '{shown}' contains a NUL byte")))?;
        let mut raw = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        if unsafe { t2a_load(c.as_ptr(), &mut raw, &mut err) } != 0 {
            let msg = take_err(err);
            if msg.contains("torch2air: damaged archive") {
                return Err(damaged(
                    path,
                    &short_torch_message(&msg).replace("torch2air: damaged archive: ", ""),
                ));
            }
            if let Some(op) = unknown_library_op(&msg) {
                return Err(Error::Model(format!(
                    "'{shown}' calls {op}, an op of a library that is not loaded; fix: pass \
                     --load-library with that library's .so (for torchvision ops, its _C.so: \
                     python -c \"import torchvision, os; print(os.path.join(os.path.dirname(torchvision.__file__), '_C.so'))\")"
                )));
            }
            let why = if msg.contains("zip archive") || msg.contains("PytorchStreamReader") {
                "it is not a TorchScript archive".to_string()
            } else if msg.contains("forward") {
                "it has no `forward` method".to_string()
            } else {
                short_torch_message(&msg)
            };
            return Err(Error::Model(format!(
                "'{shown}' is not a loadable TorchScript model: {why}; fix: save the model with \
                 torch.jit.save(torch.jit.script(model), path) or torch.jit.save(torch.jit.trace(model, inputs), path) \
                 (a state_dict or torch.save pickle will not do)"
            )));
        }
        let mut m = Module {
            raw,
            graph: Block {
                inputs: vec![],
                outputs: vec![],
                nodes: vec![],
            },
            info: empty_info(),
            archive: None,
        };
        let graph_json = m.json(t2a_graph_json)?;
        m.graph = serde_json::from_str(&graph_json).map_err(|e| {
            Error::Model(format!("internal: cannot read the graph of '{shown}': {e}"))
        })?;
        let info_json = m.json(t2a_module_json)?;
        m.info = serde_json::from_str(&info_json).map_err(|e| {
            Error::Model(format!(
                "internal: cannot read the module info of '{shown}': {e}"
            ))
        })?;
        Ok(m)
    }

    fn json(
        &self,
        f: unsafe extern "C" fn(*mut T2AModule, *mut *mut c_char, *mut *mut c_char) -> i32,
    ) -> Result<String> {
        let mut out = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        if unsafe { f(self.raw, &mut out, &mut err) } != 0 {
            return Err(Error::Model(format!(
                "cannot read the TorchScript graph: {}",
                take_err(err)
            )));
        }
        Ok(take_string(out))
    }

    /// The attribute at a dotted path below the root module ("" is the root). Objects come back
    /// with their class name and the path filled in.
    pub fn attr(&self, path: &str) -> std::result::Result<Value, String> {
        let c = CString::new(path).map_err(|_| "attribute path contains a NUL byte".to_string())?;
        let mut buf = T2ABuf::default();
        let mut err = std::ptr::null_mut();
        if unsafe { t2a_module_attr(self.raw, c.as_ptr(), &mut buf, &mut err) } != 0 {
            return Err(short_torch_message(&take_err(err)));
        }
        let v = codec::decode_buf(buf)?;
        Ok(match v {
            Value::Object { class, .. } => Value::Object {
                class,
                path: path.to_string(),
            },
            other => other,
        })
    }

    /// The example inputs `torch.jit.trace` stored with the module, if any.
    pub fn traced_inputs(&self) -> Result<Option<Vec<Value>>> {
        let mut buf = T2ABuf::default();
        let mut err = std::ptr::null_mut();
        if unsafe { t2a_traced_inputs(self.raw, &mut buf, &mut err) } != 0 {
            return Err(Error::Model(format!(
                "cannot read the traced inputs: {}",
                take_err(err)
            )));
        }
        match codec::decode_buf(buf).map_err(Error::Model)? {
            Value::List(v) | Value::Tuple(v) if !v.is_empty() => Ok(Some(v)),
            _ => Ok(None),
        }
    }

    /// Executes one node (by its graph index) on concrete inputs; returns its outputs.
    pub fn exec(&self, node: i64, inputs: &[Value]) -> std::result::Result<Vec<Value>, String> {
        let mut enc = codec::Encoded::default();
        for v in inputs {
            enc.push(v)?;
        }
        let mut buf = T2ABuf::default();
        let mut err = std::ptr::null_mut();
        let rc = unsafe {
            t2a_exec_node(
                self.raw,
                node,
                enc.words.as_ptr(),
                enc.words.len(),
                enc.tensors.as_ptr(),
                enc.tensors.len(),
                &mut buf,
                &mut err,
            )
        };
        if rc != 0 {
            return Err(take_err(err));
        }
        match codec::decode_buf(buf)? {
            Value::Tuple(v) => Ok(v),
            other => Ok(vec![other]),
        }
    }
}

impl Module {
    /// Runs the module's own `forward` on `inputs` (its weights: no second copy); the result
    /// is dropped. `Ok(Err(msg))` when forward fails. The bool says whether forward changed the
    /// module's state (wrote a buffer, reassigned an attribute): the module must then be loaded
    /// again before it is walked.
    pub fn forward_runs(
        &self,
        inputs: &[Value],
    ) -> std::result::Result<(std::result::Result<(), String>, bool), String> {
        let mut enc = codec::Encoded::default();
        for v in inputs {
            enc.push(v)?;
        }
        let mut mutated = 0i32;
        let mut err = std::ptr::null_mut();
        let rc = unsafe {
            t2a_forward(
                self.raw,
                enc.words.as_ptr(),
                enc.words.len(),
                enc.tensors.as_ptr(),
                enc.tensors.len(),
                &mut mutated,
                &mut err,
            )
        };
        let run = if rc != 0 {
            Err(format!(
                "TorchScript forward failed: {}",
                short_torch_message(&take_err(err))
            ))
        } else {
            Ok(())
        };
        Ok((run, mutated != 0))
    }
}

fn empty_info() -> ModuleInfo {
    ModuleInfo {
        class: String::new(),
        args: vec![],
        returns: vec![],
        parameters: vec![],
        buffers: vec![],
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        unsafe { t2a_module_free(self.raw) }
    }
}

/// `ns::name` of an op libtorch does not know (`Unknown builtin op: torchvision::nms.`), when it
/// belongs to another library than libtorch's own namespaces.
fn unknown_library_op(msg: &str) -> Option<String> {
    let rest = msg.split("Unknown builtin op: ").nth(1)?;
    let op: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':' || *c == '.')
        .collect();
    let op = op.trim_end_matches('.').to_string();
    let ns = op.split("::").next()?;
    (!matches!(ns, "aten" | "prim" | "quantized" | "") && op.contains("::")).then_some(op)
}

/// Loads a library of custom ops (`torch.ops.load_library`'s counterpart): its static
/// initialisers register the ops with libtorch's dispatcher, so TorchScript files that call them
/// load. The library stays loaded for the life of the process. A library built against the
/// PyTorch wheel (torchvision's `_C.so`) names libtorch's other libraries (`libtorch.so`, ...)
/// that the wheel's Python would have loaded: those found beside the libtorch this process runs
/// on are loaded first.
pub fn load_library(path: &Path) -> Result<()> {
    if !path.is_file() {
        return Err(Error::Input(format!(
            "--load-library '{}': no such file; fix: pass the path of the op library's .so",
            path.display()
        )));
    }
    let torch_lib = libtorch_dir();
    let mut loaded_deps = vec![];
    loop {
        match dlopen_global(path) {
            Ok(()) => return Ok(()),
            Err(why) => {
                // "libtorch.so: cannot open shared object file": load it from libtorch's folder.
                let dep = why.split(':').next().unwrap_or_default().trim().to_string();
                let candidate = torch_lib.as_ref().map(|d| d.join(&dep));
                match candidate {
                    Some(c) if c.is_file() && !loaded_deps.contains(&dep) => {
                        // libtorch_python.so links against the Python C API without naming
                        // libpython; its symbols come from the interpreter in Python. Here they
                        // come from libpython, linked but never initialised (no interpreter runs:
                        // op registration does not call into Python).
                        if let Err(e) = dlopen_global(&c) {
                            if !e.contains("undefined symbol: Py")
                                || loaded_deps.iter().any(|d| d == "libpython")
                            {
                                return Err(load_library_error(path, &e));
                            }
                            let py = libpython(torch_lib.as_deref()).ok_or_else(|| {
                                load_library_error(
                                    path,
                                    &format!("{e} (it needs the Python C API, and no libpython of the torch wheel's Python version was found)"),
                                )
                            })?;
                            dlopen_global(&py).map_err(|e| load_library_error(path, &e))?;
                            loaded_deps.push("libpython".into());
                            continue;
                        }
                        loaded_deps.push(dep);
                    }
                    _ => return Err(load_library_error(path, &why)),
                }
            }
        }
    }
}

fn load_library_error(path: &Path, why: &str) -> Error {
    Error::Input(format!(
        "--load-library '{}' cannot be loaded: {why}; fix: pass an op library built for this \
         libtorch (torch 2.13; for torchvision, release 0.28)",
        path.display()
    ))
}

/// `dlopen(path, RTLD_NOW | RTLD_GLOBAL)`; the handle is never closed.
fn dlopen_global(path: &Path) -> std::result::Result<(), String> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| "the path holds a NUL byte".to_string())?;
    // SAFETY: dlopen with a valid C string; the handle is kept so the ops it registered stay
    // valid.
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if !handle.is_null() {
        return Ok(());
    }
    // SAFETY: dlerror returns a thread-local message or null.
    Err(unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown error".to_string()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    })
}

/// The shared libpython of the Python version the torch wheel was installed for (the
/// `pythonX.Y` in `.../lib/pythonX.Y/site-packages/torch/lib`): the venv's base interpreter's
/// (pyvenv.cfg's `home`), else the system's.
fn libpython(torch_lib: Option<&Path>) -> Option<std::path::PathBuf> {
    let torch_lib = torch_lib?;
    let pyver = torch_lib
        .ancestors()
        .filter_map(|a| a.file_name()?.to_str())
        .find(|n| n.starts_with("python3."))?
        .to_string();
    let name = format!("lib{pyver}.so");
    let venv = torch_lib
        .ancestors()
        .find(|a| a.join("pyvenv.cfg").is_file());
    let home = venv
        .and_then(|v| std::fs::read_to_string(v.join("pyvenv.cfg")).ok())
        .and_then(|cfg| {
            cfg.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == "home")
                .map(|(_, v)| std::path::PathBuf::from(v.trim()))
        });
    let mut dirs: Vec<std::path::PathBuf> = vec![];
    if let Some(bin) = home {
        if let Some(prefix) = bin.parent() {
            dirs.push(prefix.join("lib"));
        }
    }
    dirs.extend(
        [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/usr/local/lib",
        ]
        .iter()
        .map(std::path::PathBuf::from),
    );
    dirs.into_iter()
        .flat_map(|d| [d.join(&name), d.join(format!("{name}.1.0"))])
        .find(|p| p.is_file())
}

/// The folder of the libtorch_cpu.so this process has loaded.
fn libtorch_dir() -> Option<std::path::PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"))
        .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
}

#[cfg(test)]
mod library_tests {
    use super::unknown_library_op;

    #[test]
    fn names_ops_of_other_libraries_only() {
        assert_eq!(
            unknown_library_op("RuntimeError: Unknown builtin op: torchvision::roi_align.\nmore"),
            Some("torchvision::roi_align".into())
        );
        assert_eq!(unknown_library_op("Unknown builtin op: aten::foo."), None);
        assert_eq!(unknown_library_op("something else"), None);
    }
}
