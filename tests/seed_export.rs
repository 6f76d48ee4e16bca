//! The seed's single-card export, checked node by node, byte by byte.
mod common;
use common::*;
use torch2air::proto::attr_def;

fn export_seed(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> String {
    let m = model("seed_single.pt");
    let mut args = vec![
        "export",
        m.to_str().unwrap(),
        "--input",
        "f32[2,4]",
        "--input",
        "f32[2,4]",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = cli_env(dir, &args, env);
    assert_eq!(code, 0, "export failed: {err}");
    out
}

#[test]
fn writes_exactly_pbtxt_and_air() {
    let d = tmp();
    export_seed(d.path(), &[], &[]);
    assert_eq!(files_in(d.path()), vec!["export_file"]);
    assert_eq!(
        files_in(&d.path().join("export_file")),
        vec!["dynamo.pbtxt", "export.air"]
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.path().join("export_file/export.air"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o644);
}

#[test]
fn seed_graph_node_by_node() {
    let d = tmp();
    export_seed(d.path(), &[], &[]);
    let m = read_air(&d.path().join("export_file/export.air"));
    assert_eq!(m.graph.len(), 1);
    let g = &m.graph[0];
    assert_eq!(g.name, "graph_1");
    assert_eq!(
        types(&m),
        ["Data", "Data", "Add", "p1", "Add", "p2", "Add", "NetOutput"].map(|t| match t {
            "p1" | "p2" => "Const",
            t => t,
        })
    );
    assert_eq!(g.input, vec!["x:0", "y:0"]);
    // Data: index attr, x/y descs with dtype DT_FLOAT (proto 1) and shape [2,4].
    for (name, idx) in [("x", 0), ("y", 1)] {
        let d = op(&m, name);
        assert_eq!(attr_i(d, "index"), idx);
        assert!(d.input.is_empty());
        assert_eq!(d.input_desc.len(), 1);
        assert_eq!(d.input_desc[0].name, "x");
        assert_eq!(d.output_desc[0].name, "y");
        for desc in [&d.input_desc[0], &d.output_desc[0]] {
            assert_eq!(desc.dtype, 1);
            assert_eq!(desc.layout, "ND");
            assert_eq!(desc.shape.as_ref().unwrap().dim, vec![2, 4]);
        }
    }
    // Adds chain: ((x + y) + p1) + p2.
    let adds = ops_of_type(&m, "Add");
    assert_eq!(adds.len(), 3);
    assert_eq!(adds[0].input, vec!["x:0", "y:0"]);
    assert_eq!(
        adds[1].input,
        vec![format!("{}:0", adds[0].name), "p1:0".into()]
    );
    assert_eq!(
        adds[2].input,
        vec![format!("{}:0", adds[1].name), "p2:0".into()]
    );
    for a in &adds {
        let names: Vec<&str> = a.input_desc.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["x1", "x2"]);
        assert_eq!(a.output_desc[0].name, "y");
        assert_eq!(a.output_desc[0].dtype, 1);
        // GE's name maps: keys without val_type, values 0..n.
        match &a.attr["_input_name_key"].value {
            Some(attr_def::Value::List(l)) => {
                assert_eq!(l.s, vec![b"x1".to_vec(), b"x2".to_vec()]);
                assert_eq!(l.val_type, 0);
            }
            other => panic!("{other:?}"),
        }
    }
    // Weights inline: Const with value = the parameter's own bytes, desc (DT_FLOAT, ND, [2,4]).
    for p in ["p1", "p2"] {
        let c = op(&m, p);
        let t = match &c.attr["value"].value {
            Some(attr_def::Value::T(t)) => t,
            other => panic!("{other:?}"),
        };
        let (bytes, shape) = param_bytes(&model("seed_single.pt"), p);
        assert_eq!(t.data, bytes, "{p} bytes");
        assert_eq!(t.data.len(), 2 * 4 * 4);
        let desc = t.desc.as_ref().unwrap();
        assert_eq!((desc.dtype, desc.layout.as_str()), (1, "ND"));
        assert_eq!(desc.shape.as_ref().unwrap().dim, shape);
        assert_eq!(c.output_desc[0].dtype, 1);
        assert!(c.input.is_empty());
    }
    // NetOutput: one input, desc input0 with the output shape, no outputs.
    let n = op(&m, "NetOutput");
    assert_eq!(n.input, vec![format!("{}:0", adds[2].name)]);
    assert_eq!(n.input_desc[0].name, "input0");
    assert_eq!(n.input_desc[0].shape.as_ref().unwrap().dim, vec![2, 4]);
    assert!(n.output_desc.is_empty());
    // GE's model attrs.
    assert!(matches!(m.attr["target_type"].value, Some(attr_def::Value::S(ref s)) if s == b"MINI"));
    // Schema check passes on what was written.
    torch2air::internal::ge::schema::check_graph(g).unwrap();
}

#[test]
fn threshold_zero_writes_file_constants_resolving_from_cwd() {
    let d = tmp();
    // The environment variable forces FileConstant weights.
    export_seed(d.path(), &[], &[("TORCH2AIR_WEIGHT_THRESHOLD", "0")]);
    assert_eq!(
        files_in(&d.path().join("export_file")),
        vec!["dynamo.pbtxt", "export.air", "p1", "p2"]
    );
    let m = read_air(&d.path().join("export_file/export.air"));
    for p in ["p1", "p2"] {
        let f = op(&m, p);
        assert_eq!(f.r#type, "FileConstant");
        let path = attr_s(f, "file_path");
        assert_eq!(path, format!("export_file/{p}"));
        assert_eq!(attr_s(f, "file_id"), "");
        // file_path resolves from the working folder of the export.
        let bytes = std::fs::read(d.path().join(&path)).unwrap();
        assert_eq!(bytes, param_bytes(&model("seed_single.pt"), p).0);
        match &f.attr["shape"].value {
            Some(attr_def::Value::List(l)) => {
                assert_eq!((l.i.clone(), l.val_type), (vec![2, 4], 2))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            f.attr["dtype"].value,
            Some(attr_def::Value::Dt(0))
        ));
        // Output desc: DT_FLOAT, ND, no shape, format_for_int 2 (TorchAir's ST test).
        let y = &f.output_desc[0];
        assert_eq!((y.dtype, y.layout.as_str()), (1, "ND"));
        assert!(y.shape.is_none());
        assert!(matches!(
            y.attr["format_for_int"].value,
            Some(attr_def::Value::I(2))
        ));
    }
    // The CLI flag does the same, and the runner reads the files.
    let d2 = tmp();
    export_seed(d2.path(), &["--weight-threshold", "0"], &[]);
    let (code, out, err) = cli(
        d2.path(),
        &[
            "run",
            "export_file/export.air",
            "--input",
            "f32[2,4]",
            "--input",
            "f32[2,4]",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("output 0: f32[2, 4]"), "{out}");
}

#[test]
fn file_constants_verify_against_torchscript() {
    let d = tmp();
    let m = model("seed_single.pt");
    let (code, out, err) = cli(
        d.path(),
        &[
            "verify",
            m.to_str().unwrap(),
            "--input",
            "f32[2,4]",
            "--input",
            "f32[2,4]",
            "--weight-threshold",
            "0",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("weights as FileConstant"), "{out}");
    assert!(out.contains("verify: PASS"), "{out}");
}

#[test]
fn export_name_keeps_last_component_and_export_path_is_verbatim_in_file_path() {
    let d = tmp();
    export_seed(
        d.path(),
        &[
            "--export-path",
            "./mp",
            "--export-name",
            "some/dir/mymodel",
            "--weight-threshold",
            "0",
        ],
        &[],
    );
    assert_eq!(
        files_in(&d.path().join("mp")),
        vec!["dynamo.pbtxt", "mymodel.air", "p1", "p2"]
    );
    assert!(!d.path().join("some").exists());
    let m = read_air(&d.path().join("mp/mymodel.air"));
    assert_eq!(attr_s(op(&m, "p1"), "file_path"), "./mp/p1");
}
