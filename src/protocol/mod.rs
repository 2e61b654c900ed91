//! Pure decoders for Aranet BLE advertisements, GATT current readings and
//! history downloads, per `shared/protocol/ARANET.md`. Limitations: sub-zero
//! temperatures are not decoded (no source shows their encoding).

pub mod advertisement;
pub mod current;
pub mod history;

use std::fmt;

/// Company ID of SAF Tehnika, the key of Aranet manufacturer data.
pub const MANUFACTURER_ID: u16 = 0x0702;

/// Local-name prefix of the Radon One, which has no T/RH sensor.
pub const RADON_ONE_PREFIX: &str = "AranetRn1";

/// Temperature words with this bit set are invalid.
const TEMPERATURE_INVALID: u16 = 1 << 14;
/// CO₂, pressure and tenth-% humidity words with this bit set are invalid.
const WORD_INVALID: u16 = 1 << 15;
/// Radon values from here up are error codes: `0x1F00` error, `0x1F01` no
/// data, `0x1F02` high humidity in the chamber.
const RADON_ERROR_MIN: u32 = 0x1F00;

/// Local-name prefixes; Radon Plus and Radon One share one layout.
const NAME_PREFIXES: [(&str, SensorKind); 5] = [
    ("Aranet4", SensorKind::Aranet4),
    ("Aranet2", SensorKind::Aranet2),
    ("Aranet\u{2622}", SensorKind::Radiation),
    ("AranetRn+", SensorKind::Radon),
    (RADON_ONE_PREFIX, SensorKind::Radon),
];

/// Aranet device family; each has its own payload layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SensorKind {
    /// Aranet4: CO₂, temperature, pressure and humidity.
    Aranet4,
    /// Aranet2: temperature and humidity.
    Aranet2,
    /// Aranet Radiation: gamma dose rate and accumulated dose.
    Radiation,
    /// Aranet Radon Plus and Radon One.
    Radon,
}

impl SensorKind {
    /// Start of the advertised local name (Radon One: [`RADON_ONE_PREFIX`]).
    pub fn name_prefix(self) -> &'static str {
        match self {
            SensorKind::Aranet4 => "Aranet4",
            SensorKind::Aranet2 => "Aranet2",
            SensorKind::Radiation => "Aranet\u{2622}",
            SensorKind::Radon => "AranetRn+",
        }
    }

    /// The kind's name in the API and settings (`aranet4`, `aranet_radon`).
    pub fn api_name(self) -> &'static str {
        match self {
            SensorKind::Aranet4 => "aranet4",
            SensorKind::Aranet2 => "aranet2",
            SensorKind::Radiation => "aranet_radiation",
            SensorKind::Radon => "aranet_radon",
        }
    }

    /// Recognises a local name such as `Aranet4 1A2B3`; `None` for others.
    pub fn from_local_name(name: &str) -> Option<SensorKind> {
        NAME_PREFIXES
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix))
            .map(|&(_, kind)| kind)
    }
}

impl fmt::Display for SensorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SensorKind::Aranet4 => "Aranet4",
            SensorKind::Aranet2 => "Aranet2",
            SensorKind::Radiation => "Aranet Radiation",
            SensorKind::Radon => "Aranet Radon",
        })
    }
}

/// Colour the device itself gives its main reading (CO₂ or radon).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The sensor reports an error.
    Error,
    /// Good.
    Green,
    /// Elevated.
    Yellow,
    /// High.
    Red,
}

impl Status {
    /// Maps the raw colour byte; bytes above 3 have no known meaning.
    pub fn from_raw(raw: u8) -> Option<Status> {
        match raw {
            0 => Some(Status::Error),
            1 => Some(Status::Green),
            2 => Some(Status::Yellow),
            3 => Some(Status::Red),
            _ => None,
        }
    }

    /// Name of the colour, as used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Error => "Error",
            Status::Green => "Green",
            Status::Yellow => "Yellow",
            Status::Red => "Red",
        }
    }
}

/// Aranet2 alert state of one quantity, two bits of its status flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// No alert.
    Off,
    /// Below the lower threshold.
    Under,
    /// Above the upper threshold.
    Over,
    /// The display shows a dash.
    Dash,
}

impl Alert {
    /// Decodes the two low bits of `bits`; higher bits are ignored.
    pub fn from_bits(bits: u8) -> Alert {
        match bits & 0b11 {
            0 => Alert::Off,
            1 => Alert::Under,
            2 => Alert::Over,
            _ => Alert::Dash,
        }
    }

    /// Name of the state, as used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Alert::Off => "Off",
            Alert::Under => "Under",
            Alert::Over => "Over",
            Alert::Dash => "Dash",
        }
    }
}

/// Firmware version from the advertisement's basic block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major number.
    pub major: u8,
    /// Minor number.
    pub minor: u8,
    /// Patch number.
    pub patch: u8,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Measurement bookkeeping carried beside the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// Measurement interval in seconds.
    pub interval_s: Option<u16>,
    /// Seconds since the last measurement.
    pub age_s: Option<u16>,
    /// Advertisement counter, bumped per new measurement; not in GATT.
    pub counter: Option<u8>,
}

/// One decoded measurement; `None` = absent or sentinel/invalid.
#[derive(Debug, Clone, PartialEq)]
pub enum Measurement {
    /// From an Aranet4.
    Aranet4(Aranet4Values),
    /// From an Aranet2.
    Aranet2(Aranet2Values),
    /// From an Aranet Radiation.
    Radiation(RadiationValues),
    /// From an Aranet Radon Plus or Radon One.
    Radon(RadonValues),
}

impl Measurement {
    /// The device family the values came from.
    pub fn kind(&self) -> SensorKind {
        match self {
            Measurement::Aranet4(_) => SensorKind::Aranet4,
            Measurement::Aranet2(_) => SensorKind::Aranet2,
            Measurement::Radiation(_) => SensorKind::Radiation,
            Measurement::Radon(_) => SensorKind::Radon,
        }
    }
}

/// Aranet4 values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aranet4Values {
    /// CO₂ in ppm; `None` while calibrating (bit 15 set).
    pub co2_ppm: Option<u16>,
    /// Temperature in °C, exact raw/20.
    pub temperature_c: Option<f64>,
    /// Pressure in hPa, exact raw/10.
    pub pressure_hpa: Option<f64>,
    /// Relative humidity in whole percent.
    pub humidity_pct: Option<u8>,
    /// Battery charge in percent.
    pub battery_pct: u8,
    /// CO₂ colour computed by the device.
    pub status: Option<Status>,
}

/// Aranet2 values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aranet2Values {
    /// Temperature in °C, exact raw/20.
    pub temperature_c: Option<f64>,
    /// Relative humidity in percent, exact raw/10.
    pub humidity_pct: Option<f64>,
    /// Battery charge in percent.
    pub battery_pct: u8,
    /// Temperature alert (status flag bits 3:2).
    pub temperature_alert: Alert,
    /// Humidity alert (status flag bits 1:0).
    pub humidity_alert: Alert,
}

impl Aranet2Values {
    /// Applies scaling and sentinels to the raw words of either layout.
    fn from_raw(temperature: u16, humidity: u16, battery: u8, flags: u8) -> Self {
        Aranet2Values {
            temperature_c: temperature_c(temperature),
            humidity_pct: tenths(humidity),
            battery_pct: battery,
            temperature_alert: Alert::from_bits(flags >> 2),
            humidity_alert: Alert::from_bits(flags),
        }
    }
}

/// Aranet Radiation values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RadiationValues {
    /// Dose rate in nSv/h.
    pub dose_rate_nsv_h: u32,
    /// Accumulated dose in nSv.
    pub dose_total_nsv: u64,
    /// Time over which the dose accumulated, in seconds.
    pub dose_duration_s: u64,
    /// Battery charge in percent.
    pub battery_pct: u8,
}

impl RadiationValues {
    /// Dose rate in µSv/h.
    pub fn dose_rate_usv_h(&self) -> f64 {
        f64::from(self.dose_rate_nsv_h) / 1_000.0
    }

    /// Accumulated dose in mSv.
    pub fn dose_total_msv(&self) -> f64 {
        self.dose_total_nsv as f64 / 1_000_000.0
    }
}

/// Aranet Radon Plus / Radon One values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RadonValues {
    /// Radon concentration in Bq/m³; `None` for the `0x1F00..` error codes.
    pub radon_bq_m3: Option<u32>,
    /// Temperature in °C, exact raw/20; `None` on a Radon One.
    pub temperature_c: Option<f64>,
    /// Pressure in hPa, exact raw/10.
    pub pressure_hpa: Option<f64>,
    /// Relative humidity in percent, exact raw/10; `None` on a Radon One.
    pub humidity_pct: Option<f64>,
    /// Battery charge in percent.
    pub battery_pct: u8,
    /// Radon colour computed by the device.
    pub status: Option<Status>,
    /// Long-term averages; only the full GATT payload carries them.
    pub averages: Option<RadonAverages>,
}

/// The three radon averages of the full GATT payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RadonAverages {
    /// 24-hour average.
    pub day: RadonAverage,
    /// 7-day average.
    pub week: RadonAverage,
    /// 30-day average.
    pub month: RadonAverage,
}

/// One radon average.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RadonAverage {
    /// Undocumented time word, passed through as is.
    pub time_raw: u32,
    /// Average in Bq/m³; `None` while still accumulating.
    pub value_bq_m3: Option<u32>,
    /// Some(low 24 bits of the value word) while still accumulating.
    pub progress: Option<u32>,
}

/// Radon words as read from either layout, before sentinels are applied.
struct RadonRaw {
    radon: u32,
    temperature: u16,
    pressure: u16,
    humidity: u16,
    battery: u8,
    status: u8,
}

impl RadonRaw {
    /// Applies scaling and sentinels; on a Radon One (`radon_one`, or a
    /// zero word) temperature and humidity are absent.
    fn decode(self, radon_one: bool, averages: Option<RadonAverages>) -> RadonValues {
        let climate = |raw: u16| (!radon_one && raw != 0).then_some(raw);
        RadonValues {
            radon_bq_m3: (self.radon < RADON_ERROR_MIN).then_some(self.radon),
            temperature_c: climate(self.temperature).and_then(temperature_c),
            pressure_hpa: tenths(self.pressure),
            humidity_pct: climate(self.humidity).and_then(tenths),
            battery_pct: self.battery,
            status: Status::from_raw(self.status),
            averages,
        }
    }
}

/// Temperature word: raw/20 °C unless bit 14 flags it invalid.
fn temperature_c(raw: u16) -> Option<f64> {
    (raw & TEMPERATURE_INVALID == 0).then(|| f64::from(raw) / 20.0)
}

/// Pressure or humidity word in tenths: raw/10 unless bit 15 flags it invalid.
fn tenths(raw: u16) -> Option<f64> {
    (raw & WORD_INVALID == 0).then(|| f64::from(raw) / 10.0)
}

/// Reads CO₂, temperature, pressure, humidity, battery and status, the
/// order both Aranet4 layouts share (fields are evaluated as written).
fn read_aranet4(r: &mut Reader<'_>) -> Option<Aranet4Values> {
    Some(Aranet4Values {
        co2_ppm: Some(r.u16()?).filter(|raw| raw & WORD_INVALID == 0),
        temperature_c: temperature_c(r.u16()?),
        pressure_hpa: tenths(r.u16()?),
        humidity_pct: Some(r.u8()?),
        battery_pct: r.u8()?,
        status: Status::from_raw(r.u8()?),
    })
}

/// Reads the `interval u16, age u16` pair every layout carries.
fn read_interval_age(r: &mut Reader<'_>) -> Option<Timing> {
    Some(Timing {
        interval_s: Some(r.u16()?),
        age_s: Some(r.u16()?),
        counter: None,
    })
}

/// Little-endian cursor over a payload; reads past the end are `None`.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { rest: data }
    }

    fn skip(&mut self, len: usize) -> Option<()> {
        self.rest = self.rest.get(len..)?;
        Some(())
    }

    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(*head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take().map(|[byte]: [u8; 1]| byte)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod vectors {
    //! Loads `shared/protocol/vectors.json`; compares decoded fields with
    //! each vector's `expected` object.

    use super::{Measurement, RadonAverage, RadonAverages, RadonValues};
    use super::{SensorKind, Status, Timing};
    use serde_json::{json, Map, Value};

    const PATH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/protocol/vectors.json"
    );
    /// Float tolerance when comparing decoded values.
    const TOLERANCE: f64 = 1e-9;
    const COLOURS: [&str; 4] = ["Error", "Green", "Yellow", "Red"];
    const ALERTS: [&str; 4] = ["Off", "Under", "Over", "Dash"];

    /// One vector of the kind under test.
    pub(super) struct Vector {
        pub(super) source: String,
        pub(super) kind: SensorKind,
        pub(super) local_name: Option<String>,
        pub(super) bytes: Vec<u8>,
        /// `packets_hex` of a multi-packet history vector, else `[bytes]`.
        pub(super) packets: Vec<Vec<u8>>,
        pub(super) expected: Map<String, Value>,
    }

    /// Every vector whose `kind` is `vector_kind`; panics if there is none.
    pub(super) fn load(vector_kind: &str) -> Vec<Vector> {
        let text = std::fs::read_to_string(PATH).expect("read vectors.json");
        let all: Vec<Value> = serde_json::from_str(&text).expect("parse");
        let vectors: Vec<Vector> = all
            .iter()
            .filter(|v| v["kind"] == vector_kind)
            .map(parse)
            .collect();
        assert!(!vectors.is_empty(), "no {vector_kind} vectors in {PATH}");
        vectors
    }

    fn parse(v: &Value) -> Vector {
        let text = |key: &str| v[key].as_str().map(str::to_owned);
        let bytes = hex(&text("hex").expect("hex"));
        Vector {
            source: text("source").expect("source"),
            kind: sensor_kind(&text("device_type").expect("device_type")),
            local_name: text("local_name"),
            packets: packets(v, &bytes),
            bytes,
            expected: v["expected"].as_object().expect("expected").clone(),
        }
    }

    fn packets(v: &Value, bytes: &[u8]) -> Vec<Vec<u8>> {
        let Some(list) = v.get("packets_hex") else {
            return vec![bytes.to_vec()];
        };
        let list = list.as_array().expect("packets_hex is an array");
        let packet = |p: &Value| hex(p.as_str().expect("packet is hex"));
        list.iter().map(packet).collect()
    }

    fn sensor_kind(device_type: &str) -> SensorKind {
        match device_type {
            "Aranet4" => SensorKind::Aranet4,
            "Aranet2" => SensorKind::Aranet2,
            "AranetRadiation" => SensorKind::Radiation,
            "AranetRadon" => SensorKind::Radon,
            other => panic!("unknown device_type {other}"),
        }
    }

    /// Bytes of a hex string such as `"0a1b"`.
    pub(super) fn hex(text: &str) -> Vec<u8> {
        assert!(text.len().is_multiple_of(2), "odd hex length: {text}");
        let byte = |i: usize| u8::from_str_radix(&text[i..i + 2], 16);
        (0..text.len())
            .step_by(2)
            .map(|i| byte(i).unwrap())
            .collect()
    }

    /// Unwraps a JSON object built by `json!`.
    pub(super) fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    /// Decoded measurement and timing under the key names `expected` uses.
    pub(super) fn fields(m: &Measurement, t: &Timing) -> Map<String, Value> {
        let mut map = object(measurement_json(m));
        map.extend(object(json!({
            "interval_s": t.interval_s,
            "age_s": t.age_s,
            "counter": t.counter,
        })));
        map
    }

    fn measurement_json(m: &Measurement) -> Value {
        match m {
            Measurement::Aranet4(v) => json!({
                "co2_ppm": v.co2_ppm,
                "temperature_c": v.temperature_c,
                "pressure_hpa": v.pressure_hpa,
                "humidity_pct": v.humidity_pct,
                "battery_pct": v.battery_pct,
                "status": v.status.map(Status::as_str),
            }),
            Measurement::Aranet2(v) => json!({
                "temperature_c": v.temperature_c,
                "humidity_pct": v.humidity_pct,
                "battery_pct": v.battery_pct,
                "status_temperature": v.temperature_alert.as_str(),
                "status_humidity": v.humidity_alert.as_str(),
            }),
            Measurement::Radiation(v) => json!({
                "dose_rate_nsv_h": v.dose_rate_nsv_h,
                "dose_rate_usv_h": v.dose_rate_usv_h(),
                "dose_total_nsv": v.dose_total_nsv,
                "dose_total_msv": v.dose_total_msv(),
                "dose_duration_s": v.dose_duration_s,
                "battery_pct": v.battery_pct,
            }),
            Measurement::Radon(v) => radon_json(v),
        }
    }

    fn radon_json(v: &RadonValues) -> Value {
        let avg = |pick: fn(&RadonAverages) -> &RadonAverage| {
            let average = v.averages.as_ref().map(pick);
            average.map_or(Value::Null, average_json)
        };
        json!({
            "radon_bq_m3": v.radon_bq_m3,
            "temperature_c": v.temperature_c,
            "pressure_hpa": v.pressure_hpa,
            "humidity_pct": v.humidity_pct,
            "battery_pct": v.battery_pct,
            "status": v.status.map(Status::as_str),
            "avg_24h": avg(|a| &a.day),
            "avg_7d": avg(|a| &a.week),
            "avg_30d": avg(|a| &a.month),
        })
    }

    fn average_json(a: &RadonAverage) -> Value {
        json!({
            "time_raw": a.time_raw,
            "value_bq_m3": a.value_bq_m3,
            "in_progress": a.progress.is_some(),
            "progress_raw": a.progress,
        })
    }

    /// What one `expected` key asks of a decoded field.
    enum Want {
        Is(Value),
        NotNull,
    }

    /// Checks every key of `expected` against `actual`, one line per
    /// problem. A key naming no decoded field is a problem too, so a new
    /// key cannot pass unseen.
    pub(super) fn compare(
        v: &Vector,
        expected: &Map<String, Value>,
        actual: &Map<String, Value>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, value) in expected {
            for (field, want) in wants(v, key, value) {
                if let Some(problem) = check(actual, field, &want) {
                    problems.push(format!("{}: `{key}`: {problem}", v.source));
                }
            }
        }
        problems
    }

    fn check(actual: &Map<String, Value>, field: &str, want: &Want) -> Option<String> {
        let Some(got) = actual.get(field) else {
            return Some(format!("unrecognised: no decoded field `{field}`"));
        };
        match want {
            Want::Is(value) if !same(value, got) => {
                Some(format!("`{field}` is {got}, want {value}"))
            }
            Want::NotNull if got.is_null() => Some(format!("`{field}` is null")),
            _ => None,
        }
    }

    /// Translates raw-word and flag keys into the fields they constrain;
    /// any other key must name a decoded field itself.
    fn wants<'k>(v: &Vector, key: &'k str, value: &Value) -> Vec<(&'k str, Want)> {
        let raw = || value.as_u64().expect("raw key holds an integer");
        let is = |field: &'k str, want: Value| vec![(field, Want::Is(want))];
        let aranet4 = v.kind == SensorKind::Aranet4;
        let radon = v.kind == SensorKind::Radon;
        match key {
            "temperature_raw" => is("temperature_c", climate(v, raw(), 14, 20.0)),
            "humidity_raw" if aranet4 => is("humidity_pct", value.clone()),
            "humidity_raw" => is("humidity_pct", climate(v, raw(), 15, 10.0)),
            "pressure_raw" => is("pressure_hpa", scaled(raw(), 15, 10.0)),
            "co2_raw" => is("co2_ppm", unless(raw() >> 15 != 0, raw())),
            "radon_raw" => is("radon_bq_m3", unless(raw() >= 0x1F00, raw())),
            "co2_invalid" if value == &json!(false) => {
                vec![("co2_ppm", Want::NotNull)]
            }
            "co2_invalid" => is("co2_ppm", Value::Null),
            "radon_error" => is("radon_bq_m3", Value::Null),
            "status_raw" | "status_flags_raw" => status(v, key, raw()),
            // Radon GATT words that no source explains: not decoded.
            "initial_progress_raw" | "display_type_raw" if radon => vec![],
            _ => is(key, value.clone()),
        }
    }

    fn status<'k>(v: &Vector, key: &'k str, raw: u64) -> Vec<(&'k str, Want)> {
        match key {
            // The radiation status byte has no known meaning: not decoded.
            "status_raw" if v.kind == SensorKind::Radiation => vec![],
            "status_raw" => vec![("status", Want::Is(named(&COLOURS, raw)))],
            _ => vec![
                ("status_humidity", Want::Is(named(&ALERTS, raw & 3))),
                ("status_temperature", Want::Is(named(&ALERTS, raw >> 2 & 3))),
            ],
        }
    }

    /// Temperature or humidity word; a Radon One (by name, or a zero word)
    /// has none.
    fn climate(v: &Vector, raw: u64, invalid_bit: u32, divisor: f64) -> Value {
        let name = v.local_name.as_deref().unwrap_or_default();
        let radon_one = raw == 0 || name.starts_with("AranetRn1");
        if v.kind == SensorKind::Radon && radon_one {
            return Value::Null;
        }
        scaled(raw, invalid_bit, divisor)
    }

    fn scaled(raw: u64, invalid_bit: u32, divisor: f64) -> Value {
        unless(raw >> invalid_bit & 1 != 0, raw as f64 / divisor)
    }

    fn unless(invalid: bool, value: impl Into<Value>) -> Value {
        if invalid {
            Value::Null
        } else {
            value.into()
        }
    }

    fn named(names: &[&str], raw: u64) -> Value {
        let name = usize::try_from(raw).ok().and_then(|i| names.get(i));
        name.map_or(Value::Null, |name| json!(name))
    }

    /// Equality, within `TOLERANCE` for non-integers; arrays match element
    /// by element, objects key by key, so a sub-key the decoder lacks fails.
    pub(super) fn same(want: &Value, got: &Value) -> bool {
        match (want, got) {
            (Value::Number(w), Value::Number(g)) => match (w.as_u64(), g.as_u64()) {
                (Some(w), Some(g)) => w == g,
                _ => (w.as_f64().unwrap() - g.as_f64().unwrap()).abs() <= TOLERANCE,
            },
            (Value::Array(w), Value::Array(g)) => {
                w.len() == g.len() && w.iter().zip(g).all(|(w, g)| same(w, g))
            }
            (Value::Object(w), Value::Object(g)) => w
                .iter()
                .all(|(key, w)| g.get(key).is_some_and(|g| same(w, g))),
            _ => want == got,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_map_to_their_sensor_kind() {
        let cases = [
            ("Aranet4 1A2B3", Some(SensorKind::Aranet4)),
            ("Aranet2 278F8", Some(SensorKind::Aranet2)),
            ("Aranet\u{2622} 27DB3", Some(SensorKind::Radiation)),
            ("AranetRn+ 298C9", Some(SensorKind::Radon)),
            ("AranetRn1 298C9", Some(SensorKind::Radon)),
            ("Aranet 5", None),
            ("", None),
        ];
        for (name, kind) in cases {
            assert_eq!(SensorKind::from_local_name(name), kind, "{name}");
        }
    }

    #[test]
    fn every_name_prefix_is_recognised_as_its_own_kind() {
        for kind in [
            SensorKind::Aranet4,
            SensorKind::Aranet2,
            SensorKind::Radiation,
            SensorKind::Radon,
        ] {
            assert_eq!(SensorKind::from_local_name(kind.name_prefix()), Some(kind));
        }
    }

    #[test]
    fn status_bytes_above_3_have_no_colour() {
        assert_eq!(Status::from_raw(3), Some(Status::Red));
        assert_eq!(Status::from_raw(4), None);
        assert_eq!(Status::from_raw(0xFF), None);
    }

    #[test]
    fn version_displays_as_major_minor_patch() {
        let version = Version {
            major: 1,
            minor: 3,
            patch: 5,
        };
        assert_eq!(version.to_string(), "1.3.5");
    }

    #[test]
    fn temperature_with_bit_14_set_is_absent() {
        assert_eq!(temperature_c(0x4000 | 415), None);
        assert_eq!(temperature_c(415), Some(20.75));
    }

    #[test]
    fn reader_returns_none_past_the_end() {
        let mut r = Reader::new(&[0x34, 0x12, 0x56]);
        assert_eq!(r.u16(), Some(0x1234));
        assert_eq!(r.u16(), None);
        assert_eq!(r.u8(), Some(0x56));
        assert_eq!(r.skip(1), None);
    }
}
