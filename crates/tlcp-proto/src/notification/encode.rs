//! Writing a [`Notification`] as a line (the server side).

use super::Notification;
use crate::percent::encode_arg;
use crate::types::{BandwidthLimit, RealMaxFrequency, format_decimal};
use crate::version::ProtocolVersion;

impl Notification<'_> {
    /// Appends this notification to `out` as a line, CRLF included.
    ///
    /// Text arguments are percent-encoded with [`encode_arg`],
    /// so any text is safe; a `Some("*")` control link or sequence is written `%2A`, to
    /// stay distinct from `None` (`*`). Two kinds of argument are written as they are and
    /// must not contain CR or LF: the `values` of [`Notification::Update`] (already encoded
    /// by the field encoder) and the raw `tag`/`args` of [`Notification::Unknown`].
    ///
    /// `MSGDONE` gets its third argument only when `response` is `Some`: choosing by
    /// protocol version is the caller's job (see [`encode_msg_done`]).
    ///
    /// Decimals are written by [`format_decimal`]; they are expected to be finite and
    /// non-negative, as the protocol has no syntax for anything else.
    pub fn encode(&self, out: &mut String) {
        match self {
            Self::Update {
                sub_id,
                item,
                values,
            } => return encode_update(*sub_id, *item, values, out),
            Self::ConOk {
                session_id,
                request_limit,
                keepalive_ms,
                control_link,
            } => {
                out.push_str("CONOK,");
                encode_arg(session_id, out);
                out.push(',');
                push_u64(*request_limit, out);
                out.push(',');
                push_u64(*keepalive_ms, out);
                out.push(',');
                push_star_or_text(control_link.as_deref(), out);
            }
            Self::ConErr { code, message } => code_and_message("CONERR,", *code, message, out),
            Self::End { code, message } => code_and_message("END,", *code, message, out),
            Self::Loop { expected_delay_ms } => {
                out.push_str("LOOP,");
                push_u64(*expected_delay_ms, out);
            }
            Self::Prog { progressive } => {
                out.push_str("PROG,");
                push_u64(*progressive, out);
            }
            Self::WsOk => out.push_str("WSOK"),
            Self::Probe => out.push_str("PROBE"),
            Self::Noop { preamble } => tag_and_text("NOOP,", preamble, out),
            Self::Sync { seconds } => {
                out.push_str("SYNC,");
                push_u64(*seconds, out);
            }
            Self::Cons { bandwidth } => {
                out.push_str("CONS,");
                match bandwidth {
                    BandwidthLimit::Unlimited => out.push_str("unlimited"),
                    BandwidthLimit::Unmanaged => out.push_str("unmanaged"),
                    BandwidthLimit::Kbps(v) => format_decimal(*v, out),
                }
            }
            Self::ClientIp { ip } => tag_and_text("CLIENTIP,", ip, out),
            Self::ServName { name } => tag_and_text("SERVNAME,", name, out),
            Self::ReqOk { request_id } => match request_id {
                None => out.push_str("REQOK"),
                Some(id) => tag_and_text("REQOK,", id, out),
            },
            Self::ReqErr {
                request_id,
                code,
                message,
            } => {
                out.push_str("REQERR,");
                encode_arg(request_id, out);
                code_and_message(",", *code, message, out);
            }
            Self::Error { code, message } => code_and_message("ERROR,", *code, message, out),
            Self::SubOk {
                sub_id,
                num_items,
                num_fields,
            } => numbers("SUBOK", &[*sub_id, *num_items, *num_fields], out),
            Self::SubCmd {
                sub_id,
                num_items,
                num_fields,
                key_field,
                command_field,
            } => numbers(
                "SUBCMD",
                &[*sub_id, *num_items, *num_fields, *key_field, *command_field],
                out,
            ),
            Self::Unsub { sub_id } => numbers("UNSUB", &[*sub_id], out),
            Self::Conf {
                sub_id,
                max_frequency,
                filtered,
            } => {
                numbers("CONF", &[*sub_id], out);
                out.push(',');
                match max_frequency {
                    RealMaxFrequency::Unlimited => out.push_str("unlimited"),
                    RealMaxFrequency::PerSecond(v) => format_decimal(*v, out),
                }
                out.push_str(if *filtered {
                    ",filtered"
                } else {
                    ",unfiltered"
                });
            }
            Self::Eos { sub_id, item } => numbers("EOS", &[*sub_id, *item], out),
            Self::Cs { sub_id, item } => numbers("CS", &[*sub_id, *item], out),
            Self::Ov { sub_id, item, lost } => {
                numbers("OV", &[*sub_id, *item], out);
                out.push(',');
                push_u64(*lost, out);
            }
            Self::MsgDone {
                sequence,
                prog,
                response,
            } => {
                out.push_str("MSGDONE,");
                push_msg_done_args(sequence.as_deref(), *prog, response.as_deref(), out);
            }
            Self::MsgFail {
                sequence,
                prog,
                code,
                message,
            } => {
                out.push_str("MSGFAIL,");
                push_star_or_text(sequence.as_deref(), out);
                out.push(',');
                push_u64(*prog, out);
                code_and_message(",", *code, message, out);
            }
            Self::Unknown { tag, args } => {
                out.push_str(tag);
                if let Some(args) = args {
                    out.push(',');
                    out.push_str(args);
                }
            }
        }
        out.push_str("\r\n");
    }
}

/// Appends `U,<sub_id>,<item>,<encoded_values>\r\n` to `out`: the server's hot path.
///
/// `encoded_values` is the pipe-separated list as the field encoder made it (see
/// [`percent::encode_field_value`](crate::percent::encode_field_value)); it is copied as is
/// and must not contain CR or LF.
///
/// ```
/// let mut out = String::new();
/// tlcp_proto::notification::encode_update(3, 1, "20:04:40|^4|3.02|3.03|||", &mut out);
/// assert_eq!(out, "U,3,1,20:04:40|^4|3.02|3.03|||\r\n");
/// ```
#[inline]
pub fn encode_update(sub_id: u32, item: u32, encoded_values: &str, out: &mut String) {
    out.reserve(encoded_values.len() + 26);
    out.push_str("U,");
    push_u64(sub_id.into(), out);
    out.push(',');
    push_u64(item.into(), out);
    out.push(',');
    out.push_str(encoded_values);
    out.push_str("\r\n");
}

/// Appends a whole `U` line whose value list `values` writes straight into `out` (no
/// intermediate buffer); if `values` fails, `out` is left as it was.
///
/// ```
/// use tlcp_proto::fields::Encoder;
/// let mut out = String::new();
/// let new = [Some("20:04:40"), Some("3.02")];
/// tlcp_proto::notification::encode_update_with(3, 1, &mut out, |out| {
///     Encoder::new().encode(None::<&[Option<&str>; 2]>, &new, out)
/// })
/// .unwrap();
/// assert_eq!(out, "U,3,1,20:04:40|3.02\r\n");
/// ```
#[inline]
pub fn encode_update_with<E>(
    sub_id: u32,
    item: u32,
    out: &mut String,
    values: impl FnOnce(&mut String) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    encode_update_prefix(sub_id, item, out);
    finish_update(start, out, values)
}

/// Appends `U,<sub_id>,<item>,`, the start of every `U` line of that item: a server can
/// keep it and write each line with [`encode_update_with_prefix`].
///
/// ```
/// let mut prefix = String::new();
/// tlcp_proto::notification::encode_update_prefix(3, 12, &mut prefix);
/// assert_eq!(prefix, "U,3,12,");
/// ```
#[inline]
pub fn encode_update_prefix(sub_id: u32, item: u32, out: &mut String) {
    out.push_str("U,");
    push_u64(sub_id.into(), out);
    out.push(',');
    push_u64(item.into(), out);
    out.push(',');
}

/// [`encode_update_with`], the line starting with `prefix`: what
/// [`encode_update_prefix`] wrote for the same subscription and item, copied at once.
///
/// ```
/// use tlcp_proto::notification::{encode_update_prefix, encode_update_with_prefix};
/// let mut prefix = String::new();
/// encode_update_prefix(3, 1, &mut prefix);
/// let mut out = String::new();
/// encode_update_with_prefix::<()>(&prefix, &mut out, |out| Ok(out.push_str("a|b"))).unwrap();
/// assert_eq!(out, "U,3,1,a|b\r\n");
/// ```
#[inline]
pub fn encode_update_with_prefix<E>(
    prefix: &str,
    out: &mut String,
    values: impl FnOnce(&mut String) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    crate::fields::push_short(out, prefix);
    finish_update(start, out, values)
}

/// The value list and the end of a `U` line started at `start`, or `out` back as it was.
#[inline(always)]
fn finish_update<E>(
    start: usize,
    out: &mut String,
    values: impl FnOnce(&mut String) -> Result<(), E>,
) -> Result<(), E> {
    match values(out) {
        Ok(()) => {
            out.push_str("\r\n");
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Appends `PROBE\r\n` to `out`.
#[inline]
pub fn encode_probe(out: &mut String) {
    out.push_str("PROBE\r\n");
}

/// Appends a `MSGDONE` line in the shape `version` expects.
///
/// From TLCP 2.5.0 the line has the third argument, the Metadata Adapter's response (empty
/// when `response` is `None`); before 2.5.0 it has two arguments and `response` is dropped.
/// `sequence` `None` is written `*`.
///
/// ```
/// use tlcp_proto::{ProtocolVersion, notification::encode_msg_done};
///
/// let mut out = String::new();
/// encode_msg_done(Some("seq"), 2, Some("a,b"), ProtocolVersion::V2_5_0, &mut out);
/// encode_msg_done(None, 1, None, ProtocolVersion::V2_5_0, &mut out);
/// encode_msg_done(None, 1, Some("dropped"), ProtocolVersion::V2_4_0, &mut out);
/// assert_eq!(out, "MSGDONE,seq,2,a%2Cb\r\nMSGDONE,*,1,\r\nMSGDONE,*,1\r\n");
/// ```
pub fn encode_msg_done(
    sequence: Option<&str>,
    prog: u64,
    response: Option<&str>,
    version: ProtocolVersion,
    out: &mut String,
) {
    let response = if version.msgdone_has_response() {
        Some(response.unwrap_or(""))
    } else {
        None
    };
    out.push_str("MSGDONE,");
    push_msg_done_args(sequence, prog, response, out);
    out.push_str("\r\n");
}

fn push_msg_done_args(sequence: Option<&str>, prog: u64, response: Option<&str>, out: &mut String) {
    push_star_or_text(sequence, out);
    out.push(',');
    push_u64(prog, out);
    if let Some(response) = response {
        out.push(',');
        encode_arg(response, out);
    }
}

/// `None` as `*`; `Some("*")` as `%2A` so that it reads back as `Some`.
fn push_star_or_text(value: Option<&str>, out: &mut String) {
    match value {
        None => out.push('*'),
        Some("*") => out.push_str("%2A"),
        Some(s) => encode_arg(s, out),
    }
}

fn tag_and_text(prefix: &str, text: &str, out: &mut String) {
    out.push_str(prefix);
    encode_arg(text, out);
}

fn code_and_message(prefix: &str, code: i32, message: &str, out: &mut String) {
    out.push_str(prefix);
    if code < 0 {
        out.push('-');
    }
    push_u64(code.unsigned_abs().into(), out);
    out.push(',');
    encode_arg(message, out);
}

fn numbers(tag: &str, values: &[u32], out: &mut String) {
    out.push_str(tag);
    for &v in values {
        out.push(',');
        push_u64(v.into(), out);
    }
}

/// Appends the decimal digits of `n`, without going through `fmt`.
#[inline]
pub(crate) fn push_u64(mut n: u64, out: &mut String) {
    if n < 10 {
        // One digit: the subscription and item numbers of most `U` lines.
        out.push(char::from(b'0' + n as u8));
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in &buf[i..] {
        out.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_in_full() {
        let mut s = String::new();
        for n in [0, 7, 9, 10, 99, 100, 1234567890, u64::MAX] {
            s.clear();
            push_u64(n, &mut s);
            assert_eq!(s, n.to_string());
        }
        s.clear();
        code_and_message("", i32::MIN, "m", &mut s);
        assert_eq!(s, format!("{},m", i32::MIN));
    }
}
