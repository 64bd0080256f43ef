//! The session's output as the stream connection's bandwidth pacing sees it.

use super::Session;

impl Session {
    /// Why the session was closed, if it was.
    pub(crate) fn closed_reason(&self) -> Option<super::Closed> {
        self.lock().closed.clone()
    }

    /// Whether a bandwidth limit should pace the stream connection of `generation` now:
    /// it is still this session's and has output to write. A closed, superseded, looping
    /// or cut connection is not held back (its `END`/`LOOP` goes at once), nor an idle
    /// one (its keepalives go as usual).
    pub(crate) fn paces(&self, generation: u64) -> bool {
        let st = self.lock();
        st.closed.is_none()
            && st
                .binding
                .as_ref()
                .is_some_and(|b| b.generation == generation)
            && !st.drop_requested
            && (!st.out.is_empty() || !st.ready.is_empty() || !self.staging.list().lanes.is_empty())
    }
}
