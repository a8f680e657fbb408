//! The listening socket, bounded (SPEC §20, §24): a connection that moves no
//! byte for `HTTP_IDLE_TIMEOUT_SECS` is cut — even half-way through its
//! request headers (a slowloris), which a graceful close would wait on
//! forever; a request whose headers have not all arrived
//! `HTTP_HEADER_TIMEOUT_SECS` after their first byte is cut too (one byte
//! every few seconds kept the idle timer fresh forever); and one peer address
//! (an IPv6 peer: its /64) holds at most `MAX_CONNECTIONS_PER_IP`
//! connections (trusted proxies excepted: they carry everyone). Refusals are
//! logged at most once a minute, with a count, so a flood cannot flood the log.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use ipnet::IpNet;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// How often refused connections are logged at most.
const REFUSALS_LOGGED_EVERY: Duration = Duration::from_secs(60);

/// An acceptor whose connections are [`Guarded`].
pub struct GuardedAcceptor<A> {
    inner: A,
    limits: Limits,
    max_per_ip: usize,
    trusted: Vec<IpNet>,
    open: Counts,
    /// Refusals since the last log line, and when that was.
    refused: (u64, Option<Instant>),
}

/// The time limits of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No byte either way for this long: cut.
    pub idle: Duration,
    /// A request's headers not complete this long after their first byte: cut.
    pub header: Duration,
}

impl<A> GuardedAcceptor<A> {
    pub fn new(inner: A, limits: Limits, max_per_ip: usize, trusted: Vec<IpNet>) -> Self {
        Self { inner, limits, max_per_ip, trusted, open: Arc::default(), refused: (0, None) }
    }

    /// Counts a refusal and logs the count at most every [`REFUSALS_LOGGED_EVERY`].
    fn refuse(&mut self, key: IpAddr) {
        self.refused.0 += 1;
        let now = Instant::now();
        if self.refused.1.is_none_or(|last| now - last >= REFUSALS_LOGGED_EVERY) {
            tracing::warn!(%key, refused = self.refused.0, "too many connections from one address; refusing");
            self.refused = (0, Some(now));
        }
    }
}

/// One place of a peer address; released when the connection ends.
struct Place {
    ip: IpAddr,
    open: Counts,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("connection counts");
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl<A: Acceptor> Acceptor for GuardedAcceptor<A> {
    type Io = Guarded<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        loop {
            let (io, local, remote, scheme) = self.inner.accept().await?;
            let ip = remote.as_socket_addr().map(|a| a.ip());
            let place = match ip {
                Some(ip) if !self.trusted.iter().any(|net| net.contains(&ip)) => {
                    let key = crate::client_ip::cap_key(ip);
                    let full = {
                        let mut open = self.open.lock().expect("connection counts");
                        let n = open.entry(key).or_default();
                        let full = *n >= self.max_per_ip;
                        if !full {
                            *n += 1;
                        }
                        full
                    };
                    if full {
                        self.refuse(key);
                        continue; // dropping `io` closes it
                    }
                    Some(Place { ip: key, open: self.open.clone() })
                }
                _ => None,
            };
            let deadline = Box::pin(tokio::time::sleep(self.limits.idle));
            let guarded = Guarded {
                inner: io,
                limits: self.limits,
                deadline,
                header: HeaderWatch { expecting: true, ..Default::default() },
                _place: place,
            };
            return Ok((guarded, local, remote, scheme));
        }
    }
}

/// Where the current request's headers stand.
#[derive(Debug, Default)]
struct HeaderWatch {
    /// Set by the first byte of a request's headers; cleared at their end.
    due: Option<Instant>,
    /// Waiting for the next request's headers (false inside a body).
    expecting: bool,
    /// The last bytes read, to find a `\r\n\r\n` split across reads.
    tail: u32,
    /// The connection became a WebSocket (or any upgrade): no more headers.
    upgraded: bool,
}

impl HeaderWatch {
    /// Notes `bytes` read from the client; starts the header clock at a
    /// request's first byte and stops it at the end of its headers.
    fn read(&mut self, bytes: &[u8], limit: Duration) {
        if self.upgraded || !self.expecting || bytes.is_empty() {
            return;
        }
        if self.due.is_none() {
            self.due = Some(Instant::now() + limit);
        }
        for b in bytes {
            self.tail = (self.tail << 8) | u32::from(*b);
            if self.tail == u32::from_be_bytes(*b"\r\n\r\n") {
                self.due = None;
                self.expecting = false;
                self.tail = 0;
                return;
            }
        }
    }

    /// Notes a response going out: the next bytes begin a new request's
    /// headers, unless this one switched protocols.
    fn wrote(&mut self, bytes: &[u8]) {
        if bytes.starts_with(b"HTTP/1.1 101") || bytes.starts_with(b"HTTP/1.0 101") {
            self.upgraded = true;
            self.due = None;
        } else if bytes.starts_with(b"HTTP/") && bytes.get(9) != Some(&b'1') {
            // A final response (a 1xx such as `100 Continue` is followed by the body, not headers).
            self.expecting = true;
            self.due = None;
        }
    }
}

/// A connection that fails with `TimedOut` once no byte moved either way
/// for the idle limit, or once a request's headers took longer than the
/// header limit.
pub struct Guarded<T> {
    inner: T,
    limits: Limits,
    deadline: Pin<Box<Sleep>>,
    header: HeaderWatch,
    _place: Option<Place>,
}

impl<T> Guarded<T> {
    /// Something moved: the deadline is the idle limit from now, or the
    /// headers' due time if that comes first.
    fn moved(&mut self) {
        let idle = Instant::now() + self.limits.idle;
        let deadline = self.header.due.map_or(idle, |due| due.min(idle));
        self.deadline.as_mut().reset(deadline);
    }

    /// Pending, or the deadline passed.
    fn wait_or_expire<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection too slow or idle"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let limit = self.limits.header;
                    self.header.read(&buf.filled()[before..], limit);
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => self.wait_or_expire(cx),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                self.header.wrote(&data[..n]);
                self.moved();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => self.wait_or_expire(cx),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_header_clock_runs_from_a_requests_first_byte_to_its_end() {
        let limit = Duration::from_secs(10);
        let mut watch = HeaderWatch { expecting: true, ..Default::default() };
        watch.read(b"GET / HTTP/1.1\r\nHost: x\r", limit);
        assert!(watch.due.is_some(), "started by the first byte");
        watch.read(b"\n\r", limit);
        watch.read(b"\n", limit);
        assert!(watch.due.is_none() && !watch.expecting, "a terminator split across reads ends it");
        watch.read(b"body bytes without a blank line", limit);
        assert!(watch.due.is_none(), "a body is not headers");
        watch.wrote(b"HTTP/1.1 100 Continue\r\n\r\n");
        watch.read(b"more of the body, sent after 100 Continue", limit);
        assert!(watch.due.is_none(), "an interim response is followed by the body, not headers");
        watch.wrote(b"HTTP/1.1 200 OK\r\n");
        watch.read(b"G", limit);
        assert!(watch.due.is_some(), "the next request's headers are timed again");
        watch.read(b"ET /api/draft/1/ HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", limit);
        watch.wrote(b"HTTP/1.1 101 Switching Protocols\r\n");
        watch.read(b"\x81\x05hello", limit);
        assert!(watch.due.is_none() && watch.upgraded, "a WebSocket's frames are not headers");
    }
}
