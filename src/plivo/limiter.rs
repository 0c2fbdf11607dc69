//! The account-wide request limit: Plivo allows 300 requests per 5 seconds (non-call APIs).
//! Every request the client sends waits here first, so a sync running flat out and a person
//! verifying a number share the budget and neither gets a 429.
//!
//! A sliding window over the send times of the last `max` requests, rather than a token bucket
//! (`governor`): a bucket that never exceeds 300 in any 5-second window must run at well under
//! the limit, and the sync's speed target is measured against the limit itself.

use std::{
    collections::VecDeque,
    sync::{Mutex, PoisonError},
    time::Duration,
};
use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    max: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    pub fn new(max: usize, window: Duration) -> Self {
        Self {
            max: max.max(1),
            window,
            sent: Mutex::new(VecDeque::with_capacity(max)),
        }
    }

    /// Plivo's documented limit.
    pub fn plivo() -> Self {
        Self::new(300, Duration::from_secs(5))
    }

    /// Waits until one more request fits in the window, and counts it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                while sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    sent.pop_front();
                }
                if sent.len() < self.max {
                    sent.push_back(now);
                    return;
                }
                match sent.front() {
                    Some(oldest) => self.window.saturating_sub(now.duration_since(*oldest)),
                    None => Duration::ZERO,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_the_limit() {
        let limiter = RateLimiter::new(3, Duration::from_secs(5));
        let began = Instant::now();
        let mut times = Vec::new();
        for _ in 0..7 {
            limiter.acquire().await;
            times.push(began.elapsed());
        }
        // Three at once, three more five seconds later, one after ten.
        assert_eq!(
            times,
            [0, 0, 0, 5, 5, 5, 10].map(Duration::from_secs).to_vec()
        );
    }
}
