//! The WebSocket session actor: one per connection.
//!
//! It reads the client's frames, keeps the connection alive, and joins the
//! registry's fan-out, after replaying stored readings when it resumes
//! (`?since=`). Everything it sends goes through its bounded [`Outbox`],
//! which the HTTP response body drains; the actor's own mailbox carries no
//! readings.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_codec::Decoder;
use actix_http::ws::{CloseCode, CloseReason, Codec, Frame, ProtocolError};
use actix_web::web::{Bytes, BytesMut, Payload};
use futures_core::Stream;

use super::archive::{Archive, FetchAfter};
use super::registry::{reading_frame, JoinLive, Registry, Subscribe, Unsubscribe};
use crate::error::Error;
use crate::fanout::{Outbox, Pushed};

/// Largest client frame accepted; clients have nothing large to say.
const MAX_CLIENT_FRAME: usize = 16 * 1024;
/// Client frames a session may send in a burst, and per second after it:
/// clients have little to say (a ping every few seconds), and a flood would
/// take worker time from every other session.
const CLIENT_FRAME_BURST: f64 = 100.0;
const CLIENT_FRAMES_PER_SECOND: f64 = 10.0;

/// Most readings a replay reads from the database at once (fewer when the
/// outbox is smaller).
const REPLAY_PAGE: usize = 500;

/// Connection settings for one session.
#[derive(Debug, Clone, Copy)]
pub struct KeepAlive {
    /// How often the server pings.
    pub ping_interval: Option<Duration>,
    /// How long the peer may stay silent before the server gives up on it.
    pub client_timeout: Duration,
}

/// One of `[server] max_sessions`, held for the life of a session.
#[derive(Debug)]
pub struct SessionSlot(Arc<AtomicUsize>);

impl SessionSlot {
    /// A slot from `open`, unless `max` are taken.
    pub fn take(open: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| SessionSlot(open.clone()))
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a session is made of.
pub struct SessionSetup {
    pub slot: SessionSlot,
    pub outbox: Arc<Outbox>,
    pub registry: Addr<Registry>,
    pub archive: Addr<Archive>,
    /// Only these devices, or every device when `None`.
    pub devices: Option<HashSet<String>>,
    /// Replay the stored readings with a larger id first, instead of the
    /// snapshot.
    pub since: Option<i32>,
    pub peer: String,
    pub keep_alive: KeepAlive,
}

/// One WebSocket connection.
pub struct Session {
    setup: SessionSetup,
    last_heard: Instant,
    /// Client frames it may still send now; refilled over time.
    frame_budget: f64,
    budget_updated: Instant,
}

impl Session {
    /// Starts a session reading frames from `payload` and sending through
    /// its outbox.
    pub fn start(setup: SessionSetup, payload: Payload) -> Addr<Self> {
        Session::create(move |ctx| {
            ctx.add_stream(ClientFrames::new(payload));
            Session {
                setup,
                last_heard: Instant::now(),
                frame_budget: CLIENT_FRAME_BURST,
                budget_updated: Instant::now(),
            }
        })
    }

    fn id(&self) -> u64 {
        self.setup.outbox.session()
    }

    fn check_alive(&mut self, ctx: &mut Context<Self>) {
        if self.last_heard.elapsed() > self.setup.keep_alive.client_timeout {
            log::info!(
                "session timed out session={} peer={}",
                self.id(),
                self.setup.peer
            );
            let reason = CloseReason::from((CloseCode::Away, "idle timeout"));
            self.close_now(reason, ctx);
        } else {
            self.setup.outbox.ping(b"");
        }
    }

    /// Sends a close frame ahead of anything queued and ends the connection
    /// after it, without waiting for an answer.
    fn close_now(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        self.setup.outbox.close(reason, false);
        self.setup.outbox.end();
        ctx.stop();
    }

    fn start_replay(&mut self, since: i32, ctx: &mut Context<Self>) {
        let replay = Replay {
            outbox: self.setup.outbox.clone(),
            archive: self.setup.archive.clone(),
            registry: self.setup.registry.clone(),
            devices: self
                .setup
                .devices
                .as_ref()
                .map(|d| d.iter().cloned().collect()),
        };
        let run = replay.run(since).into_actor(self);
        ctx.spawn(run.map(|result, session, ctx| {
            if let Err(err) = result {
                // The client resumes from what it got when it reconnects.
                log::warn!("replay failed session={} error={err}", session.id());
                let reason = CloseReason::from((CloseCode::Error, "replay failed"));
                session.close_now(reason, ctx);
            }
        }));
    }

    /// Spends one frame of the budget; false when the client floods.
    fn within_budget(&mut self) -> bool {
        let now = Instant::now();
        let earned =
            now.duration_since(self.budget_updated).as_secs_f64() * CLIENT_FRAMES_PER_SECOND;
        self.frame_budget = (self.frame_budget + earned).min(CLIENT_FRAME_BURST) - 1.0;
        self.budget_updated = now;
        self.frame_budget >= 0.0
    }

    fn received(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        if !self.within_budget() {
            log::warn!(
                "client floods frames, closing session={} peer={}",
                self.id(),
                self.setup.peer
            );
            let reason = CloseReason::from((CloseCode::Policy, "too many messages"));
            return self.close_now(reason, ctx);
        }
        match frame {
            Frame::Ping(payload) => self.setup.outbox.pong(&payload),
            Frame::Pong(_) => {}
            Frame::Text(_) | Frame::Binary(_) | Frame::Continuation(_) => {
                // The API is one-way; clients that send keep-alive texts are
                // tolerated.
                log::debug!("client message ignored session={}", self.id());
            }
            Frame::Close(reason) => {
                // Echo the peer's code, or end our own closing handshake.
                let code = reason.map_or(CloseCode::Normal, |r| r.code);
                self.close_now(code.into(), ctx);
            }
        }
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let devices = self
            .setup
            .devices
            .as_ref()
            .map_or("all".into(), |d| d.len().to_string());
        let since = self.setup.since.map_or("none".into(), |id| id.to_string());
        log::info!(
            "session opened session={} peer={} devices={devices} since={since}",
            self.id(),
            self.setup.peer
        );
        self.setup.registry.do_send(Subscribe {
            outbox: self.setup.outbox.clone(),
            devices: self.setup.devices.clone(),
            replaying: self.setup.since.is_some(),
        });
        if let Some(since) = self.setup.since {
            self.start_replay(since, ctx);
        }
        if let Some(interval) = self.setup.keep_alive.ping_interval {
            ctx.run_interval(interval, Self::check_alive);
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.setup
            .registry
            .do_send(Unsubscribe { session: self.id() });
        self.setup.outbox.close(CloseCode::Normal.into(), false);
        self.setup.outbox.end();
        log::info!(
            "session closed session={} peer={} dropped={}",
            self.id(),
            self.setup.peer,
            self.setup.outbox.dropped()
        );
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for Session {
    fn handle(&mut self, item: Result<Frame, ProtocolError>, ctx: &mut Context<Self>) {
        match item {
            Ok(frame) => self.received(frame, ctx),
            Err(err) => {
                log::warn!("bad client frame session={} error={err}", self.id());
                let code = match err {
                    ProtocolError::Overflow => CloseCode::Size,
                    _ => CloseCode::Protocol,
                };
                self.close_now(CloseReason::from((code, err.to_string())), ctx);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Sends the stored readings after an id, then joins the live stream.
struct Replay {
    outbox: Arc<Outbox>,
    archive: Addr<Archive>,
    registry: Addr<Registry>,
    devices: Option<Vec<String>>,
}

impl Replay {
    /// Pages through the database, waiting for the client to take each
    /// reading before it queues another, so the outbox never drops one.
    async fn run(self, since: i32) -> Result<(), Error> {
        let limit = self.outbox.capacity().min(REPLAY_PAGE);
        let mut after = since;
        loop {
            let fetch = FetchAfter {
                after,
                devices: self.devices.clone(),
                limit: limit as i64,
            };
            let page = self.archive.send(fetch).await??;
            let last_page = page.readings.len() < limit;
            for reading in &page.readings {
                self.outbox.wait_for_room().await;
                if self.outbox.push(reading_frame(reading)) == Pushed::Gone {
                    return Ok(());
                }
                after = reading.id;
            }
            if !last_page {
                continue;
            }
            // Every reading of these devices up to the newest id was in the
            // page; the registry has published those or will skip them. (A
            // `since` beyond the newest id, from a database since replaced,
            // resumes from the newest.)
            after = page.newest_id;
            let session = self.outbox.session();
            if self.registry.send(JoinLive { session, after }).await? {
                return Ok(());
            }
        }
    }
}

/// The request body of an upgraded connection, decoded into client frames.
struct ClientFrames {
    payload: Payload,
    codec: Codec,
    buf: BytesMut,
    ended: bool,
}

impl ClientFrames {
    fn new(payload: Payload) -> Self {
        Self {
            payload,
            codec: Codec::new().max_size(MAX_CLIENT_FRAME),
            buf: BytesMut::new(),
            ended: false,
        }
    }

    fn append(&mut self, chunk: Bytes) {
        self.buf.extend_from_slice(&chunk);
    }
}

impl Stream for ClientFrames {
    type Item = Result<Frame, ProtocolError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let decoded = this.codec.decode(&mut this.buf);
            match decoded {
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                Err(err) => return Poll::Ready(Some(Err(err))),
                Ok(None) if this.ended => return Poll::Ready(None),
                Ok(None) => {}
            }
            match Pin::new(&mut this.payload).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.append(chunk),
                Poll::Ready(Some(Err(err))) => {
                    log::debug!("connection read failed error={err}");
                    this.ended = true;
                }
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
