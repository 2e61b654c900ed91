//! The device actor: one per sensor; turns its frames into readings.
//!
//! Passive sensors advertise each measurement every few seconds until the
//! next one, so only a measurement not stored yet becomes a reading. Active
//! sensors (advertisements without readings, or `mode = "active"`) are read
//! over GATT just after each measurement, with exponential backoff on
//! failure. A sensor heard again after a gap longer than its interval is
//! backfilled from its own history. A measurement counts as stored only once
//! persistence says so: after a failed write, the next one retries it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};

use super::persistence::{Persistence, StoreHistory, StoreReading, Stored};
use super::registry::{DeviceHeard, SensorStatus};
use super::scanner::DeviceLost;
use crate::db::{self, models::NewReading};
use crate::error::Error;
use crate::gatt::{self, DeviceInfo, History, HistoryRecord, ProcedureError};
use crate::metrics::{BackfillOutcome, Metrics};
use crate::protocol::history::{nsv_h_to_usv_h, nsv_to_msv, Parameter};
use crate::protocol::{advertisement, Measurement, SensorKind, Timing};
use crate::radio::{Gatt, GattError};
use crate::settings::DeviceMode;

/// Scanner → device: the sensor was heard.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AdvertisementHeard {
    pub local_name: Option<String>,
    /// Manufacturer data of company 0x0702 (without the id bytes) from a
    /// fresh advertisement; `None` when the radio only says the sensor is
    /// around.
    pub data: Option<Vec<u8>>,
    pub rssi: Option<i16>,
}

/// Scanner → device: stop after the frames already in the mailbox.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopDevice;

/// In `auto` mode, a sensor whose advertisements brought no reading this long
/// after it was found is read over GATT.
const PASSIVE_GRACE: Duration = Duration::from_secs(15);
/// An active read waits this long past the sensor's next measurement.
const READ_AFTER_MEASUREMENT: Duration = Duration::from_secs(3);
/// Backoff of a sensor whose GATT exchanges fail, doubled per failure.
const BACKOFF_FIRST: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(600);
/// Assumed measurement interval until the sensor tells.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Failed history downloads in a row before a backfill is given up.
const BACKFILL_TRIES: u32 = 5;
/// How often silence is checked.
const SILENCE_CHECK: Duration = Duration::from_secs(1);
/// Silent for this many intervals: stale. For this many: the actor stops
/// (and a new one starts when the sensor is heard again).
pub const STALE_INTERVALS: u32 = 3;
const FORGET_INTERVALS: u32 = 10;
/// A gap between measurements of more than this many intervals means some
/// were missed: backfill from the sensor's history.
const GAP_INTERVALS: f64 = 1.5;

/// Re-advertisements of one measurement differ in `now − age` by rounding of
/// the age.
const AGE_JITTER_SECS: i64 = 2;
/// The counter byte wraps after 256 measurements; within half of that, an equal
/// counter means the same measurement.
const COUNTER_HALF_WRAP: i64 = 128;

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
                let interval = other
                    .interval_s
                    .map_or(DEFAULT_INTERVAL.as_secs() as i64, i64::from);
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

/// Who a device actor is and what it talks to.
pub struct DeviceConfig {
    pub device_id: String,
    pub address: String,
    /// From the name or an advertisement; `None` until known.
    pub kind: Option<SensorKind>,
    pub mode: DeviceMode,
    pub persistence: Addr<Persistence>,
    /// How to connect, when the radio can.
    pub gatt: Option<Arc<dyn Gatt>>,
    /// Told when the actor stops for the sensor's long absence.
    pub lost: Recipient<DeviceLost>,
    /// Told what is known of the sensor whenever it is heard.
    pub registry: Recipient<DeviceHeard>,
    pub metrics: Arc<Metrics>,
    /// The latest measurement stored before this actor started.
    pub stored: Option<Seen>,
}

/// State of one sensor.
pub struct Device {
    config: DeviceConfig,
    stored: Option<Seen>,
    /// Measurements sent to persistence and not answered yet.
    storing: Vec<Seen>,
    /// Read over GATT rather than from advertisements.
    active: bool,
    /// Advertisements have brought readings.
    heard_readings: bool,
    info: Option<DeviceInfo>,
    /// The advertised name, once heard.
    local_name: Option<String>,
    /// From the advertisements.
    firmware: Option<String>,
    rssi: Option<i16>,
    /// Measurement interval, once the sensor said.
    interval: Option<Duration>,
    last_heard: Instant,
    /// `last_heard` on the wall clock, for the API.
    last_seen: DateTime<Utc>,
    stale: bool,
    /// Missed measurements since this time are to be downloaded.
    backfill_since: Option<DateTime<Utc>>,
    /// A GATT exchange is running.
    busy: bool,
    next_job: Option<SpawnHandle>,
    failures: u32,
    /// The last problem logged, so a sensor repeating it logs once.
    last_problem: Option<String>,
}

/// What one GATT connection should do.
#[derive(Debug, Clone)]
struct Job {
    address: String,
    device_id: String,
    kind: Option<SensorKind>,
    info: bool,
    current: bool,
    history_since: Option<DateTime<Utc>>,
}

/// A current reading and when it was read.
type CurrentRead = (Measurement, Timing, DateTime<Utc>);

/// What one GATT connection brought.
#[derive(Debug, Default)]
struct JobDone {
    info: Option<DeviceInfo>,
    kind: Option<SensorKind>,
    current: Option<Result<CurrentRead, ProcedureError>>,
    history: Option<Result<History, ProcedureError>>,
}

impl Device {
    pub fn new(config: DeviceConfig) -> Self {
        Self {
            active: config.mode == DeviceMode::Active,
            heard_readings: false,
            stored: config.stored,
            config,
            storing: Vec::new(),
            info: None,
            local_name: None,
            firmware: None,
            rssi: None,
            interval: None,
            last_heard: Instant::now(),
            last_seen: Utc::now(),
            stale: false,
            backfill_since: None,
            busy: false,
            next_job: None,
            failures: 0,
            last_problem: None,
        }
    }

    fn id(&self) -> &str {
        &self.config.device_id
    }

    fn heard(&mut self, msg: AdvertisementHeard, ctx: &mut Context<Self>) {
        self.rssi = msg.rssi.or(self.rssi);
        if msg.local_name.is_some() {
            self.local_name = msg.local_name.clone();
        }
        self.alive();
        let Some(data) = msg.data else { return };
        let adv = match advertisement::decode(msg.local_name.as_deref(), &data) {
            Ok(adv) => adv,
            Err(err) => return self.problem(format!("unreadable advertisement: {err}")),
        };
        self.config.kind.get_or_insert(adv.kind);
        self.firmware = Some(adv.version.to_string());
        match adv.reading {
            Some((measurement, timing)) if !self.active => {
                self.last_problem = None;
                self.heard_readings = true;
                self.measured(measurement, timing, Utc::now(), ctx);
            }
            Some(_) => {} // read over GATT by configuration
            None => self.no_reading_in_adverts(adv.version, ctx),
        }
    }

    fn no_reading_in_adverts(
        &mut self,
        version: crate::protocol::Version,
        ctx: &mut Context<Self>,
    ) {
        let hint = "enable Smart Home integrations in the Aranet Home app";
        if self.config.mode == DeviceMode::Passive || self.config.gatt.is_none() {
            let text = format!("sensor sends no measurements version={version} ({hint})");
            return self.problem(text);
        }
        if !self.active {
            log::info!(
                "reading over GATT device={} ({hint} to save battery)",
                self.id()
            );
            self.active = true;
            self.schedule(Duration::ZERO, ctx);
        }
    }

    /// A measurement heard or read at `now`.
    fn measured(
        &mut self,
        m: Measurement,
        timing: Timing,
        now: DateTime<Utc>,
        ctx: &mut Context<Self>,
    ) {
        if let Some(secs) = timing.interval_s.filter(|s| *s > 0) {
            self.interval = Some(Duration::from_secs(u64::from(secs)));
        }
        let seen = Seen::new(timing, now);
        let mut known = self.stored.iter().chain(&self.storing);
        if known.any(|k| k.same_measurement(&seen)) {
            return;
        }
        self.check_gap(&seen, ctx);
        log::debug!("new measurement device={} rssi={:?}", self.id(), self.rssi);
        let row = new_reading(self.id(), &m, seen.captured_at);
        self.store(row, seen, ctx);
    }

    /// Asks for a backfill when measurements were missed before `seen`.
    fn check_gap(&mut self, seen: &Seen, ctx: &mut Context<Self>) {
        let (Some(last), Some(interval)) = (self.latest_known(), seen.interval_s) else {
            return;
        };
        let gap = (seen.captured_at - last).num_seconds() as f64;
        if gap > GAP_INTERVALS * f64::from(interval) && self.config.gatt.is_some() {
            log::info!(
                "gap in measurements device={} gap_s={gap} since={last}",
                self.id()
            );
            self.backfill_since = Some(self.backfill_since.map_or(last, |b| b.min(last)));
            self.schedule(Duration::ZERO, ctx);
        }
    }

    fn latest_known(&self) -> Option<DateTime<Utc>> {
        self.stored
            .iter()
            .chain(&self.storing)
            .map(|s| s.captured_at)
            .max()
    }

    fn store(&mut self, reading: NewReading, seen: Seen, ctx: &mut Context<Self>) {
        self.storing.push(seen);
        let request = self.config.persistence.send(StoreReading(reading));
        let done = request.into_actor(self).map(move |result, device, _| {
            device.stored(seen, result.map_err(Error::from));
        });
        ctx.spawn(done);
    }

    /// Committed or queued, the measurement is persistence's to store now.
    fn stored(&mut self, seen: Seen, result: Result<Stored, Error>) {
        self.storing.retain(|s| *s != seen);
        match result {
            Ok(_)
                if self
                    .stored
                    .is_none_or(|s| s.captured_at <= seen.captured_at) =>
            {
                self.stored = Some(seen);
            }
            Ok(_) => {}
            // Persistence is gone (shutting down); the next re-advertisement
            // retries.
            Err(err) => log::debug!("store failed device={} error={err}", self.id()),
        }
    }

    /// Runs the next GATT exchange after `delay`, replacing any planned one.
    fn schedule(&mut self, delay: Duration, ctx: &mut Context<Self>) {
        if let Some(handle) = self.next_job.take() {
            ctx.cancel_future(handle);
        }
        let handle = ctx.run_later(delay, |device, ctx| {
            device.next_job = None;
            device.start_job(ctx);
        });
        self.next_job = Some(handle);
    }

    fn start_job(&mut self, ctx: &mut Context<Self>) {
        let Some(gatt) = self.config.gatt.clone() else {
            return;
        };
        if self.busy {
            return; // the running exchange schedules the next one
        }
        let job = Job {
            address: self.config.address.clone(),
            device_id: self.config.device_id.clone(),
            kind: self.config.kind,
            info: self.active && self.info.is_none(),
            current: self.active,
            history_since: self.backfill_since,
        };
        if !job.current && job.history_since.is_none() {
            return;
        }
        if job.history_since.is_some() {
            self.config.metrics.backfill(BackfillOutcome::Started);
        }
        self.busy = true;
        let exchange = run_job(gatt, job)
            .into_actor(self)
            .map(|result, device, ctx| {
                device.busy = false;
                device.job_done(result, ctx);
                device.report();
            });
        ctx.spawn(exchange);
    }

    fn job_done(&mut self, result: Result<JobDone, GattError>, ctx: &mut Context<Self>) {
        let done = match result {
            Ok(done) => done,
            Err(err) => return self.failed("connect", &err.to_string(), ctx),
        };
        self.note_info(done.info);
        self.config.kind = self.config.kind.or(done.kind);
        let mut next = self.interval.unwrap_or(DEFAULT_INTERVAL);
        match done.current {
            Some(Ok((measurement, timing, read_at))) => {
                self.alive();
                next = self.next_read(timing);
                self.measured(measurement, timing, read_at, ctx);
            }
            Some(Err(err)) => return self.failed("read", &err.to_string(), ctx),
            None => {}
        }
        // A gap found by this very read is backfilled right away.
        let backfill_pending = self.backfill_since.is_some() && done.history.is_none();
        match done.history {
            Some(Ok(history)) => self.store_history(history, ctx),
            Some(Err(err)) => return self.backfill_failed(&err, ctx),
            None => {}
        }
        self.failures = 0;
        if backfill_pending {
            self.schedule(Duration::ZERO, ctx);
        } else if self.active {
            self.schedule(next, ctx);
        }
    }

    fn note_info(&mut self, info: Option<DeviceInfo>) {
        // A read cut short leaves every field empty; read again next time.
        let Some(info) = info.filter(|i| i.model.is_some() || i.serial.is_some()) else {
            return;
        };
        log::info!(
            "sensor info device={} model={} serial={} firmware={}",
            self.id(),
            info.model.as_deref().unwrap_or("?"),
            info.serial.as_deref().unwrap_or("?"),
            info.firmware.as_deref().unwrap_or("?"),
        );
        self.info = Some(info);
    }

    /// Just after the sensor's next measurement.
    fn next_read(&self, timing: Timing) -> Duration {
        let interval = u64::from(timing.interval_s.unwrap_or(60).max(1));
        let age = u64::from(timing.age_s.unwrap_or(0)) % interval;
        Duration::from_secs(interval - age) + READ_AFTER_MEASUREMENT
    }

    fn failed(&mut self, step: &str, error: &str, ctx: &mut Context<Self>) {
        self.failures = self.failures.saturating_add(1);
        let doubling = 2u32.saturating_pow(self.failures - 1);
        let backoff = BACKOFF_FIRST.saturating_mul(doubling).min(BACKOFF_MAX);
        // Up to a fifth more, so sensors failing together do not retry together.
        let jitter = backoff.mul_f64(fastrand::f64() / 5.0);
        log::warn!(
            "{step} failed device={} error={error} failures={} retry_in_s={}",
            self.id(),
            self.failures,
            (backoff + jitter).as_secs()
        );
        self.schedule(backoff + jitter, ctx);
    }

    /// Retried with backoff, but not forever: an unpaired sensor refuses
    /// history every time, and each try costs it battery.
    fn backfill_failed(&mut self, err: &ProcedureError, ctx: &mut Context<Self>) {
        if self.failures + 1 >= BACKFILL_TRIES {
            let hint = "history needs the sensor paired, see the README";
            log::warn!(
                "backfill given up device={} error={err} ({hint})",
                self.id()
            );
            self.config.metrics.backfill(BackfillOutcome::GivenUp);
            self.backfill_since = None;
            self.failures = 0;
            if self.active {
                self.schedule(self.interval.unwrap_or(DEFAULT_INTERVAL), ctx);
            }
            return;
        }
        self.config.metrics.backfill(BackfillOutcome::Failed);
        self.failed("backfill", &err.to_string(), ctx);
    }

    fn store_history(&mut self, history: History, ctx: &mut Context<Self>) {
        let downloaded = history.records.len();
        let rows: Vec<_> = history
            .records
            .iter()
            .filter_map(|r| history_row(self.id(), r))
            .collect();
        // Within half an interval is the same measurement: records are one
        // interval apart, while live and logged times differ by seconds.
        let tolerance = TimeDelta::seconds(i64::from(history.interval_s.max(2) / 2));
        let request = self
            .config
            .persistence
            .send(StoreHistory { rows, tolerance });
        let done = request.into_actor(self).map(move |result, device, ctx| {
            match result.map_err(Error::from).and_then(|r| r) {
                Ok(inserted) => {
                    log::info!(
                        "backfill done device={} downloaded={downloaded} inserted={inserted}",
                        device.id()
                    );
                    device.backfill_since = None;
                    device.config.metrics.backfill(BackfillOutcome::Done);
                }
                Err(err) => {
                    device.config.metrics.backfill(BackfillOutcome::Failed);
                    device.failed("backfill store", &err.to_string(), ctx);
                }
            }
        });
        ctx.spawn(done);
    }

    /// The sensor was heard or read just now.
    fn alive(&mut self) {
        self.last_heard = Instant::now();
        self.last_seen = Utc::now();
        if std::mem::take(&mut self.stale) {
            log::info!("sensor back device={}", self.id());
        }
    }

    fn check_silence(&mut self, ctx: &mut Context<Self>) {
        let interval = self.interval.unwrap_or(DEFAULT_INTERVAL);
        let silent = self.last_heard.elapsed();
        if silent >= interval * FORGET_INTERVALS {
            log::info!(
                "sensor gone device={} silent_s={}",
                self.id(),
                silent.as_secs()
            );
            let stored = self.latest_known();
            let lost = DeviceLost {
                address: self.config.address.clone(),
                device_id: self.config.device_id.clone(),
                stored,
            };
            self.config.lost.do_send(lost);
            ctx.stop();
        } else if silent >= interval * STALE_INTERVALS && !self.stale {
            self.stale = true;
            log::warn!(
                "sensor stale device={} silent_s={}",
                self.id(),
                silent.as_secs()
            );
        }
    }

    /// Tells the registry what is known of the sensor now.
    fn report(&self) {
        let info = self.info.as_ref();
        let from_info =
            |field: fn(&DeviceInfo) -> &Option<String>| info.and_then(|i| field(i).clone());
        let status = SensorStatus {
            device_id: self.config.device_id.clone(),
            address: self.config.address.clone(),
            name: self.local_name.clone().or_else(|| from_info(|i| &i.name)),
            kind: self.config.kind,
            firmware: self.firmware.clone().or_else(|| from_info(|i| &i.firmware)),
            model: from_info(|i| &i.model),
            serial: from_info(|i| &i.serial),
            rssi: self.rssi,
            interval_s: self.interval.map(|i| i.as_secs()),
            active: self.active,
            last_seen: self.last_seen,
        };
        self.config.registry.do_send(DeviceHeard(status));
    }

    fn problem(&mut self, text: String) {
        if self.last_problem.as_deref() != Some(text.as_str()) {
            log::warn!("{text} device={}", self.id());
            self.last_problem = Some(text);
        }
    }
}

/// Connects once and does what `job` asks, disconnecting at the end.
async fn run_job(gatt: Arc<dyn Gatt>, job: Job) -> Result<JobDone, GattError> {
    let link = gatt.connect(&job.address).await?;
    let mut done = JobDone::default();
    if job.info || job.kind.is_none() {
        done.info = Some(gatt::read_info(&*link).await);
    }
    let name = done.info.as_ref().and_then(|i| i.name.as_deref());
    done.kind = job
        .kind
        .or_else(|| name.and_then(SensorKind::from_local_name));
    if let Some(kind) = done.kind {
        if job.current {
            let read = gatt::read_current(&*link, kind).await;
            done.current = Some(read.map(|(m, t)| (m, t, Utc::now())));
        }
        let link_ok = !matches!(done.current, Some(Err(_)));
        if let (Some(since), true) = (job.history_since, link_ok) {
            let history = gatt::download_history(&*link, kind, since, &job.device_id).await;
            done.history = Some(history);
        }
    } else if job.current {
        done.current = Some(Err(ProcedureError::UnknownKind));
    }
    link.disconnect().await;
    Ok(done)
}

/// The row for one measurement; fields a sensor kind lacks stay `None`.
pub fn new_reading(device_id: &str, m: &Measurement, captured_at: DateTime<Utc>) -> NewReading {
    let mut row = empty_row(device_id, captured_at);
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

/// A row with only its device and time set.
fn empty_row(device_id: &str, captured_at: DateTime<Utc>) -> NewReading {
    NewReading {
        device_id: device_id.to_owned(),
        co2: None,
        temperature: None,
        humidity: None,
        pressure: None,
        battery: None,
        status: None,
        captured_at: db::format_time(captured_at),
        radon: None,
        radiation_rate: None,
        radiation_total: None,
    }
}

/// The row for one history record; `None` when every value is missing.
/// History logs no battery or status, so those stay `None`.
pub fn history_row(device_id: &str, record: &HistoryRecord) -> Option<NewReading> {
    let mut row = empty_row(device_id, record.captured_at);
    let mut any = false;
    for &(param, value) in &record.values {
        let Some(v) = value else { continue };
        any = true;
        match param {
            Parameter::Temperature => row.temperature = Some(v),
            Parameter::Humidity | Parameter::Humidity2 => row.humidity = Some(v),
            Parameter::Pressure => row.pressure = Some(v),
            Parameter::Co2 => row.co2 = Some(v as i32),
            Parameter::RadonConcentration => row.radon = i32::try_from(v as i64).ok(),
            Parameter::RadiationDoseRate => row.radiation_rate = Some(nsv_h_to_usv_h(v)),
            Parameter::RadiationDoseIntegral => row.radiation_total = Some(nsv_to_msv(v)),
            Parameter::Pulses | Parameter::RadiationDose => {}
        }
    }
    any.then_some(row)
}

impl Actor for Device {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(SILENCE_CHECK, |device, ctx| device.check_silence(ctx));
        if self.config.gatt.is_none() {
            return;
        }
        match self.config.mode {
            DeviceMode::Active => self.schedule(Duration::ZERO, ctx),
            DeviceMode::Auto => {
                ctx.run_later(PASSIVE_GRACE, |device, ctx| {
                    if !device.active && !device.heard_readings {
                        log::info!("no readings in advertisements device={}", device.id());
                        device.active = true;
                        device.schedule(Duration::ZERO, ctx);
                    }
                });
            }
            DeviceMode::Passive => {}
        }
    }
}

impl Handler<AdvertisementHeard> for Device {
    type Result = ();

    fn handle(&mut self, msg: AdvertisementHeard, ctx: &mut Context<Self>) {
        self.heard(msg, ctx);
        self.report();
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
