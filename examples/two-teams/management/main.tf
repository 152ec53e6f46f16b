# The management team's configuration: the agent's key and identity, in the management account
# only. It hands `csr_pem` to the regional team and receives `certificate_pem` and
# `broker_endpoint` back (all public). See ../README.md for the order of the applies.

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

variable "management_role_arn" {
  description = "Role the provider assumes in the management account."
  type        = string
  default     = "arn:aws:iam::987654321098:role/maestro-management"
}

variable "management_account_id" {
  description = "This team's own account, the role's: the provider refuses credentials that reach any other account."
  type        = string
  default     = "987654321098"
}

variable "regional_account_id" {
  description = "Account whose IoT Core is the MQTT broker (public)."
  type        = string
  default     = "123456789012"
}

variable "cluster_id" {
  type    = string
  default = "management-01"
}

variable "eks_cluster_name" {
  type    = string
  default = "management-01"
}

variable "key_generation" {
  description = "Change to rotate the agent's key; then hand the new csr_pem over again."
  type        = string
  default     = "1"
}

# From the regional team's outputs. Null until they have applied: the first apply creates the
# key and the identity and warns that the agent has no certificate yet.
variable "certificate_pem" {
  description = "The regional team's certificate_pem output."
  type        = string
  default     = null
}

variable "broker_endpoint" {
  description = "The regional team's endpoint output."
  type        = string
  default     = null
}

variable "aws_endpoint" {
  description = "One URL for every AWS API (a local emulator); null for real AWS."
  type        = string
  default     = null
}

provider "maestro" {
  alias               = "management"
  region              = var.region
  allowed_account_ids = [var.management_account_id]

  assume_role {
    role_arn     = var.management_role_arn
    session_name = "maestro-management-team"
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

resource "maestro_agent_key" "this" {
  provider = maestro.management

  cluster_id        = var.cluster_id
  rotation_triggers = { generation = var.key_generation }
}

resource "maestro_agent_identity" "this" {
  provider = maestro.management

  cluster_id          = var.cluster_id
  regional_account_id = var.regional_account_id
  eks_cluster_name    = var.eks_cluster_name

  mqtt_cert_secret_name = maestro_agent_key.this.secret_name
  certificate_pem       = var.certificate_pem
  broker_endpoint       = var.broker_endpoint
}

# For the regional team. A CSR is public: it carries the public key and the client ID only.
output "csr_pem" {
  value = maestro_agent_key.this.csr_pem
}

# After the certificate is applied, both must be equal; while a rotation waits for the regional
# team, public_key_fingerprint is already the new key's and certificate_fingerprint the old one's.
output "public_key_fingerprint" {
  value = maestro_agent_key.this.public_key_fingerprint
}

output "certificate_fingerprint" {
  value = maestro_agent_identity.this.certificate_fingerprint
}

output "helm_values" {
  value = maestro_agent_identity.this.helm_values
}
