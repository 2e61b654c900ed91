//! A private D-Bus bus (broker), run in-process with the pure-Rust `busd` crate.
//!
//! `busd` runs on its own runtime (`zruntime`), not on tokio, so the bus gets a dedicated
//! thread. Clients (libdbus in btleplug, zbus in the fake) reach it through a Unix socket file
//! and authenticate with EXTERNAL, exactly as with the system bus.

use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use futures_util::future::select;
use tokio::sync::oneshot;

/// A running bus; dropping it stops the bus and removes its socket file.
pub(super) struct PrivateBus {
    address: String,
    path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl PrivateBus {
    /// Starts a bus listening on the socket file `path`, or on a fresh file in the temporary
    /// directory when `path` is `None`. An existing file at `path` is replaced.
    pub(super) async fn start(path: Option<PathBuf>) -> Result<Self, String> {
        let path = path.unwrap_or_else(unique_socket_path);
        // A stale socket from an earlier run would make the bind fail.
        let _ = std::fs::remove_file(&path);
        let address = format!("unix:path={}", path.display());

        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let listen = address.clone();
        let thread = std::thread::Builder::new()
            .name("fakebluez-bus".into())
            .spawn(move || {
                zruntime::block_on(async move {
                    let mut bus = match busd::bus::Bus::for_address(Some(&listen)).await {
                        Ok(bus) => bus,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("busd on {listen}: {e:#}")));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    {
                        // Runs until told to stop (or the handle is dropped), or the bus fails.
                        let run = pin!(bus.run());
                        select(run, stop_rx).await;
                    }
                    let _ = bus.cleanup().await;
                })
            })
            .map_err(|e| format!("spawning the bus thread: {e}"))?;

        ready_rx
            .await
            .map_err(|_| "the bus thread ended before it was ready".to_string())??;
        Ok(Self {
            address,
            path,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address clients connect to, e.g. `unix:path=/tmp/fakebluez-123-0.sock`.
    pub(super) fn address(&self) -> &str {
        &self.address
    }

    /// The socket file the bus listens on.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The bus stops at its next poll; this takes well under a millisecond.
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A socket path that no other bus of this or another process uses.
fn unique_socket_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("fakebluez-{}-{n}.sock", std::process::id()))
}
