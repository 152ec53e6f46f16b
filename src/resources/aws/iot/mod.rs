//! Finders and deleters for iot objects (see the module above): things, policies and
//! certificates. Deletes detach what they must first, and treat "already gone" as done. The
//! issue of a certificate (not idempotent, so taken back after an ambiguous failure) is in
//! [`issue`].

pub mod issue;
mod objects;

pub use issue::{certificates_of_key, find_certificate_of_key, issue_certificate, Attachable, Issued};
pub use objects::*;
