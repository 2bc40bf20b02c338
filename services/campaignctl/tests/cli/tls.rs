//! https:// endpoints are TLS, never plaintext. The real engine (SQLite)
//! sits behind a TLS-terminating proxy on 127.0.0.1 whose certificate is
//! signed by a throwaway CA (`tls/`, made by `tls/make-certs.sh`): with
//! `--ca-file` campaignctl gets through; against the system's roots it is
//! refused before any request leaves; and an https:// URL pointing at a
//! plaintext listener receives a TLS ClientHello, not an HTTP/2 preface.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        crypto::ring,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    },
};

use super::{Engine, assert_exit, run_ctl, text};
use crate::helpers::Backend;

fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli/tls")
        .join(name)
}

/// A TLS-terminating proxy to `upstream`; counts completed handshakes.
struct TlsProxy {
    addr: SocketAddr,
    sessions: Arc<AtomicUsize>,
}

impl TlsProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let certs = CertificateDer::pem_file_iter(tls_file("server.pem"))
            .expect("server.pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("server.pem parses");
        let key = PrivateKeyDer::from_pem_file(tls_file("server.key")).expect("server.key");
        let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server certificate");
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let sessions = Arc::new(AtomicUsize::new(0));
        let count = sessions.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, count) = (acceptor.clone(), count.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    count.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut engine) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut engine).await;
                    }
                });
            }
        });
        Self { addr, sessions }
    }

    fn sessions(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_verified_against_the_ca_file_or_the_system_roots() {
    // Arrange
    let e = Engine::start(Backend::Sqlite).await;
    let upstream = e
        .endpoint
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .expect("engine address");
    let proxy = TlsProxy::start(upstream).await;
    let https = format!("https://{}", proxy.addr);
    let ca = tls_file("ca.pem");
    let ca = ca.to_str().expect("utf-8 path");

    // Act / Assert: with the test CA, the key crosses inside TLS and the
    // engine answers (the audit trail needs an admin key).
    let through = e
        .ctl_at(&["audit-log", "--endpoint", &https, "--ca-file", ca])
        .await;
    assert_exit(&through, 0);
    assert!(
        text(&through.stdout).contains("\"type\":\"audit\""),
        "{}",
        text(&through.stdout)
    );
    assert!(!text(&through.stderr).contains("warning"));
    assert_eq!(proxy.sessions(), 1);

    // Against the system's roots the certificate is refused: a clear
    // error, and no TLS session, so no request and no key, reached it.
    let refused = e.ctl_at(&["audit-log", "--endpoint", &https]).await;
    assert_exit(&refused, 1);
    let err = text(&refused.stderr);
    assert!(
        err.contains("certificate") && err.contains("--ca-file"),
        "{err}"
    );
    assert!(!err.contains(&e.admin_key));
    assert_eq!(proxy.sessions(), 1, "a TLS session was made without the CA");

    // Plain http:// on loopback needs no warning.
    let local = e.ctl(&["audit-log"]).await;
    assert_exit(&local, 0);
    assert!(!text(&local.stderr).contains("warning"));
    e.stop().await;
}

#[tokio::test]
async fn an_https_endpoint_never_gets_plaintext() {
    // Arrange: a plaintext listener that records the first bytes it gets.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let first = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 3];
        tcp.read_exact(&mut buf).await.expect("read");
        buf
    });

    // Act
    let key = "cek_not-a-real-key";
    let out = run_ctl(
        &["show", "c1", "--endpoint", &format!("https://{addr}")],
        Some(key),
    )
    .await;

    // Assert: a TLS handshake record (0x16, version 3.x), not "PRI * HTTP/2".
    let bytes = first.await.expect("join");
    assert_eq!(bytes[..2], [0x16, 0x03], "not a TLS ClientHello: {bytes:?}");
    assert_exit(&out, 1);
    assert!(!text(&out.stderr).contains(key));
}

#[tokio::test]
async fn plain_http_to_another_host_warns_that_the_key_crosses_in_the_clear() {
    // No key: the command stops before connecting, so nothing is sent to
    // that (unreachable) address; the warning comes first.
    let out = run_ctl(&["show", "c1", "--endpoint", "http://10.0.0.5:50051"], None).await;
    assert_exit(&out, 1);
    let err = text(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("in the clear") && err.contains("CAMPAIGN_API_KEY"),
        "{err}"
    );
}
