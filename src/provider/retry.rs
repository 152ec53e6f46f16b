//! Waiting out AWS eventual consistency. The SDK already retries throttling and transient
//! network errors; this covers errors that are *correct answers* for a short while after a
//! change elsewhere (a new IAM role not yet visible to EKS), which the SDK cannot know about.
//! It also retries throttling for calls whose SDK retry is off because resending them blindly
//! is unsafe (CreateCertificateFromCsr). Every retry loop of the provider is here.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long AWS documents such propagation can take, with a margin.
pub const IAM_PROPAGATION: Duration = Duration::from_secs(120);

/// How often and how long to retry: delays start at `first_delay` and double, capped at 10 s;
/// the last error is returned after `max_attempts` calls, or once the next delay would end
/// past `deadline` (measured from the first call).
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub first_delay: Duration,
    pub max_attempts: u32,
    pub deadline: Option<Duration>,
}

impl Backoff {
    /// Waiting for a change to become visible: as many attempts as fit before `deadline`.
    pub const fn until(deadline: Duration) -> Backoff {
        Backoff { first_delay: Duration::from_millis(500), max_attempts: u32::MAX, deadline: Some(deadline) }
    }

    /// A call AWS refused (throttling) and that is safe to resend: a few attempts, no deadline.
    pub const fn attempts(max_attempts: u32) -> Backoff {
        Backoff { first_delay: Duration::from_millis(500), max_attempts, deadline: None }
    }
}

/// Between half of `delay` and all of it, at random: the many resources a CLI applies in
/// parallel, throttled together, must not all come back at the same instant ("equal jitter").
pub fn jittered(delay: Duration) -> Duration {
    use std::hash::BuildHasher;
    // A fresh RandomState is seeded randomly: enough randomness for spreading retries, with no
    // dependency for it.
    let draw = std::collections::hash_map::RandomState::new().hash_one(Instant::now()) % 1024;
    let half = delay / 2;
    half + half.mul_f64(draw as f64 / 1023.0)
}

/// Calls `op` until it succeeds, fails with an error `is_transient` rejects, the deadline
/// passes, or the CLI asks us to stop. The last error is returned in the latter cases.
pub async fn until_consistent<T, E, F, Fut>(what: &str, deadline: Duration, is_transient: impl Fn(&E) -> bool, op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_while(what, Backoff::until(deadline), is_transient, op).await
}

/// Calls `op` again, after a growing delay, while it fails with an error `should_retry`
/// accepts, within `backoff`'s limits, and until the CLI asks us to stop; returns the first
/// success or the last error.
pub async fn retry_while<T, E, F, Fut>(what: &str, backoff: Backoff, should_retry: impl Fn(&E) -> bool, mut op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let mut delay = backoff.first_delay;
    let mut attempt = 1u32;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e)
                if should_retry(&e)
                    && attempt < backoff.max_attempts
                    && backoff.deadline.is_none_or(|d| start.elapsed() + delay < d)
                    && !crate::framework::cancel::is_stopped() =>
            {
                let wait = jittered(delay);
                tracing::debug!(what, attempt, delay_ms = wait.as_millis() as u64, "retrying after a transient error");
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn fast(deadline: Duration) -> Backoff {
        Backoff { first_delay: Duration::from_millis(1), ..Backoff::until(deadline) }
    }

    #[test]
    fn jitter_stays_within_half_and_all_of_the_delay_and_varies() {
        let delay = Duration::from_millis(800);
        let draws: Vec<Duration> = (0..64).map(|_| jittered(delay)).collect();
        assert!(draws.iter().all(|d| *d >= delay / 2 && *d <= delay), "{draws:?}");
        assert!(draws.iter().any(|d| *d != draws[0]), "64 equal draws: no jitter");
    }

    #[tokio::test]
    async fn retries_transient_errors_until_success() {
        let calls = Cell::new(0);
        let r: Result<u32, &str> = retry_while(
            "t",
            fast(Duration::from_secs(60)),
            |e| *e == "not yet",
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 3 {
                        Err("not yet")
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(r, Ok(3));
    }

    #[tokio::test]
    async fn permanent_errors_return_at_once() {
        let calls = Cell::new(0);
        let r: Result<(), &str> = retry_while(
            "t",
            fast(Duration::from_secs(60)),
            |e| *e == "not yet",
            || {
                calls.set(calls.get() + 1);
                async { Err("denied") }
            },
        )
        .await;
        assert_eq!(r, Err("denied"));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test]
    async fn gives_up_at_the_deadline() {
        let calls = Cell::new(0);
        let r: Result<(), &str> = retry_while(
            "t",
            fast(Duration::from_millis(100)),
            |_| true,
            || {
                calls.set(calls.get() + 1);
                async { Err("not yet") }
            },
        )
        .await;
        assert_eq!(r, Err("not yet"));
        assert!(calls.get() >= 2 && calls.get() < 10, "{}", calls.get());
    }

    #[tokio::test]
    async fn stops_after_the_last_attempt() {
        let calls = Cell::new(0);
        let backoff = Backoff { first_delay: Duration::from_millis(1), ..Backoff::attempts(3) };
        let r: Result<(), &str> = retry_while(
            "t",
            backoff,
            |e| *e == "throttled",
            || {
                calls.set(calls.get() + 1);
                async { Err("throttled") }
            },
        )
        .await;
        assert_eq!(r, Err("throttled"));
        assert_eq!(calls.get(), 3);
    }
}
