//! Pre-launch simulation: before publishing, marketing sees how a prize
//! table burns through stock and budget. A Monte Carlo over the engine's own
//! rules (weights, per-user caps, daily release caps, stock, the fallback,
//! per-player daily and total limits), with a seeded RNG so a report can be
//! reproduced. Pure: no I/O.

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::{
    InvalidField,
    wheel::{PrizeKind, SlotSpec},
};

/// Largest number of simulated draws (runs x days x players x draws).
pub const MAX_SIMULATED_DRAWS: u64 = 20_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub days: u32,
    pub players: u32,
    /// Draws each player makes per day (bounded by `draws_per_day`).
    pub draws_per_player: u32,
    pub draws_per_day: i64,
    pub draws_total: i64,
    pub runs: u32,
    pub rng_seed: u64,
}

impl Scenario {
    pub fn validate(&self) -> Result<(), InvalidField> {
        if !(1..=366).contains(&self.days) {
            return Err(InvalidField::new("days", "must be between 1 and 366"));
        }
        if !(1..=1_000_000).contains(&self.players) {
            return Err(InvalidField::new(
                "players_per_day",
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=1000).contains(&self.runs) {
            return Err(InvalidField::new("runs", "must be between 1 and 1000"));
        }
        let draws = u64::from(self.runs)
            * u64::from(self.days)
            * u64::from(self.players)
            * u64::from(self.draws_per_player.max(1));
        if draws > MAX_SIMULATED_DRAWS {
            return Err(InvalidField::new(
                "runs",
                format!(
                    "{draws} simulated draws; at most {MAX_SIMULATED_DRAWS} (fewer runs or players)"
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlotForecast {
    pub index: u32,
    /// Mean units given per run.
    pub mean_given: f64,
    /// Mean payout per run (units x amount, for POINTS and CASH).
    pub mean_payout: f64,
    /// Share of runs in which the slot ran out.
    pub sold_out_share: f64,
    /// Mean 1-based day it ran out, over the runs where it did.
    pub mean_sold_out_day: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub slots: Vec<SlotForecast>,
    /// Share of all draws that gave the fallback instead of the rolled prize.
    pub fallback_share: f64,
    pub mean_draws: f64,
}

/// Runs the scenario `runs` times. `slots` in index order.
pub fn simulate(slots: &[SlotSpec], fallback: u32, s: &Scenario) -> Forecast {
    let n = slots.len();
    let weights: Vec<u64> = slots
        .iter()
        .map(|x| u64::try_from(x.weight).unwrap_or(0))
        .collect();
    let total: u64 = weights.iter().sum();
    let per_day = u32::try_from(s.draws_per_day.max(0))
        .unwrap_or(u32::MAX)
        .min(s.draws_per_player);
    let mut rng = StdRng::seed_from_u64(s.rng_seed);
    let mut given_sum = vec![0f64; n];
    let mut sold_out_runs = vec![0u32; n];
    let mut sold_out_day_sum = vec![0f64; n];
    let (mut fallbacks, mut draws) = (0u64, 0u64);
    let players = s.players as usize;
    for _ in 0..s.runs {
        let mut remaining: Vec<i64> = slots.iter().map(|x| x.stock).collect();
        let mut sold_out_day: Vec<Option<u32>> = vec![None; n];
        let mut user_won = vec![0u32; n * players];
        let mut player_total = vec![0i64; players];
        for day in 1..=s.days {
            let mut released = vec![0i64; n];
            for p in 0..players {
                for _ in 0..per_day {
                    if player_total[p] >= s.draws_total || total == 0 {
                        break;
                    }
                    player_total[p] += 1;
                    draws += 1;
                    let roll = rng.random_range(0..total);
                    let mut acc = 0;
                    let i = weights
                        .iter()
                        .position(|w| {
                            acc += w;
                            roll < acc
                        })
                        .unwrap_or(fallback as usize);
                    let slot = &slots[i];
                    if slot.kind == PrizeKind::Thanks {
                        continue;
                    }
                    let refused = slot
                        .per_user_cap
                        .is_some_and(|c| i64::from(user_won[i * players + p]) >= c)
                        || slot.daily_cap.is_some_and(|c| released[i] >= c)
                        || remaining[i] <= 0;
                    if refused {
                        fallbacks += 1;
                        continue;
                    }
                    user_won[i * players + p] += 1;
                    released[i] += 1;
                    remaining[i] -= 1;
                    if remaining[i] == 0 && sold_out_day[i].is_none() {
                        sold_out_day[i] = Some(day);
                    }
                }
            }
        }
        for i in 0..n {
            given_sum[i] += (slots[i].stock - remaining[i]) as f64;
            if let Some(d) = sold_out_day[i] {
                sold_out_runs[i] += 1;
                sold_out_day_sum[i] += f64::from(d);
            }
        }
    }
    let runs = f64::from(s.runs.max(1));
    Forecast {
        slots: slots
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let mean_given = given_sum[i] / runs;
                SlotForecast {
                    index: i as u32,
                    mean_given,
                    mean_payout: match x.kind {
                        PrizeKind::Points | PrizeKind::Cash => mean_given * x.amount as f64,
                        _ => 0.0,
                    },
                    sold_out_share: f64::from(sold_out_runs[i]) / runs,
                    mean_sold_out_day: (sold_out_runs[i] > 0)
                        .then(|| sold_out_day_sum[i] / f64::from(sold_out_runs[i])),
                }
            })
            .collect(),
        fallback_share: if draws == 0 {
            0.0
        } else {
            fallbacks as f64 / draws as f64
        },
        mean_draws: draws as f64 / runs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prize(stock: i64, daily_cap: Option<i64>, per_user_cap: Option<i64>) -> SlotSpec {
        SlotSpec {
            name: "P".into(),
            kind: PrizeKind::Cash,
            weight: 1,
            stock,
            daily_cap,
            per_user_cap,
            reference: None,
            amount: 100,
            claim_days: 0,
        }
    }

    fn thanks(weight: i64) -> SlotSpec {
        SlotSpec {
            name: "T".into(),
            kind: PrizeKind::Thanks,
            weight,
            stock: 0,
            daily_cap: None,
            per_user_cap: None,
            reference: None,
            amount: 0,
            claim_days: 0,
        }
    }

    fn scenario(days: u32, players: u32, draws: u32) -> Scenario {
        Scenario {
            days,
            players,
            draws_per_player: draws,
            draws_per_day: 100,
            draws_total: 1000,
            runs: 20,
            rng_seed: 1,
        }
    }

    #[test]
    fn stock_runs_out_on_the_first_day() {
        // Every roll lands on the prize: 10 units, 20 draws on day 1.
        let f = simulate(&[prize(10, None, None), thanks(0)], 1, &scenario(3, 1, 20));
        assert_eq!(f.slots[0].mean_given, 10.0);
        assert_eq!(f.slots[0].mean_payout, 1000.0);
        assert_eq!(f.slots[0].sold_out_share, 1.0);
        assert_eq!(f.slots[0].mean_sold_out_day, Some(1.0));
        assert_eq!(f.mean_draws, 60.0);
        assert!((f.fallback_share - 50.0 / 60.0).abs() < 1e-9);
    }

    #[test]
    fn a_daily_cap_paces_the_stock() {
        // 2 a day out of 10: gone on day 5; 3 of every 5 draws fall back.
        let f = simulate(
            &[prize(10, Some(2), None), thanks(0)],
            1,
            &scenario(5, 1, 5),
        );
        assert_eq!(f.slots[0].mean_sold_out_day, Some(5.0));
        assert!((f.fallback_share - 0.6).abs() < 1e-9);
    }

    #[test]
    fn per_user_caps_and_odds() {
        // 1 per player, 4 players: at most 4 given even with stock 100.
        let f = simulate(
            &[prize(100, None, Some(1)), thanks(0)],
            1,
            &scenario(2, 4, 3),
        );
        assert_eq!(f.slots[0].mean_given, 4.0);
        assert_eq!(f.slots[0].sold_out_share, 0.0);
        assert_eq!(f.slots[0].mean_sold_out_day, None);
        // Odds 1:3 with ample stock: about a quarter of the draws win.
        let mut s = scenario(10, 100, 3);
        s.runs = 5;
        let f = simulate(&[prize(1_000_000, None, None), thanks(3)], 1, &s);
        let share = f.slots[0].mean_given / f.mean_draws;
        assert!((share - 0.25).abs() < 0.02, "{share}");
        assert_eq!(f.fallback_share, 0.0);
    }

    #[test]
    fn limits_and_reproducibility() {
        let mut s = scenario(10, 1, 5);
        s.draws_total = 7;
        assert_eq!(
            simulate(&[prize(100, None, None), thanks(1)], 1, &s).mean_draws,
            7.0
        );
        let a = simulate(&[prize(5, None, None), thanks(5)], 1, &scenario(3, 10, 2));
        let b = simulate(&[prize(5, None, None), thanks(5)], 1, &scenario(3, 10, 2));
        assert_eq!(a, b, "a seeded forecast reproduces");
        let too_big = Scenario {
            runs: 1000,
            players: 1_000_000,
            ..scenario(30, 1, 3)
        };
        assert_eq!(too_big.validate().expect_err("too big").field, "runs");
        assert_eq!(
            Scenario {
                days: 0,
                ..scenario(1, 1, 1)
            }
            .validate()
            .expect_err("days")
            .field,
            "days"
        );
    }
}
