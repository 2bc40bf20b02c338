//! The harness the test suites share, a dev-dependency only (it replaced
//! the `#[path]` includes of one suite's files by the others):
//!
//! - [`harness`]: a real engine on a port-0 listener over a fresh database
//!   (SQLite, or a new database on the cluster named by
//!   `CAMPAIGN_TEST_PG_URL`), typed clients, direct SQL for the invariant
//!   checks; [`coupon_peer`] stands in for the coupon service.
//! - [`coupon_kit`]: the whole engine with the coupon services, and their
//!   clients, builders and invariant checks.
//! - [`log_capture`]: every log line at TRACE, for the suites that prove
//!   secrets never reach the logs.
//! - [`h2raw`]: raw HTTP/2 for the hostile-client tests; [`exports`]:
//!   exports held open unread, and drained.

pub mod coupon_kit;
pub mod coupon_peer;
pub mod exports;
pub mod h2raw;
pub mod harness;
pub mod log_capture;
pub mod webhook_receiver;
