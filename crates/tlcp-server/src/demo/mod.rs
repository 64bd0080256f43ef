//! Demo adapters, in the spirit of the ones shipped with Lightstreamer Server.
//!
//! [`demo_adapters`] returns one adapter set, served under both `DEMO` and `WELCOME` (the
//! name the specification's "Hands On" chapter uses), made of a metadata adapter and four
//! data adapters. The data is simulated and reproducible from [`DemoConfig::seed`] (apart
//! from timing and clock-derived fields).
//!
//! # Metadata
//!
//! Anyone may connect; group and schema names are space-separated lists of literal item
//! and field names; every mode is allowed for every item; no limits. Client messages use a
//! `VERB|argument...` syntax:
//!
//! | Message | Effect | `MSGDONE` response |
//! |---|---|---|
//! | `CHAT\|<text>` | pushes a chat line on `CHAT`/`chat_room` | empty |
//! | `BUY\|<stock>\|<qty>` | adds `qty` shares of `stock` (`item1`..`item30`) to `portfolio1` | the new quantity |
//! | `SELL\|<stock>\|<qty>` | removes `qty` shares of `stock` from `portfolio1` | the new quantity |
//! | `ECHO\|<text>` | nothing | `<text>` |
//!
//! Anything else is denied (`MSGFAIL`). The (application-level, non-positive) codes are:
//!
//! | Code | Meaning |
//! |---|---|
//! | -1 | unknown or malformed message |
//! | -2 | no such item (unknown stock, portfolio or chat room) |
//! | -3 | bad quantity (not a positive integer, or too large) |
//! | -4 | selling more shares than held |
//! | -5 | the server does not run the adapter inside a Tokio runtime |
//!
//! Subscriptions to unknown items are refused with code -2 too.
//!
//! # `STOCKS` (also `DEFAULT`): a simulated stock exchange
//!
//! Items `item1` to `item30`, fields `stock_name time last_price pct_change min max ask
//! bid bid_quantity ask_quantity ref_price open_price`. Prices have two decimals, `time` is
//! `HH:MM:SS` (UTC), `pct_change` is the change of `last_price` against `ref_price` in
//! percent. A subscription starts with the current row as its snapshot, then the price
//! follows a mean-reverting random walk around `ref_price`, with `bid <= last_price <= ask`
//! and `min <= last_price <= max`. Each stock has its own pace, from about ten updates a
//! second to one every two seconds (scaled by [`DemoConfig::stocks_time_scale`]). The
//! market only moves while a stock has subscribers, and keeps its state in between.
//!
//! # `CHAT`: a chat room
//!
//! Item `chat_room` (meant for DISTINCT mode), fields `timestamp message IP nick`: one
//! event per `CHAT|<text>` message, with the time (`HH:MM:SS` UTC), the text, the sender's
//! IP address and user name (`anonymous` if none). The adapter pushes no snapshot (the
//! server keeps the recent history) and ends the snapshot right away.
//!
//! # `PORTFOLIO`: a portfolio in COMMAND mode
//!
//! Item `portfolio1`, fields `key command qty`: one row per stock held, keyed by the stock's
//! item name (so a second-level MERGE subscription to `STOCKS` on the key works). `BUY` of
//! a stock not held adds a row (`ADD`), of a held one updates it (`UPDATE`), `SELL` down to
//! zero removes it (`DELETE`, `qty` null). A subscription starts with the current rows as
//! `ADD` snapshot events. The portfolio starts empty.
//!
//! # `FEED`: a synthetic feed for benchmarks
//!
//! Any item name, fields `ts seq f1 .. fN`: `ts` is the push time in nanoseconds since the
//! UNIX epoch (increasing for an item, so a client can compute latencies; with
//! [`FeedRate::AsFastAsPossible`] the clock is read twice per batch, and each update of the
//! batch gets an estimate spaced by the time an update took in the previous batch), `seq`
//! counts the item's updates from 1 (restarting when the item is subscribed anew), and
//! `f1`..`fN` are price-like payload values of a fixed width: `f1` changes on every update,
//! each other field on about half of them. The pace, the number and the width of the
//! fields are set by [`FeedConfig`]. No snapshot is pushed; the snapshot ends right away.
//! Each distinct item subscribed runs a producer task; at most 100,000 items are produced
//! at once (beyond, subscribing another item is refused with code -6).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::adapter::{AdapterSet, Adapters, Refusal};

mod chat;
mod feed;
mod metadata;
mod portfolio;
pub(crate) mod rng;
mod stocks;
#[cfg(test)]
mod testutil;

pub use feed::{FeedConfig, FeedRate};

/// Unknown or malformed message.
const UNKNOWN_MESSAGE: i32 = -1;
/// Unknown stock, portfolio or chat room.
const NO_SUCH_ITEM: i32 = -2;
/// Quantity not a positive integer, or too large.
const BAD_QUANTITY: i32 = -3;
/// Selling more shares than held.
const NOT_ENOUGH_SHARES: i32 = -4;
/// No Tokio runtime to run the simulation in.
const NO_RUNTIME: i32 = -5;
/// `FEED` already produces its maximum number of distinct items.
const TOO_MANY_ITEMS: i32 = -6;

/// The configuration of the demo adapters.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Seed of the simulated data: the same seed gives the same prices and payloads.
    pub seed: u64,
    /// Multiplies the pauses between `STOCKS` updates: `1.0` is the nominal pace, `0.1`
    /// ten times faster. Values that are not finite and positive mean `1.0`.
    pub stocks_time_scale: f64,
    /// The `FEED` data adapter's settings.
    pub feed: FeedConfig,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            seed: 0x7C1C_DE30,
            stocks_time_scale: 1.0,
            feed: FeedConfig::default(),
        }
    }
}

/// The demo adapter set, served under both `DEMO` and `WELCOME`.
///
/// Its data adapters are `STOCKS` (also registered as `DEFAULT`), `CHAT`, `PORTFOLIO` and
/// `FEED`; see the [module documentation](self) for their items and fields and for the
/// messages the metadata adapter understands. Both names share the same state: a message
/// sent in a `DEMO` session reaches `WELCOME` subscribers too.
///
/// ```
/// use tlcp_server::demo::{DemoConfig, FeedConfig, FeedRate, demo_adapters};
///
/// let adapters = demo_adapters(DemoConfig {
///     seed: 7,
///     feed: FeedConfig {
///         rate: FeedRate::AsFastAsPossible,
///         ..FeedConfig::default()
///     },
///     ..DemoConfig::default()
/// });
/// let set = adapters.get("WELCOME").expect("served under WELCOME");
/// assert!(set.data_adapter("STOCKS").is_some());
/// assert!(set.data_adapter("DEFAULT").is_some());
/// ```
pub fn demo_adapters(config: DemoConfig) -> Adapters {
    let set = demo_set(config);
    Adapters::new()
        .with_set("DEMO", set.clone())
        .with_set("WELCOME", set)
}

fn demo_set(config: DemoConfig) -> AdapterSet {
    let chat = chat::ChatRoom::default();
    let portfolio = portfolio::Portfolios::default();
    let stocks = stocks::Stocks::new(config.seed, config.stocks_time_scale);
    let metadata = metadata::DemoMetadata::new(chat.clone(), portfolio.clone());
    AdapterSet::new(metadata)
        .with_data_adapter("STOCKS", stocks.clone())
        .with_data_adapter("DEFAULT", stocks)
        .with_data_adapter("CHAT", chat)
        .with_data_adapter("PORTFOLIO", portfolio)
        .with_data_adapter("FEED", feed::Feed::new(config.seed, config.feed))
}

/// Locks a mutex, ignoring poisoning (a panicking pusher must not stop the demo).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The Tokio runtime to run simulation tasks in.
fn runtime() -> Result<tokio::runtime::Handle, Refusal> {
    tokio::runtime::Handle::try_current()
        .map_err(|_| Refusal::new(NO_RUNTIME, "the demo adapters need a Tokio runtime"))
}

/// Writes the UTC time of day of `now` as `HH:MM:SS` into `buf` (cleared first).
fn write_hms(buf: &mut String, now: SystemTime) {
    use std::fmt::Write;
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    buf.clear();
    let _ = write!(
        buf,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn hms_is_utc_time_of_day() {
        let mut s = String::new();
        write_hms(
            &mut s,
            UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3600 * 13 + 60 * 7 + 9),
        );
        assert_eq!(s, "13:07:09");
        write_hms(&mut s, UNIX_EPOCH);
        assert_eq!(s, "00:00:00");
    }

    #[test]
    fn sets_and_adapters_are_registered() {
        let adapters = demo_adapters(DemoConfig::default());
        for name in ["DEMO", "WELCOME"] {
            let set = adapters.get(name).expect("set");
            let mut names: Vec<&str> = set.data_adapter_names().collect();
            names.sort_unstable();
            assert_eq!(names, ["CHAT", "DEFAULT", "FEED", "PORTFOLIO", "STOCKS"]);
        }
        assert!(adapters.get("DEFAULT").is_none());
    }
}
