//! `GET /metrics` in the Prometheus text format (version 0.0.4): the latest
//! value of every sensor, and how the service itself is doing.

use std::fmt::Write as _;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::DateTime;

use super::query::Params;
use super::AppState;
use crate::actors::registry::{CountSessions, DeviceView, ListDevices};
use crate::actors::scanner::GetScannerState;
use crate::error::Error;
use crate::metrics::{BackfillOutcome, DropCause, HistogramSnapshot, Metrics};

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const SCANNER_STATES: [&str; 4] = ["starting", "scanning", "down", "stopped"];

/// Per-device gauges: name, help, and the value of a device.
type DeviceGauge = (&'static str, &'static str, fn(&DeviceView) -> Option<f64>);

const DEVICE_GAUGES: [DeviceGauge; 12] = [
    ("aranet_co2_ppm", "CO2 concentration", |d| {
        reading(d, |r| r.co2.map(f64::from))
    }),
    ("aranet_temperature_celsius", "Temperature", |d| {
        reading(d, |r| r.temperature)
    }),
    ("aranet_humidity_percent", "Relative humidity", |d| {
        reading(d, |r| r.humidity)
    }),
    ("aranet_pressure_hpa", "Atmospheric pressure", |d| {
        reading(d, |r| r.pressure)
    }),
    (
        "aranet_radon_becquerels_per_cubic_meter",
        "Radon concentration",
        |d| reading(d, |r| r.radon.map(f64::from)),
    ),
    (
        "aranet_radiation_dose_rate_microsieverts_per_hour",
        "Gamma dose rate",
        |d| reading(d, |r| r.radiation_rate),
    ),
    (
        "aranet_radiation_dose_millisieverts",
        "Total dose since the sensor's reset",
        |d| reading(d, |r| r.radiation_total),
    ),
    ("aranet_battery_percent", "Battery level", |d| {
        d.battery.map(f64::from)
    }),
    (
        "aranet_rssi_dbm",
        "Signal strength of the last advertisement",
        |d| d.rssi.map(f64::from),
    ),
    (
        "aranet_reading_timestamp_seconds",
        "When the latest reading was measured",
        |d| reading(d, |r| unix_seconds(&r.captured_at)),
    ),
    (
        "aranet_last_seen_timestamp_seconds",
        "When the sensor was last heard",
        |d| d.last_seen.as_deref().and_then(unix_seconds),
    ),
    (
        "aranet_stale",
        "1 when the sensor missed 3 measurements",
        |d| Some(f64::from(u8::from(d.stale))),
    ),
];

fn reading(
    device: &DeviceView,
    value: fn(&crate::db::models::Reading) -> Option<f64>,
) -> Option<f64> {
    device.latest.as_ref().and_then(value)
}

fn unix_seconds(text: &str) -> Option<f64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp() as f64)
}

pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    Params::parse(req.query_string(), &[], &[])?;
    let devices = state.registry.send(ListDevices).await?;
    let sessions = state.registry.send(CountSessions).await?;
    let scanner = state.scanner.send(GetScannerState).await;
    let scanner_state = scanner.as_ref().map_or("stopped", |s| s.state);
    let mut out = Exposition::default();
    service_metrics(&mut out, &state.metrics);
    out.family(
        "aranet_websocket_sessions",
        "gauge",
        "Open WebSocket sessions",
    );
    out.sample("aranet_websocket_sessions", &[], sessions as f64);
    out.family(
        "aranet_scanner_state",
        "gauge",
        "1 for the scanner's current state",
    );
    for name in SCANNER_STATES {
        let value = f64::from(u8::from(name == scanner_state));
        out.sample("aranet_scanner_state", &[("state", name)], value);
    }
    let running = scanner.map_or(0, |s| s.devices);
    out.family(
        "aranet_scanner_devices",
        "gauge",
        "Sensors with a running device actor",
    );
    out.sample("aranet_scanner_devices", &[], running as f64);
    device_metrics(&mut out, &devices);
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(out.text))
}

fn service_metrics(out: &mut Exposition, m: &Metrics) {
    out.family(
        "aranet_build_info",
        "gauge",
        "Version of the running service",
    );
    out.sample(
        "aranet_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    out.family(
        "aranet_uptime_seconds",
        "gauge",
        "Seconds since the service started",
    );
    out.sample(
        "aranet_uptime_seconds",
        &[],
        m.uptime().as_secs_f64().floor(),
    );
    let stored = "aranet_readings_stored_total";
    out.family(
        stored,
        "counter",
        "Readings stored since start, live or backfilled from history",
    );
    out.sample(stored, &[("source", "live")], m.live_stored() as f64);
    out.sample(
        stored,
        &[("source", "history")],
        m.history_rows_stored() as f64,
    );
    out.family("aranet_database_rows", "gauge", "Readings in the database");
    out.sample("aranet_database_rows", &[], m.rows() as f64);
    out.family(
        "aranet_database_up",
        "gauge",
        "0 while database writes fail",
    );
    out.sample(
        "aranet_database_up",
        &[],
        f64::from(u8::from(m.storage_fault().is_none())),
    );
    let failures = "aranet_database_write_failures_total";
    out.family(failures, "counter", "Database writes that failed");
    out.sample(failures, &[], m.store_failures() as f64);
    let queue = "aranet_storage_queue_length";
    out.family(
        queue,
        "gauge",
        "Readings waiting for the database to take writes again",
    );
    out.sample(queue, &[], m.queued() as f64);
    let lost = "aranet_readings_lost_total";
    out.family(
        lost,
        "counter",
        "Readings dropped from a full storage queue",
    );
    out.sample(lost, &[], m.lost() as f64);
    let pruned = "aranet_readings_pruned_total";
    out.family(pruned, "counter", "Readings deleted by retention");
    out.sample(pruned, &[], m.pruned() as f64);
    out.histogram(
        "aranet_database_write_seconds",
        "Time to commit a reading or a batch of history",
        &m.write_latency(),
    );
    let sent = "aranet_websocket_messages_sent_total";
    out.family(sent, "counter", "Readings handed to WebSocket connections");
    out.sample(sent, &[], m.messages_sent() as f64);
    let dropped = "aranet_websocket_messages_dropped_total";
    out.family(
        dropped,
        "counter",
        "Readings not delivered to a WebSocket client",
    );
    for (cause, label) in [
        (DropCause::SlowClient, "slow_client"),
        (DropCause::Disconnected, "disconnected"),
    ] {
        out.sample(dropped, &[("cause", label)], m.dropped(cause) as f64);
    }
    let backfills = "aranet_backfills_total";
    out.family(backfills, "counter", "History downloads, by outcome");
    for (outcome, label) in [
        (BackfillOutcome::Started, "started"),
        (BackfillOutcome::Done, "done"),
        (BackfillOutcome::Failed, "failed"),
        (BackfillOutcome::GivenUp, "given_up"),
    ] {
        out.sample(
            backfills,
            &[("outcome", label)],
            m.backfills(outcome) as f64,
        );
    }
}

fn device_metrics(out: &mut Exposition, devices: &[DeviceView]) {
    for (name, help, value) in DEVICE_GAUGES {
        out.family(name, "gauge", help);
        for device in devices {
            if let Some(v) = value(device) {
                let kind = device.kind.unwrap_or("unknown");
                out.sample(name, &[("device", &device.id), ("kind", kind)], v);
            }
        }
    }
}

/// The text being written.
#[derive(Debug, Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<_> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.text, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    fn histogram(&mut self, name: &str, help: &str, h: &HistogramSnapshot) {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for &(bound, count) in &h.buckets {
            self.sample(&bucket, &[("le", &number(bound))], count as f64);
        }
        self.sample(&format!("{name}_sum"), &[], h.sum_seconds);
        self.sample(&format!("{name}_count"), &[], h.count as f64);
    }
}

fn number(value: f64) -> String {
    if value == f64::INFINITY {
        "+Inf".into()
    } else {
        value.to_string()
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_labels_and_histograms_end_with_inf() {
        let mut out = Exposition::default();
        out.sample("x", &[("device", "a\"b\\c\nd")], 1.5);
        let h = HistogramSnapshot {
            buckets: vec![(0.5, 1), (f64::INFINITY, 2)],
            sum_seconds: 0.75,
            count: 2,
        };
        out.histogram("lat", "help", &h);
        let text = out.text;
        assert!(
            text.starts_with("x{device=\"a\\\"b\\\\c\\nd\"} 1.5\n"),
            "{text}"
        );
        assert!(text.contains("lat_bucket{le=\"0.5\"} 1\n"), "{text}");
        assert!(
            text.contains("lat_bucket{le=\"+Inf\"} 2\nlat_sum 0.75\nlat_count 2\n"),
            "{text}"
        );
    }
}
