//! HTTP to the registration APIs, through the provider's own HTTPS client (the one the AWS SDK
//! uses, src/provider/https.rs: its proxies, its roots): one JSON request, with its answer,
//! retried with the provider's jittered backoff while the failure is one a later attempt may
//! not meet.
//!
//! TLS is always verified: against the provider's roots (Mozilla's plus `custom_ca_bundle` or
//! AWS_CA_BUNDLE), or, when the resource gives a CA, against that CA alone. There is no switch
//! to turn verification off.

use crate::provider::https::{self, Https, ProxiedClient};
use crate::provider::retry::{self, Backoff};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One request and its whole answer; a server that takes longer is retried like a lost answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A registration answers in milliseconds when well: a few attempts within a minute cover a
/// server restarting or a gateway throttling, and a dead endpoint still fails the apply soon.
pub const BACKOFF: Backoff = Backoff { first_delay: Duration::from_millis(500), max_attempts: 6, deadline: Some(Duration::from_secs(60)) };

/// What came back from the server, whatever its status.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("answer (HTTP {}) is not the JSON expected: {e}", self.status))
    }

    /// `code` and `reason` of a Maestro-shaped error (`{kind: "Error", code, reason}`), also
    /// what the platform API passes through.
    pub fn error(&self) -> Option<(String, String)> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        let code = v.get("code")?.as_str()?.to_string();
        Some((code, v.get("reason").and_then(|r| r.as_str()).unwrap_or_default().to_string()))
    }

    /// The text to show for an unexpected answer: the error's code and reason, or API
    /// Gateway's `message`, never more than a short excerpt of anything else.
    pub fn describe(&self) -> String {
        if let Some((code, reason)) = self.error() {
            return format!("HTTP {} {code}: {reason}", self.status);
        }
        let v: Option<serde_json::Value> = serde_json::from_slice(&self.body).ok();
        if let Some(message) = v.as_ref().and_then(|v| v.get("message").or_else(|| v.get("Message"))).and_then(|m| m.as_str()) {
            // API Gateway appends the canonical request to a signature mismatch: the first line says it.
            return format!("HTTP {}: {}", self.status, message.lines().next().unwrap_or_default());
        }
        let text: String = String::from_utf8_lossy(&self.body).chars().take(200).collect();
        format!("HTTP {}{}", self.status, if text.is_empty() { String::new() } else { format!(": {text}") })
    }

    /// Worth another attempt: throttled (429), or a server or gateway not answering for itself
    /// (5xx). A 500 carrying Maestro's own error is Maestro's considered answer (an invalid
    /// name, a database constraint) and would only come back again.
    fn is_transient(&self) -> bool {
        match self.status {
            // The platform API passes Maestro's answers on as 502 with Maestro's code (`maestro-<n>`).
            429 | 502..=504 => !(self.status == 502 && self.error().is_some_and(|(code, _)| is_maestro_code(&code))),
            500 => self.error().is_none(),
            s => s > 500,
        }
    }
}

/// `maestro-<n>`: an error Maestro itself answered (the platform API's own are words).
fn is_maestro_code(code: &str) -> bool {
    code.strip_prefix("maestro-").is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

#[derive(Debug)]
pub enum Failure {
    /// No answer: the connection failed or broke, or the answer did not come in time. Whether
    /// the server acted is unknown.
    Transport(String),
    /// TLS refused the server (an untrusted or mismatched certificate): another attempt would
    /// be refused the same way.
    Tls(String),
    /// The last answer was one to retry, and the attempts ran out.
    Exhausted(Answer),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport(e) => write!(f, "no answer: {e}"),
            Failure::Tls(e) => write!(
                f,
                "TLS refused the server's certificate: {e}. If the server's certificate is signed by a private CA, give that CA as ca_pem."
            ),
            Failure::Exhausted(a) => write!(f, "{} (still failing after retries)", a.describe()),
        }
    }
}

/// One request, as built by an API client; built again for each attempt (a signature carries
/// its time).
pub struct Request {
    pub method: hyper::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

pub struct Transport {
    client: ProxiedClient<Full<Bytes>>,
}

impl Transport {
    /// A client trusting the provider's roots, or only `ca_pem`'s certificates when given.
    pub fn new(ca_pem: Option<&str>) -> Result<Transport, String> {
        let provider = Https::configured();
        let https = match ca_pem {
            None => provider,
            Some(pem) => provider.trusting(https::tls_config_trusting_only(pem.as_bytes()).map_err(|e| format!("ca_pem: {e}"))?),
        };
        Ok(Transport { client: https.client(Some(CONNECT_TIMEOUT)) })
    }

    async fn once(&self, request: Request) -> Result<Answer, Failure> {
        let mut builder = hyper::Request::builder().method(request.method).uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let body = Full::new(Bytes::from(request.body.unwrap_or_default()));
        let request = builder.body(body).map_err(|e| Failure::Transport(format!("invalid request: {e}")))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(classify)?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.map_err(|e| Failure::Transport(format!("answer cut short: {e}")))?.to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(Failure::Transport(format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()))))
    }

    /// Sends what `build` makes until an answer is not one to retry, within [`BACKOFF`].
    /// `uncertain` is set when an attempt may have reached the server without its answer
    /// reaching us (so a create's "already exists" may be our own).
    pub async fn send(&self, what: &str, uncertain: &mut bool, build: impl Fn() -> Result<Request, String>) -> Result<Answer, Failure> {
        let lost = std::sync::atomic::AtomicBool::new(false);
        let result = retry::retry_while(
            what,
            BACKOFF,
            |f: &Failure| matches!(f, Failure::Transport(_) | Failure::Exhausted(_)),
            || async {
                let request = build().map_err(Failure::Transport)?;
                match self.once(request).await {
                    Ok(answer) if answer.is_transient() => {
                        // A 5xx from a gateway may come after the server acted.
                        if answer.status != 429 {
                            lost.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(Failure::Exhausted(answer))
                    }
                    Ok(answer) => Ok(answer),
                    Err(Failure::Transport(e)) => {
                        lost.store(true, std::sync::atomic::Ordering::Relaxed);
                        Err(Failure::Transport(e))
                    }
                    Err(other) => Err(other),
                }
            },
        )
        .await;
        *uncertain |= lost.load(std::sync::atomic::Ordering::Relaxed);
        result
    }
}

/// A refused certificate is permanent; anything else on the way is the network's.
fn classify(error: hyper_util::client::legacy::Error) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        let tls = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return Failure::Tls(tls.to_string());
        }
        source = e.source();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    // rustls's error may reach us only as text (an io::Error's source is its inner error's
    // source, not the inner error), so its words are recognised too.
    if text.contains("invalid peer certificate") || text.contains("peer sent no certificates") {
        return Failure::Tls(text);
    }
    Failure::Transport(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status, body: Bytes::from(body.to_string()) }
    }

    #[test]
    fn throttling_and_server_trouble_are_retried_maestros_own_answers_are_not() {
        assert!(answer(429, "").is_transient());
        assert!(answer(503, "").is_transient());
        assert!(answer(504, "upstream timeout").is_transient());
        assert!(answer(500, "<html>").is_transient());
        assert!(!answer(500, r#"{"kind":"Error","code":"maestro-9","reason":"Invalid value"}"#).is_transient());
        assert!(!answer(502, r#"{"kind":"Error","code":"maestro-6","reason":"This Consumer already exists"}"#).is_transient());
        assert!(answer(502, r#"{"kind":"Error","code":"maestro-error","reason":"Failed"}"#).is_transient());
        assert!(!answer(409, "").is_transient());
        assert!(!answer(403, "").is_transient());
    }

    #[test]
    fn descriptions_keep_the_first_line_of_a_gateway_message() {
        let a = answer(
            403,
            r#"{"message":"The request signature we calculated does not match.\n\nThe Canonical String for this request should have been\n'GET'"}"#,
        );
        assert_eq!(a.describe(), "HTTP 403: The request signature we calculated does not match.");
        assert_eq!(answer(404, r#"{"kind":"Error","code":"maestro-7","reason":"not found"}"#).describe(), "HTTP 404 maestro-7: not found");
    }
}
