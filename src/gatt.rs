//! Aranet GATT procedures over a radio [`Link`]: device information, current
//! readings and the V2 history download (ARANET.md §2–4). Decoding is
//! `protocol`'s; this module only sequences reads and writes.
//!
//! Limitations: history needs firmware with the V2 characteristic (`f0cd2005`);
//! older sensors are read live only.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::protocol::current::{self, CurrentReadingError};
use crate::protocol::history::{self, HistoryError, HistoryValue, Parameter};
use crate::protocol::{Measurement, SensorKind, Timing};
use crate::radio::{GattError, Link};

/// A sensor that switches parameters late is read again after this pause
/// (ARANET.md §4.2), at most [`PARAM_SWITCH_TRIES`] times.
const PARAM_SWITCH_PAUSE: Duration = Duration::from_millis(100);
const PARAM_SWITCH_TRIES: u32 = 5;
/// A download started this close to the next measurement would see the
/// indices shift under it (ARANET.md §4.4), so it waits for that measurement.
const MEASUREMENT_MARGIN_SECS: u16 = 10;
/// Progress is logged every this many records.
const PROGRESS_STEP: usize = 500;

/// Aranet characteristics, `f0cdXXXX-95da-4f4b-9ac8-aa55d312af0c`.
pub mod characteristic {
    use uuid::Uuid;

    const fn aranet(short: u16) -> Uuid {
        Uuid::from_u128(0xf0cd_0000_95da_4f4b_9ac8_aa55_d312_af0c | ((short as u128) << 96))
    }

    const fn standard(short: u16) -> Uuid {
        Uuid::from_u128(0x0000_0000_0000_1000_8000_0080_5f9b_34fb | ((short as u128) << 96))
    }

    pub const COMMAND: Uuid = aranet(0x1402);
    pub const ARANET4_BASIC: Uuid = aranet(0x1503);
    pub const CURRENT: Uuid = aranet(0x1504);
    pub const TOTAL_READINGS: Uuid = aranet(0x2001);
    pub const INTERVAL: Uuid = aranet(0x2002);
    pub const SECONDS_SINCE_UPDATE: Uuid = aranet(0x2004);
    pub const HISTORY_V2: Uuid = aranet(0x2005);
    pub const ARANET4_DETAILED: Uuid = aranet(0x3001);
    pub const CURRENT_A: Uuid = aranet(0x3003);
    pub const DEVICE_NAME: Uuid = standard(0x2a00);
    pub const MODEL: Uuid = standard(0x2a24);
    pub const SERIAL: Uuid = standard(0x2a25);
    pub const FIRMWARE: Uuid = standard(0x2a26);
    /// Aranet service on firmware ≥ 1.2.0, and before.
    pub const SERVICE: Uuid = standard(0xfce0);
    pub const SERVICE_OLD: Uuid = aranet(0x1400);
}

use characteristic as ch;

/// Why a procedure failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcedureError {
    #[error(transparent)]
    Gatt(#[from] GattError),
    #[error(transparent)]
    Current(#[from] CurrentReadingError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("{0} bytes where a 16-bit value was expected")]
    Word(usize),
    #[error("cannot tell the sensor's kind from its name")]
    UnknownKind,
    #[error("sensor has no current-readings characteristic")]
    NoCurrentReadings,
    #[error("sensor has no V2 history (firmware too old)")]
    NoHistoryV2,
    #[error("sensor kept sending parameter {sent} when asked for {asked}")]
    ParameterStuck { asked: u8, sent: u8 },
}

/// What the Device Information service says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    pub name: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
}

/// What a history download brought.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// The sensor's logging interval.
    pub interval_s: u16,
    /// Oldest first.
    pub records: Vec<HistoryRecord>,
}

/// One history record: when it was measured and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRecord {
    pub captured_at: DateTime<Utc>,
    pub values: Vec<(Parameter, HistoryValue)>,
}

/// Reads name, model, serial and firmware; a missing one stays `None`.
pub async fn read_info(link: &dyn Link) -> DeviceInfo {
    DeviceInfo {
        name: read_text(link, ch::DEVICE_NAME).await,
        model: read_text(link, ch::MODEL).await,
        serial: read_text(link, ch::SERIAL).await,
        firmware: read_text(link, ch::FIRMWARE).await,
    }
}

async fn read_text(link: &dyn Link, uuid: Uuid) -> Option<String> {
    if !link.has(uuid) {
        return None;
    }
    let bytes = link.read(uuid).await.ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_end_matches('\0').trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Reads the current measurement of a `kind` sensor.
pub async fn read_current(
    link: &dyn Link,
    kind: SensorKind,
) -> Result<(Measurement, Timing), ProcedureError> {
    // Aranet2/Radiation/Radon: `f0cd3003` needs no pairing where `f0cd1504`
    // may (ARANET.md §2); the Aranet4's detailed form carries the timing.
    let candidates = match kind {
        SensorKind::Aranet4 => [ch::ARANET4_DETAILED, ch::ARANET4_BASIC],
        _ => [ch::CURRENT_A, ch::CURRENT],
    };
    let uuid = candidates
        .into_iter()
        .find(|uuid| link.has(*uuid))
        .ok_or(ProcedureError::NoCurrentReadings)?;
    let data = link.read(uuid).await?;
    Ok(current::decode(kind, &data)?)
}

/// Where the sensor's log stands, read just before a download.
#[derive(Debug, Clone, Copy)]
struct LogState {
    interval_s: u16,
    total: u16,
    age_s: u16,
    /// When `age_s` was read.
    read_at: DateTime<Utc>,
}

impl LogState {
    async fn read(link: &dyn Link) -> Result<LogState, ProcedureError> {
        let interval_s = read_word(link, ch::INTERVAL).await?;
        let total = read_word(link, ch::TOTAL_READINGS).await?;
        let age_s = read_word(link, ch::SECONDS_SINCE_UPDATE).await?;
        Ok(LogState {
            interval_s,
            total,
            age_s,
            read_at: Utc::now(),
        })
    }

    fn newest(&self) -> DateTime<Utc> {
        self.read_at - TimeDelta::seconds(i64::from(self.age_s))
    }

    /// First 1-based index logged after `since`.
    fn first_after(&self, since: DateTime<Utc>) -> u16 {
        let gap = (self.newest() - since).num_seconds();
        let interval = i64::from(self.interval_s.max(1));
        // Records newer than `since`: the newest, plus one per whole interval.
        let newer = if gap <= 0 {
            0
        } else {
            (gap - 1) / interval + 1
        };
        let first = i64::from(self.total) - newer + 1;
        u16::try_from(first.max(1)).unwrap_or(u16::MAX)
    }
}

async fn read_word(link: &dyn Link, uuid: Uuid) -> Result<u16, ProcedureError> {
    let data = link.read(uuid).await?;
    match data[..] {
        [low, high, ..] => Ok(u16::from_le_bytes([low, high])),
        _ => Err(ProcedureError::Word(data.len())),
    }
}

/// Downloads the records a `kind` sensor logged after `since`, oldest first,
/// logging progress as `backfill device=… done/total`.
pub async fn download_history(
    link: &dyn Link,
    kind: SensorKind,
    since: DateTime<Utc>,
    device_id: &str,
) -> Result<History, ProcedureError> {
    if !link.has(ch::HISTORY_V2) {
        return Err(ProcedureError::NoHistoryV2);
    }
    let mut log = LogState::read(link).await?;
    let margin = MEASUREMENT_MARGIN_SECS.min(log.interval_s / 4);
    if log.interval_s.saturating_sub(log.age_s) < margin {
        let wait = log.interval_s.saturating_sub(log.age_s) + 2;
        tokio::time::sleep(Duration::from_secs(u64::from(wait))).await;
        log = LogState::read(link).await?;
    }
    let first = log.first_after(since);
    let mut history = History {
        interval_s: log.interval_s,
        records: Vec::new(),
    };
    if log.total == 0 || first > log.total {
        return Ok(history);
    }
    let params = Parameter::for_kind(kind);
    let mut progress = Progress::new(device_id, params.len() * usize::from(log.total - first + 1));
    let mut columns = Vec::with_capacity(params.len());
    for &param in params {
        columns.push((
            param,
            fetch(link, param, first, log.total, &mut progress).await?,
        ));
    }
    progress.finish();
    let times = history::record_times(
        log.read_at,
        log.age_s,
        log.interval_s,
        log.total,
        first..=log.total,
    );
    let records = times
        .into_iter()
        .enumerate()
        .map(|(k, captured_at)| HistoryRecord {
            captured_at,
            values: columns.iter().map(|(p, values)| (*p, values[k])).collect(),
        });
    history.records = records.collect();
    Ok(history)
}

/// Records `first..=last` of one parameter; records the sensor did not send
/// stay `None`.
async fn fetch(
    link: &dyn Link,
    param: Parameter,
    first: u16,
    last: u16,
    progress: &mut Progress<'_>,
) -> Result<Vec<HistoryValue>, ProcedureError> {
    let mut values = vec![None; usize::from(last - first + 1)];
    let mut next = first;
    loop {
        let packet = request_page(link, param, next).await?;
        for (k, value) in packet.values.iter().enumerate() {
            let index = usize::from(packet.start_index) + k;
            if let Some(slot) = index
                .checked_sub(usize::from(first))
                .and_then(|i| values.get_mut(i))
            {
                *slot = *value;
            }
        }
        progress.add(packet.values.len());
        // `next_start` only moves forward, so this loop ends.
        match history::next_start(&packet) {
            Some(start) if start > next && start <= last => next = start,
            _ => return Ok(values),
        }
    }
}

/// Asks for `param` from `start` and reads the page, waiting out a sensor
/// that has not switched to the parameter yet.
async fn request_page(
    link: &dyn Link,
    param: Parameter,
    start: u16,
) -> Result<history::V2Packet, ProcedureError> {
    // Re-written before every read: more robust than one request and many
    // reads (ARANET.md §4.2).
    link.write(ch::COMMAND, &history::v2_request(param, start))
        .await?;
    let mut tries = 0;
    loop {
        let packet = history::decode_v2(&link.read(ch::HISTORY_V2).await?)?;
        if packet.param == param {
            return Ok(packet);
        }
        tries += 1;
        if tries >= PARAM_SWITCH_TRIES {
            let (asked, sent) = (param.id(), packet.param.id());
            return Err(ProcedureError::ParameterStuck { asked, sent });
        }
        tokio::time::sleep(PARAM_SWITCH_PAUSE).await;
    }
}

/// Logs download progress every [`PROGRESS_STEP`] records.
struct Progress<'a> {
    device_id: &'a str,
    done: usize,
    total: usize,
    logged: usize,
}

impl<'a> Progress<'a> {
    fn new(device_id: &'a str, total: usize) -> Self {
        log::info!("backfill device={device_id} 0/{total}");
        Self {
            device_id,
            done: 0,
            total,
            logged: 0,
        }
    }

    fn add(&mut self, records: usize) {
        self.done = (self.done + records).min(self.total);
        if self.done - self.logged >= PROGRESS_STEP {
            self.logged = self.done;
            log::info!(
                "backfill device={} {}/{}",
                self.device_id,
                self.done,
                self.total
            );
        }
    }

    fn finish(&mut self) {
        if self.logged != self.done {
            log::info!(
                "backfill device={} {}/{}",
                self.device_id,
                self.done,
                self.total
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn state(total: u16, age_s: u16) -> LogState {
        LogState {
            interval_s: 300,
            total,
            age_s,
            read_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn characteristic_uuids_are_the_documented_ones() {
        let uuid = ch::HISTORY_V2.to_string();
        assert_eq!(uuid, "f0cd2005-95da-4f4b-9ac8-aa55d312af0c");
        assert_eq!(
            ch::SERVICE.to_string(),
            "0000fce0-0000-1000-8000-00805f9b34fb"
        );
        assert_eq!(
            ch::MODEL.to_string(),
            "00002a24-0000-1000-8000-00805f9b34fb"
        );
    }

    #[test]
    fn download_starts_at_the_first_record_after_the_last_stored_one() {
        let log = state(100, 20);
        let newest = log.newest();
        // The newest record is already stored: nothing to fetch.
        assert_eq!(log.first_after(newest), 101);
        // Stored up to two records ago: the last two are missing.
        assert_eq!(log.first_after(newest - TimeDelta::seconds(600)), 99);
        // Stored a little after a record: that record is not fetched again.
        assert_eq!(log.first_after(newest - TimeDelta::seconds(290)), 100);
        // Stored before the log begins: everything.
        assert_eq!(log.first_after(newest - TimeDelta::days(30)), 1);
    }
}
