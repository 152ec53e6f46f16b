//! Waiting out AWS eventual consistency. The SDK already retries throttling and transient
//! network errors; this covers errors that are *correct answers* for a short while after a
//! change elsewhere (a new IAM role not yet visible to EKS), which the SDK cannot know about.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long AWS documents such propagation can take, with a margin.
pub const IAM_PROPAGATION: Duration = Duration::from_secs(120);

/// Calls `op` until it succeeds, fails with an error `is_transient` rejects, the deadline
/// passes, or the CLI asks us to stop. The last error is returned in the latter cases.
pub async fn until_consistent<T, E, F, Fut>(what: &str, deadline: Duration, is_transient: impl Fn(&E) -> bool, op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_with_backoff(what, deadline, Duration::from_millis(500), is_transient, op).await
}

/// The loop behind [`until_consistent`], with the first delay as a parameter (doubling, capped
/// at 10 s) so tests can run it in milliseconds.
async fn retry_with_backoff<T, E, F, Fut>(
    what: &str,
    deadline: Duration,
    first_delay: Duration,
    is_transient: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let mut delay = first_delay;
    let mut attempt = 1u32;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if is_transient(&e) && start.elapsed() + delay < deadline && !crate::framework::cancel::is_stopped() => {
                tracing::debug!(what, attempt, delay_ms = delay.as_millis() as u64, "waiting for AWS to become consistent");
                tokio::time::sleep(delay).await;
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

    #[tokio::test]
    async fn retries_transient_errors_until_success() {
        let calls = Cell::new(0);
        let r: Result<u32, &str> = retry_with_backoff(
            "t",
            Duration::from_secs(60),
            Duration::from_millis(1),
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
        let r: Result<(), &str> = retry_with_backoff(
            "t",
            Duration::from_secs(60),
            Duration::from_millis(1),
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
        let r: Result<(), &str> = retry_with_backoff(
            "t",
            Duration::from_millis(100),
            Duration::from_millis(1),
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
}
