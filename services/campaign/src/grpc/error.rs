//! One exhaustive mapping from the lower layers' errors to gRPC statuses.
//! Client faults get precise codes and messages; internal faults are logged
//! with their cause and answered with a fixed message.

use tonic::{Code, Status};

use crate::{
    domain::{InvalidField, Rejection},
    store::StoreError,
};

pub fn invalid(e: InvalidField) -> Status {
    Status::invalid_argument(e.to_string())
}

pub fn rejection(r: Rejection) -> Status {
    let code = match r {
        Rejection::NoChancesToday
        | Rejection::NoChancesLeft
        | Rejection::TooManySlots(_)
        | Rejection::BudgetShort { .. }
        | Rejection::BudgetSpent
        | Rejection::PacketEmpty
        | Rejection::CashPrizesUnfunded { .. }
        | Rejection::VoteCap(_) => Code::ResourceExhausted,
        Rejection::IssuerTaken
        | Rejection::CampaignExists
        | Rejection::AlreadyGrabbed
        | Rejection::CandidateExists => Code::AlreadyExists,
        Rejection::NoSuchSlot(_) => Code::NotFound,
        Rejection::NotDraft(_)
        | Rejection::InvalidTransition { .. }
        | Rejection::NotRunning(_)
        | Rejection::DraftNotOpen
        | Rejection::NotStarted
        | Rejection::WindowOver
        | Rejection::NoWeightedSlot
        | Rejection::NoFallback
        | Rejection::FallbackNotThanks
        | Rejection::FallbackKindChange
        | Rejection::NotPhysical
        | Rejection::NotClaimable(_)
        | Rejection::ClaimExpired
        | Rejection::NotShippable(_)
        | Rejection::IdempotencyKeyReused
        | Rejection::AlreadyRevoked
        | Rejection::NotPublished
        | Rejection::NotRevisable(_)
        | Rejection::SlotCountChange(_)
        | Rejection::StockBelowWon { .. }
        | Rejection::PacketExpired
        | Rejection::VotingNotSetUp
        | Rejection::RegistrationClosed
        | Rejection::NotPending(_)
        | Rejection::VoteNotAccepted
        | Rejection::TiersInUse => Code::FailedPrecondition,
    };
    Status::new(code, r.to_string())
}

pub fn internal(cause: &dyn std::fmt::Display) -> Status {
    tracing::error!(error = %cause, "internal error");
    Status::internal("internal error")
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
            StoreError::Rejected(r) => rejection(r),
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
