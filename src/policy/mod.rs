//! Pure functions that produce every name, topic and policy document the resources use.
//!
//! One source for all of them is the point: today's hand-written modules let the agent's client
//! ID, its IAM policy and the topic prefix drift apart. Nothing here does I/O, so each document
//! is unit-tested against the seeds.

pub mod agent_binding;
pub mod agent_config;
pub mod consumer_iot;
pub mod document;
pub mod iam;
pub mod naming;
pub mod server_binding;

pub use agent_binding::AgentBinding;
