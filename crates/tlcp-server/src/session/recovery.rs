//! The per-session log of data notifications, for session recovery (TLCP 2.1.0+).
//!
//! Client and server count the same "data" notifications since the session started
//! (`U`, `SUBOK`, `SUBCMD`, `UNSUB`, `EOS`, `CS`, `OV`, `CONF`, `MSGDONE`, `MSGFAIL`). A
//! client that lost its stream connection after receiving `n` of them binds again with
//! `LS_recovery_from=n`; the server answers `PROG,<m>` and replays from notification `m`.
//!
//! Lines are appended to large reusable chunks with an offset index, so logging a line
//! costs a copy and no allocation in steady state; the oldest chunks are dropped when the
//! log exceeds its byte limit.

use std::collections::VecDeque;

const CHUNK: usize = 64 * 1024;

struct Chunk {
    /// Number (0-based, since session start) of the first line in this chunk.
    first: u64,
    text: String,
    /// Start offset of each line in `text`.
    starts: Vec<u32>,
}

/// A bounded log of the session's data notifications, numbered from 0.
pub(crate) struct RecoveryLog {
    chunks: VecDeque<Chunk>,
    spare: Vec<Chunk>,
    /// Number of data notifications ever logged (the next line's number).
    next: u64,
    bytes: usize,
    max_bytes: usize,
}

impl RecoveryLog {
    /// A log keeping at least the last `max_bytes` bytes of lines (when 0, nothing is kept).
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            chunks: VecDeque::new(),
            spare: Vec::new(),
            next: 0,
            bytes: 0,
            max_bytes,
        }
    }

    /// Number of data notifications logged since the session started.
    pub(crate) fn count(&self) -> u64 {
        self.next
    }

    /// The oldest notification number still available.
    pub(crate) fn oldest(&self) -> u64 {
        self.chunks.front().map_or(self.next, |c| c.first)
    }

    /// Appends one complete line (with its CRLF).
    pub(crate) fn push(&mut self, line: &str) {
        self.next += 1;
        if self.max_bytes == 0 {
            return;
        }
        let need_new = self.chunks.back().is_none_or(|c| {
            c.text.len() + line.len() > CHUNK.max(line.len()) && !c.starts.is_empty()
        });
        if need_new {
            let mut c = self.spare.pop().unwrap_or_else(|| Chunk {
                first: 0,
                text: String::with_capacity(CHUNK),
                starts: Vec::new(),
            });
            c.first = self.next - 1;
            c.text.clear();
            c.starts.clear();
            self.chunks.push_back(c);
        }
        if let Some(c) = self.chunks.back_mut() {
            c.starts.push(c.text.len() as u32);
            c.text.push_str(line);
        }
        self.bytes += line.len();
        self.trim();
    }

    /// Appends the lines of `text`, each ending at the matching offset of `ends` (the last
    /// one at `text.len()`): what [`push`](Self::push) of each line does, with one copy
    /// for all of them when they fit the current chunk (the lines a lane staged, moved
    /// to the output together).
    pub(crate) fn push_lines(&mut self, text: &str, ends: &[u32]) {
        if self.max_bytes == 0 {
            self.next += ends.len() as u64;
            return;
        }
        if ends.last().is_none_or(|&e| e as usize != text.len()) {
            let mut start = 0;
            for &end in ends {
                let end = end as usize;
                if let Some(line) = text.get(start..end) {
                    self.push(line);
                }
                start = end;
            }
            return;
        }
        // As many lines as fit the current chunk in one copy, then a new chunk for the
        // rest (a batch is often larger than what is left of a chunk: copying those lines
        // one by one was a third of the log's cost).
        let (mut line, mut from) = (0, 0usize);
        while line < ends.len() {
            let room = self
                .chunks
                .back()
                .filter(|c| !c.starts.is_empty())
                .map(|c| CHUNK.saturating_sub(c.text.len()));
            let fitting =
                |room: usize| ends[line..].partition_point(|&e| e as usize - from <= room);
            let (fit, new_chunk) = match room.map(fitting) {
                Some(n) if n > 0 => (n, false),
                // A new chunk, of as many lines as it holds; a line longer than a chunk
                // goes alone into one, as `push` does.
                _ => (fitting(CHUNK).max(1), true),
            };
            if new_chunk {
                let mut c = self.spare.pop().unwrap_or_else(|| Chunk {
                    first: 0,
                    text: String::with_capacity(CHUNK),
                    starts: Vec::new(),
                });
                c.first = self.next;
                c.text.clear();
                c.starts.clear();
                self.chunks.push_back(c);
            }
            let to = ends[line + fit - 1] as usize;
            if let (Some(c), Some(lines)) = (self.chunks.back_mut(), text.get(from..to)) {
                let base = c.text.len() as u32;
                // Each line starts where the one before ends.
                c.starts.push(base);
                c.starts.extend(
                    ends[line..line + fit - 1]
                        .iter()
                        .map(|&e| base + (e - from as u32)),
                );
                c.text.push_str(lines);
            }
            self.next += fit as u64;
            self.bytes += to - from;
            line += fit;
            from = to;
        }
        self.trim();
    }

    /// Drops the oldest chunks while the log holds more than its bound.
    fn trim(&mut self) {
        while self.bytes > self.max_bytes && self.chunks.len() > 1 {
            if let Some(old) = self.chunks.pop_front() {
                self.bytes -= old.text.len();
                if self.spare.len() < 2 {
                    self.spare.push(old);
                }
            }
        }
    }

    /// Appends to `out` every logged line from number `from` on; `None` when `from` is
    /// older than what the log still holds or newer than what was logged.
    pub(crate) fn replay_from(&self, from: u64, out: &mut String) -> Option<usize> {
        if from > self.next || from < self.oldest() {
            return None;
        }
        let mut n = 0;
        for c in &self.chunks {
            let lines = c.starts.len() as u64;
            if c.first + lines <= from {
                continue;
            }
            let skip = from.saturating_sub(c.first) as usize;
            let start = c.starts[skip] as usize;
            out.push_str(&c.text[start..]);
            n += c.starts.len() - skip;
        }
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_exactly_from_a_number() {
        let mut log = RecoveryLog::new(1 << 20);
        for i in 0..10 {
            log.push(&format!("U,1,1,{i}\r\n"));
        }
        assert_eq!(log.count(), 10);
        let mut out = String::new();
        assert_eq!(log.replay_from(7, &mut out), Some(3));
        assert_eq!(out, "U,1,1,7\r\nU,1,1,8\r\nU,1,1,9\r\n");
        out.clear();
        assert_eq!(log.replay_from(10, &mut out), Some(0));
        assert!(out.is_empty());
        assert_eq!(log.replay_from(11, &mut out), None);
    }

    #[test]
    fn bounded_and_reports_what_is_lost() {
        let mut log = RecoveryLog::new(200 * 1024);
        let line = format!("U,1,1,{}\r\n", "x".repeat(1000));
        for _ in 0..2000 {
            log.push(&line);
        }
        assert!(log.bytes <= 200 * 1024 + CHUNK);
        assert!(log.oldest() > 0);
        let mut out = String::new();
        assert_eq!(log.replay_from(0, &mut out), None);
        let from = log.oldest();
        assert_eq!(
            log.replay_from(from, &mut out),
            Some((2000 - from) as usize)
        );
        assert_eq!(out.len(), (2000 - from) as usize * line.len());
    }

    /// Lines pushed together are the lines pushed one by one: within a chunk, across
    /// chunk boundaries, longer than a chunk, with a disabled log, and replayed from
    /// anywhere.
    #[test]
    fn lines_pushed_together_are_lines_pushed_one_by_one() {
        for max in [0, 3 * CHUNK, 1 << 20] {
            let (mut one, mut all) = (RecoveryLog::new(max), RecoveryLog::new(max));
            let mut n = 0;
            for batch in 0..400 {
                let mut text = String::new();
                let mut ends = Vec::new();
                for _ in 0..(batch % 37 + 1) {
                    // Now and then a line longer than a chunk.
                    let len = if n % 157 == 5 { CHUNK + n % 7 } else { n % 300 };
                    let line = format!("U,1,1,{n}|{}\r\n", "x".repeat(len));
                    one.push(&line);
                    text.push_str(&line);
                    ends.push(text.len() as u32);
                    n += 1;
                }
                all.push_lines(&text, &ends);
                assert_eq!((all.count(), all.oldest()), (one.count(), one.oldest()));
            }
            for from in (0..=n as u64).step_by(97) {
                let (mut a, mut b) = (String::new(), String::new());
                assert_eq!(all.replay_from(from, &mut a), one.replay_from(from, &mut b));
                assert_eq!(a, b, "from {from}");
            }
        }
    }

    #[test]
    fn disabled_log_still_counts() {
        let mut log = RecoveryLog::new(0);
        log.push("U,1,1,a\r\n");
        assert_eq!(log.count(), 1);
        let mut out = String::new();
        assert_eq!(log.replay_from(0, &mut out), None);
        assert_eq!(log.replay_from(1, &mut out), Some(0));
    }

    #[test]
    fn oversized_line_gets_its_own_chunk() {
        let mut log = RecoveryLog::new(1 << 20);
        log.push("a\r\n");
        let big = "b".repeat(CHUNK * 2);
        log.push(&big);
        log.push("c\r\n");
        let mut out = String::new();
        assert_eq!(log.replay_from(1, &mut out), Some(2));
        assert!(out.starts_with("bbb") && out.ends_with("c\r\n"));
    }
}
