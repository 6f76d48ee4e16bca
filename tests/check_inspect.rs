//! `torch2air check` and `torch2air inspect` on torch2air's exports and on TorchAir's own graphs
//! (tests/torchair_graphs); `check` also on graphs broken on purpose (a good .air edited through
//! the crate's proto types), where it reports every problem at once.
mod common;

use common::{cli, read_air, tmp};
use prost::Message;
use std::path::{Path, PathBuf};
use torch2air::internal::ge::attr;
use torch2air::proto::{ModelDef, OpDef};

fn graphs() -> PathBuf {
    common::root().join("tests").join("torchair_graphs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn export(dir: &Path, model: &str, extra: &[&str]) -> PathBuf {
    let m = common::model(model);
    let mut args = vec![
        "export",
        s(&m),
        "--input",
        "f32[2,4]",
        "--input",
        "f32[2,4]",
    ];
    args.extend_from_slice(extra);
    let (code, _, err) = cli(dir, &args);
    assert_eq!(code, 0, "export failed: {err}");
    dir.join("export_file/export.air")
}

fn write(p: &Path, m: &ModelDef) {
    std::fs::write(p, m.encode_to_vec()).unwrap();
}

fn op_mut<'a>(m: &'a mut ModelDef, name: &str) -> &'a mut OpDef {
    m.graph[0]
        .op
        .iter_mut()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

#[test]
fn clean_graphs_pass_with_a_summary() {
    let d = tmp();
    let ours = export(d.path(), "seed_single.pt", &[]);
    for (air, nodes) in [
        (ours, 8),
        (graphs().join("ops/layer_norm_2d/export.air"), 6),
        (graphs().join("examples/d_allreduce_2rank/export"), 2 * 11),
    ] {
        let (code, out, err) = cli(d.path(), &["check", s(&air)]);
        assert_eq!(code, 0, "{}: {out}{err}", air.display());
        assert_eq!(out.lines().count(), 1, "one summary line: {out}");
        assert!(out.starts_with("check: OK: "), "{out}");
        assert!(out.contains(&format!("{nodes} nodes")), "{out}");
    }
}

/// Every TorchAir graph but triu_mask is clean (placeholder descs, "" optional inputs, layout
/// attrs, TorchAir's empty `_inputs_all_sym` attr and Conv2DTranspose on FLOAT are all GE's).
#[test]
fn torchair_graphs_are_clean_but_triu() {
    let mut checked = 0;
    for group in ["ops", "examples"] {
        for e in std::fs::read_dir(graphs().join(group)).unwrap() {
            let dir = e.unwrap().path();
            let air = if dir.join("export.air").exists() {
                dir.join("export.air")
            } else if dir.join("export/export.air").exists() {
                dir.join("export/export.air")
            } else {
                dir.join("export")
            };
            let (code, out, err) = cli(&graphs(), &["check", s(&air)]);
            let triu = dir.ends_with("triu_mask");
            assert_eq!(
                code,
                if triu { 1 } else { 0 },
                "{}: {out}{err}",
                air.display()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 50);
}

/// TorchAir's Triu on BOOL is outside its prototype: `check` says so, naming the node.
#[test]
fn torchair_triu_on_bool_is_reported() {
    let air = graphs().join("ops/triu_mask/export.air");
    let (code, out, err) = cli(&graphs(), &["check", s(&air)]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("node 'Triu' (Triu): input 'x' is DT_BOOL, which the prototype does not list"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(err.contains("check: 1 problem(s)"), "{err}");
}

/// One graph, broken eight ways: every problem on its own line, naming its node, all at once.
#[test]
fn every_problem_at_once() {
    let d = tmp();
    let src = graphs().join("ops/linear_3d/export.air");
    let mut m = read_air(&src);
    let names: Vec<String> = m.graph[0].op.iter().map(|o| o.name.clone()).collect();
    let ty = |m: &ModelDef, t: &str| {
        m.graph[0]
            .op
            .iter()
            .find(|o| o.r#type == t)
            .unwrap()
            .name
            .clone()
    };
    // 1. An op type GE does not have.
    let mm = ty(&m, "MatMulV2");
    op_mut(&mut m, &mm).r#type = "MatMulV9".into();
    // 2. An attr the prototype does not have, 3. a required attr written as the wrong member.
    let tr = ty(&m, "Transpose");
    op_mut(&mut m, &tr)
        .attr
        .insert("bogus".into(), attr::int(1));
    let add = ty(&m, "Add");
    op_mut(&mut m, &add).input[1] = "NoSuchNode:0".into(); // 4. dangling input
                                                           // 5. A cycle: the first Reshape reads the last one.
    let reshapes: Vec<String> = m.graph[0]
        .op
        .iter()
        .filter(|o| o.r#type == "Reshape")
        .map(|o| o.name.clone())
        .collect();
    let (first, last) = (&reshapes[0], &reshapes[reshapes.len() - 1]);
    op_mut(&mut m, first).input[0] = format!("{last}:0");
    // 6. A Data index out of range.
    let data = ty(&m, "Data");
    op_mut(&mut m, &data)
        .attr
        .insert("index".into(), attr::int(5));
    // 7. A dtype the prototype does not list (Mul's x1 declared BOOL).
    let mul = ty(&m, "Mul");
    op_mut(&mut m, &mul).input_desc[0].dtype = torch2air::internal::dtype::DType::Bool.ge_proto();
    // 8. A FileConstant whose file is missing.
    let mut fc = OpDef {
        name: "w_missing".into(),
        r#type: "FileConstant".into(),
        ..Default::default()
    };
    fc.attr
        .insert("file_path".into(), attr::string("export/w_missing"));
    fc.attr.insert("shape".into(), attr::list_int(vec![2, 3]));
    fc.attr.insert(
        "dtype".into(),
        attr::int(torch2air::internal::dtype::DType::F32.ge_cpp()),
    );
    fc.output_desc
        .push(torch2air::internal::ge::desc("y", None, None));
    m.graph[0].op.insert(0, fc);
    let air = d.path().join("broken.air");
    write(&air, &m);
    let (code, out, err) = cli(d.path(), &["check", s(&air)]);
    assert_eq!(code, 1, "{out}{err}");
    let expect = [
        format!("node '{mm}' (MatMulV9): op type 'MatMulV9' is not a GE operator"),
        format!("node '{tr}' (Transpose): attr 'bogus' is not an attr of Transpose"),
        format!("node '{add}' (Add): input 'NoSuchNode:0' names no node of the graph"),
        format!("node '{first}' (Reshape): input '{last}:0' comes from a node that is not earlier"),
        "is on a cycle".to_string(),
        format!("node '{data}' (Data): index 5 is outside 0..1"),
        format!("node '{mul}' (Mul): input 'x1' is DT_BOOL, which the prototype does not list"),
        "node 'w_missing' (FileConstant): weight file 'export/w_missing' not found".to_string(),
    ];
    for e in &expect {
        assert!(out.contains(e.as_str()), "missing {e:?} in:\n{out}");
    }
    for line in out.lines() {
        assert!(
            line.starts_with(&format!("{}: node '", air.display())),
            "each line names the file and the node: {line}"
        );
    }
    let n = out.lines().count();
    assert!(err.contains(&format!("check: {n} problem(s)")), "{err}");
    assert!(n >= expect.len(), "{out}");
    // The nodes named are real ones of the graph.
    assert!(names.contains(&mm) && names.contains(&data));
}

/// A FileConstant's file of the wrong size, in a torch2air export with weights as files.
#[test]
fn file_constant_size_is_checked() {
    let d = tmp();
    let m = common::model("seed_single.pt");
    let (code, _, err) = common::cli_env(
        d.path(),
        &[
            "export",
            s(&m),
            "--input",
            "f32[2,4]",
            "--input",
            "f32[2,4]",
        ],
        &[("TORCH2AIR_WEIGHT_THRESHOLD", "0")],
    );
    assert_eq!(code, 0, "{err}");
    let air = d.path().join("export_file/export.air");
    let (code, out, _) = cli(d.path(), &["check", s(&air)]);
    assert_eq!(code, 0, "{out}");
    std::fs::write(d.path().join("export_file/p1"), b"short").unwrap();
    let (code, out, _) = cli(d.path(), &["check", s(&air)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("(FileConstant): weight file") && out.contains("does not hold the 32 bytes"),
        "{out}"
    );
}

#[test]
fn bad_paths_are_clean_errors() {
    let d = tmp();
    for cmd in ["check", "inspect"] {
        let (code, _, err) = cli(d.path(), &[cmd, "nope.air"]);
        common::assert_clean_error(code, &err, "does not exist");
        assert_eq!(code, 2);
        let (code, _, err) = cli(d.path(), &[cmd, s(d.path())]);
        common::assert_clean_error(code, &err, "holds no .air file");
    }
    std::fs::write(d.path().join("junk.air"), b"\xff\xff\xff not protobuf").unwrap();
    let (code, out, _) = cli(d.path(), &["check", "junk.air"]);
    assert_eq!(code, 1);
    assert!(out.contains("is not a GE ModelDef"), "{out}");
}

fn inspect_json(cwd: &Path, air: &Path) -> serde_json::Value {
    let (code, out, err) = cli(cwd, &["inspect", s(air), "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// Our exports: the seed (op counts, weights) and a dynamic MLP (dynamic dims marked on its
/// input and output); the text form says the same.
#[test]
fn inspect_our_exports() {
    let d = tmp();
    let air = export(d.path(), "seed_single.pt", &[]);
    let v = inspect_json(d.path(), &air);
    let m = &v["models"][0];
    assert_eq!(m["ours"], true);
    assert_eq!(m["inputs"][0]["name"], "x");
    assert_eq!(m["inputs"][0]["text"], "f32[2,4]");
    assert_eq!(m["nodes"], 8);
    let types = &m["op_types"];
    assert_eq!(types[0], serde_json::json!({"type": "Add", "count": 3}));
    assert_eq!(m["weights"]["const_nodes"], 2);
    assert_eq!(m["weights"]["const_bytes"], 64);
    let (code, out, _) = cli(d.path(), &["inspect", s(&air)]);
    assert_eq!(code, 0);
    assert!(out.contains("written by: torch2air"), "{out}");
    assert!(
        out.contains("nodes: 8 (Add 3, Const 2, Data 2, NetOutput 1)"),
        "{out}"
    );
    assert!(
        out.contains("weights: 2 Const (64 bytes), 0 FileConstant (0 bytes)"),
        "{out}"
    );

    let mlp = common::model("mlp.pt");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            s(&mlp),
            "--input",
            "f32[2,16]",
            "--dynamic",
            "--export-path",
            "mlp",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let air = d.path().join("mlp/export.air");
    let v = inspect_json(d.path(), &air);
    let m = &v["models"][0];
    assert_eq!(m["inputs"][0]["text"], "f32[-1,16]");
    assert_eq!(m["inputs"][0]["dynamic_dims"], serde_json::json!([0]));
    assert_eq!(m["outputs"][0]["dynamic_dims"], serde_json::json!([0]));
    let (_, out, _) = cli(d.path(), &["inspect", s(&air)]);
    assert!(out.contains("x f32[-1,16]  (dynamic dims: 0)"), "{out}");
}

/// Our multi-card export with files, scopes and groups.
#[test]
fn inspect_our_multicard_export() {
    let d = tmp();
    let m = common::model("seed_single.pt");
    let (code, _, err) = common::cli_env(
        d.path(),
        &[
            "export",
            s(&m),
            "--input",
            "f32[2,4]",
            "--input",
            "f32[2,4]",
            "--world-size",
            "2",
        ],
        &[("TORCH2AIR_WEIGHT_THRESHOLD", "0")],
    );
    assert_eq!(code, 0, "{err}");
    let dir = d.path().join("export_file");
    let v = inspect_json(d.path(), &dir);
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for m in models {
        assert_eq!(m["weights"]["file_constant_nodes"], 2);
        assert_eq!(m["weights"]["file_constant_bytes"], 64);
    }
    let (_, out, _) = cli(d.path(), &["inspect", s(&dir)]);
    assert!(
        out.contains("rank 0: ") && out.contains("rank 1: "),
        "{out}"
    );
    assert!(
        out.contains("weights: 0 Const (0 bytes), 2 FileConstant (64 bytes)"),
        "{out}"
    );
    assert!(out.contains("export_file/rank_0/p1 (32 bytes)"), "{out}");
    assert!(out.contains("ATC json: none"), "{out}");
}

/// TorchAir's two-rank example: scopes with node counts, the Hcom group and its ranks, ATC json.
#[test]
fn inspect_torchair_multicard() {
    let dir = graphs().join("examples/e_allreduce_layers_2rank/export");
    let v = inspect_json(&graphs(), &dir);
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    let m = &models[0];
    assert_eq!(m["ours"], false);
    assert_eq!(m["nodes"], 26);
    assert_eq!(
        m["scopes"][1],
        serde_json::json!({"scope": "layers.0.fc (torch.nn.modules.linear.Linear)", "nodes": 4})
    );
    assert_eq!(m["hcom_groups"][0]["group"], "tag=ptd:0;rank_list=0,1");
    assert_eq!(m["hcom_groups"][0]["ranks"], serde_json::json!([0, 1]));
    assert_eq!(m["hcom_groups"][0]["ops"].as_array().unwrap().len(), 2);
    assert_eq!(v["atc"]["numa_config"]["devices"], 2);
    assert_eq!(
        v["atc"]["model_relation_config"]["deploy"][1],
        "export1.air on 0:0:1"
    );
    let (_, out, _) = cli(&graphs(), &["inspect", s(&dir)]);
    assert!(
        out.contains("layers.1 (examples.Block): 3 node(s)"),
        "{out}"
    );
    assert!(
        out.contains("hcom group tag=ptd:0;rank_list=0,1 (ranks 0,1)"),
        "{out}"
    );
}

/// TorchAir's single-op graph: placeholder descs show as such; inputs and outputs as declared.
#[test]
fn inspect_torchair_single() {
    let air = graphs().join("ops/topk_smallest/export.air");
    let v = inspect_json(&graphs(), &air);
    let m = &v["models"][0];
    assert_eq!(m["inputs"][0]["text"], "f32[4,8]");
    assert_eq!(m["outputs"].as_array().unwrap().len(), 2);
    assert_eq!(m["outputs"][1]["text"], "i64[4,3]");
    assert!(m["op_types"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["type"] == "TopKV2" && t["count"] == 1));
}
