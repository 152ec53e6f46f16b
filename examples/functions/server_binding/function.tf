# What maestro_server_identity derives for a server named "regional-01" with its defaults.
locals {
  server = provider::maestro::server_binding("regional-01", "sources/maestro/consumers", "123456789012", "us-east-1")
}

# "maestro": the second level of the topic prefix, the server's --source-id.
output "server_source_id" {
  value = local.server.source_id
}

# "$share/statussubscribers/sources/maestro/consumers/+/agentevents"
output "server_agent_events_topic" {
  value = local.server.agent_events_topic
}

# The server's command-line flags for its MQTT broker.
output "server_flags" {
  value = local.server.server_flags
}
