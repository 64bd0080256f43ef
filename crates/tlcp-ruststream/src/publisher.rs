//! Publishing: RustStream messages as TLCP client messages.

use std::sync::Arc;
use std::time::Duration;

use ruststream::{
    HeaderMap, Lend, OutgoingMessage, PairError, PublishPolicy, Publisher, RequestReply,
};
use tlcp_client::MessageOutcome;

use crate::broker::{ConnectedLs, LsError, Shared};
use crate::source::LsMessage;

/// How a destination name and a payload become the text of a TLCP message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MessageFormat {
    /// `<name>|<payload>`: the destination is the message's verb, the way Metadata
    /// Adapters parse messages (`CHAT|hello`, `BUY|item1|10`). An empty name sends the
    /// payload alone.
    #[default]
    VerbPayload,
    /// The payload alone; the destination name is ignored.
    Payload,
    /// `<verb>|<name>|<payload>`: the topic scheme (see the crate docs): many topics over
    /// one verb, read back by an [`LsSource::topic`](crate::LsSource::topic) subscription.
    Topic {
        /// The verb, e.g. `CHAT`.
        verb: String,
    },
}

impl MessageFormat {
    /// The topic scheme over `verb`.
    pub fn topic(verb: impl Into<String>) -> Self {
        Self::Topic { verb: verb.into() }
    }

    /// The message text for `name` and `payload`.
    pub fn text(&self, name: &str, payload: &str) -> String {
        match self {
            Self::VerbPayload if name.is_empty() => payload.to_owned(),
            Self::VerbPayload => format!("{name}|{payload}"),
            Self::Payload => payload.to_owned(),
            Self::Topic { verb } => format!("{verb}|{name}|{payload}"),
        }
    }
}

/// Per-message settings; what is `None` keeps the policy's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageOptions {
    /// `LS_sequence`: messages of one sequence are processed in order (letters, digits, `_`).
    pub sequence: Option<String>,
    /// `LS_max_wait`: how long the server may wait for a missing predecessor.
    pub max_wait: Option<Duration>,
    /// Whether to wait for the outcome (`MSGDONE`/`MSGFAIL`); without it a publish only
    /// says the message was accepted for sending.
    pub outcome: Option<bool>,
}

/// The publish policy: message format and default settings. Pairs into an [`LsPublisher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsPublish {
    format: MessageFormat,
    sequence: Option<String>,
    max_wait: Option<Duration>,
    outcome: bool,
    outcome_timeout: Duration,
}

impl Default for LsPublish {
    /// [`MessageFormat::VerbPayload`], no sequence, waiting for the outcome (up to 30 s).
    fn default() -> Self {
        Self {
            format: MessageFormat::default(),
            sequence: None,
            max_wait: None,
            outcome: true,
            outcome_timeout: Duration::from_secs(30),
        }
    }
}

impl LsPublish {
    /// The message format.
    #[must_use]
    pub fn format(mut self, format: MessageFormat) -> Self {
        self.format = format;
        self
    }

    /// The default sequence.
    #[must_use]
    pub fn sequence(mut self, sequence: impl Into<String>) -> Self {
        self.sequence = Some(sequence.into());
        self
    }

    /// The default `LS_max_wait`.
    #[must_use]
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }

    /// Whether a publish waits for the outcome (default `true`): `MSGDONE` is `Ok`,
    /// anything else an error.
    #[must_use]
    pub fn outcome(mut self, outcome: bool) -> Self {
        self.outcome = outcome;
        self
    }

    /// How long a publish waits for its outcome (default 30 s).
    #[must_use]
    pub fn outcome_timeout(mut self, timeout: Duration) -> Self {
        self.outcome_timeout = timeout;
        self
    }

    /// The live publisher on `connected`.
    pub fn live(self, connected: &ConnectedLs) -> LsPublisher {
        LsPublisher {
            shared: Arc::clone(&connected.shared),
            policy: self,
        }
    }
}

impl PublishPolicy<ConnectedLs> for LsPublish {
    type Live = LsPublisher;

    async fn pair(self, connected: &ConnectedLs) -> Result<LsPublisher, PairError> {
        Ok(self.live(connected))
    }
}

/// Sends TLCP messages through the broker's session.
#[derive(Debug, Clone)]
pub struct LsPublisher {
    shared: Arc<Shared>,
    policy: LsPublish,
}

impl LsPublisher {
    /// Checks and turns a RustStream message into a message builder.
    fn prepare(
        &self,
        name: &str,
        payload: &[u8],
        headers: &HeaderMap,
        options: Option<&MessageOptions>,
    ) -> Result<(tlcp_client::MessageBuilder, bool), LsError> {
        self.shared.check_open()?;
        if !headers.is_empty() {
            return Err(LsError::HeadersUnsupported(headers.len()));
        }
        let payload = std::str::from_utf8(payload).map_err(|_| LsError::NotText)?;
        let text = self.policy.format.text(name, payload);
        let mut builder = self.shared.client.send_message(text);
        let sequence = options
            .and_then(|o| o.sequence.as_ref())
            .or(self.policy.sequence.as_ref());
        if let Some(sequence) = sequence {
            builder = builder.sequence(sequence.clone());
        }
        if let Some(max_wait) = options.and_then(|o| o.max_wait).or(self.policy.max_wait) {
            builder = builder.delay_timeout(max_wait);
        }
        let outcome = options
            .and_then(|o| o.outcome)
            .unwrap_or(self.policy.outcome);
        Ok((builder, outcome))
    }

    /// Sends and waits for the outcome.
    async fn send(&self, builder: tlcp_client::MessageBuilder) -> Result<MessageOutcome, LsError> {
        let timeout = self.policy.outcome_timeout;
        match tokio::time::timeout(timeout, builder).await {
            Ok(outcome) => Ok(outcome?),
            Err(_) => Err(LsError::Timeout(timeout)),
        }
    }
}

impl Publisher for LsPublisher {
    // The message text is built from the bytes and nothing is kept past the call.
    type Payload = Lend;
    type Error = LsError;
    type Options = MessageOptions;

    async fn publish(
        &self,
        msg: OutgoingMessage<'_>,
        options: Option<&MessageOptions>,
    ) -> Result<(), LsError> {
        let (builder, outcome) = self.prepare(msg.name(), msg.payload(), msg.headers(), options)?;
        if !outcome {
            return Ok(builder.without_outcome().await?);
        }
        match self.send(builder).await? {
            MessageOutcome::Processed { .. } => Ok(()),
            other => Err(LsError::from_outcome(&other)),
        }
    }
}

/// The request-reply policy: a request is a message, its reply the Metadata Adapter's
/// `MSGDONE` response (TLCP 2.5.0; empty before). Pairs into an [`LsRequester`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LsRequest {
    publish: LsPublish,
}

impl LsRequest {
    /// The publish settings of the requests (format, sequence, max wait).
    #[must_use]
    pub fn publish(mut self, publish: LsPublish) -> Self {
        self.publish = publish;
        self
    }

    /// The live requester on `connected`.
    pub fn live(self, connected: &ConnectedLs) -> LsRequester {
        LsRequester(self.publish.outcome(true).live(connected))
    }
}

impl PublishPolicy<ConnectedLs> for LsRequest {
    type Live = LsRequester;

    async fn pair(self, connected: &ConnectedLs) -> Result<LsRequester, PairError> {
        Ok(self.live(connected))
    }
}

/// Publishes like [`LsPublisher`], and answers requests with the `MSGDONE` response.
#[derive(Debug, Clone)]
pub struct LsRequester(LsPublisher);

impl Publisher for LsRequester {
    type Payload = Lend;
    type Error = LsError;
    type Options = MessageOptions;

    async fn publish(
        &self,
        msg: OutgoingMessage<'_>,
        options: Option<&MessageOptions>,
    ) -> Result<(), LsError> {
        self.0.publish(msg, options).await
    }
}

impl RequestReply for LsRequester {
    type Reply = LsReply;

    async fn request(
        &self,
        msg: OutgoingMessage<'_>,
        timeout: Duration,
    ) -> Result<LsReply, LsError> {
        let (builder, _) = self
            .0
            .prepare(msg.name(), msg.payload(), msg.headers(), None)?;
        let outcome = match tokio::time::timeout(timeout, builder).await {
            Ok(outcome) => outcome?,
            Err(_) => return Err(LsError::Timeout(timeout)),
        };
        match outcome {
            MessageOutcome::Processed { response } => Ok(LsMessage {
                payload: response.unwrap_or_default().into_bytes(),
                headers: HeaderMap::new(),
            }),
            other => Err(LsError::from_outcome(&other)),
        }
    }
}

/// The reply to a request: an [`LsMessage`] whose payload is the `MSGDONE` response and
/// which has no headers. There is nothing to settle: `ack` and `nack` answer
/// [`AckError::Unsupported`](ruststream::AckError::Unsupported).
pub type LsReply = LsMessage;
