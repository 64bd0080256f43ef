//! The client session state machine: sans-IO, no clock, no randomness.
//!
//! A [`ClientSession`] is the whole TLCP client logic of the official libraries (session
//! creation, stream-sense transport selection, binding and `LOOP`, stall detection, session
//! recovery, retries with backoff, subscriptions with their data models, two-level COMMAND,
//! messages, reverse heartbeats, control request batching), as a value that bytes and time
//! go into and requests and events come out of. A driver (`tlcp-client`) moves the bytes
//! and runs the timer.
//!
//! # The contract
//!
//! **Inputs.** Application calls ([`connect`](ClientSession::connect),
//! [`subscribe`](ClientSession::subscribe), [`send_message`](ClientSession::send_message),
//! ...) and network events about the connections the machine asked for:
//! [`handle_opened`](ClientSession::handle_opened) (a WebSocket is open),
//! [`handle_bytes`](ClientSession::handle_bytes) (bytes of a WebSocket message or of a
//! streaming HTTP response, in any chunking),
//! [`handle_control_response`](ClientSession::handle_control_response) (the whole body of
//! an HTTP control request), [`handle_closed`](ClientSession::handle_closed) (a connection
//! ended or failed), and [`handle_timeout`](ClientSession::handle_timeout). A driver that
//! stops reading (back-pressure) says so with
//! [`pause_reading`](ClientSession::pause_reading) and
//! [`resume_reading`](ClientSession::resume_reading): silence is then not held against
//! the server, and heartbeats go on. Every input takes `now`: the machine never reads a
//! clock.
//!
//! **Outputs.** After **every** input, drain the three poll methods:
//!
//! 1. [`poll_event`](ClientSession::poll_event) until `None`: status changes, session and
//!    subscription events, message outcomes, and the updates themselves;
//! 2. [`poll_transmit`](ClientSession::poll_transmit) until `None`: connections to open,
//!    messages and requests to send, connections to close ([`Transmit`]);
//! 3. [`poll_timeout`](ClientSession::poll_timeout): when to call
//!    [`handle_timeout`](ClientSession::handle_timeout) next (`None`: no timer; it may
//!    change after any input, so read it again each time).
//!
//! **Updates, without copies.** `handle_bytes` takes the chunk as `&mut &[u8]` and parses
//! lines in place (only a line split across chunks is reassembled, in a reused buffer). A
//! `U` line is applied to the subscription's [`SubscriptionModel`] at once, and processing
//! *pauses* right after it: the slice is advanced past the line and the update waits in
//! `poll_event` as an [`Event::Update`] that **borrows the model** (values, changed fields,
//! snapshot flag, key and command: see [`ItemUpdate`]). So the loop for a chunk is:
//!
//! ```text
//! while !chunk.is_empty() {
//!     session.handle_bytes(conn, &mut chunk, now);
//!     while let Some(event) = session.poll_event() { /* deliver it */ }
//! }
//! ```
//!
//! [`handle_bytes_with`](ClientSession::handle_bytes_with) does the same with a callback
//! instead of the pause: each update with no event queued before it is handed to the
//! callback as it is parsed, and the rest of the chunk is processed in the same call (the
//! callback returning `false` stops right after its update); the other events still come
//! out of `poll_event`, in order.
//!
//! Nothing is allocated per update once the model's buffers have grown (a new COMMAND key
//! allocates its row). While an update is waiting, `handle_bytes` does nothing and leaves
//! the slice as it is: drain the events first.
//!
//! Other events own their data and keep their order with the updates: a
//! [`Subscribed`](SubscriptionEvent::Subscribed) comes before the first update, an
//! [`EndOfSnapshot`](SubscriptionEvent::EndOfSnapshot) after the last snapshot update.
//!
//! # Malformed input
//!
//! Nothing the server sends can panic the machine. A line that does not parse (bad UTF-8,
//! bad escape, wrong argument count, too long) is reported as an [`Event::Protocol`] with
//! what was done about it ([`IssueAction`]):
//!
//! * unknown tags (MPN, future ones) are skipped silently;
//! * a malformed or undecodable line for a known subscription (`U`, `SUBOK`, `EOS`, ...)
//!   means its data can no longer be trusted: the subscription is unsubscribed and
//!   subscribed again with a snapshot ([`IssueAction::Resubscribed`]);
//! * anything else is skipped ([`IssueAction::Ignored`]). Data notifications are still
//!   counted for recovery when their tag can be read.
//!
//! # Behaviour
//!
//! As the official clients (see [`SessionConfig`] for every timing and its default):
//!
//! * **Transports.** Without a forced transport, the session is created over WebSocket
//!   (`wsok` and `create_session` sent together once the socket is open). No `CONOK`
//!   within the WS timeout (or a failed socket), and it is created over HTTP
//!   (`LS_cause=ws.unavailable`): a polling request answered at once with `LOOP`
//!   (`CONNECTED:STREAM-SENSING`), after which the stream is bound over WS, falling back to
//!   HTTP streaming, then to HTTP polling when streaming gets no `CONOK` in time. A forced
//!   transport ([`ForcedTransport`]) sticks to its kind (forced `WS` falls back to WS
//!   polling, forced `HTTP` to HTTP polling). What failed holds for the session only: a
//!   new session (a replacement, or a creation retried after a failure) tries WebSocket
//!   first again. `LOOP` rebinds after its delay, on
//!   the same WebSocket or with a new HTTP request. The control link of `CONOK` is where
//!   binds and control requests go ([`Target::ControlLink`]) unless ignored.
//! * **Liveness.** A bound stream silent for keepalive + `stalled_timeout` is `STALLED`;
//!   `reconnect_timeout` more and it is dropped. Reverse heartbeats fill outbound silence.
//! * **Recovery.** When the stream is lost (error, stall), the session is recovered
//!   (`DISCONNECTED:TRYING-RECOVERY`) with an HTTP polling `bind_session` carrying
//!   `LS_recovery_from=<data notifications received>` (`U`, `SUBOK`, `SUBCMD`, `UNSUB`,
//!   `EOS`, `CS`, `OV`, `CONF`, `MSGDONE`, `MSGFAIL`, counted exactly, malformed ones
//!   included), after a random pause below `first_retry_max_delay` (from the seed), then
//!   every `retry_delay` while `session_recovery_timeout` allows. `PROG,<m>` below the
//!   count: the duplicates are skipped ([`SessionEvent::Recovered`]); above: a gap.
//! * **Replacement.** Recovery impossible (timeout, gap, `CONERR`/`END` on the bind, a
//!   protocol without recovery): a new session with `LS_old_session`, every subscription
//!   sent again with a snapshot request, [`SessionEvent::Replaced`] saying what may have
//!   been lost; subscriptions see [`Interrupted`](SubscriptionEvent::Interrupted) then
//!   [`Subscribed`](SubscriptionEvent::Subscribed) again.
//! * **Retries.** Failed creations are retried after `retry_delay` (from the start of the
//!   attempt) 10 times, then the delay doubles up to `max_retry_delay`; a `CONOK` resets
//!   it. `CONERR` 4, 6, 20, 40, 41, 48 and `END` 41, 48 retry; `CONERR` 5 creates over
//!   HTTP with `LS_ttl_millis=unlimited`; other codes stop ([`Event::ServerError`],
//!   [`SessionEnd::Server`], `DISCONNECTED`).
//! * **Control requests** are batched within the request limit of `CONOK`: on the
//!   WebSocket when the stream is one, else as HTTP control requests, one at a time (so
//!   they run in order). Over WS, `add` and `delete` carry `LS_ack=false` (TLCP 2.3.0+).
//! * **Messages** are numbered per sequence from 1 in each session; outcomes map `MSGDONE`
//!   to [`Processed`](MessageOutcome::Processed), `MSGFAIL` 38/39 to
//!   [`Discarded`](MessageOutcome::Discarded), codes `<= 0` to
//!   [`Denied`](MessageOutcome::Denied), others to [`Error`](MessageOutcome::Error); a
//!   session lost before the outcome gives [`Aborted`](MessageOutcome::Aborted).
//! * **Two-level COMMAND**: each key that appears gets a MERGE subscription to the item
//!   named like the key, whose fields extend the key's row; it is deleted with the key.
//!
//! # Example: a scripted session
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tlcp_proto::Mode;
//! use tlcp_proto::client::{
//!     ClientSession, Event, SessionConfig, Status, SubscriptionSpec, Transmit,
//! };
//!
//! let mut now = Instant::now();
//! let mut session = ClientSession::new(SessionConfig::new("DEMO"));
//! let sub = session
//!     .subscribe(SubscriptionSpec::items(Mode::Merge, ["item1"], ["last", "time"]), now)
//!     .unwrap();
//! session.connect(now);
//!
//! // The machine asks for a WebSocket; the driver opens it.
//! let Some(Transmit::OpenWs { conn, subprotocol, .. }) = session.poll_transmit() else {
//!     panic!()
//! };
//! assert_eq!(subprotocol, "TLCP-2.5.0.lightstreamer.com");
//! session.handle_opened(conn, now);
//! let mut sent = Vec::new();
//! while let Some(Transmit::WsText { text, .. }) = session.poll_transmit() {
//!     sent.push(text);
//! }
//! assert_eq!(sent[0], "wsok");
//! assert!(sent[1].starts_with("create_session\r\nLS_adapter_set=DEMO&LS_cid="));
//!
//! // The server answers; one WS message may carry many lines.
//! now += Duration::from_millis(20);
//! let mut chunk: &[u8] = b"WSOK\r\nCONOK,S1,50000,5000,*\r\nSERVNAME,Demo\r\n";
//! let mut statuses = Vec::new();
//! while !chunk.is_empty() {
//!     session.handle_bytes(conn, &mut chunk, now);
//!     while let Some(event) = session.poll_event() {
//!         if let Event::Status(s) = event {
//!             statuses.push(s);
//!         }
//!     }
//! }
//! assert_eq!(statuses, [Status::Connecting, Status::WsStreaming]);
//!
//! // Now the subscription goes out, batched on the WebSocket.
//! let Some(Transmit::WsText { text, .. }) = session.poll_transmit() else { panic!() };
//! assert!(text.contains("LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=item1"));
//!
//! let mut chunk: &[u8] = b"SUBOK,1,1,2\r\nU,1,1,3.04|12:00\r\nU,1,1,3.05|\r\n";
//! let mut prices = Vec::new();
//! while !chunk.is_empty() {
//!     session.handle_bytes(conn, &mut chunk, now);
//!     while let Some(event) = session.poll_event() {
//!         if let Event::Update(u) = event {
//!             assert_eq!(u.subscription(), sub);
//!             prices.push((u.value_by_name("last").unwrap().to_owned(), u.is_snapshot()));
//!         }
//!     }
//! }
//! assert_eq!(prices, [("3.04".into(), true), ("3.05".into(), false)]);
//!
//! // Silence: STALLED after keepalive (5000) + stalled timeout (2000).
//! assert_eq!(session.poll_timeout(), Some(now + Duration::from_millis(7000)));
//! ```

mod config;
mod connection;
mod control;
mod error;
mod event;
pub mod id_map;
mod inbound;
mod liveness;
mod messages;
mod recovery;
mod spec;
mod status;
mod sub_notifications;
mod subscriptions;
mod timers;
mod transmit;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

pub use config::{
    DEFAULT_MAX_COMMAND_KEYS, DEFAULT_MAX_FIELDS, DEFAULT_MAX_ITEMS, ForcedTransport,
    SessionConfig, UnknownTransport,
};
pub use error::{ClientError, IssueAction, ProtocolError, ProtocolIssue};
pub use event::{
    Event, Lost, MessageId, MessageOutcome, RequestFailure, RequestKind, ServerError,
    ServerErrorKind, ServerInfo, SessionEnd, SessionEvent, SubscriptionError, SubscriptionEvent,
    SubscriptionId, Update,
};
pub use spec::{Fields, Items, MessageSpec, SecondLevel, SubscriptionSpec};
pub use status::Status;
pub use transmit::{CloseReason, ConnId, HttpKind, Target, Transmit};

#[allow(unused_imports)] // Linked from the documentation.
use crate::model::ItemUpdate;
use crate::model::SubscriptionModel;
use crate::types::{Bandwidth, MaxFrequency, SessionId};
use connection::{Conn, Plan, Stream};
use control::{Controls, Op};
use messages::Messages;
use recovery::{Recovery, Replacing, Retry, Session};
use subscriptions::Subscriptions;
use timers::{Jitter, Timer, Timers};

/// An event waiting in the queue: owned, or an update to borrow from its model.
#[derive(Debug)]
enum Queued {
    Event(Event<'static>),
    Update(SubscriptionId),
}

/// The TLCP client state machine. See the [module documentation](self) for the contract.
///
/// `Debug` shows the state, never the password nor the full session id.
pub struct ClientSession {
    config: SessionConfig,
    status: Status,
    /// The application wants to be connected.
    want: bool,
    timers: Timers,
    jitter: Jitter,
    next_conn: u64,
    /// Every connection the driver holds for the machine.
    conns: Vec<Conn>,
    /// The stream connection (or the attempt at one).
    stream: Option<Stream>,
    /// The server session, from its `CONOK` until it is lost.
    session: Option<Session>,
    /// Transport selection state of this connection cycle.
    plan: Plan,
    /// The reverse heartbeat interval announced to the server (`LS_inactivity_millis`)
    /// on the last create or bind: it holds until the next one.
    announced_heartbeat: Option<std::time::Duration>,
    /// Set while the stream is lost and the session being recovered.
    recovery: Option<Recovery>,
    retry: Retry,
    /// The lost session the next creation replaces.
    replacing: Option<Replacing>,
    /// The `LS_cause` of the bind the pending [`Timer::Rebind`] makes.
    rebind: Option<&'static str>,
    /// When the current stream request (create, bind, recovery) started.
    attempt_started: Option<Instant>,
    subs: Subscriptions,
    msgs: Messages,
    ctrl: Controls,
    events: VecDeque<Queued>,
    transmits: VecDeque<Transmit>,
    /// An update waits in `events`: `handle_bytes` must not apply another one.
    update_queued: bool,
}

impl fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession")
            .field("status", &self.status)
            .field("session", &self.session.as_ref().map(|s| &s.id))
            .field("stream", &self.stream)
            .field("subscriptions", &self.subs.len())
            .field("queued_events", &self.events.len())
            .field("queued_transmits", &self.transmits.len())
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    /// A machine for `config`, `DISCONNECTED`. Nothing happens until
    /// [`connect`](Self::connect).
    pub fn new(config: SessionConfig) -> Self {
        Self {
            jitter: Jitter::new(config.seed),
            config,
            status: Status::Disconnected,
            want: false,
            timers: Timers::default(),
            next_conn: 0,
            conns: Vec::new(),
            stream: None,
            session: None,
            plan: Plan::default(),
            announced_heartbeat: None,
            recovery: None,
            retry: Retry::default(),
            replacing: None,
            rebind: None,
            attempt_started: None,
            subs: Subscriptions::default(),
            msgs: Messages::default(),
            ctrl: Controls::default(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            update_queued: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The id of the current session, once `CONOK` gave one (`Debug` shows a prefix only).
    pub fn session_id(&self) -> Option<&SessionId> {
        self.session.as_ref().map(|s| &s.id)
    }

    /// What the application asked for a subscription.
    pub fn subscription_spec(&self, id: SubscriptionId) -> Option<&SubscriptionSpec> {
        self.subs.entries.get(&id).map(|e| &e.spec)
    }

    /// The data model of an active subscription: the current rows (MERGE), keys (COMMAND)
    /// and snapshot state. `None` until `SUBOK` and after the subscription ends.
    pub fn model(&self, id: SubscriptionId) -> Option<&SubscriptionModel> {
        self.subs.entries.get(&id)?.model.as_ref()
    }

    /// Starts connecting (no-op if already connected or trying).
    pub fn connect(&mut self, now: Instant) {
        if self.want {
            return;
        }
        self.want = true;
        self.plan = Plan::default();
        self.retry = Retry::default();
        self.start_create(now, "api");
    }

    /// Ends the session (a `destroy` request when one is bound) and closes every
    /// connection: `DISCONNECTED`. Subscriptions are kept (interrupted) and sent again on
    /// the next [`connect`](Self::connect); messages without an outcome are aborted,
    /// unless they were enqueued while disconnected and not sent yet.
    pub fn disconnect(&mut self, now: Instant) {
        if !self.want {
            return;
        }
        self.send_destroy(now);
        self.shutdown(SessionEnd::Client);
    }

    /// Adds a subscription; it is sent as soon as a session exists (and again in every
    /// new session).
    pub fn subscribe(
        &mut self,
        spec: SubscriptionSpec,
        now: Instant,
    ) -> Result<SubscriptionId, ClientError> {
        spec.validate()?;
        let id = self.subs.insert(spec);
        if self.session.is_some() {
            self.send_add(id);
            self.flush(now);
        }
        Ok(id)
    }

    /// [`subscribe`](Self::subscribe) under an id chosen by the caller (a client
    /// handle that numbers its subscriptions itself, so that subscribing needs no answer
    /// from the task that runs the machine). Refused when `id` is in use or is 0.
    pub fn subscribe_as(
        &mut self,
        id: SubscriptionId,
        spec: SubscriptionSpec,
        now: Instant,
    ) -> Result<(), ClientError> {
        spec.validate()?;
        if id.get() == 0 || self.subs.entries.contains_key(&id) {
            return Err(ClientError::SubscriptionIdInUse(id));
        }
        self.subs.insert_as(id, spec);
        if self.session.is_some() {
            self.send_add(id);
            self.flush(now);
        }
        Ok(())
    }

    /// Holds the control requests back until [`send_requests`](Self::send_requests):
    /// requests made in between (subscriptions, messages, ...) go out together, batched
    /// within the server's request limit, instead of one batch each.
    pub fn hold_requests(&mut self) {
        self.ctrl.held = true;
    }

    /// Sends the requests held since [`hold_requests`](Self::hold_requests).
    pub fn send_requests(&mut self, now: Instant) {
        self.ctrl.held = false;
        self.flush(now);
    }

    /// Removes a subscription. [`Unsubscribed`](SubscriptionEvent::Unsubscribed) follows
    /// (at once when it was never sent).
    pub fn unsubscribe(&mut self, id: SubscriptionId, now: Instant) -> Result<(), ClientError> {
        self.remove_subscription(id)?;
        self.flush(now);
        Ok(())
    }

    /// Changes a subscription's maximum frequency (`reconf` when it is active).
    pub fn set_max_frequency(
        &mut self,
        id: SubscriptionId,
        frequency: MaxFrequency,
        now: Instant,
    ) -> Result<(), ClientError> {
        self.reconfigure(id, frequency)?;
        self.flush(now);
        Ok(())
    }

    /// Changes the requested bandwidth (`constrain` when a session exists).
    ///
    /// # Errors
    ///
    /// [`ClientError::NotPositive`] for a number of kbit/s that is not above 0 (nothing
    /// changes).
    pub fn set_bandwidth(
        &mut self,
        bandwidth: Option<Bandwidth>,
        now: Instant,
    ) -> Result<(), ClientError> {
        ClientError::check_bandwidth(bandwidth)?;
        self.config.requested_max_bandwidth = bandwidth;
        if self.session.is_some() {
            let bw = Some(bandwidth.unwrap_or(Bandwidth::Unlimited));
            self.ctrl.push(Op::Constrain(bw));
            self.flush(now);
        }
        Ok(())
    }

    /// Changes the reverse heartbeat interval (`None` or zero: no heartbeats), live.
    ///
    /// A shorter interval applies at once. A longer one (or none) applies from the next
    /// bind: until then the server still expects the interval announced with
    /// `LS_inactivity_millis`, so heartbeats keep that pace rather than let it cut the
    /// connection.
    pub fn set_reverse_heartbeat_interval(
        &mut self,
        interval: Option<std::time::Duration>,
        now: Instant,
    ) {
        let old = self.heartbeat_every();
        self.config.reverse_heartbeat_interval = interval.filter(|d| !d.is_zero());
        match self.heartbeat_every() {
            Some(every) if self.session.is_some() => {
                // Count from the last transmission (the armed timer minus the old interval).
                let last_tx = self
                    .timers
                    .get(Timer::Heartbeat)
                    .zip(old)
                    .and_then(|(t, o)| t.checked_sub(o))
                    .unwrap_or(now);
                self.timers
                    .set(Timer::Heartbeat, (last_tx + every).max(now));
            }
            _ => self.timers.stop(Timer::Heartbeat),
        }
    }

    /// Changes the forced transport. A bound stream on a transport no longer allowed is
    /// moved with a `force_rebind`; attempts in progress keep going, later ones follow.
    pub fn set_forced_transport(&mut self, transport: Option<ForcedTransport>, now: Instant) {
        self.config.forced_transport = transport;
        self.plan = Plan::default();
        self.move_stream_if_needed(now);
    }

    /// Sends a message to the Metadata Adapter. Without a session it is aborted at once
    /// (an [`Event::Message`] with [`MessageOutcome::Aborted`]), unless
    /// [`enqueue_while_disconnected`](MessageSpec::enqueue_while_disconnected) is set.
    pub fn send_message(
        &mut self,
        spec: MessageSpec,
        now: Instant,
    ) -> Result<MessageId, ClientError> {
        spec.validate()?;
        let id = self.queue_message(spec);
        self.flush(now);
        Ok(id)
    }

    /// A WebSocket the machine asked for ([`Transmit::OpenWs`]) is open.
    pub fn handle_opened(&mut self, conn: ConnId, now: Instant) {
        self.on_ws_opened(conn, now);
    }

    /// A connection ended or failed. Anything about a connection the machine closed or
    /// does not know is ignored.
    pub fn handle_closed(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        self.on_closed(conn, reason, now);
    }

    /// The driver stopped reading the connections (back-pressure: the application is
    /// behind). The timers that judge the server's silence (stall detection, the
    /// reconnect timeout, the wait for `CONOK`) stop, since data may be waiting unread;
    /// everything else goes on, reverse heartbeats included, so the server does not drop
    /// the session meanwhile. Call [`resume_reading`](Self::resume_reading) when reading
    /// goes on.
    pub fn pause_reading(&mut self, now: Instant) {
        self.timers.pause_reading(now);
    }

    /// Reading goes on after [`pause_reading`](Self::pause_reading): the silence timers
    /// run again, later by the length of the pause.
    pub fn resume_reading(&mut self, now: Instant) {
        self.timers.resume_reading(now);
    }

    /// Whether reading is paused ([`pause_reading`](Self::pause_reading)).
    pub fn is_reading_paused(&self) -> bool {
        self.timers.reading_paused()
    }

    /// Fires the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Handlers may set timers due at once; a bound keeps a bug from spinning.
        for _ in 0..64 {
            let Some(timer) = self.timers.pop_due(now) else {
                return;
            };
            self.on_timer(timer, now);
        }
    }

    /// The next thing to do on the network. Call until `None` after every input.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event. Call until `None` after every input; an [`Event::Update`] borrows
    /// the machine until the next call.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        loop {
            match self.events.pop_front()? {
                Queued::Event(e) => return Some(e),
                Queued::Update(id) => {
                    self.update_queued = false;
                    if let Some(update) = self.subs.last_update(id) {
                        return Some(Event::Update(Update {
                            subscription: id,
                            update,
                        }));
                    }
                }
            }
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    fn on_timer(&mut self, timer: Timer, now: Instant) {
        match timer {
            Timer::Connect => self.on_connect_timeout(now),
            Timer::Stalled => self.on_stalled(now),
            Timer::Reconnect => self.on_reconnect_timeout(now),
            Timer::Retry => self.on_retry(now),
            Timer::Rebind => {
                // The transport is chosen now: it may have been changed meanwhile.
                if let Some(cause) = self.rebind.take() {
                    let kind = self.choose_bind_kind();
                    self.start_bind(now, kind, connection::Purpose::Bind, cause, false);
                }
            }
            Timer::Heartbeat => self.on_heartbeat(now),
        }
    }

    fn emit(&mut self, event: Event<'static>) {
        self.events.push_back(Queued::Event(event));
    }

    fn set_status(&mut self, status: Status) {
        if self.status != status {
            self.status = status;
            self.emit(Event::Status(status));
        }
    }
}
