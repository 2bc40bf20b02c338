//! The voting workload: votes over gRPC and straight on the store, and the
//! tallies checked after.

use super::*;

impl Bench {
    pub(super) async fn vote(&mut self, rep: &mut RunReport, baseline: bool) -> anyhow::Result<()> {
        let (in_flight, conns) = (rep.in_flight, rep.conns);
        let per_task = self.opts.players_per_task;
        const CANDIDATES: usize = 4;

        let campaign = self.admin.wheel("vote grpc", &WheelShape::bare()).await?;
        let candidates = Arc::new(self.admin.voting(&campaign, CANDIDATES).await?);
        let pools = self
            .players
            .pools(&format!("r{}g", self.run_no), in_flight, per_task);
        let workers: Vec<GrpcVote> = pools
            .into_iter()
            .enumerate()
            .map(|(t, pool)| GrpcVote {
                client: VoteServiceClient::new(self.channel(t, conns)),
                tokens: pool.into_iter().map(|(tok, _)| tok).collect(),
                candidates: candidates.clone(),
                task: t,
                counts: vec![0; CANDIDATES],
            })
            .collect();
        self.check.settle().await;
        let (r, ws) = closed_loop(workers, self.spec(), Some(self.pid)).await?;
        self.sample_memory(rep);
        let counts = sum_counts(ws.iter().map(|w| &w.counts), CANDIDATES);
        self.check_votes("gRPC", &campaign, &candidates, &counts, &r, rep)
            .await?;
        rep.grpc = r;

        if baseline && let Some(direct) = self.direct.clone() {
            let campaign = self
                .admin
                .wheel("vote baseline", &WheelShape::bare())
                .await?;
            let candidates = self.admin.voting(&campaign, CANDIDATES).await?;
            let ids = candidates
                .iter()
                .map(|c| Uuid::parse_str(c).context("candidate id"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let players: Vec<Vec<String>> = (0..in_flight)
                .map(|t| {
                    (0..per_task)
                        .map(|j| format!("r{}d-{t}-{j}", self.run_no))
                        .collect()
                })
                .collect();
            let merchant = self.merchant.clone();
            let spec = self.spec();
            self.check.settle().await;
            let (r, counts) = on_db!(&direct, db => {
                direct_votes(db.clone(), &merchant, Arc::new(ids), players, spec).await?
            });
            self.check_votes("baseline", &campaign, &candidates, &counts, &r, rep)
                .await?;
            rep.baseline = Some(r);
        }
        Ok(())
    }

    /// Every candidate's count on the leaderboard == its accepted votes.
    pub(super) async fn check_votes(
        &self,
        what: &str,
        campaign: &str,
        candidates: &[String],
        counts: &[u64],
        r: &LoopResult,
        rep: &mut RunReport,
    ) -> anyhow::Result<()> {
        let board = self.admin.leaderboard(campaign).await?;
        let amb = r.ambiguous as i64;
        let f = &mut rep.failures;
        let mut total = 0i64;
        for (i, id) in candidates.iter().enumerate() {
            let votes = board
                .iter()
                .find(|c| &c.candidate_id == id)
                .map_or(0, |c| c.votes);
            total += votes;
            let ok = counts.get(i).copied().unwrap_or(0) as i64;
            fail(f, (ok..=ok + amb).contains(&votes), || {
                format!(
                    "{what}: candidate {i} has {votes} votes on the leaderboard, \
                     {ok} were answered OK (+{amb} of unknown outcome)"
                )
            });
        }
        let ok = counts.iter().sum::<u64>() as i64;
        fail(f, (ok..=ok + amb).contains(&total), || {
            format!("{what}: the leaderboard totals {total} votes, {ok} were answered OK")
        });
        Ok(())
    }
}

struct GrpcVote {
    client: VoteServiceClient<Channel>,
    tokens: Vec<String>,
    candidates: Arc<Vec<String>>,
    task: usize,
    counts: Vec<u64>,
}

impl Worker for GrpcVote {
    async fn call(&mut self, seq: u64) -> Step {
        let s = seq as usize;
        let c = (self.task + s) % self.candidates.len();
        let req = with(
            &self.tokens[s % self.tokens.len()],
            pb::CastVoteRequest {
                idempotency_key: key(),
                candidate_id: self.candidates[c].clone(),
                channel: String::new(),
            },
        );
        match self.client.cast_vote(req).await {
            Ok(_) => {
                self.counts[c] += 1;
                Step::Ok
            }
            Err(s) => Step::status(&s),
        }
    }
}

struct DirectVote<D: Db> {
    store: Store<D>,
    merchant: String,
    players: Vec<String>,
    candidates: Arc<Vec<Uuid>>,
    task: usize,
    counts: Vec<u64>,
}

impl<D: Db> Worker for DirectVote<D> {
    async fn call(&mut self, seq: u64) -> Step {
        let s = seq as usize;
        let c = (self.task + s) % self.candidates.len();
        let player = &self.players[s % self.players.len()];
        let idem = match idem(format!("player:{}:{player}", self.merchant), "CastVote") {
            Ok(i) => i,
            Err(s) => return s,
        };
        match self
            .store
            .cast_vote(
                &self.merchant,
                player,
                self.candidates[c],
                None,
                &idem,
                now_ms(),
                |_| Vec::new(),
            )
            .await
        {
            Ok(Outcome::Fresh(_)) => {
                self.counts[c] += 1;
                Step::Ok
            }
            Ok(Outcome::Replay(_)) => Step::failed("Replay"),
            Err(e) => Step::failed(label(&e)),
        }
    }
}

async fn direct_votes<D: Db>(
    db: D,
    merchant: &str,
    candidates: Arc<Vec<Uuid>>,
    players: Vec<Vec<String>>,
    spec: Spec,
) -> anyhow::Result<(LoopResult, Vec<u64>)> {
    let store = Store::new(db);
    let n = candidates.len();
    let workers: Vec<DirectVote<D>> = players
        .into_iter()
        .enumerate()
        .map(|(t, players)| DirectVote {
            store: store.clone(),
            merchant: merchant.to_owned(),
            players,
            candidates: candidates.clone(),
            task: t,
            counts: vec![0; n],
        })
        .collect();
    let (r, ws) = closed_loop(workers, spec, None).await?;
    let counts = sum_counts(ws.iter().map(|w| &w.counts), n);
    Ok((r, counts))
}
