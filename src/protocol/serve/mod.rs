//! Starts the plugin: handshake, listener, AutoMTLS, and the gRPC server with every service
//! go-plugin and the CLI expect.
//!
//! Started by the CLI, the plugin serves only with AutoMTLS: without `PLUGIN_CLIENT_CERT` it
//! explains why and exits, since a plain gRPC port on loopback would let any local user drive
//! the provider with the launching user's AWS credentials. The one way to serve without
//! authentication is to ask for it: `-debug` (as terraform-plugin-go's providers do) serves on a
//! socket in a private directory, prints the `TF_REATTACH_PROVIDERS` value for the CLI, and warns
//! on stderr.

use super::generated::health::health_server::HealthServer;
use super::generated::plugin::{
    grpc_broker_server::GrpcBrokerServer, grpc_controller_server::GrpcControllerServer, grpc_stdio_server::GrpcStdioServer,
};
use super::generated::tfplugin6::provider_server::ProviderServer;
use super::handshake::{self, ReattachAddr};
use super::plugin_services::{Broker, Controller, HealthService, Stdio};
use super::provider_service::ProviderService;
use super::tls;
use crate::framework::provider::Provider;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

mod accept;
use accept::{accept_loop, Conn, Listener};

/// Terraform sends messages far above tonic's 4 MiB default (large states, big schemas).
const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// How long a client may take to complete the TLS handshake once connected. The CLI needs a few
/// milliseconds on loopback; a peer that connects and says nothing is dropped after this, so it
/// cannot hold a task and a socket for the life of the process.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The source address users write for this provider, the key of `TF_REATTACH_PROVIDERS` in
/// debug mode unless `-address` names another.
pub const DEFAULT_PROVIDER_ADDRESS: &str = "registry.terraform.io/maestro-iac/maestro";

const USAGE: &str = "\
Usage:
  terraform-provider-maestro
      What Terraform and OpenTofu run: serves the plugin protocol with AutoMTLS. Refuses to
      start unless the CLI launched it (TF_PLUGIN_MAGIC_COOKIE, PLUGIN_CLIENT_CERT).
  terraform-provider-maestro -debug [-address=HOST/NAMESPACE/maestro]
      Debug mode, for running the provider under a debugger: serves WITHOUT authentication
      (on unix, on a socket in a directory only your user can open) and prints the
      TF_REATTACH_PROVIDERS='...' line to export before running the CLI. Stop it with Ctrl-C.
      -address is the provider's source address as the CLI resolves it (default
      registry.terraform.io/maestro-iac/maestro; OpenTofu resolves a bare
      maestro-iac/maestro to registry.opentofu.org/maestro-iac/maestro).
";

/// How the process was asked to run.
#[derive(Debug, PartialEq, Eq)]
enum Mode {
    Plugin,
    Debug { address: String },
    Help,
}

/// Go's `flag` syntax, as providers built on terraform-plugin-go accept it: `-debug`,
/// `--debug`, `-debug=true|false`, `-address=X` or `-address X`.
fn parse_args(args: &[String]) -> Result<Mode, String> {
    let mut debug = false;
    let mut address = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let flag = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')).ok_or_else(|| format!("unexpected argument {arg:?}"))?;
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        match (name, value) {
            ("h" | "help", None) => return Ok(Mode::Help),
            ("debug", None | Some("true" | "1")) => debug = true,
            ("debug", Some("false" | "0")) => debug = false,
            ("address", Some(v)) => address = Some(v.to_string()),
            ("address", None) => address = Some(args.next().ok_or("-address needs a value")?.clone()),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    match (debug, address) {
        (true, address) => Ok(Mode::Debug { address: address.unwrap_or_else(|| DEFAULT_PROVIDER_ADDRESS.to_string()) }),
        (false, None) => Ok(Mode::Plugin),
        (false, Some(_)) => Err("-address is only used with -debug".to_string()),
    }
}

/// Runs the provider as a plugin process (or in debug mode when asked). Returns the exit code.
pub async fn serve<P: Provider>(provider: P) -> ExitCode {
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    match parse_args(&args) {
        Ok(Mode::Plugin) => serve_plugin(provider).await,
        Ok(Mode::Debug { address }) => serve_debug(provider, &address).await,
        Ok(Mode::Help) => {
            // `--help` is run by a person, never by Terraform, so stdout is free here.
            #[allow(clippy::print_stdout)]
            {
                print!("{USAGE}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("terraform-provider-maestro: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn fail(what: &str, e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("terraform-provider-maestro: {what}: {e}");
    ExitCode::FAILURE
}

/// Started by the CLI: handshake, AutoMTLS, serve until Shutdown.
async fn serve_plugin<P: Provider>(provider: P) -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    let version = match handshake::negotiate(env) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // Refused before anything listens.
    let client_pem = match handshake::client_certificate(env) {
        Ok(pem) => pem,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    super::logging::init();
    ignore_interrupts();
    let listener = match handshake::bind(handshake::port_range(env)).await {
        Ok(l) => l,
        Err(e) => return fail("cannot listen on loopback", &e),
    };
    let identity = match tls::generate_server_identity() {
        Ok(i) => i,
        Err(e) => return fail("cannot generate the TLS certificate", &e),
    };
    let client_der = match tls::parse_client_cert(&client_pem) {
        Ok(d) => d,
        Err(e) => return fail("bad PLUGIN_CLIENT_CERT", &e),
    };
    let tls_config = match tls::server_config(&identity, client_der) {
        Ok(c) => c,
        Err(e) => return fail("cannot configure TLS", &e),
    };
    // The key now lives in the TLS configuration only; its DER is wiped here.
    let server_cert = identity.cert_der.clone();
    drop(identity);
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return fail("listener has no address", &e),
    };
    let (shutdown_tx, shutdown_rx) = mpsc::channel(1);
    let server =
        tokio::spawn(serve_listener(provider, Listener::Tcp(listener), Some(tls_config), TLS_HANDSHAKE_TIMEOUT, shutdown_tx, shutdown_rx));
    if let Err(e) = handshake::announce(&handshake::handshake_line(version, addr, Some(&server_cert))) {
        return fail("cannot write the handshake", &e);
    }
    tracing::info!(%addr, "plugin server started (AutoMTLS)");
    match server.await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail("gRPC server failed", &e),
        Err(e) => fail("gRPC server panicked", &e),
    }
}

/// `-debug`: serve without authentication for a CLI told where by `TF_REATTACH_PROVIDERS`, until
/// Ctrl-C (or Shutdown). The CLI does not own the process, so it may run many commands against it.
async fn serve_debug<P: Provider>(provider: P, provider_address: &str) -> ExitCode {
    super::logging::init();
    let (listener, reattach_addr, _cleanup) = match debug_listener().await {
        Ok(l) => l,
        Err(e) => return fail("cannot open the debug listener", &e),
    };
    let exposure = match &reattach_addr {
        ReattachAddr::Unix(path) => format!(
            "whoever can connect to the unix socket\n  {}\ncan make this provider act with your AWS credentials. The socket is in a directory only\n\
             your user (and root) can open.",
            path.display()
        ),
        ReattachAddr::Tcp(addr) => {
            format!("any local user who connects to {addr}\ncan make this provider act with your AWS credentials.")
        }
    };
    eprintln!(
        "WARNING: terraform-provider-maestro is running in debug mode (-debug).\n\
         It serves the plugin protocol WITHOUT AutoMTLS or any other authentication: {exposure}\n\
         Use debug mode only to debug, on a machine you trust, and stop it with Ctrl-C when done."
    );
    let (shutdown_tx, shutdown_rx) = mpsc::channel(1);
    let mut server = tokio::spawn(serve_listener(provider, listener, None, TLS_HANDSHAKE_TIMEOUT, shutdown_tx, shutdown_rx));
    let reattach = handshake::reattach_providers(provider_address, std::process::id(), &reattach_addr);
    {
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(handshake::reattach_instructions(&reattach).as_bytes()).and_then(|()| out.flush()) {
            return fail("cannot write the reattach instructions", &e);
        }
    }
    tracing::info!(address = provider_address, "debug server started");
    tokio::select! {
        result = &mut server => match result {
            Ok(Ok(())) => ExitCode::SUCCESS,
            Ok(Err(e)) => fail("gRPC server failed", &e),
            Err(e) => fail("gRPC server panicked", &e),
        },
        _ = stop_requested() => {
            eprintln!("terraform-provider-maestro: debug server stopped");
            ExitCode::SUCCESS
        }
    }
}

/// Ctrl-C, or SIGTERM on unix: how a user (or a debugger) ends a debug-mode server.
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Removes the debug socket and its private directory when debug mode ends.
struct RemoveOnDrop(Vec<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path).or_else(|_| std::fs::remove_dir(path));
        }
    }
}

/// On unix, a socket in a fresh directory of mode 0700 under the temporary directory: only this
/// user (and root) can connect, where a loopback port would admit every local user. Elsewhere, a
/// loopback port.
async fn debug_listener() -> std::io::Result<(Listener, ReattachAddr, RemoveOnDrop)> {
    #[cfg(unix)]
    {
        use std::hash::BuildHasher;
        use std::os::unix::fs::DirBuilderExt;
        let mut attempt = 0;
        loop {
            let nonce = std::collections::hash_map::RandomState::new().hash_one((std::process::id(), std::time::Instant::now()));
            // Short names: macOS limits socket paths to 104 bytes, and its temporary directory is long.
            let dir = std::env::temp_dir().join(format!("maestro-debug-{nonce:016x}"));
            // `create` fails on anything already there (a symlink included), so the directory is
            // ours, with the mode set at creation (the umask can only narrow it).
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    let socket = dir.join("plugin");
                    let cleanup = RemoveOnDrop(vec![socket.clone(), dir]);
                    let listener = tokio::net::UnixListener::bind(&socket)?;
                    return Ok((Listener::Unix(listener), ReattachAddr::Unix(socket), cleanup));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let listener = handshake::bind(None).await?;
        let addr = listener.local_addr()?;
        Ok((Listener::Tcp(listener), ReattachAddr::Tcp(addr), RemoveOnDrop(Vec::new())))
    }
}

/// Ctrl-C in a terminal sends SIGINT to the CLI's whole process group, plugins included. The
/// CLI answers it itself, by asking each provider to stop (StopProvider) and waiting for the
/// running calls to return their partial state; a provider that died of the signal would lose
/// that state instead ("Plugin did not respond"). So, as go-plugin's servers do, interrupts are
/// counted and ignored. Registered before the handshake line, so no interrupt finds the
/// default action in place.
fn ignore_interrupts() {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
            Ok(mut interrupts) => {
                tokio::spawn(async move {
                    let mut count = 0u64;
                    while interrupts.recv().await.is_some() {
                        count += 1;
                        tracing::debug!(count, "interrupt signal ignored: the CLI stops us with StopProvider");
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot install the interrupt handler; Ctrl-C will end the plugin"),
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            tracing::debug!("interrupt ignored: the CLI stops us with StopProvider");
        }
    });
}

/// Serves on an already bound listener until the controller's Shutdown arrives. With
/// `tls_config`, clients must complete the TLS handshake within [`TLS_HANDSHAKE_TIMEOUT`].
pub async fn serve_on<P: Provider>(
    provider: P,
    listener: TcpListener,
    tls_config: Option<Arc<rustls::ServerConfig>>,
    shutdown_tx: mpsc::Sender<()>,
    shutdown_rx: mpsc::Receiver<()>,
) -> Result<(), tonic::transport::Error> {
    serve_listener(provider, Listener::Tcp(listener), tls_config, TLS_HANDSHAKE_TIMEOUT, shutdown_tx, shutdown_rx).await
}

async fn serve_listener<P: Provider>(
    provider: P,
    listener: Listener,
    tls_config: Option<Arc<rustls::ServerConfig>>,
    tls_handshake_timeout: Duration,
    shutdown_tx: mpsc::Sender<()>,
    mut shutdown_rx: mpsc::Receiver<()>,
) -> Result<(), tonic::transport::Error> {
    let (conn_tx, conn_rx) = mpsc::channel::<Result<Conn, std::io::Error>>(16);
    tokio::spawn(accept_loop(listener, tls_config, tls_handshake_timeout, conn_tx));
    let incoming = tokio_stream::wrappers::ReceiverStream::new(conn_rx);
    let provider = ProviderServer::new(ProviderService::new(provider))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let router = tonic::transport::Server::builder()
        .add_service(provider)
        .add_service(HealthServer::new(HealthService))
        .add_service(GrpcControllerServer::new(Controller { shutdown: shutdown_tx }))
        .add_service(GrpcStdioServer::new(Stdio))
        .add_service(GrpcBrokerServer::new(Broker));
    tokio::select! {
        result = router.serve_with_incoming(incoming) => result,
        _ = shutdown_rx.recv() => {
            // Give the Shutdown response a moment to reach the client; the CLI kills plugins
            // that linger for more than two seconds, and open connections would keep a
            // graceful shutdown waiting, so we simply stop here.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            tracing::info!("plugin server stopping");
            Ok(())
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_select_the_mode() {
        let debug = || Mode::Debug { address: DEFAULT_PROVIDER_ADDRESS.to_string() };
        assert_eq!(parse_args(&[]), Ok(Mode::Plugin));
        for flag in ["-debug", "--debug", "-debug=true", "--debug=1"] {
            assert_eq!(parse_args(&args(&[flag])), Ok(debug()), "{flag}");
        }
        assert_eq!(parse_args(&args(&["-debug=false"])), Ok(Mode::Plugin));
        let tofu = Mode::Debug { address: "registry.opentofu.org/maestro-iac/maestro".to_string() };
        assert_eq!(parse_args(&args(&["-debug", "-address=registry.opentofu.org/maestro-iac/maestro"])), Ok(tofu));
        let tofu = Mode::Debug { address: "registry.opentofu.org/maestro-iac/maestro".to_string() };
        assert_eq!(parse_args(&args(&["--address", "registry.opentofu.org/maestro-iac/maestro", "--debug"])), Ok(tofu));
        assert_eq!(parse_args(&args(&["-help"])), Ok(Mode::Help));
        assert!(parse_args(&args(&["-address=x"])).is_err(), "-address alone does not mean debug");
        assert!(parse_args(&args(&["-debugg"])).is_err());
        assert!(parse_args(&args(&["debug"])).is_err());
        assert!(parse_args(&args(&["-debug=maybe"])).is_err());
    }
}
