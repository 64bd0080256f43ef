use super::*;

fn values(u: &ItemUpdate<'_>) -> Vec<Option<String>> {
    u.values().map(|v| v.map(str::to_owned)).collect()
}

fn changed(u: &ItemUpdate<'_>) -> Vec<usize> {
    u.changed_positions().collect()
}

fn s(v: &[Option<&str>]) -> Vec<Option<String>> {
    v.iter().map(|x| x.map(str::to_owned)).collect()
}

#[test]
fn merge_rows_snapshot_and_names() {
    let mut m = SubscriptionModel::new(Mode::Merge, 2, 3)
        .unwrap()
        .with_item_names(["item1", "item2"])
        .unwrap()
        .with_field_names(["stock_name", "last_price", "time"])
        .unwrap();
    assert_eq!(m.item_pos("item2"), Some(2));
    assert_eq!(m.field_pos("time"), Some(3));
    assert_eq!(m.field_name(2), Some("last_price"));
    assert_eq!(m.item_pos("nope"), None);

    let u = m.update(2, "Anduct|3.04|10:00").unwrap();
    assert!(u.is_snapshot());
    assert_eq!(u.item_pos(), 2);
    assert_eq!(u.item_name(), Some("item2"));
    assert_eq!(changed(&u), [1, 2, 3]);
    assert_eq!(u.command(), None);
    assert_eq!(u.key(), None);

    let u = m.update(2, "|3.05|").unwrap();
    assert!(!u.is_snapshot());
    assert_eq!(u.value_by_name("last_price"), Some("3.05"));
    assert_eq!(u.value(1), Some("Anduct"));
    assert!(u.is_changed_by_name("last_price") && !u.is_changed(1) && !u.is_changed(0));
    assert_eq!(u.changed_fields().count(), 1);
    assert_eq!(u.value(4), None);

    // Items are independent; item 1 still waits for its snapshot.
    assert_eq!(m.is_in_snapshot(1), Some(true));
    assert_eq!(m.row(2).unwrap().get(1), Some("3.05"));
    // Errors leave the row as it was.
    assert!(matches!(
        m.update(2, "a|b"),
        Err(ModelError::Field {
            item: 2,
            error: FieldError::TooFewValues { .. }
        })
    ));
    assert_eq!(m.row(2).unwrap().get(1), Some("3.05"));
    assert_eq!(
        m.update(3, "x|y|z").err(),
        Some(ModelError::NoSuchItem { item: 3, items: 2 })
    );
    assert_eq!(
        m.update(0, "x|y|z").err(),
        Some(ModelError::NoSuchItem { item: 0, items: 2 })
    );

    assert_eq!(m.overflow(2, 5), Ok(5));
    assert_eq!(m.overflow(2, 2), Ok(7));
    assert_eq!(m.lost_updates(2), Some(7));
    assert_eq!(m.end_of_snapshot(2), Ok(()));
    assert_eq!(
        m.clear_snapshot(2),
        Err(ModelError::UnexpectedClearSnapshot { mode: Mode::Merge })
    );

    m.reset();
    assert_eq!(m.lost_updates(2), Some(0));
    assert!(
        m.update(2, "|x|").is_err(),
        "no previous values after reset"
    );
    assert!(m.update(2, "a|b|c").unwrap().is_snapshot());
}

#[test]
fn merge_without_snapshot() {
    let mut m = SubscriptionModel::new(Mode::Merge, 1, 1)
        .unwrap()
        .with_snapshot(false);
    assert!(!m.snapshot_requested());
    assert!(!m.update(1, "a").unwrap().is_snapshot());
}

#[test]
fn distinct_and_raw_events() {
    let mut m = SubscriptionModel::new(Mode::Distinct, 1, 2).unwrap();
    assert!(m.update(1, "n1|t1").unwrap().is_snapshot());
    let u = m.update(1, "n2|").unwrap();
    assert!(u.is_snapshot());
    // Unchanged fields refer to the item's previous update.
    assert_eq!(values(&u), s(&[Some("n2"), Some("t1")]));
    m.end_of_snapshot(1).unwrap();
    let u = m.update(1, "n3|t3").unwrap();
    assert!(!u.is_snapshot());
    assert_eq!(changed(&u), [1, 2]);
    assert_eq!(m.clear_snapshot(1), Ok(Vec::new()));

    let mut raw = SubscriptionModel::new(Mode::Raw, 1, 2)
        .unwrap()
        .with_snapshot(true);
    assert!(!raw.snapshot_requested());
    assert!(!raw.update(1, "a|b").unwrap().is_snapshot());
    let u = raw.update(1, "c|").unwrap();
    assert_eq!(values(&u), s(&[Some("c"), Some("b")]));
    assert!(!u.is_snapshot());
    assert_eq!(
        raw.clear_snapshot(1),
        Err(ModelError::UnexpectedClearSnapshot { mode: Mode::Raw })
    );
}

fn portfolio() -> SubscriptionModel {
    SubscriptionModel::new_command(1, 4, 1, 2)
        .unwrap()
        .with_field_names(["key", "command", "price", "qty"])
        .unwrap()
}

#[test]
fn command_add_update_delete() {
    let mut m = portfolio();
    assert_eq!((m.key_pos(), m.command_pos()), (Some(1), Some(2)));

    let u = m.update(1, "a|ADD|10|1").unwrap();
    assert_eq!((u.key(), u.command()), (Some("a"), Some(Command::Add)));
    assert!(u.is_snapshot());
    assert_eq!(changed(&u), [1, 2, 3, 4]);
    assert_eq!(u.second_level(), None);

    let u = m.update(1, "b|||2").unwrap(); // ADD and price 10 from the item's last update
    assert_eq!(
        values(&u),
        s(&[Some("b"), Some("ADD"), Some("10"), Some("2")])
    );
    assert_eq!(u.command(), Some(Command::Add));

    // Values decode against the item's previous update (b's), then apply to key a.
    let u = m.update(1, "a|UPDATE|11|").unwrap();
    assert_eq!(
        values(&u),
        s(&[Some("a"), Some("UPDATE"), Some("11"), Some("2")])
    );
    assert_eq!(changed(&u), [2, 3, 4]);
    assert_eq!(u.command(), Some(Command::Update));
    assert_eq!(m.key_value(1, "a", 4), Some("2"));
    assert_eq!(m.key_value(1, "b", 4), Some("2"));
    assert_eq!(m.key_count(1), 2);

    m.end_of_snapshot(1).unwrap();
    let u = m.update(1, "b|DELETE||").unwrap();
    assert!(!u.is_snapshot());
    assert_eq!((u.key(), u.command()), (Some("b"), Some(Command::Delete)));
    assert_eq!(values(&u), s(&[Some("b"), Some("DELETE"), None, None]));
    assert_eq!(changed(&u), [2, 3, 4]);
    assert_eq!(m.key_value(1, "b", 1), None);
    assert_eq!(m.key_count(1), 1);

    // UPDATE of an unknown key is an ADD (the row says ADD); the freed slot is reused.
    let u = m.update(1, "c|UPDATE|5|5").unwrap();
    assert_eq!(u.command(), Some(Command::Add));
    assert_eq!(u.value_by_name("command"), Some("ADD"));
    assert_eq!(changed(&u), [1, 2, 3, 4]);

    // ADD of a known key is an UPDATE; same values: nothing changed.
    let u = m.update(1, "a|ADD|11|2").unwrap();
    assert_eq!(u.command(), Some(Command::Update));
    assert_eq!(u.value(2), Some("UPDATE"));
    assert!(u.changed_fields().is_empty());

    // DELETE of an unknown key: delivered, everything changed.
    let u = m.update(1, "z|DELETE|#|#").unwrap();
    assert_eq!((u.key(), u.command()), (Some("z"), Some(Command::Delete)));
    assert_eq!(changed(&u), [1, 2, 3, 4]);

    let mut keys: Vec<&str> = m.keys(1).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["a", "c"]);

    assert_eq!(
        m.update(1, "#|ADD|1|1").err(),
        Some(ModelError::NullKey { item: 1 })
    );
    assert_eq!(
        m.update(1, "q|add|1|1").err(),
        Some(ModelError::BadCommand {
            item: 1,
            command: Some("add".into())
        })
    );
    assert_eq!(m.key_count(1), 2);

    let mut cleared = m.clear_snapshot(1).unwrap();
    cleared.sort_unstable();
    assert_eq!(cleared, ["a", "c"]);
    assert_eq!(m.key_count(1), 0);
    assert_eq!(
        m.is_in_snapshot(1),
        Some(false),
        "CS keeps the snapshot state"
    );
    let u = m.update(1, "a|ADD|1|1").unwrap();
    assert_eq!(u.command(), Some(Command::Add));
    assert!(!u.is_snapshot());
}

#[test]
fn command_snapshot_until_eos_per_item() {
    let mut m = SubscriptionModel::new_command(2, 2, 2, 1).unwrap();
    assert!(m.update(1, "ADD|k").unwrap().is_snapshot());
    m.end_of_snapshot(1).unwrap();
    assert!(!m.update(1, "UPDATE|k").unwrap().is_snapshot());
    assert!(m.update(2, "ADD|k").unwrap().is_snapshot());
    let mut m = m.with_snapshot(false);
    m.reset();
    assert!(!m.update(2, "ADD|k").unwrap().is_snapshot());
}

fn two_level() -> SubscriptionModel {
    SubscriptionModel::new_command(1, 2, 1, 2)
        .unwrap()
        .with_field_names(["key", "command"])
        .unwrap()
        .with_second_level(Some(2))
        .unwrap()
        .with_second_level_field_names(["bid", "ask"])
        .unwrap()
}

#[test]
fn two_level_command_merges_second_level_fields() {
    let mut m = two_level();
    assert_eq!(m.value_count(), 4);
    assert_eq!(m.field_pos("ask"), Some(4));
    assert_eq!(m.field_name(3), Some("bid"));

    let u = m.update(1, "k1|ADD").unwrap();
    assert_eq!(u.second_level(), Some(SecondLevelAction::Subscribe("k1")));
    assert_eq!(values(&u), s(&[Some("k1"), Some("ADD"), None, None]));
    assert_eq!(changed(&u), [1, 2]);

    let u = m.update_second_level(1, "k1", "1.0|2.0").unwrap();
    assert!(u.is_snapshot());
    assert_eq!(u.command(), Some(Command::Update));
    assert_eq!(
        values(&u),
        s(&[Some("k1"), Some("UPDATE"), Some("1.0"), Some("2.0")])
    );
    assert_eq!(changed(&u), [2, 3, 4]);
    assert_eq!(u.value_by_name("bid"), Some("1.0"));
    assert_eq!(u.second_level(), None);

    let u = m.update_second_level(1, "k1", "|2.5").unwrap();
    assert!(!u.is_snapshot());
    assert_eq!(changed(&u), [4]);
    assert_eq!(m.key_value(1, "k1", 4), Some("2.5"));

    // A first-level update keeps the second-level values.
    let u = m.update(1, "k1|UPDATE").unwrap();
    assert_eq!(u.command(), Some(Command::Update));
    assert!(u.changed_fields().is_empty());
    assert_eq!(u.value(3), Some("1.0"));

    let u = m.update(1, "k2|ADD").unwrap();
    assert_eq!(u.second_level(), Some(SecondLevelAction::Subscribe("k2")));

    let u = m.update(1, "k1|DELETE").unwrap();
    assert_eq!(u.second_level(), Some(SecondLevelAction::Unsubscribe("k1")));
    assert_eq!(values(&u), s(&[Some("k1"), Some("DELETE"), None, None]));
    assert_eq!(changed(&u), [2, 3, 4]);

    // k2 had no second-level values: only first-level fields changed.
    let u = m.update(1, "k2|DELETE").unwrap();
    assert_eq!(u.second_level(), Some(SecondLevelAction::Unsubscribe("k2")));
    assert_eq!(changed(&u), [2]);

    assert_eq!(
        m.update_second_level(1, "k1", "1|2").err(),
        Some(ModelError::UnknownKey {
            item: 1,
            key: "k1".into()
        })
    );
    m.update(1, "k3|ADD").unwrap();
    assert!(matches!(
        m.update_second_level(1, "k3", "1"),
        Err(ModelError::Field { item: 1, .. })
    ));
    assert_eq!(m.key_value(1, "k3", 3), None);
    assert_eq!(m.clear_snapshot(1), Ok(vec!["k3".to_owned()]));
}

#[test]
fn second_level_field_count_learned_later() {
    let mut m = SubscriptionModel::new_command(1, 2, 1, 2)
        .unwrap()
        .with_second_level(None)
        .unwrap();
    assert_eq!(m.second_level_field_count(), Some(0));
    m.update(1, "k|ADD").unwrap();
    assert_eq!(
        m.update_second_level(1, "k", "x").err(),
        Some(ModelError::NoSecondLevel)
    );
    m.set_second_level_fields(1).unwrap();
    assert_eq!(m.set_second_level_fields(1), Ok(()));
    assert_eq!(
        m.set_second_level_fields(3),
        Err(ModelError::SecondLevelFields {
            expected: 1,
            found: 3
        })
    );
    assert_eq!(
        m.update_second_level(1, "k", "x").unwrap().value(3),
        Some("x")
    );
}

#[test]
fn configuration_errors() {
    assert_eq!(
        SubscriptionModel::new(Mode::Command, 1, 2).err(),
        Some(ModelError::CommandPositionsRequired)
    );
    assert_eq!(
        SubscriptionModel::new(Mode::Merge, 0, 2).err(),
        Some(ModelError::Empty)
    );
    assert_eq!(
        SubscriptionModel::new(Mode::Merge, 1, 0).err(),
        Some(ModelError::Empty)
    );
    assert_eq!(
        SubscriptionModel::new_command(1, 2, 3, 1).err(),
        Some(ModelError::BadPosition {
            what: "key",
            position: 3,
            fields: 2
        })
    );
    assert_eq!(
        SubscriptionModel::new_command(1, 2, 1, 1).err(),
        Some(ModelError::BadPosition {
            what: "key",
            position: 1,
            fields: 2
        })
    );
    assert_eq!(
        SubscriptionModel::new(Mode::Merge, 2, 1)
            .unwrap()
            .with_item_names(["a"])
            .err(),
        Some(ModelError::NameCount {
            what: "item",
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        SubscriptionModel::new(Mode::Merge, 1, 1)
            .unwrap()
            .with_second_level(Some(1))
            .err(),
        Some(ModelError::NotCommand)
    );
    let m = SubscriptionModel::new(Mode::Distinct, 1, 1).unwrap();
    assert_eq!(
        (m.mode(), m.item_count(), m.field_count()),
        (Mode::Distinct, 1, 1)
    );
    assert_eq!((m.key_pos(), m.second_level_field_count()), (None, None));
    assert_eq!(m.keys(1).count(), 0);
    assert_eq!(Command::parse("DELETE"), Some(Command::Delete));
    assert_eq!("UPDATE".parse::<Command>(), Ok(Command::Update));
    assert!("update".parse::<Command>().is_err());
    assert_eq!(Command::Add.to_string(), "ADD");
}

/// Everything an event shows, to compare an update with its `last_update` copy.
fn snapshot_of(u: &ItemUpdate<'_>) -> String {
    format!(
        "{} {:?} {:?} {} {:?} {:?} {:?}",
        u.item_pos(),
        values(u),
        changed(u),
        u.is_snapshot(),
        u.key(),
        u.command(),
        u.second_level()
    )
}

#[test]
fn last_update_rebuilds_the_last_event() {
    let mut m = two_level();
    assert!(m.last_update().is_none());
    let script: [(&str, Option<&str>); 6] = [
        ("k1|ADD", None),
        ("k1|UPDATE", None),
        ("", Some("1.0|2.0")),
        ("k2|ADD", None),
        ("k1|DELETE", None),
        ("k9|DELETE", None),
    ];
    for (values, second) in script {
        let seen = match second {
            None => snapshot_of(&m.update(1, values).unwrap()),
            Some(v) => snapshot_of(&m.update_second_level(1, "k1", v).unwrap()),
        };
        assert_eq!(snapshot_of(&m.last_update().unwrap()), seen, "{values}");
    }
    // A failed update forgets it, so does a clear.
    assert!(m.update(1, "a|b|c").is_err());
    assert!(m.last_update().is_none());
    m.update(1, "k3|ADD").unwrap();
    m.clear_snapshot(1).unwrap();
    assert!(m.last_update().is_none());

    let mut m = SubscriptionModel::new(Mode::Distinct, 2, 2).unwrap();
    let seen = snapshot_of(&m.update(2, "x|y").unwrap());
    assert_eq!(snapshot_of(&m.last_update().unwrap()), seen);
    m.reset();
    assert!(m.last_update().is_none());
}
