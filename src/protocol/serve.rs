//! Starts the plugin: handshake, listener, optional AutoMTLS, and the gRPC server with every
//! service go-plugin and the CLI expect.

use super::generated::health::health_server::HealthServer;
use super::generated::plugin::{
    grpc_broker_server::GrpcBrokerServer, grpc_controller_server::GrpcControllerServer, grpc_stdio_server::GrpcStdioServer,
};
use super::generated::tfplugin6::provider_server::ProviderServer;
use super::handshake;
use super::plugin_services::{Broker, Controller, HealthService, Stdio};
use super::provider_service::ProviderService;
use super::tls;
use crate::framework::provider::Provider;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// Terraform sends messages far above tonic's 4 MiB default (large states, big schemas).
const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Runs the provider as a plugin process. Returns the process exit code.
pub async fn serve<P: Provider>(provider: P) -> std::process::ExitCode {
    let version = match handshake::negotiate(|k| std::env::var(k).ok()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    super::logging::init();
    ignore_interrupts();
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        eprintln!("terraform-provider-maestro: {what}: {e}");
        std::process::ExitCode::FAILURE
    };
    let listener = match handshake::bind(handshake::port_range(|k| std::env::var(k).ok())).await {
        Ok(l) => l,
        Err(e) => return fail("cannot listen on loopback", &e),
    };
    let client_cert = std::env::var("PLUGIN_CLIENT_CERT").ok().filter(|s| !s.trim().is_empty());
    let (tls_config, server_cert) = match client_cert {
        None => (None, None),
        Some(pem) => {
            let identity = match tls::generate_server_identity() {
                Ok(i) => i,
                Err(e) => return fail("cannot generate the TLS certificate", &e),
            };
            let client_der = match tls::parse_client_cert(&pem) {
                Ok(d) => d,
                Err(e) => return fail("bad PLUGIN_CLIENT_CERT", &e),
            };
            match tls::server_config(&identity, client_der) {
                Ok(c) => (Some(c), Some(identity.cert_der)),
                Err(e) => return fail("cannot configure TLS", &e),
            }
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return fail("listener has no address", &e),
    };
    let (shutdown_tx, shutdown_rx) = mpsc::channel(1);
    let server = tokio::spawn(serve_on(provider, listener, tls_config, shutdown_tx, shutdown_rx));
    if let Err(e) = handshake::announce(&handshake::handshake_line(version, addr, server_cert.as_deref())) {
        return fail("cannot write the handshake", &e);
    }
    tracing::info!(%addr, tls = server_cert.is_some(), "plugin server started");
    match server.await {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(e)) => fail("gRPC server failed", &e),
        Err(e) => fail("gRPC server panicked", &e),
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

/// Serves on an already bound listener until the controller's Shutdown arrives.
pub async fn serve_on<P: Provider>(
    provider: P,
    listener: TcpListener,
    tls_config: Option<Arc<rustls::ServerConfig>>,
    shutdown_tx: mpsc::Sender<()>,
    mut shutdown_rx: mpsc::Receiver<()>,
) -> Result<(), tonic::transport::Error> {
    let (conn_tx, conn_rx) = mpsc::channel::<Result<Conn, std::io::Error>>(16);
    tokio::spawn(accept_loop(listener, tls_config, conn_tx));
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

async fn accept_loop(
    listener: TcpListener,
    tls_config: Option<Arc<rustls::ServerConfig>>,
    conns: mpsc::Sender<Result<Conn, std::io::Error>>,
) {
    let acceptor = tls_config.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conns = conns.clone();
        match &acceptor {
            None => {
                if conns.send(Ok(Conn::Plain(stream))).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                // Handshakes run concurrently so one slow or hostile peer cannot block others.
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(tls) => {
                            let _ = conns.send(Ok(Conn::Tls(Box::new(tls)))).await;
                        }
                        Err(e) => tracing::warn!(%peer, error = %e, "rejected a TLS connection"),
                    }
                });
            }
        }
    }
}

/// A client connection, with or without TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
