//! Client messages (`msg`): sequences, ordering, timeouts, outcomes.
//!
//! Messages of a sequence are handed to the metadata adapter one at a time in
//! `LS_msg_prog` order. A message that arrives early waits for the missing ones at most
//! `LS_max_wait`; then the missing numbers are declared skipped (`MSGFAIL` 38, or 39 with
//! the count when several) and processing goes on. A number already received or skipped is
//! refused (`REQERR` 33 or 32). Messages without a sequence are processed at once,
//! concurrently.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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

#[derive(Default)]
pub(crate) struct MessageState {
    sequences: HashMap<String, Sequence>,
    unordered_seen: BTreeSet<u64>,
}

#[derive(Default)]
struct Sequence {
    /// The next progressive number to process.
    next: u64,
    waiting: BTreeMap<u64, Queued>,
    /// Numbers declared skipped (for telling 32 from 33).
    skipped: BTreeSet<u64>,
    busy: bool,
    timer_armed_for: Option<u64>,
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
                if let Some(p) = msg.msg_prog {
                    let mut st = self.lock();
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
                if let Some(a) = ack {
                    self.notify(a);
                }
                let prog = msg.msg_prog.unwrap_or(0);
                let text = msg.message.clone();
                tokio::spawn(async move {
                    me.process(None, prog, text, outcome).await;
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
                    let s = st
                        .messages
                        .sequences
                        .entry(seq.clone())
                        .or_insert_with(|| Sequence {
                            next: 1,
                            ..Sequence::default()
                        });
                    if prog < s.next || s.waiting.contains_key(&prog) {
                        return Err(if s.skipped.contains(&prog) {
                            Refusal::new(
                                32,
                                "message progressive number already skipped by timeout",
                            )
                        } else {
                            Refusal::new(33, "message progressive number already received")
                        });
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
        drop(st);
        let session = Arc::clone(session);
        tokio::spawn(async move {
            session
                .process(Some(seq.clone()), next, q.message, q.outcome)
                .await;
            if let Some(s) = session.lock().messages.sequences.get_mut(&seq) {
                s.busy = false;
                s.next = next + 1;
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
    let missing = first - s.next;
    for p in s.next..first {
        s.skipped.insert(p);
    }
    while s.skipped.len() > UNORDERED_MEMORY {
        s.skipped.pop_first();
    }
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
