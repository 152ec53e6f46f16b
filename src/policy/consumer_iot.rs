//! The regional account's side of a consumer: the IoT thing and the IoT Core policy attached to
//! the agent's certificate.
//!
//! With X.509 client certificates IoT Core authorises each MQTT operation by the IoT policy on
//! the certificate, so this document — not the agent's IAM policy — is what actually confines
//! the agent. It grants the same four (action, resource) pairs as
//! [`iam::agent_iot_policy`](super::iam::agent_iot_policy), from the same [`AgentBinding`];
//! a test holds the two together.

use super::agent_binding::AgentBinding;
use super::iam::POLICY_VERSION;
use serde_json::{json, Value};

/// AWS IoT Core's limit on a policy document, counted without whitespace.
pub const MAX_IOT_POLICY_CHARS: usize = 2048;

/// The thing that represents the agent in the regional account's registry.
pub fn agent_thing_name(consumer_id: &str) -> String {
    format!("{consumer_id}-maestro-agent")
}

/// The IoT policy attached to the agent's certificate (the name the deployed modules use).
pub fn agent_iot_policy_name(consumer_id: &str) -> String {
    format!("{consumer_id}-maestro-agent-policy")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IotPolicyError {
    #[error(
        "the IoT policy for this consumer would be {chars} characters long (whitespace excluded), over AWS IoT Core's limit of {MAX_IOT_POLICY_CHARS}; use a shorter topic_prefix or consumer ID"
    )]
    TooLong { chars: usize },
    #[error("{field} {value:?} is not a valid AWS IoT {what} name: {rule}")]
    BadName { field: &'static str, what: &'static str, value: String, rule: &'static str },
}

/// The least-privilege policy for one consumer's agent: connect only as its own client ID,
/// subscribe to and receive only its source events, publish only its agent events. One
/// statement per action so that a drifted document shows which grant changed.
///
/// No policy variables (`${iot:Connection.Thing.ThingName}`): every ARN is spelled out, so the
/// document can be compared with the IAM policy and read on its own.
pub fn agent_iot_policy_document(b: &AgentBinding) -> Result<Value, IotPolicyError> {
    let source = b.source_events_topic();
    let agent = b.agent_events_topic();
    let doc = json!({
        "Version": POLICY_VERSION,
        "Statement": [
            {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": [b.iot_arn("client", &b.client_id())]},
            {"Effect": "Allow", "Action": ["iot:Subscribe"], "Resource": [b.iot_arn("topicfilter", &source)]},
            {"Effect": "Allow", "Action": ["iot:Receive"], "Resource": [b.iot_arn("topic", &source)]},
            {"Effect": "Allow", "Action": ["iot:Publish"], "Resource": [b.iot_arn("topic", &agent)]}
        ]
    });
    check_size(&doc)?;
    Ok(doc)
}

/// Rejects documents IoT Core would refuse for their size. Counting every non-whitespace
/// character of the compact JSON errs on the safe side if a topic itself contains spaces.
pub fn check_size(doc: &Value) -> Result<(), IotPolicyError> {
    let chars = doc.to_string().chars().filter(|c| !c.is_whitespace()).count();
    if chars > MAX_IOT_POLICY_CHARS {
        return Err(IotPolicyError::TooLong { chars });
    }
    Ok(())
}

/// Checks the derived thing and policy names against IoT's rules, for plan-time errors.
pub fn check_names(consumer_id: &str) -> Result<(), IotPolicyError> {
    let thing = agent_thing_name(consumer_id);
    if thing.len() > 128 || !thing.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-')) {
        return Err(IotPolicyError::BadName {
            field: "consumer_id",
            what: "thing",
            value: thing,
            rule: "at most 128 characters of letters, digits, ':', '_' and '-'",
        });
    }
    let policy = agent_iot_policy_name(consumer_id);
    if policy.len() > 128 || !policy.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)) {
        return Err(IotPolicyError::BadName {
            field: "consumer_id",
            what: "policy",
            value: policy,
            rule: "at most 128 characters of letters, digits and '_+=,.@-'",
        });
    }
    Ok(())
}

/// Every (action, resource) pair an Allow-only policy grants, in document order.
pub fn granted_pairs(doc: &Value) -> Vec<(String, String)> {
    let as_list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    };
    let mut pairs = Vec::new();
    for st in doc["Statement"].as_array().into_iter().flatten() {
        if st["Effect"] != "Allow" {
            continue;
        }
        for action in as_list(&st["Action"]) {
            for resource in as_list(&st["Resource"]) {
                pairs.push((action.clone(), resource));
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::iam;

    fn binding() -> AgentBinding {
        crate::policy::agent_binding::seed_binding()
    }

    #[test]
    fn names_are_the_deployed_ones() {
        assert_eq!(agent_thing_name("management-01"), "management-01-maestro-agent");
        assert_eq!(agent_iot_policy_name("management-01"), "management-01-maestro-agent-policy");
        assert_eq!(check_names("management-01"), Ok(()));
        let err = check_names("has space").unwrap_err().to_string();
        assert!(err.contains("consumer_id") && err.contains("thing"), "{err}");
        assert!(check_names(&"x".repeat(120)).is_err());
    }

    #[test]
    fn the_document_grants_exactly_the_agents_four_permissions() {
        let doc = agent_iot_policy_document(&binding()).unwrap();
        assert_eq!(doc["Version"], "2012-10-17");
        let p = "arn:aws:iot:us-east-1:123456789012";
        assert_eq!(
            granted_pairs(&doc),
            vec![
                ("iot:Connect".to_string(), format!("{p}:client/management-01-work-agent-client")),
                ("iot:Subscribe".to_string(), format!("{p}:topicfilter/sources/maestro/consumers/management-01/sourceevents")),
                ("iot:Receive".to_string(), format!("{p}:topic/sources/maestro/consumers/management-01/sourceevents")),
                ("iot:Publish".to_string(), format!("{p}:topic/sources/maestro/consumers/management-01/agentevents")),
            ]
        );
        // Nothing that could widen it: no wildcards, no conditions, no Deny tricks.
        let text = doc.to_string();
        assert!(!text.contains('*') && !text.contains("Condition") && !text.contains("${"), "{text}");
    }

    /// The coherence the issue demands: what IoT Core enforces on the certificate and what the
    /// agent's IAM role allows are the same grants, for any binding.
    #[test]
    fn iot_and_iam_policies_grant_the_same_pairs() {
        let bindings = [
            binding(),
            AgentBinding { topic_prefix: "custom/prefix/".into(), cluster_id: "mc_2".into(), ..binding() },
            AgentBinding { partition: "aws-cn".into(), broker_region: "cn-north-1".into(), ..binding() },
        ];
        for b in bindings {
            let mut ours = granted_pairs(&agent_iot_policy_document(&b).unwrap());
            let mut theirs = granted_pairs(&iam::agent_iot_policy(&b));
            ours.sort();
            theirs.sort();
            assert_eq!(ours, theirs, "{b:?}");
            assert_eq!(ours.len(), 4);
        }
    }

    /// The deployed agent policy (maestro-on-aws.md) allows Connect on `client/*` and the same
    /// three topic grants; ours is a subset of it — identical except the pinned client ID.
    #[test]
    fn ours_is_a_subset_of_the_deployed_policy() {
        let p = "arn:aws:iot:us-east-1:123456789012";
        let t = "sources/maestro/consumers/management-01";
        let deployed = [
            ("iot:Connect", format!("{p}:client/*")),
            ("iot:Subscribe", format!("{p}:topicfilter/{t}/sourceevents")),
            ("iot:Receive", format!("{p}:topic/{t}/sourceevents")),
            ("iot:Publish", format!("{p}:topic/{t}/agentevents")),
        ];
        for (action, resource) in granted_pairs(&agent_iot_policy_document(&binding()).unwrap()) {
            assert!(
                deployed.iter().any(|(a, pattern)| *a == action && glob_match(pattern, &resource)),
                "{action} on {resource} is not allowed by the deployed policy"
            );
        }
    }

    #[test]
    fn oversized_documents_are_refused_naming_the_limit() {
        let long = AgentBinding { topic_prefix: "p".repeat(600), ..binding() };
        let err = agent_iot_policy_document(&long).unwrap_err();
        assert!(matches!(err, IotPolicyError::TooLong { chars } if chars > MAX_IOT_POLICY_CHARS));
        assert!(err.to_string().contains("2048"), "{err}");
        // The largest IDs the resources accept (50 characters) with the default prefix fit easily.
        let widest = AgentBinding { cluster_id: "c".repeat(50), ..binding() };
        assert!(agent_iot_policy_document(&widest).is_ok());
    }

    #[test]
    fn whitespace_does_not_count_towards_the_limit() {
        // 3,000 characters of which 1,500 are spaces.
        let padded = json!({"Statement": [{"Resource": "r ".repeat(1500), "Action": "x"}]});
        assert!(check_size(&padded).is_ok());
        let over = json!({"Statement": [{"Resource": "r".repeat(2048)}]});
        assert!(check_size(&over).is_err());
    }

    /// IoT's wildcard semantics in policy resources: `*` any run, `?` one character.
    fn glob_match(pattern: &str, text: &str) -> bool {
        let re = regex::escape(pattern).replace(r"\*", ".*").replace(r"\?", ".");
        regex::Regex::new(&format!("^{re}$")).unwrap().is_match(text)
    }
}
