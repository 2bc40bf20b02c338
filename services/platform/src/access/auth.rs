//! Who is calling: the principal comes only from the `authorization`
//! credential, never from request fields.
//!
//! Missing or bad credential: UNAUTHENTICATED (one fixed message, so a
//! prober learns nothing about which part failed). A valid credential used
//! outside its role: PERMISSION_DENIED.
//!
//! Keys are read from the database and kept for [`KEY_CACHE_TTL`], so a hot
//! path (every draw) does not pay a read per call. A revocation or a token
//! key change made through this process takes effect at once (the entry is
//! dropped); one made through another replica, within the TTL.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tonic::{Status, metadata::MetadataMap};

use super::{AccessStore, keys::ApiKeyRecord, token_key::IssuerKeys};
use crate::{
    clock::Clock,
    domain::credential::{
        DevIssuer, Role, api_secret_matches, parse_api_key, token_issuer, verify_player_token,
    },
    store::db::Db,
};

/// How long a key read from the database is trusted without reading again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);
/// Entries kept at most; the cache is emptied when full (it refills).
const KEY_CACHE_MAX: usize = 10_000;

/// Known keys by id (API keys) or issuer (player token keys).
struct KeyCache<T> {
    entries: Mutex<HashMap<String, (Instant, T)>>,
}

impl<T: Clone> KeyCache<T> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
    fn get(&self, id: &str) -> Option<T> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(id)
            .filter(|(at, _)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(_, v)| v.clone())
    }
    fn put(&self, id: &str, value: T) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= KEY_CACHE_MAX {
                entries.clear();
            }
            entries.insert(id.to_owned(), (Instant::now(), value));
        }
    }
    fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Admin {
        merchant_id: String,
        key_id: String,
    },
    Pos {
        merchant_id: String,
        store_id: String,
        key_id: String,
    },
    Auditor {
        merchant_id: String,
        key_id: String,
    },
    Player {
        merchant_id: String,
        player_id: String,
    },
}

impl Principal {
    /// The idempotency scope: keys of one caller never collide with
    /// another's.
    pub fn scope(&self) -> String {
        match self {
            Self::Admin { key_id, .. }
            | Self::Pos { key_id, .. }
            | Self::Auditor { key_id, .. } => {
                format!("key:{key_id}")
            }
            Self::Player {
                merchant_id,
                player_id,
            } => format!("player:{merchant_id}:{player_id}"),
        }
    }

    /// The merchant of an admin, or PERMISSION_DENIED.
    pub fn admin(&self) -> Result<&str, Status> {
        match self {
            Self::Admin { merchant_id, .. } => Ok(merchant_id),
            _ => Err(denied()),
        }
    }

    /// The merchant of an admin or an auditor (read-only calls).
    pub fn admin_or_auditor(&self) -> Result<&str, Status> {
        match self {
            Self::Admin { merchant_id, .. } | Self::Auditor { merchant_id, .. } => Ok(merchant_id),
            _ => Err(denied()),
        }
    }

    /// `(merchant, openid)` of a player.
    pub fn player(&self) -> Result<(&str, &str), Status> {
        match self {
            Self::Player {
                merchant_id,
                player_id,
            } => Ok((merchant_id, player_id)),
            _ => Err(denied()),
        }
    }
}

fn denied() -> Status {
    Status::permission_denied("this credential's role may not call this method")
}

fn unauthenticated() -> Status {
    Status::unauthenticated("missing or invalid credential")
}

/// Turns a request's credential into a [`Principal`], reading keys from
/// the access store (cached, see [`KEY_CACHE_TTL`]).
pub struct Authenticator<D: Db> {
    store: AccessStore<D>,
    audience: String,
    clock: Arc<dyn Clock>,
    api_keys: KeyCache<ApiKeyRecord>,
    token_keys: KeyCache<IssuerKeys>,
    /// The development token issuer, when `dev_token_issuer` is on.
    dev: Option<Arc<DevIssuer>>,
}

impl<D: Db> Authenticator<D> {
    pub fn new(store: AccessStore<D>, audience: String, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            audience,
            clock,
            api_keys: KeyCache::new(),
            token_keys: KeyCache::new(),
            dev: None,
        }
    }

    /// Also accepts the development issuer's tokens (`dev_token_issuer`).
    pub fn with_dev_issuer(mut self, dev: Arc<DevIssuer>) -> Self {
        self.dev = Some(dev);
        self
    }

    /// Drops a cached API key (after its revocation).
    pub fn forget_api_key(&self, key_id: &str) {
        self.api_keys.forget(key_id);
    }

    /// Drops an issuer's cached player token keys (after a key was set or
    /// retired).
    pub fn forget_token_key(&self, issuer: &str) {
        self.token_keys.forget(issuer);
    }

    pub async fn authenticate(&self, meta: &MetadataMap) -> Result<Principal, Status> {
        let value = meta
            .get("authorization")
            .ok_or_else(unauthenticated)?
            .to_str()
            .map_err(|_| unauthenticated())?;
        let credential = value
            .strip_prefix("Bearer ")
            .ok_or_else(unauthenticated)?
            .trim();
        if let Some((key_id, secret)) = parse_api_key(credential) {
            return self.api_key(key_id, secret).await;
        }
        self.player_token(credential).await
    }

    async fn api_key(&self, key_id: &str, secret: &str) -> Result<Principal, Status> {
        let key = match self.api_keys.get(key_id) {
            Some(key) => key,
            None => {
                let key = self
                    .store
                    .find_api_key(key_id)
                    .await?
                    .ok_or_else(unauthenticated)?;
                self.api_keys.put(key_id, key.clone());
                key
            }
        };
        if !api_secret_matches(secret, &key.secret_hash) || key.revoked_at.is_some() {
            return Err(unauthenticated());
        }
        let (merchant_id, key_id) = (key.merchant_id, key.key_id);
        Ok(match (key.role, key.store_id) {
            (Role::Admin, _) => Principal::Admin {
                merchant_id,
                key_id,
            },
            (Role::Auditor, _) => Principal::Auditor {
                merchant_id,
                key_id,
            },
            (Role::Pos, Some(store_id)) => Principal::Pos {
                merchant_id,
                store_id,
                key_id,
            },
            (Role::Pos, None) => return Err(unauthenticated()),
        })
    }

    async fn player_token(&self, token: &str) -> Result<Principal, Status> {
        let issuer = token_issuer(token).map_err(|_| unauthenticated())?;
        if let Some(dev) = &self.dev
            && DevIssuer::merchant_of(&issuer).is_some()
        {
            let (merchant_id, verified) = dev
                .verify(token, &self.audience, self.clock.now_ms())
                .map_err(|e| {
                    tracing::debug!(reason = %e, "dev player token refused");
                    unauthenticated()
                })?;
            return Ok(Principal::Player {
                merchant_id,
                player_id: verified.sub,
            });
        }
        let issuer_keys = match self.token_keys.get(&issuer) {
            Some(keys) => keys,
            None => {
                let keys = self
                    .store
                    .find_token_keys(&issuer)
                    .await?
                    .ok_or_else(unauthenticated)?;
                self.token_keys.put(&issuer, keys.clone());
                keys
            }
        };
        let verified = verify_player_token(
            token,
            &issuer_keys.keys,
            &issuer_keys.issuer,
            &self.audience,
            self.clock.now_ms(),
        )
        .map_err(|e| {
            tracing::debug!(reason = %e, "player token refused");
            unauthenticated()
        })?;
        Ok(Principal::Player {
            merchant_id: issuer_keys.merchant_id,
            player_id: verified.sub,
        })
    }
}
