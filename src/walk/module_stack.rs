//! `nn_module_stack` (air-format.md section 10): for a node inlined from submodule calls, the
//! chain of modules it came from, written like dynamo's `node.meta["nn_module_stack"]`:
//!
//! `{'L__self___layer_0': ("L['self'].layer[0]", <class 'Layer'>), 'L__self___layer_0_fc': ("L['self'].layer[0].fc", <class 'torch.nn.modules.linear.Linear'>)}`
//!
//! TorchScript's inlined call stack names each module frame only by the last attribute name of
//! its receiver (`0` for `self.layer[0]`). The full path comes from the `prim::GetAttr` chains:
//! a GetAttr run inside a frame reads from that frame's `self`, whose path the chain from the
//! root gives. Frames that read no attribute fall back to the seen module paths below the
//! caller's path whose last component and class match.
use crate::load::{ir::Frame, Block, Node};
use std::collections::HashMap;

/// The op attr (a string) that, with `nn_module_stack`, records where a node comes from: the
/// TorchScript source line of the ATen op, then one line per call it was inlined through,
/// innermost first. `torch2air show` displays it; GE ignores it (a private `_` attr).
pub const SOURCE_ATTR: &str = "_torch2air_source";

/// The [`SOURCE_ATTR`] text of a node: `file:line: text`, then `  in <instance>.<fn> (<class>)
/// called at file:line: text` per inlined call, innermost first (the call site where known).
pub fn source_text(n: &Node) -> String {
    let mut s = format!("{}: {}", n.source.location(), n.source.text.trim());
    for f in n.stack.iter().rev() {
        let inst = f
            .instance
            .as_deref()
            .map(|i| format!("{i}."))
            .unwrap_or_default();
        let class = f
            .class
            .as_deref()
            .map(|c| format!(" ({})", python_class(c)))
            .unwrap_or_default();
        s.push_str(&format!("\n  in {inst}{}{class}", f.func));
        if !f.source.file.is_empty() {
            s.push_str(&format!(
                " called at {}: {}",
                f.source.location(),
                f.source.text.trim()
            ));
        }
    }
    s
}

pub struct ModuleStacks {
    /// Call-stack prefix (as a key) -> the module path of its last frame.
    frames: HashMap<String, String>,
    /// Every module path the GetAttr chains reach, with its class.
    modules: Vec<(String, String)>,
}

fn frame_key(stack: &[Frame]) -> String {
    stack
        .iter()
        .map(|f| {
            format!(
                "{}|{}|{}|{}:{}:{}",
                f.func,
                f.instance.as_deref().unwrap_or(""),
                f.class.as_deref().unwrap_or(""),
                f.source.file,
                f.source.line,
                f.source.text
            )
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// `__torch__.torch.nn.modules.linear.___torch_mangle_3.Linear` -> `torch.nn.modules.linear.Linear`.
pub fn python_class(qualified: &str) -> String {
    qualified
        .split('.')
        .filter(|c| *c != "__torch__" && !c.starts_with("___torch_mangle_"))
        .collect::<Vec<_>>()
        .join(".")
}

impl ModuleStacks {
    /// Learns module paths from the graph's GetAttr chains (`self_id`: forward's `self`).
    pub fn new(graph: &Block, self_id: u64) -> ModuleStacks {
        let mut s = ModuleStacks {
            frames: HashMap::new(),
            modules: vec![],
        };
        let mut paths: HashMap<u64, String> = HashMap::new();
        paths.insert(self_id, String::new());
        s.learn(graph, &mut paths);
        s
    }

    fn learn(&mut self, b: &Block, paths: &mut HashMap<u64, String>) {
        for n in &b.nodes {
            if n.kind == "prim::GetAttr" {
                if let (Some(parent), Some(name), Some(out)) = (
                    n.inputs.first().and_then(|i| paths.get(i)),
                    &n.attr,
                    n.outputs.first(),
                ) {
                    let parent = parent.clone();
                    if !n.stack.is_empty() {
                        self.frames
                            .entry(frame_key(&n.stack))
                            .or_insert_with(|| parent.clone());
                    }
                    if out.ty.starts_with("__torch__.") {
                        let p = join(&parent, name);
                        if !self.modules.iter().any(|(q, _)| *q == p) {
                            self.modules.push((p.clone(), out.ty.clone()));
                        }
                        paths.insert(out.id, p);
                    }
                }
            }
            for blk in &n.blocks {
                self.learn(blk, paths);
            }
        }
    }

    fn resolve(&self, stack: &[Frame], i: usize, parent: &str) -> String {
        if let Some(p) = self.frames.get(&frame_key(&stack[..=i])) {
            return p.clone();
        }
        let f = &stack[i];
        let inst = f.instance.as_deref().unwrap_or("");
        if inst == "SELF" {
            return parent.to_string();
        }
        let class = f.class.as_deref().unwrap_or("");
        let found: Vec<&String> = self
            .modules
            .iter()
            .filter(|(p, c)| {
                let below = parent.is_empty() || p.starts_with(&format!("{parent}."));
                let last = p.rsplit('.').next().unwrap_or(p);
                below && last == inst && python_class(c) == python_class(class)
            })
            .map(|(p, _)| p)
            .collect();
        match found.as_slice() {
            [one] => (*one).clone(),
            _ => join(parent, inst),
        }
    }

    /// The `nn_module_stack` text of a node, or None for a node of the root's own forward.
    pub fn text(&self, n: &Node) -> Option<String> {
        let mut parent = String::new();
        let mut entries: Vec<(String, String, String)> = vec![];
        for (i, f) in n.stack.iter().enumerate() {
            if f.instance.is_none() {
                continue; // a function call, not a module method
            }
            let path = self.resolve(&n.stack, i, &parent);
            parent = path.clone();
            if path.is_empty() || entries.iter().any(|(p, _, _)| *p == path) {
                continue;
            }
            let class = python_class(f.class.as_deref().unwrap_or(""));
            entries.push((path, class, String::new()));
        }
        if entries.is_empty() {
            return None;
        }
        let items: Vec<String> = entries
            .iter()
            .map(|(path, class, _)| {
                let key = format!("L__self___{}", path.replace('.', "_"));
                let mut py = "L['self']".to_string();
                for c in path.split('.') {
                    if c.chars().all(|ch| ch.is_ascii_digit()) {
                        py.push_str(&format!("[{c}]"));
                    } else {
                        py.push('.');
                        py.push_str(c);
                    }
                }
                format!("'{key}': (\"{py}\", <class '{class}'>)")
            })
            .collect();
        Some(format!("{{{}}}", items.join(", ")))
    }
}
