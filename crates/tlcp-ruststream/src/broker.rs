//! The broker, its connected form and its configuration.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ruststream::{Broker, ConnectedBroker, DefaultPublish};
use tlcp_client::{Client, ClientBuilder, MessageOutcome, Status};
use tokio::sync::watch;

use crate::publisher::{LsPublish, LsPublisher, LsRequest, LsRequester};

/// Extra client settings applied on top of [`LsConfig`] (transport, protocol, timeouts...).
pub type Configure = Arc<dyn Fn(ClientBuilder) -> ClientBuilder + Send + Sync>;

/// How long [`ConnectedBroker::shutdown`] waits for the session to be destroyed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to open the Lightstreamer session. Configuration only: nothing connects
/// until [`Broker::connect`].
///
/// The password never appears in `Debug` output.
#[derive(Clone)]
pub struct LsConfig {
    url: String,
    adapter_set: String,
    user: Option<String>,
    password: Option<String>,
    configure: Option<Configure>,
    connect_timeout: Duration,
}

impl LsConfig {
    /// A session on `url` (`http://host:port`, `https://...`) with the `adapter_set`.
    pub fn new(url: impl Into<String>, adapter_set: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            adapter_set: adapter_set.into(),
            user: None,
            password: None,
            configure: None,
            connect_timeout: Duration::from_secs(30),
        }
    }

    /// The user given to the Metadata Adapter.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The password given to the Metadata Adapter (never logged nor shown by `Debug`).
    #[must_use]
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Any other client setting, applied to the [`ClientBuilder`] when connecting.
    #[must_use]
    pub fn configure(
        mut self,
        f: impl Fn(ClientBuilder) -> ClientBuilder + Send + Sync + 'static,
    ) -> Self {
        self.configure = Some(Arc::new(f));
        self
    }

    /// How long [`Broker::connect`] waits for the session (default 30 s). The client keeps
    /// retrying an unreachable server; this bounds how long `connect` waits for it.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The adapter set.
    pub fn adapter_set(&self) -> &str {
        &self.adapter_set
    }

    /// Builds the client (must run inside a Tokio runtime: the client's driver is spawned
    /// on it). Does not connect.
    pub(crate) fn build_client(&self) -> Result<Client, tlcp_client::Error> {
        let mut builder = Client::builder(&self.url, &self.adapter_set);
        if let Some(user) = &self.user {
            builder = builder.user(user.clone());
        }
        if let Some(password) = &self.password {
            builder = builder.password(password.clone());
        }
        if let Some(configure) = &self.configure {
            builder = configure(builder);
        }
        builder.build()
    }
}

impl fmt::Debug for LsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LsConfig")
            .field("url", &self.url)
            .field("adapter_set", &self.adapter_set)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("configure", &self.configure.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// What can go wrong with this broker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LsError {
    /// The client failed (configuration, refused session, stopped driver...).
    #[error("lightstreamer client: {0}")]
    Client(#[from] tlcp_client::Error),
    /// No session within [`LsConfig::connect_timeout`].
    #[error("no session within {0:?}")]
    ConnectTimeout(Duration),
    /// The broker was shut down: nothing can be sent or received through it any more.
    #[error("the lightstreamer broker is shut down")]
    Closed,
    /// A TLCP message is text: the payload must be UTF-8.
    #[error("a TLCP message is text, and the payload is not UTF-8")]
    NotText,
    /// TLCP messages have no headers; a publish carrying some is refused rather than
    /// losing them.
    #[error("TLCP messages carry no headers; refusing a publish with {0} header(s)")]
    HeadersUnsupported(usize),
    /// The server did not process the message.
    #[error("message not processed: {0}")]
    Outcome(String),
    /// No outcome within the time allowed.
    #[error("no message outcome within {0:?}")]
    Timeout(Duration),
    /// The subscription failed on the server.
    #[error("subscription failed: {0}")]
    Subscription(String),
    /// A retry cap or a dead-letter destination was declared: Lightstreamer has neither
    /// redelivery nor dead-lettering to apply them with.
    #[error(
        "lightstreamer neither redelivers nor dead-letters: max_attempts and dead_letter cannot be applied"
    )]
    RetryUnsupported,
    /// The session did not end within the time allowed.
    #[error("the session did not close within {0:?}")]
    ShutdownTimeout(Duration),
}

impl LsError {
    pub(crate) fn from_outcome(outcome: &MessageOutcome) -> Self {
        Self::Outcome(match outcome {
            MessageOutcome::Processed { .. } => "processed".to_owned(),
            MessageOutcome::Denied { code, message } => format!("denied ({code}): {message}"),
            MessageOutcome::Discarded => "discarded by timeout in its sequence".to_owned(),
            MessageOutcome::Error { code, message } => format!("error ({code}): {message}"),
            MessageOutcome::Aborted => "aborted: no session".to_owned(),
            other => format!("{other:?}"),
        })
    }
}

/// Lightstreamer as a RustStream broker. See the [crate documentation](crate).
#[derive(Debug, Clone)]
pub struct LsBroker {
    config: LsConfig,
}

impl LsBroker {
    /// A broker for `config`. Configuration only: no task, no socket, no runtime needed.
    pub fn new(config: LsConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &LsConfig {
        &self.config
    }
}

/// The state a connected broker shares with its publishers and subscribers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) client: Client,
    closed: AtomicBool,
    closed_tx: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn check_open(&self) -> Result<(), LsError> {
        if self.closed.load(Ordering::Acquire) {
            Err(LsError::Closed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn closed_signal(&self) -> watch::Receiver<bool> {
        self.closed_tx.subscribe()
    }
}

/// A connected [`LsBroker`]: one Lightstreamer session (kept up, recovered or replaced by
/// tlcp-client on its own). Clones share the session; [`shutdown`](ConnectedBroker::shutdown)
/// of any clone ends it for all.
#[derive(Debug, Clone)]
pub struct ConnectedLs {
    pub(crate) shared: Arc<Shared>,
}

impl ConnectedLs {
    /// The underlying client, e.g. for [`Client::events`] or [`Client::stats`].
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// A publisher with the default [`LsPublish`] policy.
    pub fn publisher(&self) -> LsPublisher {
        LsPublish::default().live(self)
    }

    /// A request-reply publisher with the default [`LsRequest`] policy: the reply is the
    /// Metadata Adapter's `MSGDONE` response.
    pub fn requester(&self) -> LsRequester {
        LsRequest::default().live(self)
    }
}

/// What a shut-down broker leaves: the client's counters at the end.
#[derive(Debug, Clone)]
pub struct ClosedLs {
    /// The client's counters when the session closed.
    pub stats: tlcp_client::Stats,
}

impl Broker for LsBroker {
    type Error = LsError;
    type Connected = ConnectedLs;

    async fn connect(self) -> Result<ConnectedLs, LsError> {
        let client = self.config.build_client()?;
        client.connect();
        let timeout = self.config.connect_timeout;
        match tokio::time::timeout(timeout, client.connected()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                client.disconnect();
                return Err(e.into());
            }
            Err(_) => {
                client.disconnect();
                return Err(LsError::ConnectTimeout(timeout));
            }
        }
        let (closed_tx, _) = watch::channel(false);
        Ok(ConnectedLs {
            shared: Arc::new(Shared {
                client,
                closed: AtomicBool::new(false),
                closed_tx,
            }),
        })
    }
}

impl ConnectedBroker for ConnectedLs {
    type Error = LsError;
    type Closed = ClosedLs;

    async fn shutdown(self) -> Result<ClosedLs, LsError> {
        let shared = &self.shared;
        let already = shared.closed.swap(true, Ordering::AcqRel);
        // Subscriber streams end, publishers refuse from now on.
        shared.closed_tx.send_replace(true);
        let stats = shared.client.stats();
        if already {
            return Ok(ClosedLs { stats });
        }
        shared.client.close().await;
        let mut status = shared.client.status();
        let ended = tokio::time::timeout(SHUTDOWN_TIMEOUT, async {
            loop {
                if *status.borrow_and_update() == Status::Disconnected {
                    return;
                }
                if status.changed().await.is_err() {
                    return; // the driver is gone: nothing left open
                }
            }
        })
        .await;
        match ended {
            Ok(()) => Ok(ClosedLs {
                stats: shared.client.stats(),
            }),
            Err(_) => Err(LsError::ShutdownTimeout(SHUTDOWN_TIMEOUT)),
        }
    }
}

impl DefaultPublish for ConnectedLs {
    type Policy = LsPublish;
}
