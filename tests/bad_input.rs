//! Every kind of bad input gets a short error naming the problem and the fix, a non-zero exit,
//! no panic, and no partial files.
mod common;
use common::*;
use std::path::Path;

fn export(cwd: &Path, model: &str, inputs: &[&str], extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["export", model];
    for i in inputs {
        args.push("--input");
        args.push(i);
    }
    args.extend_from_slice(extra);
    cli(cwd, &args)
}

fn seed() -> String {
    model("seed_single.pt").to_str().unwrap().to_string()
}

#[test]
fn missing_model_file() {
    let d = tmp();
    let (c, _, e) = export(d.path(), "nope.pt", &["f32[2,4]"], &[]);
    assert_clean_error(c, &e, "cannot read model file 'nope.pt'");
    assert!(e.contains("fix:"));
    assert!(files_in(d.path()).is_empty());
}

#[test]
fn model_path_is_a_directory() {
    let d = tmp();
    std::fs::create_dir(d.path().join("m.pt")).unwrap();
    let (c, _, e) = export(d.path(), "m.pt", &["f32[2,4]"], &[]);
    assert_clean_error(c, &e, "is a directory");
}

#[test]
fn not_torchscript() {
    let d = tmp();
    std::fs::write(d.path().join("notes.pt"), "this is not a model").unwrap();
    std::fs::write(d.path().join("empty.pt"), "").unwrap();
    for f in ["notes.pt", "empty.pt"] {
        let (c, _, e) = export(d.path(), f, &["f32[2,4]"], &[]);
        assert_clean_error(
            c,
            &e,
            "is not a loadable TorchScript model: it is not a TorchScript archive",
        );
        assert!(e.contains("torch.jit.save"), "{e}");
    }
    assert_eq!(files_in(d.path()), vec!["empty.pt", "notes.pt"]);
}

#[test]
fn wrong_number_of_inputs() {
    let d = tmp();
    let (c, _, e) = export(d.path(), &seed(), &["f32[2,4]"], &[]);
    assert_clean_error(
        c,
        &e,
        "forward(x: Tensor, y: Tensor) takes 2 input(s) but 1 were given",
    );
    assert!(files_in(d.path()).is_empty());
}

#[test]
fn no_inputs_for_a_scripted_module_lists_forward_arguments() {
    let d = tmp();
    let (c, _, e) = export(d.path(), &seed(), &[], &[]);
    assert_clean_error(c, &e, "forward expects (x: Tensor, y: Tensor)");
}

#[test]
fn wrong_kind_of_input() {
    let d = tmp();
    let (c, _, e) = export(d.path(), &seed(), &["f32[2,4]", "bool:true"], &[]);
    assert_clean_error(c, &e, "input 2 ('y') must be Tensor but a bool was given");
    let b = model("branchy.pt");
    let (c, _, e) = export(d.path(), b.to_str().unwrap(), &["f32[2,4]", "f32[2]"], &[]);
    assert_clean_error(
        c,
        &e,
        "input 2 ('flag') must be bool but a Tensor was given",
    );
    assert!(files_in(d.path()).is_empty());
}

#[test]
fn wrong_dtype_or_rank_for_a_traced_module() {
    let d = tmp();
    let m = model("doc_linear.pt");
    let (c, _, e) = export(
        d.path(),
        m.to_str().unwrap(),
        &["i64[2,2]", "f32[2,2]"],
        &[],
    );
    assert_clean_error(
        c,
        &e,
        "input 1 ('x') was traced as f32 with rank 2 but i64[2, 2] was given",
    );
    let (c, _, e) = export(d.path(), m.to_str().unwrap(), &["f32[2,2]", "f32[2]"], &[]);
    assert_clean_error(
        c,
        &e,
        "input 2 ('y') was traced as f32 with rank 2 but f32[2] was given",
    );
}

#[test]
fn wrong_dtype_or_shape_for_a_scripted_module() {
    let d = tmp();
    let m = model("mlp.pt");
    // i64 into a float Linear, and a wrong feature size: libtorch's error, located and explained.
    for spec in ["i64[2,16]", "f32[2,15]"] {
        let (c, _, e) = export(d.path(), m.to_str().unwrap(), &[spec], &[]);
        assert_clean_error(c, &e, "forward failed on the sample inputs at linear.py:");
        assert!(
            e.contains("(called from make_fixtures.py:56: self.fc1)"),
            "{e}"
        );
        assert!(e.contains("aten::linear"), "{e}");
        assert!(
            e.contains("fix: check that --input gives the dtypes and shapes forward expects"),
            "{e}"
        );
        assert!(e.lines().count() <= 4, "short: {e}");
    }
    assert!(files_in(d.path()).is_empty());
}

#[test]
fn unsupported_ops_are_all_listed_with_counts_and_lines() {
    let d = tmp();
    let m = model("unsupported.pt");
    let (c, _, e) = export(d.path(), m.to_str().unwrap(), &["f32[2,3,3]"], &[]);
    assert_clean_error(
        c,
        &e,
        "2 op kind(s) that torch2air cannot lower to GE yet (3 node(s)); nothing was written",
    );
    assert!(
        e.contains("aten::linalg_matrix_exp x2   inputs: f32[2, 3, 3]"),
        "{e}"
    );
    assert!(
        e.contains("at make_fixtures.py:176: torch.linalg.matrix_exp"),
        "{e}"
    );
    assert!(
        e.contains("at make_fixtures.py:177: torch.linalg.matrix_exp"),
        "{e}"
    );
    assert!(
        e.contains("aten::bincount x1   inputs: i64[3], None, 0"),
        "{e}"
    );
    assert!(e.contains("at make_fixtures.py:178: torch.bincount"), "{e}");
    assert!(files_in(d.path()).is_empty(), "no export folder");
}

#[test]
fn export_path_symlink_is_refused() {
    let d = tmp();
    let real = d.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, d.path().join("link")).unwrap();
    let (c, _, e) = export(
        d.path(),
        &seed(),
        &["f32[2,4]", "f32[2,4]"],
        &["--export-path", "link"],
    );
    assert_clean_error(c, &e, "export path 'link' is a symbolic link");
    assert!(
        files_in(&real).is_empty(),
        "nothing written through the link"
    );
}

#[test]
fn air_symlink_is_refused() {
    let d = tmp();
    std::fs::create_dir(d.path().join("export_file")).unwrap();
    std::fs::write(d.path().join("precious"), "keep").unwrap();
    std::os::unix::fs::symlink(
        d.path().join("precious"),
        d.path().join("export_file/export.air"),
    )
    .unwrap();
    let (c, _, e) = export(d.path(), &seed(), &["f32[2,4]", "f32[2,4]"], &[]);
    assert_clean_error(c, &e, "export.air' is a symbolic link");
    assert_eq!(
        std::fs::read_to_string(d.path().join("precious")).unwrap(),
        "keep"
    );
    assert_eq!(files_in(&d.path().join("export_file")), vec!["export.air"]);
}

#[test]
fn export_path_that_is_a_file_is_refused() {
    let d = tmp();
    std::fs::write(d.path().join("out"), "a file").unwrap();
    let (c, _, e) = export(
        d.path(),
        &seed(),
        &["f32[2,4]", "f32[2,4]"],
        &["--export-path", "out"],
    );
    assert_clean_error(c, &e, "export path 'out' exists and is not a folder");
    assert_eq!(
        std::fs::read_to_string(d.path().join("out")).unwrap(),
        "a file"
    );
}

#[test]
fn export_name_without_a_file_name_is_refused() {
    let d = tmp();
    let (c, _, e) = export(
        d.path(),
        &seed(),
        &["f32[2,4]", "f32[2,4]"],
        &["--export-name", "sub/.."],
    );
    assert_clean_error(c, &e, "export name 'sub/..' has no file name in it");
}

#[test]
fn unwritable_export_folder() {
    let d = tmp();
    // /proc refuses new folders even to root; a file as parent refuses them to everyone.
    let (c, _, e) = export(
        d.path(),
        &seed(),
        &["f32[2,4]", "f32[2,4]"],
        &["--export-path", "/proc/torch2air_test/out"],
    );
    assert_clean_error(c, &e, "cannot create export folder '/proc/torch2air_test'");
    std::fs::write(d.path().join("file"), "x").unwrap();
    let (c, _, e) = export(
        d.path(),
        &seed(),
        &["f32[2,4]", "f32[2,4]"],
        &["--export-path", "file/sub"],
    );
    assert_clean_error(c, &e, "cannot create export folder 'file/sub'");
    assert_eq!(files_in(d.path()), vec!["file"]);
}

#[test]
fn malformed_specs() {
    let d = tmp();
    for bad in [
        "f33[2,4]",
        "f32[2,4",
        "f32[2,-4]",
        "i64[2]:9..1",
        "bool:yes",
        "f32(2,4)",
        "f32[99999999999,4]",
    ] {
        let (c, _, e) = export(d.path(), &seed(), &[bad, "f32[2,4]"], &[]);
        assert_clean_error(c, &e, &format!("malformed input SPEC '{bad}'"));
        assert!(e.contains("DTYPE[D0,D1,...]"), "the grammar is shown: {e}");
    }
    let (c, _, e) = export(d.path(), &seed(), &["missing.npy", "f32[2,4]"], &[]);
    assert_clean_error(c, &e, "cannot read input 'missing.npy'");
    assert!(files_in(d.path()).is_empty());
}

#[test]
fn bad_threshold_environment() {
    let d = tmp();
    let s = seed();
    let (c, _, e) = cli_env(
        d.path(),
        &["export", &s, "--input", "f32[2,4]", "--input", "f32[2,4]"],
        &[("TORCH2AIR_WEIGHT_THRESHOLD", "lots")],
    );
    assert_clean_error(
        c,
        &e,
        "TORCH2AIR_WEIGHT_THRESHOLD='lots' is not a byte count",
    );
}

#[test]
fn runner_rejects_bad_inputs_and_files() {
    let d = tmp();
    let (c, _, e) = export(d.path(), &seed(), &["f32[2,4]", "f32[2,4]"], &[]);
    assert_eq!(c, 0, "{e}");
    let air = "export_file/export.air";
    let (c, _, e) = cli(d.path(), &["run", air, "--input", "f32[2,4]"]);
    assert_clean_error(
        c,
        &e,
        "the graph takes 2 tensor input(s) (x: f32[2, 4], y: f32[2, 4]), 1 given",
    );
    let (c, _, e) = cli(
        d.path(),
        &["run", air, "--input", "f16[2,4]", "--input", "f32[2,4]"],
    );
    assert_clean_error(
        c,
        &e,
        "graph input 'x' is f32[2, 4] but f16[2, 4] was given",
    );
    let (c, _, e) = cli(
        d.path(),
        &["run", air, "--input", "f32[2,5]", "--input", "f32[2,4]"],
    );
    assert_clean_error(
        c,
        &e,
        "graph input 'x' is f32[2, 4] but f32[2, 5] was given",
    );
    let (c, _, e) = cli(
        d.path(),
        &["run", air, "--input", "bool:true", "--input", "f32[2,4]"],
    );
    assert_clean_error(c, &e, "an exported graph takes only tensors");
    let (c, _, e) = cli(
        d.path(),
        &["run", "export_file/dynamo.pbtxt", "--input", "f32[2,4]"],
    );
    assert_clean_error(c, &e, "is not a GE ModelDef (.air) file");
    let (c, _, e) = cli(d.path(), &["run", "nothing.air"]);
    assert_clean_error(c, &e, "cannot read 'nothing.air'");
    // The folder of a single-card export: the error points at its .air.
    let (c, _, e) = cli(
        d.path(),
        &[
            "run",
            "export_file",
            "--input",
            "f32[2,4]",
            "--input",
            "f32[2,4]",
        ],
    );
    assert_clean_error(
        c,
        &e,
        "run the single-card export 'export_file/export.air' itself",
    );
    // --save-outputs: never through a symlink, never into a file.
    std::os::unix::fs::symlink(d.path().join("elsewhere"), d.path().join("outs")).unwrap();
    let run_saving = |dir: &str| {
        cli(
            d.path(),
            &[
                "run",
                air,
                "--input",
                "f32[2,4]",
                "--input",
                "f32[2,4]",
                "--save-outputs",
                dir,
            ],
        )
    };
    let (c, _, e) = run_saving("outs");
    assert_clean_error(c, &e, "--save-outputs folder 'outs' is a symbolic link");
    assert!(!d.path().join("elsewhere").exists());
    std::fs::write(d.path().join("afile"), b"x").unwrap();
    let (c, _, e) = run_saving("afile");
    assert_clean_error(
        c,
        &e,
        "--save-outputs folder 'afile' exists and is not a folder",
    );
    let (c, out, e) = run_saving("saved");
    assert_eq!(c, 0, "{e}");
    assert!(out.contains("saved saved/output_0.npy"), "{out}");
    assert_eq!(files_in(&d.path().join("saved")), vec!["output_0.npy"]);
}

#[test]
fn runner_reports_missing_weight_files() {
    let d = tmp();
    let (c, _, e) = export(
        d.path(),
        &seed(),
        &["f32[2,4]", "f32[2,4]"],
        &["--weight-threshold", "0"],
    );
    assert_eq!(c, 0, "{e}");
    std::fs::remove_file(d.path().join("export_file/p2")).unwrap();
    let (c, _, e) = cli(
        d.path(),
        &[
            "run",
            "export_file/export.air",
            "--input",
            "f32[2,4]",
            "--input",
            "f32[2,4]",
        ],
    );
    assert_clean_error(c, &e, "weight file 'export_file/p2' not found");
}

#[test]
fn write_through_a_view_that_no_longer_follows_is_refused() {
    // `row = y[0]; y.t_(); y[0] += 1`: with dynamic dims the write goes back through view chains,
    // and after the in-place transpose `row` is not y's view by any op torch2air follows, so
    // reading it is refused (naming the read and the write) rather than exported wrong.
    let d = tmp();
    let m = model("inplace_views/shape_changed_then_written.pt");
    let (c, _, e) = export(d.path(), m.to_str().unwrap(), &["f32[3,4]"], &["--dynamic"]);
    assert_clean_error(
        c,
        &e,
        "make_inplace_views.py:122: row * 2.0 reads a tensor that an in-place op wrote through a view \
         of it at make_inplace_views.py:121: y[0] += 1.0, and torch2air cannot put that write back",
    );
    assert!(e.contains("fix: write it out of place"), "{e}");
    assert!(files_in(d.path()).is_empty());
}

#[test]
fn returning_a_view_that_misses_a_write_is_refused() {
    // The same with `return row`: forward's outputs are checked like any read (they were
    // exported without the write before).
    let d = tmp();
    let m = model("inplace_views/returns_broken_view.pt");
    let (c, _, e) = export(d.path(), m.to_str().unwrap(), &["f32[3,4]"], &["--dynamic"]);
    assert_clean_error(
        c,
        &e,
        "forward's return reads a tensor that an in-place op wrote through a view of it at \
         make_inplace_views.py:131: y[0] += 1.0",
    );
    assert!(files_in(d.path()).is_empty());
}

#[test]
fn write_into_a_module_buffer_is_refused() {
    let d = tmp();
    let m = model("buffer_write.pt");
    let (c, _, e) = export(d.path(), m.to_str().unwrap(), &["f32[2,3]"], &[]);
    assert_clean_error(
        c,
        &e,
        "make_fixtures.py:275: self.count.add_: aten::add_.Scalar writes in place into the module's tensor 'count'",
    );
    assert!(e.contains("fix: compute the new value out of place"), "{e}");
    assert!(files_in(d.path()).is_empty());
}

#[test]
fn container_arguments_are_refused_with_the_fix() {
    let d = tmp();
    let m = model("list_arg.pt");
    let (c, _, e) = export(d.path(), m.to_str().unwrap(), &["f32[2,3]"], &[]);
    assert_clean_error(
        c,
        &e,
        "input 1 ('xs') is List[Tensor], which --input cannot give",
    );
    assert!(e.contains("fix: wrap the model"), "{e}");
    assert!(files_in(d.path()).is_empty());
    // Arguments without a default cannot be left out.
    let (c, _, e) = export(d.path(), &seed(), &["f32[2,4]"], &[]);
    assert_clean_error(c, &e, "takes 2 input(s) but 1 were given");
}

#[test]
fn tolerances_must_be_numbers_zero_or_more() {
    let d = tmp();
    for (flag, v) in [("--atol", "nan"), ("--rtol", "-1"), ("--atol", "x")] {
        let arg = format!("{flag}={v}");
        let (c, _, e) = cli(
            d.path(),
            &[
                "verify",
                &seed(),
                "--input",
                "f32[2,4]",
                "--input",
                "f32[2,4]",
                &arg,
            ],
        );
        assert_clean_error(c, &e, &format!("'{v}' is not a tolerance"));
    }
    assert!(files_in(d.path()).is_empty());
}

/// A tampered .air (valid protobuf, inconsistent graph): the runner names the problem, never
/// panics.
#[test]
fn tampered_air_files_are_clear_errors() {
    use prost::Message;
    let d = tmp();
    let (c, _, e) = export(d.path(), &seed(), &["f32[2,4]", "f32[2,4]"], &[]);
    assert_eq!(c, 0, "{e}");
    let good = read_air(&d.path().join("export_file/export.air"));
    let tamper = |name: &str, f: &dyn Fn(&mut torch2air::proto::ModelDef)| {
        let mut m = good.clone();
        f(&mut m);
        std::fs::write(d.path().join(name), m.encode_to_vec()).unwrap();
        let (c, out, e) = cli(
            d.path(),
            &["run", name, "--input", "f32[2,4]", "--input", "f32[2,4]"],
        );
        assert!(c == 2, "{name}: exit {c}\n{out}{e}");
        assert!(e.starts_with("error: "), "{name}: {e}");
        assert!(
            !e.contains("panicked") && !e.contains("internal error"),
            "{name}: {e}"
        );
    };
    let consts = |m: &mut torch2air::proto::ModelDef| -> Vec<usize> {
        (0..m.graph[0].op.len())
            .filter(|i| m.graph[0].op[*i].r#type == "Const")
            .collect()
    };
    // A Const whose bytes are fewer than its desc says.
    tamper("short_const.air", &|m| {
        let i = consts(m)[0];
        if let Some(torch2air::proto::attr_def::Value::T(t)) = m.graph[0].op[i]
            .attr
            .get_mut("value")
            .and_then(|a| a.value.as_mut())
        {
            t.data = t.data.slice(0..3);
        }
    });
    // An op fed by a node that does not exist.
    tamper("dangling_input.air", &|m| {
        let add = m.graph[0]
            .op
            .iter_mut()
            .find(|o| o.r#type == "Add")
            .unwrap();
        add.input[0] = "nowhere:0".into();
    });
    // An op type the runner does not know.
    tamper("unknown_type.air", &|m| {
        let add = m.graph[0]
            .op
            .iter_mut()
            .find(|o| o.r#type == "Add")
            .unwrap();
        add.r#type = "NoSuchOp".into();
    });
    // A desc whose shape disagrees with what the graph computes (intermediate output descs carry
    // no shape, as TorchAir writes them; NetOutput's input descs do).
    tamper("wrong_desc.air", &|m| {
        let out = m.graph[0]
            .op
            .iter_mut()
            .find(|o| o.r#type == "NetOutput")
            .unwrap();
        out.input_desc[0].shape.as_mut().unwrap().dim = vec![3, 3];
    });
    // A desc whose dtype disagrees (8: DT_INT64), and one torch2air does not know (9: DT_UINT32).
    for (name, dtype) in [("wrong_dtype.air", 8), ("unknown_dtype.air", 9)] {
        tamper(name, &|m| {
            let add = m.graph[0]
                .op
                .iter_mut()
                .find(|o| o.r#type == "Add")
                .unwrap();
            add.output_desc[0].dtype = dtype;
        });
    }
    // No graph at all.
    tamper("no_graph.air", &|m| m.graph.clear());
}
