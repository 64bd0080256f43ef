//! How long data waits in the server: from the moment a session has new lines to send
//! (an adapter's push, or a control response) to the end of the socket write that sends
//! them, as a histogram shared by every session ([`ServerHandle::write_delays`]). The
//! lines of a session's output are counted (data notifications, `SUBOK`, `REQOK`, ...);
//! what a stream connection writes of its own (its `CONOK` preamble, `PROBE`, `SYNC`,
//! `LOOP`, `END`) and lines replayed for a recovery are not.
//!
//! Each write is recorded once per line it carries, with the delay of its oldest line: an
//! upper bound for every line in it, so the quantiles are upper bounds of the per-line
//! ones. Buckets are microseconds, exact below 32 us and within 1/32 of the value above;
//! recording is a few atomic additions per write, not per line.
//!
//! [`ServerHandle::write_delays`]: crate::ServerHandle::write_delays

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two.
const SUB: u64 = 32;
/// Powers of two covered: up to 2^40 us (about 12 days); longer delays count there.
const MAX_EXP: u64 = 40;
/// Number of buckets.
const BUCKETS: usize = ((MAX_EXP - 4) * SUB) as usize;

/// The bucket of a delay of `us` microseconds.
fn index(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let exp = u64::from(63 - us.leading_zeros()).min(MAX_EXP - 1);
    let mantissa = (us >> (exp - 5)).min(2 * SUB - 1);
    ((exp - 4) * SUB + mantissa - SUB) as usize
}

/// The largest delay (us) that falls in bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let exp = i / SUB + 4;
    let mantissa = i % SUB + SUB;
    ((mantissa + 1) << (exp - 5)) - 1
}

/// The server-wide histogram (see the [module documentation](self)).
pub(crate) struct DelayHistogram {
    counts: Box<[AtomicU64]>,
    max_us: AtomicU64,
}

impl Default for DelayHistogram {
    fn default() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }
}

impl DelayHistogram {
    /// Records a write of `lines` lines whose oldest waited `delay`.
    pub(crate) fn record(&self, delay: Duration, lines: u64) {
        if lines == 0 {
            return;
        }
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        if let Some(c) = self.counts.get(index(us)) {
            c.fetch_add(lines, Ordering::Relaxed);
        }
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The counts so far.
    pub(crate) fn snapshot(&self) -> WriteDelays {
        WriteDelays {
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            max_us: self.max_us.load(Ordering::Relaxed),
        }
    }
}

/// The delays of the lines a server wrote, from the moment their session had them to send
/// to the end of the socket write that sent them ([`ServerHandle::write_delays`]). Each
/// line counts with the delay of the oldest line of its write: the quantiles are upper
/// bounds, to within 1/32, of what each line waited.
///
/// ```
/// # async fn demo(server: tlcp_server::ServerHandle) {
/// let d = server.write_delays();
/// println!("{} lines, p99 {:?}, max {:?}", d.count(), d.quantile(0.99), d.max());
/// # }
/// ```
///
/// [`ServerHandle::write_delays`]: crate::ServerHandle::write_delays
#[derive(Debug, Clone)]
pub struct WriteDelays {
    counts: Vec<u64>,
    max_us: u64,
}

impl WriteDelays {
    /// Lines recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The delay that a fraction `q` (0 to 1) of the lines did not exceed (the top of its
    /// bucket, at most the largest delay seen); zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        let total = self.count();
        if total == 0 {
            return Duration::ZERO;
        }
        // The rank of the line at quantile `q`, from 1.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_micros(upper(i).min(self.max_us));
            }
        }
        self.max()
    }

    /// The longest delay recorded.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us)
    }

    /// What was recorded since `earlier` (a snapshot of the same server taken before):
    /// the delays of one period. The maximum is the later snapshot's (the largest since
    /// the server started).
    pub fn since(&self, earlier: &WriteDelays) -> WriteDelays {
        WriteDelays {
            counts: self
                .counts
                .iter()
                .zip(earlier.counts.iter().chain(std::iter::repeat(&0)))
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
            max_us: self.max_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_then_within_a_32nd() {
        for us in 0..SUB {
            assert_eq!(upper(index(us)), us);
        }
        let mut last = 0;
        for us in (SUB..1 << 30)
            .step_by(9_973)
            .chain([1 << 30, (1 << 40) - 1])
        {
            let i = index(us);
            assert!(i >= last, "buckets grow with the delay");
            last = i;
            let top = upper(i);
            assert!(top >= us, "{us} -> bucket up to {top}");
            assert!(top - us <= us / SUB, "{us} -> bucket up to {top}");
            assert!(
                i == 0 || upper(i - 1) < us,
                "{us} is above the bucket below"
            );
        }
        // Beyond the range: the last bucket.
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_weigh_lines() {
        let h = DelayHistogram::default();
        assert_eq!(h.snapshot().quantile(0.99), Duration::ZERO);
        // 98 lines written at once after 10 us, then 2 single lines after 5 ms.
        h.record(Duration::from_micros(10), 98);
        h.record(Duration::from_micros(5_000), 1);
        h.record(Duration::from_micros(5_000), 1);
        h.record(Duration::from_micros(7), 0);
        let d = h.snapshot();
        assert_eq!(d.count(), 100);
        assert_eq!(d.quantile(0.5), Duration::from_micros(10));
        assert_eq!(d.quantile(0.98), Duration::from_micros(10));
        let p99 = d.quantile(0.99);
        assert!(
            p99 >= Duration::from_micros(5_000) && p99 <= d.max(),
            "{p99:?}"
        );
        assert_eq!(d.max(), Duration::from_micros(5_000));
        let before = h.snapshot();
        h.record(Duration::from_micros(3), 4);
        let period = h.snapshot().since(&before);
        assert_eq!(period.count(), 4);
        assert_eq!(period.quantile(1.0), Duration::from_micros(3));
    }
}
