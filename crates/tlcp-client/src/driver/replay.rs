//! The replay task: a [`ClientSession`] driven in virtual time by a [`Recording`]
//! instead of the network, delivering its events exactly as the live driver does.
//!
//! The application's commands (subscribe, connect...) are applied as they come; once
//! connected, the recorded inputs are fed in order, each at its recorded time (start +
//! offset). The machine's transmits are not carried out: the recorded connection
//! numbers are those the live machine chose, and a fresh machine given the same inputs
//! chooses the same, which is checked. Reading pauses while a subscription's queue is
//! full (every replayed subscription is back-pressured: nothing is conflated nor
//! dropped, whatever the reader's speed); that pause only delays the feeding, in virtual
//! time the machine sees the recorded client's pauses (`paused`/`resumed` records). When
//! the recording is exhausted, the subscription streams end.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlcp_proto::client::{ClientSession, CloseReason, ConnId, SessionConfig, Transmit};
use tokio::sync::{Notify, mpsc};

use super::{Outputs, apply_command, feed};
use crate::client::Command;
use crate::driver::Links;
use crate::recording::{Record, RecordKind, Recording};

pub(crate) struct Replayer {
    session: ClientSession,
    out: Outputs,
    commands: mpsc::UnboundedReceiver<Command>,
    resume: Arc<Notify>,
    records: std::vec::IntoIter<Record>,
    base: Instant,
    last_now: Instant,
    /// The machine's connections, by number.
    conns: HashMap<u64, ConnId>,
    connected: bool,
    paused: bool,
    /// The rest of a chunk whose feeding was paused.
    leftover: Option<(ConnId, Vec<u8>, Instant)>,
    done: bool,
}

impl Replayer {
    pub(crate) fn new(
        config: SessionConfig,
        recording: Recording,
        commands: mpsc::UnboundedReceiver<Command>,
        links: Links,
        resume: Arc<Notify>,
    ) -> Self {
        let base = Instant::now();
        Self {
            session: ClientSession::new(config),
            out: Outputs {
                links,
                subs: Default::default(),
                messages: Default::default(),
                full: false,
                wakers: Vec::new(),
                unwoken: 0,
                spare: Default::default(),
            },
            commands,
            resume,
            records: recording.records.into_iter(),
            base,
            last_now: base,
            conns: HashMap::new(),
            connected: false,
            paused: false,
            leftover: None,
            done: false,
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            while let Ok(c) = self.commands.try_recv() {
                self.command(c);
            }
            if self.connected && !self.paused && !self.done {
                self.step();
                self.after_input();
                // Let the readers run between records.
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                c = self.commands.recv() => match c {
                    Some(c) => self.command(c),
                    None => break,
                },
                () = self.resume.notified(), if self.paused => {}
            }
            self.after_input();
        }
        self.out.close_all();
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Connect => self.connected = true,
            Command::Disconnect | Command::Close(_) => self.connected = false,
            _ => {}
        }
        let now = self.last_now;
        apply_command(&mut self.session, &mut self.out, c, now);
        self.after_input();
    }

    /// Feeds the next input.
    fn step(&mut self) {
        if let Some((conn, data, at)) = self.leftover.take() {
            let rest = feed(
                &mut self.session,
                &mut self.out,
                &mut self.last_now,
                conn,
                &data,
                at,
            );
            self.leftover = rest.map(|d| (conn, d, at));
            return;
        }
        let Some(r) = self.records.next() else {
            tracing::debug!("end of the recording");
            self.done = true;
            self.out.close_all();
            return;
        };
        let at = self.base + Duration::from_micros(r.micros);
        let now = at.max(self.last_now);
        self.last_now = now;
        match r.kind {
            RecordKind::Timeout => return self.session.handle_timeout(now),
            // The recorded client's pauses (its readers'), not this one's: they decide
            // which timers ran.
            RecordKind::Paused => return self.session.pause_reading(now),
            RecordKind::Resumed => return self.session.resume_reading(now),
            _ => {}
        }
        let Some(&conn) = self.conns.get(&r.conn) else {
            self.diverged(&format!(
                "the recording uses connection {} which the session never opened",
                r.conn
            ));
            return;
        };
        match r.kind {
            RecordKind::Opened => self.session.handle_opened(conn, now),
            RecordKind::Data => {
                let rest = feed(
                    &mut self.session,
                    &mut self.out,
                    &mut self.last_now,
                    conn,
                    &r.data,
                    at,
                );
                self.leftover = rest.map(|d| (conn, d, at));
            }
            RecordKind::Control => self.session.handle_control_response(conn, &r.data, now),
            RecordKind::Ended => self.session.handle_closed(conn, CloseReason::Ended, now),
            RecordKind::Failed => {
                let text = String::from_utf8_lossy(&r.data).into_owned();
                self.session
                    .handle_closed(conn, CloseReason::Failed(text), now);
            }
            RecordKind::Meta | RecordKind::Timeout | RecordKind::Paused | RecordKind::Resumed => {}
        }
    }

    /// The machine asked for something the recording does not match: stop replaying.
    fn diverged(&mut self, why: &str) {
        tracing::warn!("replay diverged: {why}");
        let _ = self
            .out
            .links
            .events
            .send(crate::ConnectionEvent::ReplayDiverged(why.to_string()));
        self.done = true;
        self.out.close_all();
    }

    fn after_input(&mut self) {
        let now = self.last_now;
        self.out.drain(&mut self.session, now);
        while let Some(t) = self.session.poll_transmit() {
            match t {
                Transmit::OpenWs { conn, .. } | Transmit::Http { conn, .. } => {
                    self.conns.insert(conn.get(), conn);
                }
                _ => {}
            }
        }
        self.out.drain(&mut self.session, now);
        self.out.wake();
        self.out.full = false;
        self.paused = self.out.must_pause();
    }
}
