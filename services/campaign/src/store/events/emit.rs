//! The events of the campaign service's effects, built from the records
//! the effects write (the catalogue is `platform::domain::events`).

use platform::domain::events::{
    DrawWon, EventDraft, EventType, PrizePayload, RaffleWon, TierReached, how_to_claim,
};

use crate::domain::wheel::PrizeKind;
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

/// The prize of award `a`; `amount` is the slot's (cents for CASH, points
/// for POINTS).
pub fn prize_payload(a: &AwardRecord, amount: i64) -> PrizePayload {
    let kind = kind_name(a.kind);
    PrizePayload {
        award_id: a.award_id.clone(),
        slot_index: a.slot_index,
        name: a.prize_name.clone(),
        kind: kind.to_owned(),
        amount: match a.kind {
            PrizeKind::Cash | PrizeKind::Points => amount,
            _ => 0,
        },
        claim_deadline_ms: a.claim_deadline,
        how_to_claim: how_to_claim(kind).to_owned(),
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
            prize: prize_payload(a, amount),
        },
    )
}

/// `tier.reached.v1` for the tier award `a` of share `share_id`.
pub fn tier_reached(merchant: &str, share_id: &str, a: &AwardRecord, amount: i64) -> EventDraft {
    EventDraft::new(
        EventType::TierReached,
        merchant,
        &a.campaign_id,
        &a.player_id,
        a.won_at,
        &TierReached {
            share_id: share_id.to_owned(),
            tier_index: a.slot_index,
            prize: prize_payload(a, amount),
        },
    )
}

/// `raffle.won.v1` for the raffle award `a` (its rank in `slot_index`).
pub fn raffle_won(
    merchant: &str,
    raffle_id: &str,
    raffle_seq: i64,
    a: &AwardRecord,
    amount: i64,
) -> EventDraft {
    EventDraft::new(
        EventType::RaffleWon,
        merchant,
        &a.campaign_id,
        &a.player_id,
        a.won_at,
        &RaffleWon {
            raffle_id: raffle_id.to_owned(),
            raffle_seq,
            rank: a.slot_index,
            prize: prize_payload(a, amount),
        },
    )
}
