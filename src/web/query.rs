//! The query string of `/api/ws`: `token` and repeatable `device`,
//! percent-decoded.
//!
//! Decoding is RFC 3986 percent-decoding only: a literal `+` stays `+`, so API
//! keys holding `+`, `/` or `=` work whether or not the client encoded them.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use crate::error::Error;

/// What a WebSocket client asked for in the URL.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WsQuery {
    pub token: Option<String>,
    pub devices: Vec<String>,
}

impl WsQuery {
    /// Parses a raw query string (without `?`); unknown parameters are ignored.
    pub fn parse(query: &str) -> Result<Self, Error> {
        let mut parsed = WsQuery::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match decode(key)?.as_ref() {
                "token" => parsed.token = Some(decode(value)?.into_owned()),
                "device" => parsed.devices.push(decode(value)?.into_owned()),
                _ => {}
            }
        }
        Ok(parsed)
    }
}

fn decode(text: &str) -> Result<Cow<'_, str>, Error> {
    percent_decode_str(text)
        .decode_utf8()
        .map_err(|_| Error::BadRequest("query string is not valid percent-encoded UTF-8".into()))
}

/// The request's path and query with the `token` value replaced, for logs.
pub fn redact_token(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let pairs: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if decode(key).is_ok_and(|k| k == "token") => {
                Cow::Owned(format!("{key}=REDACTED"))
            }
            _ => Cow::Borrowed(pair),
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn token_is_percent_decoded_and_plus_stays_plus() {
        let query = WsQuery::parse("token=a%2Bb%2Fc%3D%3D&x=1").unwrap();
        assert_eq!(query.token.as_deref(), Some("a+b/c=="));
        let raw = WsQuery::parse("token=a+b/c==").unwrap();
        assert_eq!(raw.token.as_deref(), Some("a+b/c=="));
    }

    #[test]
    fn device_repeats_and_decodes_names_with_spaces_and_symbols() {
        let query =
            WsQuery::parse("device=Aranet4%201A2B3&device=Aranet%E2%98%A2%2027DB3").unwrap();
        assert_eq!(query.devices, ["Aranet4 1A2B3", "Aranet\u{2622} 27DB3"]);
    }

    #[test]
    fn invalid_utf8_is_a_bad_request() {
        assert!(matches!(
            WsQuery::parse("device=%FF"),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn redaction_hides_the_token_value_only() {
        let line = redact_token("/api/ws", "device=a&token=s3cr%2Bt&to=1");
        assert_eq!(line, "/api/ws?device=a&token=REDACTED&to=1");
        assert_eq!(redact_token("/api/ws", ""), "/api/ws");
        assert!(!redact_token("/x", "%74oken=secret").contains("secret"));
    }
}
