//! The value list of a `U` notification: decoding into a [`Row`], encoding from rows.
//!
//! The third argument of `U,<sub>,<item>,<values>` is a `|`-separated list with one entry per
//! field (a `^N` entry stands for N fields). Each entry is one of:
//!
//! | entry | meaning |
//! |---|---|
//! | *(empty)* | unchanged since the previous update of the item |
//! | `#` | null |
//! | `$` | the empty string |
//! | `^N` | N unchanged fields |
//! | `^P<patch>` | (2.4.0+) an RFC 6902 JSON Patch for the previous value ([`patch`]) |
//! | `^T<diff>` | (2.4.0+) a TLCP-diff for the previous value ([`diff`]) |
//! | anything else | the value, percent-encoded |
//!
//! **Indexes.** On the wire, fields are numbered from 1 ("positions"). This module's API uses
//! 0-based *indexes*, like slices ([`Row::get`], [`ChangedFields::contains`]), plus
//! [`Row::value`] that takes a 1-based position; errors report 1-based positions, as they
//! refer to the wire. The [`model`](crate::model) events use 1-based positions throughout,
//! like the official clients' `ItemUpdate`.
//!
//! ```
//! use tlcp_proto::fields::{ChangedFields, Encoder, Row};
//!
//! let mut row = Row::new(3);
//! let mut changed = ChangedFields::new();
//! row.apply("a|#|x%7Cy", &mut changed)?;
//! assert_eq!(row.get(2), Some("x|y"));
//! row.apply("b||", &mut changed)?;
//! assert_eq!(changed.iter().collect::<Vec<_>>(), [0]);
//!
//! // The other way round (a server): previous and new values to the compact list.
//! let mut out = String::new();
//! Encoder::new().encode(Some(&[Some("a"), None, Some("x|y")]), &[Some("b"), None, Some("x|y")], &mut out)?;
//! assert_eq!(out, "b||");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod diff;
mod encode;
pub mod patch;
pub(crate) mod row;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use diff::DiffError;
pub use encode::{EncodeError, Encoder};
pub use patch::PatchError;
pub use row::{Row, RowIter, RowLayout, copy_short, eq_bytes, eq_values, push_short};

use crate::percent::PercentError;

/// A `U` value list that cannot be applied to a row. Positions are 1-based, as on the wire.
///
/// When [`Row::apply`] returns one of these, the row is exactly as it was before the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The list has more entries than the row has fields.
    #[error("too many values: field {position} is beyond the {fields} fields of the row")]
    TooManyValues {
        /// Position of the first field beyond the row.
        position: usize,
        /// Number of fields of the row.
        fields: usize,
    },
    /// The list has fewer entries than the row has fields.
    #[error("too few values: {found} fields for a row of {fields}")]
    TooFewValues {
        /// Number of fields the list covers.
        found: usize,
        /// Number of fields of the row.
        fields: usize,
    },
    /// An unchanged field (empty entry, `^N`, `^P`, `^T`) on a row that never had values.
    #[error("field {position}: unchanged, but the item has no previous value")]
    NoPreviousValue {
        /// Position of the field.
        position: usize,
    },
    /// A `^` entry that is not `^P`, `^T` or `^N` with N a number from 1 up.
    #[error("field {position}: malformed skip entry (expected ^N with N >= 1)")]
    BadSkip {
        /// Position of the field.
        position: usize,
    },
    /// A `^N` entry that skips past the last field.
    #[error("field {position}: ^{count} skips past the last of {fields} fields")]
    SkipPastEnd {
        /// Position of the field where the skip starts.
        position: usize,
        /// The number of skipped fields.
        count: usize,
        /// Number of fields of the row.
        fields: usize,
    },
    /// A malformed percent escape, or escapes that decode to invalid UTF-8.
    #[error("field {position}: {error}")]
    BadEncoding {
        /// Position of the field.
        position: usize,
        /// What is wrong (offsets are relative to the entry).
        error: PercentError,
    },
    /// A `^T` or `^P` entry for a field whose previous value is null.
    #[error("field {position}: a diff or patch cannot apply to a null value")]
    NullBase {
        /// Position of the field.
        position: usize,
    },
    /// A `^T` entry that does not apply to the previous value.
    #[error("field {position}: bad TLCP-diff: {error}")]
    BadDiff {
        /// Position of the field.
        position: usize,
        /// What is wrong.
        error: DiffError,
    },
    /// A `^P` entry that does not apply to the previous value.
    #[error("field {position}: bad JSON Patch: {error}")]
    BadPatch {
        /// Position of the field.
        position: usize,
        /// What is wrong.
        error: PatchError,
    },
}

/// The set of fields an update changed: a reusable bitset indexed from 0.
///
/// Sized by whoever fills it ([`Row::apply`] sizes it to the row); keeping one around and
/// passing it to every update never allocates once it has grown to the widest row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangedFields {
    words: Vec<u64>,
    fields: usize,
}

impl ChangedFields {
    /// An empty set covering no field.
    pub const fn new() -> Self {
        Self {
            words: Vec::new(),
            fields: 0,
        }
    }

    /// Resizes the set to cover `fields` fields, all unchanged.
    #[inline]
    pub fn reset(&mut self, fields: usize) {
        let words = fields.div_ceil(64);
        if self.words.len() == words {
            match self.words.as_mut_slice() {
                [w] => *w = 0,
                ws => ws.fill(0),
            }
        } else {
            self.words.clear();
            self.words.resize(words, 0);
        }
        self.fields = fields;
    }

    /// Marks every covered field as changed.
    pub fn insert_all(&mut self) {
        for w in &mut self.words {
            *w = u64::MAX;
        }
        if let Some(last) = self.words.last_mut() {
            let rem = self.fields % 64;
            if rem != 0 {
                *last = (1u64 << rem) - 1;
            }
        }
    }

    /// Marks field `index` (0-based) as changed. Indexes beyond [`fields`](Self::fields) are
    /// ignored.
    #[inline]
    pub fn insert(&mut self, index: usize) {
        if index < self.fields {
            self.words[index / 64] |= 1 << (index % 64);
        }
    }

    /// Marks as changed the fields among the first 64 whose bit is set in `bits`.
    #[inline]
    pub(crate) fn insert_first_64(&mut self, bits: u64) {
        if let Some(w) = self.words.first_mut() {
            *w |= bits;
        }
    }

    /// Marks field `index` (0-based) as unchanged.
    #[inline]
    pub fn remove(&mut self, index: usize) {
        if index < self.fields {
            self.words[index / 64] &= !(1 << (index % 64));
        }
    }

    /// Whether field `index` (0-based) changed; `false` beyond [`fields`](Self::fields).
    #[inline]
    pub fn contains(&self, index: usize) -> bool {
        index < self.fields && self.words[index / 64] & (1 << (index % 64)) != 0
    }

    /// How many fields the set covers (changed or not).
    pub fn fields(&self) -> usize {
        self.fields
    }

    /// How many fields changed.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether no field changed.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The set as 64-bit words: field `i` changed if bit `i % 64` of word `i / 64` is set
    /// (`fields().div_ceil(64)` words), for copying the set in a few word moves.
    ///
    /// ```
    /// # use tlcp_proto::fields::ChangedFields;
    /// let mut changed = ChangedFields::new();
    /// changed.reset(70);
    /// changed.insert(1);
    /// changed.insert(65);
    /// assert_eq!(changed.as_words(), [0b10, 0b10]);
    /// ```
    #[inline]
    pub fn as_words(&self) -> &[u64] {
        &self.words
    }

    /// The changed fields' 0-based indexes, in increasing order.
    pub fn iter(&self) -> ChangedIter<'_> {
        ChangedIter {
            words: &self.words,
            word: 0,
            bits: self.words.first().copied().unwrap_or(0),
        }
    }
}

impl<'a> IntoIterator for &'a ChangedFields {
    type Item = usize;
    type IntoIter = ChangedIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over the 0-based indexes of changed fields, from [`ChangedFields::iter`].
#[derive(Debug, Clone)]
pub struct ChangedIter<'a> {
    words: &'a [u64],
    word: usize,
    bits: u64,
}

impl Iterator for ChangedIter<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        loop {
            if self.bits != 0 {
                let bit = self.bits.trailing_zeros() as usize;
                self.bits &= self.bits - 1;
                return Some(self.word * 64 + bit);
            }
            self.word += 1;
            self.bits = *self.words.get(self.word)?;
        }
    }
}

/// Field values that the [`Encoder`] can read: a [`Row`], or a slice, array or `Vec` of
/// `Option<S>` (`None` = null) with `S: AsRef<str>` (`&str`, `String`, ...).
pub trait FieldValues {
    /// Number of fields.
    fn field_count(&self) -> usize;
    /// The value of field `index` (0-based); `None` for null (or beyond the last field).
    fn field(&self, index: usize) -> Option<&str>;
}

impl FieldValues for Row {
    fn field_count(&self) -> usize {
        self.len()
    }
    fn field(&self, index: usize) -> Option<&str> {
        self.get(index)
    }
}

impl<S: AsRef<str>> FieldValues for [Option<S>] {
    fn field_count(&self) -> usize {
        self.len()
    }
    fn field(&self, index: usize) -> Option<&str> {
        self.get(index)?.as_ref().map(AsRef::as_ref)
    }
}

impl<S: AsRef<str>, const N: usize> FieldValues for [Option<S>; N] {
    fn field_count(&self) -> usize {
        N
    }
    fn field(&self, index: usize) -> Option<&str> {
        self.as_slice().field(index)
    }
}

impl<S: AsRef<str>> FieldValues for Vec<Option<S>> {
    fn field_count(&self) -> usize {
        self.len()
    }
    fn field(&self, index: usize) -> Option<&str> {
        self.as_slice().field(index)
    }
}

impl<T: FieldValues + ?Sized> FieldValues for &T {
    fn field_count(&self) -> usize {
        (**self).field_count()
    }
    fn field(&self, index: usize) -> Option<&str> {
        (**self).field(index)
    }
}
