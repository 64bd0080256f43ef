//! Client messages (`msg`): sequences, ordering, timeouts, outcomes.
//!
//! Messages of a sequence are handed to the metadata adapter one at a time in
//! `LS_msg_prog` order. A message that arrives early waits for the missing ones at most
//! `LS_max_wait`; then the missing numbers are declared skipped (`MSGFAIL` 38, or 39 with
//! the count when several) and processing goes on. A number already received or skipped is
//! refused (`REQERR` 33 or 32). Messages without a sequence are processed at once,
//! concurrently.
//!
//! Everything a client can make the session remember is bounded: the messages accepted
//! and not yet processed ([`ServerConfig::max_queued_messages`]), the sequences
//! ([`ServerConfig::max_message_sequences`]), how far ahead of the sequence a number may
//! be ([`MAX_PROG_AHEAD`]), and the skipped numbers, kept as ranges (the last
//! [`SKIPPED_MEMORY`] of them).
//!
//! [`ServerConfig::max_queued_messages`]: crate::ServerConfig::max_queued_messages
//! [`ServerConfig::max_message_sequences`]: crate::ServerConfig::max_message_sequences

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;

use tlcp_proto::notification::Notification;
use tlcp_proto::request::Message;
use tokio::time::{Duration, Instant};

use super::Session;
use super::control::ControlResult;
use crate::adapter::Refusal;

/// How many recent progressive numbers of unsequenced messages are remembered for the
/// duplicate check.
const UNORDERED_MEMORY: usize = 10_000;

/// How far beyond the next expected number of its sequence a message may be: farther is
/// an invalid value (`REQERR` 65). Skipping that many numbers costs nothing (they are
/// kept as one range), but no client gets there honestly.
pub(crate) const MAX_PROG_AHEAD: u64 = 1_000_000;

/// How many ranges of skipped numbers a sequence remembers (for telling 32 from 33);
/// below the oldest one, a number too low is answered 32 (received or skipped: the
/// specification's code for when the exact case cannot be determined).
pub(crate) const SKIPPED_MEMORY: usize = 1_000;

#[derive(Default)]
pub(crate) struct MessageState {
    sequences: HashMap<String, Sequence>,
    unordered_seen: BTreeSet<u64>,
    /// Messages accepted and not processed yet: waiting in a sequence, or unsequenced and
    /// with the metadata adapter.
    pending: usize,
}

#[derive(Default)]
struct Sequence {
    /// The next progressive number to process.
    next: u64,
    waiting: BTreeMap<u64, Queued>,
    /// Numbers declared skipped (for telling 32 from 33), oldest first, at most
    /// [`SKIPPED_MEMORY`] ranges.
    skipped: VecDeque<Range<u64>>,
    /// Numbers below this were received or skipped, and which is no longer known.
    forgotten_below: u64,
    busy: bool,
    timer_armed_for: Option<u64>,
}

impl Sequence {
    /// Why `prog` is refused as already received or skipped, if it is.
    fn too_low(&self, prog: u64) -> Option<Refusal> {
        if prog >= self.next && !self.waiting.contains_key(&prog) {
            return None;
        }
        Some(if self.waiting.contains_key(&prog) {
            Refusal::new(33, "message progressive number already received")
        } else if prog < self.forgotten_below {
            Refusal::new(
                32,
                "message progressive number too low: already received or skipped by timeout",
            )
        } else if self.skipped.iter().any(|r| r.contains(&prog)) {
            Refusal::new(32, "message progressive number already skipped by timeout")
        } else {
            Refusal::new(33, "message progressive number already received")
        })
    }

    /// Records `range` as skipped, forgetting the oldest ranges beyond the memory.
    fn note_skipped(&mut self, range: Range<u64>) {
        self.skipped.push_back(range);
        while self.skipped.len() > SKIPPED_MEMORY {
            if let Some(old) = self.skipped.pop_front() {
                self.forgotten_below = old.end;
            }
        }
    }
}

struct Queued {
    message: String,
    outcome: bool,
    max_wait: Duration,
    arrived: Instant,
}

fn valid_sequence_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn too_many_pending(limit: usize) -> Refusal {
    Refusal::new(
        68,
        format!("too many messages waiting to be processed in this session (limit {limit})"),
    )
}

impl Session {
    /// Accepts a `msg` request (the caller answers `REQOK` on `Ok`).
    pub(crate) fn message(
        &self,
        msg: &Message,
        ack: Option<&Notification<'_>>,
        now: Instant,
    ) -> ControlResult {
        let outcome = msg.outcome.unwrap_or(true);
        let Some(me) = self.me.upgrade() else {
            return Err(Refusal::new(20, "session closed"));
        };
        match &msg.sequence {
            None => {
                if outcome && msg.msg_prog.is_none() {
                    return Err(Refusal::new(
                        65,
                        "LS_msg_prog is mandatory when an outcome is requested",
                    ));
                }
                {
                    let mut st = self.lock();
                    let limit = self.config.max_queued_messages;
                    if st.messages.pending >= limit {
                        return Err(too_many_pending(limit));
                    }
                    if let Some(p) = msg.msg_prog {
                        if !st.messages.unordered_seen.insert(p) {
                            return Err(Refusal::new(
                                33,
                                "message progressive number already received",
                            ));
                        }
                        while st.messages.unordered_seen.len() > UNORDERED_MEMORY {
                            st.messages.unordered_seen.pop_first();
                        }
                    }
                    st.messages.pending += 1;
                    if let Some(a) = ack {
                        st.push(a);
                        st.wake();
                    }
                }
                let prog = msg.msg_prog.unwrap_or(0);
                let text = msg.message.clone();
                tokio::spawn(async move {
                    me.process(None, prog, text, outcome).await;
                    let mut st = me.lock();
                    st.messages.pending = st.messages.pending.saturating_sub(1);
                });
                Ok(())
            }
            Some(seq) => {
                if !valid_sequence_name(seq) || seq == "UNORDERED_MESSAGES" {
                    return Err(Refusal::new(65, format!("invalid sequence name {seq:?}")));
                }
                let prog = msg
                    .msg_prog
                    .ok_or_else(|| Refusal::new(65, "LS_msg_prog is mandatory with LS_sequence"))?;
                let max_wait = msg
                    .max_wait
                    .map_or(self.config.default_message_max_wait, Duration::from_millis)
                    .min(
                        self.config
                            .default_message_max_wait
                            .max(Duration::from_secs(60)),
                    );
                {
                    let mut st = self.lock();
                    let known = st.messages.sequences.len();
                    let max_sequences = self.config.max_message_sequences;
                    if known >= max_sequences && !st.messages.sequences.contains_key(seq) {
                        return Err(Refusal::new(
                            68,
                            format!(
                                "too many message sequences in this session (limit {max_sequences})"
                            ),
                        ));
                    }
                    let s = st
                        .messages
                        .sequences
                        .entry(seq.clone())
                        .or_insert_with(|| Sequence {
                            next: 1,
                            ..Sequence::default()
                        });
                    if let Some(refusal) = s.too_low(prog) {
                        return Err(refusal);
                    }
                    // The number the sequence waits for is always taken (at most one per
                    // sequence): refusing it would leave the others waiting for nothing.
                    let limit = self.config.max_queued_messages;
                    if prog != s.next && st.messages.pending >= limit {
                        return Err(too_many_pending(limit));
                    }
                    let Some(s) = st.messages.sequences.get_mut(seq) else {
                        return Err(Refusal::new(68, "message sequence lost"));
                    };
                    // Also keeps `next` (at most the last number processed, plus one) from
                    // overflowing.
                    if prog - s.next > MAX_PROG_AHEAD || prog == u64::MAX {
                        return Err(Refusal::new(
                            65,
                            format!(
                                "LS_msg_prog={prog} is more than {MAX_PROG_AHEAD} beyond the \
                                 next expected number ({})",
                                s.next
                            ),
                        ));
                    }
                    s.waiting.insert(
                        prog,
                        Queued {
                            message: msg.message.clone(),
                            outcome,
                            max_wait,
                            arrived: now,
                        },
                    );
                    st.messages.pending += 1;
                    if let Some(a) = ack {
                        st.push(a);
                        st.wake();
                    }
                }
                pump(&me, seq.clone());
                Ok(())
            }
        }
    }

    async fn process(
        self: &Arc<Self>,
        seq: Option<String>,
        prog: u64,
        text: String,
        outcome: bool,
    ) {
        let result = self.set.metadata.handle_message(&self.client, &text).await;
        if !outcome {
            return;
        }
        let sequence = seq.as_deref().map(Cow::Borrowed);
        let n = match &result {
            Ok(response) => Notification::MsgDone {
                sequence,
                prog,
                response: self
                    .protocol()
                    .msgdone_has_response()
                    .then_some(Cow::Borrowed(response.as_str())),
            },
            Err(r) => Notification::MsgFail {
                sequence,
                prog,
                code: r.code,
                message: Cow::Borrowed(r.message.as_str()),
            },
        };
        self.notify(&n);
    }
}

/// Processes the sequence's next message if it is there and none is running; arms the
/// skip timer when the next one is missing.
fn pump(session: &Arc<Session>, seq: String) {
    let mut st = session.lock();
    let Some(s) = st.messages.sequences.get_mut(&seq) else {
        return;
    };
    if s.busy {
        return;
    }
    let next = s.next;
    if let Some(q) = s.waiting.remove(&next) {
        s.busy = true;
        st.messages.pending = st.messages.pending.saturating_sub(1);
        drop(st);
        let session = Arc::clone(session);
        tokio::spawn(async move {
            session
                .process(Some(seq.clone()), next, q.message, q.outcome)
                .await;
            if let Some(s) = session.lock().messages.sequences.get_mut(&seq) {
                s.busy = false;
                // `next` < u64::MAX: that number is refused.
                s.next = next.saturating_add(1);
            }
            pump(&session, seq);
        });
        return;
    }
    let Some((&first, q)) = s.waiting.first_key_value() else {
        return;
    };
    if s.timer_armed_for == Some(first) {
        return;
    }
    s.timer_armed_for = Some(first);
    let deadline = q.arrived + q.max_wait;
    drop(st);
    let session = Arc::clone(session);
    tokio::spawn(async move {
        tokio::time::sleep_until(deadline).await;
        skip_missing(&session, &seq, first);
        pump(&session, seq);
    });
}

/// Declares the numbers before `first` that never arrived as skipped.
fn skip_missing(session: &Arc<Session>, seq: &str, first: u64) {
    let mut st = session.lock();
    let Some(s) = st.messages.sequences.get_mut(seq) else {
        return;
    };
    s.timer_armed_for = None;
    if s.busy || s.next >= first || !s.waiting.contains_key(&first) {
        return;
    }
    // `s.next < first` (checked above): no underflow.
    let missing = first - s.next;
    let range = s.next..first;
    s.note_skipped(range);
    let last = first - 1;
    s.next = first;
    let sequence = Some(Cow::Borrowed(seq));
    let n = if missing == 1 {
        Notification::MsgFail {
            sequence,
            prog: last,
            code: 38,
            message: Cow::Borrowed("The specified progressive number has been skipped by timeout"),
        }
    } else {
        Notification::MsgFail {
            sequence,
            prog: last,
            code: 39,
            message: Cow::Owned(missing.to_string()),
        }
    };
    st.push(&n);
    st.wake();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(next: u64) -> Sequence {
        Sequence {
            next,
            ..Sequence::default()
        }
    }

    #[test]
    fn skipped_numbers_are_ranges_and_the_memory_is_bounded() {
        let mut s = sequence(1);
        // One huge skip is one range, not a number each.
        s.note_skipped(1..1_000_000_000_000);
        s.next = 1_000_000_000_000;
        assert_eq!(s.skipped.len(), 1);
        assert_eq!(s.too_low(5).map(|r| r.code), Some(32));
        assert_eq!(s.too_low(1_000_000_000_000), None);
        // Many skips: only the last SKIPPED_MEMORY are remembered; below them the case
        // cannot be told (32), between them a number was received (33).
        for _ in 0..SKIPPED_MEMORY + 10 {
            let start = s.next + 1;
            s.note_skipped(start..start + 1);
            s.next = start + 1;
        }
        assert_eq!(s.skipped.len(), SKIPPED_MEMORY);
        assert_eq!(s.too_low(5).map(|r| r.code), Some(32), "forgotten");
        let last = s.skipped.back().map(|r| r.start).unwrap_or_default();
        assert_eq!(s.too_low(last).map(|r| r.code), Some(32), "skipped");
        assert_eq!(s.too_low(last - 1).map(|r| r.code), Some(33), "received");
    }

    #[test]
    fn a_waiting_number_is_a_duplicate() {
        let mut s = sequence(3);
        s.waiting.insert(
            7,
            Queued {
                message: String::new(),
                outcome: true,
                max_wait: Duration::ZERO,
                arrived: Instant::now(),
            },
        );
        assert_eq!(s.too_low(7).map(|r| r.code), Some(33));
        assert_eq!(s.too_low(2).map(|r| r.code), Some(33));
        assert!(s.too_low(3).is_none() && s.too_low(8).is_none());
    }
}
