//! A certificate signing request as one value: parsed and its self-signature checked once,
//! where it enters the provider (a configuration's `csr_pem`, or a CSR made here for a new
//! key), then handed on to whatever needs its text, its key or its fingerprint.

use crate::crypto::keys::{self, CsrInfo, GeneratedKey, KeyAlgorithm};
use crate::crypto::secret::CryptoError;

/// A PEM CSR whose signature proves its maker holds the private key of the public key it
/// carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Csr {
    pem: String,
    info: CsrInfo,
}

impl Csr {
    /// Parses and verifies a PEM CSR. Errors never quote the input.
    pub fn parse(pem: &str) -> Result<Csr, CryptoError> {
        Ok(Csr { info: keys::inspect_csr(pem)?, pem: pem.to_string() })
    }

    /// A new CSR for `key` with subject `CN=<common_name>`.
    pub fn for_key(key: &GeneratedKey, common_name: &str) -> Result<Csr, CryptoError> {
        Csr::parse(&keys::csr_pem(key, common_name)?)
    }

    /// The PEM text, as IoT Core's CreateCertificateFromCsr takes it and state records it.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    pub fn into_pem(self) -> String {
        self.pem
    }

    /// The SubjectPublicKeyInfo DER of the key it certifies.
    pub fn spki_der(&self) -> &[u8] {
        &self.info.spki_der
    }

    /// Lowercase hex SHA-256 of the key, as certificates of that key are fingerprinted.
    pub fn fingerprint(&self) -> String {
        self.info.fingerprint()
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.info.algorithm
    }

    pub fn common_name(&self) -> Option<&str> {
        self.info.common_name.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csr_made_for_a_key_carries_that_key_and_name() {
        let key = keys::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let csr = Csr::for_key(&key, "mc-1-work-agent").unwrap();
        assert_eq!(csr.fingerprint(), key.fingerprint());
        assert_eq!(csr.spki_der(), keys::csr_public_key_spki(csr.pem()).unwrap());
        assert_eq!((csr.algorithm(), csr.common_name()), (KeyAlgorithm::EcdsaP256, Some("mc-1-work-agent")));
        assert_eq!(Csr::parse(csr.pem()).unwrap(), csr);
    }

    #[test]
    fn a_csr_that_does_not_verify_is_refused_without_quoting_it() {
        let key = keys::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let err = Csr::parse(key.private_key_pem().expose()).unwrap_err().to_string();
        assert!(!err.contains("PRIVATE KEY-----\n"), "{err}");
        assert!(Csr::parse("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n").is_err());
    }
}
