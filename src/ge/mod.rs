//! The GE graph being built: ops in emission order (already topological), their descs and attrs,
//! the weights they use, and the graph outputs. Lowering rules add ops through `GraphBuilder::op`,
//! which takes input and output names from the op's prototype and fills every IR attr the rule
//! leaves out with its default (as TorchAir's generated builders do).
pub mod attr;
pub mod schema;

use crate::dtype::DType;
use crate::proto::{AttrDef, OpDef, ShapeDef, TensorDescriptor};
use crate::value::Port;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

/// One input slot of an op being added.
pub enum In {
    /// A data edge.
    P(Port),
    /// The ports of a dynamic input (`x0`, `x1`, ...).
    Dyn(Vec<Port>),
    /// An optional input left unfed.
    Unfed,
}

/// A weight: the module tensor behind a weight node, by attribute path.
pub struct Weight {
    pub node: usize,
    pub path: String,
    pub tensor: Rc<tch::Tensor>,
}

pub fn desc(name: &str, dtype: Option<DType>, shape: Option<&[i64]>) -> TensorDescriptor {
    TensorDescriptor {
        name: name.to_string(),
        dtype: dtype.map(|d| d.ge_proto()).unwrap_or(0),
        shape: shape.map(|s| ShapeDef { dim: s.to_vec() }),
        layout: "ND".into(),
        ..Default::default()
    }
}

#[derive(Default)]
pub struct GraphBuilder {
    pub ops: Vec<OpDef>,
    pub weights: Vec<Weight>,
    names: HashSet<String>,
    counters: BTreeMap<String, usize>,
    /// Attrs added to every op emitted from now on (nn_module_stack), until cleared.
    pub scope_attrs: BTreeMap<String, AttrDef>,
    /// `--weights lazy`: where the bytes of weights that are meta tensors are read from when
    /// the graph is written.
    pub archive: Option<std::sync::Arc<crate::load::archive::ArchiveIndex>>,
}

impl GraphBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// `Add`, then `Add_1`, `Add_2`, ... skipping names in use (air-format.md section 5.0).
    pub fn unique_name(&mut self, base: &str) -> String {
        if !self.names.contains(base) {
            self.names.insert(base.to_string());
            return base.to_string();
        }
        let c = self.counters.entry(base.to_string()).or_insert(0);
        loop {
            *c += 1;
            let n = format!("{base}_{c}");
            if !self.names.contains(&n) {
                self.names.insert(n.clone());
                return n;
            }
        }
    }

    pub fn port_name(&self, p: Port) -> String {
        format!("{}:{}", self.ops[p.node].name, p.index)
    }

    pub fn out_desc(&self, p: Port) -> &TensorDescriptor {
        &self.ops[p.node].output_desc[p.index]
    }

    pub fn out_dtype(&self, p: Port) -> Option<DType> {
        DType::from_ge_proto(self.out_desc(p).dtype)
    }

    /// Adds an op. `inputs` follow the prototype's input order; `attrs` are the ones the rule
    /// sets; `outputs` give one dtype per output (dynamic outputs: one per element).
    pub fn op(
        &mut self,
        op_type: &str,
        inputs: Vec<In>,
        attrs: Vec<(&str, AttrDef)>,
        outputs: &[Option<DType>],
    ) -> Result<Vec<Port>, String> {
        let proto = schema::op(op_type)
            .ok_or_else(|| format!("internal: '{op_type}' is not in ge_ops.json"))?;
        if inputs.len() > proto.inputs.len() {
            return Err(format!(
                "internal: {op_type} takes {} inputs, got {}",
                proto.inputs.len(),
                inputs.len()
            ));
        }
        let mut op = OpDef {
            name: self.unique_name(op_type),
            r#type: op_type.to_string(),
            ..Default::default()
        };
        // Trailing unfed optionals are left out (the newer ge_op path); inner ones take a slot.
        let last_fed = inputs
            .iter()
            .rposition(|i| !matches!(i, In::Unfed))
            .map(|i| i + 1)
            .unwrap_or(0);
        for (io, input) in proto.inputs.iter().zip(inputs.into_iter().take(last_fed)) {
            match input {
                In::P(p) => {
                    op.input.push(self.port_name(p));
                    let mut d = self.out_desc(p).clone();
                    d.name = io.name.clone();
                    op.input_desc.push(d);
                }
                In::Dyn(ps) => {
                    for (k, p) in ps.into_iter().enumerate() {
                        op.input.push(self.port_name(p));
                        let mut d = self.out_desc(p).clone();
                        d.name = format!("{}{k}", io.name);
                        op.input_desc.push(d);
                    }
                }
                In::Unfed => {
                    op.input.push(String::new());
                    let mut d = desc(&io.name, None, None);
                    d.attr.insert("_is_unfed_optional".into(), attr::int(1));
                    op.input_desc.push(d);
                }
            }
        }
        let mut k = 0;
        for io in &proto.outputs {
            if io.kind == "dynamic" {
                let n = outputs.len().saturating_sub(proto.outputs.len() - 1);
                for j in 0..n {
                    op.output_desc
                        .push(desc(&format!("{}{j}", io.name), outputs[k], None));
                    k += 1;
                }
            } else {
                op.output_desc
                    .push(desc(&io.name, outputs.get(k).copied().flatten(), None));
                k += 1;
            }
        }
        for (name, value) in attrs {
            op.attr.insert(name.to_string(), value);
        }
        for a in &proto.attrs {
            if !op.attr.contains_key(&a.name) && !a.required {
                if let Some(d) = schema::default_attr(a) {
                    op.attr.insert(a.name.clone(), d);
                }
            }
        }
        for (k, v) in &self.scope_attrs {
            op.attr.insert(k.clone(), v.clone());
        }
        let node = self.ops.len();
        let n_out = op.output_desc.len();
        self.ops.push(op);
        self.names.insert(self.ops[node].name.clone());
        Ok((0..n_out).map(|index| Port { node, index }).collect())
    }

    /// Adds a graph input: a `Data` node with its index attr and x/y descs.
    pub fn data(&mut self, name: &str, index: i64, dtype: DType, shape: &[i64]) -> Port {
        let mut y = desc("y", Some(dtype), Some(shape));
        y.device_type = "CPU".into();
        let mut x = y.clone();
        x.name = "x".into();
        let name = self.unique_name(name);
        let mut op = OpDef {
            name,
            r#type: "Data".into(),
            ..Default::default()
        };
        op.attr.insert("index".into(), attr::int(index));
        op.input_desc.push(x);
        op.output_desc.push(y);
        self.ops.push(op);
        Port {
            node: self.ops.len() - 1,
            index: 0,
        }
    }

    /// Adds a `Const` holding a (small, non-weight) tensor; `readable` is its Python-ish repr.
    pub fn constant(&mut self, t: &tch::Tensor, readable: &str) -> Result<Port, String> {
        let dt = crate::dtype::of_tensor(t)?;
        let shape = t.size();
        // The Const holds `t`'s own memory; before an in-place op writes into it, the walker calls
        // `own_const_data` so that the Const keeps the value it had here.
        let value = crate::write::tensor_def(t, dt)?;
        let name = self.unique_name("Const");
        let mut op = OpDef {
            name,
            r#type: "Const".into(),
            ..Default::default()
        };
        let mut y = desc("", Some(dt), Some(&shape));
        y.name = String::new();
        op.output_desc.push(y);
        op.attr.insert("value".into(), attr::tensor(value));
        op.attr
            .insert("_readable_value".into(), attr::string(readable));
        self.ops.push(op);
        Ok(Port {
            node: self.ops.len() - 1,
            index: 0,
        })
    }

    /// Gives the Const at `p` its own copy of its data (which until now was a view of a tensor's
    /// memory), before that memory is written in place.
    pub fn own_const_data(&mut self, p: Port) {
        if let Some(a) = self.ops[p.node].attr.get_mut("value") {
            if let Some(crate::proto::attr_def::Value::T(t)) = a.value.as_mut() {
                t.data = bytes::Bytes::copy_from_slice(&t.data);
            }
        }
    }

    /// Adds a weight node (a module tensor by path). It is written as `Const` or `FileConstant`
    /// when the graph is written (air-format.md section 6); until then it holds no bytes.
    pub fn weight(&mut self, path: &str, t: Rc<tch::Tensor>) -> Result<Port, String> {
        let dt = crate::dtype::of_tensor(&t).map_err(|e| format!("weight '{path}': {e}"))?;
        let shape = t.size();
        let name = self.unique_name(path);
        let mut op = OpDef {
            name,
            r#type: "Const".into(),
            ..Default::default()
        };
        op.output_desc.push(desc("y", Some(dt), Some(&shape)));
        self.ops.push(op);
        let node = self.ops.len() - 1;
        self.weights.push(Weight {
            node,
            path: path.to_string(),
            tensor: t,
        });
        Ok(Port { node, index: 0 })
    }

    /// Adds the `NetOutput` node: one input per output of forward, descs `input<i>` with shapes.
    /// Unlike TorchAir (which drops repeats and rebuilds them in Python at run time), a tensor
    /// returned twice is wired twice, so the graph has exactly forward's outputs.
    pub fn net_output(&mut self, outs: &[(Port, Vec<i64>)]) {
        let mut op = OpDef {
            name: self.unique_name("NetOutput"),
            r#type: "NetOutput".into(),
            ..Default::default()
        };
        for (p, shape) in outs {
            let i = op.input_desc.len();
            op.input.push(self.port_name(*p));
            let mut d = self.out_desc(*p).clone();
            d.name = format!("input{i}");
            d.shape = Some(ShapeDef { dim: shape.clone() });
            op.input_desc.push(d);
        }
        self.ops.push(op);
    }

    /// GE's name maps on every op (air-format.md section 5.0, `_normalize_ge_graph`).
    /// Removes `Const` nodes nothing reads (a scalar whose `Cast` lowering folded into a new
    /// `Const`, say). Call once weights are placed: node indices change.
    pub fn prune_unread_consts(&mut self) {
        let read: HashSet<String> = self
            .ops
            .iter()
            .flat_map(|o| o.input.iter())
            .map(|i| {
                let i = i.strip_prefix('^').unwrap_or(i);
                i.rsplit_once(':').map(|(n, _)| n).unwrap_or(i).to_string()
            })
            .collect();
        self.ops
            .retain(|o| o.r#type != "Const" || read.contains(&o.name));
    }

    pub fn normalize(&mut self) {
        for op in &mut self.ops {
            let ins: Vec<String> = op.input_desc.iter().map(|d| d.name.clone()).collect();
            let outs: Vec<String> = op.output_desc.iter().map(|d| d.name.clone()).collect();
            op.attr
                .insert("_input_name_value".into(), attr::name_values(ins.len()));
            op.attr
                .insert("_input_name_key".into(), attr::name_keys(ins));
            op.attr
                .insert("_output_name_value".into(), attr::name_values(outs.len()));
            op.attr
                .insert("_output_name_key".into(), attr::name_keys(outs));
        }
    }
}
