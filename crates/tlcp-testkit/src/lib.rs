//! # tlcp-testkit
//!
//! Dev-only helpers for the tlcp test suites (scripted peer, fault-injecting proxy).
//! Empty until the client and server tests need them.
