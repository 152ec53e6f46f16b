"""The bad-input catalogue: every argument a user can get wrong, in every resource, the data
source, the ephemeral resource, the provider functions and the provider block, refused with a
diagnostic on that argument's line, before the provider makes a single AWS call.

Two phases, each case one test:
- `validate`: the bad value is a literal. `validate -json` must report an error whose source
  range covers the argument's line (for nested blocks the nested argument's), whose text says
  what is accepted, and the emulator must have served 0 calls.
- `plan`: the value arrives through an input variable (`-var`), which `validate` cannot see.
  `plan -json` must refuse it the same way with 0 calls to IoT, IAM, EKS or Secrets Manager.
  Configuring the provider asks sts who the credentials are, so sts calls are counted on their
  own; a bad provider argument or function argument is refused before the provider is even
  configured, so for those sts must be 0 too.

Each template also runs with only good values (`test_good_values_*`): a case can only pass
because its one bad value was refused, not because the configuration is broken elsewhere, and
every error a case sees must be on its own line.

Speed: `init` runs once; every run shares the initialised data directory through TF_DATA_DIR and
a copy of the lock file. A plan case, a provider-block case and each good-values run get a
directory of their own (configuration, the CLI's logs, one leak scan); the other validate cases
of a template share one `validate` of a file holding one block per case (`ValidateBatches`),
each case checking only its own block. At the end the module prints
`BAD-INPUT cases=<n> caught=<n> aws_calls=<n> sts_calls=<n>`.

Reproduce: cd acceptance-tests && MAESTRO_PROVIDER_BIN=... pytest tests/test_bad_input_catalogue.py
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import aws_inspect, bad_input, hcl, settings
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, MANAGEMENT_ROLE_ARN, REGION, REGIONAL_ACCOUNT_ID, REGIONAL_ROLE_ARN
from harness.bad_input import Material, Template
from harness.leak_check import LeakScanner, assert_no_leaks
from harness.tofu_workspace import TofuWorkspace

pytestmark = pytest.mark.acceptance

PREFIX = "sources/maestro/consumers"
MANAGEMENT_CLUSTER = "management-01"
REGIONAL_CLUSTER = "bad-input-regional"
PROVIDER_CRASH = re.compile(r"panicked at|Plugin did not respond|plugin crashed|unexpected EOF", re.IGNORECASE)
# A session policy as AssumeRole takes it, and one whose packed JSON is over STS's 2,048 characters.
SESSION_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}'
OVERSIZED_SESSION_POLICY = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":['
                            + ",".join(f'"iot:Action{i:04d}"' for i in range(150)) + '],"Resource":"*"}]}')
# An unsigned ID token from an issuer the management account trusts (the `oidc_issuer` fixture):
# the emulator's STS checks issuer and audience, not the signature.
OIDC_ISSUER = "oidc.bad-input.example"
OIDC_AUDIENCE = "sts.amazonaws.com"


def _jwt_part(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


WEB_IDENTITY_TOKEN = ".".join([_jwt_part({"alg": "RS256", "typ": "JWT"}),
                               _jwt_part({"iss": f"https://{OIDC_ISSUER}", "aud": OIDC_AUDIENCE, "sub": "bad-input"}),
                               "c2lnbmF0dXJl"])
KMS_KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


# ---------------------------------------------------------------- templates


def templates(emulator_url: str) -> dict[str, Template]:
    endpoints = {f"endpoints.{service}": emulator_url for service in hcl.SERVICES_WITH_ENDPOINTS}
    terraform = hcl.terraform_block()
    regional = hcl.preamble([hcl.regional_provider(emulator_url)])
    management = hcl.preamble([hcl.management_provider(emulator_url)])
    # Something that uses the provider block, so plan configures it; reading it calls no AWS API.
    probe = 'data "maestro_agent_binding" "probe" {\n  consumer_id = "probe"\n}\n'
    tags = {"team": "maestro"}
    found = [
        Template("provider", "provider", "maestro", terraform, {
            "region": REGION,
            "allowed_account_ids": [REGIONAL_ACCOUNT_ID],
            "topic_prefix": PREFIX,
            "agent_chart": "custom",
            "server_chart": "rosa-regional-platform",
            **endpoints,
            "assume_role.role_arn": REGIONAL_ROLE_ARN,
            "assume_role.session_name": "bad-input-catalogue",
            "assume_role.external_id": "maestro-bad-input",
            "assume_role.duration": "1h",
            "assume_role.tags": tags,
            "assume_role.policy": SESSION_POLICY,
            "assume_role.policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "default_tags.tags": {"managed-by": "bad-input"},
        }, extra=probe, refused_before_configure=True),
        # The other account guard, alone (a block may set only one of them).
        Template("provider_forbidden", "provider", "maestro", terraform, {
            "region": REGION,
            "forbidden_account_ids": [MANAGEMENT_ACCOUNT_ID],
            **endpoints,
            "assume_role.role_arn": REGIONAL_ROLE_ARN,
        }, extra=probe, refused_before_configure=True),
        Template("provider_web_identity", "provider", "maestro", terraform, {
            "region": REGION,
            **endpoints,
            "assume_role_with_web_identity.role_arn": MANAGEMENT_ROLE_ARN,
            "assume_role_with_web_identity.session_name": "bad-input-catalogue",
            "assume_role_with_web_identity.web_identity_token": WEB_IDENTITY_TOKEN,
            "assume_role_with_web_identity.duration": "1h",
            "assume_role_with_web_identity.policy": SESSION_POLICY,
            "assume_role_with_web_identity.policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        }, extra=probe, refused_before_configure=True),
        Template("agent_key", "resource", "maestro_agent_key", management, {
            "cluster_id": "bi-key-01",
            "secret_name": "bi-key-01/maestro/agent-mqtt-cert",
            "algorithm": "ECDSA_P384",
            "kms_key_id": "alias/maestro-agent",
            "recovery_window_in_days": 7,
            "rotate_after_days": 90,
            "tags": tags,
        }, fixed={"provider": "maestro.management"}),
        Template("consumer", "resource", "maestro_consumer", regional, {
            "consumer_id": "bi-consumer-01",
            "csr_pem": Material("csr_p256"),
            "management_account_id": MANAGEMENT_ACCOUNT_ID,
            "topic_prefix": PREFIX,
            "cloudevents_client_id": "bi-consumer-01-work-agent",
            "certificate_grace_period_hours": 24,
            "tags": tags,
        }, fixed={"provider": "maestro.regional"}),
        Template("agent_identity", "resource", "maestro_agent_identity", management, {
            "cluster_id": "bi-agent-01",
            "regional_account_id": REGIONAL_ACCOUNT_ID,
            "eks_cluster_name": MANAGEMENT_CLUSTER,
            "broker_region": REGION,
            "namespace": "maestro",
            "service_account": "maestro-agent",
            "mqtt_cert_secret_name": "bi-agent-01/maestro/agent-mqtt-cert",
            "config_secret_name": "bi-agent-01/maestro/agent-config",
            "certificate_pem": Material("certificate"),
            "broker_ca_pem": Material("ca_certificate"),
            "kms_key_arn": f"arn:aws:kms:{REGION}:{MANAGEMENT_ACCOUNT_ID}:key/{KMS_KEY_ID}",
            "broker_endpoint": f"a1b2c3d4e5f6g7-ats.iot.{REGION}.amazonaws.com",
            "recovery_window_in_days": 7,
            "topic_prefix": PREFIX,
            "cloudevents_client_id": "bi-agent-01-work-agent",
            "tags": tags,
        }, fixed={"provider": "maestro.management"}),
        Template("server_identity", "resource", "maestro_server_identity", regional, {
            "name": "bi-server",
            "eks_cluster_name": REGIONAL_CLUSTER,
            "namespace": "maestro-server",
            "service_account": "maestro-server",
            "topic_prefix": PREFIX,
            "client_id_prefix": "maestro",
            "subscription_type": "shared",
            "shared_subscription_group": "statussubscribers",
            "certificate_secret_name": "bi-server/server-cert",
            "config_secret_name": "bi-server/server-config",
            "db_credentials_secret_arn": f"arn:aws:secretsmanager:{REGION}:{REGIONAL_ACCOUNT_ID}:secret:maestro/db-AbCdEf",
            "kms_key_arn": f"arn:aws:kms:{REGION}:{REGIONAL_ACCOUNT_ID}:key/{KMS_KEY_ID}",
            "broker_ca_pem": Material("ca_certificate"),
            "algorithm": "ECDSA_P256",
            "rotate_after_days": 90,
            "certificate_grace_period_hours": 24,
            "recovery_window_in_days": 7,
            "tags": tags,
        }, fixed={"provider": "maestro.regional"}),
        # Registrations need exactly one API block: one template for each.
        Template("registration", "resource", "maestro_consumer_registration", regional, {
            "name": "bi-registration-01",
            "labels": {"cluster_type": "management"},
            "maestro_api.url": "https://maestro.example.com",
            "maestro_api.bearer_token": "bad-input-bearer-token",
            "maestro_api.ca_pem": Material("ca_certificate"),
        }, fixed={"provider": "maestro.regional"}),
        Template("registration_platform", "resource", "maestro_consumer_registration", regional, {
            "name": "bi-registration-02",
            "platform_api.url": f"https://abc123.execute-api.{REGION}.amazonaws.com/prod",
            "platform_api.region": REGION,
        }, fixed={"provider": "maestro.regional"}),
        Template("agent_binding", "data", "maestro_agent_binding", regional, {
            "consumer_id": "bi-data-01",
            "topic_prefix": PREFIX,
            "regional_account_id": REGIONAL_ACCOUNT_ID,
            "broker_region": REGION,
            "cloudevents_client_id": "bi-data-01-work-agent",
        }, fixed={"provider": "maestro.regional"}),
        Template("agent_credentials", "ephemeral", "maestro_agent_credentials", management, {
            "cluster_id": "bi-eph-01",
            "secret_name": "bi-eph-01/maestro/agent-mqtt-cert",
        }, fixed={"provider": "maestro.management"},
            # An ephemeral resource is opened at plan when something uses it.
            extra=('resource "terraform_data" "uses_bundle" {\n  provisioner "local-exec" {\n    command = "true"\n'
                   "    environment = { KEY = ephemeral.maestro_agent_credentials.bad.private_key_pem }\n  }\n}\n"),
            # With good arguments the open reaches Secrets Manager, where no such secret exists.
            plan_tolerated=r"No usable credential bundle"),
        Template("fn_agent_binding", "function", "agent_binding", terraform, {
            "consumer_id": "bi-fn-01", "topic_prefix": PREFIX, "regional_account_id": REGIONAL_ACCOUNT_ID,
            "broker_region": REGION,
        }, refused_before_configure=True),
        Template("fn_server_binding", "function", "server_binding", terraform, {
            "name": "bi-server", "topic_prefix": PREFIX, "regional_account_id": REGIONAL_ACCOUNT_ID,
            "broker_region": REGION,
        }, refused_before_configure=True),
        Template("fn_mqtt_client_id", "function", "mqtt_client_id", terraform, {
            "cloudevents_client_id": "bi-fn-01-work-agent",
        }, refused_before_configure=True),
    ]
    return {template.name: template for template in found}


TEMPLATE_NAMES = ["provider", "provider_forbidden", "provider_web_identity", "agent_key", "consumer",
                  "agent_identity", "server_identity", "registration", "registration_platform", "agent_binding", "agent_credentials", "fn_agent_binding",
                  "fn_server_binding", "fn_mqtt_client_id"]


# ---------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Case:
    template: str
    path: str          # the argument, dotted for nested blocks; a parameter name for functions
    bad: Any
    expect: str        # what the diagnostic must say (regex, case-insensitive)
    rule: str          # whose rule the value breaks, and why
    name: str
    via_variable: bool = False   # also run with the value arriving through -var (plan phase)

    @property
    def id(self) -> str:
        return f"{self.template}-{self.name}"


def case(template: str, path: str, name: str, bad: Any, expect: str, rule: str, *, plan: bool = False) -> Case:
    return Case(template, path, bad, expect, rule, name, plan)


ARN = r"must be an ARN|ARN of service"
CONSUMER_NAME = r"Maestro consumer name.*RFC 1123"
TOPIC_PREFIX = r"three topic levels"
ACCOUNT = r"12 digits"
REGION_WORDS = r"AWS region such as us-east-1"
SECRET_NAME = r"Secrets Manager secret name"
NAMESPACE = r"Kubernetes namespace name"
SERVICE_ACCOUNT = r"Kubernetes service account name"
EKS_NAME = r"EKS cluster name"
TAGS = r"tag (keys|value)"
CSR_KEY = r"unsupported public key.*expected ECDSA P-256, ECDSA P-384, RSA 2048 or RSA 3072"
CLIENT_ID = r"no wildcards"
FUNCTION_ARGUMENT = r'Invalid value for "{parameter}" parameter'
MAESTRO_TOPIC_RULE = ("sdk-go accepts only topics ^([a-z]+)/([a-z0-9-]+|\\+)/([a-z]+)/<consumer>/(sourceevents|agentevents)$, "
                      "so a prefix is exactly <letters>/<source-id>/<letters>")

# The (template, argument) pairs a case adds to its template instead of changing it.
ADDED_BY_CASE = {("provider_forbidden", "allowed_account_ids"), ("agent_identity", "kms_key_id"), ("server_identity", "kms_key_id")}

CASES: list[Case] = [
    # ------------------------------------------------ provider "maestro"
    case("provider", "region", "region-uppercase", "US-EAST-1", REGION_WORDS,
         "AWS region names are lowercase (us-east-1); the region goes into every ARN and endpoint", plan=True),
    case("provider", "region", "region-without-number", "us-east", REGION_WORDS,
         "every AWS region name ends in a number"),
    case("provider", "assume_role.role_arn", "role-arn-name-only", "maestro-regional", ARN,
         "sts:AssumeRole takes a role ARN (at least 20 characters), not a role name", plan=True),
    case("provider", "assume_role.role_arn", "role-arn-of-sts-session",
         f"arn:aws:sts::{REGIONAL_ACCOUNT_ID}:assumed-role/maestro-regional/session", ARN,
         "an assumed-role session ARN (service sts) cannot be assumed; AssumeRole needs an iam role ARN"),
    case("provider", "assume_role.role_arn", "role-arn-of-user",
         f"arn:aws:iam::{REGIONAL_ACCOUNT_ID}:user/alice", r"role",
         "an IAM user cannot be assumed: AssumeRole needs arn:PARTITION:iam::ACCOUNT:role/NAME"),
    case("provider", "assume_role.session_name", "session-name-one-character", "a", r"2 to 64 characters",
         "RoleSessionName is 2 to 64 characters"),
    case("provider", "assume_role.session_name", "session-name-with-space", "bad session", r"2 to 64 characters",
         "RoleSessionName allows only [\\w+=,.@-]"),
    case("provider", "assume_role.external_id", "external-id-one-character", "x", r"between 2 and 1224 characters",
         "ExternalId is 2 to 1,224 characters"),
    case("provider", "assume_role.external_id", "external-id-with-space", "external id", r"external|character",
         "ExternalId allows only [\\w+=,.@:/-]"),
    case("provider", "assume_role.duration", "duration-below-15m", "10m", r"between 900s and 43200s",
         "DurationSeconds is at least 900", plan=True),
    case("provider", "assume_role.duration", "duration-above-12h", "13h", r"between 900s and 43200s",
         "DurationSeconds is at most 43,200 (12 hours)"),
    case("provider", "assume_role.duration", "duration-without-unit", "3600", r"duration like",
         "a duration needs a unit (Go syntax: 1h, 15m, 900s)"),
    case("provider", "assume_role.tags", "session-tag-aws-prefix", {"aws:team": "maestro"}, r"aws:",
         "tag keys starting with aws: are reserved for AWS"),
    case("provider", "assume_role.tags", "session-tag-key-character", {"team!": "maestro"}, r"tag key",
         "STS session tag keys allow only letters, digits, spaces and _.:/=+-@"),
    case("provider", "assume_role.tags", "session-tags-over-50", {f"tag{i:02d}": "x" for i in range(51)}, r"50",
         "AssumeRole takes at most 50 session tags"),
    case("provider", "assume_role.policy", "session-policy-not-json", "Allow iot:*", r"JSON",
         "a session policy is a JSON policy document"),
    case("provider", "assume_role.policy", "session-policy-over-2048", OVERSIZED_SESSION_POLICY, r"2048|2,048",
         "a session policy's packed plaintext is at most 2,048 characters"),
    case("provider", "assume_role.policy_arns", "policy-arns-name-only", ["ReadOnlyAccess"], r"ARN",
         "PolicyArns are IAM managed policy ARNs, not policy names"),
    case("provider", "assume_role.policy_arns", "policy-arns-role-arn",
         [f"arn:aws:iam::{REGIONAL_ACCOUNT_ID}:role/maestro-regional"], r"polic",
         "a role ARN is no managed policy ARN (arn:PARTITION:iam::ACCOUNT|aws:policy/NAME)"),
    case("provider", "endpoints.iot", "endpoint-without-scheme", "localhost:4566", r"http:// or https:// URL",
         "an endpoint override is a URL with a scheme; the SDK cannot dial host:port"),
    case("provider", "endpoints.sts", "endpoint-ftp-scheme", "ftp://127.0.0.1:4566", r"http:// or https:// URL",
         "AWS APIs are served over http(s) only", plan=True),
    case("provider", "endpoints.secretsmanager", "endpoint-without-host", "https://", r"http:// or https:// URL",
         "a URL needs a host"),
    case("provider", "endpoints.iam", "endpoint-host-with-space", "http://exa mple.com", r"URL",
         "a host name has no spaces (RFC 3986)"),
    case("provider", "allowed_account_ids", "allowed-account-short", ["12345"], ACCOUNT,
         "AWS account IDs are 12 digits", plan=True),
    case("provider", "allowed_account_ids", "allowed-account-letters", ["12345678901a"], ACCOUNT,
         "AWS account IDs are 12 digits"),
    case("provider_forbidden", "forbidden_account_ids", "forbidden-account-empty", [""], ACCOUNT,
         "AWS account IDs are 12 digits"),
    case("provider_forbidden", "forbidden_account_ids", "forbidden-account-dashes", ["9876-5432-1098"], ACCOUNT,
         "account IDs are written without dashes"),
    case("provider_forbidden", "allowed_account_ids", "both-account-guards", [REGIONAL_ACCOUNT_ID],
         r"Conflicting account guards|not both",
         "an allow list already forbids every other account: the provider accepts only one of the two"),
    case("provider", "agent_chart", "agent-chart-unknown", "helm", r"must be one of rosa-regional-platform, maestro, custom",
         "agent_chart names a chart whose secret names, namespace and paths the provider knows"),
    case("provider", "server_chart", "server-chart-upstream", "maestro", r"maestro-server-certs",
         "upstream's server chart reads a Kubernetes Secret the provider does not produce yet: refused with why"),
    case("provider", "topic_prefix", "topic-prefix-old-module-default", "maestro/consumers", TOPIC_PREFIX,
         "the old modules' default: two levels, and no topic Maestro uses (" + MAESTRO_TOPIC_RULE + ")", plan=True),
    case("provider", "topic_prefix", "topic-prefix-four-levels", "sources/maestro/consumers/extra", TOPIC_PREFIX,
         MAESTRO_TOPIC_RULE),
    case("provider", "default_tags.tags", "default-tag-aws-prefix", {"aws:created-by": "me"}, r"aws:",
         "AWS refuses tag keys starting with aws:", plan=True),
    case("provider", "default_tags.tags", "default-tag-key-129", {"k" * 129: "v"}, r"1 to 128 characters",
         "tag keys are at most 128 characters"),
    case("provider", "default_tags.tags", "default-tag-value-257", {"team": "v" * 257}, r"at most 256 characters",
         "tag values are at most 256 characters"),
    # ------------------------------------------------ provider "maestro" { assume_role_with_web_identity }
    case("provider_web_identity", "assume_role_with_web_identity.role_arn", "web-identity-role-arn-name",
         "maestro-management", ARN, "AssumeRoleWithWebIdentity takes a role ARN", plan=True),
    case("provider_web_identity", "assume_role_with_web_identity.session_name", "web-identity-session-space",
         "bad session", r"2 to 64|character", "RoleSessionName is 2 to 64 of [\\w+=,.@-]"),
    case("provider_web_identity", "assume_role_with_web_identity.web_identity_token", "web-identity-token-3",
         "abc", r"4|character|token", "WebIdentityToken is 4 to 20,000 characters"),
    case("provider_web_identity", "assume_role_with_web_identity.web_identity_token", "web-identity-token-20001",
         "t" * 20001, r"20000|20,000|character", "WebIdentityToken is at most 20,000 characters"),
    case("provider_web_identity", "assume_role_with_web_identity.duration", "web-identity-duration-12h30m",
         "12h30m", r"900s and 43200s|12h|43200", "DurationSeconds is at most 43,200"),
    case("provider_web_identity", "assume_role_with_web_identity.policy", "web-identity-policy-not-json",
         "{\"Version\": ", r"JSON", "a session policy is a JSON policy document"),
    case("provider_web_identity", "assume_role_with_web_identity.policy_arns", "web-identity-policy-arns-name",
         ["ReadOnlyAccess"], r"ARN", "PolicyArns are managed policy ARNs"),
    # ------------------------------------------------ maestro_agent_key
    case("agent_key", "cluster_id", "cluster-id-uppercase-underscore", "Mgmt_01", CONSUMER_NAME,
         "Maestro consumer names are RFC 1123 labels; sdk-go's topic pattern refuses the rest", plan=True),
    case("agent_key", "cluster_id", "cluster-id-leading-dash", "-mc01", CONSUMER_NAME,
         "an RFC 1123 label starts with a letter or digit"),
    case("agent_key", "cluster_id", "cluster-id-51-characters", "c" * 51, CONSUMER_NAME,
         "<cluster_id>-maestro-agent must fit IAM's 64-character role names"),
    case("agent_key", "secret_name", "secret-name-with-space", "agent cert", SECRET_NAME,
         "Secrets Manager names allow only letters, digits and /_+=.@-"),
    case("agent_key", "secret_name", "secret-name-513-characters", "s" * 513, SECRET_NAME,
         "Secrets Manager names are at most 512 characters"),
    case("agent_key", "algorithm", "algorithm-ed25519", "ED25519", r"must be one of",
         "IoT Core's CreateCertificateFromCsr takes RSA or NIST-curve ECDSA keys only"),
    case("agent_key", "kms_key_id", "kms-key-of-other-service", "arn:aws:s3:::maestro-keys", r"KMS|kms",
         "Secrets Manager's KmsKeyId is a KMS key ID, key ARN, alias/NAME or alias ARN"),
    case("agent_key", "recovery_window_in_days", "recovery-window-3", 3, r"between 7 and 30",
         "DeleteSecret's RecoveryWindowInDays is 7 to 30", plan=True),
    case("agent_key", "recovery_window_in_days", "recovery-window-fraction", 7.5, r"between 7 and 30",
         "RecoveryWindowInDays is a whole number of days"),
    case("agent_key", "rotate_after_days", "rotate-after-0-days", 0, r"between 1 and 3650",
         "a key cannot be due before it exists"),
    case("agent_key", "tags", "tag-aws-prefix", {"aws:owner": "me"}, r"aws:",
         "AWS refuses tag keys starting with aws:"),
    # ------------------------------------------------ maestro_consumer
    case("consumer", "consumer_id", "consumer-id-uppercase-underscore", "Mgmt_01", CONSUMER_NAME,
         "Maestro consumer names are RFC 1123 labels; sdk-go refuses a topic with Mgmt_01 in it", plan=True),
    case("consumer", "consumer_id", "consumer-id-with-dot", "mc.01", CONSUMER_NAME,
         "a dot is not allowed in an RFC 1123 label nor in sdk-go's consumer topic level"),
    case("consumer", "consumer_id", "consumer-id-51-characters", "c" * 51, CONSUMER_NAME,
         "the derived names must fit IoT's and IAM's limits"),
    case("consumer", "csr_pem", "csr-garbage", "not a csr", r"certificate signing request", "not PEM at all",
         plan=True),
    case("consumer", "csr_pem", "csr-empty", "", r"certificate signing request", "an empty CSR"),
    case("consumer", "csr_pem", "csr-truncated",
         "-----BEGIN CERTIFICATE REQUEST-----\nMIIBAA==\n-----END CERTIFICATE REQUEST-----\n",
         r"certificate signing request.*(DER|PEM)", "a PEM block whose DER is cut short"),
    case("consumer", "csr_pem", "csr-is-a-certificate", Material("certificate"), r"no CERTIFICATE REQUEST block",
         "a certificate instead of the CSR: CreateCertificateFromCsr needs a PKCS#10 request"),
    case("consumer", "csr_pem", "csr-ed25519", Material("csr_ed25519"), CSR_KEY,
         "IoT Core issues certificates for RSA >= 2048 or NIST P-256/P-384/P-521 keys only, not Ed25519", plan=True),
    case("consumer", "csr_pem", "csr-rsa-1024", Material("csr_rsa1024"), CSR_KEY,
         "IoT Core refuses RSA keys shorter than 2048 bits"),
    case("consumer", "csr_pem", "csr-secp256k1", Material("csr_secp256k1"), CSR_KEY,
         "IoT Core takes NIST curves only; secp256k1 is not one"),
    case("consumer", "csr_pem", "csr-rsa-4096", Material("csr_rsa4096"), CSR_KEY,
         "the provider's documented key types (those maestro_agent_key generates); IoT Core itself accepts RSA-4096"),
    case("consumer", "csr_pem", "csr-p521", Material("csr_p521"), CSR_KEY,
         "the provider's documented key types (those maestro_agent_key generates); IoT Core itself accepts P-521"),
    case("consumer", "csr_pem", "csr-rsa-2048-sha1", Material("csr_rsa2048_sha1"), r"unsupported public key|SHA-?1|signature",
         "IoT Core's certificate signing algorithms are SHA-256/384/512 based; a SHA-1 signed request is refused"),
    case("consumer", "csr_pem", "csr-signature-does-not-verify", Material("csr_bad_signature"),
         r"signature of the certificate signing request does not verify",
         "CreateCertificateFromCsr checks the request's self-signature (proof of key possession)", plan=True),
    case("consumer", "management_account_id", "management-account-11-digits", "98765432109", ACCOUNT,
         "AWS account IDs are 12 digits", plan=True),
    case("consumer", "management_account_id", "management-account-dashes", "9876-5432-1098", ACCOUNT,
         "account IDs are written without dashes"),
    case("consumer", "topic_prefix", "topic-prefix-two-levels", "maestro/consumers", TOPIC_PREFIX,
         MAESTRO_TOPIC_RULE, plan=True),
    case("consumer", "topic_prefix", "topic-prefix-uppercase", "Sources/maestro/consumers", TOPIC_PREFIX,
         "sdk-go's first topic level is [a-z]+"),
    case("consumer", "topic_prefix", "topic-prefix-underscore-source", "sources/mae_stro/consumers", TOPIC_PREFIX,
         "sdk-go's source level is [a-z0-9-]+"),
    case("consumer", "topic_prefix", "topic-prefix-wildcard-source", "sources/+/consumers", TOPIC_PREFIX,
         "a wildcard source would let one agent's policy cover every server's topics"),
    case("consumer", "topic_prefix", "topic-prefix-shared-subscription", "$share/group/sources/maestro", TOPIC_PREFIX,
         "$share/<group>/ belongs to the server's subscription filter, never to a topic"),
    case("consumer", "certificate_grace_period_hours", "grace-negative", -1, r"whole number of hours, 0 or more",
         "a grace period cannot end before the rotation", plan=True),
    case("consumer", "certificate_grace_period_hours", "grace-fraction", 1.5, r"whole number of hours",
         "the grace period is counted in whole hours"),
    case("consumer", "cloudevents_client_id", "client-id-wildcard", "bi-consumer-01-*", CLIENT_ID,
         "the IoT policy pins client/<id>-client; a * there would let any client ID connect"),
    case("consumer", "cloudevents_client_id", "client-id-122-characters", "a" * 122, r"1 to 121",
         "IoT Core limits a client ID to 128 bytes, and the agent appends -client"),
    case("consumer", "tags", "tag-aws-prefix", {"aws:owner": "me"}, r"aws:", "IoT refuses tag keys starting with aws:"),
    # ------------------------------------------------ maestro_agent_identity
    case("agent_identity", "cluster_id", "cluster-id-uppercase-underscore", "Mgmt_01", CONSUMER_NAME,
         "Maestro consumer names are RFC 1123 labels"),
    case("agent_identity", "regional_account_id", "regional-account-5-digits", "12345", ACCOUNT,
         "AWS account IDs are 12 digits", plan=True),
    case("agent_identity", "regional_account_id", "regional-account-13-digits", "1234567890123", ACCOUNT,
         "AWS account IDs are 12 digits"),
    case("agent_identity", "eks_cluster_name", "eks-name-leading-dash", "-mc01", EKS_NAME,
         "EKS cluster names start with a letter or digit"),
    case("agent_identity", "eks_cluster_name", "eks-name-with-dot", "mc.01", EKS_NAME,
         "EKS cluster names allow letters, digits, - and _ only"),
    case("agent_identity", "eks_cluster_name", "eks-name-101-characters", "e" * 101, EKS_NAME,
         "EKS cluster names are at most 100 characters"),
    case("agent_identity", "broker_region", "broker-region-uppercase", "US-EAST-1", REGION_WORDS,
         "AWS region names are lowercase", plan=True),
    case("agent_identity", "broker_region", "broker-region-no-dashes", "useast1", REGION_WORDS,
         "AWS region names are <area>-<direction>-<number>"),
    case("agent_identity", "namespace", "namespace-uppercase", "Maestro", NAMESPACE,
         "Kubernetes namespaces are RFC 1123 labels (lowercase)"),
    case("agent_identity", "namespace", "namespace-underscore", "kube_system", NAMESPACE,
         "Kubernetes namespaces allow no underscore"),
    case("agent_identity", "namespace", "namespace-64-characters", "n" * 64, NAMESPACE,
         "Kubernetes namespaces are at most 63 characters"),
    case("agent_identity", "service_account", "service-account-uppercase", "Maestro-Agent", SERVICE_ACCOUNT,
         "service account names are RFC 1123 subdomains (lowercase)"),
    case("agent_identity", "service_account", "service-account-leading-dash", "-agent", SERVICE_ACCOUNT,
         "an RFC 1123 subdomain starts with a letter or digit"),
    case("agent_identity", "mqtt_cert_secret_name", "cert-secret-with-bang", "agent cert!", SECRET_NAME,
         "Secrets Manager names allow only letters, digits and /_+=.@-"),
    case("agent_identity", "config_secret_name", "config-secret-513-characters", "s" * 513, SECRET_NAME,
         "Secrets Manager names are at most 512 characters"),
    case("agent_identity", "certificate_pem", "certificate-garbage", "not a certificate", r"must be a PEM certificate",
         "the certificate maestro_consumer returns is PEM", plan=True),
    case("agent_identity", "certificate_pem", "certificate-is-a-csr", Material("csr_p256"),
         r"must be a PEM certificate.*no CERTIFICATE block", "a CSR pasted where the issued certificate belongs"),
    case("agent_identity", "broker_ca_pem", "broker-ca-garbage", "not a pem", r"PEM CA certificate",
         "the CA the agent trusts must be a PEM certificate"),
    case("agent_identity", "kms_key_arn", "kms-key-alias-name", "alias/maestro", ARN,
         "the role's kms:Decrypt grant needs the key's ARN", plan=True),
    case("agent_identity", "kms_key_arn", "kms-key-s3-arn", "arn:aws:s3:::maestro-bucket", r"ARN of service kms",
         "an S3 ARN is no KMS key"),
    case("agent_identity", "kms_key_arn", "kms-key-alias-arn", f"arn:aws:kms:{REGION}:{MANAGEMENT_ACCOUNT_ID}:alias/maestro",
         r"key/|alias", "IAM does not authorise kms:Decrypt by an alias ARN: the grant would match no key"),
    case("agent_identity", "kms_key_id", "kms-key-id-and-arn", "alias/maestro", r"KMS key given twice.*Set kms_key_id or kms_key_arn, not both",
         "one key, named once: kms_key_id is resolved to the key ARN that kms_key_arn gives directly"),
    case("agent_identity", "broker_endpoint", "broker-endpoint-with-scheme",
         f"https://a1b2c3d4e5f6g7-ats.iot.{REGION}.amazonaws.com", r"host name without scheme or port",
         "the agent's config takes a host name; the chart adds port 8883", plan=True),
    case("agent_identity", "broker_endpoint", "broker-endpoint-with-port",
         f"a1b2c3d4e5f6g7-ats.iot.{REGION}.amazonaws.com:8883", r"host name without scheme or port",
         "the port is fixed by the agent's config, not part of the host"),
    case("agent_identity", "recovery_window_in_days", "recovery-window-0", 0, r"between 7 and 30",
         "RecoveryWindowInDays is 7 to 30 (force deletion is a separate flag)"),
    case("agent_identity", "topic_prefix", "topic-prefix-two-levels", "maestro/consumers", TOPIC_PREFIX,
         MAESTRO_TOPIC_RULE),
    case("agent_identity", "cloudevents_client_id", "client-id-with-slash", "mc/01", CLIENT_ID,
         "a / in a client ID would make client/<id> a different IoT resource"),
    # ------------------------------------------------ maestro_server_identity
    case("server_identity", "name", "name-with-space", "bad name", r"names the IAM role",
         "IAM role and IoT policy names allow no spaces", plan=True),
    case("server_identity", "name", "name-50-characters", "s" * 50, r"names the IAM role",
         "<name>-maestro-server must fit IAM's 64-character role names"),
    case("server_identity", "eks_cluster_name", "eks-name-leading-dash", "-regional", EKS_NAME,
         "EKS cluster names start with a letter or digit"),
    case("server_identity", "namespace", "namespace-uppercase", "Maestro-Server", NAMESPACE,
         "Kubernetes namespaces are lowercase"),
    case("server_identity", "service_account", "service-account-underscore", "maestro_server", SERVICE_ACCOUNT,
         "service account names allow no underscore"),
    case("server_identity", "topic_prefix", "topic-prefix-wildcard-source", "sources/+/consumers", TOPIC_PREFIX,
         "the second level is the server's --source-id, which cannot be a wildcard"),
    case("server_identity", "client_id_prefix", "client-id-prefix-wildcard", "maestro*", r"1 to 100 letters",
         "the policy adds the only wildcard (<prefix>-*); a * in the prefix lets any client connect", plan=True),
    case("server_identity", "subscription_type", "subscription-type-unknown", "fanout", r"must be one of",
         "Maestro's --subscription-type is shared or broadcast"),
    case("server_identity", "shared_subscription_group", "shared-group-uppercase", "Status", r"lowercase letters",
         "sdk-go's pattern for $share/<group>/ is [a-z0-9-]+", plan=True),
    case("server_identity", "certificate_secret_name", "cert-secret-with-space", "server cert", SECRET_NAME,
         "Secrets Manager names allow only letters, digits and /_+=.@-"),
    case("server_identity", "config_secret_name", "config-secret-empty", "", SECRET_NAME,
         "a secret needs a name"),
    case("server_identity", "db_credentials_secret_arn", "db-secret-rds-arn",
         f"arn:aws:rds:{REGION}:{REGIONAL_ACCOUNT_ID}:db:maestro", r"ARN of service secretsmanager",
         "the database credentials are a Secrets Manager secret, not the RDS instance"),
    case("server_identity", "db_credentials_secret_arn", "db-secret-arn-without-secret-type",
         f"arn:aws:secretsmanager:{REGION}:{REGIONAL_ACCOUNT_ID}:maestro/db", r"secret",
         "secret ARNs are ...:secret:NAME-XXXXXX; the role's read grant would match nothing"),
    case("server_identity", "kms_key_id", "kms-key-id-and-arn", f"arn:aws:kms:{REGION}:{REGIONAL_ACCOUNT_ID}:alias/maestro",
         r"KMS key given twice", "one key, named once: kms_key_id is resolved to the key ARN that kms_key_arn gives directly"),
    case("server_identity", "kms_key_arn", "kms-key-alias-name", "alias/maestro", ARN,
         "the role's kms:Decrypt grant needs the key's ARN"),
    case("server_identity", "broker_ca_pem", "broker-ca-garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n", r"PEM CA certificate",
         "a cut-off PEM block is no CA certificate"),
    case("server_identity", "algorithm", "algorithm-p521", "ECDSA_P521", r"must be one of",
         "the key types the provider generates"),
    case("server_identity", "rotate_after_days", "rotate-after-0-days", 0, r"between 1 and 3650",
         "a key cannot be due before it exists"),
    case("server_identity", "certificate_grace_period_hours", "grace-negative", -1, r"0 or more",
         "a grace period cannot end before the rotation"),
    case("server_identity", "recovery_window_in_days", "recovery-window-45", 45, r"between 7 and 30",
         "RecoveryWindowInDays is 7 to 30"),
    case("server_identity", "tags", "tag-key-129", {"k" * 129: "v"}, r"1 to 128 characters",
         "tag keys are at most 128 characters"),
    # ------------------------------------------------ data "maestro_agent_binding"
    case("agent_binding", "consumer_id", "consumer-id-uppercase-underscore", "Mgmt_01", CONSUMER_NAME,
         "Maestro consumer names are RFC 1123 labels", plan=True),
    case("agent_binding", "topic_prefix", "topic-prefix-two-levels", "maestro/consumers", TOPIC_PREFIX,
         MAESTRO_TOPIC_RULE),
    case("agent_binding", "regional_account_id", "regional-account-4-digits", "1234", ACCOUNT,
         "AWS account IDs are 12 digits"),
    case("agent_binding", "broker_region", "broker-region-words", "Not A Region", REGION_WORDS,
         "AWS region names are lowercase words and a number", plan=True),
    case("agent_binding", "cloudevents_client_id", "client-id-wildcard", "bi-data-01-*", CLIENT_ID,
         "the IoT policy pins the client ID exactly"),
    # ------------------------------------------------ ephemeral "maestro_agent_credentials"
    case("agent_credentials", "cluster_id", "cluster-id-uppercase-underscore", "Mgmt_01", CONSUMER_NAME,
         "Maestro consumer names are RFC 1123 labels", plan=True),
    case("agent_credentials", "secret_name", "secret-name-with-bang", "agent cert!", SECRET_NAME,
         "Secrets Manager names allow only letters, digits and /_+=.@-", plan=True),
    # ------------------------------------------------ provider functions
    case("fn_agent_binding", "consumer_id", "consumer-id-uppercase-underscore", "Mgmt_01",
         FUNCTION_ARGUMENT.format(parameter="consumer_id") + ".*" + CONSUMER_NAME,
         "Maestro consumer names are RFC 1123 labels"),
    case("fn_agent_binding", "topic_prefix", "topic-prefix-two-levels", "maestro/consumers",
         FUNCTION_ARGUMENT.format(parameter="topic_prefix") + ".*" + TOPIC_PREFIX, MAESTRO_TOPIC_RULE, plan=True),
    case("fn_agent_binding", "regional_account_id", "regional-account-4-digits", "1234",
         FUNCTION_ARGUMENT.format(parameter="regional_account_id") + ".*12 digits", "AWS account IDs are 12 digits"),
    case("fn_agent_binding", "broker_region", "broker-region-without-number", "us-east",
         FUNCTION_ARGUMENT.format(parameter="broker_region") + ".*" + REGION_WORDS, "every AWS region name ends in a number"),
    case("fn_server_binding", "name", "name-with-space", "bad name",
         FUNCTION_ARGUMENT.format(parameter="name") + ".*names the IAM role", "IAM role names allow no spaces"),
    case("fn_server_binding", "topic_prefix", "topic-prefix-wildcard-source", "sources/+/consumers",
         FUNCTION_ARGUMENT.format(parameter="topic_prefix") + ".*" + TOPIC_PREFIX,
         "the source level is the server's --source-id"),
    case("fn_server_binding", "regional_account_id", "regional-account-2-digits", "12",
         FUNCTION_ARGUMENT.format(parameter="regional_account_id") + ".*12 digits", "AWS account IDs are 12 digits", plan=True),
    case("fn_server_binding", "broker_region", "broker-region-uppercase", "US-EAST-1",
         FUNCTION_ARGUMENT.format(parameter="broker_region") + ".*" + REGION_WORDS, "AWS region names are lowercase"),
    case("fn_mqtt_client_id", "cloudevents_client_id", "client-id-wildcard", "mc-01-*",
         FUNCTION_ARGUMENT.format(parameter="cloudevents_client_id") + ".*" + CLIENT_ID,
         "the IoT policy pins the client ID exactly", plan=True),
    case("fn_mqtt_client_id", "cloudevents_client_id", "client-id-122-characters", "a" * 122,
         FUNCTION_ARGUMENT.format(parameter="cloudevents_client_id") + ".*1 to 121",
         "IoT Core limits a client ID to 128 bytes, and the agent appends -client"),
    # maestro_consumer_registration: Maestro's name rule, labels its database refuses, and URLs
    # that would send a token or a signature in clear text or put a credential in state.
    case("registration", "name", "name-underscore-uppercase", "Management_01", CONSUMER_NAME,
         "Maestro validates consumer names as RFC 1123 labels (500 maestro-9 otherwise)", plan=True),
    case("registration", "name", "name-64-characters", "m" * 64, CONSUMER_NAME,
         "Maestro refuses names over 63 characters"),
    case("registration", "labels", "labels-empty-key", {"": "management"}, r"label keys must not be empty",
         "a label needs a key"),
    case("registration", "labels", "labels-nul-character", {"cluster_type": "manage\u0000ment"}, r"NUL character",
         "Maestro keeps labels in PostgreSQL jsonb, which refuses \\u0000", plan=True),
    case("registration", "maestro_api.url", "url-plain-http-remote", "http://maestro.example.com", r"loopback",
         "a bearer token must not cross a network in clear text", plan=True),
    case("registration", "maestro_api.url", "url-not-http", "ftp://maestro.example.com", r"must be an https:// URL",
         "the REST API is HTTP"),
    case("registration", "maestro_api.url", "url-with-credentials", "https://admin:hunter2@maestro.example.com",
         r"user information", "a credential in the URL would be kept in state"),
    case("registration", "maestro_api.url", "url-with-query", "https://maestro.example.com/?x=1", r"query",
         "the API's paths are appended to the URL"),
    case("registration", "maestro_api.ca_pem", "ca-pem-not-pem", "not a certificate", r"PEM certificate",
         "TLS verification needs the CA certificate"),
    case("registration", "maestro_api.bearer_token", "bearer-token-trailing-newline", "bad-input-token\n",
         r"white space.*trimspace", "a token read with file() keeps its newline, which no HTTP header carries", plan=True),
    case("registration", "maestro_api.bearer_token", "bearer-token-oversized", "t" * 16385, r"between 1 and 16384",
         "no server takes a header that long"),
    case("registration_platform", "platform_api.region", "platform-region-without-number", "us-east", REGION_WORDS,
         "every AWS region name ends in a number"),
    case("registration_platform", "platform_api.url", "platform-url-plain-http", "http://abc123.execute-api.us-east-1.amazonaws.com/prod",
         r"loopback", "a signed request must not cross a network in clear text", plan=True),
]

PLAN_CASES = [c for c in CASES if c.via_variable]
PLAN_TEMPLATES = sorted({c.template for c in PLAN_CASES}, key=TEMPLATE_NAMES.index)


def test_the_catalogue_is_well_formed():
    """Ids are unique, every case names a template attribute, and there are enough of them."""
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert len(CASES) >= 60
    assert {c.template for c in CASES} == set(TEMPLATE_NAMES)
    goods = templates("http://127.0.0.1:1")
    for c in CASES:
        good = goods[c.template].good
        # A case sets one argument of its template, or one the template leaves out: the account
        # guards, and kms_key_id beside the identities' kms_key_arn (the key named twice).
        assert c.path in good or (c.template, c.path) in ADDED_BY_CASE, \
            f"{c.id}: {c.path} not in template {c.template}"
        assert c.bad != good.get(c.path), f"{c.id}: the bad value is the good one"


# ---------------------------------------------------------------- fixtures


class Tally:
    """What the summary line reports: each bad-input case run, whether it was caught (refused on
    its line with no AWS call), and the calls the emulator served while it ran."""

    def __init__(self) -> None:
        self.results: dict[str, tuple[bool, int, int]] = {}

    def record(self, test_id: str, caught: bool, aws_calls: int, sts_calls: int) -> None:
        self.results[test_id] = (caught, aws_calls, sts_calls)

    def line(self) -> str:
        values = list(self.results.values())
        return (f"BAD-INPUT cases={len(values)} caught={sum(1 for v in values if v[0])} "
                f"aws_calls={sum(v[1] for v in values)} sts_calls={sum(v[2] for v in values)}")


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest):
    counted = Tally()
    yield counted
    if not counted.results:
        return
    # Past pytest's output capture, so the line shows in every run (CI's log included).
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(counted.line())
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(counted.line())


@dataclass
class Catalogue:
    """The initialised data directory every case shares, the schema of the binary under test,
    and the templates pointed at this session's emulator."""
    data_dir: Path
    lock_file: Path
    schema: dict[str, Any]
    templates: dict[str, Template]

    def template(self, name: str, leak_guard) -> Template:
        return self.templates[name].resolved(leak_guard.register_secret)

    def sensitive(self, c: Case) -> bool:
        return self.templates[c.template].is_sensitive(self.schema, c.path)

    def missing(self, name: str) -> frozenset[str]:
        paths = {c.path for c in CASES + PLAN_CASES if c.template == name}
        return self.templates[name].missing(self.schema, paths)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory, tofu_binary, provider_mirror, emulator_url):
    root = tmp_path_factory.mktemp("bad-input-init")
    ws = TofuWorkspace(root, tofu_binary, provider_mirror.cli_config)
    ws.set_config(hcl.terraform_block())
    ws.init()
    schema = ws.providers_schema()
    yield Catalogue(root / ".terraform", root / ".terraform.lock.hcl", schema, templates(emulator_url))
    # The per-case directories are scanned by each test's leak guard; this one only holds init.
    assert_no_leaks(LeakScanner().scan_tree(root), context="in the bad-input catalogue's init workspace")


@dataclass
class BatchRun:
    batch: bad_input.Batch
    labels: dict[str, str]                 # case id → block label
    diagnostics: list[bad_input.Diagnostic]
    calls: Counter[str]
    reported: bool = False

    def count_calls_once(self) -> bool:
        """True for the first case that reads this run, so the summary counts its calls once."""
        first, self.reported = not self.reported, True
        return first


class ValidateBatches:
    """One `validate` per resource, data source, ephemeral resource and function template, with
    a block per case (each with its one bad value): validate calls no AWS API whatever the
    configuration, so a run's 0 calls is every case's, and one CLI run instead of one per case
    keeps the catalogue within CI's minutes. Each case still checks only its own block."""

    def __init__(self, root: Path, catalogue: Catalogue, tofu_binary: Path, cli_config: Path, emulator_url: str):
        self.root, self.catalogue, self.tofu, self.cli_config, self.url = root, catalogue, tofu_binary, cli_config, emulator_url
        self.runs: dict[str, BatchRun] = {}

    def run(self, template_name: str, leak_guard) -> BatchRun:
        if template_name not in self.runs:
            self.runs[template_name] = self._run(template_name, leak_guard)
        else:
            # The keys behind this run's CSRs were made for another test; this one's guard knows them too.
            for c in CASES:
                if c.template == template_name:
                    bad_input.resolve(c.bad, leak_guard.register_secret)
        return self.runs[template_name]

    def _run(self, template_name: str, leak_guard) -> BatchRun:
        template = self.catalogue.template(template_name, leak_guard)
        missing = self.catalogue.missing(template_name)
        cases = [c for c in CASES if c.template == template_name and c.path not in missing]
        labels = {c.id: f"case_{i:02d}" for i, c in enumerate(cases)}
        overrides = {labels[c.id]: {c.path: hcl.value(bad_input.resolve(c.bad, leak_guard.register_secret))}
                     for c in cases}
        found = bad_input.batch(template, overrides, missing)
        ws = TofuWorkspace(self.root / template_name, self.tofu, self.cli_config,
                           extra_env={"TF_DATA_DIR": str(self.catalogue.data_dir)})
        shutil.copy(self.catalogue.lock_file, ws.root / self.catalogue.lock_file.name)
        ws.set_config(found.config)
        bad_input.emulator_calls(self.url, reset=True)
        diagnostics = validate(ws)
        return BatchRun(found, labels, diagnostics, bad_input.emulator_calls(self.url))


@pytest.fixture(scope="module")
def validate_batches(tmp_path_factory, catalogue, tofu_binary, provider_mirror, emulator_url):
    root = tmp_path_factory.mktemp("bad-input-validate")
    yield ValidateBatches(root, catalogue, tofu_binary, provider_mirror.cli_config, emulator_url)
    # These runs belong to no single test's leak guard: scanned here, with every key made for a CSR.
    scanner = LeakScanner()
    for key in bad_input.made_private_keys():
        scanner.register_secret(key, "private key behind a catalogue CSR")
    assert_no_leaks(scanner.scan_tree(root), context="in the bad-input catalogue's validate runs")


@pytest.fixture(scope="module")
def eks_clusters(regional, management):
    """The clusters and the KMS alias the good plans name (a plan looks a cluster up, and
    resolves `kms_key_id` through kms:DescribeKey)."""
    aws_inspect.create_eks_cluster(management, MANAGEMENT_CLUSTER)
    aws_inspect.create_eks_cluster(regional, REGIONAL_CLUSTER)
    kms = management.client("kms")
    kms.create_alias(AliasName="alias/maestro-agent", TargetKeyId=kms.create_key(Description="bad-input")["KeyMetadata"]["KeyId"])


@pytest.fixture(scope="module")
def oidc_issuer(management):
    """The OpenID Connect provider the web identity token names, in the role's account."""
    iam = management.client("iam")
    arn = f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:oidc-provider/{OIDC_ISSUER}"
    if arn not in {p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]}:
        iam.create_open_id_connect_provider(Url=f"https://{OIDC_ISSUER}", ClientIDList=[OIDC_AUDIENCE],
                                            ThumbprintList=["b" * 40])


@pytest.fixture
def case_workspace(make_workspace, catalogue):
    """A directory of its own for one run (its config, logs and leak scan), sharing `init`."""
    def make(name: str) -> TofuWorkspace:
        ws = make_workspace(name, extra_env={"TF_DATA_DIR": str(catalogue.data_dir)})
        shutil.copy(catalogue.lock_file, ws.root / catalogue.lock_file.name)
        return ws
    return make


# ---------------------------------------------------------------- checks


def validate(ws: TofuWorkspace) -> list[bad_input.Diagnostic]:
    result = ws.run("validate", "-json", "-no-color", expect_exit={0, 1})
    assert not PROVIDER_CRASH.search(result.output), result.describe()
    return bad_input.validate_diagnostics(result.stdout)


def plan(ws: TofuWorkspace, variables: dict[str, Any]) -> tuple[list[bad_input.Diagnostic], int]:
    arguments = [f"-var={name}={bad_input.cli_var_value(item)}" for name, item in variables.items()]
    result = ws.run("plan", "-json", "-input=false", "-no-color", *arguments, expect_exit={0, 1, 2})
    assert not PROVIDER_CRASH.search(result.output), result.describe()
    return bad_input.streamed_diagnostics(result.stdout), result.exit_code


def assert_refused_on_its_line(c: Case, diagnostics: list[bad_input.Diagnostic], line: int, sensitive: bool,
                               ranged: bool = True) -> None:
    """The refusal is an error on the argument's line (only there), saying what is accepted and
    naming the argument. With `ranged` false the CLI is known to drop the source range, so the
    error must at least name the argument in its summary."""
    errors = [d for d in diagnostics if d.severity == "error"]
    listing = "\n".join("  " + d.describe() for d in diagnostics) or "  <none>"
    why = f"{c.id}: {c.path} = {str(c.bad)[:80]!r} breaks: {c.rule}"
    argument = c.path.rsplit(".", 1)[-1]
    if not ranged:
        errors = [d if d.start_line is not None or argument not in d.summary
                  else dataclasses.replace(d, start_line=line, end_line=line) for d in errors]
    pinned = [d for d in errors if d.covers(line)]
    assert pinned, f"{why}\nno error on line {line} ({c.path}); diagnostics:\n{listing}"
    elsewhere = [d for d in errors if not d.covers(line)]
    assert not elsewhere, f"{why}\nerrors on other lines than {line} ({c.path}):\n{listing}"
    text = " ".join(d.text for d in pinned)
    assert re.search(c.expect, text, re.IGNORECASE | re.DOTALL), f"{why}\nthe error does not say /{c.expect}/:\n{listing}"
    assert any(argument in d.text or argument in d.code for d in pinned), \
        f"{why}\nthe error names neither {argument} nor shows its line:\n{listing}"
    if sensitive:
        # A sensitive argument's value (a token) must not be echoed, even when it is refused.
        assert not any(str(c.bad) in d.summary + d.detail for d in diagnostics), \
            f"{why}\nthe diagnostic repeats the value of the sensitive argument {c.path}"


def fail_if_missing(catalogue: Catalogue, c: Case) -> None:
    if c.path in catalogue.missing(c.template):
        pytest.fail(f"{c.path} is not in the provider's schema: a renamed or removed attribute takes its "
                    f"bad-input cases with it (rename them here too)")


def good_variables(template: Template, paths: set[str]) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """Overrides, declarations and -var values that pass each of `paths` through a variable."""
    overrides = {p: f"var.{bad_input.variable_name(p)}" for p in paths}
    declared = {bad_input.variable_name(p): bad_input.hcl_type(template.good[p]) for p in paths}
    values = {bad_input.variable_name(p): template.good[p] for p in paths}
    return overrides, declared, values


# ---------------------------------------------------------------- validate: literals


@pytest.mark.parametrize("template_name", TEMPLATE_NAMES)
def test_good_values_pass_validate(template_name, catalogue, case_workspace, emulator_url, leak_guard):
    """Every template with only good values validates without an error: each case's config is
    sound but for its one bad value."""
    missing = catalogue.missing(template_name)
    assert not missing, f"{template_name}: {sorted(missing)} are not in the provider's schema (renamed or removed?)"
    template = catalogue.template(template_name, leak_guard)
    ws = case_workspace("good")
    config = template.render(exclude=missing)
    ws.set_config(config)
    bad_input.emulator_calls(emulator_url, reset=True)
    diagnostics = validate(ws)
    errors = [d.describe() for d in diagnostics if d.severity == "error"]
    assert not errors, f"{template_name} with good values:\n" + "\n".join(errors) + f"\n{config}"
    assert not bad_input.emulator_calls(emulator_url), "validate called AWS"


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_literal_is_refused_at_validate_on_its_line(c, catalogue, case_workspace, validate_batches, emulator_url,
                                                        leak_guard, tally):
    fail_if_missing(catalogue, c)
    caught, calls = False, Counter()
    try:
        if catalogue.templates[c.template].kind == "provider":
            # One run per case: a provider block is validated only when something uses it.
            template = catalogue.template(c.template, leak_guard)
            bad = bad_input.resolve(c.bad, leak_guard.register_secret)
            ws = case_workspace("case")
            config = template.render({c.path: hcl.value(bad)}, exclude=catalogue.missing(c.template))
            ws.set_config(config)
            bad_input.emulator_calls(emulator_url, reset=True)
            diagnostics = validate(ws)
            calls = bad_input.emulator_calls(emulator_url)
            line = bad_input.line_of(config, c.path)
        else:
            run = validate_batches.run(c.template, leak_guard)
            calls = run.calls if run.count_calls_once() else Counter()
            label = run.labels[c.id]
            diagnostics = run.batch.diagnostics_of(label, run.diagnostics)
            line = run.batch.line(label, c.path)
        assert_refused_on_its_line(c, diagnostics, line, catalogue.sensitive(c))
        assert not calls, f"{c.id}: validate called AWS: {dict(calls)}"
        caught = True
    finally:
        sts, other = bad_input.split_sts(calls)
        tally.record(f"validate/{c.id}", caught, sum(other.values()), sum(sts.values()))


# ---------------------------------------------------------------- plan: values through -var


@pytest.mark.parametrize("template_name", PLAN_TEMPLATES)
def test_good_values_through_variables_pass_plan(template_name, catalogue, case_workspace, emulator_url, leak_guard,
                                                 eks_clusters, oidc_issuer):
    """Every argument a plan case passes through -var, given good values, plans without an error,
    and the provider is configured (it asks sts): a case's 0 calls is a refusal, not a plan that
    never reached the provider."""
    missing = catalogue.missing(template_name)
    template = catalogue.template(template_name, leak_guard)
    assert not missing, f"{template_name}: {sorted(missing)} are not in the provider's schema (renamed or removed?)"
    paths = {c.path for c in PLAN_CASES if c.template == template_name}
    overrides, declared, values = good_variables(template, paths)
    ws = case_workspace("good")
    config = template.render(overrides, declared, exclude=missing)
    ws.set_config(config)
    bad_input.emulator_calls(emulator_url, reset=True)
    diagnostics, exit_code = plan(ws, values)
    errors = [d for d in diagnostics if d.severity == "error"]
    unexpected = [d.describe() for d in errors if not (template.plan_tolerated and re.search(template.plan_tolerated, d.text))]
    assert not unexpected, f"{template_name} with good values through variables:\n" + "\n".join(unexpected) + f"\n{config}"
    assert exit_code in ({0, 2} if not errors else {1})
    sts, _ = bad_input.split_sts(bad_input.emulator_calls(emulator_url))
    if template.kind != "function":
        assert sts, f"{template_name}: plan never configured the provider (no sts call)"


@pytest.mark.parametrize("c", PLAN_CASES, ids=[c.id for c in PLAN_CASES])
def test_bad_variable_is_refused_at_plan_on_its_line_before_any_aws_call(c, catalogue, case_workspace, emulator_url,
                                                                        leak_guard, tally):
    fail_if_missing(catalogue, c)
    template = catalogue.template(c.template, leak_guard)
    bad = bad_input.resolve(c.bad, leak_guard.register_secret)
    name = bad_input.variable_name(c.path)
    ws = case_workspace("case")
    config = template.render({c.path: f"var.{name}"}, {name: bad_input.hcl_type(template.good.get(c.path, bad))},
                             exclude=catalogue.missing(c.template))
    ws.set_config(config)
    bad_input.emulator_calls(emulator_url, reset=True)
    caught, calls = False, Counter()
    try:
        diagnostics, exit_code = plan(ws, {name: bad})
        calls = bad_input.emulator_calls(emulator_url)
        assert exit_code == 1, f"{c.id}: plan exited {exit_code} with {c.path} = {str(bad)[:80]!r}"
        # HashiCorp Terraform appends the diagnostics of ValidateEphemeralResourceConfig at open
        # without resolving their attribute paths in the configuration
        # (internal/terraform/node_resource_ephemeral.go), so they carry no source range; OpenTofu
        # resolves them. Under Terraform the error must still name the argument, alone.
        ranged = not (settings.cli().is_terraform and template.kind == "ephemeral")
        assert_refused_on_its_line(c, diagnostics, bad_input.line_of(config, c.path), catalogue.sensitive(c), ranged)
        sts, other = bad_input.split_sts(calls)
        assert not other, f"{c.id}: calls to the services the configuration would change: {dict(other)}"
        if template.refused_before_configure:
            assert not sts, f"{c.id}: refused only after configuring the provider: {dict(sts)}"
        caught = True
    finally:
        sts, other = bad_input.split_sts(calls)
        tally.record(f"plan/{c.id}", caught, sum(other.values()), sum(sts.values()))
