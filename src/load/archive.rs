//! Weights read from the TorchScript archive itself, not from a loaded module (the lazy mode,
//! `--weights lazy`). A `.pt` is a zip whose tensor storages are stored (uncompressed) records
//! `<archive>/data/<key>`; `data.pkl` pickles the module objects, each tensor as a persistent id
//! (dtype, record key) plus `_rebuild_tensor_v2` (storage offset, size, stride). The
//! [`ArchiveIndex`] maps every parameter/buffer path (the names the walk gives weights) to its
//! bytes in the file; [`ArchiveIndex::meta_copy`] writes a small copy of the archive whose
//! storages load on the meta device (shapes and dtypes, no data), which is what the lazy walk
//! loads. Weight bytes are then streamed from the archive to the export as they are written.
use super::pickle::{self, PVal, TensorRef};
use crate::dtype::DType;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One module tensor as the archive stores it.
#[derive(Debug, Clone)]
pub struct ArchiveTensor {
    /// The zip record holding its storage (`mlp/data/3`).
    pub record: String,
    /// Byte offset of the storage's first byte in the `.pt` file.
    pub data_start: u64,
    /// Bytes of the storage record.
    pub record_len: u64,
    /// The CRC-32 the archive's directory records for the storage record.
    pub record_crc: u32,
    pub dtype: DType,
    /// Offset of the tensor's first element in its storage, in elements.
    pub offset: i64,
    pub size: Vec<i64>,
    pub stride: Vec<i64>,
}

impl ArchiveTensor {
    pub fn numel(&self) -> u64 {
        self.size.iter().map(|s| *s as u64).product()
    }
    /// The tensor's bytes (C-contiguous), not its storage's.
    pub fn nbytes(&self) -> u64 {
        self.numel() * self.dtype.size() as u64
    }
    pub fn is_contiguous(&self) -> bool {
        let mut expect = 1i64;
        for (s, st) in self.size.iter().zip(&self.stride).rev() {
            if *s != 1 && *st != expect {
                return false;
            }
            expect *= s;
        }
        true
    }
    /// Byte range of the storage the tensor's elements reach, relative to the storage start.
    fn reach(&self) -> (u64, u64) {
        let elt = self.dtype.size() as i64;
        if self.numel() == 0 {
            return (0, 0);
        }
        let hi: i64 = self
            .size
            .iter()
            .zip(&self.stride)
            .map(|(s, st)| (s - 1) * st)
            .sum();
        (
            (self.offset * elt) as u64,
            ((self.offset + hi + 1) * elt) as u64,
        )
    }
}

/// Every parameter and buffer of a TorchScript archive, by attribute path.
pub struct ArchiveIndex {
    pub path: PathBuf,
    file: std::fs::File,
    /// `mlp/` (the records' common prefix).
    prefix: String,
    pub tensors: BTreeMap<String, ArchiveTensor>,
    /// Bytes of every `data/` record (the module's tensor storages).
    pub data_bytes: u64,
    /// Bytes of every `constants/` record (tensors held in the code, loaded in any mode).
    pub constant_bytes: u64,
    /// The largest `data/` record.
    pub largest_record: u64,
    /// A read-only map of the file, made on first use by [`ArchiveIndex::bytes`].
    map: std::sync::OnceLock<std::sync::Arc<memmap2::Mmap>>,
    /// Storage records whose bytes were checked against their CRC (each is checked when it is
    /// first read: hashed as it is copied to its weight file, or on its own).
    checked: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Drop the file's pages from the page cache once copied: set when the weights are larger
    /// than half the memory available, so that a model larger than memory does not push out of
    /// the cache what the export still needs; a model that fits keeps its pages for the next
    /// export.
    pub evict: bool,
}

/// Bytes of a mapped file (a `bytes::Bytes` owner).
struct Mapped {
    map: std::sync::Arc<memmap2::Mmap>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.start..self.end]
    }
}

fn damaged(path: &Path, why: &str) -> Error {
    Error::Model(format!(
        "'{}' cannot be read for --weights lazy: {why}; fix: export with --weights memory, or save the model \
         again with torch.jit.save",
        path.display()
    ))
}

impl ArchiveIndex {
    /// Reads the archive's directory and `data.pkl` (no tensor bytes).
    pub fn open(path: &Path) -> Result<ArchiveIndex> {
        let file = std::fs::File::open(path).map_err(|e| {
            Error::Model(format!(
                "cannot open model file '{}': {e}; fix: check its path and permissions",
                path.display()
            ))
        })?;
        let mut zip = zip::ZipArchive::new(&file)
            .map_err(|e| damaged(path, &format!("it is not a zip archive ({e})")))?;
        let names: Vec<String> = zip.file_names().map(str::to_string).collect();
        let pkl = names
            .iter()
            .filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
            .min()
            .ok_or_else(|| damaged(path, "it has no data.pkl record"))?
            .clone();
        let prefix = pkl.trim_end_matches("data.pkl").to_string();
        let mut index = ArchiveIndex {
            path: path.to_path_buf(),
            file: file.try_clone().map_err(|e| Error::Io(e.to_string()))?,
            prefix: prefix.clone(),
            tensors: BTreeMap::new(),
            data_bytes: 0,
            constant_bytes: 0,
            largest_record: 0,
            map: Default::default(),
            checked: Default::default(),
            evict: false,
        };
        if let Ok(mut e) = zip.by_name(&format!("{prefix}byteorder")) {
            let mut order = String::new();
            e.read_to_string(&mut order).ok();
            if order.trim() != "little" {
                return Err(damaged(
                    path,
                    &format!("its tensors are stored {} endian", order.trim()),
                ));
            }
        }
        let mut records: BTreeMap<String, (u64, u64, u32)> = BTreeMap::new();
        for i in 0..zip.len() {
            let e = zip
                .by_index_raw(i)
                .map_err(|e| damaged(path, &format!("record {i}: {e}")))?;
            let name = e.name().to_string();
            let stored = e.compression() == zip::CompressionMethod::Stored;
            if let Some(key) = name.strip_prefix(&format!("{prefix}data/")) {
                if !stored {
                    return Err(damaged(path, &format!("record '{name}' is compressed")));
                }
                index.data_bytes += e.size();
                index.largest_record = index.largest_record.max(e.size());
                records.insert(key.to_string(), (e.data_start(), e.size(), e.crc32()));
            } else if name.starts_with(&format!("{prefix}constants/")) {
                index.constant_bytes += e.size();
            }
        }
        let mut bytes = vec![];
        zip.by_name(&pkl)
            .and_then(|mut e| e.read_to_end(&mut bytes).map_err(Into::into))
            .map_err(|e| damaged(path, &format!("'{pkl}': {e}")))?;
        let value = pickle::unpickle(&bytes, &pkl)
            .map_err(|e| damaged(path, &e))?
            .value;
        let mut found = vec![];
        collect(&value, "", &mut found, &mut Default::default());
        for (p, t) in found {
            let Some(dtype) = DType::from_torch_name(&t.storage.dtype) else {
                continue;
            };
            let &(data_start, record_len, record_crc) =
                records.get(&t.storage.key).ok_or_else(|| {
                    Error::Model(damaged_message(
                        path,
                        &format!(
                            "tensor '{p}' names a record data/{} that is missing",
                            t.storage.key
                        ),
                    ))
                })?;
            let at = ArchiveTensor {
                record: format!("{prefix}data/{}", t.storage.key),
                data_start,
                record_len,
                record_crc,
                dtype,
                offset: t.offset,
                size: t.size.clone(),
                stride: t.stride.clone(),
            };
            let malformed = at.size.len() != at.stride.len()
                || at.size.iter().chain(&at.stride).any(|v| *v < 0)
                || at.offset < 0;
            // The last byte its elements reach, without overflow (sizes and strides are the file's).
            let need: i128 = if malformed || at.size.contains(&0) {
                0
            } else {
                let hi: i128 = at
                    .size
                    .iter()
                    .zip(&at.stride)
                    .map(|(s, st)| (*s as i128 - 1) * *st as i128)
                    .sum();
                (at.offset as i128 + hi + 1) * at.dtype.size() as i128
            };
            if malformed || need > i64::MAX as i128 {
                return Err(Error::Model(damaged_message(
                    path,
                    &format!("tensor '{p}' has a malformed size, stride or storage offset"),
                )));
            }
            if need > record_len as i128 {
                return Err(Error::Model(damaged_message(
                    path,
                    &format!(
                        "the storage record of '{p}' holds {record_len} bytes but its tensors need {need}"
                    ),
                )));
            }
            index.tensors.insert(p, at);
        }
        let avail = crate::api::available_memory()
            .map(|(b, _)| b)
            .unwrap_or(u64::MAX);
        index.evict = index.data_bytes > avail / 2;
        Ok(index)
    }

    /// Writes `<tmp>/.torch2air-meta-*.pt`: this archive with its `data/` records empty, every
    /// storage of `data.pkl` marked to load on the meta device. libtorch loads it with the module's
    /// parameters and buffers as meta tensors (shapes, strides and dtypes, no bytes) and the
    /// graph's constants (`constants/`, held in the code) as ordinary CPU tensors.
    pub fn meta_copy(&self) -> Result<tempfile::NamedTempFile> {
        let io = |e: std::io::Error| {
            Error::Io(format!(
                "cannot write the shape-only copy of '{}' in {}: {e}; fix: set TMPDIR to a writable folder",
                self.path.display(),
                std::env::temp_dir().display()
            ))
        };
        let mut zip =
            zip::ZipArchive::new(&self.file).map_err(|e| damaged(&self.path, &e.to_string()))?;
        let tmp = tempfile::Builder::new()
            .prefix(".torch2air-meta-")
            .suffix(".pt")
            .tempfile()
            .map_err(io)?;
        let mut out = zip::ZipWriter::new(std::io::BufWriter::new(
            tmp.as_file().try_clone().map_err(io)?,
        ));
        let data = format!("{}data/", self.prefix);
        let pkl = format!("{}data.pkl", self.prefix);
        let opts = zip::write::FileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(false);
        for i in 0..zip.len() {
            let mut e = zip
                .by_index(i)
                .map_err(|e| damaged(&self.path, &e.to_string()))?;
            let name = e.name().to_string();
            let mut bytes = vec![];
            if !name.starts_with(&data) {
                e.read_to_end(&mut bytes).map_err(io)?;
            }
            if name == pkl {
                let u = pickle::unpickle(&bytes, &pkl).map_err(|e| damaged(&self.path, &e))?;
                bytes = pickle::meta_pickle(&bytes, &u.persids);
            }
            out.start_file(name, opts)
                .map_err(|e| io(std::io::Error::other(e.to_string())))?;
            out.write_all(&bytes).map_err(io)?;
        }
        let mut w = out
            .finish()
            .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        w.flush().map_err(io)?;
        Ok(tmp)
    }

    pub fn get(&self, path: &str) -> Option<&ArchiveTensor> {
        self.tensors.get(path)
    }

    /// Streams the tensor at `path` (C-contiguous bytes) from the archive into `w`, in chunks:
    /// never more than one chunk (or, for a non-contiguous view, the span it reaches) in memory.
    /// A tensor that is its whole record has the record's CRC computed as it is copied (no second
    /// read of the file); a record's mismatch is a [`Damaged`] error.
    pub fn write_tensor(&self, path: &str, w: &mut dyn Write) -> std::io::Result<()> {
        let t = self.get(path).ok_or_else(|| {
            std::io::Error::other(format!("weight '{path}' is not in the archive"))
        })?;
        if !t.is_contiguous() {
            return w.write_all(&self.gather(t)?);
        }
        let (lo, hi) = t.reach();
        let hash = lo == 0 && hi == t.record_len && !self.is_checked(&t.record);
        if !hash {
            self.check_record(t)?;
        }
        let mut h = crc32fast::Hasher::new();
        let mut buf = vec![0u8; (hi - lo).min(CHUNK) as usize];
        let mut at = t.data_start + lo;
        let end = t.data_start + hi;
        while at < end {
            let n = (end - at).min(CHUNK) as usize;
            self.file.read_exact_at(&mut buf[..n], at)?;
            if hash {
                h.update(&buf[..n]);
            }
            w.write_all(&buf[..n])?;
            at += n as u64;
        }
        if self.evict {
            drop_cache(&self.file, t.data_start + lo, hi - lo);
        }
        if hash {
            self.checked_against(t, h.finalize())?;
        }
        Ok(())
    }

    fn is_checked(&self, record: &str) -> bool {
        self.checked
            .lock()
            .map(|c| c.contains(record))
            .unwrap_or(false)
    }

    /// Records `t`'s storage record as checked if `crc` is the CRC the archive records for it.
    fn checked_against(&self, t: &ArchiveTensor, crc: u32) -> std::io::Result<()> {
        if crc != t.record_crc {
            return Err(std::io::Error::other(Damaged(damaged_message(
                &self.path,
                &format!(
                    "record '{}': its bytes do not match the CRC the archive records",
                    t.record
                ),
            ))));
        }
        if let Ok(mut c) = self.checked.lock() {
            c.insert(t.record.clone());
        }
        Ok(())
    }

    /// Checks `t`'s storage record against its CRC (once per record): before bytes of it are
    /// used other than by [`ArchiveIndex::write_tensor`] of the whole record.
    fn check_record(&self, t: &ArchiveTensor) -> std::io::Result<()> {
        if self.is_checked(&t.record) {
            return Ok(());
        }
        let crc = crc_read(&self.file, t.data_start, t.record_len)?;
        if self.evict {
            drop_cache(&self.file, t.data_start, t.record_len);
        }
        self.checked_against(t, crc)
    }

    /// The tensor's C-contiguous bytes as a `Bytes` for an inline `Const`: a contiguous tensor's
    /// are the file's own pages (mapped, read by the kernel as the .air is encoded; clean pages
    /// it can drop again), a view's are gathered into memory.
    pub fn bytes(&self, path: &str) -> std::io::Result<bytes::Bytes> {
        let t = self.get(path).ok_or_else(|| {
            std::io::Error::other(format!("weight '{path}' is not in the archive"))
        })?;
        if !t.is_contiguous() {
            return Ok(self.gather(t)?.into());
        }
        self.check_record(t)?;
        let map = match self.map.get() {
            Some(m) => m.clone(),
            None => {
                // SAFETY: read-only map of the model file; a file changed under it by another
                // process can give wrong bytes, never an out-of-bounds read (its length is fixed).
                let m = std::sync::Arc::new(unsafe { memmap2::Mmap::map(&self.file)? });
                self.map.get_or_init(|| m).clone()
            }
        };
        let (lo, hi) = t.reach();
        let (start, end) = ((t.data_start + lo) as usize, (t.data_start + hi) as usize);
        if end > map.len() {
            return Err(std::io::Error::other(format!(
                "weight '{path}' runs past the end of the file"
            )));
        }
        Ok(bytes::Bytes::from_owner(Mapped { map, start, end }))
    }

    /// The tensor's C-contiguous bytes in memory.
    pub fn tensor_bytes(&self, path: &str) -> std::io::Result<Vec<u8>> {
        let t = self.get(path).ok_or_else(|| {
            std::io::Error::other(format!("weight '{path}' is not in the archive"))
        })?;
        if t.is_contiguous() {
            self.check_record(t)?;
            let (lo, hi) = t.reach();
            let mut buf = vec![0u8; (hi - lo) as usize];
            self.file.read_exact_at(&mut buf, t.data_start + lo)?;
            return Ok(buf);
        }
        self.gather(t)
    }

    /// A non-contiguous view: the span of storage it reaches read once, its elements gathered
    /// in C order.
    fn gather(&self, t: &ArchiveTensor) -> std::io::Result<Vec<u8>> {
        self.check_record(t)?;
        let (lo, hi) = t.reach();
        let mut span = vec![0u8; (hi - lo) as usize];
        self.file.read_exact_at(&mut span, t.data_start + lo)?;
        let elt = t.dtype.size();
        let mut out = Vec::with_capacity(t.nbytes() as usize);
        let mut idx = vec![0i64; t.size.len()];
        for _ in 0..t.numel() {
            let off: i64 = idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum();
            let at = off as usize * elt;
            out.extend_from_slice(&span[at..at + elt]);
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < t.size[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(out)
    }

    /// The tensor as a CPU tensor (its bytes read now): for the few weights whose values the
    /// lazy walk needs.
    pub fn load_tensor(&self, path: &str) -> Result<tch::Tensor> {
        let t = self
            .get(path)
            .ok_or_else(|| Error::Run(format!("weight '{path}' is not in the archive index")))?;
        let bytes = self.tensor_bytes(path).map_err(|e| {
            Damaged::message(&e).map(Error::Model).unwrap_or_else(|| {
                Error::Io(format!(
                    "reading weight '{path}' from '{}': {e}",
                    self.path.display()
                ))
            })
        })?;
        let shape: Vec<i64> = t.size.clone();
        if bytes.is_empty() {
            return Ok(tch::Tensor::zeros(
                &shape,
                (t.dtype.kind(), tch::Device::Cpu),
            ));
        }
        tch::Tensor::f_from_data_size(&bytes, &shape, t.dtype.kind())
            .map_err(|e| Error::Run(format!("weight '{path}': {e}")))
    }
}

const CHUNK: u64 = 8 << 20;

/// Tells the kernel the bytes just copied are not needed again, so that the page cache of a
/// model larger than memory does not push out what the export still needs.
fn drop_cache(file: &std::fs::File, at: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: advice only; any error is ignored.
    unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            at as libc::off_t,
            len as libc::off_t,
            libc::POSIX_FADV_DONTNEED,
        );
    }
}

/// Every tensor reachable from a module object, by attribute path: module attributes, and
/// lists of tensors (`<path>.<index>`, as the walk names them).
fn collect(
    v: &PVal,
    prefix: &str,
    out: &mut Vec<(String, std::rc::Rc<TensorRef>)>,
    seen: &mut std::collections::HashSet<usize>,
) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        PVal::Object(o) => {
            // An object reached twice (a shared submodule) is indexed under its first path
            // only when it is its own ancestor; otherwise each path is a name the walk can use.
            let id = std::rc::Rc::as_ptr(o) as usize;
            if !seen.insert(id) {
                return;
            }
            let state = &o.borrow().state;
            if let PVal::Dict(d) = state {
                for (k, v) in d.borrow().iter() {
                    if let Some(k) = k.as_str() {
                        collect(v, &join(k), out, seen);
                    }
                }
            }
            seen.remove(&id);
        }
        PVal::Tensor(t) => out.push((prefix.to_string(), t.clone())),
        // Typed lists and dicts are pickled as calls of torch.jit._pickle helpers
        // (`build_tensorlist(list)`, `restore_type_tag(value, type)`): their first argument.
        PVal::Call(g, args) if g.starts_with("torch.jit._pickle.") => {
            if let Some(first) = args.first() {
                collect(first, prefix, out, seen);
            }
        }
        PVal::List(items) => {
            for (i, item) in items.borrow().iter().enumerate() {
                if let PVal::Tensor(t) = item {
                    out.push((join(&i.to_string()), t.clone()));
                }
            }
        }
        _ => {}
    }
}

/// Memory the process can use: `MemAvailable`, or less where the process's cgroup (v2
/// `memory.max`, v1 `memory.limit_in_bytes`, this cgroup or one above it) leaves less (its
/// limit minus what it uses, page cache excepted). With where the figure comes from.
pub fn available_memory() -> (u64, String) {
    let mut best = (u64::MAX, "unknown".to_string());
    if let Some(kb) = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    }) {
        best = (kb * 1024, "MemAvailable in /proc/meminfo".into());
    }
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctl, rel) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => continue,
        };
        let (root, limit_file, usage_file, cache_key) = if ctl.is_empty() {
            ("/sys/fs/cgroup", "memory.max", "memory.current", "file")
        } else if ctl.split(',').any(|c| c == "memory") {
            (
                "/sys/fs/cgroup/memory",
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
                "total_cache",
            )
        } else {
            continue;
        };
        let mut dir = PathBuf::from(root).join(rel.trim_start_matches('/'));
        loop {
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
            if let Some(limit) = read(limit_file).and_then(|s| s.trim().parse::<u64>().ok()) {
                if limit < (1u64 << 60) {
                    let usage = read(usage_file)
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .unwrap_or(0);
                    let cache = read("memory.stat")
                        .and_then(|s| {
                            s.lines()
                                .find(|l| l.split_whitespace().next() == Some(cache_key))
                                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                        })
                        .unwrap_or(0);
                    let free = limit.saturating_sub(usage.saturating_sub(cache));
                    if free < best.0 {
                        best = (
                            free,
                            format!("the limit of cgroup {} ({limit} bytes)", dir.display()),
                        );
                    }
                }
            }
            if !dir.pop() || dir.as_os_str().len() <= root.len() {
                break;
            }
        }
    }
    best
}

/// `1.5 GB`-style byte counts for messages.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{bytes} bytes")
    }
}

/// A storage record whose bytes do not match the CRC the archive records (the whole message,
/// with the fix), carried through an `io::Error` from [`ArchiveIndex::write_tensor`].
#[derive(Debug)]
pub struct Damaged(pub String);

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Damaged {}

impl Damaged {
    /// The message of a [`Damaged`] error inside `e`.
    pub fn message(e: &std::io::Error) -> Option<String> {
        e.get_ref()
            .and_then(|i| i.downcast_ref::<Damaged>())
            .map(|d| d.0.clone())
    }
}

/// The message of a damaged archive, with the fix.
pub(crate) fn damaged_message(path: &Path, why: &str) -> String {
    format!(
        "'{}' is a damaged TorchScript archive: {why}; fix: save the model again with torch.jit.save (or copy it again)",
        path.display()
    )
}

/// The CRC of `len` bytes of `file` from `start`, read in pieces into one buffer: a map of the
/// file would count its pages in the process's RSS (the whole file at once was the export's
/// peak RSS on a 3 GB model, issue 15), and faulting them in page by page hashes at a fifth of
/// the speed of reading them.
pub(crate) fn crc_read(file: &std::fs::File, start: u64, len: u64) -> std::io::Result<u32> {
    let mut buf = vec![0u8; CHUNK.min(len) as usize];
    let mut h = crc32fast::Hasher::new();
    let mut at = start;
    while at < start + len {
        let n = (start + len - at).min(CHUNK) as usize;
        file.read_exact_at(&mut buf[..n], at)?;
        h.update(&buf[..n]);
        at += n as u64;
    }
    Ok(h.finalize())
}

/// Checks the records of the zip archive `file` (the model `path`) against the CRCs its
/// directory records (libtorch's reader does not check them), except those `skip` names (the
/// lazy mode's storage records, checked as they are read). Stored records (all of a
/// torch.jit.save archive) are read in pieces and hashed; others are decompressed.
pub fn check_records(
    path: &Path,
    zip: &mut zip::ZipArchive<&std::fs::File>,
    file: &std::fs::File,
    skip: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let bad = |why: String| Error::Model(damaged_message(path, &why));
    let size = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    for i in 0..zip.len() {
        let (name, stored, start, len, crc) = {
            let e = zip
                .by_index_raw(i)
                .map_err(|e| bad(format!("record {i}: {e}")))?;
            (
                e.name().to_string(),
                e.compression() == zip::CompressionMethod::Stored,
                e.data_start(),
                e.compressed_size(),
                e.crc32(),
            )
        };
        if skip(&name) {
            continue;
        }
        let mismatch = || {
            bad(format!(
                "record '{name}': its bytes do not match the CRC the archive records"
            ))
        };
        if !stored {
            let mut e = zip
                .by_index(i)
                .map_err(|e| bad(format!("record {i}: {e}")))?;
            std::io::copy(&mut e, &mut std::io::sink()).map_err(|e| {
                if e.to_string().contains("checksum") {
                    mismatch()
                } else {
                    bad(format!("record '{name}': {e}"))
                }
            })?;
            continue;
        }
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(bad(format!(
                "record '{name}': it runs past the end of the file"
            )));
        }
        let got = crc_read(file, start, len).map_err(|e| bad(format!("record '{name}': {e}")))?;
        if got != crc {
            return Err(mismatch());
        }
    }
    Ok(())
}
