//! Multi-card exports (issue 4): the seed's file tree, the ATC json field by field, the runner
//! against a real torch.distributed (gloo) run for 2 and 4 ranks, sub-group naming,
//! nn_module_stack, and the Hcom nodes against the GE prototypes.
mod common;
use common::*;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use torch2air::internal::dist::export::{export_ranks, DistConfig};
use torch2air::proto::ModelDef;
use torch2air::{internal::spec, CompilerConfig};

fn mc(name: &str) -> PathBuf {
    model(&format!("multicard/{name}"))
}

/// Every entry below `dir`, relative, sorted (folders included).
fn tree(dir: &Path) -> Vec<String> {
    fn go(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if p.is_dir() {
                go(root, &p, out);
            }
        }
    }
    let mut v = vec![];
    go(dir, dir, &mut v);
    v.sort();
    v
}

fn export_seed_mp(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let m = mc("seed_mp.pt");
    let mut args = vec![
        "export",
        m.to_str().unwrap(),
        "--input",
        "i32[2,2]:1..2",
        "--input",
        "i32[2,2]:1..2",
        "--export-path",
        "mp",
        "--export-name",
        "mp_rank",
        "--world-size",
        "2",
        "--dynamic",
        "--auto-atc-config",
        "--record-nn-module-stack",
    ];
    args.extend_from_slice(extra);
    cli(dir, &args)
}

fn hcom_groups(m: &ModelDef) -> Vec<String> {
    m.graph[0]
        .op
        .iter()
        .filter(|o| o.r#type.starts_with("Hcom"))
        .map(|o| attr_s(o, "group"))
        .collect()
}

fn read_json(p: &Path) -> (String, Json) {
    let text = std::fs::read_to_string(p).unwrap();
    let v = serde_json::from_str(&text).unwrap();
    (text, v)
}

fn keys(v: &Json) -> Vec<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn seed_example_writes_the_twelve_file_tree() {
    let d = tmp();
    let (code, _, err) = export_seed_mp(d.path(), &["--weight-threshold", "0"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        tree(&d.path().join("mp")),
        [
            "model_relation_config.json",
            "mp_rank0.air",
            "mp_rank1.air",
            "numa_config.json",
            "rank_0",
            "rank_0/dynamo.pbtxt",
            "rank_0/p1",
            "rank_0/p2",
            "rank_1",
            "rank_1/dynamo.pbtxt",
            "rank_1/p1",
            "rank_1/p2",
        ]
    );
    let (p1, _) = param_bytes(&mc("seed_mp.pt"), "p1");
    for r in 0..2 {
        let m = read_air(&d.path().join(format!("mp/mp_rank{r}.air")));
        assert_eq!(
            types(&m),
            [
                "Data",
                "Data",
                "Add",
                "Cast",
                "FileConstant",
                "Add",
                "FileConstant",
                "Add",
                "HcomAllReduce",
                "Identity",
                "NetOutput"
            ],
            "rank {r}"
        );
        let fc = op(&m, "p1");
        assert_eq!(attr_s(fc, "file_path"), format!("mp/rank_{r}/p1"));
        assert_eq!(
            std::fs::read(d.path().join(format!("mp/rank_{r}/p1"))).unwrap(),
            p1
        );
        let ar = op(&m, "HcomAllReduce");
        assert_eq!(attr_s(ar, "reduction"), "sum");
        assert_eq!(attr_s(ar, "group"), "tag=ptd:0;rank_list=0,1");
        assert_eq!(attr_i(ar, "fusion"), 0);
        assert_eq!(attr_i(ar, "fusion_id"), -1);
        let pb =
            std::fs::read_to_string(d.path().join(format!("mp/rank_{r}/dynamo.pbtxt"))).unwrap();
        assert!(pb.contains("op: \"HcomAllReduce\""));
        // The seed's model has no submodules: no node comes from one.
        assert!(!pb.contains("nn_module_stack"));
    }
    // The runner on the folder: (1 + 1 + p1 + p2) summed over 2 ranks.
    let ones = || -> torch2air::Result<Vec<tch::Tensor>> {
        Ok(vec![
            tch::Tensor::ones([2, 2], (tch::Kind::Int, tch::Device::Cpu)),
            tch::Tensor::ones([2, 2], (tch::Kind::Int, tch::Device::Cpu)),
        ])
    };
    let outs =
        torch2air::internal::dist::run::run_ranks(&d.path().join("mp"), None, &|_| ones()).unwrap();
    let want = [[1.1 + 2.2 + 2.0, 1.1 + 2.2 + 2.0], [1.1 + 3.3 + 2.0; 2]];
    for o in outs {
        let got: Vec<Vec<f32>> = Vec::try_from(&o[0]).unwrap();
        for (g, w) in got.iter().zip(&want) {
            for (a, b) in g.iter().zip(w) {
                assert!((a - 2.0 * b).abs() < 1e-5, "{got:?}");
            }
        }
    }
}

#[test]
fn atc_json_field_by_field() {
    let d = tmp();
    let (code, _, err) = export_seed_mp(d.path(), &[]);
    assert_eq!(code, 0, "{err}");
    let root = d.path().join("mp");
    let (text, rel) = read_json(&root.join("model_relation_config.json"));
    assert!(
        !text.ends_with('\n'),
        "json.dump writes no trailing newline"
    );
    assert!(text.contains(
        "\n    \"deploy_config\": [\n        {\n            \"submodel_name\": \"mp_rank0.air\",\n"
    ));
    assert_eq!(
        keys(&rel),
        [
            "deploy_config",
            "model_name_to_instance_id",
            "comm_group",
            "rank_table"
        ]
    );
    let list = |k: &str| rel[k].as_array().unwrap().clone();
    let deploy = list("deploy_config");
    assert_eq!(deploy.len(), 2);
    for (r, e) in deploy.iter().enumerate() {
        assert_eq!(keys(e), ["submodel_name", "deploy_device_id_list"]);
        assert_eq!(e["submodel_name"], Json::from(format!("mp_rank{r}.air")));
        assert_eq!(e["deploy_device_id_list"], Json::from(format!("0:0:{r}")));
    }
    let ids = list("model_name_to_instance_id");
    assert_eq!(ids.len(), 2);
    for (r, e) in ids.iter().enumerate() {
        assert_eq!(keys(e), ["submodel_name", "model_instance_id"]);
        assert_eq!(e["submodel_name"], Json::from(format!("mp_rank{r}.air")));
        assert!(e["model_instance_id"].is_u64());
        assert_eq!(e["model_instance_id"], Json::from(r));
    }
    let groups = list("comm_group");
    assert_eq!(groups.len(), 1);
    assert_eq!(keys(&groups[0]), ["group_name", "group_rank_list"]);
    assert_eq!(groups[0]["group_name"], "tag=ptd:0;rank_list=0,1");
    assert_eq!(groups[0]["group_rank_list"], "[0, 1]");
    let table = list("rank_table");
    assert_eq!(table.len(), 2);
    for (r, e) in table.iter().enumerate() {
        assert_eq!(keys(e), ["rank_id", "model_instance_id"]);
        assert_eq!(e["rank_id"], Json::from(r));
        assert_eq!(e["model_instance_id"], Json::from(r));
    }
    // Every Hcom op's group is a comm_group entry.
    for r in 0..2 {
        let m = read_air(&root.join(format!("mp_rank{r}.air")));
        for g in hcom_groups(&m) {
            assert!(groups.iter().any(|e| e["group_name"] == g.as_str()));
        }
    }

    let (text, numa) = read_json(&root.join("numa_config.json"));
    assert!(!text.ends_with('\n'));
    assert_eq!(keys(&numa), ["cluster", "item_def", "node_def"]);
    let cluster = numa["cluster"].as_array().unwrap();
    assert_eq!(cluster.len(), 1);
    assert_eq!(keys(&cluster[0]), ["cluster_nodes", "nodes_toplogy"]);
    assert_eq!(cluster[0]["nodes_toplogy"], serde_json::json!({}));
    let nodes = cluster[0]["cluster_nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(
        keys(&nodes[0]),
        ["node_id", "node_type", "ipaddr", "port", "item_list"]
    );
    assert_eq!(nodes[0]["node_id"], 0);
    assert_eq!(nodes[0]["node_type"], "ATLAS800");
    assert_eq!(nodes[0]["ipaddr"], "127.0.0.1");
    assert_eq!(nodes[0]["port"], 29500);
    assert_eq!(
        nodes[0]["item_list"],
        serde_json::json!([{"item_id": 0}, {"item_id": 1}])
    );
    assert_eq!(
        numa["item_def"],
        serde_json::json!([{"item_type": "Ascend910"}])
    );
    assert_eq!(
        numa["node_def"],
        serde_json::json!([{"item": [{"item_type": "Ascend910"}]}])
    );
}

#[test]
fn without_auto_atc_config_no_json() {
    let d = tmp();
    let m = mc("seed_mp.pt");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "i32[2,2]",
            "--input",
            "i32[2,2]",
            "--world-size",
            "2",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        tree(&d.path().join("export_file")),
        [
            "export0.air",
            "export1.air",
            "rank_0",
            "rank_0/dynamo.pbtxt",
            "rank_1",
            "rank_1/dynamo.pbtxt"
        ]
    );
}

#[test]
fn rank_option_writes_one_rank() {
    let d = tmp();
    let (code, _, err) = export_seed_mp(d.path(), &["--rank", "1"]);
    assert_eq!(code, 0, "{err}");
    // Only rank 0 writes the json (as TorchAir).
    assert_eq!(
        tree(&d.path().join("mp")),
        ["mp_rank1.air", "rank_1", "rank_1/dynamo.pbtxt"]
    );
}

fn config(record: bool) -> CompilerConfig {
    let mut c = CompilerConfig::default();
    c.export.experimental.auto_atc_config_generated = true;
    c.export.experimental.enable_record_nn_module_stack = record;
    c
}

/// Exports with per-rank inputs through the library, runs the folder, compares every output
/// with the gloo run's `.npy` files `<expected>_rank<r>_out<i>.npy`.
fn check_against_gloo(
    model: &str,
    specs: &[String],
    world: usize,
    groups: Vec<(String, Vec<usize>)>,
    expected: &str,
) -> PathBuf {
    let d = tmp().keep();
    let path = d.join("out");
    let make = |r: usize| {
        let s: Vec<String> = specs
            .iter()
            .map(|s| torch2air::internal::dist::export::for_rank(s, r))
            .collect();
        spec::make_all(&s, 0)
    };
    let dist = DistConfig {
        world_size: world,
        rank: None,
        groups,
    };
    let model = mc(model);
    let rep = export_ranks(
        &make,
        model.to_str().unwrap(),
        path.to_str().unwrap(),
        "export",
        false,
        &config(false),
        &dist,
    )
    .unwrap();
    assert_eq!(rep.ranks.len(), world);
    let tensors = |r: usize| Ok(torch2air::internal::verify::graph_tensors(&make(r)?));
    let outs = torch2air::internal::dist::run::run_ranks(&path, None, &tensors).unwrap();
    assert_eq!(outs.len(), world);
    for (r, outs) in outs.iter().enumerate() {
        let want: Vec<tch::Tensor> = (0..outs.len())
            .map(|i| spec::read_npy(&mc(&format!("{expected}_rank{r}_out{i}.npy"))).unwrap())
            .collect();
        assert!(
            !mc(&format!("{expected}_rank{r}_out{}.npy", outs.len())).exists(),
            "the graph has fewer outputs than the gloo run"
        );
        let checks = torch2air::internal::verify::compare(&want, outs, None, None).unwrap();
        for c in &checks {
            assert!(c.ok, "{expected} rank {r}: {c}");
        }
    }
    path
}

#[test]
fn runner_equals_gloo_collectives_2_and_4_ranks() {
    for n in [2usize, 4] {
        let x = mc("x_rank{rank}.npy").to_string_lossy().into_owned();
        let path = check_against_gloo(
            "collectives.pt",
            &[x, format!("int:{n}")],
            n,
            vec![],
            &format!("collectives_w{n}"),
        );
        let m = read_air(&path.join("export0.air"));
        let t = types(&m);
        for ty in [
            "HcomAllReduce",
            "HcomAllGather",
            "HcomReduceScatter",
            "HcomBroadcast",
            "HcomAllToAll",
        ] {
            assert!(t.iter().any(|x| x == ty), "{ty} missing: {t:?}");
        }
        let reductions: Vec<String> = ops_of_type(&m, "HcomAllReduce")
            .iter()
            .map(|o| attr_s(o, "reduction"))
            .collect();
        assert_eq!(reductions, ["sum", "max"]);
        assert_eq!(
            attr_i(ops_of_type(&m, "HcomAllGather")[0], "rank_size"),
            n as i64
        );
        assert_eq!(
            attr_i(ops_of_type(&m, "HcomReduceScatter")[0], "rank_size"),
            n as i64
        );
        assert_eq!(attr_i(ops_of_type(&m, "HcomBroadcast")[0], "root_rank"), 1);
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }
}

#[test]
fn runner_equals_gloo_tensor_parallel_mlp() {
    for n in [2usize, 4] {
        let path = check_against_gloo(
            &format!("tp_mlp_w{n}_rank{{rank}}.pt"),
            &[mc("tp_x.npy").to_string_lossy().into_owned()],
            n,
            vec![],
            &format!("tp_mlp_w{n}"),
        );
        // Per-rank weights: each rank's fc1 holds its own rows.
        let w0 = read_air(&path.join("export0.air"));
        let w1 = read_air(&path.join("export1.air"));
        let bytes = |m: &ModelDef| match op(m, "fc1.weight").attr["value"].value.clone() {
            Some(torch2air::proto::attr_def::Value::T(t)) => t.data,
            other => panic!("{other:?}"),
        };
        assert_ne!(bytes(&w0), bytes(&w1));
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }
}

#[test]
fn subgroup_named_consistently_in_ops_and_json() {
    let x = mc("x_rank{rank}.npy").to_string_lossy().into_owned();
    let path = check_against_gloo(
        "subgroups.pt",
        &[x, "int:{rank}".into()],
        4,
        vec![("1".into(), vec![0, 1]), ("2".into(), vec![2, 3])],
        "subgroups",
    );
    let world = "tag=ptd:0;rank_list=0,1,2,3";
    for r in 0..4 {
        let m = read_air(&path.join(format!("export{r}.air")));
        let sub = if r < 2 {
            "tag=ptd:1;rank_list=0,1"
        } else {
            "tag=ptd:2;rank_list=2,3"
        };
        assert_eq!(hcom_groups(&m), [world, sub], "rank {r}");
    }
    let (_, rel) = read_json(&path.join("model_relation_config.json"));
    assert_eq!(
        rel["comm_group"],
        serde_json::json!([
            {"group_name": world, "group_rank_list": "[0, 1, 2, 3]"},
            {"group_name": "tag=ptd:1;rank_list=0,1", "group_rank_list": "[0, 1]"},
        ])
    );
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

#[test]
fn undeclared_group_and_missing_world_size_are_clear_errors() {
    let d = tmp();
    let m = mc("subgroups.pt");
    let x = mc("x_rank{rank}.npy");
    let base = [
        "export",
        m.to_str().unwrap(),
        "--input",
        x.to_str().unwrap(),
        "--input",
        "int:{rank}",
    ];
    let mut args = base.to_vec();
    args.extend(["--world-size", "4"]);
    let (code, _, err) = cli(d.path(), &args);
    assert_clean_error(code, &err, "--group 1=");
    let mut args = base.to_vec();
    args.extend(["--world-size", "4", "--group", "0=0,1"]);
    let (code, _, err) = cli(d.path(), &args);
    assert_clean_error(code, &err, "default (world) group");
    // Ranks that diverge (rank 1 never joins group 2's collective) fail instead of hanging.
    let mut args = base.to_vec();
    args.extend([
        "--world-size",
        "4",
        "--group",
        "1=0,1",
        "--group",
        "2=1,2,3",
    ]);
    let (code, _, err) = cli(d.path(), &args);
    assert_clean_error(
        code,
        &err,
        "rank 1 finished without reaching all_reduce(max)",
    );
    // A single-card export of a model with collectives.
    let x0 = mc("x_rank0.npy");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            x0.to_str().unwrap(),
            "--input",
            "int:0",
        ],
    );
    assert_clean_error(code, &err, "--world-size");
    // World sizes out of range.
    for (n, msg) in [
        ("0", "--world-size must be at least 1"),
        ("100000", "--world-size 100000 is more than the 1024 ranks"),
    ] {
        let mut args = base.to_vec();
        args.extend(["--world-size", n]);
        let (code, _, err) = cli(d.path(), &args);
        assert_clean_error(code, &err, msg);
    }
    assert!(!d.path().join("export_file").exists());
}

fn module_stack_attr(m: &ModelDef, name: &str) -> Option<String> {
    op(m, name)
        .attr
        .get("nn_module_stack")
        .map(|_| attr_s(op(m, name), "nn_module_stack"))
}

#[test]
fn nn_module_stack_present_with_flag_absent_without() {
    for kind in ["scripted", "traced"] {
        let m = mc(&format!("stacked_{kind}.pt"));
        for flag in [true, false] {
            let d = tmp();
            let mut args = vec!["export", m.to_str().unwrap(), "--input", "f32[2,4]"];
            if flag {
                args.push("--record-nn-module-stack");
            }
            let (code, _, err) = cli(d.path(), &args);
            assert_eq!(code, 0, "{err}");
            let air = read_air(&d.path().join("export_file/export.air"));
            let pb = std::fs::read_to_string(d.path().join("export_file/dynamo.pbtxt")).unwrap();
            if !flag {
                assert!(!pb.contains("nn_module_stack"), "{kind}");
                assert!(air.graph[0]
                    .op
                    .iter()
                    .all(|o| !o.attr.contains_key("nn_module_stack")));
                continue;
            }
            let l0 = module_stack_attr(&air, "MatMulV2").expect("layer 0 matmul has it");
            let l1 = module_stack_attr(&air, "MatMulV2_1").expect("layer 1 matmul has it");
            assert_eq!(
                l0,
                "{'L__self___layer_0': (\"L['self'].layer[0]\", <class 'Layer'>), \
                 'L__self___layer_0_fc': (\"L['self'].layer[0].fc\", <class 'torch.nn.modules.linear.Linear'>)}",
                "{kind}"
            );
            assert!(
                l1.contains("L['self'].layer[1].fc") && !l1.contains("layer[0]"),
                "{kind}: {l1}"
            );
            let relu1 = module_stack_attr(&air, "Relu_1").unwrap();
            assert_eq!(
                relu1,
                "{'L__self___layer_1': (\"L['self'].layer[1]\", <class 'Layer'>)}"
            );
            // Root-level ops and Data/Const/NetOutput carry none.
            for o in &air.graph[0].op {
                if matches!(o.r#type.as_str(), "Data" | "Const" | "NetOutput") || o.name == "Mul" {
                    assert!(
                        !o.attr.contains_key("nn_module_stack"),
                        "{kind}: {}",
                        o.name
                    );
                }
            }
            assert!(
                pb.contains("nn_module_stack") && pb.contains("Layer"),
                "{kind}"
            );
            assert!(pb.contains("layer[1]"), "{kind}");
        }
    }
}

#[test]
fn hcom_nodes_pass_the_schema_check() {
    let d = tmp();
    let m = mc("collectives.pt");
    let x = mc("x_rank{rank}.npy");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            x.to_str().unwrap(),
            "--input",
            "int:4",
            "--world-size",
            "4",
        ],
    );
    assert_eq!(code, 0, "{err}");
    for r in 0..4 {
        let air = read_air(&d.path().join(format!("export_file/export{r}.air")));
        let hcom = air.graph[0]
            .op
            .iter()
            .filter(|o| o.r#type.starts_with("Hcom"))
            .count();
        assert_eq!(hcom, 6);
        torch2air::internal::ge::schema::check_graph(&air.graph[0]).unwrap();
    }
    // One rank's .air alone cannot run its collectives.
    let (code, _, err) = cli(
        d.path(),
        &[
            "run",
            "export_file/export0.air",
            "--input",
            mc("x_rank0.npy").to_str().unwrap(),
        ],
    );
    assert_clean_error(code, &err, "torch2air run <export-path>");
}

#[test]
fn runner_equals_gloo_uneven_all_to_all() {
    let x = mc("x_rank{rank}.npy").to_string_lossy().into_owned();
    let path = check_against_gloo(
        "all_to_all_v.pt",
        &[x, "int:{rank}".into()],
        2,
        vec![],
        "all_to_all_v",
    );
    for r in 0..2 {
        let m = read_air(&path.join(format!("export{r}.air")));
        let v = ops_of_type(&m, "HcomAllToAllV");
        assert_eq!(v.len(), 1, "rank {r}: {:?}", types(&m));
        assert_eq!(attr_s(v[0], "group"), "tag=ptd:0;rank_list=0,1");
        assert!(ops_of_type(&m, "HcomAllToAll").is_empty());
        torch2air::internal::ge::schema::check_graph(&m.graph[0]).unwrap();
    }
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}
