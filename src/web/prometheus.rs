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

/// A metric with one unlabelled sample: name, type, help, value.
type Single = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Metrics) -> f64,
);

const SERVICE_SINGLES: [Single; 8] = [
    (
        "aranet_uptime_seconds",
        "gauge",
        "Seconds since the service started",
        |m| m.uptime().as_secs_f64().floor(),
    ),
    (
        "aranet_database_rows",
        "gauge",
        "Readings in the database",
        |m| m.rows() as f64,
    ),
    (
        "aranet_database_up",
        "gauge",
        "0 while database writes fail",
        |m| f64::from(u8::from(m.storage_fault().is_none())),
    ),
    (
        "aranet_database_write_failures_total",
        "counter",
        "Database writes that failed",
        |m| m.store_failures() as f64,
    ),
    (
        "aranet_storage_queue_length",
        "gauge",
        "Readings waiting for the database to take writes again",
        |m| m.queued() as f64,
    ),
    (
        "aranet_readings_lost_total",
        "counter",
        "Readings dropped from a full storage queue",
        |m| m.lost() as f64,
    ),
    (
        "aranet_readings_pruned_total",
        "counter",
        "Readings deleted by retention",
        |m| m.pruned() as f64,
    ),
    (
        "aranet_websocket_messages_sent_total",
        "counter",
        "Readings handed to WebSocket connections",
        |m| m.messages_sent() as f64,
    ),
];

pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    Params::parse(req.query_string(), &[], &[])?;
    let devices = state.registry.send(ListDevices).await?;
    let sessions = state.registry.send(CountSessions).await?;
    let scanner = state.scanner.send(GetScannerState).await;
    let scanner_state = scanner.as_ref().map_or("stopped", |s| s.state);
    let mut out = Exposition::default();
    service_metrics(&mut out, &state.metrics);
    out.single(
        "aranet_websocket_sessions",
        "gauge",
        "Open WebSocket sessions",
        sessions as f64,
    );
    let states = SCANNER_STATES.map(|name| (name, f64::from(u8::from(name == scanner_state))));
    let help = "1 for the scanner's current state";
    out.labelled("aranet_scanner_state", "gauge", help, "state", &states);
    let running = scanner.map_or(0, |s| s.devices) as f64;
    out.single(
        "aranet_scanner_devices",
        "gauge",
        "Sensors with a running device actor",
        running,
    );
    device_metrics(&mut out, &devices);
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(out.text))
}

fn service_metrics(out: &mut Exposition, m: &Metrics) {
    let version = [(env!("CARGO_PKG_VERSION"), 1.0)];
    out.labelled(
        "aranet_build_info",
        "gauge",
        "Version of the running service",
        "version",
        &version,
    );
    for (name, kind, help, value) in SERVICE_SINGLES {
        out.single(name, kind, help, value(m));
    }
    let stored = [
        ("live", m.live_stored() as f64),
        ("history", m.history_rows_stored() as f64),
    ];
    let help = "Readings stored since start, live or backfilled from history";
    out.labelled(
        "aranet_readings_stored_total",
        "counter",
        help,
        "source",
        &stored,
    );
    let help = "Time to commit a reading or a batch of history";
    out.histogram("aranet_database_write_seconds", help, &m.write_latency());
    outcome_metrics(out, m);
}

/// Counters of what became of readings sent and history asked for.
fn outcome_metrics(out: &mut Exposition, m: &Metrics) {
    let dropped = [
        ("slow_client", m.dropped(DropCause::SlowClient) as f64),
        ("disconnected", m.dropped(DropCause::Disconnected) as f64),
    ];
    let help = "Readings not delivered to a WebSocket client";
    out.labelled(
        "aranet_websocket_messages_dropped_total",
        "counter",
        help,
        "cause",
        &dropped,
    );
    let backfills = [
        ("started", m.backfills(BackfillOutcome::Started) as f64),
        ("done", m.backfills(BackfillOutcome::Done) as f64),
        ("failed", m.backfills(BackfillOutcome::Failed) as f64),
        ("given_up", m.backfills(BackfillOutcome::GivenUp) as f64),
    ];
    let help = "History downloads, by outcome";
    out.labelled(
        "aranet_backfills_total",
        "counter",
        help,
        "outcome",
        &backfills,
    );
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

    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A family with a sample per value of one label.
    fn labelled(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        label: &str,
        samples: &[(&str, f64)],
    ) {
        self.family(name, kind, help);
        for &(value_of_label, value) in samples {
            self.sample(name, &[(label, value_of_label)], value);
        }
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
