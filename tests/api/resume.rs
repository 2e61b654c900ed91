//! Resuming with `?since=<id>`: every stored reading after the id, in id
//! order, then live, with nothing missed or repeated at the seam.

use super::helpers::*;

fn ids(messages: &[serde_json::Value]) -> Vec<i64> {
    messages.iter().map(reading_id).collect()
}

#[tokio::test]
async fn a_client_reconnecting_with_the_last_id_it_saw_misses_nothing() {
    let app = spawn_app(&Options::default()).await;
    let mut first = app.connect("").await;
    let seen = next_messages(&mut first, 12).await;
    let last = reading_id(seen.last().unwrap());
    close(first).await;
    // Readings go on while the client is away.
    let wait = async {
        while app.stored_readings().len() < last as usize + 40 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .expect("readings in time");
    let mut again = app.connect(&format!("?since={last}")).await;
    // Replayed, then live: one run of ids without a hole or a repeat.
    let resumed = ids(&next_messages(&mut again, 80).await);
    let expected: Vec<i64> = (last + 1..=last + 80).collect();
    assert_eq!(resumed, expected);
    let stored = app.stored_readings();
    let row = stored.iter().find(|r| i64::from(r.id) == last + 1).unwrap();
    let mut third = app.connect(&format!("?since={last}")).await;
    let replayed = next_json(&mut third).await;
    assert_eq!(replayed["reading"], serde_json::to_value(row).unwrap());
    assert_eq!(replayed["device_id"], row.device_id);
}

#[tokio::test]
async fn a_replay_longer_than_the_buffer_waits_for_the_client_and_drops_nothing() {
    let history: Vec<_> = (0..3000)
        .map(|i| {
            aranet4_row(
                "Kitchen",
                &format!("2026-01-01T00:{:02}:{:02}Z", i / 60 % 60, i % 60),
                i,
            )
        })
        .collect();
    let options = Options {
        broadcast_buffer: 10,
        sensors: vec!["aranet4"],
        ..Options::default()
    };
    let app = spawn_seeded(&history, &options).await;
    let mut ws = app.connect("?since=0").await;
    let got = ids(&next_messages(&mut ws, 3020).await);
    assert_eq!(
        got,
        (1..=3020).collect::<Vec<_>>(),
        "stored, then live, in id order"
    );
    let (_, metrics) = http_get(app.addr, "/metrics", &[]).await;
    let dropped = "aranet_websocket_messages_dropped_total{cause=\"slow_client\"} 0";
    assert!(metrics.lines().any(|l| l == dropped), "{metrics}");
}

#[tokio::test]
async fn a_resume_keeps_to_the_devices_asked_for() {
    let app = spawn_app(&Options::default()).await;
    let mut ws = app.connect("").await;
    let messages = next_messages(&mut ws, 8).await;
    let device = messages[0]["device_id"].as_str().unwrap().to_owned();
    close(ws).await;
    let query = format!(
        "?since=0&device={}",
        device.replace(' ', "%20").replace('+', "%2B")
    );
    let mut resumed = app.connect(&query).await;
    let got = next_messages(&mut resumed, 12).await;
    assert!(got.iter().all(|m| m["device_id"] == device.as_str()));
    let got = ids(&got);
    let stored: Vec<i64> = app
        .stored_readings()
        .iter()
        .filter(|r| r.device_id == device)
        .map(|r| i64::from(r.id))
        .take(12)
        .collect();
    assert_eq!(
        got, stored,
        "every stored reading of that device, in id order"
    );
}

#[tokio::test]
async fn a_since_beyond_the_newest_reading_resumes_from_the_newest() {
    // As after the database was replaced by an older copy.
    let app = spawn_app(&Options::default()).await;
    let mut ws = app.connect("?since=1000000").await;
    let live = next_messages(&mut ws, 3).await;
    let newest_at_start = reading_id(&live[0]);
    assert!(newest_at_start < 1_000_000);
    assert_eq!(
        ids(&live),
        (newest_at_start..newest_at_start + 3).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn since_must_be_a_reading_id() {
    let app = spawn_app(&Options::default()).await;
    for bad in ["-1", "latest", ""] {
        let target = format!("/api/ws?since={bad}");
        let headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ];
        let (status, body) = http_get(app.addr, &target, &headers).await;
        assert_eq!(status, 400, "{target}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["parameter"], "since");
    }
}
