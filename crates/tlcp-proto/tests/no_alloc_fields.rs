//! Applying `U` value lists to a warmed-up row allocates nothing: counted with a global
//! allocator that counts the allocations of the current thread.

use tlcp_proto::Mode;
use tlcp_proto::fields::{ChangedFields, Encoder, Row};
use tlcp_proto::model::SubscriptionModel;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// A quote feed: time, last, change, bid, ask, bid size, ask size, volume, phase, venue.
/// About 55 bytes each, with unchanged fields, `^N` runs, escapes, null and empty.
const LINES: [&str; 8] = [
    "12:00:01.123|3.0412|+0.12|3.0401|3.0423|1500|2300|1023400|Open%7CCont|XMIL",
    "12:00:01.456|3.0415|+0.13|3.0402|3.0425|||1024900||",
    "12:00:02.001|^4|1200|2100|1026000|Auction%7CClose|XPAR",
    "12:00:02.317|3.0418|+0.15|||900|2600|1027100|Open%7CCont|",
    "12:00:02.802|3.0412|+0.12|^6|XMIL",
    "12:00:03.090|3.0419|+0.16|3.0400|||3.0428|1030200|#|$",
    "12:00:03.540|3.0420|+0.17|3.0410|3.0429|1000|2000|1031000|%23pre%7Copen|XETR",
    "12:00:04.001|3.0421|+0.18|||^3|Open%7CCont|XMIL",
];

#[test]
fn applying_updates_to_a_warm_row_does_not_allocate() {
    let before = allocations();
    let probe = std::hint::black_box(vec![1u8; 16]);
    assert!(allocations() > before, "the counter counts");
    drop(probe);

    let avg = LINES.iter().map(|l| l.len()).sum::<usize>() / LINES.len();
    assert!((50..=60).contains(&avg), "average line length {avg}");

    // Row::apply.
    let mut row = Row::new(10);
    let mut changed = ChangedFields::new();
    for line in LINES.iter().cycle().take(64) {
        row.apply(line, &mut changed).unwrap();
    }
    let before = allocations();
    let mut seen = 0;
    for line in LINES.iter().cycle().take(10_000) {
        row.apply(line, &mut changed).unwrap();
        seen += changed.count();
    }
    assert_eq!(allocations() - before, 0, "Row::apply allocated");
    assert!(seen > 10_000);

    // The same through a MERGE model, reading the event.
    let mut model = SubscriptionModel::new(Mode::Merge, 1, 10).unwrap();
    for line in LINES.iter().cycle().take(64) {
        model.update(1, line).unwrap();
    }
    let before = allocations();
    let mut bytes = 0;
    for line in LINES.iter().cycle().take(10_000) {
        let u = model.update(1, line).unwrap();
        bytes += u.value(9).map_or(0, str::len) + u.changed_positions().count();
    }
    assert_eq!(
        allocations() - before,
        0,
        "SubscriptionModel::update allocated"
    );
    assert!(bytes > 0);

    // And the server side: encoding the same rows back.
    let mut rows = Vec::new();
    let mut r = Row::new(10);
    for line in LINES {
        r.apply(line, &mut changed).unwrap();
        rows.push(r.clone());
    }
    let mut encoder = Encoder::new();
    let mut out = String::with_capacity(256);
    let before = allocations();
    for k in 0..10_000 {
        out.clear();
        let (prev, new) = (&rows[k % 8], &rows[(k + 1) % 8]);
        encoder.encode(Some(prev), new, &mut out).unwrap();
    }
    assert_eq!(allocations() - before, 0, "Encoder::encode allocated");
}
