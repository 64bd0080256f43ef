//! Every timer of the machine, in one table keyed by [`Timer`]; and the jitter source.

use std::time::{Duration, Instant};

/// The machine's timers. At most one deadline each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// A stream request (create, bind, recovery) got no `CONOK` in time.
    Connect,
    /// The bound stream has been silent for keepalive + stalled timeout: `STALLED`.
    Stalled,
    /// Still silent after the reconnect timeout: drop the connection, recover.
    Reconnect,
    /// The pause before the next session creation or recovery attempt is over.
    Retry,
    /// The pause a `LOOP` asked for is over: bind again.
    Rebind,
    /// Outbound silence: send a reverse heartbeat.
    Heartbeat,
}

impl Timer {
    const ALL: [Timer; 6] = [
        Self::Connect,
        Self::Stalled,
        Self::Reconnect,
        Self::Retry,
        Self::Rebind,
        Self::Heartbeat,
    ];
}

/// The deadlines, by timer. The next wake-up is their minimum.
#[derive(Debug, Clone, Default)]
pub(super) struct Timers {
    deadlines: [Option<Instant>; Timer::ALL.len()],
}

impl Timers {
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    pub(super) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }

    pub(super) fn is_set(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    pub(super) fn stop_all(&mut self) {
        self.deadlines = Default::default();
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Stops and returns the first timer (in declaration order) due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let t = Timer::ALL
            .into_iter()
            .find(|&t| self.get(t).is_some_and(|d| d <= now))?;
        self.stop(t);
        Some(t)
    }
}

/// SplitMix64: a tiny, seedable generator for jitter. Not for anything secret.
#[derive(Debug, Clone)]
pub(super) struct Jitter {
    state: u64,
}

impl Jitter {
    pub(super) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A whole number of milliseconds in `[0, max)` (zero when `max` is under 1 ms).
    pub(super) fn below(&mut self, max: Duration) -> Duration {
        let max_ms = super::config::millis(max);
        if max_ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(self.next_u64() % max_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_pop_in_order() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Heartbeat, t0 + Duration::from_millis(5));
        t.set(Timer::Stalled, t0 + Duration::from_millis(9));
        t.set(Timer::Retry, t0 + Duration::from_millis(5));
        assert_eq!(t.next(), Some(t0 + Duration::from_millis(5)));
        let now = t0 + Duration::from_millis(5);
        assert_eq!(t.pop_due(now), Some(Timer::Retry));
        assert_eq!(t.pop_due(now), Some(Timer::Heartbeat));
        assert_eq!(t.pop_due(now), None);
        assert!(t.is_set(Timer::Stalled));
        t.stop_all();
        assert_eq!(t.next(), None);
    }

    #[test]
    fn jitter_is_deterministic_and_bounded() {
        let max = Duration::from_millis(100);
        let a: Vec<_> = {
            let mut j = Jitter::new(7);
            (0..50).map(|_| j.below(max)).collect()
        };
        let mut j = Jitter::new(7);
        let b: Vec<_> = (0..50).map(|_| j.below(max)).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|d| *d < max));
        assert!(a.iter().any(|d| *d != a[0]));
        assert_eq!(Jitter::new(1).below(Duration::ZERO), Duration::ZERO);
    }
}
