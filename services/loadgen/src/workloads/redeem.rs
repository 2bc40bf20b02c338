//! The redemption workload: coupons made ready, redeemed over gRPC and
//! straight on the store, and the redemptions checked after.

use super::*;

impl Bench {
    /// The template, tills and at least `--coupons` unused codes.
    pub(super) async fn coupons_ready(&mut self) -> anyhow::Result<()> {
        if self.coupons.is_none() {
            let template = self
                .admin
                .coupon_template(coupon::domain::template::MAX_SUPPLY)
                .await?;
            let mut tills = Vec::new();
            for s in 0..8 {
                let store = format!("S{s}");
                let (cred, key_id) = self.admin.pos_key(&store).await?;
                tills.push((cred, key_id, store));
            }
            self.coupons = Some(Coupons {
                template,
                tills,
                unused: Vec::new(),
                issued: 0,
                ok: 0,
                ambiguous: 0,
            });
        }
        let Some(c) = self.coupons.as_mut() else {
            anyhow::bail!("coupon state missing");
        };
        let want = self.opts.coupons;
        if c.unused.len() < want {
            let n = want - c.unused.len();
            if c.issued + n > coupon::domain::template::MAX_SUPPLY as usize {
                anyhow::bail!("the bench template's supply is used up");
            }
            let t0 = std::time::Instant::now();
            let codes = self.admin.bulk_issue(&c.template, n).await?;
            eprintln!(
                "  issued {n} coupons in {:.1} s (bulk issue jobs)",
                t0.elapsed().as_secs_f64()
            );
            c.issued += n;
            c.unused.extend(codes);
        }
        Ok(())
    }

    pub(super) async fn redeem(
        &mut self,
        rep: &mut RunReport,
        baseline: bool,
    ) -> anyhow::Result<()> {
        let (in_flight, conns) = (rep.in_flight, rep.conns);
        let dup_every = self.opts.redeem_dup_every;
        self.coupons_ready().await?;
        let Some(c) = self.coupons.as_mut() else {
            anyhow::bail!("coupon state missing");
        };
        let pool = Arc::new(CodePool {
            codes: std::mem::take(&mut c.unused),
            next: AtomicUsize::new(0),
        });
        let tills = c.tills.clone();
        let template = c.template.clone();
        let workers: Vec<GrpcRedeem> = (0..in_flight)
            .map(|t| GrpcRedeem {
                client: CouponPosServiceClient::new(self.channel(t, conns)),
                till: tills[t % tills.len()].0.clone(),
                common: RedeemCommon::new(pool.clone(), dup_every),
            })
            .collect();
        self.check.settle().await;
        let (r, ws) = closed_loop(workers, self.spec(), Some(self.pid)).await?;
        self.sample_memory(rep);
        let counts = RedeemCommon::sum(ws.iter().map(|w| &w.common));
        drop(ws);
        self.settle_codes(pool, &r)?;
        self.check_redeem("gRPC", &template, counts, &r, rep)
            .await?;
        if dup_every > 0 {
            rep.notes.push(format!(
                "redeem gRPC: {} redeemed; every {dup_every}th call re-presented a code its \
                 task had redeemed and was refused as expected ({} times, counted as ops)",
                counts.0, counts.1
            ));
        }
        rep.grpc = r;

        if baseline && let Some(direct) = self.direct.clone() {
            self.coupons_ready().await?;
            let Some(c) = self.coupons.as_mut() else {
                anyhow::bail!("coupon state missing");
            };
            let pool = Arc::new(CodePool {
                codes: std::mem::take(&mut c.unused),
                next: AtomicUsize::new(0),
            });
            let merchant = self.merchant.clone();
            let spec = self.spec();
            self.check.settle().await;
            let vault = self.vault.clone();
            let (r, counts) = on_db!(&direct, db => {
                direct_redeems(
                    CouponStore::new(db.clone(), vault.clone()),
                    &merchant,
                    &tills,
                    pool.clone(),
                    dup_every,
                    in_flight,
                    spec,
                )
                .await?
            });
            self.settle_codes(pool, &r)?;
            self.check_redeem("baseline", &template, counts, &r, rep)
                .await?;
            rep.notes.push(format!(
                "redeem baseline: {} redeemed, {} re-presented codes refused",
                counts.0, counts.1
            ));
            rep.baseline = Some(r);
        }
        Ok(())
    }

    /// Unused codes go back for the next run; ran-out runs are noted.
    pub(super) fn settle_codes(
        &mut self,
        pool: Arc<CodePool>,
        r: &LoopResult,
    ) -> anyhow::Result<()> {
        let rest = match Arc::try_unwrap(pool) {
            Ok(p) => p.rest(),
            Err(_) => Vec::new(),
        };
        let Some(c) = self.coupons.as_mut() else {
            anyhow::bail!("coupon state missing");
        };
        if rest.is_empty() && r.ended_early {
            eprintln!("  the coupons ran out during the run; raise --coupons");
        }
        c.unused = rest;
        Ok(())
    }

    pub(super) async fn check_redeem(
        &mut self,
        what: &str,
        template: &str,
        (redeemed, _refused, accepted_twice): (u64, u64, u64),
        r: &LoopResult,
        rep: &mut RunReport,
    ) -> anyhow::Result<()> {
        let Some(c) = self.coupons.as_mut() else {
            anyhow::bail!("coupon state missing");
        };
        c.ok += redeemed;
        c.ambiguous += r.ambiguous;
        let (ok, amb) = (c.ok as i64, c.ambiguous as i64);
        let (rows, distinct) = self
            .check
            .ints(
                "SELECT COUNT(*), COUNT(DISTINCT r.coupon_id) FROM coupon_redemption r \
                 JOIN coupon c ON c.coupon_id = r.coupon_id \
                 WHERE c.template_id = $1 AND r.reversed_at IS NULL",
                template,
            )
            .await
            .context("counting redemptions")?;
        let (marked, _) = self
            .check
            .ints(
                "SELECT COUNT(*), CAST(0 AS BIGINT) FROM coupon WHERE template_id = $1 AND redemption_id IS NOT NULL",
                template,
            )
            .await
            .context("counting redeemed coupons")?;
        let f = &mut rep.failures;
        fail(f, accepted_twice == 0, || {
            format!("{what}: {accepted_twice} already-redeemed coupons were redeemed AGAIN")
        });
        fail(f, rows == distinct && distinct == marked, || {
            format!(
                "{what}: {rows} live redemptions, {distinct} distinct coupons redeemed, \
                 {marked} coupons marked redeemed: a coupon redeemed twice"
            )
        });
        fail(f, (ok..=ok + amb).contains(&rows), || {
            format!(
                "{what}: {rows} redemptions in the database, {ok} answered OK \
                 (+{amb} calls of unknown outcome)"
            )
        });
        Ok(())
    }

    // ----------------------------------------------------------------- grab
}

/// A redeem task's code choice and counters, the same for both paths.
struct RedeemCommon {
    pool: Arc<CodePool>,
    dup_every: u64,
    last: Option<String>,
    redeemed: u64,
    dup_refused: u64,
    dup_accepted: u64,
}

impl RedeemCommon {
    fn new(pool: Arc<CodePool>, dup_every: u64) -> Self {
        Self {
            pool,
            dup_every,
            last: None,
            redeemed: 0,
            dup_refused: 0,
            dup_accepted: 0,
        }
    }

    /// The next code, and whether it is a re-presented (already redeemed)
    /// one; `None` when the pool is empty.
    fn pick(&mut self, seq: u64) -> Option<(String, bool)> {
        if self.dup_every > 0
            && seq % self.dup_every == self.dup_every - 1
            && let Some(c) = self.last.take()
        {
            return Some((c, true));
        }
        self.pool.next().map(|c| (c, false))
    }

    /// Books an answer: `Ok(())` redeemed, `Err(true)` refused as already
    /// redeemed, `Err(false)` another failure (the caller's step).
    fn book(&mut self, code: String, dup: bool, answer: Result<(), bool>, fail: Step) -> Step {
        match (dup, answer) {
            (false, Ok(())) => {
                self.redeemed += 1;
                self.last = Some(code);
                Step::Ok
            }
            (true, Ok(())) => {
                self.dup_accepted += 1;
                Step::failed("DOUBLE-REDEMPTION")
            }
            (true, Err(true)) => {
                self.dup_refused += 1;
                Step::Ok
            }
            _ => fail,
        }
    }

    /// (redeemed, re-presented and refused, re-presented and accepted).
    fn sum<'a>(it: impl Iterator<Item = &'a RedeemCommon>) -> (u64, u64, u64) {
        it.fold((0, 0, 0), |a, c| {
            (a.0 + c.redeemed, a.1 + c.dup_refused, a.2 + c.dup_accepted)
        })
    }
}

struct GrpcRedeem {
    client: CouponPosServiceClient<Channel>,
    till: String,
    common: RedeemCommon,
}

impl Worker for GrpcRedeem {
    async fn call(&mut self, seq: u64) -> Step {
        let Some((code, dup)) = self.common.pick(seq) else {
            return Step::Stop;
        };
        let req = with(
            &self.till,
            cpb::RedeemCouponRequest {
                idempotency_key: key(),
                code: code.clone(),
                order_amount_cents: 10_000,
                items: Vec::new(),
                order_ref: "loadgen".into(),
            },
        );
        match self.client.redeem_coupon(req).await {
            Ok(_) => self.common.book(code, dup, Ok(()), Step::Ok),
            Err(s) => {
                let already = s.code() == Code::FailedPrecondition;
                self.common.book(code, dup, Err(already), Step::status(&s))
            }
        }
    }
}

struct DirectRedeem<D: Db> {
    store: CouponStore<D>,
    merchant: String,
    key_id: String,
    store_id: String,
    common: RedeemCommon,
}

impl<D: Db> Worker for DirectRedeem<D> {
    async fn call(&mut self, seq: u64) -> Step {
        let Some((code, dup)) = self.common.pick(seq) else {
            return Step::Stop;
        };
        let Ok(parsed) = CouponCode::parse(&code) else {
            return Step::failed("BadCode");
        };
        let idem = match idem(format!("key:{}", self.key_id), "RedeemCoupon") {
            Ok(i) => i,
            Err(s) => return s,
        };
        let cmd = RedeemCommand {
            merchant_id: self.merchant.clone(),
            store_id: self.store_id.clone(),
            key_id: self.key_id.clone(),
            code: parsed,
            order: Order {
                amount_cents: 10_000,
                items: Vec::new(),
            },
            order_ref: "loadgen".to_owned(),
        };
        let out = self
            .store
            .redeem(&cmd, &idem, now_ms(), |_| Vec::new())
            .await;
        match out {
            Ok(Outcome::Fresh(_)) => self.common.book(code, dup, Ok(()), Step::Ok),
            Ok(Outcome::Replay(_)) => {
                self.common
                    .book(code, dup, Err(false), Step::failed("Replay"))
            }
            Err(e) => {
                let already = matches!(
                    e,
                    CouponError::Rejected(CouponRejection::Unusable(Refusal::AlreadyRedeemed))
                );
                let step = Step::failed(label(&e));
                self.common.book(code, dup, Err(already), step)
            }
        }
    }
}

async fn direct_redeems<D: Db>(
    store: CouponStore<D>,
    merchant: &str,
    tills: &[(String, String, String)],
    pool: Arc<CodePool>,
    dup_every: u64,
    in_flight: usize,
    spec: Spec,
) -> anyhow::Result<(LoopResult, (u64, u64, u64))> {
    let workers: Vec<DirectRedeem<D>> = (0..in_flight)
        .map(|t| {
            let (_, key_id, store_id) = &tills[t % tills.len()];
            DirectRedeem {
                store: store.clone(),
                merchant: merchant.to_owned(),
                key_id: key_id.clone(),
                store_id: store_id.clone(),
                common: RedeemCommon::new(pool.clone(), dup_every),
            }
        })
        .collect();
    let (r, ws) = closed_loop(workers, spec, None).await?;
    let counts = RedeemCommon::sum(ws.iter().map(|w| &w.common));
    Ok((r, counts))
}
