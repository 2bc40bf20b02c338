//! The campaign's list RPCs (issue 24): `ListCampaigns`, the paged
//! `ListWinners`, `ListRedPackets` and `ListShareChains`, under the one
//! paging convention (`platform::domain::paging`, docs/api.md "Paging").
//! `AdminService` in `admin.rs`, `MoneyService` in `money.rs` and
//! `ShareAdminService` in `share.rs` forward to these.

use engine_proto::campaign::v1 as pb;
use tonic::{Request, Response, Status};

use super::{
    Shared,
    convert::{activity_from_proto, award_to_proto, campaign_to_proto, uuid_field},
    error::invalid,
    money::packet_to_proto,
    share::link_to_proto,
};
use platform::access::keys::{ApiKeyRecord, KeyCursor, KeyFilter};

use crate::{
    domain::{
        InvalidField,
        credential::Role,
        list::{
            CAMPAIGN_PAGES, CampaignCursor, CampaignFilter, PACKET_PAGES, PacketCursor,
            PacketFilter, SHARE_PAGES, ShareCursor, ShareFilter, WINNER_PAGES, WinnerCursor,
            WinnerFilter,
        },
        money::PacketState,
        paging::PageLimits,
    },
    store::db::Db,
};

/// The list names page tokens are bound to.
const CAMPAIGNS: &str = "campaigns";
const WINNERS: &str = "winners";
const API_KEYS: &str = "api_keys";
const RED_PACKETS: &str = "red_packets";
const SHARES: &str = "shares";

/// The stored status names of `statuses` (proto enum values).
fn campaign_statuses(statuses: &[i32]) -> Result<Vec<&'static str>, InvalidField> {
    statuses
        .iter()
        .map(|v| match pb::CampaignStatus::try_from(*v) {
            Ok(pb::CampaignStatus::Draft) => Ok("draft"),
            Ok(pb::CampaignStatus::Published) => Ok("published"),
            Ok(pb::CampaignStatus::Paused) => Ok("paused"),
            Ok(pb::CampaignStatus::Ended) => Ok("ended"),
            Ok(pb::CampaignStatus::Unspecified) | Err(_) => Err(InvalidField::new(
                "statuses",
                format!("{v} is not a campaign status (DRAFT, PUBLISHED, PAUSED, ENDED)"),
            )),
        })
        .collect()
}

/// The winners' store filter: empty is none, else a well-formed store
/// code (an unknown one simply matches nothing).
pub(super) fn winner_store(raw: &str) -> Result<Option<String>, InvalidField> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    platform::stores::domain::store_code("store_id", raw).map(Some)
}

pub(super) fn award_statuses(statuses: &[i32]) -> Result<Vec<&'static str>, InvalidField> {
    statuses
        .iter()
        .map(|v| match pb::AwardStatus::try_from(*v) {
            Ok(pb::AwardStatus::Granted) => Ok("granted"),
            Ok(pb::AwardStatus::Won) => Ok("won"),
            Ok(pb::AwardStatus::Claimed) => Ok("claimed"),
            Ok(pb::AwardStatus::Shipped) => Ok("shipped"),
            Ok(pb::AwardStatus::Expired) => Ok("expired"),
            Ok(pb::AwardStatus::Unspecified) | Err(_) => Err(InvalidField::new(
                "statuses",
                format!("{v} is not an award status (GRANTED, WON, CLAIMED, SHIPPED, EXPIRED)"),
            )),
        })
        .collect()
}

/// The packet states of `states` (proto enum values).
fn packet_states(states: &[i32]) -> Result<Vec<PacketState>, InvalidField> {
    states
        .iter()
        .map(|v| match pb::PacketState::try_from(*v) {
            Ok(pb::PacketState::Open) => Ok(PacketState::Open),
            Ok(pb::PacketState::Exhausted) => Ok(PacketState::Exhausted),
            Ok(pb::PacketState::Expired) => Ok(PacketState::Expired),
            Ok(pb::PacketState::Unspecified) | Err(_) => Err(InvalidField::new(
                "states",
                format!("{v} is not a packet state (OPEN, EXHAUSTED, EXPIRED)"),
            )),
        })
        .collect()
}

/// The stored kind name of `kind`; UNSPECIFIED is both.
fn packet_kind(kind: i32) -> Result<Option<&'static str>, InvalidField> {
    match pb::PacketKind::try_from(kind) {
        Ok(pb::PacketKind::Unspecified) => Ok(None),
        Ok(pb::PacketKind::Group) => Ok(Some("group")),
        Ok(pb::PacketKind::Campaign) => Ok(Some("campaign")),
        Err(_) => Err(InvalidField::new(
            "kind",
            "GROUP, CAMPAIGN or UNSPECIFIED (both)",
        )),
    }
}

/// A bound of a time range: 0 is open, a negative instant a mistake.
fn bound(field: &'static str, ms: i64) -> Result<Option<i64>, InvalidField> {
    match ms {
        0 => Ok(None),
        ms if ms < 0 => Err(InvalidField::new(field, "must not be negative (0 = open)")),
        ms => Ok(Some(ms)),
    }
}

pub(super) async fn list_campaigns<D: Db>(
    s: &Shared<D>,
    request: Request<pb::ListCampaignsRequest>,
) -> Result<Response<pb::ListCampaignsResponse>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin_or_auditor()?;
    let req = request.get_ref();
    let size = CAMPAIGN_PAGES.size(req.page_size).map_err(invalid)?;
    let activity = match req.activity {
        0 => None,
        v => Some(activity_from_proto("activity", v).map_err(invalid)?),
    };
    let filter = CampaignFilter::new(
        campaign_statuses(&req.statuses).map_err(invalid)?,
        activity,
        req.name_prefix.clone(),
        bound("active_from_ms", req.active_from_ms).map_err(invalid)?,
        bound("active_until_ms", req.active_until_ms).map_err(invalid)?,
    )
    .map_err(invalid)?;
    let tokens = s.store.page_tokens();
    let scope = filter.scope(merchant);
    let after: Option<CampaignCursor> = tokens
        .open(CAMPAIGNS, &scope, &req.page_token)
        .map_err(invalid)?;
    let (campaigns, more) = s
        .store
        .list_campaigns(merchant, &filter, after.as_ref(), size, s.clock.now_ms())
        .await?;
    let next_page_token = match campaigns.last() {
        Some(last) if more => tokens.seal(
            CAMPAIGNS,
            &scope,
            &CampaignCursor {
                created_at: last.created_at,
                campaign_id: last.id.to_string(),
            },
        ),
        _ => String::new(),
    };
    Ok(Response::new(pb::ListCampaignsResponse {
        campaigns: campaigns.iter().map(campaign_to_proto).collect(),
        next_page_token,
    }))
}

/// ListApiKeys: 100 a page unless asked, at most 1,000.
const KEY_PAGES: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

/// A page of the merchant's API keys for ListApiKeys (the caller is
/// authorized by the handler), and the next page's token.
pub(super) async fn api_keys<D: Db>(
    s: &Shared<D>,
    merchant: &str,
    req: &pb::ListApiKeysRequest,
) -> Result<(Vec<ApiKeyRecord>, String), Status> {
    let size = KEY_PAGES.size(req.page_size).map_err(invalid)?;
    let role = match pb::Role::try_from(req.role) {
        Ok(pb::Role::Unspecified) => None,
        Ok(pb::Role::Admin) => Some(Role::Admin),
        Ok(pb::Role::Pos) => Some(Role::Pos),
        Ok(pb::Role::Auditor) => Some(Role::Auditor),
        Err(_) => {
            return Err(invalid(InvalidField::new(
                "role",
                "ADMIN, POS, AUDITOR or UNSPECIFIED (any)",
            )));
        }
    };
    let filter = KeyFilter {
        role,
        store_id: req.store_id.trim().to_owned(),
        active_only: req.active_only,
    };
    let tokens = s.store.page_tokens();
    let scope = filter.scope(merchant);
    let after: Option<KeyCursor> = tokens
        .open(API_KEYS, &scope, &req.page_token)
        .map_err(invalid)?;
    let (keys, more) = s
        .store
        .list_api_keys(merchant, &filter, after.as_ref(), size)
        .await?;
    let next = match keys.last() {
        Some(last) if more => tokens.seal(
            API_KEYS,
            &scope,
            &KeyCursor {
                created_at: last.created_at,
                key_id: last.key_id.clone(),
            },
        ),
        _ => String::new(),
    };
    Ok((keys, next))
}

/// ListWinners' page size: `page_size`, or the deprecated `limit` (at
/// most 500, as before) when only it is set.
fn winner_page_size(req: &pb::ListWinnersRequest) -> Result<u32, InvalidField> {
    #[allow(deprecated)]
    let limit = req.limit;
    match (req.page_size, limit) {
        (0, 1..=500) => Ok(limit),
        (0, 501..) => Err(InvalidField::new("limit", "at most 500 (use page_size)")),
        (size, _) => WINNER_PAGES.size(size),
    }
}

pub(super) async fn list_winners<D: Db>(
    s: &Shared<D>,
    request: Request<pb::ListWinnersRequest>,
) -> Result<Response<pb::ListWinnersResponse>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin()?;
    let req = request.get_ref();
    let id = uuid_field("campaign_id", &req.campaign_id)?;
    let size = winner_page_size(req).map_err(invalid)?;
    let filter = WinnerFilter::new(
        award_statuses(&req.statuses).map_err(invalid)?,
        req.slot,
        req.day.clone(),
        winner_store(&req.store_id).map_err(invalid)?,
    )
    .map_err(invalid)?;
    let tokens = s.store.page_tokens();
    let scope = filter.scope(merchant, &id.to_string());
    let after: Option<WinnerCursor> = tokens
        .open(WINNERS, &scope, &req.page_token)
        .map_err(invalid)?;
    let now = s.clock.now_ms();
    let (awards, more) = s
        .store
        .list_winners(merchant, id, &filter, after.as_ref(), size, now)
        .await?;
    let next_page_token = match awards.last() {
        Some(last) if more => tokens.seal(
            WINNERS,
            &scope,
            &WinnerCursor {
                won_at: last.won_at,
                award_id: last.award_id.clone(),
            },
        ),
        _ => String::new(),
    };
    Ok(Response::new(pb::ListWinnersResponse {
        awards: awards
            .iter()
            .map(|a| award_to_proto(a, now, true))
            .collect(),
        next_page_token,
    }))
}

pub(super) async fn list_red_packets<D: Db>(
    s: &Shared<D>,
    request: Request<pb::ListRedPacketsRequest>,
) -> Result<Response<pb::ListRedPacketsResponse>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin_or_auditor()?;
    let req = request.get_ref();
    let id = uuid_field("campaign_id", &req.campaign_id)?;
    let size = PACKET_PAGES.size(req.page_size).map_err(invalid)?;
    let filter = PacketFilter::new(
        packet_kind(req.kind).map_err(invalid)?,
        packet_states(&req.states).map_err(invalid)?,
    );
    let tokens = s.store.page_tokens();
    let scope = filter.scope(merchant, &id.to_string());
    let after: Option<PacketCursor> = tokens
        .open(RED_PACKETS, &scope, &req.page_token)
        .map_err(invalid)?;
    let (packets, more) = s
        .store
        .list_packets(
            merchant,
            id,
            &filter,
            after.as_ref(),
            size,
            s.clock.now_ms(),
        )
        .await?;
    let next_page_token = match packets.last() {
        Some(last) if more => tokens.seal(
            RED_PACKETS,
            &scope,
            &PacketCursor {
                packet_seq: last.packet_seq,
            },
        ),
        _ => String::new(),
    };
    Ok(Response::new(pb::ListRedPacketsResponse {
        packets: packets.iter().map(packet_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn list_share_chains<D: Db>(
    s: &Shared<D>,
    request: Request<pb::ListShareChainsRequest>,
) -> Result<Response<pb::ListShareChainsResponse>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin_or_auditor()?;
    let req = request.get_ref();
    let id = uuid_field("campaign_id", &req.campaign_id)?;
    let size = SHARE_PAGES.size(req.page_size).map_err(invalid)?;
    let filter = ShareFilter::new(&req.sharer_id, req.roots_only).map_err(invalid)?;
    let tokens = s.store.page_tokens();
    let scope = filter.scope(merchant, &id.to_string());
    let after: Option<ShareCursor> = tokens
        .open(SHARES, &scope, &req.page_token)
        .map_err(invalid)?;
    let (shares, more) = s
        .store
        .list_shares(merchant, id, &filter, after.as_ref(), size)
        .await?;
    let next_page_token = match shares.last() {
        Some(last) if more => tokens.seal(
            SHARES,
            &scope,
            &ShareCursor {
                created_at: last.share.created_at,
                token: last.share.token.clone(),
            },
        ),
        _ => String::new(),
    };
    Ok(Response::new(pb::ListShareChainsResponse {
        shares: shares
            .iter()
            .map(|x| pb::ShareSummary {
                link: Some(link_to_proto(&x.share)),
                sharer_tiers_granted: x.sharer_tiers.iter().map(|t| (*t).max(0) as u32).collect(),
            })
            .collect(),
        next_page_token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn the_old_limit_still_sizes_a_page() {
        let req = |page_size, limit| pb::ListWinnersRequest {
            page_size,
            limit,
            ..Default::default()
        };
        assert_eq!(winner_page_size(&req(0, 0)).expect("ok"), 100);
        assert_eq!(winner_page_size(&req(0, 30)).expect("ok"), 30);
        assert_eq!(
            winner_page_size(&req(0, 501)).expect_err("refused").field,
            "limit"
        );
        assert_eq!(winner_page_size(&req(7, 501)).expect("ok"), 7);
        assert_eq!(winner_page_size(&req(5000, 0)).expect("ok"), 1000);
        assert_eq!(
            winner_page_size(&req(-1, 0)).expect_err("refused").field,
            "page_size"
        );
    }

    #[test]
    fn unknown_states_name_the_field() {
        assert_eq!(
            campaign_statuses(&[1, 4]).expect("ok"),
            vec!["draft", "ended"]
        );
        assert_eq!(
            campaign_statuses(&[0]).expect_err("refused").field,
            "statuses"
        );
        assert_eq!(
            campaign_statuses(&[99]).expect_err("refused").field,
            "statuses"
        );
        assert_eq!(award_statuses(&[2, 3]).expect("ok"), vec!["won", "claimed"]);
        assert_eq!(award_statuses(&[6]).expect_err("refused").field, "statuses");
        assert_eq!(
            bound("active_from_ms", -1).expect_err("refused").field,
            "active_from_ms"
        );
        assert_eq!(bound("active_from_ms", 0).expect("ok"), None);
        assert_eq!(
            packet_states(&[3, 1]).expect("ok"),
            vec![PacketState::Expired, PacketState::Open]
        );
        assert_eq!(packet_states(&[0]).expect_err("refused").field, "states");
        assert_eq!(packet_states(&[9]).expect_err("refused").field, "states");
        assert_eq!(packet_kind(0).expect("ok"), None);
        assert_eq!(packet_kind(2).expect("ok"), Some("campaign"));
        assert_eq!(packet_kind(7).expect_err("refused").field, "kind");
    }
}
