//! The two JSON documents the agent reads from Secrets Manager through the Secrets Store CSI
//! driver, which mounts each top-level key as a file under `/mnt/secrets-store`:
//!
//! - the credential secret `{"certificate", "privateKey", "caCert"}` (files `certificate`,
//!   `privateKey` and — mapped by the chart — `ca.crt`);
//! - the config secret `{"config", "consumerName"}` (files `config.yaml`, `consumerName`).

use super::keys::{cert_matches_key, GeneratedKey};
use super::secret::{CryptoError, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Amazon Root CA 1 (RSA 2048, valid until 2038-01-17): the root that AWS IoT Core's ATS
/// endpoints (`iot:Data-ATS`) chain to, and so the agent's `caCert`. Public and the same for
/// every AWS customer. SHA-256 fingerprint
/// 8e:cd:e6:88:4f:3d:87:b1:12:5b:a3:1a:c3:fc:b1:3d:70:16:de:7f:57:cc:90:4f:e1:cb:97:c6:ae:98:19:6e
/// (checked by a test).
pub const AMAZON_ROOT_CA_1: &str = "-----BEGIN CERTIFICATE-----
MIIDQTCCAimgAwIBAgITBmyfz5m/jAo54vB4ikPmljZbyjANBgkqhkiG9w0BAQsF
ADA5MQswCQYDVQQGEwJVUzEPMA0GA1UEChMGQW1hem9uMRkwFwYDVQQDExBBbWF6
b24gUm9vdCBDQSAxMB4XDTE1MDUyNjAwMDAwMFoXDTM4MDExNzAwMDAwMFowOTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoTBkFtYXpvbjEZMBcGA1UEAxMQQW1hem9uIFJv
b3QgQ0EgMTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBALJ4gHHKeNXj
ca9HgFB0fW7Y14h29Jlo91ghYPl0hAEvrAIthtOgQ3pOsqTQNroBvo3bSMgHFzZM
9O6II8c+6zf1tRn4SWiw3te5djgdYZ6k/oI2peVKVuRF4fn9tBb6dNqcmzU5L/qw
IFAGbHrQgLKm+a/sRxmPUDgH3KKHOVj4utWp+UhnMJbulHheb4mjUcAwhmahRWa6
VOujw5H5SNz/0egwLX0tdHA114gk957EWW67c4cX8jJGKLhD+rcdqsq08p8kDi1L
93FcXmn/6pUCyziKrlA4b9v7LWIbxcceVOF34GfID5yHI9Y/QCB/IIDEgEw+OyQm
jgSubJrIqg0CAwEAAaNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMC
AYYwHQYDVR0OBBYEFIQYzIU07LwMlJQuCFmcx7IQTgoIMA0GCSqGSIb3DQEBCwUA
A4IBAQCY8jdaQZChGsV2USggNiMOruYou6r4lK5IpDB/G/wkjUu0yKGX9rbxenDI
U5PMCCjjmCXPI6T53iHTfIUJrU6adTrCC2qJeHZERxhlbI1Bjjt/msv0tadQ1wUs
N+gDS63pYaACbvXy8MWy7Vu33PqUXHeeE6V/Uq2V8viTO96LXFvKWlJbYK8U90vv
o/ufQJVtMVT8QtPHRh8jrdkPSHCa2XV4cdFyQzR1bldZwgJcJmApzyMZFo6IQ6XU
5MsI+yMRQ+hDKXJioaldXgjUkK642M4UwtBV8ob2xJNDd2ZhwLnoQdeXeGADbkpy
rqXRfboQnoZsG4q5WTP468SQvvG5
-----END CERTIFICATE-----
";

/// The agent's MQTT credentials as stored in its credential secret.
///
/// Between `maestro_agent_key` writing the key and `maestro_agent_identity` receiving the
/// certificate, the bundle has no certificate. That state is written with the `certificate`
/// key **absent** rather than `null` or `""`: every key that is present then holds a usable
/// PEM, so a reader (the CSI driver's JMESPath lookup, a person with `get-secret-value`) sees
/// plainly that the certificate is missing instead of mounting an empty file the agent would
/// fail on in a less obvious way. Parsing accepts absent, `null` and `""` alike, since people
/// and older tooling write all three; the same goes for a missing `caCert`. Unknown keys (an older layout added `endpoint`, `port`,
/// `clientId`, `consumerName`) are ignored on read and not written back.
#[derive(Debug, PartialEq, Eq)]
pub struct CredentialBundle {
    /// PEM certificate issued by IoT Core for `private_key`; public.
    pub certificate: Option<String>,
    /// PKCS#8 PEM private key.
    pub private_key: SecretString,
    /// PEM of the CA the broker's server certificate chains to; public. `None` only when a
    /// secret read back lacks it (drift the resource should repair); we always write one.
    pub ca_cert: Option<String>,
}

/// The wire shape. Field order here is the order written, matching the documented layout.
#[derive(Serialize)]
struct WireOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<&'a str>,
    #[serde(rename = "privateKey")]
    private_key: &'a str,
    #[serde(rename = "caCert", skip_serializing_if = "Option::is_none")]
    ca_cert: Option<&'a str>,
}

#[derive(Deserialize)]
struct WireIn {
    #[serde(default)]
    certificate: Option<String>,
    #[serde(rename = "privateKey", default)]
    private_key: Option<String>,
    #[serde(rename = "caCert", default)]
    ca_cert: Option<String>,
}

impl CredentialBundle {
    /// A bundle for a key whose certificate has not been issued yet.
    pub fn key_only(private_key: SecretString, ca_cert: impl Into<String>) -> Self {
        CredentialBundle { certificate: None, private_key, ca_cert: Some(ca_cert.into()) }
    }

    pub fn is_complete(&self) -> bool {
        self.certificate.is_some()
    }

    pub fn with_certificate(self, certificate_pem: impl Into<String>) -> Self {
        CredentialBundle { certificate: Some(certificate_pem.into()), ..self }
    }

    /// True when there is a certificate and it certifies this bundle's private key — the
    /// invariant a current (AWSCURRENT) bundle must always satisfy.
    pub fn is_coherent(&self) -> Result<bool, CryptoError> {
        let Some(cert) = &self.certificate else { return Ok(false) };
        let key = GeneratedKey::from_pkcs8_pem(self.private_key.expose())?;
        Ok(cert_matches_key(cert, &key))
    }

    /// The secret string to store. Written into a buffer sized up front and wiped on drop, so
    /// no reallocation leaves a stray copy of the key behind.
    pub fn to_secret_string(&self) -> SecretString {
        let wire =
            WireOut { certificate: self.certificate.as_deref(), private_key: self.private_key.expose(), ca_cert: self.ca_cert.as_deref() };
        // PEM text is ASCII whose only escaped character is the newline (two bytes in JSON),
        // so twice the input plus room for the keys is always enough.
        let estimate = 2
            * (self.certificate.as_deref().map_or(0, str::len)
                + self.private_key.expose().len()
                + self.ca_cert.as_deref().map_or(0, str::len))
            + 128;
        let mut buf = Zeroizing::new(Vec::with_capacity(estimate));
        serde_json::to_writer(&mut *buf, &wire).expect("serialising strings cannot fail");
        let text = String::from_utf8(std::mem::take(&mut *buf)).expect("serde_json writes UTF-8");
        SecretString::new(text)
    }

    /// Reads a credential secret's string. Error messages carry only a position: serde_json's
    /// own messages can quote the offending value, which here could be the key.
    pub fn parse(json: &str) -> Result<Self, CryptoError> {
        let wire: WireIn = serde_json::from_str(json).map_err(|e| {
            CryptoError::Bundle(format!("the credential secret is not a JSON object of strings (line {}, column {})", e.line(), e.column()))
        })?;
        let private_key = SecretString::new(
            wire.private_key
                .filter(|k| !k.trim().is_empty())
                .ok_or_else(|| CryptoError::Bundle("the credential secret has no \"privateKey\"".into()))?,
        );
        Ok(CredentialBundle {
            certificate: wire.certificate.filter(|c| !c.trim().is_empty()),
            private_key,
            ca_cert: wire.ca_cert.filter(|c| !c.trim().is_empty()),
        })
    }
}

/// The agent's config secret: the MQTT config YAML and the consumer name. Nothing in it is
/// secret, but the CSI driver mounts it from Secrets Manager alongside the credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentConfigSecret {
    pub config: String,
    #[serde(rename = "consumerName")]
    pub consumer_name: String,
}

impl AgentConfigSecret {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("serialising strings cannot fail")
    }

    pub fn parse(json: &str) -> Result<Self, CryptoError> {
        serde_json::from_str(json).map_err(|e| {
            CryptoError::Bundle(format!(
                "the config secret is not {{\"config\": ..., \"consumerName\": ...}} (line {}, column {})",
                e.line(),
                e.column()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::{self, KeyAlgorithm};
    use serde_json::Value;

    #[test]
    fn amazon_root_ca_1_has_its_published_fingerprint() {
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::CertificateDer::from_pem_slice(AMAZON_ROOT_CA_1.as_bytes()).unwrap();
        assert_eq!(keys::public_key_fingerprint(&der), "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e");
    }

    #[test]
    fn a_key_only_bundle_omits_the_certificate_and_round_trips() {
        let key = keys::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let bundle = CredentialBundle::key_only(SecretString::new(key.private_key_pem().expose().to_string()), AMAZON_ROOT_CA_1);
        let json = bundle.to_secret_string();
        let v: Value = serde_json::from_str(json.expose()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["privateKey", "caCert"]);
        assert_eq!(v["privateKey"], key.private_key_pem().expose());
        let back = CredentialBundle::parse(json.expose()).unwrap();
        assert_eq!(back, bundle);
        assert!(!back.is_complete());
        assert_eq!(back.is_coherent(), Ok(false));
    }

    #[test]
    fn a_complete_bundle_has_the_three_keys_the_csi_mount_expects() {
        let bundle = CredentialBundle::key_only(SecretString::new("KEY\n".into()), "CA\n").with_certificate("CERT\n");
        let json = bundle.to_secret_string();
        assert_eq!(json.expose(), r#"{"certificate":"CERT\n","privateKey":"KEY\n","caCert":"CA\n"}"#);
        assert_eq!(CredentialBundle::parse(json.expose()).unwrap(), bundle);
    }

    #[test]
    fn coherence_is_checked_against_the_certificate_key() {
        let key = keys::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let other = keys::generate(KeyAlgorithm::EcdsaP256).unwrap();
        // A self-signed certificate for `other` stands in for a certificate of the wrong key.
        let other_kp = rcgen::KeyPair::from_pem(other.private_key_pem().expose()).unwrap();
        let wrong = rcgen::CertificateParams::new(vec!["x".to_string()]).unwrap().self_signed(&other_kp).unwrap().pem();
        let own_kp = rcgen::KeyPair::from_pem(key.private_key_pem().expose()).unwrap();
        let right = rcgen::CertificateParams::new(vec!["x".to_string()]).unwrap().self_signed(&own_kp).unwrap().pem();
        let base = || CredentialBundle::key_only(SecretString::new(key.private_key_pem().expose().to_string()), AMAZON_ROOT_CA_1);
        assert_eq!(base().with_certificate(right).is_coherent(), Ok(true));
        assert_eq!(base().with_certificate(wrong).is_coherent(), Ok(false));
    }

    #[test]
    fn missing_certificate_and_ca_read_as_none() {
        for json in
            [r#"{"privateKey":"K"}"#, r#"{"certificate":null,"privateKey":"K"}"#, r#"{"certificate":"","privateKey":"K","endpoint":"x"}"#]
        {
            let b = CredentialBundle::parse(json).unwrap();
            assert_eq!(b.certificate, None, "{json}");
            assert_eq!(b.private_key.expose(), "K");
            assert_eq!(b.ca_cert, None);
        }
    }

    #[test]
    fn parse_errors_never_quote_the_secret() {
        let secret = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        // A number where a string belongs makes serde_json quote the other value in its own
        // message; ours must not.
        let bad = [
            serde_json::json!({"privateKey": 5, "certificate": secret}).to_string(),
            serde_json::json!({"privateKey": [secret]}).to_string(),
            serde_json::json!({"certificate": secret}).to_string(),
            format!("{{\"privateKey\": \"{}", secret.replace('\n', "\\n")),
        ];
        for json in bad {
            let err = CredentialBundle::parse(&json).unwrap_err().to_string();
            assert!(!err.contains("PRIVATE KEY") && !err.contains("AAAA"), "{err}");
        }
    }

    #[test]
    fn debug_of_a_bundle_redacts_the_key() {
        let b = CredentialBundle::key_only(SecretString::new("-----BEGIN PRIVATE KEY-----".into()), "CA");
        let shown = format!("{b:?} {:?}", b.to_secret_string());
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }

    #[test]
    fn config_secret_has_the_documented_shape() {
        let c = AgentConfigSecret { config: "brokerHost: \"h:8883\"\n".into(), consumer_name: "management-01".into() };
        assert_eq!(c.to_json(), r#"{"config":"brokerHost: \"h:8883\"\n","consumerName":"management-01"}"#);
        assert_eq!(AgentConfigSecret::parse(&c.to_json()).unwrap(), c);
        assert!(AgentConfigSecret::parse(r#"{"config": 1}"#).is_err());
    }
}
