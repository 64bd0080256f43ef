//! Recordings of what a server sent: the inputs the driver gave the session machine
//! from the network, with their times, for offline replay ([`ClientBuilder::record_to`],
//! [`ClientBuilder::replay`]).
//!
//! # Format (version 1)
//!
//! A header line `tlcp-record 1`, then records, each a line
//! `<kind> <conn> <micros> <len>` followed by `len` bytes and a line feed:
//!
//! | kind      | meaning (input given to the machine)                              |
//! |-----------|-------------------------------------------------------------------|
//! | `meta`    | application metadata (first record, conn and micros 0), e.g. JSON |
//! | `opened`  | a WebSocket stream connection opened                              |
//! | `data`    | a chunk received on a stream connection (one socket read/message)  |
//! | `control` | the body of a control response                                    |
//! | `ended`   | a connection ended cleanly                                        |
//! | `failed`  | a connection failed; the bytes are the reason                     |
//! | `timeout` | the machine's timer fired                                         |
//! | `paused`  | reading paused (back-pressure): the machine's silence timers stop |
//! | `resumed` | reading resumed                                                   |
//!
//! `conn` is the number of the machine's connection ([`ConnId::get`]), `micros` the
//! time given to the machine, in microseconds from the start of the client. Every read
//! keeps its boundaries, so a replay feeds the machine exactly the same chunks.
//!
//! **What a recording holds.** Only what the server sent: no request (requests carry
//! the password and the session id). Server lines are kept as received, so a recording
//! holds the session id (in `CONOK`), useless once the session is over, and the data of
//! the subscribed items.
//!
//! [`ClientBuilder::record_to`]: crate::ClientBuilder::record_to
//! [`ClientBuilder::replay`]: crate::ClientBuilder::replay
//! [`ConnId::get`]: tlcp_proto::client::ConnId::get

use std::fmt;
use std::io::{self, Write};
use std::time::Instant;

/// The first line of a recording.
pub const MAGIC: &str = "tlcp-record 1";

/// Records longer than this are taken as corruption.
const MAX_RECORD: usize = 64 << 20;

/// What a record is (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// Application metadata.
    Meta,
    /// A WebSocket stream connection opened.
    Opened,
    /// A received chunk.
    Data,
    /// A control response body.
    Control,
    /// A connection ended cleanly.
    Ended,
    /// A connection failed (the data is the reason).
    Failed,
    /// The timer fired.
    Timeout,
    /// Reading paused (back-pressure): the machine was told
    /// ([`ClientSession::pause_reading`](tlcp_proto::client::ClientSession::pause_reading)).
    Paused,
    /// Reading resumed.
    Resumed,
}

impl RecordKind {
    const ALL: [RecordKind; 9] = [
        Self::Meta,
        Self::Opened,
        Self::Data,
        Self::Control,
        Self::Ended,
        Self::Failed,
        Self::Timeout,
        Self::Paused,
        Self::Resumed,
    ];

    /// The name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Meta => "meta",
            Self::Opened => "opened",
            Self::Data => "data",
            Self::Control => "control",
            Self::Ended => "ended",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::Paused => "paused",
            Self::Resumed => "resumed",
        }
    }
}

/// One record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What it is.
    pub kind: RecordKind,
    /// The machine's connection number (0 when none).
    pub conn: u64,
    /// Microseconds from the start.
    pub micros: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

/// A recording read back: its metadata and records (the `meta` record excluded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recording {
    /// The application metadata (empty when the file has none).
    pub meta: Vec<u8>,
    /// The inputs, in order.
    pub records: Vec<Record>,
}

/// Why a recording cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a valid tlcp recording (byte {}): {}",
            self.offset, self.message
        )
    }
}

impl std::error::Error for FormatError {}

impl Recording {
    /// Parses a whole recording. A truncated or corrupt file is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let err = |offset: usize, message: &str| FormatError {
            offset,
            message: message.to_owned(),
        };
        let header = format!("{MAGIC}\n");
        if !bytes.starts_with(header.as_bytes()) {
            return Err(err(0, "missing the `tlcp-record 1` header"));
        }
        let mut pos = header.len();
        let mut out = Recording::default();
        while pos < bytes.len() {
            let line_end = bytes[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| pos + i)
                .ok_or_else(|| err(pos, "truncated record header"))?;
            let line = std::str::from_utf8(&bytes[pos..line_end])
                .map_err(|_| err(pos, "record header is not text"))?;
            let parts: Vec<&str> = line.split(' ').collect();
            let [kind, conn, micros, len] = parts[..] else {
                return Err(err(
                    pos,
                    "record header is not `<kind> <conn> <micros> <len>`",
                ));
            };
            let kind = RecordKind::ALL
                .into_iter()
                .find(|k| k.name() == kind)
                .ok_or_else(|| err(pos, &format!("unknown record kind {kind:?}")))?;
            let num = |s: &str| s.parse::<u64>().map_err(|_| err(pos, "bad number"));
            let (conn, micros, len) = (num(conn)?, num(micros)?, num(len)?);
            let len = usize::try_from(len)
                .ok()
                .filter(|&l| l <= MAX_RECORD)
                .ok_or_else(|| err(pos, "record too long"))?;
            let start = line_end + 1;
            let end = start + len;
            if end >= bytes.len() {
                return Err(err(pos, "truncated record"));
            }
            if bytes[end] != b'\n' {
                return Err(err(end, "record not followed by a line feed"));
            }
            let data = bytes[start..end].to_vec();
            if kind == RecordKind::Meta {
                out.meta = data;
            } else {
                out.records.push(Record {
                    kind,
                    conn,
                    micros,
                    data,
                });
            }
            pos = end + 1;
        }
        Ok(out)
    }
}

/// Writes records (buffered: call [`flush`](Self::flush) at quiet moments; dropping
/// flushes too).
pub struct Recorder {
    out: io::BufWriter<Box<dyn Write + Send>>,
    start: Instant,
    failed: bool,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Recorder {
    /// Starts a recording on `out`: writes the header and the metadata now.
    pub fn new(out: impl Write + Send + 'static, meta: &[u8]) -> io::Result<Self> {
        let mut r = Self {
            out: io::BufWriter::with_capacity(64 << 10, Box::new(out)),
            start: Instant::now(),
            failed: false,
        };
        writeln!(r.out, "{MAGIC}")?;
        r.write_raw(RecordKind::Meta, 0, 0, meta)?;
        r.out.flush()?;
        Ok(r)
    }

    /// The instant times are counted from.
    pub fn start(&self) -> Instant {
        self.start
    }

    fn write_raw(
        &mut self,
        kind: RecordKind,
        conn: u64,
        micros: u64,
        data: &[u8],
    ) -> io::Result<()> {
        writeln!(self.out, "{} {conn} {micros} {}", kind.name(), data.len())?;
        self.out.write_all(data)?;
        self.out.write_all(b"\n")
    }

    /// Writes a record for an input given to the machine at `now`. A write error is
    /// logged once and ends the recording (the session goes on).
    pub fn record(&mut self, kind: RecordKind, conn: u64, now: Instant, data: &[u8]) {
        if self.failed {
            return;
        }
        let micros = now.saturating_duration_since(self.start).as_micros() as u64;
        if let Err(e) = self.write_raw(kind, conn, micros, data) {
            tracing::warn!(error = %e, "recording failed: no more records are written");
            self.failed = true;
        }
    }

    /// Flushes what was written.
    pub fn flush(&mut self) {
        if !self.failed
            && let Err(e) = self.out.flush()
        {
            tracing::warn!(error = %e, "recording failed: no more records are written");
            self.failed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn round_trip() {
        let buf = Buf::default();
        let mut r = Recorder::new(buf.clone(), b"{\"x\":1}").unwrap();
        let t = r.start();
        r.record(RecordKind::Opened, 1, t, b"");
        r.record(
            RecordKind::Data,
            1,
            t + std::time::Duration::from_micros(1500),
            b"CONOK,S1,50000,5000,*\r\n",
        );
        r.record(RecordKind::Data, 1, t, b"line\nwith\nline feeds\n");
        r.record(RecordKind::Control, 2, t, b"REQOK,1\r\n");
        r.record(RecordKind::Failed, 3, t, b"refused");
        r.record(RecordKind::Timeout, 0, t, b"");
        r.record(RecordKind::Ended, 1, t, b"");
        r.flush();
        drop(r);
        let bytes = buf.0.lock().unwrap().clone();
        let rec = Recording::parse(&bytes).unwrap();
        assert_eq!(rec.meta, b"{\"x\":1}");
        let kinds: Vec<_> = rec.records.iter().map(|r| r.kind).collect();
        use RecordKind::*;
        assert_eq!(kinds, [Opened, Data, Data, Control, Failed, Timeout, Ended]);
        assert_eq!(rec.records[1].micros, 1500);
        assert_eq!(rec.records[1].data, b"CONOK,S1,50000,5000,*\r\n");
        assert_eq!(rec.records[2].data, b"line\nwith\nline feeds\n");
        assert_eq!(rec.records[3].conn, 2);
        // Every truncation is detected.
        for cut in 0..bytes.len() {
            let r = Recording::parse(&bytes[..cut]);
            let whole_records = r.is_ok();
            if whole_records {
                // Only at record boundaries.
                assert!(cut == 0 || bytes[cut - 1] == b'\n', "cut {cut}");
            }
        }
        assert!(Recording::parse(b"garbage").is_err());
        assert!(Recording::parse(b"tlcp-record 1\nbogus 1 2 3\nabc\n").is_err());
        assert!(Recording::parse(b"tlcp-record 1\ndata 1 2 5\nabc\n").is_err());
    }
}
