//! The transport layer against real peers on loopback: the in-process TLCP server, a TLS
//! terminator, HTTP CONNECT and SOCKS5 proxies, and raw or hyper test servers.

#![allow(clippy::unwrap_used)]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use support::*;
use tlcp_client::transport::{
    ExtraHeader, FrameSource, HttpRequest, Proxy, ProxyKind, ReadMode, StreamConnection, TlsConfig,
    Transport, TransportConfig, TransportError,
};
use tlcp_proto::ProtocolVersion;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const V: ProtocolVersion = ProtocolVersion::V2_5_0;

fn transport(config: TransportConfig) -> Transport {
    Transport::new(config).unwrap()
}

fn create_body() -> String {
    format!("{CID}&LS_adapter_set=DEMO&LS_send_sync=false")
}

/// `wsok` + `create_session` over WS, checks `WSOK` then `CONOK`; returns the session id.
async fn ws_session(t: &Transport, server: &tlcp_client::transport::ServerAddress) -> String {
    let mut ws = t.connect_ws(server, V, true).await.unwrap();
    assert_eq!(ws.protocol_version(), V);
    ws.send_text("wsok").await.unwrap();
    ws.send_text(&format!("create_session\r\n{}", create_body()))
        .await
        .unwrap();
    let mut lines = Lines::default();
    assert_eq!(lines.next(&mut ws).await.unwrap(), "WSOK");
    let conok = lines.expect(&mut ws, "CONOK,").await;
    conok.split(',').nth(1).unwrap().to_owned()
}

/// An HTTP streaming `create_session`, a subscription through a control request, and
/// its first update on the stream.
async fn http_session(t: &Transport, server: &tlcp_client::transport::ServerAddress) {
    let body = create_body();
    let mut stream = t
        .open_stream(
            server,
            V,
            &HttpRequest::new("create_session", &body).creating_session(),
        )
        .await
        .unwrap();
    let mut lines = Lines::default();
    let conok = lines.expect(&mut stream, "CONOK,").await;
    // The first chunk came while the response goes on.
    assert!(!stream.is_finished());
    let sid = conok.split(',').nth(1).unwrap().to_owned();
    let query = format!("LS_session={sid}");
    let resp = t
        .control(
            server,
            V,
            &HttpRequest::new(
                "control",
                "LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=item1&LS_schema=stock_name%20last_price&LS_snapshot=true",
            )
            .with_query(&query),
        )
        .await
        .unwrap();
    assert_eq!(&resp[..], b"REQOK,1\r\n");
    lines.expect(&mut stream, "SUBOK,1,").await;
    assert!(lines.expect(&mut stream, "U,1,1,").await.len() > 6);
}

#[tokio::test]
async fn ws_session_with_the_tlcp_subprotocol() {
    let server = tlcp_server().await;
    let t = transport(TransportConfig::default());
    let addr = address("http", server.local_addr());
    ws_session(&t, &addr).await;
    // An older version is a different subprotocol, which the server accepts too.
    let mut ws = t
        .connect_ws(&addr, ProtocolVersion::V2_4_0, true)
        .await
        .unwrap();
    assert_eq!(ws.protocol_version(), ProtocolVersion::V2_4_0);
    ws.send_text(&format!("create_session\r\n{}", create_body()))
        .await
        .unwrap();
    Lines::default().expect(&mut ws, "CONOK,").await;
}

#[tokio::test]
async fn refused_ws_upgrade_reports_status_and_body() {
    let server = tlcp_server().await;
    let t = transport(TransportConfig::default());
    let addr = format!("http://{}/not-here", server.local_addr())
        .parse()
        .unwrap();
    let err = t.connect_ws(&addr, V, true).await.unwrap_err();
    match err {
        TransportError::WsHandshake {
            status,
            body_excerpt,
        } => {
            assert_eq!(status, 404);
            assert!(
                body_excerpt.contains("not a Lightstreamer request"),
                "{body_excerpt}"
            );
        }
        e => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn http_stream_and_control_requests() {
    let server = tlcp_server().await;
    let t = transport(TransportConfig::default());
    http_session(&t, &address("http", server.local_addr())).await;
}

#[tokio::test]
async fn http_error_status_reports_status_and_body() {
    let server = tlcp_server().await;
    let t = transport(TransportConfig::default());
    let addr = format!("http://{}/not-here", server.local_addr())
        .parse()
        .unwrap();
    let err = t
        .open_stream(&addr, V, &HttpRequest::new("create_session", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::HttpStatus { status: 404, body_excerpt } if body_excerpt.contains("not a Lightstreamer request")),
        "{err:?}"
    );
    let err = t
        .control(&addr, V, &HttpRequest::new("control", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::HttpStatus { status: 404, body_excerpt } if body_excerpt.contains("not a Lightstreamer request")),
        "{err:?}"
    );
}

#[tokio::test]
async fn control_requests_reuse_one_keep_alive_connection() {
    let server = tlcp_server().await;
    let t = transport(TransportConfig::default());
    let sid = ws_session(&t, &address("http", server.local_addr())).await;
    let fwd = Forwarder::start(server.local_addr()).await;
    let via = address("http", fwd.addr);
    let query = format!("LS_session={sid}");
    for i in 1..=3 {
        let add = format!(
            "LS_reqId={}&LS_op=add&LS_subId={i}&LS_mode=MERGE&LS_group=item{i}&LS_schema=last_price",
            2 * i
        );
        let del = format!("LS_reqId={}&LS_op=delete&LS_subId={i}", 2 * i + 1);
        for body in [add, del] {
            let resp = t
                .control(
                    &via,
                    V,
                    &HttpRequest::new("control", &body).with_query(&query),
                )
                .await
                .unwrap();
            assert!(resp.starts_with(b"REQOK,"), "{resp:?}");
        }
    }
    assert_eq!(fwd.count(), 1, "six control requests, one TCP connection");
    // After the server drops the idle connection, the next request opens a new one.
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn pooled_connection_closed_by_the_server_is_replaced() {
    // A server that answers one request per connection, then closes it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                read_request(&mut tcp).await;
                tcp.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nREQOK,1\r\n")
                    .await
                    .unwrap();
                // Keep-alive as far as HTTP goes, but closed right after.
                drop(tcp);
            });
        }
    });
    let t = transport(TransportConfig::default());
    let server = address("http", addr);
    for _ in 0..3 {
        let resp = t
            .control(&server, V, &HttpRequest::new("control", "LS_reqId=1"))
            .await
            .unwrap();
        assert_eq!(&resp[..], b"REQOK,1\r\n");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
}

/// The parts of a raw HTTP response, written one by one when the test says so.
async fn raw_http_server(parts: Vec<&'static [u8]>) -> (SocketAddr, tokio::sync::mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, mut next) = tokio::sync::mpsc::channel::<()>(8);
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        read_request(&mut tcp).await;
        for p in parts {
            next.recv().await;
            tcp.write_all(p).await.unwrap();
        }
        next.recv().await;
    });
    (addr, go)
}

#[tokio::test]
async fn body_is_read_incrementally_whatever_the_framing() {
    let cases: [(&str, Vec<&'static [u8]>, bool); 3] = [
        (
            "chunked",
            vec![
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nCONOK\r\n\r\n",
                b"6\r\nLOOP\r\n\r\n0\r\n\r\n",
            ],
            true,
        ),
        (
            "content-length",
            vec![
                b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nCONOK\r\n",
                b"LOOP\r\n",
            ],
            true,
        ),
        (
            "until close",
            vec![
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nCONOK\r\n",
                b"LOOP\r\n",
            ],
            false,
        ),
    ];
    for (name, parts, framed) in cases {
        let (addr, go) = raw_http_server(parts).await;
        let t = transport(TransportConfig::default());
        go.send(()).await.unwrap();
        let mut s = t
            .open_stream(
                &address("http", addr),
                V,
                &HttpRequest::new("bind_session", "x"),
            )
            .await
            .unwrap();
        // The first part is handed out before the server has written the second.
        assert_eq!(
            s.next_chunk().await.unwrap().unwrap().data,
            b"CONOK\r\n",
            "{name}"
        );
        go.send(()).await.unwrap();
        assert_eq!(
            s.next_chunk().await.unwrap().unwrap().data,
            b"LOOP\r\n",
            "{name}"
        );
        if !framed {
            drop(go);
        }
        assert!(s.next_chunk().await.unwrap().is_none(), "{name}");
        assert!(s.is_finished(), "{name}");
    }
}

#[tokio::test]
async fn truncated_body_is_an_error() {
    let (addr, go) = raw_http_server(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nCONOK\r\n",
    ])
    .await;
    let t = transport(TransportConfig::default());
    go.send(()).await.unwrap();
    let mut s = t
        .open_stream(
            &address("http", addr),
            V,
            &HttpRequest::new("bind_session", "x"),
        )
        .await
        .unwrap();
    assert_eq!(s.next_chunk().await.unwrap().unwrap().data, b"CONOK\r\n");
    drop(go);
    let err = s.next_chunk().await.unwrap_err();
    assert!(
        matches!(err, TransportError::Io(ref e) if e.kind() == std::io::ErrorKind::UnexpectedEof),
        "{err:?}"
    );
}

async fn check_http_timestamps(mode: ReadMode) {
    let (addr, go) = raw_http_server(vec![
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nU1\n\r\n3\r\nU2\n\r\n3\r\nU3\n\r\n",
        b"3\r\nU4\n\r\n3\r\nU5\n\r\n",
    ])
    .await;
    let t = transport(TransportConfig::default().with_read_mode(mode));
    go.send(()).await.unwrap();
    let mut s = t
        .open_stream(
            &address("http", addr),
            V,
            &HttpRequest::new("bind_session", "x"),
        )
        .await
        .unwrap();
    let mut first = Vec::new();
    for _ in 0..3 {
        let c = s.next_chunk().await.unwrap().unwrap();
        first.push((c.data.to_vec(), c.received_at));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    go.send(()).await.unwrap();
    let mut second = Vec::new();
    for _ in 0..2 {
        let c = s.next_chunk().await.unwrap().unwrap();
        second.push((c.data.to_vec(), c.received_at));
    }
    let data: Vec<_> = first.iter().chain(&second).map(|c| c.0.clone()).collect();
    assert_eq!(data, [b"U1\n", b"U2\n", b"U3\n", b"U4\n", b"U5\n"]);
    assert!(
        first.iter().all(|c| c.1 == first[0].1),
        "one read, one instant"
    );
    assert!(
        second.iter().all(|c| c.1 == second[0].1),
        "one read, one instant"
    );
    assert!(second[0].1 > first[0].1);
}

#[tokio::test]
async fn chunks_of_one_read_share_one_instant_http() {
    check_http_timestamps(ReadMode::Async).await;
    check_http_timestamps(ReadMode::BusyPoll).await;
}

fn ws_frame(text: &str) -> Vec<u8> {
    assert!(text.len() < 126);
    let mut f = vec![0x81, text.len() as u8];
    f.extend_from_slice(text.as_bytes());
    f
}

/// A raw WebSocket server: answers the upgrade and, in the same write, three messages;
/// then two more in a second write when told.
async fn raw_ws_server() -> (SocketAddr, tokio::sync::mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, mut next) = tokio::sync::mpsc::channel::<()>(8);
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let head = read_head(&mut tcp).await;
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("sec-websocket-key: "))
            .unwrap()
            .to_owned();
        assert!(
            head.contains("sec-websocket-protocol: TLCP-2.5.0.lightstreamer.com\r\n"),
            "{head}"
        );
        let accept = tlcp_testkit::scripted::websocket_accept(&key);
        let mut first = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: TLCP-2.5.0.lightstreamer.com\r\n\r\n"
        )
        .into_bytes();
        for m in ["WSOK\r\n", "CONOK,S1,50000,5000,*\r\n", "U,1,1,a\r\n"] {
            first.extend(ws_frame(m));
        }
        tcp.write_all(&first).await.unwrap();
        next.recv().await;
        let second = [ws_frame("U,1,1,b\r\n"), ws_frame("U,1,1,c\r\n")].concat();
        tcp.write_all(&second).await.unwrap();
        next.recv().await;
    });
    (addr, go)
}

async fn check_ws_timestamps(mode: ReadMode) {
    let (addr, go) = raw_ws_server().await;
    let t = transport(TransportConfig::default().with_read_mode(mode));
    let mut ws = t.connect_ws(&address("http", addr), V, true).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        let c = ws.next_chunk().await.unwrap().unwrap();
        got.push((String::from_utf8(c.data.to_vec()).unwrap(), c.received_at));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    go.send(()).await.unwrap();
    for _ in 0..2 {
        let c = ws.next_chunk().await.unwrap().unwrap();
        got.push((String::from_utf8(c.data.to_vec()).unwrap(), c.received_at));
    }
    let texts: Vec<_> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(
        texts,
        [
            "WSOK\r\n",
            "CONOK,S1,50000,5000,*\r\n",
            "U,1,1,a\r\n",
            "U,1,1,b\r\n",
            "U,1,1,c\r\n"
        ]
    );
    assert!(
        got[..3].iter().all(|g| g.1 == got[0].1),
        "one read, one instant"
    );
    assert!(
        got[3..].iter().all(|g| g.1 == got[3].1),
        "one read, one instant"
    );
    assert!(got[3].1 > got[0].1);
}

#[tokio::test]
async fn chunks_of_one_read_share_one_instant_ws() {
    check_ws_timestamps(ReadMode::Async).await;
    check_ws_timestamps(ReadMode::BusyPoll).await;
}

#[tokio::test]
async fn busy_poll_mode_runs_real_sessions() {
    let server = tlcp_server().await;
    let t = transport(TransportConfig::default().with_read_mode(ReadMode::BusyPoll));
    let addr = address("http", server.local_addr());
    ws_session(&t, &addr).await;
    http_session(&t, &addr).await;
}

#[tokio::test]
async fn tls_verification_custom_ca_and_dangerous_option() {
    let server = tlcp_server().await;
    let term = TlsTerminator::start(server.local_addr()).await;
    let addr: tlcp_client::transport::ServerAddress =
        format!("https://localhost:{}", term.addr.port())
            .parse()
            .unwrap();

    // The bundled roots do not know the test CA.
    let t = transport(TransportConfig::default());
    let err = t.connect_ws(&addr, V, true).await.unwrap_err();
    assert!(
        matches!(&err, TransportError::Tls { host, source } if host == "localhost" && source.to_string().contains("UnknownIssuer")),
        "{err:?}"
    );
    let err = t
        .open_stream(&addr, V, &HttpRequest::new("create_session", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Tls { .. }), "{err:?}");

    // Trusting the CA: WS, HTTP streaming and control requests all work.
    let ca = TlsConfig::default()
        .with_ca_pem(&term.cert.cert_pem)
        .unwrap();
    let t = transport(TransportConfig::default().with_tls(ca));
    ws_session(&t, &addr).await;
    http_session(&t, &addr).await;
    {
        let hellos = term.hellos.lock().unwrap();
        assert!(hellos.len() >= 3, "{hellos:?}");
        for h in hellos.iter() {
            assert_eq!(h.sni.as_deref(), Some("localhost"));
            assert_eq!(h.alpn.as_deref(), Some(&b"http/1.1"[..]));
        }
    }

    // The CA from a file works the same.
    let dir = std::env::temp_dir().join(format!("tlcp-ca-{}", std::process::id()));
    std::fs::write(&dir, &term.cert.cert_pem).unwrap();
    let ca = TlsConfig::default().with_ca_pem_file(&dir).unwrap();
    std::fs::remove_file(&dir).unwrap();
    ws_session(&transport(TransportConfig::default().with_tls(ca)), &addr).await;

    // Verification off: only through the explicitly dangerous switch.
    let mut tls = TlsConfig::default();
    tls.danger_accept_invalid_certs = true;
    tls.sni = false;
    let t = transport(TransportConfig::default().with_tls(tls));
    ws_session(&t, &addr).await;
    assert_eq!(term.hellos.lock().unwrap().last().unwrap().sni, None);
}

#[tokio::test]
async fn http_connect_proxy_for_ws_http_and_tls() {
    let server = tlcp_server().await;
    let proxy = ConnectProxy::start("alice", "wonderland").await;
    let p = Proxy::http_connect("127.0.0.1", proxy.addr.port());
    let t = transport(
        TransportConfig::default().with_proxy(p.clone().with_credentials("alice", "wonderland")),
    );
    let addr = address("http", server.local_addr());
    ws_session(&t, &addr).await;
    http_session(&t, &addr).await;
    let target = server.local_addr().to_string();
    assert!(proxy.targets.lock().unwrap().iter().all(|t| *t == target));
    assert!(proxy.targets.lock().unwrap().len() >= 3);

    // TLS inside the tunnel.
    let term = TlsTerminator::start(server.local_addr()).await;
    let ca = TlsConfig::default()
        .with_ca_pem(&term.cert.cert_pem)
        .unwrap();
    let t = transport(
        TransportConfig::default()
            .with_proxy(p.clone().with_credentials("alice", "wonderland"))
            .with_tls(ca),
    );
    ws_session(
        &t,
        &format!("https://localhost:{}", term.addr.port())
            .parse()
            .unwrap(),
    )
    .await;

    // Wrong credentials: the proxy's 407.
    let t = transport(TransportConfig::default().with_proxy(p.with_credentials("alice", "nope")));
    let err = t.connect_ws(&addr, V, true).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::ProxyRefused {
                kind: ProxyKind::HttpConnect,
                code: 407,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn socks5_proxy_for_ws_http_and_tls() {
    let server = tlcp_server().await;
    let proxy = Socks5Proxy::start("bob", "builder").await;
    let p = Proxy::socks5("127.0.0.1", proxy.addr.port());
    let t = transport(
        TransportConfig::default().with_proxy(p.clone().with_credentials("bob", "builder")),
    );
    let addr = address("http", server.local_addr());
    ws_session(&t, &addr).await;
    http_session(&t, &addr).await;
    // A host name is passed to the proxy, which resolves it.
    let by_name = format!("http://localhost:{}", server.local_addr().port())
        .parse()
        .unwrap();
    ws_session(&t, &by_name).await;
    assert!(
        proxy
            .targets
            .lock()
            .unwrap()
            .contains(&format!("localhost:{}", server.local_addr().port()))
    );

    let term = TlsTerminator::start(server.local_addr()).await;
    let ca = TlsConfig::default()
        .with_ca_pem(&term.cert.cert_pem)
        .unwrap();
    let t = transport(
        TransportConfig::default()
            .with_proxy(p.clone().with_credentials("bob", "builder"))
            .with_tls(ca),
    );
    http_session(
        &t,
        &format!("https://localhost:{}", term.addr.port())
            .parse()
            .unwrap(),
    )
    .await;

    let t = transport(
        TransportConfig::default().with_proxy(p.clone().with_credentials("bob", "wrong")),
    );
    let err = t.connect_ws(&addr, V, true).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::ProxyRefused {
                kind: ProxyKind::Socks5,
                code: 1,
                ..
            }
        ),
        "{err:?}"
    );
    // No credentials: the proxy accepts no method.
    let t = transport(TransportConfig::default().with_proxy(p));
    let err = t
        .control(&addr, V, &HttpRequest::new("control", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::ProxyRefused {
                kind: ProxyKind::Socks5,
                code: 255,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A hyper server recording every request's path and headers. It sets two cookies on
/// `create_session`, deletes one on the first `control` that sends it back, and refuses
/// WebSocket upgrades with 403.
async fn cookie_server() -> (SocketAddr, Arc<Mutex<Vec<(String, http::HeaderMap)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let s = s.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let s = s.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let sent_tmp = req
                            .headers()
                            .get("cookie")
                            .is_some_and(|c| c.to_str().unwrap().contains("tmp="));
                        s.lock()
                            .unwrap()
                            .push((path.clone(), req.headers().clone()));
                        let mut resp = http::Response::builder();
                        let body: &'static [u8] = if path.ends_with("/create_session.txt") {
                            resp = resp
                                .header("set-cookie", "lb=node-7; Path=/; HttpOnly")
                                .header("set-cookie", "tmp=1");
                            b"CONOK,S1,50000,5000,*\r\n"
                        } else if path.ends_with("/control.txt") {
                            if sent_tmp {
                                resp = resp.header("set-cookie", "tmp=; Max-Age=0");
                            }
                            b"REQOK,1\r\n"
                        } else {
                            resp = resp.status(403);
                            b"upgrades are not allowed here"
                        };
                        Ok::<_, Infallible>(resp.body(Full::new(Bytes::from_static(body))).unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn cookies_come_back_and_extra_headers_are_sent() {
    let (addr, seen) = cookie_server().await;
    let server = address("http", addr);
    let config = TransportConfig::default()
        .with_header(ExtraHeader::new("X-Always", "a").unwrap())
        .with_header(
            ExtraHeader::new("X-Create", "c")
                .unwrap()
                .only_on_session_creation(),
        );
    let t = transport(config);

    let mut s = t
        .open_stream(
            &server,
            V,
            &HttpRequest::new("create_session", "x").creating_session(),
        )
        .await
        .unwrap();
    assert_eq!(
        s.next_chunk().await.unwrap().unwrap().data,
        b"CONOK,S1,50000,5000,*\r\n"
    );
    assert!(s.next_chunk().await.unwrap().is_none());
    assert_eq!(
        t.cookies().get("127.0.0.1", "lb").as_deref(),
        Some("node-7")
    );

    for _ in 0..2 {
        t.control(&server, V, &HttpRequest::new("control", "x"))
            .await
            .unwrap();
    }
    let err = t.connect_ws(&server, V, true).await.unwrap_err();
    assert!(
        matches!(&err, TransportError::WsHandshake { status: 403, body_excerpt } if body_excerpt == "upgrades are not allowed here"),
        "{err:?}"
    );

    let seen = seen.lock().unwrap();
    let header = |i: usize, name: &str| seen[i].1.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(seen.len(), 4);
    // create_session: both extra headers, no cookie yet, the TLCP content type.
    assert_eq!(seen[0].0, "/lightstreamer/create_session.txt");
    assert_eq!(header(0, "x-always").as_deref(), Some("a"));
    assert_eq!(header(0, "x-create").as_deref(), Some("c"));
    assert_eq!(header(0, "cookie"), None);
    assert_eq!(
        header(0, "content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    // First control: both cookies, and not the creation-only header.
    assert_eq!(header(1, "cookie").as_deref(), Some("lb=node-7; tmp=1"));
    assert_eq!(header(1, "x-always").as_deref(), Some("a"));
    assert_eq!(header(1, "x-create"), None);
    // The server deleted `tmp` (Max-Age=0).
    assert_eq!(header(2, "cookie").as_deref(), Some("lb=node-7"));
    // The WebSocket upgrade carries the cookie, the headers and the subprotocol.
    assert_eq!(seen[3].0, "/lightstreamer");
    assert_eq!(header(3, "cookie").as_deref(), Some("lb=node-7"));
    assert_eq!(header(3, "x-create").as_deref(), Some("c"));
    assert_eq!(
        header(3, "sec-websocket-protocol").as_deref(),
        Some("TLCP-2.5.0.lightstreamer.com")
    );
}

#[tokio::test]
async fn connect_failures_and_timeouts() {
    // Nothing listens.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let t = transport(TransportConfig::default());
    let err = t
        .connect_ws(&address("http", closed), V, true)
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Connect { .. }), "{err:?}");

    // A server that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            held.push(silent.accept().await.unwrap());
        }
    });
    let mut cfg = TransportConfig::default();
    cfg.connect_timeout = Duration::from_millis(200);
    cfg.request_timeout = Duration::from_millis(200);
    let t = transport(cfg);
    let err = t
        .connect_ws(&address("http", silent_addr), V, true)
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err:?}");
    let err = t
        .open_stream(
            &address("http", silent_addr),
            V,
            &HttpRequest::new("bind_session", "x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err:?}");
    let err = t
        .control(
            &address("http", silent_addr),
            V,
            &HttpRequest::new("control", "x"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Timeout {
                during: "waiting for the control response",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn sockets_bind_to_the_local_address() {
    let server = tlcp_server().await;
    let fwd = Forwarder::start(server.local_addr()).await;
    let mut cfg = TransportConfig::default();
    cfg.local_address = Some("127.0.0.2".parse().unwrap());
    let t = transport(cfg);
    let via = address("http", fwd.addr);
    let mut ws = t.connect_ws(&via, V, true).await.unwrap();
    ws.send_text("wsok").await.unwrap();
    assert_eq!(Lines::default().next(&mut ws).await.unwrap(), "WSOK");
    let peers = fwd.peers.lock().unwrap();
    assert_eq!(peers[0].ip().to_string(), "127.0.0.2");
}

#[tokio::test]
async fn stream_connection_enum_and_debug_output_hide_secrets() {
    let server = tlcp_server().await;
    let mut cfg = TransportConfig::default()
        .with_header(ExtraHeader::new("Authorization", "Bearer tok-9").unwrap());
    cfg.proxy = None;
    let t = transport(cfg);
    t.cookies()
        .set("127.0.0.1", "JSESSIONID", "cookie-secret-1");
    let addr = address("http", server.local_addr());
    let mut conn: StreamConnection = t.connect_ws(&addr, V, true).await.unwrap().into();
    if let StreamConnection::Ws(ws) = &mut conn {
        ws.send_text("wsok").await.unwrap();
        ws.send_text(&format!("create_session\r\n{}", create_body()))
            .await
            .unwrap();
    }
    // WS messages hold whole lines: find the one with CONOK.
    let (sid, chunk_debug) = loop {
        let c = conn.next_chunk().await.unwrap().unwrap();
        let text = String::from_utf8_lossy(c.data).into_owned();
        if let Some(line) = text.lines().find(|l| l.starts_with("CONOK,")) {
            break (line.split(',').nth(1).unwrap().to_owned(), format!("{c:?}"));
        }
    };
    let query = format!("LS_session={sid}");
    let req = HttpRequest::new("control", "LS_op=destroy").with_query(&query);
    let proxy = Proxy::socks5("p", 1).with_credentials("u", "proxy-secret-2");
    let all = format!("{t:?} {conn:?} {req:?} {chunk_debug} {proxy:?}");
    for secret in ["tok-9", "cookie-secret-1", "proxy-secret-2", sid.as_str()] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
    assert!(all.contains("JSESSIONID"));
}

#[tokio::test]
async fn control_response_limits_and_error_excerpts() {
    let big = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n{}",
        "R".repeat(2000)
    );
    let refused = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2000\r\n\r\n{}",
        "E".repeat(2000)
    );
    let parts: Vec<&'static [u8]> = vec![Box::leak(big.into_bytes().into_boxed_slice())];
    let (addr, go) = raw_http_server(parts).await;
    go.send(()).await.unwrap();
    let mut cfg = TransportConfig::default();
    cfg.max_control_response_size = 1000;
    let t = transport(cfg);
    let err = t
        .control(&address("http", addr), V, &HttpRequest::new("control", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Protocol(_)), "{err:?}");

    let parts: Vec<&'static [u8]> = vec![Box::leak(refused.into_bytes().into_boxed_slice())];
    let (addr, go) = raw_http_server(parts).await;
    go.send(()).await.unwrap();
    let err = t
        .control(&address("http", addr), V, &HttpRequest::new("control", "x"))
        .await
        .unwrap_err();
    match err {
        TransportError::HttpStatus {
            status: 503,
            body_excerpt,
        } => assert_eq!(body_excerpt, "E".repeat(300)),
        e => panic!("{e:?}"),
    }
}
