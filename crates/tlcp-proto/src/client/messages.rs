//! Messages: `LS_msg_prog` per sequence from 1 within a session, outcomes from `MSGDONE`,
//! `MSGFAIL` and `REQERR`, and aborts when a session is lost.
//!
//! A message gets its progressive number when it is first sent (so messages enqueued while
//! disconnected are numbered in the session that sends them), and keeps it if the request
//! has to be sent again. Messages without a sequence are numbered in a sequence of their
//! own (`MSGDONE,*,<prog>`). A message whose outcome is not wanted gets no event at all.

use std::collections::{BTreeMap, HashMap};

use super::ClientSession;
use super::config::millis;
use super::control::Op;
use super::event::{Event, MessageId, MessageOutcome};
use super::spec::MessageSpec;
use crate::request::Message;
use crate::types::SessionId;

#[derive(Debug)]
struct Msg {
    spec: MessageSpec,
    /// Its progressive number, once sent in the current session.
    prog: Option<u64>,
}

/// The messages not settled yet.
#[derive(Debug, Default)]
pub(super) struct Messages {
    last_id: u64,
    entries: BTreeMap<MessageId, Msg>,
    /// The last progressive number used, by sequence (`""`: no sequence).
    last_prog: HashMap<String, u64>,
    /// Sent messages waiting for their outcome, by sequence and progressive number.
    awaiting: HashMap<String, BTreeMap<u64, MessageId>>,
}

impl ClientSession {
    /// Registers a message and queues it, or aborts it when there is no session.
    pub(super) fn queue_message(&mut self, spec: MessageSpec) -> MessageId {
        self.msgs.last_id += 1;
        let id = MessageId(self.msgs.last_id);
        if self.session.is_some() {
            self.ctrl.push(Op::Message(id));
        } else if !spec.enqueue_while_disconnected {
            if spec.outcome {
                self.emit_outcome(id, MessageOutcome::Aborted);
            }
            return id;
        }
        self.msgs.entries.insert(id, Msg { spec, prog: None });
        id
    }

    /// The `msg` request of message `id`.
    pub(super) fn message_request(
        &self,
        id: MessageId,
        req_id: u64,
        ws: bool,
        session: Option<SessionId>,
    ) -> Option<Message> {
        let msg = self.msgs.entries.get(&id)?;
        let sequence = msg.spec.sequence_name();
        let prog = msg.prog.unwrap_or_else(|| {
            let last = self.msgs.last_prog.get(sequence.unwrap_or(""));
            last.copied().unwrap_or(0) + 1
        });
        let mut m = Message::new(req_id.to_string(), msg.spec.text.clone());
        m.session = session;
        m.sequence = sequence.map(str::to_owned);
        m.msg_prog = Some(prog);
        m.max_wait = sequence.and(msg.spec.max_wait).map(millis);
        if !msg.spec.outcome {
            m.outcome = Some(false);
            m.ack = ws.then_some(false);
        }
        Some(m)
    }

    /// The request of message `id` went out: number it. Says whether an answer (`REQOK`)
    /// is expected.
    pub(super) fn message_sent(&mut self, id: MessageId, ws: bool) -> bool {
        let Some(msg) = self.msgs.entries.get_mut(&id) else {
            return false;
        };
        let key = msg.spec.sequence_name().unwrap_or("").to_owned();
        if msg.prog.is_none() {
            let last = self.msgs.last_prog.entry(key.clone()).or_insert(0);
            *last += 1;
            msg.prog = Some(*last);
        }
        if msg.spec.outcome {
            let prog = msg.prog.unwrap_or(0);
            self.msgs.awaiting.entry(key).or_default().insert(prog, id);
            true
        } else if ws {
            // LS_ack=false: nothing will come back.
            self.msgs.entries.remove(&id);
            false
        } else {
            true
        }
    }

    /// `REQOK` for a message: done, if no outcome was wanted.
    pub(super) fn message_acknowledged(&mut self, id: MessageId) {
        if self.msgs.entries.get(&id).is_some_and(|m| !m.spec.outcome) {
            self.msgs.entries.remove(&id);
        }
    }

    /// `REQERR` (or `ERROR`) for a message.
    pub(super) fn message_failed(&mut self, id: MessageId, code: i32, message: &str) {
        if let Some(msg) = self.settle_message(id)
            && msg.spec.outcome
        {
            self.emit_outcome(id, MessageOutcome::from_failure(code, message));
        }
    }

    fn settle_message(&mut self, id: MessageId) -> Option<Msg> {
        let msg = self.msgs.entries.remove(&id)?;
        if let Some(prog) = msg.prog {
            let key = msg.spec.sequence_name().unwrap_or("");
            if let Some(progs) = self.msgs.awaiting.get_mut(key) {
                progs.remove(&prog);
            }
        }
        Some(msg)
    }

    fn take_awaiting(&mut self, sequence: Option<&str>, prog: u64) -> Option<MessageId> {
        let id = self
            .msgs
            .awaiting
            .get_mut(sequence.unwrap_or(""))?
            .remove(&prog)?;
        self.msgs.entries.remove(&id);
        Some(id)
    }

    /// `MSGDONE,<sequence>,<prog>[,<response>]`.
    pub(super) fn on_msgdone(&mut self, sequence: Option<&str>, prog: u64, response: Option<&str>) {
        if let Some(id) = self.take_awaiting(sequence, prog) {
            let response = response.map(str::to_owned);
            self.emit_outcome(id, MessageOutcome::Processed { response });
        }
    }

    /// `MSGFAIL,<sequence>,<prog>,<code>,<message>`. Code 39 covers `<message>` numbers up
    /// to `prog`: only the messages waiting in that range are visited, whatever the
    /// numbers.
    pub(super) fn on_msgfail(
        &mut self,
        sequence: Option<&str>,
        prog: u64,
        code: i32,
        message: &str,
    ) {
        let count = match code {
            39 => message.trim().parse::<u64>().unwrap_or(1).max(1),
            _ => 1,
        };
        // The numbers come from the server: walk the messages actually waiting in the
        // range, never the range itself (it may span 2^64 numbers).
        let Some(progs) = self.msgs.awaiting.get_mut(sequence.unwrap_or("")) else {
            return;
        };
        let first = prog.saturating_sub(count - 1);
        let settled: Vec<u64> = progs.range(first..=prog).map(|(p, _)| *p).collect();
        let ids: Vec<MessageId> = settled.iter().filter_map(|p| progs.remove(p)).collect();
        for id in ids {
            self.msgs.entries.remove(&id);
            self.emit_outcome(id, MessageOutcome::from_failure(code, message));
        }
    }

    /// The session ended: sent messages without an outcome are aborted, and so are queued
    /// ones, unless enqueued while disconnected. Numbering restarts with the next session.
    pub(super) fn msgs_on_session_end(&mut self) {
        let ids: Vec<MessageId> = self
            .msgs
            .entries
            .iter()
            .filter(|(_, m)| m.prog.is_some() || !m.spec.enqueue_while_disconnected)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(msg) = self.msgs.entries.remove(&id)
                && msg.spec.outcome
            {
                self.emit_outcome(id, MessageOutcome::Aborted);
            }
        }
        self.msgs.last_prog.clear();
        self.msgs.awaiting.clear();
    }

    /// A new session: the messages kept go out.
    pub(super) fn msgs_on_new_session(&mut self) {
        let ids: Vec<MessageId> = self.msgs.entries.keys().copied().collect();
        for id in ids {
            self.ctrl.push(Op::Message(id));
        }
    }

    fn emit_outcome(&mut self, id: MessageId, outcome: MessageOutcome) {
        self.emit(Event::Message { id, outcome });
    }
}
