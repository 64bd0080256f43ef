//! `tlcp send`: one message to the Metadata Adapter; its outcome as a JSON line.

use std::time::Duration;

use tlcp_client::MessageOutcome;

use crate::output::jsonl::Line;
use crate::{Failure, SendArgs};

/// Sends the message and prints its outcome. Exit code: 0 processed, 2 denied, 3
/// discarded, error or aborted.
pub(crate) async fn run(args: SendArgs) -> Result<(), Failure> {
    let client = args.connect.client().await?;
    client.connect();
    let connect_timeout = args.connect.connect_timeout();
    match tokio::time::timeout(connect_timeout, client.connected()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(Failure::connection(format!(
                "no session with {}: {e} (check --adapter-set, --user and --password-env)",
                args.connect.server
            )));
        }
        Err(_) => {
            return Err(Failure::connection(format!(
                "no session with {} within {} s (status {}); check --server and --transport",
                args.connect.server,
                connect_timeout.as_secs_f64(),
                client.current_status()
            )));
        }
    }
    let mut message = client.send_message(args.message.clone());
    if let Some(seq) = &args.sequence {
        message = message.sequence(seq);
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let outcome = match tokio::time::timeout(timeout, message).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(Failure::usage(format!("cannot send the message: {e}"))),
        Err(_) => {
            client.close().await;
            return Err(Failure::with_code(
                3,
                format!(
                    "no outcome for the message within {} s (raise --timeout)",
                    args.timeout
                ),
            ));
        }
    };
    let line = Line::event("message_outcome");
    let (line, code) = match &outcome {
        MessageOutcome::Processed { response } => (
            line.str("outcome", "processed")
                .opt_str("response", response.as_deref()),
            0,
        ),
        MessageOutcome::Denied { code, message } => (
            line.str("outcome", "denied")
                .num("code", code)
                .str("message", message),
            2,
        ),
        MessageOutcome::Discarded => (line.str("outcome", "discarded"), 3),
        MessageOutcome::Error { code, message } => (
            line.str("outcome", "error")
                .num("code", code)
                .str("message", message),
            3,
        ),
        _ => (line.str("outcome", "aborted"), 3),
    };
    println!("{}", line.finish());
    client.close().await;
    if code == 0 {
        Ok(())
    } else {
        Err(Failure::quiet(code))
    }
}
