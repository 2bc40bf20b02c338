//! The red-packet workload: grabs over gRPC and straight on the store, and
//! the ledger checked after.

use super::*;

impl Bench {
    pub(super) async fn grab(&mut self, rep: &mut RunReport, baseline: bool) -> anyhow::Result<()> {
        let (in_flight, conns) = (rep.in_flight, rep.conns);
        let funded = self.opts.grab_budget;
        let (min, max) = (1, 100);

        let campaign = self.admin.wheel("grab grpc", &WheelShape::bare()).await?;
        self.admin.fund(&campaign, funded).await?;
        let packet = self.admin.campaign_packet(&campaign, min, max).await?;
        let players = Arc::new(self.players.clone());
        let workers: Vec<GrpcGrab> = (0..in_flight)
            .map(|t| GrpcGrab {
                client: RedPacketServiceClient::new(self.channel(t, conns)),
                players: players.clone(),
                prefix: format!("r{}g-{t}", self.run_no),
                packet: packet.clone(),
                granted: 0,
                grabs: 0,
            })
            .collect();
        self.check.settle().await;
        let (r, ws) = closed_loop(workers, self.spec(), Some(self.pid)).await?;
        self.sample_memory(rep);
        let granted = ws.iter().map(|w| w.granted).sum::<i64>();
        let grabs = ws.iter().map(|w| w.grabs).sum::<u64>();
        self.check_grab("gRPC", &campaign, &packet, (granted, grabs), max, &r, rep)
            .await?;
        rep.grpc = r;

        if baseline && let Some(direct) = self.direct.clone() {
            let campaign = self
                .admin
                .wheel("grab baseline", &WheelShape::bare())
                .await?;
            self.admin.fund(&campaign, funded).await?;
            let packet = self.admin.campaign_packet(&campaign, min, max).await?;
            let packet_id = Uuid::parse_str(&packet).context("packet id")?;
            let merchant = self.merchant.clone();
            let prefix = format!("r{}d", self.run_no);
            let spec = self.spec();
            self.check.settle().await;
            let (r, granted, grabs) = on_db!(&direct, db => {
                direct_grabs(db.clone(), &merchant, packet_id, &prefix, in_flight, spec).await?
            });
            self.check_grab(
                "baseline",
                &campaign,
                &packet,
                (granted, grabs),
                max,
                &r,
                rep,
            )
            .await?;
            rep.baseline = Some(r);
        }
        Ok(())
    }

    /// The budget balances to the cent, never grants more than was funded,
    /// and granted what the grabs were answered.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn check_grab(
        &self,
        what: &str,
        campaign: &str,
        packet: &str,
        (granted, grabs): (i64, u64),
        max: i64,
        r: &LoopResult,
        rep: &mut RunReport,
    ) -> anyhow::Result<()> {
        let b = self.admin.budget(campaign).await?;
        let p = self.admin.packet(packet).await?;
        let funded = self.opts.grab_budget;
        let amb = r.ambiguous as i64;
        let f = &mut rep.failures;
        fail(f, b.funded_cents == funded, || {
            format!("{what}: funded {} != {funded}", b.funded_cents)
        });
        fail(
            f,
            b.funded_cents
                == b.available_cents + b.reserved_cents + b.granted_cents + b.refunded_cents,
            || format!("{what}: the budget does not balance: {b:?}"),
        );
        fail(f, b.granted_cents <= b.funded_cents, || {
            format!(
                "{what}: granted {} cents of a budget of {}",
                b.granted_cents, b.funded_cents
            )
        });
        fail(f, p.granted_cents == b.granted_cents, || {
            format!(
                "{what}: the packet granted {} cents, the budget {}",
                p.granted_cents, b.granted_cents
            )
        });
        fail(
            f,
            (granted..=granted + amb * max).contains(&b.granted_cents),
            || {
                format!(
                    "{what}: the budget granted {} cents, the grabs were answered {granted} \
                     (+{amb} calls of unknown outcome)",
                    b.granted_cents
                )
            },
        );
        let g = i64::from(p.grabbed);
        fail(f, (grabs as i64..=grabs as i64 + amb).contains(&g), || {
            format!("{what}: the packet counts {g} grabs, {grabs} were answered OK")
        });
        let spent = r
            .all_errors
            .keys()
            .any(|k| k.contains("Exhausted") || k.contains("BudgetSpent"));
        if spent {
            fail(f, b.available_cents == 0, || {
                format!(
                    "{what}: grabs were refused for an empty budget with {} cents available",
                    b.available_cents
                )
            });
            rep.notes.push(format!(
                "grab {what}: the budget of {funded} cents was spent to the cent \
                 ({} granted in {grabs} grabs)",
                b.granted_cents
            ));
        }
        Ok(())
    }

    // ----------------------------------------------------------------- vote
}

/// Each grab by a new player (a player grabs a packet once).
struct GrpcGrab {
    client: RedPacketServiceClient<Channel>,
    players: Arc<Players>,
    prefix: String,
    packet: String,
    granted: i64,
    grabs: u64,
}

impl Worker for GrpcGrab {
    async fn call(&mut self, seq: u64) -> Step {
        let token = self.players.token(&format!("{}-{seq}", self.prefix));
        let req = with(
            &token,
            pb::GrabRedPacketRequest {
                idempotency_key: key(),
                packet_id: self.packet.clone(),
                channel: String::new(),
            },
        );
        match self.client.grab_red_packet(req).await {
            Ok(g) => {
                self.granted += g.into_inner().amount_cents;
                self.grabs += 1;
                Step::Ok
            }
            Err(s) => Step::status(&s),
        }
    }
}

struct DirectGrab<D: Db> {
    store: Store<D>,
    merchant: String,
    packet: Uuid,
    prefix: String,
    granted: i64,
    grabs: u64,
}

impl<D: Db> Worker for DirectGrab<D> {
    async fn call(&mut self, seq: u64) -> Step {
        let player = format!("{}-{seq}", self.prefix);
        let idem = match idem(
            format!("player:{}:{player}", self.merchant),
            "GrabRedPacket",
        ) {
            Ok(i) => i,
            Err(s) => return s,
        };
        match self
            .store
            .grab_packet(
                &self.merchant,
                &player,
                self.packet,
                None,
                &idem,
                now_ms(),
                |_| Vec::new(),
            )
            .await
        {
            Ok(Outcome::Fresh(g)) => {
                self.granted += g.amount;
                self.grabs += 1;
                Step::Ok
            }
            Ok(Outcome::Replay(_)) => Step::failed("Replay"),
            Err(e) => Step::failed(label(&e)),
        }
    }
}

async fn direct_grabs<D: Db>(
    db: D,
    merchant: &str,
    packet: Uuid,
    prefix: &str,
    in_flight: usize,
    spec: Spec,
) -> anyhow::Result<(LoopResult, i64, u64)> {
    let store = Store::new(db);
    let workers: Vec<DirectGrab<D>> = (0..in_flight)
        .map(|t| DirectGrab {
            store: store.clone(),
            merchant: merchant.to_owned(),
            packet,
            prefix: format!("{prefix}-{t}"),
            granted: 0,
            grabs: 0,
        })
        .collect();
    let (r, ws) = closed_loop(workers, spec, None).await?;
    let granted = ws.iter().map(|w| w.granted).sum();
    let grabs = ws.iter().map(|w| w.grabs).sum();
    Ok((r, granted, grabs))
}
