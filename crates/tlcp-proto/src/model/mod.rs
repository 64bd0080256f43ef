//! The subscription data model: what a subscription's items hold, mode by mode.
//!
//! A [`SubscriptionModel`] is created when a subscription is confirmed (`SUBOK` gives the
//! numbers of items and fields, `SUBCMD` also the key and command positions) and is then fed
//! the subscription's notifications, already parsed: `U` ([`update`]), `EOS`
//! ([`end_of_snapshot`]), `CS` ([`clear_snapshot`]), `OV` ([`overflow`]). No I/O, no clock.
//!
//! * **MERGE**: one row per item; each update changes it ([`ItemUpdate`] shows the row and
//!   the changed fields). The first update is the snapshot when one was requested.
//! * **DISTINCT**, **RAW**: each update is an event of its own; the item's previous values
//!   are only the base that unchanged fields refer to. DISTINCT updates belong to the
//!   snapshot until `EOS`; RAW has no snapshot.
//! * **COMMAND**: per item, a table of rows by key, driven by the command field (`ADD`,
//!   `UPDATE`, `DELETE`). Values are decoded against the previous update of the *item*, then
//!   the row goes to its key. As the official clients do, an `ADD` for a key already there
//!   is an `UPDATE`, an `UPDATE` for an unknown key an `ADD`; a `DELETE` removes the key.
//!   Updates belong to the snapshot until `EOS`; `CS` empties the table.
//! * **Two-level COMMAND** ([`with_second_level`]): each key is also the item of a MERGE
//!   subscription (opened by the client layer when [`ItemUpdate::second_level`] says so)
//!   whose fields extend the key's row: first-level fields at positions `1..=F`, second-level
//!   ones at `F + 1..=F + F2`, as the official clients number them.
//!
//! Positions are 1-based everywhere here, as on the wire and in the official clients'
//! `ItemUpdate` (items, fields, key and command positions).
//!
//! Events borrow from the model: in MERGE, DISTINCT and RAW mode an update allocates
//! nothing once the item's buffers have grown; in COMMAND mode a new key allocates its row.
//!
//! [`update`]: SubscriptionModel::update
//! [`end_of_snapshot`]: SubscriptionModel::end_of_snapshot
//! [`clear_snapshot`]: SubscriptionModel::clear_snapshot
//! [`overflow`]: SubscriptionModel::overflow
//! [`with_second_level`]: SubscriptionModel::with_second_level
//!
//! ```
//! use tlcp_proto::{Mode, model::SubscriptionModel};
//!
//! let mut model = SubscriptionModel::new(Mode::Merge, 1, 2)?
//!     .with_item_names(["item1"])?
//!     .with_field_names(["stock_name", "last_price"])?;
//! let item = model.item_pos("item1").unwrap();
//! let u = model.update(item, "Anduct|3.04")?;
//! assert!(u.is_snapshot());
//! assert_eq!(u.value_by_name("last_price"), Some("3.04"));
//! let u = model.update(item, "|3.05")?;
//! assert_eq!(u.changed_positions().collect::<Vec<_>>(), [2]);
//! # Ok::<(), tlcp_proto::model::ModelError>(())
//! ```

mod command;
mod event;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use command::Command;
pub use event::{ItemUpdate, SecondLevelAction};

use crate::fields::row::Values;
use crate::fields::{ChangedFields, FieldError, Row};
use crate::types::Mode;

/// A notification that does not fit the model, or a model that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A subscription has at least one item and one field.
    #[error("a subscription needs at least one item and one field")]
    Empty,
    /// A COMMAND model needs the key and command positions (`SUBCMD`).
    #[error("COMMAND mode needs the key and command positions: use new_command")]
    CommandPositionsRequired,
    /// A key or command position outside the fields, or both the same.
    #[error("bad {what} position {position} for {fields} fields")]
    BadPosition {
        /// `"key"` or `"command"`.
        what: &'static str,
        /// The position given.
        position: usize,
        /// Number of fields.
        fields: usize,
    },
    /// A list of names whose length is not the number of items or fields.
    #[error("{found} {what} names for {expected} {what}s")]
    NameCount {
        /// `"item"`, `"field"` or `"second-level field"`.
        what: &'static str,
        /// The number of items or fields.
        expected: usize,
        /// The number of names.
        found: usize,
    },
    /// A second level on a subscription that is not in COMMAND mode.
    #[error("only COMMAND subscriptions have a second level")]
    NotCommand,
    /// A second-level operation on a model without a second level, or before the number of
    /// second-level fields is known.
    #[error("no second level (or its number of fields is not known yet)")]
    NoSecondLevel,
    /// A different number of second-level fields than the one known.
    #[error("{found} second-level fields, {expected} expected")]
    SecondLevelFields {
        /// The number already known.
        expected: usize,
        /// The number given.
        found: usize,
    },
    /// An item number outside `1..=items`.
    #[error("item {item} is not in 1..={items}")]
    NoSuchItem {
        /// The item number given.
        item: usize,
        /// Number of items.
        items: usize,
    },
    /// The values of an update do not decode.
    #[error("item {item}: {error}")]
    Field {
        /// The item.
        item: usize,
        /// What is wrong.
        error: FieldError,
    },
    /// A COMMAND update whose key field is null.
    #[error("item {item}: COMMAND update with a null key")]
    NullKey {
        /// The item.
        item: usize,
    },
    /// A COMMAND update whose command is not `ADD`, `UPDATE` or `DELETE`.
    #[error("item {item}: unknown command {command:?}")]
    BadCommand {
        /// The item.
        item: usize,
        /// The command field's value (`None` = null).
        command: Option<String>,
    },
    /// A second-level update for a key that the item does not have.
    #[error("item {item}: second-level update for unknown key {key:?}")]
    UnknownKey {
        /// The item.
        item: usize,
        /// The key.
        key: String,
    },
    /// More items or fields than the limit allows: a number announced by the server
    /// (`SUBOK`, `SUBCMD`) for a group or schema, refused before anything is allocated
    /// for it.
    #[error("{count} {what}, more than the limit of {max}")]
    TooLarge {
        /// `"items"`, `"fields"`, `"second-level fields"` or `"keys"`.
        what: &'static str,
        /// The number announced.
        count: usize,
        /// The limit in force.
        max: usize,
    },
    /// `CS` on a MERGE or RAW subscription, where the server never sends it.
    #[error("CS is not used in {mode} mode")]
    UnexpectedClearSnapshot {
        /// The subscription's mode.
        mode: Mode,
    },
}

/// Names by 1-based position, with lookup by name (the first of duplicates wins).
#[derive(Debug, Clone, Default)]
struct Names {
    list: Vec<String>,
    index: HashMap<String, usize>,
}

impl Names {
    fn new<I, S>(names: I, what: &'static str, expected: usize) -> Result<Self, ModelError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<String> = names.into_iter().map(Into::into).collect();
        if list.len() != expected {
            return Err(ModelError::NameCount {
                what,
                expected,
                found: list.len(),
            });
        }
        let mut index = HashMap::with_capacity(list.len());
        for (i, n) in list.iter().enumerate() {
            index.entry(n.clone()).or_insert(i + 1);
        }
        Ok(Self { list, index })
    }

    fn pos(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    fn name(&self, pos: usize) -> Option<&str> {
        self.list.get(pos.checked_sub(1)?).map(String::as_str)
    }
}

/// COMMAND-mode settings: 0-based indexes of the key and command fields, second level.
#[derive(Debug, Clone)]
struct CommandConfig {
    key: usize,
    command: usize,
    /// The most keys an item may have at once ([`SubscriptionModel::with_max_keys`]).
    max_keys: usize,
    /// `None`: one level. `Some(0)`: two levels, number of second-level fields unknown.
    second_level: Option<usize>,
    second_names: Names,
}

/// The state of one item.
#[derive(Debug, Clone)]
struct Item {
    /// The values of the item's last update: what unchanged fields refer to.
    row: Row,
    /// Whether the next update belongs to the snapshot.
    in_snapshot: bool,
    /// Updates lost so far (`OV`).
    lost: u64,
    /// COMMAND mode: the rows by key.
    keys: command::KeyTable,
}

/// What does not change with updates: mode, sizes, names, COMMAND settings.
#[derive(Debug, Clone)]
struct Schema {
    mode: Mode,
    fields: usize,
    items: usize,
    snapshot: bool,
    item_names: Option<Names>,
    field_names: Option<Names>,
    command: Option<CommandConfig>,
}

impl Schema {
    fn second_level_fields(&self) -> Option<usize> {
        self.command.as_ref()?.second_level
    }

    fn value_count(&self) -> usize {
        self.fields + self.second_level_fields().unwrap_or(0)
    }

    fn item_name(&self, item: usize) -> Option<&str> {
        self.item_names.as_ref()?.name(item)
    }

    fn field_pos(&self, name: &str) -> Option<usize> {
        if let Some(p) = self.field_names.as_ref().and_then(|n| n.pos(name)) {
            return Some(p);
        }
        let second = &self.command.as_ref()?.second_names;
        second.pos(name).map(|p| self.fields + p)
    }

    fn field_name(&self, pos: usize) -> Option<&str> {
        if pos <= self.fields {
            return self.field_names.as_ref()?.name(pos);
        }
        self.command.as_ref()?.second_names.name(pos - self.fields)
    }
}

/// The data model of one subscription (see the [module documentation](self)).
#[derive(Debug, Clone)]
pub struct SubscriptionModel {
    schema: Schema,
    items: Vec<Item>,
    /// The changed fields of the last event.
    changed: ChangedFields,
    /// Scratch: changed fields of an item row under COMMAND rows, of second-level rows.
    changed_scratch: ChangedFields,
    /// Scratch buffers swapped with a key's values when they are rebuilt.
    scratch: Values,
    /// What the last successful update produced, for [`SubscriptionModel::last_update`].
    last: Option<Last>,
}

/// Where the last update's values are, to borrow them again.
#[derive(Debug, Clone, Copy)]
enum LastSource {
    /// The item's row (MERGE, DISTINCT, RAW).
    Row,
    /// A COMMAND key's row, by slot.
    Key(usize),
    /// A COMMAND `DELETE`: the item's row.
    Deleted,
}

/// The second-level action of the last update (its key is read from the row again).
#[derive(Debug, Clone, Copy)]
enum LastAction {
    Subscribe,
    Unsubscribe,
}

/// A description of the last update, enough to rebuild its [`ItemUpdate`].
#[derive(Debug, Clone, Copy)]
struct Last {
    index: usize,
    snapshot: bool,
    source: LastSource,
    command: Option<(Command, Option<LastAction>)>,
}

impl SubscriptionModel {
    /// A model for a MERGE, DISTINCT or RAW subscription of `items` items and `fields` fields
    /// (as `SUBOK` tells). A snapshot is assumed requested except in RAW mode, as the official
    /// clients default to; see [`with_snapshot`](Self::with_snapshot).
    pub fn new(mode: Mode, items: usize, fields: usize) -> Result<Self, ModelError> {
        if mode == Mode::Command {
            return Err(ModelError::CommandPositionsRequired);
        }
        Self::build(mode, items, fields, None)
    }

    /// A model for a COMMAND subscription, from `SUBCMD`: numbers of items and fields, 1-based
    /// positions of the key and command fields.
    pub fn new_command(
        items: usize,
        fields: usize,
        key_pos: usize,
        command_pos: usize,
    ) -> Result<Self, ModelError> {
        for (what, position) in [("key", key_pos), ("command", command_pos)] {
            if position == 0 || position > fields || key_pos == command_pos {
                return Err(ModelError::BadPosition {
                    what,
                    position,
                    fields,
                });
            }
        }
        let config = CommandConfig {
            max_keys: usize::MAX,
            key: key_pos - 1,
            command: command_pos - 1,
            second_level: None,
            second_names: Names::default(),
        };
        Self::build(Mode::Command, items, fields, Some(config))
    }

    fn build(
        mode: Mode,
        items: usize,
        fields: usize,
        command: Option<CommandConfig>,
    ) -> Result<Self, ModelError> {
        if items == 0 || fields == 0 {
            return Err(ModelError::Empty);
        }
        let snapshot = mode != Mode::Raw;
        let item = Item {
            row: Row::new(fields),
            in_snapshot: snapshot,
            lost: 0,
            keys: command::KeyTable::default(),
        };
        Ok(Self {
            schema: Schema {
                mode,
                fields,
                items,
                snapshot,
                item_names: None,
                field_names: None,
                command,
            },
            items: vec![item; items],
            changed: ChangedFields::new(),
            changed_scratch: ChangedFields::new(),
            scratch: Values::default(),
            last: None,
        })
    }

    /// Says whether a snapshot was requested (`LS_snapshot`), which decides whether the first
    /// updates are flagged as snapshot. Ignored in RAW mode (never a snapshot). To be set
    /// before the first update.
    pub fn with_snapshot(mut self, requested: bool) -> Self {
        self.schema.snapshot = requested && self.schema.mode != Mode::Raw;
        for item in &mut self.items {
            item.in_snapshot = self.schema.snapshot;
        }
        self
    }

    /// Names the items, in order, for [`item_pos`](Self::item_pos) and events.
    pub fn with_item_names<I, S>(mut self, names: I) -> Result<Self, ModelError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.schema.item_names = Some(Names::new(names, "item", self.schema.items)?);
        Ok(self)
    }

    /// Names the (first-level) fields, in order, for [`field_pos`](Self::field_pos) and
    /// [`ItemUpdate::value_by_name`].
    pub fn with_field_names<I, S>(mut self, names: I) -> Result<Self, ModelError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.schema.field_names = Some(Names::new(names, "field", self.schema.fields)?);
        Ok(self)
    }

    /// Caps the keys a COMMAND item may have at once: an `ADD` of one more key fails the
    /// update with [`ModelError::TooLarge`] (the table of rows by key, and in two-level
    /// mode the second-level subscription each key opens, would otherwise grow with
    /// whatever the server sends). No limit by default.
    pub fn with_max_keys(mut self, max: usize) -> Result<Self, ModelError> {
        let config = self.schema.command.as_mut().ok_or(ModelError::NotCommand)?;
        config.max_keys = max;
        Ok(self)
    }

    /// Makes a COMMAND model two-level: each key's row is extended with the fields of a
    /// second-level MERGE subscription to the key. `fields` is their number, if known (with a
    /// field schema it is known from the first second-level `SUBOK`: see
    /// [`set_second_level_fields`](Self::set_second_level_fields)).
    pub fn with_second_level(mut self, fields: Option<usize>) -> Result<Self, ModelError> {
        let config = self.schema.command.as_mut().ok_or(ModelError::NotCommand)?;
        config.second_level = Some(fields.unwrap_or(0));
        Ok(self)
    }

    /// Names the second-level fields (positions `F + 1` on); sets their number if unknown.
    pub fn with_second_level_field_names<I, S>(mut self, names: I) -> Result<Self, ModelError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<String> = names.into_iter().map(Into::into).collect();
        self.set_second_level_fields(list.len())?;
        let config = self.schema.command.as_mut().ok_or(ModelError::NotCommand)?;
        config.second_names =
            Names::new(list, "second-level field", config.second_level.unwrap_or(0))?;
        Ok(self)
    }

    /// Sets the number of second-level fields, when it was not known at creation (from a
    /// second-level `SUBOK`). Setting the same number again is fine.
    pub fn set_second_level_fields(&mut self, fields: usize) -> Result<(), ModelError> {
        let config = self.schema.command.as_mut().ok_or(ModelError::NotCommand)?;
        match config.second_level {
            None => Err(ModelError::NoSecondLevel),
            Some(0) if fields > 0 => {
                config.second_level = Some(fields);
                Ok(())
            }
            Some(n) if n == fields => Ok(()),
            Some(n) => Err(ModelError::SecondLevelFields {
                expected: n,
                found: fields,
            }),
        }
    }

    /// The subscription mode.
    pub fn mode(&self) -> Mode {
        self.schema.mode
    }

    /// Number of items.
    pub fn item_count(&self) -> usize {
        self.schema.items
    }

    /// Number of (first-level) fields.
    pub fn field_count(&self) -> usize {
        self.schema.fields
    }

    /// Number of second-level fields: `None` without a second level, `Some(0)` while unknown.
    pub fn second_level_field_count(&self) -> Option<usize> {
        self.schema.second_level_fields()
    }

    /// Number of values an update shows: the fields, plus the second-level ones if any.
    pub fn value_count(&self) -> usize {
        self.schema.value_count()
    }

    /// Whether a snapshot was requested (always `false` in RAW mode).
    pub fn snapshot_requested(&self) -> bool {
        self.schema.snapshot
    }

    /// COMMAND mode: 1-based position of the key field.
    pub fn key_pos(&self) -> Option<usize> {
        self.schema.command.as_ref().map(|c| c.key + 1)
    }

    /// COMMAND mode: 1-based position of the command field.
    pub fn command_pos(&self) -> Option<usize> {
        self.schema.command.as_ref().map(|c| c.command + 1)
    }

    /// The 1-based position of the item named `name`.
    pub fn item_pos(&self, name: &str) -> Option<usize> {
        self.schema.item_names.as_ref()?.pos(name)
    }

    /// The name of the item at 1-based `item`, if items were named.
    pub fn item_name(&self, item: usize) -> Option<&str> {
        self.schema.item_name(item)
    }

    /// The 1-based position of the field named `name`; second-level fields come after the
    /// first-level ones.
    pub fn field_pos(&self, name: &str) -> Option<usize> {
        self.schema.field_pos(name)
    }

    /// The name of the field at 1-based `pos` (second-level ones after the first-level ones).
    pub fn field_name(&self, pos: usize) -> Option<&str> {
        self.schema.field_name(pos)
    }

    fn item_index(&self, item: usize) -> Result<usize, ModelError> {
        match item.checked_sub(1) {
            Some(i) if i < self.items.len() => Ok(i),
            _ => Err(ModelError::NoSuchItem {
                item,
                items: self.schema.items,
            }),
        }
    }

    /// Applies a `U` notification for 1-based `item`: `values` is its third argument (the
    /// `|`-separated list). Atomic: on error nothing changed.
    ///
    /// In COMMAND mode, when the values decode but the key is null or the command unknown,
    /// the error leaves every key as it was, but the item's values are those of the update
    /// (the server encodes its next update against them).
    pub fn update(&mut self, item: usize, values: &str) -> Result<ItemUpdate<'_>, ModelError> {
        self.last = None;
        let index = self.item_index(item)?;
        if self.schema.mode == Mode::Command {
            return self.update_command(index, values);
        }
        let it = &mut self.items[index];
        it.row
            .apply(values, &mut self.changed)
            .map_err(|error| ModelError::Field { item, error })?;
        let snapshot = it.in_snapshot;
        if self.schema.mode == Mode::Merge {
            it.in_snapshot = false;
        }
        self.last = Some(Last {
            index,
            snapshot,
            source: LastSource::Row,
            command: None,
        });
        let it = &self.items[index];
        Ok(ItemUpdate::new(
            &self.schema,
            &self.changed,
            index,
            snapshot,
            event::Source::Row(&it.row),
        ))
    }

    /// Applies `EOS` for `item`: the updates that follow are no longer part of the snapshot.
    pub fn end_of_snapshot(&mut self, item: usize) -> Result<(), ModelError> {
        let index = self.item_index(item)?;
        self.items[index].in_snapshot = false;
        Ok(())
    }

    /// Applies `CS` for `item`. In COMMAND mode the item's rows are removed and their keys
    /// returned (with a second level, the client closes their second-level subscriptions);
    /// the item stays in or out of the snapshot as it was, as with the official clients. In
    /// DISTINCT mode there is nothing to clear here (the history is the application's).
    pub fn clear_snapshot(&mut self, item: usize) -> Result<Vec<String>, ModelError> {
        self.last = None;
        let index = self.item_index(item)?;
        match self.schema.mode {
            Mode::Command => Ok(self.items[index].keys.clear()),
            Mode::Distinct => Ok(Vec::new()),
            mode => Err(ModelError::UnexpectedClearSnapshot { mode }),
        }
    }

    /// Applies `OV` for `item`: `lost` updates were dropped. Returns the item's total.
    pub fn overflow(&mut self, item: usize, lost: u64) -> Result<u64, ModelError> {
        let index = self.item_index(item)?;
        let it = &mut self.items[index];
        it.lost = it.lost.saturating_add(lost);
        Ok(it.lost)
    }

    /// The event of the last successful [`update`](Self::update) or
    /// [`update_second_level`](Self::update_second_level), borrowed again: the same values,
    /// changed fields, snapshot flag, command and second-level action.
    ///
    /// `None` before any update, after a failed one, and after [`clear_snapshot`] or
    /// [`reset`](Self::reset). This lets a caller apply an update now and hand the event
    /// out later (e.g. from a poll method), without copying it.
    ///
    /// [`clear_snapshot`]: Self::clear_snapshot
    ///
    /// ```
    /// use tlcp_proto::{Mode, model::SubscriptionModel};
    /// let mut model = SubscriptionModel::new(Mode::Merge, 1, 2)?;
    /// model.update(1, "a|b")?;
    /// model.update(1, "|c")?;
    /// let u = model.last_update().unwrap();
    /// assert_eq!(u.value(2), Some("c"));
    /// assert_eq!(u.changed_positions().collect::<Vec<_>>(), [2]);
    /// # Ok::<(), tlcp_proto::model::ModelError>(())
    /// ```
    #[inline]
    pub fn last_update(&self) -> Option<ItemUpdate<'_>> {
        let last = self.last?;
        let it = self.items.get(last.index)?;
        let source = match last.source {
            LastSource::Row => event::Source::Row(&it.row),
            LastSource::Deleted => event::Source::Deleted(&it.row),
            LastSource::Key(slot) => it.keys.source(slot)?,
        };
        let update = ItemUpdate::new(
            &self.schema,
            &self.changed,
            last.index,
            last.snapshot,
            source,
        );
        let Some((command, action)) = last.command else {
            return Some(update);
        };
        let action = match (action, update.key()) {
            (Some(LastAction::Subscribe), Some(k)) => Some(SecondLevelAction::Subscribe(k)),
            (Some(LastAction::Unsubscribe), Some(k)) => Some(SecondLevelAction::Unsubscribe(k)),
            _ => None,
        };
        Some(update.with_command(command, action))
    }

    /// Updates of `item` lost so far (sum of its `OV`s).
    pub fn lost_updates(&self, item: usize) -> Option<u64> {
        Some(self.items[self.item_index(item).ok()?].lost)
    }

    /// Whether the next update of `item` would belong to the snapshot.
    pub fn is_in_snapshot(&self, item: usize) -> Option<bool> {
        Some(self.items[self.item_index(item).ok()?].in_snapshot)
    }

    /// The values of `item`'s last update (in COMMAND mode, the last row received, whatever
    /// its key). In MERGE mode, the item's current state.
    pub fn row(&self, item: usize) -> Option<&Row> {
        Some(&self.items[self.item_index(item).ok()?].row)
    }

    /// Forgets every value, key, snapshot state and loss count, as for a new subscription
    /// (when the subscription is re-sent in a new session).
    pub fn reset(&mut self) {
        self.last = None;
        for it in &mut self.items {
            it.row.clear();
            it.in_snapshot = self.schema.snapshot;
            it.lost = 0;
            it.keys.clear();
        }
    }
}
