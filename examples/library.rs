//! torch2air as a library, as a dependent crate uses it: export a TorchScript file with
//! TorchAir's names (`dynamo_export(args, model, export_path, export_name, dynamic, config)`),
//! read what the export decided, run the `.air` with the reference runner, and compare with
//! TorchScript. Built by `cargo test` (examples are), run with:
//!
//!     eval "$(./dev env)"; cargo run --example library -- models/seed_single.pt OUT_DIR
use std::path::PathBuf;
use torch2air::tch::{Kind, Tensor};
use torch2air::{dynamo_export, CompilerConfig};

fn main() -> torch2air::Result<()> {
    let mut args = std::env::args().skip(1);
    let model = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "models/seed_single.pt".into()),
    );
    let out = args.next().unwrap_or_else(|| "export_file".into());
    // Sample inputs: tensors (or SPEC strings through torch2air::spec::make_all).
    let x = Tensor::randn([2, 4], (Kind::Float, torch2air::tch::Device::Cpu));
    let y = Tensor::randn([2, 4], (Kind::Float, torch2air::tch::Device::Cpu));
    let inputs = torch2air::tensor_inputs(vec![x, y]);
    let mut config = CompilerConfig::default();
    config.export.weight_threshold = Some(0); // weights as FileConstant + files
    let report = dynamo_export(inputs, &model, &out, "export", false, &config)?;
    println!(
        "exported {} ({} nodes, {:?} weights, {} bytes)",
        report.air.display(),
        report.node_count,
        report.weight_mode,
        report.weight_bytes
    );
    for g in &report.guards {
        println!("guard: {g}");
    }
    println!("compile with: {}", report.atc);
    // Run the .air and compare with the TorchScript module on the same inputs.
    let tensors = torch2air::verify::graph_tensors(&report.inputs);
    let ours = torch2air::run::run_air(&report.air, &tensors)?;
    let reference = torch2air::verify::torchscript_outputs(&model, &report.inputs)?;
    for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
        let err = (a - b).abs().max().double_value(&[]);
        println!("output {i}: max abs err {err:e}");
    }
    Ok(())
}
