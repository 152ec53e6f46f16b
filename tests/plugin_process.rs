//! The plugin binary as the CLI sees it: launched as a process, handshake on stdout, AutoMTLS
//! that lets in only the client whose certificate was handed over in PLUGIN_CLIENT_CERT.
//! (The acceptance tests then drive the same binary with the real OpenTofu CLI.)

use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use terraform_provider_maestro::protocol::generated::tfplugin6::{get_provider_schema, provider_client::ProviderClient};
use terraform_provider_maestro::protocol::handshake::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-maestro");

struct Plugin {
    child: Child,
    addr: String,
    server_cert: Vec<u8>,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn launch(client_cert_pem: Option<&str>) -> Plugin {
    let mut cmd = Command::new(BIN);
    cmd.env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env_remove("PLUGIN_CLIENT_CERT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(pem) = client_cert_pem {
        cmd.env("PLUGIN_CLIENT_CERT", pem);
    }
    let mut child = cmd.spawn().expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(fields.len(), 6, "handshake line {line:?}");
    assert_eq!(&fields[..3], &["1", "6", "tcp"]);
    assert_eq!(fields[4], "grpc");
    let port: u16 = fields[3].strip_prefix("127.0.0.1:").expect("loopback").parse().unwrap();
    assert!((10000..=25000).contains(&port), "port {port} outside the client's range");
    assert!(!fields[5].ends_with('='), "certificate must be unpadded base64");
    let server_cert = base64::engine::general_purpose::STANDARD_NO_PAD.decode(fields[5]).expect("standard base64");
    Plugin { child, addr: fields[3].to_string(), server_cert }
}

/// A client identity shaped like Terraform's: self-signed ECDSA P-521 CA certificate.
fn terraform_like_identity() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let der = CertificateDer::from(cert.der().to_vec());
    (cert.pem(), der, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
}

/// Trusts exactly the certificate from the handshake line, as go-plugin's client does.
#[derive(Debug)]
struct PinnedServer(Vec<u8>);

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.0.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("unexpected server certificate".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

/// Calls GetProviderSchema over TLS, presenting `identity` (or no certificate at all).
async fn schema_over_tls(plugin: &Plugin, identity: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>) -> Result<usize, String> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer(plugin.server_cert.clone())));
    let mut config = match identity {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let addr = plugin.addr.clone();
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, addr) = (connector.clone(), addr.clone());
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| e.to_string())?;
    let resp = ProviderClient::new(channel).get_provider_schema(get_provider_schema::Request {}).await.map_err(|e| e.to_string())?;
    Ok(resp.into_inner().resource_schemas.len())
}

#[test]
fn run_by_hand_it_explains_itself_and_fails() {
    let out = Command::new(BIN).env_remove(MAGIC_COOKIE_KEY).output().unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing may reach stdout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("This binary is a plugin"), "{stderr}");
}

#[test]
fn refuses_clients_that_do_not_speak_protocol_6() {
    let out = Command::new(BIN).env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE).env("PLUGIN_PROTOCOL_VERSIONS", "4,5").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("speaks only version 6"));
}

#[tokio::test]
async fn automtls_admits_only_the_pinned_client_certificate() {
    let (pem, cert, key) = terraform_like_identity();
    let plugin = launch(Some(&pem));
    assert!(plugin.server_cert.windows(9).any(|w| w == b"localhost"));

    let n = schema_over_tls(&plugin, Some((cert, key))).await.expect("the pinned client gets in");
    assert!(n >= 1, "schema lists the resources");

    let (_, other_cert, other_key) = terraform_like_identity();
    let err = schema_over_tls(&plugin, Some((other_cert, other_key))).await.expect_err("another certificate is refused");
    assert!(!err.is_empty());
    schema_over_tls(&plugin, None).await.expect_err("no certificate is refused");
}

/// Ctrl-C reaches the plugin with the CLI's process group; the CLI then stops the provider
/// itself, so the plugin must live on and keep answering.
#[cfg(unix)]
#[tokio::test]
async fn an_interrupt_signal_does_not_end_the_plugin() {
    let (pem, cert, key) = terraform_like_identity();
    let mut plugin = launch(Some(&pem));
    for _ in 0..2 {
        let sent = Command::new("kill").args(["-INT", &plugin.child.id().to_string()]).status().expect("kill(1)");
        assert!(sent.success());
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(plugin.child.try_wait().unwrap().is_none(), "the plugin died of SIGINT");
    let n = schema_over_tls(&plugin, Some((cert, key))).await.expect("still answers after SIGINT");
    assert!(n >= 1);
}

#[tokio::test]
async fn shutdown_ends_the_process_promptly() {
    use terraform_provider_maestro::protocol::generated::plugin::{grpc_controller_client::GrpcControllerClient, Empty};
    let mut plugin = launch(None);
    let mut ctl = GrpcControllerClient::connect(format!("http://{}", plugin.addr)).await.unwrap();
    ctl.shutdown(Empty {}).await.unwrap();
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = plugin.child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "the CLI kills plugins after 2 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut rest = String::new();
    let _ = plugin.child.stdout.take().map(|mut s| s.read_to_string(&mut rest));
}
