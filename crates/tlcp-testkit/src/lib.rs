//! # tlcp-testkit
//!
//! Dev-only helpers for the tlcp test suites.
//!
//! - [`official`]: drives the official Lightstreamer client libraries (npm
//!   `lightstreamer-client-node`, PyPI `lightstreamer-client-lib`) through small generic
//!   driver programs, so tests can prove `tlcp-server` against the real clients.
//!
//! Still to come: a scripted peer and a fault-injecting proxy.

pub mod official;
