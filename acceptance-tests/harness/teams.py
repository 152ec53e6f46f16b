"""Many teams on a real state backend: one regional configuration and one management
configuration per management account, each with its own state in S3 (OpenTofu's `s3` backend
with `use_lockfile = true`: the lock is `<key>.tflock`, written with `If-None-Match: *`), applied
by separate CLI processes at once, as CI runners would.

Each management configuration is examples/two-teams/management unchanged, in an account of its
own (the emulator serves any account ID: AssumeRole into `arn:aws:iam::<id>:role/...` acts in
`<id>`). The regional configuration is examples/two-teams/regional's for many agents: one
`maestro_consumer` per management cluster, `for_each` over a map the management teams' outputs
fill. What crosses between the states is exactly the example's three public values:
`csr_pem` (management to regional), `certificate_pem` and `endpoint` (regional to management),
here through `*.auto.tfvars.json` files the harness writes from `output -json`, as a pipeline
would pass artifacts between jobs.

Every command goes through `run_with_lock_retry`: a command that fails only on the state lock
(another process holds it) is run again with `-lock-timeout`; any other failure fails the
step. The retries are counted, so a test can show that each lock error a retry cleared.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import aws_accounts, aws_inspect, hcl, settings
from harness.aws_accounts import REGION, REGIONAL_ACCOUNT_ID, REGIONAL_ROLE_ARN, AwsAccount
from harness.tofu_workspace import TofuResult, TofuWorkspace

EXAMPLE_MANAGEMENT = Path(__file__).resolve().parents[2] / "examples" / "two-teams" / "management"
LOCK_ERROR = "Error acquiring the state lock"
LOCK_TIMEOUT = "-lock-timeout=120s"


def under_terraform() -> bool:
    """Whether the CLI under test is HashiCorp Terraform, whose test builds have no s3 backend."""
    try:
        return settings.cli().is_terraform
    except ValueError:
        return False  # the `cli` fixture reports the bad MAESTRO_TEST_CLI


def team_account_id(index: int) -> str:
    """A management account per team: 12 digits, none of the standard accounts."""
    return f"2{index:011d}"


def backend_block(emulator_url: str, bucket: str, key: str) -> str:
    """The `s3` backend against the emulator's S3, locking with a lock file in the bucket."""
    return f'''terraform {{
  backend "s3" {{
    bucket       = "{bucket}"
    key          = "{key}"
    region       = "{REGION}"
    use_lockfile = true

    # The emulator: one endpoint, path-style buckets, static test credentials.
    endpoints                   = {{ s3 = "{emulator_url}" }}
    use_path_style              = true
    access_key                  = "{aws_accounts.BASE_ACCESS_KEY_ID}"
    secret_key                  = "{aws_accounts.BASE_SECRET_ACCESS_KEY}"
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
  }}
}}
'''


REGIONAL_CONFIG = f'''# The regional team's configuration for a fleet: examples/two-teams/regional with one consumer
# per management cluster. `agents` is filled from the management teams' csr_pem outputs.
terraform {{
  required_providers {{
    maestro = {{
      source  = "registry.terraform.io/maestro-iac/maestro"
      version = "~> 0.1"
    }}
  }}
}}

variable "aws_endpoint" {{
  type = string
}}

variable "agents" {{
  description = "cluster_id => the management team's csr_pem and account."
  type        = map(object({{ csr_pem = string, management_account_id = string }}))
}}

provider "maestro" {{
  alias               = "regional"
  region              = "{REGION}"
  allowed_account_ids = ["{REGIONAL_ACCOUNT_ID}"]

  assume_role {{
    role_arn     = "{REGIONAL_ROLE_ARN}"
    session_name = "maestro-regional-team"
  }}

  endpoints {{
    eks            = var.aws_endpoint
    iam            = var.aws_endpoint
    iot            = var.aws_endpoint
    secretsmanager = var.aws_endpoint
    sts            = var.aws_endpoint
  }}
}}

resource "maestro_consumer" "agent" {{
  for_each = var.agents
  provider = maestro.regional

  consumer_id                    = each.key
  csr_pem                        = each.value.csr_pem
  management_account_id          = each.value.management_account_id
  certificate_grace_period_hours = 72
}}

output "certificates" {{
  value = {{ for id, consumer in maestro_consumer.agent : id => consumer.certificate_pem }}
}}

output "fingerprints" {{
  value = {{ for id, consumer in maestro_consumer.agent : id => consumer.certificate_public_key_fingerprint }}
}}

output "endpoint" {{
  value = one(distinct([for consumer in maestro_consumer.agent : consumer.endpoint]))
}}
'''


def outputs(ws: TofuWorkspace) -> dict[str, Any]:
    return {name: item["value"] for name, item in json.loads(ws.run("output", "-json").stdout).items()}


@dataclass
class LockLedger:
    """Lock errors met and whether the retry cleared each (a failure after the retry raises)."""
    cleared: list[str] = field(default_factory=list)

    def record(self, label: str) -> None:
        self.cleared.append(label)


def run_with_lock_retry(ws: TofuWorkspace, args: list[str], label: str, ledger: LockLedger) -> TofuResult:
    first = ws.run(*args, expect_exit=None)
    if first.exit_code == 0 or (args[0] == "plan" and first.exit_code == 2):
        return first
    if LOCK_ERROR not in first.output:
        raise AssertionError(f"{label}: {first.describe()}")
    retried = ws.run(*args, LOCK_TIMEOUT, expect_exit=None)
    if retried.exit_code not in ((0, 2) if args[0] == "plan" else (0,)):
        raise AssertionError(f"{label}: a lock error the retry did not clear: {retried.describe()}")
    ledger.record(label)
    return retried


@dataclass
class Team:
    """One management account's team: its cluster, account and workspace."""
    index: int
    cluster_id: str
    account: AwsAccount
    ws: TofuWorkspace

    @property
    def state_key(self) -> str:
        return f"management/{self.account.account_id}/{self.cluster_id}.tfstate"

    def set_variables(self, emulator_url: str, **values: Any) -> None:
        self.ws.write_file("team.auto.tfvars.json", json.dumps({
            "aws_endpoint": emulator_url, "cluster_id": self.cluster_id, "eks_cluster_name": f"{self.cluster_id}-eks",
            "management_account_id": self.account.account_id,
            "management_role_arn": f"arn:aws:iam::{self.account.account_id}:role/maestro-management", **values}))


@dataclass
class TeamsFleet:
    emulator_url: str
    bucket: str
    regional: TofuWorkspace
    teams: list[Team]
    parallelism: int
    ledger: LockLedger = field(default_factory=LockLedger)
    timings: dict[str, float] = field(default_factory=dict)
    # What the regional configuration handed back to each team: certificate_pem, broker_endpoint.
    handed_back: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def regional_state_key(self) -> str:
        return f"regional/{REGIONAL_ACCOUNT_ID}/maestro.tfstate"

    def each_team(self, step: str, work: Callable[[Team], Any]) -> list[Any]:
        """`work` for every team, at most `parallelism` at once (each a CLI process of its own)."""
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            results = list(pool.map(work, self.teams))
        self.timings[step] = time.monotonic() - started
        return results

    def apply_team(self, team: Team, label: str) -> TofuResult:
        return run_with_lock_retry(team.ws, ["apply", "-auto-approve", "-input=false", "-no-color"],
                                   f"{label} {team.cluster_id}", self.ledger)

    def hand_csrs_to_regional(self, csrs: dict[str, str]) -> None:
        agents = {team.cluster_id: {"csr_pem": csrs[team.cluster_id], "management_account_id": team.account.account_id}
                  for team in self.teams}
        self.regional.write_file("agents.auto.tfvars.json", json.dumps({"aws_endpoint": self.emulator_url, "agents": agents}))

    def apply_regional(self, label: str) -> dict[str, Any]:
        run_with_lock_retry(self.regional, ["apply", "-auto-approve", "-input=false", "-no-color"], label, self.ledger)
        return outputs(self.regional)

    def round_trip(self, label: str, key_generation: str) -> dict[str, Any]:
        """The example's three steps for every team: management applies (a new key when the
        generation changed), the regional configuration issues the certificates, management
        applies them. Returns the regional outputs."""
        def stage(team: Team) -> str:
            team.set_variables(self.emulator_url, key_generation=key_generation, **self.handed_back.get(team.cluster_id, {}))
            self.apply_team(team, f"{label}: stage")
            return outputs(team.ws)["csr_pem"]

        csrs = dict(zip([t.cluster_id for t in self.teams], self.each_team(f"{label}: management stage", stage)))
        self.hand_csrs_to_regional(csrs)
        started = time.monotonic()
        regional = self.apply_regional(f"{label}: regional")
        self.timings[f"{label}: regional"] = time.monotonic() - started
        self.handed_back = {cluster_id: {"certificate_pem": certificate, "broker_endpoint": regional["endpoint"]}
                            for cluster_id, certificate in regional["certificates"].items()}

        def complete(team: Team) -> None:
            team.set_variables(self.emulator_url, key_generation=key_generation, **self.handed_back[team.cluster_id])
            self.apply_team(team, f"{label}: complete")

        self.each_team(f"{label}: management complete", complete)
        return regional


def broker_ca_override(broker_ca_pem: str) -> str:
    """An override file (the CLI merges `*_override.tf` into the example's blocks, which stay
    unchanged): the emulator's broker has a CA of its own, where IoT Core's is Amazon's, the
    identity's default."""
    return ("# The emulator's broker CA, merged into the example's identity.\n"
            f'resource "maestro_agent_identity" "this" {{\n  broker_ca_pem = {hcl.string(broker_ca_pem)}\n}}\n')


def make_fleet(emulator_url: str, make_workspace: Callable[[str], TofuWorkspace], count: int, parallelism: int,
               prefix: str, broker_ca_pem: str) -> TeamsFleet:
    """The bucket, each team's account, EKS cluster and initialised workspace, and the regional
    workspace, all on the s3 backend."""
    bucket = f"{prefix}-tfstate"
    regional_account = aws_accounts.regional_account(emulator_url)
    regional_account.client("s3").create_bucket(Bucket=bucket)
    regional_ws = make_workspace(f"{prefix}-regional")
    fleet = TeamsFleet(emulator_url, bucket, regional_ws, [], parallelism)
    regional_ws.set_config(REGIONAL_CONFIG)
    regional_ws.write_file("backend.tf", backend_block(emulator_url, bucket, fleet.regional_state_key))

    def team(index: int) -> Team:
        account_id = team_account_id(index)
        account = aws_accounts.assume_account(emulator_url, f"team-{index}",
                                              f"arn:aws:iam::{account_id}:role/maestro-management", account_id)
        cluster_id = f"{prefix}-mc-{index:02d}"
        aws_inspect.create_eks_cluster(account, f"{cluster_id}-eks")
        ws = make_workspace(f"{prefix}-mgmt-{index:02d}")
        for source in sorted(EXAMPLE_MANAGEMENT.iterdir()):
            if source.is_file() and source.suffix == ".tf":
                shutil.copy2(source, ws.root / source.name)
        member = Team(index, cluster_id, account, ws)
        ws.write_file("backend.tf", backend_block(emulator_url, bucket, member.state_key))
        ws.write_file("emulator_override.tf", broker_ca_override(broker_ca_pem))
        member.set_variables(emulator_url)
        return member

    fleet.teams = [team(i) for i in range(1, count + 1)]
    # `init` of every workspace at once too: each reads its own state object.
    fleet.each_team("init", lambda t: t.ws.init())
    regional_ws.init()
    return fleet


def state_objects(account: AwsAccount, bucket: str) -> dict[str, dict[str, Any]]:
    """Key -> the stored state (parsed), for every object of the bucket; lock files as text."""
    s3 = account.client("s3")
    found: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            found[item["Key"]] = json.loads(body) if item["Key"].endswith(".tfstate") else {"text": body}
    return found


def lock_files(objects: Iterable[str]) -> list[str]:
    return sorted(key for key in objects if key.endswith(".tflock"))
