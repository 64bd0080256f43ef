//! Percent-encoding as TLCP uses it, in both directions.
//!
//! Three contexts, three character sets:
//!
//! * **Request parameter values** ([`encode_param`]): every byte outside RFC 3986's
//!   *unreserved* set (`A-Z a-z 0-9 - . _ ~`) is encoded. The specification requires the
//!   *reserved* characters (RFC 3986 section 2.2) to be encoded; encoding the rest too (space,
//!   `%`, `|`, non-ASCII) is what the official clients do and every server accepts.
//! * **Notification arguments** ([`encode_arg`]): the meta characters of a response line,
//!   `,` `%` CR LF, plus the other control characters, so that a line never breaks.
//! * **`U` field values** ([`encode_field_value`]): `|` `%` CR LF and control characters,
//!   and a `#`, `$` or `^` in first position (and only there), so that it is not mistaken
//!   for null, empty or a skip/diff marker.
//!
//! Decoding ([`decode`], [`decode_into`]) accepts any `%XX` escape (upper- or lower-case hex)
//! and checks that the result is UTF-8; a truncated or non-hex escape is an error, never
//! passed through.

use std::borrow::Cow;

/// A malformed percent-encoded string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PercentError {
    /// A `%` not followed by two hexadecimal digits.
    #[error("bad percent escape at byte {offset}")]
    BadEscape {
        /// Byte offset of the `%` in the encoded input.
        offset: usize,
    },
    /// The decoded bytes are not valid UTF-8.
    #[error("percent-decoded text is not valid UTF-8")]
    InvalidUtf8,
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

#[inline]
fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[inline]
fn push_escaped(out: &mut String, b: u8) {
    out.push('%');
    out.push(HEX_UPPER[usize::from(b >> 4)] as char);
    out.push(HEX_UPPER[usize::from(b & 0xF)] as char);
}

#[inline]
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `value` to `out`, encoding every byte outside RFC 3986's unreserved set.
///
/// ```
/// let mut s = String::new();
/// tlcp_proto::percent::encode_param("m1 ordered|x=1&y", &mut s);
/// assert_eq!(s, "m1%20ordered%7Cx%3D1%26y");
/// ```
pub fn encode_param(value: &str, out: &mut String) {
    encode_with(value, out, |_, b| !is_unreserved(b));
}

/// Appends a notification argument to `out`, encoding `,` `%` and control characters.
pub fn encode_arg(value: &str, out: &mut String) {
    encode_with(value, out, |_, b| {
        b == b',' || b == b'%' || b < 0x20 || b == 0x7F
    });
}

/// Appends an actual field value (not null, not empty) of a `U` line to `out`.
///
/// Encodes `|` `%` and control characters anywhere, and `#` `$` `^` in first position.
/// An empty `value` must not be passed here: the caller writes `$` for it.
#[inline]
pub fn encode_field_value(value: &str, out: &mut String) {
    // Fast path, inlined into the callers: most values (prices, times, names) need no
    // escape at all.
    if is_plain_field_value(value) {
        out.push_str(value);
    } else {
        encode_field_value_escaped(value, out);
    }
}

/// [`encode_field_value`] for a value with something to escape.
#[inline(never)]
fn encode_field_value_escaped(value: &str, out: &mut String) {
    encode_with(value, out, |i, b| {
        b == b'|'
            || b == b'%'
            || b < 0x20
            || b == 0x7F
            || (i == 0 && matches!(b, b'#' | b'$' | b'^'))
    });
}

/// Whether [`encode_field_value`] writes `value` as it is (it is not empty, and nothing
/// in it needs an escape).
#[inline]
pub(crate) fn is_plain_field_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes
        .first()
        .is_some_and(|&b| !matches!(b, b'#' | b'$' | b'^'))
        && field_plain(bytes)
}

/// Whether every byte may appear as it is in a field value ([`FIELD_PLAIN`]), checked a
/// word at a time: this runs for every value of every update a server sends. From 4 bytes
/// on, the bytes are read as whole words, the last one overlapping the one before (a byte
/// checked twice changes nothing), so there is no byte-by-byte tail.
#[inline]
fn field_plain(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n >= 8 {
        let mut at = 0;
        while at + 8 <= n {
            if !word_plain(u64::from_le_bytes(word(bytes, at))) {
                return false;
            }
            at += 8;
        }
        at == n || word_plain(u64::from_le_bytes(word(bytes, n - 8)))
    } else if n >= 4 {
        let (lo, hi) = (word::<4>(bytes, 0), word::<4>(bytes, n - 4));
        word_plain(u64::from(u32::from_le_bytes(lo)) | u64::from(u32::from_le_bytes(hi)) << 32)
    } else {
        bytes.iter().all(|&b| FIELD_PLAIN[usize::from(b)])
    }
}

/// Whether no byte of `x` is below 0x20, 0x7F, `|` or `%` (bytes from 0x80 are plain).
#[inline]
fn word_plain(x: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether some byte of `x` is zero (exact, whatever the other bytes).
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    // Whether some byte is below 0x20 (exact for the word as a whole).
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS != 0;
    !(control
        || has_zero(x ^ (ONES * 0x7F))
        || has_zero(x ^ (ONES * u64::from(b'|')))
        || has_zero(x ^ (ONES * u64::from(b'%'))))
}

/// The `W` bytes of `b` from `at` (the caller checked the length).
#[inline]
fn word<const W: usize>(b: &[u8], at: usize) -> [u8; W] {
    let mut w = [0u8; W];
    if let Some(s) = b.get(at..at + W) {
        w.copy_from_slice(s);
    }
    w
}

/// Bytes that may appear as they are anywhere in a field value.
const FIELD_PLAIN: [bool; 256] = {
    let mut t = [true; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = false;
        b += 1;
    }
    t[0x7F] = false;
    t[b'|' as usize] = false;
    t[b'%' as usize] = false;
    t
};

#[inline]
fn encode_with(value: &str, out: &mut String, must_encode: impl Fn(usize, u8) -> bool) {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if must_encode(i, b) {
            if start < i {
                out.push_str(&value[start..i]);
            }
            push_escaped(out, b);
            start = i + 1;
        }
    }
    // Every encoder either encodes all bytes >= 0x80 or none of them, so a run of copied
    // bytes `start..i` (when non-empty) starts and ends on char boundaries.
    if start == 0 {
        out.push_str(value);
    } else if start < bytes.len() {
        out.push_str(&value[start..]);
    }
}

/// Decodes `s`, borrowing it when it holds no escape.
///
/// ```
/// use tlcp_proto::percent::decode;
/// assert_eq!(decode("a%2Cb").unwrap(), "a,b");
/// assert!(matches!(decode("plain").unwrap(), std::borrow::Cow::Borrowed("plain")));
/// assert!(decode("bad%2").is_err());
/// ```
pub fn decode(s: &str) -> Result<Cow<'_, str>, PercentError> {
    match memchr::memchr(b'%', s.as_bytes()) {
        None => Ok(Cow::Borrowed(s)),
        Some(_) => {
            let mut out = String::with_capacity(s.len());
            decode_into(s.as_bytes(), &mut out)?;
            Ok(Cow::Owned(out))
        }
    }
}

/// Decodes `encoded` and appends the result to `out`, without intermediate allocation.
///
/// `encoded` may be any bytes (a line that was not yet checked for UTF-8); the appended
/// text is checked to be UTF-8. On error `out` is left as it was.
pub fn decode_into(encoded: &[u8], out: &mut String) -> Result<(), PercentError> {
    let Some(first) = memchr::memchr(b'%', encoded) else {
        let s = std::str::from_utf8(encoded).map_err(|_| PercentError::InvalidUtf8)?;
        out.push_str(s);
        return Ok(());
    };
    let mut buf = std::mem::take(out).into_bytes();
    let old_len = buf.len();
    buf.extend_from_slice(&encoded[..first]);
    let mut i = first;
    let result = loop {
        if i >= encoded.len() {
            break Ok(());
        }
        let b = encoded[i];
        if b == b'%' {
            let hi = encoded.get(i + 1).copied().and_then(hex_val);
            let lo = encoded.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(h), Some(l)) => buf.push((h << 4) | l),
                _ => break Err(PercentError::BadEscape { offset: i }),
            }
            i += 3;
        } else {
            let next = memchr::memchr(b'%', &encoded[i..]).map_or(encoded.len(), |n| i + n);
            buf.extend_from_slice(&encoded[i..next]);
            i = next;
        }
    };
    let result = result.and_then(|()| {
        std::str::from_utf8(&buf[old_len..])
            .map(|_| ())
            .map_err(|_| PercentError::InvalidUtf8)
    });
    if result.is_err() {
        buf.truncate(old_len);
    }
    // The prefix `buf[..old_len]` came from a String and the suffix was just checked.
    *out = String::from_utf8(buf).unwrap_or_default();
    result
}

/// Decodes `encoded`, known to be UTF-8 text, and appends the result to `out`: the same as
/// [`decode_into`], faster when every escape stands for an ASCII byte (`%7C`, `%25`, `%0D`,
/// ...), as the text between escapes needs no check then. On error `out` is left as it was.
pub fn decode_str_into(encoded: &str, out: &mut String) -> Result<(), PercentError> {
    let bytes = encoded.as_bytes();
    let old_len = out.len();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        // `start` and `i` are next to ASCII bytes or at the ends: char boundaries.
        out.push_str(&encoded[start..i]);
        let hi = bytes.get(i + 1).copied().and_then(hex_val);
        let lo = bytes.get(i + 2).copied().and_then(hex_val);
        match (hi, lo) {
            (Some(h), Some(l)) if h < 8 => out.push(char::from((h << 4) | l)),
            _ => {
                // A non-ASCII byte (whose UTF-8 validity depends on its neighbours) or a
                // malformed escape: the general path decides.
                out.truncate(old_len);
                return decode_into(bytes, out);
            }
        }
        i += 3;
        start = i;
    }
    out.push_str(&encoded[start..]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn word_check_agrees_with_the_table() {
        for len in 1..=24 {
            for pos in 0..len {
                for b in 0..=255u8 {
                    for fill in [b'a', b'0', 0x20, 0xC3, 0x7E] {
                        let mut bytes = vec![fill; len];
                        bytes[pos] = b;
                        let want = bytes.iter().all(|&b| FIELD_PLAIN[usize::from(b)]);
                        assert_eq!(field_plain(&bytes), want, "{bytes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn param_encoding_matches_official_clients() {
        let mut s = String::new();
        encode_param("mgQkwtwdysogQz2BJ4Ji kOj2Bg", &mut s);
        assert_eq!(s, "mgQkwtwdysogQz2BJ4Ji%20kOj2Bg");
        s.clear();
        encode_param(":/?#[]@!$&'()*+,;=%", &mut s);
        assert_eq!(
            s,
            "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25"
        );
        s.clear();
        encode_param("é", &mut s);
        assert_eq!(s, "%C3%A9");
    }

    #[test]
    fn field_value_encodes_leading_markers_only() {
        let mut s = String::new();
        encode_field_value("#1", &mut s);
        assert_eq!(s, "%231");
        s.clear();
        encode_field_value("a#$^", &mut s);
        assert_eq!(s, "a#$^");
        s.clear();
        encode_field_value("^3|x%\r\n", &mut s);
        assert_eq!(s, "%5E3%7Cx%25%0D%0A");
    }

    #[test]
    fn arg_encoding_keeps_lines_whole() {
        let mut s = String::new();
        encode_arg("a,b\r\nc%", &mut s);
        assert_eq!(s, "a%2Cb%0D%0Ac%25");
    }

    #[test]
    fn decode_rejects_malformed() {
        assert_eq!(decode("%"), Err(PercentError::BadEscape { offset: 0 }));
        assert_eq!(decode("ab%4"), Err(PercentError::BadEscape { offset: 2 }));
        assert_eq!(decode("%zz"), Err(PercentError::BadEscape { offset: 0 }));
        assert_eq!(decode("%C3"), Err(PercentError::InvalidUtf8));
        assert_eq!(decode("%c3%a9").unwrap(), "é");
        let mut out = String::from("keep");
        assert!(decode_into(b"x%C3", &mut out).is_err());
        assert_eq!(out, "keep");
        assert!(decode_into(b"\xff", &mut out).is_err());
        assert_eq!(out, "keep");
    }

    #[test]
    fn decode_str_into_matches_decode_into() {
        for s in [
            "",
            "plain",
            "a%7Cb",
            "%25%0D%0A",
            "%c3%a9",
            "x%C3",
            "%zz",
            "ab%4",
            "é%2C",
        ] {
            let (mut a, mut b) = (String::from("k"), String::from("k"));
            assert_eq!(
                decode_str_into(s, &mut a),
                decode_into(s.as_bytes(), &mut b),
                "{s}"
            );
            assert_eq!(a, b, "{s}");
        }
    }

    proptest! {
        #[test]
        fn decode_str_into_agrees(s in "([a-c%é|]|%[0-9A-Fa-f]{2}){0,12}") {
            let (mut a, mut b) = (String::new(), String::new());
            prop_assert_eq!(decode_str_into(&s, &mut a), decode_into(s.as_bytes(), &mut b));
            prop_assert_eq!(a, b);
        }

        #[test]
        fn every_encoder_round_trips(s in "\\PC*") {
            for enc in [encode_param, encode_arg] {
                let mut e = String::new();
                enc(&s, &mut e);
                prop_assert_eq!(decode(&e).unwrap(), s.as_str());
            }
            if !s.is_empty() {
                let mut e = String::new();
                encode_field_value(&s, &mut e);
                prop_assert!(!e.contains('|'));
                prop_assert!(!e.starts_with(['#', '$', '^']));
                prop_assert_eq!(decode(&e).unwrap(), s.as_str());
            }
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = String::new();
            let _ = decode_into(&bytes, &mut out);
        }
    }
}
