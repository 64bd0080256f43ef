//! The whole client (not only its transport layer) over the network paths users have in
//! production: TLS with a private CA, an HTTP CONNECT or SOCKS5 proxy with credentials
//! (TLS inside the tunnel), and a chosen local address or interface, on every transport
//! and with stream-sense. Each run connects, subscribes, receives a real update and disconnects.

#![allow(clippy::unwrap_used)]

mod support;

use futures_util::StreamExt;
use support::*;
use tlcp_client::transport::{
    Proxy, ServerAddress, TlsConfig, Transport, TransportConfig, TransportError,
};
use tlcp_client::{
    Client, ClientBuilder, ForcedTransport, Status, Subscription, SubscriptionEvent,
};

const V: tlcp_proto::ProtocolVersion = tlcp_proto::ProtocolVersion::V2_5_0;

/// The forced transports, and stream-sense (`None`), with the status each must reach.
const PATHS: [(Option<ForcedTransport>, Status); 5] = [
    (Some(ForcedTransport::WsStreaming), Status::WsStreaming),
    (Some(ForcedTransport::HttpStreaming), Status::HttpStreaming),
    (Some(ForcedTransport::WsPolling), Status::WsPolling),
    (Some(ForcedTransport::HttpPolling), Status::HttpPolling),
    (None, Status::WsStreaming),
];

/// Connects with `builder`, checks the status, reads one update of a stock with its
/// values, disconnects.
async fn quote_through(builder: ClientBuilder, expected: Status) {
    let client = builder.build().unwrap();
    client.connect();
    tokio::time::timeout(TIMEOUT, client.connected())
        .await
        .expect("no session in time")
        .unwrap();
    // HTTP transports go through CONNECTED:STREAM-SENSING first.
    let mut status = client.status();
    let reached = tokio::time::timeout(TIMEOUT, status.wait_for(|s| *s == expected))
        .await
        .is_ok();
    assert!(reached, "never reached {expected}: {}", *status.borrow());
    let sub = Subscription::merge(["item3"], ["stock_name", "last_price"])
        .data_adapter("STOCKS")
        .snapshot(true);
    let mut quotes = client.subscribe(sub).await.unwrap();
    loop {
        match tokio::time::timeout(TIMEOUT, quotes.next()).await.unwrap() {
            Some(SubscriptionEvent::Update(u)) => {
                assert!(!u.value_by_name("stock_name").unwrap_or("").is_empty());
                assert!(
                    u.value_by_name("last_price")
                        .unwrap()
                        .parse::<f64>()
                        .is_ok()
                );
                break;
            }
            Some(SubscriptionEvent::Error(e)) => panic!("subscription refused: {e:?}"),
            Some(_) => {}
            None => panic!("the stream ended before an update"),
        }
    }
    client.disconnect();
}

fn with_transport(b: ClientBuilder, t: Option<ForcedTransport>) -> ClientBuilder {
    match t {
        Some(t) => b.forced_transport(t),
        None => b,
    }
}

#[tokio::test]
async fn tls_with_a_private_ca_through_an_http_connect_proxy() {
    let server = tlcp_server().await;
    let term = TlsTerminator::start(server.local_addr()).await;
    let proxy = ConnectProxy::start("alice", "wonderland").await;
    let url = format!("https://localhost:{}", term.addr.port());
    for (t, status) in PATHS {
        let tls = TlsConfig::default()
            .with_ca_pem(&term.cert.cert_pem)
            .unwrap();
        let b = Client::builder(&url, "DEMO").tls(tls).proxy(
            Proxy::http_connect("127.0.0.1", proxy.addr.port())
                .with_credentials("alice", "wonderland"),
        );
        quote_through(with_transport(b, t), status).await;
    }
    // Every connection went through the proxy, to the TLS terminator, with SNI.
    let target = format!("localhost:{}", term.addr.port());
    let targets = proxy.targets.lock().unwrap().clone();
    assert!(targets.len() >= PATHS.len(), "{targets:?}");
    assert!(targets.iter().all(|t| *t == target), "{targets:?}");
    let hellos = term.hellos.lock().unwrap();
    assert!(hellos.len() >= targets.len(), "{} hellos", hellos.len());
    assert!(hellos.iter().all(|h| h.sni.as_deref() == Some("localhost")));
}

#[tokio::test]
async fn tls_through_a_socks5_proxy() {
    let server = tlcp_server().await;
    let term = TlsTerminator::start(server.local_addr()).await;
    let proxy = Socks5Proxy::start("bob", "builder").await;
    let url = format!("https://localhost:{}", term.addr.port());
    for (t, status) in [PATHS[0], PATHS[1], PATHS[4]] {
        let tls = TlsConfig::default()
            .with_ca_pem(&term.cert.cert_pem)
            .unwrap();
        let b = Client::builder(&url, "DEMO").tls(tls).proxy(
            Proxy::socks5("127.0.0.1", proxy.addr.port()).with_credentials("bob", "builder"),
        );
        quote_through(with_transport(b, t), status).await;
    }
    assert!(proxy.targets.lock().unwrap().len() >= 3);
}

#[tokio::test]
async fn an_unknown_ca_is_refused_and_never_silently_accepted() {
    let server = tlcp_server().await;
    let term = TlsTerminator::start(server.local_addr()).await;
    let url = format!("https://localhost:{}", term.addr.port());
    let client = Client::builder(&url, "DEMO")
        .forced_transport(ForcedTransport::WsStreaming)
        .build()
        .unwrap();
    client.connect();
    let mut status = client.status();
    // The bundled roots do not know the test CA: the client never reaches a session.
    let waited = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        loop {
            status.changed().await.unwrap();
            if status.borrow().is_connected() {
                break;
            }
        }
    })
    .await;
    assert!(waited.is_err(), "connected to a server it cannot verify");
    assert!(
        term.hellos.lock().unwrap().is_empty(),
        "no handshake may complete"
    );
    client.disconnect();
}

#[tokio::test]
async fn sockets_bind_to_the_chosen_local_address() {
    // Through a forwarder that notes where each connection comes from: 127.0.0.2, never
    // the default 127.0.0.1, for the stream connections and the control requests alike.
    let server = tlcp_server().await;
    let fwd = Forwarder::start(server.local_addr()).await;
    let url = format!("http://{}", fwd.addr);
    for (t, status) in [PATHS[0], PATHS[1], PATHS[3]] {
        let b = Client::builder(&url, "DEMO").local_address("127.0.0.2".parse().unwrap());
        quote_through(with_transport(b, t), status).await;
    }
    let peers = fwd.peers.lock().unwrap().clone();
    assert!(peers.len() >= 3, "{peers:?}");
    assert!(
        peers.iter().all(|p| p.ip().to_string() == "127.0.0.2"),
        "{peers:?}"
    );
}

/// Whether the OS refuses `SO_BINDTODEVICE` to this process (not root, no
/// `CAP_NET_RAW` on an old kernel): the test is then skipped, saying why.
async fn bind_to_device_refused() -> bool {
    let server = tlcp_server().await;
    let mut cfg = TransportConfig::default();
    cfg.bind_interface = Some("lo".to_owned());
    let addr = ServerAddress::parse(&server.url()).unwrap();
    match Transport::new(cfg)
        .unwrap()
        .connect_ws(&addr, V, true)
        .await
    {
        Err(TransportError::Connect { source, .. }) if source.raw_os_error() == Some(1) => {
            eprintln!("skipped: the OS refuses SO_BINDTODEVICE to this process ({source})");
            true
        }
        _ => false,
    }
}

#[tokio::test]
async fn sockets_bind_to_the_chosen_interface() {
    if bind_to_device_refused().await {
        return;
    }
    // The whole client, bound to the loopback interface, reaches the loopback server.
    let server = tlcp_server().await;
    for (t, status) in [PATHS[0], PATHS[1]] {
        let b = Client::builder(&server.url(), "DEMO").bind_interface("lo");
        quote_through(with_transport(b, t), status).await;
    }
    // The option reaches the socket: an interface that does not exist fails the connect
    // (ENODEV), where an unbound socket would connect.
    let addr = ServerAddress::parse(&server.url()).unwrap();
    let mut cfg = TransportConfig::default();
    cfg.bind_interface = Some("nosuchif0".to_owned());
    match Transport::new(cfg)
        .unwrap()
        .connect_ws(&addr, V, true)
        .await
    {
        Err(TransportError::Connect { source, .. }) => {
            assert_eq!(source.raw_os_error(), Some(19 /* ENODEV */), "{source}");
        }
        Ok(_) => panic!("connected through an interface that does not exist"),
        Err(e) => panic!("unexpected {e}"),
    }
    // Names that cannot be interfaces are refused when the client is built.
    for bad in ["", "a-name-longer-than-15", "a/b"] {
        let built = Client::builder(&server.url(), "DEMO")
            .bind_interface(bad)
            .build();
        assert!(
            matches!(
                built,
                Err(tlcp_client::Error::Config(TransportError::InvalidConfig(_)))
            ),
            "{bad:?}"
        );
    }
}
