//! Protocol versions: TLCP 2.0.0 to 2.5.0.
//!
//! The version is a parameter everywhere (encoding of requests, field encodings the server
//! may use, the shape of `MSGDONE`), never a constant: some servers refuse newer versions
//! (IG Markets answers error 65 to 2.5.0 on some hosts), so clients must be able to choose.

use std::fmt;
use std::str::FromStr;

/// A TLCP protocol version this crate speaks.
///
/// Ordered, so that feature checks read as `version >= ProtocolVersion::V2_1_0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// TLCP 2.0.0: the version of the reference document.
    V2_0_0,
    /// TLCP 2.1.0: session recovery (`LS_recovery_from`, `PROG`).
    V2_1_0,
    /// TLCP 2.2.0: `wsok`/`WSOK`, optional `LS_session` on WS, `LS_ttl_millis`.
    V2_2_0,
    /// TLCP 2.3.0: `LS_ack=false` on WS `add`/`delete`.
    V2_3_0,
    /// TLCP 2.4.0: `^P` (JSON Patch) and `^T` (TLCP-diff) field encodings.
    V2_4_0,
    /// TLCP 2.5.0: `MSGDONE` carries the Metadata Adapter's response. The default.
    #[default]
    V2_5_0,
}

impl ProtocolVersion {
    /// Every supported version, oldest first.
    pub const ALL: [ProtocolVersion; 6] = [
        Self::V2_0_0,
        Self::V2_1_0,
        Self::V2_2_0,
        Self::V2_3_0,
        Self::V2_4_0,
        Self::V2_5_0,
    ];

    /// The version number alone, e.g. `"2.5.0"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V2_0_0 => "2.0.0",
            Self::V2_1_0 => "2.1.0",
            Self::V2_2_0 => "2.2.0",
            Self::V2_3_0 => "2.3.0",
            Self::V2_4_0 => "2.4.0",
            Self::V2_5_0 => "2.5.0",
        }
    }

    /// The value of the `LS_protocol` query parameter, e.g. `"TLCP-2.5.0"`.
    pub const fn protocol_param(self) -> &'static str {
        match self {
            Self::V2_0_0 => "TLCP-2.0.0",
            Self::V2_1_0 => "TLCP-2.1.0",
            Self::V2_2_0 => "TLCP-2.2.0",
            Self::V2_3_0 => "TLCP-2.3.0",
            Self::V2_4_0 => "TLCP-2.4.0",
            Self::V2_5_0 => "TLCP-2.5.0",
        }
    }

    /// The WebSocket subprotocol, e.g. `"TLCP-2.5.0.lightstreamer.com"`.
    pub const fn ws_subprotocol(self) -> &'static str {
        match self {
            Self::V2_0_0 => "TLCP-2.0.0.lightstreamer.com",
            Self::V2_1_0 => "TLCP-2.1.0.lightstreamer.com",
            Self::V2_2_0 => "TLCP-2.2.0.lightstreamer.com",
            Self::V2_3_0 => "TLCP-2.3.0.lightstreamer.com",
            Self::V2_4_0 => "TLCP-2.4.0.lightstreamer.com",
            Self::V2_5_0 => "TLCP-2.5.0.lightstreamer.com",
        }
    }

    /// Parses `"TLCP-2.5.0"` (the `LS_protocol` form).
    pub fn from_protocol_param(s: &str) -> Option<Self> {
        s.strip_prefix("TLCP-").and_then(|v| v.parse().ok())
    }

    /// Parses `"TLCP-2.5.0.lightstreamer.com"` (the WebSocket subprotocol form).
    pub fn from_ws_subprotocol(s: &str) -> Option<Self> {
        s.strip_suffix(".lightstreamer.com")
            .and_then(Self::from_protocol_param)
    }

    /// Session recovery (`LS_recovery_from`, `PROG`) is available.
    pub fn supports_recovery(self) -> bool {
        self >= Self::V2_1_0
    }

    /// The `wsok` handshake request and `WSOK` answer are available.
    pub fn supports_wsok(self) -> bool {
        self >= Self::V2_2_0
    }

    /// `LS_ack=false` may be sent on WS subscription requests.
    pub fn supports_subscription_ack_flag(self) -> bool {
        self >= Self::V2_3_0
    }

    /// The `^P` (JSON Patch) and `^T` (TLCP-diff) field encodings may appear in `U` values.
    pub fn supports_diff_encodings(self) -> bool {
        self >= Self::V2_4_0
    }

    /// `MSGDONE` carries a third argument: the Metadata Adapter's response.
    pub fn msgdone_has_response(self) -> bool {
        self >= Self::V2_5_0
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when a string is not a supported TLCP version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported TLCP version {0:?} (supported: 2.0.0 to 2.5.0)")]
pub struct UnsupportedVersion(pub String);

impl FromStr for ProtocolVersion {
    type Err = UnsupportedVersion;

    /// Parses `"2.5.0"`; also accepts the `"TLCP-2.5.0"` form.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = s.strip_prefix("TLCP-").unwrap_or(s);
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == v)
            .ok_or_else(|| UnsupportedVersion(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_form() {
        for v in ProtocolVersion::ALL {
            assert_eq!(v.as_str().parse::<ProtocolVersion>(), Ok(v));
            assert_eq!(
                ProtocolVersion::from_protocol_param(v.protocol_param()),
                Some(v)
            );
            assert_eq!(
                ProtocolVersion::from_ws_subprotocol(v.ws_subprotocol()),
                Some(v)
            );
        }
        assert!("2.6.0".parse::<ProtocolVersion>().is_err());
        assert!("TLCP-1.0".parse::<ProtocolVersion>().is_err());
        assert_eq!(ProtocolVersion::default(), ProtocolVersion::V2_5_0);
    }

    #[test]
    fn features_follow_versions() {
        assert!(!ProtocolVersion::V2_0_0.supports_recovery());
        assert!(ProtocolVersion::V2_1_0.supports_recovery());
        assert!(!ProtocolVersion::V2_1_0.supports_wsok());
        assert!(ProtocolVersion::V2_2_0.supports_wsok());
        assert!(!ProtocolVersion::V2_3_0.supports_diff_encodings());
        assert!(ProtocolVersion::V2_4_0.supports_diff_encodings());
        assert!(!ProtocolVersion::V2_4_0.msgdone_has_response());
        assert!(ProtocolVersion::V2_5_0.msgdone_has_response());
    }
}
