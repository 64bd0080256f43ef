//! The whole receive hot path allocates nothing once warm: network-sized chunks through
//! [`LineDecoder`], [`Notification::parse_bytes`] and [`SubscriptionModel::update`], for
//! MERGE and DISTINCT subscriptions, on the realistic stream of the `decode` benchmark
//! (escapes, `^N`, nulls, lines split across chunks, snapshots taking the general decoder).
//!
//! Counted with a global allocator that counts the allocations of the current thread (the
//! test harness runs tests on several threads); it lives in its own test binary because a
//! global allocator applies to a whole binary.

#[path = "../benches/support/feed.rs"]
mod feed;

use tlcp_proto::Mode;
use tlcp_proto::model::SubscriptionModel;
use tlcp_proto::{LineDecoder, Notification};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_in;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// What a pass saw, to check that the work was done.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    updates: usize,
    merge: usize,
    distinct: usize,
    changed: usize,
    value_bytes: usize,
}

/// One pass over the stream in chunks of `chunk` bytes: frame, parse, apply, read the event.
fn pass(
    dec: &mut LineDecoder,
    models: &mut [SubscriptionModel],
    bytes: &[u8],
    chunk: usize,
) -> Seen {
    let mut seen = Seen::default();
    for mut input in bytes.chunks(chunk) {
        while let Some(line) = dec.next_line(&mut input).expect("short lines") {
            let Notification::Update {
                sub_id,
                item,
                values,
            } = Notification::parse_bytes(line).expect("valid line")
            else {
                panic!("only U lines in the feed");
            };
            let model = &mut models[sub_id as usize - 1];
            let mode = model.mode();
            let update = model.update(item as usize, values).expect("valid update");
            seen.updates += 1;
            match mode {
                Mode::Merge => seen.merge += 1,
                Mode::Distinct => seen.distinct += 1,
                _ => {}
            }
            seen.changed += update.changed_positions().count();
            seen.value_bytes += update.value(1).map_or(0, str::len);
            seen.value_bytes += update.value(9).map_or(0, str::len);
        }
    }
    seen
}

#[test]
fn the_counter_counts() {
    let n = allocations_in(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert!(n >= 1);
}

#[test]
fn frame_parse_and_update_allocate_nothing_once_warm() {
    let feed = feed::generate(10_000, 2025);
    let bpl = feed.bytes_per_line();
    assert!((50.0..=60.0).contains(&bpl), "{bpl} bytes per line");
    let mut dec = LineDecoder::default();
    let mut models = feed::models();
    assert_eq!(
        models
            .iter()
            .map(SubscriptionModel::mode)
            .collect::<Vec<_>>(),
        [Mode::Merge, Mode::Merge, Mode::Distinct]
    );
    let chunk_sizes = [16 * 1024, 4093, 1000, 61];

    // Warm-up: every item's row and the decoder's buffer reach their sizes.
    for &size in &chunk_sizes {
        pass(&mut dec, &mut models, &feed.bytes, size);
    }

    let mut seen = Vec::with_capacity(chunk_sizes.len());
    let n = allocations_in(|| {
        for &size in &chunk_sizes {
            seen.push(pass(&mut dec, &mut models, &feed.bytes, size));
        }
    });
    assert_eq!(n, 0, "allocations on the hot path once warm");

    // The same work whatever the chunking, and real work.
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    let s = seen[0];
    assert_eq!(s.updates, feed.lines);
    assert!(s.merge > 0 && s.distinct > 0, "{s:?}");
    assert!(s.changed > 3 * s.updates, "{s:?}");
    assert!(s.value_bytes > 0);
    assert_eq!(dec.pending_len(), 0);
}
