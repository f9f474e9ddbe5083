//! Generates the gRPC code from `proto/custos.proto` (needs `protoc`: Debian `protobuf-compiler`).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/custos.proto");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&["proto/custos.proto"], &["proto"])?;
    Ok(())
}
