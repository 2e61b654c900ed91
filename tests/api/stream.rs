//! The WebSocket stream: shape, snapshot-then-live seam, row ids, filters,
//! restarts.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

use super::helpers::*;

const KEYS: [&str; 12] = [
    "id",
    "device_id",
    "co2",
    "temperature",
    "humidity",
    "pressure",
    "battery",
    "status",
    "captured_at",
    "radon",
    "radiation_rate",
    "radiation_total",
];

/// The spec's Rust client types, unchanged.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct ReadingEvent {
    device_id: String,
    reading: SpecReading,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct SpecReading {
    co2: u16,
    temperature: f32,
    humidity: u8,
    pressure: f32,
    battery: u8,
    status: String,
}

/// Reads until one message of each of the four simulated kinds arrived.
async fn one_of_each_kind(ws: &mut Ws) -> HashMap<&'static str, Value> {
    let mut by_kind = HashMap::new();
    while by_kind.len() < 4 {
        let message = next_json(ws).await;
        let device = message["device_id"].as_str().expect("device_id").to_owned();
        let kind = match device.split(' ').next() {
            Some("Aranet4") => "aranet4",
            Some("Aranet2") => "aranet2",
            Some("Aranet\u{2622}") => "radiation",
            Some("AranetRn+") => "radon",
            other => panic!("unexpected device name {other:?}"),
        };
        by_kind.insert(kind, message);
    }
    by_kind
}

fn assert_shape(message: &Value) {
    let top: Vec<_> = message.as_object().expect("object").keys().collect();
    assert_eq!(top, ["device_id", "reading"], "top-level keys");
    let reading = message["reading"].as_object().expect("reading object");
    let mut keys: Vec<_> = reading.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "all twelve keys, always");
    assert_eq!(message["device_id"], reading["device_id"]);
    assert!(reading["id"].is_u64());
    let captured = reading["captured_at"].as_str().expect("captured_at");
    let parsed = chrono::DateTime::parse_from_rfc3339(captured).expect("ISO 8601");
    assert!(
        captured.ends_with('Z') && captured.len() == 20,
        "{captured}"
    );
    let age = chrono::Utc::now()
        .signed_duration_since(parsed)
        .num_seconds();
    assert!((-2..30).contains(&age), "captured {age}s ago");
}

fn assert_null(reading: &Value, keys: &[&str]) {
    for key in keys {
        assert!(reading[key].is_null(), "{key} should be null in {reading}");
    }
}

#[tokio::test]
async fn every_sensor_kind_arrives_in_the_spec_shape_with_json_types() {
    let app = spawn_app(&Options::default()).await;
    let mut ws = app.connect("").await;
    let by_kind = one_of_each_kind(&mut ws).await;
    by_kind.values().for_each(assert_shape);

    let aranet4 = &by_kind["aranet4"]["reading"];
    for key in ["co2", "humidity", "battery"] {
        assert!(aranet4[key].is_u64(), "{key} is a JSON integer: {aranet4}");
    }
    assert!(aranet4["temperature"].is_number() && aranet4["pressure"].is_number());
    assert!(["Green", "Yellow", "Red", "Error"].contains(&aranet4["status"].as_str().unwrap()));
    assert_null(aranet4, &["radon", "radiation_rate", "radiation_total"]);
    let event: ReadingEvent = serde_json::from_value(by_kind["aranet4"].clone()).unwrap();
    assert!(event.reading.co2 >= 400);

    let aranet2 = &by_kind["aranet2"]["reading"];
    assert!(aranet2["temperature"].is_number() && aranet2["humidity"].is_number());
    assert!(aranet2["battery"].is_u64());
    assert_null(
        aranet2,
        &["co2", "pressure", "status", "radon", "radiation_rate"],
    );

    let radiation = &by_kind["radiation"]["reading"];
    let rate = radiation["radiation_rate"].as_f64().expect("rate");
    assert!((0.01..5.0).contains(&rate), "µSv/h, not nSv/h: {rate}");
    let total = radiation["radiation_total"].as_f64().expect("total");
    assert!((0.0..1.0).contains(&total), "mSv, not nSv: {total}");
    assert_null(
        radiation,
        &["co2", "temperature", "humidity", "status", "radon"],
    );

    let radon = &by_kind["radon"]["reading"];
    assert!(radon["radon"].is_u64() && radon["status"].is_string());
    assert!(radon["temperature"].is_number() && radon["pressure"].is_number());
    assert_null(radon, &["co2", "radiation_rate", "radiation_total"]);
}

#[tokio::test]
async fn a_client_joining_mid_stream_gets_the_snapshot_then_live_without_gap_or_repeat() {
    let app = spawn_app(&Options::default()).await;
    let mut early = app.connect("").await;
    let mut seen = next_messages(&mut early, 10).await;

    let mut late = app.connect("").await;
    let snapshot = next_messages(&mut late, 4).await;
    let live = next_messages(&mut late, 12).await;
    let last_live = reading_id(live.last().unwrap());
    while reading_id(seen.last().unwrap()) < last_live {
        seen.push(next_json(&mut early).await);
    }

    let early_ids: Vec<i64> = seen.iter().map(reading_id).collect();
    let expected: Vec<i64> = (early_ids[0]..=last_live).collect();
    assert_eq!(
        early_ids, expected,
        "a client from the start sees every id once"
    );

    let snapshot_ids: Vec<i64> = snapshot.iter().map(reading_id).collect();
    let seam = *snapshot_ids.iter().max().unwrap();
    let mut latest_before_seam = BTreeMap::new();
    for message in seen.iter().filter(|m| reading_id(m) <= seam) {
        latest_before_seam.insert(message["device_id"].to_string(), reading_id(message));
    }
    let mut expected_snapshot: Vec<i64> = latest_before_seam.into_values().collect();
    expected_snapshot.sort_unstable();
    assert_eq!(
        snapshot_ids, expected_snapshot,
        "snapshot = latest per device"
    );

    let live_ids: Vec<i64> = live.iter().map(reading_id).collect();
    let expected_live: Vec<i64> = (seam + 1..=last_live).collect();
    assert_eq!(
        live_ids, expected_live,
        "live continues right after the snapshot"
    );
}

#[tokio::test]
async fn every_message_is_the_stored_row_with_that_id() {
    let app = spawn_app(&Options::default()).await;
    let mut ws = app.connect("").await;
    let messages = next_messages(&mut ws, 12).await;
    let rows: HashMap<i64, Value> = app
        .stored_readings()
        .iter()
        .map(|row| (i64::from(row.id), serde_json::to_value(row).unwrap()))
        .collect();
    for message in &messages {
        let row = rows
            .get(&reading_id(message))
            .expect("row with the message's id");
        assert_eq!(&message["reading"], row);
    }
}

#[tokio::test]
async fn device_filter_limits_snapshot_and_live_readings() {
    let app = spawn_app(&Options::default()).await;
    let mut all = app.connect("").await;
    let by_kind = one_of_each_kind(&mut all).await;
    let aranet4 = by_kind["aranet4"]["device_id"].as_str().unwrap().to_owned();
    let radon = by_kind["radon"]["device_id"].as_str().unwrap().to_owned();
    let query = format!("?device={}&device={}", encode(&aranet4), encode(&radon));

    let mut filtered = app.connect(&query).await;
    let messages = next_messages(&mut filtered, 8).await;
    let devices: Vec<&str> = messages
        .iter()
        .map(|m| m["device_id"].as_str().unwrap())
        .collect();
    assert!(
        devices.iter().all(|d| *d == aranet4 || *d == radon),
        "{devices:?}"
    );
    assert!(devices[..2].contains(&aranet4.as_str()) && devices[..2].contains(&radon.as_str()));
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_restarted_server_sends_the_same_snapshot_from_the_database() {
    let app = spawn_app(&Options::default()).await;
    let mut ws = app.connect("").await;
    next_messages(&mut ws, 10).await;
    close(ws).await;
    let (status, dir, _) = app.stop().await;
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");

    let quiet = Options {
        sensors: vec![],
        ..Options::default()
    };
    let app = spawn_in(dir, &quiet).await;
    let stored = app.stored_readings();
    let mut latest = BTreeMap::new();
    for row in &stored {
        latest.insert(row.device_id.clone(), i64::from(row.id));
    }
    let mut expected: Vec<i64> = latest.into_values().collect();
    expected.sort_unstable();
    let mut ws = app.connect("").await;
    let snapshot = next_messages(&mut ws, 4).await;
    assert_eq!(
        snapshot.iter().map(reading_id).collect::<Vec<_>>(),
        expected
    );
    assert!(app
        .logs()
        .iter()
        .any(|l| l.contains(&format!("readings={}", stored.len()))));
}
