//! The radio interface the scanner owns, with one module per backend.
//!
//! A backend turns what it hears into [`RadioEvent`]s on a channel and, when it
//! can connect to sensors, offers [`Gatt`] links; it knows nothing of Aranet
//! formats. Backends: `bluetooth` (btleplug on BlueZ) and `simulated` (sensors
//! that send real Aranet frames, advertisements only).

pub mod bluetooth;
pub mod simulated;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Events a backend may hold before it has to wait for the scanner.
pub const EVENT_QUEUE: usize = 256;

/// One received BLE advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    /// Bluetooth address, `AA:BB:CC:DD:EE:FF`.
    pub address: String,
    /// Advertised local name; passive scans may not deliver one.
    pub local_name: Option<String>,
    pub rssi: Option<i16>,
    /// Manufacturer data by company id, each value without the 2 id bytes.
    pub manufacturer_data: HashMap<u16, Vec<u8>>,
    /// Advertised service UUIDs.
    pub services: Vec<Uuid>,
}

/// What a radio backend reports to the scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RadioEvent {
    /// A fresh advertisement: its manufacturer data is what the sensor
    /// measures now.
    AdvertisementReceived(Advertisement),
    /// A device the radio knows of; its manufacturer data may be old.
    DeviceSeen(Advertisement),
    /// The adapter is scanning (again).
    Up { adapter: String },
    /// The adapter or the Bluetooth service is gone; the backend retries.
    Down { reason: String },
}

/// Why a backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum RadioError {
    #[error("radio backend {backend} failed to start: {reason}")]
    Start {
        backend: &'static str,
        reason: String,
    },
}

/// Why a GATT exchange with a sensor failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GattError {
    #[error("no adapter is up")]
    NoAdapter,
    #[error("sensor {0} is not in range")]
    NotFound(String),
    #[error("{step} timed out")]
    Timeout { step: &'static str },
    #[error("characteristic {0} not found")]
    NoCharacteristic(Uuid),
    #[error("{step} failed: {reason}")]
    Failed { step: &'static str, reason: String },
    #[error("connecting is not supported by this radio")]
    Unsupported,
}

/// A source of BLE advertisements.
pub trait Radio: Send {
    /// Short backend name for logs.
    fn name(&self) -> &'static str;

    /// Starts listening on the current actix system; events go to `events`
    /// until the receiving side is dropped, which also stops the backend.
    /// Returns the backend's way to connect to sensors, if it has one.
    fn start(
        self: Box<Self>,
        events: mpsc::Sender<RadioEvent>,
    ) -> Result<Option<Arc<dyn Gatt>>, RadioError>;
}

/// Connects to sensors. Implementations allow one connection at a time per
/// adapter: a [`Link`] holds the adapter until it is dropped or disconnected.
pub trait Gatt: Send + Sync {
    /// Waits for the adapter, connects to the sensor at `address` and
    /// discovers its services.
    fn connect(&self, address: &str) -> BoxFuture<'static, Result<Box<dyn Link>, GattError>>;
}

/// An open GATT connection to one sensor.
pub trait Link: Send {
    /// True when the sensor has the characteristic.
    fn has(&self, characteristic: Uuid) -> bool;
    fn read(&self, characteristic: Uuid) -> BoxFuture<'_, Result<Vec<u8>, GattError>>;
    /// Writes with response.
    fn write<'a>(
        &'a self,
        characteristic: Uuid,
        data: &'a [u8],
    ) -> BoxFuture<'a, Result<(), GattError>>;
    /// Disconnects and frees the adapter.
    fn disconnect(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// A channel receiver as a stream, so an actor can `add_stream` it.
pub struct EventStream(pub mpsc::Receiver<RadioEvent>);

impl Stream for EventStream {
    type Item = RadioEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RadioEvent>> {
        self.0.poll_recv(cx)
    }
}
