//! The OpInfo harness's bookkeeping: how a `torch2air verify` run of one case is classified,
//! the per-case result records, and the coverage table written to docs/opinfo.md.
//!
//! The cases come from PyTorch's own operator database (models/make_opinfo.py); the driver that
//! runs them is examples/opinfo.rs (`./dev opinfo`). This module holds no process handling, so
//! the tests can check the classification and the table without running anything.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How one verify run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Pass,
    /// verify exit 1: the export ran but its outputs differ from TorchScript's.
    Wrong,
    /// exit 2 naming ops without a lowering rule.
    Unsupported,
    /// exit 2: a rule refused an attribute combination.
    Refused,
    /// exit 2 for another reason (the message is kept).
    Error,
    /// exit 3 or any other code: a torch2air bug.
    Internal,
    /// Killed by a signal.
    Crash,
    Timeout,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Pass,
        Outcome::Wrong,
        Outcome::Unsupported,
        Outcome::Refused,
        Outcome::Error,
        Outcome::Internal,
        Outcome::Crash,
        Outcome::Timeout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Wrong => "wrong result",
            Outcome::Unsupported => "unsupported op",
            Outcome::Refused => "refused attribute",
            Outcome::Error => "other error",
            Outcome::Internal => "internal error",
            Outcome::Crash => "crash",
            Outcome::Timeout => "timeout",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.name() == s)
    }
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    Timeout,
}

/// What one verify run printed and how it ended.
#[derive(Debug, Clone)]
pub struct Ran {
    pub exit: Exit,
    pub stdout: String,
    pub stderr: String,
    /// For a verify exit 1 whose graph is no further from float64 than TorchScript's own
    /// float32 outputs: the float64 referee's note (see `referee`).
    pub refereed: Option<String>,
}

/// Classifies one verify run from its exit and output; the reason is one line, free of paths
/// (`case_dir` is replaced by `<case>`), so that it can be recorded and compared.
pub fn classify(ran: &Ran, case_dir: &str) -> (Outcome, String) {
    let (exit, stderr) = (ran.exit, ran.stderr.as_str());
    let clean = |s: &str| {
        let s = if case_dir.is_empty() {
            s.to_string()
        } else {
            s.replace(case_dir, "<case>")
        };
        // Source paths name the checkout the cases were made in: keep the file name only.
        let dirs = regex::Regex::new(r"/[^\s:()]*/([\w.-]+\.py)").expect("a valid regex");
        let s = dirs.replace_all(&s, "$1");
        let s = s.trim().replace('|', "/");
        if s.chars().count() > 160 {
            format!("{}…", s.chars().take(160).collect::<String>())
        } else {
            s
        }
    };
    let first = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .map(|l| l.trim_start_matches("error: "))
        .unwrap_or_else(|| stderr.lines().last().unwrap_or(""));
    match exit {
        Exit::Timeout => (Outcome::Timeout, String::new()),
        Exit::Signal(s) => (Outcome::Crash, format!("signal {s}")),
        Exit::Code(0) => (Outcome::Pass, String::new()),
        Exit::Code(1) if ran.refereed.is_some() => (
            Outcome::Pass,
            clean(ran.refereed.as_deref().unwrap_or_default()),
        ),
        Exit::Code(1) => {
            // The outputs that differ, as verify lists them (`output 0: f32[5] max abs err ...`).
            let bad: Vec<String> = ran
                .stdout
                .lines()
                .filter(|l| l.contains("MISMATCH"))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            let line = if bad.is_empty() {
                first.to_string()
            } else {
                bad.join("; ")
            };
            (Outcome::Wrong, clean(&line))
        }
        Exit::Code(2) if stderr.contains("cannot lower to GE yet") => unsupported(stderr, clean),
        Exit::Code(2) => (Outcome::Error, clean(first)),
        Exit::Code(3) => (Outcome::Internal, clean(first)),
        Exit::Code(c) => (Outcome::Internal, clean(&format!("exit {c}: {first}"))),
    }
}

/// The ops of an unsupported-ops error: refused ones with their first reason, else the ops.
fn unsupported(stderr: &str, clean: impl Fn(&str) -> String) -> (Outcome, String) {
    // A refusal ends with its source site (`(make_opinfo.py:71: text)`): the generator's line,
    // not the op's, so it is left out.
    let site = regex::Regex::new(r"\s*\([\w.]+\.py:\d+:.*$").expect("a valid regex");
    let mut ops: Vec<(String, Vec<String>)> = Vec::new();
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("  ") {
            if !rest.starts_with(' ') {
                if let Some(op) = rest.split(" x").next() {
                    ops.push((op.trim().to_string(), Vec::new()));
                }
                continue;
            }
        }
        if let (Some(r), Some(last)) = (line.trim().strip_prefix("refused: "), ops.last_mut()) {
            last.1.push(site.replace(r, "").into_owned());
        }
    }
    let missing: Vec<&str> = ops
        .iter()
        .filter(|(_, r)| r.is_empty())
        .map(|(o, _)| o.as_str())
        .collect();
    if !missing.is_empty() {
        return (Outcome::Unsupported, clean(&missing.join(", ")));
    }
    let refused: Vec<String> = ops.iter().map(|(o, r)| format!("{o}: {}", r[0])).collect();
    (Outcome::Refused, clean(&refused.join("; ")))
}

/// One case's result in one mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    pub id: String,
    pub dynamic: bool,
    pub outcome: Outcome,
    pub reason: String,
}

impl CaseResult {
    /// One tab-separated line: id, static|dynamic, outcome, reason.
    pub fn line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}",
            self.id,
            if self.dynamic { "dynamic" } else { "static" },
            self.outcome.name(),
            self.reason.replace(['\t', '\n'], " ")
        )
    }

    pub fn parse(line: &str) -> Option<CaseResult> {
        let mut f = line.splitn(4, '\t');
        let id = f.next()?.to_string();
        let dynamic = match f.next()? {
            "static" => false,
            "dynamic" => true,
            _ => return None,
        };
        let outcome = Outcome::parse(f.next()?)?;
        let reason = f.next().unwrap_or("").to_string();
        Some(CaseResult {
            id,
            dynamic,
            outcome,
            reason,
        })
    }
}

/// One OpInfo entry as generated: its cases (ids), or why it was skipped.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub name: String,
    pub in_scope: bool,
    pub skipped: Option<String>,
    pub cases: Vec<String>,
    /// Cases the trace could not make, with the reason.
    pub not_made: Vec<(String, String)>,
}

/// Reads the generator's index.json.
pub fn read_index(text: &str) -> Result<(String, u64, Vec<Entry>), String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let torch = v["torch"].as_str().unwrap_or("?").to_string();
    let samples = v["samples"].as_u64().unwrap_or(0);
    let mut out = Vec::new();
    for e in v["entries"].as_array().ok_or("index.json has no entries")? {
        let mut entry = Entry {
            name: e["entry"].as_str().unwrap_or("?").to_string(),
            in_scope: e["in_scope"].as_bool().unwrap_or(true),
            skipped: e["skipped"].as_str().map(str::to_string),
            ..Entry::default()
        };
        for c in e["cases"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let id = c["id"].as_str().unwrap_or("?").to_string();
            match c["not_made"].as_str() {
                Some(why) => entry.not_made.push((id, why.to_string())),
                None => entry.cases.push(id),
            }
        }
        out.push(entry);
    }
    Ok((torch, samples, out))
}

#[derive(Default, Clone, Copy)]
struct Tally {
    cases: usize,
    ran: [usize; 2],
    pass: [usize; 2],
}

fn pct(a: usize, b: usize) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * a as f64 / b as f64)
    }
}

/// The coverage table (docs/opinfo.md) from the index and the results.
pub fn render(torch: &str, samples: u64, entries: &[Entry], results: &[CaseResult]) -> String {
    let by: BTreeMap<(&str, bool), &CaseResult> = results
        .iter()
        .map(|r| ((r.id.as_str(), r.dynamic), r))
        .collect();
    let mut scope = [Tally::default(); 2]; // [in scope, out of scope]
    let mut classes: BTreeMap<(Outcome, bool), usize> = BTreeMap::new();
    let mut missing_ops: BTreeMap<String, usize> = BTreeMap::new();
    let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
    let mut not_made = 0;
    let mut refereed = 0;
    let mut rows = String::new();
    for e in entries {
        if let Some(why) = &e.skipped {
            *skipped
                .entry(why.split(':').next().unwrap_or(why))
                .or_default() += 1;
            let _ = writeln!(
                rows,
                "| `{}` | - | - | - | skipped: {} |",
                e.name,
                why.replace('|', "/")
            );
            continue;
        }
        not_made += e.not_made.len();
        let t = &mut scope[usize::from(!e.in_scope)];
        t.cases += e.cases.len();
        let mut pass = [0usize; 2];
        let mut ran = [0usize; 2];
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for id in &e.cases {
            let mut blocked: Vec<String> = Vec::new();
            for (m, dynamic) in [(0, false), (1, true)] {
                let Some(r) = by.get(&(id.as_str(), dynamic)) else {
                    continue;
                };
                ran[m] += 1;
                if e.in_scope {
                    *classes.entry((r.outcome, dynamic)).or_default() += 1;
                }
                if r.outcome == Outcome::Pass {
                    pass[m] += 1;
                    if !r.reason.is_empty() {
                        refereed += 1;
                        let mode = if dynamic { "dynamic: " } else { "" };
                        *reasons
                            .entry(format!("{mode}pass by the {}", r.reason))
                            .or_default() += 1;
                    }
                    continue;
                }
                if r.outcome == Outcome::Unsupported && !dynamic && e.in_scope {
                    blocked.extend(r.reason.split(", ").map(str::to_string));
                }
                let mode = if dynamic { "dynamic: " } else { "" };
                let text = if r.reason.is_empty() {
                    format!("{mode}{}", r.outcome.name())
                } else {
                    format!("{mode}{}: {}", r.outcome.name(), r.reason)
                };
                *reasons.entry(text).or_default() += 1;
            }
            for op in blocked {
                *missing_ops.entry(op).or_default() += 1;
            }
        }
        for m in 0..2 {
            t.ran[m] += ran[m];
            t.pass[m] += pass[m];
        }
        let mut why: Vec<String> = reasons
            .into_iter()
            .map(|(r, n)| if n > 1 { format!("{r} (x{n})") } else { r })
            .collect();
        if !e.not_made.is_empty() {
            why.push(format!(
                "{} sample(s) not made: {}",
                e.not_made.len(),
                e.not_made[0].1.replace('|', "/")
            ));
        }
        let _ = writeln!(
            rows,
            "| `{}`{} | {} | {} | {} | {} |",
            e.name,
            if e.in_scope { "" } else { " (out of scope)" },
            e.cases.len(),
            cell(pass[0], ran[0]),
            cell(pass[1], ran[1]),
            why.join("<br>")
        );
    }
    let mut s = String::new();
    let _ = writeln!(s, "# OpInfo coverage\n");
    let _ = writeln!(
        s,
        "Generated by `./dev opinfo` (models/make_opinfo.py makes the cases, examples/opinfo.rs runs\n\
         `torch2air verify` on each, static and with `--dynamic`): PyTorch {torch}'s own operator\n\
         database (`op_db`), the first {samples} float32 CPU samples of each entry, each traced into a\n\
         small module (tensor leaves are inputs, other arguments are baked in). Do not edit by hand.\n"
    );
    let [ins, outs] = scope;
    let _ = writeln!(s, "| scope | cases | static pass | dynamic pass |");
    let _ = writeln!(s, "|---|---|---|---|");
    let line = |s: &mut String, name: &str, t: Tally| {
        let _ = writeln!(
            s,
            "| {name} | {} | {} of {} ({}) | {} of {} ({}) |",
            t.cases,
            t.pass[0],
            t.ran[0],
            pct(t.pass[0], t.ran[0]),
            t.pass[1],
            t.ran[1],
            pct(t.pass[1], t.ran[1])
        );
    };
    line(
        &mut s,
        "in scope (not linalg.*, special.*, fft.*, stft/istft)",
        ins,
    );
    line(&mut s, "out of scope", outs);
    let all = Tally {
        cases: ins.cases + outs.cases,
        ran: [ins.ran[0] + outs.ran[0], ins.ran[1] + outs.ran[1]],
        pass: [ins.pass[0] + outs.pass[0], ins.pass[1] + outs.pass[1]],
    };
    line(&mut s, "all", all);
    let _ = writeln!(s, "\nIn-scope outcomes (static / dynamic):\n");
    let _ = writeln!(s, "| outcome | static | dynamic |");
    let _ = writeln!(s, "|---|---|---|");
    for o in Outcome::ALL {
        let a = classes.get(&(o, false)).copied().unwrap_or(0);
        let b = classes.get(&(o, true)).copied().unwrap_or(0);
        let _ = writeln!(s, "| {} | {a} | {b} |", o.name());
    }
    let skipped_text: Vec<String> = skipped.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(
        s,
        "\nEntries not run: {} ({}). Samples the trace cannot make (a non-tensor output, no tensor\n\
         input, a complex tensor): {not_made}.\n",
        skipped.values().sum::<usize>(),
        if skipped_text.is_empty() {
            "none".into()
        } else {
            skipped_text.join(", ")
        }
    );
    if refereed > 0 {
        let _ = writeln!(
            s,
            "Passed by the float64 referee: {refereed} (the graph's outputs differ from TorchScript's float32\n\
             ones beyond verify's tolerance, but are no further from the module run with float64 inputs\n\
             than TorchScript's own; each is noted in its row).\n"
        );
    }
    let mut top: Vec<(&String, &usize)> = missing_ops.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if !top.is_empty() {
        let _ = writeln!(s, "Missing ops by in-scope cases they block (static):\n");
        let list: Vec<String> = top.iter().map(|(o, n)| format!("`{o}` {n}")).collect();
        let _ = writeln!(s, "{}\n", list.join(", "));
    }
    let _ = writeln!(
        s,
        "| entry | cases | static | dynamic | failures and notes |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|");
    s.push_str(&rows);
    s
}

fn cell(pass: usize, ran: usize) -> String {
    if ran == 0 {
        "-".into()
    } else {
        format!("{pass}/{ran}")
    }
}

/// The inputs of a case: in0.npy, in1.npy, ... in order.
pub fn case_inputs(dir: &Path) -> Vec<PathBuf> {
    (0..)
        .map(|k| dir.join(format!("in{k}.npy")))
        .take_while(|p| p.is_file())
        .collect()
}

/// Runs `verify` on one case with a timeout.
pub fn run_case(bin: &Path, dir: &Path, dynamic: bool, timeout: Duration) -> Ran {
    let work = tempfile::tempdir().expect("a temporary folder");
    let err_path = work.path().join("stderr.txt");
    let err_file = std::fs::File::create(&err_path).expect("a stderr file");
    let out_path = work.path().join("stdout.txt");
    let out_file = std::fs::File::create(&out_path).expect("a stdout file");
    let mut cmd = Command::new(bin);
    cmd.arg("verify").arg(dir.join("model.pt"));
    for i in case_inputs(dir) {
        cmd.arg("--input").arg(i);
    }
    cmd.arg("--export-path").arg(work.path().join("out"));
    if dynamic {
        cmd.arg("--dynamic");
    }
    let mut child = cmd
        .current_dir(work.path())
        .env("OMP_NUM_THREADS", "1")
        .stdin(Stdio::null())
        .stdout(out_file)
        .stderr(err_file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let start = Instant::now();
    let exit = loop {
        match child.try_wait().expect("waits for verify") {
            Some(status) => {
                use std::os::unix::process::ExitStatusExt;
                break match (status.code(), status.signal()) {
                    (Some(c), _) => Exit::Code(c),
                    (None, Some(s)) => Exit::Signal(s),
                    _ => Exit::Code(-1),
                };
            }
            None if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Exit::Timeout;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let refereed = match exit {
        Exit::Code(1) if mismatches_only_at_the_sample(&stdout) => referee(
            bin,
            dir,
            &work.path().join("out/export.air"),
            &work.path().join("graph"),
        ),
        _ => None,
    };
    Ran {
        exit,
        stdout,
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        refereed,
    }
}

/// Whether verify's MISMATCH lines all come before its grown-size checks (`--dynamic`).
fn mismatches_only_at_the_sample(stdout: &str) -> bool {
    let mut grown = false;
    let mut any = false;
    for l in stdout.lines() {
        grown |= l.starts_with("at larger sizes");
        if l.contains("MISMATCH") {
            if grown {
                return false;
            }
            any = true;
        }
    }
    any
}

/// The float64 referee's comparison: the largest error against `wide` (the float64 run) of the
/// graph's outputs and of TorchScript's float32 ones (`narrow`), over the elements both runs
/// give finite; None when the runs cannot be compared or the graph's NaNs or infinities differ
/// from TorchScript's.
pub fn referee_errors(
    graph: &[tch::Tensor],
    narrow: &[tch::Tensor],
    wide: &[tch::Tensor],
) -> Option<(f64, f64)> {
    use tch::{Kind, Tensor};
    if graph.len() != narrow.len() || narrow.len() != wide.len() {
        return None;
    }
    let (mut worst_graph, mut worst_ts) = (0f64, 0f64);
    for ((g, ts), r) in graph.iter().zip(narrow).zip(wide) {
        if g.size() != ts.size() || g.kind() != ts.kind() || r.size() != ts.size() {
            return None;
        }
        if ts.kind() == Kind::Float && r.kind() != Kind::Double {
            return None; // the module fixes its own dtype: no float64 result to compare with
        }
        let (g, ts, r) = (
            g.to_kind(Kind::Double),
            ts.to_kind(Kind::Double),
            r.to_kind(Kind::Double),
        );
        if !g.isnan().equal(&ts.isnan()) {
            return None;
        }
        let inf = ts.isinf();
        if !g.masked_select(&inf).equal(&ts.masked_select(&inf)) {
            return None;
        }
        let finite = r.isfinite().logical_and(&ts.isfinite());
        let err = |a: &Tensor| -> f64 {
            let d = (a - &r).abs().masked_select(&finite);
            if d.numel() == 0 {
                0.0
            } else {
                d.max().double_value(&[])
            }
        };
        worst_graph = worst_graph.max(err(&g));
        worst_ts = worst_ts.max(err(&ts));
    }
    Some((worst_graph, worst_ts))
}

/// The float64 referee, for a case whose graph differs from TorchScript's float32 outputs
/// beyond verify's tolerance (e.g. a sum taken in another order). It runs the exported graph
/// on the sample, and the TorchScript module on the sample in float32 and with its float
/// inputs in float64. The case passes when every output of the graph has the same NaNs and
/// infinities as TorchScript's and is no further from the float64 result than TorchScript's
/// own float32 output is: the graph is then at least as accurate as PyTorch. Returns the note
/// (both errors), or None when the referee cannot decide (no float64 run) or the graph is
/// further away.
pub fn referee(bin: &Path, dir: &Path, air: &Path, save: &Path) -> Option<String> {
    use tch::{IValue, Kind, Tensor};
    let inputs = case_inputs(dir);
    let mut cmd = Command::new(bin);
    cmd.arg("run")
        .arg(air)
        .arg("--quiet")
        .arg("--save-outputs")
        .arg(save);
    for i in &inputs {
        cmd.arg("--input").arg(i);
    }
    let ok = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    let flat = |v: IValue| -> Option<Vec<Tensor>> {
        match v {
            IValue::Tensor(t) => Some(vec![t]),
            IValue::Tuple(v) | IValue::GenericList(v) if !v.is_empty() => v
                .into_iter()
                .map(|x| match x {
                    IValue::Tensor(t) => Some(t),
                    _ => None,
                })
                .collect(),
            IValue::TensorList(v) => Some(v),
            _ => None,
        }
    };
    let module = tch::CModule::load(dir.join("model.pt")).ok()?;
    let feeds: Vec<Tensor> = inputs
        .iter()
        .map(|p| crate::spec::read_npy(p).ok())
        .collect::<Option<_>>()?;
    let run = |wide: bool| -> Option<Vec<Tensor>> {
        let args: Vec<IValue> = feeds
            .iter()
            .map(|t| {
                IValue::Tensor(if wide && t.kind() == Kind::Float {
                    t.to_kind(Kind::Double)
                } else {
                    t.copy()
                })
            })
            .collect();
        flat(module.forward_is(&args).ok()?)
    };
    let (narrow, wide) = (run(false)?, run(true)?);
    let graph: Vec<Tensor> = (0..narrow.len())
        .map(|k| crate::spec::read_npy(&save.join(format!("output_{k}.npy"))).ok())
        .collect::<Option<_>>()?;
    let (worst_graph, worst_ts) = referee_errors(&graph, &narrow, &wide)?;
    (worst_graph <= worst_ts).then(|| {
        format!(
            "float64 referee: max abs err against float64, graph {worst_graph:.3e}, TorchScript's float32 {worst_ts:.3e}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_float64_referee_passes_only_a_graph_at_least_as_close_as_torchscript() {
        use tch::Tensor;
        let wide = vec![Tensor::from_slice(&[1.0f64, 2.0, 3.0])];
        let narrow = vec![Tensor::from_slice(&[1.0f32, 2.0001, 3.0])];
        let closer = vec![Tensor::from_slice(&[1.0f32, 2.00005, 3.0])];
        let further = vec![Tensor::from_slice(&[1.0f32, 2.0, 3.0002])];
        let nan = vec![Tensor::from_slice(&[1.0f32, f32::NAN, 3.0])];
        let (g, t) = referee_errors(&closer, &narrow, &wide).unwrap();
        assert!(g <= t, "{g} {t}");
        let (g, t) = referee_errors(&further, &narrow, &wide).unwrap();
        assert!(g > t, "{g} {t}");
        assert!(referee_errors(&nan, &narrow, &wide).is_none());
        // A module that keeps float32 under float64 inputs gives no referee.
        assert!(referee_errors(&closer, &narrow, &narrow).is_none());
        assert!(mismatches_only_at_the_sample(
            "output 0: f32[5] MISMATCH\nat larger sizes, ...\n"
        ));
        assert!(!mismatches_only_at_the_sample(
            "output 0: f32[5] ok\nat larger sizes, grown by 2\noutput 0: f32[7] MISMATCH\n"
        ));
        let ran = Ran {
            exit: Exit::Code(1),
            stdout: "output 0: f32[5] MISMATCH\n".into(),
            stderr: "verify: FAIL\n".into(),
            refereed: Some("float64 referee: graph 1e-5, TorchScript 2e-5".into()),
        };
        assert_eq!(classify(&ran, "").0, Outcome::Pass);
    }

    #[test]
    fn classifies_each_ending() {
        let c = |exit, s: &str| {
            let ran = Ran {
                exit,
                stdout: String::new(),
                stderr: s.to_string(),
                refereed: None,
            };
            classify(&ran, "/tmp/c1")
        };
        assert_eq!(c(Exit::Code(0), "verify: PASS").0, Outcome::Pass);
        assert_eq!(c(Exit::Timeout, "").0, Outcome::Timeout);
        let wrong = Ran {
            exit: Exit::Code(1),
            stdout: "output 0: f32[5]  max abs err 1e-3  ok\noutput 1: f32[5]  max abs err 6.1e-5  MISMATCH\n".into(),
            stderr: "verify: FAIL: differ\n".into(),
            refereed: None,
        };
        assert_eq!(
            classify(&wrong, ""),
            (
                Outcome::Wrong,
                "output 1: f32[5] max abs err 6.1e-5 MISMATCH".into()
            )
        );
        assert_eq!(
            c(Exit::Signal(11), ""),
            (Outcome::Crash, "signal 11".into())
        );
        assert_eq!(
            c(
                Exit::Code(3),
                "error: internal error at src/x.rs:1: boom\nthis is a bug"
            ),
            (
                Outcome::Internal,
                "internal error at src/x.rs:1: boom".into()
            )
        );
        assert_eq!(
            c(
                Exit::Code(2),
                "error: make_opinfo.py:75: /w/x/models/make_opinfo.py(75): forward"
            ),
            (
                Outcome::Error,
                "make_opinfo.py:75: make_opinfo.py(75): forward".into()
            )
        );
        assert_eq!(
            c(Exit::Code(2), "error: cannot read /tmp/c1/in0.npy: bad"),
            (Outcome::Error, "cannot read <case>/in0.npy: bad".into())
        );
        let unsup = "error: the model uses 2 op kind(s) that torch2air cannot lower to GE yet (2 node(s)); nothing was written:\n  aten::foo x1   inputs: f32[2]\n      at a.py:1: x\n  aten::bar x1   inputs: f32[2]\n      refused: dim=3 is not supported\nfix: rewrite";
        assert_eq!(
            c(Exit::Code(2), unsup),
            (Outcome::Unsupported, "aten::foo".into())
        );
        let refused = "error: the model uses 1 op kind(s) that torch2air cannot lower to GE yet (1 node(s)); nothing was written:\n  aten::bar x1   inputs: f32[2]\n      refused: dim=3 is not supported\nfix: rewrite";
        assert_eq!(
            c(Exit::Code(2), refused),
            (Outcome::Refused, "aten::bar: dim=3 is not supported".into())
        );
        let sited = "error: the model uses 1 op kind(s) that torch2air cannot lower to GE yet (1 node(s)); nothing was written:\n  aten::bar x1   inputs: f32[2]\n      refused: dim=3 is not supported (make_opinfo.py:71: /work/x/models/make_opinfo.py:70:0)\nfix: rewrite";
        assert_eq!(
            c(Exit::Code(2), sited),
            (Outcome::Refused, "aten::bar: dim=3 is not supported".into())
        );
    }

    #[test]
    fn result_lines_round_trip_and_render_counts() {
        let r = CaseResult {
            id: "add-0".into(),
            dynamic: true,
            outcome: Outcome::Unsupported,
            reason: "aten::foo".into(),
        };
        assert_eq!(CaseResult::parse(&r.line()), Some(r.clone()));
        let entries = vec![Entry {
            name: "add".into(),
            in_scope: true,
            cases: vec!["add-0".into()],
            ..Entry::default()
        }];
        let pass = CaseResult {
            dynamic: false,
            outcome: Outcome::Pass,
            reason: String::new(),
            ..r.clone()
        };
        let md = render("2.13.0", 4, &entries, &[pass, r]);
        assert!(
            md.contains("| `add` | 1 | 1/1 | 0/1 | dynamic: unsupported op: aten::foo |"),
            "{md}"
        );
        assert!(md.contains("| in scope (not linalg.*, special.*, fft.*, stft/istft) | 1 | 1 of 1 (100.0%) | 0 of 1 (0.0%) |"), "{md}");
    }
}
