//! Secrets at rest (issue 22): gateway HS256 secrets are stored sealed
//! (`domain::seal`) with the key the server was given, never in the clear.
//!
//! - `seal_key_check` holds one row: the check value of the key the
//!   database is sealed with. The first start with a key writes it; a start
//!   with another key is refused (two replicas with different keys would
//!   each seal values the other cannot open).
//! - `player_token_key.sealed` is 1 for a sealed secret, 0 for one written
//!   before sealing existed (or by a store without a key): the start seals
//!   those in place.

use rand::RngCore;

use super::AccessStore;
use crate::{
    domain::seal::{NONCE_LEN, SealKey, token_key_aad},
    store::{
        StoreError,
        db::{Db, DbRow, DbTx, args},
    },
};

/// A secret as stored: its bytes and whether they are sealed.
pub(crate) struct Stored {
    pub bytes: Vec<u8>,
    pub sealed: i64,
}

impl<D: Db> AccessStore<D> {
    /// Checks that `seal_key` is the key the database was sealed with (the
    /// first start records it), then seals every secret still in the
    /// clear. Returns how many were sealed now.
    pub async fn adopt_seal_key(&self, now: i64) -> Result<u64, StoreError> {
        let key = self.key()?;
        let mut tx = self.db.begin_write().await?;
        let check = key.check_value();
        tx.execute(
            "INSERT INTO seal_key_check (singleton, key_check, created_at) VALUES (1, $1, $2) \
             ON CONFLICT (singleton) DO NOTHING",
            args![check.clone(), now],
        )
        .await?;
        let stored = tx
            .fetch_optional(
                "SELECT key_check FROM seal_key_check WHERE singleton = 1",
                args![],
            )
            .await?
            .map(|r| r.bytes(0))
            .transpose()?;
        if stored.as_deref() != Some(&check[..]) {
            return Err(StoreError::Seal(
                "this seal key is not the one the database's secrets were sealed with \
                 (every replica needs the same seal key file)"
                    .into(),
            ));
        }
        let plain = tx
            .fetch_all(
                "SELECT merchant_id, key_id, secret FROM player_token_key WHERE sealed = 0",
                args![],
            )
            .await?;
        let mut sealed = 0u64;
        for r in plain {
            let (merchant, kid, secret) = (r.text(0)?, r.text(1)?, r.bytes(2)?);
            let stored = self.seal_token_secret(&merchant, &kid, &secret)?;
            tx.execute(
                "UPDATE player_token_key SET secret = $3, sealed = $4 \
                 WHERE merchant_id = $1 AND key_id = $2 AND sealed = 0",
                args![merchant, kid, stored.bytes, stored.sealed],
            )
            .await?;
            sealed += 1;
        }
        tx.commit().await?;
        Ok(sealed)
    }

    fn key(&self) -> Result<&SealKey, StoreError> {
        self.seal_key
            .as_deref()
            .ok_or_else(|| StoreError::Seal("this store has no seal key".into()))
    }

    /// A gateway secret as it is stored: sealed for its row with a fresh
    /// nonce when the store has a key, otherwise in the clear (sealed at
    /// the next start of a server, which always has one).
    pub(crate) fn seal_token_secret(
        &self,
        merchant_id: &str,
        key_id: &str,
        secret: &[u8],
    ) -> Result<Stored, StoreError> {
        let Some(key) = self.seal_key.as_deref() else {
            return Ok(Stored {
                bytes: secret.to_vec(),
                sealed: 0,
            });
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let bytes = key
            .seal(secret, &token_key_aad(merchant_id, key_id), nonce)
            .map_err(|e| StoreError::Seal(e.to_string()))?;
        Ok(Stored { bytes, sealed: 1 })
    }

    /// The secret of a stored gateway key.
    pub(crate) fn open_token_secret(
        &self,
        merchant_id: &str,
        key_id: &str,
        stored: Stored,
    ) -> Result<Vec<u8>, StoreError> {
        if stored.sealed == 0 {
            return Ok(stored.bytes);
        }
        self.key()?
            .open(&stored.bytes, &token_key_aad(merchant_id, key_id))
            .map_err(|e| StoreError::Seal(format!("gateway key {key_id:?}: {e}")))
    }
}
