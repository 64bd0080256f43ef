//! `STOCKS`: a simulated stock exchange of 30 items.

use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::task::AbortHandle;

use super::rng::Rng;
use super::{NO_SUCH_ITEM, lock, runtime, write_hms};
use crate::adapter::{DataAdapter, Refusal};
use crate::hub::{ItemFeed, Update};

/// The stocks: name, reference price (cents), mean pause between updates (ms).
const TABLE: [(&str, i64, u32); 30] = [
    ("Anduct", 305, 2000),
    ("Ations Europe", 1520, 500),
    ("Bravon Analytics", 718, 1000),
    ("Caldera Mining", 362, 100),
    ("Dunmore Foods", 761, 250),
    ("Elstree Media", 230, 2000),
    ("Fenwick Rail", 1539, 1000),
    ("Galvani Power", 531, 500),
    ("Harrow Biotech", 486, 150),
    ("Iberis Telecom", 761, 1500),
    ("Juniper Freight", 1041, 100),
    ("Kestrel Aero", 394, 750),
    ("Lumen Optics", 679, 2000),
    ("Marlow Capital", 2687, 1000),
    ("Norland Steel", 227, 300),
    ("Orsino Pharma", 1304, 2000),
    ("Pellucid Systems", 609, 120),
    ("Quarry Hill Cement", 1719, 800),
    ("Rivus Water", 1363, 1800),
    ("Saltire Insurance", 1761, 400),
    ("Tessera Chips", 1130, 200),
    ("Umbra Security", 539, 1200),
    ("Vantor Motors", 1531, 600),
    ("Westmark Retail", 1486, 1600),
    ("Xylo Software", 1761, 350),
    ("Yarrow Agritech", 541, 100),
    ("Zephyr Airlines", 1394, 900),
    ("Aldgate Bank", 1679, 2000),
    ("Brightwell Energy", 687, 450),
    ("Cobalt Robotics", 1127, 1400),
];

/// Random-walk steps run when the market is created, so the day has a range already.
const WARM_UP_STEPS: usize = 40;

/// The index (0-based) of a stock item name, `item1` to `item30`.
pub(crate) fn stock_index(item: &str) -> Option<usize> {
    let digits = item.strip_prefix("item")?;
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: usize = digits.parse().ok()?;
    (1..=TABLE.len()).contains(&n).then(|| n - 1)
}

/// The price state of one stock; prices in cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Quote {
    pub(crate) name: &'static str,
    pub(crate) reference: i64,
    pub(crate) open: i64,
    pub(crate) last: i64,
    pub(crate) min: i64,
    pub(crate) max: i64,
    pub(crate) bid: i64,
    pub(crate) ask: i64,
    pub(crate) bid_quantity: i64,
    pub(crate) ask_quantity: i64,
}

/// What a step changed besides the always-refreshed fields.
#[derive(Debug, Clone, Copy)]
struct Moved {
    last: bool,
    min: bool,
    max: bool,
}

impl Quote {
    fn new(index: usize, rng: &mut Rng) -> Self {
        let (name, reference, _) = TABLE[index];
        let open = (reference + rng.between(-reference / 100, reference / 100)).max(1);
        let mut q = Self {
            name,
            reference,
            open,
            last: open,
            min: open,
            max: open,
            bid: open,
            ask: open + 1,
            bid_quantity: 0,
            ask_quantity: 0,
        };
        for _ in 0..WARM_UP_STEPS {
            q.step(rng);
        }
        q
    }

    /// One market move: a random walk pulled back towards the reference price.
    fn step(&mut self, rng: &mut Rng) -> Moved {
        // Relative distance from the reference, in a band of +-20%: the farther away, the
        // likelier the next move goes back.
        let band = (self.reference / 5).max(1) as f64;
        let dist = ((self.last - self.reference) as f64 / band).clamp(-1.0, 1.0);
        let up = rng.chance(0.5 * (1.0 - dist * dist * dist));
        let size = rng.between(0, (self.reference / 200).max(1));
        let before = self.last;
        self.last = if up {
            self.last + size
        } else {
            self.last - size
        }
        .max(1);
        let half_spread = (self.reference / 400).max(1);
        self.bid = (self.last - rng.between(0, half_spread)).max(0);
        self.ask = self.last + rng.between(0, half_spread);
        if self.ask == self.bid {
            self.ask += 1;
        }
        self.bid_quantity = rng.between(1, 250) * 100;
        self.ask_quantity = rng.between(1, 250) * 100;
        let moved = Moved {
            last: self.last != before,
            min: self.last < self.min,
            max: self.last > self.max,
        };
        self.min = self.min.min(self.last);
        self.max = self.max.max(self.last);
        moved
    }

    /// The change of the last price against the reference, in hundredths of a percent
    /// (truncated towards zero).
    pub(crate) fn pct_change(&self) -> i64 {
        (self.last - self.reference) * 10_000 / self.reference
    }

    /// Writes every field.
    fn write_full(&self, u: &mut Update, buf: &mut String, now: SystemTime) {
        u.clear();
        u.set("stock_name", self.name);
        self.write_common(u, buf, now, true);
        set_cents(u, "min", self.min, buf);
        set_cents(u, "max", self.max, buf);
        set_cents(u, "ref_price", self.reference, buf);
        set_cents(u, "open_price", self.open, buf);
    }

    /// Writes the fields a step changed.
    fn write_moved(&self, moved: Moved, u: &mut Update, buf: &mut String, now: SystemTime) {
        u.clear();
        self.write_common(u, buf, now, moved.last);
        if moved.min {
            set_cents(u, "min", self.min, buf);
        }
        if moved.max {
            set_cents(u, "max", self.max, buf);
        }
    }

    fn write_common(&self, u: &mut Update, buf: &mut String, now: SystemTime, last: bool) {
        write_hms(buf, now);
        u.set("time", buf);
        if last {
            set_cents(u, "last_price", self.last, buf);
            set_cents(u, "pct_change", self.pct_change(), buf);
        }
        set_cents(u, "ask", self.ask, buf);
        set_cents(u, "bid", self.bid, buf);
        set_int(u, "bid_quantity", self.bid_quantity, buf);
        set_int(u, "ask_quantity", self.ask_quantity, buf);
    }
}

/// Sets `field` to `cents` written with two decimals (`-0.05`, `3.10`).
fn set_cents(u: &mut Update, field: &str, cents: i64, buf: &mut String) {
    buf.clear();
    if cents < 0 {
        buf.push('-');
    }
    let abs = cents.unsigned_abs();
    let _ = write!(buf, "{}.{:02}", abs / 100, abs % 100);
    u.set(field, buf);
}

fn set_int(u: &mut Update, field: &str, value: i64, buf: &mut String) {
    buf.clear();
    let _ = write!(buf, "{value}");
    u.set(field, buf);
}

/// One stock: its quote, its subscribers and its ticker task.
struct Slot {
    quote: Quote,
    /// Draws the price moves: the price path depends only on the seed.
    prices: Rng,
    /// Draws the pauses between moves.
    pauses: Rng,
    mean_pause: Duration,
    /// The feeds of the item (one per adapter set name the item is subscribed under).
    feeds: Vec<ItemFeed>,
    /// The running ticker task, with its generation (a stale task exits on mismatch).
    task: Option<(u64, AbortHandle)>,
    generation: u64,
    update: Update,
    buf: String,
}

impl Slot {
    fn next_pause(&mut self) -> Duration {
        self.mean_pause
            .mul_f64(0.5 + self.pauses.unit())
            .max(Duration::from_millis(1))
    }

    fn is_current(&self, generation: u64) -> bool {
        matches!(self.task, Some((g, _)) if g == generation)
    }
}

struct Market {
    slots: Vec<Mutex<Slot>>,
}

/// The `STOCKS` data adapter; clones share the market.
#[derive(Clone)]
pub(crate) struct Stocks {
    market: Arc<Market>,
}

impl Stocks {
    /// A market seeded with `seed`, pauses multiplied by `time_scale`.
    pub(crate) fn new(seed: u64, time_scale: f64) -> Self {
        let scale = if time_scale.is_finite() && time_scale > 0.0 {
            time_scale
        } else {
            1.0
        };
        let slots = (0..TABLE.len())
            .map(|i| {
                let mut prices = Rng::derived(seed, i as u64);
                let pauses = Rng::derived(seed ^ 0x5741_4954, i as u64);
                Mutex::new(Slot {
                    quote: Quote::new(i, &mut prices),
                    prices,
                    pauses,
                    mean_pause: Duration::from_millis(u64::from(TABLE[i].2)).mul_f64(scale),
                    feeds: Vec::new(),
                    task: None,
                    generation: 0,
                    update: Update::new(),
                    buf: String::new(),
                })
            })
            .collect();
        Self {
            market: Arc::new(Market { slots }),
        }
    }

    /// The current quote of stock `index` (0-based).
    #[cfg(test)]
    pub(crate) fn quote(&self, index: usize) -> Quote {
        lock(&self.market.slots[index]).quote.clone()
    }

    /// Moves stock `index` by one step, without pushing (for tests).
    #[cfg(test)]
    pub(crate) fn step(&self, index: usize) -> Quote {
        let mut slot = lock(&self.market.slots[index]);
        let slot = &mut *slot;
        slot.quote.step(&mut slot.prices);
        slot.quote.clone()
    }

    /// Whether stock `index` has a ticker task.
    #[cfg(test)]
    pub(crate) fn ticking(&self, index: usize) -> bool {
        lock(&self.market.slots[index]).task.is_some()
    }
}

impl DataAdapter for Stocks {
    fn subscribe(&self, item: &str, feed: ItemFeed) -> Result<(), Refusal> {
        let index = stock_index(item)
            .ok_or_else(|| Refusal::new(NO_SUCH_ITEM, format!("no such stock: {item}")))?;
        let rt = runtime()?;
        let mut guard = lock(&self.market.slots[index]);
        let slot = &mut *guard;
        slot.quote
            .write_full(&mut slot.update, &mut slot.buf, SystemTime::now());
        feed.snapshot(&slot.update);
        feed.end_of_snapshot();
        slot.feeds.retain(ItemFeed::is_active);
        slot.feeds.push(feed);
        if slot.task.is_none() {
            slot.generation += 1;
            let generation = slot.generation;
            let first = slot.next_pause();
            let market = Arc::clone(&self.market);
            let task = rt.spawn(tick(market, index, generation, first));
            slot.task = Some((generation, task.abort_handle()));
        }
        Ok(())
    }

    fn unsubscribe(&self, item: &str) {
        let Some(index) = stock_index(item) else {
            return;
        };
        let mut slot = lock(&self.market.slots[index]);
        // Another adapter set name may still have the item: only drop inactive feeds.
        slot.feeds.retain(ItemFeed::is_active);
        if slot.feeds.is_empty()
            && let Some((_, task)) = slot.task.take()
        {
            task.abort();
        }
    }
}

/// Moves stock `index` and pushes its changes until it has no active feed left.
async fn tick(market: Arc<Market>, index: usize, generation: u64, first: Duration) {
    let mut pause = first;
    loop {
        tokio::time::sleep(pause).await;
        let mut guard = lock(&market.slots[index]);
        let slot = &mut *guard;
        if !slot.is_current(generation) {
            return;
        }
        slot.feeds.retain(ItemFeed::is_active);
        if slot.feeds.is_empty() {
            slot.task = None;
            return;
        }
        let moved = slot.quote.step(&mut slot.prices);
        slot.quote
            .write_moved(moved, &mut slot.update, &mut slot.buf, SystemTime::now());
        for feed in &slot.feeds {
            feed.update(&slot.update);
        }
        pause = slot.next_pause();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::testutil::Sub;
    use tlcp_proto::Mode;

    const FIELDS: &str = "stock_name time last_price pct_change min max ask bid bid_quantity ask_quantity ref_price open_price";

    fn cents(s: &str) -> i64 {
        let (int, frac) = s.trim_start_matches('-').split_once('.').expect("decimal");
        assert_eq!(frac.len(), 2, "{s}");
        let v = int.parse::<i64>().expect("int") * 100 + frac.parse::<i64>().expect("frac");
        if s.starts_with('-') { -v } else { v }
    }

    fn check_row(sub: &Sub, row: &[Option<String>]) {
        let get = |f: &str| cents(sub.field(row, f).expect("field set"));
        let (last, min, max) = (get("last_price"), get("min"), get("max"));
        assert!(min <= last && last <= max, "{min} {last} {max}");
        assert!(get("bid") <= get("ask"));
        let reference = get("ref_price");
        assert_eq!(get("pct_change"), (last - reference) * 10_000 / reference);
        let time = sub.field(row, "time").expect("time");
        assert_eq!(time.len(), 8);
        assert_eq!(time.as_bytes()[2], b':');
    }

    #[test]
    fn item_names() {
        assert_eq!(stock_index("item1"), Some(0));
        assert_eq!(stock_index("item30"), Some(29));
        for bad in [
            "item0", "item31", "item01", "item", "item+1", "Item1", "item1x",
        ] {
            assert_eq!(stock_index(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_item_is_refused() {
        let stocks = Stocks::new(1, 1.0);
        let err = Sub::try_new(stocks, "item31", FIELDS, Mode::Merge).err();
        assert_eq!(err.expect("refused").code, NO_SUCH_ITEM);
    }

    #[test]
    fn deterministic_with_seed() {
        let (a, b, c) = (
            Stocks::new(9, 1.0),
            Stocks::new(9, 1.0),
            Stocks::new(10, 1.0),
        );
        for i in 0..30 {
            assert_eq!(a.quote(i), b.quote(i));
            for _ in 0..50 {
                assert_eq!(a.step(i), b.step(i));
            }
        }
        assert!((0..30).any(|i| a.quote(i) != c.quote(i)));
    }

    #[test]
    fn walk_keeps_invariants() {
        let stocks = Stocks::new(3, 1.0);
        for i in 0..30 {
            for _ in 0..2_000 {
                let q = stocks.step(i);
                assert!(q.min <= q.last && q.last <= q.max, "{q:?}");
                assert!(q.bid <= q.last && q.last <= q.ask && q.bid < q.ask, "{q:?}");
                assert!(q.min <= q.open && q.open <= q.max, "{q:?}");
                assert!(
                    (q.last - q.reference).abs() <= q.reference / 4 + 2,
                    "price stays near the reference: {q:?}"
                );
                assert!(q.bid_quantity > 0 && q.ask_quantity > 0);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn snapshot_then_updates_then_stop() {
        let stocks = Stocks::new(5, 1.0);
        // item4 is one of the fast ones (~10/s).
        let sub = Sub::new(stocks.clone(), "item4", FIELDS, Mode::Merge);
        let events = sub.take();
        assert_eq!(events.len(), 1, "one snapshot row: {events:?}");
        let snap = events[0].row().expect("row");
        assert!(events[0].is_snapshot());
        assert!(snap.iter().all(Option::is_some), "all 12 fields: {snap:?}");
        assert_eq!(sub.field(snap, "stock_name"), Some("Caldera Mining"));
        check_row(&sub, snap);

        tokio::time::sleep(Duration::from_secs(10)).await;
        let events = sub.take();
        assert!(
            (50..=200).contains(&events.len()),
            "{} updates",
            events.len()
        );
        for e in &events {
            assert!(!e.is_snapshot());
            check_row(&sub, e.row().expect("row"));
        }
        assert!(stocks.ticking(3));

        // The last subscriber leaves: the ticker stops; the state survives.
        let before = stocks.quote(3);
        sub.release();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!stocks.ticking(3));
        assert_eq!(stocks.quote(3), before);

        // A new subscriber gets the current row and live updates again.
        let again = Sub::new(stocks.clone(), "item4", FIELDS, Mode::Merge);
        let snap = again.take();
        let row = snap[0].row().expect("row");
        assert_eq!(again.field(row, "last_price").map(cents), Some(before.last));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!again.take().is_empty());
        assert!(stocks.ticking(3));
    }

    #[tokio::test(start_paused = true)]
    async fn slow_item_and_time_scale() {
        // item1 moves about every 2 s; scaled by 0.1, about 5 times a second.
        let nominal = Sub::new(Stocks::new(5, 1.0), "item1", FIELDS, Mode::Merge);
        let fast = Sub::new(Stocks::new(5, 0.1), "item1", FIELDS, Mode::Merge);
        tokio::time::sleep(Duration::from_secs(20)).await;
        let (n, f) = (nominal.take().len() - 1, fast.take().len() - 1);
        assert!((5..=20).contains(&n), "{n}");
        assert!((60..=200).contains(&f), "{f}");
    }

    #[tokio::test(start_paused = true)]
    async fn two_feeds_share_one_ticker() {
        // The same adapter under two names (STOCKS and DEFAULT, or DEMO and WELCOME).
        let stocks = Stocks::new(5, 1.0);
        let a = Sub::new(stocks.clone(), "item4", FIELDS, Mode::Merge);
        let b = Sub::new(stocks.clone(), "item4", FIELDS, Mode::Merge);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (ea, eb) = (a.take(), b.take());
        assert!(ea.len() > 10);
        assert_eq!(ea.len(), eb.len(), "one ticker feeds both");
        a.release();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(b.take().len() > 10, "the other feed goes on");
        assert!(stocks.ticking(3));
    }
}
