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

/// The separator byte written after every value of a [`Row`]'s text.
const SEP: char = '|';

/// The current values of an item's fields.
///
/// [`apply`](Self::apply) decodes a `U` value list against these values. The values are
/// kept in one buffer, each followed by one separator byte, and where each one ends (see
/// [`RowLayout`]): an update builds the next buffer in a second one, copying runs of
/// consecutive values at once (the new values straight from the list, separators included;
/// the unchanged ones from the current buffer), then the two are swapped. Once both have
/// grown to the longest row, applying updates allocates nothing, and the whole row can be
/// copied out in one go ([`layout`](Self::layout)). A list is checked whole before
/// anything changes, so an update that fails leaves the row untouched.
#[derive(Clone)]
pub struct Row {
    /// Every value followed by one separator byte (a null value's bytes mean nothing).
    text: String,
    /// Where each value ends in `text` (value `i` starts one byte after value `i - 1` ends).
    ends: Vec<usize>,
    /// Bit `i % 64` of word `i / 64`: value `i` is null.
    nulls: Vec<u64>,
    set: bool,
    /// The buffers the next values are built in, swapped with `text` and `ends`.
    next_text: String,
    next_ends: Vec<usize>,
    /// The general decoder's plan: one step per field.
    plan: Vec<Step>,
    /// Values decoded by the general decoder (escapes, `^T`, `^P`), that the plan refers to.
    decoded: String,
    /// A percent-decoded `^T` / `^P` payload.
    scratch: String,
}

/// A [`Row`]'s values as they are stored: one buffer, and where each value ends, for
/// copying a whole row at once (see [`Row::layout`]).
///
/// Value `i` is `text[start..ends[i]]`, where `start` is 0 for the first value and
/// `ends[i - 1] + 1` for the others (one separator byte follows every value, the last one
/// included); it is null when bit `i % 64` of `nulls[i / 64]` is set (its bytes then mean
/// nothing).
///
/// ```
/// # use tlcp_proto::fields::{ChangedFields, Row};
/// let mut row = Row::new(3);
/// row.apply("a|#|bc", &mut ChangedFields::new())?;
/// let layout = row.layout();
/// assert_eq!(&layout.text[..1], "a");
/// assert_eq!(&layout.text[layout.ends[1] + 1..layout.ends[2]], "bc");
/// assert_eq!(layout.nulls[0], 0b010);
/// # Ok::<(), tlcp_proto::fields::FieldError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RowLayout<'a> {
    /// The values, each followed by one separator byte.
    pub text: &'a str,
    /// Where each value ends in `text`.
    pub ends: &'a [usize],
    /// The null values, one bit each, 64 a word.
    pub nulls: &'a [u64],
}

impl<'a> RowLayout<'a> {
    /// Value `index` (0-based; `None`: null, or beyond the last).
    #[inline]
    pub fn get(&self, index: usize) -> Option<&'a str> {
        value_in(self.text, self.ends, self.nulls, index)
    }

    /// The values in field order (`None` = null).
    pub fn values(&self) -> RowIter<'a> {
        RowIter {
            text: self.text,
            ends: self.ends.iter(),
            start: 0,
            nulls: self.nulls,
            index: 0,
        }
    }
}

/// Value `i` of a row's buffers (`None`: null, or beyond the last).
#[inline]
fn value_in<'t>(text: &'t str, ends: &[usize], nulls: &[u64], i: usize) -> Option<&'t str> {
    let end = *ends.get(i)?;
    if nulls.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0) {
        return None;
    }
    let start = match i.checked_sub(1) {
        None => 0,
        Some(j) => ends.get(j)? + 1,
    };
    text.get(start..end)
}

impl Row {
    /// A row of `fields` fields that has never been set (all null).
    pub fn new(fields: usize) -> Self {
        let mut row = Self {
            text: String::new(),
            ends: Vec::new(),
            nulls: Vec::new(),
            set: false,
            next_text: String::new(),
            next_ends: Vec::new(),
            plan: Vec::new(),
            decoded: String::new(),
            scratch: String::new(),
        };
        row.reset(fields);
        row
    }

    /// `fields` null values.
    fn reset(&mut self, fields: usize) {
        self.text.clear();
        self.text.extend(std::iter::repeat_n(SEP, fields));
        self.ends.clear();
        self.ends.extend(0..fields);
        self.nulls.clear();
        self.nulls.resize(fields.div_ceil(64), !0);
        if let Some(last) = self.nulls.last_mut()
            && !fields.is_multiple_of(64)
        {
            *last = (1 << (fields % 64)) - 1;
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the row has no field at all.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
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
        value_in(&self.text, &self.ends, &self.nulls, index)
    }

    /// The value of the field at 1-based `position`, as numbered on the wire; `None` when it
    /// is null, for position 0 and beyond the last field.
    pub fn value(&self, position: usize) -> Option<&str> {
        self.get(position.checked_sub(1)?)
    }

    /// The values in field order (`None` = null).
    pub fn iter(&self) -> RowIter<'_> {
        self.layout().values()
    }

    /// The values as they are stored, to copy the whole row at once.
    #[inline]
    pub fn layout(&self) -> RowLayout<'_> {
        RowLayout {
            text: &self.text,
            ends: &self.ends,
            nulls: &self.nulls,
        }
    }

    /// The values as owned strings.
    pub fn to_vec(&self) -> Vec<Option<String>> {
        self.iter().map(|v| v.map(str::to_owned)).collect()
    }

    /// Bytes held for the current values.
    #[cfg(test)]
    pub(crate) fn buffer_len(&self) -> usize {
        self.text.len()
    }

    /// Forgets the values: all null, never set. Keeps the buffers.
    pub fn clear(&mut self) {
        self.reset(self.len());
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
            && let Some(low) = self
                .apply_in_place(encoded)
                .or_else(|| self.apply_common(encoded))
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

    /// Whether [`apply_in_place`](Self::apply_in_place) takes `encoded` (on a copy).
    #[cfg(test)]
    pub(crate) fn takes_in_place(&self, encoded: &str) -> bool {
        self.set && self.clone().apply_in_place(encoded).is_some()
    }

    /// The general decoder, first half: checks the whole list and decides what each field
    /// becomes ([`Step`]s, decoded values in `self.decoded`), changing no field.
    fn plan(&mut self, encoded: &str) -> Result<(), FieldError> {
        let Self {
            text,
            ends,
            nulls,
            set,
            plan,
            decoded,
            scratch,
            ..
        } = self;
        let set = *set;
        let n = ends.len();
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
                    let old =
                        value_in(text, ends, nulls, i).ok_or(FieldError::NullBase { position })?;
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
    /// [`Step::Line`] refers to), marking the fields that change. Builds the next values
    /// value by value, then swaps them in.
    fn execute(&mut self, encoded: &str, changed: &mut ChangedFields) {
        let Self {
            text,
            ends,
            nulls,
            set,
            next_text,
            next_ends,
            plan,
            decoded,
            ..
        } = self;
        if !*set {
            changed.insert_all();
        }
        next_text.clear();
        next_ends.clear();
        let out = next_text;
        for (i, step) in plan.iter().enumerate() {
            let old = value_in(text, ends, nulls, i);
            let value = match *step {
                Step::Keep => old,
                Step::Null => None,
                Step::Line(a, b) => encoded.get(a..b),
                Step::Decoded(a, b) => decoded.get(a..b),
            };
            let same = match (old, value) {
                (None, None) => true,
                (Some(a), Some(b)) => eq_bytes(a.as_bytes(), b.as_bytes()),
                _ => false,
            };
            if !same && *set {
                changed.insert(i);
            }
            out.push_str(value.unwrap_or_default());
            next_ends.push(out.len());
            out.push(SEP);
            if let Some(w) = nulls.get_mut(i / 64) {
                let bit = 1 << (i % 64);
                if value.is_none() {
                    *w |= bit;
                } else {
                    *w &= !bit;
                }
            }
        }
        std::mem::swap(text, out);
        std::mem::swap(ends, next_ends);
        *set = true;
    }

    /// The commonest case of all, before [`apply_common`](Self::apply_common): every value
    /// that changes keeps its length (prices, times, counters), so the new bytes are
    /// written over the old ones and unchanged values cost nothing. Conditions: no `%`
    /// anywhere in the list, every new value, `^T` result and `$` has the length of the
    /// value it replaces, and every `^T` edits its value in place (see [`edit_in_place`]).
    ///
    /// The entries are not looked for separator by separator: each one is read from its
    /// first byte, and a new value is taken to be as long as the one it replaces (a tail
    /// edit says its own length), so that the next separator is expected at a known
    /// offset and checked there. That reading is the list's only if no entry holds a
    /// `|` (nor a `%`) of its own: every byte of the list is looked at once, as a
    /// separator, a marker, a count, or a byte of a new value or of a `^T`'s added text
    /// (checked to be neither, [`check_value`]). The new text is written in the spare buffer (a
    /// copy of the current one), then checked once and swapped in (the check cannot fail:
    /// whole values are replaced by whole values). `None`: anything else, the row
    /// untouched.
    #[inline]
    fn apply_in_place(&mut self, encoded: &str) -> Option<u64> {
        let bytes = encoded.as_bytes();
        if self.ends.len() > 64 {
            return None;
        }
        let mut buf = std::mem::take(&mut self.next_text).into_bytes();
        buf.clear();
        let old_nulls = *self.nulls.first()?;
        let walked =
            Self::walk_in_place(self.text.as_bytes(), &self.ends, old_nulls, bytes, &mut buf);
        let Some((changed, new_nulls)) = walked else {
            self.give_back(buf);
            return None;
        };
        // Nothing written (the buffer still empty): the text stays as it is.
        if !buf.is_empty() {
            match String::from_utf8(buf) {
                Ok(new) => self.next_text = std::mem::replace(&mut self.text, new),
                // Whole values replaced by whole values cannot break the text; should it
                // happen, the row is forgotten (the next updates then fail, and the
                // subscription is resubscribed) rather than left half-written.
                Err(e) => {
                    self.give_back(e.into_bytes());
                    self.reset(self.len());
                    self.set = false;
                    return None;
                }
            }
        } else {
            self.give_back(buf);
        }
        *self.nulls.first_mut()? = new_nulls;
        Some(changed)
    }

    /// Keeps `buf`'s allocation as the spare text buffer (emptied: nothing to check).
    #[inline]
    fn give_back(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        self.next_text = String::from_utf8(buf).unwrap_or_default();
    }

    /// The walk of [`apply_in_place`](Self::apply_in_place) (a row of at most 64 fields):
    /// checks every entry, writing the values that change into `buf` (a copy of the text,
    /// made at the first write; left empty when nothing is written). Returns the changed
    /// fields and the new null ones; `None` when the list is not one for this path.
    ///
    /// Out of line, on slices: the compiler then keeps the walk's state in registers
    /// (inlined into [`apply`](Self::apply), it reloaded the row's fields after every
    /// write).
    #[inline(never)]
    fn walk_in_place(
        old: &[u8],
        ends: &[usize],
        old_nulls: u64,
        bytes: &[u8],
        buf: &mut Vec<u8>,
    ) -> Option<(u64, u64)> {
        let (mut changed, mut new_nulls) = (0u64, old_nulls);
        // The field the entry starts at, where its current value starts, and where the
        // entry starts.
        let mut i = 0;
        let mut old_start = 0;
        let mut pos = 0;
        loop {
            let mut old_end = *ends.get(i)?;
            // (`i` < 64: the row has at most 64 fields.)
            let bit = 1u64 << i;
            let old_null = old_nulls & bit != 0;
            // Where the entry ends (its separator, or the end of the list).
            let end = match bytes.get(pos) {
                // Unchanged.
                None | Some(b'|') => pos,
                Some(b'^') => {
                    if bytes.get(pos + 1) == Some(&b'T') {
                        if old_null {
                            return None;
                        }
                        let (stop, differs) =
                            edit_in_place(old, old_start, old_end, bytes, pos + 2, buf)?;
                        if differs {
                            changed |= bit;
                        }
                        stop
                    } else {
                        // `^N`: N unchanged values (the last of them ends the entry).
                        let (count, stop) = skip_count(bytes, pos + 1)?;
                        i = i.checked_add(count - 1)?;
                        old_end = *ends.get(i)?;
                        stop
                    }
                }
                Some(b'#') if matches!(bytes.get(pos + 1), None | Some(b'|')) => {
                    if !old_null {
                        changed |= bit;
                    }
                    new_nulls |= bit;
                    pos + 1
                }
                Some(b'$') if matches!(bytes.get(pos + 1), None | Some(b'|')) => {
                    if old_end != old_start {
                        return None;
                    }
                    if old_null {
                        changed |= bit;
                    }
                    new_nulls &= !bit;
                    pos + 1
                }
                // A new value, as long as the current one (an empty one cannot be: its
                // entry would be empty).
                Some(_) => {
                    let end = pos.checked_add(old_end.checked_sub(old_start)?)?;
                    let new = bytes.get(pos..end)?;
                    let differs = check_value::<false>(old.get(old_start..old_end)?, new)?;
                    if differs {
                        write_at(buf, old, old_start, new)?;
                    }
                    if old_null || differs {
                        changed |= bit;
                        new_nulls &= !bit;
                    }
                    end
                }
            };
            i += 1;
            old_start = old_end + 1;
            match bytes.get(end) {
                // (`end` is at most the length: past the last entry.)
                None => break,
                Some(b'|') => pos = end + 1,
                Some(_) => return None,
            }
        }
        // Every field covered.
        (i == ends.len()).then_some((changed, new_nulls))
    }

    /// The common case of [`Row::apply`], in one lean pass: a row already set, of at most
    /// 64 fields, a list of at most 128 bytes without `%` escapes nor `^P` entries, with at
    /// most one `^T` entry, whose entries cover exactly the fields.
    ///
    /// Finds the separators eight bytes at a time, then walks the entries once: checks
    /// each, marks the changed and null fields on bit masks, notes where each value will
    /// end and which runs of bytes make the next text ([`Runs`]: of the list, of the
    /// current text, of the `^T` result), calling nothing on the way. Only then, the list
    /// known good, are the runs copied and the buffers swapped. Returns the changed fields
    /// as a bit mask; `None`: the list is anything else, and [`Row::plan`] takes it (and
    /// reports the error, if it is one), the row untouched.
    #[inline]
    fn apply_common(&mut self, encoded: &str) -> Option<u64> {
        let Self {
            text,
            ends,
            nulls,
            next_text,
            next_ends,
            scratch,
            ..
        } = self;
        let n = ends.len();
        let bytes = encoded.as_bytes();
        let len = bytes.len();
        if n > 64 || len > 128 {
            return None;
        }
        let old_nulls = *nulls.first()?;
        let old = text.as_bytes();
        next_ends.clear();
        next_text.clear();
        // Room for the longest next text (each value from the list, the current text or
        // the diff's result, and a separator), so that no copy below allocates.
        next_text.reserve(text.len() + len + n + 32);
        let mut to = Copy {
            out: next_text,
            line: encoded,
            old: text.as_str(),
        };
        let mut run = Runs::default();
        let mut seps = Seps::new(bytes);
        let (mut changed, mut new_nulls) = (0u64, 0u64);
        let mut edited = false;
        // The field the entry starts at, and where its current value starts.
        let mut i = 0;
        let mut old_start = 0;
        let mut pos = 0;
        loop {
            let end = seps.next()?;
            let last = end == len;
            // The entry's bytes, and with the separator after it (if there is one).
            let with_sep = if last { end } else { end + 1 };
            let entry = bytes.get(pos..end)?;
            if i >= n {
                return None;
            }
            let old_end = *ends.get(i)?;
            let bit = 1u64 << i;
            let old_null = old_nulls & bit != 0;
            match entry {
                // Unchanged: the current value and its separator.
                [] => {
                    run.piece(&mut to, FROM_OLD, old_start, old_end + 1)?;
                    new_nulls |= old_nulls & bit;
                }
                [b'^', b'T', diff @ ..] => {
                    // At most one, on a value (a null base is an error, that the general
                    // decoder reports).
                    if edited || old_null {
                        return None;
                    }
                    edited = true;
                    let value = old.get(old_start..old_end)?;
                    match tail_edit(value, diff) {
                        // Keep the start of the current value, then the added text (and
                        // its separator) from the list.
                        Some((keep, added)) => {
                            let added = pos + 2 + added;
                            let tail = old.get(old_start + keep..old_end)?;
                            if !eq_bytes(tail, bytes.get(added..end)?) {
                                changed |= bit;
                            }
                            run.piece(&mut to, FROM_OLD, old_start, old_start + keep)?;
                            run.piece(&mut to, FROM_LINE, added, with_sep)?;
                            if last {
                                run.piece(&mut to, FROM_SEP, 0, 1)?;
                            }
                        }
                        // Any other diff: the new value in `scratch`.
                        None => {
                            scratch.clear();
                            let base = text.get(old_start..old_end)?;
                            diff::apply(base, encoded.get(pos + 2..end)?, scratch).ok()?;
                            if !eq_bytes(value, scratch.as_bytes()) {
                                changed |= bit;
                            }
                            run.finish(&mut to)?;
                            to.out.push_str(scratch);
                            run.len += scratch.len();
                            run.piece(&mut to, FROM_SEP, 0, 1)?;
                        }
                    }
                }
                // `^N`: N unchanged values, with their separators, in one piece.
                [b'^', digits @ ..] => {
                    let count = parse_count(digits)?;
                    let kept = ends.get(i..i.checked_add(count)?)?;
                    let last_end = *kept.last()?;
                    let at = run.len;
                    run.piece(&mut to, FROM_OLD, old_start, last_end + 1)?;
                    next_ends.extend(kept.iter().map(|&e| at + (e - old_start)));
                    let mask = 1u64
                        .checked_shl(count as u32)
                        .unwrap_or(0)
                        .wrapping_sub(1)
                        .checked_shl(i as u32)
                        .unwrap_or(0);
                    new_nulls |= old_nulls & mask;
                    i += count;
                    old_start = last_end + 1;
                    if last {
                        break;
                    }
                    pos = end + 1;
                    continue;
                }
                // A value from the list, with its separator. Null (`#`): its byte stays,
                // meaning nothing; empty (`$`): the separator only.
                [b'#'] => {
                    if !old_null {
                        changed |= bit;
                    }
                    new_nulls |= bit;
                    run.piece(&mut to, FROM_LINE, pos, with_sep)?;
                }
                [b'$'] => {
                    if old_null || old_end != old_start {
                        changed |= bit;
                    }
                    run.piece(&mut to, FROM_LINE, end, with_sep)?;
                }
                _ => {
                    if old_null || !eq_bytes(old.get(old_start..old_end)?, entry) {
                        changed |= bit;
                    }
                    run.piece(&mut to, FROM_LINE, pos, with_sep)?;
                }
            }
            if last && !matches!(entry, [] | [b'^', b'T', ..]) {
                run.piece(&mut to, FROM_SEP, 0, 1)?;
            }
            // The value ends just before the separator that the run now ends with.
            next_ends.push(run.len - 1);
            i += 1;
            old_start = old_end + 1;
            if last {
                break;
            }
            pos = end + 1;
        }
        if i != n {
            return None;
        }
        run.finish(&mut to)?;
        if to.out.len() != run.len || next_ends.len() != n {
            return None;
        }
        std::mem::swap(text, next_text);
        std::mem::swap(ends, next_ends);
        *nulls.first_mut()? = new_nulls;
        Some(changed)
    }
}

/// Where a run of [`Row::apply_common`] is copied from: the list, ...
const FROM_LINE: u8 = 0;
/// ... the current text, ...
const FROM_OLD: u8 = 1;
/// ... or a separator.
const FROM_SEP: u8 = 2;

/// Where [`Row::apply_common`] copies runs from, and to.
struct Copy<'a> {
    out: &'a mut String,
    line: &'a str,
    old: &'a str,
}

impl Copy<'_> {
    /// Appends bytes `a..b` of `source`: 16 bytes at a time then cut, while the source
    /// has 16 bytes left (no call to `memcpy` for a few bytes; `out` has room).
    #[inline(always)]
    fn copy(&mut self, source: u8, mut a: usize, b: usize) -> Option<()> {
        let from = match source {
            FROM_LINE => self.line,
            FROM_OLD => self.old,
            _ => {
                self.out.push(SEP);
                return Some(());
            }
        };
        let target = self.out.len() + (b - a);
        while a < b {
            match from.get(a..a + 16) {
                Some(wide) => {
                    self.out.push_str(wide);
                    a += 16;
                }
                None => {
                    self.out.push_str(from.get(a..b)?);
                    break;
                }
            }
        }
        self.out.truncate(target);
        Some(())
    }
}

/// The pending run of [`Row::apply_common`]: pieces that follow one another in their
/// source are merged into one copy.
#[derive(Default)]
struct Runs {
    source: u8,
    start: usize,
    end: usize,
    /// The length of the next text, the pending run included.
    len: usize,
}

impl Runs {
    /// Appends bytes `a..b` (`a <= b`) of `source`: extends the pending run when they
    /// follow it, else copies the pending run and starts another.
    #[inline(always)]
    fn piece(&mut self, to: &mut Copy<'_>, source: u8, a: usize, b: usize) -> Option<()> {
        if source != self.source || a != self.end {
            self.finish(to)?;
            self.source = source;
            self.start = a;
        }
        self.end = b;
        self.len += b.saturating_sub(a);
        Some(())
    }

    /// Copies the pending run.
    #[inline(always)]
    fn finish(&mut self, to: &mut Copy<'_>) -> Option<()> {
        if self.end > self.start {
            to.copy(self.source, self.start, self.end)?;
        }
        self.start = self.end;
        Some(())
    }
}

/// The commonest diff, recognised without building the value: *copy* `n` characters of
/// the old value, *add* what follows (up to the end of the diff), in ASCII (a count is then
/// a number of bytes). Returns the bytes of `old` kept and the offset of the added text in
/// `diff`; `None` for any other diff (including a bad one), which [`diff::apply`] takes.
#[inline(always)]
fn tail_edit(old: &[u8], diff: &[u8]) -> Option<(usize, usize)> {
    let mut pos = 0;
    let keep = diff::read_count(diff, &mut pos).ok()?;
    if !is_ascii(old.get(..keep)?) {
        return None;
    }
    if pos == diff.len() {
        return Some((keep, pos));
    }
    let add = diff::read_count(diff, &mut pos).ok()?;
    let added = diff.get(pos..)?;
    (added.len() == add && is_ascii(added)).then_some((keep, pos))
}

/// Applies the TLCP-diff whose counts start at `from` of `bytes` (up to the entry's end, the
/// next `|` or the end of the list) to the current value `old[start..end]`, in place: the
/// diff must give a value as long, each text it adds replacing as many bytes (a *delete*
/// of its length follows it, or the value's end), in ASCII (counts of characters are then
/// counts of bytes), so that *copies* leave their bytes where they are. The added texts
/// that differ from the bytes they replace are written into `buf` ([`write_at`]). Returns
/// where the entry ends and whether the value changes; `None` for any other diff (a bad
/// one included), the general decoder's.
#[inline(always)]
fn edit_in_place(
    old: &[u8],
    start: usize,
    end: usize,
    bytes: &[u8],
    from: usize,
    buf: &mut Vec<u8>,
) -> Option<(usize, bool)> {
    let at_end = |pos: usize| matches!(bytes.get(pos), None | Some(b'|'));
    let mut pos = from;
    // Where the next bytes of the new value go, and where the next ones of the current
    // value are read from: equal at every copy.
    let mut at = start;
    let mut differs = false;
    loop {
        // Copy.
        let n = diff_count(bytes, &mut pos)?;
        let to = at.checked_add(n)?;
        if to > end || !is_ascii(old.get(at..to)?) {
            return None;
        }
        at = to;
        if at_end(pos) {
            break;
        }
        // Add.
        let n = diff_count(bytes, &mut pos)?;
        let stop = pos.checked_add(n)?;
        let added = bytes.get(pos..stop)?;
        let to = at.checked_add(n)?;
        if to > end {
            return None;
        }
        if check_value::<true>(old.get(at..to)?, added)? {
            differs = true;
            write_at(buf, old, at, added)?;
        }
        pos = stop;
        if at_end(pos) {
            // The rest of the current value is dropped: what was added must end it.
            at = to;
            break;
        }
        // Delete: as many bytes as were added (of the current value, in ASCII).
        let n_del = diff_count(bytes, &mut pos)?;
        if n_del != n || !is_ascii(old.get(at..to)?) {
            return None;
        }
        at = to;
        if at_end(pos) {
            break;
        }
    }
    (at == end).then_some((pos, differs))
}

/// A TLCP-diff count at `pos` of `bytes` (moving `pos` past it): a single digit (a
/// lowercase letter, the usual count of a short value) read inline, longer ones by
/// [`diff::read_count`]. `None`: not a count.
#[inline(always)]
fn diff_count(bytes: &[u8], pos: &mut usize) -> Option<usize> {
    match bytes.get(*pos) {
        Some(&c @ b'a'..=b'z') => {
            *pos += 1;
            Some(usize::from(c - b'a'))
        }
        _ => diff::read_count(bytes, pos).ok(),
    }
}

/// Checks a new value `new` that is to replace `cur` byte for byte: `None` when the two
/// differ in length, or when `new` holds a `|` or a `%` (or, with `ASCII`, a non-ASCII
/// byte); otherwise whether it differs from `cur`. Short ones as (overlapping) words,
/// each byte of `new` loaded once for both questions, without a call.
#[inline(always)]
fn check_value<const ASCII: bool>(cur: &[u8], new: &[u8]) -> Option<bool> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let n = new.len();
    if cur.len() != n {
        return None;
    }
    // 0x80 in the bytes of `x` that `new` must not hold.
    let bad = |x: u64| {
        let b = eq_mask(x, b'|') | eq_mask(x, b'%');
        if ASCII { b | (x & HIGH) } else { b }
    };
    #[inline(always)]
    fn w4(s: &[u8], at: usize) -> u64 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&s[at..at + 4]);
        u64::from(u32::from_le_bytes(b))
    }
    #[inline(always)]
    fn w8(s: &[u8], at: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(b)
    }
    // (Bytes packed into words: the zero bytes added are none of the bytes looked for.)
    let (wrong, differs) = match n {
        0 => (0, false),
        1..=3 => {
            let pack = |s: &[u8]| {
                u64::from(s[0]) | (u64::from(s[n / 2]) << 8) | (u64::from(s[n - 1]) << 16)
            };
            let (a, b) = (pack(new), pack(cur));
            (bad(a), a != b)
        }
        4..=7 => {
            let pack = |s: &[u8]| w4(s, 0) | (w4(s, n - 4) << 32);
            let (a, b) = (pack(new), pack(cur));
            (bad(a), a != b)
        }
        8..=16 => {
            let (a0, a1) = (w8(new, 0), w8(new, n - 8));
            let (b0, b1) = (w8(cur, 0), w8(cur, n - 8));
            (bad(a0) | bad(a1), (a0 ^ b0) | (a1 ^ b1) != 0)
        }
        _ => {
            let ok = new
                .iter()
                .all(|&b| b != b'|' && b != b'%' && (!ASCII || b.is_ascii()));
            (u64::from(!ok), cur != new)
        }
    };
    (wrong == 0).then_some(differs)
}

/// The count of a `^N` entry whose digits start at `from` of `bytes` (N >= 1), and where
/// they end.
#[inline(always)]
fn skip_count(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut n: usize = 0;
    let mut pos = from;
    while let Some(&d) = bytes.get(pos)
        && d.is_ascii_digit()
    {
        n = n.checked_mul(10)?.checked_add(usize::from(d - b'0'))?;
        pos += 1;
    }
    (n > 0).then_some((n, pos))
}

/// Writes `new` over bytes `at..` of the copy of `old` in `buf`, making the copy first.
#[inline(always)]
fn write_at(buf: &mut Vec<u8>, old: &[u8], at: usize, new: &[u8]) -> Option<()> {
    if buf.is_empty() {
        buf.extend_from_slice(old);
    }
    copy_short(buf.get_mut(at..at.checked_add(new.len())?)?, new);
    Some(())
}

/// Whether `s` is ASCII: short ones as (overlapping) words, without a call.
#[inline(always)]
fn is_ascii(s: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let n = s.len();
    match n {
        0 => true,
        1..=3 => (s[0] | s[n / 2] | s[n - 1]) < 0x80,
        4..=7 => {
            let w = |at: usize| {
                let mut b = [0u8; 4];
                b.copy_from_slice(&s[at..at + 4]);
                u32::from_le_bytes(b)
            };
            (w(0) | w(n - 4)) & 0x8080_8080 == 0
        }
        8..=16 => (word_at(s, 0) | word_at(s, n - 8)) & HIGH == 0,
        _ => s.is_ascii(),
    }
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

/// The separators of a value list, in order, found eight bytes at a time (each word read
/// once).
struct Seps<'a> {
    bytes: &'a [u8],
    /// The offset of the current word, and its `|` and `%` bytes (0x80 each).
    at: usize,
    found: u64,
}

impl<'a> Seps<'a> {
    #[inline(always)]
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            found: Self::find(bytes, 0),
        }
    }

    /// The `|` and `%` bytes of the word at `at` (none past the end).
    #[inline(always)]
    fn find(bytes: &[u8], at: usize) -> u64 {
        if at >= bytes.len() {
            return 0;
        }
        let x = word_at(bytes, at);
        eq_mask(x, b'|') | eq_mask(x, b'%')
    }

    /// The offset of the next `|`, or the length after the last one; `None` when a `%`
    /// comes first (an escaped entry: the general decoder takes the list).
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        let len = self.bytes.len();
        while self.found == 0 {
            self.at += 8;
            if self.at >= len {
                return Some(len);
            }
            self.found = Self::find(self.bytes, self.at);
        }
        let k = self.at + (self.found.trailing_zeros() / 8) as usize;
        self.found &= self.found - 1;
        (self.bytes.get(k) == Some(&b'|')).then_some(k)
    }
}

/// 0x80 in each byte of `x` equal to `c`, 0 elsewhere (exact: no carry between bytes).
#[inline(always)]
fn eq_mask(x: u64, c: u8) -> u64 {
    let y = x ^ (ONES * u64::from(c));
    !(((y & LOWS) + LOWS) | y | LOWS)
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

/// Copies `src` into `dst` when both have the same length (otherwise does nothing): up to
/// 32 bytes as overlapping words, without a call to `memcpy` (field values are short, and
/// a call per value was a visible cost of every update).
///
/// ```
/// let mut buf = *b"price=00000.00";
/// tlcp_proto::fields::copy_short(&mut buf[6..], b"12345.67");
/// assert_eq!(&buf, b"price=12345.67");
/// ```
#[inline(always)]
pub fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n != dst.len() {
        return;
    }
    #[inline(always)]
    fn word<const W: usize>(dst: &mut [u8], src: &[u8], at: usize) {
        let mut w = [0; W];
        w.copy_from_slice(&src[at..at + W]);
        dst[at..at + W].copy_from_slice(&w);
    }
    match n {
        0 => {}
        1..=3 => {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = *s;
            }
        }
        4..=7 => {
            word::<4>(dst, src, 0);
            word::<4>(dst, src, n - 4);
        }
        8..=16 => {
            word::<8>(dst, src, 0);
            word::<8>(dst, src, n - 8);
        }
        17..=32 => {
            word::<16>(dst, src, 0);
            word::<16>(dst, src, n - 16);
        }
        _ => dst.copy_from_slice(src),
    }
}

/// Appends `v` to `out`, as `out.push_str(v)` does, but a value of up to 32 bytes is
/// copied by code made for its exact length (one jump on the length) instead of a call to
/// `memcpy`: field values are short, and servers and clients copy several per update.
///
/// ```
/// let mut out = String::from("U,1,1,");
/// tlcp_proto::fields::push_short(&mut out, "12345.67");
/// assert_eq!(out, "U,1,1,12345.67");
/// ```
#[inline(always)]
pub fn push_short(out: &mut String, v: &str) {
    // In each arm the length is a constant, so the copy is a few moves.
    macro_rules! by_length {
        ($($n:literal)*) => {
            match v.len() {
                0 => {}
                $($n => out.push_str(v.get(..$n).unwrap_or(v)),)*
                _ => out.push_str(v),
            }
        };
    }
    by_length!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);
}

/// Equality of two optional field values (`None`: null), short texts compared inline
/// ([`eq_bytes`]).
///
/// ```
/// use tlcp_proto::fields::eq_values;
/// assert!(eq_values(Some("3.04"), Some("3.04")) && eq_values(None, None));
/// assert!(!eq_values(Some(""), None));
/// ```
#[inline]
pub fn eq_values(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => eq_bytes(a.as_bytes(), b.as_bytes()),
        _ => false,
    }
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
        17..=32 => {
            word::<16>(a, 0) == word::<16>(b, 0) && word::<16>(a, n - 16) == word::<16>(b, n - 16)
        }
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
    text: &'a str,
    ends: std::slice::Iter<'a, usize>,
    /// Where the next value starts, and its index.
    start: usize,
    nulls: &'a [u64],
    index: usize,
}

impl<'a> Iterator for RowIter<'a> {
    type Item = Option<&'a str>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let end = *self.ends.next()?;
        let start = std::mem::replace(&mut self.start, end + 1);
        let i = self.index;
        self.index += 1;
        let null = self
            .nulls
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0);
        Some(if null {
            None
        } else {
            self.text.get(start..end)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ends.size_hint()
    }
}

impl ExactSizeIterator for RowIter<'_> {}
