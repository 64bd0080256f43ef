//! The fields an item gets from subscriptions' schemas are bounded: an item is shared by
//! every subscriber, so names one client makes up must not grow it without end.

#![allow(clippy::unwrap_used)]

mod common;

use common::{WsPeer, start};

#[tokio::test]
async fn schemas_cannot_widen_an_item_past_its_bound() {
    let mut config = common::config();
    config.max_fields_per_item = 4;
    let (server, manual) = start(config).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    let add = |id: u32, schema: &str| {
        format!(
            "control\r\nLS_reqId={id}&LS_op=add&LS_subId={id}&LS_mode=MERGE&LS_group=i1&LS_schema={schema}"
        )
    };
    c.send(&add(1, "a%20b%20c")).await;
    c.expect_exact("REQOK,1").await;
    c.expect_exact("SUBOK,1,1,3").await;
    // Two new names would make five fields: refused with "bad field schema".
    c.send(&add(2, "d%20e")).await;
    let refused = c.expect("REQERR,2,").await;
    assert!(refused.starts_with("REQERR,2,23,"), "{refused}");
    // Names the item has, and one new one (four in all), are fine; a name repeated in
    // the schema counts once.
    c.send(&add(3, "c%20a%20d%20d")).await;
    c.expect_exact("REQOK,3").await;
    c.expect_exact("SUBOK,3,1,4").await;
    c.expect_exact("CONF,3,unlimited,filtered").await;
    manual.push("i1", &[("a", Some("1")), ("d", Some("4"))]);
    c.expect_exact("U,1,1,1|#|#").await;
    c.expect_exact("U,3,1,#|1|4|4").await;
    // The item is full: any further new name is refused, and a refused subscription to a
    // fresh item does not leave that item started at the adapter.
    c.send(&add(4, "x")).await;
    assert!(c.expect("REQERR,4,").await.starts_with("REQERR,4,23,"));
    c.send(&add(5, "a%20b%20c%20d%20e").replace("LS_group=i1", "LS_group=i2"))
        .await;
    assert!(c.expect("REQERR,5,").await.starts_with("REQERR,5,23,"));
    manual.wait_feed("i2").await;
    for _ in 0..100 {
        if manual
            .unsubscribed
            .lock()
            .unwrap()
            .iter()
            .any(|i| i == "i2")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(*manual.unsubscribed.lock().unwrap(), ["i2"]);
    server.shutdown().await.unwrap();
}
