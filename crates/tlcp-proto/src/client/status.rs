//! [`Status`]: the connection status, with the official clients' strings.

use std::fmt;

/// The status of a [`ClientSession`](super::ClientSession), as the official clients name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `CONNECTING`: a session is being created.
    Connecting,
    /// `CONNECTED:STREAM-SENSING`: the session exists; the stream transport is being chosen.
    StreamSensing,
    /// `CONNECTED:WS-STREAMING`.
    WsStreaming,
    /// `CONNECTED:HTTP-STREAMING`.
    HttpStreaming,
    /// `CONNECTED:WS-POLLING`.
    WsPolling,
    /// `CONNECTED:HTTP-POLLING`.
    HttpPolling,
    /// `STALLED`: the stream has been silent longer than the keepalive allows.
    Stalled,
    /// `DISCONNECTED:WILL-RETRY`: no session; a new one will be created.
    WillRetry,
    /// `DISCONNECTED:TRYING-RECOVERY`: the stream was lost; the session is being recovered.
    TryingRecovery,
    /// `DISCONNECTED`: not connected and not trying.
    Disconnected,
}

impl Status {
    /// The official string, e.g. `"CONNECTED:WS-STREAMING"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "CONNECTING",
            Self::StreamSensing => "CONNECTED:STREAM-SENSING",
            Self::WsStreaming => "CONNECTED:WS-STREAMING",
            Self::HttpStreaming => "CONNECTED:HTTP-STREAMING",
            Self::WsPolling => "CONNECTED:WS-POLLING",
            Self::HttpPolling => "CONNECTED:HTTP-POLLING",
            Self::Stalled => "STALLED",
            Self::WillRetry => "DISCONNECTED:WILL-RETRY",
            Self::TryingRecovery => "DISCONNECTED:TRYING-RECOVERY",
            Self::Disconnected => "DISCONNECTED",
        }
    }

    /// Whether the status is one of the `CONNECTED:*` ones.
    pub const fn is_connected(self) -> bool {
        matches!(
            self,
            Self::StreamSensing
                | Self::WsStreaming
                | Self::HttpStreaming
                | Self::WsPolling
                | Self::HttpPolling
        )
    }

    /// Whether the status is one of the `DISCONNECTED*` ones.
    pub const fn is_disconnected(self) -> bool {
        matches!(
            self,
            Self::WillRetry | Self::TryingRecovery | Self::Disconnected
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_strings() {
        let all = [
            (Status::Connecting, "CONNECTING"),
            (Status::StreamSensing, "CONNECTED:STREAM-SENSING"),
            (Status::WsStreaming, "CONNECTED:WS-STREAMING"),
            (Status::HttpStreaming, "CONNECTED:HTTP-STREAMING"),
            (Status::WsPolling, "CONNECTED:WS-POLLING"),
            (Status::HttpPolling, "CONNECTED:HTTP-POLLING"),
            (Status::Stalled, "STALLED"),
            (Status::WillRetry, "DISCONNECTED:WILL-RETRY"),
            (Status::TryingRecovery, "DISCONNECTED:TRYING-RECOVERY"),
            (Status::Disconnected, "DISCONNECTED"),
        ];
        for (s, name) in all {
            assert_eq!(s.to_string(), name);
            assert_eq!(s.is_connected(), name.starts_with("CONNECTED:"));
            assert_eq!(s.is_disconnected(), name.starts_with("DISCONNECTED"));
        }
    }
}
