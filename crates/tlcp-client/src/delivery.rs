//! Delivery of a subscription's events from the driver to its reader, without ever
//! making the driver wait: [`Delivery`] policies and the queue they share.
//!
//! The driver pushes into the subscription's queue under a short mutex and wakes the reader; it
//! never waits on it. What happens when the reader is behind is the subscription's
//! [`Delivery`] policy:
//!
//! * [`Delivery::Conflate`] keeps one pending update per item (per key in COMMAND mode):
//!   a newer update overwrites the pending one in place (its buffers reused), its changed
//!   fields are merged in, and the skip is counted ([`ItemUpdate::skipped`]). The reader
//!   always gets the latest state. Other events (end of snapshot, ...) keep their place,
//!   and updates are not folded across them.
//! * [`Delivery::Queue`] keeps up to `capacity` updates; beyond, updates are dropped and
//!   counted, and a [`SubscriptionEvent::Dropped`] is delivered where the gap is.
//! * [`Delivery::Backpressure`] keeps every update; once `capacity` are waiting the
//!   driver stops reading the connection until the reader makes room (the server then
//!   buffers, or conflates, or drops, as its own policy says).
//!
//! Events other than updates are kept, but a server repeating them cannot grow the queue
//! without bound: the same event twice in a row is kept once (for `CONF`, the latest
//! value replaces the waiting one), repeated losses of an item are merged, and at most
//! [`MAX_INFO_EVENTS`] informational events ([`EndOfSnapshot`], [`ClearSnapshot`],
//! [`LostUpdates`], [`RealMaxFrequency`], [`SecondLevelError`]) wait at once: beyond, they
//! are dropped and counted, and a [`SubscriptionEvent::EventsDropped`] is delivered where
//! the gap is. Lifecycle events ([`Subscribed`], [`Interrupted`], [`Error`],
//! [`Unsubscribed`]) are never dropped.
//!
//! [`EndOfSnapshot`]: SubscriptionEvent::EndOfSnapshot
//! [`ClearSnapshot`]: SubscriptionEvent::ClearSnapshot
//! [`LostUpdates`]: SubscriptionEvent::LostUpdates
//! [`RealMaxFrequency`]: SubscriptionEvent::RealMaxFrequency
//! [`SecondLevelError`]: SubscriptionEvent::SecondLevelError
//! [`Subscribed`]: SubscriptionEvent::Subscribed
//! [`Interrupted`]: SubscriptionEvent::Interrupted
//! [`Error`]: SubscriptionEvent::Error
//! [`Unsubscribed`]: SubscriptionEvent::Unsubscribed
//!
//! # Memory bounds
//!
//! Whatever the reader does, a subscription's queue holds at most:
//!
//! * `Conflate`: one update per item (per key in COMMAND mode) between two other events,
//!   and never more than 2^18 entries (updates beyond are dropped and counted);
//! * `Queue`: `capacity` updates;
//! * `Backpressure`: `capacity` updates: the driver stops feeding the session machine
//!   right after the update that filled the queue (the rest of that socket read is kept
//!   aside, copied, until the reader makes room);
//!
//! plus the other events, which are bounded too: at most [`MAX_INFO_EVENTS`]
//! informational ones; a storm of reconnections leaves one `Interrupted`/`Subscribed`
//! pair, not one per session; and the `Dropped`/`EventsDropped` markers of the gaps, at
//! most one per waiting update or event plus one.
//!
//! [`ItemUpdate::skipped`]: crate::ItemUpdate::skipped

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use tlcp_proto::Mode;
use tlcp_proto::model::{Command, ItemUpdate as ModelUpdate};
use tokio::sync::Notify;

use crate::events::SubscriptionEvent;
use crate::update::{ItemUpdate, Schema, SpareStash};

/// The default capacity of [`Delivery::Queue`] and [`Delivery::Backpressure`].
pub const DEFAULT_QUEUE_CAPACITY: usize = 8192;

/// The most informational events (end or clear of snapshot, server-side losses, `CONF`,
/// second-level errors) waiting in a subscription's queue; beyond, they are dropped and
/// counted ([`SubscriptionEvent::EventsDropped`]).
pub const MAX_INFO_EVENTS: usize = 1024;

/// A hard bound on the entries of a conflating queue: with one entry per item or key it
/// is only reached by a subscription of that many items or keys (updates beyond are then
/// dropped and counted, as with [`Delivery::Queue`]).
const CONFLATE_MAX_ENTRIES: usize = 1 << 18;

/// How a subscription's events reach its reader when the reader is slower than the
/// server. See the [module documentation](crate::delivery) for the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Keep only the latest state of each item (each key in COMMAND mode): intermediate
    /// updates are folded into the pending one. The default for MERGE.
    Conflate,
    /// Keep up to `capacity` updates; drop the ones beyond and report how many with a
    /// [`SubscriptionEvent::Dropped`]. The default for DISTINCT, RAW and COMMAND, with
    /// [`DEFAULT_QUEUE_CAPACITY`].
    Queue {
        /// Updates kept at most.
        capacity: usize,
    },
    /// Lose nothing: when `capacity` updates are waiting, stop reading the connection
    /// (every subscription then waits) until the reader makes room. Opt-in: one slow
    /// reader slows the whole session.
    Backpressure {
        /// Updates waiting at most before reading pauses (a chunk already read is still
        /// delivered, so the queue may exceed it by the updates of one chunk).
        capacity: usize,
    },
}

impl Delivery {
    /// The default policy of a mode: [`Conflate`](Self::Conflate) for MERGE, a
    /// [`Queue`](Self::Queue) of [`DEFAULT_QUEUE_CAPACITY`] for the others.
    pub fn default_for(mode: Mode) -> Self {
        match mode {
            Mode::Merge => Self::Conflate,
            _ => Self::Queue {
                capacity: DEFAULT_QUEUE_CAPACITY,
            },
        }
    }

    fn capacity(self) -> usize {
        match self {
            Self::Conflate => CONFLATE_MAX_ENTRIES,
            Self::Queue { capacity } | Self::Backpressure { capacity } => capacity.max(1),
        }
    }
}

/// Counters of one subscription's delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryStats {
    /// Updates received from the server for this subscription.
    pub received: u64,
    /// Updates folded into a newer one (conflation).
    pub conflated: u64,
    /// Updates dropped because the queue was full.
    pub dropped: u64,
    /// Informational events dropped because [`MAX_INFO_EVENTS`] were waiting.
    pub events_dropped: u64,
    /// Events waiting for the reader now.
    pub queued: usize,
    /// The most events that were ever waiting at once.
    pub max_queued: usize,
}

/// What happened to an update pushed into the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// Queued, and the back-pressured queue is now full: stop feeding input.
    Full,
    Conflated,
    Dropped,
}

/// No pending entry.
const NONE: u64 = u64::MAX;

struct Inner {
    policy: Delivery,
    capacity: usize,
    queue: VecDeque<SubscriptionEvent>,
    /// Sequence number of `queue[0]`.
    head: u64,
    /// Updates may be folded only into entries at or after this sequence number.
    barrier: u64,
    /// Conflation: the pending update of each item (index = item - 1).
    by_item: Vec<u64>,
    /// Conflation in COMMAND mode: the pending update of each key of each item.
    by_key: HashMap<usize, HashMap<Box<str>, u64>>,
    /// Updates dropped since the last `Dropped` event was queued.
    pending_dropped: u64,
    /// Informational events waiting in `queue` (at most [`MAX_INFO_EVENTS`]).
    info: usize,
    /// Informational events dropped since the last `EventsDropped` event was queued.
    pending_events_dropped: u64,
    /// A terminal event was queued, or the client is gone: nothing more comes.
    ended: bool,
    waker: Option<Waker>,
    stats: DeliveryStats,
}

/// The queue of one subscription, shared by the driver (pushing) and the reader.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Backpressure: the driver waits on this while a queue is full.
    resume: Arc<Notify>,
    /// Backpressure: set when the driver paused because of this queue.
    paused_on: AtomicBool,
}

impl Shared {
    pub(crate) fn new(policy: Delivery, resume: Arc<Notify>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                policy,
                capacity: policy.capacity(),
                queue: VecDeque::new(),
                head: 0,
                barrier: 0,
                by_item: Vec::new(),
                by_key: HashMap::new(),
                pending_dropped: 0,
                info: 0,
                pending_events_dropped: 0,
                ended: false,
                waker: None,
                stats: DeliveryStats::default(),
            }),
            resume,
            paused_on: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The critical sections cannot panic half-way; a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pushes an update (copied, or folded into the pending one) and wakes the reader.
    #[cfg(test)]
    pub(crate) fn push_update(
        &self,
        schema: &Arc<Schema>,
        u: &ModelUpdate<'_>,
        key_pos: Option<usize>,
        at: Instant,
    ) -> Pushed {
        let mut wakers = Vec::new();
        let pushed = self.push_update_deferred(
            schema,
            u,
            key_pos,
            at,
            &mut wakers,
            &mut SpareStash::default(),
        );
        wakers.into_iter().for_each(Waker::wake);
        pushed
    }

    /// Pushes an update (copied, or folded into the pending one); the reader's waker, if
    /// it waits, goes to `wakers`, for the caller to wake once it has pushed everything
    /// it has (one wake-up per socket read, not one per update). A copy is made in a
    /// spare buffer of `spare` (the driver's) if there is one.
    pub(crate) fn push_update_deferred(
        &self,
        schema: &Arc<Schema>,
        u: &ModelUpdate<'_>,
        key_pos: Option<usize>,
        at: Instant,
        wakers: &mut Vec<Waker>,
        spare: &mut SpareStash,
    ) -> Pushed {
        let mut g = self.lock();
        let inner = &mut *g;
        if inner.ended {
            return Pushed::Dropped;
        }
        inner.stats.received += 1;
        if inner.policy == Delivery::Conflate && inner.fold(u, at) {
            inner.stats.conflated += 1;
            return Pushed::Conflated;
        }
        let full = inner.queue.len() >= inner.capacity;
        if full && !matches!(inner.policy, Delivery::Backpressure { .. }) {
            inner.pending_dropped += 1;
            inner.stats.dropped += 1;
            return Pushed::Dropped;
        }
        inner.flush_dropped();
        let seq = inner.head + inner.queue.len() as u64;
        let update = ItemUpdate::copy_from(schema, u, key_pos, at, spare);
        inner.enqueue(SubscriptionEvent::Update(update));
        if inner.policy == Delivery::Conflate {
            inner.index(u, seq);
        }
        let back_pressured = matches!(inner.policy, Delivery::Backpressure { .. });
        let pushed = if back_pressured && inner.queue.len() >= inner.capacity {
            Pushed::Full
        } else {
            Pushed::Queued
        };
        if let Some(w) = inner.waker.take() {
            wakers.push(w);
        }
        pushed
    }

    /// Pushes any other event (see [`Shared::push_event_deferred`]) and wakes the reader. A terminal one ends
    /// the stream after it.
    #[cfg(test)]
    pub(crate) fn push_event(&self, event: SubscriptionEvent) {
        let mut wakers = Vec::new();
        self.push_event_deferred(event, &mut wakers);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Pushes any other event; the reader's waker goes to `wakers` (see
    /// [`Shared::push_update_deferred`]). A terminal one ends the stream after it. An
    /// event repeating the last one waiting is folded into it, and informational events
    /// beyond [`MAX_INFO_EVENTS`] are dropped and counted (see the
    /// [module documentation](self)).
    pub(crate) fn push_event_deferred(&self, event: SubscriptionEvent, wakers: &mut Vec<Waker>) {
        let mut g = self.lock();
        if g.ended {
            return;
        }
        if g.repeats_last(&event) {
            return;
        }
        let info = is_info(&event);
        if info && g.info >= MAX_INFO_EVENTS {
            g.pending_events_dropped += 1;
            g.stats.events_dropped += 1;
            return;
        }
        g.flush_dropped();
        // A reader that does not read through a storm of reconnections would see
        // Interrupted, Subscribed, Interrupted, ... without end: collapse them.
        if matches!(event, SubscriptionEvent::Interrupted) {
            let n = g.queue.len();
            match (n.checked_sub(2).map(|i| &g.queue[i]), g.queue.back()) {
                (_, Some(SubscriptionEvent::Interrupted)) => return,
                (
                    Some(SubscriptionEvent::Interrupted),
                    Some(SubscriptionEvent::Subscribed { .. }),
                ) => {
                    g.queue.pop_back();
                    return;
                }
                _ => {}
            }
        }
        g.ended = event.is_terminal();
        g.info += usize::from(info);
        g.enqueue(event);
        g.barrier = g.head + g.queue.len() as u64;
        if let Some(w) = g.waker.take() {
            wakers.push(w);
        }
    }

    /// The client is gone: the stream ends once the queue is drained.
    pub(crate) fn close(&self) {
        let mut g = self.lock();
        g.ended = true;
        let waker = g.waker.take();
        drop(g);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Backpressure: whether the queue is full (and the driver should pause). Remembers
    /// the answer so that the reader wakes the driver when it makes room.
    pub(crate) fn blocks_reading(&self) -> bool {
        let g = self.lock();
        let full = matches!(g.policy, Delivery::Backpressure { .. })
            && !g.ended
            && g.queue.len() >= g.capacity;
        self.paused_on.store(full, Ordering::Release);
        full
    }

    /// Moves up to `max` waiting events to the reader's `local` buffer under one lock
    /// (at least one, unless the stream waits or has ended): `Ready(true)` when `local`
    /// got events, `Ready(false)` at the end of the stream. Events moved out are no
    /// longer folded (conflation) nor counted against the capacity, so a reader holds at
    /// most `max` of them besides the queue's bound.
    pub(crate) fn poll_batch(
        &self,
        cx: &mut Context<'_>,
        local: &mut VecDeque<SubscriptionEvent>,
        max: usize,
    ) -> Poll<bool> {
        let mut g = self.lock();
        let n = g.queue.len().min(max.max(1));
        if n == 0 {
            let Some(event) = g.take_gap() else {
                if g.ended {
                    return Poll::Ready(false);
                }
                g.waker = Some(cx.waker().clone());
                return Poll::Pending;
            };
            local.push_back(event);
            return Poll::Ready(true);
        }
        if local.is_empty() && n == g.queue.len() {
            // Everything, into an empty buffer: exchange the buffers instead of moving
            // each event (the queue gets the reader's empty one, capacity kept).
            std::mem::swap(local, &mut g.queue);
            g.info = 0;
        } else {
            if g.info > 0 {
                let taken = g.queue.range(..n).filter(|e| is_info(e)).count();
                g.info -= taken;
            }
            local.extend(g.queue.drain(..n));
        }
        g.head += n as u64;
        if g.queue.is_empty() {
            // Nothing pending: forget the conflation index (its entries are stale).
            g.by_key.clear();
        }
        let room = g.queue.len() < g.capacity;
        drop(g);
        if room && self.paused_on.swap(false, Ordering::AcqRel) {
            self.resume.notify_one();
        }
        Poll::Ready(true)
    }

    /// The next event for the reader.
    #[cfg(test)]
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<SubscriptionEvent>> {
        let mut g = self.lock();
        let event = match g.queue.pop_front() {
            Some(e) => {
                g.head += 1;
                g.info -= usize::from(is_info(&e));
                if g.queue.is_empty() {
                    // Nothing pending: forget the conflation index (its entries are stale).
                    g.by_key.clear();
                }
                e
            }
            None => match g.take_gap() {
                Some(e) => e,
                None if g.ended => return Poll::Ready(None),
                None => {
                    g.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            },
        };
        let room = g.queue.len() < g.capacity;
        drop(g);
        if room && self.paused_on.swap(false, Ordering::AcqRel) {
            self.resume.notify_one();
        }
        Poll::Ready(Some(event))
    }

    /// The delivery counters.
    pub(crate) fn stats(&self) -> DeliveryStats {
        let g = self.lock();
        DeliveryStats {
            queued: g.queue.len(),
            ..g.stats
        }
    }
}

impl Inner {
    fn enqueue(&mut self, event: SubscriptionEvent) {
        self.queue.push_back(event);
        self.stats.max_queued = self.stats.max_queued.max(self.queue.len());
    }

    /// Queues the `Dropped` and `EventsDropped` events of the updates and events dropped
    /// since the last ones.
    fn flush_dropped(&mut self) {
        while let Some(gap) = self.take_gap() {
            self.enqueue(gap);
            self.barrier = self.head + self.queue.len() as u64;
        }
    }

    /// The event that marks a gap not reported yet, if any (updates first).
    fn take_gap(&mut self) -> Option<SubscriptionEvent> {
        if self.pending_dropped > 0 {
            let count = std::mem::take(&mut self.pending_dropped);
            Some(SubscriptionEvent::Dropped { count })
        } else if self.pending_events_dropped > 0 {
            let count = std::mem::take(&mut self.pending_events_dropped);
            Some(SubscriptionEvent::EventsDropped { count })
        } else {
            None
        }
    }

    /// Whether `event` says nothing more than the last event waiting (the same event
    /// again; for `CONF`, the last one is updated to the new value): nothing to queue.
    fn repeats_last(&mut self, event: &SubscriptionEvent) -> bool {
        use SubscriptionEvent as E;
        if self.pending_dropped > 0 || self.pending_events_dropped > 0 {
            return false;
        }
        match (self.queue.back_mut(), event) {
            (
                Some(E::RealMaxFrequency {
                    frequency,
                    filtered,
                }),
                E::RealMaxFrequency {
                    frequency: f,
                    filtered: fl,
                },
            ) => {
                (*frequency, *filtered) = (*f, *fl);
                true
            }
            // Repeated server-side losses of the same item are merged.
            (
                Some(E::LostUpdates {
                    item, count, key, ..
                }),
                E::LostUpdates {
                    item: i,
                    count: c,
                    key: k,
                    ..
                },
            ) if item == i && key == k => {
                *count = count.saturating_add(*c);
                true
            }
            (Some(E::EndOfSnapshot { item, .. }), E::EndOfSnapshot { item: i, .. })
            | (Some(E::ClearSnapshot { item, .. }), E::ClearSnapshot { item: i, .. }) => item == i,
            (
                Some(E::SecondLevelError { key, error }),
                E::SecondLevelError { key: k, error: e },
            ) => key == k && error == e,
            _ => false,
        }
    }

    /// The sequence number of the pending update `u` can be folded into, if any.
    fn pending(&self, u: &ModelUpdate<'_>) -> Option<u64> {
        let item = u.item_pos().checked_sub(1)?;
        let seq = match u.key() {
            Some(key) => *self.by_key.get(&item)?.get(key)?,
            None => *self.by_item.get(item)?,
        };
        (seq != NONE && seq >= self.head && seq >= self.barrier).then_some(seq)
    }

    /// Folds `u` into its row's pending update; `false` if there is none.
    fn fold(&mut self, u: &ModelUpdate<'_>, at: Instant) -> bool {
        let Some(seq) = self.pending(u) else {
            return false;
        };
        let Some(SubscriptionEvent::Update(pending)) =
            self.queue.get_mut((seq - self.head) as usize)
        else {
            return false;
        };
        if pending.item_pos() != u.item_pos() || pending.key() != u.key() {
            return false;
        }
        // An ADD and its DELETE cancel out only for a reader that never saw the key; keep
        // the DELETE so that readers always see a row go away.
        pending.conflate(u, at);
        if u.command() == Some(Command::Delete) {
            // Later updates of a re-added key start a new entry.
            if let (Some(item), Some(key)) = (u.item_pos().checked_sub(1), u.key())
                && let Some(keys) = self.by_key.get_mut(&item)
            {
                keys.remove(key);
            }
        }
        true
    }

    /// Remembers the queued update at `seq` as its row's pending one.
    fn index(&mut self, u: &ModelUpdate<'_>, seq: u64) {
        let Some(item) = u.item_pos().checked_sub(1) else {
            return;
        };
        match u.key() {
            Some(key) if u.command() != Some(Command::Delete) => {
                self.by_key.entry(item).or_default().insert(key.into(), seq);
            }
            Some(_) => {}
            None => {
                if self.by_item.len() <= item {
                    self.by_item.resize(item + 1, NONE);
                }
                self.by_item[item] = seq;
            }
        }
    }
}

/// Whether an event is informational: dropped (and counted) rather than queued beyond
/// [`MAX_INFO_EVENTS`].
fn is_info(event: &SubscriptionEvent) -> bool {
    matches!(
        event,
        SubscriptionEvent::EndOfSnapshot { .. }
            | SubscriptionEvent::ClearSnapshot { .. }
            | SubscriptionEvent::LostUpdates { .. }
            | SubscriptionEvent::RealMaxFrequency { .. }
            | SubscriptionEvent::SecondLevelError { .. }
    )
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
