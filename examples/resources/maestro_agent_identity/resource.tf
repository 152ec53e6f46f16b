resource "maestro_agent_identity" "management_01" {
  provider = maestro.management

  cluster_id          = "management-01"
  regional_account_id = "123456789012"
  eks_cluster_name    = "management-01"

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
