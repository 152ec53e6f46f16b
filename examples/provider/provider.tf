# One provider block per AWS account, told apart by alias. Credentials come from the standard
# AWS chain (environment, shared files, SSO, instance role); each block then assumes a role in
# its own account, so neither account needs to trust the other. `allowed_account_ids` names
# that account once more: a block whose credentials reach the other account (role ARNs swapped
# between the blocks) is refused before any AWS write.

terraform {
  required_providers {
    maestro = {
      source  = "registry.terraform.io/maestro-iac/maestro"
      version = "~> 0.1"
    }
  }
}

# Regional account: IoT Core, the MQTT broker the Maestro server and agents talk through.
provider "maestro" {
  alias               = "regional"
  region              = "us-east-1"
  allowed_account_ids = ["123456789012"]

  assume_role {
    role_arn     = "arn:aws:iam::123456789012:role/maestro-regional"
    session_name = "maestro-regional"
  }

  default_tags {
    tags = {
      "managed-by" = "terraform-provider-maestro"
    }
  }
}

# Management account: the EKS cluster the Maestro agent runs on.
provider "maestro" {
  alias               = "management"
  region              = "us-east-1"
  allowed_account_ids = ["987654321098"]

  assume_role {
    role_arn     = "arn:aws:iam::987654321098:role/maestro-management"
    session_name = "maestro-management"
  }

  default_tags {
    tags = {
      "managed-by" = "terraform-provider-maestro"
    }
  }
}
