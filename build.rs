//! Generates the gRPC code for the plugin protocol from `proto/`.
//!
//! The .proto files are parsed by `protox` (pure Rust) instead of a system
//! `protoc`, so a fresh machine or CI clone builds with nothing but cargo.
//! protox also bundles the google/protobuf well-known types we import
//! (timestamp.proto, empty.proto). The resulting descriptor set is then fed to
//! tonic-prost-build, which writes one `<package>.rs` per protobuf package into
//! `OUT_DIR`; `src/protocol/generated.rs` pulls those in with `include_proto!`.
// Cargo reads its instructions from a build script's stdout.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

/// Every file we compile, relative to `proto/`. Paths double as import names,
/// so they must stay relative to the include root.
const PROTO_FILES: &[&str] = &[
    "tfplugin6.proto",
    "plugin/grpc_controller.proto",
    "plugin/grpc_stdio.proto",
    "plugin/grpc_broker.proto",
    "grpc/health/v1/health.proto",
];

fn main() {
    // Declaring any rerun-if-changed replaces cargo's default of re-running on
    // every file in the package; a directory entry is watched recursively.
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");

    let proto_root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("proto");

    let files: Vec<PathBuf> = PROTO_FILES.iter().map(|f| proto_root.join(f)).collect();
    let fds = match protox::compile(&files, [&proto_root]) {
        Ok(fds) => fds,
        // protox's Debug rendering carries the file/line of a syntax error,
        // which is what someone editing the .proto needs to see.
        Err(err) => panic!("compiling proto/ failed: {err:?}"),
    };

    tonic_prost_build::configure()
        // The provider is the server side of every service, but the generated
        // clients let tests drive a running plugin the way the CLI does.
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)
        .expect("generating Rust code from the proto descriptors failed");
}
