resource "maestro_server_identity" "server" {
  provider = maestro.regional

  name             = "regional-us-east-1"
  eks_cluster_name = "regional-us-east-1"

  # The server also mounts its database credentials (not managed here); its role may read them.
  db_credentials_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:maestro/db-credentials-AbC123"

  # Optional; the values shown are the defaults. The secret names are the ones the deployed
  # server chart's SecretProviderClass mounts.
  namespace                      = "maestro-server"
  service_account                = "maestro-server"
  certificate_secret_name        = "maestro/server-cert"
  config_secret_name             = "maestro/server-config"
  subscription_type              = "shared"
  certificate_grace_period_hours = 24

  # Rotate on demand (change the value) and at the latest every 90 days. The new key and
  # certificate become current together; the old certificate stays ACTIVE for the grace period.
  rotation_triggers = {
    generation = "1"
  }
  rotate_after_days = 90

  tags = {
    environment = "production"
  }
}

# Every consumer of this server uses its topic prefix (or leave topic_prefix unset on both).
variable "management_01_csr_pem" {
  type        = string
  description = "CSR of the management-01 agent (maestro_agent_key.csr_pem in the management account)."
}

resource "maestro_consumer" "management_01" {
  provider = maestro.regional

  consumer_id           = "management-01"
  csr_pem               = var.management_01_csr_pem
  management_account_id = "987654321098"
  topic_prefix          = maestro_server_identity.server.topic_prefix
}

# Feed the deployed server chart: values = [yamlencode(maestro_server_identity.server.helm_values)]
output "server_helm_values" {
  value = maestro_server_identity.server.helm_values
}
