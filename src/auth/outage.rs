//! A store outage in the log: one line per interval, not one per refused request.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// How often an outage is reported while requests keep being refused.
pub(crate) const REPORT_INTERVAL_MS: u64 = 10_000;

/// No report yet.
const NEVER: u64 = u64::MAX;

/// Counts requests refused for an unavailable store and reports them at most once per
/// [`REPORT_INTERVAL_MS`] of the handle's clock.
#[derive(Debug)]
pub(crate) struct OutageLog {
    last_report_ms: AtomicU64,
    refused: AtomicU64,
}

impl Default for OutageLog {
    fn default() -> Self {
        Self {
            last_report_ms: AtomicU64::new(NEVER),
            refused: AtomicU64::new(0),
        }
    }
}

impl OutageLog {
    /// One request refused at `now_ms`; logs if the last report is an interval old.
    pub(crate) fn refused(&self, now_ms: u64) {
        self.refused.fetch_add(1, Relaxed);
        let last = self.last_report_ms.load(Relaxed);
        if last != NEVER && now_ms < last.saturating_add(REPORT_INTERVAL_MS) {
            return;
        }
        // One caller wins the report; the others count toward the next.
        if self
            .last_report_ms
            .compare_exchange(last, now_ms, Relaxed, Relaxed)
            .is_ok()
        {
            let refused = self.refused.swap(0, Relaxed);
            tracing::warn!(
                refused,
                "session store unavailable: requests refused with 503 (each error is at debug)"
            );
        }
    }
}
