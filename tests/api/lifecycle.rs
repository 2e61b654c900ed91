//! Connection lifecycle: keep-alive, bad client frames, plain HTTP, shutdown.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use super::helpers::*;
use super::raw::{RawClient, CLOSE, PING, PONG, TEXT};

fn fast_keep_alive() -> Options {
    Options {
        ping_interval_ms: 200,
        client_timeout_ms: 700,
        ..Options::default()
    }
}

#[tokio::test]
async fn sigterm_delivers_every_stored_reading_then_closes_with_1001() {
    let app = spawn_app(&Options::default()).await;
    let mut ws = app.connect("").await;
    let mut ids: Vec<i64> = next_messages(&mut ws, 5)
        .await
        .iter()
        .map(reading_id)
        .collect();
    // Not reading for a while leaves a backlog (about 40 readings, below the
    // buffer of 100) queued for this client when the signal comes.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopping = tokio::spawn(app.stop());
    let close_code = loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("in time");
        match message.expect("open").expect("frame") {
            Message::Text(text) => {
                let json: serde_json::Value = serde_json::from_str(&text).unwrap();
                ids.push(reading_id(&json));
            }
            Message::Close(frame) => break frame.map(|f| f.code),
            _ => {}
        }
    };
    assert_eq!(close_code, Some(CloseCode::Away), "1001 going away");
    let (status, dir, _) = stopping.await.unwrap();
    assert!(status.success(), "{status:?}");

    let db = dir.path().join("data/aranet.db");
    let mut conn = aranet_service::db::open(&db).unwrap();
    let stored = aranet_service::db::count_readings(&mut conn).unwrap();
    let expected: Vec<i64> = (ids[0]..=stored).collect();
    assert_eq!(
        ids, expected,
        "everything stored was delivered before the close"
    );
    assert!(
        ids.len() > 30,
        "the backlog was delivered: {} readings",
        ids.len()
    );
}

#[tokio::test]
async fn after_a_client_close_the_server_answers_and_hangs_up_at_once() {
    let app = spawn_app(&Options::default()).await;
    let mut ws = app.connect("").await;
    next_json(&mut ws).await;
    ws.send(Message::Close(None)).await.unwrap();
    let started = Instant::now();
    let mut echoed = false;
    while let Some(Ok(message)) = ws.next().await {
        echoed |= matches!(message, Message::Close(_));
    }
    assert!(echoed, "the server echoed the close");
    // Not the 1 s actix-web would otherwise linger before dropping the socket.
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(500),
        "hung up after {waited:?}"
    );
}

#[tokio::test]
async fn the_server_answers_pings_and_closes_a_peer_that_stays_silent() {
    let app = spawn_app(&fast_keep_alive()).await;
    let mut client = RawClient::connect(app.addr, "/api/ws", None).await;
    client.send(PING, b"hi").await;
    let started = Instant::now();
    let (mut pong, mut pings, mut last) = (None, 0, None);
    while let Some(frame) = client.read_frame().await {
        match frame.opcode {
            PONG => pong = Some(frame.payload.clone()),
            PING => pings += 1,
            _ => {}
        }
        last = Some(frame);
    }
    assert_eq!(pong.as_deref(), Some(&b"hi"[..]));
    assert!(pings >= 2, "server pings every 200 ms: {pings}");
    assert_eq!(last.and_then(|f| f.close_code()), Some(1001));
    assert!(started.elapsed() >= Duration::from_millis(700));
    app.wait_for_log("session timed out").await;
}

#[tokio::test]
async fn a_client_that_answers_pings_stays_connected_and_may_send_text() {
    let app = spawn_app(&fast_keep_alive()).await;
    let mut ws = app.connect("").await;
    ws.send(Message::text("ping")).await.unwrap();
    let until = Instant::now() + Duration::from_millis(2000);
    let mut count = 0;
    while Instant::now() < until {
        next_json(&mut ws).await;
        count += 1;
    }
    assert!(count > 20, "still streaming after three timeouts: {count}");
}

#[tokio::test]
async fn a_broken_client_frame_closes_only_that_session_with_1002() {
    let app = spawn_app(&Options::default()).await;
    let mut healthy = app.connect("").await;
    let mut broken = RawClient::connect(app.addr, "/api/ws", None).await;
    broken.send_bytes(&[0x81, 0x02, b'h', b'i']).await; // unmasked: forbidden for clients
    let mut close = None;
    while let Some(frame) = broken.read_frame().await {
        if frame.opcode == CLOSE {
            close = frame.close_code();
        }
    }
    assert_eq!(close, Some(1002));
    next_messages(&mut healthy, 8).await;
}

#[tokio::test]
async fn an_oversized_client_frame_closes_the_session_with_1009() {
    let app = spawn_app(&Options::default()).await;
    let mut client = RawClient::connect(app.addr, "/api/ws", None).await;
    client.send(TEXT, &vec![b'x'; 40_000]).await;
    let mut close = None;
    while let Some(frame) = client.read_frame().await {
        if frame.opcode == CLOSE {
            close = frame.close_code();
        }
    }
    assert_eq!(close, Some(1009));
}

#[tokio::test]
async fn plain_http_gets_json_errors_400_for_the_endpoint_and_404_elsewhere() {
    let app = spawn_app(&Options::default()).await;
    let (status, body) = http_get(app.addr, "/api/ws", &[]).await;
    assert_eq!(status, 400);
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(json["error"], "bad_request");
    let (status, body) = http_request(app.addr, "POST", "/api/ws", &[]).await;
    assert_eq!(status, 405);
    assert!(body.contains("method_not_allowed"));
    let (status, body) = http_get(app.addr, "/nothing", &[]).await;
    assert_eq!(status, 404);
    assert!(body.contains("not_found"));
    let mut ws = app.connect("").await;
    assert!(next_json(&mut ws).await["reading"]["id"].is_u64());
}
