//! The model zoo (models/make_zoo.py): Hugging Face architectures torch2air was not written
//! against, traced from tiny random configs. Each is exported and verified against the
//! TorchScript module at 1e-4, statically and with dynamic=true (where verify also runs the one
//! export at sizes it never saw), and its graph passes the schema check.
mod common;
use common::*;
use torch2air::spec;
use torch2air::verify::verify;

fn zoo(file: &str) -> String {
    model(&format!("zoo/{file}")).display().to_string()
}

fn check(name: &str, inputs: &[&str], dynamic: bool) {
    let d = tmp();
    let out = d.path().join("out");
    let specs: Vec<String> = inputs
        .iter()
        .map(|i| zoo(&format!("{name}_{i}.npy")))
        .collect();
    let r = verify(
        spec::make_all(&specs, 0).unwrap(),
        &model(&format!("zoo/{name}.pt")),
        out.to_str().unwrap(),
        "export",
        dynamic,
        &Default::default(),
        Some(1e-4),
        None,
    )
    .unwrap_or_else(|e| panic!("{name} (dynamic={dynamic}): {e}"));
    assert!(r.passed(), "{name} (dynamic={dynamic}) failed");
    let mut checks: Vec<_> = r.checks.iter().collect();
    match (&r.grown, dynamic) {
        (Some(g), true) => {
            assert!(g.binding && g.note.is_none(), "{name}: {:?}", g.note);
            assert!(!g.checks.is_empty(), "{name}: no check at grown sizes");
            checks.extend(&g.checks);
        }
        (None, false) => {}
        (g, _) => panic!("{name} (dynamic={dynamic}): grown check {:?}", g.is_some()),
    }
    for c in checks {
        assert!(c.ok && c.max_abs <= 1e-4, "{name} (dynamic={dynamic}): {c}");
    }
    let air = read_air(&r.export.air);
    torch2air::ge::schema::check_graph(&air.graph[0]).unwrap();
    if dynamic {
        // Batch and sequence (text) or batch, height and width (vision) stay dynamic.
        let want = if inputs == ["pixels"] {
            vec!["pixel_values[0]", "pixel_values[2]", "pixel_values[3]"]
        } else {
            vec![
                "input_ids[0]",
                "input_ids[1]",
                "attention_mask[0]",
                "attention_mask[1]",
            ]
        };
        assert_eq!(r.export.dynamic_dims, want, "{name}");
    }
}

fn text(name: &str) {
    for dynamic in [false, true] {
        check(name, &["ids", "mask"], dynamic);
    }
}

fn vision(name: &str) {
    for dynamic in [false, true] {
        check(name, &["pixels"], dynamic);
    }
}

#[test]
fn qwen2() {
    text("qwen2");
}

#[test]
fn mistral() {
    text("mistral");
}

#[test]
fn gemma() {
    text("gemma");
}

#[test]
fn phi() {
    text("phi");
}

#[test]
fn gpt_neox() {
    text("gpt_neox");
}

#[test]
fn opt() {
    text("opt");
}

#[test]
fn roberta() {
    text("roberta");
}

#[test]
fn electra() {
    text("electra");
}

#[test]
fn distilbert() {
    text("distilbert");
}

#[test]
fn t5_encoder() {
    text("t5_encoder");
}

#[test]
fn convnext() {
    vision("convnext");
}

#[test]
fn swin() {
    vision("swin");
}

#[test]
fn deit() {
    vision("deit");
}

#[test]
fn regnet() {
    vision("regnet");
}

#[test]
fn segformer() {
    vision("segformer");
}
