//! [`Client`]: the cloneable handle to a background task that owns the session.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::Stream;
use futures_util::stream::BoxStream;
use tlcp_proto::client::{
    ClientError, ForcedTransport, MessageSpec, SessionConfig, Status, SubscriptionId,
    SubscriptionSpec,
};
use tlcp_proto::{Bandwidth, MaxFrequency};
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tracing::Instrument;

use crate::config::ClientBuilder;
use crate::delivery::{Delivery, Shared};
use crate::driver::{Driver, Links};
use crate::error::Error;
use crate::events::{CloseCause, ConnectionEvent};
use crate::message::{MessageBuilder, MessageReply};
use crate::stats::{Counters, Stats};
use crate::subscription::{Subscription, SubscriptionStream};
use crate::transport::{ServerAddress, Transport};
use crate::update::Schema;

/// Connection events kept for a slow reader of [`Client::events`].
const EVENTS_CAPACITY: usize = 256;

/// What the handles ask of the driver.
pub(crate) enum Command {
    Connect,
    Disconnect,
    /// `Disconnect`, answered once the `destroy` request is out.
    Close(oneshot::Sender<()>),
    /// A subscription numbered by the handle (valid: checked by the handle).
    Subscribe {
        id: SubscriptionId,
        spec: SubscriptionSpec,
        shared: Arc<Shared>,
        schema: Arc<Schema>,
        backpressure: bool,
    },
    Unsubscribe(SubscriptionId),
    SetMaxFrequency {
        id: SubscriptionId,
        frequency: MaxFrequency,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    SetBandwidth(Option<Bandwidth>),
    SetForcedTransport(Option<ForcedTransport>),
    SetReverseHeartbeat(Option<std::time::Duration>),
    Message {
        spec: MessageSpec,
        reply: MessageReply,
    },
}

/// The longest [`Client::close`] waits for the `destroy` request to go out.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The sending side of the command channel.
#[derive(Clone, Debug)]
pub(crate) struct Commands(mpsc::UnboundedSender<Command>);

impl Commands {
    pub(crate) fn send(&self, command: Command) -> Result<(), Error> {
        self.0.send(command).map_err(|_| Error::Stopped)
    }
}

/// A Lightstreamer client: a cheap, cloneable handle to a background task that owns the
/// session and its connections.
///
/// * [`connect`](Self::connect) / [`disconnect`](Self::disconnect), and
///   [`status`](Self::status) (a `watch` of the official status strings) and
///   [`events`](Self::events) (created, recovered, replaced, closed...);
/// * [`subscribe`](Self::subscribe): a [`SubscriptionStream`] of updates;
/// * [`send_message`](Self::send_message): a message, awaited for its outcome;
/// * live options: [`set_requested_max_bandwidth`](Self::set_requested_max_bandwidth),
///   [`set_forced_transport`](Self::set_forced_transport),
///   [`set_reverse_heartbeat_interval`](Self::set_reverse_heartbeat_interval);
/// * [`stats`](Self::stats): counters.
///
/// The task keeps running while any `Client` or [`SubscriptionStream`] exists; when the
/// last is dropped, the session is destroyed and the task ends.
#[derive(Clone)]
pub struct Client {
    commands: Commands,
    status: watch::Receiver<Status>,
    events: broadcast::Sender<ConnectionEvent>,
    counters: Arc<Counters>,
    last_close: Arc<Mutex<Option<CloseCause>>>,
    resume: Arc<Notify>,
    /// A replay: every subscription is back-pressured (nothing conflated nor dropped).
    replay: bool,
    /// The number of the last subscription (the handles number them, so that
    /// subscribing needs no answer from the driver).
    last_subscription: Arc<std::sync::atomic::AtomicU64>,
}

/// What the background task runs on.
pub(crate) enum Backend {
    /// The network, optionally recording what the server sends.
    Net {
        server: ServerAddress,
        transport: Transport,
        recorder: Option<crate::recording::Recorder>,
    },
    /// A recording, replayed offline.
    Replay(crate::recording::Recording),
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts configuring a client for the server at `server_address`
    /// (`http(s)://host[:port][/path]`) and the Adapter Set `adapter_set`.
    pub fn builder(server_address: &str, adapter_set: &str) -> ClientBuilder {
        ClientBuilder::new(server_address, adapter_set)
    }

    pub(crate) fn start(backend: Backend, config: SessionConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let (status_tx, status) = watch::channel(Status::Disconnected);
        let (events, _) = broadcast::channel(EVENTS_CAPACITY);
        let counters = Arc::new(Counters::default());
        let last_close = Arc::new(Mutex::new(None));
        let resume = Arc::new(Notify::new());
        let links = Links {
            status: status_tx,
            events: events.clone(),
            counters: counters.clone(),
            last_close: last_close.clone(),
        };
        let replay = matches!(backend, Backend::Replay(_));
        match backend {
            Backend::Net {
                server,
                transport,
                recorder,
            } => {
                let span = tracing::info_span!(
                    "tlcp_client",
                    server = %server,
                    adapter_set = config.adapter_set.as_deref().unwrap_or("DEFAULT"),
                );
                let driver = Driver::new(
                    server,
                    transport,
                    config,
                    rx,
                    links,
                    resume.clone(),
                    recorder,
                );
                tokio::spawn(driver.run().instrument(span));
            }
            Backend::Replay(recording) => {
                let span = tracing::info_span!("tlcp_replay");
                let replayer = crate::driver::replay::Replayer::new(
                    config,
                    recording,
                    rx,
                    links,
                    resume.clone(),
                );
                tokio::spawn(replayer.run().instrument(span));
            }
        }
        Self {
            commands: Commands(tx),
            status,
            events,
            counters,
            last_close,
            resume,
            replay,
            last_subscription: Arc::default(),
        }
    }

    /// Starts connecting (and keeps the session up, retrying and recovering, until
    /// [`disconnect`](Self::disconnect)). Returns at once: follow
    /// [`status`](Self::status), or await [`connected`](Self::connected).
    pub fn connect(&self) {
        // Forgotten here too, so that `connected()` right after does not see the last
        // session's end before the driver handles the command.
        *self.last_close.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let _ = self.commands.send(Command::Connect);
    }

    /// Ends the session (a `destroy` request) and closes the connections. Subscriptions
    /// stay, and are sent again on the next [`connect`](Self::connect).
    pub fn disconnect(&self) {
        let _ = self.commands.send(Command::Disconnect);
    }

    /// Ends the session like [`disconnect`](Self::disconnect), and waits until the
    /// `destroy` request and the connections' last bytes are out (two seconds at most: a
    /// server that does not answer is not waited for).
    ///
    /// Call it before the program exits: the server then ends the session at once,
    /// instead of keeping it (and what it holds for it) until it times out.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.commands.send(Command::Close(done)).is_ok() {
            let _ = tokio::time::timeout(CLOSE_WAIT, wait).await;
        }
    }

    /// Waits until the status is `CONNECTED:*`. Fails if the session ends for good
    /// first: refused or closed by the server ([`Error::Server`]) or disconnected by the
    /// application ([`Error::Disconnected`]).
    pub async fn connected(&self) -> Result<Status, Error> {
        let mut events = self.events.subscribe();
        let mut status = self.status.clone();
        loop {
            let s = *status.borrow_and_update();
            if s.is_connected() {
                return Ok(s);
            }
            if s == Status::Disconnected
                && let Some(cause) = self.last_close_cause()
            {
                return Err(close_error(cause));
            }
            tokio::select! {
                changed = status.changed() => changed.map_err(|_| Error::Stopped)?,
                event = events.recv() => match event {
                    Ok(ConnectionEvent::SessionClosed { cause }) => return Err(close_error(cause)),
                    Err(broadcast::error::RecvError::Closed) => return Err(Error::Stopped),
                    _ => {}
                },
            }
        }
    }

    fn last_close_cause(&self) -> Option<CloseCause> {
        self.last_close
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The status, as a `watch` receiver: `borrow()` for the current one, `changed()` to
    /// wait for the next. Displays as the official strings (`CONNECTED:WS-STREAMING`).
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// The current status.
    pub fn current_status(&self) -> Status {
        *self.status.borrow()
    }

    /// A stream of the connection events from now on (each call gets its own).
    pub fn events(&self) -> ConnectionEvents {
        let rx = self.events.subscribe();
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    ConnectionEvent::Lagged { missed }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((event, rx))
        });
        ConnectionEvents(Box::pin(stream))
    }

    /// Subscribes. The returned stream delivers the subscription's events in order;
    /// dropping it unsubscribes. Fails only if the request is invalid (nothing is sent
    /// then); the server's refusal comes as a [`SubscriptionEvent::Error`].
    ///
    /// [`SubscriptionEvent::Error`]: crate::SubscriptionEvent::Error
    pub async fn subscribe(&self, subscription: Subscription) -> Result<SubscriptionStream, Error> {
        let mut policy = subscription.delivery_policy();
        if self.replay {
            policy = Delivery::Backpressure {
                capacity: crate::DEFAULT_QUEUE_CAPACITY,
            };
        }
        subscription.spec.validate()?;
        let shared = Arc::new(Shared::new(policy, self.resume.clone()));
        // Numbered here, not by the driver: nothing to wait for, so a loop of awaited
        // subscriptions sends them in batches rather than one round trip each.
        let n = self
            .last_subscription
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let id = SubscriptionId::from_number(n);
        self.commands.send(Command::Subscribe {
            id,
            schema: Arc::new(Schema::of(&subscription.spec)),
            spec: subscription.spec,
            shared: shared.clone(),
            backpressure: matches!(policy, Delivery::Backpressure { .. }),
        })?;
        Ok(SubscriptionStream::new(id, shared, self.commands.clone()))
    }

    /// A message to the Metadata Adapter: set its options on the returned builder, then
    /// `.await` it for its outcome.
    pub fn send_message(&self, text: impl Into<String>) -> MessageBuilder {
        MessageBuilder::new(self.commands.clone(), text.into())
    }

    /// Changes the requested maximum bandwidth live (a `constrain` request); `None`:
    /// unlimited. The server's answer comes as a [`ConnectionEvent::Bandwidth`].
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for a number of kbit/s that is not above 0 (nothing changes);
    /// [`Error::Stopped`] when the client is gone.
    pub fn set_requested_max_bandwidth(&self, bandwidth: Option<Bandwidth>) -> Result<(), Error> {
        ClientError::check_bandwidth(bandwidth)?;
        self.commands.send(Command::SetBandwidth(bandwidth))?;
        Ok(())
    }

    /// Changes the forced transport live: a stream on a transport no longer allowed is
    /// moved (`force_rebind`).
    pub fn set_forced_transport(&self, transport: Option<ForcedTransport>) {
        let _ = self.commands.send(Command::SetForcedTransport(transport));
    }

    /// Changes the reverse heartbeat interval live (`None` or zero: off). A shorter
    /// interval applies at once; a longer one (or off) from the next bind, since until then
    /// the server still expects the interval it was told (`LS_inactivity_millis`).
    pub fn set_reverse_heartbeat_interval(&self, interval: Option<std::time::Duration>) {
        let _ = self.commands.send(Command::SetReverseHeartbeat(interval));
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }
}

fn close_error(cause: CloseCause) -> Error {
    match cause {
        CloseCause::Server(e) => Error::Server(e),
        _ => Error::Disconnected,
    }
}

/// The connection events of a [`Client`], from [`Client::events`].
pub struct ConnectionEvents(BoxStream<'static, ConnectionEvent>);

impl std::fmt::Debug for ConnectionEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionEvents")
    }
}

impl Stream for ConnectionEvents {
    type Item = ConnectionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ConnectionEvent>> {
        self.0.as_mut().poll_next(cx)
    }
}
