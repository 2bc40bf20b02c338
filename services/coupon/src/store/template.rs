//! Coupon templates: created once under an idempotency key, read by
//! their merchant.

use super::*;

impl<D: Db> CouponStore<D> {
    #[tracing::instrument(skip_all)]
    pub async fn create_template(
        &self,
        merchant_id: &str,
        spec: TemplateSpec,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&TemplateRecord) -> Vec<u8>,
    ) -> Result<Outcome<TemplateRecord>> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        // Each store it restricts to is an OPEN store of this merchant.
        platform::stores::lock_open_stores(&mut tx, "store_ids", merchant_id, &spec.store_ids)
            .await?;
        let t = TemplateRecord {
            template_id: new_id(),
            merchant_id: merchant_id.to_owned(),
            spec,
            issued: 0,
            created_at: now,
        };
        let (from, until) = match t.spec.validity {
            Validity::Fixed { from, until } => (Some(from), Some(until)),
            Validity::DaysFromIssue(_) => (None, None),
        };
        let days = match t.spec.validity {
            Validity::DaysFromIssue(d) => i64::from(d),
            Validity::Fixed { .. } => 0,
        };
        tx.execute(
            "INSERT INTO coupon_template (template_id, merchant_id, name, kind, \
             amount_off_cents, percent_off, max_discount_cents, min_spend_cents, gift_item, \
             valid_from, valid_until, valid_days, total_supply, issued, per_user_limit, \
             store_ids, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $15, $16)",
            args![
                &t.template_id,
                merchant_id,
                &t.spec.name,
                t.spec.kind.as_str(),
                t.spec.amount_off_cents,
                i64::from(t.spec.percent_off),
                t.spec.max_discount_cents,
                t.spec.min_spend_cents,
                &t.spec.gift_item,
                from,
                until,
                days,
                t.spec.total_supply,
                i64::from(t.spec.per_user_limit),
                t.spec.store_ids.join("\n"),
                now
            ],
        )
        .await?;
        finish(tx, idem, encode(&t)).await?;
        Ok(Outcome::Fresh(t))
    }

    pub async fn get_template(
        &self,
        merchant_id: &str,
        template_id: &str,
    ) -> Result<TemplateRecord> {
        let mut tx = self.db.begin_read().await?;
        Ok(own_template(&mut tx, merchant_id, template_id).await?)
    }
}
