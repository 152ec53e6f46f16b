"""Direct boto3 access the tests use to check what the provider did, and to make drift.

Everything here goes around the provider on purpose: a test that only believed `tofu show`
would pass for a provider that writes state but never calls AWS.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from .aws_accounts import AwsAccount

T = TypeVar("T")

POD_IDENTITY_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
    }],
}


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def retry_while(call: Callable[[], T], codes: set[str], timeout: float = 60.0, interval: float = 0.5) -> T:
    """Retries `call` while it fails with one of `codes`; the emulator delays IAM visibility in EKS
    like real AWS does, so fixtures that create roles then associations need the same patience."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except ClientError as error:
            if error_code(error) not in codes or time.monotonic() > deadline:
                raise
            time.sleep(interval)


def as_document(value: Any) -> dict[str, Any]:
    """botocore decodes IAM policy documents into dicts, but be tolerant of a raw
    (possibly URL-encoded) JSON string too."""
    if isinstance(value, dict):
        return value
    text = str(value)
    if text.lstrip().startswith("%7B") or text.lstrip().startswith("%7b"):
        text = urllib.parse.unquote(text)
    return json.loads(text)


# ---------------------------------------------------------------- IAM


def every_item(client: Any, operation: str, key: str, **arguments: Any) -> list[Any]:
    """Every item of a listing, page by page with boto3's paginator: the emulator pages as AWS
    does (emulator/maestro_emulator/paging.py), so a first page is not the whole account."""
    return [item for page in client.get_paginator(operation).paginate(**arguments) for item in page[key]]


def get_role(account: AwsAccount, role_name: str) -> dict[str, Any] | None:
    try:
        return account.iam.get_role(RoleName=role_name)["Role"]
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise


def trust_policy(account: AwsAccount, role_name: str) -> dict[str, Any]:
    role = get_role(account, role_name)
    assert role is not None, f"role {role_name} does not exist in account {account.account_id}"
    return as_document(role["AssumeRolePolicyDocument"])


def role_tags(account: AwsAccount, role_name: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for page in account.iam.get_paginator("list_role_tags").paginate(RoleName=role_name):
        tags.update({tag["Key"]: tag["Value"] for tag in page["Tags"]})
    return tags


def inline_policy_names(account: AwsAccount, role_name: str) -> list[str]:
    names: list[str] = []
    for page in account.iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        names.extend(page["PolicyNames"])
    return sorted(names)


def attached_policy_arns(account: AwsAccount, role_name: str) -> list[str]:
    arns: list[str] = []
    for page in account.iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        arns.extend(policy["PolicyArn"] for policy in page["AttachedPolicies"])
    return sorted(arns)


def inline_policy(account: AwsAccount, role_name: str, policy_name: str) -> dict[str, Any] | None:
    try:
        response = account.iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise
    return as_document(response["PolicyDocument"])


def all_role_names(account: AwsAccount) -> set[str]:
    names: set[str] = set()
    for page in account.iam.get_paginator("list_roles").paginate():
        names.update(role["RoleName"] for role in page["Roles"])
    return names


def create_pod_role(account: AwsAccount, role_name: str, inline: dict[str, dict[str, Any]] | None = None) -> str:
    """A role shaped like the provider's, for 'unrelated object survives' checks."""
    arn = account.iam.create_role(
        RoleName=role_name, AssumeRolePolicyDocument=json.dumps(POD_IDENTITY_TRUST)
    )["Role"]["Arn"]
    for policy_name, document in (inline or {}).items():
        account.iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
    return arn


def delete_role_completely(account: AwsAccount, role_name: str) -> None:
    """Out-of-band deletion in the order IAM demands: inline policies first, then the role."""
    for policy_name in inline_policy_names(account, role_name):
        account.iam.delete_role_policy(RoleName=role_name, PolicyName=policy_name)
    for policy_arn in attached_policy_arns(account, role_name):
        account.iam.detach_role_policy(RoleName=role_name, PolicyArn=policy_arn)
    account.iam.delete_role(RoleName=role_name)


# ---------------------------------------------------------------- EKS


def create_eks_cluster(account: AwsAccount, name: str) -> dict[str, Any]:
    """An EKS cluster to attach Pod Identity associations to; reused if it already exists."""
    try:
        return account.eks.create_cluster(
            name=name,
            roleArn=f"arn:aws:iam::{account.account_id}:role/acceptance-eks-cluster",
            resourcesVpcConfig={"subnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]},
        )["cluster"]
    except ClientError as error:
        if error_code(error) != "ResourceInUseException":
            raise
        return account.eks.describe_cluster(name=name)["cluster"]


@dataclass(frozen=True)
class Association:
    association_id: str
    association_arn: str
    namespace: str
    service_account: str
    role_arn: str
    tags: dict[str, str]

    def __hash__(self) -> int:
        return hash(self.association_id)


def associations(account: AwsAccount, cluster_name: str) -> list[Association]:
    """Every Pod Identity association on the cluster, described in full (the list call omits roleArn)."""
    found: list[Association] = []
    for page in account.eks.get_paginator("list_pod_identity_associations").paginate(clusterName=cluster_name):
        for summary in page["associations"]:
            detail = account.eks.describe_pod_identity_association(
                clusterName=cluster_name, associationId=summary["associationId"]
            )["association"]
            found.append(Association(
                association_id=detail["associationId"],
                association_arn=detail["associationArn"],
                namespace=detail["namespace"],
                service_account=detail["serviceAccount"],
                role_arn=detail["roleArn"],
                tags=dict(detail.get("tags") or {}),
            ))
    return found


def associations_for(account: AwsAccount, cluster_name: str, namespace: str, service_account: str) -> list[Association]:
    return [a for a in associations(account, cluster_name)
            if a.namespace == namespace and a.service_account == service_account]


def create_association(account: AwsAccount, cluster_name: str, namespace: str, service_account: str,
                       role_arn: str) -> Association:
    # A role made a moment ago may not be visible to EKS yet (the emulator copies AWS here).
    response = retry_while(
        lambda: account.eks.create_pod_identity_association(
            clusterName=cluster_name, namespace=namespace, serviceAccount=service_account, roleArn=role_arn
        ),
        codes={"InvalidParameterException"},
    )
    detail = response["association"]
    return Association(detail["associationId"], detail["associationArn"], detail["namespace"],
                       detail["serviceAccount"], detail["roleArn"], dict(detail.get("tags") or {}))


def delete_association(account: AwsAccount, cluster_name: str, association_id: str) -> None:
    account.eks.delete_pod_identity_association(clusterName=cluster_name, associationId=association_id)


# ---------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class AccountSnapshot:
    """What exists, coarsely: used to prove a failed command created nothing."""
    role_names: frozenset[str]
    association_ids: frozenset[str]

    def difference(self, later: "AccountSnapshot") -> dict[str, list[str]]:
        return {
            "roles_added": sorted(later.role_names - self.role_names),
            "roles_removed": sorted(self.role_names - later.role_names),
            "associations_added": sorted(later.association_ids - self.association_ids),
            "associations_removed": sorted(self.association_ids - later.association_ids),
        }


def snapshot(account: AwsAccount, cluster_names: list[str]) -> AccountSnapshot:
    association_ids = {
        f"{cluster}/{association.association_id}"
        for cluster in cluster_names
        for association in associations(account, cluster)
    }
    return AccountSnapshot(frozenset(all_role_names(account)), frozenset(association_ids))
