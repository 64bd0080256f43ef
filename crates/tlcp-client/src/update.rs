//! [`ItemUpdate`]: one update of an item, owned, with the instant its bytes were read.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tlcp_proto::client::{Fields, Items, SubscriptionSpec};
use tlcp_proto::fields::{RowIter, RowLayout};
use tlcp_proto::model::{Command, ItemUpdate as ModelUpdate};

/// The names a subscription knows: item names (when subscribed by list) and field names
/// (when subscribed by list; second-level names follow the first-level ones).
#[derive(Debug, Default)]
pub(crate) struct Schema {
    items: Vec<String>,
    fields: Vec<String>,
    field_pos: HashMap<String, usize>,
}

/// Text buffers of at most this capacity are recycled; larger ones are freed.
const SPARE_MAX_LEN: usize = 512;

/// Spare text buffers go from the threads that drop updates to the drivers this many at
/// a time (one lock per batch, not per update).
const SPARE_BATCH: usize = 64;

/// At most this many batches of spare buffers wait in [`SPARES`]: enough for a reader that
/// drains a full default queue ([`DEFAULT_QUEUE_CAPACITY`](crate::DEFAULT_QUEUE_CAPACITY)
/// updates) at once. With the one being filled on each thread and the one in each
/// driver's hands, what recycling keeps is bounded: 4 MiB for the process at most (about
/// 1 MiB for rows of 100 bytes), 32 KiB per thread and per client.
const SPARE_MAX_BATCHES: usize = 128;

/// The text buffers given back by dropped updates (wherever they are dropped: a reader's
/// task, another thread), in batches, for the drivers to copy the next updates into: no
/// `malloc` and `free` per update while the readers keep up. The buffers hold nothing
/// readable: an update clears its buffer before writing its values.
pub(crate) struct SparePool {
    batches: Mutex<Vec<Vec<String>>>,
}

impl SparePool {
    const fn new() -> Self {
        Self {
            batches: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<String>>> {
        // Nothing can panic while it is held; a poisoned lock is still usable.
        self.batches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a full batch, unless enough are waiting (it is then freed).
    fn give(&self, batch: Vec<String>) {
        let mut g = self.lock();
        if g.len() < SPARE_MAX_BATCHES {
            g.push(batch);
        }
    }

    /// A batch of spare buffers, if any.
    fn take(&self) -> Option<Vec<String>> {
        self.lock().pop()
    }

    /// A spare buffer (its contents mean nothing) from `stash`, refilled from the pool
    /// when empty; an unallocated string when there is none (the pool is then looked at
    /// again only after a batch of updates, not on every one).
    #[inline]
    fn spare(&self, stash: &mut SpareStash) -> String {
        if let Some(s) = stash.bufs.pop() {
            return s;
        }
        if stash.skip > 0 {
            stash.skip -= 1;
            return String::new();
        }
        match self.take() {
            Some(batch) => {
                stash.bufs = batch;
                stash.bufs.pop().unwrap_or_default()
            }
            None => {
                stash.skip = SPARE_BATCH as u32;
                String::new()
            }
        }
    }

    /// Keeps the buffer of a dropped update in this thread's batch (given to the pool
    /// once full), or frees it when it is too large.
    fn recycle(&self, text: String, batch: &mut Vec<String>) {
        let cap = text.capacity();
        if cap == 0 || cap > SPARE_MAX_LEN {
            return;
        }
        if batch.capacity() == 0 {
            batch.reserve_exact(SPARE_BATCH);
        }
        batch.push(text);
        if batch.len() >= SPARE_BATCH {
            self.give(std::mem::take(batch));
        }
    }
}

/// The capacity given to a new text buffer of `len` bytes: rounded up, so that once
/// recycled it fits the rows of about the same length (values change length a little).
#[inline]
fn spare_capacity(len: usize) -> usize {
    if len < SPARE_MAX_LEN {
        (len + 16).next_multiple_of(32).min(SPARE_MAX_LEN)
    } else {
        len
    }
}

/// A driver's spare text buffers: a batch taken from [`SPARES`].
#[derive(Debug, Default)]
pub(crate) struct SpareStash {
    bufs: Vec<String>,
    /// Updates to go before looking at the pool again (it was empty).
    skip: u32,
}

/// The spare buffers of the process.
static SPARES: SparePool = SparePool::new();

thread_local! {
    /// The buffers of the updates dropped on this thread, not yet given to [`SPARES`].
    static DROPPED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

impl Schema {
    /// The names of `spec`, as far as they are known before subscribing.
    pub(crate) fn of(spec: &SubscriptionSpec) -> Self {
        let items = match &spec.items {
            Items::List(l) => l.clone(),
            Items::Group(_) => Vec::new(),
        };
        let mut fields = match &spec.fields {
            Fields::List(l) => l.clone(),
            Fields::Schema(_) => Vec::new(),
        };
        if let (Fields::List(_), Some(second)) = (&spec.fields, &spec.second_level)
            && let Fields::List(l) = &second.fields
        {
            fields.extend(l.iter().cloned());
        }
        let mut field_pos = HashMap::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            field_pos.entry(f.clone()).or_insert(i + 1);
        }
        Self {
            items,
            fields,
            field_pos,
        }
    }

    pub(crate) fn item_name(&self, pos: usize) -> Option<&str> {
        self.items.get(pos.checked_sub(1)?).map(String::as_str)
    }

    fn field_name(&self, pos: usize) -> Option<&str> {
        self.fields.get(pos.checked_sub(1)?).map(String::as_str)
    }
}

/// Updates of at most this many values (and of text up to 64 KiB) keep where their values
/// end inside the update ([`ItemUpdate::ends`]): one buffer per update (the text, recycled), and
/// an update small enough (128 bytes) to be moved without a call to `memcpy`.
const INLINE: usize = 16;

/// The separator byte written after every value of [`ItemUpdate::text`].
const SEP: char = '|';

/// Where the values of a wide update are (more than [`INLINE`] values), and its changed
/// fields beyond the 64th.
#[derive(Debug, Clone, Default)]
struct Wide {
    /// Where each value ends in the text.
    ends: Vec<usize>,
    /// Null values, one bit each, 64 a word.
    nulls: Vec<u64>,
    /// Changed fields from 65 on, 64 a word.
    changed: Vec<u64>,
}

/// One update of one item, as delivered to a [`SubscriptionStream`](crate::SubscriptionStream).
///
/// It owns its values (one string buffer for all of them), so it can be kept, sent to
/// another task or thread, and read at leisure. Positions are 1-based, as in the protocol.
///
/// * **Values**: [`value`](Self::value) by position, [`value_by_name`](Self::value_by_name)
///   when the subscription named its fields; `None` is a null value.
/// * **Changes**: [`is_changed`](Self::is_changed), [`changed_positions`](Self::changed_positions).
///   When the MERGE delivery policy skipped intermediate states of the item (a slow
///   reader), the changes of the skipped updates are included, and
///   [`skipped`](Self::skipped) says how many updates were folded into this one.
/// * **COMMAND mode**: [`key`](Self::key) and [`command`](Self::command).
/// * **Timing**: [`received_at`](Self::received_at), the instant the socket read that
///   brought the update returned (every update of one read has the same instant).
#[derive(Clone)]
pub struct ItemUpdate {
    schema: Arc<Schema>,
    /// The values, each followed by one separator byte (a null value's bytes mean
    /// nothing): the layout of the session's rows ([`tlcp_proto::fields::RowLayout`]),
    /// so that a row is copied in one go.
    text: String,
    /// Up to [`INLINE`] values (`wide` is `None`): where value `i` ends in `text` (it
    /// starts one byte after value `i - 1` ends), and bit `i` of `nulls` set when it is
    /// null.
    ends: [u16; INLINE],
    nulls: u16,
    snapshot: bool,
    command: Option<Command>,
    /// The item's position; the number of values when they are inline; the key's
    /// position (0: none).
    item: u32,
    count: u32,
    key_pos: u32,
    /// Changed fields 1 to 64 (bit i = position i + 1).
    changed: u64,
    /// More values, or a text too long for `ends`.
    wide: Option<Box<Wide>>,
    received_at: Instant,
    skipped: u64,
}

/// A position or count as kept in an [`ItemUpdate`] (they come from `u32` fields of the
/// protocol, so they fit).
fn small(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl ItemUpdate {
    /// Copies an update borrowed from the session's model, into a spare text buffer of
    /// `stash` if there is one (the driver's, refilled from the process' spares).
    #[inline]
    pub(crate) fn copy_from(
        schema: &Arc<Schema>,
        u: &ModelUpdate<'_>,
        key_pos: Option<usize>,
        received_at: Instant,
        stash: &mut SpareStash,
    ) -> Self {
        let mut this = Self {
            schema: schema.clone(),
            // (`fill` clears it.)
            text: SPARES.spare(stash),
            ends: [0; INLINE],
            nulls: 0,
            snapshot: false,
            command: None,
            item: 0,
            count: 0,
            key_pos: key_pos.map_or(0, small),
            changed: 0,
            wide: None,
            received_at,
            skipped: 0,
        };
        this.fill(u, received_at);
        this
    }

    /// Overwrites this update with a newer one of the same row (conflation): the values
    /// become the new ones, the changes accumulate, the skip count grows.
    pub(crate) fn conflate(&mut self, u: &ModelUpdate<'_>, received_at: Instant) {
        let changed = self.changed;
        let changed_more = self
            .wide
            .as_mut()
            .map(|w| std::mem::take(&mut w.changed))
            .unwrap_or_default();
        let (snapshot, command) = (self.snapshot, self.command);
        self.fill(u, received_at);
        self.changed |= changed;
        if let Some(w) = &mut self.wide {
            for (w, old) in w.changed.iter_mut().zip(changed_more) {
                *w |= old;
            }
        }
        self.snapshot |= snapshot;
        // A row added then updated is still new to the reader.
        if command == Some(Command::Add) && self.command == Some(Command::Update) {
            self.command = command;
        }
        self.skipped += 1;
    }

    fn fill(&mut self, u: &ModelUpdate<'_>, received_at: Instant) {
        self.item = small(u.item_pos());
        self.snapshot = u.is_snapshot();
        self.command = u.command();
        self.received_at = received_at;
        let count = u.value_count();
        self.count = small(count);
        self.text.clear();
        self.nulls = 0;
        match u.row() {
            // The row's buffer as it is: one copy (and one allocation) for all the values.
            Some(row) => {
                let layout = row.layout();
                if self.text.capacity() < layout.text.len() {
                    // A new update (or a spare buffer too small): one allocation (growing
                    // an empty string goes through the amortised reserve path), with room
                    // for the next rows of this length once recycled.
                    self.text = String::with_capacity(spare_capacity(layout.text.len()));
                }
                self.text.push_str(layout.text);
                let inline = count <= INLINE
                    && layout.ends.len() == count
                    && u16::try_from(layout.text.len()).is_ok();
                if inline {
                    self.wide = None;
                    for (d, &e) in self.ends.iter_mut().zip(layout.ends) {
                        *d = e as u16;
                    }
                    // (At most 16 values: their bits are the low ones.)
                    self.nulls = layout.nulls.first().copied().unwrap_or(0) as u16;
                } else {
                    let w = self.wide.get_or_insert_with(Default::default);
                    w.ends.clear();
                    w.ends.extend_from_slice(layout.ends);
                    w.nulls.clear();
                    w.nulls.extend_from_slice(layout.nulls);
                }
            }
            // Value by value, in the same layout, sized up front.
            None => {
                let total: usize = u.values().map(|v| v.map_or(0, str::len) + 1).sum();
                self.text.reserve(total);
                if count <= INLINE && u16::try_from(total).is_ok() {
                    self.wide = None;
                    for (i, (v, end)) in u.values().zip(&mut self.ends).enumerate() {
                        match v {
                            Some(v) => self.text.push_str(v),
                            None => self.nulls |= 1 << i,
                        }
                        *end = self.text.len() as u16;
                        self.text.push(SEP);
                    }
                } else {
                    let w = self.wide.get_or_insert_with(Default::default);
                    w.ends.clear();
                    w.ends.reserve(count);
                    w.nulls.clear();
                    w.nulls.resize(count.div_ceil(64), 0);
                    for (i, v) in u.values().enumerate() {
                        match v {
                            Some(v) => self.text.push_str(v),
                            None => {
                                if let Some(word) = w.nulls.get_mut(i / 64) {
                                    *word |= 1 << (i % 64);
                                }
                            }
                        }
                        w.ends.push(self.text.len());
                        self.text.push(SEP);
                    }
                }
            }
        }
        // The changed set, word by word (positions beyond the values' words are dropped).
        let words = u.changed_fields().as_words();
        self.changed = words.first().copied().unwrap_or(0);
        if let Some(w) = &mut self.wide {
            w.changed.clear();
            if count > 64 {
                w.changed.resize((count - 64).div_ceil(64), 0);
                for (w, &c) in w.changed.iter_mut().zip(words.get(1..).unwrap_or_default()) {
                    *w = c;
                }
            }
        }
    }

    /// The 1-based position of the item in the subscription.
    pub fn item_pos(&self) -> usize {
        self.item as usize
    }

    /// The item's name, when the subscription listed its items (not for a group name).
    pub fn item_name(&self) -> Option<&str> {
        self.schema.item_name(self.item as usize)
    }

    /// Whether the update belongs to the snapshot (as the official clients'
    /// `isSnapshot`). A conflated update is a snapshot if any update folded into it was.
    pub fn is_snapshot(&self) -> bool {
        self.snapshot
    }

    /// Number of values: the fields, plus the second-level ones in two-level COMMAND mode.
    pub fn value_count(&self) -> usize {
        match &self.wide {
            None => self.count as usize,
            Some(w) => w.ends.len(),
        }
    }

    /// The value at 1-based `pos` (`None`: null, or no such position).
    pub fn value(&self, pos: usize) -> Option<&str> {
        let i = pos.checked_sub(1)?;
        if let Some(w) = &self.wide {
            return self.wide_layout(w).get(i);
        }
        if i >= self.count as usize || self.nulls & (1 << i) != 0 {
            return None;
        }
        let start = match i.checked_sub(1) {
            None => 0,
            Some(j) => usize::from(*self.ends.get(j)?) + 1,
        };
        self.text.get(start..usize::from(*self.ends.get(i)?))
    }

    /// The values of an update of more than the inline fields, as a row's layout.
    fn wide_layout<'a>(&'a self, w: &'a Wide) -> RowLayout<'a> {
        RowLayout {
            text: &self.text,
            ends: &w.ends,
            nulls: &w.nulls,
        }
    }

    /// The value of the field named `name`, when the subscription listed its fields.
    pub fn value_by_name(&self, name: &str) -> Option<&str> {
        self.value(*self.schema.field_pos.get(name)?)
    }

    /// The name of the field at 1-based `pos`, when the subscription listed its fields.
    pub fn field_name(&self, pos: usize) -> Option<&str> {
        self.schema.field_name(pos)
    }

    /// Every value in position order (`None`: null).
    pub fn values(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        match &self.wide {
            None => Values::Inline {
                text: &self.text,
                ends: self
                    .ends
                    .get(..self.count as usize)
                    .unwrap_or_default()
                    .iter(),
                nulls: self.nulls,
                start: 0,
            },
            Some(w) => Values::Wide(self.wide_layout(w).values()),
        }
    }

    /// `(name, value)` for every field, when the subscription listed its fields.
    pub fn fields(&self) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
        self.schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), self.value(i + 1)))
    }

    /// Whether the field at 1-based `pos` changed.
    pub fn is_changed(&self, pos: usize) -> bool {
        match pos.checked_sub(1) {
            None => false,
            Some(i) if i < 64 => self.changed & (1 << i) != 0,
            Some(i) => self
                .wide
                .as_ref()
                .and_then(|w| w.changed.get((i - 64) / 64))
                .is_some_and(|w| w & (1 << (i % 64)) != 0),
        }
    }

    /// Whether the field named `name` changed.
    pub fn is_changed_by_name(&self, name: &str) -> bool {
        self.schema
            .field_pos
            .get(name)
            .is_some_and(|&p| self.is_changed(p))
    }

    /// The 1-based positions of the fields that changed, in increasing order.
    pub fn changed_positions(&self) -> impl Iterator<Item = usize> + '_ {
        (1..=self.value_count()).filter(|&p| self.is_changed(p))
    }

    /// COMMAND mode: the key of the row.
    pub fn key(&self) -> Option<&str> {
        match self.key_pos {
            0 => None,
            pos => self.value(pos as usize),
        }
    }

    /// COMMAND mode: what happened to the row (`ADD`, `UPDATE`, `DELETE`), as the
    /// official clients report it.
    pub fn command(&self) -> Option<Command> {
        self.command
    }

    /// The instant the socket read that brought this update returned.
    pub fn received_at(&self) -> Instant {
        self.received_at
    }

    /// How many earlier updates of this row were folded into this one because the reader
    /// was behind (MERGE conflation); 0 normally.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// The iterator of [`ItemUpdate::values`]: walks the ends in order (each value starts one
/// byte after the previous one ends), with no lookup by position.
enum Values<'a> {
    /// Up to the inline fields: where the values left end, their null bits (lowest: the
    /// next value), where the next value starts.
    Inline {
        text: &'a str,
        ends: std::slice::Iter<'a, u16>,
        nulls: u16,
        start: usize,
    },
    /// More: the row's own iterator.
    Wide(RowIter<'a>),
}

impl<'a> Iterator for Values<'a> {
    type Item = Option<&'a str>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Inline {
                text,
                ends,
                nulls,
                start,
            } => {
                let end = usize::from(*ends.next()?);
                let from = std::mem::replace(start, end + 1);
                let null = *nulls & 1 != 0;
                *nulls >>= 1;
                Some(if null { None } else { text.get(from..end) })
            }
            Self::Wide(values) => values.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Self::Inline { ends, .. } => (ends.len(), Some(ends.len())),
            Self::Wide(values) => values.size_hint(),
        }
    }
}

impl ExactSizeIterator for Values<'_> {}

impl Drop for ItemUpdate {
    /// Gives the text buffer back to the process's spare buffers (see `SparePool`), for a
    /// later update of any subscription.
    fn drop(&mut self) {
        let text = std::mem::take(&mut self.text);
        // (Once the thread's locals are gone, or should they be in use, it is freed.)
        let _ = DROPPED.try_with(|d| {
            if let Ok(mut d) = d.try_borrow_mut() {
                SPARES.recycle(text, &mut d);
            }
        });
    }
}

impl fmt::Debug for ItemUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ItemUpdate");
        d.field("item", &self.item_pos());
        if let Some(n) = self.item_name() {
            d.field("item_name", &n);
        }
        d.field("snapshot", &self.snapshot);
        if let Some(c) = self.command {
            d.field("command", &c).field("key", &self.key());
        }
        d.field("values", &self.values().collect::<Vec<_>>())
            .field("changed", &self.changed_positions().collect::<Vec<_>>())
            .field("skipped", &self.skipped)
            .finish()
    }
}

#[cfg(test)]
const _: () = assert!(std::mem::size_of::<ItemUpdate>() <= 128);
#[cfg(test)]
const _: () = assert!(std::mem::size_of::<crate::events::SubscriptionEvent>() <= 128);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tlcp_proto::Mode;
    use tlcp_proto::client::SubscriptionSpec;
    use tlcp_proto::model::SubscriptionModel;

    use super::*;

    /// The owned copy reads as the model's update, whether its spans are inline or not,
    /// with null, empty and non-ASCII values, and more than 64 fields.
    #[test]
    fn copy_matches_the_model_update() {
        for n in [1, 3, INLINE - 1, INLINE, INLINE + 1, 64, 65, 130] {
            let names: Vec<String> = (1..=n).map(|i| format!("f{i}")).collect();
            let spec =
                SubscriptionSpec::items(Mode::Merge, ["i"], names.iter().map(String::as_str));
            let schema = Arc::new(Schema::of(&spec));
            let mut model = SubscriptionModel::new(Mode::Merge, 1, n).unwrap();
            let first: Vec<String> = (0..n)
                .map(|i| match i % 4 {
                    0 => "#".to_owned(),
                    1 => "$".to_owned(),
                    2 => format!("é{i}"),
                    _ => format!("v{i}"),
                })
                .collect();
            let second: Vec<String> = (0..n)
                .map(|i| {
                    if i % 3 == 0 {
                        format!("w{i}")
                    } else {
                        String::new()
                    }
                })
                .collect();
            let at = Instant::now();
            let mut copy: Option<ItemUpdate> = None;
            for list in [first.join("|"), second.join("|")] {
                let u = model.update(1, &list).unwrap();
                let mine = match copy.take() {
                    None => {
                        ItemUpdate::copy_from(&schema, &u, None, at, &mut SpareStash::default())
                    }
                    Some(mut c) => {
                        c.conflate(&u, at);
                        c
                    }
                };
                assert_eq!(mine.value_count(), n);
                assert_eq!(mine.values().size_hint(), (n, Some(n)));
                assert_eq!(
                    mine.values().collect::<Vec<_>>(),
                    u.values().collect::<Vec<_>>()
                );
                for p in 0..=n + 1 {
                    assert_eq!(mine.value(p), u.value(p), "n {n} pos {p}");
                }
                assert_eq!(mine.value_by_name("f1"), u.value(1));
                copy = Some(mine);
            }
            // The second copy folded both updates: every field changed.
            let c = copy.unwrap();
            assert_eq!(c.changed_positions().count(), n);
            assert_eq!(c.skipped(), 1);
            assert!(!c.is_changed(0) && !c.is_changed(n + 1));
        }
    }

    /// Updates made in buffers given back by earlier (longer) ones read only their own
    /// values.
    #[test]
    fn recycled_buffers_hold_only_the_new_values() {
        let n = 4;
        let spec = SubscriptionSpec::items(Mode::Merge, ["i"], ["a", "b", "c", "d"]);
        let schema = Arc::new(Schema::of(&spec));
        let mut model = SubscriptionModel::new(Mode::Merge, 1, n).unwrap();
        let at = Instant::now();
        let long = "a-long-first-value|another-long-value|#|yet-another-long-one";
        let u = model.update(1, long).unwrap();
        // A driver's stash holding the buffer of an earlier, longer update.
        let first = ItemUpdate::copy_from(&schema, &u, None, at, &mut SpareStash::default());
        let mut stash = SpareStash {
            bufs: vec![first.text.clone()],
            skip: 0,
        };
        for list in ["x|y|$|z", "$|#|é|", "1|2|3|4", "#|#|#|#"] {
            let u = model.update(1, list).unwrap();
            let want: Vec<Option<String>> = u.values().map(|v| v.map(str::to_owned)).collect();
            let mine = ItemUpdate::copy_from(&schema, &u, None, at, &mut stash);
            assert!(stash.bufs.is_empty(), "the spare buffer was used");
            assert_eq!(
                mine.values()
                    .map(|v| v.map(str::to_owned))
                    .collect::<Vec<_>>(),
                want
            );
            for p in 1..=n {
                assert_eq!(mine.value(p), want[p - 1].as_deref());
            }
            stash.bufs.push(mine.text.clone());
        }
    }

    /// The buffers of dropped updates go to the pool a batch at a time, the pool keeps a
    /// bounded number of batches, and a driver takes them from there.
    #[test]
    fn spare_buffers_are_bounded() {
        let pool = SparePool::new();
        let mut batch = Vec::new();
        for i in 0..SPARE_BATCH * (SPARE_MAX_BATCHES + 3) {
            pool.recycle(String::with_capacity(1 + i % SPARE_MAX_LEN), &mut batch);
            // Unallocated and large buffers are freed.
            pool.recycle(String::new(), &mut batch);
            pool.recycle(String::with_capacity(SPARE_MAX_LEN + 1), &mut batch);
            assert!(batch.len() < SPARE_BATCH);
        }
        assert!(batch.is_empty());
        assert_eq!(pool.lock().len(), SPARE_MAX_BATCHES);
        assert!(pool.lock().iter().all(|b| b.len() == SPARE_BATCH));
        let mut stash = SpareStash::default();
        let s = pool.spare(&mut stash);
        assert!(s.capacity() > 0 && s.capacity() <= SPARE_MAX_LEN);
        assert_eq!(stash.bufs.len(), SPARE_BATCH - 1);
        assert_eq!(pool.lock().len(), SPARE_MAX_BATCHES - 1);
        // An empty pool is looked at again after a batch of updates.
        let empty = SparePool::new();
        let mut stash = SpareStash::default();
        assert_eq!(empty.spare(&mut stash).capacity(), 0);
        empty.give(vec![String::with_capacity(8)]);
        for _ in 0..SPARE_BATCH {
            assert_eq!(empty.spare(&mut stash).capacity(), 0);
        }
        assert_eq!(empty.spare(&mut stash).capacity(), 8);
        assert_eq!(spare_capacity(99), 128);
        assert_eq!(spare_capacity(0), 32);
        assert_eq!(spare_capacity(SPARE_MAX_LEN - 1), SPARE_MAX_LEN);
        assert_eq!(spare_capacity(SPARE_MAX_LEN + 7), SPARE_MAX_LEN + 7);
    }
}
