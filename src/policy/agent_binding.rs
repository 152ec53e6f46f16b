//! Names and topics that bind one Maestro agent (a consumer) to the broker.

/// Where an agent lives and how it talks to the broker; everything else derives from this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentBinding {
    /// The management cluster's ID, which is also the Maestro consumer name.
    pub cluster_id: String,
    pub topic_prefix: String,
    /// AWS partition of the regional account (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: String,
    /// Region and account of the regional IoT broker.
    pub broker_region: String,
    pub broker_account_id: String,
    /// The agent's `--cloudevents-client-id` flag ([`default_cloudevents_client_id`] as the
    /// deployed charts pass it). The agent's MQTT transport connects as this plus `-client`.
    pub cloudevents_client_id: String,
}

pub const DEFAULT_TOPIC_PREFIX: &str = "sources/maestro/consumers";
pub const DEFAULT_NAMESPACE: &str = "maestro";
pub const DEFAULT_SERVICE_ACCOUNT: &str = "maestro-agent";
/// AWS IoT Core's MQTT over TLS port.
pub const MQTT_PORT: u16 = 8883;

impl AgentBinding {
    pub fn consumer_name(&self) -> &str {
        &self.cluster_id
    }

    /// The MQTT client ID IoT Core sees from this agent: `<cloudevents_client_id>-client`,
    /// because the open-cluster-management agent transport appends `-client` to the
    /// `--cloudevents-client-id` it is given. The IoT policy pins exactly this.
    pub fn client_id(&self) -> String {
        mqtt_client_id(&self.cloudevents_client_id)
    }

    /// The server publishes work here; the agent subscribes.
    pub fn source_events_topic(&self) -> String {
        format!("{}/{}/sourceevents", self.topic_prefix.trim_end_matches('/'), self.cluster_id)
    }

    /// The agent publishes status here; the server subscribes.
    pub fn agent_events_topic(&self) -> String {
        format!("{}/{}/agentevents", self.topic_prefix.trim_end_matches('/'), self.cluster_id)
    }

    /// `arn:PARTITION:iot:REGION:ACCOUNT:<kind>/<name>` of the regional broker.
    pub fn iot_arn(&self, kind: &str, name: &str) -> String {
        format!("arn:{}:iot:{}:{}:{kind}/{name}", self.partition, self.broker_region, self.broker_account_id)
    }
}

/// The `--cloudevents-client-id` both agent charts pass by default: `<consumer>-work-agent`
/// (the deployed chart hard-codes `$(CONSUMER_NAME)-work-agent`; upstream's values default to
/// `cluster1-work-agent` for consumer `cluster1`).
pub fn default_cloudevents_client_id(consumer: &str) -> String {
    format!("{consumer}-work-agent")
}

/// The MQTT client ID an agent started with `--cloudevents-client-id=<id>` connects with.
pub fn mqtt_client_id(cloudevents_client_id: &str) -> String {
    format!("{cloudevents_client_id}{}", super::naming::AGENT_CLIENT_ID_SUFFIX)
}

/// The IAM role the agent's pods assume through EKS Pod Identity.
pub fn agent_role_name(cluster_id: &str) -> String {
    format!("{cluster_id}-maestro-agent")
}

pub fn default_cert_secret_name(cluster_id: &str) -> String {
    format!("{cluster_id}/maestro/agent-mqtt-cert")
}

/// The secret holding the agent's MQTT config YAML and consumer name.
pub fn default_config_secret_name(cluster_id: &str) -> String {
    format!("{cluster_id}/maestro/agent-config")
}

/// The seeds' agent (management-01, regional account 123456789012, us-east-1), for tests.
#[cfg(test)]
pub(crate) fn seed_binding() -> AgentBinding {
    AgentBinding {
        cluster_id: "management-01".into(),
        topic_prefix: DEFAULT_TOPIC_PREFIX.into(),
        partition: "aws".into(),
        broker_region: "us-east-1".into(),
        broker_account_id: "123456789012".into(),
        cloudevents_client_id: "management-01-work-agent".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> AgentBinding {
        seed_binding()
    }

    #[test]
    fn topics_follow_the_deployed_layout() {
        let b = binding();
        assert_eq!(b.source_events_topic(), "sources/maestro/consumers/management-01/sourceevents");
        assert_eq!(b.agent_events_topic(), "sources/maestro/consumers/management-01/agentevents");
    }

    #[test]
    fn a_trailing_slash_in_the_prefix_does_not_double() {
        let b = AgentBinding { topic_prefix: "custom/prefix/".into(), ..binding() };
        assert_eq!(b.agent_events_topic(), "custom/prefix/management-01/agentevents");
    }

    #[test]
    fn names_match_what_agents_use() {
        // What sdk-go's agent transport sends for --cloudevents-client-id=management-01-work-agent.
        assert_eq!(binding().client_id(), "management-01-work-agent-client");
        assert_eq!(default_cloudevents_client_id("management-01"), "management-01-work-agent");
        assert_eq!(mqtt_client_id("custom"), "custom-client");
        assert_eq!(agent_role_name("management-01"), "management-01-maestro-agent");
        assert_eq!(default_cert_secret_name("management-01"), "management-01/maestro/agent-mqtt-cert");
        assert_eq!(default_config_secret_name("management-01"), "management-01/maestro/agent-config");
        assert_eq!(binding().iot_arn("client", "x"), "arn:aws:iot:us-east-1:123456789012:client/x");
    }
}
