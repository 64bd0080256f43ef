//! Sockets: TCP connection set-up, the timestamping (and optionally busy-polling) socket
//! wrapper, and the plain-or-TLS stream type every connection is made of.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

use super::{TransportConfig, TransportError};

/// Resolves `host` and connects to the first address that answers, honouring the local
/// address and `TCP_NODELAY` of the configuration.
pub(crate) async fn connect_tcp(
    host: &str,
    port: u16,
    cfg: &TransportConfig,
) -> Result<TcpStream, TransportError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| TransportError::Dns {
            host: host.to_owned(),
            source,
        })?
        .filter(|a| cfg.local_address.is_none_or(|l| l.is_ipv4() == a.is_ipv4()))
        .collect();
    if addrs.is_empty() {
        return Err(TransportError::Dns {
            host: host.to_owned(),
            source: io::Error::new(
                io::ErrorKind::NotFound,
                "no address (of the local address's IP family)",
            ),
        });
    }
    let mut last = None;
    for addr in addrs {
        match connect_one(addr, cfg).await {
            Ok(tcp) => {
                tracing::debug!(%addr, "TCP connected");
                return Ok(tcp);
            }
            Err(e) => {
                tracing::debug!(%addr, error = %e, "TCP connect failed");
                last = Some((addr, e));
            }
        }
    }
    let (addr, source) = last.expect("at least one address was tried");
    Err(TransportError::Connect {
        addr: addr.to_string(),
        source,
    })
}

async fn connect_one(addr: SocketAddr, cfg: &TransportConfig) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(name) = &cfg.bind_interface {
        bind_device(&socket, name)?;
    }
    if let Some(ip) = cfg.local_address {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.set_nodelay(cfg.tcp_nodelay)?;
    socket.connect(addr).await
}

/// Platforms where a socket can be bound to an interface (`SO_BINDTODEVICE`).
const CAN_BIND_DEVICE: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "fuchsia"
));

/// Checks an interface name of [`TransportConfig::bind_interface`] (and the platform).
pub(crate) fn check_interface(name: &str) -> Result<(), TransportError> {
    if !CAN_BIND_DEVICE {
        return Err(TransportError::InvalidConfig(format!(
            "bind_interface ({name:?}): binding sockets to an interface (SO_BINDTODEVICE) \
             is only supported on Linux"
        )));
    }
    // IFNAMSIZ is 16, the terminating NUL included.
    if name.is_empty() || name.len() > 15 || name.bytes().any(|b| b == 0 || b == b'/') {
        return Err(TransportError::InvalidConfig(format!(
            "bind_interface: {name:?} is not an interface name (1 to 15 bytes)"
        )));
    }
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
fn bind_device(socket: &TcpSocket, name: &str) -> io::Result<()> {
    socket.bind_device(Some(name.as_bytes()))
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "fuchsia")))]
fn bind_device(_socket: &TcpSocket, name: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("cannot bind to interface {name:?}: SO_BINDTODEVICE is Linux only"),
    ))
}

/// A TCP stream that remembers when its last read returned data, and can busy-poll.
pub(crate) struct StampedTcp {
    tcp: TcpStream,
    last_read: Instant,
    /// `Some` in busy-poll mode: a scratch buffer the spinning `recv`s read into, so an
    /// empty spin costs one system call and nothing else.
    spin_buf: Option<Box<[u8]>>,
}

/// Largest read done by one busy-poll `recv`.
const SPIN_BUF_SIZE: usize = 64 * 1024;

impl StampedTcp {
    pub(crate) fn new(tcp: TcpStream) -> Self {
        Self {
            tcp,
            last_read: Instant::now(),
            spin_buf: None,
        }
    }

    /// The instant the last read that returned data (or end of stream) completed.
    pub(crate) fn last_read(&self) -> Instant {
        self.last_read
    }

    /// Switches busy-poll reads on or off (see [`ReadMode::BusyPoll`](super::ReadMode)).
    pub(crate) fn set_busy_poll(&mut self, on: bool) {
        self.spin_buf = on.then(|| vec![0u8; SPIN_BUF_SIZE].into_boxed_slice());
    }

    /// One non-blocking `recv` straight on the socket. Tokio's own `try_read` would not do:
    /// it trusts the readiness the reactor last saw, and answers `WouldBlock` without a
    /// system call until the reactor runs again.
    fn poll_spin(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let Some(spin) = self.spin_buf.as_deref_mut() else {
            unreachable!("poll_spin outside busy-poll mode")
        };
        let want = buf.remaining().min(spin.len());
        let sock = socket2::SockRef::from(&self.tcp);
        loop {
            match (&*sock).read(&mut spin[..want]) {
                Ok(n) => {
                    self.last_read = Instant::now();
                    buf.put_slice(&spin[..n]);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Be polled again right away, after the other ready tasks.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncRead for StampedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.spin_buf.is_some() && buf.remaining() > 0 {
            return this.poll_spin(cx, buf);
        }
        ready!(Pin::new(&mut this.tcp).poll_read(cx, buf))?;
        this.last_read = Instant::now();
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for StampedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// A connection to a server, with or without TLS.
pub(crate) enum Io {
    /// Plain TCP.
    Plain(StampedTcp),
    /// TLS over TCP.
    Tls(Box<TlsStream<StampedTcp>>),
}

impl Io {
    /// When the last socket read that returned data completed.
    pub(crate) fn last_read(&self) -> Instant {
        match self {
            Io::Plain(t) => t.last_read(),
            Io::Tls(t) => t.get_ref().0.last_read(),
        }
    }

    /// Switches busy-poll reads on or off.
    pub(crate) fn set_busy_poll(&mut self, on: bool) {
        match self {
            Io::Plain(t) => t.set_busy_poll(on),
            Io::Tls(t) => t.get_mut().0.set_busy_poll(on),
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(t) => Pin::new(t).poll_read(cx, buf),
            Io::Tls(t) => Pin::new(t).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(t) => Pin::new(t).poll_write(cx, buf),
            Io::Tls(t) => Pin::new(t).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(t) => Pin::new(t).poll_write_vectored(cx, bufs),
            Io::Tls(t) => Pin::new(t).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(t) => t.is_write_vectored(),
            Io::Tls(t) => t.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(t) => Pin::new(t).poll_flush(cx),
            Io::Tls(t) => Pin::new(t).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(t) => Pin::new(t).poll_shutdown(cx),
            Io::Tls(t) => Pin::new(t).poll_shutdown(cx),
        }
    }
}

/// A stream whose first reads return bytes already read from it (what followed the
/// response head of an upgrade).
pub(crate) struct Rewind<T> {
    prefix: Vec<u8>,
    pos: usize,
    inner: T,
}

impl<T> Rewind<T> {
    pub(crate) fn new(prefix: Vec<u8>, inner: T) -> Self {
        Self {
            prefix,
            pos: 0,
            inner,
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.pos);
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
