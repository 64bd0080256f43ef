//! Subscription notifications: `SUBOK`/`SUBCMD`, `UNSUB`, `EOS`, `CS`, `OV`, `CONF`, `U`
//! (the hot path), and the second level of two-level COMMAND subscriptions.

use super::ClientSession;
use super::Queued;
use super::control::Op;
use super::error::{IssueAction, ProtocolError};
use super::event::{SubscriptionError, SubscriptionEvent, SubscriptionId};
use super::inbound::Flow;
use super::subscriptions::{Route, SubState, build_model, check_second_level_fields};
use super::transmit::ConnId;
use crate::model::{ModelError, SecondLevelAction, SubscriptionModel};
use crate::types::RealMaxFrequency;

/// A key appeared or went away in a two-level COMMAND subscription.
enum KeyChange {
    Added(String),
    Removed(String),
}

/// Where a subscription notification goes.
enum Target {
    Main(SubscriptionId),
    Child { parent: SubscriptionId, item: usize },
    Nowhere,
}

impl ClientSession {
    /// Resolves a wire id, reporting unknown ones.
    fn target_of(&mut self, conn: ConnId, wire: u32, tag: &'static str) -> Target {
        match self.subs.routes.get(&wire) {
            Some(Route::Main(id)) => Target::Main(*id),
            Some(Route::Child { parent, item, .. }) => Target::Child {
                parent: *parent,
                item: *item,
            },
            Some(Route::Retired) => Target::Nowhere,
            None => {
                let error = ProtocolError::UnknownSubscription { tag, sub_id: wire };
                self.report(conn, error, IssueAction::Ignored);
                Target::Nowhere
            }
        }
    }

    fn model_mut(&mut self, id: SubscriptionId) -> Option<&mut SubscriptionModel> {
        self.subs.entries.get_mut(&id)?.model.as_mut()
    }

    /// The data of `id` no longer fits the server's: report and resubscribe.
    fn model_broken(&mut self, conn: ConnId, id: SubscriptionId, error: ModelError) {
        let error = ProtocolError::Model {
            subscription: id,
            error,
        };
        self.report(conn, error, IssueAction::Resubscribed(id));
        self.resubscribe(id);
    }

    /// `SUBOK` (`command: None`) or `SUBCMD`.
    pub(super) fn on_subok(
        &mut self,
        conn: ConnId,
        wire: u32,
        items: usize,
        fields: usize,
        command: Option<(usize, usize)>,
    ) {
        self.ctrl.settle(&Op::Add { wire });
        let tag = if command.is_some() { "SUBCMD" } else { "SUBOK" };
        match self.target_of(conn, wire, tag) {
            Target::Main(id) => {
                let Some(entry) = self
                    .subs
                    .entries
                    .get_mut(&id)
                    .filter(|e| e.state == SubState::Subscribing)
                else {
                    return;
                };
                match build_model(entry, &self.config, items, fields, command) {
                    Ok(model) => {
                        entry.model = Some(model);
                        entry.state = SubState::Active;
                        let (key_pos, command_pos) = command.unzip();
                        let event = SubscriptionEvent::Subscribed {
                            items,
                            fields,
                            key_pos,
                            command_pos,
                        };
                        self.emit_sub(id, event);
                    }
                    Err(error) => {
                        self.subs.entries.remove(&id);
                        self.retire_wire(wire);
                        let error = SubscriptionError::Model(error);
                        self.emit_sub(id, SubscriptionEvent::Error(error));
                    }
                }
            }
            Target::Child { parent, .. } => {
                let Some(entry) = self.subs.entries.get_mut(&parent) else {
                    return;
                };
                let checked = check_second_level_fields(&entry.spec, &self.config, fields);
                let result = match (checked, entry.model.as_mut()) {
                    (Err(e), _) => Err(e),
                    (Ok(()), Some(m)) => m.set_second_level_fields(fields),
                    (Ok(()), None) => return,
                };
                let Err(error) = result else {
                    return;
                };
                if let Some(key) = self.forget_child(parent, wire) {
                    self.retire_wire(wire);
                    let error = SubscriptionError::Model(error);
                    self.emit_sub(parent, SubscriptionEvent::SecondLevelError { key, error });
                }
            }
            Target::Nowhere => {}
        }
    }

    /// Removes a second-level wire id from its parent; returns its key.
    fn forget_child(&mut self, parent: SubscriptionId, wire: u32) -> Option<String> {
        let entry = self.subs.entries.get_mut(&parent)?;
        let found = entry.children.iter().find(|(_, w)| **w == wire)?.0.clone();
        entry.children.remove(&found);
        Some(found.1)
    }

    /// `UNSUB`, or a failed `delete`.
    pub(super) fn on_unsub(&mut self, wire: u32) {
        self.ctrl.settle(&Op::Delete { wire });
        match self.subs.routes.remove(&wire) {
            Some(Route::Main(id)) => {
                // As asked, or decided by the server: either way the subscription is over.
                self.retire_children(id);
                self.drop_entry(id);
            }
            Some(Route::Child { parent, .. }) => {
                self.forget_child(parent, wire);
            }
            Some(Route::Retired) | None => {}
        }
    }

    /// A failed `add`.
    pub(super) fn add_failed(&mut self, wire: u32, code: i32, message: &str) {
        let error = SubscriptionError::Server {
            code,
            message: message.to_owned(),
        };
        match self.subs.routes.remove(&wire) {
            Some(Route::Main(id)) => {
                let Some(entry) = self.subs.entries.remove(&id) else {
                    return;
                };
                let event = if entry.state == SubState::Unsubscribing {
                    SubscriptionEvent::Unsubscribed
                } else {
                    SubscriptionEvent::Error(error)
                };
                self.emit_sub(id, event);
            }
            Some(Route::Child { parent, key, .. }) => {
                self.forget_child(parent, wire);
                self.emit_sub(parent, SubscriptionEvent::SecondLevelError { key, error });
            }
            Some(Route::Retired) | None => {}
        }
    }

    /// `EOS,<sub>,<item>`.
    pub(super) fn on_eos(&mut self, conn: ConnId, wire: u32, item: usize) {
        if let Target::Main(id) = self.target_of(conn, wire, "EOS") {
            match self.model_mut(id).map(|m| m.end_of_snapshot(item)) {
                Some(Ok(())) => self.emit_sub(id, SubscriptionEvent::EndOfSnapshot { item }),
                Some(Err(e)) => self.model_broken(conn, id, e),
                None => {}
            }
        }
    }

    /// `CS,<sub>,<item>`.
    pub(super) fn on_cs(&mut self, conn: ConnId, wire: u32, item: usize) {
        let Target::Main(id) = self.target_of(conn, wire, "CS") else {
            return;
        };
        match self.model_mut(id).map(|m| m.clear_snapshot(item)) {
            Some(Ok(keys)) => {
                for key in keys {
                    self.key_changed(id, item, KeyChange::Removed(key));
                }
                self.emit_sub(id, SubscriptionEvent::ClearSnapshot { item });
            }
            Some(Err(e)) => self.model_broken(conn, id, e),
            None => {}
        }
    }

    /// `OV,<sub>,<item>,<lost>`.
    pub(super) fn on_ov(&mut self, conn: ConnId, wire: u32, item: usize, lost: u64) {
        match self.target_of(conn, wire, "OV") {
            Target::Main(id) => match self.model_mut(id).map(|m| m.overflow(item, lost)) {
                Some(Ok(_)) => {
                    let event = SubscriptionEvent::LostUpdates {
                        item,
                        lost,
                        key: None,
                    };
                    self.emit_sub(id, event);
                }
                Some(Err(e)) => self.model_broken(conn, id, e),
                None => {}
            },
            Target::Child { parent, item } => {
                let key = match self.subs.routes.get(&wire) {
                    Some(Route::Child { key, .. }) => Some(key.clone()),
                    _ => None,
                };
                let event = SubscriptionEvent::LostUpdates { item, lost, key };
                self.emit_sub(parent, event);
            }
            Target::Nowhere => {}
        }
    }

    /// `CONF,<sub>,<frequency>,<filtered>`.
    pub(super) fn on_conf(
        &mut self,
        conn: ConnId,
        wire: u32,
        frequency: RealMaxFrequency,
        filtered: bool,
    ) {
        if let Target::Main(id) = self.target_of(conn, wire, "CONF") {
            let event = SubscriptionEvent::RealMaxFrequency {
                frequency,
                filtered,
            };
            self.emit_sub(id, event);
        }
    }

    /// `U,<sub>,<item>,<values>`: applies it to the model and queues the event (which
    /// borrows the model): processing pauses.
    pub(super) fn on_update(&mut self, conn: ConnId, wire: u32, item: usize, values: &str) -> Flow {
        let subs = &mut self.subs;
        let (id, result) = match subs.routes.get(&wire) {
            Some(Route::Main(id)) => {
                let id = *id;
                let Some(entry) = subs.entries.get_mut(&id) else {
                    return Flow::Continue;
                };
                if entry.state == SubState::Unsubscribing {
                    return Flow::Continue;
                }
                let Some(model) = entry.model.as_mut() else {
                    let error = ProtocolError::Unexpected {
                        tag: "U",
                        context: "update before SUBOK",
                    };
                    self.report(conn, error, IssueAction::Ignored);
                    return Flow::Continue;
                };
                let change = model.update(item, values).map(|u| match u.second_level() {
                    None => None,
                    Some(SecondLevelAction::Subscribe(k)) => Some(KeyChange::Added(k.to_owned())),
                    Some(SecondLevelAction::Unsubscribe(k)) => {
                        Some(KeyChange::Removed(k.to_owned()))
                    }
                });
                (id, change)
            }
            Some(Route::Child { parent, item, key }) => {
                let parent = *parent;
                let Some(model) = subs.entries.get_mut(&parent).and_then(|e| e.model.as_mut())
                else {
                    return Flow::Continue;
                };
                (
                    parent,
                    model.update_second_level(*item, key, values).map(|_| None),
                )
            }
            Some(Route::Retired) => return Flow::Continue,
            None => {
                let error = ProtocolError::UnknownSubscription {
                    tag: "U",
                    sub_id: wire,
                };
                self.report(conn, error, IssueAction::Ignored);
                return Flow::Continue;
            }
        };
        match result {
            Ok(change) => {
                if let Some(change) = change {
                    self.key_changed(id, item, change);
                }
                self.events.push_back(Queued::Update(id));
                self.update_queued = true;
                Flow::Pause
            }
            // More keys than allowed: subscribing again would only bring them back.
            Err(error @ ModelError::TooLarge { .. }) => {
                self.emit_sub(
                    id,
                    SubscriptionEvent::Error(SubscriptionError::Model(error)),
                );
                let _ = self.remove_subscription(id);
                Flow::Continue
            }
            Err(e) => {
                self.model_broken(conn, id, e);
                Flow::Continue
            }
        }
    }

    /// Two-level COMMAND: opens or closes the second-level subscription of a key.
    fn key_changed(&mut self, id: SubscriptionId, item: usize, change: KeyChange) {
        let two_level = self
            .subs
            .entries
            .get(&id)
            .is_some_and(|e| e.spec.second_level.is_some());
        if !two_level {
            return;
        }
        match change {
            KeyChange::Added(key) => {
                let route = Route::Child {
                    parent: id,
                    item,
                    key: key.clone(),
                };
                let wire = self.subs.alloc_wire(route);
                if let Some(entry) = self.subs.entries.get_mut(&id) {
                    entry.children.insert((item, key), wire);
                }
                self.ctrl.push(Op::Add { wire });
            }
            KeyChange::Removed(key) => {
                let wire = self
                    .subs
                    .entries
                    .get_mut(&id)
                    .and_then(|e| e.children.remove(&(item, key)));
                if let Some(wire) = wire {
                    self.retire_wire(wire);
                }
            }
        }
    }

    /// A malformed subscription notification for `wire`: its subscription (the parent of a
    /// second-level one) is resubscribed. Returns what was done.
    pub(super) fn malformed_for(&mut self, wire: u32, tag: &str) -> IssueAction {
        let id = match self.subs.routes.get(&wire) {
            Some(Route::Main(id)) => *id,
            Some(Route::Child { parent, .. }) => *parent,
            _ => return IssueAction::Ignored,
        };
        if tag == "UNSUB" {
            self.on_unsub(wire);
            return IssueAction::Ignored;
        }
        let active = self
            .subs
            .entries
            .get(&id)
            .is_some_and(|e| matches!(e.state, SubState::Subscribing | SubState::Active));
        if !active {
            return IssueAction::Ignored;
        }
        self.resubscribe(id);
        IssueAction::Resubscribed(id)
    }
}
