//! The development-only player token issuer: `POST /dev/player-token` with
//! `{"campaign_id": "...", "openid": "..."}` answers
//! `{"token": "...", "expires_at_ms": ..., ...}`, a player token for that
//! openid at the campaign's merchant, valid for
//! [`DEV_TOKEN_LIFETIME_S`](crate::domain::credential::DEV_TOKEN_LIFETIME_S).
//! It works only when `dev_token_issuer` is on (otherwise every request is
//! answered 404 with a JSON error saying so), so the H5 demo can spin
//! without a merchant gateway.
//!
//! The tokens are signed with a random secret of this process
//! ([`DevIssuer`]); the authenticator accepts them only while the issuer is
//! on, and none survive a restart. Tokens are never logged.

use std::sync::Arc;

use axum::{
    Json,
    extract::{State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use crate::{
    clock::Clock,
    domain::{InvalidField, credential::DevIssuer},
    store::{Store, StoreError, db::Db},
};

/// What the issuer needs: the campaign's merchant comes from the store.
pub struct DevTokenState<D: Db> {
    pub store: Store<D>,
    pub issuer: Arc<DevIssuer>,
    pub audience: String,
    pub clock: Arc<dyn Clock>,
}

impl<D: Db> Clone for DevTokenState<D> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            clock: self.clock.clone(),
        }
    }
}

#[derive(Deserialize)]
pub struct MintRequest {
    pub campaign_id: String,
    pub openid: String,
}

#[derive(Serialize)]
pub struct MintResponse {
    pub token: String,
    pub openid: String,
    pub campaign_id: String,
    pub merchant_id: String,
    pub expires_at_ms: i64,
}

/// Why a token was not minted; the answer is JSON `{"error": ..., "field":
/// ...}` with the HTTP status of the matching gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum DevTokenError {
    /// The body is not the JSON object above.
    #[error("body: {0}")]
    Body(String),
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("campaign not found")]
    NotFound,
    #[error(
        "the development token issuer is off (dev_token_issuer / CAMPAIGN_DEV_TOKEN_ISSUER=true; never in production)"
    )]
    Off,
    #[error("the database is unavailable; retry")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for DevTokenError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => Self::NotFound,
            StoreError::Unavailable(m) => {
                tracing::warn!(reason = %m, "database unavailable");
                Self::Unavailable
            }
            other => {
                tracing::error!(error = %other, "dev token issuer: internal error");
                Self::Internal
            }
        }
    }
}

impl IntoResponse for DevTokenError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Body(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NotFound | Self::Off => StatusCode::NOT_FOUND,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let field = match &self {
            Self::Invalid(f) => Some(f.field),
            _ => None,
        };
        let body = serde_json::json!({"error": self.to_string(), "field": field});
        (status, Json(body)).into_response()
    }
}

/// The answer to every request while the issuer is off.
pub async fn off() -> DevTokenError {
    DevTokenError::Off
}

/// The openid as a token subject: 1..=128 visible characters.
fn openid(raw: &str) -> Result<String, InvalidField> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(InvalidField::new("openid", "is required"));
    }
    if id.chars().count() > 128 {
        return Err(InvalidField::new("openid", "at most 128 characters"));
    }
    if id.chars().any(char::is_control) {
        return Err(InvalidField::new(
            "openid",
            "must not contain control characters",
        ));
    }
    Ok(id.to_owned())
}

#[tracing::instrument(name = "dev.player_token", skip_all, fields(outcome, campaign.id))]
pub async fn mint<D: Db>(
    State(s): State<DevTokenState<D>>,
    body: Result<Json<MintRequest>, JsonRejection>,
) -> Result<Json<MintResponse>, DevTokenError> {
    let span = tracing::Span::current();
    let result = async {
        let Json(req) = body.map_err(|e| DevTokenError::Body(e.body_text()))?;
        let id = uuid::Uuid::parse_str(req.campaign_id.trim())
            .map_err(|_| InvalidField::new("campaign_id", "must be a UUID"))?;
        span.record("campaign.id", tracing::field::display(id));
        let openid = openid(&req.openid)?;
        let merchant_id = s.store.campaign_merchant(id).await?;
        let (token, expires_at_ms) =
            s.issuer
                .mint(&merchant_id, &openid, &s.audience, s.clock.now_ms());
        Ok(Json(MintResponse {
            token,
            openid,
            campaign_id: id.to_string(),
            merchant_id,
            expires_at_ms,
        }))
    }
    .await;
    match &result {
        Ok(_) => span.record("outcome", "ok"),
        Err(e) => span.record("outcome", tracing::field::display(e)),
    };
    tracing::debug!("dev token request done");
    result
}
