"""Every diagnostic reads like words, not like Rust.

- The harness scans the output of every CLI command it runs (harness/tofu_workspace.py,
  `check_diagnostics_readable`) and fails the test that ran it when an error or warning shows
  Rust `Debug` syntax; the first test here proves that scan can fail.
- AWS errors provoked on purpose (a missing EKS cluster, a refused call) come back as the
  action, the object, AWS's code, HTTP status and message, the request ID and what to do.
"""

from __future__ import annotations

import pytest

from harness import hcl
from harness.aws_accounts import REGIONAL_ACCOUNT_ID
from harness.faults import Faults
from harness.tofu_workspace import RustDebugInDiagnostic, flatten_whitespace, rust_debug_in

pytestmark = pytest.mark.acceptance

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
