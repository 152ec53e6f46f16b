//! terraform-provider-maestro: wires Maestro servers and agents through AWS IoT Core without
//! private keys in Terraform state.
//!
//! Layers, each depending only on the ones before it:
//! - [`protocol`]: the go-plugin handshake and the tfplugin6 gRPC server;
//! - [`framework`]: schemas, values, planning, and the traits resources implement;
//! - [`provider`]: provider configuration and AWS clients;
//! - [`resources`]: one file per resource type;
//! - [`policy`]: pure functions producing names, topics and policy documents;
//! - [`crypto`]: agent key pairs, CSRs and the credential bundles (pure, no I/O).

pub mod crypto;
pub mod framework;
pub mod policy;
pub mod protocol;
pub mod provider;
pub mod resources;
