//! Raffles among entrants and vote prizes (issue 24; FAIRNESS.md §9):
//! entrants fixed by the cut-off, each once unless entries are tickets,
//! the pick recomputed by the independent verifier from the export, a
//! second run (or a racing one, or the engine's own) giving the same
//! winners, and every refusal precise.

use std::collections::HashSet;

use campaign::{
    clock::ManualClock,
    domain::raffle::{Entrant, entrants_hash},
    sweepers::run_due_raffles,
};
use engine_proto::campaign::v1::{
    self as pb, raffle_admin_service_client::RaffleAdminServiceClient,
    share_service_client::ShareServiceClient, vote_admin_service_client::VoteAdminServiceClient,
    vote_service_client::VoteServiceClient,
};
use tonic::{Code, Status, transport::Channel};

use crate::fairness::{edit, export, verify};
use crate::helpers::*;
use crate::money::{budget, create_group, funded_campaign, grab, group};

both_backends!(
    raffles_of_every_source_draw_once_and_verify,
    racing_runs_give_one_set_of_winners,
    a_cash_raffle_among_grabbers_pays_all_winners_or_none,
    raffle_requests_check_roles_fields_and_state,
);

fn raffles(ch: &Channel) -> RaffleAdminServiceClient<Channel> {
    RaffleAdminServiceClient::new(ch.clone())
}

/// A published campaign with voting (players may register candidates)
/// and `n` candidates the merchant added.
async fn voting_campaign(app: &TestApp, n: usize) -> (String, Vec<String>) {
    let c = app.wheel(rules(10, 10), vec![thanks(1)], 0, true).await;
    let admin = VoteAdminServiceClient::new(app.channel.clone());
    admin
        .clone()
        .set_vote_rules(with(
            &app.admin_key,
            pb::SetVoteRulesRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                votes_per_day: 10,
                votes_per_candidate_per_day: 10,
                votes_total: 10,
                player_registration: true,
            },
        ))
        .await
        .expect("rules");
    let mut ids = Vec::new();
    for i in 0..n {
        let cand = admin
            .clone()
            .add_candidate(with(
                &app.admin_key,
                pb::AddCandidateRequest {
                    idempotency_key: key(),
                    campaign_id: c.campaign_id.clone(),
                    name: format!("门店 {i}"),
                    description: String::new(),
                },
            ))
            .await
            .expect("candidate")
            .into_inner();
        ids.push(cand.candidate_id);
    }
    (c.campaign_id, ids)
}

/// A player registers a candidate, and the merchant approves it.
async fn player_candidate(app: &TestApp, campaign: &str, openid: &str) -> String {
    let c = VoteServiceClient::new(app.channel.clone())
        .register_candidate(with(
            &app.token(openid),
            pb::RegisterCandidateRequest {
                idempotency_key: key(),
                campaign_id: campaign.into(),
                name: format!("{openid} 的作品"),
                description: String::new(),
            },
        ))
        .await
        .expect("register")
        .into_inner();
    VoteAdminServiceClient::new(app.channel.clone())
        .review_candidate(with(
            &app.admin_key,
            pb::ReviewCandidateRequest {
                idempotency_key: key(),
                candidate_id: c.candidate_id.clone(),
                approve: true,
            },
        ))
        .await
        .expect("approve");
    c.candidate_id
}

async fn vote(app: &TestApp, who: &str, candidate: &str) {
    VoteServiceClient::new(app.channel.clone())
        .cast_vote(with(
            &app.token(who),
            pb::CastVoteRequest {
                idempotency_key: key(),
                candidate_id: candidate.into(),
                channel: String::new(),
            },
        ))
        .await
        .expect("vote");
}

async fn share(app: &TestApp, who: &str, campaign: &str) {
    ShareServiceClient::new(app.channel.clone())
        .create_share(with(
            &app.token(who),
            pb::CreateShareRequest {
                idempotency_key: key(),
                campaign_id: campaign.into(),
                parent_token: String::new(),
                channel: String::new(),
            },
        ))
        .await
        .expect("share");
}

fn request(
    campaign: &str,
    source: pb::RaffleSource,
    winners: u32,
    until_ms: i64,
) -> pb::CreateRaffleRequest {
    pb::CreateRaffleRequest {
        idempotency_key: key(),
        campaign_id: campaign.into(),
        name: "每日幸运儿".into(),
        source: source as i32,
        candidate_id: String::new(),
        tickets: false,
        from_ms: 0,
        until_ms,
        winners,
        prize: Some(slot("保温杯", pb::PrizeKind::Physical, 0, 0)),
    }
}

async fn create(
    app: &TestApp,
    cred: &str,
    req: pb::CreateRaffleRequest,
) -> Result<pb::Raffle, Status> {
    raffles(&app.channel)
        .create_raffle(with(cred, req))
        .await
        .map(|r| r.into_inner())
}

async fn run(app: &TestApp, cred: &str, raffle: &str) -> Result<pb::Raffle, Status> {
    raffles(&app.channel)
        .run_raffle(with(
            cred,
            pb::RunRaffleRequest {
                idempotency_key: key(),
                raffle_id: raffle.into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn raffle_awards(app: &TestApp, campaign: &str) -> Vec<pb::PrizeAward> {
    app.admin()
        .list_winners(with(
            &app.admin_key,
            pb::ListWinnersRequest {
                campaign_id: campaign.into(),
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .expect("winners")
        .into_inner()
        .awards
        .into_iter()
        .filter(|a| a.source == pb::AwardSource::Raffle as i32)
        .collect()
}

fn winners_of(r: &pb::Raffle) -> Vec<(u32, String, String)> {
    r.drawn
        .iter()
        .map(|w| (w.rank, w.player_id.clone(), w.award_id.clone()))
        .collect()
}

/// One campaign, a raffle of each kind: voters (once each), voters with
/// tickets, players who drew, players who shared, and the top candidates
/// (a merchant's candidate among them, which gets no prize). Each is run
/// once after its cut-off; a second run answers the same winners; the
/// export verifies and tampered raffle lines do not.
async fn raffles_of_every_source_draw_once_and_verify(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    let (campaign, merchant_candidates) = voting_campaign(&app, 1).await;
    let cut = app.clock_now() + HOUR;
    let mut made = Vec::new();
    for (source, winners, tickets) in [
        (pb::RaffleSource::Vote, 2, false),
        (pb::RaffleSource::Vote, 3, true),
        (pb::RaffleSource::Draw, 2, false),
        (pb::RaffleSource::Share, 2, false),
        (pb::RaffleSource::TopCandidates, 2, false),
    ] {
        let mut req = request(&campaign, source, winners, cut);
        req.tickets = tickets;
        made.push(create(&app, &app.admin_key, req).await.expect("create"));
    }
    assert_eq!(
        made.iter().map(|r| r.raffle_seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    // Before the cut-off nothing can be drawn.
    assert_code(
        run(&app, &app.admin_key, &made[0].raffle_id).await,
        Code::FailedPrecondition,
        None,
    );

    // Entries: fans f0..f7 register candidates; f0..f9 vote, f0 five
    // times; f0..f5 draw; f3..f8 share (f3 twice).
    let mut owned = Vec::new();
    for f in 0..2 {
        owned.push(player_candidate(&app, &campaign, &format!("f{f}")).await);
    }
    for f in 0..10 {
        let to = if f < 5 {
            &owned[0]
        } else {
            &merchant_candidates[0]
        };
        vote(&app, &format!("f{f}"), to).await;
    }
    for _ in 0..4 {
        vote(&app, "f0", &owned[1]).await;
    }
    for f in 0..6 {
        app.draw(&format!("f{f}"), &campaign).await.expect("draw");
    }
    for f in 3..9 {
        share(&app, &format!("f{f}"), &campaign).await;
    }
    share(&app, "f3", &campaign).await;
    // After the cut-off entries no longer count.
    app.clock.set(cut);
    vote(&app, "late", &owned[1]).await;

    let mut drawn = Vec::new();
    for r in &made {
        drawn.push(run(&app, &app.admin_key, &r.raffle_id).await.expect("run"));
    }
    let counts: Vec<(u64, u64, usize)> = drawn
        .iter()
        .map(|r| (r.entrant_count, r.ticket_count, r.drawn.len()))
        .collect();
    assert_eq!(
        counts,
        [
            (10, 10, 2), // voters once each
            (10, 14, 3), // f0 has 5 tickets
            (6, 6, 2),   // drawers
            (6, 6, 2),   // sharers, f3 once
            (3, 14, 2),  // candidates: merchant's 5, f0's 5, f1's 4 (no late vote)
        ]
    );
    for r in &drawn {
        assert_eq!(r.status, pb::RaffleStatus::Drawn as i32);
        let players: HashSet<&str> = r
            .drawn
            .iter()
            .map(|w| w.player_pseudonym.as_str())
            .collect();
        assert_eq!(players.len(), r.drawn.len(), "a winner once per raffle");
    }
    // The top candidates: place 1 is the merchant's (ties by registration:
    // it was added first), no prize; place 2 is f0's candidate.
    let top = &drawn[4].drawn;
    assert_eq!(top[0].candidate_id, merchant_candidates[0]);
    assert_eq!(
        (top[0].award_id.as_str(), top[0].player_id.as_str()),
        ("", "")
    );
    assert_eq!(top[1].candidate_id, owned[0]);
    assert_eq!(top[1].player_id, "f0");
    // Every other winner has a prize award the list of winners shows.
    let awards = raffle_awards(&app, &campaign).await;
    assert_eq!(awards.len(), 2 + 3 + 2 + 2 + 1);
    for a in &awards {
        assert_eq!(a.status, pb::AwardStatus::Won as i32);
        assert!(a.claim_deadline_ms > 0);
        let r = drawn
            .iter()
            .find(|r| r.raffle_id == a.raffle_id)
            .expect("its raffle");
        let w = r
            .drawn
            .iter()
            .find(|w| w.award_id == a.award_id)
            .expect("its winner");
        assert_eq!(
            (w.rank, w.player_id.as_str()),
            (a.slot_index, a.player_id.as_str())
        );
    }

    // Running again, by anyone, any number of times: the same winners.
    for r in &drawn {
        let again = run(&app, &app.admin_key, &r.raffle_id)
            .await
            .expect("rerun");
        assert_eq!(winners_of(&again), winners_of(r));
    }
    assert_eq!(raffle_awards(&app, &campaign).await.len(), awards.len());
    // Auditors see pseudonyms, never openids.
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let seen = raffles(&app.channel)
        .get_raffle(with(
            &auditor,
            pb::GetRaffleRequest {
                raffle_id: drawn[0].raffle_id.clone(),
            },
        ))
        .await
        .expect("auditor reads")
        .into_inner();
    assert!(
        seen.drawn
            .iter()
            .all(|w| w.player_id.is_empty() && w.player_pseudonym.len() == 32)
    );
    let listed = raffles(&app.channel)
        .list_raffles(with(
            &auditor,
            pb::ListRafflesRequest {
                campaign_id: campaign.clone(),
                page_size: 2,
                page_token: String::new(),
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.raffles.len(), 2);
    assert!(!listed.next_page_token.is_empty());

    // The export verifies once the seed is revealed ...
    app.end_campaign(&campaign).await;
    let lines = export(&app, &auditor, &campaign).await;
    let dir = app.db.dir.clone();
    let (ok, out) = verify(&dir, "raffles.jsonl", &lines, &[]);
    assert!(ok, "verifier: {out}");
    assert!(out.contains("5 raffles and 11 winners recomputed"), "{out}");
    // ... and tampered raffle lines do not.
    let raffle_at = |v: &Vec<serde_json::Value>, seq: i64| {
        v.iter()
            .position(|l| l["type"] == "raffle" && l["raffle_seq"] == seq)
            .expect("raffle line")
    };
    // A raffle's entrants follow its line (one part here: fewer than 5,000).
    let entrants_at = |v: &Vec<serde_json::Value>, seq: i64| {
        v.iter()
            .position(|l| l["type"] == "raffle_entrants" && l["raffle_seq"] == seq)
            .expect("entrants line")
    };
    let tampered: Vec<(&str, Vec<String>)> = vec![
        (
            "winners do not recompute",
            edit(&lines, |v| {
                let i = raffle_at(v, 1);
                let p = v[i]["drawn"][0]["position"].as_i64().expect("position");
                v[i]["drawn"][0]["position"] = ((p + 1) % 10).into();
            }),
        ),
        (
            "does not hash",
            edit(&lines, |v| {
                let (i, e) = (raffle_at(v, 2), entrants_at(v, 2));
                let was = v[e]["entrants"][0][2].as_i64().expect("weight");
                v[e]["entrants"][0][2] = 9.into();
                v[i]["ticket_count"] = (14 - was + 9).into();
            }),
        ),
        (
            "entrant line 1 missing",
            edit(&lines, |v| {
                let e = entrants_at(v, 1);
                v.remove(e);
            }),
        ),
        (
            "raffle numbers have gaps",
            edit(&lines, |v| {
                let (i, e) = (raffle_at(v, 2), entrants_at(v, 2));
                v.remove(e);
                v.remove(i);
            }),
        ),
        (
            "players who drew",
            edit(&lines, |v| {
                // No draw in the period any more.
                let i = raffle_at(v, 3);
                v[i]["from_ms"] = (cut - 1).into();
            }),
        ),
        (
            "not ranked",
            edit(&lines, |v| {
                // Reordered, with the hash recomputed to match.
                let (i, at) = (raffle_at(v, 5), entrants_at(v, 5));
                let e = v[at]["entrants"].as_array_mut().expect("entrants");
                e.swap(0, 2);
                let listed: Vec<Entrant> = e
                    .iter()
                    .map(|x| Entrant {
                        id: x[0].as_str().expect("id").into(),
                        owner: x[1].as_str().expect("owner").into(),
                        weight: x[2].as_u64().expect("weight"),
                    })
                    .collect();
                v[i]["entrants_hash"] = hex::encode(entrants_hash(&listed)).into();
            }),
        ),
    ];
    for (why, bad) in tampered {
        let (ok, out) = verify(&dir, "raffles-bad.jsonl", &bad, &[]);
        assert!(!ok && out.contains(why), "{why}: {out}");
    }
}

/// Two admins and the engine's own runner run one due raffle at once: one
/// set of winners, one award each, the same answer for all.
async fn racing_runs_give_one_set_of_winners(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    let (campaign, candidates) = voting_campaign(&app, 1).await;
    for round in 0..3 {
        let cut = app.clock_now() + HOUR;
        let r = create(
            &app,
            &app.admin_key,
            request(&campaign, pb::RaffleSource::Vote, 3, cut),
        )
        .await
        .expect("create");
        for f in 0..8 {
            vote(&app, &format!("r{round}-{f}"), &candidates[0]).await;
        }
        app.clock.set(cut);
        let clock = ManualClock::new(cut);
        let (a, b, swept) = tokio::join!(
            run(&app, &app.admin_key, &r.raffle_id),
            run(&app, &app.admin_key, &r.raffle_id),
            async { on_store!(&app.db, |store| run_due_raffles(&store, &clock).await) },
        );
        let (a, b) = (a.expect("run a"), b.expect("run b"));
        swept.expect("engine run");
        assert_eq!(winners_of(&a), winners_of(&b), "round {round}");
        assert_eq!(a.drawn.len(), 3);
        let awards: Vec<_> = raffle_awards(&app, &campaign)
            .await
            .into_iter()
            .filter(|x| x.raffle_id == r.raffle_id)
            .collect();
        assert_eq!(awards.len(), 3, "round {round}: one award per winner");
    }
}

/// Grabbers of a red packet enter once each; a CASH prize is paid from the
/// budget for every winner, and a budget short for all of them refuses
/// the whole run and changes nothing.
async fn a_cash_raffle_among_grabbers_pays_all_winners_or_none(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    let campaign = funded_campaign(&app, 10_000).await;
    let cut = app.clock_now() + HOUR;
    let cash = |amount: i64, winners: u32| {
        let mut req = request(&campaign, pb::RaffleSource::Grab, winners, cut);
        let mut prize = slot("现金红包", pb::PrizeKind::Cash, 0, 0);
        prize.amount = amount;
        req.prize = Some(prize);
        req
    };
    let paid = create(&app, &app.admin_key, cash(500, 2))
        .await
        .expect("paid");
    let short = create(&app, &app.admin_key, cash(5_000, 2))
        .await
        .expect("short");
    let packet = create_group(&app, group(&campaign, 1_000, 5, pb::SplitMode::Lucky)).await;
    for g in 0..4 {
        grab(&app, &format!("g{g}"), &packet.packet_id)
            .await
            .expect("grab");
    }
    app.clock.set(cut);
    let r = run(&app, &app.admin_key, &paid.raffle_id)
        .await
        .expect("run");
    assert_eq!((r.entrant_count, r.drawn.len()), (4, 2));
    let after = budget(&app, &campaign).await;
    // 1,000 went to the packet's grabbers, 2 x 500 to the winners.
    assert_eq!(after.available_cents, 10_000 - 1_000 - 1_000);
    // 2 x 5,000 > 8,000 available: refused whole, nothing paid or given.
    assert_code(
        run(&app, &app.admin_key, &short.raffle_id).await,
        Code::ResourceExhausted,
        None,
    );
    assert_eq!(
        budget(&app, &campaign).await.available_cents,
        after.available_cents
    );
    let awards = raffle_awards(&app, &campaign).await;
    assert_eq!(awards.len(), 2);
    assert!(awards.iter().all(|a| a.raffle_id == paid.raffle_id));
    let still = raffles(&app.channel)
        .get_raffle(with(
            &app.admin_key,
            pb::GetRaffleRequest {
                raffle_id: short.raffle_id.clone(),
            },
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(still.status, pb::RaffleStatus::Open as i32);
}

async fn raffle_requests_check_roles_fields_and_state(backend: Backend) {
    let app = spawn_app(backend).await;
    let (campaign, candidates) = voting_campaign(&app, 1).await;
    let cut = app.clock_now() + HOUR;
    let ok = || request(&campaign, pb::RaffleSource::Vote, 2, cut);

    // Roles: only admins change; auditors read; POS keys and players
    // neither.
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let pos = app.api_key(pb::Role::Pos, "S1").await;
    for cred in [&auditor, &pos, &app.token("fan")] {
        assert_code(create(&app, cred, ok()).await, Code::PermissionDenied, None);
    }
    let r = create(&app, &app.admin_key, ok()).await.expect("create");
    for cred in [&auditor, &pos, &app.token("fan")] {
        assert_code(
            run(&app, cred, &r.raffle_id).await,
            Code::PermissionDenied,
            None,
        );
    }
    assert_code(
        raffles(&app.channel)
            .get_raffle(with(
                &pos,
                pb::GetRaffleRequest {
                    raffle_id: r.raffle_id.clone(),
                },
            ))
            .await,
        Code::PermissionDenied,
        None,
    );

    // Fields, each named.
    let bad = |f: fn(&mut pb::CreateRaffleRequest)| {
        let mut req = ok();
        f(&mut req);
        req
    };
    for (req, field) in [
        (bad(|r| r.campaign_id = "nope".into()), "campaign_id"),
        (bad(|r| r.name = " ".into()), "name"),
        (bad(|r| r.source = 0), "source"),
        (bad(|r| r.source = 99), "source"),
        (bad(|r| r.winners = 0), "winners"),
        (bad(|r| r.winners = 1001), "winners"),
        (bad(|r| r.until_ms = T0 - 2 * DAY), "until_ms"),
        (bad(|r| r.until_ms = T0 + 31 * DAY), "until_ms"),
        (bad(|r| r.prize = None), "prize"),
        (bad(|r| r.prize = Some(thanks(0))), "prize.kind"),
        (
            bad(|r| r.prize = Some(slot("杯", pb::PrizeKind::Physical, 1, 0))),
            "prize.weight",
        ),
        (
            bad(|r| r.prize = Some(slot("杯", pb::PrizeKind::Physical, 0, 5))),
            "prize.stock",
        ),
        (
            bad(|r| {
                r.source = pb::RaffleSource::Draw as i32;
                r.candidate_id = "x".into()
            }),
            "candidate_id",
        ),
        (
            bad(|r| {
                r.source = pb::RaffleSource::TopCandidates as i32;
                r.tickets = true
            }),
            "tickets",
        ),
    ] {
        assert_code(
            create(&app, &app.admin_key, req).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    // An unknown candidate, another merchant's campaign or raffle: NOT_FOUND.
    let mut unknown = ok();
    unknown.candidate_id = uuid::Uuid::now_v7().to_string();
    assert_code(
        create(&app, &app.admin_key, unknown).await,
        Code::NotFound,
        None,
    );
    let mut one = ok();
    one.candidate_id = candidates[0].clone();
    create(&app, &app.admin_key, one)
        .await
        .expect("voters of one candidate");
    let other = other_merchant(&app.db).await;
    assert_code(create(&app, &other, ok()).await, Code::NotFound, None);
    assert_code(run(&app, &other, &r.raffle_id).await, Code::NotFound, None);
    assert_code(
        raffles(&app.channel)
            .get_raffle(with(
                &other,
                pb::GetRaffleRequest {
                    raffle_id: r.raffle_id.clone(),
                },
            ))
            .await,
        Code::NotFound,
        None,
    );
    // A tampered page token.
    assert_code(
        raffles(&app.channel)
            .list_raffles(with(
                &app.admin_key,
                pb::ListRafflesRequest {
                    campaign_id: campaign.clone(),
                    page_size: 0,
                    page_token: "AAAA".into(),
                },
            ))
            .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    // Idempotency: the same request under one key is one raffle; another
    // request under it is refused.
    let same = ok();
    let a = create(&app, &app.admin_key, same.clone())
        .await
        .expect("first");
    let b = create(&app, &app.admin_key, same.clone())
        .await
        .expect("replay");
    assert_eq!(a.raffle_id, b.raffle_id);
    let mut changed = same.clone();
    changed.winners = 3;
    assert!(create(&app, &app.admin_key, changed).await.is_err());

    // State: a campaign without the activity, a draft never published.
    let wheel_only = app
        .admin()
        .create_campaign(with(
            &app.admin_key,
            pb::CreateCampaignRequest {
                idempotency_key: key(),
                name: "只有转盘".into(),
                starts_at_ms: T0 - DAY,
                ends_at_ms: T0 + 30 * DAY,
                activities: vec![pb::ActivityKind::Wheel as i32],
                draws_per_day: 1,
                draws_total: 1,
                ..Default::default()
            },
        ))
        .await
        .expect("campaign")
        .into_inner();
    assert_code(
        create(
            &app,
            &app.admin_key,
            request(&wheel_only.campaign_id, pb::RaffleSource::Vote, 1, cut),
        )
        .await,
        Code::FailedPrecondition,
        None,
    );
    let never = create(
        &app,
        &app.admin_key,
        request(&wheel_only.campaign_id, pb::RaffleSource::Draw, 1, cut),
    )
    .await
    .expect("raffle in a draft");
    app.clock.set(cut);
    assert_code(
        run(&app, &app.admin_key, &never.raffle_id).await,
        Code::FailedPrecondition,
        None,
    );
    // The engine's own runner records why and leaves it.
    let clock = ManualClock::new(cut);
    on_store!(&app.db, |store| run_due_raffles(&store, &clock).await).expect("sweep");
    let seen = raffles(&app.channel)
        .get_raffle(with(
            &app.admin_key,
            pb::GetRaffleRequest {
                raffle_id: never.raffle_id.clone(),
            },
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(seen.status, pb::RaffleStatus::Open as i32);
    assert!(
        seen.run_error.contains("not published"),
        "{}",
        seen.run_error
    );
    // A raffle with no entrants draws no one.
    let empty = run(&app, &app.admin_key, &r.raffle_id).await.expect("run");
    assert_eq!((empty.entrant_count, empty.drawn.len()), (0, 0));
    assert_eq!(empty.status, pb::RaffleStatus::Drawn as i32);
    // A cut-off already past is refused at creation.
    assert_code(
        create(
            &app,
            &app.admin_key,
            request(&campaign, pb::RaffleSource::Vote, 1, cut),
        )
        .await,
        Code::InvalidArgument,
        Some("until_ms"),
    );
}
