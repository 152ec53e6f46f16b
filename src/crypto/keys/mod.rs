//! The agent's key pair: generated here, never leaving the management account except as a CSR.
//!
//! The public side is what crosses accounts: the CSR goes to the regional account, which has
//! AWS IoT Core sign it (CreateCertificateFromCsr), and the certificate comes back. To prove at
//! every step that the certificate, the CSR and the private key belong together, keys are
//! identified by their SubjectPublicKeyInfo (SPKI) — the same DER structure in all three — and
//! fingerprinted as the SHA-256 of it (as `openssl pkey -pubout -outform DER | sha256sum` would).
//!
//! [`pair`]: keys made and loaded, and CSRs made from them; [`inspect`]: CSRs and certificates
//! read back (signatures checked) down to their SPKI.

mod inspect;
mod pair;

pub use inspect::{cert_matches_key, cert_public_key_spki, csr_matches_key, csr_public_key_spki, inspect_csr, spki_algorithm, CsrInfo};
pub use pair::{csr_pem, generate, public_key_fingerprint, GeneratedKey, KeyAlgorithm};
