//! The integration tests, one binary: the conformance suite on every store in both
//! modes, and what each part promises beyond it. Start here: `suite/` is the contract.

mod suite;
mod support;

mod adapters;
mod audit;
mod custom_store;
mod demo_servers;
mod doc_commands;
mod examples;
mod jwt;
mod layer;
mod memory_store;
mod model;
mod msrv;
mod postgres_store;
mod redis_faults;
mod redis_store;
mod secrets;
mod serialized;
mod watch;
mod websocket;
