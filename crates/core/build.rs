//! Compiles the wire schema with `protox` (pure Rust), so no system `protoc` is needed.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from("proto");
    // The directory too, so that adding a new .proto file regenerates the code.
    println!("cargo:rerun-if-changed={}", proto_dir.display());
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&proto_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "proto") {
            println!("cargo:rerun-if-changed={}", path.display());
            files.push(path);
        }
    }
    files.sort();
    let fds = protox::compile(&files, [&proto_dir])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
