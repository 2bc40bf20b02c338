//! gRPC-Web and CORS on the gRPC listener, spoken over plain HTTP/1.1 the
//! way a browser does (a raw request on a TCP stream, no HTTP client
//! library): real RPCs answer in gRPC-Web frames; an allowed origin gets
//! CORS headers, a foreign one does not.

use engine_proto::campaign::v1::{self as pb, PrizeKind};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// An HTTP/1.1 answer: status, headers (names lower case), body (chunked
/// encoding undone).
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection (`Connection: close`).
pub async fn http1(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpReply {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut rest = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        let mut body = Vec::new();
        loop {
            let eol = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size");
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..eol])
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim(),
                16,
            )
            .expect("hex chunk size");
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = rest[eol + 2 + size + 2..].to_vec();
        }
        rest = body;
    }
    HttpReply {
        status,
        headers,
        body: rest,
    }
}

/// A gRPC-Web call: the message in one length-prefixed frame.
pub async fn grpc_web(
    addr: std::net::SocketAddr,
    path: &str,
    credential: &str,
    origin: Option<&str>,
    msg: &impl Message,
) -> HttpReply {
    let payload = msg.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    let bearer = format!("Bearer {credential}");
    let mut headers = vec![
        ("Content-Type", "application/grpc-web+proto"),
        ("X-Grpc-Web", "1"),
        ("Authorization", bearer.as_str()),
    ];
    if let Some(o) = origin {
        headers.push(("Origin", o));
    }
    http1(addr, "POST", path, &headers, &frame).await
}

/// The frames of a gRPC-Web body: the messages, and the trailers as
/// `(name, value)` pairs.
pub fn web_frames(body: &[u8]) -> (Vec<Vec<u8>>, Vec<(String, String)>) {
    let (mut messages, mut trailers) = (Vec::new(), Vec::new());
    let mut at = 0;
    while at + 5 <= body.len() {
        let flag = body[at];
        let len =
            u32::from_be_bytes([body[at + 1], body[at + 2], body[at + 3], body[at + 4]]) as usize;
        let data = &body[at + 5..at + 5 + len];
        if flag & 0x80 == 0 {
            messages.push(data.to_vec());
        } else {
            trailers.extend(
                String::from_utf8_lossy(data)
                    .split("\r\n")
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned())),
            );
        }
        at += 5 + len;
    }
    (messages, trailers)
}

/// A CORS preflight for a gRPC-Web draw from `origin`.
async fn preflight(addr: std::net::SocketAddr, origin: &str) -> HttpReply {
    http1(
        addr,
        "OPTIONS",
        "/campaign.v1.PlayerService/Draw",
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization,content-type,x-grpc-web,x-user-agent",
            ),
        ],
        b"",
    )
    .await
}

const ALLOWED: &str = "http://console.example:8080";
const FOREIGN: &str = "http://evil.example";

/// One piece: a story on one listener: a gRPC-Web draw, its replay, a bad
/// field, preflights from allowed and foreign origins, then native gRPC.
async fn grpc_web_calls_real_rpcs_and_cors_admits_only_listed_origins(backend: Backend) {
    // Arrange
    let app = spawn_app_with(backend, |s| {
        s.cors_allowed_origins = vec![ALLOWED.into(), "https://h5.example".into()];
    })
    .await;
    let c = cup_wheel(&app).await;
    let draw = pb::DrawRequest {
        idempotency_key: key(),
        campaign_id: c.campaign_id.clone(),
        channel: "web".into(),
        store_id: String::new(),
    };
    let token = app.token("web-player");

    // Act: a draw from the allowed origin, in gRPC-Web over HTTP/1.1.
    let r = grpc_web(
        app.addr,
        "/campaign.v1.PlayerService/Draw",
        &token,
        Some(ALLOWED),
        &draw,
    )
    .await;

    // Assert: a real draw, answered in gRPC-Web frames with CORS headers.
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/grpc-web")),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("access-control-allow-origin"), Some(ALLOWED));
    let exposed = r.header("access-control-expose-headers").unwrap_or("");
    assert!(exposed.contains("grpc-status") && exposed.contains("grpc-message"));
    let (messages, trailers) = web_frames(&r.body);
    assert_eq!(messages.len(), 1);
    let answer = pb::DrawResponse::decode(messages[0].as_slice()).expect("a DrawResponse");
    assert_eq!(answer.slot_index, 0);
    assert_eq!(answer.prize_name, "Cup");
    assert_eq!(answer.remaining_total, 4);
    assert!(
        trailers.contains(&("grpc-status".into(), "0".into())),
        "{trailers:?}"
    );
    let live = app.get_campaign(&c.campaign_id).await;
    assert_eq!((live.slots[0].won, live.slots[0].remaining), (1, 2));
    app.db.assert_stock_balances(&c.campaign_id).await;

    // The same request again (same idempotency key): the stored answer.
    let again = grpc_web(
        app.addr,
        "/campaign.v1.PlayerService/Draw",
        &token,
        Some(ALLOWED),
        &draw,
    )
    .await;
    let (m2, _) = web_frames(&again.body);
    assert_eq!(m2, messages);

    // A bad field: the precise status, readable cross-origin from headers.
    let bad = grpc_web(
        app.addr,
        "/campaign.v1.AdminService/GetCampaign",
        &app.admin_key,
        Some(ALLOWED),
        &pb::GetCampaignRequest {
            campaign_id: "nope".into(),
        },
    )
    .await;
    assert_eq!(bad.status, 200);
    assert_eq!(bad.header("grpc-status"), Some("3"), "{:?}", bad.headers);
    let message = bad.header("grpc-message").unwrap_or("");
    assert!(message.starts_with("campaign_id"), "{message}");
    assert_eq!(bad.header("access-control-allow-origin"), Some(ALLOWED));

    // Preflight from the allowed origin: admitted, with the headers a
    // gRPC-Web client sends.
    let ok = preflight(app.addr, ALLOWED).await;
    assert!(ok.status < 300, "preflight status {}", ok.status);
    assert_eq!(ok.header("access-control-allow-origin"), Some(ALLOWED));
    let allowed_headers = ok.header("access-control-allow-headers").unwrap_or("");
    for h in [
        "authorization",
        "content-type",
        "x-grpc-web",
        "x-user-agent",
    ] {
        assert!(allowed_headers.contains(h), "{allowed_headers}");
    }
    assert!(
        ok.header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST"))
    );

    // A foreign origin: no CORS headers on the preflight nor on the call,
    // so a browser never lets its page send the call or read the answer.
    let refused = preflight(app.addr, FOREIGN).await;
    assert_eq!(refused.header("access-control-allow-origin"), None);
    let foreign = grpc_web(
        app.addr,
        "/campaign.v1.PlayerService/GetWheel",
        &token,
        Some(FOREIGN),
        &pb::GetWheelRequest {
            campaign_id: c.campaign_id.clone(),
        },
    )
    .await;
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    // A prefix or a case variant of an allowed origin is another origin.
    let near = preflight(app.addr, "http://console.example:8080.evil.example").await;
    assert_eq!(near.header("access-control-allow-origin"), None);

    // Native gRPC on the same listener is unchanged.
    app.draw("native-player", &c.campaign_id)
        .await
        .expect("native gRPC draw");
}

async fn with_no_allow_list_no_origin_is_admitted(backend: Backend) {
    // Arrange: the default settings.
    let app = spawn_app(backend).await;
    let c = cup_wheel(&app).await;
    let get = pb::GetCampaignRequest {
        campaign_id: c.campaign_id.clone(),
    };

    // Act
    let plain = grpc_web(
        app.addr,
        "/campaign.v1.AdminService/GetCampaign",
        &app.admin_key,
        None,
        &get,
    )
    .await;
    let cross = grpc_web(
        app.addr,
        "/campaign.v1.AdminService/GetCampaign",
        &app.admin_key,
        Some(ALLOWED),
        &get,
    )
    .await;

    // Assert: gRPC-Web works (a same-origin page, or curl) ...
    let (messages, trailers) = web_frames(&plain.body);
    let campaign = pb::Campaign::decode(messages[0].as_slice()).expect("a Campaign");
    assert_eq!(campaign.campaign_id, c.campaign_id);
    assert!(trailers.contains(&("grpc-status".into(), "0".into())));
    // ... but no origin gets CORS headers.
    assert_eq!(cross.header("access-control-allow-origin"), None);
    // A plain HTTP/1.1 request that is not gRPC-Web is refused.
    let junk = http1(
        app.addr,
        "GET",
        "/campaign.v1.AdminService/GetCampaign",
        &[],
        b"",
    )
    .await;
    assert!(junk.status >= 400, "status {}", junk.status);
}

/// `POST /dev/player-token` with a JSON body.
async fn mint(addr: std::net::SocketAddr, body: &str) -> (u16, serde_json::Value) {
    let r = http1(
        addr,
        "POST",
        "/dev/player-token",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await;
    let json = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, json)
}

/// A draw with this credential.
async fn draw_as(
    app: &TestApp,
    credential: &str,
    campaign_id: &str,
) -> Result<tonic::Response<pb::DrawResponse>, tonic::Status> {
    app.player()
        .draw(with(
            credential,
            pb::DrawRequest {
                idempotency_key: key(),
                campaign_id: campaign_id.into(),
                channel: String::new(),
                store_id: String::new(),
            },
        ))
        .await
}

async fn the_dev_token_issuer_mints_player_tokens_when_on(backend: Backend) {
    // Arrange
    let mut app = spawn_app_with(backend, |s| s.dev_token_issuer = true).await;
    let c = cup_wheel(&app).await;
    let body = format!(
        r#"{{"campaign_id":"{}","openid":"dev-player"}}"#,
        c.campaign_id
    );

    // Act
    let (status, minted) = mint(app.addr, &body).await;

    // Assert: a 10-minute token for the campaign's merchant that draws.
    assert_eq!(status, 200, "{minted}");
    assert_eq!(minted["openid"], "dev-player");
    assert_eq!(minted["campaign_id"], c.campaign_id.as_str());
    assert_eq!(minted["expires_at_ms"], T0 + 600_000);
    let token = minted["token"].as_str().expect("a token").to_owned();
    let won = draw_as(&app, &token, &c.campaign_id)
        .await
        .expect("a draw with the dev token");
    assert_eq!(won.into_inner().prize_name, "Cup");
    // The same openid through a gateway's token is the same player.
    let via_gateway = app.draw("dev-player", &c.campaign_id).await.expect("draw");
    assert_eq!(via_gateway.draw_sequence, 2);

    // Bad requests name the field; an unknown campaign is 404.
    let (s, e) = mint(app.addr, r#"{"campaign_id":"nope","openid":"p"}"#).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("campaign_id")), "{e}");
    let (s, e) = mint(
        app.addr,
        &format!(r#"{{"campaign_id":"{}","openid":"  "}}"#, c.campaign_id),
    )
    .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("openid")), "{e}");
    let (s, e) = mint(
        app.addr,
        &format!(r#"{{"campaign_id":"{}"}}"#, uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"].as_str().is_some_and(|m| m.starts_with("body: ")),
        "{e}"
    );
    let (s, e) = mint(
        app.addr,
        &format!(
            r#"{{"campaign_id":"{}","openid":"p"}}"#,
            uuid::Uuid::new_v4()
        ),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (404, Some("campaign not found")));
    let get = http1(app.addr, "GET", "/dev/player-token", &[], b"").await;
    assert_eq!(get.status, 405);

    // The tokens die with the process: its secret was its own.
    app.crash_and_restart().await;
    let after = draw_as(&app, &token, &c.campaign_id).await;
    assert_code(after, tonic::Code::Unauthenticated, None);
}

async fn the_dev_token_issuer_is_off_by_default(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    let c = cup_wheel(&app).await;

    // Act
    let (status, answer) = mint(
        app.addr,
        &format!(r#"{{"campaign_id":"{}","openid":"p"}}"#, c.campaign_id),
    )
    .await;

    // Assert: refused (404, saying why), and a token that claims the dev issuer is
    // refused whatever it was signed with.
    assert_eq!(status, 404);
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|m| m.starts_with("the development token issuer is off")),
        "{answer}"
    );
    let now = app.clock_now() / 1000;
    let forged = campaign::domain::credential::sign_player_token(
        &[7; 32],
        &campaign::domain::credential::PlayerClaims {
            iss: format!(
                "campaign-engine-dev/{}",
                campaign::store::access::DEFAULT_MERCHANT_ID
            ),
            aud: "campaign-engine".into(),
            sub: "p".into(),
            iat: now,
            exp: now + 600,
        },
    );
    let r = app
        .player()
        .get_wheel(with(
            &forged,
            pb::GetWheelRequest {
                campaign_id: c.campaign_id.clone(),
            },
        ))
        .await;
    assert_code(r, tonic::Code::Unauthenticated, None);
}

async fn the_console_and_h5_pages_are_served(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;

    // Act + Assert: each page and script with its type and the CSP.
    for (path, kind, needle) in [
        ("/console/", "text/html", "Campaign console"),
        ("/console/console.js", "text/javascript", "EngineWeb"),
        ("/console/console.css", "text/css", "badge"),
        ("/h5/", "text/html", "/h5/h5.js"),
        ("/h5/h5.js", "text/javascript", "/dev/player-token"),
        ("/h5/h5.css", "text/css", "#wheel"),
        (
            "/web/grpc-web.js",
            "text/javascript",
            "application/grpc-web+proto",
        ),
    ] {
        let r = http1(app.addr, "GET", path, &[], b"").await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with(kind)),
            "{path}: {:?}",
            r.header("content-type")
        );
        assert!(
            r.header("content-security-policy")
                .is_some_and(|p| p.starts_with("default-src 'self'")),
            "{path}"
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert!(String::from_utf8_lossy(&r.body).contains(needle), "{path}");
    }
    // Short paths redirect, keeping the query.
    let h5 = http1(app.addr, "GET", "/h5?campaign=abc", &[], b"").await;
    assert_eq!(
        (h5.status, h5.header("location")),
        (303, Some("/h5/?campaign=abc"))
    );
    let root = http1(app.addr, "GET", "/", &[], b"").await;
    assert_eq!(root.header("location"), Some("/console/"));
    // The pages do not take a gRPC path's place, nor the other way round.
    let missing = http1(app.addr, "GET", "/console/nope.js", &[], b"").await;
    assert!(missing.status >= 400);
    app.draw("p", "not-a-uuid")
        .await
        .expect_err("still gRPC beside the pages");
}

both_backends!(
    the_console_and_h5_pages_are_served,
    grpc_web_calls_real_rpcs_and_cors_admits_only_listed_origins,
    with_no_allow_list_no_origin_is_admitted,
    the_dev_token_issuer_mints_player_tokens_when_on,
    the_dev_token_issuer_is_off_by_default,
);

/// A published wheel: one cup (stock 3) and the THANKS fallback.
async fn cup_wheel(app: &TestApp) -> pb::Campaign {
    app.wheel(
        rules(5, 5),
        vec![slot("Cup", PrizeKind::Physical, 1, 3), thanks(0)],
        1,
        true,
    )
    .await
}
