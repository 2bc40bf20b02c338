//! Targeted issue (issue 24): a template's coupons issued to a list of
//! openids as one job (migration 0027).
//!
//! A job is created with the first part of its list, takes more parts
//! while OPEN, and is started; the worker (`run_bulk_worker`) then decides
//! its PENDING targets in batches of [`BATCH`], each batch one
//! transaction. A target is decided exactly once:
//! - the batch first takes the template's row lock (the order a claim
//!   takes it: template, then the player's count), so two workers on one
//!   job (a resumed one, or two replicas) run one after the other, and the
//!   second reads the targets the first decided;
//! - each target's decision is a guarded `UPDATE ... WHERE state =
//!   'PENDING'` (zero rows: the batch is rolled back and retried), and its
//!   coupon's `source_id` is the target's id, UNIQUE;
//! - the per-user limit and the supply are the claim's guarded writes, in
//!   the same transaction: per-user first (a fan at the limit is refused
//!   `per_user_limit` whatever the supply), then the supply (refused
//!   `supply_exhausted`, the per-user count given back).

use std::sync::LazyLock;

use platform::domain::{Millis, idempotency::Idempotency, paging::split_page};
use platform::store::{
    Outcome, StoreError, claim_key,
    db::{Db, DbRow, DbTx, Value, fetch_one},
    finish, new_id,
};

use super::{
    CouponError, CouponStore, Source, args, fresh_code, insert_coupon, list::Page, own_template,
};
use crate::domain::{
    CouponRejection,
    code::CouponCode,
    target::{
        MAX_TARGETS, OpenidList, TargetCursor, TargetJobState, TargetOutcome, TargetRefusal,
        template_ended,
    },
};

/// Targets decided per batch (one transaction).
pub const BATCH: usize = 200;
/// Targets per multi-row INSERT when a list is appended.
const INSERT_ROWS: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetJobRecord {
    pub job_id: String,
    pub merchant_id: String,
    pub template_id: String,
    pub state: TargetJobState,
    pub received: i64,
    pub targets: i64,
    pub issued: i64,
    pub refused: i64,
    /// Refused targets per reason, in `TargetRefusal::ALL` order (read by
    /// `get_targeted_issue` only; zeros elsewhere).
    pub refused_by_reason: [i64; 3],
    pub error: String,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
}

/// One line of a job's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRow {
    pub target_id: String,
    pub openid: String,
    pub outcome: TargetOutcome,
    pub refusal: Option<TargetRefusal>,
    pub coupon_id: Option<String>,
    pub decided_at: Option<Millis>,
}

const SELECT_JOB: &str = "SELECT job_id, merchant_id, template_id, state, received, targets, \
     issued, refused, error, created_at, started_at, finished_at \
     FROM coupon_target_job WHERE job_id = $1";

fn job_from_row(r: &impl DbRow) -> Result<TargetJobRecord, StoreError> {
    let state = r.text(3)?;
    Ok(TargetJobRecord {
        job_id: r.text(0)?,
        merchant_id: r.text(1)?,
        template_id: r.text(2)?,
        state: TargetJobState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("targeted job state {state}")))?,
        received: r.int(4)?,
        targets: r.int(5)?,
        issued: r.int(6)?,
        refused: r.int(7)?,
        refused_by_reason: [0; 3],
        error: r.text(8)?,
        created_at: r.int(9)?,
        started_at: r.opt_int(10)?,
        finished_at: r.opt_int(11)?,
    })
}

fn target_from_row(r: &impl DbRow) -> Result<TargetRow, StoreError> {
    let state = r.text(2)?;
    let reason = r.text(3)?;
    Ok(TargetRow {
        target_id: r.text(0)?,
        openid: r.text(1)?,
        outcome: TargetOutcome::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("target state {state}")))?,
        refusal: match reason.as_str() {
            "" => None,
            r => Some(
                TargetRefusal::parse(r)
                    .ok_or_else(|| StoreError::Corrupt(format!("target reason {r}")))?,
            ),
        },
        coupon_id: r.opt_text(4)?,
        decided_at: r.opt_int(5)?,
    })
}

/// `INSERT INTO coupon_target ... VALUES (...), (...)` for a full chunk
/// of [`INSERT_ROWS`] targets of job `$1`; built once.
static INSERT_TARGETS: LazyLock<String> = LazyLock::new(|| {
    let rows: Vec<String> = (0..INSERT_ROWS)
        .map(|i| format!("(${}, $1, ${}, 'PENDING', '')", 2 * i + 2, 2 * i + 3))
        .collect();
    format!(
        "INSERT INTO coupon_target (target_id, job_id, openid, state, reason) VALUES {} \
         ON CONFLICT (job_id, openid) DO NOTHING",
        rows.join(", ")
    )
});

/// Adds `openids` (distinct among themselves) to the job as PENDING
/// targets; those it has already are skipped. Returns how many were new.
async fn insert_targets<T: DbTx>(
    tx: &mut T,
    job_id: &str,
    openids: &[&str],
) -> Result<i64, StoreError> {
    let mut added = 0u64;
    let mut chunks = openids.chunks_exact(INSERT_ROWS);
    for chunk in &mut chunks {
        let mut values: Vec<Value> = Vec::with_capacity(1 + 2 * INSERT_ROWS);
        values.push(Value::from(job_id));
        for openid in chunk {
            values.push(Value::from(new_id()));
            values.push(Value::from(*openid));
        }
        added += tx.execute(INSERT_TARGETS.as_str(), values).await?;
    }
    for openid in chunks.remainder() {
        added += tx
            .execute(
                "INSERT INTO coupon_target (target_id, job_id, openid, state, reason) \
                 VALUES ($1, $2, $3, 'PENDING', '') ON CONFLICT (job_id, openid) DO NOTHING",
                args![new_id(), job_id, *openid],
            )
            .await?;
    }
    i64::try_from(added).map_err(|_| StoreError::Corrupt(format!("{added} targets added")))
}

/// Adds a part of the list to the job `job` (locked by the caller) and
/// counts it; more than `MAX_TARGETS` distinct openids in the job is
/// refused (the caller's transaction is then dropped: nothing is kept).
async fn add_part<T: DbTx>(
    tx: &mut T,
    job: &mut TargetJobRecord,
    list: &OpenidList<'_>,
) -> Result<(), CouponError> {
    let added = insert_targets(tx, &job.job_id, &list.distinct).await?;
    let targets = job
        .targets
        .checked_add(added)
        .filter(|t| usize::try_from(*t).is_ok_and(|t| t <= MAX_TARGETS))
        .ok_or(CouponRejection::TooManyTargets(MAX_TARGETS))?;
    let received = job
        .received
        .checked_add(list.received)
        .ok_or(CouponRejection::TooManyTargets(MAX_TARGETS))?;
    tx.execute(
        "UPDATE coupon_target_job SET received = $1, targets = $2 WHERE job_id = $3",
        args![received, targets, &job.job_id],
    )
    .await?;
    job.received = received;
    job.targets = targets;
    Ok(())
}

/// The job of this merchant, its row locked (PostgreSQL) until `tx` ends,
/// so appends and the start of one job run one after the other.
async fn lock_own_job<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    job_id: &str,
) -> Result<TargetJobRecord, StoreError> {
    tx.execute(
        "UPDATE coupon_target_job SET state = state WHERE job_id = $1",
        args![job_id],
    )
    .await?;
    let job = job_from_row(&fetch_one(tx, "targeted issue job", SELECT_JOB, args![job_id]).await?)?;
    if job.merchant_id != merchant_id {
        return Err(StoreError::OtherMerchant("targeted issue job"));
    }
    Ok(job)
}

/// What one batch decided.
#[derive(Default)]
struct Decided {
    issued: i64,
    refused: i64,
}

impl<D: Db> CouponStore<D> {
    /// Creates a targeted issue job over `list` for a template of this
    /// merchant: OPEN, or RUNNING when `start`.
    #[tracing::instrument(skip_all, fields(openids = list.received, start))]
    #[allow(clippy::too_many_arguments)]
    pub async fn create_targeted_issue(
        &self,
        merchant_id: &str,
        template_id: &str,
        list: &OpenidList<'_>,
        start: bool,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&TargetJobRecord) -> Vec<u8>,
    ) -> Result<Outcome<TargetJobRecord>, CouponError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        own_template(&mut tx, merchant_id, template_id).await?;
        let state = if start {
            TargetJobState::Running
        } else {
            TargetJobState::Open
        };
        let mut job = TargetJobRecord {
            job_id: new_id(),
            merchant_id: merchant_id.to_owned(),
            template_id: template_id.to_owned(),
            state,
            received: 0,
            targets: 0,
            issued: 0,
            refused: 0,
            refused_by_reason: [0; 3],
            error: String::new(),
            created_at: now,
            started_at: start.then_some(now),
            finished_at: None,
        };
        tx.execute(
            "INSERT INTO coupon_target_job (job_id, merchant_id, template_id, state, received, \
             targets, issued, refused, error, created_at, started_at) \
             VALUES ($1, $2, $3, $4, 0, 0, 0, 0, '', $5, $6)",
            args![
                &job.job_id,
                merchant_id,
                template_id,
                state.as_str(),
                now,
                job.started_at
            ],
        )
        .await?;
        add_part(&mut tx, &mut job, list).await?;
        finish(tx, idem, encode(&job)).await?;
        Ok(Outcome::Fresh(job))
    }

    /// Appends a part of the list to an OPEN job.
    #[tracing::instrument(skip_all, fields(openids = list.received))]
    pub async fn append_targeted_issue(
        &self,
        merchant_id: &str,
        job_id: &str,
        list: &OpenidList<'_>,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&TargetJobRecord) -> Vec<u8>,
    ) -> Result<Outcome<TargetJobRecord>, CouponError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let mut job = lock_own_job(&mut tx, merchant_id, job_id).await?;
        if job.state != TargetJobState::Open {
            return Err(CouponRejection::TargetJobNotOpen(job.state.as_str()).into());
        }
        add_part(&mut tx, &mut job, list).await?;
        finish(tx, idem, encode(&job)).await?;
        Ok(Outcome::Fresh(job))
    }

    /// Starts an OPEN job: the worker takes it from here.
    #[tracing::instrument(skip_all)]
    pub async fn start_targeted_issue(
        &self,
        merchant_id: &str,
        job_id: &str,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&TargetJobRecord) -> Vec<u8>,
    ) -> Result<Outcome<TargetJobRecord>, CouponError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let mut job = lock_own_job(&mut tx, merchant_id, job_id).await?;
        if job.state != TargetJobState::Open {
            return Err(CouponRejection::TargetJobNotOpen(job.state.as_str()).into());
        }
        tx.execute(
            "UPDATE coupon_target_job SET state = 'RUNNING', started_at = $1 \
             WHERE job_id = $2 AND state = 'OPEN'",
            args![now, job_id],
        )
        .await?;
        job.state = TargetJobState::Running;
        job.started_at = Some(now);
        finish(tx, idem, encode(&job)).await?;
        Ok(Outcome::Fresh(job))
    }

    /// A job of this merchant with its counts, the refused by reason.
    pub async fn get_targeted_issue(
        &self,
        merchant_id: &str,
        job_id: &str,
    ) -> Result<TargetJobRecord, CouponError> {
        let mut tx = self.db.begin_read().await?;
        let mut job = job_from_row(
            &fetch_one(&mut tx, "targeted issue job", SELECT_JOB, args![job_id]).await?,
        )?;
        if job.merchant_id != merchant_id {
            return Err(StoreError::OtherMerchant("targeted issue job").into());
        }
        let rows = tx
            .fetch_all(
                "SELECT reason, COUNT(*) FROM coupon_target WHERE job_id = $1 \
                 AND state = 'REFUSED' GROUP BY reason",
                args![job_id],
            )
            .await?;
        for r in &rows {
            let reason = r.text(0)?;
            let i = TargetRefusal::ALL
                .iter()
                .position(|k| k.as_str() == reason)
                .ok_or_else(|| StoreError::Corrupt(format!("target reason {reason}")))?;
            job.refused_by_reason[i] = r.int(1)?;
        }
        Ok(job)
    }

    /// A page of the job's report, in append order, after `after`.
    pub async fn list_target_results(
        &self,
        merchant_id: &str,
        job_id: &str,
        outcome: Option<TargetOutcome>,
        after: Option<&TargetCursor>,
        size: u32,
    ) -> Result<Page<TargetRow>, CouponError> {
        let mut tx = self.db.begin_read().await?;
        let job = job_from_row(
            &fetch_one(&mut tx, "targeted issue job", SELECT_JOB, args![job_id]).await?,
        )?;
        if job.merchant_id != merchant_id {
            return Err(StoreError::OtherMerchant("targeted issue job").into());
        }
        let rows = tx
            .fetch_all(
                "SELECT target_id, openid, state, reason, coupon_id, decided_at \
                 FROM coupon_target WHERE job_id = $1 AND ($2 = '' OR state = $2) \
                 AND target_id > $3 ORDER BY target_id LIMIT $4",
                args![
                    job_id,
                    outcome.map(TargetOutcome::as_str).unwrap_or_default(),
                    after.map(|c| c.target_id.clone()).unwrap_or_default(),
                    i64::from(size) + 1
                ],
            )
            .await?;
        let (rows, more) = split_page(rows, size);
        let targets = rows.iter().map(target_from_row).collect::<Result<_, _>>()?;
        Ok((targets, more))
    }

    /// Targeted jobs left RUNNING (started, or running at a restart).
    pub async fn running_targeted_jobs(&self) -> Result<Vec<String>, CouponError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT job_id FROM coupon_target_job WHERE state = 'RUNNING' ORDER BY job_id",
                args![],
            )
            .await?;
        Ok(rows.iter().map(|r| r.text(0)).collect::<Result<_, _>>()?)
    }

    /// Decides the job's next batch of PENDING targets; returns the job as
    /// it now stands (DONE once none is left).
    #[tracing::instrument(skip_all, fields(job.id = %job_id))]
    pub async fn targeted_issue_step(
        &self,
        job_id: &str,
        now: Millis,
    ) -> Result<TargetJobRecord, CouponError> {
        // Codes made before the write transaction, which they would
        // otherwise hold longer.
        let codes = (0..BATCH)
            .map(|_| fresh_code())
            .collect::<Result<Vec<_>, _>>()?;
        let mut tx = self.db.begin_write().await?;
        let job = job_from_row(
            &fetch_one(&mut tx, "targeted issue job", SELECT_JOB, args![job_id]).await?,
        )?;
        if job.state != TargetJobState::Running {
            return Ok(job);
        }
        // The template's row first, as a claim takes it: a second worker
        // waits here, then reads what this one decided.
        tx.execute(
            "UPDATE coupon_template SET issued = issued WHERE template_id = $1",
            args![&job.template_id],
        )
        .await?;
        let template = own_template(&mut tx, &job.merchant_id, &job.template_id).await?;
        let decided = if template_ended(template.spec.validity, now) {
            let n = tx
                .execute(
                    "UPDATE coupon_target SET state = 'REFUSED', reason = $1, decided_at = $2 \
                     WHERE job_id = $3 AND state = 'PENDING'",
                    args![TargetRefusal::TemplateExpired.as_str(), now, job_id],
                )
                .await?;
            Decided {
                issued: 0,
                refused: i64::try_from(n).map_err(|_| StoreError::Corrupt(n.to_string()))?,
            }
        } else {
            let pending: Vec<(String, String)> = tx
                .fetch_all(
                    "SELECT target_id, openid FROM coupon_target \
                     WHERE job_id = $1 AND state = 'PENDING' ORDER BY target_id LIMIT $2",
                    args![job_id, BATCH as i64],
                )
                .await?
                .iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?)))
                .collect::<Result<_, StoreError>>()?;
            let mut decided = Decided::default();
            for ((target_id, openid), code) in pending.iter().zip(&codes) {
                match self
                    .issue_target(&mut tx, &template, target_id, openid, code, now)
                    .await?
                {
                    None => decided.issued += 1,
                    Some(_) => decided.refused += 1,
                }
            }
            decided
        };
        let left = tx
            .fetch_optional(
                "SELECT target_id FROM coupon_target WHERE job_id = $1 AND state = 'PENDING' \
                 LIMIT 1",
                args![job_id],
            )
            .await?;
        // Relative: a worker that waited for the template's lock read the
        // job before another's batch was counted.
        let counted = tx
            .execute(
                "UPDATE coupon_target_job SET issued = issued + $1, refused = refused + $2 \
                 WHERE job_id = $3 AND state = 'RUNNING'",
                args![decided.issued, decided.refused, job_id],
            )
            .await?;
        if counted == 0 {
            // Finished or failed by another worker meanwhile: this batch's
            // decisions are dropped with the transaction.
            return Ok(job_from_row(
                &fetch_one(&mut tx, "targeted issue job", SELECT_JOB, args![job_id]).await?,
            )?);
        }
        if left.is_none() {
            tx.execute(
                "UPDATE coupon_target_job SET state = 'DONE', finished_at = $1 WHERE job_id = $2",
                args![now, job_id],
            )
            .await?;
        }
        let job = job_from_row(
            &fetch_one(&mut tx, "targeted issue job", SELECT_JOB, args![job_id]).await?,
        )?;
        tx.commit().await?;
        Ok(job)
    }

    /// Decides one target inside the batch's transaction: its coupon
    /// (None) or why not.
    async fn issue_target(
        &self,
        tx: &mut D::Tx,
        template: &super::TemplateRecord,
        target_id: &str,
        openid: &str,
        code: &CouponCode,
        now: Millis,
    ) -> Result<Option<TargetRefusal>, CouponError> {
        let limit = match template.spec.per_user_limit {
            0 => i64::MAX,
            n => i64::from(n),
        };
        let counted = tx
            .execute(
                "INSERT INTO coupon_player_count (template_id, player_id, held) VALUES ($1, $2, 1) \
                 ON CONFLICT (template_id, player_id) DO UPDATE \
                 SET held = coupon_player_count.held + 1 WHERE coupon_player_count.held < $3",
                args![&template.template_id, openid, limit],
            )
            .await?;
        let refusal = if counted == 0 {
            Some(TargetRefusal::PerUserLimit)
        } else {
            let supplied = tx
                .execute(
                    "UPDATE coupon_template SET issued = issued + 1 \
                     WHERE template_id = $1 AND issued < total_supply",
                    args![&template.template_id],
                )
                .await?;
            if supplied == 0 {
                // The count taken above goes back: no coupon came of it.
                tx.execute(
                    "UPDATE coupon_player_count SET held = held - 1 \
                     WHERE template_id = $1 AND player_id = $2",
                    args![&template.template_id, openid],
                )
                .await?;
                Some(TargetRefusal::SupplyExhausted)
            } else {
                None
            }
        };
        let marked = match refusal {
            Some(r) => {
                tx.execute(
                    "UPDATE coupon_target SET state = 'REFUSED', reason = $1, decided_at = $2 \
                     WHERE target_id = $3 AND state = 'PENDING'",
                    args![r.as_str(), now, target_id],
                )
                .await?
            }
            None => {
                let coupon = insert_coupon(
                    tx,
                    &self.vault,
                    template,
                    Some(openid),
                    Source::Targeted,
                    Some(target_id),
                    code,
                    now,
                    "",
                )
                .await?;
                tx.execute(
                    "UPDATE coupon_target SET state = 'ISSUED', coupon_id = $1, decided_at = $2 \
                     WHERE target_id = $3 AND state = 'PENDING'",
                    args![&coupon.coupon_id, now, target_id],
                )
                .await?
            }
        };
        if marked == 0 {
            // Decided meanwhile by another worker: this batch is dropped
            // whole and tried again.
            return Err(StoreError::Conflict("target decided concurrently".into()).into());
        }
        Ok(refusal)
    }

    /// Marks a job FAILED after repeated batch failures; targets decided
    /// stay decided, the rest PENDING (nothing was reserved for them).
    pub async fn fail_targeted_job(
        &self,
        job_id: &str,
        error: &str,
        now: Millis,
    ) -> Result<(), CouponError> {
        let mut tx = self.db.begin_write().await?;
        tx.execute(
            "UPDATE coupon_target_job SET state = 'FAILED', error = $1, finished_at = $2 \
             WHERE job_id = $3 AND state = 'RUNNING'",
            args![error, now, job_id],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
