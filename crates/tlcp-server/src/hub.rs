//! Items and their fan-out to subscriptions.
//!
//! Each subscribed item has one [`ItemHub`]: the item's state (current row, recent
//! history for DISTINCT snapshots, current rows by key for COMMAND snapshots) and the list
//! of listeners (one per subscribed item of a session). An adapter pushes through an
//! [`ItemFeed`] (an [`Update`] by field names, or [`ItemFeed::update_with`] by field ids);
//! the hub applies the change to the state once and hands the resulting row to every
//! listener, which encodes it for its own client, with what changed ([`Changes`]): a
//! listener that got the previous update as it came encodes from that, comparing nothing
//! and keeping no copy of the row.
//!
//! Snapshots are produced under the item's lock, in the same critical section that
//! registers the listener, so no update can fall between the snapshot and the live flow.
//! Lock order: data adapter map, then item state, then (inside listeners) session state.

// The session layer (next) is the user of the crate-internal API below.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tlcp_proto::Mode;

use crate::adapter::{DataAdapter, Refusal};
pub use crate::update::Update;

/// A copy of a row kept for later (what a session last sent, when it is not in step with
/// the item): every value in one buffer, so that a copy costs one copy per value and,
/// once the buffer has grown, no allocation.
#[derive(Debug, Default, Clone)]
pub(crate) struct FlatRow {
    buf: String,
    spans: Vec<Option<(usize, usize)>>,
}

impl FlatRow {
    /// A row of `width` nulls.
    pub(crate) fn nulls(width: usize) -> Self {
        Self {
            buf: String::new(),
            spans: vec![None; width],
        }
    }

    /// Becomes a copy of `values` (one copy per value: cheaper than comparing each
    /// value with the one it replaces).
    pub(crate) fn copy_values<'a>(&mut self, n: usize, value: impl Fn(usize) -> Option<&'a str>) {
        self.buf.clear();
        self.spans.clear();
        for i in 0..n {
            let span = value(i).map(|v| {
                let start = self.buf.len();
                self.buf.push_str(v);
                (start, self.buf.len())
            });
            self.spans.push(span);
        }
    }
}

/// A row kept for DISTINCT snapshots: the bytes of its values (each the bytes of a whole
/// `str`) in one buffer, and where each value is (`None`: null). Bytes, so that the row of
/// the next update can be this one with the values that changed written over it.
#[derive(Debug, Default, Clone)]
struct HistoryRow {
    buf: Vec<u8>,
    spans: Vec<Option<(usize, usize)>>,
}

impl HistoryRow {
    /// Becomes a copy of `row`.
    fn copy_from(&mut self, row: &[Option<String>]) {
        self.buf.clear();
        self.spans.clear();
        for v in row {
            self.spans.push(v.as_deref().map(|v| {
                let start = self.buf.len();
                self.buf.extend_from_slice(v.as_bytes());
                (start, self.buf.len())
            }));
        }
    }

    /// Becomes a copy of `row` by writing each value over the one it holds, when this row
    /// has the same layout (the same nulls, and values of the same lengths: a recycled
    /// history row, for values that keep their lengths): no buffer rebuilt, and no branch
    /// on which fields changed. `false` (and anything in `self`): another layout.
    fn overwrite_with(&mut self, row: &[Option<String>]) -> bool {
        if self.spans.len() != row.len() {
            return false;
        }
        for (span, value) in self.spans.iter().zip(row) {
            match (*span, value) {
                (Some((a, b)), Some(v)) if b - a == v.len() => match self.buf.get_mut(a..b) {
                    Some(dst) => tlcp_proto::fields::copy_short(dst, v.as_bytes()),
                    None => return false,
                },
                (None, None) => {}
                _ => return false,
            }
        }
        true
    }

    /// The row, with nulls up to `width` fields (fields added since it was kept).
    fn to_row(&self, width: usize) -> Row {
        let mut row: Row = self
            .spans
            .iter()
            .map(|s| {
                s.map(|(a, b)| {
                    // Whole values only: always UTF-8 (lossy only to need no error path).
                    String::from_utf8_lossy(self.buf.get(a..b).unwrap_or_default()).into_owned()
                })
            })
            .collect();
        if row.len() < width {
            row.resize(width, None);
        }
        row
    }
}

impl tlcp_proto::fields::FieldValues for FlatRow {
    fn field_count(&self) -> usize {
        self.spans.len()
    }

    #[inline]
    fn field(&self, index: usize) -> Option<&str> {
        let (a, b) = (*self.spans.get(index)?)?;
        self.buf.get(a..b)
    }
}

/// One row of an item: values by item field index (`None` = null).
pub(crate) type Row = Vec<Option<String>>;

/// Encodings of the current update shared by the listeners of an item: the first
/// listener that needs the delta for a given schema computes it, the others copy it.
#[derive(Debug, Default)]
pub(crate) struct SharedEncodings {
    entries: Vec<SharedEncoding>,
    valid: usize,
}

#[derive(Debug, Default)]
struct SharedEncoding {
    field_idx: Vec<usize>,
    allow_diff: bool,
    encoded: String,
}

impl SharedEncodings {
    fn reset(&mut self) {
        self.valid = 0;
    }

    /// The delta for this schema and diff setting, computing it with `encode` on a miss.
    pub(crate) fn get_or_encode(
        &mut self,
        field_idx: &[usize],
        allow_diff: bool,
        encode: impl FnOnce(&mut String),
    ) -> &str {
        let hit = self.entries[..self.valid]
            .iter()
            .position(|e| e.allow_diff == allow_diff && e.field_idx == field_idx);
        let i = match hit {
            Some(i) => i,
            None => {
                if self.valid == self.entries.len() {
                    self.entries.push(SharedEncoding::default());
                }
                let e = &mut self.entries[self.valid];
                e.field_idx.clear();
                e.field_idx.extend_from_slice(field_idx);
                e.allow_diff = allow_diff;
                e.encoded.clear();
                encode(&mut e.encoded);
                self.valid += 1;
                self.valid - 1
            }
        };
        &self.entries[i].encoded
    }
}

/// What changed in an item's row with its update number `seq`: a listener that saw update
/// `seq - 1` encodes the change without comparing values, and can rebuild row `seq - 1`
/// without having kept a copy of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Changes<'a> {
    /// The update number of the row this describes.
    pub(crate) seq: u64,
    /// Per item field: the update number that last changed it, and its value before.
    meta: &'a [FieldMeta],
    /// The same as bits (bit `i`: field `i` changed with `seq`), for items of at most 64
    /// fields whose mask was kept for this update.
    mask: Option<u64>,
}

impl<'a> Changes<'a> {
    /// Whether item field `field` changed with update `seq`.
    #[inline]
    pub(crate) fn changed(&self, field: usize) -> bool {
        self.meta
            .get(field)
            .is_some_and(|m| m.changed_at == self.seq)
    }

    /// The fields that changed with update `seq` as a bit mask (bit `i`: item field `i`),
    /// when the item has at most 64 fields.
    #[inline]
    pub(crate) fn mask(&self) -> Option<u64> {
        self.mask
    }

    /// The value of item field `field` at update `seq - 1`, given `row`, the row at `seq`.
    #[inline]
    pub(crate) fn before<'r>(&self, row: &'r [Option<String>], field: usize) -> Option<&'r str>
    where
        'a: 'r,
    {
        if self.changed(field) {
            self.meta.get(field)?.prev.as_deref()
        } else {
            row.get(field)?.as_deref()
        }
    }
}

/// What a listener receives.
#[derive(Debug)]
pub(crate) enum ItemEvent<'a> {
    /// A new row state of the item (all its fields, by item field index).
    Update {
        /// Whether this event is part of the snapshot.
        snapshot: bool,
        row: &'a [Option<String>],
        /// When `row` is the item's current state: its update number, and the encodings
        /// of the change from update `seq - 1` shared among listeners (`None` when the
        /// listener is the only one). `None` for rows of the past (DISTINCT history,
        /// COMMAND rows in a snapshot).
        live: Option<(u64, Option<&'a std::cell::RefCell<SharedEncodings>>)>,
        /// For listeners not in COMMAND mode (which always get the item's row): what
        /// changed since update `seq - 1`.
        changes: Option<Changes<'a>>,
    },
    /// The snapshot is complete (DISTINCT and COMMAND listeners forward it as `EOS`).
    EndOfSnapshot,
    /// The adapter cleared the item's state. `row` is the item's row before clearing, as
    /// of update `changes.seq` (the clearing itself counts as the next update).
    ClearSnapshot {
        row: &'a [Option<String>],
        changes: Changes<'a>,
    },
}

/// A subscriber of an item: one subscribed item of one session.
///
/// Called with the item locked: must not block and must not call back into the hub.
pub(crate) trait ItemListener: Send + Sync {
    /// Receives an event.
    fn on_event(&self, event: ItemEvent<'_>);

    /// When the listener's client is not keeping up: a notifier signalled (with
    /// `notify_waiters`) once it has drained. Producers that honour back-pressure
    /// ([`ItemFeed::ready`]) wait for it.
    fn congestion(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
}

/// The names of an item's fields; indexes are stable (fields are only ever added).
#[derive(Debug, Default)]
struct FieldTable {
    names: Vec<String>,
}

impl FieldTable {
    /// The index of `name`, searching from `guess` on first (updates usually list fields
    /// in the order the item first saw them, some of them left out).
    fn index_guessed(&mut self, name: &str, guess: usize) -> usize {
        let ahead = self.names.get(guess..).unwrap_or_default();
        match ahead.iter().position(|n| short_eq(n, name)) {
            Some(k) => guess + k,
            None => self.index_or_insert(name),
        }
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| short_eq(n, name))
    }

    fn index_or_insert(&mut self, name: &str) -> usize {
        self.index_of(name).unwrap_or_else(|| {
            self.names.push(name.to_owned());
            self.names.len() - 1
        })
    }
}

struct ItemState {
    active: bool,
    fields: FieldTable,
    row: Row,
    has_row: bool,
    /// The adapter has ended its snapshot (explicitly, or by sending a real-time update).
    snapshot_complete: bool,
    /// Recent rows for DISTINCT snapshots, kept once a DISTINCT listener appeared.
    keep_history: bool,
    history: VecDeque<HistoryRow>,
    spare_rows: Vec<HistoryRow>,
    /// The most rows `history` keeps: the longest DISTINCT snapshot length of the item's
    /// DISTINCT subscribers so far ([`ItemHub::retain_history`]); until the first one,
    /// the server's bound (an adapter may push snapshot events before any subscriber).
    history_len: usize,
    /// The server's bound on `history_len`.
    history_cap: usize,
    /// A DISTINCT subscriber has set `history_len`.
    history_set: bool,
    /// Current rows by key for COMMAND snapshots, kept once a COMMAND listener appeared.
    command_fields: Option<(usize, usize)>,
    /// How many fields the item had when `key`/`command` were last looked for (the
    /// search is repeated only when fields were added).
    command_searched: usize,
    command_rows: HashMap<String, Row>,
    command_order: Vec<String>,
    /// The row of the key the last COMMAND event was about (what COMMAND listeners get).
    key_row: Row,
    /// Listeners, with whether they subscribed in COMMAND mode.
    listeners: Vec<(u64, bool, Arc<dyn ItemListener>)>,
    /// Acquisitions ([`DataAdapterHub::acquire`]) whose listener is not added yet: the
    /// item stays started for them, so that a subscription being set up never gets a hub
    /// another subscription's release stopped under it.
    acquired: usize,
    next_listener: u64,
    /// Number of updates applied to `row`.
    seq: u64,
    /// Per field of `row` (as many): when it last changed and was last set, and the value
    /// it replaced.
    meta: Vec<FieldMeta>,
    /// The fields changed by update `mask_seq`, as bits (fields from 64 on: not kept).
    changed_mask: u64,
    mask_seq: u64,
    shared: std::cell::RefCell<SharedEncodings>,
    /// The same, for COMMAND listeners (which get rows by key).
    shared_command: std::cell::RefCell<SharedEncodings>,
}

impl ItemState {
    /// Makes room for `width` fields (new ones null).
    fn widen(&mut self, width: usize) {
        if self.row.len() < width {
            self.row.resize(width, None);
            self.meta.resize_with(width, FieldMeta::default);
        }
    }

    /// Sets field `i` (within the width) to `value` in update `seq`, keeping the value
    /// it replaces for the listeners. Returns the field's bit for the mask of changed
    /// fields (0 when it did not change, or changed already in this update; fields from
    /// 64 on fold onto the low bits, the mask then not being used).
    #[inline(always)]
    fn write(&mut self, i: usize, value: Option<&str>, seq: u64) -> u64 {
        let (Some(slot), Some(meta)) = (self.row.get_mut(i), self.meta.get_mut(i)) else {
            return 0;
        };
        meta.set_at = seq;
        if tlcp_proto::fields::eq_values(slot.as_deref(), value) {
            return 0;
        }
        // The replaced value moves to `prev` (the slot it leaves held an older value,
        // whose buffer the new value reuses).
        let bit = if meta.changed_at != seq {
            std::mem::swap(slot, &mut meta.prev);
            meta.changed_at = seq;
            1 << (i % 64)
        } else {
            0
        };
        put(slot, value);
        bit
    }

    /// What changed with the current update.
    fn changes(&self) -> Changes<'_> {
        Changes {
            seq: self.seq,
            meta: &self.meta,
            mask: (self.meta.len() <= 64 && self.mask_seq == self.seq).then_some(self.changed_mask),
        }
    }
}

/// What an item keeps per field besides its value.
#[derive(Debug, Default, Clone)]
struct FieldMeta {
    /// The update number that last changed the field.
    changed_at: u64,
    /// The update number that last set it, changed or not (COMMAND rows by key take
    /// exactly the fields the current update sets).
    set_at: u64,
    /// Its value before the update that last changed it: listeners rebuild the previous
    /// row from it.
    prev: Option<String>,
}

/// One item of one data adapter: state plus listeners.
pub(crate) struct ItemHub {
    name: String,
    /// The most fields subscriptions may give the item ([`ItemHub::resolve_fields`]).
    max_fields: usize,
    /// Tells this hub's [`FieldId`]s from other hubs' ones.
    id: u64,
    state: Mutex<ItemState>,
}

/// Numbers the hubs of the process.
static NEXT_HUB: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The snapshot a new listener asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotRequest {
    /// No snapshot.
    None,
    /// The whole snapshot the mode offers.
    Full,
    /// At most this many events (DISTINCT).
    Length(u32),
}

impl ItemHub {
    fn new(name: &str, history_len: usize, max_fields: usize) -> Self {
        Self {
            name: name.to_owned(),
            max_fields,
            id: NEXT_HUB.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            state: Mutex::new(ItemState {
                active: true,
                fields: FieldTable::default(),
                row: Vec::new(),
                has_row: false,
                snapshot_complete: false,
                keep_history: false,
                history: VecDeque::new(),
                spare_rows: Vec::new(),
                history_len,
                history_cap: history_len,
                history_set: false,
                command_fields: None,
                command_searched: 0,
                command_rows: HashMap::new(),
                command_order: Vec::new(),
                key_row: Vec::new(),
                listeners: Vec::new(),
                acquired: 0,
                next_listener: 0,
                seq: 0,
                meta: Vec::new(),
                changed_mask: 0,
                mask_seq: u64::MAX,
                shared: std::cell::RefCell::new(SharedEncodings::default()),
                shared_command: std::cell::RefCell::new(SharedEncodings::default()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ItemState> {
        // A panic in a listener must not take the item down for everyone else.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The item's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Maps schema field names to item field indexes, adding unknown fields (null).
    ///
    /// Refused (code 23, bad field schema) when the item would get more than its bound
    /// of fields: names a client makes up widen an item that every subscriber shares.
    pub(crate) fn resolve_fields(&self, names: &[String]) -> Result<Vec<usize>, Refusal> {
        let mut st = self.lock();
        // The names the item does not have yet, counted until past the bound.
        let budget = self.max_fields.saturating_sub(st.fields.names.len());
        let mut new = std::collections::HashSet::new();
        for n in names {
            if new.len() > budget {
                break;
            }
            if st.fields.index_of(n).is_none() {
                new.insert(n.as_str());
            }
        }
        if new.len() > budget {
            return Err(Refusal::new(
                23,
                format!(
                    "Bad Field schema: item {} would have more than {} fields",
                    self.name, self.max_fields
                ),
            ));
        }
        let idx: Vec<usize> = names.iter().map(|n| st.fields.index_or_insert(n)).collect();
        let n = st.fields.names.len();
        st.widen(n);
        Ok(idx)
    }

    /// Keeps at least the last `len` rows for DISTINCT snapshots (the length the metadata
    /// adapter gives the item; never more than the server's bound given to the hub). The
    /// first call sets the length, later ones can only raise it: an item shared by
    /// several subscriptions keeps the longest history any of them was promised.
    pub(crate) fn retain_history(&self, len: usize) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let len = len.min(st.history_cap);
        st.history_len = if st.history_set {
            st.history_len.max(len)
        } else {
            len
        };
        st.history_set = true;
        while st.history.len() > st.history_len {
            if let Some(old) = st.history.pop_front() {
                st.spare_rows.push(old);
            }
        }
        // A shorter history needs fewer spare rows.
        st.spare_rows.truncate(1);
    }

    /// Registers a listener and delivers its snapshot atomically; returns its token.
    ///
    /// For COMMAND listeners, `command_fields` gives the item field indexes of the key
    /// and command fields.
    pub(crate) fn add_listener(
        &self,
        listener: Arc<dyn ItemListener>,
        mode: Mode,
        snapshot: SnapshotRequest,
        command_fields: Option<(usize, usize)>,
    ) -> u64 {
        let mut st = self.lock();
        let st = &mut *st;
        let width = st.fields.names.len();
        st.widen(width);
        if mode == Mode::Distinct {
            st.keep_history = true;
        }
        if mode == Mode::Command && st.command_fields.is_none() {
            st.command_fields = command_fields;
        }
        let wants = snapshot != SnapshotRequest::None && mode != Mode::Raw;
        if wants && st.snapshot_complete {
            match mode {
                Mode::Merge => {
                    if st.has_row {
                        listener.on_event(ItemEvent::Update {
                            snapshot: true,
                            row: &st.row,
                            live: None,
                            changes: None,
                        });
                    }
                }
                Mode::Distinct => {
                    let max = match snapshot {
                        SnapshotRequest::Length(n) => n as usize,
                        _ => st.history_len,
                    };
                    let skip = st.history.len().saturating_sub(max);
                    for row in st.history.iter().skip(skip) {
                        listener.on_event(ItemEvent::Update {
                            snapshot: true,
                            row: &row.to_row(width),
                            live: None,
                            changes: None,
                        });
                    }
                    listener.on_event(ItemEvent::EndOfSnapshot);
                }
                Mode::Command => {
                    for key in &st.command_order {
                        if let Some(row) = st.command_rows.get(key) {
                            listener.on_event(ItemEvent::Update {
                                snapshot: true,
                                row: padded(row, width).as_ref(),
                                live: None,
                                changes: None,
                            });
                        }
                    }
                    listener.on_event(ItemEvent::EndOfSnapshot);
                }
                Mode::Raw => {}
            }
        }
        let token = st.next_listener;
        st.next_listener += 1;
        st.listeners.push((token, mode == Mode::Command, listener));
        st.acquired = st.acquired.saturating_sub(1);
        token
    }

    fn push(&self, update: &Update, snapshot: bool) {
        self.push_with(snapshot, |w| {
            let mut guess = 0;
            for (name, value) in update.iter() {
                let i = w.st.fields.index_guessed(name, guess);
                guess = i + 1;
                w.st.widen(i + 1);
                w.mask |= w.st.write(i, value, w.seq);
            }
        });
    }

    /// The field id of `name`, adding the field (null) if the item does not have it.
    fn field(&self, name: &str) -> FieldId {
        let mut st = self.lock();
        let i = st.fields.index_or_insert(name);
        st.widen(i + 1);
        FieldId {
            hub: self.id,
            index: u32::try_from(i).unwrap_or(u32::MAX),
        }
    }

    /// Applies one update written by `write`, then hands the row to the listeners.
    fn push_with(&self, snapshot: bool, write: impl FnOnce(&mut RowWriter<'_>)) {
        let mut guard = self.lock();
        let st = &mut *guard;
        if !st.active {
            return;
        }
        if !snapshot && !st.snapshot_complete {
            st.snapshot_complete = true;
            for (_, _, l) in &st.listeners {
                l.on_event(ItemEvent::EndOfSnapshot);
            }
        }
        let seq = st.seq + 1;
        // The mask is kept in the writer (a register, once inlined), not in the item.
        let mut writer = RowWriter {
            st,
            hub: self.id,
            seq,
            mask: 0,
        };
        write(&mut writer);
        let mask = writer.mask;
        st.changed_mask = mask;
        st.mask_seq = seq;
        st.has_row = true;
        if st.command_fields.is_none() && st.command_searched != st.fields.names.len() {
            st.command_searched = st.fields.names.len();
            // Rows pushed before any COMMAND listener (an adapter's snapshot, pushed in
            // `subscribe`) must reach the command table too: find it by the usual names.
            st.command_fields = st.fields.index_of("key").zip(st.fields.index_of("command"));
        }
        // Snapshot events are kept even before any DISTINCT listener: an adapter pushes its
        // snapshot from `subscribe`, before the first listener is added.
        if st.keep_history || snapshot {
            let mut row = st.spare_rows.pop().unwrap_or_default();
            if !row.overwrite_with(&st.row) {
                row.copy_from(&st.row);
            }
            st.history.push_back(row);
            while st.history.len() > st.history_len {
                if let Some(old) = st.history.pop_front() {
                    st.spare_rows.push(old);
                }
            }
        }
        let keyed = match st.command_fields {
            Some((kf, cf)) => apply_command(st, kf, cf, seq),
            None => false,
        };
        st.seq = seq;
        // A lone listener has no one to share an encoding with: no cache to reset.
        let shared = st.listeners.len() > 1;
        if shared {
            st.shared.borrow_mut().reset();
            st.shared_command.borrow_mut().reset();
        }
        for (_, command, l) in &st.listeners {
            // COMMAND listeners see rows by key, the others the item's row: each kind
            // shares encodings only with its own kind.
            let by_key = *command && keyed;
            l.on_event(ItemEvent::Update {
                snapshot: !st.snapshot_complete,
                row: if by_key { &st.key_row } else { &st.row },
                // A lone listener has no one to share an encoding with: no cache.
                live: Some((
                    st.seq,
                    shared.then_some(if *command {
                        &st.shared_command
                    } else {
                        &st.shared
                    }),
                )),
                // Not for COMMAND listeners: what they last sent may be a row by key
                // even when this event is the item's row (an event without a key).
                changes: (!*command).then(|| st.changes()),
            });
        }
    }

    fn end_of_snapshot(&self) {
        let mut st = self.lock();
        if st.active && !st.snapshot_complete {
            st.snapshot_complete = true;
            for (_, _, l) in &st.listeners {
                l.on_event(ItemEvent::EndOfSnapshot);
            }
        }
    }

    fn clear_snapshot(&self) {
        let mut guard = self.lock();
        let st = &mut *guard;
        if !st.active {
            return;
        }
        // Listeners see the row before it is cleared (so that those keeping no copy of
        // what they sent can rebuild it); the clearing is an update of its own.
        for (_, _, l) in &st.listeners {
            l.on_event(ItemEvent::ClearSnapshot {
                row: &st.row,
                changes: st.changes(),
            });
        }
        let seq = st.seq + 1;
        for (value, meta) in st.row.iter_mut().zip(&mut st.meta) {
            if value.is_some() {
                std::mem::swap(value, &mut meta.prev);
                meta.changed_at = seq;
                *value = None;
            }
        }
        st.seq = seq;
        st.has_row = false;
        while let Some(r) = st.history.pop_front() {
            st.spare_rows.push(r);
        }
        st.command_rows.clear();
        st.command_order.clear();
    }
}

fn padded(row: &Row, width: usize) -> std::borrow::Cow<'_, [Option<String>]> {
    if row.len() >= width {
        std::borrow::Cow::Borrowed(row.as_slice())
    } else {
        let mut r = row.clone();
        r.resize(width, None);
        std::borrow::Cow::Owned(r)
    }
}

/// String equality comparing short texts inline (field names and values are short: a
/// `memcmp` call each was a visible cost of every update).
#[inline]
pub(crate) fn short_eq(a: &str, b: &str) -> bool {
    tlcp_proto::fields::eq_bytes(a.as_bytes(), b.as_bytes())
}

/// Sets `slot` to `value` unless it already holds it.
fn assign(slot: &mut Option<String>, value: Option<&str>) {
    if !tlcp_proto::fields::eq_values(slot.as_deref(), value) {
        put(slot, value);
    }
}

/// Sets `slot` to `value`, reusing its buffer.
#[inline(always)]
fn put(slot: &mut Option<String>, value: Option<&str>) {
    match (slot.as_mut(), value) {
        (Some(s), Some(v)) => {
            s.clear();
            tlcp_proto::fields::push_short(s, v);
        }
        (None, Some(v)) => *slot = Some(v.to_owned()),
        (_, None) => *slot = None,
    }
}

fn copy_row(dst: &mut Row, src: &Row) {
    dst.resize(src.len(), None);
    for (d, s) in dst.iter_mut().zip(src) {
        assign(d, s.as_deref());
    }
}

/// Applies a COMMAND event to the table of rows by key, and leaves in `st.key_row` the row
/// COMMAND listeners get: the fields the event sets over the key's current row (for an
/// UPDATE), or over nulls (a new key, or a DELETE), so that fields an adapter leaves out
/// keep the values of the same key, never those of whichever key was pushed last (`seq`:
/// the number of the event, which `set_at` has for the fields it sets). Returns
/// `false` when the event has no key or no command (listeners then get the item's row).
fn apply_command(st: &mut ItemState, kf: usize, cf: usize, seq: u64) -> bool {
    let (Some(Some(key)), Some(Some(cmd))) = (st.row.get(kf), st.row.get(cf)) else {
        return false;
    };
    let width = st.row.len();
    match st.command_rows.get(key.as_str()) {
        Some(current) if cmd != "DELETE" => copy_row(&mut st.key_row, current),
        _ => st.key_row.clear(),
    }
    st.key_row.resize(width, None);
    for i in 0..width {
        if st.meta.get(i).is_some_and(|m| m.set_at == seq) {
            assign(&mut st.key_row[i], st.row[i].as_deref());
        }
    }
    // An event may leave out the key or the command, repeating the previous ones.
    assign(&mut st.key_row[kf], Some(key));
    assign(&mut st.key_row[cf], Some(cmd));
    if cmd == "DELETE" {
        if st.command_rows.remove(key.as_str()).is_some() {
            st.command_order.retain(|k| k != key);
        }
    } else if let Some(row) = st.command_rows.get_mut(key.as_str()) {
        copy_row(row, &st.key_row);
    } else {
        st.command_order.push(key.clone());
        st.command_rows.insert(key.clone(), st.key_row.clone());
    }
    true
}

/// How often [`ItemFeed::ready`] looks again at the listeners it waits for.
const READY_RECHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// A field of one item, resolved once with [`ItemFeed::field`]: an update written with
/// [`ItemFeed::update_with`] sets it without looking its name up.
///
/// An id belongs to the item (the [`ItemFeed`]) that gave it; [`RowWriter`] ignores the
/// ids of other items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldId {
    hub: u64,
    index: u32,
}

/// Writes the fields of one update straight into the item's row: see
/// [`ItemFeed::update_with`]. Fields not set keep their values.
pub struct RowWriter<'a> {
    st: &'a mut ItemState,
    hub: u64,
    seq: u64,
    /// The fields changed so far, as bits.
    mask: u64,
}

impl std::fmt::Debug for RowWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowWriter")
            .field("update", &self.seq)
            .finish()
    }
}

impl RowWriter<'_> {
    /// Sets `field` to `value`.
    #[inline(always)]
    pub fn set(&mut self, field: FieldId, value: &str) -> &mut Self {
        self.put(field, Some(value))
    }

    /// Sets `field` to null.
    #[inline]
    pub fn set_null(&mut self, field: FieldId) -> &mut Self {
        self.put(field, None)
    }

    #[inline(always)]
    fn put(&mut self, field: FieldId, value: Option<&str>) -> &mut Self {
        // Ids are only made by `ItemFeed::field`, which gives the row that width (and
        // `write` ignores one beyond it).
        if field.hub == self.hub {
            self.mask |= self.st.write(field.index as usize, value, self.seq);
        }
        self
    }
}

/// The handle a data adapter pushes an item's events through. Cheap to clone.
#[derive(Clone)]
pub struct ItemFeed {
    hub: Arc<ItemHub>,
}

impl std::fmt::Debug for ItemFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemFeed")
            .field("item", &self.hub.name)
            .finish()
    }
}

impl ItemFeed {
    /// The item this feed pushes to.
    pub fn item(&self) -> &str {
        &self.hub.name
    }

    /// Pushes a real-time update (fields not set keep their values).
    pub fn update(&self, update: &Update) {
        self.hub.push(update, false);
    }

    /// Pushes an event of the item's snapshot (before [`ItemFeed::end_of_snapshot`]).
    pub fn snapshot(&self, update: &Update) {
        self.hub.push(update, true);
    }

    /// The id of field `name` of this item, for [`ItemFeed::update_with`] (the item gets
    /// the field, null, if it did not have it).
    pub fn field(&self, name: &str) -> FieldId {
        self.hub.field(name)
    }

    /// Pushes a real-time update written by `write` straight into the item's row, by
    /// field id: no name lookup and no intermediate [`Update`], for adapters that push
    /// at high rates. `write` runs with the item locked: it must only set fields.
    ///
    /// ```
    /// # fn push(feed: &tlcp_server::ItemFeed) {
    /// let (bid, ask) = (feed.field("bid"), feed.field("ask"));
    /// feed.update_with(|row| {
    ///     row.set(bid, "101.25").set(ask, "101.50");
    /// });
    /// # }
    /// ```
    pub fn update_with(&self, write: impl FnOnce(&mut RowWriter<'_>)) {
        self.hub.push_with(false, write);
    }

    /// [`ItemFeed::update_with`] for an event of the item's snapshot.
    pub fn snapshot_with(&self, write: impl FnOnce(&mut RowWriter<'_>)) {
        self.hub.push_with(true, write);
    }

    /// Ends the snapshot: subscribers in DISTINCT and COMMAND mode receive `EOS`.
    pub fn end_of_snapshot(&self) {
        self.hub.end_of_snapshot();
    }

    /// Clears the item's state: DISTINCT and COMMAND subscribers receive `CS`, MERGE
    /// subscribers an update with every field null.
    pub fn clear_snapshot(&self) {
        self.hub.clear_snapshot();
    }

    /// Whether the item still has subscribers (pushes are ignored once it has none).
    pub fn is_active(&self) -> bool {
        self.hub.lock().active
    }

    /// Waits until every subscriber of the item can take more updates.
    ///
    /// Producers that can go as fast as the clients read (benchmark feeds, replays) call
    /// this between batches; producers of real-time data need not: slow MERGE clients get
    /// conflated rows, other modes buffer within their limits.
    pub async fn ready(&self) {
        loop {
            let waiting = {
                let st = self.hub.lock();
                st.listeners.iter().find_map(|(_, _, l)| l.congestion())
            };
            let Some(notify) = waiting else { return };
            let drained = notify.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            let still = {
                let st = self.hub.lock();
                st.listeners
                    .iter()
                    .any(|(_, _, l)| l.congestion().is_some_and(|n| Arc::ptr_eq(&n, &notify)))
            };
            if still {
                // Re-checked now and then: a listener may stop holding the producer back
                // without draining (a session that lost its connection, after a grace).
                let _ = tokio::time::timeout(READY_RECHECK, drained).await;
            }
        }
    }
}

/// The items of one data adapter that currently have subscribers.
pub(crate) struct DataAdapterHub {
    adapter: Arc<dyn DataAdapter>,
    items: Mutex<HashMap<String, Arc<ItemHub>>>,
    history_len: usize,
    max_fields: usize,
}

/// The default bound on the fields of an item ([`DataAdapterHub::with_max_fields`]).
pub(crate) const DEFAULT_MAX_FIELDS: usize = 1024;

impl DataAdapterHub {
    pub(crate) fn new(adapter: Arc<dyn DataAdapter>, history_len: usize) -> Self {
        Self {
            adapter,
            items: Mutex::new(HashMap::new()),
            history_len,
            max_fields: DEFAULT_MAX_FIELDS,
        }
    }

    /// Items get at most `max` fields from subscriptions' schemas.
    pub(crate) fn with_max_fields(mut self, max: usize) -> Self {
        self.max_fields = max;
        self
    }

    fn items(&self) -> MutexGuard<'_, HashMap<String, Arc<ItemHub>>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The hub of `item`, asking the adapter to start it if it has no subscriber yet.
    ///
    /// The caller must then add its listener ([`ItemHub::add_listener`]); if it does not,
    /// it must call [`DataAdapterHub::release`] without a token.
    pub(crate) fn acquire(&self, item: &str) -> Result<Arc<ItemHub>, Refusal> {
        let mut items = self.items();
        if let Some(hub) = items.get(item) {
            hub.lock().acquired += 1;
            return Ok(hub.clone());
        }
        let hub = Arc::new(ItemHub::new(item, self.history_len, self.max_fields));
        self.adapter.subscribe(
            item,
            ItemFeed {
                hub: Arc::clone(&hub),
            },
        )?;
        hub.lock().acquired += 1;
        items.insert(item.to_owned(), hub.clone());
        Ok(hub)
    }

    /// Removes a listener (`token`), or gives back an acquisition that got no listener
    /// (`None`); stops the item at the adapter when nothing holds it any more.
    pub(crate) fn release(&self, hub: &Arc<ItemHub>, token: Option<u64>) {
        let mut items = self.items();
        let stopped = {
            let mut st = hub.lock();
            match token {
                Some(t) => st.listeners.retain(|(l, _, _)| *l != t),
                None => st.acquired = st.acquired.saturating_sub(1),
            }
            let stop = st.active && st.listeners.is_empty() && st.acquired == 0;
            if stop {
                st.active = false;
            }
            stop
        };
        if stopped {
            // (The name may already be another hub's, if this one was stopped before.)
            if items.get(hub.name()).is_some_and(|h| Arc::ptr_eq(h, hub)) {
                items.remove(hub.name());
            }
            drop(items);
            self.adapter.unsubscribe(hub.name());
        }
    }

    /// Number of items with subscribers (for tests and metrics).
    pub(crate) fn active_items(&self) -> usize {
        self.items().len()
    }
}

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;
