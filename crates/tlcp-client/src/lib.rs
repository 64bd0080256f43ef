//! # tlcp-client
//!
//! The async Lightstreamer client. This crate is being built on top of
//! [`tlcp_proto`]; it exposes nothing yet.
