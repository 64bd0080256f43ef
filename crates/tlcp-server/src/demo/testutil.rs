//! Test helpers: a subscription to one item of a data adapter through the real hub, with a
//! listener that records what it receives.

use std::sync::{Arc, Mutex};

use tlcp_proto::Mode;
use tokio::sync::Notify;

use crate::adapter::{DataAdapter, Refusal};
use crate::hub::{DataAdapterHub, ItemEvent, ItemFeed, ItemHub, ItemListener, SnapshotRequest};

/// One recorded event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ev {
    Update {
        snapshot: bool,
        row: Vec<Option<String>>,
    },
    Eos,
    Cs,
}

impl Ev {
    pub(crate) fn row(&self) -> Option<&[Option<String>]> {
        match self {
            Ev::Update { row, .. } => Some(row),
            _ => None,
        }
    }

    pub(crate) fn is_snapshot(&self) -> bool {
        matches!(self, Ev::Update { snapshot: true, .. })
    }
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Ev>>,
    congestion: Mutex<Option<Arc<Notify>>>,
}

impl ItemListener for Recorder {
    fn on_event(&self, event: ItemEvent<'_>) {
        let ev = match event {
            ItemEvent::Update { snapshot, row, .. } => Ev::Update {
                snapshot,
                row: row.to_vec(),
            },
            ItemEvent::EndOfSnapshot => Ev::Eos,
            ItemEvent::ClearSnapshot { .. } => Ev::Cs,
        };
        self.events.lock().unwrap().push(ev);
    }

    fn congestion(&self) -> Option<Arc<Notify>> {
        self.congestion.lock().unwrap().clone()
    }
}

/// A data adapter that never hears of unsubscriptions: to test that producers stop on
/// their own once their feed is inactive.
pub(crate) struct NoUnsubscribe<A>(pub(crate) A);

impl<A: DataAdapter> DataAdapter for NoUnsubscribe<A> {
    fn subscribe(&self, item: &str, feed: ItemFeed) -> Result<(), Refusal> {
        self.0.subscribe(item, feed)
    }

    fn unsubscribe(&self, _item: &str) {}
}

/// One subscription (one listener) to one item.
pub(crate) struct Sub {
    hubs: DataAdapterHub,
    hub: Arc<ItemHub>,
    token: u64,
    recorder: Arc<Recorder>,
    fields: Vec<String>,
    indexes: Vec<usize>,
}

impl Sub {
    /// Subscribes to `item` of `adapter` with the space-separated `fields`, asking for the
    /// full snapshot.
    pub(crate) fn try_new(
        adapter: impl DataAdapter,
        item: &str,
        fields: &str,
        mode: Mode,
    ) -> Result<Self, Refusal> {
        let hubs = DataAdapterHub::new(Arc::new(adapter), 10);
        let hub = hubs.acquire(item)?;
        let fields: Vec<String> = fields.split_whitespace().map(str::to_owned).collect();
        let indexes = hub.resolve_fields(&fields).expect("fields");
        let at = |name: &str| fields.iter().position(|f| f == name).map(|i| indexes[i]);
        let command = match mode {
            Mode::Command => at("key").zip(at("command")),
            _ => None,
        };
        let recorder = Arc::new(Recorder::default());
        let token = hub.add_listener(recorder.clone(), mode, SnapshotRequest::Full, command);
        Ok(Self {
            hubs,
            hub,
            token,
            recorder,
            fields,
            indexes,
        })
    }

    /// Like [`Sub::try_new`], panicking on refusal.
    pub(crate) fn new(adapter: impl DataAdapter, item: &str, fields: &str, mode: Mode) -> Self {
        Self::try_new(adapter, item, fields, mode).expect("subscription accepted")
    }

    /// The events received since the last call.
    pub(crate) fn take(&self) -> Vec<Ev> {
        std::mem::take(&mut *self.recorder.events.lock().unwrap())
    }

    /// The value of `field` (a schema field) in `row`.
    pub(crate) fn field<'r>(&self, row: &'r [Option<String>], field: &str) -> Option<&'r str> {
        let i = self.fields.iter().position(|f| f == field)?;
        row.get(self.indexes[i])?.as_deref()
    }

    /// Makes the listener report congestion (`Some`) or not (`None`).
    pub(crate) fn set_congestion(&self, notify: Option<Arc<Notify>>) {
        *self.recorder.congestion.lock().unwrap() = notify;
    }

    /// Removes the listener (the adapter is told to unsubscribe, unless wrapped in
    /// [`NoUnsubscribe`]).
    pub(crate) fn release(self) {
        self.hubs.release(&self.hub, Some(self.token));
    }
}

/// A client for the metadata adapter's checks.
pub(crate) fn client(user: Option<&str>) -> crate::adapter::ClientInfo {
    crate::adapter::ClientInfo {
        user: user.map(str::to_owned),
        remote: "192.0.2.7:5000".parse().unwrap(),
        protocol: tlcp_proto::ProtocolVersion::default(),
    }
}
