//! `GET /api/ws`: checks the key and the handshake, then starts a session
//! actor.

use std::sync::atomic::Ordering;

use actix_http::ws::{hash_key, verify_handshake};
use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::query::WsQuery;
use super::{auth, AppState};
use crate::actors::session::{Session, SessionSetup};
use crate::error::Error;
use crate::fanout::{Outbox, OutboxStream};

/// Upgrades the connection and streams the snapshot (or, with `?since=`, the
/// stored readings after that id), then live readings.
pub async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    let query = WsQuery::parse(req.query_string())?;
    // The key is checked before the upgrade, so a refused client gets a plain
    // 401.
    auth::authorize(&req, query.token.as_deref(), state.api_key.as_deref())?;
    let accept = accept_key(&req)?;
    let id = state.next_session.fetch_add(1, Ordering::Relaxed);
    let outbox = Outbox::new(id, state.broadcast_buffer, state.metrics.clone());
    let devices = (!query.devices.is_empty()).then(|| query.devices.into_iter().collect());
    let peer = req
        .peer_addr()
        .map_or_else(|| "unknown".into(), |a| a.to_string());
    let setup = SessionSetup {
        outbox: outbox.clone(),
        registry: state.registry.clone(),
        archive: state.archive.clone(),
        devices,
        since: query.since,
        peer,
        keep_alive: state.keep_alive,
    };
    Session::start(setup, payload);
    Ok(HttpResponse::build(StatusCode::SWITCHING_PROTOCOLS)
        .upgrade("websocket")
        .insert_header((SEC_WEBSOCKET_ACCEPT, accept))
        .streaming(OutboxStream::new(outbox)))
}

/// Validates the upgrade request and computes its `Sec-WebSocket-Accept` value.
fn accept_key(req: &HttpRequest) -> Result<HeaderValue, Error> {
    let invalid =
        |reason: String| Error::BadRequest(format!("not a WebSocket handshake: {reason}"));
    verify_handshake(req.head()).map_err(|err| invalid(err.to_string()))?;
    let key = req
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .map(|k| hash_key(k.as_bytes()));
    let key = key.ok_or_else(|| invalid("no Sec-WebSocket-Key".into()))?;
    HeaderValue::from_bytes(&key).map_err(|err| invalid(err.to_string()))
}
