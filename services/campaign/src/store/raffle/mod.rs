//! Raffles (issue 24; FAIRNESS.md §9): made before their cut-off and
//! never edited, run once after it (`run.rs`). `raffle_seq`, a raffle's
//! number in its campaign, is taken under the campaign row's lock when it
//! is made, so the engine cannot choose the stream of the seed it gets.

mod run;

use serde_json::json;
use uuid::Uuid;

use super::{
    Outcome, Store, StoreError,
    audit::append_audit,
    claim_key,
    db::{Db, DbRow, DbTx, args, fetch_one},
    finish, new_id, parse_uuid,
    wheel::own_campaign,
};
use crate::domain::{
    Millis, Rejection,
    activity::Activity,
    idempotency::{Idempotency, IdempotencyKey},
    raffle::{MAX_RAFFLES, RaffleSource, RaffleSpec, RawRaffle},
    wheel::{CampaignStatus, PrizeKind, SlotSpec},
};

/// Who runs a due raffle, in the audit trail.
pub const RAFFLE_SCOPE: &str = "engine:raffle";

/// A raffle and, once drawn, its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaffleRecord {
    pub raffle_id: String,
    pub campaign_id: String,
    pub raffle_seq: i64,
    pub spec: RaffleSpec,
    pub drawn: Option<DrawnRaffle>,
    /// Why the engine's own run was refused ('' none).
    pub run_error: String,
    pub created_at: Millis,
}

/// What a run fixed: the entrants (counted), their hash and the winners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawnRaffle {
    pub entrant_count: i64,
    pub ticket_count: i64,
    pub entrants_hash: Vec<u8>,
    pub drawn_at: Millis,
    pub winners: Vec<RaffleWinner>,
}

/// One winner: its rank (from 1), its place in the entrant list, the
/// entrant (a player's pseudonym, or a candidate id), the candidate's
/// owner's pseudonym ('' otherwise), the winning player's openid and the
/// prize award ('' for a candidate the merchant registered itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaffleWinner {
    pub rank: i64,
    pub position: i64,
    pub entrant: String,
    pub owner: String,
    pub player_id: String,
    pub award_id: String,
}

/// A raffle due to run (its cut-off passed, never run or refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRaffle {
    pub raffle_id: Uuid,
    pub merchant_id: String,
}

/// The exactly-once identity of the engine's own run of a raffle.
pub fn raffle_run_key(id: Uuid) -> Result<Idempotency, StoreError> {
    let key = IdempotencyKey::parse(&format!("raffle-run:{id}"))
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Idempotency {
        scope: RAFFLE_SCOPE.to_owned(),
        method: "RunRaffle",
        key,
        fingerprint: id.as_bytes().to_vec(),
    })
}

/// The activity a raffle's entrants come from.
fn activity_of(source: RaffleSource) -> Activity {
    match source {
        RaffleSource::Vote | RaffleSource::TopCandidates => Activity::Vote,
        RaffleSource::Share => Activity::Share,
        RaffleSource::Draw => Activity::Wheel,
        RaffleSource::Grab => Activity::Packet,
    }
}

/// A raffle's columns (`raffle_from_row`), to end with a WHERE.
macro_rules! select_raffle {
    () => {
        "SELECT r.raffle_id, r.campaign_id, r.raffle_seq, r.name, r.source, \
         r.candidate_id, r.tickets, r.from_at, r.until_at, r.winners, r.prize_name, r.kind, \
         r.reference, r.amount, r.claim_days, r.status, r.entrant_count, r.ticket_count, \
         r.entrants_hash, r.drawn_at, r.run_error, r.created_at, c.merchant_id \
         FROM raffle r JOIN campaign c ON c.campaign_id = r.campaign_id"
    };
}

fn corrupt(what: &str, v: impl std::fmt::Debug) -> StoreError {
    StoreError::Corrupt(format!("{what} {v:?}"))
}

/// A raffle row (`select_raffle!`'s columns) and its merchant; winners are
/// read apart (`winners_of`).
fn raffle_from_row(r: &impl DbRow) -> Result<(RaffleRecord, String), StoreError> {
    let source = r.text(4)?;
    let kind = r.text(11)?;
    let reference = r.text(12)?;
    let spec = RaffleSpec {
        name: r.text(3)?,
        source: RaffleSource::parse(&source).ok_or_else(|| corrupt("raffle source", &source))?,
        candidate_id: Some(r.text(5)?).filter(|c| !c.is_empty()),
        tickets: r.int(6)? == 1,
        from: r.int(7)?,
        until: r.int(8)?,
        winners: r.int(9)?,
        prize: SlotSpec {
            name: r.text(10)?,
            kind: PrizeKind::parse(&kind).ok_or_else(|| corrupt("prize kind", &kind))?,
            weight: 0,
            stock: r.int(9)?,
            daily_cap: None,
            per_user_cap: None,
            reference: Some(reference).filter(|r| !r.is_empty()),
            amount: r.int(13)?,
            claim_days: r.int(14)?,
        },
    };
    let drawn = match r.text(15)?.as_str() {
        "open" => None,
        "drawn" => Some(DrawnRaffle {
            entrant_count: r.int(16)?,
            ticket_count: r.int(17)?,
            entrants_hash: r.opt_bytes(18)?.unwrap_or_default(),
            drawn_at: r.opt_int(19)?.unwrap_or(0),
            winners: Vec::new(),
        }),
        other => return Err(corrupt("raffle status", other)),
    };
    Ok((
        RaffleRecord {
            raffle_id: r.text(0)?,
            campaign_id: r.text(1)?,
            raffle_seq: r.int(2)?,
            spec,
            drawn,
            run_error: r.text(20)?,
            created_at: r.int(21)?,
        },
        r.text(22)?,
    ))
}

/// A drawn raffle's winners in rank order.
async fn winners_of<T: DbTx>(tx: &mut T, raffle_id: &str) -> Result<Vec<RaffleWinner>, StoreError> {
    tx.fetch_all(
        "SELECT w.won_rank, w.position, w.entrant, w.owner, COALESCE(a.player_id, ''), \
         COALESCE(w.award_id, '') FROM raffle_winner w \
         LEFT JOIN prize_award a ON a.award_id = w.award_id \
         WHERE w.raffle_id = $1 ORDER BY w.won_rank",
        args![raffle_id],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(RaffleWinner {
            rank: r.int(0)?,
            position: r.int(1)?,
            entrant: r.text(2)?,
            owner: r.text(3)?,
            player_id: r.text(4)?,
            award_id: r.text(5)?,
        })
    })
    .collect()
}

/// A raffle of the merchant with its winners; another merchant's is
/// NOT_FOUND like a missing one.
async fn load_raffle<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    raffle_id: &str,
) -> Result<RaffleRecord, StoreError> {
    const SQL: &str = concat!(select_raffle!(), " WHERE r.raffle_id = $1");
    let row = tx
        .fetch_optional(SQL, args![raffle_id])
        .await?
        .ok_or(StoreError::NotFound("raffle"))?;
    let (mut r, merchant) = raffle_from_row(&row)?;
    if merchant != merchant_id {
        return Err(StoreError::OtherMerchant("raffle"));
    }
    if let Some(d) = r.drawn.as_mut() {
        d.winners = winners_of(tx, raffle_id).await?;
    }
    Ok(r)
}

/// A campaign's raffles in `raffle_seq` order with their winners and, for
/// a drawn one, its entrants as stored (JSON `[[id, owner, weight]]`), for
/// the export (read in its snapshot).
pub(crate) async fn export_raffles<T: DbTx>(
    tx: &mut T,
    campaign_id: Uuid,
) -> Result<Vec<(RaffleRecord, String)>, StoreError> {
    const SQL: &str = concat!(
        select_raffle!(),
        " WHERE r.campaign_id = $1 ORDER BY r.raffle_seq"
    );
    let records = tx
        .fetch_all(SQL, args![campaign_id.to_string()])
        .await?
        .iter()
        .map(|row| raffle_from_row(row).map(|(r, _)| r))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut out = Vec::with_capacity(records.len());
    for mut r in records {
        let mut entrants = "[]".to_owned();
        if let Some(d) = r.drawn.as_mut() {
            d.winners = winners_of(tx, &r.raffle_id).await?;
            entrants = fetch_one(
                tx,
                "raffle",
                "SELECT entrants FROM raffle WHERE raffle_id = $1",
                args![&r.raffle_id],
            )
            .await?
            .opt_text(0)?
            .unwrap_or(entrants);
        }
        out.push((r, entrants));
    }
    Ok(out)
}

impl<D: Db> Store<D> {
    /// Makes a raffle in a campaign that is not over, holding the activity
    /// its entrants come from. The spec is checked against the clock and
    /// the campaign's window (`RaffleSpec::check`).
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
    pub async fn create_raffle(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        raw: RawRaffle,
        idem: &Idempotency,
        now: Millis,
        encode: impl FnOnce(&RaffleRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<RaffleRecord>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let c = own_campaign(&mut tx, merchant_id, campaign_id, now).await?;
        if c.status == CampaignStatus::Ended || c.window_over {
            return Err(Rejection::NotRunning("ended").into());
        }
        let spec = RaffleSpec::check(raw, now, c.rules.starts_at, c.rules.ends_at)
            .map_err(Rejection::Invalid)?;
        c.require(activity_of(spec.source))?;
        if let Some(candidate) = &spec.candidate_id {
            fetch_one(
                &mut tx,
                "candidate",
                "SELECT 1 FROM candidate WHERE candidate_id = $1 AND campaign_id = $2",
                args![candidate, &campaign],
            )
            .await?;
        }
        // The campaign row's lock numbers the raffle.
        let seq = fetch_one(
            &mut tx,
            "campaign",
            "UPDATE campaign SET raffle_count = raffle_count + 1 WHERE campaign_id = $1 \
             RETURNING raffle_count",
            args![&campaign],
        )
        .await?
        .int(0)?;
        if seq > MAX_RAFFLES {
            return Err(Rejection::TooManyRaffles(MAX_RAFFLES).into());
        }
        let raffle_id = new_id();
        let p = &spec.prize;
        tx.execute(
            "INSERT INTO raffle (raffle_id, campaign_id, raffle_seq, name, source, candidate_id, \
             tickets, from_at, until_at, winners, prize_name, kind, reference, amount, claim_days, \
             status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'open', $16)",
            args![
                &raffle_id,
                &campaign,
                seq,
                &spec.name,
                spec.source.as_str(),
                spec.candidate_id.clone().unwrap_or_default(),
                i64::from(spec.tickets),
                spec.from,
                spec.until,
                spec.winners,
                &p.name,
                p.kind.as_str(),
                p.reference.clone().unwrap_or_default(),
                p.amount,
                p.claim_days,
                now
            ],
        )
        .await?;
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "raffle.create",
            Some(campaign_id),
            json!({"after": {
                "raffle_id": &raffle_id, "raffle_seq": seq, "name": &spec.name,
                "source": spec.source.as_str(), "tickets": spec.tickets,
                "from_ms": spec.from, "until_ms": spec.until, "winners": spec.winners,
                "prize": &p.name, "kind": p.kind.as_str(),
            }}),
            now,
        )
        .await?;
        let record = RaffleRecord {
            raffle_id,
            campaign_id: campaign,
            raffle_seq: seq,
            spec,
            drawn: None,
            run_error: String::new(),
            created_at: now,
        };
        finish(tx, idem, encode(&record)).await?;
        Ok(Outcome::Fresh(record))
    }

    /// One raffle of the merchant, with its winners once drawn.
    pub async fn get_raffle(
        &self,
        merchant_id: &str,
        raffle_id: Uuid,
    ) -> Result<RaffleRecord, StoreError> {
        let mut tx = self.db.begin_read().await?;
        load_raffle(&mut tx, merchant_id, &raffle_id.to_string()).await
    }

    /// A page of a campaign's raffles in `raffle_seq` order after `after`,
    /// with one row more than `size` when another page follows.
    pub async fn list_raffles(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        after: i64,
        size: u32,
        now: Millis,
    ) -> Result<Vec<RaffleRecord>, StoreError> {
        const SQL: &str = concat!(
            select_raffle!(),
            " WHERE r.campaign_id = $1 AND r.raffle_seq > $2 ORDER BY r.raffle_seq LIMIT $3"
        );
        let mut tx = self.db.begin_read().await?;
        own_campaign(&mut tx, merchant_id, campaign_id, now).await?;
        let records = tx
            .fetch_all(
                SQL,
                args![campaign_id.to_string(), after, i64::from(size) + 1],
            )
            .await?
            .iter()
            .map(|row| raffle_from_row(row).map(|(r, _)| r))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut out = Vec::with_capacity(records.len());
        for mut r in records {
            if let Some(d) = r.drawn.as_mut() {
                d.winners = winners_of(&mut tx, &r.raffle_id).await?;
            }
            out.push(r);
        }
        Ok(out)
    }

    /// Up to `limit` raffles whose cut-off has passed at `now`, never run
    /// and never refused; the earliest cut-off first.
    pub async fn due_raffles(&self, now: Millis, limit: i64) -> Result<Vec<DueRaffle>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT r.raffle_id, c.merchant_id FROM raffle r \
                 JOIN campaign c ON c.campaign_id = r.campaign_id \
                 WHERE r.status = 'open' AND r.until_at <= $1 AND r.run_error = '' \
                 ORDER BY r.until_at, r.raffle_id LIMIT $2",
                args![now, limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DueRaffle {
                    raffle_id: parse_uuid(&r.text(0)?)?,
                    merchant_id: r.text(1)?,
                })
            })
            .collect()
    }

    /// Records why the engine's own run of a raffle was refused; it is not
    /// tried again (an admin's RunRaffle still can).
    pub async fn record_raffle_refusal(&self, id: Uuid, why: &str) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let why: String = why.chars().take(500).collect();
        tx.execute(
            "UPDATE raffle SET run_error = $2 WHERE raffle_id = $1 AND status = 'open'",
            args![id.to_string(), why],
        )
        .await?;
        tx.commit().await
    }
}
