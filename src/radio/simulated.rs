//! Simulated sensors: plausible, slowly varying values sent as real Aranet
//! advertisement frames, so everything after the radio runs exactly as with
//! real sensors.
//!
//! Each sensor measures once per interval and advertises twice per interval, as
//! real sensors re-advertise a measurement (with a growing age) until the next
//! one. Names and addresses depend only on the sensor's place in the list, so
//! they survive restarts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{Advertisement, Gatt, Radio, RadioError, RadioEvent};
use crate::protocol::{SensorKind, MANUFACTURER_ID};
use crate::settings::{SimulatedKind, SimulatorSettings};

/// Flags byte: bit0 "disconnected" (set in every real capture), bit5
/// integrations on.
const FLAGS: u8 = 0b0010_0001;
/// Firmware 1.4.19 as patch, minor, major.
const VERSION: [u8; 3] = [19, 4, 1];
/// Battery percent lost per this many measurements.
const MEASUREMENTS_PER_BATTERY_PERCENT: u32 = 500;

/// The simulated backend.
pub struct SimulatedRadio {
    settings: SimulatorSettings,
}

impl SimulatedRadio {
    /// A radio with one simulated sensor per entry of `settings.sensors`.
    pub fn new(settings: SimulatorSettings) -> Self {
        Self { settings }
    }
}

impl Radio for SimulatedRadio {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn start(
        self: Box<Self>,
        events: mpsc::Sender<RadioEvent>,
    ) -> Result<Option<Arc<dyn Gatt>>, RadioError> {
        let interval = self.settings.interval;
        let sensors = self.settings.sensors.iter().enumerate();
        let sensors = sensors
            .map(|(i, kind)| Sensor::new(*kind, i, interval))
            .collect();
        actix_rt::spawn(advertise(sensors, interval, events));
        // Simulated sensors advertise their readings; nothing to connect to.
        Ok(None)
    }
}

async fn advertise(mut sensors: Vec<Sensor>, interval: Duration, events: mpsc::Sender<RadioEvent>) {
    let up = RadioEvent::Up {
        adapter: "simulated".into(),
    };
    if events.send(up).await.is_err() {
        return;
    }
    let mut ticks = tokio::time::interval(interval / 2);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // The scheduled instant, not `Instant::now()`: a measurement falls due
        // on exactly every second tick instead of missing it by microseconds.
        let now = ticks.tick().await.into_std();
        for sensor in &mut sensors {
            let event = RadioEvent::AdvertisementReceived(sensor.advertisement(now));
            if events.send(event).await.is_err() {
                return; // the scanner is gone
            }
        }
    }
}

/// One simulated sensor: identity, current values and measurement bookkeeping.
struct Sensor {
    kind: SimulatedKind,
    name: String,
    address: String,
    interval: Duration,
    measured_at: Option<Instant>,
    counter: u8,
    measurements: u32,
    values: Values,
    rng: fastrand::Rng,
}

/// Current values in the sensors' raw units.
#[derive(Debug, Clone, Copy)]
struct Values {
    co2_ppm: f64,
    temperature_c: f64,
    humidity_pct: f64,
    pressure_hpa: f64,
    radon_bq_m3: f64,
    dose_rate_nsv_h: f64,
    dose_total_nsv: f64,
    dose_duration_s: f64,
    battery_pct: u8,
}

impl Sensor {
    fn new(kind: SimulatedKind, index: usize, interval: Duration) -> Self {
        let mut identity = fastrand::Rng::with_seed(0xA7A4E7 + index as u64);
        let mut rng = fastrand::Rng::new();
        let serial = identity.u32(0x10000..0xFFFFF);
        Self {
            kind,
            name: format!("{} {serial:05X}", sensor_kind(kind).name_prefix()),
            address: format!("02:5A:00:00:{:02X}:{:02X}", index / 256, index % 256),
            interval,
            measured_at: None,
            counter: rng.u8(..),
            measurements: 0,
            values: Values::initial(&mut rng),
            rng,
        }
    }

    /// The frame the sensor sends at `now`, measuring first when an interval
    /// has passed.
    fn advertisement(&mut self, now: Instant) -> Advertisement {
        let due = self.measured_at.is_none_or(|at| now - at >= self.interval);
        if due {
            self.measure(now);
        }
        let age = self.measured_at.map_or(0, |at| (now - at).as_secs());
        let frame = self.frame(u16::try_from(age).unwrap_or(u16::MAX));
        Advertisement {
            address: self.address.clone(),
            local_name: Some(self.name.clone()),
            rssi: Some(-60 - i16::from(self.rng.u8(..20))),
            manufacturer_data: HashMap::from([(MANUFACTURER_ID, frame)]),
            services: Vec::new(),
        }
    }

    fn measure(&mut self, now: Instant) {
        if self.measured_at.is_some() {
            self.counter = self.counter.wrapping_add(1);
            self.values.drift(&mut self.rng, self.interval);
        }
        self.measurements += 1;
        if self
            .measurements
            .is_multiple_of(MEASUREMENTS_PER_BATTERY_PERCENT)
        {
            self.values.battery_pct = self.values.battery_pct.saturating_sub(1).max(1);
        }
        self.measured_at = Some(now);
    }

    fn frame(&self, age_s: u16) -> Vec<u8> {
        let interval_s = u16::try_from(self.interval.as_secs().max(1)).unwrap_or(u16::MAX);
        let timing = Timing {
            interval_s,
            age_s,
            counter: self.counter,
        };
        match self.kind {
            SimulatedKind::Aranet4 => aranet4_frame(&self.values, timing),
            SimulatedKind::Aranet2 => aranet2_frame(&self.values, timing),
            SimulatedKind::Radiation => radiation_frame(&self.values, timing),
            SimulatedKind::Radon => radon_frame(&self.values, timing),
        }
    }
}

/// The real sensor kind a simulated one imitates.
fn sensor_kind(kind: SimulatedKind) -> SensorKind {
    match kind {
        SimulatedKind::Aranet4 => SensorKind::Aranet4,
        SimulatedKind::Aranet2 => SensorKind::Aranet2,
        SimulatedKind::Radiation => SensorKind::Radiation,
        SimulatedKind::Radon => SensorKind::Radon,
    }
}

impl Values {
    fn initial(rng: &mut fastrand::Rng) -> Self {
        Self {
            co2_ppm: 550.0 + f64::from(rng.u16(0..300)),
            temperature_c: 20.0 + rng.f64() * 3.0,
            humidity_pct: 40.0 + rng.f64() * 15.0,
            pressure_hpa: 1005.0 + rng.f64() * 15.0,
            radon_bq_m3: 30.0 + f64::from(rng.u8(0..40)),
            dose_rate_nsv_h: 90.0 + f64::from(rng.u8(0..40)),
            dose_total_nsv: 10_000.0,
            dose_duration_s: 360_000.0,
            battery_pct: 70 + rng.u8(0..30),
        }
    }

    /// One measurement's worth of slow random drift, kept within plausible
    /// indoor ranges.
    fn drift(&mut self, rng: &mut fastrand::Rng, interval: Duration) {
        let mut step = |value: f64, size: f64, low: f64, high: f64| {
            (value + (rng.f64() * 2.0 - 1.0) * size).clamp(low, high)
        };
        self.co2_ppm = step(self.co2_ppm, 25.0, 400.0, 2500.0);
        self.temperature_c = step(self.temperature_c, 0.1, 15.0, 30.0);
        self.humidity_pct = step(self.humidity_pct, 0.5, 20.0, 80.0);
        self.pressure_hpa = step(self.pressure_hpa, 0.3, 960.0, 1050.0);
        self.radon_bq_m3 = step(self.radon_bq_m3, 4.0, 5.0, 600.0);
        self.dose_rate_nsv_h = step(self.dose_rate_nsv_h, 6.0, 60.0, 200.0);
        let seconds = interval.as_secs_f64();
        self.dose_total_nsv += self.dose_rate_nsv_h * seconds / 3600.0;
        self.dose_duration_s += seconds;
    }
}

/// Measurement bookkeeping at the end of every frame.
#[derive(Debug, Clone, Copy)]
struct Timing {
    interval_s: u16,
    age_s: u16,
    counter: u8,
}

/// Little-endian frame builder.
struct Frame(Vec<u8>);

impl Frame {
    fn u8(mut self, value: u8) -> Self {
        self.0.push(value);
        self
    }
    fn u16(mut self, value: f64) -> Self {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // saturating
        self.0
            .extend_from_slice(&(value.round() as u16).to_le_bytes());
        self
    }
    fn u32(mut self, value: f64) -> Self {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // saturating
        self.0
            .extend_from_slice(&(value.round() as u32).to_le_bytes());
        self
    }
    fn zeros(mut self, count: usize) -> Self {
        self.0.resize(self.0.len() + count, 0);
        self
    }
    fn timing(self, t: Timing) -> Vec<u8> {
        let frame = self.u16(f64::from(t.interval_s)).u16(f64::from(t.age_s));
        frame.u8(t.counter).0
    }
}

fn header(type_byte: Option<u8>) -> Frame {
    let frame = Frame(type_byte.into_iter().collect());
    frame.u8(FLAGS).u8(VERSION[0]).u8(VERSION[1]).u8(VERSION[2])
}

/// Aranet4's colour bands (device defaults): green below 1000 ppm, red above
/// 1400.
fn co2_status(co2_ppm: f64) -> u8 {
    match co2_ppm {
        c if c < 1000.0 => 1,
        c if c <= 1400.0 => 2,
        _ => 3,
    }
}

/// The simulator's own radon bands; Aranet does not document the device's.
fn radon_status(radon_bq_m3: f64) -> u8 {
    match radon_bq_m3 {
        r if r < 150.0 => 1,
        r if r < 300.0 => 2,
        _ => 3,
    }
}

fn aranet4_frame(v: &Values, timing: Timing) -> Vec<u8> {
    let frame = header(None).zeros(3).u8(1).u16(v.co2_ppm);
    let frame = frame.u16(v.temperature_c * 20.0).u16(v.pressure_hpa * 10.0);
    let frame = frame
        .u8(v.humidity_pct.round().clamp(0.0, 100.0) as u8)
        .u8(v.battery_pct);
    frame.u8(co2_status(v.co2_ppm)).timing(timing)
}

fn aranet2_frame(v: &Values, timing: Timing) -> Vec<u8> {
    let frame = header(Some(1))
        .zeros(5)
        .u16(v.temperature_c * 20.0)
        .zeros(2);
    let frame = frame.u16(v.humidity_pct * 10.0).zeros(1).u8(v.battery_pct);
    frame.u8(0).timing(timing) // no temperature or humidity alert
}

fn radiation_frame(v: &Values, timing: Timing) -> Vec<u8> {
    let frame = header(Some(2))
        .zeros(1)
        .u32(v.dose_total_nsv)
        .u32(v.dose_duration_s);
    let frame = frame.u16(v.dose_rate_nsv_h).zeros(1).u8(v.battery_pct);
    frame.zeros(1).timing(timing)
}

fn radon_frame(v: &Values, timing: Timing) -> Vec<u8> {
    let frame = header(Some(3)).zeros(3).u16(v.radon_bq_m3);
    let frame = frame.u16(v.temperature_c * 20.0).u16(v.pressure_hpa * 10.0);
    let frame = frame.u16(v.humidity_pct * 10.0).zeros(1).u8(v.battery_pct);
    frame.u8(radon_status(v.radon_bq_m3)).timing(timing)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::protocol::{advertisement, Measurement, SensorKind};

    const KINDS: [SimulatedKind; 4] = [
        SimulatedKind::Aranet4,
        SimulatedKind::Aranet2,
        SimulatedKind::Radiation,
        SimulatedKind::Radon,
    ];

    fn decode(sensor: &mut Sensor, now: Instant) -> advertisement::Advertisement {
        let adv = sensor.advertisement(now);
        let data = &adv.manufacturer_data[&MANUFACTURER_ID];
        advertisement::decode(adv.local_name.as_deref(), data).unwrap()
    }

    #[test]
    fn every_simulated_kind_sends_a_frame_the_real_decoder_reads() {
        let expected = [
            SensorKind::Aranet4,
            SensorKind::Aranet2,
            SensorKind::Radiation,
            SensorKind::Radon,
        ];
        for (i, kind) in KINDS.into_iter().enumerate() {
            let mut sensor = Sensor::new(kind, i, Duration::from_secs(60));
            let adv = decode(&mut sensor, Instant::now());
            assert_eq!(adv.kind, expected[i]);
            assert_eq!(SensorKind::from_local_name(&sensor.name), Some(expected[i]));
            let (measurement, timing) = adv.reading.unwrap();
            assert_eq!(timing.interval_s, Some(60));
            assert_eq!(timing.counter, Some(sensor.counter));
            if let Measurement::Aranet4(values) = measurement {
                assert!(values.co2_ppm.unwrap() >= 400);
                assert!(values.status.is_some());
            }
        }
    }

    #[test]
    fn a_measurement_is_readvertised_with_growing_age_until_the_next_one() {
        let start = Instant::now();
        let mut sensor = Sensor::new(SimulatedKind::Aranet4, 0, Duration::from_secs(10));
        let first = decode(&mut sensor, start).reading.unwrap().1;
        let again = decode(&mut sensor, start + Duration::from_secs(5))
            .reading
            .unwrap()
            .1;
        let next = decode(&mut sensor, start + Duration::from_secs(10))
            .reading
            .unwrap()
            .1;
        assert_eq!(first.counter, again.counter);
        assert_eq!((first.age_s, again.age_s), (Some(0), Some(5)));
        assert_eq!(next.counter, first.counter.map(|c| c.wrapping_add(1)));
        assert_eq!(next.age_s, Some(0));
    }

    #[test]
    fn names_and_addresses_depend_only_on_the_position_in_the_list() {
        let a = Sensor::new(SimulatedKind::Radon, 3, Duration::from_secs(1));
        let b = Sensor::new(SimulatedKind::Radon, 3, Duration::from_secs(1));
        assert_eq!((a.name.clone(), a.address.clone()), (b.name, b.address));
        assert!(a.name.starts_with("AranetRn+ "));
        assert_eq!(a.name.len(), "AranetRn+ 12345".len());
    }
}
