//! Evaluators: prim ops that only move values around (lists, tuples, casts of the static type).
//! They are computed in Rust so that tensors keep their GE origin through containers.
use crate::value::Value;

/// List and dict mutations: TorchScript lists and dicts are references, so the walker updates the
/// value in place (the caller rebinds input 0 to the returned value). Returns None for other ops.
pub fn mutate_list(kind: &str, inputs: &[Value]) -> Option<Result<Value, String>> {
    if let (Some(Value::Dict(d)), "aten::_set_item") = (inputs.first(), kind) {
        let (key, value) = (inputs.get(1)?, inputs.get(2)?);
        let mut d = d.clone();
        match d.iter_mut().find(|(k, _)| same_key(k, key)) {
            Some(entry) => entry.1 = value.clone(),
            None => d.push((key.clone(), value.clone())),
        }
        return Some(Ok(Value::Dict(d)));
    }
    let Some(Value::List(items)) = inputs.first() else {
        return None;
    };
    let mut items = items.clone();
    let r = match kind {
        "aten::append" => {
            items.push(inputs.get(1)?.clone());
            Ok(Value::List(items))
        }
        // `a += b` of lists (aten::add_.t) extends a in place.
        "aten::extend" | "aten::add_" => match inputs.get(1)? {
            Value::List(more) => {
                items.extend(more.iter().cloned());
                Ok(Value::List(items))
            }
            _ => Err("extend with a non-list".into()),
        },
        "aten::insert" => {
            let n = items.len() as i64;
            let i = inputs.get(1)?.as_int()?;
            let i = (if i < 0 { i + n } else { i }).clamp(0, n) as usize;
            items.insert(i, inputs.get(2)?.clone());
            Ok(Value::List(items))
        }
        "aten::_set_item" => {
            let n = items.len() as i64;
            let i = inputs.get(1)?.as_int()?;
            let j = if i < 0 { i + n } else { i };
            if j < 0 || j >= n {
                return Some(Err(format!("list index {i} out of range")));
            }
            items[j as usize] = inputs.get(2)?.clone();
            Ok(Value::List(items))
        }
        _ => return None,
    };
    Some(r)
}

/// Evaluates a structural prim op, or returns None when `kind` is not one.
pub fn eval(kind: &str, inputs: &[Value], n_outputs: usize) -> Option<Result<Vec<Value>, String>> {
    let r = match kind {
        "prim::ListConstruct" => Ok(vec![Value::List(inputs.to_vec())]),
        "prim::TupleConstruct" => Ok(vec![Value::Tuple(inputs.to_vec())]),
        "prim::ListUnpack" | "prim::TupleUnpack" => match inputs.first() {
            Some(Value::List(v)) | Some(Value::Tuple(v)) if v.len() == n_outputs => Ok(v.clone()),
            Some(v) => Err(format!("cannot unpack {v:?} into {n_outputs} values")),
            None => Err("unpack without input".into()),
        },
        "prim::TupleIndex" => index(inputs),
        // `a + b` of lists (aten::add.t): a new list.
        "aten::add" => match inputs {
            [Value::List(a), Value::List(b)] => {
                Ok(vec![Value::List(a.iter().chain(b).cloned().collect())])
            }
            _ => return None,
        },
        "aten::__getitem__" => match inputs.first() {
            Some(Value::List(_)) | Some(Value::Tuple(_)) => index(inputs),
            Some(Value::Dict(d)) => match inputs.get(1).and_then(|k| lookup(d, k)) {
                Some(v) => Ok(vec![v.clone()]),
                None => Err(format!("key {:?} not in the dict", inputs.get(1))),
            },
            _ => return None,
        },
        "prim::DictConstruct" => Ok(vec![Value::Dict(
            inputs
                .chunks(2)
                .map(|kv| (kv[0].clone(), kv[1].clone()))
                .collect(),
        )]),
        "aten::get" | "aten::__contains__" | "aten::keys" | "aten::values" | "aten::items" => {
            let Some(Value::Dict(d)) = inputs.first() else {
                return None;
            };
            let found = inputs.get(1).and_then(|k| lookup(d, k));
            Ok(vec![match kind {
                "aten::get" => found
                    .cloned()
                    .unwrap_or_else(|| inputs.get(2).cloned().unwrap_or(Value::None)),
                "aten::__contains__" => Value::Bool(found.is_some()),
                "aten::keys" => Value::List(d.iter().map(|(k, _)| k.clone()).collect()),
                "aten::values" => Value::List(d.iter().map(|(_, v)| v.clone()).collect()),
                _ => Value::List(
                    d.iter()
                        .map(|(k, v)| Value::Tuple(vec![k.clone(), v.clone()]))
                        .collect(),
                ),
            }])
        }
        "prim::unchecked_cast" | "aten::detach"
            if inputs.len() == 1 && inputs[0].as_tensor().is_none() =>
        {
            Ok(vec![inputs[0].clone()])
        }
        "prim::unchecked_cast" => Ok(vec![inputs[0].clone()]),
        "aten::len" => match inputs.first() {
            Some(Value::List(v)) | Some(Value::Tuple(v)) => Ok(vec![Value::Int(v.len() as i64)]),
            Some(Value::Dict(d)) => Ok(vec![Value::Int(d.len() as i64)]),
            _ => return None,
        },
        // List slicing stays here so that symbolic ints in the list keep their origin.
        "aten::slice" => match inputs.first() {
            Some(Value::List(v)) => slice_list(v, inputs),
            _ => return None,
        },
        "aten::list" => match inputs.first() {
            Some(Value::List(v)) | Some(Value::Tuple(v)) => Ok(vec![Value::List(v.clone())]),
            _ => return None,
        },
        // warnings.warn: the interpreter implements it itself (no operator to run); it has no
        // outputs and nothing to export.
        "aten::warn" => Ok(vec![]),
        _ => return None,
    };
    Some(r)
}

/// Whether two dict keys (strings, ints, floats or bools) are equal.
fn same_key(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}

/// The value of a dict entry.
fn lookup<'a>(d: &'a [(Value, Value)], key: &Value) -> Option<&'a Value> {
    d.iter().find(|(k, _)| same_key(k, key)).map(|(_, v)| v)
}

fn index(inputs: &[Value]) -> Result<Vec<Value>, String> {
    let (Some(Value::List(v) | Value::Tuple(v)), Some(i)) =
        (inputs.first(), inputs.get(1).and_then(Value::as_int))
    else {
        return Err("bad index".into());
    };
    let n = v.len() as i64;
    let j = if i < 0 { i + n } else { i };
    v.get(j as usize)
        .cloned()
        .map(|x| vec![x])
        .ok_or_else(|| format!("index {i} out of range for length {n}"))
}

/// Python's `list[start:end:step]` for a positive step.
fn slice_list(v: &[Value], inputs: &[Value]) -> Result<Vec<Value>, String> {
    let n = v.len() as i64;
    let arg = |i: usize, default: i64| inputs.get(i).and_then(Value::as_int).unwrap_or(default);
    let step = arg(3, 1);
    if step <= 0 {
        return Err("list slice with a step <= 0".into());
    }
    let bound = |x: i64| (if x < 0 { x + n } else { x }).clamp(0, n);
    let (start, end) = (bound(arg(1, 0)), bound(arg(2, n)));
    Ok(vec![Value::List(
        (start..end.max(start))
            .step_by(step as usize)
            .map(|i| v[i as usize].clone())
            .collect(),
    )])
}
