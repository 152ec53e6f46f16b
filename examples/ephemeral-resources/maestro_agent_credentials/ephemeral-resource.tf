# Where no Secrets Store CSI driver runs, upstream's agent chart reads its MQTT credentials from
# the Kubernetes secret `maestro-agent-certs` (files `ca.crt`, `certificate`, `privateKey`).
# Open the agent's current bundle for this run only and hand it to the command that writes that
# secret: nothing of the bundle is stored in state or plan, and tofu suppresses the command's
# output because its environment holds ephemeral values.
ephemeral "maestro_agent_credentials" "management_01" {
  provider   = maestro.management
  cluster_id = "management-01"
}

variable "credential_version_id" {
  description = "maestro_agent_identity.<name>.credential_version_id: the secret is written again whenever another bundle becomes current."
  type        = string
}

resource "terraform_data" "maestro_agent_certs" {
  triggers_replace = [var.credential_version_id]

  provisioner "local-exec" {
    command = <<-EOT
      jq -n '{apiVersion: "v1", kind: "Secret", type: "Opaque",
              metadata: {name: "maestro-agent-certs", namespace: "maestro"},
              stringData: {"ca.crt": env.CA_PEM, certificate: env.CERTIFICATE_PEM, privateKey: env.PRIVATE_KEY_PEM}}' |
        kubectl apply -f -
    EOT

    environment = {
      CA_PEM          = ephemeral.maestro_agent_credentials.management_01.ca_pem
      CERTIFICATE_PEM = ephemeral.maestro_agent_credentials.management_01.certificate_pem
      PRIVATE_KEY_PEM = ephemeral.maestro_agent_credentials.management_01.private_key_pem
    }
  }
}
