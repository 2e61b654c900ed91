//! Fan-out benchmark: server memory and throughput while WebSocket clients
//! stall.
//!
//! `cargo bench --bench fanout` runs the release binary with 8 simulated
//! sensors at 20 ms (400 readings/s), one client that reads everything and N
//! clients that never read, and samples the server's resident memory once a
//! second. Optional arguments: `cargo bench --bench fanout -- STALLED SECONDS
//! BUFFER` (defaults 50 20 100).

#[allow(dead_code)]
#[path = "../tests/api/raw.rs"]
mod raw;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SENSORS: usize = 8;
const INTERVAL_MS: u64 = 20;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let stalled = args.first().copied().unwrap_or(50) as usize;
    let seconds = args.get(1).copied().unwrap_or(20);
    let buffer = args.get(2).copied().unwrap_or(100);
    println!("fan-out: {SENSORS} sensors every {INTERVAL_MS} ms, buffer {buffer}, {seconds} s");
    println!("stalled | stored/s | reader msgs/s | reader gaps | RSS MiB at 2 s / max / end");
    for clients in [0, stalled] {
        run(clients, seconds, buffer).await;
    }
}

async fn run(stalled: usize, seconds: u64, buffer: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, addr) = start(dir.path(), buffer).await;
    let pid = child.id().expect("pid");
    let received = Arc::new(AtomicU64::new(0));
    let gaps = Arc::new(AtomicU64::new(0));
    tokio::spawn(read_all(addr, received.clone(), gaps.clone()));
    let mut idle = Vec::new();
    for _ in 0..stalled {
        idle.push(raw::RawClient::connect(addr, "/api/ws", Some(4096)).await);
    }
    let started = Instant::now();
    let first_id = stored_max(dir.path());
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(rss_mib(pid));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stored = (stored_max(dir.path()) - first_id) as f64 / elapsed;
    let reader = received.load(Ordering::Relaxed) as f64 / elapsed;
    let max = samples.iter().cloned().fold(0.0, f64::max);
    let (early, end) = (
        samples[1.min(samples.len() - 1)],
        samples[samples.len() - 1],
    );
    let gaps = gaps.load(Ordering::Relaxed);
    println!(
        "{stalled:7} | {stored:8.0} | {reader:13.0} | {gaps:11} | {early:.1} / {max:.1} / {end:.1}"
    );
    drop(idle);
    let _ = child.kill().await;
}

async fn start(dir: &std::path::Path, buffer: u64) -> (Child, SocketAddr) {
    let sensors = ["\"aranet4\""; SENSORS].join(", ");
    let toml = format!(
        "[server]\nbroadcast_buffer = {buffer}\n[simulator]\ninterval_ms = {INTERVAL_MS}\n\
         sensors = [{sensors}]\n"
    );
    std::fs::write(dir.join("bench.toml"), toml).expect("write settings");
    let mut child = Command::new(env!("CARGO_BIN_EXE_aranet-service"))
        .current_dir(dir)
        .args([
            "--config",
            "bench.toml",
            "--bind",
            "127.0.0.1:0",
            "--database",
            "b.db",
            "--simulate",
        ])
        .env("RUST_LOG", "warn,aranet_service::startup=info")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn server");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(addr) = line.split("listening addr=").nth(1) {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, addr.trim().parse().expect("address"));
        }
    }
    panic!("server did not start");
}

/// Counts messages, and id jumps (which would mean this reading client lost
/// some).
async fn read_all(addr: SocketAddr, received: Arc<AtomicU64>, gaps: Arc<AtomicU64>) {
    let url = format!("ws://{addr}/api/ws");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let mut last = None;
    while let Some(Ok(message)) = ws.next().await {
        let Ok(text) = message.into_text() else {
            continue;
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let id = json["reading"]["id"].as_i64().unwrap_or_default();
        if last
            .is_some_and(|l: i64| id > l + 1 && received.load(Ordering::Relaxed) > SENSORS as u64)
        {
            gaps.fetch_add(1, Ordering::Relaxed);
        }
        last = Some(id);
        received.fetch_add(1, Ordering::Relaxed);
    }
}

fn stored_max(dir: &std::path::Path) -> i64 {
    let mut conn = aranet_service::db::open(&dir.join("b.db")).expect("open db");
    aranet_service::db::count_readings(&mut conn).expect("count")
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok());
    kib.unwrap_or(0.0) / 1024.0
}
