//! # tlcp-server
//!
//! A Lightstreamer-compatible TLCP server. This crate is being built on top of
//! [`tlcp_proto`]; it exposes nothing yet.
