//! Secrets never reach the logs: a whole campaign runs with every log line
//! of every crate captured at TRACE level, and neither the seed (in any
//! usual encoding), nor an API key secret, nor a player token (a
//! gateway's or the development issuer's), nor the gateway secret appears
//! in them.

use test_kit::harness as helpers;
use test_kit::log_capture;

use base64::Engine;
use engine_proto::campaign::v1::{self as pb, PrizeKind};
use helpers::*;

async fn no_secret_is_ever_logged(backend: Backend) {
    log_capture::start();
    // Arrange + Act: a whole campaign, from keys to the reveal.
    // The development token issuer on: its tokens must not leak either,
    // and it must say loudly that it is on.
    let app = spawn_app_with(backend, |s| s.dev_token_issuer = true).await;
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let c = app
        .wheel(
            rules(3, 3),
            vec![slot("Cup", PrizeKind::Physical, 1, 2), thanks(1)],
            1,
            true,
        )
        .await;
    let mut tokens = Vec::new();
    for p in 0..5 {
        for _ in 0..3 {
            app.draw(&format!("log-{p}"), &c.campaign_id)
                .await
                .expect("draw");
        }
        tokens.push(app.token(&format!("log-{p}")));
    }
    let dev_token = mint_dev_token(&app, &c.campaign_id).await;
    app.player()
        .draw(with(
            &dev_token,
            pb::DrawRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                channel: String::new(),
                store_id: String::new(),
            },
        ))
        .await
        .expect("a draw with a dev token");
    // A failing call too: errors must not echo credentials.
    let _ = app.draw("log-0", "not-a-uuid").await;
    app.admin()
        .end_campaign(with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
            },
        ))
        .await
        .expect("end");
    let seed = app
        .get_campaign(&c.campaign_id)
        .await
        .fairness
        .expect("fairness")
        .revealed_seed;
    assert_eq!(seed.len(), 32);

    // Assert
    let logs = log_capture::logs();
    assert!(
        logs.contains("Draw"),
        "the capture saw nothing; the test would prove nothing"
    );
    assert!(
        logs.contains("WARN") && logs.contains("DEVELOPMENT ONLY: dev_token_issuer is on"),
        "no loud warning that the dev token issuer is on"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let debug_bytes = format!("{:?}", &seed[..6]).trim_end_matches(']').to_owned();
    let forbidden = [
        ("seed hex", hex::encode(&seed)),
        ("seed HEX", hex::encode_upper(&seed)),
        ("seed base64", b64.encode(&seed)),
        ("seed base64url", b64url.encode(&seed)),
        ("seed as Debug bytes", debug_bytes),
        ("admin key", app.admin_key.clone()),
        (
            "admin key secret",
            api_key_secret(&app.admin_key).to_owned(),
        ),
        ("auditor key secret", api_key_secret(&auditor).to_owned()),
        ("gateway secret hex", hex::encode(&app.token_secret)),
        ("gateway secret base64", b64.encode(&app.token_secret)),
        ("a player token", tokens[0].clone()),
        ("a dev player token", dev_token.clone()),
        (
            "a dev player token signature",
            dev_token.rsplit('.').next().expect("sig").to_owned(),
        ),
        (
            "a player token signature",
            tokens[1].rsplit('.').next().expect("sig").to_owned(),
        ),
    ];
    for (what, secret) in forbidden {
        assert!(
            secret.len() >= 16,
            "{what}: a short needle would prove nothing"
        );
        assert!(!logs.contains(&secret), "{what} appears in the logs");
    }
    app.stop().await;
}

/// A token from `POST /dev/player-token` (raw HTTP/1.1).
async fn mint_dev_token(app: &TestApp, campaign_id: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = format!(r#"{{"campaign_id":"{campaign_id}","openid":"log-dev"}}"#);
    let mut s = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let request = format!(
        "POST /dev/player-token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await.expect("request");
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.expect("answer");
    let json = answer.split("\r\n\r\n").nth(1).expect("a body");
    let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
    v["token"].as_str().expect("a token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_no_secret_is_ever_logged() {
    no_secret_is_ever_logged(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_no_secret_is_ever_logged() {
    no_secret_is_ever_logged(Backend::Postgres).await
}
