//! A scripted TLCP peer: a WebSocket server on a loopback port that answers a client's
//! session and subscription requests the simplest way (`CONOK`, `REQOK`, `SUBOK`), and
//! otherwise sends only what the test tells it to, byte for byte: the way to test a
//! client against lines no real server sends (hostile input), and to measure a client
//! alone ([`ScriptedPeer::blasting`]: pre-encoded updates as fast as the socket takes
//! them, so that the server side costs next to nothing).
//!
//! ```no_run
//! # async fn demo() {
//! use tlcp_testkit::scripted::ScriptedPeer;
//! let mut peer = ScriptedPeer::start(2).await;
//! // ... connect a client to `peer.url()` over WebSocket and subscribe, then:
//! let sub = peer.sub().await;
//! peer.send(format!("U,{sub},1,a|b\r\n"));
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_websockets::Message;

/// Bytes of updates per frame a blasting peer sends (about).
const FRAME: usize = 64 * 1024;

/// The handle of a scripted peer (see the [module](self) documentation). It serves the
/// first connection it accepts; dropping the handle does not stop it (it ends with the
/// runtime or when the client disconnects).
#[derive(Debug)]
pub struct ScriptedPeer {
    addr: SocketAddr,
    out: mpsc::UnboundedSender<Message>,
    sub_id: watch::Receiver<Option<u32>>,
    requests: watch::Receiver<Vec<String>>,
    updates_sent: Arc<AtomicU64>,
}

/// What the peer does after `SUBOK`.
#[derive(Clone)]
enum Script {
    /// Sends what [`ScriptedPeer::send`] is given.
    Manual,
    /// Sends `U` lines of item 1 of the subscription: `first`, then `cycle` over and over.
    Blast { first: String, cycle: Arc<[String]> },
}

impl ScriptedPeer {
    /// A peer whose subscriptions have `fields` fields (as its `SUBOK` says), sending
    /// only what it is given.
    pub async fn start(fields: usize) -> Self {
        Self::spawn(fields, Script::Manual).await
    }

    /// A peer that, once the client subscribed, sends the value lists `first` and then
    /// `cycle`, over and over, as `U` lines of item 1 of the (first) subscription, in
    /// frames of about 64 KiB, as fast as the client reads them. `cycle` must bring the
    /// row back to what `first` made it, so that every repetition decodes (see
    /// [`feed_cycle`]).
    pub async fn blasting(fields: usize, first: String, cycle: Vec<String>) -> Self {
        Self::spawn(
            fields,
            Script::Blast {
                first,
                cycle: cycle.into(),
            },
        )
        .await
    }

    async fn spawn(fields: usize, script: Script) -> Self {
        // Loopback only.
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the scripted peer");
        let addr = listener.local_addr().expect("the peer's address");
        let (out, rx) = mpsc::unbounded_channel::<Message>();
        let (sub_tx, sub_id) = watch::channel(None);
        let (req_tx, requests) = watch::channel(Vec::new());
        let updates_sent = Arc::new(AtomicU64::new(0));
        let replies = out.clone();
        let sent = updates_sent.clone();
        tokio::spawn(async move {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let Some(tcp) = upgrade(tcp).await else {
                return;
            };
            let ws = tokio_websockets::ServerBuilder::new().serve(tcp);
            let (sink, mut stream) = ws.split();
            tokio::spawn(write(sink, rx, sub_tx.subscribe(), script, sent));
            while let Some(Ok(m)) = stream.next().await {
                let Some(text) = m.as_text() else { continue };
                req_tx.send_modify(|r| r.push(text.to_owned()));
                answer(text, fields, &replies, &sub_tx);
            }
        });
        Self {
            addr,
            out,
            sub_id,
            requests,
            updates_sent,
        }
    }

    /// The peer's address (loopback).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server address to give a client: `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends `text` as a text message (several lines, part of a line: anything).
    pub fn send(&self, text: impl Into<String>) {
        // (The connection may be gone: nothing to do then.)
        let _ = self.out.send(Message::text(text.into()));
    }

    /// Sends `bytes` as a binary message (which a TLCP client must not accept as text).
    pub fn send_bytes(&self, bytes: Vec<u8>) {
        let _ = self.out.send(Message::binary(bytes));
    }

    /// The wire id of the live subscription, waiting for the client to subscribe.
    pub async fn sub(&mut self) -> u32 {
        loop {
            if let Some(s) = *self.sub_id.borrow_and_update() {
                return s;
            }
            if self.sub_id.changed().await.is_err() {
                return 0;
            }
        }
    }

    /// Waits until the client subscribed again, with another id than `old`; returns it.
    pub async fn resubscribed(&mut self, old: u32) -> u32 {
        loop {
            if let Some(s) = *self.sub_id.borrow_and_update()
                && s != old
            {
                return s;
            }
            if self.sub_id.changed().await.is_err() {
                return 0;
            }
        }
    }

    /// Every request message received so far, as text.
    pub fn requests(&self) -> Vec<String> {
        self.requests.borrow().clone()
    }

    /// The `U` lines a blasting peer has written so far.
    pub fn updates_sent(&self) -> u64 {
        self.updates_sent.load(Ordering::Relaxed)
    }
}

/// Reads the HTTP upgrade request and accepts it, echoing the TLCP subprotocol the
/// client asked for (by hand: the WebSocket crate's server does not choose one).
async fn upgrade(mut tcp: TcpStream) -> Option<TcpStream> {
    let _ = tcp.set_nodelay(true);
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        if tcp.read(&mut b).await.ok()? == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.push(b[0]);
    }
    let head = String::from_utf8(head).ok()?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let key = header("sec-websocket-key")?;
    let protocol = header("sec-websocket-protocol")
        .and_then(|p| {
            p.split(',')
                .map(str::trim)
                .find(|p| p.starts_with("TLCP-"))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "TLCP-2.5.0.lightstreamer.com".into());
    let accept = websocket_accept(&key);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n"
    );
    tcp.write_all(response.as_bytes()).await.ok()?;
    Some(tcp)
}

/// The `Sec-WebSocket-Accept` value answering a client's `Sec-WebSocket-Key` (RFC 6455,
/// section 4.2.2), for test servers that do the upgrade by hand.
pub fn websocket_accept(key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

/// Answers one request message: `WSOK` to `wsok`, `CONOK` to a session request, and for
/// each control request `REQOK` (when it has an id), `SUBOK` to a subscription (which
/// becomes the live one) and `UNSUB` to its deletion.
fn answer(
    text: &str,
    fields: usize,
    replies: &mpsc::UnboundedSender<Message>,
    sub_tx: &watch::Sender<Option<u32>>,
) {
    let mut lines = text.split("\r\n");
    let name = lines.next().unwrap_or("");
    let reply = |s: String| {
        let _ = replies.send(Message::text(s));
    };
    match name {
        "wsok" => reply("WSOK\r\n".into()),
        "create_session" | "bind_session" => reply("CONOK,S1,50000,50000,*\r\n".into()),
        _ => {
            for params in lines.filter(|l| !l.is_empty()) {
                let get = |k: &str| {
                    params
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=').map(str::to_owned))
                };
                if let Some(req) = get("LS_reqId") {
                    reply(format!("REQOK,{req}\r\n"));
                }
                let sub = get("LS_subId").and_then(|s| s.parse::<u32>().ok());
                match (get("LS_op").as_deref(), sub) {
                    (Some("add"), Some(sub)) => {
                        reply(format!("SUBOK,{sub},1,{fields}\r\n"));
                        sub_tx.send_replace(Some(sub));
                    }
                    (Some("delete"), Some(sub)) => reply(format!("UNSUB,{sub}\r\n")),
                    _ => {}
                }
            }
        }
    }
}

/// The writer: replies and scripted messages first, and for a blasting peer with a live
/// subscription, frames of updates whenever nothing else waits.
async fn write<S>(
    mut sink: S,
    mut rx: mpsc::UnboundedReceiver<Message>,
    mut sub: watch::Receiver<Option<u32>>,
    script: Script,
    sent: Arc<AtomicU64>,
) where
    S: futures_util::Sink<Message> + Unpin,
{
    let Script::Blast { first, cycle } = script else {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        return;
    };
    // Replies until the subscription, then its frame of updates.
    let sub_id = loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(m) => {
                    if sink.send(m).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            changed = sub.changed() => {
                if changed.is_err() {
                    return;
                }
                if let Some(s) = *sub.borrow_and_update() {
                    break s;
                }
            }
        }
    };
    // The `SUBOK` is in the channel: it goes first.
    while let Ok(m) = rx.try_recv() {
        if sink.send(m).await.is_err() {
            return;
        }
    }
    if sink
        .send(Message::text(format!("U,{sub_id},1,{first}\r\n")))
        .await
        .is_err()
    {
        return;
    }
    sent.fetch_add(1, Ordering::Relaxed);
    if cycle.is_empty() {
        return;
    }
    // One frame of whole repetitions of the cycle (at least one).
    let mut frame = String::with_capacity(FRAME + 4096);
    let mut lines = 0u64;
    while frame.len() < FRAME || lines == 0 {
        for list in cycle.iter() {
            frame.push_str(&format!("U,{sub_id},1,{list}\r\n"));
            lines += 1;
        }
    }
    loop {
        while let Ok(m) = rx.try_recv() {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        if sink.send(Message::text(frame.clone())).await.is_err() {
            return;
        }
        sent.fetch_add(lines, Ordering::Relaxed);
    }
}

/// Value lists of an item like tlcp-server's `FEED` (`ts seq f1..f<payload>`: a clock in
/// nanoseconds, a counter, and prices of 8 characters moving by small steps, each
/// changing with probability 1/2), encoded as a server encodes them (unchanged fields
/// left empty, `^T` for the clock when shorter): `first` (the whole row) and a `cycle` of
/// `len` lists that brings the row back to `first`'s, for [`ScriptedPeer::blasting`].
/// Deterministic for a given `seed`.
pub fn feed_cycle(len: usize, payload: usize, seed: u64) -> (String, Vec<String>) {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let price = |v: u64| format!("{:05}.{:02}", v / 100, v % 100);
    let mut values: Vec<u64> = (0..payload).map(|_| 500_000 + next() % 100_000).collect();
    let (mut ts, mut seq) = (1_765_000_000_000_000_000u64, 1u64);
    let row = |ts: u64, seq: u64, values: &[u64]| -> Vec<Option<String>> {
        [Some(ts.to_string()), Some(seq.to_string())]
            .into_iter()
            .chain(values.iter().map(|&v| Some(price(v))))
            .collect()
    };
    let start = row(ts, seq, &values);
    let mut enc = tlcp_proto::fields::Encoder::new().with_diff(true);
    let mut first = String::new();
    // (Rows of at least one field always encode.)
    let _ = enc.encode(None::<&Vec<Option<String>>>, &start, &mut first);
    let mut prev = start.clone();
    let mut cycle = Vec::with_capacity(len);
    for k in 0..len {
        let new = if k + 1 == len {
            start.clone()
        } else {
            ts += 300 + next() % 400;
            seq += 1;
            let changes = next();
            for (i, v) in values.iter_mut().enumerate() {
                if i == 0 || changes >> (i % 64) & 1 == 1 {
                    let step = 1 + next() % 200;
                    *v = if changes >> ((i + 32) % 64) & 1 == 1 {
                        *v + step
                    } else {
                        *v - step
                    };
                }
            }
            row(ts, seq, &values)
        };
        let mut list = String::new();
        let _ = enc.encode(Some(&prev), &new, &mut list);
        cycle.push(list);
        prev = new;
    }
    (first, cycle)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tlcp_proto::fields::{ChangedFields, Row};

    #[test]
    fn the_accept_value_is_the_rfc_example() {
        // RFC 6455, section 1.3.
        assert_eq!(
            websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_feed_cycle_decodes_over_and_over_to_where_it_started() {
        let (first, cycle) = feed_cycle(100, 8, 7);
        let mut row = Row::new(10);
        let mut ch = ChangedFields::new();
        row.apply(&first, &mut ch).unwrap();
        let start = row.to_vec();
        for _ in 0..3 {
            for list in &cycle {
                row.apply(list, &mut ch).unwrap();
            }
            assert_eq!(row.to_vec(), start);
        }
        assert!(
            cycle.iter().any(|l| l.starts_with("^T")),
            "{:?}",
            &cycle[..3]
        );
        assert!(cycle.iter().any(|l| l.contains("||")), "{:?}", &cycle[..3]);
    }
}
