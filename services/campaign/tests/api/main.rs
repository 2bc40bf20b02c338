//! The behavioural suite, run through the real gRPC server on port 0, once
//! on SQLite and once on PostgreSQL (`sqlite::*` and `postgres::*` tests).

/// Generates `sqlite::<name>` and `postgres::<name>` tests that run the
/// async fn `<name>(Backend)` of the enclosing module.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

mod access;
mod activities;
mod at_rest;
mod bootstrap;
mod clients;
mod clone;
mod concurrency;
mod differential;
mod events;
mod fairness;
mod health;
use test_kit::harness as helpers;
mod idempotency;
mod lifecycle;
mod limits;
mod lists;
mod lists_activities;
mod lists_activities_access;
mod metrics;
mod money;
mod money_races;
mod prize_refs;
mod raffles;
mod restart;
mod schedule;
mod schema;
mod sealed;
mod sharing;
mod shipping;
mod stalled;
mod stats;
mod stores;
mod story;
mod tier_prizes;
mod validation;
mod voting;
mod web;
mod webhooks;
mod winners_by_store;
