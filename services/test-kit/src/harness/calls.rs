//! Building calls: credentials on a request, keys, wheel rules and slots,
//! a built wheel, gateway tokens, a status assertion, raw HTTP GETs.

use super::*;

/// A request with `Bearer <credential>` (none when empty).
pub fn with<T>(credential: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if credential.is_empty() {
        return r;
    }
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {credential}")
            .parse()
            .expect("ascii credential"),
    );
    r
}

/// A fresh idempotency key.
pub fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Default rules: open from a day before T0 to 30 days after.
pub fn rules(per_day: i64, total: i64) -> pb::CreateWheelRequest {
    pb::CreateWheelRequest {
        idempotency_key: key(),
        name: "Autumn wheel".into(),
        starts_at_ms: T0 - DAY,
        ends_at_ms: T0 + 30 * DAY,
        time_zone: String::new(),
        draws_per_day: per_day,
        draws_total: total,
    }
}

pub fn slot(name: &str, kind: pb::PrizeKind, weight: i64, stock: i64) -> pb::PrizeSlotSpec {
    pb::PrizeSlotSpec {
        name: name.into(),
        kind: kind as i32,
        weight,
        stock,
        reference: if matches!(kind, pb::PrizeKind::Coupon | pb::PrizeKind::TopupCode) {
            // Known to the stand-in coupon peer; not delivered.
            coupon_peer::KNOWN_REFERENCE.into()
        } else {
            String::new()
        },
        amount: if matches!(kind, pb::PrizeKind::Points | pb::PrizeKind::Cash) {
            100
        } else {
            0
        },
        ..Default::default()
    }
}

pub fn thanks(weight: i64) -> pb::PrizeSlotSpec {
    slot("Thanks for taking part", pb::PrizeKind::Thanks, weight, 0)
}

/// Asserts the code (and, when given, that the message names `field`).
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(r: Result<T, Status>, code: Code, field: Option<&str>) {
    match r {
        Ok(v) => panic!("expected {code:?}, got Ok({v:?})"),
        Err(s) => {
            assert_eq!(s.code(), code, "message: {}", s.message());
            if let Some(f) = field {
                assert!(
                    s.message().starts_with(&format!("{f}:")),
                    "message {:?} should name {f}",
                    s.message()
                );
            }
        }
    }
}

/// Creates another merchant in the same database (as the
/// `create-merchant` command does) and returns its admin key.
pub async fn other_merchant(db: &TestDb) -> String {
    let (_, key) =
        on_store!(db, |store| store.create_merchant("other", T0).await).expect("create merchant");
    key.full
}

/// A free TCP port on 127.0.0.1 (for the engine binary).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts the real `campaign-service` binary `bin` (its suite's
/// `env!("CARGO_BIN_EXE_campaign-service")`) on `db`, listening on `port`.
pub fn start_engine(bin: &str, db: &TestDb, port: u16) -> Child {
    Command::new(bin)
        .env("CAMPAIGN_LISTEN", format!("127.0.0.1:{port}"))
        .env("CAMPAIGN_DATABASE_URL", &db.url)
        .env("CAMPAIGN_BOOTSTRAP_KEY_FILE", db.dir.join("admin.key"))
        .env("CAMPAIGN_PG_MAX_CONNECTIONS", "8")
        // These clients hammer on purpose; the rate limit has its own test.
        .env("CAMPAIGN_PLAYER_RATE_PER_SEC", "0")
        // No coupon service in these suites; wins wait in the outbox.
        .env("CAMPAIGN_COUPON_ENDPOINT", "none")
        .env("RUST_LOG", "error")
        .current_dir(&db.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start campaign-service")
}

/// The secret part of `cek_<key id>_<secret>` (the secret is base64url and
/// may itself contain `_`).
pub fn api_key_secret(full: &str) -> &str {
    full.splitn(3, '_').nth(2).expect("cek_<id>_<secret>")
}

/// Creates a wheel through `admin` with these slots and fallback, and
/// publishes it when `publish`.
pub async fn build_wheel(
    admin: &mut AdminServiceClient<Channel>,
    admin_key: &str,
    rules: pb::CreateWheelRequest,
    slots: Vec<pb::PrizeSlotSpec>,
    fallback: u32,
    publish: bool,
) -> pb::Campaign {
    let mut c = admin
        .create_wheel(with(admin_key, rules))
        .await
        .expect("create wheel")
        .into_inner();
    for s in slots {
        c = admin
            .add_prize_slot(with(
                admin_key,
                pb::AddPrizeSlotRequest {
                    idempotency_key: key(),
                    campaign_id: c.campaign_id.clone(),
                    slot: Some(s),
                },
            ))
            .await
            .expect("add slot")
            .into_inner();
    }
    c = admin
        .set_fallback_slot(with(
            admin_key,
            pb::SetFallbackSlotRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                index: fallback,
            },
        ))
        .await
        .expect("set fallback")
        .into_inner();
    if publish {
        c = admin
            .publish_campaign(with(
                admin_key,
                pb::CampaignTransitionRequest {
                    idempotency_key: key(),
                    campaign_id: c.campaign_id.clone(),
                },
            ))
            .await
            .expect("publish")
            .into_inner();
    }
    c
}

/// For suites that run the real binary (wall clock): registers the gateway
/// `gw` with `secret` and returns now in Unix milliseconds.
pub async fn register_gateway(
    admin: &mut AdminServiceClient<Channel>,
    admin_key: &str,
    secret: &[u8],
) -> i64 {
    admin
        .set_player_token_key(with(
            admin_key,
            pb::SetPlayerTokenKeyRequest {
                idempotency_key: key(),
                issuer: "gw".into(),
                secret: secret.to_vec(),
                key_id: String::new(),
            },
        ))
        .await
        .expect("token key");
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as i64
}

/// A player token signed by the gateway `gw`, valid 50 minutes from `now_ms`.
pub fn gateway_token(secret: &[u8], sub: &str, now_ms: i64) -> String {
    let s = now_ms / 1000;
    sign_player_token(
        secret,
        &PlayerClaims {
            iss: "gw".into(),
            aud: "campaign-engine".into(),
            sub: sub.into(),
            iat: s,
            exp: s + 3000,
        },
    )
}

/// A plain HTTP/1.1 GET on localhost: the whole response, head and body.
pub async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the metrics port");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("response");
    out
}

/// The value of the unlabelled metric `name` on a scraped page.
pub fn metric(page: &str, name: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("missing `{name}` in:\n{page}"))
}
