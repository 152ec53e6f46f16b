"""Users behind a TLS-inspecting proxy: every AWS endpoint answers with a certificate from a
private CA. The provider trusts Mozilla's roots only (no platform store, so the darwin release
links on a Linux builder), plus the PEM bundle named by `custom_ca_bundle` or `AWS_CA_BUNDLE`.

The emulator is put behind a TLS-terminating proxy (harness/tls_proxy.py) and both provider
blocks point their endpoints at it. Without the bundle the provider must refuse the proxy's
certificate; with it, one agent key is applied and destroyed through the proxy."""

from __future__ import annotations

from typing import Iterator

import pytest

from harness import credentials as creds
from harness import hcl
from harness.tls_proxy import PrivateCa, TlsProxy

pytestmark = pytest.mark.acceptance

KEY = 'resource "maestro_agent_key" "k" {\n  provider   = maestro.management\n  cluster_id = "behind-proxy"\n}\n'


@pytest.fixture
def private_ca(tmp_path) -> PrivateCa:
    return PrivateCa(tmp_path / "ca")


@pytest.fixture
def tls_proxy(emulator_url: str, private_ca: PrivateCa) -> Iterator[TlsProxy]:
    proxy = TlsProxy(emulator_url, private_ca)
    yield proxy
    proxy.stop()


def providers_through(proxy: TlsProxy, **extra: str) -> str:
    blocks = hcl.standard_providers(proxy.url)
    for block in blocks:
        block.extra.update(extra)
    return hcl.preamble(blocks)


def test_the_private_ca_is_refused_without_a_bundle(make_workspace, tls_proxy):
    ws = make_workspace()
    ws.set_config(providers_through(tls_proxy) + KEY)
    ws.init()
    ws.expect_error(["plan"], r"Invalid AWS credentials[\s\S]*(UnknownIssuer|unknown issuer|invalid peer certificate)")
    assert tls_proxy.forwarded == 0, "no request may pass a proxy whose certificate was not trusted"
    assert tls_proxy.handshakes_refused > 0


def test_a_bad_bundle_is_an_error_on_custom_ca_bundle(make_workspace, tls_proxy, tmp_path):
    not_pem = tmp_path / "not-a-bundle.txt"
    not_pem.write_text("this is no certificate\n")
    ws = make_workspace()
    ws.set_config(providers_through(tls_proxy, custom_ca_bundle=str(not_pem)) + KEY)
    ws.init()
    result = ws.expect_error(["plan"], r"Unusable CA bundle[\s\S]*custom_ca_bundle names .*not-a-bundle\.txt")
    assert "this is no certificate" not in result.output
    assert tls_proxy.forwarded == 0


def test_an_agent_key_is_applied_and_destroyed_through_the_proxy_with_custom_ca_bundle(
        make_workspace, tls_proxy, private_ca, management, leak_guard):
    ws = make_workspace()
    ws.set_config(providers_through(tls_proxy, custom_ca_bundle=str(private_ca.bundle)) + KEY)
    ws.init()
    ws.apply()
    state = ws.state_resource("maestro_agent_key.k")
    bundle = creds.read_bundle(management, state["secret_arn"], "AWSCURRENT", guard=leak_guard)
    assert bundle is not None and bundle.key_fingerprint == state["public_key_fingerprint"]
    applied = tls_proxy.forwarded
    assert applied > 0, "the provider reached the emulator some other way than through the proxy"
    ws.assert_plan_empty()
    ws.destroy()
    assert tls_proxy.forwarded > applied
    listed = management.secretsmanager.list_secrets(IncludePlannedDeletion=False)["SecretList"]
    assert state["secret_arn"] not in [secret["ARN"] for secret in listed]


def test_aws_ca_bundle_is_read_when_the_argument_is_not_set(make_workspace, tls_proxy, private_ca):
    ws = make_workspace(extra_env={"AWS_CA_BUNDLE": str(private_ca.bundle)})
    ws.set_config(providers_through(tls_proxy) + KEY)
    ws.init()
    plan = ws.plan()
    assert plan.actions() == {"maestro_agent_key.k": ["create"]}
    assert tls_proxy.forwarded > 0
