//! `verify --bisect`: on a mismatch the graph runs node by node against the TorchScript values
//! the walk recorded, and the first differing GE node is named with its op type, ATen op, source
//! line, its error and its inputs' errors. Tested on exports whose one node is altered.
mod common;

use common::{cli, model, read_air, tmp};
use prost::Message;
use std::path::Path;
use torch2air::proto::ModelDef;

/// Exports models/mlp.pt (fc1 -> LayerNorm -> gelu -> fc2 -> softmax) into `dir/e`; returns
/// its ModelDef.
fn export_mlp(dir: &Path) -> ModelDef {
    let (code, out, err) = cli(
        dir,
        &[
            "verify",
            model("mlp.pt").to_str().unwrap(),
            "--input",
            "f32[4,16]",
            "--bisect",
            "--export-path",
            "e",
        ],
    );
    // A correct export passes; there is nothing to bisect.
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verify: PASS"), "{out}");
    assert!(!out.contains("bisect:"), "{out}");
    read_air(&dir.join("e/export.air"))
}

fn op_mut<'a>(m: &'a mut ModelDef, name: &str) -> &'a mut torch2air::proto::OpDef {
    m.graph[0]
        .op
        .iter_mut()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no op {name}"))
}

fn verify_altered(dir: &Path, m: &ModelDef, extra: &[&str]) -> (i32, String, String) {
    // Next to the export, so that any weight files resolve the same way.
    let air = dir.join("e/altered.air");
    std::fs::write(&air, m.encode_to_vec()).unwrap();
    let mut args = vec![
        "verify",
        model("mlp.pt").to_str().unwrap().to_string().leak() as &str,
        "--input",
        "f32[4,16]",
        "--export-path",
        "e2",
        "--bisect",
        "--air",
        "e/altered.air",
    ];
    args.extend_from_slice(extra);
    cli(dir, &args)
}

/// `input NAME: max abs err X` lines of the report, as (name, error).
fn input_errors(out: &str) -> Vec<(String, Option<f64>)> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("input "))
        .map(|l| {
            let (name, rest) = l.split_once(": ").unwrap();
            let err = rest
                .strip_prefix("max abs err ")
                .map(|r| r.split_whitespace().next().unwrap().parse().unwrap());
            (name.to_string(), err)
        })
        .collect()
}

fn max_abs_err(out: &str) -> f64 {
    let l = out
        .lines()
        .skip_while(|l| !l.starts_with("bisect: first differing node"))
        .nth(1)
        .unwrap();
    let v = l.split("max abs err ").nth(1).unwrap();
    v.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn names_the_node_whose_op_type_was_changed() {
    let d = tmp();
    let mut m = export_mlp(d.path());
    // gelu becomes relu: same input, different values for negative inputs.
    op_mut(&mut m, "GeluV2").r#type = "Relu".into();
    let (code, out, err) = verify_altered(d.path(), &m, &["--dump", "dump"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("verify: FAIL"), "{err}");
    assert!(out.contains("compared: e/altered.air"), "{out}");
    assert!(
        out.contains("bisect: first differing node: 'GeluV2' (Relu) output 0, from aten::gelu at "),
        "{out}"
    );
    // The source line of F.gelu in the fixture's script.
    assert!(out.contains("make_fixtures.py:56"), "{out}");
    assert!(out.contains("MISMATCH"), "{out}");
    // Its one input, LayerNorm's output, matches TorchScript: the node itself is at fault.
    let ins = input_errors(&out);
    assert_eq!(ins.len(), 1, "{out}");
    assert_eq!(ins[0].0, "LayerNormV4:0");
    assert!(ins[0].1.unwrap() < 1e-5, "{out}");
    // Everything upstream was compared (x, 5 weights, the LayerNorm's Const, MatMulV2,
    // LayerNormV4) before the Relu.
    let compared: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("bisect: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count: {out}"));
    assert!(compared >= 9, "{out}");
    // --dump: both tensors, the same error as reported, ours the ReLU of what TorchScript gelu'd.
    let npy = |f: &str| {
        let p = d.path().join("dump").join(f).display().to_string();
        let v = torch2air::internal::spec::make_all(&[p], 0)
            .unwrap()
            .remove(0);
        v.as_tensor().unwrap().tensor.shallow_clone()
    };
    let (ours, theirs) = (npy("ours.npy"), npy("torchscript.npy"));
    assert_eq!(ours.size(), [4, 32]);
    assert_eq!(theirs.size(), [4, 32]);
    let diff = (&ours - &theirs).abs().max().double_value(&[]);
    let reported = max_abs_err(&out);
    assert!(
        (diff - reported).abs() <= 1e-3 * diff.max(1e-6),
        "{diff} vs {reported}"
    );
    assert!(diff > 1e-2, "{diff}");
    assert!(ours.min().double_value(&[]) >= 0.0);
    assert!(
        theirs.min().double_value(&[]) < 0.0,
        "gelu is negative somewhere"
    );
    assert!(out.contains("saved dump/ours.npy"), "{out}");
}

#[test]
fn names_an_altered_weight() {
    let d = tmp();
    let mut m = export_mlp(d.path());
    // Flip the sign of fc2's weight Const.
    let w = op_mut(&mut m, "fc2.weight");
    let v = w.attr.get_mut("value").unwrap();
    let Some(torch2air::proto::attr_def::Value::T(t)) = v.value.as_mut() else {
        panic!("fc2.weight has no tensor value")
    };
    let mut bytes = t.data.to_vec();
    for c in bytes.chunks_mut(4) {
        c[3] ^= 0x80;
    }
    t.data = bytes.into();
    let (code, out, err) = verify_altered(d.path(), &m, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "bisect: first differing node: 'fc2.weight' (Const) output 0, from weight 'fc2.weight'"
        ),
        "{out}"
    );
    assert!(
        input_errors(&out).is_empty(),
        "a Const has no inputs: {out}"
    );
    assert!(!Path::new(&d.path().join("dump")).exists());
}

#[test]
fn damaged_graph_reports_what_it_cannot_compare_and_compares_the_rest() {
    let d = tmp();
    let mut m = export_mlp(d.path());
    // The second MatMulV2 is gone: SoftmaxV2 and NetOutput cannot run. GeluV2 is altered, and
    // must still be found.
    m.graph[0].op.retain(|o| o.name != "MatMulV2_1");
    op_mut(&mut m, "GeluV2").r#type = "Relu".into();
    let (code, out, err) = verify_altered(d.path(), &m, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.contains("the graph does not run as a whole"), "{out}");
    assert!(
        out.contains(
            "bisect: cannot compare: running node 'SoftmaxV2' (SoftmaxV2): input 'MatMulV2_1:0' is not computed before this node"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "bisect: cannot compare: 1 node(s) not run, as an input comes from a node that failed"
        ),
        "{out}"
    );
    assert!(
        out.contains("no node output of that name in the graph: MatMulV2_1:0, SoftmaxV2:0"),
        "{out}"
    );
    assert!(
        out.contains("first differing node: 'GeluV2' (Relu)"),
        "{out}"
    );
}

#[test]
fn foreign_names_are_reported_as_not_compared() {
    let d = tmp();
    let mut m = export_mlp(d.path());
    // Another exporter's names: nothing computed matches a TorchScript value by name, but the
    // graph's input and weights keep theirs.
    for o in m.graph[0].op.iter_mut() {
        if o.r#type == "MatMulV2" || o.r#type == "GeluV2" || o.r#type == "LayerNormV4" {
            o.name = format!("other/{}", o.name);
        }
    }
    let rename = |i: &mut String| {
        for n in ["MatMulV2_1", "MatMulV2", "GeluV2", "LayerNormV4"] {
            if let Some(rest) = i.strip_prefix(&format!("{n}:")) {
                *i = format!("other/{n}:{rest}");
                return;
            }
        }
    };
    for o in m.graph[0].op.iter_mut() {
        o.input.iter_mut().for_each(rename);
    }
    op_mut(&mut m, "SoftmaxV2").r#type = "Relu".into();
    let (code, out, err) = verify_altered(d.path(), &m, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "bisect: cannot compare: 4 TorchScript value(s) have no node output of that name"
        ),
        "{out}"
    );
    assert!(
        out.contains("first differing node: 'SoftmaxV2' (Relu)"),
        "{out}"
    );
    // Its input has no TorchScript value under that name.
    assert_eq!(
        input_errors(&out),
        [("other/MatMulV2_1:0".to_string(), None)]
    );
}

#[test]
fn undamaged_exports_compare_equal_node_by_node() {
    // Every recorded value matches its node in correct exports (no false first difference from
    // dtypes or shapes a lowering represents differently).
    let zoo = |f: &str| model(&format!("zoo/{f}.npy")).display().to_string();
    for (name, specs) in [
        ("mlp.pt", vec!["f32[3,16]".to_string()]),
        ("branchy.pt", vec!["f32[3,4]".into(), "bool:true".into()]),
        ("inplace_view.pt", vec!["f32[3,4]".into(), "f32[3]".into()]),
        ("dict_out.pt", vec!["f32[2,3]".into()]),
        ("inplace_more.pt", vec!["f32[3,3]".into(), "f32[]".into()]),
        ("optional_args.pt", vec!["f32[2,3]".into()]),
        ("mlp_f16.pt", vec!["f16[5,16]".into()]),
        (
            "zoo/distilbert.pt",
            vec![zoo("distilbert_ids"), zoo("distilbert_mask")],
        ),
        ("zoo/convnext.pt", vec![zoo("convnext_pixels")]),
    ] {
        let d = tmp();
        let mut config = torch2air::internal::api::CompilerConfig::default();
        config.export.record_values = true;
        let args = torch2air::internal::spec::make_all(&specs, 0).unwrap();
        let e = d.path().join("e");
        let r = torch2air::internal::api::dynamo_export(
            args,
            model(name),
            e.to_str().unwrap(),
            "export",
            false,
            &config,
        )
        .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(!r.recorded.is_empty(), "{name}");
        let inputs = torch2air::internal::verify::graph_tensors(&r.inputs);
        let b = torch2air::internal::verify::bisect(&r.air, &r.recorded, &inputs, None, None, None)
            .unwrap();
        assert!(b.first.is_none(), "{name}: {:?}", b.first);
        assert!(b.problems.is_empty(), "{name}: {:?}", b.problems);
        assert!(b.unmatched.is_empty(), "{name}: {:?}", b.unmatched);
        assert!(b.compared >= 3, "{name}: {}", b.compared);
    }
}

#[test]
fn air_and_dump_need_bisect() {
    let d = tmp();
    for opt in ["--air", "--dump"] {
        let (code, _, err) = cli(
            d.path(),
            &["verify", model("mlp.pt").to_str().unwrap(), opt, "x"],
        );
        assert_eq!(code, 2, "{err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains("--bisect"), "{err}");
    }
}

#[test]
fn unreadable_air_is_a_clean_error() {
    let d = tmp();
    export_mlp(d.path());
    std::fs::write(
        d.path().join("e/garbage.air"),
        b"\xff\xff\xff not a ModelDef",
    )
    .unwrap();
    for air in ["e/garbage.air", "e/missing.air"] {
        let (code, out, err) = cli(
            d.path(),
            &[
                "verify",
                model("mlp.pt").to_str().unwrap(),
                "--input",
                "f32[4,16]",
                "--export-path",
                "e2",
                "--bisect",
                "--air",
                air,
            ],
        );
        common::assert_clean_error(code, &err, air);
        assert_eq!(code, 2, "{out}{err}");
    }
}
