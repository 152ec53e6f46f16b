# A registration is imported by `<name>,<Maestro REST API URL>`, or through the platform API by
# `<name>,<platform API URL>,<region>`.
tofu import maestro_consumer_registration.management_01 management-01,https://maestro.regional.example.com
