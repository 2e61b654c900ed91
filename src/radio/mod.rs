//! The radio interface the scanner owns, with one module per backend.
//!
//! A backend turns what it hears into [`RadioEvent`]s on a channel; it knows
//! nothing of Aranet formats. Backends: `simulated` (sensors that send real
//! Aranet frames).

pub mod simulated;

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

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
}

/// What a radio backend reports to the scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RadioEvent {
    AdvertisementReceived(Advertisement),
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

/// A source of BLE advertisements.
pub trait Radio: Send {
    /// Short backend name for logs.
    fn name(&self) -> &'static str;

    /// Starts listening on the current actix system; events go to `events`
    /// until the receiving side is dropped, which also stops the backend.
    fn start(self: Box<Self>, events: mpsc::Sender<RadioEvent>) -> Result<(), RadioError>;
}

/// A channel receiver as a stream, so an actor can `add_stream` it.
pub struct EventStream(pub mpsc::Receiver<RadioEvent>);

impl Stream for EventStream {
    type Item = RadioEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RadioEvent>> {
        self.0.poll_recv(cx)
    }
}
