# With the regional provider, the broker's account and region and the topic prefix are that
# provider's own: only the consumer is named.
data "maestro_agent_binding" "management_01" {
  provider    = maestro.regional
  consumer_id = "management-01"
}

# An agent started with another --cloudevents-client-id connects with another MQTT client ID.
data "maestro_agent_binding" "management_02" {
  provider              = maestro.regional
  consumer_id           = "management-02"
  cloudevents_client_id = "management-02-agent"
}

# Wire other resources to exactly the names the provider writes, e.g. an IoT rule on the
# status topic or an alarm on the client ID:
# "sources/maestro/consumers/management-01/agentevents"
output "management_01_agent_events_topic" {
  value = data.maestro_agent_binding.management_01.binding.agent_events_topic
}

# "management-02-agent-client"
output "management_02_client_id" {
  value = data.maestro_agent_binding.management_02.binding.client_id
}
