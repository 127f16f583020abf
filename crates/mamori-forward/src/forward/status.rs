//! What the forwarder has done, for the status page, and the once-per-change logging of the
//! console's reachability.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const QUIET: Duration = Duration::from_secs(60);

/// A snapshot for the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardStatus {
    /// Alerts put on the wire, resends included.
    pub sent: u64,
    /// Alerts removed from the backlog because the console answered for them (taken or
    /// refused).
    pub acknowledged: u64,
    /// Alerts the console refused as invalid; logged and acknowledged, never resent.
    pub refused: u64,
    /// Requests that failed and will be (or were) tried again.
    pub retries: u64,
    /// When the console last answered a request with success (Unix ms).
    pub last_success_ms: Option<i64>,
    /// Why delivery is failing right now; `None` while it works.
    pub last_error: Option<String>,
    pub backlog_events: u64,
    pub backlog_bytes: u64,
    /// The `time` of the oldest alert not yet acknowledged (Unix ms), for the lag display.
    pub oldest_unsent_ms: Option<i64>,
}

/// Shared counters plus the current failure kind, so a failing console is logged once when
/// it starts failing (or fails differently) and once when it recovers, not per retry. A
/// console that flaps (one 500 in ten) is warned about at most once per [`QUIET`] per kind
/// of failure; the rest goes to debug.
#[derive(Default)]
pub(crate) struct StatusCell {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    status: ForwardStatus,
    failing: Option<String>,
    failures_since_success: u64,
    /// The last warning's kind and time.
    warned: Option<(String, Instant)>,
    /// Whether this failing spell was warned about (then its end is logged too).
    spell_warned: bool,
}

/// One failed attempt: `kind` is stable across identical failures ("HTTP 503",
/// "connect"), `message` is for people.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: String,
    pub message: String,
}

impl StatusCell {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn snapshot(&self) -> ForwardStatus {
        self.lock().status.clone()
    }

    pub fn sent(&self, events: u64) {
        self.lock().status.sent += events;
    }

    pub fn acknowledged(&self, events: u64) {
        self.lock().status.acknowledged += events;
    }

    pub fn refused(&self, events: u64) {
        self.lock().status.refused += events;
    }

    pub fn success(&self, url: &str) {
        let mut inner = self.lock();
        inner.status.last_success_ms = Some(mamori_core::now_ms());
        inner.status.last_error = None;
        if inner.failing.take().is_some() && std::mem::take(&mut inner.spell_warned) {
            tracing::info!(
                url,
                failed_attempts = inner.failures_since_success,
                "console reachable again; sending the backlog"
            );
        }
        inner.failures_since_success = 0;
    }

    pub fn failure(&self, url: &str, f: &Failure) {
        let mut inner = self.lock();
        inner.status.retries += 1;
        inner.failures_since_success += 1;
        inner.status.last_error = Some(f.message.clone());
        if inner.failing.as_deref() == Some(f.kind.as_str()) {
            return;
        }
        inner.failing = Some(f.kind.clone());
        let recently = inner
            .warned
            .as_ref()
            .is_some_and(|(kind, at)| *kind == f.kind && at.elapsed() < QUIET);
        if recently {
            tracing::debug!(url, error = %f.message, "console delivery failed again; retrying");
        } else {
            tracing::warn!(url, error = %f.message, "cannot deliver events to the console; keeping them in the spool and retrying");
            inner.warned = Some((f.kind.clone(), Instant::now()));
            inner.spell_warned = true;
        }
    }

    /// A failure outside the HTTP exchange (reading or acknowledging the spool).
    pub fn spool_error(&self, message: String) {
        self.lock().status.last_error = Some(message);
    }
}
