//! Reference-model property tests: random draws run against the real store,
//! on SQLite and on PostgreSQL, and every answer is compared with an
//! executable model of the rules: per-day and total limits, the roll,
//! per-user caps, daily release caps, stock, the fallback, the chances left,
//! and exactly-once replays.
//!
//! Two shapes: draws one at a time (several players, idempotency keys reused
//! with the same or a changed request, the campaign day moving on), and
//! rounds of draws issued at once, so that on PostgreSQL the waiting draws
//! of the campaign are drawn as one batch (`draw_batch_postgres.rs`). The
//! order inside a round is the engine's: the model replays the round's
//! draws in ledger order, then checks the round's replays and refusals
//! against the state the round left. Either way the books (stock, draw
//! counts, per-user wins, daily releases, the ledger) must match at the end.

use test_kit::harness as helpers;

use std::{
    collections::{BTreeMap, HashMap},
    sync::atomic::{AtomicU64, Ordering},
};

use campaign::{
    clock::ManualClock,
    domain::{
        Rejection,
        fairness::player_pseudonym,
        idempotency::{Idempotency, IdempotencyKey, fingerprint},
        wheel::{
            FallbackReason, PrizeKind, RawSlot, RollInput, SlotSpec, Transition, WheelRules,
            campaign_day, draw_roll, slot_for_roll,
        },
    },
    store::{
        Outcome, Store, StoreError,
        db::{Db, DbRow, DbTx, Value},
        postgres::PgDb,
        sqlite::SqliteDb,
        wheel::{DrawCommand, DrawOutcome},
    },
};
use helpers::{Backend, DAY, T0, TestDb};
use proptest::prelude::*;
use uuid::Uuid;

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

fn slot(
    name: &str,
    kind: PrizeKind,
    weight: i64,
    stock: i64,
    daily_cap: i64,
    per_user_cap: i64,
    amount: i64,
) -> SlotSpec {
    SlotSpec::parse(RawSlot {
        name: name.into(),
        kind: Some(kind),
        weight,
        stock,
        daily_cap,
        per_user_cap,
        amount,
        ..RawSlot::default()
    })
    .expect("valid slot")
}

/// The wheel of the one-at-a-time test; slot 2 is the fallback.
fn specs() -> Vec<SlotSpec> {
    vec![
        slot("Cup", PrizeKind::Physical, 3, 4, 0, 1, 0),
        slot("Points", PrizeKind::Points, 3, 6, 2, 0, 10),
        slot("Thanks", PrizeKind::Thanks, 4, 0, 0, 0, 0),
    ]
}

/// The wheel of the rounds: the batch takes a prize with a cap one draw at
/// a time and a plain stock prize ("Mug") for all its wins at once, so both
/// ways are here, with little stock. Slot 3 is the fallback.
fn batch_specs() -> Vec<SlotSpec> {
    vec![
        slot("Cup", PrizeKind::Physical, 3, 4, 0, 1, 0),
        slot("Points", PrizeKind::Points, 3, 6, 2, 0, 10),
        slot("Mug", PrizeKind::Physical, 4, 3, 0, 0, 0),
        slot("Thanks", PrizeKind::Thanks, 3, 0, 0, 0, 0),
    ]
}

/// The model's prediction of one draw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Drawn {
        seq: i64,
        rolled: u32,
        slot: u32,
        fallback: FallbackReason,
        /// Chances left (today, in total) after the draw.
        remaining: (i64, i64),
    },
    Replay(Vec<u8>),
    Refused(Rejection),
}

#[derive(Default)]
struct Model {
    /// The fallback slot, which is also the wheel's one THANKS slot.
    fallback: u32,
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
        "{}|{}|{}|{:?}|{}|{}|{}",
        d.draw_id,
        d.draw_sequence,
        d.slot,
        d.fallback,
        d.rolled_slot,
        d.remaining_today,
        d.remaining_total
    )
    .into_bytes()
}

impl Model {
    fn new(specs: &[SlotSpec], fallback: u32) -> Self {
        Self {
            fallback,
            stock: specs.iter().map(|s| s.stock).collect(),
            ..Self::default()
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn predict(
        &self,
        specs: &[SlotSpec],
        seed: &[u8],
        campaign: Uuid,
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
        let today = self.daily.get(&(player, day)).copied().unwrap_or(0);
        if today >= PER_DAY {
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
            weights.iter().sum::<i64>() as u64,
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
            self.fallback
        };
        let left_total = (TOTAL - seq).max(0);
        Expect::Drawn {
            seq,
            rolled: rolled as u32,
            slot,
            fallback,
            remaining: ((PER_DAY - today - 1).max(0).min(left_total), left_total),
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
            // The fallback is the THANKS slot: no stock, never counted.
            if *fallback == FallbackReason::None && *rolled != self.fallback {
                self.stock[r] -= 1;
                *self.user_won.entry((r, player)).or_insert(0) += 1;
                *self.released.entry((r, day)).or_insert(0) += 1;
            }
            self.answers.insert((player, key), (channel, answer));
        }
    }
}

/// A fresh answer against the model's prediction.
fn check_fresh(expect: &Expect, d: &DrawOutcome) -> Result<(), TestCaseError> {
    match expect {
        Expect::Drawn {
            seq,
            rolled,
            slot,
            fallback,
            remaining,
        } => prop_assert_eq!(
            (
                d.draw_sequence,
                d.rolled_slot,
                d.slot,
                d.fallback,
                (d.remaining_today, d.remaining_total)
            ),
            (*seq, *rolled, *slot, *fallback, *remaining)
        ),
        e => prop_assert!(false, "model expected {:?}, store drew {:?}", e, d),
    }
    Ok(())
}

/// Any other answer (a replay, a refusal, an error) against the model's
/// prediction.
fn check_other(
    expect: &Expect,
    got: Result<Outcome<DrawOutcome>, StoreError>,
) -> Result<(), TestCaseError> {
    match (expect, got) {
        (Expect::Replay(bytes), Ok(Outcome::Replay(got))) => prop_assert_eq!(bytes, &got),
        // A reused key is the platform's refusal; the rest are the wheel's.
        (Expect::Refused(r), Err(e @ (StoreError::Rejected(_) | StoreError::KeyReused))) => {
            let got = match &e {
                StoreError::KeyReused => Some(Rejection::IdempotencyKeyReused),
                e => e.refusal::<Rejection>().cloned(),
            };
            prop_assert_eq!(Some(r.clone()), got)
        }
        (e, g) => prop_assert!(false, "model expected {:?}, store answered {:?}", e, g),
    }
    Ok(())
}

fn idem(player: u8, key: u8, channel: bool) -> Idempotency {
    Idempotency {
        scope: format!("player:m:p{player}"),
        method: "Draw",
        key: IdempotencyKey::parse(&format!("k{key}")).expect("key"),
        fingerprint: fingerprint("Draw", &[u8::from(channel)]),
    }
}

fn command(w: &Wheel, player: u8, channel: bool) -> DrawCommand {
    DrawCommand {
        merchant_id: w.merchant.clone(),
        player_id: format!("p{player}"),
        campaign_id: w.id,
        channel: channel.then(|| "qr".to_owned()),
        store_id: None,
    }
}

/// A published wheel and what the model needs of it.
struct Wheel {
    merchant: String,
    id: Uuid,
    seed: Vec<u8>,
    time_zone: String,
}

/// The rows `sql` reads (its one parameter: the campaign), from a snapshot.
async fn rows<D: Db>(store: &Store<D>, sql: &'static str, id: Uuid) -> Vec<<D::Tx as DbTx>::Row> {
    let mut tx = store.db().begin_read().await.expect("read");
    tx.fetch_all(sql, vec![Value::from(id.to_string())])
        .await
        .expect("rows")
}

async fn setup<D: Db>(store: &Store<D>, specs: &[SlotSpec], fallback: u32) -> Wheel {
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
            fallback,
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
    let seed = rows(
        store,
        "SELECT roll_secret FROM campaign WHERE campaign_id = $1",
        c.id,
    )
    .await
    .first()
    .expect("campaign")
    .bytes(0)
    .expect("seed");
    Wheel {
        merchant,
        id: c.id,
        seed,
        time_zone: c.rules.time_zone,
    }
}

async fn run<D: Db>(store: &Store<D>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new(T0);
    let specs = specs();
    let w = setup(store, &specs, 2).await;
    let mut model = Model::new(&specs, 2);
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
                let expect = model.predict(&specs, &w.seed, w.id, day, player, key, channel);
                let got = store
                    .draw(
                        &command(&w, player, channel),
                        &clock,
                        &idem(player, key, channel),
                        encode,
                    )
                    .await;
                match got {
                    Ok(Outcome::Fresh(d)) => {
                        check_fresh(&expect, &d)?;
                        model.apply(&expect, day, player, key, channel, encode(&d));
                    }
                    got => check_other(&expect, got)?,
                }
            }
        }
    }
    books(store, &w, &specs, &model, day).await
}

/// The books balance at the end: the stock, the players' draw counts (in
/// total and per day), the per-user wins, the daily releases and the
/// ledger, against the model, and within the rules.
async fn books<D: Db>(
    store: &Store<D>,
    w: &Wheel,
    specs: &[SlotSpec],
    model: &Model,
    last_day: i64,
) -> Result<(), TestCaseError> {
    let c = store
        .get_campaign(&w.merchant, w.id, T0 + last_day * DAY)
        .await
        .expect("campaign");
    for (s, m) in c.slots.iter().zip(&model.stock) {
        prop_assert!(s.remaining >= 0, "stock below zero: {:?}", s);
        prop_assert_eq!(s.remaining, *m);
    }
    let day_name = |d: i64| campaign_day(T0 + d * DAY, &w.time_zone).expect("day");
    let player = |p: u8| format!("p{p}");

    let read = |sql| rows(store, sql, w.id);
    let mut got = BTreeMap::new();
    for r in read("SELECT player_id, draws FROM player_draws WHERE campaign_id = $1").await {
        got.insert(r.text(0).expect("player"), r.int(1).expect("draws"));
    }
    let want: BTreeMap<_, _> = model.total.iter().map(|(p, n)| (player(*p), *n)).collect();
    prop_assert_eq!(&got, &want, "draws per player");
    prop_assert!(got.values().all(|n| *n <= TOTAL));

    let mut got = BTreeMap::new();
    for r in read(
        "SELECT player_id, day, draws FROM player_daily_draws \
         WHERE campaign_id = $1 AND draws > 0",
    )
    .await
    {
        let k = (r.text(0).expect("player"), r.text(1).expect("day"));
        got.insert(k, r.int(2).expect("draws"));
    }
    let want: BTreeMap<_, _> = model
        .daily
        .iter()
        .map(|((p, d), n)| ((player(*p), day_name(*d)), *n))
        .collect();
    prop_assert_eq!(&got, &want, "draws per player and day");
    prop_assert!(got.values().all(|n| *n <= PER_DAY));

    let mut got = BTreeMap::new();
    for r in read(
        "SELECT slot_index, player_id, won FROM player_prize_count \
         WHERE campaign_id = $1 AND won > 0",
    )
    .await
    {
        let k = (r.int(0).expect("slot"), r.text(1).expect("player"));
        got.insert(k, r.int(2).expect("won"));
    }
    let want: BTreeMap<_, _> = model
        .user_won
        .iter()
        .filter(|((s, _), _)| specs[*s].per_user_cap.is_some())
        .map(|((s, p), n)| ((*s as i64, player(*p)), *n))
        .collect();
    prop_assert_eq!(&got, &want, "wins per player");
    for ((s, _), n) in &got {
        prop_assert!(specs[*s as usize].per_user_cap.is_some_and(|cap| *n <= cap));
    }

    let mut got = BTreeMap::new();
    for r in read(
        "SELECT slot_index, day, released FROM prize_daily_release \
         WHERE campaign_id = $1 AND released > 0",
    )
    .await
    {
        let k = (r.int(0).expect("slot"), r.text(1).expect("day"));
        got.insert(k, r.int(2).expect("released"));
    }
    let want: BTreeMap<_, _> = model
        .released
        .iter()
        .filter(|((s, _), _)| specs[*s].daily_cap.is_some())
        .map(|((s, d), n)| ((*s as i64, day_name(*d)), *n))
        .collect();
    prop_assert_eq!(&got, &want, "daily releases");
    for ((s, _), n) in &got {
        prop_assert!(specs[*s as usize].daily_cap.is_some_and(|cap| *n <= cap));
    }

    // The ledger: one row per draw, numbered 1..=n without a gap.
    let seqs: Vec<i64> =
        read("SELECT ledger_seq FROM draw WHERE campaign_id = $1 ORDER BY ledger_seq")
            .await
            .iter()
            .map(|r| r.int(0).expect("ledger_seq"))
            .collect();
    let drawn: i64 = model.total.values().sum();
    prop_assert_eq!(seqs, (1..=drawn).collect::<Vec<_>>(), "ledger numbers");
    Ok(())
}

/// One draw of a round.
#[derive(Debug, Clone)]
struct Req {
    player: u8,
    key: u8,
    channel: bool,
}

#[derive(Debug, Clone)]
enum Step {
    /// Draws issued at once.
    Round(Vec<Req>),
    NextDay,
}

const PLAYERS: u8 = 6;
const KEYS: u8 = 8;

/// A round: several draws, mostly of different players, plus sometimes a
/// copy of one of them (the same request again, the same key with a changed
/// request, or the same player with another key).
fn round() -> impl Strategy<Value = Vec<Req>> {
    let req = (0..PLAYERS, 0..KEYS, any::<bool>()).prop_map(|(player, key, channel)| Req {
        player,
        key,
        channel,
    });
    (
        prop::collection::vec(req, 2..8),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..3), 0..3),
    )
        .prop_map(|(mut reqs, copies)| {
            for (i, how) in copies {
                let mut r = reqs[i.index(reqs.len())].clone();
                match how {
                    0 => {}
                    1 => r.channel = !r.channel,
                    _ => r.key = (r.key + 1) % KEYS,
                }
                reqs.push(r);
            }
            reqs
        })
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            6 => round().prop_map(Step::Round),
            1 => Just(Step::NextDay),
        ],
        1..12,
    )
}

async fn run_rounds<D: Db>(store: &Store<D>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new(T0);
    let specs = batch_specs();
    let w = setup(store, &specs, 3).await;
    let mut model = Model::new(&specs, 3);
    let mut day = 0i64;
    // Draws in the ledger so far.
    let mut drawn = 0i64;
    for step in steps {
        let round = match step {
            Step::NextDay => {
                clock.advance(DAY);
                day += 1;
                continue;
            }
            Step::Round(round) => round,
        };
        let (clock, w) = (&clock, &w);
        let answers = futures_util::future::join_all(round.iter().map(|r| async move {
            let cmd = command(w, r.player, r.channel);
            store
                .draw(&cmd, clock, &idem(r.player, r.key, r.channel), encode)
                .await
        }))
        .await;

        // The round's fresh draws in ledger order; the ledger row of each
        // says what its answer says.
        let mut ledger = HashMap::new();
        for r in rows(
            store,
            "SELECT draw_id, ledger_seq, awarded_slot, fallback_reason FROM draw \
             WHERE campaign_id = $1",
            w.id,
        )
        .await
        {
            let row = (
                r.int(1).expect("ledger_seq"),
                r.int(2).expect("slot"),
                r.text(3).expect("fallback"),
            );
            ledger.insert(r.text(0).expect("draw_id"), row);
        }
        let (mut fresh, mut others) = (Vec::new(), Vec::new());
        for (r, got) in round.iter().zip(answers) {
            match got {
                Ok(Outcome::Fresh(d)) => {
                    let Some((seq, slot, fallback)) = ledger.get(&d.draw_id) else {
                        let e = format!("a fresh draw not in the ledger: {d:?}");
                        return Err(TestCaseError::fail(e));
                    };
                    prop_assert_eq!(
                        (*slot, fallback.as_str()),
                        (i64::from(d.slot), d.fallback.as_str())
                    );
                    fresh.push((*seq, r, d));
                }
                got => others.push((r, got)),
            }
        }
        fresh.sort_by_key(|f| f.0);
        let n = fresh.len() as i64;
        let seqs: Vec<i64> = fresh.iter().map(|f| f.0).collect();
        prop_assert_eq!(seqs, (drawn + 1..=drawn + n).collect::<Vec<_>>());
        drawn += n;
        prop_assert_eq!(ledger.len() as i64, drawn, "ledger rows");

        for (_, r, d) in &fresh {
            let expect = model.predict(&specs, &w.seed, w.id, day, r.player, r.key, r.channel);
            check_fresh(&expect, d)?;
            model.apply(&expect, day, r.player, r.key, r.channel, encode(d));
        }
        // Replays and refusals change nothing, and the limits only close
        // within a round, so each must be what the round's end state says.
        for (r, got) in others {
            let expect = model.predict(&specs, &w.seed, w.id, day, r.player, r.key, r.channel);
            check_other(&expect, got)?;
        }
    }
    books(store, &w, &specs, &model, day).await
}

/// The store's draw batch counters: batches applied, the draws they
/// answered, batches undone (their draws then went alone).
fn batch_counters<D: Db>(store: &Store<D>) -> [u64; 3] {
    let get = |name| {
        store
            .write_counters()
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| *v)
    };
    [
        get("campaign_draw_batches_total"),
        get("campaign_draw_batched_draws_total"),
        get("campaign_draw_batches_undone_total"),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    OneAtATime,
    Rounds,
}

async fn run_shape<D: Db>(
    store: &Store<D>,
    shape: Shape,
    ops: Vec<Op>,
    steps: Vec<Step>,
) -> Result<(), TestCaseError> {
    match shape {
        Shape::OneAtATime => run(store, ops).await,
        Shape::Rounds => run_rounds(store, steps).await,
    }
}

fn check(backend: Backend, shape: Shape, cases: u32) {
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
    let (batches, batched) = (AtomicU64::new(0), AtomicU64::new(0));
    let (ops, steps) = match shape {
        Shape::OneAtATime => (ops().boxed(), Just(Vec::new()).boxed()),
        Shape::Rounds => (Just(Vec::new()).boxed(), steps().boxed()),
    };
    proptest!(config, |(ops in ops, steps in steps)| {
        rt.block_on(async {
            let db = TestDb::new(backend).await;
            match backend {
                Backend::Sqlite => {
                    let s = SqliteDb::connect(&db.url).await.expect("sqlite");
                    let r = run_shape(&Store::new(s.clone()), shape, ops, steps).await;
                    s.close().await;
                    r
                }
                Backend::Postgres => {
                    // Room for a batch and the draws it leaves alone.
                    let pool = match shape {
                        Shape::OneAtATime => 2,
                        Shape::Rounds => 4,
                    };
                    let s = PgDb::connect(&db.url, pool).await.expect("postgres");
                    let store = Store::new(s.clone());
                    let r = run_shape(&store, shape, ops, steps).await;
                    let [sets, answered, undone] = batch_counters(&store);
                    batches.fetch_add(sets, Ordering::Relaxed);
                    batched.fetch_add(answered, Ordering::Relaxed);
                    s.close().await;
                    r?;
                    // Nothing races a round's batch (the rounds follow one
                    // another), so none fails: a batch that did would have
                    // its draws drawn alone, hiding what went wrong in it.
                    prop_assert_eq!(undone, 0, "draw batches undone");
                    Ok(())
                }
            }
        })?;
    });
    let (batches, batched) = (batches.into_inner(), batched.into_inner());
    if let (Backend::Postgres, Shape::Rounds) = (backend, shape) {
        eprintln!("{batches} draw batches drew {batched} draws");
        // The rounds reached the batch path, not only single draws.
        assert!(batches > 0, "no draw batch was formed");
        // At least one batch drew several draws together. (A batch that
        // found its draws replays or refused counts too, so the average can
        // sit near 2 without anything wrong: no bound on it.)
        assert!(batched > batches, "no batch drew more than one draw");
    }
}

#[test]
fn sqlite_store_follows_the_reference_model() {
    check(Backend::Sqlite, Shape::OneAtATime, 64);
}

#[test]
fn postgres_store_follows_the_reference_model() {
    check(Backend::Postgres, Shape::OneAtATime, 24);
}

#[test]
fn sqlite_store_follows_the_reference_model_in_concurrent_rounds() {
    check(Backend::Sqlite, Shape::Rounds, 32);
}

#[test]
fn postgres_store_follows_the_reference_model_in_concurrent_rounds() {
    check(Backend::Postgres, Shape::Rounds, 24);
}
