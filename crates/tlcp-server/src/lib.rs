//! # tlcp-server
//!
//! A Lightstreamer-compatible TLCP server (TLCP 2.0.0 to 2.5.0, WebSocket and HTTP,
//! streaming and polling) with an adapter API ([`MetadataAdapter`], [`DataAdapter`],
//! [`AdapterSet`]) and the [`demo`] adapters (stock quotes, chat, portfolio and a benchmark
//! feed).
//!
//! Adapters push through an [`ItemFeed`], a cheap handle usable from any task or thread.
//! Each update is applied to its item once and encoded once per schema for the sessions
//! in step with it; a session's items pushed from different threads are encoded on those
//! threads, in parallel, and each item's updates keep their order. A slow client's
//! updates wait in its own session (or are conflated or dropped, as its subscriptions'
//! modes say); only a producer that asks for back-pressure ([`ItemFeed::ready`]) waits
//! for it.
//!
//! ```no_run
//! use tlcp_server::{Adapters, AdapterSet, LiteralMetadata, ServerConfig};
//! # async fn demo(adapter: impl tlcp_server::DataAdapter) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let adapters = Adapters::new()
//!     .with_set("DEMO", AdapterSet::new(LiteralMetadata).with_data_adapter("DEFAULT", adapter));
//! tlcp_server::run(listener, ServerConfig::default(), adapters, std::future::pending()).await
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod adapter;
mod config;
mod delays;
pub mod demo;
mod hub;
mod server;
mod session;
mod tasks;
mod transport;
mod update;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub use adapter::{
    AdapterSet, Adapters, BoxFuture, ClientInfo, DataAdapter, ItemLimits, LiteralMetadata,
    MetadataAdapter, Refusal,
};
pub use config::ServerConfig;
pub use delays::WriteDelays;
pub use hub::{FieldId, ItemFeed, RowWriter, Update};

/// Serves TLCP on `listener` until `shutdown` completes.
///
/// On shutdown the server stops accepting connections and closes every session (clients
/// receive `END`); stream connections get [`ServerConfig::shutdown_grace`] to deliver it,
/// then every connection still open is cut and the function returns. No connection task
/// outlives it.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    adapters: Adapters,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let server = Arc::new(server::Server::new(config, adapters));
    serve(listener, server, shutdown).await
}

/// A server running in the background (see [`spawn`]).
pub struct ServerHandle {
    addr: SocketAddr,
    server: Arc<server::Server>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Starts a server on `listener` in a background task.
pub fn spawn(
    listener: TcpListener,
    config: ServerConfig,
    adapters: Adapters,
) -> std::io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let server = Arc::new(server::Server::new(config, adapters));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, server.clone(), async {
        let _ = stopped.await;
    }));
    Ok(ServerHandle {
        addr,
        server,
        stop: Some(stop),
        task,
    })
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, the URL clients connect to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Number of live sessions.
    pub fn session_count(&self) -> usize {
        self.server.all().len()
    }

    /// Test hook: closes every session's current stream connection abruptly, as a
    /// network failure would. Sessions stay alive, unbound, so clients can recover them.
    pub fn drop_stream_connections(&self) {
        for s in self.server.all() {
            s.drop_stream();
        }
    }

    /// Closes every session from the server side with `END,<code>,<message>`.
    pub fn close_sessions(&self, code: i32, message: &str) {
        for s in self.server.all() {
            s.close(code, message);
        }
    }

    /// Bytes of output waiting for their clients, over every session (a client that does
    /// not read makes it grow, up to [`ServerConfig::max_output_bytes`] per session).
    pub fn queued_output_bytes(&self) -> usize {
        self.server.all().iter().map(|s| s.output_len()).sum()
    }

    /// How long the lines of sessions' output written so far waited in the server, from
    /// the moment their session had them to send (an adapter's push, a control response)
    /// to the end of the socket write that sent them: see [`WriteDelays`].
    pub fn write_delays(&self) -> WriteDelays {
        self.server.delays.snapshot()
    }

    /// Stops the server as [`run`] does on shutdown, and waits for it to end.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap_or(Ok(()))
    }
}

async fn serve(
    listener: TcpListener,
    server: Arc<server::Server>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let reaper = {
        let server = Arc::downgrade(&server);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
            loop {
                tick.tick().await;
                let Some(s) = server.upgrade() else { return };
                s.reap(tokio::time::Instant::now());
            }
        })
    };
    let result = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            accepted = listener.accept() => {
                let (tcp, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                server.tasks.spawn(connection(server.clone(), tcp, remote));
            }
        }
    };
    // Staged: no new connections; every session ends (END queued on its stream
    // connection); the stream connections get a bounded time to deliver it while the
    // HTTP connections close once their response is complete; then whatever is still
    // open is cut.
    drop(listener);
    server.shutdown.begin();
    for s in server.all() {
        s.close(32, "server shutting down");
    }
    let deadline =
        session::dispatch::later(tokio::time::Instant::now(), server.config.shutdown_grace);
    if !server.tasks.wait_idle(deadline).await {
        tracing::debug!("connections still open after the shutdown grace: cutting them");
    }
    reaper.abort();
    server.tasks.abort_all();
    result
}

/// Serves one HTTP connection (which may become a WebSocket). It closes once its
/// response is complete when the server shuts down, or when the session streaming on it
/// asked for `LS_close_socket`.
async fn connection(server: Arc<server::Server>, tcp: tokio::net::TcpStream, remote: SocketAddr) {
    let close = Arc::new(tokio::sync::Notify::new());
    let stop = server.shutdown.wait();
    let write_timeout = server.config.write_timeout;
    let service = {
        let close = close.clone();
        service_fn(move |req| transport::http::handle(server.clone(), remote, close.clone(), req))
    };
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(
            TokioIo::new(transport::stall::WriteDeadline::new(tcp, write_timeout)),
            service,
        )
        .with_upgrades();
    tokio::pin!(conn);
    let ended = tokio::select! {
        r = conn.as_mut() => Some(r),
        () = stop => None,
        () = close.notified() => None,
    };
    let result = match ended {
        Some(r) => r,
        None => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
