//! Every lowering rule in the registry runs in at least one fixture export. The fixtures below
//! are the ones the other tests verify against TorchScript (and, for the multi-card ones, against
//! a gloo run), so a rule no fixture reaches has no test of its numbers: add a fixture for it.
//! Each fixture is exported here with `--report`, whose rows say which ops were lowered. The
//! OpInfo sample cases (models/opinfo/) that pass count as fixtures too.
mod common;
use common::*;
use std::collections::BTreeSet;

/// `models/<dir>/<name>.in<k>.npy` (vision) or `<name>_ids.npy`, `<name>_mask.npy`
/// (transformers): the sample inputs saved with a traced model.
fn saved_inputs(dir: &str, name: &str) -> Vec<String> {
    let mut v: Vec<String> = (0..)
        .map(|k| model(&format!("{dir}/{name}.in{k}.npy")))
        .take_while(|p| p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    for part in ["ids", "mask"] {
        let p = model(&format!("{dir}/{name}_{part}.npy"));
        if p.is_file() {
            v.push(p.display().to_string());
        }
    }
    v
}

struct Case {
    model: String,
    inputs: Vec<String>,
    flags: Vec<String>,
}

fn case(model: &str, inputs: &[&str], flags: &[&str]) -> Case {
    Case {
        model: self::model(model).display().to_string(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        flags: flags.iter().map(|s| s.to_string()).collect(),
    }
}

fn cases() -> Vec<Case> {
    let mc = |f: &str| model(&format!("multicard/{f}")).display().to_string();
    let x_rank = mc("x_rank{rank}.npy");
    let mut c = vec![
        case("seed_single.pt", &["f32[2,4]", "f32[2,4]"], &[]),
        case("doc_linear.pt", &[], &[]),
        case("mlp.pt", &["f32[5,16]"], &[]),
        case("branchy.pt", &["f32[3,4]", "bool:true"], &[]),
        case("branchy.pt", &["f32[3,4]", "bool:false"], &[]),
        case("inplace_view.pt", &["f32[3,4]", "f32[3]"], &[]),
        case("inplace_more.pt", &["f32[3,3]", "f32[]"], &[]),
        case("inplace_views/expand_kv.pt", &["f32[2,5,16]"], &[]),
        case(
            "inplace_views/diagonal_fill.pt",
            &["f32[2,4,4]", "f32[]"],
            &["--dynamic"],
        ),
        case("ops/common.pt", &["f32[4,6,8]", "i64[3,5]:0..7"], &[]),
        case("ops/loss.pt", &["f32[6,5]", "f32[6,5]", "i64[6]:0..5"], &[]),
        case("ops/math.pt", &["f32[4,6]", "f32[4,6]"], &[]),
        case(
            "ops/scan.pt",
            &["f32[4,6]", "f32[2,3,5,7]", "f32[2,4,6,2]", "i64[5]:-24..24"],
            &[],
        ),
        case("ops/linalg.pt", &["f32[4,6]", "f32[4,6]"], &[]),
        case("ops/decomp.pt", &["f32[4,6]", "f32[4,6]"], &[]),
        case(
            "ops/index.pt",
            &["f32[6,5]", "f32[4,5,3]", "i64[7]:0..6"],
            &[],
        ),
        case("ops/index_nonzero.pt", &["f32[8]:-1..1"], &[]),
        case(
            "ops/blocks.pt",
            &["f32[2,3,7,8]", "f32[4,6]", "i64[10]:0..20"],
            &[],
        ),
        case("ops/elementwise.pt", &["f32[3,4]", "f32[3,4]"], &[]),
        case("ops/int.pt", &["i64[2,3]:-5..5", "f32[2,3]"], &[]),
        case("ops/shape.pt", &["f32[2,3,4]", "f32[2,1,4]"], &[]),
        case(
            "ops/nn.pt",
            &["i64[2,4]:0..10", "f32[2,4,6]", "f32[3,6]"],
            &[],
        ),
        case(
            "ops/more.pt",
            &["f32[2,3,5,6]", "i64[2,3]:-5..5", "i64[2,3]:-5..5"],
            &[],
        ),
        case(
            "transformers/ops_compare.pt",
            &["f32[3,4]", "f32[3,4]", "i64[3,4]:0..6"],
            &[],
        ),
        case(
            "transformers/ops_create.pt",
            &["f32[3,4]", "i64[3,4]:0..6"],
            &[],
        ),
        case(
            "transformers/ops_shape.pt",
            &["f32[3,4,4]", "f32[3,4,4]"],
            &[],
        ),
        case(
            "transformers/ops_index.pt",
            &["f32[2,4,3]", "i64[2,2,3]:0..3", "i64[3]:0..2", "f32[2,2,3]"],
            &[],
        ),
        case(
            "transformers/ops_sort.pt",
            &["f32[4,5]", "i64[4,5]:0..100"],
            &[],
        ),
        case(
            "transformers/ops_math.pt",
            &["f32[3,4]", "i64[3,4]:1..9"],
            &[],
        ),
        case(
            "transformers/ops_attention.pt",
            &[
                "f32[2,4,6,8]",
                "f32[2,4,6,8]",
                "f32[2,4,6,8]",
                "bool[2,1,6,6]",
                "f32[2,1,6,6]",
                "f32[2,2,6,8]",
            ],
            &[],
        ),
        // Dynamic exports: the rules of ops whose sizes come from dynamic dims.
        case("dynamic/attention.pt", &["f32[2,5,16]"], &["--dynamic"]),
        case("dynamic/flatten_mlp.pt", &["f32[2,5,4]"], &["--dynamic"]),
        case("dynamic/traced_chain.pt", &["f32[2,5,8]"], &["--dynamic"]),
        case("dynamic/size_arith.pt", &["f32[2,5]"], &["--dynamic"]),
        case("dynamic/creators.pt", &["f32[3,6]"], &["--dynamic"]),
        case("dynamic/window.pt", &["f32[2,6]"], &["--dynamic"]),
        case(
            "dynamic/batch_losses.pt",
            &["f32[4,5]"],
            &["--dynamic", "--dynamic-dims", "x=0"],
        ),
    ];
    for name in ["gpt2", "bert", "llama"] {
        let inputs = saved_inputs("transformers", name);
        let m = format!("transformers/{name}.pt");
        for flags in [&[][..], &["--dynamic"][..]] {
            let mut k = case(&m, &[], flags);
            k.inputs = inputs.clone();
            c.push(k);
        }
    }
    for name in [
        "vit",
        "resnet",
        "mobilenet_v2",
        "mobilenet_v3",
        "transformer_encoder",
        "transformer_encoder_causal",
        "gru_tagger",
        "ops_mha",
        "ops_conv",
        "ops_conv_transpose",
        "ops_pool",
        "ops_norm",
        "ops_resize_pad",
        "ops_act",
        "ops_gru",
        "ops_lstm",
        "ops_misc",
    ] {
        let mut k = case(&format!("vision/{name}.pt"), &[], &[]);
        k.inputs = saved_inputs("vision", name);
        assert!(!k.inputs.is_empty(), "{name}: no saved inputs");
        c.push(k);
    }
    // tests/ops_families.rs verifies these (models/make_ops_families.py).
    for name in [
        "cnn3d", "unet_up", "pools", "special", "losses", "norms", "misc", "extras",
    ] {
        let mut k = case(&format!("families/{name}.pt"), &[], &[]);
        k.inputs = saved_inputs("families", name);
        assert!(!k.inputs.is_empty(), "{name}: no saved inputs");
        c.push(k);
    }
    let multi = |file: &str, inputs: Vec<String>, flags: &[&str]| Case {
        model: mc(file),
        inputs,
        flags: flags.iter().map(|s| s.to_string()).collect(),
    };
    // The OpInfo sample cases that pass (tests/opinfo.rs replays each against TorchScript).
    let sample = std::fs::read_to_string(model("opinfo/expected.tsv")).unwrap_or_default();
    for line in sample.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() >= 4 && f[2] == "static" && f[3] == "pass" {
            let dir = model("opinfo").join(f[1]);
            let mut k = case(&format!("opinfo/{}/model.pt", f[1]), &[], &[]);
            k.inputs = torch2air::internal::opinfo::case_inputs(&dir)
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            c.push(k);
        }
    }
    c.extend([
        multi(
            "collectives.pt",
            vec![x_rank.clone(), "int:2".into()],
            &["--world-size", "2", "--rank", "0"],
        ),
        multi(
            "all_to_all_v.pt",
            vec![x_rank.clone(), "int:{rank}".into()],
            &["--world-size", "2", "--rank", "0"],
        ),
        multi(
            "tp_mlp_w2_rank{rank}.pt",
            vec![mc("tp_x.npy")],
            &["--world-size", "2", "--rank", "0"],
        ),
    ]);
    // torchvision's ops, with its op library (tests/torchvision_ops.rs verifies them).
    let lt = std::env::var("LIBTORCH").expect("run the tests with ./dev test (LIBTORCH)");
    let tv = std::path::Path::new(&lt)
        .parent()
        .unwrap()
        .join("torchvision/_C.so")
        .display()
        .to_string();
    for (name, n) in [("roi_align", 2), ("deform_conv", 1), ("nms", 2)] {
        c.push(Case {
            model: model(&format!("torchvision/{name}.pt"))
                .display()
                .to_string(),
            inputs: (0..n)
                .map(|k| {
                    model(&format!("torchvision/{name}_{k}.npy"))
                        .display()
                        .to_string()
                })
                .collect(),
            flags: vec!["--load-library".into(), tv.clone()],
        });
    }
    c
}

#[test]
fn every_rule_runs_in_a_fixture() {
    let rules = torch2air::internal::lower::rules();
    let mut lowered = BTreeSet::new();
    for k in cases() {
        let d = tmp();
        let mut args: Vec<&str> = vec!["export", &k.model, "--report", "ops.csv"];
        for i in &k.inputs {
            args.extend(["--input", i.as_str()]);
        }
        args.extend(k.flags.iter().map(String::as_str));
        let (code, _, err) = cli(d.path(), &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let text = std::fs::read_to_string(d.path().join("ops.csv"))
            .unwrap_or_else(|e| panic!("{args:?}: no report: {e}"));
        let mut r = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(&r.headers().unwrap()[2], "status");
        for row in r.records() {
            let row = row.unwrap();
            if &row[2] == "lowered" {
                let key = rules
                    .key_of(&row[0])
                    .unwrap_or_else(|| panic!("{}: lowered but no rule", &row[0]));
                lowered.insert(key);
            }
        }
    }
    let missing: Vec<&str> = rules
        .list()
        .map(|(op, _)| *op)
        .filter(|op| !lowered.contains(op))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} rules run in no fixture export (add them to a fixture that a test verifies): {missing:?}",
        missing.len(),
        rules.list().count()
    );
}
