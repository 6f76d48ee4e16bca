//! Scale (issue 15): LLM-sized exports against the floor measured in the same run.
//!
//!     eval "$(./dev env)"; cargo bench --profile dev --bench scale [-- small large] [--no-peers]
//!
//! Makes traced GPT-2-shaped decoders with random weights on first use (models/make_scale.py,
//! the venv's Python; ~0.5 GB "small" and ~3.1 GB "large", into $TORCH2AIR_CACHE/scale/), then,
//! for each: the floor (TorchScript's own load of the file, through tch in a child process, plus
//! writing the weights' bytes at the disk's fsync'd rate, both measured now) and torch2air
//! export in each weight mode (a child process: wall time and its own peak RSS), then the peers
//! on the same file, each a child process measured the same way: PNNX (the `pnnx` pip package's
//! binary, `inputshape=[1,16]i64`) and PyTorch's legacy TorchScript ONNX exporter
//! (benches/onnx_export.py: `torch.onnx.export(..., dynamo=False)` on the loaded module; needs
//! the `onnx` package). A peer that fails is reported with its error line; one not installed is
//! said so. Prints each one's time over the floor and its peak RSS over the weights' bytes.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn cache() -> PathBuf {
    std::env::var_os("TORCH2AIR_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/torch2air"))
}

fn venv() -> PathBuf {
    std::env::var_os("TORCH2AIR_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("venv"))
}

fn make_model(size: &str) -> PathBuf {
    let dir = cache().join("scale");
    let pt = dir.join(format!("gpt2_{size}.pt"));
    if !pt.exists() {
        let python = venv().join("bin/python");
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

/// Runs `cmd` in `cwd`; returns (wall time, the child's peak RSS in bytes), or its error line.
fn timed(mut cmd: Command, cwd: &Path) -> Result<(Duration, u64), String> {
    let err = cwd.join("stderr.txt");
    let t = Instant::now();
    // Waited for below with wait4, which also gives the child's own rusage.
    #[allow(clippy::zombie_processes)]
    let child = match cmd
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Err(format!("cannot start {:?}: {e}", cmd.get_program())),
    };
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `ru` is a valid out-pointer.
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    let wall = t.elapsed();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let e = std::fs::read_to_string(&err).unwrap_or_default();
        let lines: Vec<&str> = e.lines().filter(|l| !l.trim().is_empty()).collect();
        // torch2air's own `error:` line, else the last line (a Python exception's message).
        let line = lines
            .iter()
            .find(|l| l.starts_with("error:"))
            .or(lines.last())
            .map(|l| l.trim().to_string());
        let how = if libc::WIFSIGNALED(status) {
            format!("killed by signal {}", libc::WTERMSIG(status))
        } else {
            format!("exit {}", libc::WEXITSTATUS(status))
        };
        return Err(match line {
            Some(l) => format!("{how}: {l}"),
            None => how,
        });
    }
    Ok((wall, ru.ru_maxrss as u64 * 1024))
}

/// The bytes of every file under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => bytes_under(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// One measured line: wall time over the floor, peak RSS over the weights, bytes written.
fn report(
    name: &str,
    res: Result<(Duration, u64), String>,
    floor: Duration,
    weights: u64,
    out: &Path,
) {
    match res {
        Ok((wall, rss)) => println!(
            "  {name:26} {:7.2} s = {:5.2}x floor   peak RSS {:5.0} MB = {:.2}x weights   wrote {:.0} MB",
            wall.as_secs_f64(),
            wall.as_secs_f64() / floor.as_secs_f64(),
            rss as f64 / 1e6,
            rss as f64 / weights as f64,
            bytes_under(out) as f64 / 1e6
        ),
        Err(e) => println!("  {name:26} failed: {e}"),
    }
}

/// The peers, on the same file: PNNX (its `pnnx` binary, pip package `pnnx` in the venv) and
/// PyTorch's legacy TorchScript ONNX exporter (benches/onnx_export.py, needs the `onnx` package).
fn peers(pt: &Path, ids: &Path, work: &Path, floor: Duration, weights: u64) {
    let python = venv().join("bin/python");
    let site = Command::new(&python)
        .args([
            "-c",
            "import pnnx, os; print(os.path.dirname(pnnx.__file__))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let out = work.join("pnnx");
    std::fs::create_dir_all(&out).unwrap();
    match site {
        None => println!(
            "  {:26} not run: pnnx is not installed (pip install pnnx into the venv)",
            "PNNX"
        ),
        Some(dir) => {
            // PNNX writes a side file beside the model: give it a link in its own folder.
            let link = out.join("model.pt");
            std::os::unix::fs::symlink(pt, &link).unwrap();
            let shape = input_shape(ids);
            let mut cmd = Command::new(dir.join("pnnx"));
            cmd.arg(&link).arg(format!("inputshape={shape}i64"));
            report("PNNX", timed(cmd, &out), floor, weights, &out);
            std::fs::remove_file(&link).unwrap();
        }
    }
    std::fs::remove_dir_all(&out).unwrap();
    let out = work.join("onnx");
    std::fs::create_dir_all(&out).unwrap();
    let has_onnx = Command::new(&python)
        .args(["-c", "import onnx"])
        .status()
        .is_ok_and(|s| s.success());
    if has_onnx {
        let mut cmd = Command::new(&python);
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/onnx_export.py"))
            .arg(pt)
            .arg(ids)
            .arg(out.join("model.onnx"));
        let res = timed(cmd, &out);
        report("torch.onnx (TorchScript)", res, floor, weights, &out);
    } else {
        println!(
            "  {:26} not run: the onnx package is not installed (pip install onnx into the venv)",
            "torch.onnx (TorchScript)"
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}

/// The sample's shape as PNNX takes it: `[1,16]`.
fn input_shape(ids: &Path) -> String {
    let bytes = std::fs::read(ids).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let dims: Vec<String> = npy.shape().iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(","))
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

/// Reads `path` through once in 8 MiB chunks (the page cache warm, nothing kept).
fn warm(path: &Path) {
    use std::io::Read;
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 8 << 20];
    while f.read(&mut buf).unwrap() > 0 {}
}

/// TorchScript's own load of `pt`, in a child process (this one never holds the weights: a
/// child's peak RSS, as wait4 reports it, starts from its parent's at the spawn). Returns the
/// load's wall time (printed by the child) and the child's peak RSS.
fn torchscript_load(pt: &Path, cwd: &Path) -> (Duration, u64) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("--torchscript-load").arg(pt);
    let out = cwd.join("load.txt");
    cmd.env("T2A_BENCH_OUT", &out);
    let (_, rss) = timed(cmd, cwd).expect("TorchScript loads the file");
    let secs: f64 = std::fs::read_to_string(&out)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (Duration::from_secs_f64(secs), rss)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The child of `torchscript_load`.
    if let [flag, pt] = &args[..] {
        if flag == "--torchscript-load" {
            let t = Instant::now();
            let m = tch::CModule::load(pt).expect("TorchScript loads the file");
            let secs = t.elapsed().as_secs_f64();
            drop(m);
            std::fs::write(std::env::var("T2A_BENCH_OUT").unwrap(), secs.to_string()).unwrap();
            return;
        }
    }
    let mut sizes: Vec<String> = args
        .iter()
        .filter(|a| *a == "small" || *a == "large")
        .cloned()
        .collect();
    if sizes.is_empty() {
        sizes = vec!["small".into(), "large".into()];
    }
    // `--no-peers`: torch2air only (PNNX and torch.onnx take minutes on the large model).
    let with_peers = !args.iter().any(|a| a == "--no-peers");
    println!("scale: torch2air export against the floor (TorchScript load + writing the weights, fsync'd)");
    for size in sizes {
        let pt = make_model(&size);
        let ids = pt.with_file_name(format!("gpt2_{size}_ids.npy"));
        let weights = std::fs::metadata(&pt).unwrap().len();
        let work = tempfile::tempdir_in(cache()).unwrap();
        // Warm the page cache once, so every load below reads the same way.
        warm(&pt);
        let (load, load_rss) = torchscript_load(&pt, work.path());
        let rate = write_rate(work.path(), weights);
        let floor = load + Duration::from_secs_f64(weights as f64 / rate);
        println!(
            "\n{size}: {:.0} MB file; TorchScript load {:.2} s (peak RSS {:.0} MB = {:.2}x weights), disk {:.0} MB/s, floor {:.2} s",
            weights as f64 / 1e6,
            load.as_secs_f64(),
            load_rss as f64 / 1e6,
            load_rss as f64 / weights as f64,
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
            // The default (`--weights auto`) walks these lazily; with the weights in memory:
            (
                "  the same, --weights memory",
                vec![
                    "--weight-threshold",
                    "0",
                    "--dynamic",
                    "--weights",
                    "memory",
                ],
            ),
        ];
        if weights < 1_900_000_000 {
            modes.insert(0, ("inline, --pbtxt full", vec![]));
            modes.insert(1, ("inline, --pbtxt lean", vec!["--pbtxt", "lean"]));
        }
        let out = work.path().join("export_file");
        for (name, extra) in modes {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_torch2air"));
            cmd.args(["export", ptp, "--quiet"]).args(extra);
            report(name, timed(cmd, work.path()), floor, weights, &out);
            let _ = std::fs::remove_dir_all(&out);
        }
        if with_peers {
            peers(&pt, &ids, work.path(), floor, weights);
        }
    }
}
