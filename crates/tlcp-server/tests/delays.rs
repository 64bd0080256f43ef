//! `ServerHandle::write_delays`: how long written lines waited in the server.

mod common;

use std::time::{Duration, Instant};

use common::{WsPeer, start};

/// Every line written is counted, and a line that waits (here behind a bandwidth limit)
/// shows its wait: from the push, not from the moment the stream connection took it.
#[tokio::test]
async fn lines_are_counted_with_their_wait() {
    let began = Instant::now();
    let (server, manual) = start(common::config()).await;
    assert_eq!(server.write_delays().count(), 0);

    // A session that reads at once.
    let mut fast = WsPeer::connect(&server, "2.5.0").await;
    fast.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    fast.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=i1&LS_schema=a&LS_snapshot=false")
        .await;
    fast.expect_exact("REQOK,1").await;
    fast.expect_exact("SUBOK,1,1,1").await;
    fast.expect_exact("CONF,1,unlimited,filtered").await;
    manual.wait_feed("i1").await;
    for i in 0..20 {
        manual.push("i1", &[("a", Some(&i.to_string()))]);
        fast.expect_exact(&format!("U,1,1,{i}")).await;
    }
    let after_fast = server.write_delays();
    // At least the 20 updates and the subscription's lines.
    assert!(after_fast.count() >= 23, "{}", after_fast.count());
    assert!(after_fast.max() < began.elapsed());

    // A session limited to 2 kbit/s (250 bytes/s): its stream holds lines until its
    // budget allows them (a few hundred milliseconds for these 300 bytes).
    let mut slow = WsPeer::connect(&server, "2.5.0").await;
    slow.create("LS_adapter_set=TEST&LS_send_sync=false&LS_requested_max_bandwidth=2")
        .await;
    slow.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=i1&LS_schema=a&LS_snapshot=false")
        .await;
    slow.expect_exact("REQOK,1").await;
    slow.expect_exact("SUBOK,1,1,1").await;
    slow.expect_exact("CONF,1,unlimited,filtered").await;
    let pushed = Instant::now();
    let value = |i: usize| format!("s{i}{}", "x".repeat(100));
    for i in 0..3 {
        manual.push("i1", &[("a", Some(&value(i)))]);
    }
    for i in 0..3 {
        slow.expect_exact(&format!("U,1,1,{}", value(i))).await;
    }
    let waited = pushed.elapsed();
    let period = server.write_delays().since(&after_fast);
    assert!(period.count() >= 3, "{}", period.count());
    // The slow session's updates waited most of the time it took them to arrive (the
    // bucket's wait, whatever the machine), and no line more than that.
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    let top = period.quantile(1.0);
    assert!(
        top >= waited / 2 && top <= waited + Duration::from_millis(50),
        "longest wait {top:?}, the updates took {waited:?}"
    );
    server.shutdown().await.unwrap();
}
