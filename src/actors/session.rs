//! The WebSocket session actor: one per connection.
//!
//! It reads the client's frames, keeps the connection alive, and joins the
//! registry's fan-out. Everything it sends goes through its bounded [`Outbox`],
//! which the HTTP response body drains; the actor's own mailbox carries no
//! readings.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_codec::Decoder;
use actix_http::ws::{CloseCode, CloseReason, Codec, Frame, ProtocolError};
use actix_web::web::{Bytes, BytesMut, Payload};
use futures_core::Stream;

use super::registry::{Registry, Subscribe, Unsubscribe};
use crate::fanout::Outbox;

/// Largest client frame accepted; clients have nothing large to say.
const MAX_CLIENT_FRAME: usize = 16 * 1024;

/// Connection settings for one session.
#[derive(Debug, Clone, Copy)]
pub struct KeepAlive {
    /// How often the server pings.
    pub ping_interval: Option<Duration>,
    /// How long the peer may stay silent before the server gives up on it.
    pub client_timeout: Duration,
}

/// One WebSocket connection.
pub struct Session {
    outbox: Arc<Outbox>,
    registry: Addr<Registry>,
    devices: Option<HashSet<String>>,
    peer: String,
    keep_alive: KeepAlive,
    last_heard: Instant,
}

impl Session {
    /// Starts a session reading frames from `payload` and sending through
    /// `outbox`.
    pub fn start(
        outbox: Arc<Outbox>,
        registry: Addr<Registry>,
        devices: Option<HashSet<String>>,
        peer: String,
        keep_alive: KeepAlive,
        payload: Payload,
    ) -> Addr<Self> {
        Session::create(move |ctx| {
            ctx.add_stream(ClientFrames::new(payload));
            Session {
                outbox,
                registry,
                devices,
                peer,
                keep_alive,
                last_heard: Instant::now(),
            }
        })
    }

    fn id(&self) -> u64 {
        self.outbox.session()
    }

    fn check_alive(&mut self, ctx: &mut Context<Self>) {
        if self.last_heard.elapsed() > self.keep_alive.client_timeout {
            log::info!("session timed out session={} peer={}", self.id(), self.peer);
            let reason = CloseReason::from((CloseCode::Away, "idle timeout"));
            self.close_now(reason, ctx);
        } else {
            self.outbox.ping(b"");
        }
    }

    /// Sends a close frame ahead of anything queued and ends the connection
    /// after it, without waiting for an answer.
    fn close_now(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        self.outbox.close(reason, false);
        self.outbox.end();
        ctx.stop();
    }

    fn received(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        match frame {
            Frame::Ping(payload) => self.outbox.pong(&payload),
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
            .devices
            .as_ref()
            .map_or("all".into(), |d| d.len().to_string());
        log::info!(
            "session opened session={} peer={} devices={devices}",
            self.id(),
            self.peer
        );
        self.registry.do_send(Subscribe {
            outbox: self.outbox.clone(),
            devices: self.devices.clone(),
        });
        if let Some(interval) = self.keep_alive.ping_interval {
            ctx.run_interval(interval, Self::check_alive);
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.registry.do_send(Unsubscribe { session: self.id() });
        self.outbox.close(CloseCode::Normal.into(), false);
        self.outbox.end();
        log::info!(
            "session closed session={} peer={} dropped={}",
            self.id(),
            self.peer,
            self.outbox.dropped()
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
