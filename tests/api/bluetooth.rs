//! The Bluetooth backend end to end: the real binary, btleplug and libdbus,
//! talking to a fake BlueZ (`bluez`) on a private D-Bus; assertions on what
//! `/api/ws` delivers and what the table holds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::bluez::{aranet_uuid, FakeBluez, Fault, History, SensorSpec};
use crate::helpers::{get_json, http_get, next_json, next_messages, spawn_bluetooth, TestApp, Ws};

const ADAPTER_UP: &str = "scanning adapter=hci0";
const ARANET_SERVICE: &str = "0000fce0-0000-1000-8000-00805f9b34fb";

/// The real advertisement captures in `vectors.json` (not the constructed
/// ones).
fn real_captures() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/protocol/vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("vectors.json beside the repo");
    let vectors: Vec<Value> = serde_json::from_str(&text).expect("vectors json");
    vectors
        .into_iter()
        .filter(|v| v["kind"] == "advertisement" && v["constructed"].is_null())
        .collect()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The Aranet4 capture with readings, re-stamped: CO₂, interval, age and
/// counter (offsets per ARANET.md §1.3).
fn aranet4_frame(co2: u16, interval_s: u16, age_s: u16, counter: u8) -> Vec<u8> {
    let mut frame = hex("210503010005000143049f018b27350c023c00100055");
    frame[8..10].copy_from_slice(&co2.to_le_bytes());
    frame[17..19].copy_from_slice(&interval_s.to_le_bytes());
    frame[19..21].copy_from_slice(&age_s.to_le_bytes());
    frame[21] = counter;
    frame
}

/// An Aranet4 advertising with Smart Home integrations off (a real capture).
fn integrations_off_frame() -> Vec<u8> {
    hex("210503010005000143049f018b27350c023c0010")
}

/// The 13-byte `f0cd3001` value.
fn aranet4_current(co2: u16, interval_s: u16, age_s: u16) -> Vec<u8> {
    let mut value = Vec::new();
    value.extend(co2.to_le_bytes());
    value.extend(450u16.to_le_bytes()); // 22.5 °C
    value.extend(10130u16.to_le_bytes()); // 1013.0 hPa
    value.extend([45, 90, 1]); // humidity, battery, green
    value.extend(interval_s.to_le_bytes());
    value.extend(age_s.to_le_bytes());
    value
}

/// An Aranet4 log of `total` records; record `i` has CO₂ `1000 + i`.
fn aranet4_history(total: u16, interval_s: u16, age_s: u16) -> History {
    let records = |f: &dyn Fn(u16) -> Vec<u8>| (1..=total).map(f).collect::<Vec<_>>();
    let params = HashMap::from([
        (1, records(&|_| 440u16.to_le_bytes().to_vec())),
        (2, records(&|_| vec![50])),
        (3, records(&|_| 10100u16.to_le_bytes().to_vec())),
        (4, records(&|i| (1000 + i).to_le_bytes().to_vec())),
    ]);
    History {
        interval_s,
        age_s,
        params,
    }
}

fn devices_toml(entries: &[(&str, &str, &str)]) -> String {
    entries
        .iter()
        .map(|(address, name, mode)| {
            format!("[[devices]]\naddress = {address:?}\nname = {name:?}\nmode = {mode:?}\n")
        })
        .collect()
}

async fn start(bluez: &FakeBluez, toml: &str) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let app = spawn_bluetooth(dir, &bluez.bus_address(), toml).await;
    app.wait_for_log(ADAPTER_UP).await;
    app
}

fn rows_of(app: &TestApp, device: &str) -> Vec<aranet_service::db::models::Reading> {
    let rows = app.stored_readings();
    rows.into_iter().filter(|r| r.device_id == device).collect()
}

/// Rows of one device captured within `window` seconds of each other.
fn near_duplicates(rows: &[aranet_service::db::models::Reading], window: i64) -> usize {
    let mut times: Vec<i64> = rows
        .iter()
        .map(|r| {
            chrono::DateTime::parse_from_rfc3339(&r.captured_at)
                .expect("time")
                .timestamp()
        })
        .collect();
    times.sort_unstable();
    times.windows(2).filter(|w| w[1] - w[0] < window).count()
}

async fn expect_silence(ws: &mut Ws, for_how_long: Duration) {
    use futures_util::StreamExt;
    if let Ok(Some(Ok(message))) = tokio::time::timeout(for_how_long, ws.next()).await {
        assert!(!message.is_text(), "unexpected message {message:?}");
    }
}

fn assert_close(actual: &Value, expected: &Value, what: &str) {
    match (actual.as_f64(), expected.as_f64()) {
        (Some(a), Some(e)) => assert!((a - e).abs() < 1e-9, "{what}: {a} != {e}"),
        _ => assert_eq!(actual, expected, "{what}"),
    }
}

#[tokio::test]
async fn every_real_advertisement_capture_is_decoded_end_to_end() {
    let bluez = FakeBluez::start().await;
    let captures = real_captures();
    assert!(captures.len() >= 10, "captures: {}", captures.len());
    let addresses: Vec<String> = (0..captures.len())
        .map(|i| format!("C0:FF:EE:00:00:{i:02X}"))
        .collect();
    let mut entries = Vec::new();
    for (i, capture) in captures.iter().enumerate() {
        let name = capture["local_name"].as_str().map(String::from);
        let spec = SensorSpec {
            address: addresses[i].clone(),
            name,
            rssi: -50,
            ..SensorSpec::default()
        };
        bluez.add_sensor(spec).await;
        entries.push(format!("capture-{i}"));
    }
    let devices: Vec<_> = entries
        .iter()
        .zip(&addresses)
        .map(|(name, address)| (address.as_str(), name.as_str(), "passive"))
        .collect();
    let app = start(&bluez, &devices_toml(&devices)).await;
    let mut ws = app.connect("").await;
    for (capture, address) in captures.iter().zip(&addresses) {
        let data = hex(capture["hex"].as_str().expect("hex"));
        bluez.advertise(address, Some(data), -50).await;
    }
    let with_readings: Vec<usize> = (0..captures.len())
        .filter(|&i| captures[i]["expected"]["readings_present"] == true)
        .collect();
    let messages = next_messages(&mut ws, with_readings.len()).await;
    for message in &messages {
        let device = message["device_id"].as_str().expect("device_id");
        let i: usize = device["capture-".len()..].parse().expect("capture index");
        let expected = &captures[i]["expected"];
        let reading = &message["reading"];
        let fields = [
            ("co2", "co2_ppm"),
            ("temperature", "temperature_c"),
            ("humidity", "humidity_pct"),
            ("pressure", "pressure_hpa"),
            ("battery", "battery_pct"),
            ("radon", "radon_bq_m3"),
            ("radiation_rate", "dose_rate_usv_h"),
            ("radiation_total", "dose_total_msv"),
        ];
        for (field, key) in fields {
            assert_close(
                &reading[field],
                &expected[key],
                &format!("{device} {field}"),
            );
        }
        let status = expected.get("status").cloned().unwrap_or(Value::Null);
        assert_eq!(reading["status"], status, "{device} status");
    }
    expect_silence(&mut ws, Duration::from_millis(500)).await;
    let stored = app.stored_readings();
    assert_eq!(stored.len(), with_readings.len());
    let logs = app.logs().join("\n");
    for i in (0..captures.len()).filter(|i| !with_readings.contains(i)) {
        let device = format!("device=capture-{i}");
        assert!(
            logs.lines()
                .any(|l| l.contains(&device) && l.contains("WARN")),
            "no warning for capture {i}"
        );
    }
}

#[tokio::test]
async fn a_passive_sensor_gives_one_reading_per_measurement() {
    let bluez = FakeBluez::start().await;
    let address = "C0:FF:EE:00:01:01";
    bluez
        .add_sensor(SensorSpec::aranet4(address, "Aranet4 1F00D"))
        .await;
    let app = start(&bluez, "").await;
    let mut ws = app.connect("").await;
    for age in [10, 14, 18] {
        bluez
            .advertise(address, Some(aranet4_frame(700, 60, age, 7)), -55)
            .await;
    }
    let first = next_json(&mut ws).await;
    assert_eq!(first["device_id"], "Aranet4 1F00D");
    assert_eq!(first["reading"]["co2"], 700);
    expect_silence(&mut ws, Duration::from_millis(500)).await;
    bluez
        .advertise(address, Some(aranet4_frame(720, 60, 1, 8)), -55)
        .await;
    let second = next_json(&mut ws).await;
    assert_eq!(second["reading"]["co2"], 720);
    assert_eq!(rows_of(&app, "Aranet4 1F00D").len(), 2);
    assert_eq!(
        bluez.stats(address).connects,
        0,
        "passive sensors are not connected to"
    );
}

#[tokio::test]
async fn a_sensor_without_readings_in_adverts_is_read_over_gatt_after_each_measurement() {
    let bluez = FakeBluez::start().await;
    let address = "C0:FF:EE:00:02:01";
    let mut spec = SensorSpec::aranet4(address, "Aranet4 2AC71");
    let current = (aranet_uuid(0x3001), aranet4_current(810, 4, 2));
    spec.characteristics.retain(|(uuid, _)| *uuid != current.0);
    spec.characteristics.push(current);
    bluez.add_sensor(spec).await;
    let app = start(&bluez, "").await;
    let mut ws = app.connect("").await;
    bluez
        .advertise(address, Some(integrations_off_frame()), -60)
        .await;
    let first = next_json(&mut ws).await;
    assert_eq!(first["device_id"], "Aranet4 2AC71");
    assert_eq!(first["reading"]["co2"], 810);
    assert_eq!(first["reading"]["status"], "Green");
    app.wait_for_log("model=Aranet4 serial=12345 firmware=v1.4.19")
        .await;
    let listed = get_json(app.addr, "/api/devices/Aranet4%202AC71", &[]).await;
    assert_eq!(listed["mode"], "active");
    assert_eq!(
        (&listed["model"], &listed["serial"]),
        (&"Aranet4".into(), &"12345".into())
    );
    assert_eq!(listed["rssi"], -60);
    assert!(listed["firmware"].is_string());
    // The sensor measures again; the next read comes just after it.
    bluez
        .set_value(address, &aranet_uuid(0x3001), aranet4_current(905, 4, 0))
        .await;
    let second = next_json(&mut ws).await;
    assert_eq!(second["reading"]["co2"], 905);
    let stats = bluez.stats(address);
    assert!(stats.connects >= 2, "connects: {}", stats.connects);
    // The disconnect call may still be on its way over the bus.
    let disconnected = async {
        while bluez.stats(address).connected {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let waited = tokio::time::timeout(Duration::from_secs(3), disconnected).await;
    assert!(waited.is_ok(), "disconnected between reads");
    assert_eq!(rows_of(&app, "Aranet4 2AC71").len(), 2);
}

#[tokio::test]
async fn a_gap_is_backfilled_from_history_once_even_across_restarts() {
    let bluez = FakeBluez::start().await;
    let address = "C0:FF:EE:00:03:01";
    let device = "Aranet4 3B4CF";
    bluez.add_sensor(SensorSpec::aranet4(address, device)).await;
    bluez.set_history(address, aranet4_history(20, 60, 5)).await;

    // Heard once, almost ten minutes ago; then the service is down.
    let app = start(&bluez, "").await;
    bluez
        .advertise(address, Some(aranet4_frame(1010, 60, 590, 1)), -55)
        .await;
    app.wait_for_log("reading stored").await;
    let (_, dir, _) = app.stop().await;

    // Back up: the next measurement shows the gap, and the ten missed
    // records are downloaded; the newest is the live one, stored once.
    let app = spawn_bluetooth(dir, &bluez.bus_address(), "").await;
    app.wait_for_log(ADAPTER_UP).await;
    let mut ws = app.connect("").await;
    assert_eq!(next_json(&mut ws).await["reading"]["co2"], 1010); // snapshot
    bluez
        .advertise(address, Some(aranet4_frame(1020, 60, 5, 2)), -55)
        .await;
    assert_eq!(next_json(&mut ws).await["reading"]["co2"], 1020);
    let done = app.wait_for_log("backfill done").await;
    assert!(done.contains("downloaded=10 inserted=9"), "{done}");
    app.wait_for_log(&format!("backfill device={device} 40/40"))
        .await;
    let rows = rows_of(&app, device);
    assert_eq!(rows.len(), 11);
    assert_eq!(near_duplicates(&rows, 30), 0);
    let co2: Vec<_> = rows.iter().filter_map(|r| r.co2).collect();
    for missed in 1011..=1019 {
        assert!(co2.contains(&missed), "record with CO₂ {missed} missing");
    }
    // Backfilled rows are not pushed to sessions as if new.
    expect_silence(&mut ws, Duration::from_millis(300)).await;

    // A sensor that claims a short interval shows another "gap": the
    // overlapping download adds nothing.
    bluez
        .advertise(address, Some(aranet4_frame(1030, 2, 0, 3)), -55)
        .await;
    assert_eq!(next_json(&mut ws).await["reading"]["co2"], 1030);
    let second = app.wait_for_log_count("backfill done", 2).await;
    assert!(second.contains("inserted=0"), "{second}");
    let rows = rows_of(&app, device);
    assert_eq!(rows.len(), 12);
    assert_eq!(near_duplicates(&rows, 2), 0);
    let (_, metrics) = http_get(app.addr, "/metrics", &[]).await;
    for line in [
        "aranet_backfills_total{outcome=\"done\"} 2",
        "aranet_readings_stored_total{source=\"history\"} 9",
        "aranet_readings_stored_total{source=\"live\"} 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn without_bluez_the_server_serves_and_recovers_when_bluez_appears() {
    let bluez = FakeBluez::start().await;
    bluez.stop_bluez().await;
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let app = spawn_bluetooth(dir, &bluez.bus_address(), "").await;
    let down = app.wait_for_log("bluetooth unavailable").await;
    assert!(down.contains("ERROR"), "{down}");
    // Still serving.
    let mut ws = app.connect("").await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;

    bluez.start_bluez().await;
    let address = "C0:FF:EE:00:04:01";
    bluez
        .add_sensor(SensorSpec::aranet4(address, "Aranet4 4D00E"))
        .await;
    app.wait_for_log("bluetooth recovered adapter=hci0").await;
    bluez
        .advertise(address, Some(aranet4_frame(650, 60, 3, 1)), -50)
        .await;
    assert_eq!(next_json(&mut ws).await["reading"]["co2"], 650);
}

#[tokio::test]
async fn bluez_restarting_and_the_adapter_vanishing_are_survived() {
    let bluez = FakeBluez::start().await;
    let address = "C0:FF:EE:00:05:01";
    let spec = SensorSpec::aranet4(address, "Aranet4 5E11A");
    bluez.add_sensor(spec.clone()).await;
    let app = start(&bluez, "").await;
    let mut ws = app.connect("").await;
    bluez
        .advertise(address, Some(aranet4_frame(600, 60, 1, 1)), -50)
        .await;
    assert_eq!(next_json(&mut ws).await["reading"]["co2"], 600);

    let started = std::time::Instant::now();
    bluez.stop_bluez().await;
    app.wait_for_log("bluetooth unavailable").await;
    bluez.start_bluez().await;
    bluez.add_sensor(spec.clone()).await;
    app.wait_for_log("bluetooth recovered").await;
    eprintln!("bluez restart: recovered in {:?}", started.elapsed());
    bluez
        .advertise(address, Some(aranet4_frame(610, 60, 1, 2)), -50)
        .await;
    assert_eq!(next_json(&mut ws).await["reading"]["co2"], 610);

    let started = std::time::Instant::now();
    bluez.remove_adapter().await;
    app.wait_for_log("went away").await;
    bluez.add_adapter().await;
    bluez.add_sensor(spec).await;
    app.wait_for_log_count("bluetooth recovered", 2).await;
    eprintln!("adapter replug: recovered in {:?}", started.elapsed());
    bluez
        .advertise(address, Some(aranet4_frame(620, 60, 1, 3)), -50)
        .await;
    assert_eq!(next_json(&mut ws).await["reading"]["co2"], 620);
    assert_eq!(rows_of(&app, "Aranet4 5E11A").len(), 3);
}

#[tokio::test]
async fn a_read_cut_off_or_truncated_is_retried_without_duplicates() {
    let bluez = FakeBluez::start().await;
    let address = "C0:FF:EE:00:06:01";
    let device = "Aranet4 6F00D";
    let mut spec = SensorSpec::aranet4(address, device);
    spec.service_uuids = vec![ARANET_SERVICE.into()];
    let current = (aranet_uuid(0x3001), aranet4_current(830, 4, 2));
    spec.characteristics.retain(|(uuid, _)| *uuid != current.0);
    spec.characteristics.push(current);
    bluez.add_sensor(spec).await;
    bluez.inject(address, Fault::DisconnectOnNextRead).await;
    let toml = devices_toml(&[(address, device, "active")]);
    let app = start(&bluez, &toml).await;
    let mut ws = app.connect("").await;
    bluez.advertise(address, None, -50).await;
    app.wait_for_log("read failed").await;
    assert_eq!(next_json(&mut ws).await["reading"]["co2"], 830);
    assert!(app.logs().iter().all(|l| !l.contains("panicked")));

    // The next measurement's read comes back truncated, then whole.
    bluez.inject(address, Fault::TruncateNextRead(7)).await;
    bluez
        .set_value(address, &aranet_uuid(0x3001), aranet4_current(840, 4, 0))
        .await;
    let truncated = app.wait_for_log_count("read failed", 2).await;
    assert!(truncated.contains("7 bytes"), "{truncated}");
    assert_eq!(next_json(&mut ws).await["reading"]["co2"], 840);
    let rows = rows_of(&app, device);
    assert_eq!(rows.len(), 2);
}

#[tokio::test]
async fn a_silent_sensor_turns_stale_then_gone_and_comes_back_when_heard() {
    let bluez = FakeBluez::start().await;
    let address = "C0:FF:EE:00:07:01";
    let device = "Aranet4 7AB1E";
    bluez.add_sensor(SensorSpec::aranet4(address, device)).await;
    let app = start(&bluez, "").await;
    bluez
        .advertise(address, Some(aranet4_frame(500, 1, 0, 1)), -50)
        .await;
    app.wait_for_log(&format!("sensor stale device={device}"))
        .await;
    let target = format!("/api/devices/{}", device.replace(' ', "%20"));
    let listed = get_json(app.addr, &target, &[]).await;
    assert_eq!(listed["stale"], true, "{listed}");
    assert_eq!(listed["address"], address);
    app.wait_for_log(&format!("sensor gone device={device}"))
        .await;
    let listed = get_json(app.addr, &target, &[]).await;
    assert_eq!(listed["stale"], true, "a gone sensor stays listed, stale");
    bluez
        .advertise(address, Some(aranet4_frame(510, 1, 0, 2)), -50)
        .await;
    app.wait_for_log_count(&format!("sensor found device={device}"), 2)
        .await;
    let mut ws = app.connect("").await;
    assert_eq!(next_json(&mut ws).await["reading"]["co2"], 510);
    assert_eq!(rows_of(&app, device).len(), 2);
    assert_eq!(get_json(app.addr, &target, &[]).await["stale"], false);
}

#[tokio::test]
async fn a_week_long_gap_is_backfilled_from_a_full_log() {
    let bluez = FakeBluez::start().await;
    let address = "C0:FF:EE:00:08:01";
    let device = "Aranet4 8F1A0";
    bluez.add_sensor(SensorSpec::aranet4(address, device)).await;
    // A full Aranet4 memory: 2016 records, five minutes apart (one week).
    bluez
        .set_history(address, aranet4_history(2016, 300, 5))
        .await;
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    store_old_reading(&dir, device, chrono::TimeDelta::days(8));

    let app = spawn_bluetooth(dir, &bluez.bus_address(), "").await;
    app.wait_for_log(ADAPTER_UP).await;
    bluez
        .advertise(address, Some(aranet4_frame(1099, 300, 5, 9)), -55)
        .await;
    app.wait_for_log(&format!("backfill device={device} 0/8064"))
        .await;
    let started = std::time::Instant::now();
    let done = app.wait_for_log("backfill done").await;
    eprintln!("full log backfill: {:?}, {done}", started.elapsed());
    assert!(done.contains("downloaded=2016 inserted=2015"), "{done}");
    let rows = rows_of(&app, device);
    assert_eq!(rows.len(), 2017);
    assert_eq!(near_duplicates(&rows, 150), 0);
    let progress = app
        .logs()
        .into_iter()
        .filter(|l| l.contains("/8064"))
        .count();
    assert!(progress >= 10, "progress logged {progress} times");
}

/// Stores one reading of `device`, captured `ago`, in `dir`'s database.
fn store_old_reading(dir: &tempfile::TempDir, device: &str, ago: chrono::TimeDelta) {
    use aranet_service::db;
    let mut conn = db::open(&dir.path().join("data/aranet.db")).expect("open db");
    db::migrate(&mut conn).expect("migrate");
    let captured_at = (chrono::Utc::now() - ago).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let row = db::models::NewReading {
        device_id: device.into(),
        co2: Some(900),
        temperature: None,
        humidity: None,
        pressure: None,
        battery: None,
        status: None,
        captured_at,
        radon: None,
        radiation_rate: None,
        radiation_total: None,
    };
    db::insert_reading(&mut conn, &row).expect("insert");
}

#[tokio::test]
async fn a_failing_sensor_backs_off_and_never_holds_the_adapter_from_others() {
    let bluez = Arc::new(FakeBluez::start().await);
    let (broken, healthy) = ("C0:FF:EE:00:09:01", "C0:FF:EE:00:09:02");
    for (address, name, co2) in [
        (broken, "Aranet4 9BAD0", 700),
        (healthy, "Aranet4 9600D", 710),
    ] {
        let mut spec = SensorSpec::aranet4(address, name);
        spec.characteristics
            .retain(|(uuid, _)| *uuid != aranet_uuid(0x3001));
        spec.characteristics
            .push((aranet_uuid(0x3001), aranet4_current(co2, 4, 2)));
        bluez.add_sensor(spec).await;
    }
    let toml = devices_toml(&[(broken, "broken", "active"), (healthy, "healthy", "active")]);
    let app = start(&bluez, &toml).await;
    // Every read of the broken sensor is cut off.
    let sabotage = {
        let bluez = bluez.clone();
        tokio::spawn(async move {
            loop {
                bluez.inject(broken, Fault::DisconnectOnNextRead).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let mut ws = app.connect("?device=healthy").await;
    let started = std::time::Instant::now();
    for expected in [710, 720, 730] {
        assert_eq!(next_json(&mut ws).await["reading"]["co2"], expected);
        bluez
            .set_value(
                healthy,
                &aranet_uuid(0x3001),
                aranet4_current(expected + 10, 4, 0),
            )
            .await;
    }
    sabotage.abort();
    let elapsed = started.elapsed();
    // Backoff 5 s, 10 s, 20 s …: at most three attempts in this time.
    let attempts = bluez.stats(broken).connect_attempts;
    assert!(
        attempts <= 3,
        "broken sensor tried {attempts} times in {elapsed:?}"
    );
    let logs = app.logs().join("\n");
    assert!(logs.contains("device=broken error=read failed: Not connected failures=1 retry_in_s=5"));
    assert!(logs.contains("device=broken error=read failed: Not connected failures=2 retry_in_s=1"));
}
