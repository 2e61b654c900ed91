//! Settings: built-in defaults < settings file < `ARANET__…` environment < CLI
//! flags.
//!
//! Every key is checked: an unknown key or a bad value is one error naming key,
//! value and where it came from, so a typo in `server.toml` never silently
//! falls back to a default.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat, Map, Value, ValueKind};
use serde::{Deserialize, Serialize};

/// Settings file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_PATH: &str = "config/server.toml";
const ENV_PREFIX: &str = "ARANET";
const ENV_SEPARATOR: &str = "__";
const CLI_ORIGIN: &str = "command line";
/// Shorter keys can be guessed.
const MIN_API_KEY_CHARS: usize = 16;
/// A century; beyond it a typo is likelier than intent.
const MAX_RETENTION_DAYS: u32 = 36_500;
/// Readings a storage outage may hold in memory (about 300 bytes each).
const MAX_QUEUE_SIZE: usize = 1_000_000;

/// Command-line values that override every other source.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub bind: Option<String>,
    pub database: Option<PathBuf>,
    pub simulate: bool,
}

/// Validated settings of a running service.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub database_path: PathBuf,
    pub storage: StorageSettings,
    pub backend: Backend,
    /// Bluetooth adapter to use (`hci0`); `None` = the first.
    pub adapter: Option<String>,
    /// `[[devices]]`: when any are listed, only these sensors are used.
    pub devices: Vec<DeviceSettings>,
    pub simulator: SimulatorSettings,
    /// The settings file that was read, if any.
    pub file: Option<PathBuf>,
}

/// HTTP and WebSocket settings (`[server]`).
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `bind` as written, for messages.
    pub bind: String,
    /// `bind` resolved.
    pub address: SocketAddr,
    pub broadcast_buffer: usize,
    pub api_key: Option<String>,
    /// `None`: the server sends no pings and closes no silent client.
    pub ping_interval: Option<Duration>,
    pub client_timeout: Duration,
    /// WebSocket sessions open at once; more are refused with 503.
    pub max_sessions: usize,
    /// Browser origins (`http://host:port`) allowed to open `/api/ws`; `None`
    /// allows any.
    pub allowed_origins: Option<Vec<String>>,
}

/// What is kept, and for how long (`[storage]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// Readings older than this many days are deleted; `None` keeps all.
    pub retention_days: Option<u32>,
    /// Readings held in memory while the database refuses writes.
    pub queue_size: usize,
}

/// Where sensor frames come from (`[scanner] backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Real sensors through BlueZ (btleplug).
    Bluetooth,
    /// Simulated sensors that emit real Aranet advertisement frames.
    Simulated,
}

/// How a sensor is read (`[[devices]] mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMode {
    /// From advertisements when they carry readings, else over GATT.
    Auto,
    /// Advertisements only; never connect.
    Passive,
    /// Connect and read after each measurement.
    Active,
}

/// One `[[devices]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSettings {
    /// Bluetooth address, upper case `AA:BB:CC:DD:EE:FF`.
    pub address: String,
    /// Used as `device_id` instead of the advertised name.
    pub name: Option<String>,
    pub mode: DeviceMode,
}

/// The sensor kinds the simulator can imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimulatedKind {
    Aranet4,
    Aranet2,
    Radiation,
    Radon,
}

/// Simulated sensors (`[simulator]`).
#[derive(Debug, Clone)]
pub struct SimulatorSettings {
    pub interval: Duration,
    pub sensors: Vec<SimulatedKind>,
}

/// Why the settings could not be used; each variant renders as one line.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot load settings: {0}")]
    Load(String),
    #[error("unknown setting `{key}` = {value} in {origin}")]
    UnknownKey {
        key: String,
        value: String,
        origin: String,
    },
    #[error("invalid setting `{key}` = {value} in {origin}: {reason}")]
    Invalid {
        key: String,
        value: String,
        origin: String,
        reason: String,
    },
}

impl From<config::ConfigError> for SettingsError {
    /// Keeps the message on one line (TOML syntax errors come with a snippet).
    fn from(err: config::ConfigError) -> Self {
        let text = err.to_string();
        SettingsError::Load(text.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// The file format of the settings, before validation; field names are the
/// keys.
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct RawSettings {
    server: RawServer,
    database: RawDatabase,
    storage: RawStorage,
    scanner: RawScanner,
    simulator: RawSimulator,
    devices: Vec<RawDevice>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct RawServer {
    bind: String,
    broadcast_buffer: i64,
    api_key: Option<String>,
    ping_interval_ms: i64,
    client_timeout_ms: i64,
    max_sessions: i64,
    #[serde(deserialize_with = "list_or_commas")]
    allowed_origins: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct RawDatabase {
    path: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct RawStorage {
    retention_days: i64,
    queue_size: i64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct RawScanner {
    backend: String,
    adapter: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    address: String,
    name: Option<String>,
    #[serde(default = "auto_mode")]
    mode: String,
}

fn auto_mode() -> String {
    "auto".into()
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct RawSimulator {
    interval_ms: i64,
    #[serde(deserialize_with = "list_or_commas")]
    sensors: Vec<String>,
}

/// A list, or (from the environment) one comma-separated string.
fn list_or_commas<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }
    Ok(match ListOrText::deserialize(de)? {
        ListOrText::List(items) => items,
        ListOrText::Text(text) if text.trim().is_empty() => Vec::new(),
        ListOrText::Text(text) => text.split(',').map(|s| s.trim().to_owned()).collect(),
    })
}

impl Default for RawSettings {
    fn default() -> Self {
        Self {
            server: RawServer::default(),
            database: RawDatabase {
                path: "data/aranet.db".into(),
            },
            storage: RawStorage {
                retention_days: 0,
                queue_size: 10_000,
            },
            scanner: RawScanner {
                backend: "bluetooth".into(),
                adapter: String::new(),
            },
            simulator: RawSimulator {
                interval_ms: 2000,
                sensors: ["aranet4", "aranet2", "aranet_radiation", "aranet_radon"]
                    .map(String::from)
                    .to_vec(),
            },
            devices: Vec::new(),
        }
    }
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            broadcast_buffer: 100,
            api_key: None,
            ping_interval_ms: 30_000,
            client_timeout_ms: 90_000,
            max_sessions: 100,
            allowed_origins: Vec::new(),
        }
    }
}

impl Default for RawDatabase {
    fn default() -> Self {
        RawSettings::default().database
    }
}

impl Default for RawStorage {
    fn default() -> Self {
        RawSettings::default().storage
    }
}

impl Default for RawScanner {
    fn default() -> Self {
        RawSettings::default().scanner
    }
}

impl Default for RawSimulator {
    fn default() -> Self {
        RawSettings::default().simulator
    }
}

impl Settings {
    /// Loads the settings from the file, the process environment and
    /// `overrides`.
    pub fn load(overrides: &Overrides) -> Result<Self, SettingsError> {
        Self::load_with_env(overrides, None)
    }

    /// Like [`Settings::load`], with the environment given as a map (for
    /// tests).
    pub fn load_with_env(
        overrides: &Overrides,
        env: Option<Map<String, String>>,
    ) -> Result<Self, SettingsError> {
        let file = settings_file(overrides);
        let config = build_config(file.as_deref(), overrides, env)?;
        reject_unknown_keys(&config)?;
        let raw: RawSettings = config.clone().try_deserialize()?;
        Validator { config: &config }.validate(raw, file)
    }

    /// Settings with every default, for tests and tools.
    pub fn defaults() -> Self {
        let config = Config::default();
        let validator = Validator { config: &config };
        match validator.validate(RawSettings::default(), None) {
            Ok(settings) => settings,
            Err(err) => unreachable!("built-in defaults are valid: {err}"),
        }
    }
}

fn settings_file(overrides: &Overrides) -> Option<PathBuf> {
    let default = Path::new(DEFAULT_CONFIG_PATH);
    match &overrides.config_file {
        Some(path) => Some(path.clone()),
        None if default.is_file() => Some(default.to_path_buf()),
        None => None,
    }
}

fn build_config(
    file: Option<&Path>,
    overrides: &Overrides,
    env: Option<Map<String, String>>,
) -> Result<Config, SettingsError> {
    let mut builder = Config::builder();
    if let Some(path) = file {
        builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
    }
    // Values stay strings (no `try_parsing`): that would turn an API key
    // `007` into the number 7. Numbers are parsed when deserialized.
    let environment = Environment::with_prefix(ENV_PREFIX)
        .prefix_separator(ENV_SEPARATOR)
        .separator(ENV_SEPARATOR)
        .source(env);
    builder = builder.add_source(environment);
    if let Some(bind) = &overrides.bind {
        builder = builder.set_override("server.bind", bind.as_str())?;
    }
    if let Some(path) = &overrides.database {
        builder = builder.set_override("database.path", path.to_string_lossy().as_ref())?;
    }
    if overrides.simulate {
        builder = builder.set_override("scanner.backend", "simulated")?;
    }
    Ok(builder.build()?)
}

/// Every leaf key of the default settings, like `server.bind`.
fn known_keys() -> Vec<String> {
    let mut keys = Vec::new();
    if let Ok(tree) = serde_json::to_value(RawSettings::default()) {
        collect_json_keys(&tree, String::new(), &mut keys);
    }
    keys
}

fn collect_json_keys(node: &serde_json::Value, prefix: String, keys: &mut Vec<String>) {
    match node {
        serde_json::Value::Object(map) => {
            for (name, child) in map {
                collect_json_keys(child, join_key(&prefix, name), keys);
            }
        }
        _ => keys.push(prefix),
    }
}

fn join_key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn reject_unknown_keys(config: &Config) -> Result<(), SettingsError> {
    match &config.cache.kind {
        ValueKind::Table(table) => check_table(table, "", &known_keys()),
        _ => Ok(()),
    }
}

/// The value at a dotted `key`, with its origin (`Config::get` would drop the
/// origin).
fn lookup<'a>(config: &'a Config, key: &str) -> Option<&'a Value> {
    key.split('.')
        .try_fold(&config.cache, |node, name| match &node.kind {
            ValueKind::Table(table) => table.get(name),
            _ => None,
        })
}

fn check_table(
    table: &Map<String, Value>,
    prefix: &str,
    known: &[String],
) -> Result<(), SettingsError> {
    for (name, value) in table {
        let key = join_key(prefix, name);
        match &value.kind {
            ValueKind::Table(child) if known.iter().any(|k| k.starts_with(&format!("{key}."))) => {
                check_table(child, &key, known)?;
            }
            ValueKind::Array(entries) if key == "devices" => check_devices(entries)?,
            _ if known.contains(&key) => {}
            _ => {
                return Err(SettingsError::UnknownKey {
                    value: show_value(value),
                    origin: show_origin(value),
                    key,
                })
            }
        }
    }
    Ok(())
}

/// Fields of a `[[devices]]` entry.
const DEVICE_KEYS: [&str; 3] = ["address", "name", "mode"];

fn check_devices(entries: &[Value]) -> Result<(), SettingsError> {
    for (i, entry) in entries.iter().enumerate() {
        let ValueKind::Table(fields) = &entry.kind else {
            continue; // not a table: deserializing says so
        };
        if let Some((name, value)) = fields
            .iter()
            .find(|(n, _)| !DEVICE_KEYS.contains(&n.as_str()))
        {
            return Err(SettingsError::UnknownKey {
                key: format!("devices[{i}].{name}"),
                value: show_value(value),
                origin: show_origin(value),
            });
        }
    }
    Ok(())
}

fn show_value(value: &Value) -> String {
    match &value.kind {
        ValueKind::String(text) => format!("{text:?}"),
        _ => value.to_string(),
    }
}

fn show_origin(value: &Value) -> String {
    value.origin().unwrap_or(CLI_ORIGIN).to_owned()
}

/// Turns raw values into typed settings, naming the origin of any bad value.
struct Validator<'a> {
    config: &'a Config,
}

impl Validator<'_> {
    fn validate(&self, raw: RawSettings, file: Option<PathBuf>) -> Result<Settings, SettingsError> {
        Ok(Settings {
            server: self.server(raw.server)?,
            database_path: self.database_path(raw.database.path)?,
            storage: self.storage(raw.storage)?,
            backend: self.backend(&raw.scanner.backend)?,
            adapter: self.adapter(raw.scanner.adapter)?,
            devices: self.devices(raw.devices)?,
            simulator: self.simulator(raw.simulator)?,
            file,
        })
    }

    fn server(&self, raw: RawServer) -> Result<ServerSettings, SettingsError> {
        let address = self.bind_address(&raw.bind)?;
        let ping_interval = match raw.ping_interval_ms {
            0 => None,
            ms => Some(self.millis("server.ping_interval_ms", ms)?),
        };
        let client_timeout = self.millis("server.client_timeout_ms", raw.client_timeout_ms)?;
        if ping_interval.is_some_and(|ping| client_timeout <= ping) {
            let reason = "must be longer than server.ping_interval_ms";
            return Err(self.invalid("server.client_timeout_ms", reason));
        }
        Ok(ServerSettings {
            broadcast_buffer: self.positive("server.broadcast_buffer", raw.broadcast_buffer)?,
            api_key: self.api_key(raw.api_key)?,
            max_sessions: self.positive("server.max_sessions", raw.max_sessions)?,
            allowed_origins: self.origins(raw.allowed_origins)?,
            bind: raw.bind,
            address,
            ping_interval,
            client_timeout,
        })
    }

    fn bind_address(&self, bind: &str) -> Result<SocketAddr, SettingsError> {
        let mut addrs = bind
            .to_socket_addrs()
            .map_err(|err| self.invalid("server.bind", &format!("not an address: {err}")))?;
        addrs
            .next()
            .ok_or_else(|| self.invalid("server.bind", "resolves to no address"))
    }

    fn api_key(&self, key: Option<String>) -> Result<Option<String>, SettingsError> {
        match key {
            Some(key) if key.is_empty() => Ok(None),
            Some(key) if key.trim() != key || key.chars().any(char::is_control) => Err(self
                .invalid_secret(
                    "server.api_key",
                    "must not contain spaces at either end or control characters",
                )),
            Some(key) if key.chars().count() < MIN_API_KEY_CHARS => {
                let reason = format!("must be at least {MIN_API_KEY_CHARS} characters long");
                Err(self.invalid_secret("server.api_key", &reason))
            }
            other => Ok(other),
        }
    }

    fn origins(&self, origins: Vec<String>) -> Result<Option<Vec<String>>, SettingsError> {
        if origins.is_empty() {
            return Ok(None);
        }
        let mut normalised = Vec::with_capacity(origins.len());
        for (i, origin) in origins.iter().enumerate() {
            let Some(origin) = normalise_origin(origin) else {
                let reason = "expected an origin like \"http://192.168.1.5:8080\" \
                              (scheme, host and optional port; no path)";
                let key = format!("server.allowed_origins[{i}]");
                return Err(self.invalid_item("server.allowed_origins", &key, origin, reason));
            };
            normalised.push(origin);
        }
        Ok(Some(normalised))
    }

    fn database_path(&self, path: String) -> Result<PathBuf, SettingsError> {
        if path.trim().is_empty() {
            return Err(self.invalid("database.path", "must not be empty"));
        }
        if path.trim() == ":memory:" || path.starts_with("file::memory:") {
            let reason = "must be a file: an in-memory database would be lost";
            return Err(self.invalid("database.path", reason));
        }
        Ok(PathBuf::from(path))
    }

    fn storage(&self, raw: RawStorage) -> Result<StorageSettings, SettingsError> {
        let days = u32::try_from(raw.retention_days)
            .ok()
            .filter(|d| *d <= MAX_RETENTION_DAYS);
        let Some(days) = days else {
            let reason = format!("must be 0 (keep everything) to {MAX_RETENTION_DAYS} days");
            return Err(self.invalid("storage.retention_days", &reason));
        };
        let queue_size = self.positive("storage.queue_size", raw.queue_size)?;
        if queue_size > MAX_QUEUE_SIZE {
            let reason = format!("must be at most {MAX_QUEUE_SIZE}");
            return Err(self.invalid("storage.queue_size", &reason));
        }
        Ok(StorageSettings {
            retention_days: (days > 0).then_some(days),
            queue_size,
        })
    }

    fn backend(&self, name: &str) -> Result<Backend, SettingsError> {
        match name {
            "bluetooth" => Ok(Backend::Bluetooth),
            "simulated" => Ok(Backend::Simulated),
            _ => Err(self.invalid("scanner.backend", "expected \"bluetooth\" or \"simulated\"")),
        }
    }

    fn adapter(&self, name: String) -> Result<Option<String>, SettingsError> {
        let valid = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match name.as_str() {
            "" => Ok(None),
            _ if valid => Ok(Some(name)),
            _ => Err(self.invalid("scanner.adapter", "expected an adapter name like \"hci0\"")),
        }
    }

    fn devices(&self, raw: Vec<RawDevice>) -> Result<Vec<DeviceSettings>, SettingsError> {
        let mut devices: Vec<DeviceSettings> = Vec::with_capacity(raw.len());
        for (i, entry) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("devices[{i}].{field}");
            let address = entry.address.trim().to_ascii_uppercase();
            if !is_bluetooth_address(&address) {
                let reason = "expected a Bluetooth address like \"AA:BB:CC:DD:EE:FF\"";
                return Err(self.invalid_entry(&key("address"), &entry.address, reason));
            }
            if devices.iter().any(|d| d.address == address) {
                return Err(self.invalid_entry(&key("address"), &entry.address, "listed twice"));
            }
            if entry.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
                return Err(self.invalid_entry(&key("name"), "", "must not be empty"));
            }
            let mode = match entry.mode.as_str() {
                "auto" => DeviceMode::Auto,
                "passive" => DeviceMode::Passive,
                "active" => DeviceMode::Active,
                other => {
                    let reason = "expected \"auto\", \"passive\" or \"active\"";
                    return Err(self.invalid_entry(&key("mode"), other, reason));
                }
            };
            devices.push(DeviceSettings {
                address,
                name: entry.name,
                mode,
            });
        }
        Ok(devices)
    }

    fn simulator(&self, raw: RawSimulator) -> Result<SimulatorSettings, SettingsError> {
        let sensors = raw
            .sensors
            .iter()
            .map(|name| self.simulated_kind(name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SimulatorSettings {
            interval: self.millis("simulator.interval_ms", raw.interval_ms)?,
            sensors,
        })
    }

    fn simulated_kind(&self, name: &str) -> Result<SimulatedKind, SettingsError> {
        match name {
            "aranet4" => Ok(SimulatedKind::Aranet4),
            "aranet2" => Ok(SimulatedKind::Aranet2),
            "aranet_radiation" => Ok(SimulatedKind::Radiation),
            "aranet_radon" => Ok(SimulatedKind::Radon),
            _ => Err(self.invalid(
                "simulator.sensors",
                &format!(
                    "unknown sensor {name:?}, expected \"aranet4\", \"aranet2\", \
                     \"aranet_radiation\" or \"aranet_radon\""
                ),
            )),
        }
    }

    fn millis(&self, key: &str, value: i64) -> Result<Duration, SettingsError> {
        let millis = u64::try_from(value).ok().filter(|&ms| ms > 0);
        let reason = match key {
            "server.ping_interval_ms" => "must be 0 (off) or a positive number of milliseconds",
            _ => "must be a positive number of milliseconds",
        };
        millis
            .map(Duration::from_millis)
            .ok_or_else(|| self.invalid(key, reason))
    }

    fn positive(&self, key: &str, value: i64) -> Result<usize, SettingsError> {
        let count = usize::try_from(value).ok().filter(|&n| n > 0);
        count.ok_or_else(|| self.invalid(key, "must be at least 1"))
    }

    /// Like [`Validator::invalid`], for a value inside a list (whose origin
    /// the config crate does not keep per element).
    fn invalid_entry(&self, key: &str, value: &str, reason: &str) -> SettingsError {
        self.invalid_item("devices", key, value, reason)
    }

    fn invalid_item(&self, list: &str, key: &str, value: &str, reason: &str) -> SettingsError {
        let list = lookup(self.config, list);
        SettingsError::Invalid {
            key: key.to_owned(),
            value: format!("{value:?}"),
            origin: list.map_or_else(|| "defaults".into(), show_origin),
            reason: reason.to_owned(),
        }
    }

    /// Like [`Validator::invalid`], without showing the value.
    fn invalid_secret(&self, key: &str, reason: &str) -> SettingsError {
        let value = lookup(self.config, key);
        SettingsError::Invalid {
            key: key.to_owned(),
            value: "(hidden)".into(),
            origin: value.map_or_else(|| "defaults".into(), show_origin),
            reason: reason.to_owned(),
        }
    }

    fn invalid(&self, key: &str, reason: &str) -> SettingsError {
        let value = lookup(self.config, key);
        SettingsError::Invalid {
            key: key.to_owned(),
            value: value.map_or_else(|| "(default)".into(), show_value),
            origin: value.map_or_else(|| "defaults".into(), show_origin),
            reason: reason.to_owned(),
        }
    }
}

/// `scheme://host[:port]` in lower case, as browsers send it in `Origin`;
/// `None` for anything else.
fn normalise_origin(text: &str) -> Option<String> {
    let lower = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://")?;
    let host_ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    let port_ok = match rest.rsplit_once(':') {
        Some((_, port)) if !rest.ends_with(']') => port.parse::<u16>().is_ok(),
        _ => true,
    };
    (matches!(scheme, "http" | "https") && host_ok && port_ok).then_some(lower)
}

/// `AA:BB:CC:DD:EE:FF`, upper-case hex.
fn is_bluetooth_address(text: &str) -> bool {
    let parts: Vec<_> = text.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The config crate names a file relative to the working directory.
    fn file_name(file: &tempfile::NamedTempFile) -> String {
        file.path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    fn write_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    fn load(file: Option<&Path>, env: &[(&str, &str)], cli: Overrides) -> Result<Settings, String> {
        let overrides = Overrides {
            config_file: file.map(Path::to_path_buf),
            ..cli
        };
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with_env(&overrides, Some(env)).map_err(|e| e.to_string())
    }

    #[test]
    fn committed_server_toml_holds_exactly_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_PATH);
        let from_file = load(Some(&path), &[], Overrides::default()).unwrap();
        let defaults = Settings::defaults();
        assert_eq!(
            format!("{:?}", from_file.server),
            format!("{:?}", defaults.server)
        );
        assert_eq!(from_file.database_path, defaults.database_path);
        assert_eq!(
            format!("{:?}", from_file.simulator),
            format!("{:?}", defaults.simulator)
        );
    }

    #[test]
    fn environment_beats_file_and_cli_beats_environment() {
        let file = write_file("[server]\nbind = \"127.0.0.1:1000\"\nbroadcast_buffer = 5\n");
        let env = [
            ("ARANET__SERVER__BIND", "127.0.0.1:2000"),
            ("ARANET__SERVER__BROADCAST_BUFFER", "7"),
        ];
        let settings = load(Some(file.path()), &env, Overrides::default()).unwrap();
        assert_eq!(settings.server.bind, "127.0.0.1:2000");
        assert_eq!(settings.server.broadcast_buffer, 7);
        let cli = Overrides {
            bind: Some("127.0.0.1:3000".into()),
            ..Overrides::default()
        };
        let settings = load(Some(file.path()), &env, cli).unwrap();
        assert_eq!(settings.server.bind, "127.0.0.1:3000");
    }

    #[test]
    fn sensor_list_can_come_from_the_environment() {
        let env = [("ARANET__SIMULATOR__SENSORS", "aranet4,aranet4,aranet_radon")];
        let settings = load(None, &env, Overrides::default()).unwrap();
        let kinds = [
            SimulatedKind::Aranet4,
            SimulatedKind::Aranet4,
            SimulatedKind::Radon,
        ];
        assert_eq!(settings.simulator.sensors, kinds);
    }

    #[test]
    fn unknown_key_names_key_value_and_file() {
        let file = write_file("[server]\nbnd = \"0.0.0.0:1\"\n");
        let err = load(Some(file.path()), &[], Overrides::default()).unwrap_err();
        assert!(err.contains("`server.bnd`"), "{err}");
        assert!(err.contains("\"0.0.0.0:1\""), "{err}");
        assert!(err.contains(&file_name(&file)), "{err}");
    }

    #[test]
    fn unknown_environment_key_is_rejected() {
        let err = load(
            None,
            &[("ARANET__SERVER__BINDD", "x")],
            Overrides::default(),
        )
        .unwrap_err();
        assert!(err.contains("`server.bindd`"), "{err}");
    }

    #[test]
    fn zero_broadcast_buffer_is_rejected_with_its_origin() {
        let file = write_file("[server]\nbroadcast_buffer = 0\n");
        let err = load(Some(file.path()), &[], Overrides::default()).unwrap_err();
        assert!(err.contains("`server.broadcast_buffer` = 0"), "{err}");
        assert!(err.contains(&file_name(&file)), "{err}");
    }

    #[test]
    fn wrongly_typed_value_names_key_and_file() {
        let file = write_file("[server]\nbroadcast_buffer = \"lots\"\n");
        let err = load(Some(file.path()), &[], Overrides::default()).unwrap_err();
        assert!(err.contains("server.broadcast_buffer"), "{err}");
        assert!(err.contains("lots"), "{err}");
        assert!(err.contains(&file_name(&file)), "{err}");
    }

    #[test]
    fn bad_bind_from_the_command_line_says_so() {
        let cli = Overrides {
            bind: Some("nowhere".into()),
            ..Overrides::default()
        };
        let err = load(None, &[], cli).unwrap_err();
        assert!(
            err.contains("`server.bind` = \"nowhere\" in command line"),
            "{err}"
        );
    }

    #[test]
    fn unknown_simulated_sensor_is_rejected() {
        let file = write_file("[simulator]\nsensors = [\"aranet4\", \"aranet9\"]\n");
        let err = load(Some(file.path()), &[], Overrides::default()).unwrap_err();
        assert!(err.contains("aranet9"), "{err}");
    }

    #[test]
    fn zero_ping_interval_turns_server_pings_off() {
        let file = write_file("[server]\nping_interval_ms = 0\nclient_timeout_ms = 1\n");
        let settings = load(Some(file.path()), &[], Overrides::default()).unwrap();
        assert_eq!(settings.server.ping_interval, None);
    }

    #[test]
    fn api_key_from_the_environment_is_kept_verbatim() {
        for key in [
            "0070000000000000",
            "True1e3True1e3Tr",
            "12345678901234567890123",
        ] {
            let env = [("ARANET__SERVER__API_KEY", key)];
            let settings = load(None, &env, Overrides::default()).unwrap();
            assert_eq!(settings.server.api_key.as_deref(), Some(key));
        }
    }

    #[test]
    fn devices_are_listed_with_address_alias_and_mode() {
        let file = write_file(
            "[[devices]]\naddress = \"aa:bb:cc:dd:ee:01\"\nname = \"Kitchen\"\nmode = \"active\"\n\
             [[devices]]\naddress = \"AA:BB:CC:DD:EE:02\"\n",
        );
        let settings = load(Some(file.path()), &[], Overrides::default()).unwrap();
        let first = &settings.devices[0];
        assert_eq!(first.address, "AA:BB:CC:DD:EE:01");
        assert_eq!(first.name.as_deref(), Some("Kitchen"));
        assert_eq!(first.mode, DeviceMode::Active);
        assert_eq!(settings.devices[1].mode, DeviceMode::Auto);
        assert_eq!(settings.backend, Backend::Bluetooth);
    }

    #[test]
    fn bad_device_entries_name_the_entry_and_file() {
        for (entry, expect) in [
            ("address = \"AA:BB\"", "`devices[0].address` = \"AA:BB\""),
            (
                "address = \"AA:BB:CC:DD:EE:FF\"\nmode = \"loud\"",
                "`devices[0].mode`",
            ),
            ("adress = \"AA:BB:CC:DD:EE:FF\"", "adress"),
        ] {
            let file = write_file(&format!("[[devices]]\n{entry}\n"));
            let err = load(Some(file.path()), &[], Overrides::default()).unwrap_err();
            assert!(err.contains(expect), "{err}");
            assert!(err.contains(&file_name(&file)), "{err}");
        }
    }

    #[test]
    fn odd_adapter_name_is_rejected() {
        let err = load(
            None,
            &[("ARANET__SCANNER__ADAPTER", "hci0; rm")],
            Overrides::default(),
        )
        .unwrap_err();
        assert!(err.contains("`scanner.adapter`"), "{err}");
    }

    #[test]
    fn storage_retention_and_queue_are_checked() {
        let file = write_file("[storage]\nretention_days = 30\nqueue_size = 50\n");
        let settings = load(Some(file.path()), &[], Overrides::default()).unwrap();
        let expected = StorageSettings {
            retention_days: Some(30),
            queue_size: 50,
        };
        assert_eq!(settings.storage, expected);
        assert_eq!(Settings::defaults().storage.retention_days, None);
        for (text, key) in [
            ("retention_days = -1", "`storage.retention_days` = -1"),
            (
                "retention_days = 100000",
                "`storage.retention_days` = 100000",
            ),
            ("queue_size = 0", "`storage.queue_size` = 0"),
            ("queue_size = 2000000", "`storage.queue_size` = 2000000"),
        ] {
            let file = write_file(&format!("[storage]\n{text}\n"));
            let err = load(Some(file.path()), &[], Overrides::default()).unwrap_err();
            assert!(err.contains(key), "{err}");
            assert!(err.contains(&file_name(&file)), "{err}");
        }
    }

    #[test]
    fn a_short_api_key_is_refused_without_showing_it() {
        let file = write_file("[server]\napi_key = \"tooshort-secret\"\n");
        let err = load(Some(file.path()), &[], Overrides::default()).unwrap_err();
        assert!(err.contains("`server.api_key` = (hidden)"), "{err}");
        assert!(err.contains("at least 16 characters"), "{err}");
        assert!(!err.contains("tooshort-secret"), "{err}");
    }

    #[test]
    fn allowed_origins_are_normalised_and_checked() {
        let env = [(
            "ARANET__SERVER__ALLOWED_ORIGINS",
            "HTTP://Pi.local:8080/, https://[::1]:8443",
        )];
        let settings = load(None, &env, Overrides::default()).unwrap();
        let expected = ["http://pi.local:8080", "https://[::1]:8443"].map(String::from);
        assert_eq!(settings.server.allowed_origins, Some(expected.to_vec()));
        for bad in [
            "pi.local:8080",
            "ftp://pi",
            "http://pi/dashboard",
            "http://pi:99999",
        ] {
            let file = write_file(&format!("[server]\nallowed_origins = [{bad:?}]\n"));
            let err = load(Some(file.path()), &[], Overrides::default()).unwrap_err();
            assert!(err.contains("server.allowed_origins[0]"), "{bad}: {err}");
        }
    }

    #[test]
    fn max_sessions_must_be_positive() {
        let file = write_file("[server]\nmax_sessions = 0\n");
        let err = load(Some(file.path()), &[], Overrides::default()).unwrap_err();
        assert!(err.contains("`server.max_sessions` = 0"), "{err}");
    }

    #[test]
    fn every_invalid_setting_is_one_line_naming_its_key() {
        let cases = [
            ("[server]\nbind = \"localhost:http\"", "server.bind"),
            ("[server]\nbind = \"127.0.0.1:99999\"", "server.bind"),
            ("[server]\nbroadcast_buffer = -5", "server.broadcast_buffer"),
            (
                "[server]\napi_key = \" padded-key-0123456789 \"",
                "server.api_key",
            ),
            ("[server]\napi_key = \"short\"", "server.api_key"),
            ("[server]\nping_interval_ms = -1", "server.ping_interval_ms"),
            (
                "[server]\nclient_timeout_ms = 0",
                "server.client_timeout_ms",
            ),
            (
                "[server]\nping_interval_ms = 5000\nclient_timeout_ms = 5000",
                "server.client_timeout_ms",
            ),
            ("[server]\nmax_sessions = 0", "server.max_sessions"),
            (
                "[server]\nallowed_origins = [\"*\"]",
                "server.allowed_origins[0]",
            ),
            ("[server]\nlisten = 1", "server.listen"),
            ("[database]\npath = \"\"", "database.path"),
            ("[database]\npath = \":memory:\"", "database.path"),
            (
                "[storage]\nretention_days = \"forever\"",
                "storage.retention_days",
            ),
            ("[storage]\nqueue_size = 0", "storage.queue_size"),
            ("[scanner]\nbackend = \"usb\"", "scanner.backend"),
            ("[scanner]\nadapter = \"hci 0\"", "scanner.adapter"),
            ("[simulator]\ninterval_ms = 0", "simulator.interval_ms"),
            ("[simulator]\nsensors = [\"aranet5\"]", "simulator.sensors"),
            ("[[devices]]\naddress = \"nope\"", "devices[0].address"),
            (
                "[[devices]]\naddress = \"AA:BB:CC:DD:EE:FF\"\nname = \" \"",
                "devices[0].name",
            ),
            (
                "[[devices]]\naddress = \"AA:BB:CC:DD:EE:FF\"\nmode = \"loud\"",
                "devices[0].mode",
            ),
            ("[logging]\nlevel = \"debug\"", "logging"),
        ];
        for (toml, key) in cases {
            let file = write_file(&format!("{toml}\n"));
            let err = load(Some(file.path()), &[], Overrides::default()).unwrap_err();
            assert!(!err.contains('\n'), "{toml}: one line, got {err:?}");
            assert!(err.contains(key), "{toml}: names {key}: {err}");
        }
    }

    #[test]
    fn empty_api_key_means_open() {
        let file = write_file("[server]\napi_key = \"\"\n");
        let settings = load(Some(file.path()), &[], Overrides::default()).unwrap();
        assert_eq!(settings.server.api_key, None);
    }
}
