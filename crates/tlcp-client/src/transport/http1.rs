//! The bits of HTTP/1.1 the stream connection and the WebSocket upgrade read by hand:
//! request heads, response heads, and an incremental body decoder (chunked,
//! content-length or close-delimited) that hands out ranges of its input, never copying.

use std::ops::Range;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::TransportError;
use super::error::excerpt;

/// Longest response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Longest chunk-size line (or trailer line) accepted.
const MAX_LINE: usize = 4 * 1024;
/// How much of an error body is kept for the error message.
pub(crate) const EXCERPT_LEN: usize = 300;

/// Writes a request head: request line, `Host`, the given headers, and the blank line.
pub(crate) fn request_head(
    method: &str,
    target: &str,
    host: &str,
    headers: &[(HeaderName, HeaderValue)],
) -> Vec<u8> {
    let mut head = Vec::with_capacity(256);
    for part in [method, " ", target, " HTTP/1.1\r\nHost: ", host, "\r\n"] {
        head.extend_from_slice(part.as_bytes());
    }
    for (name, value) in headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    /// The status code.
    pub(crate) status: u16,
    /// The headers, names lower-cased, in order.
    headers: Vec<(String, Vec<u8>)>,
}

impl ResponseHead {
    /// The first value of header `name` (lower case).
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of header `name` (lower case).
    pub(crate) fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Whether a comma-separated header contains `token` (case-insensitive).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers(name).any(|v| {
            v.split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    }

    /// How the body is delimited.
    pub(crate) fn framing(&self) -> Result<BodyDecoder, TransportError> {
        if let Some(te) = self.header("transfer-encoding") {
            let last = te.rsplit(|b| *b == b',').next().unwrap_or_default();
            return if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                Ok(BodyDecoder::chunked())
            } else {
                Ok(BodyDecoder::until_close())
            };
        }
        match self.header("content-length") {
            Some(v) => std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(BodyDecoder::length)
                .ok_or_else(|| TransportError::protocol("invalid Content-Length")),
            None => Ok(BodyDecoder::until_close()),
        }
    }
}

/// Reads a response head from `io`. `buf` may already hold the start of the response;
/// when this returns, it holds what followed the head.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
) -> Result<ResponseHead, TransportError> {
    let mut tmp = [0u8; 4096];
    loop {
        if let Some((head, len)) = parse_head(buf)? {
            buf.drain(..len);
            return Ok(head);
        }
        if buf.len() > MAX_HEAD {
            return Err(TransportError::protocol("response head longer than 16 KiB"));
        }
        let n = io.read(&mut tmp).await?;
        if n == 0 {
            return Err(TransportError::protocol(
                "connection closed before the response head",
            ));
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn parse_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, TransportError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let head = ResponseHead {
                status: resp.code.unwrap_or(0),
                headers: resp
                    .headers
                    .iter()
                    .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                    .collect(),
            };
            Ok(Some((head, len)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(TransportError::protocol(format!(
            "invalid response head: {e}"
        ))),
    }
}

/// Reads the beginning of the body of an error response, for the error message: at most
/// [`EXCERPT_LEN`] bytes, within `limit` of time. Never fails: what could be read is kept.
pub(crate) async fn read_excerpt<S: AsyncRead + Unpin>(
    io: &mut S,
    head: &ResponseHead,
    mut buf: Vec<u8>,
    limit: Duration,
) -> String {
    let Ok(mut decoder) = head.framing() else {
        return String::new();
    };
    let mut body = Vec::new();
    let collect = async {
        let mut tmp = [0u8; 1024];
        loop {
            loop {
                match decoder.decode(&buf) {
                    Ok((used, Step::Data(r))) => {
                        body.extend_from_slice(&buf[r]);
                        buf.drain(..used);
                    }
                    Ok((used, _)) if used > 0 => {
                        buf.drain(..used);
                    }
                    Ok((_, Step::NeedMore)) => break,
                    _ => return,
                }
                if body.len() >= EXCERPT_LEN {
                    return;
                }
            }
            match io.read(&mut tmp).await {
                Ok(n) if n > 0 => buf.extend_from_slice(&tmp[..n]),
                _ => return,
            }
        }
    };
    let _ = tokio::time::timeout(limit, collect).await;
    excerpt(&body, EXCERPT_LEN)
}

/// What [`BodyDecoder::decode`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Body data, at this range of the input.
    Data(Range<usize>),
    /// The input holds no (more) body data: read more.
    NeedMore,
    /// The body is complete.
    Done,
}

/// An incremental HTTP/1.1 body decoder (sans-IO).
#[derive(Debug, Clone)]
pub(crate) struct BodyDecoder {
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `Content-Length` framing: bytes left.
    Length(u64),
    /// No framing: the body ends when the connection does.
    UntilClose,
    /// Chunked: expecting a chunk-size line.
    ChunkSize,
    /// Chunked: bytes left in the current chunk.
    ChunkData(u64),
    /// Chunked: expecting the CRLF after a chunk's data.
    ChunkEnd,
    /// Chunked: after the last chunk, expecting trailer lines and the blank line.
    Trailers,
    /// The body is complete.
    Done,
}

impl BodyDecoder {
    /// A `Transfer-Encoding: chunked` body.
    pub(crate) fn chunked() -> Self {
        Self {
            state: State::ChunkSize,
        }
    }

    /// A body of `len` bytes.
    pub(crate) fn length(len: u64) -> Self {
        Self {
            state: State::Length(len),
        }
    }

    /// A body ended by the end of the connection.
    pub(crate) fn until_close() -> Self {
        Self {
            state: State::UntilClose,
        }
    }

    /// Decodes from `input`: returns how many bytes of it were consumed and what was found.
    /// On [`Step::Data`], the range lies within the consumed bytes. Call again (with the
    /// rest of the input) until [`Step::NeedMore`] or [`Step::Done`].
    pub(crate) fn decode(&mut self, input: &[u8]) -> Result<(usize, Step), TransportError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Done => return Ok((pos, Step::Done)),
                State::Length(0) => self.state = State::Done,
                State::Length(left) | State::ChunkData(left) => {
                    if rest.is_empty() {
                        return Ok((pos, Step::NeedMore));
                    }
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left - n as u64;
                    self.state = match self.state {
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::ChunkEnd,
                        _ => State::ChunkData(left),
                    };
                    return Ok((pos + n, Step::Data(pos..pos + n)));
                }
                State::UntilClose => {
                    if rest.is_empty() {
                        return Ok((pos, Step::NeedMore));
                    }
                    return Ok((input.len(), Step::Data(pos..input.len())));
                }
                State::ChunkSize => {
                    let Some(line) = line(rest)? else {
                        return Ok((pos, Step::NeedMore));
                    };
                    pos += line.len();
                    let size = parse_chunk_size(line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::ChunkData(size)
                    };
                }
                State::ChunkEnd => {
                    let Some(line) = line(rest)? else {
                        return Ok((pos, Step::NeedMore));
                    };
                    if line.trim_ascii().is_empty() {
                        pos += line.len();
                        self.state = State::ChunkSize;
                    } else {
                        return Err(TransportError::protocol("chunk data longer than its size"));
                    }
                }
                State::Trailers => {
                    let Some(line) = line(rest)? else {
                        return Ok((pos, Step::NeedMore));
                    };
                    pos += line.len();
                    if line.trim_ascii().is_empty() {
                        self.state = State::Done;
                    }
                }
            }
        }
    }

    /// Called when the connection ended: fine if the body is complete or delimited by the
    /// end of the connection, an error otherwise.
    pub(crate) fn finish(&mut self) -> Result<(), TransportError> {
        match self.state {
            State::Done | State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(TransportError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of the response body",
            ))),
        }
    }

    /// Whether the body is complete.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }
}

/// The first line of `input`, with its line feed, if complete.
fn line(input: &[u8]) -> Result<Option<&[u8]>, TransportError> {
    match input.iter().position(|b| *b == b'\n') {
        Some(i) => Ok(Some(&input[..=i])),
        None if input.len() > MAX_LINE => Err(TransportError::protocol(
            "chunk-size or trailer line too long",
        )),
        None => Ok(None),
    }
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, TransportError> {
    let digits = line
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let bad = || TransportError::protocol("invalid chunk size");
    if digits.is_empty() || digits.len() > 15 {
        return Err(bad());
    }
    let text = std::str::from_utf8(digits).map_err(|_| bad())?;
    u64::from_str_radix(text, 16).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Feeds `parts` one by one (as successive reads) and returns the body and whether it
    /// completed.
    fn run(mut d: BodyDecoder, parts: &[&[u8]]) -> Result<(Vec<u8>, bool), TransportError> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for p in parts {
            buf.extend_from_slice(p);
            loop {
                let (used, step) = d.decode(&buf)?;
                if let Step::Data(r) = &step {
                    out.extend_from_slice(&buf[r.clone()]);
                }
                buf.drain(..used);
                match step {
                    Step::Data(_) => {}
                    Step::NeedMore => break,
                    Step::Done => return Ok((out, true)),
                }
            }
        }
        Ok((out, d.is_done()))
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let body: &[u8] = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        assert_eq!(
            run(BodyDecoder::chunked(), &[body]).unwrap(),
            (b"hello, world".to_vec(), true)
        );
    }

    #[test]
    fn length_and_close_framing() {
        assert_eq!(
            run(BodyDecoder::length(5), &[b"he", b"llo"]).unwrap(),
            (b"hello".to_vec(), true)
        );
        let mut d = BodyDecoder::until_close();
        assert_eq!(run(d.clone(), &[b"abc"]).unwrap(), (b"abc".to_vec(), false));
        assert!(d.finish().is_ok());
        assert!(BodyDecoder::length(3).finish().is_err());
        assert!(BodyDecoder::chunked().finish().is_err());
    }

    #[test]
    fn malformed_chunks_are_errors() {
        for bad in [&b"zz\r\n"[..], b"3\r\nabcd\r\n", b"10000000000000000\r\n"] {
            assert!(run(BodyDecoder::chunked(), &[bad]).is_err(), "{bad:?}");
        }
        assert!(run(BodyDecoder::chunked(), &[&[b'1'; 5000]]).is_err());
    }

    #[test]
    fn data_is_handed_out_as_soon_as_it_arrives() {
        let mut d = BodyDecoder::chunked();
        // Half a chunk: its data comes out at once, without waiting for the rest.
        let (used, step) = d.decode(b"a\r\n01234").unwrap();
        assert_eq!((used, step), (8, Step::Data(3..8)));
        assert_eq!(d.decode(b"").unwrap(), (0, Step::NeedMore));
    }

    fn chunked(pieces: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces.iter().filter(|p| !p.is_empty()) {
            out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
            out.extend_from_slice(p);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    proptest! {
        /// Any body survives any split of the input into reads.
        #[test]
        fn any_split_decodes_the_same(
            pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..8),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let wire = chunked(&pieces);
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
            at.push(0);
            at.push(wire.len());
            at.sort_unstable();
            let parts: Vec<&[u8]> = at.windows(2).map(|w| &wire[w[0]..w[1]]).collect();
            let (body, done) = run(BodyDecoder::chunked(), &parts).unwrap();
            prop_assert!(done);
            prop_assert_eq!(body, pieces.concat());
        }
    }
}
