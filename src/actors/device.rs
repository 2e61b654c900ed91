//! The device actor: one per sensor; turns advertisement frames into readings.
//!
//! Sensors re-advertise a measurement every few seconds until the next one, so
//! the actor sends a reading on only for a measurement it has not stored yet. A
//! measurement counts as stored only once persistence says so: after a failed
//! write, the next re-advertisement of the same measurement is tried again.

use actix::prelude::*;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

use super::persistence::{Persistence, StoreReading};
use crate::db::models::{NewReading, Reading};
use crate::error::Error;
use crate::protocol::{advertisement, Measurement, Timing};

/// Scanner → device: the sensor's manufacturer data was heard.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AdvertisementHeard {
    pub local_name: Option<String>,
    /// Manufacturer data of company 0x0702, without the id bytes.
    pub data: Vec<u8>,
    pub rssi: Option<i16>,
}

/// Scanner → device: stop after the frames already in the mailbox.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopDevice;

/// Re-advertisements of one measurement differ in `now − age` by rounding of
/// the age.
const AGE_JITTER_SECS: i64 = 2;
/// The counter byte wraps after 256 measurements; within half of that, an equal
/// counter means the same measurement.
const COUNTER_HALF_WRAP: i64 = 128;
/// Assumed measurement interval when a frame carries none.
const DEFAULT_INTERVAL_SECS: i64 = 60;

/// Identifies one measurement of the sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    counter: Option<u8>,
    captured_at: DateTime<Utc>,
    interval_s: Option<u16>,
}

impl Seen {
    /// The measurement a frame with `timing`, heard at `now`, describes.
    pub fn new(timing: Timing, now: DateTime<Utc>) -> Self {
        let age = TimeDelta::seconds(i64::from(timing.age_s.unwrap_or(0)));
        Self {
            counter: timing.counter,
            captured_at: now - age,
            interval_s: timing.interval_s,
        }
    }

    /// A measurement stored before this process started; only its time is
    /// known.
    pub fn stored_at(captured_at: DateTime<Utc>) -> Self {
        Self {
            counter: None,
            captured_at,
            interval_s: None,
        }
    }

    /// True when `other` is a re-advertisement of this measurement.
    pub fn same_measurement(&self, other: &Seen) -> bool {
        let drift = (other.captured_at - self.captured_at).num_seconds().abs();
        match (self.counter, other.counter) {
            (Some(a), Some(b)) => {
                let interval = other.interval_s.map_or(DEFAULT_INTERVAL_SECS, i64::from);
                a == b && drift < COUNTER_HALF_WRAP * interval.max(1)
            }
            // Without counters, only the time tells; within half an interval,
            // so fast-measuring sensors do not lose a measurement.
            _ => match other.interval_s.map(i64::from) {
                Some(interval) => drift <= AGE_JITTER_SECS.min((interval - 1) / 2),
                None => drift <= AGE_JITTER_SECS,
            },
        }
    }
}

/// State of one sensor.
pub struct Device {
    device_id: String,
    persistence: Addr<Persistence>,
    stored: Option<Seen>,
    /// Measurements sent to persistence and not answered yet.
    storing: Vec<Seen>,
    /// The last problem logged, so a sensor repeating it logs once.
    last_problem: Option<String>,
}

impl Device {
    /// A device actor for `device_id`, whose latest stored measurement may be
    /// known.
    pub fn new(device_id: String, persistence: Addr<Persistence>, stored: Option<Seen>) -> Self {
        Self {
            device_id,
            persistence,
            stored,
            storing: Vec::new(),
            last_problem: None,
        }
    }

    fn heard(&mut self, msg: AdvertisementHeard, ctx: &mut Context<Self>) {
        let adv = match advertisement::decode(msg.local_name.as_deref(), &msg.data) {
            Ok(adv) => adv,
            Err(err) => return self.problem(format!("unreadable advertisement: {err}")),
        };
        let Some((measurement, timing)) = adv.reading else {
            let hint = "enable Smart Home integrations in the Aranet Home app";
            let text = format!(
                "sensor sends no measurements version={} ({hint})",
                adv.version
            );
            return self.problem(text);
        };
        self.last_problem = None;
        let seen = Seen::new(timing, Utc::now());
        let mut known = self.stored.iter().chain(&self.storing);
        if known.any(|k| k.same_measurement(&seen)) {
            return;
        }
        log::debug!(
            "new measurement device={} rssi={:?}",
            self.device_id,
            msg.rssi
        );
        self.store(
            new_reading(&self.device_id, &measurement, seen.captured_at),
            seen,
            ctx,
        );
    }

    fn store(&mut self, reading: NewReading, seen: Seen, ctx: &mut Context<Self>) {
        self.storing.push(seen);
        let request = self.persistence.send(StoreReading(reading));
        let done = request.into_actor(self).map(move |result, device, _| {
            device.stored(seen, result.map_err(Error::from).and_then(|r| r));
        });
        ctx.spawn(done);
    }

    fn stored(&mut self, seen: Seen, result: Result<Reading, Error>) {
        self.storing.retain(|s| *s != seen);
        match result {
            Ok(_) => self.stored = Some(seen),
            // Persistence logged the cause; the next re-advertisement retries.
            Err(err) => log::debug!("store failed device={} error={err}", self.device_id),
        }
    }

    fn problem(&mut self, text: String) {
        if self.last_problem.as_deref() != Some(text.as_str()) {
            log::warn!("{text} device={}", self.device_id);
            self.last_problem = Some(text);
        }
    }
}

/// The row for one measurement; fields a sensor kind lacks stay `None`.
pub fn new_reading(device_id: &str, m: &Measurement, captured_at: DateTime<Utc>) -> NewReading {
    let mut row = NewReading {
        device_id: device_id.to_owned(),
        co2: None,
        temperature: None,
        humidity: None,
        pressure: None,
        battery: None,
        status: None,
        captured_at: captured_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        radon: None,
        radiation_rate: None,
        radiation_total: None,
    };
    match m {
        Measurement::Aranet4(v) => {
            row.co2 = v.co2_ppm.map(i32::from);
            row.temperature = v.temperature_c;
            row.humidity = v.humidity_pct.map(f64::from);
            row.pressure = v.pressure_hpa;
            row.battery = Some(i32::from(v.battery_pct));
            row.status = v.status.map(|s| s.as_str().to_owned());
        }
        Measurement::Aranet2(v) => {
            row.temperature = v.temperature_c;
            row.humidity = v.humidity_pct;
            row.battery = Some(i32::from(v.battery_pct));
        }
        Measurement::Radiation(v) => {
            row.radiation_rate = Some(v.dose_rate_usv_h());
            row.radiation_total = Some(v.dose_total_msv());
            row.battery = Some(i32::from(v.battery_pct));
        }
        Measurement::Radon(v) => {
            row.radon = v.radon_bq_m3.and_then(|r| i32::try_from(r).ok());
            row.temperature = v.temperature_c;
            row.humidity = v.humidity_pct;
            row.pressure = v.pressure_hpa;
            row.battery = Some(i32::from(v.battery_pct));
            row.status = v.status.map(|s| s.as_str().to_owned());
        }
    }
    row
}

impl Actor for Device {
    type Context = Context<Self>;
}

impl Handler<AdvertisementHeard> for Device {
    type Result = ();

    fn handle(&mut self, msg: AdvertisementHeard, ctx: &mut Context<Self>) {
        self.heard(msg, ctx);
    }
}

impl Handler<StopDevice> for Device {
    type Result = ();

    fn handle(&mut self, _: StopDevice, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::protocol::advertisement;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn timing(counter: u8, age: u16) -> Timing {
        Timing {
            interval_s: Some(300),
            age_s: Some(age),
            counter: Some(counter),
        }
    }

    #[test]
    fn a_readvertised_measurement_is_the_same_one() {
        let first = Seen::new(timing(7, 10), at(0));
        assert!(first.same_measurement(&Seen::new(timing(7, 14), at(4))));
        assert!(first.same_measurement(&Seen::new(timing(7, 15), at(4))));
        assert!(!first.same_measurement(&Seen::new(timing(8, 0), at(300))));
    }

    #[test]
    fn an_equal_counter_after_a_full_wrap_is_a_new_measurement() {
        let first = Seen::new(timing(7, 0), at(0));
        assert!(!first.same_measurement(&Seen::new(timing(7, 0), at(256 * 300))));
    }

    #[test]
    fn without_counters_a_fast_sensor_measuring_two_seconds_apart_is_new() {
        let stored = Seen::stored_at(at(100));
        let fast = |counter, secs| Seen {
            interval_s: Some(2),
            ..Seen::new(timing(counter, 0), at(secs))
        };
        assert!(!stored.same_measurement(&fast(1, 102)));
        assert!(stored.same_measurement(&fast(1, 100)));
    }

    #[test]
    fn a_measurement_stored_before_a_restart_is_recognised_by_its_time() {
        let stored = Seen::stored_at(at(100));
        assert!(stored.same_measurement(&Seen::new(timing(1, 50), at(151))));
        assert!(!stored.same_measurement(&Seen::new(timing(2, 0), at(400))));
    }

    #[test]
    fn aranet4_frame_becomes_a_row_with_integer_fields_and_colour() {
        let data = [
            0x21, 0x05, 0x03, 0x01, 0x00, 0x05, 0x00, 0x01, 0x43, 0x04, 0x9f, 0x01, 0x8b, 0x27,
            0x35, 0x0c, 0x02, 0x3c, 0x00, 0x10, 0x00, 0x55,
        ];
        let adv = advertisement::decode(Some("Aranet4 12345"), &data).unwrap();
        let (measurement, _) = adv.reading.unwrap();
        let row = new_reading("Aranet4 12345", &measurement, at(0));
        assert_eq!(row.co2, Some(1091));
        assert_eq!(row.temperature, Some(20.75));
        assert_eq!(row.humidity, Some(53.0));
        assert_eq!(row.battery, Some(12));
        assert_eq!(row.status.as_deref(), Some("Yellow"));
        assert_eq!(row.captured_at, "2023-11-14T22:13:20Z");
        assert_eq!((row.radon, row.radiation_rate), (None, None));
    }

    #[test]
    fn radiation_frame_becomes_microsieverts_per_hour_and_millisieverts() {
        let hex = "022126040100d03300006c60060082000063002c01580072";
        let data: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let adv = advertisement::decode(Some("Aranet\u{2622} 27DB3"), &data).unwrap();
        let row = new_reading("r", &adv.reading.unwrap().0, at(0));
        assert!((row.radiation_rate.unwrap() - 0.13).abs() < 1e-12);
        assert!((row.radiation_total.unwrap() - 0.013264).abs() < 1e-12);
        assert_eq!((row.co2, row.status), (None, None));
    }
}
