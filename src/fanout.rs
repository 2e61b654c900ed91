//! Bounded per-session outboxes: the registry pushes encoded frames in, the
//! connection's response body drains them.
//!
//! A session never holds more than `capacity` undelivered data frames here;
//! when it is full the oldest is dropped for that session alone, so a stalled
//! client costs bounded memory and never slows the registry or any other
//! client. Frames are WebSocket frames encoded once (server frames are
//! unmasked, hence the same bytes for every session).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_http::ws::{CloseReason, OpCode, Parser};
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::sync::Notify;
use tokio::time::Sleep;

use crate::metrics::{DropCause, Metrics};

/// Encodes a text message as one complete, unmasked WebSocket frame.
pub fn text_frame(text: &[u8]) -> Bytes {
    encode(text, OpCode::Text)
}

fn encode(payload: &[u8], op: OpCode) -> Bytes {
    let mut buf = BytesMut::with_capacity(payload.len() + 10);
    Parser::write_message(&mut buf, payload, op, true, false);
    buf.freeze()
}

fn close_frame(reason: CloseReason) -> Bytes {
    let mut buf = BytesMut::new();
    Parser::write_close(&mut buf, Some(reason), false);
    buf.freeze()
}

/// What happened to a pushed data frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued without loss.
    Queued,
    /// Queued, and the oldest undelivered frame was dropped to make room.
    DroppedOldest,
    /// The connection is gone or closing; nothing was queued.
    Gone,
}

/// The outgoing side of one WebSocket session.
#[derive(Debug)]
pub struct Outbox {
    session: u64,
    capacity: usize,
    state: Mutex<State>,
    metrics: Arc<Metrics>,
    /// Told when a data frame left, or the connection went.
    room: Notify,
}

#[derive(Debug, Default)]
struct State {
    data: VecDeque<Bytes>,
    /// Only the answer to the latest ping matters (RFC 6455 §5.5.3), so one
    /// slot.
    pong: Option<Bytes>,
    ping: Option<Bytes>,
    close: Option<Closing>,
    waker: Option<Waker>,
    dropped_total: u64,
    dropped_in_burst: u64,
    /// The body stream was dropped: the connection is gone.
    detached: bool,
    /// The close frame was handed to the connection.
    close_sent: bool,
    /// The closing handshake is over: the body may end after the close frame.
    ended: bool,
}

#[derive(Debug)]
struct Closing {
    frame: Bytes,
    /// Deliver the queued data frames before the close frame.
    after_pending: bool,
}

impl Outbox {
    /// An empty outbox for `session` holding at most `capacity` data frames;
    /// deliveries and drops are counted in `metrics`.
    pub fn new(session: u64, capacity: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            session,
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
            metrics,
            room: Notify::new(),
        })
    }

    /// The session this outbox belongs to.
    pub fn session(&self) -> u64 {
        self.session
    }

    /// The most data frames it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves only plain queue data behind.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a data frame, dropping the oldest undelivered one when full.
    pub fn push(&self, frame: Bytes) -> Pushed {
        let mut state = self.lock();
        if state.detached || state.close.is_some() {
            return Pushed::Gone;
        }
        let mut outcome = Pushed::Queued;
        if state.data.len() >= self.capacity {
            state.data.pop_front();
            state.dropped_total += 1;
            state.dropped_in_burst += 1;
            outcome = Pushed::DroppedOldest;
        }
        state.data.push_back(frame);
        let burst_started = state.dropped_in_burst == 1 && outcome == Pushed::DroppedOldest;
        wake(&mut state);
        drop(state);
        if outcome == Pushed::DroppedOldest {
            self.metrics.messages_dropped(DropCause::SlowClient, 1);
        }
        if burst_started {
            log::warn!(
                "session too slow, dropping its oldest messages session={} buffer={}",
                self.session,
                self.capacity
            );
        }
        outcome
    }

    /// Queues the answer to a client ping, replacing an unsent earlier answer.
    pub fn pong(&self, payload: &[u8]) {
        self.set_control(payload, OpCode::Pong);
    }

    /// Queues a keep-alive ping.
    pub fn ping(&self, payload: &[u8]) {
        self.set_control(payload, OpCode::Ping);
    }

    fn set_control(&self, payload: &[u8], op: OpCode) {
        let frame = encode(payload, op);
        let mut state = self.lock();
        match op {
            OpCode::Pong => state.pong = Some(frame),
            _ => state.ping = Some(frame),
        }
        wake(&mut state);
    }

    /// Ends the session with a close frame, after the queued data when
    /// `after_pending`. A second call changes nothing.
    pub fn close(&self, reason: CloseReason, after_pending: bool) {
        let mut state = self.lock();
        if state.close.is_none() {
            state.close = Some(Closing {
                frame: close_frame(reason),
                after_pending,
            });
            wake(&mut state);
            drop(state);
            self.room.notify_one();
        }
    }

    /// Waits until a data frame fits without dropping an older one, or the
    /// connection is gone or closing (then [`Outbox::push`] says so). For
    /// senders that can wait, like a replay from the database.
    pub async fn wait_for_room(&self) {
        loop {
            let room = self.room.notified();
            {
                let state = self.lock();
                let open = !state.detached && state.close.is_none();
                if !open || state.data.len() < self.capacity {
                    return;
                }
            }
            room.await;
        }
    }

    /// Data frames dropped for this session so far.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped_total
    }

    /// Data frames waiting to be written.
    pub fn pending(&self) -> usize {
        self.lock().data.len()
    }

    /// Lets the connection end once the close frame is out: the peer answered
    /// our close, or there is nobody to wait for.
    pub fn end(&self) {
        let mut state = self.lock();
        state.ended = true;
        wake(&mut state);
    }

    /// True once the close frame went out or the connection is gone.
    pub fn is_finished(&self) -> bool {
        let state = self.lock();
        state.close_sent || state.detached
    }

    fn close_sent(&self) -> bool {
        self.lock().close_sent
    }

    /// The next frame to write: control frames first, then data, then the close
    /// frame.
    fn poll_frame(&self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut state = self.lock();
        let frame = if state.close_sent {
            None
        } else {
            next_frame(&mut state, &self.metrics)
        };
        if frame.is_none() {
            if state.ended {
                return Poll::Ready(None);
            }
            state.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let caught_up = state.data.is_empty() && state.dropped_in_burst > 0;
        let room = state.data.len() < self.capacity;
        let dropped = std::mem::take(&mut state.dropped_in_burst);
        if !caught_up {
            state.dropped_in_burst = dropped;
        }
        drop(state);
        if room {
            self.room.notify_one();
        }
        if caught_up {
            log::info!(
                "session caught up session={} dropped={dropped}",
                self.session
            );
        }
        Poll::Ready(frame)
    }

    fn detach(&self) {
        let mut state = self.lock();
        state.detached = true;
        let undelivered = state.data.len() as u64;
        state.data.clear();
        drop(state);
        self.room.notify_one();
        self.metrics
            .messages_dropped(DropCause::Disconnected, undelivered);
    }
}

fn next_frame(state: &mut State, metrics: &Metrics) -> Option<Bytes> {
    if let Some(close) = state.close.as_ref().filter(|c| !c.after_pending) {
        let frame = close.frame.clone();
        state.close_sent = true;
        return Some(frame);
    }
    if let Some(frame) = state.pong.take().or_else(|| state.ping.take()) {
        return Some(frame);
    }
    if let Some(frame) = state.data.pop_front() {
        metrics.message_sent();
        return Some(frame);
    }
    let frame = state.close.as_ref()?.frame.clone();
    state.close_sent = true;
    Some(frame)
}

fn wake(state: &mut State) {
    if let Some(waker) = state.waker.take() {
        waker.wake();
    }
}

/// The HTTP response body of a WebSocket session: the outbox's frames, in
/// order.
///
/// actix-http polls a body only while its write buffer is below the server's
/// `h1_write_buffer_size`, so frames stay in the outbox (and are dropped there)
/// while the peer is not reading, instead of piling up in a buffer without
/// limit.
///
/// After a close frame the body stays open until [`Outbox::end`] (the peer's
/// close arrived) or [`CLOSE_HANDSHAKE_TIMEOUT`]: closing the socket while the
/// peer's close is in flight would reset the connection, and a reset can
/// discard frames the peer has not read yet.
pub struct OutboxStream {
    outbox: Arc<Outbox>,
    handshake_deadline: Option<Pin<Box<Sleep>>>,
}

/// How long a connection waits for the peer to answer the server's close.
pub const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

impl OutboxStream {
    /// A body that drains `outbox`.
    pub fn new(outbox: Arc<Outbox>) -> Self {
        Self {
            outbox,
            handshake_deadline: None,
        }
    }
}

impl Stream for OutboxStream {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(frame) = self.outbox.poll_frame(cx) {
            return Poll::Ready(frame.map(Ok));
        }
        if !self.outbox.close_sent() {
            return Poll::Pending;
        }
        let deadline = self
            .handshake_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(CLOSE_HANDSHAKE_TIMEOUT)));
        deadline.as_mut().poll(cx).map(|()| None)
    }
}

impl Drop for OutboxStream {
    fn drop(&mut self) {
        self.outbox.detach();
    }
}

/// The payload of one unmasked frame made by this module (for tests).
#[cfg(test)]
pub(crate) fn frame_payload(frame: &[u8]) -> &[u8] {
    match frame[1] & 0x7f {
        126 => &frame[4..],
        127 => &frame[10..],
        _ => &frame[2..],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_http::ws::CloseCode;
    use std::task::Waker;

    fn drain(outbox: &Arc<Outbox>) -> Vec<Bytes> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut frames = Vec::new();
        while let Poll::Ready(Some(frame)) = outbox.poll_frame(&mut cx) {
            frames.push(frame);
        }
        frames
    }

    fn payload(frame: &Bytes) -> &[u8] {
        frame_payload(frame)
    }

    #[test]
    fn a_full_outbox_drops_its_oldest_frames_and_counts_them() {
        let outbox = Outbox::new(1, 3, Arc::default());
        let results: Vec<_> = (0..5)
            .map(|i| outbox.push(text_frame(&[b'0' + i])))
            .collect();
        assert_eq!(results[..3], [Pushed::Queued; 3]);
        assert_eq!(results[3..], [Pushed::DroppedOldest; 2]);
        let frames = drain(&outbox);
        let payloads: Vec<_> = frames.iter().map(payload).collect();
        assert_eq!(payloads, [b"2", b"3", b"4"]);
        assert_eq!(outbox.dropped(), 2);
    }

    #[test]
    fn control_frames_jump_the_queue_and_only_the_latest_pong_is_kept() {
        let outbox = Outbox::new(1, 10, Arc::default());
        outbox.push(text_frame(b"a"));
        outbox.pong(b"1");
        outbox.pong(b"2");
        let frames = drain(&outbox);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0][0] & 0x0f, 0xA, "pong opcode first");
        assert_eq!(payload(&frames[0]), b"2");
        assert_eq!(payload(&frames[1]), b"a");
    }

    #[test]
    fn close_after_pending_delivers_queued_frames_first_then_ends() {
        let outbox = Outbox::new(1, 10, Arc::default());
        outbox.push(text_frame(b"a"));
        outbox.close(CloseCode::Away.into(), true);
        assert_eq!(outbox.push(text_frame(b"b")), Pushed::Gone);
        let frames = drain(&outbox);
        assert_eq!(frames.len(), 2);
        assert_eq!(payload(&frames[0]), b"a");
        assert_eq!(frames[1][0] & 0x0f, 0x8, "close opcode last");
        assert_eq!(&frames[1][2..4], &1001u16.to_be_bytes());
        assert!(outbox.is_finished());
    }

    #[test]
    fn immediate_close_skips_queued_frames() {
        let outbox = Outbox::new(1, 10, Arc::default());
        outbox.push(text_frame(b"a"));
        outbox.close(CloseCode::Normal.into(), false);
        let frames = drain(&outbox);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0][0] & 0x0f, 0x8);
    }

    #[test]
    fn a_dropped_connection_refuses_further_frames() {
        let outbox = Outbox::new(1, 10, Arc::default());
        drop(OutboxStream::new(outbox.clone()));
        assert_eq!(outbox.push(text_frame(b"a")), Pushed::Gone);
        assert!(outbox.is_finished());
    }
}
