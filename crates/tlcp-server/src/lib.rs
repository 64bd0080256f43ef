//! # tlcp-server
//!
//! A Lightstreamer-compatible TLCP server (in construction). What exists so far is the
//! adapter API ([`MetadataAdapter`], [`DataAdapter`], [`AdapterSet`]) and the item hub
//! that keeps each item's state and fans updates out to subscriptions, plus the [`demo`]
//! adapters (stock quotes, chat, portfolio and a benchmark feed).

#![forbid(unsafe_code)]

pub mod adapter;
pub mod demo;
mod hub;

pub use adapter::{
    AdapterSet, Adapters, BoxFuture, ClientInfo, DataAdapter, ItemLimits, LiteralMetadata,
    MetadataAdapter, Refusal,
};
pub use hub::{ItemFeed, Update};
