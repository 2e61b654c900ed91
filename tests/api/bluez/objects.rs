//! The BlueZ D-Bus objects: `org.bluez.Adapter1`, `Device1`, `GattService1` and
//! `GattCharacteristic1`, served with zbus.
//!
//! Properties are read from the shared [`World`] on every call, so the object structs hold only
//! identities. Changes are announced with explicit `PropertiesChanged` signals (see
//! [`emit_changed`]) so that one signal can carry several properties, as BlueZ's do.
//!
//! zbus writes an object's `<interface>` elements before its child `<node>`s in `Introspect`,
//! which bluez-async's XML parser requires, so no custom introspection is needed.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use zbus::names::InterfaceName;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};
use zbus::{fdo, interface, Connection, DBusError};

use super::state::{ConnectOutcome, Device, GattFailure, World, ADAPTER_PATH};

pub(super) const ADAPTER_IFACE: &str = "org.bluez.Adapter1";
pub(super) const DEVICE_IFACE: &str = "org.bluez.Device1";

/// Errors as BlueZ names them.
#[derive(Debug, DBusError)]
#[zbus(prefix = "org.bluez.Error")]
pub(super) enum BluezError {
    #[zbus(error)]
    ZBus(zbus::Error),
    Failed(String),
    DoesNotExist(String),
}

pub(super) type SharedWorld = Arc<Mutex<World>>;

/// Locks the world; a panic elsewhere must not wedge the fake, so poisoning is ignored.
pub(super) fn lock(world: &SharedWorld) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|e| e.into_inner())
}

/// Emits `org.freedesktop.DBus.Properties.PropertiesChanged` for `path`.
pub(super) async fn emit_changed(
    conn: &Connection,
    path: &str,
    interface: &'static str,
    changed: HashMap<&str, Value<'_>>,
) -> zbus::Result<()> {
    let emitter = SignalEmitter::new(conn, path)?;
    fdo::Properties::properties_changed(
        &emitter,
        InterfaceName::from_static_str_unchecked(interface),
        changed,
        Cow::Borrowed(&[]),
    )
    .await
}

/// The `a{qv}` value of `ManufacturerData` (each inner variant holds `ay`).
pub(super) fn manufacturer_value(company: u16, data: &[u8]) -> HashMap<u16, OwnedValue> {
    let inner = OwnedValue::try_from(Value::from(data.to_vec())).expect("byte arrays hold no fds");
    HashMap::from([(company, inner)])
}

/// `org.bluez.Adapter1` at `/org/bluez/hci0`.
pub(super) struct Adapter1 {
    pub world: SharedWorld,
}

#[interface(name = "org.bluez.Adapter1")]
impl Adapter1 {
    async fn set_discovery_filter(&self, _filter: HashMap<String, OwnedValue>) {}

    async fn start_discovery(
        &self,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), BluezError> {
        let changed = {
            let mut w = lock(&self.world);
            w.adapter.start_discovery_calls += 1;
            !std::mem::replace(&mut w.adapter.discovering, true)
        };
        if changed {
            emit_changed(
                conn,
                ADAPTER_PATH,
                ADAPTER_IFACE,
                HashMap::from([("Discovering", Value::from(true))]),
            )
            .await?;
        }
        Ok(())
    }

    async fn stop_discovery(
        &self,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), BluezError> {
        if !std::mem::replace(&mut lock(&self.world).adapter.discovering, false) {
            // What BlueZ answers when this client has no discovery running.
            return Err(BluezError::Failed("No discovery started".into()));
        }
        emit_changed(
            conn,
            ADAPTER_PATH,
            ADAPTER_IFACE,
            HashMap::from([("Discovering", Value::from(false))]),
        )
        .await?;
        Ok(())
    }

    #[zbus(property)]
    fn address(&self) -> String {
        "00:1A:7D:DA:71:13".into()
    }

    #[zbus(property)]
    fn address_type(&self) -> String {
        "public".into()
    }

    #[zbus(property)]
    fn name(&self) -> String {
        "fakebluez".into()
    }

    #[zbus(property)]
    fn alias(&self) -> String {
        "fakebluez".into()
    }

    #[zbus(property)]
    fn modalias(&self) -> String {
        "usb:v1D6Bp0246d0541".into()
    }

    #[zbus(property)]
    fn powered(&self) -> bool {
        lock(&self.world).adapter.powered
    }

    #[zbus(property)]
    fn set_powered(&mut self, powered: bool) {
        lock(&self.world).adapter.powered = powered;
    }

    #[zbus(property)]
    fn discovering(&self) -> bool {
        lock(&self.world).adapter.discovering
    }

    #[zbus(property)]
    fn discoverable(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn pairable(&self) -> bool {
        true
    }

    #[zbus(property, name = "UUIDs")]
    fn uuids(&self) -> Vec<String> {
        Vec::new()
    }
}

/// `org.bluez.Device1` at `/org/bluez/hci0/dev_…`.
pub(super) struct Device1 {
    pub world: SharedWorld,
    pub address: String,
}

impl Device1 {
    /// Runs `f` on this device's state; errors if the device was forgotten.
    fn with<T>(&self, f: impl FnOnce(&mut Device) -> T) -> fdo::Result<T> {
        let mut w = lock(&self.world);
        let device = w
            .devices
            .get_mut(&self.address)
            .ok_or_else(|| fdo::Error::UnknownObject(self.address.clone()))?;
        Ok(f(device))
    }
}

#[interface(name = "org.bluez.Device1")]
impl Device1 {
    async fn connect(&self, #[zbus(connection)] conn: &Connection) -> Result<(), BluezError> {
        let (outcome, path) = self
            .with(|d| (d.connect(), d.path()))
            .map_err(|e| BluezError::DoesNotExist(e.to_string()))?;
        match outcome {
            ConnectOutcome::AlreadyConnected => Ok(()),
            ConnectOutcome::Failed => {
                Err(BluezError::Failed("le-connection-abort-by-local".into()))
            }
            ConnectOutcome::Connected { hang } => {
                let connected = HashMap::from([("Connected", Value::from(true))]);
                emit_changed(conn, &path, DEVICE_IFACE, connected).await?;
                if !hang {
                    let resolved = HashMap::from([("ServicesResolved", Value::from(true))]);
                    emit_changed(conn, &path, DEVICE_IFACE, resolved).await?;
                }
                Ok(())
            }
        }
    }

    async fn disconnect(&self, #[zbus(connection)] conn: &Connection) -> Result<(), BluezError> {
        let (was_connected, path) = self
            .with(|d| (d.disconnect(), d.path()))
            .map_err(|e| BluezError::DoesNotExist(e.to_string()))?;
        if was_connected {
            emit_disconnected(conn, &path).await?;
        }
        Ok(())
    }

    #[zbus(property)]
    fn address(&self) -> String {
        self.address.clone()
    }

    #[zbus(property)]
    fn address_type(&self) -> String {
        "public".into()
    }

    /// Absent (left out of `GetAll`) when the device sent no name.
    #[zbus(property)]
    fn name(&self) -> fdo::Result<String> {
        self.with(|d| d.name.clone())?
            .ok_or_else(|| fdo::Error::InvalidArgs("No such property 'Name'".into()))
    }

    /// BlueZ's alias is the name, or the address with dashes when there is none.
    #[zbus(property)]
    fn alias(&self) -> fdo::Result<String> {
        self.with(|d| {
            d.name
                .clone()
                .unwrap_or_else(|| d.address.replace(':', "-"))
        })
    }

    #[zbus(property)]
    fn adapter(&self) -> OwnedObjectPath {
        ObjectPath::from_static_str_unchecked(ADAPTER_PATH).into()
    }

    #[zbus(property)]
    fn paired(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn bonded(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn trusted(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn blocked(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn legacy_pairing(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn connected(&self) -> fdo::Result<bool> {
        self.with(|d| d.connected)
    }

    #[zbus(property)]
    fn services_resolved(&self) -> fdo::Result<bool> {
        self.with(|d| d.services_resolved)
    }

    #[zbus(property, name = "RSSI")]
    fn rssi(&self) -> fdo::Result<i16> {
        self.with(|d| d.rssi)?
            .ok_or_else(|| fdo::Error::InvalidArgs("No such property 'RSSI'".into()))
    }

    #[zbus(property, name = "UUIDs")]
    fn uuids(&self) -> fdo::Result<Vec<String>> {
        self.with(|d| d.uuids.clone())
    }

    #[zbus(property)]
    fn manufacturer_data(&self) -> fdo::Result<HashMap<u16, OwnedValue>> {
        self.with(|d| d.manufacturer_data.clone())?
            .map(|data| manufacturer_value(super::ARANET_COMPANY_ID, &data))
            .ok_or_else(|| fdo::Error::InvalidArgs("No such property 'ManufacturerData'".into()))
    }
}

/// Announces a lost connection the way BlueZ does.
pub(super) async fn emit_disconnected(conn: &Connection, device_path: &str) -> zbus::Result<()> {
    let changed = HashMap::from([
        ("ServicesResolved", Value::from(false)),
        ("Connected", Value::from(false)),
    ]);
    emit_changed(conn, device_path, DEVICE_IFACE, changed).await
}

/// `org.bluez.GattService1` at `…/dev_…/serviceXXXX`.
pub(super) struct GattService1 {
    pub uuid: String,
    pub device_path: OwnedObjectPath,
}

#[interface(name = "org.bluez.GattService1")]
impl GattService1 {
    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        self.uuid.clone()
    }

    #[zbus(property)]
    fn primary(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn device(&self) -> OwnedObjectPath {
        self.device_path.clone()
    }

    #[zbus(property)]
    fn includes(&self) -> Vec<OwnedObjectPath> {
        Vec::new()
    }
}

/// `org.bluez.GattCharacteristic1` at `…/serviceXXXX/charYYYY`.
pub(super) struct GattCharacteristic1 {
    pub world: SharedWorld,
    pub address: String,
    pub uuid: String,
    pub flags: Vec<String>,
    pub service_path: OwnedObjectPath,
}

impl GattCharacteristic1 {
    /// Turns a failed GATT call into BlueZ's error, announcing a dropped link first.
    async fn fail(&self, conn: &Connection, failure: GattFailure) -> BluezError {
        if let GattFailure::ConnectionDropped = failure {
            let path = super::state::device_path(&self.address);
            if let Err(e) = emit_disconnected(conn, &path).await {
                return e.into();
            }
        }
        BluezError::Failed("Not connected".into())
    }
}

#[interface(name = "org.bluez.GattCharacteristic1")]
impl GattCharacteristic1 {
    async fn read_value(
        &self,
        _options: HashMap<String, OwnedValue>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<Vec<u8>, BluezError> {
        let result = {
            let mut w = lock(&self.world);
            match w.devices.get_mut(&self.address) {
                Some(d) => d.read_value(&self.uuid),
                None => Err(GattFailure::NotConnected),
            }
        };
        match result {
            Ok(value) => Ok(value),
            Err(failure) => Err(self.fail(conn, failure).await),
        }
    }

    async fn write_value(
        &self,
        value: Vec<u8>,
        _options: HashMap<String, OwnedValue>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), BluezError> {
        let result = {
            let mut w = lock(&self.world);
            match w.devices.get_mut(&self.address) {
                Some(d) => d.write_value(&self.uuid, value),
                None => Err(GattFailure::NotConnected),
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(failure) => Err(self.fail(conn, failure).await),
        }
    }

    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        self.uuid.clone()
    }

    #[zbus(property)]
    fn service(&self) -> OwnedObjectPath {
        self.service_path.clone()
    }

    #[zbus(property)]
    fn flags(&self) -> Vec<String> {
        self.flags.clone()
    }

    #[zbus(property, name = "MTU")]
    fn mtu(&self) -> u16 {
        247
    }
}
