//! Small value types shared by requests, notifications and the subscription model.

use std::fmt;
use std::str::FromStr;

/// A subscription mode (`LS_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Every update as it comes, no snapshot, no filtering.
    Raw,
    /// One row per item; updates may be conflated; snapshot = the current row.
    Merge,
    /// Every update is a new event; snapshot = recent history.
    Distinct,
    /// A table of rows by key per item (ADD/UPDATE/DELETE); snapshot = current rows.
    Command,
}

impl Mode {
    /// The wire name: `RAW`, `MERGE`, `DISTINCT` or `COMMAND`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "RAW",
            Self::Merge => "MERGE",
            Self::Distinct => "DISTINCT",
            Self::Command => "COMMAND",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a subscription mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown subscription mode {0:?} (expected RAW, MERGE, DISTINCT or COMMAND)")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;

    /// Parses the wire name (exact, upper-case, as the server requires).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RAW" => Ok(Self::Raw),
            "MERGE" => Ok(Self::Merge),
            "DISTINCT" => Ok(Self::Distinct),
            "COMMAND" => Ok(Self::Command),
            _ => Err(UnknownMode(s.to_owned())),
        }
    }
}

/// A session id, as sent in `CONOK` and `LS_session`.
///
/// It is a credential: whoever knows it can bind and control the session. Its `Debug`
/// output shows only the first characters, so it can be logged without leaking it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// Wraps a session id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The full id, for putting on the wire. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, loggable prefix (up to 6 characters) followed by `…`.
    pub fn redacted(&self) -> String {
        let prefix: String = self.0.chars().take(6).collect();
        format!("{prefix}…")
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.redacted())
    }
}

/// A secret (a password): `Debug` prints `"***"`, never the content.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for putting on the wire. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// A requested maximum update frequency (`LS_requested_max_frequency`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxFrequency {
    /// No limit: each update as soon as possible (may still be conflated under load).
    Unlimited,
    /// No limit and no losses: any loss is reported with `OV`.
    Unfiltered,
    /// At most this many updates per second per item (per key for COMMAND UPDATEs).
    PerSecond(f64),
}

/// The maximum frequency a server applies (`CONF`): a number or `unlimited`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RealMaxFrequency {
    /// No frequency limit.
    Unlimited,
    /// At most this many updates per second.
    PerSecond(f64),
}

/// A requested buffer size (`LS_requested_buffer_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferSize {
    /// No limit requested.
    Unlimited,
    /// At most this many update events buffered per item.
    Events(u32),
}

/// A snapshot request (`LS_snapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshot {
    /// `true` or `false`.
    Enabled(bool),
    /// A snapshot of at most this many events (DISTINCT only).
    Length(u32),
}

/// A requested maximum bandwidth (`LS_requested_max_bandwidth`), in kbit/s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bandwidth {
    /// No limit.
    Unlimited,
    /// At most this many kilobits per second.
    Kbps(f64),
}

/// The bandwidth a server applies to a session (`CONS`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BandwidthLimit {
    /// No limit.
    Unlimited,
    /// No limit, and the client may not set one.
    Unmanaged,
    /// At most this many kilobits per second.
    Kbps(f64),
}

/// Formats a decimal the way TLCP writes it: no exponent, no trailing `.0` noise beyond
/// what is needed (`2`, `2.5`, `0.001`).
pub fn format_decimal(v: f64, out: &mut String) {
    use fmt::Write as _;
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Parses a TLCP decimal (digits with an optional `.` fraction; no sign, no exponent).
/// Hundreds of digits, which no `f64` holds, are refused rather than read as infinity.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|&b| b == b'.').count() <= 1
        && s != ".";
    if ok {
        s.parse().ok().filter(|v: &f64| v.is_finite())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_leak_in_debug() {
        let s = Secret::new("CST-abc|XST-def");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let id = SessionId::new("S1aa6c792585db57aT1726545");
        let dbg = format!("{id:?}");
        assert!(!dbg.contains("1726545"), "{dbg}");
        assert!(dbg.starts_with("SessionId(S1aa6c"));
    }

    #[test]
    fn modes_round_trip() {
        for m in [Mode::Raw, Mode::Merge, Mode::Distinct, Mode::Command] {
            assert_eq!(m.as_str().parse::<Mode>(), Ok(m));
        }
        assert!("merge".parse::<Mode>().is_err());
    }

    #[test]
    fn decimals() {
        let mut s = String::new();
        format_decimal(2.0, &mut s);
        s.push(' ');
        format_decimal(2.5, &mut s);
        s.push(' ');
        format_decimal(0.001, &mut s);
        assert_eq!(s, "2 2.5 0.001");
        assert_eq!(parse_decimal("50.0"), Some(50.0));
        assert_eq!(parse_decimal("-1"), None);
        assert_eq!(parse_decimal("1e3"), None);
        // Too many digits for an f64: refused, not infinity.
        assert_eq!(parse_decimal(&format!("1{}", "0".repeat(400))), None);
        assert_eq!(parse_decimal(&format!("1{}.5", "0".repeat(400))), None);
        assert_eq!(parse_decimal(&format!("0.{}1", "0".repeat(400))), Some(0.0));
        assert_eq!(parse_decimal("."), None);
        assert_eq!(parse_decimal("1.2.3"), None);
    }
}
