//! The client's receive hot path on a realistic stream of `U` lines, against a split-only
//! baseline.
//!
//! The buffer: 10,000 `U` lines of a simulated quote feed (10 fields, 3 subscriptions,
//! 42 items), encoded by the crate's own `fields::Encoder` (see `support/feed.rs`), read
//! in 16 KiB chunks as from a socket (lines split across chunks). Three measures, in lines
//! per second:
//!
//! * `split_only`: the baseline, `memchr` for each LF over the chunks, each line handed
//!   out (and a line split across chunks counted once): what no framer can beat;
//! * `frame_parse`: [`LineDecoder`] + [`Notification::parse_bytes`];
//! * `frame_parse_apply`: the same, then [`SubscriptionModel::update`] on the
//!   subscription's model (item row updated, changed fields known): the real client path.
//!
//! After divan's figures, a short timing pass runs the same three functions in turn and
//! prints their medians and the ratios to the baseline (skipped under `--test`/`--list`).
//!
//! `cargo bench -p tlcp-proto --bench decode`

#![allow(missing_docs)]

#[path = "support/feed.rs"]
mod feed;

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use tlcp_proto::model::SubscriptionModel;
use tlcp_proto::{LineDecoder, Notification};

use feed::Feed;

/// Lines in the buffer.
const LINES: usize = 10_000;
/// The size of a network read.
const CHUNK: usize = 16 * 1024;
/// The feed's seed (any value gives a similar stream).
const SEED: u64 = 2025;

static FEED: LazyLock<Feed> = LazyLock::new(|| feed::generate(LINES, SEED));

/// The baseline: every line located with `memchr` and handed out, nothing else. Returns
/// the number of lines (a line split across chunks counts once, at its end).
fn split_only(feed: &Feed) -> usize {
    let mut lines = 0;
    for chunk in feed.chunks(CHUNK) {
        let mut rest = chunk;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            black_box(&rest[..i]);
            lines += 1;
            rest = &rest[i + 1..];
        }
        black_box(rest);
    }
    lines
}

/// Framing and parsing: returns the number of `U` lines.
fn frame_parse(dec: &mut LineDecoder, feed: &Feed) -> usize {
    let mut updates = 0;
    for mut chunk in feed.chunks(CHUNK) {
        while let Some(line) = dec.next_line(&mut chunk).expect("short lines") {
            if let Notification::Update {
                sub_id,
                item,
                values,
            } = Notification::parse_bytes(line).expect("valid line")
            {
                black_box((sub_id, item, values));
                updates += 1;
            }
        }
    }
    updates
}

/// Framing, parsing and applying each update to its subscription's model (indexed by
/// subscription id - 1): returns the total number of changed fields.
fn frame_parse_apply(
    dec: &mut LineDecoder,
    models: &mut [SubscriptionModel],
    feed: &Feed,
) -> usize {
    let mut changed = 0;
    for mut chunk in feed.chunks(CHUNK) {
        while let Some(line) = dec.next_line(&mut chunk).expect("short lines") {
            if let Notification::Update {
                sub_id,
                item,
                values,
            } = Notification::parse_bytes(line).expect("valid line")
            {
                let model = (sub_id as usize)
                    .checked_sub(1)
                    .and_then(|i| models.get_mut(i))
                    .expect("known subscription");
                let update = model.update(item as usize, values).expect("valid update");
                changed += update.changed_fields().count();
            }
        }
    }
    changed
}

/// Models that have seen the whole buffer once (every row set, buffers grown).
fn warm_models(dec: &mut LineDecoder) -> Vec<SubscriptionModel> {
    let mut models = feed::models();
    frame_parse_apply(dec, &mut models, &FEED);
    models
}

#[divan::bench(sample_count = 60)]
fn split_only_baseline(b: Bencher<'_, '_>) {
    let feed = &*FEED;
    b.counter(ItemsCount::new(feed.lines))
        .counter(BytesCount::new(feed.bytes.len()))
        .bench_local(|| split_only(black_box(feed)));
}

#[divan::bench(sample_count = 60)]
fn frame_and_parse(b: Bencher<'_, '_>) {
    let feed = &*FEED;
    let mut dec = LineDecoder::default();
    b.counter(ItemsCount::new(feed.lines))
        .counter(BytesCount::new(feed.bytes.len()))
        .bench_local(|| frame_parse(&mut dec, black_box(feed)));
}

#[divan::bench(sample_count = 60)]
fn frame_parse_and_apply(b: Bencher<'_, '_>) {
    let feed = &*FEED;
    let mut dec = LineDecoder::default();
    let mut models = warm_models(&mut dec);
    b.counter(ItemsCount::new(feed.lines))
        .counter(BytesCount::new(feed.bytes.len()))
        .bench_local(|| frame_parse_apply(&mut dec, &mut models, black_box(feed)));
}

fn main() {
    // Checks that the three paths see the same stream, whatever the mode.
    let feed = &*FEED;
    let mut dec = LineDecoder::default();
    assert_eq!(split_only(feed), feed.lines);
    assert_eq!(frame_parse(&mut dec, feed), feed.lines);
    assert_eq!(dec.pending_len(), 0);

    divan::main();

    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--test" || a == "--list") {
        ratio_pass(feed);
    }
}

/// Lines per second of each sample (one pass over the buffer each): (median, best).
fn rates(samples: &mut [Duration], lines: usize) -> (f64, f64) {
    samples.sort_unstable();
    let rate = |d: Duration| lines as f64 / d.as_secs_f64();
    (rate(samples[samples.len() / 2]), rate(samples[0]))
}

/// Passes of the ratio pass. Short samples (one buffer, about a millisecond) are seldom
/// preempted, and the median of many shrugs off those that are.
const PASSES: usize = 101;

fn time(f: impl FnOnce() -> usize) -> Duration {
    let start = Instant::now();
    black_box(f());
    start.elapsed()
}

/// The ratio pass: the three paths in turn, `PASSES` times (so that a burst of load hits
/// all three alike), medians compared.
fn ratio_pass(feed: &Feed) {
    let mut dec = LineDecoder::default();
    let mut models = warm_models(&mut dec);
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PASSES {
        a.push(time(|| split_only(black_box(feed))));
        b.push(time(|| frame_parse(&mut dec, black_box(feed))));
        c.push(time(|| {
            frame_parse_apply(&mut dec, &mut models, black_box(feed))
        }));
    }
    let (split, split_best) = rates(&mut a, feed.lines);
    let (parse, parse_best) = rates(&mut b, feed.lines);
    let (apply, apply_best) = rates(&mut c, feed.lines);
    let m = |r: f64| r / 1e6;
    println!();
    println!(
        "ratio pass (same code paths, interleaved): {} lines, {:.1} bytes/line, {} KiB chunks, \
         median of {PASSES} passes (best in brackets)",
        feed.lines,
        feed.bytes_per_line(),
        CHUNK / 1024
    );
    println!(
        "  split-only:    {:6.1} M lines/s ({:.1})",
        m(split),
        m(split_best)
    );
    println!(
        "  frame+parse:   {:6.1} M lines/s ({:.1}), ratio to split-only {:.2}",
        m(parse),
        m(parse_best),
        parse / split
    );
    println!(
        "  decode+apply:  {:6.1} M lines/s ({:.1}), ratio to split-only {:.2}",
        m(apply),
        m(apply_best),
        apply / split
    );
    let yes = |b: bool| if b { "met" } else { "NOT met" };
    println!(
        "  aims (medians): decode+apply >= 8 M lines/s: {}; >= half of split-only: {}",
        yes(apply >= 8e6),
        yes(apply >= split / 2.0)
    );
}
