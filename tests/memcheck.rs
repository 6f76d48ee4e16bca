//! The CLI under a memory checker (valgrind's memcheck): the shim's value passing, libtorch's
//! loading of traced archives, the walk, the writer and the runner, on a sample of real
//! commands. A heap corruption like the one traced `chunk(3, dim=-1)` caused (issue 10) fails
//! here with valgrind's report, even where the process would happen to survive it.
mod common;
use common::*;
use std::process::Command;

fn valgrind_present() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the CLI under memcheck in `cwd`; asserts a clean exit and no memory error.
fn memcheck(cwd: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("valgrind")
        .args([
            "--tool=memcheck",
            "--error-exitcode=99",
            "--leak-check=no",
            "--track-origins=no",
            "-q",
        ])
        .arg(env!("CARGO_BIN_EXE_torch2air"))
        .args(args)
        .current_dir(cwd)
        .env_remove("TORCH2AIR_WEIGHT_THRESHOLD")
        .output()
        .expect("runs valgrind");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "torch2air {args:?} under memcheck:\n{stdout}\n{stderr}"
    );
    assert!(
        !stderr.contains("Invalid read")
            && !stderr.contains("Invalid write")
            && !stderr.contains("Invalid free"),
        "{stderr}"
    );
    stdout
}

#[test]
fn traced_chunk_export_is_clean_under_memcheck() {
    if !valgrind_present() {
        eprintln!("skipped: valgrind is not installed (apt-get install valgrind)");
        return;
    }
    let d = tmp();
    let out = memcheck(
        d.path(),
        &["export", model("regress/chunk_neg3.pt").to_str().unwrap()],
    );
    assert!(out.contains("exported export_file/export.air"), "{out}");
}

#[test]
fn verify_with_weight_files_is_clean_under_memcheck() {
    if !valgrind_present() {
        eprintln!("skipped: valgrind is not installed (apt-get install valgrind)");
        return;
    }
    let d = tmp();
    let out = memcheck(
        d.path(),
        &[
            "verify",
            model("regress/odd_names.pt").to_str().unwrap(),
            "--weight-threshold",
            "0",
        ],
    );
    assert!(out.contains("verify: PASS (1 output(s)"), "{out}");
}
