//! The request parameters this crate knows, by name, shared by the encoder and the parser.

macro_rules! params {
    ($($variant:ident => $name:literal,)*) => {
        /// A known request parameter.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum P {
            $($variant,)*
        }

        impl P {
            /// Every known parameter, in declaration order (its index is `self as usize`).
            const ALL: &'static [P] = &[$(P::$variant,)*];

            /// How many parameters are known.
            pub(crate) const COUNT: usize = Self::ALL.len();

            /// The wire name, e.g. `LS_reqId`.
            pub(crate) const fn name(self) -> &'static str {
                match self {
                    $(P::$variant => $name,)*
                }
            }
        }
    };
}

params! {
    Session => "LS_session",
    ReqId => "LS_reqId",
    Op => "LS_op",
    Cause => "LS_cause",
    Cid => "LS_cid",
    User => "LS_user",
    Password => "LS_password",
    AdapterSet => "LS_adapter_set",
    RequestedMaxBandwidth => "LS_requested_max_bandwidth",
    ContentLength => "LS_content_length",
    Polling => "LS_polling",
    PollingMillis => "LS_polling_millis",
    IdleMillis => "LS_idle_millis",
    KeepaliveMillis => "LS_keepalive_millis",
    InactivityMillis => "LS_inactivity_millis",
    SendSync => "LS_send_sync",
    TtlMillis => "LS_ttl_millis",
    ReduceHead => "LS_reduce_head",
    OldSession => "LS_old_session",
    RecoveryFrom => "LS_recovery_from",
    SubId => "LS_subId",
    Mode => "LS_mode",
    Group => "LS_group",
    Schema => "LS_schema",
    DataAdapter => "LS_data_adapter",
    Selector => "LS_selector",
    RequestedBufferSize => "LS_requested_buffer_size",
    RequestedMaxFrequency => "LS_requested_max_frequency",
    Snapshot => "LS_snapshot",
    Ack => "LS_ack",
    CloseSocket => "LS_close_socket",
    CauseCode => "LS_cause_code",
    CauseMessage => "LS_cause_message",
    Message => "LS_message",
    Sequence => "LS_sequence",
    MsgProg => "LS_msg_prog",
    MaxWait => "LS_max_wait",
    Outcome => "LS_outcome",
    Protocol => "LS_protocol",
}

/// The name one example of the specification uses for `LS_requested_max_frequency`.
const MAX_FREQUENCY_ALIAS: &str = "LS_max_frequency";

impl P {
    /// Finds a parameter by name, ignoring ASCII case; also maps `LS_max_frequency`.
    pub(crate) fn lookup(name: &str) -> Option<P> {
        // Every known name starts with "LS_": a cheap filter for foreign parameters.
        if name.len() < 4 || !name.as_bytes()[..3].eq_ignore_ascii_case(b"LS_") {
            return None;
        }
        if name.eq_ignore_ascii_case(MAX_FREQUENCY_ALIAS) {
            return Some(P::RequestedMaxFrequency);
        }
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The index of this parameter in a table of [`P::COUNT`] slots.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_knows_the_alias() {
        assert_eq!(P::lookup("LS_reqId"), Some(P::ReqId));
        assert_eq!(P::lookup("LS_reqID"), Some(P::ReqId));
        assert_eq!(P::lookup("ls_REQID"), Some(P::ReqId));
        assert_eq!(
            P::lookup("LS_max_frequency"),
            Some(P::RequestedMaxFrequency)
        );
        assert_eq!(P::lookup("LS_unknown"), None);
        assert_eq!(P::lookup("reqId"), None);
        assert_eq!(P::lookup("é"), None);
        for (i, p) in P::ALL.iter().enumerate() {
            assert_eq!(p.index(), i);
            assert_eq!(P::lookup(p.name()), Some(*p));
        }
    }
}
