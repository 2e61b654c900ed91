//! SQLite storage through diesel: opening, embedded migrations and the queries.
//!
//! Every function here blocks; only the persistence actor's thread calls them
//! at run time.

pub mod models;
pub mod schema;

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::Error;
use models::{NewReading, Reading};
use schema::readings;

/// The migrations under `migrations/`, compiled into the binary and run at
/// start.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// WAL lets readers run beside the writer; `synchronous = FULL` makes every
/// committed reading survive a power cut; the busy timeout rides out a
/// concurrent backup tool.
const CONNECTION_PRAGMAS: &str = "PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 5000; \
     PRAGMA foreign_keys = ON;";

/// Opens (creating it and its folder if needed) the database at `path`.
pub fn open(path: &Path) -> Result<SqliteConnection, Error> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|source| Error::DatabaseOpen {
            path: path.to_path_buf(),
            reason: source.to_string(),
        })?;
    }
    let url = path.to_string_lossy();
    let mut conn = SqliteConnection::establish(&url).map_err(|source| Error::DatabaseOpen {
        path: path.to_path_buf(),
        reason: source.to_string(),
    })?;
    conn.batch_execute(CONNECTION_PRAGMAS)?;
    Ok(conn)
}

/// Applies pending migrations; returns the versions it applied.
pub fn migrate(conn: &mut SqliteConnection) -> Result<Vec<String>, Error> {
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(|err| Error::Migration(err.to_string()))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Stores one reading and returns it with its row id, once committed.
///
/// In its own transaction: an `INSERT … RETURNING` in autocommit mode hands
/// back the row before its implicit commit, and a failing commit (a full
/// disk) would go unreported; an explicit `COMMIT` reports it.
pub fn insert_reading(conn: &mut SqliteConnection, new: &NewReading) -> QueryResult<Reading> {
    conn.immediate_transaction(|conn| {
        diesel::insert_into(readings::table)
            .values(new)
            .returning(Reading::as_returning())
            .get_result(conn)
    })
}

/// Stores the rows that have no stored reading within `tolerance` seconds of
/// their time (as after a history download), in one transaction; returns how
/// many were inserted. Rows are told apart by device and capture time: a
/// measurement heard live and downloaded later differs by clock rounding only.
pub fn insert_missing(
    conn: &mut SqliteConnection,
    rows: &[NewReading],
    tolerance: chrono::TimeDelta,
) -> Result<usize, Error> {
    conn.immediate_transaction(|conn| {
        let mut inserted = 0;
        for row in rows {
            if !has_reading_near(conn, &row.device_id, &row.captured_at, tolerance)? {
                diesel::insert_into(readings::table)
                    .values(row)
                    .execute(conn)?;
                inserted += 1;
            }
        }
        Ok(inserted)
    })
}

fn has_reading_near(
    conn: &mut SqliteConnection,
    device_id: &str,
    captured_at: &str,
    tolerance: chrono::TimeDelta,
) -> Result<bool, Error> {
    let at = chrono::DateTime::parse_from_rfc3339(captured_at)
        .map_err(|err| Error::InvalidRow(format!("captured_at {captured_at:?}: {err}")))?
        .to_utc();
    let window =
        readings::captured_at.between(format_time(at - tolerance), format_time(at + tolerance));
    let query = readings::table.filter(readings::device_id.eq(device_id).and(window));
    Ok(diesel::select(diesel::dsl::exists(query)).get_result(conn)?)
}

/// The latest reading of every device by capture time (history downloaded
/// later is older than what was heard live), in the order they were stored.
pub fn latest_per_device(conn: &mut SqliteConnection) -> QueryResult<Vec<Reading>> {
    diesel::sql_query(
        "SELECT * FROM readings WHERE id IN ( \
           SELECT id FROM ( \
             SELECT id, ROW_NUMBER() OVER ( \
               PARTITION BY device_id ORDER BY captured_at DESC, id DESC) AS rank \
             FROM readings) \
           WHERE rank = 1) \
         ORDER BY id",
    )
    .load(conn)
}

/// A row in newest-first order: pages continue after it. Rows with equal
/// times are told apart by id, so a page never repeats or skips one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub captured_at: String,
    pub id: i32,
}

/// One device's readings between two times (inclusive, `YYYY-MM-DDTHH:MM:SSZ`
/// like the stored ones), newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingsQuery {
    pub device_id: String,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Only rows after this one in newest-first order.
    pub after: Option<Position>,
    pub limit: i64,
}

/// One page of `query`; served by the `(device_id, captured_at)` index, whose
/// entries end with the row id.
pub fn readings_page(
    conn: &mut SqliteConnection,
    query: &ReadingsQuery,
) -> QueryResult<Vec<Reading>> {
    use readings::dsl as r;
    let mut select = r::readings
        .filter(r::device_id.eq(&query.device_id))
        .into_boxed();
    if let Some(from) = &query.from {
        select = select.filter(r::captured_at.ge(from));
    }
    if let Some(to) = &query.to {
        select = select.filter(r::captured_at.le(to));
    }
    if let Some(after) = &query.after {
        let earlier = r::captured_at.lt(&after.captured_at);
        let tie = r::captured_at
            .eq(&after.captured_at)
            .and(r::id.lt(after.id));
        select = select.filter(earlier.or(tie));
    }
    select
        .order((r::captured_at.desc(), r::id.desc()))
        .limit(query.limit)
        .select(Reading::as_select())
        .load(conn)
}

/// Up to `limit` readings with an id above `after`, in id order, of
/// `devices` only when given; and the newest id in the table then, which
/// every later reading's id exceeds.
pub fn readings_after(
    conn: &mut SqliteConnection,
    after: i32,
    devices: Option<&[String]>,
    limit: i64,
) -> QueryResult<(Vec<Reading>, i32)> {
    // One read transaction: the page and the newest id from one snapshot.
    conn.transaction(|conn| {
        let mut select = readings::table.filter(readings::id.gt(after)).into_boxed();
        if let Some(devices) = devices {
            select = select.filter(readings::device_id.eq_any(devices));
        }
        let page = select
            .order(readings::id.asc())
            .limit(limit)
            .select(Reading::as_select())
            .load(conn)?;
        let newest = readings::table
            .select(diesel::dsl::max(readings::id))
            .first::<Option<i32>>(conn)?;
        Ok((page, newest.unwrap_or(0)))
    })
}

/// Deletes up to `limit` readings captured before `cutoff`; returns how many.
pub fn delete_older_than(
    conn: &mut SqliteConnection,
    cutoff: &str,
    limit: i64,
) -> QueryResult<usize> {
    use diesel::sql_types::{BigInt, Text};
    diesel::sql_query(
        "DELETE FROM readings WHERE id IN \
         (SELECT id FROM readings WHERE captured_at < ? LIMIT ?)",
    )
    .bind::<Text, _>(cutoff)
    .bind::<BigInt, _>(limit)
    .execute(conn)
}

/// A time as stored in `captured_at`: UTC, whole seconds, `Z`; fixed width,
/// so text order is time order.
pub fn format_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Fails unless the database answers a query.
pub fn ping(conn: &mut SqliteConnection) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}

/// How many readings are stored.
pub fn count_readings(conn: &mut SqliteConnection) -> QueryResult<i64> {
    readings::table.count().get_result(conn)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reading(device: &str, co2: i32) -> NewReading {
        NewReading {
            device_id: device.into(),
            co2: Some(co2),
            temperature: Some(21.0),
            humidity: Some(40.0),
            pressure: Some(1000.0),
            battery: Some(90),
            status: Some("Green".into()),
            captured_at: "2026-01-01T00:00:00Z".into(),
            radon: None,
            radiation_rate: None,
            radiation_total: None,
        }
    }

    #[test]
    fn ids_are_assigned_in_order_and_latest_is_per_device() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("sub/test.db")).unwrap();
        assert_eq!(migrate(&mut conn).unwrap().len(), 2);
        let first = insert_reading(&mut conn, &reading("a", 400)).unwrap();
        insert_reading(&mut conn, &reading("b", 500)).unwrap();
        let third = insert_reading(&mut conn, &reading("a", 600)).unwrap();
        assert_eq!(third.id, first.id + 2);
        let latest = latest_per_device(&mut conn).unwrap();
        let summary: Vec<_> = latest
            .iter()
            .map(|r| (r.device_id.as_str(), r.co2))
            .collect();
        assert_eq!(summary, [("b", Some(500)), ("a", Some(600))]);
        assert_eq!(count_readings(&mut conn).unwrap(), 3);
        assert!(migrate(&mut conn).unwrap().is_empty());
    }

    fn at(device: &str, co2: i32, captured_at: &str) -> NewReading {
        NewReading {
            captured_at: captured_at.into(),
            ..reading(device, co2)
        }
    }

    #[test]
    fn history_rows_near_a_stored_one_are_skipped_and_a_second_pass_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("test.db")).unwrap();
        migrate(&mut conn).unwrap();
        insert_reading(&mut conn, &at("a", 800, "2026-01-01T00:10:02Z")).unwrap();
        let history = [
            at("a", 700, "2026-01-01T00:00:00Z"),
            at("a", 750, "2026-01-01T00:05:00Z"),
            // The live reading above, logged two seconds earlier.
            at("a", 800, "2026-01-01T00:10:00Z"),
            // Another device's reading at the same time is its own.
            at("b", 500, "2026-01-01T00:10:00Z"),
        ];
        let tolerance = chrono::TimeDelta::seconds(150);
        assert_eq!(insert_missing(&mut conn, &history, tolerance).unwrap(), 3);
        assert_eq!(insert_missing(&mut conn, &history, tolerance).unwrap(), 0);
        assert_eq!(count_readings(&mut conn).unwrap(), 4);
        // Backfilled rows are newer by id but older by time: the live one
        // stays the latest.
        let latest = latest_per_device(&mut conn).unwrap();
        let a = latest.iter().find(|r| r.device_id == "a").unwrap();
        assert_eq!(a.co2, Some(800));
        assert_eq!(a.captured_at, "2026-01-01T00:10:02Z");
    }
}
