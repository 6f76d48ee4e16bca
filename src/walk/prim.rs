//! Evaluators: prim ops that only move values around (lists, tuples, casts of the static type).
//! They are computed in Rust so that tensors keep their GE origin through containers.
use crate::value::Value;

/// List mutations: TorchScript lists are references, so the walker updates the list value in
/// place (the caller rebinds input 0 to the returned list). Returns None for other ops.
pub fn mutate_list(kind: &str, inputs: &[Value]) -> Option<Result<Value, String>> {
    let Some(Value::List(items)) = inputs.first() else {
        return None;
    };
    let mut items = items.clone();
    let r = match kind {
        "aten::append" => {
            items.push(inputs.get(1)?.clone());
            Ok(Value::List(items))
        }
        "aten::extend" => match inputs.get(1)? {
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
        "aten::__getitem__" => match inputs.first() {
            Some(Value::List(_)) | Some(Value::Tuple(_)) => index(inputs),
            _ => return None,
        },
        "prim::unchecked_cast" | "aten::detach"
            if inputs.len() == 1 && inputs[0].as_tensor().is_none() =>
        {
            Ok(vec![inputs[0].clone()])
        }
        "prim::unchecked_cast" => Ok(vec![inputs[0].clone()]),
        "aten::len" => match inputs.first() {
            Some(Value::List(v)) | Some(Value::Tuple(v)) => Ok(vec![Value::Int(v.len() as i64)]),
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
