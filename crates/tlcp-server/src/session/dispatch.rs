//! Per-subscription dispatch: from item events to encoded notifications.
//!
//! Each subscribed item of a session ([`SubItem`]) either encodes an event straight away
//! (the common case: client keeping up, no frequency limit; by the producer into the
//! item's [`Lane`] when nothing is for the session to decide), or
//! holds it in a small pending queue whose overflow policy is the mode's semantics:
//!
//! | mode | pending capacity | on overflow |
//! |---|---|---|
//! | MERGE (filtered) | buffer size (default 1) | the newest row replaces the last pending one (conflation) |
//! | DISTINCT (filtered) | buffer size (default: the session's hard cap) | the oldest event is dropped |
//! | COMMAND (filtered) | hard cap | a pending UPDATE of the same key is replaced; otherwise counted as lost |
//! | RAW, or any mode unfiltered | hard cap | the event is dropped and counted; `OV` reports the count in order |
//!
//! Pending events are released by the writer as the client drains (round robin over the
//! items that have some, so one busy item cannot starve the others), or by a timer when a
//! maximum frequency spaces them out.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tlcp_proto::Mode;
use tlcp_proto::fields::{Encoder, FieldValues};
use tlcp_proto::notification::Notification;
use tokio::time::{Duration, Instant};

use super::recovery::RecoveryLog;
use crate::hub::{Changes, DataAdapterHub, ItemHub};

/// The longest spacing a maximum frequency puts between two updates of an item (an
/// adapter's lower limit is raised to it; a client cannot ask for it, see
/// [`MIN_MAX_FREQUENCY`]).
pub(crate) const MAX_UPDATE_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// The lowest maximum frequency a client may ask for (updates/s): one a day.
pub(crate) const MIN_MAX_FREQUENCY: f64 = 1.0 / (24.0 * 60.0 * 60.0);

/// The spacing of updates at `freq` updates/s, within [`MAX_UPDATE_INTERVAL`] (whatever
/// `freq` is: never a panic).
pub(crate) fn update_interval(freq: f64) -> Duration {
    Duration::try_from_secs_f64(1.0 / freq)
        .map_or(MAX_UPDATE_INTERVAL, |d| d.min(MAX_UPDATE_INTERVAL))
}

/// `t + d`, or as late as can be told when that overflows (no panic).
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(MAX_UPDATE_INTERVAL))
        .unwrap_or(t)
}

/// An event waiting to be encoded.
#[derive(Debug)]
pub(crate) enum Pending {
    Update {
        row: Vec<Option<String>>,
    },
    Eos,
    Cs,
    /// `n` events were lost at this point of the flow (`OV`).
    Lost(u64),
}

/// One subscribed item of a subscription.
pub(crate) struct SubItem {
    pub(crate) hub: Arc<ItemHub>,
    pub(crate) token: Option<u64>,
    /// Item field index of each schema field.
    pub(crate) field_idx: Vec<usize>,
    /// What encoding the item's updates needs, shared with the item's listener.
    pub(crate) lane: Arc<LaneCell>,
    pub(crate) pending: VecDeque<Pending>,
    /// How many of `pending` are updates (the overflow policy compares it to the
    /// capacity on every held update).
    pub(crate) pending_updates: usize,
    /// Rows recycled from pending events, to avoid allocating under load.
    pub(crate) spare: Vec<Vec<Option<String>>>,
    /// Listed in the session's round-robin of items with pending events.
    pub(crate) queued: bool,
    /// A timer is set to release this item's next event.
    pub(crate) timer_set: bool,
    /// Earliest time the next update may be sent (maximum frequency).
    pub(crate) next_at: Option<Instant>,
    /// COMMAND with a maximum frequency: the earliest time of each key's next UPDATE
    /// (the limit applies to UPDATEs per key; ADD and DELETE are never delayed).
    pub(crate) key_next: HashMap<String, Instant>,
}

/// The most capacity a lane keeps for its staged lines once they are moved out.
const KEPT_STAGED: usize = 4 * 1024;

/// A [`Lane`] behind its own lock.
pub(crate) type LaneCell = Mutex<Lane>;

/// Locks a lane (a panic elsewhere while it was locked leaves it usable: its state is
/// only ever updated whole).
pub(crate) fn lock_lane(cell: &LaneCell) -> MutexGuard<'_, Lane> {
    cell.lock().unwrap_or_else(|e| e.into_inner())
}

/// The encoding side of one subscribed item, behind a lock of its own.
///
/// While the session lets it (`open`: the subscription is announced and unlimited in
/// frequency, nothing of the item is held, the session keeps up), the item's producer
/// encodes its live updates straight into `staged` without taking the session's lock, so
/// that the items of one session are encoded in parallel. The session moves staged lines
/// into its output (and its recovery log) whenever it locks the lane: before writing
/// anything else of the item, so the item's order is kept.
///
/// Lock order: the session, then a lane (a producer holding its lane takes no other lock
/// than the session's short [`Staging`](super::Staging) list).
pub(crate) struct Lane {
    /// Item field index of each schema field.
    pub(crate) field_idx: Vec<usize>,
    /// `field_idx` is `0..n`: the schema is the item's fields in their order.
    pub(crate) idx_identity: bool,
    /// What the client last received for this item (schema order), the base of deltas.
    pub(crate) last_sent: crate::hub::FlatRow,
    pub(crate) has_sent: bool,
    /// The item update number whose row `last_sent` holds, when it was sent as it came
    /// (not conflated or held): the next live delta can then be shared with the other
    /// sessions in the same position.
    pub(crate) synced_seq: Option<u64>,
    /// `last_sent` is out of date: what the client last received is the item's row at
    /// update `synced_seq`, which the next event lets [`Lane::settle`] rebuild. Kept
    /// so while the item is sent update by update, so that no copy is made per update.
    pub(crate) sent_in_hub: bool,
    /// `U,<sub id>,<item position>,`, the start of this item's `U` lines (made by the
    /// first update sent).
    pub(crate) u_prefix: String,
    pub(crate) encoder: Encoder,
    /// The producer may encode live updates in step with the client into `staged`.
    pub(crate) open: bool,
    /// Encoded lines not yet in the session's output, and where each ends.
    pub(crate) staged: String,
    pub(crate) staged_ends: Vec<u32>,
}

impl Lane {
    fn new(field_idx: Vec<usize>, allow_diff: bool) -> Self {
        let width = field_idx.len();
        let idx_identity = field_idx.iter().enumerate().all(|(k, &f)| k == f);
        Self {
            field_idx,
            idx_identity,
            last_sent: crate::hub::FlatRow::nulls(width),
            has_sent: false,
            synced_seq: None,
            sent_in_hub: false,
            u_prefix: String::new(),
            encoder: Encoder::new().with_diff(allow_diff),
            open: false,
            staged: String::new(),
            staged_ends: Vec::new(),
        }
    }

    /// Moves the staged lines to the end of the session's output and logs them.
    pub(crate) fn flush_into(&mut self, out: &mut String, log: &mut RecoveryLog) {
        if self.staged.is_empty() {
            return;
        }
        log.push_lines(&self.staged, &self.staged_ends);
        out.push_str(&self.staged);
        self.staged.clear();
        self.staged_ends.clear();
        // A burst (a slow stream connection) may have grown the buffers up to the stage
        // limit: a session of many items does not keep that much per item.
        if self.staged.capacity() > KEPT_STAGED {
            self.staged = String::new();
            self.staged_ends = Vec::new();
        }
    }

    /// Encodes an update sent as it comes and appends its `U` line to `out`. `changes`
    /// is given when the client is in step with the item (it got update `seq - 1` as it
    /// came): the hub then says what changed, so nothing is compared and no copy of the
    /// row is kept, and `shared` lets the sessions in the same position share the delta.
    /// Otherwise the delta is from `last_sent`. Returns whether a line was written (not
    /// with a schema of zero fields, which the metadata refuses).
    pub(crate) fn encode_live(
        &mut self,
        (sub_id, i): (u32, usize),
        row: &[Option<String>],
        live: Option<u64>,
        changes: Option<Changes<'_>>,
        shared: Option<&std::cell::RefCell<crate::hub::SharedEncodings>>,
        out: &mut String,
    ) -> bool {
        let Lane {
            field_idx: idx,
            idx_identity,
            last_sent,
            has_sent,
            synced_seq,
            sent_in_hub,
            u_prefix,
            encoder,
            ..
        } = self;
        if u_prefix.is_empty() {
            tlcp_proto::notification::encode_update_prefix(sub_id, i as u32 + 1, u_prefix);
        }
        let new = super::Projected { row, idx };
        let allow = encoder.allows_diff();
        // Schema fields in the item's order (the usual case): no projection.
        let direct = *idx_identity && idx.len() == row.len();
        let prev = has_sent.then_some(&*last_sent);
        let mut encode = |out: &mut String| match changes {
            Some(c) if direct => {
                let old = super::Before {
                    row,
                    idx,
                    changes: c,
                };
                match c.mask() {
                    // Only the changed fields visited, by their bits.
                    Some(m) => encoder.encode_changed_mask(&old, row, &[m], out),
                    None => encoder.encode_changes(&old, row, |k| c.changed(k), out),
                }
            }
            Some(c) => {
                let old = super::Before {
                    row,
                    idx,
                    changes: c,
                };
                encoder.encode_changes(&old, &new, |k| c.changed(idx[k]), out)
            }
            None => encoder.encode(prev, &new, out),
        };
        let written = match shared {
            Some(cache) => {
                // Same previous row as every caught-up session: reuse the delta the first
                // of them computed.
                let mut cache = cache.borrow_mut();
                let encoded = cache.get_or_encode(idx, allow, |out| {
                    let _ = encode(out);
                });
                tlcp_proto::notification::encode_update_with_prefix::<()>(u_prefix, out, |out| {
                    out.push_str(encoded);
                    Ok(())
                })
                .is_ok()
            }
            None => {
                tlcp_proto::notification::encode_update_with_prefix(u_prefix, out, encode).is_ok()
            }
        };
        if !written {
            return false;
        }
        if changes.is_some() {
            *sent_in_hub = true;
        } else {
            let width = last_sent.field_count();
            last_sent.copy_values(width, |k| new.field(k));
        }
        *has_sent = true;
        *synced_seq = live;
        true
    }

    /// Makes `last_sent` hold what the client last received again, from the item's
    /// `row` at update `changes.seq` (`changes.seq - 1` or `changes.seq` being the one
    /// the client last received). Call before anything but a sent-as-it-came update
    /// reads or moves away from `last_sent`.
    pub(crate) fn settle(&mut self, row: &[Option<String>], changes: Option<Changes<'_>>) {
        if !self.sent_in_hub {
            return;
        }
        self.sent_in_hub = false;
        let idx = &self.field_idx;
        let width = idx.len();
        match (changes, self.synced_seq) {
            (Some(c), Some(s)) if s == c.seq => self
                .last_sent
                .copy_values(width, |k| row.get(idx[k]).and_then(|v| v.as_deref())),
            (Some(c), Some(s)) if s.wrapping_add(1) == c.seq => {
                self.last_sent.copy_values(width, |k| c.before(row, idx[k]));
            }
            // The hub hands every event of the item to every listener, so this does not
            // happen; if it did, sending the next values whole is still right.
            _ => self.has_sent = false,
        }
    }
}

/// A subscription of a session.
pub(crate) struct Subscription {
    pub(crate) mode: Mode,
    pub(crate) unfiltered: bool,
    /// Minimum spacing between two updates of an item (from the maximum frequency).
    pub(crate) min_interval: Option<Duration>,
    /// The maximum frequency in force (updates/s), as reported in `CONF`.
    pub(crate) max_frequency: Option<f64>,
    /// The metadata adapter's frequency limit for the items, which a `reconf` cannot lift.
    pub(crate) limit_frequency: Option<f64>,
    /// Pending capacity per item before the overflow policy applies.
    pub(crate) capacity: usize,
    /// Schema positions (0-based) of the key and command fields (COMMAND).
    pub(crate) key_cmd: Option<(usize, usize)>,
    pub(crate) items: Vec<SubItem>,
    pub(crate) data: Arc<DataAdapterHub>,
    /// The client asked for a snapshot (adapter snapshot events are dropped otherwise).
    pub(crate) snapshot_requested: bool,
    /// `SUBOK`/`SUBCMD` and `CONF`, until they are sent: right before the subscription's
    /// first event, or once its items have their listeners, whichever comes first. So the
    /// client never learns of the subscription before it is in place (an update pushed
    /// once the client has seen `SUBOK` is never missed), nor gets an event before `SUBOK`.
    pub(crate) announce: Option<Vec<Notification<'static>>>,
}

/// What `offer` decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Encode this event now.
    SendNow,
    /// Held; the item must be listed for release (and a timer set at the instant, if any).
    Held { release_at: Option<Instant> },
    /// Held behind earlier events already listed, or merged into one.
    Absorbed,
}

impl Subscription {
    /// Whether item `i`'s producer may encode its live updates itself (see [`Lane`]):
    /// nothing about them is for the session to decide.
    pub(crate) fn lane_may_open(&self, i: usize) -> bool {
        self.announce.is_none()
            && self.min_interval.is_none()
            && self.mode != Mode::Command
            && self.items.get(i).is_some_and(|it| {
                it.pending.is_empty() && !it.queued && !it.timer_set && it.next_at.is_none()
            })
    }

    /// Decides what to do with an update of item `i` (0-based); `item_row` is the item's
    /// full row (by item field index).
    pub(crate) fn offer_update(
        &mut self,
        i: usize,
        item_row: &[Option<String>],
        congested: bool,
        now: Option<Instant>,
    ) -> Offer {
        let min_interval = self.min_interval;
        let (mode, unfiltered, capacity, key_cmd) =
            (self.mode, self.unfiltered, self.capacity, self.key_cmd);
        if let (Mode::Command, Some(iv), Some((k, c)), Some(now)) =
            (mode, min_interval, key_cmd, now)
        {
            return self.offer_command_limited(i, item_row, congested, now, iv, (k, c));
        }
        let item = &mut self.items[i];
        let rate_blocked = item.next_at.zip(now).is_some_and(|(t, now)| t > now);
        if item.pending.is_empty() && !congested && !rate_blocked {
            if let (Some(iv), Some(now)) = (min_interval, now) {
                item.next_at = Some(later(now, iv));
            }
            return Offer::SendNow;
        }
        let mut row = item.spare.pop().unwrap_or_default();
        project_into(&mut row, &item.field_idx, item_row);
        let was_empty = item.pending.is_empty();
        let updates = item.pending_updates;
        if updates >= capacity {
            match (mode, unfiltered) {
                (Mode::Merge, false) => {
                    if let Some(Pending::Update { row: last, .. }) = item
                        .pending
                        .iter_mut()
                        .rev()
                        .find(|p| matches!(p, Pending::Update { .. }))
                    {
                        std::mem::swap(last, &mut row);
                        item.spare.push(row);
                        return Offer::Absorbed;
                    }
                }
                (Mode::Distinct, false) => {
                    if let Some(pos) = item
                        .pending
                        .iter()
                        .position(|p| matches!(p, Pending::Update { .. }))
                        && let Some(Pending::Update { row: old, .. }) = item.pending.remove(pos)
                    {
                        item.pending_updates -= 1;
                        item.spare.push(old);
                    }
                }
                (Mode::Command, false) => {
                    if let Some((k, c)) = key_cmd
                        && row.get(c).and_then(|v| v.as_deref()) == Some("UPDATE")
                    {
                        let key = row.get(k).cloned().flatten();
                        let same_key = item.pending.iter_mut().rev().find_map(|p| match p {
                            Pending::Update { row: r, .. }
                                if r.get(k).cloned().flatten() == key
                                    && r.get(c).and_then(|v| v.as_deref()) == Some("UPDATE") =>
                            {
                                Some(r)
                            }
                            _ => None,
                        });
                        if let Some(r) = same_key {
                            std::mem::swap(r, &mut row);
                            item.spare.push(row);
                            return Offer::Absorbed;
                        }
                    }
                    item.spare.push(row);
                    return note_lost(item, was_empty);
                }
                _ => {
                    item.spare.push(row);
                    return note_lost(item, was_empty);
                }
            }
        }
        item.pending.push_back(Pending::Update { row });
        item.pending_updates += 1;
        held(item, was_empty, rate_blocked)
    }

    /// COMMAND with a maximum frequency: UPDATEs are spaced per key, ADD and DELETE go as
    /// they come; an UPDATE held for its key absorbs the next UPDATE of the same key.
    fn offer_command_limited(
        &mut self,
        i: usize,
        item_row: &[Option<String>],
        congested: bool,
        now: Instant,
        interval: Duration,
        (k, c): (usize, usize),
    ) -> Offer {
        let capacity = self.capacity;
        let item = &mut self.items[i];
        let field = |pos: usize| {
            item.field_idx
                .get(pos)
                .and_then(|&f| item_row.get(f))
                .cloned()
                .flatten()
        };
        let (key, cmd) = (field(k), field(c));
        let is_update = cmd.as_deref() == Some("UPDATE");
        let blocked_until = key
            .as_ref()
            .filter(|_| is_update)
            .and_then(|key| item.key_next.get(key))
            .copied()
            .filter(|t| *t > now);
        if item.pending.is_empty() && !congested && blocked_until.is_none() {
            note_command_sent(item, key.as_deref(), cmd.as_deref(), now, interval);
            return Offer::SendNow;
        }
        let mut row = item.spare.pop().unwrap_or_default();
        project_into(&mut row, &item.field_idx, item_row);
        if is_update {
            // The latest pending event of this key, if it is an UPDATE, takes the new row.
            let latest = item.pending.iter_mut().rev().find_map(|p| match p {
                Pending::Update { row: r } if r.get(k).cloned().flatten() == key => Some(r),
                _ => None,
            });
            if let Some(r) = latest
                && r.get(c).and_then(|v| v.as_deref()) == Some("UPDATE")
            {
                std::mem::swap(r, &mut row);
                item.spare.push(row);
                return Offer::Absorbed;
            }
        }
        let was_empty = item.pending.is_empty();
        let updates = item.pending_updates;
        if updates >= capacity {
            item.spare.push(row);
            return note_lost(item, was_empty);
        }
        item.pending.push_back(Pending::Update { row });
        item.pending_updates += 1;
        if blocked_until.is_none() && !item.queued {
            // It may go as soon as the client keeps up, even if an UPDATE of another key
            // ahead of it waits for its interval.
            Offer::Held { release_at: None }
        } else if was_empty && !item.queued && !item.timer_set {
            Offer::Held {
                release_at: blocked_until,
            }
        } else {
            Offer::Absorbed
        }
    }

    /// Queues a non-update event (EOS/CS) behind pending updates, or asks to send it now.
    pub(crate) fn offer_marker(&mut self, i: usize, marker: Pending) -> Offer {
        let item = &mut self.items[i];
        if item.pending.is_empty() {
            return Offer::SendNow;
        }
        item.pending.push_back(marker);
        Offer::Absorbed
    }
}

/// Sets `row` to the schema's fields of `item_row`, reusing the strings `row` already
/// holds (a recycled row): no allocation per field once warm.
fn project_into(row: &mut Vec<Option<String>>, field_idx: &[usize], item_row: &[Option<String>]) {
    row.resize(field_idx.len(), None);
    for (slot, &f) in row.iter_mut().zip(field_idx) {
        match (slot.as_mut(), item_row.get(f).and_then(|v| v.as_deref())) {
            (Some(s), Some(v)) => {
                s.clear();
                s.push_str(v);
            }
            (None, Some(v)) => *slot = Some(v.to_owned()),
            (_, None) => *slot = None,
        }
    }
}

fn note_lost(item: &mut SubItem, was_empty: bool) -> Offer {
    if let Some(Pending::Lost(n)) = item.pending.back_mut() {
        *n += 1;
    } else {
        item.pending.push_back(Pending::Lost(1));
    }
    held(item, was_empty, false)
}

fn held(item: &mut SubItem, was_empty: bool, rate_blocked: bool) -> Offer {
    if was_empty && !item.queued && !item.timer_set {
        Offer::Held {
            release_at: if rate_blocked { item.next_at } else { None },
        }
    } else {
        Offer::Absorbed
    }
}

impl SubItem {
    pub(crate) fn new(hub: Arc<ItemHub>, field_idx: Vec<usize>, allow_diff: bool) -> Self {
        Self {
            hub,
            token: None,
            lane: Arc::new(Mutex::new(Lane::new(field_idx.clone(), allow_diff))),
            field_idx,
            pending: VecDeque::new(),
            pending_updates: 0,
            spare: Vec::new(),
            queued: false,
            timer_set: false,
            next_at: None,
            key_next: HashMap::new(),
        }
    }
}

/// Records that a COMMAND event was sent: an UPDATE starts its key's interval, a DELETE
/// forgets the key.
pub(crate) fn note_command_sent(
    item: &mut SubItem,
    key: Option<&str>,
    cmd: Option<&str>,
    now: Instant,
    interval: Duration,
) {
    let Some(key) = key else { return };
    match cmd {
        Some("UPDATE") => {
            if let Some(t) = item.key_next.get_mut(key) {
                *t = later(now, interval);
            } else {
                item.key_next.insert(key.to_owned(), later(now, interval));
            }
        }
        Some("DELETE") => {
            item.key_next.remove(key);
        }
        _ => {}
    }
}

/// COMMAND with a maximum frequency: the first pending event that may go now, without
/// overtaking an earlier event of the same key nor a marker (EOS, CS, OV); or, when none
/// may, the earliest time one will.
pub(crate) fn first_releasable(
    item: &SubItem,
    (k, c): (usize, usize),
    now: Instant,
) -> Result<usize, Option<Instant>> {
    let mut blocked_keys: Vec<&str> = Vec::new();
    let mut earliest: Option<Instant> = None;
    for (j, p) in item.pending.iter().enumerate() {
        let Pending::Update { row } = p else {
            return if j == 0 { Ok(0) } else { Err(earliest) };
        };
        let key = row.get(k).and_then(|v| v.as_deref());
        if key.is_some_and(|key| blocked_keys.contains(&key)) {
            continue;
        }
        let due = (row.get(c).and_then(|v| v.as_deref()) == Some("UPDATE"))
            .then(|| key.and_then(|key| item.key_next.get(key)))
            .flatten()
            .copied()
            .filter(|t| *t > now);
        match due {
            None => return Ok(j),
            Some(t) => {
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
                if let Some(key) = key {
                    blocked_keys.push(key);
                }
            }
        }
    }
    Err(earliest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_frequency_gives_an_interval_without_panicking() {
        assert_eq!(update_interval(4.0), Duration::from_millis(250));
        for f in [1e-20, 0.0, -1.0, f64::NAN, f64::MIN_POSITIVE] {
            assert_eq!(update_interval(f), MAX_UPDATE_INTERVAL, "{f}");
        }
        assert_eq!(update_interval(f64::INFINITY), Duration::ZERO);
        let now = Instant::now();
        assert_eq!(
            later(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        assert!(later(now, Duration::MAX) >= now);
    }

    #[test]
    fn a_lane_flush_appends_and_logs_each_staged_line_in_order() {
        let mut lane = Lane::new(vec![0, 1], false);
        let mut out = String::from("REQOK,1\r\n");
        let mut log = RecoveryLog::new(1 << 20);
        for line in ["U,1,1,a|b\r\n", "U,1,1,c|\r\n", "U,1,1,|d\r\n"] {
            lane.staged.push_str(line);
            lane.staged_ends.push(lane.staged.len() as u32);
        }
        lane.flush_into(&mut out, &mut log);
        assert_eq!(out, "REQOK,1\r\nU,1,1,a|b\r\nU,1,1,c|\r\nU,1,1,|d\r\n");
        assert_eq!(log.count(), 3);
        let mut replay = String::new();
        assert_eq!(log.replay_from(1, &mut replay), Some(2));
        assert_eq!(replay, "U,1,1,c|\r\nU,1,1,|d\r\n");
        assert!(lane.staged.is_empty() && lane.staged_ends.is_empty());
        // Nothing staged: nothing moves.
        lane.flush_into(&mut out, &mut log);
        assert_eq!(log.count(), 3);
    }

    #[test]
    fn a_lane_gives_back_what_a_burst_grew() {
        let mut lane = Lane::new(vec![0], false);
        let (mut out, mut log) = (String::new(), RecoveryLog::new(0));
        let line = "U,1,1,0123456789\r\n";
        while lane.staged.len() < 64 * 1024 {
            lane.staged.push_str(line);
            lane.staged_ends.push(lane.staged.len() as u32);
        }
        lane.flush_into(&mut out, &mut log);
        assert!(
            lane.staged.capacity() <= KEPT_STAGED,
            "{}",
            lane.staged.capacity()
        );
        // A few lines at a time keep their buffer.
        lane.staged.push_str(line);
        lane.staged_ends.push(lane.staged.len() as u32);
        let cap = lane.staged.capacity();
        lane.flush_into(&mut out, &mut log);
        assert_eq!(lane.staged.capacity(), cap);
    }
}
