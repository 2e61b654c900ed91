//! The service's one error type, mapped once to an HTTP status and a stable
//! JSON body.

use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Everything that can go wrong inside the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing or invalid API key")]
    Unauthorized,
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

impl From<actix::MailboxError> for Error {
    fn from(err: actix::MailboxError) -> Self {
        Error::Unavailable(err.to_string())
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
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
        HttpResponse::build(self.status_code()).json(body)
    }
}
