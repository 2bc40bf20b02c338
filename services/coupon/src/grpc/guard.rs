//! Code-guessing resistance at the till (RELIABILITY.md 5.4): failed
//! lookups (a code that does not exist, or a mistyped one) are counted per
//! POS credential; past `limit` failures within `window_ms` the credential
//! is answered RESOURCE_EXHAUSTED until the oldest failure leaves the
//! window. Kept in memory per replica, like the player rate limit.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use platform::domain::Millis;
use tonic::Status;

pub struct TillGuard {
    limit: usize,
    window_ms: Millis,
    failures: Mutex<HashMap<String, VecDeque<Millis>>>,
}

const MAX_TRACKED: usize = 100_000;

impl TillGuard {
    /// `limit == 0` disables the guard.
    pub fn new(limit: u32, window_ms: Millis) -> Self {
        Self {
            limit: limit as usize,
            window_ms,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn locked(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, VecDeque<Millis>>>, Status> {
        self.failures
            .lock()
            .map_err(|_| Status::internal("internal error"))
    }

    /// RESOURCE_EXHAUSTED while `key_id` is locked out.
    pub fn check(&self, key_id: &str, now: Millis) -> Result<(), Status> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut map = self.locked()?;
        if let Some(q) = map.get_mut(key_id) {
            while q.front().is_some_and(|&t| t <= now - self.window_ms) {
                q.pop_front();
            }
            if q.len() >= self.limit {
                tracing::warn!(key.id = %key_id, failures = q.len(),
                    "till locked out after repeated failed coupon lookups");
                return Err(Status::resource_exhausted(
                    "too many failed coupon lookups from this till; wait and try again",
                ));
            }
        }
        Ok(())
    }

    /// Records one failed lookup.
    pub fn record_failure(&self, key_id: &str, now: Millis) -> Result<(), Status> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut map = self.locked()?;
        if map.len() > MAX_TRACKED {
            let horizon = now - self.window_ms;
            map.retain(|_, q| q.back().is_some_and(|&t| t > horizon));
        }
        let q = map.entry(key_id.to_owned()).or_default();
        q.push_back(now);
        while q.len() > self.limit {
            q.pop_front();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_the_limit_and_recovers_after_the_window() {
        let g = TillGuard::new(3, 1000);
        for t in 0..3 {
            assert!(g.check("k", t).is_ok());
            g.record_failure("k", t).expect("record");
        }
        assert_eq!(
            g.check("k", 10).map_err(|s| s.code()),
            Err(tonic::Code::ResourceExhausted)
        );
        assert!(g.check("other", 10).is_ok(), "per credential");
        assert!(g.check("k", 999).is_err());
        assert!(
            g.check("k", 1000).is_ok(),
            "the first failure left the window"
        );
        assert!((0..50).all(|t| {
            let off = TillGuard::new(0, 1000);
            off.record_failure("k", t).is_ok() && off.check("k", t).is_ok()
        }));
    }
}
