//! `torch2air show`: the HTML page parses (scraper) and is self-contained; every node of the
//! .air is on it by name; the boxes are the module scopes the nn_module_stack attrs name; shapes
//! and source lines reach the page; a multi-card folder gives one tab per rank with its Hcom
//! nodes marked; TorchAir's graphs, cut-short and edited files draw what they can and list the
//! rest; `-o X.svg` writes a static picture; headless Chromium (when installed) runs the page's
//! script and draws something (non-background pixels of a screenshot, nodes in the live DOM).
mod common;

use common::{cli, read_air, tmp};
use prost::Message;
use scraper::{Html, Selector};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use torch2air::internal::ge::attr;
use torch2air::proto::ModelDef;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn graphs() -> PathBuf {
    common::root().join("tests").join("torchair_graphs")
}

fn sel(css: &str) -> Selector {
    Selector::parse(css).unwrap()
}

/// Exports the GPT-2 fixture with nn_module_stack (and source lines) recorded.
fn export_gpt2(dir: &Path) -> PathBuf {
    let t = common::model("transformers");
    let (code, _, err) = cli(
        dir,
        &[
            "export",
            s(&t.join("gpt2.pt")),
            "--input",
            s(&t.join("gpt2_ids.npy")),
            "--input",
            s(&t.join("gpt2_mask.npy")),
            "--record-nn-module-stack",
            "--pbtxt",
            "none",
        ],
    );
    assert_eq!(code, 0, "export failed: {err}");
    dir.join("export_file/export.air")
}

/// Runs `show PATH -o OUT` in `dir`; returns (exit code, stdout, stderr).
fn show(dir: &Path, path: &Path, out: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["show", s(path), "-o", out];
    args.extend_from_slice(extra);
    cli(dir, &args)
}

/// The page parsed, and its graph data.
fn page(file: &Path) -> (Html, Value) {
    let text = std::fs::read_to_string(file).unwrap();
    let doc = Html::parse_document(&text);
    assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);
    let data = doc
        .select(&sel("script#graph-data"))
        .next()
        .expect("the graph data block")
        .text()
        .collect::<String>();
    let v: Value = serde_json::from_str(&data).expect("graph data is JSON");
    (doc, v)
}

/// Names of every op of a model.
fn op_names(m: &ModelDef) -> BTreeSet<String> {
    m.graph[0].op.iter().map(|o| o.name.clone()).collect()
}

fn node_names(g: &Value) -> BTreeSet<String> {
    g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

/// The names in the page's node index for rank `r`.
fn index_names(doc: &Html, r: usize) -> BTreeSet<String> {
    doc.select(&sel(&format!(
        "ul.node-index[data-rank=\"{r}\"] li[data-node]"
    )))
    .map(|li| li.value().attr("data-node").unwrap().to_string())
    .collect()
}

/// The module paths of an nn_module_stack attr, outermost first (read here independently of
/// the crate: each entry is `("L['self'].<path>", <class '<Class>'>)`).
fn stack_paths(stack: &str) -> Vec<String> {
    stack
        .split("(\"L['self']")
        .skip(1)
        .map(|rest| {
            let path = rest.split('"').next().unwrap();
            path.trim_start_matches('.').to_string()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

#[test]
fn page_has_every_node_boxes_by_module_scope_shapes_and_sources() {
    let d = tmp();
    let air = export_gpt2(d.path());
    let (code, out, err) = show(d.path(), &air, "gpt2.html", &["--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("gpt2.html"), "{out}");
    assert!(err.is_empty(), "no problems expected: {err}");
    let (doc, v) = page(&d.path().join("gpt2.html"));
    // Self-contained: nothing the page would fetch.
    let outside: Vec<String> = doc
        .select(&sel("[src], [href], link, iframe, img"))
        .map(|e| format!("{:?}", e.value()))
        .collect();
    assert!(outside.is_empty(), "outside resources: {outside:?}");
    let text = std::fs::read_to_string(d.path().join("gpt2.html")).unwrap();
    assert!(!text.contains("sourceMappingURL"));
    assert!(
        text.contains("var dagre="),
        "the vendored dagre build is inlined"
    );

    let m = read_air(&air);
    let g = &v["graphs"][0];
    assert_eq!(v["graphs"].as_array().unwrap().len(), 1);
    assert_eq!(node_names(g), op_names(&m), "every node, by name");
    assert_eq!(index_names(&doc, 0), op_names(&m), "the node index");
    assert_eq!(doc.select(&sel("button.tab")).count(), 1);

    // Boxes: the scopes are exactly the module paths the attrs name, nested as they nest, and
    // each node with the attr sits in its innermost module.
    let scopes: Vec<(String, i64)> = g["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["parent"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut expected = BTreeSet::new();
    let mut innermost: BTreeMap<String, String> = BTreeMap::new();
    for o in &m.graph[0].op {
        if let Some(a) = o.attr.get("nn_module_stack").and_then(attr::as_str) {
            let paths = stack_paths(&a);
            for w in paths.windows(2) {
                assert!(w[1].starts_with(&w[0]), "{a}");
            }
            expected.extend(paths.iter().cloned());
            innermost.insert(o.name.clone(), paths.last().unwrap().clone());
        }
    }
    assert!(expected.len() > 10, "GPT-2 has many modules: {expected:?}");
    assert!(expected.iter().any(|p| p.contains("h[1]")), "{expected:?}");
    let got: BTreeSet<String> = scopes.iter().map(|s| s.0.clone()).collect();
    assert_eq!(got, expected, "one box per module scope");
    for (path, parent) in &scopes {
        if *parent >= 0 {
            let p = &scopes[*parent as usize].0;
            assert!(path.starts_with(&format!("{p}.")), "{path} inside {p}");
        } else {
            assert!(!path.contains('.'), "{path} is top-level");
        }
    }
    let nodes = g["nodes"].as_array().unwrap();
    for n in nodes {
        let name = n["name"].as_str().unwrap();
        if let Some(want) = innermost.get(name) {
            let sc = n["scope"].as_i64().unwrap();
            assert!(sc >= 0, "{name} has a scope");
            assert_eq!(&scopes[sc as usize].0, want, "{name}");
        }
    }
    assert!(innermost.len() > 50, "{}", innermost.len());

    // Shapes on nodes (a static graph: every output known, from descs or the sample run), and
    // edges labelled with their tensor's dtype and shape.
    for n in nodes {
        if n["type"] == "NetOutput" {
            continue;
        }
        for o in n["outs"].as_array().unwrap() {
            let o = o.as_str().unwrap();
            assert!(
                !o.contains('?') && o.contains('['),
                "{}: output '{o}'",
                n["name"]
            );
        }
    }
    let ids = m.graph[0]
        .op
        .iter()
        .find(|o| o.r#type == "Data" && attr::as_int(&o.attr["index"]) == Some(0))
        .unwrap();
    let ids_node = nodes
        .iter()
        .find(|n| n["name"] == ids.name.as_str())
        .unwrap();
    assert_eq!(ids_node["kind"], "input");
    assert_eq!(ids_node["outs"][0], "i64[2,8]");
    let edges = g["edges"].as_array().unwrap();
    assert!(edges.len() >= nodes.len() - 3);
    for e in edges {
        let from = &nodes[e["from"].as_u64().unwrap() as usize];
        let port = e["port"].as_i64().unwrap();
        if port >= 0 {
            assert_eq!(e["label"], from["outs"][port as usize], "{e}");
        }
    }
    // The graph's first output is the logits: [2, 8, vocab], on the edge into NetOutput.
    let net = nodes.iter().position(|n| n["type"] == "NetOutput").unwrap();
    let logits = edges
        .iter()
        .find(|e| e["to"] == net && e["port"].as_i64() >= Some(0))
        .unwrap();
    assert!(
        logits["label"].as_str().unwrap().starts_with("f32[2,8,"),
        "{logits}"
    );

    // Weights and inputs styled apart; source lines and attrs for the side panel.
    assert!(nodes.iter().any(|n| n["kind"] == "weight"));
    assert!(nodes.iter().any(|n| n["kind"] == "output"));
    let matmul = nodes.iter().find(|n| n["type"] == "MatMulV2").unwrap();
    let src = matmul["source"].as_str().expect("source recorded");
    assert!(src.contains(".py:"), "{src}");
    assert!(src.contains("\n  in "), "the call stack: {src}");
    let attrs: Vec<&str> = matmul["attrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a[0].as_str().unwrap())
        .collect();
    assert!(attrs.contains(&"transpose_x1"), "{attrs:?}");
    let konst = nodes.iter().find(|n| n["type"] == "Const").unwrap();
    let value = konst["attrs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a[0] == "value")
        .unwrap();
    assert!(value[1].as_str().unwrap().starts_with("tensor "), "{value}");

    // The page opens collapsed within its budget: the visible units (closed boxes and nodes
    // outside them) are at most 50, and not every box is open.
    let expanded: BTreeSet<i64> = g["expanded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert!(expanded.len() < scopes.len());
    let units = visible_units(g, &expanded);
    assert!(units.len() <= 50 && units.len() > 5, "{}", units.len());
}

#[test]
fn without_nn_module_stack_boxes_come_from_the_recorded_call_stack() {
    let d = tmp();
    let air = export_gpt2(d.path());
    let mut m = read_air(&air);
    let mut frames: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in &mut m.graph[0].op {
        o.attr.remove("nn_module_stack");
        if let Some(src) = o.attr.get("_torch2air_source").and_then(attr::as_str) {
            // `  in <instance>.<fn> ...` lines, innermost first.
            let inst: Vec<String> = src
                .lines()
                .skip(1)
                .map(|l| {
                    let call = l.trim().trim_start_matches("in ");
                    let call = call.split(' ').next().unwrap();
                    call.rsplit_once('.').unwrap().0.to_string()
                })
                .collect();
            frames.insert(o.name.clone(), inst);
        }
    }
    assert!(
        frames.values().any(|f| f.len() >= 3),
        "nested calls recorded"
    );
    let f = d.path().join("no_stack.air");
    std::fs::write(&f, m.encode_to_vec()).unwrap();
    let (code, _, err) = show(d.path(), &f, "p.html", &["--no-run"]);
    assert_eq!(code, 0, "{err}");
    let (_, v) = page(&d.path().join("p.html"));
    let g = &v["graphs"][0];
    let scopes = g["scopes"].as_array().unwrap();
    for n in g["nodes"].as_array().unwrap() {
        let Some(inst) = frames.get(n["name"].as_str().unwrap()) else {
            continue;
        };
        let want: Vec<&str> = inst.iter().rev().map(|s| s.as_str()).collect();
        let sc = n["scope"].as_i64().unwrap();
        if want.is_empty() {
            assert_eq!(sc, -1, "{n}");
        } else {
            assert_eq!(scopes[sc as usize]["path"], want.join("."), "{n}");
        }
    }
    // --no-run: inner outputs of torch2air's graphs carry dtypes only.
    assert!(g["notes"][0].as_str().unwrap().contains("--no-run"));
}

#[test]
fn a_large_graph_without_scopes_opens_grouped_in_file_order() {
    let d = tmp();
    let t = common::model("transformers");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            s(&t.join("gpt2.pt")),
            "--input",
            s(&t.join("gpt2_ids.npy")),
            "--input",
            s(&t.join("gpt2_mask.npy")),
            "--pbtxt",
            "none",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let air = d.path().join("export_file/export.air");
    let (code, _, err) = show(d.path(), &air, "p.html", &[]);
    assert_eq!(code, 0, "{err}");
    let (_, v) = page(&d.path().join("p.html"));
    let g = &v["graphs"][0];
    let m = read_air(&air);
    assert_eq!(node_names(g), op_names(&m));
    let scopes = g["scopes"].as_array().unwrap();
    assert!(scopes.len() >= 10 && scopes.len() <= 50, "{}", scopes.len());
    // Consecutive parts in file order, covering every node once.
    let mut next = 1;
    for (k, sc) in scopes.iter().enumerate() {
        let path = sc["path"].as_str().unwrap();
        let (a, b) = path.trim_start_matches("nodes ").split_once('-').unwrap();
        let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(a, next, "{path}");
        next = b + 1;
        for i in a - 1..b {
            assert_eq!(g["nodes"][i]["scope"], k as i64);
        }
    }
    assert_eq!(next, m.graph[0].op.len() + 1);
    let expanded: BTreeSet<i64> = g["expanded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert!(visible_units(g, &expanded).len() <= 50);
    assert!(g["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("no module scopes recorded")));
}

/// The units drawn when the page opens: `s<i>` for a closed box, `n<i>` for a node.
fn visible_units(g: &Value, expanded: &BTreeSet<i64>) -> BTreeSet<String> {
    let scopes = g["scopes"].as_array().unwrap();
    let parent = |s: i64| scopes[s as usize]["parent"].as_i64().unwrap();
    g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut chain = vec![];
            let mut sc = n["scope"].as_i64().unwrap();
            while sc >= 0 {
                chain.push(sc);
                sc = parent(sc);
            }
            match chain.iter().rev().find(|c| !expanded.contains(c)) {
                Some(c) => format!("s{c}"),
                None => format!("n{i}"),
            }
        })
        .collect()
}

#[test]
fn multi_card_folder_gives_one_tab_per_rank_with_hcom_marked() {
    let d = tmp();
    // TorchAir's own two-rank export (with its nn_module_stack) and one of torch2air's.
    let theirs = graphs().join("examples/e_allreduce_layers_2rank/export");
    let (code, _, err) = show(d.path(), &theirs, "theirs.html", &[]);
    assert_eq!(code, 0, "{err}");
    let m = common::model("multicard/seed_mp.pt");
    let (code, _, err) = cli(
        d.path(),
        &[
            "export",
            s(&m),
            "--input",
            "i32[2,2]:1..2",
            "--input",
            "i32[2,2]:1..2",
            "--export-path",
            "mp",
            "--export-name",
            "mp_rank",
            "--world-size",
            "2",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = show(d.path(), &d.path().join("mp"), "ours.html", &[]);
    assert_eq!(code, 0, "{err}");
    for (page_file, folder, prefix) in [
        ("theirs.html", theirs.clone(), "export"),
        ("ours.html", d.path().join("mp"), "mp_rank"),
    ] {
        let (doc, v) = page(&d.path().join(page_file));
        let tabs: Vec<String> = doc
            .select(&sel("button.tab"))
            .map(|b| b.text().collect::<String>())
            .collect();
        assert_eq!(tabs.len(), 2, "{tabs:?}");
        for (r, t) in tabs.iter().enumerate() {
            assert!(t.starts_with(&format!("rank {r}")), "{t}");
            assert!(t.contains("Hcom"), "{t}");
            let air = read_air(&folder.join(format!("{prefix}{r}.air")));
            let g = &v["graphs"][r];
            assert_eq!(node_names(g), op_names(&air), "{page_file} rank {r}");
            assert_eq!(index_names(&doc, r), op_names(&air));
            let hcom_ops: BTreeSet<String> = air.graph[0]
                .op
                .iter()
                .filter(|o| o.r#type.starts_with("Hcom"))
                .map(|o| o.name.clone())
                .collect();
            assert!(!hcom_ops.is_empty());
            let marked: BTreeSet<String> = g["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| n["kind"] == "hcom")
                .map(|n| n["name"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(marked, hcom_ops, "{page_file} rank {r}");
            let li: BTreeSet<String> = doc
                .select(&sel(&format!("ul.node-index[data-rank=\"{r}\"] li.k-hcom")))
                .map(|l| l.value().attr("data-node").unwrap().to_string())
                .collect();
            assert_eq!(li, hcom_ops);
            // The AllReduce's output shape came from running both ranks together.
            for n in g["nodes"].as_array().unwrap() {
                if n["kind"] == "hcom" {
                    assert!(!n["outs"][0].as_str().unwrap().contains('?'), "{n}");
                }
            }
        }
    }
    // The page's style highlights them.
    let text = std::fs::read_to_string(d.path().join("ours.html")).unwrap();
    assert!(text.contains("g.node.k-hcom rect"));
}

#[test]
fn torchair_graphs_draw_whole() {
    let d = tmp();
    let mut n = 0;
    for e in std::fs::read_dir(graphs().join("ops")).unwrap().flatten() {
        let air = e.path().join("export.air");
        let (code, _, err) = show(d.path(), &air, "g.html", &["--quiet"]);
        assert_eq!(code, 0, "{}: {err}", air.display());
        assert!(
            !err.contains("cut short") && !err.contains("damaged"),
            "{err}"
        );
        let (doc, v) = page(&d.path().join("g.html"));
        let m = read_air(&air);
        assert_eq!(
            node_names(&v["graphs"][0]),
            op_names(&m),
            "{}",
            air.display()
        );
        assert_eq!(index_names(&doc, 0), op_names(&m));
        // TorchAir's placeholder descs: the shapes come from the sample run.
        let g = &v["graphs"][0];
        for n in g["nodes"].as_array().unwrap() {
            if n["type"] != "NetOutput" && n["outs"].as_array().unwrap().iter().any(|o| o == "?") {
                panic!("{}: {n} has an unknown output shape", air.display());
            }
        }
        n += 1;
    }
    assert!(n >= 40, "{n} graphs");
}

#[test]
fn damaged_graphs_draw_what_they_can_and_list_the_rest() {
    let d = tmp();
    let good = graphs().join("ops/layer_norm_2d/export.air");
    let bytes = std::fs::read(&good).unwrap();
    let m = read_air(&good);
    let all = op_names(&m);

    // Cut short at several points: the ops before the cut are drawn, the cut one is listed.
    let mut drew_some = 0;
    for frac in [0.5, 0.75, 0.95] {
        let cut = (bytes.len() as f64 * frac) as usize;
        let f = d.path().join(format!("cut{cut}.air"));
        std::fs::write(&f, &bytes[..cut]).unwrap();
        let (code, out, err) = show(d.path(), &f, "cut.html", &[]);
        assert!(!err.contains("panicked"), "{err}");
        if code == 2 {
            common::assert_clean_error(code, &err, "nothing to draw");
            continue;
        }
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("problem(s) listed"), "{out}");
        assert!(err.contains("cut short"), "{err}");
        let (doc, v) = page(&d.path().join("cut.html"));
        let drawn = node_names(&v["graphs"][0]);
        assert!(!drawn.is_empty() && drawn.is_subset(&all), "{drawn:?}");
        assert!(drawn.len() < all.len());
        // The ops are drawn in file order: the drawn ones are a prefix.
        let prefix: BTreeSet<String> = m.graph[0]
            .op
            .iter()
            .take(drawn.len())
            .map(|o| o.name.clone())
            .collect();
        assert_eq!(drawn, prefix);
        let banner: String = doc.select(&sel(".banner")).flat_map(|b| b.text()).collect();
        assert!(banner.contains("cut short"), "{banner}");
        drew_some += 1;
    }
    assert!(drew_some >= 2);

    // An unknown op type and a dangling input: drawn as far as they go, and listed.
    let mut edited = m.clone();
    let ops = &mut edited.graph[0].op;
    let k = ops.iter().position(|o| o.r#type == "LayerNormV4").unwrap();
    ops[k].r#type = "NoSuchOp".into();
    let net = ops.iter().position(|o| o.r#type == "NetOutput").unwrap();
    ops[net].input.push("ghost:0".into());
    let f = d.path().join("edited.air");
    std::fs::write(&f, edited.encode_to_vec()).unwrap();
    let (code, _, err) = show(d.path(), &f, "edited.html", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("NoSuchOp"), "{err}");
    assert!(err.contains("no node 'ghost'"), "{err}");
    let (doc, v) = page(&d.path().join("edited.html"));
    assert_eq!(node_names(&v["graphs"][0]), all);
    let banner: String = doc.select(&sel(".banner")).flat_map(|b| b.text()).collect();
    assert!(
        banner.contains("NoSuchOp") && banner.contains("ghost"),
        "{banner}"
    );

    // Nothing drawable: exit 2 with one clear error, and no page.
    for (name, data) in [
        ("garbage.air", b"not a protobuf at all\xff\xff".to_vec()),
        ("tiny.air", bytes[..10].to_vec()),
        ("empty.air", vec![]),
    ] {
        let f = d.path().join(name);
        std::fs::write(&f, data).unwrap();
        let (code, _, err) = show(d.path(), &f, "none.html", &[]);
        common::assert_clean_error(code, &err, "nothing to draw");
        assert_eq!(code, 2);
        assert!(!d.path().join("none.html").exists());
    }
    let (code, _, err) = show(d.path(), &d.path().join("missing.air"), "x.html", &[]);
    common::assert_clean_error(code, &err, "does not exist");
    let (code, _, err) = show(d.path(), &good, "x.png", &[]);
    common::assert_clean_error(code, &err, "-o graph.html");
    assert_eq!(code, 2);
}

#[test]
fn svg_output_is_a_static_picture() {
    let d = tmp();
    let air = graphs().join("examples/e_allreduce_layers_2rank/export/export0.air");
    let (code, _, err) = show(d.path(), &air, "g.svg", &[]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(d.path().join("g.svg")).unwrap();
    let doc = Html::parse_fragment(&text);
    let svg = doc.select(&sel("svg")).next().expect("an <svg> element");
    let texts: String = svg.text().collect();
    let m = read_air(&air);
    // Every op type of the graph is written on some node (this graph opens whole).
    for t in m.graph[0].op.iter().map(|o| o.r#type.as_str()) {
        assert!(texts.contains(t), "{t} missing from the SVG");
    }
    assert!(texts.contains("f32[2,4]"), "shapes on nodes and edges");
    assert!(doc.select(&sel("svg rect")).count() >= m.graph[0].op.len());
}

/// Headless Chromium: the path of Debian's `chromium` when installed.
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|c| {
        std::env::var_os("PATH")?
            .to_str()?
            .split(':')
            .map(|d| Path::new(d).join(c))
            .find(|p| p.is_file())
    })
}

fn headless(chrome: &Path, dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(chrome);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1200,800",
    ])
    .arg(format!("--user-data-dir={}", dir.join("profile").display()))
    .current_dir(dir);
    c
}

#[test]
fn headless_chromium_draws_the_page() {
    let Some(chrome) = chromium() else {
        println!("SKIPPED: headless_chromium_draws_the_page needs Debian's chromium (apt-get install -y chromium)");
        return;
    };
    let d = tmp();
    let air = export_gpt2(d.path());
    let (code, _, err) = show(d.path(), &air, "gpt2.html", &[]);
    assert_eq!(code, 0, "{err}");
    let page_file = d.path().join("gpt2.html");
    let url = format!("file://{}", page_file.display());

    // The live DOM after the script ran: the drawn nodes and boxes are the visible units.
    let out = headless(&chrome, d.path())
        .args(["--virtual-time-budget=5000", "--dump-dom"])
        .arg(&url)
        .output()
        .unwrap();
    let dom = Html::parse_document(&String::from_utf8_lossy(&out.stdout));
    let body = dom.select(&sel("body")).next().unwrap();
    assert_eq!(body.value().attr("data-drawn"), Some("1"), "the script ran");
    let (_, v) = page(&page_file);
    let g = &v["graphs"][0];
    let expanded: BTreeSet<i64> = g["expanded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    let units = visible_units(g, &expanded);
    let drawn_nodes = dom.select(&sel("svg g.node")).count();
    let drawn_boxes = dom.select(&sel("svg g.box")).count();
    assert_eq!(drawn_nodes + drawn_boxes, units.len());
    assert!(drawn_boxes > 0, "a large graph opens with closed boxes");
    assert_eq!(
        dom.select(&sel("svg g.cluster")).count(),
        expanded.len(),
        "one frame per open box"
    );
    assert!(dom.select(&sel("svg path.edge")).count() > 5);

    // A screenshot: the drawing area is not blank.
    let shot = d.path().join("shot.png");
    let st = headless(&chrome, d.path())
        .args(["--virtual-time-budget=5000"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(shot.exists(), "{}", String::from_utf8_lossy(&st.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let px = info.color_type.samples();
    // The drawing area: below the header and banner lines, left of the 340 px side panel.
    let (x0, x1, y0, y1) = (0, w.saturating_sub(360), 80, h.saturating_sub(40));
    let mut ink = 0usize;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = &buf[(y * w + x) * px..(y * w + x) * px + 3];
            if p.iter().any(|c| *c < 235) {
                ink += 1;
            }
        }
    }
    let area = (x1 - x0) * (y1 - y0);
    assert!(
        ink * 100 > area,
        "only {ink} of {area} pixels of the drawing area are drawn"
    );
}
