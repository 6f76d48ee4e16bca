//! `--weights lazy` (issue 15 item 3): the archive index reads every module tensor's bytes as
//! libtorch's own load does; lazy exports are byte-identical to exports with the weights in
//! memory; values the lazy walk cannot give end with a clear error; the mode is chosen by the
//! memory available and a model too large for the chosen mode is refused with the bytes.
mod common;
use common::*;
use std::path::Path;
use torch2air::internal::load::archive::ArchiveIndex;
use torch2air::internal::load::Module;
use torch2air::internal::value::Value;

/// Fixtures of several kinds: plain, bf16/f16, frozen (weights in the graph's constants),
/// scripted with views/offsets/tied/transposed tensors, a GRU (a list of weights), HF models.
const FIXTURES: &[&str] = &[
    "mlp.pt",
    "mlp_bf16.pt",
    "mlp_f16.pt",
    "frozen_mlp.pt",
    "lazy/views.pt",
    "vision/gru_tagger.pt",
    "vision/mobilenet_v3.pt",
    "transformers/gpt2.pt",
    "transformers/llama_bf16.pt",
];

fn bytes_of(t: &tch::Tensor) -> Vec<u8> {
    let t = t.contiguous();
    let n = t.numel() * t.kind().elt_size_in_bytes();
    let mut out = vec![0u8; n];
    if n > 0 {
        // SAFETY: a contiguous CPU tensor of n bytes, alive for the copy.
        unsafe { std::ptr::copy_nonoverlapping(t.data_ptr() as *const u8, out.as_mut_ptr(), n) };
    }
    out
}

#[test]
fn archive_index_reads_every_tensor_as_libtorch_loads_it() {
    for f in FIXTURES {
        let path = model(f);
        let index = ArchiveIndex::open(&path).unwrap();
        let m = Module::load(&path).unwrap();
        // Every parameter libtorch lists is indexed.
        let params = tch::CModule::load(&path)
            .unwrap()
            .named_parameters()
            .unwrap();
        for (name, _) in &params {
            assert!(
                index.get(name).is_some(),
                "{f}: parameter {name} not indexed"
            );
        }
        assert!(
            !index.tensors.is_empty() || params.is_empty(),
            "{f}: nothing indexed"
        );
        for (p, at) in &index.tensors {
            // A tensor attribute, or an item of a list of tensors (`gru._flat_weights.0`).
            let v = m.attr(p).ok().or_else(|| {
                let (parent, i) = p.rsplit_once('.')?;
                match m.attr(parent).ok()? {
                    Value::List(items) => items.into_iter().nth(i.parse().ok()?),
                    _ => None,
                }
            });
            let Some(Value::Tensor(t)) = v else {
                panic!("{f}: {p} is not a tensor of the loaded module")
            };
            assert_eq!(t.tensor.size(), at.size, "{f}: {p} size");
            assert_eq!(
                bytes_of(&t.tensor),
                index.tensor_bytes(p).unwrap(),
                "{f}: {p} bytes differ from libtorch's"
            );
            let mut streamed = vec![];
            index.write_tensor(p, &mut streamed).unwrap();
            assert_eq!(
                streamed,
                index.tensor_bytes(p).unwrap(),
                "{f}: {p} streamed"
            );
            assert_eq!(
                &index.bytes(p).unwrap()[..],
                &streamed[..],
                "{f}: {p} mapped"
            );
        }
    }
}

#[test]
fn views_fixture_covers_offsets_transposes_and_ties() {
    let index = ArchiveIndex::open(&model("lazy/views.pt")).unwrap();
    let wt = index.get("wt").unwrap();
    assert_eq!(wt.stride, vec![1, 12]);
    let cols = index.get("cols").unwrap();
    assert_eq!((cols.offset, cols.stride.clone()), (1, vec![10, 2]));
    assert_eq!(index.get("a").unwrap().offset, 8);
    assert_eq!(
        index.get("w_tied").unwrap().record,
        index.get("w").unwrap().record
    );
}

/// Every file of two export folders, by name, byte for byte.
fn assert_same_files(a: &Path, b: &Path, what: &str) {
    let names = files_in(a);
    assert_eq!(names, files_in(b), "{what}: file lists differ");
    assert!(names.iter().any(|n| n.ends_with(".air")), "{what}: no .air");
    for n in names {
        let (x, y) = (
            std::fs::read(a.join(&n)).unwrap(),
            std::fs::read(b.join(&n)).unwrap(),
        );
        assert!(
            x == y,
            "{what}: {n} differs ({} vs {} bytes)",
            x.len(),
            y.len()
        );
    }
}

fn export(dir: &Path, model_path: &Path, weights: &str, extra: &[&str]) -> (i32, String, String) {
    std::fs::create_dir_all(dir).unwrap();
    let p = model_path.to_str().unwrap().to_string();
    let mut args = vec![
        "export",
        p.as_str(),
        "--export-path",
        "out",
        "--weights",
        weights,
    ];
    args.extend_from_slice(extra);
    cli(dir, &args)
}

/// `args` with each `NPY:<fixture>` replaced by that fixture's path.
fn with_npy(args: &[&str]) -> Vec<String> {
    args.iter()
        .map(|a| match a.strip_prefix("NPY:") {
            Some(rel) => model(rel).to_str().unwrap().to_string(),
            None => a.to_string(),
        })
        .collect()
}

#[test]
fn lazy_exports_are_byte_identical_to_memory_exports() {
    let inputs: &[(&str, &[&str])] = &[
        ("mlp.pt", &["--input", "f32[2,16]"]),
        ("mlp_bf16.pt", &["--input", "bf16[5,16]"]),
        ("frozen_mlp.pt", &["--input", "f32[3,64]"]),
        ("lazy/views.pt", &["--input", "f32[2,16]"]),
        (
            "vision/gru_tagger.pt",
            &["--input", "NPY:vision/gru_tagger.in0.npy"],
        ),
        (
            "vision/mobilenet_v3.pt",
            &["--input", "NPY:vision/mobilenet_v3.in0.npy"],
        ),
        ("transformers/gpt2.pt", &[]),
        ("transformers/llama_bf16.pt", &[]),
        // nn.MultiheadAttention / nn.TransformerEncoderLayer take their fused fast path only for
        // tensors on "cpu" or "cuda": lazy weights must look like the CPU ones.
        (
            "vision/ops_mha.pt",
            &[
                "--input",
                "NPY:vision/ops_mha.in0.npy",
                "--input",
                "NPY:vision/ops_mha.in1.npy",
            ],
        ),
        // A depthwise convolution: no meta kernel (libtorch picks its backend by device).
        ("zoo/convnext.pt", &[]),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (f, args) in inputs {
        for threshold in ["0", "1000000000"] {
            let npy = with_npy(args);
            let mut extra: Vec<&str> = npy.iter().map(String::as_str).collect();
            extra.extend(["--weight-threshold", threshold]);
            let name = f.replace('/', "_");
            let mem = tmp.path().join(format!("{name}_{threshold}_memory"));
            let lazy = tmp.path().join(format!("{name}_{threshold}_lazy"));
            let (c, _, e) = export(&mem, &model(f), "memory", &extra);
            assert_eq!(c, 0, "{f} memory: {e}");
            let (c, _, e) = export(&lazy, &model(f), "lazy", &extra);
            assert_eq!(c, 0, "{f} lazy: {e}");
            assert_same_files(
                &mem.join("out"),
                &lazy.join("out"),
                &format!("{f} threshold {threshold}"),
            );
        }
    }
}

#[test]
fn a_value_computed_from_weights_ends_with_the_op_line_and_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _, e) = export(
        tmp.path(),
        &model("lazy/needs_values.pt"),
        "lazy",
        &["--input", "f32[2,16]"],
    );
    assert_eq!(c, 2, "{e}");
    assert_clean_error(c, &e, "--weights memory");
    assert!(
        e.contains("make_lazy.py") && e.contains("aten::"),
        "names the op and line: {e}"
    );
    // With the weights in memory the same model exports.
    let (c, _, e) = export(
        tmp.path(),
        &model("lazy/needs_values.pt"),
        "memory",
        &["--input", "f32[2,16]"],
    );
    assert_eq!(c, 0, "{e}");
}

#[test]
fn auto_chooses_lazy_when_weights_exceed_available_memory_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let mlp = model("mlp.pt");
    let p = mlp.to_str().unwrap();
    let args = ["export", p, "--export-path", "out", "--input", "f32[2,16]"];
    // Just less than the weights need in memory, more than the lazy mode needs.
    let index = ArchiveIndex::open(&mlp).unwrap();
    let avail = (index.data_bytes + index.constant_bytes - 1).to_string();
    let (c, _, e) = cli_env(tmp.path(), &args, &[("TORCH2AIR_AVAILABLE_MEMORY", &avail)]);
    assert_eq!(c, 0, "{e}");
    assert!(
        e.contains("--weights lazy") && e.contains("exceed"),
        "said aloud: {e}"
    );
    let (c, _, e) = cli_env(
        tmp.path(),
        &args,
        &[("TORCH2AIR_AVAILABLE_MEMORY", "100000000000")],
    );
    assert_eq!(c, 0, "{e}");
    assert!(!e.contains("--weights lazy"), "memory mode is silent: {e}");
}

#[test]
fn a_model_too_large_for_the_chosen_mode_is_refused_with_the_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let mlp = model("mlp.pt");
    let p = mlp.to_str().unwrap();
    let need = ArchiveIndex::open(&mlp).unwrap().data_bytes;
    let args = [
        "export",
        p,
        "--export-path",
        "out",
        "--input",
        "f32[2,16]",
        "--weights",
        "memory",
    ];
    let (c, _, e) = cli_env(tmp.path(), &args, &[("TORCH2AIR_AVAILABLE_MEMORY", "1000")]);
    assert_eq!(c, 2, "{e}");
    assert_clean_error(c, &e, "--weights lazy");
    assert!(
        e.contains(&format!("{need} bytes")) && e.contains("1000 bytes"),
        "{e}"
    );
    assert!(!tmp.path().join("out").exists(), "nothing written");
    let args = [
        "export",
        p,
        "--export-path",
        "out",
        "--input",
        "f32[2,16]",
        "--weights",
        "lazy",
    ];
    let (c, _, e) = cli_env(tmp.path(), &args, &[("TORCH2AIR_AVAILABLE_MEMORY", "1000")]);
    assert_eq!(c, 2, "{e}");
    assert_clean_error(c, &e, "available");
    let (c, _, e) = cli_env(tmp.path(), &["export", p, "--weights", "sideways"], &[]);
    assert_ne!(c, 0);
    assert!(e.contains("auto, memory or lazy"), "{e}");
}

#[test]
fn verify_passes_on_a_lazy_export_and_says_when_it_cannot_run() {
    let tmp = tempfile::tempdir().unwrap();
    let gpt2 = model("transformers/gpt2.pt");
    let p = gpt2.to_str().unwrap();
    let (c, o, e) = cli(
        tmp.path(),
        &["verify", p, "--export-path", "out", "--weights", "lazy"],
    );
    assert_eq!(c, 0, "{o}{e}");
    assert!(o.contains("PASS"), "{o}");
    // Too little memory for TorchScript's reference run: the lazy export is written, verify
    // says why it cannot compare.
    let args = ["verify", p, "--export-path", "out2", "--weights", "lazy"];
    // Enough for the lazy export, one byte short of what TorchScript's load needs.
    let index = ArchiveIndex::open(&gpt2).unwrap();
    let avail = (index.data_bytes + index.constant_bytes - 1).to_string();
    let (c, _, e) = cli_env(tmp.path(), &args, &[("TORCH2AIR_AVAILABLE_MEMORY", &avail)]);
    assert_eq!(c, 2, "{e}");
    assert_clean_error(c, &e, "runs the TorchScript module");
    assert!(tmp.path().join("out2/export.air").is_file());
}

/// The `note:` lines and the dynamic dims an export printed, each without the failure it quotes
/// (forward's first line with the weights in memory; the failing op's site and message with lazy
/// weights, whose oracle is the walk).
fn dynamic_summary(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("note:") || l.starts_with("dynamic dims:"))
        .map(|l| {
            let Some(at) = [" (at ", " larger (", " (forward fails: "]
                .iter()
                .find_map(|m| l.find(m).map(|i| i + m.len()))
            else {
                return l.to_string();
            };
            let end = ["); ", "), "]
                .iter()
                .filter_map(|m| l.rfind(m))
                .max()
                .unwrap_or(l.len());
            format!("{}...{}", &l[..at], &l[end..])
        })
        .collect()
}

/// `--dynamic` with lazy weights: `settle`'s oracle is the walk itself on meta weights (no
/// forward), and the probes run on the meta device too. Same files, same dims and notes as with
/// the weights in memory: dims the model's weights fix (attention.pt, flatten_mlp.pt), dims
/// pinned by guards (pinned.pt), dims that cannot grow together (view_five.pt), a far probe
/// halved because a position table ends (GPT-2 with 64 positions at a sample of 40: 72 fails,
/// 56 runs), HF decoders, an RNN, a CNN.
#[test]
fn lazy_dynamic_exports_are_byte_identical_to_memory_dynamic_exports() {
    let cases: &[(&str, &[&str])] = &[
        ("mlp.pt", &["--input", "f32[2,16]"]),
        ("lazy/views.pt", &["--input", "f32[2,16]"]),
        ("dynamic/attention.pt", &["--input", "f32[2,5,16]"]),
        ("dynamic/flatten_mlp.pt", &["--input", "f32[2,5,4]"]),
        ("dynamic/pinned.pt", &["--input", "f32[2,3,8,8]"]),
        ("dynamic/view_five.pt", &["--input", "f32[50,5]"]),
        (
            "dynamic/breadth/gpt2_ids.pt",
            &["--input", "i64[2,40]:0..100"],
        ),
        (
            "dynamic/breadth/llama_ids.pt",
            &["--input", "i64[2,8]:0..100"],
        ),
        (
            "dynamic/breadth/qwen2_ids.pt",
            &["--input", "i64[2,8]:0..100"],
        ),
        ("transformers/gpt2.pt", &[]),
        (
            "vision/gru_tagger.pt",
            &["--input", "NPY:vision/gru_tagger.in0.npy"],
        ),
        (
            "vision/mobilenet_v3.pt",
            &["--input", "NPY:vision/mobilenet_v3.in0.npy"],
        ),
        (
            "vision/transformer_encoder_causal.pt",
            &[
                "--input",
                "NPY:vision/transformer_encoder_causal.in0.npy",
                "--input",
                "NPY:vision/transformer_encoder_causal.in1.npy",
            ],
        ),
        ("zoo/wav2vec2.pt", &[]),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let mut halved = false;
    for (f, args) in cases {
        let mut extra = with_npy(args);
        extra.extend(["--dynamic", "--weight-threshold", "0"].map(String::from));
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let name = f.replace('/', "_");
        let mem = tmp.path().join(format!("{name}_memory"));
        let lazy = tmp.path().join(format!("{name}_lazy"));
        let (c, mem_out, e) = export(&mem, &model(f), "memory", &extra);
        assert_eq!(c, 0, "{f} memory: {e}");
        let (c, lazy_out, e) = export(&lazy, &model(f), "lazy", &extra);
        assert_eq!(c, 0, "{f} lazy: {e}");
        assert!(
            lazy_out.contains("walked with the weights read lazily"),
            "{f}: {lazy_out}"
        );
        let summary = dynamic_summary(&mem_out);
        assert!(
            summary.iter().any(|l| l.starts_with("dynamic dims: ")),
            "{f}: no dynamic dim: {mem_out}"
        );
        assert_eq!(summary, dynamic_summary(&lazy_out), "{f}");
        halved |= summary
            .iter()
            .any(|l| l.contains("so the second probe grows them by 16 only"));
        assert_same_files(
            &mem.join("out"),
            &lazy.join("out"),
            &format!("{f} --dynamic"),
        );
    }
    assert!(halved, "the GPT-2 case did not halve its far probe");
}

/// A lazy `--dynamic` export runs at other sizes as TorchScript does (verify --dynamic checks
/// sizes other than the sample's).
#[test]
fn verify_passes_on_a_lazy_dynamic_export() {
    let tmp = tempfile::tempdir().unwrap();
    let p = model("dynamic/breadth/gpt2_ids.pt");
    let args = [
        "verify",
        p.to_str().unwrap(),
        "--export-path",
        "out",
        "--weights",
        "lazy",
        "--dynamic",
        "--input",
        "i64[2,8]:0..100",
    ];
    let (c, out, e) = cli(tmp.path(), &args);
    assert_eq!(c, 0, "{out}{e}");
    assert!(out.contains("verify: PASS"), "{out}");
    assert!(out.contains("walked with the weights read lazily"), "{out}");
}

/// `auto` walks an export (static or --dynamic) lazily from `TORCH2AIR_AUTO_LAZY_BYTES` of weights on (1 GiB by
/// default) even when they fit in memory, and says so in its summary; a walk that needs values
/// computed from the weights runs again with them in memory, said on stderr. Either way the
/// files are those of `--weights memory`.
#[test]
fn auto_walks_large_weights_lazily_and_falls_back_to_memory_aloud() {
    let tmp = tempfile::tempdir().unwrap();
    for (f, spec, dynamic) in [
        ("mlp.pt", "f32[2,16]", false),
        ("lazy/needs_values.pt", "f32[2,16]", false),
        ("mlp.pt", "f32[2,16]", true),
        ("lazy/needs_values.pt", "f32[2,16]", true),
    ] {
        let m = model(f);
        let p = m.to_str().unwrap();
        let name = format!("{}_{dynamic}", f.replace('/', "_"));
        let mem = tmp.path().join(format!("{name}_memory"));
        let auto = tmp.path().join(format!("{name}_auto"));
        let flags: &[&str] = if dynamic {
            &["--input", spec, "--dynamic"]
        } else {
            &["--input", spec]
        };
        let (c, _, e) = export(&mem, &m, "memory", flags);
        assert_eq!(c, 0, "{f} memory: {e}");
        std::fs::create_dir_all(&auto).unwrap();
        let mut args = vec!["export", p, "--export-path", "out"];
        args.extend_from_slice(flags);
        let (c, out, e) = cli_env(&auto, &args, &[("TORCH2AIR_AUTO_LAZY_BYTES", "0")]);
        assert_eq!(c, 0, "{f} auto: {e}");
        assert_same_files(&mem.join("out"), &auto.join("out"), f);
        let fell_back = e.contains("walking again with the weights in memory");
        let lazily = out.contains("walked with the weights read lazily");
        if f == "mlp.pt" {
            assert!(lazily && !fell_back, "{f}: {out}{e}");
        } else {
            // The lazy walk (with --dynamic: its settle's first walk) stopped at the branch on a
            // value computed from the weights.
            assert!(fell_back && !lazily, "{f}: {out}{e}");
            assert!(e.contains("make_lazy.py"), "names the op's line: {e}");
        }
        // Without the override (1 GiB) these small models are walked in memory, silently.
        let plain = tmp.path().join(format!("{name}_plain"));
        std::fs::create_dir_all(&plain).unwrap();
        let (c, out, e) = cli(&plain, &args);
        assert_eq!(c, 0, "{f}: {e}");
        assert!(!out.contains("lazily") && !e.contains("lazily"), "{out}{e}");
    }
}
