//! A deterministic, realistic stream of `U` lines, as a server sends it: shared by the
//! `decode` benchmark and the `no_alloc_hot_path` test (included with `#[path]`).
//!
//! A simulated quote feed (random walk of prices, with sizes, volume, trading phase and
//! venue) for several subscriptions and items is encoded with the crate's own
//! [`Encoder`], each update against the item's previous values, so the value lists hold
//! what real ones do: unchanged fields, `^N` runs, percent-encoded values (`|` in the
//! phase), null (`#`) and empty (`$`) values.

#![allow(dead_code)]

use tlcp_proto::Mode;
use tlcp_proto::fields::Encoder;
use tlcp_proto::model::SubscriptionModel;
use tlcp_proto::notification::encode_update;

/// Fields of every subscription: time, last, change, bid, ask, bid size, ask size,
/// volume, phase, venue.
pub(crate) const FIELDS: usize = 10;

/// One subscription of the feed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sub {
    /// The subscription id on the wire.
    pub(crate) id: u32,
    /// Its mode.
    pub(crate) mode: Mode,
    /// Its number of items.
    pub(crate) items: usize,
}

/// The subscriptions of the feed: two MERGE ones (a large and a small list of stocks) and a
/// DISTINCT one.
pub(crate) const SUBS: [Sub; 3] = [
    Sub {
        id: 1,
        mode: Mode::Merge,
        items: 30,
    },
    Sub {
        id: 2,
        mode: Mode::Merge,
        items: 8,
    },
    Sub {
        id: 3,
        mode: Mode::Distinct,
        items: 4,
    },
];

/// A generated stream.
pub(crate) struct Feed {
    /// The lines, CRLF-terminated, back to back.
    pub(crate) bytes: Vec<u8>,
    /// Number of lines.
    pub(crate) lines: usize,
}

impl Feed {
    /// Average bytes per line, CRLF included.
    pub(crate) fn bytes_per_line(&self) -> f64 {
        self.bytes.len() as f64 / self.lines as f64
    }

    /// The buffer cut in chunks of `size` bytes, as network reads would give it (lines
    /// split across chunks).
    pub(crate) fn chunks(&self, size: usize) -> std::slice::Chunks<'_, u8> {
        self.bytes.chunks(size)
    }
}

/// The models of [`SUBS`], indexed by subscription id - 1.
pub(crate) fn models() -> Vec<SubscriptionModel> {
    SUBS.iter()
        .map(|s| SubscriptionModel::new(s.mode, s.items, FIELDS).expect("valid model"))
        .collect()
}

/// SplitMix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `p` (in hundredths).
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Chances (in percent) that a tick changes the last price, the bid or ask, a size.
const LAST: u64 = 70;
const QUOTE: u64 = 70;
const SIZE: u64 = 50;

const PHASES: [&str; 4] = ["Open|Cont", "Auction|Close", "#pre|open", "Open|Cont"];
const VENUES: [&str; 3] = ["XMIL", "XPAR", "XETR"];

/// The values of one update (`None` = null).
type Values = [Option<String>; FIELDS];

/// The state of one simulated instrument, prices in thousandths.
struct Quote {
    open: i64,
    last: i64,
    bid: i64,
    ask: i64,
    bid_size: u32,
    ask_size: u32,
    volume: u64,
    phase: Option<&'static str>,
    venue: &'static str,
}

impl Quote {
    fn new(rng: &mut Rng) -> Self {
        let last = 5_000 + rng.below(95_000) as i64;
        Self {
            open: last,
            last,
            bid: last - 1 - rng.below(5) as i64,
            ask: last + 1 + rng.below(5) as i64,
            bid_size: 100 * (1 + rng.below(50) as u32),
            ask_size: 100 * (1 + rng.below(50) as u32),
            volume: 1_000_000 + rng.below(9_000_000),
            phase: Some(PHASES[0]),
            venue: VENUES[rng.below(3) as usize],
        }
    }

    /// One tick of the simulation.
    fn step(&mut self, rng: &mut Rng) {
        if rng.chance(LAST) {
            self.last = (self.last + rng.below(21) as i64 - 10).max(100);
            self.volume += 100 * (1 + rng.below(20));
        }
        if rng.chance(QUOTE) {
            self.bid = self.last - 1 - rng.below(5) as i64;
        }
        if rng.chance(QUOTE) {
            self.ask = self.last + 1 + rng.below(5) as i64;
        }
        if rng.chance(SIZE) {
            self.bid_size = 100 * (1 + rng.below(50) as u32);
        }
        if rng.chance(SIZE) {
            self.ask_size = 100 * (1 + rng.below(50) as u32);
        }
        if rng.chance(8) {
            // A trading phase with a `|` (percent-encoded), or none (null) while halted.
            self.phase = if rng.chance(15) {
                None
            } else {
                Some(PHASES[rng.below(PHASES.len() as u64) as usize])
            };
        }
        if rng.chance(3) {
            // The venue, or the empty string when the quote is consolidated.
            self.venue = if rng.chance(20) {
                ""
            } else {
                VENUES[rng.below(3) as usize]
            };
        }
    }

    fn values(&self, ms: u64) -> Values {
        let price = |v: i64| format!("{}.{:03}", v / 1000, v % 1000);
        // Change since the open, in hundredths of a percent.
        let change = (self.last - self.open) * 10_000 / self.open;
        [
            Some(format!(
                "{:02}:{:02}:{:02}.{:03}",
                9 + ms / 3_600_000 % 9,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000
            )),
            Some(price(self.last)),
            Some(format!(
                "{}{}.{:02}",
                if change < 0 { '-' } else { '+' },
                change.abs() / 100,
                change.abs() % 100
            )),
            Some(price(self.bid)),
            Some(price(self.ask)),
            Some(self.bid_size.to_string()),
            Some(self.ask_size.to_string()),
            Some(self.volume.to_string()),
            self.phase.map(str::to_owned),
            Some(self.venue.to_owned()),
        ]
    }
}

/// Generates `lines` `U` lines (the same ones for the same arguments).
///
/// Each item's first line carries all its values (the snapshot); later lines are encoded
/// against the item's previous values. Replaying the buffer on the same models is valid:
/// the first line of each item sets every field.
pub(crate) fn generate(lines: usize, seed: u64) -> Feed {
    let mut rng = Rng(seed);
    // (subscription, item, simulated quote, values last sent)
    let mut items: Vec<(u32, u32, Quote, Option<Values>)> = Vec::new();
    for sub in SUBS {
        for item in 1..=sub.items {
            let quote = Quote::new(&mut rng);
            items.push((sub.id, item as u32, quote, None));
        }
    }
    let mut encoder = Encoder::new();
    let mut out = String::with_capacity(lines * 64);
    let mut values = String::new();
    let mut ms = 0;
    for _ in 0..lines {
        ms += 1 + rng.below(7);
        // Busy instruments first: the first eight take about half the updates.
        let k = if rng.chance(50) {
            rng.below(8)
        } else {
            rng.below(items.len() as u64)
        } as usize;
        let (sub, item, quote, prev) = &mut items[k];
        quote.step(&mut rng);
        let new = quote.values(ms);
        values.clear();
        encoder
            .encode(prev.as_ref(), &new, &mut values)
            .expect("10 fields");
        encode_update(*sub, *item, &values, &mut out);
        *prev = Some(new);
    }
    Feed {
        bytes: out.into_bytes(),
        lines,
    }
}
