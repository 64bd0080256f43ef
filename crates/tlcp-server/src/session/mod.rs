//! Sessions: state, output, binding to stream connections, recovery.
//!
//! A [`Session`] owns everything a client's session needs on the server: its
//! subscriptions, the output waiting for the stream connection, the recovery log, message
//! sequences. Item listeners (called by the hub when adapters push) encode the updates:
//! a live update the client is in step with goes into the item's own [`Lane`], by the
//! producer, without the session's lock (so the items of one session are encoded on as
//! many cores as push them); every other event is decided under the session's lock. The
//! stream connection currently bound takes the output, lanes' lines included, with
//! [`Session::take_output`]. A session outlives its stream connections: it can be bound
//! again (after `LOOP`, for polling, or with `LS_recovery_from` after a drop) until it is
//! destroyed or stays unbound for too long.

pub(crate) mod control;
pub(crate) mod dispatch;
mod listener;
pub(crate) mod messages;
mod output;
pub(crate) mod recovery;
pub(crate) mod stream;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tlcp_proto::fields::FieldValues;
use tlcp_proto::notification::Notification;
use tlcp_proto::{BandwidthLimit, ProtocolVersion, SessionId};
use tokio::sync::Notify;
use tokio::time::{Duration, Instant};

use crate::adapter::ClientInfo;
use crate::config::ServerConfig;
use crate::hub::{Changes, ItemEvent, ItemListener};
use crate::server::AdapterSetRuntime;
use dispatch::{Lane, LaneCell, Offer, Pending, Subscription, lock_lane};
pub(crate) use listener::SelectorFilter;
use listener::{MAX_STAGED, Staging, StagingList, SubItemListener};
use messages::MessageState;
use recovery::RecoveryLog;

/// Why a session ended, as sent in `END`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Closed {
    pub(crate) code: i32,
    pub(crate) message: String,
}

/// The stream connection a session is bound to.
struct Binding {
    generation: u64,
    wake: Arc<Notify>,
}

/// Everything about a session that changes, behind one lock.
pub(crate) struct State {
    out: String,
    log: RecoveryLog,
    pub(crate) subs: BTreeMap<u32, Subscription>,
    /// Items with pending events, released round robin.
    ready: VecDeque<(u32, usize)>,
    timers: BinaryHeap<Reverse<(Instant, u32, usize)>>,
    binding: Option<Binding>,
    generation: u64,
    pub(crate) unbound_since: Option<Instant>,
    /// Extra time a polling session may stay unbound (its polling interval).
    pub(crate) polling_grace: Duration,
    pub(crate) closed: Option<Closed>,
    pub(crate) bandwidth: BandwidthLimit,
    /// A `force_rebind` is pending: the stream connection must loop with this delay.
    pub(crate) force_loop: Option<u64>,
    /// Test hook: the current stream connection must be cut abruptly.
    drop_requested: bool,
    /// When the client last sent a request (reverse heartbeat check).
    last_heard: Instant,
    /// `LS_close_socket=true` on the last destroy/force_rebind: close the stream
    /// connection itself after `END`/`LOOP`.
    close_socket: bool,
    pub(crate) messages: MessageState,
    congestion_bytes: usize,
    /// Output bytes beyond which the session is closed (`ServerConfig::max_output_bytes`).
    max_output_bytes: usize,
    /// Items of all the subscriptions in `subs`.
    pub(crate) item_count: usize,
    /// Subscriptions of a session closed under its lock (output over its limit), whose
    /// items are to be released once it is unlocked ([`Session::release_all`]).
    doomed: Vec<Subscription>,
    /// Lanes whose staged lines are being moved to the output (kept for its capacity).
    staged_lanes: Vec<Arc<LaneCell>>,
    /// Since when the oldest line of `out` waits (lanes' lines: see [`StagingList`]).
    pending_since: Option<Instant>,
}

/// The session's state, locked; on unlocking, whether the session holds new events is
/// published for the producers ([`Staging::held`]).
pub(crate) struct StateGuard<'a> {
    st: MutexGuard<'a, State>,
    held: &'a AtomicBool,
}

impl std::ops::Deref for StateGuard<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.st
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.st
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        let held = self.st.closed.is_some() || self.st.congested();
        if self.held.load(Ordering::Relaxed) != held {
            self.held.store(held, Ordering::Relaxed);
        }
    }
}

/// A client session.
pub(crate) struct Session {
    pub(crate) id: SessionId,
    pub(crate) client: ClientInfo,
    pub(crate) set: Arc<AdapterSetRuntime>,
    pub(crate) config: Arc<ServerConfig>,
    state: Mutex<State>,
    staging: Arc<Staging>,
    /// Signalled when a congested session has drained (back-pressure for feeds).
    drained: Arc<Notify>,
    /// The server's histogram of how long written lines waited.
    pub(crate) delays: Arc<crate::delays::DelayHistogram>,
    me: Weak<Session>,
}

/// What the bound stream connection should do next.
#[derive(Debug)]
pub(crate) enum Output {
    /// Write this; its oldest line is waiting since this instant (none known: lines
    /// replayed for a recovery only).
    Data(String, Option<Instant>),
    /// Nothing to write; wait for a wake-up or until the deadline (a held event's release).
    Idle(Option<Instant>),
    /// The client asked for a rebind (`force_rebind`): send `LOOP` with this delay.
    Loop(u64),
    /// Another stream connection took the session: stop.
    Superseded,
    /// Cut the connection abruptly (test hook), as a network failure would.
    Drop,
    /// The session is over: send `END` and stop.
    Closed(Closed),
}

impl Session {
    pub(crate) fn new(
        id: SessionId,
        client: ClientInfo,
        set: Arc<AdapterSetRuntime>,
        config: Arc<ServerConfig>,
        delays: Arc<crate::delays::DelayHistogram>,
        now: Instant,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            id,
            state: Mutex::new(State {
                out: String::new(),
                log: RecoveryLog::new(if client.protocol.supports_recovery() {
                    config.recovery_buffer_bytes
                } else {
                    0
                }),
                subs: BTreeMap::new(),
                ready: VecDeque::new(),
                timers: BinaryHeap::new(),
                binding: None,
                generation: 0,
                unbound_since: Some(now),
                polling_grace: Duration::ZERO,
                closed: None,
                bandwidth: BandwidthLimit::Unlimited,
                force_loop: None,
                drop_requested: false,
                last_heard: now,
                close_socket: false,
                messages: MessageState::default(),
                congestion_bytes: config.congestion_bytes,
                max_output_bytes: config.max_output_bytes.max(config.congestion_bytes),
                item_count: 0,
                doomed: Vec::new(),
                staged_lanes: Vec::new(),
                pending_since: None,
            }),
            staging: Arc::new(Staging {
                held: AtomicBool::new(true),
                stage_limit: config.congestion_bytes.min(MAX_STAGED),
                list: Mutex::new(StagingList::default()),
            }),
            client,
            set,
            config,
            drained: Arc::new(Notify::new()),
            delays,
            me: me.clone(),
        })
    }

    pub(crate) fn lock(&self) -> StateGuard<'_> {
        StateGuard {
            st: self.state.lock().unwrap_or_else(|e| e.into_inner()),
            held: &self.staging.held,
        }
    }

    /// Whether the client's version and the configuration allow `^T`/`^P` encodings.
    pub(crate) fn allows_diff(&self) -> bool {
        self.client.protocol.supports_diff_encodings() && self.config.diff_encodings
    }

    /// The protocol version of the session.
    pub(crate) fn protocol(&self) -> ProtocolVersion {
        self.client.protocol
    }

    /// Appends a notification to the output (logging it if it is a data notification)
    /// and wakes the stream connection.
    pub(crate) fn notify(&self, n: &Notification<'_>) {
        let mut st = self.lock();
        st.push(n);
        st.wake();
    }

    /// Binds a new stream connection. Returns its generation, its wake-up signal and the
    /// replay to send after `CONOK` (`PROG` and the recovered notifications), or the
    /// `CONERR` code and message when the requested recovery is impossible.
    pub(crate) fn bind(
        &self,
        polling_grace: Duration,
        recovery_from: Option<u64>,
    ) -> Result<(u64, Arc<Notify>, String), Closed> {
        let mut st = self.lock();
        if let Some(c) = &st.closed {
            return Err(c.clone());
        }
        let mut replay = String::new();
        if let Some(from) = recovery_from {
            if !self.protocol().supports_recovery() {
                return Err(Closed {
                    code: 65,
                    message: "LS_recovery_from needs TLCP 2.1.0 or later".into(),
                });
            }
            let count = st.log.count();
            if from > count {
                return Err(Closed {
                    code: 65,
                    message: format!(
                        "LS_recovery_from={from} is beyond the {count} notifications sent"
                    ),
                });
            }
            Notification::Prog { progressive: from }.encode(&mut replay);
            if st.log.replay_from(from, &mut replay).is_none() {
                return Err(Closed {
                    code: 20,
                    message: "Recovery buffer exhausted: session cannot be recovered".into(),
                });
            }
            // What was waiting in the output is already part of the replay (logged),
            // except non-data lines (old responses, probes), which are obsolete.
            st.out.clear();
        }
        if let Some(old) = st.binding.take() {
            old.wake.notify_waiters();
        }
        st.generation += 1;
        let wake = Arc::new(Notify::new());
        st.binding = Some(Binding {
            generation: st.generation,
            wake: wake.clone(),
        });
        self.staging.list().wake = Some(wake.clone());
        st.unbound_since = None;
        st.polling_grace = polling_grace;
        Ok((st.generation, wake, replay))
    }

    /// Ends a binding (the stream connection closed or looped).
    pub(crate) fn unbind(&self, generation: u64, now: Instant) {
        let mut st = self.lock();
        if st
            .binding
            .as_ref()
            .is_some_and(|b| b.generation == generation)
        {
            st.binding = None;
            st.unbound_since = Some(now);
            self.staging.list().wake = None;
        }
    }

    /// Takes up to `max_bytes` of output (whole lines; at least one line if any) for
    /// the stream connection of `generation`.
    pub(crate) fn take_output(&self, generation: u64, max_bytes: usize, now: Instant) -> Output {
        let mut st = self.lock();
        // Lines the producers staged are output like any other, also for a closed or
        // superseded connection (the next one takes them).
        st.collect_staged(&self.staging);
        if let Some(c) = st.closed.clone() {
            // What was queued before the close (e.g. the REQOK of the destroy) goes first.
            let output = if st.out.is_empty() {
                Output::Closed(c)
            } else {
                Output::Data(std::mem::take(&mut st.out), st.pending_since.take())
            };
            let doomed = std::mem::take(&mut st.doomed);
            drop(st);
            self.release_all(doomed);
            return output;
        }
        if st
            .binding
            .as_ref()
            .is_none_or(|b| b.generation != generation)
        {
            return Output::Superseded;
        }
        if std::mem::take(&mut st.drop_requested) {
            return Output::Drop;
        }
        st.fire_timers(now);
        st.refill(now);
        if st.out.is_empty() {
            // Nothing waits (lines noted as coming did not come).
            st.pending_since = None;
            if let Some(delay) = st.force_loop.take() {
                return Output::Loop(delay);
            }
            return Output::Idle(st.timers.peek().map(|Reverse((t, _, _))| *t));
        }
        let since = st.pending_since.take();
        let data = if st.out.len() <= max_bytes {
            // The next output starts with room for as much as this one: no growing from
            // empty (a chain of reallocations and copies) for every chunk.
            let room = st.out.len().next_power_of_two().min(MAX_OUT_RESERVE);
            std::mem::replace(&mut st.out, String::with_capacity(room))
        } else {
            let cut = st.out.as_bytes()[..max_bytes]
                .windows(2)
                .rposition(|w| w == b"\r\n")
                .map(|p| p + 2)
                .or_else(|| st.out.find("\r\n").map(|p| p + 2))
                .unwrap_or(st.out.len());
            let rest = st.out.split_off(cut);
            // The rest waits since then at the most.
            st.pending_since = since;
            std::mem::replace(&mut st.out, rest)
        };
        st.refill(now);
        if !st.congested() {
            self.drained.notify_waiters();
        }
        Output::Data(data, since)
    }

    /// Closes the session: further output is `END`, subscriptions are released.
    pub(crate) fn close(&self, code: i32, message: impl Into<String>) {
        let subs = {
            let mut st = self.lock();
            if st.closed.is_none() {
                st.closed = Some(Closed {
                    code,
                    message: message.into(),
                });
                st.ready.clear();
                st.timers.clear();
                st.wake();
            }
            // Closed already: only what its close left to release (see `State::push`).
            let mut subs = std::mem::take(&mut st.doomed);
            subs.extend(std::mem::take(&mut st.subs).into_values());
            st.item_count = 0;
            subs
        };
        self.release_all(subs);
        self.drained.notify_waiters();
    }

    /// Notes that the client sent something (a request on any connection).
    pub(crate) fn heard_from_client(&self, now: Instant) {
        self.lock().last_heard = now;
    }

    /// Records `LS_close_socket` of a destroy or force_rebind.
    pub(crate) fn set_close_socket(&self, close: bool) {
        self.lock().close_socket = close;
    }

    /// Whether the stream connection must be closed after its `END`/`LOOP` (and resets
    /// the flag).
    pub(crate) fn take_close_socket(&self) -> bool {
        std::mem::take(&mut self.lock().close_socket)
    }

    /// When the client last sent something.
    pub(crate) fn last_heard_from_client(&self) -> Instant {
        self.lock().last_heard
    }

    /// Test hook: cuts the current stream connection abruptly; the session stays,
    /// unbound, for the client to recover.
    pub(crate) fn drop_stream(&self) {
        let mut st = self.lock();
        if st.binding.is_some() {
            st.drop_requested = true;
            st.wake();
        }
    }

    /// Whether the session was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    fn listener(
        &self,
        (sub_id, item): (u32, usize),
        lane: Arc<LaneCell>,
        selector: Option<Arc<SelectorFilter>>,
    ) -> Arc<dyn ItemListener> {
        Arc::new(SubItemListener {
            session: self.me.clone(),
            staging: Arc::clone(&self.staging),
            lane,
            sub_id,
            item,
            selector,
        })
    }
}

/// Releases a subscription's items at the hub (outside the session lock).
pub(crate) fn release_items(sub: Subscription) {
    for item in &sub.items {
        // An item without a token is still being set up by its `add`, which releases it
        // itself once it finds the subscription gone.
        if let Some(token) = item.token {
            sub.data.release(&item.hub, Some(token));
        }
    }
}

impl State {
    fn wake(&self) {
        if let Some(b) = &self.binding {
            b.wake.notify_one();
        }
    }

    /// Whether new events should be held rather than encoded.
    fn congested(&self) -> bool {
        congested(self.binding.as_ref(), self.out.len(), self.congestion_bytes)
    }

    /// Appends a notification, logging it if it counts for recovery.
    ///
    /// Past `max_output_bytes` of output the session is closed (see [`State::overflow`]).
    pub(crate) fn push(&mut self, n: &Notification<'_>) {
        let start = self.out.len();
        if start == 0 {
            self.note_pending();
        }
        n.encode(&mut self.out);
        if n.counts_for_recovery() {
            self.log.push(&self.out[start..]);
        }
        if self.out.len() > self.max_output_bytes {
            self.overflow();
        }
    }

    /// Notes that the output, empty until now, has lines waiting from now on.
    fn note_pending(&mut self) {
        if self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
    }

    /// Sends the subscription's `SUBOK`/`SUBCMD` and `CONF` if they are still due.
    pub(crate) fn announce(&mut self, sub_id: u32) {
        let Some(lines) = self.subs.get_mut(&sub_id).and_then(|s| s.announce.take()) else {
            return;
        };
        for n in &lines {
            self.push(n);
        }
        self.wake();
    }

    /// Moves the lines that producers staged in their lanes to the output.
    fn collect_staged(&mut self, staging: &Staging) {
        let mut lanes = std::mem::take(&mut self.staged_lanes);
        {
            let mut list = staging.list();
            std::mem::swap(&mut lanes, &mut list.lanes);
            if let Some(t) = list.since.take() {
                self.pending_since = Some(self.pending_since.map_or(t, |p| p.min(t)));
            }
        }
        for cell in lanes.drain(..) {
            lock_lane(&cell).flush_into(&mut self.out, &mut self.log);
        }
        self.staged_lanes = lanes;
    }

    /// Locks `lane` if it is the lane of item `i` of subscription `sub_id` (not that of
    /// a deleted subscription whose id was taken again, and whose listener is still being
    /// removed), its staged lines moved to the output first (so that nothing of the item
    /// written now overtakes them).
    fn take_lane<'l>(
        &mut self,
        sub_id: u32,
        i: usize,
        lane: &'l LaneCell,
    ) -> Option<MutexGuard<'l, Lane>> {
        let mine = self
            .subs
            .get(&sub_id)
            .and_then(|s| s.items.get(i))
            .is_some_and(|it| std::ptr::eq(Arc::as_ptr(&it.lane), lane));
        mine.then(|| {
            let mut guard = lock_lane(lane);
            guard.flush_into(&mut self.out, &mut self.log);
            guard
        })
    }

    /// Closes the lanes of a subscription (their staged lines moved to the output): the
    /// session decides about its next events.
    pub(crate) fn close_lanes(&mut self, sub_id: u32) {
        let Some(sub) = self.subs.get(&sub_id) else {
            return;
        };
        for item in &sub.items {
            let mut lane = lock_lane(&item.lane);
            lane.flush_into(&mut self.out, &mut self.log);
            lane.open = false;
        }
    }

    /// An update of item `i` of subscription `sub_id` that is not for this client (its
    /// selector refused it).
    fn skip_item_event(
        &mut self,
        (sub_id, i, cell): (u32, usize, &LaneCell),
        row: &[Option<String>],
        changes: Option<Changes<'_>>,
    ) {
        if let Some(mut lane) = self.take_lane(sub_id, i, cell) {
            lane.settle(row, changes);
            lane.synced_seq = None;
        }
    }

    /// An event of item `i` of subscription `sub_id`, decided by the session (its lane
    /// is closed, or the producer found the session holding events).
    fn on_item_event(&mut self, (sub_id, i, cell): (u32, usize, &LaneCell), event: ItemEvent<'_>) {
        let Some(mut lane) = self.take_lane(sub_id, i, cell) else {
            return;
        };
        self.item_event(sub_id, i, event, &mut lane);
        lane.open = self.subs.get(&sub_id).is_some_and(|s| s.lane_may_open(i));
    }

    fn item_event(&mut self, sub_id: u32, i: usize, event: ItemEvent<'_>, lane: &mut Lane) {
        // (Sub ids are the client's: a `BTreeMap` is cheaper than hashing them with
        // SipHash on every event, and as safe against colliding ids.)
        let Some(sub) = self.subs.get_mut(&sub_id) else {
            return;
        };
        // One lookup of the subscription per event (two when it is still to be announced).
        let sub = if sub.announce.is_some() {
            self.announce(sub_id);
            let Some(sub) = self.subs.get_mut(&sub_id) else {
                return;
            };
            sub
        } else {
            sub
        };
        let congested = congested(self.binding.as_ref(), self.out.len(), self.congestion_bytes);
        // The clock is read only when a frequency limit needs it (not per update).
        let now = (sub.min_interval.is_some()
            || sub.items.get(i).is_some_and(|it| it.next_at.is_some()))
        .then(Instant::now);
        let offer = match event {
            ItemEvent::Update {
                snapshot,
                row,
                live,
                changes,
            } => {
                if snapshot && !sub.snapshot_requested {
                    lane.settle(row, changes);
                    lane.synced_seq = None;
                    return;
                }
                let offer = sub.offer_update(i, row, congested, now);
                let in_sync = offer == Offer::SendNow
                    && lane.has_sent
                    && live.is_some_and(|(seq, _)| lane.synced_seq == Some(seq.wrapping_sub(1)));
                if !in_sync || changes.is_none() {
                    lane.settle(row, changes);
                }
                if offer != Offer::SendNow {
                    lane.synced_seq = None;
                    offer
                } else {
                    let shared = live.and_then(|(_, cache)| cache).filter(|_| in_sync);
                    let changes = changes.filter(|_| in_sync);
                    // Output already waiting means its writer was woken and has not taken
                    // it yet (it waits only after finding the output empty, and takes
                    // what is there whenever it runs): no wake-up per update.
                    let was_empty = self.out.is_empty();
                    let start = self.out.len();
                    let seq = live.map(|(seq, _)| seq);
                    if lane.encode_live((sub_id, i), row, seq, changes, shared, &mut self.out) {
                        self.log.push(&self.out[start..]);
                    }
                    if was_empty {
                        self.note_pending();
                        self.wake();
                    }
                    return;
                }
            }
            ItemEvent::EndOfSnapshot => {
                if !sub.snapshot_requested
                    || !matches!(
                        sub.mode,
                        tlcp_proto::Mode::Distinct | tlcp_proto::Mode::Command
                    )
                {
                    return;
                }
                match sub.offer_marker(i, Pending::Eos) {
                    Offer::SendNow => {
                        self.push(&Notification::Eos {
                            sub_id,
                            item: i as u32 + 1,
                        });
                        self.wake();
                        return;
                    }
                    o => o,
                }
            }
            ItemEvent::ClearSnapshot { row, changes } => {
                lane.settle(row, Some(changes));
                lane.synced_seq = None;
                if sub.mode == tlcp_proto::Mode::Merge {
                    let width = sub.items[i].field_idx.iter().max().map_or(0, |m| m + 1);
                    let nulls = vec![None; width];
                    return self.item_event(
                        sub_id,
                        i,
                        ItemEvent::Update {
                            snapshot: false,
                            row: &nulls,
                            live: None,
                            changes: None,
                        },
                        lane,
                    );
                }
                if sub.mode == tlcp_proto::Mode::Raw {
                    return;
                }
                match sub.offer_marker(i, Pending::Cs) {
                    Offer::SendNow => {
                        self.push(&Notification::Cs {
                            sub_id,
                            item: i as u32 + 1,
                        });
                        self.wake();
                        return;
                    }
                    o => o,
                }
            }
        };
        if let Offer::Held { release_at } = offer {
            let item = &mut sub.items[i];
            match release_at {
                Some(t) => {
                    item.timer_set = true;
                    self.timers.push(Reverse((t, sub_id, i)));
                }
                None => {
                    item.queued = true;
                    self.ready.push_back((sub_id, i));
                }
            }
            self.wake();
        }
    }

    /// Moves due timers' items to the ready list.
    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((t, sub_id, i))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            if let Some(item) = self.subs.get_mut(&sub_id).and_then(|s| s.items.get_mut(i)) {
                item.timer_set = false;
                if !item.pending.is_empty() && !item.queued {
                    item.queued = true;
                    self.ready.push_back((sub_id, i));
                }
            }
        }
    }

    /// Encodes held events while the client keeps up, one per item in turn.
    fn refill(&mut self, now: Instant) {
        while !self.congested() {
            let Some((sub_id, i)) = self.ready.pop_front() else {
                return;
            };
            let Some(sub) = self.subs.get_mut(&sub_id) else {
                continue;
            };
            let min_interval = sub.min_interval;
            let Some(item) = sub.items.get_mut(i) else {
                continue;
            };
            item.queued = false;
            if let Some(t) = item.next_at.filter(|t| *t > now) {
                if !item.pending.is_empty() && !item.timer_set {
                    item.timer_set = true;
                    self.timers.push(Reverse((t, sub_id, i)));
                }
                continue;
            }
            let item_pos = i as u32 + 1;
            // COMMAND with a maximum frequency: UPDATEs wait per key, other keys go on.
            let command_limited = match (sub.mode, sub.key_cmd, min_interval) {
                (tlcp_proto::Mode::Command, Some(kc), Some(iv)) => Some((kc, iv)),
                _ => None,
            };
            let index = match command_limited {
                None => 0,
                Some((kc, _)) => match dispatch::first_releasable(item, kc, now) {
                    Ok(j) => j,
                    Err(when) => {
                        if let Some(t) = when
                            && !item.timer_set
                        {
                            item.timer_set = true;
                            self.timers.push(Reverse((t, sub_id, i)));
                        }
                        continue;
                    }
                },
            };
            if let (Some(((k, c), iv)), Some(Pending::Update { row })) =
                (command_limited, item.pending.get(index))
            {
                let key = row.get(k).cloned().flatten();
                let cmd = row.get(c).cloned().flatten();
                dispatch::note_command_sent(item, key.as_deref(), cmd.as_deref(), now, iv);
            }
            // The item's staged lines, if any, go first.
            let cell = Arc::clone(&item.lane);
            let mut lane = lock_lane(&cell);
            if self.out.is_empty() && self.pending_since.is_none() {
                self.pending_since = Some(Instant::now());
            }
            lane.flush_into(&mut self.out, &mut self.log);
            match item.pending.remove(index) {
                Some(Pending::Update { row }) => {
                    item.pending_updates -= 1;
                    encode_update(&mut self.out, &mut self.log, sub_id, i, &mut lane, &row);
                    item.spare.push(row);
                    if let (Some(iv), None) = (min_interval, command_limited) {
                        item.next_at = Some(dispatch::later(now, iv));
                    }
                }
                Some(Pending::Eos) => self.push_item(&Notification::Eos {
                    sub_id,
                    item: item_pos,
                }),
                Some(Pending::Cs) => self.push_item(&Notification::Cs {
                    sub_id,
                    item: item_pos,
                }),
                Some(Pending::Lost(n)) => self.push_item(&Notification::Ov {
                    sub_id,
                    item: item_pos,
                    lost: n,
                }),
                None => continue,
            }
            if let Some(item) = self.subs.get_mut(&sub_id).and_then(|s| s.items.get_mut(i))
                && !item.pending.is_empty()
                && !item.queued
            {
                item.queued = true;
                self.ready.push_back((sub_id, i));
            }
        }
    }

    fn push_item(&mut self, n: &Notification<'_>) {
        self.push(n);
    }
}

/// The schema values of a subscribed item, read through its field mapping from the
/// item's full row (no copy).
struct Projected<'a> {
    row: &'a [Option<String>],
    idx: &'a [usize],
}

impl FieldValues for Projected<'_> {
    fn field_count(&self) -> usize {
        self.idx.len()
    }

    fn field(&self, index: usize) -> Option<&str> {
        self.row.get(*self.idx.get(index)?)?.as_deref()
    }
}

/// Whether a session with this binding and this much output waiting holds new events.
#[inline]
fn congested(binding: Option<&Binding>, out_len: usize, limit: usize) -> bool {
    binding.is_none() || out_len >= limit
}

/// The row a client in step with an item last received (update `seq - 1`), in schema
/// order, rebuilt from the item's current row and what changed.
struct Before<'a> {
    row: &'a [Option<String>],
    idx: &'a [usize],
    changes: Changes<'a>,
}

impl FieldValues for Before<'_> {
    fn field_count(&self) -> usize {
        self.idx.len()
    }

    fn field(&self, index: usize) -> Option<&str> {
        self.changes.before(self.row, *self.idx.get(index)?)
    }
}

/// Encodes `U,<sub>,<item>,<values>` relative to what the client last received, logs
/// it, and remembers the new values as the next delta's base.
fn encode_update(
    out: &mut String,
    log: &mut RecoveryLog,
    sub_id: u32,
    i: usize,
    lane: &mut Lane,
    new: &impl FieldValues,
) {
    let start = out.len();
    let prev = lane.has_sent.then_some(&lane.last_sent);
    let encoder = &mut lane.encoder;
    let line = tlcp_proto::notification::encode_update_with(sub_id, i as u32 + 1, out, |out| {
        encoder.encode(prev, new, out)
    });
    if line.is_err() {
        // Only possible with a schema of zero fields, which the metadata refuses.
        return;
    }
    log.push(&out[start..]);
    let width = lane.last_sent.field_count();
    lane.last_sent.copy_values(width, |k| new.field(k));
    lane.has_sent = true;
}

/// The most capacity kept in advance for a session's next output.
const MAX_OUT_RESERVE: usize = 256 * 1024;
