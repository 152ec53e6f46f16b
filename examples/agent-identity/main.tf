# The Maestro agent's identity in a management account: IAM role, least-privilege inline
# policies and the EKS Pod Identity association, in one resource.
#
# `scripts/demo` applies this against the local AWS emulator; against real AWS, leave
# `aws_endpoint` unset and point the role ARN at your management account.

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

variable "regional_account_id" {
  description = "Account whose IoT Core is the MQTT broker."
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

variable "aws_endpoint" {
  description = "One URL for every AWS API (a local emulator); null for real AWS."
  type        = string
  default     = null
}

provider "maestro" {
  alias  = "management"
  region = var.region

  assume_role {
    role_arn     = var.management_role_arn
    session_name = "maestro-agent-identity-example"
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

  default_tags {
    tags = { "managed-by" = "terraform-provider-maestro" }
  }
}

resource "maestro_agent_identity" "this" {
  provider = maestro.management

  cluster_id          = var.cluster_id
  regional_account_id = var.regional_account_id
  eks_cluster_name    = var.eks_cluster_name

  tags = { environment = "example" }
}

output "role_arn" {
  value = maestro_agent_identity.this.role_arn
}

output "association_id" {
  value = maestro_agent_identity.this.association_id
}

output "mqtt_cert_secret_name" {
  value = maestro_agent_identity.this.mqtt_cert_secret_name
}

# Feed straight into a Helm release: values = [yamlencode(maestro_agent_identity.this.helm_values)]
output "helm_values" {
  value = maestro_agent_identity.this.helm_values
}
