//! Reusable attribute validators. Each returns a message that says what is accepted, so the
//! user can fix the value without reading the documentation.
//!
//! Most messages also quote the refused value (`got "..."`), which helps with values computed by
//! expressions. A sensitive attribute's value must never be quoted, and removing it from a
//! message afterwards is not reliable (a quoted value is escaped: a token read with `file()` ends
//! in a newline that a quote shows as `\n`; a list or map is quoted element by element). So a
//! sensitive attribute takes only validators built with [`opaque`], whose check sees the value as
//! an [`Opaque`]: it can be measured and tested but has no `Debug` or `Display` and cannot be
//! turned back into text, so no message can contain it. [`length`] is one of them. A test below
//! walks every schema of the provider and fails if a sensitive attribute has a validator that
//! echoes its value.

use super::schema::Validator;
use super::value::Value;
use std::sync::Arc;

/// A string value that a validator may check but not quote: no `Debug`, no `Display`, no
/// accessor that returns the text; only its length and yes/no answers about it.
pub struct Opaque<'a>(&'a str);

impl Opaque<'_> {
    /// Length in characters (what Terraform's `length()` counts).
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }

    /// Whether the text passes `test`; only the answer comes out.
    pub fn satisfies(&self, test: impl FnOnce(&str) -> bool) -> bool {
        test(self.0)
    }
}

/// A validator fit for a sensitive attribute: `check` sees a string value only as an [`Opaque`],
/// so its message is made from the rule and the value's length at most, never from the value.
/// Values that are not strings are left to type checking.
pub fn opaque(check: impl Fn(Opaque<'_>) -> Result<(), String> + Send + Sync + 'static) -> Validator {
    Arc::new(move |v: &Value| match v {
        Value::String(s) => check(Opaque(s)),
        _ => Ok(()),
    })
}

fn on_string(check: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static) -> Validator {
    Arc::new(move |v: &Value| match v {
        Value::String(s) => check(s),
        _ => Ok(()),
    })
}

/// A rule written as a plain check on strings (the naming rules in `crate::policy::naming`).
pub fn rule(check: fn(&str) -> Result<(), String>) -> Validator {
    on_string(check)
}

/// Length in characters between `min` and `max` inclusive. Built with [`opaque`], so it may be
/// used on sensitive attributes: the message gives the length, never the value.
pub fn length(min: usize, max: usize) -> Validator {
    opaque(move |s| {
        let n = s.char_count();
        if n < min || n > max {
            Err(format!("must be between {min} and {max} characters long, got {n}"))
        } else {
            Ok(())
        }
    })
}

/// Exactly `n` decimal digits (AWS account IDs are 12).
pub fn digits(n: usize) -> Validator {
    on_string(move |s| {
        if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            let count = s.chars().count();
            let what = if s.bytes().all(|b| b.is_ascii_digit()) { "digits" } else { "characters, not all digits" };
            Err(format!("must be exactly {n} digits, got {s:?} ({count} {what})"))
        }
    })
}

/// Matches `pattern` (anchored); `what` describes the accepted form in words.
///
/// Compiled on first use, not when the schema is built: every CLI command starts the provider
/// and builds every schema, and compiling the patterns there cost more than the rest of
/// GetProviderSchema together. Unit tests compile them at once, so a bad pattern still fails
/// in `cargo test` rather than in a user's validate.
pub fn pattern(pattern: &str, what: &'static str) -> Validator {
    let lazy = LazyPattern { source: format!("^(?:{pattern})$"), compiled: std::sync::OnceLock::new() };
    if cfg!(test) {
        lazy.regex();
    }
    on_string(move |s| if lazy.regex().is_match(s) { Ok(()) } else { Err(format!("must be {what}, got {s:?}")) })
}

struct LazyPattern {
    source: String,
    compiled: std::sync::OnceLock<regex::Regex>,
}

impl LazyPattern {
    fn regex(&self) -> &regex::Regex {
        self.compiled.get_or_init(|| regex::Regex::new(&self.source).expect("validator pattern compiles"))
    }
}

/// One of a fixed set of values.
pub fn one_of(allowed: &'static [&'static str]) -> Validator {
    on_string(move |s| if allowed.contains(&s) { Ok(()) } else { Err(format!("must be one of {}, got {s:?}", allowed.join(", "))) })
}

/// A whole number between `min` and `max` inclusive.
pub fn int_range(min: i64, max: i64) -> Validator {
    Arc::new(move |v: &Value| match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) if i >= min && i <= max => Ok(()),
            _ => Err(format!("must be a whole number between {min} and {max}, got {n}")),
        },
        _ => Ok(()),
    })
}

/// An ARN (`arn:partition:service:region:account:resource`), optionally of one service.
pub fn arn(service: Option<&'static str>) -> Validator {
    on_string(move |s| {
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let well_formed = parts.len() == 6 && parts[0] == "arn" && !parts[1].is_empty() && !parts[5].is_empty();
        match service {
            _ if !well_formed => Err(format!("must be an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE), got {s:?}")),
            Some(svc) if parts[2] != svc => Err(format!("must be an ARN of service {svc}, got {s:?}")),
            _ => Ok(()),
        }
    })
}

/// An ARN of one service whose resource part names one kind of object (`role/`, `policy/`,
/// `key/`, `secret:`): IAM refuses to assume a user, and a policy naming a KMS alias ARN grants
/// nothing on the key behind it, so the kind is checked where the value is written.
pub fn arn_of(service: &'static str, kind: &'static str, example: &'static str) -> Validator {
    let shape = arn(Some(service));
    on_string(move |s| {
        shape(&Value::string(s))?;
        let resource = s.splitn(6, ':').nth(5).unwrap_or_default();
        match resource.strip_prefix(kind) {
            Some(name) if !name.is_empty() => Ok(()),
            _ => Err(format!("must be an ARN of the form {example}, got {s:?}")),
        }
    })
}

/// A KMS key ARN for an IAM policy's `kms:Decrypt` grant: a key ARN, not an alias ARN, since
/// IAM matches the key's own ARN and a grant on an alias ARN lets nothing be decrypted.
pub fn kms_key_arn() -> Validator {
    arn_of("kms", "key/", "arn:PARTITION:kms:REGION:ACCOUNT:key/KEY_ID (a key ARN, not an alias: IAM grants on the key's own ARN)")
}

/// A KMS key as Secrets Manager's `KmsKeyId` takes it: a key ID, a key ARN, an alias name
/// (`alias/...`) or an alias ARN.
pub fn kms_key_reference() -> Validator {
    static KEY_ID: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(?:mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$").expect("static regex")
    });
    static ALIAS: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^alias/[A-Za-z0-9/_-]{1,250}$").expect("static regex"));
    on_string(|s| {
        let resource = match s.strip_prefix("arn:") {
            Some(_) => {
                let parts: Vec<&str> = s.splitn(6, ':').collect();
                if parts.len() != 6 || parts[2] != "kms" {
                    return Err(format!("must be a KMS key ID, key ARN, alias name or alias ARN, got {s:?}"));
                }
                parts[5]
            }
            None => s,
        };
        let key = resource.strip_prefix("key/").unwrap_or(resource);
        if KEY_ID.is_match(key) || ALIAS.is_match(resource) {
            Ok(())
        } else {
            Err(format!(
                "must be a KMS key ID (1234abcd-12ab-34cd-56ef-1234567890ab), key ARN, alias name (alias/NAME) or alias ARN, got {s:?}"
            ))
        }
    })
}

/// An http(s) URL, as used for endpoint overrides.
pub fn url() -> Validator {
    on_string(|s| {
        let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
        match rest {
            // RFC 3986 has no white space or control characters anywhere in a URL; the SDK
            // would only fail on them at the first call, far from this line.
            _ if s.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                Err(format!("must be an http:// or https:// URL without spaces, got {s:?}"))
            }
            Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(()),
            _ => Err(format!("must be an http:// or https:// URL, got {s:?}")),
        }
    })
}

/// A duration such as `15m`, `1h` or `1h30m` (Go's syntax, which users know from Terraform).
pub fn duration(min_secs: u64, max_secs: u64) -> Validator {
    on_string(move |s| match parse_duration(s) {
        Some(d) if d >= min_secs && d <= max_secs => Ok(()),
        Some(d) => Err(format!("must be between {min_secs}s and {max_secs}s, got {s:?} ({d}s)")),
        None => Err(format!("must be a duration like \"15m\" or \"1h\", got {s:?}")),
    })
}

/// Parses `1h30m15s`-style durations into whole seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    static DURATION: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$").expect("static regex"));
    let caps = DURATION.captures(s)?;
    if s.is_empty() {
        return None;
    }
    let part = |i: usize| caps.get(i).map(|m| m.as_str().parse::<u64>().ok()).unwrap_or(Some(0));
    Some(part(1)? * 3600 + part(2)? * 60 + part(3)?)
}

/// A list of at most `max` elements, each accepted by `one`; the message names the element.
pub fn each(one: Validator, max: usize) -> Validator {
    Arc::new(move |v: &Value| {
        let Some(items) = v.as_list() else { return Ok(()) };
        if items.len() > max {
            return Err(format!("must have at most {max} elements, got {}", items.len()));
        }
        for (i, item) in items.iter().enumerate() {
            one(item).map_err(|e| format!("element {i} {e}"))?;
        }
        Ok(())
    })
}

/// A JSON object (an IAM policy document) of at most `max_chars` characters once packed: STS
/// measures session policies without whitespace (`PackedPolicyTooLarge` beyond its limit).
pub fn json_policy(max_chars: usize) -> Validator {
    on_string(move |s| {
        let parsed: serde_json::Value = serde_json::from_str(s).map_err(|e| format!("must be a JSON policy document: {e}"))?;
        if !parsed.is_object() {
            return Err("must be a JSON policy document (an object with Version and Statement)".to_string());
        }
        let packed = serde_json::to_string(&parsed).map(|p| p.chars().count()).unwrap_or(usize::MAX);
        if packed > max_chars {
            return Err(format!("must be at most {max_chars} characters without whitespace, got {packed}"));
        }
        Ok(())
    })
}

/// STS session tags: the tag rules, at most 50 tags, and keys and values of letters, digits,
/// white space and `_.:/=+-@` only (AssumeRole refuses anything else).
pub fn session_tag_map() -> Validator {
    const MAX_SESSION_TAGS: usize = 50;
    let tags = tag_map();
    Arc::new(move |v: &Value| {
        tags(v)?;
        let Some(entries) = v.as_map() else { return Ok(()) };
        if entries.len() > MAX_SESSION_TAGS {
            return Err(format!("must have at most {MAX_SESSION_TAGS} session tags, got {}", entries.len()));
        }
        let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
        for (k, v) in entries {
            if !k.chars().all(allowed) {
                return Err(format!("session tag keys may hold only letters, digits, spaces and _.:/=+-@, got {k:?}"));
            }
            if v.as_str().is_some_and(|s| !s.chars().all(allowed)) {
                return Err(format!("session tag value for {k:?} may hold only letters, digits, spaces and _.:/=+-@"));
            }
        }
        Ok(())
    })
}

/// Every map key and value satisfies the given limits (AWS tag rules).
pub fn tag_map() -> Validator {
    Arc::new(|v: &Value| {
        let Some(entries) = v.as_map() else { return Ok(()) };
        for (k, v) in entries {
            if k.is_empty() || k.chars().count() > 128 {
                return Err(format!("tag keys must be 1 to 128 characters, got {k:?}"));
            }
            if k.to_ascii_lowercase().starts_with("aws:") {
                return Err(format!("tag keys must not start with \"aws:\", got {k:?}"));
            }
            if v.as_str().is_some_and(|s| s.chars().count() > 256) {
                return Err(format!("tag value for {k:?} must be at most 256 characters"));
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: &Validator, s: &str) -> Result<(), String> {
        v(&Value::string(s))
    }

    #[test]
    fn digits_accepts_only_exact_length() {
        let v = digits(12);
        assert!(check(&v, "123456789012").is_ok());
        assert!(check(&v, "12345").unwrap_err().contains("12 digits"));
        assert!(check(&v, "12345678901a").unwrap_err().ends_with("got \"12345678901a\" (12 characters, not all digits)"));
        assert!(check(&v, "12345678901").unwrap_err().ends_with("got \"12345678901\" (11 digits)"));
    }

    #[test]
    fn arn_checks_shape_and_service() {
        let v = arn(Some("iam"));
        assert!(check(&v, "arn:aws:iam::123456789012:role/x").is_ok());
        assert!(check(&v, "arn:aws:sts::123456789012:role/x").unwrap_err().contains("service iam"));
        assert!(check(&v, "not-an-arn").unwrap_err().contains("must be an ARN"));
    }

    #[test]
    fn durations_parse_go_style() {
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("900s"), Some(900));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("1d"), None);
        assert!(check(&duration(900, 43200), "10m").is_err());
    }

    #[test]
    fn arn_of_checks_the_kind_of_object() {
        let role = arn_of("iam", "role/", "arn:PARTITION:iam::ACCOUNT:role/NAME");
        assert!(check(&role, "arn:aws:iam::123456789012:role/path/x").is_ok());
        assert!(check(&role, "arn:aws:iam::123456789012:user/alice").unwrap_err().contains("role/NAME"));
        assert!(check(&role, "arn:aws:iam::123456789012:role/").is_err());
        assert!(check(&role, "arn:aws:sts::123456789012:role/x").unwrap_err().contains("service iam"));
        let secret = arn_of("secretsmanager", "secret:", "arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME");
        assert!(check(&secret, "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf").is_ok());
        assert!(check(&secret, "arn:aws:secretsmanager:us-east-1:123456789012:db-AbCdEf").is_err());
    }

    #[test]
    fn kms_key_references_are_the_four_forms_secrets_manager_takes() {
        let v = kms_key_reference();
        for good in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "alias/maestro-agent",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:alias/maestro-agent",
        ] {
            assert!(check(&v, good).is_ok(), "{good}");
        }
        for bad in ["maestro-agent", "alias/", "arn:aws:iam::123456789012:role/x", "arn:aws:kms:us-east-1:123456789012:key/nope"] {
            assert!(check(&v, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn session_tags_follow_sts_rules() {
        let v = session_tag_map();
        let map = |pairs: &[(&str, &str)]| Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), Value::string(*v))).collect());
        assert!(v(&map(&[("team", "maestro"), ("cost center", "a:b/c=d+e-f@g")])).is_ok());
        assert!(v(&map(&[("team!", "x")])).unwrap_err().contains("session tag keys"));
        assert!(v(&map(&[("aws:x", "x")])).unwrap_err().contains("aws:"));
        let many: Vec<(String, String)> = (0..51).map(|i| (format!("t{i}"), "x".to_string())).collect();
        let many = Value::Map(many.into_iter().map(|(k, v)| (k, Value::string(v))).collect());
        assert!(v(&many).unwrap_err().contains("at most 50"));
    }

    #[test]
    fn url_and_pattern() {
        assert!(check(&url(), "http://127.0.0.1:5000").is_ok());
        assert!(check(&url(), "127.0.0.1:5000").is_err());
        assert!(check(&url(), "http://exa mple.com").unwrap_err().contains("without spaces"));
        let p = pattern("[a-z]+", "lowercase letters");
        assert!(check(&p, "abc").is_ok());
        assert!(check(&p, "abc1").unwrap_err().contains("lowercase letters"));
    }

    #[test]
    fn tags_reject_reserved_prefix() {
        let v = tag_map();
        let tags = Value::object([("aws:x", Value::string("y"))]);
        assert!(v(&tags).is_err());
        assert!(v(&Value::object([("team", Value::string("y"))])).is_ok());
    }

    #[test]
    fn non_strings_are_left_to_type_checking() {
        assert!(length(1, 2)(&Value::Null).is_ok());
    }

    /// Tokens as they arrive: with the newline `file()` keeps, quotes, a backslash, non-ASCII
    /// and control characters; all of which a `{:?}` quote would show escaped.
    const SECRETS: &[&str] = &["s3cr3t-T0ken-value\n", "ey\"J0\"\\b.c\td", "tökén-ünïcode-\u{1}-\u{7f}", "x", ""];

    /// True when `message` shows `secret` in any form: as is, quoted or escaped, or any run of
    /// 6 or more of its characters.
    fn leaks(message: &str, secret: &str) -> bool {
        let debug = format!("{secret:?}");
        let escaped = &debug[1..debug.len() - 1];
        let forms = [secret, debug.as_str(), escaped, &secret.escape_default().to_string()];
        if forms.iter().any(|f| f.chars().count() >= 2 && message.contains(f)) {
            return true;
        }
        let chars: Vec<char> = secret.chars().collect();
        chars.windows(6).any(|w| message.contains(&w.iter().collect::<String>()))
    }

    #[test]
    fn the_leak_check_sees_escaped_quotes() {
        // What a quoting validator says about the token with a newline: caught although the raw
        // token (with its real newline) does not occur in it.
        let message = format!("must be short, got {:?}", SECRETS[0]);
        assert!(!message.contains(SECRETS[0]));
        assert!(leaks(&message, SECRETS[0]));
        assert!(!leaks("must be between 4 and 8 characters long, got 19", SECRETS[0]));
    }

    #[test]
    fn opaque_validators_never_quote_the_value() {
        for secret in SECRETS {
            let refused = length(30, 40)(&Value::string(*secret)).unwrap_err();
            assert!(refused.contains("between 30 and 40 characters"), "{refused}");
            assert!(!leaks(&refused, secret), "{refused}");
        }
        let custom = opaque(|s| if s.satisfies(|t| t.starts_with("ey")) { Ok(()) } else { Err("must be a JWT".into()) });
        assert!(custom(&Value::string("eyJ.x.y")).is_ok());
        assert_eq!(custom(&Value::string("s3cr3t-T0ken")), Err("must be a JWT".to_string()));
    }

    #[test]
    fn quoting_validators_do_quote_so_they_are_not_for_sensitive_attributes() {
        // The contrast that makes the schema walk below meaningful.
        let refused = digits(12)(&Value::string(SECRETS[0])).unwrap_err();
        assert!(leaks(&refused, SECRETS[0]), "{refused}");
    }

    /// Every sensitive attribute of every schema the provider serves, with its path.
    #[cfg(feature = "aws")]
    fn sensitive_attributes() -> Vec<(String, crate::framework::schema::Attribute)> {
        use crate::framework::provider::Provider;
        use crate::framework::schema::{Attribute, AttributeKind, Block};
        fn walk(path: &str, block: &Block, out: &mut Vec<(String, Attribute)>) {
            for a in &block.attributes {
                collect(&format!("{path}.{}", a.name), a, out);
            }
            for b in &block.blocks {
                walk(&format!("{path}.{}", b.name), &b.block, out);
            }
        }
        fn collect(path: &str, a: &Attribute, out: &mut Vec<(String, Attribute)>) {
            if a.sensitive {
                out.push((path.to_string(), a.clone()));
            }
            if let AttributeKind::Nested { attributes, .. } = &a.kind {
                for inner in attributes {
                    // Inside a sensitive attribute, everything is sensitive.
                    let mut inner = inner.clone();
                    inner.sensitive |= a.sensitive;
                    collect(&format!("{path}.{}", inner.name), &inner, out);
                }
            }
        }
        let p = crate::maestro_provider();
        let mut out = Vec::new();
        walk("provider", &p.schema().block, &mut out);
        for r in p.resources() {
            walk(&format!("resource {}", r.type_name()), &r.schema().block, &mut out);
        }
        for d in p.data_sources() {
            walk(&format!("data {}", d.type_name()), &d.schema().block, &mut out);
        }
        for e in p.ephemeral_resources() {
            walk(&format!("ephemeral {}", e.type_name()), &e.schema().block, &mut out);
        }
        for l in p.list_resources() {
            walk(&format!("list {}", l.type_name()), &l.schema().block, &mut out);
        }
        for a in p.actions() {
            walk(&format!("action {}", a.type_name()), &a.schema().block, &mut out);
        }
        out
    }

    /// Values of a type made of the secrets: strings, and collections whose keys and elements are.
    #[cfg(feature = "aws")]
    fn secret_values(ty: &crate::framework::value::Type) -> Vec<Value> {
        use crate::framework::value::Type;
        match ty {
            Type::List(e) | Type::Set(e) => secret_values(e).into_iter().map(|v| Value::List(vec![v.clone(), v])).collect(),
            Type::Map(e) => secret_values(e).into_iter().zip(SECRETS).map(|(v, k)| Value::Map([(k.to_string(), v)].into())).collect(),
            Type::Object(attrs) => SECRETS
                .iter()
                .map(|s| {
                    Value::Map(attrs.iter().map(|(name, t)| (name.clone(), secret_values(t).pop().unwrap_or(Value::string(*s)))).collect())
                })
                .collect(),
            _ => SECRETS.iter().map(|s| Value::string(*s)).collect(),
        }
    }

    #[cfg(feature = "aws")]
    #[test]
    fn no_validator_of_a_sensitive_attribute_echoes_its_value() {
        let attributes = sensitive_attributes();
        // The provider has sensitive attributes with validators (web_identity_token); a walk that
        // found none would prove nothing.
        assert!(attributes.iter().any(|(_, a)| !a.validators.is_empty()), "no sensitive attribute with validators found");
        for (path, attr) in &attributes {
            for (i, validator) in attr.validators.iter().enumerate() {
                for value in secret_values(&attr.value_type()) {
                    if let Err(message) = validator(&value) {
                        for secret in SECRETS {
                            assert!(!leaks(&message, secret), "{path}: validator {i} quotes the sensitive value: {message}");
                        }
                    }
                }
            }
        }
    }
}
