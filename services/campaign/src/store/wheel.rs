//! Lucky-wheel transactions: configuration, life cycle, draws, fulfilment.
//!
//! A draw is one write transaction: look the idempotency key up (it is
//! written last, with the answer), count the
//! player's draw today and in total with guarded upserts (the limit is in
//! the `WHERE`), roll, then try to take the rolled prize (per-user cap,
//! daily release cap, stock: each a guarded write, the stock row last); if
//! any guard refuses, undo the guards already passed and give the fallback
//! slot. Then the draw row, the award row and the stored answer,
//! and commit.
//!
//! Every draw of a campaign takes the campaign row's lock (its ledger
//! number) and holds it to commit, so how long a draw holds it bounds the
//! campaign's draw rate. In the common case (THANKS, or a prize without a
//! daily cap that is not cash) the draw writes everything else first,
//! assuming the rolled prize is given, and takes the lock last, in one
//! statement with the stock; if the stock refuses, it rolls the
//! transaction back and draws again with the lock first. That order is
//! PostgreSQL's: SQLite's one writer runs one transaction at a time, so
//! there every draw takes the lock first, which writes the draw row once.

use rand::RngCore;
use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{
    Outcome, Store, StoreError,
    audit::append_audit,
    claim_key,
    db::{Db, DbRow, DbTx, Value, args, fetch_one},
    finish,
    gate::LedgerGate,
    new_id, parse_uuid, replay_of, replay_or,
};
use crate::clock::Clock;
use crate::domain::{
    Millis, Rejection,
    fairness::{canonical_prize_table, player_pseudonym, prize_table_hash, seed_commitment},
    idempotency::Idempotency,
    wheel::{
        CampaignStatus, FallbackReason, MAX_SLOTS, PrizeKind, RollInput, SlotSpec, Transition,
        WheelRules, campaign_day, check_publishable, check_window, claim_deadline, draw_roll,
        remaining_chances, slot_for_roll, total_weight,
    },
};
use tokio::sync::OwnedSemaphorePermit;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRecord {
    pub index: u32,
    pub spec: SlotSpec,
    pub remaining: i64,
}

impl SlotRecord {
    /// Units given so far: `won + remaining == stock`.
    pub fn won(&self) -> i64 {
        self.spec.stock - self.remaining
    }
}

/// What a published wheel committed to, and the seed once revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FairnessRecord {
    /// The current version of the prize table (1 at publish).
    pub version: u32,
    /// Canonical JSON of the prize table and rules (FAIRNESS.md).
    pub prize_table: String,
    pub prize_table_hash: Vec<u8>,
    pub seed_commitment: Vec<u8>,
    pub published_at: Millis,
    /// Set when the campaign has ended (by an admin or by its window).
    pub revealed_seed: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRecord {
    pub id: Uuid,
    pub merchant_id: String,
    pub rules: WheelRules,
    /// As stored; `shown_status` is what callers see.
    pub status: CampaignStatus,
    /// The window was over when the record was read (`ends_at <= now`).
    pub window_over: bool,
    pub fallback_slot: Option<u32>,
    pub created_at: Millis,
    pub slots: Vec<SlotRecord>,
    /// Present once published.
    pub fairness: Option<FairnessRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwardStatus {
    Granted,
    Won,
    Claimed,
    Shipped,
    Expired,
}

impl AwardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::Won => "won",
            Self::Claimed => "claimed",
            Self::Shipped => "shipped",
            Self::Expired => "expired",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [
            Self::Granted,
            Self::Won,
            Self::Claimed,
            Self::Shipped,
            Self::Expired,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipping {
    pub recipient: String,
    pub phone: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwardRecord {
    pub award_id: String,
    pub campaign_id: String,
    /// What earned it: a wheel draw or a share tier.
    pub source: AwardSource,
    pub player_id: String,
    pub slot_index: u32,
    pub prize_name: String,
    pub kind: PrizeKind,
    pub status: AwardStatus,
    pub won_at: Millis,
    pub claim_deadline: Option<Millis>,
    pub shipping: Option<Shipping>,
    pub tracking_number: Option<String>,
}

/// What earned a prize award: a wheel draw (by its id) or a forward-to-
/// Moments tier (by its index); exactly one, as the table's CHECK says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwardSource {
    Draw(String),
    Tier(u32),
}

impl AwardSource {
    /// The draw's id; empty for a tier award.
    pub fn draw_id(&self) -> &str {
        match self {
            Self::Draw(id) => id,
            Self::Tier(_) => "",
        }
    }
}

impl CampaignRecord {
    /// The status callers see (`CampaignStatus::shown`).
    pub fn shown_status(&self) -> CampaignStatus {
        self.status.shown(self.window_over)
    }
}

impl AwardRecord {
    /// A WON prize past its deadline is EXPIRED, whether or not the sweep
    /// has written that yet.
    pub fn status_at(&self, now: Millis) -> AwardStatus {
        match (self.status, self.claim_deadline) {
            (AwardStatus::Won, Some(d)) if now > d => AwardStatus::Expired,
            (s, _) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawOutcome {
    pub draw_id: String,
    pub draw_sequence: i64,
    pub rolled_slot: u32,
    pub slot: u32,
    pub prize_name: String,
    pub kind: PrizeKind,
    pub fallback: FallbackReason,
    pub remaining_today: i64,
    pub remaining_total: i64,
    pub award: Option<AwardRecord>,
    pub drawn_at: Millis,
    pub table_version: u32,
}

/// One draw as the ledger holds it, with every input of its roll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerDraw {
    pub ledger_seq: i64,
    pub draw_id: String,
    pub player_pseudonym: String,
    pub draw_sequence: i64,
    pub day: String,
    pub drawn_at: Millis,
    pub roll: i64,
    pub rolled_slot: u32,
    pub awarded_slot: u32,
    pub fallback: String,
    pub table_version: i64,
}

/// One version of a campaign's prize table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableVersion {
    pub version: i64,
    pub prize_table: String,
    pub prize_table_hash: Vec<u8>,
    pub seed_commitment: Vec<u8>,
    pub first_ledger_seq: i64,
}

/// What an export streams, in order: the campaign, its draws in ledger
/// order, then the stock as of the same snapshot.
#[derive(Debug, Clone)]
pub enum ExportItem {
    Campaign(Box<CampaignRecord>, Vec<TableVersion>),
    Draw(LedgerDraw),
    Stock {
        draws: i64,
        remaining: Vec<(u32, i64)>,
    },
    /// Extra draws a player earned on a day (after the stock line):
    /// `(player pseudonym, day, granted)`.
    Chance(String, String, i64),
    /// A red packet of the campaign, after the stock line.
    Packet(Box<super::money::PacketExport>),
}

/// Who draws, where, when.
#[derive(Debug, Clone)]
pub struct DrawCommand {
    pub merchant_id: String,
    pub player_id: String,
    pub campaign_id: Uuid,
    pub channel: Option<String>,
}

// The seed is read only once revealed: the campaign has ended, or its
// window is over at $2 (now).
const SELECT_CAMPAIGN: &str = "SELECT campaign_id, merchant_id, name, status, starts_at, ends_at, \
     time_zone, draws_per_day, draws_total, fallback_slot, created_at, prize_table, \
     prize_table_hash, seed_commitment, published_at, \
     CASE WHEN status = 'ended' OR ends_at <= $2 THEN roll_secret END, table_version \
     FROM campaign WHERE campaign_id = $1";
const SELECT_SLOTS: &str = "SELECT slot_index, name, kind, weight, initial_stock, remaining, \
     daily_cap, per_user_cap, reference, amount, claim_days \
     FROM prize_slot WHERE campaign_id = $1 ORDER BY slot_index";
const SELECT_AWARD: &str = "SELECT a.award_id, a.campaign_id, a.draw_id, a.player_id, a.slot_index, \
     a.prize_name, a.kind, a.status, a.won_at, a.claim_deadline, a.recipient, a.phone, a.address, \
     a.tracking_number, c.merchant_id, a.tier_index \
     FROM prize_award a JOIN campaign c ON c.campaign_id = a.campaign_id WHERE a.award_id = $1";

fn corrupt(what: &str, v: impl std::fmt::Debug) -> StoreError {
    StoreError::Corrupt(format!("{what} {v:?}"))
}

fn status_of(s: &str) -> Result<CampaignStatus, StoreError> {
    CampaignStatus::parse(s).ok_or_else(|| corrupt("campaign status", s))
}

fn kind_of(s: &str) -> Result<PrizeKind, StoreError> {
    PrizeKind::parse(s).ok_or_else(|| corrupt("prize kind", s))
}

fn index_of(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| corrupt("slot index", v))
}

fn slot_from_row(r: &impl DbRow) -> Result<SlotRecord, StoreError> {
    slot_from_row_at(r, 0)
}

/// A slot from SELECT_SLOTS's columns, starting at column `at`.
fn slot_from_row_at(r: &impl DbRow, at: usize) -> Result<SlotRecord, StoreError> {
    Ok(SlotRecord {
        index: index_of(r.int(at)?)?,
        spec: SlotSpec {
            name: r.text(at + 1)?,
            kind: kind_of(&r.text(at + 2)?)?,
            weight: r.int(at + 3)?,
            stock: r.int(at + 4)?,
            daily_cap: r.opt_int(at + 6)?,
            per_user_cap: r.opt_int(at + 7)?,
            reference: r.opt_text(at + 8)?,
            amount: r.int(at + 9)?,
            claim_days: r.int(at + 10)?,
        },
        remaining: r.int(at + 5)?,
    })
}

/// An award row (SELECT_AWARD's columns) and its campaign's merchant.
/// `draw_id` and `tier_index` are both nullable; exactly one is set.
fn award_from_row(r: &impl DbRow) -> Result<(AwardRecord, String), StoreError> {
    let source = match (r.opt_text(2)?, r.opt_int(15)?) {
        (Some(draw), None) => AwardSource::Draw(draw),
        (None, Some(tier)) => AwardSource::Tier(index_of(tier)?),
        other => return Err(corrupt("award source (draw, tier)", other)),
    };
    let shipping = match (r.opt_text(10)?, r.opt_text(11)?, r.opt_text(12)?) {
        (Some(recipient), Some(phone), Some(address)) => Some(Shipping {
            recipient,
            phone,
            address,
        }),
        _ => None,
    };
    let status = r.text(7)?;
    Ok((
        AwardRecord {
            award_id: r.text(0)?,
            campaign_id: r.text(1)?,
            source,
            player_id: r.text(3)?,
            slot_index: index_of(r.int(4)?)?,
            prize_name: r.text(5)?,
            kind: kind_of(&r.text(6)?)?,
            status: AwardStatus::parse(&status).ok_or_else(|| corrupt("award status", &status))?,
            won_at: r.int(8)?,
            claim_deadline: r.opt_int(9)?,
            shipping,
            tracking_number: r.opt_text(13)?,
        },
        r.text(14)?,
    ))
}

async fn load_campaign<T: DbTx>(
    tx: &mut T,
    id: Uuid,
    now: Millis,
) -> Result<CampaignRecord, StoreError> {
    let r = fetch_one(tx, "campaign", SELECT_CAMPAIGN, args![id.to_string(), now]).await?;
    let fairness = match (
        r.opt_text(11)?,
        r.opt_bytes(12)?,
        r.opt_bytes(13)?,
        r.opt_int(14)?,
    ) {
        (Some(prize_table), Some(prize_table_hash), Some(seed_commitment), Some(published_at)) => {
            Some(FairnessRecord {
                version: index_of(r.int(16)?)?,
                prize_table,
                prize_table_hash,
                seed_commitment,
                published_at,
                revealed_seed: r.opt_bytes(15)?,
            })
        }
        _ => None,
    };
    let slots = tx
        .fetch_all(SELECT_SLOTS, args![id.to_string()])
        .await?
        .iter()
        .map(slot_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CampaignRecord {
        id: parse_uuid(&r.text(0)?)?,
        merchant_id: r.text(1)?,
        rules: WheelRules {
            name: r.text(2)?,
            starts_at: r.int(4)?,
            ends_at: r.int(5)?,
            time_zone: r.text(6)?,
            draws_per_day: r.int(7)?,
            draws_total: r.int(8)?,
        },
        status: status_of(&r.text(3)?)?,
        window_over: r.int(5)? <= now,
        fallback_slot: r.opt_int(9)?.map(index_of).transpose()?,
        created_at: r.int(10)?,
        slots,
        fairness,
    })
}

/// Locks the campaign row of this merchant for an edit (the UPDATE takes the
/// row lock on PostgreSQL; SQLite's writer is already exclusive) and
/// explains a refusal: unknown, another merchant's, or not in `want`.
async fn lock_campaign<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    id: Uuid,
    draft_only: bool,
    now: Millis,
) -> Result<(), StoreError> {
    let n = if draft_only {
        tx.execute(
            "UPDATE campaign SET updated_at = $3 \
             WHERE campaign_id = $1 AND merchant_id = $2 AND status = 'draft'",
            args![id.to_string(), merchant_id, now],
        )
        .await?
    } else {
        tx.execute(
            "UPDATE campaign SET updated_at = $3 WHERE campaign_id = $1 AND merchant_id = $2",
            args![id.to_string(), merchant_id, now],
        )
        .await?
    };
    if n == 1 {
        return Ok(());
    }
    let r = fetch_one(
        tx,
        "campaign",
        "SELECT merchant_id, status FROM campaign WHERE campaign_id = $1",
        args![id.to_string()],
    )
    .await?;
    if r.text(0)? != merchant_id {
        return Err(StoreError::OtherMerchant("campaign"));
    }
    Err(Rejection::NotDraft(status_of(&r.text(1)?)?.as_str()).into())
}

/// Reads a campaign of this merchant: unknown is NotFound, another
/// merchant's is PermissionDenied.
pub(super) async fn own_campaign<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    id: Uuid,
    now: Millis,
) -> Result<CampaignRecord, StoreError> {
    let c = load_campaign(tx, id, now).await?;
    if c.merchant_id != merchant_id {
        return Err(StoreError::OtherMerchant("campaign"));
    }
    Ok(c)
}

fn slot_args(id: Uuid, index: u32, s: &SlotSpec) -> Vec<Value> {
    args![
        id.to_string(),
        i64::from(index),
        &s.name,
        s.kind.as_str(),
        s.weight,
        s.stock,
        s.daily_cap,
        s.per_user_cap,
        s.reference.clone(),
        s.amount,
        s.claim_days
    ]
}

/// Records version `version` of a campaign's prize table; it applies from
/// the next draw in ledger order.
async fn insert_table_version<T: DbTx>(
    tx: &mut T,
    id: Uuid,
    version: i64,
    table: &str,
    table_hash: &[u8],
    commitment: &[u8],
    now: Millis,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO prize_table_version (campaign_id, version, prize_table, prize_table_hash, \
         seed_commitment, first_ledger_seq, created_at) \
         SELECT $1, $2, $3, $4, $5, draw_count + 1, $6 FROM campaign WHERE campaign_id = $1",
        args![id.to_string(), version, table, table_hash, commitment, now],
    )
    .await?;
    Ok(())
}

/// The audit trail's view of a campaign: its configuration, status and
/// commitments (never the seed).
fn campaign_json(c: &CampaignRecord) -> Json {
    json!({
        "status": c.status.as_str(),
        "name": c.rules.name,
        "starts_at_ms": c.rules.starts_at,
        "ends_at_ms": c.rules.ends_at,
        "time_zone": c.rules.time_zone,
        "draws_per_day": c.rules.draws_per_day,
        "draws_total": c.rules.draws_total,
        "fallback_slot": c.fallback_slot,
        "slots": c.slots.iter().map(|s| json!({
            "index": s.index,
            "name": s.spec.name,
            "kind": s.spec.kind.as_str(),
            "weight": s.spec.weight,
            "stock": s.spec.stock,
            "daily_cap": s.spec.daily_cap,
            "per_user_cap": s.spec.per_user_cap,
            "reference": s.spec.reference,
            "amount": s.spec.amount,
            "claim_days": s.spec.claim_days,
        })).collect::<Vec<_>>(),
        "prize_table_hash": c.fairness.as_ref().map(|f| hex::encode(&f.prize_table_hash)),
        "seed_commitment": c.fairness.as_ref().map(|f| hex::encode(&f.seed_commitment)),
    })
}

/// Ends an admin change of a campaign: reloads it, appends the change to the
/// audit trail, stores the answer under the idempotency key, commits.
#[allow(clippy::too_many_arguments)]
async fn commit_change<T: DbTx>(
    mut tx: T,
    merchant_id: &str,
    idem: &Idempotency,
    action: &str,
    id: Uuid,
    before: Option<&CampaignRecord>,
    now: Millis,
    encode: impl FnOnce(&CampaignRecord) -> Vec<u8>,
) -> Result<Outcome<CampaignRecord>, StoreError> {
    let after = load_campaign(&mut tx, id, now).await?;
    record_change(&mut tx, merchant_id, idem, action, id, before, &after, now).await?;
    finish(tx, idem, encode(&after)).await?;
    Ok(Outcome::Fresh(after))
}

/// Appends an admin's change of a campaign to the audit trail.
#[allow(clippy::too_many_arguments)]
async fn record_change<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    idem: &Idempotency,
    action: &str,
    id: Uuid,
    before: Option<&CampaignRecord>,
    after: &CampaignRecord,
    now: Millis,
) -> Result<(), StoreError> {
    let detail = json!({"before": before.map(campaign_json), "after": campaign_json(after)});
    append_audit(tx, merchant_id, &idem.scope, action, Some(id), detail, now).await
}

/// Tries to take one unit of `slot` for the player: every guard is a
/// conditional write, the contended stock row last. A refused guard undoes
/// the guards already passed in this transaction (cheaper than a savepoint
/// on the common path, where nothing is refused) and is the fallback
/// reason. `Err` only for database failures.
/// The draw's place in the campaign's ledger: the campaign row's draw
/// counter, bumped under its row lock, which the draw holds until it
/// commits. So draws of one campaign commit in ledger order (an auditor
/// replays them in that order; stock is taken after this, under the same
/// lock), and End, Pause and prize table revisions, which lock the row
/// first too, wait for draws in flight. Taken as late as possible (only the
/// prize, the draw record and the answer follow) because every draw of the
/// campaign queues here. A draw that read the campaign before an End, a
/// Pause or a revision committed finds it changed here and is refused.
async fn next_ledger_seq<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    table_version: i64,
) -> Result<i64, StoreError> {
    let bumped = tx
        .fetch_optional(
            "UPDATE campaign SET draw_count = draw_count + 1 \
             WHERE campaign_id = $1 AND status = 'published' AND table_version = $2 \
             RETURNING draw_count",
            args![campaign, table_version],
        )
        .await?;
    match bumped {
        Some(row) => row.int(0),
        None => Err(not_bumped(tx, campaign).await),
    }
}

/// Why the ledger step found the campaign changed since the draw read it.
async fn not_bumped<T: DbTx>(tx: &mut T, campaign: &str) -> StoreError {
    let now = fetch_one(
        tx,
        "campaign",
        "SELECT status FROM campaign WHERE campaign_id = $1",
        args![campaign],
    )
    .await;
    match now.and_then(|r| status_of(&r.text(0)?)) {
        Ok(CampaignStatus::Published) => {
            StoreError::Conflict("the prize table was revised during the draw; retry".into())
        }
        Ok(s) => Rejection::NotRunning(s.as_str()).into(),
        Err(e) => e,
    }
}

async fn take_prize<T: DbTx>(
    tx: &mut T,
    cmd: &DrawCommand,
    day: &str,
    slot: &SlotRecord,
) -> Result<FallbackReason, StoreError> {
    let campaign = cmd.campaign_id.to_string();
    let index = i64::from(slot.index);
    let mut user_counted = false;
    let mut day_counted = false;
    let refused = 'guards: {
        if let Some(cap) = slot.spec.per_user_cap {
            if !count_user_win(tx, &campaign, index, &cmd.player_id, cap).await? {
                break 'guards FallbackReason::UserCap;
            }
            user_counted = true;
        }
        if let Some(cap) = slot.spec.daily_cap {
            let ok = tx
                .fetch_optional(
                    "INSERT INTO prize_daily_release (campaign_id, slot_index, day, released) \
                     VALUES ($1, $2, $3, 1) \
                     ON CONFLICT (campaign_id, slot_index, day) \
                     DO UPDATE SET released = prize_daily_release.released + 1 \
                     WHERE prize_daily_release.released < $4 RETURNING released",
                    args![&campaign, index, day, cap],
                )
                .await?;
            if ok.is_none() {
                break 'guards FallbackReason::DailyCap;
            }
            day_counted = true;
        }
        if take_stock(tx, &campaign, index).await? {
            return Ok(FallbackReason::None);
        }
        FallbackReason::OutOfStock
    };
    if user_counted {
        tx.execute(
            "UPDATE player_prize_count SET won = won - 1 \
             WHERE campaign_id = $1 AND slot_index = $2 AND player_id = $3",
            args![&campaign, index, &cmd.player_id],
        )
        .await?;
    }
    if day_counted {
        tx.execute(
            "UPDATE prize_daily_release SET released = released - 1 \
             WHERE campaign_id = $1 AND slot_index = $2 AND day = $3",
            args![&campaign, index, day],
        )
        .await?;
    }
    Ok(refused)
}

// The draw-count guards, written once for the two ways they are sent:
// one by one (SQLite), or as one statement of CTEs (PostgreSQL).
macro_rules! sql_count_today {
    () => {
        "INSERT INTO player_daily_draws (campaign_id, player_id, day, draws) \
         VALUES ($1, $2, $3, 1) ON CONFLICT (campaign_id, player_id, day) \
         DO UPDATE SET draws = player_daily_draws.draws + 1 \
         WHERE player_daily_draws.draws < $4 + COALESCE((SELECT e.granted \
           FROM extra_chance e WHERE e.campaign_id = $1 AND e.player_id = $2 \
           AND e.day = $3), 0) RETURNING draws"
    };
}
macro_rules! sql_count_total {
    ($limit:literal) => {
        concat!(
            "INSERT INTO player_draws (campaign_id, player_id, draws) VALUES ($1, $2, 1) \
             ON CONFLICT (campaign_id, player_id) \
             DO UPDATE SET draws = player_draws.draws + 1 \
             WHERE player_draws.draws < ",
            $limit,
            " + COALESCE((SELECT CAST(SUM(e.granted) AS BIGINT) \
             FROM extra_chance e WHERE e.campaign_id = $1 AND e.player_id = $2), 0) \
             RETURNING draws"
        )
    };
}
/// Counts the draw against the player's daily and total limits (each a
/// guarded upsert whose limit grows by the extra chances earned) and notes
/// the participation; `(today, total)` after this draw. All of it touches
/// only this player's rows. On PostgreSQL it is one statement (a round
/// trip is most of a statement's cost there); a refusal aborts the whole
/// transaction either way, so the parts that ran anyway are undone.
async fn count_draw<T: DbTx>(
    tx: &mut T,
    postgres: bool,
    campaign: &str,
    cmd: &DrawCommand,
    day: &str,
    (per_day, per_campaign): (i64, i64),
    now: Millis,
) -> Result<(i64, i64), StoreError> {
    let player = cmd.player_id.as_str();
    let channel = cmd.channel.as_deref().unwrap_or("");
    let (today, total) = if postgres {
        let row = fetch_one(
            tx,
            "draw count",
            concat!(
                "WITH today AS (",
                sql_count_today!(),
                "), total AS (",
                sql_count_total!("$5"),
                "), seen_day AS (",
                super::stats::sql_note_day!("$1, $3, $6, $2"),
                "), seen AS (",
                super::stats::sql_note_first!("$1, $2, $7, $3, $6"),
                ") SELECT (SELECT draws FROM today), (SELECT draws FROM total)"
            ),
            args![campaign, player, day, per_day, per_campaign, channel, now],
        )
        .await?;
        (
            row.opt_int(0)?.ok_or(Rejection::NoChancesToday)?,
            row.opt_int(1)?.ok_or(Rejection::NoChancesLeft)?,
        )
    } else {
        let today = tx
            .fetch_optional(sql_count_today!(), args![campaign, player, day, per_day])
            .await?
            .ok_or(Rejection::NoChancesToday)?
            .int(0)?;
        let total = tx
            .fetch_optional(
                sql_count_total!("$3"),
                args![campaign, player, per_campaign],
            )
            .await?
            .ok_or(Rejection::NoChancesLeft)?
            .int(0)?;
        super::stats::note_activity(tx, campaign, player, day, cmd.channel.as_deref(), now).await?;
        (today, total)
    };
    Ok((today, total))
}

/// What a draw has settled before it learns whether its prize is given:
/// the player's draw number, the roll and the chances left.
struct DrawFacts<'a> {
    cmd: &'a DrawCommand,
    campaign: &'a str,
    day: &'a str,
    pseudonym: &'a str,
    draw_sequence: i64,
    roll: i64,
    rolled: &'a SlotRecord,
    table_version: i64,
    now: Millis,
    /// (today, in total) after this draw.
    remaining: (i64, i64),
    /// Where the answer is stored.
    idem: &'a Idempotency,
    postgres: bool,
}

/// Counts a win of the slot against the player's per-user cap; false when
/// the cap is reached. The row is the player's own, so no other player's
/// draw waits for it.
async fn count_user_win<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    index: i64,
    player_id: &str,
    cap: i64,
) -> Result<bool, StoreError> {
    let counted = tx
        .fetch_optional(
            "INSERT INTO player_prize_count (campaign_id, slot_index, player_id, won) \
             VALUES ($1, $2, $3, 1) \
             ON CONFLICT (campaign_id, slot_index, player_id) \
             DO UPDATE SET won = player_prize_count.won + 1 \
             WHERE player_prize_count.won < $4 RETURNING won",
            args![campaign, index, player_id, cap],
        )
        .await?;
    Ok(counted.is_some())
}

// The draw record and the award, written once for the two ways they are
// sent: one by one (SQLite), or with the answer as one statement of CTEs
// (PostgreSQL), where `$15`... are the award's and the answer's.
macro_rules! sql_insert_draw {
    () => {
        "INSERT INTO draw (draw_id, campaign_id, player_id, draw_seq, day, roll, rolled_slot, \
         awarded_slot, fallback_reason, channel, drawn_at, ledger_seq, player_pseudonym, \
         table_version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    };
}
macro_rules! sql_insert_award_columns {
    () => {
        "INSERT INTO prize_award (award_id, campaign_id, draw_id, player_id, slot_index, \
         prize_name, kind, status, won_at, claim_deadline, updated_at) "
    };
}

/// The answer of a draw that gives `given` (the rolled slot, or the
/// fallback for `fallback`'s reason), with its award if it is a prize.
fn outcome_of(
    d: &DrawFacts<'_>,
    given: &SlotRecord,
    fallback: FallbackReason,
) -> Result<DrawOutcome, StoreError> {
    let (cmd, campaign, now) = (d.cmd, d.campaign, d.now);
    let draw_id = new_id();
    let award = (given.spec.kind != PrizeKind::Thanks).then(|| {
        let physical = given.spec.kind == PrizeKind::Physical;
        AwardRecord {
            award_id: new_id(),
            campaign_id: campaign.to_owned(),
            source: AwardSource::Draw(draw_id.clone()),
            player_id: cmd.player_id.clone(),
            slot_index: given.index,
            prize_name: given.spec.name.clone(),
            kind: given.spec.kind,
            status: if physical {
                AwardStatus::Won
            } else {
                AwardStatus::Granted
            },
            won_at: now,
            claim_deadline: physical.then(|| claim_deadline(now, given.spec.claim_days)),
            shipping: None,
            tracking_number: None,
        }
    });
    let (remaining_today, remaining_total) = d.remaining;
    Ok(DrawOutcome {
        draw_id,
        draw_sequence: d.draw_sequence,
        rolled_slot: d.rolled.index,
        slot: given.index,
        prize_name: given.spec.name.clone(),
        kind: given.spec.kind,
        fallback,
        remaining_today,
        remaining_total,
        award,
        drawn_at: now,
        table_version: index_of(d.table_version)?,
    })
}

/// Writes the draw row (its ledger number now, or later under the lock),
/// the award, its cash payment, its outbox entry and the idempotency key
/// with its answer (key last: the draw's first read looked it up); returns
/// the answer.
async fn record_draw<T: DbTx>(
    tx: &mut T,
    d: &DrawFacts<'_>,
    given: &SlotRecord,
    fallback: FallbackReason,
    ledger_seq: Option<i64>,
    encode: &(impl Fn(&DrawOutcome) -> Vec<u8> + Sync),
) -> Result<DrawOutcome, StoreError> {
    let (cmd, campaign, now) = (d.cmd, d.campaign, d.now);
    let out = outcome_of(d, given, fallback)?;
    let answer = encode(&out);
    let mut draw_args = args![
        &out.draw_id,
        campaign,
        &cmd.player_id,
        d.draw_sequence,
        d.day,
        d.roll,
        i64::from(d.rolled.index),
        i64::from(given.index),
        fallback.as_str(),
        cmd.channel.clone(),
        now,
        ledger_seq,
        d.pseudonym,
        d.table_version
    ];
    let award = out.award.as_ref();
    let award_args = args![
        award.map(|a| a.award_id.clone()),
        award.map(|a| a.prize_name.clone()),
        award.map(|a| a.kind.as_str()),
        award.map(|a| a.status.as_str()),
        award.and_then(|a| a.claim_deadline)
    ];
    if d.postgres {
        draw_args.extend(award_args);
        draw_args.extend(args![
            answer,
            &d.idem.scope,
            d.idem.method,
            d.idem.key.as_str(),
            d.idem.fingerprint.clone()
        ]);
        tx.execute(
            concat!(
                "WITH drawn AS (",
                sql_insert_draw!(),
                " RETURNING draw_id), awarded AS (",
                sql_insert_award_columns!(),
                "SELECT $15, $2, drawn.draw_id, $3, $8, $16, $17, $18, $11, $19, $11 \
                 FROM drawn WHERE CAST($15 AS TEXT) IS NOT NULL), answered AS (",
                crate::sql_insert_answered_key!(),
                "VALUES ($21, $22, $23, $24, $11, $20)) SELECT 1"
            ),
            draw_args,
        )
        .await?;
    } else {
        tx.execute(sql_insert_draw!(), draw_args).await?;
        if award.is_some() {
            let mut a = args![
                &out.draw_id,
                campaign,
                &cmd.player_id,
                i64::from(given.index),
                now
            ];
            a.extend(award_args);
            tx.execute(
                concat!(
                    sql_insert_award_columns!(),
                    "VALUES ($6, $2, $1, $3, $4, $7, $8, $9, $5, $10, $5)"
                ),
                a,
            )
            .await?;
        }
        tx.execute(
            concat!(
                crate::sql_insert_answered_key!(),
                "VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            args![
                &d.idem.scope,
                d.idem.method,
                d.idem.key.as_str(),
                d.idem.fingerprint.clone(),
                now,
                answer
            ],
        )
        .await?;
    }
    if let Some(award) = award {
        if award.kind == PrizeKind::Cash {
            super::money::pay_cash_prize(
                tx,
                campaign,
                &cmd.player_id,
                &out.draw_id,
                given.spec.amount,
                now,
            )
            .await?;
        }
        // Coupons and top-up codes come from the coupon service: the
        // outbox row commits with the win, so the prize is delivered
        // exactly once even if that service is down right now.
        super::outbox::enqueue(
            tx,
            &out.draw_id,
            &award.award_id,
            &cmd.merchant_id,
            campaign,
            &cmd.player_id,
            award.kind,
            given.spec.reference.as_deref().unwrap_or(""),
            now,
        )
        .await?;
    }
    Ok(out)
}

/// The draw with the campaign lock taken last, assuming the rolled prize
/// is given: everything that touches only this player's rows or new rows
/// (the per-user cap, the draw without its ledger number, the award, the
/// outbox entry, the stored answer) is written first, and then one step
/// takes the ledger number and the stock under the campaign row's lock,
/// so the lock is held for one statement and the commit rather than the
/// whole draw. A THANKS draw is never refused here; a refusal says what
/// the caller must do (see [`LockLast`]). PostgreSQL only: SQLite's one
/// writer has no lock to shorten.
///
/// `gate` is the draw's turn at the row lock, returned with the answer to
/// be held until the commit.
async fn draw_lock_last<T: DbTx>(
    tx: &mut T,
    gate: Option<&LedgerGate>,
    d: &DrawFacts<'_>,
    encode: &(impl Fn(&DrawOutcome) -> Vec<u8> + Sync),
) -> Result<LockLast, StoreError> {
    let stock_slot = (d.rolled.spec.kind != PrizeKind::Thanks).then(|| i64::from(d.rolled.index));
    if let (Some(index), Some(cap)) = (stock_slot, d.rolled.spec.per_user_cap)
        && !count_user_win(tx, d.campaign, index, &d.cmd.player_id, cap).await?
    {
        return Ok(LockLast::CapRefused);
    }
    let out = record_draw(tx, d, d.rolled, FallbackReason::None, None, encode).await?;
    let turn = match gate {
        Some(gate) => gate.enter(d.campaign).await,
        None => None,
    };
    // One round trip under the lock. `stock` and `placed` depend on
    // `ledger`, so the campaign row is locked before the prize row,
    // the same order as every other campaign-wide change.
    let row = fetch_one(
        tx,
        "ledger step",
        "WITH ledger AS ( \
           UPDATE campaign SET draw_count = draw_count + 1 \
           WHERE campaign_id = $1 AND status = 'published' AND table_version = $2 \
           RETURNING draw_count), \
         stock AS ( \
           UPDATE prize_slot SET remaining = remaining - 1 \
           WHERE campaign_id = $1 AND slot_index = $3 AND remaining > 0 \
             AND EXISTS (SELECT 1 FROM ledger) \
           RETURNING slot_index), \
         placed AS ( \
           UPDATE draw SET ledger_seq = (SELECT draw_count FROM ledger) \
           WHERE draw_id = $4 AND EXISTS (SELECT 1 FROM ledger) \
           RETURNING ledger_seq) \
         SELECT (SELECT draw_count FROM ledger), \
           (SELECT CAST(COUNT(*) AS BIGINT) FROM stock), \
           (SELECT CAST(COUNT(*) AS BIGINT) FROM placed)",
        args![d.campaign, d.table_version, stock_slot, &out.draw_id],
    )
    .await?;
    if row.opt_int(0)?.is_none() {
        return Err(not_bumped(tx, d.campaign).await);
    }
    if row.int(2)? != 1 {
        return Err(corrupt("draw row", "not placed in the ledger"));
    }
    let taken = stock_slot.is_none() || row.int(1)? == 1;
    Ok(if taken {
        LockLast::Done(Box::new(out), turn)
    } else {
        LockLast::OutOfStock
    })
}

/// A draw's first read: the campaign's draw rules and its slots, one row
/// per slot (the campaign's 11 columns, then the slot's 11), then `$more`
/// columns. `$2` is the player whose extra chances are summed.
macro_rules! sql_read_wheel {
    ($more:expr) => {
        concat!(
            "SELECT c.merchant_id, c.status, c.starts_at, c.ends_at, c.time_zone, \
             c.draws_per_day, c.draws_total, c.fallback_slot, c.roll_secret, \
             (SELECT CAST(COALESCE(SUM(e.granted), 0) AS BIGINT) FROM extra_chance e \
               WHERE e.campaign_id = c.campaign_id AND e.player_id = $2), \
             c.table_version, \
             s.slot_index, s.name, s.kind, s.weight, s.initial_stock, s.remaining, \
             s.daily_cap, s.per_user_cap, s.reference, s.amount, s.claim_days",
            $more,
            " FROM campaign c JOIN prize_slot s ON s.campaign_id = c.campaign_id \
             WHERE c.campaign_id = $1 ORDER BY s.slot_index"
        )
    };
}

/// What a draw reads of its wheel (`sql_read_wheel!`), before any lock.
struct WheelRead {
    merchant_id: String,
    status: CampaignStatus,
    starts_at: Millis,
    ends_at: Millis,
    time_zone: String,
    per_day: i64,
    per_campaign: i64,
    /// Set on every published wheel (drafts may have none).
    fallback_index: Option<u32>,
    secret: Vec<u8>,
    /// Extra draws ever earned by the read's player (sharing, tiers, votes).
    extra_total: i64,
    table_version: i64,
    slots: Vec<SlotRecord>,
}

impl WheelRead {
    fn of(rows: &[impl DbRow]) -> Result<Self, StoreError> {
        let r = rows.first().ok_or(StoreError::NotFound("campaign"))?;
        Ok(Self {
            merchant_id: r.text(0)?,
            status: status_of(&r.text(1)?)?,
            starts_at: r.int(2)?,
            ends_at: r.int(3)?,
            time_zone: r.text(4)?,
            per_day: r.int(5)?,
            per_campaign: r.int(6)?,
            fallback_index: r.opt_int(7)?.map(index_of).transpose()?,
            secret: r.bytes(8)?,
            extra_total: r.int(9)?,
            table_version: r.int(10)?,
            slots: rows
                .iter()
                .map(|r| slot_from_row_at(r, 11))
                .collect::<Result<Vec<_>, _>>()?,
        })
    }

    /// May `merchant` draw on this wheel at `now`?
    fn check(&self, merchant: &str, now: Millis) -> Result<(), StoreError> {
        // Another merchant's campaign does not exist for this player.
        if self.merchant_id != merchant {
            return Err(StoreError::NotFound("campaign"));
        }
        match self.status {
            CampaignStatus::Draft => return Err(Rejection::DraftNotOpen.into()),
            CampaignStatus::Published => {}
            s => return Err(Rejection::NotRunning(s.as_str()).into()),
        }
        check_window(now, self.starts_at, self.ends_at)?;
        Ok(())
    }

    /// The roll of the player's `draw_sequence`th draw and the slot it
    /// lands on.
    fn roll(
        &self,
        campaign_id: Uuid,
        pseudonym: &str,
        draw_sequence: i64,
    ) -> Result<(i64, &SlotRecord), StoreError> {
        let weights: Vec<i64> = self.slots.iter().map(|s| s.spec.weight).collect();
        let input = RollInput {
            campaign_id,
            player_id: pseudonym,
            draw_sequence,
        };
        let roll = draw_roll(&self.secret, &input, total_weight(&weights));
        let rolled = slot_for_roll(&weights, roll)
            .and_then(|i| self.slots.get(i))
            .ok_or_else(|| corrupt("roll", roll))?;
        Ok((
            i64::try_from(roll).map_err(|_| corrupt("roll", roll))?,
            rolled,
        ))
    }

    /// The slot given when the rolled prize cannot be.
    fn fallback(&self) -> Result<&SlotRecord, StoreError> {
        let index = self
            .fallback_index
            .ok_or_else(|| corrupt("fallback slot", "missing on a published wheel"))?;
        self.slots
            .iter()
            .find(|s| s.index == index)
            .ok_or_else(|| corrupt("fallback slot", index))
    }
}

/// Where the draw's first read puts the idempotency key's fingerprint (its
/// answer follows): after the campaign's 11 columns and the slot's 11.
const KEY_COLUMN: usize = 22;

/// How a lock-last draw ended.
enum LockLast {
    /// Everything is written: commit (holding the gate's turn until then).
    Done(Box<DrawOutcome>, Option<OwnedSemaphorePermit>),
    /// The per-user cap refused before anything was written: go on with
    /// the lock first, in the same transaction.
    CapRefused,
    /// The last unit went to another draw after this one read the stock:
    /// its optimistic writes must be undone, so the draw starts again with
    /// the lock first (the same `n`, so the same roll).
    OutOfStock,
}

/// Takes one unit of the slot's stock; false when none is left.
async fn take_stock<T: DbTx>(tx: &mut T, campaign: &str, index: i64) -> Result<bool, StoreError> {
    let taken = tx
        .execute(
            "UPDATE prize_slot SET remaining = remaining - 1 \
             WHERE campaign_id = $1 AND slot_index = $2 AND remaining > 0",
            args![campaign, index],
        )
        .await?;
    Ok(taken == 1)
}

impl<D: Db> Store<D> {
    /// Draws, prizes won and prizes left of every published or paused
    /// wheel, for the metrics endpoint.
    pub async fn prize_gauges(&self) -> Result<Vec<PrizeGauge>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT c.campaign_id, c.draw_count, s.slot_index, s.initial_stock - s.remaining, \
                 s.remaining FROM campaign c JOIN prize_slot s ON s.campaign_id = c.campaign_id \
                 WHERE c.status IN ('published', 'paused') ORDER BY c.campaign_id, s.slot_index",
                args![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PrizeGauge {
                    campaign_id: r.text(0)?,
                    draws: r.int(1)?,
                    slot_index: r.int(2)?,
                    won: r.int(3)?,
                    remaining: r.int(4)?,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all)]
    pub async fn create_wheel(
        &self,
        merchant_id: &str,
        rules: &WheelRules,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CampaignRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<CampaignRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let id = Uuid::now_v7();
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        tx.execute(
            "INSERT INTO campaign (campaign_id, merchant_id, name, status, starts_at, ends_at, \
             time_zone, draws_per_day, draws_total, roll_secret, created_at, updated_at) \
             VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $9, $10, $10)",
            args![
                id.to_string(),
                merchant_id,
                &rules.name,
                rules.starts_at,
                rules.ends_at,
                &rules.time_zone,
                rules.draws_per_day,
                rules.draws_total,
                secret.to_vec(),
                now
            ],
        )
        .await?;
        commit_change(
            tx,
            merchant_id,
            idem,
            "campaign.create",
            id,
            None,
            now,
            encode,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(campaign.id = %id))]
    pub async fn add_slot(
        &self,
        merchant_id: &str,
        id: Uuid,
        spec: &SlotSpec,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CampaignRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<CampaignRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        lock_campaign(&mut tx, merchant_id, id, true, now).await?;
        let before = load_campaign(&mut tx, id, now).await?;
        let count = before.slots.len() as i64;
        if count >= MAX_SLOTS as i64 {
            return Err(Rejection::TooManySlots(MAX_SLOTS).into());
        }
        tx.execute(
            "INSERT INTO prize_slot (campaign_id, slot_index, name, kind, weight, initial_stock, \
             remaining, daily_cap, per_user_cap, reference, amount, claim_days) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11)",
            slot_args(id, index_of(count)?, spec),
        )
        .await?;
        commit_change(
            tx,
            merchant_id,
            idem,
            "campaign.add_slot",
            id,
            Some(&before),
            now,
            encode,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(campaign.id = %id))]
    #[allow(clippy::too_many_arguments)]
    pub async fn update_slot(
        &self,
        merchant_id: &str,
        id: Uuid,
        index: u32,
        spec: &SlotSpec,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CampaignRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<CampaignRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        lock_campaign(&mut tx, merchant_id, id, true, now).await?;
        let c = load_campaign(&mut tx, id, now).await?;
        if !c.slots.iter().any(|s| s.index == index) {
            return Err(Rejection::NoSuchSlot(index).into());
        }
        if c.fallback_slot == Some(index) && spec.kind != PrizeKind::Thanks {
            return Err(Rejection::FallbackKindChange.into());
        }
        tx.execute(
            "UPDATE prize_slot SET name = $3, kind = $4, weight = $5, initial_stock = $6, \
             remaining = $6, daily_cap = $7, per_user_cap = $8, reference = $9, amount = $10, \
             claim_days = $11 WHERE campaign_id = $1 AND slot_index = $2",
            slot_args(id, index, spec),
        )
        .await?;
        commit_change(
            tx,
            merchant_id,
            idem,
            "campaign.update_slot",
            id,
            Some(&c),
            now,
            encode,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(campaign.id = %id))]
    pub async fn set_fallback(
        &self,
        merchant_id: &str,
        id: Uuid,
        index: u32,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CampaignRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<CampaignRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        lock_campaign(&mut tx, merchant_id, id, true, now).await?;
        let c = load_campaign(&mut tx, id, now).await?;
        match c.slots.iter().find(|s| s.index == index) {
            None => return Err(Rejection::NoSuchSlot(index).into()),
            Some(s) if s.spec.kind != PrizeKind::Thanks => {
                return Err(Rejection::FallbackNotThanks.into());
            }
            Some(_) => {}
        }
        tx.execute(
            "UPDATE campaign SET fallback_slot = $2 WHERE campaign_id = $1",
            args![id.to_string(), i64::from(index)],
        )
        .await?;
        commit_change(
            tx,
            merchant_id,
            idem,
            "campaign.set_fallback",
            id,
            Some(&c),
            now,
            encode,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(campaign.id = %id, action = t.as_str()))]
    pub async fn transition(
        &self,
        merchant_id: &str,
        id: Uuid,
        t: Transition,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CampaignRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<CampaignRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        lock_campaign(&mut tx, merchant_id, id, false, now).await?;
        let c = load_campaign(&mut tx, id, now).await?;
        // Past its window a campaign has ended for everything but the
        // EndCampaign that records it (and settles the cash reserve).
        let from = match t {
            Transition::End => c.status,
            _ => c.shown_status(),
        };
        let next = t.apply(from)?;
        if t == Transition::Publish {
            let slots: Vec<_> = c
                .slots
                .iter()
                .map(|s| (s.index, s.spec.kind, s.spec.weight))
                .collect();
            check_publishable(&slots, c.fallback_slot)?;
            // The seed is drawn now, from the OS CSPRNG, and committed to
            // together with the exact prize table it will roll against.
            let mut seed = [0u8; 32];
            rand::rng().fill_bytes(&mut seed);
            let table_slots: Vec<(u32, &SlotSpec)> =
                c.slots.iter().map(|s| (s.index, &s.spec)).collect();
            let fallback = c.fallback_slot.ok_or(Rejection::NoFallback)?;
            let table = canonical_prize_table(id, 1, &c.rules, &table_slots, fallback);
            let table_hash = prize_table_hash(&table);
            let commitment = seed_commitment(&seed, &table_hash);
            tx.execute(
                "UPDATE campaign SET status = 'published', roll_secret = $2, prize_table = $3, \
                 prize_table_hash = $4, seed_commitment = $5, published_at = $6, table_version = 1 \
                 WHERE campaign_id = $1 AND status = 'draft'",
                args![
                    id.to_string(),
                    seed.to_vec(),
                    table.clone(),
                    table_hash.clone(),
                    commitment.clone(),
                    now
                ],
            )
            .await?;
            insert_table_version(&mut tx, id, 1, &table, &table_hash, &commitment, now).await?;
            super::money::settle_cash_reserve(&mut tx, &id.to_string(), false, now).await?;
        } else {
            tx.execute(
                "UPDATE campaign SET status = $2, revealed_at = $4 \
                 WHERE campaign_id = $1 AND status = $3",
                args![
                    id.to_string(),
                    next.as_str(),
                    c.status.as_str(),
                    (next == CampaignStatus::Ended).then_some(now)
                ],
            )
            .await?;
            if next == CampaignStatus::Ended {
                // What the cash prizes no longer need goes back to the budget.
                super::money::settle_cash_reserve(&mut tx, &id.to_string(), true, now).await?;
            }
        }
        let action = format!("campaign.{}", t.as_str());
        commit_change(tx, merchant_id, idem, &action, id, Some(&c), now, encode).await
    }

    /// A new version of a published (or paused) wheel's prize table: the
    /// same slots by index with new names, kinds, odds, stock and caps. Stock
    /// is the new total: what is left becomes `stock - won`, so it can never
    /// fall below what was already given. The table gets a new commitment to
    /// the same seed, applies from the next draw in ledger order (draws lock
    /// the campaign row too), and the change is in the audit trail.
    #[tracing::instrument(skip_all, fields(campaign.id = %id))]
    pub async fn revise_wheel(
        &self,
        merchant_id: &str,
        id: Uuid,
        specs: &[SlotSpec],
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CampaignRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<CampaignRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        lock_campaign(&mut tx, merchant_id, id, false, now).await?;
        let c = load_campaign(&mut tx, id, now).await?;
        let shown = c.shown_status();
        if !matches!(shown, CampaignStatus::Published | CampaignStatus::Paused) {
            return Err(Rejection::NotRevisable(shown.as_str()).into());
        }
        if specs.len() != c.slots.len() {
            return Err(Rejection::SlotCountChange(c.slots.len()).into());
        }
        let fallback = c.fallback_slot.ok_or(Rejection::NoFallback)?;
        let shape: Vec<_> = c
            .slots
            .iter()
            .zip(specs)
            .map(|(s, n)| (s.index, n.kind, n.weight))
            .collect();
        check_publishable(&shape, Some(fallback)).map_err(|e| match e {
            Rejection::FallbackNotThanks => Rejection::FallbackKindChange,
            e => e,
        })?;
        for (old, new) in c.slots.iter().zip(specs) {
            if new.stock < old.won() {
                return Err(Rejection::StockBelowWon {
                    index: old.index,
                    won: old.won(),
                }
                .into());
            }
            tx.execute(
                "UPDATE prize_slot SET name = $3, kind = $4, weight = $5, \
                 remaining = $6 - (initial_stock - remaining), initial_stock = $6, \
                 daily_cap = $7, per_user_cap = $8, reference = $9, amount = $10, claim_days = $11 \
                 WHERE campaign_id = $1 AND slot_index = $2",
                slot_args(id, old.index, new),
            )
            .await?;
        }
        super::money::settle_cash_reserve(&mut tx, &id.to_string(), false, now).await?;
        let version = c.fairness.as_ref().map_or(1, |f| f.version) + 1;
        let seed = fetch_one(
            &mut tx,
            "campaign",
            "SELECT roll_secret FROM campaign WHERE campaign_id = $1",
            args![id.to_string()],
        )
        .await?
        .bytes(0)?;
        let table_slots: Vec<(u32, &SlotSpec)> = c
            .slots
            .iter()
            .zip(specs)
            .map(|(s, n)| (s.index, n))
            .collect();
        let table = canonical_prize_table(id, version, &c.rules, &table_slots, fallback);
        let table_hash = prize_table_hash(&table);
        let commitment = seed_commitment(&seed, &table_hash);
        tx.execute(
            "UPDATE campaign SET prize_table = $2, prize_table_hash = $3, seed_commitment = $4, \
             table_version = $5 WHERE campaign_id = $1",
            args![
                id.to_string(),
                table.clone(),
                table_hash.clone(),
                commitment.clone(),
                i64::from(version)
            ],
        )
        .await?;
        insert_table_version(
            &mut tx,
            id,
            i64::from(version),
            &table,
            &table_hash,
            &commitment,
            now,
        )
        .await?;
        commit_change(
            tx,
            merchant_id,
            idem,
            "campaign.revise",
            id,
            Some(&c),
            now,
            encode,
        )
        .await
    }

    /// The merchant a campaign belongs to.
    pub async fn campaign_merchant(&self, id: Uuid) -> Result<String, StoreError> {
        let mut tx = self.db.begin_read().await?;
        fetch_one(
            &mut tx,
            "campaign",
            "SELECT merchant_id FROM campaign WHERE campaign_id = $1",
            args![id.to_string()],
        )
        .await?
        .text(0)
    }

    /// A campaign of this merchant, with live stock.
    /// `now` decides whether the seed is revealed (the window is over).
    pub async fn get_campaign(
        &self,
        merchant_id: &str,
        id: Uuid,
        now: Millis,
    ) -> Result<CampaignRecord, StoreError> {
        let mut tx = self.db.begin_read().await?;
        own_campaign(&mut tx, merchant_id, id, now).await
    }

    /// Streams a published campaign's audit export into `sink`, all read
    /// from one snapshot so the closing stock matches the draws. Stops early
    /// (Ok) if the receiver goes away, and with `StoreError::Stalled` if it
    /// takes nothing for `stall`: a client that does not read cannot hold
    /// the snapshot (and its connection, and SQLite's checkpoint) longer.
    pub async fn export(
        &self,
        merchant_id: &str,
        id: Uuid,
        now: Millis,
        sink: tokio::sync::mpsc::Sender<ExportItem>,
        stall: std::time::Duration,
    ) -> Result<(), StoreError> {
        let sink = StallingSink { sink, stall };
        const PAGE: i64 = 1000;
        let mut tx = self.db.begin_read().await?;
        let c = own_campaign(&mut tx, merchant_id, id, now).await?;
        if c.fairness.is_none() {
            return Err(Rejection::NotPublished.into());
        }
        let remaining: Vec<(u32, i64)> = c.slots.iter().map(|s| (s.index, s.remaining)).collect();
        let versions = tx
            .fetch_all(
                "SELECT version, prize_table, prize_table_hash, seed_commitment, first_ledger_seq \
                 FROM prize_table_version WHERE campaign_id = $1 ORDER BY version",
                args![id.to_string()],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(TableVersion {
                    version: r.int(0)?,
                    prize_table: r.text(1)?,
                    prize_table_hash: r.bytes(2)?,
                    seed_commitment: r.bytes(3)?,
                    first_ledger_seq: r.int(4)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if !sink
            .send(ExportItem::Campaign(Box::new(c), versions))
            .await?
        {
            return Ok(());
        }
        let (mut after, mut draws) = (0i64, 0i64);
        loop {
            let rows = tx
                .fetch_all(
                    "SELECT ledger_seq, draw_id, player_pseudonym, draw_seq, day, drawn_at, roll, \
                     rolled_slot, awarded_slot, fallback_reason, table_version FROM draw \
                     WHERE campaign_id = $1 AND ledger_seq > $2 ORDER BY ledger_seq LIMIT $3",
                    args![id.to_string(), after, PAGE],
                )
                .await?;
            let n = rows.len() as i64;
            for r in rows {
                let d = LedgerDraw {
                    ledger_seq: r.int(0)?,
                    draw_id: r.text(1)?,
                    player_pseudonym: r.text(2)?,
                    draw_sequence: r.int(3)?,
                    day: r.text(4)?,
                    drawn_at: r.int(5)?,
                    roll: r.int(6)?,
                    rolled_slot: index_of(r.int(7)?)?,
                    awarded_slot: index_of(r.int(8)?)?,
                    fallback: r.text(9)?,
                    table_version: r.int(10)?,
                };
                after = d.ledger_seq;
                draws += 1;
                if !sink.send(ExportItem::Draw(d)).await? {
                    return Ok(());
                }
            }
            if n < PAGE {
                break;
            }
        }
        if !sink.send(ExportItem::Stock { draws, remaining }).await? {
            return Ok(());
        }
        for (player, day, granted) in super::chance::all_chances(&mut tx, id).await? {
            let item = ExportItem::Chance(player_pseudonym(id, &player), day, granted);
            if !sink.send(item).await? {
                return Ok(());
            }
        }
        for p in super::money::export_packets(&mut tx, id).await? {
            if !sink.send(ExportItem::Packet(Box::new(p))).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Prizes won in a campaign, newest first.
    pub async fn list_winners(
        &self,
        merchant_id: &str,
        id: Uuid,
        limit: i64,
    ) -> Result<Vec<AwardRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let owner = fetch_one(
            &mut tx,
            "campaign",
            "SELECT merchant_id FROM campaign WHERE campaign_id = $1",
            args![id.to_string()],
        )
        .await?
        .text(0)?;
        if owner != merchant_id {
            return Err(StoreError::OtherMerchant("campaign"));
        }
        tx.fetch_all(
            "SELECT a.award_id, a.campaign_id, a.draw_id, a.player_id, a.slot_index, \
             a.prize_name, a.kind, a.status, a.won_at, a.claim_deadline, a.recipient, a.phone, \
             a.address, a.tracking_number, c.merchant_id, a.tier_index \
             FROM prize_award a JOIN campaign c ON c.campaign_id = a.campaign_id \
             WHERE a.campaign_id = $1 ORDER BY a.won_at DESC, a.award_id DESC LIMIT $2",
            args![id.to_string(), limit],
        )
        .await?
        .iter()
        .map(|r| award_from_row(r).map(|(a, _)| a))
        .collect()
    }

    /// One player's prizes at this merchant (optionally one campaign).
    pub async fn list_player_awards(
        &self,
        merchant_id: &str,
        player_id: &str,
        campaign: Option<Uuid>,
    ) -> Result<Vec<AwardRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let campaign = campaign.map(|c| c.to_string()).unwrap_or_default();
        tx.fetch_all(
            "SELECT a.award_id, a.campaign_id, a.draw_id, a.player_id, a.slot_index, \
             a.prize_name, a.kind, a.status, a.won_at, a.claim_deadline, a.recipient, a.phone, \
             a.address, a.tracking_number, c.merchant_id, a.tier_index \
             FROM prize_award a JOIN campaign c ON c.campaign_id = a.campaign_id \
             WHERE c.merchant_id = $1 AND a.player_id = $2 AND ($3 = '' OR a.campaign_id = $3) \
             ORDER BY a.won_at DESC, a.award_id DESC LIMIT 1000",
            args![merchant_id, player_id, campaign],
        )
        .await?
        .iter()
        .map(|r| award_from_row(r).map(|(a, _)| a))
        .collect()
    }

    /// Spins the wheel once for a player.
    ///
    /// Key last (`store::sql_key_lookup!`): the first read looks the
    /// idempotency key up and the draw record inserts it with its answer.
    /// On PostgreSQL a concurrent copy of the request waits on the player's
    /// draw counter, then either collides on the key or is refused (its
    /// chances spent by the first copy); either way the first copy's stored
    /// answer is then replayed. SQLite's single writer makes the first read
    /// see any earlier copy.
    #[tracing::instrument(skip_all, fields(campaign.id = %cmd.campaign_id))]
    ///
    /// On PostgreSQL the draws of a campaign that wait at the same time are
    /// drawn as one transaction (`batch.rs`); each still gets the answer it
    /// would get alone.
    pub async fn draw(
        &self,
        cmd: &DrawCommand,
        clock: &dyn Clock,
        idem: &Idempotency,
        encode: impl Fn(&DrawOutcome) -> Vec<u8> + Send + Sync + 'static,
    ) -> Result<Outcome<DrawOutcome>, StoreError> {
        match &self.draw_batches {
            Some(batches) => {
                self.draw_batched(batches, cmd, clock, idem, std::sync::Arc::new(encode))
                    .await
            }
            None => self.draw_one(cmd, clock, idem, &encode).await,
        }
    }

    /// One draw in its own transaction.
    async fn draw_one(
        &self,
        cmd: &DrawCommand,
        clock: &dyn Clock,
        idem: &Idempotency,
        encode: &(impl Fn(&DrawOutcome) -> Vec<u8> + Send + Sync),
    ) -> Result<Outcome<DrawOutcome>, StoreError> {
        let mut attempt = self.draw_attempt(cmd, clock, idem, encode, false).await;
        if let Ok(None) = attempt {
            attempt = self.draw_attempt(cmd, clock, idem, encode, true).await;
        }
        match attempt {
            Ok(Some(out)) => Ok(out),
            Ok(None) => Err(corrupt(
                "draw",
                "refused with the campaign lock taken first",
            )),
            Err(e @ (StoreError::Conflict(_) | StoreError::Rejected(_)))
                if self.db.backend_name() == "postgres" =>
            {
                let mut tx = self.db.begin_autocommit().await?;
                replay_or(&mut tx, idem, e).await
            }
            Err(e) => Err(e),
        }
    }

    /// One try at a draw. `None`: a lock-last draw lost the last unit of
    /// its prize after reading it, and its transaction is rolled back: draw
    /// again with `lock_first`.
    async fn draw_attempt(
        &self,
        cmd: &DrawCommand,
        clock: &dyn Clock,
        idem: &Idempotency,
        encode: &(impl Fn(&DrawOutcome) -> Vec<u8> + Send + Sync),
        lock_first: bool,
    ) -> Result<Option<Outcome<DrawOutcome>>, StoreError> {
        let campaign = cmd.campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        // "Now" once the write lock is held: waiting for it must not let a
        // draw land outside the window or on the wrong campaign day.
        let now = clock.now_ms();
        // The key, the campaign and its slots in one round trip: one row
        // per slot. Nothing is locked yet; the ledger step below re-checks
        // the status and the prize table version under the campaign row's
        // lock.
        let rows = tx
            .fetch_all(
                sql_read_wheel!(concat!(", ", crate::sql_key_lookup!("$3", "$4", "$5"))),
                args![
                    &campaign,
                    &cmd.player_id,
                    &idem.scope,
                    idem.method,
                    idem.key.as_str()
                ],
            )
            .await?;
        // No rows: unknown, or a draft without slots (drafts are invisible).
        let r = rows.first().ok_or(StoreError::NotFound("campaign"))?;
        if let Some(fingerprint) = r.opt_bytes(KEY_COLUMN)? {
            let answer = replay_of(idem, fingerprint, r.opt_bytes(KEY_COLUMN + 1)?)?;
            return Ok(Some(Outcome::Replay(answer)));
        }
        let w = WheelRead::of(&rows)?;
        w.check(&cmd.merchant_id, now)?;
        let (per_day, per_campaign) = (w.per_day, w.per_campaign);
        let fallback_slot = w.fallback()?;
        // Extra draws ever earned; most players have none, which spares the
        // per-day query below.
        let (extra_total, table_version) = (w.extra_total, w.table_version);
        let day = campaign_day(now, &w.time_zone).map_err(|e| corrupt("time zone", e))?;

        let postgres = self.db.backend_name() == "postgres";
        let (today, total) = count_draw(
            &mut tx,
            postgres,
            &campaign,
            cmd,
            &day,
            (per_day, per_campaign),
            now,
        )
        .await?;

        let pseudonym = player_pseudonym(cmd.campaign_id, &cmd.player_id);
        let (roll, rolled) = w.roll(cmd.campaign_id, &pseudonym, total)?;
        // Extra draws earned today, for those who have earned any.
        let extra_today = if extra_total == 0 {
            0
        } else {
            fetch_one(
                &mut tx,
                "extra chances",
                "SELECT CAST(COALESCE(SUM(granted), 0) AS BIGINT) FROM extra_chance \
                 WHERE campaign_id = $1 AND player_id = $2 AND day = $3",
                args![&campaign, &cmd.player_id, &day],
            )
            .await?
            .int(0)?
        };
        let facts = DrawFacts {
            cmd,
            campaign: &campaign,
            day: &day,
            pseudonym: &pseudonym,
            draw_sequence: total,
            roll,
            rolled,
            table_version,
            now,
            remaining: remaining_chances(
                per_day + extra_today,
                per_campaign + extra_total,
                today,
                total,
            ),
            idem,
            postgres,
        };

        // The common case takes the campaign lock last: one statement under
        // it, then the commit (see `draw_lock_last`). A rolled prize with a
        // daily cap (a shared counter) or paid in cash (the campaign's
        // budget row) takes the lock first instead, as does a win the lock
        // then refuses (out of stock), after undoing the optimistic writes.
        // On SQLite, whose one writer runs one transaction at a time, no
        // other draw waits for the lock, so the order gains nothing and the
        // lock-first draw is the shorter one (it writes the draw row once,
        // with its ledger number).
        let thanks = rolled.spec.kind == PrizeKind::Thanks;
        let lock_last = postgres
            && (thanks
                || (!lock_first
                    && rolled.remaining > 0
                    && rolled.spec.daily_cap.is_none()
                    && rolled.spec.kind != PrizeKind::Cash));
        if lock_last {
            match draw_lock_last(&mut tx, self.ledger_gate.as_deref(), &facts, encode).await? {
                LockLast::Done(out, _turn) => {
                    tx.commit().await?;
                    return Ok(Some(Outcome::Fresh(*out)));
                }
                // Nothing written yet: the lock-first path below gives the
                // fallback.
                LockLast::CapRefused => {}
                LockLast::OutOfStock => return Ok(None),
            }
        }

        let _turn = match &self.ledger_gate {
            Some(gate) => gate.enter(&campaign).await,
            None => None,
        };
        let ledger_seq = next_ledger_seq(&mut tx, &campaign, table_version).await?;
        let fallback = if thanks {
            FallbackReason::None
        } else {
            take_prize(&mut tx, cmd, &day, rolled).await?
        };
        let given = if fallback == FallbackReason::None {
            rolled
        } else {
            fallback_slot
        };
        let out = record_draw(&mut tx, &facts, given, fallback, Some(ledger_seq), encode).await?;
        tx.commit().await?;
        Ok(Some(Outcome::Fresh(out)))
    }

    /// WON -> CLAIMED with shipping details, by the winner, before the
    /// deadline. Someone else's prize is NotFound.
    #[tracing::instrument(skip_all)]
    #[allow(clippy::too_many_arguments)]
    pub async fn claim_prize(
        &self,
        merchant_id: &str,
        player_id: &str,
        award_id: &str,
        shipping: &Shipping,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&AwardRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<AwardRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let row = fetch_one(&mut tx, "prize", SELECT_AWARD, args![award_id]).await?;
        let (award, merchant) = award_from_row(&row)?;
        if merchant != merchant_id || award.player_id != player_id {
            return Err(StoreError::NotFound("prize"));
        }
        if award.kind != PrizeKind::Physical {
            return Err(Rejection::NotPhysical.into());
        }
        match award.status_at(now) {
            AwardStatus::Won => {}
            AwardStatus::Expired => return Err(Rejection::ClaimExpired.into()),
            s => return Err(Rejection::NotClaimable(s.as_str()).into()),
        }
        let n = tx
            .execute(
                "UPDATE prize_award SET status = 'claimed', recipient = $2, phone = $3, \
                 address = $4, updated_at = $5 \
                 WHERE award_id = $1 AND status = 'won' AND claim_deadline >= $5",
                args![
                    award_id,
                    &shipping.recipient,
                    &shipping.phone,
                    &shipping.address,
                    now
                ],
            )
            .await?;
        if n != 1 {
            return Err(StoreError::Conflict("prize changed concurrently".into()));
        }
        let award = AwardRecord {
            status: AwardStatus::Claimed,
            shipping: Some(shipping.clone()),
            ..award
        };
        finish(tx, idem, encode(&award)).await?;
        Ok(Outcome::Fresh(award))
    }

    /// CLAIMED -> SHIPPED, by an admin of the campaign's merchant.
    #[tracing::instrument(skip_all)]
    pub async fn ship_prize(
        &self,
        merchant_id: &str,
        award_id: &str,
        tracking_number: &str,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&AwardRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<AwardRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let row = fetch_one(&mut tx, "prize", SELECT_AWARD, args![award_id]).await?;
        let (award, merchant) = award_from_row(&row)?;
        if merchant != merchant_id {
            return Err(StoreError::OtherMerchant("prize"));
        }
        if award.kind != PrizeKind::Physical {
            return Err(Rejection::NotPhysical.into());
        }
        let n = tx
            .execute(
                "UPDATE prize_award SET status = 'shipped', tracking_number = $2, updated_at = $3 \
                 WHERE award_id = $1 AND status = 'claimed'",
                args![award_id, tracking_number, now],
            )
            .await?;
        if n != 1 {
            return Err(Rejection::NotShippable(award.status_at(now).as_str()).into());
        }
        let detail = json!({
            "award_id": award_id,
            "before": {"status": "claimed"},
            "after": {"status": "shipped", "tracking_number": tracking_number},
        });
        let campaign = parse_uuid(&award.campaign_id)?;
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "prize.ship",
            Some(campaign),
            detail,
            now,
        )
        .await?;
        let award = AwardRecord {
            status: AwardStatus::Shipped,
            tracking_number: Some(tracking_number.to_owned()),
            ..award
        };
        finish(tx, idem, encode(&award)).await?;
        Ok(Outcome::Fresh(award))
    }

    /// Marks WON physical prizes past their deadline EXPIRED; returns how
    /// many. Safe to run any number of times.
    pub async fn expire_unclaimed(&self, now: Millis) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let n = tx
            .execute(
                "UPDATE prize_award SET status = 'expired', updated_at = $1 \
                 WHERE status = 'won' AND claim_deadline < $1",
                args![now],
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// The export's sink: a send that the reader does not take within `stall`
/// ends the export (`StoreError::Stalled`).
struct StallingSink {
    sink: tokio::sync::mpsc::Sender<ExportItem>,
    stall: std::time::Duration,
}

impl StallingSink {
    /// Ok(false): the reader went away.
    async fn send(&self, item: ExportItem) -> Result<bool, StoreError> {
        match tokio::time::timeout(self.stall, self.sink.send(item)).await {
            Ok(sent) => Ok(sent.is_ok()),
            Err(_) => Err(StoreError::Stalled(self.stall.as_secs())),
        }
    }
}

/// One prize slot of a running wheel, for the metrics endpoint.
#[derive(Debug, Clone)]
pub struct PrizeGauge {
    pub campaign_id: String,
    pub draws: i64,
    pub slot_index: i64,
    pub won: i64,
    pub remaining: i64,
}

pub(super) mod batch;
