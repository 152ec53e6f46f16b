//! Reading what crosses accounts: CSRs (their self-signature checked) and certificates, down
//! to the SubjectPublicKeyInfo that ties them to a key; just enough DER for that.

use super::pair::{public_key_fingerprint, GeneratedKey, KeyAlgorithm};
use crate::crypto::secret::CryptoError;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

/// What a CSR says, after its self-signature has been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrInfo {
    pub spki_der: Vec<u8>,
    pub algorithm: KeyAlgorithm,
    /// The subject's first common name, if any.
    pub common_name: Option<String>,
}

impl CsrInfo {
    pub fn fingerprint(&self) -> String {
        public_key_fingerprint(&self.spki_der)
    }
}

/// Parses a PEM CSR, verifies its signature (proof that whoever made it holds the private key)
/// and reports its key. Meant for validating `csr_pem` at plan time, before CreateCertificateFromCsr
/// — which is not idempotent and best called only with input that will succeed.
pub fn inspect_csr(csr_pem: &str) -> Result<CsrInfo, CryptoError> {
    const WHAT: &str = "the CSR";
    let der = pem_block(csr_pem, WHAT, PemKind::Csr)?;
    let (outer, _) = der::expect(&der, der::SEQUENCE, WHAT)?;
    let (info, rest) = der::expect(outer.content, der::SEQUENCE, WHAT)?;
    let (sig_alg, rest) = der::expect(rest, der::SEQUENCE, WHAT)?;
    let (sig, _) = der::expect(rest, der::BIT_STRING, WHAT)?;

    let (_version, fields) = der::expect(info.content, der::INTEGER, WHAT)?;
    let (subject, fields) = der::expect(fields, der::SEQUENCE, WHAT)?;
    let (spki, _attributes) = der::expect(fields, der::SEQUENCE, WHAT)?;
    let spki_der = spki.whole.to_vec();
    let algorithm = spki_algorithm(&spki_der).ok_or(CryptoError::UnsupportedKey { what: WHAT })?;

    let (oid, _) = der::expect(sig_alg.content, der::OID, WHAT)?;
    let verifier = csr_verifier(algorithm, oid.content)?;
    let public_key = spki_subject_public_key(&spki_der).ok_or(CryptoError::Der { what: WHAT, detail: "bad public key" })?;
    let signature = bit_string_bytes(sig.content).ok_or(CryptoError::Der { what: WHAT, detail: "bad signature" })?;
    UnparsedPublicKey::new(verifier, public_key).verify(info.whole, signature).map_err(|_| CryptoError::BadCsrSignature)?;

    Ok(CsrInfo { spki_der, algorithm, common_name: common_name(subject.content) })
}

/// The SPKI DER of a PEM CSR (its signature is not checked; see [`inspect_csr`] for that).
pub fn csr_public_key_spki(csr_pem: &str) -> Result<Vec<u8>, CryptoError> {
    const WHAT: &str = "the CSR";
    let der = pem_block(csr_pem, WHAT, PemKind::Csr)?;
    let (outer, _) = der::expect(&der, der::SEQUENCE, WHAT)?;
    let (info, _) = der::expect(outer.content, der::SEQUENCE, WHAT)?;
    let (_version, fields) = der::expect(info.content, der::INTEGER, WHAT)?;
    let (_subject, fields) = der::expect(fields, der::SEQUENCE, WHAT)?;
    let (spki, _) = der::expect(fields, der::SEQUENCE, WHAT)?;
    Ok(spki.whole.to_vec())
}

/// The SPKI DER of the first certificate in a PEM text.
pub fn cert_public_key_spki(cert_pem: &str) -> Result<Vec<u8>, CryptoError> {
    const WHAT: &str = "the certificate";
    let der = pem_block(cert_pem, WHAT, PemKind::Certificate)?;
    let (outer, _) = der::expect(&der, der::SEQUENCE, WHAT)?;
    let (tbs, _) = der::expect(outer.content, der::SEQUENCE, WHAT)?;
    let mut fields = tbs.content;
    // The version is an explicit [0] tag, absent in v1 certificates.
    if fields.first() == Some(&der::CONTEXT_0) {
        fields = der::expect(fields, der::CONTEXT_0, WHAT)?.1;
    }
    let (_serial, fields) = der::expect(fields, der::INTEGER, WHAT)?;
    let (_signature, fields) = der::expect(fields, der::SEQUENCE, WHAT)?;
    let (_issuer, fields) = der::expect(fields, der::SEQUENCE, WHAT)?;
    let (_validity, fields) = der::expect(fields, der::SEQUENCE, WHAT)?;
    let (_subject, fields) = der::expect(fields, der::SEQUENCE, WHAT)?;
    let (spki, _) = der::expect(fields, der::SEQUENCE, WHAT)?;
    Ok(spki.whole.to_vec())
}

/// True when the certificate certifies exactly this key. DER is canonical, so equal keys have
/// byte-equal SPKIs; an unparsable certificate matches nothing.
pub fn cert_matches_key(cert_pem: &str, key: &GeneratedKey) -> bool {
    cert_public_key_spki(cert_pem).map(|spki| spki == key.spki_der()).unwrap_or(false)
}

/// True when the CSR was made from this key (e.g. the CSR in state still belongs to the key
/// in the secret).
pub fn csr_matches_key(csr_pem: &str, key: &GeneratedKey) -> bool {
    csr_public_key_spki(csr_pem).map(|spki| spki == key.spki_der()).unwrap_or(false)
}

/// Which of our algorithms an SPKI holds, or `None` for any other key type or size.
pub fn spki_algorithm(spki_der: &[u8]) -> Option<KeyAlgorithm> {
    let (spki, _) = der::read(spki_der).ok()?;
    let (alg_id, rest) = der::read(spki.content).ok()?;
    let (oid, params) = der::read(alg_id.content).ok()?;
    match oid.content {
        oids::EC_PUBLIC_KEY => match der::read(params).ok()?.0.content {
            oids::P256 => Some(KeyAlgorithm::EcdsaP256),
            oids::P384 => Some(KeyAlgorithm::EcdsaP384),
            _ => None,
        },
        oids::RSA_ENCRYPTION => {
            let (bits, _) = der::read(rest).ok()?;
            let rsa_key = bit_string_bytes(bits.content)?;
            let (seq, _) = der::read(rsa_key).ok()?;
            let (modulus, _) = der::read(seq.content).ok()?;
            let significant = modulus.content.iter().skip_while(|b| **b == 0).count();
            match significant * 8 {
                2048 => Some(KeyAlgorithm::Rsa2048),
                3072 => Some(KeyAlgorithm::Rsa3072),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The subjectPublicKey bits of an SPKI (the EC point or the PKCS#1 RSA key), which is the
/// form aws-lc-rs verifies with.
pub(super) fn spki_subject_public_key(spki_der: &[u8]) -> Option<&[u8]> {
    let (spki, _) = der::read(spki_der).ok()?;
    let (_alg_id, rest) = der::read(spki.content).ok()?;
    let (bits, _) = der::read(rest).ok()?;
    bit_string_bytes(bits.content)
}

/// A BIT STRING's bytes, which for keys and signatures always have no unused bits.
fn bit_string_bytes(content: &[u8]) -> Option<&[u8]> {
    match content.split_first() {
        Some((0, bytes)) => Some(bytes),
        _ => None,
    }
}

/// The verifier for a CSR signed with `signature_oid` by a key of `key`. The digest is
/// independent of the key: AWS IoT accepts SHA-256, -384 and -512 with either curve and with
/// RSA, and `openssl req` signs with SHA-256 whatever the key unless told otherwise.
fn csr_verifier(key: KeyAlgorithm, signature_oid: &[u8]) -> Result<&'static dyn VerificationAlgorithm, CryptoError> {
    use KeyAlgorithm::{EcdsaP256, EcdsaP384, Rsa2048, Rsa3072};
    Ok(match (key, signature_oid) {
        (EcdsaP256, oids::ECDSA_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
        (EcdsaP256, oids::ECDSA_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
        (EcdsaP256, oids::ECDSA_SHA512) => &signature::ECDSA_P256_SHA512_ASN1,
        (EcdsaP384, oids::ECDSA_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
        (EcdsaP384, oids::ECDSA_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
        (EcdsaP384, oids::ECDSA_SHA512) => &signature::ECDSA_P384_SHA512_ASN1,
        (Rsa2048 | Rsa3072, oids::RSA_SHA256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (Rsa2048 | Rsa3072, oids::RSA_SHA384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (Rsa2048 | Rsa3072, oids::RSA_SHA512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        // A signature of the other key family cannot have been made with this key.
        (_, oids::ECDSA_SHA256 | oids::ECDSA_SHA384 | oids::ECDSA_SHA512 | oids::RSA_SHA256 | oids::RSA_SHA384 | oids::RSA_SHA512) => {
            return Err(CryptoError::BadCsrSignature)
        }
        _ => return Err(CryptoError::UnsupportedKey { what: "the CSR" }),
    })
}

/// The first CN in a Name (SEQUENCE OF SET OF SEQUENCE { type, value }).
fn common_name(mut rdns: &[u8]) -> Option<String> {
    while !rdns.is_empty() {
        let (set, rest) = der::read(rdns).ok()?;
        rdns = rest;
        let mut atvs = set.content;
        while !atvs.is_empty() {
            let (atv, rest) = der::read(atvs).ok()?;
            atvs = rest;
            let (oid, value) = der::read(atv.content).ok()?;
            if oid.content == oids::COMMON_NAME {
                let (value, _) = der::read(value).ok()?;
                return std::str::from_utf8(value.content).ok().map(str::to_string);
            }
        }
    }
    None
}

#[derive(PartialEq, Eq)]
pub(super) enum PemKind {
    Csr,
    Certificate,
}

/// The DER of the first PEM block of the wanted kind. Errors name what was expected but never
/// echo the text, which might be a private key pasted into the wrong field.
pub(super) fn pem_block(text: &str, what: &'static str, kind: PemKind) -> Result<Vec<u8>, CryptoError> {
    use rustls_pki_types::pem::{Error as PemError, PemObject};
    use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer};
    // Blocks of other kinds (a key pasted before the CSR, say) are passed over.
    let found = match kind {
        PemKind::Csr => CertificateSigningRequestDer::from_pem_slice(text.as_bytes()).map(|der| der.as_ref().to_vec()),
        PemKind::Certificate => CertificateDer::from_pem_slice(text.as_bytes()).map(|der| der.as_ref().to_vec()),
    };
    match found {
        Ok(der) => Ok(der),
        Err(PemError::NoItemsFound) => {
            let label = if kind == PemKind::Csr { "CERTIFICATE REQUEST" } else { "CERTIFICATE" };
            Err(CryptoError::Pem { what, detail: format!(": no {label} block found") })
        }
        Err(_) => Err(CryptoError::Pem { what, detail: String::new() }),
    }
}

/// DER encodings (without tag and length) of the object identifiers we look for.
mod oids {
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]; // 1.2.840.10045.2.1
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]; // 1.2.840.10045.3.1.7
    pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22]; // 1.3.132.0.34
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]; // 1.2.840.113549.1.1.1
    pub const RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    pub const RSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    pub const RSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    pub const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]; // 1.2.840.10045.4.3.2
    pub const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    pub const ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
    pub const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03]; // 2.5.4.3
}

/// Just enough DER reading to walk to a CSR's or certificate's public key. A full X.509 parser
/// would be a large dependency for three fixed paths through two well-known structures.
pub(super) mod der {
    use super::CryptoError;

    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const CONTEXT_0: u8 = 0xa0;

    pub struct Tlv<'a> {
        pub tag: u8,
        pub content: &'a [u8],
        /// Tag, length and content together (what a signature covers, what a fingerprint hashes).
        pub whole: &'a [u8],
    }

    /// Reads one element; returns it and what follows it.
    pub fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), &'static str> {
        let (&tag, rest) = input.split_first().ok_or("truncated")?;
        if tag & 0x1f == 0x1f {
            return Err("multi-byte tags are not used here");
        }
        let (&first, rest) = rest.split_first().ok_or("truncated")?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            // 0x80 is BER's indefinite length, never valid in DER; more than 4 length bytes
            // would describe a structure far larger than any key or certificate.
            if n == 0 || n > 4 || rest.len() < n {
                return Err("bad length");
            }
            let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (len, &rest[n..])
        };
        if rest.len() < len {
            return Err("truncated");
        }
        let header = input.len() - rest.len();
        Ok((Tlv { tag, content: &rest[..len], whole: &input[..header + len] }, &rest[len..]))
    }

    /// Reads one element that must have `tag`.
    pub fn expect<'a>(input: &'a [u8], tag: u8, what: &'static str) -> Result<(Tlv<'a>, &'a [u8]), CryptoError> {
        let (tlv, rest) = read(input).map_err(|detail| CryptoError::Der { what, detail })?;
        if tlv.tag != tag {
            return Err(CryptoError::Der { what, detail: "unexpected element" });
        }
        Ok((tlv, rest))
    }
}
