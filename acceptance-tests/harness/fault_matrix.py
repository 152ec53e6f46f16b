"""The fault matrix and the interruptions (issue 12, parts 1 and 2), shared by the driver
(benchmarks/fault_matrix.py, scripts/fault-matrix) and the CI slice (tests/test_fault_matrix_slice.py).

A deployment is the whole system in one configuration and two accounts: a Maestro server's
identity and one agent (key, consumer, identity), the flow of tests/test_flows.py. Each of the
four resources gets a provider block of its own - same accounts, same roles, its own
`assume_role.session_name` - so every AWS call the emulator sees carries the session of the
resource that made it (as CloudTrail would name it), and the call trace
(emulator/maestro_emulator/call_control.py) attributes each call exactly.

1. Enumerate: apply a clean deployment phase by phase (create; update = a rotation of the
   agent's and the server's keys plus a tag change; delete) and read the calls of each phase
   from the trace. A call is a `Step`: its resource, service, action, what it names (with the
   deployment's prefix and the IDs AWS picks made into patterns) and which occurrence it is.
2. A fault case: a fresh deployment brought to the phase's start, the one step failed once
   (`MODES`: a 5xx, throttling with the service's real code, or the answer lost after AWS acted,
   as a 5xx the SDK retries or as a TCP reset), the phase's command, then the command again.
3. An interruption case: the step held at the emulator (after AWS acted) while the CLI gets
   SIGINT (it calls StopProvider and waits) or the provider process that made the call gets
   SIGKILL; then the command again.
4. Every case must converge (`check_convergence`): nothing in either account the state does
   not own, no secret version lost, every current bundle's certificate certifies its key, no
   key in state, plan or logs, and an empty plan.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from . import aws_inspect, hcl
from . import credentials as creds
from .aws_accounts import MANAGEMENT_ACCOUNT_ID, MANAGEMENT_ROLE_ARN, REGIONAL_ACCOUNT_ID, REGIONAL_ROLE_ARN, AwsAccount
from .leak_check import LeakScanner
from .tofu_workspace import ANSI_ESCAPE, TofuResult, TofuWorkspace

PHASES = ("create", "update", "delete")
MODES = ("5xx", "throttle", "lost-5xx", "lost-reset")
INTERRUPTIONS = ("sigint", "sigkill")
# Not in the default list: SIGINT to the CLI's whole process group, as a terminal's Ctrl-C
# delivers it (the provider processes get it too, unless the CLI moved them to a group of their own).
CTRL_C = "ctrl-c"


@dataclass(frozen=True)
class Part:
    """One resource of the deployment: its address, and the provider block (and session) it uses."""
    resource: str
    address: str
    alias: str
    role_arn: str

    @property
    def session(self) -> str:
        return "fm-" + self.alias.replace("_", "-")


PARTS = (
    Part("maestro_agent_key", "maestro_agent_key.k", "agent_key", MANAGEMENT_ROLE_ARN),
    Part("maestro_consumer", "maestro_consumer.c", "consumer", REGIONAL_ROLE_ARN),
    Part("maestro_agent_identity", "maestro_agent_identity.x", "agent_identity", MANAGEMENT_ROLE_ARN),
    Part("maestro_server_identity", "maestro_server_identity.s", "server", REGIONAL_ROLE_ARN),
)
PART_BY_SESSION = {part.session: part for part in PARTS}
PART_BY_RESOURCE = {part.resource: part for part in PARTS}

# The errors each service really answers (botocore's service models, AWS's common errors):
# (status, code) for a server fault and for throttling. IoT models ThrottlingException as 400,
# EKS as 429; IAM and STS (query protocol) say Throttling.
SERVICE_ERRORS: dict[str, dict[str, tuple[int, str]]] = {
    "iam": {"5xx": (500, "ServiceFailure"), "throttle": (400, "Throttling")},
    "sts": {"5xx": (500, "InternalFailure"), "throttle": (400, "Throttling")},
    "iot": {"5xx": (500, "InternalFailureException"), "throttle": (400, "ThrottlingException")},
    "eks": {"5xx": (500, "ServerException"), "throttle": (429, "ThrottlingException")},
    "secretsmanager": {"5xx": (500, "InternalServiceError"), "throttle": (400, "ThrottlingException")},
}
# Modes whose failure the SDK retries by itself: the first command should already succeed.
RETRIED_MODES = ("5xx", "throttle")
READ_ACTION = re.compile(r"^(Get|Describe|List)")
LOCK_FILE = ".terraform.tfstate.lock.info"


# ---------------------------------------------------------------- the emulator's call control


class CallControl:
    """The emulator's ordered call trace and step rules (`/maestro-emulator/call-*`)."""

    def __init__(self, emulator_url: str) -> None:
        self.base = emulator_url.rstrip("/") + "/maestro-emulator/"

    def _call(self, path: str, method: str = "GET", body: Any = None) -> Any:
        request = urllib.request.Request(self.base + path, method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def mark(self) -> int:
        return int(self._call("call-trace")["next"])

    def calls(self, since: int) -> list[dict[str, Any]]:
        return list(self._call(f"call-trace?since={since}")["calls"])

    def add_rule(self, **spec: Any) -> dict[str, Any]:
        return self._call("call-rules", "POST", spec)

    def rule(self, rule_id: int) -> dict[str, Any] | None:
        return next((r for r in self._call("call-rules") if r["id"] == rule_id), None)

    def release(self, rule_id: int, then: str = "deliver") -> None:
        self._call("call-rules/release", "POST", {"id": rule_id, "then": then})

    def remove_rules(self) -> None:
        self._call("call-rules", "DELETE")

    def set_iam_propagation(self, seconds: float | None) -> None:
        request = urllib.request.Request(self.base + "config", method="POST",
                                         data=json.dumps({"iamPropagationSeconds": seconds}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30):
            pass


# ---------------------------------------------------------------- the deployment


@dataclass(frozen=True)
class Deployment:
    """One server and one agent whose every name starts with `prefix`."""
    prefix: str

    @property
    def cluster_id(self) -> str:
        return f"{self.prefix}-mc"

    @property
    def management_eks(self) -> str:
        return f"{self.prefix}-mc-eks"

    @property
    def server_name(self) -> str:
        return f"{self.prefix}-srv"

    @property
    def regional_eks(self) -> str:
        return f"{self.prefix}-rc-eks"

    @property
    def server_secrets(self) -> tuple[str, str]:
        return f"{self.prefix}-srv/server-cert", f"{self.prefix}-srv/server-config"

    def prepare(self, management: AwsAccount, regional: AwsAccount) -> None:
        aws_inspect.create_eks_cluster(management, self.management_eks)
        aws_inspect.create_eks_cluster(regional, self.regional_eks)

    def providers(self, emulator_url: str) -> str:
        blocks = []
        for part in PARTS:
            rendered = hcl.ProviderConfig(part.alias, emulator_url, part.role_arn).render()
            # The session names the resource in every call it makes (hcl.ProviderConfig writes
            # only role_arn into assume_role).
            rendered = rendered.replace(f"    role_arn = {hcl.string(part.role_arn)}\n",
                                        f"    role_arn = {hcl.string(part.role_arn)}\n"
                                        f"    session_name = {hcl.string(part.session)}\n")
            blocks.append(rendered)
        return hcl.terraform_block() + "\n" + "\n".join(blocks) + "\n"

    def config(self, emulator_url: str, generation: str = "1", tag: str = "a") -> str:
        tags = {"fault-matrix": tag}
        key, consumer, identity, server = (f"maestro.{p.alias}" for p in PARTS)
        return self.providers(emulator_url) + "\n".join([
            hcl.resource("maestro_agent_key", "k", {
                "cluster_id": self.cluster_id, "rotation_triggers": {"generation": generation}, "tags": tags},
                provider=key),
            hcl.resource("maestro_consumer", "c", {
                "consumer_id": self.cluster_id, "csr_pem": hcl.Raw("maestro_agent_key.k.csr_pem"),
                "management_account_id": MANAGEMENT_ACCOUNT_ID, "certificate_grace_period_hours": 24, "tags": tags},
                provider=consumer),
            hcl.resource("maestro_agent_identity", "x", {
                "cluster_id": self.cluster_id, "regional_account_id": REGIONAL_ACCOUNT_ID,
                "eks_cluster_name": self.management_eks,
                "mqtt_cert_secret_name": hcl.Raw("maestro_agent_key.k.secret_name"),
                "certificate_pem": hcl.Raw("maestro_consumer.c.certificate_pem"),
                "broker_endpoint": hcl.Raw("maestro_consumer.c.endpoint"), "tags": tags},
                provider=identity),
            hcl.resource("maestro_server_identity", "s", {
                "name": self.server_name, "eks_cluster_name": self.regional_eks,
                "certificate_secret_name": self.server_secrets[0], "config_secret_name": self.server_secrets[1],
                "rotation_triggers": {"generation": generation}, "certificate_grace_period_hours": 24, "tags": tags},
                provider=server),
        ])

    def phase_config(self, emulator_url: str, phase: str) -> str:
        """The configuration the phase's command runs with (delete destroys the created one)."""
        return self.config(emulator_url, "2", "b") if phase == "update" else self.config(emulator_url)


def phase_command(phase: str) -> list[str]:
    verb = "destroy" if phase == "delete" else "apply"
    return [verb, "-auto-approve", "-input=false", "-no-color"]


# ---------------------------------------------------------------- steps


# IDs AWS picks, which differ from run to run: the group "id" of each match becomes a pattern
# when a call is generalised to another deployment.
_GENERATED_IDS = (
    (re.compile(r"(?P<id>[0-9a-f]{64})"), "[0-9a-f]{64}"),                             # IoT certificate IDs
    (re.compile(r"\b(?P<id>a-[a-z0-9]{17})\b"), "a-[a-z0-9]{17}"),                     # Pod Identity associations
    (re.compile(r":secret:\S+(?P<id>-[A-Za-z0-9]{6})(?=\s|$)"), "-[A-Za-z0-9]{6}"),     # secret ARN suffixes
    (re.compile(r"(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"), "[0-9a-f-]{36}"),
)
PREFIX_TOKEN = "<PREFIX>"


def generalise(subject: str, prefix: str) -> str:
    """A full-match pattern for the same call in another deployment: the prefix becomes a token,
    generated IDs become patterns, everything else is literal."""
    spans: list[tuple[int, int, str]] = []
    for pattern, replacement in _GENERATED_IDS:
        for match in pattern.finditer(subject):
            start, end = match.span("id")
            if not any(s < end and start < e for s, e, _ in spans):
                spans.append((start, end, replacement))

    def literal(text: str) -> str:
        return re.escape(text).replace(re.escape(prefix), PREFIX_TOKEN)

    pieces: list[str] = []
    position = 0
    for start, end, replacement in sorted(spans):
        pieces += [literal(subject[position:start]), replacement]
        position = end
    pieces.append(literal(subject[position:]))
    return "^" + "".join(pieces) + "$"


@dataclass(frozen=True)
class Step:
    """One AWS call of a clean phase, identified so that a rule meets the same call in another
    deployment: the Nth call of this session, service and action whose subject matches."""
    phase: str
    resource: str
    session: str
    account: str
    service: str
    action: str
    subject: str
    pattern: str
    nth: int
    prefix: str             # the clean run's prefix, which `subject` contains

    @property
    def is_write(self) -> bool:
        return self.service != "sts" and not READ_ACTION.match(self.action)

    def subject_pattern(self, prefix: str) -> str:
        return self.pattern.replace(PREFIX_TOKEN, re.escape(prefix))

    def label(self) -> str:
        return f"{self.service}:{self.action} [{self.subject.replace(self.prefix, '<p>')}] #{self.nth}"

    def rule(self, prefix: str, **effect: Any) -> dict[str, Any]:
        return {"service": self.service, "action": self.action, "session": self.session,
                "subject": self.subject_pattern(prefix), "nth": self.nth, **effect}


def _resource_of(call: dict[str, Any]) -> Part | None:
    if call["session"] in PART_BY_SESSION:
        return PART_BY_SESSION[call["session"]]
    # AssumeRole is signed with the base credentials: the session it asks for names the resource.
    asked = re.search(r"RoleSessionName=(\S+)", call["subject"])
    return PART_BY_SESSION.get(asked.group(1)) if asked else None


def steps_from_calls(phase: str, calls: list[dict[str, Any]], prefix: str) -> list[Step]:
    steps: list[Step] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for call in calls:
        part = _resource_of(call)
        if part is None:
            continue
        pattern = generalise(call["subject"], prefix)
        key = (call["session"], call["service"], call["action"], pattern)
        seen[key] = seen.get(key, 0) + 1
        steps.append(Step(phase, part.resource, call["session"], call["account"], call["service"], call["action"],
                          call["subject"], pattern, seen[key], prefix))
    return steps


# ---------------------------------------------------------------- what exists in AWS


@dataclass
class Inventory:
    """The deployment's objects in both accounts, by the names the provider gives them."""
    certificates: dict[str, str]          # every regional certificate: ID -> status
    things: set[str]
    iot_policies: set[str]
    roles: dict[str, list[str]]           # "<account>:<role>" -> inline policy names
    associations: set[str]                # "<cluster>/<association ID>"
    live_secrets: set[str]                # "<account>:<name>", not scheduled for deletion


def _secret_names(account: AwsAccount, prefix: str) -> set[str]:
    live: set[str] = set()
    paginator = account.secretsmanager.get_paginator("list_secrets")
    for page in paginator.paginate(IncludePlannedDeletion=True, Filters=[{"Key": "name", "Values": [prefix]}]):
        live.update(s["Name"] for s in page["SecretList"] if s["Name"].startswith(prefix) and not s.get("DeletedDate"))
    return live


def inventory(deployment: Deployment, management: AwsAccount, regional: AwsAccount) -> Inventory:
    iot = regional.client("iot")
    certificates: dict[str, str] = {}
    for page in iot.get_paginator("list_certificates").paginate(pageSize=250):
        certificates.update({c["certificateId"]: c["status"] for c in page["certificates"]})
    prefix = deployment.prefix + "-"
    things = {t["thingName"] for page in iot.get_paginator("list_things").paginate()
              for t in page["things"] if t["thingName"].startswith(prefix)}
    policies = {p["policyName"] for page in iot.get_paginator("list_policies").paginate()
                for p in page["policies"] if p["policyName"].startswith(prefix)}
    roles: dict[str, list[str]] = {}
    for name, account in (("management", management), ("regional", regional)):
        for role in sorted(aws_inspect.all_role_names(account)):
            if role.startswith(prefix):
                roles[f"{name}:{role}"] = aws_inspect.inline_policy_names(account, role)
    associations = {f"{cluster}/{a.association_id}"
                    for account, cluster in ((management, deployment.management_eks), (regional, deployment.regional_eks))
                    for a in aws_inspect.associations(account, cluster)}
    secrets = {f"management:{n}" for n in _secret_names(management, prefix)} | \
              {f"regional:{n}" for n in _secret_names(regional, prefix)}
    return Inventory(certificates, things, policies, roles, associations, secrets)


def secret_versions(account: AwsAccount, secret_id: str) -> dict[str, list[str]]:
    """Version ID -> staging labels, deprecated versions included; {} when the secret is gone."""
    # Asked first: moto answers ListSecretVersionIds on a missing secret with a 500, where AWS
    # says ResourceNotFoundException.
    try:
        account.secretsmanager.describe_secret(SecretId=secret_id)
    except ClientError as error:
        if aws_inspect.error_code(error) == "ResourceNotFoundException":
            return {}
        raise
    listed = account.secretsmanager.list_secret_version_ids(SecretId=secret_id, IncludeDeprecated=True)
    return {v["VersionId"]: list(v.get("VersionStages") or []) for v in listed["Versions"]}


@dataclass
class Baseline:
    """What a case starts from: certificates that existed before it, and the credential secrets'
    versions when the phase's command begins."""
    certificates_before: set[str]
    agent_versions: dict[str, list[str]] = field(default_factory=dict)
    server_versions: dict[str, list[str]] = field(default_factory=dict)


def agent_secret(deployment: Deployment) -> str:
    return f"{deployment.cluster_id}/maestro/agent-mqtt-cert"


def record_versions(baseline: Baseline, deployment: Deployment, management: AwsAccount, regional: AwsAccount) -> None:
    baseline.agent_versions = secret_versions(management, agent_secret(deployment))
    baseline.server_versions = secret_versions(regional, deployment.server_secrets[0])


# ---------------------------------------------------------------- convergence


def _current_label(versions: dict[str, list[str]], stage: str = "AWSCURRENT") -> str | None:
    return next((v for v, stages in versions.items() if stage in stages), None)


def register_bundles(account: AwsAccount, secret_id: str, guard: Any) -> None:
    """Every key ever written to the secret, registered with the leak scanner."""
    for version in secret_versions(account, secret_id):
        try:
            raw = json.loads(account.secretsmanager.get_secret_value(SecretId=secret_id, VersionId=version)["SecretString"])
        except (ClientError, ValueError):
            continue
        if isinstance(raw, dict) and raw.get("privateKey"):
            guard.register_secret(raw["privateKey"], f"private key in {secret_id} ({version})")


def coherence_problems(deployment: Deployment, management: AwsAccount, regional: AwsAccount, guard: Any) -> list[str]:
    """The invariant that must hold at every moment, also between a failed command and the next:
    a current bundle either has no certificate yet or pairs its key with that key's certificate."""
    problems = []
    for account, secret in ((management, agent_secret(deployment)), (regional, deployment.server_secrets[0])):
        try:
            creds.assert_current_coherent(account, secret, guard=guard)
        except AssertionError as error:
            problems.append(f"coherence: {error}")
        except ClientError as error:
            # Gone, or scheduled for deletion (after a destroy): no bundle anyone can read.
            scheduled = aws_inspect.error_code(error) == "InvalidRequestException" and "marked deleted" in str(error)
            if aws_inspect.error_code(error) != "ResourceNotFoundException" and not scheduled:
                problems.append(f"coherence: reading {secret}: {error}")
    return problems


def check_convergence(deployment: Deployment, ws: TofuWorkspace, phase: str, baseline: Baseline,
                      management: AwsAccount, regional: AwsAccount, guard: Any) -> list[str]:
    """Everything a converged case must satisfy; returns the problems (empty when converged)."""
    problems: list[str] = []
    state = ws.state_resources()
    found = inventory(deployment, management, regional)

    # (a) nothing in either account that the state does not own.
    owned_certificates: set[str] = set()
    owned_things: set[str] = set()
    owned_policies: set[str] = set()
    owned_roles: dict[str, list[str]] = {}
    owned_associations: set[str] = set()
    owned_secrets: set[str] = set()
    consumer = state.get("maestro_consumer.c")
    server = state.get("maestro_server_identity.s")
    identity = state.get("maestro_agent_identity.x")
    key = state.get("maestro_agent_key.k")
    for holder in (consumer, server):
        if holder:
            owned_certificates.add(holder["certificate_id"])
            owned_certificates.update(p["certificate_id"] for p in holder.get("previous_certificates") or [])
            owned_policies.add(holder["policy_name"])
    if consumer:
        owned_things.add(consumer["thing_name"])
    if server:
        owned_roles[f"regional:{server['role_name']}"] = sorted(["maestro-server-iot", "maestro-server-secrets"])
        owned_associations.add(f"{deployment.regional_eks}/{server['association_id']}")
        owned_secrets.update({f"regional:{server['certificate_secret_name']}", f"regional:{server['config_secret_name']}"})
    if identity:
        owned_roles[f"management:{identity['role_name']}"] = sorted(["maestro-agent-iot", "maestro-agent-secrets"])
        owned_associations.add(f"{deployment.management_eks}/{identity['association_id']}")
        if identity.get("config_secret_name"):
            owned_secrets.add(f"management:{identity['config_secret_name']}")
    if key:
        owned_secrets.add(f"management:{key['secret_name']}")

    new_certificates = set(found.certificates) - baseline.certificates_before
    for kind, extra in (("certificates", new_certificates - owned_certificates),
                        ("things", found.things - owned_things),
                        ("IoT policies", found.iot_policies - owned_policies),
                        ("IAM roles", set(found.roles) - set(owned_roles)),
                        ("Pod Identity associations", found.associations - owned_associations),
                        ("secrets", found.live_secrets - owned_secrets)):
        if extra:
            problems.append(f"orphans: {kind} not in state: {sorted(extra)}")
    for kind, missing in (("certificates", {c for c in owned_certificates if found.certificates.get(c) != "ACTIVE"}),
                          ("things", owned_things - found.things),
                          ("IoT policies", owned_policies - found.iot_policies),
                          ("IAM roles", set(owned_roles) - set(found.roles)),
                          ("Pod Identity associations", owned_associations - found.associations),
                          ("secrets", owned_secrets - found.live_secrets)):
        if missing:
            problems.append(f"state: {kind} recorded but missing or not ACTIVE: {sorted(missing)}")
    for role, names in owned_roles.items():
        # A role taken back after an unfinished create also carries IAM's session revocation,
        # which the provider writes then (README, "Security: key custody").
        if role in found.roles and [n for n in found.roles[role] if n != "AWSRevokeOlderSessions"] != names:
            problems.append(f"orphans: inline policies of {role} are {found.roles[role]}, expected {names}")

    # (b) no secret version lost; (c) every current bundle coherent and the state's certificate.
    if phase != "delete":
        for label, account, secret, before, holder, cert_holder in (
                ("agent", management, agent_secret(deployment), baseline.agent_versions, identity, consumer),
                ("server", regional, deployment.server_secrets[0], baseline.server_versions, server, server)):
            after = secret_versions(account, secret)
            lost = set(before) - set(after)
            if lost:
                problems.append(f"versions: {label} secret lost versions {sorted(lost)}")
            current = _current_label(after)
            if current is None:
                problems.append(f"versions: {label} secret has no AWSCURRENT version")
                continue
            if phase == "update":
                old = _current_label(before)
                if current == old:
                    problems.append(f"versions: {label} secret was not rotated (AWSCURRENT is still {old})")
                elif old is not None and "AWSPREVIOUS" not in after.get(old, []):
                    problems.append(f"versions: {label} secret's previous bundle {old} is not AWSPREVIOUS: {after.get(old)}")
                else:
                    previous = creds.read_bundle(account, secret, "AWSPREVIOUS", guard=guard)
                    if previous is None or not previous.is_coherent():
                        problems.append(f"coherence: {label} AWSPREVIOUS bundle is not coherent")
            if holder and holder.get("credential_version_id") != current:
                problems.append(f"versions: {label} state credential_version_id {holder.get('credential_version_id')} "
                                f"is not AWSCURRENT {current}")
            bundle = creds.read_bundle(account, secret, guard=guard)
            if bundle is None or not bundle.certificate:
                problems.append(f"incomplete: {label} AWSCURRENT bundle has no certificate")
            elif not bundle.is_coherent():
                problems.append(f"coherence: {label} AWSCURRENT bundle's certificate does not certify its key")
            elif cert_holder and bundle.certificate != cert_holder["certificate_pem"]:
                problems.append(f"coherence: {label} AWSCURRENT certificate is not the state's certificate_pem")
            elif set(bundle.raw) != {"certificate", "privateKey", "caCert"}:
                problems.append(f"coherence: {label} AWSCURRENT bundle has keys {sorted(bundle.raw)}")
        register_bundles(management, agent_secret(deployment), guard)
        register_bundles(regional, deployment.server_secrets[0], guard)
    elif state:
        problems.append(f"state: destroy left {sorted(state)} in state")

    # (e) an empty plan (after a destroy: nothing left to destroy).
    plan_args = ["plan", "-detailed-exitcode", "-input=false", "-no-color"] + (["-destroy"] if phase == "delete" else [])
    plan = ws.run(*plan_args, expect_exit=None)
    if plan.exit_code != 0:
        changes = re.findall(r"^\s*# (\S+) (?:will|must) be ([a-z -]+)", plan.stdout, re.MULTILINE)
        described = ", ".join(f"{address} {action.strip()}" for address, action in changes) or _summary(plan)
        problems.append(f"plan: exit {plan.exit_code} after convergence: {described}")
    return problems


def leak_problems(ws: TofuWorkspace, scanner: LeakScanner) -> list[str]:
    """(d) no key in state, plan or logs: the workspace scanned with every registered key."""
    return [f"leak: {finding}" for finding in scanner.scan_tree(ws.root)]


# ---------------------------------------------------------------- running commands


def _summary(result: TofuResult) -> str:
    """The first error of a command, on one line."""
    text = result.stdout + "\n" + result.stderr
    match = re.search(r"Error: ([^\n]+)(?:\n+([^\n]+))?", text)
    if match:
        return re.sub(r"\s+", " ", " ".join(g for g in match.groups() if g))[:220]
    return re.sub(r"\s+", " ", text.strip()[-220:])


def outcome(result: TofuResult) -> str:
    return "ok" if result.exit_code == 0 else f"exit {result.exit_code}: {_summary(result)}"


@dataclass
class Running:
    """A CLI command started in the background, written to the workspace's artifacts like
    TofuWorkspace.run does."""
    ws: TofuWorkspace
    args: list[str]
    process: subprocess.Popen[str]
    stem: str
    started: float

    def wait(self, timeout: float = 300.0) -> TofuResult:
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            stdout, stderr = self.process.communicate()
            stderr += f"\n[fault matrix] killed after {timeout}s"
        stdout, stderr = ANSI_ESCAPE.sub("", stdout), ANSI_ESCAPE.sub("", stderr)
        (self.ws.artifacts / f"{self.stem}.stdout").write_text(stdout, encoding="utf-8")
        (self.ws.artifacts / f"{self.stem}.stderr").write_text(stderr, encoding="utf-8")
        result = TofuResult(self.args, self.process.returncode, stdout, stderr, self.ws.artifacts / f"{self.stem}.log",
                            time.monotonic() - self.started, command=self.ws.tofu.name)
        self.ws.results.append(result)
        return result


def start(ws: TofuWorkspace, args: list[str], label: str) -> Running:
    stem = f"{int(time.time() * 1000) % 10**9:09d}-{label}"
    process = subprocess.Popen([str(ws.tofu), *args], cwd=ws.root, env=ws.environment(ws.artifacts / f"{stem}.log"),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, errors="replace", start_new_session=True)
    return Running(ws, args, process, stem, time.monotonic())


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the parent PID follows it.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _socket_inodes(local_port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields_ = line.split()
            if int(fields_[1].rsplit(":", 1)[1], 16) == local_port:
                inodes.add(fields_[9])
    return inodes


def process_with_port(candidates: list[int], local_port: int) -> int | None:
    """The process among `candidates` holding the TCP socket whose local port is `local_port`
    (the caller of a held AWS request)."""
    wanted = {f"socket:[{inode}]" for inode in _socket_inodes(local_port)}
    for pid in candidates:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) in wanted:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


# ---------------------------------------------------------------- cases


@dataclass
class CaseResult:
    kind: str                       # "fault" or "interruption"
    step: Step
    mode: str
    prefix: str
    fired: bool = False
    first: str = ""
    second: str = ""
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def converged(self) -> bool:
        return self.fired and not self.problems

    def line(self) -> str:
        checks = "all checks passed" if not self.problems else "; ".join(self.problems)
        if not self.fired:
            checks = "step not reached (the rule never fired); " + checks
        notes = f" [{'; '.join(self.notes)}]" if self.notes else ""
        return (f"{'CONVERGED' if self.converged else 'FAILED   '} {self.step.resource:<24} {self.step.phase:<6} "
                f"{self.step.label()} {self.mode:<10} first={self.first} | second={self.second} | "
                f"{checks}{notes} ({self.seconds:.0f}s)")


@dataclass
class Environment:
    """What every case needs: the emulator, both accounts, workspaces, and where keys are registered."""
    emulator_url: str
    management: AwsAccount
    regional: AwsAccount
    make_workspace: Callable[[str], TofuWorkspace]
    # Where the keys read back are registered (register_secret(value, label)): the test's leak
    # guard, which scans every workspace at teardown. Without one, each case gets a scanner of
    # its own and its workspace is scanned when the case ends.
    guard: Any = None
    prefix_source: Callable[[], str] = field(default=lambda: f"fm{int(time.time() * 1000) % 10**8:08d}")

    @property
    def control(self) -> CallControl:
        return CallControl(self.emulator_url)

    def case_guard(self) -> tuple[Any, LeakScanner | None]:
        """(where keys are registered, the scanner to run at the case's end or None)."""
        if self.guard is not None:
            return self.guard, None
        scanner = LeakScanner()
        return scanner, scanner


def _prepared(env: Environment, phase: str) -> tuple[Deployment, TofuWorkspace, Baseline]:
    """A fresh deployment brought to the start of `phase`, its workspace, and the baseline."""
    deployment = Deployment(env.prefix_source())
    deployment.prepare(env.management, env.regional)
    ws = env.make_workspace(deployment.prefix)
    baseline = Baseline(set(inventory(deployment, env.management, env.regional).certificates))
    ws.set_config(deployment.config(env.emulator_url))
    ws.init()
    if phase in ("update", "delete"):
        ws.apply()
    record_versions(baseline, deployment, env.management, env.regional)
    ws.set_config(deployment.phase_config(env.emulator_url, phase))
    return deployment, ws, baseline


def enumerate_phases(env: Environment) -> tuple[dict[str, list[Step]], dict[str, list[str]]]:
    """A clean run of every phase on one deployment: its steps, and the convergence checks run
    on the clean run itself (they must pass there, or a case's failure would mean nothing)."""
    deployment = Deployment(env.prefix_source())
    deployment.prepare(env.management, env.regional)
    ws = env.make_workspace(deployment.prefix)
    baseline = Baseline(set(inventory(deployment, env.management, env.regional).certificates))
    ws.set_config(deployment.config(env.emulator_url))
    ws.init()
    guard, scanner = env.case_guard()
    steps: dict[str, list[Step]] = {}
    clean_problems: dict[str, list[str]] = {}
    for phase in PHASES:
        record_versions(baseline, deployment, env.management, env.regional)
        ws.set_config(deployment.phase_config(env.emulator_url, phase))
        mark = env.control.mark()
        result = ws.run(*phase_command(phase), expect_exit=None)
        calls = env.control.calls(mark)
        if result.exit_code != 0:
            raise AssertionError(f"the clean {phase} failed: {result.describe()}")
        steps[phase] = steps_from_calls(phase, calls, deployment.prefix)
        clean_problems[phase] = check_convergence(deployment, ws, phase, baseline, env.management, env.regional, guard)
        if scanner is not None:
            clean_problems[phase] += leak_problems(ws, scanner)
    return steps, clean_problems


def _fault_spec(step: Step, mode: str) -> dict[str, Any]:
    errors = SERVICE_ERRORS[step.service]
    if mode == "lost-reset":
        return {"effect": "reset", "when": "after"}
    status, code = errors["throttle" if mode == "throttle" else "5xx"]
    message = "Rate exceeded" if mode == "throttle" else "We encountered an internal error. Please try again."
    return {"effect": "fail", "when": "after" if mode == "lost-5xx" else "before", "status": status, "code": code,
            "message": message}


def _finish(env: Environment, case: CaseResult, deployment: Deployment, ws: TofuWorkspace, baseline: Baseline,
            guard: Any, scanner: LeakScanner | None) -> None:
    case.problems += check_convergence(deployment, ws, case.step.phase, baseline, env.management, env.regional, guard)
    if scanner is not None:
        case.problems += leak_problems(ws, scanner)


def run_fault_case(env: Environment, step: Step, mode: str) -> CaseResult:
    """The step fails once in `mode` during the phase's command; the command runs again."""
    started = time.monotonic()
    guard, scanner = env.case_guard()
    deployment, ws, baseline = _prepared(env, step.phase)
    case = CaseResult("fault", step, mode, deployment.prefix)
    control = env.control
    rule = control.add_rule(**step.rule(deployment.prefix, **_fault_spec(step, mode)))
    try:
        first = ws.run(*phase_command(step.phase), expect_exit=None)
    finally:
        fired = control.rule(rule["id"])
        control.remove_rules()
    case.fired = bool(fired and fired["fired"])
    case.first = outcome(first)
    if mode in RETRIED_MODES and first.exit_code != 0:
        case.notes.append("the first command failed although the SDK retries this error")
    case.problems += coherence_problems(deployment, env.management, env.regional, guard)
    second = ws.run(*phase_command(step.phase), expect_exit=None)
    case.second = outcome(second)
    if second.exit_code != 0:
        case.problems.append(f"second command: {case.second}")
    _finish(env, case, deployment, ws, baseline, guard, scanner)
    case.seconds = time.monotonic() - started
    return case


def kill_provider_after(env: Environment, ws: TofuWorkspace, phase: str, label: str, **rule: Any) -> Any:
    """Runs `phase` and SIGKILLs the provider process whose call matches `rule` once AWS acted on
    it (the call is held after, then its connection reset: the answer is lost with the process).
    Returns the CLI's result; a state lock the kill left is removed."""
    control = env.control
    held_rule = control.add_rule(**rule, effect="hold", when="after", holdSeconds=120)
    running = start(ws, phase_command(phase), label)
    try:
        deadline = time.monotonic() + 240
        holding = None
        while holding is None and time.monotonic() < deadline and running.process.poll() is None:
            holding = (control.rule(held_rule["id"]) or {}).get("held")
            time.sleep(0.1)
        assert holding, f"{rule.get('action')} was never held"
        providers = _children(running.process.pid)
        victim = process_with_port(providers, holding["clientPort"])
        for pid in [victim] if victim else providers:
            os.kill(pid, signal.SIGKILL)
        control.release(held_rule["id"], then="reset")
    finally:
        killed = running.wait()
        control.remove_rules()
    if (ws.root / LOCK_FILE).exists():
        ws.run("force-unlock", "-force", json.loads((ws.root / LOCK_FILE).read_text())["ID"], expect_exit=None)
    return killed


def run_interruption_case(env: Environment, step: Step, kind: str, pause: float = 1.0) -> CaseResult:
    """The step is held after AWS acted; then SIGINT to the CLI, or SIGKILL to the provider
    process that made the call; then the command again."""
    started = time.monotonic()
    guard, scanner = env.case_guard()
    deployment, ws, baseline = _prepared(env, step.phase)
    case = CaseResult("interruption", step, kind, deployment.prefix)
    control = env.control
    rule = control.add_rule(**step.rule(deployment.prefix, effect="hold", when="after", holdSeconds=120))
    running = start(ws, phase_command(step.phase), f"{step.phase}-{kind}")
    held = None
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and running.process.poll() is None:
            current = control.rule(rule["id"])
            if current and current["held"]:
                held = current["held"]
                break
            time.sleep(0.1)
        if held is not None:
            case.fired = True
            if kind in ("sigint", CTRL_C):
                # The CLI asks every provider to stop (StopProvider) and waits for the operations
                # in flight; the held call then ends.
                if kind == CTRL_C:
                    os.killpg(running.process.pid, signal.SIGINT)
                else:
                    os.kill(running.process.pid, signal.SIGINT)
                time.sleep(pause)
                control.release(rule["id"])
            else:
                providers = _children(running.process.pid)
                victim = process_with_port(providers, held["clientPort"])
                if victim is None:
                    case.notes.append(f"no provider holds port {held['clientPort']}; killed all {providers}")
                for pid in [victim] if victim else providers:
                    os.kill(pid, signal.SIGKILL)
                control.release(rule["id"], then="reset")
    finally:
        first = running.wait()
        control.remove_rules()
    case.first = outcome(first)
    if (ws.root / LOCK_FILE).exists():
        lock = json.loads((ws.root / LOCK_FILE).read_text())
        case.notes.append("state lock left; force-unlock")
        ws.run("force-unlock", "-force", lock["ID"], expect_exit=None)
    case.problems += coherence_problems(deployment, env.management, env.regional, guard)
    second = ws.run(*phase_command(step.phase), expect_exit=None)
    case.second = outcome(second)
    if second.exit_code != 0:
        case.problems.append(f"second command: {case.second}")
    _finish(env, case, deployment, ws, baseline, guard, scanner)
    case.seconds = time.monotonic() - started
    return case
