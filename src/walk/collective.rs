//! Collectives while walking: there is no process group at export time, so the walker computes a
//! `_c10d_functional` node's result itself, as the collective over the ranks' values (each rank
//! walks in its own thread and they meet here, see `crate::dist`). The lowering rule then sees
//! the node's inputs with the `group_name` argument replaced by the group's GE `group` attr.
use crate::dist::{self, Op, Reduce};
use crate::load::Node;
use crate::value::{Origin, TensorValue, Value};

/// Whether a schema name is a functional collective the walker evaluates itself.
pub fn is_collective(op: &str) -> bool {
    op.starts_with("_c10d_functional::")
}

fn arg<'a>(n: &Node, inputs: &'a [Value], name: &str) -> Result<&'a Value, String> {
    n.args
        .iter()
        .position(|a| a == name)
        .and_then(|i| inputs.get(i))
        .ok_or_else(|| format!("internal: {} has no argument '{name}'", n.op_name()))
}

fn string(n: &Node, inputs: &[Value], name: &str) -> Result<String, String> {
    match arg(n, inputs, name)? {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!(
            "argument '{name}' must be a string (a process group name such as \"0\"), got {other:?}; \
             fix: pass the group's name (a ProcessGroup object cannot be exported)"
        )),
    }
}

fn int(n: &Node, inputs: &[Value], name: &str) -> Result<i64, String> {
    arg(n, inputs, name)?
        .as_int()
        .ok_or_else(|| format!("argument '{name}' must be an int"))
}

fn ints(n: &Node, inputs: &[Value], name: &str) -> Result<Vec<i64>, String> {
    arg(n, inputs, name)?
        .as_int_list()
        .ok_or_else(|| format!("argument '{name}' must be a list of ints"))
}

/// Computes a collective node's outputs across the ranks. Returns (outputs, the inputs for the
/// lowering rule).
pub fn eval(n: &Node, inputs: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>), String> {
    let op = n.op_name();
    let base = op
        .trim_start_matches("_c10d_functional::")
        .trim_end_matches('_');
    let first = inputs
        .first()
        .and_then(Value::as_tensor)
        .ok_or_else(|| format!("{op}: the first argument must be a tensor"))?
        .tensor
        .clone();
    if base == "wait_tensor" {
        let out = Value::Tensor(TensorValue::new(first.shallow_clone(), Origin::Constant));
        return Ok((vec![out], inputs));
    }
    let group_name = string(n, &inputs, "group_name")?;
    let comm_groups = dist::with_comm(|c| Ok(c.groups.clone()), op)?;
    let group = comm_groups.resolve(&group_name)?;
    let size = group.ranks.len() as i64;
    let check_size = |name: &str| -> Result<(), String> {
        let s = int(n, &inputs, name)?;
        if s != size {
            return Err(format!(
                "{name}={s} but group '{group_name}' has {size} rank(s) ({:?}); fix: pass the group's size",
                group.ranks
            ));
        }
        Ok(())
    };
    let dop = match base {
        "all_reduce" => Op::AllReduce(Reduce::parse(&string(n, &inputs, "reduce_op")?)?),
        "all_gather_into_tensor" => {
            check_size("group_size")?;
            Op::AllGather
        }
        "reduce_scatter_tensor" => {
            check_size("group_size")?;
            Op::ReduceScatter(Reduce::parse(&string(n, &inputs, "reduce_op")?)?)
        }
        "broadcast" => {
            let src = int(n, &inputs, "src")?;
            if src < 0 || src >= size {
                return Err(format!(
                    "broadcast src={src} is not a rank of group '{group_name}' (size {size}); fix: pass a group-local rank"
                ));
            }
            Op::Broadcast(src as usize)
        }
        "all_to_all_single" => Op::AllToAll {
            input_splits: ints(n, &inputs, "input_split_sizes")?,
            output_splits: ints(n, &inputs, "output_split_sizes")?,
        },
        _ => {
            return Err(format!(
                "{op} is not supported; torch2air exports all_reduce, all_gather_into_tensor, reduce_scatter_tensor, \
                 broadcast, all_to_all_single and wait_tensor of torch.ops._c10d_functional"
            ))
        }
    };
    let out = dist::collective(&group, dop, &first)?;
    let mut lowered = inputs;
    if let Some(i) = n.args.iter().position(|a| a == "group_name") {
        lowered[i] = Value::Str(group.ge.clone());
    }
    Ok((
        vec![Value::Tensor(TensorValue::new(out, Origin::Constant))],
        lowered,
    ))
}
