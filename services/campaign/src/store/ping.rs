//! The database's liveness, for health: a read and a write transaction
//! each run `SELECT 1` and end without changing anything. Both paths are
//! probed because either can be what stalls (a pool taken by slow
//! readers, a writer queue that no longer moves).

use super::{
    Store, StoreError,
    db::{Db, DbTx},
};

impl<D: Db> Store<D> {
    /// Ok when a read and a write transaction can each be opened and run
    /// a statement. The write transaction is dropped, never committed.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut read = self.db.begin_read().await?;
        read.fetch_optional("SELECT 1", vec![]).await?;
        drop(read);
        let mut write = self.db.begin_write().await?;
        write.fetch_optional("SELECT 1", vec![]).await?;
        Ok(())
    }
}
