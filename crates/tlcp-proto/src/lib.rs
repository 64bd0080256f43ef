//! # tlcp-proto
//!
//! The sans-IO core of TLCP, the Text Lightstreamer Client Protocol (versions 2.0.0 to
//! 2.5.0). No sockets, no clock, no randomness: bytes and time go in, values come out.
//! The client (`tlcp-client`) and the server (`tlcp-server`) both stand on it.

#![forbid(unsafe_code)]

pub mod client;
pub mod fields;
pub mod framing;
pub mod model;
pub mod notification;
pub mod percent;
pub mod request;
pub mod types;
pub mod version;

pub use fields::{ChangedFields, Encoder, FieldError, Row};
pub use framing::{FrameError, LineDecoder};
pub use notification::{Notification, NotificationError};
pub use request::{
    BindSession, Control, ControlOp, CreateSession, Heartbeat, Request, RequestBatch, RequestError,
    Subscribe, parse_http, parse_ws_message,
};
pub use types::{
    Bandwidth, BandwidthLimit, BufferSize, MaxFrequency, Mode, RealMaxFrequency, Secret, SessionId,
    Snapshot,
};
pub use version::ProtocolVersion;
