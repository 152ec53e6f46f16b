"""Self-tests of the emulator and account fixtures (no tofu, no provider needed)."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest
from botocore.exceptions import ClientError

from harness import aws_accounts, aws_inspect, settings

pytestmark = pytest.mark.emulator


def test_emulator_is_up_with_iam_propagation_delay(emulator_url):
    with urllib.request.urlopen(f"{emulator_url}/maestro-emulator/config", timeout=10) as response:
        config = json.load(response)
    expected = os.environ.get("MAESTRO_EMULATOR_IAM_PROPAGATION_SECONDS", settings.IAM_PROPAGATION_SECONDS_DEFAULT)
    assert config["iamPropagationSeconds"] == float(expected)


def test_assumed_roles_act_in_their_own_accounts(regional, management):
    assert regional.client("sts").get_caller_identity()["Account"] == aws_accounts.REGIONAL_ACCOUNT_ID
    identity = management.client("sts").get_caller_identity()
    assert identity["Account"] == aws_accounts.MANAGEMENT_ACCOUNT_ID
    assert ":assumed-role/maestro-management/" in identity["Arn"]


def test_clusters_and_roles_stay_in_their_account(regional, management, management_cluster, make_eks_cluster):
    assert management.eks.describe_cluster(name=management_cluster)["cluster"]["arn"].startswith(
        f"arn:aws:eks:us-east-1:{aws_accounts.MANAGEMENT_ACCOUNT_ID}:cluster/")
    with pytest.raises(ClientError) as missing:
        regional.eks.describe_cluster(name=management_cluster)
    assert aws_inspect.error_code(missing.value) == "ResourceNotFoundException"
    # Creating the same cluster twice is harmless (fixtures may be asked more than once).
    assert make_eks_cluster(management_cluster) == management_cluster


def test_fixture_helpers_survive_iam_propagation(management, make_eks_cluster):
    cluster = make_eks_cluster("harness-selftest-eks")
    role_arn = aws_inspect.create_pod_role(management, "harness-selftest-role")
    if float(os.environ.get("MAESTRO_EMULATOR_IAM_PROPAGATION_SECONDS", settings.IAM_PROPAGATION_SECONDS_DEFAULT)) > 0:
        # Straight after CreateRole, EKS must not see the role yet: this is the delay the
        # provider has to retry through, so prove the fixture really switched it on.
        with pytest.raises(ClientError) as early:
            management.eks.create_pod_identity_association(
                clusterName=cluster, namespace="selftest", serviceAccount="selftest", roleArn=role_arn)
        assert aws_inspect.error_code(early.value) == "InvalidParameterException"
    association = aws_inspect.create_association(management, cluster, "selftest", "selftest", role_arn)
    assert aws_inspect.associations_for(management, cluster, "selftest", "selftest") == [association]
    aws_inspect.delete_association(management, cluster, association.association_id)
    aws_inspect.delete_role_completely(management, "harness-selftest-role")
    assert aws_inspect.get_role(management, "harness-selftest-role") is None
    assert aws_inspect.associations(management, cluster) == []
