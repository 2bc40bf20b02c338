//! The draw workloads: draws over gRPC and straight on the store, and the
//! wheel's stock checked after.

use super::*;

impl Bench {
    pub(super) async fn draws(
        &mut self,
        rep: &mut RunReport,
        baseline: bool,
    ) -> anyhow::Result<()> {
        let w = rep.workload;
        let race = w == Workload::DrawRace;
        let shape = match w {
            Workload::DrawHot => WheelShape::hot(),
            Workload::DrawSpread => WheelShape::spread(),
            _ => WheelShape::race(self.opts.race_stock),
        };
        let spec = if race {
            Spec {
                warmup: Duration::ZERO,
                window: self.opts.seconds.max(Duration::from_secs(120)),
                until_done: true,
            }
        } else {
            self.spec()
        };
        let per_task = self.opts.players_per_task;
        let (in_flight, conns) = (rep.in_flight, rep.conns);

        let id = self
            .admin
            .wheel(&format!("{} grpc", w.name()), &shape)
            .await?;
        let pools = self
            .players
            .pools(&format!("r{}g", self.run_no), in_flight, per_task);
        let workers: Vec<GrpcDraw> = pools
            .into_iter()
            .enumerate()
            .map(|(t, pool)| GrpcDraw {
                client: PlayerServiceClient::new(self.channel(t, conns)),
                tokens: pool.into_iter().map(|(tok, _)| tok).collect(),
                campaign: id.clone(),
                race,
                wins: 0,
                fallbacks: 0,
            })
            .collect();
        self.check.settle().await;
        let (r, ws) = closed_loop(workers, spec, Some(self.pid)).await?;
        self.sample_memory(rep);
        let wins = ws.iter().map(|w| w.wins).sum::<u64>();
        let falls = ws.iter().map(|w| w.fallbacks).sum::<u64>();
        self.check_wheel("gRPC", &id, &shape, wins, &r, race, rep)
            .await?;
        if race {
            rep.notes.push(format!(
                "draw-race gRPC: {} draws ({wins} won, {falls} fallbacks) for a stock of {} in {:.3} s",
                r.all_ok,
                self.opts.race_stock,
                r.secs
            ));
        }
        rep.grpc = r;

        if baseline && let Some(direct) = self.direct.clone() {
            let id = self
                .admin
                .wheel(&format!("{} baseline", w.name()), &shape)
                .await?;
            let campaign = Uuid::parse_str(&id).context("campaign id")?;
            let players: Vec<Vec<String>> = (0..in_flight)
                .map(|t| {
                    (0..per_task)
                        .map(|j| format!("r{}d-{t}-{j}", self.run_no))
                        .collect()
                })
                .collect();
            let merchant = self.merchant.clone();
            self.check.settle().await;
            let (r, wins, falls) = on_db!(&direct, db => {
                direct_draws(db.clone(), &merchant, campaign, players, race, spec).await?
            });
            self.check_wheel("baseline", &id, &shape, wins, &r, race, rep)
                .await?;
            if race {
                rep.notes.push(format!(
                    "draw-race baseline: {} draws ({wins} won, {falls} fallbacks) in {:.3} s",
                    r.all_ok, r.secs
                ));
            }
            rep.baseline = Some(r);
        }
        Ok(())
    }

    /// won + remaining == stock on every slot; prizes won == draws that
    /// answered a prize; a race gives away exactly its stock.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn check_wheel(
        &self,
        what: &str,
        id: &str,
        shape: &WheelShape,
        wins: u64,
        r: &LoopResult,
        race: bool,
        rep: &mut RunReport,
    ) -> anyhow::Result<()> {
        let c = self.admin.campaign(id).await?;
        let f = &mut rep.failures;
        let mut won_total = 0i64;
        for s in &c.slots {
            let stock = s.spec.as_ref().map_or(0, |x| x.stock);
            fail(f, s.won + s.remaining == stock, || {
                format!(
                    "{what}: slot {} of {id}: won {} + remaining {} != stock {stock}",
                    s.index, s.won, s.remaining
                )
            });
            if let Some(&(_, initial)) = shape.prizes.get(s.index as usize) {
                fail(f, stock == initial, || {
                    format!(
                        "{what}: slot {} stock {stock} != initial {initial}",
                        s.index
                    )
                });
                won_total += s.won;
            }
        }
        let (wins, amb) = (wins as i64, r.ambiguous as i64);
        fail(f, (wins..=wins + amb).contains(&won_total), || {
            format!(
                "{what}: the wheel counts {won_total} prizes won, the answers {wins} \
                 (+{amb} calls of unknown outcome)"
            )
        });
        if race {
            let stock = self.opts.race_stock;
            fail(f, !r.timed_out, || {
                format!(
                    "{what}: the race for {stock} units was not over after {:.0} s",
                    r.secs
                )
            });
            fail(f, won_total == stock && wins == stock, || {
                format!(
                    "{what}: race for {stock} units: the wheel says {won_total} won, the answers {wins}"
                )
            });
        }
        Ok(())
    }

    // --------------------------------------------------------------- redeem
}

/// One task's draws over gRPC, rotating over its players' tokens.
pub(crate) struct GrpcDraw {
    client: PlayerServiceClient<Channel>,
    tokens: Vec<String>,
    campaign: String,
    race: bool,
    wins: u64,
    fallbacks: u64,
}

impl GrpcDraw {
    /// Draws on `campaign` (not a race) as `tokens` in turn.
    pub(crate) fn new(ch: Channel, tokens: Vec<String>, campaign: String) -> Self {
        Self {
            client: PlayerServiceClient::new(ch),
            tokens,
            campaign,
            race: false,
            wins: 0,
            fallbacks: 0,
        }
    }

    /// Draws answered with a prize, and with none (a THANKS slot).
    pub(crate) fn outcomes(&self) -> (u64, u64) {
        (self.wins, self.fallbacks)
    }
}

impl Worker for GrpcDraw {
    async fn call(&mut self, seq: u64) -> Step {
        let tok = &self.tokens[seq as usize % self.tokens.len()];
        let req = with(
            tok,
            pb::DrawRequest {
                idempotency_key: key(),
                campaign_id: self.campaign.clone(),
                channel: String::new(),
                store_id: String::new(),
            },
        );
        match self.client.draw(req).await {
            Ok(r) => {
                let r = r.into_inner();
                if r.award.is_some() {
                    self.wins += 1;
                    Step::Ok
                } else {
                    self.fallbacks += 1;
                    if self.race && r.fallback_reason == pb::FallbackReason::OutOfStock as i32 {
                        Step::OkThenStop
                    } else {
                        Step::Ok
                    }
                }
            }
            Err(s) => Step::status(&s),
        }
    }
}

struct DirectDraw<D: Db> {
    store: Store<D>,
    merchant: String,
    campaign: Uuid,
    players: Vec<String>,
    race: bool,
    wins: u64,
    fallbacks: u64,
}

impl<D: Db> Worker for DirectDraw<D> {
    async fn call(&mut self, seq: u64) -> Step {
        let player = &self.players[seq as usize % self.players.len()];
        let cmd = DrawCommand {
            merchant_id: self.merchant.clone(),
            player_id: player.clone(),
            campaign_id: self.campaign,
            channel: None,
            store_id: None,
        };
        let idem = match idem(format!("player:{}:{player}", self.merchant), "Draw") {
            Ok(i) => i,
            Err(s) => return s,
        };
        match self
            .store
            .draw(&cmd, &SystemClock, &idem, |_| Vec::new())
            .await
        {
            Ok(Outcome::Fresh(o)) => {
                if o.award.is_some() {
                    self.wins += 1;
                    Step::Ok
                } else {
                    self.fallbacks += 1;
                    if self.race && o.fallback == FallbackReason::OutOfStock {
                        Step::OkThenStop
                    } else {
                        Step::Ok
                    }
                }
            }
            Ok(Outcome::Replay(_)) => Step::failed("Replay"),
            Err(e) => Step::failed(label(&e)),
        }
    }
}

async fn direct_draws<D: Db>(
    db: D,
    merchant: &str,
    campaign: Uuid,
    players: Vec<Vec<String>>,
    race: bool,
    spec: Spec,
) -> anyhow::Result<(LoopResult, u64, u64)> {
    let store = Store::new(db);
    let workers: Vec<DirectDraw<D>> = players
        .into_iter()
        .map(|players| DirectDraw {
            store: store.clone(),
            merchant: merchant.to_owned(),
            campaign,
            players,
            race,
            wins: 0,
            fallbacks: 0,
        })
        .collect();
    let (r, ws) = closed_loop(workers, spec, None).await?;
    let wins = ws.iter().map(|w| w.wins).sum();
    let falls = ws.iter().map(|w| w.fallbacks).sum();
    Ok((r, wins, falls))
}
