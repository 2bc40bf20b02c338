//! The admin audit trail: a per-merchant hash chain appended in the same
//! transaction as each change. It lives in the platform crate
//! (`platform::access::audit`); re-exported under its old paths, with the
//! store's reads forwarded.

use super::{Store, StoreError, db::Db};

pub use platform::access::audit::AuditRecord;
pub(crate) use platform::access::audit::append_audit;

impl<D: Db> Store<D> {
    /// The merchant's audit chain head: its last entry's seq (0 for none)
    /// and hash (`platform::access::AccessStore::audit_head`).
    pub async fn audit_head(
        &self,
        merchant_id: &str,
    ) -> Result<(i64, Option<Vec<u8>>), StoreError> {
        self.access().audit_head(merchant_id).await
    }

    /// Up to `limit` audit entries of the merchant with `after < seq <=
    /// upto`, in order (`platform::access::AccessStore::audit_page`).
    pub async fn audit_page(
        &self,
        merchant_id: &str,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.access()
            .audit_page(merchant_id, after, upto, limit)
            .await
    }
}
