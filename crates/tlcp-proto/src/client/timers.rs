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
    /// Whether the timer judges the server's silence, so that it cannot run while the
    /// driver does not read (see [`Timers::pause_reading`]).
    fn needs_reading(self) -> bool {
        matches!(self, Self::Connect | Self::Stalled | Self::Reconnect)
    }

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
    /// Reading has been paused since then: the timers that need reading do not run.
    paused_since: Option<Instant>,
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

    /// Whether `timer` runs now (not suspended by a reading pause).
    fn running(&self, timer: Timer) -> bool {
        self.paused_since.is_none() || !timer.needs_reading()
    }

    /// The earliest deadline of the running timers.
    pub(super) fn next(&self) -> Option<Instant> {
        Timer::ALL
            .into_iter()
            .filter(|&t| self.running(t))
            .filter_map(|t| self.get(t))
            .min()
    }

    /// Stops and returns the first running timer (in declaration order) due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let t = Timer::ALL
            .into_iter()
            .find(|&t| self.running(t) && self.get(t).is_some_and(|d| d <= now))?;
        self.stop(t);
        Some(t)
    }

    /// The driver stopped reading: the timers that judge the server's silence (`Connect`,
    /// `Stalled`, `Reconnect`) stop running; the others go on.
    pub(super) fn pause_reading(&mut self, now: Instant) {
        self.paused_since.get_or_insert(now);
    }

    /// Reading goes on: the suspended timers run again, their deadlines moved later by
    /// the length of the pause (the silence they measure did not count meanwhile; one
    /// set during the pause is moved as well, so it may end up to the pause's length
    /// later than needed, never earlier).
    pub(super) fn resume_reading(&mut self, now: Instant) {
        let Some(since) = self.paused_since.take() else {
            return;
        };
        let pause = now.saturating_duration_since(since);
        for t in Timer::ALL.into_iter().filter(|t| t.needs_reading()) {
            if let Some(d) = self.deadlines[t as usize].as_mut() {
                *d += pause;
            }
        }
    }

    /// Whether reading is paused.
    pub(super) fn reading_paused(&self) -> bool {
        self.paused_since.is_some()
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
    fn a_reading_pause_suspends_only_the_silence_timers() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut t = Timers::default();
        t.set(Timer::Stalled, at(10));
        t.set(Timer::Connect, at(20));
        t.set(Timer::Heartbeat, at(30));
        t.pause_reading(at(5));
        assert!(t.reading_paused());
        assert_eq!(t.next(), Some(at(30)));
        assert_eq!(t.pop_due(at(25)), None);
        assert_eq!(t.pop_due(at(30)), Some(Timer::Heartbeat));
        assert_eq!(t.next(), None);
        // 100 ms of pause: the suspended deadlines move 100 ms later.
        t.resume_reading(at(105));
        assert_eq!(t.next(), Some(at(110)));
        assert_eq!(t.pop_due(at(110)), Some(Timer::Stalled));
        assert_eq!(t.pop_due(at(119)), None);
        assert_eq!(t.pop_due(at(120)), Some(Timer::Connect));
        t.resume_reading(at(200)); // not paused: nothing moves
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
