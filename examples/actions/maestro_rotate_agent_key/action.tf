action "maestro_rotate_agent_key" "now" {
  provider = maestro.management

  config {
    cluster_id = "management-01"
  }
}
