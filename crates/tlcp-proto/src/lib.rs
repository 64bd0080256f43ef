//! # tlcp-proto
//!
//! The sans-IO core of TLCP, the Text Lightstreamer Client Protocol (versions 2.0.0 to
//! 2.5.0). No sockets, no clock, no randomness: bytes and time go in, values come out.
//! The client (`tlcp-client`) and the server (`tlcp-server`) both stand on it.
//!
//! # The receive path in one example
//!
//! Bytes from the socket, in whatever chunks they come, go through a [`LineDecoder`]
//! (complete lines out), [`Notification::parse_bytes`] (a typed line) and, for the `U` lines,
//! a [`SubscriptionModel`](model::SubscriptionModel) (the item's current values, and which
//! fields changed). Once warm, this path allocates nothing.
//!
//! ```
//! use tlcp_proto::model::SubscriptionModel;
//! use tlcp_proto::{LineDecoder, Mode, Notification};
//!
//! // SUBOK,1,1,3 said: subscription 1, one item, three fields.
//! let mut model = SubscriptionModel::new(Mode::Merge, 1, 3)?
//!     .with_field_names(["time", "last_price", "phase"])?;
//! let mut decoder = LineDecoder::default();
//! let mut changed = Vec::new();
//!
//! // Two reads from the socket; the second update is split between them.
//! let reads: [&[u8]; 2] = [
//!     b"U,1,1,20:00:33|3.04|Open%7CCont\r\nU,1,1,20:00:",
//!     b"34|3.05|\r\nPROBE\r\n",
//! ];
//! for mut read in reads {
//!     while let Some(line) = decoder.next_line(&mut read)? {
//!         let Notification::Update { sub_id: 1, item, values } = Notification::parse_bytes(line)?
//!         else {
//!             continue; // PROBE, and the other notifications, go elsewhere
//!         };
//!         let update = model.update(item as usize, values)?;
//!         println!("last_price: {:?}", update.value_by_name("last_price"));
//!         changed = update.changed_positions().collect();
//!     }
//! }
//! // The last update changed the time and the price; the phase is as before.
//! assert_eq!(changed, [1, 2]);
//! let row = model.row(1).expect("item 1");
//! assert_eq!(row.value(3), Some("Open|Cont"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
