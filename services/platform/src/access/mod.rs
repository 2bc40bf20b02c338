//! Access: who may call, and the trail of what admins changed. Shared by
//! every service; no activity's knowledge is here.
//!
//! - [`audit`]: the admin audit trail, a per-merchant hash chain appended
//!   in the same transaction as each change, and its export paging.
//!
//! [`AccessStore`] runs these transactions over the platform's seam; a
//! service's own store hands one out over the same database (the
//! campaign's `Store::access`).

pub mod audit;

use crate::store::db::Db;

/// The access store, over one backend.
#[derive(Clone)]
pub struct AccessStore<D: Db> {
    db: D,
}

impl<D: Db> AccessStore<D> {
    pub fn new(db: D) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &D {
        &self.db
    }
}
