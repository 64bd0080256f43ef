//! HTTP stream connections: one `POST` whose response body is read as it arrives.

use std::fmt;

use tokio::io::AsyncReadExt;

use super::http1::{BodyDecoder, ResponseHead, Step};
use super::net::Io;
use super::{Chunk, FrameSource, ServerAddress, TransportError};

/// Below this much free space at the end of the buffer, it is compacted before a read.
const MIN_READ: usize = 4096;

/// A streaming HTTP response: the body of a `create_session.txt` or `bind_session.txt`
/// request, read chunk by chunk as the server sends it (never buffered whole).
///
/// Each [`Chunk`] is the part of the body that arrived with one socket read (HTTP chunk
/// boundaries are not kept: a chunk of the server's may come in several pieces, several
/// may come in one read, each a separate `Chunk` with the same instant). The data is a
/// slice of the connection's read buffer: nothing is copied.
pub struct HttpStream {
    io: Io,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    decoder: BodyDecoder,
    eof: bool,
    server: ServerAddress,
    name: String,
}

impl HttpStream {
    /// Wraps a connection whose response head was read; `rest` is what followed the head.
    pub(crate) fn new(
        io: Io,
        head: &ResponseHead,
        rest: Vec<u8>,
        buffer_size: usize,
        server: &ServerAddress,
        name: &str,
    ) -> Result<Self, TransportError> {
        let mut buf = rest;
        let end = buf.len();
        buf.resize(buffer_size.max(end + MIN_READ), 0);
        Ok(Self {
            io,
            buf,
            start: 0,
            end,
            decoder: head.framing()?,
            eof: false,
            server: server.clone(),
            name: name.to_owned(),
        })
    }

    /// Whether the whole body was received (the next [`next_chunk`](FrameSource::next_chunk)
    /// returns `Ok(None)`).
    pub fn is_finished(&self) -> bool {
        self.decoder.is_done()
    }

    /// The server this stream comes from.
    pub fn server(&self) -> &ServerAddress {
        &self.server
    }

    pub(crate) fn set_busy_poll(&mut self, on: bool) {
        self.io.set_busy_poll(on);
    }

    /// Reads more into the buffer (one read). Cancel-safe: nothing is consumed unless the
    /// read completes.
    async fn fill(&mut self) -> Result<(), TransportError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < MIN_READ {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(TransportError::protocol(
                "HTTP framing line fills the read buffer",
            ));
        }
        let n = self.io.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
        Ok(())
    }
}

impl FrameSource for HttpStream {
    async fn next_chunk(&mut self) -> Result<Option<Chunk<'_>>, TransportError> {
        let range = loop {
            let (used, step) = self.decoder.decode(&self.buf[self.start..self.end])?;
            let base = self.start;
            self.start += used;
            match step {
                Step::Data(r) => break base + r.start..base + r.end,
                Step::Done => return Ok(None),
                Step::NeedMore if self.eof => {
                    self.decoder.finish()?;
                    return Ok(None);
                }
                Step::NeedMore => self.fill().await?,
            }
        };
        Ok(Some(Chunk {
            data: &self.buf[range],
            received_at: self.io.last_read(),
        }))
    }
}

impl fmt::Debug for HttpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpStream")
            .field("server", &self.server)
            .field("request", &self.name)
            .field("buffered", &(self.end - self.start))
            .field("finished", &self.decoder.is_done())
            .finish_non_exhaustive()
    }
}
