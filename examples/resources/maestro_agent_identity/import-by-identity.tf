# An agent identity's resource identity is its cluster_id.
import {
  to = maestro_agent_identity.management_01
  identity = {
    cluster_id = "management-01"
  }
}
