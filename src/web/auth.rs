//! API-key check, in constant time: header `X-API-Key` (or `Authorization:
//! Bearer`, which Prometheus sends) everywhere, and query `token` on `/api/ws`
//! alone, since browsers cannot set headers on a WebSocket.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest};
use subtle::{Choice, ConstantTimeEq};

use super::AppState;
use crate::error::Error;

/// Header that carries the API key.
pub const API_KEY_HEADER: &str = "X-API-Key";
const BEARER: &[u8] = b"Bearer ";

/// Accepts the request when no key is configured or when it presents the key.
pub fn authorize(
    req: &HttpRequest,
    token: Option<&str>,
    expected: Option<&str>,
) -> Result<(), Error> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let header = req.headers().get(API_KEY_HEADER).map(|v| v.as_bytes());
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(BEARER));
    let presented = [header, bearer, token.map(str::as_bytes)];
    let accepted = presented
        .into_iter()
        .flatten()
        .any(|key| keys_match(key, expected.as_bytes()));
    if accepted {
        Ok(())
    } else {
        Err(Error::Unauthorized)
    }
}

/// Middleware of the REST endpoints: the key in a header, never in the URL.
pub async fn require_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>();
    let expected = state.and_then(|s| s.api_key.as_deref());
    authorize(req.request(), None, expected)?;
    next.call(req).await
}

/// Compares in time that depends only on the presented key's length, so
/// timing reveals neither how much of the key matched nor its length.
fn keys_match(presented: &[u8], expected: &[u8]) -> bool {
    let lengths_match = presented.len().ct_eq(&expected.len());
    let mut bytes_match = Choice::from(1);
    for (i, byte) in presented.iter().enumerate() {
        // Wraps around a shorter expected key; the length check decides then.
        let other = expected
            .get(i % expected.len().max(1))
            .copied()
            .unwrap_or(0);
        bytes_match &= byte.ct_eq(&other);
    }
    (lengths_match & bytes_match).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn no_configured_key_lets_everyone_in() {
        let req = TestRequest::default().to_http_request();
        assert!(authorize(&req, None, None).is_ok());
    }

    #[test]
    fn header_or_token_must_match_the_key() {
        let req = TestRequest::default()
            .insert_header((API_KEY_HEADER, "k+/="))
            .to_http_request();
        assert!(authorize(&req, None, Some("k+/=")).is_ok());
        let bare = TestRequest::default().to_http_request();
        assert!(authorize(&bare, Some("k+/="), Some("k+/=")).is_ok());
        assert!(matches!(
            authorize(&bare, Some("k+/"), Some("k+/=")),
            Err(Error::Unauthorized)
        ));
        assert!(matches!(
            authorize(&bare, None, Some("k")),
            Err(Error::Unauthorized)
        ));
        let bearer = TestRequest::default()
            .insert_header((AUTHORIZATION, "Bearer k+/="))
            .to_http_request();
        assert!(authorize(&bearer, None, Some("k+/=")).is_ok());
        assert!(authorize(&bearer, None, Some("k+/")).is_err());
    }

    #[test]
    fn keys_of_other_lengths_or_with_one_wrong_byte_do_not_match() {
        assert!(keys_match(b"secret", b"secret"));
        assert!(!keys_match(b"secre", b"secret"));
        assert!(!keys_match(b"secretsecret", b"secret"));
        assert!(!keys_match(b"secreT", b"secret"));
        assert!(!keys_match(b"", b"secret"));
    }
}
