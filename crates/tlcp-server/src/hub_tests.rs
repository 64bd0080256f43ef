//! The hub's unit tests: updates, rows, snapshots, listeners, COMMAND rows by key.

use super::*;

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl ItemListener for Recorder {
    fn on_event(&self, event: ItemEvent<'_>) {
        let s = match event {
            ItemEvent::Update { snapshot, row, .. } => format!(
                "{}{:?}",
                if snapshot { "S" } else { "U" },
                row.iter()
                    .map(|v| v.as_deref().unwrap_or("#"))
                    .collect::<Vec<_>>()
            ),
            ItemEvent::EndOfSnapshot => "EOS".into(),
            ItemEvent::ClearSnapshot { .. } => "CS".into(),
        };
        self.0.lock().unwrap().push(s);
    }
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[derive(Default)]
struct Feeds(Mutex<HashMap<String, ItemFeed>>, Mutex<Vec<String>>);

impl DataAdapter for Arc<Feeds> {
    fn subscribe(&self, item: &str, feed: ItemFeed) -> Result<(), Refusal> {
        if item == "forbidden" {
            return Err(Refusal::new(-5, "no"));
        }
        self.0.lock().unwrap().insert(item.into(), feed);
        Ok(())
    }
    fn unsubscribe(&self, item: &str) {
        self.1.lock().unwrap().push(item.into());
    }
}

fn upd(pairs: &[(&str, Option<&str>)]) -> Update {
    let mut u = Update::new();
    for (k, v) in pairs {
        match v {
            Some(v) => u.set(k, v),
            None => u.set_null(k),
        };
    }
    u
}

#[test]
fn shared_encodings_compute_once_per_schema() {
    let mut shared = SharedEncodings::default();
    let mut calls = 0;
    for _ in 0..3 {
        let e = shared.get_or_encode(&[0, 1], true, |o| {
            calls += 1;
            o.push_str("a|b");
        });
        assert_eq!(e, "a|b");
    }
    let e = shared.get_or_encode(&[0, 1], false, |o| {
        calls += 1;
        o.push('x');
    });
    assert_eq!(e, "x");
    assert_eq!(calls, 2, "one per (schema, diff setting)");
    shared.reset();
    shared.get_or_encode(&[0, 1], true, |o| {
        calls += 1;
        o.push('c');
    });
    assert_eq!(calls, 3, "a new update starts a new cache");
}

/// Records, for each update, whether the hub gave a mask of changed fields, and
/// checks that it says what `changed` says of every field.
#[derive(Default)]
struct MaskCheck(Mutex<Vec<Option<u64>>>);

impl ItemListener for MaskCheck {
    fn on_event(&self, event: ItemEvent<'_>) {
        if let ItemEvent::Update {
            row,
            changes: Some(c),
            live: Some(_),
            ..
        } = event
        {
            let bits = (0..row.len())
                .filter(|&k| c.changed(k))
                .fold(0u64, |m, k| m | 1 << (k % 64));
            if let Some(m) = c.mask() {
                assert_eq!(m, bits, "row {row:?}");
            }
            self.0.lock().unwrap().push(c.mask());
        }
    }
}

#[test]
fn changed_field_masks_agree_with_changed() {
    let (feeds, _dh, hub) = acquired("i", 3);
    let check = Arc::new(MaskCheck::default());
    hub.add_listener(check.clone(), Mode::Merge, SnapshotRequest::None, None);
    let feed = feeds.0.lock().unwrap()["i"].clone();
    let (a, b) = (feed.field("a"), feed.field("b"));
    feed.update_with(|r| {
        r.set(a, "1").set(b, "2");
    });
    // Set twice in one update, back to its value: changed all the same (as `changed`
    // says), and `b` set to what it holds.
    feed.update_with(|r| {
        r.set(a, "5").set(a, "1").set(b, "2");
    });
    feed.update(&upd(&[("b", Some("3")), ("c", None), ("d", Some("x"))]));
    feed.clear_snapshot();
    feed.update(&upd(&[("a", Some("1"))]));
    // Past 64 fields: no mask.
    let mut wide = Update::new();
    for k in 0..70 {
        wide.set(&format!("w{k}"), "v");
    }
    feed.update(&wide);
    feed.update(&upd(&[("w69", Some("z")), ("a", Some("2"))]));
    let masks = check.0.lock().unwrap().clone();
    assert_eq!(
        masks,
        [Some(0b11), Some(0b01), Some(0b1010), Some(0b1), None, None]
    );
}

/// Records each update's row, the row before it (as `Changes::before` tells it) and
/// the fields `Changes::changed` says changed.
/// One update as a listener saw it: the row, the row before, the changed fields.
type Delta = (Vec<Option<String>>, Vec<Option<String>>, Vec<bool>);

#[derive(Default)]
struct Deltas(Mutex<Vec<Delta>>);

impl ItemListener for Deltas {
    fn on_event(&self, event: ItemEvent<'_>) {
        if let ItemEvent::Update {
            row,
            changes: Some(c),
            ..
        } = event
        {
            let width = 6;
            let now = (0..width).map(|i| row.get(i).cloned().flatten()).collect();
            let before = (0..width)
                .map(|i| c.before(row, i).map(str::to_owned))
                .collect();
            let changed = (0..width).map(|i| c.changed(i)).collect();
            self.0.lock().unwrap().push((now, before, changed));
        }
    }
}

/// Writes in any order, a field set several times in one update, nulls, empty and
/// multi-byte values, by field id and by name: each row is the model's, `before`
/// gives the previous row, and `changed` marks every field whose value differs (and,
/// when no field was written twice, only those).
#[test]
fn rows_from_writes_in_any_order_are_the_rows_pushed() {
    let (feeds, _dh, hub) = acquired("i", 3);
    let names = ["a", "b", "c", "d", "e", "f"];
    let names_owned: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    hub.resolve_fields(&names_owned).expect("fields");
    let deltas = Arc::new(Deltas::default());
    hub.add_listener(deltas.clone(), Mode::Merge, SnapshotRequest::None, None);
    let feed = feeds.0.lock().unwrap()["i"].clone();
    let ids: Vec<FieldId> = names.iter().map(|n| feed.field(n)).collect();
    let values = [
        None,
        Some(""),
        Some("1"),
        Some("22"),
        Some("é"),
        Some("ü€x"),
    ];
    let mut rng = crate::demo::rng::Rng::new(11);
    let mut model: Vec<Option<&str>> = vec![None; 6];
    for step in 0..3_000 {
        let writes: Vec<(usize, Option<&str>)> = (0..rng.below(8))
            .map(|_| {
                let i = rng.below(6) as usize;
                (i, values[rng.below(values.len() as u64) as usize])
            })
            .collect();
        let mut seen = [false; 6];
        let repeated = writes
            .iter()
            .any(|&(i, _)| std::mem::replace(&mut seen[i], true));
        let old = model.clone();
        for &(i, v) in &writes {
            model[i] = v;
        }
        let by_name = step % 2 == 1;
        if by_name {
            let mut u = Update::new();
            for &(i, v) in &writes {
                match v {
                    Some(v) => u.set(names[i], v),
                    None => u.set_null(names[i]),
                };
            }
            feed.update(&u);
        } else {
            feed.update_with(|r| {
                for &(i, v) in &writes {
                    match v {
                        Some(v) => r.set(ids[i], v),
                        None => r.set_null(ids[i]),
                    };
                }
            });
        }
        let (now, before, changed) = deltas.0.lock().unwrap().pop().expect("an update");
        let own = |r: &[Option<&str>]| -> Vec<Option<String>> {
            r.iter().map(|v| v.map(str::to_owned)).collect()
        };
        assert_eq!(now, own(&model), "step {step}: {writes:?}");
        assert_eq!(before, own(&old), "step {step}: {writes:?}");
        for i in 0..6 {
            let differs = model[i] != old[i];
            // `Update` keeps one value per name: its fields are never written twice.
            if differs || !repeated || by_name {
                assert_eq!(changed[i], differs, "step {step}, field {i}: {writes:?}");
            }
        }
    }
}

#[test]
fn merge_snapshot_then_live_and_lifecycle() {
    let (feeds, dh, hub) = acquired("item1", 10);
    let idx = hub
        .resolve_fields(&["a".into(), "b".into()])
        .expect("fields");
    assert_eq!(idx, vec![0, 1]);
    let feed = feeds.0.lock().unwrap()["item1"].clone();
    feed.update(&upd(&[("a", Some("1")), ("b", None)]));
    let r = Arc::new(Recorder::default());
    let t = hub.add_listener(r.clone(), Mode::Merge, SnapshotRequest::Full, None);
    assert_eq!(r.take(), vec![r##"S["1", "#"]"##]);
    feed.update(&upd(&[("b", Some("x"))]));
    assert_eq!(r.take(), vec![r#"U["1", "x"]"#]);
    dh.release(&hub, Some(t));
    assert_eq!(dh.active_items(), 0);
    assert_eq!(*feeds.1.lock().unwrap(), vec!["item1"]);
    assert!(!feed.is_active());
    feed.update(&upd(&[("b", Some("y"))]));
    assert!(r.take().is_empty());
}

#[test]
fn an_item_being_subscribed_is_not_stopped_by_the_last_listener_leaving() {
    // A subscription has the item, a second one has acquired it and not yet added
    // its listener when the first one leaves.
    let (feeds, dh, hub) = acquired("item1", 10);
    let first = hub.add_listener(
        Arc::new(Recorder::default()),
        Mode::Merge,
        SnapshotRequest::None,
        None,
    );
    let again = dh.acquire("item1").unwrap();
    assert!(Arc::ptr_eq(&hub, &again));
    dh.release(&hub, Some(first));
    assert!(
        feeds.1.lock().unwrap().is_empty(),
        "stopped under a subscriber"
    );
    let r = Arc::new(Recorder::default());
    let second = again.add_listener(r.clone(), Mode::Merge, SnapshotRequest::None, None);
    let feed = feeds.0.lock().unwrap()["item1"].clone();
    feed.update(&upd(&[("a", Some("1"))]));
    assert_eq!(r.take(), vec!["EOS", r#"U["1"]"#]);
    // An acquisition given back without a listener counts the same way; the item
    // stops once, when nothing holds it.
    let third = dh.acquire("item1").unwrap();
    dh.release(&again, Some(second));
    assert!(feed.is_active());
    dh.release(&third, None);
    assert!(!feed.is_active());
    assert_eq!(*feeds.1.lock().unwrap(), vec!["item1"]);
    assert_eq!(dh.active_items(), 0);
    // A stale release of the stopped hub leaves the item's next hub alone.
    let next = dh.acquire("item1").unwrap();
    dh.release(&hub, None);
    assert_eq!(dh.active_items(), 1);
    assert_eq!(*feeds.1.lock().unwrap(), vec!["item1"]);
    dh.release(&next, None);
    assert_eq!(*feeds.1.lock().unwrap(), vec!["item1", "item1"]);
}

#[test]
fn adapter_refusal_is_returned() {
    let feeds = Arc::new(Feeds::default());
    let dh = DataAdapterHub::new(Arc::new(feeds), 10);
    assert_eq!(dh.acquire("forbidden").err().unwrap().code, -5);
    assert_eq!(dh.active_items(), 0);
}

#[test]
fn distinct_history_and_adapter_snapshot() {
    let (feeds, _dh, hub) = acquired("news", 3);
    hub.resolve_fields(&["t".into()]).expect("fields");
    let first = Arc::new(Recorder::default());
    hub.add_listener(first.clone(), Mode::Distinct, SnapshotRequest::Full, None);
    let feed = feeds.0.lock().unwrap()["news"].clone();
    feed.snapshot(&upd(&[("t", Some("s1"))]));
    feed.end_of_snapshot();
    for i in 0..5 {
        feed.update(&upd(&[("t", Some(&format!("u{i}")))]));
    }
    let got = first.take();
    assert_eq!(got[0], r#"S["s1"]"#);
    assert_eq!(got[1], "EOS");
    assert_eq!(got.len(), 7);
    let late = Arc::new(Recorder::default());
    hub.add_listener(
        late.clone(),
        Mode::Distinct,
        SnapshotRequest::Length(2),
        None,
    );
    assert_eq!(
        late.take(),
        vec![r#"S["u3"]"#.to_string(), r#"S["u4"]"#.into(), "EOS".into()]
    );
    let full = Arc::new(Recorder::default());
    hub.add_listener(full.clone(), Mode::Distinct, SnapshotRequest::Full, None);
    assert_eq!(full.take().len(), 4, "history is capped at 3 + EOS");
}

/// DISTINCT history rows are recycled rows with every value written over the one
/// they held when the layout is the same: after every kind of update (same
/// length, other length, to and from null, unchanged, a field added, a clear), a late
/// listener's snapshot is exactly the last rows pushed.
#[test]
fn distinct_history_rows_are_the_rows_pushed() {
    let (feeds, _dh, hub) = acquired("i", 4);
    hub.resolve_fields(&["a".into(), "b".into(), "c".into()])
        .expect("fields");
    let first = Arc::new(Recorder::default());
    hub.add_listener(first.clone(), Mode::Distinct, SnapshotRequest::None, None);
    let feed = feeds.0.lock().unwrap()["i"].clone();
    let fmt = |row: &[Option<&str>]| {
        format!(
            "S{:?}",
            row.iter().map(|v| v.unwrap_or("#")).collect::<Vec<_>>()
        )
    };
    let steps: Vec<Vec<(&str, Option<&str>)>> = vec![
        vec![("a", Some("1.00")), ("b", Some("x")), ("c", None)],
        vec![("a", Some("1.01"))],
        vec![("a", Some("1.02")), ("b", Some("y"))],
        vec![("b", Some("yy"))],
        vec![("a", Some("1.02"))],
        vec![("c", Some("now"))],
        vec![("c", None), ("a", Some("9.99"))],
        vec![("a", Some("é.00")), ("b", Some("zz"))],
        vec![("d", Some("new field"))],
        vec![("a", Some("é.01")), ("d", Some("new fielD"))],
        vec![],
        vec![("b", None)],
    ];
    let mut current: Vec<Option<String>> = vec![None; 3];
    let mut pushed: Vec<Vec<Option<String>>> = Vec::new();
    for (k, step) in steps.iter().enumerate() {
        if k == 10 {
            feed.clear_snapshot();
            current.iter_mut().for_each(|v| *v = None);
            pushed.clear();
        }
        feed.update(&upd(step));
        for (name, value) in step {
            let i = ["a", "b", "c", "d"].iter().position(|n| n == name).unwrap();
            if current.len() <= i {
                current.resize(i + 1, None);
            }
            current[i] = value.map(str::to_owned);
        }
        pushed.push(current.clone());
        let late = Arc::new(Recorder::default());
        hub.add_listener(late.clone(), Mode::Distinct, SnapshotRequest::Full, None);
        // Rows kept before a field was added have it null.
        let mut want: Vec<String> = pushed[pushed.len().saturating_sub(4)..]
            .iter()
            .map(|r| {
                let mut r: Vec<Option<&str>> = r.iter().map(|v| v.as_deref()).collect();
                r.resize(current.len(), None);
                fmt(&r)
            })
            .collect();
        want.push("EOS".into());
        assert_eq!(late.take(), want, "after step {k}");
    }
}

#[test]
fn distinct_snapshot_pushed_before_any_listener() {
    let (feeds, _dh, hub) = acquired("news", 10);
    let feed = feeds.0.lock().unwrap()["news"].clone();
    for i in 1..=4 {
        feed.snapshot(&upd(&[("t", Some(&format!("s{i}")))]));
    }
    feed.end_of_snapshot();
    hub.resolve_fields(&["t".into()]).expect("fields");
    let r = Arc::new(Recorder::default());
    hub.add_listener(r.clone(), Mode::Distinct, SnapshotRequest::Length(3), None);
    assert_eq!(
        r.take(),
        vec![
            r#"S["s2"]"#.to_string(),
            r#"S["s3"]"#.into(),
            r#"S["s4"]"#.into(),
            "EOS".into()
        ]
    );
}

#[test]
fn realtime_update_ends_pending_snapshot() {
    let (feeds, _dh, hub) = acquired("x", 3);
    hub.resolve_fields(&["f".into()]).expect("fields");
    let r = Arc::new(Recorder::default());
    hub.add_listener(r.clone(), Mode::Distinct, SnapshotRequest::Full, None);
    let feed = feeds.0.lock().unwrap()["x"].clone();
    feed.update(&upd(&[("f", Some("1"))]));
    assert_eq!(r.take(), vec!["EOS".to_string(), r#"U["1"]"#.into()]);
}

#[test]
fn command_snapshot_pushed_before_any_listener() {
    let (feeds, _dh, hub) = acquired("portfolio", 3);
    let feed = feeds.0.lock().unwrap()["portfolio"].clone();
    feed.snapshot(&upd(&[("key", Some("a")), ("command", Some("ADD"))]));
    feed.end_of_snapshot();
    let idx = hub
        .resolve_fields(&["command".into(), "key".into()])
        .expect("fields");
    let r = Arc::new(Recorder::default());
    hub.add_listener(
        r.clone(),
        Mode::Command,
        SnapshotRequest::Full,
        Some((idx[1], idx[0])),
    );
    assert_eq!(r.take(), vec![r#"S["a", "ADD"]"#.to_string(), "EOS".into()]);
}

/// An item `book` with `fields`, a COMMAND listener (`key`/`command` being the first
/// two fields) and a MERGE one.
/// A data adapter hub over a fresh [`Feeds`], keeping `history` DISTINCT rows, and item
/// `name` acquired from it.
fn acquired(name: &str, history: usize) -> (Arc<Feeds>, DataAdapterHub, Arc<ItemHub>) {
    let feeds = Arc::new(Feeds::default());
    let dh = DataAdapterHub::new(Arc::new(feeds.clone()), history);
    let hub = dh.acquire(name).unwrap();
    (feeds, dh, hub)
}

struct Book {
    feeds: Arc<Feeds>,
    dh: DataAdapterHub,
    hub: Arc<ItemHub>,
    idx: Vec<usize>,
    cmd: Arc<Recorder>,
    merge: Arc<Recorder>,
    feed: ItemFeed,
}

fn book(fields: &[&str]) -> Book {
    let (feeds, dh, hub) = acquired("book", 3);
    let names: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    let idx = hub.resolve_fields(&names).expect("fields");
    let cmd = Arc::new(Recorder::default());
    hub.add_listener(
        cmd.clone(),
        Mode::Command,
        SnapshotRequest::None,
        Some((idx[0], idx[1])),
    );
    let merge = Arc::new(Recorder::default());
    hub.add_listener(merge.clone(), Mode::Merge, SnapshotRequest::None, None);
    let feed = feeds.0.lock().unwrap()["book"].clone();
    Book {
        feeds,
        dh,
        hub,
        idx,
        cmd,
        merge,
        feed,
    }
}

#[test]
fn command_events_keep_the_fields_of_their_own_key() {
    let Book {
        feeds: _feeds,
        dh: _dh,
        hub,
        idx,
        cmd,
        merge,
        feed,
    } = book(&["key", "command", "q", "p"]);
    let k = |key, command| [("key", Some(key)), ("command", Some(command))];
    feed.update(&upd(&[
        &k("a", "ADD")[..],
        &[("q", Some("1")), ("p", Some("10"))],
    ]
    .concat()));
    feed.update(&upd(&[
        &k("b", "ADD")[..],
        &[("q", Some("2")), ("p", Some("20"))],
    ]
    .concat()));
    feed.update(&upd(&[&k("a", "UPDATE")[..], &[("q", Some("3"))]].concat()));
    feed.update(&upd(&[&k("c", "ADD")[..], &[("q", Some("4"))]].concat()));
    feed.update(&upd(&k("b", "DELETE")));
    assert_eq!(
        cmd.take()[1..],
        [
            r#"U["a", "ADD", "1", "10"]"#,
            r#"U["b", "ADD", "2", "20"]"#,
            r#"U["a", "UPDATE", "3", "10"]"#,
            r##"U["c", "ADD", "4", "#"]"##,
            r##"U["b", "DELETE", "#", "#"]"##,
        ]
    );
    // MERGE subscribers of the same item see the item's merged row.
    assert_eq!(
        merge.take().last().unwrap(),
        r#"U["b", "DELETE", "4", "20"]"#
    );
    let late = Arc::new(Recorder::default());
    hub.add_listener(
        late.clone(),
        Mode::Command,
        SnapshotRequest::Full,
        Some((idx[0], idx[1])),
    );
    assert_eq!(
        late.take(),
        [
            r#"S["a", "UPDATE", "3", "10"]"#,
            r##"S["c", "ADD", "4", "#"]"##,
            "EOS"
        ]
    );
}

/// Writing by field id is the same as pushing an `Update`: merged row, COMMAND rows
/// by key (the fields the event sets, even to the item's current value), and ids of
/// another item are ignored.
#[test]
fn update_with_field_ids_is_an_update() {
    let Book {
        feeds,
        dh,
        cmd,
        merge,
        feed,
        ..
    } = book(&["key", "command", "q"]);
    let other = dh.acquire("other").unwrap();
    let foreign = feeds.0.lock().unwrap()["other"].clone().field("q");
    let (key, command, q) = (feed.field("key"), feed.field("command"), feed.field("q"));
    let extra = feed.field("extra");
    assert_eq!(feed.field("q"), q, "one id per name");
    assert_ne!(foreign, q);
    feed.update_with(|r| {
        r.set(key, "a").set(command, "ADD").set(q, "1");
    });
    feed.update_with(|r| {
        r.set(key, "b")
            .set(command, "ADD")
            .set(q, "2")
            .set(extra, "e");
    });
    // `q` is set to the item's current value ("2"), which is not a's.
    feed.update_with(|r| {
        r.set(key, "a")
            .set(command, "UPDATE")
            .set(q, "2")
            .set(foreign, "9");
    });
    feed.update_with(|r| {
        r.set(key, "b").set(command, "UPDATE").set_null(extra);
    });
    assert_eq!(
        cmd.take()[1..],
        [
            r##"U["a", "ADD", "1", "#"]"##,
            r#"U["b", "ADD", "2", "e"]"#,
            r##"U["a", "UPDATE", "2", "#"]"##,
            r##"U["b", "UPDATE", "2", "#"]"##,
        ]
    );
    assert_eq!(
        merge.take()[1..],
        [
            r##"U["a", "ADD", "1", "#"]"##,
            r#"U["b", "ADD", "2", "e"]"#,
            r#"U["a", "UPDATE", "2", "e"]"#,
            r##"U["b", "UPDATE", "2", "#"]"##,
        ]
    );
    drop(other);
}

#[test]
fn command_rows_snapshot_and_clear() {
    let (feeds, _dh, hub) = acquired("portfolio", 3);
    let idx = hub
        .resolve_fields(&["key".into(), "command".into(), "qty".into()])
        .expect("fields");
    let first = Arc::new(Recorder::default());
    hub.add_listener(
        first.clone(),
        Mode::Command,
        SnapshotRequest::None,
        Some((idx[0], idx[1])),
    );
    let feed = feeds.0.lock().unwrap()["portfolio"].clone();
    for (k, c, q) in [
        ("a", "ADD", "1"),
        ("b", "ADD", "2"),
        ("a", "UPDATE", "3"),
        ("b", "DELETE", "2"),
    ] {
        feed.update(&upd(&[
            ("key", Some(k)),
            ("command", Some(c)),
            ("qty", Some(q)),
        ]));
    }
    assert_eq!(first.take().len(), 5, "EOS + 4 updates");
    let late = Arc::new(Recorder::default());
    hub.add_listener(
        late.clone(),
        Mode::Command,
        SnapshotRequest::Full,
        Some((idx[0], idx[1])),
    );
    assert_eq!(
        late.take(),
        vec![r#"S["a", "UPDATE", "3"]"#.to_string(), "EOS".into()]
    );
    feed.clear_snapshot();
    assert_eq!(late.take(), vec!["CS"]);
    let after = Arc::new(Recorder::default());
    hub.add_listener(
        after.clone(),
        Mode::Command,
        SnapshotRequest::Full,
        Some((idx[0], idx[1])),
    );
    assert_eq!(after.take(), vec!["EOS"]);
}
