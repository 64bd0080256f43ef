//! Bytes in: line framing per connection, parsing in place, recovery counting, and
//! dispatch of each notification.

use std::time::Instant;

use super::connection::ConnKind;
use super::error::{IssueAction, ProtocolError, ProtocolIssue};
use super::event::{Event, ServerError, ServerErrorKind, ServerInfo, Update};
use super::transmit::ConnId;
use super::{ClientSession, Queued};
use crate::framing::LineDecoder;
use crate::notification::Notification;

/// What to do after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// Go on with the next line.
    Continue,
    /// An update waits in the event queue: stop here, the rest of the chunk comes later.
    Pause,
    /// The connection is over (`LOOP` on HTTP, `END`, `CONERR`): drop the rest.
    End,
}

/// The tags of the data notifications, counted for recovery.
const DATA_TAGS: [&[u8]; 10] = [
    b"U", b"SUBOK", b"SUBCMD", b"UNSUB", b"EOS", b"CS", b"OV", b"CONF", b"MSGDONE", b"MSGFAIL",
];

/// How many bytes of a chunk are checked for UTF-8 at once (whole lines), ahead of the
/// lines that use them: one check per window instead of one per line, and never more than
/// one window ahead of what a call to [`ClientSession::handle_bytes`] consumes.
const UTF8_WINDOW: usize = 4096;

/// The part of a chunk checked for UTF-8 ahead of its lines, so that each line borrowed
/// from the chunk is read as text without being checked again (a line assembled from
/// several chunks, or one the check could not cover, is checked alone, as before).
struct Utf8Ahead<'c> {
    /// The chunk as given to the call.
    chunk: &'c [u8],
    /// Its checked part: whole lines, from the start of a line.
    text: &'c str,
}

impl<'c> Utf8Ahead<'c> {
    fn new(chunk: &'c [u8]) -> Self {
        Self { chunk, text: "" }
    }

    /// `line` as text when it lies in the chunk and is valid UTF-8, checking the next
    /// window of whole lines from it when it lies beyond the part already checked.
    /// `None`: the line is not in the chunk (assembled across chunks), or it is not valid
    /// UTF-8 (the caller then checks it alone, and reports the error).
    #[inline]
    fn line(&mut self, line: &[u8]) -> Option<&'c str> {
        // Where the line is, by address: only a line borrowed from the chunk is within it.
        let at = (line.as_ptr() as usize).checked_sub(self.chunk.as_ptr() as usize)?;
        let end = at.checked_add(line.len())?;
        if end > self.chunk.len() {
            return None;
        }
        let from = (self.text.as_ptr() as usize).wrapping_sub(self.chunk.as_ptr() as usize);
        match at.checked_sub(from) {
            Some(start) if start + line.len() <= self.text.len() => {
                return self.text.get(start..start + line.len());
            }
            _ => {}
        }
        // The next window: whole lines from this one (its end at least).
        let ahead = self.chunk.get(at..)?;
        let window_end = match ahead.get(..UTF8_WINDOW.min(ahead.len())) {
            Some(w) => memchr::memrchr(b'\n', w).map_or(0, |i| i + 1),
            None => 0,
        };
        let window = ahead.get(..window_end.max(line.len()))?;
        self.text = match std::str::from_utf8(window) {
            Ok(text) => text,
            // Up to the bad byte (the lines after it get windows of their own).
            Err(e) => std::str::from_utf8(window.get(..e.valid_up_to())?).unwrap_or_default(),
        };
        self.text.get(..line.len())
    }
}

/// The tag of a raw line (the bytes before the first comma).
fn raw_tag(line: &[u8]) -> &[u8] {
    let end = memchr::memchr(b',', line).unwrap_or(line.len());
    &line[..end]
}

/// The subscription id of a raw subscription notification line, if it can be read.
fn raw_sub_id(line: &[u8]) -> Option<u32> {
    let mut parts = line.split(|&b| b == b',');
    parts.next()?;
    let id = parts.next()?;
    if id.is_empty() || !id.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(id).ok()?.parse().ok()
}

impl ClientSession {
    /// Bytes from `conn`: a WebSocket message, or a piece of a streaming HTTP response.
    ///
    /// Lines are parsed in place from `input`, which is advanced past what was used. It
    /// stops early, leaving the rest in `input`, right after an update: drain
    /// [`poll_event`](Self::poll_event), then call again with the rest (see the
    /// [module documentation](super)). While an update waits in the event queue, this does
    /// nothing. Bytes for a connection the machine does not hold (closed, or never
    /// opened) are dropped.
    pub fn handle_bytes(&mut self, conn: ConnId, input: &mut &[u8], now: Instant) {
        self.handle_bytes_inner(conn, input, now, None::<fn(Update<'_>) -> bool>);
    }

    /// [`handle_bytes`](Self::handle_bytes), handing updates over as they come instead of
    /// pausing after each one: an update with no event waiting before it goes to
    /// `on_update` at once (borrowing the model, as from
    /// [`poll_event`](Self::poll_event)), and the lines after it are processed in the
    /// same call, while `on_update` returns `true`. When it returns `false`, processing
    /// stops right after that update, the rest left in `input`, as `handle_bytes` does.
    /// An update behind other events waits in `poll_event` as usual, keeping the order:
    /// drain `poll_event` after each call, then call again with the rest.
    ///
    /// The events are the same, in the same order, as with `handle_bytes`: only the
    /// updates come out earlier, one call per update rather than one call per line.
    pub fn handle_bytes_with<F>(
        &mut self,
        conn: ConnId,
        input: &mut &[u8],
        now: Instant,
        on_update: F,
    ) where
        F: FnMut(Update<'_>) -> bool,
    {
        self.handle_bytes_inner(conn, input, now, Some(on_update));
    }

    fn handle_bytes_inner<F>(
        &mut self,
        conn: ConnId,
        input: &mut &[u8],
        now: Instant,
        mut on_update: Option<F>,
    ) where
        F: FnMut(Update<'_>) -> bool,
    {
        if self.update_queued {
            return;
        }
        let Some(i) = self.conn_index(conn) else {
            *input = &[];
            return;
        };
        if matches!(self.conns[i].kind, ConnKind::HttpControl(_)) {
            *input = &[];
            return;
        }
        self.note_rx(conn, now);
        let mut decoder = std::mem::replace(&mut self.conns[i].decoder, LineDecoder::new(0));
        let mut utf8 = Utf8Ahead::new(input);
        let flow = loop {
            match decoder.next_line(input) {
                Ok(None) => break Flow::Continue,
                Ok(Some(line)) => match self.on_line(conn, line, utf8.line(line), now) {
                    // The line may have closed the connection (a rebind elsewhere).
                    Flow::Continue if self.conn_index(conn).is_none() => break Flow::End,
                    Flow::Continue => {}
                    // An update, and nothing queued before it: hand it over now.
                    Flow::Pause
                        if on_update.is_some()
                            && self.events.len() == 1
                            && matches!(self.events.front(), Some(Queued::Update(_))) =>
                    {
                        let (Some(sink), Some(Queued::Update(id))) =
                            (on_update.as_mut(), self.events.pop_front())
                        else {
                            break Flow::Pause;
                        };
                        self.update_queued = false;
                        let go_on = match self.subs.last_update(id) {
                            Some(update) => sink(Update {
                                subscription: id,
                                update,
                            }),
                            None => true,
                        };
                        if !go_on {
                            break Flow::Pause;
                        }
                    }
                    flow => break flow,
                },
                Err(e) => {
                    // The line is gone, but its head says what it was: a data
                    // notification must still be counted for recovery, and the
                    // subscription that lost an update resynchronised.
                    let mut head = [0u8; 32];
                    let kept = decoder.dropped_line_head();
                    head[..kept.len()].copy_from_slice(kept);
                    let head = &head[..kept.len()];
                    if let Flow::End = self.on_bad_line(conn, head, e.into()) {
                        break Flow::End;
                    }
                }
            }
        };
        match self.conn_index(conn) {
            Some(i) if flow != Flow::End => self.conns[i].decoder = decoder,
            _ => *input = &[],
        }
        // Requests the lines caused (second-level subscriptions...) go out together once
        // the chunk is used up.
        if input.is_empty() {
            self.flush(now);
        }
    }

    /// The whole body of the response to an HTTP control request
    /// ([`HttpKind::Control`](super::HttpKind::Control)).
    pub fn handle_control_response(&mut self, conn: ConnId, body: &[u8], now: Instant) {
        self.on_control_response(conn, body, now);
    }

    /// One line from `conn` (`text`: the same, when already known to be UTF-8).
    fn on_line(&mut self, conn: ConnId, line: &[u8], text: Option<&str>, now: Instant) -> Flow {
        if line.is_empty() {
            return Flow::Continue;
        }
        let from_stream = self.stream.as_ref().is_some_and(|s| s.conn == conn);
        // `U` lines (the hot path), without building a `Notification` to match on: what
        // the general way below does with one (counted for recovery, then `on_update`).
        if let Some((sub_id, item, values)) = text.and_then(Notification::update_parts) {
            if from_stream && self.count_data() {
                return Flow::Continue;
            }
            let item = usize::try_from(item).unwrap_or(usize::MAX);
            return self.on_update(conn, sub_id, item, values);
        }
        let parsed = match text {
            Some(text) => Notification::parse_str(text),
            None => Notification::parse_bytes(line),
        };
        match parsed {
            Ok(n) => {
                if from_stream && n.counts_for_recovery() && self.count_data() {
                    return Flow::Continue;
                }
                self.dispatch(conn, n, now)
            }
            Err(e) => self.on_bad_line(conn, line, e.into()),
        }
    }

    /// A line that could not be used (malformed, or too long and dropped): `line` is the
    /// line, or what is known of its beginning. A data notification is still counted for
    /// recovery; one for a known subscription makes it resubscribe.
    fn on_bad_line(&mut self, conn: ConnId, line: &[u8], error: ProtocolError) -> Flow {
        let from_stream = self.stream.as_ref().is_some_and(|s| s.conn == conn);
        let tag = raw_tag(line);
        let data = DATA_TAGS.contains(&tag);
        if from_stream && data && self.count_data() {
            return Flow::Continue;
        }
        let action = match raw_sub_id(line) {
            Some(wire) if data && !tag.starts_with(b"MSG") => {
                let tag = std::str::from_utf8(tag).unwrap_or("");
                self.malformed_for(wire, tag)
            }
            _ => IssueAction::Ignored,
        };
        self.report(conn, error, action);
        Flow::Continue
    }

    /// Counts a data notification on the stream; says whether it is a replayed duplicate
    /// to skip.
    fn count_data(&mut self) -> bool {
        self.finish_recovery_without_prog();
        let Some(session) = self.session.as_mut() else {
            return false;
        };
        if session.skip > 0 {
            session.skip -= 1;
            return true;
        }
        session.received += 1;
        false
    }

    fn dispatch(&mut self, conn: ConnId, n: Notification<'_>, now: Instant) -> Flow {
        let n_usize = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
        match n {
            Notification::ConOk {
                session_id,
                request_limit,
                keepalive_ms,
                control_link,
            } => {
                let link = control_link.as_deref();
                self.on_conok(conn, &session_id, request_limit, keepalive_ms, link, now);
            }
            Notification::ConErr { code, message } => {
                return self.on_conerr(conn, code, &message, now);
            }
            Notification::End { code, message } => {
                self.on_end(conn, code, &message, now);
                return Flow::End;
            }
            Notification::Loop { expected_delay_ms } => {
                return self.on_loop(conn, expected_delay_ms, now);
            }
            Notification::Prog { progressive } => return self.on_prog(conn, progressive, now),
            Notification::WsOk | Notification::Probe | Notification::Noop { .. } => {}
            Notification::Sync { .. } | Notification::Unknown { .. } => {}
            Notification::Cons { bandwidth } => {
                self.emit(Event::ServerInfo(ServerInfo::Bandwidth(bandwidth)));
            }
            Notification::ClientIp { ip } => {
                self.emit(Event::ServerInfo(ServerInfo::ClientIp(ip.into_owned())));
            }
            Notification::ServName { name } => {
                self.emit(Event::ServerInfo(ServerInfo::ServerName(name.into_owned())));
            }
            Notification::ReqOk { request_id } => self.on_reqok(request_id.as_deref()),
            Notification::ReqErr {
                request_id,
                code,
                message,
            } => self.on_reqerr(&request_id, code, &message),
            Notification::Error { code, message } => {
                self.emit(Event::ServerError(ServerError {
                    kind: ServerErrorKind::Error,
                    code,
                    message: message.into_owned(),
                }));
            }
            Notification::SubOk {
                sub_id,
                num_items,
                num_fields,
            } => self.on_subok(conn, sub_id, n_usize(num_items), n_usize(num_fields), None),
            Notification::SubCmd {
                sub_id,
                num_items,
                num_fields,
                key_field,
                command_field,
            } => {
                let positions = (n_usize(key_field), n_usize(command_field));
                let (items, fields) = (n_usize(num_items), n_usize(num_fields));
                self.on_subok(conn, sub_id, items, fields, Some(positions));
            }
            Notification::Unsub { sub_id } => self.on_unsub(sub_id),
            Notification::Conf {
                sub_id,
                max_frequency,
                filtered,
            } => self.on_conf(conn, sub_id, max_frequency, filtered),
            Notification::Eos { sub_id, item } => self.on_eos(conn, sub_id, n_usize(item)),
            Notification::Cs { sub_id, item } => self.on_cs(conn, sub_id, n_usize(item)),
            Notification::Ov { sub_id, item, lost } => {
                self.on_ov(conn, sub_id, n_usize(item), lost);
            }
            Notification::Update {
                sub_id,
                item,
                values,
            } => return self.on_update(conn, sub_id, n_usize(item), values),
            Notification::MsgDone {
                sequence,
                prog,
                response,
            } => self.on_msgdone(sequence.as_deref(), prog, response.as_deref()),
            Notification::MsgFail {
                sequence,
                prog,
                code,
                message,
            } => self.on_msgfail(sequence.as_deref(), prog, code, &message),
        }
        Flow::Continue
    }

    /// Reports a protocol error.
    pub(super) fn report(&mut self, conn: ConnId, error: ProtocolError, action: IssueAction) {
        self.emit(Event::Protocol(ProtocolIssue {
            conn,
            error,
            action,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_parts() {
        assert_eq!(raw_tag(b"U,1,2,x"), b"U");
        assert_eq!(raw_tag(b"PROBE"), b"PROBE");
        assert_eq!(raw_sub_id(b"U,12,1,a"), Some(12));
        assert_eq!(raw_sub_id(b"U,x,1,a"), None);
        assert_eq!(raw_sub_id(b"U"), None);
        assert_eq!(raw_sub_id(b"U,,1"), None);
        assert_eq!(raw_sub_id(b"U,99999999999,1"), None);
    }
}
