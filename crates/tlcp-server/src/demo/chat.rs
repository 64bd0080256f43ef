//! `CHAT`: the `chat_room` item, fed by `CHAT|<text>` messages.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::{NO_SUCH_ITEM, lock, write_hms};
use crate::adapter::{ClientInfo, DataAdapter, Refusal};
use crate::hub::{ItemFeed, Update};

/// The only item.
pub(crate) const CHAT_ROOM: &str = "chat_room";

/// The `CHAT` data adapter; clones share the room (the metadata adapter holds one).
#[derive(Clone, Default)]
pub(crate) struct ChatRoom {
    /// The room's feeds (one per adapter set name it is subscribed under).
    feeds: Arc<Mutex<Vec<ItemFeed>>>,
}

impl ChatRoom {
    /// Pushes a chat line from `client`.
    pub(crate) fn say(&self, client: &ClientInfo, text: &str) {
        let mut time = String::new();
        write_hms(&mut time, SystemTime::now());
        let ip = client.remote.ip().to_string();
        let mut update = Update::new();
        update
            .set("timestamp", &time)
            .set("message", text)
            .set("IP", &ip)
            .set("nick", client.user.as_deref().unwrap_or("anonymous"));
        for feed in lock(&self.feeds).iter() {
            feed.update(&update);
        }
    }
}

impl DataAdapter for ChatRoom {
    fn subscribe(&self, item: &str, feed: ItemFeed) -> Result<(), Refusal> {
        if item != CHAT_ROOM {
            return Err(Refusal::new(
                NO_SUCH_ITEM,
                format!("no such chat room: {item} (try {CHAT_ROOM})"),
            ));
        }
        // No history of our own: the server keeps the recent events for DISTINCT
        // snapshots; ending the snapshot now gives new subscribers their EOS at once.
        feed.end_of_snapshot();
        let mut feeds = lock(&self.feeds);
        feeds.retain(ItemFeed::is_active);
        feeds.push(feed);
        Ok(())
    }

    fn unsubscribe(&self, _item: &str) {
        lock(&self.feeds).retain(ItemFeed::is_active);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::testutil::{Ev, Sub, client};
    use tlcp_proto::Mode;

    #[test]
    fn chat_room_only() {
        let err = Sub::try_new(ChatRoom::default(), "lobby", "message", Mode::Distinct).err();
        assert_eq!(err.expect("refused").code, NO_SUCH_ITEM);
    }

    #[test]
    fn eos_at_once_then_messages_with_sender() {
        let room = ChatRoom::default();
        let sub = Sub::new(
            room.clone(),
            CHAT_ROOM,
            "timestamp message IP nick",
            Mode::Distinct,
        );
        assert_eq!(sub.take(), vec![Ev::Eos]);
        room.say(&client(Some("ann")), "Ciao");
        room.say(&client(None), "hello | world");
        let events = sub.take();
        assert_eq!(events.len(), 2);
        let first = events[0].row().expect("row");
        assert!(!events[0].is_snapshot());
        assert_eq!(sub.field(first, "message"), Some("Ciao"));
        assert_eq!(sub.field(first, "IP"), Some("192.0.2.7"));
        assert_eq!(sub.field(first, "nick"), Some("ann"));
        assert_eq!(sub.field(first, "timestamp").map(str::len), Some(8));
        let second = events[1].row().expect("row");
        assert_eq!(sub.field(second, "message"), Some("hello | world"));
        assert_eq!(sub.field(second, "nick"), Some("anonymous"));

        // The room under another adapter set name: a second feed, fed too.
        let other = Sub::new(room.clone(), CHAT_ROOM, "message", Mode::Distinct);
        assert_eq!(other.take(), vec![Ev::Eos]);
        room.say(&client(None), "both");
        assert_eq!((sub.take().len(), other.take().len()), (1, 1));
        sub.release();
        room.say(&client(None), "after");
        assert_eq!(other.take().len(), 1);
        assert_eq!(lock(&room.feeds).len(), 1, "the released feed is dropped");
    }
}
