# What the regional account sends back (both public). In one configuration with both accounts
# these are simply `maestro_consumer.management_01.certificate_pem` and `.endpoint`.
variable "management_01_certificate_pem" {
  type        = string
  default     = null # until the regional account has issued it; plans warn meanwhile
  description = "Certificate of the management-01 agent (maestro_consumer.certificate_pem)."
}

variable "broker_endpoint" {
  type        = string
  default     = null
  description = "IoT Core ATS endpoint of the regional account (maestro_consumer.endpoint)."
}

resource "maestro_agent_identity" "management_01" {
  provider = maestro.management

  cluster_id          = "management-01"
  regional_account_id = "123456789012"
  eks_cluster_name    = "management-01"

  # Completes the credential secret maestro_agent_key wrote, and writes the config secret.
  certificate_pem = var.management_01_certificate_pem
  broker_endpoint = var.broker_endpoint

  # Optional; the values shown are the defaults.
  namespace       = "maestro"
  service_account = "maestro-agent"

  tags = {
    environment = "production"
  }
}

# Feed the agent chart: values = [yamlencode(maestro_agent_identity.management_01.helm_values)]
output "agent_helm_values" {
  value = maestro_agent_identity.management_01.helm_values
}
