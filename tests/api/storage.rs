//! Storage faults and retention: a locked, read-only or full database holds
//! readings back in a bounded queue, health says why, nothing reaches
//! clients before it is stored, and everything is stored once the database
//! takes writes again.

use std::process::Command;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::SqliteConnection;
use serde_json::Value;

use super::helpers::*;

/// A way to make the server's database refuse writes, and to undo it.
enum Fault {
    /// Another connection holds the write lock.
    Locked(Option<SqliteConnection>),
    /// The server's file size limit is 1 byte: every write fails as on a full
    /// disk.
    DiskFull,
    /// The database files cannot be opened for writing. An open file stays
    /// writable on Linux, so a lock first makes the server drop its
    /// connection; it reopens the files read-only.
    ReadOnly,
}

impl Fault {
    async fn begin(&mut self, app: &TestApp) {
        match self {
            Fault::Locked(lock) => *lock = Some(write_lock(app)),
            Fault::DiskFull => file_size_limit(app, "1:"),
            Fault::ReadOnly => {
                let lock = write_lock(app);
                health_when(app, |h| h["status"] == "degraded").await;
                read_only(app, true);
                lock_released(lock);
            }
        }
    }

    fn end(&mut self, app: &TestApp) {
        match self {
            Fault::Locked(lock) => lock_released(lock.take().unwrap()),
            Fault::DiskFull => file_size_limit(app, "unlimited:"),
            Fault::ReadOnly => read_only(app, false),
        }
    }
}

fn write_lock(app: &TestApp) -> SqliteConnection {
    let mut conn = aranet_service::db::open(&app.database_path()).unwrap();
    conn.batch_execute("BEGIN EXCLUSIVE").unwrap();
    conn
}

fn lock_released(mut conn: SqliteConnection) {
    conn.batch_execute("COMMIT").unwrap();
}

fn file_size_limit(app: &TestApp, limit: &str) {
    let status = Command::new("prlimit")
        .args(["--pid", &app.pid().to_string(), &format!("--fsize={limit}")])
        .status()
        .expect("prlimit (util-linux)");
    assert!(status.success());
}

/// The database and its write-ahead log made unopenable for writing:
/// immutable for root, who ignores file modes, read-only for anyone else.
fn read_only(app: &TestApp, on: bool) {
    let db = app.database_path();
    let wal = db.with_extension("db-wal");
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    for file in [&db, &wal] {
        let status = if root {
            let flag = if on { "+i" } else { "-i" };
            Command::new("chattr").arg(flag).arg(file).status()
        } else {
            let mode = if on { "a-w" } else { "u+w" };
            Command::new("chmod").arg(mode).arg(file).status()
        };
        assert!(status.expect("chattr or chmod").success(), "{file:?}");
    }
}

async fn health_when(app: &TestApp, ready: impl Fn(&Value) -> bool) -> Value {
    let poll = async {
        loop {
            let (_, body) = http_get(app.addr, "/api/health", &[]).await;
            let health: Value = serde_json::from_str(&body).unwrap();
            if ready(&health) {
                return health;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(WAIT * 2, poll)
        .await
        .expect("health in time")
}

/// Reads messages until `quiet` passes without one; returns their ids.
async fn drain(ws: &mut Ws, quiet: Duration) -> Vec<i64> {
    let mut ids = Vec::new();
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(quiet, futures_util::StreamExt::next(ws)).await
    {
        if let Ok(text) = message.to_text() {
            if !text.is_empty() {
                ids.push(reading_id(&serde_json::from_str(text).unwrap()));
            }
        }
    }
    ids
}

/// The whole story of one outage; returns the reason health gave, once it
/// holds one of `expected`.
async fn survive(mut fault: Fault, expected: &[&str]) -> String {
    let app = spawn_app(&Options::default()).await;
    let mut ws = app.connect("").await;
    // The first messages may be a snapshot; from the last of them on, every
    // id must come.
    let mut received = vec![reading_id(next_messages(&mut ws, 8).await.last().unwrap())];
    fault.begin(&app).await;
    let explained = |h: &Value| {
        let reason = h["reasons"][0].as_str().unwrap_or("");
        h["status"] == "degraded" && expected.iter().any(|e| reason.contains(e))
    };
    let degraded = health_when(&app, explained).await;
    let reason = degraded["reasons"][0].as_str().unwrap().to_owned();
    assert!(reason.starts_with("database: "), "{reason}");
    assert_eq!(degraded["database"]["ok"], false);
    // What was stored before the fault arrives; then nothing, as nothing is
    // stored.
    received.extend(drain(&mut ws, Duration::from_millis(500)).await);
    let stored_before = app.stored_readings().len();
    assert_eq!(
        drain(&mut ws, Duration::from_secs(1)).await,
        Vec::<i64>::new()
    );
    let queued = health_when(&app, |h| h["database"]["queued"].as_u64() >= Some(10)).await;
    fault.end(&app);
    let healthy = health_when(&app, |h| h["status"] == "ok").await;
    assert_eq!(healthy["database"]["queued"], 0);
    assert_eq!(healthy["database"]["lost"], 0);
    // Every queued reading is stored and sent, in order, none lost.
    let target = queued["database"]["readings"].as_i64().unwrap()
        + queued["database"]["queued"].as_i64().unwrap();
    while received.last().is_none_or(|id| *id < target) {
        received.push(reading_id(&next_json(&mut ws).await));
    }
    let first = received[0];
    assert_eq!(
        received,
        (first..first + received.len() as i64).collect::<Vec<_>>()
    );
    assert!(app.stored_readings().len() >= stored_before + 10);
    app.wait_for_log("database writes work again").await;
    assert!(app.logs().iter().all(|l| !l.contains("panicked")));
    reason
}

#[tokio::test]
async fn a_locked_database_holds_readings_back_and_stores_them_all_once_free() {
    let reason = survive(Fault::Locked(None), &["database is locked"]).await;
    assert!(reason.contains("writes fail"), "{reason}");
}

#[tokio::test]
async fn a_full_disk_holds_readings_back_and_stores_them_all_once_there_is_room() {
    survive(Fault::DiskFull, &["disk is full", "disk I/O error"]).await;
}

#[tokio::test]
async fn a_read_only_database_holds_readings_back_and_stores_them_all_once_writable() {
    survive(Fault::ReadOnly, &["readonly", "unable to open"]).await;
}

#[tokio::test]
async fn a_storage_queue_that_overflows_counts_and_logs_what_it_drops() {
    let options = Options {
        extra_toml: "[storage]\nqueue_size = 5\n".into(),
        ..Options::default()
    };
    let app = spawn_app(&options).await;
    let mut ws = app.connect("").await;
    next_messages(&mut ws, 4).await;
    let mut fault = Fault::Locked(None);
    fault.begin(&app).await;
    app.wait_for_log("storage queue full, dropping its oldest readings queue=5")
        .await;
    let lossy = health_when(&app, |h| h["database"]["lost"].as_u64() >= Some(3)).await;
    assert_eq!(lossy["database"]["queued"], 5);
    fault.end(&app);
    health_when(&app, |h| h["status"] == "ok").await;
    let line = app.wait_for_log("storage queue drained").await;
    let (_, metrics) = http_get(app.addr, "/metrics", &[]).await;
    let lost: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("aranet_readings_lost_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(lost >= 3.0, "{metrics}");
    assert!(line.contains("lost="), "{line}");
}

#[tokio::test]
async fn retention_deletes_old_readings_in_batches_and_keeps_recent_ones() {
    let old: Vec<_> = (0..2500)
        .map(|i| {
            aranet4_row(
                "Attic",
                &format!("2020-01-01T{:02}:{:02}:00Z", i / 60 % 24, i % 60),
                i,
            )
        })
        .collect();
    let recent = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let recent = recent.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut seed = old;
    seed.push(aranet4_row("Attic", &recent, 999));
    let options = Options {
        sensors: Vec::new(),
        extra_toml: "[storage]\nretention_days = 30\n".into(),
        ..Options::default()
    };
    let app = spawn_seeded(&seed, &options).await;
    let pruned = async {
        while app.stored_readings().len() > 1 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(WAIT, pruned)
        .await
        .expect("pruned in time");
    let left = app.stored_readings();
    assert_eq!(left[0].captured_at, recent);
    let (_, metrics) = http_get(app.addr, "/metrics", &[]).await;
    for line in [
        "aranet_readings_pruned_total 2500",
        "aranet_database_rows 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    // A thousand a second: the backlog took three ticks, not one long stall.
    let batches = app
        .logs()
        .iter()
        .filter(|l| l.contains("retention pruned"))
        .count();
    assert_eq!(batches, 3);
}
