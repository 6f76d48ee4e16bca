//! Atomic output: every file is written to a temporary file in its final folder and renamed into
//! place only when the whole export succeeded. Folders this export created are removed again on
//! failure. Nothing outside the export folder is touched.
use crate::error::{Error, Result};
use crate::ge::attr;
use crate::proto::AttrDef;
use std::io::Write;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// Temp files of a running export start with this (and are cleaned by the next export).
pub const TEMP_PREFIX: &str = ".torch2air-";

/// Temp files of this process not yet renamed into place: removed on SIGINT/SIGTERM.
fn live_temps() -> &'static std::sync::Mutex<Vec<PathBuf>> {
    static LIVE: std::sync::OnceLock<std::sync::Mutex<Vec<PathBuf>>> = std::sync::OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// Removes every temp file this process is still writing (for an interrupt handler).
pub fn remove_live_temps() {
    if let Ok(v) = live_temps().lock() {
        for p in v.iter() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Folders this process created and has not yet committed: removed (when empty) on a signal.
fn live_dirs() -> &'static std::sync::Mutex<Vec<PathBuf>> {
    static LIVE: std::sync::OnceLock<std::sync::Mutex<Vec<PathBuf>>> = std::sync::OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// Removes the folders this process created for files it had not yet committed (for an
/// interrupt handler, after [`remove_live_temps`]); a folder that holds anything stays.
pub fn remove_live_dirs() {
    if let Ok(v) = live_dirs().lock() {
        for d in v.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

pub struct Stage {
    root: PathBuf,
    /// The option that named the folder (`--export-path`), for the fixes errors suggest.
    option: &'static str,
    created: Vec<PathBuf>,
    files: Vec<(NamedTempFile, PathBuf)>,
    committed: bool,
    /// Replace mode: the export's name (see [`Stage::record_as`]).
    export_name: Option<String>,
    /// Files the records of interrupted commits' old `.air`s list (found among the leftovers).
    orphans: Vec<Entry>,
    /// Bytes written into temp files so far (for the disk-full error).
    written: u64,
    /// `writing <file>  <bytes> written, <rate>` on a terminal.
    progress: indicatif::ProgressBar,
}

/// Refuses export folders that are symlinks or existing non-folders (air-format.md section 11).
pub fn check_export_path(root: &Path) -> Result<()> {
    check_folder(root, "--export-path")
}

fn check_folder(root: &Path, option: &str) -> Result<()> {
    let what = match option {
        "--export-path" => "export path".to_string(),
        o => format!("{o} folder"),
    };
    refuse_links(root, &what)?;
    if let Ok(meta) = std::fs::symlink_metadata(root) {
        if !meta.is_dir() {
            return Err(Error::Io(format!(
                "{what} '{}' exists and is not a folder; fix: pass a folder path (it is created if missing)",
                root.display()
            )));
        }
    }
    Ok(())
}

/// The one rule for every path torch2air writes (the export path, `--save-outputs`, `--report`):
/// no component of the path as given (`link`, `link/`, `link/sub`, `a/link/b`) may be a symbolic
/// link, so nothing is ever written through one. Folders are checked before they are created.
pub fn refuse_links(path: &Path, what: &str) -> Result<()> {
    let mut prefix = PathBuf::new();
    for c in path.components() {
        prefix.push(c);
        if matches!(
            c,
            std::path::Component::RootDir | std::path::Component::Prefix(_)
        ) {
            continue;
        }
        if std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink()) {
            let which = if prefix.components().eq(path.components()) {
                format!("{what} '{}'", path.display())
            } else {
                format!("'{}' (in {what} '{}')", prefix.display(), path.display())
            };
            return Err(Error::Io(format!(
                "{which} is a symbolic link; torch2air refuses to write through links. \
                 fix: pass the real path (e.g. from `realpath`)"
            )));
        }
    }
    Ok(())
}

impl Stage {
    /// A stage for the export folder `root` (`--export-path`).
    pub fn new(root: &Path) -> Result<Stage> {
        Stage::for_option(root, "--export-path")
    }

    /// A stage for the folder `root` given by the command-line option `option`.
    pub fn for_option(root: &Path, option: &'static str) -> Result<Stage> {
        check_folder(root, option)?;
        let mut s = Stage {
            root: root.to_path_buf(),
            option,
            created: vec![],
            files: vec![],
            committed: false,
            export_name: None,
            orphans: vec![],
            written: 0,
            progress: crate::progress::line(
                "{spinner} writing {msg}  {bytes} written ({bytes_per_sec})",
            ),
        };
        s.ensure_dir(root)?;
        s.orphans = Stage::clean_leftovers(root);
        Ok(s)
    }

    /// Starts a part of the writing: its progress line counts the bytes of the files written
    /// next, out of `total` when the total is known (weight files, the .air).
    pub fn phase(&mut self, total: Option<u64>) {
        self.progress.set_position(0);
        match total {
            Some(t) => {
                self.progress.set_length(t);
                self.progress.set_style(crate::progress::style(
                    "{spinner} writing {msg}  {bytes} of {total_bytes} ({bytes_per_sec}, {eta} left)",
                ));
            }
            None => {
                self.progress.unset_length();
                self.progress.set_style(crate::progress::style(
                    "{spinner} writing {msg}  {bytes} written ({bytes_per_sec})",
                ));
            }
        }
    }

    fn ensure_dir(&mut self, dir: &Path) -> Result<()> {
        let mut missing = vec![];
        let mut d = dir.to_path_buf();
        while !d.as_os_str().is_empty() && !d.exists() {
            missing.push(d.clone());
            match d.parent() {
                Some(p) => d = p.to_path_buf(),
                None => break,
            }
        }
        for m in missing.into_iter().rev() {
            std::fs::create_dir(&m).map_err(|e| {
                Error::Io(format!(
                    "cannot create {} folder '{}': {e}; fix: choose a {} you can write to",
                    if self.option == "--export-path" {
                        "export"
                    } else {
                        "output"
                    },
                    m.display(),
                    self.option
                ))
            })?;
            live_dirs().lock().map(|mut v| v.push(m.clone())).ok();
            self.created.push(m);
        }
        Ok(())
    }

    /// The export replaces every earlier export of `export_name` in the folder: `.air`s of that
    /// name it does not write again (`export3.air` after a 4-rank export is re-exported with 2
    /// ranks) go, and so do the files the old `.air`s' records list that the new export does
    /// not write (see [`record_attrs`]). Without this (`--rank R`, `--save-outputs`), only the
    /// `.air`s written are replaced, with the files their records list.
    pub fn record_as(&mut self, export_name: &str) {
        self.export_name = Some(export_name.to_string());
    }

    /// The record an `.air` staged next carries: the files staged so far in `subdir` (its
    /// `dynamo.pbtxt` and weight files), with their sizes, and the export's name.
    pub fn record_for(&self, subdir: &Path, export_name: &str) -> Vec<(String, AttrDef)> {
        let entries: Vec<Entry> = self
            .files
            .iter()
            .filter_map(|(tmp, target)| {
                let rel = target.strip_prefix(&self.root).ok()?;
                (rel.parent() == Some(subdir)).then(|| Entry {
                    path: rel.to_path_buf(),
                    bytes: tmp.as_file().metadata().map(|m| m.len()).unwrap_or(0),
                })
            })
            .collect();
        vec![
            (
                RECORD_FILES.into(),
                attr::list_str(
                    entries
                        .iter()
                        .map(|e| e.path.to_string_lossy().into())
                        .collect(),
                ),
            ),
            (
                RECORD_BYTES.into(),
                attr::list_int(entries.iter().map(|e| e.bytes as i64).collect()),
            ),
            (RECORD_NAME.into(), attr::string(export_name)),
        ]
    }

    /// Writes one file (relative to the export root) through `f`.
    pub fn file(
        &mut self,
        rel: &Path,
        f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let (tmp, target, dir) = self.temp_for(rel)?;
        self.progress.set_message(rel.display().to_string());
        let mut count = Counting {
            inner: tmp.as_file(),
            bytes: 0,
            progress: &self.progress,
        };
        let res = {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut count);
            f(&mut w).and_then(|()| w.flush())
        };
        let written = self.written + count.bytes;
        res.map_err(|e| disk_error(&target, &dir, e, written, self.option))?;
        self.written = written;
        self.files.push((tmp, target));
        Ok(())
    }

    /// Stages the files `rels`, file `i` written by `write(i, ..)`, on up to `threads` threads
    /// at once (one file per thread at a time). Copying a large export's weights into the page
    /// cache is CPU work: two cores do it in about half the time of one. The first failure (in
    /// `rels` order) is the error; the other threads stop at their next file.
    pub fn files_parallel(
        &mut self,
        rels: &[PathBuf],
        threads: usize,
        write: &(dyn Fn(usize, &mut dyn Write) -> std::io::Result<()> + Sync),
    ) -> Result<()> {
        use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
        let mut temps = Vec::with_capacity(rels.len());
        for rel in rels {
            temps.push(self.temp_for(rel)?);
        }
        let (next, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
        let written = AtomicU64::new(self.written);
        let failed: std::sync::Mutex<Option<(usize, std::io::Error)>> = Default::default();
        let (progress, temps_ref) = (&self.progress, &temps);
        std::thread::scope(|s| {
            for _ in 0..threads.clamp(1, rels.len().max(1)) {
                s.spawn(|| {
                    while !stop.load(Relaxed) {
                        let i = next.fetch_add(1, Relaxed);
                        let Some((tmp, _, _)) = temps_ref.get(i) else {
                            break;
                        };
                        progress.set_message(rels[i].display().to_string());
                        let mut count = Counting {
                            inner: tmp.as_file(),
                            bytes: 0,
                            progress,
                        };
                        let res = {
                            let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut count);
                            write(i, &mut w).and_then(|()| w.flush())
                        };
                        written.fetch_add(count.bytes, Relaxed);
                        if let Err(e) = res {
                            stop.store(true, Relaxed);
                            if let Ok(mut f) = failed.lock() {
                                if f.as_ref().is_none_or(|(j, _)| i < *j) {
                                    *f = Some((i, e));
                                }
                            }
                        }
                    }
                });
            }
        });
        let written = written.into_inner();
        if let Some((i, e)) = failed.into_inner().ok().flatten() {
            let (_, target, dir) = &temps[i];
            return Err(disk_error(target, dir, e, written, self.option));
        }
        self.written = written;
        self.files
            .extend(temps.into_iter().map(|(tmp, target, _)| (tmp, target)));
        Ok(())
    }

    /// A new temp file in the folder of `rel` (created if missing), with its target path and
    /// folder.
    fn temp_for(&mut self, rel: &Path) -> Result<(NamedTempFile, PathBuf, PathBuf)> {
        let target = self.root.join(rel);
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        self.ensure_dir(&dir)?;
        let io_err = |e: std::io::Error| disk_error(&target, &dir, e, self.written, self.option);
        let tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir)
            .map_err(io_err)?;
        live_temps()
            .lock()
            .map(|mut v| v.push(tmp.path().to_path_buf()))
            .ok();
        // Temp files are created 0600; finished exports are ordinary files.
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io_err)?;
        Ok((tmp, target, dir))
    }

    /// Renames every staged file into place, so that the folder holds, at every instant, the
    /// previous complete export, no `.air` of this name, or the new complete export: names are
    /// checked first, then the old `.air` is moved aside (to a `.torch2air-*` name), the weights
    /// and `dynamo.pbtxt` are renamed into place, and the new `.air` comes last. An `.air`
    /// never stands beside weights that are not its own. Then the files the old `.air`'s record
    /// lists and the new export does not write are removed, and the old `.air` last; after a
    /// `kill -9` the moved-aside `.air` tells the next export what to remove.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        self.progress.finish_and_clear();
        let mut files = std::mem::take(&mut self.files);
        for (_, target) in &files {
            if target.file_name().is_some_and(|n| n.len() > 255) {
                return Err(Error::Io(format!(
                    "cannot create '{}': a file name may have at most 255 bytes; nothing was written. \
                     fix: choose a shorter {}",
                    target.display(),
                    if self.option == "--export-path" { "--export-name" } else { self.option }
                )));
            }
        }
        let rel = |t: &Path| t.strip_prefix(&self.root).unwrap_or(t).to_path_buf();
        let new: Vec<PathBuf> = files.iter().map(|(_, t)| rel(t)).collect();
        let is_air = |t: &Path| t.extension().is_some_and(|e| e == "air");
        // The `.air`s this export replaces: those it writes, and (replace mode) the others of
        // its name; and what the folder's other exports use.
        let mut replaced: Vec<PathBuf> = new.iter().filter(|p| is_air(p)).cloned().collect();
        let mut others: Vec<(String, Vec<Entry>)> = vec![];
        if self.option == "--export-path" {
            for (air, name, entries) in airs_in(&self.root) {
                if replaced.contains(&air) {
                    continue;
                }
                if name.is_some() && name == self.export_name {
                    replaced.push(air);
                } else {
                    others.push((air.display().to_string(), entries));
                }
            }
        }
        for (air, entries) in &others {
            for e in entries {
                if new.contains(&e.path) && e.path != Path::new("dynamo.pbtxt") {
                    return Err(Error::Io(format!(
                        "'{}' belongs to the export '{air}' in the same folder, which this export would break; \
                         nothing was written. fix: choose another --export-path, or remove {air} first",
                        self.root.join(&e.path).display()
                    )));
                }
            }
        }
        // Move the old `.air`s aside; their records say which files were theirs.
        let mut aside: Vec<(PathBuf, Vec<Entry>)> = vec![];
        for air in &replaced {
            let path = self.root.join(air);
            if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let entries = read_record(&path).map(|(_, e)| e).unwrap_or_default();
            let moved = self
                .root
                .join(format!("{TEMP_PREFIX}old-{}", unique_suffix()));
            fault_pause();
            std::fs::rename(&path, &moved).map_err(|e| {
                Error::Io(format!(
                    "cannot replace '{}': {e}; nothing was written. fix: make it writable",
                    path.display()
                ))
            })?;
            live_temps().lock().map(|mut v| v.push(moved.clone())).ok();
            aside.push((moved, entries));
        }
        files.sort_by_key(|(_, t)| is_air(t));
        let mut out = vec![];
        for (tmp, target) in files {
            fault_pause();
            let tmp_path = tmp.path().to_path_buf();
            tmp.persist(&target).map_err(|e| {
                Error::Io(format!(
                    "cannot move the finished file into '{}': {}",
                    target.display(),
                    e.error
                ))
            })?;
            live_temps()
                .lock()
                .map(|mut v| v.retain(|p| *p != tmp_path))
                .ok();
            out.push(target);
        }
        fault_pause();
        let claimed = |p: &Path| {
            new.iter().any(|n| n == p)
                || others.iter().any(|(_, es)| es.iter().any(|e| e.path == p))
        };
        let stale = aside
            .iter()
            .flat_map(|(_, es)| es.iter())
            .chain(self.orphans.iter())
            .filter(|e| !claimed(&e.path));
        for e in stale {
            remove_recorded(&self.root, e);
        }
        for (moved, _) in &aside {
            let _ = std::fs::remove_file(moved);
            live_temps()
                .lock()
                .map(|mut v| v.retain(|p| p != moved))
                .ok();
        }
        if let Ok(mut v) = live_dirs().lock() {
            v.retain(|d| !self.created.contains(d));
        }
        self.committed = true;
        Ok(out)
    }

    /// Removes temp files a killed export (`kill -9`) left in `dir` and its `rank_<r>/`
    /// folders (not through links): only torch2air's own (`.torch2air-*`), never anything else.
    /// Returns what the records of old `.air`s among them list (an interrupted commit's).
    fn clean_leftovers(dir: &Path) -> Vec<Entry> {
        let mut orphans = vec![];
        let Ok(rd) = std::fs::read_dir(dir) else {
            return orphans;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Ok(kind) = e.file_type() else { continue };
            if name.starts_with(TEMP_PREFIX) && kind.is_file() {
                if let Some((_, entries)) = read_record(&e.path()) {
                    orphans.extend(entries);
                }
                let _ = std::fs::remove_file(e.path());
            } else if kind.is_dir() && is_rank_dir(&name) {
                Stage::clean_leftovers(&e.path());
            }
        }
        orphans
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.progress.finish_and_clear();
        if self.committed {
            return;
        }
        self.files.clear(); // temp files delete themselves
        for d in self.created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
        if let Ok(mut v) = live_dirs().lock() {
            v.retain(|d| !self.created.contains(d));
        }
    }
}

/// `rank_<r>`: the folders of a multi-card export.
fn is_rank_dir(name: &str) -> bool {
    name.strip_prefix("rank_")
        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
}

/// Model attrs of the record an `.air` torch2air wrote carries: the files its export wrote
/// beside it (paths relative to the export folder) and their sizes, and the export's name.
pub const RECORD_FILES: &str = "torch2air_files";
pub const RECORD_BYTES: &str = "torch2air_file_bytes";
pub const RECORD_NAME: &str = "torch2air_export_name";

/// One file of a record: its path under the export folder and its size.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    path: PathBuf,
    bytes: u64,
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{t}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `.air` files in the export folder torch2air wrote (they carry a record): path, export
/// name, files.
fn airs_in(root: &Path) -> Vec<(PathBuf, Option<String>, Vec<Entry>)> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return vec![];
    };
    let mut v = vec![];
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "air") && e.file_type().is_ok_and(|t| t.is_file()) {
            if let Some((name, entries)) = read_record(&p) {
                v.push((PathBuf::from(e.file_name()), name, entries));
            }
        }
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The record of an `.air` (None when it has none: not torch2air's, or damaged). Reads only the
/// model's top-level fields and skips the graph, so a multi-GB `.air` costs a few reads. A path
/// that is not a plain `file` or `rank_<r>/file` (a hostile or damaged record) is dropped, so
/// nothing outside the export folder is ever named.
fn read_record(path: &Path) -> Option<(Option<String>, Vec<Entry>)> {
    let attrs = read_model_attrs(path)?;
    let files = attrs.get(RECORD_FILES)?;
    let files = match &files.value {
        Some(crate::proto::attr_def::Value::List(l)) => {
            l.s.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect::<Vec<_>>()
        }
        _ => return None,
    };
    let bytes = attrs.get(RECORD_BYTES).and_then(attr::as_list_int)?;
    if bytes.len() != files.len() {
        return None;
    }
    let name = attrs.get(RECORD_NAME).and_then(attr::as_str);
    let entries = files
        .into_iter()
        .zip(bytes)
        .filter_map(|(p, b)| {
            let path = PathBuf::from(p);
            (plain_rel(&path) && b >= 0).then_some(Entry {
                path,
                bytes: b as u64,
            })
        })
        .collect();
    Some((name, entries))
}

/// The `attr` map of a ModelDef file (field 11), skipping every other top-level field.
fn read_model_attrs(path: &Path) -> Option<std::collections::HashMap<String, AttrDef>> {
    use std::io::{Read, Seek};
    #[derive(Clone, PartialEq, prost::Message)]
    struct AttrEntry {
        #[prost(string, tag = "1")]
        key: String,
        #[prost(message, optional, tag = "2")]
        value: Option<AttrDef>,
    }
    let mut f = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    let len = f.get_ref().metadata().ok()?.len();
    let varint = |f: &mut std::io::BufReader<std::fs::File>| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let mut b = [0u8];
            f.read_exact(&mut b).ok()?;
            v |= ((b[0] & 0x7f) as u64) << shift;
            if b[0] & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    let mut attrs = std::collections::HashMap::new();
    while f.stream_position().ok()? < len {
        let key = varint(&mut f)?;
        match (key >> 3, key & 7) {
            (_, 0) => {
                varint(&mut f)?;
            }
            (_, 1) => {
                f.seek_relative(8).ok()?;
            }
            (_, 5) => {
                f.seek_relative(4).ok()?;
            }
            (field, 2) => {
                let n = varint(&mut f)?;
                if n > len {
                    return None;
                }
                if field == 11 && n <= 64 << 20 {
                    let mut buf = vec![0u8; n as usize];
                    f.read_exact(&mut buf).ok()?;
                    let e = <AttrEntry as prost::Message>::decode(buf.as_slice()).ok()?;
                    attrs.insert(e.key, e.value.unwrap_or_default());
                } else {
                    f.seek_relative(n as i64).ok()?;
                }
            }
            _ => return None,
        }
    }
    Some(attrs)
}

/// `file` or `rank_<r>/file`, with plain names only.
fn plain_rel(p: &Path) -> bool {
    use std::path::Component::Normal;
    let parts: Vec<_> = p.components().collect();
    let plain = |c: &std::path::Component| matches!(c, Normal(n) if !n.is_empty());
    match parts.as_slice() {
        [f] => plain(f),
        [d, f] => plain(d) && plain(f) && is_rank_dir(&d.as_os_str().to_string_lossy()),
        _ => false,
    }
}

/// Removes a file an earlier export recorded, only if it is still a plain file (not a link) of
/// the recorded size, inside the export folder or its own `rank_<r>/` (not a link either); an
/// emptied `rank_<r>/` goes too.
fn remove_recorded(root: &Path, e: &Entry) {
    if !plain_rel(&e.path) {
        return;
    }
    let path = root.join(&e.path);
    if let Some(parent) = e.path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !std::fs::symlink_metadata(root.join(parent)).is_ok_and(|m| m.is_dir()) {
            return;
        }
    }
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() && m.len() == e.bytes => {
            let _ = std::fs::remove_file(&path);
            if let Some(parent) = e.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = std::fs::remove_dir(root.join(parent));
            }
        }
        _ => {}
    }
}

/// Counts the bytes written through it (and shows them).
struct Counting<'p, W> {
    inner: W,
    bytes: u64,
    progress: &'p indicatif::ProgressBar,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        self.progress.inc(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A write error; on a full disk, how much this export had written and how much is free.
fn disk_error(target: &Path, dir: &Path, e: std::io::Error, written: u64, option: &str) -> Error {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        let free = free_bytes(dir)
            .map(|b| format!("{b} bytes are free there"))
            .unwrap_or_else(|| "the free space could not be read".into());
        return Error::Io(format!(
            "cannot write '{}': {e}: this export needs more than the {written} bytes it had written, and {free}; \
             nothing was changed. fix: free disk space or choose another {option}",
            target.display()
        ));
    }
    Error::Io(format!(
        "cannot write '{}': {e}; fix: choose a {option} you can write to, with free space",
        target.display()
    ))
}

/// Free bytes on the file system holding `dir` (for unprivileged users).
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// Fault injection for the tests of interrupted commits: `TORCH2AIR_FAULT_COMMIT_PAUSE_MS`
/// sleeps that long before each step of a commit, so a test can signal or kill the process
/// between any two of them.
fn fault_pause() {
    if let Some(ms) = std::env::var("TORCH2AIR_FAULT_COMMIT_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
