//! The registry actor: latest reading and status of every device, the
//! subscribed sessions, and fan-out.
//!
//! Each stored reading is serialized and framed once, then pushed into every
//! matching session's bounded outbox. Subscribing copies the snapshot into the
//! outbox and joins the live stream in one handler call, so no reading falls
//! between the two or arrives twice. A resuming session (`?since=`) replays
//! from the database instead and joins with [`JoinLive`] once it has caught
//! up with what was published. The REST API reads devices and the
//! snapshot from here too, so both APIs tell the same story.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix::prelude::*;
use actix_http::ws::CloseCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::device::{DEFAULT_INTERVAL, STALE_INTERVALS};
use crate::db::{self, models::Reading};
use crate::fanout::{text_frame, Outbox, Pushed};
use crate::protocol::SensorKind;

/// Sensors without readings remembered at most.
const MAX_SENSORS: usize = 1000;

/// Persistence → registry: a reading was committed; send it to every
/// subscriber.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ReadingStored(pub Reading);

/// Device → registry: the sensor was heard or read; what is known of it now.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DeviceHeard(pub SensorStatus);

/// Session → registry: deliver the snapshot, then live readings, into `outbox`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub outbox: Arc<Outbox>,
    /// Only these devices, or every device when `None`.
    pub devices: Option<HashSet<String>>,
    /// The session replays from the database: no snapshot, and no live
    /// readings until it sends [`JoinLive`].
    pub replaying: bool,
}

/// Session → registry: the replay has delivered every stored reading up to
/// id `after`; deliver live readings after it. Answers `false` when readings
/// after `after` were published meanwhile: the replay fetches those first and
/// asks again.
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub struct JoinLive {
    pub session: u64,
    pub after: i32,
}

/// Session → registry: stop delivering to this session.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub session: u64,
}

/// Shutdown → registry: close every session with 1001 once its queued frames
/// are out; returns their outboxes so the caller can wait for that.
#[derive(Debug, Message)]
#[rtype(result = "Vec<Arc<Outbox>>")]
pub struct CloseAll;

/// Anyone → registry: how many sessions are subscribed.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct CountSessions;

/// REST → registry: every known device, by id.
#[derive(Debug, Message)]
#[rtype(result = "Vec<DeviceView>")]
pub struct ListDevices;

/// REST → registry: one device, if known.
#[derive(Debug, Message)]
#[rtype(result = "Option<DeviceView>")]
pub struct GetDevice(pub String);

/// REST → registry: the snapshot a new WebSocket session would get, oldest
/// first.
#[derive(Debug, Message)]
#[rtype(result = "Vec<Reading>")]
pub struct LatestReadings {
    /// Only these devices, or every device when `None`.
    pub devices: Option<HashSet<String>>,
}

/// The WebSocket message for one reading: `{"device_id": …, "reading": {…}}`.
#[derive(Debug, Serialize)]
pub struct ReadingEvent<'a> {
    pub device_id: &'a str,
    pub reading: &'a Reading,
}

/// What a device actor knows of its sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorStatus {
    pub device_id: String,
    pub address: String,
    /// The advertised local name.
    pub name: Option<String>,
    pub kind: Option<SensorKind>,
    pub firmware: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub rssi: Option<i16>,
    /// Measurement interval, once the sensor said.
    pub interval_s: Option<u64>,
    /// Read over GATT rather than from advertisements.
    pub active: bool,
    pub last_seen: DateTime<Utc>,
}

/// One device as the REST API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceView {
    pub id: String,
    pub name: Option<String>,
    pub kind: Option<&'static str>,
    pub address: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    pub rssi: Option<i16>,
    pub battery: Option<i32>,
    /// `"passive"` or `"active"`; `None` until heard since the start.
    pub mode: Option<&'static str>,
    pub interval_s: Option<u64>,
    /// When the sensor was last heard, else when its latest reading was taken.
    pub last_seen: Option<String>,
    /// Silent for more than [`STALE_INTERVALS`] measurement intervals.
    pub stale: bool,
    pub latest: Option<Reading>,
}

/// A device's latest reading, ready to send.
#[derive(Debug, Clone)]
struct Latest {
    reading: Reading,
    frame: Bytes,
}

#[derive(Debug)]
struct Subscriber {
    outbox: Arc<Outbox>,
    devices: Option<HashSet<String>>,
    /// Still replaying: live readings are in the database for the replay.
    replaying: bool,
    /// Readings up to this id were delivered by a replay.
    after: i32,
}

impl Subscriber {
    fn wants(&self, reading: &Reading) -> bool {
        let device = &reading.device_id;
        !self.replaying
            && reading.id > self.after
            && self.devices.as_ref().is_none_or(|set| set.contains(device))
    }
}

/// Latest reading and status per device, and the sessions to fan out to.
#[derive(Debug, Default)]
pub struct Registry {
    latest: HashMap<String, Latest>,
    sensors: HashMap<String, SensorStatus>,
    sessions: HashMap<u64, Subscriber>,
    /// Id of the newest reading published; ids grow in commit order.
    last_published: i32,
    /// Set by `CloseAll`: later subscribers get the snapshot, then a 1001
    /// close.
    closing: bool,
}

impl Registry {
    /// A registry whose snapshot starts from the stored `latest` readings.
    pub fn new(latest: Vec<Reading>) -> Self {
        let mut registry = Self::default();
        for reading in latest {
            registry.last_published = registry.last_published.max(reading.id);
            registry.remember(reading);
        }
        registry
    }

    /// Keeps `reading` as its device's latest; returns its frame.
    fn remember(&mut self, reading: Reading) -> Bytes {
        let frame = reading_frame(&reading);
        let device_id = reading.device_id.clone();
        let latest = Latest {
            reading,
            frame: frame.clone(),
        };
        self.latest.insert(device_id, latest);
        frame
    }

    fn publish(&mut self, reading: Reading) {
        log::debug!(
            "reading stored device={} id={}",
            reading.device_id,
            reading.id
        );
        self.last_published = self.last_published.max(reading.id);
        let wanting: Vec<_> = self
            .sessions
            .iter()
            .filter(|(_, subscriber)| subscriber.wants(&reading))
            .map(|(id, _)| *id)
            .collect();
        let frame = self.remember(reading);
        for id in wanting {
            let pushed = self.sessions.get(&id).map(|s| s.outbox.push(frame.clone()));
            if pushed == Some(Pushed::Gone) {
                self.sessions.remove(&id);
            }
        }
    }

    /// The latest readings `devices` asks for, oldest first.
    fn snapshot(&self, devices: Option<&HashSet<String>>) -> Vec<&Latest> {
        let mut snapshot: Vec<_> = self
            .latest
            .iter()
            .filter(|(device, _)| devices.is_none_or(|set| set.contains(*device)))
            .map(|(_, latest)| latest)
            .collect();
        snapshot.sort_by_key(|latest| latest.reading.id);
        snapshot
    }

    fn subscribe(&mut self, subscriber: Subscriber) {
        if !subscriber.replaying {
            for latest in self.snapshot(subscriber.devices.as_ref()) {
                subscriber.outbox.push(latest.frame.clone());
            }
        }
        if self.closing {
            subscriber.outbox.close(CloseCode::Away.into(), true);
        } else {
            self.sessions
                .insert(subscriber.outbox.session(), subscriber);
        }
    }

    fn join_live(&mut self, msg: &JoinLive) -> bool {
        let Some(subscriber) = self.sessions.get_mut(&msg.session) else {
            return true; // gone: nothing left to replay for
        };
        if msg.after < self.last_published {
            return false;
        }
        subscriber.replaying = false;
        // Readings up to `after` may still be on their way here: the replay
        // has them already.
        subscriber.after = msg.after;
        true
    }

    fn close_all(&mut self) -> Vec<Arc<Outbox>> {
        self.closing = true;
        let outboxes: Vec<_> = self.sessions.drain().map(|(_, s)| s.outbox).collect();
        for outbox in &outboxes {
            outbox.close(CloseCode::Away.into(), true);
        }
        outboxes
    }

    /// Keeps what a device actor reports. Anything can advertise Aranet's
    /// company id: past [`MAX_SENSORS`], the longest-silent sensor that never
    /// gave a reading is forgotten.
    fn heard(&mut self, status: SensorStatus) {
        self.sensors.insert(status.device_id.clone(), status);
        if self.sensors.len() <= MAX_SENSORS {
            return;
        }
        let silent = self
            .sensors
            .values()
            .filter(|s| !self.latest.contains_key(&s.device_id))
            .min_by_key(|s| s.last_seen)
            .map(|s| s.device_id.clone());
        if let Some(id) = silent {
            self.sensors.remove(&id);
        }
    }

    fn device_ids(&self) -> Vec<&String> {
        let mut ids: Vec<_> = self.latest.keys().chain(self.sensors.keys()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    fn device(&self, id: &str, now: DateTime<Utc>) -> Option<DeviceView> {
        let status = self.sensors.get(id);
        let latest = self.latest.get(id).map(|l| &l.reading);
        if status.is_none() && latest.is_none() {
            return None;
        }
        let last_seen = status
            .map(|s| s.last_seen)
            .or_else(|| latest.and_then(|r| parse_time(&r.captured_at)));
        let interval_s = status.and_then(|s| s.interval_s);
        let interval = interval_s.unwrap_or(DEFAULT_INTERVAL.as_secs());
        let stale_after_ms = interval.saturating_mul(1000 * u64::from(STALE_INTERVALS));
        let stale_after_ms = i64::try_from(stale_after_ms).unwrap_or(i64::MAX);
        let stale = last_seen.is_none_or(|seen| (now - seen).num_milliseconds() >= stale_after_ms);
        let kind = status
            .and_then(|s| s.kind)
            .or_else(|| SensorKind::from_local_name(id))
            .or_else(|| latest.and_then(kind_of_reading));
        Some(DeviceView {
            id: id.to_owned(),
            name: status.and_then(|s| s.name.clone()),
            kind: kind.map(SensorKind::api_name),
            address: status.map(|s| s.address.clone()),
            model: status.and_then(|s| s.model.clone()),
            serial: status.and_then(|s| s.serial.clone()),
            firmware: status.and_then(|s| s.firmware.clone()),
            rssi: status.and_then(|s| s.rssi),
            battery: latest.and_then(|r| r.battery),
            mode: status.map(|s| if s.active { "active" } else { "passive" }),
            interval_s,
            last_seen: last_seen.map(db::format_time),
            stale,
            latest: latest.cloned(),
        })
    }

    fn devices(&self) -> Vec<DeviceView> {
        let now = Utc::now();
        let ids = self.device_ids();
        ids.into_iter()
            .filter_map(|id| self.device(id, now))
            .collect()
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
}

/// A stored reading's kind, told by the values only that kind measures.
fn kind_of_reading(reading: &Reading) -> Option<SensorKind> {
    if reading.co2.is_some() {
        Some(SensorKind::Aranet4)
    } else if reading.radon.is_some() {
        Some(SensorKind::Radon)
    } else if reading.radiation_rate.is_some() || reading.radiation_total.is_some() {
        Some(SensorKind::Radiation)
    } else if reading.temperature.is_some() && reading.pressure.is_none() {
        Some(SensorKind::Aranet2)
    } else {
        None
    }
}

/// The WebSocket frame of one reading, as every session gets it.
pub fn reading_frame(reading: &Reading) -> Bytes {
    let event = ReadingEvent {
        device_id: &reading.device_id,
        reading,
    };
    // Serializing plain strings and numbers cannot fail; an empty object is a
    // safe fallback.
    let json = serde_json::to_vec(&event).unwrap_or_else(|_| b"{}".to_vec());
    text_frame(&json)
}

impl Actor for Registry {
    type Context = Context<Self>;
}

impl Handler<ReadingStored> for Registry {
    type Result = ();

    fn handle(&mut self, msg: ReadingStored, _: &mut Context<Self>) {
        self.publish(msg.0);
    }
}

impl Handler<DeviceHeard> for Registry {
    type Result = ();

    fn handle(&mut self, msg: DeviceHeard, _: &mut Context<Self>) {
        self.heard(msg.0);
    }
}

impl Handler<ListDevices> for Registry {
    type Result = MessageResult<ListDevices>;

    fn handle(&mut self, _: ListDevices, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.devices())
    }
}

impl Handler<GetDevice> for Registry {
    type Result = Option<DeviceView>;

    fn handle(&mut self, msg: GetDevice, _: &mut Context<Self>) -> Self::Result {
        self.device(&msg.0, Utc::now())
    }
}

impl Handler<LatestReadings> for Registry {
    type Result = MessageResult<LatestReadings>;

    fn handle(&mut self, msg: LatestReadings, _: &mut Context<Self>) -> Self::Result {
        let snapshot = self.snapshot(msg.devices.as_ref());
        MessageResult(snapshot.into_iter().map(|l| l.reading.clone()).collect())
    }
}

impl Handler<Subscribe> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        self.subscribe(Subscriber {
            outbox: msg.outbox,
            devices: msg.devices,
            replaying: msg.replaying,
            after: 0,
        });
    }
}

impl Handler<JoinLive> for Registry {
    type Result = bool;

    fn handle(&mut self, msg: JoinLive, _: &mut Context<Self>) -> bool {
        self.join_live(&msg)
    }
}

impl Handler<Unsubscribe> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        self.sessions.remove(&msg.session);
    }
}

impl Handler<CloseAll> for Registry {
    type Result = MessageResult<CloseAll>;

    fn handle(&mut self, _: CloseAll, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.close_all())
    }
}

impl Handler<CountSessions> for Registry {
    type Result = usize;

    fn handle(&mut self, _: CountSessions, _: &mut Context<Self>) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fanout::{frame_payload, OutboxStream};
    use futures_util::StreamExt;

    fn reading(id: i32, device: &str) -> Reading {
        Reading {
            id,
            device_id: device.into(),
            co2: Some(700),
            temperature: Some(21.5),
            humidity: Some(40.0),
            pressure: Some(1001.5),
            battery: Some(80),
            status: Some("Green".into()),
            captured_at: "2026-01-01T00:00:00Z".into(),
            radon: None,
            radiation_rate: None,
            radiation_total: None,
        }
    }

    /// The ids of the frames waiting in `outbox`, in delivery order.
    async fn queued_ids(outbox: &Arc<Outbox>) -> Vec<i64> {
        let count = outbox.pending();
        let mut stream = OutboxStream::new(outbox.clone());
        let mut ids = Vec::new();
        for _ in 0..count {
            let frame = stream.next().await.unwrap().unwrap();
            let json: serde_json::Value = serde_json::from_slice(frame_payload(&frame)).unwrap();
            assert_eq!(json["device_id"], json["reading"]["device_id"]);
            ids.push(json["reading"]["id"].as_i64().unwrap());
        }
        ids
    }

    #[actix::test]
    async fn snapshot_then_live_without_gap_or_repeat() {
        let registry = Registry::new(vec![reading(3, "b"), reading(1, "a")]).start();
        let outbox = Outbox::new(1, 100, Arc::default());
        registry.do_send(ReadingStored(reading(4, "a")));
        let subscribe = Subscribe {
            outbox: outbox.clone(),
            devices: None,
            replaying: false,
        };
        registry.send(subscribe).await.unwrap();
        registry.send(ReadingStored(reading(5, "b"))).await.unwrap();
        assert_eq!(queued_ids(&outbox).await, [3, 4, 5]);
    }

    #[actix::test]
    async fn a_device_filter_applies_to_snapshot_and_live_readings() {
        let registry = Registry::new(vec![reading(1, "a"), reading(2, "b")]).start();
        let outbox = Outbox::new(1, 100, Arc::default());
        let devices = Some(HashSet::from(["b".to_string()]));
        let subscribe = Subscribe {
            outbox: outbox.clone(),
            devices,
            replaying: false,
        };
        registry.send(subscribe).await.unwrap();
        registry.send(ReadingStored(reading(3, "a"))).await.unwrap();
        registry.send(ReadingStored(reading(4, "b"))).await.unwrap();
        assert_eq!(queued_ids(&outbox).await, [2, 4]);
    }

    #[test]
    fn a_device_known_only_from_storage_is_listed_with_its_kind_and_stale() {
        let mut radon = reading(2, "Cellar");
        (radon.co2, radon.radon) = (None, Some(80));
        let registry = Registry::new(vec![reading(1, "Aranet4 1A2B3"), radon]);
        let devices = registry.devices();
        let kinds: Vec<_> = devices.iter().map(|d| (d.id.as_str(), d.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("Aranet4 1A2B3", Some("aranet4")),
                ("Cellar", Some("aranet_radon"))
            ]
        );
        let cellar = &devices[1];
        assert_eq!(cellar.last_seen.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert!(cellar.stale, "not heard since 2026-01-01");
        assert_eq!((cellar.address.as_ref(), cellar.mode), (None, None));
        assert_eq!(cellar.latest.as_ref().map(|r| r.id), Some(2));
    }

    #[test]
    fn a_device_heard_within_three_intervals_is_not_stale() {
        let mut registry = Registry::default();
        let now = Utc::now();
        let status = |seconds_ago| SensorStatus {
            device_id: "a".into(),
            address: "AA:BB:CC:DD:EE:FF".into(),
            name: None,
            kind: Some(SensorKind::Aranet2),
            firmware: None,
            model: None,
            serial: None,
            rssi: Some(-70),
            interval_s: Some(60),
            active: false,
            last_seen: now - chrono::TimeDelta::seconds(seconds_ago),
        };
        registry.sensors.insert("a".into(), status(179));
        assert!(!registry.device("a", now).unwrap().stale);
        registry.sensors.insert("a".into(), status(180));
        assert!(registry.device("a", now).unwrap().stale);
    }

    #[actix::test]
    async fn a_closed_connection_is_unsubscribed_on_the_next_reading() {
        let registry = Registry::default().start();
        let outbox = Outbox::new(1, 100, Arc::default());
        let subscribe = Subscribe {
            outbox: outbox.clone(),
            devices: None,
            replaying: false,
        };
        registry.send(subscribe).await.unwrap();
        drop(OutboxStream::new(outbox));
        registry.send(ReadingStored(reading(1, "a"))).await.unwrap();
        assert_eq!(registry.send(CountSessions).await.unwrap(), 0);
    }

    #[actix::test]
    async fn a_session_subscribing_during_shutdown_gets_the_snapshot_then_a_close() {
        let registry = Registry::new(vec![reading(1, "a")]).start();
        registry.send(CloseAll).await.unwrap();
        let outbox = Outbox::new(1, 100, Arc::default());
        let subscribe = Subscribe {
            outbox: outbox.clone(),
            devices: None,
            replaying: false,
        };
        registry.send(subscribe).await.unwrap();
        assert_eq!(queued_ids(&outbox).await, [1]);
        assert_eq!(registry.send(CountSessions).await.unwrap(), 0);
        let mut stream = OutboxStream::new(outbox.clone());
        let close = stream.next().await.unwrap().unwrap();
        assert_eq!(close[0] & 0x0f, 0x8);
        assert!(outbox.is_finished());
    }
}
