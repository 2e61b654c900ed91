//! API-key check, in constant time: header `X-API-Key` (or `Authorization:
//! Bearer`, which Prometheus sends) everywhere, and query `token` on `/api/ws`
//! alone, since browsers cannot set headers on a WebSocket. An address that
//! keeps presenting wrong keys is refused for a while (429), so keys cannot
//! be guessed at network speed. Limitation: behind a reverse proxy every
//! client has the proxy's address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

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

/// Failed attempts an address may make at once, and how fast it earns
/// another: 10, then one every 6 s.
const FAILURE_BURST: f64 = 10.0;
const FAILURE_REFILL: Duration = Duration::from_secs(6);
/// Addresses remembered at most; beyond it the ones in good standing are
/// forgotten first.
const MAX_TRACKED: usize = 10_000;

/// Failed key checks per client, a token bucket each. A client is an IPv4
/// address or an IPv6 /64, the block one home or host gets.
#[derive(Debug, Default)]
pub struct AuthLimiter {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

/// The address that stands for `ip`'s client: IPv6 cut to its /64.
fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn refilled(self, now: Instant) -> Self {
        let earned = now.duration_since(self.updated).as_secs_f64() / FAILURE_REFILL.as_secs_f64();
        Bucket {
            tokens: (self.tokens + earned).min(FAILURE_BURST),
            updated: now,
        }
    }
}

impl AuthLimiter {
    /// How long `ip` must wait, when it has used up its failed attempts.
    fn wait(&self, ip: IpAddr) -> Option<Duration> {
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.get(&client_of(ip))?.refilled(Instant::now());
        (bucket.tokens < 1.0).then(|| FAILURE_REFILL.mul_f64(1.0 - bucket.tokens))
    }

    fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let client = client_of(ip);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&client) {
            make_room(&mut buckets, now);
        }
        let fresh = Bucket {
            tokens: FAILURE_BURST,
            updated: now,
        };
        let bucket = buckets.entry(client).or_insert(fresh);
        *bucket = bucket.refilled(now);
        bucket.tokens -= 1.0;
        if bucket.tokens < 1.0 {
            log::warn!("too many wrong API keys, refusing peer={ip} for a while");
        }
    }
}

/// Forgets the clients in good standing; failing that, the one with the most
/// attempts left, so that a flood of new addresses never lets off a client
/// that has to wait.
fn make_room(buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
    buckets.retain(|_, b| b.refilled(now).tokens < FAILURE_BURST);
    if buckets.len() >= MAX_TRACKED {
        let tokens = |b: &Bucket| b.refilled(now).tokens;
        let freest = buckets
            .iter()
            .max_by(|(_, a), (_, b)| tokens(a).total_cmp(&tokens(b)))
            .map(|(ip, _)| *ip);
        if let Some(ip) = freest {
            buckets.remove(&ip);
        }
    }
}

/// Accepts the request when no key is configured or when it presents the key;
/// `token` is the `?token=` value where one is allowed.
pub fn authorize(req: &HttpRequest, token: Option<&str>, state: &AppState) -> Result<(), Error> {
    let Some(expected) = state.api_key.as_deref() else {
        return Ok(());
    };
    let ip = req.peer_addr().map(|a| a.ip());
    if let Some(wait) = ip.and_then(|ip| state.auth_failures.wait(ip)) {
        let retry_after_s = wait.as_secs_f64().ceil() as u64;
        return Err(Error::TooManyAttempts { retry_after_s });
    }
    if presents_key(req, token, expected) {
        return Ok(());
    }
    if let Some(ip) = ip {
        state.auth_failures.failed(ip);
    }
    Err(Error::Unauthorized)
}

fn presents_key(req: &HttpRequest, token: Option<&str>, expected: &str) -> bool {
    let header = req.headers().get(API_KEY_HEADER).map(|v| v.as_bytes());
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(BEARER));
    let presented = [header, bearer, token.map(str::as_bytes)];
    presented
        .into_iter()
        .flatten()
        .any(|key| keys_match(key, expected.as_bytes()))
}

/// Middleware of the REST endpoints: the key in a header, never in the URL.
pub async fn require_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>();
    let state = state.ok_or_else(|| Error::Unavailable("no application state".into()))?;
    authorize(req.request(), None, state)?;
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
    fn header_bearer_or_token_must_match_the_key() {
        let key = "k+/=";
        let req = TestRequest::default()
            .insert_header((API_KEY_HEADER, key))
            .to_http_request();
        assert!(presents_key(&req, None, key));
        let bare = TestRequest::default().to_http_request();
        assert!(presents_key(&bare, Some(key), key));
        assert!(!presents_key(&bare, Some("k+/"), key));
        assert!(!presents_key(&bare, None, key));
        let bearer = TestRequest::default()
            .insert_header((AUTHORIZATION, "Bearer k+/="))
            .to_http_request();
        assert!(presents_key(&bearer, None, key));
        assert!(!presents_key(&bearer, None, "k+/"));
    }

    #[test]
    fn an_address_gets_ten_failures_then_waits_and_others_are_unaffected() {
        let limiter = AuthLimiter::default();
        let (bad, good): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        for _ in 0..10 {
            assert_eq!(limiter.wait(bad), None);
            limiter.failed(bad);
        }
        let wait = limiter.wait(bad).unwrap();
        assert!(
            wait > Duration::from_secs(5) && wait <= FAILURE_REFILL,
            "{wait:?}"
        );
        assert_eq!(limiter.wait(good), None);
    }

    #[test]
    fn an_ipv6_client_is_its_64_block() {
        let limiter = AuthLimiter::default();
        for host in 0..10u16 {
            let ip = IpAddr::V6([0x2001, 0xdb8, 0, 1, 0, 0, 0, host].into());
            limiter.failed(ip);
        }
        let same_block = IpAddr::V6([0x2001, 0xdb8, 0, 1, 0xffff, 0, 0, 99].into());
        assert!(limiter.wait(same_block).is_some());
        let other_block = IpAddr::V6([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1].into());
        assert_eq!(limiter.wait(other_block), None);
    }

    #[test]
    fn a_flood_of_new_addresses_does_not_free_a_waiting_one() {
        let limiter = AuthLimiter::default();
        let waiting: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..10 {
            limiter.failed(waiting);
        }
        for i in 0..(MAX_TRACKED as u32 + 50) {
            limiter.failed(IpAddr::V4((0x0b00_0000 + i).into()));
        }
        assert!(limiter.wait(waiting).is_some());
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
