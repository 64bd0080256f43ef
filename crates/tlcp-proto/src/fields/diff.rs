//! TLCP-diff (`^T` field entries, TLCP 2.4.0+).
//!
//! A diff is a sequence of counts read in a cycle: *copy* n characters of the previous value,
//! *add* the n characters that follow the count in the diff, *delete* (skip) n characters of
//! the previous value, then copy again, and so on until the diff ends. Whatever the diff leaves
//! of the previous value is dropped, not copied.
//!
//! A count is a base-26 number written with letters: upper-case `A`-`Z` for the leading
//! digits, one lower-case `a`-`z` for the last one (`a` = 0, `b` = 1, `Bc` = 28).
//!
//! Counts are in UTF-16 code units, as the reference decoder works on Java/Kotlin
//! `CharSequence`s: a character outside the Basic Multilingual Plane counts 2. A count that
//! ends inside such a character (between the two halves of its surrogate pair) is an error.
//!
//! ```
//! use tlcp_proto::fields::diff;
//! let mut out = String::new();
//! diff::apply("foobar", "bdzapcd", &mut out).unwrap();
//! assert_eq!(out, "fzapbar");
//! ```

/// A TLCP-diff that does not apply to its base value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    /// The diff ends in the middle of a count (no lower-case last digit).
    #[error("count not terminated by a lower-case letter")]
    UnterminatedCount,
    /// A count contains a character that is not an ASCII letter.
    #[error("count contains a character that is not a letter")]
    BadCountDigit,
    /// A count does not fit in a `usize`.
    #[error("count too large")]
    CountOverflow,
    /// A copy or delete count runs past the end of the previous value.
    #[error("copy or delete runs past the end of the previous value")]
    PastEndOfBase,
    /// An add count runs past the end of the diff.
    #[error("add runs past the end of the diff")]
    PastEndOfDiff,
    /// A count ends between the two UTF-16 units of a surrogate pair.
    #[error("count splits a surrogate pair")]
    SplitsSurrogatePair,
}

/// Applies `diff` (already percent-decoded) to `base` and appends the result to `out`.
///
/// On error, `out` may hold part of the result; the caller truncates it.
pub fn apply(base: &str, diff: &str, out: &mut String) -> Result<(), DiffError> {
    let d = diff.as_bytes();
    let mut dpos = 0;
    let mut bpos = 0;
    while dpos < d.len() {
        // copy
        let n = read_count(d, &mut dpos)?;
        let end = advance(base, bpos, n).ok_or(DiffError::PastEndOfBase)??;
        out.push_str(&base[bpos..end]);
        bpos = end;
        if dpos == d.len() {
            break;
        }
        // add
        let n = read_count(d, &mut dpos)?;
        let end = advance(diff, dpos, n).ok_or(DiffError::PastEndOfDiff)??;
        out.push_str(&diff[dpos..end]);
        dpos = end;
        if dpos == d.len() {
            break;
        }
        // delete
        let n = read_count(d, &mut dpos)?;
        bpos = advance(base, bpos, n).ok_or(DiffError::PastEndOfBase)??;
    }
    Ok(())
}

/// Appends to `out` a diff that turns `old` into `new`: the common prefix and suffix are
/// copied, the middle is replaced. Not percent-encoded.
///
/// ```
/// use tlcp_proto::fields::diff;
/// let mut d = String::new();
/// diff::encode("foobar", "fzapbar", &mut d);
/// assert_eq!(d, "bdzapcd");
/// ```
pub fn encode(old: &str, new: &str, out: &mut String) {
    if old.is_ascii() && new.is_ascii() {
        encode_ascii(old, new, out);
    } else {
        encode_general(old, new, out);
    }
}

/// [`encode`] for any texts.
fn encode_general(old: &str, new: &str, out: &mut String) {
    let (ob, nb) = (old.as_bytes(), new.as_bytes());
    let mut prefix = common_prefix(ob, nb);
    // Equal bytes up to a char boundary of `old` are a char boundary of `new` too.
    while !old.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let (o_rest, n_rest) = (&ob[prefix..], &nb[prefix..]);
    let mut suffix = common_suffix(o_rest, n_rest);
    while !old.is_char_boundary(old.len() - suffix) {
        suffix -= 1;
    }
    let added = &new[prefix..new.len() - suffix];
    let deleted = &old[prefix..old.len() - suffix];
    push_count(utf16_len(&old[..prefix]), out);
    if suffix == 0 && deleted.is_empty() && added.is_empty() {
        return;
    }
    push_count(utf16_len(added), out);
    out.push_str(added);
    if suffix == 0 {
        // The rest of `old` (the deleted part) is dropped when the diff ends.
        return;
    }
    push_count(utf16_len(deleted), out);
    push_count(utf16_len(&old[old.len() - suffix..]), out);
}

/// [`encode`] for two ASCII texts (the usual case: times, prices, counters), which the
/// caller has checked: every byte is a character and one UTF-16 unit, so there are no
/// boundaries to look for and every count is a byte count.
pub(crate) fn encode_ascii(old: &str, new: &str, out: &mut String) {
    let (ob, nb) = (old.as_bytes(), new.as_bytes());
    let prefix = common_prefix(ob, nb);
    let suffix = common_suffix(&ob[prefix..], &nb[prefix..]);
    let added = new.get(prefix..new.len() - suffix).unwrap_or_default();
    let deleted = old.len() - suffix - prefix;
    push_count(prefix, out);
    if suffix == 0 && deleted == 0 && added.is_empty() {
        return;
    }
    push_count(added.len(), out);
    out.push_str(added);
    if suffix == 0 {
        return;
    }
    push_count(deleted, out);
    push_count(suffix, out);
}

/// The usual diff, as a tail edit: when `old` and `new` are ASCII, as long as each other,
/// and differ in their last byte (a counter, a time, a price), the diff copies their
/// common prefix and adds the rest of `new`: what [`encode_ascii`] writes for them.
/// Returns the prefix length and the diff's length, for [`push_tail_edit`].
#[inline]
pub(crate) fn tail_edit(old: &str, new: &str) -> Option<(usize, usize)> {
    let (ob, nb) = (old.as_bytes(), new.as_bytes());
    if ob.len() != nb.len() || ob.last() == nb.last() || !ob.is_ascii() || !nb.is_ascii() {
        return None;
    }
    let same = common_prefix(ob, nb);
    let added = nb.len() - same;
    Some((same, count_len(same) + count_len(added) + added))
}

/// Appends the diff [`tail_edit`] measured (`same`: its prefix length).
#[inline]
pub(crate) fn push_tail_edit(new: &str, same: usize, out: &mut String) {
    let added = new.get(same..).unwrap_or_default();
    push_count(same, out);
    push_count(added.len(), out);
    super::push_short(out, added);
}

/// The length of the longest common prefix of `a` and `b`, compared eight bytes at a time
/// (a server computes it for every long value it sends).
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = word(&a[i..i + 8]) ^ word(&b[i..i + 8]);
        if x != 0 {
            // Little-endian words: the first differing byte is the lowest set one.
            return i + (x.to_le().trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..n]
        .iter()
        .zip(&b[i..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The length of the longest common suffix of `a` and `b`, eight bytes at a time.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    // The usual case first: the last character changed (a counter, a time, a price).
    if a.last() != b.last() {
        return 0;
    }
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut k = 0;
    while k + 8 <= n {
        let (s, e) = (n - k - 8, n - k);
        let x = word(&a[s..e]) ^ word(&b[s..e]);
        if x != 0 {
            // Big-endian view: the byte nearest the end is the lowest one.
            return k + (x.to_be().trailing_zeros() / 8) as usize;
        }
        k += 8;
    }
    k + a[..n - k]
        .iter()
        .rev()
        .zip(b[..n - k].iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// Eight bytes as a word, in memory order.
#[inline]
fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes);
    u64::from_ne_bytes(w)
}

/// Length of `s` in UTF-16 code units.
pub(crate) fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().map(char::len_utf16).sum()
    }
}

/// The length of the letter encoding of `n` ([`push_count`]).
#[inline]
fn count_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 26 {
        n /= 26;
        len += 1;
    }
    len
}

/// Appends the letter encoding of `n` to `out`.
#[inline]
fn push_count(n: usize, out: &mut String) {
    if n < 26 {
        // One letter, inlined: most counts of a diff between two short values.
        out.push(char::from(b'a' + n as u8));
    } else {
        push_long_count(n, out);
    }
}

/// [`push_count`] from 26 on.
#[inline(never)]
fn push_long_count(mut n: usize, out: &mut String) {
    let mut digits = [0u8; 16];
    let mut i = digits.len() - 1;
    digits[i] = b'a' + (n % 26) as u8;
    n /= 26;
    while n > 0 {
        i -= 1;
        digits[i] = b'A' + (n % 26) as u8;
        n /= 26;
    }
    for &b in &digits[i..] {
        out.push(char::from(b));
    }
}

/// Reads the count at `*pos` of `d` and moves `*pos` past it.
#[inline]
pub(crate) fn read_count(d: &[u8], pos: &mut usize) -> Result<usize, DiffError> {
    let mut n: usize = 0;
    loop {
        let c = *d.get(*pos).ok_or(DiffError::UnterminatedCount)?;
        *pos += 1;
        let (digit, last) = match c {
            b'a'..=b'z' => (c - b'a', true),
            b'A'..=b'Z' => (c - b'A', false),
            _ => return Err(DiffError::BadCountDigit),
        };
        n = n
            .checked_mul(26)
            .and_then(|n| n.checked_add(usize::from(digit)))
            .ok_or(DiffError::CountOverflow)?;
        if last {
            return Ok(n);
        }
    }
}

/// The byte offset `units` UTF-16 code units after byte offset `from` of `s`: `None` past the
/// end, `Some(Err)` when it would split a surrogate pair.
#[inline]
fn advance(s: &str, from: usize, units: usize) -> Option<Result<usize, DiffError>> {
    let bytes = s.as_bytes();
    // Fast path: an all-ASCII stretch counts one unit per byte.
    if let Some(stretch) = bytes.get(from..from.checked_add(units)?)
        && stretch.is_ascii()
    {
        return Some(Ok(from + units));
    }
    let mut i = from;
    let mut left = units;
    while left > 0 {
        let b = *bytes.get(i)?;
        // `i` is always at a char boundary, so `b` is a leading byte.
        let (len, u) = match b {
            0x00..=0x7F => (1, 1),
            0x80..=0xDF => (2, 1),
            0xE0..=0xEF => (3, 1),
            _ => (4, 2),
        };
        if u > left {
            return Some(Err(DiffError::SplitsSurrogatePair));
        }
        i += len;
        left -= u;
    }
    Some(Ok(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_len_is_the_length_push_count_writes() {
        for n in (0..2_000).chain([17_575, 17_576, 456_975, 456_976, usize::MAX]) {
            let mut s = String::new();
            push_count(n, &mut s);
            assert_eq!(count_len(n), s.len(), "{n}");
        }
    }

    #[test]
    fn tail_edit_is_what_encode_ascii_writes() {
        let pairs = [
            ("1764697200123456789", "1764697200123499998"),
            ("1764697200123456789", "2764697200123456780"),
            (
                "abcdefghijklmnopqrstuvwxyz0123456789",
                "abcdefghijklmnopqrstuvwxyz012345678X",
            ),
            ("00000.01", "99999.99"),
            ("x", "y"),
        ];
        for (old, new) in pairs {
            let (same, len) = tail_edit(old, new).expect(new);
            let mut ours = String::new();
            push_tail_edit(new, same, &mut ours);
            let mut reference = String::new();
            encode_ascii(old, new, &mut reference);
            assert_eq!(ours, reference, "{old} -> {new}");
            assert_eq!(len, ours.len());
        }
        // Not a tail edit: another length, the same last byte, non-ASCII.
        for (old, new) in [("12345", "123456"), ("12345", "22345"), ("1é5", "1é6")] {
            assert_eq!(tail_edit(old, new), None, "{old} -> {new}");
        }
    }

    #[test]
    fn word_wise_prefix_and_suffix_agree_with_bytewise() {
        let naive_prefix = |a: &[u8], b: &[u8]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let naive_suffix = |a: &[u8], b: &[u8]| {
            a.iter()
                .rev()
                .zip(b.iter().rev())
                .take_while(|(x, y)| x == y)
                .count()
        };
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for la in 0..=base.len() {
            for lb in [0, 1, 7, 8, 9, 15, 16, 17, 25, 40] {
                let lb = lb.min(base.len());
                for flip in 0..lb.max(1) {
                    let a = &base[..la];
                    let mut b = base[..lb].to_vec();
                    if let Some(x) = b.get_mut(flip) {
                        *x = b'#';
                    }
                    assert_eq!(
                        common_prefix(a, &b),
                        naive_prefix(a, &b),
                        "{la} {lb} {flip}"
                    );
                    assert_eq!(
                        common_suffix(a, &b),
                        naive_suffix(a, &b),
                        "{la} {lb} {flip}"
                    );
                    let (ra, rb): (Vec<u8>, Vec<u8>) = (
                        a.iter().rev().copied().collect(),
                        b.iter().rev().copied().collect(),
                    );
                    assert_eq!(common_suffix(&ra, &rb), naive_suffix(&ra, &rb));
                }
            }
        }
    }

    fn run(base: &str, diff: &str) -> Result<String, DiffError> {
        let mut out = String::new();
        apply(base, diff, &mut out).map(|()| out)
    }

    #[test]
    fn reference_vectors() {
        let dots = ".".repeat(999);
        let vectors: Vec<(String, &str, String)> = vec![
            ("".into(), "aaa", "".into()),
            ("123".into(), "d", "123".into()),
            ("123".into(), "daaa", "123".into()),
            ("123456789".into(), "adabcdg", "abc456789".into()),
            ("123456789".into(), "ddabcdd", "123abc789".into()),
            ("123456789".into(), "gdabc", "123456abc".into()),
            (format!("1{dots}"), "ab2bBMl", format!("2{dots}")),
            (format!("{dots}1"), "BMlb2", format!("{dots}2")),
            (format!("1{dots}2"), "ab3bBMlb4", format!("3{dots}4")),
            ("foobar".into(), "bdzapcd", "fzapbar".into()),
            ("".into(), "", "".into()),
            ("foobar".into(), "d", "foo".into()),
        ];
        for (old, diff, new) in vectors {
            assert_eq!(
                run(&old, diff).as_deref(),
                Ok(new.as_str()),
                "{old:?} {diff:?}"
            );
        }
    }

    #[test]
    fn counts_are_utf16_units() {
        // U+1F600 is two UTF-16 units, é is one.
        assert_eq!(run("😀é!", "db?").as_deref(), Ok("😀é?"));
        assert_eq!(run("a😀", "bbx").as_deref(), Ok("ax"));
        assert_eq!(run("😀", "b"), Err(DiffError::SplitsSurrogatePair));
        assert_eq!(run("x", "ab😀"), Err(DiffError::SplitsSurrogatePair));
        assert_eq!(run("x", "ac😀").as_deref(), Ok("😀"));
    }

    #[test]
    fn malformed_diffs() {
        assert_eq!(run("123", "e"), Err(DiffError::PastEndOfBase));
        assert_eq!(run("123", "aaf"), Err(DiffError::PastEndOfBase));
        assert_eq!(run("123", "adab"), Err(DiffError::PastEndOfDiff));
        assert_eq!(run("123", "B"), Err(DiffError::UnterminatedCount));
        assert_eq!(run("123", "a"), Ok(String::new()));
        assert_eq!(run("123", "aB"), Err(DiffError::UnterminatedCount));
        assert_eq!(run("123", "ab"), Err(DiffError::PastEndOfDiff));
        assert_eq!(run("123", "1"), Err(DiffError::BadCountDigit));
        assert_eq!(run("123", &"Z".repeat(20)), Err(DiffError::CountOverflow));
    }

    #[test]
    fn encode_round_trips() {
        let cases = [
            ("foobar", "fzapbar"),
            ("", ""),
            ("", "abc"),
            ("abc", ""),
            ("abc", "abc"),
            ("abc", "abcdef"),
            ("abcdef", "abc"),
            ("abcdef", "def"),
            ("é😀x", "é😁x"),
            ("aaa", "aa"),
        ];
        for (old, new) in cases {
            let mut d = String::new();
            encode(old, new, &mut d);
            assert_eq!(
                run(old, &d).as_deref(),
                Ok(new),
                "{old:?} -> {new:?} via {d:?}"
            );
        }
        let mut d = String::new();
        push_count(25, &mut d);
        push_count(26, &mut d);
        push_count(28, &mut d);
        push_count(0, &mut d);
        push_count(usize::MAX, &mut d);
        let mut pos = 0;
        assert_eq!(read_count(d.as_bytes(), &mut pos), Ok(25));
        assert_eq!(read_count(d.as_bytes(), &mut pos), Ok(26));
        assert_eq!(read_count(d.as_bytes(), &mut pos), Ok(28));
        assert_eq!(read_count(d.as_bytes(), &mut pos), Ok(0));
        assert_eq!(read_count(d.as_bytes(), &mut pos), Ok(usize::MAX));
    }

    #[test]
    fn ascii_encoding_is_the_general_one() {
        // Every pair of texts of up to 4 bytes over a 3-letter alphabet, and long ones whose
        // counts take two letters.
        let mut texts = vec![String::new()];
        for len in 1..=4 {
            let mut more = Vec::new();
            for t in texts.iter().filter(|t| t.len() == len - 1) {
                for c in ['a', 'b', '|'] {
                    more.push(format!("{t}{c}"));
                }
            }
            texts.extend(more);
        }
        let long = "1".repeat(40);
        texts.extend([
            format!("{long}x{long}"),
            format!("{long}yy{long}"),
            format!("x{long}"),
            format!("{long}2"),
        ]);
        for old in &texts {
            for new in &texts {
                let (mut fast, mut general) = (String::new(), String::new());
                encode_ascii(old, new, &mut fast);
                encode_general(old, new, &mut general);
                assert_eq!(fast, general, "{old:?} -> {new:?}");
                assert_eq!(run(old, &fast).as_deref(), Ok(new.as_str()));
            }
        }
    }
}
