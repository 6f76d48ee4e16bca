//! TorchScript files that call torchvision's detection ops (models/make_torchvision.py), loaded
//! with `--load-library` and torchvision's own `_C.so` (./dev installs torchvision 0.28, the
//! release of torch 2.13): ROIAlign and DeformableConv2D nodes, their attrs, and verify's numbers
//! against TorchScript; without the library, a clear error that names the op and the fix.
mod common;
use common::*;
use std::path::PathBuf;

/// torchvision's op library beside the libtorch the tests were built with. Under ./dev (as in CI)
/// LIBTORCH is set and torchvision installed, so a missing library fails the test; a bare
/// `cargo test` without LIBTORCH skips with a message.
fn torchvision_lib() -> Option<PathBuf> {
    let Ok(lt) = std::env::var("LIBTORCH") else {
        eprintln!("skipped: LIBTORCH is not set (run the tests with ./dev test)");
        return None;
    };
    let lib = PathBuf::from(lt)
        .parent()
        .unwrap()
        .join("torchvision/_C.so");
    assert!(
        lib.is_file(),
        "{} is missing; fix: ./dev test installs torchvision into the venv",
        lib.display()
    );
    Some(lib)
}

fn npy(name: &str, k: usize) -> String {
    model(&format!("torchvision/{name}_{k}.npy"))
        .display()
        .to_string()
}

/// `verify` of a fixture with its saved inputs; returns the export folder and every output's max
/// abs error.
fn verify(lib: &std::path::Path, name: &str, inputs: usize) -> (tempfile::TempDir, Vec<f64>) {
    let d = tmp();
    let pt = model(&format!("torchvision/{name}.pt"));
    let mut args = vec![
        "verify".to_string(),
        pt.display().to_string(),
        "--export-path".into(),
        d.path().join("out").display().to_string(),
        "--load-library".into(),
        lib.display().to_string(),
    ];
    for k in 0..inputs {
        args.push("--input".into());
        args.push(npy(name, k));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = cli(d.path(), &args);
    assert_eq!(code, 0, "{name}: {out}\n{err}");
    assert!(out.contains("verify: PASS"), "{out}");
    let errs: Vec<f64> = out
        .lines()
        .filter_map(|l| l.split("max abs err ").nth(1))
        .map(|s| s.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    (d, errs)
}

#[test]
fn roi_align_lowers_to_roialign_with_the_aligned_modes() {
    let Some(lib) = torchvision_lib() else { return };
    let (d, errs) = verify(&lib, "roi_align", 2);
    assert_eq!(errs.len(), 3);
    assert!(errs.iter().all(|e| *e < 1e-5), "{errs:?}");
    let m = read_air(&d.path().join("out/export.air"));
    let ops = ops_of_type(&m, "ROIAlign");
    assert_eq!(ops.len(), 3);
    // aligned=False, sampling 2, 3x3, scale 0.5; aligned=True, adaptive sampling, 2x4.
    let modes: Vec<(i64, i64, i64, i64)> = ops
        .iter()
        .map(|o| {
            (
                attr_i(o, "roi_end_mode"),
                attr_i(o, "sample_num"),
                attr_i(o, "pooled_height"),
                attr_i(o, "pooled_width"),
            )
        })
        .collect();
    assert!(modes.contains(&(0, 2, 3, 3)), "{modes:?}");
    assert!(modes.contains(&(2, 0, 2, 4)), "{modes:?}");
    assert!(modes.contains(&(2, 1, 2, 2)), "{modes:?}");
}

#[test]
fn deform_conv2d_lowers_to_deformableconv2d_v2_and_v1() {
    let Some(lib) = torchvision_lib() else { return };
    let (d, errs) = verify(&lib, "deform_conv", 1);
    assert_eq!(errs.len(), 2);
    assert!(errs.iter().all(|e| *e < 1e-5), "{errs:?}");
    let m = read_air(&d.path().join("out/export.air"));
    let ops = ops_of_type(&m, "DeformableConv2D");
    assert_eq!(ops.len(), 2);
    for o in &ops {
        assert_eq!(attr_s(o, "data_format"), "NCHW");
        assert_eq!(attr_i(o, "deformable_groups"), 1);
    }
    let groups: Vec<i64> = ops.iter().map(|o| attr_i(o, "groups")).collect();
    assert!(groups.contains(&1) && groups.contains(&2), "{groups:?}");
    // DCNv1 (no mask) gets a mask of ones.
    assert_eq!(ops_of_type(&m, "OnesLike").len(), 1);
}

#[test]
fn a_two_stage_head_with_roi_align_verifies() {
    let Some(lib) = torchvision_lib() else { return };
    let (_d, errs) = verify(&lib, "detector", 2);
    assert_eq!(errs.len(), 1);
    assert!(errs[0] < 1e-5, "{errs:?}");
}

#[test]
fn without_the_library_the_error_names_the_op_and_the_fix() {
    let d = tmp();
    let pt = model("torchvision/roi_align.pt");
    let (code, _, err) = cli(d.path(), &["export", pt.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert_clean_error(code, &err, "torchvision::roi_align");
    assert!(err.contains("--load-library"), "{err}");
    assert!(err.contains("_C.so"), "{err}");
    // A library path that is not there, and a file that is not a library.
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            pt.to_str().unwrap(),
            "--load-library",
            "/nonexistent/_C.so",
        ],
    );
    assert_clean_error(code, &err, "no such file");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            pt.to_str().unwrap(),
            "--load-library",
            pt.to_str().unwrap(),
        ],
    );
    assert_clean_error(code, &err, "cannot be loaded");
    assert!(!d.path().join("export_file").exists());
}

#[test]
fn nms_keeps_the_samples_count_and_run_refuses_another() {
    let Some(lib) = torchvision_lib() else { return };
    let (d, errs) = verify(&lib, "nms", 2);
    // The kept indices, the kept boxes and their doubled scores.
    assert_eq!(errs.len(), 3);
    assert!(errs.iter().all(|e| *e == 0.0), "{errs:?}");
    let air = d.path().join("out/export.air");
    let m = read_air(&air);
    let ops = ops_of_type(&m, "NonMaxSuppressionV3");
    assert_eq!(ops.len(), 1);
    let guard = attr_s(ops[0], "_torch2air_sample_size");
    assert!(guard.starts_with("torchvision::nms kept "), "{guard}");
    assert!(guard.ends_with(" of 12 boxes"), "{guard}");
    // Twelve disjoint boxes: all are kept, another count than the sample's.
    let boxes: Vec<f32> = (0..12)
        .flat_map(|i| {
            let x = i as f32 * 10.0;
            [x, 0.0, x + 5.0, 5.0]
        })
        .collect();
    let b = torch2air::tch::Tensor::from_slice(&boxes).view([12, 4]);
    let s = torch2air::tch::Tensor::arange(
        12,
        (torch2air::tch::Kind::Float, torch2air::tch::Device::Cpu),
    );
    let save = |t: &torch2air::tch::Tensor, name: &str| {
        let p = d.path().join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        torch2air::internal::spec::write_npy(t, &mut f).unwrap();
        p.display().to_string()
    };
    let (bp, sp) = (save(&b, "boxes.npy"), save(&s, "scores.npy"));
    let (code, _, err) = cli(
        d.path(),
        &["run", air.to_str().unwrap(), "--input", &bp, "--input", &sp],
    );
    assert_clean_error(code, &err, "torchvision::nms kept");
}
