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
    fairness::player_pseudonym,
    idempotency::Idempotency,
    money::{MoneyRng, SplitMode, grant_amount, grant_message, split, split_message},
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
    pub expired: bool,
    pub expires_at: Millis,
    pub created_at: Millis,
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

/// Every packet of a campaign with its parts and grabs, for the export.
pub(super) async fn export_packets<T: DbTx>(
    tx: &mut T,
    campaign: Uuid,
) -> Result<Vec<PacketExport>, StoreError> {
    let rows = tx
        .fetch_all(
            "SELECT packet_id, campaign_id, kind, packet_seq, split_mode, total, parts, \
             min_cents, max_cents, grabbed, granted, released, remaining, state, expires_at, \
             created_at FROM red_packet WHERE campaign_id = $1 ORDER BY packet_seq",
            args![campaign.to_string()],
        )
        .await?;
    let packets = rows
        .iter()
        .map(packet_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(packets.len());
    for packet in packets {
        let parts = tx
            .fetch_all(
                "SELECT amount FROM packet_part WHERE packet_id = $1 ORDER BY part_index",
                args![&packet.packet_id],
            )
            .await?
            .iter()
            .map(|r| r.int(0))
            .collect::<Result<_, _>>()?;
        let grabs = tx
            .fetch_all(
                "SELECT grab_seq, player_id, amount FROM packet_grab WHERE packet_id = $1 \
                 ORDER BY grab_seq",
                args![&packet.packet_id],
            )
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.int(0)?,
                    player_pseudonym(campaign, &r.text(1)?),
                    r.int(2)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        out.push(PacketExport {
            packet,
            parts,
            grabs,
        });
    }
    Ok(out)
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

/// Keeps the wheel's cash-prize reserve equal to what its CASH slots can
/// still pay (`remaining × amount`; nothing once `ended`): at publish it is
/// taken from the budget's available money (RESOURCE_EXHAUSTED when the
/// budget is short), a revision tops it up or gives back the difference,
/// and the end of the campaign gives all of it back. Runs in the
/// transaction of the transition.
pub(super) async fn settle_cash_reserve<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    ended: bool,
    now: Millis,
) -> Result<(), StoreError> {
    let needed = if ended {
        0
    } else {
        fetch_one(
            tx,
            "campaign",
            "SELECT CAST(COALESCE(SUM(remaining * amount), 0) AS BIGINT) FROM prize_slot \
             WHERE campaign_id = $1 AND kind = 'cash'",
            args![campaign],
        )
        .await?
        .int(0)?
    };
    let held = fetch_one(
        tx,
        "ledger",
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_entry WHERE account = $1",
        args![prizes_account(campaign)],
    )
    .await?
    .int(0)?;
    let delta = needed - held;
    if delta > 0 {
        let taken = tx
            .execute(
                "UPDATE budget SET available = available - $2, reserved = reserved + $2 \
                 WHERE campaign_id = $1 AND available >= $2",
                args![campaign, delta],
            )
            .await?;
        if taken == 0 {
            let available = tx
                .fetch_optional(
                    "SELECT available FROM budget WHERE campaign_id = $1",
                    args![campaign],
                )
                .await?
                .map(|r| r.int(0))
                .transpose()?
                .unwrap_or(0);
            return Err(Rejection::CashPrizesUnfunded {
                needed: delta,
                available,
            }
            .into());
        }
        move_money(
            tx,
            campaign,
            "reserve",
            delta,
            &budget_account(campaign),
            &prizes_account(campaign),
            None,
            None,
            now,
        )
        .await?;
    } else if delta < 0 {
        tx.execute(
            "UPDATE budget SET available = available + $2, reserved = reserved - $2 \
             WHERE campaign_id = $1",
            args![campaign, -delta],
        )
        .await?;
        move_money(
            tx,
            campaign,
            "release",
            -delta,
            &prizes_account(campaign),
            &budget_account(campaign),
            None,
            None,
            now,
        )
        .await?;
    }
    Ok(())
}

/// Pays `amount` straight from the budget's available money to a player
/// (a cash share tier), guarded by `available >= amount`. False, and
/// nothing moved, when the budget is short or does not exist.
pub(super) async fn pay_from_budget<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    player: &str,
    amount: i64,
    now: Millis,
) -> Result<bool, StoreError> {
    if amount <= 0 {
        return Ok(true);
    }
    let paid = tx
        .execute(
            "UPDATE budget SET available = available - $2, granted = granted + $2 \
             WHERE campaign_id = $1 AND available >= $2",
            args![campaign, amount],
        )
        .await?;
    if paid == 0 {
        return Ok(false);
    }
    move_money(
        tx,
        campaign,
        "grant",
        amount,
        &budget_account(campaign),
        &player_account(campaign, player),
        None,
        Some(player),
        now,
    )
    .await?;
    Ok(true)
}

/// Pays a won cash prize out of the wheel's reserve, in the draw's
/// transaction. The slot's stock guard already ran, so the reserve holds
/// the amount; the guard here is the backstop.
pub(super) async fn pay_cash_prize<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    player: &str,
    draw_id: &str,
    amount: i64,
    now: Millis,
) -> Result<(), StoreError> {
    if amount <= 0 {
        return Ok(());
    }
    let paid = tx
        .execute(
            "UPDATE budget SET reserved = reserved - $2, granted = granted + $2 \
             WHERE campaign_id = $1 AND reserved >= $2",
            args![campaign, amount],
        )
        .await?;
    if paid != 1 {
        return Err(StoreError::Corrupt(format!(
            "campaign {campaign}: the cash-prize reserve cannot pay {amount} cents"
        )));
    }
    insert_movement(
        tx,
        campaign,
        "grant",
        amount,
        &prizes_account(campaign),
        &player_account(campaign, player),
        (None, Some(player), Some(draw_id)),
        now,
    )
    .await?;
    Ok(())
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

const SELECT_PACKET: &str = "SELECT packet_id, campaign_id, kind, packet_seq, split_mode, total, \
     parts, min_cents, max_cents, grabbed, granted, released, remaining, state, expires_at, \
     created_at, merchant_id FROM red_packet WHERE packet_id = $1";

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

/// This merchant's packet, read in `tx`.
async fn own_packet<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    packet_id: &str,
) -> Result<PacketRecord, StoreError> {
    let r = fetch_one(tx, "red packet", SELECT_PACKET, args![packet_id]).await?;
    if r.text(16)? != merchant_id {
        return Err(StoreError::OtherMerchant("red packet"));
    }
    packet_from_row(&r)
}

/// Expires one packet if it is open and due: its unclaimed money goes back
/// to the budget. Guarded by `state = 'open'` (and the UNIQUE release per
/// packet), so it happens once however often it is asked. Returns the
/// cents released, or None if there was nothing to do.
async fn expire_packet<T: DbTx>(
    tx: &mut T,
    packet_id: &str,
    now: Millis,
) -> Result<Option<i64>, StoreError> {
    let Some(r) = tx
        .fetch_optional(
            "UPDATE red_packet SET state = 'expired', expired_at = $2, \
             released = released + remaining, remaining = 0 \
             WHERE packet_id = $1 AND state = 'open' AND expires_at <= $2 \
             RETURNING campaign_id, released",
            args![packet_id, now],
        )
        .await?
    else {
        return Ok(None);
    };
    let (campaign, released) = (r.text(0)?, r.int(1)?);
    if released > 0 {
        tx.execute(
            "UPDATE budget SET reserved = reserved - $2, available = available + $2 \
             WHERE campaign_id = $1",
            args![&campaign, released],
        )
        .await?;
        move_money(
            tx,
            &campaign,
            "release",
            released,
            &packet_account(packet_id),
            &budget_account(&campaign),
            Some(packet_id),
            None,
            now,
        )
        .await?;
    }
    Ok(Some(released))
}

impl<D: Db> Store<D> {
    /// Adds `amount` to the campaign's budget, creating it on first use.
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
    pub async fn fund_budget(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        amount: i64,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&BudgetRecord) -> Vec<u8>,
    ) -> Result<Outcome<BudgetRecord>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        own_campaign(&mut tx, merchant_id, campaign_id, now).await?;
        tx.execute(
            "INSERT INTO budget (campaign_id, merchant_id, funded, available, reserved, granted, \
             refunded, packet_count, created_at) VALUES ($1, $2, 0, 0, 0, 0, 0, 0, $3) \
             ON CONFLICT (campaign_id) DO NOTHING",
            args![&campaign, merchant_id, now],
        )
        .await?;
        tx.execute(
            "UPDATE budget SET funded = funded + $2, available = available + $2 \
             WHERE campaign_id = $1",
            args![&campaign, amount],
        )
        .await?;
        move_money(
            &mut tx,
            &campaign,
            "fund",
            amount,
            &format!("merchant:{merchant_id}"),
            &budget_account(&campaign),
            None,
            None,
            now,
        )
        .await?;
        let b = own_budget(&mut tx, merchant_id, &campaign).await?;
        finish(tx, idem, encode(&b)).await?;
        Ok(Outcome::Fresh(b))
    }

    /// Takes available money back to the merchant.
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
    pub async fn refund_budget(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        amount: i64,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&BudgetRecord) -> Vec<u8>,
    ) -> Result<Outcome<BudgetRecord>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let b = own_budget(&mut tx, merchant_id, &campaign).await?;
        let taken = tx
            .execute(
                "UPDATE budget SET available = available - $2, refunded = refunded + $2 \
                 WHERE campaign_id = $1 AND available >= $2",
                args![&campaign, amount],
            )
            .await?;
        if taken == 0 {
            return Err(Rejection::BudgetShort {
                available: b.available,
            }
            .into());
        }
        move_money(
            &mut tx,
            &campaign,
            "refund",
            amount,
            &budget_account(&campaign),
            &format!("refunded:{campaign}"),
            None,
            None,
            now,
        )
        .await?;
        let b = own_budget(&mut tx, merchant_id, &campaign).await?;
        finish(tx, idem, encode(&b)).await?;
        Ok(Outcome::Fresh(b))
    }

    pub async fn get_budget(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
    ) -> Result<BudgetRecord, StoreError> {
        let mut tx = self.db.begin_read().await?;
        own_budget(&mut tx, merchant_id, &campaign_id.to_string()).await
    }

    /// Creates a packet. A group packet reserves its total from the budget
    /// and stores its split, computed from the campaign's committed seed.
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
    #[allow(clippy::too_many_arguments)]
    pub async fn create_packet(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        spec: PacketSpec,
        ttl_ms: Millis,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&PacketRecord) -> Vec<u8>,
    ) -> Result<Outcome<PacketRecord>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let c = own_campaign(&mut tx, merchant_id, campaign_id, now).await?;
        match c.status {
            CampaignStatus::Published | CampaignStatus::Paused => {}
            CampaignStatus::Draft => return Err(Rejection::DraftNotOpen.into()),
            CampaignStatus::Ended => return Err(Rejection::NotRunning("ended").into()),
        }
        // The packet sequence is bumped under the budget row's lock.
        let seq_row = tx
            .fetch_optional(
                "UPDATE budget SET packet_count = packet_count + 1 WHERE campaign_id = $1 \
                 AND merchant_id = $2 RETURNING packet_count, available",
                args![&campaign, merchant_id],
            )
            .await?
            .ok_or(StoreError::NotFound("budget (fund the campaign first)"))?;
        let (seq, available) = (seq_row.int(0)?, seq_row.int(1)?);
        let packet_id = new_id();
        let mut p = PacketRecord {
            packet_id: packet_id.clone(),
            campaign_id: campaign.clone(),
            kind: PacketKind::Campaign,
            packet_seq: seq,
            split_mode: None,
            total: 0,
            parts: 0,
            min_cents: 0,
            max_cents: 0,
            grabbed: 0,
            granted: 0,
            released: 0,
            remaining: 0,
            expired: false,
            expires_at: now + ttl_ms,
            created_at: now,
        };
        let mut split_parts = Vec::new();
        match spec {
            PacketSpec::Group { total, parts, mode } => {
                let reserved = tx
                    .execute(
                        "UPDATE budget SET available = available - $2, reserved = reserved + $2 \
                         WHERE campaign_id = $1 AND available >= $2",
                        args![&campaign, total],
                    )
                    .await?;
                if reserved == 0 {
                    return Err(Rejection::BudgetShort { available }.into());
                }
                let seed = self.campaign_seed(&mut tx, &campaign).await?;
                let mut rng = MoneyRng::new(
                    &seed,
                    &split_message(campaign_id.as_bytes(), seq as u64, total, parts, mode),
                );
                split_parts = split(total, parts, mode, &mut rng);
                p.kind = PacketKind::Group;
                p.split_mode = Some(mode);
                p.total = total;
                p.parts = i64::from(parts);
                p.remaining = total;
            }
            PacketSpec::Campaign { min, max } => {
                p.min_cents = min;
                p.max_cents = max;
            }
        }
        tx.execute(
            "INSERT INTO red_packet (packet_id, campaign_id, merchant_id, packet_seq, kind, \
             split_mode, total, parts, min_cents, max_cents, grabbed, granted, released, \
             remaining, state, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, 0, 0, $11, 'open', $12, $13)",
            args![
                &packet_id,
                &campaign,
                merchant_id,
                seq,
                match p.kind {
                    PacketKind::Group => "group",
                    PacketKind::Campaign => "campaign",
                },
                p.split_mode.map_or("", SplitMode::as_str),
                p.total,
                p.parts,
                p.min_cents,
                p.max_cents,
                p.remaining,
                p.expires_at,
                now
            ],
        )
        .await?;
        if p.kind == PacketKind::Group {
            for (i, amount) in split_parts.iter().enumerate() {
                tx.execute(
                    "INSERT INTO packet_part (packet_id, part_index, amount) VALUES ($1, $2, $3)",
                    args![&packet_id, i as i64, *amount],
                )
                .await?;
            }
            move_money(
                &mut tx,
                &campaign,
                "reserve",
                p.total,
                &budget_account(&campaign),
                &packet_account(&packet_id),
                Some(&packet_id),
                None,
                now,
            )
            .await?;
        }
        finish(tx, idem, encode(&p)).await?;
        Ok(Outcome::Fresh(p))
    }

    async fn campaign_seed<T: DbTx>(
        &self,
        tx: &mut T,
        campaign: &str,
    ) -> Result<Vec<u8>, StoreError> {
        fetch_one(
            tx,
            "campaign",
            "SELECT roll_secret FROM campaign WHERE campaign_id = $1",
            args![campaign],
        )
        .await?
        .opt_bytes(0)?
        .ok_or(Rejection::NotPublished.into())
    }

    /// A player grabs a packet, once.
    #[tracing::instrument(skip_all, fields(packet.id = %packet_id))]
    #[allow(clippy::too_many_arguments)]
    pub async fn grab_packet(
        &self,
        merchant_id: &str,
        player_id: &str,
        packet_id: Uuid,
        channel: Option<&str>,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&GrabRecord) -> Vec<u8>,
    ) -> Result<Outcome<GrabRecord>, StoreError> {
        let packet_id = packet_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        // Another merchant's packet is simply not there for this player.
        let p = own_packet(&mut tx, merchant_id, &packet_id)
            .await
            .map_err(|e| match e {
                StoreError::OtherMerchant(_) => StoreError::NotFound("red packet"),
                e => e,
            })?;
        let campaign_uuid = super::parse_uuid(&p.campaign_id)?;
        let c = fetch_one(
            &mut tx,
            "campaign",
            "SELECT status, starts_at, ends_at, time_zone FROM campaign WHERE campaign_id = $1",
            args![&p.campaign_id],
        )
        .await?;
        let status = c.text(0)?;
        if status != CampaignStatus::Published.as_str() {
            let status = CampaignStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("campaign status {status}")))?;
            return Err(Rejection::NotRunning(status.as_str()).into());
        }
        if now < c.int(1)? {
            return Err(Rejection::NotStarted.into());
        }
        if now >= c.int(2)? {
            return Err(Rejection::WindowOver.into());
        }
        let day = campaign_day(now, &c.text(3)?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if p.expired || now >= p.expires_at {
            return Err(Rejection::PacketExpired.into());
        }
        let mine = tx
            .fetch_optional(
                "SELECT 1 FROM packet_grab WHERE packet_id = $1 AND player_id = $2",
                args![&packet_id, player_id],
            )
            .await?;
        if mine.is_some() {
            return Err(Rejection::AlreadyGrabbed.into());
        }
        let grab = match p.kind {
            PacketKind::Group => {
                // The packet row's lock orders grabbers; the counter names
                // the part, so no two grabs take the same one.
                let Some(r) = tx
                    .fetch_optional(
                        "UPDATE red_packet SET grabbed = grabbed + 1 \
                         WHERE packet_id = $1 AND state = 'open' AND grabbed < parts \
                         RETURNING grabbed",
                        args![&packet_id],
                    )
                    .await?
                else {
                    return Err(Rejection::PacketEmpty.into());
                };
                let seq = r.int(0)?;
                let amount = fetch_one(
                    &mut tx,
                    "packet part",
                    "SELECT amount FROM packet_part WHERE packet_id = $1 AND part_index = $2",
                    args![&packet_id, seq - 1],
                )
                .await?
                .int(0)?;
                let paid = tx
                    .execute(
                        "UPDATE red_packet SET granted = granted + $2, remaining = remaining - $2 \
                         WHERE packet_id = $1 AND remaining >= $2",
                        args![&packet_id, amount],
                    )
                    .await?;
                if paid != 1 {
                    return Err(StoreError::Corrupt(format!(
                        "packet {packet_id}: part {seq} exceeds what is reserved"
                    )));
                }
                tx.execute(
                    "UPDATE budget SET reserved = reserved - $2, granted = granted + $2 \
                     WHERE campaign_id = $1",
                    args![&p.campaign_id, amount],
                )
                .await?;
                let movement = move_money(
                    &mut tx,
                    &p.campaign_id,
                    "grant",
                    amount,
                    &packet_account(&packet_id),
                    &player_account(&p.campaign_id, player_id),
                    Some(&packet_id),
                    Some(player_id),
                    now,
                )
                .await?;
                (seq, amount, movement)
            }
            PacketKind::Campaign => {
                let seed = self.campaign_seed(&mut tx, &p.campaign_id).await?;
                let pseudonym = player_pseudonym(campaign_uuid, player_id);
                let mut rng = MoneyRng::new(
                    &seed,
                    &grant_message(
                        campaign_uuid.as_bytes(),
                        p.packet_seq as u64,
                        pseudonym.as_bytes(),
                    ),
                );
                let want = grant_amount(p.min_cents, p.max_cents, &mut rng);
                let amount = self.take_from_budget(&mut tx, &p.campaign_id, want).await?;
                let seq = fetch_one(
                    &mut tx,
                    "red packet",
                    "UPDATE red_packet SET grabbed = grabbed + 1, granted = granted + $2 \
                     WHERE packet_id = $1 RETURNING grabbed",
                    args![&packet_id, amount],
                )
                .await?
                .int(0)?;
                let movement = move_money(
                    &mut tx,
                    &p.campaign_id,
                    "grant",
                    amount,
                    &budget_account(&p.campaign_id),
                    &player_account(&p.campaign_id, player_id),
                    Some(&packet_id),
                    Some(player_id),
                    now,
                )
                .await?;
                (seq, amount, movement)
            }
        };
        let (seq, amount, movement) = grab;
        tx.execute(
            "INSERT INTO packet_grab (packet_id, player_id, grab_seq, amount, movement_id, \
             grabbed_at, channel, day) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![
                &packet_id, player_id, seq, amount, &movement, now, channel, &day
            ],
        )
        .await?;
        super::stats::note_activity(&mut tx, &p.campaign_id, player_id, &day, channel, now).await?;
        let g = GrabRecord {
            packet_id,
            campaign_id: p.campaign_id,
            amount,
            grab_seq: seq,
            grabbed_at: now,
        };
        finish(tx, idem, encode(&g)).await?;
        Ok(Outcome::Fresh(g))
    }

    /// Takes up to `want` cents of the budget's available money: all of it
    /// if there is that much, else what is left (the last grant is capped),
    /// never below zero. BudgetSpent when nothing is left.
    async fn take_from_budget<T: DbTx>(
        &self,
        tx: &mut T,
        campaign: &str,
        want: i64,
    ) -> Result<i64, StoreError> {
        let mut amount = want;
        // Each round either succeeds or sees a smaller balance; concurrent
        // grabs can shrink it a few times at most before it is 0.
        for _ in 0..64 {
            let taken = tx
                .execute(
                    "UPDATE budget SET available = available - $2, granted = granted + $2 \
                     WHERE campaign_id = $1 AND available >= $2",
                    args![campaign, amount],
                )
                .await?;
            if taken == 1 {
                return Ok(amount);
            }
            let left = fetch_one(
                tx,
                "budget",
                "SELECT available FROM budget WHERE campaign_id = $1",
                args![campaign],
            )
            .await?
            .int(0)?;
            if left == 0 {
                return Err(Rejection::BudgetSpent.into());
            }
            amount = left.min(want);
        }
        Err(StoreError::Conflict("budget contended; retry".into()))
    }

    pub async fn list_player_grabs(
        &self,
        merchant_id: &str,
        player_id: &str,
    ) -> Result<Vec<GrabRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT g.packet_id, p.campaign_id, g.amount, g.grab_seq, g.grabbed_at \
                 FROM packet_grab g JOIN red_packet p ON p.packet_id = g.packet_id \
                 WHERE g.player_id = $1 AND p.merchant_id = $2 \
                 ORDER BY g.grabbed_at DESC, g.packet_id DESC LIMIT 100",
                args![player_id, merchant_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(GrabRecord {
                    packet_id: r.text(0)?,
                    campaign_id: r.text(1)?,
                    amount: r.int(2)?,
                    grab_seq: r.int(3)?,
                    grabbed_at: r.int(4)?,
                })
            })
            .collect()
    }

    /// A packet with its parts (group) or grants (campaign).
    pub async fn get_packet(
        &self,
        merchant_id: &str,
        packet_id: Uuid,
    ) -> Result<(PacketRecord, Vec<PartRecord>), StoreError> {
        let packet_id = packet_id.to_string();
        let mut tx = self.db.begin_read().await?;
        let p = own_packet(&mut tx, merchant_id, &packet_id).await?;
        let rows = match p.kind {
            PacketKind::Group => {
                tx.fetch_all(
                    "SELECT pp.part_index, pp.amount, g.player_id, g.grabbed_at \
                     FROM packet_part pp LEFT JOIN packet_grab g \
                       ON g.packet_id = pp.packet_id AND g.grab_seq = pp.part_index + 1 \
                     WHERE pp.packet_id = $1 ORDER BY pp.part_index",
                    args![&packet_id],
                )
                .await?
            }
            PacketKind::Campaign => {
                tx.fetch_all(
                    "SELECT grab_seq - 1, amount, player_id, grabbed_at FROM packet_grab \
                     WHERE packet_id = $1 ORDER BY grab_seq",
                    args![&packet_id],
                )
                .await?
            }
        };
        let parts = rows
            .iter()
            .map(|r| {
                Ok(PartRecord {
                    index: r.int(0)?,
                    amount: r.int(1)?,
                    player_id: r.opt_text(2)?,
                    grabbed_at: r.opt_int(3)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((p, parts))
    }

    /// Expires every due open packet (of one campaign, or all), each in its
    /// own transaction. Returns (packets expired, cents released).
    pub async fn expire_due_packets(
        &self,
        merchant_campaign: Option<(&str, Uuid)>,
        now: Millis,
    ) -> Result<(u32, i64), StoreError> {
        let due: Vec<String> = {
            let mut tx = self.db.begin_read().await?;
            let rows = match merchant_campaign {
                Some((merchant, campaign)) => {
                    own_budget(&mut tx, merchant, &campaign.to_string()).await?;
                    tx.fetch_all(
                        "SELECT packet_id FROM red_packet WHERE campaign_id = $1 \
                         AND state = 'open' AND expires_at <= $2 ORDER BY expires_at LIMIT 1000",
                        args![campaign.to_string(), now],
                    )
                    .await?
                }
                None => {
                    tx.fetch_all(
                        "SELECT packet_id FROM red_packet WHERE state = 'open' \
                         AND expires_at <= $1 ORDER BY expires_at LIMIT 1000",
                        args![now],
                    )
                    .await?
                }
            };
            rows.iter().map(|r| r.text(0)).collect::<Result<_, _>>()?
        };
        let (mut count, mut released) = (0u32, 0i64);
        for packet in due {
            let mut tx = self.db.begin_write().await?;
            if let Some(r) = expire_packet(&mut tx, &packet, now).await? {
                tx.commit().await?;
                count += 1;
                released += r;
            }
        }
        Ok((count, released))
    }

    /// `expire_due_packets` for one campaign under an idempotency key: the
    /// sweep runs (each packet in its own transaction, so a crash midway
    /// leaves nothing half done), then the answer is stored under the key;
    /// a retry gets the stored answer, or sweeps again if there is none.
    pub async fn expire_campaign_packets(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&(u32, i64)) -> Vec<u8>,
    ) -> Result<Outcome<(u32, i64)>, StoreError> {
        {
            let mut tx = self.db.begin_read().await?;
            match super::stored_answer(&mut tx, idem).await {
                Ok(Some(bytes)) => return Ok(Outcome::Replay(bytes)),
                // Not seen yet, or a copy still in progress: go on.
                Ok(None) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let swept = self
            .expire_due_packets(Some((merchant_id, campaign_id)), now)
            .await?;
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            // A racing copy finished first: its answer is the answer.
            return Ok(Outcome::Replay(bytes));
        }
        finish(tx, idem, encode(&swept)).await?;
        Ok(Outcome::Fresh(swept))
    }

    /// The last movement of a campaign's money now (`None`: none yet): an
    /// export pages up to it. Checks the campaign is the merchant's.
    pub async fn ledger_bound(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
    ) -> Result<Option<String>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_read().await?;
        own_budget(&mut tx, merchant_id, &campaign).await?;
        tx.fetch_optional(
            "SELECT MAX(movement_id) FROM money_movement WHERE campaign_id = $1",
            args![&campaign],
        )
        .await?
        .map(|r| r.opt_text(0))
        .transpose()
        .map(Option::flatten)
    }

    /// Up to `limit` movements of a campaign's money with `after <
    /// movement_id <= upto`, in order, with their entries; read in a
    /// transaction of their own.
    pub async fn ledger_page(
        &self,
        campaign_id: Uuid,
        after: &str,
        upto: &str,
        limit: i64,
    ) -> Result<Vec<MovementRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT m.movement_id, m.kind, m.amount, m.packet_id, m.player_id, m.created_at, \
                 e.account, e.amount FROM ( \
                   SELECT movement_id, kind, amount, packet_id, player_id, created_at \
                   FROM money_movement WHERE campaign_id = $1 \
                   AND movement_id > $2 AND movement_id <= $3 ORDER BY movement_id LIMIT $4 \
                 ) m JOIN ledger_entry e ON e.movement_id = m.movement_id \
                 ORDER BY m.movement_id, e.amount",
                args![campaign_id.to_string(), after, upto, limit],
            )
            .await?;
        let mut out: Vec<MovementRecord> = Vec::new();
        for r in &rows {
            let id = r.text(0)?;
            let entry = (r.text(6)?, r.int(7)?);
            match out.last_mut() {
                Some(m) if m.movement_id == id => m.entries.push(entry),
                _ => out.push(MovementRecord {
                    movement_id: id,
                    kind: r.text(1)?,
                    amount: r.int(2)?,
                    packet_id: r.opt_text(3)?,
                    player_id: r.opt_text(4)?,
                    at: r.int(5)?,
                    entries: vec![entry],
                }),
            }
        }
        Ok(out)
    }
}
