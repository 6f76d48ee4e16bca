//! Multi-card support shared by the walker (export) and the runner: process groups and their GE
//! names, a rendezvous that lets one thread per rank meet at each collective (like a real process
//! group), and the collectives' arithmetic on the ranks' tensors.
//!
//! Each rank walks (or runs) in its own thread. A thread that takes part in collectives installs
//! its [`RankComm`] with [`install`]; the walker's collective hook and the runner's Hcom kernels
//! find it there, so neither `Ctx` nor `KCtx` needs to know about ranks.
pub mod atc;
pub mod export;
pub mod run;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex};
use tch::Tensor;

/// The TorchScript name of the default (world) group: `torch.distributed`'s first group.
pub const WORLD_GROUP: &str = "0";

/// A process group: its TorchScript name, its global ranks in group order, its GE `group` attr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub ranks: Vec<usize>,
    pub ge: String,
}

/// The GE `group` attr of a group, in TorchAir's form for CPU (gloo) groups
/// (air-format.md section 8): `tag=<tag>;rank_list=<r0>,<r1>,...`, with PyTorch's tag of an
/// unnamed group, `ptd:<group name>`.
pub fn ge_group_name(name: &str, ranks: &[usize]) -> String {
    let list: Vec<String> = ranks.iter().map(|r| r.to_string()).collect();
    format!("tag=ptd:{name};rank_list={}", list.join(","))
}

/// The rank list of a GE `group` attr written by [`ge_group_name`].
pub fn ranks_of_ge_group(ge: &str) -> Option<Vec<usize>> {
    let list = ge.rsplit_once("rank_list=")?.1;
    list.split(',').map(|r| r.trim().parse().ok()).collect()
}

/// Parses a `--group NAME=R0,R1,...` declaration.
pub fn parse_group_decl(s: &str) -> Result<(String, Vec<usize>), String> {
    let bad = |why: &str| {
        format!("--group '{s}': {why}; fix: write NAME=RANKS, e.g. --group 1=0,1 (TorchScript group name '1', ranks 0 and 1)")
    };
    let (name, ranks) = s.split_once('=').ok_or_else(|| bad("no '='"))?;
    let name = name.trim();
    if name.is_empty() || name.contains(';') || name.contains('=') {
        return Err(bad("the name must be non-empty, without ';' or '='"));
    }
    let ranks: Vec<usize> = ranks
        .split(',')
        .map(|r| r.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("ranks must be comma-separated whole numbers"))?;
    if ranks.is_empty() {
        return Err(bad("no ranks"));
    }
    Ok((name.to_string(), ranks))
}

/// The groups of an export: the world group `"0"` plus the declared sub-groups.
#[derive(Debug, Clone)]
pub struct Groups {
    pub world: usize,
    declared: BTreeMap<String, Vec<usize>>,
}

/// The most ranks one export or run handles (each rank is a thread with its own model).
pub const MAX_WORLD: usize = 1024;

impl Groups {
    pub fn new(world: usize, declared: &[(String, Vec<usize>)]) -> Result<Groups, String> {
        if world == 0 {
            return Err("--world-size must be at least 1".into());
        }
        if world > MAX_WORLD {
            return Err(format!(
                "--world-size {world} is more than the {MAX_WORLD} ranks torch2air walks and runs in one \
                 process (a thread and a copy of the model per rank); fix: export fewer ranks"
            ));
        }
        let mut map = BTreeMap::new();
        for (name, ranks) in declared {
            if name == WORLD_GROUP {
                return Err(format!(
                    "--group {name}=...: '{WORLD_GROUP}' is the default (world) group of all {world} ranks and cannot be redeclared; fix: give the sub-group another name (torch.distributed names new groups '1', '2', ... in creation order)"
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for r in ranks {
                if *r >= world {
                    return Err(format!(
                        "--group {name}: rank {r} is not below --world-size {world}; fix: use ranks 0..{}",
                        world - 1
                    ));
                }
                if !seen.insert(*r) {
                    return Err(format!(
                        "--group {name}: rank {r} is listed twice; fix: list each rank once"
                    ));
                }
            }
            if map.insert(name.clone(), ranks.clone()).is_some() {
                return Err(format!(
                    "--group {name} is declared twice; fix: declare each group once"
                ));
            }
        }
        Ok(Groups {
            world,
            declared: map,
        })
    }

    /// The group a TorchScript `group_name` argument names.
    pub fn resolve(&self, name: &str) -> Result<Group, String> {
        let ranks = if name == WORLD_GROUP {
            (0..self.world).collect()
        } else {
            self.declared.get(name).cloned().ok_or_else(|| {
                format!(
                    "the collective uses process group '{name}', which is not declared; the default group is '{WORLD_GROUP}' (all ranks). \
                     fix: declare it with --group {name}=RANKS, e.g. --group {name}=0,1"
                )
            })?
        };
        Ok(Group {
            name: name.to_string(),
            ge: ge_group_name(name, &ranks),
            ranks,
        })
    }
}

/// What one rank brings to a collective.
struct Part {
    tensor: Tensor,
    /// all_to_all: the rank's input split sizes along dim 0.
    splits: Vec<i64>,
}

struct Slot {
    what: String,
    parts: BTreeMap<usize, Part>,
    readers_left: usize,
}

#[derive(Default)]
struct State {
    slots: HashMap<(String, u64), Slot>,
    /// Ranks whose thread has ended (walk or run finished or failed), with why.
    finished: BTreeMap<usize, String>,
}

/// Where the ranks' threads meet at each collective.
#[derive(Default)]
pub struct Rendezvous {
    state: Mutex<State>,
    cv: Condvar,
}

impl Rendezvous {
    pub fn new() -> Arc<Rendezvous> {
        Arc::new(Rendezvous::default())
    }

    fn finish(&self, rank: usize, why: String) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.finished.insert(rank, why);
        self.cv.notify_all();
    }

    /// Contributes `part` to the `seq`-th collective of `group` and waits for every member's.
    /// Returns the members' parts in group order.
    fn exchange(
        &self,
        rank: usize,
        group: &Group,
        seq: u64,
        what: &str,
        part: Part,
    ) -> Result<Vec<Part>, String> {
        let key = (group.ge.clone(), seq);
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        {
            let slot = s.slots.entry(key.clone()).or_insert_with(|| Slot {
                what: what.to_string(),
                parts: BTreeMap::new(),
                readers_left: group.ranks.len(),
            });
            if slot.what != what {
                return Err(format!(
                    "the ranks diverged: collective #{} of group '{}' is {} on one rank but {what} on rank {rank}; \
                     fix: make every rank of the group run the same collectives in the same order",
                    seq + 1,
                    group.name,
                    slot.what
                ));
            }
            slot.parts.insert(rank, part);
        }
        self.cv.notify_all();
        loop {
            let slot = s.slots.get(&key).expect("slot lives until read");
            if slot.parts.len() == group.ranks.len() {
                let parts: Vec<Part> = group
                    .ranks
                    .iter()
                    .map(|r| {
                        let p = &slot.parts[r];
                        Part {
                            tensor: p.tensor.copy(),
                            splits: p.splits.clone(),
                        }
                    })
                    .collect();
                let slot = s.slots.get_mut(&key).expect("slot lives until read");
                slot.readers_left -= 1;
                if slot.readers_left == 0 {
                    s.slots.remove(&key);
                }
                return Ok(parts);
            }
            if let Some((r, why)) = group
                .ranks
                .iter()
                .filter(|r| !slot.parts.contains_key(r))
                .find_map(|r| s.finished.get(r).map(|w| (*r, w.clone())))
            {
                return Err(format!(
                    "rank {r} {why} without reaching {what} #{} of group '{}' that rank {rank} waits in; \
                     fix: make every rank of the group run the same collectives",
                    seq + 1,
                    group.name
                ));
            }
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// One rank's side of the communication: its rank, the rendezvous, the groups it used.
pub struct RankComm {
    pub rank: usize,
    pub groups: Groups,
    rdv: Arc<Rendezvous>,
    seq: HashMap<String, u64>,
    /// Groups used, in first-use order.
    pub used: Vec<Group>,
}

thread_local! {
    static COMM: RefCell<Option<RankComm>> = const { RefCell::new(None) };
}

/// Installs a rank's communicator on this thread until the guard drops; dropping it tells the
/// other ranks this one has ended (so none waits forever for it).
pub struct Installed {
    rank: usize,
    rdv: Arc<Rendezvous>,
    outcome: Option<String>,
}

impl Installed {
    /// Marks the rank's work as failed (the other ranks' errors then say so).
    pub fn failed(&mut self) {
        self.outcome = Some("failed".into());
    }
    /// The groups this rank used, in first-use order.
    pub fn used_groups(&self) -> Vec<Group> {
        COMM.with(|c| {
            c.borrow()
                .as_ref()
                .map(|c| c.used.clone())
                .unwrap_or_default()
        })
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        COMM.with(|c| c.borrow_mut().take());
        let why = self.outcome.take().unwrap_or_else(|| "finished".into());
        self.rdv.finish(self.rank, why);
    }
}

pub fn install(rank: usize, groups: Groups, rdv: Arc<Rendezvous>) -> Installed {
    COMM.with(|c| {
        *c.borrow_mut() = Some(RankComm {
            rank,
            groups,
            rdv: rdv.clone(),
            seq: HashMap::new(),
            used: vec![],
        })
    });
    Installed {
        rank,
        rdv,
        outcome: None,
    }
}

/// Whether this thread has a communicator installed.
pub fn installed() -> bool {
    COMM.with(|c| c.borrow().is_some())
}

/// Runs `f` with this thread's communicator.
pub fn with_comm<R>(
    f: impl FnOnce(&mut RankComm) -> Result<R, String>,
    needs: &str,
) -> Result<R, String> {
    COMM.with(|c| match c.borrow_mut().as_mut() {
        Some(comm) => f(comm),
        None => Err(format!(
            "{needs} needs the other ranks; fix: export with --world-size N (or run the whole export folder: torch2air run <export-path>)"
        )),
    })
}

/// A reduction of HcomAllReduce/HcomReduceScatter (`sum`, `max`, `min`, `prod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    Sum,
    Max,
    Min,
    Prod,
}

impl Reduce {
    /// TorchAir's `normalize_reduceop_type`: case-insensitive SUM/MIN/MAX/PRODUCT (or `prod`).
    pub fn parse(s: &str) -> Result<Reduce, String> {
        match s.to_ascii_uppercase().as_str() {
            "SUM" => Ok(Reduce::Sum),
            "MAX" => Ok(Reduce::Max),
            "MIN" => Ok(Reduce::Min),
            "PRODUCT" | "PROD" => Ok(Reduce::Prod),
            _ => Err(format!(
                "reduction '{s}' has no GE equivalent (HcomAllReduce takes sum, max, min, prod); fix: use one of those (for avg, divide by the group size after a sum)"
            )),
        }
    }
    /// The GE `reduction` attr.
    pub fn ge(self) -> &'static str {
        match self {
            Reduce::Sum => "sum",
            Reduce::Max => "max",
            Reduce::Min => "min",
            Reduce::Prod => "prod",
        }
    }
}

/// The collective this rank takes part in, with what it needs from the others.
pub enum Op {
    AllReduce(Reduce),
    AllGather,
    ReduceScatter(Reduce),
    /// Group-local rank of the source.
    Broadcast(usize),
    /// Input and output split sizes along dim 0 (empty: equal splits).
    AllToAll {
        input_splits: Vec<i64>,
        output_splits: Vec<i64>,
    },
}

impl Op {
    fn name(&self) -> String {
        match self {
            Op::AllReduce(r) => format!("all_reduce({})", r.ge()),
            Op::AllGather => "all_gather".into(),
            Op::ReduceScatter(r) => format!("reduce_scatter({})", r.ge()),
            Op::Broadcast(s) => format!("broadcast(src={s})"),
            Op::AllToAll { .. } => "all_to_all".into(),
        }
    }
}

fn reduce(parts: &[Part], r: Reduce) -> Tensor {
    let mut acc = parts[0].tensor.copy();
    for p in &parts[1..] {
        acc = match r {
            Reduce::Sum => acc + &p.tensor,
            Reduce::Max => acc.maximum(&p.tensor),
            Reduce::Min => acc.minimum(&p.tensor),
            Reduce::Prod => acc * &p.tensor,
        };
    }
    acc
}

/// Runs collective `op` of `group` on this rank's tensor `x`, meeting the group's other ranks.
pub fn collective(group: &Group, op: Op, x: &Tensor) -> Result<Tensor, String> {
    with_comm(
        |comm| {
            let me = group.ranks.iter().position(|r| *r == comm.rank).ok_or_else(|| {
                format!(
                    "rank {} runs a collective on group '{}' (ranks {:?}) it is not a member of; fix: only call it on the group's ranks",
                    comm.rank, group.name, group.ranks
                )
            })?;
            if !comm.used.iter().any(|g| g.ge == group.ge) {
                comm.used.push(group.clone());
            }
            let seq = comm.seq.entry(group.ge.clone()).or_insert(0);
            let this = *seq;
            *seq += 1;
            let n = group.ranks.len() as i64;
            let what = op.name();
            let splits = match &op {
                Op::AllToAll { input_splits, .. } => input_splits.clone(),
                _ => vec![],
            };
            let parts = comm.rdv.exchange(
                comm.rank,
                group,
                this,
                &what,
                Part {
                    tensor: x.copy(),
                    splits,
                },
            )?;
            let first = &parts[0].tensor;
            for (p, r) in parts.iter().zip(&group.ranks) {
                if p.tensor.kind() != first.kind()
                    || (!matches!(op, Op::AllGather | Op::AllToAll { .. })
                        && p.tensor.size() != first.size())
                {
                    return Err(format!(
                        "{what} on group '{}': rank {r} brings {:?}{:?} but rank {} brings {:?}{:?}; fix: give every rank the same dtype and shape",
                        group.name,
                        p.tensor.kind(),
                        p.tensor.size(),
                        group.ranks[0],
                        first.kind(),
                        first.size()
                    ));
                }
            }
            match op {
                Op::AllReduce(r) => Ok(reduce(&parts, r)),
                Op::AllGather => {
                    let ts: Vec<&Tensor> = parts.iter().map(|p| &p.tensor).collect();
                    Ok(Tensor::cat(&ts, 0))
                }
                Op::ReduceScatter(r) => {
                    let full = reduce(&parts, r);
                    let d0 = full.size().first().copied().unwrap_or(0);
                    if d0 % n != 0 {
                        return Err(format!(
                            "{what}: dim 0 ({d0}) is not divisible by the group size {n}; fix: pad the input"
                        ));
                    }
                    Ok(full.narrow(0, me as i64 * (d0 / n), d0 / n).contiguous())
                }
                Op::Broadcast(src) => parts.get(src).map(|p| p.tensor.copy()).ok_or_else(|| {
                    format!("{what}: src {src} is not a rank of the group (size {n})")
                }),
                Op::AllToAll { output_splits, .. } => {
                    let mut chunks = vec![];
                    for (j, p) in parts.iter().enumerate() {
                        let sp = split_sizes(&p.tensor, &p.splits, n)
                            .map_err(|e| format!("{what}: rank {}: {e}", group.ranks[j]))?;
                        let start: i64 = sp[..me].iter().sum();
                        chunks.push(p.tensor.narrow(0, start, sp[me]));
                    }
                    let out = Tensor::cat(&chunks, 0);
                    if !output_splits.is_empty() {
                        let got: Vec<i64> = parts
                            .iter()
                            .map(|p| split_sizes(&p.tensor, &p.splits, n).map(|s| s[me]))
                            .collect::<Result<_, _>>()?;
                        if got != output_splits {
                            return Err(format!(
                                "{what}: output_split_sizes {output_splits:?} on rank {} but the ranks send {got:?}; fix: make the splits agree",
                                group.ranks[me]
                            ));
                        }
                    }
                    Ok(out)
                }
            }
        },
        "a collective",
    )
}

/// Split sizes along dim 0: the given ones (checked) or equal chunks.
pub fn split_sizes(x: &Tensor, splits: &[i64], n: i64) -> Result<Vec<i64>, String> {
    let d0 = x.size().first().copied().unwrap_or(0);
    if splits.is_empty() {
        if d0 % n != 0 {
            return Err(format!(
                "dim 0 ({d0}) is not divisible by the group size {n}"
            ));
        }
        return Ok(vec![d0 / n; n as usize]);
    }
    if splits.len() as i64 != n || splits.iter().sum::<i64>() != d0 || splits.iter().any(|s| *s < 0)
    {
        return Err(format!(
            "split sizes {splits:?} must be {n} non-negative sizes summing to dim 0 ({d0})"
        ));
    }
    Ok(splits.to_vec())
}

/// Runs `f(rank, communicator)` for every rank 0..world, each in its own thread with its
/// communicator installed, as a process group would. A rank that fails tells the others, so no
/// rank waits forever at a collective. Results in rank order.
pub fn on_every_rank<T: Send>(
    world: usize,
    groups: &Groups,
    f: impl Fn(usize, &Installed) -> crate::error::Result<T> + Sync,
) -> Vec<crate::error::Result<T>> {
    let rdv = Rendezvous::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..world)
            .map(|r| {
                let (rdv, groups, f) = (rdv.clone(), groups.clone(), &f);
                s.spawn(move || {
                    let mut comm = install(r, groups, rdv);
                    let res = f(r, &comm);
                    if res.is_err() {
                        comm.failed();
                    }
                    res
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(r, h)| {
                h.join().unwrap_or_else(|_| {
                    Err(crate::error::Error::Run(format!(
                        "internal: the thread of rank {r} panicked"
                    )))
                })
            })
            .collect()
    })
}
