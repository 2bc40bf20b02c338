//! Conversions between proto messages and domain / store types. Inbound
//! conversions validate and name the offending field; outbound ones are
//! total.

use engine_proto::campaign::v1 as pb;
use prost::Message;
use tonic::Status;
use uuid::Uuid;

use super::{auth::Principal, error::invalid};
use crate::{
    domain::{
        InvalidField, Millis,
        activity::Activity,
        credential::Role,
        idempotency::{Idempotency, IdempotencyKey, fingerprint},
        wheel::{CampaignStatus, FallbackReason, PrizeKind, RawSlot, SlotSpec},
    },
    store::{
        access::ApiKeyRecord,
        wheel::{
            AwardRecord, AwardSource, AwardStatus, CampaignRecord, DrawOutcome, FairnessRecord,
            Shipping, SlotRecord,
        },
    },
};

/// Requests that carry an idempotency key.
pub trait Keyed: Message + Clone {
    fn key_mut(&mut self) -> &mut String;
}

macro_rules! keyed {
    ($($t:ty),* $(,)?) => {$(
        impl Keyed for $t {
            fn key_mut(&mut self) -> &mut String {
                &mut self.idempotency_key
            }
        }
    )*};
}
keyed!(
    pb::CreateApiKeyRequest,
    pb::RevokeApiKeyRequest,
    pb::SetPlayerTokenKeyRequest,
    pb::RetirePlayerTokenKeyRequest,
    pb::CreateWheelRequest,
    pb::CreateCampaignRequest,
    pb::CloneCampaignRequest,
    pb::AttachActivityRequest,
    pb::AddPrizeSlotRequest,
    pb::UpdatePrizeSlotRequest,
    pb::ReviseWheelRequest,
    pb::SetFallbackSlotRequest,
    pb::CampaignTransitionRequest,
    pb::SchedulePublishRequest,
    pb::ShipPrizeRequest,
    pb::BulkShipPrizesRequest,
    pb::ErasePersonalDataRequest,
    pb::DrawRequest,
    pb::ClaimPrizeRequest,
    pb::FundBudgetRequest,
    pb::RefundBudgetRequest,
    pb::CreateGroupPacketRequest,
    pb::CreateCampaignPacketRequest,
    pb::GrabRedPacketRequest,
    pb::ExpireRedPacketsRequest,
    pb::SetVoteRulesRequest,
    pb::AddCandidateRequest,
    pb::ReviewCandidateRequest,
    pb::InvalidateVoteRequest,
    pb::RegisterCandidateRequest,
    pb::CastVoteRequest,
    pb::SetShareRulesRequest,
    pb::CreateShareRequest,
    pb::OpenShareRequest,
    pb::SetChanceRulesRequest,
    pb::CreateStoreRequest,
    pb::UpdateStoreRequest,
    pb::CreateRaffleRequest,
    pb::RunRaffleRequest,
    pb::CreateWebhookEndpointRequest,
    pb::UpdateWebhookEndpointRequest,
    pb::DeleteWebhookEndpointRequest,
    pb::RedeliverEventRequest,
);

/// The exactly-once identity of a request: caller scope, RPC, key, and a
/// fingerprint of everything else in the request.
pub fn idempotency<M: Keyed>(
    who: &Principal,
    method: &'static str,
    req: &M,
) -> Result<Idempotency, Status> {
    let mut body = req.clone();
    let key = IdempotencyKey::parse(body.key_mut()).map_err(invalid)?;
    body.key_mut().clear();
    Ok(Idempotency {
        scope: who.scope(),
        method,
        key,
        fingerprint: fingerprint(method, &body.encode_to_vec()),
    })
}

pub fn uuid_field(field: &'static str, s: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(s.trim()).map_err(|_| invalid(InvalidField::new(field, "must be a UUID")))
}

pub fn required<'a>(field: &'static str, s: &'a str, max: usize) -> Result<&'a str, Status> {
    let t = s.trim();
    if t.is_empty() {
        return Err(invalid(InvalidField::new(field, "is required")));
    }
    if t.chars().count() > max {
        return Err(invalid(InvalidField::new(
            field,
            format!("at most {max} characters"),
        )));
    }
    Ok(t)
}

pub fn role_from_proto(v: i32) -> Result<Role, Status> {
    match pb::Role::try_from(v) {
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        Ok(pb::Role::Pos) => Ok(Role::Pos),
        Ok(pb::Role::Auditor) => Ok(Role::Auditor),
        _ => Err(invalid(InvalidField::new(
            "role",
            "must be ADMIN, POS or AUDITOR",
        ))),
    }
}

fn role_to_proto(r: Role) -> pb::Role {
    match r {
        Role::Admin => pb::Role::Admin,
        Role::Pos => pb::Role::Pos,
        Role::Auditor => pb::Role::Auditor,
    }
}

pub fn kind_from_proto(v: i32) -> Option<PrizeKind> {
    match pb::PrizeKind::try_from(v).ok()? {
        pb::PrizeKind::Coupon => Some(PrizeKind::Coupon),
        pb::PrizeKind::Physical => Some(PrizeKind::Physical),
        pb::PrizeKind::TopupCode => Some(PrizeKind::TopupCode),
        pb::PrizeKind::Points => Some(PrizeKind::Points),
        pb::PrizeKind::Cash => Some(PrizeKind::Cash),
        pb::PrizeKind::Thanks => Some(PrizeKind::Thanks),
        pb::PrizeKind::Unspecified => None,
    }
}

pub fn kind_to_proto(k: PrizeKind) -> pb::PrizeKind {
    match k {
        PrizeKind::Coupon => pb::PrizeKind::Coupon,
        PrizeKind::Physical => pb::PrizeKind::Physical,
        PrizeKind::TopupCode => pb::PrizeKind::TopupCode,
        PrizeKind::Points => pb::PrizeKind::Points,
        PrizeKind::Cash => pb::PrizeKind::Cash,
        PrizeKind::Thanks => pb::PrizeKind::Thanks,
    }
}

fn status_to_proto(s: CampaignStatus) -> pb::CampaignStatus {
    match s {
        CampaignStatus::Draft => pb::CampaignStatus::Draft,
        CampaignStatus::Published => pb::CampaignStatus::Published,
        CampaignStatus::Paused => pb::CampaignStatus::Paused,
        CampaignStatus::Ended => pb::CampaignStatus::Ended,
    }
}

fn award_status_to_proto(s: AwardStatus) -> pb::AwardStatus {
    match s {
        AwardStatus::Granted => pb::AwardStatus::Granted,
        AwardStatus::Won => pb::AwardStatus::Won,
        AwardStatus::Claimed => pb::AwardStatus::Claimed,
        AwardStatus::Shipped => pb::AwardStatus::Shipped,
        AwardStatus::Expired => pb::AwardStatus::Expired,
    }
}

fn fallback_to_proto(f: FallbackReason) -> pb::FallbackReason {
    match f {
        FallbackReason::None => pb::FallbackReason::None,
        FallbackReason::OutOfStock => pb::FallbackReason::OutOfStock,
        FallbackReason::DailyCap => pb::FallbackReason::DailyCap,
        FallbackReason::UserCap => pb::FallbackReason::UserCap,
    }
}

/// A slot spec from the wire, validated; a missing message is named.
pub fn slot_from_proto(s: Option<pb::PrizeSlotSpec>) -> Result<SlotSpec, Status> {
    let s = s.ok_or_else(|| invalid(InvalidField::new("slot", "is required")))?;
    SlotSpec::parse(RawSlot {
        name: s.name,
        kind: kind_from_proto(s.kind),
        weight: s.weight,
        stock: s.stock,
        daily_cap: s.daily_cap,
        per_user_cap: s.per_user_cap,
        reference: s.reference,
        amount: s.amount,
        claim_days: s.claim_days,
    })
    .map_err(invalid)
}

pub fn slot_spec_to_proto(s: &SlotSpec) -> pb::PrizeSlotSpec {
    pb::PrizeSlotSpec {
        name: s.name.clone(),
        kind: kind_to_proto(s.kind) as i32,
        weight: s.weight,
        stock: s.stock,
        daily_cap: s.daily_cap.unwrap_or(0),
        per_user_cap: s.per_user_cap.unwrap_or(0),
        reference: s.reference.clone().unwrap_or_default(),
        amount: s.amount,
        claim_days: s.claim_days,
    }
}

fn slot_to_proto(s: &SlotRecord) -> pb::PrizeSlot {
    pb::PrizeSlot {
        index: s.index,
        spec: Some(slot_spec_to_proto(&s.spec)),
        remaining: s.remaining,
        won: s.won(),
    }
}

pub fn campaign_to_proto(c: &CampaignRecord) -> pb::Campaign {
    pb::Campaign {
        campaign_id: c.id.to_string(),
        name: c.rules.name.clone(),
        status: status_to_proto(c.shown_status()) as i32,
        starts_at_ms: c.rules.starts_at,
        ends_at_ms: c.rules.ends_at,
        time_zone: c.rules.time_zone.clone(),
        // The wheel's limits; a campaign without one stores placeholders.
        draws_per_day: if c.holds(Activity::Wheel) {
            c.rules.draws_per_day
        } else {
            0
        },
        draws_total: if c.holds(Activity::Wheel) {
            c.rules.draws_total
        } else {
            0
        },
        slots: c.slots.iter().map(slot_to_proto).collect(),
        fallback_slot: c.fallback_slot,
        created_at_ms: c.created_at,
        fairness: c.fairness.as_ref().map(fairness_to_proto),
        activities: c
            .activities
            .iter()
            .map(|a| activity_to_proto(*a) as i32)
            .collect(),
        publish_at_start: c.publish_at_start,
        scheduled_publish_error: c.publish_error.clone(),
    }
}

pub fn activity_to_proto(a: Activity) -> pb::ActivityKind {
    match a {
        Activity::Wheel => pb::ActivityKind::Wheel,
        Activity::Vote => pb::ActivityKind::Vote,
        Activity::Packet => pb::ActivityKind::RedPacket,
        Activity::Share => pb::ActivityKind::Share,
    }
}

/// An activity named in a request; UNSPECIFIED or unknown is
/// INVALID_ARGUMENT naming `field`.
pub fn activity_from_proto(field: &'static str, v: i32) -> Result<Activity, InvalidField> {
    match pb::ActivityKind::try_from(v) {
        Ok(pb::ActivityKind::Wheel) => Ok(Activity::Wheel),
        Ok(pb::ActivityKind::Vote) => Ok(Activity::Vote),
        Ok(pb::ActivityKind::RedPacket) => Ok(Activity::Packet),
        Ok(pb::ActivityKind::Share) => Ok(Activity::Share),
        Ok(pb::ActivityKind::Unspecified) | Err(_) => Err(InvalidField::new(
            field,
            "must be WHEEL, VOTE, RED_PACKET or SHARE",
        )),
    }
}

fn fairness_to_proto(f: &FairnessRecord) -> pb::Fairness {
    pb::Fairness {
        prize_table_json: f.prize_table.clone(),
        prize_table_hash: f.prize_table_hash.clone(),
        seed_commitment: f.seed_commitment.clone(),
        published_at_ms: f.published_at,
        revealed_seed: f.revealed_seed.clone().unwrap_or_default(),
        version: f.version,
    }
}

pub fn wheel_to_proto(c: &CampaignRecord) -> pb::Wheel {
    pb::Wheel {
        campaign_id: c.id.to_string(),
        name: c.rules.name.clone(),
        status: status_to_proto(c.shown_status()) as i32,
        starts_at_ms: c.rules.starts_at,
        ends_at_ms: c.rules.ends_at,
        time_zone: c.rules.time_zone.clone(),
        draws_per_day: c.rules.draws_per_day,
        draws_total: c.rules.draws_total,
        slots: c
            .slots
            .iter()
            .map(|s| pb::WheelSlot {
                index: s.index,
                name: s.spec.name.clone(),
                kind: kind_to_proto(s.spec.kind) as i32,
                weight: s.spec.weight,
            })
            .collect(),
        fallback_slot: c.fallback_slot.unwrap_or(0),
        fallback_rule: crate::domain::wheel::FALLBACK_RULE.to_owned(),
        fairness: c.fairness.as_ref().map(fairness_to_proto),
    }
}

/// An award as of `now` (a WON prize past its deadline shows EXPIRED).
/// `with_player` adds the winner's openid (admin views only).
pub fn award_to_proto(a: &AwardRecord, now: Millis, with_player: bool) -> pb::PrizeAward {
    pb::PrizeAward {
        award_id: a.award_id.clone(),
        campaign_id: a.campaign_id.clone(),
        draw_id: a.source.draw_id().to_owned(),
        slot_index: a.slot_index,
        prize_name: a.prize_name.clone(),
        kind: kind_to_proto(a.kind) as i32,
        status: award_status_to_proto(a.status_at(now)) as i32,
        won_at_ms: a.won_at,
        claim_deadline_ms: a.claim_deadline.unwrap_or(0),
        shipping: a.shipping.as_ref().map(|s| pb::ShippingDetails {
            recipient: s.recipient.clone(),
            phone: s.phone.clone(),
            address: s.address.clone(),
        }),
        tracking_number: a.tracking_number.clone().unwrap_or_default(),
        player_id: if with_player {
            a.player_id.clone()
        } else {
            String::new()
        },
        source: match a.source {
            AwardSource::Draw(_) => pb::AwardSource::Draw,
            AwardSource::Tier(_) => pb::AwardSource::ShareTier,
            AwardSource::Raffle(_) => pb::AwardSource::Raffle,
        } as i32,
        tier_index: match a.source {
            AwardSource::Tier(t) => t,
            AwardSource::Draw(_) | AwardSource::Raffle(_) => 0,
        },
        raffle_id: match &a.source {
            AwardSource::Raffle(r) => r.clone(),
            AwardSource::Draw(_) | AwardSource::Tier(_) => String::new(),
        },
        store_id: a.store_id.clone().unwrap_or_default(),
    }
}

pub fn draw_to_proto(d: &DrawOutcome) -> pb::DrawResponse {
    pb::DrawResponse {
        draw_id: d.draw_id.clone(),
        slot_index: d.slot,
        prize_name: d.prize_name.clone(),
        kind: kind_to_proto(d.kind) as i32,
        rolled_slot_index: d.rolled_slot,
        fallback_reason: fallback_to_proto(d.fallback) as i32,
        remaining_today: d.remaining_today,
        remaining_total: d.remaining_total,
        draw_sequence: d.draw_sequence,
        award: d
            .award
            .as_ref()
            .map(|a| award_to_proto(a, d.drawn_at, false)),
        drawn_at_ms: d.drawn_at,
        table_version: d.table_version,
    }
}

/// A draw's answer as its idempotency row keeps it (issue 22, bytes per
/// draw): the award's copies of the draw's own fields (draw id, campaign
/// id, prize name, slot, kind, time: about 110 of the 370 bytes of a won
/// draw's answer) are left out when all of them match, which an empty
/// `award.draw_id` marks (a draw's award always has one).
/// [`draw_answer_from_store`] puts them back.
pub fn draw_answer_to_store(d: &DrawOutcome, campaign_id: &str) -> Vec<u8> {
    let mut r = draw_to_proto(d);
    let (draw_id, name, slot, kind, at) = (
        r.draw_id.clone(),
        r.prize_name.clone(),
        r.slot_index,
        r.kind,
        r.drawn_at_ms,
    );
    if let Some(a) = r.award.as_mut()
        && a.source == pb::AwardSource::Draw as i32
        && a.draw_id == draw_id
        && !draw_id.is_empty()
        && a.campaign_id == campaign_id
        && a.prize_name == name
        && a.slot_index == slot
        && a.kind == kind
        && a.won_at_ms == at
    {
        a.draw_id.clear();
        a.campaign_id.clear();
        a.prize_name.clear();
        a.slot_index = 0;
        a.kind = 0;
        a.won_at_ms = 0;
    }
    r.encode_to_vec()
}

/// A draw's stored answer as the first call got it (see
/// [`draw_answer_to_store`]); an answer stored whole reads as it is.
pub fn draw_answer_from_store(
    bytes: &[u8],
    campaign_id: &str,
) -> Result<pb::DrawResponse, prost::DecodeError> {
    let mut r = pb::DrawResponse::decode(bytes)?;
    let (draw_id, name, slot, kind, at) = (
        r.draw_id.clone(),
        r.prize_name.clone(),
        r.slot_index,
        r.kind,
        r.drawn_at_ms,
    );
    if let Some(a) = r.award.as_mut()
        && a.source == pb::AwardSource::Draw as i32
        && a.draw_id.is_empty()
    {
        a.draw_id = draw_id;
        a.campaign_id = campaign_id.to_owned();
        a.prize_name = name;
        a.slot_index = slot;
        a.kind = kind;
        a.won_at_ms = at;
    }
    Ok(r)
}

pub fn key_to_proto(k: &ApiKeyRecord) -> pb::ApiKeyInfo {
    pb::ApiKeyInfo {
        key_id: k.key_id.clone(),
        role: role_to_proto(k.role) as i32,
        store_id: k.store_id.clone().unwrap_or_default(),
        label: k.label.clone(),
        created_at_ms: k.created_at,
        revoked_at_ms: k.revoked_at.unwrap_or(0),
    }
}

pub fn shipping_from_proto(s: Option<pb::ShippingDetails>) -> Result<Shipping, Status> {
    let s = s.ok_or_else(|| invalid(InvalidField::new("shipping", "is required")))?;
    Ok(Shipping {
        recipient: required("shipping.recipient", &s.recipient, 100)?.to_owned(),
        phone: required("shipping.phone", &s.phone, 32)?.to_owned(),
        address: required("shipping.address", &s.address, 500)?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn won_draw(kind: PrizeKind) -> DrawOutcome {
        DrawOutcome {
            draw_id: "0190a1b2-0000-7000-8000-000000000001".into(),
            draw_sequence: 3,
            rolled_slot: 2,
            slot: 2,
            prize_name: "电影票两张".into(),
            kind,
            fallback: FallbackReason::None,
            remaining_today: 1,
            remaining_total: 7,
            award: Some(AwardRecord {
                award_id: "0190a1b2-0000-7000-8000-00000000000a".into(),
                campaign_id: "0190a1b2-0000-7000-8000-0000000000cc".into(),
                source: AwardSource::Draw("0190a1b2-0000-7000-8000-000000000001".into()),
                player_id: "fan".into(),
                slot_index: 2,
                prize_name: "电影票两张".into(),
                kind,
                status: AwardStatus::Won,
                won_at: 1_700_000_000_000,
                claim_deadline: Some(1_700_600_000_000),
                shipping: None,
                tracking_number: None,
                store_id: Some("SH-001".into()),
            }),
            drawn_at: 1_700_000_000_000,
            table_version: 1,
        }
    }

    #[test]
    fn a_stored_draw_answer_is_smaller_and_reads_back_exactly() {
        let campaign = "0190a1b2-0000-7000-8000-0000000000cc";
        for kind in [PrizeKind::Physical, PrizeKind::Points] {
            let d = won_draw(kind);
            let full = draw_to_proto(&d);
            let stored = draw_answer_to_store(&d, campaign);
            assert!(
                stored.len() + 100 < full.encode_to_vec().len(),
                "{} vs {}",
                stored.len(),
                full.encode_to_vec().len()
            );
            assert_eq!(draw_answer_from_store(&stored, campaign), Ok(full.clone()));
            // An answer stored whole (an older version) reads as it is.
            assert_eq!(
                draw_answer_from_store(&full.encode_to_vec(), campaign),
                Ok(full)
            );
        }
        // Anything that does not match is kept whole.
        let mut d = won_draw(PrizeKind::Physical);
        if let Some(a) = d.award.as_mut() {
            a.prize_name = "另一个名字".into();
        }
        let full = draw_to_proto(&d);
        let stored = draw_answer_to_store(&d, campaign);
        assert_eq!(stored, full.encode_to_vec());
        assert_eq!(draw_answer_from_store(&stored, campaign), Ok(full));
        let other = draw_answer_to_store(&won_draw(PrizeKind::Points), "another campaign");
        assert_eq!(
            other,
            draw_to_proto(&won_draw(PrizeKind::Points)).encode_to_vec()
        );
        // No award: nothing to leave out.
        let mut thanks = won_draw(PrizeKind::Thanks);
        thanks.award = None;
        let stored = draw_answer_to_store(&thanks, campaign);
        assert_eq!(
            draw_answer_from_store(&stored, campaign),
            Ok(draw_to_proto(&thanks))
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in PrizeKind::ALL {
            assert_eq!(kind_from_proto(kind_to_proto(k) as i32), Some(k));
        }
        assert_eq!(kind_from_proto(0), None);
        assert_eq!(kind_from_proto(99), None);
    }

    #[test]
    fn slot_spec_round_trips() {
        let spec = pb::PrizeSlotSpec {
            name: "Tea".into(),
            kind: pb::PrizeKind::Physical as i32,
            weight: 5,
            stock: 3,
            daily_cap: 1,
            per_user_cap: 1,
            claim_days: 3,
            ..Default::default()
        };
        let parsed = slot_from_proto(Some(spec.clone())).expect("valid");
        assert_eq!(slot_spec_to_proto(&parsed), spec);
        let e = slot_from_proto(None).expect_err("missing");
        assert!(e.message().starts_with("slot:"));
    }

    #[test]
    fn idempotency_fingerprint_ignores_only_the_key() {
        let who = Principal::Player {
            merchant_id: "m".into(),
            player_id: "p".into(),
        };
        let a = pb::DrawRequest {
            idempotency_key: "k1".into(),
            campaign_id: "c".into(),
            channel: String::new(),
            store_id: String::new(),
        };
        let b = pb::DrawRequest {
            idempotency_key: "k2".into(),
            ..a.clone()
        };
        let c = pb::DrawRequest {
            channel: "poster".into(),
            ..a.clone()
        };
        let fa = idempotency(&who, "Draw", &a).expect("ok").fingerprint;
        assert_eq!(fa, idempotency(&who, "Draw", &b).expect("ok").fingerprint);
        assert_ne!(fa, idempotency(&who, "Draw", &c).expect("ok").fingerprint);
        let missing = pb::DrawRequest {
            idempotency_key: String::new(),
            ..a
        };
        let e = idempotency(&who, "Draw", &missing).expect_err("no key");
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("idempotency_key"));
    }
}
