//! The README's quick start, run as written, twice in a row on one
//! database (issue 21: the second run used to fail at step 2, its
//! idempotency keys fixed while `NOW` changed).
//!
//! It needs grpcurl, which is not on this machine (Debian does not package
//! it and there is no network for `go install`), so `grpcurl` on the
//! script's PATH is this very test binary acting as a stand-in: it speaks
//! the same flags the script uses (`-plaintext`, `-H`, `-d`, address,
//! `service/Method`), learns the method from the server's reflection in
//! its **v1alpha** version (the one grpcurl 1.8 speaks), and reads and
//! writes proto3 JSON as grpcurl does. The only other change to the
//! script: `cargo run -q --release -p engine --` becomes the engine binary
//! the test built, and the port is a free one.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use tokio_stream::StreamExt;
use tonic::{
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    metadata::MetadataValue,
    transport::Channel,
};
use tonic_reflection::pb::v1alpha::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

const README: &str = include_str!("../../../README.md");

fn main() {
    let me = std::env::current_exe().expect("own path");
    let invoked_as = std::env::args().next().unwrap_or_default();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if Path::new(&invoked_as).file_name() == Some(std::ffi::OsStr::new("grpcurl")) {
        let code = rt.block_on(grpcurl(std::env::args().skip(1).collect()));
        std::process::exit(code);
    }
    // Under `cargo test`, libtest's flags may be passed; a filter that does
    // not name this test skips it, and so does a `--skip` that does, as
    // libtest would (the value after `--skip` is not a filter).
    const NAME: &str = "the_readme_quick_start_runs_twice_as_written";
    let (mut filters, mut skips) = (Vec::new(), Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--skip" {
            skips.extend(args.next());
        } else if let Some(v) = a.strip_prefix("--skip=") {
            skips.push(v.to_owned());
        } else if !a.starts_with('-') {
            filters.push(a);
        }
    }
    if std::env::args().any(|a| a == "--list") {
        println!("{NAME}: test");
        return;
    }
    let named = |f: &String| NAME.contains(f.as_str()) || "quickstart".contains(f.as_str());
    if (!filters.is_empty() && !filters.iter().any(named))
        || skips.iter().any(|s| NAME.contains(s.as_str()))
    {
        println!("test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out");
        return;
    }
    println!("running 1 test");
    the_readme_quick_start_runs_twice_as_written(&me);
    println!("test the_readme_quick_start_runs_twice_as_written ... ok");
    println!("\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}

fn the_readme_quick_start_runs_twice_as_written(me: &Path) {
    let dir = std::env::temp_dir().join(format!("campaign-quickstart-{}", uuid::Uuid::new_v4()));
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("dirs");
    std::os::unix::fs::symlink(me, bin.join("grpcurl")).expect("grpcurl stand-in");
    let port = free_port();
    let engine = PathBuf::from(env!("CARGO_BIN_EXE_campaign-engine"));
    let script = quick_start(&engine, port);
    std::fs::write(dir.join("quickstart.sh"), &script).expect("script");

    let mut server = Command::new(&engine)
        .current_dir(&dir)
        .env("CAMPAIGN_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("CAMPAIGN_DATABASE_URL")
        .env_remove("CAMPAIGN_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the engine");
    let ready = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        dir.join(".campaign/bootstrap-admin.key").exists()
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |n: u32| {
        let out = Command::new("bash")
            .arg("-e")
            .arg("quickstart.sh")
            .current_dir(&dir)
            .env("PATH", &path)
            .output()
            .expect("bash");
        (
            n,
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let first = ready.then(|| run(1));
    // The script's keys carry the second; the next run is in another one.
    std::thread::sleep(Duration::from_millis(1_100));
    let second = ready.then(|| run(2));
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ready, "the engine did not start");
    for (n, ok, stdout, stderr) in [first, second].into_iter().flatten() {
        assert!(ok, "run {n} failed:\n{stderr}\n{stdout}");
        for want in ["\"campaignId\"", "\"prizeName\"", "\"remainingToday\""] {
            assert!(stdout.contains(want), "run {n}: no {want} in\n{stdout}");
        }
    }
}

/// The README's first `sh` block after the quick start heading, with the
/// engine binary and the port of this run.
fn quick_start(engine: &Path, port: u16) -> String {
    let start = README
        .find("## Quick start")
        .expect("a quick start section");
    let rest = &README[start..];
    let block = rest.find("```sh\n").expect("its sh block") + "```sh\n".len();
    let end = rest[block..].find("```").expect("the block's end");
    let script = &rest[block..block + end];
    assert!(script.contains("cargo run -q --release -p engine --"));
    script
        .replace(
            "cargo run -q --release -p engine --",
            &engine.display().to_string(),
        )
        .replace("127.0.0.1:50051", &format!("127.0.0.1:{port}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The stand-in: `grpcurl -plaintext [-H 'k: v']... [-d JSON] ADDR SVC/METHOD`.
async fn grpcurl(args: Vec<String>) -> i32 {
    match call(args).await {
        Ok(json) => {
            println!("{json}");
            0
        }
        Err(e) => {
            eprintln!("ERROR:\n  {e}");
            1
        }
    }
}

async fn call(args: Vec<String>) -> Result<String, String> {
    let (mut headers, mut data, mut rest) = (Vec::new(), "{}".to_owned(), Vec::new());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-plaintext" => {}
            "-H" => headers.push(it.next().ok_or("-H needs a value")?),
            "-d" => data = it.next().ok_or("-d needs a value")?,
            _ => rest.push(a),
        }
    }
    let [addr, target] = rest.as_slice() else {
        return Err(format!("want ADDR SERVICE/METHOD, got {rest:?}"));
    };
    let (service, method) = target.rsplit_once('/').ok_or("SERVICE/METHOD")?;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let pool = descriptors(channel.clone(), service).await?;
    let svc = pool
        .get_service_by_name(service)
        .ok_or(format!("no service {service}"))?;
    let m = svc
        .methods()
        .find(|m| m.name() == method)
        .ok_or(format!("no method {method}"))?;
    let mut de = serde_json::Deserializer::from_str(&data);
    let request = DynamicMessage::deserialize(m.input(), &mut de).map_err(|e| e.to_string())?;
    let mut req = tonic::Request::new(request);
    for h in headers {
        let (k, v) = h.split_once(':').ok_or("-H 'name: value'")?;
        let v: MetadataValue<_> = v.trim().parse().map_err(|_| "bad header value")?;
        let k = tonic::metadata::MetadataKey::from_bytes(k.trim().to_lowercase().as_bytes())
            .map_err(|e| e.to_string())?;
        req.metadata_mut().insert(k, v);
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| e.to_string())?;
    let path: http::uri::PathAndQuery =
        format!("/{service}/{method}").parse().map_err(|_| "path")?;
    let answer = grpc
        .unary(req, path, DynCodec(m.output()))
        .await
        .map_err(|s| format!("Code: {:?}\n  Message: {}", s.code(), s.message()))?;
    serde_json::to_string_pretty(answer.get_ref()).map_err(|e| e.to_string())
}

/// The files that define `symbol` and what they import, by reflection
/// v1alpha.
async fn descriptors(channel: Channel, symbol: &str) -> Result<DescriptorPool, String> {
    let mut client = ServerReflectionClient::new(channel);
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(symbol.to_owned())),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter(vec![ask]))
        .await
        .map_err(|s| format!("reflection: {s}"))?
        .into_inner();
    let mut files = Vec::new();
    while let Some(a) = answers.next().await {
        match a.map_err(|s| s.to_string())?.message_response {
            Some(MessageResponse::FileDescriptorResponse(f)) => {
                for bytes in f.file_descriptor_proto {
                    files.push(
                        prost_types::FileDescriptorProto::decode(bytes.as_slice())
                            .map_err(|e| e.to_string())?,
                    );
                }
            }
            Some(MessageResponse::ErrorResponse(e)) => return Err(e.error_message),
            _ => {}
        }
    }
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files)
        .map_err(|e| e.to_string())?;
    Ok(pool)
}

/// Encodes and decodes messages known only at run time.
struct DynCodec(MessageDescriptor);

impl Codec for DynCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynEncoder;
    type Decoder = DynDecoder;
    fn encoder(&mut self) -> DynEncoder {
        DynEncoder
    }
    fn decoder(&mut self) -> DynDecoder {
        DynDecoder(self.0.clone())
    }
}

struct DynEncoder;

impl Encoder for DynEncoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: DynamicMessage,
        dst: &mut EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

struct DynDecoder(MessageDescriptor);

impl Decoder for DynDecoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, tonic::Status> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}
