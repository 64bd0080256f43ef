//! # tlcp-client
//!
//! An async Lightstreamer (TLCP) client: WebSocket and HTTP, streaming and polling, all
//! subscription modes (two-level COMMAND included), messages, session recovery, and
//! delivery that never lets one slow reader hold the others back.
//!
//! ```
//! use futures_util::StreamExt;
//! use tlcp_client::{Client, Subscription, SubscriptionEvent};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A server with the demo adapters, in process, on a free port.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let adapters = tlcp_server::demo::demo_adapters(Default::default());
//! let server = tlcp_server::spawn(listener, Default::default(), adapters)?;
//!
//! let client = Client::builder(&server.url(), "DEMO").build()?;
//! client.connect();
//! println!("{}", client.connected().await?); // CONNECTED:WS-STREAMING
//!
//! let subscription = Subscription::merge(["item1", "item2"], ["stock_name", "last_price"])
//!     .data_adapter("STOCKS");
//! let mut quotes = client.subscribe(subscription).await?;
//! let mut printed = 0;
//! while let Some(event) = quotes.next().await {
//!     if let SubscriptionEvent::Update(u) = event {
//!         println!(
//!             "{}: {} (snapshot: {})",
//!             u.value_by_name("stock_name").unwrap_or("?"),
//!             u.value_by_name("last_price").unwrap_or("-"),
//!             u.is_snapshot(),
//!         );
//!         printed += 1;
//!         if printed == 3 {
//!             break;
//!         }
//!     }
//! }
//! client.close().await; // `destroy`: the server ends the session now
//! # Ok(()) }
//! ```
//!
//! # Shape
//!
//! A [`Client`] is a cloneable handle to one background task (the *driver*) that owns
//! the session state machine ([`tlcp_proto::client::ClientSession`]) and its connections
//! ([`transport`]). Handles talk to it over a channel; it answers through:
//!
//! * [`Client::status`]: a `tokio::sync::watch` of the [`Status`], shown as the official
//!   strings (`CONNECTED:WS-STREAMING`, `STALLED`, `DISCONNECTED:WILL-RETRY`, ...);
//! * [`Client::events`]: a stream of [`ConnectionEvent`]s: a session created, recovered
//!   (nothing lost), replaced (how much may have been lost), closed (the server's code
//!   and message), server errors, stalls;
//! * [`Client::subscribe`]: a [`SubscriptionStream`] per subscription, a
//!   `futures::Stream` of [`SubscriptionEvent`]s (updates as owned [`ItemUpdate`]s, each
//!   stamped with the instant of the socket read that brought it);
//! * [`Client::send_message`]: a future of the [`MessageOutcome`];
//! * [`Client::stats`]: counters ([`Stats`]).
//!
//! Callbacks in the style of the official SDKs ([`SubscriptionListener`],
//! [`ClientListener`]) are a thin layer over the streams. The driver runs on a
//! current-thread runtime as well as a multi-thread one.
//!
//! # No head-of-line blocking
//!
//! The driver never waits for a reader. Each subscription has its own queue and a
//! [`Delivery`] policy, chosen at subscribe time: MERGE subscriptions keep the latest
//! state of each item (intermediate updates are folded in and counted), the other modes
//! a bounded queue that reports exactly how many updates it dropped, in order, with a
//! [`SubscriptionEvent::Dropped`]; [`Delivery::Backpressure`] (opt-in) pauses reading
//! instead. Memory stays bounded whatever the readers do. See [`delivery`].
//!
//! # Recording and replay
//!
//! [`ClientBuilder::record_to`] records every input the driver gives the session
//! machine from the network (chunks with their boundaries and times, control responses,
//! connections opened and closed, timers; never a request) to a file in the
//! [`recording`] format; [`ClientBuilder::replay`] builds a client that feeds such a
//! recording to a fresh machine offline, in virtual time, and delivers the same
//! [`SubscriptionEvent`]s through the same streams.
//!
//! # Configuration
//!
//! [`ClientBuilder`] mirrors the official `ConnectionDetails` and `ConnectionOptions`
//! (user, password, forced transport, retry delay, session recovery timeout, stalled
//! and reconnect timeouts, keepalive, idle and polling intervals, reverse heartbeat,
//! content length, requested bandwidth, extra headers, proxy, TLS, protocol version,
//! busy-poll reads, local address), with the same defaults. The password never appears
//! in `Debug` output nor in logs; session ids are logged as a short prefix.

#![forbid(unsafe_code)]

mod client;
mod config;
pub mod delivery;
mod driver;
mod error;
mod events;
mod listener;
mod message;
pub mod recording;
mod stats;
mod subscription;
pub mod transport;
mod update;

pub use client::{Client, ConnectionEvents};
pub use config::ClientBuilder;
pub use delivery::{DEFAULT_QUEUE_CAPACITY, Delivery, DeliveryStats};
pub use error::Error;
pub use events::{CloseCause, ConnectionEvent, SubscriptionEvent};
pub use listener::{ClientListener, SubscriptionListener};
pub use message::{FireAndForget, MessageBuilder};
pub use stats::Stats;
pub use subscription::{Subscription, SubscriptionStream};
pub use update::ItemUpdate;

pub use tlcp_proto::client::{
    Fields, ForcedTransport, IssueAction, Items, Lost, MessageOutcome, ProtocolError,
    ProtocolIssue, RequestFailure, RequestKind, ServerError, ServerErrorKind, Status,
    SubscriptionError, SubscriptionId,
};
pub use tlcp_proto::model::Command;
pub use tlcp_proto::{
    Bandwidth, BandwidthLimit, BufferSize, MaxFrequency, Mode, ProtocolVersion, RealMaxFrequency,
    SessionId,
};
