//! Service-wide counters behind `/metrics` and `/api/health`: plain atomics
//! that actors bump on their own threads and scrapes read without asking any
//! actor.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Upper bounds of the database write latency buckets, in seconds.
pub const WRITE_LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Why a WebSocket message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropCause {
    /// The client fell more than `broadcast_buffer` messages behind.
    SlowClient,
    /// The connection ended with messages still queued.
    Disconnected,
}

/// What happened to a history backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackfillOutcome {
    Started,
    Done,
    Failed,
    GivenUp,
}

/// Counters of one running service.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    live_stored: AtomicU64,
    history_stored: AtomicU64,
    /// Rows in the table: counted at start, then kept up to date.
    rows: AtomicI64,
    store_failures: AtomicU64,
    storage_fault: Mutex<Option<String>>,
    /// Readings waiting for the database to take writes again.
    queued: AtomicU64,
    /// Readings dropped from a full storage queue.
    lost: AtomicU64,
    pruned: AtomicU64,
    messages_sent: AtomicU64,
    dropped_slow_client: AtomicU64,
    dropped_disconnected: AtomicU64,
    backfills: [AtomicU64; 4],
    write_latency: Histogram,
}

/// Counts of observations at or below each bound of
/// [`WRITE_LATENCY_BUCKETS`] (not cumulative; the last slot is `+Inf`).
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; WRITE_LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// A histogram as read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, observations at or below it)`, cumulative.
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            live_stored: AtomicU64::new(0),
            history_stored: AtomicU64::new(0),
            rows: AtomicI64::new(0),
            store_failures: AtomicU64::new(0),
            storage_fault: Mutex::new(None),
            queued: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            pruned: AtomicU64::new(0),
            messages_sent: AtomicU64::new(0),
            dropped_slow_client: AtomicU64::new(0),
            dropped_disconnected: AtomicU64::new(0),
            backfills: Default::default(),
            write_latency: Histogram::default(),
        }
    }
}

impl Metrics {
    /// Counters starting now, for a database holding `rows` readings.
    pub fn new(rows: i64) -> Self {
        let metrics = Self::default();
        metrics.rows.store(rows, Ordering::Relaxed);
        metrics
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// A live reading was committed in `took`.
    pub fn reading_stored(&self, took: Duration) {
        self.live_stored.fetch_add(1, Ordering::Relaxed);
        self.rows.fetch_add(1, Ordering::Relaxed);
        self.write_latency.observe(took);
    }

    /// A batch of history rows was committed in `took`, `inserted` of them new.
    pub fn history_stored(&self, inserted: usize, took: Duration) {
        let inserted = inserted as u64;
        self.history_stored.fetch_add(inserted, Ordering::Relaxed);
        self.rows.fetch_add(inserted as i64, Ordering::Relaxed);
        self.write_latency.observe(took);
    }

    /// A write failed; the database is faulty until [`Metrics::storage_ok`].
    pub fn store_failed(&self, reason: String) {
        self.store_failures.fetch_add(1, Ordering::Relaxed);
        *self.fault() = Some(reason);
    }

    /// A write succeeded.
    pub fn storage_ok(&self) {
        self.fault().take();
    }

    fn fault(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.storage_fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Why the last write failed, while writes keep failing.
    pub fn storage_fault(&self) -> Option<String> {
        self.fault().clone()
    }

    pub fn set_queued(&self, count: usize) {
        self.queued.store(count as u64, Ordering::Relaxed);
    }

    /// A queued reading was dropped to make room for a newer one.
    pub fn reading_lost(&self) {
        self.lost.fetch_add(1, Ordering::Relaxed);
    }

    /// Retention deleted `count` rows.
    pub fn readings_pruned(&self, count: usize) {
        self.pruned.fetch_add(count as u64, Ordering::Relaxed);
        self.rows.fetch_sub(count as i64, Ordering::Relaxed);
    }

    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    pub fn pruned(&self) -> u64 {
        self.pruned.load(Ordering::Relaxed)
    }

    pub fn message_sent(&self) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn messages_dropped(&self, cause: DropCause, count: u64) {
        let counter = match cause {
            DropCause::SlowClient => &self.dropped_slow_client,
            DropCause::Disconnected => &self.dropped_disconnected,
        };
        counter.fetch_add(count, Ordering::Relaxed);
    }

    pub fn backfill(&self, outcome: BackfillOutcome) {
        self.backfills[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn live_stored(&self) -> u64 {
        self.live_stored.load(Ordering::Relaxed)
    }

    pub fn history_rows_stored(&self) -> u64 {
        self.history_stored.load(Ordering::Relaxed)
    }

    pub fn rows(&self) -> i64 {
        self.rows.load(Ordering::Relaxed)
    }

    pub fn store_failures(&self) -> u64 {
        self.store_failures.load(Ordering::Relaxed)
    }

    pub fn messages_sent(&self) -> u64 {
        self.messages_sent.load(Ordering::Relaxed)
    }

    pub fn dropped(&self, cause: DropCause) -> u64 {
        match cause {
            DropCause::SlowClient => self.dropped_slow_client.load(Ordering::Relaxed),
            DropCause::Disconnected => self.dropped_disconnected.load(Ordering::Relaxed),
        }
    }

    pub fn backfills(&self, outcome: BackfillOutcome) -> u64 {
        self.backfills[outcome as usize].load(Ordering::Relaxed)
    }

    pub fn write_latency(&self) -> HistogramSnapshot {
        self.write_latency.snapshot()
    }
}

impl Histogram {
    fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let slot = WRITE_LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(WRITE_LATENCY_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let bounds = WRITE_LATENCY_BUCKETS.iter().chain([&f64::INFINITY]);
        let buckets = bounds
            .zip(&self.buckets)
            .map(|(&bound, count)| {
                total += count.load(Ordering::Relaxed);
                (bound, total)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_cumulative_and_end_with_infinity() {
        let metrics = Metrics::new(10);
        metrics.reading_stored(Duration::from_micros(300));
        metrics.reading_stored(Duration::from_millis(3));
        metrics.history_stored(5, Duration::from_secs(9));
        let histogram = metrics.write_latency();
        assert_eq!(histogram.buckets[0], (0.0005, 1));
        assert_eq!(histogram.buckets[3], (0.005, 2));
        assert_eq!(histogram.buckets.last().unwrap(), &(f64::INFINITY, 3));
        assert_eq!(histogram.count, 3);
        assert!((histogram.sum_seconds - 9.0033).abs() < 1e-9);
        assert_eq!(metrics.rows(), 17);
        assert_eq!(
            (metrics.live_stored(), metrics.history_rows_stored()),
            (2, 5)
        );
    }

    #[test]
    fn a_storage_fault_lasts_until_the_next_good_write() {
        let metrics = Metrics::default();
        metrics.store_failed("disk full".into());
        assert_eq!(metrics.storage_fault().as_deref(), Some("disk full"));
        metrics.storage_ok();
        assert_eq!(metrics.storage_fault(), None);
        assert_eq!(metrics.store_failures(), 1);
    }
}
