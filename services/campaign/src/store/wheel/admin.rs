//! Changing a wheel: create it, its slots and fallback, its life cycle
//! (publish, pause, end) and revisions of its prize table, each with its
//! audit entry.

use super::*;
use platform::domain::events::{CampaignChanged, EventDraft, EventType};

pub(super) fn slot_args(id: Uuid, index: u32, s: &SlotSpec) -> Vec<Value> {
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
pub(super) async fn insert_table_version<T: DbTx>(
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
pub(crate) fn campaign_json(c: &CampaignRecord) -> Json {
    json!({
        "status": c.status.as_str(),
        "name": c.rules.name,
        "starts_at_ms": c.rules.starts_at,
        "ends_at_ms": c.rules.ends_at,
        "time_zone": c.rules.time_zone,
        "draws_per_day": c.rules.draws_per_day,
        "draws_total": c.rules.draws_total,
        "fallback_slot": c.fallback_slot,
        "publish_at_start": c.publish_at_start,
        "activities": c.activities.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
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
pub(crate) async fn commit_change<T: DbTx>(
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
pub(crate) async fn record_change<T: DbTx>(
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

impl<D: Db> Store<D> {
    /// A DRAFT campaign with every activity (what `CreateWheel` makes).
    pub async fn create_wheel(
        &self,
        merchant_id: &str,
        rules: &WheelRules,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CampaignRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<CampaignRecord>, StoreError> {
        self.create_campaign(merchant_id, rules, &Activity::ALL, now, idem, encode)
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
        before.require(Activity::Wheel)?;
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
        c.require(Activity::Wheel)?;
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
        c.require(Activity::Wheel)?;
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
        let mut commitment = c
            .fairness
            .as_ref()
            .map(|f| hex::encode(&f.seed_commitment))
            .unwrap_or_default();
        let mut published = None;
        if t == Transition::Publish {
            // The seed is drawn now, from the OS CSPRNG, and committed to
            // together with the exact rules it will roll against: the
            // wheel's prize table, or for a campaign without a wheel its
            // window and activities (FAIRNESS.md §3).
            let table = if c.holds(Activity::Wheel) {
                let slots: Vec<_> = c
                    .slots
                    .iter()
                    .map(|s| (s.index, s.spec.kind, s.spec.weight))
                    .collect();
                check_publishable(&slots, c.fallback_slot)?;
                let table_slots: Vec<(u32, &SlotSpec)> =
                    c.slots.iter().map(|s| (s.index, &s.spec)).collect();
                let fallback = c.fallback_slot.ok_or(Rejection::NoFallback)?;
                canonical_prize_table(id, 1, &c.rules, &table_slots, fallback)
            } else {
                canonical_campaign_table(id, 1, &c.rules, &c.activities)
            };
            let mut seed = [0u8; 32];
            rand::rng().fill_bytes(&mut seed);
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
            crate::store::money::settle_cash_reserve(&mut tx, &id.to_string(), false, now).await?;
            published = Some(hex::encode(&commitment));
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
                crate::store::money::settle_cash_reserve(&mut tx, &id.to_string(), true, now)
                    .await?;
            }
        }
        if let Some(fresh) = published {
            commitment = fresh;
        }
        let event_type = match t {
            Transition::Publish => EventType::CampaignPublished,
            Transition::Pause => EventType::CampaignPaused,
            Transition::Resume => EventType::CampaignResumed,
            Transition::End => EventType::CampaignEnded,
        };
        let changed = CampaignChanged {
            status: next.as_str().to_uppercase(),
            commitment,
            seed_revealed: next == CampaignStatus::Ended,
        };
        let event = EventDraft::new(event_type, merchant_id, &id.to_string(), "", now, &changed);
        platform::store::events::append(&mut tx, &event).await?;
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
        c.require(Activity::Wheel)?;
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
        crate::store::money::settle_cash_reserve(&mut tx, &id.to_string(), false, now).await?;
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
}
