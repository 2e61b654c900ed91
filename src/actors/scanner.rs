//! The scanner actor: owns the radio, recognises Aranet sensors in what it
//! hears, and starts one device actor per sensor, keyed by its Bluetooth
//! address.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::device::{AdvertisementHeard, Device, DeviceConfig, Seen, StopDevice};
use super::persistence::Persistence;
use super::registry::{DeviceHeard, Registry};
use crate::gatt::characteristic::{SERVICE, SERVICE_OLD};
use crate::metrics::Metrics;
use crate::protocol::{SensorKind, MANUFACTURER_ID};
use crate::radio::{Advertisement, EventStream, Gatt, Radio, RadioEvent, EVENT_QUEUE};
use crate::settings::{DeviceMode, DeviceSettings};

/// Shutdown → scanner: stop listening and stop every device actor; answered
/// once each device has handled every frame it was given (so its writes are
/// queued).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopScanning;

/// Health → scanner: how the radio is doing.
#[derive(Debug, Message)]
#[rtype(result = "ScannerState")]
pub struct GetScannerState;

/// The radio as the scanner sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScannerState {
    /// `"bluetooth"` or `"simulated"`.
    pub backend: &'static str,
    /// `"starting"`, `"scanning"` or `"down"` (`"stopped"` once the actor
    /// is gone).
    pub state: &'static str,
    pub adapter: Option<String>,
    /// Why the radio is down, while it is.
    pub reason: Option<String>,
    /// Sensors with a running device actor.
    pub devices: usize,
}

/// Device → scanner: the sensor has been silent so long that its actor
/// stopped; the next advertisement starts a new one.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DeviceLost {
    pub address: String,
    pub device_id: String,
    /// Capture time of its latest stored measurement.
    pub stored: Option<DateTime<Utc>>,
}

/// Owns the radio and the device actors.
pub struct Scanner {
    radio: Option<Box<dyn Radio>>,
    /// The radio's name, for health.
    backend: &'static str,
    gatt: Option<Arc<dyn Gatt>>,
    persistence: Addr<Persistence>,
    registry: Recipient<DeviceHeard>,
    metrics: Arc<Metrics>,
    /// `[[devices]]`; when not empty, other sensors are ignored.
    configured: Vec<DeviceSettings>,
    /// Device actors by Bluetooth address.
    devices: HashMap<String, Addr<Device>>,
    /// Sensors ignored because `[[devices]]` does not list them.
    ignored: HashSet<String>,
    /// When each device's latest stored reading was captured, by device id.
    stored: HashMap<String, DateTime<Utc>>,
    /// Why the radio is down, while it is.
    down: Option<String>,
    /// The adapter scanning, once one is.
    adapter: Option<String>,
}

/// What the scanner talks to besides the radio.
pub struct ScannerLinks {
    pub persistence: Addr<Persistence>,
    pub registry: Addr<Registry>,
    pub metrics: Arc<Metrics>,
}

impl Scanner {
    /// A scanner that will listen with `radio`; `stored` holds the capture time
    /// of each device's latest stored reading, so a restart does not store it
    /// again and can backfill what it missed.
    pub fn new(
        radio: Box<dyn Radio>,
        links: ScannerLinks,
        configured: Vec<DeviceSettings>,
        stored: HashMap<String, DateTime<Utc>>,
    ) -> Self {
        Self {
            backend: radio.name(),
            radio: Some(radio),
            gatt: None,
            persistence: links.persistence,
            registry: links.registry.recipient(),
            metrics: links.metrics,
            configured,
            devices: HashMap::new(),
            ignored: HashSet::new(),
            stored,
            down: None,
            adapter: None,
        }
    }

    fn state(&self) -> ScannerState {
        let state = match (&self.down, &self.adapter) {
            (Some(_), _) => "down",
            (None, Some(_)) => "scanning",
            (None, None) => "starting",
        };
        ScannerState {
            backend: self.backend,
            state,
            adapter: self.adapter.clone(),
            reason: self.down.clone(),
            devices: self.devices.len(),
        }
    }

    fn received(&mut self, adv: Advertisement, fresh: bool, ctx: &mut Context<Self>) {
        let configured = self.configured.iter().find(|d| d.address == adv.address);
        // A listed address is taken at its word: an old sensor may advertise
        // neither the company id nor a service before it is connected.
        if configured.is_none() && !is_aranet(&adv) {
            return;
        }
        if configured.is_none() && !self.configured.is_empty() {
            if self.ignored.insert(adv.address.clone()) {
                log::info!("sensor not in [[devices]], ignored address={}", adv.address);
            }
            return;
        }
        let configured = configured.cloned();
        let device = match self.devices.get(&adv.address) {
            Some(device) => device,
            None => self.start_device(&adv, configured, ctx),
        };
        let data = adv.manufacturer_data.get(&MANUFACTURER_ID);
        device.do_send(AdvertisementHeard {
            local_name: adv.local_name.clone(),
            data: data.filter(|_| fresh).cloned(),
            rssi: adv.rssi,
        });
    }

    fn start_device(
        &mut self,
        adv: &Advertisement,
        configured: Option<DeviceSettings>,
        ctx: &mut Context<Self>,
    ) -> &Addr<Device> {
        // The advertised name ("Aranet4 1A2B3") is what people know a sensor
        // by; an alias from the settings wins, and without either the address
        // stands in.
        let alias = configured.as_ref().and_then(|d| d.name.clone());
        let device_id = alias
            .or_else(|| adv.local_name.clone())
            .unwrap_or_else(|| adv.address.clone());
        log::info!(
            "sensor found device={device_id} address={} rssi={:?}",
            adv.address,
            adv.rssi
        );
        let stored = self.stored.get(&device_id).copied().map(Seen::stored_at);
        let config = DeviceConfig {
            kind: adv
                .local_name
                .as_deref()
                .and_then(SensorKind::from_local_name),
            mode: configured.map_or(DeviceMode::Auto, |d| d.mode),
            address: adv.address.clone(),
            persistence: self.persistence.clone(),
            gatt: self.gatt.clone(),
            lost: ctx.address().recipient(),
            registry: self.registry.clone(),
            metrics: self.metrics.clone(),
            device_id: device_id.clone(),
            stored,
        };
        let actor = Device::new(config).start();
        self.devices.entry(adv.address.clone()).or_insert(actor)
    }

    fn radio_up(&mut self, adapter: &str) {
        self.adapter = Some(adapter.to_owned());
        match self.down.take() {
            Some(_) => log::info!("bluetooth recovered adapter={adapter}"),
            None => log::info!("scanning adapter={adapter}"),
        }
    }

    /// The backend retries by itself; a changed reason is logged at error
    /// (an operator may have to act), a repeated one at debug.
    fn radio_down(&mut self, reason: String) {
        let known = self
            .down
            .as_deref()
            .is_some_and(|old| old.split(" (retrying").next() == reason.split(" (retrying").next());
        if known {
            log::debug!("bluetooth still unavailable reason={reason}");
        } else {
            let hint = "is BlueZ running? `--simulate` runs without Bluetooth";
            log::error!("bluetooth unavailable reason={reason} ({hint})");
        }
        self.down = Some(reason);
    }

    /// The actor has stopped by itself; what it stored is remembered so the
    /// next actor for the sensor dedupes and backfills from there.
    fn lost(&mut self, msg: DeviceLost) {
        self.devices.remove(&msg.address);
        if let Some(stored) = msg.stored {
            self.stored.insert(msg.device_id, stored);
        }
    }
}

/// Company 0x0702, or an Aranet service among the advertised ones
/// (ARANET.md §1.1).
fn is_aranet(adv: &Advertisement) -> bool {
    adv.manufacturer_data.contains_key(&MANUFACTURER_ID)
        || adv
            .services
            .iter()
            .any(|s| *s == SERVICE || *s == SERVICE_OLD)
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
            Ok(gatt) => {
                self.gatt = gatt;
                ctx.add_stream(EventStream(receiver));
                log::info!("scanner started backend={name}");
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
    fn handle(&mut self, event: RadioEvent, ctx: &mut Context<Self>) {
        match event {
            RadioEvent::AdvertisementReceived(adv) => self.received(adv, true, ctx),
            RadioEvent::DeviceSeen(adv) => self.received(adv, false, ctx),
            RadioEvent::Up { adapter } => self.radio_up(&adapter),
            RadioEvent::Down { reason } => self.radio_down(reason),
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        log::warn!("radio stopped sending events");
        ctx.stop();
    }
}

impl Handler<DeviceLost> for Scanner {
    type Result = ();

    fn handle(&mut self, msg: DeviceLost, _: &mut Context<Self>) {
        self.lost(msg);
    }
}

impl Handler<GetScannerState> for Scanner {
    type Result = MessageResult<GetScannerState>;

    fn handle(&mut self, _: GetScannerState, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state())
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
