//! `kill -9` while sensors produce hundreds of readings a second: every
//! reading any client received is in the database afterwards, as received,
//! and the service starts again on that database.
//!
//! `CRASH_RUNS=100 cargo test --test api crash -- --nocapture` runs it many
//! times and prints the figures of each run.

use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use super::helpers::*;

/// 40 sensors measuring every 50 ms offer 800 readings a second.
const SENSORS: usize = 40;
const INTERVAL_MS: u64 = 50;
const DEFAULT_RUNS: usize = 3;

fn runs() -> usize {
    std::env::var("CRASH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_RUNS)
}

/// What one client read until the connection died with the server.
async fn read_until_gone(ws: &mut Ws) -> Vec<serde_json::Value> {
    let mut messages = Vec::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout(WAIT, ws.next()).await {
        if let Message::Text(text) = message {
            messages.push(serde_json::from_str(&text).expect("json"));
        }
    }
    messages
}

/// One crash; returns (readings received, their rate per second).
async fn crash_once(run: usize) -> (usize, f64) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let options = Options {
        interval_ms: INTERVAL_MS,
        sensors: vec!["aranet4"; SENSORS],
        broadcast_buffer: 10_000,
        ..Options::default()
    };
    let app = spawn_in(dir.clone(), &options).await;
    let mut ws = app.connect("").await;
    next_json(&mut ws).await;
    let kill = app.killer();
    let alive_for = Duration::from_millis(300 + fastrand::u64(0..1200));
    let started = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(alive_for).await;
        kill();
    });
    let received = read_until_gone(&mut ws).await;
    let rate = received.len() as f64 / started.elapsed().as_secs_f64();
    let (exit, dir) = app.wait_exit().await;
    assert_eq!(exit.signal(), Some(9), "run {run}: killed, not stopped");

    let mut conn = aranet_service::db::open(&dir.path().join("data/aranet.db")).unwrap();
    let stored: Vec<aranet_service::db::models::Reading> =
        diesel::RunQueryDsl::load(diesel::sql_query("SELECT * FROM readings"), &mut conn).unwrap();
    let by_id: std::collections::HashMap<_, _> = stored.iter().map(|r| (r.id, r)).collect();
    for message in &received {
        let id = reading_id(message) as i32;
        let row = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("run {run}: reading {id} lost"));
        assert_eq!(
            message["reading"],
            serde_json::to_value(row).unwrap(),
            "run {run}"
        );
    }
    drop(conn);

    // The service starts again on the database and goes on from there.
    let newest = stored.iter().map(|r| r.id).max().unwrap_or(0);
    let app = spawn_in(dir, &options).await;
    let mut ws = app.connect("").await;
    let after = next_messages(&mut ws, SENSORS + 5).await;
    assert!(
        after.iter().any(|m| reading_id(m) > i64::from(newest)),
        "run {run}: no new readings"
    );
    close(ws).await;
    let (exit, _, _) = app.stop().await;
    assert!(exit.success());
    (received.len(), rate)
}

#[tokio::test]
async fn kill_9_loses_no_reading_a_client_received_and_the_service_resumes() {
    let runs = runs();
    let mut total = 0;
    for run in 1..=runs {
        let (received, rate) = crash_once(run).await;
        eprintln!("crash run {run}/{runs}: {received} readings received ({rate:.0}/s), all stored, 0 lost");
        assert!(
            received > 50,
            "run {run}: only {received} readings before the crash"
        );
        total += received;
    }
    eprintln!("crash: {runs} runs, {total} readings received, 0 lost");
}
