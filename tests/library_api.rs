//! The public API as a dependent crate sees it: only `torch2air::{...}` items re-exported by
//! lib.rs (no `internal`), and examples/library.rs run end to end (included here, so this test
//! builds it).
use std::path::{Path, PathBuf};
use torch2air::tch::{Device, Kind, Tensor};
use torch2air::{Air, Error, Export, Input, WeightMode};

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

#[path = "../examples/library.rs"]
mod library_example;

#[test]
fn the_library_example_exports_runs_and_matches_torchscript() {
    let dir = tempfile::tempdir().unwrap();
    let log = library_example::demo(
        &model("seed_single.pt"),
        dir.path(),
        &model("dynamic/traced_chain.pt"),
    )
    .unwrap()
    .join("\n");
    // Both exports were written, the first with FileConstant weights and files beside it.
    assert!(dir.path().join("files/export.air").is_file());
    assert!(dir.path().join("dynamic/dyn.air").is_file());
    assert!(log.contains("FileConstant weights"), "{log}");
    assert!(log.contains("compile with: atc "), "{log}");
    // Compared with TorchScript (the example asserts each error is small): the static export,
    // the dynamic one at the sample size and at a grown size of its dynamic dims.
    assert!(log.contains("dynamic dims: [\""), "{log}");
    assert!(log.contains("run at a grown size:"), "{log}");
    assert!(log.matches("max abs err").count() >= 3, "{log}");
}

#[test]
fn builder_export_then_air_run_equals_torchscript() {
    let dir = tempfile::tempdir().unwrap();
    let x = Tensor::randn([2, 4], (Kind::Float, Device::Cpu));
    let y = Tensor::randn([2, 4], (Kind::Float, Device::Cpu));
    let r = Export::new(model("seed_single.pt"))
        .export_path(dir.path().to_string_lossy())
        .export_name("m")
        .run(vec![
            Input::from(x.shallow_clone()),
            Input::from(y.shallow_clone()),
        ])
        .unwrap();
    assert_eq!(r.air, dir.path().join("m.air"));
    assert_eq!(r.weight_mode, WeightMode::Const);
    let air = Air::load(&r.air).unwrap();
    assert_eq!(air.weight_mode(), WeightMode::Const);
    let inputs = air.inputs();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[0].shape, vec![2, 4]);
    assert!(air.check().is_empty(), "{:?}", air.check());
    let ours = air.run(&[x.shallow_clone(), y.shallow_clone()]).unwrap();
    let theirs = torchscript_outputs_of(
        &model("seed_single.pt"),
        vec![Input::from(x), Input::from(y)],
    );
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(&theirs) {
        assert!(a.allclose(b, 1e-5, 1e-6, false));
    }
}

fn torchscript_outputs_of(model: &Path, inputs: Vec<Input>) -> Vec<Tensor> {
    torch2air::torchscript_outputs(model, &inputs).unwrap()
}

#[test]
fn library_errors_name_the_api_options_not_cli_flags() {
    let dir = tempfile::tempdir().unwrap();
    // Dynamic dims without dynamic: the CLI says --dynamic; the library names its option.
    let e = Export::new(model("seed_single.pt"))
        .export_path(dir.path().to_string_lossy())
        .dynamic_dims("x", &[0])
        .run(vec![])
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Input(_)), "{text}");
    assert!(!text.contains("--"), "{text}");
    assert!(text.contains("Export::dynamic"), "{text}");
    // A bad SPEC.
    let e = Input::spec("f33[2]", 0).unwrap_err().to_string();
    assert!(e.contains("f33"), "{e}");
}
