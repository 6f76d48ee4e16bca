//! Regressions found by measuring from outside (issue 10): a heap corruption on traced
//! `chunk(n, dim=-1)`, wrong results that exited 0 (training-mode dropout, 0-d reductions and
//! index_select), `-1` dims that a guard made a lie, and refusals that hid each other.
mod common;
use common::*;

#[test]
fn traced_chunk_on_the_last_dim_exports_and_verifies() {
    // libtorch's restore_shapes load path corrupted the heap on these (exit 134).
    for (name, pieces) in [
        ("regress/chunk_neg3.pt", 3),
        ("regress/chunk_neg4.pt", 4),
        ("regress/chunk_neg2.pt", 2),
    ] {
        let r = verify_fixture(name, &[], 0.0);
        assert!(r.export.used_traced_inputs, "{name}");
        assert_eq!(r.checks.len(), pieces, "{name}");
        let split = ops_of_type(&r.air, "SplitV");
        assert_eq!(split.len(), 1, "{name}");
        assert_eq!(attr_i(split[0], "num_split"), pieces as i64, "{name}");
    }
    // The same through the CLI, which is where the abort showed.
    let d = tmp();
    let (code, out, err) = cli(
        d.path(),
        &["verify", model("regress/chunk_neg3.pt").to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verify: PASS (3 output(s)"), "{out}");
}

#[test]
fn training_mode_dropout_with_p_1_is_zeros_and_other_p_is_refused() {
    let r = verify_fixture("regress/dropout_train.pt", &["f32[3,4,5]"], 0.0);
    assert_eq!(r.checks.len(), 4);
    // Mul by a zero Const for each of the three p=1 calls; p=0 is the identity.
    assert_eq!(ops_of_type(&r.air, "Mul").len(), 3, "{:?}", types(&r.air));
    let got = torch2air::internal::run::run_air(
        &r.export.air,
        &torch2air::internal::verify::graph_tensors(&r.export.inputs),
    )
    .unwrap();
    for t in &got[..3] {
        assert_eq!(t.abs().sum(tch::Kind::Double).double_value(&[]), 0.0);
    }
    let d = tmp();
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            model("regress/dropout_half.pt").to_str().unwrap(),
            "--input",
            "f32[3,4]",
        ],
    );
    assert_clean_error(
        code,
        &err,
        "dropout with p=0.5 in training mode draws random masks",
    );
    assert_eq!(code, 2);
    assert!(err.contains("model.eval()"), "{err}");
    assert!(!d.path().join("export_file").exists());
}

#[test]
fn zero_d_index_select_and_reductions_run() {
    let r = verify_fixture("regress/zero_d.pt", &["f32[]", "i64[1]:0..1"], 0.0);
    assert_eq!(r.checks.len(), 5);
    for c in &r.checks {
        assert!(c.shape.len() <= 1, "{c}");
    }
}

#[test]
fn a_loop_over_a_dynamic_dim_pins_that_dim() {
    let d = tmp();
    let m = model("regress/guarded_loop.pt");
    let (code, out, err) = cli(
        d.path(),
        &[
            "verify",
            m.to_str().unwrap(),
            "--input",
            "f32[2,5]",
            "--dynamic",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dynamic dims: x[0]\n"), "{out}");
    assert!(
        out.contains("note: 'x' dim 1 is pinned at 5: the graph depends on it at")
            && out.contains("for t in range(x.size(1)):  -> 5 iteration(s), unrolled"),
        "{out}"
    );
    // The larger-size comparison is binding and passes: batch grown, length kept.
    assert!(out.contains("f32[4, 5]"), "{out}");
    assert!(!out.contains("informational"), "{out}");
    let air = d.path().join("export_file/export.air");
    let m = read_air(&air);
    let desc = &op(&m, "x").output_desc[0];
    assert_eq!(desc.shape.as_ref().unwrap().dim, vec![-1, 5]);
    // Another length is refused by the runner (it would have needed 7 unrolled steps).
    std::fs::write(d.path().join("x.npy"), npy_f32(&[2, 7])).unwrap();
    let (code, _, err) = cli(
        d.path(),
        &["run", air.to_str().unwrap(), "--input", "x.npy"],
    );
    assert_clean_error(code, &err, "x");
    assert_eq!(code, 2);
}

#[test]
fn every_refusal_and_unsupported_op_is_listed_at_once() {
    let d = tmp();
    let m = model("regress/refusals.pt");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[3,4]",
            "--report",
            "ops.md",
        ],
    );
    assert_clean_error(code, &err, "aten::dropout x2");
    assert_eq!(code, 2);
    let script = std::fs::read_to_string(root().join("models/make_regress.py")).unwrap();
    let line_of = |text: &str| {
        let n = script.lines().position(|l| l.contains(text)).unwrap() + 1;
        format!("make_regress.py:{n}")
    };
    for needle in [
        "refused: dropout with p=0.5 in training mode".to_string(),
        "refused: dropout with p=0.25 in training mode".to_string(),
        line_of("a = F.dropout(x, 0.5, True)"),
        line_of("b = F.dropout(x * 2, 0.25, True)"),
        "aten::bincount x1".to_string(),
        line_of("c = torch.bincount(x.long().abs().flatten())"),
    ] {
        assert!(err.contains(&needle), "{needle}: {err}");
    }
    let report = std::fs::read_to_string(d.path().join("ops.md")).unwrap();
    assert!(
        report.contains("2 kind(s) unsupported (3 node(s))"),
        "{report}"
    );
    assert!(
        report.contains("| `aten::dropout` | 2 | REFUSED: dropout with p=0.5"),
        "{report}"
    );
    assert!(
        report.contains("| `aten::bincount` | 1 | UNSUPPORTED |"),
        "{report}"
    );
    assert!(!d.path().join("export_file").exists());
}

/// A little-endian f32 .npy of zeros.
fn npy_f32(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend((header.len() as u16).to_le_bytes());
    v.extend(header.as_bytes());
    v.extend(vec![0u8; 4 * shape.iter().product::<usize>()]);
    v
}

/// The names of every file in `dir` and below, with their bytes.
/// Every file under `dir` whose path names torch2air, with its length and CRC (read in pieces:
/// /tmp may hold large files of other work).
fn tree(dir: &std::path::Path) -> Vec<(String, (u64, u32))> {
    let mut v = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                v.extend(tree(&p));
                continue;
            }
            let name = p.display().to_string();
            if !name.contains("torch2air") {
                continue;
            }
            // A FIFO or socket (another process's, in /tmp): its name only; opening a FIFO
            // would block until a writer comes.
            let mut sum = (0, 0);
            if ft.is_file() {
                if let Ok(mut f) = std::fs::File::open(&p) {
                    let mut h = crc32fast::Hasher::new();
                    let mut buf = vec![0u8; 1 << 20];
                    while let Ok(n @ 1..) = std::io::Read::read(&mut f, &mut buf) {
                        h.update(&buf[..n]);
                        sum.0 += n as u64;
                    }
                    sum.1 = h.finalize();
                }
            }
            v.push((name, sum));
        }
    }
    v.sort();
    v
}

#[test]
fn parameter_names_cannot_write_outside_the_export_folder_nor_collide() {
    let d = tmp();
    let pwned = std::path::Path::new("/tmp/torch2air_pwned");
    let _ = std::fs::remove_dir_all(pwned);
    let before = tree(std::path::Path::new("/tmp"));
    let m = model("regress/odd_names.pt");
    for _ in 0..2 {
        let (code, out, err) = cli(
            d.path(),
            &["verify", m.to_str().unwrap(), "--weight-threshold", "0"],
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("max abs err 0.000e0"), "{out}");
    }
    assert!(
        !pwned.exists(),
        "a parameter name wrote outside the export folder"
    );
    let mut files = files_in(&d.path().join("export_file"));
    files.sort();
    assert_eq!(files.len(), 6, "{files:?}");
    for f in &files {
        assert!(!f.contains('/') && !f.starts_with('.'), "{f}");
    }
    assert!(files.contains(&"a_b".to_string()), "{files:?}");
    // `a.b` and `a_b` both map to a_b: one keeps it, the other gets its path's hash.
    assert_eq!(files.iter().filter(|f| f.starts_with("a_b")).count(), 2);
    assert!(files
        .iter()
        .any(|f| f.starts_with("_tmp_torch2air_pwned_PWNED_")));
    assert!(files.iter().any(|f| f.starts_with("_x_y_")));
    // Every FileConstant names its parameter and its file.
    let air = read_air(&d.path().join("export_file/export.air"));
    let fcs = ops_of_type(&air, "FileConstant");
    assert_eq!(fcs.len(), 4);
    for fc in fcs {
        let fp = attr_s(fc, "file_path");
        let file = fp.rsplit('/').next().unwrap();
        assert!(files.iter().any(|f| f == file), "{fp}");
    }
    // Nothing else in /tmp changed but the test's own folder.
    let after: Vec<_> = tree(std::path::Path::new("/tmp"))
        .into_iter()
        .filter(|(p, _)| !p.starts_with(&d.path().display().to_string()))
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|(p, _)| !p.starts_with(&d.path().display().to_string()))
        .collect();
    let changed: Vec<_> = after
        .iter()
        .filter(|a| !before.contains(a))
        .map(|a| a.0.clone())
        .filter(|p| p.contains("torch2air"))
        .collect();
    assert!(changed.is_empty(), "{changed:?}");
}

#[test]
fn run_reads_only_weight_files_of_the_export() {
    use prost::Message;
    let d = tmp();
    let seed = model("seed_single.pt");
    let ins = ["--input", "f32[2,4]", "--input", "f32[2,4]"];
    let mut args = vec!["export", seed.to_str().unwrap(), "--weight-threshold", "0"];
    args.extend(ins);
    let (code, _, err) = cli(d.path(), &args);
    assert_eq!(code, 0, "{err}");
    let good = read_air(&d.path().join("export_file/export.air"));
    let run = |air: &str, extra: &[&str]| {
        let mut a = vec!["run", air];
        a.extend(ins);
        a.extend(extra);
        cli(d.path(), &a)
    };
    // From another working folder too: the weights are found next to the .air.
    let (code, _, err) = cli(
        std::path::Path::new("/"),
        &[
            "run",
            d.path().join("export_file/export.air").to_str().unwrap(),
            "--input",
            "f32[2,4]",
            "--input",
            "f32[2,4]",
        ],
    );
    assert_eq!(code, 0, "{err}");
    std::fs::write(d.path().join("secret"), [7u8; 32]).unwrap();
    for (case, target) in [
        ("dotdot", "../secret"),
        ("absolute", "/etc/hostname"),
        ("proc", "/proc/self/environ"),
    ] {
        let mut m = good.clone();
        for op in &mut m.graph[0].op {
            if op.r#type == "FileConstant" {
                op.attr.insert(
                    "file_path".into(),
                    torch2air::internal::ge::attr::string(&format!("export_file/{target}")),
                );
            }
        }
        let name = format!("export_file/{case}.air");
        std::fs::write(d.path().join(&name), m.encode_to_vec()).unwrap();
        let (code, out, err) = run(&name, &[]);
        assert_eq!(code, 2, "{case}: {out}{err}");
        assert!(
            err.starts_with("error: ") && err.contains("fix:"),
            "{case}: {err}"
        );
        assert!(!out.contains("output 0"), "{case}: {out}");
    }
    // A weight file replaced by a symbolic link is refused; a short one is refused before reading.
    let p1 = d.path().join("export_file/p1");
    let bytes = std::fs::read(&p1).unwrap();
    std::fs::remove_file(&p1).unwrap();
    std::os::unix::fs::symlink(d.path().join("secret"), &p1).unwrap();
    let (code, _, err) = run("export_file/export.air", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    std::fs::remove_file(&p1).unwrap();
    std::fs::write(&p1, &bytes[..8]).unwrap();
    let (code, _, err) = run("export_file/export.air", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not hold the 32 bytes"), "{err}");
    // Weights kept elsewhere: allowed by the option.
    std::fs::write(&p1, &bytes).unwrap();
    std::fs::create_dir(d.path().join("elsewhere")).unwrap();
    let mut m = good.clone();
    for op in &mut m.graph[0].op {
        if op.r#type == "FileConstant" {
            let fp = attr_s(op, "file_path");
            let file = fp.rsplit('/').next().unwrap().to_string();
            std::fs::copy(
                d.path().join("export_file").join(&file),
                d.path().join("elsewhere").join(&file),
            )
            .unwrap();
            let abs = d.path().join("elsewhere").join(&file);
            op.attr.insert(
                "file_path".into(),
                torch2air::internal::ge::attr::string(abs.to_str().unwrap()),
            );
        }
    }
    std::fs::create_dir(d.path().join("moved")).unwrap();
    std::fs::write(d.path().join("moved/export.air"), m.encode_to_vec()).unwrap();
    let (code, _, err) = run("moved/export.air", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--allow-external-weights"), "{err}");
    let (code, out, err) = run("moved/export.air", &["--allow-external-weights"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn no_path_torch2air_writes_goes_through_a_symbolic_link() {
    let d = tmp();
    let real = d.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, d.path().join("link")).unwrap();
    let seed = model("seed_single.pt");
    let seed = seed.to_str().unwrap();
    let ins = ["--input", "f32[2,4]", "--input", "f32[2,4]"];
    for path in ["link", "link/", "link/sub", "link/sub/deeper/"] {
        let mut a = vec!["export", seed, "--export-path", path];
        a.extend(ins);
        let (code, _, err) = cli(d.path(), &a);
        assert_clean_error(code, &err, "is a symbolic link");
        assert_eq!(code, 2, "{path}: {err}");
    }
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            seed,
            "--input",
            "f32[2,4]",
            "--input",
            "f32[2,4]",
            "--report",
            "link/ops.md",
        ],
    );
    assert_clean_error(
        code,
        &err,
        "'link' (in report file 'link/ops.md') is a symbolic link",
    );
    let mut a = vec!["export", seed];
    a.extend(ins);
    assert_eq!(cli(d.path(), &a).0, 0);
    for out in ["link/sub", "link/"] {
        let mut a = vec!["run", "export_file/export.air", "--save-outputs", out];
        a.extend(ins);
        let (code, _, err) = cli(d.path(), &a);
        assert_clean_error(code, &err, "is a symbolic link");
    }
    // Nothing was written through the link.
    assert!(files_in(&real).is_empty(), "{:?}", files_in(&real));
}

#[test]
fn a_failed_commit_leaves_the_previous_export_whole_and_leftovers_are_cleaned() {
    let d = tmp();
    let m = model("regress/odd_names.pt");
    let m = m.to_str().unwrap();
    let (code, _, err) = cli(d.path(), &["export", m, "--weight-threshold", "0"]);
    assert_eq!(code, 0, "{err}");
    let folder = d.path().join("export_file");
    let before = tree(&folder);
    // What a `kill -9` of an earlier export left, and a file torch2air did not write.
    std::fs::write(folder.join(".torch2air-abc123"), b"partial").unwrap();
    std::fs::write(folder.join(".tmp-not-ours"), b"keep").unwrap();
    let long = "n".repeat(300);
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m,
            "--weight-threshold",
            "0",
            "--export-name",
            &long,
        ],
    );
    assert_clean_error(code, &err, "at most 255 bytes");
    assert_eq!(code, 2);
    let after: Vec<_> = tree(&folder)
        .into_iter()
        .filter(|(p, _)| !p.ends_with(".tmp-not-ours"))
        .collect();
    assert_eq!(after, before, "the previous export changed");
    assert_eq!(
        std::fs::read(folder.join(".tmp-not-ours")).unwrap(),
        b"keep"
    );
    // The leftover temp file of torch2air's own was removed by the new export.
    assert!(!folder.join(".torch2air-abc123").exists());
}

#[test]
fn python_scalars_are_consts_of_the_tensors_dtype_and_zero_pads_make_no_node() {
    let r = verify_fixture("regress/scalars_pads.pt", &["f32[2,3,4]"], 1e-6);
    let t = types(&r.air);
    assert!(!t.iter().any(|x| x == "PadV3" || x == "Cast"), "{t:?}");
    // Mul and Add of f32 Consts: the trace's f64 scalars were converted at export.
    let consts = ops_of_type(&r.air, "Const");
    for c in consts {
        let v = c.attr["value"].value.as_ref().unwrap();
        let torch2air::proto::attr_def::Value::T(t) = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            t.desc.as_ref().unwrap().dtype,
            torch2air::internal::dtype::DType::F32.ge_proto(),
            "{}",
            c.name
        );
    }
}
