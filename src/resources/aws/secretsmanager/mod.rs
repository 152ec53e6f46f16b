//! The Secrets Manager calls the management-account resources share: `maestro_agent_key` owns
//! the credential secret and stages keys in it, `maestro_agent_identity` promotes complete
//! bundles in it and owns the config secret.
//!
//! Secret values only ever pass through here as [`SecretString`]s, and are never logged: the
//! SDK's own `Debug` for them is redacted, and our log lines name versions, never contents.
//!
//! [`calls`]: one function per Secrets Manager call; [`create`]: creating a secret, or taking
//! one of ours back (the one part that goes through custody).

pub mod calls;
pub mod create;

pub use calls::*;
pub use create::{create_or_adopt, scheduled_for_deletion, KeyBearing, NewSecret};
