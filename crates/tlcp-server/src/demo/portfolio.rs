//! `PORTFOLIO`: the `portfolio1` item in COMMAND mode, changed by `BUY` and `SELL` messages.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use super::stocks::stock_index;
use super::{BAD_QUANTITY, NO_SUCH_ITEM, NOT_ENOUGH_SHARES, lock};
use crate::adapter::{DataAdapter, Refusal};
use crate::hub::{ItemFeed, Update};

/// The only item.
pub(crate) const PORTFOLIO: &str = "portfolio1";

/// The most shares of one stock a portfolio may hold.
const MAX_HOLDING: u64 = 1_000_000_000;

/// A trade's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Buy,
    Sell,
}

#[derive(Default)]
struct Book {
    /// Shares held, by stock index: the map's order is the snapshot's order.
    holdings: BTreeMap<usize, u64>,
    /// The item's feeds (one per adapter set name it is subscribed under).
    feeds: Vec<ItemFeed>,
    update: Update,
    key: String,
    qty: String,
}

impl Book {
    /// Fills the update with a row: `qty` null for `DELETE`.
    fn row(&mut self, stock: usize, command: &str, qty: Option<u64>) {
        self.key.clear();
        let _ = write!(self.key, "item{}", stock + 1);
        self.update.clear();
        self.update.set("key", &self.key).set("command", command);
        match qty {
            Some(q) => {
                self.qty.clear();
                let _ = write!(self.qty, "{q}");
                self.update.set("qty", &self.qty);
            }
            None => {
                self.update.set_null("qty");
            }
        }
    }
}

/// The `PORTFOLIO` data adapter; clones share the book (the metadata adapter holds one).
#[derive(Clone, Default)]
pub(crate) struct Portfolios {
    book: Arc<Mutex<Book>>,
}

impl Portfolios {
    /// Buys or sells `qty` shares of `stock` (an item name of `STOCKS`); returns the new
    /// quantity held and pushes the row change.
    pub(crate) fn trade(&self, side: Side, stock: &str, qty: &str) -> Result<u64, Refusal> {
        let index = stock_index(stock)
            .ok_or_else(|| Refusal::new(NO_SUCH_ITEM, format!("no such stock: {stock}")))?;
        let qty: u64 = qty
            .parse()
            .ok()
            .filter(|q| (1..=MAX_HOLDING).contains(q))
            .ok_or_else(|| {
                Refusal::new(
                    BAD_QUANTITY,
                    format!("bad quantity {qty:?}: expected an integer from 1 to {MAX_HOLDING}"),
                )
            })?;
        // The book stays locked while pushing, so rows reach the feeds in the order of
        // the trades.
        let mut guard = lock(&self.book);
        let book = &mut *guard;
        let held = book.holdings.get(&index).copied().unwrap_or(0);
        let (now, command) = match side {
            Side::Buy => {
                let now = held + qty;
                if now > MAX_HOLDING {
                    return Err(Refusal::new(
                        BAD_QUANTITY,
                        format!("cannot hold more than {MAX_HOLDING} shares of {stock}"),
                    ));
                }
                (now, if held == 0 { "ADD" } else { "UPDATE" })
            }
            Side::Sell => {
                if qty > held {
                    return Err(Refusal::new(
                        NOT_ENOUGH_SHARES,
                        format!("cannot sell {qty} shares of {stock}: {held} held"),
                    ));
                }
                let now = held - qty;
                (now, if now == 0 { "DELETE" } else { "UPDATE" })
            }
        };
        if now == 0 {
            book.holdings.remove(&index);
            book.row(index, command, None);
        } else {
            book.holdings.insert(index, now);
            book.row(index, command, Some(now));
        }
        for feed in &book.feeds {
            feed.update(&book.update);
        }
        Ok(now)
    }
}

impl DataAdapter for Portfolios {
    fn subscribe(&self, item: &str, feed: ItemFeed) -> Result<(), Refusal> {
        if item != PORTFOLIO {
            return Err(Refusal::new(
                NO_SUCH_ITEM,
                format!("no such portfolio: {item} (try {PORTFOLIO})"),
            ));
        }
        let mut guard = lock(&self.book);
        let book = &mut *guard;
        let rows: Vec<(usize, u64)> = book.holdings.iter().map(|(&s, &q)| (s, q)).collect();
        for (stock, qty) in rows {
            book.row(stock, "ADD", Some(qty));
            feed.snapshot(&book.update);
        }
        feed.end_of_snapshot();
        book.feeds.retain(ItemFeed::is_active);
        book.feeds.push(feed);
        Ok(())
    }

    fn unsubscribe(&self, _item: &str) {
        lock(&self.book).feeds.retain(ItemFeed::is_active);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::testutil::{Ev, Sub};
    use tlcp_proto::Mode;

    fn rows(sub: &Sub, events: &[Ev]) -> Vec<(bool, String, String, String)> {
        events
            .iter()
            .filter_map(|e| {
                let row = e.row()?;
                let get = |f| sub.field(row, f).unwrap_or("#").to_owned();
                Some((e.is_snapshot(), get("key"), get("command"), get("qty")))
            })
            .collect()
    }

    fn row(snapshot: bool, key: &str, command: &str, qty: &str) -> (bool, String, String, String) {
        (snapshot, key.into(), command.into(), qty.into())
    }

    #[test]
    fn portfolio1_only() {
        let err = Sub::try_new(Portfolios::default(), "portfolio2", "key", Mode::Command).err();
        assert_eq!(err.expect("refused").code, NO_SUCH_ITEM);
    }

    #[test]
    fn trades_add_update_delete() {
        let p = Portfolios::default();
        let sub = Sub::new(p.clone(), PORTFOLIO, "key command qty", Mode::Command);
        assert_eq!(sub.take(), vec![Ev::Eos], "empty snapshot");
        assert_eq!(p.trade(Side::Buy, "item3", "100"), Ok(100));
        assert_eq!(p.trade(Side::Buy, "item3", "50"), Ok(150));
        assert_eq!(p.trade(Side::Buy, "item12", "7"), Ok(7));
        assert_eq!(p.trade(Side::Sell, "item3", "30"), Ok(120));
        assert_eq!(p.trade(Side::Sell, "item12", "7"), Ok(0));
        let got = sub.take();
        assert_eq!(
            rows(&sub, &got),
            vec![
                row(false, "item3", "ADD", "100"),
                row(false, "item3", "UPDATE", "150"),
                row(false, "item12", "ADD", "7"),
                row(false, "item3", "UPDATE", "120"),
                row(false, "item12", "DELETE", "#"),
            ]
        );
        // Buying again after a DELETE adds the row again.
        assert_eq!(p.trade(Side::Buy, "item12", "1"), Ok(1));
        assert_eq!(
            rows(&sub, &sub.take()),
            vec![row(false, "item12", "ADD", "1")]
        );
    }

    #[test]
    fn denials_change_nothing() {
        let p = Portfolios::default();
        assert_eq!(p.trade(Side::Buy, "item5", "10"), Ok(10));
        let sub = Sub::new(p.clone(), PORTFOLIO, "key command qty", Mode::Command);
        sub.take();
        for (side, stock, qty, code) in [
            (Side::Sell, "item5", "11", NOT_ENOUGH_SHARES),
            (Side::Sell, "item6", "1", NOT_ENOUGH_SHARES),
            (Side::Buy, "item31", "1", NO_SUCH_ITEM),
            (Side::Buy, "AAPL", "1", NO_SUCH_ITEM),
            (Side::Buy, "item5", "0", BAD_QUANTITY),
            (Side::Buy, "item5", "-1", BAD_QUANTITY),
            (Side::Buy, "item5", "1.5", BAD_QUANTITY),
            (Side::Buy, "item5", "", BAD_QUANTITY),
            (Side::Buy, "item5", "99999999999999999999999", BAD_QUANTITY),
            (Side::Buy, "item5", "999999995", BAD_QUANTITY),
        ] {
            let err = p.trade(side, stock, qty).expect_err("denied");
            assert_eq!(err.code, code, "{side:?} {stock} {qty}: {err}");
            assert!(err.code <= 0);
        }
        assert!(sub.take().is_empty());
        assert_eq!(p.trade(Side::Sell, "item5", "10"), Ok(0));
    }

    #[test]
    fn snapshot_is_the_current_rows() {
        let p = Portfolios::default();
        p.trade(Side::Buy, "item10", "5").expect("bought");
        p.trade(Side::Buy, "item2", "3").expect("bought");
        p.trade(Side::Buy, "item7", "1").expect("bought");
        p.trade(Side::Sell, "item7", "1").expect("sold");
        let sub = Sub::new(p.clone(), PORTFOLIO, "key command qty", Mode::Command);
        let got = sub.take();
        assert_eq!(
            rows(&sub, &got),
            vec![
                row(true, "item2", "ADD", "3"),
                row(true, "item10", "ADD", "5")
            ]
        );
        assert_eq!(got.last(), Some(&Ev::Eos));
        // A MERGE subscriber to the same item sees the last row.
        let merge = Sub::new(p.clone(), PORTFOLIO, "key qty", Mode::Merge);
        let got = merge.take();
        assert_eq!(got.len(), 1);
        assert_eq!(
            merge.field(got[0].row().expect("row"), "key"),
            Some("item10")
        );
    }
}
