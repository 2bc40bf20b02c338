//! Per-caller rate limits (token buckets), against bots scalping a wheel
//! (OWASP API6). Kept in memory per replica: with N replicas a caller gets
//! at most N times the rate, which is the documented trade-off for not
//! putting a shared counter on every request.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use tonic::Status;

pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

/// Buckets idle this long are forgotten when the map grows large.
const IDLE: Duration = Duration::from_secs(120);
const MAX_TRACKED: usize = 100_000;

impl RateLimiter {
    /// `per_sec == 0` disables the limit.
    pub fn new(per_sec: u32, burst: u32) -> Self {
        Self {
            per_sec: f64::from(per_sec),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `who`, or RESOURCE_EXHAUSTED.
    pub fn check(&self, who: &str) -> Result<(), Status> {
        if self.per_sec <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| Status::internal("internal error"))?;
        if buckets.len() > MAX_TRACKED {
            buckets.retain(|_, (_, last)| now.duration_since(*last) < IDLE);
        }
        let (tokens, last) = buckets.entry(who.to_owned()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_sec).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Status::resource_exhausted(
                "too many requests from this player; slow down",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let l = RateLimiter::new(1000, 3);
        assert!((0..3).all(|_| l.check("a").is_ok()));
        assert_eq!(
            l.check("a").map_err(|s| s.code()),
            Err(tonic::Code::ResourceExhausted)
        );
        assert!(l.check("b").is_ok(), "buckets are per caller");
        std::thread::sleep(Duration::from_millis(5));
        assert!(l.check("a").is_ok(), "tokens come back with time");
        assert!(
            (0..100).all(|_| RateLimiter::new(0, 1).check("x").is_ok()),
            "0 disables"
        );
    }
}
