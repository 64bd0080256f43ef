//! [`Row`]: the current values of an item's fields, and the decoder of `U` value lists.

use std::fmt;

use super::{ChangedFields, FieldError, diff, patch};
use crate::percent;

/// Where a value lives in a [`Values`] buffer; `start > end` means null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    start: usize,
    end: usize,
}

impl Span {
    const NULL: Span = Span { start: 1, end: 0 };

    #[inline]
    fn is_null(self) -> bool {
        self.start > self.end
    }
}

/// A list of nullable strings stored in one buffer: one `String` and one `Vec` whatever the
/// number of fields, reused across updates (`clear` keeps the capacity). The rows of COMMAND
/// keys are kept this way.
#[derive(Debug, Clone, Default)]
pub(crate) struct Values {
    buf: String,
    spans: Vec<Span>,
}

impl Values {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&str> {
        let s = *self.spans.get(index)?;
        if s.is_null() {
            None
        } else {
            self.buf.get(s.start..s.end)
        }
    }

    #[inline]
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
    }

    #[inline]
    pub(crate) fn push(&mut self, value: Option<&str>) {
        match value {
            None => self.spans.push(Span::NULL),
            Some(v) => {
                let start = self.buf.len();
                self.buf.push_str(v);
                self.spans.push(Span {
                    start,
                    end: self.buf.len(),
                });
            }
        }
    }
}

/// One field of a [`Row`]: its text, and whether it is null (the text is then empty, its
/// capacity kept).
#[derive(Debug, Clone, Default)]
struct Slot {
    text: String,
    null: bool,
}

impl Slot {
    const NULL: Slot = Slot {
        text: String::new(),
        null: true,
    };

    #[inline]
    fn get(&self) -> Option<&str> {
        (!self.null).then_some(self.text.as_str())
    }

    /// Whether the slot holds exactly `value` (`None`: null).
    #[inline]
    fn is(&self, value: Option<&[u8]>) -> bool {
        match value {
            None => self.null,
            Some(v) => !self.null && eq_bytes(self.text.as_bytes(), v),
        }
    }

    /// Sets the value; returns whether it changed.
    #[inline]
    fn set(&mut self, value: Option<&str>) -> bool {
        if self.is(value.map(str::as_bytes)) {
            return false;
        }
        self.text.clear();
        match value {
            None => self.null = true,
            Some(v) => {
                self.text.push_str(v);
                self.null = false;
            }
        }
        true
    }
}

/// What a field becomes, decided before anything changes (the general decoder).
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Unchanged.
    Keep,
    /// Null.
    Null,
    /// The text at these offsets of the value list (the empty string: an empty range).
    Line(usize, usize),
    /// The text at these offsets of the row's buffer of decoded values.
    Decoded(usize, usize),
}

/// The current values of an item's fields.
///
/// [`apply`](Self::apply) decodes a `U` value list against these values. Each field keeps
/// its own string, overwritten in place when the field changes (unchanged fields cost
/// nothing); once each has grown to the longest value it held, applying updates allocates
/// nothing. A list is checked whole before any field changes, so an update that fails
/// leaves the row untouched. The row holds its values and nothing more (null values and
/// shorter values keep their strings' capacity).
#[derive(Clone)]
pub struct Row {
    slots: Vec<Slot>,
    set: bool,
    /// The general decoder's plan: one step per field.
    plan: Vec<Step>,
    /// Values decoded by the general decoder (escapes, `^T`, `^P`), that the plan refers to.
    decoded: String,
    /// A percent-decoded `^T` / `^P` payload.
    scratch: String,
}

impl Row {
    /// A row of `fields` fields that has never been set (all null).
    pub fn new(fields: usize) -> Self {
        Self {
            slots: vec![Slot::NULL; fields],
            set: false,
            plan: Vec::new(),
            decoded: String::new(),
            scratch: String::new(),
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the row has no field at all.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether the row ever received values (an update decoding against it may then use
    /// unchanged entries).
    pub fn is_set(&self) -> bool {
        self.set
    }

    /// The value of field `index` (0-based); `None` when it is null, when the row was never
    /// set, or beyond the last field.
    #[inline]
    pub fn get(&self, index: usize) -> Option<&str> {
        self.slots.get(index)?.get()
    }

    /// The value of the field at 1-based `position`, as numbered on the wire; `None` when it
    /// is null, for position 0 and beyond the last field.
    pub fn value(&self, position: usize) -> Option<&str> {
        self.get(position.checked_sub(1)?)
    }

    /// The values in field order (`None` = null).
    pub fn iter(&self) -> RowIter<'_> {
        RowIter {
            slots: self.slots.iter(),
        }
    }

    /// The values as owned strings.
    pub fn to_vec(&self) -> Vec<Option<String>> {
        self.iter().map(|v| v.map(str::to_owned)).collect()
    }

    /// Bytes held for the current values.
    #[cfg(test)]
    pub(crate) fn buffer_len(&self) -> usize {
        self.slots.iter().map(|s| s.text.len()).sum()
    }

    /// Forgets the values: all null, never set. Keeps the buffers.
    pub fn clear(&mut self) {
        for s in &mut self.slots {
            s.text.clear();
            s.null = true;
        }
        self.set = false;
    }

    /// Sets every field (`values` must yield exactly one value per field) and records in
    /// `changed` the fields whose value differs from the previous one (every field, when the
    /// row was never set). On error the row is unchanged and `changed` is empty.
    pub fn set_values<'v, I>(
        &mut self,
        values: I,
        changed: &mut ChangedFields,
    ) -> Result<(), FieldError>
    where
        I: IntoIterator<Item = Option<&'v str>>,
    {
        let n = self.len();
        changed.reset(n);
        self.plan.clear();
        self.decoded.clear();
        for v in values {
            let i = self.plan.len();
            if i == n {
                return Err(FieldError::TooManyValues {
                    position: i + 1,
                    fields: n,
                });
            }
            self.plan.push(match v {
                None => Step::Null,
                Some(v) => {
                    let start = self.decoded.len();
                    self.decoded.push_str(v);
                    Step::Decoded(start, self.decoded.len())
                }
            });
        }
        if self.plan.len() != n {
            return Err(FieldError::TooFewValues {
                found: self.plan.len(),
                fields: n,
            });
        }
        self.execute("", changed);
        Ok(())
    }

    /// Applies the value list of a `U` notification (the text after `U,<sub>,<item>,`,
    /// without line terminator) and records in `changed` the fields whose value differs from
    /// the previous one (every field on the first update).
    ///
    /// Atomic: on error the row is exactly as before and `changed` is empty.
    ///
    /// ```
    /// # use tlcp_proto::fields::{ChangedFields, Row};
    /// let mut row = Row::new(4);
    /// let mut changed = ChangedFields::new();
    /// row.apply("1|#|$|%23x", &mut changed)?;
    /// assert_eq!(row.to_vec(), [Some("1".into()), None, Some("".into()), Some("#x".into())]);
    /// row.apply("2|^3", &mut changed)?;
    /// assert_eq!(row.get(0), Some("2"));
    /// assert!(row.apply("3", &mut changed).is_err()); // too few values
    /// assert_eq!(row.get(0), Some("2"));
    /// # Ok::<(), tlcp_proto::fields::FieldError>(())
    /// ```
    pub fn apply(&mut self, encoded: &str, changed: &mut ChangedFields) -> Result<(), FieldError> {
        let n = self.len();
        changed.reset(n);
        if self.set
            && let Some(low) = apply_common(&mut self.slots, &mut self.scratch, encoded)
        {
            changed.insert_first_64(low);
            return Ok(());
        }
        self.plan(encoded)?;
        self.execute(encoded, changed);
        Ok(())
    }

    /// [`apply`](Self::apply) without its fast path (`apply_common`): the reference the
    /// fast path is tested against.
    #[cfg(test)]
    pub(crate) fn apply_general(
        &mut self,
        encoded: &str,
        changed: &mut ChangedFields,
    ) -> Result<(), FieldError> {
        changed.reset(self.len());
        self.plan(encoded)?;
        self.execute(encoded, changed);
        Ok(())
    }

    /// The general decoder, first half: checks the whole list and decides what each field
    /// becomes ([`Step`]s, decoded values in `self.decoded`), changing no field.
    fn plan(&mut self, encoded: &str) -> Result<(), FieldError> {
        let Self {
            slots,
            set,
            plan,
            decoded,
            scratch,
        } = self;
        let set = *set;
        let n = slots.len();
        plan.clear();
        decoded.clear();
        let bytes = encoded.as_bytes();
        let mut pos = 0; // byte offset of the entry
        loop {
            let (end, escaped) = scan(bytes, pos);
            let i = plan.len(); // index of the field the entry starts at
            let position = i + 1;
            if i >= n {
                return Err(FieldError::TooManyValues {
                    position,
                    fields: n,
                });
            }
            match &bytes[pos..end] {
                [] => {
                    if !set {
                        return Err(FieldError::NoPreviousValue { position });
                    }
                    plan.push(Step::Keep);
                }
                [b'#'] => plan.push(Step::Null),
                [b'$'] => plan.push(Step::Line(0, 0)),
                [b'^', kind @ (b'T' | b'P'), payload @ ..] => {
                    if !set {
                        return Err(FieldError::NoPreviousValue { position });
                    }
                    let old = slots[i].get().ok_or(FieldError::NullBase { position })?;
                    let step = apply_edit(*kind, payload, old, position, scratch, decoded)?;
                    plan.push(step);
                }
                [b'^', digits @ ..] => {
                    let count = parse_count(digits).ok_or(FieldError::BadSkip { position })?;
                    if !set {
                        return Err(FieldError::NoPreviousValue { position });
                    }
                    if count > n - i {
                        return Err(FieldError::SkipPastEnd {
                            position,
                            count,
                            fields: n,
                        });
                    }
                    plan.extend(std::iter::repeat_n(Step::Keep, count));
                }
                _ if escaped => {
                    let start = decoded.len();
                    percent::decode_str_into(&encoded[pos..end], decoded)
                        .map_err(|error| FieldError::BadEncoding { position, error })?;
                    plan.push(Step::Decoded(start, decoded.len()));
                }
                _ => plan.push(Step::Line(pos, end)),
            }
            if end == bytes.len() {
                break;
            }
            pos = end + 1;
        }
        if plan.len() != n {
            return Err(FieldError::TooFewValues {
                found: plan.len(),
                fields: n,
            });
        }
        Ok(())
    }

    /// The general decoder, second half: carries out the plan (`encoded` is the list that
    /// [`Step::Line`] refers to), marking the fields that change.
    fn execute(&mut self, encoded: &str, changed: &mut ChangedFields) {
        if !self.set {
            changed.insert_all();
        }
        let set = self.set;
        for (i, (slot, step)) in self.slots.iter_mut().zip(&self.plan).enumerate() {
            let value = match *step {
                Step::Keep => continue,
                Step::Null => None,
                Step::Line(a, b) => encoded.get(a..b),
                Step::Decoded(a, b) => self.decoded.get(a..b),
            };
            if slot.set(value) && set {
                changed.insert(i);
            }
        }
        self.set = true;
    }
}

/// The common case of [`Row::apply`], in one lean pass: a row already set, of at most 64
/// fields, a list of at most 128 bytes without `%` escapes nor `^P` entries, with at most
/// one `^T` entry, whose entries cover exactly the fields.
///
/// Checks all that on bit masks first, and applies the `^T` diff (if any) to `scratch`
/// (nothing changes until the list is known good), then applies the list and returns the
/// changed fields as a bit mask. `None`: the list is anything else, and [`Row::plan`]
/// takes it (and reports the error, if it is one).
#[inline]
fn apply_common(slots: &mut [Slot], scratch: &mut String, encoded: &str) -> Option<u64> {
    let n = slots.len();
    let bytes = encoded.as_bytes();
    let len = bytes.len();
    if n > 64 || len > 128 {
        return None;
    }
    // Bit k: byte k is a `|`, a `^` (gathered 8 bits a word, no wide shift); and whether
    // there is a `%`.
    let (mut sep_bits, mut caret_bits, mut pct) = ([0u8; 16], [0u8; 16], false);
    for (w, (s, c)) in sep_bits.iter_mut().zip(&mut caret_bits).enumerate() {
        let at = 8 * w;
        if at >= len {
            break;
        }
        let x = word_at(bytes, at);
        pct |= has_byte(x, b'%');
        *s = pack(eq_mask(x, b'|'));
        *c = pack(eq_mask(x, b'^'));
    }
    if pct {
        return None;
    }
    let seps = u128::from_le_bytes(sep_bits);
    let carets = u128::from_le_bytes(caret_bits);
    // Entries: one per separator plus one; `^N` entries stand for N fields.
    let mut fields = seps.count_ones() as usize + 1;
    // The fields that the `^N` entries seen so far stand for beyond one each.
    let mut extra = 0;
    // The `^T` entry, if any (at most one).
    let mut edit = None;
    let mut skips = carets & ((seps << 1) | 1);
    while skips != 0 {
        let k = skips.trailing_zeros() as usize;
        skips &= skips - 1;
        let after = seps & !((2u128 << k).wrapping_sub(1));
        let end = if after == 0 {
            len
        } else {
            after.trailing_zeros() as usize
        };
        if bytes.get(k + 1) == Some(&b'T') {
            if edit.is_some() {
                return None;
            }
            // (Its field: the entries before it, plus what `^N` entries stand for.)
            let before = if k == 0 {
                0
            } else {
                (seps & ((1u128 << k) - 1)).count_ones() as usize
            };
            let i = before + extra;
            // A null base is an error: the general decoder reports it.
            let old = slots.get(i)?.get()?;
            let payload = bytes.get(k + 2..end)?;
            edit = Some(match tail_edit(old.as_bytes(), payload) {
                Some((keep, added)) => Edit::Tail {
                    keep,
                    added: k + 2 + added..end,
                },
                None => {
                    scratch.clear();
                    diff::apply(old, encoded.get(k + 2..end)?, scratch).ok()?;
                    Edit::Scratch
                }
            });
        } else {
            let count = parse_count(bytes.get(k + 1..end)?)?;
            fields += count - 1;
            extra += count - 1;
        }
    }
    if fields != n {
        return None;
    }
    // The list is good: apply it. Nothing below can fail any more (the `?`s only spare
    // panicking code: the entries are known to be in range and well formed), so no field
    // changes unless the whole list applies.
    let mut changed = 0u64;
    let mut i = 0;
    let mut pos = 0;
    // The separators as two words: cheaper to walk than one `u128`.
    let (mut lo, mut hi) = (seps as u64, (seps >> 64) as u64);
    loop {
        let end = if lo != 0 {
            let k = lo.trailing_zeros() as usize;
            lo &= lo - 1;
            k
        } else if hi != 0 {
            let k = hi.trailing_zeros() as usize + 64;
            hi &= hi - 1;
            k
        } else {
            len
        };
        let entry = bytes.get(pos..end)?;
        match entry {
            [] => i += 1,
            [b'^', b'T', ..] => {
                let slot = slots.get_mut(i)?;
                match edit.take()? {
                    // In place: keep the start, replace the rest.
                    Edit::Tail { keep, added } => {
                        let added = encoded.get(added)?;
                        let tail = slot.text.as_bytes().get(keep..)?;
                        if !eq_bytes(tail, added.as_bytes()) {
                            changed |= 1 << i;
                            slot.text.truncate(keep);
                            slot.text.push_str(added);
                        }
                    }
                    // The new value, decoded above: take its buffer, give the old one for
                    // the next diff.
                    Edit::Scratch => {
                        if !eq_bytes(slot.text.as_bytes(), scratch.as_bytes()) {
                            changed |= 1 << i;
                            std::mem::swap(&mut slot.text, scratch);
                        }
                    }
                }
                i += 1;
            }
            [b'^', digits @ ..] => i += parse_count(digits)?,
            [b'#'] => {
                let slot = slots.get_mut(i)?;
                changed |= u64::from(!slot.null) << i;
                slot.text.clear();
                slot.null = true;
                i += 1;
            }
            [b'$'] => {
                let slot = slots.get_mut(i)?;
                changed |= u64::from(slot.null || !slot.text.is_empty()) << i;
                slot.text.clear();
                slot.null = false;
                i += 1;
            }
            _ => {
                let slot = slots.get_mut(i)?;
                if slot.null || !eq_bytes(slot.text.as_bytes(), entry) {
                    changed |= 1 << i;
                    slot.null = false;
                    slot.text.clear();
                    // Short values (most of them) are copied as 16 bytes then cut: no call
                    // to `memcpy` for a few bytes.
                    match encoded.get(pos..pos + 16) {
                        Some(wide) if entry.len() <= 16 => {
                            slot.text.push_str(wide);
                            slot.text.truncate(entry.len());
                        }
                        _ => slot.text.push_str(encoded.get(pos..end)?),
                    }
                }
                i += 1;
            }
        }
        if end == len {
            break;
        }
        pos = end + 1;
    }
    Some(changed)
}

/// How the fast path of [`Row::apply`] applies its `^T` entry.
#[derive(Debug)]
enum Edit {
    /// Keep the first `keep` bytes of the old value, then the bytes of the list at `added`.
    Tail {
        keep: usize,
        added: std::ops::Range<usize>,
    },
    /// The new value is in the row's scratch buffer.
    Scratch,
}

/// The commonest diff, recognised without building the value: *copy* `n` characters of
/// the old value, *add* what follows (up to the end of the diff), in ASCII (a count is then
/// a number of bytes). Returns the bytes of `old` kept and the offset of the added text in
/// `diff`; `None` for any other diff (including a bad one), which [`diff::apply`] takes.
#[inline]
fn tail_edit(old: &[u8], diff: &[u8]) -> Option<(usize, usize)> {
    let mut pos = 0;
    let keep = diff::read_count(diff, &mut pos).ok()?;
    if !old.get(..keep)?.is_ascii() {
        return None;
    }
    if pos == diff.len() {
        return Some((keep, pos));
    }
    let add = diff::read_count(diff, &mut pos).ok()?;
    let added = diff.get(pos..)?;
    (added.len() == add && added.is_ascii()).then_some((keep, pos))
}

/// Applies the `^T` (TLCP-diff) or `^P` (JSON Patch) `payload` to `old`, appending the new
/// value to `out`; the step that takes it from there. Out of line: edits are rare.
#[inline(never)]
fn apply_edit(
    kind: u8,
    payload: &[u8],
    old: &str,
    position: usize,
    scratch: &mut String,
    out: &mut String,
) -> Result<Step, FieldError> {
    scratch.clear();
    percent::decode_into(payload, scratch)
        .map_err(|error| FieldError::BadEncoding { position, error })?;
    let start = out.len();
    if kind == b'T' {
        diff::apply(old, scratch, out).map_err(|error| FieldError::BadDiff { position, error })?;
    } else {
        patch::apply(old, scratch, out)
            .map_err(|error| FieldError::BadPatch { position, error })?;
    }
    Ok(Step::Decoded(start, out.len()))
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOWS: u64 = 0x7F7F_7F7F_7F7F_7F7F;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The 8 bytes of `bytes` from `at` as a little-endian word, zero-padded past the end (a
/// zero byte is none of the bytes looked for).
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    if let Some(w) = bytes.get(at..at + 8) {
        return u64::from_le_bytes(w.try_into().unwrap_or_default());
    }
    let len = bytes.len();
    if let Some(w) = len.checked_sub(8).and_then(|from| bytes.get(from..)) {
        // The last 8 bytes, shifted so that byte `at` comes first: no copy.
        let x = u64::from_le_bytes(w.try_into().unwrap_or_default());
        return x.checked_shr(8 * (at + 8 - len) as u32).unwrap_or(0);
    }
    let mut w = [0u8; 8];
    for (d, s) in w.iter_mut().zip(bytes.get(at..).unwrap_or_default()) {
        *d = *s;
    }
    u64::from_le_bytes(w)
}

/// 0x80 in each byte of `x` equal to `c`, 0 elsewhere (exact: no carry between bytes).
#[inline(always)]
fn eq_mask(x: u64, c: u8) -> u64 {
    let y = x ^ (ONES * u64::from(c));
    !(((y & LOWS) + LOWS) | y | LOWS)
}

/// Whether some byte of `x` is `c`.
#[inline(always)]
fn has_byte(x: u64, c: u8) -> bool {
    let y = x ^ (ONES * u64::from(c));
    y.wrapping_sub(ONES) & !y & HIGHS != 0
}

/// The 0x80 bits of `m` (one per byte) gathered into 8 bits, in byte order: one multiply
/// moves bit 8j of `m >> 7` to bit 56 + j, and no two partial products overlap (no carry).
#[inline(always)]
fn pack(m: u64) -> u8 {
    ((m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8
}

/// The end of the entry starting at `pos` (the next `|`, or the end of the input), and
/// whether the entry holds a `%`. Reads eight bytes at a time (SWAR).
#[inline]
fn scan(bytes: &[u8], pos: usize) -> (usize, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut escaped = false;
    let mut i = pos;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w);
        let p = x ^ (ONES * u64::from(b'|'));
        let q = x ^ (ONES * u64::from(b'%'));
        // High bit set in the bytes that are zero in `p` or `q`; exact for the lowest one,
        // which is the only one used.
        let m = ((p.wrapping_sub(ONES) & !p) | (q.wrapping_sub(ONES) & !q)) & HIGHS;
        if m == 0 {
            i += 8;
            continue;
        }
        let at = i + (m.trailing_zeros() / 8) as usize;
        if bytes[at] == b'|' {
            return (at, escaped);
        }
        escaped = true;
        i = at + 1;
    }
    while i < bytes.len() {
        match bytes[i] {
            b'|' => return (i, escaped),
            b'%' => escaped = true,
            _ => {}
        }
        i += 1;
    }
    (bytes.len(), escaped)
}

/// Byte equality, without a call to `memcmp` for the short values that fields mostly hold
/// (names and values are compared on every update, by the decoder here and by servers).
///
/// ```
/// use tlcp_proto::fields::eq_bytes;
/// assert!(eq_bytes(b"3.04", b"3.04"));
/// assert!(!eq_bytes(b"20:04:16", b"20:04:40"));
/// ```
#[inline(always)]
pub fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    #[inline]
    fn word<const W: usize>(s: &[u8], at: usize) -> [u8; W] {
        let mut w = [0; W];
        w.copy_from_slice(&s[at..at + W]);
        w
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        _ => a == b,
    }
}

/// A `^N` count: decimal digits only, N >= 1.
#[inline]
fn parse_count(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() {
        return None;
    }
    let mut n: usize = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(usize::from(d - b'0'))?;
    }
    (n > 0).then_some(n)
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Row")
            .field("set", &self.set)
            .field("values", &self.iter().collect::<Vec<_>>())
            .finish()
    }
}

impl PartialEq for Row {
    fn eq(&self, other: &Self) -> bool {
        self.set == other.set && self.iter().eq(other.iter())
    }
}

impl Eq for Row {}

impl<'a> IntoIterator for &'a Row {
    type Item = Option<&'a str>;
    type IntoIter = RowIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over a row's values in field order, from [`Row::iter`].
#[derive(Debug, Clone)]
pub struct RowIter<'a> {
    slots: std::slice::Iter<'a, Slot>,
}

impl<'a> Iterator for RowIter<'a> {
    type Item = Option<&'a str>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.slots.next().map(Slot::get)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.slots.size_hint()
    }
}

impl ExactSizeIterator for RowIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_gathers_the_high_bits() {
        for bits in 0..=255u8 {
            let m = (0..8)
                .filter(|j| bits & (1 << j) != 0)
                .fold(0u64, |m, j| m | 0x80 << (8 * j));
            assert_eq!(pack(m), bits);
        }
    }
}
