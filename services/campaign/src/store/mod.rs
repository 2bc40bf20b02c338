//! Storage: every transaction the engine runs, on SQLite or PostgreSQL.
//!
//! `Store<D>` offers intention-revealing methods (`draw`, `claim_prize`,
//! `create_api_key`, ...) and is monomorphised over a backend `D: Db`
//! (`sqlite.rs`, `postgres.rs`), chosen once at start-up from the database
//! URL. Each method opens its transaction visibly, and every scarce thing
//! is guarded in SQL in the same transaction as the effect: conditional
//! updates (`remaining > 0`), guarded upserts (`... DO UPDATE ... WHERE
//! draws < $limit`), UNIQUE keys and CHECK constraints as a backstop.
//!
//! Mutating methods take an [`Idempotency`] and an `encode` function: the
//! key row is claimed first, the effect runs, and the encoded answer is
//! stored before commit, so a retry gets the same bytes back
//! ([`Outcome::Replay`]). The two hot paths (a draw, a POS redemption)
//! write the key last instead (see [`sql_key_lookup!`]).

pub mod access;
pub mod activity;
pub mod audit;
pub mod chance;
pub mod clone;
pub mod events;
mod gate;
pub mod lifecycle;
pub mod list;
pub mod money;
pub mod outbox;
pub mod privacy;
pub mod raffle;
pub mod retention;
pub mod schedule;
pub mod seal;
pub mod share;
pub mod shipping;
pub mod stats;
pub mod token_key;
pub mod vote;
pub mod webhooks;
pub mod wheel;

// The database seam, its backends, the store's error and the idempotency
// protocol live in the platform crate; re-exported under their old paths.
pub use platform::store::{
    Outcome, Refusal, StoreError, batching, claim_key, db, finish, new_id, parse_uuid, postgres,
    replay_of, replay_or, rows, sqlite, store_answer, stored_answer,
};

use crate::domain::Rejection;

impl From<Rejection> for StoreError {
    fn from(r: Rejection) -> Self {
        StoreError::Rejected(Box::new(r))
    }
}

/// The store, over one backend.
#[derive(Clone)]
pub struct Store<D: db::Db> {
    db: D,
    /// PostgreSQL only: SQLite's single writer already queues every write.
    ledger_gate: Option<std::sync::Arc<gate::LedgerGate>>,
    /// PostgreSQL only: SQLite's writer already commits waiting draws
    /// together (`sqlite_writer.rs`).
    draw_batches: Option<std::sync::Arc<wheel::draw_batch_postgres::DrawBatches>>,
    /// Seals the secrets kept at rest (`seal`); set by the server.
    seal_key: Option<std::sync::Arc<crate::domain::seal::SealKey>>,
    /// Grows when this process numbers events (`events`).
    event_tick: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

impl<D: db::Db> Store<D> {
    pub fn new(db: D) -> Self {
        // SQLite's single writer already queues and groups every write.
        let postgres = match D::BACKEND {
            db::Backend::Postgres => true,
            db::Backend::Sqlite => false,
        };
        let ledger_gate = postgres.then(Default::default);
        let draw_batches = postgres.then(Default::default);
        Self {
            db,
            ledger_gate,
            draw_batches,
            seal_key: None,
            event_tick: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
        }
    }

    /// The same store, sealing secrets at rest with `key` (see `seal`).
    pub fn with_seal_key(mut self, key: std::sync::Arc<crate::domain::seal::SealKey>) -> Self {
        self.seal_key = Some(key);
        self
    }

    pub fn db(&self) -> &D {
        &self.db
    }

    /// The list RPCs' page tokens (`domain::list::paging`): MACed with a
    /// key derived from the seal key, so they outlive a restart and hold
    /// on every replica; a store without one (tests building it by hand)
    /// uses a key of this process.
    pub fn page_tokens(&self) -> platform::domain::paging::PageTokens {
        static PROCESS_KEY: std::sync::LazyLock<[u8; 32]> = std::sync::LazyLock::new(|| {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
            key
        });
        let key = match &self.seal_key {
            Some(seal) => seal.derive(b"campaign-engine page token v1"),
            None => *PROCESS_KEY,
        };
        platform::domain::paging::PageTokens::new(key)
    }

    /// Counters of how writes were grouped (name, value): SQLite's group
    /// commits, PostgreSQL's draw batches.
    pub fn write_counters(&self) -> Vec<(&'static str, u64)> {
        let mut counters = self.db.counters();
        counters.extend(self.draw_batch_counters());
        counters
    }

    /// PostgreSQL's draw batches (name, value), for the metrics endpoint
    /// (the backend's own counters are the platform's to show).
    pub fn draw_batch_counters(&self) -> Vec<(&'static str, u64)> {
        self.draw_batches
            .as_ref()
            .map(|b| b.counters())
            .unwrap_or_default()
    }
}
