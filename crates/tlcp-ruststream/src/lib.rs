//! Lightstreamer (TLCP) as a RustStream broker.

#![forbid(unsafe_code)]

pub mod bridge;
mod broker;
mod publisher;
mod source;

pub use broker::{ClosedLs, Configure, ConnectedLs, LsBroker, LsConfig, LsError};
pub use publisher::{
    LsPublish, LsPublisher, LsReply, LsRequest, LsRequester, MessageFormat, MessageOptions,
};
pub use source::{
    HEADER_ITEM, HEADER_KEY, HEADER_POSITION, HEADER_SNAPSHOT, HEADER_SUBSCRIPTION, LsMessage,
    LsSource, LsSubscriber, PayloadEncoding,
};
