use super::*;

/// The six `U` value lists of the specification's example (chapter 4, "Notification
/// Examples"): subscription 3, one item, ten fields.
const SPEC_LINES: [&str; 6] = [
    "20:00:33|3.04|0.0|2.41|3.67|3.03|3.04|#|#|$",
    "20:00:54|3.07|0.98|||3.06|3.07|||Suspended",
    "20:04:16|3.02|-0.65|||3.01|3.02|||$",
    "20:04:40|^4|3.02|3.03|||",
    "20:06:10|3.05|0.32|^7",
    "20:06:49|3.08|1.31|||3.08|3.09|||",
];

/// Fields: timestamp price change minimum maximum bid ask open close status.
/// `None` = null. Changed flags: `C` changed, `U` unchanged.
fn spec_tables() -> [([Option<&'static str>; 10], &'static str); 6] {
    let n = None;
    let e = Some("");
    [
        (
            [
                Some("20:00:33"),
                Some("3.04"),
                Some("0.0"),
                Some("2.41"),
                Some("3.67"),
                Some("3.03"),
                Some("3.04"),
                n,
                n,
                e,
            ],
            "CCCCCCCCCC",
        ),
        (
            [
                Some("20:00:54"),
                Some("3.07"),
                Some("0.98"),
                Some("2.41"),
                Some("3.67"),
                Some("3.06"),
                Some("3.07"),
                n,
                n,
                Some("Suspended"),
            ],
            "CCCUUCCUUC",
        ),
        (
            [
                Some("20:04:16"),
                Some("3.02"),
                Some("-0.65"),
                Some("2.41"),
                Some("3.67"),
                Some("3.01"),
                Some("3.02"),
                n,
                n,
                e,
            ],
            "CCCUUCCUUC",
        ),
        (
            [
                Some("20:04:40"),
                Some("3.02"),
                Some("-0.65"),
                Some("2.41"),
                Some("3.67"),
                Some("3.02"),
                Some("3.03"),
                n,
                n,
                e,
            ],
            "CUUUUCCUUU",
        ),
        // Erratum in the specification: its table for this line shows price 3.03 and change
        // -0.32, but the wire line `20:06:10|3.05|0.32|^7` says 3.05 and 0.32 (and marks both
        // fields changed, which 3.03 would contradict too). We follow the wire.
        (
            [
                Some("20:06:10"),
                Some("3.05"),
                Some("0.32"),
                Some("2.41"),
                Some("3.67"),
                Some("3.02"),
                Some("3.03"),
                n,
                n,
                e,
            ],
            "CCCUUUUUUU",
        ),
        (
            [
                Some("20:06:49"),
                Some("3.08"),
                Some("1.31"),
                Some("2.41"),
                Some("3.67"),
                Some("3.08"),
                Some("3.09"),
                n,
                n,
                e,
            ],
            "CCCUUCCUUU",
        ),
    ]
}

fn flags(changed: &ChangedFields, n: usize) -> String {
    (0..n)
        .map(|i| if changed.contains(i) { 'C' } else { 'U' })
        .collect()
}

#[test]
fn spec_example_decodes_value_by_value() {
    let mut row = Row::new(10);
    let mut changed = ChangedFields::new();
    for (k, (line, (values, want_flags))) in SPEC_LINES.iter().zip(spec_tables()).enumerate() {
        row.apply(line, &mut changed).unwrap();
        for (i, want) in values.iter().enumerate() {
            assert_eq!(row.get(i), *want, "line {} field {}", k + 1, i + 1);
            assert_eq!(row.value(i + 1), *want);
        }
        assert_eq!(flags(&changed, 10), want_flags, "line {}", k + 1);
        assert_eq!(changed.count(), want_flags.matches('C').count());
    }
}

#[test]
fn spec_example_re_encodes_byte_for_byte() {
    // Decode the six lines, then encode each decoded row against the previous one: the
    // specification's own lines come back exactly. (Its only inconsistency, the table of the
    // fifth line, does not matter here: we decode the wire values and re-encode them.)
    let mut row = Row::new(10);
    let mut changed = ChangedFields::new();
    let mut rows = Vec::new();
    for line in SPEC_LINES {
        row.apply(line, &mut changed).unwrap();
        rows.push(row.clone());
    }
    let mut enc = Encoder::new();
    let mut out = String::new();
    for (k, line) in SPEC_LINES.iter().enumerate() {
        out.clear();
        let prev = k.checked_sub(1).map(|p| &rows[p]);
        enc.encode(prev, &rows[k], &mut out).unwrap();
        assert_eq!(out, *line, "line {}", k + 1);
    }
    // Diffs allowed (2.4.0+): never longer than the spec's lines, decoding to the same rows.
    // These values are all shorter than the encoder's diff threshold (12 bytes), so they go
    // out whole: a `^T` would save at most 2 bytes on `20:06:10` -> `20:06:49`.
    let mut enc = Encoder::new().with_diff(true);
    let mut again = Row::new(10);
    for (k, line) in SPEC_LINES.iter().enumerate() {
        out.clear();
        enc.encode(k.checked_sub(1).map(|p| &rows[p]), &rows[k], &mut out)
            .unwrap();
        assert!(out.len() <= line.len(), "{out} vs {line}");
        again.apply(&out, &mut changed).unwrap();
        assert_eq!(again, rows[k]);
    }
    assert_eq!(out, "20:06:49|3.08|1.31|||3.08|3.09|||");
    // A longer value that changes at the end does go out as a diff.
    let prev = [Some("2026-11-23T20:06:10.123Z")];
    let new = [Some("2026-11-23T20:06:49.123Z")];
    out.clear();
    enc.encode(Some(&prev), &new, &mut out).unwrap();
    assert!(out.starts_with("^T"), "{out}");
    let mut r = Row::new(1);
    r.apply("2026-11-23T20:06:10.123Z", &mut changed).unwrap();
    r.apply(&out, &mut changed).unwrap();
    assert_eq!(r.get(0), Some("2026-11-23T20:06:49.123Z"));
}

#[test]
fn content_escapes() {
    let mut row = Row::new(8);
    let mut ch = ChangedFields::new();
    row.apply("a%7Cb|%23|%24|%5E3|x#$^|#x|%25%0D%0A|%c3%a9", &mut ch)
        .unwrap();
    let want = ["a|b", "#", "$", "^3", "x#$^", "#x", "%\r\n", "é"];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(row.get(i), Some(*w));
    }
    // And the encoder escapes them back so that they decode the same.
    let mut out = String::new();
    Encoder::new()
        .encode(None::<&Row>, &want.map(Some), &mut out)
        .unwrap();
    let mut again = Row::new(8);
    again.apply(&out, &mut ch).unwrap();
    assert_eq!(again, row);
}

#[test]
fn json_patch_entries() {
    let mut row = Row::new(2);
    let mut ch = ChangedFields::new();
    row.apply(r#"k|{"a":1,"b":[1,2]}"#, &mut ch).unwrap();
    let patch = r#"[{"op":"add","path":"/b/-","value":"x|y"}]"#;
    let mut entry = String::from("|^P");
    crate::percent::encode_field_value(patch, &mut entry);
    row.apply(&entry, &mut ch).unwrap();
    assert_eq!(row.get(1), Some(r#"{"a":1,"b":[1,2,"x|y"]}"#));
    assert_eq!(ch.iter().collect::<Vec<_>>(), [1]);
    // A patch that changes nothing leaves the field unchanged (same text).
    row.apply("|^P[]", &mut ch).unwrap();
    assert!(ch.is_empty());
    // Encoder side: changes at both ends of a big object go out as ^P (a ^T would carry the
    // whole middle).
    let long = "x".repeat(120);
    let old = format!(r#"{{"a":1,"m":"{long}","z":[1]}}"#);
    let new = format!(r#"{{"a":2,"m":"{long}","z":[1,2]}}"#);
    let (old, new) = (old.as_str(), new.as_str());
    let mut out = String::new();
    Encoder::new()
        .with_diff(true)
        .encode(Some(&[Some(old)]), &[Some(new)], &mut out)
        .unwrap();
    assert!(out.starts_with("^P["), "{out}");
    let mut r = Row::new(1);
    r.set_values([Some(old)], &mut ch).unwrap();
    r.apply(&out, &mut ch).unwrap();
    assert_eq!(r.get(0), Some(new));
}

#[test]
fn tlcp_diff_entries() {
    let mut row = Row::new(2);
    let mut ch = ChangedFields::new();
    row.apply("foobar|123456789", &mut ch).unwrap();
    row.apply("^Tbdzapcd|^Tgdabc", &mut ch).unwrap();
    assert_eq!(
        row.to_vec(),
        [Some("fzapbar".into()), Some("123456abc".into())]
    );
    // The diff payload is percent-encoded: add "a|b".
    row.apply("^Tbda%7Cb|", &mut ch).unwrap();
    assert_eq!(row.get(0), Some("fa|b"));
    assert_eq!(ch.iter().collect::<Vec<_>>(), [0]);
    // Encoder: a long value with a small change goes out as ^T.
    let old = "The quick brown fox jumps over the lazy dog";
    let new = "The quick brown cat jumps over the lazy dog";
    let mut out = String::new();
    Encoder::for_version(crate::ProtocolVersion::V2_4_0)
        .encode(Some(&[Some(old)]), &[Some(new)], &mut out)
        .unwrap();
    assert_eq!(out, "^Tqdcatdy");
    out.clear();
    Encoder::for_version(crate::ProtocolVersion::V2_3_0)
        .encode(Some(&[Some(old)]), &[Some(new)], &mut out)
        .unwrap();
    assert_eq!(out, new);
}

#[test]
fn diffs_only_where_every_official_client_decodes_the_same() {
    let mut enc = Encoder::new().with_diff(true);
    let mut out = String::new();
    let mut encode = |old: &str, new: &str| {
        out.clear();
        enc.encode(Some(&[Some(old)]), &[Some(new)], &mut out)
            .unwrap();
        out.clone()
    };
    // Outside the BMP the clients count TLCP-diff lengths differently (UTF-16 units in
    // JavaScript, code points in Python): whole values only.
    let tail = " and a tail long enough for a diff to be worth it";
    assert!(encode(&format!("é{tail}"), &format!("è{tail}")).starts_with("^T"));
    let (old, new) = (format!("😀{tail}"), format!("😀{tail}!"));
    assert_eq!(encode(&old, &new), new);
    let (old, new) = (format!("x{tail}"), format!("x{tail}😀"));
    assert_eq!(encode(&old, &new), new);
    // A value a `^P` may have produced is held as JSON by the clients, which refuse a
    // `^T` for it: a patch or the whole value.
    let long = "y".repeat(120);
    let old = format!(r#"{{"a":1,"m":"{long}","z":[1]}}"#);
    assert!(encode(&old, &format!(r#"{{"a":2,"m":"{long}","z":[1,2]}}"#)).starts_with("^P"));
    let new = format!(r#"{{"a":1,"m":"{long}!","z":[1]}}"#);
    assert!(!encode(&old, &new).starts_with("^T"));
    // JSON that no patch can produce (a float) still gets `^T`.
    let old = format!(r#"{{"a":1.5,"m":"{long}"}}"#);
    assert!(encode(&old, &format!(r#"{{"a":2.5,"m":"{long}"}}"#)).starts_with("^T"));
}

#[test]
fn errors_leave_the_row_unchanged() {
    let mut row = Row::new(10);
    let mut ch = ChangedFields::new();
    row.apply(SPEC_LINES[0], &mut ch).unwrap();
    let before = row.clone();
    let cases: Vec<(&str, FieldError)> = vec![
        (
            "a|b|c|d|e|f|g|h|i|j|k",
            FieldError::TooManyValues {
                position: 11,
                fields: 10,
            },
        ),
        (
            "^10|x",
            FieldError::TooManyValues {
                position: 11,
                fields: 10,
            },
        ),
        (
            "a|b",
            FieldError::TooFewValues {
                found: 2,
                fields: 10,
            },
        ),
        (
            "",
            FieldError::TooFewValues {
                found: 1,
                fields: 10,
            },
        ),
        ("^0|^9", FieldError::BadSkip { position: 1 }),
        ("^|^9", FieldError::BadSkip { position: 1 }),
        ("^x|^9", FieldError::BadSkip { position: 1 }),
        ("^3x|^7", FieldError::BadSkip { position: 1 }),
        (
            "x|^99999999999999999999999",
            FieldError::BadSkip { position: 2 },
        ),
        (
            "x|^10",
            FieldError::SkipPastEnd {
                position: 2,
                count: 10,
                fields: 10,
            },
        ),
        (
            "%zz|^9",
            FieldError::BadEncoding {
                position: 1,
                error: crate::percent::PercentError::BadEscape { offset: 0 },
            },
        ),
        (
            "^8|new|ab%4",
            FieldError::BadEncoding {
                position: 10,
                error: crate::percent::PercentError::BadEscape { offset: 2 },
            },
        ),
        (
            "x|%C3|^8",
            FieldError::BadEncoding {
                position: 2,
                error: crate::percent::PercentError::InvalidUtf8,
            },
        ),
        (
            "^Tz|^9",
            FieldError::BadDiff {
                position: 1,
                error: DiffError::PastEndOfBase,
            },
        ),
        (
            "^Tab|^9",
            FieldError::BadDiff {
                position: 1,
                error: DiffError::PastEndOfDiff,
            },
        ),
        (
            "^TB|^9",
            FieldError::BadDiff {
                position: 1,
                error: DiffError::UnterminatedCount,
            },
        ),
        (
            "^T%zz|^9",
            FieldError::BadEncoding {
                position: 1,
                error: crate::percent::PercentError::BadEscape { offset: 0 },
            },
        ),
        ("^7|^Tb|^2", FieldError::NullBase { position: 8 }),
        ("^7|^P[]|^2", FieldError::NullBase { position: 8 }),
    ];
    for (line, want) in cases {
        assert_eq!(row.apply(line, &mut ch), Err(want), "{line:?}");
        assert_eq!(row, before, "{line:?}");
        assert!(ch.is_empty());
    }
    // Patches: the error carries serde/json-patch text; check the variant.
    let r = row.apply("^P[]|^9", &mut ch);
    assert!(
        matches!(
            r,
            Err(FieldError::BadPatch {
                position: 1,
                error: PatchError::BaseNotJson(_)
            })
        ),
        "{r:?}"
    );
    let r = row.apply(r#"x|^P{|^8"#, &mut ch);
    assert!(
        matches!(
            r,
            Err(FieldError::BadPatch {
                position: 2,
                error: PatchError::InvalidPatch(_)
            })
        ),
        "{r:?}"
    );
    let r = row.apply(r#"x|^P[{"op":"remove","path":"/a"}]|^8"#, &mut ch);
    assert!(
        matches!(
            r,
            Err(FieldError::BadPatch {
                position: 2,
                error: PatchError::Failed(_)
            })
        ),
        "{r:?}"
    );
    assert_eq!(row, before);
}

#[test]
fn unchanged_on_first_update_is_an_error() {
    let mut ch = ChangedFields::new();
    for (line, pos) in [("|b", 1), ("a|", 2), ("^2", 1), ("a|^Tb", 2), ("^P[]|b", 1)] {
        let mut row = Row::new(2);
        assert_eq!(
            row.apply(line, &mut ch),
            Err(FieldError::NoPreviousValue { position: pos }),
            "{line}"
        );
        assert!(!row.is_set());
        assert_eq!(row.get(0), None);
    }
}

#[test]
fn changed_fields_bitset() {
    let mut ch = ChangedFields::new();
    ch.reset(130);
    assert!(ch.is_empty());
    for i in [0, 63, 64, 129, 500] {
        ch.insert(i);
    }
    assert_eq!(ch.iter().collect::<Vec<_>>(), [0, 63, 64, 129]);
    assert_eq!(ch.count(), 4);
    ch.remove(63);
    assert!(!ch.contains(63) && ch.contains(64) && !ch.contains(500));
    ch.insert_all();
    assert_eq!(ch.count(), 130);
    ch.reset(64);
    ch.insert_all();
    assert_eq!(ch.count(), 64);
    assert_eq!((&ch).into_iter().last(), Some(63));
}

#[test]
fn encoder_runs_and_errors() {
    let mut enc = Encoder::new();
    let mut out = String::new();
    let p = [Some("a"); 12];
    for (k, want) in [
        (1, "x"),
        (2, "x|"),
        (3, "x||"),
        (4, "x|||"),
        (5, "x|^4"),
        (12, "x|^11"),
    ] {
        let mut new = p;
        new[0] = Some("x");
        out.clear();
        enc.encode(Some(&p[..k]), &new[..k], &mut out).unwrap();
        assert_eq!(out, want);
    }
    out.clear();
    enc.encode(Some(&p), &p, &mut out).unwrap();
    assert_eq!(out, "^12");
    out.clear();
    enc.encode(Some(&p[..3]), &p[..3], &mut out).unwrap();
    assert_eq!(out, "||");
    assert_eq!(
        enc.encode(Some(&p[..2]), &p[..3], &mut out),
        Err(EncodeError::FieldCountMismatch {
            previous: 2,
            new: 3
        })
    );
    let none: [Option<&str>; 0] = [];
    assert_eq!(
        enc.encode(None::<&Row>, &none, &mut out),
        Err(EncodeError::NoFields)
    );
    // Vec<Option<String>> works too.
    out.clear();
    let v: Vec<Option<String>> = vec![None, Some(String::new()), Some("^".into())];
    enc.encode(None::<&Row>, &v, &mut out).unwrap();
    assert_eq!(out, "#|$|%5E");
}

#[test]
fn set_values_and_clear() {
    let mut row = Row::new(3);
    let mut ch = ChangedFields::new();
    row.set_values([Some("a"), None, Some("")], &mut ch)
        .unwrap();
    assert_eq!(ch.count(), 3);
    row.set_values([Some("a"), Some("b"), Some("")], &mut ch)
        .unwrap();
    assert_eq!(ch.iter().collect::<Vec<_>>(), [1]);
    assert_eq!(
        row.set_values([Some("a")], &mut ch),
        Err(FieldError::TooFewValues {
            found: 1,
            fields: 3
        })
    );
    assert_eq!(
        row.set_values([None; 4], &mut ch),
        Err(FieldError::TooManyValues {
            position: 4,
            fields: 3
        })
    );
    assert_eq!(row.get(1), Some("b"));
    row.clear();
    assert!(!row.is_set());
    assert_eq!(row.iter().collect::<Vec<_>>(), [None, None, None]);
    assert_eq!(
        format!("{row:?}"),
        "Row { set: false, values: [None, None, None] }"
    );
}

#[test]
fn short_compare_and_copy_agree_with_the_slice_ones() {
    // Every length the word paths cover (and beyond), with one differing byte anywhere.
    for n in 0..=48usize {
        let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
        assert!(super::eq_bytes(&a, &a.clone()), "{n} bytes");
        for at in 0..n {
            let mut b = a.clone();
            b[at] ^= 0x20;
            assert!(!super::eq_bytes(&a, &b), "{n} bytes, byte {at}");
            let mut dst = vec![0u8; n];
            super::copy_short(&mut dst, &b);
            assert_eq!(dst, b, "{n} bytes, byte {at}");
        }
        let longer: Vec<u8> = a.iter().copied().chain([b'z']).collect();
        assert!(!super::eq_bytes(&a, &longer), "{n} bytes");
        let mut dst = vec![7u8; n + 1];
        super::copy_short(&mut dst, &a);
        assert_eq!(dst, vec![7u8; n + 1], "lengths differ: nothing copied");
    }
}

#[test]
fn push_short_appends_what_push_str_appends() {
    // Every length the by-length arms cover and beyond, ASCII and multi-byte text, onto
    // empty and non-empty strings of small and large capacity.
    for n in 0..=40usize {
        let ascii: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let wide: String = "é€1".chars().cycle().take(n).collect();
        for v in [ascii.as_str(), wide.as_str()] {
            for base in ["", "U,1,1,", &"x".repeat(100)] {
                let mut want = String::from(base);
                want.push_str(v);
                let mut got = String::from(base);
                super::push_short(&mut got, v);
                assert_eq!(got, want, "{} bytes onto {} bytes", v.len(), base.len());
                let mut roomy = String::with_capacity(256);
                roomy.push_str(base);
                super::push_short(&mut roomy, v);
                assert_eq!(roomy, want);
            }
        }
    }
}

/// The in-place path takes the feed's usual lists (same lengths, tail edits, skips), and
/// leaves to the others what it cannot read by lengths: a `|` inside what would be a value,
/// a `%`, a value of another length.
#[test]
fn in_place_path_takes_same_length_lists_only() {
    let mut row = Row::new(4);
    let mut ch = ChangedFields::new();
    row.apply("1796198280569083577|9|51072.44|a|b", &mut ch)
        .expect_err("too many");
    row.apply("1796198280569083577|9|51072.44|ab", &mut ch)
        .unwrap();
    for list in [
        "^Tsb8|8|51073.69|",
        "^Trc80|7||cd",
        "|^3",
        "^4",
        "|||",
        "^Tt|1|#|",
    ] {
        assert!(row.takes_in_place(list), "{list:?}");
        let mut general = row.clone();
        let mut ch2 = ChangedFields::new();
        general.apply_general(list, &mut ch2).unwrap();
        row.apply(list, &mut ch).unwrap();
        assert_eq!(row, general, "{list:?}");
        assert_eq!(ch, ch2, "{list:?}");
    }
    // Now "1796198280569083578|1|<null>|cd".
    for list in [
        "|10||",        // longer
        "|1|$|c|d",     // the list has a `|` more than the fields read by length
        "|1|#|c%7C",    // an escape
        "^Tsc8|1|#|ab", // `^T` adding 2 bytes: "8|" by length
        "^Ta|1|#|ab",   // cut short
        "^P[]|||",
        "^0|||",
    ] {
        assert!(!row.takes_in_place(list), "{list:?}");
    }
    // "c|d" as the last value: read by length it would be "c|", so it must be refused.
    let mut row = Row::new(2);
    row.apply("x|ab", &mut ch).unwrap();
    assert!(!row.takes_in_place("y|a|"));
    assert!(row.apply("y|a|", &mut ch).is_err());
    assert_eq!(row.to_vec(), [Some("x".into()), Some("ab".into())]);
}

/// The in-place path also applies a `^T` that replaces bytes in the middle (*copy*, *add*
/// as many as it *deletes*, *copy*), as the server sends when a counter's digits change
/// inside; any other diff is left to the other paths, with the same outcome.
#[test]
fn in_place_path_takes_replacements_in_the_middle() {
    let mut row = Row::new(3);
    let mut ch = ChangedFields::new();
    row.apply("1796198280569083577|9|a\u{e9}b", &mut ch)
        .unwrap();
    // (list, taken in place, the first value after it)
    for (list, in_place, ts) in [
        // Copy 16, "90" for "57", copy 1.
        ("^Tqc90cb||", true, Some("1796198280569083907")),
        // The same on the new value: unchanged.
        ("^Tqc90cb||", true, Some("1796198280569083907")),
        // Two replacements, the second one ending the value.
        ("^Tbb8bpc12|3|", true, Some("1896198280569083912")),
        // From the start, and letters added.
        ("^Tabxbs||", true, Some("x896198280569083912")),
        // Deleting one more than added: shorter.
        ("^Tqb5cb||", false, Some("x89619828056908352")),
        // Past the end of the current value: an error.
        ("^Tqc90eb||", false, None),
        // A deletion of a non-ASCII character (2 bytes for 1).
        ("||^Tbbzbb", false, Some("x89619828056908352")),
    ] {
        assert_eq!(row.takes_in_place(list), in_place, "{list:?}");
        let mut general = row.clone();
        let mut ch2 = ChangedFields::new();
        let before = row.clone();
        let a = row.apply(list, &mut ch);
        let b = general.apply_general(list, &mut ch2);
        assert_eq!(a, b, "{list:?}");
        assert_eq!(row, general, "{list:?}");
        assert_eq!(ch, ch2, "{list:?}");
        match ts {
            Some(ts) => assert_eq!(row.get(0), Some(ts), "{list:?}"),
            None => assert_eq!(row, before, "{list:?}"),
        }
    }
    assert_eq!(row.get(2), Some("azb"));
}
