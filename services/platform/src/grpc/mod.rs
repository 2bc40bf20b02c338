//! The transport's side of the platform, shared by every service's
//! handlers: one exhaustive mapping from the store's errors to gRPC
//! statuses (client faults get precise codes and messages, a service's
//! refusals name their own code, [`Refusal`]; internal faults are logged
//! with their cause and answered with a fixed message), replayed answers
//! ([`respond`]), the outcome on each RPC's span ([`traced`]), and
//! per-caller rate limits ([`limit`]).

pub mod limit;

use prost::Message;
use tonic::{Response, Status};

use crate::{
    domain::{AccessRefusal, InvalidField},
    store::{Outcome, Refusal, StoreError},
};

/// A request that can never succeed as sent, naming its field.
pub fn invalid(e: InvalidField) -> Status {
    Status::invalid_argument(e.to_string())
}

/// An internal fault: logged with its cause, answered with a fixed message.
pub fn internal(cause: &dyn std::fmt::Display) -> Status {
    tracing::error!(error = %cause, "internal error");
    Status::internal("internal error")
}

/// Access's refusals answer with their own codes.
impl Refusal for AccessRefusal {
    fn code(&self) -> tonic::Code {
        match self {
            Self::AlreadyRevoked => tonic::Code::FailedPrecondition,
            Self::IssuerTaken => tonic::Code::AlreadyExists,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The store registry's refusals: a code taken, a store not registered
/// (or another merchant's) or closed.
impl Refusal for crate::stores::StoreRefusal {
    fn code(&self) -> tonic::Code {
        match self {
            Self::Exists(_) => tonic::Code::AlreadyExists,
            Self::Unknown(..) | Self::Closed(..) => tonic::Code::FailedPrecondition,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A service's refusal, with the code it names.
pub fn refusal(r: &dyn Refusal) -> Status {
    Status::new(r.code(), r.to_string())
}

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Status::not_found(format!("{what} not found")),
            // The same answer as for an id that does not exist, so that no
            // caller learns what another merchant has; the log keeps it.
            StoreError::OtherMerchant(what) => {
                tracing::info!(what, "refused: belongs to another merchant");
                Status::not_found(format!("{what} not found"))
            }
            StoreError::Rejected(r) => refusal(r.as_ref()),
            StoreError::KeyReused => Status::failed_precondition(e.to_string()),
            StoreError::Conflict(m) => {
                tracing::info!(reason = %m, "conflict");
                Status::aborted(
                    "a concurrent request changed the same thing; retry with the same idempotency key",
                )
            }
            StoreError::Stalled(secs) => Status::deadline_exceeded(format!(
                "the stream was not read for {secs} s and was cut; export again"
            )),
            StoreError::Unavailable(m) => {
                tracing::warn!(reason = %m, "database unavailable");
                Status::unavailable(
                    "database busy or unavailable; retry with the same idempotency key",
                )
            }
            e @ (StoreError::Database(_)
            | StoreError::Corrupt(_)
            | StoreError::Bootstrap(_)
            | StoreError::Seal(_)) => internal(&e),
        }
    }
}

/// Turns a store outcome into the answer: a fresh result is converted, a
/// replay returns the stored bytes of the first answer.
pub fn respond<T, R: Message + Default>(
    outcome: Outcome<T>,
    convert: impl Fn(&T) -> R,
) -> Result<Response<R>, Status> {
    match outcome {
        Outcome::Fresh(t) => Ok(Response::new(convert(&t))),
        Outcome::Replay(bytes) => R::decode(bytes.as_slice())
            .map(Response::new)
            .map_err(|e| internal(&e)),
    }
}

/// Records the outcome on the RPC's span (`ok` or the status code) and logs
/// one line at DEBUG with the span, so every call leaves a trace.
pub fn traced<R>(result: Result<R, Status>) -> Result<R, Status> {
    let span = tracing::Span::current();
    match &result {
        Ok(_) => {
            span.record("outcome", "ok");
            tracing::debug!("rpc done");
        }
        Err(s) => {
            span.record("outcome", tracing::field::debug(s.code()));
            tracing::debug!(code = ?s.code(), "rpc refused");
        }
    };
    result
}
