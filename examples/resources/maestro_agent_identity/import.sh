# An agent identity is imported by its cluster_id.
tofu import maestro_agent_identity.management_01 management-01
