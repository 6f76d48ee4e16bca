//! The ATC deployment json files of a multi-rank export (air-format.md section 9), with TorchAir's
//! keys, key order and value formats, written like Python's `json.dump(indent=4,
//! ensure_ascii=False)` (no trailing newline).
use super::Group;
use serde_json::{json, Value};

pub const MODEL_RELATION_CONFIG: &str = "model_relation_config.json";
pub const NUMA_CONFIG: &str = "numa_config.json";

/// Python's `str(list_of_ints)`: `[0, 1]`.
pub fn py_list(ranks: &[usize]) -> String {
    let items: Vec<String> = ranks.iter().map(|r| r.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// `model_relation_config.json`: deploy_config, model_name_to_instance_id, comm_group (the
/// groups rank 0's graph uses), rank_table.
pub fn model_relation_config(export_name: &str, world: usize, groups: &[Group]) -> Value {
    let air = |r: usize| format!("{export_name}{r}.air");
    json!({
        "deploy_config": (0..world).map(|r| json!({
            "submodel_name": air(r),
            "deploy_device_id_list": format!("0:0:{r}"),
        })).collect::<Vec<_>>(),
        "model_name_to_instance_id": (0..world).map(|r| json!({
            "submodel_name": air(r),
            "model_instance_id": r,
        })).collect::<Vec<_>>(),
        "comm_group": groups.iter().map(|g| json!({
            "group_name": g.ge,
            "group_rank_list": py_list(&g.ranks),
        })).collect::<Vec<_>>(),
        "rank_table": (0..world).map(|r| json!({
            "rank_id": r,
            "model_instance_id": r,
        })).collect::<Vec<_>>(),
    })
}

/// `numa_config.json`: one ATLAS800 node at 127.0.0.1:29500 holding one item per rank.
pub fn numa_config(world: usize) -> Value {
    json!({
        "cluster": [{
            "cluster_nodes": [{
                "node_id": 0,
                "node_type": "ATLAS800",
                "ipaddr": "127.0.0.1",
                "port": 29500,
                "item_list": (0..world).map(|r| json!({"item_id": r})).collect::<Vec<_>>(),
            }],
            "nodes_toplogy": {},
        }],
        "item_def": [{"item_type": "Ascend910"}],
        "node_def": [{"item": [{"item_type": "Ascend910"}]}],
    })
}

/// 4-space indented json, `": "` and `","` separators, no trailing newline.
pub fn to_json(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("json values serialize");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}
