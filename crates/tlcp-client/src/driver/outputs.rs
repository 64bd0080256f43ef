//! Where the machine's events go: the status watch, the connection events, the
//! subscriptions' queues, the messages' outcomes and the counters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Instant;

use tlcp_proto::client::{
    ClientSession, Event, Lost, MessageId, MessageOutcome, SessionEvent, Status,
    SubscriptionEvent as MachineEvent, SubscriptionId, Update,
};
use tokio::sync::{broadcast, oneshot, watch};

use crate::delivery::{Pushed, Shared};
use crate::error::Error;
use crate::events::{CloseCause, ConnectionEvent, SubscriptionEvent};
use crate::stats::Counters;
use crate::update::{Schema, SpareStash};
use tlcp_proto::client::id_map::IdMap;

/// A subscription, as the driver knows it.
pub(crate) struct SubEntry {
    pub(crate) shared: Arc<Shared>,
    pub(crate) schema: Arc<Schema>,
    /// COMMAND mode: the key's position, from `SUBOK`/`SUBCMD`.
    pub(crate) key_pos: Option<usize>,
    pub(crate) backpressure: bool,
}

/// The state the client handles share with the driver.
#[derive(Clone)]
pub(crate) struct Links {
    pub(crate) status: watch::Sender<Status>,
    pub(crate) events: broadcast::Sender<ConnectionEvent>,
    pub(crate) counters: Arc<Counters>,
    /// Why the last session ended for good (cleared by `connect`).
    pub(crate) last_close: Arc<Mutex<Option<CloseCause>>>,
}

/// Everything events are delivered to.
pub(crate) struct Outputs {
    pub(crate) links: Links,
    pub(crate) subs: IdMap<SubscriptionId, SubEntry>,
    pub(crate) messages: HashMap<MessageId, oneshot::Sender<Result<MessageOutcome, Error>>>,
    /// A back-pressured queue became full: stop feeding the machine.
    pub(crate) full: bool,
    /// Readers to wake once the current input is processed (see [`Outputs::wake`]).
    pub(crate) wakers: Vec<Waker>,
    /// Updates pushed since the readers were last woken.
    pub(crate) unwoken: usize,
    /// Spare text buffers for the next updates (see [`ItemUpdate`](crate::ItemUpdate)'s
    /// recycling).
    pub(crate) spare: SpareStash,
}

/// Readers waiting for a long socket read are woken after this many updates, without
/// waiting for the end of the read.
const WAKE_EVERY: usize = 512;

impl Outputs {
    /// Drains the machine's events. `at` stamps the updates: the instant of the socket
    /// read that brought them.
    pub(crate) fn drain(&mut self, session: &mut ClientSession, at: Instant) {
        while let Some(event) = session.poll_event() {
            match event {
                Event::Update(u) => {
                    self.on_update(&u, at);
                }
                Event::Subscription { id, event } => self.on_subscription(id, event),
                Event::Status(status) => self.on_status(status),
                Event::Session(e) => self.on_session(e),
                Event::ServerError(e) => {
                    tracing::warn!(error = %e, "server error");
                    self.broadcast(ConnectionEvent::ServerError(e));
                }
                Event::ServerInfo(info) => {
                    if let Some(e) = ConnectionEvent::from_info(info) {
                        self.broadcast(e);
                    }
                }
                Event::Message { id, outcome } => {
                    tracing::debug!(message = %id, ?outcome, "message outcome");
                    if let Some(reply) = self.messages.remove(&id) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Event::RequestFailed(f) => {
                    tracing::warn!(request = ?f.request, code = f.code, message = %f.message, "request failed");
                    self.broadcast(ConnectionEvent::RequestFailed(f));
                }
                Event::Protocol(issue) => {
                    tracing::warn!(conn = %issue.conn, error = %issue.error, action = ?issue.action, "malformed input from the server");
                    self.broadcast(ConnectionEvent::ProtocolIssue(issue));
                }
                other => tracing::debug!(event = ?other, "event ignored"),
            }
        }
    }

    /// An update, into its subscription's queue. Returns whether to go on feeding the
    /// machine (`false`: a back-pressured queue is now full).
    #[inline]
    pub(crate) fn on_update(&mut self, u: &Update<'_>, at: Instant) -> bool {
        Counters::add(&self.links.counters.updates, 1);
        let Some(entry) = self.subs.get(&u.subscription()) else {
            return !self.full;
        };
        self.unwoken += 1;
        let pushed = entry.shared.push_update_deferred(
            &entry.schema,
            u,
            entry.key_pos,
            at,
            &mut self.wakers,
            &mut self.spare,
        );
        if self.unwoken >= WAKE_EVERY {
            self.wake();
        }
        match pushed {
            Pushed::Queued => {}
            Pushed::Full => self.full = true,
            Pushed::Conflated => Counters::add(&self.links.counters.conflated, 1),
            Pushed::Dropped => Counters::add(&self.links.counters.dropped, 1),
        }
        !self.full
    }

    /// Wakes the readers that got events since the last call. The driver calls it once
    /// it has processed an input (a whole socket read): one wake-up per read and reader,
    /// instead of one per update.
    pub(crate) fn wake(&mut self) {
        self.unwoken = 0;
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }

    fn broadcast(&self, event: ConnectionEvent) {
        let _ = self.links.events.send(event);
    }

    fn on_status(&mut self, status: Status) {
        tracing::info!(%status, "status");
        self.links.status.send_replace(status);
        if status == Status::Stalled {
            self.broadcast(ConnectionEvent::Stalled);
        }
    }

    fn on_session(&mut self, event: SessionEvent) {
        let c = &self.links.counters;
        match &event {
            SessionEvent::Created { session_id } => {
                tracing::info!(session = %session_id.redacted(), "session created");
                Counters::add(&c.sessions, 1);
            }
            SessionEvent::Recovered {
                session_id,
                duplicates_skipped,
            } => {
                tracing::info!(session = %session_id.redacted(), duplicates_skipped, "session recovered");
                Counters::add(&c.recoveries, 1);
            }
            SessionEvent::Replaced { session_id, lost } => {
                tracing::warn!(session = %session_id.redacted(), ?lost, "session replaced: continuity lost");
                Counters::add(&c.sessions, 1);
                Counters::add(&c.reconnects, 1);
                if let Lost::AtLeast(n) = lost {
                    // Data notifications of every kind, not updates only.
                    Counters::add(&c.lost_notifications, *n);
                }
            }
            SessionEvent::Closed { cause } => tracing::info!(?cause, "session closed"),
            _ => {}
        }
        if let Some(e) = ConnectionEvent::from_session(event) {
            if let ConnectionEvent::SessionClosed { cause } = &e {
                *self
                    .links
                    .last_close
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(cause.clone());
            }
            self.broadcast(e);
        }
    }

    fn on_subscription(&mut self, id: SubscriptionId, event: MachineEvent) {
        let Some(entry) = self.subs.get_mut(&id) else {
            return;
        };
        let name = |item: usize| entry.schema.item_name(item).map(str::to_owned);
        let event = match event {
            MachineEvent::Subscribed {
                items,
                fields,
                key_pos,
                command_pos,
            } => {
                tracing::debug!(subscription = %id, items, fields, "subscribed");
                entry.key_pos = key_pos;
                SubscriptionEvent::Subscribed {
                    items,
                    fields,
                    key_pos,
                    command_pos,
                }
            }
            MachineEvent::Error(e) => {
                tracing::warn!(subscription = %id, error = ?e, "subscription failed");
                SubscriptionEvent::Error(e)
            }
            MachineEvent::Unsubscribed => SubscriptionEvent::Unsubscribed,
            MachineEvent::Interrupted => SubscriptionEvent::Interrupted,
            MachineEvent::EndOfSnapshot { item } => SubscriptionEvent::EndOfSnapshot {
                item,
                item_name: name(item),
            },
            MachineEvent::ClearSnapshot { item } => SubscriptionEvent::ClearSnapshot {
                item,
                item_name: name(item),
            },
            MachineEvent::LostUpdates { item, lost, key } => {
                Counters::add(&self.links.counters.lost_updates, lost);
                SubscriptionEvent::LostUpdates {
                    item,
                    item_name: name(item),
                    count: lost,
                    key,
                }
            }
            MachineEvent::RealMaxFrequency {
                frequency,
                filtered,
            } => SubscriptionEvent::RealMaxFrequency {
                frequency,
                filtered,
            },
            MachineEvent::SecondLevelError { key, error } => {
                SubscriptionEvent::SecondLevelError { key, error }
            }
            other => {
                tracing::debug!(subscription = %id, event = ?other, "subscription event ignored");
                return;
            }
        };
        let terminal = event.is_terminal();
        entry.shared.push_event_deferred(event, &mut self.wakers);
        if terminal {
            self.subs.remove(&id);
        }
    }

    /// Whether a back-pressured subscription's queue is full. Asks every one of them
    /// (no short cut): each remembers whether it must wake the driver when it has room.
    pub(crate) fn must_pause(&self) -> bool {
        let mut full = false;
        for s in self.subs.values().filter(|s| s.backpressure) {
            full |= s.shared.blocks_reading();
        }
        full
    }

    /// The driver stops: every stream ends once drained, every message is aborted.
    pub(crate) fn close_all(&mut self) {
        self.wake();
        for (_, s) in self.subs.drain() {
            s.shared.close();
        }
        for (_, m) in self.messages.drain() {
            let _ = m.send(Ok(MessageOutcome::Aborted));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlcp_proto::Mode;
    use tlcp_proto::SessionId;
    use tlcp_proto::client::SubscriptionSpec;

    fn outputs() -> Outputs {
        Outputs {
            links: Links {
                status: watch::channel(Status::Disconnected).0,
                events: broadcast::channel(16).0,
                counters: Arc::default(),
                last_close: Arc::default(),
            },
            subs: Default::default(),
            messages: HashMap::new(),
            full: false,
            wakers: Vec::new(),
            unwoken: 0,
            spare: Default::default(),
        }
    }

    #[test]
    fn lost_counters_count_what_they_say() {
        let mut out = outputs();
        let spec = SubscriptionSpec::items(Mode::Merge, ["a"], ["f"]);
        let resume = Arc::new(tokio::sync::Notify::new());
        let entry = SubEntry {
            shared: Arc::new(Shared::new(crate::Delivery::Conflate, resume)),
            schema: Arc::new(Schema::of(&spec)),
            key_pos: None,
            backpressure: false,
        };
        let mut machine = ClientSession::new(tlcp_proto::client::SessionConfig::new("DEMO"));
        let id = machine.subscribe(spec, Instant::now()).unwrap();
        out.subs.insert(id, entry);
        // The server dropped 3 updates of the item: lost updates.
        let ov = MachineEvent::LostUpdates {
            item: 1,
            lost: 3,
            key: None,
        };
        out.on_subscription(id, ov);
        // A replacement after a gap of 7 notifications (SUBOK, CONF, updates... who
        // knows): not counted as updates.
        out.on_session(SessionEvent::Replaced {
            session_id: SessionId::new("S2"),
            lost: Lost::AtLeast(7),
        });
        out.on_session(SessionEvent::Replaced {
            session_id: SessionId::new("S3"),
            lost: Lost::Unknown,
        });
        let stats = out.links.counters.snapshot();
        assert_eq!(stats.lost_updates, 3);
        assert_eq!(stats.lost_notifications, 7);
        assert_eq!(stats.reconnects, 2);
    }
}
