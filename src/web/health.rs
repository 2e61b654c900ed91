//! `GET /api/health`: is the service doing its job? 200 when it is, 503 with
//! the reasons when it is degraded. Needs no API key, so that container and
//! uptime checks can call it; it reveals no data.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::AppState;
use crate::actors::archive::CheckDatabase;
use crate::actors::registry::CountSessions;
use crate::actors::scanner::{GetScannerState, ScannerState};

/// How long the database may take to answer before health says it does not.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize)]
struct Health {
    /// `"ok"` or `"degraded"`.
    status: &'static str,
    /// Why the service is degraded; empty when it is not.
    reasons: Vec<String>,
    version: &'static str,
    uptime_s: u64,
    database: DatabaseHealth,
    scanner: ScannerState,
    sessions: usize,
}

#[derive(Debug, Serialize)]
struct DatabaseHealth {
    ok: bool,
    readings: i64,
    /// Readings waiting for the database to take writes again.
    queued: u64,
    /// Readings dropped from a full queue since the start.
    lost: u64,
    /// Why reads or writes fail, while they do.
    error: Option<String>,
}

pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let database = database(&state).await;
    let scanner = scanner(&state).await;
    let sessions = state.registry.send(CountSessions).await.unwrap_or(0);
    let mut reasons = Vec::new();
    if let Some(error) = &database.error {
        reasons.push(format!("database: {error}"));
    }
    if matches!(scanner.state, "down" | "stopped") {
        let why = scanner.reason.as_deref().unwrap_or(scanner.state);
        reasons.push(format!("scanner: {why}"));
    }
    let health = Health {
        status: if reasons.is_empty() { "ok" } else { "degraded" },
        reasons,
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: state.metrics.uptime().as_secs(),
        database,
        scanner,
        sessions,
    };
    match health.status {
        "ok" => HttpResponse::Ok().json(health),
        _ => HttpResponse::ServiceUnavailable().json(health),
    }
}

/// Reads must work and the last write must have worked.
async fn database(state: &AppState) -> DatabaseHealth {
    let check = tokio::time::timeout(DATABASE_TIMEOUT, state.archive.send(CheckDatabase)).await;
    let read_error = match check {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(err))) => Some(err.public_message()),
        Ok(Err(err)) => Some(format!("reader unavailable: {err}")),
        Err(_) => Some(format!("no answer within {DATABASE_TIMEOUT:?}")),
    };
    let queued = state.metrics.queued();
    let write_error = match state.metrics.storage_fault() {
        Some(err) => Some(format!("writes fail, {queued} readings queued: {err}")),
        None if queued > 0 => Some(format!("{queued} queued readings being stored")),
        None => None,
    };
    let error = read_error.or(write_error);
    DatabaseHealth {
        ok: error.is_none(),
        readings: state.metrics.rows(),
        queued,
        lost: state.metrics.lost(),
        error,
    }
}

async fn scanner(state: &AppState) -> ScannerState {
    match state.scanner.send(GetScannerState).await {
        Ok(scanner) => scanner,
        // The actor stops when its radio cannot start at all.
        Err(_) => ScannerState {
            backend: "unknown",
            state: "stopped",
            adapter: None,
            reason: Some("scanner stopped".into()),
            devices: 0,
        },
    }
}
