//! A store outage in the log: one line per interval, not one per refused request.

use crate::throttle::Throttle;

/// Counts requests refused for an unavailable store and reports them at most once per
/// [`REPORT_INTERVAL_MS`](crate::throttle::REPORT_INTERVAL_MS) of the handle's clock.
#[derive(Debug, Default)]
pub(crate) struct OutageLog(Throttle);

impl OutageLog {
    /// One request refused at `now_ms`; logs if the last report is an interval old.
    pub(crate) fn refused(&self, now_ms: u64) {
        if let Some(refused) = self.0.count(now_ms) {
            tracing::warn!(
                refused,
                "session store unavailable: requests refused with 503 (each error is at debug)"
            );
        }
    }
}
