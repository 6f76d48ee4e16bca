//! Running a multi-rank export folder: every rank's `.air` runs in its own thread, the Hcom
//! kernels meeting the other ranks at each collective.
use super::{on_every_rank, Groups};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The ranks' models in an export folder: `<name><r>.air` for r = 0..N-1. `export_name` picks
/// the name when the folder holds several exports (or when the name itself ends in a digit).
pub fn find_ranks(dir: &Path, export_name: Option<&str>) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        Error::Io(format!(
            "cannot read export folder '{}': {e}; fix: pass the folder torch2air export --world-size wrote",
            dir.display()
        ))
    })?;
    let mut by_name: BTreeMap<String, BTreeMap<usize, PathBuf>> = BTreeMap::new();
    let mut airs = vec![];
    for e in rd.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = file.strip_suffix(".air") else {
            continue;
        };
        airs.push(e.path());
        let candidates: Vec<(String, usize)> = match export_name {
            Some(n) => stem
                .strip_prefix(n)
                .and_then(|d| {
                    d.parse()
                        .ok()
                        .filter(|_| d.chars().all(|c| c.is_ascii_digit()))
                })
                .map(|r| vec![(n.to_string(), r)])
                .unwrap_or_default(),
            None => {
                let digits = stem.len() - stem.trim_end_matches(|c: char| c.is_ascii_digit()).len();
                if digits == 0 {
                    vec![]
                } else {
                    let (n, d) = stem.split_at(stem.len() - digits);
                    d.parse()
                        .map(|r| vec![(n.to_string(), r)])
                        .unwrap_or_default()
                }
            }
        };
        for (n, r) in candidates {
            by_name.entry(n).or_default().insert(r, e.path());
        }
    }
    let complete: Vec<(&String, &BTreeMap<usize, PathBuf>)> = by_name
        .iter()
        .filter(|(_, m)| m.keys().copied().eq(0..m.len()))
        .collect();
    match complete.as_slice() {
        [(_, m)] => Ok(m.values().cloned().collect()),
        [] => {
            airs.sort();
            let single = match airs.as_slice() {
                [one] => format!(", or run the single-card export '{}' itself", one.display()),
                _ => String::new(),
            };
            Err(Error::Io(format!(
                "'{}' holds no multi-rank export (<name>0.air, <name>1.air, ...); fix: pass the --export-path of an export made with --world-size{}{single}",
                dir.display(),
                if export_name.is_some() { ", and its --export-name" } else { "" }
            )))
        }
        many => Err(Error::Input(format!(
            "'{}' holds several multi-rank exports ({}); fix: pass --export-name to pick one",
            dir.display(),
            many.iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Runs every rank of the export in `dir`; `inputs(r)` gives rank r's graph inputs. Returns
/// each rank's outputs.
pub fn run_ranks(
    dir: &Path,
    export_name: Option<&str>,
    inputs: &(dyn Fn(usize) -> Result<Vec<Tensor>> + Sync),
) -> Result<Vec<Vec<Tensor>>> {
    let airs = find_ranks(dir, export_name)?;
    let world = airs.len();
    let groups = Groups::new(world, &[]).map_err(Error::Input)?;
    let results = on_every_rank(world, &groups, |r, _| {
        inputs(r).and_then(|ins| crate::run::run_air(&airs[r], &ins))
    });
    super::export::first_error(results)
}
