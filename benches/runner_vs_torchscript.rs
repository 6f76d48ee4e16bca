//! How the reference runner and the exporter compare with TorchScript itself, measured in the
//! same run on the same inputs: the runner's time per forward over TorchScript's (libtorch's
//! interpreter), and the export's time over one TorchScript forward. Ratios, not seconds, so the
//! numbers mean the same on any machine.
//!
//!     cargo bench --profile dev --bench runner_vs_torchscript
//!
//! (`--profile dev` reuses the test build; dependencies are optimised there.)
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use torch2air::internal::api::{dynamo_export, CompilerConfig};
use torch2air::internal::{spec, verify};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Median of `n` runs of `f`.
fn median(n: usize, mut f: impl FnMut()) -> Duration {
    let mut v: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[n / 2]
}

fn bench(name: &str, model: &Path, specs: &[String], runs: usize) {
    let args = spec::make_all(specs, 0).expect("inputs");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let t = Instant::now();
    let r = dynamo_export(
        args.clone(),
        model,
        out.to_str().unwrap(),
        "export",
        false,
        &CompilerConfig::default(),
    )
    .expect("export");
    let export = t.elapsed();
    let tensors = verify::graph_tensors(&r.inputs);
    let ts = median(runs, || {
        verify::torchscript_outputs(model, &r.inputs).expect("torchscript");
    });
    let rt = median(runs, || {
        torch2air::internal::run::run_air(&r.air, &tensors).expect("runner");
    });
    println!(
        "{name:12} nodes {:5}  torchscript {:8.2} ms  runner {:8.2} ms  runner/torchscript {:6.2}x  export/forward {:7.1}x",
        r.node_count,
        ts.as_secs_f64() * 1e3,
        rt.as_secs_f64() * 1e3,
        rt.as_secs_f64() / ts.as_secs_f64(),
        export.as_secs_f64() / ts.as_secs_f64(),
    );
}

fn main() {
    let m = |p: &str| root().join("models").join(p);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    println!("(torchscript: load + forward of the .pt; runner: read + run of the .air; medians)");
    bench("mlp", &m("mlp.pt"), &s(&["f32[8,16]"]), 9);
    for t in ["gpt2", "bert", "llama"] {
        let ids = m(&format!("transformers/{t}_ids.npy"));
        let mask = m(&format!("transformers/{t}_mask.npy"));
        bench(
            t,
            &m(&format!("transformers/{t}.pt")),
            &[ids.display().to_string(), mask.display().to_string()],
            5,
        );
    }
}
