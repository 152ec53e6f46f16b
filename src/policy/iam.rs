//! IAM documents for the agent's role: trust (EKS Pod Identity), reading its own credential
//! secret, and the IoT permissions for IAM-signed connections to the regional broker.

use super::agent_binding::AgentBinding;
use serde_json::{json, Value};

pub const POLICY_VERSION: &str = "2012-10-17";
pub const POD_IDENTITY_PRINCIPAL: &str = "pods.eks.amazonaws.com";

/// Trust policy: only EKS Pod Identity may assume the role, with session tags, and nothing
/// else — no cross-account principals (the design avoids cross-account trust).
pub fn pod_identity_trust_policy() -> Value {
    json!({
        "Version": POLICY_VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
            "Action": ["sts:AssumeRole", "sts:TagSession"]
        }]
    })
}

/// ARN pattern of a secret by name. Secrets Manager appends `-` and six random characters to
/// every secret ARN, so `-??????` matches exactly that secret and not `<name>-other`.
pub fn secret_arn_pattern(partition: &str, region: &str, account_id: &str, secret_name: &str) -> String {
    format!("arn:{partition}:secretsmanager:{region}:{account_id}:secret:{secret_name}-??????")
}

/// Read access to the agent's own credential secret(s) — nothing else in Secrets Manager.
pub fn secret_read_policy(secret_arn_patterns: &[String]) -> Value {
    json!({
        "Version": POLICY_VERSION,
        "Statement": [{
            "Sid": "ReadMaestroAgentSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": secret_arn_patterns
        }]
    })
}

/// IoT permissions scoped to this agent: connect only as its own client ID, subscribe to and
/// receive only its source events, publish only its agent events.
pub fn agent_iot_policy(b: &AgentBinding) -> Value {
    let source = b.source_events_topic();
    let agent = b.agent_events_topic();
    json!({
        "Version": POLICY_VERSION,
        "Statement": [
            {"Sid": "ConnectAsOwnClientId", "Effect": "Allow", "Action": ["iot:Connect"], "Resource": [b.iot_arn("client", &b.client_id())]},
            {"Sid": "SubscribeToSourceEvents", "Effect": "Allow", "Action": ["iot:Subscribe"], "Resource": [b.iot_arn("topicfilter", &source)]},
            {"Sid": "ReceiveSourceEvents", "Effect": "Allow", "Action": ["iot:Receive"], "Resource": [b.iot_arn("topic", &source)]},
            {"Sid": "PublishAgentEvents", "Effect": "Allow", "Action": ["iot:Publish"], "Resource": [b.iot_arn("topic", &agent)]}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::equivalent;

    fn seed_binding() -> AgentBinding {
        AgentBinding {
            cluster_id: "management-01".into(),
            topic_prefix: "sources/maestro/consumers".into(),
            partition: "aws".into(),
            broker_region: "us-east-1".into(),
            broker_account_id: "123456789012".into(),
        }
    }

    /// The trust policy of seed 000 (which abbreviates away Version and Effect, both of which
    /// IAM requires): same principal, same two actions, no conditions.
    #[test]
    fn trust_policy_is_the_seeds() {
        let seed =
            json!({"Statement": [{"Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]});
        let mut completed = seed.clone();
        completed["Version"] = json!("2012-10-17");
        completed["Statement"][0]["Effect"] = json!("Allow");
        assert!(equivalent(&pod_identity_trust_policy(), &completed));
        assert!(pod_identity_trust_policy()["Statement"][0].get("Condition").is_none());
    }

    /// Seed 000's secrets statement, tightened deliberately: the region is pinned instead of
    /// `*`, and `-??????` replaces `*` so that only this secret matches.
    #[test]
    fn secret_policy_is_the_seeds_tightened() {
        let seed = json!({"Statement": [{"Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": "arn:aws:secretsmanager:*:987654321098:secret:management-01/maestro/agent-mqtt-cert*"}]});
        let pattern = secret_arn_pattern("aws", "us-east-1", "987654321098", "management-01/maestro/agent-mqtt-cert");
        let ours = secret_read_policy(std::slice::from_ref(&pattern));
        let mut expected = seed.clone();
        expected["Version"] = json!("2012-10-17");
        expected["Statement"][0]["Sid"] = json!("ReadMaestroAgentSecrets");
        expected["Statement"][0]["Resource"] =
            json!("arn:aws:secretsmanager:us-east-1:987654321098:secret:management-01/maestro/agent-mqtt-cert-??????");
        assert!(equivalent(&ours, &expected), "{ours}");
        // Everything ours allows, the seed allowed too.
        let seed_resource = seed["Statement"][0]["Resource"].as_str().unwrap();
        assert!(glob_match(seed_resource, &pattern.replace("??????", "AbCdEf")));
    }

    /// Every (action, resource) pair our IoT policy grants is granted by seed 000's statement,
    /// and ours grants exactly the four the agent needs.
    #[test]
    fn iot_policy_is_a_least_privilege_subset_of_the_seeds() {
        let seed_actions = ["iot:Connect", "iot:Subscribe", "iot:Receive", "iot:Publish"];
        let seed_resources = [
            "arn:aws:iot:us-east-1:123456789012:client/management-01-*",
            "arn:aws:iot:us-east-1:123456789012:topic/sources/maestro/consumers/management-01/*",
            "arn:aws:iot:us-east-1:123456789012:topicfilter/sources/maestro/consumers/management-01/*",
        ];
        let ours = agent_iot_policy(&seed_binding());
        let mut grants = Vec::new();
        for st in ours["Statement"].as_array().unwrap() {
            assert_eq!(st["Effect"], "Allow");
            for a in st["Action"].as_array().unwrap() {
                for r in st["Resource"].as_array().unwrap() {
                    grants.push((a.as_str().unwrap().to_string(), r.as_str().unwrap().to_string()));
                }
            }
        }
        for (a, r) in &grants {
            assert!(seed_actions.contains(&a.as_str()), "{a}");
            assert!(seed_resources.iter().any(|p| glob_match(p, r)), "{r} not allowed by the seed");
        }
        let p = "arn:aws:iot:us-east-1:123456789012";
        let expected = vec![
            ("iot:Connect".to_string(), format!("{p}:client/management-01-work-agent")),
            ("iot:Subscribe".to_string(), format!("{p}:topicfilter/sources/maestro/consumers/management-01/sourceevents")),
            ("iot:Receive".to_string(), format!("{p}:topic/sources/maestro/consumers/management-01/sourceevents")),
            ("iot:Publish".to_string(), format!("{p}:topic/sources/maestro/consumers/management-01/agentevents")),
        ];
        assert_eq!(grants, expected);
    }

    #[test]
    fn documents_fit_iam_inline_policy_limits() {
        // Inline role policies may total 10,240 characters; ours must leave room.
        let b = AgentBinding { cluster_id: "c".repeat(50), topic_prefix: "p".repeat(100), ..seed_binding() };
        assert!(agent_iot_policy(&b).to_string().len() < 2048);
    }

    /// IAM's wildcard semantics: `*` any run, `?` one character.
    fn glob_match(pattern: &str, text: &str) -> bool {
        let re = regex::escape(pattern).replace(r"\*", ".*").replace(r"\?", ".");
        regex::Regex::new(&format!("^{re}$")).unwrap().is_match(text)
    }
}
