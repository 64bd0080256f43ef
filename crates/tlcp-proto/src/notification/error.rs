//! What can be wrong with a notification line.

use std::fmt;

use crate::percent::PercentError;

/// Longest excerpt of offending text kept in an error, in characters.
const SNIPPET_CHARS: usize = 48;

/// Which argument of which notification an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArgRef {
    /// The tag of the line, e.g. `"CONOK"`.
    pub tag: &'static str,
    /// 1-based position of the argument (the tag itself is not counted).
    pub index: u8,
    /// The name the specification gives the argument, e.g. `"keep-alive"`.
    pub name: &'static str,
}

impl fmt::Display for ArgRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} argument {} <{}>", self.tag, self.index, self.name)
    }
}

/// A malformed notification line.
///
/// Every variant says where the problem is; offending text is kept as an excerpt of at
/// most 48 characters (followed by `…` when cut), so that an error can be logged safely
/// even for a huge line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotificationError {
    /// The line is not valid UTF-8.
    #[error("notification line is not valid UTF-8 (valid up to byte {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the longest valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The line is empty or starts with a comma: there is no tag.
    #[error("notification line has no tag")]
    MissingTag,
    /// A known tag with the wrong number of arguments.
    #[error("{tag} expects {expected} argument(s), found {found}")]
    WrongArgCount {
        /// The tag of the line.
        tag: &'static str,
        /// The accepted count(s), e.g. `"3"`, `"0 or 1"`, `"2 or 3"`.
        expected: &'static str,
        /// How many arguments the line has (comma-separated pieces after the tag).
        found: usize,
    },
    /// A numeric argument that is not a number of the expected kind (or overflows it).
    #[error("{arg}: expected {expected}, found {text:?}")]
    BadNumber {
        /// The argument.
        arg: ArgRef,
        /// What was expected, e.g. `"an unsigned 32-bit integer"`.
        expected: &'static str,
        /// The offending text (excerpt).
        text: String,
    },
    /// An argument that is none of its allowed values (keywords or decimal).
    #[error("{arg}: expected {expected}, found {text:?}")]
    BadValue {
        /// The argument.
        arg: ArgRef,
        /// The allowed values, e.g. `"filtered or unfiltered"`.
        expected: &'static str,
        /// The offending text (excerpt).
        text: String,
    },
    /// A text argument whose percent-encoding is malformed or decodes to invalid UTF-8.
    #[error("{arg}: bad percent-encoding in {text:?}")]
    BadEscape {
        /// The argument.
        arg: ArgRef,
        /// The offending (still encoded) text (excerpt).
        text: String,
        /// What is wrong with the encoding.
        #[source]
        source: PercentError,
    },
}

/// An excerpt of `s` for an error message: at most [`SNIPPET_CHARS`] characters.
pub(super) fn snippet(s: &str) -> String {
    match s.char_indices().nth(SNIPPET_CHARS) {
        None => s.to_owned(),
        Some((cut, _)) => {
            let mut out = String::with_capacity(cut + 3);
            out.push_str(&s[..cut]);
            out.push('…');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_bounded_and_cut_on_char_boundaries() {
        assert_eq!(snippet("short"), "short");
        let long = "é".repeat(100);
        let s = snippet(&long);
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn messages_say_where() {
        let e = NotificationError::BadNumber {
            arg: ArgRef {
                tag: "CONOK",
                index: 3,
                name: "keep-alive",
            },
            expected: "an unsigned 64-bit integer",
            text: "5s".into(),
        };
        assert_eq!(
            e.to_string(),
            "CONOK argument 3 <keep-alive>: expected an unsigned 64-bit integer, found \"5s\""
        );
    }
}
