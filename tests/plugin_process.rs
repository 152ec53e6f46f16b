//! The plugin binary as the CLI sees it: launched as a process, handshake on stdout, AutoMTLS
//! that lets in only the client whose certificate was handed over in PLUGIN_CLIENT_CERT, and
//! no way to serve without it but the explicit `-debug` mode.
//! (The acceptance tests then drive the same binary with the real OpenTofu CLI.)

use base64::Engine;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use terraform_provider_maestro::protocol::generated::tfplugin6::{get_provider_schema, provider_client::ProviderClient};
use terraform_provider_maestro::protocol::handshake::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};

#[path = "support/pinned_server.rs"]
mod pinned_server;
use pinned_server::PinnedServer;

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

/// This build's binary, or the command in MAESTRO_PLUGIN_COMMAND: scripts/platforms points the
/// launch tests at a cross-built release binary that way (`wine …\provider.exe`,
/// `qemu-aarch64 -L … provider`), so every platform meets the same client.
fn plugin_program() -> Command {
    match std::env::var("MAESTRO_PLUGIN_COMMAND") {
        Ok(line) if !line.trim().is_empty() => {
            let mut words = line.split_whitespace();
            let mut cmd = Command::new(words.next().unwrap_or_default());
            cmd.args(words);
            cmd
        }
        _ => Command::new(BIN),
    }
}

/// The environment go-plugin's client gives a plugin, without PLUGIN_CLIENT_CERT.
fn plugin_command() -> Command {
    let mut cmd = plugin_program();
    cmd.env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env_remove("PLUGIN_CLIENT_CERT")
        .env_remove("TF_LOG")
        .env_remove("TF_LOG_PROVIDER");
    cmd
}

fn launch(client_cert_pem: &str) -> Plugin {
    let mut cmd = plugin_command();
    cmd.env("PLUGIN_CLIENT_CERT", client_cert_pem).stdout(Stdio::piped()).stderr(Stdio::null());
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

/// Calls GetProviderSchema over TLS, presenting `identity` (or no certificate at all).
async fn schema_over_tls(plugin: &Plugin, identity: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>) -> Result<usize, String> {
    let channel = tls_channel(plugin, identity).await?;
    let resp = ProviderClient::new(channel).get_provider_schema(get_provider_schema::Request {}).await.map_err(|e| e.to_string())?;
    Ok(resp.into_inner().resource_schemas.len())
}

/// A gRPC channel to the plugin over TLS, as go-plugin's client opens it.
async fn tls_channel(
    plugin: &Plugin,
    identity: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> Result<tonic::transport::Channel, String> {
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
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, addr) = (connector.clone(), addr.clone());
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| e.to_string())
}

#[test]
fn run_by_hand_it_explains_itself_and_fails() {
    let out = plugin_program().env_remove(MAGIC_COOKIE_KEY).output().unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing may reach stdout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("This binary is a plugin"), "{stderr}");
}

#[test]
fn refuses_clients_that_do_not_speak_protocol_6() {
    let out = plugin_program().env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE).env("PLUGIN_PROTOCOL_VERSIONS", "4,5").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("speaks only version 6"));
}

/// Without AutoMTLS the plugin would serve unauthenticated gRPC on a loopback port, open to
/// every local user: it refuses, says why and how to debug, and listens on nothing.
#[test]
fn without_a_client_certificate_it_refuses_to_serve_and_explains() {
    for cert in [None, Some(""), Some("  \n")] {
        let mut cmd = plugin_command();
        if let Some(c) = cert {
            cmd.env("PLUGIN_CLIENT_CERT", c);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{cert:?}: served without AutoMTLS");
        assert!(out.stdout.is_empty(), "{cert:?}: no handshake line may be printed: {:?}", String::from_utf8_lossy(&out.stdout));
        let stderr = String::from_utf8_lossy(&out.stderr);
        for needed in ["refusing to serve without AutoMTLS", "PLUGIN_CLIENT_CERT", "-debug", "TF_REATTACH_PROVIDERS"] {
            assert!(stderr.contains(needed), "{cert:?}: {needed:?} missing from stderr: {stderr}");
        }
    }
}

#[test]
fn unknown_arguments_are_refused() {
    let out = plugin_command().arg("--serve-insecurely").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument"));
}

/// `-debug`, as terraform-plugin-go's providers offer it: serves without AutoMTLS (and without
/// being launched by a CLI), warns on stderr, and prints the TF_REATTACH_PROVIDERS value the CLI
/// attaches with; on unix the socket sits in a directory only this user can open. Ctrl-C ends it
/// and removes the socket.
#[cfg(unix)]
#[tokio::test]
async fn debug_mode_serves_on_a_private_socket_and_prints_the_reattach_line() {
    use std::os::unix::fs::PermissionsExt;
    let mut child = Command::new(BIN)
        .arg("-debug")
        .env_remove(MAGIC_COOKIE_KEY)
        .env_remove("PLUGIN_CLIENT_CERT")
        .env_remove("TF_LOG")
        .env_remove("TF_LOG_PROVIDER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(child.id());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    let reattach = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "stdout ended before the reattach line: {text:?}");
        text.push_str(&line);
        if let Some(value) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            break value.strip_suffix('\'').expect("quoted for the shell").to_string();
        }
    };
    assert!(text.starts_with("Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS environment variable"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&reattach).expect("the reattach value is JSON");
    let config = &json["registry.terraform.io/maestro-iac/maestro"];
    assert_eq!(config["Protocol"], "grpc");
    assert_eq!(config["ProtocolVersion"], 6);
    assert_eq!(config["Pid"], child.id());
    assert_eq!(config["Test"], true);
    assert_eq!(config["Addr"]["Network"], "unix");
    let socket = std::path::PathBuf::from(config["Addr"]["String"].as_str().unwrap());
    let dir = socket.parent().unwrap().to_path_buf();
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700, "the socket's directory is private");

    // The CLI connects in plaintext, as it does to reattached providers.
    let path = socket.clone();
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
        }))
        .await
        .unwrap();
    let schema = ProviderClient::new(channel).get_provider_schema(get_provider_schema::Request {}).await.unwrap();
    assert!(!schema.into_inner().resource_schemas.is_empty());

    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "Ctrl-C must end debug mode");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    std::mem::forget(guard); // it has exited: nothing to kill
    assert!(status.success());
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(stderr.contains("WARNING") && stderr.contains("WITHOUT AutoMTLS"), "{stderr}");
    assert!(!dir.exists(), "the socket and its directory are removed on exit");
}

/// Kills a process by id if a test fails before it ends.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", &self.0.to_string()]).stderr(Stdio::null()).status();
    }
}

#[tokio::test]
async fn automtls_admits_only_the_pinned_client_certificate() {
    let (pem, cert, key) = terraform_like_identity();
    let plugin = launch(&pem);
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
    let mut plugin = launch(&pem);
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
    let (pem, cert, key) = terraform_like_identity();
    let mut plugin = launch(&pem);
    let mut ctl = GrpcControllerClient::new(tls_channel(&plugin, Some((cert, key))).await.unwrap());
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
