//! Hostile and broken input: odd handshakes, foreign origins, too many
//! sessions, floods of frames, oversized requests. Each gets a clear refusal
//! and the service keeps serving everyone else.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::helpers::*;
use super::raw::{RawClient, CLOSE, PING};

const KEY: (&str, &str) = ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
const VERSION: (&str, &str) = ("Sec-WebSocket-Version", "13");
const UPGRADE: (&str, &str) = ("Upgrade", "websocket");
const CONNECTION: (&str, &str) = ("Connection", "Upgrade");

/// Status, JSON error code and headers of one attempt.
async fn attempt(app: &TestApp, method: &str, headers: &[(&str, &str)]) -> (u16, Value, Response) {
    let response = http_fetch(app.addr, method, "/api/ws", headers).await;
    let body = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    (response.status, body, response)
}

#[tokio::test]
async fn handshakes_with_missing_or_odd_headers_get_a_4xx_with_a_reason() {
    let app = spawn_app(&Options::default()).await;
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16);
    let cases: [Case; 8] = [
        ("no upgrade", vec![CONNECTION, KEY, VERSION], 400),
        (
            "upgrade to h2c",
            vec![("Upgrade", "h2c"), CONNECTION, KEY, VERSION],
            400,
        ),
        (
            "no connection upgrade",
            vec![UPGRADE, ("Connection", "keep-alive"), KEY, VERSION],
            400,
        ),
        ("no key", vec![UPGRADE, CONNECTION, VERSION], 400),
        (
            "short key",
            vec![
                UPGRADE,
                CONNECTION,
                ("Sec-WebSocket-Key", "c2hvcnQ="),
                VERSION,
            ],
            400,
        ),
        (
            "key not base64",
            vec![
                UPGRADE,
                CONNECTION,
                ("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!=="),
                VERSION,
            ],
            400,
        ),
        ("no version", vec![UPGRADE, CONNECTION, KEY], 426),
        (
            "version 8",
            vec![UPGRADE, CONNECTION, KEY, ("Sec-WebSocket-Version", "8")],
            426,
        ),
    ];
    for (what, headers, status) in cases {
        let (got, body, response) = attempt(&app, "GET", &headers).await;
        assert_eq!(got, status, "{what}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
        if status == 426 {
            assert_eq!(
                response.header("sec-websocket-version"),
                Some("13"),
                "{what}"
            );
        }
    }
    let (got, body, _) = attempt(&app, "POST", &[UPGRADE, CONNECTION, KEY, VERSION]).await;
    assert_eq!(
        (got, body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
    // Proper clients are still served.
    let mut ws = app.connect("").await;
    next_json(&mut ws).await;
}

#[tokio::test]
async fn browser_origins_not_listed_get_403_and_programs_without_origin_are_unaffected() {
    let options = Options {
        server_extra: "allowed_origins = [\"http://Dashboard.local:8080\"]\n".into(),
        ..Options::default()
    };
    let app = spawn_app(&options).await;
    let upgrade = [UPGRADE, CONNECTION, KEY, VERSION];
    let mut foreign = upgrade.to_vec();
    foreign.push(("Origin", "http://evil.example"));
    let (status, body, _) = attempt(&app, "GET", &foreign).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let mut listed = upgrade.to_vec();
    listed.push(("Origin", "http://dashboard.local:8080"));
    assert_eq!(attempt(&app, "GET", &listed).await.0, 101);
    let mut ws = app.connect("").await;
    next_json(&mut ws).await;
}

#[tokio::test]
async fn sessions_beyond_max_sessions_get_503_until_one_closes() {
    let options = Options {
        server_extra: "max_sessions = 2\n".into(),
        ..Options::default()
    };
    let app = spawn_app(&options).await;
    let first = app.connect("").await;
    let _second = app.connect("").await;
    let (status, body, response) = attempt(&app, "GET", &[UPGRADE, CONNECTION, KEY, VERSION]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("too_many_sessions")),
        "{body}"
    );
    assert!(response.header("retry-after").is_some());
    close(first).await;
    let freed = async {
        loop {
            if let Ok(mut ws) = app.connect_with("", &[]).await {
                return next_json(&mut ws).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, freed)
        .await
        .expect("a slot frees up");
}

#[tokio::test]
async fn a_client_flooding_pings_is_closed_with_1008_and_others_keep_full_rate() {
    let app = spawn_app(&Options {
        interval_ms: 40,
        ..Options::default()
    })
    .await;
    let mut healthy = app.connect("").await;
    let mut flood = RawClient::connect(app.addr, "/api/ws", None).await;
    let mut sent = 0;
    while sent < 1000 && flood.try_send(PING, b"flood").await {
        sent += 1;
    }
    let mut closed_with = None;
    while let Some(frame) = flood.read_frame().await {
        if frame.opcode == CLOSE {
            closed_with = frame.close_code();
            break;
        }
    }
    assert_eq!(closed_with, Some(1008), "after {sent} pings");
    app.wait_for_log("client floods frames, closing").await;
    let mut ids = Vec::new();
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(3) {
        ids.push(reading_id(&next_json(&mut healthy).await));
    }
    let contiguous: Vec<i64> = (ids[0]..=*ids.last().unwrap()).collect();
    assert_eq!(ids, contiguous, "the other client lost nothing");
    // 100 readings a second are offered; a loaded machine may store fewer.
    assert!(ids.len() >= 90, "{} readings in 3 s", ids.len());
}

#[tokio::test]
async fn oversized_requests_are_refused_and_the_service_goes_on() {
    let app = spawn_app(&Options::default()).await;
    let big = "a".repeat(20 * 1024);
    let response = http_fetch(app.addr, "GET", "/api/devices", &[("X-Big", &big)]).await;
    assert_eq!(response.status, 431);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error"], "request_too_large");
    let long_url = format!("/api/devices?{}", "x=1&".repeat(5000));
    assert_eq!(http_get(app.addr, &long_url, &[]).await.0, 431);
    // Beyond what actix-http buffers at all: refused before any handler.
    let huge = "a".repeat(200 * 1024);
    assert_eq!(
        http_fetch(app.addr, "GET", "/api/devices", &[("X-Huge", &huge)])
            .await
            .status,
        431
    );
    // A body nobody reads is not read.
    let started = Instant::now();
    let (status, _) = http_request(
        app.addr,
        "POST",
        "/api/devices",
        &[("Content-Length", "1000000000")],
    )
    .await;
    assert_eq!(status, 405);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(http_get(app.addr, "/api/health", &[]).await.0, 200);
    assert!(app.logs().iter().all(|l| !l.contains("panicked")));
}
