//! Access: who may call, and the trail of what admins changed. Shared by
//! every service; no activity's knowledge is here.
//!
//! - [`auth`]: who is calling: a request's credential (an API key or a
//!   player token) becomes a [`auth::Principal`], or UNAUTHENTICATED.
//! - [`keys`]: merchants and their API keys (admin, POS, auditor), the
//!   default merchant and first admin key of an empty database.
//! - [`audit`]: the admin audit trail, a per-merchant hash chain appended
//!   in the same transaction as each change, and its export paging.
//! - [`token_key`]: each merchant's gateway issuer and the HS256 keys its
//!   player tokens are verified with.
//! - [`seal`]: those keys' secrets sealed at rest with the server's key.
//! - [`bootstrap_key`], [`seal_key`]: the files the first admin key and
//!   the seal key are written to, crash-safe.
//!
//! [`AccessStore`] runs these transactions over the platform's seam; a
//! service's own store hands one out over the same database (the
//! campaign's `Store::access`). What it refuses is an [`AccessRefusal`]
//! (a domain rule; its gRPC codes are in `grpc`).

pub mod audit;
pub mod auth;
pub mod bootstrap_key;
pub mod keys;
pub mod seal;
pub mod seal_key;
pub mod token_key;

use std::sync::Arc;

use crate::{domain::seal::SealKey, store::db::Db};

pub use crate::domain::AccessRefusal;

/// The access store, over one backend.
#[derive(Clone)]
pub struct AccessStore<D: Db> {
    db: D,
    /// Seals the secrets kept at rest (`seal`); set by the server.
    seal_key: Option<Arc<SealKey>>,
}

impl<D: Db> AccessStore<D> {
    pub fn new(db: D) -> Self {
        Self { db, seal_key: None }
    }

    /// The same store, sealing secrets at rest with `key` (see `seal`).
    pub fn with_seal_key(mut self, key: Arc<SealKey>) -> Self {
        self.seal_key = Some(key);
        self
    }

    pub fn db(&self) -> &D {
        &self.db
    }
}
