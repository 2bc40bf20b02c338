//! The ledger gate: at most a few draws per campaign and engine process
//! wait on the campaign row's lock at once; the rest wait here.
//!
//! Every draw of a campaign takes the campaign row's lock on PostgreSQL and
//! holds it to commit. When many transactions wait on one row lock, each
//! commit wakes all of them, they race for the row, and all but one go back
//! to sleep: on a small machine that thundering herd costs more than the
//! draw itself (`../shared/BASELINES.md`: a hot row does 4.6k commits/s at
//! 4 clients and 1.6k/s at 64). A queue in the engine hands the row on
//! without waking anyone else. It changes no outcome: the row lock still
//! orders the draws, and other replicas or admin changes that bypass the
//! gate only wait on the row as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Draws of one campaign allowed at the row lock at once, per process: one
/// holding it and one queued right behind it, so the next starts as soon
/// as the holder commits. (1 and 2 measured the same here, BENCHMARKS.md.)
pub const LEDGER_GATE_PERMITS: usize = 2;

/// Campaigns remembered before idle gates are dropped.
const PRUNE_AT: usize = 4096;

#[derive(Default)]
pub struct LedgerGate {
    gates: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl LedgerGate {
    /// Waits for the campaign's turn; the turn ends when the permit drops.
    pub async fn enter(&self, campaign: &str) -> Option<OwnedSemaphorePermit> {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
            if gates.len() >= PRUNE_AT && !gates.contains_key(campaign) {
                // A gate nobody holds or waits for is only memory.
                gates.retain(|_, g| Arc::strong_count(g) > 1);
            }
            Arc::clone(
                gates
                    .entry(campaign.to_owned())
                    .or_insert_with(|| Arc::new(Semaphore::new(LEDGER_GATE_PERMITS))),
            )
        };
        // The semaphore is never closed, so this fails only in theory; a
        // draw without a permit is still correct, only less orderly.
        gate.acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_campaign_admits_its_permits_and_others_are_independent() {
        let gate = LedgerGate::default();
        let a1 = gate.enter("a").await;
        let a2 = gate.enter("a").await;
        assert!(a1.is_some() && a2.is_some());
        // A third draw of "a" waits; "b" does not.
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), gate.enter("a"));
        assert!(third.await.is_err(), "a third permit was given");
        assert!(gate.enter("b").await.is_some());
        drop(a1);
        let next = tokio::time::timeout(std::time::Duration::from_millis(500), gate.enter("a"));
        assert!(next.await.is_ok(), "a released permit was not handed on");
    }
}
