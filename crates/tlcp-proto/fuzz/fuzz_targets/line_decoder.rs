//! `LineDecoder` on arbitrary bytes cut at arbitrary points gives the lines of a plain
//! reference split (LF ends a line, one CR before it is dropped), one `LineTooLong` per
//! oversized line, and keeps (or discards) the unterminated tail as the contract says.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tlcp_proto::{FrameError, LineDecoder};

fuzz_target!(|input: (Vec<u8>, Vec<u16>, u8)| {
    let (stream, cuts, limit) = input;
    let limit = usize::from(limit);

    // The reference.
    let mut want: Vec<Result<&[u8], usize>> = Vec::new();
    let mut pieces: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    let tail = pieces.pop().unwrap_or_default();
    for piece in pieces {
        let line = piece.strip_suffix(b"\r").unwrap_or(piece);
        want.push(if line.len() <= limit {
            Ok(line)
        } else {
            Err(limit)
        });
    }
    let tail_too_long =
        tail.len() > limit + 1 || (tail.len() == limit + 1 && tail.last() != Some(&b'\r'));

    // The decoder, fed in chunks.
    let mut cuts: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) % (stream.len() + 1))
        .collect();
    cuts.push(0);
    cuts.push(stream.len());
    cuts.sort_unstable();
    let mut dec = LineDecoder::new(limit);
    let mut got: Vec<Result<Vec<u8>, usize>> = Vec::new();
    for w in cuts.windows(2) {
        let mut chunk = &stream[w[0]..w[1]];
        loop {
            match dec.next_line(&mut chunk) {
                Ok(Some(line)) => got.push(Ok(line.to_vec())),
                Ok(None) => break,
                Err(FrameError::LineTooLong { limit: l, .. }) => got.push(Err(l)),
                Err(e) => panic!("unexpected error {e:?}"),
            }
        }
        assert!(chunk.is_empty());
    }
    if tail_too_long {
        // Reported once, before its LF (which never came).
        assert_eq!(got.pop(), Some(Err(limit)));
        assert_eq!(dec.pending_len(), 0);
        assert!(dec.is_discarding());
    } else {
        assert_eq!(dec.pending_len(), tail.len());
    }
    let want: Vec<Result<Vec<u8>, usize>> =
        want.into_iter().map(|r| r.map(<[u8]>::to_vec)).collect();
    assert_eq!(got, want);
});
