//! [`Update`]: the values of one update by field name, for adapters that push by name.

use crate::hub::short_eq;

/// The values of one update, by field name; reusable without allocating.
///
/// ```
/// let mut u = tlcp_server::Update::new();
/// u.set("last_price", "3.04").set_null("open");
/// assert_eq!(u.len(), 2);
/// u.clear(); // keeps the buffers for the next update
/// ```
#[derive(Debug, Default, Clone)]
pub struct Update {
    /// Every field name this update has seen, each once, kept across `clear`: a producer
    /// that sets the same fields every time never writes a name again.
    names: Vec<String>,
    /// Per name: where its value lies in `buf` (`None` is null), valid when the name's
    /// epoch is the current one.
    spans: Vec<Option<(u32, u32)>>,
    epochs: Vec<u32>,
    /// Bumped by `clear`: a name is set in this update when its epoch equals it.
    epoch: u32,
    /// The names set, by index, in the order they were first set.
    order: Vec<u32>,
    /// Every value set since the last `clear`, one after the other: one buffer whatever
    /// the number of fields, so setting a field is one copy.
    buf: String,
    /// The name whose value was appended to `buf` last (`u32::MAX`: none).
    last: u32,
}

impl Update {
    /// An empty update.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `field` to `value`.
    #[inline(always)]
    pub fn set(&mut self, field: &str, value: &str) -> &mut Self {
        let (i, replaced) = self.slot(field);
        if replaced {
            self.reclaim(i);
        }
        let start = self.buf.len();
        self.buf.push_str(value);
        // Values beyond 4 GiB in total cannot be addressed: such a value is set to null
        // rather than to a wrong text (no update comes near that size).
        self.spans[i] = u32::try_from(start)
            .ok()
            .zip(u32::try_from(self.buf.len()).ok());
        self.last = i as u32;
        self
    }

    /// Sets `field` to null.
    pub fn set_null(&mut self, field: &str) -> &mut Self {
        let (i, _) = self.slot(field);
        self.spans[i] = None;
        self
    }

    /// Number of fields set.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Removes every field, keeping the allocations.
    pub fn clear(&mut self) {
        self.order.clear();
        self.buf.clear();
        self.last = u32::MAX;
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // Wrapped: no stale epoch may look current (every name is unset at epoch 1).
            self.epochs.fill(0);
            self.epoch = 1;
        }
    }

    /// The fields set, in the order they were set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.order.iter().map(|&i| {
            let i = i as usize;
            let value = self.spans[i].and_then(|(a, b)| self.buf.get(a as usize..b as usize));
            (self.names[i].as_str(), value)
        })
    }

    /// Before name `i` gets a new value: drops its old one from the buffer when it is the
    /// last there, and compacts a buffer mostly made of replaced values (a producer may set
    /// the same fields again and again without clearing).
    fn reclaim(&mut self, i: usize) {
        // The last value appended (an empty one after it would end where it ends too).
        if let Some((a, b)) = self.spans[i]
            && self.last == i as u32
            && b as usize == self.buf.len()
        {
            self.buf.truncate(a as usize);
            self.spans[i] = None;
            return;
        }
        self.spans[i] = None;
        let live: usize = self
            .order
            .iter()
            .filter_map(|&k| self.spans[k as usize])
            .map(|(a, b)| (b - a) as usize)
            .sum();
        if self.buf.len() > 4096 && self.buf.len() > 2 * live {
            let mut buf = String::with_capacity(live * 2);
            for &k in &self.order {
                if let Some(span) = self.spans[k as usize].as_mut() {
                    let start = buf.len();
                    buf.push_str(&self.buf[span.0 as usize..span.1 as usize]);
                    *span = (start as u32, buf.len() as u32);
                }
            }
            self.buf = buf;
        }
    }

    /// The index of `field`'s name, and whether it was already set in this update.
    #[inline]
    fn slot(&mut self, field: &str) -> (usize, bool) {
        // Producers usually set fields in the same order every time, some left out: look
        // from the name after the last one set first.
        let guess = self.order.last().map_or(0, |&k| k as usize + 1);
        let ahead = self.names.get(guess..).unwrap_or_default();
        let found = match ahead.iter().position(|k| short_eq(k, field)) {
            Some(k) => Some(guess + k),
            None => self.names[..guess.min(self.names.len())]
                .iter()
                .position(|k| short_eq(k, field)),
        };
        let i = match found {
            Some(i) => i,
            None => {
                self.names.push(field.to_owned());
                self.spans.push(None);
                // Any epoch but the current one: not set yet.
                self.epochs.push(self.epoch.wrapping_sub(1));
                self.names.len() - 1
            }
        };
        if self.epochs[i] == self.epoch {
            return (i, true);
        }
        self.epochs[i] = self.epoch;
        // At most `u32::MAX` distinct names: far beyond any schema.
        self.order.push(i as u32);
        (i, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_reuses_slots() {
        let mut u = Update::new();
        u.set("a", "1").set("b", "2").set("a", "3");
        assert_eq!(
            u.iter().collect::<Vec<_>>(),
            vec![("a", Some("3")), ("b", Some("2"))]
        );
        u.clear();
        u.set_null("b");
        assert_eq!(u.iter().collect::<Vec<_>>(), vec![("b", None)]);
        // An empty value set after a value set again: it stays empty, not null (the value
        // set again is not the last in the buffer, though it ends where the buffer ends).
        u.clear();
        u.set("a", "xx").set("b", "").set("a", "y");
        assert_eq!(
            u.iter().collect::<Vec<_>>(),
            vec![("a", Some("y")), ("b", Some(""))]
        );
    }

    #[test]
    fn update_epochs_survive_wrapping() {
        let mut u = Update::default();
        u.set("a", "1").set("b", "2");
        u.clear();
        u.epoch = u32::MAX;
        u.epochs.fill(u32::MAX - 1);
        u.set("a", "3");
        assert_eq!(u.iter().collect::<Vec<_>>(), vec![("a", Some("3"))]);
        u.clear();
        assert!(u.is_empty());
        u.set("b", "4").set("b", "5");
        assert_eq!(u.iter().collect::<Vec<_>>(), vec![("b", Some("5"))]);
    }

    #[test]
    fn update_set_again_without_clear_stays_bounded() {
        let mut u = Update::new();
        u.set("a", "x");
        for k in 0..100_000 {
            // `b` is never the last value of the buffer after the first round: its old
            // texts pile up until the buffer is compacted.
            u.set("b", &k.to_string()).set("a", &format!("a{k}"));
            if k % 1000 == 0 {
                u.set_null("a");
            }
        }
        assert!(u.buf.len() < 8192, "{}", u.buf.len());
        assert_eq!(u.names.len(), 2);
        assert_eq!(
            u.iter().collect::<Vec<_>>(),
            vec![("a", Some("a99999")), ("b", Some("99999"))]
        );
    }
}
