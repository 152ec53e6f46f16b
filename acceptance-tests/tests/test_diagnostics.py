"""Every diagnostic reads like words, not like Rust.

- The harness scans the output of every CLI command it runs (harness/tofu_workspace.py,
  `check_diagnostics_readable`) and fails the test that ran it when an error or warning shows
  Rust `Debug` syntax; the first test here proves that scan can fail.
- AWS errors provoked on purpose (a missing EKS cluster, a refused call) come back as the
  action, the object, AWS's code, HTTP status and message, the request ID and what to do.
"""

from __future__ import annotations

import json
import shutil

import pytest

from harness import aws_accounts, hcl, settings
from harness.aws_accounts import REGIONAL_ACCOUNT_ID
from harness.faults import Faults
from harness.tofu_workspace import RustDebugInDiagnostic, flatten_whitespace, rust_debug_in

pytestmark = pytest.mark.acceptance

FLEET = settings.REPO_ROOT / "examples" / "fleet"

# What the issue saw after a failed CreatePodIdentityAssociation, shortened.
SDK_DEBUG_DUMP = ('ServiceError(ServiceError { source: ResourceNotFoundException(ResourceNotFoundException '
                  '{ message: Some("No cluster found"), meta: ErrorMetadata { code: Some("ResourceNotFoundException") } }), '
                  'raw: Response { status: StatusCode(404), headers: {}, body: SdkBody { inner: Once(None) } } })')


def test_the_scan_finds_the_sdk_debug_form_and_not_words():
    assert len(rust_debug_in(SDK_DEBUG_DUMP)) >= 3
    readable = ("eks:CreatePodIdentityAssociation on EKS cluster x failed: ResourceNotFoundException (HTTP 404): "
                "No cluster found for name: x. (request ID 0c1e)")
    assert rust_debug_in(readable) == []


def test_a_cli_diagnostic_with_debug_syntax_fails_the_test_that_ran_it(make_plain_workspace):
    ws = make_plain_workspace("debug-dump")
    # A built-in resource whose precondition message is the dump: the diagnostic comes from the
    # real CLI, wrapped at 78 columns as it prints provider diagnostics.
    ws.set_config(f'''
variable "ok" {{
  type    = bool
  default = false
}}

resource "terraform_data" "x" {{
  lifecycle {{
    precondition {{
      condition     = var.ok
      error_message = {hcl.string(SDK_DEBUG_DUMP)}
    }}
  }}
}}
''')
    ws.init()
    with pytest.raises(RustDebugInDiagnostic, match="StatusCode"):
        ws.run("plan", "-input=false", "-no-color", expect_exit={1})


def _identity(cluster_id: str, eks_cluster_name: str) -> str:
    return hcl.resource("maestro_agent_identity", "x", {
        "cluster_id": cluster_id, "regional_account_id": REGIONAL_ACCOUNT_ID, "eks_cluster_name": eks_cluster_name,
    }, provider="maestro.management")


def _assert_aws_error_in_words(output: str, action: str, code: str, status: int, hint: str) -> str:
    flat = flatten_whitespace(output)
    assert f"{action} on " in flat, flat
    assert f"failed: {code} (HTTP {status}): " in flat, flat
    assert "(request ID " in flat, flat
    assert hint in flat, flat
    assert rust_debug_in(output) == []
    return flat


def test_pod_identity_association_on_a_missing_eks_cluster(config_workspace, management):
    ws = config_workspace(_identity("diag-missing-eks", "diag-no-such-cluster"))
    result = ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"ResourceNotFoundException")
    flat = _assert_aws_error_in_words(result.output, "eks:CreatePodIdentityAssociation", "ResourceNotFoundException", 404,
                                      "in the account and region the provider acts in")
    assert "diag-no-such-cluster" in flat


def test_access_denied_names_the_iam_action_to_allow(config_workspace, emulator_url, make_eks_cluster):
    eks = make_eks_cluster("diag-denied-eks")
    ws = config_workspace(_identity("diag-denied", eks))
    faults = Faults(emulator_url)
    faults.arm("iam", "CreateRole", status=403, code="AccessDenied", count=50,
               message="User: arn:aws:sts::987654321098:assumed-role/maestro-management/s is not authorized to perform: iam:CreateRole")
    try:
        result = ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"AccessDenied")
    finally:
        faults.clear()
    _assert_aws_error_in_words(result.output, "iam:CreateRole", "AccessDenied", 403, "allow `iam:CreateRole`")


def test_throttling_beyond_the_retries_says_to_run_again(config_workspace, emulator_url, make_eks_cluster):
    eks = make_eks_cluster("diag-throttled-eks")
    ws = config_workspace(_identity("diag-throttled", eks))
    faults = Faults(emulator_url)
    faults.arm("iam", "CreateRole", status=400, code="Throttling", count=100, message="Rate exceeded")
    try:
        result = ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"Throttling")
    finally:
        faults.clear()
    _assert_aws_error_in_words(result.output, "iam:CreateRole", "Throttling", 400, "run again later")


# ---------------------------------------------------------------- errors at the user's value

MODULE = '''
terraform {
  required_providers {
    maestro = {
      source                = "registry.terraform.io/maestro-iac/maestro"
      configuration_aliases = [maestro.management]
    }
  }
}

variable "regional_account_id" {
  type = string
}

variable "kms_key_id" {
  type    = string
  default = null
}

resource "maestro_agent_key" "agent" {
  provider   = maestro.management
  cluster_id = "diag-module"
  kms_key_id = var.kms_key_id
}

resource "maestro_agent_identity" "agent" {
  provider              = maestro.management
  cluster_id            = "diag-module"
  regional_account_id   = var.regional_account_id
  eks_cluster_name      = "diag-module-eks"
  mqtt_cert_secret_name = maestro_agent_key.agent.secret_name
}
'''


def _module_workspace(make_workspace, provider_preamble, **arguments: str):
    ws = make_workspace("module-value")
    (ws.root / "modules" / "agent").mkdir(parents=True)
    ws.write_file("modules/agent/main.tf", MODULE)
    body = hcl.attributes({"source": "./modules/agent", "providers": hcl.Raw("{ maestro.management = maestro.management }"),
                           **arguments})
    ws.set_config(provider_preamble + f'\nmodule "agent" {{\n{body}\n}}\n')
    ws.init()
    return ws


def test_a_bad_account_id_through_a_module_variable_is_quoted_with_its_attribute(make_workspace, provider_preamble):
    ws = _module_workspace(make_workspace, provider_preamble, regional_account_id="12345678901")
    result = ws.expect_error(["plan", "-input=false", "-no-color"],
                             r'regional_account_id must be exactly 12 digits, got "12345678901" \(11 digits\)')
    flat = flatten_whitespace(result.output)
    # The CLI shows the module's line, which holds only the variable; the value is in the text.
    assert "with module.agent.maestro_agent_identity.agent" in flat, flat
    assert "regional_account_id = var.regional_account_id" in flat, flat


def test_a_kms_key_of_another_region_is_refused_and_of_another_account_named_at_plan(make_workspace,
                                                                                     provider_preamble, emulator_url):
    # A key of a third account, which KMS (DescribeKey) finds by its ARN.
    third = aws_accounts.assume_account(emulator_url, "kms-owner", "arn:aws:iam::111122223333:role/kms-owner", "111122223333")
    key = third.client("kms").create_key(Description="another account's key")["KeyMetadata"]["KeyId"]
    ws = _module_workspace(make_workspace, provider_preamble, regional_account_id=REGIONAL_ACCOUNT_ID,
                           kms_key_id=f"arn:aws:kms:eu-west-1:987654321098:key/{key}")
    ws.expect_error(["plan", "-input=false", "-no-color"],
                    r"KMS key in another region.*a key of region eu-west-1, but the secret it encrypts is written in region us-east-1")
    ws.write_file("main.tf", (ws.root / "main.tf").read_text().replace("eu-west-1:987654321098", "us-east-1:111122223333"))
    plan = ws.plan()
    flat = flatten_whitespace(plan.result.output)
    assert "KMS key of another account" in flat, flat
    assert "a key of account 111122223333, but the secret it encrypts is written in account 987654321098" in flat, flat


def test_examples_fleet_reports_a_bad_account_id_at_the_module_block_that_passes_it(make_workspace, emulator_url):
    ws = make_workspace("fleet-typo")
    shutil.copytree(FLEET, ws.root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    ws.write_file("typo.auto.tfvars.json", json.dumps({"aws_endpoint": emulator_url, "management_b": {
        "account_id": "34567890123", "role_arn": "arn:aws:iam::345678901234:role/maestro-management",
        "clusters": {"management-03": "management-03"}}}))
    ws.init()
    result = ws.expect_error(["plan", "-input=false", "-no-color"],
                             r'management_account_id must be an AWS account ID of 12 digits, got "34567890123"')
    flat = flatten_whitespace(result.output)
    assert 'in module "agents_b"' in flat and "management_account_id = var.management_b.account_id" in flat, flat


def test_a_kms_key_that_does_not_exist_fails_in_words(config_workspace, emulator_url):
    # A missing key is refused at plan when kms:DescribeKey may be called (test_kms_keys.py);
    # without that permission the plan only warns, and Secrets Manager refuses it, in words.
    ws = config_workspace(hcl.resource("maestro_agent_key", "x", {
        "cluster_id": "diag-no-key", "kms_key_id": "alias/diag-no-such-key"}, provider="maestro.management"))
    faults = Faults(emulator_url)
    faults.arm("kms", "DescribeKey", status=400, code="AccessDeniedException", count=50,
               message="User: arn:aws:sts::987654321098:assumed-role/maestro-management/s is not authorized to perform: kms:DescribeKey")
    try:
        result = ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"EncryptionFailure")
    finally:
        faults.clear()
    assert "KMS key not checked" in flatten_whitespace(result.output)
    _assert_aws_error_in_words(result.output, "secretsmanager:CreateSecret", "EncryptionFailure", 400,
                               "check that it exists in the provider's region")
