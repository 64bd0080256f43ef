//! The encoder of `U` value lists (server side).

use super::{FieldValues, diff, patch};
use crate::ProtocolVersion;
use crate::percent::{encode_field_value, is_plain_field_value};

/// Values shorter than this are always sent whole: no `^T`/`^P` attempt.
const MIN_DIFF_LEN: usize = 12;

/// Values that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The previous and new values have different numbers of fields.
    #[error("the previous values have {previous} fields, the new ones {new}")]
    FieldCountMismatch {
        /// Number of previous values.
        previous: usize,
        /// Number of new values.
        new: usize,
    },
    /// No field at all: a `U` value list always has at least one.
    #[error("a row without fields cannot be encoded")]
    NoFields,
}

/// Encodes the value list of a `U` notification from an item's previous and new values.
///
/// Output is compact, and decodes back exactly with [`Row::apply`](super::Row::apply):
///
/// * a field equal to its previous value is unchanged (an empty entry); a run of unchanged
///   fields is written `^N` only when that is strictly shorter than the run of empty entries
///   (so 4 or more, `^4` against `|||`), which is how the specification's examples read;
/// * null is `#`, the empty string `$`, other values are percent-encoded
///   ([`encode_field_value`]);
/// * with [`allow_diff`](Self::with_diff) (clients on TLCP 2.4.0 or later only), a changed
///   value may be sent as `^T` (a TLCP-diff from the common prefix and suffix) or `^P` (a JSON
///   Patch, when both values are JSON objects or arrays and the patch reproduces the new text
///   exactly), whichever is strictly shorter than the value itself. Both are restricted to
///   what the official clients decode to the very same text: `^T` only between values made
///   of BMP characters (the JavaScript client counts UTF-16 units, the Python one code
///   points) and never from a value a `^P` could have produced (the clients hold such a
///   field as JSON and refuse a diff for it); `^P` only between JSON texts every client
///   writes back unchanged ([`patch::encode`]).
///
/// The encoder keeps scratch buffers: reuse it, and the hot path does not allocate.
///
/// ```
/// use tlcp_proto::fields::Encoder;
/// let prev = [Some("20:04:16"), Some("3.02"), Some("-0.65"), Some("2.41"), Some("3.67")];
/// let new = [Some("20:04:40"), Some("3.02"), Some("-0.65"), Some("2.41"), Some("3.67")];
/// let mut out = String::new();
/// Encoder::new().encode(Some(&prev), &new, &mut out).unwrap();
/// assert_eq!(out, "20:04:40|^4");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    allow_diff: bool,
    raw: String,
    candidate: String,
    /// Tests: value-by-value escaping only (the reference the copying pass is checked
    /// against).
    #[cfg(test)]
    pub(crate) value_by_value: bool,
}

impl Encoder {
    /// An encoder that never uses `^T` / `^P` (valid for every protocol version).
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder for a client speaking `version`: diffs allowed from TLCP 2.4.0 on.
    pub fn for_version(version: ProtocolVersion) -> Self {
        Self::new().with_diff(version >= ProtocolVersion::V2_4_0)
    }

    /// Allows (or forbids) `^T` and `^P` entries. Only for clients on TLCP 2.4.0 or later.
    pub fn with_diff(mut self, allow_diff: bool) -> Self {
        self.allow_diff = allow_diff;
        self
    }

    /// Whether `^T` and `^P` entries may be used.
    pub fn allows_diff(&self) -> bool {
        self.allow_diff
    }

    /// Appends to `out` the value list that turns `previous` (`None` for the item's first
    /// update) into `new`.
    pub fn encode<P, N>(
        &mut self,
        previous: Option<&P>,
        new: &N,
        out: &mut String,
    ) -> Result<(), EncodeError>
    where
        P: FieldValues + ?Sized,
        N: FieldValues + ?Sized,
    {
        check_counts(previous.map(|p| p.field_count()), new.field_count())?;
        self.encode_loop(
            new.field_count(),
            |i| {
                let value = new.field(i);
                match previous {
                    None => Step::Changed(value),
                    Some(p) => {
                        if super::eq_values(p.field(i), value) {
                            Step::Unchanged
                        } else {
                            Step::Changed(value)
                        }
                    }
                }
            },
            |i| previous.and_then(|p| p.field(i)),
            out,
        );
        Ok(())
    }

    /// Like [`encode`](Self::encode), for a caller that already knows which fields
    /// changed (a server that applied the update to the item's row): a field for which
    /// `changed(i)` is `false` is written as unchanged without comparing, and `previous`
    /// is read only for the changed fields (as the base of a `^T`/`^P` diff). The output
    /// is the same as `encode`'s when `changed(i)` says exactly whether field `i` differs.
    ///
    /// ```
    /// use tlcp_proto::fields::Encoder;
    /// let prev = [Some("20:04:16"), Some("3.02"), Some("-0.65"), Some("2.41"), Some("3.67")];
    /// let new = [Some("20:04:40"), Some("3.02"), Some("-0.65"), Some("2.41"), Some("3.67")];
    /// let mut out = String::new();
    /// Encoder::new().encode_changes(&prev, &new, |i| i == 0, &mut out).unwrap();
    /// assert_eq!(out, "20:04:40|^4");
    /// ```
    pub fn encode_changes<P, N>(
        &mut self,
        previous: &P,
        new: &N,
        changed: impl Fn(usize) -> bool,
        out: &mut String,
    ) -> Result<(), EncodeError>
    where
        P: FieldValues + ?Sized,
        N: FieldValues + ?Sized,
    {
        check_counts(Some(previous.field_count()), new.field_count())?;
        // A field's new value is read only when it changed, its previous one only as the
        // base of a diff.
        self.encode_loop(
            new.field_count(),
            |i| {
                if changed(i) {
                    Step::Changed(new.field(i))
                } else {
                    Step::Unchanged
                }
            },
            |i| previous.field(i),
            out,
        );
        Ok(())
    }

    /// Like [`encode_changes`](Self::encode_changes), with the changed fields given as a
    /// bit mask: field `i` changed when bit `i % 64` of `changed[i / 64]` is set (missing
    /// words: unchanged). The output is the same as `encode_changes`'s, but the encoder
    /// visits only the changed fields, by their set bits, and writes each run of unchanged
    /// fields at once: no branch per field on whether it changed. When fields change at
    /// random (market data), that branch was a misprediction every other field.
    ///
    /// ```
    /// use tlcp_proto::fields::Encoder;
    /// let prev = [Some("20:04:16"), Some("3.02"), Some("-0.65"), Some("2.41"), Some("3.67")];
    /// let new = [Some("20:04:40"), Some("3.02"), Some("-0.60"), Some("2.41"), Some("3.67")];
    /// let mut out = String::new();
    /// Encoder::new().encode_changed_mask(&prev, &new, &[0b00101], &mut out).unwrap();
    /// assert_eq!(out, "20:04:40||-0.60||");
    /// ```
    pub fn encode_changed_mask<P, N>(
        &mut self,
        previous: &P,
        new: &N,
        changed: &[u64],
        out: &mut String,
    ) -> Result<(), EncodeError>
    where
        P: FieldValues + ?Sized,
        N: FieldValues + ?Sized,
    {
        let n = new.field_count();
        check_counts(Some(previous.field_count()), n)?;
        let start = out.len();
        if let Some(entries) = self.mask_entries(n, changed, previous, new, out)
            && out
                .as_bytes()
                .get(start..)
                .is_some_and(|list| list_plain(list, entries.saturating_sub(1)))
        {
            return Ok(());
        }
        // Something to escape: value by value, as `encode_changes` writes it.
        out.truncate(start);
        let bit = |i: usize| changed.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1);
        self.encode_entries::<false>(
            n,
            &mut |i| {
                if bit(i) {
                    Step::Changed(new.field(i))
                } else {
                    Step::Unchanged
                }
            },
            &|i| previous.field(i),
            out,
        );
        Ok(())
    }

    /// The entries of [`encode_changed_mask`](Self::encode_changed_mask), values copied
    /// unchecked (as `encode_entries::<true>`): returns how many, `None` when a value
    /// starts with a byte that needs an escape there.
    #[inline]
    fn mask_entries<P, N>(
        &mut self,
        n: usize,
        changed: &[u64],
        previous: &P,
        new: &N,
        out: &mut String,
    ) -> Option<usize>
    where
        P: FieldValues + ?Sized,
        N: FieldValues + ?Sized,
    {
        // Entries written, and the first field not yet written (`next > 0` exactly when
        // an entry was written: every field up to `next` is in one).
        let mut entries = 0;
        let mut next = 0;
        for (w, &word) in changed.iter().enumerate().take(n.div_ceil(64)) {
            let width = (n - 64 * w).min(64);
            let mut m = if width == 64 {
                word
            } else {
                word & ((1u64 << width) - 1)
            };
            while m != 0 {
                let i = 64 * w + m.trailing_zeros() as usize;
                m &= m - 1;
                let run = i - next;
                if run < 4 {
                    // The run's empty entries and this entry's separator: one `|` per
                    // field from `next` to `i`, less the one the first field has not.
                    // Written as four, then cut (no branch on the count).
                    let bars = run + usize::from(next > 0);
                    out.push_str("||||");
                    out.truncate(out.len() - 4 + bars);
                    entries += run + 1;
                } else {
                    if next > 0 {
                        out.push('|');
                    }
                    out.push('^');
                    crate::notification::push_u64(run as u64, out);
                    out.push('|');
                    entries += 2;
                }
                next = i + 1;
                match new.field(i) {
                    None => out.push('#'),
                    Some("") => out.push('$'),
                    Some(v) => {
                        if !self.push_value::<true>(|| previous.field(i), v, out) {
                            return None;
                        }
                    }
                }
            }
        }
        push_unchanged(n - next, &mut entries, out);
        Some(entries)
    }

    /// The value list of `n` fields, with `step` telling for each whether it is unchanged
    /// or, if changed, its new value; `old(i)` is the previous value of field `i` (read
    /// only for a value long enough to try a diff).
    ///
    /// First without checking each value for escapes: values (and `^T` diffs) are copied
    /// as they are, and the whole list is checked once at the end, a word at a time
    /// (checking each value on its own was a tenth of a server's instructions). Should a
    /// copied value have needed an escape, the list is written again, value by value.
    #[inline]
    fn encode_loop<'p, 'n>(
        &mut self,
        n: usize,
        mut step: impl FnMut(usize) -> Step<'n>,
        old: impl Fn(usize) -> Option<&'p str>,
        out: &mut String,
    ) {
        let start = out.len();
        #[cfg(test)]
        if self.value_by_value {
            self.encode_entries::<false>(n, &mut step, &old, out);
            return;
        }
        if let Some(entries) = self.encode_entries::<true>(n, &mut step, &old, out)
            && out
                .as_bytes()
                .get(start..)
                .is_some_and(|list| list_plain(list, entries.saturating_sub(1)))
        {
            return;
        }
        out.truncate(start);
        self.encode_entries::<false>(n, &mut step, &old, out);
    }

    /// Writes the entries of the list; returns how many. `COPY`: values are copied
    /// without a check (the caller checks the list; `None`: a value starts with a byte
    /// that needs an escape there, nothing to check).
    #[inline]
    fn encode_entries<'p, 'n, const COPY: bool>(
        &mut self,
        n: usize,
        step: &mut impl FnMut(usize) -> Step<'n>,
        old: &impl Fn(usize) -> Option<&'p str>,
        out: &mut String,
    ) -> Option<usize> {
        let mut entries = 0;
        let mut run = 0;
        for i in 0..n {
            let value = match step(i) {
                Step::Unchanged => {
                    run += 1;
                    continue;
                }
                Step::Changed(value) => value,
            };
            if run > 0 {
                push_unchanged(run, &mut entries, out);
                run = 0;
            }
            separate(&mut entries, out);
            match value {
                None => out.push('#'),
                Some("") => out.push('$'),
                Some(v) => {
                    if !self.push_value::<COPY>(|| old(i), v, out) {
                        return None;
                    }
                }
            }
        }
        push_unchanged(run, &mut entries, out);
        Some(entries)
    }

    /// Writes a value, or a `^T`/`^P` diff from `old` if shorter. `COPY`: the value, and a
    /// `^T` diff, are written as they are, unchecked (see
    /// [`encode_loop`](Self::encode_loop)), and a diff is taken only if shorter than the
    /// value's bytes (when that is not what escaping would compare with, the value had
    /// something to escape, and the list is written again); `false`: the value starts with
    /// a byte that needs an escape there.
    #[inline]
    fn push_value<'o, const COPY: bool>(
        &mut self,
        old: impl FnOnce() -> Option<&'o str>,
        value: &str,
        out: &mut String,
    ) -> bool {
        let start = out.len();
        if COPY {
            if matches!(value.as_bytes().first(), Some(b'#' | b'$' | b'^')) {
                return false;
            }
            super::push_short(out, value);
        } else {
            encode_field_value(value, out);
        }
        // A diff costs its `^T`/`^P` prefix plus counts: below this length it can never be
        // worth computing (and computing it dominated the encoder's profile).
        if value.len() < MIN_DIFF_LEN || !self.allow_diff {
            return true;
        }
        let Some(old) = old().filter(|o| !o.is_empty()) else {
            return true;
        };
        let best_len = out.len() - start;

        // The usual diff first, written straight out (no scratch buffer): a tail edit of
        // a value copied as it is (a value like a JSON text takes the path below).
        if COPY
            && !old.starts_with(['{', '['])
            && let Some((same, diff_len)) = diff::tail_edit(old, value)
        {
            if diff_len + 2 < best_len {
                out.truncate(start);
                out.push_str("^T");
                diff::push_tail_edit(value, same, out);
            }
            return true;
        }

        // A value patched with `^P` is held as JSON by the official clients, which then
        // refuse `^T` for it: no `^T` from a value that could have come from a patch.
        let Some(old_v) = patch::portable(old) else {
            // TLCP-diff counts are UTF-16 code units for the JavaScript client and code
            // points for the Python one: they agree only when every character is in the
            // BMP.
            self.raw.clear();
            if old.is_ascii() && value.is_ascii() {
                diff::encode_ascii(old, value, &mut self.raw);
            } else if is_bmp(old) && is_bmp(value) {
                diff::encode(old, value, &mut self.raw);
            } else {
                return true;
            }
            if self.raw.is_empty() || self.raw.len() + 2 >= best_len {
                return true;
            }
            if COPY || is_plain_field_value(&self.raw) {
                // Shorter, and written as it is (the usual case: counts and digits).
                out.truncate(start);
                out.push_str("^T");
                out.push_str(&self.raw);
                return true;
            }
            self.candidate.clear();
            self.candidate.push_str("^T");
            encode_field_value(&self.raw, &mut self.candidate);
            if self.candidate.len() < best_len {
                out.truncate(start);
                out.push_str(&self.candidate);
            }
            return true;
        };

        self.raw.clear();
        if patch::encode_from(old_v, value, &mut self.raw) && self.raw.len() + 2 < best_len {
            self.candidate.clear();
            self.candidate.push_str("^P");
            encode_field_value(&self.raw, &mut self.candidate);
            if self.candidate.len() < best_len {
                out.truncate(start);
                out.push_str(&self.candidate);
            }
        }
        true
    }
}

/// A value list needs at least one field, and as many previous values as new ones.
fn check_counts(previous: Option<usize>, new: usize) -> Result<(), EncodeError> {
    if new == 0 {
        return Err(EncodeError::NoFields);
    }
    match previous {
        Some(previous) if previous != new => Err(EncodeError::FieldCountMismatch { previous, new }),
        _ => Ok(()),
    }
}

/// What the encoder writes for one field.
enum Step<'n> {
    /// The field is unchanged.
    Unchanged,
    /// The field changed: its new value.
    Changed(Option<&'n str>),
}

/// Whether every character of `s` is in the Basic Multilingual Plane (one UTF-16 unit).
fn is_bmp(s: &str) -> bool {
    s.is_ascii() || s.chars().all(|c| c.len_utf16() == 1)
}

/// Starts an entry: a separator before every entry but the first (`entries`: the entries
/// written so far).
#[inline]
fn separate(entries: &mut usize, out: &mut String) {
    if *entries > 0 {
        out.push('|');
    }
    *entries += 1;
}

/// Writes a run of `count` unchanged fields: `^N` when strictly shorter than `count` empty
/// entries (which take `count - 1` separators more than one entry), that is from 4 on.
#[inline(always)]
fn push_unchanged(count: usize, entries: &mut usize, out: &mut String) {
    match count {
        0 => {}
        1..4 => {
            for _ in 0..count {
                separate(entries, out);
            }
        }
        _ => push_unchanged_run(count, entries, out),
    }
}

/// [`push_unchanged`] of a run of 4 or more: `^N`.
fn push_unchanged_run(count: usize, entries: &mut usize, out: &mut String) {
    separate(entries, out);
    out.push('^');
    crate::notification::push_u64(count as u64, out);
}

/// Whether a value list written with values copied as they are is what value-by-value
/// escaping writes: no byte of `list` needs an escape (`%`, controls, DEL), and it has
/// exactly `separators` `|` (one more means a value held one). Eight bytes at a time,
/// without a carry between bytes: on the low 7 bits `t` of each byte below 0x80 (bytes
/// from 0x80 are plain), `t + 0x60` reaches the high bit when `t >= 0x20`, `t + 1` when
/// `t` is DEL, and `(t ^ c) + 0x7F` unless `t == c`.
fn list_plain(list: &[u8], separators: usize) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const LOWS: u64 = u64::from_ne_bytes([0x7F; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let (mut bad, mut bars) = (0u64, 0u64);
    let mut check = |x: u64| {
        let ascii = !x & HIGHS;
        let t = x & LOWS;
        let printable = t + ONES * 0x60;
        let del = t + ONES;
        let not_pct = (t ^ (ONES * u64::from(b'%'))) + LOWS;
        let not_bar = (t ^ (ONES * u64::from(b'|'))) + LOWS;
        bad |= ascii & (!printable | del | !not_pct);
        // The word's bars: one per byte lane, summed into the top byte by the product.
        bars += (((ascii & !not_bar) >> 7).wrapping_mul(ONES)) >> 56;
    };
    let mut words = list.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        check(u64::from_le_bytes(b));
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        // The last eight bytes (there are that many: a list of fewer is only a tail), the
        // ones already checked replaced with a plain byte.
        let n = list.len();
        match list.get(n.saturating_sub(8)..) {
            Some(last) if last.len() == 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(last);
                let keep = !0u64 << (8 * (8 - tail.len()));
                check((u64::from_le_bytes(b) & keep) | ((ONES * u64::from(b'a')) & !keep));
            }
            _ => {
                let mut b = [b'a'; 8];
                for (d, &s) in b.iter_mut().zip(tail) {
                    *d = s;
                }
                check(u64::from_le_bytes(b));
            }
        }
    }
    bad == 0 && bars == separators as u64
}

#[cfg(test)]
mod tests {
    use super::list_plain;

    fn naive(list: &[u8]) -> (bool, usize) {
        let bad = list.iter().any(|&b| b < 0x20 || b == 0x7F || b == b'%');
        (!bad, list.iter().filter(|&&b| b == b'|').count())
    }

    #[test]
    fn list_check_agrees_with_a_byte_loop() {
        let mut lists: Vec<Vec<u8>> = Vec::new();
        for len in (0..=40).chain([247, 248, 249, 255, 256, 300, 600, 1030, 2049, 4100]) {
            for fill in [b'a', b'|', 0xC3, 0xFC, 0x20, b'~'] {
                lists.push(vec![fill; len]);
                for pos in [0, len / 3, len / 2, len.saturating_sub(1)] {
                    for b in [0u8, 0x1F, 0x20, 0x25, 0x7C, 0x7F, 0x80, 0xA5, 0xFC, 0xFF] {
                        if pos < len {
                            let mut l = vec![fill; len];
                            l[pos] = b;
                            lists.push(l);
                        }
                    }
                }
            }
        }
        for (k, l) in lists.iter().enumerate() {
            let (plain, bars) = naive(l);
            for guess in [bars.saturating_sub(1), bars, bars + 1] {
                assert_eq!(
                    list_plain(l, guess),
                    plain && guess == bars,
                    "list {k} ({} bytes) {guess}",
                    l.len()
                );
            }
        }
    }
}
