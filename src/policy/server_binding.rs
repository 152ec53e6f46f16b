//! Names, topics and policy documents of the Maestro server's side of the broker, from one
//! [`ServerBinding`], as [`AgentBinding`](super::AgentBinding) does for an agent.
//!
//! What the server does on the wire (Maestro's `server` command with `--message-broker-type=mqtt`):
//! it connects with its `--client-id` as given; it publishes work to
//! `<prefix>/<consumer>/sourceevents` (the config's `sourceEvents` with `+` replaced); it
//! subscribes to the config's `agentEvents` as written — `$share/<group>/<prefix>/+/agentevents`
//! with Maestro's default `--subscription-type=shared`, so that each status event reaches one
//! replica — and receives `<prefix>/<consumer>/agentevents`.
//!
//! AWS IoT authorises a subscription by its topic filter as written: `+` is literal in a
//! `topicfilter/` resource, and a shared subscription is authorised by the resource
//! `topicfilter/$share/<group>/<filter>` (its Receive by the plain `topic/` of each message).
//! So the policy names the one filter the config subscribes with, and nothing wider.

use super::iam::POLICY_VERSION;
use super::naming;
use serde_json::{json, Value};

pub const DEFAULT_CLIENT_ID_PREFIX: &str = "maestro";
pub const DEFAULT_SHARED_GROUP: &str = "statussubscribers";
pub const DEFAULT_NAMESPACE: &str = "maestro-server";
pub const DEFAULT_SERVICE_ACCOUNT: &str = "maestro-server";
/// The object names the deployed server chart's SecretProviderClass mounts (fixed there).
pub const DEFAULT_CERT_SECRET_NAME: &str = "maestro/server-cert";
pub const DEFAULT_CONFIG_SECRET_NAME: &str = "maestro/server-config";
/// Where the deployed chart points `--message-broker-config-file`.
pub const CONFIG_FILE: &str = "/mnt/secrets-store/config.yaml";

/// How the server replicas share the agents' status events (`--subscription-type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscription {
    /// One replica receives each event, through `$share/<group>/...`.
    Shared { group: String },
    /// Every replica receives every event and hashes it to one owner.
    Broadcast,
}

impl Subscription {
    pub fn flag(&self) -> &'static str {
        match self {
            Subscription::Shared { .. } => "shared",
            Subscription::Broadcast => "broadcast",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerBinding {
    /// Names the IoT policy and the IAM role (`resource_name_base` of the old modules).
    pub name: String,
    pub topic_prefix: String,
    pub partition: String,
    pub region: String,
    pub account_id: String,
    /// The server's `--client-id` is this, or this plus `-` and anything (one per replica).
    pub client_id_prefix: String,
    pub subscription: Subscription,
}

impl ServerBinding {
    fn prefix(&self) -> &str {
        self.topic_prefix.trim_end_matches('/')
    }

    /// The server's `--source-id`: Maestro refuses to subscribe unless it equals the source
    /// level of the agentEvents topic, so it is not a separate setting.
    pub fn source_id(&self) -> String {
        naming::source_id_of_prefix(&self.topic_prefix).unwrap_or_default().to_string()
    }

    /// The config's `sourceEvents`: the server replaces `+` with the consumer name.
    pub fn source_events_topic(&self) -> String {
        format!("{}/+/sourceevents", self.prefix())
    }

    /// The filter the server subscribes with: the config's `agentEvents`.
    pub fn agent_events_topic(&self) -> String {
        match &self.subscription {
            Subscription::Shared { group } => format!("$share/{group}/{}/+/agentevents", self.prefix()),
            Subscription::Broadcast => format!("{}/+/agentevents", self.prefix()),
        }
    }

    /// Client IDs the policy lets connect, as IoT policy resources name them: the prefix
    /// itself (Maestro's default `--client-id=maestro`, which the deployed chart leaves) and
    /// the prefix with a suffix (upstream's chart passes `maestro-$(POD_NAME)`).
    pub fn client_id_patterns(&self) -> [String; 2] {
        [self.client_id_prefix.clone(), format!("{}-*", self.client_id_prefix)]
    }

    /// The `--client-id` to give each replica: distinct per pod, since two connections with one
    /// client ID take each other's session over.
    pub fn client_id_flag(&self) -> String {
        format!("{}-$(POD_NAME)", self.client_id_prefix)
    }

    pub fn iot_arn(&self, kind: &str, name: &str) -> String {
        format!("arn:{}:iot:{}:{}:{kind}/{name}", self.partition, self.region, self.account_id)
    }

    pub fn policy_name(&self) -> String {
        server_policy_name(&self.name)
    }

    pub fn role_name(&self) -> String {
        server_role_name(&self.name)
    }

    /// The grants, as (Sid, action, resources), shared by the IoT policy and the role's
    /// inline IoT policy so the two cannot differ.
    fn grants(&self) -> Vec<(&'static str, &'static str, Vec<String>)> {
        let prefix = self.prefix();
        vec![
            ("ConnectAsServer", "iot:Connect", self.client_id_patterns().iter().map(|id| self.iot_arn("client", id)).collect()),
            ("PublishSourceEvents", "iot:Publish", vec![self.iot_arn("topic", &format!("{prefix}/*/sourceevents"))]),
            ("SubscribeToAgentEvents", "iot:Subscribe", vec![self.iot_arn("topicfilter", &self.agent_events_topic())]),
            ("ReceiveAgentEvents", "iot:Receive", vec![self.iot_arn("topic", &format!("{prefix}/*/agentevents"))]),
        ]
    }

    /// The IoT policy on the server's certificate: what IoT Core enforces on its connection.
    pub fn iot_policy_document(&self) -> Value {
        let statements: Vec<Value> = self
            .grants()
            .into_iter()
            .map(|(_, action, resources)| json!({"Effect": "Allow", "Action": [action], "Resource": resources}))
            .collect();
        json!({"Version": POLICY_VERSION, "Statement": statements})
    }

    /// The same grants for the role, for IAM-signed connections.
    pub fn iam_iot_policy(&self) -> Value {
        let statements: Vec<Value> = self
            .grants()
            .into_iter()
            .map(|(sid, action, resources)| json!({"Sid": sid, "Effect": "Allow", "Action": [action], "Resource": resources}))
            .collect();
        json!({"Version": POLICY_VERSION, "Statement": statements})
    }

    /// The flags of Maestro's `server` command that this binding decides.
    pub fn server_flags(&self) -> Vec<String> {
        vec![
            "--message-broker-type=mqtt".to_string(),
            format!("--message-broker-config-file={CONFIG_FILE}"),
            format!("--source-id={}", self.source_id()),
            format!("--client-id={}", self.client_id_flag()),
            format!("--subscription-type={}", self.subscription.flag()),
        ]
    }
}

pub fn server_policy_name(name: &str) -> String {
    format!("{name}-maestro-server-policy")
}

pub fn server_role_name(name: &str) -> String {
    format!("{name}-maestro-server")
}

/// `name` must leave room for `-maestro-server` in a 64-character IAM role name and be
/// valid in IoT policy and IAM names alike.
pub fn check_server_name(name: &str) -> Result<(), String> {
    let max = 64 - "-maestro-server".len();
    let ok = !name.is_empty()
        && name.len() <= max
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {max} letters, digits, '-' or '_', starting with a letter or digit (it names the IAM role `<name>-maestro-server`, at most 64 characters, and the IoT policy `<name>-maestro-server-policy`), got {name:?}"
        ))
    }
}

/// The client ID prefix: a literal start of an MQTT client ID, no policy wildcards.
pub fn check_client_id_prefix(prefix: &str) -> Result<(), String> {
    let ok = !prefix.is_empty() && prefix.len() <= 100 && prefix.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to 100 letters, digits, '-', '_', '.' or ':' (the policy adds the only wildcard, in `<prefix>-*`), got {prefix:?}"
        ))
    }
}

/// The shared subscription group, as sdk-go's topic pattern accepts it (`$share/[a-z0-9-]+/`).
pub fn check_shared_group(group: &str) -> Result<(), String> {
    let ok = !group.is_empty() && group.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!("must be lowercase letters, digits and '-' (Maestro's topic pattern for `$share/<group>/`), got {group:?}"))
    }
}

/// The topic prefix a server IoT policy this module wrote grants (import and the consumer's
/// cross-check): the Publish resource is `topic/<prefix>/*/sourceevents`.
pub fn granted_topic_prefix(policy_document: &str) -> Option<String> {
    let doc: Value = serde_json::from_str(policy_document).ok()?;
    super::consumer_iot::granted_pairs(&super::document::normalize(&doc)).into_iter().find_map(|(action, resource)| {
        let topic = resource.splitn(6, ':').nth(5)?.strip_prefix("topic/")?.strip_suffix("/*/sourceevents")?.to_string();
        (action == "iot:Publish").then_some(topic)
    })
}

/// The client ID prefix and subscription of a server IoT policy this module wrote (import).
pub fn granted_client_prefix_and_subscription(policy_document: &str) -> (Option<String>, Option<Subscription>) {
    let Ok(doc) = serde_json::from_str::<Value>(policy_document) else { return (None, None) };
    let pairs = super::consumer_iot::granted_pairs(&super::document::normalize(&doc));
    let resource = |action: &str, kind: &str| {
        pairs
            .iter()
            .filter(|(a, _)| a == action)
            .filter_map(|(_, r)| r.splitn(6, ':').nth(5)?.strip_prefix(kind).map(str::to_string))
            .collect::<Vec<_>>()
    };
    let prefix = resource("iot:Connect", "client/").into_iter().find(|id| !id.ends_with('*'));
    let subscription = resource("iot:Subscribe", "topicfilter/").into_iter().next().map(|filter| {
        match filter.strip_prefix("$share/").and_then(|rest| rest.split_once('/')) {
            Some((group, _)) => Subscription::Shared { group: group.to_string() },
            None => Subscription::Broadcast,
        }
    });
    (prefix, subscription)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::consumer_iot::{check_size, granted_pairs};

    fn binding() -> ServerBinding {
        ServerBinding {
            name: "regional-01".into(),
            topic_prefix: "sources/maestro/consumers".into(),
            partition: "aws".into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            client_id_prefix: DEFAULT_CLIENT_ID_PREFIX.into(),
            subscription: Subscription::Shared { group: DEFAULT_SHARED_GROUP.into() },
        }
    }

    #[test]
    fn topics_and_flags_are_what_the_server_uses() {
        let b = binding();
        assert_eq!(b.source_id(), "maestro");
        assert_eq!(b.source_events_topic(), "sources/maestro/consumers/+/sourceevents");
        assert_eq!(b.agent_events_topic(), "$share/statussubscribers/sources/maestro/consumers/+/agentevents");
        let broadcast = ServerBinding { subscription: Subscription::Broadcast, ..binding() };
        assert_eq!(broadcast.agent_events_topic(), "sources/maestro/consumers/+/agentevents");
        assert_eq!(
            b.server_flags(),
            [
                "--message-broker-type=mqtt",
                "--message-broker-config-file=/mnt/secrets-store/config.yaml",
                "--source-id=maestro",
                "--client-id=maestro-$(POD_NAME)",
                "--subscription-type=shared"
            ]
        );
        assert_eq!(b.policy_name(), "regional-01-maestro-server-policy");
        assert_eq!(b.role_name(), "regional-01-maestro-server");
    }

    /// sdk-go's topic pattern accepts both config topics for every prefix the provider accepts.
    #[test]
    fn config_topics_pass_maestros_topic_pattern() {
        let pattern =
            regex::Regex::new(r"^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/([a-z]+)/([a-z0-9-]+|\+)/(sourceevents|agentevents)$")
                .unwrap();
        for prefix in ["sources/maestro/consumers", "sources/blue-1/consumers/"] {
            naming::check_topic_prefix(prefix).unwrap();
            for subscription in [Subscription::Broadcast, Subscription::Shared { group: "g-1".into() }] {
                let b = ServerBinding { topic_prefix: prefix.into(), subscription, ..binding() };
                assert!(pattern.is_match(&b.source_events_topic()), "{}", b.source_events_topic());
                assert!(pattern.is_match(&b.agent_events_topic()), "{}", b.agent_events_topic());
            }
        }
    }

    #[test]
    fn the_policy_grants_the_servers_four_permissions_and_nothing_wider() {
        let doc = binding().iot_policy_document();
        check_size(&doc).unwrap();
        let p = "arn:aws:iot:us-east-1:123456789012";
        assert_eq!(
            granted_pairs(&doc),
            vec![
                ("iot:Connect".to_string(), format!("{p}:client/maestro")),
                ("iot:Connect".to_string(), format!("{p}:client/maestro-*")),
                ("iot:Publish".to_string(), format!("{p}:topic/sources/maestro/consumers/*/sourceevents")),
                ("iot:Subscribe".to_string(), format!("{p}:topicfilter/$share/statussubscribers/sources/maestro/consumers/+/agentevents")),
                ("iot:Receive".to_string(), format!("{p}:topic/sources/maestro/consumers/*/agentevents")),
            ]
        );
        let mut iam = granted_pairs(&binding().iam_iot_policy());
        let mut iot = granted_pairs(&doc);
        iam.sort();
        iot.sort();
        assert_eq!(iam, iot);
    }

    #[test]
    fn import_recovers_the_settings_from_the_document() {
        let b = ServerBinding {
            topic_prefix: "sources/blue/consumers".into(),
            client_id_prefix: "mq".into(),
            subscription: Subscription::Shared { group: "g".into() },
            ..binding()
        };
        let doc = b.iot_policy_document().to_string();
        assert_eq!(granted_topic_prefix(&doc).as_deref(), Some("sources/blue/consumers"));
        assert_eq!(granted_client_prefix_and_subscription(&doc), (Some("mq".into()), Some(Subscription::Shared { group: "g".into() })));
        let broadcast = ServerBinding { subscription: Subscription::Broadcast, ..b }.iot_policy_document().to_string();
        assert_eq!(granted_client_prefix_and_subscription(&broadcast).1, Some(Subscription::Broadcast));
    }

    #[test]
    fn names_are_checked_against_the_iam_and_iot_rules() {
        assert_eq!(check_server_name("regional-01"), Ok(()));
        assert_eq!(check_server_name(&"r".repeat(49)), Ok(()));
        for bad in ["", "-x", "has space", "a/b", &"r".repeat(50)] {
            assert!(check_server_name(bad).unwrap_err().contains("maestro-server"), "{bad}");
        }
        assert!(check_client_id_prefix("maestro").is_ok());
        assert!(check_client_id_prefix("maes*").is_err());
        assert!(check_shared_group("statussubscribers").is_ok());
        assert!(check_shared_group("Status").is_err());
    }
}
