//! Player-token keys: each merchant's gateway issuer and its active HS256
//! secrets. They live in the platform crate (`platform::access::token_key`);
//! re-exported under their old paths, with the store's methods forwarded.

use super::{Outcome, Store, StoreError, db::Db};
use crate::domain::{Millis, idempotency::Idempotency};

pub use platform::access::token_key::{IssuerKeys, NewTokenKey, TokenKeyChange};

impl<D: Db> Store<D> {
    /// The active keys of `issuer`, newest first; `None` if no merchant has
    /// this issuer or it has no active key.
    pub async fn find_token_keys(&self, issuer: &str) -> Result<Option<IssuerKeys>, StoreError> {
        self.access().find_token_keys(issuer).await
    }

    /// Registers `key` as the newest key of the merchant's gateway
    /// (`platform::access::AccessStore::set_player_token_key`).
    pub async fn set_player_token_key(
        &self,
        merchant_id: &str,
        key: NewTokenKey<'_>,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&TokenKeyChange) -> Vec<u8> + Send,
    ) -> Result<Outcome<TokenKeyChange>, StoreError> {
        self.access()
            .set_player_token_key(merchant_id, key, now, idem, encode)
            .await
    }

    /// Retires one active key of the merchant's gateway before its time
    /// (`platform::access::AccessStore::retire_player_token_key`).
    pub async fn retire_player_token_key(
        &self,
        merchant_id: &str,
        key_id: &str,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&TokenKeyChange) -> Vec<u8> + Send,
    ) -> Result<Outcome<TokenKeyChange>, StoreError> {
        self.access()
            .retire_player_token_key(merchant_id, key_id, now, idem, encode)
            .await
    }
}
