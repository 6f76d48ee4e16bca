//! Stage 4, write: turn weights into `Const` or `FileConstant` nodes (air-format.md section 6),
//! check the graph against ge_ops.json, and write `<name>.air`, `dynamo.pbtxt` and the weight
//! files atomically.
pub mod atc;
pub mod pbtxt;
pub mod report;
pub mod stage;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ge::{attr, schema, GraphBuilder};
use crate::proto::{GraphDef, ModelDef, TensorDef, TensorDescriptor};
use prost::Message;
use std::io::Write;
use std::path::{Path, PathBuf};

/// TorchAir's limit: (2048 - 200) MiB for graph + weights before weights go to files.
pub const DEFAULT_WEIGHT_THRESHOLD: u64 = (2048 - 200) * 1024 * 1024;
/// Environment override of the threshold, in bytes (`0` forces FileConstant weights).
pub const THRESHOLD_ENV: &str = "TORCH2AIR_WEIGHT_THRESHOLD";

/// The tensor's own bytes: C-contiguous, native (little-endian) order, exactly numel x itemsize.
/// `f` sees them without a copy (a non-contiguous tensor is made contiguous first).
pub fn with_tensor_bytes<R>(
    t: &tch::Tensor,
    f: impl FnOnce(&[u8]) -> R,
) -> std::result::Result<R, String> {
    let dt = crate::dtype::of_tensor(t)?;
    let t = if t.is_contiguous() {
        t.shallow_clone()
    } else {
        t.contiguous()
    };
    let n = t.numel() * dt.size();
    if n == 0 {
        return Ok(f(&[]));
    }
    let ptr = t.data_ptr() as *const u8;
    // SAFETY: `t` is a contiguous CPU tensor of `numel` elements of `dt.size()` bytes that stays
    // alive for the borrow.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, n) };
    Ok(f(bytes))
}

/// A contiguous CPU tensor seen as its bytes, owning (a handle to) the tensor's storage.
struct TensorBytes {
    t: tch::Tensor,
    len: usize,
}

impl AsRef<[u8]> for TensorBytes {
    fn as_ref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `t` is a contiguous CPU tensor of `len` bytes, kept alive (and never written
        // to) by this owner.
        unsafe { std::slice::from_raw_parts(self.t.data_ptr() as *const u8, self.len) }
    }
}

/// A `TensorDef` whose data is the tensor's own memory (no copy: the bytes go from the tensor
/// straight to the file when the .air is encoded).
pub fn tensor_def(t: &tch::Tensor, dt: DType) -> std::result::Result<TensorDef, String> {
    if t.device() != tch::Device::Cpu {
        return Err("tensor is not on the CPU".into());
    }
    let t = if t.is_contiguous() {
        t.shallow_clone()
    } else {
        t.contiguous()
    };
    let len = t.numel() * dt.size();
    let shape = t.size();
    Ok(TensorDef {
        desc: Some(crate::ge::desc("", Some(dt), Some(&shape))),
        data: bytes::Bytes::from_owner(TensorBytes { t, len }),
    })
}

/// A `TensorDef` of a lazy weight (`--weights lazy`): its bytes read from the model's archive
/// as the .air is encoded.
fn lazy_tensor_def(
    archive: &crate::load::archive::ArchiveIndex,
    path: &str,
    dt: DType,
    shape: &[i64],
) -> Result<TensorDef> {
    let data = archive
        .bytes(path)
        .map_err(|e| read_error(archive, path, e))?;
    Ok(TensorDef {
        desc: Some(crate::ge::desc("", Some(dt), Some(shape))),
        data,
    })
}

/// A weight that cannot be read from the archive: a record that does not match its CRC is a
/// damaged model, anything else an I/O error.
fn read_error(
    archive: &crate::load::archive::ArchiveIndex,
    path: &str,
    e: std::io::Error,
) -> Error {
    match crate::load::archive::Damaged::message(&e) {
        Some(m) => Error::Model(m),
        None => Error::Io(format!(
            "cannot read weight '{path}' from '{}': {e}",
            archive.path.display()
        )),
    }
}

/// Where weights went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightMode {
    /// The graph has no weights.
    None,
    /// Inline `Const` nodes in the `.air`.
    Const,
    /// `FileConstant` nodes, each weight in a raw file beside the `.air` named after its
    /// parameter path.
    FileConstant,
}

pub struct WriteOptions<'a> {
    /// The export folder as the user gave it (used verbatim in FileConstant `file_path`).
    pub export_path: &'a str,
    /// Sub-folder for pbtxt and weights (`rank_<r>` for multi-rank exports), or "".
    pub subdir: &'a str,
    /// File name of the model, e.g. `export.air`.
    pub air_name: &'a str,
    /// The export's name (`--export-name`), kept in the `.air`'s record of its files.
    pub export_name: &'a str,
    /// What `dynamo.pbtxt` holds (`--pbtxt`).
    pub pbtxt: pbtxt::PbtxtMode,
    pub weight_threshold: u64,
}

pub struct Written {
    pub files: Vec<PathBuf>,
    pub weight_mode: WeightMode,
    pub graph_bytes: u64,
    pub weight_bytes: u64,
    pub warnings: Vec<String>,
}

/// The weight file name for a parameter path, as TorchAir names it: dots become underscores
/// (`layer.0.weight` -> `layer_0_weight`). Any other name (a `/`, `..`, a leading dot, a
/// character outside `[A-Za-z0-9_-]`, over 200 bytes: register_parameter accepts any string) is
/// made a plain file name: every other character becomes `_`, it is cut to 200 bytes, and a hash
/// of the whole path is appended, so it stays inside the export folder and distinct.
pub fn weight_file_name(path: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let name = path.replace('.', "_");
    if !name.is_empty() && name.len() <= 200 && !path.starts_with('.') && name.chars().all(plain) {
        return name;
    }
    let cleaned: String = name
        .chars()
        .map(|c| if plain(c) { c } else { '_' })
        .take(200)
        .collect();
    format!("{cleaned}_{:016x}", fnv1a(path.as_bytes()))
}

/// FNV-1a, 64 bit: a stable hash (the same in every build) for file name suffixes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Weight file names for every weight: [`weight_file_name`], and where two weights would share a
/// name (`a.b` and `a_b`), or one would take the name of a file the export writes itself, the
/// later one gets its path's hash appended.
fn weight_file_names(paths: &[&str], reserved: &[&str]) -> Result<Vec<String>> {
    let mut taken: std::collections::HashSet<String> =
        reserved.iter().map(|s| s.to_string()).collect();
    let mut out = vec![];
    for p in paths {
        let mut name = weight_file_name(p);
        if taken.contains(&name) {
            name = format!("{name}_{:016x}", fnv1a(p.as_bytes()));
        }
        if !taken.insert(name.clone()) {
            return Err(Error::Model(format!(
                "two weights, one of them '{p}', map to the same weight file name '{name}'; \
                 fix: rename one of the parameters"
            )));
        }
        out.push(name);
    }
    Ok(out)
}

/// Where the weights went: the mode, the files to write (file name, weight index), their bytes.
struct Placed {
    mode: WeightMode,
    files: Vec<(String, usize)>,
    bytes: u64,
}

/// Decides Const vs FileConstant (all or nothing, air-format.md section 6) and fills the weight
/// nodes.
fn place_weights(b: &mut GraphBuilder, opts: &WriteOptions) -> Result<Placed> {
    if b.weights.is_empty() {
        return Ok(Placed {
            mode: WeightMode::None,
            files: vec![],
            bytes: 0,
        });
    }
    // The encoded size of a GraphDef holding these ops (field 6: a one-byte key, the length,
    // the op), without building one (a copy of every op).
    let graph_size: u64 = b
        .ops
        .iter()
        .map(|o| {
            let n = o.encoded_len();
            (1 + prost::encoding::encoded_len_varint(n as u64) + n) as u64
        })
        .sum();
    let weight_bytes: u64 = b
        .weights
        .iter()
        .map(|w| (w.tensor.numel() * w.tensor.kind().elt_size_in_bytes()) as u64)
        .sum();
    let external = graph_size + weight_bytes > opts.weight_threshold;
    let paths: Vec<&str> = b.weights.iter().map(|w| w.path.as_str()).collect();
    let names = if external {
        weight_file_names(&paths, &["dynamo.pbtxt", opts.air_name])?
    } else {
        vec![]
    };
    let mut files = vec![];
    for w in &b.weights {
        let missing = match &b.archive {
            Some(a) => a.get(&w.path).is_none(),
            None => true,
        };
        if crate::load::is_meta(&w.tensor) && missing {
            return Err(Error::Model(format!(
                "weight '{}' has no bytes in memory (--weights lazy) and the archive index does not name it; \
                 this is a torch2air bug: please report it with the model. fix: export with --weights memory",
                w.path
            )));
        }
    }
    for (wi, w) in b.weights.iter().enumerate() {
        let dt = crate::dtype::of_tensor(&w.tensor)
            .map_err(|e| Error::Run(format!("weight '{}': {e}", w.path)))?;
        let shape = w.tensor.size();
        let op = &mut b.ops[w.node];
        if external {
            let file = names[wi].clone();
            let root = opts.export_path.trim_end_matches('/');
            let file_path = if opts.subdir.is_empty() {
                format!("{root}/{file}")
            } else {
                format!("{root}/{}/{file}", opts.subdir)
            };
            op.r#type = "FileConstant".into();
            op.attr
                .insert("shape".into(), attr::list_int(shape.clone()));
            op.attr.insert("dtype".into(), attr::dtype_cpp(dt.ge_cpp()));
            op.attr.insert("file_path".into(), attr::string(&file_path));
            op.attr.insert("file_id".into(), attr::string(""));
            // The real dtype and shape live in the attrs; GE re-infers the desc (section 5.4).
            op.output_desc[0] = TensorDescriptor {
                name: "y".into(),
                dtype: DType::F32.ge_proto(),
                layout: "ND".into(),
                ..Default::default()
            };
            files.push((file, wi));
        } else {
            let value = match (crate::load::is_meta(&w.tensor), &b.archive) {
                (true, Some(archive)) => lazy_tensor_def(archive, &w.path, dt, &shape)?,
                _ => tensor_def(&w.tensor, dt)
                    .map_err(|e| Error::Run(format!("weight '{}': {e}", w.path)))?,
            };
            op.r#type = "Const".into();
            let mut y = value.desc.clone().unwrap_or_default();
            y.name = String::new();
            op.output_desc[0] = y;
            op.attr.insert("value".into(), attr::tensor(value));
        }
    }
    let mode = if external {
        WeightMode::FileConstant
    } else {
        WeightMode::Const
    };
    Ok(Placed {
        mode,
        files,
        bytes: weight_bytes,
    })
}

/// The desc attrs GE adds when it re-serializes a graph into an .air (air-format.md section 3).
fn ge_desc_attrs(d: &mut TensorDescriptor) {
    d.attr.insert("format_for_int".into(), attr::int(2));
    d.attr.insert("origin_format".into(), attr::string("ND"));
    d.attr.insert("origin_format_for_int".into(), attr::int(2));
    if let Some(s) = &d.shape {
        d.attr
            .insert("origin_shape".into(), attr::list_int(s.dim.clone()));
        d.attr
            .insert("origin_shape_initialized".into(), attr::boolean(true));
    } else {
        d.attr
            .insert("origin_shape_initialized".into(), attr::boolean(false));
    }
    if d.device_type.is_empty() {
        d.device_type = "NPU".into();
    }
}

/// The ModelDef as GE's SaveToFile lays it out: ModelDef attrs, GraphDef.input filled.
fn model_def(graph: GraphDef) -> ModelDef {
    let mut m = ModelDef {
        graph: vec![graph],
        ..Default::default()
    };
    for k in [
        "memory_size",
        "p2p_memory_size",
        "stream_num",
        "event_num",
        "label_num",
        "weight_size",
    ] {
        m.attr.insert(k.into(), attr::int(0));
    }
    m.attr.insert("target_type".into(), attr::string("MINI"));
    // Marks the graph as torch2air's: the runner checks every desc of its own graphs strictly.
    m.attr.insert(
        crate::run::MARKER_ATTR.into(),
        attr::string(env!("CARGO_PKG_VERSION")),
    );
    m
}

/// A `bytes::BufMut` over a writer, so the ModelDef is encoded straight to disk and its weight
/// bytes are not held a second time.
struct StreamBuf<'a> {
    w: &'a mut dyn Write,
    buf: Vec<u8>,
    written: usize,
    err: Option<std::io::Error>,
}

impl StreamBuf<'_> {
    fn flush(&mut self) {
        if self.err.is_none() {
            if let Err(e) = self.w.write_all(&self.buf) {
                self.err = Some(e);
            }
        }
        self.written += self.buf.len();
        self.buf.clear();
    }
}

unsafe impl bytes::BufMut for StreamBuf<'_> {
    fn remaining_mut(&self) -> usize {
        usize::MAX - self.written - self.buf.len()
    }
    unsafe fn advance_mut(&mut self, cnt: usize) {
        let len = self.buf.len();
        self.buf.set_len(len + cnt);
    }
    fn chunk_mut(&mut self) -> &mut bytes::buf::UninitSlice {
        if self.buf.len() == self.buf.capacity() {
            self.flush();
        }
        bytes::buf::UninitSlice::uninit(self.buf.spare_capacity_mut())
    }
}

fn encode_to(m: &ModelDef, w: &mut dyn Write) -> std::io::Result<()> {
    let mut sb = StreamBuf {
        w,
        buf: Vec::with_capacity(1 << 20),
        written: 0,
        err: None,
    };
    m.encode(&mut sb)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    sb.flush();
    match sb.err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Finishes the graph (weights, name maps), checks it against ge_ops.json, and stages its files.
/// The caller commits the stage.
pub fn write_graph(
    mut b: GraphBuilder,
    graph_name: &str,
    stage: &mut stage::Stage,
    opts: &WriteOptions,
) -> Result<Written> {
    let Placed {
        mode: weight_mode,
        files,
        bytes: weight_bytes,
    } = place_weights(&mut b, opts)?;
    b.prune_unread_consts();
    b.normalize();
    let weights = std::mem::take(&mut b.weights);
    let mut graph = GraphDef {
        name: graph_name.into(),
        op: std::mem::take(&mut b.ops),
        ..Default::default()
    };
    graph.attr.insert("_executor_type".into(), attr::int(0));
    if let Err(errs) = schema::check_graph(&graph) {
        return Err(Error::Schema(format!(
            "the exported graph does not match the GE operator prototypes (ge_ops.json); nothing was written:\n  {}\n\
             this is a torch2air bug: please report it with the model",
            errs.join("\n  ")
        )));
    }
    let warnings = schema::dtype_warnings(&graph);
    let sub = Path::new(opts.subdir);
    if opts.pbtxt != pbtxt::PbtxtMode::None {
        stage.phase(None);
        stage.file(&sub.join("dynamo.pbtxt"), |w| {
            pbtxt::write_mode(&graph, opts.pbtxt, w)
        })?;
    }
    stage.phase(Some(
        files
            .iter()
            .map(|(_, wi)| {
                weights[*wi].tensor.numel() as u64
                    * weights[*wi].tensor.kind().elt_size_in_bytes() as u64
            })
            .sum(),
    ));
    // Weights streamed from the model's archive (lazy) are copied on every core; those in
    // memory are written one after another.
    let (lazy, in_memory): (Vec<_>, Vec<_>) = files
        .iter()
        .partition(|(_, wi)| b.archive.is_some() && crate::load::is_meta(&weights[*wi].tensor));
    if let Some(archive) = &b.archive {
        let rels: Vec<PathBuf> = lazy.iter().map(|(file, _)| sub.join(file)).collect();
        let paths: Vec<&str> = lazy
            .iter()
            .map(|(_, wi)| weights[*wi].path.as_str())
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        // A damaged record is the model's fault, not the export folder's.
        let damaged = std::sync::Mutex::new(None);
        let res = stage.files_parallel(&rels, threads, &|i, w| {
            archive.write_tensor(paths[i], w).inspect_err(|e| {
                if let (Some(m), Ok(mut d)) =
                    (crate::load::archive::Damaged::message(e), damaged.lock())
                {
                    d.get_or_insert(m);
                }
            })
        });
        if let Some(m) = damaged.into_inner().ok().flatten() {
            return Err(Error::Model(m));
        }
        res?;
    }
    for (file, wi) in in_memory {
        let t = &weights[*wi].tensor;
        let mut res = Ok(());
        with_tensor_bytes(t, |bytes| {
            res = stage.file(&sub.join(file), |w| w.write_all(bytes))
        })
        .map_err(|e| Error::Run(format!("weight '{}': {e}", weights[*wi].path)))?;
        res?;
    }
    graph.input = graph
        .op
        .iter()
        .filter(|o| o.r#type == "Data" || o.r#type == "RefData")
        .map(|o| format!("{}:0", o.name))
        .collect();
    for op in &mut graph.op {
        op.input_desc
            .iter_mut()
            .chain(op.output_desc.iter_mut())
            .for_each(ge_desc_attrs);
    }
    let mut model = model_def(graph);
    // The record of the files written beside this .air, for the next export into the folder.
    model.attr.extend(stage.record_for(sub, opts.export_name));
    let graph_bytes = model.encoded_len() as u64;
    stage.phase(Some(graph_bytes));
    stage.file(Path::new(opts.air_name), |w| encode_to(&model, w))?;
    Ok(Written {
        files: vec![],
        weight_mode,
        graph_bytes,
        weight_bytes,
        warnings,
    })
}

/// Reads an .air file.
pub fn read_air(path: &Path) -> Result<ModelDef> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Io(format!(
            "cannot read '{}': {e}; fix: pass the .air file torch2air export wrote",
            path.display()
        ))
    })?;
    ModelDef::decode(bytes.as_slice()).map_err(|e| {
        Error::Io(format!(
            "'{}' is not a GE ModelDef (.air) file: {e}",
            path.display()
        ))
    })
}
