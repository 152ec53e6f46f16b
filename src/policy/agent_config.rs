//! The Maestro agent's MQTT configuration file (`config.yaml` in its CSI mount), derived from the
//! same [`AgentBinding`] as its IoT and IAM policies so the topics cannot disagree.
//!
//! The keys are exactly those of the deployed agent's config; the MQTT client ID is not among
//! them — the agent derives `<consumer>-work-agent` itself, which is what the IoT policy pins.

use super::agent_binding::{AgentBinding, MQTT_PORT};

/// Where the Secrets Store CSI driver mounts the agent's secrets.
pub const SECRETS_MOUNT: &str = "/mnt/secrets-store";
pub const CLIENT_CERT_FILE: &str = "/mnt/secrets-store/certificate";
pub const CLIENT_KEY_FILE: &str = "/mnt/secrets-store/privateKey";
pub const CA_FILE: &str = "/mnt/secrets-store/ca.crt";

/// `host:8883`, the form both the config file and the Helm values use.
pub fn broker_host(endpoint: &str) -> String {
    format!("{endpoint}:{MQTT_PORT}")
}

/// The config YAML for the agent bound by `b`, connecting to `broker_endpoint` (the regional
/// account's `iot:Data-ATS` host, without a port).
///
/// Written by hand rather than through a YAML library: the document is fixed and tiny, and
/// quoting every value as a double-quoted scalar means no value (an empty password, a prefix
/// like `on/off`, a host that looks like a number) can be re-typed by a YAML 1.1 parser.
pub fn agent_mqtt_config_yaml(b: &AgentBinding, broker_endpoint: &str) -> String {
    mqtt_config_yaml(broker_endpoint, &b.source_events_topic(), &b.agent_events_topic())
}

/// The same, with the certificate files in `certs_dir` (where the agent's chart mounts them).
pub fn agent_mqtt_config_yaml_in(b: &AgentBinding, broker_endpoint: &str, certs_dir: &str) -> String {
    config_yaml_in(broker_endpoint, &b.source_events_topic(), &b.agent_events_topic(), certs_dir)
}

/// The config YAML Maestro's MQTT options read (agent and server alike: the same keys, the
/// server's topics with `+` in the consumer level), with the certificate files where the CSI
/// driver mounts them.
pub fn mqtt_config_yaml(broker_endpoint: &str, source_events: &str, agent_events: &str) -> String {
    config_yaml_in(broker_endpoint, source_events, agent_events, SECRETS_MOUNT)
}

fn config_yaml_in(broker_endpoint: &str, source_events: &str, agent_events: &str, certs_dir: &str) -> String {
    let dir = certs_dir.trim_end_matches('/');
    let lines = [
        ("brokerHost", broker_host(broker_endpoint)),
        ("username", String::new()),
        ("password", String::new()),
        ("clientCertFile", format!("{dir}/certificate")),
        ("clientKeyFile", format!("{dir}/privateKey")),
        ("caFile", format!("{dir}/ca.crt")),
    ];
    let mut out = String::new();
    for (key, value) in lines {
        out.push_str(&format!("{key}: {}\n", yaml_quote(&value)));
    }
    out.push_str("topics:\n");
    out.push_str(&format!("  sourceEvents: {}\n", yaml_quote(source_events)));
    out.push_str(&format!("  agentEvents: {}\n", yaml_quote(agent_events)));
    out
}

/// A YAML double-quoted scalar. Inside double quotes only `"` and `\` are special, plus any
/// character that is not printable or that YAML treats as a line break, which must be escaped
/// so the value stays on its line.
pub fn yaml_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            // NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR and the BOM are breaks or invisible in YAML.
            '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The broker endpoint (host, without the port) of a config this module wrote, for import.
/// Host names never need escapes, so a quoted value without backslashes is all it accepts.
pub fn parse_broker_endpoint(yaml: &str) -> Option<String> {
    let value = yaml.lines().find_map(|l| l.strip_prefix("brokerHost: "))?;
    let host_port = value.strip_prefix('"')?.strip_suffix('"').filter(|v| !v.contains('\\'))?;
    let (host, port) = host_port.rsplit_once(':')?;
    (port == MQTT_PORT.to_string() && !host.is_empty()).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> AgentBinding {
        crate::policy::agent_binding::seed_binding()
    }

    #[test]
    fn config_is_the_deployed_layout() {
        let yaml = agent_mqtt_config_yaml(&binding(), "a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com");
        assert_eq!(
            yaml,
            concat!(
                "brokerHost: \"a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com:8883\"\n",
                "username: \"\"\n",
                "password: \"\"\n",
                "clientCertFile: \"/mnt/secrets-store/certificate\"\n",
                "clientKeyFile: \"/mnt/secrets-store/privateKey\"\n",
                "caFile: \"/mnt/secrets-store/ca.crt\"\n",
                "topics:\n",
                "  sourceEvents: \"sources/maestro/consumers/management-01/sourceevents\"\n",
                "  agentEvents: \"sources/maestro/consumers/management-01/agentevents\"\n",
            )
        );
    }

    #[test]
    fn topics_are_the_bindings() {
        let b = AgentBinding { topic_prefix: "custom/prefix/".into(), cluster_id: "mc-7".into(), ..binding() };
        let yaml = agent_mqtt_config_yaml(&b, "h");
        let value = |key: &str| {
            let line = yaml.lines().find(|l| l.trim_start().starts_with(&format!("{key}:"))).unwrap();
            line.split_once(": ").unwrap().1.trim_matches('"').to_string()
        };
        assert_eq!(value("sourceEvents"), b.source_events_topic());
        assert_eq!(value("agentEvents"), b.agent_events_topic());
        assert_eq!(value("brokerHost"), "h:8883");
        assert!(!yaml.to_lowercase().contains("clientid"), "the agent derives its client ID itself");
    }

    #[test]
    fn broker_endpoint_round_trips() {
        let yaml = agent_mqtt_config_yaml(&binding(), "abc-ats.iot.eu-west-1.amazonaws.com");
        assert_eq!(parse_broker_endpoint(&yaml).as_deref(), Some("abc-ats.iot.eu-west-1.amazonaws.com"));
        assert_eq!(parse_broker_endpoint("brokerHost: \"h:1883\"\n"), None);
        assert_eq!(parse_broker_endpoint("username: \"\"\n"), None);
    }

    #[test]
    fn quoting_keeps_every_value_a_single_line_string() {
        assert_eq!(yaml_quote(""), "\"\"");
        assert_eq!(yaml_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(yaml_quote("x\ny\tz\u{1}"), "\"x\\ny\\tz\\x01\"");
        assert_eq!(yaml_quote("a\u{2028}b"), "\"a\\u2028b\"");
        assert_eq!(yaml_quote("ünïcode/ok"), "\"ünïcode/ok\"");
        let hostile = AgentBinding { topic_prefix: "p\"\nevil: 1".into(), ..binding() };
        let yaml = agent_mqtt_config_yaml(&hostile, "h");
        assert_eq!(yaml.lines().count(), 9, "{yaml}");
        assert!(!yaml.lines().any(|l| l.starts_with("evil")));
    }
}
