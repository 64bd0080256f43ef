//! COMMAND mode: rows by key, and the second level.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use super::event::{SecondLevelAction, Source};
use super::{ItemUpdate, Last, LastAction, LastSource, ModelError, SubscriptionModel};
use crate::fields::row::Values;
use crate::fields::{ChangedFields, Row};

/// The command of a COMMAND-mode update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// A new row.
    Add,
    /// A change to an existing row.
    Update,
    /// The row is removed.
    Delete,
}

impl Command {
    /// The wire value: `ADD`, `UPDATE` or `DELETE`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Add => "ADD",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
        }
    }

    /// Parses the wire value (exact, upper-case).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ADD" => Some(Self::Add),
            "UPDATE" => Some(Self::Update),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown command {0:?} (expected ADD, UPDATE or DELETE)")]
pub struct UnknownCommand(pub String);

impl FromStr for Command {
    type Err = UnknownCommand;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownCommand(s.to_owned()))
    }
}

/// The row of one key.
#[derive(Debug, Clone, Default)]
struct KeyRow {
    /// First-level values; the command field holds the effective command.
    values: Values,
    /// Two-level: the values of the key's second-level subscription (decoding base).
    second: Option<Row>,
}

/// The rows of an item by key: a slab of rows (reused after a `DELETE`, buffers included)
/// and the slot of each key.
#[derive(Debug, Clone, Default)]
pub(super) struct KeyTable {
    slots: HashMap<String, usize>,
    rows: Vec<KeyRow>,
    free: Vec<usize>,
}

impl KeyTable {
    /// Removes every row; returns their keys.
    pub(super) fn clear(&mut self) -> Vec<String> {
        self.rows.clear();
        self.free.clear();
        self.slots.drain().map(|(k, _)| k).collect()
    }

    /// The event source of the row in `slot` (for [`SubscriptionModel::last_update`]).
    pub(super) fn source(&self, slot: usize) -> Option<Source<'_>> {
        let kr = self.rows.get(slot)?;
        Some(Source::Key {
            first: &kr.values,
            second: kr.second.as_ref().filter(|r| r.is_set()),
        })
    }

    fn get(&self, key: &str) -> Option<&KeyRow> {
        self.slots.get(key).map(|&s| &self.rows[s])
    }

    /// The slot of a new row for `key`, cleared.
    fn insert(&mut self, key: &str) -> usize {
        let slot = match self.free.pop() {
            Some(slot) => {
                let row = &mut self.rows[slot];
                row.values.clear();
                if let Some(second) = &mut row.second {
                    second.clear();
                }
                slot
            }
            None => {
                self.rows.push(KeyRow::default());
                self.rows.len() - 1
            }
        };
        self.slots.insert(key.to_owned(), slot);
        slot
    }

    /// Removes `key`'s row; returns whether it had second-level values.
    fn remove(&mut self, key: &str) -> Option<bool> {
        let slot = self.slots.remove(key)?;
        self.free.push(slot);
        Some(self.rows[slot].second.as_ref().is_some_and(Row::is_set))
    }
}

/// Rebuilds `dst` from `src` with the command field set to `command`, marking in `changed`
/// the fields that differ from `dst`'s previous values (`prev_set: false`: all of them).
fn copy_row(
    src: &Row,
    command_index: usize,
    command: Command,
    dst: &mut Values,
    scratch: &mut Values,
    changed: &mut ChangedFields,
    prev_set: bool,
) {
    scratch.clear();
    for j in 0..src.len() {
        let v = if j == command_index {
            Some(command.as_str())
        } else {
            src.get(j)
        };
        if !prev_set || dst.get(j) != v {
            changed.insert(j);
        }
        scratch.push(v);
    }
    std::mem::swap(dst, scratch);
}

impl SubscriptionModel {
    /// `U` in COMMAND mode, for the item at 0-based `index`.
    pub(super) fn update_command(
        &mut self,
        index: usize,
        values: &str,
    ) -> Result<ItemUpdate<'_>, ModelError> {
        let item = index + 1;
        let Self {
            schema,
            items,
            changed,
            changed_scratch,
            scratch,
            last,
        } = self;
        let config = schema
            .command
            .as_ref()
            .ok_or(ModelError::CommandPositionsRequired)?;
        let (key_i, cmd_i, two_level) = (config.key, config.command, config.second_level.is_some());
        let max_keys = config.max_keys;
        let first = schema.fields;
        let total = schema.value_count();

        let it = &mut items[index];
        it.row
            .apply(values, changed_scratch)
            .map_err(|error| ModelError::Field { item, error })?;
        let snapshot = it.in_snapshot;
        let row = &it.row;
        let key = row.get(key_i).ok_or(ModelError::NullKey { item })?;
        let command =
            row.get(cmd_i)
                .and_then(Command::parse)
                .ok_or_else(|| ModelError::BadCommand {
                    item,
                    command: row.get(cmd_i).map(str::to_owned),
                })?;
        changed.reset(total);

        if command == Command::Delete {
            let action = match it.keys.remove(key) {
                Some(had_second) => {
                    // Every field but the key becomes null; second-level ones too if any.
                    let n = if had_second { total } else { first };
                    (0..n)
                        .filter(|&j| j != key_i)
                        .for_each(|j| changed.insert(j));
                    two_level.then_some(SecondLevelAction::Unsubscribe(key))
                }
                None => {
                    // Unknown key: reported all changed, as the official clients do.
                    (0..first).for_each(|j| changed.insert(j));
                    None
                }
            };
            *last = Some(Last {
                index,
                snapshot,
                source: LastSource::Deleted,
                command: Some((Command::Delete, action.map(|_| LastAction::Unsubscribe))),
            });
            let event = ItemUpdate::new(schema, changed, index, snapshot, Source::Deleted(row));
            return Ok(event.with_command(Command::Delete, action));
        }

        let (slot, effective, action) = match it.keys.slots.get(key) {
            Some(&slot) => (slot, Command::Update, None),
            None if it.keys.slots.len() >= max_keys => {
                return Err(ModelError::TooLarge {
                    what: "keys",
                    count: it.keys.slots.len() + 1,
                    max: max_keys,
                });
            }
            None => {
                let action = two_level.then_some(SecondLevelAction::Subscribe(key));
                (it.keys.insert(key), Command::Add, action)
            }
        };
        let kr = &mut it.keys.rows[slot];
        let prev_set = effective == Command::Update;
        copy_row(
            row,
            cmd_i,
            effective,
            &mut kr.values,
            scratch,
            changed,
            prev_set,
        );
        *last = Some(Last {
            index,
            snapshot,
            source: LastSource::Key(slot),
            command: Some((effective, action.map(|_| LastAction::Subscribe))),
        });
        let kr: &KeyRow = kr;
        let source = Source::Key {
            first: &kr.values,
            second: kr.second.as_ref().filter(|r| r.is_set()),
        };
        let event = ItemUpdate::new(schema, changed, index, snapshot, source);
        Ok(event.with_command(effective, action))
    }

    /// Applies a `U` notification of the second-level subscription of `key` (of 1-based
    /// `item`): `values` is its value list, for the second-level fields. The key's row gets
    /// the new second-level values; the event shows the whole row, with the changed
    /// second-level fields (and the command field, which becomes `UPDATE`).
    pub fn update_second_level(
        &mut self,
        item: usize,
        key: &str,
        values: &str,
    ) -> Result<ItemUpdate<'_>, ModelError> {
        self.last = None;
        let index = self.item_index(item)?;
        let Self {
            schema,
            items,
            changed,
            changed_scratch,
            scratch,
            last,
        } = self;
        let config = schema.command.as_ref().ok_or(ModelError::NotCommand)?;
        let second_n = match config.second_level {
            Some(n) if n > 0 => n,
            _ => return Err(ModelError::NoSecondLevel),
        };
        let cmd_i = config.command;
        let first = schema.fields;
        let keys = &mut items[index].keys;
        let Some(&slot) = keys.slots.get(key) else {
            return Err(ModelError::UnknownKey {
                item,
                key: key.to_owned(),
            });
        };
        let kr = &mut keys.rows[slot];
        let second = kr.second.get_or_insert_with(|| Row::new(second_n));
        let snapshot = !second.is_set();
        second
            .apply(values, changed_scratch)
            .map_err(|error| ModelError::Field { item, error })?;
        changed.reset(first + second_n);
        if kr.values.get(cmd_i) != Some(Command::Update.as_str()) {
            // The row's own values, with the command field now UPDATE.
            scratch.clear();
            for j in 0..kr.values.len() {
                scratch.push(if j == cmd_i {
                    Some(Command::Update.as_str())
                } else {
                    kr.values.get(j)
                });
            }
            std::mem::swap(&mut kr.values, scratch);
            changed.insert(cmd_i);
        }
        for j in changed_scratch.iter() {
            changed.insert(first + j);
        }
        *last = Some(Last {
            index,
            snapshot,
            source: LastSource::Key(slot),
            command: Some((Command::Update, None)),
        });
        let kr: &KeyRow = kr;
        let source = Source::Key {
            first: &kr.values,
            second: kr.second.as_ref(),
        };
        let event = ItemUpdate::new(schema, changed, index, snapshot, source);
        Ok(event.with_command(Command::Update, None))
    }

    /// COMMAND mode: the keys of `item`'s rows, in no particular order.
    pub fn keys(&self, item: usize) -> impl Iterator<Item = &str> + '_ {
        let index = self.item_index(item).ok();
        index
            .into_iter()
            .flat_map(move |i| self.items[i].keys.slots.keys().map(String::as_str))
    }

    /// COMMAND mode: the number of rows of `item`.
    pub fn key_count(&self, item: usize) -> usize {
        self.item_index(item)
            .map_or(0, |i| self.items[i].keys.slots.len())
    }

    /// COMMAND mode: the value at 1-based `pos` of the row of `key` in `item` (second-level
    /// fields after the first-level ones), as the official clients' `getCommandValue`.
    pub fn key_value(&self, item: usize, key: &str, pos: usize) -> Option<&str> {
        let kr = self.items[self.item_index(item).ok()?].keys.get(key)?;
        let index = pos.checked_sub(1)?;
        if index < kr.values.len() {
            kr.values.get(index)
        } else {
            kr.second.as_ref()?.get(index - kr.values.len())
        }
    }
}
