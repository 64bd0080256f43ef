//! Property tests: encoding then decoding gives back any row; decoding never panics.

use super::*;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '|', '#', '$', '^', '%', '\r', '\n', 'a', 'b', 'é', '😀', '{', '"',
    ]);
    prop::collection::vec(prop_oneof![any::<char>(), special.clone(), special], 0..16)
        .prop_map(|v| v.into_iter().collect())
}

fn json_text() -> impl Strategy<Value = String> {
    prop::collection::btree_map(
        "[a-c]",
        prop_oneof![any::<i8>().prop_map(|n| n.to_string()), "\"[a-z|%]{0,4}\""],
        0..5,
    )
    .prop_map(|m| {
        let body: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    })
}

fn value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(String::new())),
        6 => text().prop_map(Some),
        2 => json_text().prop_map(Some),
    ]
}

/// A value derived from `old`: kept, replaced, or edited in the middle (so diffs pay off).
fn next_value(old: Option<String>) -> impl Strategy<Value = Option<String>> {
    let edited = old.clone().unwrap_or_default();
    prop_oneof![
        3 => Just(old),
        2 => value(),
        2 => (text(), any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(move |(mid, a, b)| {
            let chars: Vec<char> = edited.chars().collect();
            let (mut x, mut y) = (a.index(chars.len() + 1), b.index(chars.len() + 1));
            if x > y { std::mem::swap(&mut x, &mut y); }
            let s: String = chars[..x].iter().chain(mid.chars().collect::<Vec<_>>().iter()).chain(&chars[y..]).collect();
            Some(s)
        }),
    ]
}

/// Rows of mostly plain values (digits, letters, `.`), now and then one to escape.
fn plain_rows() -> impl Strategy<Value = (Vec<Option<String>>, Vec<Option<String>>)> {
    let plain = || {
        prop_oneof![
            20 => "[0-9a-z.]{1,14}".prop_map(Some),
            1 => Just(None),
            1 => Just(Some(String::new())),
            1 => "[0-9|%#$^\\x01\\x7f]{1,4}".prop_map(Some),
        ]
    };
    prop::collection::vec((plain(), plain(), any::<bool>()), 1..24).prop_map(|v| {
        v.into_iter()
            .map(|(a, b, same)| (a.clone(), if same { a } else { b }))
            .unzip()
    })
}

/// Rows of long counters and times moving by small steps (the values `^T` pays off for,
/// mostly as long as before), now and then a text or a value to escape.
fn counter_rows() -> impl Strategy<Value = (Vec<Option<String>>, Vec<Option<String>>)> {
    let pair = prop_oneof![
        6 => (10u64.pow(11)..u64::MAX / 2, 0u64..2_000_000).prop_map(|(v, step)| {
            (Some(v.to_string()), Some((v + step).to_string()))
        }),
        1 => ("[a-z0-9]{12,40}", "[a-z0-9|%]{1,3}").prop_map(|(base, tail)| {
            let mut new = base.clone();
            new.replace_range(new.len() - tail.len().min(new.len()).., &tail);
            (Some(base), Some(new))
        }),
        1 => (value(), value()),
    ];
    prop::collection::vec(pair, 1..12).prop_map(|v| v.into_iter().unzip())
}

/// Rows of 60 to 150 fields (one to three mask words), most values unchanged.
fn wide_rows() -> impl Strategy<Value = (Vec<Option<String>>, Vec<Option<String>>)> {
    let pair = prop_oneof![
        4 => "[0-9.]{1,8}".prop_map(|v| (Some(v.clone()), Some(v))),
        2 => ("[0-9.]{1,8}", "[0-9.]{1,8}").prop_map(|(a, b)| (Some(a), Some(b))),
        1 => (value(), value()),
    ];
    prop::collection::vec(pair, 60..150).prop_map(|v| v.into_iter().unzip())
}

fn rows() -> impl Strategy<Value = (Vec<Option<String>>, Vec<Option<String>>)> {
    prop::collection::vec(value(), 1..12).prop_flat_map(|prev| {
        let next: Vec<_> = prev.iter().cloned().map(next_value).collect();
        (Just(prev), next)
    })
}

proptest! {
    #[test]
    fn encode_then_apply_round_trips((prev, new) in rows(), allow_diff in any::<bool>()) {
        let n = prev.len();
        let mut enc = Encoder::new().with_diff(allow_diff);
        let mut row = Row::new(n);
        let mut ch = ChangedFields::new();
        let mut line = String::new();
        enc.encode(None::<&Row>, &prev, &mut line).unwrap();
        row.apply(&line, &mut ch).unwrap();
        prop_assert_eq!(row.to_vec(), prev.clone());
        prop_assert_eq!(ch.count(), n);

        line.clear();
        enc.encode(Some(&prev), &new, &mut line).unwrap();
        prop_assert!(!line.contains(['\r', '\n']));
        row.apply(&line, &mut ch).map_err(|e| TestCaseError::fail(format!("{line:?}: {e}")))?;
        prop_assert_eq!(row.to_vec(), new.clone());
        let differing: Vec<usize> = (0..n).filter(|&i| prev[i] != new[i]).collect();
        prop_assert_eq!(ch.iter().collect::<Vec<_>>(), differing);
    }

    /// Told exactly which fields differ, `encode_changes` writes what `encode` writes.
    #[test]
    fn encode_changes_matches_encode((prev, new) in rows(), allow_diff in any::<bool>()) {
        let mut enc = Encoder::new().with_diff(allow_diff);
        let (mut compared, mut told) = (String::new(), String::new());
        enc.encode(Some(&prev), &new, &mut compared).unwrap();
        enc.encode_changes(&prev, &new, |i| prev[i] != new[i], &mut told).unwrap();
        prop_assert_eq!(compared, told);
    }

    /// Told the changed fields as a bit mask, `encode_changed_mask` writes what
    /// `encode_changes` writes when told the same fields, whichever fields those are (also
    /// equal ones), for rows of any width (more than 64 fields: several words) and values
    /// with or without something to escape.
    #[test]
    fn encode_changed_mask_matches_encode_changes(
        (prev, new) in prop_oneof![rows(), plain_rows(), counter_rows(), wide_rows()],
        told in prop::collection::vec(any::<bool>(), 150),
        exact in any::<bool>(),
        allow_diff in any::<bool>(),
    ) {
        let n = prev.len();
        let changed = |i: usize| if exact { prev[i] != new[i] } else { told[i] };
        let mut words = vec![0u64; n.div_ceil(64)];
        for i in (0..n).filter(|&i| changed(i)) {
            words[i / 64] |= 1 << (i % 64);
        }
        // Bits beyond the last field mean nothing.
        if let Some(last) = words.last_mut() && n % 64 != 0 {
            *last |= !0 << (n % 64);
        }
        let mut enc = Encoder::new().with_diff(allow_diff);
        let (mut by_mask, mut by_fn) = (String::from("U,1,1,"), String::from("U,1,1,"));
        enc.encode_changed_mask(&prev, &new, &words, &mut by_mask).unwrap();
        enc.encode_changes(&prev, &new, changed, &mut by_fn).unwrap();
        prop_assert_eq!(by_mask, by_fn);
    }

    /// Counters and times: what the copying encoder writes (with its direct `^T` for tail
    /// edits) is what escaping each value writes, and decodes to the new row.
    #[test]
    fn counter_diffs_are_the_reference_ones_and_round_trip((prev, new) in counter_rows()) {
        let mut copying = Encoder::new().with_diff(true);
        let mut reference = Encoder::new().with_diff(true);
        reference.value_by_value = true;
        let (mut a, mut b) = (String::new(), String::new());
        copying.encode(Some(&prev), &new, &mut a).unwrap();
        reference.encode(Some(&prev), &new, &mut b).unwrap();
        prop_assert_eq!(&a, &b);
        let mut row = Row::new(prev.len());
        let mut ch = ChangedFields::new();
        let mut first = String::new();
        copying.encode(None::<&Row>, &prev, &mut first).unwrap();
        row.apply(&first, &mut ch).unwrap();
        row.apply(&a, &mut ch).map_err(|e| TestCaseError::fail(format!("{a:?}: {e}")))?;
        prop_assert_eq!(row.to_vec(), new);
    }

    /// Copying short values and checking the whole list once writes exactly what
    /// escaping each value writes, whether or not some value needs an escape.
    #[test]
    fn copied_list_is_the_escaped_one(
        (prev, new) in prop_oneof![rows(), plain_rows()],
        allow_diff in any::<bool>(),
    ) {
        let mut copying = Encoder::new().with_diff(allow_diff);
        let mut reference = Encoder::new().with_diff(allow_diff);
        reference.value_by_value = true;
        for (p, n) in [(None, &prev), (Some(&prev), &new)] {
            let (mut a, mut b) = (String::from("U,1,1,"), String::from("U,1,1,"));
            copying.encode(p, n, &mut a).unwrap();
            reference.encode(p, n, &mut b).unwrap();
            prop_assert_eq!(&a, &b);
            let (mut a, mut b) = (String::new(), String::new());
            let changed = |i: usize| p.is_none_or(|p| p[i] != n[i]);
            copying.encode_changes(&prev, n, changed, &mut a).unwrap();
            reference.encode_changes(&prev, n, changed, &mut b).unwrap();
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn json_patch_round_trips(
        old in prop::collection::btree_map("[a-e]{1,2}", any::<i16>(), 1..12),
        edits in prop::collection::btree_map("[a-e]{1,2}", prop::option::of(any::<i16>()), 0..4),
        pad in 0usize..200,
    ) {
        let mut old_v = serde_json::to_value(&old).unwrap();
        old_v["pad"] = serde_json::Value::String("p".repeat(pad));
        let mut new_v = old_v.clone();
        for (k, v) in &edits {
            match v {
                Some(v) => new_v[k.as_str()] = (*v).into(),
                None => { new_v.as_object_mut().unwrap().remove(k.as_str()); }
            }
        }
        let (old_s, new_s) = (old_v.to_string(), new_v.to_string());
        let mut out = String::new();
        Encoder::new().with_diff(true).encode(Some(&[Some(&old_s)]), &[Some(&new_s)], &mut out).unwrap();
        let mut row = Row::new(1);
        let mut ch = ChangedFields::new();
        row.set_values([Some(old_s.as_str())], &mut ch).unwrap();
        row.apply(&out, &mut ch).unwrap();
        prop_assert_eq!(row.get(0), Some(new_s.as_str()));
        prop_assert!(out.len() <= new_s.len());
    }

    #[test]
    fn apply_never_panics_and_is_atomic(
        first in "[a-c|#$^%0-9PTA-F]{0,24}",
        second in prop_oneof!["[a-c|#$^%0-9PTA-Fz]{0,24}", any::<String>()],
        n in 1usize..8,
    ) {
        let mut row = Row::new(n);
        let mut ch = ChangedFields::new();
        let _ = row.apply(&first, &mut ch);
        let before = row.clone();
        if row.apply(&second, &mut ch).is_err() {
            prop_assert_eq!(&row, &before);
            prop_assert!(ch.is_empty());
        }
    }

    #[test]
    fn buffer_stays_bounded(lines in prop::collection::vec(
        (
            prop::collection::vec(prop_oneof![
                3 => "[a-z%]{0,6}".prop_map(|v| v.replace('%', "%7C")),
                3 => Just(String::new()),
                1 => Just("#".to_owned()),
                1 => Just("$".to_owned()),
            ], 6),
            any::<bool>(),
        ),
        1..40,
    )) {
        // Whatever the sequence of lines, the buffer holds each value and its separator; a
        // null value keeps at most the bytes of the longest value its field held (nulled
        // in place) or its `#`.
        let mut row = Row::new(6);
        let mut ch = ChangedFields::new();
        row.apply("a|b|c|d|e|f", &mut ch).unwrap();
        let mut longest = [1usize; 6];
        for (entries, skips) in lines {
            // Optionally write runs of unchanged fields as ^N.
            let mut parts: Vec<String> = Vec::new();
            let mut run = 0;
            for e in entries.iter().chain([&"#".to_owned()]) {
                if e.is_empty() {
                    run += 1;
                    continue;
                }
                if run >= 2 && skips {
                    parts.push(format!("^{run}"));
                } else {
                    parts.extend(std::iter::repeat_n(String::new(), run));
                }
                run = 0;
                parts.push(e.clone());
            }
            parts.pop();
            let line = parts.join("|");
            row.apply(&line, &mut ch).unwrap();
            for (l, v) in longest.iter_mut().zip(row.iter()) {
                *l = (*l).max(v.map_or(1, str::len));
            }
            let bound: usize = longest.iter().map(|l| l + 1).sum();
            prop_assert!(row.buffer_len() <= bound, "{} > {}", row.buffer_len(), bound);
        }
    }

    #[test]
    fn diff_encode_round_trips(old in text(), new in text()) {
        let mut d = String::new();
        diff::encode(&old, &new, &mut d);
        let mut out = String::new();
        diff::apply(&old, &d, &mut out).unwrap();
        prop_assert_eq!(out, new);
    }
}

/// A plain reference decoder of value lists (no `^T` / `^P`): the row after the list, and
/// the changed fields, or `None` when the list is bad.
type RefRow = Vec<Option<String>>;

fn reference_apply(prev: Option<&RefRow>, n: usize, list: &str) -> Option<(RefRow, Vec<usize>)> {
    let mut out: RefRow = Vec::new();
    for entry in list.split('|') {
        match entry {
            "" => out.push(prev?.get(out.len())?.clone()),
            "#" => out.push(None),
            "$" => out.push(Some(String::new())),
            _ if entry.starts_with('^') => {
                let count: usize = entry[1..].parse().ok().filter(|c| *c > 0)?;
                if !entry[1..].bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                for _ in 0..count {
                    out.push(prev?.get(out.len())?.clone());
                }
            }
            _ => out.push(Some(crate::percent::decode(entry).ok()?.into_owned())),
        }
        if out.len() > n {
            return None;
        }
    }
    if out.len() != n {
        return None;
    }
    let changed = match prev {
        None => (0..n).collect(),
        Some(p) => (0..n).filter(|&i| p[i] != out[i]).collect(),
    };
    Some((out, changed))
}

/// Value lists made of every kind of entry but `^T` / `^P`, valid or not.
fn entries_list() -> impl Strategy<Value = String> {
    let entry = prop_oneof![
        4 => "[a-z0-9.:]{1,14}",
        3 => Just(String::new()),
        1 => Just("#".to_owned()),
        1 => Just("$".to_owned()),
        1 => (0usize..12).prop_map(|n| format!("^{n}")),
        1 => "[a-z]{0,3}%[0-9A-Fa-f%]{0,3}[a-z]{0,3}",
        1 => "[#$^][a-z0-9]{1,3}",
        1 => "[a-zé😀]{1,20}",
    ];
    prop::collection::vec(entry, 1..14).prop_map(|v| v.join("|"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The fast path and the general decoder together behave like the plain reference, on
    /// sequences of lists, good and bad (a bad one leaves the row as it was).
    #[test]
    fn apply_matches_a_reference_decoder(
        n in 1usize..12,
        lists in prop::collection::vec(entries_list(), 1..8),
    ) {
        let mut row = Row::new(n);
        let mut ch = ChangedFields::new();
        let mut model: Option<RefRow> = None;
        for list in &lists {
            let want = reference_apply(model.as_ref(), n, list);
            let got = row.apply(list, &mut ch);
            match want {
                None => {
                    prop_assert!(got.is_err(), "{list:?} accepted");
                    prop_assert!(ch.is_empty());
                }
                Some((values, changed)) => {
                    prop_assert!(got.is_ok(), "{list:?}: {got:?}");
                    prop_assert_eq!(row.to_vec(), values.clone());
                    prop_assert_eq!(ch.iter().collect::<Vec<_>>(), changed);
                    model = Some(values);
                }
            }
            let current = model.clone().unwrap_or_else(|| vec![None; n]);
            prop_assert_eq!(row.to_vec(), current);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The `fields` fuzz target's property, for CI: any lists, applied in turn, never panic;
    /// a failing one leaves the row as it was and the changed set empty; after a good one, the
    /// changed set is exactly the fields that differ, and the `Encoder` turns the previous
    /// values into the new ones.
    #[test]
    fn applied_lists_are_atomic_and_encode_back(
        n in prop_oneof![1usize..12, 60usize..70],
        lists in prop::collection::vec(prop_oneof![3 => entries_list(), 1 => any::<String>()], 1..6),
        allow_diff in any::<bool>(),
    ) {
        let mut row = Row::new(n);
        let mut ch = ChangedFields::new();
        for list in &lists {
            let before = row.clone();
            if row.apply(list, &mut ch).is_err() {
                prop_assert_eq!(&row, &before);
                prop_assert!(ch.is_empty());
                continue;
            }
            for i in 0..n {
                let differs = !before.is_set() || before.get(i) != row.get(i);
                prop_assert_eq!(ch.contains(i), differs);
            }
            let mut out = String::new();
            Encoder::new()
                .with_diff(allow_diff)
                .encode(before.is_set().then_some(&before), &row, &mut out)
                .expect("same number of fields");
            let mut again = before.clone();
            again.apply(&out, &mut ch).map_err(|e| TestCaseError::fail(format!("{out:?}: {e}")))?;
            prop_assert_eq!(again, row.clone());
        }
    }
}

/// Entries of every kind, `^T` ones included (with counts that may run past either end or
/// split a character), for lists that the fast path of `Row::apply` may or may not take.
fn edit_entry() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[0-9.a-z]{0,12}",
        1 => Just(String::new()),
        1 => Just("#".to_owned()),
        1 => Just("$".to_owned()),
        1 => "\\^[0-3]",
        4 => ("[A-Ca-z]{1,2}", "[a-z]?", "[0-9a-zé😀]{0,4}", "[A-Ba-z]{0,2}")
            .prop_map(|(copy, add, text, rest)| format!("^T{copy}{add}{text}{rest}")),
        1 => "\\^[TP][a-c%0-9]{0,6}",
        // Copy some, add the rest: the diff the fast path applies in place.
        4 => ("[a-f]", "[0-9a-zé]{0,6}")
            .prop_map(|(keep, text)| format!("^T{keep}{}{text}", char::from(b'a' + text.chars().count() as u8))),
        1 => "\\^T[a-f]",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// `Row::apply` (with its fast path) and the general decoder alone agree on every list:
    /// same outcome, same row, same changed fields.
    #[test]
    fn fast_path_matches_the_general_decoder(
        base in prop::collection::vec(prop_oneof![
            1 => Just(None),
            6 => "[0-9a-zé😀]{0,20}".prop_map(Some),
        ], 1..12),
        lists in prop::collection::vec((prop::collection::vec(edit_entry(), 1..14), any::<bool>()), 1..4),
    ) {
        let n = base.len();
        let mut fast = Row::new(n);
        let mut ch = ChangedFields::new();
        fast.set_values(base.iter().map(Option::as_deref), &mut ch).unwrap();
        let mut general = fast.clone();
        let mut ch2 = ChangedFields::new();
        for (mut list, fit) in lists {
            if fit {
                // One entry per field (mostly the right count, as the server sends).
                list.resize(n, String::new());
            }
            let list = list.join("|");
            let a = fast.apply(&list, &mut ch);
            let b = general.apply_general(&list, &mut ch2);
            prop_assert_eq!(&a, &b, "{:?}", list);
            prop_assert_eq!(&fast, &general, "{:?}", list);
            prop_assert_eq!(&ch, &ch2, "{:?}", list);
        }
    }
}

/// A TLCP-diff count: base 26, uppercase digits then a lowercase last one.
fn diff_count(mut n: usize) -> String {
    let mut digits = vec![char::from(b'a' + (n % 26) as u8)];
    n /= 26;
    while n > 0 {
        digits.push(char::from(b'A' + (n % 26) as u8));
        n /= 26;
    }
    digits.into_iter().rev().collect()
}

/// An entry for a field whose current value is `old`, of the kinds the in-place path of
/// `Row::apply` reads: new values as long as the current one (with now and then a `|` or
/// a `%` inside, that it must not take for a separator or a plain byte), tail edits giving
/// a value as long, unchanged, `#`, `$`, `^N`, and anything else.
fn in_place_entry(old: Option<String>) -> impl Strategy<Value = String> {
    let len = old.as_ref().map_or(0, String::len);
    let chars = prop::sample::select(vec!['0', '7', 'a', '.', '|', '%', '#', '$', '^']);
    let replace_chars = chars.clone();
    let same_len = prop::collection::vec(chars.clone(), len..=len)
        .prop_map(|v| v.into_iter().collect::<String>());
    let edit = (0..=len).prop_flat_map(move |keep| {
        prop::collection::vec(chars.clone(), len - keep..=len - keep).prop_map(move |t| {
            let added: String = t.into_iter().collect();
            if added.is_empty() && keep % 2 == 0 {
                format!("^T{}", diff_count(keep))
            } else {
                format!("^T{}{}{added}", diff_count(keep), diff_count(added.len()))
            }
        })
    });
    // Replacements inside the value: *copy*, *add* text, *delete* as many (or one more or
    // one fewer), *copy* the rest (or one less, or one more), and now and then a second
    // *add* at the end.
    let replace = (0..=len)
        .prop_flat_map(move |keep| (Just(keep), 0..=len - keep))
        .prop_flat_map(move |(keep, m)| {
            let text = prop::collection::vec(replace_chars.clone(), m..=m);
            let tail = prop::collection::vec(replace_chars.clone(), 0..=2);
            (
                Just((keep, m)),
                text,
                -1i64..=1,
                -1i64..=1,
                tail,
                any::<bool>(),
            )
        })
        .prop_map(move |((keep, m), text, del_skew, rest_skew, tail, more)| {
            let text: String = text.into_iter().collect();
            let skewed = |n: usize, by: i64| usize::try_from(n as i64 + by).unwrap_or(0);
            // Mostly exact: a skew one time in three each.
            let del = skewed(m, del_skew);
            let rest = skewed(len - keep - m, rest_skew);
            let mut d = format!(
                "^T{}{}{text}{}{}",
                diff_count(keep),
                diff_count(m),
                diff_count(del),
                diff_count(rest)
            );
            if more {
                let tail: String = tail.into_iter().collect();
                d.push_str(&diff_count(tail.len()));
                d.push_str(&tail);
            }
            d
        });
    prop_oneof![
        4 => same_len,
        2 => Just(String::new()),
        1 => Just("#".to_owned()),
        1 => Just("$".to_owned()),
        1 => (1usize..4).prop_map(|n| format!("^{n}")),
        2 => edit,
        2 => replace,
        1 => "[0-9a-z|%#$^T]{0,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The in-place path reads lists by the lengths of the current values: on lists made
    /// to fit them (or nearly), `Row::apply` and the general decoder alone agree: same
    /// outcome, same row, same changed fields.
    #[test]
    fn in_place_path_matches_the_general_decoder(
        (base, lists) in prop::collection::vec(prop_oneof![
            1 => Just(None),
            6 => "[0-9a-z.|é]{0,12}".prop_map(Some),
        ], 1..12).prop_flat_map(|base| {
            let entries: Vec<_> = base.iter().cloned().map(in_place_entry).collect();
            let lists = prop::collection::vec((entries, 0usize..4), 1..4);
            (Just(base), lists)
        }),
    ) {
        let n = base.len();
        let mut fast = Row::new(n);
        let mut ch = ChangedFields::new();
        fast.set_values(base.iter().map(Option::as_deref), &mut ch).unwrap();
        let mut general = fast.clone();
        let mut ch2 = ChangedFields::new();
        for (mut entries, cut) in lists {
            // Mostly one entry per field; now and then one short, or one too many.
            match cut {
                1 => { entries.pop(); }
                2 => entries.push(String::new()),
                _ => {}
            }
            let list = entries.join("|");
            let a = fast.apply(&list, &mut ch);
            let b = general.apply_general(&list, &mut ch2);
            prop_assert_eq!(&a, &b, "{:?}", list);
            prop_assert_eq!(&fast, &general, "{:?}", list);
            prop_assert_eq!(&ch, &ch2, "{:?}", list);
        }
    }
}
