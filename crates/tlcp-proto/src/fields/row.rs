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
/// number of fields, reused across updates (`clear` keeps the capacity).
#[derive(Debug, Clone, Default)]
pub(crate) struct Values {
    buf: String,
    spans: Vec<Span>,
}

impl Values {
    /// `n` null values.
    pub(crate) fn nulls(n: usize) -> Self {
        Self {
            buf: String::new(),
            spans: vec![Span::NULL; n],
        }
    }

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

    pub(crate) fn iter(&self) -> RowIter<'_> {
        RowIter {
            values: self,
            index: 0,
        }
    }
}

/// The current values of an item's fields.
///
/// [`apply`](Self::apply) decodes a `U` value list against these values. Storage is two
/// pairs of buffers (one string and one offset table each), the current values and the next
/// ones being decoded, swapped when an update succeeds: once they have grown to the size of
/// the item's values, applying updates allocates nothing, and an update that fails leaves the
/// row untouched. The string keeps the last line whole, plain values pointing into it, then
/// the unchanged and decoded values: at most the line plus one byte per value more than the
/// values themselves.
#[derive(Clone)]
pub struct Row {
    cur: Values,
    next: Values,
    scratch: String,
    set: bool,
}

impl Row {
    /// A row of `fields` fields that has never been set (all null).
    pub fn new(fields: usize) -> Self {
        Self {
            cur: Values::nulls(fields),
            next: Values::default(),
            scratch: String::new(),
            set: false,
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.cur.len()
    }

    /// Whether the row has no field at all.
    pub fn is_empty(&self) -> bool {
        self.cur.len() == 0
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
        self.cur.get(index)
    }

    /// The value of the field at 1-based `position`, as numbered on the wire; `None` when it
    /// is null, for position 0 and beyond the last field.
    pub fn value(&self, position: usize) -> Option<&str> {
        self.cur.get(position.checked_sub(1)?)
    }

    /// The values in field order (`None` = null).
    pub fn iter(&self) -> RowIter<'_> {
        self.cur.iter()
    }

    /// The values as owned strings.
    pub fn to_vec(&self) -> Vec<Option<String>> {
        self.iter().map(|v| v.map(str::to_owned)).collect()
    }

    /// Bytes held for the current values (values plus unused bytes of the last line).
    #[cfg(test)]
    pub(crate) fn buffer_len(&self) -> usize {
        self.cur.buf.len()
    }

    /// Forgets the values: all null, never set. Keeps the buffers.
    pub fn clear(&mut self) {
        let n = self.cur.len();
        self.cur.buf.clear();
        self.cur.spans.clear();
        self.cur.spans.resize(n, Span::NULL);
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
        self.next.clear();
        changed.reset(n);
        for v in values {
            let i = self.next.len();
            if i == n {
                changed.reset(n);
                return Err(FieldError::TooManyValues {
                    position: i + 1,
                    fields: n,
                });
            }
            self.next.push(v);
            if !self.set || self.cur.get(i) != v {
                changed.insert(i);
            }
        }
        if self.next.len() != n {
            changed.reset(n);
            return Err(FieldError::TooFewValues {
                found: self.next.len(),
                fields: n,
            });
        }
        self.commit();
        Ok(())
    }

    #[inline]
    fn commit(&mut self) {
        std::mem::swap(&mut self.cur, &mut self.next);
        self.set = true;
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
        // The spans are all written by `decode` on success: sized once, not cleared.
        self.next.buf.clear();
        if self.next.spans.len() != n {
            self.next.spans.clear();
            self.next.spans.resize(n, Span::NULL);
        }
        if self.set
            && let Some(low) = decode_common(&self.cur, &mut self.next, encoded)
        {
            changed.insert_first_64(low);
            self.commit();
            return Ok(());
        }
        self.next.buf.clear();
        match self.decode(encoded, changed) {
            Ok(()) => {
                self.commit();
                Ok(())
            }
            Err(e) => {
                changed.reset(n);
                Err(e)
            }
        }
    }

    /// Decodes `encoded` into `self.next`, marking changes; leaves `self.cur` alone.
    ///
    /// The next buffer starts with a copy of the whole line, so that a plain value is just a
    /// span of it (one copy for the line instead of one per field). Unchanged values are
    /// copied from the current buffer after it, consecutive ones together; escaped, diffed and
    /// patched values are decoded after it. The unused bytes of the line (separators, `#`,
    /// escapes) stay in the buffer: bounded by the line's length, never accumulated.
    ///
    /// The spans are written by index into a table sized once. The common case goes a
    /// leaner way first ([`decode_common`]).
    fn decode(&mut self, encoded: &str, changed: &mut ChangedFields) -> Result<(), FieldError> {
        let Self {
            cur,
            next,
            scratch,
            set,
        } = self;
        let set = *set;
        let n = cur.len();
        if !set {
            changed.insert_all();
        }
        // Changes of the first 64 fields gather here, stored once at the end.
        let mut low = 0u64;
        let bytes = encoded.as_bytes();
        next.buf.push_str(encoded);
        let Values { buf: out, spans } = next;
        let spans = spans.get_mut(..n).unwrap_or_default();
        if spans.len() != n {
            return Err(FieldError::TooFewValues {
                found: 0,
                fields: n,
            }); // unreachable: sized by `apply`
        }
        let cur_spans = &cur.spans[..n];
        let cur_buf = cur.buf.as_str();
        let mut run = Run::default();
        let mut i = 0; // index of the field the entry starts at
        let mut pos = 0; // byte offset of the entry
        loop {
            let (end, escaped) = scan(bytes, pos);
            if i >= n {
                return Err(FieldError::TooManyValues {
                    position: i + 1,
                    fields: n,
                });
            }
            let entry = &bytes[pos..end];
            match entry {
                // The common cases first: a plain value, an unchanged field.
                [c, ..] if !escaped && !matches!(c, b'#' | b'$' | b'^') => {
                    spans[i] = Span { start: pos, end };
                    if set && !is_value(cur_buf, cur_spans[i], entry) {
                        mark(&mut low, changed, i);
                    }
                    i += 1;
                }
                [] => {
                    if !set {
                        return Err(FieldError::NoPreviousValue { position: i + 1 });
                    }
                    spans[i] = run.copy_one(cur_spans[i], cur_buf, out);
                    i += 1;
                }
                [b'#'] => {
                    spans[i] = Span::NULL;
                    if set && !cur_spans[i].is_null() {
                        mark(&mut low, changed, i);
                    }
                    i += 1;
                }
                [b'$'] => {
                    spans[i] = Span { start: 0, end: 0 };
                    let old = cur_spans[i];
                    if set && (old.is_null() || old.start != old.end) {
                        mark(&mut low, changed, i);
                    }
                    i += 1;
                }
                [b'^', kind @ (b'T' | b'P'), payload @ ..] => {
                    let position = i + 1;
                    if !set {
                        return Err(FieldError::NoPreviousValue { position });
                    }
                    let old = cur.get(i).ok_or(FieldError::NullBase { position })?;
                    run.flush(cur_buf, out);
                    let s = apply_edit(*kind, payload, old, position, scratch, out)?;
                    spans[i] = s;
                    if !is_value(out, s, old.as_bytes()) {
                        mark(&mut low, changed, i);
                    }
                    i += 1;
                }
                [b'^', digits @ ..] => {
                    let position = i + 1;
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
                    let to = &mut spans[i..i + count];
                    for (slot, &s) in to.iter_mut().zip(&cur_spans[i..i + count]) {
                        *slot = run.copy_one(s, cur_buf, out);
                    }
                    i += count;
                }
                _ => {
                    // A value with escapes (or, when `escaped` is false, a value that
                    // begins with `#`, `$` or `^` but is none of the entries above, which
                    // the encoder never writes).
                    run.flush(cur_buf, out);
                    let s = decode_value(encoded.get(pos..end).unwrap_or_default(), i + 1, out)?;
                    spans[i] = s;
                    if set
                        && !is_value(
                            cur_buf,
                            cur_spans[i],
                            out.as_bytes().get(s.start..s.end).unwrap_or_default(),
                        )
                    {
                        mark(&mut low, changed, i);
                    }
                    i += 1;
                }
            }
            if end == bytes.len() {
                break;
            }
            pos = end + 1;
        }
        if i != n {
            return Err(FieldError::TooFewValues {
                found: i,
                fields: n,
            });
        }
        run.flush(cur_buf, out);
        changed.insert_first_64(low);
        Ok(())
    }
}

/// The common case of [`Row::apply`] in one lean loop: a row already set, of at most 64
/// fields, a list without `%` escapes nor `^T` / `^P` entries, that decodes without error.
///
/// Fills `next` as [`Row::decode`] would and returns the changed fields as a bit mask; as
/// soon as the list is anything else, returns `None` (what it wrote in `next` is then to be
/// discarded, and the list decoded by [`Row::decode`], which says exactly what is wrong).
#[inline]
fn decode_common(cur: &Values, next: &mut Values, encoded: &str) -> Option<u64> {
    let n = cur.spans.len();
    if n > 64 {
        return None;
    }
    let bytes = encoded.as_bytes();
    let len = bytes.len();
    // The `|` of the 8-byte word at `at` not taken yet, as 0x80 bits; a `%` anywhere sends
    // the list to the general decoder.
    let load = |at: usize| {
        let x = word_at(bytes, at);
        (!has_byte(x, b'%')).then(|| eq_mask(x, b'|'))
    };
    let mut at = 0;
    let mut seps = if len > 0 { load(0)? } else { 0 };
    let cur_buf = cur.buf.as_str();
    let cur_spans = cur.spans.as_slice();
    let Values { buf: out, spans } = next;
    let spans = spans.get_mut(..n)?;
    out.push_str(encoded);
    let mut changed = 0u64;
    let mut i = 0; // index of the field the entry starts at
    let mut pos = 0; // byte offset of the entry
    // The pending copy of unchanged values: `cur_buf[lo..hi]`, to land at `out[base..]`
    // (`hi == usize::MAX`: none).
    let (mut lo, mut hi, mut base) = (0, usize::MAX, 0);
    loop {
        let end = loop {
            if seps != 0 {
                let k = (seps.trailing_zeros() / 8) as usize;
                seps &= seps - 1;
                break at + k;
            }
            at += 8;
            if at >= len {
                break len;
            }
            seps = load(at)?;
        };
        if i >= n {
            return None;
        }
        let entry = bytes.get(pos..end)?;
        let (from, count) = match entry {
            [] => (i, 1),
            [b'^', digits @ ..] => {
                let count = parse_count(digits)?;
                if count > n - i {
                    return None;
                }
                (i, count)
            }
            [b'#'] => {
                spans[i] = Span::NULL;
                changed |= u64::from(!cur_spans[i].is_null()) << i;
                (i + 1, 0)
            }
            [b'$'] => {
                spans[i] = Span { start: 0, end: 0 };
                let old = cur_spans[i];
                changed |= u64::from(old.is_null() || old.start != old.end) << i;
                (i + 1, 0)
            }
            _ => {
                spans[i] = Span { start: pos, end };
                changed |= u64::from(!is_value(cur_buf, cur_spans[i], entry)) << i;
                (i + 1, 0)
            }
        };
        // Unchanged values: copied, consecutive ones (one byte apart at most) together.
        for k in from..from + count {
            let s = cur_spans[k];
            if s.is_null() {
                spans[k] = s;
                continue;
            }
            if !(s.start >= hi && s.start - hi <= 1) {
                if hi != usize::MAX {
                    out.push_str(&cur_buf[lo..hi]);
                }
                lo = s.start;
                base = out.len();
            }
            hi = s.end;
            let at = base + (s.start - lo);
            spans[k] = Span {
                start: at,
                end: at + (s.end - s.start),
            };
        }
        i = from + count;
        if end == len {
            break;
        }
        pos = end + 1;
    }
    if i != n {
        return None;
    }
    if hi != usize::MAX {
        out.push_str(&cur_buf[lo..hi]);
    }
    Some(changed)
}

/// Appends the percent-decoded `entry` to `out`; its span there. Out of line: escapes are
/// rare, and the loop of [`Row::decode`] keeps its registers.
#[inline(never)]
fn decode_value(entry: &str, position: usize, out: &mut String) -> Result<Span, FieldError> {
    let start = out.len();
    percent::decode_str_into(entry, out)
        .map_err(|error| FieldError::BadEncoding { position, error })?;
    Ok(Span {
        start,
        end: out.len(),
    })
}

/// Applies the `^T` (TLCP-diff) or `^P` (JSON Patch) `payload` to `old`, appending the new
/// value to `out`; its span there.
#[inline(never)]
fn apply_edit(
    kind: u8,
    payload: &[u8],
    old: &str,
    position: usize,
    scratch: &mut String,
    out: &mut String,
) -> Result<Span, FieldError> {
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
    Ok(Span {
        start,
        end: out.len(),
    })
}

/// Whether the value with span `s` in `buf` is the (non-null) value `new`.
#[inline(always)]
fn is_value(buf: &str, s: Span, new: &[u8]) -> bool {
    !s.is_null()
        && buf
            .as_bytes()
            .get(s.start..s.end)
            .is_some_and(|old| eq_bytes(old, new))
}

#[inline(always)]
fn mark(low: &mut u64, changed: &mut ChangedFields, i: usize) {
    if i < 64 {
        *low |= 1 << i;
    } else {
        changed.insert(i);
    }
}

/// A pending copy of bytes `lo..hi` of the current buffer, to be appended to the next buffer
/// at `base` (nothing else is appended while it is pending), so that consecutive unchanged
/// values cost one copy.
#[derive(Debug, Default)]
struct Run {
    pending: bool,
    lo: usize,
    hi: usize,
    base: usize,
}

impl Run {
    #[inline]
    fn flush(&mut self, cur: &str, out: &mut String) {
        if self.pending {
            out.push_str(&cur[self.lo..self.hi]);
            self.pending = false;
        }
    }

    /// Makes the run cover `lo..hi` of the current buffer and returns where byte `lo` will
    /// land in the next one. A run extends over at most one unused byte per value.
    #[inline]
    fn place(&mut self, lo: usize, hi: usize, cur: &str, out: &mut String) -> usize {
        if !(self.pending && lo >= self.hi && lo - self.hi <= 1) {
            self.flush(cur, out);
            self.pending = true;
            self.lo = lo;
            self.base = out.len();
        }
        self.hi = hi;
        self.base + (lo - self.lo)
    }

    /// The span, in the next buffer, of the current value with span `s` (copied there).
    #[inline(always)]
    fn copy_one(&mut self, s: Span, cur: &str, out: &mut String) -> Span {
        if s.is_null() {
            s
        } else {
            let at = self.place(s.start, s.end, cur, out);
            Span {
                start: at,
                end: at + (s.end - s.start),
            }
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOWS: u64 = 0x7F7F_7F7F_7F7F_7F7F;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The 8 bytes of `bytes` from `at` as a little-endian word, zero-padded past the end
/// (a zero byte is neither `|` nor `%`). `at` must be below `bytes.len()`.
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    if let Some(w) = bytes.get(at..at + 8) {
        return u64::from_le_bytes(w.try_into().unwrap_or_default());
    }
    let len = bytes.len();
    if let Some(w) = len.checked_sub(8).and_then(|from| bytes.get(from..)) {
        // The last 8 bytes, shifted so that byte `at` comes first: no copy.
        let x = u64::from_le_bytes(w.try_into().unwrap_or_default());
        return x >> (8 * (at + 8 - len));
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

/// Byte equality, without a call to `memcmp` for the short values that fields mostly hold.
#[inline]
fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
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
            .field("values", &self.cur.iter().collect::<Vec<_>>())
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
    values: &'a Values,
    index: usize,
}

impl<'a> Iterator for RowIter<'a> {
    type Item = Option<&'a str>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.values.len() {
            return None;
        }
        self.index += 1;
        Some(self.values.get(self.index - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.values.len().saturating_sub(self.index);
        (left, Some(left))
    }
}

impl ExactSizeIterator for RowIter<'_> {}
