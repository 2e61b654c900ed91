//! Builds the whole service (database, actors, HTTP server) and runs it until a
//! signal.
//!
//! `build` binds the listener, so callers (and tests, with port 0) learn the
//! real address before `run` starts serving. Shutdown stops the radio first,
//! lets persistence finish every pending write, then closes sessions with 1001
//! after their queued messages.

use std::any::Any;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Addr};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use socket2::{SockRef, TcpKeepalive};

use crate::actors::archive::Archive;
use crate::actors::persistence::{Flush, Persistence};
use crate::actors::registry::{CloseAll, Registry};
use crate::actors::scanner::{Scanner, ScannerLinks, StopScanning};
use crate::actors::session::KeepAlive;
use crate::db::{self, models::Reading};
use crate::metrics::Metrics;
use crate::radio::{bluetooth::BluetoothRadio, simulated::SimulatedRadio, Radio};
use crate::settings::{Backend, Settings};
use crate::web::{self as routes, AppState};

/// The HTTP layer polls a response body only while its write buffer is below
/// this, so a WebSocket session's frames wait in its bounded outbox, not in an
/// unbounded buffer.
const WRITE_BUFFER_BYTES: usize = 1;
/// Kernel send buffer of every connection. Linux otherwise grows it to
/// megabytes on loopback-sized segments, where a stalled client's backlog would
/// pile up unseen.
const SOCKET_SEND_BUFFER_BYTES: usize = 16 * 1024;
/// TCP keep-alive finds peers that vanished without a word (power cut, Wi-Fi
/// gone) even with WebSocket pings off: idle time, then probes and their count.
const TCP_KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const TCP_KEEPALIVE_PROBES: u32 = 3;
/// How long shutdown waits for sessions to receive their queued messages.
const SESSION_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the HTTP server then waits for connections to finish.
const CONNECTION_SHUTDOWN_SECS: u64 = 5;
const FLUSH_POLL: Duration = Duration::from_millis(20);

/// A built service, listening but not yet serving.
pub struct Application {
    address: SocketAddr,
    server: Server,
    actors: Actors,
}

struct Actors {
    scanner: Addr<Scanner>,
    persistence: Addr<Persistence>,
    registry: Addr<Registry>,
    archive: Addr<Archive>,
    metrics: Arc<Metrics>,
}

impl Application {
    /// Opens and migrates the database, starts the actors and binds the
    /// listener. Must run inside an actix system.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let (latest, rows) = prepare_database(&settings.database_path)?;
        let metrics = Arc::new(Metrics::new(rows));
        let path = &settings.database_path;
        let registry = Registry::new(latest.clone()).start();
        let persistence = Persistence::start(
            path.clone(),
            settings.storage.clone(),
            registry.clone(),
            metrics.clone(),
        );
        let links = ScannerLinks {
            persistence: persistence.clone(),
            registry: registry.clone(),
            metrics: metrics.clone(),
        };
        let scanner = Scanner::new(
            radio(&settings),
            links,
            settings.devices.clone(),
            capture_times(&latest),
        );
        let actors = Actors {
            scanner: scanner.start(),
            persistence,
            registry,
            archive: Archive::start(path.clone()),
            metrics,
        };
        let listener = TcpListener::bind(settings.server.address)
            .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
        let address = listener.local_addr()?;
        let server = http_server(listener, app_state(&settings, &actors))?;
        log::info!("listening addr={address}");
        if !address.ip().is_loopback() && settings.server.api_key.is_none() {
            log::warn!(
                "listening beyond this machine without an API key addr={address} \
                 (anyone who can reach it reads your sensors; set [server] api_key)"
            );
        }
        Ok(Self {
            address,
            server,
            actors,
        })
    }

    /// The address the server listens on (the real port when 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until SIGINT or SIGTERM, then shuts down in order.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        survive_file_size_limit()?;
        let handle = self.server.handle();
        let mut server = actix_rt::spawn(self.server);
        tokio::select! {
            result = &mut server => return Ok(result??),
            signal = shutdown_signal() => log::info!("shutting down signal={}", signal?),
        }
        shutdown(&self.actors, &handle).await;
        server.await??;
        log::info!("stopped");
        Ok(())
    }
}

/// Migrates; returns the latest reading of each device and the row count.
fn prepare_database(path: &Path) -> anyhow::Result<(Vec<Reading>, i64)> {
    let mut conn = db::open(path)?;
    let applied = db::migrate(&mut conn)?;
    if !applied.is_empty() {
        log::info!("migrations applied versions={}", applied.join(","));
    }
    let count = db::count_readings(&mut conn)?;
    log::info!("database path={} readings={count}", path.display());
    Ok((db::latest_per_device(&mut conn)?, count))
}

/// When each device's latest stored reading was captured.
fn capture_times(latest: &[Reading]) -> HashMap<String, DateTime<Utc>> {
    let parse = |r: &Reading| DateTime::parse_from_rfc3339(&r.captured_at).ok();
    let times = latest
        .iter()
        .filter_map(|r| Some((r.device_id.clone(), parse(r)?.to_utc())));
    times.collect()
}

fn radio(settings: &Settings) -> Box<dyn Radio> {
    match settings.backend {
        Backend::Bluetooth => Box::new(BluetoothRadio::new(settings.adapter.clone())),
        Backend::Simulated => Box::new(SimulatedRadio::new(settings.simulator.clone())),
    }
}

fn app_state(settings: &Settings, actors: &Actors) -> web::Data<AppState> {
    web::Data::new(AppState {
        registry: actors.registry.clone(),
        archive: actors.archive.clone(),
        scanner: actors.scanner.clone(),
        metrics: actors.metrics.clone(),
        api_key: settings.server.api_key.clone(),
        auth_failures: Default::default(),
        allowed_origins: settings.server.allowed_origins.clone(),
        max_sessions: settings.server.max_sessions,
        sessions_open: Default::default(),
        broadcast_buffer: settings.server.broadcast_buffer,
        keep_alive: KeepAlive {
            ping_interval: settings.server.ping_interval,
            client_timeout: settings.server.client_timeout,
        },
        next_session: AtomicU64::new(1),
    })
}

fn http_server(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let unacknowledged_limit = state.keep_alive.client_timeout;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(routes::limit_request_head))
            .wrap(routes::request_logger())
            .configure(routes::routes)
    })
    .h1_write_buffer_size(WRITE_BUFFER_BYTES)
    // Close as soon as a response ends instead of lingering for the client to
    // hang up first: WebSocket peers wait for the server to close (RFC 6455
    // §7.1.1), and sessions end their body only after the closing handshake.
    .client_disconnect_timeout(Duration::ZERO)
    .on_connect(move |connection, _| tune_socket(connection, unacknowledged_limit))
    .disable_signals()
    .shutdown_timeout(CONNECTION_SHUTDOWN_SECS)
    .listen(listener)?;
    Ok(server.run())
}

/// Caps the kernel send buffer and makes the kernel drop peers that vanished
/// (keep-alive) or stopped reading: with `TCP_USER_TIMEOUT`, data that stays
/// unacknowledged or unsent behind a zero window for `unacknowledged_limit`
/// ends the connection, which no WebSocket close frame could do any more.
fn tune_socket(connection: &dyn Any, unacknowledged_limit: Duration) {
    let Some(stream) = connection.downcast_ref::<actix_rt::net::TcpStream>() else {
        return;
    };
    let socket = SockRef::from(stream);
    let keepalive = TcpKeepalive::new()
        .with_time(TCP_KEEPALIVE_IDLE)
        .with_interval(TCP_KEEPALIVE_INTERVAL)
        .with_retries(TCP_KEEPALIVE_PROBES);
    let tuned = socket
        .set_send_buffer_size(SOCKET_SEND_BUFFER_BYTES)
        .and_then(|()| socket.set_tcp_keepalive(&keepalive))
        .and_then(|()| socket.set_tcp_user_timeout(Some(unacknowledged_limit)));
    if let Err(err) = tuned {
        log::warn!("cannot tune connection socket error={err}");
    }
}

/// A write past the file size limit (`ulimit -f`) raises SIGXFSZ, which ends
/// the process by default. Handled, the write fails with `EFBIG` instead, and
/// readings wait in the storage queue as on a full disk.
fn survive_file_size_limit() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut limit = signal(SignalKind::from_raw(libc::SIGXFSZ))?;
    actix_rt::spawn(async move {
        while limit.recv().await.is_some() {
            log::debug!("file size limit reached");
        }
    });
    Ok(())
}

async fn shutdown_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = interrupt.recv() => Ok("SIGINT"),
        _ = terminate.recv() => Ok("SIGTERM"),
    }
}

async fn shutdown(actors: &Actors, handle: &ServerHandle) {
    // Mailbox errors only mean an actor already stopped; shutdown carries on
    // regardless.
    let _ = actors.scanner.send(StopScanning).await;
    let _ = actors.persistence.send(Flush).await;
    let outboxes = actors.registry.send(CloseAll).await.unwrap_or_default();
    let deadline = Instant::now() + SESSION_FLUSH_TIMEOUT;
    while outboxes.iter().any(|o| !o.is_finished()) && Instant::now() < deadline {
        actix_rt::time::sleep(FLUSH_POLL).await;
    }
    let unfinished = outboxes.iter().filter(|o| !o.is_finished()).count();
    log::info!(
        "sessions closed count={} unflushed={unfinished}",
        outboxes.len()
    );
    handle.stop(true).await;
}
