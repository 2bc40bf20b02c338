//! Voting: the leaderboard always equals the accepted votes (invariant 5),
//! under 1,000 concurrent votes and across invalidations; caps per day, per
//! candidate per day and in total across the campaign's day boundary.

use std::collections::HashMap;

use engine_proto::campaign::v1::{
    self as pb, vote_admin_service_client::VoteAdminServiceClient,
    vote_service_client::VoteServiceClient,
};
use tonic::{Code, transport::Channel};

use crate::helpers::*;

both_backends!(
    leaderboard_equals_accepted_votes_under_1000_concurrent_votes,
    vote_caps_hold_across_the_day_boundary,
    player_candidates_need_approval,
    bad_vote_requests_and_roles_are_refused,
);

fn admin(ch: &Channel) -> VoteAdminServiceClient<Channel> {
    VoteAdminServiceClient::new(ch.clone())
}
fn voter(ch: &Channel) -> VoteServiceClient<Channel> {
    VoteServiceClient::new(ch.clone())
}

/// A published campaign with voting rules and `n` approved candidates.
async fn voting_campaign(
    app: &TestApp,
    (per_day, per_candidate, total): (i64, i64, i64),
    n: usize,
) -> (String, Vec<String>) {
    let c = app.wheel(rules(10, 10), vec![thanks(1)], 0, true).await;
    admin(&app.channel)
        .set_vote_rules(with(
            &app.admin_key,
            pb::SetVoteRulesRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                votes_per_day: per_day,
                votes_per_candidate_per_day: per_candidate,
                votes_total: total,
                player_registration: true,
            },
        ))
        .await
        .expect("rules");
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            admin(&app.channel)
                .add_candidate(with(
                    &app.admin_key,
                    pb::AddCandidateRequest {
                        idempotency_key: key(),
                        campaign_id: c.campaign_id.clone(),
                        name: format!("Candidate {i}"),
                        description: String::new(),
                    },
                ))
                .await
                .expect("candidate")
                .into_inner()
                .candidate_id,
        );
    }
    (c.campaign_id, ids)
}

async fn vote(app: &TestApp, who: &str, candidate: &str) -> Result<pb::VoteRecord, tonic::Status> {
    voter(&app.channel)
        .cast_vote(with(
            &app.token(who),
            pb::CastVoteRequest {
                idempotency_key: key(),
                candidate_id: candidate.into(),
                channel: "poster-a".into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn board(app: &TestApp, credential: &str, campaign: &str) -> HashMap<String, i64> {
    voter(&app.channel)
        .get_leaderboard(with(
            credential,
            pb::GetLeaderboardRequest {
                campaign_id: campaign.into(),
            },
        ))
        .await
        .expect("leaderboard")
        .into_inner()
        .candidates
        .into_iter()
        .map(|c| (c.candidate_id, c.votes))
        .collect()
}

async fn leaderboard_equals_accepted_votes_under_1000_concurrent_votes(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    let (campaign, candidates) = voting_campaign(&app, (10, 10, 10), 3).await;
    let mut tasks = Vec::new();
    for p in 0..250 {
        for v in 0..4 {
            let (ch, token) = (app.channel.clone(), app.token(&format!("v{p}")));
            let candidate = candidates[(p + v) % 3].clone();
            tasks.push(tokio::spawn(async move {
                let req = pb::CastVoteRequest {
                    idempotency_key: format!("vote-{v}"),
                    candidate_id: candidate.clone(),
                    channel: String::new(),
                };
                loop {
                    match voter(&ch).cast_vote(with(&token, req.clone())).await {
                        Err(s) if matches!(s.code(), Code::Aborted | Code::Unavailable) => continue,
                        other => return (candidate, other.map_err(|s| s.code())),
                    }
                }
            }));
        }
    }
    let mut accepted: HashMap<String, i64> = HashMap::new();
    for t in tasks {
        let (candidate, r) = t.await.expect("task");
        r.unwrap_or_else(|c| panic!("a vote within the caps was refused: {c:?}"));
        *accepted.entry(candidate).or_default() += 1;
    }
    assert_eq!(accepted.values().sum::<i64>(), 1000);
    assert_eq!(board(&app, &app.admin_key, &campaign).await, accepted);
    app.db.assert_leaderboard_matches_votes().await;

    // Invalidations follow: audited, never deleted, counted down once.
    let votes = admin(&app.channel)
        .list_votes(with(
            &app.admin_key,
            pb::ListVotesRequest {
                campaign_id: campaign.clone(),
                candidate_id: candidates[0].clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("votes")
        .into_inner()
        .votes;
    assert!(votes.len() >= 5);
    let audit_before = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'vote.invalidate' AND $1 = $1",
            "",
        )
        .await;
    for v in &votes[..5] {
        let req = pb::InvalidateVoteRequest {
            idempotency_key: key(),
            vote_id: v.vote_id.clone(),
            reason: "same device farm".into(),
        };
        let out = admin(&app.channel)
            .invalidate_vote(with(&app.admin_key, req.clone()))
            .await
            .expect("invalidate")
            .into_inner();
        assert_eq!(out.status, pb::VoteStatus::Invalidated as i32);
        // A retry is the same answer, not a second decrement.
        admin(&app.channel)
            .invalidate_vote(with(&app.admin_key, req))
            .await
            .expect("retry");
    }
    assert_code(
        admin(&app.channel)
            .invalidate_vote(with(
                &app.admin_key,
                pb::InvalidateVoteRequest {
                    idempotency_key: key(),
                    vote_id: votes[0].vote_id.clone(),
                    reason: "again".into(),
                },
            ))
            .await,
        Code::FailedPrecondition,
        None,
    );
    let after = board(&app, &app.token("v0"), &campaign).await;
    assert_eq!(after[&candidates[0]], accepted[&candidates[0]] - 5);
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM vote WHERE $1 = $1", "")
            .await,
        1000,
        "invalidated votes are kept"
    );
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'vote.invalidate' AND $1 = $1",
                ""
            )
            .await,
        audit_before + 5
    );
    assert!(
        app.db.execute("DELETE FROM vote").await.is_err(),
        "the database refuses to delete votes"
    );

    // Every vote, paged 64 at a time, newest first, each once; filtered
    // by state and day.
    let list = |status: pb::VoteStatus, day: &str, page_token: String| {
        let req = pb::ListVotesRequest {
            campaign_id: campaign.clone(),
            page_size: 64,
            page_token,
            day: day.into(),
            status: status as i32,
            ..Default::default()
        };
        let mut client = admin(&app.channel);
        let k = app.admin_key.clone();
        async move { client.list_votes(with(&k, req)).await }
    };
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(pb::VoteStatus::Unspecified, "", token)
            .await
            .expect("page")
            .into_inner();
        assert!(page.votes.len() <= 64);
        all.extend(page.votes);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(all.len(), 1000);
    assert!(all.windows(2).all(|w| w[0].vote_id > w[1].vote_id));
    // One candidate's votes, paged 64 at a time: the same votes in the
    // same order as the campaign's list holds for that candidate.
    let mut theirs = Vec::new();
    let mut token = String::new();
    loop {
        let page = admin(&app.channel)
            .list_votes(with(
                &app.admin_key,
                pb::ListVotesRequest {
                    campaign_id: campaign.clone(),
                    candidate_id: candidates[0].clone(),
                    page_size: 64,
                    page_token: token,
                    ..Default::default()
                },
            ))
            .await
            .expect("candidate page")
            .into_inner();
        theirs.extend(page.votes.into_iter().map(|v| v.vote_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let expected: Vec<_> = all
        .iter()
        .filter(|v| v.candidate_id == candidates[0])
        .map(|v| v.vote_id.clone())
        .collect();
    assert_eq!(theirs.len() as i64, accepted[&candidates[0]]);
    assert_eq!(theirs, expected);
    let invalidated = list(pb::VoteStatus::Invalidated, "", String::new())
        .await
        .expect("invalidated")
        .into_inner();
    assert_eq!(invalidated.votes.len(), 5);
    assert!(invalidated.next_page_token.is_empty());
    let day = &all[0].day;
    let that_day = list(pb::VoteStatus::Unspecified, day, String::new())
        .await
        .expect("day")
        .into_inner();
    assert!(that_day.votes.iter().all(|v| &v.day == day));
    assert_code(
        list(pb::VoteStatus::Unspecified, "yesterday", String::new()).await,
        Code::InvalidArgument,
        Some("day"),
    );
    let first = list(pb::VoteStatus::Unspecified, "", String::new())
        .await
        .expect("first")
        .into_inner();
    assert_code(
        list(pb::VoteStatus::Accepted, "", first.next_page_token).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    app.db.assert_leaderboard_matches_votes().await;
    app.stop().await;
}

async fn vote_caps_hold_across_the_day_boundary(backend: Backend) {
    let app = spawn_app(backend).await;
    let (campaign, k) = voting_campaign(&app, (3, 2, 5), 2).await;
    // 23:59 in Asia/Shanghai (T0 is 12:00 there).
    app.clock.set(T0 + 12 * HOUR - 60_000);
    let first = vote(&app, "dora", &k[0]).await.expect("1st");
    assert_eq!((first.remaining_today, first.remaining_total), (2, 4));
    vote(&app, "dora", &k[0]).await.expect("2nd");
    assert_code(
        vote(&app, "dora", &k[0]).await,
        Code::ResourceExhausted,
        None,
    );
    let third = vote(&app, "dora", &k[1]).await.expect("3rd");
    assert_eq!(third.day, "2026-11-26");
    assert_code(
        vote(&app, "dora", &k[1]).await,
        Code::ResourceExhausted,
        None,
    );
    // 00:01 the next day: new daily caps, the same total.
    app.clock.set(T0 + 12 * HOUR + 60_000);
    let next = vote(&app, "dora", &k[0]).await.expect("next day");
    assert_eq!(next.day, "2026-11-27");
    vote(&app, "dora", &k[0]).await.expect("5th");
    let e = vote(&app, "dora", &k[1]).await.expect_err("total cap");
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("campaign"), "{}", e.message());
    // Another player is not affected.
    vote(&app, "eli", &k[1]).await.expect("eli");
    let b = board(&app, &app.admin_key, &campaign).await;
    assert_eq!((b[&k[0]], b[&k[1]]), (4, 2));
    app.db.assert_leaderboard_matches_votes().await;
    // After the window, no votes.
    app.clock.set(T0 + 31 * DAY);
    assert_code(
        vote(&app, "eli", &k[1]).await,
        Code::FailedPrecondition,
        None,
    );
    app.stop().await;
}

async fn player_candidates_need_approval(backend: Backend) {
    let app = spawn_app(backend).await;
    let (campaign, k) = voting_campaign(&app, (5, 5, 5), 1).await;
    let register = |who: &str, name: &str| {
        let (ch, token) = (app.channel.clone(), app.token(who));
        let req = pb::RegisterCandidateRequest {
            idempotency_key: key(),
            campaign_id: campaign.clone(),
            name: name.into(),
            description: "I sing".into(),
        };
        async move { voter(&ch).register_candidate(with(&token, req)).await }
    };
    let mine = register("fay", "Fay").await.expect("register").into_inner();
    assert_eq!(mine.status, pb::CandidateStatus::Pending as i32);
    assert_code(register("gus", "Fay").await, Code::AlreadyExists, None);
    let other = register("gus", "Gus").await.expect("register").into_inner();
    // Pending candidates are not on the ballot or the board.
    assert_code(
        vote(&app, "hal", &mine.candidate_id).await,
        Code::NotFound,
        None,
    );
    assert!(
        !board(&app, &app.token("hal"), &campaign)
            .await
            .contains_key(&mine.candidate_id)
    );
    // The review queue: the two registrations, in order; the admin's own
    // candidate is approved already.
    let listed = |status: pb::CandidateStatus, page_size: i32, page_token: String| {
        let req = pb::ListCandidatesRequest {
            campaign_id: campaign.clone(),
            page_size,
            page_token,
            status: status as i32,
        };
        let (ch, k) = (app.channel.clone(), app.admin_key.clone());
        async move {
            admin(&ch)
                .list_candidates(with(&k, req))
                .await
                .map(|r| r.into_inner())
        }
    };
    let ids = |page: &pb::ListCandidatesResponse| -> Vec<String> {
        page.candidates
            .iter()
            .map(|c| c.candidate_id.clone())
            .collect()
    };
    let queue = listed(pb::CandidateStatus::Pending, 1, String::new())
        .await
        .expect("queue");
    assert_eq!(ids(&queue), vec![mine.candidate_id.clone()]);
    let rest = listed(
        pb::CandidateStatus::Pending,
        1,
        queue.next_page_token.clone(),
    )
    .await
    .expect("queue, page 2");
    assert_eq!(ids(&rest), vec![other.candidate_id.clone()]);
    assert!(rest.next_page_token.is_empty());
    assert_code(
        listed(
            pb::CandidateStatus::Approved,
            1,
            queue.next_page_token.clone(),
        )
        .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    let everyone = listed(pb::CandidateStatus::Unspecified, 0, String::new())
        .await
        .expect("all");
    assert_eq!(ids(&everyone).len(), 3);
    let review = |id: &str, approve: bool| pb::ReviewCandidateRequest {
        idempotency_key: key(),
        candidate_id: id.into(),
        approve,
    };
    admin(&app.channel)
        .review_candidate(with(&app.admin_key, review(&mine.candidate_id, true)))
        .await
        .expect("approve");
    admin(&app.channel)
        .review_candidate(with(&app.admin_key, review(&other.candidate_id, false)))
        .await
        .expect("reject");
    assert_code(
        admin(&app.channel)
            .review_candidate(with(&app.admin_key, review(&other.candidate_id, true)))
            .await,
        Code::FailedPrecondition,
        None,
    );
    let approved = listed(pb::CandidateStatus::Approved, 0, String::new())
        .await
        .expect("approved");
    assert_eq!(ids(&approved), [k[0].clone(), mine.candidate_id.clone()]);
    let rejected = listed(pb::CandidateStatus::Rejected, 0, String::new())
        .await
        .expect("rejected");
    assert_eq!(ids(&rejected), vec![other.candidate_id.clone()]);
    assert!(
        listed(pb::CandidateStatus::Pending, 0, String::new())
            .await
            .expect("empty queue")
            .candidates
            .is_empty()
    );
    vote(&app, "hal", &mine.candidate_id)
        .await
        .expect("vote for Fay");
    assert_code(
        vote(&app, "hal", &other.candidate_id).await,
        Code::NotFound,
        None,
    );
    let b = board(&app, &app.token("hal"), &campaign).await;
    assert_eq!((b.len(), b[&mine.candidate_id], b[&k[0]]), (2, 1, 0));
    // Registration closed: FAILED_PRECONDITION.
    admin(&app.channel)
        .set_vote_rules(with(
            &app.admin_key,
            pb::SetVoteRulesRequest {
                idempotency_key: key(),
                campaign_id: campaign.clone(),
                votes_per_day: 5,
                votes_per_candidate_per_day: 5,
                votes_total: 5,
                player_registration: false,
            },
        ))
        .await
        .expect("close registration");
    assert_code(register("ivy", "Ivy").await, Code::FailedPrecondition, None);
    app.db.assert_leaderboard_matches_votes().await;
    app.stop().await;
}

/// One piece: a table of bad vote requests and wrong roles, each refused the
/// same way, between one state digest taken before and compared after; then
/// a retry and a campaign without voting, on the state they left.
async fn bad_vote_requests_and_roles_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (campaign, k) = voting_campaign(&app, (5, 5, 5), 1).await;
    let pos = app.api_key(pb::Role::Pos, "S1").await;
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let other = other_merchant(&app.db).await;
    let before = state_digest(&app.db).await;
    let rules = |d, c, t| pb::SetVoteRulesRequest {
        idempotency_key: key(),
        campaign_id: campaign.clone(),
        votes_per_day: d,
        votes_per_candidate_per_day: c,
        votes_total: t,
        player_registration: false,
    };
    for (req, field) in [
        (rules(0, 1, 1), "votes_per_day"),
        (rules(1, 0, 1), "votes_per_candidate_per_day"),
        (rules(1, 1, 0), "votes_total"),
        (rules(2, 3, 5), "votes_per_candidate_per_day"),
        (rules(6, 1, 5), "votes_per_day"),
        (rules(-1, 1, 5), "votes_per_day"),
    ] {
        assert_code(
            admin(&app.channel)
                .set_vote_rules(with(&app.admin_key, req))
                .await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    let add = |name: &str| pb::AddCandidateRequest {
        idempotency_key: key(),
        campaign_id: campaign.clone(),
        name: name.into(),
        description: String::new(),
    };
    assert_code(
        admin(&app.channel)
            .add_candidate(with(&app.admin_key, add(" ")))
            .await,
        Code::InvalidArgument,
        Some("name"),
    );
    assert_code(
        admin(&app.channel)
            .add_candidate(with(&app.admin_key, add("Candidate 0")))
            .await,
        Code::AlreadyExists,
        None,
    );
    // Roles.
    assert_code(
        admin(&app.channel)
            .set_vote_rules(with(&app.token("p"), rules(1, 1, 1)))
            .await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        admin(&app.channel)
            .add_candidate(with(&auditor, add("X")))
            .await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        admin(&app.channel)
            .add_candidate(with(&other, add("X")))
            .await,
        Code::NotFound,
        None,
    );
    assert_code(
        admin(&app.channel).add_candidate(with("", add("X"))).await,
        Code::Unauthenticated,
        None,
    );
    let cast = |cred: &str| {
        with(
            cred,
            pb::CastVoteRequest {
                idempotency_key: key(),
                candidate_id: k[0].clone(),
                channel: String::new(),
            },
        )
    };
    assert_code(
        voter(&app.channel).cast_vote(cast(&app.admin_key)).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        voter(&app.channel).cast_vote(cast(&pos)).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        voter(&app.channel)
            .get_leaderboard(with(
                &other,
                pb::GetLeaderboardRequest {
                    campaign_id: campaign.clone(),
                },
            ))
            .await,
        Code::NotFound,
        None,
    );
    assert_code(
        voter(&app.channel)
            .get_leaderboard(with(
                &pos,
                pb::GetLeaderboardRequest {
                    campaign_id: campaign.clone(),
                },
            ))
            .await,
        Code::PermissionDenied,
        None,
    );
    // Bad ids and a channel tag too long.
    let mut bad = pb::CastVoteRequest {
        idempotency_key: key(),
        candidate_id: "nope".into(),
        channel: String::new(),
    };
    assert_code(
        voter(&app.channel)
            .cast_vote(with(&app.token("p"), bad.clone()))
            .await,
        Code::InvalidArgument,
        Some("candidate_id"),
    );
    bad.candidate_id = uuid::Uuid::now_v7().to_string();
    assert_code(
        voter(&app.channel)
            .cast_vote(with(&app.token("p"), bad.clone()))
            .await,
        Code::NotFound,
        None,
    );
    bad.candidate_id = k[0].clone();
    bad.channel = "c".repeat(65);
    assert_code(
        voter(&app.channel)
            .cast_vote(with(&app.token("p"), bad))
            .await,
        Code::InvalidArgument,
        Some("channel"),
    );
    assert_code(
        admin(&app.channel)
            .invalidate_vote(with(
                &app.admin_key,
                pb::InvalidateVoteRequest {
                    idempotency_key: key(),
                    vote_id: uuid::Uuid::now_v7().to_string(),
                    reason: "x".into(),
                },
            ))
            .await,
        Code::NotFound,
        None,
    );
    assert_eq!(
        state_digest(&app.db).await,
        before,
        "refused requests changed state"
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM vote WHERE $1 = $1", "")
            .await,
        0
    );
    // A retry with the same key is one vote.
    let req = pb::CastVoteRequest {
        idempotency_key: key(),
        candidate_id: k[0].clone(),
        channel: String::new(),
    };
    let a = voter(&app.channel)
        .cast_vote(with(&app.token("p"), req.clone()))
        .await
        .expect("vote")
        .into_inner();
    let b = voter(&app.channel)
        .cast_vote(with(&app.token("p"), req))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(a, b);
    assert_eq!(board(&app, &app.admin_key, &campaign).await[&k[0]], 1);
    // Voting not set up on another campaign: FAILED_PRECONDITION.
    let bare = app
        .wheel(crate::helpers::rules(1, 1), vec![thanks(1)], 0, true)
        .await;
    let lone = admin(&app.channel)
        .add_candidate(with(
            &app.admin_key,
            pb::AddCandidateRequest {
                idempotency_key: key(),
                campaign_id: bare.campaign_id.clone(),
                name: "Lone".into(),
                description: String::new(),
            },
        ))
        .await
        .expect("candidate")
        .into_inner();
    assert_code(
        vote(&app, "p", &lone.candidate_id).await,
        Code::FailedPrecondition,
        None,
    );
    app.db.assert_leaderboard_matches_votes().await;
    app.stop().await;
}
