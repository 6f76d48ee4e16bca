//! Stage 1, load: open a TorchScript archive through the C++ shim and expose its inlined
//! `forward` graph, its attributes, its traced example inputs, and single-node execution.
pub mod codec;
mod ffi;
pub mod ir;

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
    Error::Model(format!(
        "'{}' is a damaged TorchScript archive: {why}; fix: save the model again with torch.jit.save (or copy it again)",
        path.display()
    ))
}

/// Checks every record of a zip archive against the CRC the archive records, so that a record
/// whose bytes do not match refuses the model (libtorch's reader does not check them). Stored
/// records (all of a torch.jit.save archive) are hashed straight from a memory map of the file;
/// others are decompressed. A file that is not a zip archive is left to libtorch, which says so.
fn check_archive(path: &Path) -> Result<()> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(());
    };
    // SAFETY: the map is read only while this function runs; a file changed under it by
    // another process can at worst make the check fail or pass wrongly, never read out of bounds
    // (the map's length is fixed).
    let Ok(map) = (unsafe { memmap2::Mmap::map(&file) }) else {
        return Ok(());
    };
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(&map[..])) else {
        return Ok(());
    };
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| damaged(path, &format!("record {i}: {e}")))?;
        let name = entry.name().to_string();
        let mismatch = || {
            damaged(
                path,
                &format!("record '{name}': its bytes do not match the CRC the archive records"),
            )
        };
        if entry.compression() == zip::CompressionMethod::Stored {
            let start = entry.data_start() as usize;
            let end = start.checked_add(entry.compressed_size() as usize);
            let Some(bytes) = end.and_then(|end| map.get(start..end)) else {
                return Err(damaged(
                    path,
                    &format!("record '{name}': it runs past the end of the file"),
                ));
            };
            if crc32fast::hash(bytes) != entry.crc32() {
                return Err(mismatch());
            }
            continue;
        }
        std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| {
            if e.to_string().contains("checksum") {
                mismatch()
            } else {
                damaged(path, &format!("record '{name}': {e}"))
            }
        })?;
    }
    Ok(())
}

impl Module {
    pub fn load(path: &Path) -> Result<Module> {
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
        check_archive(path)?;
        // The path's own bytes: a name that is not UTF-8 is opened as given.
        let c = CString::new(path.as_os_str().as_bytes())
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
