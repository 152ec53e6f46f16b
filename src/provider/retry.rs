//! Waiting out AWS eventual consistency. The SDK already retries throttling and transient
//! network errors; this covers errors that are *correct answers* for a short while after a
//! change elsewhere (a new IAM role not yet visible to EKS), which the SDK cannot know about.
//! It also retries throttling for calls whose SDK retry is off because resending them blindly
//! is unsafe (CreateCertificateFromCsr). Every retry loop of the provider is here.

use crate::framework::cancel::{self, Canceller};
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
pub async fn retry_while<T, E, F, Fut>(what: &str, backoff: Backoff, should_retry: impl Fn(&E) -> bool, op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_until_stopped(cancel::process(), what, backoff, should_retry, op).await
}

/// Waits for `delay` between two attempts of something AWS may accept later (a re-send, a poll),
/// unless the CLI asks us to stop (StopProvider) first: then it returns at once, with `false`.
/// Callers give up on `false` rather than try again.
pub async fn sleep_unless_stopped(delay: Duration) -> bool {
    cancel::sleep(delay).await
}

/// [`retry_while`] with the stop signal passed in, so tests can stop their own.
async fn retry_until_stopped<T, E, F, Fut>(
    stop: &Canceller,
    what: &str,
    backoff: Backoff,
    should_retry: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
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
                    && !stop.is_stopped() =>
            {
                let wait = jittered(delay);
                tracing::debug!(what, attempt, delay_ms = wait.as_millis() as u64, "retrying after a transient error");
                if !stop.sleep(wait).await {
                    // StopProvider arrived during the wait: give up with the last error now,
                    // not after the delay and one more call.
                    tracing::debug!(what, attempt, "retry abandoned: the CLI asked the provider to stop");
                    return Err(e);
                }
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
    async fn a_stop_during_the_wait_ends_the_retries_at_once() {
        let stop = std::sync::Arc::new(Canceller::new());
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        // A first delay far longer than the test may take: only the stop can end the wait.
        let backoff = Backoff { first_delay: Duration::from_secs(600), ..Backoff::until(Duration::from_secs(3600)) };
        let task = {
            let (stop, calls) = (stop.clone(), calls.clone());
            tokio::spawn(async move {
                retry_until_stopped(
                    &stop,
                    "t",
                    backoff,
                    |_| true,
                    || {
                        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        async { Err::<(), _>("not yet") }
                    },
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let start = Instant::now();
        stop.stop();
        let r = tokio::time::timeout(Duration::from_secs(5), task).await.expect("the stop ends the wait").unwrap();
        assert_eq!(r, Err("not yet"));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1, "no call after the stop");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn once_stopped_a_failure_is_not_retried() {
        let stop = Canceller::new();
        stop.stop();
        let calls = Cell::new(0);
        let r: Result<(), &str> = retry_until_stopped(
            &stop,
            "t",
            fast(Duration::from_secs(60)),
            |_| true,
            || {
                calls.set(calls.get() + 1);
                async { Err("not yet") }
            },
        )
        .await;
        assert_eq!(r, Err("not yet"));
        assert_eq!(calls.get(), 1);
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
