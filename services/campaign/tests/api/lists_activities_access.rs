//! `ListRedPackets` and `ListShareChains` refuse who may not read them
//! (the roles of GetRedPacket and GetShareChain: admin or auditor; another
//! merchant's campaign is NOT_FOUND) and name the field of a bad request;
//! a page token edited, made up or sent with other filters, to the other
//! list or by another merchant is INVALID_ARGUMENT `page_token`.

use engine_proto::campaign::v1::{self as pb, ActivityKind, PacketState};
use tonic::Code;

use crate::{
    helpers::*,
    lists_activities::{list_packets, list_shares, packets_req, shares_req},
    money::{create_group, funded_campaign, group},
    sharing::share,
};

both_backends!(activity_lists_refuse_callers_and_bad_requests);

/// `token` with one character changed in the middle.
fn edited(token: &str) -> String {
    let mut b = token.as_bytes().to_vec();
    let mid = b.len() / 2;
    b[mid] = if b[mid] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).expect("ascii")
}

async fn activity_lists_refuse_callers_and_bad_requests(backend: Backend) {
    // Arrange: three packets and three shares on one campaign.
    let app = spawn_app(backend).await;
    let id = funded_campaign(&app, 10_000).await;
    for _ in 0..3 {
        create_group(&app, group(&id, 10, 2, pb::SplitMode::Equal)).await;
    }
    for fan in ["fan-a", "fan-b", "fan-c"] {
        share(&app, fan, &id, "").await;
    }
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let pos = app.api_key(pb::Role::Pos, "store-1").await;
    let player = app.token("fan-a");
    let other = other_merchant(&app.db).await;

    // Act / Assert: the role matrix, both lists.
    for (who, cred, refused) in [
        ("admin", app.admin_key.as_str(), None),
        ("auditor", auditor.as_str(), None),
        ("pos", pos.as_str(), Some(Code::PermissionDenied)),
        ("player", player.as_str(), Some(Code::PermissionDenied)),
        ("nobody", "", Some(Code::Unauthenticated)),
        ("other merchant", other.as_str(), Some(Code::NotFound)),
    ] {
        let packets = list_packets(&app, cred, packets_req(&id, 0, "")).await;
        let shares = list_shares(&app, cred, shares_req(&id, 0, "")).await;
        match refused {
            None => {
                assert_eq!(packets.expect(who).packets.len(), 3, "{who}");
                assert_eq!(shares.expect(who).shares.len(), 3, "{who}");
            }
            Some(code) => {
                assert_code(packets, code, None);
                assert_code(shares, code, None);
            }
        }
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_code(
        list_packets(&app, &app.admin_key, packets_req(&unknown, 0, "")).await,
        Code::NotFound,
        None,
    );
    assert_code(
        list_shares(&app, &app.admin_key, shares_req(&unknown, 0, "")).await,
        Code::NotFound,
        None,
    );

    // Bad requests name their field.
    let packets_with = |f: fn(&mut pb::ListRedPacketsRequest)| {
        let mut req = packets_req(&id, 0, "");
        f(&mut req);
        req
    };
    for (req, field) in [
        (packets_req("nope", 0, ""), "campaign_id"),
        (packets_req(&id, -1, ""), "page_size"),
        (packets_with(|r| r.kind = 9), "kind"),
        (packets_with(|r| r.states = vec![0]), "states"),
        (
            packets_with(|r| r.states = vec![PacketState::Open as i32, 42]),
            "states",
        ),
        (packets_req(&id, 0, "not-a-token"), "page_token"),
    ] {
        assert_code(
            list_packets(&app, &app.admin_key, req).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    let shares_with = |f: fn(&mut pb::ListShareChainsRequest)| {
        let mut req = shares_req(&id, 0, "");
        f(&mut req);
        req
    };
    for (req, field) in [
        (shares_req("", 0, ""), "campaign_id"),
        (shares_req(&id, -5, ""), "page_size"),
        (shares_with(|r| r.sharer_id = "x".repeat(129)), "sharer_id"),
        (shares_req(&id, 0, "AAAA"), "page_token"),
    ] {
        assert_code(
            list_shares(&app, &app.admin_key, req).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    let long_openid = shares_with(|r| r.sharer_id = "x".repeat(128));
    assert!(
        list_shares(&app, &app.admin_key, long_openid)
            .await
            .expect("128 bytes is an openid")
            .shares
            .is_empty()
    );

    // A token continues only its own list, request and merchant.
    let first = list_packets(&app, &app.admin_key, packets_req(&id, 1, ""))
        .await
        .expect("first");
    let token = first.next_page_token;
    assert!(!token.is_empty());
    let again = list_packets(&app, &app.admin_key, packets_req(&id, 1, &token))
        .await
        .expect("again");
    assert_eq!(
        again,
        list_packets(&app, &app.admin_key, packets_req(&id, 1, &token))
            .await
            .expect("again"),
        "the same token gives the same page"
    );
    let mut other_filter = packets_req(&id, 1, &token);
    other_filter.kind = pb::PacketKind::Group as i32;
    for (cred, req) in [
        (app.admin_key.as_str(), packets_req(&id, 1, &edited(&token))),
        (app.admin_key.as_str(), other_filter),
        (other.as_str(), packets_req(&id, 1, &token)),
    ] {
        assert_code(
            list_packets(&app, cred, req).await,
            Code::InvalidArgument,
            Some("page_token"),
        );
    }
    let share_token = list_shares(&app, &app.admin_key, shares_req(&id, 1, ""))
        .await
        .expect("first shares")
        .next_page_token;
    assert!(!share_token.is_empty());
    let mut roots = shares_req(&id, 1, &share_token);
    roots.roots_only = true;
    for req in [
        shares_req(&id, 1, &token),
        shares_req(&id, 1, &edited(&share_token)),
        roots,
    ] {
        assert_code(
            list_shares(&app, &app.admin_key, req).await,
            Code::InvalidArgument,
            Some("page_token"),
        );
    }
    assert_code(
        list_packets(&app, &app.admin_key, packets_req(&id, 1, &share_token)).await,
        Code::InvalidArgument,
        Some("page_token"),
    );

    // A campaign without the activity.
    let votes = app
        .admin()
        .create_campaign(with(
            &app.admin_key,
            pb::CreateCampaignRequest {
                idempotency_key: key(),
                name: "投票".into(),
                starts_at_ms: T0 - DAY,
                ends_at_ms: T0 + DAY,
                time_zone: String::new(),
                activities: vec![ActivityKind::Vote as i32],
                draws_per_day: 0,
                draws_total: 0,
            },
        ))
        .await
        .expect("vote campaign")
        .into_inner()
        .campaign_id;
    assert_code(
        list_packets(&app, &auditor, packets_req(&votes, 0, "")).await,
        Code::FailedPrecondition,
        None,
    );
    assert_code(
        list_shares(&app, &auditor, shares_req(&votes, 0, "")).await,
        Code::FailedPrecondition,
        None,
    );
    app.stop().await;
}
