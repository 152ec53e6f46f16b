//! AutoMTLS as go-plugin does it: the CLI hands us its client certificate in
//! `PLUGIN_CLIENT_CERT`; we answer with a fresh self-signed server certificate (sent to the
//! CLI in the handshake line) and accept exactly that one client certificate.
//!
//! rustls' stock client verifier would not do: Terraform's certificate is a CA certificate
//! used as a leaf (which webpki refuses) and is ECDSA P-521 (which only the aws-lc-rs
//! provider verifies). Accepting any certificate — or making client auth optional — would let
//! any local process drive the provider, so the verifier below pins the exact certificate and
//! still checks the handshake signature, proving the client holds its key.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, ServerConfig, SignatureScheme};
use std::sync::Arc;

/// The server's certificate, kept so the handshake line can announce it.
pub struct ServerIdentity {
    pub cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

/// Generates the per-process server certificate: ECDSA P-256, SAN `localhost`, marked as a CA
/// because the CLI installs it as the only trusted root.
pub fn generate_server_identity() -> Result<ServerIdentity, rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params.distinguished_name.push(DnType::OrganizationName, "terraform-provider-maestro");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::KeyCertSign];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let now = time::OffsetDateTime::now_utc();
    // A little slack for clock differences; the certificate lives as long as this process.
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(365);
    let cert = params.self_signed(&key)?;
    Ok(ServerIdentity { cert_der: cert.der().to_vec(), key_der: key.serialize_der() })
}

/// Parses the PEM the CLI put in `PLUGIN_CLIENT_CERT` into DER.
pub fn parse_client_cert(pem: &str) -> Result<Vec<u8>, String> {
    let mut reader = std::io::BufReader::new(pem.as_bytes());
    let certs: Vec<_> =
        rustls_pemfile::certs(&mut reader).collect::<Result<_, _>>().map_err(|e| format!("PLUGIN_CLIENT_CERT is not PEM: {e}"))?;
    match certs.as_slice() {
        [one] => Ok(one.to_vec()),
        [] => Err("PLUGIN_CLIENT_CERT holds no certificate".into()),
        _ => Err("PLUGIN_CLIENT_CERT holds more than one certificate".into()),
    }
}

pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A TLS server configuration that requires the pinned client certificate and offers h2.
pub fn server_config(identity: &ServerIdentity, client_cert_der: Vec<u8>) -> Result<Arc<ServerConfig>, Error> {
    let provider = crypto_provider();
    let verifier = PinnedClientCert { expected: client_cert_der, algorithms: provider.signature_verification_algorithms };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(
            vec![CertificateDer::from(identity.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_der.clone())),
        )?;
    // grpc-go refuses TLS peers that do not negotiate HTTP/2 through ALPN.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct PinnedClientCert {
    expected: Vec<u8>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: Go only sends a certificate whose issuer matches a hint, and an empty list
        // means "any", which is what makes it send its single certificate.
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if end_entity.as_ref() == self.expected.as_slice() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        // Must include ECDSA_NISTP521_SHA512, or Go silently sends no certificate at all.
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertises_p521_so_terraform_sends_its_certificate() {
        let algs = crypto_provider().signature_verification_algorithms;
        assert!(algs.supported_schemes().contains(&SignatureScheme::ECDSA_NISTP521_SHA512));
    }

    #[test]
    fn server_certificate_names_localhost_and_builds_a_config() {
        let id = generate_server_identity().unwrap();
        let client = generate_server_identity().unwrap();
        // The DER must contain the SAN; "localhost" appears verbatim inside it.
        assert!(id.cert_der.windows(9).any(|w| w == b"localhost"));
        let cfg = server_config(&id, client.cert_der.clone()).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"h2".to_vec()]);
    }

    #[test]
    fn only_the_pinned_certificate_is_accepted() {
        let pinned = generate_server_identity().unwrap();
        let other = generate_server_identity().unwrap();
        let v = PinnedClientCert { expected: pinned.cert_der.clone(), algorithms: crypto_provider().signature_verification_algorithms };
        let now = UnixTime::now();
        assert!(v.verify_client_cert(&CertificateDer::from(pinned.cert_der.clone()), &[], now).is_ok());
        assert!(v.verify_client_cert(&CertificateDer::from(other.cert_der.clone()), &[], now).is_err());
        assert!(v.client_auth_mandatory());
    }

    #[test]
    fn client_cert_pem_parsing() {
        let id = generate_server_identity().unwrap();
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &id.cert_der)
        );
        assert_eq!(parse_client_cert(&pem).unwrap(), id.cert_der);
        assert!(parse_client_cert("garbage").is_err());
    }
}
