//! The rules Maestro itself applies to the names this provider derives everything from, checked
//! here so a bad value fails at validate time, pinned to its attribute, instead of on the wire.
//!
//! - **Consumer names** are RFC 1123 labels in Maestro (lowercase letters, digits and `-`,
//!   starting and ending with a letter or digit). The open-cluster-management MQTT transport
//!   also refuses topics whose consumer segment has anything else
//!   (`([a-z0-9-]+|\+)`), so `Mgmt_01` would be accepted by AWS and refused by the agent.
//! - **Topics** must match sdk-go's pattern
//!   `^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/([a-z]+)/([a-z0-9-]+|\+)/(sourceevents|agentevents)$`:
//!   so a topic prefix is exactly three segments, `<letters>/<source>/<letters>`, and its middle
//!   segment is the Maestro server's source ID.
//! - **Client IDs** reach IoT Core as `client/<id>` in a policy, pinned exactly, so they may not
//!   contain IoT policy wildcards; IoT Core limits them to 128 bytes.

use std::sync::LazyLock;

/// Longest consumer name: `<name>-maestro-agent` must fit IAM's 64-character role names.
pub const MAX_CONSUMER_NAME: usize = 50;
/// IoT Core's limit on an MQTT client ID.
pub const MAX_MQTT_CLIENT_ID_BYTES: usize = 128;
/// What the agent's MQTT transport appends to `--cloudevents-client-id` (sdk-go's agent options).
pub const AGENT_CLIENT_ID_SUFFIX: &str = "-client";

static RFC1123_LABEL: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("static regex"));
static TOPIC_PREFIX: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(r"^[a-z]+/[a-z0-9-]+/[a-z]+/?$").expect("static regex"));
static CLIENT_ID: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(r"^[A-Za-z0-9:_.-]+$").expect("static regex"));

/// A Maestro consumer name (also the management cluster's ID in this provider).
pub fn check_consumer_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_CONSUMER_NAME || !RFC1123_LABEL.is_match(name) {
        return Err(format!(
            "must be a Maestro consumer name: an RFC 1123 label of 1 to {MAX_CONSUMER_NAME} lowercase letters, digits or '-', starting and ending with a letter or digit (Maestro and its MQTT topic rules refuse anything else), got {name:?}"
        ));
    }
    Ok(())
}

/// A topic prefix that, followed by `/<consumer>/sourceevents`, gives a topic Maestro accepts.
pub fn check_topic_prefix(prefix: &str) -> Result<(), String> {
    if !TOPIC_PREFIX.is_match(prefix) {
        return Err(format!(
            "must be three topic levels `<letters>/<source-id>/<letters>` such as \"sources/maestro/consumers\": Maestro's MQTT transport accepts only topics `<a-z>/<a-z0-9->/<a-z>/<consumer>/sourceevents|agentevents`, and the second level is the server's source ID, got {prefix:?}"
        ));
    }
    Ok(())
}

/// The Maestro source ID a topic prefix carries (its second level): the server's `--source-id`
/// must equal it or the server refuses to subscribe.
pub fn source_id_of_prefix(prefix: &str) -> Option<&str> {
    let mut levels = prefix.trim_end_matches('/').split('/');
    levels.next()?;
    levels.next().filter(|s| !s.is_empty())
}

/// The agent's `--cloudevents-client-id`. The MQTT client ID on the wire is this plus
/// [`AGENT_CLIENT_ID_SUFFIX`], and that must fit IoT Core's limit.
pub fn check_cloudevents_client_id(id: &str) -> Result<(), String> {
    let limit = MAX_MQTT_CLIENT_ID_BYTES - AGENT_CLIENT_ID_SUFFIX.len();
    if id.is_empty() || id.len() > limit || !CLIENT_ID.is_match(id) {
        return Err(format!(
            "must be 1 to {limit} letters, digits, '-', '_', '.' or ':' (the agent connects as `<id>{AGENT_CLIENT_ID_SUFFIX}`, which IoT Core limits to {MAX_MQTT_CLIENT_ID_BYTES} bytes, and the IoT policy pins it exactly, so no wildcards), got {id:?}"
        ));
    }
    Ok(())
}

/// An AWS account ID: 12 digits.
pub fn check_account_id(id: &str) -> Result<(), String> {
    if id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("must be an AWS account ID of 12 digits, got {id:?}"))
    }
}

/// An AWS region name such as `us-east-1` (it goes into every ARN).
pub fn check_region(region: &str) -> Result<(), String> {
    static REGION: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$").expect("region pattern"));
    if REGION.is_match(region) {
        Ok(())
    } else {
        Err(format!("must be an AWS region such as us-east-1, got {region:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sdk-go's topic pattern, to prove the prefix rule produces only topics it accepts.
    fn sdk_topic_ok(topic: &str) -> bool {
        regex::Regex::new(r"^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/([a-z]+)/([a-z0-9-]+|\+)/(sourceevents|agentevents)$")
            .unwrap()
            .is_match(topic)
    }

    #[test]
    fn accounts_and_regions_are_checked() {
        assert!(check_account_id("123456789012").is_ok());
        assert!(check_account_id("12").is_err());
        assert!(check_region("us-east-1").is_ok() && check_region("cn-north-1").is_ok() && check_region("us-gov-west-1").is_ok());
        assert!(check_region("Not A Region").is_err());
    }

    #[test]
    fn consumer_names_are_rfc1123_labels() {
        for ok in ["management-01", "a", "mc1", "0-x-9", &"c".repeat(50)] {
            assert_eq!(check_consumer_name(ok), Ok(()), "{ok}");
        }
        for bad in ["Mgmt_01", "mgmt_01", "-a", "a-", "", "a.b", "UPPER", "has space", &"c".repeat(51)] {
            let err = check_consumer_name(bad).unwrap_err();
            assert!(err.contains("RFC 1123"), "{err}");
        }
    }

    #[test]
    fn every_accepted_consumer_and_prefix_makes_topics_maestro_accepts() {
        for prefix in ["sources/maestro/consumers", "sources/maestro-blue/consumers/", "a/b/c"] {
            check_topic_prefix(prefix).unwrap();
            for consumer in ["management-01", "x"] {
                check_consumer_name(consumer).unwrap();
                for kind in ["sourceevents", "agentevents"] {
                    let topic = format!("{}/{consumer}/{kind}", prefix.trim_end_matches('/'));
                    assert!(sdk_topic_ok(&topic), "{topic}");
                }
            }
        }
    }

    #[test]
    fn prefixes_maestro_refuses_are_refused() {
        for bad in [
            "maestro/consumers",
            "sources/maestro/consumers/extra",
            "Sources/maestro/consumers",
            "sources/mae_stro/consumers",
            "sources/+/consumers",
            "s/m/c1",
            "",
        ] {
            assert!(check_topic_prefix(bad).is_err(), "{bad}");
        }
        // And the sdk pattern agrees that the topics they would make are refused.
        assert!(!sdk_topic_ok("maestro/consumers/mc/sourceevents"));
        assert!(!sdk_topic_ok("sources/maestro/consumers/Mgmt_01/sourceevents"));
    }

    #[test]
    fn the_source_id_is_the_second_level() {
        assert_eq!(source_id_of_prefix("sources/maestro/consumers"), Some("maestro"));
        assert_eq!(source_id_of_prefix("sources/blue/consumers/"), Some("blue"));
        assert_eq!(source_id_of_prefix("one"), None);
    }

    #[test]
    fn client_ids_fit_iot_core_with_the_suffix_and_have_no_wildcards() {
        assert_eq!(check_cloudevents_client_id("management-01-work-agent"), Ok(()));
        assert_eq!(check_cloudevents_client_id(&"a".repeat(121)), Ok(()));
        assert!(check_cloudevents_client_id(&"a".repeat(122)).is_err());
        for bad in ["", "a*", "a?", "a+", "a#", "a/b", "${iot:ClientId}", "a b"] {
            assert!(check_cloudevents_client_id(bad).is_err(), "{bad}");
        }
    }
}
