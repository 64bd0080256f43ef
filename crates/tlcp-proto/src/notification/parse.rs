//! Parsing a line into a [`Notification`].

use std::borrow::Cow;
use std::str::FromStr;

use super::Notification;
use super::error::{ArgRef, NotificationError, snippet};
use crate::percent;
use crate::types::{BandwidthLimit, RealMaxFrequency, parse_decimal};

type Result<T> = std::result::Result<T, NotificationError>;

impl<'a> Notification<'a> {
    /// Parses one line (without its CRLF).
    ///
    /// `U` lines take a fast path: the tag is recognized from the first two bytes and the
    /// line is split with `memchr`, without allocating. Other lines allocate only to
    /// percent-decode a text argument that holds an escape.
    ///
    /// ```
    /// use tlcp_proto::{Notification, RealMaxFrequency};
    ///
    /// let n = Notification::parse("CONF,3,3.0,filtered").unwrap();
    /// assert_eq!(
    ///     n,
    ///     Notification::Conf {
    ///         sub_id: 3,
    ///         max_frequency: RealMaxFrequency::PerSecond(3.0),
    ///         filtered: true
    ///     }
    /// );
    /// assert!(Notification::parse("SUBOK,3,1").is_err());
    /// ```
    pub fn parse(line: &'a str) -> Result<Self> {
        let bytes = line.as_bytes();
        if let [b'U', b',', ..] = bytes {
            return parse_update(Some(&line[2..]));
        }
        let (tag, rest) = match memchr::memchr(b',', bytes) {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        match tag {
            "" => Err(NotificationError::MissingTag),
            "U" => parse_update(rest),
            "CONOK" => {
                let [sid, limit, keepalive, link] = split::<4>("CONOK", rest)?;
                Ok(Self::ConOk {
                    session_id: text(arg("CONOK", 1, "session-ID"), sid)?,
                    request_limit: num(arg("CONOK", 2, "request-limit"), limit)?,
                    keepalive_ms: num(arg("CONOK", 3, "keep-alive"), keepalive)?,
                    control_link: star_or_text(arg("CONOK", 4, "control-link"), link)?,
                })
            }
            "CONERR" => {
                let [code, msg] = split::<2>("CONERR", rest)?;
                Ok(Self::ConErr {
                    code: error_code(arg("CONERR", 1, "error-code"), code)?,
                    message: text(arg("CONERR", 2, "error-message"), msg)?,
                })
            }
            "END" => {
                let [code, msg] = split::<2>("END", rest)?;
                Ok(Self::End {
                    code: error_code(arg("END", 1, "cause-code"), code)?,
                    message: text(arg("END", 2, "cause-message"), msg)?,
                })
            }
            "LOOP" => {
                let [delay] = split::<1>("LOOP", rest)?;
                Ok(Self::Loop {
                    expected_delay_ms: num(arg("LOOP", 1, "expected-delay"), delay)?,
                })
            }
            "PROG" => {
                let [prog] = split::<1>("PROG", rest)?;
                Ok(Self::Prog {
                    progressive: num(arg("PROG", 1, "prog"), prog)?,
                })
            }
            "WSOK" => split::<0>("WSOK", rest).map(|[]| Self::WsOk),
            "PROBE" => split::<0>("PROBE", rest).map(|[]| Self::Probe),
            "NOOP" => {
                let [preamble] = split::<1>("NOOP", rest)?;
                Ok(Self::Noop {
                    preamble: text(arg("NOOP", 1, "preamble"), preamble)?,
                })
            }
            "SYNC" => {
                let [secs] = split::<1>("SYNC", rest)?;
                Ok(Self::Sync {
                    seconds: num(arg("SYNC", 1, "seconds-since-initial-header"), secs)?,
                })
            }
            "CONS" => {
                let [bw] = split::<1>("CONS", rest)?;
                Ok(Self::Cons {
                    bandwidth: bandwidth(arg("CONS", 1, "bandwidth"), bw)?,
                })
            }
            "CLIENTIP" => {
                let [ip] = split::<1>("CLIENTIP", rest)?;
                Ok(Self::ClientIp {
                    ip: text(arg("CLIENTIP", 1, "client-IP"), ip)?,
                })
            }
            "SERVNAME" => {
                let [name] = split::<1>("SERVNAME", rest)?;
                Ok(Self::ServName {
                    name: text(arg("SERVNAME", 1, "server-name"), name)?,
                })
            }
            "REQOK" => Ok(Self::ReqOk {
                request_id: match rest {
                    None => None,
                    Some(id) => Some(text(arg("REQOK", 1, "request-ID"), id)?),
                },
            }),
            "REQERR" => {
                let [id, code, msg] = split::<3>("REQERR", rest)?;
                Ok(Self::ReqErr {
                    request_id: text(arg("REQERR", 1, "request-ID"), id)?,
                    code: error_code(arg("REQERR", 2, "error-code"), code)?,
                    message: text(arg("REQERR", 3, "error-message"), msg)?,
                })
            }
            "ERROR" => {
                let [code, msg] = split::<2>("ERROR", rest)?;
                Ok(Self::Error {
                    code: error_code(arg("ERROR", 1, "error-code"), code)?,
                    message: text(arg("ERROR", 2, "error-message"), msg)?,
                })
            }
            "SUBOK" => {
                let [sub, items, fields] = split::<3>("SUBOK", rest)?;
                Ok(Self::SubOk {
                    sub_id: num(arg("SUBOK", 1, "subscription-ID"), sub)?,
                    num_items: num(arg("SUBOK", 2, "num-items"), items)?,
                    num_fields: num(arg("SUBOK", 3, "num-fields"), fields)?,
                })
            }
            "SUBCMD" => {
                let [sub, items, fields, key, cmd] = split::<5>("SUBCMD", rest)?;
                Ok(Self::SubCmd {
                    sub_id: num(arg("SUBCMD", 1, "subscription-ID"), sub)?,
                    num_items: num(arg("SUBCMD", 2, "num-items"), items)?,
                    num_fields: num(arg("SUBCMD", 3, "num-fields"), fields)?,
                    key_field: num(arg("SUBCMD", 4, "key-field"), key)?,
                    command_field: num(arg("SUBCMD", 5, "command-field"), cmd)?,
                })
            }
            "UNSUB" => {
                let [sub] = split::<1>("UNSUB", rest)?;
                Ok(Self::Unsub {
                    sub_id: num(arg("UNSUB", 1, "subscription-ID"), sub)?,
                })
            }
            "CONF" => {
                let [sub, freq, flag] = split::<3>("CONF", rest)?;
                Ok(Self::Conf {
                    sub_id: num(arg("CONF", 1, "subscription-ID"), sub)?,
                    max_frequency: frequency(arg("CONF", 2, "max-frequency"), freq)?,
                    filtered: filtered(arg("CONF", 3, "filtered|unfiltered"), flag)?,
                })
            }
            "EOS" => {
                let [sub, item] = split::<2>("EOS", rest)?;
                Ok(Self::Eos {
                    sub_id: num(arg("EOS", 1, "subscription-ID"), sub)?,
                    item: num(arg("EOS", 2, "item"), item)?,
                })
            }
            "CS" => {
                let [sub, item] = split::<2>("CS", rest)?;
                Ok(Self::Cs {
                    sub_id: num(arg("CS", 1, "subscription-ID"), sub)?,
                    item: num(arg("CS", 2, "item"), item)?,
                })
            }
            "OV" => {
                let [sub, item, lost] = split::<3>("OV", rest)?;
                Ok(Self::Ov {
                    sub_id: num(arg("OV", 1, "subscription-ID"), sub)?,
                    item: num(arg("OV", 2, "item"), item)?,
                    lost: num(arg("OV", 3, "overflow-size"), lost)?,
                })
            }
            "MSGDONE" => parse_msg_done(rest),
            "MSGFAIL" => {
                let [seq, prog, code, msg] = split::<4>("MSGFAIL", rest)?;
                Ok(Self::MsgFail {
                    sequence: star_or_text(arg("MSGFAIL", 1, "sequence"), seq)?,
                    prog: num(arg("MSGFAIL", 2, "prog"), prog)?,
                    code: error_code(arg("MSGFAIL", 3, "error-code"), code)?,
                    message: text(arg("MSGFAIL", 4, "error-message"), msg)?,
                })
            }
            _ => Ok(Self::Unknown { tag, args: rest }),
        }
    }

    /// [`parse`](Self::parse), with the fast path of `U` lines inlined in the caller
    /// (the same as [`parse_bytes`](Self::parse_bytes) for a line already known to be
    /// UTF-8).
    #[inline]
    pub(crate) fn parse_str(line: &'a str) -> Result<Self> {
        match line.strip_prefix("U,") {
            // `parse_update` is inlined: its fast path lands in the caller.
            Some(rest) => parse_update(Some(rest)),
            None => Self::parse(line),
        }
    }

    /// The subscription id, item and values of a `U` line as the fast path of
    /// [`parse_str`](Self::parse_str) reads them, for a caller that only wants those:
    /// `None` for any other line, and for a `U` line that the fast path leaves to the
    /// general way (whatever `parse_str` then gives, its own fast path gives this).
    #[inline(always)]
    pub(crate) fn update_parts(line: &'a str) -> Option<(u32, u32, &'a str)> {
        let r = line.strip_prefix("U,")?;
        let (sub_id, at) = short_id(r.as_bytes(), 0)?;
        let (item, at) = short_id(r.as_bytes(), at)?;
        Some((sub_id, item, r.get(at..)?))
    }

    /// Parses one line given as bytes (without its CRLF), checking UTF-8 first (once).
    ///
    /// ```
    /// use tlcp_proto::{Notification, NotificationError};
    ///
    /// assert_eq!(Notification::parse_bytes(b"PROBE"), Ok(Notification::Probe));
    /// assert_eq!(
    ///     Notification::parse_bytes(b"NOOP,\xff"),
    ///     Err(NotificationError::InvalidUtf8 { valid_up_to: 5 })
    /// );
    /// ```
    pub fn parse_bytes(line: &'a [u8]) -> Result<Self> {
        // `U` lines (the hot path): the header is read from the bytes, and the UTF-8 check
        // starts at an 8-byte aligned address within it (the header is ASCII), where the
        // standard check goes a word at a time from the first byte.
        if let [b'U', b',', rest @ ..] = line
            && let Some((sub_id, at)) = short_id(rest, 0)
            && let Some((item, at)) = short_id(rest, at)
        {
            let start = 2 + at;
            let from = line.as_ptr().align_offset(8).min(start);
            if let Some(tail) = line.get(from..)
                && let Ok(text) = std::str::from_utf8(tail)
                && let Some(values) = text.get(start - from..)
            {
                return Ok(Self::Update {
                    sub_id,
                    item,
                    values,
                });
            }
        }
        let line = std::str::from_utf8(line).map_err(|e| NotificationError::InvalidUtf8 {
            valid_up_to: e.valid_up_to(),
        })?;
        Self::parse(line)
    }
}

/// `<subscription-ID>,<item>,<values>` of a `U` line: no allocation, values left raw.
///
/// The two numbers are read digit by digit up to their comma (one pass over a few bytes,
/// no `memchr` call, no `str::parse`); anything unusual (no digit, another byte, 10 digits
/// or more, a missing comma) goes the general way, which gives the same values and the
/// exact error.
#[inline]
fn parse_update(rest: Option<&str>) -> Result<Notification<'_>> {
    if let Some(r) = rest
        && let Some((sub_id, at)) = short_id(r.as_bytes(), 0)
        && let Some((item, at)) = short_id(r.as_bytes(), at)
        && let Some(values) = r.get(at..)
    {
        return Ok(Notification::Update {
            sub_id,
            item,
            values,
        });
    }
    parse_update_slow(rest)
}

/// A number of 1 to 9 digits at `at`, followed by a comma: the number and the index after
/// the comma. `None` for anything else.
#[inline(always)]
fn short_id(bytes: &[u8], at: usize) -> Option<(u32, usize)> {
    let mut value: u32 = 0;
    for (k, &b) in bytes.get(at..)?.iter().take(10).enumerate() {
        if b == b',' {
            return (k > 0).then_some((value, at + k + 1));
        }
        let digit = b.wrapping_sub(b'0');
        if digit > 9 || k == 9 {
            return None;
        }
        value = value * 10 + u32::from(digit);
    }
    None
}

/// [`parse_update`] the general way: split, then strict numbers.
#[cold]
fn parse_update_slow(rest: Option<&str>) -> Result<Notification<'_>> {
    let [sub, item, values] = split::<3>("U", rest)?;
    Ok(Notification::Update {
        sub_id: num(arg("U", 1, "subscription-ID"), sub)?,
        item: num(arg("U", 2, "item"), item)?,
        values,
    })
}

/// `MSGDONE,<sequence>,<prog>[,<response>]`: 2 arguments, or 3 from TLCP 2.5.0.
fn parse_msg_done(rest: Option<&str>) -> Result<Notification<'_>> {
    let wrong = |found| NotificationError::WrongArgCount {
        tag: "MSGDONE",
        expected: "2 or 3",
        found,
    };
    let rest = rest.ok_or(wrong(0))?;
    let (seq, rest) = rest.split_once(',').ok_or(wrong(1))?;
    let (prog, response) = match rest.split_once(',') {
        Some((prog, response)) => (prog, Some(response)),
        None => (rest, None),
    };
    Ok(Notification::MsgDone {
        sequence: star_or_text(arg("MSGDONE", 1, "sequence"), seq)?,
        prog: num(arg("MSGDONE", 2, "prog"), prog)?,
        response: match response {
            None => None,
            Some(r) => Some(text(arg("MSGDONE", 3, "response"), r)?),
        },
    })
}

#[inline]
const fn arg(tag: &'static str, index: u8, name: &'static str) -> ArgRef {
    ArgRef { tag, index, name }
}

/// Splits the arguments of a tag with exactly `N` of them; the last one takes the rest
/// of the line, commas included.
#[inline]
fn split<'a, const N: usize>(tag: &'static str, rest: Option<&'a str>) -> Result<[&'a str; N]> {
    const EXPECTED: [&str; 6] = ["0", "1", "2", "3", "4", "5"];
    let wrong = |found| NotificationError::WrongArgCount {
        tag,
        expected: EXPECTED.get(N).copied().unwrap_or("?"),
        found,
    };
    let mut out = [""; N];
    let Some(mut rest) = rest else {
        return if N == 0 { Ok(out) } else { Err(wrong(0)) };
    };
    let Some((last, init)) = out.split_last_mut() else {
        // N == 0 but there is a comma: every comma separates one more argument.
        return Err(wrong(
            1 + memchr::memchr_iter(b',', rest.as_bytes()).count(),
        ));
    };
    for (i, slot) in init.iter_mut().enumerate() {
        let Some(j) = memchr::memchr(b',', rest.as_bytes()) else {
            return Err(wrong(i + 1));
        };
        *slot = &rest[..j];
        rest = &rest[j + 1..];
    }
    *last = rest;
    Ok(out)
}

/// Strict unsigned integer: ASCII digits only (no sign, no blank), no overflow.
#[inline]
fn num<T: Unsigned>(arg: ArgRef, s: &str) -> Result<T> {
    if !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && let Ok(v) = s.parse()
    {
        return Ok(v);
    }
    Err(NotificationError::BadNumber {
        arg,
        expected: T::EXPECTED,
        text: snippet(s),
    })
}

/// The unsigned integer types of notification arguments.
trait Unsigned: FromStr {
    const EXPECTED: &'static str;
}

impl Unsigned for u32 {
    const EXPECTED: &'static str = "an unsigned 32-bit integer";
}

impl Unsigned for u64 {
    const EXPECTED: &'static str = "an unsigned 64-bit integer";
}

/// An error code: digits with an optional leading `-` (codes `<= 0` are the adapter's).
fn error_code(arg: ArgRef, s: &str) -> Result<i32> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(v) = s.parse()
    {
        return Ok(v);
    }
    Err(NotificationError::BadNumber {
        arg,
        expected: "an error code (32-bit integer, may be negative)",
        text: snippet(s),
    })
}

/// A percent-decoded text argument, borrowed when it holds no escape.
#[inline]
fn text(arg: ArgRef, s: &str) -> Result<Cow<'_, str>> {
    percent::decode(s).map_err(|source| NotificationError::BadEscape {
        arg,
        text: snippet(s),
        source,
    })
}

/// `*` (checked before decoding) is `None`; anything else is decoded text.
fn star_or_text(arg: ArgRef, s: &str) -> Result<Option<Cow<'_, str>>> {
    if s == "*" {
        Ok(None)
    } else {
        text(arg, s).map(Some)
    }
}

/// A decimal as [`parse_decimal`] reads it, except that hundreds of digits (which would
/// round to infinity) are rejected.
fn finite_decimal(s: &str) -> Option<f64> {
    parse_decimal(s).filter(|v| v.is_finite())
}

fn bandwidth(arg: ArgRef, s: &str) -> Result<BandwidthLimit> {
    match s {
        "unlimited" => Ok(BandwidthLimit::Unlimited),
        "unmanaged" => Ok(BandwidthLimit::Unmanaged),
        _ => {
            finite_decimal(s)
                .map(BandwidthLimit::Kbps)
                .ok_or_else(|| NotificationError::BadValue {
                    arg,
                    expected: "a decimal, unlimited or unmanaged",
                    text: snippet(s),
                })
        }
    }
}

fn frequency(arg: ArgRef, s: &str) -> Result<RealMaxFrequency> {
    match s {
        "unlimited" => Ok(RealMaxFrequency::Unlimited),
        _ => finite_decimal(s)
            .map(RealMaxFrequency::PerSecond)
            .ok_or_else(|| NotificationError::BadValue {
                arg,
                expected: "a decimal or unlimited",
                text: snippet(s),
            }),
    }
}

fn filtered(arg: ArgRef, s: &str) -> Result<bool> {
    match s {
        "filtered" => Ok(true),
        "unfiltered" => Ok(false),
        _ => Err(NotificationError::BadValue {
            arg,
            expected: "filtered or unfiltered",
            text: snippet(s),
        }),
    }
}
