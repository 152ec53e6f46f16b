//! The translation rooms: one module per RPC family, each decoding the protobuf request into a
//! call on the framework's [`Server`](crate::framework::server::Server) and encoding its answer.
//! No rule lives here; the rules are the server's. Failures are diagnostics in the response
//! (for the streaming RPCs, in their events), never gRPC errors.

pub mod action;
pub mod data_source;
pub mod ephemeral;
pub mod function;
pub mod list;
pub mod provider;
pub mod resource;
