resource "maestro_agent_key" "management_01" {
  provider = maestro.management

  cluster_id = "management-01"

  # Optional; the values shown are the defaults. The secret is named
  # `<cluster_id>/maestro/agent-mqtt-cert` unless secret_name says otherwise.
  algorithm               = "ECDSA_P256"
  recovery_window_in_days = 7

  # Rotate on demand (change the value) and at the latest every 90 days. Either stages a new
  # key; the current bundle keeps serving until the new certificate arrives.
  rotation_triggers = {
    generation = "1"
  }
  rotate_after_days = 90

  tags = {
    environment = "production"
  }
}

# Public: goes to maestro_consumer.csr_pem in the regional account.
output "management_01_csr_pem" {
  value = maestro_agent_key.management_01.csr_pem
}

output "management_01_key_fingerprint" {
  value = maestro_agent_key.management_01.public_key_fingerprint
}
