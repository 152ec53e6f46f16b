//! The schema of `maestro_consumer_registration` and the validators its arguments go through.

use super::model::attr;
use crate::framework::schema::{Attribute, Block, NestedBlock, Schema, Validator};
use crate::framework::validators;
use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::policy::naming;
use std::sync::Arc;

/// An `https://` URL, or `http://` to a loopback address (a port-forward or a local test
/// server): a bearer token or a signed request never crosses a network in clear text. No user
/// information (it would be a credential in state), query or fragment: paths are appended.
pub(super) fn check_api_url(url: &str) -> Result<(), String> {
    let refuse = |why: &str| Err(format!("{why}, got {url:?}"));
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("must be a URL without spaces");
    }
    let (secure, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        _ => return refuse("must be an https:// URL"),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return refuse("must name a host after https://");
    }
    if authority.contains('@') {
        return refuse(
            "must not carry user information (user:password@): give credentials as bearer_token or through the provider's AWS credentials",
        );
    }
    if rest.contains('?') || rest.contains('#') {
        return refuse("must not have a query or fragment: the API's paths are appended to it");
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if !secure && !matches!(host, "127.0.0.1" | "localhost" | "::1") {
        return refuse("must be https:// (http:// is accepted only for a loopback address such as a port-forward: a bearer token or a signed request must not cross a network in clear text)");
    }
    Ok(())
}

/// At least one PEM certificate, and nothing that does not parse as one.
pub(super) fn check_ca_pem(pem: &str) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let mut count = 0;
    for item in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        if let Err(e) = item {
            return Err(format!("must be PEM certificates (the CA that signed the server's certificate): {e}"));
        }
        count += 1;
    }
    if count == 0 {
        return Err(
            "must hold at least one PEM certificate (-----BEGIN CERTIFICATE-----), the CA that signed the server's certificate".into()
        );
    }
    Ok(())
}

/// Label keys and values Maestro stores: keys not empty, and no NUL character anywhere
/// (Maestro keeps labels in a PostgreSQL jsonb column, which refuses `\u0000`).
pub(super) fn labels_validator() -> Validator {
    Arc::new(|v: &Value| {
        let Some(entries) = v.as_map() else { return Ok(()) };
        for (key, value) in entries {
            if key.is_empty() {
                return Err("label keys must not be empty".into());
            }
            if key.contains('\0') || value.as_str().is_some_and(|s| s.contains('\0')) {
                return Err(format!("label {key:?} holds a NUL character, which Maestro's database refuses"));
            }
        }
        Ok(())
    })
}

/// A token that fits in an HTTP header: no white space or control characters. A token read
/// with `file()` keeps its final newline, which no server would accept in the header.
fn bearer_token_validator() -> Validator {
    validators::opaque(|token| {
        if token.satisfies(|t| t.chars().any(|c| c.is_whitespace() || c.is_control())) {
            Err("must not contain white space or control characters (a token read with file() keeps its final newline: wrap it in trimspace())".into())
        } else {
            Ok(())
        }
    })
}

fn ca_pem_attribute() -> Attribute {
    Attribute::string(attr::CA_PEM).optional().validate(validators::rule(check_ca_pem)).description(
        "PEM of the CA that signed the server's TLS certificate, when it is not one the system trusts. Only certificates this CA signed are then accepted; TLS is always verified.",
    )
}

pub fn schema() -> Schema {
    let maestro_api = Block::new("Maestro's own REST API (`<url>/api/maestro/v1/consumers`).")
        .attribute(Attribute::string(attr::URL).required().validate(validators::rule(check_api_url)).description(
            "Base URL of the Maestro server's REST API, e.g. `https://maestro.example.com` (`http://` only for a loopback address, such as a port-forward).",
        ))
        .attribute(Attribute::string(attr::BEARER_TOKEN).optional().sensitive().validate(validators::length(1, 16384)).validate(bearer_token_validator()).description(
            "Bearer token for a Maestro behind authentication. Kept in state (as a sensitive value) because refresh and destroy need it; leave it unset to have the provider read `MAESTRO_API_BEARER_TOKEN` from its environment instead, so no token is stored.",
        ))
        .attribute(ca_pem_attribute());
    let platform_api =
        Block::new("The regional platform API behind API Gateway (`<url>/api/v0/management_clusters`), with IAM (SigV4) authorization.")
            .attribute(
                Attribute::string(attr::URL)
                    .required()
                    .validate(validators::rule(check_api_url))
                    .description("Invoke URL of the API Gateway stage, e.g. `https://abc123.execute-api.us-east-1.amazonaws.com/prod`."),
            )
            .attribute(
                Attribute::string(attr::REGION)
                    .optional()
                    .validate(validators::pattern(r"^[a-z]{2}(-[a-z]+)+-\d$", "an AWS region such as us-east-1"))
                    .description("Region the requests are signed for (service `execute-api`); the provider's region by default."),
            )
            .attribute(ca_pem_attribute());
    Schema::new(
        Block::new(
            "Registers a Maestro consumer by name, so that the Maestro server sends work to the agent that connects as it: the runbook's `POST /api/maestro/v1/consumers` (or the platform API's `POST /api/v0/management_clusters`) in the same apply as the consumer's AWS wiring. Exactly one of `maestro_api` and `platform_api`.",
        )
        .attribute(
            Attribute::string(attr::NAME)
                .required()
                .force_new()
                .validate(validators::rule(naming::check_consumer_name))
                .description("Consumer name, the same as `maestro_consumer.consumer_id` (an RFC 1123 label, at most 63 characters). Maestro never renames a consumer, so a change replaces the registration."),
        )
        .attribute(
            Attribute::string_map(attr::LABELS)
                .optional()
                .validate(labels_validator())
                .description("Labels of the consumer in Maestro, e.g. `{cluster_type = \"management\", cluster_id = \"management-01\"}`. Replaced as a whole on change (Maestro's PATCH), which the platform API cannot do."),
        )
        .attribute(Attribute::string(attr::ID).computed().keep_state_for_unknown().description("The consumer's ID in Maestro (a UUID Maestro generates)."))
        .attribute(Attribute::string(attr::CREATED_AT).computed().keep_state_for_unknown().description("When Maestro registered the consumer (RFC 3339)."))
        .block(NestedBlock::single(attr::MAESTRO_API, maestro_api))
        .block(NestedBlock::single(attr::PLATFORM_API, platform_api)),
    )
}

/// Exactly one of the two API blocks.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let maestro = !config.get(attr::MAESTRO_API).is_null();
    let platform = !config.get(attr::PLATFORM_API).is_null();
    if maestro == platform {
        diags.push(
            Diagnostic::error(
                "Exactly one API",
                if maestro {
                    "Give either `maestro_api` (Maestro's REST API) or `platform_api` (the regional platform API through API Gateway), not both: a consumer is registered through one of them."
                } else {
                    "Give `maestro_api` (Maestro's REST API: url, optional bearer_token and ca_pem) or `platform_api` (the regional platform API through API Gateway: url, region), through which the consumer is registered."
                },
            )
            .at(AttributePath::root(if maestro { attr::PLATFORM_API } else { attr::MAESTRO_API })),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_to_loopback_and_carry_no_credentials() {
        for good in [
            "https://maestro.example.com",
            "https://abc.execute-api.us-east-1.amazonaws.com/prod",
            "http://127.0.0.1:8000",
            "http://localhost",
            "http://[::1]:9/x",
        ] {
            assert_eq!(check_api_url(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("http://maestro.example.com", "loopback"),
            ("ftp://x", "https://"),
            ("https://user:pw@host", "user information"),
            ("https://host/x?y=1", "query"),
            ("https:///x", "host"),
            ("https://ho st", "spaces"),
        ] {
            let why = check_api_url(bad).unwrap_err();
            assert!(why.contains(says), "{bad}: {why}");
        }
    }

    #[test]
    fn ca_pem_must_be_certificates() {
        assert!(check_ca_pem("not a pem").unwrap_err().contains("at least one"));
        assert!(check_ca_pem("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").is_err());
    }

    #[test]
    fn labels_maestro_refuses_are_named() {
        let v = |k: &str, val: &str| Value::object([(k, Value::string(val))]);
        assert!(labels_validator()(&v("cluster_type", "management")).is_ok());
        assert!(labels_validator()(&v("", "x")).unwrap_err().contains("empty"));
        assert!(labels_validator()(&v("k", "a\0b")).unwrap_err().contains("NUL"));
    }

    #[test]
    fn exactly_one_api_block() {
        let api = Value::object([(attr::URL, Value::string("https://m"))]);
        let mut diags = Diagnostics::new();
        validate(&Value::object([(attr::MAESTRO_API, api.clone()), (attr::PLATFORM_API, api.clone())]), &mut diags);
        validate(&Value::object([(attr::NAME, Value::string("x"))]), &mut diags);
        validate(&Value::object([(attr::MAESTRO_API, api)]), &mut diags);
        let at: Vec<String> = diags.0.iter().map(|d| d.attribute.as_ref().unwrap().to_string()).collect();
        assert_eq!(at, vec!["platform_api", "maestro_api"]);
    }
}
