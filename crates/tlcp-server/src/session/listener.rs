//! The hub's side of a session: the listener of each subscribed item, which encodes the
//! live updates a client is in step with into the item's lane without the session's
//! lock ([`Staging`] tells it when it must go through the lock instead), and a
//! subscription's selector.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::Notify;
use tokio::time::{Duration, Instant};

use super::Session;
use super::dispatch::{LaneCell, lock_lane};
use crate::hub::{ItemEvent, ItemListener};

/// What a session shares with its items' producers outside its lock, for the lanes
/// (see [`Lane`](super::dispatch::Lane)).
pub(crate) struct Staging {
    /// The session holds new events (closed, without a stream connection, or with its
    /// output over the limit), as of its last critical section: producers then go through
    /// the session's lock rather than their lane.
    pub(super) held: AtomicBool,
    /// How many bytes a lane stages before its producer takes the session's lock (which
    /// moves them to the output): the session's output limit, within [`MAX_STAGED`].
    pub(super) stage_limit: usize,
    pub(super) list: Mutex<StagingList>,
}

#[derive(Default)]
pub(super) struct StagingList {
    /// Lanes that staged lines since the stream connection last took them.
    pub(super) lanes: Vec<Arc<LaneCell>>,
    /// The bound stream connection's wake-up.
    pub(super) wake: Option<Arc<Notify>>,
    /// Since when the first lane listed has lines waiting.
    pub(super) since: Option<Instant>,
}

impl Staging {
    pub(super) fn list(&self) -> MutexGuard<'_, StagingList> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lists a lane that staged its first line, waking the stream connection.
    fn note(&self, lane: &Arc<LaneCell>) {
        let mut list = self.list();
        list.lanes.push(Arc::clone(lane));
        if list.since.is_none() {
            list.since = Some(Instant::now());
        }
        // More listed: the stream connection was woken for the first one and has not
        // taken the list yet.
        if list.lanes.len() == 1
            && let Some(w) = &list.wake
        {
            w.notify_one();
        }
    }
}

/// A subscription's selector, applied by the metadata adapter to each event of an item.
pub(crate) struct SelectorFilter {
    pub(crate) metadata: Arc<dyn crate::adapter::MetadataAdapter>,
    pub(crate) user: Option<String>,
    pub(crate) item: String,
    pub(crate) selector: String,
    /// The subscription's field names and their item field indexes.
    pub(crate) names: Vec<String>,
    pub(crate) idx: Vec<usize>,
}

impl SelectorFilter {
    fn passes(&self, row: &[Option<String>]) -> bool {
        let field = |name: &str| {
            let p = self.names.iter().position(|n| n == name)?;
            row.get(*self.idx.get(p)?)?.clone()
        };
        self.metadata
            .is_selected(self.user.as_deref(), &self.item, &self.selector, &field)
    }
}

/// How long a session that lost its stream connection still holds back the producers
/// that wait for their subscribers ([`crate::ItemFeed::ready`]).
const UNBOUND_PACING: Duration = Duration::from_secs(1);

/// The most bytes a lane stages before its producer moves them to the session's output
/// itself (the stream connection usually takes them sooner).
pub(super) const MAX_STAGED: usize = 64 * 1024;

/// The hub's view of one subscribed item of a session.
pub(super) struct SubItemListener {
    pub(super) session: Weak<Session>,
    pub(super) staging: Arc<Staging>,
    pub(super) lane: Arc<LaneCell>,
    pub(super) sub_id: u32,
    pub(super) item: usize,
    pub(super) selector: Option<Arc<SelectorFilter>>,
}

impl SubItemListener {
    /// Encodes a live update in step with the client into the lane, when the lane is
    /// open and the session keeps up; otherwise gives the event back, for the session.
    fn stage<'e>(&self, event: ItemEvent<'e>) -> Option<ItemEvent<'e>> {
        let ItemEvent::Update {
            snapshot: false,
            row,
            live: Some((seq, shared)),
            changes: Some(changes),
        } = event
        else {
            return Some(event);
        };
        if self.selector.is_some() || self.staging.held.load(Ordering::Relaxed) {
            return Some(event);
        }
        let mut lane = lock_lane(&self.lane);
        if !lane.open
            || !lane.has_sent
            || lane.synced_seq != Some(seq.wrapping_sub(1))
            || lane.staged.len() >= self.staging.stage_limit
        {
            return Some(event);
        }
        let mut staged = std::mem::take(&mut lane.staged);
        let was_empty = staged.is_empty();
        let at = (self.sub_id, self.item);
        if lane.encode_live(at, row, Some(seq), Some(changes), shared, &mut staged) {
            // Lines are far shorter than 4 GiB, and so is the staging buffer.
            lane.staged_ends.push(staged.len() as u32);
        }
        lane.staged = staged;
        if was_empty {
            self.staging.note(&self.lane);
        }
        None
    }
}

impl ItemListener for SubItemListener {
    fn on_event(&self, event: ItemEvent<'_>) {
        let Some(event) = self.stage(event) else {
            return;
        };
        if let (Some(filter), ItemEvent::Update { row, changes, .. }) = (&self.selector, &event)
            && !filter.passes(row)
        {
            // Not sent, but the item moved on: what the client last received must be
            // kept before the hub's row no longer tells it.
            if let Some(s) = self.session.upgrade() {
                s.lock()
                    .skip_item_event((self.sub_id, self.item, &self.lane), row, *changes);
            }
            return;
        }
        if let Some(s) = self.session.upgrade() {
            s.lock()
                .on_item_event((self.sub_id, self.item, &self.lane), event);
        }
    }

    fn congestion(&self) -> Option<Arc<Notify>> {
        let s = self.session.upgrade()?;
        let st = s.lock();
        if st.closed.is_some() {
            return None;
        }
        // A session without a stream connection reads nothing: it holds its producers
        // back for a short while (a client recovering soon loses nothing), not for as
        // long as it may wait for a recovery (that would stall every other subscriber).
        let paces = match st.unbound_since {
            Some(since) => since.elapsed() < UNBOUND_PACING,
            None => st.congested(),
        };
        paces.then(|| s.drained.clone())
    }
}
