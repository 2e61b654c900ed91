//! The archive actor: reads stored readings for the REST API and for
//! WebSocket replays, on threads of its own with connections of their own.
//!
//! SQLite in WAL mode lets readers run beside the one writer (persistence), so
//! a long export or a slow disk read never delays storing a live reading.

use std::path::PathBuf;

use actix::prelude::*;
use diesel::SqliteConnection;

use crate::db::{self, models::Reading, ReadingsQuery};
use crate::error::Error;

/// Reader threads: one export may run while another request is answered.
const READERS: usize = 2;

/// REST → archive: one page of a device's readings, newest first.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<Reading>, Error>")]
pub struct FetchReadings(pub ReadingsQuery);

/// Session → archive: the next page of a replay, readings with an id above
/// `after` in id order.
#[derive(Debug, Message)]
#[rtype(result = "Result<ReplayPage, Error>")]
pub struct FetchAfter {
    pub after: i32,
    /// Only these devices, or every device when `None`.
    pub devices: Option<Vec<String>>,
    pub limit: i64,
}

/// One page of a replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayPage {
    pub readings: Vec<Reading>,
    /// The newest id in the database when the page was read.
    pub newest_id: i32,
}

/// Health → archive: answered `Ok` when the database answers a query.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), Error>")]
pub struct CheckDatabase;

/// One reader with its connection, reopened after a failure.
pub struct Archive {
    path: PathBuf,
    conn: Option<SqliteConnection>,
}

impl Archive {
    /// Starts the readers of the database at `path`.
    pub fn start(path: PathBuf) -> Addr<Self> {
        SyncArbiter::start(READERS, move || Archive {
            path: path.clone(),
            conn: None,
        })
    }

    /// Runs `query` on the connection, dropping the connection when it fails
    /// so that the next request opens a fresh one.
    fn with_connection<T>(
        &mut self,
        query: impl FnOnce(&mut SqliteConnection) -> diesel::QueryResult<T>,
    ) -> Result<T, Error> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            slot => slot.insert(db::open(&self.path)?),
        };
        let result = query(conn);
        if result.is_err() {
            self.conn = None;
        }
        Ok(result?)
    }
}

impl Actor for Archive {
    type Context = SyncContext<Self>;
}

impl Handler<FetchReadings> for Archive {
    type Result = Result<Vec<Reading>, Error>;

    fn handle(&mut self, msg: FetchReadings, _: &mut SyncContext<Self>) -> Self::Result {
        self.with_connection(|conn| db::readings_page(conn, &msg.0))
    }
}

impl Handler<FetchAfter> for Archive {
    type Result = Result<ReplayPage, Error>;

    fn handle(&mut self, msg: FetchAfter, _: &mut SyncContext<Self>) -> Self::Result {
        let devices = msg.devices.as_deref();
        let (readings, newest_id) =
            self.with_connection(|conn| db::readings_after(conn, msg.after, devices, msg.limit))?;
        Ok(ReplayPage {
            readings,
            newest_id,
        })
    }
}

impl Handler<CheckDatabase> for Archive {
    type Result = Result<(), Error>;

    fn handle(&mut self, _: CheckDatabase, _: &mut SyncContext<Self>) -> Self::Result {
        self.with_connection(db::ping)
    }
}
