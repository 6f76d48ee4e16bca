//! In-process mutation fuzzer for torch2air's untrusted-input readers (stable Rust: no
//! libFuzzer). See README, "Fuzzing".
//!
//!   cargo run --example fuzz -- TARGET [RUNS [SEED [save-new]]]
//!
//! TARGET is spec, npy, air or runner (fuzz/targets.rs). Inputs start from the seed corpus in
//! fuzz/corpus/TARGET/ and are mutated (bit flips, interesting bytes, inserts, deletes, copies,
//! splices with another input). An input whose outcome (the error's text with numbers blanked)
//! was not seen before joins the in-memory corpus, so mutation keeps moving into new error
//! paths; `save-new` also writes such inputs to the corpus folder. A panic, or an error that
//! calls itself internal, stops the run: the input is written to fuzz/crashes/TARGET/ and the
//! exit code is 1.
#[path = "../fuzz/targets.rs"]
mod targets;

use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn load_corpus(target: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(target))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

const INTERESTING: [u8; 12] = [
    0, 1, 2, 0x7f, 0x80, 0xff, b'-', b'.', b',', b'[', b']', b'9',
];

fn mutate(rng: &mut rand::rngs::StdRng, input: &mut Vec<u8>, other: &[u8], max_len: usize) {
    for _ in 0..rng.random_range(1..=4) {
        let len = input.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] = INTERESTING[rng.random_range(0..INTERESTING.len())];
            }
            2 => {
                let i = rng.random_range(0..=len);
                input.insert(i, rng.random());
            }
            3 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=(len - i).min(8));
                input.drain(i..i + n);
            }
            4 if len > 1 => {
                // Copy a chunk of itself somewhere else.
                let a = rng.random_range(0..len);
                let n = rng.random_range(1..=(len - a).min(16));
                let chunk = input[a..a + n].to_vec();
                let at = rng.random_range(0..=len);
                input.splice(at..at, chunk);
            }
            5 if !other.is_empty() => {
                // Splice: a prefix of this input, a suffix of another.
                let cut = rng.random_range(0..=len);
                let from = rng.random_range(0..other.len());
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            6 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] = input[i].wrapping_add(rng.random_range(1..=3));
            }
            _ => input.push(rng.random()),
        }
    }
    input.truncate(max_len);
}

/// The kind of outcome, for novelty: the error text without digits and without quoted parts
/// (which echo the input), cut short.
fn outcome_key(r: &Result<(), String>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => {
            let mut quoted = false;
            e.chars()
                .filter(|c| {
                    if *c == '\'' {
                        quoted = !quoted;
                    }
                    !quoted && !c.is_ascii_digit()
                })
                .take(90)
                .collect()
        }
    }
}

/// Mutated inputs are cut to this many bytes.
const MAX_LEN: usize = 4096;

/// The in-memory corpus stops growing here.
const MAX_CORPUS: usize = 4096;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: fuzz TARGET [RUNS [SEED [save-new]]]; TARGET: spec npy air runner; RUNS default 100000, SEED 0";
    let Some(target) = args.first().cloned() else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    if !targets::TARGETS.contains(&target.as_str()) {
        eprintln!("unknown target '{target}'; {usage}");
        std::process::exit(2);
    }
    let num = |i: usize, default: u64| -> u64 {
        args.get(i).map_or(default, |v| {
            v.parse().unwrap_or_else(|_| {
                eprintln!("'{v}' is not a number; {usage}");
                std::process::exit(2)
            })
        })
    };
    let runs = num(1, 100_000);
    let seed = num(2, 0);
    let save_new = args.get(3).is_some_and(|a| a == "save-new");
    let max_len = MAX_LEN;

    // Panics are the failures this driver looks for: keep their message, print nothing.
    let last_panic = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    {
        let last = last_panic.clone();
        std::panic::set_hook(Box::new(move |info| {
            if torch2air::internal::error::panic_is_quiet() {
                return;
            }
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            *last.lock().unwrap() = format!(
                "panic{at}: {}",
                torch2air::internal::error::panic_text(info.payload())
            );
        }));
    }
    tch::set_num_threads(1);
    let mut corpus = load_corpus(&target);
    if corpus.is_empty() {
        corpus.push(vec![]);
    }
    let seeds = corpus.len();
    let mut seen: HashSet<String> = HashSet::new();
    for c in &corpus {
        seen.insert(outcome_key(&targets::run(&target, c)));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let start = Instant::now();
    let mut clean_errors = 0u64;
    for n in 1..=runs {
        let mut input = corpus[rng.random_range(0..corpus.len())].clone();
        let other = corpus[rng.random_range(0..corpus.len())].clone();
        mutate(&mut rng, &mut input, &other, max_len);
        let r = std::panic::catch_unwind(|| targets::run(&target, &input));
        let failure = match &r {
            Err(_) => Some(last_panic.lock().unwrap().clone()),
            Ok(Err(e)) if targets::is_internal(e) => Some(format!("internal error: {e}")),
            _ => None,
        };
        if let Some(why) = failure {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/crashes")
                .join(&target);
            std::fs::create_dir_all(&dir).expect("crash folder");
            let file = dir.join(format!("crash-{seed}-{n}"));
            std::fs::write(&file, &input).expect("writes the crash input");
            eprintln!(
                "FAIL {target} after {n} executions: {why}\n  input saved to {}",
                file.display()
            );
            std::process::exit(1);
        }
        let r = r.unwrap();
        if r.is_err() {
            clean_errors += 1;
        }
        if seen.insert(outcome_key(&r)) && corpus.len() < MAX_CORPUS {
            if save_new {
                let name = format!("new-{seed}-{n}");
                std::fs::write(corpus_dir(&target).join(name), &input).ok();
            }
            corpus.push(input);
        }
        if n % 100_000 == 0 || n == runs {
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{target}: {n} executions in {secs:.1} s ({:.0}/s), {clean_errors} clean errors, {} outcomes, corpus {} ({seeds} seeds)",
                n as f64 / secs,
                seen.len(),
                corpus.len()
            );
        }
    }
    println!("{target}: done, no panic and no internal error");
}
