//! Nothing to generate. The build script exists so that the `protoc-bin-vendored`
//! build-dependency is part of the build graph: cargo then downloads and unpacks it before any
//! build script runs, and etcd-client's build script finds its protoc through `PROTOC`
//! (`.cargo/config.toml` → `tools/protoc`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
}
