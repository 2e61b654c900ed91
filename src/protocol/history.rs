//! History download (ARANET.md §4): request encoders, decoders for V2 packets
//! read from `f0cd2005` and V1 notifications on `f0cd2003`, pagination and
//! record timestamps. Values are [`HistoryValue`]s in each parameter's unit.

use std::ops::RangeInclusive;

use chrono::{DateTime, TimeDelta, Utc};

use super::{temperature_c, tenths, Reader, SensorKind};
use super::{RADON_ERROR_MIN, WORD_INVALID};

/// Command byte of a V2 request, `61 PP SS SS`.
const V2_REQUEST: u8 = 0x61;
/// Command byte of a V1 request, `82 PP 00 00 SS SS EE EE`.
const V1_REQUEST: u8 = 0x82;
/// V2 header `<BHHHHB`: param, interval, total, age, start, count.
const V2_HEADER_LEN: usize = 10;
/// V1 header `<BHB`: param, start, count.
const V1_HEADER_LEN: usize = 4;
/// Dose-rate records count in steps of 10 nSv/h (PY and the ESP32 bridge).
const DOSE_RATE_STEP_NSV_H: f64 = 10.0;
/// Dose-integral records with this bit set are invalid.
const QUAD_INVALID: u64 = 1 << 63;

/// One record in its parameter's natural unit (see [`Parameter::unit`]);
/// `None` when the device marked it invalid (ARANET.md §5).
///
/// Integer units stay exact in an `f64`; the type fills the service's
/// reading columns directly or through [`nsv_h_to_usv_h`] and [`nsv_to_msv`].
pub type HistoryValue = Option<f64>;

/// One logged quantity; history is downloaded a parameter at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Parameter {
    /// Temperature in °C.
    Temperature = 1,
    /// Aranet4 relative humidity in whole %, one byte per record.
    Humidity = 2,
    /// Pressure in hPa.
    Pressure = 3,
    /// CO₂ in ppm.
    Co2 = 4,
    /// Relative humidity in % with one decimal, for Aranet2 and Radon.
    Humidity2 = 5,
    /// Radiation pulse count; only the ESP32 bridge reads it.
    Pulses = 6,
    /// Radiation dose in nSv; no source says over which span.
    RadiationDose = 7,
    /// Radiation dose rate in nSv/h.
    RadiationDoseRate = 8,
    /// Accumulated radiation dose in nSv.
    RadiationDoseIntegral = 9,
    /// Radon concentration in Bq/m³.
    RadonConcentration = 10,
}

/// How one record is laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// u8.
    Byte,
    /// u16LE.
    Word,
    /// Three bytes of which only the low u16LE is read, as PY and ESP do;
    /// no source explains the third (ARANET.md §8).
    WordOf3,
    /// u32LE.
    Long,
    /// u64LE.
    Quad,
}

impl Layout {
    fn size(self) -> usize {
        match self {
            Layout::Byte => 1,
            Layout::Word => 2,
            Layout::WordOf3 => 3,
            Layout::Long => 4,
            Layout::Quad => 8,
        }
    }

    /// The raw record, or `None` if fewer than [`Layout::size`] bytes remain.
    fn read(self, r: &mut Reader<'_>) -> Option<u64> {
        match self {
            Layout::Byte => r.u8().map(u64::from),
            Layout::Word => r.u16().map(u64::from),
            Layout::WordOf3 => {
                let [low, high, _] = r.take::<3>()?;
                Some(u64::from(u16::from_le_bytes([low, high])))
            }
            Layout::Long => r.u32().map(u64::from),
            Layout::Quad => r.u64(),
        }
    }
}

impl Parameter {
    /// Every parameter, in id order.
    pub const ALL: [Parameter; 10] = [
        Parameter::Temperature,
        Parameter::Humidity,
        Parameter::Pressure,
        Parameter::Co2,
        Parameter::Humidity2,
        Parameter::Pulses,
        Parameter::RadiationDose,
        Parameter::RadiationDoseRate,
        Parameter::RadiationDoseIntegral,
        Parameter::RadonConcentration,
    ];

    /// The parameter with wire id `id`; `None` for ids outside 1–10.
    pub fn from_id(id: u8) -> Option<Parameter> {
        Parameter::ALL.into_iter().find(|p| p.id() == id)
    }

    /// Wire id: the `PP` byte of requests and byte 0 of every packet.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// Bytes per record in a V2 packet (ARANET.md §4.1).
    pub fn record_size(self) -> usize {
        self.v2_layout().size()
    }

    /// Unit of decoded values, spelled as in `vectors.json`.
    pub fn unit(self) -> &'static str {
        match self {
            Parameter::Temperature => "degC",
            Parameter::Humidity | Parameter::Humidity2 => "%RH",
            Parameter::Pressure => "hPa",
            Parameter::Co2 => "ppm",
            Parameter::Pulses => "pulses",
            Parameter::RadiationDose => "nSv",
            Parameter::RadiationDoseRate => "nSv/h",
            Parameter::RadiationDoseIntegral => "nSv",
            Parameter::RadonConcentration => "Bq/m3",
        }
    }

    /// What to download from a `kind` sensor: the parameters behind the
    /// service's reading columns. Aranet2 and Radon log humidity as
    /// [`Parameter::Humidity2`]. Radiation gets the dose rate and the
    /// accumulated dose (the values its advertisements carry); the dose of
    /// unknown span and the pulse count have no column and are left out.
    pub fn for_kind(kind: SensorKind) -> &'static [Parameter] {
        use Parameter::*;
        match kind {
            SensorKind::Aranet4 => &[Temperature, Humidity, Pressure, Co2],
            SensorKind::Aranet2 => &[Temperature, Humidity2],
            SensorKind::Radiation => &[RadiationDoseRate, RadiationDoseIntegral],
            SensorKind::Radon => &[Temperature, Pressure, Humidity2, RadonConcentration],
        }
    }

    fn v2_layout(self) -> Layout {
        match self {
            Parameter::Humidity => Layout::Byte,
            Parameter::RadiationDose | Parameter::RadiationDoseRate => Layout::WordOf3,
            Parameter::RadiationDoseIntegral => Layout::Quad,
            Parameter::RadonConcentration => Layout::Long,
            _ => Layout::Word,
        }
    }

    /// V1 records are a byte for humidity and a u16 for everything else.
    fn v1_layout(self) -> Layout {
        match self {
            Parameter::Humidity => Layout::Byte,
            _ => Layout::Word,
        }
    }

    /// Applies the sentinel and scaling of ARANET.md §5 to a raw record. A
    /// record too wide for the parameter's word is invalid too; for the u8
    /// humidity that is PY's `v >> 8` rule.
    fn scale(self, raw: u64) -> HistoryValue {
        let word = u16::try_from(raw).ok();
        let flagged = word.filter(|w| w & WORD_INVALID == 0).map(f64::from);
        // Exact below 2^53 (9 MSv as a dose), far above any real value.
        let wide = raw as f64;
        match self {
            Parameter::Temperature => word.and_then(temperature_c),
            Parameter::Humidity => u8::try_from(raw).ok().map(f64::from),
            Parameter::Pressure | Parameter::Humidity2 => word.and_then(tenths),
            Parameter::Co2 | Parameter::RadiationDose => flagged,
            Parameter::RadiationDoseRate => flagged.map(|w| w * DOSE_RATE_STEP_NSV_H),
            Parameter::Pulses => word.map(f64::from),
            Parameter::RadiationDoseIntegral => (raw & QUAD_INVALID == 0).then_some(wide),
            Parameter::RadonConcentration => (raw < u64::from(RADON_ERROR_MIN)).then_some(wide),
        }
    }
}

/// Why a history packet could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HistoryError {
    /// Shorter than the packet's header.
    #[error("history packet too short: {len} bytes, need at least {need}")]
    TooShort {
        /// Length received.
        len: usize,
        /// Header length.
        need: usize,
    },
    /// Byte 0 names no known parameter.
    #[error("unknown history parameter id {0}")]
    UnknownParameter(u8),
}

/// One V2 packet, read from `f0cd2005` after a [`v2_request`].
#[derive(Debug, Clone, PartialEq)]
pub struct V2Packet {
    /// Parameter the device is sending; may lag the one requested (§4.2).
    pub param: Parameter,
    /// Measurement interval in seconds.
    pub interval_s: u16,
    /// Records stored on the device.
    pub total_readings: u16,
    /// Seconds since the newest record.
    pub age_s: u16,
    /// 1-based index of `values[0]`.
    pub start_index: u16,
    /// Records the header announces.
    pub count: u8,
    /// Decoded records; fewer than `count` if the packet was cut short.
    pub values: Vec<HistoryValue>,
}

/// One V1 notification from `f0cd2003`, after a [`v1_request`].
#[derive(Debug, Clone, PartialEq)]
pub struct V1Packet {
    /// Parameter the device is sending.
    pub param: Parameter,
    /// 1-based index of `values[0]`.
    pub start_index: u16,
    /// Records the header announces; 0 on the end marker.
    pub count: u8,
    /// Decoded records; fewer than `count` if the packet was cut short.
    pub values: Vec<HistoryValue>,
}

impl V1Packet {
    /// True for the packet that ends a transfer of `total` records: a
    /// count of 0, or a start past the last record.
    pub fn is_end(&self, total: u16) -> bool {
        self.count == 0 || self.start_index > total
    }
}

/// Command for `f0cd1402` asking for `param` from 1-based `start_index` on.
pub fn v2_request(param: Parameter, start_index: u16) -> [u8; 4] {
    let [start_low, start_high] = start_index.to_le_bytes();
    [V2_REQUEST, param.id(), start_low, start_high]
}

/// Command for `f0cd1402` asking for records `start..=end` (1-based) of
/// `param` as V1 notifications.
pub fn v1_request(param: Parameter, start: u16, end: u16) -> [u8; 8] {
    let [s0, s1] = start.to_le_bytes();
    let [e0, e1] = end.to_le_bytes();
    [V1_REQUEST, param.id(), 0, 0, s0, s1, e0, e1]
}

/// Decodes a V2 packet. Records past `count` and a trailing partial record
/// are dropped. A packet holding fewer complete records than `count` is no
/// error: its records are decoded and `values` is simply shorter.
pub fn decode_v2(data: &[u8]) -> Result<V2Packet, HistoryError> {
    let (param, mut r) = open(data, V2_HEADER_LEN)?;
    // Cannot fail after `open`'s length check; mapped rather than unwrapped.
    read_v2(param, &mut r).ok_or(too_short(data.len(), V2_HEADER_LEN))
}

/// Decodes a V1 notification, trimming like [`decode_v2`]; the end marker
/// decodes to a packet without values (see [`V1Packet::is_end`]).
pub fn decode_v1(data: &[u8]) -> Result<V1Packet, HistoryError> {
    let (param, mut r) = open(data, V1_HEADER_LEN)?;
    // Cannot fail after `open`'s length check; mapped rather than unwrapped.
    read_v1(param, &mut r).ok_or(too_short(data.len(), V1_HEADER_LEN))
}

/// Start index to request after `packet`, or `None` once it reaches the
/// last record or is empty. Pages always move forward, so a loop driven by
/// this ends; records missing from a cut-short packet are not re-requested.
pub fn next_start(packet: &V2Packet) -> Option<u16> {
    let next = u32::from(packet.start_index) + u32::from(packet.count);
    // The page's last record is `next - 1`; done once that reaches the total.
    if packet.count == 0 || next > u32::from(packet.total_readings) {
        return None;
    }
    u16::try_from(next).ok()
}

/// Times of the records at 1-based `indices` (ARANET.md §4.4): record
/// `total` is the newest, logged `age_s` before `now`, and each lower index
/// is `interval_s` older. Take `now` when `age_s` is read.
pub fn record_times(
    now: DateTime<Utc>,
    age_s: u16,
    interval_s: u16,
    total: u16,
    indices: RangeInclusive<u16>,
) -> Vec<DateTime<Utc>> {
    // At most ~136 years back, which no real `now` takes out of range.
    let newest = now - TimeDelta::seconds(i64::from(age_s));
    let back = |i: u16| i64::from(interval_s) * (i64::from(total) - i64::from(i));
    indices
        .map(|i| newest - TimeDelta::seconds(back(i)))
        .collect()
}

/// Dose rate in µSv/h, the unit of the service's `radiation_rate` column.
pub fn nsv_h_to_usv_h(nsv_h: f64) -> f64 {
    nsv_h / 1_000.0
}

/// Dose in mSv, the unit of the service's `radiation_total` column.
pub fn nsv_to_msv(nsv: f64) -> f64 {
    nsv / 1_000_000.0
}

fn too_short(len: usize, need: usize) -> HistoryError {
    HistoryError::TooShort { len, need }
}

/// Checks the header fits, then reads the parameter byte that opens it.
fn open(data: &[u8], need: usize) -> Result<(Parameter, Reader<'_>), HistoryError> {
    let first = data.split_first().filter(|_| data.len() >= need);
    let (&id, rest) = first.ok_or(too_short(data.len(), need))?;
    let unknown = HistoryError::UnknownParameter(id);
    Ok((Parameter::from_id(id).ok_or(unknown)?, Reader::new(rest)))
}

/// Reads the V2 header after the parameter byte, then the records.
fn read_v2(param: Parameter, r: &mut Reader<'_>) -> Option<V2Packet> {
    let (interval_s, total_readings, age_s) = (r.u16()?, r.u16()?, r.u16()?);
    let (start_index, count) = (r.u16()?, r.u8()?);
    Some(V2Packet {
        param,
        interval_s,
        total_readings,
        age_s,
        start_index,
        count,
        values: read_values(r, param, param.v2_layout(), count),
    })
}

/// Reads the V1 header after the parameter byte, then the records.
fn read_v1(param: Parameter, r: &mut Reader<'_>) -> Option<V1Packet> {
    let (start_index, count) = (r.u16()?, r.u8()?);
    Some(V1Packet {
        param,
        start_index,
        count,
        values: read_values(r, param, param.v1_layout(), count),
    })
}

/// Up to `count` records; stops at the first one the data cannot hold.
fn read_values(
    r: &mut Reader<'_>,
    param: Parameter,
    layout: Layout,
    count: u8,
) -> Vec<HistoryValue> {
    (0..count)
        .map_while(|_| layout.read(r))
        .map(|raw| param.scale(raw))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod vector_tests {
    //! Checks every `history_record` vector of `vectors.json`: each key of
    //! its `expected` object must be recognised and match.

    use super::super::vectors::{self, hex, same, Vector};
    use super::*;
    use chrono::SecondsFormat;
    use serde_json::{json, Value};

    /// Informational keys: PY's output, rounded to 1 dp, is not ours.
    const IGNORED: [&str; 1] = ["python_values"];

    /// A vector's packets, decoded as its request's command byte says.
    enum Packets {
        V2(Vec<V2Packet>),
        V1(V1Packet),
    }

    struct Decoded {
        param: Parameter,
        values: Vec<HistoryValue>,
        packets: Packets,
    }

    fn decode(v: &Vector) -> Result<Decoded, String> {
        let request = v.expected.get("request_hex").and_then(Value::as_str);
        let request = request.unwrap_or_default();
        let decoded = match request.get(..2) {
            Some("61") => decode_pages(&v.packets),
            Some("82") => decode_v1(&v.bytes).map(|p| Decoded {
                param: p.param,
                values: p.values.clone(),
                packets: Packets::V1(p),
            }),
            _ => return Err(format!("no V1/V2 request_hex: {request:?}")),
        };
        decoded.map_err(|err| err.to_string())
    }

    fn decode_pages(packets: &[Vec<u8>]) -> Result<Decoded, HistoryError> {
        let pages: Vec<V2Packet> = packets
            .iter()
            .map(|p| decode_v2(p))
            .collect::<Result<_, _>>()?;
        Ok(Decoded {
            param: pages[0].param,
            values: pages.iter().flat_map(|p| p.values.clone()).collect(),
            packets: Packets::V2(pages),
        })
    }

    /// Problems with the pages themselves: `hex` must be the first packet,
    /// every packet of one parameter, and `next_start` must lead from each
    /// page to the next and stop after the last.
    fn page_problems(v: &Vector, d: &Decoded) -> Vec<String> {
        let Packets::V2(pages) = &d.packets else {
            return vec![];
        };
        let mut problems = Vec::new();
        if v.packets[0] != v.bytes {
            problems.push("`hex` is not the first packet".to_owned());
        }
        if pages.iter().any(|p| p.param != d.param) {
            problems.push("packets of different parameters".to_owned());
        }
        let wanted = pages.iter().skip(1).map(|p| Some(p.start_index));
        let nexts = pages.iter().map(next_start);
        for (got, want) in nexts.zip(wanted.chain([None])) {
            if got != want {
                problems.push(format!("next_start is {got:?}, want {want:?}"));
            }
        }
        problems
    }

    fn check_vector(v: &Vector) -> Vec<String> {
        let d = match decode(v) {
            Ok(d) => d,
            Err(err) => return vec![format!("{}: {err}", v.source)],
        };
        let mut problems = page_problems(v, &d);
        for (key, want) in &v.expected {
            if let Some(problem) = check_key(&d, key, want) {
                problems.push(format!("`{key}`: {problem}"));
            }
        }
        let with_source = |p| format!("{}: {p}", v.source);
        problems.into_iter().map(with_source).collect()
    }

    /// The problem with one `expected` key, if any; an unknown key is one.
    fn check_key(d: &Decoded, key: &str, want: &Value) -> Option<String> {
        match key {
            _ if IGNORED.contains(&key) => None,
            "request_hex" => differ(&json!(want_str(want).to_lowercase()), &json!(request(d))),
            "values_raw" => differ(&scaled_raw(d.param, want), &values_json(d, |x| x)),
            "errors" => errors_problem(d, want),
            "timestamps_if_now_is" => timestamps_problem(d, want),
            "end_marker_hex" => end_marker_problem(d, want),
            _ => match field(d, key) {
                Some(got) => differ(want, &got),
                None => Some("unrecognised: no decoded field".to_owned()),
            },
        }
    }

    fn differ(want: &Value, got: &Value) -> Option<String> {
        (!same(want, got)).then(|| format!("is {got}, want {want}"))
    }

    fn want_str(want: &Value) -> &str {
        want.as_str().expect("a string")
    }

    /// The request that would fetch the packets as decoded, in hex.
    fn request(d: &Decoded) -> String {
        let bytes = match &d.packets {
            Packets::V2(pages) => v2_request(d.param, pages[0].start_index).to_vec(),
            Packets::V1(p) => v1_request(d.param, p.start_index, last_index(p)).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn last_index(p: &V1Packet) -> u16 {
        p.start_index + u16::from(p.count) - 1
    }

    fn values_json(d: &Decoded, unit: fn(f64) -> f64) -> Value {
        let values = d.values.iter().map(|v| v.map(unit));
        json!(values.collect::<Vec<_>>())
    }

    /// The raw words of `values_raw` through the decoder's own sentinels
    /// and scaling, to compare with the values read from the bytes.
    fn scaled_raw(param: Parameter, raw: &Value) -> Value {
        let raw = raw.as_array().expect("values_raw is an array");
        let scale = |r: &Value| param.scale(r.as_u64().expect("raw integer"));
        json!(raw.iter().map(scale).collect::<Vec<_>>())
    }

    /// Fields that need no more than the decoded packets.
    fn field(d: &Decoded, key: &str) -> Option<Value> {
        use Parameter::{RadiationDose, RadiationDoseIntegral, RadiationDoseRate};
        let dose = matches!(d.param, RadiationDose | RadiationDoseIntegral);
        match key {
            "param" => Some(json!(d.param.id())),
            "unit" => Some(json!(d.param.unit())),
            "values" => Some(values_json(d, |x| x)),
            "values_usv_h" if d.param == RadiationDoseRate => Some(values_json(d, nsv_h_to_usv_h)),
            "values_msv" if dose => Some(values_json(d, nsv_to_msv)),
            _ => match &d.packets {
                Packets::V2(pages) => v2_field(pages, key),
                Packets::V1(p) => v1_field(p, key),
            },
        }
    }

    /// Header fields; those of a single page only where there is one.
    fn v2_field(pages: &[V2Packet], key: &str) -> Option<Value> {
        let first = &pages[0];
        let page = |p: &V2Packet| json!({"start_index": p.start_index, "count": p.count});
        match (key, pages.len()) {
            ("interval_s", _) => Some(json!(first.interval_s)),
            ("total_readings", _) => Some(json!(first.total_readings)),
            ("age_s", _) => Some(json!(first.age_s)),
            ("record_size_bytes", _) => Some(json!(first.param.record_size())),
            ("pages", _) => Some(json!(pages.iter().map(page).collect::<Vec<_>>())),
            ("start_index", 1) => Some(json!(first.start_index)),
            ("count", 1) => Some(json!(first.count)),
            _ => None,
        }
    }

    fn v1_field(p: &V1Packet, key: &str) -> Option<Value> {
        match key {
            "start_index" => Some(json!(p.start_index)),
            "count" => Some(json!(p.count)),
            _ => None,
        }
    }

    /// Each non-null error must sit on an absent value, and only there.
    fn errors_problem(d: &Decoded, want: &Value) -> Option<String> {
        let errors = want.as_array().expect("errors is an array");
        let absent: Vec<bool> = d.values.iter().map(Option::is_none).collect();
        let flagged: Vec<bool> = errors.iter().map(|e| !e.is_null()).collect();
        (absent != flagged).then(|| format!("absent values {absent:?}, want {flagged:?}"))
    }

    /// Times of the decoded records for the vector's `now`.
    fn timestamps_problem(d: &Decoded, want: &Value) -> Option<String> {
        let Packets::V2(pages) = &d.packets else {
            return Some("unrecognised: V1 packets carry no timing".to_owned());
        };
        let now = want_str(&want["now"]).parse::<DateTime<Utc>>().unwrap();
        let (first, last) = (&pages[0], &pages[pages.len() - 1]);
        let len = u16::try_from(last.values.len()).unwrap();
        // The pages are contiguous: `page_problems` checks that.
        let indices = first.start_index..=last.start_index + len - 1;
        let (age, interval) = (first.age_s, first.interval_s);
        let times = record_times(now, age, interval, first.total_readings, indices);
        let text = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let times: Vec<String> = times.iter().map(text).collect();
        differ(&want["timestamps"], &json!(times))
    }

    /// The marker must decode to an empty packet of the same parameter that
    /// ends the transfer, while the data packet does not.
    fn end_marker_problem(d: &Decoded, want: &Value) -> Option<String> {
        let Packets::V1(data) = &d.packets else {
            return Some("unrecognised: V2 has no end marker".to_owned());
        };
        let total = last_index(data);
        let marker = match decode_v1(&hex(want_str(want))) {
            Ok(marker) => marker,
            Err(err) => return Some(err.to_string()),
        };
        let empty = marker.values.is_empty() && marker.param == data.param;
        let ends = marker.is_end(total) && !data.is_end(total);
        (!empty || !ends).then(|| format!("marker {marker:?}, data {data:?}"))
    }

    #[test]
    fn every_history_record_vector_decodes_as_expected() {
        let all = vectors::load("history_record");
        let mut problems = Vec::new();
        let mut checked = 0;
        for v in &all {
            problems.extend(check_vector(v));
            checked += 1;
        }
        assert_eq!(checked, all.len(), "a history_record vector was skipped");
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::vectors::hex;
    use super::*;

    /// Constructed V2 CO₂ packet from `vectors.json`: 5 of 5 records, 300 s
    /// interval, age 20 s.
    const CO2: &str = "042c01050014000100058a02bc024304aa05d403";

    /// V2 header bytes for `param`, 300 s interval, age 20 s.
    fn v2_header(param: u8, total: u16, start: u16, count: u8) -> Vec<u8> {
        let mut header = vec![param, 0x2c, 0x01];
        header.extend(total.to_le_bytes());
        header.extend(20_u16.to_le_bytes());
        header.extend(start.to_le_bytes());
        header.push(count);
        header
    }

    fn close(got: HistoryValue, want: f64) -> bool {
        got.is_some_and(|got| (got - want).abs() <= 1e-9)
    }

    #[test]
    fn unknown_parameter_id_is_rejected() {
        let data = v2_header(11, 5, 1, 0);
        let err = decode_v2(&data).unwrap_err();
        assert_eq!(err, HistoryError::UnknownParameter(11));
        assert_eq!(err.to_string(), "unknown history parameter id 11");
        let v1 = decode_v1(&[0, 1, 0, 0]).unwrap_err();
        assert_eq!(v1, HistoryError::UnknownParameter(0));
    }

    #[test]
    fn packet_shorter_than_its_header_is_rejected() {
        let data = hex(CO2);
        let err = decode_v2(&data[..9]).unwrap_err();
        assert_eq!(err, HistoryError::TooShort { len: 9, need: 10 });
        let text = "history packet too short: 9 bytes, need at least 10";
        assert_eq!(err.to_string(), text);
        assert_eq!(decode_v1(&[1, 1, 0]), Err(too_short(3, 4)));
        assert_eq!(decode_v2(&[]), Err(too_short(0, 10)));
    }

    #[test]
    fn header_only_packet_decodes_without_values() {
        let packet = decode_v2(&hex(CO2)[..10]).unwrap();
        assert_eq!((packet.count, packet.values.len()), (5, 0));
    }

    #[test]
    fn count_zero_ends_pagination() {
        let packet = decode_v2(&v2_header(4, 5, 1, 0)).unwrap();
        assert!(packet.values.is_empty());
        assert_eq!(next_start(&packet), None);
    }

    #[test]
    fn next_start_follows_the_last_record_of_a_page() {
        let mut data = v2_header(4, 5, 2, 2);
        data.extend([0x8a, 0x02, 0xbc, 0x02]);
        let packet = decode_v2(&data).unwrap();
        assert_eq!(next_start(&packet), Some(4));
    }

    #[test]
    fn page_reaching_past_the_total_ends_pagination() {
        let mut packet = decode_v2(&hex(CO2)).unwrap();
        packet.total_readings = 3;
        assert_eq!(next_start(&packet), None);
        packet.start_index = u16::MAX;
        packet.total_readings = u16::MAX;
        assert_eq!(next_start(&packet), None);
    }

    #[test]
    fn partial_trailing_record_is_trimmed() {
        let mut data = hex(CO2);
        data.push(0x07);
        let packet = decode_v2(&data).unwrap();
        assert_eq!(packet.values.len(), 5);
        assert_eq!(packet.values[4], Some(980.0));
    }

    #[test]
    fn fewer_records_than_count_decode_what_is_there() {
        let data = hex(CO2);
        let packet = decode_v2(&data[..data.len() - 3]).unwrap();
        assert_eq!(packet.count, 5);
        assert_eq!(packet.values, [Some(650.0), Some(700.0), Some(1091.0)]);
    }

    #[test]
    fn records_past_count_are_ignored() {
        let mut data = v2_header(2, 5, 1, 2);
        data.extend([34, 53, 60]);
        let packet = decode_v2(&data).unwrap();
        assert_eq!(packet.values, [Some(34.0), Some(53.0)]);
    }

    #[test]
    fn record_sizes_follow_the_v2_table() {
        let sizes = Parameter::ALL.map(Parameter::record_size);
        assert_eq!(sizes, [2, 1, 2, 2, 2, 2, 3, 3, 8, 4]);
    }

    #[test]
    fn every_parameter_round_trips_through_its_id() {
        for (param, id) in Parameter::ALL.into_iter().zip(1..) {
            assert_eq!(param.id(), id);
            assert_eq!(Parameter::from_id(id), Some(param));
        }
        assert_eq!(Parameter::from_id(0), None);
        assert_eq!(Parameter::from_id(11), None);
    }

    #[test]
    fn aranet2_and_radon_download_tenths_humidity() {
        for kind in [SensorKind::Aranet2, SensorKind::Radon] {
            let params = Parameter::for_kind(kind);
            assert!(params.contains(&Parameter::Humidity2), "{kind}");
            assert!(!params.contains(&Parameter::Humidity), "{kind}");
        }
        let radiation = Parameter::for_kind(SensorKind::Radiation);
        let rate = Parameter::RadiationDoseRate;
        assert_eq!(radiation, [rate, Parameter::RadiationDoseIntegral]);
    }

    #[test]
    fn requests_match_the_python_examples() {
        let co2 = v2_request(Parameter::Co2, 478);
        assert_eq!(co2, [0x61, 0x04, 0xde, 0x01]);
        let temperature = v1_request(Parameter::Temperature, 1, 2016);
        assert_eq!(temperature, [0x82, 0x01, 0, 0, 0x01, 0, 0xe0, 0x07]);
    }

    #[test]
    fn sentinel_records_are_absent() {
        use Parameter::*;
        assert_eq!(Temperature.scale(0x4000 | 415), None);
        assert_eq!(Pressure.scale(0x8000 | 10_185), None);
        assert_eq!(Co2.scale(0x8000), None);
        assert_eq!(RadiationDose.scale(0x8000), None);
        assert_eq!(RadiationDoseRate.scale(0x8000), None);
        assert_eq!(RadiationDoseIntegral.scale(1 << 63), None);
        assert_eq!(RadonConcentration.scale(0x1F00), None);
        assert_eq!(RadonConcentration.scale(0x1EFF), Some(7935.0));
        assert_eq!(Humidity.scale(255), Some(255.0));
        assert_eq!(Humidity.scale(256), None);
    }

    #[test]
    fn third_byte_of_a_dose_rate_record_is_ignored() {
        let mut data = v2_header(8, 1, 1, 1);
        data.extend([0x0b, 0x00, 0xff]);
        let packet = decode_v2(&data).unwrap();
        assert_eq!(packet.values, [Some(110.0)]);
    }

    #[test]
    fn v1_humidity_records_are_one_byte() {
        let packet = decode_v1(&[2, 1, 0, 2, 34, 53]).unwrap();
        assert_eq!(packet.values, [Some(34.0), Some(53.0)]);
    }

    #[test]
    fn v1_packet_starting_past_the_total_ends_the_transfer() {
        let packet = decode_v1(&[1, 5, 0, 1, 0xa5, 0x01]).unwrap();
        assert!(packet.is_end(4));
        assert!(!packet.is_end(5));
    }

    #[test]
    fn record_times_match_the_python_unit_test() {
        let now = "2024-01-01T23:59:30Z".parse::<DateTime<Utc>>().unwrap();
        let times = record_times(now, 20, 300, 13, 1..=13);
        assert_eq!(times.len(), 13);
        assert_eq!(times[0].to_rfc3339(), "2024-01-01T22:59:10+00:00");
        assert_eq!(times[12].to_rfc3339(), "2024-01-01T23:59:10+00:00");
        assert_eq!(times[1] - times[0], TimeDelta::seconds(300));
    }

    #[test]
    fn dose_units_convert_to_the_service_columns() {
        assert!(close(Some(nsv_h_to_usv_h(110.0)), 0.11));
        assert!(close(Some(nsv_to_msv(11_616.0)), 0.011616));
    }
}
