//! The scanner actor: owns the radio, recognises Aranet sensors in what it
//! hears, and starts one device actor per sensor.

use std::collections::HashMap;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::device::{AdvertisementHeard, Device, Seen, StopDevice};
use super::persistence::Persistence;
use crate::protocol::MANUFACTURER_ID;
use crate::radio::{Advertisement, EventStream, Radio, RadioEvent, EVENT_QUEUE};

/// Shutdown → scanner: stop listening and stop every device actor; answered
/// once each device has handled every frame it was given (so its writes are
/// queued).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopScanning;

/// Owns the radio and the device actors.
pub struct Scanner {
    radio: Option<Box<dyn Radio>>,
    persistence: Addr<Persistence>,
    /// Device actors by Bluetooth address.
    devices: HashMap<String, Addr<Device>>,
    /// When each device's latest stored reading was captured, from before this
    /// start.
    stored: HashMap<String, DateTime<Utc>>,
}

impl Scanner {
    /// A scanner that will listen with `radio`; `stored` holds the capture time
    /// of each device's latest stored reading, so a restart does not store it
    /// again.
    pub fn new(
        radio: Box<dyn Radio>,
        persistence: Addr<Persistence>,
        stored: HashMap<String, DateTime<Utc>>,
    ) -> Self {
        Self {
            radio: Some(radio),
            persistence,
            devices: HashMap::new(),
            stored,
        }
    }

    fn received(&mut self, adv: Advertisement) {
        let Some(data) = adv.manufacturer_data.get(&MANUFACTURER_ID) else {
            return; // not an Aranet sensor
        };
        let device = match self.devices.get(&adv.address) {
            Some(device) => device,
            None => self.start_device(&adv),
        };
        device.do_send(AdvertisementHeard {
            local_name: adv.local_name.clone(),
            data: data.clone(),
            rssi: adv.rssi,
        });
    }

    fn start_device(&mut self, adv: &Advertisement) -> &Addr<Device> {
        // The advertised name ("Aranet4 1A2B3") is what people know a sensor
        // by; passive scans may not deliver it, and then the address stands in.
        let device_id = adv
            .local_name
            .clone()
            .unwrap_or_else(|| adv.address.clone());
        log::info!(
            "sensor found device={device_id} address={} rssi={:?}",
            adv.address,
            adv.rssi
        );
        let stored = self.stored.get(&device_id).copied().map(Seen::stored_at);
        let actor = Device::new(device_id, self.persistence.clone(), stored).start();
        self.devices.entry(adv.address.clone()).or_insert(actor)
    }
}

impl Actor for Scanner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(radio) = self.radio.take() else {
            return;
        };
        let name = radio.name();
        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        match radio.start(events) {
            Ok(()) => {
                ctx.add_stream(EventStream(receiver));
                log::info!("scanner up backend={name}");
            }
            Err(err) => {
                log::error!("scanner down backend={name} error={err}");
                ctx.stop();
            }
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        log::info!("scanner down devices={}", self.devices.len());
    }
}

impl StreamHandler<RadioEvent> for Scanner {
    fn handle(&mut self, event: RadioEvent, _: &mut Context<Self>) {
        match event {
            RadioEvent::AdvertisementReceived(adv) => self.received(adv),
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        log::warn!("radio stopped sending events");
        ctx.stop();
    }
}

impl Handler<StopScanning> for Scanner {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: StopScanning, ctx: &mut Context<Self>) -> Self::Result {
        ctx.stop();
        let stops: Vec<_> = self.devices.values().map(|d| d.send(StopDevice)).collect();
        Box::pin(async move {
            for stop in stops {
                // An error only means that device already stopped.
                let _ = stop.await;
            }
        })
    }
}
