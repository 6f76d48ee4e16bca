//! Atomic output: every file is written to a temporary file in its final folder and renamed into
//! place only when the whole export succeeded. Folders this export created are removed again on
//! failure. Nothing outside the export folder is touched.
use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

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
        let tmp = NamedTempFile::new_in(&dir).map_err(io_err)?;
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

    /// Renames every staged file into place.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        let mut out = vec![];
        for (tmp, target) in std::mem::take(&mut self.files) {
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
