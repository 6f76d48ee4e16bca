//! Hcom collectives. The runner runs each rank of a multi-rank export in its own thread; these
//! kernels meet the group's other ranks through the thread's communicator (`crate::dist`) and
//! compute the collective over their tensors. The group's ranks come from the `group` attr
//! (`tag=<tag>;rank_list=<r0>,<r1>,...`).
use super::{int_values, KCtx, Kernel};
use crate::dist::{self, Group, Op, Reduce};
use std::collections::BTreeMap;
use tch::Tensor;

pub fn register(m: &mut BTreeMap<&'static str, Kernel>) {
    m.insert("HcomAllReduce", all_reduce);
    m.insert("HcomAllGather", all_gather);
    m.insert("HcomReduceScatter", reduce_scatter);
    m.insert("HcomBroadcast", broadcast);
    m.insert("HcomAllToAll", all_to_all);
    m.insert("HcomAllToAllV", all_to_all_v);
}

fn group(c: &KCtx) -> Result<Group, String> {
    let ge = c.string("group")?;
    let ranks = dist::ranks_of_ge_group(&ge).ok_or_else(|| {
        format!("group '{ge}' names no rank list (torch2air reads 'tag=<tag>;rank_list=0,1')")
    })?;
    let name = ge
        .strip_prefix("tag=")
        .and_then(|t| t.split(';').next())
        .unwrap_or(&ge)
        .to_string();
    Ok(Group { name, ranks, ge })
}

/// GE does not convert: the data input must have a dtype the op's prototype lists.
fn check_dtype(c: &KCtx, input: &str, t: &Tensor) -> Result<(), String> {
    let dt = crate::dtype::of_tensor(t)?;
    let allowed = crate::ge::schema::op(&c.op.r#type)
        .and_then(|p| p.inputs.iter().find(|i| i.name == input))
        .and_then(|i| i.types.clone())
        .unwrap_or_default();
    if !allowed.is_empty() && !allowed.iter().any(|a| a == dt.ge_name()) {
        return Err(format!(
            "{} does not take {} (it takes {})",
            c.op.r#type,
            dt.ge_name(),
            allowed.join(", ")
        ));
    }
    Ok(())
}

fn data<'a>(c: &'a KCtx, name: &str) -> Result<&'a Tensor, String> {
    let x = c.input(name)?;
    check_dtype(c, name, x)?;
    Ok(x)
}

fn rank_size(c: &KCtx, g: &Group) -> Result<(), String> {
    let n = c.int("rank_size")?;
    if n != g.ranks.len() as i64 {
        return Err(format!(
            "rank_size {n} differs from the group's {} ranks",
            g.ranks.len()
        ));
    }
    Ok(())
}

fn all_reduce(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let g = group(c)?;
    let r = Reduce::parse(&c.string("reduction")?)?;
    Ok(vec![dist::collective(&g, Op::AllReduce(r), data(c, "x")?)?])
}

fn all_gather(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let g = group(c)?;
    rank_size(c, &g)?;
    Ok(vec![dist::collective(&g, Op::AllGather, data(c, "x")?)?])
}

fn reduce_scatter(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let g = group(c)?;
    rank_size(c, &g)?;
    let r = Reduce::parse(&c.string("reduction")?)?;
    Ok(vec![dist::collective(
        &g,
        Op::ReduceScatter(r),
        data(c, "x")?,
    )?])
}

fn broadcast(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let g = group(c)?;
    let root = c.int("root_rank")?;
    if root < 0 || root as usize >= g.ranks.len() {
        return Err(format!(
            "root_rank {root} is not a rank of the group ({} ranks)",
            g.ranks.len()
        ));
    }
    let mut outs = vec![];
    for x in c.dynamic("x") {
        check_dtype(c, "x", x)?;
        outs.push(dist::collective(&g, Op::Broadcast(root as usize), x)?);
    }
    Ok(outs)
}

fn all_to_all(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let g = group(c)?;
    let op = Op::AllToAll {
        input_splits: vec![],
        output_splits: vec![],
    };
    Ok(vec![dist::collective(&g, op, data(c, "x")?)?])
}

/// Counts and displacements are in elements of the flattened data; displacements must be the
/// counts' prefix sums (contiguous blocks), as torch2air writes them.
fn all_to_all_v(c: &KCtx) -> Result<Vec<Tensor>, String> {
    let g = group(c)?;
    let x = data(c, "send_data")?;
    let mut v = vec![];
    for name in [
        "send_counts",
        "send_displacements",
        "recv_counts",
        "recv_displacements",
    ] {
        let t = c.input(name)?;
        if t.kind() != tch::Kind::Int64 {
            return Err(format!("{name} must be INT64, got {:?}", t.kind()));
        }
        v.push(int_values(t)?);
    }
    for (counts, displs, what) in [(&v[0], &v[1], "send"), (&v[2], &v[3], "recv")] {
        let prefix: Vec<i64> = counts
            .iter()
            .scan(0, |a, c| {
                let d = *a;
                *a += c;
                Some(d)
            })
            .collect();
        if *displs != prefix {
            return Err(format!(
                "{what}_displacements {displs:?} are not the prefix sums of {what}_counts {counts:?} (only contiguous blocks are supported)"
            ));
        }
    }
    let op = Op::AllToAll {
        input_splits: v[0].clone(),
        output_splits: v[2].clone(),
    };
    Ok(vec![dist::collective(&g, op, &x.flatten(0, -1))?])
}
