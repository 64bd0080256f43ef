//! The hot path does not allocate: framing lines that lie in one chunk, framing split lines
//! once the buffer has grown, and parsing `U` lines (and unescaped text notifications).
//!
//! A counting global allocator measures it, per thread (the test harness runs tests on
//! several threads). It lives in this separate test binary because a global allocator
//! applies to a whole binary.

use tlcp_proto::{LineDecoder, Notification};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_in;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

const STREAM: &[u8] = b"U,1,1,20:00:33|3.04|0.0|2.41|3.67|3.03|3.04|#|#|$\r\n\
U,1,1,20:04:40|^4|3.02|3.03|||\r\n\
PROBE\r\n\
U,2,17,caf\xC3\xA9|a%7Cb|^P%5B%5D\r\n\
SYNC,120\r\n\
U,1,1,|11:03:39|\n\
CONF,1,unlimited,filtered\r\n\
NOOP,sending placeholder data\r\n\
U,3,1,\r\n";

/// Frames every line of `chunk` and parses it; returns (lines, updates).
fn consume(dec: &mut LineDecoder, mut chunk: &[u8]) -> (usize, usize) {
    let (mut lines, mut updates) = (0, 0);
    while let Some(line) = dec.next_line(&mut chunk).expect("no oversized line") {
        lines += 1;
        match Notification::parse_bytes(line).expect("valid line") {
            Notification::Update { values, .. } => {
                updates += 1;
                assert!(values.len() < line.len());
            }
            other => assert!(!other.tag().is_empty()),
        }
    }
    (lines, updates)
}

#[test]
fn framing_and_parsing_one_chunk_does_not_allocate() {
    let mut dec = LineDecoder::default();
    let mut counts = (0, 0);
    let n = allocations_in(|| {
        for _ in 0..100 {
            counts = consume(&mut dec, STREAM);
        }
    });
    assert_eq!(counts, (9, 5));
    assert_eq!(n, 0, "allocations while framing and parsing in-chunk lines");
}

#[test]
fn split_lines_do_not_allocate_in_steady_state() {
    let mut dec = LineDecoder::default();
    // Warm-up: the reassembly buffer grows to the longest split line once.
    let mut total = (0, 0);
    for size in [1, 3, 7, 64] {
        for chunk in STREAM.chunks(size) {
            consume(&mut dec, chunk);
        }
    }
    let n = allocations_in(|| {
        for size in [1, 2, 3, 5, 7, 11, 64] {
            for chunk in STREAM.chunks(size) {
                let (lines, updates) = consume(&mut dec, chunk);
                total.0 += lines;
                total.1 += updates;
            }
        }
    });
    assert_eq!(total, (7 * 9, 7 * 5));
    assert_eq!(n, 0, "allocations while reassembling split lines");
}

#[test]
fn the_counter_does_count() {
    let n = allocations_in(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert!(n >= 1);
}
