//! AttrDef constructors, one per IR attr type (air-format.md section 12.3).
use crate::proto::{
    attr_def, attr_def::list_value::ListValueType as Vt, attr_def::ListValue, AttrDef, TensorDef,
};

fn v(x: attr_def::Value) -> AttrDef {
    AttrDef { value: Some(x) }
}

pub fn int(i: i64) -> AttrDef {
    v(attr_def::Value::I(i))
}
pub fn float(f: f32) -> AttrDef {
    v(attr_def::Value::F(f))
}
pub fn boolean(b: bool) -> AttrDef {
    v(attr_def::Value::B(b))
}
pub fn string(s: &str) -> AttrDef {
    v(attr_def::Value::S(s.as_bytes().to_vec()))
}
/// A `Type` attr: ge::DataType, C++ numbering.
pub fn dtype_cpp(dt: i64) -> AttrDef {
    v(attr_def::Value::Dt(dt))
}
pub fn tensor(t: TensorDef) -> AttrDef {
    v(attr_def::Value::T(t))
}
fn list(l: ListValue) -> AttrDef {
    v(attr_def::Value::List(l))
}
pub fn list_int(i: Vec<i64>) -> AttrDef {
    list(ListValue {
        i,
        val_type: Vt::VtListInt as i32,
        ..Default::default()
    })
}
pub fn list_float(f: Vec<f32>) -> AttrDef {
    list(ListValue {
        f,
        val_type: Vt::VtListFloat as i32,
        ..Default::default()
    })
}
pub fn list_bool(b: Vec<bool>) -> AttrDef {
    list(ListValue {
        b,
        val_type: Vt::VtListBool as i32,
        ..Default::default()
    })
}
pub fn list_str(s: Vec<String>) -> AttrDef {
    list(ListValue {
        s: s.into_iter().map(String::into_bytes).collect(),
        val_type: Vt::VtListString as i32,
        ..Default::default()
    })
}
/// GE's name-map lists (`_input_name_key` ...) carry no val_type; GE reads them specially.
pub fn name_keys(names: Vec<String>) -> AttrDef {
    list(ListValue {
        s: names.into_iter().map(String::into_bytes).collect(),
        ..Default::default()
    })
}
pub fn name_values(n: usize) -> AttrDef {
    list(ListValue {
        i: (0..n as i64).collect(),
        ..Default::default()
    })
}

pub fn as_int(a: &AttrDef) -> Option<i64> {
    match a.value {
        Some(attr_def::Value::I(i)) => Some(i),
        Some(attr_def::Value::Dt(i)) => Some(i),
        _ => None,
    }
}
pub fn as_float(a: &AttrDef) -> Option<f32> {
    match a.value {
        Some(attr_def::Value::F(f)) => Some(f),
        _ => None,
    }
}
pub fn as_bool(a: &AttrDef) -> Option<bool> {
    match a.value {
        Some(attr_def::Value::B(b)) => Some(b),
        _ => None,
    }
}
pub fn as_str(a: &AttrDef) -> Option<String> {
    match &a.value {
        Some(attr_def::Value::S(s)) => Some(String::from_utf8_lossy(s).into_owned()),
        _ => None,
    }
}
pub fn as_list_int(a: &AttrDef) -> Option<Vec<i64>> {
    match &a.value {
        Some(attr_def::Value::List(l)) => Some(l.i.clone()),
        _ => None,
    }
}
pub fn as_tensor(a: &AttrDef) -> Option<&TensorDef> {
    match &a.value {
        Some(attr_def::Value::T(t)) => Some(t),
        _ => None,
    }
}
