//! Bulk issue for print: a job reserves the template's supply up front, then
//! a worker inserts the coupons in batches, each batch one transaction that
//! also advances the job's progress. A batch is guarded by the progress it
//! expects, so two workers (or a worker resumed after a restart) never issue
//! a batch twice.

use std::sync::LazyLock;

use platform::domain::{Millis, idempotency::Idempotency};
use platform::store::{
    Outcome, StoreError, claim_key,
    db::{Db, DbRow, DbTx, Value, fetch_one},
    finish, new_id,
};

use super::{CouponError, CouponStore, args, codes::coupon_at_rest, fresh_code, own_template};
use crate::domain::CouponRejection;

/// Coupons per batch (one multi-row INSERT, one transaction).
pub const BATCH: usize = 200;
pub const MAX_JOB: i64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Running,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Done => "DONE",
            Self::Failed => "FAILED",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Done, Self::Failed]
            .into_iter()
            .find(|j| j.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub job_id: String,
    pub merchant_id: String,
    pub template_id: String,
    pub requested: i64,
    pub issued: i64,
    pub state: JobState,
    pub error: String,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
}

const COLUMNS: usize = 10;

/// `INSERT INTO coupon ... VALUES (...), (...)` for a full batch; built
/// once, so it is a `&'static str` like every other statement.
static INSERT_BATCH: LazyLock<String> = LazyLock::new(|| {
    let rows: Vec<String> = (0..BATCH)
        .map(|i| {
            let p: Vec<String> = (1..=COLUMNS)
                .map(|c| format!("${}", i * COLUMNS + c))
                .collect();
            format!("({}, 'bulk', NULL, NULL)", p.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO coupon (coupon_id, merchant_id, template_id, code_digest, player_id, \
         valid_from, valid_until, issued_at, bulk_job_id, code_sealed, source, source_id, \
         redemption_id) VALUES {}",
        rows.join(", ")
    )
});

pub(super) fn job_from_row(r: &impl DbRow) -> Result<JobRecord, StoreError> {
    let state = r.text(5)?;
    Ok(JobRecord {
        job_id: r.text(0)?,
        merchant_id: r.text(1)?,
        template_id: r.text(2)?,
        requested: r.int(3)?,
        issued: r.int(4)?,
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("job state {state}")))?,
        error: r.text(6)?,
        created_at: r.int(7)?,
        finished_at: r.opt_int(8)?,
    })
}

const SELECT_JOB: &str = "SELECT job_id, merchant_id, template_id, requested, issued, state, \
                          error, created_at, finished_at FROM coupon_bulk_job WHERE job_id = $1";

impl<D: Db> CouponStore<D> {
    /// Creates a RUNNING job and reserves `count` of the template's supply
    /// in the same transaction (RESOURCE_EXHAUSTED when it is not there).
    #[tracing::instrument(skip_all, fields(count))]
    pub async fn start_bulk_issue(
        &self,
        merchant_id: &str,
        template_id: &str,
        count: i64,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&JobRecord) -> Vec<u8>,
    ) -> Result<Outcome<JobRecord>, CouponError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        own_template(&mut tx, merchant_id, template_id).await?;
        let reserved = tx
            .execute(
                "UPDATE coupon_template SET issued = issued + $1 \
                 WHERE template_id = $2 AND issued + $1 <= total_supply",
                args![count, template_id],
            )
            .await?;
        if reserved == 0 {
            return Err(CouponRejection::SupplyExhausted.into());
        }
        let job = JobRecord {
            job_id: new_id(),
            merchant_id: merchant_id.to_owned(),
            template_id: template_id.to_owned(),
            requested: count,
            issued: 0,
            state: JobState::Running,
            error: String::new(),
            created_at: now,
            finished_at: None,
        };
        tx.execute(
            "INSERT INTO coupon_bulk_job (job_id, merchant_id, template_id, requested, issued, \
             state, error, created_at) VALUES ($1, $2, $3, $4, 0, 'RUNNING', '', $5)",
            args![&job.job_id, merchant_id, template_id, count, now],
        )
        .await?;
        finish(tx, idem, encode(&job)).await?;
        Ok(Outcome::Fresh(job))
    }

    pub async fn get_job(&self, merchant_id: &str, job_id: &str) -> Result<JobRecord, CouponError> {
        let mut tx = self.db.begin_read().await?;
        let job =
            job_from_row(&fetch_one(&mut tx, "bulk issue job", SELECT_JOB, args![job_id]).await?)?;
        if job.merchant_id != merchant_id {
            return Err(StoreError::OtherMerchant("bulk issue job").into());
        }
        Ok(job)
    }

    /// Jobs left RUNNING (for example by a restart), to resume.
    pub async fn running_jobs(&self) -> Result<Vec<String>, CouponError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT job_id FROM coupon_bulk_job WHERE state = 'RUNNING' ORDER BY job_id",
                args![],
            )
            .await?;
        Ok(rows.iter().map(|r| r.text(0)).collect::<Result<_, _>>()?)
    }

    /// Issues the job's next batch; returns the job as it now stands. A
    /// batch whose expected progress was already taken by another worker
    /// changes nothing.
    pub async fn bulk_issue_step(
        &self,
        job_id: &str,
        now: Millis,
    ) -> Result<JobRecord, CouponError> {
        // Codes, ids, digests and sealed copies made before the write
        // transaction, which they would otherwise hold longer.
        let mut codes = Vec::with_capacity(BATCH);
        for _ in 0..BATCH {
            let id = new_id();
            let (digest, sealed) = coupon_at_rest(&self.vault, &id, &fresh_code()?)?;
            codes.push((id, digest, sealed));
        }
        let mut tx = self.db.begin_write().await?;
        let job =
            job_from_row(&fetch_one(&mut tx, "bulk issue job", SELECT_JOB, args![job_id]).await?)?;
        if job.state != JobState::Running {
            return Ok(job);
        }
        let template = own_template(&mut tx, &job.merchant_id, &job.template_id).await?;
        let (from, until) = template.spec.validity.window(now);
        let n = (job.requested - job.issued).min(BATCH as i64);
        let advanced = tx
            .execute(
                "UPDATE coupon_bulk_job SET issued = issued + $1 WHERE job_id = $2 AND issued = $3 \
                 AND state = 'RUNNING'",
                args![n, job_id, job.issued],
            )
            .await?;
        if advanced == 0 {
            return Ok(job);
        }
        let row_values = |(id, digest, sealed): &(String, String, Vec<u8>)| -> Vec<Value> {
            args![
                id,
                &job.merchant_id,
                &job.template_id,
                digest,
                None::<String>,
                from,
                until,
                now,
                job_id,
                sealed.clone()
            ]
        };
        if n == BATCH as i64 {
            let args: Vec<Value> = codes.iter().flat_map(row_values).collect();
            tx.execute(INSERT_BATCH.as_str(), args).await?;
        } else {
            for code in codes.iter().take(usize::try_from(n).unwrap_or(0)) {
                tx.execute(
                    "INSERT INTO coupon (coupon_id, merchant_id, template_id, code_digest, \
                     player_id, valid_from, valid_until, issued_at, bulk_job_id, code_sealed, \
                     source, source_id, redemption_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'bulk', NULL, NULL)",
                    row_values(code),
                )
                .await?;
            }
        }
        let done = job.issued + n == job.requested;
        if done {
            tx.execute(
                "UPDATE coupon_bulk_job SET state = 'DONE', finished_at = $1 WHERE job_id = $2",
                args![now, job_id],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(JobRecord {
            issued: job.issued + n,
            state: if done {
                JobState::Done
            } else {
                JobState::Running
            },
            finished_at: done.then_some(now),
            ..job
        })
    }

    /// Marks a job FAILED (after repeated batch failures), giving back the
    /// supply it reserved but did not issue.
    pub async fn fail_job(
        &self,
        job_id: &str,
        error: &str,
        now: Millis,
    ) -> Result<(), CouponError> {
        let mut tx = self.db.begin_write().await?;
        let job =
            job_from_row(&fetch_one(&mut tx, "bulk issue job", SELECT_JOB, args![job_id]).await?)?;
        let failed = tx
            .execute(
                "UPDATE coupon_bulk_job SET state = 'FAILED', error = $1, finished_at = $2 \
                 WHERE job_id = $3 AND state = 'RUNNING' AND issued = $4",
                args![error, now, job_id, job.issued],
            )
            .await?;
        if failed == 1 {
            tx.execute(
                "UPDATE coupon_template SET issued = issued - $1 WHERE template_id = $2",
                args![job.requested - job.issued, &job.template_id],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One page of a DONE job's coupons, in issue order:
    /// `(coupon_id, code, valid_from, valid_until)`.
    pub async fn job_codes(
        &self,
        merchant_id: &str,
        job_id: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, String, Millis, Millis)>, CouponError> {
        let job = self.get_job(merchant_id, job_id).await?;
        if job.state != JobState::Done {
            return Err(CouponRejection::JobNotDone(job.state.as_str()).into());
        }
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT coupon_id, code_sealed, valid_from, valid_until FROM coupon \
                 WHERE bulk_job_id = $1 AND coupon_id > $2 ORDER BY coupon_id LIMIT $3",
                args![job_id, after, i64::from(limit)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let id = r.text(0)?;
                let code = self.open_coupon_code(&id, r.opt_bytes(1)?)?;
                Ok((id, code, r.int(2)?, r.int(3)?))
            })
            .collect::<Result<_, StoreError>>()?)
    }
}
