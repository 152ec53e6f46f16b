//! Benchmark (not a test): how fast the plugin starts and answers GetProviderSchema, the two
//! costs every `tofu` command pays per provider. Prints numbers; asserts nothing about speed.
//!
//! Run with `cargo bench --bench plugin_startup` (RUNS=N to change the sample size).
//!
//! Everything goes over AutoMTLS, as with the CLI. There is no "no TLS" row any more: the plugin
//! refuses to serve without `PLUGIN_CLIENT_CERT` (an unauthenticated loopback port would let any
//! local user drive it), and its `-debug` mode, the one way to serve without TLS, is not a start-up
//! path the CLI ever takes.
// A benchmark reports its figures on stdout.
#![allow(clippy::print_stdout)]

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use terraform_provider_maestro::protocol::generated::tfplugin6::{get_provider_schema, provider_client::ProviderClient};
use terraform_provider_maestro::protocol::handshake::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};

#[path = "../tests/support/pinned_server.rs"]
mod pinned_server;
use pinned_server::PinnedServer;

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-maestro");

/// A self-signed client certificate (PEM) and its key, like the one the CLI generates for
/// AutoMTLS (ECDSA P-521, CA).
fn client_identity() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("cert");
    (cert.pem(), CertificateDer::from(cert.der().to_vec()), PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
}

/// Starts the plugin and returns it with its handshake line and the time the line took.
fn start(client_cert: &str) -> (Child, String, Duration) {
    let mut cmd = Command::new(BIN);
    cmd.env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env_remove("TF_LOG")
        .env("PLUGIN_CLIENT_CERT", client_cert)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let t0 = Instant::now();
    let mut child = cmd.spawn().expect("spawn plugin");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("handshake line");
    (child, line, t0.elapsed())
}

/// A client connected over mTLS to the plugin that printed `line`, presenting `identity`.
async fn connect(line: &str, identity: (CertificateDer<'static>, PrivateKeyDer<'static>)) -> ProviderClient<tonic::transport::Channel> {
    use base64::Engine;
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    let addr = fields[3].to_string();
    let server_cert = base64::engine::general_purpose::STANDARD_NO_PAD.decode(fields[5]).expect("server certificate in handshake");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer(server_cert)))
        .with_client_auth_cert(vec![identity.0], identity.1)
        .expect("client certificate");
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, addr) = (connector.clone(), addr.clone());
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let tls = connector.connect(ServerName::try_from("localhost").expect("name"), tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
        .expect("connect");
    ProviderClient::new(channel).max_decoding_message_size(256 << 20)
}

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<50} n={:<4} min={:>7.2}ms median={:>7.2}ms p95={:>7.2}ms max={:>7.2}ms",
        samples.len(),
        ms(samples[0]),
        ms(pct(0.5)),
        ms(pct(0.95)),
        ms(*samples.last().unwrap())
    );
}

fn main() {
    let runs: usize = std::env::var("RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (pem, cert, key) = client_identity();

    let mut tls = Vec::new();
    let mut first_schema = Vec::new();
    for _ in 0..runs {
        let (mut child, line, t) = start(&pem);
        tls.push(t);
        let t0 = Instant::now();
        rt.block_on(async {
            let mut client = connect(&line, (cert.clone(), key.clone_key())).await;
            client.get_provider_schema(get_provider_schema::Request {}).await.expect("schema");
        });
        first_schema.push(t0.elapsed());
        child.kill().ok();
        child.wait().ok();
    }

    // Repeated calls on one warm connection: the cost per call inside a tofu run.
    let (mut child, line, _) = start(&pem);
    let mut warm = Vec::new();
    let mut schema_bytes = 0;
    rt.block_on(async {
        let mut client = connect(&line, (cert.clone(), key.clone_key())).await;
        for _ in 0..runs * 10 {
            let t0 = Instant::now();
            let resp = client.get_provider_schema(get_provider_schema::Request {}).await.expect("schema");
            warm.push(t0.elapsed());
            schema_bytes = prost::Message::encoded_len(resp.get_ref());
        }
    });
    child.kill().ok();
    child.wait().ok();

    println!("plugin: {BIN}");
    stats("start → handshake line (AutoMTLS, cert generated)", tls);
    stats("connect (mTLS) + first GetProviderSchema", first_schema);
    stats(&format!("GetProviderSchema, warm ({schema_bytes} bytes)"), warm);
}
