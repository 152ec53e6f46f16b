//! The HTTP client every outbound request of the provider goes through: the AWS SDK's calls
//! and the registration API's REST calls (maestro_consumer_registration).
//!
//! The SDK's own `default-https-client` trusts the platform's root store through
//! rustls-native-certs, and on macOS that links Apple's Security and CoreFoundation frameworks,
//! which a Linux machine building the darwin release cannot link against. This client trusts
//! Mozilla's roots (webpki-roots, compiled in) plus, for users behind a TLS-inspecting proxy, the
//! certificates of a PEM bundle they name (`custom_ca_bundle` or `AWS_CA_BUNDLE`). It honours
//! HTTPS_PROXY/HTTP_PROXY/NO_PROXY (and their lowercase forms) as the SDK's client does: HTTPS
//! through a CONNECT tunnel, plain HTTP forwarded in absolute form. The connect and read
//! timeouts are the ones the SDK hands over with each connector request.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper::http::uri::Scheme;
use hyper::http::{header, Uri};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector as TcpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Roots to trust: Mozilla's, plus every certificate in `extra_ca_pem` (a PEM bundle).
/// Fails, naming the problem but quoting nothing of the file, when the bundle holds no usable
/// certificate.
pub fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(pem) = extra_ca_pem {
        add_pem_bundle(&mut roots, pem)?;
    }
    client_config(roots)
}

/// A CA-only trust for one endpoint whose server certificate a private CA signed (the
/// registration API's `ca_pem`): Mozilla's roots are left out on purpose, so nothing else can
/// vouch for that server. Quotes nothing of the PEM back.
pub fn tls_config_trusting_only(ca_pem: &[u8]) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    add_pem_bundle(&mut roots, ca_pem)?;
    client_config(roots)
}

/// Adds every certificate of a PEM bundle to `roots`. Fails, naming the problem but quoting
/// nothing of the bundle, when a certificate is unusable or the bundle holds none.
fn add_pem_bundle(roots: &mut RootCertStore, pem: &[u8]) -> Result<(), String> {
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("not a PEM certificate bundle: {e}"))?;
        roots.add(cert).map_err(|e| format!("a certificate in the bundle is not a usable CA certificate: {e}"))?;
        added += 1;
    }
    if added == 0 {
        return Err("the bundle holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_string());
    }
    Ok(())
}

/// rustls on aws-lc-rs with its safe protocol versions, trusting exactly `roots`.
fn client_config(roots: RootCertStore) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The provider's HTTPS settings: whom to trust and which proxies to go through. Every
/// outbound HTTP request of the provider, the SDK's and the registration API's, is made with
/// a client built from one of these, so a TLS-inspecting proxy's CA given once serves both.
#[derive(Clone)]
pub struct Https {
    tls: Arc<ClientConfig>,
    proxies: Arc<Matcher>,
}

/// The settings of the provider configuration this process serves. Terraform and OpenTofu
/// start one plugin process per provider configuration, so there is one in practice; were a
/// process configured twice, the latest configuration's settings apply.
static CONFIGURED: RwLock<Option<Https>> = RwLock::new(None);

impl Https {
    /// Trusting `tls`'s roots, proxies read from the environment now.
    pub fn new(tls: ClientConfig) -> Https {
        Https { tls: Arc::new(tls), proxies: Arc::new(Matcher::from_env()) }
    }

    /// Records these as the provider configuration's settings, for [`Https::configured`].
    pub fn set_configured(&self) {
        *CONFIGURED.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(self.clone());
    }

    /// The provider configuration's settings; before any configuration, Mozilla's roots and
    /// the environment's proxies.
    pub fn configured() -> Https {
        let configured = CONFIGURED.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        configured.unwrap_or_else(|| Https::new(tls_config(None).expect("Mozilla's roots alone always make a TLS configuration")))
    }

    /// The same proxies, trusting `tls`'s roots instead.
    pub fn trusting(&self, tls: ClientConfig) -> Https {
        Https { tls: Arc::new(tls), proxies: self.proxies.clone() }
    }

    /// The client for `SdkConfig::http_client`.
    pub fn sdk_client(&self) -> SharedHttpClient {
        SharedHttpClient::new(ProviderHttpClient { https: self.clone(), connectors: Arc::new(Mutex::new(HashMap::new())) })
    }

    /// A pooled hyper client for requests with bodies of type `B`, HTTP/1.1 or HTTP/2 as the
    /// server offers, connecting within `connect_timeout`.
    pub fn client<B>(&self, connect_timeout: Option<Duration>) -> ProxiedClient<B>
    where
        B: hyper::body::Body + Send + Unpin + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let mut tcp = TcpConnector::new();
        // https:// destinations reach this connector too; TLS is layered on by hyper-rustls.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let route = Route { tcp, proxies: self.proxies.clone(), connect_timeout };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.tls).clone())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(route);
        let client = Client::builder(TokioExecutor::new()).pool_timer(TokioTimer::new()).timer(TokioTimer::new()).build(https);
        ProxiedClient { client, proxies: self.proxies.clone() }
    }
}

/// A hyper client whose connections go directly or through the configured proxy.
pub struct ProxiedClient<B> {
    client: Client<hyper_rustls::HttpsConnector<Route>, B>,
    proxies: Arc<Matcher>,
}

impl<B> Clone for ProxiedClient<B> {
    fn clone(&self) -> Self {
        ProxiedClient { client: self.client.clone(), proxies: self.proxies.clone() }
    }
}

impl<B> std::fmt::Debug for ProxiedClient<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxiedClient").finish_non_exhaustive()
    }
}

impl<B> ProxiedClient<B>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    pub fn request(&self, mut request: hyper::Request<B>) -> hyper_util::client::legacy::ResponseFuture {
        // A forwarding proxy (plain HTTP) reads its credentials from the request itself; a
        // tunnel carries them on CONNECT instead (see `Route`).
        if request.uri().scheme() == Some(&Scheme::HTTP) {
            if let Some(auth) = self.proxies.intercept(request.uri()).and_then(|i| i.basic_auth().cloned()) {
                request.headers_mut().insert(header::PROXY_AUTHORIZATION, auth);
            }
        }
        self.client.request(request)
    }
}

/// The connect and read timeouts of one connector request.
type Timeouts = (Option<Duration>, Option<Duration>);

/// One pooled connector per pair of timeouts the SDK asks for, so connections are reused
/// across operations (the SDK asks for a connector for every operation).
#[derive(Clone)]
struct ProviderHttpClient {
    https: Https,
    connectors: Arc<Mutex<HashMap<Timeouts, SharedHttpConnector>>>,
}

impl std::fmt::Debug for ProviderHttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderHttpClient").finish_non_exhaustive()
    }
}

impl HttpClient for ProviderHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _components: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        connectors.entry(key).or_insert_with(|| SharedHttpConnector::new(self.connector(key.0, key.1))).clone()
    }
}

impl ProviderHttpClient {
    fn connector(&self, connect_timeout: Option<Duration>, read_timeout: Option<Duration>) -> PooledConnector {
        PooledConnector { client: self.https.client(connect_timeout), read_timeout }
    }
}

#[derive(Clone, Debug)]
struct PooledConnector {
    client: ProxiedClient<SdkBody>,
    read_timeout: Option<Duration>,
}

impl HttpConnector for PooledConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, response)
                    .await
                    .map_err(|_| ConnectorError::timeout(format!("no response within the read timeout ({limit:?})").into()))?,
                None => response.await,
            };
            match response {
                Ok(response) => {
                    HttpResponse::try_from(response.map(SdkBody::from_body_1_x)).map_err(|e| ConnectorError::other(e.into(), None))
                }
                Err(e) => Err(classify(e)),
            }
        })
    }
}

/// How the SDK's retry policy should see a failed exchange: timeouts and I/O failures
/// (refused or reset connections, an answer cut short) are transient; anything else is not
/// retried blindly.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let kind = failure_kind(&error);
    let error: BoxError = error.into();
    match kind {
        Failure::Timeout => ConnectorError::timeout(error),
        Failure::CutShort => ConnectorError::other(error, Some(ErrorKind::TransientError)),
        Failure::Request => ConnectorError::user(error),
        Failure::Io => ConnectorError::io(error),
        Failure::Other => ConnectorError::other(error, None),
    }
}

enum Failure {
    Timeout,
    CutShort,
    Request,
    Io,
    Other,
}

fn failure_kind(error: &hyper_util::client::legacy::Error) -> Failure {
    if error_chain(error).any(|e| e.is::<ConnectTimedOut>()) {
        return Failure::Timeout;
    }
    if let Some(hyper_error) = error_chain(error).find_map(|e| e.downcast_ref::<hyper::Error>()) {
        if hyper_error.is_timeout() {
            return Failure::Timeout;
        }
        if hyper_error.is_incomplete_message() {
            return Failure::CutShort;
        }
        if hyper_error.is_user() {
            return Failure::Request;
        }
    }
    if error.is_connect() || error_chain(error).any(|e| e.is::<std::io::Error>() || e.is::<hyper::Error>()) {
        return Failure::Io;
    }
    Failure::Other
}

/// `error` and each error below it.
fn error_chain<'a>(error: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

#[derive(Debug)]
struct ConnectTimedOut(Duration);

impl std::fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connection not established within the connect timeout ({:?})", self.0)
    }
}

impl StdError for ConnectTimedOut {}

/// Opens the TCP stream for a destination: directly, through a CONNECT tunnel when a proxy
/// takes its HTTPS, or to the proxy itself when one forwards its plain HTTP.
#[derive(Clone, Debug)]
struct Route {
    tcp: TcpConnector,
    proxies: Arc<Matcher>,
    connect_timeout: Option<Duration>,
}

impl tower_service::Service<Uri> for Route {
    type Response = RoutedStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<RoutedStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let intercept = self.proxies.intercept(&destination);
        let mut tcp = self.tcp.clone();
        let connect_timeout = self.connect_timeout;
        let connect = async move {
            let https = destination.scheme() == Some(&Scheme::HTTPS);
            match intercept {
                Some(proxy) if https => {
                    let mut tunnel = hyper_util::client::legacy::connect::proxy::Tunnel::new(proxy.uri().clone(), tcp);
                    if let Some(auth) = proxy.basic_auth() {
                        tunnel = tunnel.with_auth(auth.clone());
                    }
                    let io = tower_service::Service::call(&mut tunnel, destination).await?;
                    Ok(RoutedStream { io, forwarded: false })
                }
                Some(proxy) => {
                    let io = tower_service::Service::call(&mut tcp, proxy.uri().clone()).await?;
                    Ok(RoutedStream { io, forwarded: true })
                }
                None => {
                    let io = tower_service::Service::call(&mut tcp, destination).await?;
                    Ok(RoutedStream { io, forwarded: false })
                }
            }
        };
        Box::pin(async move {
            match connect_timeout {
                Some(limit) => tokio::time::timeout(limit, connect).await.map_err(|_| Box::new(ConnectTimedOut(limit)) as BoxError)?,
                None => connect.await,
            }
        })
    }
}

/// A TCP stream that knows whether it leads to a forwarding proxy, so hyper writes requests on
/// it in absolute form.
struct RoutedStream {
    io: TokioIo<TcpStream>,
    forwarded: bool,
}

impl Connection for RoutedStream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.forwarded)
    }
}

impl hyper::rt::Read for RoutedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: hyper::rt::ReadBufCursor<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for RoutedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

/// Only for tests: proxies from the given values instead of the process environment.
#[cfg(test)]
fn http_client_with_proxies(tls: ClientConfig, proxies: Matcher) -> ProviderHttpClient {
    let https = Https { tls: Arc::new(tls), proxies: Arc::new(proxies) };
    ProviderHttpClient { https, connectors: Arc::new(Mutex::new(HashMap::new())) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::PrivateKeyDer;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A private CA (PEM) and an HTTPS server on 127.0.0.1 whose certificate (for `localhost`)
    /// it signed. The server answers every request with 200 and `x-served-by: private-ca-server`.
    async fn private_https_server() -> (String, u16) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = ca_params.clone().self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_cert = CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&server_key, &issuer).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![server_cert.der().clone()], PrivateKeyDer::try_from(server_key.serialize_der()).unwrap())
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A refused handshake (the client not trusting us) just ends this task.
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\nx-served-by: private-ca-server\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (ca_pem, port)
    }

    /// A CONNECT-only proxy on 127.0.0.1 that records each CONNECT target, then relays bytes.
    async fn connect_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if client.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let target = head.strip_prefix("CONNECT ").and_then(|rest| rest.split(' ').next()).unwrap_or_default().to_string();
                    record.lock().unwrap().push(target.clone());
                    let Ok(mut upstream) = TcpStream::connect(target.replace("localhost", "127.0.0.1")).await else { return };
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        (port, seen)
    }

    /// The status and the `x-served-by` header of a GET.
    async fn get(client: &ProviderHttpClient, url: &str) -> Result<(u16, String), ConnectorError> {
        let connector = client.connector(Some(Duration::from_secs(5)), Some(Duration::from_secs(5)));
        let request = HttpRequest::try_from(hyper::http::Request::get(url).body(SdkBody::empty()).unwrap()).unwrap();
        let response = connector.call(request).await?;
        let served_by = response.headers().get("x-served-by").unwrap_or_default().to_string();
        Ok((response.status().as_u16(), served_by))
    }

    const SERVED: &str = "private-ca-server";

    fn no_proxies() -> Matcher {
        Matcher::builder().build()
    }

    #[tokio::test]
    async fn a_private_ca_is_refused_without_the_bundle_and_trusted_with_it() {
        let (ca_pem, port) = private_https_server().await;
        let url = format!("https://localhost:{port}/");

        let mozilla_only = http_client_with_proxies(tls_config(None).unwrap(), no_proxies());
        let refused = get(&mozilla_only, &url).await.expect_err("a certificate from a private CA must not be trusted");
        let chain = aws_smithy_types::error::display::DisplayErrorContext(&refused).to_string();
        assert!(chain.contains("UnknownIssuer") || chain.contains("unknown issuer"), "{chain}");

        let with_bundle = http_client_with_proxies(tls_config(Some(ca_pem.as_bytes())).unwrap(), no_proxies());
        assert_eq!(get(&with_bundle, &url).await.unwrap(), (200, SERVED.to_string()));
    }

    #[tokio::test]
    async fn https_goes_through_the_proxy_as_a_connect_tunnel_unless_no_proxy_names_the_host() {
        let (ca_pem, port) = private_https_server().await;
        let (proxy_port, seen) = connect_proxy().await;
        let url = format!("https://localhost:{port}/");
        let tls = || tls_config(Some(ca_pem.as_bytes())).unwrap();

        let proxied = Matcher::builder().https(format!("http://127.0.0.1:{proxy_port}")).build();
        assert_eq!(get(&http_client_with_proxies(tls(), proxied), &url).await.unwrap(), (200, SERVED.to_string()));
        assert_eq!(*seen.lock().unwrap(), vec![format!("localhost:{port}")]);

        let bypassed = Matcher::builder().https(format!("http://127.0.0.1:{proxy_port}")).no("localhost").build();
        assert_eq!(get(&http_client_with_proxies(tls(), bypassed), &url).await.unwrap(), (200, SERVED.to_string()));
        assert_eq!(seen.lock().unwrap().len(), 1, "NO_PROXY's host must be reached directly");
    }

    #[tokio::test]
    async fn a_rest_client_trusting_only_its_ca_refuses_mozillas_roots_and_shares_the_proxy() {
        use http_body_util::Full;
        use hyper::body::Bytes;
        let (ca_pem, port) = private_https_server().await;
        let (proxy_port, seen) = connect_proxy().await;
        let url = format!("https://localhost:{port}/");
        let provider = Https {
            tls: Arc::new(tls_config(None).unwrap()),
            proxies: Arc::new(Matcher::builder().https(format!("http://127.0.0.1:{proxy_port}")).build()),
        };
        let get = |https: &Https| {
            let client = https.client::<Full<Bytes>>(Some(Duration::from_secs(5)));
            let request = hyper::Request::get(url.as_str()).body(Full::new(Bytes::new())).unwrap();
            async move { client.request(request).await }
        };

        let refused = get(&provider).await.expect_err("Mozilla's roots must not vouch for a private CA");
        let chain: Vec<String> = error_chain(&refused).map(|e| e.to_string()).collect();
        assert!(chain.iter().any(|e| e.contains("UnknownIssuer") || e.contains("unknown issuer")), "{chain:?}");

        let only_its_ca = provider.trusting(tls_config_trusting_only(ca_pem.as_bytes()).unwrap());
        let response = get(&only_its_ca).await.unwrap();
        assert_eq!(response.headers().get("x-served-by").unwrap(), SERVED);
        assert_eq!(*seen.lock().unwrap(), vec![format!("localhost:{port}"), format!("localhost:{port}")], "both went through the proxy");
    }

    #[test]
    fn a_ca_only_trust_needs_a_certificate() {
        let error = tls_config_trusting_only(b"not PEM at all").unwrap_err();
        assert!(error.contains("no PEM certificate"), "{error}");
        assert!(!error.contains("not PEM at all"), "{error}");
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_retryable_io_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let client = http_client_with_proxies(tls_config(None).unwrap(), no_proxies());
        let error = get(&client, &format!("http://127.0.0.1:{port}/")).await.unwrap_err();
        assert!(error.is_io(), "{error:?}");
    }

    #[test]
    fn a_bundle_without_certificates_is_refused_without_quoting_it() {
        let error = tls_config(Some(b"secret-looking text, not PEM")).unwrap_err();
        assert!(error.contains("no PEM certificate"), "{error}");
        assert!(!error.contains("secret-looking"), "{error}");
    }
}
