//! Server lines (responses and notifications), as a typed, borrowing model: parse and encode.
//!
//! Every line the server sends is `<tag>[,<arg1>,...,<argN>]` (without its CRLF, which
//! [`crate::framing`] strips). Each tag has a fixed number of arguments; the last one takes
//! the rest of the line, commas included. Text arguments are percent-decoded into
//! [`Cow`]s that borrow the line unless they held an escape; the values of a `U` line are
//! kept raw (still encoded), for the field decoder to handle.
//!
//! ```
//! use tlcp_proto::Notification;
//!
//! let n = Notification::parse("U,3,1,20:00:33|3.04|#|$").unwrap();
//! assert_eq!(n, Notification::Update { sub_id: 3, item: 1, values: "20:00:33|3.04|#|$" });
//!
//! let mut line = String::new();
//! n.encode(&mut line);
//! assert_eq!(line, "U,3,1,20:00:33|3.04|#|$\r\n");
//! ```
//!
//! # Conventions and decisions
//!
//! * **Text arguments are all [`Cow<'a, str>`]**, ids included (session id, request id,
//!   message sequence): decoded when they hold an escape, borrowed otherwise. Real servers
//!   never encode ids, so in practice they borrow.
//! * **`*` means "none"** for the control link of `CONOK` and the sequence of `MSGDONE` /
//!   `MSGFAIL`: they are `Option`s. The check is made on the raw argument, so `%2A` decodes
//!   to `Some("*")`; the encoder writes `Some("*")` that way, and every value round-trips.
//! * **Numbers are strict**: ASCII digits only, no sign, no blank, no overflow. Error codes
//!   (`CONERR`, `END`, `REQERR`, `ERROR`, `MSGFAIL`) are `i32` and may have a leading `-`
//!   (codes `<= 0` come from the Metadata Adapter). Decimals (`CONF`, `CONS`) follow
//!   [`parse_decimal`](crate::types::parse_decimal).
//! * **`REQOK`** is accepted with or without its request id (a request without
//!   `LS_reqId`, such as a reverse heartbeat, gets a bare `REQOK`).
//! * **`REQERR` always has 3 arguments.** The 2.0.0 document prints the example
//!   `REQERR,19,Specified subscription not found`, which lacks the request id: it is an
//!   erratum (the format line, the argument list and the servers all have
//!   `REQERR,<request-ID>,<error-code>,<error-message>`). Such a line is rejected with
//!   [`NotificationError::WrongArgCount`] rather than guessed at.
//! * **`MSGDONE`** has 2 arguments before 2.5.0 and 3 from 2.5.0 (the Metadata Adapter's
//!   response, possibly empty); both are accepted: `MSGDONE,s,1` gives `response: None`,
//!   `MSGDONE,s,1,` gives `Some("")`.
//! * **Unknown tags are not errors**: MPN tags (`MPNREG`, `MPNOK`, ...) and future tags
//!   parse as [`Notification::Unknown`] with their raw, undecoded arguments. Tags are
//!   case-sensitive, as the server writes them.
//! * **Zero-argument tags are strict**: `PROBE,` (an empty argument) is an error.

mod encode;
mod error;
mod parse;

#[cfg(test)]
mod error_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use crate::types::{BandwidthLimit, RealMaxFrequency};

pub(crate) use encode::push_u64;
pub use encode::{
    encode_msg_done, encode_probe, encode_update, encode_update_prefix, encode_update_with,
    encode_update_with_prefix,
};
pub use error::{ArgRef, NotificationError};

/// One line sent by the server: a response to a request or a notification.
///
/// Borrows the line it was parsed from (see the [module documentation](self) for the
/// conventions). Variants are named after their tag; each documents its wire format.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notification<'a> {
    /// `CONOK,<session-ID>,<request-limit>,<keep-alive>,<control-link>`: session created or
    /// bound.
    ConOk {
        /// The session id.
        session_id: Cow<'a, str>,
        /// The longest request the server accepts, in bytes.
        request_limit: u64,
        /// The keepalive interval of the stream connection, in milliseconds.
        keepalive_ms: u64,
        /// Where to send rebind and control requests; `None` (`*`) means the same address
        /// as the stream connection.
        control_link: Option<Cow<'a, str>>,
    },
    /// `CONERR,<error-code>,<error-message>`: the session could not be created or bound.
    ConErr {
        /// The error code (Appendix A; `<= 0` from the Metadata Adapter).
        code: i32,
        /// The error message.
        message: Cow<'a, str>,
    },
    /// `END,<cause-code>,<cause-message>`: the server closed the session.
    End {
        /// The cause code (Appendix A).
        code: i32,
        /// The cause message.
        message: Cow<'a, str>,
    },
    /// `LOOP,<expected-delay>`: the session must be rebound.
    Loop {
        /// Delay before rebinding, in milliseconds (0: as soon as possible).
        expected_delay_ms: u64,
    },
    /// `PROG,<prog>` (2.1.0): a recovered session replays data notifications from this
    /// number on.
    Prog {
        /// Number of the first replayed data notification, counted from the session start.
        progressive: u64,
    },
    /// `WSOK` (2.2.0): answer to the `wsok` request on a WebSocket.
    WsOk,
    /// `PROBE`: keepalive.
    Probe,
    /// `NOOP,<preamble>`: filler, to be ignored.
    Noop {
        /// The dummy content.
        preamble: Cow<'a, str>,
    },
    /// `SYNC,<seconds-since-initial-header>`: time elapsed on the server since the bind.
    Sync {
        /// Elapsed seconds.
        seconds: u64,
    },
    /// `CONS,<bandwidth>`: the bandwidth limit applied to the session.
    Cons {
        /// `unlimited`, `unmanaged` or kbit/s.
        bandwidth: BandwidthLimit,
    },
    /// `CLIENTIP,<client-IP>`: the client address as the server sees it.
    ClientIp {
        /// The IPv4 or IPv6 address, as text.
        ip: Cow<'a, str>,
    },
    /// `SERVNAME,<server-name>`: the configured name of the server.
    ServName {
        /// The server name.
        name: Cow<'a, str>,
    },
    /// `REQOK[,<request-ID>]`: a control request succeeded.
    ReqOk {
        /// The request id; `None` for a bare `REQOK`.
        request_id: Option<Cow<'a, str>>,
    },
    /// `REQERR,<request-ID>,<error-code>,<error-message>`: a control request failed.
    ReqErr {
        /// The request id.
        request_id: Cow<'a, str>,
        /// The error code (Appendix B; `<= 0` from the Metadata Adapter).
        code: i32,
        /// The error message.
        message: Cow<'a, str>,
    },
    /// `ERROR,<error-code>,<error-message>`: a request could not be interpreted.
    Error {
        /// The error code (Appendix B).
        code: i32,
        /// The error message.
        message: Cow<'a, str>,
    },
    /// `SUBOK,<subscription-ID>,<num-items>,<num-fields>`: subscription active.
    SubOk {
        /// The subscription id.
        sub_id: u32,
        /// Number of items.
        num_items: u32,
        /// Number of fields.
        num_fields: u32,
    },
    /// `SUBCMD,<subscription-ID>,<num-items>,<num-fields>,<key-field>,<command-field>`:
    /// COMMAND-mode subscription active.
    SubCmd {
        /// The subscription id.
        sub_id: u32,
        /// Number of items.
        num_items: u32,
        /// Number of fields.
        num_fields: u32,
        /// 1-based position of the `key` field.
        key_field: u32,
        /// 1-based position of the `command` field.
        command_field: u32,
    },
    /// `UNSUB,<subscription-ID>`: subscription removed; no more updates for it.
    Unsub {
        /// The subscription id.
        sub_id: u32,
    },
    /// `CONF,<subscription-ID>,<max-frequency>,<filtered|unfiltered>`: subscription
    /// (re)configured.
    Conf {
        /// The subscription id.
        sub_id: u32,
        /// The maximum update frequency applied.
        max_frequency: RealMaxFrequency,
        /// `true` for `filtered`, `false` for `unfiltered`.
        filtered: bool,
    },
    /// `EOS,<subscription-ID>,<item>`: end of the snapshot of an item.
    Eos {
        /// The subscription id.
        sub_id: u32,
        /// 1-based item index.
        item: u32,
    },
    /// `CS,<subscription-ID>,<item>`: the snapshot of an item was cleared.
    Cs {
        /// The subscription id.
        sub_id: u32,
        /// 1-based item index.
        item: u32,
    },
    /// `OV,<subscription-ID>,<item>,<overflow-size>`: update events were dropped.
    Ov {
        /// The subscription id.
        sub_id: u32,
        /// 1-based item index.
        item: u32,
        /// How many events were dropped.
        lost: u64,
    },
    /// `U,<subscription-ID>,<item>,<values>`: a real-time update (the hot path).
    Update {
        /// The subscription id.
        sub_id: u32,
        /// 1-based item index.
        item: u32,
        /// The pipe-separated field values, raw: **not** percent-decoded (the field
        /// decoder interprets `#`, `$`, `^n`, `^P`, `^T` and escapes).
        values: &'a str,
    },
    /// `MSGDONE,<sequence>,<prog>[,<response>]`: a message was processed.
    MsgDone {
        /// The sequence; `None` (`*`) when the message had none.
        sequence: Option<Cow<'a, str>>,
        /// The message progressive number.
        prog: u64,
        /// The Metadata Adapter's response (2.5.0); `None` when the line has 2 arguments.
        response: Option<Cow<'a, str>>,
    },
    /// `MSGFAIL,<sequence>,<prog>,<error-code>,<error-message>`: a message failed.
    MsgFail {
        /// The sequence; `None` (`*`) when the message had none.
        sequence: Option<Cow<'a, str>>,
        /// The message progressive number.
        prog: u64,
        /// The error code (Appendix B; `<= 0` from the Metadata Adapter).
        code: i32,
        /// The error message.
        message: Cow<'a, str>,
    },
    /// Any other tag (MPN tags, future tags): never an error.
    Unknown {
        /// The tag: the text before the first comma (never empty).
        tag: &'a str,
        /// Everything after the first comma, raw (not decoded, not split, since the
        /// arity is unknown); `None` when the line has no comma.
        args: Option<&'a str>,
    },
}

impl<'a> Notification<'a> {
    /// The tag of this line on the wire, e.g. `"CONOK"` or `"U"`.
    pub fn tag(&self) -> &'a str {
        match self {
            Self::ConOk { .. } => "CONOK",
            Self::ConErr { .. } => "CONERR",
            Self::End { .. } => "END",
            Self::Loop { .. } => "LOOP",
            Self::Prog { .. } => "PROG",
            Self::WsOk => "WSOK",
            Self::Probe => "PROBE",
            Self::Noop { .. } => "NOOP",
            Self::Sync { .. } => "SYNC",
            Self::Cons { .. } => "CONS",
            Self::ClientIp { .. } => "CLIENTIP",
            Self::ServName { .. } => "SERVNAME",
            Self::ReqOk { .. } => "REQOK",
            Self::ReqErr { .. } => "REQERR",
            Self::Error { .. } => "ERROR",
            Self::SubOk { .. } => "SUBOK",
            Self::SubCmd { .. } => "SUBCMD",
            Self::Unsub { .. } => "UNSUB",
            Self::Conf { .. } => "CONF",
            Self::Eos { .. } => "EOS",
            Self::Cs { .. } => "CS",
            Self::Ov { .. } => "OV",
            Self::Update { .. } => "U",
            Self::MsgDone { .. } => "MSGDONE",
            Self::MsgFail { .. } => "MSGFAIL",
            Self::Unknown { tag, .. } => tag,
        }
    }

    /// Whether this is a "data" notification, counted by session recovery.
    ///
    /// Client and server count `U`, `SUBOK`, `SUBCMD`, `UNSUB`, `EOS`, `CS`, `OV`, `CONF`,
    /// `MSGDONE` and `MSGFAIL` from the start of the session; `LS_recovery_from` and `PROG`
    /// refer to that count. Unknown tags are not counted.
    pub fn counts_for_recovery(&self) -> bool {
        matches!(
            self,
            Self::Update { .. }
                | Self::SubOk { .. }
                | Self::SubCmd { .. }
                | Self::Unsub { .. }
                | Self::Eos { .. }
                | Self::Cs { .. }
                | Self::Ov { .. }
                | Self::Conf { .. }
                | Self::MsgDone { .. }
                | Self::MsgFail { .. }
        )
    }
}
