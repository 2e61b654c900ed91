//! A hand-made WebSocket client for what ordinary clients hide: not reading at
//! all, never answering pings, sending broken frames, and a tiny receive
//! buffer.

use std::net::SocketAddr;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound for one read.
const WAIT: Duration = Duration::from_secs(15);

/// A WebSocket frame as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

pub const TEXT: u8 = 0x1;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

impl Frame {
    /// The close code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).expect("json text frame")
    }
}

pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    /// Connects and upgrades; `recv_buffer` shrinks the socket's kernel receive
    /// buffer.
    pub async fn connect(addr: SocketAddr, target: &str, recv_buffer: Option<usize>) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size as u32).expect("SO_RCVBUF");
        }
        let stream = socket.connect(addr).await.expect("connect");
        let mut client = Self {
            stream,
            buf: Vec::new(),
        };
        client.handshake(addr, target).await;
        client
    }

    async fn handshake(&mut self, addr: SocketAddr, target: &str) {
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        self.stream
            .write_all(request.as_bytes())
            .await
            .expect("write");
        while !self.buf.windows(4).any(|w| w == b"\r\n\r\n") {
            self.fill().await.expect("handshake response");
        }
        let end = self
            .buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(0)
            + 4;
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "no upgrade: {head}");
        self.buf.drain(..end);
    }

    /// The client side's local port.
    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().expect("local address").port()
    }

    /// Reads more bytes; `None` at end of stream.
    async fn fill(&mut self) -> Option<()> {
        let mut chunk = [0u8; 16 * 1024];
        let read = tokio::time::timeout(WAIT, self.stream.read(&mut chunk)).await;
        match read.expect("data in time") {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    }

    /// The next frame, or `None` when the server closed the connection.
    pub async fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            self.fill().await?;
        }
    }

    /// Sends a masked frame, as a client must.
    pub async fn send(&mut self, opcode: u8, payload: &[u8]) {
        self.send_bytes(&masked(opcode, payload)).await;
    }

    /// Like [`RawClient::send`]; false when the connection is gone.
    pub async fn try_send(&mut self, opcode: u8, payload: &[u8]) -> bool {
        let frame = masked(opcode, payload);
        self.stream.write_all(&frame).await.is_ok()
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write frame");
    }
}

/// A client frame: masked, as RFC 6455 requires.
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut frame = vec![0x80 | opcode];
        match u16::try_from(payload.len()) {
            Ok(len) if len < 126 => frame.push(0x80 | len as u8),
            Ok(len) => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&len.to_be_bytes());
            }
            Err(_) => panic!("test frames stay below 64 KiB"),
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }
}

/// Parses one unmasked server frame from the front of `buf`.
fn parse_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    let (&first, &second) = (buf.first()?, buf.get(1)?);
    let (len, header) = match second & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = buf.get(header..header + len)?.to_vec();
    let frame = Frame {
        opcode: first & 0x0f,
        payload,
    };
    Some((frame, header + len))
}
