# Maestro agents run by upstream's chart (openshift-online/maestro charts/maestro-agent); the
# server by a chart of your own (upstream's server chart is not supported yet: see the chart
# guide). The one argument that says so is the chart choice in each provider block; every name
# follows from it: the agent's secrets are <cluster_id>/maestro/agent-mqtt-cert and
# <cluster_id>/maestro/agent-config, its Pod Identity association binds
# maestro-agent/maestro-agent-sa, and config.yaml points at /secrets/mqtt-certs.
#
# Install: kubectl apply the agent_manifests_yaml output (External Secrets Operator objects that
# keep the Kubernetes Secret maestro-agent-certs in step with the credential secret), then
# helm install upstream's chart with values = yamlencode(<agent_helm_values>). The server's chart
# mounts the SecretProviderClass in server_manifests_yaml.
#
# The acceptance tests apply this against the local AWS emulator and start a server and agent on
# Maestro's own transport (sdk-go) from exactly what these outputs say the charts mount.

terraform {
  required_version = ">= 1.6"
  required_providers {
    maestro = {
      source  = "registry.terraform.io/maestro-iac/maestro"
      version = "~> 0.1"
    }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "regional_account_id" {
  type    = string
  default = "123456789012"
}

variable "management_account_id" {
  type    = string
  default = "987654321098"
}

variable "server_name" {
  type    = string
  default = "regional-01"
}

variable "regional_eks_cluster_name" {
  type    = string
  default = "regional-01"
}

variable "cluster_id" {
  description = "The management cluster (also the Maestro consumer name)."
  type        = string
  default     = "management-01"
}

variable "eks_cluster_name" {
  type    = string
  default = "management-01"
}

variable "broker_ca_pem" {
  description = "CA the server and agent trust for the broker; null for IoT Core's ATS endpoint."
  type        = string
  default     = null
}

variable "aws_endpoint" {
  description = "One URL for every AWS API (a local emulator); null for real AWS."
  type        = string
  default     = null
}

locals {
  endpoints = var.aws_endpoint == null ? [] : [var.aws_endpoint]
}

provider "maestro" {
  alias               = "regional"
  region              = var.region
  allowed_account_ids = [var.regional_account_id]
  server_chart        = "custom"

  assume_role {
    role_arn = "arn:aws:iam::${var.regional_account_id}:role/maestro-regional"
  }

  dynamic "endpoints" {
    for_each = local.endpoints
    content {
      eks            = endpoints.value
      iam            = endpoints.value
      iot            = endpoints.value
      secretsmanager = endpoints.value
      sts            = endpoints.value
    }
  }
}

provider "maestro" {
  alias               = "management"
  region              = var.region
  allowed_account_ids = [var.management_account_id]
  agent_chart         = "maestro"

  assume_role {
    role_arn = "arn:aws:iam::${var.management_account_id}:role/maestro-management"
  }

  dynamic "endpoints" {
    for_each = local.endpoints
    content {
      eks            = endpoints.value
      iam            = endpoints.value
      iot            = endpoints.value
      secretsmanager = endpoints.value
      sts            = endpoints.value
    }
  }
}

resource "maestro_server_identity" "server" {
  provider = maestro.regional

  name             = var.server_name
  eks_cluster_name = var.regional_eks_cluster_name
  broker_ca_pem    = var.broker_ca_pem
}

resource "maestro_agent_key" "agent" {
  provider   = maestro.management
  cluster_id = var.cluster_id
}

resource "maestro_consumer" "agent" {
  provider              = maestro.regional
  consumer_id           = var.cluster_id
  csr_pem               = maestro_agent_key.agent.csr_pem
  management_account_id = var.management_account_id
  topic_prefix          = maestro_server_identity.server.topic_prefix
}

resource "maestro_agent_identity" "agent" {
  provider            = maestro.management
  cluster_id          = var.cluster_id
  regional_account_id = var.regional_account_id
  eks_cluster_name    = var.eks_cluster_name

  mqtt_cert_secret_name = maestro_agent_key.agent.secret_name
  certificate_pem       = maestro_consumer.agent.certificate_pem
  broker_endpoint       = maestro_consumer.agent.endpoint
  broker_ca_pem         = var.broker_ca_pem
}

output "agent_helm_values" {
  value = maestro_agent_identity.agent.upstream_helm_values
}

# Objects for `kubernetes_manifest { for_each = ...; manifest = jsondecode(each.value) }`.
output "agent_manifests" {
  value = maestro_agent_identity.agent.kubernetes_manifests
}

output "server_manifests" {
  value = maestro_server_identity.server.kubernetes_manifests
}

# The same for `kubectl apply -f`.
output "agent_manifests_yaml" {
  value = maestro_agent_identity.agent.kubernetes_manifests_yaml
}

output "server_manifests_yaml" {
  value = maestro_server_identity.server.kubernetes_manifests_yaml
}

output "agent" {
  value = {
    cluster_id            = var.cluster_id
    credential_secret     = maestro_agent_key.agent.secret_name
    config_secret         = maestro_agent_identity.agent.config_secret_name
    namespace             = maestro_agent_identity.agent.namespace
    service_account       = maestro_agent_identity.agent.service_account
    client_id             = maestro_consumer.agent.client_id
    cloudevents_client_id = maestro_agent_identity.agent.cloudevents_client_id
  }
}

output "server" {
  value = {
    certificate_secret = maestro_server_identity.server.certificate_secret_name
    config_secret      = maestro_server_identity.server.config_secret_name
    secrets_policy     = maestro_server_identity.server.secrets_policy
    agent_events_topic = maestro_server_identity.server.agent_events_topic
  }
}

output "server_flags" {
  value = maestro_server_identity.server.server_flags
}
