//! [`Error`]: what the client's methods can fail with, by whose fault.

use tlcp_proto::client::{ClientError, ServerError};

use crate::transport::TransportError;

/// An error of a [`Client`](crate::Client) method.
///
/// Network trouble is not an error of a method: the client retries by itself and says so
/// in its [status](crate::Client::status) and [events](crate::Client::events).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot be used (bad address, header, CA file): the
    /// application's fault, found by [`ClientBuilder::build`](crate::ClientBuilder::build).
    #[error("invalid configuration: {0}")]
    Config(#[source] TransportError),
    /// The request is invalid (empty item list, bad sequence name, ...): the
    /// application's fault; nothing was sent.
    #[error("invalid request: {0}")]
    Invalid(#[from] ClientError),
    /// The server refused the session or closed it, and the client does not retry.
    #[error("the server closed the session: {0}")]
    Server(ServerError),
    /// The client was disconnected (by the application) while waiting.
    #[error("the client is disconnected")]
    Disconnected,
    /// The client's background task is gone (the runtime is shutting down).
    #[error("the client's background task has stopped")]
    Stopped,
}
