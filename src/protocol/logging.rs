//! Logs as JSON lines on stderr in the hclog shape go-plugin parses (`@level`, `@message`,
//! `@module`, `@timestamp` with exactly six fractional digits), so `TF_LOG` and
//! `TF_LOG_PROVIDER` show them at the right level.
//!
//! Secrets never reach a log call in this crate; on top of that, third-party crates (the AWS
//! SDK, hyper, h2, rustls) are capped at `debug`, because their `trace` output can include
//! request details we do not control.

use std::io::Write;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

const MODULE: &str = "provider.terraform-provider-maestro";

/// The level Terraform asked for, from `TF_LOG_PROVIDER` falling back to `TF_LOG`.
pub fn requested_level() -> Option<Level> {
    let raw = std::env::var("TF_LOG_PROVIDER").ok().filter(|s| !s.is_empty()).or_else(|| std::env::var("TF_LOG").ok())?;
    level_from(&raw)
}

fn level_from(raw: &str) -> Option<Level> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "trace" | "json" => Some(Level::TRACE),
        "debug" => Some(Level::DEBUG),
        "info" => Some(Level::INFO),
        "warn" => Some(Level::WARN),
        "error" => Some(Level::ERROR),
        _ => None, // "off", empty or unrecognised: Terraform would discard the lines anyway
    }
}

/// Installs the stderr JSON logger; does nothing when no level was requested.
pub fn init() {
    let Some(level) = requested_level() else { return };
    let ours = level.to_string().to_lowercase();
    let theirs = if level == Level::TRACE { "debug".to_string() } else { ours.clone() };
    let filter = EnvFilter::new(format!("{theirs},terraform_provider_maestro={ours}"));
    let _ = tracing_subscriber::registry().with(filter).with(HclogLayer).try_init();
}

struct HclogLayer;

impl<S: Subscriber> Layer<S> for HclogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = render(event.metadata().level(), event.metadata().target(), |v| event.record(v));
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(line.as_bytes());
    }
}

/// Builds one log line. Split out so the shape can be unit-tested without a subscriber.
fn render(level: &Level, target: &str, record: impl FnOnce(&mut FieldCollector)) -> String {
    let mut collector = FieldCollector::default();
    record(&mut collector);
    let mut obj = serde_json::Map::new();
    obj.insert("@level".into(), level.to_string().to_lowercase().into());
    obj.insert("@message".into(), collector.message.unwrap_or_default().into());
    obj.insert("@module".into(), MODULE.into());
    obj.insert("@timestamp".into(), timestamp(time::OffsetDateTime::now_utc()).into());
    obj.insert("target".into(), target.into());
    for (k, v) in collector.fields {
        obj.insert(k, v);
    }
    let mut line = serde_json::Value::Object(obj).to_string();
    line.push('\n');
    line
}

/// `2026-11-23T08:47:11.123456Z`: hclog's layout; anything else is shown as plain text.
fn timestamp(t: time::OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    t.format(&fmt).unwrap_or_default()
}

#[derive(Default)]
struct FieldCollector {
    message: Option<String>,
    fields: Vec<(String, serde_json::Value)>,
}

impl Visit for FieldCollector {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.fields.push((field.name().to_string(), text.into()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.fields.push((field.name().to_string(), value.into()));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.push((field.name().to_string(), value.into()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.push((field.name().to_string(), value.into()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.push((field.name().to_string(), value.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_six_fractional_digits() {
        let t = time::macros::datetime!(2026-11-23 08:47:11.5 UTC);
        assert_eq!(timestamp(t), "2026-11-23T08:47:11.500000Z");
    }

    #[test]
    fn levels_follow_terraform_names() {
        assert_eq!(level_from("TRACE"), Some(Level::TRACE));
        assert_eq!(level_from("json"), Some(Level::TRACE));
        assert_eq!(level_from("warn"), Some(Level::WARN));
        assert_eq!(level_from("off"), None);
    }

    #[test]
    fn lines_have_the_hclog_keys() {
        let line = render(&Level::DEBUG, "x", |c| {
            c.message = Some("hello".into());
            c.fields.push(("cluster_id".into(), "management-01".into()));
        });
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["@level"], "debug");
        assert_eq!(v["@message"], "hello");
        assert_eq!(v["@module"], MODULE);
        assert_eq!(v["cluster_id"], "management-01");
        assert_eq!(v["@timestamp"].as_str().unwrap().len(), "2026-11-23T08:47:11.123456Z".len());
    }
}
