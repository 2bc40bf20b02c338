//! What tools people already use get from the listener: gRPC reflection in
//! both versions (grpcurl before 1.9, Postman, Evans and older Kreya speak
//! only v1alpha), and plain HTTP answers for paths that are not pages or
//! gRPC (404, a favicon).

use tokio_stream::StreamExt;
use tonic_reflection::pb::{v1, v1alpha};

use crate::helpers::*;

both_backends!(
    reflection_answers_v1_and_v1alpha,
    unknown_http_paths_are_404_and_the_pages_have_an_icon,
);

async fn reflection_answers_v1_and_v1alpha(backend: Backend) {
    let app = spawn_app(backend).await;
    // v1: list the services, then the file that defines one of them.
    let mut v1c = v1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let ask = |m| v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    };
    let reqs = tokio_stream::iter(vec![
        ask(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
        ask(
            v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                "campaign.v1.PlayerService".into(),
            ),
        ),
    ]);
    let mut answers = v1c
        .server_reflection_info(reqs)
        .await
        .expect("v1")
        .into_inner();
    let mut names = Vec::new();
    let mut files = 0;
    while let Some(a) = answers.next().await {
        match a.expect("v1 answer").message_response {
            Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(l)) => {
                names.extend(l.service.into_iter().map(|s| s.name));
            }
            Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(f)) => {
                files += f.file_descriptor_proto.len();
            }
            other => panic!("unexpected v1 answer {other:?}"),
        }
    }
    for want in [
        "campaign.v1.AdminService",
        "campaign.v1.PlayerService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    assert!(files >= 1);

    // v1alpha: the same questions, the same answers.
    let mut alpha =
        v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let ask = |m| v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    };
    let reqs = tokio_stream::iter(vec![
        ask(v1alpha::server_reflection_request::MessageRequest::ListServices(String::new())),
        ask(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "campaign.v1.PlayerService".into(),
            ),
        ),
    ]);
    let mut answers = alpha
        .server_reflection_info(reqs)
        .await
        .expect("v1alpha is served")
        .into_inner();
    let mut alpha_names = Vec::new();
    let mut alpha_files = 0;
    while let Some(a) = answers.next().await {
        match a.expect("v1alpha answer").message_response {
            Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(l)) => {
                alpha_names.extend(l.service.into_iter().map(|s| s.name));
            }
            Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(
                f,
            )) => alpha_files += f.file_descriptor_proto.len(),
            other => panic!("unexpected v1alpha answer {other:?}"),
        }
    }
    // Each version lists itself as the reflection service.
    let others = |v: &[String]| {
        let mut v: Vec<_> = v
            .iter()
            .filter(|n| !n.starts_with("grpc.reflection."))
            .cloned()
            .collect();
        v.sort();
        v
    };
    assert!(
        alpha_names
            .iter()
            .any(|n| n == "grpc.reflection.v1alpha.ServerReflection")
    );
    assert_eq!(others(&alpha_names), others(&names));
    assert_eq!(alpha_files, files);
}

async fn unknown_http_paths_are_404_and_the_pages_have_an_icon(backend: Backend) {
    let app = spawn_app(backend).await;
    let port = app.addr.port();
    for path in ["/favicon.ico", "/robots.txt", "/console/nope.js"] {
        let page = get(port, path).await;
        let status = page.lines().next().unwrap_or_default();
        if path == "/favicon.ico" {
            assert!(status.contains(" 200"), "{path}: {status}");
            assert!(page.contains("content-type: image/x-icon"), "{page}");
        } else {
            assert!(status.contains(" 404"), "{path}: {status}");
        }
    }
    for page in ["/console/", "/h5/"] {
        assert!(get(port, page).await.contains(r#"rel="icon""#), "{page}");
    }
}

/// One HTTP/1.1 GET on the gRPC listener, the connection closed after it.
async fn get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("response");
    String::from_utf8_lossy(&out).into_owned()
}
