//! All-or-nothing exports (issue 11, item 2): the record of what an export wrote, stale files of
//! a previous export removed and nothing else, two exports in one folder kept apart, and
//! interrupted commits (SIGTERM, `kill -9`) that never leave an `.air` beside weights that are
//! not its own.
mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INS: [&str; 4] = ["--input", "f32[2,4]", "--input", "f32[2,4]"];

fn seed() -> String {
    model("seed_single.pt").to_str().unwrap().to_string()
}

/// The seed model with other weights (p1 + 1, p2 - 3) under the same parameter names, so that
/// a folder holding the weights of one and the `.air` of the other computes a third answer.
fn seed_b(dir: &Path) -> String {
    let m = tch::CModule::load(model("seed_single.pt")).unwrap();
    tch::no_grad(|| {
        for (n, t) in m.named_parameters().unwrap() {
            let mut t = t;
            let _ = t.f_add_scalar_(if n == "p1" { 1.0 } else { -3.0 }).unwrap();
        }
    });
    let p = dir.join("seed_b.pt");
    m.save(&p).unwrap();
    p.to_str().unwrap().to_string()
}

fn export(cwd: &Path, model: &str, extra: &[&str]) -> (i32, String) {
    let mut a = vec!["export", model];
    a.extend(INS);
    a.extend(extra);
    let (c, _, e) = cli(cwd, &a);
    (c, e)
}

/// The bytes of output 0 of `torch2air run` on `air` (same random inputs every time), or the
/// run's error.
fn run_output(cwd: &Path, air: &str, tag: &str) -> Result<Vec<u8>, String> {
    let out = format!("out_{tag}");
    let mut a = vec!["run", air, "--save-outputs", &out];
    a.extend(INS);
    let (c, _, e) = cli(cwd, &a);
    if c != 0 {
        return Err(e);
    }
    let bytes = std::fs::read(cwd.join(&out).join("output_0.npy")).unwrap();
    std::fs::remove_dir_all(cwd.join(&out)).unwrap();
    Ok(bytes)
}

/// Every file under `dir` (recursively) with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            v.extend(tree(&p));
        } else if m.is_file() {
            v.push((p.clone(), std::fs::read(&p).unwrap()));
        } else {
            v.push((
                p.clone(),
                std::fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            ));
        }
    }
    v.sort();
    v
}

fn temps_in(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .map(|(p, _)| p.display().to_string())
        .filter(|p| p.contains(".torch2air-"))
        .collect()
}

#[test]
fn a_re_export_removes_the_files_the_previous_export_wrote_and_nothing_else() {
    let d = tmp();
    let seed = seed();
    assert_eq!(export(d.path(), &seed, &["--weight-threshold", "0"]).0, 0);
    let f = d.path().join("export_file");
    assert_eq!(files_in(&f), ["dynamo.pbtxt", "export.air", "p1", "p2"]);
    let (files, bytes) = record(&f.join("export.air"));
    assert_eq!(files, ["dynamo.pbtxt", "p1", "p2"]);
    assert_eq!(bytes[1], 32);
    let pbtxt = std::fs::metadata(f.join("dynamo.pbtxt")).unwrap().len();
    assert_eq!(bytes[0] as u64, pbtxt);
    // A file the user put there.
    std::fs::write(f.join("notes.txt"), b"mine").unwrap();
    // Inline weights now: p1 and p2 are the previous export's and go.
    let (c, e) = export(d.path(), &seed, &[]);
    assert_eq!(c, 0, "{e}");
    assert_eq!(files_in(&f), ["dynamo.pbtxt", "export.air", "notes.txt"]);
    assert_eq!(std::fs::read(f.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(record(&f.join("export.air")).0, ["dynamo.pbtxt"]);
    // A recorded file the user has since replaced (other size) is not the export's any more.
    assert_eq!(export(d.path(), &seed, &["--weight-threshold", "0"]).0, 0);
    std::fs::write(f.join("p2"), b"the user's own p2").unwrap();
    assert_eq!(export(d.path(), &seed, &[]).0, 0);
    assert!(!f.join("p1").exists());
    assert_eq!(std::fs::read(f.join("p2")).unwrap(), b"the user's own p2");
    assert!(run_output(d.path(), "export_file/export.air", "a").is_ok());
}

#[test]
fn a_hostile_record_cannot_name_files_outside_the_export_folder() {
    let d = tmp();
    let outside = d.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"12345678").unwrap();
    std::fs::create_dir_all(outside.join("rank_1")).unwrap();
    std::fs::write(outside.join("rank_1").join("victim"), b"12345678").unwrap();
    assert_eq!(export(d.path(), &seed(), &[]).0, 0);
    let f = d.path().join("export_file");
    std::os::unix::fs::symlink(outside.join("victim"), f.join("lnk")).unwrap();
    std::os::unix::fs::symlink(&outside, f.join("rank_1")).unwrap();
    // The old .air's record names files outside the folder, through links, and itself.
    let abs = outside.join("victim").display().to_string();
    let hostile = [
        "../outside/victim",
        abs.as_str(),
        "rank_0/../../outside/victim",
        "lnk",
        "rank_1/victim",
        "rank_1",
        "",
    ];
    let air = f.join("export.air");
    let mut m = read_air(&air);
    m.attr.insert(
        "torch2air_files".into(),
        torch2air::internal::ge::attr::list_str(hostile.iter().map(|s| s.to_string()).collect()),
    );
    m.attr.insert(
        "torch2air_file_bytes".into(),
        torch2air::internal::ge::attr::list_int(vec![8; hostile.len()]),
    );
    std::fs::write(&air, prost::Message::encode_to_vec(&m)).unwrap();
    let before = tree(&outside);
    let (c, e) = export(d.path(), &seed(), &[]);
    assert_eq!(c, 0, "{e}");
    assert_eq!(tree(&outside), before);
    assert!(std::fs::symlink_metadata(f.join("lnk")).is_ok());
    assert!(std::fs::symlink_metadata(f.join("rank_1")).is_ok());
    // The new record lists only what this export wrote.
    assert_eq!(record(&air).0, ["dynamo.pbtxt"]);
}

#[test]
fn a_second_export_may_not_overwrite_the_weights_of_another_in_the_same_folder() {
    let d = tmp();
    let (a, b) = (seed(), seed_b(d.path()));
    let fc = ["--weight-threshold", "0"];
    let (c, e) = export(d.path(), &a, &[&fc[..], &["--export-name", "a"]].concat());
    assert_eq!(c, 0, "{e}");
    let out_a = run_output(d.path(), "export_file/a.air", "a").unwrap();
    let (c, e) = export(d.path(), &b, &[&fc[..], &["--export-name", "b"]].concat());
    assert_clean_error(c, &e, "belongs to the export 'a.air' in the same folder");
    assert_eq!(c, 2);
    assert!(!d.path().join("export_file/b.air").exists());
    assert_eq!(
        run_output(d.path(), "export_file/a.air", "a2").unwrap(),
        out_a
    );
    // Inline weights share nothing: both exports live side by side.
    let (c, e) = export(d.path(), &b, &["--export-name", "b"]);
    assert_eq!(c, 0, "{e}");
    assert_eq!(
        run_output(d.path(), "export_file/a.air", "a3").unwrap(),
        out_a
    );
    assert_ne!(
        run_output(d.path(), "export_file/b.air", "b").unwrap(),
        out_a
    );
    // Once a's .air is gone, its files are free to take.
    std::fs::remove_file(d.path().join("export_file/a.air")).unwrap();
    let (c, e) = export(d.path(), &b, &[&fc[..], &["--export-name", "b"]].concat());
    assert_eq!(c, 0, "{e}");
}

/// Starts an export of `model` (FileConstant weights) whose commit pauses `pause_ms` before
/// each step.
fn spawn_slow_export(cwd: &Path, model: &str, pause_ms: u64) -> Child {
    let mut a = vec!["export", model];
    a.extend(INS);
    a.extend(["--weight-threshold", "0"]);
    Command::new(env!("CARGO_BIN_EXE_torch2air"))
        .args(&a)
        .current_dir(cwd)
        .env("TORCH2AIR_FAULT_COMMIT_PAUSE_MS", pause_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the export's commit has begun (the old `.air` is gone) or the process ended;
/// true when the commit was reached.
fn wait_for_commit(child: &mut Child, air: &Path) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if !air.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("the export did not reach its commit in 60 s");
}

#[test]
fn sigterm_during_the_commit_exits_143_and_leaves_no_temp_files_and_no_mixed_folder() {
    let d = tmp();
    let (a, b) = (seed(), seed_b(d.path()));
    assert_eq!(export(d.path(), &a, &["--weight-threshold", "0"]).0, 0);
    let air = d.path().join("export_file/export.air");
    let out_a = run_output(d.path(), "export_file/export.air", "a").unwrap();
    let mut child = spawn_slow_export(d.path(), &b, 300);
    assert!(wait_for_commit(&mut child, &air));
    // Between the removal of the old .air and the first rename: p1 may be new, p2 old.
    std::thread::sleep(Duration::from_millis(450));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert_eq!(
        temps_in(&d.path().join("export_file")),
        Vec::<String>::new()
    );
    // No .air stands beside weights half of one export, half of the other.
    assert!(!air.exists());
    // The next export makes the folder whole again.
    assert_eq!(export(d.path(), &a, &["--weight-threshold", "0"]).0, 0);
    assert_eq!(
        run_output(d.path(), "export_file/export.air", "a2").unwrap(),
        out_a
    );
}

#[test]
fn a_kill_9_loop_over_an_earlier_export_never_leaves_a_mixed_folder() {
    let d = tmp();
    let (a, b) = (seed(), seed_b(d.path()));
    let f = d.path().join("export_file");
    let air = f.join("export.air");
    let weights = || -> Vec<Option<Vec<u8>>> {
        ["p1", "p2"]
            .iter()
            .map(|n| std::fs::read(f.join(n)).ok())
            .collect()
    };
    let fc = ["--weight-threshold", "0"];
    assert_eq!(export(d.path(), &b, &fc).0, 0);
    let (out_b, w_b) = (
        run_output(d.path(), "export_file/export.air", "b").unwrap(),
        weights(),
    );
    assert_eq!(export(d.path(), &a, &fc).0, 0);
    let (out_a, w_a) = (
        run_output(d.path(), "export_file/export.air", "a").unwrap(),
        weights(),
    );
    assert_ne!(out_a, out_b);
    assert_ne!(w_a, w_b);
    let pause = 120;
    let (mut killed_in_commit, mut no_air, mut whole) = (0, 0, 0);
    for i in 0..10u64 {
        // Every round replaces a complete export of the other model.
        let (prev, next) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        assert_eq!(export(d.path(), prev, &fc).0, 0);
        let mut child = spawn_slow_export(d.path(), next, pause);
        if wait_for_commit(&mut child, &air) {
            killed_in_commit += 1;
        }
        // Kill at a different step of the commit each round (5 pauses in all).
        std::thread::sleep(Duration::from_millis((i % 6) * pause + pause / 2));
        let _ = child.kill();
        let _ = child.wait();
        if air.exists() {
            let w = weights();
            assert!(
                w == w_a || w == w_b,
                "round {i}: the .air stands beside weights of both exports"
            );
            let out = run_output(d.path(), "export_file/export.air", &format!("k{i}"))
                .expect("an .air that is there runs");
            assert!(
                out == out_a || out == out_b,
                "round {i}: the .air computes neither export's answer"
            );
            whole += 1;
        } else {
            no_air += 1;
        }
    }
    assert!(
        killed_in_commit >= 8,
        "only {killed_in_commit} kills landed in a commit"
    );
    assert!(whole > 0 && no_air > 0, "whole {whole}, no .air {no_air}");
    // The next export cleans what the kills left and is whole.
    assert_eq!(export(d.path(), &a, &fc).0, 0);
    assert_eq!(temps_in(&f), Vec::<String>::new());
    assert_eq!(files_in(&f), ["dynamo.pbtxt", "export.air", "p1", "p2"]);
    assert_eq!(
        run_output(d.path(), "export_file/export.air", "end").unwrap(),
        out_a
    );
}

#[test]
fn a_multi_card_re_export_with_fewer_ranks_removes_the_old_ranks_files() {
    let d = tmp();
    let m = model("multicard/seed_mp.pt");
    let exp = |extra: &[&str]| {
        let mut a = vec![
            "export",
            m.to_str().unwrap(),
            "--input",
            "i32[2,2]",
            "--input",
            "i32[2,2]",
            "--weight-threshold",
            "0",
        ];
        a.extend(extra);
        let (c, _, e) = cli(d.path(), &a);
        assert_eq!(c, 0, "{e}");
    };
    let f = d.path().join("export_file");
    exp(&["--world-size", "4"]);
    let all = files_in(&f);
    for r in 0..4 {
        assert!(all.contains(&format!("export{r}.air")), "{all:?}");
        assert!(all.contains(&format!("rank_{r}")), "{all:?}");
    }
    let rank3 = files_in(&f.join("rank_3"));
    assert!(rank3.len() > 1, "rank 3 has weight files: {rank3:?}");
    std::fs::write(f.join("rank_2").join("mine.txt"), b"keep").unwrap();
    exp(&["--world-size", "2"]);
    assert_eq!(
        files_in(&f),
        ["export0.air", "export1.air", "rank_0", "rank_1", "rank_2"]
    );
    // rank_2 keeps the file torch2air did not write, and only that.
    assert_eq!(files_in(&f.join("rank_2")), ["mine.txt"]);
    // `--rank 1` rewrites rank 1 and leaves rank 0's export in place.
    let before0 = std::fs::read(f.join("export0.air")).unwrap();
    exp(&["--world-size", "2", "--rank", "1"]);
    assert_eq!(std::fs::read(f.join("export0.air")).unwrap(), before0);
    assert!(files_in(&f.join("rank_0")).len() > 1);
    assert_eq!(
        files_in(&f),
        ["export0.air", "export1.air", "rank_0", "rank_1", "rank_2"]
    );
    let (files, _) = record(&f.join("export1.air"));
    assert!(files.iter().all(|p| p.starts_with("rank_1/")), "{files:?}");
    assert!(
        files.contains(&"rank_1/dynamo.pbtxt".to_string()),
        "{files:?}"
    );
}

/// The record an .air carries: the files written beside it and their sizes.
fn record(air: &Path) -> (Vec<String>, Vec<i64>) {
    let m = read_air(air);
    let files = match &m.attr["torch2air_files"].value {
        Some(torch2air::proto::attr_def::Value::List(l)) => {
            l.s.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect()
        }
        other => panic!("torch2air_files: {other:?}"),
    };
    let bytes =
        torch2air::internal::ge::attr::as_list_int(&m.attr["torch2air_file_bytes"]).unwrap();
    (files, bytes)
}

#[test]
fn after_a_kill_9_mid_commit_the_next_export_removes_the_old_exports_files() {
    let d = tmp();
    let a = seed();
    let f = d.path().join("export_file");
    assert_eq!(export(d.path(), &a, &["--weight-threshold", "0"]).0, 0);
    // An inline re-export, killed once the old .air is moved aside and before anything else.
    let mut c = vec!["export", a.as_str()];
    c.extend(INS);
    let mut child = Command::new(env!("CARGO_BIN_EXE_torch2air"))
        .args(&c)
        .current_dir(d.path())
        .env("TORCH2AIR_FAULT_COMMIT_PAUSE_MS", "400")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for_commit(&mut child, &f.join("export.air")));
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    let left = files_in(&f);
    assert!(
        left.iter().any(|n| n.starts_with(".torch2air-")),
        "{left:?}"
    );
    assert!(left.contains(&"p1".to_string()), "{left:?}");
    // The next export learns from the moved-aside .air that p1 and p2 were the old export's.
    assert_eq!(export(d.path(), &a, &[]).0, 0);
    assert_eq!(files_in(&f), ["dynamo.pbtxt", "export.air"]);
}
