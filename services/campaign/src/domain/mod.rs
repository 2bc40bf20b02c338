//! Domain: the engine's rules as pure functions and types, no I/O.
//!
//! Everything here is deterministic given its inputs (the clock and random
//! bytes come in as arguments), so it is unit-tested exhaustively beside the
//! code. The storage layer calls these functions inside its transactions;
//! the transport layer converts protos into the validated types defined here.

pub mod activity;
pub mod csv;
pub mod fairness;
pub mod list;
pub mod money;
pub mod raffle;
pub mod shipping;
pub mod simulation;
pub mod vote;
pub mod webhook;
pub mod wheel;

// The rules every service shares (time, idempotency keys, credentials,
// player tokens, sealing) live in the platform crate; re-exported so the
// campaign's own paths stay as they were.
pub use platform::domain::{
    InvalidField, Millis, credential, hs256, idempotency, paging, player_token, seal,
};

use thiserror::Error;

/// A well-formed request that the current state refuses. Decided by the
/// store from guarded SQL; the transport maps each to one gRPC code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error(
        "the campaign is {0}; only a draft can be edited (a published wheel's odds, prizes and stock cannot change)"
    )]
    NotDraft(&'static str),
    #[error("cannot {action} a campaign that is {from}")]
    InvalidTransition {
        from: &'static str,
        action: &'static str,
    },
    #[error("the campaign is {0}, not running")]
    NotRunning(&'static str),
    /// Personal data is erased only once the campaign is over.
    #[error("the campaign is {0}; personal data is erased once it has ENDED")]
    NotEnded(&'static str),
    /// A player acting on a DRAFT campaign: it exists but is not open yet.
    #[error("the campaign is a draft: it is not published yet")]
    DraftNotOpen,
    #[error("the campaign has not started yet")]
    NotStarted,
    #[error("the campaign's time window is over")]
    WindowOver,
    #[error("no draws left today")]
    NoChancesToday,
    #[error("no draws left in this campaign")]
    NoChancesLeft,
    #[error("a wheel has at most {0} slots")]
    TooManySlots(usize),
    #[error("publishing needs at least one slot with weight > 0")]
    NoWeightedSlot,
    #[error("publishing needs a fallback slot (SetFallbackSlot)")]
    NoFallback,
    #[error("the fallback slot must be a THANKS slot")]
    FallbackNotThanks,
    #[error("the fallback slot must keep kind THANKS")]
    FallbackKindChange,
    #[error("slot {0} does not exist")]
    NoSuchSlot(u32),
    #[error("this prize is not a physical item")]
    NotPhysical,
    #[error("the prize is {0}; only a WON prize can be claimed")]
    NotClaimable(&'static str),
    #[error("the claim deadline has passed; the prize expired")]
    ClaimExpired,
    #[error("the prize is {0}; only a CLAIMED prize can be shipped")]
    NotShippable(&'static str),
    #[error("this idempotency key was used with a different request")]
    IdempotencyKeyReused,
    #[error("a campaign with this id already exists")]
    CampaignExists,
    #[error("the campaign is not published yet; there is nothing to verify")]
    NotPublished,
    #[error(
        "the campaign is {0}; only a published or paused wheel can be revised (edit a draft directly)"
    )]
    NotRevisable(&'static str),
    #[error("a revision keeps the wheel's {0} slots, in order")]
    SlotCountChange(usize),
    #[error("slot {index}: {won} already won, the new stock cannot be lower")]
    StockBelowWon { index: u32, won: i64 },
    #[error("the budget has only {available} cents available")]
    BudgetShort { available: i64 },
    #[error("the campaign's budget is spent")]
    BudgetSpent,
    #[error("the red packet has expired")]
    PacketExpired,
    #[error("every part of the red packet has been grabbed")]
    PacketEmpty,
    #[error("this player already grabbed the red packet")]
    AlreadyGrabbed,
    #[error(
        "the cash prizes need {needed} more cents reserved, the budget has {available} available (FundBudget first)"
    )]
    CashPrizesUnfunded { needed: i64, available: i64 },
    #[error("voting is not set up for this campaign (SetVoteRules)")]
    VotingNotSetUp,
    #[error("this campaign does not let players register as candidates")]
    RegistrationClosed,
    #[error("a candidate with this name already exists in the campaign")]
    CandidateExists,
    #[error("the candidate is {0}; only a pending one can be reviewed")]
    NotPending(&'static str),
    #[error("{0}")]
    VoteCap(&'static str),
    #[error("the vote is already invalidated")]
    VoteNotAccepted,
    #[error("tiers cannot be replaced once one has been granted (only `enabled` can change)")]
    TiersInUse,
    /// A call of an activity the campaign does not hold.
    #[error("the campaign has no {0} activity (AttachActivity adds one)")]
    NoActivity(&'static str),
    #[error("the campaign already has the {0} activity")]
    ActivityAttached(&'static str),
    /// A raffle run before its cut-off: its entrants are not fixed yet.
    #[error("the raffle's entries close at {0} (Unix ms); it can be run only after")]
    RaffleNotDue(i64),
    /// A field the current state makes invalid (a raffle's cut-off
    /// against the clock and the campaign's window).
    #[error("{0}")]
    Invalid(InvalidField),
    #[error("a campaign holds at most {0} raffles")]
    TooManyRaffles(i64),
    #[error("a merchant registers at most {0} webhook endpoints; delete one first")]
    TooManyEndpoints(i64),
}
