# The regional team's configuration: the agent's consumer in the regional account's IoT Core.
# It needs only the management team's `csr_pem` (public) and returns `certificate_pem` and
# `endpoint` (public). No private key exists on this side. See ../README.md.

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

variable "regional_role_arn" {
  description = "Role the provider assumes in the regional account."
  type        = string
  default     = "arn:aws:iam::123456789012:role/maestro-regional"
}

variable "regional_account_id" {
  description = "This team's own account, the role's: the provider refuses credentials that reach any other account."
  type        = string
  default     = "123456789012"
}

variable "management_account_id" {
  description = "Account the agent runs in (public)."
  type        = string
  default     = "987654321098"
}

variable "cluster_id" {
  description = "The management cluster's ID, which is the consumer name."
  type        = string
  default     = "management-01"
}

variable "csr_pem" {
  description = "The management team's csr_pem output."
  type        = string
}

variable "aws_endpoint" {
  description = "One URL for every AWS API (a local emulator); null for real AWS."
  type        = string
  default     = null
}

provider "maestro" {
  alias               = "regional"
  region              = var.region
  allowed_account_ids = [var.regional_account_id]

  assume_role {
    role_arn     = var.regional_role_arn
    session_name = "maestro-regional-team"
  }

  dynamic "endpoints" {
    for_each = var.aws_endpoint == null ? [] : [var.aws_endpoint]
    content {
      eks            = endpoints.value
      iam            = endpoints.value
      iot            = endpoints.value
      secretsmanager = endpoints.value
      sts            = endpoints.value
    }
  }
}

resource "maestro_consumer" "this" {
  provider = maestro.regional

  consumer_id           = var.cluster_id
  csr_pem               = var.csr_pem
  management_account_id = var.management_account_id

  # The management team must apply the new certificate within this window after a rotation;
  # the first regional apply after it deletes the old certificate.
  certificate_grace_period_hours = 72
}

# For the management team.
output "certificate_pem" {
  value = maestro_consumer.this.certificate_pem
}

output "endpoint" {
  value = maestro_consumer.this.endpoint
}

output "certificate_public_key_fingerprint" {
  value = maestro_consumer.this.certificate_public_key_fingerprint
}
