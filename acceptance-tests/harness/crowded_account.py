"""A regional account as a real fleet fills it: many consumers' things, policies and
certificates, and objects that are none of Maestro's, made straight through the emulator with
boto3 before the provider runs.

    crowd = CrowdedAccount(regional)
    timing = crowd.populate(consumers=1000, unrelated_policies=300, unrelated_secrets=200)
    ...                                    # the provider makes the object a test will look for
    crowd.bury(certificates=300)           # newer objects push it off the first page
    assert crowd.certificate_page(certificate_id) > 1

Each crowd consumer is laid out as the provider lays one out: the thing
`<id>-maestro-agent` recording its management account, the policy `<id>-maestro-agent-policy`
granting its topics, and certificates in one of three shapes, in turn:

- `active`: one ACTIVE certificate attached to the thing and the policy;
- `in-grace`: rotated within its grace period, two ACTIVE certificates both attached;
- `retired`: rotated past its grace period, the old certificate INACTIVE and detached, the
  new one ACTIVE and attached.

IoT lists certificates and policies newest first (the provider asks it so): an object made
before the crowd sits on its last page already, one made after it is pushed back by `bury`.
Every certificate is issued by CreateCertificateFromCsr for one CSR (its key is this module's
and never leaves the process); the emulator signs each, so each is a distinct certificate.
Calls run on a bounded thread pool: boto3 clients are thread-safe, sessions are not, so the
clients are made before the pool starts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, REGION, AwsAccount

CROWD_PREFIX = "crowd"
UNRELATED_POLICY_PREFIX = "unrelated-iot-policy"
UNRELATED_SECRET_PREFIX = "unrelated/secret"
SHAPES = ("active", "in-grace", "retired")
# The largest page each listing allows: with it, "not on the first page" is as strong as it gets.
IOT_MAX_PAGE = 250
WORKERS = 8


def crowd_consumer_id(index: int) -> str:
    return f"{CROWD_PREFIX}-{index:04d}"


def _csr_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crowd")]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _agent_policy(account_id: str, consumer_id: str) -> str:
    base = f"arn:aws:iot:{REGION}:{account_id}"
    topics = f"sources/maestro/consumers/{consumer_id}"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{base}:client/{consumer_id}-work-agent-client"},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{base}:topicfilter/{topics}/sourceevents"},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": f"{base}:topic/{topics}/sourceevents"},
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{base}:topic/{topics}/agentevents"},
    ]})


def _unrelated_policy() -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:*:*:topic/telemetry/*"}]})


@dataclass
class CrowdConsumer:
    consumer_id: str
    shape: str
    certificates: dict[str, str] = field(default_factory=dict)   # certificate ID -> status

    @property
    def thing_name(self) -> str:
        return f"{self.consumer_id}-maestro-agent"

    @property
    def policy_name(self) -> str:
        return f"{self.consumer_id}-maestro-agent-policy"


@dataclass
class Timing:
    """What a populate or bury made, and how long it took (printed by the tests and scripts)."""
    calls: int = 0
    seconds: float = 0.0
    made: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        made = ", ".join(f"{n} {what}" for what, n in self.made.items())
        return f"{made}: {self.calls} calls in {self.seconds:.1f} s ({self.calls / max(self.seconds, 1e-9):.0f}/s)"


class CrowdedAccount:
    def __init__(self, regional: AwsAccount, workers: int = WORKERS) -> None:
        self.account = regional
        self.iot = regional.client("iot")
        self.secretsmanager = regional.client("secretsmanager")
        self.workers = workers
        self.csr = _csr_pem()
        self.consumers: list[CrowdConsumer] = []
        self.unrelated_policies: list[str] = []
        self.unrelated_certificates: list[str] = []
        self.unrelated_secrets: list[str] = []

    # ------------------------------------------------------------ making

    def _run(self, jobs: Iterable[Callable[[], int]]) -> int:
        """Runs the jobs on the pool; each returns how many calls it made. The first failure
        is raised (a crowd that is not what it says would make every test after it mean nothing)."""
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return sum(pool.map(lambda job: job(), list(jobs)))

    def _certificate(self, active: bool = True) -> tuple[str, str]:
        made = self.iot.create_certificate_from_csr(certificateSigningRequest=self.csr, setAsActive=active)
        return made["certificateId"], made["certificateArn"]

    def _make_consumer(self, consumer: CrowdConsumer) -> int:
        iot = self.iot
        iot.create_thing(thingName=consumer.thing_name,
                         attributePayload={"attributes": {"management_account_id": MANAGEMENT_ACCOUNT_ID}})
        iot.create_policy(policyName=consumer.policy_name,
                          policyDocument=_agent_policy(self.account.account_id, consumer.consumer_id))
        calls = 2
        attached = 1 if consumer.shape == "active" else 2
        for n in range(attached):
            cert_id, cert_arn = self._certificate()
            iot.attach_policy(policyName=consumer.policy_name, target=cert_arn)
            iot.attach_thing_principal(thingName=consumer.thing_name, principal=cert_arn)
            consumer.certificates[cert_id] = "ACTIVE"
            calls += 3
        if consumer.shape == "retired":
            # The older one, detached and deactivated as the provider retires a certificate.
            old_id = next(iter(consumer.certificates))
            old_arn = f"arn:aws:iot:{REGION}:{self.account.account_id}:cert/{old_id}"
            iot.detach_thing_principal(thingName=consumer.thing_name, principal=old_arn)
            iot.detach_policy(policyName=consumer.policy_name, target=old_arn)
            iot.update_certificate(certificateId=old_id, newStatus="INACTIVE")
            consumer.certificates[old_id] = "INACTIVE"
            calls += 3
        return calls

    def _make_policy(self, name: str) -> int:
        self.iot.create_policy(policyName=name, policyDocument=_unrelated_policy())
        return 1

    def _make_unrelated_certificate(self, sink: list[str]) -> int:
        sink.append(self._certificate()[0])
        return 1

    def _make_secret(self, name: str) -> int:
        self.secretsmanager.create_secret(Name=name, SecretString=json.dumps({"unrelated": name}))
        return 1

    def populate(self, consumers: int = 1000, unrelated_policies: int = 300, unrelated_secrets: int = 200) -> Timing:
        """The crowd that is there before the provider runs."""
        started = time.monotonic()
        first = len(self.consumers)
        made = [CrowdConsumer(crowd_consumer_id(first + i), SHAPES[(first + i) % len(SHAPES)]) for i in range(consumers)]
        self.consumers += made
        policy_names = [f"{UNRELATED_POLICY_PREFIX}-{len(self.unrelated_policies) + i:04d}" for i in range(unrelated_policies)]
        self.unrelated_policies += policy_names
        secret_names = [f"{UNRELATED_SECRET_PREFIX}-{len(self.unrelated_secrets) + i:04d}" for i in range(unrelated_secrets)]
        self.unrelated_secrets += secret_names
        jobs: list[Callable[[], int]] = [lambda c=c: self._make_consumer(c) for c in made]
        jobs += [lambda n=n: self._make_policy(n) for n in policy_names]
        jobs += [lambda n=n: self._make_secret(n) for n in secret_names]
        calls = self._run(jobs)
        certificates = sum(len(c.certificates) for c in made)
        return Timing(calls, time.monotonic() - started, {
            "consumers": consumers, "certificates": certificates, "unrelated policies": unrelated_policies,
            "unrelated secrets": unrelated_secrets})

    def bury(self, certificates: int = 0, policies: int = 0) -> Timing:
        """Objects newer than everything there now: what IoT lists newest first goes back a page
        for every 250 of them."""
        started = time.monotonic()
        policy_names = [f"{UNRELATED_POLICY_PREFIX}-{len(self.unrelated_policies) + i:04d}" for i in range(policies)]
        self.unrelated_policies += policy_names
        jobs: list[Callable[[], int]] = [lambda: self._make_unrelated_certificate(self.unrelated_certificates)
                                         for _ in range(certificates)]
        jobs += [lambda n=n: self._make_policy(n) for n in policy_names]
        calls = self._run(jobs)
        return Timing(calls, time.monotonic() - started, {"certificates": certificates, "policies": policies})

    def bury_role(self, account: AwsAccount, role_name: str, batch: int = 500, limit: int = 10_000) -> Timing:
        """Unrelated IAM roles in `account` until `role_name` is past the first page of ListRoles
        at its largest (1,000). IAM orders roles by RoleId, which it picks at random, so where a
        role lands cannot be arranged: roles are added a batch at a time until it is so."""
        started, made = time.monotonic(), 0
        iam = account.client("iam")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        while role_page(account, role_name) == 1:
            if made >= limit:
                raise AssertionError(f"{role_name} is still on the first page of ListRoles after {made} roles")
            names = [f"unrelated-role-{account.account_id}-{made + i:05d}" for i in range(batch)]
            self._run([lambda n=n: _create_role(iam, n, trust) for n in names])
            made += batch
        return Timing(made, time.monotonic() - started, {"roles": made})

    # ------------------------------------------------------------ where things are listed

    def certificate_page(self, certificate_id: str) -> int:
        """The page (from 1) of ListCertificates, asked as the provider asks it (newest first, the
        largest page), that holds the certificate; 0 when no page does."""
        pages = self.iot.get_paginator("list_certificates").paginate(
            ascendingOrder=False, PaginationConfig={"PageSize": IOT_MAX_PAGE})
        for number, page in enumerate(pages, start=1):
            if any(c["certificateId"] == certificate_id for c in page["certificates"]):
                return number
        return 0

    def policy_page(self, policy_name: str) -> int:
        """The page (from 1) of ListPolicies as the provider asks it that holds the policy; 0 if none."""
        pages = self.iot.get_paginator("list_policies").paginate(PaginationConfig={"PageSize": IOT_MAX_PAGE})
        for number, page in enumerate(pages, start=1):
            if any(p["policyName"] == policy_name for p in page["policies"]):
                return number
        return 0

    def census(self) -> dict[str, Any]:
        """What the account holds now, counted through every page."""
        certificates = [c for page in self.iot.get_paginator("list_certificates").paginate(
            PaginationConfig={"PageSize": IOT_MAX_PAGE}) for c in page["certificates"]]
        policies = [p for page in self.iot.get_paginator("list_policies").paginate(
            PaginationConfig={"PageSize": IOT_MAX_PAGE}) for p in page["policies"]]
        things = [t for page in self.iot.get_paginator("list_things").paginate() for t in page["things"]]
        secrets = [s for page in self.secretsmanager.get_paginator("list_secrets").paginate() for s in page["SecretList"]]
        return {"certificates": len(certificates),
                "certificates_inactive": sum(1 for c in certificates if c["status"] == "INACTIVE"),
                "policies": len(policies), "things": len(things), "secrets": len(secrets)}


IAM_MAX_PAGE = 1000
# moto's backends are not thread-safe: a create racing another may fail its request with a 500
# (a dict changed size while iterated), before it changed anything. IAM's answer then is an HTML
# page that botocore's query protocol cannot parse, and does not retry.
ATTEMPTS = 5


def _create_role(iam: Any, name: str, trust: str) -> int:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
            return 1
        except ResponseParserError:
            if attempt == ATTEMPTS:
                raise
        except ClientError as error:
            # A retried request whose first try was served after all.
            if attempt > 1 and error.response["Error"]["Code"] == "EntityAlreadyExists":
                return 1
            raise
    return 1


def role_page(account: AwsAccount, role_name: str) -> int:
    """The page (from 1) of ListRoles at its largest page size that holds the role; 0 if none."""
    pages = account.client("iam").get_paginator("list_roles").paginate(PaginationConfig={"PageSize": IAM_MAX_PAGE})
    for number, page in enumerate(pages, start=1):
        if any(r["RoleName"] == role_name for r in page["Roles"]):
            return number
    return 0
