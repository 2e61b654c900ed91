//! HTTP routes (actix-web): `/api/ws` today, plus JSON errors for everything
//! unknown.

pub mod auth;
pub mod query;
pub mod ws;

use std::sync::atomic::AtomicU64;

use actix::Addr;
use actix_web::dev::ServiceRequest;
use actix_web::middleware::Logger;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::actors::registry::Registry;
use crate::actors::session::KeepAlive;

/// What every request handler shares.
pub struct AppState {
    pub registry: Addr<Registry>,
    pub api_key: Option<String>,
    pub broadcast_buffer: usize,
    pub keep_alive: KeepAlive,
    /// Source of session ids, for logs and the registry.
    pub next_session: AtomicU64,
}

/// Registers every route on an app.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let websocket = web::resource("/api/ws")
        .route(web::get().to(ws::connect))
        .default_service(web::to(method_not_allowed));
    cfg.service(websocket).default_service(web::to(not_found));
}

async fn not_found() -> HttpResponse {
    let body = json!({"error": "not_found", "message": "no such endpoint"});
    HttpResponse::NotFound().json(body)
}

async fn method_not_allowed() -> HttpResponse {
    let body = json!({"error": "method_not_allowed", "message": "use GET"});
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", "GET"))
        .json(body)
}

/// Request log middleware whose lines never contain an API key.
pub fn request_logger() -> Logger {
    Logger::new(r#"%a "%{request}xi" %s %b %Dms"#).custom_request_replace("request", request_line)
}

fn request_line(req: &ServiceRequest) -> String {
    let target = query::redact_token(req.path(), req.query_string());
    format!("{} {target} {:?}", req.method(), req.version())
}
