//! Compiles `campaign/v1` and `coupon/v1` with protox (pure Rust, no `protoc`) into
//! OUT_DIR, and writes the file descriptor set that server reflection serves.
use prost::Message;
use std::{env, fs, path::PathBuf};

fn main() {
    let protos = [
        "campaign/v1/campaign.proto",
        "campaign/v1/money.proto",
        "campaign/v1/voting.proto",
        "campaign/v1/sharing.proto",
        "campaign/v1/stats.proto",
        "campaign/v1/stores.proto",
        "campaign/v1/raffles.proto",
        "campaign/v1/events.proto",
        "coupon/v1/coupon.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["."]).expect("protox could not compile the protos");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("engine_descriptor.bin"), fds.encode_to_vec())
        .expect("write file descriptor set");
    tonic_prost_build::configure()
        .compile_fds(fds)
        .expect("tonic-prost-build could not generate code");
}
