# The agent's CSR. In one configuration with both accounts this is simply
# `maestro_agent_key.management_01.csr_pem`; with two teams, the management team hands over
# the CSR text (public) and gets `certificate_pem` (public) back.
variable "management_01_csr_pem" {
  type        = string
  description = "CSR of the management-01 agent (maestro_agent_key.csr_pem in the management account)."
}

resource "maestro_consumer" "management_01" {
  provider = maestro.regional

  consumer_id           = "management-01"
  csr_pem               = var.management_01_csr_pem
  management_account_id = "987654321098"

  # Optional; the value shown is the default. After a new CSR key, the replaced certificate
  # stays ACTIVE this long so the agent can switch over.
  certificate_grace_period_hours = 24
}

# For the management side: the certificate and the broker host.
output "management_01_certificate_pem" {
  value = maestro_consumer.management_01.certificate_pem
}

output "broker_endpoint" {
  value = maestro_consumer.management_01.endpoint
}
