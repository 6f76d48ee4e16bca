#![allow(dead_code)]
//! Helpers shared by the integration tests.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use torch2air::proto::{attr_def, AttrDef, ModelDef, OpDef};

/// The checkout the tests run in. Read at run time (cargo sets it for test binaries), not baked in
/// at compile time: a build cache shared between two checkouts must not point tests at the other.
pub fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

pub fn model(name: &str) -> PathBuf {
    root().join("models").join(name)
}

/// Runs the CLI in `cwd`; returns (exit code, stdout, stderr).
pub fn cli(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    cli_env(cwd, args, &[])
}

pub fn cli_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_torch2air"));
    c.args(args)
        .current_dir(cwd)
        .env_remove("TORCH2AIR_WEIGHT_THRESHOLD");
    for (k, v) in env {
        c.env(k, v);
    }
    let out: Output = c.output().expect("runs torch2air");
    let code = out.status.code().unwrap_or(-1);
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts the CLI failed cleanly: non-zero exit, an `error:` line, no panic.
pub fn assert_clean_error(code: i32, stderr: &str, needle: &str) {
    assert_ne!(code, 0, "expected failure; stderr: {stderr}");
    assert!(
        stderr.starts_with("error: "),
        "stderr should start with 'error: ': {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(
        !stderr.contains("Exception raised from"),
        "raw libtorch exception: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "stderr should mention {needle:?}: {stderr}"
    );
}

pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn read_air(p: &Path) -> ModelDef {
    torch2air::internal::write::read_air(p).expect("reads .air")
}

pub fn op<'a>(m: &'a ModelDef, name: &str) -> &'a OpDef {
    m.graph[0]
        .op
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no op {name}"))
}

pub fn ops_of_type<'a>(m: &'a ModelDef, ty: &str) -> Vec<&'a OpDef> {
    m.graph[0].op.iter().filter(|o| o.r#type == ty).collect()
}

pub fn types(m: &ModelDef) -> Vec<String> {
    m.graph[0].op.iter().map(|o| o.r#type.clone()).collect()
}

pub fn attr_i(op: &OpDef, k: &str) -> i64 {
    match op.attr.get(k).and_then(|a: &AttrDef| a.value.clone()) {
        Some(attr_def::Value::I(i)) => i,
        other => panic!("{}.{k} is not an int attr: {other:?}", op.name),
    }
}

pub fn attr_s(op: &OpDef, k: &str) -> String {
    match op.attr.get(k).and_then(|a| a.value.clone()) {
        Some(attr_def::Value::S(s)) => String::from_utf8(s).unwrap(),
        other => panic!("{}.{k} is not a string attr: {other:?}", op.name),
    }
}

/// The raw bytes of a parameter, read through tch's own module loader (not torch2air's shim).
pub fn param_bytes(model: &Path, name: &str) -> (Vec<u8>, Vec<i64>) {
    let m = tch::CModule::load(model).unwrap();
    let (_, t) = m
        .named_parameters()
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == name)
        .expect("parameter");
    let t = t.contiguous();
    let n = t.numel() * t.kind().elt_size_in_bytes();
    let mut buf = vec![0u8; n];
    t.copy_data_u8(&mut buf, t.numel());
    (buf, t.size())
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A fixture exported, run by the runner and compared with the TorchScript module; holds its
/// temp folder alive.
pub struct Verified {
    _dir: tempfile::TempDir,
    pub export: torch2air::internal::api::ExportReport,
    pub checks: Vec<torch2air::internal::verify::OutputCheck>,
    /// The written graph (it passed the schema check).
    pub air: ModelDef,
}

/// Verifies `models/<name>` on random inputs from `specs` (seed 7), static or with every input
/// dim dynamic: every output within `max_abs` of TorchScript, the written graph schema-checked
/// and clean under `torch2air check`.
pub fn verify_fixture_at(name: &str, specs: &[&str], dynamic: bool, max_abs: f64) -> Verified {
    let d = tmp();
    let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
    let args = torch2air::internal::spec::make_all(&specs, 7).unwrap();
    let out = d.path().join("out");
    let r = torch2air::internal::verify::verify(
        args,
        &model(name),
        out.to_str().unwrap(),
        "export",
        dynamic,
        &Default::default(),
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("{name} (dynamic {dynamic}): {e}"));
    for c in &r.checks {
        assert!(c.ok, "{name} (dynamic {dynamic}): {c}");
        assert!(c.max_abs <= max_abs, "{name} (dynamic {dynamic}): {c}");
    }
    assert!(!r.checks.is_empty());
    let air = read_air(&out.join("export.air"));
    torch2air::internal::ge::schema::check_graph(&air.graph[0]).unwrap();
    // `torch2air check` finds nothing in our own exports either.
    let problems = torch2air::internal::check::check_model(&air, &out);
    assert!(
        problems.is_empty(),
        "{name}: torch2air check: {problems:#?}"
    );
    Verified {
        _dir: d,
        export: r.export,
        checks: r.checks,
        air,
    }
}

/// `verify_fixture_at` of a static export.
pub fn verify_fixture(name: &str, specs: &[&str], max_abs: f64) -> Verified {
    verify_fixture_at(name, specs, false, max_abs)
}
