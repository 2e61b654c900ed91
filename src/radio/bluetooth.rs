//! The Bluetooth backend: btleplug on BlueZ (D-Bus system bus).
//!
//! A supervisor task scans continuously and turns btleplug events into
//! [`RadioEvent`]s. When BlueZ or the adapter is missing, goes away, or stops
//! discovering (BlueZ restarted), it reports `Down`, waits with exponential
//! backoff and starts over with a fresh D-Bus session; the rest of the service
//! keeps running meanwhile. GATT links take the adapter one at a time.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bluez_async::BluetoothSession;
use btleplug::api::{Central, CentralEvent, Manager as _, Peripheral as _, ScanFilter, WriteType};
use btleplug::platform::{Adapter, Manager, Peripheral, PeripheralId};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;
use uuid::Uuid;

use super::{Advertisement, Gatt, GattError, Link, Radio, RadioError, RadioEvent};

/// First wait before retrying a failed start; doubled up to the maximum.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);
/// How often the supervisor checks that the adapter is there and discovering.
const WATCHDOG_PERIOD: Duration = Duration::from_secs(3);
/// Every D-Bus round trip is bounded: a hung BlueZ must not hang the scanner.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may wait for another sensor's connection to end.
const ADAPTER_WAIT: Duration = Duration::from_secs(90);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const DISCOVER_TIMEOUT: Duration = Duration::from_secs(15);

/// The btleplug backend, on the adapter named `adapter` (`hci0`) or the first.
pub struct BluetoothRadio {
    adapter: Option<String>,
}

impl BluetoothRadio {
    pub fn new(adapter: Option<String>) -> Self {
        Self { adapter }
    }
}

/// What the supervisor and the GATT links share.
#[derive(Default)]
struct Shared {
    /// The adapter while it is up.
    adapter: Mutex<Option<Adapter>>,
}

impl Shared {
    fn set(&self, adapter: Option<Adapter>) {
        *self.adapter.lock().unwrap_or_else(PoisonError::into_inner) = adapter;
    }

    fn get(&self) -> Option<Adapter> {
        self.adapter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Radio for BluetoothRadio {
    fn name(&self) -> &'static str {
        "bluetooth"
    }

    fn start(
        self: Box<Self>,
        events: mpsc::Sender<RadioEvent>,
    ) -> Result<Option<Arc<dyn Gatt>>, RadioError> {
        let shared = Arc::new(Shared::default());
        actix_rt::spawn(supervise(self.adapter, shared.clone(), events));
        Ok(Some(Arc::new(BluetoothGatt {
            shared,
            turn: Arc::new(Semaphore::new(1)),
        })))
    }
}

/// Scans until the scanner goes away, restarting after every failure.
async fn supervise(wanted: Option<String>, shared: Arc<Shared>, events: mpsc::Sender<RadioEvent>) {
    let mut retry = RETRY_FIRST;
    loop {
        let mut scan = Scan {
            wanted: wanted.as_deref(),
            shared: &shared,
            events: &events,
            up: false,
        };
        let result = scan.run().await;
        let was_up = scan.up;
        shared.set(None);
        let reason = match result {
            Ok(()) => return, // the scanner is gone
            Err(reason) => reason,
        };
        if was_up {
            retry = RETRY_FIRST;
        }
        let down = RadioEvent::Down {
            reason: format!("{reason} (retrying in {}s)", retry.as_secs()),
        };
        if events.send(down).await.is_err() {
            return;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}

/// One scanning run, from connecting to D-Bus to the first failure.
struct Scan<'a> {
    wanted: Option<&'a str>,
    shared: &'a Shared,
    events: &'a mpsc::Sender<RadioEvent>,
    /// The adapter came up during this run.
    up: bool,
}

impl Scan<'_> {
    /// Returns `Ok` when the scanner is gone, else why scanning stopped.
    async fn run(&mut self) -> Result<(), String> {
        let manager = bounded("connecting to BlueZ", Manager::new()).await?;
        let (_, watch) = bounded("connecting to BlueZ", BluetoothSession::new()).await?;
        let adapters = bounded("listing adapters", manager.adapters()).await?;
        let (adapter, name) = self.pick(adapters).await?;
        let mut stream = bounded("subscribing to events", adapter.events()).await?;
        let scan = adapter.start_scan(ScanFilter::default());
        bounded("starting discovery", scan).await?;
        self.shared.set(Some(adapter.clone()));
        self.up = true;
        if !self
            .send(RadioEvent::Up {
                adapter: name.clone(),
            })
            .await
        {
            return Ok(());
        }
        let mut watchdog = tokio::time::interval(WATCHDOG_PERIOD);
        loop {
            tokio::select! {
                event = stream.next() => match event {
                    Some(event) => {
                        if !self.forward(&adapter, event).await {
                            return Ok(());
                        }
                    }
                    None => return Err("BlueZ event stream ended".into()),
                },
                _ = watchdog.tick() => check_adapter(&watch, &name).await?,
            }
        }
    }

    /// The adapter named in the settings, else the first one.
    async fn pick(&self, adapters: Vec<Adapter>) -> Result<(Adapter, String), String> {
        for adapter in adapters {
            let info = bounded("reading adapter info", adapter.adapter_info()).await?;
            // btleplug describes an adapter as "hci0 (usb:v1D6Bp0246d0541)".
            let name = info
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            if self.wanted.is_none_or(|wanted| wanted == name) {
                return Ok((adapter, name));
            }
        }
        Err(match self.wanted {
            Some(wanted) => format!("adapter {wanted} not found"),
            None => "no Bluetooth adapter found".into(),
        })
    }

    /// Passes one btleplug event on; false when the scanner is gone.
    async fn forward(&self, adapter: &Adapter, event: CentralEvent) -> bool {
        let (id, fresh) = match event {
            CentralEvent::ManufacturerDataAdvertisement { id, .. } => (id, true),
            CentralEvent::DeviceDiscovered(id) | CentralEvent::ServicesAdvertisement { id, .. } => {
                (id, false)
            }
            _ => return true,
        };
        let Some(adv) = advertisement(adapter, &id).await else {
            return true; // gone again before we could look
        };
        // BlueZ keeps a device's last manufacturer data for as long as it knows
        // the device, so only a fresh advertisement says what it measures now.
        self.send(match fresh {
            true => RadioEvent::AdvertisementReceived(adv),
            false => RadioEvent::DeviceSeen(adv),
        })
        .await
    }

    async fn send(&self, event: RadioEvent) -> bool {
        self.events.send(event).await.is_ok()
    }
}

/// The current properties of a peripheral as an [`Advertisement`].
async fn advertisement(adapter: &Adapter, id: &PeripheralId) -> Option<Advertisement> {
    let peripheral = bounded("looking up a device", adapter.peripheral(id))
        .await
        .ok()?;
    let properties = bounded("reading device properties", peripheral.properties())
        .await
        .ok()??;
    Some(Advertisement {
        address: properties.address.to_string(),
        // `advertisement_name` is BlueZ's `Name`; its `Alias` falls back to
        // the address, which is not a name.
        local_name: properties.advertisement_name,
        rssi: properties.rssi,
        manufacturer_data: properties.manufacturer_data,
        services: properties.services,
    })
}

/// Fails when the adapter is gone or no longer discovering, as after a BlueZ
/// restart or an adapter unplugged and plugged back.
async fn check_adapter(session: &BluetoothSession, name: &str) -> Result<(), String> {
    let adapters = bounded("watchdog", session.get_adapters()).await?;
    let Some(adapter) = adapters.iter().find(|a| a.id.to_string() == name) else {
        return Err(format!("adapter {name} went away"));
    };
    match (adapter.powered, adapter.discovering) {
        (false, _) => Err(format!("adapter {name} is powered off")),
        (true, false) => Err(format!("adapter {name} stopped discovering")),
        (true, true) => Ok(()),
    }
}

/// Awaits a btleplug call for at most [`CALL_TIMEOUT`].
async fn bounded<T, E: std::fmt::Display>(
    step: &str,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(format!("{step}: {err}")),
        Err(_) => Err(format!("{step}: timed out")),
    }
}

/// Connects to sensors through the adapter the supervisor keeps.
struct BluetoothGatt {
    shared: Arc<Shared>,
    /// One connection at a time per adapter.
    turn: Arc<Semaphore>,
}

impl Gatt for BluetoothGatt {
    fn connect(&self, address: &str) -> BoxFuture<'static, Result<Box<dyn Link>, GattError>> {
        let shared = self.shared.clone();
        let turn = self.turn.clone();
        let address = address.to_owned();
        Box::pin(async move {
            let permit = timeout(ADAPTER_WAIT, turn.acquire_owned())
                .await
                .map_err(|_| GattError::Timeout {
                    step: "waiting for the adapter",
                })?
                .map_err(|_| GattError::NoAdapter)?;
            let adapter = shared.get().ok_or(GattError::NoAdapter)?;
            let peripheral = find(&adapter, &address).await?;
            let link = BluetoothLink::open(peripheral, permit).await?;
            Ok(Box::new(link) as Box<dyn Link>)
        })
    }
}

async fn find(adapter: &Adapter, address: &str) -> Result<Peripheral, GattError> {
    let peripherals = step("listing devices", CALL_TIMEOUT, adapter.peripherals()).await?;
    peripherals
        .into_iter()
        .find(|p| p.address().to_string() == address)
        .ok_or_else(|| GattError::NotFound(address.to_owned()))
}

/// Awaits one GATT step for at most `limit`.
async fn step<T>(
    step: &'static str,
    limit: Duration,
    call: impl std::future::Future<Output = btleplug::Result<T>>,
) -> Result<T, GattError> {
    match timeout(limit, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(GattError::Failed {
            step,
            reason: err.to_string(),
        }),
        Err(_) => Err(GattError::Timeout { step }),
    }
}

/// A connected sensor; holds the adapter until disconnected or dropped.
struct BluetoothLink {
    peripheral: Peripheral,
    characteristics: Vec<btleplug::api::Characteristic>,
    connected: bool,
    _turn: OwnedSemaphorePermit,
}

impl BluetoothLink {
    async fn open(peripheral: Peripheral, turn: OwnedSemaphorePermit) -> Result<Self, GattError> {
        let mut link = BluetoothLink {
            peripheral,
            characteristics: Vec::new(),
            connected: true,
            _turn: turn,
        };
        // On failure, dropping `link` disconnects whatever got connected.
        step("connect", CONNECT_TIMEOUT, link.peripheral.connect()).await?;
        let discover = link.peripheral.discover_services();
        step("service discovery", DISCOVER_TIMEOUT, discover).await?;
        link.characteristics = link.peripheral.characteristics().into_iter().collect();
        Ok(link)
    }

    fn characteristic(&self, uuid: Uuid) -> Result<&btleplug::api::Characteristic, GattError> {
        self.characteristics
            .iter()
            .find(|c| c.uuid == uuid)
            .ok_or(GattError::NoCharacteristic(uuid))
    }
}

impl Link for BluetoothLink {
    fn has(&self, characteristic: Uuid) -> bool {
        self.characteristic(characteristic).is_ok()
    }

    fn read(&self, characteristic: Uuid) -> BoxFuture<'_, Result<Vec<u8>, GattError>> {
        Box::pin(async move {
            let found = self.characteristic(characteristic)?;
            step("read", CALL_TIMEOUT, self.peripheral.read(found)).await
        })
    }

    fn write<'a>(
        &'a self,
        characteristic: Uuid,
        data: &'a [u8],
    ) -> BoxFuture<'a, Result<(), GattError>> {
        Box::pin(async move {
            let found = self.characteristic(characteristic)?;
            let write = self.peripheral.write(found, data, WriteType::WithResponse);
            step("write", CALL_TIMEOUT, write).await
        })
    }

    fn disconnect(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        self.connected = false;
        Box::pin(async move {
            let _ = step("disconnect", CALL_TIMEOUT, self.peripheral.disconnect()).await;
        })
    }
}

impl Drop for BluetoothLink {
    /// A link given up midway (an error, an actor stopping) still
    /// disconnects, so the sensor is free for the next attempt.
    fn drop(&mut self) {
        if self.connected {
            let peripheral = self.peripheral.clone();
            tokio::spawn(async move {
                let _ = step("disconnect", CALL_TIMEOUT, peripheral.disconnect()).await;
            });
        }
    }
}
