//! Key pairs: generated or loaded, each with its SPKI and fingerprint, and the CSRs made
//! from them.

use crate::crypto::secret::{CryptoError, SecretString};
use aws_lc_rs::signature;
use rcgen::{CertificateParams, DistinguishedName, DnType, PublicKeyData, SignatureAlgorithm};
use std::fmt;
use std::str::FromStr;
use zeroize::Zeroizing;

/// The key types the provider generates. All four are accepted by CreateCertificateFromCsr and
/// by the Maestro agent's TLS stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// The default: small keys, fast handshakes, and what AWS recommends for new IoT devices.
    #[default]
    EcdsaP256,
    EcdsaP384,
    Rsa2048,
    Rsa3072,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 4] = [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384, KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa3072];

    /// The spelling used in configuration and state (`algorithm = "ECDSA_P256"`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ECDSA_P256",
            KeyAlgorithm::EcdsaP384 => "ECDSA_P384",
            KeyAlgorithm::Rsa2048 => "RSA_2048",
            KeyAlgorithm::Rsa3072 => "RSA_3072",
        }
    }

    /// Exact, case-sensitive: the value is stored in state, so accepting variants would make a
    /// plan show a diff between two spellings of the same thing.
    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| CryptoError::UnknownAlgorithm(s.to_string()))
    }

    /// The signature algorithm the CSR is signed with. SHA-384 goes with P-384 so the hash is
    /// as strong as the curve; RSA keys of both sizes sign with SHA-256, which IoT accepts.
    fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => &rcgen::PKCS_RSA_SHA256,
        }
    }

    /// The aws-lc-rs signing algorithm of an EC key (the same digest as above, ASN.1 signatures
    /// as X.509 wants them); `None` for RSA.
    fn ecdsa_signing(self) -> Option<&'static signature::EcdsaSigningAlgorithm> {
        match self {
            KeyAlgorithm::EcdsaP256 => Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
            KeyAlgorithm::EcdsaP384 => Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => None,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A private key (PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`) with its public half.
///
/// `Debug` shows only the algorithm and the public fingerprint; there is no `Display` and no
/// `Clone`, and the PEM is wiped on drop (see [`SecretString`]).
pub struct GeneratedKey {
    algorithm: KeyAlgorithm,
    private_key_pem: SecretString,
    spki_der: Vec<u8>,
}

impl GeneratedKey {
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The PKCS#8 PEM, to be written into the credential secret and nowhere else.
    pub fn private_key_pem(&self) -> &SecretString {
        &self.private_key_pem
    }

    /// The public key as SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Lowercase hex SHA-256 of the SPKI: safe to put in state and to compare across accounts.
    pub fn fingerprint(&self) -> String {
        public_key_fingerprint(&self.spki_der)
    }

    /// Loads a key read back from the credential secret (read, import, rotation checks). The
    /// algorithm is recovered from the key itself, so a key of a type we would not generate is
    /// refused rather than guessed at.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, CryptoError> {
        let der = private_key_block(pem)?;
        let signer = Signer::load(&der)?;
        // Re-encode rather than keep the caller's text: a PKCS#1 or SEC1 key read from a
        // hand-made secret becomes PKCS#8 like the ones we generate (a PKCS#8 key keeps its bytes).
        let is_pkcs8 = matches!(rustls_pki_types::PrivateKeyDer::try_from(der.as_slice()), Ok(rustls_pki_types::PrivateKeyDer::Pkcs8(_)));
        let pkcs8 = if is_pkcs8 { der } else { signer.pkcs8()? };
        Ok(GeneratedKey { algorithm: signer.algorithm, private_key_pem: pkcs8_pem(&pkcs8), spki_der: signer.subject_public_key_info() })
    }

    /// A signer for this key, loaded from the PEM into aws-lc-rs (see [`Signer`]) for the moment
    /// it is needed.
    fn signer(&self) -> Result<Signer, CryptoError> {
        let signer = Signer::load(&private_key_block(self.private_key_pem.expose())?)?;
        if signer.algorithm != self.algorithm {
            return Err(CryptoError::UnsupportedKey { what: "the private key" });
        }
        Ok(signer)
    }
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("algorithm", &self.algorithm)
            .field("fingerprint", &self.fingerprint())
            .field("private_key_pem", &self.private_key_pem)
            .finish()
    }
}

/// Generates a fresh key pair from the operating system's randomness (aws-lc-rs).
///
/// The key is made by aws-lc-rs, not by rcgen: rcgen's `KeyPair` keeps a copy of the PKCS#8 DER
/// that is never wiped (rcgen 0.14 has no zeroize support). aws-lc-rs wipes its buffers, the
/// DER we take from it is held in [`Zeroizing`], and the PEM is written straight into the
/// [`SecretString`] that wipes it.
pub fn generate(algorithm: KeyAlgorithm) -> Result<GeneratedKey, CryptoError> {
    let failed = |e: aws_lc_rs::error::Unspecified| CryptoError::KeyGeneration(e.to_string());
    let signer = match algorithm {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
            Signer::ec(signature::EcdsaKeyPair::generate(algorithm.ecdsa_signing().expect("an EC algorithm")).map_err(failed)?, algorithm)
        }
        KeyAlgorithm::Rsa2048 => Signer::rsa(aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(failed)?)?,
        KeyAlgorithm::Rsa3072 => Signer::rsa(aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa3072).map_err(failed)?)?,
    };
    Ok(GeneratedKey { algorithm, private_key_pem: pkcs8_pem(&signer.pkcs8()?), spki_der: signer.subject_public_key_info() })
}

/// A private key loaded into aws-lc-rs — which wipes the memory it frees — as rcgen's signer.
/// rcgen's own `KeyPair` is not used for private keys: it keeps a copy of the PKCS#8 DER that it
/// never wipes.
struct Signer {
    key: SignerKey,
    /// The raw public key (EC point or PKCS#1 RSAPublicKey), what rcgen puts in an SPKI.
    public_key: Vec<u8>,
    algorithm: KeyAlgorithm,
}

enum SignerKey {
    Ec(signature::EcdsaKeyPair),
    Rsa(aws_lc_rs::rsa::KeyPair),
}

impl Signer {
    fn ec(key: signature::EcdsaKeyPair, algorithm: KeyAlgorithm) -> Signer {
        use signature::KeyPair as _;
        let public_key = key.public_key().as_ref().to_vec();
        Signer { key: SignerKey::Ec(key), public_key, algorithm }
    }

    /// Only the two sizes we generate are taken.
    fn rsa(key: aws_lc_rs::rsa::KeyPair) -> Result<Signer, CryptoError> {
        use signature::KeyPair as _;
        let algorithm = match key.public_modulus_len() {
            256 => KeyAlgorithm::Rsa2048,
            384 => KeyAlgorithm::Rsa3072,
            _ => return Err(CryptoError::UnsupportedKey { what: "the private key" }),
        };
        let public_key = key.public_key().as_ref().to_vec();
        Ok(Signer { key: SignerKey::Rsa(key), public_key, algorithm })
    }

    /// Loads a key of one of our four types from its DER: PKCS#8, or PKCS#1 (RSA) or SEC1 (EC)
    /// from a hand-made secret. Errors never quote the input.
    fn load(der: &[u8]) -> Result<Signer, CryptoError> {
        use rustls_pki_types::PrivateKeyDer;
        const WHAT: &str = "the private key";
        let format = PrivateKeyDer::try_from(der).map_err(|_| CryptoError::Pem { what: WHAT, detail: String::new() })?;
        if matches!(format, PrivateKeyDer::Pkcs8(_) | PrivateKeyDer::Sec1(_)) {
            for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
                let alg = algorithm.ecdsa_signing().expect("an EC algorithm");
                if let Ok(key) = signature::EcdsaKeyPair::from_private_key_der(alg, der) {
                    return Ok(Signer::ec(key, algorithm));
                }
            }
        }
        let rsa = match format {
            PrivateKeyDer::Pkcs8(_) => aws_lc_rs::rsa::KeyPair::from_pkcs8(der),
            PrivateKeyDer::Pkcs1(_) => aws_lc_rs::rsa::KeyPair::from_der(der),
            _ => return Err(CryptoError::UnsupportedKey { what: WHAT }),
        };
        // A well-formed key of another type (P-521, Ed25519, RSA 4096) is unsupported.
        Signer::rsa(rsa.map_err(|_| CryptoError::UnsupportedKey { what: WHAT })?)
    }

    /// The key as PKCS#8 DER, in memory wiped on drop (aws-lc-rs wipes its own copy too).
    fn pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        let failed = |_| CryptoError::KeyGeneration("encoding the private key as PKCS#8".to_string());
        Ok(Zeroizing::new(match &self.key {
            SignerKey::Ec(key) => key.to_pkcs8v1().map_err(failed)?.as_ref().to_vec(),
            SignerKey::Rsa(key) => AsDer::<Pkcs8V1Der<'static>>::as_der(key).map_err(failed)?.as_ref().to_vec(),
        }))
    }
}

impl PublicKeyData for Signer {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm.signature_algorithm()
    }
}

impl rcgen::SigningKey for Signer {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match &self.key {
            SignerKey::Ec(key) => key.sign(&rng, msg).map(|sig| sig.as_ref().to_vec()),
            SignerKey::Rsa(key) => {
                let mut sig = vec![0; key.public_modulus_len()];
                key.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig).map(|()| sig)
            }
        }
        .map_err(|_| rcgen::Error::RingUnspecified)
    }
}

/// PKCS#8 DER as PEM (`-----BEGIN PRIVATE KEY-----`, 64-character lines, as rcgen writes it),
/// encoded straight into a string of the exact size, so no intermediate copy is left unwiped.
fn pkcs8_pem(der: &[u8]) -> SecretString {
    use base64::Engine;
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----\n";
    const END: &str = "-----END PRIVATE KEY-----\n";
    // 48 bytes make one full line of 64 characters; only the last line is padded.
    let lines = der.len().div_ceil(48);
    let mut pem = String::with_capacity(BEGIN.len() + der.len().div_ceil(3) * 4 + lines + END.len());
    pem.push_str(BEGIN);
    for chunk in der.chunks(48) {
        base64::engine::general_purpose::STANDARD.encode_string(chunk, &mut pem);
        pem.push('\n');
    }
    pem.push_str(END);
    debug_assert_eq!(pem.len(), pem.capacity(), "the PEM was reallocated, leaving a copy behind");
    SecretString::new(pem)
}

/// The DER of the first private-key block (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE
/// KEY`) of a PEM text, decoded into buffers sized once and wiped on drop. Errors never quote
/// the text.
fn private_key_block(text: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    use base64::Engine;
    let bad = || CryptoError::Pem { what: "the private key", detail: String::new() };
    let mut lines = text.lines().map(str::trim);
    let label = loop {
        let line = lines.next().ok_or_else(bad)?;
        if let Some(label @ ("PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY")) =
            line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----"))
        {
            break label;
        }
    };
    let mut b64 = Zeroizing::new(Vec::with_capacity(text.len()));
    loop {
        let line = lines.next().ok_or_else(bad)?;
        if line.strip_prefix("-----END ").and_then(|l| l.strip_suffix("-----")) == Some(label) {
            break;
        }
        // Headers (`Proc-Type: 4,ENCRYPTED`) mean an encrypted key, which we cannot read.
        if line.contains(':') {
            return Err(bad());
        }
        b64.extend(line.bytes());
    }
    let mut der = Zeroizing::new(vec![0u8; b64.len().div_ceil(4) * 3]);
    let n = base64::engine::general_purpose::STANDARD.decode_slice(b64.as_slice(), der.as_mut_slice()).map_err(|_| bad())?;
    der.truncate(n);
    Ok(der)
}

/// A PKCS#10 CSR for `key` whose subject is just `CN=<common_name>` (the agent's MQTT client
/// ID). IoT Core takes only the public key from it, but the CN makes a certificate
/// recognisable in the console. No extensions are requested: IoT would ignore them.
///
/// ECDSA signatures are randomised, so two calls give different (equally valid) CSRs; callers
/// keep the one they produced in state instead of regenerating it.
pub fn csr_pem(key: &GeneratedKey, common_name: &str) -> Result<String, CryptoError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let signer = key.signer()?;
    let csr = params.serialize_request(&signer).map_err(|e| CryptoError::KeyGeneration(format!("building the CSR: {e}")))?;
    csr.pem().map_err(|e| CryptoError::KeyGeneration(format!("encoding the CSR: {e}")))
}

/// Lowercase hex SHA-256 of a SubjectPublicKeyInfo DER.
pub fn public_key_fingerprint(spki_der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::super::inspect::{der, pem_block, spki_subject_public_key, PemKind};
    use super::super::*;
    use super::*;

    /// Only the public half of a key, as IoT Core sees it in a CSR.
    struct PublicOnly {
        raw: Vec<u8>,
        alg: &'static SignatureAlgorithm,
    }

    impl PublicKeyData for PublicOnly {
        fn der_bytes(&self) -> &[u8] {
            &self.raw
        }
        fn algorithm(&self) -> &'static SignatureAlgorithm {
            self.alg
        }
    }

    /// Stands in for CreateCertificateFromCsr: a throwaway CA certifies the public key taken
    /// from the CSR (and nothing else from it).
    fn sign_leaf(csr_pem: &str) -> String {
        let info = inspect_csr(csr_pem).unwrap();
        let public =
            PublicOnly { raw: spki_subject_public_key(&info.spki_der).unwrap().to_vec(), alg: info.algorithm.signature_algorithm() };
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let params = CertificateParams::new(vec!["leaf".to_string()]).unwrap();
        params.signed_by(&public, &issuer).unwrap().pem()
    }

    #[test]
    fn algorithm_names_round_trip() {
        for alg in KeyAlgorithm::ALL {
            assert_eq!(KeyAlgorithm::parse(alg.as_str()).unwrap(), alg);
            assert_eq!(alg.to_string().parse::<KeyAlgorithm>().unwrap(), alg);
        }
        assert_eq!(KeyAlgorithm::default(), KeyAlgorithm::EcdsaP256);
        let err = KeyAlgorithm::parse("ecdsa_p256").unwrap_err().to_string();
        assert!(err.contains("ECDSA_P256") && err.contains("RSA_3072"), "{err}");
    }

    #[test]
    fn every_algorithm_generates_a_key_and_a_valid_csr_for_it() {
        for alg in KeyAlgorithm::ALL {
            let key = generate(alg).unwrap();
            assert_eq!(key.algorithm(), alg);
            assert!(key.private_key_pem().expose().starts_with("-----BEGIN PRIVATE KEY-----"), "{alg}: PKCS#8 expected");
            assert_eq!(spki_algorithm(key.spki_der()), Some(alg));

            let csr = csr_pem(&key, "management-01-work-agent").unwrap();
            assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
            assert!(!csr.contains("PRIVATE KEY"));
            let info = inspect_csr(&csr).unwrap();
            assert_eq!(info.algorithm, alg);
            assert_eq!(info.common_name.as_deref(), Some("management-01-work-agent"));
            assert_eq!(info.spki_der, key.spki_der(), "{alg}: the CSR carries the key's public half");
            assert_eq!(csr_public_key_spki(&csr).unwrap(), key.spki_der());
            assert!(csr_matches_key(&csr, &key));
        }
    }

    #[test]
    fn rsa_keys_have_the_requested_size() {
        // 2048-bit SPKIs are 294 bytes, 3072-bit ones 422: a cheap check independent of our parser.
        assert_eq!(generate(KeyAlgorithm::Rsa2048).unwrap().spki_der().len(), 294);
        assert_eq!(generate(KeyAlgorithm::Rsa3072).unwrap().spki_der().len(), 422);
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        let a = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let b = generate(KeyAlgorithm::EcdsaP256).unwrap();
        assert_eq!(a.fingerprint(), a.fingerprint());
        assert_eq!(a.fingerprint(), public_key_fingerprint(a.spki_der()));
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        assert!(a.fingerprint().chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        // Two CSRs of one key differ (ECDSA is randomised) but name the same key.
        let (c1, c2) = (csr_pem(&a, "x").unwrap(), csr_pem(&a, "x").unwrap());
        assert_eq!(inspect_csr(&c1).unwrap().fingerprint(), inspect_csr(&c2).unwrap().fingerprint());
        // A known vector: SHA-256 of the empty input.
        assert_eq!(public_key_fingerprint(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        for alg in KeyAlgorithm::ALL {
            let key = generate(alg).unwrap();
            let shown = format!("{key:?} {:?} {key:#?}", key.private_key_pem());
            assert!(!shown.contains("PRIVATE KEY"), "{shown}");
            assert!(shown.contains("[redacted]"));
            assert!(shown.contains(&key.fingerprint()));
        }
    }

    #[test]
    fn keys_reload_from_their_pem() {
        for alg in KeyAlgorithm::ALL {
            let key = generate(alg).unwrap();
            let again = GeneratedKey::from_pkcs8_pem(key.private_key_pem().expose()).unwrap();
            assert_eq!(again.algorithm(), alg);
            assert_eq!(again.spki_der(), key.spki_der());
            assert_eq!(again.private_key_pem(), key.private_key_pem());
        }
        let err = GeneratedKey::from_pkcs8_pem("not a key").unwrap_err().to_string();
        assert!(!err.contains("not a key"), "errors must not echo their input: {err}");
    }

    #[test]
    fn our_pem_is_the_one_rcgen_writes_and_reads_back() {
        for alg in KeyAlgorithm::ALL {
            let key = generate(alg).unwrap();
            let der = private_key_block(key.private_key_pem().expose()).unwrap();
            // The same text rcgen's serialize_pem made before keys were generated without it.
            let rcgen_pair = rcgen::KeyPair::try_from(der.as_slice()).unwrap();
            assert_eq!(rcgen_pair.serialize_pem(), key.private_key_pem().expose(), "{alg}");
            assert_eq!(rcgen_pair.subject_public_key_info(), key.spki_der(), "{alg}: the same SPKI, so the same fingerprint");
        }
        // One line of exactly 64 characters, and a short last one.
        let pem = pkcs8_pem(&[7u8; 50]);
        let lines: Vec<&str> = pem.expose().lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!((lines[1].len(), lines[2].len()), (64, 4));
    }

    #[test]
    fn keys_in_pkcs1_or_sec1_are_read_and_become_pkcs8() {
        use aws_lc_rs::encoding::{AsDer, EcPrivateKeyRfc5915Der};
        let ec = signature::EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING).unwrap();
        let sec1: EcPrivateKeyRfc5915Der = ec.private_key().as_der().unwrap();
        let loaded = GeneratedKey::from_pkcs8_pem(&pem_text("EC PRIVATE KEY", sec1.as_ref())).unwrap();
        assert_eq!(loaded.algorithm(), KeyAlgorithm::EcdsaP384);
        assert!(loaded.private_key_pem().expose().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(loaded.spki_der(), GeneratedKey::from_pkcs8_pem(loaded.private_key_pem().expose()).unwrap().spki_der());
        // The key still signs CSRs for itself.
        assert!(csr_matches_key(&csr_pem(&loaded, "c").unwrap(), &loaded));

        // PKCS#1: the RSAPrivateKey inside a PKCS#8 we generate (its last element, an OCTET STRING).
        let rsa = generate(KeyAlgorithm::Rsa2048).unwrap();
        let pkcs8 = private_key_block(rsa.private_key_pem().expose()).unwrap();
        let (outer, _) = der::read(&pkcs8).unwrap();
        let (_version, rest) = der::read(outer.content).unwrap();
        let (_alg, rest) = der::read(rest).unwrap();
        let (octets, _) = der::read(rest).unwrap();
        let loaded = GeneratedKey::from_pkcs8_pem(&pem_text("RSA PRIVATE KEY", octets.content)).unwrap();
        assert_eq!(loaded.algorithm(), KeyAlgorithm::Rsa2048);
        assert_eq!(loaded.spki_der(), rsa.spki_der());
        assert_eq!(loaded.private_key_pem(), rsa.private_key_pem(), "re-encoded as the same PKCS#8");
    }

    #[test]
    fn keys_we_would_not_generate_are_refused_without_echoing_them() {
        // A P-521 key, well-formed but not one of ours.
        let p521 = signature::EcdsaKeyPair::generate(&signature::ECDSA_P521_SHA512_ASN1_SIGNING).unwrap();
        let pem = pem_text("PRIVATE KEY", p521.to_pkcs8v1().unwrap().as_ref());
        let err = GeneratedKey::from_pkcs8_pem(&pem).unwrap_err();
        assert_eq!(err, CryptoError::UnsupportedKey { what: "the private key" });
        // An encrypted key, and garbage inside the armour.
        let encrypted =
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(GeneratedKey::from_pkcs8_pem(encrypted).is_err());
        let garbage = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXRleHQ=\n-----END PRIVATE KEY-----\n";
        let err = GeneratedKey::from_pkcs8_pem(garbage).unwrap_err().to_string();
        assert!(!err.contains("c2VjcmV0") && !err.contains("secret-text"), "{err}");
        // A certificate where a key should be.
        assert!(GeneratedKey::from_pkcs8_pem(crate::crypto::AMAZON_ROOT_CA_1).is_err());
    }

    #[test]
    fn a_certificate_matches_only_its_own_key() {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let other = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let cert = sign_leaf(&csr_pem(&key, "c").unwrap());
        assert_eq!(cert_public_key_spki(&cert).unwrap(), key.spki_der());
        assert!(cert_matches_key(&cert, &key));
        assert!(!cert_matches_key(&cert, &other));
        assert!(!cert_matches_key("garbage", &key));

        let rsa = generate(KeyAlgorithm::Rsa2048).unwrap();
        assert!(cert_matches_key(&sign_leaf(&csr_pem(&rsa, "c").unwrap()), &rsa));
    }

    #[test]
    fn tampered_or_wrong_input_is_refused_without_echoing_it() {
        let key = generate(KeyAlgorithm::EcdsaP384).unwrap();
        let csr = csr_pem(&key, "c").unwrap();
        // Swap in another key's SPKI: the signature no longer verifies.
        let other = generate(KeyAlgorithm::EcdsaP384).unwrap();
        let der = pem_block(&csr, "t", PemKind::Csr).unwrap();
        let pos = der.windows(key.spki_der().len()).position(|w| w == key.spki_der()).unwrap();
        let mut forged = der.clone();
        forged[pos..pos + other.spki_der().len()].copy_from_slice(other.spki_der());
        let forged_pem = pem_text("CERTIFICATE REQUEST", &forged);
        assert_eq!(inspect_csr(&forged_pem), Err(CryptoError::BadCsrSignature));

        let err = inspect_csr(key.private_key_pem().expose()).unwrap_err().to_string();
        assert!(err.contains("no CERTIFICATE REQUEST block"), "{err}");
        assert!(!err.contains("PRIVATE"), "{err}");
        assert!(cert_public_key_spki(&csr).is_err());
        assert!(csr_public_key_spki(&pem_text("CERTIFICATE REQUEST", &der[..der.len() / 2])).is_err());
    }

    /// Made by `openssl req -new` (P-384 with its default SHA-256) and `openssl req -new -sha384`
    /// (P-256): AWS IoT accepts both, and so must the plan-time check. Found by the fuzz seeds;
    /// the verifier used to be chosen by the digest alone, pairing SHA-256 with P-256 only.
    const OPENSSL_P384_SHA256_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIIBLTCBtAIBADA1MRAwDgYDVQQKDAdFeGFtcGxlMSEwHwYDVQQDDBhtYW5hZ2Vt
ZW50LTAxLXdvcmstYWdlbnQwdjAQBgcqhkjOPQIBBgUrgQQAIgNiAAR4p2osi/ph
840Z4bf2Xd1oR3h3hDAO7Kk+QiMW0xdr/9paNvhIEwOMLQjvghnFp3X4YaI8ZG0/
piS/xYCgbO6qjGfNrIb9+WKPFuLpal/sFovNwX6Hv/RQUPdKddmAjCigADAKBggq
hkjOPQQDAgNoADBlAjBVuqB14xc3uTLaKlWvZvhjCftCTwIb93tH/ZuNxR5gQMNK
sXB5cu8MvSff4mzjHLsCMQDGO9PHhvUIxHEUkwke1UYDpMmO46tVJsNQbPjKmAYv
8meTVlFnHtT7SFLKk6pWitQ=
-----END CERTIFICATE REQUEST-----
";
    const OPENSSL_P256_SHA384_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIHxMIGXAgEAMDUxEDAOBgNVBAoMB0V4YW1wbGUxITAfBgNVBAMMGG1hbmFnZW1l
bnQtMDEtd29yay1hZ2VudDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNyqfR3d
MIby+BOhWcrqqpv8v5jvVmpQm2G4qLqzsqC16Gh+Ui4rX8L6d0rEqiipuwM/AP/w
w8XK4TlFbxNGkFqgADAKBggqhkjOPQQDAwNJADBGAiEAlPdtR3agGCARd9LNmY0S
634ZSrcSr0A8DUNJjLD3XvgCIQC3PX6t+PsFQsUKtAG6AscIZ9WTPRpl2KFrSklx
9aMOhA==
-----END CERTIFICATE REQUEST-----
";

    #[test]
    fn csrs_signed_with_another_digest_than_the_curves_are_accepted() {
        let p384 = inspect_csr(OPENSSL_P384_SHA256_CSR).unwrap();
        assert_eq!(p384.algorithm, KeyAlgorithm::EcdsaP384);
        assert_eq!(p384.common_name.as_deref(), Some("management-01-work-agent"));
        assert_eq!(inspect_csr(OPENSSL_P256_SHA384_CSR).unwrap().algorithm, KeyAlgorithm::EcdsaP256);
        // An RSA signature OID on an EC key still fails as a bad signature, not as a bad key.
        let der = pem_block(OPENSSL_P256_SHA384_CSR, "t", PemKind::Csr).unwrap();
        let ecdsa_sha384 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
        let at = der.windows(ecdsa_sha384.len()).rposition(|w| w == ecdsa_sha384).unwrap();
        let mut rsa_oid = der.clone();
        rsa_oid.splice(at..at + ecdsa_sha384.len(), [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]);
        // The OID grew by one byte: the two enclosing lengths follow (the whole CSR's is the
        // long form 81 f1, the algorithm's the short 0a).
        assert_eq!(rsa_oid[1..3], [0x81, 0xf1]);
        rsa_oid[2] += 1;
        rsa_oid[at - 1] += 1;
        assert_eq!(inspect_csr(&pem_text("CERTIFICATE REQUEST", &rsa_oid)), Err(CryptoError::BadCsrSignature));
    }

    #[test]
    fn amazon_root_ca_parses_as_a_certificate() {
        let spki = cert_public_key_spki(crate::crypto::AMAZON_ROOT_CA_1).unwrap();
        assert_eq!(spki_algorithm(&spki), Some(KeyAlgorithm::Rsa2048));
    }

    fn pem_text(label: &str, der: &[u8]) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    }
}
