//! Functional collectives (`torch.ops._c10d_functional`) to Hcom ops (air-format.md section 8).
//! The walker has already computed each collective across the ranks and replaced the
//! `group_name` argument with the group's GE `group` attr (`tag=ptd:<name>;rank_list=...`).
use super::{Ctx, RuleResult, Rules};
use crate::dist::{ranks_of_ge_group, Reduce};
use crate::ge::{attr, In};
use crate::value::Value;

pub fn register(r: &mut Rules) {
    r.add(
        "_c10d_functional::all_reduce",
        all_reduce,
        "HcomAllReduce(x; reduction, group, fusion=0, fusion_id=-1)",
    );
    r.add(
        "_c10d_functional::all_gather_into_tensor",
        all_gather,
        "HcomAllGather(x; rank_size, group, fusion=0, fusion_id=-1), gathers along dim 0",
    );
    r.add(
        "_c10d_functional::reduce_scatter_tensor",
        reduce_scatter,
        "HcomReduceScatter(x; reduction, group, rank_size, fusion=0, fusion_id=-1)",
    );
    r.add(
        "_c10d_functional::broadcast",
        broadcast,
        "HcomBroadcast(x0; root_rank=src (group-local), group, fusion=0, fusion_id=-1)",
    );
    r.add(
        "_c10d_functional::all_to_all_single",
        all_to_all,
        "equal splits: HcomAllToAll(x; group); otherwise HcomAllToAllV(x, K64 counts/displacements in elements; group) → Reshape",
    );
    r.add("_c10d_functional::wait_tensor", wait, "Identity(x)");
}

fn string(c: &Ctx, name: &str) -> Result<String, String> {
    match c.arg(name)? {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!("argument '{name}' must be a string, got {other:?}")),
    }
}

fn group(c: &Ctx) -> Result<(String, Vec<usize>), String> {
    let g = string(c, "group_name")?;
    let ranks = ranks_of_ge_group(&g)
        .ok_or_else(|| format!("internal: group '{g}' was not resolved by the walker"))?;
    Ok((g, ranks))
}

/// TorchAir's legacy builders write fusion 0 and fusion_id -1 on every Hcom op.
fn fusion() -> [(&'static str, crate::proto::AttrDef); 2] {
    [("fusion", attr::int(0)), ("fusion_id", attr::int(-1))]
}

fn all_reduce(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let reduction = Reduce::parse(&string(c, "reduce_op")?)?;
    let (g, _) = group(c)?;
    let x = c.tensor("input")?;
    let mut attrs = vec![
        ("reduction", attr::string(reduction.ge())),
        ("group", attr::string(&g)),
    ];
    attrs.extend(fusion());
    Ok(vec![c.op1("HcomAllReduce", vec![In::P(x)], attrs, out)?])
}

fn all_gather(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let (g, ranks) = group(c)?;
    let x = c.tensor("input")?;
    let mut attrs = vec![
        ("rank_size", attr::int(ranks.len() as i64)),
        ("group", attr::string(&g)),
    ];
    attrs.extend(fusion());
    Ok(vec![c.op1("HcomAllGather", vec![In::P(x)], attrs, out)?])
}

fn reduce_scatter(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let reduction = Reduce::parse(&string(c, "reduce_op")?)?;
    let (g, ranks) = group(c)?;
    let x = c.tensor("input")?;
    let mut attrs = vec![
        ("reduction", attr::string(reduction.ge())),
        ("group", attr::string(&g)),
        ("rank_size", attr::int(ranks.len() as i64)),
    ];
    attrs.extend(fusion());
    Ok(vec![c.op1(
        "HcomReduceScatter",
        vec![In::P(x)],
        attrs,
        out,
    )?])
}

fn broadcast(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let (g, _) = group(c)?;
    let src = c.int("src")?;
    let x = c.tensor("input")?;
    let mut attrs = vec![("root_rank", attr::int(src)), ("group", attr::string(&g))];
    attrs.extend(fusion());
    c.op("HcomBroadcast", vec![In::Dyn(vec![x])], attrs, &[Some(out)])
}

/// Counts (in elements) and displacements (prefix sums) from split sizes along dim 0.
fn counts(splits: &[i64], inner: i64) -> (Vec<i64>, Vec<i64>) {
    let counts: Vec<i64> = splits.iter().map(|s| s * inner).collect();
    let displs = counts
        .iter()
        .scan(0, |acc, c| {
            let d = *acc;
            *acc += c;
            Some(d)
        })
        .collect();
    (counts, displs)
}

fn all_to_all(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let (g, ranks) = group(c)?;
    let n = ranks.len() as i64;
    let in_shape = c.in_shape("input")?;
    let out_shape = c.out_shape(0)?;
    let d0 = in_shape.first().copied().unwrap_or(0);
    let inner: i64 = in_shape.iter().skip(1).product();
    let in_splits = match c.ints("input_split_sizes")? {
        s if s.is_empty() => vec![d0 / n.max(1); n as usize],
        s => s,
    };
    let out_d0 = out_shape.first().copied().unwrap_or(0);
    let out_splits = match c.ints("output_split_sizes")? {
        s if s.is_empty() => vec![out_d0 / n.max(1); n as usize],
        s => s,
    };
    let x = c.tensor("input")?;
    let equal = in_splits
        .iter()
        .chain(&out_splits)
        .all(|s| *s == in_splits[0]);
    if equal {
        return Ok(vec![c.op1(
            "HcomAllToAll",
            vec![In::P(x)],
            vec![("group", attr::string(&g))],
            out,
        )?]);
    }
    let (sc, sd) = counts(&in_splits, inner);
    let (rc, rd) = counts(&out_splits, inner);
    let mut ins = vec![In::P(x)];
    for v in [sc, sd, rc, rd] {
        ins.push(In::P(c.const_i64(&v)?));
    }
    let flat = c.op1("HcomAllToAllV", ins, vec![("group", attr::string(&g))], out)?;
    let shape = c.const_i64(&out_shape)?;
    Ok(vec![c.op1(
        "Reshape",
        vec![In::P(flat), In::P(shape)],
        vec![],
        out,
    )?])
}

fn wait(c: &mut Ctx) -> RuleResult {
    let out = c.out_dtype(0)?;
    let x = c.tensor("tensor")?;
    Ok(vec![c.op1("Identity", vec![In::P(x)], vec![], out)?])
}
