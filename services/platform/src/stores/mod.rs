//! Stores: the merchant's shops as entities (issue 24). A store has the
//! merchant's own code (the `store_id` every POS key, template and
//! redemption carries), a name, a city, an address, an optional geo point
//! and a status. POS keys are bound to an OPEN store of their merchant,
//! coupon templates restrict to OPEN stores; closing a store revokes its
//! POS keys. Shared by both services: access makes POS keys here, the
//! coupon service's templates and figures read stores, and serves
//! `StoreAdminService`.
//!
//! - [`domain`]: what a store may be, the list's filter, the refusals.
//! - [`registry`]: the table, each change audited under an idempotency
//!   key, and the guard ([`registry::lock_open_stores`]).

pub mod domain;
pub mod registry;

pub use domain::{StoreRecord, StoreRefusal, StoreSpec, StoreStatus};
pub use registry::{StoreRegistry, UpdatedStore, lock_open_stores};
