# A fleet: the Maestro server in the regional account and agents on EKS management clusters
# spread over several management accounts (here two, holding two clusters and one). One provider
# block per AWS account, each refusing credentials that reach another account
# (`allowed_account_ids`); the per-agent resources live once, in modules/agents, which takes
# the regional provider and one management account's provider (`configuration_aliases`), and
# is called once per management account.
#
# Against real AWS: leave `aws_endpoint` unset and set the accounts and role ARNs. Against the
# local emulator: `scripts/try` prints the values to put in emulator.auto.tfvars.json.

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

variable "aws_endpoint" {
  description = "One URL for every AWS API (a local emulator); null for real AWS."
  type        = string
  default     = null
}

variable "regional" {
  description = "The regional account (IoT Core, the Maestro server): its ID, the role the provider assumes there, and the EKS cluster that runs the server."
  type = object({
    account_id       = string
    role_arn         = string
    eks_cluster_name = string
  })
  default = {
    account_id       = "123456789012"
    role_arn         = "arn:aws:iam::123456789012:role/maestro-regional"
    eks_cluster_name = "regional-01"
  }
}

# Account IDs are written apart from the role ARNs on purpose: a role ARN that points at the
# wrong account is then refused by allowed_account_ids before anything is written.
variable "management_a" {
  description = "First management account: its ID, the role the provider assumes there, and its clusters (cluster ID => EKS cluster name)."
  type = object({
    account_id = string
    role_arn   = string
    clusters   = map(string)
  })
  default = {
    account_id = "987654321098"
    role_arn   = "arn:aws:iam::987654321098:role/maestro-management"
    clusters = {
      "management-01" = "management-01"
      "management-02" = "management-02"
    }
  }
}

variable "management_b" {
  description = "Second management account, as management_a."
  type = object({
    account_id = string
    role_arn   = string
    clusters   = map(string)
  })
  default = {
    account_id = "345678901234"
    role_arn   = "arn:aws:iam::345678901234:role/maestro-management"
    clusters = {
      "management-03" = "management-03"
    }
  }
}

variable "broker_ca_pem" {
  description = "CA the server and the agents trust for the broker; null for IoT Core's ATS endpoint (Amazon Root CA 1)."
  type        = string
  default     = null
}

locals {
  endpoints = var.aws_endpoint == null ? [] : [var.aws_endpoint]
  tags      = { "managed-by" = "terraform-provider-maestro", "example" = "fleet" }
}

provider "maestro" {
  alias               = "regional"
  region              = var.region
  allowed_account_ids = [var.regional.account_id]

  assume_role {
    role_arn     = var.regional.role_arn
    session_name = "maestro-fleet"
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

  default_tags {
    tags = local.tags
  }
}

provider "maestro" {
  alias               = "management_a"
  region              = var.region
  allowed_account_ids = [var.management_a.account_id]

  assume_role {
    role_arn     = var.management_a.role_arn
    session_name = "maestro-fleet"
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

  default_tags {
    tags = local.tags
  }
}

provider "maestro" {
  alias               = "management_b"
  region              = var.region
  allowed_account_ids = [var.management_b.account_id]

  assume_role {
    role_arn     = var.management_b.role_arn
    session_name = "maestro-fleet"
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

  default_tags {
    tags = local.tags
  }
}

# The Maestro server's identity, once, in the regional account; every consumer uses its topics.
resource "maestro_server_identity" "server" {
  provider = maestro.regional

  name              = "regional-01"
  eks_cluster_name  = var.regional.eks_cluster_name
  broker_ca_pem     = var.broker_ca_pem
  subscription_type = "shared"
}

# One module block per management account; a new account is a new provider block and a new
# module block, nothing else.
module "agents_a" {
  source = "./modules/agents"
  providers = {
    maestro.regional   = maestro.regional
    maestro.management = maestro.management_a
  }

  regional_account_id   = var.regional.account_id
  management_account_id = var.management_a.account_id
  clusters              = var.management_a.clusters
  topic_prefix          = maestro_server_identity.server.topic_prefix
  broker_ca_pem         = var.broker_ca_pem
}

module "agents_b" {
  source = "./modules/agents"
  providers = {
    maestro.regional   = maestro.regional
    maestro.management = maestro.management_b
  }

  regional_account_id   = var.regional.account_id
  management_account_id = var.management_b.account_id
  clusters              = var.management_b.clusters
  topic_prefix          = maestro_server_identity.server.topic_prefix
  broker_ca_pem         = var.broker_ca_pem
}

output "server_helm_values" {
  value = maestro_server_identity.server.helm_values
}

output "agents" {
  description = "Per cluster ID: its account, secrets, MQTT identity and role."
  value       = merge(module.agents_a.agents, module.agents_b.agents)
}

output "fingerprints_match" {
  description = "True when every agent's installed certificate certifies the key its maestro_agent_key holds."
  value       = module.agents_a.fingerprints_match && module.agents_b.fingerprints_match
}

# Per cluster ID, for a Helm release of the agent chart on that cluster:
#   values = [yamlencode(module.agents_a.helm_values["management-01"])]
output "helm_values" {
  value = merge(module.agents_a.helm_values, module.agents_b.helm_values)
}
