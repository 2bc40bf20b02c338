//! Who is calling: the principal comes only from the `authorization`
//! credential, never from request fields.
//!
//! Missing or bad credential: UNAUTHENTICATED (one fixed message, so a
//! prober learns nothing about which part failed). A valid credential used
//! outside its role: PERMISSION_DENIED.

use std::sync::Arc;

use tonic::{Status, metadata::MetadataMap};

use crate::{
    clock::Clock,
    domain::credential::{
        Role, api_secret_matches, parse_api_key, token_issuer, verify_player_token,
    },
    store::{Store, db::Db},
};

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

pub struct Authenticator<D: Db> {
    store: Store<D>,
    audience: String,
    clock: Arc<dyn Clock>,
}

impl<D: Db> Authenticator<D> {
    pub fn new(store: Store<D>, audience: String, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            audience,
            clock,
        }
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
        let key = self
            .store
            .find_api_key(key_id)
            .await?
            .ok_or_else(unauthenticated)?;
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
        let key = self
            .store
            .find_token_key(&issuer)
            .await?
            .ok_or_else(unauthenticated)?;
        let claims = verify_player_token(
            token,
            &key.secret,
            &key.issuer,
            &self.audience,
            self.clock.now_ms(),
        )
        .map_err(|e| {
            tracing::debug!(reason = %e, "player token refused");
            unauthenticated()
        })?;
        Ok(Principal::Player {
            merchant_id: key.merchant_id,
            player_id: claims.sub,
        })
    }
}
