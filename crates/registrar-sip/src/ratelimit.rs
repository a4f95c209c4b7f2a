//! Per-source rate limits: a token bucket per IP address, driven by the caller's `now` (sans-IO).
//!
//! `governor` would do the same with its own clock; this crate takes time as an argument everywhere, so a
//! forty-line bucket is simpler than adapting a clock. The table is bounded: idle sources are swept.

use std::net::IpAddr;

use dashmap::DashMap;
use registrar_types::Timestamp;

/// A token bucket per source address.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: DashMap<IpAddr, Bucket>,
    max_sources: usize,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
}

impl RateLimiter {
    /// `per_sec` requests a second per source with bursts up to `burst`, for at most `max_sources` sources
    /// tracked at once.
    pub fn new(per_sec: u32, burst: u32, max_sources: usize) -> Self {
        Self {
            per_sec: f64::from(per_sec.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: DashMap::new(),
            max_sources: max_sources.max(1),
        }
    }

    /// Take a token for a request from `ip`: `None` when allowed, or the seconds to wait (for
    /// `Retry-After`) when over the limit.
    pub fn check(&self, now: Timestamp, ip: IpAddr) -> Option<u32> {
        let now_ms = now.as_millis();
        if self.buckets.len() >= self.max_sources && !self.buckets.contains_key(&ip) {
            self.sweep(now);
        }
        let mut b = self.buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            at_ms: now_ms,
        });
        #[allow(clippy::cast_precision_loss)]
        let elapsed = now_ms.saturating_sub(b.at_ms) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * self.per_sec).min(self.burst);
        b.at_ms = now_ms;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            None
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let wait = ((1.0 - b.tokens) / self.per_sec).ceil().max(1.0) as u32;
            Some(wait)
        }
    }

    /// Forget sources whose buckets are full again (idle long enough); if every source is still busy, forget
    /// them all (each starts again with a full bucket), so the table never grows past its bound.
    pub fn sweep(&self, now: Timestamp) {
        let now_ms = now.as_millis();
        let refill_ms = (self.burst / self.per_sec * 1000.0).ceil();
        self.buckets.retain(|_, b| {
            #[allow(clippy::cast_precision_loss)]
            let idle = now_ms.saturating_sub(b.at_ms) as f64;
            idle < refill_ms
        });
        if self.buckets.len() >= self.max_sources {
            self.buckets.clear();
        }
    }

    /// How many sources are tracked.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_limit_then_refill() {
        let r = RateLimiter::new(10, 5, 100);
        let ip: IpAddr = [192, 0, 2, 1].into();
        let t = Timestamp::from_secs(100);
        for _ in 0..5 {
            assert_eq!(r.check(t, ip), None);
        }
        assert_eq!(r.check(t, ip), Some(1));
        assert_eq!(r.check(Timestamp::from_millis(100_200), ip), None);
        // Another source has its own bucket.
        assert_eq!(r.check(t, [192, 0, 2, 2].into()), None);
    }

    #[test]
    fn the_table_stays_bounded() {
        let r = RateLimiter::new(10, 5, 50);
        let t = Timestamp::from_secs(100);
        for i in 0..1000u32 {
            let _ = r.check(t, IpAddr::from(i.to_be_bytes()));
        }
        assert!(r.tracked() <= 50);
    }
}
