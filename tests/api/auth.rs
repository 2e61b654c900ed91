//! The API key: header or `?token=`, checked before the upgrade, never logged.

use tokio_tungstenite::tungstenite::Error as WsError;

use super::helpers::*;

/// A key with the characters URL encoding trips over.
const KEY: &str = "0123456789s3cr+t/k3y==";

fn with_key() -> Options {
    Options {
        api_key: Some(KEY.into()),
        ..Options::default()
    }
}

fn assert_unauthorized(result: Result<Ws, WsError>) {
    match result {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 401),
        Err(other) => panic!("expected HTTP 401, got {other}"),
        Ok(_) => panic!("expected HTTP 401, got an upgrade"),
    }
}

#[tokio::test]
async fn without_a_configured_key_anyone_may_connect() {
    let app = spawn_app(&Options::default()).await;
    let mut ws = app.connect_with("", &[]).await.expect("open access");
    next_json(&mut ws).await;
}

#[tokio::test]
async fn a_missing_or_wrong_key_gets_401_with_a_json_body() {
    let app = spawn_app(&with_key()).await;
    assert_unauthorized(app.connect_with("", &[]).await);
    assert_unauthorized(
        app.connect_with("", &[("X-API-Key", "0123456789s3cr+t/k3y=")])
            .await,
    );
    assert_unauthorized(app.connect_with("?token=wrong", &[]).await);
    let upgrade = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    let (status, body) = http_get(app.addr, "/api/ws?token=nope", &upgrade).await;
    assert_eq!(status, 401, "checked before the handshake: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
    assert_eq!(json["error"], "unauthorized");
    assert!(json["message"].is_string());
}

#[tokio::test]
async fn the_key_is_accepted_as_header_and_as_percent_encoded_or_raw_token() {
    let app = spawn_app(&with_key()).await;
    let mut by_header = app
        .connect_with("", &[("X-API-Key", KEY)])
        .await
        .expect("header");
    next_json(&mut by_header).await;
    let encoded = "?token=0123456789s3cr%2Bt%2Fk3y%3D%3D";
    let mut by_token = app.connect_with(encoded, &[]).await.expect("encoded token");
    next_json(&mut by_token).await;
    let mut raw = app
        .connect_with("?token=0123456789s3cr+t/k3y==", &[])
        .await
        .expect("raw token");
    next_json(&mut raw).await;
}

#[tokio::test]
async fn the_key_never_appears_in_the_logs() {
    let app = spawn_app(&with_key()).await;
    let mut ws = app
        .connect_with("?token=0123456789s3cr%2Bt%2Fk3y%3D%3D", &[])
        .await
        .expect("token");
    next_json(&mut ws).await;
    close(ws).await;
    let _ = app.connect_with("?token=0123456789s3cr+t/k3y=", &[]).await;
    let _ = app
        .connect_with("", &[("X-API-Key", "0123456789s3cr+t/k3y=")])
        .await;
    app.wait_for_log("token=REDACTED").await;
    let (_, _, logs) = app.stop().await;
    for needle in ["s3cr", "k3y", "%2Bt"] {
        let leaks: Vec<_> = logs.iter().filter(|l| l.contains(needle)).collect();
        assert!(leaks.is_empty(), "key material in logs: {leaks:?}");
    }
}

#[tokio::test]
async fn an_address_that_keeps_guessing_gets_429_while_others_get_in_at_once() {
    let app = spawn_app(&with_key()).await;
    let guesser: std::net::IpAddr = [127, 0, 0, 2].into();
    let upgrade = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    for guess in 0..10 {
        let target = format!("/api/ws?token=guess{guess}");
        let response = http_fetch_from(guesser, app.addr, "GET", &target, &upgrade).await;
        assert_eq!(response.status, 401, "guess {guess}");
    }
    let limited =
        http_fetch_from(guesser, app.addr, "GET", "/api/ws?token=guess10", &upgrade).await;
    assert_eq!(limited.status, 429);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=6).contains(&retry), "Retry-After: {retry}");
    let body: serde_json::Value = serde_json::from_str(&limited.body).unwrap();
    assert_eq!(body["error"], "too_many_attempts");
    // Even the right key waits from there; REST too.
    let key = [("X-API-Key", KEY)];
    let rest = http_fetch_from(guesser, app.addr, "GET", "/api/devices", &key).await;
    assert_eq!(rest.status, 429);
    // Another address is not slowed at all.
    let started = std::time::Instant::now();
    let mut ws = app
        .connect_with("", &key)
        .await
        .expect("another client gets in");
    next_json(&mut ws).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    app.wait_for_log("too many wrong API keys, refusing peer=127.0.0.2")
        .await;
}

#[tokio::test]
async fn listening_beyond_loopback_without_a_key_logs_a_warning() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let open = spawn_bound(dir, "0.0.0.0:0", &Options::default()).await;
    let warning = open.wait_for_log("without an API key").await;
    assert!(warning.contains("WARN"), "{warning}");
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let keyed = spawn_bound(dir, "0.0.0.0:0", &with_key()).await;
    keyed.wait_for_log("scanner started").await;
    let local = spawn_app(&Options::default()).await;
    local.wait_for_log("scanner started").await;
    for app in [&keyed, &local] {
        assert!(app.logs().iter().all(|l| !l.contains("without an API key")));
    }
}
