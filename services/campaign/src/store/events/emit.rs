//! The events of the campaign service's effects, built from what the
//! effects write (the catalogue is `platform::domain::events`).

use platform::domain::events::{
    DrawWon, EventDraft, EventType, PrizeChanged, PrizePayload, RaffleWon, TierReached,
    how_to_claim,
};

use crate::domain::{Millis, wheel::PrizeKind};
use crate::store::wheel::{AwardRecord, DrawCommand, DrawOutcome};

/// A prize kind as events name it (the proto's enum names).
pub fn kind_name(kind: PrizeKind) -> &'static str {
    match kind {
        PrizeKind::Coupon => "COUPON",
        PrizeKind::Physical => "PHYSICAL",
        PrizeKind::TopupCode => "TOPUP_CODE",
        PrizeKind::Points => "POINTS",
        PrizeKind::Cash => "CASH",
        PrizeKind::Thanks => "THANKS",
    }
}

/// A prize given: its award, the slot (tier, rank) it came from, its name
/// and kind, its amount (cents for CASH, points for POINTS) and claim
/// deadline (PHYSICAL).
pub fn prize(
    award_id: &str,
    slot_index: u32,
    name: &str,
    kind: PrizeKind,
    amount: i64,
    claim_deadline: Option<Millis>,
) -> PrizePayload {
    let k = kind_name(kind);
    PrizePayload {
        award_id: award_id.to_owned(),
        slot_index,
        name: name.to_owned(),
        kind: k.to_owned(),
        amount: match kind {
            PrizeKind::Cash | PrizeKind::Points => amount,
            _ => 0,
        },
        claim_deadline_ms: claim_deadline,
        how_to_claim: how_to_claim(k).to_owned(),
    }
}

/// `draw.won.v1` for the draw `out` that gave award `a`.
pub fn draw_won(cmd: &DrawCommand, out: &DrawOutcome, a: &AwardRecord, amount: i64) -> EventDraft {
    EventDraft::new(
        EventType::DrawWon,
        &cmd.merchant_id,
        &a.campaign_id,
        &cmd.player_id,
        out.drawn_at,
        &DrawWon {
            draw_id: out.draw_id.clone(),
            draw_sequence: out.draw_sequence,
            channel: cmd.channel.clone(),
            store_id: cmd.store_id.clone(),
            prize: prize(
                &a.award_id,
                a.slot_index,
                &a.prize_name,
                a.kind,
                amount,
                a.claim_deadline,
            ),
        },
    )
}

/// `tier.reached.v1`: `fan` reached tier `p.slot_index` with `value` of
/// `metric`.
pub fn tier_reached(
    (merchant, campaign, fan): (&str, &str, &str),
    metric: &str,
    value: i64,
    p: PrizePayload,
    now: Millis,
) -> EventDraft {
    EventDraft::new(
        EventType::TierReached,
        merchant,
        campaign,
        fan,
        now,
        &TierReached {
            tier_index: p.slot_index,
            metric: metric.to_owned(),
            value,
            prize: p,
        },
    )
}

/// `raffle.won.v1`: `openid` drawn at rank `p.slot_index`.
pub fn raffle_won(
    (merchant, campaign, openid): (&str, &str, &str),
    raffle_id: &str,
    raffle_seq: i64,
    p: PrizePayload,
    now: Millis,
) -> EventDraft {
    EventDraft::new(
        EventType::RaffleWon,
        merchant,
        campaign,
        openid,
        now,
        &RaffleWon {
            raffle_id: raffle_id.to_owned(),
            raffle_seq,
            rank: p.slot_index,
            prize: p,
        },
    )
}

/// `prize.claimed.v1`, `prize.shipped.v1` or `prize.expired.v1` for award
/// `a` (its merchant `merchant`).
pub fn prize_changed(
    event_type: EventType,
    merchant: &str,
    a: &AwardRecord,
    tracking_number: &str,
    now: Millis,
) -> EventDraft {
    EventDraft::new(
        event_type,
        merchant,
        &a.campaign_id,
        &a.player_id,
        now,
        &PrizeChanged {
            award_id: a.award_id.clone(),
            prize_name: a.prize_name.clone(),
            tracking_number: tracking_number.to_owned(),
        },
    )
}
