# Everything the provider derives for one agent, from its four inputs and with no AWS call: a
# module can key resources on these names before anything exists.
locals {
  management_01 = provider::maestro::agent_binding("management-01", "sources/maestro/consumers", "123456789012", "us-east-1")
}

# "management-01-work-agent-client"
output "management_01_client_id" {
  value = local.management_01.client_id
}

# "sources/maestro/consumers/management-01/sourceevents"
output "management_01_source_events_topic" {
  value = local.management_01.source_events_topic
}

# The IoT policy document maestro_consumer attaches to the agent's certificate (JSON).
output "management_01_iot_policy" {
  value = jsondecode(local.management_01.iot_policy)
}
