//! The persistence actor: the only writer of the SQLite database, on its own
//! thread.
//!
//! It runs in a `SyncArbiter` with one thread, so diesel's blocking calls never
//! stall the async workers, and readings are committed (and announced) in
//! arrival order.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use diesel::SqliteConnection;

use super::registry::{ReadingStored, Registry};
use crate::db::{self, models::NewReading, models::Reading};
use crate::error::Error;
use crate::metrics::Metrics;

/// Device → persistence: store one reading, then announce it to the registry.
/// Returns the stored reading with its row id.
#[derive(Debug, Message)]
#[rtype(result = "Result<Reading, Error>")]
pub struct StoreReading(pub NewReading);

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

/// Rows per transaction when storing history, so live writes wait little.
const HISTORY_BATCH: usize = 250;

/// Shutdown → persistence: answered once every earlier `StoreReading` is done.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush;

/// Owns the database connection, reopening it after a failure.
pub struct Persistence {
    path: PathBuf,
    conn: Option<SqliteConnection>,
    registry: Addr<Registry>,
    metrics: Arc<Metrics>,
    /// The last write failed; cleared (and logged) by the next success.
    failing: bool,
}

impl Persistence {
    /// Starts the actor on its own thread, writing to the database at `path`.
    pub fn start(path: PathBuf, registry: Addr<Registry>, metrics: Arc<Metrics>) -> Addr<Self> {
        SyncArbiter::start(1, move || Persistence {
            path: path.clone(),
            conn: None,
            registry: registry.clone(),
            metrics: metrics.clone(),
            failing: false,
        })
    }

    /// Logs the first failure of a run of them: a sensor re-advertising every
    /// few seconds would otherwise repeat the same error line.
    fn failed(&mut self, err: &Error) {
        self.conn = None;
        self.metrics.store_failed(err.to_string());
        if !std::mem::replace(&mut self.failing, true) {
            log::error!(
                "cannot store readings path={} error={err}",
                self.path.display()
            );
        }
    }

    fn connection(&mut self) -> Result<&mut SqliteConnection, Error> {
        match &mut self.conn {
            Some(conn) => Ok(conn),
            slot => Ok(slot.insert(db::open(&self.path)?)),
        }
    }

    fn succeeded(&mut self) {
        self.metrics.storage_ok();
        if std::mem::take(&mut self.failing) {
            log::info!("database writes work again path={}", self.path.display());
        }
    }

    fn store(&mut self, new: &NewReading) -> Result<Reading, Error> {
        let started = Instant::now();
        let result = self
            .connection()
            .and_then(|conn| Ok(db::insert_reading(conn, new)?));
        let stored = result.inspect_err(|err| self.failed(err))?;
        self.metrics.reading_stored(started.elapsed());
        self.succeeded();
        // Announced only after the commit: clients never see a reading that is
        // not stored.
        self.registry.do_send(ReadingStored(stored.clone()));
        Ok(stored)
    }
}

impl Persistence {
    fn store_history(&mut self, msg: &StoreHistory) -> Result<usize, Error> {
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
}

impl Actor for Persistence {
    type Context = SyncContext<Self>;
}

impl Handler<StoreReading> for Persistence {
    type Result = Result<Reading, Error>;

    fn handle(&mut self, msg: StoreReading, _: &mut SyncContext<Self>) -> Self::Result {
        self.store(&msg.0)
    }
}

impl Handler<StoreHistory> for Persistence {
    type Result = Result<usize, Error>;

    fn handle(&mut self, msg: StoreHistory, _: &mut SyncContext<Self>) -> Self::Result {
        self.store_history(&msg)
    }
}

impl Handler<Flush> for Persistence {
    type Result = ();

    fn handle(&mut self, _: Flush, _: &mut SyncContext<Self>) {}
}
