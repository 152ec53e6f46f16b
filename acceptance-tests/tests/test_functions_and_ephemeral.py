"""Acceptance tests for what the provider offers module authors besides resources:

- the functions `provider::maestro::agent_binding`, `mqtt_client_id` and `server_binding`, and the
  data source `maestro_agent_binding`, which derive names, topics, client IDs and policies with no
  AWS call. The proof that they are right is AWS itself: the same consumer is created for real
  with `maestro_consumer` and `maestro_agent_identity` (`maestro_server_identity` for the
  server), and every value the function or data source gives is compared with what those
  resources wrote to the emulated accounts (the IoT policy document in IoT Core, the thing, the
  role and its inline policy in IAM, the secrets), not with strings written here;
- the ephemeral resource `maestro_agent_credentials`, which opens an agent's current credential
  bundle for one run. It is consumed the ways OpenTofu 1.12 allows without another provider: a
  lifecycle postcondition on the ephemeral block (which must pass for the right bundle and fail
  for a deliberately wrong expectation) and a `local-exec` provisioner that receives the bundle
  in its environment and reports, from outside the workspace, which key it got. Every private
  key read back from Secrets Manager is registered with the leak guard, whose scan after each
  test proves the key reached no state, plan file, CLI output or TF_LOG=trace log.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness import settings
from harness import aws_inspect
from harness import credentials as creds
from harness import hcl
from harness import policy_documents as docs
from harness import doc_pages
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, REGION, REGIONAL_ACCOUNT_ID, REGIONAL_ROLE_ARN

pytestmark = pytest.mark.acceptance


def opened_message() -> str:
    """The CLIs report an opened ephemeral resource differently: OpenTofu prints
    `<address>: Open complete`, Terraform `<address>: Opening complete after <n>s`."""
    return f"{EPHEMERAL}: Opening complete" if settings.cli().is_terraform else f"{EPHEMERAL}: Open complete"


def _cli_is_terraform_1_14() -> bool:
    try:
        return settings.cli().name == "terraform-1.14"
    except ValueError:
        return False  # the `cli` fixture reports the bad MAESTRO_TEST_CLI


# Terraform 1.14.3 crashes in `show -json` (of a saved plan or of the state) when an ephemeral
# block has a postcondition: internal/command/jsonchecks.makeStaticObjectAddr has no case for
# ephemeral resources ("panic: unsupported resource mode 69"; 1.16.4 has it). A Terraform bug,
# not the provider's; these tests read plans and state through `show -json`, so they skip there.
needs_show_json_of_ephemeral_conditions = pytest.mark.skipif(
    _cli_is_terraform_1_14(),
    reason="Terraform 1.14.3 `show -json` panics on a postcondition in an ephemeral block "
           "(jsonchecks: unsupported resource mode 69); fixed by 1.16.4")

DEFAULT_PREFIX = "sources/maestro/consumers"
KEY = "maestro_agent_key.k"
CONSUMER = "maestro_consumer.c"
IDENTITY = "maestro_agent_identity.x"
EPHEMERAL = "ephemeral.maestro_agent_credentials.bundle"
ENDPOINT = "example-ats.iot.us-east-1.amazonaws.com"
# Every attribute of the object agent_binding (and the data source's `binding`) returns; each is
# checked against AWS below, so a new one fails here until it is.
BINDING_KEYS = {"consumer_name", "cloudevents_client_id", "client_id", "source_events_topic", "agent_events_topic",
                "thing_name", "iot_policy_name", "iot_policy", "role_name", "iam_iot_policy", "cert_secret_name",
                "config_secret_name"}


# ---------------------------------------------------------------- configuration helpers


def call(function: str, *arguments: Any) -> str:
    """An HCL call of a provider function with literal (or Raw) arguments."""
    rendered = ", ".join(a.text if isinstance(a, hcl.Raw) else hcl.value(a) for a in arguments)
    return f"provider::maestro::{function}({rendered})"


def output(name: str, expression: str) -> str:
    return f'output "{name}" {{\n  value = {expression}\n}}\n'


def data_binding(label: str, provider: str, **arguments: Any) -> str:
    body = {"provider": hcl.Raw(provider), **arguments}
    return f'data "maestro_agent_binding" "{label}" {{\n{hcl.attributes(body)}\n}}\n'


def agent_blocks(cluster_id: str, eks: str, *, topic_prefix: str | None = None, identity_topic_prefix: str | None = None,
                 cloudevents_client_id: str | None = None) -> str:
    """Key, consumer and identity of one agent in one configuration, as the README shows.
    `topic_prefix` goes to both resources, `identity_topic_prefix` to the identity only (the
    consumer then takes its provider's)."""
    shared: dict[str, Any] = {}
    if topic_prefix is not None:
        shared["topic_prefix"] = topic_prefix
    if cloudevents_client_id is not None:
        shared["cloudevents_client_id"] = cloudevents_client_id
    identity_only = {"topic_prefix": identity_topic_prefix} if identity_topic_prefix is not None else {}
    key = hcl.resource("maestro_agent_key", "k", {"cluster_id": cluster_id}, provider="maestro.management")
    consumer = hcl.resource("maestro_consumer", "c", {
        "consumer_id": cluster_id, "csr_pem": hcl.Raw(f"{KEY}.csr_pem"), "management_account_id": MANAGEMENT_ACCOUNT_ID, **shared},
        provider="maestro.regional")
    identity = hcl.resource("maestro_agent_identity", "x", {
        "cluster_id": cluster_id, "regional_account_id": REGIONAL_ACCOUNT_ID, "eks_cluster_name": eks,
        "mqtt_cert_secret_name": hcl.Raw(f"{KEY}.secret_name"), "certificate_pem": hcl.Raw(f"{CONSUMER}.certificate_pem"),
        "broker_endpoint": hcl.Raw(f"{CONSUMER}.endpoint"), **shared, **identity_only}, provider="maestro.management")
    return "\n".join([key, consumer, identity])


def outputs_of(ws) -> dict[str, Any]:
    return {name: item["value"] for name, item in json.loads(ws.run("output", "-json").stdout).items()}


# ---------------------------------------------------------------- what AWS holds


def connect_grants(document: str) -> set[str]:
    """The client ARNs a policy lets connect."""
    return {resource for effect, _, action, resource, _ in docs.grants(document)
            if effect == "Allow" and action == "iot:Connect"}


def assert_binding_is_what_aws_holds(binding: dict[str, Any], regional, management, key: dict[str, Any],
                                     consumer: dict[str, Any], identity: dict[str, Any]) -> None:
    """Every value of an agent binding against the objects the resources wrote for that agent."""
    assert set(binding) == BINDING_KEYS, f"binding has {sorted(binding)}, expected {sorted(BINDING_KEYS)}"
    iot = regional.client("iot")

    # IoT Core: the policy document as IoT Core holds it, and the thing.
    held = iot.get_policy(policyName=binding["iot_policy_name"])
    assert held["policyArn"] == consumer["policy_arn"], "the binding names another IoT policy than the consumer's"
    assert json.loads(binding["iot_policy"]) == json.loads(held["policyDocument"]), \
        docs.describe_difference(binding["iot_policy"], held["policyDocument"])
    assert json.loads(binding["iot_policy"]) == json.loads(consumer["policy_document"])
    assert iot.describe_thing(thingName=binding["thing_name"])["thingArn"] == consumer["thing_arn"]

    # What the agent sends on the wire, and the topics, as the consumer derived them.
    for name in ("client_id", "cloudevents_client_id", "source_events_topic", "agent_events_topic"):
        assert binding[name] == consumer[name], f"{name}: binding {binding[name]!r}, consumer {consumer[name]!r}"
    assert binding["client_id"] == identity["client_id"]
    assert binding["cloudevents_client_id"] == identity["cloudevents_client_id"]
    assert binding["consumer_name"] == identity["consumer_name"] == consumer["consumer_id"]
    # The IoT policy lets exactly this client ID connect.
    connects = connect_grants(held["policyDocument"])
    assert connects == {f"arn:aws:iot:{REGION}:{REGIONAL_ACCOUNT_ID}:client/{binding['client_id']}"}, connects

    # IAM in the management account: the role and its IoT inline policy as IAM holds them.
    assert binding["role_name"] == identity["role_name"]
    role = aws_inspect.get_role(management, binding["role_name"])
    assert role is not None and role["Arn"] == identity["role_arn"]
    assert aws_inspect.inline_policy(management, binding["role_name"], docs.IOT_POLICY_NAME) == \
        json.loads(binding["iam_iot_policy"]), docs.describe_difference(
            aws_inspect.inline_policy(management, binding["role_name"], docs.IOT_POLICY_NAME), binding["iam_iot_policy"])

    # Secrets Manager in the management account.
    assert binding["cert_secret_name"] == key["secret_name"] == identity["mqtt_cert_secret_name"]
    assert binding["config_secret_name"] == identity["config_secret_name"]
    for name in (binding["cert_secret_name"], binding["config_secret_name"]):
        assert management.secretsmanager.describe_secret(SecretId=name)["Name"] == name


@pytest.fixture
def agent_workspace(make_workspace, make_eks_cluster):
    """A workspace for one agent whose key, consumer and identity are created for real."""
    def make(cluster_id: str, preamble: str, *extra: str, **agent: Any):
        eks = make_eks_cluster(f"{cluster_id}-eks")
        ws = make_workspace(cluster_id)
        ws.set_config(preamble + "\n" + agent_blocks(cluster_id, eks, **agent) + "\n" + "\n".join(extra))
        ws.init()
        return ws
    return make


# ---------------------------------------------------------------- functions


def test_agent_binding_function_gives_what_consumer_and_identity_write_to_aws(
        agent_workspace, provider_preamble, regional, management):
    cluster_id, prefix = "fn-binding", "sources/fleet/consumers"
    binding = call("agent_binding", cluster_id, prefix, REGIONAL_ACCOUNT_ID, REGION)
    ws = agent_workspace(cluster_id, provider_preamble,
                         output("binding", binding),
                         output("mqtt_client_id", call("mqtt_client_id", f"{cluster_id}-work-agent")),
                         topic_prefix=prefix)
    # Literal arguments: the values are known before anything exists, so a module can use them
    # in for_each keys and other plan-time places.
    plan = ws.plan()
    assert plan.plan["output_changes"]["binding"]["after_unknown"] in (False, {}), plan.plan["output_changes"]["binding"]
    planned = plan.plan["output_changes"]["binding"]["after"]
    ws.apply()
    ws.assert_plan_empty()

    found = outputs_of(ws)
    assert found["binding"] == planned
    assert found["binding"]["source_events_topic"].startswith(prefix + "/")
    assert_binding_is_what_aws_holds(found["binding"], regional, management, ws.state_resource(KEY),
                                     ws.state_resource(CONSUMER), ws.state_resource(IDENTITY))
    assert found["mqtt_client_id"] == ws.state_resource(CONSUMER)["client_id"]


def test_mqtt_client_id_is_the_client_id_a_consumer_with_that_flag_allows(agent_workspace, provider_preamble, regional):
    cluster_id, flag = "fn-mqtt", "fleet-a.fn-mqtt:work_agent"
    ws = agent_workspace(cluster_id, provider_preamble, output("client_id", call("mqtt_client_id", flag)),
                         cloudevents_client_id=flag)
    ws.apply()
    client_id = outputs_of(ws)["client_id"]
    consumer = ws.state_resource(CONSUMER)
    assert client_id == consumer["client_id"]
    held = regional.client("iot").get_policy(policyName=consumer["policy_name"])["policyDocument"]
    connects = connect_grants(held)
    assert connects == {f"arn:aws:iot:{REGION}:{REGIONAL_ACCOUNT_ID}:client/{client_id}"}


def test_server_binding_function_gives_what_server_identity_writes_to_aws(make_workspace, provider_preamble, regional):
    name = "fn-server"
    eks = aws_inspect.create_eks_cluster(regional, f"{name}-eks")["name"]
    server = hcl.resource("maestro_server_identity", "server", {
        "name": name, "eks_cluster_name": eks, "certificate_secret_name": f"{name}/server-cert",
        "config_secret_name": f"{name}/server-config", "force_delete_without_recovery": True}, provider="maestro.regional")
    ws = make_workspace(name)
    ws.set_config(provider_preamble + "\n" + server + "\n" +
                  output("binding", call("server_binding", name, DEFAULT_PREFIX, REGIONAL_ACCOUNT_ID, REGION)))
    ws.init()
    ws.apply()
    ws.assert_plan_empty()
    binding = outputs_of(ws)["binding"]
    state = ws.state_resource("maestro_server_identity.server")
    assert set(binding) == {"source_id", "source_events_topic", "agent_events_topic", "policy_name", "role_name",
                            "iot_policy", "server_flags"}
    held = regional.client("iot").get_policy(policyName=binding["policy_name"])
    assert held["policyArn"] == state["policy_arn"]
    assert json.loads(binding["iot_policy"]) == json.loads(held["policyDocument"]), \
        docs.describe_difference(binding["iot_policy"], held["policyDocument"])
    role = aws_inspect.get_role(regional, binding["role_name"])
    assert role is not None and role["Arn"] == state["role_arn"]
    for attribute in ("source_id", "source_events_topic", "agent_events_topic", "server_flags", "role_name", "policy_name"):
        assert binding[attribute] == state[attribute], f"{attribute}: function {binding[attribute]!r}, resource {state[attribute]!r}"


P, A, R = DEFAULT_PREFIX, REGIONAL_ACCOUNT_ID, REGION


@pytest.mark.parametrize("expression,parameter", [
    (call("agent_binding", "Mgmt_01", P, A, R), "consumer_id"),
    (call("agent_binding", "mc-01", "maestro/consumers", A, R), "topic_prefix"),
    (call("agent_binding", "mc-01", P, "1234", R), "regional_account_id"),
    (call("agent_binding", "mc-01", P, A, "Not A Region"), "broker_region"),
    (call("mqtt_client_id", "mc-01-*"), "cloudevents_client_id"),
    (call("server_binding", "bad name", P, A, R), "name"),
    (call("server_binding", "regional-01", "maestro", A, R), "topic_prefix"),
    (call("server_binding", "regional-01", P, "12", R), "regional_account_id"),
    (call("server_binding", "regional-01", P, A, "Not A Region"), "broker_region"),
], ids=["agent-consumer_id", "agent-topic_prefix", "agent-account", "agent-region", "mqtt-wildcard",
        "server-name", "server-topic_prefix", "server-account", "server-region"])
def test_a_bad_function_argument_fails_naming_the_argument(make_workspace, provider_preamble, expression, parameter):
    ws = make_workspace()
    ws.set_config(provider_preamble + output("value", expression))
    ws.init()
    for command in (["validate", "-no-color"], ["plan", "-input=false", "-no-color"]):
        ws.expect_error(command, rf'Error: Invalid function argument.*Invalid value for "{parameter}" parameter: {parameter} ')


# ---------------------------------------------------------------- the data source


def test_agent_binding_data_source_takes_account_region_and_prefix_from_its_provider(
        agent_workspace, emulator_url, regional, management):
    cluster_id, prefix, west_prefix = "fn-data", "sources/fleet-b/consumers", "sources/fleet-w/consumers"
    regional_provider = hcl.regional_provider(emulator_url)
    regional_provider.topic_prefix = prefix
    west = hcl.ProviderConfig("west", emulator_url, REGIONAL_ROLE_ARN, region="us-west-2", topic_prefix=west_prefix)
    preamble = hcl.preamble([regional_provider, hcl.management_provider(emulator_url), west])
    ws = agent_workspace(
        cluster_id, preamble,
        # Only the consumer: everything else from the provider it is configured with.
        data_binding("regional", "maestro.regional", consumer_id=cluster_id),
        data_binding("west", "maestro.west", consumer_id=cluster_id),
        data_binding("management", "maestro.management", consumer_id=cluster_id),
        # Everything given: the provider's values must not win.
        data_binding("explicit", "maestro.management", consumer_id=cluster_id, topic_prefix=prefix,
                     regional_account_id=REGIONAL_ACCOUNT_ID, broker_region=REGION),
        *(output(label, f"data.maestro_agent_binding.{label}") for label in ("regional", "west", "management", "explicit")),
        output("function_west", call("agent_binding", cluster_id, west_prefix, REGIONAL_ACCOUNT_ID, "us-west-2")),
        output("function_management", call("agent_binding", cluster_id, DEFAULT_PREFIX, MANAGEMENT_ACCOUNT_ID, REGION)),
        # The consumer takes the regional provider's prefix; the identity is told it.
        identity_topic_prefix=prefix)
    ws.apply()
    ws.assert_plan_empty()
    found = outputs_of(ws)
    consumer = ws.state_resource(CONSUMER)
    assert consumer["source_events_topic"] == f"{prefix}/{cluster_id}/sourceevents", "the consumer ignored the provider's prefix"

    regional_data = found["regional"]
    assert {k: regional_data[k] for k in ("consumer_id", "topic_prefix", "regional_account_id", "broker_region",
                                          "cloudevents_client_id")} == {
        "consumer_id": cluster_id, "topic_prefix": prefix, "regional_account_id": REGIONAL_ACCOUNT_ID, "broker_region": REGION,
        "cloudevents_client_id": consumer["cloudevents_client_id"]}
    assert_binding_is_what_aws_holds(regional_data["binding"], regional, management, ws.state_resource(KEY), consumer,
                                     ws.state_resource(IDENTITY))
    assert found["explicit"]["binding"] == regional_data["binding"]

    # Another provider, another default: the assumed role's account, the block's region and prefix.
    assert (found["west"]["regional_account_id"], found["west"]["broker_region"], found["west"]["topic_prefix"]) == \
        (REGIONAL_ACCOUNT_ID, "us-west-2", west_prefix)
    assert found["west"]["binding"] == found["function_west"]
    assert "arn:aws:iot:us-west-2:123456789012:client/" in found["west"]["binding"]["iot_policy"]
    # The management provider's account is the management account (sts:GetCallerIdentity of its role).
    assert found["management"]["regional_account_id"] == MANAGEMENT_ACCOUNT_ID
    assert found["management"]["topic_prefix"] == DEFAULT_PREFIX
    assert found["management"]["binding"] == found["function_management"]


def test_agent_binding_data_source_with_cloudevents_client_id_matches_the_consumer(
        agent_workspace, provider_preamble, regional, management):
    cluster_id, flag = "fn-data-flag", "fn-data-flag-custom-agent"
    ws = agent_workspace(cluster_id, provider_preamble,
                         data_binding("d", "maestro.regional", consumer_id=cluster_id, cloudevents_client_id=flag),
                         output("d", "data.maestro_agent_binding.d"),
                         output("mqtt", call("mqtt_client_id", flag)),
                         cloudevents_client_id=flag)
    ws.apply()
    ws.assert_plan_empty()
    found = outputs_of(ws)
    binding = found["d"]["binding"]
    assert found["d"]["cloudevents_client_id"] == binding["cloudevents_client_id"] == flag
    assert binding["client_id"] == found["mqtt"]
    assert_binding_is_what_aws_holds(binding, regional, management, ws.state_resource(KEY), ws.state_resource(CONSUMER),
                                     ws.state_resource(IDENTITY))


@pytest.mark.parametrize("arguments,attribute", [
    ({"consumer_id": "Mgmt_01"}, "consumer_id"),
    ({"consumer_id": "mc-01", "topic_prefix": "maestro/consumers"}, "topic_prefix"),
    ({"consumer_id": "mc-01", "regional_account_id": "1234"}, "regional_account_id"),
    ({"consumer_id": "mc-01", "broker_region": "Not A Region"}, "broker_region"),
    ({"consumer_id": "mc-01", "cloudevents_client_id": "mc-01-*"}, "cloudevents_client_id"),
])
def test_a_bad_data_source_argument_fails_at_validate_naming_it(make_workspace, provider_preamble, arguments, attribute):
    ws = make_workspace()
    ws.set_config(provider_preamble + data_binding("d", "maestro.regional", **arguments))
    ws.init()
    # The diagnostic is titled after the attribute and points at its line in the configuration.
    ws.expect_error(["validate", "-no-color"],
                    rf"Error: Invalid {attribute} with data\.maestro_agent_binding\.d, on main\.tf line \d+, "
                    rf"in data \"maestro_agent_binding\" \"d\": \d+: +{attribute} += ")


# ---------------------------------------------------------------- the ephemeral resource


CONSUMER_SCRIPT = '''\
"""Stands in for a consumer of the bundle (a write-only argument, a Kubernetes secret): gets the
bundle in its environment, proves what it got and appends public facts about it to $OUT."""
import hashlib, json, os
from cryptography import x509
from cryptography.hazmat.primitives import serialization

def spki(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()

key_pem, cert_pem, ca_pem = os.environ["AGENT_PRIVATE_KEY"], os.environ["AGENT_CERTIFICATE"], os.environ["AGENT_CA"]
key = serialization.load_pem_private_key(key_pem.encode(), None)
record = {
    "key_fingerprint": spki(key.public_key()),
    "certificate_fingerprint": spki(x509.load_pem_x509_certificate(cert_pem.encode()).public_key()),
    "ca_fingerprint": hashlib.sha256(x509.load_pem_x509_certificate(ca_pem.encode()).public_bytes(
        serialization.Encoding.DER)).hexdigest(),
    "private_key_sha256": hashlib.sha256(key_pem.encode()).hexdigest(),
    "certificate_sha256": hashlib.sha256(cert_pem.encode()).hexdigest(),
    "fingerprint_attribute": os.environ["AGENT_FINGERPRINT"],
    "version_id": os.environ["AGENT_VERSION"],
    "secret_name": os.environ["AGENT_SECRET"],
}
with open(os.environ["OUT"], "a", encoding="utf-8") as out:
    out.write(json.dumps(record) + "\\n")
'''


def ephemeral_block(cluster_id: str, condition: str | None, *, secret_name: str | None = None,
                    message: str = "opened another bundle than the agent's current one") -> str:
    """The ephemeral bundle; `condition` (HCL, about `self`) is its postcondition and
    `secret_name` an HCL expression."""
    arguments = {"provider": hcl.Raw("maestro.management"), "cluster_id": cluster_id}
    if secret_name is not None:
        arguments["secret_name"] = hcl.Raw(secret_name)
    lifecycle = ("  lifecycle {\n    postcondition {\n"
                 f"      condition     = {condition}\n"
                 f"      error_message = {hcl.string(message)}\n"
                 "    }\n  }\n") if condition else ""
    return f'ephemeral "maestro_agent_credentials" "bundle" {{\n{hcl.attributes(arguments)}\n{lifecycle}}}\n'


def consumer_block(script: Path, out: Path, *triggers: str) -> str:
    """A terraform_data whose local-exec provisioner gets the bundle in its environment (an
    ephemeral context: tofu suppresses the provisioner's output)."""
    environment = {
        "AGENT_PRIVATE_KEY": hcl.Raw(f"{EPHEMERAL}.private_key_pem"),
        "AGENT_CERTIFICATE": hcl.Raw(f"{EPHEMERAL}.certificate_pem"),
        "AGENT_CA": hcl.Raw(f"{EPHEMERAL}.ca_pem"),
        "AGENT_FINGERPRINT": hcl.Raw(f"{EPHEMERAL}.public_key_fingerprint"),
        "AGENT_VERSION": hcl.Raw(f"{EPHEMERAL}.version_id"),
        "AGENT_SECRET": hcl.Raw(f"{EPHEMERAL}.secret_name"),
        "OUT": str(out),
    }
    rendered = "\n".join(f"      {name} = {item.text if isinstance(item, hcl.Raw) else hcl.value(item)}"
                         for name, item in environment.items())
    return ('resource "terraform_data" "consumer" {\n'
            f"  triggers_replace = [{', '.join(triggers)}]\n"
            '  provisioner "local-exec" {\n'
            f"    command = {hcl.string(shlex.join([sys.executable, str(script)]))}\n"
            "    environment = {\n"
            f"{rendered}\n"
            "    }\n"
            "  }\n"
            "}\n")


@pytest.fixture
def bundle_flow(make_workspace, provider_preamble, management, regional, make_eks_cluster, leak_guard, tmp_path):
    """An agent whose bundle is completed the way test_agent_credentials.py does it: maestro_agent_key,
    a certificate issued with boto3 for its CSR, maestro_agent_identity with certificate_pem."""
    issued: list[str] = []

    class Flow:
        def __init__(self, cluster_id: str):
            self.cluster_id = cluster_id
            self.eks = make_eks_cluster(f"{cluster_id}-eks")
            self.ws = make_workspace(cluster_id)
            self.consumer_dir = tmp_path / "consumer"
            self.consumer_dir.mkdir()
            self.script = self.consumer_dir / "consume.py"
            self.script.write_text(CONSUMER_SCRIPT, encoding="utf-8")
            self.received = self.consumer_dir / "received.jsonl"
            # The consumer's directory is outside the workspace; scan it too.
            leak_guard.extra_trees.append(self.consumer_dir)

        def blocks(self, *, certificate_pem: str | None, generation: str = "1") -> str:
            key = hcl.resource("maestro_agent_key", "k", {"cluster_id": self.cluster_id,
                                                          "rotation_triggers": {"generation": generation}},
                               provider="maestro.management")
            arguments: dict[str, Any] = {"cluster_id": self.cluster_id, "regional_account_id": REGIONAL_ACCOUNT_ID,
                                         "eks_cluster_name": self.eks, "broker_endpoint": ENDPOINT,
                                         "mqtt_cert_secret_name": hcl.Raw(f"{KEY}.secret_name")}
            if certificate_pem:
                arguments["certificate_pem"] = certificate_pem
            return key + "\n" + hcl.resource("maestro_agent_identity", "x", arguments, provider="maestro.management")

        def configure(self, *extra: str, certificate_pem: str | None = None, generation: str = "1") -> None:
            self.ws.set_config(provider_preamble + "\n" + self.blocks(certificate_pem=certificate_pem, generation=generation)
                               + "\n" + "\n".join(extra))

        def issue(self) -> str:
            certificate_id, pem = creds.issue_certificate(regional, self.ws.state_resource(KEY)["csr_pem"])
            issued.append(certificate_id)
            return pem

        def complete(self) -> str:
            self.configure()
            self.ws.init()
            self.ws.apply()
            cert = self.issue()
            self.configure(certificate_pem=cert)
            self.ws.apply()
            return cert

        def current(self) -> creds.Bundle:
            bundle = creds.assert_current_coherent(management, self.ws.state_resource(KEY)["secret_arn"], guard=leak_guard)
            assert bundle is not None
            return bundle

        def records(self) -> list[dict[str, Any]]:
            if not self.received.exists():
                return []
            return [json.loads(line) for line in self.received.read_text(encoding="utf-8").splitlines()]

    made: list[Flow] = []

    def make(cluster_id: str) -> Flow:
        made.append(Flow(cluster_id))
        return made[-1]

    yield make
    for certificate_id in issued:
        try:
            creds.revoke_certificate(regional, certificate_id)
        except Exception:  # noqa: BLE001 - best-effort cleanup of hand-issued certificates
            pass


def assert_received(record: dict[str, Any], bundle: creds.Bundle, secret_name: str) -> None:
    """What the consumer got is exactly this bundle from Secrets Manager."""
    assert record["key_fingerprint"] == bundle.key_fingerprint, "the consumer got another key"
    assert record["certificate_fingerprint"] == record["key_fingerprint"], "the consumer got a key with another key's certificate"
    assert record["fingerprint_attribute"] == record["key_fingerprint"]
    assert record["private_key_sha256"] == hashlib.sha256(bundle.private_key.encode()).hexdigest()
    assert record["certificate_sha256"] == hashlib.sha256(bundle.certificate.encode()).hexdigest()
    assert record["ca_fingerprint"] == creds.ca_fingerprint(bundle.raw["caCert"])
    assert record["version_id"] == bundle.version_id
    assert record["secret_name"] == secret_name


# Referencing the identity's secret name also orders the open after the identity's apply.
IDENTITY_SECRET = f"{IDENTITY}.mqtt_cert_secret_name"
ROTATION_SECTION = "In the configuration that rotates the key"


def documented_rotation_block(cluster_id: str) -> str:
    """The ephemeral block the docs page recommends next to a rotating key, renamed to this test's
    addresses, so the pattern users read is the one that goes through a rotation here."""
    page = doc_pages.read_page(doc_pages.page_path("ephemeral_resource_schemas", "maestro_agent_credentials"))
    blocks = [content for language, content in page.fenced_blocks(ROTATION_SECTION) if language == "terraform"]
    assert blocks, f"no terraform block under '## {ROTATION_SECTION}' in {page.path}"
    text = blocks[0]
    for documented, here in (('"maestro_agent_credentials" "management_01"', '"maestro_agent_credentials" "bundle"'),
                             ("maestro_agent_identity.management_01.", f"{IDENTITY}."),
                             ('"management-01"', hcl.string(cluster_id))):
        assert documented in text, f"the documented block no longer has {documented}"
        text = text.replace(documented, here)
    return text


@needs_show_json_of_ephemeral_conditions
def test_ephemeral_credentials_open_the_current_bundle_for_a_consumer_and_never_store_it(bundle_flow, leak_guard):
    f = bundle_flow("eph-open")
    cert = f.complete()
    bundle = f.current()
    # The guard knows this very key, so its scan after the test looks for it in every artifact.
    assert any(finding.kind.startswith("private key in") for finding in leak_guard.scanner.scan_text(bundle.private_key, "probe"))
    key = f.ws.state_resource(KEY)
    identity = f.ws.state_resource(IDENTITY)
    assert bundle.certificate == cert and bundle.key_fingerprint == key["public_key_fingerprint"]

    condition = (f"self.public_key_fingerprint == {KEY}.public_key_fingerprint && "
                 f"self.certificate_pem == {IDENTITY}.certificate_pem && self.version_id == {IDENTITY}.credential_version_id")
    f.configure(ephemeral_block(f.cluster_id, condition, secret_name=IDENTITY_SECRET),
                consumer_block(f.script, f.received, f"{IDENTITY}.credential_version_id"),
                certificate_pem=cert)
    # A saved plan (scanned by the leak guard), then the apply: the postcondition passes in both.
    plan = f.ws.plan()
    assert plan.actions() == {"terraform_data.consumer": ["create"]}, plan.describe()
    assert opened_message() in plan.result.output, plan.result.describe()
    applied = f.ws.apply()
    assert opened_message() in applied.output
    assert "(output suppressed due to ephemeral value in config)" in applied.output
    f.ws.assert_plan_empty()

    records = f.records()
    assert len(records) == 1, f"the provisioner ran {len(records)} times"
    assert_received(records[0], bundle, key["secret_name"])
    assert records[0]["version_id"] == identity["credential_version_id"]
    # The ephemeral resource is in neither the state nor the saved plan (only as a dependency
    # of the consumer); the leak guard's scan after the test covers its values everywhere.
    state = json.loads((f.ws.root / "terraform.tfstate").read_text())
    assert [(r["mode"], r["type"]) for r in state["resources"] if r["type"] == "maestro_agent_credentials"] == []
    assert {r["mode"] for r in state["resources"]} == {"managed"}
    assert not any(address.startswith("ephemeral.") for address in f.ws.state_resources())
    assert [c["address"] for c in plan.resource_changes() if c["type"] == "maestro_agent_credentials"] == []


def test_ephemeral_postcondition_fails_for_a_wrong_expectation(bundle_flow):
    f = bundle_flow("eph-wrong")
    cert = f.complete()
    bundle = f.current()
    # Somebody expects another key: the public key of a CSR made elsewhere.
    other = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "someone-else")])).sign(other, hashes.SHA256())
    foreign = creds.csr_fingerprint(csr.public_bytes(serialization.Encoding.PEM).decode())
    assert foreign != bundle.key_fingerprint

    def configure(expected: str, message: str) -> None:
        f.configure(ephemeral_block(f.cluster_id, f"self.public_key_fingerprint == {hcl.string(expected)}",
                                    secret_name=IDENTITY_SECRET, message=message),
                    consumer_block(f.script, f.received, f"{IDENTITY}.credential_version_id"),
                    certificate_pem=cert)

    configure(foreign, "not the bundle I expected")
    for command in (["plan", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
        f.ws.expect_error(command, rf"Error: Resource postcondition failed.*in ephemeral \"maestro_agent_credentials\" "
                                   rf"\"bundle\".*not the bundle I expected")
    assert f.records() == [], "the consumer got a bundle although the postcondition failed"
    assert "terraform_data.consumer" not in f.ws.state_resources()

    # The same configuration expecting the agent's own key goes through.
    configure(bundle.key_fingerprint, "opened another bundle")
    f.ws.apply()
    assert len(f.records()) == 1
    assert_received(f.records()[0], bundle, f"{f.cluster_id}/maestro/agent-mqtt-cert")


@needs_show_json_of_ephemeral_conditions
def test_ephemeral_credentials_follow_the_current_bundle_through_a_rotation(bundle_flow, management, leak_guard):
    f = bundle_flow("eph-rotate")
    first_cert = f.complete()
    first = f.current()
    secret = f.ws.state_resource(KEY)["secret_name"]
    # The consumer runs again whenever the key or the current version changes.
    extra = (documented_rotation_block(f.cluster_id),
             consumer_block(f.script, f.received, f"{IDENTITY}.credential_version_id", f"{KEY}.public_key_fingerprint"))
    f.configure(*extra, certificate_pem=first_cert)
    f.ws.apply()
    assert len(f.records()) == 1
    assert_received(f.records()[-1], first, secret)

    # A new key is staged: the current bundle is still the first one, and that is what opens.
    f.configure(*extra, certificate_pem=first_cert, generation="2")
    f.ws.apply()
    staged = creds.read_bundle(management, secret, "AWSPENDING", guard=leak_guard)
    assert staged is not None and staged.key_fingerprint == f.ws.state_resource(KEY)["public_key_fingerprint"]
    assert len(f.records()) == 2, "the consumer did not run again for the new key"
    assert_received(f.records()[-1], first, secret)
    assert f.records()[-1]["key_fingerprint"] != staged.key_fingerprint, "opened the staged key, not the current bundle"

    # Its certificate arrives: in one apply the identity promotes it and the consumer, opened
    # after the identity, gets the new bundle.
    second_cert = f.issue()
    f.configure(*extra, certificate_pem=second_cert, generation="2")
    f.ws.apply()
    f.ws.assert_plan_empty()
    second = f.current()
    assert second.certificate == second_cert and second.key_fingerprint == staged.key_fingerprint
    assert len(f.records()) == 3
    assert_received(f.records()[-1], second, secret)


def test_a_secret_with_only_a_key_is_refused_naming_the_secret(make_workspace, provider_preamble, management, leak_guard):
    cluster_id = "eph-keyonly"
    ws = make_workspace()
    key = hcl.resource("maestro_agent_key", "k", {"cluster_id": cluster_id}, provider="maestro.management")
    ws.set_config(provider_preamble + key)
    ws.init()
    ws.apply()
    state = ws.state_resource(KEY)
    creds.read_bundle(management, state["secret_arn"], guard=leak_guard)  # registers the key
    consumer = ('resource "terraform_data" "consumer" {\n  provisioner "local-exec" {\n    command = "true"\n'
                f"    environment = {{ KEY = {EPHEMERAL}.private_key_pem }}\n  }}\n}}\n")

    for secret_name in (None, f"{KEY}.secret_name"):
        ws.set_config(provider_preamble + key + ephemeral_block(cluster_id, None, secret_name=secret_name) + consumer)
        for command in (["plan", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
            result = ws.expect_error(command, r"Error: No usable credential bundle.*The current version of secret "
                                              rf"{cluster_id}/maestro/agent-mqtt-cert holds a key without its certificate yet")
            assert f"with {EPHEMERAL}," in result.output, result.describe()
            if secret_name:
                assert re.search(rf"\d+: +secret_name += {re.escape(secret_name)}", result.output), \
                    f"the error does not point at secret_name: {result.describe()}"
    assert "terraform_data.consumer" not in ws.state_resources()

    # No secret at all: the same error, naming the secret it looked for.
    ws.set_config(provider_preamble + key + ephemeral_block("eph-nosecret", None) + consumer)
    ws.expect_error(["plan", "-input=false", "-no-color"],
                    r"Error: No usable credential bundle.*secret eph-nosecret/maestro/agent-mqtt-cert does not exist")
    # Back to the key alone, so the teardown's destroy does not open the bundle either.
    ws.set_config(provider_preamble + key)


def test_a_bad_ephemeral_argument_fails_at_validate(make_workspace, provider_preamble):
    ws = make_workspace()
    ws.set_config(provider_preamble + ephemeral_block("Mgmt_01", None) +
                  'resource "terraform_data" "consumer" {\n  provisioner "local-exec" {\n    command = "true"\n'
                  f"    environment = {{ KEY = {EPHEMERAL}.private_key_pem }}\n  }}\n}}\n")
    ws.init()
    ws.expect_error(["validate", "-no-color"],
                    rf"Error: Invalid cluster_id with {re.escape(EPHEMERAL)}, .*cluster_id += \"Mgmt_01\".*Maestro consumer name")
