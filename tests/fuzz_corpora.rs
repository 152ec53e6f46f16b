//! The fuzz invariants (`fuzz/src/lib.rs`, the fuzz crate's library, not shipped in the
//! provider's) replayed by `cargo test`: every target over its seed corpus and deterministic
//! mutations of it. The tests live beside the invariants; this file only brings them in.

#[path = "../fuzz/src/lib.rs"]
mod invariants;
