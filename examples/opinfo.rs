//! Runs the OpInfo cases (made by models/make_opinfo.py) through `torch2air verify`, static and
//! with `--dynamic`, and writes the coverage table. `./dev opinfo` runs the whole thing.
//!
//!   cargo run --example opinfo -- CASES_DIR [--bin TORCH2AIR] [--doc docs/opinfo.md]
//!       [--timeout SECS] [--rerun failed|all] [--only ENTRY[,ENTRY...]] [--static-only]
//!       [--jobs N] [--sample DIR N]
//!
//! Results are cached per case id and mode in CASES_DIR/results.tsv (one line each, appended as
//! they come), so a stopped run resumes where it stopped; `--rerun failed` runs every case that
//! did not pass again (after a fix), `--rerun all` every case.
//!
//! `--sample DIR N` then copies a fixed sample of the cases into DIR (models/opinfo/, what
//! tests/opinfo.rs replays in CI) with their recorded outcomes in DIR/expected.tsv. The case
//! ids are DIR/ids.txt (kept; add ids to it by hand); without it, N are chosen: the first case
//! of each failure kind, then every k-th in-scope case.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use torch2air::internal::opinfo::{
    classify, read_index, render, run_case, CaseResult, Entry, Outcome,
};

struct Args {
    cases: PathBuf,
    bin: PathBuf,
    doc: Option<PathBuf>,
    timeout: u64,
    rerun: Option<String>,
    only: Vec<String>,
    static_only: bool,
    jobs: usize,
    sample: Option<(PathBuf, usize)>,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        cases: PathBuf::new(),
        bin: std::env::current_exe()
            .ok()
            .and_then(|p| Some(p.parent()?.parent()?.join("torch2air")))
            .unwrap_or_else(|| PathBuf::from("torch2air")),
        doc: None,
        timeout: 120,
        rerun: None,
        only: Vec::new(),
        static_only: false,
        jobs: 1,
        sample: None,
    };
    while let Some(x) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match x.as_str() {
            "--bin" => a.bin = PathBuf::from(val("--bin")?),
            "--doc" => a.doc = Some(PathBuf::from(val("--doc")?)),
            "--timeout" => {
                a.timeout = val("--timeout")?
                    .parse()
                    .map_err(|_| "--timeout takes seconds")?
            }
            "--rerun" => a.rerun = Some(val("--rerun")?),
            "--only" => a.only = val("--only")?.split(',').map(str::to_string).collect(),
            "--static-only" => a.static_only = true,
            "--jobs" => a.jobs = val("--jobs")?.parse().map_err(|_| "--jobs takes a count")?,
            "--sample" => {
                let dir = PathBuf::from(val("--sample")?);
                let n = val("--sample")?
                    .parse()
                    .map_err(|_| "--sample takes a folder and a count")?;
                a.sample = Some((dir, n));
            }
            _ if x.starts_with('-') => return Err(format!("unknown option {x}")),
            _ => a.cases = PathBuf::from(x),
        }
    }
    if a.cases.as_os_str().is_empty() {
        return Err("usage: opinfo CASES_DIR [--bin TORCH2AIR] [--doc FILE.md] [--timeout SECS] [--rerun failed|all] [--only ENTRY,...] [--static-only] [--jobs N] [--sample DIR N]".into());
    }
    Ok(a)
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let index_path = a.cases.join("index.json");
    let text = std::fs::read_to_string(&index_path).unwrap_or_else(|e| {
        eprintln!(
            "error: cannot read {}: {e}; make the cases first (models/make_opinfo.py)",
            index_path.display()
        );
        std::process::exit(2)
    });
    let (torch, samples, entries) = read_index(&text).unwrap_or_else(|e| {
        eprintln!("error: {}: {e}", index_path.display());
        std::process::exit(2)
    });
    let results_path = a.cases.join("results.tsv");
    let mut results: BTreeMap<(String, bool), CaseResult> = BTreeMap::new();
    for line in std::fs::read_to_string(&results_path)
        .unwrap_or_default()
        .lines()
    {
        if let Some(r) = CaseResult::parse(line) {
            results.insert((r.id.clone(), r.dynamic), r);
        }
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&results_path)
        .expect("opens results.tsv");
    let modes: &[bool] = if a.static_only {
        &[false]
    } else {
        &[false, true]
    };
    let todo: Vec<(&str, bool)> = entries
        .iter()
        .filter(|e| a.only.is_empty() || a.only.contains(&e.name))
        .flat_map(|e| e.cases.iter())
        .flat_map(|id| modes.iter().map(move |&d| (id.as_str(), d)))
        .filter(
            |(id, d)| match (results.get(&(id.to_string(), *d)), &a.rerun) {
                (None, _) => true,
                (Some(_), Some(r)) if r == "all" => true,
                (Some(r), Some(w)) if w == "failed" => r.outcome != Outcome::Pass,
                _ => false,
            },
        )
        .collect();
    let started = Instant::now();
    let n = todo.len();
    // `--jobs` workers take cases from one queue; results are logged as they come.
    let queue = std::sync::Mutex::new(todo.into_iter().enumerate());
    let done = std::sync::Mutex::new((log, Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..a.jobs.max(1) {
            s.spawn(|| loop {
                let next = queue.lock().expect("the queue").next();
                let Some((k, (id, dynamic))) = next else {
                    break;
                };
                let dir = a.cases.join("cases").join(id);
                let ran = run_case(&a.bin, &dir, dynamic, Duration::from_secs(a.timeout));
                let (outcome, reason) = classify(&ran, &dir.to_string_lossy());
                let r = CaseResult {
                    id: id.to_string(),
                    dynamic,
                    outcome,
                    reason,
                };
                let mut d = done.lock().expect("the results");
                writeln!(d.0, "{}", r.line()).expect("writes results.tsv");
                eprintln!(
                    "[{}/{n}] {id} {}: {}{}",
                    k + 1,
                    if dynamic { "dynamic" } else { "static" },
                    outcome.name(),
                    if r.reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", r.reason)
                    }
                );
                d.1.push(r);
            });
        }
    });
    for r in done.into_inner().expect("the results").1 {
        results.insert((r.id.clone(), r.dynamic), r);
    }
    eprintln!("ran {n} case run(s) in {:.0?}", started.elapsed());
    if let Some((dir, n)) = &a.sample {
        write_sample(&a.cases, &entries, &results, dir, *n);
    }
    let all: Vec<CaseResult> = results.into_values().collect();
    let md = render(&torch, samples, &entries, &all);
    match &a.doc {
        Some(p) => {
            std::fs::write(p, &md).expect("writes the table");
            eprintln!("wrote {}", p.display());
        }
        None => print!("{md}"),
    }
}

/// Copies the sample's cases into `dir` and records their outcomes in `dir`/expected.tsv
/// (entry, then a results line, per case and mode).
fn write_sample(
    cases: &Path,
    entries: &[Entry],
    results: &BTreeMap<(String, bool), CaseResult>,
    dir: &Path,
    n: usize,
) {
    let expected = dir.join("expected.tsv");
    let ids_path = dir.join("ids.txt");
    let mut ids: Vec<String> = std::fs::read_to_string(&ids_path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let entry_of: BTreeMap<&str, &Entry> = entries
        .iter()
        .flat_map(|e| e.cases.iter().map(move |c| (c.as_str(), e)))
        .collect();
    if ids.is_empty() {
        let pool: Vec<&str> = entries
            .iter()
            .filter(|e| e.in_scope)
            .flat_map(|e| e.cases.iter().map(String::as_str))
            .filter(|id| results.contains_key(&(id.to_string(), false)))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for id in &pool {
            let o = results[&(id.to_string(), false)].outcome;
            if o != Outcome::Pass && o != Outcome::Unsupported && seen.insert(o) {
                ids.push(id.to_string());
            }
        }
        let step = (pool.len() / n.saturating_sub(ids.len()).max(1)).max(1);
        for id in pool.iter().step_by(step) {
            if ids.len() >= n {
                break;
            }
            if !ids.iter().any(|x| x == id) {
                ids.push(id.to_string());
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("makes the sample folder");
    let list: String = ids.iter().map(|id| format!("{id}\n")).collect();
    std::fs::write(&ids_path, list).expect("writes ids.txt");
    let mut lines = String::new();
    for id in &ids {
        let Some(entry) = entry_of.get(id.as_str()) else {
            eprintln!("sample: {id} is no longer generated; dropped");
            continue;
        };
        let from = cases.join("cases").join(id);
        let to = dir.join(id);
        std::fs::create_dir_all(&to).expect("makes a sample case folder");
        for f in std::fs::read_dir(&from).expect("reads a case folder") {
            let f = f.expect("a case file").path();
            std::fs::copy(&f, to.join(f.file_name().expect("a file name")))
                .expect("copies a case file");
        }
        for dynamic in [false, true] {
            if let Some(r) = results.get(&(id.clone(), dynamic)) {
                lines.push_str(&format!("{}\t{}\n", entry.name, r.line()));
            }
        }
    }
    std::fs::write(&expected, lines).expect("writes expected.tsv");
    eprintln!("wrote {} sample case(s) to {}", ids.len(), dir.display());
}
