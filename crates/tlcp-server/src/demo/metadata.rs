//! The demo metadata adapter: literal names, and the `CHAT`, `BUY`, `SELL` and `ECHO`
//! messages.

use super::UNKNOWN_MESSAGE;
use super::chat::ChatRoom;
use super::portfolio::{Portfolios, Side};
use crate::adapter::{BoxFuture, ClientInfo, MetadataAdapter, Refusal};

/// Literal group and schema names (the defaults), messages routed to the data adapters.
pub(crate) struct DemoMetadata {
    chat: ChatRoom,
    portfolio: Portfolios,
}

impl DemoMetadata {
    pub(crate) fn new(chat: ChatRoom, portfolio: Portfolios) -> Self {
        Self { chat, portfolio }
    }

    /// Runs a message: the response, or why it was denied.
    fn run(&self, client: &ClientInfo, message: &str) -> Result<String, Refusal> {
        let unknown = || {
            Refusal::new(
                UNKNOWN_MESSAGE,
                format!(
                    "unknown message {message:?}: expected CHAT|<text>, ECHO|<text>, \
                     BUY|<stock>|<qty> or SELL|<stock>|<qty>"
                ),
            )
        };
        let (verb, args) = message.split_once('|').ok_or_else(unknown)?;
        match verb {
            "CHAT" => {
                self.chat.say(client, args);
                Ok(String::new())
            }
            "ECHO" => Ok(args.to_owned()),
            "BUY" | "SELL" => {
                let side = if verb == "BUY" { Side::Buy } else { Side::Sell };
                let (stock, qty) = args.split_once('|').ok_or_else(unknown)?;
                let held = self.portfolio.trade(side, stock, qty)?;
                Ok(held.to_string())
            }
            _ => Err(unknown()),
        }
    }
}

impl MetadataAdapter for DemoMetadata {
    fn handle_message(
        &self,
        client: &ClientInfo,
        message: &str,
    ) -> BoxFuture<Result<String, Refusal>> {
        // Everything is quick and in memory: done before returning.
        let result = self.run(client, message);
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::chat::CHAT_ROOM;
    use crate::demo::portfolio::PORTFOLIO;
    use crate::demo::testutil::{Ev, Sub, client};
    use crate::demo::{BAD_QUANTITY, NO_SUCH_ITEM, NOT_ENOUGH_SHARES};
    use tlcp_proto::Mode;

    fn setup() -> (DemoMetadata, ChatRoom, Portfolios) {
        let (chat, portfolio) = (ChatRoom::default(), Portfolios::default());
        (
            DemoMetadata::new(chat.clone(), portfolio.clone()),
            chat,
            portfolio,
        )
    }

    async fn send(m: &DemoMetadata, message: &str) -> Result<String, Refusal> {
        m.handle_message(&client(Some("bob")), message).await
    }

    #[tokio::test]
    async fn chat_message_reaches_the_room() {
        let (m, chat, _) = setup();
        let sub = Sub::new(chat, CHAT_ROOM, "timestamp message IP nick", Mode::Distinct);
        assert_eq!(sub.take(), vec![Ev::Eos]);
        assert_eq!(send(&m, "CHAT|Ciao").await, Ok(String::new()));
        assert_eq!(send(&m, "CHAT|a|b").await, Ok(String::new()));
        let got = sub.take();
        let texts: Vec<_> = got
            .iter()
            .map(|e| sub.field(e.row().expect("row"), "message"))
            .collect();
        assert_eq!(texts, [Some("Ciao"), Some("a|b")]);
        assert_eq!(sub.field(got[0].row().expect("row"), "nick"), Some("bob"));
    }

    #[tokio::test]
    async fn trades_answer_the_new_quantity() {
        let (m, _, portfolio) = setup();
        let sub = Sub::new(portfolio, PORTFOLIO, "key command qty", Mode::Command);
        sub.take();
        assert_eq!(send(&m, "BUY|item3|100").await.as_deref(), Ok("100"));
        assert_eq!(send(&m, "BUY|item3|20").await.as_deref(), Ok("120"));
        assert_eq!(send(&m, "SELL|item3|120").await.as_deref(), Ok("0"));
        let commands: Vec<_> = sub
            .take()
            .iter()
            .map(|e| {
                sub.field(e.row().expect("row"), "command")
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(
            commands,
            [
                Some("ADD".into()),
                Some("UPDATE".into()),
                Some("DELETE".into())
            ]
        );
        let code = |r: Result<String, Refusal>| r.expect_err("denied").code;
        assert_eq!(code(send(&m, "SELL|item3|1").await), NOT_ENOUGH_SHARES);
        assert_eq!(code(send(&m, "BUY|item99|1").await), NO_SUCH_ITEM);
        assert_eq!(code(send(&m, "BUY|item3|lots").await), BAD_QUANTITY);
        assert_eq!(code(send(&m, "BUY|item3|1|2").await), BAD_QUANTITY);
        assert_eq!(code(send(&m, "BUY|item3").await), UNKNOWN_MESSAGE);
    }

    #[tokio::test]
    async fn echo_and_unknown() {
        let (m, _, _) = setup();
        assert_eq!(send(&m, "ECHO|ping 1").await.as_deref(), Ok("ping 1"));
        assert_eq!(send(&m, "ECHO|").await.as_deref(), Ok(""));
        for bad in ["", "CHAT", "ECHO", "HELLO|x", "chat|x", "BUY"] {
            let err = send(&m, bad).await.expect_err("denied");
            assert_eq!(err.code, UNKNOWN_MESSAGE, "{bad}");
            assert!(err.message.contains("unknown message"));
        }
    }

    #[test]
    fn literal_names_and_every_mode() {
        let (m, _, _) = setup();
        assert_eq!(
            m.items(None, "item1 item2").expect("items"),
            ["item1", "item2"]
        );
        assert_eq!(
            m.fields(None, "chat_room", "message nick").expect("fields"),
            ["message", "nick"]
        );
        for mode in [Mode::Raw, Mode::Merge, Mode::Distinct, Mode::Command] {
            assert!(m.allows_mode(None, CHAT_ROOM, mode));
        }
    }
}
