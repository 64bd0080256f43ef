//! A server that stops reading its WebSocket: the client goes on reading while its
//! requests wait for the socket, and what waits is bounded (beyond, the connection is
//! failed and the session recovered, instead of a queue growing without end).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tlcp_client::transport::TransportConfig;
use tlcp_client::{Client, ForcedTransport, Status, Subscription, SubscriptionEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_websockets::Message;

/// Longest wait of these tests.
const WAIT: Duration = Duration::from_secs(10);

/// A WebSocket server that answers the session and the first subscription, then never
/// reads again (with a small receive buffer, so the client's writes soon wait), and
/// sends what the test gives it.
struct Deaf {
    url: String,
    out: mpsc::UnboundedSender<String>,
}

impl Deaf {
    async fn start() -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(8).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (out, mut rx) = mpsc::unbounded_channel::<String>();
        let replies = out.clone();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let ws = tokio_websockets::ServerBuilder::new().serve(upgrade(tcp).await);
            let (mut sink, mut stream) = ws.split();
            tokio::spawn(async move {
                while let Some(text) = rx.recv().await {
                    if sink.send(Message::text(text)).await.is_err() {
                        return;
                    }
                }
            });
            while let Some(Ok(m)) = stream.next().await {
                let text = m.as_text().unwrap_or("").to_owned();
                if text == "wsok" {
                    let _ = replies.send("WSOK\r\n".into());
                } else if text.starts_with("create_session") {
                    let _ = replies.send("CONOK,S1,50000,50000,*\r\n".into());
                } else if text.contains("LS_op=add&LS_subId=1&") {
                    let _ = replies.send("SUBOK,1,1,1\r\n".into());
                    break;
                }
            }
            // Deaf from now on, the socket kept open.
            std::future::pending::<()>().await;
            drop(stream);
        });
        Self { url, out }
    }

    fn send(&self, text: &str) {
        self.out.send(text.to_owned()).unwrap();
    }
}

/// Accepts the WebSocket upgrade by hand, echoing the TLCP subprotocol.
async fn upgrade(mut tcp: TcpStream) -> TcpStream {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(tcp.read(&mut b).await.unwrap(), 1);
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
            .unwrap()
    };
    let accept = tlcp_testkit::scripted::websocket_accept(&header("sec-websocket-key"));
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
        header("sec-websocket-protocol")
    );
    tcp.write_all(response.as_bytes()).await.unwrap();
    tcp
}

/// A client of `server` over WebSocket, subscribed (the server's SUBOK received), with
/// `max_queue` bytes of requests allowed to wait for the socket.
async fn subscribed_client(
    server: &Deaf,
    max_queue: usize,
) -> (Client, tlcp_client::SubscriptionStream) {
    let mut transport = TransportConfig::default();
    transport.max_ws_write_queue = max_queue;
    let client = Client::builder(&server.url, "DEMO")
        .forced_transport(ForcedTransport::WsStreaming)
        .transport_config(transport)
        .build()
        .unwrap();
    client.connect();
    tokio::time::timeout(WAIT, client.connected())
        .await
        .unwrap()
        .unwrap();
    let mut sub = client
        .subscribe(Subscription::distinct(["x"], ["n"]).snapshot(false))
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, sub.next()).await.unwrap();
    assert!(
        matches!(first, Some(SubscriptionEvent::Subscribed { .. })),
        "{first:?}"
    );
    (client, sub)
}

/// Sends `n` messages of 256 KiB that the server will never read: far more than the
/// kernel buffers hold (a few MB), so the client's writes wait.
async fn flood(client: &Client, n: usize) {
    let text = "m".repeat(256 * 1024);
    for _ in 0..n {
        client
            .send_message(text.clone())
            .without_outcome()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn updates_are_read_while_requests_wait_for_the_socket() {
    let server = Deaf::start().await;
    let (client, mut sub) = subscribed_client(&server, 64 << 20).await;
    flood(&client, 48).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // 12 MB wait to be written; the server's updates still come through.
    server.send("U,1,1,hello\r\n");
    let event = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("no update while a write was pending: reading was blocked");
    match event {
        Some(SubscriptionEvent::Update(u)) => assert_eq!(u.value(1), Some("hello")),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.current_status(), Status::WsStreaming);
}

#[tokio::test]
async fn requests_waiting_for_a_deaf_server_are_bounded() {
    let server = Deaf::start().await;
    let (client, _sub) = subscribed_client(&server, 1 << 20).await;
    let mut status = client.status();
    flood(&client, 48).await;
    // Beyond 1 MiB waiting, the WebSocket is failed: the session goes to recovery.
    let left = tokio::time::timeout(WAIT, status.wait_for(|s| *s != Status::WsStreaming))
        .await
        .expect("the write queue grew past its limit")
        .map(|s| *s)
        .unwrap();
    assert_eq!(left, Status::TryingRecovery);
    drop(server);
}
