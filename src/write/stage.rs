//! Atomic output: every file is written to a temporary file in its final folder and renamed into
//! place only when the whole export succeeded. Folders this export created are removed again on
//! failure. Nothing outside the export folder is touched.
use crate::error::{Error, Result};
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

pub struct Stage {
    root: PathBuf,
    /// The option that named the folder (`--export-path`), for the fixes errors suggest.
    option: &'static str,
    created: Vec<PathBuf>,
    files: Vec<(NamedTempFile, PathBuf)>,
    committed: bool,
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
        };
        s.ensure_dir(root)?;
        Stage::clean_leftovers(root);
        Ok(s)
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
            self.created.push(m);
        }
        Ok(())
    }

    /// Writes one file (relative to the export root) through `f`.
    pub fn file(
        &mut self,
        rel: &Path,
        f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let target = self.root.join(rel);
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        self.ensure_dir(&dir)?;
        let option = self.option;
        let io_err = |e: std::io::Error| {
            Error::Io(format!(
                "cannot write '{}': {e}; fix: choose a {option} you can write to, with free space",
                target.display()
            ))
        };
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
        {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
            f(&mut w).map_err(io_err)?;
            w.flush().map_err(io_err)?;
        }
        self.files.push((tmp, target));
        Ok(())
    }

    /// Renames every staged file into place, so that the folder holds, at every instant, the
    /// previous complete export, no `.air` of this name, or the new complete export: names are
    /// checked first, then the old `.air` is removed, the weights and `dynamo.pbtxt` are renamed
    /// into place, and the new `.air` comes last. An `.air` never stands beside weights that are
    /// not its own.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
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
        let is_air = |t: &Path| t.extension().is_some_and(|e| e == "air");
        for (_, target) in files.iter().filter(|(_, t)| is_air(t)) {
            match std::fs::remove_file(target) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Io(format!(
                        "cannot replace '{}': {e}; nothing was written. fix: make it writable",
                        target.display()
                    )))
                }
            }
        }
        files.sort_by_key(|(_, t)| is_air(t));
        let mut out = vec![];
        for (tmp, target) in files {
            tmp.persist(&target).map_err(|e| {
                Error::Io(format!(
                    "cannot move the finished file into '{}': {}",
                    target.display(),
                    e.error
                ))
            })?;
            out.push(target);
        }
        self.committed = true;
        Ok(out)
    }

    /// Removes temp files a killed export (`kill -9`) left in `dir`: only torch2air's own
    /// (`.torch2air-*`), never anything else.
    fn clean_leftovers(dir: &Path) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let is_ours = name.to_string_lossy().starts_with(TEMP_PREFIX);
            if is_ours && e.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        self.files.clear(); // temp files delete themselves
        for d in self.created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}
