//! Events (issue 25): every won draw writes its `draw.won.v1` event in the
//! draw's transaction; the sequencer numbers them without gaps per
//! merchant (`position`) and per campaign (`seq`); ListEvents pages them
//! and SubscribeEvents streams the backlog and then live events, resuming
//! after a position with nothing missed or repeated.

use std::collections::HashSet;
use std::time::Duration;

use engine_proto::campaign::v1::{self as pb, event_service_client::EventServiceClient};
use tonic::{Code, transport::Channel};

use crate::helpers::*;

both_backends!(
    won_draws_are_events_numbered_without_gaps,
    racing_draws_write_one_event_per_prize,
    a_stream_sends_the_backlog_then_live_events_and_resumes,
    event_reads_refuse_bad_input_precisely,
);

fn events(channel: &Channel) -> EventServiceClient<Channel> {
    EventServiceClient::new(channel.clone())
}

async fn list(
    app: &TestApp,
    credential: &str,
    req: pb::ListEventsRequest,
) -> Result<pb::ListEventsResponse, tonic::Status> {
    events(&app.channel)
        .list_events(with(credential, req))
        .await
        .map(|r| r.into_inner())
}

/// Waits until the merchant's events are numbered up to `n`.
async fn wait_for_head(app: &TestApp, n: u64) -> pb::ListEventsResponse {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = list(app, &app.admin_key, pb::ListEventsRequest::default())
            .await
            .expect("list events");
        if page.head_position >= n {
            assert_eq!(page.head_position, n, "more events than effects");
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "events numbered: {} of {n}",
            page.head_position
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn draw(app: &TestApp, openid: &str, campaign: &str) -> pb::DrawResponse {
    app.player()
        .draw(with(
            &app.token(openid),
            pb::DrawRequest {
                idempotency_key: key(),
                campaign_id: campaign.into(),
                channel: "qr-17".into(),
                store_id: String::new(),
            },
        ))
        .await
        .expect("draw")
        .into_inner()
}

/// Every event of the merchant, paged through.
async fn all_events(app: &TestApp, credential: &str) -> Vec<pb::Event> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(
            app,
            credential,
            pb::ListEventsRequest {
                page_size: 7,
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("page");
        out.extend(page.events);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

fn payload(e: &pb::Event) -> serde_json::Value {
    serde_json::from_str(&e.payload_json).expect("payload is JSON")
}

async fn won_draws_are_events_numbered_without_gaps(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    // Half the draws win points, half are THANKS (no event).
    let c = app
        .wheel(
            rules(1, 1),
            vec![slot("现金红包", pb::PrizeKind::Points, 1, 1000), thanks(1)],
            1,
            true,
        )
        .await;
    let mut wins = Vec::new();
    for p in 0..12 {
        let d = draw(&app, &format!("fan-{p}"), &c.campaign_id).await;
        if let Some(a) = d.award {
            wins.push((d.draw_id, a.award_id, format!("fan-{p}")));
        }
    }
    assert!(!wins.is_empty() && wins.len() < 12, "{} wins", wins.len());
    // The publication first, then one event per win.
    wait_for_head(&app, wins.len() as u64 + 1).await;
    let mut got = all_events(&app, &app.admin_key).await;
    let published = got.remove(0);
    assert_eq!(published.r#type, "campaign.published.v1");
    assert_eq!((published.position, published.seq), (1, 1));
    assert_eq!(payload(&published)["status"], "PUBLISHED");
    assert_eq!(
        payload(&published)["commitment"].as_str().map(str::len),
        Some(64)
    );
    assert!(published.player_id.is_empty() && published.player_pseudonym.is_empty());
    assert_eq!(got.len(), wins.len());
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 2, "positions without gaps");
        assert_eq!(e.seq, i as u64 + 2, "one campaign: seq without gaps");
        assert_eq!(e.r#type, "draw.won.v1");
        assert_eq!(e.campaign_id, c.campaign_id);
        let p = payload(e);
        let (_, award_id, openid) = wins
            .iter()
            .find(|w| w.0 == p["draw_id"])
            .expect("an event of a won draw");
        assert_eq!(&p["prize"]["award_id"], award_id.as_str());
        assert_eq!(&e.player_id, openid);
        assert_eq!(p["prize"]["kind"], "POINTS");
        assert!(
            p["prize"]["amount"].as_i64() > Some(0),
            "POINTS carry their points"
        );
        assert_eq!(p["channel"], "qr-17");
        assert!(!p["prize"]["how_to_claim"].as_str().unwrap_or("").is_empty());
        assert_eq!(e.player_pseudonym.len(), 32);
    }
    let ids: HashSet<_> = got.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(ids.len(), got.len(), "one id per event");
    // An auditor reads the same events without openids.
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let seen = all_events(&app, &auditor).await;
    assert_eq!(seen.len(), got.len() + 1);
    assert!(seen.iter().all(|e| e.player_id.is_empty()));
    // After an event: the rest; a type filter: only those types.
    let rest = list(
        &app,
        &app.admin_key,
        pb::ListEventsRequest {
            after_event_id: got[0].event_id.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("after an event");
    assert_eq!(rest.events.len(), got.len() - 1);
    assert_eq!(rest.events[0].position, 3);
    let none = list(
        &app,
        &app.admin_key,
        pb::ListEventsRequest {
            types: vec!["vote.cast.v1".into()],
            campaign_id: c.campaign_id.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("filtered");
    assert!(none.events.is_empty());
    // A draw refused (no chances left) writes no event.
    let refused = app
        .player()
        .draw(with(
            &app.token("fan-0"),
            pb::DrawRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                ..Default::default()
            },
        ))
        .await;
    assert_code(refused, Code::ResourceExhausted, None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = list(&app, &app.admin_key, pb::ListEventsRequest::default())
        .await
        .expect("head");
    assert_eq!(after.head_position, wins.len() as u64 + 1);
}

async fn racing_draws_write_one_event_per_prize(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    // 40 players race for 15 prizes: every prize has exactly one event,
    // and no draw that lost the race (its rows rolled back) has one.
    let c = app
        .wheel(
            rules(1, 1),
            vec![slot("限量杯", pb::PrizeKind::Physical, 1, 15), thanks(0)],
            1,
            true,
        )
        .await;
    let mut handles = Vec::new();
    for p in 0..40 {
        let player = app.player();
        let token = app.token(&format!("racer-{p}"));
        let id = c.campaign_id.clone();
        handles.push(tokio::spawn(async move {
            let mut player = player;
            player
                .draw(with(
                    &token,
                    pb::DrawRequest {
                        idempotency_key: key(),
                        campaign_id: id,
                        ..Default::default()
                    },
                ))
                .await
                .expect("draw")
                .into_inner()
        }));
    }
    let mut awarded = HashSet::new();
    for h in handles {
        if let Some(a) = h.await.expect("join").award {
            awarded.insert(a.award_id);
        }
    }
    assert_eq!(awarded.len(), 15, "the stock, no more");
    wait_for_head(&app, 16).await;
    let got = all_events(&app, &app.admin_key).await;
    let positions: Vec<u64> = got.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=16).collect::<Vec<_>>());
    let got: Vec<_> = got
        .into_iter()
        .filter(|e| e.r#type == "draw.won.v1")
        .collect();
    let seen: HashSet<String> = got
        .iter()
        .map(|e| {
            payload(e)["prize"]["award_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(seen, awarded, "one event per prize given");
    assert_eq!(got.len(), 15);
    for e in &got {
        let p = payload(e);
        assert_eq!(p["prize"]["kind"], "PHYSICAL");
        assert!(p["prize"]["claim_deadline_ms"].as_i64().is_some());
    }
}

async fn next(s: &mut tonic::Streaming<pb::Event>) -> pb::Event {
    tokio::time::timeout(Duration::from_secs(20), s.message())
        .await
        .expect("an event in time")
        .expect("stream open")
        .expect("an event")
}

async fn a_stream_sends_the_backlog_then_live_events_and_resumes(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    let c = app
        .wheel(
            rules(10, 10),
            vec![slot("积分", pb::PrizeKind::Points, 1, 1000), thanks(0)],
            1,
            true,
        )
        .await;
    for p in 0..3 {
        draw(&app, &format!("early-{p}"), &c.campaign_id).await;
    }
    let mut stream = events(&app.channel)
        .subscribe_events(with(&app.admin_key, pb::SubscribeEventsRequest::default()))
        .await
        .expect("subscribe")
        .into_inner();
    // The backlog: the publication and three wins.
    for want in 1..=4 {
        assert_eq!(next(&mut stream).await.position, want, "the backlog first");
    }
    draw(&app, "live-0", &c.campaign_id).await;
    let live = next(&mut stream).await;
    assert_eq!((live.position, live.player_id.as_str()), (5, "live-0"));
    // Disconnect; two more effects; resume after 5: exactly 6 and 7.
    drop(stream);
    draw(&app, "gap-0", &c.campaign_id).await;
    draw(&app, "gap-1", &c.campaign_id).await;
    let mut resumed = events(&app.channel)
        .subscribe_events(with(
            &app.admin_key,
            pb::SubscribeEventsRequest {
                after_event_id: live.event_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("resume")
        .into_inner();
    assert_eq!(next(&mut resumed).await.position, 6);
    assert_eq!(next(&mut resumed).await.position, 7);
    // From now: nothing old, only what comes.
    let mut fresh = events(&app.channel)
        .subscribe_events(with(
            &app.admin_key,
            pb::SubscribeEventsRequest {
                from_now: true,
                ..Default::default()
            },
        ))
        .await
        .expect("from now")
        .into_inner();
    draw(&app, "late-0", &c.campaign_id).await;
    assert_eq!(next(&mut fresh).await.position, 8);
    assert_eq!(next(&mut resumed).await.position, 8);
    // Four streams of a merchant at most.
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(
            events(&app.channel)
                .subscribe_events(with(&app.admin_key, pb::SubscribeEventsRequest::default()))
                .await
                .expect("third and fourth"),
        );
    }
    let fifth = events(&app.channel)
        .subscribe_events(with(&app.admin_key, pb::SubscribeEventsRequest::default()))
        .await;
    let refused = fifth.map(|_| ()).expect_err("a fifth stream");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("reason: merchant"),
        "{refused:?}"
    );
}

async fn event_reads_refuse_bad_input_precisely(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = app
        .wheel(
            rules(10, 10),
            vec![slot("积分", pb::PrizeKind::Points, 1, 10), thanks(0)],
            1,
            true,
        )
        .await;
    let bad = |types: Vec<String>| pb::ListEventsRequest {
        types,
        ..Default::default()
    };
    assert_code(
        list(&app, &app.admin_key, bad(vec!["draw.won".into()])).await,
        Code::InvalidArgument,
        Some("types"),
    );
    assert_code(
        list(
            &app,
            &app.admin_key,
            pb::ListEventsRequest {
                campaign_id: "nope".into(),
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
        Some("campaign_id"),
    );
    assert_code(
        list(
            &app,
            &app.admin_key,
            pb::ListEventsRequest {
                page_token: "forged".into(),
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    draw(&app, "fan", &c.campaign_id).await;
    let mine = wait_for_head(&app, 2).await.events[1].clone();
    let other = other_merchant(&app.db).await;
    // Another merchant's campaign, event or cursor: as if none existed.
    assert_code(
        list(
            &app,
            &other,
            pb::ListEventsRequest {
                campaign_id: c.campaign_id.clone(),
                ..Default::default()
            },
        )
        .await,
        Code::NotFound,
        None,
    );
    assert_code(
        list(
            &app,
            &other,
            pb::ListEventsRequest {
                after_event_id: mine.event_id.clone(),
                ..Default::default()
            },
        )
        .await,
        Code::NotFound,
        None,
    );
    assert_code(
        list(
            &app,
            &app.admin_key,
            pb::ListEventsRequest {
                after_event_id: uuid::Uuid::now_v7().to_string(),
                ..Default::default()
            },
        )
        .await,
        Code::NotFound,
        None,
    );
    let theirs = list(&app, &other, pb::ListEventsRequest::default())
        .await
        .expect("their own events");
    assert!(theirs.events.is_empty() && theirs.head_position == 0);
    // A player or a POS key may not read events.
    assert_code(
        list(&app, &app.token("fan"), pb::ListEventsRequest::default()).await,
        Code::PermissionDenied,
        None,
    );
}
