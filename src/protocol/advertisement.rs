//! Decoder for Aranet manufacturer data (company `0x0702`) in advertisements.
//! Aranet4 frames have no type byte; the others open with one:
//! 1 Aranet2, 2 Radiation, 3 Radon.

use super::{
    read_aranet4, read_interval_age, Aranet2Values, Measurement, RadiationValues, RadonRaw, Reader,
    SensorKind, Timing, Version, RADON_ONE_PREFIX,
};

/// Shorter manufacturer data cannot hold the flags and version block.
const MIN_LEN: usize = 5;
/// Flags bit 5: Smart Home integrations are on, so measurements are sent.
const INTEGRATIONS: u8 = 1 << 5;
/// Lengths that identify an Aranet4 when no known name came with the frame.
const ARANET4_LENGTHS: [usize; 2] = [7, 22];
/// Full Aranet4 frame.
const ARANET4_FULL_LEN: usize = 22;
/// Full Aranet2, Radiation and Radon frame (type byte included).
const TYPED_FULL_LEN: usize = 24;
/// Type byte of each kind that has one.
const TYPE_BYTES: [(u8, SensorKind); 3] = [
    (0x01, SensorKind::Aranet2),
    (0x02, SensorKind::Radiation),
    (0x03, SensorKind::Radon),
];

/// One decoded advertisement.
#[derive(Debug, Clone, PartialEq)]
pub struct Advertisement {
    /// Device family.
    pub kind: SensorKind,
    /// Raw flags byte (bit 5: integrations enabled; ARANET.md §1.2).
    pub flags: u8,
    /// Firmware version.
    pub version: Version,
    /// `None` for a valid frame without measurements: integrations off,
    /// old firmware, or a frame shorter than the full layout.
    pub reading: Option<(Measurement, Timing)>,
}

/// Why manufacturer data could not be decoded at all.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AdvertisementError {
    /// Too short for the flags and version block.
    #[error("advertisement too short: {len} bytes, need at least {}", MIN_LEN)]
    TooShort {
        /// Length received.
        len: usize,
    },
    /// Byte 0 is no known type, and the frame is not recognisably an Aranet4.
    #[error("unknown advertisement type byte {0:#04x}, expected 0x01-0x03")]
    UnknownType(u8),
    /// The local name and the type byte name different device families.
    #[error("advertisement is {from_type} by type byte, {from_name} by name")]
    NameMismatch {
        /// Kind told by the local name.
        from_name: SensorKind,
        /// Kind told by the type byte.
        from_type: SensorKind,
    },
}

/// Decodes manufacturer data (without company ID) seen with `local_name`.
pub fn decode(local_name: Option<&str>, data: &[u8]) -> Result<Advertisement, AdvertisementError> {
    let too_short = AdvertisementError::TooShort { len: data.len() };
    if data.len() < MIN_LEN {
        return Err(too_short);
    }
    let kind = detect_kind(local_name, data)?;
    let radon_one = local_name.is_some_and(|n| n.starts_with(RADON_ONE_PREFIX));
    // Cannot fail after the length check; mapped rather than unwrapped anyway.
    read_frame(kind, data, radon_one).ok_or(too_short)
}

/// Aranet4 by name, else by length when no name is known, else by type byte.
fn detect_kind(local_name: Option<&str>, data: &[u8]) -> Result<SensorKind, AdvertisementError> {
    let from_name = local_name.and_then(SensorKind::from_local_name);
    let by_length = from_name.is_none() && ARANET4_LENGTHS.contains(&data.len());
    if from_name == Some(SensorKind::Aranet4) || by_length {
        return Ok(SensorKind::Aranet4);
    }
    let type_byte = data.first().copied().unwrap_or_default();
    let Some(from_type) = kind_of_type(type_byte) else {
        return Err(AdvertisementError::UnknownType(type_byte));
    };
    if let Some(from_name) = from_name.filter(|&kind| kind != from_type) {
        return Err(AdvertisementError::NameMismatch {
            from_name,
            from_type,
        });
    }
    Ok(from_type)
}

fn kind_of_type(type_byte: u8) -> Option<SensorKind> {
    TYPE_BYTES
        .iter()
        .find(|&&(byte, _)| byte == type_byte)
        .map(|&(_, kind)| kind)
}

/// Reads the flags and version block, then the measurements if there are any.
fn read_frame(kind: SensorKind, data: &[u8], radon_one: bool) -> Option<Advertisement> {
    let mut r = Reader::new(data);
    if kind != SensorKind::Aranet4 {
        r.skip(1)?;
    }
    let flags = r.u8()?;
    // Wire order is patch, minor, major.
    let (patch, minor, major) = (r.u8()?, r.u8()?, r.u8()?);
    let version = Version {
        major,
        minor,
        patch,
    };
    let reading = if flags & INTEGRATIONS != 0 && data.len() >= full_len(kind) {
        read_reading(kind, data, radon_one)
    } else {
        None
    };
    Some(Advertisement {
        kind,
        flags,
        version,
        reading,
    })
}

fn full_len(kind: SensorKind) -> usize {
    match kind {
        SensorKind::Aranet4 => ARANET4_FULL_LEN,
        _ => TYPED_FULL_LEN,
    }
}

/// Reads a full frame; all layouts end `interval u16, age u16, counter u8`.
fn read_reading(kind: SensorKind, data: &[u8], radon_one: bool) -> Option<(Measurement, Timing)> {
    let mut r = Reader::new(data);
    let measurement = match kind {
        SensorKind::Aranet4 => aranet4(&mut r)?,
        SensorKind::Aranet2 => aranet2(&mut r)?,
        SensorKind::Radiation => radiation(&mut r)?,
        SensorKind::Radon => radon(&mut r, radon_one)?,
    };
    let timing = read_interval_age(&mut r)?;
    let counter = Some(r.u8()?);
    Some((measurement, Timing { counter, ..timing }))
}

/// Bytes 0-7 flags, version, undocumented; 8-16 the values.
fn aranet4(r: &mut Reader<'_>) -> Option<Measurement> {
    r.skip(8)?;
    read_aranet4(r).map(Measurement::Aranet4)
}

/// Bytes 10-11 temperature, 14-15 humidity, 17 battery, 18 status flags.
fn aranet2(r: &mut Reader<'_>) -> Option<Measurement> {
    r.skip(10)?;
    let temperature = r.u16()?;
    r.skip(2)?;
    let humidity = r.u16()?;
    r.skip(1)?;
    let (battery, flags) = (r.u8()?, r.u8()?);
    let values = Aranet2Values::from_raw(temperature, humidity, battery, flags);
    Some(Measurement::Aranet2(values))
}

/// Bytes 6-9 total dose, 10-13 duration, 14-15 rate (nSv/h, no ×10),
/// 17 battery.
fn radiation(r: &mut Reader<'_>) -> Option<Measurement> {
    r.skip(6)?;
    let (total, duration, rate) = (r.u32()?, r.u32()?, r.u16()?);
    r.skip(1)?;
    let battery_pct = r.u8()?;
    r.skip(1)?; // byte 18 is undocumented, probably a status
    Some(Measurement::Radiation(RadiationValues {
        dose_rate_nsv_h: rate.into(),
        dose_total_nsv: total.into(),
        dose_duration_s: duration.into(),
        battery_pct,
    }))
}

/// Bytes 8-9 radon (u16 here), 10-15 T/P/RH, 17 battery, 18 status.
fn radon(r: &mut Reader<'_>, radon_one: bool) -> Option<Measurement> {
    r.skip(8)?;
    let radon = r.u16()?.into();
    let (temperature, pressure, humidity) = (r.u16()?, r.u16()?, r.u16()?);
    r.skip(1)?;
    let (battery, status) = (r.u8()?, r.u8()?);
    let raw = RadonRaw {
        radon,
        temperature,
        pressure,
        humidity,
        battery,
        status,
    };
    Some(Measurement::Radon(raw.decode(radon_one, None)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::vectors::{self, hex as bytes, Vector};
    use super::*;
    use crate::protocol::{Alert, Aranet2Values, Aranet4Values, RadonValues};
    use serde_json::{json, Map, Value};

    /// Real Radon Plus capture (Aranet4-Python tests) with integrations on.
    const RADON: &str = "03210406010000000700fe01c927ce010064015802f60108";
    /// Real Aranet4 capture (Aranet4-Python tests).
    const ARANET4: &str = "210503010005000143049f018b27350c023c00100055";
    /// Real Aranet2 capture (Aranet4-Python tests).
    const ARANET2: &str = "01210404010000000000990100000a02003b097800520064";

    fn measurement(name: Option<&str>, data: &[u8]) -> Measurement {
        let adv = decode(name, data).unwrap();
        adv.reading.expect("a reading").0
    }

    fn radon(name: &str, data: &[u8]) -> RadonValues {
        match measurement(Some(name), data) {
            Measurement::Radon(values) => values,
            other => panic!("not radon: {other:?}"),
        }
    }

    fn type_byte(kind: SensorKind) -> Option<u8> {
        TYPE_BYTES.iter().find(|(_, k)| *k == kind).map(|&(b, _)| b)
    }

    fn fields(adv: &Advertisement) -> Map<String, Value> {
        let mut fields = vectors::object(json!({
            "manufacturer_data_valid": true,
            "readings_present": adv.reading.is_some(),
            "flags": adv.flags,
            "version": adv.version.to_string(),
            "type_byte": type_byte(adv.kind),
        }));
        if let Some((measurement, timing)) = &adv.reading {
            fields.extend(vectors::fields(measurement, timing));
        }
        fields
    }

    /// A frame that fails to decode is only right where the vector says so.
    fn invalid_fields(v: &Vector, err: &AdvertisementError) -> Map<String, Value> {
        let valid = v.expected.get("manufacturer_data_valid");
        assert_eq!(valid, Some(&json!(false)), "{}: {err}", v.source);
        let fields = json!({
            "manufacturer_data_valid": false,
            "readings_present": false,
        });
        vectors::object(fields)
    }

    fn check_vector(v: &Vector) -> Vec<String> {
        match decode(v.local_name.as_deref(), &v.bytes) {
            Ok(adv) if adv.kind != v.kind => {
                vec![format!("{}: decoded as {}", v.source, adv.kind)]
            }
            Ok(adv) => vectors::compare(v, &v.expected, &fields(&adv)),
            Err(err) => vectors::compare(v, &v.expected, &invalid_fields(v, &err)),
        }
    }

    #[test]
    fn every_advertisement_vector_decodes_as_expected() {
        let all = vectors::load("advertisement");
        let mut problems = Vec::new();
        let mut checked = 0;
        for v in &all {
            problems.extend(check_vector(v));
            checked += 1;
        }
        assert_eq!(checked, all.len(), "an advertisement vector was skipped");
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }

    #[test]
    fn frame_under_5_bytes_is_too_short() {
        let err = decode(Some("Aranet4 12345"), &[1, 0, 2]).unwrap_err();
        assert_eq!(err, AdvertisementError::TooShort { len: 3 });
        let text = "advertisement too short: 3 bytes, need at least 5";
        assert_eq!(err.to_string(), text);
    }

    #[test]
    fn unknown_type_byte_is_an_error() {
        let mut data = bytes(RADON);
        data[0] = 0x09;
        let err = decode(None, &data).unwrap_err();
        assert_eq!(err, AdvertisementError::UnknownType(0x09));
        assert!(err.to_string().contains("0x09"), "{err}");
    }

    #[test]
    fn name_and_type_byte_of_different_kinds_are_an_error() {
        let err = decode(Some("Aranet2 278F8"), &bytes(RADON)).unwrap_err();
        let mismatch = AdvertisementError::NameMismatch {
            from_name: SensorKind::Aranet2,
            from_type: SensorKind::Radon,
        };
        assert_eq!(err, mismatch);
    }

    #[test]
    fn radon_one_name_makes_temperature_and_humidity_absent() {
        let values = radon("AranetRn1 298C9", &bytes(RADON));
        assert_eq!((values.temperature_c, values.humidity_pct), (None, None));
        assert_eq!(values.pressure_hpa, Some(1018.5));
        assert_eq!(values.radon_bq_m3, Some(7));
    }

    #[test]
    fn radon_zero_temperature_and_humidity_words_are_absent() {
        let mut data = bytes(RADON);
        data[10..12].fill(0);
        data[14..16].fill(0);
        let values = radon("AranetRn+ 298C9", &data);
        assert_eq!((values.temperature_c, values.humidity_pct), (None, None));
    }

    #[test]
    fn radon_sentinel_0x1f02_in_an_advertisement_is_absent() {
        let mut data = bytes(RADON);
        data[8..10].copy_from_slice(&0x1F02_u16.to_le_bytes());
        assert_eq!(radon("AranetRn+ 298C9", &data).radon_bq_m3, None);
    }

    #[test]
    fn aranet4_sentinels_and_unknown_colour_are_absent() {
        let mut data = bytes(ARANET4);
        data[8..10].copy_from_slice(&0x8000_u16.to_le_bytes());
        data[10..12].copy_from_slice(&0x4000_u16.to_le_bytes());
        data[12..14].copy_from_slice(&0x8000_u16.to_le_bytes());
        data[16] = 7;
        let Measurement::Aranet4(values) = measurement(None, &data) else {
            panic!("not an Aranet4 reading");
        };
        let absent = Aranet4Values {
            co2_ppm: None,
            temperature_c: None,
            pressure_hpa: None,
            status: None,
            ..values
        };
        assert_eq!(values, absent);
    }

    #[test]
    fn aranet2_status_flags_split_into_humidity_and_temperature_alerts() {
        let mut data = bytes(ARANET2);
        data[18] = 0b1101;
        let Measurement::Aranet2(Aranet2Values {
            humidity_alert,
            temperature_alert,
            ..
        }) = measurement(None, &data)
        else {
            panic!("not an Aranet2 reading");
        };
        assert_eq!(
            (humidity_alert, temperature_alert),
            (Alert::Under, Alert::Dash)
        );
    }

    #[test]
    fn integrations_bit_clear_means_no_reading_even_in_a_full_frame() {
        let mut data = bytes(ARANET4);
        data[0] &= !INTEGRATIONS;
        let adv = decode(Some("Aranet4 12345"), &data).unwrap();
        assert_eq!(adv.reading, None);
        assert_eq!(adv.version.to_string(), "1.3.5");
    }
}
