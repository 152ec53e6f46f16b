//! Cancellation requested by the CLI (`StopProvider`, e.g. after Ctrl-C). One provider serves
//! one process, so a process-wide flag is enough; long waits (retries for eventual
//! consistency) poll it and give up promptly.

use std::sync::atomic::{AtomicBool, Ordering};

static STOPPED: AtomicBool = AtomicBool::new(false);

pub fn stop() {
    STOPPED.store(true, Ordering::SeqCst);
}

pub fn is_stopped() -> bool {
    STOPPED.load(Ordering::SeqCst)
}
