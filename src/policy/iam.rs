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

/// Denies every action to sessions issued before `issued_before` (RFC 3339): IAM's documented
/// way to revoke a role's temporary credentials (the IAM console's "Revoke active sessions").
pub fn revoke_sessions_issued_before(issued_before: &str) -> Value {
    json!({
        "Version": POLICY_VERSION,
        "Statement": [{
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued_before}}
        }]
    })
}

/// ARN pattern of a secret by name. Secrets Manager appends `-` and six random characters to
/// every secret ARN, so `-??????` matches exactly that secret and not `<name>-other`.
pub fn secret_arn_pattern(partition: &str, region: &str, account_id: &str, secret_name: &str) -> String {
    format!("arn:{partition}:secretsmanager:{region}:{account_id}:secret:{secret_name}-??????")
}

/// A customer-managed KMS key that encrypts the secrets: without `kms:Decrypt` on it,
/// GetSecretValue fails and the Secrets Store CSI driver cannot mount them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsDecrypt {
    pub key_arn: String,
    /// `secretsmanager.<region>.<dns suffix>`: the key may be used only through Secrets Manager.
    pub via_service: String,
}

impl KmsDecrypt {
    pub fn through_secrets_manager(key_arn: &str, partition: &str, region: &str) -> KmsDecrypt {
        let suffix = if partition == "aws-cn" { "amazonaws.com.cn" } else { "amazonaws.com" };
        KmsDecrypt { key_arn: key_arn.to_string(), via_service: format!("secretsmanager.{region}.{suffix}") }
    }
}

/// Read access to the agent's own secrets — nothing else in Secrets Manager — and, when they
/// are encrypted with a customer-managed key, decryption with exactly that key, only on behalf
/// of Secrets Manager.
pub fn secret_read_policy(subject: &str, secret_arn_patterns: &[String], decrypt: Option<&KmsDecrypt>) -> Value {
    let mut statements = vec![json!({
        "Sid": format!("ReadMaestro{subject}Secrets"),
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        "Resource": secret_arn_patterns
    })];
    if let Some(kms) = decrypt {
        statements.push(json!({
            "Sid": format!("DecryptMaestro{subject}Secrets"),
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [kms.key_arn],
            "Condition": {"StringEquals": {"kms:ViaService": kms.via_service}}
        }));
    }
    json!({"Version": POLICY_VERSION, "Statement": statements})
}

/// The customer-managed key a secrets policy written by [`secret_read_policy`] decrypts with.
pub fn decrypt_key_arn(secrets_policy: &Value) -> Option<String> {
    secrets_policy["Statement"].as_array()?.iter().find_map(|st| {
        let decrypts = match &st["Action"] {
            Value::String(a) => a == "kms:Decrypt",
            Value::Array(actions) => actions.iter().any(|a| a == "kms:Decrypt"),
            _ => false,
        };
        let resource = match &st["Resource"] {
            Value::String(r) => Some(r.clone()),
            Value::Array(rs) => rs.first().and_then(|r| r.as_str()).map(str::to_string),
            _ => None,
        };
        decrypts.then_some(resource).flatten()
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

    #[test]
    fn the_session_revocation_denies_everything_issued_before_the_time() {
        let doc = revoke_sessions_issued_before("2026-12-07T19:00:00Z");
        let statement = &doc["Statement"][0];
        assert_eq!(statement["Effect"], "Deny");
        assert_eq!(statement["Action"], json!(["*"]));
        assert_eq!(statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"], "2026-12-07T19:00:00Z");
    }

    fn seed_binding() -> AgentBinding {
        AgentBinding {
            cluster_id: "management-01".into(),
            topic_prefix: "sources/maestro/consumers".into(),
            partition: "aws".into(),
            broker_region: "us-east-1".into(),
            broker_account_id: "123456789012".into(),
            cloudevents_client_id: "management-01-work-agent".into(),
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
        let ours = secret_read_policy("Agent", std::slice::from_ref(&pattern), None);
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
            ("iot:Connect".to_string(), format!("{p}:client/management-01-work-agent-client")),
            ("iot:Subscribe".to_string(), format!("{p}:topicfilter/sources/maestro/consumers/management-01/sourceevents")),
            ("iot:Receive".to_string(), format!("{p}:topic/sources/maestro/consumers/management-01/sourceevents")),
            ("iot:Publish".to_string(), format!("{p}:topic/sources/maestro/consumers/management-01/agentevents")),
        ];
        assert_eq!(grants, expected);
    }

    #[test]
    fn a_customer_managed_key_is_granted_exactly_and_only_through_secrets_manager() {
        let key = "arn:aws:kms:us-east-1:987654321098:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let kms = KmsDecrypt::through_secrets_manager(key, "aws", "us-east-1");
        let doc = secret_read_policy("Agent", &["arn:x".to_string()], Some(&kms));
        let decrypt = &doc["Statement"][1];
        assert_eq!(decrypt["Action"], json!(["kms:Decrypt"]));
        assert_eq!(decrypt["Resource"], json!([key]));
        assert_eq!(decrypt["Condition"], json!({"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}));
        assert_eq!(decrypt_key_arn(&doc).as_deref(), Some(key));
        // Without a key, no KMS grant at all (the AWS-managed key needs none).
        let plain = secret_read_policy("Agent", &["arn:x".to_string()], None);
        assert_eq!(plain["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(decrypt_key_arn(&plain), None);
        assert_eq!(
            KmsDecrypt::through_secrets_manager(key, "aws-cn", "cn-north-1").via_service,
            "secretsmanager.cn-north-1.amazonaws.com.cn"
        );
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
