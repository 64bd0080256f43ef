//! The background task: owns the [`ClientSession`] and its connections, and runs the
//! machine's contract (every input with `now`, then drain events, transmits, timeout).
//!
//! One `select!` waits on the application's commands, the open connections (reads, and
//! writes of queued WebSocket requests), the connections being opened and the HTTP
//! control requests in flight, the machine's timer, and, while a back-pressured
//! subscription is full, the signal that its reader made room. Nothing in the loop waits
//! on a reader: updates go into per-subscription queues (see [`crate::delivery`]).
//!
//! While reading is paused (back-pressure), the machine is told
//! ([`ClientSession::pause_reading`]): its timers keep running, reverse heartbeats
//! included, except the ones that judge the server's silence, which we would misjudge
//! since we do not read.

mod net;
mod outputs;
pub(crate) mod replay;

use std::future::poll_fn;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tlcp_proto::client::{ClientSession, CloseReason, ConnId, SessionConfig};
use tokio::sync::{Notify, mpsc};

use crate::client::Command;
use crate::error::Error;
use crate::message::MessageReply;
use crate::recording::{RecordKind, Recorder};
use crate::stats::Counters;
use crate::transport::{ServerAddress, Transport};
use net::{Net, NetEvent, Opened};
pub(crate) use outputs::{Links, Outputs, SubEntry};

/// After reading resumes (back-pressure), timers wait this long, so that data which
/// arrived meanwhile is read before the machine judges the connection silent (its
/// silence timers were suspended during the pause; this covers their last moments).
const RESUME_GRACE: Duration = Duration::from_millis(200);

/// How long a stopping driver waits for its `destroy` request.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// The most commands handled at once before the driver looks at its connections again.
const COMMAND_BURST: usize = 1024;

/// The background task's state.
pub(crate) struct Driver {
    session: ClientSession,
    net: Net,
    out: Outputs,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Signalled by back-pressured readers that made room.
    resume: Arc<Notify>,
    /// The latest `now` given to the machine (inputs never go back in time).
    last_now: Instant,
    /// Reading is paused (a back-pressured subscription is full).
    paused: bool,
    /// Timers do not fire before this (see [`RESUME_GRACE`]).
    hold_timers_until: Option<Instant>,
    /// The rest of a chunk whose reading was paused by a full back-pressured queue.
    leftover: Option<Leftover>,
    /// Where the inputs from the network are recorded, if anywhere.
    recorder: Option<Recorder>,
    /// [`Client::close`](crate::Client::close) callers, told once the `destroy` request
    /// and the connections' last bytes are out.
    closing: Vec<tokio::sync::oneshot::Sender<()>>,
}

/// Bytes read but not fed yet (copied out of the connection's buffer when pausing).
struct Leftover {
    conn: ConnId,
    data: Vec<u8>,
    received_at: Instant,
}

impl Driver {
    pub(crate) fn new(
        server: ServerAddress,
        transport: Transport,
        config: SessionConfig,
        commands: mpsc::UnboundedReceiver<Command>,
        links: Links,
        resume: Arc<Notify>,
        recorder: Option<Recorder>,
    ) -> Self {
        let version = config.protocol_version;
        Self {
            session: ClientSession::new(config),
            net: Net::new(transport, server, version),
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
            last_now: Instant::now(),
            paused: false,
            hold_timers_until: None,
            leftover: None,
            recorder,
            closing: Vec::new(),
        }
    }

    /// Records an input, if recording.
    fn record(&mut self, kind: RecordKind, conn: ConnId, now: Instant, data: &[u8]) {
        if let Some(r) = &mut self.recorder {
            r.record(kind, conn.get(), now, data);
        }
    }

    /// Records an input that concerns no connection, if recording.
    fn record_event(&mut self, kind: RecordKind, now: Instant) {
        if let Some(r) = &mut self.recorder {
            r.record(kind, 0, now, b"");
        }
    }

    fn now(&mut self) -> Instant {
        self.last_now = self.last_now.max(Instant::now());
        self.last_now
    }

    /// Runs until every handle (clients and subscription streams) is dropped.
    pub(crate) async fn run(mut self) {
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        loop {
            if !self.paused
                && let Some(l) = self.leftover.take()
            {
                let rest = feed(
                    &mut self.session,
                    &mut self.out,
                    &mut self.last_now,
                    l.conn,
                    &l.data,
                    l.received_at,
                );
                self.leftover = rest.map(|data| Leftover { data, ..l });
                self.after_input();
                continue;
            }
            let deadline = match (self.session.poll_timeout(), self.hold_timers_until) {
                (Some(d), Some(hold)) => Some(d.max(hold)),
                (d, _) => d,
            };
            if let Some(d) = deadline {
                let d = tokio::time::Instant::from_std(d);
                if sleep.deadline() != d {
                    sleep.as_mut().reset(d);
                }
            }
            let read = !self.paused;
            let timers = deadline.is_some();
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(c) => self.on_commands(c),
                    None => break,
                },
                event = poll_fn(|cx| {
                    self.net.open.poll_io(cx, read, |conn, chunk| {
                        let counters = &self.out.links.counters;
                        Counters::add(&counters.bytes, chunk.data.len() as u64);
                        Counters::add(&counters.chunks, 1);
                        if let Some(r) = &mut self.recorder {
                            let now = chunk.received_at.max(self.last_now);
                            r.record(RecordKind::Data, conn.get(), now, chunk.data);
                        }
                        let rest = feed(&mut self.session, &mut self.out, &mut self.last_now, conn, chunk.data, chunk.received_at);
                        self.leftover = rest.map(|data| Leftover { conn, data, received_at: chunk.received_at });
                    })
                }), if !self.net.open.is_empty() => {
                    if let NetEvent::Closed(conn, reason) = event {
                        tracing::debug!(%conn, ?reason, "connection closed");
                        let now = self.now();
                        record_close(&mut self.recorder, conn, &reason, now);
                        self.session.handle_closed(conn, reason, now);
                    }
                }
                Some(done) = self.net.ops.next(), if !self.net.ops.is_empty() => {
                    self.on_done(done.conn, done.result);
                }
                () = &mut sleep, if timers => {
                    self.hold_timers_until = None;
                    let now = self.now();
                    self.record_event(RecordKind::Timeout, now);
                    self.session.handle_timeout(now);
                }
                () = self.resume.notified(), if self.paused => {}
            }
            self.after_input();
            self.finish_closing();
        }
        self.stop().await;
    }

    /// Answers the `close` callers once nothing is being sent any more: no request
    /// pending, and the closed WebSockets done with their last requests.
    fn finish_closing(&mut self) {
        if self.closing.is_empty() || self.net.busy() {
            return;
        }
        let waiters = std::mem::take(&mut self.closing);
        let lingering = self.net.take_lingering();
        tokio::spawn(async move {
            for task in lingering {
                let _ = task.await;
            }
            for w in waiters {
                let _ = w.send(());
            }
        });
    }

    /// After every input: drain events, carry out transmits, decide whether to read.
    fn after_input(&mut self) {
        let now = self.now();
        self.out.drain(&mut self.session, now);
        while let Some(t) = self.session.poll_transmit() {
            if let Some((conn, reason)) = self.net.execute(t) {
                record_close(&mut self.recorder, conn, &reason, now);
                self.session.handle_closed(conn, reason, now);
                self.out.drain(&mut self.session, now);
            }
        }
        self.out.wake();
        self.out.full = false;
        let pause = self.out.must_pause();
        if pause != self.paused {
            self.paused = pause;
            if pause {
                tracing::debug!("a back-pressured subscription is full: reading paused");
                Counters::add(&self.out.links.counters.pauses, 1);
                self.record_event(RecordKind::Paused, now);
                self.session.pause_reading(now);
            } else {
                tracing::debug!("reading resumed");
                self.record_event(RecordKind::Resumed, now);
                self.session.resume_reading(now);
                self.hold_timers_until = Some(now + RESUME_GRACE);
            }
        }
    }

    /// A connection opened, a control request answered, or either failed.
    fn on_done(&mut self, conn: ConnId, result: Result<Opened, crate::transport::TransportError>) {
        if !self.net.take_live(conn) {
            return; // closed by the machine meanwhile
        }
        let now = self.now();
        match result {
            Ok(Opened::Control(body)) => {
                self.record(RecordKind::Control, conn, now, &body);
                self.session.handle_control_response(conn, &body, now);
            }
            Ok(Opened::Ws(ws)) => {
                self.net.add_open(conn, Opened::Ws(ws));
                self.record(RecordKind::Opened, conn, now, b"");
                self.session.handle_opened(conn, now);
            }
            Ok(opened) => self.net.add_open(conn, opened),
            Err(e) => {
                tracing::debug!(%conn, error = %e, "connection failed");
                let reason = tlcp_proto::client::CloseReason::Failed(e.to_string());
                record_close(&mut self.recorder, conn, &reason, now);
                self.session.handle_closed(conn, reason, now);
            }
        }
    }

    /// `first`, and the commands already waiting behind it (up to [`COMMAND_BURST`]): the
    /// control requests they make go out together, batched within the server's request
    /// limit (a loop subscribing to thousands of items sends a few frames, not one each).
    fn on_commands(&mut self, first: Command) {
        self.session.hold_requests();
        self.held_command(first);
        for _ in 1..COMMAND_BURST {
            match self.commands.try_recv() {
                Ok(c) => self.held_command(c),
                Err(_) => break,
            }
        }
        let now = self.now();
        self.session.send_requests(now);
    }

    /// One command of a burst: what ends or starts a session first sends the requests
    /// held so far, so that they keep their place before it.
    fn held_command(&mut self, command: Command) {
        let ends = matches!(
            command,
            Command::Connect | Command::Disconnect | Command::Close(_)
        );
        if ends {
            let now = self.now();
            self.session.send_requests(now);
        }
        self.on_command(command);
        if ends {
            self.session.hold_requests();
        }
    }

    fn on_command(&mut self, command: Command) {
        let now = self.now();
        let command = match command {
            Command::Close(done) => {
                self.closing.push(done);
                Command::Disconnect
            }
            c => c,
        };
        if matches!(command, Command::Disconnect)
            && let Some(r) = &mut self.recorder
        {
            r.flush();
        }
        apply_command(&mut self.session, &mut self.out, command, now);
    }

    /// Every handle is gone: end the session (`destroy`), close everything, end the
    /// subscription streams.
    async fn stop(mut self) {
        tracing::debug!("every handle dropped: stopping");
        let now = self.now();
        self.session.disconnect(now);
        self.after_input();
        if let Some(r) = &mut self.recorder {
            r.flush();
        }
        // An HTTP `destroy` is a control request: give it a moment.
        let ops = &mut self.net.ops;
        let _ =
            tokio::time::timeout(STOP_GRACE, async { while ops.next().await.is_some() {} }).await;
        self.net.close_all();
        self.out.close_all();
    }
}

/// Records a connection's end, if recording.
fn record_close(recorder: &mut Option<Recorder>, conn: ConnId, reason: &CloseReason, now: Instant) {
    if let Some(r) = recorder {
        match reason {
            CloseReason::Failed(text) => {
                r.record(RecordKind::Failed, conn.get(), now, text.as_bytes())
            }
            _ => r.record(RecordKind::Ended, conn.get(), now, b""),
        }
    }
}

/// Applies an application command to the machine.
pub(crate) fn apply_command(
    s: &mut ClientSession,
    out: &mut Outputs,
    command: Command,
    now: Instant,
) {
    {
        match command {
            Command::Connect => {
                *out.links
                    .last_close
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = None;
                s.connect(now);
            }
            Command::Disconnect => s.disconnect(now),
            Command::Close(done) => {
                // (The network driver answers once the last bytes are out.)
                s.disconnect(now);
                let _ = done.send(());
            }
            Command::Subscribe {
                id,
                spec,
                shared,
                schema,
                backpressure,
            } => match s.subscribe_as(id, spec, now) {
                Ok(()) => {
                    tracing::debug!(subscription = %id, "subscribing");
                    let entry = SubEntry {
                        shared,
                        schema,
                        key_pos: None,
                        backpressure,
                    };
                    out.subs.insert(id, entry);
                }
                Err(e) => {
                    // The handle checked the subscription and numbered it: not expected.
                    tracing::error!(subscription = %id, error = %e, "subscription refused by the machine");
                    shared.close();
                }
            },
            Command::Unsubscribe(id) => {
                let _ = s.unsubscribe(id, now);
            }
            Command::SetMaxFrequency {
                id,
                frequency,
                reply,
            } => {
                let r = s.set_max_frequency(id, frequency, now);
                let _ = reply.send(r.map_err(Error::Invalid));
            }
            // (Checked by the handle already.)
            Command::SetBandwidth(b) => {
                let _ = s.set_bandwidth(b, now);
            }
            Command::SetReverseHeartbeat(i) => s.set_reverse_heartbeat_interval(i, now),
            Command::SetForcedTransport(t) => s.set_forced_transport(t, now),
            Command::Message { spec, reply } => {
                Counters::add(&out.links.counters.messages, 1);
                match (s.send_message(spec, now), reply) {
                    (Ok(id), MessageReply::Outcome(tx)) => {
                        out.messages.insert(id, tx);
                    }
                    (Ok(_), MessageReply::Accepted(tx)) => {
                        let _ = tx.send(Ok(()));
                    }
                    (Err(e), MessageReply::Outcome(tx)) => {
                        let _ = tx.send(Err(Error::Invalid(e)));
                    }
                    (Err(e), MessageReply::Accepted(tx)) => {
                        let _ = tx.send(Err(Error::Invalid(e)));
                    }
                }
            }
        }
    }
}

/// Feeds received bytes to the machine, draining events after each step (an update
/// pauses the parsing until it is delivered). When a back-pressured queue fills up, the
/// rest is returned, to be fed once its reader made room.
pub(crate) fn feed(
    session: &mut ClientSession,
    out: &mut Outputs,
    last_now: &mut Instant,
    conn: ConnId,
    mut data: &[u8],
    received_at: Instant,
) -> Option<Vec<u8>> {
    let now = received_at.max(*last_now);
    *last_now = now;
    while !data.is_empty() {
        if out.full {
            return Some(data.to_vec());
        }
        let before = data.len();
        // Updates go to their queues as they are parsed; the other events (and an update
        // behind them) are drained after.
        session.handle_bytes_with(conn, &mut data, now, |u| out.on_update(&u, received_at));
        out.drain(session, received_at);
        if data.len() == before {
            // No progress with every event drained: cannot happen with a correct
            // machine; never spin on it.
            tracing::error!(%conn, "the session machine consumed nothing; chunk dropped");
            break;
        }
    }
    None
}
