//! Domain events (issue 25): what the engine tells a merchant's systems,
//! one event per effect they act on. This module is the catalogue: every
//! type with its version, and every payload as a struct whose fields are
//! the JSON the receiver gets (docs/events.md lists them with units).
//!
//! An event is written in the transaction of its effect (the outbox,
//! `store::events`), so an acknowledged effect always has its event and a
//! rolled-back one never does. The sequencer numbers them after commit.

use serde::Serialize;
use uuid::Uuid;

use super::{Millis, pseudonym::player_pseudonym};

/// Every event type, with its version in its name (`draw.won.v1`). A
/// change to a payload that removes or retypes a field is a new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    DrawWon,
    TierReached,
    RaffleWon,
    PrizeClaimed,
    PrizeShipped,
    PrizeExpired,
    CouponIssued,
    CouponRedeemed,
    CouponReversed,
    PacketGranted,
    PacketExpired,
    VoteCast,
    CampaignPublished,
    CampaignPaused,
    CampaignResumed,
    CampaignEnded,
    BudgetFunded,
    BudgetRefunded,
}

impl EventType {
    pub const ALL: [EventType; 18] = [
        EventType::DrawWon,
        EventType::TierReached,
        EventType::RaffleWon,
        EventType::PrizeClaimed,
        EventType::PrizeShipped,
        EventType::PrizeExpired,
        EventType::CouponIssued,
        EventType::CouponRedeemed,
        EventType::CouponReversed,
        EventType::PacketGranted,
        EventType::PacketExpired,
        EventType::VoteCast,
        EventType::CampaignPublished,
        EventType::CampaignPaused,
        EventType::CampaignResumed,
        EventType::CampaignEnded,
        EventType::BudgetFunded,
        EventType::BudgetRefunded,
    ];

    /// The type's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::DrawWon => "draw.won.v1",
            EventType::TierReached => "tier.reached.v1",
            EventType::RaffleWon => "raffle.won.v1",
            EventType::PrizeClaimed => "prize.claimed.v1",
            EventType::PrizeShipped => "prize.shipped.v1",
            EventType::PrizeExpired => "prize.expired.v1",
            EventType::CouponIssued => "coupon.issued.v1",
            EventType::CouponRedeemed => "coupon.redeemed.v1",
            EventType::CouponReversed => "coupon.reversed.v1",
            EventType::PacketGranted => "packet.granted.v1",
            EventType::PacketExpired => "packet.expired.v1",
            EventType::VoteCast => "vote.cast.v1",
            EventType::CampaignPublished => "campaign.published.v1",
            EventType::CampaignPaused => "campaign.paused.v1",
            EventType::CampaignResumed => "campaign.resumed.v1",
            EventType::CampaignEnded => "campaign.ended.v1",
            EventType::BudgetFunded => "budget.funded.v1",
            EventType::BudgetRefunded => "budget.refunded.v1",
        }
    }

    /// The type named `s` exactly (`draw.won.v1`), if there is one.
    pub fn parse(s: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Which event types a subscriber or an endpoint wants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TypeFilter(Vec<EventType>);

/// A type filter naming a type the engine does not know (or none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an event type (docs/events.md lists them, e.g. draw.won.v1, or * for all)")]
pub struct UnknownType(pub String);

impl TypeFilter {
    /// Every type.
    pub fn all() -> Self {
        Self(Vec::new())
    }

    /// From names (`draw.won.v1`, or `*` for every type); no names is
    /// every type. Duplicates are dropped; the order is the catalogue's.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, UnknownType> {
        let mut types = Vec::new();
        for n in names {
            let n = n.as_ref().trim();
            if n == "*" {
                return Ok(Self::all());
            }
            types.push(EventType::parse(n).ok_or_else(|| UnknownType(n.to_owned()))?);
        }
        types.sort();
        types.dedup();
        Ok(Self(types))
    }

    pub fn is_all(&self) -> bool {
        self.0.is_empty()
    }

    pub fn admits(&self, t: &str) -> bool {
        self.is_all() || self.0.iter().any(|x| x.as_str() == t)
    }

    /// The names, `["*"]` for every type.
    pub fn names(&self) -> Vec<String> {
        if self.is_all() {
            return vec!["*".to_owned()];
        }
        self.0.iter().map(|t| t.as_str().to_owned()).collect()
    }
}

/// An event about to be written in its effect's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDraft {
    /// UUIDv7, made here: ids sort by the time they were made.
    pub event_id: String,
    pub merchant_id: String,
    /// Empty for an event of no campaign.
    pub campaign_id: String,
    pub event_type: EventType,
    /// The openid of the player it is about, empty for none.
    pub player_id: String,
    /// The player's pseudonym in the campaign (FAIRNESS.md §2).
    pub pseudonym: String,
    pub occurred_at: Millis,
    /// The payload's JSON object (one of this module's structs).
    pub payload: String,
}

impl EventDraft {
    /// An event of `event_type` about `player` (empty: none).
    pub fn new(
        event_type: EventType,
        merchant_id: &str,
        campaign_id: &str,
        player: &str,
        occurred_at: Millis,
        payload: &impl Serialize,
    ) -> Self {
        let pseudonym = match (player.is_empty(), Uuid::parse_str(campaign_id)) {
            (false, Ok(c)) => player_pseudonym(c, player),
            _ => String::new(),
        };
        Self {
            event_id: Uuid::now_v7().to_string(),
            merchant_id: merchant_id.to_owned(),
            campaign_id: campaign_id.to_owned(),
            event_type,
            player_id: player.to_owned(),
            pseudonym,
            occurred_at,
            // A struct of strings and integers always serialises.
            payload: serde_json::to_string(payload).unwrap_or_else(|_| "{}".to_owned()),
        }
    }
}

/// What a fan is told to do to get a prize of `kind` (`COUPON`, ...), for
/// the merchant's template message. Chinese first: fans read it.
pub fn how_to_claim(kind: &str) -> &'static str {
    match kind {
        "COUPON" => "优惠券已放入您的账户，可在门店或线上使用",
        "PHYSICAL" => "请在领奖截止时间前到活动页面填写收货地址领取",
        "TOPUP_CODE" => "充值码已发放，请在活动页面查看",
        "POINTS" => "积分将由商家计入您的会员账户",
        "CASH" => "现金奖励将由商家发放到您的微信零钱",
        _ => "",
    }
}

/// A prize as the events that give it describe it (`draw.won`,
/// `tier.reached`, `raffle.won`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PrizePayload {
    pub award_id: String,
    /// The wheel slot, tier or raffle rank the prize came from.
    pub slot_index: u32,
    pub name: String,
    /// COUPON, PHYSICAL, TOPUP_CODE, POINTS or CASH.
    pub kind: String,
    /// CASH: the amount in cents (fen); POINTS: the points; else 0.
    pub amount: i64,
    /// PHYSICAL: when an unclaimed prize expires (ms since the epoch).
    pub claim_deadline_ms: Option<Millis>,
    /// What the fan does to get it, in Chinese.
    pub how_to_claim: String,
}

/// `draw.won.v1`: a wheel draw gave a prize (never a THANKS slot).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DrawWon {
    pub draw_id: String,
    /// The player's n-th draw in the campaign.
    pub draw_sequence: i64,
    pub channel: Option<String>,
    pub store_id: Option<String>,
    pub prize: PrizePayload,
}

/// `tier.reached.v1`: a sharer's Forward-to-Moments count reached a
/// reward tier (the prize is `prize`; its slot is the tier's index).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TierReached {
    pub tier_index: u32,
    /// What the tier counts: `shares`, `viewers` or `forwards`.
    pub metric: String,
    /// The count that reached it.
    pub value: i64,
    pub prize: PrizePayload,
}

/// `raffle.won.v1`: a raffle drew this player at `rank`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RaffleWon {
    pub raffle_id: String,
    pub raffle_seq: i64,
    pub rank: u32,
    pub prize: PrizePayload,
}

/// `prize.claimed.v1`, `prize.shipped.v1`, `prize.expired.v1`: a physical
/// prize's life. The address is not in the event: the shipping list
/// (ExportWinners, its shipping-list CSV) carries it to whoever ships.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PrizeChanged {
    pub award_id: String,
    pub prize_name: String,
    /// Shipped: the carrier's tracking number; else empty.
    pub tracking_number: String,
}

/// `coupon.issued.v1`: a coupon reached a player (a prize, a claim or a
/// targeted issue). The code is never in an event.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CouponIssued {
    pub coupon_id: String,
    pub template_id: String,
    /// How it was issued: the prize's draw or award id, or empty.
    pub source_id: String,
    pub valid_until_ms: Option<Millis>,
}

/// `coupon.redeemed.v1` and `coupon.reversed.v1`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CouponRedeemed {
    pub coupon_id: String,
    pub template_id: String,
    pub redemption_id: String,
    pub store_id: String,
    /// The POS key that redeemed (or reversed) it.
    pub pos_key_id: String,
    /// The order's reference at the till.
    pub order_ref: String,
    /// The order's amount and the discount given, in cents (fen).
    pub order_amount: i64,
    pub discount: i64,
}

/// `packet.granted.v1`: a player grabbed a share of a red packet; the
/// merchant pays it out.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PacketGranted {
    pub packet_id: String,
    /// The grab's number in the packet, from 1.
    pub grab_seq: i64,
    /// The ledger movement that pays it (ExportLedger).
    pub movement_id: String,
    /// Cents (fen).
    pub amount: i64,
}

/// `packet.expired.v1`: a red packet ended with money left, refunded to
/// the campaign's budget.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PacketExpired {
    pub packet_id: String,
    /// Cents (fen) back in the budget.
    pub refunded: i64,
}

/// `vote.cast.v1`: an accepted vote.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VoteCast {
    pub vote_id: String,
    pub candidate_id: String,
}

/// `campaign.published.v1` .. `campaign.ended.v1`: the lifecycle.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CampaignChanged {
    /// The status now: published, paused, ended.
    pub status: String,
    /// Hex of the seed commitment (FAIRNESS.md §3); empty for none.
    pub commitment: String,
    /// Ended: whether the seed is revealed (ExportCampaign carries it).
    pub seed_revealed: bool,
}

/// `budget.funded.v1` and `budget.refunded.v1`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BudgetChanged {
    /// Cents (fen) added to, or returned from, the budget.
    pub amount: i64,
    /// The ledger entry.
    pub entry_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_back_and_names_its_version() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert!(t.as_str().ends_with(".v1"), "{t:?}");
        }
        assert_eq!(EventType::parse("draw.won"), None);
        assert_eq!(EventType::parse("DRAW.WON.V1"), None);
    }

    #[test]
    fn filters_admit_what_they_name() {
        let all = TypeFilter::parse::<&str>(&[]).expect("none");
        assert!(all.is_all() && all.admits("vote.cast.v1"));
        assert_eq!(TypeFilter::parse(&["*", "x"]).expect("star"), all);
        let some =
            TypeFilter::parse(&["vote.cast.v1", "draw.won.v1", "vote.cast.v1"]).expect("two");
        assert_eq!(some.names(), ["draw.won.v1", "vote.cast.v1"]);
        assert!(some.admits("draw.won.v1") && !some.admits("tier.reached.v1"));
        assert_eq!(
            TypeFilter::parse(&["draw.won.v2"]),
            Err(UnknownType("draw.won.v2".to_owned()))
        );
    }

    #[test]
    fn a_draft_names_its_player_by_pseudonym_and_orders_by_id() {
        let c = "0190c3e0-0000-7000-8000-000000000001";
        let p = VoteCast {
            vote_id: "v".into(),
            candidate_id: "c".into(),
        };
        let a = EventDraft::new(EventType::VoteCast, "m", c, "openid-1", 5, &p);
        let b = EventDraft::new(EventType::VoteCast, "m", c, "", 5, &p);
        assert_eq!(
            a.pseudonym,
            player_pseudonym(Uuid::parse_str(c).expect("uuid"), "openid-1")
        );
        assert_eq!(b.pseudonym, "");
        assert!(a.event_id < b.event_id, "v7 ids sort by creation");
        assert_eq!(a.payload, r#"{"vote_id":"v","candidate_id":"c"}"#);
    }

    #[test]
    fn every_prize_kind_tells_how_to_claim_in_chinese() {
        for k in ["COUPON", "PHYSICAL", "TOPUP_CODE", "POINTS", "CASH"] {
            assert!(!how_to_claim(k).is_empty(), "{k}");
        }
        assert_eq!(how_to_claim("THANKS"), "");
    }
}
