//! A raw TLCP peer for the server's integration tests: sends requests as the wire
//! carries them and reads response/notification lines, so tests assert exact lines.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tlcp_proto::LineDecoder;
use tlcp_server::{
    AdapterSet, DataAdapter, ItemFeed, LiteralMetadata, Refusal, ServerConfig, ServerHandle,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A snapshot event: field names and values (`None` = null).
pub type Row = Vec<(&'static str, Option<String>)>;

/// Snapshot events by item.
pub type Snapshots = Arc<Mutex<Vec<(String, Vec<Row>)>>>;

/// A data adapter whose feeds the test drives by hand.
#[derive(Default, Clone)]
pub struct Manual {
    pub feeds: Arc<Mutex<Vec<(String, ItemFeed)>>>,
    pub unsubscribed: Arc<Mutex<Vec<String>>>,
    /// Snapshot events pushed by `subscribe` (then the end of the snapshot), by item.
    pub snapshots: Snapshots,
}

impl DataAdapter for Manual {
    fn subscribe(&self, item: &str, feed: ItemFeed) -> Result<(), Refusal> {
        if item.starts_with("bad") {
            return Err(Refusal::new(-7, "item refused by the test adapter"));
        }
        self.feeds
            .lock()
            .unwrap()
            .push((item.to_owned(), feed.clone()));
        // Like a real adapter, push the snapshot from `subscribe`.
        if let Some((_, rows)) = self
            .snapshots
            .lock()
            .unwrap()
            .iter()
            .find(|(i, _)| i == item)
        {
            for row in rows {
                feed.snapshot(&update_of(row));
            }
            feed.end_of_snapshot();
        }
        Ok(())
    }
    fn unsubscribe(&self, item: &str) {
        self.unsubscribed.lock().unwrap().push(item.to_owned());
    }
}

impl Manual {
    pub fn feed(&self, item: &str) -> ItemFeed {
        self.feeds
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(i, _)| i == item)
            .map(|(_, f)| f.clone())
            .unwrap_or_else(|| panic!("item {item} was not subscribed"))
    }

    pub async fn wait_feed(&self, item: &str) -> ItemFeed {
        for _ in 0..500 {
            if let Some(f) = self
                .feeds
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|(i, _)| i == item)
            {
                return f.1.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("item {item} was never subscribed");
    }

    /// `item`, when subscribed, pushes `rows` as its snapshot.
    pub fn seed(&self, item: &str, rows: Vec<Row>) {
        self.snapshots.lock().unwrap().push((item.to_owned(), rows));
    }

    pub fn push(&self, item: &str, fields: &[(&str, Option<&str>)]) {
        let mut u = tlcp_server::Update::new();
        for (k, v) in fields {
            match v {
                Some(v) => u.set(k, v),
                None => u.set_null(k),
            };
        }
        self.feed(item).update(&u);
    }
}

fn update_of(row: &[(&str, Option<String>)]) -> tlcp_server::Update {
    let mut u = tlcp_server::Update::new();
    for (k, v) in row {
        match v {
            Some(v) => u.set(k, v),
            None => u.set_null(k),
        };
    }
    u
}

/// The configuration for tests that assert exact lines: no `^T`/`^P` diffs.
pub fn config() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.diff_encodings = false;
    c
}

/// A server on a loopback port with the demo adapters plus a `TEST` set whose
/// `DEFAULT` data adapter is driven by hand.
pub async fn start(config: ServerConfig) -> (ServerHandle, Manual) {
    let manual = Manual::default();
    let adapters = tlcp_server::demo::demo_adapters(Default::default()).with_set(
        "TEST",
        AdapterSet::new(LiteralMetadata).with_data_adapter("DEFAULT", manual.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    (
        tlcp_server::spawn(listener, config, adapters).unwrap(),
        manual,
    )
}

type Ws = tokio_websockets::WebSocketStream<tokio_websockets::MaybeTlsStream<TcpStream>>;

/// A raw WebSocket TLCP connection.
pub struct WsPeer {
    ws: Ws,
    lines: VecDeque<String>,
    pub log: Vec<String>,
}

impl WsPeer {
    pub async fn connect(server: &ServerHandle, version: &str) -> Self {
        let uri: http::Uri = format!("ws://{}/lightstreamer", server.local_addr())
            .parse()
            .unwrap();
        let (ws, _) = tokio_websockets::ClientBuilder::from_uri(uri)
            .add_header(
                http::header::SEC_WEBSOCKET_PROTOCOL,
                http::HeaderValue::from_str(&format!("TLCP-{version}.lightstreamer.com")).unwrap(),
            )
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self {
            ws,
            lines: VecDeque::new(),
            log: Vec::new(),
        }
    }

    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(tokio_websockets::Message::text(text.to_owned()))
            .await
            .unwrap();
    }

    /// The next line, or `None` if the connection closed.
    pub async fn next_line(&mut self) -> Option<String> {
        loop {
            if let Some(l) = self.lines.pop_front() {
                self.log.push(l.clone());
                return Some(l);
            }
            let msg = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no line within {TIMEOUT:?}; seen: {:#?}", self.log))?;
            let msg = msg.ok()?;
            if let Some(t) = msg.as_text() {
                assert!(
                    t.ends_with("\r\n"),
                    "WS message not made of whole lines: {t:?}"
                );
                for l in t.split("\r\n").filter(|l| !l.is_empty()) {
                    self.lines.push_back(l.to_owned());
                }
            } else if msg.is_close() {
                return None;
            }
        }
    }

    /// Reads lines until one starts with `prefix` (skipping PROBE/SYNC and any other line).
    pub async fn expect(&mut self, prefix: &str) -> String {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {prefix:?} within {TIMEOUT:?}; seen: {:#?}",
                self.log
            );
            match self.next_line().await {
                Some(l) if l.starts_with(prefix) => return l,
                Some(_) => {}
                None => panic!(
                    "connection closed waiting for {prefix:?}; seen: {:#?}",
                    self.log
                ),
            }
        }
    }

    /// Reads the next line that is not PROBE/SYNC/NOOP and asserts it equals `line`.
    pub async fn expect_exact(&mut self, line: &str) {
        loop {
            let l = self
                .next_line()
                .await
                .unwrap_or_else(|| panic!("closed waiting for {line:?}; seen {:#?}", self.log));
            if l == "PROBE" || l.starts_with("SYNC,") || l.starts_with("NOOP,") {
                continue;
            }
            assert_eq!(l, line, "seen: {:#?}", self.log);
            return;
        }
    }

    /// Opens a session with `wsok` + `create_session`; returns the session id.
    pub async fn create(&mut self, params: &str) -> String {
        self.send("wsok").await;
        self.send(&format!(
            "create_session\r\nLS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&{params}"
        ))
        .await;
        self.expect_exact("WSOK").await;
        let conok = self.expect("CONOK,").await;
        self.expect("CONS,").await;
        conok.split(',').nth(1).unwrap().to_owned()
    }
}

/// The `LS_cid` the tests send.
pub const CID: &str = "LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg";

/// An HTTP `create_session` (TLCP 2.5.0) with `params` (the adapter set among them):
/// its stream, read past `CONOK` and `CONS`, and the session id.
pub async fn http_create(server: &ServerHandle, params: &str) -> (HttpPeer, String) {
    let mut s = HttpPeer::post(
        server,
        "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0",
        &format!("{CID}&{params}"),
    )
    .await;
    assert_eq!(s.status, 200);
    let conok = s.expect("CONOK,").await;
    let sid = conok.split(',').nth(1).unwrap().to_owned();
    s.expect("CONS,").await;
    (s, sid)
}

/// One raw HTTP/1.1 request on a fresh connection; returns the status and a line reader
/// over the (possibly chunked, possibly endless) body.
pub struct HttpPeer {
    tcp: TcpStream,
    pub status: u16,
    chunked: bool,
    remaining_in_chunk: usize,
    dec: LineDecoder,
    buf: Vec<u8>,
    pub log: Vec<String>,
    pending: VecDeque<String>,
    ended: bool,
}

impl HttpPeer {
    pub async fn post(server: &ServerHandle, path: &str, body: &str) -> Self {
        Self::request(server, "POST", path, body, false).await
    }

    /// A request of any method; `keep_alive` leaves the connection to the server to
    /// close (no `Connection: close`).
    pub async fn request(
        server: &ServerHandle,
        method: &str,
        path: &str,
        body: &str,
        keep_alive: bool,
    ) -> Self {
        let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
        let connection = if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        };
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{connection}\r\n{body}",
            body.len()
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut b))
                .await
                .unwrap()
                .unwrap();
            assert!(n == 1, "connection closed in headers");
            head.push(b[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let status = head[9..12].parse().unwrap();
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        Self {
            tcp,
            status,
            chunked,
            remaining_in_chunk: 0,
            dec: LineDecoder::new(1 << 20),
            buf: Vec::new(),
            log: Vec::new(),
            pending: VecDeque::new(),
            ended: false,
        }
    }

    async fn fill(&mut self) -> bool {
        let mut tmp = vec![0u8; 65536];
        let n = tokio::time::timeout(TIMEOUT, self.tcp.read(&mut tmp))
            .await
            .unwrap_or_else(|_| panic!("no data within {TIMEOUT:?}; seen: {:#?}", self.log))
            .unwrap_or(0);
        if n == 0 {
            return false;
        }
        self.buf.extend_from_slice(&tmp[..n]);
        true
    }

    /// Body bytes: de-chunks when needed.
    async fn body_bytes(&mut self) -> Option<Vec<u8>> {
        if !self.chunked {
            if self.buf.is_empty() && !self.fill().await {
                return None;
            }
            return Some(std::mem::take(&mut self.buf));
        }
        loop {
            if self.remaining_in_chunk > 0 {
                if self.buf.is_empty() && !self.fill().await {
                    return None;
                }
                let n = self.remaining_in_chunk.min(self.buf.len());
                self.remaining_in_chunk -= n;
                let out: Vec<u8> = self.buf.drain(..n).collect();
                if self.remaining_in_chunk == 0 {
                    while self.buf.len() < 2 {
                        if !self.fill().await {
                            return Some(out);
                        }
                    }
                    self.buf.drain(..2);
                }
                return Some(out);
            }
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let size = usize::from_str_radix(
                    std::str::from_utf8(&self.buf[..pos]).unwrap().trim(),
                    16,
                )
                .unwrap();
                self.buf.drain(..pos + 2);
                if size == 0 {
                    self.ended = true;
                    return None;
                }
                self.remaining_in_chunk = size;
                continue;
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    pub async fn next_line(&mut self) -> Option<String> {
        loop {
            if let Some(l) = self.pending.pop_front() {
                self.log.push(l.clone());
                return Some(l);
            }
            if self.ended {
                return None;
            }
            let bytes = self.body_bytes().await?;
            let mut input: &[u8] = &bytes;
            while let Some(line) = self.dec.next_line(&mut input).unwrap() {
                self.pending
                    .push_back(String::from_utf8(line.to_vec()).unwrap());
            }
        }
    }

    pub async fn expect(&mut self, prefix: &str) -> String {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {prefix:?} within {TIMEOUT:?}; seen: {:#?}",
                self.log
            );
            match self.next_line().await {
                Some(l) if l.starts_with(prefix) => return l,
                Some(_) => {}
                None => panic!("body ended waiting for {prefix:?}; seen: {:#?}", self.log),
            }
        }
    }

    /// Every remaining line until the body ends.
    pub async fn rest(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(l) = self.next_line().await {
            v.push(l);
        }
        v
    }

    /// Whether the server closes the connection within `wait` (once the body is over).
    pub async fn closed_by_server(&mut self, wait: Duration) -> bool {
        let mut b = [0u8; 64];
        matches!(
            tokio::time::timeout(wait, self.tcp.read(&mut b)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    /// Whether the body ended with the chunked terminator (vs. the connection cut).
    pub fn ended_cleanly(&self) -> bool {
        self.ended || !self.chunked
    }
}

/// Posts a control/msg request and returns the whole response body's lines.
pub async fn control(server: &ServerHandle, name: &str, query: &str, body: &str) -> Vec<String> {
    let mut p = HttpPeer::post(
        server,
        &format!("/lightstreamer/{name}.txt?LS_protocol=TLCP-2.5.0{query}"),
        body,
    )
    .await;
    assert_eq!(p.status, 200);
    p.rest().await
}
