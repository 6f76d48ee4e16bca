//! Scale (issue 15): LLM-sized exports against the floor measured in the same run.
//!
//!     eval "$(./dev env)"; cargo bench --profile dev --bench scale [-- small large]
//!
//! Makes traced GPT-2-shaped decoders with random weights on first use (models/make_scale.py,
//! the venv's Python; ~0.5 GB "small" and ~3.1 GB "large", into $TORCH2AIR_CACHE/scale/), then,
//! for each: the floor (TorchScript's own load of the file, in this process through tch, plus
//! writing the weights' bytes at the disk's fsync'd rate, both measured now) and torch2air
//! export in each weight mode (a child process: wall time and its own peak RSS). Prints the
//! export's time over the floor and its peak RSS over the weights' bytes.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn cache() -> PathBuf {
    std::env::var_os("TORCH2AIR_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/torch2air"))
}

fn make_model(size: &str) -> PathBuf {
    let dir = cache().join("scale");
    let pt = dir.join(format!("gpt2_{size}.pt"));
    if !pt.exists() {
        let python = cache().join("venv/bin/python");
        let st = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/make_scale.py"))
            .arg(&dir)
            .arg(size)
            .status()
            .expect("runs models/make_scale.py (./dev env sets up the venv)");
        assert!(st.success(), "make_scale.py failed");
    }
    pt
}

/// Runs the CLI; returns (wall time, the child's peak RSS in bytes), or its error line.
fn timed_cli(args: &[&str], cwd: &Path) -> Result<(Duration, u64), String> {
    let t = Instant::now();
    let err = cwd.join("stderr.txt");
    // Waited for below with wait4, which also gives the child's own rusage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_torch2air"))
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("torch2air");
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `ru` is a valid out-pointer.
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    let wall = t.elapsed();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let e = std::fs::read_to_string(&err).unwrap_or_default();
        return Err(e.lines().next().unwrap_or("no message").to_string());
    }
    Ok((wall, ru.ru_maxrss as u64 * 1024))
}

/// The disk's write rate with fsync, in bytes per second, writing `bytes` into `dir`.
fn write_rate(dir: &Path, bytes: u64) -> f64 {
    use std::io::Write;
    let p = dir.join("rate.bin");
    let chunk = vec![0x5au8; 1 << 20];
    let t = Instant::now();
    let mut f = std::fs::File::create(&p).unwrap();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    f.sync_all().unwrap();
    let rate = bytes as f64 / t.elapsed().as_secs_f64();
    std::fs::remove_file(p).unwrap();
    rate
}

fn main() {
    let mut sizes: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a == "small" || a == "large")
        .collect();
    if sizes.is_empty() {
        sizes = vec!["small".into(), "large".into()];
    }
    println!("scale: torch2air export against the floor (TorchScript load + writing the weights, fsync'd)");
    for size in sizes {
        let pt = make_model(&size);
        let weights = std::fs::metadata(&pt).unwrap().len();
        let work = tempfile::tempdir_in(cache()).unwrap();
        // Warm the page cache once, so every load below reads the same way.
        std::fs::read(&pt).unwrap();
        let t = Instant::now();
        let m = tch::CModule::load(&pt).expect("TorchScript loads the file");
        let load = t.elapsed();
        drop(m);
        let rate = write_rate(work.path(), weights);
        let floor = load + Duration::from_secs_f64(weights as f64 / rate);
        println!(
            "\n{size}: {:.0} MB file; TorchScript load {:.2} s, disk {:.0} MB/s, floor {:.2} s",
            weights as f64 / 1e6,
            load.as_secs_f64(),
            rate / 1e6,
            floor.as_secs_f64()
        );
        let ptp = pt.to_str().unwrap();
        let mut modes: Vec<(&str, Vec<&str>)> = vec![
            ("FileConstant", vec!["--weight-threshold", "0"]),
            (
                "FileConstant --dynamic",
                vec!["--weight-threshold", "0", "--dynamic"],
            ),
        ];
        if weights < 1_900_000_000 {
            modes.insert(0, ("inline, --pbtxt full", vec![]));
            modes.insert(1, ("inline, --pbtxt lean", vec!["--pbtxt", "lean"]));
        }
        for (name, extra) in modes {
            let mut args = vec!["export", ptp, "--quiet"];
            args.extend(extra);
            let (wall, rss) = match timed_cli(&args, work.path()) {
                Ok(x) => x,
                Err(e) => {
                    println!("  {name:24} failed: {e}");
                    continue;
                }
            };
            let written: u64 = std::fs::read_dir(work.path().join("export_file"))
                .unwrap()
                .flatten()
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum();
            println!(
                "  {name:24} {:6.2} s = {:.2}x floor   peak RSS {:5.0} MB = {:.2}x weights   wrote {:.0} MB",
                wall.as_secs_f64(),
                wall.as_secs_f64() / floor.as_secs_f64(),
                rss as f64 / 1e6,
                rss as f64 / weights as f64,
                written as f64 / 1e6
            );
            std::fs::remove_dir_all(work.path().join("export_file")).unwrap();
        }
    }
}
