//! Reusable attribute validators. Each returns a message that says what is accepted, so the
//! user can fix the value without reading the documentation.

use super::schema::Validator;
use super::value::Value;
use std::sync::Arc;

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

/// Length in characters between `min` and `max` inclusive.
pub fn length(min: usize, max: usize) -> Validator {
    on_string(move |s| {
        let n = s.chars().count();
        if n < min || n > max {
            Err(format!("must be between {min} and {max} characters long, got {n} ({s:?})"))
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
            Err(format!("must be exactly {n} digits, got {s:?}"))
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

/// An http(s) URL, as used for endpoint overrides.
pub fn url() -> Validator {
    on_string(|s| {
        let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
        match rest {
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
        assert!(check(&v, "12345678901a").is_err());
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
    fn url_and_pattern() {
        assert!(check(&url(), "http://127.0.0.1:5000").is_ok());
        assert!(check(&url(), "127.0.0.1:5000").is_err());
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
}
