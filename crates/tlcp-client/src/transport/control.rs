//! Control requests: hyper's HTTP/1 client over a small pool of keep-alive connections
//! per server.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use super::net::Io;
use super::{ServerAddress, TransportError};

/// A request sender of an open connection.
pub(crate) type Sender = SendRequest<Full<Bytes>>;

/// Idle connections, per server (scheme, host, port).
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<(bool, String, u16), Vec<Sender>>>,
}

fn key(server: &ServerAddress) -> (bool, String, u16) {
    (server.is_secure(), server.host().to_owned(), server.port())
}

impl Pool {
    /// An idle connection to `server` that is not known to be closed, if any (it may
    /// still have to finish its previous exchange: await `ready` before using it).
    pub(crate) fn take(&self, server: &ServerAddress) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(&key(server))?;
        while let Some(s) = list.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    /// Gives a connection back after its response was read whole, unless the pool is
    /// full or the connection is closing.
    pub(crate) fn put(&self, server: &ServerAddress, sender: Sender, max_idle: usize) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(key(server)).or_default();
        list.retain(|s| !s.is_closed());
        if list.len() < max_idle {
            list.push(sender);
        }
    }
}

/// Starts an HTTP/1 client connection on `io`; the connection is driven by a task of its
/// own, which ends when the connection closes.
pub(crate) async fn handshake(io: Io, server: &ServerAddress) -> Result<Sender, TransportError> {
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| TransportError::protocol(format!("HTTP/1 client: {e}")))?;
    let server = server.to_string();
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(%server, error = %e, "control connection ended with an error");
        }
    });
    Ok(sender)
}

/// Reads a response body whole, up to `limit` bytes: past it, the body is cut there if
/// `truncate`, an error otherwise.
pub(crate) async fn read_body(
    mut body: hyper::body::Incoming,
    limit: usize,
    truncate: bool,
) -> Result<Bytes, TransportError> {
    let mut out = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(hyper_error)?.into_data() else {
            continue;
        };
        if out.len() + data.len() > limit {
            if truncate {
                out.extend_from_slice(&data[..limit - out.len()]);
                break;
            }
            return Err(TransportError::protocol(format!(
                "control response larger than {limit} bytes"
            )));
        }
        out.extend_from_slice(&data);
    }
    Ok(out.freeze())
}

/// Maps a hyper error to ours: I/O errors stay I/O errors.
pub(crate) fn hyper_error(e: hyper::Error) -> TransportError {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return TransportError::Io(std::io::Error::new(io.kind(), e.to_string()));
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return TransportError::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            e.to_string(),
        ));
    }
    TransportError::protocol(format!("HTTP: {e}"))
}
