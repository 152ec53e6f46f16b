//! Where connections come from and how they are taken: the accept loop with its back-off
//! after failures and its TLS handshake deadline, and the connection types tonic serves on.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// Where connections come from: the CLI's loopback port, or debug mode's private socket.
pub(super) enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
}

/// A source of connections; a trait so the accept loop can be tested with one that fails.
pub(super) trait Accept: Send + 'static {
    /// The next connection and a description of its peer, for logs.
    fn accept(&mut self) -> impl Future<Output = std::io::Result<(Accepted, String)>> + Send;
}

impl Accept for Listener {
    async fn accept(&mut self) -> std::io::Result<(Accepted, String)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, peer) = l.accept().await?;
                let _ = stream.set_nodelay(true);
                Ok((Accepted::Tcp(stream), peer.to_string()))
            }
            #[cfg(unix)]
            Listener::Unix(l) => {
                let (stream, _) = l.accept().await?;
                Ok((Accepted::Unix(stream), "unix socket".to_string()))
            }
        }
    }
}

/// After a failed accept, wait before the next one: the usual causes (out of file descriptors,
/// out of memory) last a while, and retrying at once would spin a core and flood the log. The
/// wait starts at 5 ms, doubles up to 1 s, and resets with the next success (as Go's servers do).
#[derive(Default)]
struct AcceptBackoff(Duration);

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    fn failed(&mut self) -> Duration {
        self.0 = if self.0.is_zero() { Self::FIRST } else { (self.0 * 2).min(Self::MAX) };
        self.0
    }

    fn succeeded(&mut self) {
        self.0 = Duration::ZERO;
    }
}

pub(super) async fn accept_loop(
    mut listener: impl Accept,
    tls_config: Option<Arc<rustls::ServerConfig>>,
    tls_handshake_timeout: Duration,
    conns: mpsc::Sender<Result<Conn, std::io::Error>>,
) {
    let acceptor = tls_config.map(tokio_rustls::TlsAcceptor::from);
    let mut backoff = AcceptBackoff::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => {
                backoff.succeeded();
                s
            }
            Err(e) => {
                let wait = backoff.failed();
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "accept failed");
                tokio::time::sleep(wait).await;
                if conns.is_closed() {
                    return;
                }
                continue;
            }
        };
        let conns = conns.clone();
        match &acceptor {
            None => {
                if conns.send(Ok(Conn::Plain(stream))).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                // Handshakes run concurrently so one slow or hostile peer cannot block others,
                // and each is bounded in time so a silent one cannot stay forever.
                tokio::spawn(async move {
                    match tokio::time::timeout(tls_handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = conns.send(Ok(Conn::Tls(Box::new(tls)))).await;
                        }
                        Ok(Err(e)) => tracing::warn!(%peer, error = %e, "rejected a TLS connection"),
                        Err(_) => tracing::warn!(
                            %peer,
                            timeout_ms = tls_handshake_timeout.as_millis() as u64,
                            "dropped a connection that did not complete the TLS handshake in time"
                        ),
                    }
                });
            }
        }
    }
}

/// An accepted stream, before TLS.
pub enum Accepted {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

/// A client connection, with or without TLS.
pub enum Conn {
    Plain(Accepted),
    Tls(Box<TlsStream<Accepted>>),
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

macro_rules! delegate_io {
    ($self:ident, $s:ident => $call:expr) => {
        match $self.get_mut() {
            Conn::Plain(Accepted::Tcp($s)) => {
                let $s = Pin::new($s);
                $call
            }
            #[cfg(unix)]
            Conn::Plain(Accepted::Unix($s)) => {
                let $s = Pin::new($s);
                $call
            }
            Conn::Tls($s) => {
                let $s = Pin::new($s.as_mut());
                $call
            }
        }
    };
}

macro_rules! delegate_accepted_io {
    ($self:ident, $s:ident => $call:expr) => {
        match $self.get_mut() {
            Accepted::Tcp($s) => {
                let $s = Pin::new($s);
                $call
            }
            #[cfg(unix)]
            Accepted::Unix($s) => {
                let $s = Pin::new($s);
                $call
            }
        }
    };
}

impl AsyncRead for Accepted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        delegate_accepted_io!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Accepted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        delegate_accepted_io!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate_accepted_io!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate_accepted_io!(self, s => s.poll_shutdown(cx))
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        delegate_io!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        delegate_io!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate_io!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate_io!(self, s => s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::super::TLS_HANDSHAKE_TIMEOUT;
    use super::*;
    use crate::protocol::tls;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;
    use tokio::io::AsyncReadExt;

    #[test]
    fn accept_backoff_grows_to_a_cap_and_resets() {
        let mut b = AcceptBackoff::default();
        let waits: Vec<u64> = (0..10).map(|_| b.failed().as_millis() as u64).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(), Duration::from_millis(5));
    }

    /// A listener whose every accept fails at once, as with EMFILE.
    struct Failing(Arc<AtomicU32>);

    impl Accept for Failing {
        async fn accept(&mut self) -> std::io::Result<(Accepted, String)> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(std::io::Error::other("too many open files"))
        }
    }

    #[tokio::test]
    async fn failed_accepts_are_retried_with_a_backoff_not_a_spin() {
        let calls = Arc::new(AtomicU32::new(0));
        let (tx, _rx) = mpsc::channel(1);
        let task = tokio::spawn(accept_loop(Failing(calls.clone()), None, TLS_HANDSHAKE_TIMEOUT, tx));
        tokio::time::sleep(Duration::from_millis(300)).await;
        task.abort();
        // 5+10+20+40+80 ms fit in 300 ms (with the next wait under way): about six calls. A loop
        // without the wait makes millions.
        let n = calls.load(Ordering::SeqCst);
        assert!((2..=8).contains(&n), "{n} accept calls in 300 ms");
    }

    /// A client that connects and never starts the TLS handshake is disconnected once the
    /// handshake timeout passes, and never reaches the gRPC server.
    #[tokio::test]
    async fn a_silent_client_is_dropped_after_the_handshake_timeout() {
        let identity = tls::generate_server_identity().unwrap();
        let client = tls::generate_server_identity().unwrap();
        let config = tls::server_config(&identity, client.cert_der.clone()).unwrap();
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        let timeout = Duration::from_millis(300);
        let task = tokio::spawn(accept_loop(Listener::Tcp(listener), Some(config), timeout, tx));

        let mut silent = TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 64];
        // Without the timeout the server would wait for the ClientHello forever.
        let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf)).await.expect("the server hung up");
        let took = start.elapsed();
        assert!(matches!(read, Ok(0)) || read.is_err(), "expected the connection closed, got {read:?}");
        assert!(took >= Duration::from_millis(250), "closed after {took:?}, before the timeout");
        assert!(rx.try_recv().is_err(), "no connection may reach the server");
        task.abort();
    }
}
