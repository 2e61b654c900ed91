//! aranet-service: a gateway that listens to Aranet sensors, stores every
//! measurement in SQLite and streams readings live over WebSocket, with a
//! REST API, Prometheus metrics and a dashboard beside the stream.
//!
//! # The path of a reading
//!
//! ```text
//! radio (BLE or simulated) src/radio/                 advertisements, GATT links
//!   → scanner actor        src/actors/scanner.rs      finds sensors, one device actor each
//!   → device actor         src/actors/device.rs       decodes (src/protocol/), drops repeats
//!   → persistence actor    src/actors/persistence.rs  commits the row, assigns the id
//!   → registry actor       src/actors/registry.rs     latest per device, fan-out
//!   → session outbox       src/fanout.rs              bounded, drops oldest when full
//!   → session actor        src/actors/session.rs      one per WebSocket connection
//! ```
//!
//! Reads go the other way through the archive actor (`src/actors/archive.rs`):
//! REST pages, CSV exports and `?since=` replays. Around them: `settings`
//! (the `config` crate), `db` (diesel schema, models, queries), `web`
//! (actix-web routes; `web/mod.rs` has their map), `metrics` (counters for
//! `/metrics` and `/api/health`), `gatt` (GATT procedures), `startup` (build,
//! run, shutdown) and `error` (the one error type and its HTTP mapping).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod actors;
pub mod db;
pub mod error;
pub mod fanout;
pub mod gatt;
pub mod metrics;
pub mod protocol;
pub mod radio;
pub mod settings;
pub mod startup;
pub mod web;
