//! Decoder for GATT current-readings values: Aranet4 `f0cd3001` (13 B) and
//! `f0cd1503` (9 B); `f0cd1504`/`f0cd3003` for Aranet2, Radiation and Radon,
//! which open with a header byte.

use super::{
    read_aranet4, read_interval_age, Aranet2Values, Measurement, RadiationValues, RadonAverage,
    RadonAverages, RadonRaw, Reader, SensorKind, Timing,
};

/// Aranet4 `f0cd3001`: the values plus interval and age.
const ARANET4_DETAILED_LEN: usize = 13;
/// Aranet4 `f0cd1503`: the values only.
const ARANET4_BASIC_LEN: usize = 9;
/// Aranet2 payload.
const ARANET2_LEN: usize = 12;
/// Radiation prefix; longer payloads (48 B on `f0cd3003`) are accepted.
const RADIATION_MIN_LEN: usize = 28;
/// Radon prefix up to the status byte.
const RADON_MIN_LEN: usize = 18;
/// Radon payloads this long also carry the 24 h, 7 d and 30 d averages.
const RADON_AVERAGES_LEN: usize = 47;
/// Average words from here up mean "still accumulating", with progress
/// in the low 24 bits.
const AVERAGE_IN_PROGRESS: u32 = 0xFF00_0000;

/// Why a current-readings payload was rejected.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CurrentReadingError {
    /// The length does not fit the sensor's layout.
    #[error("current reading for {kind} is {len} bytes, expected {expected}")]
    Length {
        /// Sensor the caller read.
        kind: SensorKind,
        /// Length received.
        len: usize,
        /// Lengths the layout allows.
        expected: &'static str,
    },
    /// Header byte 0 names another sensor family.
    #[error("current reading header {found:#04x} is not {kind}'s {expected:#04x}")]
    Header {
        /// Sensor the caller read.
        kind: SensorKind,
        /// Header received.
        found: u8,
        /// Header of `kind`.
        expected: u8,
    },
}

/// Decodes the current-readings value read from a `kind` sensor.
pub fn decode(kind: SensorKind, data: &[u8]) -> Result<(Measurement, Timing), CurrentReadingError> {
    if !length_fits(kind, data.len()) {
        return Err(length_error(kind, data.len()));
    }
    check_header(kind, data)?;
    let decoded = match kind {
        SensorKind::Aranet4 => aranet4(data),
        SensorKind::Aranet2 => aranet2(data),
        SensorKind::Radiation => radiation(data),
        SensorKind::Radon => radon(data),
    };
    // Cannot fail after the length check; mapped rather than unwrapped anyway.
    decoded.ok_or_else(|| length_error(kind, data.len()))
}

fn length_fits(kind: SensorKind, len: usize) -> bool {
    match kind {
        SensorKind::Aranet4 => [ARANET4_BASIC_LEN, ARANET4_DETAILED_LEN].contains(&len),
        SensorKind::Aranet2 => len == ARANET2_LEN,
        SensorKind::Radiation => len >= RADIATION_MIN_LEN,
        SensorKind::Radon => len >= RADON_MIN_LEN,
    }
}

fn length_error(kind: SensorKind, len: usize) -> CurrentReadingError {
    let expected = match kind {
        SensorKind::Aranet4 => "9 or 13",
        SensorKind::Aranet2 => "12",
        SensorKind::Radiation => "at least 28",
        SensorKind::Radon => "at least 18",
    };
    CurrentReadingError::Length {
        kind,
        len,
        expected,
    }
}

/// Byte 0 of the `f0cd1504` family; Aranet4 characteristics have no header.
fn header_byte(kind: SensorKind) -> Option<u8> {
    match kind {
        SensorKind::Aranet4 => None,
        SensorKind::Aranet2 => Some(0x02),
        SensorKind::Radon => Some(0x03),
        SensorKind::Radiation => Some(0x04),
    }
}

/// A zero header is accepted: some readers return one (see the vectors),
/// and the caller knows which sensor it read.
fn check_header(kind: SensorKind, data: &[u8]) -> Result<(), CurrentReadingError> {
    let Some(expected) = header_byte(kind) else {
        return Ok(());
    };
    match data.first() {
        Some(&found) if found != 0 && found != expected => Err(CurrentReadingError::Header {
            kind,
            found,
            expected,
        }),
        _ => Ok(()),
    }
}

/// `co2 temp pressure humidity battery status`, then `interval age`
/// in the detailed form.
fn aranet4(data: &[u8]) -> Option<(Measurement, Timing)> {
    let mut r = Reader::new(data);
    let values = read_aranet4(&mut r)?;
    let timing = if data.len() == ARANET4_DETAILED_LEN {
        read_interval_age(&mut r)?
    } else {
        Timing::default()
    };
    Some((Measurement::Aranet4(values), timing))
}

/// Reads `header u16, interval u16, age u16`, how `f0cd1504` layouts start.
fn read_preamble(r: &mut Reader<'_>) -> Option<Timing> {
    r.skip(2)?;
    read_interval_age(r)
}

/// Preamble, then `battery u8, temp u16, humidity u16, status flags u8`.
fn aranet2(data: &[u8]) -> Option<(Measurement, Timing)> {
    let mut r = Reader::new(data);
    let timing = read_preamble(&mut r)?;
    let battery = r.u8()?;
    let (temperature, humidity, flags) = (r.u16()?, r.u16()?, r.u8()?);
    let values = Aranet2Values::from_raw(temperature, humidity, battery, flags);
    Some((Measurement::Aranet2(values), timing))
}

/// Preamble, then `battery u8, rate u32, total u64, duration u64`;
/// byte 27 is not decoded.
fn radiation(data: &[u8]) -> Option<(Measurement, Timing)> {
    let mut r = Reader::new(data);
    let timing = read_preamble(&mut r)?;
    let battery_pct = r.u8()?;
    let values = RadiationValues {
        dose_rate_nsv_h: r.u32()?,
        dose_total_nsv: r.u64()?,
        dose_duration_s: r.u64()?,
        battery_pct,
    };
    Some((Measurement::Radiation(values), timing))
}

/// Preamble, then `battery u8, temp u16, pressure u16, humidity u16,
/// radon u32, status u8`, then the averages in a long enough payload.
fn radon(data: &[u8]) -> Option<(Measurement, Timing)> {
    let mut r = Reader::new(data);
    let timing = read_preamble(&mut r)?;
    let battery = r.u8()?;
    let (temperature, pressure, humidity) = (r.u16()?, r.u16()?, r.u16()?);
    let (radon, status) = (r.u32()?, r.u8()?);
    let averages = if data.len() >= RADON_AVERAGES_LEN {
        Some(read_averages(&mut r)?)
    } else {
        None
    };
    let raw = RadonRaw {
        radon,
        temperature,
        pressure,
        humidity,
        battery,
        status,
    };
    // There is no name here, so only zero words mark a Radon One.
    Some((Measurement::Radon(raw.decode(false, averages)), timing))
}

fn read_averages(r: &mut Reader<'_>) -> Option<RadonAverages> {
    Some(RadonAverages {
        day: read_average(r)?,
        week: read_average(r)?,
        month: read_average(r)?,
    })
}

/// Reads `time u32, value u32`; values from `0xFF000000` up are progress.
fn read_average(r: &mut Reader<'_>) -> Option<RadonAverage> {
    let (time_raw, value) = (r.u32()?, r.u32()?);
    let in_progress = value >= AVERAGE_IN_PROGRESS;
    Some(RadonAverage {
        time_raw,
        value_bq_m3: (!in_progress).then_some(value),
        progress: in_progress.then_some(value & !AVERAGE_IN_PROGRESS),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::vectors::{self, hex as bytes, Vector};
    use super::*;
    use crate::protocol::RadonValues;
    use serde_json::Value;

    /// Constructed 47-byte radon payload (ARANET.md §3.4); the 30-day
    /// average is still in progress.
    const RADON: &str = concat!(
        "03005802f60164fe01c927ce0107000000",
        "01805101000c000000803a0900090000",
        "00008d2700320000ff0000000000",
    );
    /// Constructed Radiation payload (ARANET.md §3.3).
    const RADIATION: &str = "04002c01fd00646e000000602d000000000000089805000000000000";

    fn radon(data: &[u8]) -> RadonValues {
        match decode(SensorKind::Radon, data).unwrap() {
            (Measurement::Radon(values), _) => values,
            other => panic!("not radon: {other:?}"),
        }
    }

    /// `header_u16` is no decoded field: its low byte must be in the bytes,
    /// and be 0 or the kind's header.
    fn header_problem(v: &Vector, header: &Value) -> Option<String> {
        let low = header.as_u64().expect("header_u16 is an integer") & 0xFF;
        let own = header_byte(v.kind).map(u64::from);
        let accepted = low == 0 || own == Some(low);
        let in_bytes = v.bytes.first().map(|&b| u64::from(b)) == Some(low);
        let problem = format!("{}: header_u16 {header}", v.source);
        (!accepted || !in_bytes).then_some(problem)
    }

    fn check_vector(v: &Vector) -> Vec<String> {
        let mut expected = v.expected.clone();
        let header = expected.remove("header_u16");
        let mut problems: Vec<String> = header
            .and_then(|header| header_problem(v, &header))
            .into_iter()
            .collect();
        match decode(v.kind, &v.bytes) {
            Ok((m, _)) if m.kind() != v.kind => {
                problems.push(format!("{}: decoded as {}", v.source, m.kind()));
            }
            Ok((m, t)) => {
                let actual = vectors::fields(&m, &t);
                problems.extend(vectors::compare(v, &expected, &actual));
            }
            Err(err) => problems.push(format!("{}: {err}", v.source)),
        }
        problems
    }

    #[test]
    fn every_current_reading_vector_decodes_as_expected() {
        let all = vectors::load("current_reading");
        let mut problems = Vec::new();
        let mut checked = 0;
        for v in &all {
            problems.extend(check_vector(v));
            checked += 1;
        }
        assert_eq!(checked, all.len(), "a current_reading vector was skipped");
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }

    #[test]
    fn aranet4_payload_of_12_bytes_is_rejected() {
        let err = decode(SensorKind::Aranet4, &[0; 12]).unwrap_err();
        let text = "current reading for Aranet4 is 12 bytes, expected 9 or 13";
        assert_eq!(err.to_string(), text);
    }

    #[test]
    fn aranet4_basic_payload_has_no_timing() {
        let data = bytes("43049f018b27350c02");
        let (_, timing) = decode(SensorKind::Aranet4, &data).unwrap();
        assert_eq!(timing, Timing::default());
    }

    #[test]
    fn radon_header_on_an_aranet2_read_is_rejected() {
        let mut data = bytes("02003c0001004ff0010c0209");
        data[0] = 0x03;
        let err = decode(SensorKind::Aranet2, &data).unwrap_err();
        let header = CurrentReadingError::Header {
            kind: SensorKind::Aranet2,
            found: 0x03,
            expected: 0x02,
        };
        assert_eq!(err, header);
        let text = "current reading header 0x03 is not Aranet2's 0x02";
        assert_eq!(err.to_string(), text);
    }

    #[test]
    fn radon_sentinel_0x1f02_is_absent() {
        let mut data = bytes(RADON);
        data[13..17].copy_from_slice(&0x1F02_u32.to_le_bytes());
        assert_eq!(radon(&data).radon_bq_m3, None);
        data[13..17].copy_from_slice(&0x1EFF_u32.to_le_bytes());
        assert_eq!(radon(&data).radon_bq_m3, Some(0x1EFF));
    }

    #[test]
    fn radon_payload_under_47_bytes_has_no_averages() {
        let data = bytes(RADON);
        assert!(radon(&data).averages.is_some());
        assert_eq!(radon(&data[..46]).averages, None);
        assert_eq!(radon(&data[..18]).radon_bq_m3, Some(7));
    }

    #[test]
    fn radon_payload_of_17_bytes_is_rejected() {
        let data = bytes(RADON);
        let err = decode(SensorKind::Radon, &data[..17]).unwrap_err();
        let too_short = matches!(err, CurrentReadingError::Length { len: 17, .. });
        assert!(too_short, "{err}");
    }

    #[test]
    fn radon_interval_and_age_come_from_the_preamble() {
        let (_, timing) = decode(SensorKind::Radon, &bytes(RADON)).unwrap();
        assert_eq!((timing.interval_s, timing.age_s), (Some(600), Some(502)));
        assert_eq!(timing.counter, None);
    }

    #[test]
    fn radon_one_zero_words_make_temperature_and_humidity_absent() {
        let mut data = bytes(RADON);
        data[7..9].fill(0);
        data[11..13].fill(0);
        let values = radon(&data);
        assert_eq!((values.temperature_c, values.humidity_pct), (None, None));
        assert_eq!(values.pressure_hpa, Some(1018.5));
    }

    #[test]
    fn radiation_payload_longer_than_28_bytes_is_accepted() {
        let mut data = bytes(RADIATION);
        data.extend_from_slice(&[0xAA; 20]);
        let (m, _) = decode(SensorKind::Radiation, &data).unwrap();
        let Measurement::Radiation(values) = m else {
            panic!("not radiation: {m:?}");
        };
        assert_eq!(values.dose_rate_nsv_h, 110);
        assert!((values.dose_total_msv() - 0.011616).abs() < 1e-9);
    }

    #[test]
    fn radiation_payload_of_27_bytes_is_rejected() {
        let data = bytes(RADIATION);
        assert!(decode(SensorKind::Radiation, &data[..27]).is_err());
    }
}
