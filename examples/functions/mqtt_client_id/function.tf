# The MQTT client ID IoT Core sees from an agent started with --cloudevents-client-id=<id>:
# "management-01-work-agent-client".
output "management_01_mqtt_client_id" {
  value = provider::maestro::mqtt_client_id("management-01-work-agent")
}
