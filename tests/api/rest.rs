//! The REST API, health, metrics and the dashboard's files, against the real
//! binary: what a `curl` user or a scraper sees.

use std::collections::HashMap;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use super::helpers::*;

/// A server without simulated sensors: only what the test stored.
fn quiet() -> Options {
    Options {
        sensors: Vec::new(),
        ..Options::default()
    }
}

fn encoded(id: &str) -> String {
    utf8_percent_encode(id, NON_ALPHANUMERIC).to_string()
}

/// `count` rows of `device`, `per_second` of them sharing each timestamp.
fn rows(
    device: &str,
    count: usize,
    per_second: usize,
) -> Vec<aranet_service::db::models::NewReading> {
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
    (0..count)
        .map(|i| {
            let at = start + chrono::TimeDelta::seconds((i / per_second) as i64 * 60);
            let text = at.to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            aranet4_row(device, &text, 400 + i as i32)
        })
        .collect()
}

/// Polls `/api/devices` until `ready` holds for the list.
async fn devices_when(app: &TestApp, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let poll = async {
        loop {
            let devices = get_json(app.addr, "/api/devices", &[]).await;
            let devices = devices.as_array().unwrap().clone();
            if ready(&devices) {
                return devices;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, poll)
        .await
        .expect("devices in time")
}

async fn error_of(app: &TestApp, target: &str, status: u16) -> Value {
    let (got, body) = http_get(app.addr, target, &[]).await;
    assert_eq!(got, status, "GET {target}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {target}: {e}: {body}"))
}

#[tokio::test]
async fn the_device_list_shows_every_sensor_with_kind_address_firmware_and_latest_reading() {
    let app = spawn_app(&Options::default()).await;
    let devices = devices_when(&app, |list| {
        list.len() == 4
            && list
                .iter()
                .all(|d| !d["latest"].is_null() && !d["rssi"].is_null())
    })
    .await;
    let mut kinds: Vec<_> = devices
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["aranet2", "aranet4", "aranet_radiation", "aranet_radon"]
    );
    let stored = app.stored_readings();
    for device in &devices {
        let id = device["id"].as_str().unwrap();
        assert_eq!(
            device["name"], id,
            "simulated sensors go by their advertised name"
        );
        let address = device["address"].as_str().unwrap();
        assert_eq!(address.len(), 17, "{address}");
        assert_eq!(device["firmware"], "1.4.19");
        assert!(device["rssi"].as_i64().unwrap() < 0);
        assert!(device["battery"].as_u64().unwrap() <= 100);
        assert_eq!(
            (device["stale"].clone(), device["mode"].clone()),
            (json!(false), json!("passive"))
        );
        assert!(device["last_seen"].as_str().unwrap().ends_with('Z'));
        let latest = &device["latest"];
        let row = stored
            .iter()
            .find(|r| i64::from(r.id) == latest["id"])
            .expect("stored");
        assert_eq!(latest, &serde_json::to_value(row).unwrap());
        assert_eq!(latest["device_id"], id);
    }
}

#[tokio::test]
async fn a_device_is_found_by_its_percent_encoded_id_and_an_unknown_one_is_a_json_404() {
    let app = spawn_app(&Options::default()).await;
    let devices = devices_when(&app, |list| list.len() == 4).await;
    for device in &devices {
        let id = device["id"].as_str().unwrap();
        let one = get_json(app.addr, &format!("/api/devices/{}", encoded(id)), &[]).await;
        assert_eq!(one["id"], id);
    }
    let missing = error_of(&app, "/api/devices/Aranet4%20NOPE0", 404).await;
    assert_eq!(missing["error"], "not_found");
    assert!(missing["message"]
        .as_str()
        .unwrap()
        .contains("Aranet4 NOPE0"));
    let readings = error_of(&app, "/api/devices/nope/readings", 404).await;
    assert_eq!(readings["error"], "not_found");
}

#[tokio::test]
async fn pages_run_newest_first_and_chain_without_gap_or_repeat_under_equal_timestamps() {
    // 25 rows, five to a timestamp.
    let app = spawn_seeded(&rows("Kitchen", 25, 5), &quiet()).await;
    let mut seen = Vec::new();
    let mut target = "/api/devices/Kitchen/readings?limit=4".to_owned();
    let mut pages = 0;
    loop {
        let page = get_json(app.addr, &target, &[]).await;
        pages += 1;
        assert_eq!(page["device_id"], "Kitchen");
        let readings = page["readings"].as_array().unwrap();
        assert!(readings.len() <= 4);
        seen.extend(readings.iter().map(|r| {
            (
                r["captured_at"].as_str().unwrap().to_owned(),
                r["id"].as_i64().unwrap(),
            )
        }));
        match page["next"].as_str() {
            Some(next) => target = format!("/api/devices/Kitchen/readings?limit=4&before={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 7);
    let mut expected = seen.clone();
    expected.sort_by(|a, b| b.cmp(a));
    expected.dedup();
    assert_eq!(seen, expected, "newest first, ties by id, each row once");
    assert_eq!(seen.len(), 25);
    let whole = get_json(app.addr, "/api/devices/Kitchen/readings", &[]).await;
    assert_eq!(whole["readings"].as_array().unwrap().len(), 25);
    assert_eq!(whole["next"], Value::Null);
}

#[tokio::test]
async fn from_and_to_are_inclusive_and_take_rfc3339_with_any_offset_or_unix_seconds() {
    // One row a minute from 00:00 to 00:09.
    let app = spawn_seeded(&rows("Kitchen", 10, 1), &quiet()).await;
    let from = "2026-01-01T01:03:00%2B01:00"; // 00:03Z
    let to = 1_767_225_960; // 2026-01-01T00:06:00Z
    let target = format!("/api/devices/Kitchen/readings?from={from}&to={to}");
    let page = get_json(app.addr, &target, &[]).await;
    let times: Vec<_> = page["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["captured_at"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<_> = (3..=6)
        .rev()
        .map(|m| format!("2026-01-01T00:0{m}:00Z"))
        .collect();
    assert_eq!(times, expected);
    // A fraction of a second past a row's time leaves that row out of `from`.
    let target = "/api/devices/Kitchen/readings?from=2026-01-01T00:08:00.5Z";
    let page = get_json(app.addr, target, &[]).await;
    assert_eq!(page["readings"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn every_bad_parameter_gets_a_400_naming_it() {
    let app = spawn_seeded(&rows("Kitchen", 3, 1), &quiet()).await;
    let readings = "/api/devices/Kitchen/readings";
    let cases = [
        (format!("{readings}?limit=0"), "limit"),
        (format!("{readings}?limit=10001"), "limit"),
        (format!("{readings}?limit=ten"), "limit"),
        (format!("{readings}?limit=1&limit=2"), "limit"),
        (format!("{readings}?from=yesterday"), "from"),
        (format!("{readings}?from=%FF"), "from"),
        (format!("{readings}?to=2026-13-01T00:00:00Z"), "to"),
        // Milliseconds, as JavaScript's Date.now() gives.
        (format!("{readings}?from=1767225600000"), "from"),
        (format!("{readings}?from=1767225600&to=1767225000"), "from"),
        (format!("{readings}?before=page2"), "before"),
        (format!("{readings}?format=xml"), "format"),
        (format!("{readings}?token=abc"), "token"),
        (format!("{readings}?limt=5"), "limt"),
        ("/api/devices?sort=name".into(), "sort"),
        ("/api/devices/Kitchen?x=1".into(), "x"),
        ("/api/readings/latest?devices=Kitchen".into(), "devices"),
        ("/metrics?name=aranet_co2_ppm".into(), "name"),
    ];
    for (target, parameter) in cases {
        let body = error_of(&app, &target, 400).await;
        assert_eq!(body["error"], "invalid_parameter", "{target}: {body}");
        assert_eq!(body["parameter"], parameter, "{target}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{parameter}`")),
            "{target}: {message}"
        );
    }
    assert!(app.logs().iter().all(|l| !l.contains("panicked")));
}

/// Splits one CSV line, honouring quotes.
fn csv_fields(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[tokio::test]
async fn csv_streams_every_matching_row_across_pages() {
    let device = "Kitchen, \"north\"";
    let app = spawn_seeded(&rows(device, 2500, 2), &quiet()).await;
    let target = format!("/api/devices/{}/readings?format=csv", encoded(device));
    let response = http_fetch(app.addr, "GET", &target, &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    let disposition = response.header("content-disposition").unwrap();
    assert!(
        disposition.contains("Kitchen___north_.csv"),
        "{disposition}"
    );
    let lines: Vec<_> = response.body.lines().collect();
    assert_eq!(lines[0], "id,device_id,co2,temperature,humidity,pressure,battery,status,captured_at,radon,radiation_rate,radiation_total");
    assert_eq!(lines.len(), 2501);
    let ids: Vec<i64> = lines[1..]
        .iter()
        .map(|l| csv_fields(l)[0].parse().unwrap())
        .collect();
    assert_eq!(
        ids,
        (1..=2500).rev().collect::<Vec<_>>(),
        "newest first, every row once"
    );
    let first = csv_fields(lines[1]);
    assert_eq!(first.len(), 12);
    assert_eq!(first[1], device);
    assert_eq!(first[2], "2899");
    assert_eq!(&first[9..], ["", "", ""]);
    // Accept: text/csv, with a limit and a time window.
    let target = format!(
        "/api/devices/{}/readings?limit=10&to=2026-01-01T00:30:00Z",
        encoded(device)
    );
    let response = http_fetch(app.addr, "GET", &target, &[("Accept", "text/csv")]).await;
    assert_eq!(
        response.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    let last: Vec<_> = response.body.lines().skip(1).collect();
    assert_eq!(last.len(), 10);
    assert!(last[0].contains("2026-01-01T00:30:00Z"), "{}", last[0]);
}

#[tokio::test]
async fn latest_readings_are_what_a_websocket_client_gets_first() {
    let mut seed = rows("Kitchen", 3, 1);
    seed.extend(rows("Bedroom", 2, 1));
    seed.extend(rows("Hall", 1, 1));
    let app = spawn_seeded(&seed, &quiet()).await;
    let mut ws = app.connect("").await;
    let snapshot = next_messages(&mut ws, 3).await;
    let latest = get_json(app.addr, "/api/readings/latest", &[]).await;
    assert_eq!(latest, Value::Array(snapshot));
    let filtered = get_json(
        app.addr,
        "/api/readings/latest?device=Hall&device=Kitchen",
        &[],
    )
    .await;
    let devices: Vec<_> = filtered
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["device_id"].clone())
        .collect();
    assert_eq!(devices, [json!("Kitchen"), json!("Hall")]);
    close(ws).await;
}

#[tokio::test]
async fn rest_and_metrics_take_the_key_in_a_header_only_and_health_needs_none() {
    let key = "rest-key+/=0123456789";
    let options = Options {
        api_key: Some(key.into()),
        ..quiet()
    };
    let app = spawn_seeded(&rows("Kitchen", 1, 1), &options).await;
    let bearer = format!("Bearer {key}");
    let targets = [
        "/api/devices",
        "/api/devices/Kitchen",
        "/api/devices/Kitchen/readings",
        "/api/readings/latest",
        "/metrics",
    ];
    for target in targets {
        let (status, body) = http_get(app.addr, target, &[("X-API-Key", key)]).await;
        assert_eq!(status, 200, "{target}");
        assert!(!body.contains("rest-key"), "{target} returns the key");
        assert_eq!(
            http_get(app.addr, target, &[("Authorization", &bearer)])
                .await
                .0,
            200
        );
    }
    for target in ["/api/health", "/", "/assets/app.js"] {
        let (status, body) = http_get(app.addr, target, &[]).await;
        assert_eq!(status, 200, "{target}");
        assert!(!body.contains("rest-key"), "{target} returns the key");
    }
    // Ten refusals: each client address gets that many before it must wait.
    for target in targets {
        let refused = error_of(&app, target, 401).await;
        assert_eq!(refused["error"], "unauthorized", "{target}");
        let with_token = format!("{target}?token={}", encoded(key));
        assert_eq!(
            http_get(app.addr, &with_token, &[]).await.0,
            401,
            "{with_token}"
        );
    }
    assert!(app
        .logs()
        .iter()
        .all(|l| !l.contains(key) && !l.contains(&encoded(key))));
}

#[tokio::test]
async fn health_reports_database_scanner_and_sessions() {
    let app = spawn_seeded(&rows("Kitchen", 7, 1), &quiet()).await;
    let ws = app.connect("").await;
    let poll = async {
        loop {
            let health = get_json(app.addr, "/api/health", &[]).await;
            if health["sessions"] == 1 && health["scanner"]["state"] == "scanning" {
                return health;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let health = tokio::time::timeout(WAIT, poll)
        .await
        .expect("health in time");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["reasons"], json!([]));
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        health["database"],
        json!({"ok": true, "readings": 7, "queued": 0, "lost": 0, "error": null})
    );
    assert_eq!(health["scanner"]["backend"], "simulated");
    assert!(health["uptime_s"].is_u64());
    close(ws).await;
}

#[tokio::test]
async fn health_is_503_with_the_reason_while_bluetooth_is_unavailable() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let app = spawn_bluetooth(dir, "unix:path=/nonexistent/bus", "").await;
    app.wait_for_log("bluetooth unavailable").await;
    let (status, body) = http_get(app.addr, "/api/health", &[]).await;
    assert_eq!(status, 503, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["scanner"]["state"], "down");
    let reason = health["reasons"][0].as_str().unwrap();
    assert!(reason.starts_with("scanner: "), "{reason}");
    assert_eq!(
        health["database"]["ok"], true,
        "stored data is still served"
    );
}

/// `name{labels}` → value, for every sample line.
fn samples(text: &str) -> HashMap<String, f64> {
    let lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty());
    lines
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').unwrap();
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value in {l:?}")),
            };
            (key.to_owned(), value)
        })
        .collect()
}

#[tokio::test]
async fn metrics_show_each_sensor_value_and_the_service_counters() {
    let app = spawn_app(&Options {
        sensors: vec!["aranet4", "aranet_radiation"],
        ..Options::default()
    })
    .await;
    let mut ws = app.connect("").await;
    next_messages(&mut ws, 6).await;
    let response = http_fetch(app.addr, "GET", "/metrics", &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let metrics = samples(&response.body);
    let devices = get_json(app.addr, "/api/devices", &[]).await;
    let aranet4 = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "aranet4")
        .unwrap();
    let labels = format!(
        "{{device=\"{}\",kind=\"aranet4\"}}",
        aranet4["id"].as_str().unwrap()
    );
    for name in [
        "aranet_co2_ppm",
        "aranet_temperature_celsius",
        "aranet_humidity_percent",
        "aranet_pressure_hpa",
        "aranet_battery_percent",
        "aranet_rssi_dbm",
        "aranet_stale",
        "aranet_reading_timestamp_seconds",
    ] {
        assert!(
            metrics.contains_key(&format!("{name}{labels}")),
            "{name}{labels} in\n{}",
            response.body
        );
    }
    let co2 = metrics[&format!("aranet_co2_ppm{labels}")];
    assert!((300.0..5000.0).contains(&co2), "{co2}");
    assert!(metrics
        .keys()
        .any(|k| k.starts_with("aranet_radiation_dose_rate_microsieverts_per_hour{")));
    assert!(metrics["aranet_readings_stored_total{source=\"live\"}"] >= 6.0);
    assert!(metrics["aranet_database_rows"] >= 6.0);
    assert_eq!(metrics["aranet_database_up"], 1.0);
    assert_eq!(metrics["aranet_websocket_sessions"], 1.0);
    assert!(metrics["aranet_websocket_messages_sent_total"] >= 6.0);
    assert_eq!(
        metrics["aranet_websocket_messages_dropped_total{cause=\"slow_client\"}"],
        0.0
    );
    assert_eq!(metrics["aranet_scanner_state{state=\"scanning\"}"], 1.0);
    assert_eq!(metrics["aranet_backfills_total{outcome=\"done\"}"], 0.0);
    let writes = metrics["aranet_database_write_seconds_count"];
    assert!(writes >= 6.0);
    assert_eq!(
        metrics["aranet_database_write_seconds_bucket{le=\"+Inf\"}"],
        writes
    );
    close(ws).await;
}

#[tokio::test]
async fn the_dashboard_and_its_assets_come_from_the_binary_without_any_cdn() {
    let app = spawn_app(&quiet()).await;
    let page = http_fetch(app.addr, "GET", "/", &[]).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let assets = [
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/icon.svg", "image/svg+xml"),
    ];
    let mut texts = vec![page.body.clone()];
    for (path, content_type) in assets {
        assert!(page.body.contains(path), "page uses {path}");
        let asset = http_fetch(app.addr, "GET", path, &[]).await;
        assert_eq!(
            (asset.status, asset.header("content-type")),
            (200, Some(content_type))
        );
        assert!(!asset.body.is_empty());
        texts.push(asset.body);
    }
    for text in texts {
        let external = text.replace("http://www.w3.org/", "");
        assert!(
            !external.contains("http://") && !external.contains("https://"),
            "external URL in {text}"
        );
    }
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_get_json_errors() {
    let app = spawn_app(&quiet()).await;
    for target in [
        "/api/devices",
        "/api/readings/latest",
        "/metrics",
        "/api/health",
    ] {
        let (status, body) =
            http_request(app.addr, "POST", target, &[("Content-Length", "0")]).await;
        assert_eq!(status, 405, "{target}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["error"],
            "method_not_allowed"
        );
    }
    let body = error_of(&app, "/api/nothing", 404).await;
    assert_eq!(
        body,
        json!({"error": "not_found", "message": "no such endpoint"})
    );
}
