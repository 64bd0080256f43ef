//! [`SubscriptionSpec`] and [`MessageSpec`]: what the application asks for.

use std::time::Duration;

use super::error::ClientError;
use crate::types::{BufferSize, MaxFrequency, Mode, Snapshot};

/// The items of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Items {
    /// Item names, sent as a space-separated group; updates can be looked up by name.
    List(Vec<String>),
    /// A group name, interpreted by the Metadata Adapter.
    Group(String),
}

/// The fields of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fields {
    /// Field names, sent as a space-separated schema; values can be looked up by name.
    List(Vec<String>),
    /// A schema name, interpreted by the Metadata Adapter.
    Schema(String),
}

/// The second level of a two-level COMMAND subscription: for each key, a MERGE
/// subscription to the item named like the key, whose fields extend the key's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondLevel {
    /// The second-level fields.
    pub fields: Fields,
    /// Their Data Adapter (`None`: the Adapter Set's `DEFAULT`).
    pub data_adapter: Option<String>,
}

/// What to subscribe to, and how.
///
/// ```
/// use tlcp_proto::{MaxFrequency, Mode, client::SubscriptionSpec};
/// let spec = SubscriptionSpec::items(Mode::Merge, ["item1", "item2"], ["last_price", "time"])
///     .with_data_adapter("QUOTE_ADAPTER")
///     .with_max_frequency(MaxFrequency::PerSecond(2.0));
/// assert_eq!(spec.group_name(), "item1 item2");
///
/// let portfolio = SubscriptionSpec::group(Mode::Command, "portfolio1", "key command qty")
///     .with_second_level_fields(["bid", "ask"], Some("QUOTE_ADAPTER"));
/// assert!(portfolio.second_level.is_some());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SubscriptionSpec {
    /// `LS_mode`.
    pub mode: Mode,
    /// `LS_group`: the items.
    pub items: Items,
    /// `LS_schema`: the fields.
    pub fields: Fields,
    /// `LS_data_adapter`.
    pub data_adapter: Option<String>,
    /// `LS_selector`.
    pub selector: Option<String>,
    /// `LS_snapshot`; `None`: a snapshot in every mode but RAW, as the official clients.
    pub snapshot: Option<Snapshot>,
    /// `LS_requested_buffer_size`.
    pub buffer_size: Option<BufferSize>,
    /// `LS_requested_max_frequency`.
    pub max_frequency: Option<MaxFrequency>,
    /// Two-level COMMAND mode.
    pub second_level: Option<SecondLevel>,
}

fn names<I, S>(list: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    list.into_iter().map(Into::into).collect()
}

impl SubscriptionSpec {
    /// A subscription to named items and fields.
    pub fn items<I, S, F, T>(mode: Mode, items: I, fields: F) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        F: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::new(mode, Items::List(names(items)), Fields::List(names(fields)))
    }

    /// A subscription to a group and a schema, named for the Metadata Adapter.
    pub fn group(mode: Mode, group: impl Into<String>, schema: impl Into<String>) -> Self {
        Self::new(
            mode,
            Items::Group(group.into()),
            Fields::Schema(schema.into()),
        )
    }

    /// A subscription from its parts.
    pub fn new(mode: Mode, items: Items, fields: Fields) -> Self {
        Self {
            mode,
            items,
            fields,
            data_adapter: None,
            selector: None,
            snapshot: None,
            buffer_size: None,
            max_frequency: None,
            second_level: None,
        }
    }

    /// Sets `LS_data_adapter`.
    pub fn with_data_adapter(mut self, adapter: impl Into<String>) -> Self {
        self.data_adapter = Some(adapter.into());
        self
    }

    /// Sets `LS_selector`.
    pub fn with_selector(mut self, selector: impl Into<String>) -> Self {
        self.selector = Some(selector.into());
        self
    }

    /// Sets `LS_snapshot`.
    pub fn with_snapshot(mut self, snapshot: Snapshot) -> Self {
        self.snapshot = Some(snapshot);
        self
    }

    /// Sets `LS_requested_buffer_size`.
    pub fn with_buffer_size(mut self, size: BufferSize) -> Self {
        self.buffer_size = Some(size);
        self
    }

    /// Sets `LS_requested_max_frequency`.
    pub fn with_max_frequency(mut self, frequency: MaxFrequency) -> Self {
        self.max_frequency = Some(frequency);
        self
    }

    /// Makes a COMMAND subscription two-level, with named second-level fields.
    pub fn with_second_level_fields<I, S>(mut self, fields: I, data_adapter: Option<&str>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.second_level = Some(SecondLevel {
            fields: Fields::List(names(fields)),
            data_adapter: data_adapter.map(str::to_owned),
        });
        self
    }

    /// Makes a COMMAND subscription two-level, with a second-level schema name.
    pub fn with_second_level_schema(
        mut self,
        schema: impl Into<String>,
        data_adapter: Option<&str>,
    ) -> Self {
        self.second_level = Some(SecondLevel {
            fields: Fields::Schema(schema.into()),
            data_adapter: data_adapter.map(str::to_owned),
        });
        self
    }

    /// The `LS_group` value.
    pub fn group_name(&self) -> String {
        match &self.items {
            Items::List(l) => l.join(" "),
            Items::Group(g) => g.clone(),
        }
    }

    /// The `LS_schema` value.
    pub fn schema_name(&self) -> String {
        fields_name(&self.fields)
    }

    /// The snapshot to ask for: the requested one, or the default (none in RAW mode);
    /// `force` (after a lost session) asks for one in every mode but RAW.
    pub(super) fn snapshot_param(&self, force: bool) -> Option<Snapshot> {
        if self.mode == Mode::Raw {
            return self.snapshot;
        }
        match self.snapshot {
            Some(Snapshot::Length(n)) => Some(Snapshot::Length(n)),
            Some(Snapshot::Enabled(false)) if !force => None,
            _ => Some(Snapshot::Enabled(true)),
        }
    }

    /// Checks what the server would refuse or the client could not model (what
    /// [`ClientSession::subscribe`](super::ClientSession::subscribe) refuses).
    pub fn validate(&self) -> Result<(), ClientError> {
        check_names(&self.items_as_fields(), "item")?;
        check_names(&self.fields, "field")?;
        if let Some(second) = &self.second_level {
            if self.mode != Mode::Command {
                return Err(ClientError::SecondLevelNotCommand);
            }
            check_names(&second.fields, "field")?;
        }
        ClientError::check_frequency(self.max_frequency)?;
        match self.snapshot {
            Some(Snapshot::Length(_)) if self.mode != Mode::Distinct => {
                Err(ClientError::SnapshotLengthNotDistinct)
            }
            Some(Snapshot::Enabled(true) | Snapshot::Length(_)) if self.mode == Mode::Raw => {
                Err(ClientError::SnapshotInRaw)
            }
            _ => Ok(()),
        }
    }

    fn items_as_fields(&self) -> Fields {
        match &self.items {
            Items::List(l) => Fields::List(l.clone()),
            Items::Group(g) => Fields::Schema(g.clone()),
        }
    }
}

/// The `LS_schema` value of a field set.
pub(super) fn fields_name(fields: &Fields) -> String {
    match fields {
        Fields::List(l) => l.join(" "),
        Fields::Schema(s) => s.clone(),
    }
}

fn check_names(fields: &Fields, what: &'static str) -> Result<(), ClientError> {
    match fields {
        Fields::Schema(s) if s.is_empty() => Err(ClientError::Empty(what)),
        Fields::Schema(_) => Ok(()),
        Fields::List(l) if l.is_empty() => Err(ClientError::Empty(what)),
        Fields::List(l) => match l.iter().find(|n| n.is_empty() || n.contains(' ')) {
            Some(name) => Err(ClientError::InvalidName {
                what,
                name: name.clone(),
            }),
            None => Ok(()),
        },
    }
}

/// A message to send to the Metadata Adapter.
///
/// ```
/// use std::time::Duration;
/// use tlcp_proto::client::MessageSpec;
/// let m = MessageSpec::new("CHAT|hello")
///     .in_sequence("chat")
///     .with_max_wait(Duration::from_millis(500));
/// assert!(m.outcome);
/// let fire_and_forget = MessageSpec::new("ping").without_outcome();
/// assert!(!fire_and_forget.outcome);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageSpec {
    /// `LS_message`.
    pub text: String,
    /// `LS_sequence` (`[A-Za-z0-9_]*`); `None` or empty: no sequence.
    pub sequence: Option<String>,
    /// `LS_max_wait`: how long the server may wait for missing predecessors in the
    /// sequence.
    pub max_wait: Option<Duration>,
    /// Whether the outcome is wanted (`false`: `LS_outcome=false`, and no event at all for
    /// this message).
    pub outcome: bool,
    /// Keep the message until a session exists instead of aborting it at once.
    pub enqueue_while_disconnected: bool,
}

impl MessageSpec {
    /// A message with no sequence, whose outcome is wanted.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            sequence: None,
            max_wait: None,
            outcome: true,
            enqueue_while_disconnected: false,
        }
    }

    /// Sets `LS_sequence`.
    pub fn in_sequence(mut self, sequence: impl Into<String>) -> Self {
        self.sequence = Some(sequence.into());
        self
    }

    /// Sets `LS_max_wait`.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }

    /// No outcome wanted.
    pub fn without_outcome(mut self) -> Self {
        self.outcome = false;
        self
    }

    /// Keep it while disconnected.
    pub fn enqueue_while_disconnected(mut self) -> Self {
        self.enqueue_while_disconnected = true;
        self
    }

    /// The sequence, `None` when absent or empty.
    pub(super) fn sequence_name(&self) -> Option<&str> {
        self.sequence.as_deref().filter(|s| !s.is_empty())
    }

    pub(super) fn validate(&self) -> Result<(), ClientError> {
        match &self.sequence {
            Some(s) if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                Err(ClientError::InvalidSequence(s.clone()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let ok = SubscriptionSpec::items(Mode::Merge, ["a"], ["f"]);
        assert_eq!(ok.validate(), Ok(()));
        let none: [&str; 0] = [];
        assert_eq!(
            SubscriptionSpec::items(Mode::Merge, none, ["f"]).validate(),
            Err(ClientError::Empty("item"))
        );
        assert!(matches!(
            SubscriptionSpec::items(Mode::Merge, ["a b"], ["f"]).validate(),
            Err(ClientError::InvalidName { what: "item", .. })
        ));
        assert_eq!(
            ok.clone().with_second_level_fields(["x"], None).validate(),
            Err(ClientError::SecondLevelNotCommand)
        );
        assert_eq!(
            ok.clone().with_snapshot(Snapshot::Length(3)).validate(),
            Err(ClientError::SnapshotLengthNotDistinct)
        );
        assert_eq!(
            SubscriptionSpec::group(Mode::Raw, "g", "s")
                .with_snapshot(Snapshot::Enabled(true))
                .validate(),
            Err(ClientError::SnapshotInRaw)
        );
        assert_eq!(MessageSpec::new("x").in_sequence("a_B9").validate(), Ok(()));
        assert_eq!(MessageSpec::new("x").in_sequence("").validate(), Ok(()));
        assert!(MessageSpec::new("x").in_sequence("a-b").validate().is_err());
        assert!(MessageSpec::new("x").in_sequence("é").validate().is_err());
    }

    #[test]
    fn snapshot_defaults_and_forcing() {
        let merge = SubscriptionSpec::group(Mode::Merge, "g", "s");
        assert_eq!(merge.snapshot_param(false), Some(Snapshot::Enabled(true)));
        let no = merge.clone().with_snapshot(Snapshot::Enabled(false));
        assert_eq!(no.snapshot_param(false), None);
        assert_eq!(no.snapshot_param(true), Some(Snapshot::Enabled(true)));
        let raw = SubscriptionSpec::group(Mode::Raw, "g", "s");
        assert_eq!(
            (raw.snapshot_param(false), raw.snapshot_param(true)),
            (None, None)
        );
        let distinct =
            SubscriptionSpec::group(Mode::Distinct, "g", "s").with_snapshot(Snapshot::Length(10));
        assert_eq!(distinct.snapshot_param(true), Some(Snapshot::Length(10)));
    }
}
