//! How stream connections and sessions end: binding a closed session.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{HttpPeer, WsPeer, start};

const CID: &str = "LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg";

async fn http_create(server: &tlcp_server::ServerHandle, params: &str) -> (HttpPeer, String) {
    let mut s = HttpPeer::post(
        server,
        "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0",
        &format!("{CID}&LS_adapter_set=TEST&{params}"),
    )
    .await;
    assert_eq!(s.status, 200);
    let conok = s.expect("CONOK,").await;
    s.expect("CONS,").await;
    (s, conok.split(',').nth(1).unwrap().to_owned())
}

// --- 7. Binding a closed session -------------------------------------------------------

/// Binding a session that was just closed on the server side (still registered) is
/// answered `END` with its cause, over HTTP and WS, not `CONERR`.
#[tokio::test]
async fn binding_a_just_closed_session_answers_end() {
    let mut cfg = common::config();
    cfg.unbound_timeout = Duration::from_secs(30);
    let (server, _m) = start(cfg).await;
    for ws in [false, true] {
        let mut got_end = false;
        for _attempt in 0..10 {
            let (mut poll, sid) = http_create(
                &server,
                "LS_polling=true&LS_polling_millis=0&LS_idle_millis=0",
            )
            .await;
            poll.expect("LOOP,").await;
            server.close_sessions(-5, "closed by the test");
            let line = if ws {
                let mut c = WsPeer::connect(&server, "2.5.0").await;
                c.send(&format!(
                    "bind_session\r\nLS_session={sid}&LS_polling=true&LS_idle_millis=0"
                ))
                .await;
                c.next_line().await.unwrap()
            } else {
                let mut b = HttpPeer::post(
                    &server,
                    "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0",
                    &format!("LS_session={sid}&LS_polling=true&LS_idle_millis=0"),
                )
                .await;
                b.next_line().await.unwrap()
            };
            if line.starts_with("CONERR,20,") {
                continue; // reaped in between: try again
            }
            assert_eq!(line, "END,-5,closed by the test", "ws: {ws}");
            got_end = true;
            break;
        }
        assert!(got_end, "the reaper always came first (ws: {ws})");
    }
    assert_eq!(server.session_count(), 0, "answered END: forgotten");
    server.shutdown().await.unwrap();
}
