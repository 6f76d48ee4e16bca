//! `torch2air inspect`: what an .air (any exporter's) or a multi-card folder holds: inputs and
//! outputs with dtypes and shapes (dynamic dims marked), node and op-type counts, weights (Const
//! and FileConstant bytes, files), the `nn_module_stack` scopes with their node counts, Hcom
//! groups, and for a folder one block per rank plus a summary of the ATC json files.
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ge::attr;
use crate::proto::{ModelDef, OpDef, TensorDescriptor};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// A tensor's dtype and shape as text: `f32[2,-1]`, `?` where the desc carries none.
pub fn tensor_text(dt: Option<DType>, shape: Option<&[i64]>) -> String {
    let dt = dt.map(|d| d.name()).unwrap_or("?");
    match shape {
        Some(s) if s == [-2] => format!("{dt}[unknown rank]"),
        Some(s) => format!(
            "{dt}[{}]",
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
        None => format!("{dt}[?]"),
    }
}

fn tensor_json(name: &str, d: Option<&TensorDescriptor>) -> Value {
    let dt = d.and_then(|d| DType::from_ge_proto(d.dtype));
    let shape = d.and_then(|d| d.shape.as_ref()).map(|s| s.dim.clone());
    let dynamic: Vec<usize> = shape
        .as_ref()
        .map(|s| {
            s.iter()
                .enumerate()
                .filter(|(_, d)| **d < 0)
                .map(|(i, _)| i)
                .collect()
        })
        .unwrap_or_default();
    json!({
        "name": name,
        "dtype": dt.map(|d| d.name()),
        "shape": shape,
        "dynamic_dims": dynamic,
        "text": tensor_text(dt, shape.as_deref()),
    })
}

/// The innermost scope of an `nn_module_stack` attr (a Python dict repr of
/// `'key': ("path", <class 'Class'>)` entries): `path (Class)`, with `L['self'].` dropped.
fn innermost_scope(stack: &str) -> Option<String> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r#"\("([^"]*)",\s*<class '([^']*)'>\)"#).expect("valid regex")
    });
    let c = re.captures_iter(stack).last()?;
    let path = c[1]
        .trim_start_matches("L['self']")
        .trim_start_matches('.')
        .to_string();
    Some(format!("{path} ({})", &c[2]))
}

fn const_bytes(op: &OpDef) -> u64 {
    op.attr
        .get("value")
        .and_then(attr::as_tensor)
        .map(|t| t.data.len() as u64)
        .unwrap_or(0)
}

fn file_constant(op: &OpDef) -> (u64, String) {
    let path = op
        .attr
        .get("file_path")
        .and_then(attr::as_str)
        .unwrap_or_default();
    let dt = op
        .attr
        .get("dtype")
        .and_then(attr::as_int)
        .and_then(DType::from_ge_cpp);
    let shape = op.attr.get("shape").and_then(attr::as_list_int);
    let bytes = match (dt, shape) {
        (Some(dt), Some(s)) => crate::run::tensor_bytes(dt, &s).unwrap_or(0),
        _ => 0,
    };
    (bytes, path)
}

/// One model's summary as JSON.
pub fn model_json(m: &ModelDef) -> Value {
    let ops: Vec<&OpDef> = m.graph.iter().flat_map(|g| &g.op).collect();
    let mut data: Vec<(i64, &OpDef)> = ops
        .iter()
        .filter(|o| o.r#type == "Data")
        .map(|o| (o.attr.get("index").and_then(attr::as_int).unwrap_or(0), *o))
        .collect();
    data.sort_by_key(|(i, _)| *i);
    let inputs: Vec<Value> = data
        .iter()
        .map(|(i, o)| {
            let mut v = tensor_json(&o.name, o.output_desc.first());
            v["index"] = json!(i);
            v
        })
        .collect();
    let outputs: Vec<Value> = ops
        .iter()
        .filter(|o| o.r#type == "NetOutput")
        .flat_map(|o| {
            o.input
                .iter()
                .filter(|i| !i.ends_with(":-1"))
                .enumerate()
                .map(|(k, i)| tensor_json(i, o.input_desc.get(k)))
        })
        .collect();
    let mut types: BTreeMap<&str, usize> = BTreeMap::new();
    for o in &ops {
        *types.entry(o.r#type.as_str()).or_default() += 1;
    }
    let mut by_count: Vec<(&str, usize)> = types.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let consts: Vec<&&OpDef> = ops.iter().filter(|o| o.r#type == "Const").collect();
    let files: Vec<(String, u64, String)> = ops
        .iter()
        .filter(|o| o.r#type == "FileConstant")
        .map(|o| {
            let (b, p) = file_constant(o);
            (o.name.clone(), b, p)
        })
        .collect();
    let mut scopes: BTreeMap<String, usize> = BTreeMap::new();
    for o in &ops {
        if let Some(s) = o
            .attr
            .get("nn_module_stack")
            .and_then(attr::as_str)
            .and_then(|s| innermost_scope(&s))
        {
            *scopes.entry(s).or_default() += 1;
        }
    }
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in ops.iter().filter(|o| o.r#type.starts_with("Hcom")) {
        let g = o
            .attr
            .get("group")
            .and_then(attr::as_str)
            .unwrap_or_else(|| "?".into());
        groups
            .entry(g)
            .or_default()
            .push(format!("{} ({})", o.name, o.r#type));
    }
    json!({
        "ours": crate::run::is_ours(m),
        "graphs": m.graph.iter().map(|g| g.name.clone()).collect::<Vec<_>>(),
        "inputs": inputs,
        "outputs": outputs,
        "nodes": ops.len(),
        "op_types": by_count.iter().map(|(t, n)| json!({"type": t, "count": n})).collect::<Vec<_>>(),
        "weights": {
            "const_nodes": consts.len(),
            "const_bytes": consts.iter().map(|o| const_bytes(o)).sum::<u64>(),
            "file_constant_nodes": files.len(),
            "file_constant_bytes": files.iter().map(|f| f.1).sum::<u64>(),
            "files": files.iter().map(|(n, b, p)| json!({"node": n, "bytes": b, "file_path": p})).collect::<Vec<_>>(),
        },
        "scopes": scopes.iter().map(|(s, n)| json!({"scope": s, "nodes": n})).collect::<Vec<_>>(),
        "hcom_groups": groups.iter().map(|(g, ops)| json!({"group": g, "ranks": rank_list(g), "ops": ops})).collect::<Vec<_>>(),
    })
}

/// The ranks of a GE group string `tag=...;rank_list=0,1`.
fn rank_list(group: &str) -> Vec<i64> {
    group
        .split(';')
        .find_map(|p| p.strip_prefix("rank_list="))
        .map(|l| l.split(',').filter_map(|r| r.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// A summary of the ATC json files of a multi-card folder, where present.
fn atc_json(dir: &Path) -> Value {
    let read = |name: &str| -> Option<Value> {
        serde_json::from_slice(&std::fs::read(dir.join(name)).ok()?).ok()
    };
    let mut out = serde_json::Map::new();
    if let Some(r) = read("model_relation_config.json") {
        let deploy: Vec<Value> = r["deploy_config"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| {
                        json!(format!(
                            "{} on {}",
                            d["submodel_name"].as_str().unwrap_or("?"),
                            d["deploy_device_id_list"].as_str().unwrap_or("?")
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let groups: Vec<Value> = r["comm_group"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|g| {
                        json!(format!(
                            "{} ranks {}",
                            g["group_name"].as_str().unwrap_or("?"),
                            g["group_rank_list"].as_str().unwrap_or("?")
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.insert(
            "model_relation_config".into(),
            json!({"deploy": deploy, "comm_groups": groups, "ranks": r["rank_table"].as_array().map(|a| a.len())}),
        );
    }
    if let Some(n) = read("numa_config.json") {
        let items: usize = n["cluster"]
            .as_array()
            .map(|c| {
                c.iter()
                    .flat_map(|c| c["cluster_nodes"].as_array().cloned().unwrap_or_default())
                    .map(|node| node["item_list"].as_array().map(|l| l.len()).unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0);
        let types: Vec<Value> = n["item_def"]
            .as_array()
            .map(|a| a.iter().map(|i| i["item_type"].clone()).collect())
            .unwrap_or_default();
        out.insert(
            "numa_config".into(),
            json!({"devices": items, "item_types": types}),
        );
    }
    Value::Object(out)
}

/// Inspects an .air file or a multi-card folder: JSON with one block per .air file.
pub fn inspect(path: &Path) -> Result<Value> {
    let files = crate::check::air_files(path)?;
    let mut blocks = vec![];
    for f in &files {
        let m = crate::write::read_air(f)?;
        let mut b = model_json(&m);
        b["file"] = json!(f.display().to_string());
        blocks.push(b);
    }
    let mut v = json!({ "path": path.display().to_string(), "models": blocks });
    if path.is_dir() {
        v["atc"] = atc_json(path);
    }
    if files.is_empty() {
        return Err(Error::Input("nothing to inspect".into()));
    }
    Ok(v)
}

/// The inspection as text, one block per model.
pub fn text(v: &Value) -> String {
    let mut s = String::new();
    let models = v["models"].as_array().cloned().unwrap_or_default();
    let many = models.len() > 1;
    for (r, m) in models.iter().enumerate() {
        let pad = if many { "  " } else { "" };
        if many {
            s.push_str(&format!("rank {r}: {}\n", m["file"].as_str().unwrap_or("")));
        } else {
            s.push_str(&format!("{}\n", m["file"].as_str().unwrap_or("")));
        }
        s.push_str(&format!(
            "{pad}written by: {}\n",
            if m["ours"].as_bool() == Some(true) {
                "torch2air"
            } else {
                "another exporter (no torch2air_version attr)"
            }
        ));
        let io = |what: &str, list: &Value, s: &mut String| {
            s.push_str(&format!("{pad}{what}:\n"));
            for t in list.as_array().into_iter().flatten() {
                let dynm = t["dynamic_dims"].as_array().map(|a| a.len()).unwrap_or(0);
                s.push_str(&format!(
                    "{pad}  {} {}{}\n",
                    t["name"].as_str().unwrap_or(""),
                    t["text"].as_str().unwrap_or(""),
                    if dynm > 0 {
                        format!(
                            "  (dynamic dims: {})",
                            t["dynamic_dims"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|d| d.to_string())
                                .collect::<Vec<_>>()
                                .join(",")
                        )
                    } else {
                        String::new()
                    }
                ));
            }
        };
        io("inputs", &m["inputs"], &mut s);
        io("outputs", &m["outputs"], &mut s);
        let types: Vec<String> = m["op_types"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| format!("{} {}", t["type"].as_str().unwrap_or(""), t["count"]))
            .collect();
        s.push_str(&format!(
            "{pad}nodes: {} ({})\n",
            m["nodes"],
            types.join(", ")
        ));
        let w = &m["weights"];
        s.push_str(&format!(
            "{pad}weights: {} Const ({} bytes), {} FileConstant ({} bytes)\n",
            w["const_nodes"], w["const_bytes"], w["file_constant_nodes"], w["file_constant_bytes"]
        ));
        for f in w["files"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "{pad}  {} -> {} ({} bytes)\n",
                f["node"].as_str().unwrap_or(""),
                f["file_path"].as_str().unwrap_or(""),
                f["bytes"]
            ));
        }
        let scopes = m["scopes"].as_array().cloned().unwrap_or_default();
        if !scopes.is_empty() {
            s.push_str(&format!("{pad}nn_module_stack scopes:\n"));
            for sc in &scopes {
                s.push_str(&format!(
                    "{pad}  {}: {} node(s)\n",
                    sc["scope"].as_str().unwrap_or(""),
                    sc["nodes"]
                ));
            }
        }
        for g in m["hcom_groups"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "{pad}hcom group {} (ranks {}): {}\n",
                g["group"].as_str().unwrap_or(""),
                g["ranks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                g["ops"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if let Some(atc) = v.get("atc").and_then(|a| a.as_object()) {
        if atc.is_empty() {
            s.push_str("ATC json: none\n");
        }
        if let Some(r) = atc.get("model_relation_config") {
            let list = |k: &str| {
                r[k].as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            s.push_str(&format!(
                "model_relation_config.json: deploy {}; comm groups {}; {} rank(s)\n",
                list("deploy"),
                list("comm_groups"),
                r["ranks"]
            ));
        }
        if let Some(n) = atc.get("numa_config") {
            s.push_str(&format!(
                "numa_config.json: {} device(s) of {}\n",
                n["devices"],
                n["item_types"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    s
}
