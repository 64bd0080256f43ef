//! Messages to the Metadata Adapter, sent in a sequence (processed in the order sent),
//! each awaited for its outcome: processed with the adapter's response, or denied with
//! its code and reason.
//!
//! Starts the demo server in process unless `--server URL` or `TLCP_SERVER` names one:
//!
//! ```sh
//! cargo run -p tlcp-client --example messages [-- --server http://127.0.0.1:8080]
//! ```

use std::time::Duration;

use std::future::IntoFuture;

use tlcp_client::{Client, MessageOutcome};

mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _server) = common::server().await?;
    let client = Client::builder(&url, "DEMO").build()?;
    client.connect();
    tokio::time::timeout(Duration::from_secs(5), client.connected()).await??;

    // Sent at once, without waiting for each outcome; the sequence keeps them in order.
    let messages = [
        "ECHO|hello",
        "BUY|item1|3",
        "SELL|item1|3",
        "SELL|item1|1000",   // not enough shares: denied
        "BUY|nosuchstock|1", // unknown stock: denied
        "HELLO",             // unknown message: denied
    ];
    let pending: Vec<_> = messages
        .iter()
        .map(|text| {
            let outcome = client
                .send_message(*text)
                .sequence("example")
                .delay_timeout(Duration::from_secs(1));
            (text, tokio::spawn(outcome.into_future()))
        })
        .collect();
    for (text, outcome) in pending {
        match tokio::time::timeout(Duration::from_secs(5), outcome).await?? {
            Ok(MessageOutcome::Processed { response }) => {
                println!(
                    "{text:<18} processed, response {:?}",
                    response.unwrap_or_default()
                );
            }
            Ok(MessageOutcome::Denied { code, message }) => {
                println!("{text:<18} denied ({code}): {message}");
            }
            Ok(other) => println!("{text:<18} {other:?}"),
            Err(e) => println!("{text:<18} failed: {e}"),
        }
    }
    println!("done: {} messages sent", client.stats().messages);
    client.close().await;
    Ok(())
}
