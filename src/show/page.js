// torch2air show: draws the graph data of the page (the JSON block) with the vendored dagre
// layout. Only what is visible is laid out: a closed module box is one node; opening it lays
// out the graph again with its contents.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("graph-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var CH = 6.7; // width of a character of the 11px monospace font
  var canvas = document.getElementById("canvas");
  var panel = document.getElementById("panel");
  var states = [];
  var current = 0;

  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, s, cls) {
    var t = el("text", { x: x, y: y }, parent);
    if (cls) t.setAttribute("class", cls);
    t.textContent = s;
    return t;
  }
  function short(s, n) { return s.length > n ? s.slice(0, n - 1) + "\u2026" : s; }

  function prepare(g, idx) {
    var st = { idx: idx, g: g, open: {}, children: [], direct: [], svg: null, view: null, selected: -1, drawn: false };
    g.scopes.forEach(function () { st.children.push([]); st.direct.push([]); });
    g.scopes.forEach(function (s, i) { if (s.parent >= 0) st.children[s.parent].push(i); });
    g.nodes.forEach(function (n, i) { if (n.scope >= 0) st.direct[n.scope].push(i); });
    g.expanded.forEach(function (s) { st.open[s] = true; });
    return st;
  }

  // The unit a node is drawn as: "n<i>" itself, or "s<j>" the outermost closed box holding it.
  function unitOf(st, i) {
    var chain = [];
    for (var s = st.g.nodes[i].scope; s >= 0; s = st.g.scopes[s].parent) chain.push(s);
    for (var k = chain.length - 1; k >= 0; k--) if (!st.open[chain[k]]) return "s" + chain[k];
    return "n" + i;
  }
  function scopeVisible(st, s) {
    for (var p = st.g.scopes[s].parent; p >= 0; p = st.g.scopes[p].parent) if (!st.open[p]) return false;
    return true;
  }
  function scopeTitle(sc) {
    var last = sc.path.split(".").pop();
    return last + (sc["class"] ? " (" + sc["class"] + ")" : "");
  }

  function layout(st) {
    var G = st.g;
    var g = new dagre.graphlib.Graph({ compound: true, multigraph: false });
    g.setGraph({ rankdir: "TB", nodesep: 18, ranksep: 34, edgesep: 8, marginx: 20, marginy: 20 });
    g.setDefaultEdgeLabel(function () { return {}; });
    G.scopes.forEach(function (sc, s) {
      if (!scopeVisible(st, s)) return;
      var id = (st.open[s] ? "c" : "s") + s;
      if (st.open[s]) {
        g.setNode(id, { kind: "cluster", scope: s });
      } else {
        var l1 = short(scopeTitle(sc), 48), l2 = sc.count + " nodes" + (sc.hcom ? ", " + sc.hcom + " Hcom" : "") + "  [+]";
        g.setNode(id, { kind: "box", scope: s, width: Math.max(l1.length, l2.length) * CH + 20, height: 38, l1: l1, l2: l2 });
      }
      if (sc.parent >= 0) g.setParent(id, "c" + sc.parent);
    });
    G.nodes.forEach(function (n, i) {
      if (unitOf(st, i) !== "n" + i) return;
      var l1 = short(n.type, 40), l2 = short(n.outs.join(" "), 40);
      g.setNode("n" + i, { kind: "node", node: i, width: Math.max(l1.length, l2.length, 6) * CH + 16, height: 34, l1: l1, l2: l2 });
      if (n.scope >= 0) g.setParent("n" + i, "c" + n.scope);
    });
    var seen = {};
    G.edges.forEach(function (e) {
      var u = unitOf(st, e.from), v = unitOf(st, e.to);
      if (u === v) return;
      var key = u + ">" + v;
      if (seen[key]) { seen[key].n += 1; return; }
      var lab = short(e.label, 32);
      seen[key] = { n: 1, label: lab, control: e.port < 0 };
      g.setEdge(u, v, { width: lab.length * 6, height: lab ? 12 : 0, labelpos: "c" });
    });
    Object.keys(seen).forEach(function (key) {
      var p = key.split(">"), info = seen[key], lab = g.edge(p[0], p[1]);
      lab.text = info.label + (info.n > 1 ? " \u00d7" + info.n : "");
      lab.control = info.control;
      lab.width = lab.text.length * 6;
    });
    dagre.layout(g);
    return g;
  }

  function draw(st) {
    var G = st.g;
    var g = layout(st);
    var svg = st.svg;
    var root = st.root;
    while (root.firstChild) root.removeChild(root.firstChild);
    var clusters = el("g", {}, root), edges = el("g", {}, root), nodes = el("g", {}, root);
    // Clusters, outermost first so that inner ones are drawn on top.
    var cl = g.nodes().filter(function (id) { return g.node(id).kind === "cluster"; });
    function depth(s) { var d = 0; for (var p = G.scopes[s].parent; p >= 0; p = G.scopes[p].parent) d++; return d; }
    cl.sort(function (a, b) { return depth(g.node(a).scope) - depth(g.node(b).scope); });
    cl.forEach(function (id) {
      var d = g.node(id), s = d.scope, sc = G.scopes[s];
      var x = d.x - d.width / 2, y = d.y - d.height / 2;
      var c = el("g", { "class": "cluster", "data-scope": sc.path }, clusters);
      el("rect", { "class": "frame", x: x, y: y, width: d.width, height: d.height, rx: 6 }, c);
      var bar = el("rect", { "class": "bar", x: x, y: y, width: d.width, height: 15, rx: 6 }, c);
      text(c, x + 6, y + 11, "[\u2212] " + short(scopeTitle(sc), Math.max(4, Math.floor(d.width / CH) - 6)));
      bar.addEventListener("click", function (ev) { ev.stopPropagation(); st.open[s] = false; redraw(st); });
    });
    g.edges().forEach(function (e) {
      var d = g.edge(e);
      var pts = d.points.map(function (p) { return p.x.toFixed(1) + "," + p.y.toFixed(1); });
      el("path", { "class": "edge" + (d.control ? " control" : ""), d: "M" + pts.join("L"), "marker-end": "url(#arrow-" + st.idx + ")" }, edges);
      if (d.text) text(edges, d.x - d.width / 2, d.y + 4, d.text, "elabel");
    });
    g.nodes().forEach(function (id) {
      var d = g.node(id);
      if (d.kind === "cluster") return;
      var x = d.x - d.width / 2, y = d.y - d.height / 2;
      if (d.kind === "box") {
        var sc = G.scopes[d.scope];
        var b = el("g", { "class": "box" + (sc.hcom ? " has-hcom" : ""), "data-scope": sc.path }, nodes);
        el("rect", { x: x, y: y, width: d.width, height: d.height, rx: 6 }, b);
        text(b, x + 10, y + 15, d.l1);
        text(b, x + 10, y + 30, d.l2);
        b.addEventListener("click", function (ev) { ev.stopPropagation(); st.open[d.scope] = true; redraw(st); });
        return;
      }
      var n = G.nodes[d.node];
      var ng = el("g", { "class": "node k-" + n.kind + (st.selected === d.node ? " selected" : ""), "data-node": n.name }, nodes);
      el("rect", { x: x, y: y, width: d.width, height: d.height, rx: 3 }, ng);
      text(ng, x + 8, y + 14, d.l1, "op");
      text(ng, x + 8, y + 28, d.l2);
      var title = el("title", {}, ng);
      title.textContent = n.name;
      ng.addEventListener("click", function (ev) { ev.stopPropagation(); select(st, d.node); });
    });
    var gg = g.graph();
    st.size = { w: gg.width || 100, h: gg.height || 100 };
    st.drawn = true;
  }

  function redraw(st) { draw(st); apply(st); }

  function apply(st) {
    var v = st.view;
    st.root.setAttribute("transform", "translate(" + v.x + "," + v.y + ") scale(" + v.k + ")");
  }
  function fit(st) {
    var W = canvas.clientWidth || 800, H = canvas.clientHeight || 600;
    var k = Math.min(W / st.size.w, H / st.size.h, 1.5);
    // A graph too large to read whole opens at a readable scale, its top in view.
    if (k < 0.5) k = Math.min(0.5, Math.max(W / st.size.w, 0.3));
    st.view = { k: k, x: Math.max(0, (W - st.size.w * k) / 2), y: Math.max(0, (H - st.size.h * k) / 2) };
    apply(st);
  }

  function setup(i) {
    var st = states[i];
    var svg = el("svg", { "class": "graph", "data-rank": i }, canvas);
    var defs = el("defs", {}, svg);
    var m = el("marker", { id: "arrow-" + i, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, defs);
    el("path", { d: "M0,0L10,5L0,10z", fill: "#888" }, m);
    st.svg = svg;
    st.root = el("g", {}, svg);
    var drag = null;
    svg.addEventListener("mousedown", function (e) { drag = { x: e.clientX, y: e.clientY }; svg.classList.add("dragging"); });
    window.addEventListener("mouseup", function () { drag = null; svg.classList.remove("dragging"); });
    window.addEventListener("mousemove", function (e) {
      if (!drag || current !== i) return;
      st.view.x += e.clientX - drag.x; st.view.y += e.clientY - drag.y;
      drag = { x: e.clientX, y: e.clientY };
      apply(st);
    });
    svg.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = svg.getBoundingClientRect(), px = e.clientX - r.left, py = e.clientY - r.top;
      var f = Math.exp(-e.deltaY * 0.0015), v = st.view;
      var k = Math.min(8, Math.max(0.02, v.k * f));
      v.x = px - (px - v.x) * (k / v.k); v.y = py - (py - v.y) * (k / v.k); v.k = k;
      apply(st);
    }, { passive: false });
    draw(st);
    fit(st);
  }

  function row(t, k, v) {
    var tr = document.createElement("tr");
    var a = document.createElement("td"), b = document.createElement("td");
    a.textContent = k; b.textContent = v;
    tr.appendChild(a); tr.appendChild(b); t.appendChild(tr);
  }
  function select(st, i) {
    st.selected = i;
    var G = st.g, n = G.nodes[i];
    Array.prototype.forEach.call(st.root.querySelectorAll("g.node.selected"), function (e) { e.classList.remove("selected"); });
    Array.prototype.forEach.call(st.root.querySelectorAll("g.node"), function (e) { if (e.getAttribute("data-node") === n.name) e.classList.add("selected"); });
    panel.innerHTML = "";
    var h = document.createElement("h2"); h.textContent = n.name; panel.appendChild(h);
    var t = document.createElement("table"); panel.appendChild(t);
    row(t, "op type", n.type);
    row(t, "kind", n.kind);
    if (n.scope >= 0) row(t, "module", G.scopes[n.scope].path + (G.scopes[n.scope]["class"] ? " (" + G.scopes[n.scope]["class"] + ")" : ""));
    n.outs.forEach(function (o, k) { row(t, "output " + k, o); });
    G.edges.forEach(function (e) {
      if (e.to === i) row(t, e.port < 0 ? "control from" : "input", G.nodes[e.from].name + (e.port >= 0 ? ":" + e.port + "  " + e.label : ""));
    });
    var src = document.createElement("h3"); src.textContent = "source"; panel.appendChild(src);
    var pre = document.createElement("pre");
    pre.textContent = n.source || "(not recorded: export with --record-nn-module-stack to record each op's source line)";
    panel.appendChild(pre);
    var ah = document.createElement("h3"); ah.textContent = "attrs (" + n.attrs.length + ")"; panel.appendChild(ah);
    var at = document.createElement("table"); panel.appendChild(at);
    n.attrs.forEach(function (a) { row(at, a[0], a[1]); });
  }

  // Finds a node by name: opens the boxes around it, draws, centres it and selects it.
  function reveal(st, name) {
    var G = st.g, i = -1;
    for (var k = 0; k < G.nodes.length; k++) if (G.nodes[k].name === name) { i = k; break; }
    if (i < 0) for (k = 0; k < G.nodes.length; k++) if (G.nodes[k].name.indexOf(name) >= 0) { i = k; break; }
    if (i < 0) return;
    for (var s = G.nodes[i].scope; s >= 0; s = G.scopes[s].parent) st.open[s] = true;
    st.selected = i;
    draw(st);
    var e = null;
    Array.prototype.forEach.call(st.root.querySelectorAll("g.node"), function (x) { if (x.getAttribute("data-node") === G.nodes[i].name) e = x; });
    if (e) {
      var r = e.querySelector("rect"), v = st.view;
      var cx = +r.getAttribute("x") + (+r.getAttribute("width")) / 2, cy = +r.getAttribute("y") + (+r.getAttribute("height")) / 2;
      v.k = Math.max(v.k, 0.8);
      v.x = canvas.clientWidth / 2 - cx * v.k; v.y = canvas.clientHeight / 2 - cy * v.k;
    }
    apply(st);
    select(st, i);
  }

  function activate(i) {
    current = i;
    Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (t) { t.classList.toggle("active", +t.getAttribute("data-rank") === i); });
    Array.prototype.forEach.call(document.querySelectorAll("section.info"), function (t) { t.hidden = +t.getAttribute("data-rank") !== i; });
    states.forEach(function (st, k) { if (st.svg) st.svg.style.display = k === i ? "" : "none"; });
    if (!states[i].svg) setup(i);
  }

  DATA.graphs.forEach(function (g, i) { states.push(prepare(g, i)); });
  var dl = document.createElement("datalist"); dl.id = "names"; document.body.appendChild(dl);
  Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (t) {
    t.addEventListener("click", function () { activate(+t.getAttribute("data-rank")); });
  });
  document.getElementById("fit").addEventListener("click", function () { fit(states[current]); });
  document.getElementById("search").addEventListener("change", function (e) { reveal(states[current], e.target.value); });
  Array.prototype.forEach.call(document.querySelectorAll(".node-index li[data-node]"), function (li) {
    li.addEventListener("click", function () {
      var r = +li.parentNode.getAttribute("data-rank");
      activate(r);
      reveal(states[r], li.getAttribute("data-node"));
    });
  });
  if (states.length) {
    activate(0);
    var opts = [];
    states[0].g.nodes.slice(0, 5000).forEach(function (n) { opts.push("<option value=\"" + n.name.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;") + "\">"); });
    dl.innerHTML = opts.join("");
  }
  // `graph.html#node=NAME` opens with that node found and selected.
  var m = /^#node=(.+)$/.exec(window.location.hash);
  if (m && states.length) reveal(states[0], decodeURIComponent(m[1]));
  document.body.setAttribute("data-drawn", states.filter(function (s) { return s.drawn; }).length);
})();
