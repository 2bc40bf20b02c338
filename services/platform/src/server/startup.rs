//! What the server settles before any module is installed: the key that
//! seals secrets at rest (the right one, or no start at all), the first
//! admin key of an empty database, the development token issuer and the
//! outbox's delivery secret.

use std::sync::Arc;

use super::ServerError;
use crate::{
    access::{AccessStore, bootstrap_key, keys::CreatedKey, seal_key},
    clock::Clock,
    domain::{credential::DevIssuer, seal::SealKey},
    settings::Settings,
    store::{StoreError, db::Db},
};

/// The access store over `db`, its secrets at rest sealed with a key kept
/// outside the database (`seal_key_file`): the key the database was
/// sealed with, or an error naming the file.
pub async fn open_access<D: Db>(
    db: D,
    settings: &Settings,
    clock: &dyn Clock,
) -> Result<(AccessStore<D>, Arc<SealKey>), ServerError> {
    let seal_path = settings.seal_key_path();
    let (key, made) = seal_key::load_or_create(&seal_path)?;
    let key = Arc::new(key);
    let access = AccessStore::new(db).with_seal_key(key.clone());
    let sealed_now = access
        .adopt_seal_key(clock.now_ms())
        .await
        .map_err(|e| match e {
            StoreError::Seal(why) => {
                StoreError::Seal(format!("{why} (seal key file {})", seal_path.display()))
            }
            other => other,
        })?;
    if made {
        tracing::info!(path = %seal_path.display(), "seal key made: keep it backed up apart from the database");
    }
    if sealed_now > 0 {
        tracing::info!(
            sealed = sealed_now,
            "gateway secrets kept in the clear are now sealed"
        );
    }
    Ok((access, key))
}

/// Makes the default merchant and its first admin key in an empty
/// database (or recovers the key of an interrupted first start), and tells
/// the operator where the key is: written now, already there, or gone.
pub async fn bootstrap_admin_key<D: Db>(
    access: &AccessStore<D>,
    settings: &Settings,
    clock: &dyn Clock,
) -> Result<(), StoreError> {
    let path = &settings.bootstrap_key_file;
    let persist = |key: &CreatedKey| {
        bootstrap_key::write_pending(path, &key.full).map_err(|e| {
            format!(
                "writing the first admin key to {}: {e} (set CAMPAIGN_BOOTSTRAP_KEY_FILE \
                 to a writable place)",
                bootstrap_key::pending_path(path).display()
            )
        })
    };
    let bootstrapped = access.bootstrap(clock.now_ms(), persist).await?;
    let recovered = match &bootstrapped {
        Some(_) => {
            bootstrap_key::publish(path).map_err(|e| {
                StoreError::Bootstrap(format!("moving the key into {}: {e}", path.display()))
            })?;
            bootstrap_key::Recovery::Nothing
        }
        None => bootstrap_key::recover(access, path).await?,
    };
    if recovered == bootstrap_key::Recovery::Recovered {
        tracing::info!(
            "recovered the first admin API key of an interrupted first start into {}",
            path.display()
        );
    }
    match bootstrapped {
        Some((merchant, key)) => {
            tracing::info!(merchant.id = %merchant, key.id = %key.record.key_id,
            "empty database: created the default merchant; first admin API key written to {}",
            path.display())
        }
        None if path.exists() => tracing::info!(
            "admin API key file: {} (written when the database was created)",
            path.display()
        ),
        None => tracing::info!(
            "admin API key file {} not found: the database had a merchant before this start, \
             whose key was written elsewhere or removed; `create-merchant NAME` makes a \
             merchant with a new admin API key",
            path.display()
        ),
    }
    Ok(())
}

/// The development token issuer with a fresh secret, when
/// `dev_token_issuer` is on.
pub fn dev_issuer(settings: &Settings) -> Option<Arc<DevIssuer>> {
    settings.dev_token_issuer.then(|| {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
        tracing::warn!(
            "DEVELOPMENT ONLY: dev_token_issuer is on: POST /dev/player-token mints player \
             tokens for anyone who reaches this port; never run it in production"
        );
        Arc::new(DevIssuer::new(secret))
    })
}

/// The delivery secret: configured, or random for this process.
pub fn delivery_secret(settings: &Settings) -> Arc<[u8]> {
    if !settings.delivery_secret.is_empty() {
        return settings.delivery_secret.as_bytes().into();
    }
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
    hex::encode(raw).into_bytes().into()
}
