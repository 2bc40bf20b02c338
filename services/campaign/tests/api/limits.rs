//! Issue 22, denial of service: each attack run against the real server on
//! 127.0.0.1 (bounded counts, bounded time), with health answering during
//! it and a real wheel and draw working after it.

use std::{net::SocketAddr, time::Duration};

use campaign::config::Settings;
use engine_proto::campaign::v1::{self as pb, admin_service_client::AdminServiceClient};
use tokio::{io::AsyncWriteExt, net::TcpStream, time::timeout};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use test_kit::h2raw::{PREFACE, SETTINGS, closed_within, frame, open_streams, refused_streams};

use crate::helpers::{Backend, TestApp, build_wheel, rules, slot, spawn_app_with, thanks};

/// A fresh connection (not the app's shared channel).
async fn connect(addr: SocketAddr) -> Channel {
    timeout(
        Duration::from_secs(5),
        Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect(),
    )
    .await
    .expect("connect in time")
    .expect("connect")
}

/// Health answers SERVING on a new connection, within 5 s.
async fn assert_health_answers(addr: SocketAddr) {
    let answer = timeout(
        Duration::from_secs(5),
        HealthClient::new(connect(addr).await).check(HealthCheckRequest {
            service: "campaign.v1.AdminService".into(),
        }),
    )
    .await
    .expect("health answers in time")
    .expect("health");
    assert_eq!(answer.get_ref().status, 1, "SERVING");
}

/// A wheel is created and drawn on a new connection: the engine serves.
async fn assert_serves_normally(app: &TestApp) {
    assert_health_answers(app.addr).await;
    let mut admin = AdminServiceClient::new(connect(app.addr).await);
    let wheel = build_wheel(
        &mut admin,
        &app.admin_key,
        rules(5, 5),
        vec![slot("cup", pb::PrizeKind::Physical, 1, 3), thanks(1)],
        1,
        true,
    )
    .await;
    timeout(
        Duration::from_secs(10),
        app.draw("after-attack", &wheel.campaign_id),
    )
    .await
    .expect("draw in time")
    .expect("draw");
}

async fn streams_beyond_the_limit_are_refused(backend: Backend) {
    // Arrange: the default limit, and a client that ignores it.
    let limit = Settings::default().http2_max_concurrent_streams;
    assert!(limit > 0, "a limit by default");
    let app = spawn_app_with(backend, |_| {}).await;
    let extra = 50;
    let mut sock = TcpStream::connect(app.addr).await.expect("connect");

    // Act: open limit + extra streams at once on one connection (HEADERS,
    // no END_STREAM: bodies that never come).
    sock.write_all(&open_streams(limit + extra))
        .await
        .expect("send streams");

    // Assert: the limit is advertised, exactly the excess is refused ...
    let (advertised, refused) =
        refused_streams(&mut sock, extra as usize, Duration::from_secs(10)).await;
    assert_eq!(advertised, Some(limit), "SETTINGS_MAX_CONCURRENT_STREAMS");
    assert_eq!(
        refused.len(),
        extra as usize,
        "{} of {extra} excess streams refused in 10 s",
        refused.len()
    );
    let first_refused = 2 * limit + 1;
    assert!(refused.iter().all(|s| *s >= first_refused), "{refused:?}");
    // ... and health answers on a new connection while it is held open.
    assert_health_answers(app.addr).await;

    // After the attack the engine serves normally.
    drop(sock);
    assert_serves_normally(&app).await;
    app.stop().await;
}

async fn a_stream_whose_body_never_comes_is_ended(backend: Backend) {
    // Arrange: a 1 s call limit, and an HTTP/2 client (the h2 crate).
    let app = spawn_app_with(backend, |s| s.request_timeout_secs = 1).await;
    let tcp = TcpStream::connect(app.addr).await.expect("connect");
    let (mut client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let request = http::Request::post(format!("http://{}/grpc.health.v1.Health/Check", app.addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("request");

    // Act: headers only; the body (and END_STREAM) never follows.
    let (response, _body) = client.send_request(request, false).expect("send headers");

    // Assert: the server answers (a gRPC error, not a hang) within a few
    // seconds, and health answers meanwhile.
    assert_health_answers(app.addr).await;
    let response = timeout(Duration::from_secs(5), response)
        .await
        .expect("answered within 5 s, not held open")
        .expect("response");
    let status = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert!(
        status.as_deref().is_some_and(|s| s != "0"),
        "a gRPC error status in the headers: {status:?}"
    );
    assert_eq!(
        client.current_max_send_streams(),
        Settings::default().http2_max_concurrent_streams as usize,
        "the h2 client saw the advertised limit"
    );
    drop(client);
    conn.abort();
    assert_serves_normally(&app).await;
    app.stop().await;
}

async fn silent_connections_are_closed(backend: Backend) {
    // Arrange: a 1 s idle timeout (pings off, so only it can close them).
    let app = spawn_app_with(backend, |s| {
        s.connection_idle_timeout_secs = 1;
        s.http2_keepalive_interval_secs = 0;
    })
    .await;

    // Act: one connection sends nothing, one only the HTTP/2 preface.
    let mut nothing = TcpStream::connect(app.addr).await.expect("connect");
    let mut preface = TcpStream::connect(app.addr).await.expect("connect");
    preface.write_all(PREFACE).await.expect("preface");

    // Assert: health answers meanwhile, and both are closed in time.
    assert_health_answers(app.addr).await;
    assert!(
        closed_within(&mut nothing, Duration::from_secs(5)).await,
        "a connection that sent nothing is still open after 5 s"
    );
    assert!(
        closed_within(&mut preface, Duration::from_secs(5)).await,
        "a preface-only connection is still open after 5 s"
    );
    assert_serves_normally(&app).await;
    app.stop().await;
}

async fn unanswered_pings_close_the_connection(backend: Backend) {
    // Arrange: pings after 1 s of silence, 1 s to answer; no idle timeout,
    // so only the keep-alive can close it.
    let app = spawn_app_with(backend, |s| {
        s.connection_idle_timeout_secs = 0;
        s.http2_keepalive_interval_secs = 1;
        s.http2_keepalive_timeout_secs = 1;
    })
    .await;

    // Act: an HTTP/2 connection that never answers anything.
    let mut sock = TcpStream::connect(app.addr).await.expect("connect");
    sock.write_all(PREFACE).await.expect("preface");
    let mut settings = frame(SETTINGS, 0, 0, &[]);
    settings.extend(frame(SETTINGS, test_kit::h2raw::ACK, 0, &[])); // ACK theirs, then go silent
    sock.write_all(&settings).await.expect("settings");

    // Assert: closed after the unanswered ping; health answered meanwhile.
    assert_health_answers(app.addr).await;
    assert!(
        closed_within(&mut sock, Duration::from_secs(6)).await,
        "a connection that never answers pings is still open after 6 s"
    );
    assert_serves_normally(&app).await;
    app.stop().await;
}

async fn connections_beyond_the_cap_wait_until_one_closes(backend: Backend) {
    // Arrange: at most 3 connections at once.
    let app = spawn_app_with(backend, |s| s.max_connections = 3).await;

    // Act: 3 silent connections take every slot (with any the test app
    // holds itself, the listener is at its cap).
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(app.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Assert: a new connection is not served while they are open ...
    let blocked = timeout(Duration::from_millis(1500), async {
        let ch = Channel::from_shared(format!("http://{}", app.addr))
            .expect("uri")
            .connect()
            .await
            .ok()?;
        HealthClient::new(ch)
            .check(HealthCheckRequest::default())
            .await
            .ok()
    })
    .await;
    assert!(
        !matches!(blocked, Ok(Some(_))),
        "a 4th connection was served above a cap of 3"
    );
    // ... and is once they close.
    drop(held);
    assert_serves_normally(&app).await;
    app.stop().await;
}

both_backends!(
    connections_beyond_the_cap_wait_until_one_closes,
    streams_beyond_the_limit_are_refused,
    a_stream_whose_body_never_comes_is_ended,
    silent_connections_are_closed,
    unanswered_pings_close_the_connection,
);
