//! The ATC step: the `atc` command that compiles an export into an offline model (`.om`), as
//! CANN's ATC documents it: `--framework=1` for AIR, `--input_shape` with the graph's `Data`
//! names (`-1` for a dynamic dim: any size; ATC's `--dynamic_dims` gears do not apply to AIR),
//! `--soc_version` left for the user, and for a multi-card export the distributed build over
//! the rank `.air` files with the json configs.
use crate::proto::OpDef;
use std::path::{Component, Path};

/// Placeholder the user replaces with their chip (`npu-smi info` shows it, e.g. Ascend910B1).
pub const SOC_PLACEHOLDER: &str = "<SOC_VERSION>";

/// `name:d0,d1;...` of the graph's `Data` nodes in index order (`-1`: dynamic, `name:` a 0-d
/// input), as `--input_shape` takes it.
pub fn input_shape(ops: &[OpDef]) -> String {
    let mut data: Vec<(i64, &OpDef)> = ops
        .iter()
        .filter(|o| o.r#type == "Data")
        .map(|o| {
            (
                o.attr
                    .get("index")
                    .and_then(crate::ge::attr::as_int)
                    .unwrap_or(0),
                o,
            )
        })
        .collect();
    data.sort_by_key(|(i, _)| *i);
    data.iter()
        .map(|(_, o)| {
            let dims = o
                .output_desc
                .first()
                .and_then(|d| d.shape.as_ref())
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            format!("{}:{dims}", o.name)
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// Shell-quotes `s` (single quotes) unless it is plain.
fn q(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=,~".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command for a single-card export: `export_path` as the user gave it (FileConstant
/// `file_path`s are relative to the folder export ran in, so ATC runs there too).
pub fn single_card(export_path: &str, export_name: &str, input_shape: &str, soc: &str) -> String {
    let air = Path::new(export_path).join(format!("{export_name}.air"));
    let out = Path::new(export_path).join(export_name);
    let mut c = format!(
        "atc --model={} --framework=1 --output={} --soc_version={}",
        q(&air.display().to_string()),
        q(&out.display().to_string()),
        q(soc)
    );
    if !input_shape.is_empty() {
        c.push_str(&format!(" --input_shape={}", q(input_shape)));
    }
    c
}

/// The command for a multi-card export (ATC's distributed build of shard models): the rank
/// `.air` files in `export_path`, the cluster and model-relation json configs beside them.
pub fn multi_card(export_path: &str, export_name: &str, soc: &str) -> String {
    let p = |f: &str| q(&Path::new(export_path).join(f).display().to_string());
    format!(
        "atc --distributed_cluster_build=1 --framework=1 --shard_model_dir={} \
         --cluster_config={} --model_relation_config={} --output={} --soc_version={}",
        q(export_path),
        p(crate::dist::atc::NUMA_CONFIG),
        p(crate::dist::atc::MODEL_RELATION_CONFIG),
        p(export_name),
        q(soc)
    )
}

/// `atc.sh`: the command, run from the folder the export ran in (found from the script's own
/// place when the export path was relative), `SOC_VERSION` from the environment.
pub fn script(export_path: &str, command: &str) -> String {
    let up = relative_depth(export_path);
    let cd = match up {
        Some(n) => {
            let ups = vec![".."; n].join("/");
            format!("cd \"$(dirname \"$0\")/{ups}\"\n")
        }
        None => String::new(),
    };
    let command = command.replace(
        &format!("--soc_version={}", q(SOC_PLACEHOLDER)),
        "--soc_version=\"$SOC_VERSION\"",
    );
    format!(
        "#!/bin/sh\n\
         # Compiles this torch2air export with CANN's ATC into an offline model (.om).\n\
         # Usage: SOC_VERSION=<your chip, e.g. as npu-smi info shows it> sh {export_path}/atc.sh\n\
         set -e\n\
         : \"${{SOC_VERSION:?set SOC_VERSION to the target chip, e.g. SOC_VERSION=Ascend910B1}}\"\n\
         # FileConstant file paths are relative to the folder the export ran in.\n\
         {cd}\
         {command} \"$@\"\n"
    )
}

/// How many folders up from the export folder the export ran (None: an absolute path, or one
/// with `..`, where the script cannot tell and runs from wherever it is started).
fn relative_depth(export_path: &str) -> Option<usize> {
    let p = Path::new(export_path);
    if p.is_absolute() {
        return None;
    }
    let mut n = 0;
    for c in p.components() {
        match c {
            Component::Normal(_) => n += 1,
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_quote_and_place_the_files() {
        assert_eq!(
            single_card("export_file", "export", "x:2,-1;y:", SOC_PLACEHOLDER),
            "atc --model=export_file/export.air --framework=1 --output=export_file/export \
             --soc_version='<SOC_VERSION>' --input_shape='x:2,-1;y:'"
        );
        assert_eq!(relative_depth("a/./b"), Some(2));
        assert_eq!(relative_depth("/abs"), None);
        assert_eq!(relative_depth("../x"), None);
        let s = script("a/b", &single_card("a/b", "m", "x:1", SOC_PLACEHOLDER));
        assert!(s.contains("cd \"$(dirname \"$0\")/../..\""), "{s}");
        assert!(s.contains("--soc_version=\"$SOC_VERSION\""), "{s}");
    }
}
