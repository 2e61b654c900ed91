//! HTTP routes (actix-web): the WebSocket stream, the REST API, metrics, the
//! dashboard, and JSON errors for everything else.
//!
//! | route | module | key |
//! |---|---|---|
//! | `/api/ws` | `ws` | header or `?token=` |
//! | `/api/health` | `health` | never |
//! | `/api/devices…`, `/api/readings/latest` | `rest`, `export` (CSV) | header |
//! | `/metrics` | `prometheus` | header |
//! | `/`, `/assets/…` | `dashboard` | never (the page asks for data itself) |

pub mod auth;
pub mod dashboard;
pub mod export;
pub mod health;
pub mod prometheus;
pub mod query;
pub mod rest;
pub mod ws;

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;

use actix::Addr;
use actix_web::body::MessageBody;
use actix_web::dev::{HttpServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Logger, Next};
use actix_web::{web, FromRequest, Handler, HttpResponse, Responder};

use crate::actors::archive::Archive;
use crate::actors::registry::Registry;
use crate::actors::scanner::Scanner;
use crate::actors::session::KeepAlive;
use crate::error::{Error, ErrorBody};
use crate::metrics::Metrics;

/// What every request handler shares.
pub struct AppState {
    pub registry: Addr<Registry>,
    pub archive: Addr<Archive>,
    pub scanner: Addr<Scanner>,
    pub metrics: Arc<Metrics>,
    pub api_key: Option<String>,
    pub auth_failures: auth::AuthLimiter,
    /// Browser origins allowed to open `/api/ws`; `None` allows any.
    pub allowed_origins: Option<Vec<String>>,
    pub max_sessions: usize,
    /// WebSocket sessions open now.
    pub sessions_open: Arc<AtomicUsize>,
    pub broadcast_buffer: usize,
    pub keep_alive: KeepAlive,
    /// Source of session ids, for logs and the registry.
    pub next_session: AtomicU64,
}

/// Largest request head (URL and headers) handled. actix-http itself stops
/// at 128 KiB; no client of this API needs more than a fraction of this.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// Refuses requests whose URL and headers are larger than
/// [`MAX_REQUEST_HEAD`], with the JSON error every other refusal has.
pub async fn limit_request_head(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let size = target + headers;
    if size > MAX_REQUEST_HEAD {
        let max = MAX_REQUEST_HEAD;
        return Err(Error::HeadTooLarge { size, max }.into());
    }
    next.call(req).await
}

/// Registers every route on an app.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let websocket = web::resource("/api/ws")
        .route(web::get().to(ws::connect))
        .default_service(web::to(method_not_allowed));
    let health = web::resource("/api/health")
        .route(web::get().to(health::health))
        .default_service(web::to(method_not_allowed));
    cfg.service(websocket)
        .service(health)
        .service(protected("/api/devices", rest::devices))
        .service(protected("/api/devices/{id}", rest::device))
        .service(protected("/api/devices/{id}/readings", rest::readings))
        .service(protected("/api/readings/latest", rest::latest))
        .service(protected("/metrics", prometheus::metrics))
        .configure(dashboard::routes)
        .default_service(web::to(not_found));
}

/// A GET resource that needs the API key in a header.
fn protected<F, Args>(path: &str, handler: F) -> impl HttpServiceFactory
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .wrap(from_fn(auth::require_key))
        .route(web::get().to(handler))
        .default_service(web::to(method_not_allowed))
}

async fn not_found() -> Result<HttpResponse, Error> {
    Err(Error::NotFound("no such endpoint".into()))
}

async fn method_not_allowed() -> HttpResponse {
    let body = ErrorBody {
        error: "method_not_allowed",
        message: "use GET".into(),
        parameter: None,
    };
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
