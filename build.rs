//! Build steps: (1) compile proto/ge_ir.proto with prost (and a descriptor set for text format);
//! (2) compile the C++ shim against the same libtorch that torch-sys links; (3) embed an rpath to
//! libtorch so binaries and tests run without LD_LIBRARY_PATH.
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());

    // (1) protobuf
    println!("cargo:rerun-if-changed=proto/ge_ir.proto");
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    config.btree_map(["."]);
    // TensorDef.data as `bytes::Bytes`, so a Const's data can be the weight tensor's own memory.
    config.bytes([".ge.proto.TensorDef.data"]);
    config.file_descriptor_set_path(out.join("ge_ir_descriptor.bin"));
    config
        .compile_protos(&["proto/ge_ir.proto"], &["proto/"])
        .expect("compiling proto/ge_ir.proto");

    // (2) C++ shim. torch-sys (links = "tch") exports the libtorch lib dir to us.
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .map(PathBuf::from)
        .expect("torch-sys did not report DEP_TCH_LIBTORCH_LIB; set LIBTORCH (see README)");
    let root = lib
        .parent()
        .expect("libtorch lib dir has a parent")
        .to_path_buf();
    let include = root.join("include");
    println!("cargo:rerun-if-changed=src/shim/shim.cpp");
    println!("cargo:rerun-if-changed=src/shim/shim.h");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .file("src/shim/shim.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-w")
        .opt_level(2)
        .compile("torch2air_shim");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=torch_cpu");
    println!("cargo:rustc-link-lib=c10");

    // (3) rpath for every binary of the package (the CLI, tests, benches).
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}
