//! Bounded I/O for probes: every connect, write and read has a deadline, every read a byte cap.
//!
//! A probe never waits past the identification deadline, and never buffers more than its cap,
//! whatever the peer does (stays silent, floods, drips one byte a second, resets).
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// Default byte cap of one reply.
pub const CAP: usize = 16 * 1024;
/// Silence after some bytes that ends a read which `done` did not end.
pub const IDLE: Duration = Duration::from_millis(400);

/// A plain TCP stream or a TLS session over one.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One connection of a probe, with the identification deadline and a read buffer.
pub struct Conn {
    io: Stream,
    /// What the peer sent since the last `clear`.
    pub buf: Vec<u8>,
    deadline: Instant,
    /// The peer closed (or reset) its side.
    pub eof: bool,
}

/// Connect to `addr`, giving up at `deadline` (or after `wait`, whichever comes first).
pub async fn connect(addr: SocketAddr, deadline: Instant, wait: Duration) -> Option<Conn> {
    let until = deadline.min(Instant::now() + wait);
    let stream = timeout_at(until, TcpStream::connect(addr)).await.ok()?.ok()?;
    let _ = stream.set_nodelay(true);
    Some(Conn { io: Stream::Plain(stream), buf: Vec::new(), deadline, eof: false })
}

impl Conn {
    /// Write all of `data`; false when the peer is gone or the deadline passed.
    pub async fn send(&mut self, data: &[u8]) -> bool {
        if data.is_empty() {
            return true;
        }
        let io = &mut self.io;
        matches!(
            timeout_at(self.deadline, async move {
                io.write_all(data).await?;
                io.flush().await
            })
            .await,
            Ok(Ok(()))
        )
    }

    /// Read until `done(buf)` holds, `cap` bytes are buffered, the peer closes, `wait` (at most
    /// until the deadline) has passed, or the peer has said something and then nothing more for
    /// [`IDLE`] (a reply that will never satisfy `done`, e.g. an error line from another protocol).
    /// Returns the buffer (possibly partial or empty).
    pub async fn read(&mut self, wait: Duration, cap: usize, done: impl Fn(&[u8]) -> bool) -> &[u8] {
        let until = self.deadline.min(Instant::now() + wait);
        let start_len = self.buf.len();
        let mut chunk = [0u8; 4096];
        while !self.eof && self.buf.len() < cap && !done(&self.buf) {
            let room = (cap - self.buf.len()).min(chunk.len());
            let until = if self.buf.len() > start_len { until.min(Instant::now() + IDLE) } else { until };
            match timeout_at(until, self.io.read(&mut chunk[..room])).await {
                Ok(Ok(0)) | Ok(Err(_)) => self.eof = true,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => break,
            }
        }
        &self.buf
    }

    /// Read exactly what `need(buf)` asks for (the total length a framed reply announces, once
    /// its header is in), bounded like `read`.
    pub async fn read_framed(&mut self, wait: Duration, cap: usize, need: impl Fn(&[u8]) -> Option<usize>) -> &[u8] {
        self.read(wait, cap, |b| need(b).is_some_and(|n| b.len() >= n)).await
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Wrap the connection in TLS (certificates are recorded, never verified).
    pub async fn into_tls(self, config: Arc<rustls::ClientConfig>) -> Option<Conn> {
        let Stream::Plain(tcp) = self.io else { return None };
        let ip = tcp.peer_addr().ok()?.ip();
        let name = rustls::pki_types::ServerName::IpAddress(ip.into());
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = timeout_at(self.deadline, connector.connect(name, tcp)).await.ok()?.ok()?;
        Some(Conn { io: Stream::Tls(Box::new(tls)), buf: Vec::new(), deadline: self.deadline, eof: false })
    }

    /// The TLS session's state, when this connection speaks TLS.
    pub fn tls_session(&self) -> Option<&rustls::ClientConnection> {
        match &self.io {
            Stream::Tls(s) => Some(s.get_ref().1),
            Stream::Plain(_) => None,
        }
    }
}
