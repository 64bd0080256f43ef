//! Self-test of the official-client drivers (`interop/`); needs no tlcp server.
//!
//! It proves the harness itself: the drivers start, report bad commands without dying,
//! relay the libraries' statuses and message outcomes, and exit cleanly. It also records
//! what the official clients do against a port where nothing listens, and the WebSocket
//! upgrade request they send.

use std::time::Duration;

use serde_json::{Value, json};
use tlcp_testkit::official::{OfficialClient, OfficialKind, is_event, is_event_of, is_status};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

const T: Duration = Duration::from_secs(20);

/// A loopback port where nothing listens (bound, then released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("local address").port()
}

fn statuses(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e["ev"] == "status")
        .filter_map(|e| e["status"].as_str())
        .collect()
}

async fn lifecycle(kind: OfficialKind) {
    let mut client = OfficialClient::start(kind).await;
    let ready = &client.events()[0];
    assert_eq!(ready["ev"], "ready");
    let library = match kind {
        OfficialKind::Node => "lightstreamer-client-node",
        OfficialKind::Python => "lightstreamer-client-lib",
    };
    assert_eq!(ready["library"], library, "{ready}");

    // Bad commands are answered with `error`, and the driver goes on.
    client.send(json!({"cmd": "no-such-command"})).await;
    let error = client
        .expect("error (unknown command)", T, is_event("error"))
        .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no-such-command"),
        "{error}"
    );
    client.send_raw("this is not JSON").await;
    client
        .expect("error (bad JSON)", T, is_event("error"))
        .await;
    client
        .send(json!({"cmd": "unsubscribe", "id": "nope"}))
        .await;
    client
        .expect("error (unknown id)", T, is_event("error"))
        .await;
    // The library itself refuses an item name with a space: the exception becomes `error`.
    client
        .send(json!({"cmd": "subscribe", "id": "s1", "mode": "MERGE",
                     "items": ["bad item"], "fields": ["f"]}))
        .await;
    let error = client
        .expect("error (invalid item)", T, is_event("error"))
        .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("subscribe: "),
        "{error}"
    );

    // Nothing listens: the client tries, gives up, waits retryDelay, tries again.
    let url = format!("http://127.0.0.1:{}", free_port());
    client
        .send(json!({"cmd": "connect", "url": url, "adapter_set": "TEST",
                     "options": {"retryDelay": 300}}))
        .await;
    client
        .expect("CONNECTING", T, is_status("CONNECTING"))
        .await;
    client
        .expect("WILL-RETRY", T, is_status("DISCONNECTED:WILL-RETRY"))
        .await;
    client
        .expect("CONNECTING again", T, is_status("CONNECTING"))
        .await;

    // A message with no session is aborted, never sent.
    client
        .send(json!({"cmd": "send", "id": "m1", "message": "hello"}))
        .await;
    let outcome = client
        .expect("m1 outcome", T, is_event_of("msg", "m1"))
        .await;
    assert_eq!(outcome["outcome"], "abort", "{outcome}");
    assert_eq!(outcome["sent_on_network"], false, "{outcome}");

    client.send(json!({"cmd": "disconnect"})).await;
    client
        .expect("DISCONNECTED", T, is_status("DISCONNECTED"))
        .await;

    let status = client.exit().await;
    assert!(status.success(), "{kind} driver exit status {status}");

    // Exactly the four errors provoked above; the statuses only ever alternate between
    // CONNECTING and DISCONNECTED:WILL-RETRY until the final DISCONNECTED.
    let errors = client
        .events()
        .iter()
        .filter(|e| e["ev"] == "error")
        .count();
    assert_eq!(errors, 4, "{:#?}", client.events());
    let seen = statuses(client.events());
    let (last, retries) = seen.split_last().expect("status events");
    assert_eq!(*last, "DISCONNECTED");
    for (i, status) in retries.iter().enumerate() {
        let expected = if i % 2 == 0 {
            "CONNECTING"
        } else {
            "DISCONNECTED:WILL-RETRY"
        };
        assert_eq!(*status, expected, "{seen:?}");
    }
    assert!(retries.len() >= 3, "{seen:?}");
}

#[tokio::test]
async fn node_driver_lifecycle() {
    lifecycle(OfficialKind::Node).await;
}

#[tokio::test]
async fn python_driver_lifecycle() {
    lifecycle(OfficialKind::Python).await;
}

/// End of stdin ends the driver, even with a connection attempt under way.
async fn exits_on_stdin_eof(kind: OfficialKind) {
    let mut client = OfficialClient::start(kind).await;
    let url = format!("http://127.0.0.1:{}", free_port());
    client
        .send(json!({"cmd": "connect", "url": url, "options": {"retryDelay": 300}}))
        .await;
    client
        .expect("CONNECTING", T, is_status("CONNECTING"))
        .await;
    client.close_stdin();
    let status = client.wait_exit(T).await;
    assert!(status.success(), "{kind} driver exit status {status}");
    assert_eq!(statuses(client.events()).last(), Some(&"DISCONNECTED"));
}

#[tokio::test]
async fn node_driver_exits_on_stdin_eof() {
    exits_on_stdin_eof(OfficialKind::Node).await;
}

#[tokio::test]
async fn python_driver_exits_on_stdin_eof() {
    exits_on_stdin_eof(OfficialKind::Python).await;
}

/// What the official client sends first with WS-STREAMING: the WebSocket upgrade of
/// `GET /lightstreamer` asking for the subprotocol `TLCP-2.5.0.lightstreamer.com`.
async fn ws_upgrade_request(kind: OfficialKind) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let port = listener.local_addr().expect("local address").port();
    let mut client = OfficialClient::start(kind).await;
    client
        .send(
            json!({"cmd": "connect", "url": format!("http://127.0.0.1:{port}"),
                     "adapter_set": "TEST", "transport": "WS-STREAMING"}),
        )
        .await;
    let (mut socket, _) = tokio::time::timeout(T, listener.accept())
        .await
        .expect("the client connects")
        .expect("accept");

    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(T, socket.read(&mut chunk))
            .await
            .expect("the client sends its request")
            .expect("read");
        assert!(n > 0, "connection closed mid-request: {request:?}");
        request.extend_from_slice(&chunk[..n]);
        assert!(request.len() < 16 * 1024, "no end of headers");
    }
    let request = String::from_utf8(request).expect("UTF-8 request");
    let mut lines = request.split("\r\n");
    assert_eq!(
        lines.next(),
        Some("GET /lightstreamer HTTP/1.1"),
        "{request}"
    );
    let header = |name: &str| {
        request.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    assert_eq!(
        header("Sec-WebSocket-Protocol").as_deref(),
        Some("TLCP-2.5.0.lightstreamer.com"),
        "{request}"
    );
    assert_eq!(header("Upgrade").as_deref(), Some("websocket"), "{request}");
    assert_eq!(
        header("Sec-WebSocket-Version").as_deref(),
        Some("13"),
        "{request}"
    );
    assert_eq!(
        header("Host"),
        Some(format!("127.0.0.1:{port}")),
        "{request}"
    );

    drop(socket);
    drop(listener);
    let status = client.exit().await;
    assert!(status.success(), "{kind} driver exit status {status}");
}

#[tokio::test]
async fn node_ws_upgrade_request() {
    ws_upgrade_request(OfficialKind::Node).await;
}

#[tokio::test]
async fn python_ws_upgrade_request() {
    ws_upgrade_request(OfficialKind::Python).await;
}
