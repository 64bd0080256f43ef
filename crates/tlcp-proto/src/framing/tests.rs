use super::*;
use proptest::prelude::*;

type Event = Result<Vec<u8>, FrameError>;

/// Feeds `chunks` in order and records every line and error.
fn run<'a>(dec: &mut LineDecoder, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Event> {
    let mut events = Vec::new();
    for mut chunk in chunks {
        loop {
            match dec.next_line(&mut chunk) {
                Ok(Some(line)) => events.push(Ok(line.to_vec())),
                Ok(None) => break,
                Err(e) => events.push(Err(e)),
            }
        }
        assert!(chunk.is_empty(), "Ok(None) leaves the chunk used up");
    }
    events
}

fn lines(v: &[&str]) -> Vec<Event> {
    v.iter().map(|l| Ok(l.as_bytes().to_vec())).collect()
}

#[test]
fn lines_inside_one_chunk_are_borrowed_from_it() {
    let chunk: &[u8] = b"CONOK,S1,50000,5000,*\r\nPROBE\r\n";
    let range = chunk.as_ptr_range();
    let mut dec = LineDecoder::default();
    let mut input = chunk;
    let first = dec.next_line(&mut input).unwrap().unwrap();
    assert_eq!(first, b"CONOK,S1,50000,5000,*");
    assert!(range.contains(&first.as_ptr()));
    let second = dec.next_line(&mut input).unwrap().unwrap();
    assert_eq!(second, b"PROBE");
    assert!(range.contains(&second.as_ptr()));
    assert_eq!(dec.next_line(&mut input), Ok(None));
    assert!(input.is_empty());
    assert_eq!(dec.buffer_capacity(), 0, "nothing allocated");
}

#[test]
fn lines_split_anywhere_are_reassembled() {
    let mut dec = LineDecoder::default();
    // Split inside a `%XX`, inside a UTF-8 sequence (é = C3 A9) and between CR and LF.
    let chunks: [&[u8]; 5] = [b"U,1,1,a%2", b"Cb|\xC3", b"\xA9\r", b"\nEOS,1", b",1\r\n"];
    let got = run(&mut dec, chunks);
    assert_eq!(got, lines(&["U,1,1,a%2Cb|é", "EOS,1,1"]));
    assert_eq!(dec.pending_len(), 0);
}

#[test]
fn bare_lf_empty_lines_and_inner_cr() {
    let mut dec = LineDecoder::default();
    let got = run(&mut dec, [&b"A\nB\r\n\r\n\nC\rD\r\n\r"[..], b"\n"]);
    assert_eq!(got, lines(&["A", "B", "", "", "C\rD", ""]));
}

#[test]
fn unterminated_tail_is_kept_until_the_next_chunk() {
    let mut dec = LineDecoder::default();
    assert_eq!(run(&mut dec, [&b"LOOP,0\r\nPRO"[..]]), lines(&["LOOP,0"]));
    assert_eq!(dec.pending_len(), 3);
    assert_eq!(run(&mut dec, [&b""[..]]), lines(&[]));
    assert_eq!(dec.pending_len(), 3);
    assert_eq!(run(&mut dec, [&b"BE\r\n"[..]]), lines(&["PROBE"]));
    assert_eq!(dec.pending_len(), 0);
    dec.next_line(&mut &b"partial"[..]).unwrap();
    assert_eq!(dec.pending_len(), 7);
    dec.reset();
    assert_eq!(dec.pending_len(), 0);
    assert_eq!(run(&mut dec, [&b"X\r\n"[..]]), lines(&["X"]));
}

#[test]
fn oversized_line_in_one_chunk_is_reported_once_and_skipped() {
    let mut dec = LineDecoder::new(5);
    let got = run(&mut dec, [&b"12345\r\n123456\r\nok\n"[..]]);
    assert_eq!(
        got,
        vec![
            Ok(b"12345".to_vec()),
            Err(FrameError::LineTooLong { limit: 5, seen: 6 }),
            Ok(b"ok".to_vec()),
        ]
    );
}

#[test]
fn oversized_line_across_chunks_is_discarded_up_to_its_lf() {
    let mut dec = LineDecoder::new(4);
    let got = run(
        &mut dec,
        [
            &b"ab"[..],
            b"cde",
            b"fghij",
            b"klm\r",
            b"\nok\r\n",
            b"abcd\r",
            b"\n",
        ],
    );
    assert_eq!(
        got,
        vec![
            Err(FrameError::LineTooLong { limit: 4, seen: 5 }),
            Ok(b"ok".to_vec()),
            Ok(b"abcd".to_vec()),
        ]
    );
    assert!(dec.buffer_capacity() <= 5);
    // Too long when the LF arrives.
    let got = run(&mut dec, [&b"abc"[..], b"de\r\nok\n"]);
    assert_eq!(
        got,
        vec![
            Err(FrameError::LineTooLong { limit: 4, seen: 5 }),
            Ok(b"ok".to_vec())
        ]
    );
    // A CR beyond the limit that is not followed by LF is content.
    let got = run(&mut dec, [&b"abcd\r"[..], b"x\n"]);
    assert_eq!(
        got,
        vec![Err(FrameError::LineTooLong { limit: 4, seen: 6 })]
    );
    dec.next_line(&mut &b"abcdefgh"[..]).unwrap_err();
    assert!(dec.is_discarding());
    dec.reset();
    assert!(!dec.is_discarding());
    assert_eq!(run(&mut dec, [&b"ok\n"[..]]), lines(&["ok"]));
}

#[test]
fn zero_limit_accepts_only_empty_lines() {
    let mut dec = LineDecoder::new(0);
    let got = run(&mut dec, [&b"\r"[..], b"\nx\r\n\n"]);
    assert_eq!(
        got,
        vec![
            Ok(Vec::new()),
            Err(FrameError::LineTooLong { limit: 0, seen: 1 }),
            Ok(Vec::new())
        ]
    );
}

#[test]
fn buffer_keeps_its_capacity() {
    let mut dec = LineDecoder::new(1000);
    run(&mut dec, [&b"0123456789"[..], b"0123456789\r\n"]);
    let cap = dec.buffer_capacity();
    assert!(cap >= 20);
    for _ in 0..100 {
        run(&mut dec, [&b"012345"[..], b"67890123456789\r\n"]);
        assert_eq!(dec.buffer_capacity(), cap);
    }
    dec.reset();
    assert_eq!(dec.buffer_capacity(), cap);
}

/// Lines without CR or LF: arbitrary bytes or arbitrary (multi-byte) text.
fn line_strategy(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(
            any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
            0..max
        ),
        proptest::string::string_regex(&format!("[^\r\n]{{0,{}}}", max / 2))
            .expect("valid regex")
            .prop_map(String::into_bytes),
    ]
}

/// Concatenates `lines` with CRLF or LF (per `crlf`) and cuts the stream at `cuts`.
fn stream_and_chunks(
    lines: &[Vec<u8>],
    crlf: &[bool],
    cuts: &[prop::sample::Index],
) -> (Vec<u8>, Vec<usize>) {
    let mut stream = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        stream.extend_from_slice(line);
        stream.extend_from_slice(if crlf.get(i).copied().unwrap_or(true) {
            b"\r\n"
        } else {
            b"\n"
        });
    }
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
    cuts.push(0);
    cuts.push(stream.len());
    cuts.sort_unstable();
    (stream, cuts)
}

fn chunks<'a>(stream: &'a [u8], cuts: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    cuts.windows(2).map(move |w| &stream[w[0]..w[1]])
}

proptest! {
    #[test]
    fn any_split_gives_the_same_lines(
        lines in proptest::collection::vec(line_strategy(40), 0..20),
        crlf in proptest::collection::vec(any::<bool>(), 20),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let (stream, cuts) = stream_and_chunks(&lines, &crlf, &cuts);
        let mut dec = LineDecoder::new(64);
        let got = run(&mut dec, chunks(&stream, &cuts));
        let want: Vec<Event> = lines.iter().cloned().map(Ok).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(dec.pending_len(), 0);
    }

    #[test]
    fn oversized_lines_are_reported_once_and_skipped(
        limit in 0usize..16,
        lines in proptest::collection::vec(line_strategy(40), 0..20),
        crlf in proptest::collection::vec(any::<bool>(), 20),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let (stream, cuts) = stream_and_chunks(&lines, &crlf, &cuts);
        let mut dec = LineDecoder::new(limit);
        let got: Vec<Result<Vec<u8>, usize>> = run(&mut dec, chunks(&stream, &cuts))
            .into_iter()
            .map(|e| e.map_err(|FrameError::LineTooLong { limit, .. }| limit))
            .collect();
        let want: Vec<Result<Vec<u8>, usize>> = lines
            .iter()
            .map(|l| if l.len() <= limit { Ok(l.clone()) } else { Err(limit) })
            .collect();
        prop_assert_eq!(got, want);
        prop_assert!(dec.buffer_capacity() <= limit + 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The `line_decoder` fuzz target's property, for CI: any bytes (CR and LF anywhere),
    /// cut anywhere, give the lines of a plain split on LF (one CR before it dropped), one
    /// error per oversized line, and the unterminated tail kept or, when too long,
    /// discarded after one error.
    #[test]
    fn arbitrary_bytes_split_like_the_reference(
        stream in proptest::collection::vec(
            prop_oneof![4 => any::<u8>(), 1 => Just(b'\r'), 1 => Just(b'\n')],
            0..200,
        ),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
        limit in 0usize..40,
    ) {
        let mut pieces: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
        let tail = pieces.pop().unwrap_or_default();
        let mut want: Vec<Result<Vec<u8>, usize>> = pieces
            .iter()
            .map(|p| p.strip_suffix(b"\r").unwrap_or(p))
            .map(|l| if l.len() <= limit { Ok(l.to_vec()) } else { Err(limit) })
            .collect();
        let tail_too_long =
            tail.len() > limit + 1 || (tail.len() == limit + 1 && tail.last() != Some(&b'\r'));
        if tail_too_long {
            want.push(Err(limit));
        }

        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        cuts.push(0);
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut dec = LineDecoder::new(limit);
        let got: Vec<Result<Vec<u8>, usize>> = run(&mut dec, chunks(&stream, &cuts))
            .into_iter()
            .map(|e| e.map_err(|FrameError::LineTooLong { limit, .. }| limit))
            .collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(dec.pending_len(), if tail_too_long { 0 } else { tail.len() });
        prop_assert!(dec.buffer_capacity() <= limit + 1);
    }
}

#[test]
fn the_head_of_a_dropped_line_is_kept() {
    // In one chunk.
    let mut dec = LineDecoder::new(16);
    let mut input: &[u8] = b"U,12,3,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nOK\r\n";
    assert!(dec.next_line(&mut input).is_err());
    assert_eq!(dec.dropped_line_head(), b"U,12,3,aaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(dec.next_line(&mut input).unwrap(), Some(&b"OK"[..]));
    // Across chunks: found too long while reassembling.
    let mut dec = LineDecoder::new(10);
    for chunk in [&b"EOS,7"[..], b",1xxxxxxxxxxxx", b"xx\r\n"] {
        let mut input = chunk;
        while let Ok(Some(_)) | Err(_) = dec.next_line(&mut input) {
            if input.is_empty() {
                break;
            }
        }
    }
    assert_eq!(dec.dropped_line_head(), b"EOS,7,1xxxxxxxxxxxx");
}
