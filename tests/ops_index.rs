//! The index / scatter / order-statistic / view-scatter fixture (models/ops/index.pt, made by
//! models/make_ops_index.py): every output exported, run by the runner and compared with the
//! TorchScript module; and models/ops/index_nonzero.pt, whose output sizes depend on the data:
//! exported for one input (with a guard), run with an input giving another size (refused, with
//! the size named).
mod common;
use common::*;

const INPUTS: [&str; 3] = ["f32[6,5]", "f32[4,5,3]", "i64[7]:0..6"];

#[test]
fn index_fixture_matches_torchscript() {
    let r = verify_fixture("ops/index.pt", &INPUTS, 1e-4);
    assert_eq!(r.checks.len(), 174, "one check per output");
    let m = r.air;
    let t = types(&m);
    for want in [
        "AsStrided",
        "Trace",
        "TensorScatterUpdate",
        "TensorScatterMax",
        "TensorScatterMin",
        "ScatterElements",
        "UnsortedSegmentSum",
        "UnsortedSegmentMax",
        "UnsortedSegmentMin",
        "UnsortedSegmentProd",
        "Sort",
        "Pdist",
        "Renorm",
        "Histogram",
        "LinSpace",
        "NonZero",
        "MaskedSelect",
        "UniqueConsecutive",
        "RepeatInterleave",
        "EmbeddingBag",
    ] {
        assert!(t.iter().any(|x| x == want), "{want} missing in {t:?}");
    }
    // ScatterElements carries each reduction the rules use.
    let mut red: Vec<String> = ops_of_type(&m, "ScatterElements")
        .iter()
        .map(|o| attr_s(o, "reduction"))
        .collect();
    red.sort();
    red.dedup();
    assert_eq!(red, ["add", "mul", "none"], "{red:?}");
    // Nodes whose size came from the sample's data say so, and carry that size in their desc.
    for o in ops_of_type(&m, "NonZero") {
        let what = attr_s(o, "_torch2air_sample_size");
        assert!(
            what.contains("nonzero element") || what.contains("selected row"),
            "{what}"
        );
        let shape = &o.output_desc[0].shape.as_ref().expect("a desc shape").dim;
        assert_eq!(shape.len(), 2, "{shape:?}");
    }
}

#[test]
fn data_dependent_sizes_are_guarded_and_refused_at_other_sizes() {
    let d = tmp();
    let m = model("ops/index_nonzero.pt");
    let out = d.path().join("out");
    // Values in [-1, 1): some positive, not all.
    let (c, so, se) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[8]:-1..1",
            "--export-path",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(c, 0, "{so}{se}");
    assert!(so.contains("guards"), "{so}");
    assert!(
        so.contains("nonzero element(s) (a size taken from the sample's data)"),
        "{so}"
    );
    assert!(
        so.contains("selected element(s) (a size taken from the sample's data)"),
        "{so}"
    );
    let air = out.join("export.air");
    // The same input runs.
    let (c, so, se) = cli(
        d.path(),
        &["run", air.to_str().unwrap(), "--input", "f32[8]:-1..1"],
    );
    assert_eq!(c, 0, "{so}{se}");
    // Every value positive: 8 nonzero elements, which the sample did not have.
    let (c, _, se) = cli(
        d.path(),
        &["run", air.to_str().unwrap(), "--input", "f32[8]:1..2"],
    );
    assert_clean_error(c, &se, "the graph was exported for the sample's");
    assert!(se.contains("nonzero element(s)"), "{se}");
    assert!(
        se.contains("fix: export again with an input like this one"),
        "{se}"
    );
}
