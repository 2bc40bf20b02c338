//! Merchants and API keys (player-token keys: `token_key.rs`). They live
//! in the platform crate (`platform::access::keys`); re-exported under
//! their old paths, with the store's methods forwarded to the platform's
//! access store over the same database and seal key.

use platform::access::AccessStore;

use super::{Outcome, Store, StoreError, db::Db};
use crate::domain::{Millis, credential::Role, idempotency::Idempotency};

pub use platform::access::keys::{ApiKeyRecord, CreatedKey, DEFAULT_MERCHANT_ID};

impl<D: Db> Store<D> {
    /// The platform's access store (`platform::access`: merchants, keys,
    /// token keys, the audit chain, sealing) over the same database and
    /// seal key.
    pub fn access(&self) -> AccessStore<D> {
        let access = AccessStore::new(self.db.clone());
        match &self.seal_key {
            Some(key) => access.with_seal_key(key.clone()),
            None => access,
        }
    }

    /// Creates a merchant and its first admin key.
    pub async fn create_merchant(
        &self,
        name: &str,
        now: Millis,
    ) -> Result<(String, CreatedKey), StoreError> {
        self.access().create_merchant(name, now).await
    }

    /// On an empty database, creates the default merchant and its first
    /// admin key, handed to `persist` before committing
    /// (`platform::access::AccessStore::bootstrap`).
    pub async fn bootstrap(
        &self,
        now: Millis,
        persist: impl FnOnce(&CreatedKey) -> Result<(), String> + Send,
    ) -> Result<Option<(String, CreatedKey)>, StoreError> {
        self.access().bootstrap(now, persist).await
    }

    pub async fn find_api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.access().find_api_key(key_id).await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn create_api_key(
        &self,
        merchant_id: &str,
        role: Role,
        store_id: Option<&str>,
        label: &str,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CreatedKey) -> Vec<u8> + Send,
    ) -> Result<Outcome<CreatedKey>, StoreError> {
        self.access()
            .create_api_key(merchant_id, role, store_id, label, now, idem, encode)
            .await
    }

    pub async fn revoke_api_key(
        &self,
        merchant_id: &str,
        key_id: &str,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&ApiKeyRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<ApiKeyRecord>, StoreError> {
        self.access()
            .revoke_api_key(merchant_id, key_id, now, idem, encode)
            .await
    }

    pub async fn list_api_keys(
        &self,
        merchant_id: &str,
        filter: &platform::access::keys::KeyFilter,
        after: Option<&platform::access::keys::KeyCursor>,
        size: u32,
    ) -> Result<(Vec<ApiKeyRecord>, bool), StoreError> {
        self.access()
            .list_api_keys(merchant_id, filter, after, size)
            .await
    }
}
