//! Logs never show the password nor a session id: real sessions against the in-process
//! server, on every kind of transport, with every event and span field of the client's
//! crates (and of the libraries under it) captured at TRACE level and searched.

#![allow(clippy::unwrap_used)]

mod common;

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tlcp_client::{ConnectionEvent, ForcedTransport, MessageOutcome, Status, Subscription};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const PASSWORD: &str = "pw-Zq9x-7781-secret";

/// Every event and span field, one line per event or span record:
/// `<level> <target> <name>: field=value ...`.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl Capture {
    fn push(&self, meta: &tracing::Metadata<'_>, record: impl FnOnce(&mut Fields<'_>)) {
        // The server runs in this process too; only the client side is judged.
        if meta.target().starts_with("tlcp_server") {
            return;
        }
        let mut line = format!("{} {} {}:", meta.level(), meta.target(), meta.name());
        record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        self.push(event.metadata(), |f| event.record(f));
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        self.push(attrs.metadata(), |f| attrs.record(f));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            self.push(span.metadata(), |f| values.record(f));
        }
    }
}

/// A session on `transport` with the password: subscribe, read an update, send a
/// message, let heartbeats go, disconnect. Returns the session id.
async fn session(server: &tlcp_server::ServerHandle, transport: ForcedTransport) -> String {
    let client = tlcp_client::Client::builder(&server.url(), "DEMO")
        .user("alice")
        .password(PASSWORD)
        .forced_transport(transport)
        .reverse_heartbeat_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut events = client.events();
    client.connect();
    let session_id = wait_event(&mut events, "the session", |e| match e {
        ConnectionEvent::SessionCreated { session_id } => Some(session_id.expose().to_owned()),
        _ => None,
    })
    .await;
    let mut quotes = client
        .subscribe(
            Subscription::merge(["item3"], ["stock_name", "last_price"]).data_adapter("STOCKS"),
        )
        .await
        .unwrap();
    next_update(&mut quotes, "a quote").await;
    let outcome = within("the message outcome", async {
        client.send_message("ECHO|hello").sequence("S").await
    })
    .await;
    assert!(
        matches!(outcome, Ok(MessageOutcome::Processed { .. })),
        "{outcome:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(client.current_status().is_connected());
    client.disconnect();
    wait_status(&client, Status::Disconnected).await;
    session_id
}

#[tokio::test]
async fn logs_never_show_the_password_nor_a_session_id() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(capture.clone()))
        .unwrap();
    let (server, _) = start().await;
    let mut ids = Vec::new();
    for transport in [
        ForcedTransport::WsStreaming,
        ForcedTransport::HttpStreaming,
        ForcedTransport::HttpPolling,
    ] {
        ids.push(session(&server, transport).await);
    }
    let lines = capture.lines();
    // The capture works, at every level: the client's own debug events are there.
    let client_lines = lines.iter().filter(|l| l.contains(" tlcp_client")).count();
    assert!(client_lines > 20, "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("DEBUG tlcp_client")));
    assert!(lines.iter().any(|l| l.contains("session created")));
    for (what, secret) in std::iter::once(("the password", PASSWORD))
        .chain(ids.iter().map(|id| ("a session id", id.as_str())))
    {
        assert!(secret.len() > 6, "{secret}");
        for line in &lines {
            assert!(!line.contains(secret), "{what} logged: {line}");
        }
    }
    eprintln!(
        "{} lines captured, {client_lines} from the client",
        lines.len()
    );
}
