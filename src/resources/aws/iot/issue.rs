//! CreateCertificateFromCsr, which is not idempotent: retried only when IoT refused it, and
//! after an ambiguous failure the certificate it may have issued is looked for (by its key) and
//! adopted before anything is sent again.

use super::objects::{attached_policies, find_certificate, principal_things, PAGE_SIZE};
use crate::crypto::{keys, Csr};
use crate::framework::{Diagnostic, Diagnostics};
use crate::provider::aws_error::{describe, is_throttling};
use crate::provider::retry::Backoff;
use crate::provider::{retry, AwsClients};
use crate::resources::common::aws_failure;
use aws_sdk_iot::types::CertificateStatus;

/// A certificate IoT Core has just issued.
#[derive(Clone, Debug, Default)]
pub struct Issued {
    pub id: String,
    pub arn: String,
    pub pem: String,
}

/// How far before the local clock's reading at the first CreateCertificateFromCsr a
/// certificate that request issued is looked for. The window compares the local clock with
/// IoT's creation dates, and nothing keeps the two close: SigV4 would refuse a request
/// signed more than 5 minutes off, but the SDK measures the skew from AWS's answers and signs
/// at AWS's time, so a host clock minutes (or more) off still works. A clock that is fast by
/// more than the margin would make our certificate look older than the window and end the
/// search before it, and the request would be sent again: the second ACTIVE certificate this
/// lookup is there to prevent. A slow clock only widens the window. The margin is therefore
/// generous: a wider window costs a DescribeCertificate per ACTIVE certificate issued in it,
/// in the rare case of an ambiguous failure, while missing ours costs a certificate nobody
/// records. The key comparison, not the window, decides what is ours.
pub const ISSUE_LOOKBACK_SECS: i64 = 3600;

/// CreateCertificateFromCsr (ACTIVE), which is not idempotent. The SDK's automatic retry is off for
/// this one call: it would resend after a timeout or a 5xx, when IoT may already have
/// issued a certificate, and leave an ACTIVE one nobody records. Instead, throttling (a
/// request IoT refused) is retried here; after an ambiguous failure (a 5xx, a lost answer)
/// the certificate IoT may have issued is looked for and adopted, and only when the lookup
/// says there is none is the request sent again, at most twice. When the lookup itself fails,
/// nothing is sent again (that could make a second certificate): the error is returned, naming
/// the action that failed, and the caller's next attempt looks again.
pub async fn issue_certificate(c: &AwsClients, csr: &Csr, for_whom: &str) -> Result<Issued, Diagnostics> {
    const AMBIGUOUS_RESENDS: u32 = 2;
    let since = crate::resources::rotation::now_secs() - ISSUE_LOOKBACK_SECS;
    let spki = csr.spki_der();
    let mut resends = 0;
    loop {
        let sent = retry::retry_while("iot:CreateCertificateFromCsr", Backoff::attempts(6), is_throttling, || {
            c.iot
                .create_certificate_from_csr()
                .certificate_signing_request(csr.pem())
                .set_as_active(true)
                .customize()
                .config_override(aws_sdk_iot::config::Builder::default().retry_config(aws_sdk_iot::config::retry::RetryConfig::disabled()))
                .send()
        })
        .await;
        let e = match sent {
            Ok(out) => {
                return Ok(Issued {
                    id: out.certificate_id().unwrap_or_default().to_string(),
                    arn: out.certificate_arn().unwrap_or_default().to_string(),
                    pem: out.certificate_pem().unwrap_or_default().to_string(),
                })
            }
            Err(e) => e,
        };
        let status = e.raw_response().map(|r| r.status().as_u16());
        // A 4xx answer means IoT refused the request; anything else may have issued one.
        let refused = e.as_service_error().is_some() && status.is_some_and(|s| (400..500).contains(&s));
        if refused {
            return Err(aws_failure("iot:CreateCertificateFromCsr", for_whom, &e));
        }
        tracing::warn!(for_whom, "CreateCertificateFromCsr failed ambiguously; looking for a certificate it may have issued");
        match find_certificate_of_key(c, since, spki, &Attachable::NOTHING).await {
            Ok(Some((found, _))) => return Ok(found),
            Ok(None) => {}
            Err(lookup) => return Err(unresolved_issue(for_whom, &describe(&e), lookup)),
        }
        if resends == AMBIGUOUS_RESENDS || crate::framework::cancel::is_stopped() {
            return Err(aws_failure("iot:CreateCertificateFromCsr", for_whom, &e));
        }
        // None was issued, so sending the request again cannot make a second certificate.
        resends += 1;
        tokio::time::sleep(retry::jittered(std::time::Duration::from_secs(1))).await;
    }
}

/// The error of a CreateCertificateFromCsr whose outcome is unknown (`sent`: how it failed)
/// and whose certificate could not be looked for: why nothing was sent again, then the
/// lookup's own error, which names the action that failed.
fn unresolved_issue(for_whom: &str, sent: &str, lookup: Diagnostics) -> Diagnostics {
    let mut out: Diagnostics = Diagnostic::error(
        "iot:CreateCertificateFromCsr failed",
        format!(
            "iot:CreateCertificateFromCsr for {for_whom}: {sent}. IoT Core may have issued the certificate all the same, and looking for it failed, so the request was not sent again: that could leave a second ACTIVE certificate that nothing records. The next apply looks for it again, with iot:ListCertificates, iot:DescribeCertificate, iot:ListPrincipalThings and iot:ListAttachedPolicies."
        ),
    )
    .into();
    out.extend(lookup);
    out
}

/// What a certificate left by an unfinished request of ours may already be attached to: the
/// thing and policy of the same create, and nothing else.
pub struct Attachable<'a> {
    pub thing: Option<&'a str>,
    pub policy: Option<&'a str>,
}

impl Attachable<'_> {
    pub const NOTHING: Attachable<'static> = Attachable { thing: None, policy: None };

    /// Whether a certificate attached to `things` and `policies` is attached to nothing else.
    fn allows(&self, things: &[String], policies: &[String]) -> bool {
        let only = |found: &[String], allowed: Option<&str>| found.iter().all(|f| Some(f.as_str()) == allowed);
        only(things, self.thing) && only(policies, self.policy)
    }
}

/// Where a found certificate is attached already (so only the rest is attached).
pub struct FoundAttachments {
    pub thing: bool,
    pub policy: bool,
}

/// An ACTIVE certificate for `spki`, created after `since` (seconds since the epoch, by IoT's
/// clock: callers leave a margin for their own), attached to nothing beyond `attachable`: the one
/// a CreateCertificateFromCsr of ours issued when its answer was lost or its provider was
/// killed (only our CSR carries that key). `Ok(None)` only when every certificate of the
/// window was looked at; any failed call is an error, never "none", since "none" lets the
/// caller issue another.
pub async fn find_certificate_of_key(
    c: &AwsClients,
    since: i64,
    spki: &[u8],
    attachable: &Attachable<'_>,
) -> Result<Option<(Issued, FoundAttachments)>, Diagnostics> {
    Ok(certificates_of_key(c, since, spki, attachable, 1).await?.pop())
}

/// Up to `limit` certificates as [`find_certificate_of_key`] finds them, in the list's order.
///
/// ListCertificates is followed page by page with its paginator, asked newest first
/// (`ascendingOrder` false): once a page, in that order, ends older than `since`, every later
/// page is older still and none is asked for. A list that does not come newest first (moto
/// 5.2.5 ignores the order, and the page size) is read to its end.
pub async fn certificates_of_key(
    c: &AwsClients,
    since: i64,
    spki: &[u8],
    attachable: &Attachable<'_>,
    limit: usize,
) -> Result<Vec<(Issued, FoundAttachments)>, Diagnostics> {
    let mut matched = Vec::new();
    let mut pages = c.iot.list_certificates().ascending_order(false).into_paginator().page_size(PAGE_SIZE).send();
    while let Some(page) = pages.try_next().await.map_err(|e| aws_failure("iot:ListCertificates", "the account's certificates", &e))? {
        let certificates = page.certificates();
        for cert in certificates {
            if !in_window(cert.creation_date().map(|d| d.secs()), since) || cert.status() != Some(&CertificateStatus::Active) {
                continue;
            }
            let (Some(id), Some(arn)) = (cert.certificate_id(), cert.certificate_arn()) else { continue };
            // Gone since it was listed: not one to take back.
            let Some(described) = find_certificate(c, id).await? else { continue };
            if keys::cert_public_key_spki(&described.pem).ok().as_deref() != Some(spki) {
                continue;
            }
            let Some(things) = principal_things(c, arn).await? else { continue };
            let Some(policies) = attached_policies(c, arn).await? else { continue };
            if !attachable.allows(&things, &policies) {
                continue;
            }
            tracing::info!(certificate_id = id, "found the certificate an unfinished request of ours issued");
            let attached = FoundAttachments { thing: !things.is_empty(), policy: !policies.is_empty() };
            matched.push((Issued { id: id.to_string(), arn: arn.to_string(), pem: described.pem }, attached));
            if matched.len() >= limit {
                return Ok(matched);
            }
        }
        let dates: Vec<Option<i64>> = certificates.iter().map(|c| c.creation_date().map(|d| d.secs())).collect();
        if past_window(&dates, since) {
            break;
        }
    }
    Ok(matched)
}

/// Whether a certificate created at `created` may be one issued since `since`. One without a
/// creation date is looked at: skipping ours would let a second one be issued.
fn in_window(created: Option<i64>, since: i64) -> bool {
    created.is_none_or(|d| d >= since)
}

/// Whether a ListCertificates page asked newest first shows that every later page is older
/// than `since`: its dates are newest first indeed (an emulator may ignore the order) and its
/// last is older than `since`. A certificate without a date proves nothing.
fn past_window(dates: &[Option<i64>], since: i64) -> bool {
    let Some(dates) = dates.iter().copied().collect::<Option<Vec<i64>>>() else { return false };
    dates.last().is_some_and(|&last| last < since) && dates.windows(2).all(|w| w[0] >= w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_without_a_date_is_looked_at() {
        assert!(in_window(Some(100), 100));
        assert!(!in_window(Some(99), 100));
        assert!(in_window(None, 100), "skipping it could let a second certificate be issued");
    }

    #[test]
    fn only_a_newest_first_page_ending_before_the_window_ends_the_search() {
        // Newest first, the last one older: later pages are older still.
        assert!(past_window(&[Some(300), Some(200), Some(50)], 100));
        // Still in the window at the page's end: the next page may hold ours.
        assert!(!past_window(&[Some(300), Some(200), Some(150)], 100));
        // Oldest first (moto 5.2.5 ignores ascendingOrder): no conclusion, read on.
        assert!(!past_window(&[Some(50), Some(200), Some(30)], 100));
        assert!(!past_window(&[Some(10), Some(20), Some(30)], 100));
        // A date missing, or an empty page: no conclusion.
        assert!(!past_window(&[Some(300), None, Some(50)], 100));
        assert!(!past_window(&[], 100));
        // Equal dates are in order.
        assert!(past_window(&[Some(50), Some(50)], 100));
    }

    #[test]
    fn a_found_certificate_is_ours_only_when_attached_to_nothing_else() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ours = Attachable { thing: Some("t"), policy: Some("p") };
        assert!(ours.allows(&[], &[]));
        assert!(ours.allows(&names(&["t"]), &names(&["p"])));
        assert!(!ours.allows(&names(&["t", "other"]), &names(&["p"])));
        assert!(!ours.allows(&names(&["t"]), &names(&["other"])));
        assert!(Attachable::NOTHING.allows(&[], &[]));
        assert!(!Attachable::NOTHING.allows(&[], &names(&["p"])));
    }

    /// A stand-in for IoT Core's REST API on a local port: `answer` gives (status, body) for a
    /// request line (`METHOD /path?query`); every request line is logged.
    mod fake_iot {
        use crate::provider::AwsClients;
        use std::sync::{Arc, Mutex};
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

        pub type Answer = Arc<dyn Fn(&str) -> (u16, String) + Send + Sync>;

        pub async fn start(answer: Answer) -> (AwsClients, Arc<Mutex<Vec<String>>>) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let log = Arc::new(Mutex::new(Vec::new()));
            let seen = log.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((socket, _)) = listener.accept().await else { return };
                    let (answer, seen) = (answer.clone(), seen.clone());
                    tokio::spawn(async move {
                        let (read, mut write) = socket.into_split();
                        let mut read = BufReader::new(read);
                        loop {
                            let mut request = String::new();
                            if read.read_line(&mut request).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let mut length = 0;
                            loop {
                                let mut header = String::new();
                                read.read_line(&mut header).await.unwrap();
                                if header.trim().is_empty() {
                                    break;
                                }
                                if let Some((name, value)) = header.split_once(':') {
                                    if name.eq_ignore_ascii_case("content-length") {
                                        length = value.trim().parse().unwrap();
                                    }
                                }
                            }
                            let mut body = vec![0; length];
                            read.read_exact(&mut body).await.unwrap();
                            let line = request.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                            seen.lock().unwrap().push(line.clone());
                            let (status, body) = answer(&line);
                            let error = serde_json::from_str::<serde_json::Value>(&body)
                                .ok()
                                .and_then(|v| v.get("__type").and_then(|t| t.as_str()).map(|t| format!("x-amzn-ErrorType: {t}\r\n")))
                                .unwrap_or_default();
                            let response = format!(
                                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{error}content-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            write.write_all(response.as_bytes()).await.unwrap();
                        }
                    });
                }
            });
            let sdk = aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                // The SDK is built without an HTTP client of its own: the provider's, as configure gives it.
                .http_client(crate::provider::https::Https::configured().sdk_client())
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test"),
                ))
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .endpoint_url(url)
                .build();
            let clients = AwsClients {
                region: "us-east-1".into(),
                account_id: "123456789012".into(),
                partition: "aws".into(),
                caller_arn: "arn:aws:iam::123456789012:user/test".into(),
                topic_prefix: "sources/maestro/consumers".into(),
                default_tags: Default::default(),
                iam: aws_sdk_iam::Client::new(&sdk),
                iot: aws_sdk_iot::Client::new(&sdk),
                eks: aws_sdk_eks::Client::new(&sdk),
                secretsmanager: aws_sdk_secretsmanager::Client::new(&sdk),
                kms: aws_sdk_kms::Client::new(&sdk),
                sts: aws_sdk_sts::Client::new(&sdk),
                credentials: None,
                iot_data_endpoint: Default::default(),
                agent_chart: None,
                server_chart: None,
                deployed_agent_claims: Default::default(),
            };
            (clients, log)
        }

        pub fn error(code: &str) -> String {
            serde_json::json!({ "__type": code, "message": "injected by the test" }).to_string()
        }

        pub fn summary(id: &str, created: i64) -> serde_json::Value {
            serde_json::json!({
                "certificateId": id,
                "certificateArn": format!("arn:aws:iot:us-east-1:123456789012:cert/{id}"),
                "status": "ACTIVE",
                "creationDate": created,
            })
        }

        pub fn description(id: &str, pem: &str) -> String {
            let mut d = summary(id, crate::resources::rotation::now_secs());
            d["certificatePem"] = serde_json::Value::String(pem.to_string());
            serde_json::json!({ "certificateDescription": d }).to_string()
        }

        /// A CSR, and a certificate of the same key.
        pub fn csr_and_certificate() -> (crate::crypto::Csr, String) {
            let key = crate::crypto::keys::generate(Default::default()).unwrap();
            let csr = crate::crypto::Csr::for_key(&key, "test").unwrap();
            let pair = rcgen::KeyPair::from_pem(key.private_key_pem().expose()).unwrap();
            let cert = rcgen::CertificateParams::new(vec!["test".to_string()]).unwrap().self_signed(&pair).unwrap();
            (csr, cert.pem())
        }

        pub fn count(log: &Mutex<Vec<String>>, line: &str) -> usize {
            log.lock().unwrap().iter().filter(|l| l.starts_with(line)).count()
        }
    }

    const CREATE: &str = "POST /certificates";
    const LIST: &str = "GET /certificates?";

    #[tokio::test]
    async fn a_failed_lookup_after_an_ambiguous_answer_is_not_taken_for_none() {
        let (csr, _) = fake_iot::csr_and_certificate();
        let (c, log) = fake_iot::start(std::sync::Arc::new(|line: &str| match line {
            l if l.starts_with(CREATE) => (500, fake_iot::error("InternalFailureException")),
            l if l.starts_with(LIST) => (403, fake_iot::error("AccessDeniedException")),
            _ => (404, fake_iot::error("ResourceNotFoundException")),
        }))
        .await;
        let d = issue_certificate(&c, &csr, "consumer mc-1").await.expect_err("the lookup failed, yet a certificate came back");
        assert_eq!(fake_iot::count(&log, CREATE), 1, "sent again after a failed lookup: {:?}", log.lock().unwrap());
        assert!(d.0.iter().any(|d| d.summary == "iot:ListCertificates failed"), "{d}");
        assert!(d.0[0].detail.contains("not sent again"), "{d}");
    }

    #[tokio::test]
    async fn every_page_of_certificates_is_looked_at_for_the_one_issued() {
        let (csr, ours) = fake_iot::csr_and_certificate();
        let (_, other) = fake_iot::csr_and_certificate();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let now = crate::resources::rotation::now_secs();
        let (a2, b2, ours2) = (a.clone(), b.clone(), ours.clone());
        let (c, log) = fake_iot::start(std::sync::Arc::new(move |line: &str| match line {
            l if l.starts_with(CREATE) => (500, fake_iot::error("InternalFailureException")),
            l if l.starts_with(LIST) && l.contains("marker=m1") => {
                (200, serde_json::json!({ "certificates": [fake_iot::summary(&b2, now - 5)] }).to_string())
            }
            l if l.starts_with(LIST) => {
                (200, serde_json::json!({ "certificates": [fake_iot::summary(&a2, now)], "nextMarker": "m1" }).to_string())
            }
            l if l.starts_with(&format!("GET /certificates/{a2}")) => (200, fake_iot::description(&a2, &other)),
            l if l.starts_with(&format!("GET /certificates/{b2}")) => (200, fake_iot::description(&b2, &ours2)),
            l if l.starts_with("GET /principals/things") => (200, r#"{"things":[]}"#.to_string()),
            l if l.starts_with("POST /attached-policies/") => (200, r#"{"policies":[]}"#.to_string()),
            _ => (404, fake_iot::error("ResourceNotFoundException")),
        }))
        .await;
        let issued = issue_certificate(&c, &csr, "consumer mc-1").await.expect("the issued certificate is on the second page");
        assert_eq!(issued.id, b);
        assert_eq!(issued.pem, ours);
        assert_eq!(fake_iot::count(&log, CREATE), 1);
        assert_eq!(fake_iot::count(&log, LIST), 2, "{:?}", log.lock().unwrap());
    }

    #[tokio::test]
    async fn the_lookup_ends_at_the_first_page_older_than_the_window_and_sends_again() {
        let (csr, ours) = fake_iot::csr_and_certificate();
        let old = "c".repeat(64);
        let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (c, log) = fake_iot::start(std::sync::Arc::new(move |line: &str| match line {
            l if l.starts_with(CREATE) => match tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => (500, fake_iot::error("InternalFailureException")),
                _ => (
                    200,
                    serde_json::json!({
                        "certificateId": "d".repeat(64),
                        "certificateArn": "arn:aws:iot:us-east-1:123456789012:cert/dd",
                        "certificatePem": ours,
                    })
                    .to_string(),
                ),
            },
            // Newest first, and already older than the window: no later page is asked for.
            l if l.starts_with(LIST) && l.contains("marker=") => (500, fake_iot::error("InternalFailureException")),
            l if l.starts_with(LIST) => (
                200,
                serde_json::json!({ "certificates": [fake_iot::summary(&old, 2_000), fake_iot::summary(&old, 1_000)], "nextMarker": "m1" })
                    .to_string(),
            ),
            _ => (404, fake_iot::error("ResourceNotFoundException")),
        }))
        .await;
        let issued = issue_certificate(&c, &csr, "consumer mc-1").await.expect("none was issued, so it is sent again");
        assert_eq!(issued.id, "d".repeat(64));
        assert_eq!(fake_iot::count(&log, CREATE), 2);
        assert_eq!(fake_iot::count(&log, LIST), 1, "{:?}", log.lock().unwrap());
        assert_eq!(fake_iot::count(&log, "GET /certificates/"), 0, "certificates older than the window are not described");
    }

    #[test]
    fn an_unresolved_issue_says_why_it_was_not_sent_again_and_names_the_lookup_action() {
        let lookup: Diagnostics =
            Diagnostic::error("iot:ListCertificates failed", "iot:ListCertificates for the account's certificates: AccessDenied").into();
        let d = unresolved_issue("consumer mc-1", "InternalFailure (HTTP 500)", lookup);
        assert_eq!(d.0.len(), 2);
        assert!(d.0[0].detail.contains("consumer mc-1") && d.0[0].detail.contains("not sent again"), "{}", d.0[0].detail);
        assert_eq!(d.0[1].summary, "iot:ListCertificates failed");
        assert!(d.has_errors());
    }
}
