//! The server judged by the official Lightstreamer clients (npm `lightstreamer-client-node`
//! 9.2.2 and PyPI `lightstreamer-client-lib` 2.2.3), over each forced transport.
//!
//! Every scenario runs with both libraries at once (one server each), and is generated for
//! WS-STREAMING, HTTP-STREAMING, WS-POLLING and HTTP-POLLING: `<scenario>::<transport>`.
//! The drivers and their JSON protocol are described in `interop/PROTOCOL.md`.
//!
//! When diagnosing: `TLCP_INTEROP_LOG=debug` puts the libraries' own logs (every line they
//! receive) in the failure messages, `TLCP_INTEROP_ONLY=node` or `=python` runs one client.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "official_clients/recovery_refused.rs"]
mod refusal;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Manual;
use refusal::recovery_refused;
use serde_json::{Value, json};
use tlcp_server::{
    AdapterSet, BoxFuture, ClientInfo, MetadataAdapter, Refusal, ServerConfig, ServerHandle, Update,
};
use tlcp_testkit::official::{OfficialClient, OfficialKind, is_event_of, is_status};

/// How long any single expectation may take.
const T: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// Transports and the test matrix
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    WsStreaming,
    HttpStreaming,
    WsPolling,
    HttpPolling,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::WsStreaming => "WS-STREAMING",
            Transport::HttpStreaming => "HTTP-STREAMING",
            Transport::WsPolling => "WS-POLLING",
            Transport::HttpPolling => "HTTP-POLLING",
        }
    }

    fn connected(self) -> String {
        format!("CONNECTED:{}", self.name())
    }
}

/// Runs `scenario` with the Node and the Python client at the same time.
async fn both<F, Fut>(scenario: F, transport: Transport)
where
    F: Fn(OfficialKind, Transport) -> Fut,
    Fut: Future<Output = ()>,
{
    tlcp_testkit::official::ensure_installed();
    // TLCP_INTEROP_ONLY=node|python runs one of the two (when diagnosing).
    let only = std::env::var("TLCP_INTEROP_ONLY").unwrap_or_default();
    let run = |kind: OfficialKind| only.is_empty() || only == kind.name();
    tokio::join!(
        async {
            if run(OfficialKind::Node) {
                scenario(OfficialKind::Node, transport).await;
            }
        },
        async {
            if run(OfficialKind::Python) {
                scenario(OfficialKind::Python, transport).await;
            }
        }
    );
}

/// One module per scenario, one test per transport in it.
macro_rules! matrix {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::{Transport, both};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ws_streaming() {
                both(super::$scenario, Transport::WsStreaming).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn http_streaming() {
                both(super::$scenario, Transport::HttpStreaming).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ws_polling() {
                both(super::$scenario, Transport::WsPolling).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn http_polling() {
                both(super::$scenario, Transport::HttpPolling).await;
            }
        }
    )*};
}

matrix!(
    merge,
    distinct,
    command,
    command_two_levels,
    raw,
    unfiltered_losses,
    reconfiguration,
    messages,
    recovery,
    server_close,
);

/// Recovery refused, over the streaming transports only: a polling session is not bound
/// between polls, so a silence loses nothing there and its recovery rightly succeeds
/// (the recovery request itself is the same HTTP polling bind whatever the transport).
mod recovery_refused {
    use super::{Transport, both};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ws_streaming() {
        both(super::recovery_refused, Transport::WsStreaming).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http_streaming() {
        both(super::recovery_refused, Transport::HttpStreaming).await;
    }
}

// ---------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------

/// The `TEST` metadata adapter: literal names; messages `ORDER|<n>|<delay-ms>` are
/// recorded in the order they are handled (after the delay) and answered with `<n>`,
/// `ECHO|<text>` is answered with `<text>`, anything else is denied with code -1.
#[derive(Clone, Default)]
struct Recorder {
    handled: Arc<Mutex<Vec<String>>>,
}

impl MetadataAdapter for Recorder {
    fn handle_message(
        &self,
        _client: &ClientInfo,
        message: &str,
    ) -> BoxFuture<Result<String, Refusal>> {
        let handled = self.handled.clone();
        let parts: Vec<String> = message.split('|').map(str::to_owned).collect();
        Box::pin(async move {
            match parts.as_slice() {
                [verb, text] if verb == "ECHO" => Ok(text.clone()),
                [verb, n, delay] if verb == "ORDER" => {
                    let ms = delay.parse().map_err(|_| Refusal::new(-1, "bad delay"))?;
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    handled.lock().unwrap().push(n.clone());
                    Ok(n.clone())
                }
                _ => Err(Refusal::new(-1, "unknown message")),
            }
        })
    }
}

struct Fixture {
    server: ServerHandle,
    /// The `TEST` data adapter (items pushed by hand, optional snapshots).
    data: Manual,
    metadata: Recorder,
}

impl Fixture {
    async fn start(config: ServerConfig) -> Self {
        let data = Manual::default();
        let metadata = Recorder::default();
        let adapters = tlcp_server::demo::demo_adapters(Default::default()).with_set(
            "TEST",
            AdapterSet::new(metadata.clone()).with_data_adapter("DEFAULT", data.clone()),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = tlcp_server::spawn(listener, config, adapters).unwrap();
        Self {
            server,
            data,
            metadata,
        }
    }

    fn push(&self, item: &str, fields: &[(&str, Option<&str>)]) {
        self.data.push(item, fields);
    }

    /// Starts a `kind` client and connects it over `transport` to the adapter set `set`;
    /// returns once it reports `CONNECTED:<transport>`, checking the statuses on the way.
    async fn connect(
        &self,
        kind: OfficialKind,
        transport: Transport,
        set: &str,
        options: Value,
    ) -> OfficialClient {
        self.connect_to(&self.server.url(), kind, transport, set, options)
            .await
    }

    /// [`Fixture::connect`] through `url` (a proxy in front of the server).
    async fn connect_to(
        &self,
        url: &str,
        kind: OfficialKind,
        transport: Transport,
        set: &str,
        options: Value,
    ) -> OfficialClient {
        let mut client = OfficialClient::start(kind).await;
        client
            .send(json!({"cmd": "connect", "url": url, "adapter_set": set,
                         "transport": transport.name(), "options": options}))
            .await;
        let seen = client
            .collect_until(&transport.connected(), T, is_status(&transport.connected()))
            .await;
        let statuses = statuses(&seen);
        assert_eq!(
            statuses,
            expected_connection_statuses(transport),
            "{kind} over {}: {seen:#?}",
            transport.name()
        );
        client
    }
}

fn expected_connection_statuses(transport: Transport) -> Vec<String> {
    let mut v = vec!["CONNECTING".to_owned()];
    if transport != Transport::WsStreaming {
        v.push("CONNECTED:STREAM-SENSING".to_owned());
    }
    v.push(transport.connected());
    v
}

/// The session ids the client reported, in order.
fn session_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["ev"] == "property" && e["name"] == "sessionId")
        .filter_map(|e| e["value"].as_str().map(str::to_owned))
        .collect()
}

fn statuses(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["ev"] == "status")
        .filter_map(|e| e["status"].as_str().map(str::to_owned))
        .collect()
}

/// The fields of an update pushed by the adapter (`None` = null).
type Fields<'a> = Vec<(&'a str, Option<&'a str>)>;

/// A predicate: an update of subscription `id` for item `item`.
fn is_update_of(id: &str, item: &str) -> impl FnMut(&Value) -> bool + use<> {
    let mut of = is_event_of("update", id);
    let item = item.to_owned();
    move |v| of(v) && v["item"].as_str() == Some(item.as_str())
}

/// The JSON object a driver reports as `fields` for this row.
fn fields_json(row: &BTreeMap<&str, Option<String>>) -> Value {
    Value::Object(
        row.iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    v.clone().map_or(Value::Null, Value::String),
                )
            })
            .collect(),
    )
}

/// The outcome of message `id`: found in `events` (already read), or the next one.
async fn outcome_of(client: &mut OfficialClient, events: &[Value], id: &str) -> Value {
    match events.iter().find(|e| is_event_of("msg", id)(e)) {
        Some(outcome) => outcome.clone(),
        None => {
            client
                .expect(&format!("outcome of {id}"), T, is_event_of("msg", id))
                .await
        }
    }
}

async fn finish(mut client: OfficialClient) {
    let kind = client.kind();
    let errors: Vec<&Value> = client
        .events()
        .iter()
        .filter(|e| e["ev"] == "error")
        .collect();
    assert!(errors.is_empty(), "{kind}: driver errors {errors:#?}");
    let status = client.exit().await;
    assert!(status.success(), "{kind} driver exit status {status}");
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

/// MERGE with snapshot: the snapshot rows, then updates with every kind of value; each
/// field value the client shows equals what the adapter pushed, `changed` lists exactly
/// the fields whose value changed.
async fn merge(kind: OfficialKind, transport: Transport) {
    let fx = Fixture::start(ServerConfig::default()).await;
    let fields = ["a", "b", "c"];
    let s = |v: &str| Some(v.to_owned());
    fx.data
        .seed("m1", vec![vec![("a", s("a0")), ("b", None), ("c", s(""))]]);
    fx.data.seed(
        "m2",
        vec![vec![("a", s("x|y")), ("b", s("%")), ("c", s("é ü"))]],
    );
    let mut client = fx.connect(kind, transport, "TEST", json!({})).await;
    client
        .send(
            json!({"cmd": "subscribe", "id": "m", "mode": "MERGE", "items": ["m1", "m2"],
                     "fields": fields, "snapshot": true}),
        )
        .await;
    client
        .expect("subscribed", T, is_event_of("subscribed", "m"))
        .await;
    let mut rows: BTreeMap<&str, BTreeMap<&str, Option<String>>> = BTreeMap::new();
    rows.insert("m1", [("a", s("a0")), ("b", None), ("c", s(""))].into());
    rows.insert(
        "m2",
        [("a", s("x|y")), ("b", s("%")), ("c", s("é ü"))].into(),
    );
    for (item, pos) in [("m1", 1), ("m2", 2)] {
        let u = client
            .expect(&format!("snapshot of {item}"), T, is_update_of("m", item))
            .await;
        assert_eq!(u["snapshot"], true, "{kind}: {u}");
        assert_eq!(u["pos"], pos, "{kind}: {u}");
        assert_eq!(u["fields"], fields_json(&rows[item]), "{kind}: {u}");
        assert_eq!(u["changed"], json!(fields), "{kind}: {u}");
    }

    let long = "The quick brown fox jumps over the lazy dog, again and again and again";
    let long_cat = long.replace("fox", "cat");
    // JSON values (compact, sorted keys) changed at both ends: a `^P` patch is shorter
    // than the value and than a `^T` diff, so the server may send one.
    let note = "a text long enough for a JSON Patch to be much shorter than the value, ".repeat(3);
    let j = |first: &str, last: &str| format!(r#"{{{first},"note":"{note}","z":{last}}}"#);
    let (j1, j2) = (
        j(r#""a":1,"b":[1,2,3]"#, "1"),
        j(r#""a":2,"b":[1,2,3]"#, "2"),
    );
    let (j3, j4) = (j(r#""a":1,"e":"café""#, "1"), j(r#""a":2,"e":"café""#, "2"));
    let (j5, j6) = (
        j(r#""a":1.0,"f":0.5"#, "1.5"),
        j(r#""a":2.0,"f":0.5"#, "2.5"),
    );
    let (j7, j8) = (j(r#""10":1,"9":2"#, "1"), j(r#""10":2,"9":2"#, "2"));
    let (j9, j10) = (
        j(r#""a":9007199254740993"#, "1"),
        j(r#""a":9007199254740993"#, "2"),
    );
    let (j11, j12) = (
        j("\"a\":1,\"d\":\"x\u{7f}y\"", "1"),
        j("\"a\":2,\"d\":\"x\u{7f}y\"", "2"),
    );
    let (j13, j14) = (
        j(r#""a":1,"u":"caf\u00e9""#, "1"),
        j(r#""a":2,"u":"caf\u00e9""#, "2"),
    );
    let pushes: Vec<(&str, Fields<'_>)> = vec![
        ("m1", vec![("a", None)]),
        ("m1", vec![("b", Some(""))]),
        ("m1", vec![("c", Some("|"))]),
        (
            "m2",
            vec![("a", Some("%")), ("b", Some("%25")), ("c", Some("|||"))],
        ),
        (
            "m1",
            vec![("a", Some("#")), ("b", Some("$")), ("c", Some("^"))],
        ),
        (
            "m1",
            vec![("a", Some("#x")), ("b", Some("$$")), ("c", Some("^4"))],
        ),
        (
            "m1",
            vec![("a", Some("^P")), ("b", Some("^T")), ("c", Some("^N"))],
        ),
        (
            "m2",
            vec![
                ("a", Some("é€ 😀 ü")),
                ("b", Some("a+b c")),
                ("c", Some("line\r\nbreak")),
            ],
        ),
        // Unchanged values are not in `changed`.
        (
            "m2",
            vec![
                ("a", Some("é€ 😀 ü")),
                ("b", Some("a+b c!")),
                ("c", Some("line\r\nbreak")),
            ],
        ),
        (
            "m2",
            vec![
                ("a", Some("=&;")),
                ("b", Some(",")),
                ("c", Some("\u{0}\u{7f}\t")),
            ],
        ),
        // Small changes of long values: the server may send `^T` diffs.
        (
            "m1",
            vec![
                ("a", Some(long)),
                ("b", Some("€uro prefix, then a long enough tail")),
                ("c", Some("😀😀😀 emoji prefix")),
            ],
        ),
        (
            "m1",
            vec![
                ("a", Some(&long_cat)),
                ("b", Some("€uro prefix, then a long enough tail!")),
            ],
        ),
        (
            "m1",
            vec![
                ("a", Some(&long[..20])),
                ("c", Some("😀😀😀 emoji prefix!")),
            ],
        ),
        ("m1", vec![("c", Some("😀😀 emoji prefix!"))]),
        (
            "m1",
            vec![("a", Some(&j1)), ("b", Some(&j3)), ("c", Some(&j5))],
        ),
        ("m1", vec![("a", Some(&j2))]),
        ("m1", vec![("b", Some(&j4))]),
        ("m1", vec![("c", Some(&j6))]),
        (
            "m1",
            vec![("a", Some(&j7)), ("b", Some(&j9)), ("c", Some(&j11))],
        ),
        ("m1", vec![("a", Some(&j8))]),
        ("m1", vec![("b", Some(&j10))]),
        ("m1", vec![("c", Some(&j12))]),
        ("m1", vec![("a", Some(&j13))]),
        ("m1", vec![("a", Some(&j14))]),
        ("m1", vec![("a", None), ("b", Some("")), ("c", None)]),
    ];
    let mut wrong = Vec::new();
    for (n, (item, values)) in pushes.iter().enumerate() {
        let row = rows.get_mut(item).unwrap();
        let mut changed = Vec::new();
        for f in fields {
            if let Some((_, v)) = values.iter().find(|(k, _)| *k == f) {
                let v = v.map(str::to_owned);
                if row[f] != v {
                    changed.push(f);
                }
                row.insert(f, v);
            }
        }
        fx.push(item, values);
        let u = client
            .expect(&format!("update {n} of {item}"), T, is_update_of("m", item))
            .await;
        // Every difference is listed before failing, to show them all at once.
        let want = json!({"snapshot": false, "fields": fields_json(row), "changed": changed});
        let got =
            json!({"snapshot": u["snapshot"], "fields": u["fields"], "changed": u["changed"]});
        if got != want {
            wrong.push(format!("push {n} {values:?}:\n   got {got}\n  want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{kind}: {}", wrong.join("\n"));
    // The adapter clears the item: MERGE has no `CS` (the official clients drop the session
    // on one), the row becomes all nulls.
    fx.data.feed("m1").clear_snapshot();
    let u = client
        .expect("m1 cleared", T, is_update_of("m", "m1"))
        .await;
    assert_eq!(
        (&u["fields"], &u["changed"]),
        (&json!({"a": null, "b": null, "c": null}), &json!(["b"])),
        "{kind}: {u}"
    );
    finish(client).await;
}

/// DISTINCT with a snapshot length: the last 3 events of the adapter's snapshot, `EOS`,
/// then the live events.
async fn distinct(kind: OfficialKind, transport: Transport) {
    let fx = Fixture::start(ServerConfig::default()).await;
    let rows = (1..=5)
        .map(|i| vec![("t", Some(format!("n{i}")))])
        .collect();
    fx.data.seed("news", rows);
    let mut client = fx.connect(kind, transport, "TEST", json!({})).await;
    client
        .send(
            json!({"cmd": "subscribe", "id": "d", "mode": "DISTINCT", "items": ["news"],
                     "fields": ["t"], "snapshot": "3"}),
        )
        .await;
    client
        .expect("the snapshot", T, is_event_of("eos", "d"))
        .await;
    fx.data.wait_feed("news").await;
    for live in ["n6", "n7"] {
        fx.push("news", &[("t", Some(live))]);
        client
            .expect(&format!("live {live}"), T, |e| {
                is_event_of("update", "d")(e) && e["fields"]["t"] == live
            })
            .await;
    }
    let seen: Vec<String> = client
        .events()
        .iter()
        .filter(|e| e["id"] == "d")
        .filter_map(|e| match e["ev"].as_str()? {
            "update" if e["snapshot"] == true => Some(format!("{} (snapshot)", e["fields"]["t"])),
            "update" => Some(e["fields"]["t"].to_string()),
            "eos" => Some("EOS".to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(
        seen,
        [
            r#""n3" (snapshot)"#,
            r#""n4" (snapshot)"#,
            r#""n5" (snapshot)"#,
            "EOS",
            r#""n6""#,
            r#""n7""#
        ],
        "{kind}: {:#?}",
        client.events()
    );
    // The adapter clears the item: `CS`, which the client reports as such.
    fx.data.feed("news").clear_snapshot();
    let cs = client.expect("CS", T, is_event_of("cs", "d")).await;
    assert_eq!(
        (&cs["item"], &cs["pos"]),
        (&json!("news"), &json!(1)),
        "{kind}: {cs}"
    );
    finish(client).await;
}

/// What a driver reports of a COMMAND update: key, command, snapshot flag, fields.
fn command_row(e: &Value) -> Value {
    json!({"key": e["key"], "command": e["command"], "snapshot": e["snapshot"],
           "fields": e["fields"]})
}

/// COMMAND: the adapter's snapshot as ADDs, then ADD / UPDATE / DELETE as the client's own
/// COMMAND logic sees them (key and command, and each key's row).
async fn command(kind: OfficialKind, transport: Transport) {
    let fx = Fixture::start(ServerConfig::default()).await;
    let s = |v: &str| Some(v.to_owned());
    fx.data.seed(
        "book",
        vec![
            vec![
                ("key", s("k1")),
                ("command", s("ADD")),
                ("qty", s("1")),
                ("price", s("10")),
            ],
            vec![
                ("key", s("k2")),
                ("command", s("ADD")),
                ("qty", s("2")),
                ("price", s("20")),
            ],
        ],
    );
    let mut client = fx.connect(kind, transport, "TEST", json!({})).await;
    client
        .send(
            json!({"cmd": "subscribe", "id": "c", "mode": "COMMAND", "items": ["book"],
                     "fields": ["key", "command", "qty", "price"], "snapshot": true}),
        )
        .await;
    let subscribed = client
        .expect("subscribed", T, is_event_of("subscribed", "c"))
        .await;
    assert_eq!(
        (&subscribed["key_pos"], &subscribed["command_pos"]),
        (&json!(1), &json!(2)),
        "{kind}: {subscribed}"
    );
    let row = |key: &str, command: &str, qty: Option<&str>, price: Option<&str>, snap: bool| {
        json!({"key": key, "command": command, "snapshot": snap,
               "fields": {"key": key, "command": command, "qty": qty, "price": price}})
    };
    let snapshot = client
        .collect_until("EOS", T, is_event_of("eos", "c"))
        .await;
    let got: Vec<Value> = snapshot
        .iter()
        .filter(|e| is_event_of("update", "c")(e))
        .map(command_row)
        .collect();
    assert_eq!(
        got,
        [
            row("k1", "ADD", Some("1"), Some("10"), true),
            row("k2", "ADD", Some("2"), Some("20"), true)
        ],
        "{kind}"
    );
    fx.data.wait_feed("book").await;
    // Adapters send only what changed: an UPDATE keeps the key's other fields.
    let steps: Vec<(Fields<'_>, Value)> = vec![
        (
            vec![
                ("key", Some("k1")),
                ("command", Some("UPDATE")),
                ("qty", Some("5")),
            ],
            row("k1", "UPDATE", Some("5"), Some("10"), false),
        ),
        (
            vec![
                ("key", Some("k3")),
                ("command", Some("ADD")),
                ("qty", Some("3")),
                ("price", None),
            ],
            row("k3", "ADD", Some("3"), None, false),
        ),
        (
            vec![
                ("key", Some("k2")),
                ("command", Some("UPDATE")),
                ("price", Some("21")),
            ],
            row("k2", "UPDATE", Some("2"), Some("21"), false),
        ),
        (
            vec![("key", Some("k2")), ("command", Some("DELETE"))],
            row("k2", "DELETE", None, None, false),
        ),
        (
            vec![
                ("key", Some("k3")),
                ("command", Some("UPDATE")),
                ("price", Some("30")),
            ],
            row("k3", "UPDATE", Some("3"), Some("30"), false),
        ),
        (
            vec![("key", Some("k1")), ("command", Some("DELETE"))],
            row("k1", "DELETE", None, None, false),
        ),
        // The client's own COMMAND logic turns an UPDATE of a key it does not have into an
        // ADD (the server passes the adapter's command through).
        (
            vec![
                ("key", Some("k9")),
                ("command", Some("UPDATE")),
                ("qty", Some("9")),
            ],
            row("k9", "ADD", Some("9"), None, false),
        ),
    ];
    // `changed` is relative to the same key's previous row (all fields for a new key).
    let mut by_key: BTreeMap<String, Value> = got
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_owned(), r["fields"].clone()))
        .collect();
    let mut wrong = Vec::new();
    for (n, (push, want)) in steps.iter().enumerate() {
        fx.push("book", push);
        let u = client
            .expect(&format!("command step {n}"), T, is_event_of("update", "c"))
            .await;
        let key = want["key"].as_str().unwrap();
        let before = by_key.insert(key.to_owned(), want["fields"].clone());
        let changed: Vec<&str> = ["key", "command", "qty", "price"]
            .into_iter()
            .filter(|f| before.as_ref().is_none_or(|b| b[f] != want["fields"][f]))
            .collect();
        let mut want = want.clone();
        want["changed"] = json!(changed);
        let mut got = command_row(&u);
        got["changed"] = u["changed"].clone();
        if got != want {
            wrong.push(format!("step {n} {push:?}:\n   got {got}\n  want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{kind}: {}", wrong.join("\n"));
    // The adapter clears the item: `CS`, which the client reports as such.
    fx.data.feed("book").clear_snapshot();
    let cs = client.expect("CS", T, is_event_of("cs", "c")).await;
    assert_eq!(
        (&cs["item"], &cs["pos"]),
        (&json!("book"), &json!(1)),
        "{kind}: {cs}"
    );
    finish(client).await;
}

/// Two-level COMMAND: `PORTFOLIO` rows keyed by stock item, each completed by a MERGE
/// subscription of `STOCKS` the client makes on its own; `BUY` adds the row, selling
/// everything deletes it.
async fn command_two_levels(kind: OfficialKind, transport: Transport) {
    let fx = Fixture::start(ServerConfig::default()).await;
    let mut client = fx.connect(kind, transport, "DEMO", json!({})).await;
    client
        .send(
            json!({"cmd": "subscribe", "id": "p", "mode": "COMMAND", "items": ["portfolio1"],
                     "fields": ["key", "command", "qty"], "data_adapter": "PORTFOLIO",
                     "snapshot": true, "second_level_fields": ["stock_name", "last_price"],
                     "second_level_adapter": "STOCKS"}),
        )
        .await;
    client
        .expect("empty snapshot", T, is_event_of("eos", "p"))
        .await;
    client
        .send(json!({"cmd": "send", "id": "buy", "message": "BUY|item3|10"}))
        .await;
    // The row and the message outcome come in either order.
    let events = client
        .collect_until("item3 with its STOCKS fields", T, |e| {
            is_event_of("update", "p")(e)
                && e["key"] == "item3"
                && e["fields"]["stock_name"].is_string()
                && e["fields"]["last_price"].is_string()
        })
        .await;
    let filled = events.last().unwrap();
    assert_eq!(filled["fields"]["qty"], "10", "{kind}: {filled}");
    assert_eq!(filled["fields"]["key"], "item3", "{kind}: {filled}");
    let added = events
        .iter()
        .find(|e| is_event_of("update", "p")(e))
        .unwrap();
    assert_eq!(
        (&added["key"], &added["command"], &added["fields"]["qty"]),
        (&json!("item3"), &json!("ADD"), &json!("10")),
        "{kind}: {added}"
    );
    let outcome = outcome_of(&mut client, &events, "buy").await;
    assert_eq!(
        (&outcome["outcome"], &outcome["response"]),
        (&json!("processed"), &json!("10")),
        "{kind}: {outcome}"
    );
    client
        .send(json!({"cmd": "send", "id": "sell", "message": "SELL|item3|10"}))
        .await;
    let events = client
        .collect_until("DELETE item3", T, |e| {
            is_event_of("update", "p")(e) && e["key"] == "item3" && e["command"] == "DELETE"
        })
        .await;
    let deleted = events.last().unwrap();
    assert!(deleted["fields"]["qty"].is_null(), "{kind}: {deleted}");
    let outcome = outcome_of(&mut client, &events, "sell").await;
    assert_eq!(
        (&outcome["outcome"], &outcome["response"]),
        (&json!("processed"), &json!("0")),
        "{kind}: {outcome}"
    );
    let errors: Vec<&Value> = client
        .events()
        .iter()
        .filter(|e| e["ev"] == "second_level_error" || e["ev"] == "sub_error")
        .collect();
    assert!(errors.is_empty(), "{kind}: {errors:#?}");
    finish(client).await;
}

/// RAW: every event of each item, in order, repeated values included, no snapshot.
async fn raw(kind: OfficialKind, transport: Transport) {
    let fx = Fixture::start(ServerConfig::default()).await;
    let mut client = fx.connect(kind, transport, "TEST", json!({})).await;
    client
        .send(
            json!({"cmd": "subscribe", "id": "r", "mode": "RAW", "items": ["r1", "r2"],
                     "fields": ["v", "w"]}),
        )
        .await;
    client
        .expect("subscribed", T, is_event_of("subscribed", "r"))
        .await;
    fx.data.wait_feed("r2").await;
    let pushes = [
        ("r1", "1", "a"),
        ("r2", "1", "b"),
        ("r1", "1", "a"),
        ("r1", "2", "a"),
        ("r2", "1", "b"),
        ("r1", "3", "c"),
    ];
    for (item, v, w) in pushes {
        fx.push(item, &[("v", Some(v)), ("w", Some(w))]);
    }
    let mut seen = Vec::new();
    while seen.len() < pushes.len() {
        let u = client
            .expect("RAW update", T, is_event_of("update", "r"))
            .await;
        assert_eq!(u["snapshot"], false, "{kind}: {u}");
        seen.push((
            u["item"].as_str().unwrap_or("?").to_owned(),
            u["fields"]["v"].as_str().unwrap_or("?").to_owned(),
            u["fields"]["w"].as_str().unwrap_or("?").to_owned(),
        ));
    }
    // Each item's events come in order; the server may interleave items differently
    // (events held while a polling client is between polls go out item by item in turn).
    for item in ["r1", "r2"] {
        let got: Vec<(&str, &str)> = seen
            .iter()
            .filter(|(i, _, _)| i == item)
            .map(|(_, v, w)| (v.as_str(), w.as_str()))
            .collect();
        let want: Vec<(&str, &str)> = pushes
            .iter()
            .filter(|(i, _, _)| *i == item)
            .map(|(_, v, w)| (*v, *w))
            .collect();
        assert_eq!(got, want, "{kind}: {item} in {seen:?}");
    }
    finish(client).await;
}

/// Unfiltered MERGE on a congested server: what does not fit is dropped and announced with
/// `OV`, which the client reports as lost updates, at the right place and with the right
/// count.
async fn unfiltered_losses(kind: OfficialKind, transport: Transport) {
    let mut config = ServerConfig::default();
    config.congestion_bytes = 1;
    config.max_pending_events = 4;
    let fx = Fixture::start(config).await;
    let mut client = fx.connect(kind, transport, "TEST", json!({})).await;
    client
        .send(
            json!({"cmd": "subscribe", "id": "u", "mode": "MERGE", "items": ["burst"],
                     "fields": ["seq"], "max_frequency": "unfiltered"}),
        )
        .await;
    let conf = client
        .expect("CONF", T, is_event_of("real_max_frequency", "u"))
        .await;
    assert_eq!(conf["value"], "unlimited", "{kind}: {conf}");
    fx.data.wait_feed("burst").await;
    const N: u64 = 300;
    for i in 1..=N {
        fx.push("burst", &[("seq", Some(&i.to_string()))]);
    }
    let mut accounted = 0;
    let events = client
        .collect_until("every update received or reported lost", T, |e| {
            if is_event_of("update", "u")(e) {
                accounted += 1;
            } else if is_event_of("lost", "u")(e) {
                accounted += e["count"].as_u64().unwrap_or(0);
            }
            accounted >= N
        })
        .await;
    let mut next = 1;
    let mut lost = 0;
    for e in &events {
        if is_event_of("update", "u")(e) {
            let seq: u64 = e["fields"]["seq"]
                .as_str()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0);
            assert_eq!(seq, next, "{kind}: an update out of place {e}\n{events:#?}");
            next += 1;
        } else if is_event_of("lost", "u")(e) {
            assert_eq!(
                (&e["item"], &e["pos"]),
                (&json!("burst"), &json!(1)),
                "{kind}: {e}"
            );
            let count = e["count"].as_u64().unwrap_or(0);
            assert!(count > 0, "{kind}: {e}");
            next += count;
            lost += count;
        }
    }
    assert_eq!(next, N + 1, "{kind}: {events:#?}");
    assert!(
        lost > 0,
        "{kind}: {N} updates pushed at once into 4 free slots, none lost"
    );
    finish(client).await;
}

/// `setRequestedMaxFrequency` on a live subscription: `reconf`, answered by `CONF`, which
/// the client reports as the new real maximum frequency.
async fn reconfiguration(kind: OfficialKind, transport: Transport) {
    let fx = Fixture::start(ServerConfig::default()).await;
    let mut client = fx.connect(kind, transport, "TEST", json!({})).await;
    client
        .send(
            json!({"cmd": "subscribe", "id": "f", "mode": "MERGE", "items": ["f1"],
                     "fields": ["v"], "max_frequency": "10"}),
        )
        .await;
    let first = client
        .expect("CONF", T, is_event_of("real_max_frequency", "f"))
        .await;
    assert_eq!(first["value"], "10", "{kind}: {first}");
    for (requested, reported) in [("3", "3"), ("0.5", "0.5"), ("unlimited", "unlimited")] {
        client
            .send(json!({"cmd": "set_max_frequency", "id": "f", "value": requested}))
            .await;
        let conf = client
            .expect(
                &format!("CONF after asking {requested}"),
                T,
                is_event_of("real_max_frequency", "f"),
            )
            .await;
        assert_eq!(conf["value"], reported, "{kind}: {conf}");
    }
    fx.data.wait_feed("f1").await;
    fx.push("f1", &[("v", Some("after"))]);
    let u = client
        .expect("an update after the changes", T, is_event_of("update", "f"))
        .await;
    assert_eq!(u["fields"]["v"], "after", "{kind}: {u}");
    finish(client).await;
}

/// Messages: a response, a denial with the adapter's code, and a sequence handled one at a
/// time in order although the first messages take longest.
async fn messages(kind: OfficialKind, transport: Transport) {
    let fx = Fixture::start(ServerConfig::default()).await;
    let mut client = fx.connect(kind, transport, "TEST", json!({})).await;
    client
        .send(json!({"cmd": "send", "id": "echo", "message": "ECHO|hi"}))
        .await;
    let echo = client
        .expect("ECHO outcome", T, is_event_of("msg", "echo"))
        .await;
    assert_eq!(
        (&echo["outcome"], &echo["response"]),
        (&json!("processed"), &json!("hi")),
        "{kind}: {echo}"
    );
    client
        .send(json!({"cmd": "send", "id": "bad", "message": "nonsense"}))
        .await;
    let bad = client
        .expect("nonsense outcome", T, is_event_of("msg", "bad"))
        .await;
    assert_eq!(
        (&bad["outcome"], &bad["code"], &bad["error"]),
        (&json!("denied"), &json!(-1), &json!("unknown message")),
        "{kind}: {bad}"
    );
    for (n, delay) in [(1, 300), (2, 200), (3, 100), (4, 0), (5, 0)] {
        client
            .send(json!({"cmd": "send", "id": format!("o{n}"), "message": format!("ORDER|{n}|{delay}"),
                         "sequence": "orders"}))
            .await;
    }
    let mut outcomes = Vec::new();
    let events = client
        .collect_until("the 5 outcomes", T, |e| {
            if e["ev"] == "msg" && e["id"].as_str().is_some_and(|id| id.starts_with('o')) {
                outcomes.push(e.clone());
            }
            outcomes.len() == 5
        })
        .await;
    let got: Vec<(Value, Value, Value)> = events
        .iter()
        .filter(|e| e["ev"] == "msg" && e["id"].as_str().is_some_and(|id| id.starts_with('o')))
        .map(|e| (e["id"].clone(), e["outcome"].clone(), e["response"].clone()))
        .collect();
    let want: Vec<(Value, Value, Value)> = (1..=5)
        .map(|n| {
            (
                json!(format!("o{n}")),
                json!("processed"),
                json!(n.to_string()),
            )
        })
        .collect();
    assert_eq!(got, want, "{kind}");
    assert_eq!(
        *fx.metadata.handled.lock().unwrap(),
        ["1", "2", "3", "4", "5"],
        "{kind}"
    );
    finish(client).await;
}

/// Session recovery: the stream connection is cut while a DISTINCT flow runs; the client
/// recovers the same session and the flow has no gap and no duplicate.
async fn recovery(kind: OfficialKind, transport: Transport) {
    let fx = Fixture::start(ServerConfig::default()).await;
    let mut client = fx.connect(kind, transport, "TEST", json!({})).await;
    client
        .send(
            json!({"cmd": "subscribe", "id": "q", "mode": "DISTINCT", "items": ["seq"],
                     "fields": ["n"]}),
        )
        .await;
    client
        .expect("subscribed", T, is_event_of("subscribed", "q"))
        .await;
    let feed = fx.data.wait_feed("seq").await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pusher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            let mut u = Update::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                u.set("n", &n.to_string());
                feed.update(&u);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            n
        })
    };
    let is_n = |at_least: u64| {
        move |e: &Value| {
            is_event_of("update", "q")(e)
                && e["fields"]["n"]
                    .as_str()
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| n >= at_least)
        }
    };
    client.expect("the flow", T, is_n(20)).await;
    // A polling client is bound only while a poll is pending: cut until one is hit.
    let connected = transport.connected();
    let mut since_cut = Vec::new();
    let deadline = tokio::time::Instant::now() + T;
    while !since_cut
        .iter()
        .any(|e: &Value| e["ev"] == "status" && e["status"] != connected.as_str())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kind}: no reaction to the cuts within {T:?}: {since_cut:#?}"
        );
        fx.server.drop_stream_connections();
        since_cut.extend(client.collect_for(Duration::from_millis(100)).await);
    }
    let back = |e: &Value| e["ev"] == "status" && e["status"] == connected.as_str();
    let lost_at = since_cut
        .iter()
        .position(|e| e["ev"] == "status" && e["status"] != connected.as_str())
        .unwrap();
    if !since_cut[lost_at..].iter().any(back) {
        client.expect("back to CONNECTED", T, back).await;
    }
    let last_seen = |client: &OfficialClient| {
        client
            .events()
            .iter()
            .rev()
            .find(|e| is_event_of("update", "q")(e))
            .and_then(|e| e["fields"]["n"].as_str()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let last = last_seen(&client);
    client
        .expect("the flow after recovery", T, is_n(last + 50))
        .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let pushed = pusher.await.unwrap();
    // The expectation above may have read the very last update already.
    if last_seen(&client) < pushed {
        client.expect("the last update", T, is_n(pushed)).await;
    }

    let statuses = statuses(client.events());
    let after: Vec<&str> = statuses
        .iter()
        .map(String::as_str)
        .skip_while(|s| *s == "CONNECTING" || *s == "CONNECTED:STREAM-SENSING" || *s == connected)
        .collect();
    assert_eq!(
        after.first(),
        Some(&"DISCONNECTED:TRYING-RECOVERY"),
        "{kind}: {statuses:?}"
    );
    let seqs: Vec<u64> = client
        .events()
        .iter()
        .filter(|e| is_event_of("update", "q")(e))
        .filter_map(|e| e["fields"]["n"].as_str()?.parse().ok())
        .collect();
    // The pushes started once the client had seen SUBOK: it gets every one of them.
    let want: Vec<u64> = (1..=pushed).collect();
    assert!(seqs == want, "{kind}: gaps or duplicates in {seqs:?}");
    let sessions: Vec<&Value> = client
        .events()
        .iter()
        .filter(|e| e["ev"] == "property" && e["name"] == "sessionId" && !e["value"].is_null())
        .collect();
    assert_eq!(
        sessions.len(),
        1,
        "{kind}: the session was replaced: {sessions:?}"
    );
    assert_eq!(fx.server.session_count(), 1, "{kind}");
    finish(client).await;
}

/// The server closes the session: with code 48 (maximum duration reached) the client opens
/// a new session at once and subscribes again; with an adapter's code it stops and reports
/// the code and message.
async fn server_close(kind: OfficialKind, transport: Transport) {
    let fx = Fixture::start(ServerConfig::default()).await;
    let s = |v: &str| Some(v.to_owned());
    fx.data.seed("x1", vec![vec![("v", s("x"))]]);
    let mut client = fx.connect(kind, transport, "TEST", json!({})).await;
    client
        .send(
            json!({"cmd": "subscribe", "id": "x", "mode": "MERGE", "items": ["x1"],
                     "fields": ["v"], "snapshot": true}),
        )
        .await;
    client
        .expect("snapshot", T, is_event_of("update", "x"))
        .await;
    let first_session = session_ids(client.events());
    fx.server
        .close_sessions(48, "Maximum session duration reached");
    let again = client
        .collect_until(
            "snapshot again, in a new session",
            T,
            is_event_of("update", "x"),
        )
        .await;
    let again_statuses = statuses(&again);
    assert_eq!(
        again_statuses.first().map(String::as_str),
        Some("DISCONNECTED:WILL-RETRY"),
        "{kind}: {again:#?}"
    );
    assert_eq!(
        again_statuses.last(),
        Some(&transport.connected()),
        "{kind}: {again:#?}"
    );
    assert!(
        again.iter().all(|e| e["ev"] != "server_error"),
        "{kind}: {again:#?}"
    );
    let sessions = session_ids(client.events());
    assert!(
        sessions.len() == 2 && sessions[0] == first_session[0] && sessions[1] != sessions[0],
        "{kind}: a new session was expected: {sessions:?}"
    );
    assert_eq!(
        again.last().unwrap()["fields"]["v"],
        "x",
        "{kind}: {again:#?}"
    );

    fx.server.close_sessions(-7, "closed by the test");
    let end = client
        .collect_until("unsubscribed", T, is_event_of("unsubscribed", "x"))
        .await;
    assert!(
        statuses(&end) == ["DISCONNECTED"],
        "{kind}: the client should stop: {end:#?}"
    );
    let reported: Vec<&Value> = end.iter().filter(|e| e["ev"] == "server_error").collect();
    assert_eq!(
        reported,
        [&json!({"ev": "server_error", "code": -7, "message": "closed by the test"})],
        "{kind}: {end:#?}"
    );
    let later = client.collect_for(Duration::from_millis(500)).await;
    assert!(
        later.iter().all(|e| e["ev"] != "status"),
        "{kind}: the client went on after END: {later:#?}"
    );
    finish(client).await;
}
