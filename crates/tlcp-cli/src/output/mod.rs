//! How the CLI shows what it receives: JSON lines for scripts, a live table for people.

pub(crate) mod jsonl;
pub(crate) mod table;
