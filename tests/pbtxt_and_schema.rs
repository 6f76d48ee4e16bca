//! dynamo.pbtxt layout, and the schema check.
mod common;
use common::*;
use prost_reflect::DynamicMessage;
use torch2air::internal::ge::{attr, schema, GraphBuilder, In};
use torch2air::proto::{self, GraphDef};

/// Undoes `py_bytes_repr` for the escapes it produces.
fn unrepr(s: &str) -> String {
    let q = s.chars().next().unwrap();
    assert!(q == '\'' || q == '"', "{s}");
    let inner = &s[1..s.len() - 1];
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next().unwrap() {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                '"' => out.push('"'),
                'x' => {
                    let h: String = it.by_ref().take(2).collect();
                    out.push(u8::from_str_radix(&h, 16).unwrap() as char);
                }
                o => panic!("unexpected escape {o}"),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn pbtxt_layout_matches_the_air() {
    let d = tmp();
    let m = model("seed_single.pt");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[2,4]",
            "--input",
            "f32[2,4]",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(d.path().join("export_file/dynamo.pbtxt")).unwrap();
    let air = read_air(&d.path().join("export_file/export.air"));
    let lines: Vec<&str> = text.lines().collect();
    // One block per op, in graph order; no header.
    assert_eq!(lines[0], "node {");
    let names: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            l.strip_prefix("    name: \"")
                .map(|n| n.trim_end_matches('"').to_string())
        })
        .collect();
    let air_names: Vec<String> = air.graph[0].op.iter().map(|o| o.name.clone()).collect();
    assert_eq!(names, air_names);
    assert_eq!(
        lines.iter().filter(|l| **l == "node {").count(),
        air.graph[0].op.len()
    );
    // Indents are 4 spaces per level.
    for l in &lines {
        let indent = l.len() - l.trim_start().len();
        assert_eq!(indent % 4, 0, "{l}");
    }
    // Each attr value is a Python bytes repr of protobuf text format that parses back to the
    // same AttrDef / TensorDescriptor as in the .air (which also carries GE's desc attrs).
    let pool = proto::pool();
    let attr_desc = pool.get_message_by_name("ge.proto.AttrDef").unwrap();
    let td_desc = pool
        .get_message_by_name("ge.proto.TensorDescriptor")
        .unwrap();
    let mut op_i = 0usize;
    let mut key = String::new();
    let mut checked = 0;
    for l in &lines {
        let t = l.trim();
        if let Some(n) = t.strip_prefix("name: \"") {
            op_i = air_names
                .iter()
                .position(|x| x == n.trim_end_matches('"'))
                .unwrap();
        }
        if let Some(k) = t.strip_prefix("key: \"") {
            key = k.trim_end_matches('"').to_string();
        }
        if let Some(v) = t.strip_prefix("s: ") {
            let op = &air.graph[0].op[op_i];
            let text = unrepr(v);
            if let Some(dname) = key.strip_prefix("[i]").or(key.strip_prefix("[o]")) {
                let parsed = DynamicMessage::parse_text_format(td_desc.clone(), &text).unwrap();
                let descs = if key.starts_with("[i]") {
                    &op.input_desc
                } else {
                    &op.output_desc
                };
                let d = descs.iter().find(|d| d.name == dname).unwrap();
                assert_eq!(
                    parsed.get_field_by_name("dtype").unwrap().as_enum_number(),
                    Some(d.dtype),
                    "{key}"
                );
            } else {
                let parsed = DynamicMessage::parse_text_format(attr_desc.clone(), &text).unwrap();
                let parsed: proto::AttrDef = parsed.transcode_to().unwrap();
                assert_eq!(&parsed, &op.attr[&key], "op {} attr {key}", op.name);
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "checked {checked} attr values");
    assert!(
        text.contains("            s: 'i: 0\\n'"),
        "Data index attr in TorchAir's form"
    );
}

#[test]
fn py_bytes_repr_matches_python() {
    use torch2air::internal::write::pbtxt::py_bytes_repr;
    assert_eq!(py_bytes_repr(b"i: 0\n"), "'i: 0\\n'");
    assert_eq!(py_bytes_repr(b"s: \"x\"\n"), "'s: \"x\"\\n'");
    assert_eq!(py_bytes_repr(b"it's"), "\"it's\"");
    assert_eq!(py_bytes_repr(&[0u8, 255, b'\\']), "'\\x00\\xff\\\\'");
}

fn graph(ops: Vec<proto::OpDef>) -> GraphDef {
    GraphDef {
        name: "g".into(),
        op: ops,
        ..Default::default()
    }
}

fn seed_graph() -> GraphDef {
    let d = tmp();
    let m = model("seed_single.pt");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[2,4]",
            "--input",
            "f32[2,4]",
        ],
    );
    assert_eq!(code, 0, "{err}");
    read_air(&d.path().join("export_file/export.air"))
        .graph
        .remove(0)
}

#[test]
fn schema_check_rejects_broken_nodes() {
    let good = seed_graph();
    schema::check_graph(&good).unwrap();
    let add = good.op.iter().position(|o| o.r#type == "Add").unwrap();

    let expect = |g: GraphDef, needle: &str| {
        let errs = schema::check_graph(&g).expect_err("broken graph must be rejected");
        let joined = errs.join("\n");
        assert!(joined.contains(needle), "expected {needle:?} in:\n{joined}");
        assert!(
            joined.contains(&format!("node '{}'", g.op[add].name)) || needle.contains("node"),
            "{joined}"
        );
    };
    // Wrong input name.
    let mut g = good.clone();
    g.op[add].input_desc[1].name = "y".into();
    expect(g, "required input 'x2' is missing (input descs: [x1, y])");
    // An extra input.
    let mut g = good.clone();
    g.op[add].input.push("x:0".into());
    let d = g.op[add].input_desc[0].clone();
    g.op[add].input_desc.push(d);
    expect(g, "do not match the prototype's inputs");
    // Unknown attr.
    let mut g = good.clone();
    g.op[add].attr.insert("alpha".into(), attr::float(2.0));
    expect(g, "attr 'alpha' is not an attr of Add");
    // An op type GE does not declare.
    let mut g = good.clone();
    g.op[add].r#type = "Softmax".into();
    expect(g, "'Softmax' is not a GE operator");
    // An input from a node that does not exist, and a bad output index.
    let mut g = good.clone();
    g.op[add].input[0] = "nowhere:0".into();
    expect(g, "names no node");
    let mut g = good.clone();
    g.op[add].input[0] = "x:3".into();
    expect(g, "asks for output 3");
    // Missing required input.
    let mut g = good.clone();
    g.op[add].input.pop();
    g.op[add].input_desc.pop();
    expect(g, "required input 'x2' is missing");
    // List attr without the right val_type; required attr missing.
    let mut b = GraphBuilder::new();
    let x = b.data("x", 0, torch2air::internal::dtype::DType::F32, &[2, 3]);
    let y = b
        .op(
            "SoftmaxV2",
            vec![In::P(x)],
            vec![("axes", attr::name_values(1))],
            &[Some(torch2air::internal::dtype::DType::F32)],
        )
        .unwrap()[0];
    let _ = b
        .op(
            "Cast",
            vec![In::P(y)],
            vec![],
            &[Some(torch2air::internal::dtype::DType::F16)],
        )
        .unwrap();
    b.op(
        "Reshape",
        vec![In::P(y), In::P(x)],
        vec![("axis", attr::float(0.0))],
        &[None],
    )
    .unwrap();
    let g = graph(b.ops.clone());
    let errs = schema::check_graph(&g).unwrap_err().join("\n");
    assert!(
        errs.contains(
            "node 'SoftmaxV2' (SoftmaxV2): attr 'axes' is ListInt and needs list val_type 2"
        ),
        "{errs}"
    );
    assert!(
        errs.contains("node 'Cast' (Cast): required attr 'dst_type' (Int) is missing"),
        "{errs}"
    );
    assert!(
        errs.contains(
            "node 'Reshape' (Reshape): attr 'axis' is Int and must be written as 'i', found 'f'"
        ),
        "{errs}"
    );
}

#[test]
fn export_refuses_to_write_an_invalid_graph() {
    let d = tmp();
    let mut b = GraphBuilder::new();
    let x = b.data("x", 0, torch2air::internal::dtype::DType::F32, &[2]);
    let y = b
        .op(
            "Relu",
            vec![In::P(x)],
            vec![("bogus", attr::int(1))],
            &[Some(torch2air::internal::dtype::DType::F32)],
        )
        .unwrap()[0];
    b.net_output(&[(y, vec![2])]);
    let root = d.path().join("out");
    let mut stage = torch2air::internal::write::stage::Stage::new(&root).unwrap();
    let opts = torch2air::internal::write::WriteOptions {
        export_path: root.to_str().unwrap(),
        subdir: "",
        air_name: "export.air",
        export_name: "export",
        pbtxt: Default::default(),
        weight_threshold: u64::MAX,
    };
    let err = torch2air::internal::write::write_graph(b, "g", &mut stage, &opts)
        .err()
        .expect("rejected")
        .to_string();
    assert!(
        err.contains("node 'Relu' (Relu): attr 'bogus' is not an attr of Relu"),
        "{err}"
    );
    drop(stage);
    assert!(!root.exists(), "nothing is written, not even the folder");
}
