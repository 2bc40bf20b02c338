//! One exhaustive mapping from the lower layers' errors to gRPC statuses.
//! Client faults get precise codes and messages; internal faults are logged
//! with their cause and answered with a fixed message.

use tonic::{Code, Status};

use crate::{domain::Rejection, store::Refusal};

pub use platform::grpc::{internal, invalid};

/// The campaign's refusals answer with their own codes.
impl Refusal for Rejection {
    fn code(&self) -> Code {
        rejection_code(self)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub fn rejection(r: Rejection) -> Status {
    Status::new(rejection_code(&r), r.to_string())
}

fn rejection_code(r: &Rejection) -> Code {
    match r {
        Rejection::NoChancesToday
        | Rejection::NoChancesLeft
        | Rejection::TooManySlots(_)
        | Rejection::BudgetShort { .. }
        | Rejection::BudgetSpent
        | Rejection::PacketEmpty
        | Rejection::CashPrizesUnfunded { .. }
        | Rejection::TooManyRaffles(_)
        | Rejection::TooManyEndpoints(_)
        | Rejection::VoteCap(_) => Code::ResourceExhausted,
        Rejection::CampaignExists
        | Rejection::AlreadyGrabbed
        | Rejection::CandidateExists
        | Rejection::ActivityAttached(_) => Code::AlreadyExists,
        Rejection::NoSuchSlot(_) => Code::NotFound,
        Rejection::Invalid(_) => Code::InvalidArgument,
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
        | Rejection::NotPublished
        | Rejection::NotRevisable(_)
        | Rejection::SlotCountChange(_)
        | Rejection::StockBelowWon { .. }
        | Rejection::PacketExpired
        | Rejection::VotingNotSetUp
        | Rejection::RegistrationClosed
        | Rejection::NotPending(_)
        | Rejection::VoteNotAccepted
        | Rejection::TiersInUse
        | Rejection::NoActivity(_)
        | Rejection::RaffleNotDue(_)
        | Rejection::NotEnded(_) => Code::FailedPrecondition,
    }
}
