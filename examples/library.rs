//! torch2air as a library, as a dependent crate uses it, through the public API only: export a
//! TorchScript file with TorchAir's names and with the builder, from tensors and from SPECs; read
//! what the export decided (guards, weight mode, files, the ATC command); load the `.air`, run it
//! with the reference runner and compare with TorchScript. Built by `cargo test` (examples are),
//! run with:
//!
//!     eval "$(./dev env)"; cargo run --example library -- models/seed_single.pt OUT_DIR [DYNAMIC_MODEL]
//!
//! DYNAMIC_MODEL (default: the first model) is exported with dynamic dims and run at a grown size.
use std::path::{Path, PathBuf};
use torch2air::tch::{Device, Kind, Tensor};
use torch2air::{dynamo_export, Air, CompilerConfig, Export, Input, PbtxtMode, WeightMode};

#[cfg_attr(test, allow(dead_code))]
fn main() -> torch2air::Result<()> {
    let mut args = std::env::args().skip(1);
    let model = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "models/seed_single.pt".into()),
    );
    let out = PathBuf::from(args.next().unwrap_or_else(|| "export_file".into()));
    let dyn_model = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| model.clone());
    for line in demo(&model, &out, &dyn_model)? {
        println!("{line}");
    }
    Ok(())
}

/// Everything the example does; returns what it would print (tests/library_api.rs calls it).
pub fn demo(model: &Path, out: &Path, dyn_model: &Path) -> torch2air::Result<Vec<String>> {
    let mut log = vec![];
    // 1. TorchAir's names: dynamo_export(args, model, export_path, export_name, dynamic, config),
    //    inputs from tensors; weights as FileConstant nodes and files (threshold 0).
    let x = Tensor::randn([2, 4], (Kind::Float, Device::Cpu));
    let y = Tensor::randn([2, 4], (Kind::Float, Device::Cpu));
    let mut config = CompilerConfig::default();
    config.export.weight_threshold = Some(0);
    let files_dir = out.join("files");
    let report = dynamo_export(
        vec![Input::from(x), Input::from(y)],
        model,
        &files_dir.to_string_lossy(),
        "export",
        false,
        &config,
    )?;
    assert_eq!(report.weight_mode, WeightMode::FileConstant);
    log.push(format!(
        "exported {} ({} nodes, {:?} weights of {} bytes, {} files)",
        report.air.display(),
        report.node_count,
        report.weight_mode,
        report.weight_bytes,
        report.files.len()
    ));
    for g in &report.guards {
        log.push(format!("guard: {g}"));
    }
    log.push(format!("compile with: {}", report.atc));
    compare(&mut log, model, &report.air, &report.input_tensors)?;

    // 2. The builder, inputs from SPECs (none: a traced module's own), dynamic dims, a lean
    //    pbtxt, on another thread (the report is Send).
    let inputs = if dyn_model == model {
        vec![Input::spec("f32[2,4]", 0)?, Input::spec("f32[2,4]", 1)?]
    } else {
        vec![]
    };
    let dyn_dir = out.join("dynamic");
    let export = Export::new(dyn_model)
        .export_path(dyn_dir.to_string_lossy())
        .export_name("dyn")
        .dynamic(true)
        .pbtxt(PbtxtMode::Lean);
    let report = std::thread::spawn(move || export.run(inputs))
        .join()
        .expect("export thread")?;
    log.push(format!("dynamic dims: {:?}", report.dynamic_dims));
    for n in &report.notes {
        log.push(format!("note: {n}"));
    }
    let air = Air::load(&report.air)?;
    for i in air.inputs() {
        log.push(format!(
            "graph input {}: {:?} {:?}",
            i.name, i.dtype, i.shape
        ));
    }
    assert!(air.check().is_empty(), "schema problems: {:?}", air.check());
    compare(&mut log, dyn_model, &report.air, &report.input_tensors)?;
    // A dynamic graph runs at other sizes of its dynamic dims: grow each by 3.
    let mut grown: Vec<Tensor> = report
        .input_tensors
        .iter()
        .map(|t| t.shallow_clone())
        .collect();
    for &(i, d) in &report.dynamic_input_dims {
        let t = &grown[i];
        let more = t
            .narrow(d as i64, 0, 1)
            .repeat_interleave_self_int(3, Some(d as i64), None);
        grown[i] = Tensor::cat(&[t, &more], d as i64);
    }
    if !report.dynamic_input_dims.is_empty() {
        log.push("run at a grown size:".into());
        compare(&mut log, dyn_model, &report.air, &grown)?;
    }
    Ok(log)
}

/// Runs the .air and the TorchScript module on the same inputs and prints the largest error.
fn compare(
    log: &mut Vec<String>,
    model: &Path,
    air: &Path,
    inputs: &[Tensor],
) -> torch2air::Result<()> {
    let ours = Air::load(air)?.run(inputs)?;
    let args: Vec<Input> = inputs.iter().map(|t| t.shallow_clone().into()).collect();
    let reference = torch2air::torchscript_outputs(model, &args)?;
    for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
        let err = (a - b).abs().max().double_value(&[]);
        log.push(format!("output {i} {:?}: max abs err {err:e}", a.size()));
        assert!(err < 1e-4, "output {i} differs from TorchScript");
    }
    Ok(())
}
