//! [`ItemUpdate`]: one update, as the application sees it.

use super::{Command, Schema};
use crate::fields::row::Values;
use crate::fields::{ChangedFields, Row, RowIter};

/// Where an update's values are.
#[derive(Debug, Clone, Copy)]
pub(super) enum Source<'a> {
    /// MERGE, DISTINCT, RAW: the item's row.
    Row(&'a Row),
    /// COMMAND: a key's row, and its second-level values if it has some.
    Key {
        first: &'a Values,
        second: Option<&'a Row>,
    },
    /// COMMAND `DELETE`: the key and command from the item's row, the rest null.
    Deleted(&'a Row),
}

/// What a two-level COMMAND client must do after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondLevelAction<'a> {
    /// A new key: subscribe (MERGE, snapshot) to the item named like the key, with the
    /// second-level fields, and feed its updates to
    /// [`update_second_level`](super::SubscriptionModel::update_second_level).
    Subscribe(&'a str),
    /// A deleted key: unsubscribe its second-level subscription.
    Unsubscribe(&'a str),
}

/// One update of an item, borrowed from the [`SubscriptionModel`](super::SubscriptionModel)
/// that produced it.
///
/// Positions are 1-based. With a second level, positions after the first-level fields are
/// the second-level ones (null until the key's second-level subscription sends values).
#[derive(Debug, Clone, Copy)]
pub struct ItemUpdate<'a> {
    schema: &'a Schema,
    changed: &'a ChangedFields,
    item: usize,
    snapshot: bool,
    source: Source<'a>,
    command: Option<Command>,
    second_level: Option<SecondLevelAction<'a>>,
}

impl<'a> ItemUpdate<'a> {
    pub(super) fn new(
        schema: &'a Schema,
        changed: &'a ChangedFields,
        index: usize,
        snapshot: bool,
        source: Source<'a>,
    ) -> Self {
        Self {
            schema,
            changed,
            item: index + 1,
            snapshot,
            source,
            command: None,
            second_level: None,
        }
    }

    pub(super) fn with_command(
        mut self,
        command: Command,
        action: Option<SecondLevelAction<'a>>,
    ) -> Self {
        self.command = Some(command);
        self.second_level = action;
        self
    }

    /// The 1-based position of the item.
    pub fn item_pos(&self) -> usize {
        self.item
    }

    /// The item's name, if the model knows item names.
    pub fn item_name(&self) -> Option<&'a str> {
        let schema: &'a Schema = self.schema;
        schema.item_name(self.item)
    }

    /// Whether the update belongs to the item's snapshot (as the official clients'
    /// `isSnapshot`): in MERGE mode the first update when a snapshot was requested, in
    /// DISTINCT and COMMAND mode the updates before `EOS`; for a second-level update, the
    /// first one of the key's second-level subscription.
    pub fn is_snapshot(&self) -> bool {
        self.snapshot
    }

    /// Number of values: the fields, plus the second-level ones in two-level COMMAND mode.
    pub fn value_count(&self) -> usize {
        self.schema.value_count()
    }

    /// The value at 1-based `pos` (`None` = null, or no such field).
    pub fn value(&self, pos: usize) -> Option<&'a str> {
        let index = pos.checked_sub(1)?;
        match self.source {
            Source::Row(row) => row.get(index),
            Source::Key { first, second } => {
                if index < first.len() {
                    first.get(index)
                } else {
                    second?.get(index - first.len())
                }
            }
            Source::Deleted(row) => {
                let c = self.schema.command.as_ref()?;
                if index == c.key || index == c.command {
                    row.get(index)
                } else {
                    None
                }
            }
        }
    }

    /// The value of the field named `name` (`None` = null, or no such name).
    pub fn value_by_name(&self, name: &str) -> Option<&'a str> {
        self.value(self.schema.field_pos(name)?)
    }

    /// Every value in position order (`None` = null).
    pub fn values(&self) -> impl Iterator<Item = Option<&'a str>> + 'a {
        match self.source {
            // The common case, walked directly: no lookup by position per value.
            Source::Row(row) if row.len() == self.value_count() => ValuesIter::Row(row.iter()),
            _ => ValuesIter::ByPos(*self, 1..self.value_count() + 1),
        }
    }

    /// The row that holds exactly this update's values, in order (MERGE, DISTINCT and RAW
    /// modes; `None` in COMMAND mode): to copy them all at once through
    /// [`Row::layout`].
    pub fn row(&self) -> Option<&'a Row> {
        match self.source {
            Source::Row(row) if row.len() == self.value_count() => Some(row),
            _ => None,
        }
    }

    /// Whether the field at 1-based `pos` changed with this update.
    pub fn is_changed(&self, pos: usize) -> bool {
        pos.checked_sub(1).is_some_and(|i| self.changed.contains(i))
    }

    /// Whether the field named `name` changed with this update.
    pub fn is_changed_by_name(&self, name: &str) -> bool {
        self.schema
            .field_pos(name)
            .is_some_and(|p| self.is_changed(p))
    }

    /// The 1-based positions of the fields that changed, in increasing order.
    pub fn changed_positions(&self) -> impl Iterator<Item = usize> + 'a {
        let changed: &'a ChangedFields = self.changed;
        changed.iter().map(|i| i + 1)
    }

    /// The changed fields as a bitset of 0-based indexes.
    pub fn changed_fields(&self) -> &'a ChangedFields {
        self.changed
    }

    /// COMMAND mode: the key of the row.
    pub fn key(&self) -> Option<&'a str> {
        let c = self.schema.command.as_ref()?;
        match self.source {
            Source::Key { first, .. } => first.get(c.key),
            Source::Deleted(row) => row.get(c.key),
            Source::Row(_) => None,
        }
    }

    /// COMMAND mode: what happened to the row. This is the effective command, as in the
    /// row's command field: `Add` for a new key, `Update` for a known one, whatever the
    /// server said; `Delete` when the key is removed.
    pub fn command(&self) -> Option<Command> {
        self.command
    }

    /// Two-level COMMAND mode: a second-level subscription to open or close.
    pub fn second_level(&self) -> Option<SecondLevelAction<'a>> {
        self.second_level
    }
}

/// The iterator of [`ItemUpdate::values`].
enum ValuesIter<'a> {
    /// A row that holds exactly the update's values.
    Row(RowIter<'a>),
    /// Any other source: value by value.
    ByPos(ItemUpdate<'a>, std::ops::Range<usize>),
}

impl<'a> Iterator for ValuesIter<'a> {
    type Item = Option<&'a str>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Row(it) => it.next(),
            Self::ByPos(u, range) => range.next().map(|p| u.value(p)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Self::Row(it) => it.size_hint(),
            Self::ByPos(_, range) => range.size_hint(),
        }
    }
}

impl ExactSizeIterator for ValuesIter<'_> {}
