//! The subscription table: application subscriptions (stable [`SubscriptionId`]s) and the
//! wire ids (`LS_subId`, progressive from 1 in each session) they and their second-level
//! subscriptions have in the current session.
//!
//! Lifecycle of an entry: `Pending` (no session) → `Subscribing` (`add` queued or sent) →
//! `Active` (`SUBOK`, with a [`SubscriptionModel`]) → `Unsubscribing` (`delete` sent) →
//! gone (`UNSUB`). When a session ends every entry goes back to `Pending` (active ones get
//! [`SubscriptionEvent::Interrupted`]) and is sent again, with a snapshot, in the next one.

use std::collections::{BTreeMap, HashMap};

use super::ClientSession;
use super::config::SessionConfig;
use super::control::Op;
use super::error::ClientError;
use super::event::{Event, SubscriptionEvent, SubscriptionId};
use super::id_map::IdMap;
use super::spec::{Fields, SubscriptionSpec, fields_name};
use crate::model::{ItemUpdate, ModelError, SubscriptionModel};
use crate::request::Subscribe;
use crate::types::{MaxFrequency, Mode, Snapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SubState {
    Pending,
    Subscribing,
    Active,
    Unsubscribing,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub(super) spec: SubscriptionSpec,
    pub(super) state: SubState,
    pub(super) wire: Option<u32>,
    pub(super) model: Option<SubscriptionModel>,
    /// Ask for a snapshot whatever the spec says (sent again after a lost session).
    pub(super) force_snapshot: bool,
    /// Two-level COMMAND: the wire id of each key's second-level subscription.
    pub(super) children: HashMap<(usize, String), u32>,
}

impl Entry {
    pub(super) fn snapshot(&self) -> Option<Snapshot> {
        self.spec.snapshot_param(self.force_snapshot)
    }
}

/// What a wire id stands for.
#[derive(Debug)]
pub(super) enum Route {
    Main(SubscriptionId),
    /// The second-level subscription of `key` (of `item`) of `parent`.
    Child {
        parent: SubscriptionId,
        item: usize,
        key: String,
    },
    /// Being deleted: its notifications are ignored until `UNSUB`.
    Retired,
}

#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    last_id: u64,
    last_wire: u32,
    pub(super) entries: BTreeMap<SubscriptionId, Entry>,
    pub(super) routes: IdMap<u32, Route>,
}

impl Subscriptions {
    pub(super) fn insert(&mut self, spec: SubscriptionSpec) -> SubscriptionId {
        self.last_id += 1;
        let id = SubscriptionId(self.last_id);
        self.insert_as(id, spec);
        id
    }

    /// Inserts `spec` under `id` (free: checked by the caller); later ids the machine
    /// numbers itself come after it.
    pub(super) fn insert_as(&mut self, id: SubscriptionId, spec: SubscriptionSpec) {
        self.last_id = self.last_id.max(id.0);
        let entry = Entry {
            spec,
            state: SubState::Pending,
            wire: None,
            model: None,
            force_snapshot: false,
            children: HashMap::new(),
        };
        self.entries.insert(id, entry);
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn alloc_wire(&mut self, route: Route) -> u32 {
        self.last_wire += 1;
        self.routes.insert(self.last_wire, route);
        self.last_wire
    }

    #[inline]
    pub(super) fn last_update(&self, id: SubscriptionId) -> Option<ItemUpdate<'_>> {
        self.entries.get(&id)?.model.as_ref()?.last_update()
    }

    /// The subscription a wire id belongs to, directly.
    pub(super) fn main_of(&self, wire: u32) -> Option<SubscriptionId> {
        match self.routes.get(&wire)? {
            Route::Main(id) => Some(*id),
            _ => None,
        }
    }
}

impl ClientSession {
    /// Queues the `add` of entry `id` with a new wire id.
    pub(super) fn send_add(&mut self, id: SubscriptionId) {
        let wire = self.subs.alloc_wire(Route::Main(id));
        if let Some(entry) = self.subs.entries.get_mut(&id) {
            entry.wire = Some(wire);
            entry.state = SubState::Subscribing;
            entry.model = None;
        }
        self.ctrl.push(Op::Add { wire });
    }

    /// The `add` parameters for a wire id, or `None` if it no longer stands for anything.
    pub(super) fn subscribe_params(&self, wire: u32, ws: bool) -> Option<Subscribe> {
        let mut sub = match self.subs.routes.get(&wire)? {
            Route::Main(id) => {
                let entry = self.subs.entries.get(id)?;
                let spec = &entry.spec;
                let mut s = Subscribe::new(wire, spec.mode, spec.group_name(), spec.schema_name());
                s.data_adapter.clone_from(&spec.data_adapter);
                s.selector.clone_from(&spec.selector);
                s.requested_buffer_size = spec.buffer_size;
                s.requested_max_frequency = spec.max_frequency;
                s.snapshot = entry.snapshot();
                s
            }
            Route::Child { parent, key, .. } => {
                let spec = &self.subs.entries.get(parent)?.spec;
                let second = spec.second_level.as_ref()?;
                let mut s =
                    Subscribe::new(wire, Mode::Merge, key.clone(), fields_name(&second.fields));
                s.data_adapter.clone_from(&second.data_adapter);
                s.requested_max_frequency = spec.max_frequency;
                s.snapshot = Some(Snapshot::Enabled(true));
                s
            }
            Route::Retired => return None,
        };
        sub.ack = self.ack_flag(ws);
        Some(sub)
    }

    /// `unsubscribe`: at once if never sent, else with a `delete`.
    pub(super) fn remove_subscription(&mut self, id: SubscriptionId) -> Result<(), ClientError> {
        let entry = self
            .subs
            .entries
            .get_mut(&id)
            .ok_or(ClientError::UnknownSubscription(id))?;
        match (entry.state, entry.wire) {
            (SubState::Unsubscribing, _) => Ok(()),
            (SubState::Subscribing | SubState::Active, Some(wire)) => {
                if self.ctrl.unqueue(&Op::Add { wire }) {
                    self.subs.routes.remove(&wire);
                    self.drop_entry(id);
                } else {
                    entry.state = SubState::Unsubscribing;
                    self.retire_children(id);
                    self.ctrl.push(Op::Delete { wire });
                }
                Ok(())
            }
            _ => {
                self.drop_entry(id);
                Ok(())
            }
        }
    }

    /// Removes an entry for good: [`SubscriptionEvent::Unsubscribed`].
    pub(super) fn drop_entry(&mut self, id: SubscriptionId) {
        if self.subs.entries.remove(&id).is_some() {
            self.emit_sub(id, SubscriptionEvent::Unsubscribed);
        }
    }

    /// `set_max_frequency`.
    pub(super) fn reconfigure(
        &mut self,
        id: SubscriptionId,
        frequency: MaxFrequency,
    ) -> Result<(), ClientError> {
        let entry = self
            .subs
            .entries
            .get_mut(&id)
            .ok_or(ClientError::UnknownSubscription(id))?;
        ClientError::check_frequency(Some(frequency))?;
        let unfiltered = |f: Option<MaxFrequency>| matches!(f, Some(MaxFrequency::Unfiltered));
        if unfiltered(Some(frequency)) || unfiltered(entry.spec.max_frequency) {
            return Err(ClientError::UnfilteredReconf);
        }
        entry.spec.max_frequency = Some(frequency);
        if let (SubState::Subscribing | SubState::Active, Some(wire)) = (entry.state, entry.wire) {
            // An `add` not sent yet carries the new frequency already.
            if !self.ctrl.is_queued(&Op::Add { wire }) {
                self.ctrl.push(Op::Reconf { wire, frequency });
            }
        }
        Ok(())
    }

    /// Deletes every second-level subscription of `id`.
    pub(super) fn retire_children(&mut self, id: SubscriptionId) {
        let Some(entry) = self.subs.entries.get_mut(&id) else {
            return;
        };
        let wires: Vec<u32> = entry.children.drain().map(|(_, w)| w).collect();
        for wire in wires {
            self.retire_wire(wire);
        }
    }

    /// Stops listening to `wire` and deletes it on the server (or drops its `add` if it
    /// was not sent).
    pub(super) fn retire_wire(&mut self, wire: u32) {
        if self.ctrl.unqueue(&Op::Add { wire }) {
            self.subs.routes.remove(&wire);
        } else {
            self.subs.routes.insert(wire, Route::Retired);
            self.ctrl.push(Op::Delete { wire });
        }
    }

    /// The data of `id` can no longer be trusted: delete it and subscribe again, with a
    /// snapshot, under a new wire id.
    pub(super) fn resubscribe(&mut self, id: SubscriptionId) {
        let Some(entry) = self.subs.entries.get_mut(&id) else {
            return;
        };
        if entry.state == SubState::Unsubscribing {
            return;
        }
        entry.force_snapshot = true;
        entry.model = None;
        if let Some(old) = entry.wire.take() {
            self.retire_wire(old);
        }
        self.retire_children(id);
        self.send_add(id);
    }

    /// The session ended.
    pub(super) fn subs_on_session_end(&mut self) {
        let mut events = Vec::new();
        self.subs.entries.retain(|id, e| {
            match e.state {
                SubState::Unsubscribing => {
                    events.push((*id, SubscriptionEvent::Unsubscribed));
                    return false;
                }
                SubState::Active => events.push((*id, SubscriptionEvent::Interrupted)),
                SubState::Pending | SubState::Subscribing => {}
            }
            e.state = SubState::Pending;
            e.wire = None;
            e.model = None;
            e.children.clear();
            e.force_snapshot = true;
            true
        });
        self.subs.routes.clear();
        self.subs.last_wire = 0;
        for (id, event) in events {
            self.emit_sub(id, event);
        }
    }

    /// A new session: every subscription goes out.
    pub(super) fn subs_on_new_session(&mut self) {
        self.subs.routes.clear();
        self.subs.last_wire = 0;
        let ids: Vec<SubscriptionId> = self.subs.entries.keys().copied().collect();
        for id in ids {
            self.send_add(id);
        }
    }

    pub(super) fn emit_sub(&mut self, id: SubscriptionId, event: SubscriptionEvent) {
        self.emit(Event::Subscription { id, event });
    }
}

/// Checks the numbers a `SUBOK`/`SUBCMD` announces before a model is allocated for them:
/// equal to the lists asked for, or within the configured limits for a group or schema.
pub(super) fn check_counts(
    spec: &SubscriptionSpec,
    config: &SessionConfig,
    items: usize,
    fields: usize,
) -> Result<(), ModelError> {
    let listed = |what, names: Option<usize>, max, count| match names {
        Some(expected) if expected != count => Err(ModelError::NameCount {
            what,
            expected: count,
            found: expected,
        }),
        Some(_) => Ok(()),
        None if count > max => Err(ModelError::TooLarge {
            what: if what == "item" { "items" } else { "fields" },
            count,
            max,
        }),
        None => Ok(()),
    };
    let item_names = match &spec.items {
        super::spec::Items::List(names) => Some(names.len()),
        super::spec::Items::Group(_) => None,
    };
    let field_names = match &spec.fields {
        Fields::List(names) => Some(names.len()),
        Fields::Schema(_) => None,
    };
    listed("item", item_names, config.max_items, items)?;
    listed("field", field_names, config.max_fields, fields)
}

/// Checks the number of second-level fields a second-level `SUBOK` announces, when they
/// were asked for by schema (a list fixes the number, checked by the model).
pub(super) fn check_second_level_fields(
    spec: &SubscriptionSpec,
    config: &SessionConfig,
    fields: usize,
) -> Result<(), ModelError> {
    let by_schema = spec
        .second_level
        .as_ref()
        .is_some_and(|s| matches!(s.fields, Fields::Schema(_)));
    if by_schema && fields > config.max_fields {
        return Err(ModelError::TooLarge {
            what: "second-level fields",
            count: fields,
            max: config.max_fields,
        });
    }
    Ok(())
}

/// The model for a confirmed subscription (the numbers checked by [`check_counts`]).
pub(super) fn build_model(
    entry: &Entry,
    config: &SessionConfig,
    items: usize,
    fields: usize,
    command: Option<(usize, usize)>,
) -> Result<SubscriptionModel, ModelError> {
    let spec = &entry.spec;
    check_counts(spec, config, items, fields)?;
    let model = match (spec.mode, command) {
        (Mode::Command, Some((key, cmd))) => {
            SubscriptionModel::new_command(items, fields, key, cmd)?
                .with_max_keys(config.max_command_keys)?
        }
        (mode, _) => SubscriptionModel::new(mode, items, fields)?,
    };
    let snapshot = !matches!(entry.snapshot(), None | Some(Snapshot::Enabled(false)));
    let mut model = model.with_snapshot(snapshot);
    if let super::spec::Items::List(names) = &spec.items {
        model = model.with_item_names(names.iter().cloned())?;
    }
    if let Fields::List(names) = &spec.fields {
        model = model.with_field_names(names.iter().cloned())?;
    }
    if let Some(second) = &spec.second_level {
        match &second.fields {
            Fields::List(names) => {
                model = model
                    .with_second_level(Some(names.len()))?
                    .with_second_level_field_names(names.iter().cloned())?;
            }
            Fields::Schema(_) => model = model.with_second_level(None)?,
        }
    }
    Ok(model)
}
