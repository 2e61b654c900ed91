//! Row and insert structs of the `readings` table; the row is also the
//! payload's `reading`.

use diesel::prelude::*;
use serde::{Serialize, Serializer};

use super::schema::readings;

/// A reading about to be stored; the database assigns its id.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = readings)]
pub struct NewReading {
    pub device_id: String,
    pub co2: Option<i32>,
    pub temperature: Option<f64>,
    pub humidity: Option<f64>,
    pub pressure: Option<f64>,
    pub battery: Option<i32>,
    pub status: Option<String>,
    pub captured_at: String,
    pub radon: Option<i32>,
    pub radiation_rate: Option<f64>,
    pub radiation_total: Option<f64>,
}

/// A stored reading, serialized exactly as the WebSocket API's `reading`
/// object.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Serialize)]
#[diesel(table_name = readings)]
pub struct Reading {
    pub id: i32,
    pub device_id: String,
    pub co2: Option<i32>,
    pub temperature: Option<f64>,
    /// Whole percent (Aranet4) is sent as a JSON integer, so typed clients can
    /// use `u8`.
    #[serde(serialize_with = "integral_as_integer")]
    pub humidity: Option<f64>,
    pub pressure: Option<f64>,
    pub battery: Option<i32>,
    pub status: Option<String>,
    pub captured_at: String,
    pub radon: Option<i32>,
    pub radiation_rate: Option<f64>,
    pub radiation_total: Option<f64>,
}

/// Largest magnitude below which every integer is exact in an `f64`.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

fn integral_as_integer<S: Serializer>(value: &Option<f64>, out: S) -> Result<S::Ok, S::Error> {
    match *value {
        #[allow(clippy::cast_possible_truncation)] // guarded: integral and within range
        Some(v) if v.fract() == 0.0 && v.abs() < EXACT_INTEGER_LIMIT => out.serialize_i64(v as i64),
        Some(v) => out.serialize_f64(v),
        None => out.serialize_none(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn whole_humidity_is_a_json_integer_and_fractional_stays_a_float() {
        let mut reading = Reading {
            id: 1,
            device_id: "Aranet4 1A2B3".into(),
            co2: Some(800),
            temperature: Some(22.5),
            humidity: Some(45.0),
            pressure: Some(1013.2),
            battery: Some(85),
            status: Some("Green".into()),
            captured_at: "2024-01-15T10:30:00Z".into(),
            radon: None,
            radiation_rate: None,
            radiation_total: None,
        };
        let json = serde_json::to_value(&reading).unwrap();
        assert!(json["humidity"].is_u64());
        reading.humidity = Some(52.2);
        let json = serde_json::to_value(&reading).unwrap();
        assert_eq!(json["humidity"].as_f64(), Some(52.2));
    }
}
