//! The run's size, chosen by `FAULT_PROFILE`: `quick` (the default),
//! `ci` or `long`.

use std::time::Duration;

/// How long and how hard a run is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Profile {
    pub(crate) name: &'static str,
    pub(crate) run_for: Duration,
    pub(crate) draws_per_day: i64,
    pub(crate) draws_total: i64,
    pub(crate) coupon_stock: i64,
    /// Each client's pause after each request, as a fan's between taps:
    /// the load stays high enough that every fault strikes requests in
    /// flight (28 clients), and in CI, where the suite runs beside the
    /// other tests and the fuzz build, it leaves them CPU.
    pub(crate) think: Duration,
}

pub(crate) fn profile() -> Profile {
    match std::env::var("FAULT_PROFILE").as_deref() {
        Ok("ci") => Profile {
            name: "ci",
            run_for: Duration::from_secs(300),
            draws_per_day: 150,
            draws_total: 250,
            coupon_stock: 300,
            think: Duration::from_millis(50),
        },
        Ok("long") => Profile {
            name: "long",
            run_for: Duration::from_secs(1800),
            draws_per_day: 500,
            draws_total: 800,
            coupon_stock: 1000,
            think: Duration::from_millis(30),
        },
        _ => Profile {
            name: "quick",
            run_for: Duration::from_secs(40),
            draws_per_day: 25,
            draws_total: 40,
            coupon_stock: 60,
            think: Duration::from_millis(5),
        },
    }
}
