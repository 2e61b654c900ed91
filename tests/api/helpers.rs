//! Spawns the real `aranet-service` binary on port 0 with a fresh database and
//! gives tests typed handles: WebSocket and raw HTTP clients, logs, the
//! database, SIGTERM.
//!
//! Set `TEST_LOG=1` to see the server's log lines while tests run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aranet_service::db::models::{NewReading, Reading};
use diesel::prelude::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Upper bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(15);

/// Every simulated sensor kind, as in `[simulator] sensors`.
pub const ALL_KINDS: [&str; 4] = ["aranet4", "aranet2", "aranet_radiation", "aranet_radon"];

/// What goes into the test server's `config/server.toml`.
#[derive(Debug, Clone)]
pub struct Options {
    pub api_key: Option<String>,
    pub broadcast_buffer: usize,
    pub interval_ms: u64,
    pub sensors: Vec<&'static str>,
    pub ping_interval_ms: u64,
    pub client_timeout_ms: u64,
    /// More `[server]` keys, one per line.
    pub server_extra: String,
    /// Appended to the settings file, for sections of its own.
    pub extra_toml: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            api_key: None,
            broadcast_buffer: 100,
            interval_ms: 100,
            sensors: ALL_KINDS.to_vec(),
            ping_interval_ms: 30_000,
            client_timeout_ms: 90_000,
            server_extra: String::new(),
            extra_toml: String::new(),
        }
    }
}

impl Options {
    fn server_toml(&self) -> String {
        let key = self
            .api_key
            .as_ref()
            .map_or(String::new(), |k| format!("api_key = {k:?}\n"));
        let sensors: Vec<String> = self.sensors.iter().map(|s| format!("{s:?}")).collect();
        format!(
            "[server]\nbroadcast_buffer = {}\nping_interval_ms = {}\nclient_timeout_ms = {}\n{key}{}\
             [simulator]\ninterval_ms = {}\nsensors = [{}]\n{}",
            self.broadcast_buffer,
            self.ping_interval_ms,
            self.client_timeout_ms,
            self.server_extra,
            self.interval_ms,
            sensors.join(", "),
            self.extra_toml
        )
    }
}

/// A running server process.
pub struct TestApp {
    pub addr: SocketAddr,
    pub dir: Arc<TempDir>,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

/// Starts a server with a fresh working directory and database.
pub async fn spawn_app(options: &Options) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    spawn_in(dir, options).await
}

/// Starts a server in `dir`, reusing the database a previous server left there.
pub async fn spawn_in(dir: Arc<TempDir>, options: &Options) -> TestApp {
    spawn_bound(dir, "127.0.0.1:0", options).await
}

/// Starts a server in `dir` listening on `bind`.
pub async fn spawn_bound(dir: Arc<TempDir>, bind: &str, options: &Options) -> TestApp {
    let command = server_command(dir.path(), &["--bind", bind, "--simulate"]);
    launch(dir, &options.server_toml(), command).await
}

/// Starts a server on the Bluetooth backend, talking to the BlueZ on the
/// D-Bus at `bus_address`; `toml` is appended to its settings (for
/// `[[devices]]`).
pub async fn spawn_bluetooth(dir: Arc<TempDir>, bus_address: &str, toml: &str) -> TestApp {
    let mut command = server_command(dir.path(), &["--bind", "127.0.0.1:0"]);
    command.env("DBUS_SYSTEM_BUS_ADDRESS", bus_address);
    let settings = format!("[scanner]\nbackend = \"bluetooth\"\n{toml}");
    launch(dir, &settings, command).await
}

async fn launch(dir: Arc<TempDir>, server_toml: &str, mut command: Command) -> TestApp {
    std::fs::create_dir_all(dir.path().join("config")).expect("config dir");
    std::fs::write(dir.path().join("config/server.toml"), server_toml).expect("toml");
    let mut child = command.spawn().expect("spawn aranet-service");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("stderr");
    tokio::spawn(collect_lines(stderr, logs.clone()));
    let line = wait_for_line(&logs, "listening addr=").await;
    let addr = line
        .rsplit("addr=")
        .next()
        .and_then(|a| a.trim().parse().ok());
    TestApp {
        addr: addr.expect("listening address"),
        dir,
        child,
        logs,
    }
}

/// The binary, run in `dir` with a database there, logging at debug.
pub fn server_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aranet-service"));
    command
        .current_dir(dir)
        .args(["--database", "data/aranet.db"])
        .args(args)
        .env("RUST_LOG", "info,aranet_service=debug")
        .env_remove("ARANET__SERVER__API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn collect_lines(stderr: tokio::process::ChildStderr, logs: Arc<Mutex<Vec<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    let echo = std::env::var_os("TEST_LOG").is_some();
    while let Ok(Some(line)) = lines.next_line().await {
        if echo {
            eprintln!("server: {line}");
        }
        logs.lock().expect("logs").push(line);
    }
}

async fn wait_for_line(logs: &Arc<Mutex<Vec<String>>>, needle: &str) -> String {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let hit = logs
                .lock()
                .expect("logs")
                .iter()
                .find(|l| l.contains(needle))
                .cloned();
            if let Some(line) = hit {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let dump = || logs.lock().expect("logs").join("\n");
    match found.await {
        Ok(line) => line,
        Err(_) => panic!("no log line with {needle:?}; logs:\n{}", dump()),
    }
}

impl TestApp {
    pub fn url(&self, query: &str) -> String {
        format!("ws://{}/api/ws{query}", self.addr)
    }

    /// Connects a WebSocket client; panics unless the upgrade succeeds.
    pub async fn connect(&self, query: &str) -> Ws {
        let (ws, _) = connect_async(self.url(query))
            .await
            .expect("websocket connect");
        ws
    }

    /// Connects with extra request headers; returns the handshake error, if
    /// any.
    pub async fn connect_with(
        &self,
        query: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let mut request = self.url(query).into_client_request()?;
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, value.parse().expect("header value"));
        }
        connect_async(request).await.map(|(ws, _)| ws)
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("logs").clone()
    }

    /// Waits for a log line containing `needle`.
    pub async fn wait_for_log(&self, needle: &str) -> String {
        wait_for_line(&self.logs, needle).await
    }

    /// Waits for the `n`-th log line containing `needle` (1-based).
    pub async fn wait_for_log_count(&self, needle: &str, n: usize) -> String {
        let counted = tokio::time::timeout(WAIT * 2, async {
            loop {
                let hits: Vec<_> = self
                    .logs()
                    .into_iter()
                    .filter(|l| l.contains(needle))
                    .collect();
                if hits.len() >= n {
                    return hits[n - 1].clone();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        match counted.await {
            Ok(line) => line,
            Err(_) => panic!(
                "fewer than {n} log lines with {needle:?}; logs:\n{}",
                self.logs().join("\n")
            ),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    pub fn database_path(&self) -> PathBuf {
        self.dir.path().join("data/aranet.db")
    }

    /// Every stored reading, by id.
    pub fn stored_readings(&self) -> Vec<Reading> {
        let mut conn = aranet_service::db::open(&self.database_path()).expect("open db");
        diesel::sql_query("SELECT * FROM readings ORDER BY id")
            .load(&mut conn)
            .expect("query")
    }

    /// A handle that kills the process with SIGKILL, as a power cut would
    /// end it: no shutdown code runs.
    pub fn killer(&self) -> impl FnOnce() + Send + 'static {
        let pid = self.pid().to_string();
        move || {
            let status = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
            assert!(status.expect("kill").success());
        }
    }

    /// Waits for the process to end by itself (or by [`TestApp::killer`]).
    pub async fn wait_exit(mut self) -> (ExitStatus, Arc<TempDir>) {
        let exit = tokio::time::timeout(WAIT, self.child.wait()).await;
        (exit.expect("server exits").expect("wait"), self.dir)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn stop(mut self) -> (ExitStatus, Arc<TempDir>, Vec<String>) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        assert!(status.expect("kill").success());
        let exit = tokio::time::timeout(WAIT, self.child.wait()).await;
        let exit = exit.expect("server exits after SIGTERM").expect("wait");
        tokio::time::sleep(Duration::from_millis(50)).await; // let the log reader finish
        let logs = self.logs();
        (exit, self.dir, logs)
    }
}

/// The next text message as JSON, skipping control frames.
pub async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next()).await;
        match message
            .expect("a message in time")
            .expect("stream open")
            .expect("frame")
        {
            Message::Text(text) => return serde_json::from_str(&text).expect("json"),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

/// The next `count` messages.
pub async fn next_messages(ws: &mut Ws, count: usize) -> Vec<Value> {
    let mut messages = Vec::with_capacity(count);
    for _ in 0..count {
        messages.push(next_json(ws).await);
    }
    messages
}

pub fn reading_id(message: &Value) -> i64 {
    message["reading"]["id"].as_i64().expect("integer id")
}

pub async fn close(mut ws: Ws) {
    let _ = ws.send(Message::Close(None)).await;
}

/// A plain HTTP/1.1 GET; returns status and body.
pub async fn http_get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    http_request(addr, "GET", target, headers).await
}

/// A plain HTTP/1.1 request without a body; returns status and body.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let response = http_fetch(addr, method, target, headers).await;
    (response.status, response.body)
}

/// A GET whose answer must be 200 with a JSON body.
pub async fn get_json(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Value {
    let (status, body) = http_get(addr, target, headers).await;
    assert_eq!(status, 200, "GET {target}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {target}: {e}: {body}"))
}

/// An HTTP response: status, headers (names lower-case) and the body, with
/// chunked transfer encoding undone.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let found = self.headers.iter().find(|(n, _)| n == name);
        found.map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 request without a body.
pub async fn http_fetch(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Response {
    http_fetch_from([127, 0, 0, 1].into(), addr, method, target, headers).await
}

/// Like [`http_fetch`], from the loopback address `source` (any of
/// 127.0.0.0/8), as if from another client machine.
pub async fn http_fetch_from(
    source: std::net::IpAddr,
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Response {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind source");
    let mut stream = socket.connect(addr).await.expect("connect");
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n");
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("connection"))
    {
        request.push_str("Connection: close\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    // A server refusing a huge request may answer and close before reading
    // it all: the answer still counts.
    let _ = stream.write_all(request.as_bytes()).await;
    let response = tokio::time::timeout(WAIT, read_response(&mut stream)).await;
    let text = String::from_utf8_lossy(&response.expect("response in time")).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<_> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Response {
        status,
        headers,
        body,
    }
}

/// Everything up to the end of the stream, or just the head of a `101
/// Switching Protocols`, after which the connection stays open.
async fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut response = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => return response,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
            Err(err) if response.is_empty() => panic!("read: {err}"),
            Err(_) => return response,
        }
        let head_done = response.windows(4).any(|w| w == b"\r\n\r\n");
        if head_done && response.starts_with(b"HTTP/1.1 101") {
            return response;
        }
    }
}

/// The payload of a chunked body; panics on a body cut short (no last chunk).
fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").expect("chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return body;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

/// Starts a server on a fresh database holding `seed`.
pub async fn spawn_seeded(seed: &[NewReading], options: &Options) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    seed_readings(dir.path(), seed);
    spawn_in(dir, options).await
}

/// Readings to put into a database before a server starts on it.
pub fn seed_readings(dir: &Path, rows: &[NewReading]) {
    let path = dir.join("data/aranet.db");
    let mut conn = aranet_service::db::open(&path).expect("open db");
    aranet_service::db::migrate(&mut conn).expect("migrate");
    for row in rows {
        aranet_service::db::insert_reading(&mut conn, row).expect("insert");
    }
}

/// An Aranet4 row of `device` at `captured_at` with `co2`.
pub fn aranet4_row(device: &str, captured_at: &str, co2: i32) -> NewReading {
    NewReading {
        device_id: device.into(),
        co2: Some(co2),
        temperature: Some(21.5),
        humidity: Some(40.0),
        pressure: Some(1001.0),
        battery: Some(90),
        status: Some("Green".into()),
        captured_at: captured_at.into(),
        radon: None,
        radiation_rate: None,
        radiation_total: None,
    }
}
