//! Secrets at rest (issue 22): gateway HS256 secrets are stored sealed
//! with the key the server was given, never in the clear. The store's side
//! lives in the platform crate (`platform::access::seal`); the campaign's
//! store forwards to it with its seal key (`Store::with_seal_key`).

use super::{Store, StoreError, db::Db};

impl<D: Db> Store<D> {
    /// Checks that the seal key is the key the database was sealed with
    /// (the first start records it), then seals every secret still in the
    /// clear. Returns how many were sealed now
    /// (`platform::access::AccessStore::adopt_seal_key`).
    pub async fn adopt_seal_key(&self, now: i64) -> Result<u64, StoreError> {
        self.access().adopt_seal_key(now).await
    }
}
