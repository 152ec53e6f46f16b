//! Cancellation requested by the CLI (`StopProvider`, e.g. after Ctrl-C). One provider serves
//! one process, so a process-wide signal is enough: long waits (retries for eventual
//! consistency, re-sends) check it before waiting and are woken by it while they wait, so they
//! give up promptly instead of sleeping out their delay.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// A stop signal: a flag that stays set once raised, and a wake-up for those waiting on it.
/// The process has one ([`stop`], [`is_stopped`], [`sleep`]); tests make their own.
pub struct Canceller {
    stopped: AtomicBool,
    wake: Notify,
}

impl Canceller {
    pub const fn new() -> Self {
        Canceller { stopped: AtomicBool::new(false), wake: Notify::const_new() }
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Waits for `delay`, or less if a stop is requested before it ends. Returns `true` when the
    /// whole delay passed, `false` when cut short (or already stopped: then it does not wait).
    pub async fn sleep(&self, delay: Duration) -> bool {
        let woken = self.wake.notified();
        tokio::pin!(woken);
        // Registered before the flag is read: a stop() between the two still wakes us.
        woken.as_mut().enable();
        if self.is_stopped() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = woken => false,
        }
    }
}

impl Default for Canceller {
    fn default() -> Self {
        Self::new()
    }
}

static PROCESS: Canceller = Canceller::new();

/// The process-wide stop signal, for code that takes a [`Canceller`].
pub fn process() -> &'static Canceller {
    &PROCESS
}

pub fn stop() {
    PROCESS.stop();
}

pub fn is_stopped() -> bool {
    PROCESS.is_stopped()
}

/// Waits for `delay` unless the CLI asks us to stop first; `false` when cut short.
pub async fn sleep(delay: Duration) -> bool {
    PROCESS.sleep(delay).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[tokio::test]
    async fn a_stop_cuts_a_sleep_short() {
        let c = Arc::new(Canceller::new());
        let sleeper = {
            let c = c.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                (c.sleep(Duration::from_secs(30)).await, start.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.stop();
        let (slept, took) = tokio::time::timeout(Duration::from_secs(5), sleeper).await.expect("woken by stop").unwrap();
        assert!(!slept);
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[tokio::test]
    async fn once_stopped_sleeps_return_at_once() {
        let c = Canceller::new();
        c.stop();
        let start = Instant::now();
        assert!(!c.sleep(Duration::from_secs(30)).await);
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn without_a_stop_the_whole_delay_passes() {
        let c = Canceller::new();
        let start = Instant::now();
        assert!(c.sleep(Duration::from_millis(30)).await);
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
