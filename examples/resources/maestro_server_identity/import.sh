# A server identity is imported by its name.
tofu import maestro_server_identity.server regional-us-east-1
