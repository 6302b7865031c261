//! A count reported at most once per interval of a caller's clock: a store outage, or
//! dropped audit events, make one log line per interval, not one per occurrence.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// How often a throttled count is reported while it keeps growing.
pub(crate) const REPORT_INTERVAL_MS: u64 = 10_000;

/// No report yet.
const NEVER: u64 = u64::MAX;

/// Occurrences since the last report, and when that was.
#[derive(Debug)]
pub(crate) struct Throttle {
    last_report_ms: AtomicU64,
    count: AtomicU64,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            last_report_ms: AtomicU64::new(NEVER),
            count: AtomicU64::new(0),
        }
    }
}

impl Throttle {
    /// Counts one occurrence at `at_ms`; the count to report (this one included) if the
    /// last report is an interval old, else `None`.
    pub(crate) fn count(&self, at_ms: u64) -> Option<u64> {
        self.count.fetch_add(1, Relaxed);
        let last = self.last_report_ms.load(Relaxed);
        if last != NEVER && at_ms < last.saturating_add(REPORT_INTERVAL_MS) {
            return None;
        }
        // One caller wins the report; the others count toward the next.
        self.last_report_ms
            .compare_exchange(last, at_ms, Relaxed, Relaxed)
            .is_ok()
            .then(|| self.count.swap(0, Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_once_per_interval_with_the_count() {
        let log = Throttle::default();
        assert_eq!(log.count(5_000), Some(1), "the first at once");
        assert_eq!(log.count(5_001), None);
        assert_eq!(log.count(14_999), None);
        assert_eq!(
            log.count(15_000),
            Some(3),
            "then the count since the last line"
        );
        assert_eq!(log.count(15_000), None);
        // A caller's clock behind the last report's delays the next, never repeats it.
        assert_eq!(log.count(1_000), None);
        assert_eq!(log.count(25_000), Some(3));
    }
}
