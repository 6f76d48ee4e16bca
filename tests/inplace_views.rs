//! Issue 13 item 5, in-place writes through views (models/make_inplace_views.py): each fixture
//! writes into a view of a tensor and reads the tensor (or another view of it) afterwards. Static
//! exports put the write back by element positions; dynamic ones through the views' chains
//! (walk/views.rs). Each is verified static, then exported once with its dims dynamic and run by
//! the runner at three or more sizes against TorchScript.
mod common;
use common::*;
use torch2air::internal::api::{dynamo_export, CompilerConfig};
use torch2air::internal::run::run_air;
use torch2air::internal::verify::{compare, graph_tensors, torchscript_outputs};
use torch2air::proto::ModelDef;

fn fixture(name: &str) -> String {
    format!("inplace_views/{name}")
}

fn specs(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// Runs the export on inputs made from `at` and compares with TorchScript at those sizes.
fn check_at(name: &str, air: &std::path::Path, at: &[&str], seed: u64) {
    let args = torch2air::internal::spec::make_all(&specs(at), seed).unwrap();
    let reference = torchscript_outputs(&model(&fixture(name)), &args).unwrap();
    let got =
        run_air(air, &graph_tensors(&args)).unwrap_or_else(|e| panic!("{name} at {at:?}: {e}"));
    let checks = compare(&reference, &got, None, None).unwrap();
    assert_eq!(checks.len(), reference.len(), "{name} at {at:?}");
    for c in checks {
        assert!(c.ok, "{name} at {at:?}: {c}");
        assert!(c.max_abs <= 1e-5, "{name} at {at:?}: {c}");
    }
}

/// Verified static at `sample` (no shape op in the graph); exported once with every dim dynamic
/// (the dims left dynamic must be `dynamic`, with no guard on them: nothing was pinned to make
/// the writes expressible) and run at each of `sizes`. Returns the dynamic graph.
fn case(name: &str, sample: &[&str], dynamic: &[&str], sizes: &[&[&str]]) -> ModelDef {
    let v = verify_fixture(&fixture(name), sample, 1e-5);
    assert!(
        !types(&v.air).iter().any(|t| t == "Shape"),
        "{name}: static"
    );
    let d = tmp();
    let out = d.path().join("out");
    let args = torch2air::internal::spec::make_all(&specs(sample), 1).unwrap();
    let r = dynamo_export(
        args,
        model(&fixture(name)),
        out.to_str().unwrap(),
        "export",
        true,
        &CompilerConfig::default(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let m = read_air(&r.air);
    torch2air::internal::ge::schema::check_graph(&m.graph[0]).unwrap();
    assert_eq!(r.dynamic_dims, dynamic, "{name}: {:?}", r.notes);
    assert!(
        r.guards.iter().all(|g| !g.dynamic),
        "{name}: a guard on a dynamic dim: {:?}",
        r.guards.iter().filter(|g| g.dynamic).collect::<Vec<_>>()
    );
    assert!(sizes.len() >= 3, "three sizes at least");
    for (k, at) in sizes.iter().enumerate() {
        check_at(name, &r.air, at, 40 + k as u64);
    }
    // The same export is what `verify --dynamic` checks (the sample, the probes, larger sizes).
    let v = verify_fixture_at(&fixture(name), sample, true, 1e-5);
    assert!(!v.export.dynamic_dims.is_empty());
    m
}

fn count(m: &ModelDef, ty: &str) -> usize {
    types(m).iter().filter(|t| *t == ty).count()
}

#[test]
fn deepseek_v3_expand_kv_writes_into_new_empty() {
    // query/key = new_empty(b, h, s, nope + rope); [..., :nope] = ..; [..., nope:] = .. (the
    // rope part broadcast from one head by the copy).
    let m = case(
        "expand_kv.pt",
        &["f32[2,5,16]"],
        &["x[0]", "x[1]"],
        &[&["f32[1,3,16]"], &["f32[3,9,16]"], &["f32[2,1,16]"]],
    );
    // Four slice writes, each a scatter at positions computed from the dynamic dims.
    assert_eq!(count(&m, "TensorScatterUpdate"), 4, "{:?}", types(&m));
    assert!(count(&m, "Range") >= 4, "{:?}", types(&m));
}

#[test]
fn kv_cache_written_by_slices_of_dynamic_bounds() {
    let m = case(
        "kv_cache.pt",
        &["f32[2,2,3,4]", "f32[2,2,2,4]"],
        &[
            "past[0]", "past[1]", "past[2]", "past[3]", "new[0]", "new[1]", "new[2]", "new[3]",
        ],
        &[
            &["f32[1,3,5,4]", "f32[1,3,1,4]"],
            &["f32[3,2,7,6]", "f32[3,2,4,6]"],
            &["f32[2,1,2,3]", "f32[2,1,6,3]"],
        ],
    );
    assert_eq!(count(&m, "TensorScatterUpdate"), 2, "{:?}", types(&m));
}

#[test]
fn diagonal_fill_and_offset_diagonal_add() {
    case(
        "diagonal_fill.pt",
        &["f32[2,4,4]", "f32[]"],
        &["x[0]", "x[1]", "x[2]"],
        &[
            &["f32[3,5,5]", "f32[]"],
            &["f32[1,2,2]", "f32[]"],
            &["f32[2,6,3]", "f32[]"],
        ],
    );
}

#[test]
fn write_through_a_select_of_a_transpose() {
    let m = case(
        "transpose_row.pt",
        &["f32[3,5]"],
        &["x[0]", "x[1]"],
        &[&["f32[4,2]"], &["f32[7,9]"], &["f32[1,6]"]],
    );
    // Each row write is one scatter into the transpose, which goes back by Transpose.
    assert_eq!(count(&m, "TensorScatterUpdate"), 2, "{:?}", types(&m));
    assert!(count(&m, "Transpose") >= 3, "{:?}", types(&m));
}

#[test]
fn write_through_view_and_unsqueeze_then_read_the_base() {
    let m = case(
        "view_write.pt",
        &["f32[3,4,5]"],
        &["x[0]", "x[1]", "x[2]"],
        &[&["f32[2,2,3]"], &["f32[5,1,7]"], &["f32[4,6,2]"]],
    );
    // The writes reach y through Reshape back to its dims, not a scatter over the reshape.
    assert_eq!(count(&m, "TensorScatterUpdate"), 2, "{:?}", types(&m));
}

#[test]
fn writes_through_chains_of_two_views() {
    case(
        "two_views.pt",
        &["f32[4,5]", "f32[5]"],
        &["x[0]", "x[1]", "z[0]"],
        &[
            &["f32[2,3]", "f32[3]"],
            &["f32[6,8]", "f32[8]"],
            &["f32[3,2]", "f32[2]"],
        ],
    );
}

#[test]
fn the_older_inplace_fixture_exports_dynamic_too() {
    // z[:, 1] = y; z[1:, ::2] += 1; z.t()[0] *= 3, refused with --dynamic before.
    let v = verify_fixture_at("inplace_view.pt", &["f32[3,4]", "f32[3]"], true, 1e-5);
    assert_eq!(v.checks.len(), 2);
    assert!(count(&v.air, "Shape") > 0);
}

#[test]
fn a_view_broken_by_an_in_place_transpose_is_written_back_when_static() {
    // `row = y[0]; y.t_(); y[0] += 1; row * 2`: static, the write lands in `row` by element
    // positions (with dynamic dims it is refused: tests/bad_input.rs).
    let v = verify_fixture(
        &fixture("shape_changed_then_written.pt"),
        &["f32[3,4]"],
        1e-5,
    );
    assert_eq!(v.checks.len(), 2);
}

/// One model, one graph: each export is its own process (its own hash seed), and the values a
/// write reaches were once written back in the hash map's order, so that every run made other
/// nodes (inplace_view.pt: four runs, four different .air files). Three exports of each fixture,
/// static and dynamic, byte for byte; and no write-back scatter with nothing to write.
#[test]
fn exports_through_views_are_deterministic() {
    let cases: &[(&str, &[&str])] = &[
        ("inplace_view.pt", &["f32[3,4]", "f32[3]"]),
        (
            "inplace_views/kv_cache.pt",
            &["f32[2,2,3,4]", "f32[2,2,2,4]"],
        ),
        ("inplace_views/two_views.pt", &["f32[4,5]", "f32[5]"]),
        ("inplace_views/view_write.pt", &["f32[3,4,5]"]),
        ("inplace_views/diagonal_fill.pt", &["f32[2,4,4]", "f32[]"]),
    ];
    let d = tmp();
    for (name, sample) in cases {
        let m = model(name);
        for dynamic in [false, true] {
            let mut runs = vec![];
            for k in 0..3 {
                let out = format!("out{k}");
                let mut args = vec!["export", m.to_str().unwrap(), "--export-path", &out];
                for s in *sample {
                    args.extend(["--input", s]);
                }
                if dynamic {
                    args.push("--dynamic");
                }
                let (c, o, e) = cli(d.path(), &args);
                assert_eq!(c, 0, "{name}: {o}{e}");
                let air = d.path().join(&out).join("export.air");
                runs.push(std::fs::read(&air).unwrap());
                let g = read_air(&air);
                for s in ops_of_type(&g, "TensorScatterUpdate") {
                    let src = s.input[1].split(':').next().unwrap();
                    let ind = op(&g, src);
                    if ind.r#type == "Const" {
                        let dims = &ind.output_desc[0].shape.as_ref().unwrap().dim;
                        assert!(dims[0] > 0, "{name}: {} scatters nothing", s.name);
                    }
                }
                std::fs::remove_dir_all(d.path().join(&out)).unwrap();
            }
            assert!(
                runs.windows(2).all(|w| w[0] == w[1]),
                "{name} (dynamic {dynamic}): the exports differ"
            );
        }
    }
}
