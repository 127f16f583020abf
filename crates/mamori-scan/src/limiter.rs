//! Spaces requests evenly at the configured rate. Every request and connection to the
//! target waits here, so the rate holds whatever order the checks run in.

use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// An even-spacing rate limiter: the n-th caller is let through at `start + n / rate`.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `per_second` must be positive (checked by [`crate::ScanConfig::validate`]).
    pub fn new(per_second: f64) -> RateLimiter {
        let per_second = if per_second.is_finite() && per_second > 0.0 {
            per_second
        } else {
            1.0
        };
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(None),
        }
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = match *next {
                Some(t) if t > now => t,
                _ => now,
            };
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ten_requests_at_twenty_per_second_take_nearly_half_a_second() {
        let limiter = std::sync::Arc::new(RateLimiter::new(20.0));
        let start = std::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let l = limiter.clone();
            tasks.push(tokio::spawn(async move { l.acquire().await }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(440), "{took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
    }
}
