//! The broker's own semantics against tlcp-server in process: payload encodings, headers,
//! message outcomes, request-reply through `MSGDONE`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures_util::StreamExt;
use ruststream::{
    AckError, Broker, ConnectedBroker, HeaderMap, IncomingMessage, OutgoingMessage, Publisher,
    RequestReply, RetryDeclaration, Subscriber, SubscriptionSource, nonzero,
};
use tlcp_ruststream::{
    HEADER_ITEM, HEADER_POSITION, HEADER_SNAPSHOT, HEADER_SUBSCRIPTION, LsBroker, LsConfig,
    LsError, LsSource, MessageOptions, PayloadEncoding,
};

const WAIT: Duration = Duration::from_secs(10);

async fn connect() -> (tlcp_server::ServerHandle, tlcp_ruststream::ConnectedLs) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let adapters = tlcp_server::demo::demo_adapters(Default::default());
    let server = tlcp_server::spawn(listener, Default::default(), adapters).unwrap();
    let connected = LsBroker::new(LsConfig::new(server.url(), "DEMO"))
        .connect()
        .await
        .unwrap();
    (server, connected)
}

fn header<'a>(m: &'a impl IncomingMessage, name: &str) -> &'a str {
    std::str::from_utf8(m.headers().get(name).unwrap()).unwrap()
}

#[tokio::test]
async fn merge_updates_arrive_as_json_objects_with_item_headers() {
    let (_server, connected) = connect().await;
    let source = LsSource::merge(["item1", "item2"], ["stock_name", "last_price"])
        .data_adapter("STOCKS")
        .snapshot(true);
    let mut sub = source.subscribe(&connected).await.unwrap();
    let first = {
        let mut stream = std::pin::pin!(sub.stream());
        tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    let json: serde_json::Value = serde_json::from_slice(first.payload()).unwrap();
    let object = json.as_object().unwrap();
    assert_eq!(object.len(), 2, "{json}");
    assert!(object["stock_name"].is_string(), "{json}");
    assert!(
        object["last_price"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .is_ok(),
        "{json}"
    );
    let item = header(&first, HEADER_ITEM);
    let pos = header(&first, HEADER_POSITION);
    assert!(
        matches!((item, pos), ("item1", "1") | ("item2", "2")),
        "{item} {pos}"
    );
    assert_eq!(header(&first, HEADER_SNAPSHOT), "true");
    assert_eq!(header(&first, HEADER_SUBSCRIPTION), "item1 item2");
    assert!(matches!(first.ack().await, Err(AckError::Unsupported)));
    drop(sub);
    connected.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_verb_publish_comes_back_on_the_chat_room() {
    let (_server, connected) = connect().await;
    let source = LsSource::distinct(["chat_room"], ["message", "nick"])
        .data_adapter("CHAT")
        .snapshot(false)
        .payload(PayloadEncoding::Field("message".into()));
    let mut sub = source.subscribe(&connected).await.unwrap();
    let publisher = connected.publisher();
    // `<name>|<payload>`: the demo metadata adapter reads `CHAT|<text>`.
    for i in 0..5 {
        let text = format!("hello {i}");
        let options = MessageOptions {
            sequence: Some("chat".into()),
            ..Default::default()
        };
        publisher
            .publish(
                OutgoingMessage::new("CHAT", text.as_bytes()),
                Some(&options),
            )
            .await
            .unwrap();
    }
    let mut stream = std::pin::pin!(sub.stream());
    for i in 0..5 {
        let m = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(m.payload(), format!("hello {i}").as_bytes());
        assert_eq!(header(&m, HEADER_SNAPSHOT), "false");
    }
}

#[tokio::test]
async fn what_tlcp_cannot_carry_is_refused() {
    let (_server, connected) = connect().await;
    let publisher = connected.publisher();
    let mut headers = HeaderMap::new();
    headers.insert("x-a", "b");
    let err = publisher
        .publish(
            OutgoingMessage::new("CHAT", b"x").with_headers(headers),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LsError::HeadersUnsupported(1)), "{err}");
    let err = publisher
        .publish(OutgoingMessage::new("CHAT", &[0xff, 0xfe]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, LsError::NotText), "{err}");
    // The metadata adapter denies an unknown verb: the outcome is the publish's error.
    let err = publisher
        .publish(OutgoingMessage::new("NOPE", b"x"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LsError::Outcome(s) if s.contains("denied")),
        "{err}"
    );
    connected.clone().shutdown().await.unwrap();
    let err = publisher
        .publish(OutgoingMessage::new("CHAT", b"late"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, LsError::Closed), "{err}");
}

#[tokio::test]
async fn a_request_is_answered_by_the_msgdone_response() {
    let (_server, connected) = connect().await;
    let requester = connected.requester();
    let reply = requester
        .request(OutgoingMessage::new("ECHO", b"ping 42"), WAIT)
        .await
        .unwrap();
    assert_eq!(reply.payload(), b"ping 42");
    let reply = requester
        .request(OutgoingMessage::new("BUY", b"item3|7"), WAIT)
        .await
        .unwrap();
    assert_eq!(reply.payload(), b"7");
    let err = requester
        .request(OutgoingMessage::new("SELL", b"item4|1000"), WAIT)
        .await
        .unwrap_err();
    assert!(matches!(err, LsError::Outcome(_)), "{err}");
    connected.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_retry_cap_or_dead_letter_is_refused_not_ignored() {
    let (_server, connected) = connect().await;
    let source = LsSource::merge(["item1"], ["last_price"]).data_adapter("STOCKS");
    let none = RetryDeclaration::new();
    assert!(source.declare_retry_on(&connected, &none).is_ok());
    let capped = RetryDeclaration::new().with_max_attempts(nonzero!(3u32));
    assert!(source.declare_retry_on(&connected, &capped).is_err());
    let dead = RetryDeclaration::new().with_dead_letter("dead");
    assert!(source.declare_retry_on(&connected, &dead).is_err());
    connected.shutdown().await.unwrap();
}

#[test]
fn the_password_never_shows_in_debug() {
    let config = LsConfig::new("http://127.0.0.1:1", "DEMO")
        .user("alice")
        .password("hunter2-secret");
    let shown = format!("{:?} {:?}", config, LsBroker::new(config.clone()));
    assert!(!shown.contains("hunter2-secret"), "{shown}");
    assert!(shown.contains("alice"), "{shown}");
}

#[tokio::test]
async fn connect_to_nothing_times_out() {
    // A port nothing listens on: the client retries; connect gives up on time.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = LsConfig::new(format!("http://127.0.0.1:{port}"), "DEMO")
        .connect_timeout(Duration::from_millis(500));
    let err = LsBroker::new(config).connect().await.unwrap_err();
    assert!(matches!(err, LsError::ConnectTimeout(_)), "{err}");
}

#[tokio::test]
async fn an_unknown_adapter_set_fails_connect() {
    let (server, _connected) = connect().await;
    let err = LsBroker::new(LsConfig::new(server.url(), "NO_SUCH_SET"))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, LsError::Client(_)), "{err}");
}
