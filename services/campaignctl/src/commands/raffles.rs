//! `get raffles` and `run-raffle`: a campaign's raffles among entrants and
//! vote prizes (docs/activities.md "Raffles"), and drawing one now.

use super::*;

const RAFFLE_PAGE: i32 = 1000;

fn source_name(v: i32) -> &'static str {
    match pb::RaffleSource::try_from(v) {
        Ok(pb::RaffleSource::Vote) => "vote",
        Ok(pb::RaffleSource::Share) => "share",
        Ok(pb::RaffleSource::Draw) => "draw",
        Ok(pb::RaffleSource::Grab) => "grab",
        Ok(pb::RaffleSource::TopCandidates) => "top_candidates",
        _ => "unknown",
    }
}

fn drawn(r: &pb::Raffle) -> bool {
    r.status == pb::RaffleStatus::Drawn as i32
}

/// `get raffles CAMPAIGN`: every raffle, in the order they were made.
pub(super) async fn get_raffles(ctx: &Ctx, arg: &str) -> Result<(), CtlError> {
    let id = ctx.campaign_id(arg)?;
    let engine = ctx.engine().await?;
    let c = get_campaign(&engine, &id).await?;
    let mut req = pb::ListRafflesRequest {
        campaign_id: id.clone(),
        page_size: RAFFLE_PAGE,
        page_token: String::new(),
    };
    let mut rows = Vec::new();
    loop {
        let page = call("ListRaffles", || {
            let mut a = engine.raffles();
            let r = req.clone();
            async move { a.list_raffles(r).await }
        })
        .await?;
        rows.extend(page.raffles.iter().map(|r| {
            vec![
                r.raffle_seq.to_string(),
                r.name.clone(),
                source_name(r.source).to_owned(),
                local_instant(r.until_ms, &c.time_zone),
                r.winners.to_string(),
                if drawn(r) {
                    format!("drawn: {} of {} entrants", r.drawn.len(), r.entrant_count)
                } else if r.run_error.is_empty() {
                    "open".to_owned()
                } else {
                    format!("open (refused: {})", r.run_error)
                },
                r.raffle_id.clone(),
            ]
        }));
        if page.next_page_token.is_empty() {
            break;
        }
        req.page_token = page.next_page_token;
    }
    if rows.is_empty() {
        println!("no raffles");
        return Ok(());
    }
    println!(
        "{}",
        table(
            &[
                "#", "name", "entrants", "cut-off", "winners", "status", "raffle"
            ],
            &rows
        )
    );
    Ok(())
}

/// `run-raffle RAFFLE`: draws it now (after its cut-off), or shows the
/// winners it already has.
pub(super) async fn run_raffle(ctx: &Ctx, raffle: &str) -> Result<(), CtlError> {
    let engine = ctx.engine().await?;
    let req = pb::RunRaffleRequest {
        // Running twice gives the same winners; one key a raffle.
        idempotency_key: change_key(&format!("run-raffle-{raffle}"), 0),
        raffle_id: raffle.to_owned(),
    };
    let r = call(&format!("RunRaffle {raffle}"), || {
        let mut a = engine.raffles();
        let r = req.clone();
        async move { a.run_raffle(r).await }
    })
    .await?;
    println!(
        "{}: {} winners among {} entrants ({} tickets), entrants hash {}",
        r.name,
        r.drawn.len(),
        r.entrant_count,
        r.ticket_count,
        r.entrants_hash
    );
    let rows: Vec<Vec<String>> = r
        .drawn
        .iter()
        .map(|w| {
            vec![
                w.rank.to_string(),
                if w.player_id.is_empty() {
                    "(no prize: the merchant's candidate)".to_owned()
                } else {
                    w.player_id.clone()
                },
                w.candidate_id.clone(),
                w.award_id.clone(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        println!(
            "{}",
            table(&["rank", "player", "candidate", "award"], &rows)
        );
    }
    Ok(())
}
