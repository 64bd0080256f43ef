//! The adapter API: how data and policy are plugged into the server.
//!
//! Like a Lightstreamer Adapter Set, an [`AdapterSet`] pairs one [`MetadataAdapter`] (who
//! may connect, what a group or schema name means, which modes and limits apply, what a
//! client message does) with named [`DataAdapter`]s (where the items' updates come from).
//!
//! A data adapter is told when an item gets its first subscriber
//! ([`DataAdapter::subscribe`]) and receives an [`ItemFeed`]: a cheap, cloneable handle to
//! push updates from any thread or task. It is told again when the last subscriber leaves
//! ([`DataAdapter::unsubscribe`]). The server keeps each item's state (current row,
//! recent history, command rows) to answer snapshots, so an adapter pushes each change
//! once, whatever the number of subscribers.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tlcp_proto::{Mode, ProtocolVersion};

use crate::hub::ItemFeed;

/// A boxed, sendable future, as returned by [`MetadataAdapter::handle_message`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A refusal by an adapter, sent to the client as `CONERR`, `REQERR` or `MSGFAIL`.
///
/// Codes follow the specification: 0 or negative codes are the adapter's own
/// (application-specific); positive codes are the kernel's meanings from Appendices A and B
/// (e.g. 1 for bad credentials, 21 for a bad group, 23 for a bad schema).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct Refusal {
    /// The TLCP error code.
    pub code: i32,
    /// A human-readable reason, sent to the client.
    pub message: String,
}

impl Refusal {
    /// A refusal with a given code and message.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Who is asking: passed to the metadata adapter's checks.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The user name sent on session creation, if any.
    pub user: Option<String>,
    /// The client's address as seen by the server.
    pub remote: std::net::SocketAddr,
    /// The protocol version the client speaks.
    pub protocol: ProtocolVersion,
}

/// Per-item limits a metadata adapter may impose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ItemLimits {
    /// The maximum update frequency (updates/s) allowed for the item, if limited.
    pub max_frequency: Option<f64>,
    /// The maximum buffer size (events) for the item's subscriptions, if limited.
    pub max_buffer_size: Option<u32>,
    /// Whether unfiltered dispatching may be requested (error 26 otherwise).
    pub allow_unfiltered: bool,
    /// How many recent events a DISTINCT snapshot holds at most.
    pub distinct_snapshot_length: u32,
}

impl Default for ItemLimits {
    fn default() -> Self {
        Self {
            max_frequency: None,
            max_buffer_size: None,
            allow_unfiltered: true,
            distinct_snapshot_length: 10,
        }
    }
}

/// Splits a literal list of names (`"item1 item2"`), refusing an empty one with `code`.
pub fn literal_names(list: &str, code: i32, what: &str) -> Result<Vec<String>, Refusal> {
    let names: Vec<String> = list.split_whitespace().map(str::to_owned).collect();
    if names.is_empty() {
        Err(Refusal::new(code, format!("empty {what}")))
    } else {
        Ok(names)
    }
}

/// The metadata side of an adapter set: authentication, names, modes, limits, messages.
///
/// Every method has a default matching Lightstreamer's `LiteralBasedProvider`: anyone may
/// connect, a group or schema name is a space-separated list of literal item or field
/// names, every mode is allowed, no limits, and messages are accepted with an empty
/// response.
pub trait MetadataAdapter: Send + Sync + 'static {
    /// Checks the credentials of a new session. Refuse with code 1 for bad credentials.
    fn authenticate(
        &self,
        user: Option<&str>,
        password: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), Refusal> {
        let _ = (user, password, client);
        Ok(())
    }

    /// Resolves a group name to its items, in order (refuse with code 21 if unknown).
    fn items(&self, user: Option<&str>, group: &str) -> Result<Vec<String>, Refusal> {
        let _ = user;
        literal_names(group, 21, "item group")
    }

    /// Resolves a schema name to its fields, in order (refuse with code 23 if unknown,
    /// 22 if it does not fit the group).
    fn fields(
        &self,
        user: Option<&str>,
        group: &str,
        schema: &str,
    ) -> Result<Vec<String>, Refusal> {
        let _ = (user, group);
        literal_names(schema, 23, "field schema")
    }

    /// Whether `mode` may be used for `item` (error 24 otherwise).
    fn allows_mode(&self, user: Option<&str>, item: &str, mode: Mode) -> bool {
        let _ = (user, item, mode);
        true
    }

    /// Checks the selector of a subscription (`LS_selector`) for `item`. The default knows
    /// no selector and refuses with code 25 (Bad Selector name).
    fn check_selector(
        &self,
        user: Option<&str>,
        item: &str,
        selector: &str,
    ) -> Result<(), Refusal> {
        let _ = (user, item);
        Err(Refusal::new(25, format!("Bad Selector name: {selector}")))
    }

    /// Whether an event of `item` passes `selector`, for a subscription that has one:
    /// `field(name)` gives the event's values (`None` for null or unknown fields). Events
    /// that do not pass are not sent to that subscription. Called for every event: keep it
    /// cheap.
    fn is_selected(
        &self,
        user: Option<&str>,
        item: &str,
        selector: &str,
        field: &dyn Fn(&str) -> Option<String>,
    ) -> bool {
        let _ = (user, item, selector, field);
        true
    }

    /// The limits that apply to `item` for this user.
    fn item_limits(&self, user: Option<&str>, item: &str) -> ItemLimits {
        let _ = (user, item);
        ItemLimits::default()
    }

    /// Handles a client message: `Ok(response)` becomes `MSGDONE` (the response is sent
    /// to 2.5.0 clients), `Err(refusal)` becomes `MSGFAIL` with the refusal's code (use 0
    /// or negative codes for application-level denials).
    ///
    /// Messages of one sequence are handed over one at a time, in order; others may run
    /// concurrently.
    fn handle_message(
        &self,
        client: &ClientInfo,
        message: &str,
    ) -> BoxFuture<Result<String, Refusal>> {
        let _ = (client, message);
        Box::pin(async { Ok(String::new()) })
    }
}

/// The literal metadata adapter: all defaults of [`MetadataAdapter`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LiteralMetadata;

impl MetadataAdapter for LiteralMetadata {}

/// The data side: where the updates of items come from.
pub trait DataAdapter: Send + Sync + 'static {
    /// `item` got its first subscriber: start pushing its updates into `feed`.
    ///
    /// The adapter may push snapshot events first ([`ItemFeed::snapshot`] then
    /// [`ItemFeed::end_of_snapshot`]), or only real-time updates. Refusing makes the
    /// subscription fail with the refusal's code.
    fn subscribe(&self, item: &str, feed: ItemFeed) -> Result<(), Refusal>;

    /// `item` lost its last subscriber: stop pushing (pushes after this are ignored).
    fn unsubscribe(&self, item: &str);
}

/// An Adapter Set: one metadata adapter and its named data adapters.
#[derive(Clone)]
pub struct AdapterSet {
    pub(crate) metadata: Arc<dyn MetadataAdapter>,
    pub(crate) data: HashMap<String, Arc<dyn DataAdapter>>,
}

impl AdapterSet {
    /// An adapter set with the given metadata adapter and no data adapter yet.
    pub fn new(metadata: impl MetadataAdapter) -> Self {
        Self {
            metadata: Arc::new(metadata),
            data: HashMap::new(),
        }
    }

    /// Adds a data adapter under `name` (`"DEFAULT"` is used when a subscription names
    /// none).
    pub fn with_data_adapter(mut self, name: impl Into<String>, adapter: impl DataAdapter) -> Self {
        self.data.insert(name.into(), Arc::new(adapter));
        self
    }

    /// The metadata adapter.
    pub fn metadata(&self) -> &Arc<dyn MetadataAdapter> {
        &self.metadata
    }

    /// The data adapter named `name`.
    pub fn data_adapter(&self, name: &str) -> Option<&Arc<dyn DataAdapter>> {
        self.data.get(name)
    }

    /// The names of the data adapters.
    pub fn data_adapter_names(&self) -> impl Iterator<Item = &str> {
        self.data.keys().map(String::as_str)
    }
}

impl fmt::Debug for AdapterSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.data_adapter_names().collect();
        names.sort_unstable();
        f.debug_struct("AdapterSet")
            .field("data_adapters", &names)
            .finish_non_exhaustive()
    }
}

/// The adapter sets a server serves, by name (`LS_adapter_set`; `"DEFAULT"` if omitted).
#[derive(Clone, Debug, Default)]
pub struct Adapters {
    pub(crate) sets: HashMap<String, AdapterSet>,
}

impl Adapters {
    /// No adapter set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `set` under `name`.
    pub fn with_set(mut self, name: impl Into<String>, set: AdapterSet) -> Self {
        self.sets.insert(name.into(), set);
        self
    }

    /// The adapter set named `name`.
    pub fn get(&self, name: &str) -> Option<&AdapterSet> {
        self.sets.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_names_split_and_refuse_empty() {
        assert_eq!(literal_names(" a  b ", 21, "g").unwrap(), vec!["a", "b"]);
        assert_eq!(literal_names("  ", 21, "g").unwrap_err().code, 21);
    }

    #[test]
    fn literal_metadata_defaults() {
        let m = LiteralMetadata;
        assert_eq!(m.items(None, "item1 item2").unwrap().len(), 2);
        assert_eq!(m.fields(None, "x", "").unwrap_err().code, 23);
        assert!(m.allows_mode(None, "item1", Mode::Raw));
    }
}
