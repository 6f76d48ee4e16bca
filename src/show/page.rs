//! The HTML page of `torch2air show`: one file, nothing fetched. The graph data is a JSON
//! `<script>` block; the vendored dagre build (assets/dagre, MIT) lays out what is visible and
//! page.js draws it as SVG (pan/zoom, collapsible module boxes, a side panel). The page also
//! lists every node by name (a collapsed index), with the problems as a banner.
use super::Shown;

const DAGRE: &str = include_str!("../../assets/dagre/dagre.min.js");
const PAGE_JS: &str = include_str!("page.js");
const PAGE_CSS: &str = include_str!("page.css");

/// Text escaped for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// JSON that can sit inside a `<script>` element.
fn script_json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "{}".into())
        .replace("</", "<\\/")
        .replace("<!--", "<\\!--")
}

/// The vendored library without its source-map comment (the page fetches nothing).
fn dagre() -> String {
    DAGRE
        .lines()
        .filter(|l| !l.starts_with("//# sourceMappingURL"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The self-contained HTML page.
pub fn html(s: &Shown) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str(&format!(
        "<title>torch2air show: {}</title>\n<style>\n{PAGE_CSS}\n</style>\n</head>\n<body>\n",
        esc(&s.title)
    ));
    h.push_str(&format!(
        "<header>\n<h1>{}</h1>\n<nav id=\"tabs\" role=\"tablist\">\n",
        esc(&s.title)
    ));
    for (i, g) in s.graphs.iter().enumerate() {
        let hcom = g
            .nodes
            .iter()
            .filter(|n| n.kind == super::Kind::Hcom)
            .count();
        h.push_str(&format!(
            "<button class=\"tab{}\" role=\"tab\" data-rank=\"{i}\" title=\"{}\">{}<small> {} nodes{}</small></button>\n",
            if i == 0 { " active" } else { "" },
            esc(&g.file),
            esc(&g.label),
            g.nodes.len(),
            if hcom > 0 { format!(", {hcom} Hcom") } else { String::new() }
        ));
    }
    h.push_str(
        "</nav>\n<input id=\"search\" type=\"search\" placeholder=\"find a node by name\" list=\"names\">\n\
         <button id=\"fit\" title=\"fit the drawing to the window\">fit</button>\n</header>\n",
    );
    for (i, g) in s.graphs.iter().enumerate() {
        h.push_str(&format!(
            "<section class=\"info\" data-rank=\"{i}\"{}>\n",
            if i == 0 { "" } else { " hidden" }
        ));
        if !g.problems.is_empty() {
            h.push_str(&format!(
                "<div class=\"banner\"><b>Not drawn or not readable ({}):</b><ul>\n",
                g.problems.len()
            ));
            for p in &g.problems {
                h.push_str(&format!("<li>{}</li>\n", esc(p)));
            }
            h.push_str("</ul></div>\n");
        }
        for n in &g.notes {
            h.push_str(&format!("<div class=\"note\">{}</div>\n", esc(n)));
        }
        h.push_str("</section>\n");
    }
    h.push_str(
        "<main>\n<div id=\"canvas\"></div>\n<aside id=\"panel\"><p class=\"hint\">Click a node for its attrs and source line; \
         click a box to open it, its title bar to close it. Wheel: zoom, drag: pan.</p></aside>\n</main>\n",
    );
    h.push_str("<details id=\"index\"><summary>Every node, by name</summary>\n");
    for (i, g) in s.graphs.iter().enumerate() {
        h.push_str(&format!(
            "<ul class=\"node-index\" data-rank=\"{i}\"><li class=\"rank-title\">{}</li>\n",
            esc(&g.label)
        ));
        for n in &g.nodes {
            h.push_str(&format!(
                "<li data-node=\"{}\" class=\"k-{}\">{} <i>{}</i></li>\n",
                esc(&n.name),
                serde_json::to_value(n.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                esc(&n.name),
                esc(&n.op_type)
            ));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</details>\n");
    h.push_str(&format!(
        "<script type=\"application/json\" id=\"graph-data\">{}</script>\n",
        script_json(s)
    ));
    h.push_str(&format!("<script>\n{}\n</script>\n", dagre()));
    h.push_str(&format!(
        "<script>\n{PAGE_JS}\n</script>\n</body>\n</html>\n"
    ));
    h
}
