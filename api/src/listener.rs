//! The listening socket, bounded (SPEC §20): a connection that moves no
//! byte for `HTTP_IDLE_TIMEOUT_SECS` is cut — even half-way through its
//! request headers (a slowloris), which a graceful close would wait on
//! forever — and one peer address holds at most `MAX_CONNECTIONS_PER_IP`
//! connections (trusted proxies excepted: they carry everyone).

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

/// An acceptor whose connections are [`Guarded`].
pub struct GuardedAcceptor<A> {
    inner: A,
    idle: Duration,
    max_per_ip: usize,
    trusted: Vec<IpNet>,
    open: Counts,
}

impl<A> GuardedAcceptor<A> {
    pub fn new(inner: A, idle: Duration, max_per_ip: usize, trusted: Vec<IpNet>) -> Self {
        Self { inner, idle, max_per_ip, trusted, open: Arc::default() }
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
                    let mut open = self.open.lock().expect("connection counts");
                    let n = open.entry(ip).or_default();
                    if *n >= self.max_per_ip {
                        tracing::warn!(%ip, "too many connections from one address; refused");
                        continue; // dropping `io` closes it
                    }
                    *n += 1;
                    Some(Place { ip, open: self.open.clone() })
                }
                _ => None,
            };
            let deadline = Box::pin(tokio::time::sleep(self.idle));
            return Ok((Guarded { inner: io, idle: self.idle, deadline, _place: place }, local, remote, scheme));
        }
    }
}

/// A connection that fails with `TimedOut` once no byte moved either way
/// for `idle`.
pub struct Guarded<T> {
    inner: T,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    _place: Option<Place>,
}

impl<T> Guarded<T> {
    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// Pending, or the idle deadline passed.
    fn wait_or_expire<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle"))),
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
