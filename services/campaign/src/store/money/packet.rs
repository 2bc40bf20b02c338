//! Red packets: created from the budget, grabbed (a group packet's parts
//! drawn from the campaign's seeded stream), and expired with the rest
//! returned once.

use super::*;
use platform::domain::events::{EventDraft, EventType, PacketExpired, PacketGranted};

/// Expires one packet if it is open and due: its unclaimed money goes back
/// to the budget. Guarded by `state = 'open'` (and the UNIQUE release per
/// packet), so it happens once however often it is asked. Returns the
/// cents released, or None if there was nothing to do.
pub(super) async fn expire_packet<T: DbTx>(
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
    drop(r);
    let merchant = fetch_one(
        tx,
        "campaign",
        "SELECT merchant_id FROM campaign WHERE campaign_id = $1",
        args![&campaign],
    )
    .await?
    .text(0)?;
    let expired = PacketExpired {
        packet_id: packet_id.to_owned(),
        refunded: released,
    };
    let event = EventDraft::new(
        EventType::PacketExpired,
        &merchant,
        &campaign,
        "",
        now,
        &expired,
    );
    platform::store::events::append(tx, &event).await?;
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

/// A packet as created, before its kind is filled in: open, nothing
/// grabbed, due at `now + ttl_ms`.
fn open_packet(
    packet_id: &str,
    campaign: &str,
    seq: i64,
    now: Millis,
    ttl_ms: Millis,
) -> PacketRecord {
    PacketRecord {
        packet_id: packet_id.to_owned(),
        campaign_id: campaign.to_owned(),
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
        state: PacketState::Open,
    }
}

/// Writes the packet row of a new packet of `merchant_id`.
async fn insert_packet<T: DbTx>(
    tx: &mut T,
    p: &PacketRecord,
    merchant_id: &str,
    now: Millis,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO red_packet (packet_id, campaign_id, merchant_id, packet_seq, kind, \
         split_mode, total, parts, min_cents, max_cents, grabbed, granted, released, \
         remaining, state, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, 0, 0, $11, 'open', $12, $13)",
        args![
            &p.packet_id,
            &p.campaign_id,
            merchant_id,
            p.packet_seq,
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
    Ok(())
}

/// Stores a group packet's parts and moves its total from the budget
/// into the packet's account.
async fn reserve_parts<T: DbTx>(
    tx: &mut T,
    p: &PacketRecord,
    parts: &[i64],
    now: Millis,
) -> Result<(), StoreError> {
    let (packet_id, campaign) = (&p.packet_id, &p.campaign_id);
    for (i, amount) in parts.iter().enumerate() {
        tx.execute(
            "INSERT INTO packet_part (packet_id, part_index, amount) VALUES ($1, $2, $3)",
            args![packet_id, i as i64, *amount],
        )
        .await?;
    }
    move_money(
        tx,
        campaign,
        "reserve",
        p.total,
        &budget_account(campaign),
        &packet_account(packet_id),
        Some(packet_id),
        None,
        now,
    )
    .await?;
    Ok(())
}

/// The campaign's day at `now`, if the campaign is PUBLISHED and within
/// its window; otherwise why not.
async fn running_day<T: DbTx>(
    tx: &mut T,
    campaign_id: &str,
    now: Millis,
) -> Result<String, StoreError> {
    let c = fetch_one(
        tx,
        "campaign",
        "SELECT status, starts_at, ends_at, time_zone FROM campaign WHERE campaign_id = $1",
        args![campaign_id],
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
    campaign_day(now, &c.text(3)?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A grab of a group packet: the next part, paid from the packet's
/// reserve. Returns (grab number, cents, movement).
async fn grab_part<T: DbTx>(
    tx: &mut T,
    p: &PacketRecord,
    packet_id: &str,
    player_id: &str,
    now: Millis,
) -> Result<(i64, i64, String), StoreError> {
    // The packet row's lock orders grabbers; the counter names the part,
    // so no two grabs take the same one.
    let Some(r) = tx
        .fetch_optional(
            "UPDATE red_packet SET grabbed = grabbed + 1 \
             WHERE packet_id = $1 AND state = 'open' AND grabbed < parts \
             RETURNING grabbed",
            args![packet_id],
        )
        .await?
    else {
        return Err(Rejection::PacketEmpty.into());
    };
    let seq = r.int(0)?;
    let amount = fetch_one(
        tx,
        "packet part",
        "SELECT amount FROM packet_part WHERE packet_id = $1 AND part_index = $2",
        args![packet_id, seq - 1],
    )
    .await?
    .int(0)?;
    let paid = tx
        .execute(
            "UPDATE red_packet SET granted = granted + $2, remaining = remaining - $2 \
             WHERE packet_id = $1 AND remaining >= $2",
            args![packet_id, amount],
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
        tx,
        &p.campaign_id,
        "grant",
        amount,
        &packet_account(packet_id),
        &player_account(&p.campaign_id, player_id),
        Some(packet_id),
        Some(player_id),
        now,
    )
    .await?;
    Ok((seq, amount, movement))
}

impl<D: Db> Store<D> {
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
        c.require(Activity::Packet)?;
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
        let mut p = open_packet(&packet_id, &campaign, seq, now, ttl_ms);
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
                if available <= 0 {
                    // As `packet_state_sql!` would show it.
                    p.state = PacketState::Exhausted;
                }
            }
        }
        insert_packet(&mut tx, &p, merchant_id, now).await?;
        if p.kind == PacketKind::Group {
            reserve_parts(&mut tx, &p, &split_parts, now).await?;
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
        let p = own_packet(&mut tx, merchant_id, &packet_id, now)
            .await
            .map_err(|e| match e {
                StoreError::OtherMerchant(_) => StoreError::NotFound("red packet"),
                e => e,
            })?;
        let campaign_uuid = crate::store::parse_uuid(&p.campaign_id)?;
        let day = running_day(&mut tx, &p.campaign_id, now).await?;
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
        let (seq, amount, movement) = match p.kind {
            PacketKind::Group => grab_part(&mut tx, &p, &packet_id, player_id, now).await?,
            PacketKind::Campaign => {
                self.grant_from_budget(&mut tx, &p, campaign_uuid, &packet_id, player_id, now)
                    .await?
            }
        };
        tx.execute(
            "INSERT INTO packet_grab (packet_id, player_id, grab_seq, amount, movement_id, \
             grabbed_at, channel, day) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![
                &packet_id, player_id, seq, amount, &movement, now, channel, &day
            ],
        )
        .await?;
        crate::store::stats::note_activity(&mut tx, &p.campaign_id, player_id, &day, channel, now)
            .await?;
        let granted = PacketGranted {
            packet_id: packet_id.clone(),
            grab_seq: seq,
            movement_id: movement.clone(),
            amount,
        };
        let event = EventDraft::new(
            EventType::PacketGranted,
            merchant_id,
            &p.campaign_id,
            player_id,
            now,
            &granted,
        );
        platform::store::events::append(&mut tx, &event).await?;
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

    /// A grab of a campaign packet: an amount drawn from the campaign's
    /// seeded stream for this player, paid from the budget (less if the
    /// budget has less). Returns (grab number, cents, movement).
    async fn grant_from_budget<T: DbTx>(
        &self,
        tx: &mut T,
        p: &PacketRecord,
        campaign_uuid: Uuid,
        packet_id: &str,
        player_id: &str,
        now: Millis,
    ) -> Result<(i64, i64, String), StoreError> {
        let seed = self.campaign_seed(tx, &p.campaign_id).await?;
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
        let amount = self.take_from_budget(tx, &p.campaign_id, want).await?;
        let seq = fetch_one(
            tx,
            "red packet",
            "UPDATE red_packet SET grabbed = grabbed + 1, granted = granted + $2 \
             WHERE packet_id = $1 RETURNING grabbed",
            args![packet_id, amount],
        )
        .await?
        .int(0)?;
        let movement = move_money(
            tx,
            &p.campaign_id,
            "grant",
            amount,
            &budget_account(&p.campaign_id),
            &player_account(&p.campaign_id, player_id),
            Some(packet_id),
            Some(player_id),
            now,
        )
        .await?;
        Ok((seq, amount, movement))
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

    /// A packet as shown at `now`, with its parts (group) or grants
    /// (campaign).
    pub async fn get_packet(
        &self,
        merchant_id: &str,
        packet_id: Uuid,
        now: Millis,
    ) -> Result<(PacketRecord, Vec<PartRecord>), StoreError> {
        let packet_id = packet_id.to_string();
        let mut tx = self.db.begin_read().await?;
        let p = own_packet(&mut tx, merchant_id, &packet_id, now).await?;
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
            match crate::store::stored_answer(&mut tx, idem).await {
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
}
