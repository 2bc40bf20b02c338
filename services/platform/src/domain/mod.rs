//! The rules every service shares, as pure functions and types, no I/O:
//! time, invalid fields, idempotency keys, credentials (API keys and player
//! tokens), sealing secrets at rest, the audit chain's hash, and what
//! access refuses. No activity's rules are here.

pub mod audit;
pub mod credential;
pub mod events;
pub mod hs256;
pub mod idempotency;
pub mod paging;
pub mod player_token;
pub mod pseudonym;
pub mod seal;

use thiserror::Error;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// A request that can never succeed as sent: a field is missing or out of
/// range. Always names the field (proto field name) so callers can fix it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct InvalidField {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidField {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// A well-formed access request (API keys, player-token keys) that the
/// current state refuses. Decided by the access store; the transport maps
/// each to one gRPC code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccessRefusal {
    #[error("the API key is already revoked")]
    AlreadyRevoked,
    #[error("another merchant already uses this issuer")]
    IssuerTaken,
}
