//! Query strings: `/api/ws` (`token`, repeatable `device`) and the REST
//! endpoints' parameters, each value checked with an error naming it.
//!
//! Decoding is RFC 3986 percent-decoding only: a literal `+` stays `+`, so API
//! keys holding `+`, `/` or `=`, and times like `…T10:00:00+01:00`, work
//! whether or not the client encoded them.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Utc};
use percent_encoding::percent_decode_str;

use crate::db::Position;
use crate::error::Error;

/// What a WebSocket client asked for in the URL.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WsQuery {
    pub token: Option<String>,
    pub devices: Vec<String>,
    /// Resume: replay the stored readings with a larger id first.
    pub since: Option<i32>,
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
                "since" => parsed.since = Some(parse_since(&decode(value)?)?),
                _ => {}
            }
        }
        Ok(parsed)
    }
}

fn parse_since(text: &str) -> Result<i32, Error> {
    let reason = "expected the id of a reading (a whole number, 0 for all)";
    text.parse::<i32>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| invalid("since", reason))
}

/// The decoded parameters of a REST request, checked against the names the
/// endpoint takes.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses `query`; a name outside `allowed` is an error, and so is a
    /// second value for a name not in `repeatable`.
    pub fn parse(query: &str, allowed: &[&str], repeatable: &[&str]) -> Result<Self, Error> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key)?.into_owned();
            if !allowed.contains(&key.as_str()) {
                let reason = match allowed {
                    [] => "this endpoint takes no parameters".to_owned(),
                    _ => format!("unknown parameter; expected {}", allowed.join(", ")),
                };
                return Err(invalid(&key, &reason));
            }
            if !repeatable.contains(&key.as_str()) && pairs.iter().any(|(k, _)| *k == key) {
                return Err(invalid(&key, "given more than once"));
            }
            let value = decode(value).map_err(|_| invalid(&key, "not valid UTF-8"))?;
            pairs.push((key, value.into_owned()));
        }
        Ok(Self { pairs })
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        let values = self.pairs.iter().filter(|(k, _)| k == name);
        values.map(|(_, v)| v.clone()).collect()
    }

    /// A time given as RFC 3339 (`2024-01-15T10:30:00Z`) or Unix seconds.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, Error> {
        self.get(name).map(|v| parse_time(name, v)).transpose()
    }

    /// A whole number in `1..=max`.
    pub fn count(&self, name: &str, max: u64) -> Result<Option<u64>, Error> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let reason = format!("must be a whole number from 1 to {max}");
        match text.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => Err(invalid(name, &reason)),
        }
    }

    /// A page cursor, as [`format_cursor`] makes them.
    pub fn cursor(&self, name: &str) -> Result<Option<Position>, Error> {
        self.get(name).map(|v| parse_cursor(name, v)).transpose()
    }
}

/// An [`Error::InvalidParameter`] for `parameter`.
pub fn invalid(parameter: &str, reason: &str) -> Error {
    Error::InvalidParameter {
        parameter: parameter.to_owned(),
        reason: reason.to_owned(),
    }
}

fn parse_time(name: &str, text: &str) -> Result<DateTime<Utc>, Error> {
    let reason = "expected an RFC 3339 time like 2024-01-15T10:30:00Z or Unix seconds \
                  (not milliseconds), in the years 0 to 9999";
    let parsed = match text.parse::<i64>() {
        Ok(seconds) => DateTime::from_timestamp(seconds, 0),
        Err(_) => DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc()),
    };
    // Stored times are compared as text: only four-digit years compare right.
    let parsed = parsed.filter(|t| (0..=9999).contains(&t.year()));
    parsed.ok_or_else(|| invalid(name, reason))
}

/// The cursor for the page after `position`: `<unix seconds>_<id>`.
pub fn format_cursor(position: &Position) -> String {
    let seconds = DateTime::parse_from_rfc3339(&position.captured_at).map_or(0, |t| t.timestamp());
    format!("{seconds}_{}", position.id)
}

fn parse_cursor(name: &str, text: &str) -> Result<Position, Error> {
    let bad = || invalid(name, "not a cursor from a previous page's `next`");
    let (seconds, id) = text.split_once('_').ok_or_else(bad)?;
    let seconds = seconds.parse::<i64>().map_err(|_| bad())?;
    let at = DateTime::from_timestamp(seconds, 0).filter(|t| (0..=9999).contains(&t.year()));
    let at = at.ok_or_else(bad)?;
    Ok(Position {
        captured_at: crate::db::format_time(at),
        id: id.parse().map_err(|_| bad())?,
    })
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
    fn since_is_a_reading_id() {
        assert_eq!(WsQuery::parse("since=42").unwrap().since, Some(42));
        assert_eq!(WsQuery::parse("").unwrap().since, None);
        for bad in ["since=-1", "since=x", "since=", "since=99999999999"] {
            let err = WsQuery::parse(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidParameter { .. }), "{bad}");
        }
    }

    #[test]
    fn invalid_utf8_is_a_bad_request() {
        assert!(matches!(
            WsQuery::parse("device=%FF"),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn rest_parameters_are_checked_by_name() {
        let params = Params::parse(
            "limit=5&device=a&device=b",
            &["limit", "device"],
            &["device"],
        );
        let params = params.unwrap();
        assert_eq!(params.count("limit", 10).unwrap(), Some(5));
        assert_eq!(params.all("device"), ["a", "b"]);
        let unknown = Params::parse("limt=5", &["limit"], &[]).unwrap_err();
        assert!(
            matches!(unknown, Error::InvalidParameter { parameter, .. } if parameter == "limt")
        );
        let twice = Params::parse("limit=5&limit=6", &["limit"], &[]).unwrap_err();
        assert!(twice.to_string().contains("more than once"), "{twice}");
        for bad in ["0", "11", "-1", "x", "", "1.5"] {
            let params = Params::parse(&format!("limit={bad}"), &["limit"], &[]).unwrap();
            assert!(params.count("limit", 10).is_err(), "limit={bad}");
        }
    }

    #[test]
    fn times_are_rfc3339_with_any_offset_or_unix_seconds() {
        let params = Params::parse(
            "from=2024-01-15T11:30:00+01:00&to=1705314600",
            &["from", "to"],
            &[],
        )
        .unwrap();
        let from = params.time("from").unwrap().unwrap();
        assert_eq!(from, params.time("to").unwrap().unwrap());
        assert_eq!(from.timestamp(), 1_705_314_600);
        for bad in [
            "yesterday",
            "2024-01-15",
            "2024-13-01T00:00:00Z",
            "1e9",
            "1767225600000",
        ] {
            let params = Params::parse(&format!("from={bad}"), &["from"], &[]).unwrap();
            assert!(params.time("from").is_err(), "from={bad}");
        }
    }

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let position = Position {
            captured_at: "2024-01-15T10:30:00Z".into(),
            id: 42,
        };
        let cursor = format_cursor(&position);
        assert_eq!(cursor, "1705314600_42");
        let params = Params::parse(&format!("before={cursor}"), &["before"], &[]).unwrap();
        assert_eq!(params.cursor("before").unwrap(), Some(position));
        for bad in ["42", "x_1", "1_x", "_", "99999999999999999_1"] {
            let params = Params::parse(&format!("before={bad}"), &["before"], &[]).unwrap();
            assert!(params.cursor("before").is_err(), "before={bad}");
        }
    }

    #[test]
    fn redaction_hides_the_token_value_only() {
        let line = redact_token("/api/ws", "device=a&token=s3cr%2Bt&to=1");
        assert_eq!(line, "/api/ws?device=a&token=REDACTED&to=1");
        assert_eq!(redact_token("/api/ws", ""), "/api/ws");
        assert!(!redact_token("/x", "%74oken=secret").contains("secret"));
    }
}
