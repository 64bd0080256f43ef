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

    /// The value list of `n` fields, with `step` telling for each whether it is unchanged
    /// or, if changed, its new value; `old(i)` is the previous value of field `i` (read
    /// only for a value long enough to try a diff).
    #[inline]
    fn encode_loop<'p, 'n>(
        &mut self,
        n: usize,
        mut step: impl FnMut(usize) -> Step<'n>,
        old: impl Fn(usize) -> Option<&'p str>,
        out: &mut String,
    ) {
        let mut first = true;
        let mut run = 0;
        for i in 0..n {
            let value = match step(i) {
                Step::Unchanged => {
                    run += 1;
                    continue;
                }
                Step::Changed(value) => value,
            };
            push_unchanged(run, &mut first, out);
            run = 0;
            separate(&mut first, out);
            match value {
                None => out.push('#'),
                Some("") => out.push('$'),
                Some(v) => self.push_value(|| old(i), v, out),
            }
        }
        push_unchanged(run, &mut first, out);
    }

    fn push_value<'o>(
        &mut self,
        old: impl FnOnce() -> Option<&'o str>,
        value: &str,
        out: &mut String,
    ) {
        let start = out.len();
        encode_field_value(value, out);
        // A diff costs its `^T`/`^P` prefix plus counts: below this length it can never be
        // worth computing (and computing it dominated the encoder's profile).
        if value.len() < MIN_DIFF_LEN {
            return;
        }
        if !self.allow_diff {
            return;
        }
        let Some(old) = old().filter(|o| !o.is_empty()) else {
            return;
        };
        let best_len = out.len() - start;

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
                return;
            }
            if self.raw.is_empty() || self.raw.len() + 2 >= best_len {
                return;
            }
            if is_plain_field_value(&self.raw) {
                // Shorter, and written as it is (the usual case: counts and digits).
                out.truncate(start);
                out.push_str("^T");
                out.push_str(&self.raw);
                return;
            }
            self.candidate.clear();
            self.candidate.push_str("^T");
            encode_field_value(&self.raw, &mut self.candidate);
            if self.candidate.len() < best_len {
                out.truncate(start);
                out.push_str(&self.candidate);
            }
            return;
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

#[inline]
fn separate(first: &mut bool, out: &mut String) {
    if *first {
        *first = false;
    } else {
        out.push('|');
    }
}

/// Writes a run of `count` unchanged fields: `^N` when strictly shorter than `count` empty
/// entries (which take `count - 1` separators more than one entry).
fn push_unchanged(count: usize, first: &mut bool, out: &mut String) {
    if count == 0 {
        return;
    }
    let digits = count.ilog10() as usize + 1;
    if 1 + digits < count - 1 {
        separate(first, out);
        out.push('^');
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut k = count;
        while k > 0 {
            i -= 1;
            buf[i] = b'0' + (k % 10) as u8;
            k /= 10;
        }
        for &b in &buf[i..] {
            out.push(char::from(b));
        }
    } else {
        for _ in 0..count {
            separate(first, out);
        }
    }
}
