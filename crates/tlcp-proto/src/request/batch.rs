//! Batching several requests into one WS message or one HTTP body.

use std::fmt;

use super::Request;
use super::encode::write_http_path;
use crate::types::SessionId;
use crate::version::ProtocolVersion;

/// Where a batch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Ws,
    Http(ProtocolVersion),
}

/// How a push into a batch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The request is in the batch, and the batch is within the limit.
    Fits,
    /// The request was pushed into an empty batch and alone exceeds the limit: it is in
    /// the batch all the same (the server will likely refuse it).
    Oversized {
        /// The encoded size of the batch, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
}

/// A request that was not added to a batch. The batch is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The batch holds a request that cannot share its message (`create_session`,
    /// `bind_session`, `wsok`, `heartbeat`), or the new request is one of those.
    #[error("{name} requests cannot be batched")]
    NotBatchable {
        /// The name of the request that cannot share.
        name: &'static str,
    },
    /// The batch holds requests of another name.
    #[error("a batch of {batch} requests cannot take a {request} request")]
    MixedNames {
        /// The name of the requests in the batch.
        batch: &'static str,
        /// The name of the refused request.
        request: &'static str,
    },
    /// The batch would exceed its limit.
    #[error("the batch would take {size} bytes, over its limit of {limit}")]
    TooLarge {
        /// The encoded size the batch would have, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// HTTP: the batch's query string names a session (that of its first request), and
    /// the new request names none, so it would inherit that session.
    #[error("a request without LS_session cannot join an HTTP batch for a session")]
    MissingSession,
}

/// Several requests of one name encoded into one WS message or one HTTP body, within a
/// byte limit (the request limit a server gives in `CONOK`).
///
/// Only `control` and `msg` requests share: a batch takes requests of the name of its
/// first one. The first push into an empty batch always succeeds, whatever the request;
/// later pushes are refused (leaving the batch as it was) when they would break the limit,
/// measured on the bytes sent: the whole WS message, or the HTTP body.
///
/// Over HTTP, the session of the first `control`/`msg` request goes to the query string
/// (see [`RequestBatch::write_http_path`]) and is left out of the lines that share it.
///
/// ```
/// use tlcp_proto::request::{BatchError, ControlOp, Control, Pushed, Request, RequestBatch};
/// let mut batch = RequestBatch::ws(80);
/// let del = |id: &str, sub| Request::from(Control::new(id, ControlOp::delete(sub)));
/// assert_eq!(batch.push(&del("1", 1)), Ok(Pushed::Fits));
/// assert_eq!(batch.push(&del("2", 2)), Ok(Pushed::Fits));
/// assert!(matches!(batch.push(&del("3", 3)), Err(BatchError::TooLarge { .. })));
/// assert_eq!(
///     batch.payload(),
///     "control\r\nLS_reqId=1&LS_op=delete&LS_subId=1\r\nLS_reqId=2&LS_op=delete&LS_subId=2"
/// );
/// ```
///
/// Its `Debug` output shows the size of the payload, never its content (which may hold a
/// password or a full session id).
#[derive(Clone)]
pub struct RequestBatch {
    transport: Transport,
    limit: usize,
    name: Option<&'static str>,
    batchable: bool,
    default_session: Option<SessionId>,
    count: usize,
    payload: String,
}

impl fmt::Debug for RequestBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBatch")
            .field("transport", &self.transport)
            .field("limit", &self.limit)
            .field("name", &self.name)
            .field("default_session", &self.default_session)
            .field("count", &self.count)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl RequestBatch {
    /// An empty batch for one WS message of at most `limit` bytes.
    pub fn ws(limit: usize) -> Self {
        Self::new(Transport::Ws, limit)
    }

    /// An empty batch for one HTTP request of the given version, whose body is at most
    /// `limit` bytes.
    pub fn http(version: ProtocolVersion, limit: usize) -> Self {
        Self::new(Transport::Http(version), limit)
    }

    fn new(transport: Transport, limit: usize) -> Self {
        Self {
            transport,
            limit,
            name: None,
            batchable: false,
            default_session: None,
            count: 0,
            payload: String::new(),
        }
    }

    /// Adds `request` to the batch.
    pub fn push(&mut self, request: &Request) -> Result<Pushed, BatchError> {
        let Some(name) = self.name else {
            return Ok(self.push_first(request));
        };
        if !self.batchable {
            return Err(BatchError::NotBatchable { name });
        }
        if !request.is_batchable() {
            return Err(BatchError::NotBatchable {
                name: request.name(),
            });
        }
        if request.name() != name {
            return Err(BatchError::MixedNames {
                batch: name,
                request: request.name(),
            });
        }
        if self.default_session.is_some() && request.session().is_none() {
            return Err(BatchError::MissingSession);
        }
        let mark = self.payload.len();
        self.payload.push_str("\r\n");
        request.write_params(self.default_session.as_ref(), &mut self.payload);
        let size = self.payload.len();
        if size > self.limit {
            self.payload.truncate(mark);
            return Err(BatchError::TooLarge {
                size,
                limit: self.limit,
            });
        }
        self.count += 1;
        Ok(Pushed::Fits)
    }

    fn push_first(&mut self, request: &Request) -> Pushed {
        self.name = Some(request.name());
        self.batchable = request.is_batchable();
        self.count = 1;
        match self.transport {
            Transport::Ws => request.encode_ws(&mut self.payload),
            Transport::Http(_) => {
                // The body alone; the path is written apart, from the same session.
                self.default_session = request.http_query_session().cloned();
                request.write_http_body(self.default_session.as_ref(), &mut self.payload);
            }
        }
        let size = self.payload.len();
        if size > self.limit {
            Pushed::Oversized {
                size,
                limit: self.limit,
            }
        } else {
            Pushed::Fits
        }
    }

    /// What to send: the WS message, or the HTTP body. Empty for an empty batch.
    pub fn payload(&self) -> &str {
        &self.payload
    }

    /// Takes the payload out, leaving the batch empty (with the same transport and limit).
    pub fn take_payload(&mut self) -> String {
        let payload = std::mem::take(&mut self.payload);
        self.clear();
        payload
    }

    /// Empties the batch, keeping its buffer.
    pub fn clear(&mut self) {
        self.payload.clear();
        self.name = None;
        self.batchable = false;
        self.default_session = None;
        self.count = 0;
    }

    /// HTTP: appends the path with its query string for this batch (with the default
    /// session, if any) and returns `true`. Appends nothing and returns `false` for an
    /// empty batch or a WS batch.
    pub fn write_http_path(&self, out: &mut String) -> bool {
        match (self.transport, self.name) {
            (Transport::Http(version), Some(name)) => {
                write_http_path(name, version, self.default_session.as_ref(), out);
                true
            }
            _ => false,
        }
    }

    /// How many requests the batch holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the batch holds no request.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The name of the requests in the batch (`None` when empty).
    pub fn name(&self) -> Option<&'static str> {
        self.name
    }

    /// The encoded size of the payload, in bytes.
    pub fn encoded_len(&self) -> usize {
        self.payload.len()
    }

    /// The byte limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// HTTP: the session in the query string, that every line of the body defaults to.
    pub fn default_session(&self) -> Option<&SessionId> {
        self.default_session.as_ref()
    }
}
