//! Incremental line decoder: bytes in arbitrary chunks in, complete lines out.
//!
//! TLCP lines end with CRLF, on both transports: a WebSocket message may carry many lines,
//! and an HTTP (chunked) body may split a line anywhere, even inside a UTF-8 sequence or a
//! `%XX` escape. [`LineDecoder`] reassembles lines without caring: it works on bytes, and
//! UTF-8 is checked later, once per complete line
//! ([`Notification::parse_bytes`](crate::Notification::parse_bytes)).
//!
//! ```
//! use tlcp_proto::{LineDecoder, Notification};
//!
//! let mut dec = LineDecoder::default();
//! let mut seen = Vec::new();
//! for chunk in [&b"PROBE\r\nU,1,1,a|"[..], b"b\r\nLOOP,0\r\n"] {
//!     let mut chunk = chunk;
//!     while let Some(line) = dec.next_line(&mut chunk).unwrap() {
//!         seen.push(Notification::parse_bytes(line).unwrap().tag().to_owned());
//!     }
//! }
//! assert_eq!(seen, ["PROBE", "U", "LOOP"]);
//! assert_eq!(dec.pending_len(), 0);
//! ```

#[cfg(test)]
mod tests;

/// The default maximum line length of [`LineDecoder::default`]: 4 MiB.
pub const DEFAULT_MAX_LINE_LEN: usize = 4 * 1024 * 1024;

/// Smallest capacity given to the reassembly buffer when it first grows.
const MIN_BUFFER: usize = 64;

/// A framing error. The decoder stays usable: decoding continues with the next line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A line longer than the configured maximum. It was (or will be, up to its LF)
    /// discarded; this error is reported once for it.
    #[error("line longer than the limit of {limit} bytes ({seen} bytes seen)")]
    LineTooLong {
        /// The configured maximum line length, in bytes (line end excluded).
        limit: usize,
        /// How many bytes of the line had arrived when it was found too long (its full
        /// length when it arrived in one chunk).
        seen: usize,
    },
}

/// Splits a byte stream into lines, whatever the chunking.
///
/// # Contract
///
/// * Feed every chunk, in order, to [`next_line`](Self::next_line) and call it until it
///   returns `Ok(None)`: that means the chunk is used up (the slice is then empty), and any
///   unterminated tail is kept for the next chunk.
/// * Lines are yielded without their line end. A line ends at LF; a CR just before the LF
///   is removed too (CRLF is the TLCP line end, a bare LF is tolerated). Any other CR stays
///   in the line. Empty lines are yielded as empty slices; callers may skip them.
/// * A line lying entirely in the current chunk is yielded **borrowed from the chunk**
///   (zero copy). Only a line that spans chunks is assembled in an internal buffer, which
///   keeps its capacity across lines and [`reset`](Self::reset)s: no allocation in steady
///   state.
/// * A line longer than the maximum (in bytes, line end excluded) gives one
///   [`FrameError::LineTooLong`]; the line is dropped up to its LF and decoding goes on with
///   the next line at the next call. The buffer never holds more than `max_line_len + 1`
///   bytes (room for the CR of a CRLF split from its LF), so a peer cannot make it grow
///   without bound.
/// * At the end of a stream, [`pending_len`](Self::pending_len) tells whether a partial line
///   was left (a truncated stream; TLCP says bytes after a final `LOOP` or `END` may be
///   ignored). Call [`reset`](Self::reset) before using the decoder on another connection.
///
/// The returned line borrows the decoder mutably, so it must be used (or copied) before the
/// next call: the usual loop is
/// `while let Some(line) = dec.next_line(&mut chunk)? { ... }`, or a `loop` with a `match`
/// to log a [`FrameError`] and keep going.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    /// A partial line carried over from previous chunks, or the assembled line last
    /// yielded (state [`State::Yielded`]).
    buf: Vec<u8>,
    max_line_len: usize,
    state: State,
    /// The first bytes of the line last reported too long (its tag and first arguments).
    dropped_head: [u8; DROPPED_HEAD],
    dropped_len: u8,
}

/// How many leading bytes of a too-long line are kept for [`LineDecoder::dropped_line_head`].
const DROPPED_HEAD: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `buf` holds the partial line (possibly empty).
    Idle,
    /// `buf` holds the line last yielded: clear it first.
    Yielded,
    /// Inside a line found too long: drop bytes up to the next LF.
    Discarding,
}

impl Default for LineDecoder {
    /// A decoder with the [`DEFAULT_MAX_LINE_LEN`] limit.
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE_LEN)
    }
}

impl LineDecoder {
    /// A decoder that rejects lines longer than `max_line_len` bytes (line end excluded).
    ///
    /// Nothing is allocated until a line spans two chunks.
    pub const fn new(max_line_len: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_line_len,
            state: State::Idle,
            dropped_head: [0; DROPPED_HEAD],
            dropped_len: 0,
        }
    }

    /// The first bytes (up to 32) of the line last reported as
    /// [`FrameError::LineTooLong`]: enough to read its tag and first arguments, so that a
    /// client can still count a dropped data notification for session recovery and know
    /// which subscription lost an update.
    pub fn dropped_line_head(&self) -> &[u8] {
        &self.dropped_head[..usize::from(self.dropped_len)]
    }

    /// The maximum line length, in bytes.
    pub const fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    /// Number of bytes of an unterminated line waiting for the next chunk.
    ///
    /// It is 0 while an oversized line is being discarded (see
    /// [`is_discarding`](Self::is_discarding)).
    pub fn pending_len(&self) -> usize {
        match self.state {
            State::Idle => self.buf.len(),
            State::Yielded | State::Discarding => 0,
        }
    }

    /// Whether the decoder is dropping the rest of an oversized line (already reported).
    pub fn is_discarding(&self) -> bool {
        self.state == State::Discarding
    }

    /// Forgets any partial line and any line being discarded, keeping the buffer's
    /// capacity: for reuse on a new connection.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.state = State::Idle;
    }

    /// Takes the next complete line from `input`, advancing `input` past it.
    ///
    /// Returns `Ok(None)` when `input` is used up (it is then empty); an unterminated tail
    /// has been kept. On `Err`, `input` has been advanced past what was dropped: call
    /// again to go on. See the [type documentation](Self) for the whole contract.
    pub fn next_line<'s, 'c: 's>(
        &'s mut self,
        input: &mut &'c [u8],
    ) -> Result<Option<&'s [u8]>, FrameError> {
        if self.state == State::Yielded {
            self.buf.clear();
            self.state = State::Idle;
        }
        loop {
            let data = *input;
            if data.is_empty() {
                return Ok(None);
            }
            let newline = memchr::memchr(b'\n', data);
            if self.state == State::Discarding {
                match newline {
                    None => *input = &[],
                    Some(i) => {
                        *input = &data[i + 1..];
                        self.state = State::Idle;
                    }
                }
                continue;
            }
            let Some(i) = newline else {
                *input = &[];
                return self.keep_partial(data).map(|()| None);
            };
            *input = &data[i + 1..];
            let part = &data[..i];
            if self.buf.is_empty() {
                // The whole line is in this chunk: lend it from there.
                let line = part.strip_suffix(b"\r").unwrap_or(part);
                return if line.len() > self.max_line_len {
                    self.keep_head(&[line]);
                    Err(self.too_long(line.len()))
                } else {
                    Ok(Some(line))
                };
            }
            let ends_with_cr = match part.last() {
                Some(&b) => b == b'\r',
                None => self.buf.last() == Some(&b'\r'),
            };
            let len = self.buf.len() + part.len() - usize::from(ends_with_cr);
            if len > self.max_line_len {
                let buf = std::mem::take(&mut self.buf);
                self.keep_head(&[&buf, part]);
                self.buf = buf;
                self.buf.clear();
                return Err(self.too_long(len));
            }
            self.append(part);
            if ends_with_cr {
                self.buf.pop();
            }
            self.state = State::Yielded;
            return Ok(Some(&self.buf));
        }
    }

    /// Stores the tail `data` (no LF in it) of an unterminated line.
    fn keep_partial(&mut self, data: &[u8]) -> Result<(), FrameError> {
        let new_len = self.buf.len() + data.len();
        let limit = self.max_line_len;
        // `limit + 1` bytes are fine only if the last one is the CR of a CRLF.
        if new_len > limit.saturating_add(1)
            || (new_len == limit.saturating_add(1) && data.last() != Some(&b'\r'))
        {
            let buf = std::mem::take(&mut self.buf);
            self.keep_head(&[&buf, data]);
            self.buf = buf;
            self.buf.clear();
            self.state = State::Discarding;
            return Err(self.too_long(new_len));
        }
        self.append(data);
        Ok(())
    }

    /// Appends to `buf`, growing it geometrically but never beyond `max_line_len + 1`.
    /// Callers have checked that the result fits in that bound.
    fn append(&mut self, bytes: &[u8]) {
        let needed = self.buf.len() + bytes.len();
        if needed > self.buf.capacity() {
            let cap = self
                .buf
                .capacity()
                .saturating_mul(2)
                .max(MIN_BUFFER)
                .min(self.max_line_len.saturating_add(1))
                .max(needed);
            self.buf.reserve_exact(cap - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Remembers the first bytes of a line being dropped, from its pieces in order.
    fn keep_head(&mut self, pieces: &[&[u8]]) {
        let mut n = 0;
        for piece in pieces {
            let take = piece.len().min(DROPPED_HEAD - n);
            self.dropped_head[n..n + take].copy_from_slice(&piece[..take]);
            n += take;
        }
        self.dropped_len = n as u8;
    }

    fn too_long(&self, seen: usize) -> FrameError {
        FrameError::LineTooLong {
            limit: self.max_line_len,
            seen,
        }
    }

    /// Capacity of the reassembly buffer (for tests of the memory bound).
    #[cfg(test)]
    fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }
}
