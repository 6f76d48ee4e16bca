//! The fuzz targets: each takes arbitrary bytes, feeds them to one part of torch2air that reads
//! untrusted input, and returns `Ok` or the clean error it gave. A panic, or an error that calls
//! itself internal, is a failure. Shared by the fuzz driver (`examples/fuzz.rs`) and the corpus
//! replay test (`tests/hostile.rs`), through `#[path]`.
use std::path::Path;
use torch2air::internal::dtype::DType;
use torch2air::internal::ge::{schema, GraphBuilder, In};
use torch2air::proto::{GraphDef, ModelDef};

pub const TARGETS: [&str; 4] = ["spec", "npy", "air", "runner"];

/// Runs `target` on `data`: Ok(()) or the error text (both fine for the caller to accept).
pub fn run(target: &str, data: &[u8]) -> Result<(), String> {
    match target {
        "spec" => spec(data),
        "npy" => npy(data),
        "air" => air(data),
        "runner" => runner(data),
        other => panic!("no fuzz target '{other}'"),
    }
}

/// True when an error text is a torch2air bug report rather than a clean refusal.
pub fn is_internal(e: &str) -> bool {
    e.contains("internal")
}

/// A SPEC string: parsed, and made when it asks for a small tensor.
fn spec(data: &[u8]) -> Result<(), String> {
    let s = String::from_utf8_lossy(data);
    let p = torch2air::internal::spec::parse(&s).map_err(|e| e.to_string())?;
    let small = match &p {
        torch2air::internal::spec::Spec::Random { shape, .. } => {
            shape.iter().product::<i64>() <= 4096
        }
        torch2air::internal::spec::Spec::Npy(_) => false,
        _ => true,
    };
    if small {
        let mut rng = torch2air::internal::spec::rng(0);
        torch2air::internal::spec::make(&p, &mut rng).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The bytes of a `.npy` file.
fn npy(data: &[u8]) -> Result<(), String> {
    torch2air::internal::spec::npy_from_bytes(data, Path::new("fuzz.npy"))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The bytes of an `.air`: decoded, checked as the runner checks it, its inputs read, the schema
/// check run; a small valid graph is also run on zeros of its input shapes.
fn air(data: &[u8]) -> Result<(), String> {
    use prost::Message;
    let m = ModelDef::decode(data).map_err(|e| format!("not a ModelDef: {e}"))?;
    torch2air::internal::run::validate(&m).map_err(|e| e.to_string())?;
    let _ = schema::check_graph(&m.graph[0]);
    let mut inputs = vec![];
    for (_, _, dt, shape) in torch2air::internal::run::graph_inputs(&m) {
        let dt = dt.ok_or("a Data node of unknown dtype")?;
        let shape: Vec<i64> = shape.iter().map(|d| if *d < 0 { 1 } else { *d }).collect();
        if shape
            .iter()
            .try_fold(1i64, |n, d| n.checked_mul(*d))
            .is_none_or(|n| n > 4096)
        {
            return Err("input too large to run here".into());
        }
        inputs.push(tch::Tensor::zeros(
            shape.as_slice(),
            (dt.kind(), tch::Device::Cpu),
        ));
    }
    if m.graph[0].op.len() > 32 {
        return Err("graph too large to run here".into());
    }
    torch2air::internal::run::run_model(&m, Path::new("."), &inputs)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Reads the fuzz bytes as small numbers; zeros once they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (usize::from(self.u8()) << 8 | usize::from(self.u8())) % n
    }
    fn small(&mut self) -> i64 {
        i64::from(self.u8() as i8 % 6)
    }
}

const DTYPES: [DType; 6] = [
    DType::F32,
    DType::I64,
    DType::I32,
    DType::Bool,
    DType::F16,
    DType::U8,
];

/// A small graph the bytes describe: 1-2 Data inputs of small shapes, a few small int and float
/// Consts, then 1-4 ops of the runner's kernels with inputs wired to earlier values and attrs at
/// their defaults or small values, run on random inputs.
fn runner(data: &[u8]) -> Result<(), String> {
    let mut r = Bytes(data);
    let mut b = GraphBuilder::new();
    let mut ports = vec![];
    let mut inputs = vec![];
    for i in 0..1 + r.below(2) {
        let dt = DTYPES[r.below(DTYPES.len())];
        let shape: Vec<i64> = (0..r.below(4)).map(|_| r.below(4) as i64).collect();
        let t = tch::Tensor::randint(5, shape.as_slice(), (tch::Kind::Int64, tch::Device::Cpu))
            .to_kind(dt.kind());
        ports.push(b.data(&format!("x{i}"), i as i64, dt, &shape));
        inputs.push(t);
    }
    for _ in 0..r.below(3) {
        let vals: Vec<i64> = (0..r.below(4)).map(|_| r.small()).collect();
        let t = tch::Tensor::from_slice(&vals);
        let t = match r.below(3) {
            0 => t,
            1 => t.to_kind(tch::Kind::Int),
            _ => t.to_kind(tch::Kind::Float),
        };
        ports.push(b.constant(&t, "fuzz")?);
    }
    let kernels: Vec<&str> = torch2air::internal::run::kernel_names()
        .into_iter()
        .filter(|k| !k.starts_with("Hcom") && schema::op(k).is_some())
        .collect();
    let mut last = vec![];
    for _ in 0..1 + r.below(4) {
        let ty = kernels[r.below(kernels.len())];
        let proto = schema::op(ty).ok_or("no prototype")?;
        let mut ins = vec![];
        for io in &proto.inputs {
            let pick = |r: &mut Bytes| ports[r.below(ports.len())];
            ins.push(match io.kind.as_str() {
                "optional" if r.below(2) == 0 => In::Unfed,
                "dynamic" => In::Dyn((0..1 + r.below(3)).map(|_| pick(&mut r)).collect()),
                _ => In::P(pick(&mut r)),
            });
        }
        let mut attrs = vec![];
        for a in &proto.attrs {
            if !a.required && r.below(4) != 0 {
                continue; // the default
            }
            use torch2air::internal::ge::attr;
            let v = match a.ty.as_str() {
                "Int" => attr::int(r.small()),
                "Float" => attr::float(r.small() as f32 / 2.0),
                "Bool" => attr::boolean(r.below(2) == 1),
                "ListInt" => attr::list_int((0..r.below(5)).map(|_| r.small()).collect()),
                "ListFloat" => {
                    attr::list_float((0..r.below(3)).map(|_| r.small() as f32).collect())
                }
                "Type" => attr::dtype_cpp(DTYPES[r.below(DTYPES.len())].ge_cpp()),
                "String" => attr::string(
                    [
                        "", "sum", "mean", "none", "NCHW", "constant", "reflect", "bilinear",
                    ][r.below(8)],
                ),
                _ => continue,
            };
            attrs.push((a.name.as_str(), v));
        }
        let n_out = proto
            .outputs
            .iter()
            .map(|o| {
                if o.kind == "dynamic" {
                    1 + r.below(3)
                } else {
                    1
                }
            })
            .sum::<usize>();
        last = b.op(ty, ins, attrs, &vec![None; n_out])?;
        ports.extend(&last);
    }
    b.net_output(&last.iter().map(|p| (*p, vec![])).collect::<Vec<_>>());
    let mut ops = b.ops;
    if let Some(out) = ops.last_mut() {
        for d in &mut out.input_desc {
            d.shape = None;
        }
    }
    let m = ModelDef {
        graph: vec![GraphDef {
            name: "fuzz".into(),
            op: ops,
            ..Default::default()
        }],
        ..Default::default()
    };
    torch2air::internal::run::run_model(&m, Path::new("."), &inputs)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
