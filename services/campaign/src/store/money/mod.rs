//! Budgets, red packets and the double-entry money ledger.
//!
//! Every movement of money is one row in `money_movement` and two rows in
//! `ledger_entry` (minus out of one account, plus into another), written by
//! [`move_money`] in the transaction of its effect, next to the guarded
//! counter updates (`available >= $amount`, `remaining >= $amount`, the
//! conservation CHECKs on `budget` and `red_packet`). A grab of a group
//! packet takes the next part under the packet row's lock (`grabbed =
//! grabbed + 1 WHERE grabbed < parts`), so the parts handed out are
//! distinct by construction; UNIQUE (packet, player) makes it one grab per
//! player.

use uuid::Uuid;

use super::{
    Outcome, Store, StoreError, claim_key,
    db::{Db, DbRow, DbTx, args, fetch_one},
    finish, new_id,
    wheel::own_campaign,
};
use crate::domain::{
    Millis, Rejection,
    activity::Activity,
    fairness::player_pseudonym,
    idempotency::Idempotency,
    money::{MoneyRng, PacketState, SplitMode, grant_amount, grant_message, split, split_message},
    wheel::{CampaignStatus, campaign_day},
};

/// Default and longest packet lifetime.
pub const DEFAULT_PACKET_TTL_MS: Millis = 24 * 3_600_000;

pub const MAX_PACKET_TTL_MS: Millis = 30 * 24 * 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRecord {
    pub campaign_id: String,
    pub funded: i64,
    pub available: i64,
    pub reserved: i64,
    pub granted: i64,
    pub refunded: i64,
    pub packets: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    Group,
    Campaign,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketRecord {
    pub packet_id: String,
    pub campaign_id: String,
    pub kind: PacketKind,
    pub packet_seq: i64,
    pub split_mode: Option<SplitMode>,
    pub total: i64,
    pub parts: i64,
    pub min_cents: i64,
    pub max_cents: i64,
    pub grabbed: i64,
    pub granted: i64,
    pub released: i64,
    pub remaining: i64,
    /// The rest has gone back to the budget (the stored state).
    pub expired: bool,
    pub expires_at: Millis,
    pub created_at: Millis,
    /// As shown when it was read (`packet_state_sql!`), or at creation.
    pub state: PacketState,
}

/// One part of a group packet (or one grant of a campaign packet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub index: i64,
    pub amount: i64,
    pub player_id: Option<String>,
    pub grabbed_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrabRecord {
    pub packet_id: String,
    pub campaign_id: String,
    pub amount: i64,
    pub grab_seq: i64,
    pub grabbed_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovementRecord {
    pub movement_id: String,
    pub kind: String,
    pub amount: i64,
    pub packet_id: Option<String>,
    pub player_id: Option<String>,
    pub at: Millis,
    pub entries: Vec<(String, i64)>,
}

/// A packet as the auditor's export shows it: its parts (group) and every
/// grab as `(grab_seq, player pseudonym, amount)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketExport {
    pub packet: PacketRecord,
    pub parts: Vec<i64>,
    pub grabs: Vec<(i64, String, i64)>,
}

/// What a packet request asks for, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketSpec {
    Group {
        total: i64,
        parts: u32,
        mode: SplitMode,
    },
    Campaign {
        min: i64,
        max: i64,
    },
}

fn budget_account(campaign: &str) -> String {
    format!("budget:{campaign}")
}

fn packet_account(packet: &str) -> String {
    format!("packet:{packet}")
}

fn player_account(campaign: &str, player: &str) -> String {
    format!("player:{campaign}:{player}")
}

fn prizes_account(campaign: &str) -> String {
    format!("prizes:{campaign}")
}

/// Writes one balanced movement: `amount` out of `from`, into `to`.
#[allow(clippy::too_many_arguments)]
async fn move_money<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    kind: &'static str,
    amount: i64,
    from: &str,
    to: &str,
    packet: Option<&str>,
    player: Option<&str>,
    now: Millis,
) -> Result<String, StoreError> {
    insert_movement(
        tx,
        campaign,
        kind,
        amount,
        from,
        to,
        (packet, player, None),
        now,
    )
    .await
}

/// `move_money` with the draw a wheel cash prize came from.
#[allow(clippy::too_many_arguments)]
async fn insert_movement<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    kind: &'static str,
    amount: i64,
    from: &str,
    to: &str,
    (packet, player, draw): (Option<&str>, Option<&str>, Option<&str>),
    now: Millis,
) -> Result<String, StoreError> {
    let id = new_id();
    tx.execute(
        "INSERT INTO money_movement (movement_id, campaign_id, kind, amount, packet_id, \
         player_id, draw_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![&id, campaign, kind, amount, packet, player, draw, now],
    )
    .await?;
    for (account, signed) in [(from, -amount), (to, amount)] {
        tx.execute(
            "INSERT INTO ledger_entry (movement_id, account, amount) VALUES ($1, $2, $3)",
            args![&id, account, signed],
        )
        .await?;
    }
    Ok(id)
}

const SELECT_BUDGET: &str = "SELECT campaign_id, funded, available, reserved, granted, refunded, \
                             packet_count, merchant_id FROM budget WHERE campaign_id = $1";

fn budget_from_row(r: &impl DbRow) -> Result<BudgetRecord, StoreError> {
    Ok(BudgetRecord {
        campaign_id: r.text(0)?,
        funded: r.int(1)?,
        available: r.int(2)?,
        reserved: r.int(3)?,
        granted: r.int(4)?,
        refunded: r.int(5)?,
        packets: r.int(6)?,
    })
}

/// A packet's state as shown at the instant in placeholder `$now`, over
/// `p` (red_packet) and `b` (its budget): EXPIRED from its expiry on (grabs
/// are refused from then; the sweep returns the rest within seconds),
/// EXHAUSTED when nothing is left to grab (every part of a group packet
/// taken; a campaign packet's budget has nothing available), else OPEN.
/// The one definition: GetRedPacket shows it and ListRedPackets filters on
/// it.
macro_rules! packet_state_sql {
    ($now:literal) => {
        concat!(
            "CASE WHEN p.state = 'expired' OR p.expires_at <= ",
            $now,
            " THEN 'expired' \
             WHEN (p.kind = 'group' AND p.grabbed >= p.parts) \
               OR (p.kind = 'campaign' AND b.available <= 0) THEN 'exhausted' \
             ELSE 'open' END"
        )
    };
}

/// The columns `packet_from_row` reads, from `red_packet p JOIN budget b`;
/// the state as shown at `$now`.
macro_rules! packet_columns_sql {
    ($now:literal) => {
        concat!(
            "p.packet_id, p.campaign_id, p.kind, p.packet_seq, p.split_mode, p.total, \
             p.parts, p.min_cents, p.max_cents, p.grabbed, p.granted, p.released, p.remaining, \
             p.state, p.expires_at, p.created_at, ",
            packet_state_sql!($now)
        )
    };
}

/// A packet by id (`$1`) as shown at `$2`, and its merchant (column 17).
const SELECT_PACKET: &str = concat!(
    "SELECT ",
    packet_columns_sql!("$2"),
    ", p.merchant_id FROM red_packet p JOIN budget b ON b.campaign_id = p.campaign_id \
     WHERE p.packet_id = $1"
);

fn packet_from_row(r: &impl DbRow) -> Result<PacketRecord, StoreError> {
    let kind = match r.text(2)?.as_str() {
        "group" => PacketKind::Group,
        "campaign" => PacketKind::Campaign,
        other => return Err(StoreError::Corrupt(format!("packet kind {other}"))),
    };
    Ok(PacketRecord {
        packet_id: r.text(0)?,
        campaign_id: r.text(1)?,
        kind,
        packet_seq: r.int(3)?,
        split_mode: SplitMode::parse(&r.text(4)?),
        total: r.int(5)?,
        parts: r.int(6)?,
        min_cents: r.int(7)?,
        max_cents: r.int(8)?,
        grabbed: r.int(9)?,
        granted: r.int(10)?,
        released: r.int(11)?,
        remaining: r.int(12)?,
        expired: r.text(13)? == "expired",
        expires_at: r.int(14)?,
        created_at: r.int(15)?,
        state: PacketState::parse(&r.text(16)?)
            .ok_or_else(|| StoreError::Corrupt("packet state".into()))?,
    })
}

/// The budget of this merchant's campaign, read in `tx`.
async fn own_budget<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    campaign: &str,
) -> Result<BudgetRecord, StoreError> {
    let r = fetch_one(tx, "budget", SELECT_BUDGET, args![campaign]).await?;
    if r.text(7)? != merchant_id {
        return Err(StoreError::OtherMerchant("budget"));
    }
    budget_from_row(&r)
}

/// This merchant's packet, read in `tx`, as shown at `now`.
async fn own_packet<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    packet_id: &str,
    now: Millis,
) -> Result<PacketRecord, StoreError> {
    let r = fetch_one(tx, "red packet", SELECT_PACKET, args![packet_id, now]).await?;
    if r.text(17)? != merchant_id {
        return Err(StoreError::OtherMerchant("red packet"));
    }
    packet_from_row(&r)
}

mod budget;
mod ledger;
mod list;
mod packet;

pub(in crate::store) use self::{budget::*, ledger::*};
