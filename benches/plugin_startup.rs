//! Benchmark (not a test): how fast the plugin starts and answers GetProviderSchema, the two
//! costs every `tofu` command pays per provider. Prints numbers; asserts nothing about speed.
//!
//! Run with `cargo bench --bench plugin_startup` (RUNS=N to change the sample size).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use terraform_provider_maestro::protocol::generated::tfplugin6::{get_provider_schema, provider_client::ProviderClient};
use terraform_provider_maestro::protocol::handshake::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-maestro");

/// A self-signed client certificate in PEM, like the one the CLI generates for AutoMTLS.
fn client_cert_pem() -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.self_signed(&key).expect("cert").pem()
}

/// Starts the plugin and returns it with its handshake line and the time the line took.
fn start(client_cert: Option<&str>) -> (Child, String, Duration) {
    let mut cmd = Command::new(BIN);
    cmd.env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env_remove("TF_LOG")
        .env_remove("PLUGIN_CLIENT_CERT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(pem) = client_cert {
        cmd.env("PLUGIN_CLIENT_CERT", pem);
    }
    let t0 = Instant::now();
    let mut child = cmd.spawn().expect("spawn plugin");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("handshake line");
    (child, line, t0.elapsed())
}

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<44} n={:<4} min={:>7.2}ms median={:>7.2}ms p95={:>7.2}ms max={:>7.2}ms",
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
    let pem = client_cert_pem();

    let mut plain = Vec::new();
    let mut tls = Vec::new();
    let mut first_schema = Vec::new();
    for _ in 0..runs {
        let (mut child, _, t) = start(Some(&pem));
        tls.push(t);
        child.kill().ok();
        child.wait().ok();

        let (mut child, line, t) = start(None);
        plain.push(t);
        let addr = line.split('|').nth(3).expect("address in handshake").to_string();
        let t0 = Instant::now();
        rt.block_on(async {
            let mut client = ProviderClient::connect(format!("http://{addr}")).await.expect("connect");
            client.get_provider_schema(get_provider_schema::Request {}).await.expect("schema");
        });
        first_schema.push(t0.elapsed());
        child.kill().ok();
        child.wait().ok();
    }

    // Repeated calls on one warm connection: the cost per call inside a tofu run.
    let (mut child, line, _) = start(None);
    let addr = line.split('|').nth(3).expect("address").to_string();
    let mut warm = Vec::new();
    let mut schema_bytes = 0;
    rt.block_on(async {
        let mut client = ProviderClient::connect(format!("http://{addr}")).await.expect("connect");
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
    stats("start → handshake line (no TLS)", plain);
    stats("connect + first GetProviderSchema", first_schema);
    stats(&format!("GetProviderSchema, warm ({schema_bytes} bytes)"), warm);
}
