//! # tlcp-testkit
//!
//! Dev-only helpers for the tlcp test suites.
//!
//! - [`official`]: drives the official Lightstreamer client libraries (npm
//!   `lightstreamer-client-node`, PyPI `lightstreamer-client-lib`) through small generic
//!   driver programs, so tests can prove `tlcp-server` against the real clients.
//! - [`fault`]: a fault-injecting TCP proxy to put between a client and a server: cuts
//!   (RST, also after exactly `n` bytes), stalls that hold or drop the bytes, latency,
//!   throttling, refused connections, with counters.
//! - [`nats`]: a real `nats-server` on a loopback port, for the bridge tests.
//! - [`scripted`]: a scripted TLCP peer (WebSocket): answers the session and subscription
//!   requests, then sends exactly what a test gives it (hostile input), or pre-encoded
//!   updates as fast as the client reads them (the client measured alone).

pub mod fault;
pub mod nats;
pub mod official;
pub mod scripted;
