//! `GET /api/ws`: checks the key and the handshake, then starts a session
//! actor.

use std::sync::atomic::Ordering;

use actix_http::ws::HandshakeError;
use actix_http::ws::{hash_key, verify_handshake};
use actix_web::http::header::{HeaderValue, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::query::WsQuery;
use super::{auth, AppState};
use crate::actors::session::{Session, SessionSetup, SessionSlot};
use crate::error::Error;
use crate::fanout::{Outbox, OutboxStream};

/// Characters of a refused origin repeated in the error.
const MAX_SHOWN_ORIGIN: usize = 100;

/// Upgrades the connection and streams the snapshot (or, with `?since=`, the
/// stored readings after that id), then live readings.
pub async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    let query = WsQuery::parse(req.query_string())?;
    check_origin(&req, state.allowed_origins.as_deref())?;
    // The key is checked before the upgrade, so a refused client gets a plain
    // 401.
    auth::authorize(&req, query.token.as_deref(), &state)?;
    let accept = accept_key(&req)?;
    let slot = SessionSlot::take(&state.sessions_open, state.max_sessions);
    let slot = slot.ok_or(Error::TooManySessions {
        max: state.max_sessions,
    })?;
    let id = state.next_session.fetch_add(1, Ordering::Relaxed);
    let outbox = Outbox::new(id, state.broadcast_buffer, state.metrics.clone());
    let devices = (!query.devices.is_empty()).then(|| query.devices.into_iter().collect());
    let peer = req
        .peer_addr()
        .map_or_else(|| "unknown".into(), |a| a.to_string());
    let setup = SessionSetup {
        slot,
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

/// Browsers always send `Origin`; with `allowed_origins` set, only those
/// listed may open a session. Programs that send none are not browsers.
fn check_origin(req: &HttpRequest, allowed: Option<&[String]>) -> Result<(), Error> {
    let (Some(allowed), Some(origin)) = (allowed, req.headers().get(ORIGIN)) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
    if allowed.contains(&origin) {
        return Ok(());
    }
    let shown: String = origin.chars().take(MAX_SHOWN_ORIGIN).collect();
    Err(Error::Forbidden(format!(
        "origin {shown:?} is not in [server] allowed_origins"
    )))
}

/// Validates the upgrade request and computes its `Sec-WebSocket-Accept` value.
fn accept_key(req: &HttpRequest) -> Result<HeaderValue, Error> {
    let invalid =
        |reason: String| Error::BadRequest(format!("not a WebSocket handshake: {reason}"));
    verify_handshake(req.head()).map_err(|err| match err {
        HandshakeError::UnsupportedVersion | HandshakeError::NoVersionHeader => {
            Error::UnsupportedWebSocketVersion(err.to_string())
        }
        _ => invalid(err.to_string()),
    })?;
    let key = req.headers().get(SEC_WEBSOCKET_KEY);
    let key = key.filter(|k| is_nonce(k.as_bytes()));
    let key = key.ok_or_else(|| invalid("Sec-WebSocket-Key must be 16 bytes in base64".into()))?;
    HeaderValue::from_bytes(&hash_key(key.as_bytes())).map_err(|err| invalid(err.to_string()))
}

/// A base64-encoded 16-byte nonce (RFC 6455 §4.1): 22 characters and `==`.
fn is_nonce(key: &[u8]) -> bool {
    let base64 = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    key.len() == 24 && key.ends_with(b"==") && key[..22].iter().all(base64)
}
