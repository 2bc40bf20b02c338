//! The checker: after the faults, the history and the database must
//! show no oversell, no acknowledged effect lost, one effect and one
//! identical answer per key, daily and total limits held on every
//! campaign day, money balanced to the cent, leaderboard equal to the
//! accepted votes, one coupon per won coupon prize, at most one live
//! redemption per coupon, the audit chain valid, SQLite integrity, and
//! progress after the last fault.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    process::Command,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use engine_proto::{campaign::v1 as pb, coupon::v1 as cpb};
use prost::Message;
use test_kit::coupon_kit as kit;
use test_kit::harness::{Backend, TestDb, wait_serving, with};

use crate::{
    history::Resolved,
    hostile,
    nemesis::Strikes,
    profile::Profile,
    setup::{VOTES_PER_CANDIDATE_DAY, VOTES_PER_DAY, VOTES_TOTAL},
    workload::{Op, Outcome, Req, Targets},
};

/// What the checker reads besides the database.
pub(crate) struct Evidence<'a> {
    /// The run's seed, profile and backend, for every message.
    pub(crate) ctx: &'a str,
    pub(crate) backend: Backend,
    pub(crate) prof: Profile,
    pub(crate) resolved: &'a Resolved,
    /// How long until the liveness probe's draw succeeded.
    pub(crate) progress_after: Duration,
    pub(crate) strikes: &'a Strikes,
    pub(crate) neighbour_struck: &'a hostile::Struck,
}

/// Every check, in order; `engine_addr` and `admin_key` export the audit
/// trail.
pub(crate) async fn check(
    db: &TestDb,
    ev: &Evidence<'_>,
    targets: &Targets,
    engine_addr: SocketAddr,
    admin_key: &str,
) {
    let (ctx, id) = (ev.ctx, targets.campaign.as_str());
    tally(ev);
    let applied = answers(db, ev, targets).await;
    effects(db, ev, &applied, targets).await;
    // C6 money, C8 votes, C10 share counters.
    db.assert_money_balances().await;
    db.assert_leaderboard_matches_votes().await;
    db.assert_sharing_balances().await;
    // Issue 25: every effect's event numbered, none lost across the kills.
    db.assert_events_numbered(Duration::from_secs(30)).await;
    db.assert_events_match_effects().await;
    limits(db, ev, id).await;
    // Liveness: progress within 30 s of the last fault.
    let progress_after = ev.progress_after;
    assert!(
        progress_after < Duration::from_secs(30),
        "{ctx}: no progress for {progress_after:?} after the last fault"
    );
    coupons(db, ctx, id).await;
    kit::assert_coupon_invariants(db).await;
    audit(db, ctx, engine_addr, admin_key).await;
    if ev.backend == Backend::Sqlite {
        sqlite_integrity(db, ctx);
    }
}

/// The run's tally on the report, and proof that every nemesis struck and
/// the faults bit.
fn tally(ev: &Evidence<'_>) {
    let (ctx, history, strikes) = (ev.ctx, &ev.resolved.history, ev.strikes);
    let (unknown, resolved_ok, progress_after) = (
        ev.resolved.unknown,
        ev.resolved.resolved_ok,
        ev.progress_after,
    );
    let (backend, neighbour_struck) = (ev.backend, ev.neighbour_struck);
    let ops = history.len();
    let count = |o: Outcome| history.iter().filter(|x| x.outcome == o).count();
    let per_kind = |name: &str| history.iter().filter(|x| x.req.name() == name).count();
    report(&format!(
        "{ctx}: {ops} operations (ok {}, fail {}, unknown {} of which {} applied; draws {}, votes {}, grabs {}, shares {}, opens {}, claims {}, redeems {}, reversals {}), {} engine kills, {} PostgreSQL backend kills, {} PostgreSQL restarts, {} clock jumps, {} coupon-service outages, progress {:?} after the last fault",
        count(Outcome::Ok),
        count(Outcome::Fail),
        unknown,
        resolved_ok,
        per_kind("draw"),
        per_kind("vote"),
        per_kind("grab"),
        per_kind("share"),
        per_kind("open"),
        per_kind("claim"),
        per_kind("redeem"),
        per_kind("reverse"),
        strikes.kills.load(Ordering::SeqCst),
        strikes.pg_faults.load(Ordering::SeqCst),
        strikes.pg_restarts.load(Ordering::SeqCst),
        strikes.clock_jumps.load(Ordering::SeqCst),
        strikes.road_cuts.load(Ordering::SeqCst),
        progress_after
    ));
    if backend == Backend::Postgres {
        assert!(
            strikes.pg_faults.load(Ordering::SeqCst) >= 1,
            "{ctx}: PostgreSQL was never faulted"
        );
    }
    let struck = strikes.kills.load(Ordering::SeqCst)
        + strikes.pg_faults.load(Ordering::SeqCst)
        + strikes.pg_restarts.load(Ordering::SeqCst);
    assert!(
        struck >= 3 && strikes.kills.load(Ordering::SeqCst) >= 1,
        "{ctx}: the nemesis must have struck"
    );
    assert!(
        strikes.clock_jumps.load(Ordering::SeqCst) >= 2
            && strikes.road_cuts.load(Ordering::SeqCst) >= 1,
        "{ctx}: the clock and coupon nemeses must have struck"
    );
    report(&format!("{ctx}: {}", neighbour_struck.summary()));
    assert!(
        neighbour_struck.every_kind(),
        "{ctx}: every kind of hostile neighbour attack must have reached the engine: {}",
        neighbour_struck.summary()
    );
    assert!(
        unknown > 0,
        "{ctx}: no operation was left unknown; the faults did not bite"
    );
}

/// C5: one answer per key, byte-identical for every ok copy; C3: every
/// acknowledged effect is in the database, as answered. Returns how many
/// keys of each kind were applied.
async fn answers(db: &TestDb, ev: &Evidence<'_>, targets: &Targets) -> HashMap<&'static str, i64> {
    let (ctx, history) = (ev.ctx, &ev.resolved.history);
    let mut by_key: HashMap<&str, Vec<&Op>> = HashMap::new();
    for op in history {
        by_key.entry(&op.key).or_default().push(op);
    }
    let mut applied: HashMap<&'static str, i64> = HashMap::new();
    let mut acknowledged: Vec<(&'static str, String)> = Vec::new();
    for (k, ops) in &by_key {
        let oks: Vec<&&Op> = ops.iter().filter(|o| o.outcome == Outcome::Ok).collect();
        assert!(
            oks.windows(2).all(|w| w[0].answer == w[1].answer),
            "{ctx}: key {k} got different answers"
        );
        let Some(ok) = oks.first() else { continue };
        *applied.entry(ok.req.name()).or_default() += 1;
        // C3: every acknowledged effect is in the database, as answered.
        let (table, row) = match &ok.req {
            Req::Draw(_) => {
                let d = pb::DrawResponse::decode(ok.answer.as_slice()).expect("answer");
                let row = format!("{}|{}|{}", d.draw_id, d.slot_index, d.draw_sequence);
                ("draw", row)
            }
            Req::Vote(_) => {
                let v = pb::VoteRecord::decode(ok.answer.as_slice()).expect("answer");
                ("vote", v.vote_id)
            }
            Req::Share(_) => {
                let sh = pb::Share::decode(ok.answer.as_slice()).expect("answer");
                ("share", sh.token)
            }
            Req::Open(_) => continue,
            Req::Grab(r) => {
                let g = pb::Grab::decode(ok.answer.as_slice()).expect("answer");
                let row = format!("{}|{}|{}", r.packet_id, g.grab_seq, g.amount_cents);
                ("grab", row)
            }
            Req::Claim(_) => {
                let c = cpb::Coupon::decode(ok.answer.as_slice()).expect("answer");
                ("claim", c.coupon_id)
            }
            Req::Redeem(_) => {
                let red = cpb::Redemption::decode(ok.answer.as_slice()).expect("answer");
                ("redeem", red.redemption_id)
            }
            Req::Reverse(r) => ("reverse", r.redemption_id.clone()),
        };
        acknowledged.push((table, row));
    }
    let stored = Stored::read(db, &targets.campaign, &targets.template).await;
    for (table, row) in &acknowledged {
        assert!(
            stored.has(table, row),
            "{ctx}: acknowledged {table} {row} lost or changed"
        );
    }
    applied
}

/// Each kind's effects in the database against its keys answered ok;
/// every kind applied, and some requests refused.
async fn effects(
    db: &TestDb,
    ev: &Evidence<'_>,
    applied: &HashMap<&'static str, i64>,
    targets: &Targets,
) {
    let (ctx, history, id) = (ev.ctx, &ev.resolved.history, &targets.campaign);
    let count = |o: Outcome| history.iter().filter(|x| x.outcome == o).count();
    let applied = |name: &str| applied.get(name).copied().unwrap_or(0);
    // C4: every unknown resolved; nothing applied without an ok answer
    // (the draws count the liveness probe's one draw too).
    let effects: [(&str, &'static str, i64); 7] = [
        (
            "draw",
            "SELECT COUNT(*) FROM draw WHERE campaign_id = $1",
            1,
        ),
        (
            "vote",
            "SELECT COUNT(*) FROM vote WHERE campaign_id = $1",
            0,
        ),
        (
            "grab",
            "SELECT COUNT(*) FROM packet_grab g JOIN red_packet p ON p.packet_id = g.packet_id \
             WHERE p.campaign_id = $1",
            0,
        ),
        // Three root shares were made before the run.
        (
            "share",
            "SELECT COUNT(*) FROM share WHERE campaign_id = $1",
            3,
        ),
        (
            "claim",
            "SELECT COUNT(*) FROM coupon WHERE source = 'claim' AND template_id = $1",
            0,
        ),
        (
            "redeem",
            "SELECT COUNT(*) FROM coupon_redemption r JOIN coupon c ON c.coupon_id = r.coupon_id \
             WHERE c.template_id = $1",
            0,
        ),
        (
            "reverse",
            "SELECT COUNT(*) FROM coupon_redemption r JOIN coupon c ON c.coupon_id = r.coupon_id \
             WHERE c.template_id = $1 AND r.reversed_at IS NOT NULL",
            0,
        ),
    ];
    for (name, sql, extra) in effects {
        let arg = if matches!(name, "claim" | "redeem" | "reverse") {
            &targets.template
        } else {
            id
        };
        assert_eq!(
            db.scalar(sql, arg).await,
            applied(name) + extra,
            "{ctx}: {name} effects in the database vs keys answered ok"
        );
    }
    for name in [
        "draw", "vote", "grab", "share", "claim", "redeem", "reverse",
    ] {
        assert!(applied(name) > 0, "{ctx}: the run applied no {name}");
    }
    assert!(
        count(Outcome::Fail) > 0,
        "{ctx}: no player reached a limit; the run proves less"
    );
}

/// C1: stock, caps and the draw limits on every campaign day; the vote
/// limits; and a ledger order without gaps.
async fn limits(db: &TestDb, ev: &Evidence<'_>, id: &str) {
    let (ctx, backend, prof) = (ev.ctx, ev.backend, ev.prof);
    // C1: stock and caps, on every campaign day.
    db.assert_stock_balances(id).await;
    let over = |sql: &'static str| async move { db.scalar(sql, id).await };
    assert_eq!(
        over("SELECT COUNT(*) FROM player_draws WHERE campaign_id = $1 AND draws > (SELECT draws_total FROM campaign WHERE campaign_id = $1)").await,
        0,
        "{ctx}: a player drew more than the total limit"
    );
    assert_eq!(
        over("SELECT COUNT(*) FROM (SELECT player_id, day FROM draw WHERE campaign_id = $1 GROUP BY player_id, day HAVING COUNT(*) > (SELECT draws_per_day FROM campaign WHERE campaign_id = $1)) d").await,
        0,
        "{ctx}: a player drew more than the daily limit on some day"
    );
    assert_eq!(
        over("SELECT COUNT(*) FROM player_daily_draws p WHERE p.campaign_id = $1 AND p.draws <> (SELECT COUNT(*) FROM draw d WHERE d.campaign_id = p.campaign_id AND d.player_id = p.player_id AND d.day = p.day)").await,
        0,
        "{ctx}: daily draw counters disagree with the ledger"
    );
    assert_eq!(
        over("SELECT COUNT(*) FROM player_draws p WHERE p.campaign_id = $1 AND p.draws <> (SELECT COUNT(*) FROM draw d WHERE d.campaign_id = p.campaign_id AND d.player_id = p.player_id)").await,
        0,
        "{ctx}: total draw counters disagree with the ledger"
    );
    assert!(
        over("SELECT COUNT(DISTINCT day) FROM draw WHERE campaign_id = $1").await >= 2,
        "{ctx}: the draws never crossed the campaign's midnight"
    );
    let days_full = over("SELECT COUNT(*) FROM (SELECT player_id, day FROM draw WHERE campaign_id = $1 GROUP BY player_id, day HAVING COUNT(*) = (SELECT draws_per_day FROM campaign WHERE campaign_id = $1)) d").await;
    let spent = over("SELECT COUNT(*) FROM player_draws WHERE campaign_id = $1 AND draws = (SELECT draws_total FROM campaign WHERE campaign_id = $1)").await;
    report(&format!(
        "{ctx}: {days_full} player-days drew exactly the daily limit, {spent} players the total"
    ));
    // The short profile may end before PostgreSQL's players get there. On
    // PostgreSQL a slow machine can keep every player below the daily limit
    // on the first campaign day (then nobody's second day is exactly full
    // either); reaching the total still drives the limit guards, so there
    // one of the two must be reached, on SQLite both.
    let reached = match backend {
        Backend::Sqlite => days_full > 0 && spent > 0,
        Backend::Postgres => days_full > 0 || spent > 0,
    };
    assert!(
        reached || prof.name == "quick",
        "{ctx}: no player reached the daily and the total limits; the run proves less"
    );
    assert!(
        over("SELECT COALESCE(MAX(won), 0) FROM player_prize_count WHERE campaign_id = $1 AND slot_index = 0").await <= 3,
        "{ctx}: a per-user cap was exceeded"
    );
    // Votes: per day, per candidate and day, and in total.
    for (sql, cap, what) in [
        (
            "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM vote WHERE campaign_id = $1 AND status = 'accepted' GROUP BY player_id, day) v",
            VOTES_PER_DAY,
            "votes a day",
        ),
        (
            "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM vote WHERE campaign_id = $1 AND status = 'accepted' GROUP BY player_id, candidate_id, day) v",
            VOTES_PER_CANDIDATE_DAY,
            "votes for a candidate a day",
        ),
        (
            "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM vote WHERE campaign_id = $1 AND status = 'accepted' GROUP BY player_id) v",
            VOTES_TOTAL,
            "votes in total",
        ),
    ] {
        assert!(over(sql).await <= cap, "{ctx}: a player exceeded {what}");
    }
    // Ledger order has no gap even across crashes.
    let draws = over("SELECT COUNT(*) FROM draw WHERE campaign_id = $1").await;
    let (lo, hi) = db
        .pairs(
            "SELECT MIN(ledger_seq), MAX(ledger_seq) FROM draw WHERE campaign_id = $1",
            id,
        )
        .await[0];
    assert_eq!((lo, hi), (1, draws), "{ctx}: ledger sequence has gaps");
}

/// The prize outbox drained, one coupon per won coupon prize, and
/// deliveries that failed while the coupon road was cut.
async fn coupons(db: &TestDb, ctx: &str, id: &str) {
    let over = |sql: &'static str| async move { db.scalar(sql, id).await };
    // C7: every won coupon prize yields exactly one coupon: the outbox,
    // whose road was cut again and again, drains within 60 s (C12).
    let drained_by = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting = over(
            "SELECT COUNT(*) FROM prize_outbox WHERE campaign_id = $1 AND delivered_at IS NULL",
        )
        .await;
        if waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < drained_by,
            "{ctx}: {waiting} won coupon prizes still undelivered 60 s after the faults"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let won_coupons =
        over("SELECT COUNT(*) FROM prize_award WHERE campaign_id = $1 AND kind = 'coupon'").await;
    let prize_coupons = over(
        "SELECT COUNT(*) FROM coupon c WHERE c.source = 'prize' AND EXISTS (SELECT 1 FROM prize_award a \
         WHERE a.campaign_id = $1 AND (a.draw_id = c.source_id OR a.award_id = c.source_id))",
    )
    .await;
    assert!(won_coupons > 0, "{ctx}: no coupon prize was won");
    assert_eq!(
        prize_coupons, won_coupons,
        "{ctx}: won coupon prizes vs coupons issued for them"
    );
    assert!(
        over("SELECT COUNT(*) FROM prize_outbox WHERE campaign_id = $1 AND attempts > 0").await > 0,
        "{ctx}: no delivery ever failed; the coupon service was never down when it mattered"
    );
}

/// The audit trail survived the crashes as a valid hash chain, checked by
/// the independent verifier.
async fn audit(db: &TestDb, ctx: &str, engine_addr: SocketAddr, admin_key: &str) {
    let mut audit = engine_proto::campaign::v1::audit_service_client::AuditServiceClient::new(
        wait_serving(engine_addr).await,
    );
    let mut stream = audit
        .export_audit_log(with(admin_key, pb::ExportAuditLogRequest {}))
        .await
        .expect("audit export")
        .into_inner();
    let mut audit_lines = Vec::new();
    while let Some(line) = stream.message().await.expect("audit line") {
        audit_lines.push(line.json);
    }
    let audit_file = db.dir.join("audit.jsonl");
    std::fs::write(&audit_file, audit_lines.join("\n") + "\n").expect("write audit");
    let verified = Command::new("python3")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_fairness.py"))
        .arg(&audit_file)
        .output()
        .expect("python3 runs the verifier");
    let verdict = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(
        verified.status.success() && verdict.starts_with("VALID") && audit_lines.len() > 5,
        "{ctx}: audit chain: {verdict}"
    );
}

/// SQLite's own integrity check of the database file.
fn sqlite_integrity(db: &TestDb, ctx: &str) {
    let path = db.url.trim_start_matches("sqlite:").to_owned();
    let out = Command::new("python3")
        .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])", &path])
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{ctx}: integrity_check"
    );
}

/// Every effect of the run as stored, one text row per effect, read in
/// one query a kind (checking tens of thousands of acknowledged effects one
/// query each would take minutes on PostgreSQL).
struct Stored(HashMap<&'static str, std::collections::HashSet<String>>);

impl Stored {
    async fn read(db: &TestDb, campaign: &str, template: &str) -> Self {
        let kinds: [(&'static str, &'static str, &str); 7] = [
            (
                "draw",
                "SELECT draw_id || '|' || CAST(awarded_slot AS TEXT) || '|' || CAST(draw_seq AS TEXT) \
                 FROM draw WHERE campaign_id = $1",
                campaign,
            ),
            (
                "vote",
                "SELECT vote_id FROM vote WHERE campaign_id = $1 AND status = 'accepted'",
                campaign,
            ),
            (
                "share",
                "SELECT token FROM share WHERE campaign_id = $1",
                campaign,
            ),
            (
                "grab",
                "SELECT g.packet_id || '|' || CAST(g.grab_seq AS TEXT) || '|' || CAST(g.amount AS TEXT) \
                 FROM packet_grab g JOIN red_packet p ON p.packet_id = g.packet_id \
                 WHERE p.campaign_id = $1",
                campaign,
            ),
            (
                "claim",
                "SELECT coupon_id FROM coupon WHERE template_id = $1 AND source = 'claim'",
                template,
            ),
            (
                "redeem",
                "SELECT r.redemption_id FROM coupon_redemption r \
                 JOIN coupon c ON c.coupon_id = r.coupon_id WHERE c.template_id = $1",
                template,
            ),
            (
                "reverse",
                "SELECT r.redemption_id FROM coupon_redemption r \
                 JOIN coupon c ON c.coupon_id = r.coupon_id \
                 WHERE c.template_id = $1 AND r.reversed_at IS NOT NULL",
                template,
            ),
        ];
        let mut out = HashMap::new();
        for (kind, sql, arg) in kinds {
            out.insert(kind, text_column(db, sql, arg).await.into_iter().collect());
        }
        Self(out)
    }

    fn has(&self, kind: &str, row: &str) -> bool {
        self.0.get(kind).is_some_and(|rows| rows.contains(row))
    }
}

/// The first column of every row, as text.
async fn text_column(db: &TestDb, sql: &'static str, arg: &str) -> Vec<String> {
    use sqlx::Connection;
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("open sqlite");
            sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_all(&mut c)
                .await
                .expect("query")
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("open pg");
            sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_all(&mut c)
                .await
                .expect("query")
        }
    }
}

/// A line of the run's report: on stderr, and appended to
/// `$CAMPAIGN_FAULT_REPORT_DIR/faults.txt` when set (scripts/test.sh prints
/// it after the suite, whose output cargo test otherwise hides).
pub(crate) fn report(line: &str) {
    use std::io::Write;
    eprintln!("{line}");
    if let Some(dir) = std::env::var_os("CAMPAIGN_FAULT_REPORT_DIR")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(PathBuf::from(dir).join("faults.txt"))
    {
        let _ = writeln!(f, "{line}");
    }
}
