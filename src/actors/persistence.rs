//! The persistence actor: the only writer of the SQLite database, on its own
//! thread.
//!
//! It runs in a `SyncArbiter` with one thread, so diesel's blocking calls never
//! stall the async workers, and readings are committed (and announced) in
//! arrival order. When the database refuses writes (locked, read-only, disk
//! full), readings wait in a bounded queue and are retried with backoff;
//! nothing is announced before it is committed, and what overflows the queue
//! is counted and logged.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use diesel::SqliteConnection;

use super::registry::{ReadingStored, Registry};
use crate::db::{self, models::NewReading};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::settings::StorageSettings;

/// Device → persistence: store one reading, then announce it to the registry.
#[derive(Debug, Message)]
#[rtype(result = "Stored")]
pub struct StoreReading(pub NewReading);

/// What became of a reading handed to persistence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Committed with this row id, and announced.
    Committed(i32),
    /// Waiting for the database to take writes again.
    Queued,
}

/// Device → persistence: store the downloaded history rows that are not
/// stored yet (none within `tolerance` of a stored one), without announcing
/// them: they are older than what sessions already have. Returns how many
/// were inserted.
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, Error>")]
pub struct StoreHistory {
    pub rows: Vec<NewReading>,
    pub tolerance: chrono::TimeDelta,
}

/// Timer → persistence: retry queued readings when due; prune old rows.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Tick;

/// Shutdown → persistence: answered once every earlier `StoreReading` is
/// done and one last attempt was made to store the queue.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush;

/// Rows per transaction when storing history, so live writes wait little.
const HISTORY_BATCH: usize = 250;
/// Old rows deleted per transaction (and per tick) by retention.
const PRUNE_BATCH: i64 = 1000;
/// How often queued readings and retention are looked at.
const TICK: Duration = Duration::from_secs(1);
/// Wait before retrying after a failed write, doubled per failure.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Owns the database connection, reopening it after a failure.
pub struct Persistence {
    path: PathBuf,
    conn: Option<SqliteConnection>,
    registry: Addr<Registry>,
    metrics: Arc<Metrics>,
    storage: StorageSettings,
    /// Readings the database did not take yet, oldest first.
    queue: VecDeque<NewReading>,
    /// Readings dropped from a full queue since the last good write.
    lost_in_burst: u64,
    /// After a failure: no write is tried before this.
    retry_at: Option<Instant>,
    retry_wait: Duration,
    /// The last write failed; cleared (and logged) by the next success.
    failing: bool,
}

impl Persistence {
    /// Starts the actor on its own thread, writing to the database at `path`,
    /// and its timer on the current actix system.
    pub fn start(
        path: PathBuf,
        storage: StorageSettings,
        registry: Addr<Registry>,
        metrics: Arc<Metrics>,
    ) -> Addr<Self> {
        let addr = SyncArbiter::start(1, move || Persistence {
            path: path.clone(),
            conn: None,
            registry: registry.clone(),
            metrics: metrics.clone(),
            storage: storage.clone(),
            queue: VecDeque::new(),
            lost_in_burst: 0,
            retry_at: None,
            retry_wait: RETRY_FIRST,
            failing: false,
        });
        let timer = addr.clone();
        actix_rt::spawn(async move {
            let mut ticks = tokio::time::interval(TICK);
            // `send` waits while a write blocks, so ticks never pile up.
            while timer.send(Tick).await.is_ok() {
                ticks.tick().await;
            }
        });
        addr
    }

    fn connection(&mut self) -> Result<&mut SqliteConnection, Error> {
        match &mut self.conn {
            Some(conn) => Ok(conn),
            slot => Ok(slot.insert(db::open(&self.path)?)),
        }
    }

    /// True while waiting to retry after a failure.
    fn backing_off(&self) -> bool {
        self.retry_at.is_some_and(|at| Instant::now() < at)
    }

    /// Logs the first failure of a run of them: a sensor re-advertising every
    /// few seconds would otherwise repeat the same error line.
    fn failed(&mut self, err: &Error) {
        self.conn = None;
        self.metrics.store_failed(err.public_message());
        self.retry_at = Some(Instant::now() + self.retry_wait);
        self.retry_wait = (self.retry_wait * 2).min(RETRY_MAX);
        if !std::mem::replace(&mut self.failing, true) {
            log::error!(
                "cannot store readings, queueing them path={} error={err}",
                self.path.display()
            );
        }
    }

    fn succeeded(&mut self) {
        self.metrics.storage_ok();
        self.retry_at = None;
        self.retry_wait = RETRY_FIRST;
        if std::mem::take(&mut self.failing) {
            log::info!(
                "database writes work again path={} queued={}",
                self.path.display(),
                self.queue.len()
            );
        }
    }

    /// Commits one reading and announces it; clients never see a reading
    /// that is not stored.
    fn commit(&mut self, new: &NewReading) -> Result<i32, Error> {
        let started = Instant::now();
        let result = self
            .connection()
            .and_then(|conn| Ok(db::insert_reading(conn, new)?));
        let stored = result.inspect_err(|err| self.failed(err))?;
        self.metrics.reading_stored(started.elapsed());
        self.succeeded();
        let id = stored.id;
        self.registry.do_send(ReadingStored(stored));
        Ok(id)
    }

    fn store(&mut self, new: NewReading) -> Stored {
        // Behind queued readings, a new one waits its turn: ids follow
        // arrival order.
        if self.queue.is_empty() && !self.backing_off() {
            if let Ok(id) = self.commit(&new) {
                return Stored::Committed(id);
            }
        }
        self.enqueue(new);
        Stored::Queued
    }

    fn enqueue(&mut self, new: NewReading) {
        if self.queue.len() >= self.storage.queue_size {
            if let Some(oldest) = self.queue.pop_front() {
                self.metrics.reading_lost();
                self.lost_in_burst += 1;
                if self.lost_in_burst == 1 {
                    log::error!(
                        "storage queue full, dropping its oldest readings queue={} device={} captured_at={}",
                        self.storage.queue_size,
                        oldest.device_id,
                        oldest.captured_at
                    );
                }
            }
        }
        self.queue.push_back(new);
        self.metrics.set_queued(self.queue.len());
    }

    /// Commits queued readings in order until the queue is empty or a write
    /// fails.
    fn drain_queue(&mut self) {
        while let Some(next) = self.queue.front().cloned() {
            if self.commit(&next).is_err() {
                break;
            }
            self.queue.pop_front();
        }
        self.metrics.set_queued(self.queue.len());
        if self.queue.is_empty() && self.lost_in_burst > 0 {
            log::warn!(
                "storage queue drained lost={}",
                std::mem::take(&mut self.lost_in_burst)
            );
        }
    }

    fn tick(&mut self) {
        if !self.queue.is_empty() && !self.backing_off() {
            self.drain_queue();
        }
        if let Some(days) = self.storage.retention_days {
            if !self.failing {
                self.prune(days);
            }
        }
    }

    /// Deletes one batch of readings older than `days`; a large backlog is
    /// worked off a batch per tick, with writes served in between.
    fn prune(&mut self, days: u32) {
        let cutoff = db::format_time(Utc::now() - chrono::TimeDelta::days(i64::from(days)));
        let result = self
            .connection()
            .and_then(|conn| Ok(db::delete_older_than(conn, &cutoff, PRUNE_BATCH)?));
        match result {
            Ok(0) => {}
            Ok(deleted) => {
                log::debug!("retention pruned rows={deleted} before={cutoff}");
                self.metrics.readings_pruned(deleted);
            }
            Err(err) => log::warn!("retention failed error={err}"),
        }
    }

    fn store_history(&mut self, msg: &StoreHistory) -> Result<usize, Error> {
        // Queued live readings go first: a history row stored before them
        // would not be recognised as their duplicate.
        if self.backing_off() || !self.queue.is_empty() {
            return Err(Error::Unavailable("live readings wait to be stored".into()));
        }
        let mut inserted = 0;
        for batch in msg.rows.chunks(HISTORY_BATCH) {
            let started = Instant::now();
            let result = self
                .connection()
                .and_then(|conn| db::insert_missing(conn, batch, msg.tolerance));
            let batch_inserted = result.inspect_err(|err| self.failed(err))?;
            self.metrics
                .history_stored(batch_inserted, started.elapsed());
            self.succeeded();
            inserted += batch_inserted;
        }
        Ok(inserted)
    }

    /// At shutdown: one last try, then say what could not be stored.
    fn flush(&mut self) {
        self.retry_at = None;
        self.drain_queue();
        if !self.queue.is_empty() {
            log::error!(
                "stopping with readings not stored count={} path={}",
                self.queue.len(),
                self.path.display()
            );
        }
    }
}

impl Actor for Persistence {
    type Context = SyncContext<Self>;
}

impl Handler<StoreReading> for Persistence {
    type Result = MessageResult<StoreReading>;

    fn handle(&mut self, msg: StoreReading, _: &mut SyncContext<Self>) -> Self::Result {
        MessageResult(self.store(msg.0))
    }
}

impl Handler<StoreHistory> for Persistence {
    type Result = Result<usize, Error>;

    fn handle(&mut self, msg: StoreHistory, _: &mut SyncContext<Self>) -> Self::Result {
        self.store_history(&msg)
    }
}

impl Handler<Tick> for Persistence {
    type Result = ();

    fn handle(&mut self, _: Tick, _: &mut SyncContext<Self>) {
        self.tick();
    }
}

impl Handler<Flush> for Persistence {
    type Result = ();

    fn handle(&mut self, _: Flush, _: &mut SyncContext<Self>) {
        self.flush();
    }
}
