fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/tablet.proto");
    tonic_prost_build::configure().compile_protos(&["proto/tablet.proto"], &["proto"])?;
    Ok(())
}
