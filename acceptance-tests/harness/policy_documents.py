"""The IAM documents `maestro_agent_identity` must produce, and how two documents are compared.

Comparison is exact in meaning, not in spelling: each document is expanded into the set of
(effect, principal, action, resource, condition) grants it makes. A provider may therefore
group statements, order lists, use a string instead of a one-element list, or add Sids, but
any extra, missing or widened permission makes the sets differ.
"""

from __future__ import annotations

import json
from typing import Any

POLICY_VERSION = "2012-10-17"
SECRETS_POLICY_NAME = "maestro-agent-secrets"
IOT_POLICY_NAME = "maestro-agent-iot"

Grant = tuple[str, str, str, str, str]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return [None]
    return value if isinstance(value, list) else [value]


def _principals(value: Any) -> list[str]:
    if value is None:
        return ["-"]
    if value == "*":
        return ["*"]
    return [f"{kind}:{item}" for kind, items in sorted(value.items()) for item in _as_list(items)]


def grants(document: dict[str, Any] | str) -> frozenset[Grant]:
    if isinstance(document, str):
        document = json.loads(document)
    statements = _as_list(document.get("Statement"))
    expanded: set[Grant] = set()
    for statement in statements:
        effect = statement.get("Effect", "")
        condition = json.dumps(statement.get("Condition"), sort_keys=True)
        # NotAction/NotResource/NotPrincipal change meaning entirely; tag them so they never
        # compare equal to the positive forms.
        actions = [("", a) for a in _as_list(statement.get("Action"))] if "Action" in statement else \
            [("not:", a) for a in _as_list(statement.get("NotAction"))]
        resources = [("", r) for r in _as_list(statement.get("Resource"))] if "Resource" in statement or "NotResource" not in statement else \
            [("not:", r) for r in _as_list(statement.get("NotResource"))]
        principals = _principals(statement.get("Principal")) if "NotPrincipal" not in statement else \
            ["not:" + p for p in _principals(statement.get("NotPrincipal"))]
        for principal in principals:
            for action_prefix, action in actions:
                for resource_prefix, resource in resources:
                    expanded.add((effect, principal, f"{action_prefix}{action}",
                                  f"{resource_prefix}{resource}", condition))
    return frozenset(expanded)


def describe_difference(actual: dict[str, Any] | str, expected: dict[str, Any] | str) -> str:
    have, want = grants(actual), grants(expected)
    lines = [f"  missing: {grant}" for grant in sorted(want - have)]
    lines += [f"  unexpected: {grant}" for grant in sorted(have - want)]
    return "\n".join(lines)


def assert_same_policy(actual: dict[str, Any] | str, expected: dict[str, Any] | str, what: str) -> None:
    actual_doc = json.loads(actual) if isinstance(actual, str) else actual
    assert actual_doc.get("Version") == POLICY_VERSION, f"{what}: Version is {actual_doc.get('Version')!r}"
    difference = describe_difference(actual_doc, expected)
    assert not difference, f"{what} differs from the expected document:\n{difference}\nactual: {json.dumps(actual_doc)}"


def trust_policy() -> dict[str, Any]:
    return {
        "Version": POLICY_VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }],
    }


def secret_arn_pattern(region: str, account_id: str, secret_name: str) -> str:
    # Secrets Manager appends "-" and six random characters to every secret ARN.
    return f"arn:aws:secretsmanager:{region}:{account_id}:secret:{secret_name}-??????"


def secrets_policy(region: str, account_id: str, secret_name: str, config_secret_name: str,
                   kms_key_arn: str | None = None) -> dict[str, Any]:
    """Read access to exactly the agent's two secrets: credentials and config; with a
    customer-managed key, decryption with exactly that key and only through Secrets Manager."""
    statements: list[dict[str, Any]] = [{
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        "Resource": [secret_arn_pattern(region, account_id, secret_name),
                     secret_arn_pattern(region, account_id, config_secret_name)],
    }]
    if kms_key_arn:
        statements.append({"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [kms_key_arn],
                           "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}})
    return {"Version": POLICY_VERSION, "Statement": statements}


def iot_policy(region: str, regional_account_id: str, cluster_id: str, topic_prefix: str) -> dict[str, Any]:
    base = f"arn:aws:iot:{region}:{regional_account_id}"
    topics = f"{topic_prefix}/{cluster_id}"
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{base}:client/{cluster_id}-work-agent-client"},
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{base}:topicfilter/{topics}/sourceevents"},
            {"Effect": "Allow", "Action": "iot:Receive", "Resource": f"{base}:topic/{topics}/sourceevents"},
            {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{base}:topic/{topics}/agentevents"},
        ],
    }
