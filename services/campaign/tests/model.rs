//! Reference-model property test: random sequences of draws (several
//! players, idempotency keys reused with the same or a changed request, the
//! campaign day moving on) run against the real store, on SQLite and on
//! PostgreSQL, and every answer is compared with an executable model of the
//! rules: per-day and total limits, the roll, per-user caps, daily release
//! caps, stock, the fallback, and exactly-once replays.

use test_kit::harness as helpers;

use std::collections::HashMap;

use campaign::{
    clock::ManualClock,
    domain::{
        Rejection,
        fairness::player_pseudonym,
        idempotency::{Idempotency, IdempotencyKey, fingerprint},
        wheel::{
            FallbackReason, PrizeKind, RawSlot, RollInput, SlotSpec, Transition, WheelRules,
            draw_roll, slot_for_roll,
        },
    },
    store::{
        Outcome, Store, StoreError,
        db::Db,
        postgres::PgDb,
        sqlite::SqliteDb,
        wheel::{DrawCommand, DrawOutcome},
    },
};
use helpers::{Backend, DAY, T0, TestDb};
use proptest::prelude::*;
use sqlx::{Connection, Row};

#[derive(Debug, Clone)]
enum Op {
    Draw { player: u8, key: u8, channel: bool },
    NextDay,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            10 => (0u8..4, 0u8..10, any::<bool>())
                .prop_map(|(player, key, channel)| Op::Draw { player, key, channel }),
            1 => Just(Op::NextDay),
        ],
        1..50,
    )
}

const PER_DAY: i64 = 3;
const TOTAL: i64 = 5;

fn specs() -> Vec<SlotSpec> {
    let raw = |name: &str, kind, weight, stock, daily_cap, per_user_cap, amount| RawSlot {
        name: name.into(),
        kind: Some(kind),
        weight,
        stock,
        daily_cap,
        per_user_cap,
        amount,
        ..RawSlot::default()
    };
    [
        raw("Cup", PrizeKind::Physical, 3, 4, 0, 1, 0),
        raw("Points", PrizeKind::Points, 3, 6, 2, 0, 10),
        raw("Thanks", PrizeKind::Thanks, 4, 0, 0, 0, 0),
    ]
    .into_iter()
    .map(|r| SlotSpec::parse(r).expect("valid slot"))
    .collect()
}

/// The model's prediction of one draw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Drawn {
        seq: i64,
        rolled: u32,
        slot: u32,
        fallback: FallbackReason,
    },
    Replay(Vec<u8>),
    Refused(Rejection),
}

#[derive(Default)]
struct Model {
    stock: Vec<i64>,
    user_won: HashMap<(usize, u8), i64>,
    released: HashMap<(usize, i64), i64>,
    daily: HashMap<(u8, i64), i64>,
    total: HashMap<u8, i64>,
    /// (player, key) -> (channel, stored answer)
    answers: HashMap<(u8, u8), (bool, Vec<u8>)>,
}

fn encode(d: &DrawOutcome) -> Vec<u8> {
    format!(
        "{}|{}|{}|{:?}|{}",
        d.draw_id, d.draw_sequence, d.slot, d.fallback, d.rolled_slot
    )
    .into_bytes()
}

impl Model {
    #[allow(clippy::too_many_arguments)]
    fn predict(
        &self,
        specs: &[SlotSpec],
        seed: &[u8],
        campaign: uuid::Uuid,
        day: i64,
        player: u8,
        key: u8,
        channel: bool,
    ) -> Expect {
        if let Some((ch, bytes)) = self.answers.get(&(player, key)) {
            return if *ch == channel {
                Expect::Replay(bytes.clone())
            } else {
                Expect::Refused(Rejection::IdempotencyKeyReused)
            };
        }
        if self.daily.get(&(player, day)).copied().unwrap_or(0) >= PER_DAY {
            return Expect::Refused(Rejection::NoChancesToday);
        }
        let seq = self.total.get(&player).copied().unwrap_or(0) + 1;
        if seq > TOTAL {
            return Expect::Refused(Rejection::NoChancesLeft);
        }
        let pseudonym = player_pseudonym(campaign, &format!("p{player}"));
        let weights: Vec<i64> = specs.iter().map(|s| s.weight).collect();
        let roll = draw_roll(
            seed,
            &RollInput {
                campaign_id: campaign,
                player_id: &pseudonym,
                draw_sequence: seq,
            },
            10,
        );
        let rolled = slot_for_roll(&weights, roll).expect("in range");
        let s = &specs[rolled];
        let fallback = if s.kind == PrizeKind::Thanks {
            FallbackReason::None
        } else if s
            .per_user_cap
            .is_some_and(|c| self.user_won.get(&(rolled, player)).copied().unwrap_or(0) >= c)
        {
            FallbackReason::UserCap
        } else if s
            .daily_cap
            .is_some_and(|c| self.released.get(&(rolled, day)).copied().unwrap_or(0) >= c)
        {
            FallbackReason::DailyCap
        } else if self.stock[rolled] <= 0 {
            FallbackReason::OutOfStock
        } else {
            FallbackReason::None
        };
        let slot = if fallback == FallbackReason::None {
            rolled as u32
        } else {
            2
        };
        Expect::Drawn {
            seq,
            rolled: rolled as u32,
            slot,
            fallback,
        }
    }

    fn apply(&mut self, e: &Expect, day: i64, player: u8, key: u8, channel: bool, answer: Vec<u8>) {
        if let Expect::Drawn {
            rolled, fallback, ..
        } = e
        {
            *self.daily.entry((player, day)).or_insert(0) += 1;
            *self.total.entry(player).or_insert(0) += 1;
            let r = *rolled as usize;
            if *fallback == FallbackReason::None && r != 2 {
                self.stock[r] -= 1;
                *self.user_won.entry((r, player)).or_insert(0) += 1;
                *self.released.entry((r, day)).or_insert(0) += 1;
            }
            self.answers.insert((player, key), (channel, answer));
        }
    }
}

fn idem(player: u8, key: u8, channel: bool) -> Idempotency {
    Idempotency {
        scope: format!("player:m:p{player}"),
        method: "Draw",
        key: IdempotencyKey::parse(&format!("k{key}")).expect("key"),
        fingerprint: fingerprint("Draw", &[u8::from(channel)]),
    }
}

async fn run<D: Db>(
    store: Store<D>,
    url: &str,
    backend: Backend,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let clock = ManualClock::new(T0);
    let (merchant, key) = store.create_merchant("model", T0).await.expect("merchant");
    let admin = |k: &str, m: &'static str| Idempotency {
        scope: format!("key:{}", key.record.key_id),
        method: m,
        key: IdempotencyKey::parse(k).expect("key"),
        fingerprint: vec![],
    };
    let rules =
        WheelRules::parse("model", T0 - DAY, T0 + 30 * DAY, "", PER_DAY, TOTAL).expect("rules");
    let Outcome::Fresh(c) = store
        .create_wheel(
            &merchant,
            &rules,
            T0,
            &admin("c", "CreateWheel"),
            |_| vec![],
        )
        .await
        .expect("create")
    else {
        panic!("fresh");
    };
    let specs = specs();
    for (i, s) in specs.iter().enumerate() {
        store
            .add_slot(
                &merchant,
                c.id,
                s,
                T0,
                &admin(&format!("s{i}"), "AddPrizeSlot"),
                |_| vec![],
            )
            .await
            .expect("slot");
    }
    store
        .set_fallback(
            &merchant,
            c.id,
            2,
            T0,
            &admin("f", "SetFallbackSlot"),
            |_| vec![],
        )
        .await
        .expect("fallback");
    store
        .transition(
            &merchant,
            c.id,
            Transition::Publish,
            T0,
            &admin("p", "PublishCampaign"),
            |_| vec![],
        )
        .await
        .expect("publish");
    let seed: Vec<u8> = match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("open");
            sqlx::query("SELECT roll_secret FROM campaign WHERE campaign_id = $1")
                .bind(c.id.to_string())
                .fetch_one(&mut conn)
                .await
                .expect("seed")
                .get(0)
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("open");
            sqlx::query("SELECT roll_secret FROM campaign WHERE campaign_id = $1")
                .bind(c.id.to_string())
                .fetch_one(&mut conn)
                .await
                .expect("seed")
                .get(0)
        }
    };

    let mut model = Model {
        stock: specs.iter().map(|s| s.stock).collect(),
        ..Model::default()
    };
    let mut day = 0i64;
    for op in ops {
        match op {
            Op::NextDay => {
                clock.advance(DAY);
                day += 1;
            }
            Op::Draw {
                player,
                key,
                channel,
            } => {
                let expect = model.predict(&specs, &seed, c.id, day, player, key, channel);
                let cmd = DrawCommand {
                    merchant_id: merchant.clone(),
                    player_id: format!("p{player}"),
                    campaign_id: c.id,
                    channel: channel.then(|| "qr".to_owned()),
                };
                let got = store
                    .draw(&cmd, &clock, &idem(player, key, channel), encode)
                    .await;
                match (&expect, got) {
                    (
                        Expect::Drawn {
                            seq,
                            rolled,
                            slot,
                            fallback,
                        },
                        Ok(Outcome::Fresh(d)),
                    ) => {
                        prop_assert_eq!(
                            (d.draw_sequence, d.rolled_slot, d.slot, d.fallback),
                            (*seq, *rolled, *slot, *fallback)
                        );
                        model.apply(&expect, day, player, key, channel, encode(&d));
                    }
                    (Expect::Replay(bytes), Ok(Outcome::Replay(got))) => {
                        prop_assert_eq!(bytes, &got)
                    }
                    (Expect::Refused(r), Err(StoreError::Rejected(got))) => {
                        prop_assert_eq!(r, &got)
                    }
                    (e, g) => prop_assert!(false, "model expected {:?}, store answered {:?}", e, g),
                }
            }
        }
    }
    // The books balance at the end too.
    let c = store
        .get_campaign(&merchant, c.id, clock_now(&clock))
        .await
        .expect("campaign");
    for (s, m) in c.slots.iter().zip(&model.stock) {
        prop_assert_eq!(s.remaining, *m);
    }
    Ok(())
}

fn clock_now(c: &ManualClock) -> i64 {
    use campaign::clock::Clock;
    c.now_ms()
}

fn check(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in ops())| {
        rt.block_on(async {
            let db = TestDb::new(backend).await;
            match backend {
                Backend::Sqlite => {
                    let s = SqliteDb::connect(&db.url).await.expect("sqlite");
                    let r = run(Store::new(s.clone()), &db.url, backend, ops).await;
                    s.close().await;
                    r
                }
                Backend::Postgres => {
                    let s = PgDb::connect(&db.url, 2).await.expect("postgres");
                    let r = run(Store::new(s.clone()), &db.url, backend, ops).await;
                    s.close().await;
                    r
                }
            }
        })?;
    });
}

#[test]
fn sqlite_store_follows_the_reference_model() {
    check(Backend::Sqlite, 64);
}

#[test]
fn postgres_store_follows_the_reference_model() {
    check(Backend::Postgres, 24);
}
