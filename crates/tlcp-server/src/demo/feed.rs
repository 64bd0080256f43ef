//! `FEED`: a synthetic, configurable feed for benchmarks and latency measurements.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::rng::{Rng, stable_hash};
use super::{TOO_MANY_ITEMS, lock, runtime};
use crate::adapter::{DataAdapter, Refusal};
#[cfg(test)]
use crate::hub::Update;
use crate::hub::{FieldId, ItemFeed, RowWriter};

/// How fast the `FEED` adapter pushes the updates of each item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeedRate {
    /// This many updates per second for each item, driven by a timer (at most one wake-up
    /// per millisecond: higher rates push several updates per wake-up). The long-run rate
    /// is exact; a producer that fell behind catches up on at most one second of updates.
    /// A rate that is not finite and positive pushes nothing.
    PerSecond(f64),
    /// As fast as the subscribers take them: pushes [`FeedConfig::batch`] updates, waits
    /// for every subscriber to keep up ([`ItemFeed::ready`]), yields, and so on.
    AsFastAsPossible,
}

/// The settings of the `FEED` data adapter.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedConfig {
    /// How fast each item is updated.
    pub rate: FeedRate,
    /// The number of payload fields `f1`..`fN`.
    pub payload_fields: usize,
    /// The width of each payload value, in characters (values are zero-padded, with two
    /// decimals from a width of 4).
    pub field_size: usize,
    /// How many updates are pushed between yields to the runtime (and, with
    /// [`FeedRate::AsFastAsPossible`], between waits for the subscribers); 0 means 1.
    pub batch: usize,
}

impl Default for FeedConfig {
    /// Ten updates a second, 8 payload fields of 8 characters, batches of 64.
    fn default() -> Self {
        Self {
            rate: FeedRate::PerSecond(10.0),
            payload_fields: 8,
            field_size: 8,
            batch: 64,
        }
    }
}

/// The most distinct items produced at once: each has its own task, and a client can
/// name any item.
const MAX_ITEMS: usize = 100_000;

/// The shortest pause of a timer-driven producer.
const MIN_TICK: Duration = Duration::from_millis(1);

/// Makes the updates of one item: reuses every buffer, so no allocation per update once
/// warmed up, and formats only the values that changed.
struct Generator {
    names: Arc<[String]>,
    values: Vec<u64>,
    /// The text of every field of the update, one after the other (ASCII digits and `.`),
    /// so that one UTF-8 check per update covers them all: `ts` and `seq` in the first two
    /// slots of [`NUM`] bytes (the digits of `ts_text` and `seq_text`, copied at each
    /// update), then every payload value, `size` bytes each, rewritten in place when it
    /// changes.
    texts: Vec<u8>,
    size: usize,
    /// Values are in `0..modulus`, so they fit the width.
    modulus: u64,
    max_move: u64,
    rng: Rng,
    /// `ts` and `seq` of this update.
    stamps: Stamps,
    /// Which payload fields changed in this update: bit `i % 64` of word `i / 64`
    /// (visited by their set bits, so that no stage branches on each field).
    changed: Vec<u64>,
    /// The ids of `ts`, `seq` and the payload fields in the item being fed (resolved on
    /// the first push).
    ids: Vec<FieldId>,
}

impl Generator {
    fn new(names: Arc<[String]>, size: usize, mut rng: Rng) -> Self {
        // Digits available for the value: the width, less the decimal point from 4 on.
        let digits = if size >= 4 { size - 1 } else { size };
        let modulus = 10u64.pow(digits.min(18) as u32);
        let values: Vec<u64> = names
            .iter()
            .map(|_| modulus / 4 + rng.below(modulus / 2 + 1))
            .collect();
        let mut producer = Self {
            texts: vec![b'0'; PAYLOAD + size * names.len()],
            changed: vec![0; names.len().div_ceil(64)],
            names,
            values,
            size,
            modulus,
            max_move: (modulus / 2000).max(1),
            rng,
            stamps: Stamps::default(),
            ids: Vec::new(),
        };
        for i in 0..producer.values.len() {
            producer.write_value(i);
        }
        producer
    }

    /// The text of payload value `i`.
    #[cfg(test)]
    fn text(&self, i: usize) -> &str {
        let at = PAYLOAD + i * self.size;
        std::str::from_utf8(&self.texts[at..at + self.size]).unwrap_or("")
    }

    /// Rewrites the text of value `i` in place: `<integer part, zero-padded>.<2 decimals>`
    /// from a width of 4, the zero-padded value below.
    #[inline(always)]
    fn write_value(&mut self, i: usize) {
        let v = self.values[i];
        let at = PAYLOAD + i * self.size;
        let text = &mut self.texts[at..at + self.size];
        let n = text.len();
        if (4..=9).contains(&n) {
            // Eight digits at once (a few multiplications), then the last `n - 1` of them
            // with the `.` before the last two.
            let d = digits8(v % 100_000_000).to_le_bytes();
            let (int, frac) = text.split_at_mut(n - 3);
            tlcp_proto::fields::copy_short(int, &d[8 - (n - 1)..6]);
            frac[0] = b'.';
            frac[1] = d[6];
            frac[2] = d[7];
            return;
        }
        match text.len() {
            0 => {}
            1..=3 => write_padded(text, v),
            n => {
                let (int, frac) = text.split_at_mut(n - 3);
                write_padded(int, v / 100);
                let [hi, lo] = DIGIT_PAIRS[(v % 100) as usize];
                frac[0] = b'.';
                frac[1] = hi;
                frac[2] = lo;
            }
        }
    }

    /// Moves a value like a price: a small step up or down, staying in range.
    fn move_value(&mut self, i: usize, up: bool) {
        let step = 1 + self.rng.below(self.max_move);
        let v = self.values[i];
        self.values[i] = if (up && v + step < self.modulus) || v < step {
            (v + step).min(self.modulus - 1)
        } else {
            v - step
        };
        self.write_value(i);
    }

    /// Moves to the next update: `ts`, `seq`, and the payload fields that changed (all of
    /// them the first time; then `f1` always, each other one with probability 1/2).
    /// Unchanged fields are left out: the item keeps their values, and every field an
    /// update sets costs a copy at each stage of the server. `ts` is `now` (nanoseconds
    /// since the UNIX epoch), or one more than the previous `ts` if that is not earlier.
    fn advance(&mut self, now: u128) {
        let first = self.stamps.next(now);
        // Two random words per 64 fields: whether each field changes, and the direction
        // of its move.
        let n = self.names.len();
        for w in 0..self.changed.len() {
            let width = (n - 64 * w).min(64);
            let all = if width == 64 { !0 } else { (1u64 << width) - 1 };
            let (changes, ups) = (self.rng.next_u64(), self.rng.next_u64());
            let word = if first {
                all
            } else {
                (changes & all) | u64::from(w == 0)
            };
            self.changed[w] = word;
            if !first {
                let mut m = word;
                while m != 0 {
                    let b = m.trailing_zeros() as usize;
                    m &= m - 1;
                    self.move_value(64 * w + b, ups >> b & 1 == 1);
                }
            }
        }
        self.stamps.write_into(&mut self.texts);
    }

    /// Calls `f` with each field of the current update: its position (0 `ts`, 1 `seq`,
    /// then the payload fields from 2) and its value.
    #[cfg(test)]
    fn for_each_field(&self, mut f: impl FnMut(usize, &str)) {
        // Digits and `.` only: the check cannot fail (and runs once per update, not once
        // per value: it was 3% of the server's instructions).
        let texts = std::str::from_utf8(&self.texts).unwrap_or_default();
        f(0, texts.get(..self.stamps.ts.len).unwrap_or_default());
        f(
            1,
            texts
                .get(NUM..NUM + self.stamps.seq.len)
                .unwrap_or_default(),
        );
        for i in changed_fields(&self.changed) {
            let at = PAYLOAD + i * self.size;
            f(2 + i, texts.get(at..at + self.size).unwrap_or_default());
        }
    }

    /// Pushes the next update to `feed`, straight into the item's row, with `ts` at `now`
    /// (see [`Generator::advance`]).
    fn push(&mut self, feed: &ItemFeed, now: u128) {
        if self.ids.is_empty() {
            self.ids = field_ids(feed, &self.names);
        }
        self.advance(now);
        let texts = std::str::from_utf8(&self.texts).unwrap_or_default();
        let (ids, changed, size) = (&self.ids, &self.changed, self.size);
        let stamps = &self.stamps;
        feed.update_with(|row| {
            let Some(payload) = stamps.set(row, ids, texts) else {
                return;
            };
            set_changed(row, payload, changed, |i| {
                let at = PAYLOAD + i * size;
                texts.get(at..at + size).unwrap_or_default()
            });
        });
    }

    /// The next update, as an [`Update`] (what `push` writes).
    #[cfg(test)]
    fn next(&mut self) -> Update {
        self.advance(wall_ns());
        let mut update = Update::new();
        self.for_each_field(|k, value| {
            let name = match k {
                0 => "ts",
                1 => "seq",
                _ => &self.names[k - 2],
            };
            update.set(name, value);
        });
        update
    }
}

/// `ts` and `seq` of the updates of one item, kept as their decimal text.
#[derive(Debug, Default)]
struct Stamps {
    seq: DecimalText,
    ts: DecimalText,
    last_ts: u128,
}

impl Stamps {
    /// Moves to the next update: `seq` one more, `ts` at `now` (nanoseconds since the UNIX
    /// epoch), or one more than the previous `ts` if that is not earlier. Returns whether
    /// this is the first update.
    #[inline]
    fn next(&mut self, now: u128) -> bool {
        let first = self.seq.value == 0;
        self.last_ts = (self.last_ts + 1).max(now);
        self.ts
            .move_to(u64::try_from(self.last_ts).unwrap_or(u64::MAX));
        let seq = self.seq.value + 1;
        self.seq.move_to(seq);
        first
    }

    /// Writes the digits of `ts` then of `seq`, [`NUM`] bytes each, at the start of `out`.
    #[inline]
    fn write_into(&self, out: &mut [u8]) {
        out[..NUM].copy_from_slice(&self.ts.digits);
        out[NUM..PAYLOAD].copy_from_slice(&self.seq.digits);
    }

    /// Sets `ts` and `seq` (the first two of `ids`) from `texts` (as [`write_into`] wrote
    /// them); returns the ids of the payload fields.
    ///
    /// [`write_into`]: Self::write_into
    #[inline(always)]
    fn set<'i>(
        &self,
        row: &mut RowWriter<'_>,
        ids: &'i [FieldId],
        texts: &str,
    ) -> Option<&'i [FieldId]> {
        let [ts_id, seq_id, payload @ ..] = ids else {
            return None;
        };
        row.set(*ts_id, texts.get(..self.ts.len).unwrap_or_default());
        row.set(
            *seq_id,
            texts.get(NUM..NUM + self.seq.len).unwrap_or_default(),
        );
        Some(payload)
    }
}

/// The ids of `ts`, `seq` and the payload fields `names` in the item `feed` feeds.
fn field_ids(feed: &ItemFeed, names: &[String]) -> Vec<FieldId> {
    ["ts", "seq"]
        .into_iter()
        .chain(names.iter().map(String::as_str))
        .map(|n| feed.field(n))
        .collect()
}

/// Sets the payload fields whose bits are set in `words` (bit `i % 64` of word `i / 64`:
/// payload field `i`, of id `payload[i]`) to `value(i)`, visiting only the set bits.
#[inline(always)]
fn set_changed<'v>(
    row: &mut RowWriter<'_>,
    payload: &[FieldId],
    words: &[u64],
    value: impl Fn(usize) -> &'v str,
) {
    for (w, &word) in words.iter().enumerate() {
        let mut m = word;
        while m != 0 {
            let i = 64 * w + m.trailing_zeros() as usize;
            m &= m - 1;
            if let Some(&id) = payload.get(i) {
                row.set(id, value(i));
            }
        }
    }
}

/// About how many bytes of precomputed values a [`Replay`] keeps.
const REPLAY_BYTES: usize = 64 * 1024;

/// The updates of an item fed as fast as possible ([`FeedRate::AsFastAsPossible`]): the
/// moves of a [`Generator`] recorded once, then replayed in a cycle, with `ts` and `seq`
/// live. A benchmark then measures the server, not the making of random prices.
///
/// The cycle walks the recorded states forward, then back (each move undone in reverse
/// order), so that it ends where it started and goes round without a jump: state `k` of
/// steps `1..=half`, then states `half - 1` down to `0`. Each step changes `f1` and about
/// half of the other fields, like the generator.
struct Replay {
    names: Arc<[String]>,
    size: usize,
    /// The bytes of one state: every payload value, `size` bytes each.
    stride: usize,
    /// The recorded forward steps (the cycle has twice as many).
    half: usize,
    /// Mask words per step.
    words: usize,
    /// States `0..=half`, `stride` bytes each (ASCII digits and `.`).
    states: String,
    /// The payload fields forward step `k` (`1..=half`) changes, at `(k - 1) * words`.
    masks: Vec<u64>,
    /// The next step: 0 for the first update (every field), then `1..=2 * half`.
    step: usize,
    stamps: Stamps,
    /// The digits of `ts` then of `seq` (one UTF-8 check for both).
    nums: [u8; PAYLOAD],
    /// The ids of `ts`, `seq` and the payload fields (resolved on the first push).
    ids: Vec<FieldId>,
}

impl Replay {
    /// Records the moves of `generator` (as many as fit [`REPLAY_BYTES`], between 32 and
    /// 2,048).
    fn new(mut generator: Generator) -> Self {
        let fields = generator.names.len();
        let size = generator.size;
        let stride = fields * size;
        let half = (REPLAY_BYTES / stride.max(1) / 2).clamp(32, 2048);
        let words = generator.changed.len();
        fn payload(g: &Generator) -> &str {
            std::str::from_utf8(&g.texts[PAYLOAD..]).unwrap_or_default()
        }
        let mut states = String::with_capacity((half + 1) * stride);
        let mut masks = Vec::with_capacity(half * words);
        // State 0: the values as they start (the first update has them all, unmoved).
        generator.advance(0);
        states.push_str(payload(&generator));
        for _ in 0..half {
            generator.advance(0);
            masks.extend_from_slice(&generator.changed);
            states.push_str(payload(&generator));
        }
        Self {
            names: generator.names,
            size,
            stride,
            half,
            words,
            states,
            masks,
            step: 0,
            stamps: Stamps::default(),
            nums: [b'0'; PAYLOAD],
            ids: Vec::new(),
        }
    }

    /// The state the next update leaves, and the mask words of the fields it changes
    /// (`None`: the first update, every field); moves on to the step after.
    fn next_step(&mut self) -> (usize, Option<usize>) {
        let (half, step) = (self.half, self.step);
        self.step = if step == 2 * half { 1 } else { step + 1 };
        match step {
            0 => (0, None),
            s if s <= half => (s, Some((s - 1) * self.words)),
            // Back: step `half + j` undoes forward step `half - j + 1`.
            s => (2 * half - s, Some((2 * half - s) * self.words)),
        }
    }

    /// Pushes the next update to `feed`, with `ts` at `now` (or one more than the
    /// previous `ts` if that is not earlier).
    fn push(&mut self, feed: &ItemFeed, now: u128) {
        if self.ids.is_empty() {
            self.ids = field_ids(feed, &self.names);
        }
        self.stamps.next(now);
        self.stamps.write_into(&mut self.nums);
        let (state, mask) = self.next_step();
        let nums = std::str::from_utf8(&self.nums).unwrap_or_default();
        let at = state * self.stride;
        let values = self.states.get(at..at + self.stride).unwrap_or_default();
        let (ids, size, stamps) = (&self.ids, self.size, &self.stamps);
        let masks = mask.and_then(|m| self.masks.get(m..m + self.words));
        feed.update_with(|row| {
            let Some(payload) = stamps.set(row, ids, nums) else {
                return;
            };
            let value = |i: usize| values.get(i * size..(i + 1) * size).unwrap_or_default();
            match masks {
                None => {
                    for (i, id) in payload.iter().enumerate() {
                        row.set(*id, value(i));
                    }
                }
                Some(words) => set_changed(row, payload, words, value),
            }
        });
    }
}

/// The positions of the set bits of `words` (bit `i % 64` of word `i / 64`), in order.
#[cfg(test)]
fn changed_fields(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(w, &word)| {
        let mut m = word;
        std::iter::from_fn(move || {
            (m != 0).then(|| {
                let b = m.trailing_zeros() as usize;
                m &= m - 1;
                64 * w + b
            })
        })
    })
}

/// A number kept as its decimal text, moved forward by small steps without writing every
/// digit again (`ts` and `seq` of every update: the usual step changes their last few
/// digits only, so only the last eight are written).
#[derive(Debug, Default)]
struct DecimalText {
    value: u64,
    digits: [u8; NUM],
    len: usize,
    /// The first number with more digits (`None`: none fits a `u64`).
    limit: Option<u64>,
}

/// Bytes of a [`DecimalText`]: the digits of any `u64`.
const NUM: usize = 20;
/// Where the payload values start in [`Generator::texts`] (after `ts` and `seq`).
const PAYLOAD: usize = 2 * NUM;

impl DecimalText {
    /// Becomes `v`: when it is not smaller and has as many digits, rewrites its last eight
    /// digits at once (all of them when there are at most eight); anything else (or the
    /// digits above the last eight changing) writes all of `v`.
    fn move_to(&mut self, v: u64) {
        let len = self.len;
        if len == 0 || v < self.value || self.limit.is_some_and(|l| v >= l) {
            return self.set(v);
        }
        // One more, last digit below 9 (`seq`, nine times in ten): one byte.
        if v - self.value == 1
            && let Some(last) = self.digits.get_mut(len - 1)
            && *last < b'9'
        {
            *last += 1;
            self.value = v;
            return;
        }
        if len <= 8 {
            let d = digits8(v).to_le_bytes();
            tlcp_proto::fields::copy_short(&mut self.digits[..len], &d[8 - len..]);
        } else if v / 100_000_000 == self.value / 100_000_000 {
            let d = digits8(v % 100_000_000).to_le_bytes();
            self.digits[len - 8..len].copy_from_slice(&d);
        } else {
            return self.set(v);
        }
        self.value = v;
    }

    fn set(&mut self, v: u64) {
        self.len = push_decimal(&mut self.digits, 0, v);
        self.limit = 10u64.checked_pow(self.len as u32);
        self.value = v;
    }

    /// The text (digits only).
    #[cfg(test)]
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits[..self.len]).unwrap_or_default()
    }
}

/// The wall clock, in nanoseconds since the UNIX epoch.
fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// `00`..`99`, for formatting two digits at a time.
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// The eight decimal digits of `n` (below 10^8), zero-padded, as ASCII bytes in text order
/// (the first digit in the lowest byte): the two halves of four digits, then the four
/// pairs, then the eight digits are split at once in the lanes of one word, dividing by
/// multiplying (`x * 10486 >> 20` is `x / 100` below 10^4; `x * 103 >> 10` is `x / 10`
/// below 100).
fn digits8(n: u64) -> u64 {
    let x = (n / 10_000) | ((n % 10_000) << 32);
    let hundreds = ((x * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let y = hundreds | ((x - hundreds * 100) << 16);
    let tens = ((y * 103) >> 10) & 0x000F_000F_000F_000F;
    let z = tens | ((y - tens * 10) << 8);
    z | 0x3030_3030_3030_3030
}

/// Writes `v` in decimal right-aligned in `out`, zero-padded (the lowest digits only if it
/// does not fit).
fn write_padded(out: &mut [u8], mut v: u64) {
    // Byte by byte (values are a few bytes: library copies and fills cost a call each).
    let mut i = out.len();
    while i >= 2 && v > 0 {
        let [hi, lo] = DIGIT_PAIRS[(v % 100) as usize];
        out[i - 1] = lo;
        out[i - 2] = hi;
        v /= 100;
        i -= 2;
    }
    if i == 1 && v > 0 {
        out[0] = b'0' + (v % 10) as u8;
        i = 0;
    }
    for b in &mut out[..i] {
        *b = b'0';
    }
}

/// Writes `v` in decimal into `buf` from `at` on (no `fmt` machinery: this runs for every
/// update); returns the end. `buf` must have 20 bytes free from `at`.
fn push_decimal(buf: &mut [u8], at: usize, v: u64) -> usize {
    let digits = v.checked_ilog10().map_or(1, |l| l as usize + 1);
    write_padded(&mut buf[at..at + digits], v);
    at + digits
}

struct Inner {
    seed: u64,
    config: FeedConfig,
    names: Arc<[String]>,
    /// The producer of each feed of each item (an item may be subscribed under several
    /// adapter set names).
    tasks: Mutex<HashMap<String, Vec<(ItemFeed, AbortHandle)>>>,
}

/// The `FEED` data adapter.
#[derive(Clone)]
pub(crate) struct Feed {
    inner: Arc<Inner>,
}

impl Feed {
    pub(crate) fn new(seed: u64, config: FeedConfig) -> Self {
        let names = (1..=config.payload_fields)
            .map(|i| format!("f{i}"))
            .collect();
        Self {
            inner: Arc::new(Inner {
                seed,
                config,
                names,
                tasks: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// How many producers of `item` are still running.
    #[cfg(test)]
    fn running(&self, item: &str) -> usize {
        lock(&self.inner.tasks)
            .get(item)
            .map_or(0, |v| v.iter().filter(|(_, t)| !t.is_finished()).count())
    }
}

impl DataAdapter for Feed {
    fn subscribe(&self, item: &str, feed: ItemFeed) -> Result<(), Refusal> {
        self.subscribe_within(item, feed, MAX_ITEMS)
    }

    fn unsubscribe(&self, item: &str) {
        let mut tasks = lock(&self.inner.tasks);
        let Some(list) = tasks.get_mut(item) else {
            return;
        };
        // Stop the producers of inactive feeds (one may be waiting on `ready()` for a
        // subscriber that is gone); the item may still be live under another name.
        list.retain(|(feed, task)| {
            let keep = feed.is_active();
            if !keep {
                task.abort();
            }
            keep
        });
        if list.is_empty() {
            tasks.remove(item);
        }
    }
}

impl Feed {
    /// Starts the producer of `item`, unless `max_items` other items are produced.
    fn subscribe_within(
        &self,
        item: &str,
        feed: ItemFeed,
        max_items: usize,
    ) -> Result<(), Refusal> {
        let rt = runtime()?;
        {
            let mut tasks = lock(&self.inner.tasks);
            if !tasks.contains_key(item) && tasks.len() >= max_items {
                // Some may be over without having been unsubscribed yet.
                tasks.retain(|_, list| {
                    list.retain(|(f, t)| f.is_active() && !t.is_finished());
                    !list.is_empty()
                });
                if tasks.len() >= max_items {
                    return Err(Refusal::new(
                        TOO_MANY_ITEMS,
                        format!("FEED produces {max_items} items already"),
                    ));
                }
            }
        }
        feed.end_of_snapshot();
        let config = &self.inner.config;
        let batch = config.batch.max(1);
        let rng = Rng::derived(self.inner.seed, stable_hash(item));
        let producer = Generator::new(Arc::clone(&self.inner.names), config.field_size, rng);
        let task = match config.rate {
            FeedRate::PerSecond(rate) if rate.is_finite() && rate > 0.0 => {
                rt.spawn(at_rate(feed.clone(), producer, rate, batch))
            }
            FeedRate::PerSecond(_) => return Ok(()),
            FeedRate::AsFastAsPossible => {
                rt.spawn(as_fast(feed.clone(), Replay::new(producer), batch))
            }
        };
        let mut tasks = lock(&self.inner.tasks);
        let list = tasks.entry(item.to_owned()).or_default();
        list.retain(|(f, t)| f.is_active() && !t.is_finished());
        list.push((feed, task.abort_handle()));
        Ok(())
    }
}

/// Pushes `rate` updates a second until the feed is inactive.
async fn at_rate(feed: ItemFeed, mut producer: Generator, rate: f64, batch: usize) {
    let start = Instant::now();
    let max_catch_up = (rate as u64).max(1);
    let mut sent: u64 = 0;
    loop {
        let next_due = Duration::try_from_secs_f64((sent + 1) as f64 / rate)
            .ok()
            .and_then(|d| start.checked_add(d));
        let soonest = Instant::now() + MIN_TICK;
        let wake = next_due.map_or(soonest, |d| d.max(soonest));
        tokio::time::sleep_until(wake).await;
        if !feed.is_active() {
            return;
        }
        // How many updates are due by now (the epsilon absorbs float rounding of the
        // wake-up instant).
        let due = (start.elapsed().as_secs_f64() * rate + 1e-6).floor() as u64;
        if due.saturating_sub(sent) > max_catch_up {
            sent = due - max_catch_up;
        }
        let mut in_batch = 0;
        while sent < due {
            producer.push(&feed, wall_ns());
            sent += 1;
            in_batch += 1;
            if in_batch == batch && sent < due {
                in_batch = 0;
                tokio::task::yield_now().await;
                if !feed.is_active() {
                    return;
                }
            }
        }
    }
}

/// Pushes batches as fast as the subscribers take them, until the feed is inactive.
async fn as_fast(feed: ItemFeed, mut producer: Replay, batch: usize) {
    while feed.is_active() {
        // One clock read per lap of updates, not one per update: each update of a lap
        // gets the lap's start (one nanosecond more than the previous `ts` when that is
        // not earlier), so `ts` increases with every update and is never later than the
        // push, at most a lap earlier.
        let mut now = wall_ns();
        for k in 0..batch {
            if k % CLOCK_LAP == 0 && k > 0 {
                now = wall_ns();
            }
            producer.push(&feed, now);
        }
        feed.ready().await;
        tokio::task::yield_now().await;
    }
}

/// Updates between two clock reads of a producer going as fast as possible.
const CLOCK_LAP: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::testutil::{Ev, NoUnsubscribe, Sub};
    use tlcp_proto::Mode;
    use tokio::sync::Notify;

    fn config(rate: FeedRate, fields: usize, size: usize) -> FeedConfig {
        FeedConfig {
            rate,
            payload_fields: fields,
            field_size: size,
            batch: 16,
        }
    }

    fn schema(fields: usize) -> String {
        let mut s = String::from("ts seq");
        for i in 1..=fields {
            s.push_str(&format!(" f{i}"));
        }
        s
    }

    fn num(sub: &Sub, e: &Ev, field: &str) -> u128 {
        let row = e.row().expect("row");
        sub.field(row, field).expect("set").parse().expect("number")
    }

    #[test]
    fn decimal_formatting_matches_fmt() {
        let samples = [
            0,
            1,
            9,
            10,
            99,
            100,
            12_345,
            999_999,
            99_999_999,
            100_000_000,
            1_234_567_890_123,
            9_999_999_999_999_999,
            10_000_000_000_000_000,
            1_764_641_234_123_456_789,
            u64::MAX / 3,
            u64::MAX,
        ];
        for v in samples {
            let mut buf = [0u8; 40];
            let end = push_decimal(&mut buf, 3, v);
            assert_eq!(
                std::str::from_utf8(&buf[3..end]),
                Ok(v.to_string().as_str())
            );
            for width in 0..24 {
                let mut out = vec![b'x'; width];
                write_padded(&mut out, v);
                let full = format!("{v:0width$}");
                assert_eq!(out, full.as_bytes()[full.len() - width..], "{v} {width}");
            }
        }
    }

    /// Moving forward by any step, back, or across a power of ten gives the same text as
    /// `to_string`.
    #[test]
    fn eight_digits_at_once() {
        let check = |n: u64| {
            let got = digits8(n).to_le_bytes();
            assert_eq!(std::str::from_utf8(&got).unwrap(), format!("{n:08}"), "{n}");
        };
        // Each half of four digits takes every value, in both halves.
        for k in 0..10_000 {
            check(k);
            check(k * 10_000);
            check(k * 10_000 + 9_999 - k);
        }
        for n in [99_999_999, 12_345_678, 10_000_000, 99_990_000] {
            check(n);
        }
    }

    #[test]
    fn more_than_64_payload_fields_change_like_the_first_ones() {
        let names: Arc<[String]> = (1..=70).map(|i| format!("f{i}")).collect();
        let mut producer = Generator::new(names, 8, Rng::new(3));
        let mut counts = [0u32; 70];
        // The first update has every field, as they start.
        producer.advance(wall_ns());
        let mut n = 0;
        producer.for_each_field(|_, _| n += 1);
        assert_eq!(n, 72);
        let mut last: Vec<String> = (0..70).map(|i| producer.text(i).to_owned()).collect();
        for _ in 0..2_000 {
            producer.advance(wall_ns());
            let mut fields = Vec::new();
            producer.for_each_field(|k, v| fields.push((k, v.to_owned())));
            let payload: Vec<_> = fields.iter().filter(|(k, _)| *k >= 2).collect();
            assert!(payload.windows(2).all(|w| w[0].0 < w[1].0), "in order");
            assert_eq!(payload.first().map(|p| p.0), Some(2), "f1 always");
            for (k, v) in payload {
                let i = k - 2;
                assert_ne!(&last[i], v, "f{} set but unchanged", i + 1);
                assert_eq!(producer.text(i), v);
                last[i] = v.clone();
                counts[i] += 1;
            }
        }
        assert_eq!(counts[0], 2_000);
        assert!(
            counts[1..].iter().all(|c| (850..=1_150).contains(c)),
            "{counts:?}"
        );
    }

    #[test]
    fn decimal_text_moves_like_to_string() {
        let mut t = DecimalText::default();
        let mut rng = Rng::new(7);
        let check = |t: &DecimalText, v: u64| assert_eq!(t.as_str(), v.to_string(), "{v}");
        for start in [
            0,
            8,
            99,
            999_990,
            1_764_641_234_123_456_789,
            u64::MAX - 5_000,
        ] {
            let mut v = start;
            t.move_to(v);
            check(&t, v);
            for _ in 0..2_000 {
                let step = match rng.below(4) {
                    0 => 1,
                    1 => rng.below(1_000),
                    2 => rng.below(10_000_000),
                    _ => 0,
                };
                v = v.saturating_add(step);
                t.move_to(v);
                check(&t, v);
            }
            // Backwards: written anew.
            v /= 3;
            t.move_to(v);
            check(&t, v);
        }
        // Counting one by one (`seq`), through every carry up to six digits.
        t.move_to(0);
        for v in 1..=1_000_100 {
            t.move_to(v);
            if v % 10 == 0 || v % 10 == 9 || v < 200 {
                check(&t, v);
            }
        }
        for (from, to) in [(9, 10), (99_999, 100_000), (999, 1_000_000), (5, 5)] {
            t.move_to(from);
            t.move_to(to);
            check(&t, to);
        }
    }

    #[test]
    fn values_have_the_configured_width() {
        for size in [0, 1, 3, 4, 8, 25] {
            let names: Arc<[String]> = (1..=4).map(|i| format!("f{i}")).collect();
            let mut producer = Generator::new(names, size, Rng::new(1));
            for _ in 0..500 {
                let u = producer.next();
                for (name, value) in u.iter() {
                    if name.starts_with('f') {
                        assert_eq!(value.map(str::len), Some(size), "{name} {value:?}");
                    }
                }
            }
            if size >= 4 {
                assert_eq!(producer.text(0).as_bytes()[size - 3], b'.');
            }
        }
    }

    #[test]
    fn values_are_their_number_with_two_decimals() {
        for size in 4..=20 {
            let names: Arc<[String]> = (1..=3).map(|i| format!("f{i}")).collect();
            let mut producer = Generator::new(names, size, Rng::new(size as u64));
            let modulus = producer.modulus;
            for v in [0, 1, 99, 100, 12_345 % modulus, modulus / 3, modulus - 1] {
                producer.values[1] = v;
                producer.write_value(1);
                let want = format!("{:0w$}.{:02}", v / 100, v % 100, w = size - 3);
                assert_eq!(producer.text(1), want, "size {size}, value {v}");
            }
        }
    }

    #[test]
    fn generator_is_deterministic_and_realistic() {
        let names: Arc<[String]> = (1..=8).map(|i| format!("f{i}")).collect();
        let mut a = Generator::new(names.clone(), 8, Rng::new(5));
        let mut b = Generator::new(names, 8, Rng::new(5));
        let first: Vec<String> = a.next().iter().map(|(n, _)| n.to_owned()).collect();
        b.next();
        assert_eq!(first.len(), 10, "the first update sets every field");
        let mut counts = [0usize; 8];
        let mut row: Vec<Option<String>> = vec![None; 8];
        for _ in 0..1000 {
            let fa: Vec<_> = a
                .next()
                .iter()
                .map(|(n, v)| (n.to_owned(), v.map(str::to_owned)))
                .collect();
            let fb: Vec<_> = b
                .next()
                .iter()
                .map(|(n, v)| (n.to_owned(), v.map(str::to_owned)))
                .collect();
            assert_eq!(fa[1..], fb[1..], "the same but for the clock");
            assert_eq!((fa[0].0.as_str(), fa[1].0.as_str()), ("ts", "seq"));
            assert_eq!(fa[2].0, "f1", "f1 is always in the update");
            let mut last = 0;
            for (name, value) in &fa[2..] {
                let k: usize = name[1..].parse().expect("f<k>");
                assert!(k > last, "payload fields in order: {fa:?}");
                last = k;
                let value = value.clone().expect("never null");
                assert_eq!(value.len(), 8);
                assert_ne!(
                    row[k - 1].as_ref(),
                    Some(&value),
                    "only changed fields are set"
                );
                row[k - 1] = Some(value);
                counts[k - 1] += 1;
            }
        }
        assert_eq!(counts[0], 1000);
        for c in &counts[1..] {
            assert!((400..=600).contains(c), "{counts:?}");
        }
    }

    /// Hands out the feed of the item subscribed, for a test to push into.
    #[derive(Default, Clone)]
    struct Capture(Arc<Mutex<Option<ItemFeed>>>);

    impl DataAdapter for Capture {
        fn subscribe(&self, _item: &str, feed: ItemFeed) -> Result<(), Refusal> {
            *lock(&self.0) = Some(feed);
            Ok(())
        }
        fn unsubscribe(&self, _item: &str) {}
    }

    #[test]
    fn push_writes_the_fields_of_the_update() {
        // `push` writes into the item's row what `next` describes: a twin generator's
        // updates applied to a model of the row give the row the listener gets.
        let names: Arc<[String]> = (1..=5).map(|i| format!("f{i}")).collect();
        let capture = Capture::default();
        let sub = Sub::new(capture.clone(), "x", &schema(5), Mode::Raw);
        let feed = lock(&capture.0).clone().expect("subscribed");
        let mut pushed = Generator::new(names.clone(), 6, Rng::new(9));
        let mut twin = Generator::new(names, 6, Rng::new(9));
        let mut model: HashMap<String, String> = HashMap::new();
        for k in 0..300u128 {
            let now = 1_700_000_000_000_000_000 + k * 1_000;
            pushed.push(&feed, now);
            let update = twin.next();
            for (name, value) in update.iter() {
                if name != "ts" {
                    model.insert(name.to_owned(), value.expect("never null").to_owned());
                }
            }
            let events = sub.take();
            let row = events
                .last()
                .and_then(Ev::row)
                .expect("one update per push");
            assert_eq!(sub.field(row, "ts"), Some(now.to_string().as_str()));
            for (name, value) in &model {
                assert_eq!(sub.field(row, name), Some(value.as_str()), "update {k}");
            }
        }
    }

    #[test]
    fn a_replay_walks_its_recorded_states_there_and_back() {
        let names: Arc<[String]> = (1..=4).map(|i| format!("f{i}")).collect();
        let capture = Capture::default();
        let sub = Sub::new(capture.clone(), "x", &schema(4), Mode::Raw);
        let feed = lock(&capture.0).clone().expect("subscribed");
        let mut replay = Replay::new(Generator::new(names, 7, Rng::new(5)));
        let half = replay.half;
        assert!((32..=2048).contains(&half), "{half}");
        let payload = |sub: &Sub, e: &Ev| -> Vec<String> {
            let row = e.row().expect("row");
            (1..=4)
                .map(|f| sub.field(row, &format!("f{f}")).expect("set").to_owned())
                .collect()
        };
        // The first update, then two whole cycles and a bit.
        let mut rows = Vec::new();
        let mut last_ts = 0;
        for k in 0..=(4 * half + 10) {
            replay.push(&feed, 1_700_000_000_000_000_000 + k as u128);
            let events = sub.take();
            let e = events.last().expect("one update per push");
            assert_eq!(num(&sub, e, "seq"), k as u128 + 1);
            let ts = num(&sub, e, "ts");
            assert!(ts > last_ts);
            last_ts = ts;
            rows.push(payload(&sub, e));
        }
        for (k, row) in rows.iter().enumerate() {
            assert!(
                row.iter().all(|v| v.len() == 7 && v.as_bytes()[4] == b'.'),
                "{row:?}"
            );
            // Forward to state `half`, then back: row `k` is row `2 * half - k`, and
            // the cycle repeats with a period of `2 * half` steps.
            if k <= 2 * half {
                assert_eq!(row, &rows[2 * half - k], "step {k}");
            }
            if k + 2 * half < rows.len() {
                assert_eq!(row, &rows[k + 2 * half], "step {k}");
            }
            if k > 0 {
                // `f1` moves at every step; the others about half of the time.
                assert_ne!(row[0], rows[k - 1][0], "step {k}");
            }
        }
        let moved = (1..rows.len())
            .flat_map(|k| (1..4).map(move |f| (k, f)))
            .filter(|&(k, f)| rows[k][f] != rows[k - 1][f])
            .count();
        let total = (rows.len() - 1) * 3;
        assert!(
            moved * 10 > total * 3 && moved * 10 < total * 7,
            "{moved} of {total}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fixed_rate_in_virtual_time() {
        let feed = Feed::new(1, config(FeedRate::PerSecond(50.0), 8, 8));
        let sub = Sub::new(feed, "bench1", &schema(8), Mode::Merge);
        assert!(sub.take().is_empty(), "no snapshot (MERGE gets no EOS)");
        tokio::time::sleep(Duration::from_secs(10)).await;
        let events = sub.take();
        assert!((499..=501).contains(&events.len()), "{}", events.len());
        let mut last_ts = 0;
        for (i, e) in events.iter().enumerate() {
            assert!(!e.is_snapshot());
            assert_eq!(num(&sub, e, "seq"), i as u128 + 1);
            let ts = num(&sub, e, "ts");
            assert!(ts > last_ts);
            last_ts = ts;
            let row = e.row().expect("row");
            for f in 1..=8 {
                assert_eq!(sub.field(row, &format!("f{f}")).map(str::len), Some(8));
            }
        }
        let epoch_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        assert!(last_ts <= epoch_ns && last_ts > epoch_ns - 60_000_000_000);
        // Some payload fields changed, some did not, between consecutive updates.
        let (a, b) = (
            events[10].row().expect("row"),
            events[11].row().expect("row"),
        );
        let same = (1..=8)
            .filter(|f| sub.field(a, &format!("f{f}")) == sub.field(b, &format!("f{f}")))
            .count();
        assert_ne!(sub.field(a, "f1"), sub.field(b, "f1"));
        assert!(same < 8);
    }

    #[tokio::test(start_paused = true)]
    async fn high_rate_pushes_several_per_tick() {
        let feed = Feed::new(1, config(FeedRate::PerSecond(5000.0), 2, 4));
        let sub = Sub::new(feed.clone(), "x", &schema(2), Mode::Raw);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let n = sub.take().len();
        assert!((9_990..=10_010).contains(&n), "{n}");
        // Fractional rates keep their long-run pace too.
        let slow = Feed::new(1, config(FeedRate::PerSecond(0.5), 1, 8));
        let sub2 = Sub::new(slow, "y", &schema(1), Mode::Merge);
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert_eq!(sub2.take().len(), 30);
        assert_eq!(feed.running("x"), 1);
        sub.release();
        assert_eq!(feed.running("x"), 0);
    }

    /// The feed with a lower item cap, for the test.
    struct Capped(Feed, usize);

    impl DataAdapter for Capped {
        fn subscribe(&self, item: &str, feed: ItemFeed) -> Result<(), Refusal> {
            self.0.subscribe_within(item, feed, self.1)
        }

        fn unsubscribe(&self, item: &str) {
            self.0.unsubscribe(item);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn items_beyond_the_cap_are_refused_until_one_ends() {
        let feed = Feed::new(1, config(FeedRate::PerSecond(10.0), 1, 4));
        let a = Sub::new(Capped(feed.clone(), 2), "a", "seq", Mode::Merge);
        let _b = Sub::new(Capped(feed.clone(), 2), "b", "seq", Mode::Merge);
        let refused = Sub::try_new(Capped(feed.clone(), 2), "c", "seq", Mode::Merge)
            .err()
            .expect("a third item is refused");
        assert_eq!(refused.code, TOO_MANY_ITEMS);
        assert_eq!(feed.running("c"), 0, "no producer started for it");
        // An item already produced is not a new one.
        let again = Sub::try_new(Capped(feed.clone(), 2), "a", "seq", Mode::Merge);
        assert!(again.is_ok());
        again.map(Sub::release).ok();
        a.release();
        let c = Sub::try_new(Capped(feed.clone(), 2), "c", "seq", Mode::Merge);
        assert!(c.is_ok(), "room again once an item ended");
        assert_eq!(feed.running("c"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_rate_pushes_nothing() {
        let feed = Feed::new(1, config(FeedRate::PerSecond(0.0), 2, 4));
        let sub = Sub::new(feed.clone(), "x", &schema(2), Mode::Distinct);
        assert_eq!(sub.take(), vec![Ev::Eos]);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(sub.take().is_empty());
        assert_eq!(feed.running("x"), 0);
    }

    #[tokio::test]
    async fn as_fast_stops_when_the_item_is_inactive() {
        let feed = Feed::new(2, config(FeedRate::AsFastAsPossible, 3, 6));
        let sub = Sub::new(NoUnsubscribe(feed.clone()), "fast", &schema(3), Mode::Raw);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let events = sub.take();
        assert!(events.len() >= 16 * 5, "{}", events.len());
        assert_eq!(num(&sub, &events[0], "seq"), 1);
        assert_eq!(feed.running("fast"), 1);
        // The adapter is not told; the producer notices on its own.
        sub.release();
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        assert_eq!(feed.running("fast"), 0);
    }

    #[tokio::test]
    async fn as_fast_waits_for_slow_subscribers() {
        let feed = Feed::new(2, config(FeedRate::AsFastAsPossible, 3, 6));
        let sub = Sub::new(feed.clone(), "fast", &schema(3), Mode::Raw);
        let drained = Arc::new(Notify::new());
        sub.set_congestion(Some(drained.clone()));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(sub.take().len(), 16, "one batch, then waits");
        sub.set_congestion(None);
        drained.notify_waiters();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let events = sub.take();
        assert!(events.len() >= 16 * 5);
        // A clock read per lap, `ts` increasing with every update and never ahead of the
        // clock.
        let ts: Vec<u128> = events.iter().map(|e| num(&sub, e, "ts")).collect();
        assert!(ts.windows(2).all(|w| w[1] > w[0]), "{ts:?}");
        let epoch_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        assert!(ts[0] > epoch_ns - 60_000_000_000 && ts[ts.len() - 1] <= epoch_ns);
        // Unsubscribing stops a producer even while it waits for a gone subscriber.
        sub.set_congestion(Some(drained));
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(feed.running("fast"), 1);
        sub.release();
        tokio::task::yield_now().await;
        assert_eq!(feed.running("fast"), 0);
    }
}
