//! Our graphs next to TorchAir's (issue 12, item 5): the twin of each of TorchAir's single-op
//! graphs (the same PyTorch module, made by models/make_torchair_twins.py) is exported by
//! torch2air, run on the case's own inputs and compared with eager PyTorch's expected outputs,
//! and its node count is set beside TorchAir's (ops other than Data, Const, FileConstant and
//! NetOutput), printed as a table with the ratio ours / TorchAir's.
mod common;

use common::*;
use std::path::Path;

fn compute_ops(m: &torch2air::proto::ModelDef) -> usize {
    m.graph[0]
        .op
        .iter()
        .filter(|o| {
            !matches!(
                o.r#type.as_str(),
                "Data" | "Const" | "FileConstant" | "NetOutput"
            )
        })
        .count()
}

fn npys(case: &Path, prefix: &str) -> Vec<std::path::PathBuf> {
    (0..)
        .map(|k| case.join(format!("{prefix}_{k}.npy")))
        .take_while(|p| p.exists())
        .collect()
}

#[test]
fn twins_match_eager_and_their_node_counts_are_reported() {
    let root = root().join("tests/torchair_graphs");
    let mut names: Vec<String> = files_in(&root.join("twins"))
        .into_iter()
        .filter_map(|f| f.strip_suffix(".pt").map(String::from))
        .collect();
    names.sort();
    assert_eq!(names.len(), 44, "{names:?}");
    let (mut ours_total, mut theirs_total, mut same_module) = (0, 0, 0);
    let mut rows = vec![];
    for name in &names {
        let case = root.join("ops").join(name);
        let d = tmp();
        let specs: Vec<String> = npys(&case, "in")
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let args = torch2air::internal::spec::make_all(&specs, 0).unwrap();
        let out = d.path().join("out");
        let twin = root.join("twins").join(format!("{name}.pt"));
        let r = torch2air::internal::api::dynamo_export(
            args,
            &twin,
            out.to_str().unwrap(),
            "export",
            false,
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let inputs = torch2air::internal::verify::graph_tensors(&r.inputs);
        let got = torch2air::internal::run::run_air(&r.air, &inputs)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Against TorchScript always; against eager's expected outputs where the twin is the
        // very module TorchAir exported (its weights were random: twins with parameters differ).
        let ts = torch2air::internal::verify::torchscript_outputs(&twin, &r.inputs).unwrap();
        let expected: Vec<tch::Tensor> = npys(&case, "expected")
            .iter()
            .map(|p| tch::Tensor::read_npy(p).unwrap())
            .collect();
        assert_eq!(got.len(), ts.len(), "{name}: output count");
        let max_err = |a: &tch::Tensor, b: &tch::Tensor| {
            if a.size() != b.size() {
                return f64::INFINITY;
            }
            (a.to_kind(tch::Kind::Double) - b.to_kind(tch::Kind::Double))
                .abs()
                .max()
                .double_value(&[])
        };
        for (k, (g, t)) in got.iter().zip(&ts).enumerate() {
            let err = max_err(g, t);
            assert!(
                err <= 1e-5,
                "{name} output {k}: max abs err {err:e} against TorchScript"
            );
        }
        let faithful = expected.len() == ts.len()
            && ts.iter().zip(&expected).all(|(t, e)| max_err(t, e) <= 1e-5);
        if faithful {
            same_module += 1;
            for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
                let err = max_err(g, e);
                assert!(
                    err <= 1e-5,
                    "{name} output {k}: max abs err {err:e} against eager"
                );
            }
        }
        let ours = compute_ops(&read_air(&r.air));
        let theirs = compute_ops(&read_air(&case.join("export.air")));
        ours_total += ours;
        theirs_total += theirs;
        rows.push(format!(
            "  {name:24} ours {ours:3}  TorchAir {theirs:3}  ratio {:.2}",
            ours as f64 / theirs.max(1) as f64
        ));
    }
    println!("compute nodes, torch2air / TorchAir (same module, same inputs):");
    for r in rows {
        println!("{r}");
    }
    println!(
        "  total: ours {ours_total}, TorchAir {theirs_total}, ratio {:.2}",
        ours_total as f64 / theirs_total as f64
    );
    println!("  {same_module} twins are TorchAir's very module (no random weights): ours match eager's outputs there too");
    assert!(same_module >= 30, "{same_module}");
}
