//! The registry actor: latest reading per device, the subscribed sessions, and
//! fan-out.
//!
//! Each stored reading is serialized and framed once, then pushed into every
//! matching session's bounded outbox. Subscribing copies the snapshot into the
//! outbox and joins the live stream in one handler call, so no reading falls
//! between the two or arrives twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix::prelude::*;
use actix_http::ws::CloseCode;
use bytes::Bytes;
use serde::Serialize;

use crate::db::models::Reading;
use crate::fanout::{text_frame, Outbox, Pushed};

/// Persistence → registry: a reading was committed; send it to every
/// subscriber.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ReadingStored(pub Reading);

/// Session → registry: deliver the snapshot, then live readings, into `outbox`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub outbox: Arc<Outbox>,
    /// Only these devices, or every device when `None`.
    pub devices: Option<HashSet<String>>,
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

/// The WebSocket message for one reading: `{"device_id": …, "reading": {…}}`.
#[derive(Serialize)]
struct ReadingEvent<'a> {
    device_id: &'a str,
    reading: &'a Reading,
}

/// A device's latest reading, ready to send.
#[derive(Debug, Clone)]
struct Latest {
    id: i32,
    frame: Bytes,
}

#[derive(Debug)]
struct Subscriber {
    outbox: Arc<Outbox>,
    devices: Option<HashSet<String>>,
}

impl Subscriber {
    fn wants(&self, device_id: &str) -> bool {
        self.devices
            .as_ref()
            .is_none_or(|set| set.contains(device_id))
    }
}

/// Latest reading per device and the sessions to fan out to.
#[derive(Debug, Default)]
pub struct Registry {
    latest: HashMap<String, Latest>,
    sessions: HashMap<u64, Subscriber>,
    /// Set by `CloseAll`: later subscribers get the snapshot, then a 1001
    /// close.
    closing: bool,
}

impl Registry {
    /// A registry whose snapshot starts from the stored `latest` readings.
    pub fn new(latest: Vec<Reading>) -> Self {
        let mut registry = Self::default();
        for reading in latest {
            registry.remember(&reading);
        }
        registry
    }

    fn remember(&mut self, reading: &Reading) -> Bytes {
        let frame = encode(reading);
        let latest = Latest {
            id: reading.id,
            frame: frame.clone(),
        };
        self.latest.insert(reading.device_id.clone(), latest);
        frame
    }

    fn publish(&mut self, reading: &Reading) {
        let frame = self.remember(reading);
        log::debug!(
            "reading stored device={} id={}",
            reading.device_id,
            reading.id
        );
        let mut gone = Vec::new();
        for (id, subscriber) in &self.sessions {
            if subscriber.wants(&reading.device_id)
                && subscriber.outbox.push(frame.clone()) == Pushed::Gone
            {
                gone.push(*id);
            }
        }
        for id in gone {
            self.sessions.remove(&id);
        }
    }

    fn subscribe(&mut self, subscriber: Subscriber) {
        let mut snapshot: Vec<_> = self
            .latest
            .iter()
            .filter(|(device, _)| subscriber.wants(device))
            .map(|(_, latest)| latest)
            .collect();
        snapshot.sort_by_key(|latest| latest.id);
        for latest in snapshot {
            subscriber.outbox.push(latest.frame.clone());
        }
        if self.closing {
            subscriber.outbox.close(CloseCode::Away.into(), true);
        } else {
            self.sessions
                .insert(subscriber.outbox.session(), subscriber);
        }
    }

    fn close_all(&mut self) -> Vec<Arc<Outbox>> {
        self.closing = true;
        let outboxes: Vec<_> = self.sessions.drain().map(|(_, s)| s.outbox).collect();
        for outbox in &outboxes {
            outbox.close(CloseCode::Away.into(), true);
        }
        outboxes
    }
}

fn encode(reading: &Reading) -> Bytes {
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
        self.publish(&msg.0);
    }
}

impl Handler<Subscribe> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        self.subscribe(Subscriber {
            outbox: msg.outbox,
            devices: msg.devices,
        });
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
        let outbox = Outbox::new(1, 100);
        registry.do_send(ReadingStored(reading(4, "a")));
        let subscribe = Subscribe {
            outbox: outbox.clone(),
            devices: None,
        };
        registry.send(subscribe).await.unwrap();
        registry.send(ReadingStored(reading(5, "b"))).await.unwrap();
        assert_eq!(queued_ids(&outbox).await, [3, 4, 5]);
    }

    #[actix::test]
    async fn a_device_filter_applies_to_snapshot_and_live_readings() {
        let registry = Registry::new(vec![reading(1, "a"), reading(2, "b")]).start();
        let outbox = Outbox::new(1, 100);
        let devices = Some(HashSet::from(["b".to_string()]));
        let subscribe = Subscribe {
            outbox: outbox.clone(),
            devices,
        };
        registry.send(subscribe).await.unwrap();
        registry.send(ReadingStored(reading(3, "a"))).await.unwrap();
        registry.send(ReadingStored(reading(4, "b"))).await.unwrap();
        assert_eq!(queued_ids(&outbox).await, [2, 4]);
    }

    #[actix::test]
    async fn a_closed_connection_is_unsubscribed_on_the_next_reading() {
        let registry = Registry::default().start();
        let outbox = Outbox::new(1, 100);
        let subscribe = Subscribe {
            outbox: outbox.clone(),
            devices: None,
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
        let outbox = Outbox::new(1, 100);
        let subscribe = Subscribe {
            outbox: outbox.clone(),
            devices: None,
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
