//! Scenario tests of the client state machine, in virtual time against a scripted server.

mod connect;
mod control;
mod harness;
mod messages;
mod props;
mod recovery;
mod retry;
mod subscriptions;
mod timings;
