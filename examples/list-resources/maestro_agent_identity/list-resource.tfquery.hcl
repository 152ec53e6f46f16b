list "maestro_agent_identity" "agents" {
  provider         = maestro.management
  include_resource = true

  config {
    name_prefix = "management-"
  }
}
