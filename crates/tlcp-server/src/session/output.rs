//! The limits of a session's output: the congestion mark a WebSocket stops reading at,
//! the hard cap past which the session is closed, and the bandwidth pacing's view of it.

use tokio::time::Duration;

use super::{Closed, Session, State, Subscription, release_items};

impl Session {
    /// Releases the items of subscriptions taken from a closed session (called unlocked).
    pub(super) fn release_all(&self, subs: Vec<Subscription>) {
        if subs.is_empty() {
            return;
        }
        for sub in subs {
            release_items(sub);
        }
        self.drained.notify_waiters();
    }

    /// Why the session was closed, if it was.
    pub(crate) fn closed_reason(&self) -> Option<Closed> {
        self.lock().closed.clone()
    }

    /// Whether the output waiting for the client reached the congestion mark (a
    /// WebSocket then stops reading the client's requests until it drains).
    pub(crate) fn output_congested(&self) -> bool {
        let st = self.lock();
        st.closed.is_none() && st.out.len() >= st.congestion_bytes
    }

    /// Waits until the output drains below the congestion mark (or the session closes),
    /// at most `limit`.
    pub(crate) async fn output_drained(&self, limit: Duration) {
        let drained = self.drained.notified();
        tokio::pin!(drained);
        drained.as_mut().enable();
        if self.output_congested() {
            let _ = tokio::time::timeout(limit, drained).await;
        }
    }

    /// Bytes of output waiting for the client (test hook and metrics).
    pub(crate) fn output_len(&self) -> usize {
        self.lock().out.len()
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

impl State {
    /// Closes the session whose output went over its limit: the output is dropped (the
    /// client reads nothing of it anyway), `END` is next; the subscriptions are released
    /// once the session is unlocked (by the stream connection or the reaper).
    ///
    /// The client keeps asking (responses, `CONF`, `CONS`, message outcomes) and never
    /// reads. Appendix A has no code for that; 33 is the specification's "unexpected error
    /// on the Server while the session was in activity" (34, its twin, is used for
    /// sessions left unbound too long, so the two can be told apart).
    pub(super) fn overflow(&mut self) {
        self.out = String::new();
        if self.closed.is_some() {
            return;
        }
        tracing::debug!(
            limit = self.max_output_bytes,
            "session output over its limit: closing the session"
        );
        self.closed = Some(Closed {
            code: 33,
            message: format!(
                "Session output over its {}-byte limit: the client does not read it",
                self.max_output_bytes
            ),
        });
        self.ready.clear();
        self.timers.clear();
        let subs = std::mem::take(&mut self.subs);
        self.doomed.extend(subs.into_values());
        self.item_count = 0;
        self.wake();
    }
}
