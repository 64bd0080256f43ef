//! Unit tests of the delivery queue, fed by a real subscription model.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use tlcp_proto::Mode;
use tlcp_proto::client::SubscriptionSpec;
use tlcp_proto::model::{Command, SubscriptionModel};
use tokio::sync::Notify;

use super::*;

fn shared(policy: Delivery) -> Shared {
    Shared::new(policy, Arc::new(Notify::new()))
}

fn schema(mode: Mode, items: &[&str], fields: &[&str]) -> Arc<Schema> {
    Arc::new(Schema::of(&SubscriptionSpec::items(
        mode,
        items.iter().copied(),
        fields.iter().copied(),
    )))
}

fn pop(q: &Shared) -> Option<SubscriptionEvent> {
    match q.poll_next(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(e) => e,
        Poll::Pending => None,
    }
}

fn describe(e: SubscriptionEvent) -> String {
    match e {
        SubscriptionEvent::Update(u) => format!(
            "{}:{}{}",
            u.item_pos(),
            u.values()
                .map(|v| v.unwrap_or("#"))
                .collect::<Vec<_>>()
                .join(","),
            if u.skipped() > 0 {
                format!(" (+{})", u.skipped())
            } else {
                String::new()
            }
        ),
        SubscriptionEvent::Dropped { count } => format!("dropped {count}"),
        SubscriptionEvent::EndOfSnapshot { item, .. } => format!("EOS {item}"),
        other => format!("{other:?}"),
    }
}

fn drain(q: &Shared) -> Vec<String> {
    std::iter::from_fn(|| pop(q)).map(describe).collect()
}

#[test]
fn conflation_keeps_the_latest_row_per_item_and_respects_other_events() {
    let q = shared(Delivery::Conflate);
    let s = schema(Mode::Merge, &["a", "b"], &["x", "y"]);
    let mut m = SubscriptionModel::new(Mode::Merge, 2, 2).unwrap();
    let now = Instant::now();
    let mut push = |item: usize, values: &str| {
        let u = m.update(item, values).unwrap();
        q.push_update(&s, &u, None, now)
    };
    assert_eq!(push(1, "1|1"), Pushed::Queued);
    assert_eq!(push(2, "9|9"), Pushed::Queued);
    assert_eq!(push(1, "2|"), Pushed::Conflated);
    assert_eq!(push(1, "3|"), Pushed::Conflated);
    q.push_event(SubscriptionEvent::EndOfSnapshot {
        item: 1,
        item_name: None,
    });
    // After an event, a new update starts a new entry (order is kept).
    assert_eq!(push(1, "4|"), Pushed::Queued);
    assert_eq!(drain(&q), ["1:3,1 (+2)", "2:9,9", "EOS 1", "1:4,1"]);
    // Once read, the next update is queued anew.
    assert_eq!(push(1, "5|"), Pushed::Queued);
    assert_eq!(drain(&q), ["1:5,1"]);
    let stats = q.stats();
    assert_eq!((stats.received, stats.conflated, stats.queued), (6, 2, 0));
}

#[test]
fn conflated_changes_accumulate() {
    let q = shared(Delivery::Conflate);
    let s = schema(Mode::Merge, &["a"], &["x", "y", "z"]);
    let mut m = SubscriptionModel::new(Mode::Merge, 1, 3).unwrap();
    let now = Instant::now();
    let u = m.update(1, "1|1|1").unwrap();
    q.push_update(&s, &u, None, now);
    let _ = pop(&q);
    for values in ["2||", "|2|"] {
        let u = m.update(1, values).unwrap();
        q.push_update(&s, &u, None, now);
    }
    let Some(SubscriptionEvent::Update(u)) = pop(&q) else {
        panic!()
    };
    assert_eq!(u.changed_positions().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(u.value_by_name("z"), Some("1"));
    assert!(!u.is_snapshot());
}

#[test]
fn command_rows_conflate_per_key() {
    let q = shared(Delivery::Conflate);
    let s = schema(Mode::Command, &["p"], &["key", "command", "qty"]);
    let mut m = SubscriptionModel::new_command(1, 3, 1, 2).unwrap();
    let now = Instant::now();
    let mut push = |values: &str| {
        let u = m.update(1, values).unwrap();
        q.push_update(&s, &u, Some(1), now)
    };
    assert_eq!(push("k1|ADD|1"), Pushed::Queued);
    assert_eq!(push("k2|ADD|5"), Pushed::Queued);
    assert_eq!(push("k1|UPDATE|2"), Pushed::Conflated);
    assert_eq!(push("k2|DELETE|#"), Pushed::Conflated);
    // A key added again after its DELETE is a new entry.
    assert_eq!(push("k2|ADD|7"), Pushed::Queued);
    let mut rows = Vec::new();
    while let Some(SubscriptionEvent::Update(u)) = pop(&q) {
        rows.push(format!(
            "{} {} {}",
            u.key().unwrap(),
            u.command().unwrap(),
            u.value(3).unwrap_or("#")
        ));
    }
    assert_eq!(rows, ["k1 ADD 2", "k2 DELETE #", "k2 ADD 7"]);
    let _ = Command::Add;
}

#[test]
fn a_full_queue_drops_and_says_where() {
    let q = shared(Delivery::Queue { capacity: 2 });
    let s = schema(Mode::Distinct, &["a"], &["n"]);
    let mut m = SubscriptionModel::new(Mode::Distinct, 1, 1).unwrap();
    let now = Instant::now();
    let mut push = |n: u32| {
        let u = m.update(1, &n.to_string()).unwrap();
        q.push_update(&s, &u, None, now)
    };
    assert_eq!(push(1), Pushed::Queued);
    assert_eq!(push(2), Pushed::Queued);
    assert_eq!(push(3), Pushed::Dropped);
    assert_eq!(push(4), Pushed::Dropped);
    assert_eq!(describe(pop(&q).unwrap()), "1:1");
    // Room again: the gap is marked before the next update.
    assert_eq!(push(5), Pushed::Queued);
    assert_eq!(push(6), Pushed::Dropped);
    assert_eq!(drain(&q), ["1:2", "dropped 2", "1:5", "dropped 1"]);
    assert_eq!(q.stats().dropped, 3);
    // Lifecycle events are never dropped, and a terminal one ends the stream.
    q.push_event(SubscriptionEvent::Unsubscribed);
    assert_eq!(drain(&q), ["Unsubscribed"]);
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(q.poll_next(&mut cx).map(|e| e.is_none()), Poll::Ready(true));
}

#[test]
fn backpressure_reports_full_and_wakes_the_driver() {
    let resume = Arc::new(Notify::new());
    let q = Shared::new(Delivery::Backpressure { capacity: 2 }, resume.clone());
    let s = schema(Mode::Raw, &["a"], &["n"]);
    let mut m = SubscriptionModel::new(Mode::Raw, 1, 1).unwrap();
    let now = Instant::now();
    let mut push = |n: u32| {
        let u = m.update(1, &n.to_string()).unwrap();
        q.push_update(&s, &u, None, now)
    };
    assert_eq!(push(1), Pushed::Queued);
    assert_eq!(push(2), Pushed::Full);
    assert_eq!(push(3), Pushed::Full); // kept: back-pressure never drops
    assert!(q.blocks_reading());
    let _ = pop(&q);
    let _ = pop(&q);
    // The reader made room: the driver is notified (a permit is stored).
    let notified = resume.notified();
    let mut notified = std::pin::pin!(notified);
    assert!(
        notified
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    );
    assert!(!q.blocks_reading());
    assert_eq!(q.stats().dropped, 0);
}

#[test]
fn lost_updates_of_an_item_merge() {
    let q = shared(Delivery::Queue { capacity: 10 });
    for _ in 0..3 {
        q.push_event(SubscriptionEvent::LostUpdates {
            item: 1,
            item_name: None,
            count: 2,
            key: None,
        });
    }
    match pop(&q) {
        Some(SubscriptionEvent::LostUpdates { count, .. }) => assert_eq!(count, 6),
        other => panic!("{other:?}"),
    }
    assert!(pop(&q).is_none());
}

#[test]
fn reconnection_storms_do_not_grow_an_unread_queue() {
    let q = shared(Delivery::Queue { capacity: 10 });
    let subscribed = || SubscriptionEvent::Subscribed {
        items: 1,
        fields: 1,
        key_pos: None,
        command_pos: None,
    };
    q.push_event(subscribed());
    for _ in 0..100 {
        q.push_event(SubscriptionEvent::Interrupted);
        q.push_event(subscribed());
    }
    assert_eq!(q.stats().queued, 3);
    let events: Vec<_> = std::iter::from_fn(|| pop(&q)).collect();
    assert!(matches!(
        events.as_slice(),
        [
            SubscriptionEvent::Subscribed { .. },
            SubscriptionEvent::Interrupted,
            SubscriptionEvent::Subscribed { .. }
        ]
    ));
}

#[test]
fn repeated_events_are_kept_once() {
    let q = shared(Delivery::Queue { capacity: 10 });
    for i in 0..1000 {
        q.push_event(SubscriptionEvent::RealMaxFrequency {
            frequency: tlcp_proto::RealMaxFrequency::PerSecond(f64::from(i)),
            filtered: true,
        });
        q.push_event(SubscriptionEvent::RealMaxFrequency {
            frequency: tlcp_proto::RealMaxFrequency::Unlimited,
            filtered: true,
        });
    }
    for _ in 0..1000 {
        q.push_event(SubscriptionEvent::EndOfSnapshot {
            item: 1,
            item_name: None,
        });
    }
    for _ in 0..1000 {
        q.push_event(SubscriptionEvent::ClearSnapshot {
            item: 2,
            item_name: None,
        });
    }
    assert_eq!(q.stats().queued, 3);
    assert_eq!(
        drain(&q),
        [
            "RealMaxFrequency { frequency: Unlimited, filtered: true }",
            "EOS 1",
            "ClearSnapshot { item: 2, item_name: None }",
        ]
    );
}

#[test]
fn informational_events_are_capped_with_a_counted_gap() {
    let q = shared(Delivery::Queue { capacity: 10 });
    let eos = |item| SubscriptionEvent::EndOfSnapshot {
        item,
        item_name: None,
    };
    // A server alternating EOS of two items to a reader that never reads.
    for i in 0..100_000 {
        q.push_event(eos(1 + i % 2));
    }
    let stats = q.stats();
    assert_eq!(stats.queued, MAX_INFO_EVENTS);
    assert_eq!(stats.events_dropped, 100_000 - MAX_INFO_EVENTS as u64);
    // Lifecycle events still get in, after the gap's marker.
    q.push_event(SubscriptionEvent::Interrupted);
    q.push_event(eos(1)); // still full: dropped and counted
    q.push_event(SubscriptionEvent::Unsubscribed);
    let events = drain(&q);
    assert_eq!(events.len(), MAX_INFO_EVENTS + 4, "{:?}", &events[1000..]);
    assert_eq!(events[0], "EOS 1");
    assert_eq!(
        events[MAX_INFO_EVENTS..],
        [
            format!("EventsDropped {{ count: {} }}", 100_000 - MAX_INFO_EVENTS),
            "Interrupted".to_owned(),
            "EventsDropped { count: 1 }".to_owned(),
            "Unsubscribed".to_owned(),
        ]
    );
    assert!(pop(&q).is_none());
}

#[test]
fn room_for_informational_events_comes_back_as_they_are_read() {
    let q = shared(Delivery::Queue { capacity: 10 });
    let eos = |item| SubscriptionEvent::EndOfSnapshot {
        item,
        item_name: None,
    };
    for i in 0..MAX_INFO_EVENTS + 10 {
        q.push_event(eos(1 + i % 2));
    }
    // Half read, in batches: as much room again.
    let mut local = std::collections::VecDeque::new();
    let cx = &mut Context::from_waker(Waker::noop());
    while local.len() < MAX_INFO_EVENTS / 2 {
        assert_eq!(q.poll_batch(cx, &mut local, 100), Poll::Ready(true));
    }
    let read = local.len();
    for i in 0..MAX_INFO_EVENTS {
        q.push_event(eos(1 + i % 2));
    }
    let stats = q.stats();
    assert_eq!(
        stats.queued,
        MAX_INFO_EVENTS + 1,
        "the gap's marker included"
    );
    // 10 dropped before the read, and what did not fit after it.
    assert_eq!(stats.events_dropped, (10 + MAX_INFO_EVENTS - read) as u64);
}
