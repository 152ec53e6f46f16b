//! The plugin server: go-plugin handshake, AutoMTLS, logging and the gRPC services that
//! Terraform and OpenTofu call. Everything protocol-shaped stays in this module; resources
//! never see a protobuf type.

pub mod convert;
pub mod generated;
pub mod handshake;
pub mod logging;
pub mod plugin_services;
pub mod provider_service;
pub mod rpc;
mod serve;
pub mod tls;

pub use serve::{serve, serve_on};
