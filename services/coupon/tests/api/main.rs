//! The coupon behavioural suite, through the real gRPC servers (the whole
//! engine on port 0, or the coupon and campaign services apart), once on
//! SQLite and once on PostgreSQL (`sqlite::*` and `postgres::*` tests).

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

// The campaign suite's harness: databases, the engine on port 0, clients.
use test_kit::harness as helpers;

mod access;
mod at_rest;
mod issuance;
use test_kit::coupon_kit as kit;
mod lists;
mod lists_admin;
mod outbox;
mod stores;
mod targeted;
mod till;
