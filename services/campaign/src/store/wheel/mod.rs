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

use std::sync::LazyLock;

use rand::RngCore;
use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{
    Outcome, Store, StoreError,
    audit::append_audit,
    claim_key,
    db::{Backend, Db, DbRow, DbTx, Value, args, fetch_one},
    finish,
    gate::LedgerGate,
    new_id,
    outbox::{OUTBOX, OutboxEntry, outbox_values},
    parse_uuid, replay_of, replay_or,
    rows::{ANSWERED_KEY, Table, Ty, answered_key_values},
};
use crate::clock::Clock;
use crate::domain::{
    Millis, Rejection,
    activity::Activity,
    fairness::{
        canonical_campaign_table, canonical_prize_table, player_pseudonym, prize_table_hash,
        seed_commitment,
    },
    idempotency::Idempotency,
    wheel::{
        CampaignStatus, FallbackReason, MAX_SLOTS, PrizeKind, RollInput, SlotSpec, Transition,
        WheelRules, campaign_day, check_publishable, check_window, claim_deadline, draw_roll,
        remaining_chances, slot_for_roll, total_weight,
    },
};
use platform::store::events::{EVENT, event_values};
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
    /// What the campaign holds, in `Activity::ALL` order.
    pub activities: Vec<Activity>,
    /// A draft that publishes itself at its start (`store::schedule`),
    /// and why the last try was refused (empty: none was).
    pub publish_at_start: bool,
    pub publish_error: String,
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
    /// The store its draw was made in, if one was named.
    pub store_id: Option<String>,
}

/// What earned a prize award: a wheel draw (by its id), a forward-to-
/// Moments tier (by its index) or a raffle (by its id; the rank is the
/// award's slot index); exactly one, as the table's CHECK says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwardSource {
    Draw(String),
    Tier(u32),
    Raffle(String),
}

impl AwardSource {
    /// The draw's id; empty for a tier award.
    pub fn draw_id(&self) -> &str {
        match self {
            Self::Draw(id) => id,
            Self::Tier(_) | Self::Raffle(_) => "",
        }
    }
}

impl CampaignRecord {
    /// The status callers see (`CampaignStatus::shown`).
    pub fn shown_status(&self) -> CampaignStatus {
        self.status.shown(self.window_over)
    }

    pub fn holds(&self, activity: Activity) -> bool {
        self.activities.contains(&activity)
    }

    /// Refuses a call of `activity` if the campaign does not hold it.
    pub fn require(&self, activity: Activity) -> Result<(), StoreError> {
        if self.holds(activity) {
            Ok(())
        } else {
            Err(Rejection::NoActivity(activity.as_str()).into())
        }
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
    /// A raffle of the campaign, after the packets, and how many
    /// `RaffleEntrants` lines follow it.
    Raffle(Box<super::raffle::RaffleRecord>, usize),
    /// A drawn raffle's entrants in pick order, `[id, owner, weight]`
    /// each, at most `ENTRANTS_PER_LINE` a line: `(raffle_seq, part from
    /// 1, entrants)`. One line for a big raffle would pass the 4 MiB a
    /// gRPC client takes by default.
    RaffleEntrants(i64, usize, Vec<serde_json::Value>),
}

/// Entrants in one `RaffleEntrants` export line (about 50 bytes each).
pub const ENTRANTS_PER_LINE: usize = 5_000;

/// Who draws, where, when.
#[derive(Debug, Clone)]
pub struct DrawCommand {
    pub merchant_id: String,
    pub player_id: String,
    pub campaign_id: Uuid,
    pub channel: Option<String>,
    /// The store the player draws in (a registered store's code).
    pub store_id: Option<String>,
}

// The seed is read only once revealed: the campaign has ended, or its
// window is over at $2 (now).
const SELECT_CAMPAIGN: &str = "SELECT campaign_id, merchant_id, name, status, starts_at, ends_at, \
     time_zone, draws_per_day, draws_total, fallback_slot, created_at, prize_table, \
     prize_table_hash, seed_commitment, published_at, \
     CASE WHEN status = 'ended' OR ends_at <= $2 THEN roll_secret END, table_version, \
     publish_at_start, publish_error \
     FROM campaign WHERE campaign_id = $1";
const SELECT_SLOTS: &str = "SELECT slot_index, name, kind, weight, initial_stock, remaining, \
     daily_cap, per_user_cap, reference, amount, claim_days \
     FROM prize_slot WHERE campaign_id = $1 ORDER BY slot_index";
const SELECT_AWARD: &str = "SELECT a.award_id, a.campaign_id, a.draw_id, a.player_id, a.slot_index, \
     a.prize_name, a.kind, a.status, a.won_at, a.claim_deadline, a.recipient, a.phone, a.address, \
     a.tracking_number, c.merchant_id, a.tier_index, a.raffle_id, a.store_id \
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
/// `draw_id`, `tier_index` and `raffle_id` are nullable; exactly one is set.
pub(crate) fn award_from_row(r: &impl DbRow) -> Result<(AwardRecord, String), StoreError> {
    let source = match (r.opt_text(2)?, r.opt_int(15)?, r.opt_text(16)?) {
        (Some(draw), None, None) => AwardSource::Draw(draw),
        (None, Some(tier), None) => AwardSource::Tier(index_of(tier)?),
        (None, None, Some(raffle)) => AwardSource::Raffle(raffle),
        other => return Err(corrupt("award source (draw, tier, raffle)", other)),
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
            store_id: r.opt_text(17)?,
        },
        r.text(14)?,
    ))
}

pub(crate) async fn load_campaign<T: DbTx>(
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
    let activities = super::activity::activities_of(tx, &id.to_string()).await?;
    Ok(CampaignRecord {
        activities,
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
        publish_at_start: r.int(17)? != 0,
        publish_error: r.text(18)?,
    })
}

/// Locks the campaign row of this merchant for an edit (the UPDATE takes the
/// row lock on PostgreSQL; SQLite's writer is already exclusive) and
/// explains a refusal: unknown, another merchant's, or not in `want`.
pub(crate) async fn lock_campaign<T: DbTx>(
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

// `draw_rows` first: its SQL macros are used by the draw's modules.
#[macro_use]
mod draw_rows;
mod admin;
pub(crate) use admin::commit_change;
mod draw;
pub(super) mod draw_batch_postgres;
mod draw_postgres;
mod draw_sqlite;
mod export;
mod fulfil;

use self::draw_rows::*;
