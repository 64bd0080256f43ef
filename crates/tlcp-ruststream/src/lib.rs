//! # tlcp-ruststream
//!
//! Lightstreamer (TLCP) as a [RustStream](https://docs.rs/ruststream) broker, over
//! [`tlcp_client`], and a [`bridge`] that republishes Lightstreamer items on NATS subjects
//! for fan-out beyond one machine.
//!
//! ```
//! use futures_util::StreamExt;
//! use ruststream::{Broker, ConnectedBroker, IncomingMessage, Subscriber, SubscriptionSource};
//! use tlcp_ruststream::{HEADER_ITEM, LsBroker, LsConfig, LsSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A server with the demo adapters, in process, on a free port.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let adapters = tlcp_server::demo::demo_adapters(Default::default());
//! let server = tlcp_server::spawn(listener, Default::default(), adapters)?;
//!
//! // Configuration only: nothing connects until `connect`, which creates the session.
//! let broker = LsBroker::new(LsConfig::new(server.url(), "DEMO"));
//! let connected = broker.connect().await?;
//!
//! let quotes = LsSource::merge(["item1", "item2"], ["stock_name", "last_price"])
//!     .data_adapter("STOCKS")
//!     .snapshot(true);
//! let mut subscriber = quotes.subscribe(&connected).await?;
//! {
//!     let mut stream = std::pin::pin!(subscriber.stream());
//!     let quote = stream.next().await.expect("a delivery")?;
//!     // {"stock_name":"Anduct","last_price":"3.04"}
//!     let fields: serde_json::Value = serde_json::from_slice(quote.payload())?;
//!     assert!(fields["last_price"].is_string());
//!     assert!(quote.headers().get(HEADER_ITEM).is_some());
//! }
//! drop(subscriber);
//! connected.shutdown().await?; // destroys the session
//! # Ok(()) }
//! ```
//!
//! A service mounts [`LsSource`]s with `#[subscriber(LsSource::merge(..))]`; see
//! `examples/quotes_service.rs`.
//!
//! # The mapping
//!
//! | RustStream | Lightstreamer |
//! |---|---|
//! | [`LsBroker::new`] | configuration only ([`LsConfig`]: URL, adapter set, user, password, any other [`tlcp_client::ClientBuilder`] setting) |
//! | `connect` | creates the session (and waits for `CONNECTED:*`); tlcp-client keeps it up, recovers it, or replaces it |
//! | `shutdown` | destroys the session; subscriber streams end and publishers refuse from then on |
//! | [`LsSource`] (subscription source) | one subscription: items or group, fields or schema, mode, data adapter, snapshot, maximum frequency |
//! | delivery ([`LsMessage`]) | one update: payload per [`PayloadEncoding`], headers below |
//! | [`LsPublisher`] | a TLCP client message (`sendmessage`): text per [`MessageFormat`], [`MessageOptions`] sequence, max wait, outcome |
//! | [`LsRequester`] (`RequestReply`) | a message whose reply is the Metadata Adapter's `MSGDONE` response (TLCP 2.5.0; empty before) |
//! | `ack` / `nack` | [`AckError::Unsupported`](ruststream::AckError::Unsupported): nothing to settle |
//!
//! ## Deliveries
//!
//! The payload is, by default ([`PayloadEncoding::Json`]), the item's **merged field
//! state** as a JSON object of strings and nulls, `{"stock_name":"Anduct","last_price":"3.04"}`,
//! so RustStream's JSON codec decodes it into a struct of `String`s (or `Option<String>`s
//! for fields that may be null); fields of a schema, whose names the client does not know,
//! are keyed by their 1-based position. [`PayloadEncoding::Field`] delivers one field's raw
//! value instead. The headers are [`HEADER_ITEM`] (`ls-item`: the item's name, or its
//! position for a group), [`HEADER_POSITION`] (`ls-position`, 1-based), [`HEADER_SNAPSHOT`]
//! (`ls-snapshot`: `true` or `false`), [`HEADER_SUBSCRIPTION`] (`ls-subscription`: the
//! source's name) and, in COMMAND mode, [`HEADER_KEY`] (`ls-key`).
//!
//! Lost updates are logged at `warn` (the client's `Dropped`, the server's `OV`); the
//! stream ends on shutdown, on unsubscription, and after a subscription error (yielded as
//! [`LsError::Subscription`]).
//!
//! ## Publishing
//!
//! A TLCP message is text with no headers. A publish whose payload is not UTF-8 fails
//! ([`LsError::NotText`]), and so does one carrying headers
//! ([`LsError::HeadersUnsupported`]): refused, never delivered without them. By default a
//! publish waits for the outcome: `MSGDONE` is `Ok`, `MSGFAIL` (denied, discarded, error)
//! or an aborted message is [`LsError::Outcome`]. [`MessageFormat::VerbPayload`] (the
//! default) sends `<destination>|<payload>`, the `VERB|args` shape Metadata Adapters
//! parse: publishing `hello` to `CHAT` sends `CHAT|hello`.
//!
//! ## The topic scheme
//!
//! Lightstreamer items are fed by data adapters, not by clients, so a published message
//! comes back only where the Metadata Adapter turns it into an update. The topic scheme
//! names such round trips, and is what the conformance suites run on: a publisher with
//! [`MessageFormat::Topic`] over verb `V` sends `V|<topic>|<payload>` for a publish to
//! `<topic>`; an [`LsSource::topic`] subscription to the item the adapter echoes on reads
//! only the updates whose field starts with `<topic>|`, and delivers the rest as the
//! payload. On the demo server, [`LsSource::chat_topic`] with `MessageFormat::topic("CHAT")`
//! rides the chat room: `CHAT|orders|42` is echoed on `chat_room` with `message` =
//! `orders|42`, delivered to the `orders` topic as `42`. Many topics share the item;
//! each subscription sees only its own.
//!
//! # Capabilities
//!
//! * **Settlement**: none. Lightstreamer pushes; a client cannot acknowledge, reject or
//!   requeue an update, so `ack` and `nack` answer `Unsupported`, as the contract allows.
//! * **Retries**: [`LsSource`] declares `BrokerMoves`: a retry copy cannot be published
//!   back to an item (only its data adapter feeds it), so no retry publisher is paired and
//!   a retry falls to `nack` (`Unsupported`). A `max_attempts` or `dead_letter`
//!   declaration is refused at startup ([`LsError::RetryUnsupported`]), not ignored.
//! * **Request-reply**: [`LsRequester`], the reply being the `MSGDONE` response.
//! * **Per-message options**: [`MessageOptions`] (sequence, max wait, outcome) over the
//!   [`LsPublish`] policy's defaults.
//! * **Not implemented**, because Lightstreamer has no such thing: batches, transactions,
//!   seeking, partition keys, delayed redelivery.
//!
//! # Conformance
//!
//! `tests/conformance.rs` runs, as ordinary tests, against tlcp-server in process (demo
//! adapters, on port 0) through the topic scheme over `CHAT`/`chat_room`:
//!
//! * `harness::lifecycle`: the ladder from every runtime, the message shape (32 unkeyed
//!   messages and the header cases: refused, and never delivered), and the aliased handles
//!   after shutdown;
//! * `settlement::suite`: all three settlements answer `Unsupported`, and nothing comes back;
//! * `lifecycle::shutdown_flushes` with `Backlog::Missed` (publish/subscribe: a
//!   subscription gets what is published while it is open);
//! * `lifecycle::shared_handle_closes` ([`ConnectedLs`] is `Clone`).
//!
//! The suites that do not apply, and why:
//!
//! * `harness::run_suite`, `settlement::matches_in_process` and the `InProcessBroker`
//!   passes: they need an in-process transport (`InProcess` / `TestableBroker`) standing
//!   in for the server. This crate has none: it is tested against the real server, which
//!   runs in process already, and a second, fake transport would prove only itself.
//! * `retry::broker_moves`: it needs the broker to apply a delivery cap and a dead-letter
//!   destination; Lightstreamer redelivers nothing and has no dead letters.
//! * `harness::redelivery_address`: no descriptor declares `AddressedCopies`.
//! * `message_shape::keyed_order`: no keys on publish (COMMAND-mode keys belong to the data
//!   adapter's rows, not to messages).
//! * `message_shape::publish_options`: a sequence or a max wait changes processing on the
//!   server, not anything a delivery carries, so there is no effect to read back.
//! * `capabilities::request_reply`: it needs a responder *subscription* that receives the
//!   request with a reply-to header and answers it; a Lightstreamer reply is produced by the
//!   Metadata Adapter, not by a subscriber. `tests/broker.rs` checks [`LsRequester`] against
//!   the demo `ECHO`, `BUY` and `SELL` messages instead.
//! * `capabilities::batches`, `transactions`, `seeking`: no batch subscriber, no
//!   transactions, no position to seek to (the snapshot is the only history, and MERGE
//!   conflates updates, so there is no log of them).
//! * `capabilities::carries`: a delivery is bytes for a codec (the JSON object), not a
//!   typed value the delivery lends.
//! * `harness::describes_without_credentials`: needs the `asyncapi` feature, which this
//!   crate does not use; the password is kept out of `Debug` output and logs (tested).
//!
//! # Bridge
//!
//! [`bridge::run`] (and `tlcp bridge` on the command line) subscribes to items and
//! republishes every update on NATS subject `<prefix>.<item>`, reconnecting on both sides
//! and counting losses, rate and lag; see the [`bridge`] module. `tests/bridge.rs` runs it
//! against a real `nats-server` (which the tests need on `PATH`; they fail, never skip,
//! without it): every update once and in order, through three cut Lightstreamer
//! connections (recovered), and in order with no duplicate through a NATS server restart.

#![forbid(unsafe_code)]

pub mod bridge;
mod broker;
mod publisher;
mod source;

pub use broker::{ClosedLs, Configure, ConnectedLs, LsBroker, LsConfig, LsError};
pub use publisher::{
    LsPublish, LsPublisher, LsReply, LsRequest, LsRequester, MessageFormat, MessageOptions,
};
pub use source::{
    HEADER_ITEM, HEADER_KEY, HEADER_POSITION, HEADER_SNAPSHOT, HEADER_SUBSCRIPTION, LsMessage,
    LsSource, LsSubscriber, PayloadEncoding,
};
