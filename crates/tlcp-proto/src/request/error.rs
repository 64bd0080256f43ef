//! What can be wrong with a request a client sent.

use std::fmt;

/// Where in what the client sent a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// The message or body as a whole (e.g. it is empty).
    Message,
    /// A line, counted from 1. In a WS message line 1 is the request name and parameters
    /// start on line 2; in an HTTP body line 1 is the first line of the body.
    Line(usize),
    /// The path of an HTTP request (where the request name is).
    Path,
    /// The query string of an HTTP request.
    Query,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Message => Ok(()),
            Self::Line(n) => write!(f, " on line {n}"),
            Self::Path => f.write_str(" in the request path"),
            Self::Query => f.write_str(" in the query string"),
        }
    }
}

/// What is wrong with a request.
///
/// Offending values are quoted (shortened when long) only for typed parameters (numbers,
/// booleans, modes...), never for free text such as a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestErrorKind {
    /// Nothing was sent, not even a request name.
    #[error("empty request")]
    Empty,
    /// The request name is not one of TLCP's.
    #[error("unknown request name {name:?}")]
    UnknownRequest {
        /// The name (shortened when long).
        name: String,
    },
    /// A parameter without `=`.
    #[error("malformed parameter at byte {offset} (no '=')")]
    MalformedParameter {
        /// Byte offset of the parameter in its line.
        offset: usize,
    },
    /// The same parameter twice in one request.
    #[error("parameter {param} given more than once")]
    DuplicateParameter {
        /// The parameter.
        param: &'static str,
    },
    /// A mandatory parameter is missing.
    #[error("missing mandatory parameter {param}")]
    MissingParameter {
        /// The parameter.
        param: &'static str,
    },
    /// A parameter value holds a `%` not followed by two hexadecimal digits.
    #[error("bad percent escape at byte {offset} of the value of {param}")]
    BadEscape {
        /// The parameter.
        param: &'static str,
        /// Byte offset of the `%` in the (encoded) value.
        offset: usize,
    },
    /// A parameter value does not decode to UTF-8.
    #[error("the value of {param} is not valid UTF-8 once percent-decoded")]
    InvalidUtf8 {
        /// The parameter.
        param: &'static str,
    },
    /// A parameter value is not of the expected type.
    #[error("invalid value {value:?} for {param} (expected {expected})")]
    InvalidValue {
        /// The parameter.
        param: &'static str,
        /// The decoded value (shortened when long).
        value: String,
        /// What was expected, e.g. "an unsigned integer".
        expected: &'static str,
    },
    /// `LS_op` is not a known operation.
    #[error("unknown LS_op {value:?}")]
    UnknownOp {
        /// The decoded value (shortened when long).
        value: String,
    },
    /// `LS_protocol` names a version this crate does not speak.
    #[error("unsupported LS_protocol {value:?}")]
    UnsupportedVersion {
        /// The decoded value (shortened when long).
        value: String,
    },
    /// A line that this request does not allow (e.g. a second line after `bind_session`).
    #[error("unexpected line in a {name} request")]
    UnexpectedLine {
        /// The request name.
        name: &'static str,
    },
}

/// A request that could not be parsed: what, where, and the request id if it was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}{location}{}", ReqIdSuffix(.req_id.as_deref()))]
#[non_exhaustive]
pub struct RequestError {
    kind: RequestErrorKind,
    location: Location,
    req_id: Option<String>,
}

struct ReqIdSuffix<'a>(Option<&'a str>);

impl fmt::Display for ReqIdSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, " (request id {:?})", excerpt(id)),
            None => Ok(()),
        }
    }
}

impl RequestError {
    /// A new error.
    pub fn new(kind: RequestErrorKind, location: Location, req_id: Option<String>) -> Self {
        Self {
            kind,
            location,
            req_id,
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> &RequestErrorKind {
        &self.kind
    }

    /// Where.
    pub fn location(&self) -> Location {
        self.location
    }

    /// The request id (`LS_reqId`) of the bad request, if it could be read: a server
    /// answers `REQERR,<id>,<code>,<message>` when it is known, `ERROR,<code>,<message>`
    /// otherwise.
    pub fn req_id(&self) -> Option<&str> {
        self.req_id.as_deref()
    }

    /// The TLCP error code a server answers with (Appendices A and B of the
    /// specification): 65 for invalid values (bad numbers, booleans, modes, `LS_op`,
    /// version), 67 for a malformed request (bad structure or escapes, missing
    /// parameters, unknown request name).
    pub fn code(&self) -> i32 {
        match self.kind {
            RequestErrorKind::InvalidValue { .. }
            | RequestErrorKind::UnknownOp { .. }
            | RequestErrorKind::UnsupportedVersion { .. } => 65,
            RequestErrorKind::Empty
            | RequestErrorKind::UnknownRequest { .. }
            | RequestErrorKind::MalformedParameter { .. }
            | RequestErrorKind::DuplicateParameter { .. }
            | RequestErrorKind::MissingParameter { .. }
            | RequestErrorKind::BadEscape { .. }
            | RequestErrorKind::InvalidUtf8 { .. }
            | RequestErrorKind::UnexpectedLine { .. } => 67,
        }
    }
}

/// The longest excerpt of a value quoted in an error.
const EXCERPT_CHARS: usize = 64;

/// `s`, cut to [`EXCERPT_CHARS`] characters (with `…` when cut).
pub(crate) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
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
    fn display_says_what_where_and_which_request() {
        let e = RequestError::new(
            RequestErrorKind::InvalidValue {
                param: "LS_subId",
                value: "x".into(),
                expected: "an unsigned integer",
            },
            Location::Line(2),
            Some("7".into()),
        );
        assert_eq!(
            e.to_string(),
            "invalid value \"x\" for LS_subId (expected an unsigned integer) on line 2 \
             (request id \"7\")"
        );
        assert_eq!(e.code(), 65);
        let e = RequestError::new(
            RequestErrorKind::MissingParameter { param: "LS_op" },
            Location::Query,
            None,
        );
        assert_eq!(
            e.to_string(),
            "missing mandatory parameter LS_op in the query string"
        );
        assert_eq!(e.code(), 67);
    }

    #[test]
    fn excerpts_are_short() {
        assert_eq!(excerpt("abc"), "abc");
        let long = "é".repeat(100);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
    }
}
