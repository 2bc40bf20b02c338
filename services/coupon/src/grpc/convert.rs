//! Conversions between coupon protos and domain / store types. Inbound ones
//! validate and name the offending field; outbound ones are total.

use engine_proto::coupon::v1 as pb;
use platform::access::auth::Principal;
use platform::{
    domain::{
        InvalidField,
        idempotency::{Idempotency, IdempotencyKey, fingerprint},
    },
    grpc::invalid,
};
use prost::Message;
use tonic::Status;

use crate::{
    domain::{
        Refusal,
        code::{CouponCode, tail_of},
        template::{DiscountKind, Order, RawTemplate, TemplateSpec, Validity},
    },
    store::{CouponRecord, JobRecord, JobState, PoolRecord, RedemptionRecord, TemplateRecord},
};

/// The exactly-once identity of a request: caller scope, RPC, key, and a
/// fingerprint of the request with its key cleared.
pub fn idempotency<M: Message + Clone>(
    who: &Principal,
    method: &'static str,
    req: &M,
    key: impl Fn(&mut M) -> &mut String,
) -> Result<Idempotency, Status> {
    let mut body = req.clone();
    let parsed = IdempotencyKey::parse(key(&mut body)).map_err(invalid)?;
    key(&mut body).clear();
    Ok(Idempotency {
        scope: who.scope(),
        method,
        key: parsed,
        fingerprint: fingerprint(method, &body.encode_to_vec()),
    })
}

pub fn uuid_field(field: &'static str, s: &str) -> Result<String, Status> {
    uuid::Uuid::parse_str(s.trim())
        .map(|u| u.to_string())
        .map_err(|_| invalid(InvalidField::new(field, "must be a UUID")))
}

/// A discount kind; None for UNSPECIFIED or a value outside the enum.
pub fn kind_from_proto(v: i32) -> Option<DiscountKind> {
    match pb::DiscountKind::try_from(v).ok()? {
        pb::DiscountKind::AmountOff => Some(DiscountKind::AmountOff),
        pb::DiscountKind::PercentOff => Some(DiscountKind::PercentOff),
        pb::DiscountKind::SpendThreshold => Some(DiscountKind::SpendThreshold),
        pb::DiscountKind::GiftItem => Some(DiscountKind::GiftItem),
        pb::DiscountKind::Unspecified => None,
    }
}

fn kind_to_proto(k: DiscountKind) -> pb::DiscountKind {
    match k {
        DiscountKind::AmountOff => pb::DiscountKind::AmountOff,
        DiscountKind::PercentOff => pb::DiscountKind::PercentOff,
        DiscountKind::SpendThreshold => pb::DiscountKind::SpendThreshold,
        DiscountKind::GiftItem => pb::DiscountKind::GiftItem,
    }
}

pub fn template_from_proto(r: &pb::CreateTemplateRequest) -> Result<TemplateSpec, Status> {
    TemplateSpec::validate(RawTemplate {
        name: r.name.clone(),
        kind: kind_from_proto(r.kind),
        amount_off_cents: r.amount_off_cents,
        percent_off: r.percent_off,
        max_discount_cents: r.max_discount_cents,
        min_spend_cents: r.min_spend_cents,
        gift_item: r.gift_item.clone(),
        valid_from: r.valid_from_ms,
        valid_until: r.valid_until_ms,
        valid_days: r.valid_days,
        total_supply: r.total_supply,
        per_user_limit: r.per_user_limit,
        store_ids: r.store_ids.iter().map(|s| s.trim().to_owned()).collect(),
    })
    .map_err(invalid)
}

pub fn template_to_proto(t: &TemplateRecord) -> pb::CouponTemplate {
    let s = &t.spec;
    let (from, until, days) = match s.validity {
        Validity::Fixed { from, until } => (from, until, 0),
        Validity::DaysFromIssue(d) => (0, 0, d),
    };
    pb::CouponTemplate {
        template_id: t.template_id.clone(),
        name: s.name.clone(),
        kind: kind_to_proto(s.kind).into(),
        amount_off_cents: s.amount_off_cents,
        percent_off: s.percent_off,
        max_discount_cents: s.max_discount_cents,
        min_spend_cents: s.min_spend_cents,
        gift_item: s.gift_item.clone(),
        valid_from_ms: from,
        valid_until_ms: until,
        valid_days: days,
        total_supply: s.total_supply,
        issued: t.issued,
        per_user_limit: s.per_user_limit,
        store_ids: s.store_ids.clone(),
        created_at_ms: t.created_at,
    }
}

/// `with_code`: the full code goes to its owner only.
pub fn coupon_to_proto(c: &CouponRecord, with_code: bool) -> pb::Coupon {
    let code = if c.code.is_empty() {
        String::new()
    } else if with_code {
        CouponCode::parse(&c.code)
            .map(|code| code.display())
            .unwrap_or_else(|_| c.code.clone())
    } else {
        format!("…{}", tail_of(&c.code))
    };
    pb::Coupon {
        coupon_id: c.coupon_id.clone(),
        template_id: c.template_id.clone(),
        code,
        state: if c.redeemed {
            pb::CouponState::Redeemed
        } else {
            pb::CouponState::Issued
        }
        .into(),
        valid_from_ms: c.valid_from,
        valid_until_ms: c.valid_until,
        issued_at_ms: c.issued_at,
        source: c.source.clone(),
        pool_code: if with_code {
            c.pool_code.clone()
        } else {
            String::new()
        },
    }
}

pub fn redemption_to_proto(r: &RedemptionRecord) -> pb::Redemption {
    pb::Redemption {
        redemption_id: r.redemption_id.clone(),
        coupon_id: r.coupon_id.clone(),
        store_id: r.store_id.clone(),
        order_amount_cents: r.order_amount_cents,
        discount_cents: r.discount_cents,
        order_ref: r.order_ref.clone(),
        redeemed_at_ms: r.redeemed_at,
        reversal_id: r.reversal_id.clone().unwrap_or_default(),
        reversed_at_ms: r.reversed_at.unwrap_or(0),
        code_tail: r.code_tail.clone(),
    }
}

pub fn pool_to_proto(p: &PoolRecord) -> pb::CodePool {
    pb::CodePool {
        pool_id: p.pool_id.clone(),
        name: p.name.clone(),
        total: p.total,
        handed_out: p.handed_out,
        duplicates: p.duplicates,
        created_at_ms: p.created_at,
    }
}

pub fn job_to_proto(j: &JobRecord) -> pb::BulkIssueJob {
    pb::BulkIssueJob {
        job_id: j.job_id.clone(),
        template_id: j.template_id.clone(),
        requested: j.requested,
        issued: j.issued,
        state: match j.state {
            JobState::Running => pb::JobState::Running,
            JobState::Done => pb::JobState::Done,
            JobState::Failed => pb::JobState::Failed,
        }
        .into(),
        error: j.error.clone(),
        created_at_ms: j.created_at,
        finished_at_ms: j.finished_at.unwrap_or(0),
    }
}

pub fn order_from_proto(amount: i64, items: &[pb::OrderLine]) -> Result<Order, Status> {
    Order::validate(
        amount,
        items
            .iter()
            .map(|l| (l.item.trim().to_owned(), l.quantity))
            .collect(),
    )
    .map_err(invalid)
}

pub fn refusal_to_proto(r: Refusal) -> pb::Refusal {
    match r {
        Refusal::NotFound => pb::Refusal::NotFound,
        Refusal::Mistyped => pb::Refusal::Mistyped,
        Refusal::NotYetValid => pb::Refusal::NotYetValid,
        Refusal::Expired => pb::Refusal::Expired,
        Refusal::WrongStore => pb::Refusal::WrongStore,
        Refusal::MinSpendNotMet => pb::Refusal::MinSpendNotMet,
        Refusal::AlreadyRedeemed => pb::Refusal::AlreadyRedeemed,
        Refusal::GiftItemMissing => pb::Refusal::GiftItemMissing,
    }
}
