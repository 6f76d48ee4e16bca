//! The ATC step (issue 14, item 3): every export prints the `atc` command that compiles it, and
//! `--atc-script` writes it to `<export-path>/atc.sh`. ATC is not here, so a stand-in `atc` on
//! PATH records what it was given and checks, from the folder it was started in, that every
//! path the command and the graph's FileConstants name is there.
mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// A stand-in `atc` in `dir/bin` that writes its folder and arguments to `dir/atc_call.txt`,
/// and fails unless the `--model` (or `--shard_model_dir`) it is given exists from there.
fn fake_atc(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("atc_call.txt");
    let script = format!(
        "#!/bin/sh\npwd > '{}'\nfor a in \"$@\"; do echo \"$a\" >> '{}'; case \"$a\" in --model=*) test -f \"${{a#--model=}}\" || exit 7;; --shard_model_dir=*) test -d \"${{a#--shard_model_dir=}}\" || exit 7;; esac; done\n",
        log.display(),
        log.display()
    );
    std::fs::write(bin.join("atc"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("atc"), std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs `sh script` from `/` with `env`; returns (exit code, stderr).
fn run_script(script: &Path, path: &str, soc: Option<&str>) -> (i32, String) {
    let mut c = Command::new("sh");
    c.arg(script).current_dir("/").env("PATH", path);
    match soc {
        Some(s) => c.env("SOC_VERSION", s),
        None => c.env_remove("SOC_VERSION"),
    };
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_single_card_export_prints_and_writes_the_atc_command_that_finds_its_files() {
    let d = tmp();
    let seed = model("seed_single.pt");
    let (c, out, e) = cli(
        d.path(),
        &[
            "export",
            seed.to_str().unwrap(),
            "--input",
            "f32[2,4]",
            "--input",
            "f32[2,4]",
            "--export-path",
            "out/a",
            "--weight-threshold",
            "0",
            "--atc-script",
        ],
    );
    assert_eq!(c, 0, "{e}");
    let cmd = "atc --model=out/a/export.air --framework=1 --output=out/a/export \
               --soc_version='<SOC_VERSION>' --input_shape='x:2,4;y:2,4'";
    assert!(out.contains(cmd), "{out}");
    let script = d.path().join("out/a/atc.sh");
    let path = fake_atc(d.path());
    // Without SOC_VERSION the script stops before calling atc, and says what to set.
    let (code, err) = run_script(&script, &path, None);
    assert_ne!(code, 0);
    assert!(err.contains("set SOC_VERSION"), "{err}");
    assert!(!d.path().join("atc_call.txt").exists());
    let (code, err) = run_script(&script, &path, Some("Ascend910B1"));
    assert_eq!(code, 0, "{err}");
    let call = std::fs::read_to_string(d.path().join("atc_call.txt")).unwrap();
    let mut lines = call.lines();
    let cwd = Path::new(lines.next().unwrap()).to_path_buf();
    let args: Vec<&str> = lines.collect();
    assert_eq!(
        args,
        [
            "--model=out/a/export.air",
            "--framework=1",
            "--output=out/a/export",
            "--soc_version=Ascend910B1",
            "--input_shape=x:2,4;y:2,4"
        ]
    );
    // ATC runs where the export ran: the FileConstants' file_path resolve from there.
    assert_eq!(
        cwd.canonicalize().unwrap(),
        d.path().canonicalize().unwrap()
    );
    let m = read_air(&d.path().join("out/a/export.air"));
    let fcs = ops_of_type(&m, "FileConstant");
    assert_eq!(fcs.len(), 2);
    for fc in fcs {
        let p = attr_s(fc, "file_path");
        assert!(cwd.join(&p).is_file(), "{p} from {}", cwd.display());
    }
    // The script is part of the export: recorded, and removed by a re-export without it.
    assert_eq!(
        cli(
            d.path(),
            &[
                "export",
                seed.to_str().unwrap(),
                "--input",
                "f32[2,4]",
                "--input",
                "f32[2,4]",
                "--export-path",
                "out/a",
            ],
        )
        .0,
        0
    );
    assert_eq!(
        files_in(&d.path().join("out/a")),
        ["dynamo.pbtxt", "export.air"]
    );
}

#[test]
fn a_dynamic_export_gives_minus_one_for_its_dynamic_dims() {
    let d = tmp();
    let m = model("dynamic/flatten_mlp.pt");
    let (c, out, e) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[2,5,4]",
            "--dynamic-dims",
            "x=0",
        ],
    );
    assert_eq!(c, 0, "{e}");
    assert!(out.contains("--input_shape=x:-1,5,4"), "{out}");
}

#[test]
fn a_multi_card_export_gives_the_distributed_build_over_its_json_configs() {
    let d = tmp();
    let m = model("multicard/seed_mp.pt");
    let mut args = vec![
        "export",
        m.to_str().unwrap(),
        "--input",
        "i32[2,2]",
        "--input",
        "i32[2,2]",
        "--world-size",
        "2",
        "--export-path",
        "mp",
        "--atc-script",
    ];
    // Without the json configs the command is given with a note on how to get them.
    let (c, out, e) = cli(d.path(), &args);
    assert_eq!(c, 0, "{e}");
    assert!(out.contains("export with --auto-atc-config"), "{out}");
    args.push("--auto-atc-config");
    let (c, out, e) = cli(d.path(), &args);
    assert_eq!(c, 0, "{e}");
    assert!(!out.contains("export with --auto-atc-config"), "{out}");
    let path = fake_atc(d.path());
    let (code, err) = run_script(&d.path().join("mp/atc.sh"), &path, Some("Ascend910B1"));
    assert_eq!(code, 0, "{err}");
    let call = std::fs::read_to_string(d.path().join("atc_call.txt")).unwrap();
    let mut lines = call.lines();
    let cwd = Path::new(lines.next().unwrap()).to_path_buf();
    let args: Vec<&str> = lines.collect();
    assert!(args.contains(&"--distributed_cluster_build=1"), "{args:?}");
    assert!(args.contains(&"--framework=1"), "{args:?}");
    for (opt, file) in [
        ("--cluster_config=", "mp/numa_config.json"),
        ("--model_relation_config=", "mp/model_relation_config.json"),
    ] {
        assert!(args.contains(&format!("{opt}{file}").as_str()), "{args:?}");
        assert!(cwd.join(file).is_file(), "{file}");
    }
    // The shard folder holds every rank's .air that the relation config names.
    let rel: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cwd.join("mp/model_relation_config.json")).unwrap(),
    )
    .unwrap();
    for dc in rel["deploy_config"].as_array().unwrap() {
        let f = dc["submodel_name"].as_str().unwrap();
        assert!(cwd.join("mp").join(f).is_file(), "{f}");
    }
}
