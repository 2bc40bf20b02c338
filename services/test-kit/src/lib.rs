//! Helpers the test suites share (a dev-dependency only). Today: raw
//! HTTP/2 for the hostile-client tests ([`h2raw`]), used both by the
//! in-process suite (`campaign/tests/api/limits.rs`) and by the tests that
//! attack the real `campaign-engine` binary (`engine/tests/hostile.rs`).

pub mod h2raw;
