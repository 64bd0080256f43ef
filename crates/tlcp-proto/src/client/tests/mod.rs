//! Scenario tests of the client state machine, in virtual time against a scripted server.

mod connect;
mod harness;
mod recovery;
