//! Bounded fan-out: a client that stops reading costs bounded memory, loses its
//! oldest messages (counted and logged), and never slows anyone else.

use std::time::{Duration, Instant};

use super::helpers::*;
use super::raw::{RawClient, TEXT};

const BUFFER: usize = 10;
/// Four sensors every 40 ms: 100 readings a second.
const INTERVAL_MS: u64 = 40;
const STALL: Duration = Duration::from_secs(4);
/// Frames that fit in the kernel buffers between server and stalled client: the
/// server's send buffer (16 KiB, doubled by Linux) plus the client's receive
/// buffer (4 KiB, doubled), in frames of at least 250 bytes.
const KERNEL_FRAMES: usize = (2 * 16 * 1024 + 2 * 4096) / 250;

#[tokio::test]
async fn a_stalled_client_stays_within_its_bound_while_another_keeps_full_rate() {
    let options = Options {
        broadcast_buffer: BUFFER,
        interval_ms: INTERVAL_MS,
        ..Options::default()
    };
    let app = spawn_app(&options).await;
    let mut stalled = RawClient::connect(app.addr, "/api/ws", Some(4096)).await;
    let mut healthy = app.connect("").await;

    let started = Instant::now();
    let mut healthy_ids = Vec::new();
    while started.elapsed() < STALL {
        healthy_ids.push(reading_id(&next_json(&mut healthy).await));
    }
    let contiguous: Vec<i64> = (healthy_ids[0]..=*healthy_ids.last().unwrap()).collect();
    assert_eq!(healthy_ids, contiguous, "the reading client lost nothing");
    assert!(
        healthy_ids.len() >= 250,
        "full rate: {} in {STALL:?}",
        healthy_ids.len()
    );
    app.wait_for_log("session too slow").await;

    let target = *healthy_ids.last().unwrap();
    let mut stalled_ids = Vec::new();
    while stalled_ids.last().is_none_or(|id| *id < target) {
        let frame = stalled
            .read_frame()
            .await
            .expect("stalled client still connected");
        if frame.opcode == TEXT {
            stalled_ids.push(frame.json()["reading"]["id"].as_i64().unwrap());
        }
    }
    let during_stall = stalled_ids
        .iter()
        .filter(|id| **id >= healthy_ids[0])
        .count();
    eprintln!(
        "stalled client: {} of {} readings",
        during_stall,
        healthy_ids.len()
    );
    let bound = BUFFER + 1 + KERNEL_FRAMES;
    assert!(
        during_stall <= bound,
        "at most {bound} held, got {during_stall}"
    );
    let line = app.wait_for_log("session caught up").await;
    let dropped: usize = line
        .rsplit("dropped=")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(dropped > healthy_ids.len() / 2, "{line}");
    let warnings = app
        .logs()
        .iter()
        .filter(|l| l.contains("session too slow"))
        .count();
    assert_eq!(warnings, 1, "one warning per burst");
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_after_the_client_timeout() {
    let options = Options {
        interval_ms: INTERVAL_MS,
        ping_interval_ms: 200,
        client_timeout_ms: 700,
        ..Options::default()
    };
    let app = spawn_app(&options).await;
    let mut stalled = RawClient::connect(app.addr, "/api/ws", Some(4096)).await;
    let (server_port, client_port) = (app.addr.port(), stalled.local_port());
    assert!(server_holds_connection(server_port, client_port));
    tokio::time::sleep(STALL).await;
    app.wait_for_log("session timed out").await;
    assert!(
        !server_holds_connection(server_port, client_port),
        "the server still holds a connection whose client stopped reading"
    );

    // Reading again finds the connection gone rather than streaming on.
    let reading = async {
        let mut frames = 0;
        while stalled.read_frame().await.is_some() {
            frames += 1;
        }
        frames
    };
    let frames = tokio::time::timeout(Duration::from_secs(5), reading).await;
    let frames = frames.expect("the connection ended instead of streaming on");
    assert!(
        frames <= BUFFER + 1 + KERNEL_FRAMES,
        "{frames} frames after the stall"
    );
    let mut healthy = app.connect("").await;
    next_messages(&mut healthy, 8).await;
}

/// Whether the server's kernel still holds a connection to the client port
/// (open, or closed by the server with unsent data), from /proc (Linux).
fn server_holds_connection(server_port: u16, client_port: u16) -> bool {
    // ESTABLISHED, FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK, CLOSING
    const HOLDING: [&str; 6] = ["01", "04", "05", "08", "09", "0B"];
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = |field: &str| u16::from_str_radix(field.rsplit(':').next()?, 16).ok();
        port(fields[1]) == Some(server_port)
            && port(fields[2]) == Some(client_port)
            && HOLDING.contains(&fields[3])
    })
}
