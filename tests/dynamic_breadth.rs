//! Issue 10 item 4, `--dynamic` as wide as static: Hugging Face decoders traced with ids only
//! (GPT-2, Llama, Qwen2; transformers' mask helper calls `aten::diff`) exported once with batch
//! and sequence dynamic and run by the runner at 3 sequence lengths x 2 batch sizes against
//! TorchScript; and one fixture per op family whose rule used to need static shapes, exported
//! static and dynamic (models/make_dynamic_breadth.py).
mod common;
use common::*;
use torch2air::internal::api::{dynamo_export, CompilerConfig};
use torch2air::internal::run::run_air;
use torch2air::internal::verify::{compare, graph_tensors, torchscript_outputs};
use torch2air::proto::ModelDef;

/// A fixture of models/dynamic/breadth, or (a name with a folder) of models/.
fn fixture(name: &str) -> std::path::PathBuf {
    model(&fixture_name(name))
}

fn fixture_name(name: &str) -> String {
    if name.contains('/') {
        name.to_string()
    } else {
        format!("dynamic/breadth/{name}")
    }
}

fn specs(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// Exports `name` once with every input dim dynamic (sample inputs `sample`, seed 1).
fn export_dynamic(
    name: &str,
    sample: &[&str],
) -> (
    tempfile::TempDir,
    torch2air::internal::api::ExportReport,
    ModelDef,
) {
    let d = tmp();
    let out = d.path().join("out");
    let args = torch2air::internal::spec::make_all(&specs(sample), 1).unwrap();
    let r = dynamo_export(
        args,
        fixture(name),
        out.to_str().unwrap(),
        "export",
        true,
        &CompilerConfig::default(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let m = read_air(&r.air);
    torch2air::internal::ge::schema::check_graph(&m.graph[0]).unwrap();
    (d, r, m)
}

/// Runs the export on inputs made from `at` and compares with TorchScript at those sizes.
fn check_at(name: &str, air: &std::path::Path, at: &[&str], seed: u64, tol: f64) {
    let args = torch2air::internal::spec::make_all(&specs(at), seed).unwrap();
    let reference = torchscript_outputs(&fixture(name), &args).unwrap();
    let got =
        run_air(air, &graph_tensors(&args)).unwrap_or_else(|e| panic!("{name} at {at:?}: {e}"));
    let checks = compare(&reference, &got, None, None).unwrap();
    assert_eq!(checks.len(), reference.len(), "{name} at {at:?}");
    for c in checks {
        assert!(c.ok, "{name} at {at:?}: {c}");
        assert!(c.max_abs <= tol, "{name} at {at:?}: {c}");
    }
}

fn data_shape(m: &ModelDef, name: &str) -> Vec<i64> {
    op(m, name).output_desc[0]
        .shape
        .as_ref()
        .unwrap()
        .dim
        .clone()
}

const DECODERS: [&str; 3] = ["gpt2_ids.pt", "llama_ids.pt", "qwen2_ids.pt"];

#[test]
fn hf_decoders_export_once_and_run_at_three_lengths_and_two_batches() {
    for name in DECODERS {
        let (_d, r, m) = export_dynamic(name, &["i64[2,8]:0..100"]);
        assert_eq!(
            r.dynamic_dims,
            vec!["input_ids[0]", "input_ids[1]"],
            "{name}: {:?}",
            r.notes
        );
        assert!(r.notes.is_empty(), "{name}: {:?}", r.notes);
        assert!(
            r.guards.iter().all(|g| !g.dynamic),
            "{name}: a guard on a dynamic dim: {:?}",
            r.guards.iter().filter(|g| g.dynamic).collect::<Vec<_>>()
        );
        assert_eq!(data_shape(&m, "input_ids"), vec![-1, -1], "{name}");
        let mut seed = 30;
        for batch in [1, 3] {
            for seq in [5, 12, 17] {
                let at = format!("i64[{batch},{seq}]:0..100");
                check_at(name, &r.air, &[&at], seed, 1e-4);
                seed += 1;
            }
        }
    }
}

#[test]
fn hf_decoders_static() {
    for name in DECODERS {
        let v = verify_fixture(
            &format!("dynamic/breadth/{name}"),
            &["i64[2,8]:0..100"],
            1e-4,
        );
        assert!(v.export.dynamic_dims.is_empty());
        assert!(!types(&v.air).iter().any(|t| t == "Shape"), "{name}");
    }
}

/// One op family: verified static at `sample`, then exported once with every dim dynamic (the
/// dims left dynamic must be `dynamic`, each pinned or fixed dim's note must contain one of
/// `notes`) and run at each of `sizes` against TorchScript.
fn family(
    name: &str,
    sample: &[&str],
    dynamic: &[&str],
    notes: &[&str],
    sizes: &[&[&str]],
) -> ModelDef {
    let v = verify_fixture(&fixture_name(name), sample, 1e-5);
    assert!(
        !types(&v.air).iter().any(|t| t == "Shape"),
        "{name}: static"
    );
    let (_d, r, m) = export_dynamic(name, sample);
    assert_eq!(r.dynamic_dims, dynamic, "{name}: {:?}", r.notes);
    assert_eq!(r.notes.len(), notes.len(), "{name}: {:?}", r.notes);
    for n in notes {
        assert!(
            r.notes.iter().any(|x| x.contains(n)),
            "{name}: no note with {n:?}: {:?}",
            r.notes
        );
    }
    assert!(sizes.len() >= 3, "three sizes at least");
    for (k, at) in sizes.iter().enumerate() {
        check_at(name, &r.air, at, 40 + k as u64, 1e-5);
    }
    m
}

#[test]
fn diff_on_dynamic_dims() {
    let m = family(
        "diff.pt",
        &["f32[3,5,6]"],
        &["x[0]", "x[1]", "x[2]"],
        &[],
        &[
            &["f32[2,5,6]"],
            &["f32[6,2,9]"],
            &["f32[4,11,3]"],
            &["f32[1,1,1]"],
        ],
    );
    assert_eq!(data_shape(&m, "x"), vec![-1, -1, -1]);
}

#[test]
fn rnn_batch_stays_dynamic_and_the_unrolled_sequence_is_pinned() {
    family(
        "rnn.pt",
        &["f32[2,5,4]"],
        &["x[0]"],
        &[
            "'x' dim 2 is fixed at 4 by the model",
            "'x' dim 1 is pinned at 5: the graph depends on it at rnn.py",
        ],
        &[&["f32[1,5,4]"], &["f32[3,5,4]"], &["f32[7,5,4]"]],
    );
}

#[test]
fn conv_transpose_output_size_from_shape() {
    let m = family(
        "conv_transpose.pt",
        &["f32[2,3,5,6]", "f32[2,3,7]"],
        &["x[0]", "x[2]", "x[3]", "y[0]", "y[2]"],
        &["'x' dim 1 is fixed at 3", "'y' dim 1 is fixed at 3"],
        &[
            &["f32[1,3,5,6]", "f32[3,3,7]"],
            &["f32[2,3,9,4]", "f32[2,3,2]"],
            &["f32[3,3,1,11]", "f32[1,3,13]"],
        ],
    );
    // input_size is Pack(batch, C, (H-1)·s + k', ..) cast to INT32, not a constant.
    for t in ops_of_type(&m, "Conv2DTranspose") {
        let src = &t.input[0];
        let producer = src.split(':').next().unwrap();
        assert_eq!(op(&m, producer).r#type, "Cast", "{}", t.name);
    }
}

#[test]
fn layout_and_variance_on_dynamic_dims() {
    let m = family(
        "layout.pt",
        &["f32[2,8,6,4]", "i64[3,5]"],
        &["x[0]", "x[2]", "x[3]", "i[0]", "i[1]"],
        &["'x' dim 1 is fixed at 8 by the model"],
        &[
            &["f32[1,8,6,4]", "i64[1,1]"],
            &["f32[3,8,3,7]", "i64[4,2]"],
            &["f32[2,8,10,1]", "i64[2,9]"],
        ],
    );
    assert_eq!(data_shape(&m, "x"), vec![-1, 8, -1, -1]);
}

#[test]
fn fused_transformer_encoder_and_mha_on_dynamic_batch_and_sequence() {
    family(
        "vision/transformer_encoder.pt",
        &["i64[2,6]:1..50", "bool[2,6]"],
        &[
            "ids[0]",
            "ids[1]",
            "src_key_padding_mask[0]",
            "src_key_padding_mask[1]",
        ],
        &[],
        &[
            &["i64[1,9]:1..50", "bool[1,9]"],
            &["i64[3,4]:1..50", "bool[3,4]"],
            &["i64[5,13]:1..50", "bool[5,13]"],
        ],
    );
    family(
        "vision/ops_mha.pt",
        &["f32[2,6,16]", "bool[2,6]"],
        &["x[0]", "x[1]", "pad[0]", "pad[1]"],
        &["'x' dim 2 is fixed at 16 by the model"],
        &[
            &["f32[1,9,16]", "bool[1,9]"],
            &["f32[3,4,16]", "bool[3,4]"],
            &["f32[4,11,16]", "bool[4,11]"],
        ],
    );
}

#[test]
fn index_writes_scatter_take_on_dynamic_dims() {
    family(
        "index.pt",
        &["f32[2,5,4]", "i64[3]:0..3"],
        &["x[0]", "x[1]", "idx[0]"],
        &["'x' dim 2 is pinned at 4"],
        &[
            &["f32[1,3,4]", "i64[1]:0..3"],
            &["f32[3,9,4]", "i64[6]:0..3"],
            &["f32[5,4,4]", "i64[2]:0..3"],
        ],
    );
}

#[test]
fn linalg_and_fold_on_dynamic_dims() {
    family(
        "linalg.pt",
        &["f32[2,3]", "f32[3,2]", "f32[4]", "f32[2,12,4]"],
        &["x[0]", "x[1]", "y[0]", "y[1]", "v[0]", "f[0]"],
        &["'f' dim 1 is fixed at 12", "'f' dim 2 is fixed at 4"],
        &[
            &["f32[1,1]", "f32[1,1]", "f32[1]", "f32[1,12,4]"],
            &["f32[4,2]", "f32[2,4]", "f32[7]", "f32[3,12,4]"],
            &["f32[3,5]", "f32[5,3]", "f32[2]", "f32[5,12,4]"],
        ],
    );
}

#[test]
fn norms_size_checks_that_raise_do_not_pin() {
    // `if size_prods == 1: raise ValueError(...)` depends on the dynamic dims, but its other arm
    // only raises: the graph is right at every size PyTorch accepts, so nothing is pinned.
    family(
        "norms.pt",
        &["f32[2,3,6,4]"],
        &["x[0]", "x[2]", "x[3]"],
        &["'x' dim 1 is fixed at 3 by the model"],
        &[&["f32[1,3,5,5]"], &["f32[3,3,2,9]"], &["f32[5,3,7,3]"]],
    );
}

#[test]
fn resize_pad_topk_sizes_from_dynamic_dims() {
    let m = family(
        "resize_pad.pt",
        &["f32[2,3,6,4]"],
        &["x[0]", "x[1]", "x[2]", "x[3]"],
        &[],
        &[&["f32[1,3,5,5]"], &["f32[3,2,7,3]"], &["f32[2,4,4,8]"]],
    );
    assert_eq!(data_shape(&m, "x"), vec![-1, -1, -1, -1]);
}

/// What a dynamic export used to refuse (Roll's shifts are an attribute, computed here from
/// dims 2 and 3; a non-integer scale factor maps pixels like GE's in/out at some sizes only) now
/// pins the dims those values come from, each with a note naming the rule; the other dims stay
/// dynamic and `verify --dynamic` passes at the grown sizes.
#[test]
fn what_a_dynamic_export_used_to_refuse_pins_its_dims_with_notes() {
    let d = tmp();
    let m = fixture("still_refused.pt").display().to_string();
    let out = d.path().join("out");
    let args = [
        "verify",
        m.as_str(),
        "--input",
        "f32[2,3,6,4]",
        "--dynamic",
        "--export-path",
        out.to_str().unwrap(),
    ];
    let (code, stdout, err) = cli(d.path(), &args);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("dynamic dims: x[0], x[1]\n"), "{stdout}");
    let script = std::fs::read_to_string(root().join("models/make_dynamic_breadth.py")).unwrap();
    let line = |text: &str| script.lines().position(|l| l.contains(text)).unwrap() + 1;
    let a = line("a = torch.roll(x, x.size(2) // 2, 2)");
    let b = line("b = torch.roll(x, x.size(3) - 1, 3)");
    for (dim, size, at) in [(2, 6, a), (3, 4, b)] {
        let note = format!(
            "note: 'x' dim {dim} is pinned at {size}: the graph depends on it at make_dynamic_breadth.py:{at}  torch.roll  -> argument 'shifts' of aten::roll"
        );
        assert!(stdout.contains(&note), "{note}: {stdout}");
    }
    assert!(stdout.contains("f32[9, 10, 6, 4]"), "{stdout}");
    assert!(stdout.contains("verify: PASS"), "{stdout}");
    let m = read_air(&out.join("export.air"));
    assert_eq!(data_shape(&m, "x"), vec![-1, -1, 6, 4]);
}

#[test]
fn conv_pool_scan_gather_create_reduce_on_dynamic_dims() {
    family(
        "misc.pt",
        &["f32[2,3,8,6]"],
        &["x[0]", "x[2]", "x[3]"],
        &["'x' dim 1 is fixed at 3 by the model"],
        &[&["f32[1,3,5,3]"], &["f32[3,3,11,7]"], &["f32[2,3,4,9]"]],
    );
}

#[test]
fn sdpa_with_a_dynamic_head_dim_scales_from_shape() {
    let m = family(
        "sdpa.pt",
        &["f32[2,4,5,8]", "f32[2,4,6,8]", "f32[2,4,6,8]"],
        &[
            "q[0]", "q[1]", "q[2]", "q[3]", "k[0]", "k[1]", "k[2]", "k[3]", "v[0]", "v[1]", "v[2]",
            "v[3]",
        ],
        &[],
        &[
            &["f32[1,2,3,16]", "f32[1,2,7,16]", "f32[1,2,7,16]"],
            &["f32[3,1,9,4]", "f32[3,1,2,4]", "f32[3,1,2,4]"],
            &["f32[2,4,6,32]", "f32[2,4,6,32]", "f32[2,4,6,32]"],
        ],
    );
    assert!(types(&m).iter().any(|t| t == "Rsqrt"));
}

#[test]
fn split_sizes_from_a_dynamic_dim_and_chunk_counts_pin() {
    let m = family(
        "split.pt",
        &["f32[4,5,6]"],
        &["x[1]"],
        &[
            "'x' dim 0 is pinned at 4: the graph depends on it at make_dynamic_breadth.py",
            "'x' dim 2 is pinned at 6: the graph depends on it at make_dynamic_breadth.py",
        ],
        &[&["f32[4,2,6]"], &["f32[4,9,6]"], &["f32[4,16,6]"]],
    );
    assert_eq!(data_shape(&m, "x"), vec![4, -1, 6]);
    // The split sizes along the dynamic dim are computed (Pack), not a constant.
    let sv = ops_of_type(&m, "SplitV");
    assert!(
        sv.iter()
            .any(|o| op(&m, o.input[1].split(':').next().unwrap()).r#type == "Pack"),
        "{:?}",
        sv.iter().map(|o| &o.input).collect::<Vec<_>>()
    );
}

#[test]
fn losses_with_a_dynamic_class_dim() {
    family(
        "losses.pt",
        &["f32[2,4,5]", "i64[2,5]:0..3"],
        &["x[0]", "x[1]", "x[2]", "t[0]", "t[1]"],
        &[],
        &[
            &["f32[1,3,2]", "i64[1,2]:0..3"],
            &["f32[3,7,4]", "i64[3,4]:0..7"],
            &["f32[5,12,9]", "i64[5,9]:0..12"],
        ],
    );
}

// The last refusal sites of item 4 (models/make_dynamic_sites.py): each rule now computes what
// it needs from Shape in the graph.

#[test]
fn index_put_with_index_tensors_of_different_dynamic_shapes() {
    let m = family(
        "dynamic/sites/index_put.pt",
        &["f32[6,7]", "i64[3]:0..6", "i64[4]:0..7", "f32[3]"],
        &["x[0]", "x[1]", "i[0]", "j[0]", "v[0]"],
        &[],
        &[
            &["f32[4,5]", "i64[2]:0..4", "i64[6]:0..5", "f32[2]"],
            &["f32[9,3]", "i64[5]:0..9", "i64[2]:0..3", "f32[5]"],
            &["f32[6,7]", "i64[1]:0..6", "i64[1]:0..7", "f32[1]"],
        ],
    );
    // The indices broadcast to a shape computed in the graph (Pack), not a constant.
    let bt = ops_of_type(&m, "BroadcastTo");
    assert!(
        bt.iter()
            .any(|o| op(&m, o.input[1].split(':').next().unwrap()).r#type == "Pack"),
        "{:?}",
        bt.iter().map(|o| &o.input).collect::<Vec<_>>()
    );
}

#[test]
fn masked_scatter_where_neither_operand_has_the_result_shape() {
    let m = family(
        "dynamic/sites/masked_scatter.pt",
        &["f32[2,1,5]", "f32[3,5]", "f32[2,3,5]"],
        &["x[0]", "x[2]", "m[0]", "m[1]", "src[0]", "src[1]", "src[2]"],
        &["'x' dim 1 has size 1"],
        &[
            &["f32[3,1,4]", "f32[2,4]", "f32[3,2,4]"],
            &["f32[1,1,7]", "f32[5,7]", "f32[1,5,7]"],
            &["f32[4,1,2]", "f32[1,2]", "f32[4,1,2]"],
        ],
    );
    // The broadcast of two dynamic dims (C of x and of the mask) is computed: Maximum.
    assert!(types(&m).iter().any(|t| t == "Maximum"));
}

#[test]
fn view_copy_to_several_dynamic_dims() {
    family(
        "dynamic/sites/view_copy.pt",
        &["f32[2,3,4,5]"],
        &["x[0]", "x[1]", "x[2]", "x[3]"],
        &[],
        &[&["f32[3,2,5,4]"], &["f32[1,1,2,3]"], &["f32[4,3,1,2]"]],
    );
}

#[test]
fn resize_by_non_integer_scales_on_dynamic_sizes() {
    let m = family(
        "dynamic/sites/resize.pt",
        &["f32[2,3,6,5]"],
        &["x[0]", "x[1]", "x[2]", "x[3]"],
        &[],
        &[
            &["f32[1,2,7,4]"],
            &["f32[3,3,9,11]"],
            &["f32[2,1,3,3]"],
            &["f32[1,1,4,2]"],
        ],
    );
    assert_eq!(data_shape(&m, "x"), vec![-1, -1, -1, -1]);
    // floor(in · scale) in the graph.
    assert!(types(&m).iter().any(|t| t == "Floor"));
    // Static, at sizes where the 2-D nearest kernel's out == 2·in and out == in cases apply
    // (8 = 2·4 rows, 4 columns from 4 by 1.2).
    verify_fixture("dynamic/sites/resize.pt", &["f32[1,2,4,4]"], 1e-5);
}

#[test]
fn sdpa_enable_gqa_with_a_dynamic_number_of_heads() {
    // One head count at the sample: the repeat factor (1 there) comes from Shape, so the same
    // graph runs 4 query heads on 2 key heads, 6 on 2 and 2 on 2.
    let m = family(
        "dynamic/sites/gqa.pt",
        &["f32[2,3,5,8]", "f32[2,3,6,8]", "f32[2,3,6,8]"],
        &[
            "q[0]", "q[1]", "q[2]", "q[3]", "k[0]", "k[1]", "k[2]", "k[3]", "v[0]", "v[1]", "v[2]",
            "v[3]",
        ],
        &[],
        &[
            &["f32[1,4,3,16]", "f32[1,2,7,16]", "f32[1,2,7,16]"],
            &["f32[3,6,4,4]", "f32[3,2,2,4]", "f32[3,2,2,4]"],
            &["f32[2,2,6,8]", "f32[2,2,6,8]", "f32[2,2,6,8]"],
        ],
    );
    assert!(types(&m).iter().any(|t| t == "Tile"));
}

#[test]
fn pixel_and_channel_shuffles_with_dynamic_channels() {
    let m = family(
        "dynamic/sites/shuffles.pt",
        &["f32[2,3,4,6]"],
        &["x[0]", "x[1]"],
        &[
            "'x' dim 2 is fixed at 4 by the model",
            "'x' dim 3 is fixed at 6 by the model",
        ],
        &[&["f32[1,5,4,6]"], &["f32[3,1,4,6]"], &["f32[4,2,4,6]"]],
    );
    assert_eq!(data_shape(&m, "x"), vec![-1, -1, 4, 6]);
}

#[test]
fn conv_transpose3d_dynamic_export_keeps_its_far_probe_small() {
    // Every dim but the channels grown by 32 would give the probe 13 000 times the sample's
    // elements (3.2 M, and the transposed conv far more work): the far probe grows them by 16.
    // (Not `family`: `torch2air check` flags Conv3DTranspose's FLOAT x and filter, which its
    // prototype does not list, static or dynamic.)
    let name = "dynamic/sites/conv_transpose3d.pt";
    let (_d, r, m) = export_dynamic(name, &["f32[2,2,4,5,3]"]);
    assert_eq!(
        r.dynamic_dims,
        ["x[0]", "x[2]", "x[3]", "x[4]"],
        "{:?}",
        r.notes
    );
    assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
    assert!(r.notes[0].contains("'x' dim 1 is fixed at 2 by the model"));
    assert!(r.notes[1].contains("the second probe grows the dynamic dims by 16 only"));
    assert_eq!(data_shape(&m, "x"), vec![-1, 2, -1, -1, -1]);
    for (k, at) in [
        "f32[1,2,3,3,3]",
        "f32[3,2,5,2,4]",
        "f32[2,2,6,6,6]",
        "f32[2,2,4,5,3]",
    ]
    .iter()
    .enumerate()
    {
        check_at(name, &r.air, &[at], 40 + k as u64, 1e-5);
    }
}
