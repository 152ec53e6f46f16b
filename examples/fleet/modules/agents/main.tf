# The agents of one management account: for each of its clusters, the key (management
# account), the consumer (regional account) and the identity (management account). Which
# accounts those are is the caller's choice of providers, so the module never names one; the
# account IDs it is given are checked against them at plan (allowed_account_ids in the caller,
# and each resource's own check of the account it names).

terraform {
  required_version = ">= 1.6"
  required_providers {
    maestro = {
      source                = "registry.terraform.io/maestro-iac/maestro"
      version               = "~> 0.1"
      configuration_aliases = [maestro.regional, maestro.management]
    }
  }
}

variable "regional_account_id" {
  description = "The regional account (IoT Core)."
  type        = string
  # Checked here so that a typo is reported at the module block that passes it, not inside.
  validation {
    condition     = can(regex("^[0-9]{12}$", var.regional_account_id))
    error_message = "regional_account_id must be an AWS account ID of 12 digits, got \"${var.regional_account_id}\"."
  }
}

variable "management_account_id" {
  description = "This module's management account: the account of the `maestro.management` provider."
  type        = string
  # Checked here so that a typo is reported at the module block that passes it, not inside.
  validation {
    condition     = can(regex("^[0-9]{12}$", var.management_account_id))
    error_message = "management_account_id must be an AWS account ID of 12 digits, got \"${var.management_account_id}\"."
  }
}

variable "clusters" {
  description = "Cluster ID (also the Maestro consumer name) => name of its EKS cluster, in this management account."
  type        = map(string)
}

variable "topic_prefix" {
  description = "The Maestro server's topic prefix (maestro_server_identity.topic_prefix)."
  type        = string
}

variable "broker_ca_pem" {
  description = "CA the agents trust for the broker; null for IoT Core's ATS endpoint."
  type        = string
  default     = null
}

variable "key_generation" {
  description = "Change to rotate the keys and certificates of this account's agents now."
  type        = string
  default     = "1"
}

resource "maestro_agent_key" "agent" {
  for_each = var.clusters
  provider = maestro.management

  cluster_id        = each.key
  rotation_triggers = { generation = var.key_generation }
  rotate_after_days = 90
}

resource "maestro_consumer" "agent" {
  for_each = var.clusters
  provider = maestro.regional

  consumer_id                    = each.key
  csr_pem                        = maestro_agent_key.agent[each.key].csr_pem
  management_account_id          = var.management_account_id
  topic_prefix                   = var.topic_prefix
  certificate_grace_period_hours = 24
}

resource "maestro_agent_identity" "agent" {
  for_each = var.clusters
  provider = maestro.management

  cluster_id            = each.key
  regional_account_id   = var.regional_account_id
  eks_cluster_name      = each.value
  mqtt_cert_secret_name = maestro_agent_key.agent[each.key].secret_name
  certificate_pem       = maestro_consumer.agent[each.key].certificate_pem
  broker_endpoint       = maestro_consumer.agent[each.key].endpoint
  broker_ca_pem         = var.broker_ca_pem
  topic_prefix          = maestro_consumer.agent[each.key].topic_prefix
}

output "agents" {
  value = {
    for id in keys(var.clusters) : id => {
      account_id = var.management_account_id
      secrets = {
        credentials = maestro_agent_key.agent[id].secret_name
        config      = maestro_agent_identity.agent[id].config_secret_name
      }
      client_id = maestro_consumer.agent[id].client_id
      role_arn  = maestro_agent_identity.agent[id].role_arn
    }
  }
}

output "fingerprints_match" {
  value = alltrue([
    for id in keys(var.clusters) :
    maestro_agent_key.agent[id].public_key_fingerprint == maestro_consumer.agent[id].certificate_public_key_fingerprint
    && maestro_consumer.agent[id].certificate_public_key_fingerprint == maestro_agent_identity.agent[id].certificate_fingerprint
  ])
}

output "helm_values" {
  value = { for id, identity in maestro_agent_identity.agent : id => identity.helm_values }
}
