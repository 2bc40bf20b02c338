//! The transport's side of the platform: one exhaustive mapping from the
//! store's errors to gRPC statuses. Client faults get precise codes and
//! messages (a service's refusals name their own code, [`Refusal`]);
//! internal faults are logged with their cause and answered with a fixed
//! message.

use tonic::Status;

use crate::store::{Refusal, StoreError};

/// An internal fault: logged with its cause, answered with a fixed message.
pub fn internal(cause: &dyn std::fmt::Display) -> Status {
    tracing::error!(error = %cause, "internal error");
    Status::internal("internal error")
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
