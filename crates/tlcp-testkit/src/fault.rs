//! A fault-injecting TCP proxy: put it between a client and a server, then break the link
//! on purpose, mid-flow.
//!
//! [`FaultProxy::start`] listens on a loopback port and forwards every connection it accepts
//! to one upstream address, in both directions. The test then injects faults through the
//! proxy handle:
//!
//! | control | what the client sees |
//! |---|---|
//! | [`cut`](FaultProxy::cut), [`cut_all`](FaultProxy::cut_all) | a reset connection (RST, not a clean end); the server sees one too |
//! | [`cut_after_bytes`](FaultProxy::cut_after_bytes), [`cut_new_after_bytes`](FaultProxy::cut_new_after_bytes) | exactly `n` more bytes from the server, then a reset: a cut mid-line |
//! | [`blackhole`](FaultProxy::blackhole) | silence both ways while TCP stays up: a stall; [`Blackhole::Hold`] releases the bytes afterwards, [`Blackhole::Drop`] loses them |
//! | [`delay`](FaultProxy::delay), [`delay_one_way`](FaultProxy::delay_one_way) | latency added to each chunk, order kept |
//! | [`throttle`](FaultProxy::throttle), [`throttle_one_way`](FaultProxy::throttle_one_way) | a slow link |
//! | [`refuse_new`](FaultProxy::refuse_new) | new connections accepted then reset at once: a server that is down |
//! | [`reset`](FaultProxy::reset) | transparent forwarding again |
//!
//! The settings are plain (non-`async`) calls that take effect at once: they apply to the
//! live connections at their next chunk boundary, and to connections accepted later, until
//! [`reset`](FaultProxy::reset). The cuts are `async` and return once the sockets are closed.
//! [`stats`](FaultProxy::stats) counts connections, bytes each way and cuts;
//! [`wait_connections`](FaultProxy::wait_connections) waits for a client's (re)connection.
//!
//! Every forwarded connection gets a [`ConnId`], in accept order from 0. A peer that closes
//! cleanly is relayed as a clean close (half-close: the other direction keeps flowing); a
//! peer that breaks (read or write error) makes the proxy reset both sides, so a failure
//! upstream reaches the client as a failure. No I/O error panics. Dropping the proxy aborts
//! its tasks and closes every socket.
//!
//! ```
//! use std::time::Duration;
//! use tlcp_testkit::fault::{Blackhole, FaultProxy};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::net::{TcpListener, TcpStream};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // An echo server stands in for tlcp-server.
//! let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let upstream = server.local_addr().unwrap();
//! tokio::spawn(async move {
//!     while let Ok((mut socket, _)) = server.accept().await {
//!         tokio::spawn(async move {
//!             let (mut r, mut w) = socket.split();
//!             let _ = tokio::io::copy(&mut r, &mut w).await;
//!         });
//!     }
//! });
//!
//! let proxy = FaultProxy::start(upstream).await;
//! let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
//! let mut buf = [0; 4];
//! client.write_all(b"ping").await.unwrap();
//! client.read_exact(&mut buf).await.unwrap();
//! assert_eq!(&buf, b"ping");
//!
//! proxy.blackhole(Blackhole::Hold); // a stall: silence, TCP stays up
//! client.write_all(b"pong").await.unwrap();
//! let read = tokio::time::timeout(Duration::from_millis(100), client.read(&mut buf));
//! assert!(read.await.is_err(), "nothing passes a blackhole");
//! proxy.reset(); // the held bytes flow again, in order
//! client.read_exact(&mut buf).await.unwrap();
//! assert_eq!(&buf, b"pong");
//!
//! proxy.cut_all().await; // RST both ways
//! assert!(matches!(client.read(&mut buf).await, Ok(0) | Err(_)));
//! assert_eq!(proxy.stats().cuts, 1);
//! # }
//! ```

mod conn;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A fault-injecting TCP proxy on a loopback port, forwarding to one upstream address.
///
/// See the [module docs](self) for the controls and their semantics. Dropping it aborts
/// every task it started and closes every socket it holds.
pub struct FaultProxy {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

/// One forwarded connection (a client socket and its upstream socket), numbered in accept
/// order from 0. Connections the proxy refuses ([`FaultProxy::refuse_new`]) get no id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// What a blackhole does with the bytes that reach it. Both directions, all connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Blackhole {
    /// No blackhole: bytes are forwarded.
    #[default]
    Off,
    /// Nothing passes, nothing is lost: the proxy stops reading, so the bytes wait in the
    /// socket buffers (and the sender eventually feels backpressure, as on a stalled
    /// network). When the blackhole ends, they all flow on, in order. A close (FIN or RST)
    /// from a peer is held as well: the other side sees only silence.
    Hold,
    /// Nothing passes and the bytes are lost: the proxy keeps reading and discards them
    /// (counted in [`Stats::dropped_up`] / [`Stats::dropped_down`]). The stream has a hole
    /// afterwards, so a test usually ends such a connection with a cut. A clean close from a
    /// peer is not lost: it is relayed when the blackhole ends (a reset is relayed at once).
    Drop,
}

/// A direction of forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the upstream server.
    Up,
    /// From the upstream server to the client.
    Down,
}

/// Counters since the proxy started ([`FaultProxy::reset`] leaves them alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Connections forwarded (each got a [`ConnId`]); refused ones are not counted here.
    pub connections: u64,
    /// Connections open now.
    pub live: u64,
    /// Connections accepted then reset at once because of [`FaultProxy::refuse_new`].
    pub refused: u64,
    /// Connections reset because the upstream address refused or failed the connect.
    pub upstream_failures: u64,
    /// Bytes written to the upstream side (client to server).
    pub bytes_up: u64,
    /// Bytes written to the client side (server to client).
    pub bytes_down: u64,
    /// Client-to-server bytes discarded by [`Blackhole::Drop`].
    pub dropped_up: u64,
    /// Server-to-client bytes discarded by [`Blackhole::Drop`].
    pub dropped_down: u64,
    /// Connections the proxy cut on purpose: [`FaultProxy::cut`], [`FaultProxy::cut_all`],
    /// and byte budgets running out. Resets relayed from a broken peer are not counted.
    pub cuts: u64,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` (loopback only) forwarding to `upstream`.
    ///
    /// Must be called inside a tokio runtime. The upstream connection is opened per client
    /// connection, when it is accepted.
    ///
    /// # Panics
    ///
    /// When the loopback listener cannot be bound.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind a loopback port for the fault proxy");
        let local_addr = listener
            .local_addr()
            .expect("local address of the fault proxy");
        let shared = Arc::new(Shared {
            upstream,
            faults: watch::Sender::new(Faults::default()),
            conns: Mutex::new(BTreeMap::new()),
            connections: watch::Sender::new(0),
            counters: Counters::default(),
        });
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        FaultProxy {
            local_addr,
            shared,
            accept_task,
        }
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address every connection is forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Closes one connection abruptly on both sides (`SO_LINGER` 0, so an RST), dropping
    /// whatever the proxy holds for it. Returns once its sockets are closed; `false` when
    /// `id` is not live (never was, or already closed).
    pub async fn cut(&self, id: ConnId) -> bool {
        let conn = self.shared.conns().get(&id).cloned();
        match conn {
            Some(conn) => {
                conn.cut_and_wait().await;
                true
            }
            None => false,
        }
    }

    /// Cuts every live connection (see [`cut`](Self::cut)); returns how many there were.
    ///
    /// A client whose connect has completed but which the proxy has not accepted yet is not
    /// live; [`wait_connections`](Self::wait_connections) first when that matters.
    pub async fn cut_all(&self) -> usize {
        let conns: Vec<Arc<Conn>> = self.shared.conns().values().cloned().collect();
        let waits: Vec<_> = conns.iter().map(|conn| conn.request_cut()).collect();
        for mut closed in waits {
            let _ = closed.wait_for(|closed| *closed).await;
        }
        conns.len()
    }

    /// Arms each live connection to be cut once exactly `n` more bytes have been forwarded
    /// downstream (server to client): the client receives those `n` bytes, then a reset.
    /// Use it to cut mid-line deterministically. Returns how many connections were armed;
    /// later connections are not affected (see [`cut_new_after_bytes`](Self::cut_new_after_bytes)).
    ///
    /// The count starts now; with `n == 0` the cut comes instead of the next downstream
    /// byte. The `n` bytes are written before the reset; they reach the client as long as it
    /// keeps reading (a kernel discards unsent bytes when it resets a socket).
    pub fn cut_after_bytes(&self, n: u64) -> usize {
        let conns = self.shared.conns();
        for conn in conns.values() {
            *conn.budget() = Some(n);
        }
        conns.len()
    }

    /// From now on until [`reset`](Self::reset), each newly accepted connection is cut after
    /// its first `n` downstream bytes, as by [`cut_after_bytes`](Self::cut_after_bytes):
    /// a link that breaks again after every reconnection. Live connections are not affected.
    pub fn cut_new_after_bytes(&self, n: u64) {
        self.shared
            .faults
            .send_modify(|f| f.cut_new_after = Some(n));
    }

    /// Sets the blackhole on every connection, live and future, both directions: see
    /// [`Blackhole`]. [`Blackhole::Off`] (or [`reset`](Self::reset)) ends it.
    pub fn blackhole(&self, mode: Blackhole) {
        self.shared.faults.send_modify(|f| f.blackhole = mode);
    }

    /// Adds `latency` to each chunk forwarded, in each direction (a round trip gains twice
    /// `latency`). Chunks keep their order and the link keeps its throughput; a chunk keeps
    /// the latency in force when the proxy read it. `Duration::ZERO` removes it.
    pub fn delay(&self, latency: Duration) {
        self.shared
            .faults
            .send_modify(|f| f.delay = [latency, latency]);
    }

    /// Like [`delay`](Self::delay), for one direction only; the other keeps its setting.
    pub fn delay_one_way(&self, direction: Direction, latency: Duration) {
        self.shared
            .faults
            .send_modify(|f| f.delay[direction.index()] = latency);
    }

    /// Limits the downstream (server to client) throughput of each connection to
    /// `bytes_per_sec`, paced in slices of about 20 ms worth of bytes. `0` removes the limit.
    pub fn throttle(&self, bytes_per_sec: u64) {
        self.throttle_one_way(Direction::Down, bytes_per_sec);
    }

    /// Like [`throttle`](Self::throttle), for either direction; the other keeps its setting.
    pub fn throttle_one_way(&self, direction: Direction, bytes_per_sec: u64) {
        let limit = (bytes_per_sec > 0).then_some(bytes_per_sec);
        self.shared
            .faults
            .send_modify(|f| f.throttle[direction.index()] = limit);
    }

    /// While on, new connections are accepted then reset at once (`SO_LINGER` 0), without
    /// any upstream connection: a server that is down. Live connections are not affected.
    pub fn refuse_new(&self, on: bool) {
        self.shared.faults.send_modify(|f| f.refuse_new = on);
    }

    /// Back to transparent forwarding: no blackhole (held bytes flow on), no added delay,
    /// no throttle, no refusal, no byte budget (armed or for new connections). Counters
    /// and live connections stay.
    pub fn reset(&self) {
        for conn in self.shared.conns().values() {
            *conn.budget() = None;
        }
        self.shared.faults.send_replace(Faults::default());
    }

    /// The live connections, in accept order.
    pub fn connection_ids(&self) -> Vec<ConnId> {
        self.shared.conns().keys().copied().collect()
    }

    /// Waits until `count` connections have been forwarded since the start (live or not;
    /// refused ones do not count). Wrap it in a timeout.
    pub async fn wait_connections(&self, count: u64) {
        let mut connections = self.shared.connections.subscribe();
        let _ = connections.wait_for(|n| *n >= count).await;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            connections: *self.shared.connections.borrow(),
            live: self.shared.conns().len() as u64,
            refused: get(&c.refused),
            upstream_failures: get(&c.upstream_failures),
            bytes_up: get(&c.bytes[Direction::Up.index()]),
            bytes_down: get(&c.bytes[Direction::Down.index()]),
            dropped_up: get(&c.dropped[Direction::Up.index()]),
            dropped_down: get(&c.dropped[Direction::Down.index()]),
            cuts: get(&c.cuts),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The accept task owns the listener and the `JoinSet` of connection tasks: dropping
        // it aborts them all.
        self.accept_task.abort();
    }
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("local_addr", &self.local_addr)
            .field("upstream", &self.shared.upstream)
            .field("faults", &*self.shared.faults.borrow())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::Up => 0,
            Direction::Down => 1,
        }
    }
}

/// The settings every forwarding task reads. Copied out of the watch channel, never
/// borrowed across an `.await` (a borrow blocks the controls).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Faults {
    blackhole: Blackhole,
    /// Per direction, indexed by [`Direction::index`].
    delay: [Duration; 2],
    /// Bytes per second, per direction.
    throttle: [Option<u64>; 2],
    refuse_new: bool,
    /// The byte budget each new connection starts with.
    cut_new_after: Option<u64>,
}

/// State shared by the handle, the accept task and the connection tasks.
struct Shared {
    upstream: SocketAddr,
    faults: watch::Sender<Faults>,
    /// The live connections; a connection task removes its own entry when it ends.
    conns: Mutex<BTreeMap<ConnId, Arc<Conn>>>,
    /// How many connections got an id (the next id).
    connections: watch::Sender<u64>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    refused: AtomicU64,
    upstream_failures: AtomicU64,
    bytes: [AtomicU64; 2],
    dropped: [AtomicU64; 2],
    cuts: AtomicU64,
}

impl Shared {
    fn conns(&self) -> MutexGuard<'_, BTreeMap<ConnId, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives the next id to a newly accepted connection and tracks it.
    fn register(&self) -> Arc<Conn> {
        let mut conns = self.conns();
        let id = ConnId(*self.connections.borrow());
        let conn = Arc::new(Conn {
            id,
            cut: watch::Sender::new(false),
            closed: watch::Sender::new(false),
            budget: Mutex::new(self.faults.borrow().cut_new_after),
        });
        conns.insert(id, Arc::clone(&conn));
        drop(conns);
        self.connections.send_modify(|n| *n += 1);
        conn
    }

    fn count(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The handle's side of one connection.
struct Conn {
    id: ConnId,
    /// Set to `true` to cut the connection.
    cut: watch::Sender<bool>,
    /// Set to `true` by the connection task when its sockets are closed.
    closed: watch::Sender<bool>,
    /// Downstream bytes left before a cut, if armed.
    budget: Mutex<Option<u64>>,
}

impl Conn {
    fn budget(&self) -> MutexGuard<'_, Option<u64>> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the connection task to cut; the receiver turns `true` once it is closed.
    fn request_cut(&self) -> watch::Receiver<bool> {
        let closed = self.closed.subscribe();
        self.cut.send_replace(true);
        closed
    }

    async fn cut_and_wait(&self) {
        let _ = self.request_cut().wait_for(|closed| *closed).await;
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    if shared.faults.borrow().refuse_new {
                        conn::reset(&client);
                        shared.count(&shared.counters.refused, 1);
                        continue;
                    }
                    let conn = shared.register();
                    tasks.spawn(conn::run(client, conn, Arc::clone(&shared)));
                }
                // Out of file descriptors and the like: back off and keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}
