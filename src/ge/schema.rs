//! GE operator prototypes from the vendored spec/ge_ops.json, and the strict check every
//! exported graph passes before anything is written: op type, input names and order, output
//! names, attr names and attr encodings (air-format.md section 12.3), edges.
use crate::dtype::DType;
use crate::proto::{attr_def, AttrDef, GraphDef, OpDef};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

static GE_OPS_JSON: &str = include_str!("../../spec/ge_ops.json");

#[derive(Debug, Deserialize)]
pub struct IoProto {
    pub name: String,
    /// required | optional | dynamic
    pub kind: String,
    pub types: Option<Vec<String>>,
    /// The type symbols this output's dtype is promoted from (GE's `Promote`), if any.
    #[serde(default)]
    pub promote: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub struct AttrProto {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub required: bool,
    #[serde(default)]
    pub default: serde_json::Value,
}

#[derive(Debug, Deserialize)]
pub struct OpProto {
    pub inputs: Vec<IoProto>,
    pub outputs: Vec<IoProto>,
    pub attrs: Vec<AttrProto>,
}

impl OpProto {
    pub fn attr(&self, name: &str) -> Option<&AttrProto> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

#[derive(Deserialize)]
struct OpsFile {
    ops: BTreeMap<String, OpProto>,
}

/// `NetOutput` has no prototype in CANN's headers (ge_ops.md, "Graph boundary ops"): GE treats
/// it as built in. Its inputs are named input0..N-1; it has no outputs and no IR attrs.
pub const NET_OUTPUT: &str = "NetOutput";

/// Op attrs outside the IR that GE or TorchAir define for every op (air-format.md sections
/// 5.0, 5.3, 5.6, 10), with the AttrDef member each must use.
const PRIVATE_ATTRS: &[(&str, &str)] = &[
    ("_input_name_key", "list"),
    ("_input_name_value", "list"),
    ("_output_name_key", "list"),
    ("_output_name_value", "list"),
    ("_readable_value", "s"),
    ("_force_unknown_shape", "b"),
    ("_inputs_all_sym", "b"),
    ("nn_module_stack", "s"),
    // torch2air: the op's TorchScript source line and call stack (with nn_module_stack).
    ("_torch2air_source", "s"),
    // torch2air: the node's output size was taken from the sample's data (nonzero's count).
    ("_torch2air_sample_size", "s"),
    // TorchAir: the formats of some inputs/outputs (formats, then indices), e.g. NCHW.
    ("input_layout_info", "list"),
    ("output_layout_info", "list"),
];

pub fn ops() -> &'static BTreeMap<String, OpProto> {
    static OPS: OnceLock<BTreeMap<String, OpProto>> = OnceLock::new();
    OPS.get_or_init(|| {
        let f: OpsFile = serde_json::from_str(GE_OPS_JSON).expect("vendored ge_ops.json parses");
        f.ops
    })
}

pub fn op(name: &str) -> Option<&'static OpProto> {
    ops().get(name)
}

/// The prototype input a desc name stands for (`x`, or `x3` of a dynamic input `x`).
pub fn input_proto<'a>(proto: &'a OpProto, name: &str) -> Option<&'a IoProto> {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
    proto.inputs.iter().find(|io| io.name == name).or_else(|| {
        proto
            .inputs
            .iter()
            .find(|io| io.kind == "dynamic" && io.name == base)
    })
}

/// The dtypes (GE names) the prototype lists for an input, if it lists any.
pub fn input_types<'a>(proto: &'a OpProto, name: &str) -> Option<&'a [String]> {
    input_proto(proto, name)?.types.as_deref()
}

/// Input dtypes outside a prototype's (advisory, ge_ops.md "Things to know" 1) type list that
/// GE's kernels take and both TorchAir and torch2air emit: (op type, input, dtype).
const ACCEPTED_OUTSIDE_LIST: &[(&str, &str, DType)] = &[
    ("Conv2DTranspose", "x", DType::F32),
    ("Conv2DTranspose", "filter", DType::F32),
    ("Conv2DTranspose", "bias", DType::F32),
];

/// Whether input `input` of `op_type` may be `dt` by its prototype's type list `types`. An index
/// input listed as INT32 takes INT64 and the other way round, as GE's kernels do (TorchAir feeds
/// TopKV2's k as INT64); `ACCEPTED_OUTSIDE_LIST` adds the rest.
pub fn dtype_allowed(op_type: &str, input: &str, types: &[String], dt: DType) -> bool {
    let listed = |n: &str| types.iter().any(|t| t == n);
    listed(dt.ge_name())
        || match dt {
            DType::I64 => listed("DT_INT32"),
            DType::I32 => listed("DT_INT64"),
            _ => false,
        }
        || ACCEPTED_OUTSIDE_LIST
            .iter()
            .any(|(o, i, d)| *o == op_type && *i == input && *d == dt)
}

/// Whether the op's (first) output dtype is its inputs' promoted dtype (GE's `Promote`), so its
/// inputs may differ in dtype.
pub fn promotes(op_type: &str) -> bool {
    op(op_type)
        .and_then(|p| p.outputs.first())
        .is_some_and(|o| o.promote.is_some())
}

/// Which AttrDef member an IR attr type is written in, and the list val_type it needs.
fn expected_member(ty: &str) -> (&'static str, Option<i32>) {
    match ty {
        "Int" => ("i", None),
        "Float" => ("f", None),
        "Bool" => ("b", None),
        "String" => ("s", None),
        "Type" => ("dt", None),
        "Tensor" => ("t", None),
        "ListInt" => ("list", Some(2)),
        "ListFloat" => ("list", Some(3)),
        "ListBool" => ("list", Some(4)),
        "ListString" => ("list", Some(1)),
        "ListType" => ("list", Some(10)),
        "ListListInt" => ("list_list_int", None),
        _ => ("?", None),
    }
}

pub fn member_of(a: &AttrDef) -> &'static str {
    match &a.value {
        Some(attr_def::Value::List(_)) => "list",
        Some(attr_def::Value::S(_)) => "s",
        Some(attr_def::Value::I(_)) => "i",
        Some(attr_def::Value::F(_)) => "f",
        Some(attr_def::Value::B(_)) => "b",
        Some(attr_def::Value::Bt(_)) => "bt",
        Some(attr_def::Value::Func(_)) => "func",
        Some(attr_def::Value::Td(_)) => "td",
        Some(attr_def::Value::T(_)) => "t",
        Some(attr_def::Value::G(_)) => "g",
        Some(attr_def::Value::ListListInt(_)) => "list_list_int",
        Some(attr_def::Value::Dt(_)) => "dt",
        Some(attr_def::Value::ListListFloat(_)) => "list_list_float",
        Some(attr_def::Value::Expression(_)) => "expression",
        None => "nothing",
    }
}

/// The AttrDef for an IR attr's default value (legacy TorchAir builders write every attr).
pub fn default_attr(a: &AttrProto) -> Option<AttrDef> {
    use super::attr::*;
    let d = &a.default;
    Some(match a.ty.as_str() {
        "Int" => int(d.as_i64()?),
        "Float" => float(d.as_f64()? as f32),
        "Bool" => boolean(d.as_bool()?),
        "String" => string(d.as_str()?),
        "Type" => dtype_cpp(type_default(d)?),
        "ListInt" => list_int(
            d.as_array()?
                .iter()
                .map(|v| v.as_i64())
                .collect::<Option<Vec<_>>>()?,
        ),
        "ListFloat" => list_float(
            d.as_array()?
                .iter()
                .map(|v| v.as_f64().map(|f| f as f32))
                .collect::<Option<Vec<_>>>()?,
        ),
        "ListBool" => list_bool(
            d.as_array()?
                .iter()
                .map(|v| v.as_bool())
                .collect::<Option<Vec<_>>>()?,
        ),
        "ListString" => list_str(
            d.as_array()?
                .iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()?,
        ),
        _ => return None,
    })
}

fn type_default(d: &serde_json::Value) -> Option<i64> {
    if let Some(s) = d.as_str() {
        // ge_ops.json data_types numbering is C++ ge::DataType.
        return DType::from_ge_name(s).map(|t| t.ge_cpp()).or(match s {
            "DT_UNDEFINED" => Some(28),
            _ => None,
        });
    }
    d.as_i64()
}

/// Problems with one op, each a sentence.
fn check_op(
    op: &OpDef,
    outputs_of: &HashMap<&str, usize>,
    seen: &HashMap<&str, usize>,
    pos: usize,
) -> Vec<String> {
    let mut errs = Vec::new();
    // Edges.
    let mut data_inputs = 0;
    for inp in &op.input {
        if inp.is_empty() {
            data_inputs += 1;
            continue;
        }
        let Some((src, idx)) = inp.rsplit_once(':') else {
            errs.push(format!("input '{inp}' is not of the form <node>:<index>"));
            continue;
        };
        let Ok(idx) = idx.parse::<i64>() else {
            errs.push(format!("input '{inp}' has a non-numeric index"));
            continue;
        };
        match (outputs_of.get(src), seen.get(src)) {
            (None, _) => errs.push(format!("input '{inp}' names no node of the graph")),
            (Some(_), Some(&p)) if p >= pos => errs.push(format!(
                "input '{inp}' comes from a node that is not earlier"
            )),
            (Some(&n), _) if idx >= 0 && idx as usize >= n => errs.push(format!(
                "input '{inp}' asks for output {idx} but '{src}' has {n} output desc(s)"
            )),
            _ => {}
        }
        if idx >= 0 {
            data_inputs += 1;
        }
    }
    // Data/RefData carry an `x` input desc but no input edge (air-format.md section 5.1).
    let is_data = matches!(op.r#type.as_str(), "Data" | "RefData");
    if is_data && (data_inputs != 0 || op.input_desc.len() != 1) {
        errs.push(format!(
            "a {} node has no inputs and exactly one input desc 'x'",
            op.r#type
        ));
    } else if !is_data && data_inputs != op.input_desc.len() {
        errs.push(format!(
            "{} data input(s) but {} input_desc(s)",
            data_inputs,
            op.input_desc.len()
        ));
    }
    let in_names: Vec<&str> = op.input_desc.iter().map(|d| d.name.as_str()).collect();
    let out_names: Vec<&str> = op.output_desc.iter().map(|d| d.name.as_str()).collect();

    if op.r#type == NET_OUTPUT {
        for (i, n) in in_names.iter().enumerate() {
            if *n != format!("input{i}") {
                errs.push(format!(
                    "NetOutput input {i} is named '{n}', expected 'input{i}'"
                ));
            }
        }
        if !op.output_desc.is_empty() {
            errs.push("NetOutput must have no outputs".into());
        }
        check_attrs(op, None, &mut errs);
        return errs;
    }
    let Some(proto) = self::op(&op.r#type) else {
        errs.push(format!(
            "op type '{}' is not a GE operator (not in ge_ops.json)",
            op.r#type
        ));
        return errs;
    };
    // Inputs, in IR order: required once, optional once or unfed, dynamic as name0..nameK-1.
    let mut i = 0;
    for io in &proto.inputs {
        match io.kind.as_str() {
            "dynamic" => {
                let mut k = 0;
                while i < in_names.len() && in_names[i] == format!("{}{}", io.name, k) {
                    i += 1;
                    k += 1;
                }
            }
            "optional" => {
                if i < in_names.len() && in_names[i] == io.name {
                    i += 1;
                }
            }
            _ => {
                if i < in_names.len() && in_names[i] == io.name {
                    i += 1;
                } else {
                    errs.push(format!(
                        "required input '{}' is missing (input descs: [{}])",
                        io.name,
                        in_names.join(", ")
                    ));
                    return errs;
                }
            }
        }
    }
    if i != in_names.len() {
        let expected: Vec<String> = proto
            .inputs
            .iter()
            .map(|io| format!("{}({})", io.name, io.kind))
            .collect();
        errs.push(format!(
            "input descs [{}] do not match the prototype's inputs [{}]",
            in_names.join(", "),
            expected.join(", ")
        ));
    }
    // Outputs.
    let mut o = 0;
    for io in &proto.outputs {
        if io.kind == "dynamic" {
            let mut k = 0;
            while o < out_names.len() && out_names[o] == format!("{}{}", io.name, k) {
                o += 1;
                k += 1;
            }
        } else if o < out_names.len()
            && (out_names[o] == io.name || (op.r#type == "Const" && out_names[o].is_empty()))
        {
            o += 1;
        } else {
            errs.push(format!(
                "output '{}' is missing (output descs: [{}])",
                io.name,
                out_names.join(", ")
            ));
            return errs;
        }
    }
    if o != out_names.len() {
        errs.push(format!(
            "output descs [{}] do not match the prototype",
            out_names.join(", ")
        ));
    }
    check_attrs(op, Some(proto), &mut errs);
    errs
}

fn check_attrs(op: &OpDef, proto: Option<&OpProto>, errs: &mut Vec<String>) {
    for (name, value) in &op.attr {
        let got = member_of(value);
        if let Some((_, member)) = PRIVATE_ATTRS.iter().find(|(n, _)| n == name) {
            // An AttrDef with no value (TorchAir's `_inputs_all_sym` on Pack) reads as the
            // default.
            if got != *member && got != "nothing" {
                errs.push(format!(
                    "attr '{name}' must be written as '{member}', found '{got}'"
                ));
            }
            continue;
        }
        let Some(ir) = proto.and_then(|p| p.attr(name)) else {
            errs.push(format!("attr '{name}' is not an attr of {}", op.r#type));
            continue;
        };
        let (member, val_type) = expected_member(&ir.ty);
        if got != member {
            errs.push(format!(
                "attr '{name}' is {} and must be written as '{member}', found '{got}'",
                ir.ty
            ));
        } else if let (Some(vt), Some(attr_def::Value::List(l))) = (val_type, &value.value) {
            if l.val_type != vt {
                errs.push(format!(
                    "attr '{name}' is {} and needs list val_type {vt}, found {}",
                    ir.ty, l.val_type
                ));
            }
        }
    }
    if let Some(p) = proto {
        for a in p.attrs.iter().filter(|a| a.required) {
            if !op.attr.contains_key(&a.name) {
                errs.push(format!("required attr '{}' ({}) is missing", a.name, a.ty));
            }
        }
    }
}

/// Checks every op of a graph. Returns one line per problem, naming the node.
pub fn check_graph(g: &GraphDef) -> Result<(), Vec<String>> {
    let outputs_of: HashMap<&str, usize> =
        g.op.iter()
            .map(|o| (o.name.as_str(), o.output_desc.len()))
            .collect();
    let seen: HashMap<&str, usize> =
        g.op.iter()
            .enumerate()
            .map(|(i, o)| (o.name.as_str(), i))
            .collect();
    let mut errs = Vec::new();
    if seen.len() != g.op.len() {
        errs.push("node names are not unique".to_string());
    }
    for (pos, op) in g.op.iter().enumerate() {
        for e in check_op(op, &outputs_of, &seen, pos) {
            errs.push(format!("node '{}' ({}): {e}", op.name, op.r#type));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// Input/output dtypes outside the prototype's type sets. These sets are advisory (ge_ops.md,
/// "Things to know" 1), so they are reported as warnings, not errors.
pub fn dtype_warnings(g: &GraphDef) -> Vec<String> {
    let mut out = Vec::new();
    for node in &g.op {
        let Some(proto) = op(&node.r#type) else {
            continue;
        };
        if matches!(node.r#type.as_str(), "Data" | "Const" | "FileConstant") {
            continue;
        }
        let check = |ios: &[IoProto],
                     descs: &[crate::proto::TensorDescriptor],
                     what: &str,
                     out: &mut Vec<String>| {
            for d in descs {
                let base = d.name.trim_end_matches(|c: char| c.is_ascii_digit());
                let Some(io) = ios.iter().find(|io| io.name == d.name || io.name == base) else {
                    continue;
                };
                let (Some(types), Some(dt)) = (&io.types, DType::from_ge_proto(d.dtype)) else {
                    continue;
                };
                if !types.iter().any(|t| t == dt.ge_name()) {
                    out.push(format!(
                        "node '{}' ({}): {what} '{}' is {} which the prototype does not list",
                        node.name,
                        node.r#type,
                        d.name,
                        dt.ge_name()
                    ));
                }
            }
        };
        check(&proto.inputs, &node.input_desc, "input", &mut out);
        check(&proto.outputs, &node.output_desc, "output", &mut out);
    }
    out
}
