//! A fake BlueZ on a private D-Bus bus, for driving btleplug's Linux backend without hardware.
//!
//! [`FakeBluez::start`] starts a bus (in-process, the `busd` crate) and a fake `org.bluez`
//! service on it with one powered adapter, `hci0`. Point btleplug at it by setting
//! `DBUS_SYSTEM_BUS_ADDRESS` to [`FakeBluez::bus_address`] in the process that creates the
//! btleplug `Manager` (libdbus reads that variable once per process, on its first connection
//! to the system bus; see [`FakeBluez::start_at`] for in-process tests).
//!
//! Sensors are scripted with [`FakeBluez::add_sensor`], [`FakeBluez::advertise`],
//! [`FakeBluez::set_value`], [`FakeBluez::set_history`] and [`FakeBluez::inject`]; what the
//! client did is visible in [`FakeBluez::stats`].
//!
//! Like BlueZ: GATT reads and writes fail with `org.bluez.Error.Failed "Not connected"` unless
//! the device is connected; `Connect()` sets `Connected` and then `ServicesResolved`;
//! `StopDiscovery()` without a running discovery fails. Unlike BlueZ: adverts are delivered
//! whether or not discovery is running (check [`Stats::adapter_discovering`] if it matters),
//! and GATT objects exist as soon as the device does (as for a device BlueZ has cached).
//!
//! This module uses only `super::` paths, so it can be copied as-is into another crate.
// Users of a copied module call only part of the API.
#![allow(dead_code)]

mod bus;
mod objects;
mod state;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use zbus::zvariant::{ObjectPath, Value};
use zbus::Connection;

use self::bus::PrivateBus;
use self::objects::{
    emit_changed, lock, manufacturer_value, Adapter1, Device1, GattCharacteristic1, GattService1,
    SharedWorld, DEVICE_IFACE,
};
use self::state::{AdapterState, Device, World, ADAPTER_PATH};

/// The Bluetooth company ID of SAF Tehnika (Aranet): manufacturer data is sent under it.
pub const ARANET_COMPANY_ID: u16 = 0x0702;

/// The full UUID of an Aranet characteristic, e.g. `aranet_uuid(0x3001)` is
/// `f0cd3001-95da-4f4b-9ac8-aa55d312af0c`.
pub fn aranet_uuid(short: u16) -> String {
    format!("f0cd{short:04x}-95da-4f4b-9ac8-aa55d312af0c")
}

/// Lower-cases a UUID and expands 16- and 32-bit Bluetooth SIG forms (`"2a24"`) to 128 bits.
pub fn normalize_uuid(uuid: &str) -> String {
    let uuid = uuid.to_lowercase();
    match uuid.len() {
        4 => format!("0000{uuid}-0000-1000-8000-00805f9b34fb"),
        8 => format!("{uuid}-0000-1000-8000-00805f9b34fb"),
        _ => uuid,
    }
}

/// A sensor to add with [`FakeBluez::add_sensor`].
#[derive(Clone, Debug, Default)]
pub struct SensorSpec {
    /// `AA:BB:CC:DD:EE:FF` (any case).
    pub address: String,
    /// The advertised name; without one, BlueZ's `Alias` (and so btleplug's `local_name`) is
    /// the address with dashes.
    pub name: Option<String>,
    pub rssi: i16,
    /// Manufacturer data for company 0x0702, without the two company-ID bytes.
    pub manufacturer_data: Option<Vec<u8>>,
    /// Advertised service UUIDs (`UUIDs` property).
    pub service_uuids: Vec<String>,
    /// `(uuid, initial value)` of each characteristic of the Aranet service
    /// `0000fce0-0000-1000-8000-00805f9b34fb`.
    pub characteristics: Vec<(String, Vec<u8>)>,
    /// Device Information service (`0000180a-…`) strings: model number (2a24), serial number
    /// (2a25), firmware revision (2a26). The service exists if any of them is given.
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
}

impl SensorSpec {
    /// An Aranet4 with the characteristics a client uses: command `1402`, current readings
    /// `3001` (13 bytes: 800 ppm, 22.5 °C, 1013.0 hPa, 45 %, battery 90 %, green, interval
    /// 300 s, age 60 s), total/interval/age `2001`/`2002`/`2004` and History V2 `2005`.
    pub fn aranet4(address: &str, name: &str) -> Self {
        let readings: Vec<u8> = [
            &800_u16.to_le_bytes()[..],
            &450_u16.to_le_bytes(),
            &10130_u16.to_le_bytes(),
            &[45, 90, 1],
            &300_u16.to_le_bytes(),
            &60_u16.to_le_bytes(),
        ]
        .concat();
        Self {
            address: address.to_string(),
            name: Some(name.to_string()),
            rssi: -60,
            characteristics: vec![
                (aranet_uuid(0x1402), Vec::new()),
                (aranet_uuid(0x3001), readings),
                (aranet_uuid(0x2001), 0_u16.to_le_bytes().to_vec()),
                (aranet_uuid(0x2002), 300_u16.to_le_bytes().to_vec()),
                (aranet_uuid(0x2004), 60_u16.to_le_bytes().to_vec()),
                (aranet_uuid(0x2005), Vec::new()),
            ],
            model: Some("Aranet4".into()),
            serial: Some("12345".into()),
            firmware: Some("v1.4.19".into()),
            ..Self::default()
        }
    }
}

/// Stored history of one sensor, served through History V2 (`f0cd1402` + `f0cd2005`).
#[derive(Clone, Debug, Default)]
pub struct History {
    pub interval_s: u16,
    /// Seconds since the last measurement.
    pub age_s: u16,
    /// Raw record bytes per index 1..N (oldest first) for each parameter id (1 temperature,
    /// 2 humidity, 3 pressure, 4 CO2, …).
    pub params: HashMap<u8, Vec<Vec<u8>>>,
}

/// A one-shot fault, consumed by the next operation it applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The next `ReadValue` fails with `org.bluez.Error.Failed "Not connected"` and the
    /// device's `Connected`/`ServicesResolved` go false.
    DisconnectOnNextRead,
    /// The next successful `ReadValue` returns only this many bytes.
    TruncateNextRead(usize),
    /// The next `Connect()` fails with `org.bluez.Error.Failed "le-connection-abort-by-local"`.
    FailNextConnect,
    /// The next `Connect()` succeeds but services never resolve (btleplug's `connect` times out
    /// after bluez-async's 30 s).
    ConnectHangs,
}

/// What a client did to one device, and the state it left.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// The address was added with `add_sensor`.
    pub known: bool,
    /// The device's objects are on the bus.
    pub exported: bool,
    pub connected: bool,
    /// `Connect()` calls, and how many of them connected.
    pub connect_attempts: u32,
    pub connects: u32,
    pub disconnects: u32,
    /// `ReadValue` calls per characteristic UUID (failed ones included).
    pub reads: HashMap<String, u32>,
    /// `WriteValue` calls in order: (characteristic UUID, value).
    pub writes: Vec<(String, Vec<u8>)>,
    /// The adapter's `Discovering`, and how often `StartDiscovery` was called.
    pub adapter_discovering: bool,
    pub start_discovery_calls: u32,
}

/// A private bus with a fake BlueZ on it. Dropping it stops both.
pub struct FakeBluez {
    // Field order matters for Drop: the service connection closes before the bus stops.
    service: tokio::sync::Mutex<Option<Connection>>,
    world: SharedWorld,
    bus: PrivateBus,
}

impl FakeBluez {
    /// Starts a private bus on a fresh socket and BlueZ on it, with `hci0` present and powered.
    pub async fn start() -> FakeBluez {
        Self::start_bus(None).await
    }

    /// Like [`start`](Self::start), but the bus listens on the socket file `path`.
    ///
    /// libdbus (and so btleplug) reads `DBUS_SYSTEM_BUS_ADDRESS` only once per process. Tests
    /// that run btleplug in the test process itself can therefore use one fixed path per
    /// process, set the variable once, and start one `FakeBluez` at a time on that path.
    pub async fn start_at(path: impl Into<PathBuf>) -> FakeBluez {
        Self::start_bus(Some(path.into())).await
    }

    async fn start_bus(path: Option<PathBuf>) -> FakeBluez {
        let bus = PrivateBus::start(path)
            .await
            .expect("starting the private bus");
        let fake = FakeBluez {
            service: tokio::sync::Mutex::new(None),
            world: Arc::new(Mutex::new(World::default())),
            bus,
        };
        fake.start_bluez().await;
        fake
    }

    /// The value for `DBUS_SYSTEM_BUS_ADDRESS`, e.g. `unix:path=/tmp/fakebluez-1-0.sock`.
    pub fn bus_address(&self) -> String {
        self.bus.address().to_string()
    }

    /// The socket file of the bus.
    pub fn socket_path(&self) -> PathBuf {
        self.bus.path().to_path_buf()
    }

    /// Adds (or replaces) a sensor: `InterfacesAdded` for the device and its GATT objects.
    pub async fn add_sensor(&self, spec: SensorSpec) {
        let address = spec.address.to_uppercase();
        let service = self.service.lock().await;
        let old = lock(&self.world)
            .devices
            .insert(address.clone(), Device::new(spec));
        if let (Some(conn), Some(old)) = (service.as_ref(), old) {
            if old.exported {
                unexport_device(conn, &old).await;
            }
        }
        if let Some(conn) = service.as_ref() {
            if lock(&self.world).adapter.present {
                export_device(conn, &self.world, &address).await;
            }
        }
    }

    /// An advert: sets RSSI (and manufacturer data for company 0x0702, if given) and emits
    /// `PropertiesChanged` for them. A device that BlueZ forgot (after `stop_bluez`/`start_bluez`
    /// or `remove_adapter`/`add_adapter`) is first announced again with `InterfacesAdded`.
    ///
    /// # Panics
    /// If `address` was never added with [`add_sensor`](Self::add_sensor).
    pub async fn advertise(&self, address: &str, manufacturer_data: Option<Vec<u8>>, rssi: i16) {
        let address = address.to_uppercase();
        let service = self.service.lock().await;
        let (path, exported, present) = {
            let mut w = lock(&self.world);
            let present = w.adapter.present;
            let device = w
                .devices
                .get_mut(&address)
                .expect("advertise: unknown address");
            device.rssi = Some(rssi);
            if manufacturer_data.is_some() {
                device.manufacturer_data.clone_from(&manufacturer_data);
            }
            (device.path(), device.exported, present)
        };
        let Some(conn) = service.as_ref() else { return };
        if !present {
            return;
        }
        if !exported {
            export_device(conn, &self.world, &address).await;
        }
        let mut changed = HashMap::from([("RSSI", Value::from(rssi))]);
        if let Some(data) = &manufacturer_data {
            changed.insert(
                "ManufacturerData",
                Value::from(manufacturer_value(ARANET_COMPANY_ID, data)),
            );
        }
        emit_changed(conn, &path, DEVICE_IFACE, changed)
            .await
            .expect("emitting an advert");
    }

    /// Sets the value the characteristic `uuid` returns on read.
    pub async fn set_value(&self, address: &str, uuid: &str, value: Vec<u8>) {
        self.with_device(address, |d| d.set_value(uuid, value));
    }

    /// Sets the history served by History V2; `f0cd2001`/`2002`/`2004` then report its total,
    /// interval and age.
    pub async fn set_history(&self, address: &str, history: History) {
        self.with_device(address, |d| d.set_history(history));
    }

    /// Arms a one-shot fault for the device.
    pub async fn inject(&self, address: &str, fault: Fault) {
        self.with_device(address, |d| d.inject(fault));
    }

    /// Simulates BlueZ exiting: its connection closes, so `org.bluez` loses its owner and all
    /// objects vanish (no `InterfacesRemoved`, as with a crash). Devices stay scripted.
    pub async fn stop_bluez(&self) {
        let mut service = self.service.lock().await;
        {
            let mut w = lock(&self.world);
            w.running = false;
            w.adapter.present = false;
            w.adapter.discovering = false;
            w.devices.values_mut().for_each(Device::reset_link);
        }
        if let Some(conn) = service.take() {
            let _ = conn.release_name("org.bluez").await;
            let _ = conn.close().await;
        }
    }

    /// BlueZ comes back: `org.bluez` owned again, `hci0` powered and not discovering. Devices
    /// appear again only when re-added or advertised.
    pub async fn start_bluez(&self) {
        let mut service = self.service.lock().await;
        if service.is_some() {
            return;
        }
        {
            let mut w = lock(&self.world);
            w.running = true;
            w.adapter = AdapterState {
                start_discovery_calls: w.adapter.start_discovery_calls,
                ..AdapterState::fresh()
            };
        }
        let conn = zbus::connection::Builder::address(self.bus.address())
            .and_then(|b| b.serve_at("/", zbus::fdo::ObjectManager))
            .and_then(|b| b.name("org.bluez"))
            .expect("building the BlueZ connection");
        let conn = conn.build().await.expect("connecting BlueZ to the bus");
        self.export_adapter(&conn).await;
        *service = Some(conn);
    }

    /// Removes `hci0` (as when the dongle is unplugged): `InterfacesRemoved` for each device's
    /// objects and then for the adapter.
    pub async fn remove_adapter(&self) {
        let service = self.service.lock().await;
        let gone: Vec<(Vec<String>, String)> = {
            let mut w = lock(&self.world);
            w.adapter.present = false;
            w.adapter.discovering = false;
            w.devices
                .values_mut()
                .filter(|d| d.exported)
                .map(|d| {
                    let paths = exported_paths(d);
                    d.reset_link();
                    (paths, d.path())
                })
                .collect()
        };
        let Some(conn) = service.as_ref() else { return };
        for (paths, _) in &gone {
            remove_paths(conn, paths).await;
        }
        let _ = conn
            .object_server()
            .remove::<Adapter1, _>(ADAPTER_PATH)
            .await;
    }

    /// Plugs `hci0` back in: `InterfacesAdded`, powered, not discovering.
    pub async fn add_adapter(&self) {
        let service = self.service.lock().await;
        let Some(conn) = service.as_ref() else { return };
        {
            let mut w = lock(&self.world);
            if w.adapter.present {
                return;
            }
            w.adapter = AdapterState {
                start_discovery_calls: w.adapter.start_discovery_calls,
                ..AdapterState::fresh()
            };
        }
        self.export_adapter(conn).await;
    }

    /// Puts `hci0` on the bus.
    async fn export_adapter(&self, conn: &zbus::Connection) {
        let adapter = Adapter1 {
            world: self.world.clone(),
        };
        conn.object_server()
            .at(ADAPTER_PATH, adapter)
            .await
            .expect("exporting hci0");
    }

    /// What the client did to the device at `address` (all zero if it is unknown).
    pub fn stats(&self, address: &str) -> Stats {
        let w = lock(&self.world);
        let device = w
            .devices
            .get(&address.to_uppercase())
            .map(Device::stats)
            .unwrap_or_default();
        Stats {
            adapter_discovering: w.adapter.discovering,
            start_discovery_calls: w.adapter.start_discovery_calls,
            ..device
        }
    }

    fn with_device(&self, address: &str, f: impl FnOnce(&mut Device)) {
        let mut w = lock(&self.world);
        let device = w
            .devices
            .get_mut(&address.to_uppercase())
            .unwrap_or_else(|| panic!("unknown device {address}"));
        f(device);
    }
}

/// Puts a device and its GATT objects on the bus (`InterfacesAdded` for each).
async fn export_device(conn: &Connection, world: &SharedWorld, address: &str) {
    let (path, services) = {
        let mut w = lock(world);
        let Some(device) = w.devices.get_mut(address) else {
            return;
        };
        device.exported = true;
        (device.path(), device.services.clone())
    };
    let server = conn.object_server();
    let device = Device1 {
        world: world.clone(),
        address: address.to_string(),
    };
    server
        .at(path.as_str(), device)
        .await
        .expect("exporting a device");
    let device_path = ObjectPath::try_from(path.as_str()).expect("valid device path");
    for service in services {
        let service_path = ObjectPath::try_from(service.path.as_str()).expect("valid path");
        let iface = GattService1 {
            uuid: service.uuid.clone(),
            device_path: device_path.clone().into(),
        };
        server
            .at(service.path.as_str(), iface)
            .await
            .expect("exporting a service");
        for ch in service.chars {
            let iface = GattCharacteristic1 {
                world: world.clone(),
                address: address.to_string(),
                uuid: ch.uuid.clone(),
                flags: ch.flags.clone(),
                service_path: service_path.clone().into(),
            };
            server
                .at(ch.path.as_str(), iface)
                .await
                .expect("exporting a characteristic");
        }
    }
}

/// Object paths of a device, deepest first (zbus drops a node with all its children once its
/// last interface goes, so children must be removed first to get their signals).
fn exported_paths(device: &Device) -> Vec<String> {
    let mut paths = Vec::new();
    for service in &device.services {
        paths.extend(service.chars.iter().map(|c| c.path.clone()));
        paths.push(service.path.clone());
    }
    paths.push(device.path());
    paths
}

/// Removes a device's objects, emitting `InterfacesRemoved` for each.
async fn unexport_device(conn: &Connection, device: &Device) {
    remove_paths(conn, &exported_paths(device)).await;
}

async fn remove_paths(conn: &Connection, paths: &[String]) {
    let server = conn.object_server();
    for path in paths {
        let path = path.as_str();
        // Each path holds exactly one of these; the others answer "not found".
        let _ = server.remove::<GattCharacteristic1, _>(path).await;
        let _ = server.remove::<GattService1, _>(path).await;
        let _ = server.remove::<Device1, _>(path).await;
    }
}
