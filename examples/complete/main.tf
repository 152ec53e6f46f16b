# The whole system in one configuration: the Maestro server's identity in the regional account
# and two agents, each on its own management cluster. For every agent, its key in the
# management account, its consumer (IoT thing, policy, certificate) in the regional account, and
# its identity completing the credential secret; and its consumer registered with Maestro, so
# the server sends it work. One apply does everything; only public values
# (CSRs, certificates, the endpoint, the topic prefix) flow between the two provider blocks, and
# no private key enters the state.
#
# `scripts/demo` and the acceptance tests apply this against the local AWS emulator and then run
# a server and both agents on Maestro's own transport (sdk-go) from the secrets it wrote; against
# real AWS, leave `aws_endpoint` unset, point the role ARNs at your accounts and `maestro_api_url`
# at Maestro.

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
  description = "Role the provider assumes in the regional account (IoT Core)."
  type        = string
  default     = "arn:aws:iam::123456789012:role/maestro-regional"
}

variable "management_role_arn" {
  description = "Role the provider assumes in the management account (EKS, the agent)."
  type        = string
  default     = "arn:aws:iam::987654321098:role/maestro-management"
}

# Written down apart from the role ARNs on purpose: each provider block allows only its own
# account, so role ARNs swapped between the blocks (or pointing at a wrong account) are refused
# before any AWS write, and each resource is checked at plan against the account it names.
variable "regional_account_id" {
  description = "The regional account: the regional role's account."
  type        = string
  default     = "123456789012"
}

variable "management_account_id" {
  description = "The management account: the management role's account."
  type        = string
  default     = "987654321098"
}

variable "server_name" {
  description = "Name of the Maestro server deployment; names its IoT policy and IAM role."
  type        = string
  default     = "regional-01"
}

variable "regional_eks_cluster_name" {
  description = "EKS cluster in the regional account that runs the Maestro server."
  type        = string
  default     = "regional-01"
}

variable "management_clusters" {
  description = "The management clusters, one Maestro agent each: cluster ID (also the consumer name) => name of its EKS cluster."
  type        = map(string)
  default = {
    "management-01" = "management-01"
    "management-02" = "management-02"
  }
}

variable "key_generation" {
  description = "Change to rotate every key and certificate (the server's and each agent's) now."
  type        = string
  default     = "1"
}

variable "broker_ca_pem" {
  description = "CA the server and the agents trust for the broker; null for IoT Core's ATS endpoint (Amazon Root CA 1). Set it for an IoT Core custom domain, or for the local emulator's broker."
  type        = string
  default     = null
}

variable "maestro_api_url" {
  description = "Maestro's REST API (the server's https:// URL; the local emulator's for the demo), where each agent's consumer is registered; null registers none, and the server then sends the agents no work."
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
  # The chart that runs the server: the deployed one mounts maestro/server-cert,
  # maestro/server-config and maestro/db-credentials (which the server's role may then read).
  server_chart = "rosa-regional-platform"

  assume_role {
    role_arn     = var.regional_role_arn
    session_name = "maestro-complete-example"
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
  # The chart that runs the agents: upstream's, since the deployed one mounts fixed secret names
  # and so allows one agent per management account and region; this account has two.
  agent_chart = "maestro"

  assume_role {
    role_arn     = var.management_role_arn
    session_name = "maestro-complete-example"
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
    tags = { "managed-by" = "terraform-provider-maestro" }
  }
}

# 1. Regional account: the Maestro server's identity. Its key is generated by the provider and
#    written only into the secret maestro/server-cert (with its certificate, issued by IoT Core
#    from a CSR, and the broker CA); its MQTT config goes to maestro/server-config, the names the
#    deployed server chart mounts. Also its IoT policy, IAM role and Pod Identity association.
resource "maestro_server_identity" "server" {
  provider = maestro.regional

  name             = var.server_name
  eks_cluster_name = var.regional_eks_cluster_name
  broker_ca_pem    = var.broker_ca_pem

  # Each replica subscribes through $share/statussubscribers/..., so one receives each status.
  subscription_type = "shared"

  rotation_triggers = { generation = var.key_generation }
  rotate_after_days = 90
  # A replaced certificate stays ACTIVE this long, until every replica has mounted the new one.
  certificate_grace_period_hours = 24
}

# 2. Management account, per agent: the key pair, generated by the provider and written straight
#    into the credential secret. Only csr_pem leaves.
resource "maestro_agent_key" "agent" {
  for_each = var.management_clusters
  provider = maestro.management

  cluster_id = each.key

  rotation_triggers = { generation = var.key_generation }
  # A scheduled plan/apply after 90 days rotates without anyone remembering to.
  rotate_after_days = 90
}

# 3. Regional account, per agent: thing, least-privilege policy and the certificate IoT Core
#    issues for the CSR, on the server's topics.
resource "maestro_consumer" "agent" {
  for_each = var.management_clusters
  provider = maestro.regional

  consumer_id           = each.key
  csr_pem               = maestro_agent_key.agent[each.key].csr_pem
  management_account_id = var.management_account_id
  topic_prefix          = maestro_server_identity.server.topic_prefix

  # After a rotation the old certificate stays ACTIVE this long, so agents still holding the
  # old bundle keep connecting until the CSI driver has mounted the new one.
  certificate_grace_period_hours = 24
}

# 4. Management account, per agent: IAM role, Pod Identity association, and the two secrets the
#    agent mounts: the credential bundle (completed with the certificate) and the MQTT config.
resource "maestro_agent_identity" "agent" {
  for_each = var.management_clusters
  provider = maestro.management

  cluster_id          = each.key
  regional_account_id = var.regional_account_id
  eks_cluster_name    = each.value

  # From the key rather than a literal, so the two cannot name different secrets.
  mqtt_cert_secret_name = maestro_agent_key.agent[each.key].secret_name
  certificate_pem       = maestro_consumer.agent[each.key].certificate_pem
  broker_endpoint       = maestro_consumer.agent[each.key].endpoint
  broker_ca_pem         = var.broker_ca_pem
  topic_prefix          = maestro_consumer.agent[each.key].topic_prefix
}

# 5. Maestro itself, per agent: the consumer registered by name, the runbook's last hand step.
#    Until then Maestro's server sends the agent nothing, however well it is wired to IoT Core.
#    Through the regional platform API instead: a `platform_api { url = ... }` block, signed with
#    this provider's credentials.
resource "maestro_consumer_registration" "agent" {
  for_each = var.maestro_api_url == null ? {} : var.management_clusters
  provider = maestro.regional

  name = maestro_consumer.agent[each.key].consumer_id
  labels = {
    cluster_type = "management"
    cluster_id   = each.key
  }

  maestro_api {
    url = var.maestro_api_url
  }
}

locals {
  # Per agent. Equal fingerprints mean the certificate in the current bundle certifies the key
  # staged by maestro_agent_key: the agent's credentials are coherent.
  fingerprints = {
    for id in keys(var.management_clusters) : id => {
      key         = maestro_agent_key.agent[id].public_key_fingerprint
      certificate = maestro_consumer.agent[id].certificate_public_key_fingerprint
      installed   = maestro_agent_identity.agent[id].certificate_fingerprint
    }
  }
}

output "fingerprints" {
  value = local.fingerprints
}

output "fingerprints_match" {
  value = alltrue([for f in values(local.fingerprints) : f.key == f.certificate && f.certificate == f.installed])
}

output "server" {
  value = {
    endpoint               = maestro_server_identity.server.endpoint
    topic_prefix           = maestro_server_identity.server.topic_prefix
    source_id              = maestro_server_identity.server.source_id
    source_events_topic    = maestro_server_identity.server.source_events_topic
    agent_events_topic     = maestro_server_identity.server.agent_events_topic
    certificate_secret     = maestro_server_identity.server.certificate_secret_name
    config_secret          = maestro_server_identity.server.config_secret_name
    certificate_id         = maestro_server_identity.server.certificate_id
    public_key_fingerprint = maestro_server_identity.server.public_key_fingerprint
    policy_name            = maestro_server_identity.server.policy_name
    role_arn               = maestro_server_identity.server.role_arn
  }
}

# The flags of Maestro's `server` command that must agree with the identity (source ID, client
# ID per replica, subscription type, broker config file).
output "server_flags" {
  value = maestro_server_identity.server.server_flags
}

# Feed straight into a Helm release of the deployed server chart (rosa-regional-platform
# regional-cluster/maestro-server), which mounts maestro/server-cert, maestro/server-config and
# maestro/db-credentials (create that one with the database's credentials). It runs 2 replicas
# with one MQTT client ID: set maestroServer.deployment.replicas = 1 (see the plan warning).
#   values = [yamlencode(maestro_server_identity.server.helm_values)]
output "server_helm_values" {
  value = maestro_server_identity.server.helm_values
}

output "agents" {
  value = {
    for id in keys(var.management_clusters) : id => {
      secrets = {
        credentials = maestro_agent_key.agent[id].secret_name
        config      = maestro_agent_identity.agent[id].config_secret_name
      }
      mqtt = {
        endpoint     = maestro_consumer.agent[id].endpoint
        client_id    = maestro_consumer.agent[id].client_id
        source_topic = maestro_consumer.agent[id].source_events_topic
        agent_topic  = maestro_consumer.agent[id].agent_events_topic
      }
      role_arn = maestro_agent_identity.agent[id].role_arn
    }
  }
}

# Per agent, for a Helm release of upstream's agent chart (openshift-online/maestro
# charts/maestro-agent), after applying agent_manifests (below):
#   values = [yamlencode(maestro_agent_identity.agent["management-01"].upstream_helm_values)]
output "upstream_helm_values" {
  value = { for id, identity in maestro_agent_identity.agent : id => identity.upstream_helm_values }
}

# Per agent, what upstream's chart needs but does not render: the External Secrets Operator
# objects that keep the Kubernetes Secret maestro-agent-certs in step with the credential secret,
# and the SecretProviderClass of its secrets. `kubectl apply -f` the YAML, or
#   resource "kubernetes_manifest" "agent" { for_each = ...; manifest = jsondecode(each.value) }
output "agent_manifests_yaml" {
  value = { for id, identity in maestro_agent_identity.agent : id => identity.kubernetes_manifests_yaml }
}

output "agent_manifests" {
  value = { for id, identity in maestro_agent_identity.agent : id => identity.kubernetes_manifests }
}

# The SecretProviderClass the deployed server chart renders, for comparison.
output "server_manifests" {
  value = maestro_server_identity.server.kubernetes_manifests
}

# The consumers registered with Maestro: name => Maestro's consumer ID.
output "registrations" {
  value = { for id, registration in maestro_consumer_registration.agent : id => registration.id }
}
