//! The service's one error type, mapped once to an HTTP status and a stable
//! JSON body.

use std::path::PathBuf;

use actix_web::http::header::{RETRY_AFTER, SEC_WEBSOCKET_VERSION};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// When a client refused for want of a session slot should try again.
const SESSIONS_RETRY_AFTER_S: u64 = 5;

/// Everything that can go wrong inside the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("too many failed attempts from this address; retry in {retry_after_s} s")]
    TooManyAttempts { retry_after_s: u64 },
    #[error("{0}")]
    Forbidden(String),
    #[error("request URL and headers are {size} bytes, more than the {max} allowed")]
    HeadTooLarge { size: usize, max: usize },
    #[error("all {max} WebSocket sessions are in use; retry later")]
    TooManySessions { max: usize },
    #[error("unsupported WebSocket version: {0}; this server speaks version 13")]
    UnsupportedWebSocketVersion(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("invalid parameter `{parameter}`: {reason}")]
    InvalidParameter { parameter: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("cannot open database {path}: {reason}")]
    DatabaseOpen { path: PathBuf, reason: String },
    #[error("cannot apply database migrations: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("row not storable: {0}")]
    InvalidRow(String),
    #[error("internal service is unavailable: {0}")]
    Unavailable(String),
}

/// The JSON body of every error response: `{"error": "<code>", "message":
/// "<text>"}`, plus `"parameter"` when one request parameter is at fault.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<&'a str>,
}

impl Error {
    /// A stable, machine-readable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized => "unauthorized",
            Error::TooManyAttempts { .. } => "too_many_attempts",
            Error::Forbidden(_) => "forbidden",
            Error::HeadTooLarge { .. } => "request_too_large",
            Error::TooManySessions { .. } => "too_many_sessions",
            Error::UnsupportedWebSocketVersion(_) => "upgrade_required",
            Error::BadRequest(_) => "bad_request",
            Error::InvalidParameter { .. } => "invalid_parameter",
            Error::NotFound(_) => "not_found",
            Error::DatabaseOpen { .. }
            | Error::Migration(_)
            | Error::Database(_)
            | Error::InvalidRow(_) => "storage",
            Error::Unavailable(_) => "unavailable",
        }
    }
}

impl Error {
    /// The message without file paths, for answers to clients that need no
    /// key (health); the logs have the full text.
    pub fn public_message(&self) -> String {
        match self {
            Error::DatabaseOpen { reason, .. } => format!("cannot open the database: {reason}"),
            other => other.to_string(),
        }
    }
}

impl From<actix::MailboxError> for Error {
    fn from(err: actix::MailboxError) -> Self {
        Error::Unavailable(err.to_string())
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::HeadTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Error::TooManySessions { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::UnsupportedWebSocketVersion(_) => StatusCode::UPGRADE_REQUIRED,
            Error::BadRequest(_) | Error::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let parameter = match self {
            Error::InvalidParameter { parameter, .. } => Some(parameter.as_str()),
            _ => None,
        };
        let body = ErrorBody {
            error: self.code(),
            message: self.to_string(),
            parameter,
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Error::TooManyAttempts { retry_after_s } => {
                response.insert_header((RETRY_AFTER, retry_after_s.to_string()));
            }
            Error::TooManySessions { .. } => {
                response.insert_header((RETRY_AFTER, SESSIONS_RETRY_AFTER_S.to_string()));
            }
            Error::UnsupportedWebSocketVersion(_) => {
                response.insert_header((SEC_WEBSOCKET_VERSION, "13"));
            }
            _ => {}
        }
        response.json(body)
    }
}
