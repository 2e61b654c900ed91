//! One input through one decoder family, and the properties every result
//! must have, beyond not panicking. Shared, through `#[path]`, by the fuzz
//! targets (`fuzz_targets/*.rs`) and the corpus replay test
//! (`tests/api/fuzz_corpus.rs`), so both check the same things.
//!
//! Input formats (the `run` script seeds the corpus in them from
//! `shared/protocol/vectors.json`):
//! - [`advertisement`]: byte 0 is `0` for no local name, else `1 + n` for a
//!   name of the next `n` bytes (lossy UTF-8); the rest is the manufacturer
//!   data.
//! - [`current`]: a current-readings payload, decoded as each sensor kind.
//! - [`history`]: one packet, decoded both as V2 and as V1.
//! - [`query`]: a query string (lossy UTF-8), parsed as `/api/ws` and as
//!   REST parameters.
//!
//! Ranges checked are those the encoding allows (ARANET.md §5), not physical
//! plausibility: the decoders scale raw words and apply sentinels, no more.

#![allow(dead_code)]

use std::borrow::Cow;
use std::ops::RangeInclusive;

use aranet_service::error::Error;
use aranet_service::protocol::advertisement::{self, Advertisement, AdvertisementError};
use aranet_service::protocol::current::{self, CurrentReadingError};
use aranet_service::protocol::history::{self, HistoryError, HistoryValue, Parameter};
use aranet_service::protocol::history::{V1Packet, V2Packet};
use aranet_service::protocol::{Measurement, RadonAverage, SensorKind, Timing, RADON_ONE_PREFIX};
use aranet_service::web::query::{self, Params, WsQuery};
use chrono::{DateTime, Utc};

/// Every sensor kind; current readings are decoded as each.
pub const KINDS: [SensorKind; 4] = [
    SensorKind::Aranet4,
    SensorKind::Aranet2,
    SensorKind::Radiation,
    SensorKind::Radon,
];

/// Advertisement flags bit 5: integrations on, measurements present.
const INTEGRATIONS: u8 = 1 << 5;
/// V2 and V1 history header lengths.
const V2_HEADER_LEN: usize = 10;
const V1_HEADER_LEN: usize = 4;
/// Record ranges longer than this are not timed, to keep executions fast.
const MAX_TIMED_RECORDS: usize = 512;
/// REST parameter names the query target allows; only `device` repeats.
const ALLOWED: [&str; 6] = ["from", "to", "limit", "before", "device", "token"];
const REPEATABLE: [&str; 1] = ["device"];
/// `count` upper bound used by the query target.
const MAX_COUNT: u64 = 1000;

// ---------------------------------------------------------------- inputs

/// The advertisement target's input for manufacturer data seen with `name`.
pub fn advertisement_input(name: Option<&str>, data: &[u8]) -> Vec<u8> {
    let mut input = match name {
        None => vec![0],
        Some(name) => {
            let len = u8::try_from(name.len() + 1).expect("local name under 255 bytes");
            let mut input = vec![len];
            input.extend_from_slice(name.as_bytes());
            input
        }
    };
    input.extend_from_slice(data);
    input
}

/// Splits an advertisement input into local name and manufacturer data.
fn split_name(input: &[u8]) -> (Option<Cow<'_, str>>, &[u8]) {
    let Some((&head, rest)) = input.split_first() else {
        return (None, input);
    };
    if head == 0 {
        return (None, rest);
    }
    let (name, data) = rest.split_at(usize::from(head - 1).min(rest.len()));
    (Some(String::from_utf8_lossy(name)), data)
}

fn u16_at(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([data[at], data[at + 1]])
}

// --------------------------------------------------------- advertisement

/// Decodes an advertisement input (see the module docs) and checks it.
pub fn advertisement(input: &[u8]) {
    let (name, data) = split_name(input);
    let name = name.as_deref();
    if let Some(name) = name {
        local_name(name);
    }
    let result = advertisement::decode(name, data);
    assert_eq!(
        result,
        advertisement::decode(name, data),
        "not deterministic"
    );
    match &result {
        Ok(adv) => check_advertisement(adv, name, data),
        Err(err) => check_advertisement_error(err, name, data),
    }
}

/// `SensorKind::from_local_name` finds the kind whose prefix opens `name`.
pub fn local_name(name: &str) {
    let kind = SensorKind::from_local_name(name);
    let opens = |k: SensorKind| {
        name.starts_with(k.name_prefix())
            || (k == SensorKind::Radon && name.starts_with(RADON_ONE_PREFIX))
    };
    match kind {
        Some(kind) => assert!(opens(kind), "{name:?} is no {kind}"),
        None => assert!(!KINDS.into_iter().any(opens), "{name:?} not recognised"),
    }
    for k in KINDS {
        assert_eq!(SensorKind::from_local_name(k.name_prefix()), Some(k));
    }
}

/// The kind a type byte names, per ARANET.md §1.
fn kind_of_type(byte: u8) -> Option<SensorKind> {
    match byte {
        1 => Some(SensorKind::Aranet2),
        2 => Some(SensorKind::Radiation),
        3 => Some(SensorKind::Radon),
        _ => None,
    }
}

/// True when the frame is taken as an Aranet4, whatever byte 0 says.
fn aranet4_frame(name_kind: Option<SensorKind>, len: usize) -> bool {
    name_kind == Some(SensorKind::Aranet4) || (name_kind.is_none() && [7, 22].contains(&len))
}

fn full_len(kind: SensorKind) -> usize {
    match kind {
        SensorKind::Aranet4 => 22,
        _ => 24,
    }
}

fn check_advertisement(adv: &Advertisement, name: Option<&str>, data: &[u8]) {
    assert!(data.len() >= 5, "decoded a {}-byte frame", data.len());
    let name_kind = name.and_then(SensorKind::from_local_name);
    if aranet4_frame(name_kind, data.len()) {
        assert_eq!(adv.kind, SensorKind::Aranet4);
    } else {
        assert_eq!(
            Some(adv.kind),
            kind_of_type(data[0]),
            "kind is the type byte's"
        );
        assert!(name_kind.is_none_or(|k| k == adv.kind), "name disagrees");
    }
    let at = usize::from(adv.kind != SensorKind::Aranet4);
    assert_eq!(adv.flags, data[at]);
    let version = &adv.version;
    let wire = (version.patch, version.minor, version.major);
    assert_eq!(wire, (data[at + 1], data[at + 2], data[at + 3]), "version");
    let full = full_len(adv.kind);
    let expect_reading = adv.flags & INTEGRATIONS != 0 && data.len() >= full;
    assert_eq!(adv.reading.is_some(), expect_reading, "reading presence");
    if let Some((measurement, timing)) = &adv.reading {
        assert_eq!(measurement.kind(), adv.kind);
        assert_eq!(
            timing.counter,
            Some(data[full - 1]),
            "counter is the last byte"
        );
        assert!(timing.interval_s.is_some() && timing.age_s.is_some());
        let radon_one = name.is_some_and(|n| n.starts_with(RADON_ONE_PREFIX));
        check_measurement(measurement, radon_one);
    }
    if name.is_none() {
        // Naming the decoded kind changes nothing.
        let named = advertisement::decode(Some(adv.kind.name_prefix()), data);
        assert_eq!(named.as_ref(), Ok(adv), "decoded differently once named");
    }
}

fn check_advertisement_error(err: &AdvertisementError, name: Option<&str>, data: &[u8]) {
    assert!(!err.to_string().is_empty());
    let name_kind = name.and_then(SensorKind::from_local_name);
    match *err {
        AdvertisementError::TooShort { len } => {
            assert_eq!(len, data.len());
            assert!(len < 5, "{len}-byte frame refused as too short");
        }
        AdvertisementError::UnknownType(byte) => {
            assert!(data.len() >= 5 && !aranet4_frame(name_kind, data.len()));
            assert_eq!(byte, data[0]);
            assert_eq!(kind_of_type(byte), None, "known type {byte} refused");
        }
        AdvertisementError::NameMismatch {
            from_name,
            from_type,
        } => {
            assert!(data.len() >= 5 && !aranet4_frame(name_kind, data.len()));
            assert_eq!(Some(from_name), name_kind);
            assert_eq!(Some(from_type), kind_of_type(data[0]));
            assert_ne!(from_name, from_type);
        }
    }
}

// ---------------------------------------------------------- measurements

/// Values in the ranges their raw words allow; a Radon One has no T/RH.
fn check_measurement(measurement: &Measurement, radon_one: bool) {
    match measurement {
        Measurement::Aranet4(v) => {
            assert!(v.co2_ppm.is_none_or(|c| c < 0x8000), "CO2 {:?}", v.co2_ppm);
            check_temperature(v.temperature_c);
            check_tenths(v.pressure_hpa);
        }
        Measurement::Aranet2(v) => {
            check_temperature(v.temperature_c);
            check_tenths(v.humidity_pct);
        }
        Measurement::Radiation(v) => {
            assert!(v.dose_rate_usv_h().is_finite() && v.dose_rate_usv_h() >= 0.0);
            assert!(v.dose_total_msv().is_finite() && v.dose_total_msv() >= 0.0);
        }
        Measurement::Radon(v) => {
            let radon = v.radon_bq_m3;
            assert!(radon.is_none_or(|r| r < 0x1F00), "radon {radon:?}");
            check_temperature(v.temperature_c);
            check_tenths(v.pressure_hpa);
            check_tenths(v.humidity_pct);
            if radon_one {
                assert_eq!((v.temperature_c, v.humidity_pct), (None, None));
            }
            if let Some(averages) = &v.averages {
                for average in [&averages.day, &averages.week, &averages.month] {
                    check_average(average);
                }
            }
        }
    }
}

/// Exactly raw/20 for a u16 raw word without the invalid bit 14.
fn check_temperature(value: Option<f64>) {
    let Some(t) = value else { return };
    let raw = (t * 20.0).round();
    assert!(raw / 20.0 == t && (0.0..=65535.0).contains(&raw), "{t} °C");
    assert_eq!(raw as u16 & 1 << 14, 0, "{t} °C has the invalid bit");
}

/// Exactly raw/10 for a raw word without the invalid bit 15.
fn check_tenths(value: Option<f64>) {
    let Some(x) = value else { return };
    let raw = (x * 10.0).round();
    assert!(
        raw / 10.0 == x && (0.0..32768.0).contains(&raw),
        "{x} tenths"
    );
}

fn check_average(average: &RadonAverage) {
    let (value, progress) = (average.value_bq_m3, average.progress);
    assert_ne!(value.is_some(), progress.is_some(), "{average:?}");
    assert!(value.is_none_or(|v| v < 0xFF00_0000), "{average:?}");
    assert!(progress.is_none_or(|p| p < 1 << 24), "{average:?}");
}

// ------------------------------------------------------ current readings

/// Decodes a current-readings payload as each kind and checks the result.
pub fn current(data: &[u8]) {
    for kind in KINDS {
        let result = current::decode(kind, data);
        assert_eq!(result, current::decode(kind, data), "not deterministic");
        match &result {
            Ok((measurement, timing)) => check_current(kind, data, measurement, timing),
            Err(err) => check_current_error(kind, data, err),
        }
    }
}

fn current_length_fits(kind: SensorKind, len: usize) -> bool {
    match kind {
        SensorKind::Aranet4 => len == 9 || len == 13,
        SensorKind::Aranet2 => len == 12,
        SensorKind::Radiation => len >= 28,
        SensorKind::Radon => len >= 18,
    }
}

fn current_header(kind: SensorKind) -> Option<u8> {
    match kind {
        SensorKind::Aranet4 => None,
        SensorKind::Aranet2 => Some(0x02),
        SensorKind::Radon => Some(0x03),
        SensorKind::Radiation => Some(0x04),
    }
}

fn check_current(kind: SensorKind, data: &[u8], measurement: &Measurement, timing: &Timing) {
    assert!(
        current_length_fits(kind, data.len()),
        "{kind}: {} bytes",
        data.len()
    );
    if let Some(header) = current_header(kind) {
        assert!(
            data[0] == 0 || data[0] == header,
            "{kind}: header {}",
            data[0]
        );
    }
    assert_eq!(measurement.kind(), kind);
    assert_eq!(timing.counter, None, "GATT has no counter");
    let (interval, age) = match (kind, data.len()) {
        (SensorKind::Aranet4, 9) => (None, None),
        (SensorKind::Aranet4, _) => (Some(u16_at(data, 9)), Some(u16_at(data, 11))),
        _ => (Some(u16_at(data, 2)), Some(u16_at(data, 4))),
    };
    assert_eq!(
        (timing.interval_s, timing.age_s),
        (interval, age),
        "{kind} timing"
    );
    if let Measurement::Radon(v) = measurement {
        assert_eq!(v.averages.is_some(), data.len() >= 47, "radon averages");
    }
    check_measurement(measurement, false);
}

fn check_current_error(kind: SensorKind, data: &[u8], err: &CurrentReadingError) {
    assert!(!err.to_string().is_empty());
    match *err {
        CurrentReadingError::Length { kind: k, len, .. } => {
            assert_eq!((k, len), (kind, data.len()));
            assert!(
                !current_length_fits(kind, len),
                "{kind}: {len} bytes refused"
            );
        }
        CurrentReadingError::Header {
            kind: k,
            found,
            expected,
        } => {
            assert!(current_length_fits(kind, data.len()));
            assert_eq!(
                (k, Some(expected), found),
                (kind, current_header(kind), data[0])
            );
            assert!(
                found != 0 && found != expected,
                "{kind}: header {found} refused"
            );
        }
    }
}

// --------------------------------------------------------------- history

/// Decodes one packet as V2 and as V1; pages, times and requests follow.
pub fn history(data: &[u8]) {
    let v2 = history::decode_v2(data);
    assert_eq!(v2, history::decode_v2(data), "V2 not deterministic");
    match &v2 {
        Ok(packet) => check_v2(packet, data),
        Err(err) => check_history_error(err, data, V2_HEADER_LEN),
    }
    let v1 = history::decode_v1(data);
    assert_eq!(v1, history::decode_v1(data), "V1 not deterministic");
    match &v1 {
        Ok(packet) => check_v1(packet, data),
        Err(err) => check_history_error(err, data, V1_HEADER_LEN),
    }
    if let Some(param) = data.first().copied().and_then(Parameter::from_id) {
        check_requests(param, data);
    }
}

fn check_history_error(err: &HistoryError, data: &[u8], header_len: usize) {
    assert!(!err.to_string().is_empty());
    match *err {
        HistoryError::TooShort { len, need } => {
            assert_eq!((len, need), (data.len(), header_len));
            assert!(len < need, "{len}-byte packet refused");
        }
        HistoryError::UnknownParameter(id) => {
            assert!(data.len() >= header_len);
            assert_eq!(id, data[0]);
            assert!(!(1..=10).contains(&id), "parameter {id} refused");
        }
    }
}

/// Records a packet holds: its count, or as many whole ones as fit.
fn expected_records(count: u8, payload: usize, record_size: usize) -> usize {
    usize::from(count).min(payload / record_size)
}

fn check_v2(packet: &V2Packet, data: &[u8]) {
    assert!(data.len() >= V2_HEADER_LEN);
    assert_eq!(packet.param.id(), data[0]);
    let header = (
        packet.interval_s,
        packet.total_readings,
        packet.age_s,
        packet.start_index,
        packet.count,
    );
    let wire = (
        u16_at(data, 1),
        u16_at(data, 3),
        u16_at(data, 5),
        u16_at(data, 7),
        data[9],
    );
    assert_eq!(header, wire, "V2 header");
    let size = packet.param.record_size();
    let want = expected_records(packet.count, data.len() - V2_HEADER_LEN, size);
    assert_eq!(packet.values.len(), want, "V2 records");
    for &value in &packet.values {
        check_history_value(packet.param, value);
    }
    check_next_start(packet);
    check_record_times(packet);
}

fn check_v1(packet: &V1Packet, data: &[u8]) {
    assert!(data.len() >= V1_HEADER_LEN);
    assert_eq!(packet.param.id(), data[0]);
    assert_eq!(
        (packet.start_index, packet.count),
        (u16_at(data, 1), data[3])
    );
    let size = if packet.param == Parameter::Humidity {
        1
    } else {
        2
    };
    let want = expected_records(packet.count, data.len() - V1_HEADER_LEN, size);
    assert_eq!(packet.values.len(), want, "V1 records");
    for &value in &packet.values {
        check_history_value(packet.param, value);
    }
    for total in [0, packet.start_index, u16::MAX] {
        let end = packet.count == 0 || packet.start_index > total;
        assert_eq!(packet.is_end(total), end, "is_end({total})");
    }
}

/// A record in its parameter's unit, within what its raw word allows.
fn check_history_value(param: Parameter, value: HistoryValue) {
    let Some(x) = value else { return };
    assert!(x.is_finite() && x >= 0.0, "{param:?} {x}");
    let whole_below = |limit: f64| x.fract() == 0.0 && x < limit;
    let ok = match param {
        Parameter::Temperature => {
            check_temperature(value);
            true
        }
        Parameter::Pressure | Parameter::Humidity2 => {
            check_tenths(value);
            true
        }
        Parameter::Humidity => whole_below(256.0),
        Parameter::Co2 | Parameter::RadiationDose => whole_below(32768.0),
        Parameter::RadiationDoseRate => (x / 10.0).fract() == 0.0 && x < 327_680.0,
        Parameter::Pulses => whole_below(65536.0),
        // Below 2^63 as a u64; as an f64 the top values round up to 2^63.
        Parameter::RadiationDoseIntegral => x.fract() == 0.0 && x <= 9_223_372_036_854_775_808.0,
        Parameter::RadonConcentration => whole_below(7936.0),
    };
    assert!(ok, "{param:?} record {x} outside its raw range");
    let (rate, dose) = (history::nsv_h_to_usv_h(x), history::nsv_to_msv(x));
    assert!(rate.is_finite() && dose.is_finite() && rate >= 0.0 && dose >= 0.0);
}

/// Pages move forward without gaps and stop at the last record.
fn check_next_start(packet: &V2Packet) {
    let next = history::next_start(packet);
    let end = u32::from(packet.start_index) + u32::from(packet.count);
    if packet.count == 0 {
        assert_eq!(next, None, "an empty page ends the download");
    }
    if let Some(next) = next {
        assert!(next > packet.start_index, "page does not move forward");
        assert!(next <= packet.total_readings, "page past the last record");
        assert_eq!(u32::from(next), end, "gap or overlap after the page");
    } else {
        let last_page = packet.count == 0 || end > u32::from(packet.total_readings);
        assert!(last_page, "download stopped early: {packet:?}");
    }
}

/// Record `i` is logged `age + interval × (total − i)` seconds before now.
fn check_record_times(packet: &V2Packet) {
    let carried = u16::try_from(packet.values.len().saturating_sub(1)).unwrap_or(u16::MAX);
    let ranges = [
        // The records this packet carries.
        packet.start_index..=packet.start_index.saturating_add(carried),
        // The download from this page on, as gatt.rs times it.
        packet.start_index..=packet.total_readings,
    ];
    for now in [1_705_314_600, 0, 4_102_444_800] {
        let now = DateTime::from_timestamp(now, 0).expect("in range");
        for indices in ranges.clone() {
            if indices.clone().count() <= MAX_TIMED_RECORDS {
                check_times(packet, now, indices);
            }
        }
    }
}

fn check_times(packet: &V2Packet, now: DateTime<Utc>, indices: RangeInclusive<u16>) {
    let (age, interval, total) = (packet.age_s, packet.interval_s, packet.total_readings);
    let times = history::record_times(now, age, interval, total, indices.clone());
    assert_eq!(times.len(), indices.clone().count(), "one time per record");
    for (time, i) in times.iter().zip(indices) {
        let back = i64::from(age) + i64::from(interval) * (i64::from(total) - i64::from(i));
        assert_eq!(
            time.timestamp(),
            now.timestamp() - back,
            "time of record {i}"
        );
    }
    assert!(times.is_sorted(), "record times go backwards");
}

/// Requests carry the parameter id and little-endian indices.
fn check_requests(param: Parameter, data: &[u8]) {
    assert_eq!(Parameter::from_id(param.id()), Some(param));
    assert!([1, 2, 3, 4, 8].contains(&param.record_size()));
    assert!(!param.unit().is_empty());
    let (start, end) = (u16_at_or_zero(data, 1), u16_at_or_zero(data, 3));
    let [s0, s1] = start.to_le_bytes();
    let [e0, e1] = end.to_le_bytes();
    assert_eq!(
        history::v2_request(param, start),
        [0x61, param.id(), s0, s1]
    );
    let v1 = [0x82, param.id(), 0, 0, s0, s1, e0, e1];
    assert_eq!(history::v1_request(param, start, end), v1);
}

fn u16_at_or_zero(data: &[u8], at: usize) -> u16 {
    match data.get(at..at + 2) {
        Some(&[low, high]) => u16::from_le_bytes([low, high]),
        _ => 0,
    }
}

// ----------------------------------------------------------------- query

/// Parses a query string as `/api/ws` does and as a REST endpoint does.
pub fn query(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let ws = ws_query(&text);
    redaction(&text, ws.as_ref().ok());
    rest_params(&text);
}

fn ws_query(text: &str) -> Result<WsQuery, Error> {
    let result = WsQuery::parse(text);
    let again = WsQuery::parse(text);
    assert_eq!(
        format!("{result:?}"),
        format!("{again:?}"),
        "not deterministic"
    );
    match &result {
        Ok(q) => {
            assert!(q.since.is_none_or(|id| id >= 0), "since {:?}", q.since);
            assert!(q.devices.len() <= text.split('&').count());
        }
        Err(err) => check_query_error(err),
    }
    result
}

fn check_query_error(err: &Error) {
    assert!(!err.to_string().is_empty());
    assert!(
        matches!(err, Error::BadRequest(_) | Error::InvalidParameter { .. }),
        "unexpected error {err:?}"
    );
}

/// The logged line keeps every parameter but the token's value.
fn redaction(text: &str, parsed: Option<&WsQuery>) {
    const PATH: &str = "/api/ws";
    let line = query::redact_token(PATH, text);
    if text.is_empty() {
        assert_eq!(line, PATH);
        return;
    }
    let redacted = line.strip_prefix("/api/ws?").expect("path kept");
    assert_eq!(redacted.split('&').count(), text.split('&').count());
    let Some(parsed) = parsed else { return };
    let again = WsQuery::parse(redacted).expect("redacted query parses");
    assert_eq!(
        (&again.devices, again.since),
        (&parsed.devices, parsed.since)
    );
    assert_eq!(again.token.is_some(), parsed.token.is_some());
    let token = again.token.as_deref();
    assert!(
        matches!(token, None | Some("" | "REDACTED")),
        "token leaks into the log: {line:?}"
    );
}

fn rest_params(text: &str) {
    let none = Params::parse(text, &[], &[]);
    let all_empty = text.split('&').all(str::is_empty);
    assert_eq!(
        none.is_ok(),
        all_empty,
        "no-parameter endpoint given {text:?}"
    );
    let params = match Params::parse(text, &ALLOWED, &REPEATABLE) {
        Ok(params) => params,
        Err(err) => return check_query_error(&err),
    };
    assert_eq!(params.get("unknown"), None);
    for name in ALLOWED {
        let all = params.all(name);
        assert_eq!(params.get(name), all.first().map(String::as_str));
        assert!(REPEATABLE.contains(&name) || all.len() <= 1, "{name} twice");
    }
    match params.count("limit", MAX_COUNT) {
        Ok(Some(n)) => {
            assert!((1..=MAX_COUNT).contains(&n), "limit {n}");
            assert_eq!(params.get("limit").map(str::parse), Some(Ok(n)));
        }
        Ok(None) => assert_eq!(params.get("limit"), None),
        Err(err) => check_query_error(&err),
    }
    for name in ["from", "to"] {
        match params.time(name) {
            Ok(Some(t)) => {
                let text = params.get(name).expect("given");
                if let Ok(seconds) = text.parse::<i64>() {
                    assert_eq!(t.timestamp(), seconds, "{name}={text}");
                }
                // rest.rs compares `from`/`to` with stored times as text.
                let stored = aranet_service::db::format_time(t);
                assert!(stored_style(&stored), "{name}={text} stored as {stored:?}");
            }
            Ok(None) => assert_eq!(params.get(name), None),
            Err(err) => check_query_error(&err),
        }
    }
    match params.cursor("before") {
        Ok(Some(position)) => check_cursor_round_trip(&position),
        Ok(None) => assert_eq!(params.get("before"), None),
        Err(err) => check_query_error(&err),
    }
}

/// A cursor parsed from a request names a stored-style time (a four-digit
/// year, so it compares right as text) and formats back to one naming the
/// same row.
fn check_cursor_round_trip(position: &aranet_service::db::Position) {
    let at = &position.captured_at;
    assert!(stored_style(at), "cursor time {at:?}");
    let cursor = query::format_cursor(position);
    let params = Params::parse(&format!("before={cursor}"), &["before"], &[]);
    let again = params.expect("cursor is a valid query").cursor("before");
    assert_eq!(
        again.ok().flatten().as_ref(),
        Some(position),
        "cursor {cursor}"
    );
}

/// `YYYY-MM-DDTHH:MM:SSZ`, how readings are stored, which orders as text.
fn stored_style(text: &str) -> bool {
    let shape = text.len() == 20 && text.ends_with('Z');
    shape && DateTime::parse_from_rfc3339(text).is_ok()
}
