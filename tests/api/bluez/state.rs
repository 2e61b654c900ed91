//! The fake's state, shared by the public API and the D-Bus objects.
//!
//! Everything here is plain data behind one `std::sync::Mutex`; the lock is never held across
//! an `.await`. The D-Bus objects in `objects.rs` read and change it and emit the signals.

use std::collections::{BTreeMap, HashMap};

use super::{aranet_uuid, normalize_uuid, Fault, History, SensorSpec, Stats};

/// Object path of the one adapter.
pub(super) const ADAPTER_PATH: &str = "/org/bluez/hci0";
/// Aranet's primary service (firmware >= 1.2.0).
pub(super) const ARANET_SERVICE: &str = "0000fce0-0000-1000-8000-00805f9b34fb";
/// Device Information service and its string characteristics.
pub(super) const DEVICE_INFO_SERVICE: &str = "0000180a-0000-1000-8000-00805f9b34fb";
const MODEL_NUMBER: &str = "00002a24-0000-1000-8000-00805f9b34fb";
const SERIAL_NUMBER: &str = "00002a25-0000-1000-8000-00805f9b34fb";
const FIRMWARE_REVISION: &str = "00002a26-0000-1000-8000-00805f9b34fb";
/// The largest History V2 packet (header included) the fake sends, like a 247-byte ATT MTU.
const HISTORY_PACKET_MAX: usize = 240;
/// Length of the History V2 packet header.
const HISTORY_HEADER_LEN: usize = 10;

#[derive(Default)]
pub(super) struct World {
    pub adapter: AdapterState,
    /// Known devices by upper-case address. A device stays known while BlueZ is stopped or the
    /// adapter is removed; `exported` says whether its objects are on the bus.
    pub devices: BTreeMap<String, Device>,
    /// Whether the fake currently owns `org.bluez`.
    pub running: bool,
}

#[derive(Default)]
pub(super) struct AdapterState {
    /// Whether `/org/bluez/hci0` is exported.
    pub present: bool,
    pub powered: bool,
    pub discovering: bool,
    pub start_discovery_calls: u32,
}

impl AdapterState {
    /// The state BlueZ comes up with.
    pub(super) fn fresh() -> Self {
        Self {
            present: true,
            powered: true,
            ..Self::default()
        }
    }
}

/// One GATT service object.
#[derive(Clone)]
pub(super) struct ServiceDef {
    pub path: String,
    pub uuid: String,
    pub chars: Vec<CharDef>,
}

/// One GATT characteristic object.
#[derive(Clone)]
pub(super) struct CharDef {
    pub path: String,
    pub uuid: String,
    pub flags: Vec<String>,
}

/// One-shot faults waiting for the operation they affect.
#[derive(Default)]
struct Faults {
    disconnect_on_next_read: bool,
    truncate_next_read: Option<usize>,
    fail_next_connect: bool,
    connect_hangs: bool,
}

/// Why a GATT call fails.
pub(super) enum GattFailure {
    /// The device was not connected.
    NotConnected,
    /// A fault dropped the connection during the call: the caller must announce
    /// `Connected = false` and `ServicesResolved = false`.
    ConnectionDropped,
}

/// What `Connect()` does.
pub(super) enum ConnectOutcome {
    /// Was already connected: nothing changes.
    AlreadyConnected,
    /// Connected; services resolve unless `hang`.
    Connected { hang: bool },
    /// The connection attempt fails.
    Failed,
}

pub(super) struct Device {
    pub address: String,
    pub name: Option<String>,
    pub rssi: Option<i16>,
    pub manufacturer_data: Option<Vec<u8>>,
    pub uuids: Vec<String>,
    pub connected: bool,
    pub services_resolved: bool,
    pub exported: bool,
    pub services: Vec<ServiceDef>,
    /// Characteristic values by normalized UUID.
    values: HashMap<String, Vec<u8>>,
    history: Option<History>,
    /// History V2 selection: (param, 1-based start index).
    history_cursor: (u8, u16),
    faults: Faults,
    stats: Stats,
}

impl Device {
    pub(super) fn new(spec: SensorSpec) -> Self {
        let address = spec.address.to_uppercase();
        let path = device_path(&address);
        let mut values = HashMap::new();
        // BlueZ names handles in hex; the numbers only have to be unique within the device.
        let mut handle = 0x000a_u16;
        let mut services = Vec::new();
        let mut add_service = |uuid: &str, chars: Vec<(String, Vec<u8>)>| {
            let service_path = format!("{path}/service{handle:04x}");
            handle += 1;
            let mut defs = Vec::new();
            for (uuid, value) in chars {
                let uuid = normalize_uuid(&uuid);
                defs.push(CharDef {
                    path: format!("{service_path}/char{handle:04x}"),
                    flags: vec!["read".into(), "write".into()],
                    uuid: uuid.clone(),
                });
                // Declaration and value handle, as on a real device.
                handle += 2;
                values.insert(uuid, value);
            }
            services.push(ServiceDef {
                path: service_path,
                uuid: uuid.to_string(),
                chars: defs,
            });
        };
        add_service(ARANET_SERVICE, spec.characteristics);
        let info: Vec<(String, Vec<u8>)> = [
            (MODEL_NUMBER, spec.model),
            (SERIAL_NUMBER, spec.serial),
            (FIRMWARE_REVISION, spec.firmware),
        ]
        .into_iter()
        .filter_map(|(uuid, text)| text.map(|t| (uuid.to_string(), t.into_bytes())))
        .collect();
        if !info.is_empty() {
            add_service(DEVICE_INFO_SERVICE, info);
        }

        Self {
            address,
            name: spec.name,
            rssi: Some(spec.rssi),
            manufacturer_data: spec.manufacturer_data,
            uuids: spec
                .service_uuids
                .iter()
                .map(|u| normalize_uuid(u))
                .collect(),
            connected: false,
            services_resolved: false,
            exported: false,
            services,
            values,
            history: None,
            history_cursor: (0, 1),
            faults: Faults::default(),
            stats: Stats::default(),
        }
    }

    pub(super) fn path(&self) -> String {
        device_path(&self.address)
    }

    pub(super) fn stats(&self) -> Stats {
        Stats {
            known: true,
            exported: self.exported,
            connected: self.connected,
            ..self.stats.clone()
        }
    }

    pub(super) fn set_value(&mut self, uuid: &str, value: Vec<u8>) {
        self.values.insert(normalize_uuid(uuid), value);
    }

    pub(super) fn set_history(&mut self, history: History) {
        self.history = Some(history);
    }

    pub(super) fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::DisconnectOnNextRead => self.faults.disconnect_on_next_read = true,
            Fault::TruncateNextRead(keep) => self.faults.truncate_next_read = Some(keep),
            Fault::FailNextConnect => self.faults.fail_next_connect = true,
            Fault::ConnectHangs => self.faults.connect_hangs = true,
        }
    }

    /// Forgets the connection, as when BlueZ or the adapter goes away.
    pub(super) fn reset_link(&mut self) {
        self.connected = false;
        self.services_resolved = false;
        self.exported = false;
    }

    pub(super) fn connect(&mut self) -> ConnectOutcome {
        self.stats.connect_attempts += 1;
        if std::mem::take(&mut self.faults.fail_next_connect) {
            return ConnectOutcome::Failed;
        }
        if self.connected {
            return ConnectOutcome::AlreadyConnected;
        }
        let hang = std::mem::take(&mut self.faults.connect_hangs);
        self.connected = true;
        self.services_resolved = !hang;
        self.stats.connects += 1;
        ConnectOutcome::Connected { hang }
    }

    /// Returns whether the device was connected.
    pub(super) fn disconnect(&mut self) -> bool {
        self.stats.disconnects += 1;
        let was = self.connected;
        self.connected = false;
        self.services_resolved = false;
        was
    }

    pub(super) fn read_value(&mut self, uuid: &str) -> Result<Vec<u8>, GattFailure> {
        *self.stats.reads.entry(uuid.to_string()).or_default() += 1;
        if !self.connected {
            return Err(GattFailure::NotConnected);
        }
        if std::mem::take(&mut self.faults.disconnect_on_next_read) {
            self.connected = false;
            self.services_resolved = false;
            return Err(GattFailure::ConnectionDropped);
        }
        let mut value = self.current_value(uuid);
        if let Some(keep) = self.faults.truncate_next_read.take() {
            value.truncate(keep);
        }
        Ok(value)
    }

    pub(super) fn write_value(&mut self, uuid: &str, value: Vec<u8>) -> Result<(), GattFailure> {
        self.stats.writes.push((uuid.to_string(), value.clone()));
        if !self.connected {
            return Err(GattFailure::NotConnected);
        }
        // History V2 request: 61 PP SS SS (param, 1-based start u16LE) on the command
        // characteristic selects what the next read of f0cd2005 returns.
        if uuid == aranet_uuid(0x1402) && value.len() >= 4 && value[0] == 0x61 {
            self.history_cursor = (value[1], u16::from_le_bytes([value[2], value[3]]));
        } else {
            self.values.insert(uuid.to_string(), value);
        }
        Ok(())
    }

    /// The value a read returns now; reading History V2 advances the cursor.
    fn current_value(&mut self, uuid: &str) -> Vec<u8> {
        if let Some(history) = &self.history {
            let derived = match uuid {
                u if u == aranet_uuid(0x2001) => Some(history.total()),
                u if u == aranet_uuid(0x2002) => Some(history.interval_s),
                u if u == aranet_uuid(0x2004) => Some(history.age_s),
                _ => None,
            };
            if let Some(v) = derived {
                return v.to_le_bytes().to_vec();
            }
            if uuid == aranet_uuid(0x2005) {
                let (param, start) = self.history_cursor;
                let (packet, count) = history.packet(param, start);
                self.history_cursor.1 = start.saturating_add(count.into());
                return packet;
            }
        }
        self.values.get(uuid).cloned().unwrap_or_default()
    }
}

impl History {
    /// Number of readings stored: the longest parameter's record count.
    pub(super) fn total(&self) -> u16 {
        let longest = self.params.values().map(Vec::len).max().unwrap_or(0);
        u16::try_from(longest).unwrap_or(u16::MAX)
    }

    /// One History V2 packet for `param` from 1-based index `start`, and its record count.
    ///
    /// Layout: `param u8 | interval u16 | total u16 | age u16 | start u16 | count u8`, then
    /// `count` records, as many whole ones as fit in the packet.
    fn packet(&self, param: u8, start: u16) -> (Vec<u8>, u8) {
        let records: &[Vec<u8>] = self.params.get(&param).map_or(&[], Vec::as_slice);
        let first = usize::from(start.max(1)) - 1;
        let mut body = Vec::new();
        let mut count = 0_u8;
        for record in records.iter().skip(first) {
            if HISTORY_HEADER_LEN + body.len() + record.len() > HISTORY_PACKET_MAX
                || count == u8::MAX
            {
                break;
            }
            body.extend_from_slice(record);
            count += 1;
        }
        let mut packet = Vec::with_capacity(HISTORY_HEADER_LEN + body.len());
        packet.push(param);
        packet.extend_from_slice(&self.interval_s.to_le_bytes());
        packet.extend_from_slice(&self.total().to_le_bytes());
        packet.extend_from_slice(&self.age_s.to_le_bytes());
        packet.extend_from_slice(&start.to_le_bytes());
        packet.push(count);
        packet.extend_from_slice(&body);
        (packet, count)
    }
}

/// `/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF` for `AA:BB:CC:DD:EE:FF`.
pub(super) fn device_path(address: &str) -> String {
    format!(
        "{ADAPTER_PATH}/dev_{}",
        address.to_uppercase().replace(':', "_")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> History {
        History {
            interval_s: 300,
            age_s: 42,
            params: HashMap::from([(1, (1..=300_u16).map(|i| i.to_le_bytes().to_vec()).collect())]),
        }
    }

    #[test]
    fn history_packets_page_through_records() {
        let h = history();
        let (p, count) = h.packet(1, 1);
        assert_eq!(count, 115); // (240 - 10) / 2
        assert_eq!(&p[..10], &[1, 44, 1, 44, 1, 42, 0, 1, 0, 115]);
        assert_eq!(&p[10..12], &[1, 0]);
        let (p, count) = h.packet(1, 231);
        assert_eq!(count, 70);
        assert_eq!(&p[7..9], &231_u16.to_le_bytes());
        assert_eq!(h.packet(1, 301).1, 0);
        assert_eq!(h.packet(4, 1).1, 0);
    }
}
