//! What a peer can make the server hold is bounded, and absurd values are refused or
//! clamped, never a panic.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{WsPeer, start};

// --- 1. Messages ---------------------------------------------------------------------

/// A `LS_msg_prog` absurdly far ahead is an invalid value; a large but sane gap is
/// skipped as one range (one `MSGFAIL,39` with the count), and the numbers in it are
/// still told apart from the received ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_far_ahead_is_refused_and_a_wide_gap_is_skipped_at_once() {
    let (server, _m) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=DEMO&LS_send_sync=false").await;
    c.send("msg\r\nLS_reqId=1&LS_message=ECHO%7Cx&LS_sequence=s&LS_msg_prog=100000000000&LS_max_wait=0")
        .await;
    c.expect("REQERR,1,65,").await;
    c.send("msg\r\nLS_reqId=2&LS_message=ECHO%7Cx&LS_sequence=s&LS_msg_prog=18446744073709551615&LS_max_wait=0")
        .await;
    c.expect("REQERR,2,65,").await;
    let t = Instant::now();
    c.send(
        "msg\r\nLS_reqId=3&LS_message=ECHO%7Cfar&LS_sequence=s&LS_msg_prog=1000001&LS_max_wait=0",
    )
    .await;
    c.expect_exact("REQOK,3").await;
    c.expect_exact("MSGFAIL,s,1000000,39,1000000").await;
    c.expect_exact("MSGDONE,s,1000001,far").await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    c.send("msg\r\nLS_reqId=4&LS_message=ECHO%7Cx&LS_sequence=s&LS_msg_prog=77")
        .await;
    c.expect("REQERR,4,32,").await;
    c.send("msg\r\nLS_reqId=5&LS_message=ECHO%7Cx&LS_sequence=s&LS_msg_prog=1000001")
        .await;
    c.expect("REQERR,5,33,").await;
    server.shutdown().await.unwrap();
}

/// Messages waiting for a missing predecessor and sequences are capped per session
/// (`REQERR,68` beyond); the missing message itself is still taken, and drains the queue.
#[tokio::test]
async fn waiting_messages_and_sequences_are_capped() {
    let mut cfg = common::config();
    cfg.max_queued_messages = 3;
    cfg.max_message_sequences = 2;
    let (server, _m) = start(cfg).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=DEMO&LS_send_sync=false").await;
    let msg = |req: u32, seq: &str, prog: u64| {
        format!(
            "msg\r\nLS_reqId={req}&LS_message=ECHO%7C{prog}&LS_sequence={seq}&LS_msg_prog={prog}&LS_max_wait=60000"
        )
    };
    for (req, prog) in [(1, 2), (2, 3), (3, 4)] {
        c.send(&msg(req, "a", prog)).await;
        c.expect_exact(&format!("REQOK,{req}")).await;
    }
    c.send(&msg(4, "a", 5)).await;
    c.expect("REQERR,4,68,").await;
    // The one the sequence waits for goes in, and the three behind it follow.
    c.send(&msg(5, "a", 1)).await;
    c.expect_exact("REQOK,5").await;
    for prog in 1..=4 {
        c.expect_exact(&format!("MSGDONE,a,{prog},{prog}")).await;
    }
    c.send(&msg(6, "b", 1)).await;
    c.expect_exact("REQOK,6").await;
    c.expect_exact("MSGDONE,b,1,1").await;
    c.send(&msg(7, "c", 1)).await;
    c.expect("REQERR,7,68,").await;
    // Known sequences go on.
    c.send(&msg(8, "a", 5)).await;
    c.expect_exact("REQOK,8").await;
    c.expect_exact("MSGDONE,a,5,5").await;
    server.shutdown().await.unwrap();
}
