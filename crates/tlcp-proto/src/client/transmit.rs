//! What the machine asks the driver to do on the network: [`Transmit`].

use std::fmt;

/// A connection, as numbered by the machine. The driver maps it to a socket or an HTTP
/// request, and gives it back with every event about that connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(super) u64);

impl ConnId {
    /// The number (unique for the life of the machine).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Where a connection goes.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// The configured server address.
    Server,
    /// The control link the server gave in `CONOK` (`host[:port]`), with the scheme of the
    /// configured address: binds and control requests of the session go there.
    ControlLink(String),
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Server => f.write_str("Server"),
            Self::ControlLink(l) => write!(f, "ControlLink({l})"),
        }
    }
}

/// What an HTTP request is for, which says where its response goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpKind {
    /// A stream connection (`create_session`, `bind_session`, streaming or polling): feed
    /// the response body to [`handle_bytes`](super::ClientSession::handle_bytes) as it
    /// arrives, then call [`handle_closed`](super::ClientSession::handle_closed).
    Stream,
    /// A control request (`control`, `msg`, `heartbeat`): give the whole response body to
    /// [`handle_control_response`](super::ClientSession::handle_control_response).
    Control,
}

/// One thing for the driver to do. See the [module documentation](super) for the contract.
///
/// `Debug` shows the request name and size, never the body (it may hold a password or a
/// session id).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transmit {
    /// Open a WebSocket to `target` + `path`, with this subprotocol. Then call
    /// [`handle_opened`](super::ClientSession::handle_opened), or
    /// [`handle_closed`](super::ClientSession::handle_closed) if it fails.
    OpenWs {
        /// The connection.
        conn: ConnId,
        /// Where to connect.
        target: Target,
        /// The path: `/lightstreamer`.
        path: &'static str,
        /// The `Sec-WebSocket-Protocol`, e.g. `TLCP-2.5.0.lightstreamer.com`.
        subprotocol: &'static str,
        /// Whether the WebSocket is opened to create a session (`create_session` is its
        /// first request), not to bind or recover one: extra HTTP headers meant for
        /// session creation only go on this handshake.
        creates_session: bool,
    },
    /// Send one text message on an open WebSocket.
    WsText {
        /// The connection.
        conn: ConnId,
        /// The message (one request, or a batch; lines separated by CRLF).
        text: String,
    },
    /// Send an HTTP `POST` to `target` + `path` (with `Content-Type: text/plain;
    /// charset=utf-8`).
    Http {
        /// The connection (one per request).
        conn: ConnId,
        /// Where to send it.
        target: Target,
        /// The path and query string, e.g.
        /// `/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0`.
        path: String,
        /// The body.
        body: String,
        /// Where the response goes.
        kind: HttpKind,
    },
    /// Close the connection (a WebSocket, or an HTTP request still running) and forget it:
    /// the machine ignores anything reported about it afterwards.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

impl Transmit {
    /// The connection this is about.
    pub fn conn(&self) -> ConnId {
        match self {
            Self::OpenWs { conn, .. }
            | Self::WsText { conn, .. }
            | Self::Http { conn, .. }
            | Self::Close { conn } => *conn,
        }
    }
}

/// The first line of a request payload: its name (`create_session`, `control`, ...).
fn request_name(text: &str) -> &str {
    text.split("\r\n").next().unwrap_or("")
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OpenWs {
                conn,
                target,
                path,
                subprotocol,
                creates_session,
            } => f
                .debug_struct("OpenWs")
                .field("conn", conn)
                .field("target", target)
                .field("path", path)
                .field("subprotocol", subprotocol)
                .field("creates_session", creates_session)
                .finish(),
            Self::WsText { conn, text } => f
                .debug_struct("WsText")
                .field("conn", conn)
                .field("request", &request_name(text))
                .field("len", &text.len())
                .finish(),
            Self::Http {
                conn,
                target,
                path,
                body,
                kind,
            } => {
                let name = path.split('?').next().unwrap_or("");
                f.debug_struct("Http")
                    .field("conn", conn)
                    .field("target", target)
                    .field("path", &name)
                    .field("body_len", &body.len())
                    .field("kind", kind)
                    .finish()
            }
            Self::Close { conn } => f.debug_struct("Close").field("conn", conn).finish(),
        }
    }
}

/// How a connection ended, as the driver reports it to
/// [`handle_closed`](super::ClientSession::handle_closed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer ended it cleanly (end of the HTTP response, WebSocket close).
    Ended,
    /// It failed: refused, reset, TLS or HTTP error, WebSocket handshake refused... The
    /// text is for diagnostics.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_bodies() {
        let t = Transmit::WsText {
            conn: ConnId(1),
            text: "create_session\r\nLS_user=u&LS_password=hunter2".into(),
        };
        let d = format!("{t:?}");
        assert!(
            d.contains("create_session") && !d.contains("hunter2"),
            "{d}"
        );
        let t = Transmit::Http {
            conn: ConnId(2),
            target: Target::Server,
            path: "/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=Sabcdef123".into(),
            body: "LS_reqId=1".into(),
            kind: HttpKind::Control,
        };
        let d = format!("{t:?}");
        assert!(
            d.contains("control.txt") && !d.contains("Sabcdef123"),
            "{d}"
        );
        assert_eq!(t.conn(), ConnId(2));
    }
}
