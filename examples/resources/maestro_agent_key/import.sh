# An agent key is imported by its secret's name (or ARN).
tofu import maestro_agent_key.management_01 management-01/maestro/agent-mqtt-cert
