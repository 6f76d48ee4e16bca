//! The scan, order-statistic and sampling fixture (models/ops/scan.pt, made by
//! models/make_ops_scan.py): cumprod, prod, var_mean/std_mean, median, kthvalue, cummax/cummin
//! (with ties), logcumsumexp, index_add, take, masked_scatter, adaptive_max_pool2d, grid_sample
//! in every bilinear/nearest × padding × align_corners combination, and affine_grid, exported,
//! run by the runner and compared with the TorchScript module.
mod common;
use common::*;

const INPUTS: [&str; 4] = ["f32[4,6]", "f32[2,3,5,7]", "f32[2,4,6,2]", "i64[5]:-24..24"];

#[test]
fn scan_fixture_matches_torchscript() {
    let r = verify_fixture("ops/scan.pt", &INPUTS, 1e-5);
    assert_eq!(r.checks.len(), 58, "one check per output");
    let m = r.air;
    let t = types(&m);
    for want in [
        "Cumprod",
        "ReduceProd",
        "Sort",
        "Cummax",
        "Cummin",
        "CumulativeLogsumexp",
        "InplaceIndexAdd",
        "MaskedScatter",
        "AdaptiveMaxPool2d",
        "GridSampler2D",
        "AffineGrid",
    ] {
        assert!(t.iter().any(|x| x == want), "{want} missing in {t:?}");
    }
    // Cummax names its dim attr `dim`, Cummin `axis`, as their prototypes do.
    assert_eq!(attr_i(ops_of_type(&m, "Cummax")[0], "dim"), 1);
    assert_eq!(attr_i(ops_of_type(&m, "Cummin")[0], "axis"), 1);
    // Every interpolation × padding mode reaches GridSampler2D as its own attrs.
    let mut combos: Vec<(String, String)> = ops_of_type(&m, "GridSampler2D")
        .iter()
        .map(|o| (attr_s(o, "interpolation_mode"), attr_s(o, "padding_mode")))
        .collect();
    combos.sort();
    combos.dedup();
    assert_eq!(combos.len(), 6, "{combos:?}");
    // alpha is fed only to the index_add that has one.
    let fed: Vec<usize> = ops_of_type(&m, "InplaceIndexAdd")
        .iter()
        .map(|o| o.input.iter().filter(|i| !i.is_empty()).count())
        .collect();
    assert_eq!(fed, vec![3, 4], "{fed:?}");
}

#[test]
fn bicubic_grid_sample_is_refused() {
    let d = tmp();
    let m = model("ops/scan_refused.pt");
    let (c, _, e) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[1,2,4,4]",
            "--input",
            "f32[1,3,3,2]",
            "--input",
            "str:bicubic",
        ],
    );
    assert_clean_error(c, &e, "mode='bicubic' is not lowered");
    let (c, _, e) = cli(
        d.path(),
        &[
            "export",
            m.to_str().unwrap(),
            "--input",
            "f32[1,2,4,4]",
            "--input",
            "f32[1,3,3,2]",
            "--input",
            "str:nearest",
        ],
    );
    assert_eq!(c, 0, "{e}");
}
