//! The two types every module of `crypto` shares: the wrapper that keeps secret text out of
//! logs and memory, and the error that never quotes its input.

use std::fmt;
use zeroize::Zeroize;

/// A string that holds secret material (a private key, or a JSON bundle containing one).
///
/// It has no `Display`, its `Debug` prints `[redacted]`, and its bytes are overwritten when it is
/// dropped. It deliberately implements neither `Clone` nor `Serialize`: copying a secret or
/// putting it into a document has to be spelled out with [`SecretString::expose`].
#[derive(Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> Self {
        SecretString(value)
    }

    /// The secret text, for the few places that must hand it on (an AWS API call, a signer).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        SecretString(value)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Errors from key generation and parsing. Messages never quote the input: the input may be a
/// private key or a bundle containing one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("unknown key algorithm {0:?}: expected one of ECDSA_P256, ECDSA_P384, RSA_2048, RSA_3072")]
    UnknownAlgorithm(String),
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    #[error("{what} is not valid PEM{detail}")]
    Pem { what: &'static str, detail: String },
    #[error("{what} is not well-formed DER: {detail}")]
    Der { what: &'static str, detail: &'static str },
    #[error("unsupported public key in {what}: expected ECDSA P-256, ECDSA P-384, RSA 2048 or RSA 3072")]
    UnsupportedKey { what: &'static str },
    #[error("the signature of the certificate signing request does not verify")]
    BadCsrSignature,
    #[error("{0}")]
    Bundle(String),
}
