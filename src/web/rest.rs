//! The REST endpoints: the devices, one device's readings (JSON pages or
//! CSV), and the latest reading of every device.

use actix_web::http::header::{HeaderMap, ACCEPT};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;

use super::query::{format_cursor, invalid, Params};
use super::{export, AppState};
use crate::actors::archive::FetchReadings;
use crate::actors::registry::{DeviceView, GetDevice, LatestReadings, ListDevices, ReadingEvent};
use crate::db::{self, models::Reading, Position, ReadingsQuery};
use crate::error::Error;

/// Readings per JSON page unless `limit` says otherwise, and the most it may say.
const DEFAULT_LIMIT: u64 = 1000;
const MAX_LIMIT: u64 = 10_000;
const READINGS_PARAMETERS: [&str; 5] = ["from", "to", "limit", "before", "format"];

/// One page of a device's readings.
#[derive(Debug, Serialize)]
struct ReadingsPage {
    device_id: String,
    /// Newest first.
    readings: Vec<Reading>,
    /// Pass as `before` for the next page; `None` after the last one.
    next: Option<String>,
}

/// `GET /api/devices`: every known device, by id.
pub async fn devices(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    Params::parse(req.query_string(), &[], &[])?;
    let devices = state.registry.send(ListDevices).await?;
    Ok(HttpResponse::Ok().json(devices))
}

/// `GET /api/devices/{id}`.
pub async fn device(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    Params::parse(req.query_string(), &[], &[])?;
    let device = known_device(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(device))
}

/// `GET /api/devices/{id}/readings`: newest first, a page at a time, or every
/// matching row as CSV.
pub async fn readings(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    let params = Params::parse(req.query_string(), &READINGS_PARAMETERS, &[])?;
    let csv = wants_csv(req.headers(), &params)?;
    let query = readings_query(id.into_inner(), &params)?;
    known_device(&state, query.device_id.clone()).await?;
    let limit = params.count("limit", MAX_LIMIT)?;
    if csv {
        return export::csv_response(state.archive.clone(), query, limit).await;
    }
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    let page = fetch_page(&state, query, limit).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /api/readings/latest`: what a new WebSocket session gets first.
pub async fn latest(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let params = Params::parse(req.query_string(), &["device"], &["device"])?;
    let devices = params.all("device");
    let devices = (!devices.is_empty()).then(|| devices.into_iter().collect());
    let readings = state.registry.send(LatestReadings { devices }).await?;
    let events: Vec<_> = readings
        .iter()
        .map(|reading| ReadingEvent {
            device_id: &reading.device_id,
            reading,
        })
        .collect();
    Ok(HttpResponse::Ok().json(events))
}

async fn known_device(state: &AppState, id: String) -> Result<DeviceView, Error> {
    let device = state.registry.send(GetDevice(id.clone())).await?;
    device.ok_or_else(|| Error::NotFound(format!("no device {id:?}")))
}

/// One more row than asked for tells whether there is a next page.
async fn fetch_page(
    state: &AppState,
    mut query: ReadingsQuery,
    limit: u64,
) -> Result<ReadingsPage, Error> {
    query.limit = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let device_id = query.device_id.clone();
    let mut readings = state.archive.send(FetchReadings(query)).await??;
    let more = readings.len() as u64 > limit;
    readings.truncate(limit as usize);
    let next = readings.last().filter(|_| more).map(|last| {
        format_cursor(&Position {
            captured_at: last.captured_at.clone(),
            id: last.id,
        })
    });
    Ok(ReadingsPage {
        device_id,
        readings,
        next,
    })
}

/// CSV when `format=csv`, or when `Accept` names `text/csv` and `format` is
/// not given.
fn wants_csv(headers: &HeaderMap, params: &Params) -> Result<bool, Error> {
    match params.get("format") {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(invalid("format", "expected \"json\" or \"csv\"")),
        None => Ok(headers
            .get_all(ACCEPT)
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("text/csv"))),
    }
}

/// The query for `from`, `to` and `before`; the limit is the caller's.
fn readings_query(device_id: String, params: &Params) -> Result<ReadingsQuery, Error> {
    let from = params.time("from")?;
    let to = params.time("to")?;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(invalid("from", "must not be later than `to`"));
        }
    }
    Ok(ReadingsQuery {
        device_id,
        // Stored times are whole seconds: round `from` up and `to` down.
        from: from.map(|t| db::format_time(ceil_to_second(t))),
        to: to.map(db::format_time),
        after: params.cursor("before")?,
        limit: i64::MAX,
    })
}

fn ceil_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let second = TimeDelta::seconds(1);
    match t.duration_trunc(second) {
        Ok(whole) if whole < t => whole + second,
        Ok(whole) => whole,
        Err(_) => t,
    }
}
