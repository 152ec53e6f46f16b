//! Key material for Maestro agents: key pairs generated inside the provider, their CSRs, and the
//! JSON bundles the agent reads from Secrets Manager.
//!
//! Nothing here does I/O. The rule that shapes the types: a private key (or anything containing
//! one) only ever lives in a [`SecretString`], which cannot be printed by accident and is wiped
//! from memory when dropped, so it cannot reach state, plans or logs through a stray `{:?}`.

pub mod bundle;
pub mod keys;
pub(crate) mod secret;

pub use bundle::{AgentConfigSecret, CredentialBundle, AMAZON_ROOT_CA_1};
pub use keys::{GeneratedKey, KeyAlgorithm};
pub use secret::{CryptoError, SecretString};
