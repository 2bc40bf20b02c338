//! Running a raffle: one write transaction that fixes the entrants, picks
//! the winners from the campaign's seed (FAIRNESS.md §9), awards their
//! prizes and turns the raffle `open -> drawn` under a guard. A second run,
//! by anyone, finds it drawn and answers the same winners.

use std::collections::HashMap;

use platform::store::events::append;
use serde_json::json;
use uuid::Uuid;

use super::{RaffleRecord, load_raffle};
use crate::domain::{
    Millis, Rejection,
    fairness::player_pseudonym,
    idempotency::Idempotency,
    money::MoneyRng,
    raffle::{
        Entrant, RaffleSource, entrants_hash, pick, pick_message, player_entrants, rank_candidates,
    },
    wheel::PrizeKind,
};
use crate::store::{
    Outcome, Store, StoreError,
    audit::append_audit,
    claim_key,
    db::{Db, DbRow, DbTx, args, fetch_one},
    events::emit::{prize, raffle_won},
    finish, new_id,
    outbox::{OutboxEntry, enqueue},
    wheel::own_campaign,
};

/// The entrants of a raffle in pick order, and for each the openid that
/// would receive its prize ('' for a candidate the merchant registered).
struct Entrants {
    list: Vec<Entrant>,
    receivers: Vec<String>,
}

/// Players' entries in `[from, until)` by source, counted per openid.
async fn player_counts<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    source: RaffleSource,
    candidate: &str,
    (from, until): (Millis, Millis),
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = match source {
        RaffleSource::Vote => {
            tx.fetch_all(
                "SELECT player_id, COUNT(*) FROM vote WHERE campaign_id = $1 \
                 AND status = 'accepted' AND cast_at >= $2 AND cast_at < $3 \
                 AND ($4 = '' OR candidate_id = $4) GROUP BY player_id",
                args![campaign, from, until, candidate],
            )
            .await?
        }
        RaffleSource::Share => {
            tx.fetch_all(
                "SELECT sharer_id, COUNT(*) FROM share WHERE campaign_id = $1 \
                 AND created_at >= $2 AND created_at < $3 GROUP BY sharer_id",
                args![campaign, from, until],
            )
            .await?
        }
        RaffleSource::Draw => {
            tx.fetch_all(
                "SELECT player_id, COUNT(*) FROM draw WHERE campaign_id = $1 \
                 AND drawn_at >= $2 AND drawn_at < $3 GROUP BY player_id",
                args![campaign, from, until],
            )
            .await?
        }
        RaffleSource::Grab => {
            tx.fetch_all(
                "SELECT g.player_id, COUNT(*) FROM packet_grab g \
                 JOIN red_packet p ON p.packet_id = g.packet_id WHERE p.campaign_id = $1 \
                 AND g.grabbed_at >= $2 AND g.grabbed_at < $3 GROUP BY g.player_id",
                args![campaign, from, until],
            )
            .await?
        }
        RaffleSource::TopCandidates => return Ok(Vec::new()),
    };
    rows.iter().map(|r| Ok((r.text(0)?, r.int(1)?))).collect()
}

async fn load_entrants<T: DbTx>(
    tx: &mut T,
    r: &RaffleRecord,
    campaign_id: Uuid,
) -> Result<Entrants, StoreError> {
    let campaign = campaign_id.to_string();
    let s = &r.spec;
    if s.source == RaffleSource::TopCandidates {
        let rows = tx
            .fetch_all(
                "SELECT c.candidate_id, c.registered_by, (SELECT COUNT(*) FROM vote v \
                 WHERE v.candidate_id = c.candidate_id AND v.status = 'accepted' \
                 AND v.cast_at >= $2 AND v.cast_at < $3) \
                 FROM candidate c WHERE c.campaign_id = $1 AND c.status = 'approved'",
                args![&campaign, s.from, s.until],
            )
            .await?;
        let mut owners = HashMap::new();
        let mut list = Vec::with_capacity(rows.len());
        for row in &rows {
            let (id, by) = (row.text(0)?, row.text(1)?);
            let openid = by.strip_prefix("player:").unwrap_or("").to_owned();
            let owner = if openid.is_empty() {
                String::new()
            } else {
                player_pseudonym(campaign_id, &openid)
            };
            owners.insert(id.clone(), openid);
            list.push(Entrant {
                id,
                owner,
                weight: u64::try_from(row.int(2)?).unwrap_or(0),
            });
        }
        let list = rank_candidates(list);
        let receivers = list
            .iter()
            .map(|e| owners.get(&e.id).cloned().unwrap_or_default())
            .collect();
        return Ok(Entrants { list, receivers });
    }
    let counts = player_counts(
        tx,
        &campaign,
        s.source,
        s.candidate_id.as_deref().unwrap_or(""),
        (s.from, s.until),
    )
    .await?;
    let mut openids = HashMap::with_capacity(counts.len());
    let named: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(openid, n)| {
            let p = player_pseudonym(campaign_id, &openid);
            openids.insert(p.clone(), openid);
            (p, u64::try_from(n).unwrap_or(0))
        })
        .collect();
    let list = player_entrants(named, s.tickets);
    let receivers = list
        .iter()
        .map(|e| openids.get(&e.id).cloned().unwrap_or_default())
        .collect();
    Ok(Entrants { list, receivers })
}

/// Awards one winner's prize: a cash prize is paid from the budget (a
/// budget too short refuses the whole run), a coupon or code goes through
/// the outbox. Returns the award's id.
async fn award<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    r: &RaffleRecord,
    rank: i64,
    openid: &str,
    now: Millis,
) -> Result<String, StoreError> {
    let p = &r.spec.prize;
    if p.kind == PrizeKind::Cash
        && !crate::store::money::pay_from_budget(tx, &r.campaign_id, openid, p.amount, now).await?
    {
        let available = tx
            .fetch_optional(
                "SELECT available FROM budget WHERE campaign_id = $1",
                args![&r.campaign_id],
            )
            .await?
            .map(|row| row.int(0))
            .transpose()?
            .unwrap_or(0);
        return Err(Rejection::BudgetShort { available }.into());
    }
    let physical = p.kind == PrizeKind::Physical;
    let award_id = new_id();
    tx.execute(
        "INSERT INTO prize_award (award_id, campaign_id, draw_id, tier_index, raffle_id, \
         player_id, slot_index, prize_name, kind, status, won_at, claim_deadline, updated_at) \
         VALUES ($1, $2, NULL, NULL, $3, $4, $5, $6, $7, $8, $9, $10, $9)",
        args![
            &award_id,
            &r.campaign_id,
            &r.raffle_id,
            openid,
            rank,
            &p.name,
            p.kind.as_str(),
            if physical { "won" } else { "granted" },
            now,
            physical.then_some(now.saturating_add(p.claim_days.saturating_mul(86_400_000)))
        ],
    )
    .await?;
    let entry = OutboxEntry {
        source_id: &award_id,
        award_id: &award_id,
        merchant_id,
        campaign_id: &r.campaign_id,
        player_id: openid,
        kind: p.kind,
        reference: p.reference.as_deref().unwrap_or(""),
        now,
    };
    enqueue(tx, &entry).await?;
    let slot = u32::try_from(rank).unwrap_or(0);
    let deadline = physical.then(|| now.saturating_add(p.claim_days.saturating_mul(86_400_000)));
    let won = prize(&award_id, slot, &p.name, p.kind, p.amount, deadline);
    let who = (merchant_id, r.campaign_id.as_str(), openid);
    append(tx, &raffle_won(who, &r.raffle_id, r.raffle_seq, won, now)).await?;
    Ok(award_id)
}

impl<D: Db> Store<D> {
    /// Runs a raffle once its cut-off has passed, in a published (or
    /// paused, or ended) campaign. Already drawn: the same winners.
    #[tracing::instrument(skip_all, fields(raffle.id = %raffle_id))]
    pub async fn run_raffle(
        &self,
        merchant_id: &str,
        raffle_id: Uuid,
        idem: &Idempotency,
        now: Millis,
        encode: impl FnOnce(&RaffleRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<RaffleRecord>, StoreError> {
        let id = raffle_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        // The raffle row's lock orders two runs: the second finds it drawn.
        tx.execute(
            "UPDATE raffle SET status = status WHERE raffle_id = $1",
            args![&id],
        )
        .await?;
        let mut r = load_raffle(&mut tx, merchant_id, &id).await?;
        if r.drawn.is_some() {
            finish(tx, idem, encode(&r)).await?;
            return Ok(Outcome::Fresh(r));
        }
        if now < r.spec.until {
            return Err(Rejection::RaffleNotDue(r.spec.until).into());
        }
        let campaign_id = crate::store::parse_uuid(&r.campaign_id)?;
        // The seed exists from creation, but is committed to at publish:
        // a draft's raffle cannot be drawn from it.
        if own_campaign(&mut tx, merchant_id, campaign_id, now)
            .await?
            .fairness
            .is_none()
        {
            return Err(Rejection::NotPublished.into());
        }
        let seed = fetch_one(
            &mut tx,
            "campaign",
            "SELECT roll_secret FROM campaign WHERE campaign_id = $1",
            args![&r.campaign_id],
        )
        .await?
        .opt_bytes(0)?
        .ok_or(StoreError::from(Rejection::NotPublished))?;
        let e = load_entrants(&mut tx, &r, campaign_id).await?;
        let hash = entrants_hash(&e.list);
        let places = usize::try_from(r.spec.winners).unwrap_or(0);
        let picked: Vec<usize> = if r.spec.source == RaffleSource::TopCandidates {
            (0..e.list.len().min(places)).collect()
        } else {
            let seq = u64::try_from(r.raffle_seq).unwrap_or(0);
            let mut rng = MoneyRng::new(&seed, &pick_message(campaign_id.as_bytes(), seq, &hash));
            let weights: Vec<u64> = e.list.iter().map(|x| x.weight).collect();
            pick(&mut rng, &weights, places)
        };
        for (k, &pos) in picked.iter().enumerate() {
            let rank = i64::try_from(k + 1).unwrap_or(i64::MAX);
            let openid = e.receivers.get(pos).map(String::as_str).unwrap_or("");
            let award_id = if openid.is_empty() {
                None
            } else {
                Some(award(&mut tx, merchant_id, &r, rank, openid, now).await?)
            };
            let entrant = &e.list[pos];
            tx.execute(
                "INSERT INTO raffle_winner (raffle_id, won_rank, position, entrant, owner, award_id) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                args![
                    &id,
                    rank,
                    i64::try_from(pos).unwrap_or(i64::MAX),
                    &entrant.id,
                    &entrant.owner,
                    award_id
                ],
            )
            .await?;
        }
        let tickets: u64 = e.list.iter().fold(0u64, |a, x| a.saturating_add(x.weight));
        let listed: Vec<serde_json::Value> = e
            .list
            .iter()
            .map(|x| json!([x.id, x.owner, x.weight]))
            .collect();
        let drawn = tx
            .execute(
                "UPDATE raffle SET status = 'drawn', drawn_at = $2, entrant_count = $3, \
                 ticket_count = $4, entrants_hash = $5, entrants = $6, run_error = '' \
                 WHERE raffle_id = $1 AND status = 'open'",
                args![
                    &id,
                    now,
                    i64::try_from(e.list.len()).unwrap_or(i64::MAX),
                    i64::try_from(tickets).unwrap_or(i64::MAX),
                    hash.clone(),
                    serde_json::Value::Array(listed).to_string()
                ],
            )
            .await?;
        if drawn != 1 {
            return Err(StoreError::Conflict(
                "the raffle was drawn meanwhile".into(),
            ));
        }
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "raffle.run",
            Some(campaign_id),
            json!({"after": {
                "raffle_id": &id, "entrants": e.list.len(), "tickets": tickets,
                "entrants_hash": hex::encode(&hash), "winners": picked.len(),
            }}),
            now,
        )
        .await?;
        r = load_raffle(&mut tx, merchant_id, &id).await?;
        finish(tx, idem, encode(&r)).await?;
        tracing::info!(
            entrants = e.list.len(),
            winners = picked.len(),
            "raffle drawn"
        );
        Ok(Outcome::Fresh(r))
    }
}
