//! `show -o graph.svg`: a static picture of the first graph as the page opens (boxes closed or
//! open as [`super::initial_expansion`] decides; an open box's nodes are drawn, a closed one is
//! one node). Laid out by the `layout-rs` crate, which has no nested clusters: an open box shows
//! as its nodes, each labelled with its module.
use super::{closed_box_of, Graph, Kind};
use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::style::StyleAttr;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;
use std::collections::{BTreeSet, HashMap};

fn style(kind: Option<Kind>) -> StyleAttr {
    let (line, fill, width) = match kind {
        Some(Kind::Input) => ("#3d8b3d", "#dff3df", 2),
        Some(Kind::Weight) => ("#999999", "#f1f1f1", 1),
        Some(Kind::Output) => ("#6a4fa3", "#e6def5", 2),
        Some(Kind::Hcom) => ("#e06c00", "#ffe1c2", 4),
        Some(Kind::Op) => ("#5b7fb5", "#e8f0fb", 1),
        None => ("#b08a2e", "#fff8e6", 2),
    };
    StyleAttr::new(Color::fast(line), width, Some(Color::fast(fill)), 4, 12)
}

/// The SVG text of graph `g`.
pub fn svg(g: &Graph) -> String {
    let dir = Orientation::TopToBottom;
    let mut vg = VisualGraph::new(dir);
    let mut handles = HashMap::new();
    let unit = |i: usize| match closed_box_of(g, i, &g.expanded) {
        Some(s) => (true, s),
        None => (false, i),
    };
    for i in 0..g.nodes.len() {
        let key = unit(i);
        if handles.contains_key(&key) {
            continue;
        }
        let (label, look) = if key.0 {
            let s = &g.scopes[key.1];
            (
                format!(
                    "{}{}\n{} nodes{}",
                    s.path,
                    if s.class.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", s.class)
                    },
                    s.count,
                    if s.hcom > 0 {
                        format!(", {} Hcom", s.hcom)
                    } else {
                        String::new()
                    }
                ),
                style(None),
            )
        } else {
            let n = &g.nodes[i];
            let module = if n.scope >= 0 {
                format!("\n{}", g.scopes[n.scope as usize].path)
            } else {
                String::new()
            };
            (
                format!("{}\n{}{module}", n.op_type, n.outs.join(" ")),
                style(Some(n.kind)),
            )
        };
        let shape = ShapeKind::new_box(&label);
        let size = layout::std_shapes::render::get_shape_size(dir, &shape, 12, false);
        let e = Element::create(shape, look, dir, size);
        handles.insert(key, vg.add_node(e));
    }
    let mut seen = BTreeSet::new();
    for e in &g.edges {
        let (a, b) = (unit(e.from), unit(e.to));
        if a == b || !seen.insert((a, b)) {
            continue;
        }
        let label = if e.label.len() > 28 {
            String::new()
        } else {
            e.label.clone()
        };
        vg.add_edge(Arrow::simple(&label), handles[&a], handles[&b]);
    }
    let mut w = SVGWriter::new();
    vg.do_it(false, false, false, &mut w);
    w.finalize()
}
