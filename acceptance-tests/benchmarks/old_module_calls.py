"""The AWS API calls the seeds' hand-written modules cost per agent, on terraform-provider-aws.

The old world's agent is, in the management account, `modules/maestro-agent` (an IAM role, two
inline role policies, a Pod Identity association) plus the credential secret, and in the
regional account an IoT thing, an IoT policy, a certificate made with CreateKeysAndCertificate
and the two attachments (see docs/guides/migrating-from-modules.md). The secrets were created by
hand with `aws secretsmanager create-secret` (the seed) or by the newer maestro-agent module; each
is counted here as the `aws_secretsmanager_secret` and `aws_secretsmanager_secret_version` a
module manages it with: the credential secret (our `maestro_agent_key` replaces it) and the
config secret (our `maestro_agent_identity` writes it). Totals are also given without the
config secret.

terraform-provider-aws cannot be built here (the Go module proxy serves no usable version of
it: its module path has no /v6 suffix, `go list -m -versions` lists only v1.60.0, and v6.0.0 is
refused with 403), so the calls below are counted from its source, resource by resource: the
Create handler with its read-after-create and waiters, the Read handler (a refresh), and the
Delete handler with its waiters, plus what the provider's interceptors add (the SDKv2 tagging
interceptor lists tags after Create and Read when the Read handler did not set them itself).
Each entry names the file in hashicorp/terraform-provider-aws and the stored version read.
Counts are the minimum, on the happy path: no retries (IAM propagation, DeleteConflict), one
page per List call, waiters satisfied on their first poll.

A CLI step counts as our benchmark counts it (benchmarks/aws_calls.py): `apply` of a new agent
(nothing to refresh), `plan` on an unchanged agent (every resource read once), and `destroy`
(its plan refreshes every resource, then each is deleted).

Usage: python benchmarks/old_module_calls.py     (prints the table; aws_calls.py prints it
beside our measured figures)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

AWS_PROVIDER_REPO = "hashicorp/terraform-provider-aws"

STEPS = ("create", "refresh (no-op plan)", "destroy")


@dataclass(frozen=True)
class ResourceCalls:
    """The calls one resource of the old modules makes, as read from the AWS provider's source."""
    address: str
    account: str
    source: str
    version: str
    create: tuple[str, ...]
    refresh: tuple[str, ...]
    delete: tuple[str, ...]
    note: str = ""
    # The config secret: the newer maestro-agent module manages it (harness/old_modules.py has
    # the survey), the seed's flow made it by hand; our maestro_agent_identity writes it, so it
    # is counted, and the totals are also shown without it.
    config_secret: bool = False

    def calls(self, step: str) -> tuple[str, ...]:
        if step == "create":
            return self.create
        if step == "refresh (no-op plan)":
            return self.refresh
        if step == "destroy":
            return self.refresh + self.delete  # destroy's plan refreshes first
        raise KeyError(step)


# One agent, both accounts. The role and its policies are separate resources: the role is created
# first (no inline policy yet), so its read-after-create lists none, but every later refresh of
# the role lists and fetches both inline policies as well (its deprecated `inline_policy`
# attribute), besides the two aws_iam_role_policy resources reading them again.
OLD_AGENT: tuple[ResourceCalls, ...] = (
    ResourceCalls(
        "aws_iam_role.maestro_agent", "management", "internal/service/iam/role.go",
        "2026 version (IBM copyright header, aws-sdk-go-v2)",
        create=("iam:CreateRole", "iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"),
        refresh=("iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:GetRolePolicy",
                 "iam:ListAttachedRolePolicies"),
        delete=("iam:ListInstanceProfilesForRole", "iam:ListRolePolicies", "iam:DeleteRole"),
        note="tags come with GetRole (setTagsOut), so no ListRoleTags; deleteRole lists instance "
             "profiles always and inline policies because the refreshed inline_policy is not empty",
    ),
    ResourceCalls(
        "aws_iam_role_policy.maestro_agent_secrets", "management", "internal/service/iam/role_policy.go",
        "2026 version (IBM copyright header)",
        create=("iam:PutRolePolicy", "iam:GetRolePolicy", "iam:GetRolePolicy"),
        refresh=("iam:GetRolePolicy",),
        delete=("iam:DeleteRolePolicy",),
        note="Put waits with RetryWhenNotFound(GetRolePolicy), then tail-calls Read",
    ),
    ResourceCalls(
        "aws_iam_role_policy.maestro_agent_iot", "management", "internal/service/iam/role_policy.go",
        "2026 version (IBM copyright header)",
        create=("iam:PutRolePolicy", "iam:GetRolePolicy", "iam:GetRolePolicy"),
        refresh=("iam:GetRolePolicy",),
        delete=("iam:DeleteRolePolicy",),
    ),
    ResourceCalls(
        "aws_eks_pod_identity_association.maestro_agent", "management",
        "internal/service/eks/pod_identity_association.go", "commit 00a35305dc1b297a6fcdecdfbba33f1e63c3da39",
        create=("eks:CreatePodIdentityAssociation",),
        refresh=("eks:DescribePodIdentityAssociation",),
        delete=("eks:DeletePodIdentityAssociation",),
        note="a framework resource: no read after create; tags come with Describe",
    ),
    ResourceCalls(
        "aws_secretsmanager_secret (the credential secret)", "management",
        "internal/service/secretsmanager/secret.go", "commit 00c21cedec069dd27093b175baf15bac6d4b30fe",
        create=("secretsmanager:CreateSecret", "secretsmanager:DescribeSecret", "secretsmanager:DescribeSecret",
                "secretsmanager:GetResourcePolicy"),
        refresh=("secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"),
        delete=("secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret"),
        note="create waits with RetryWhenNotFound(DescribeSecret); delete waits until Describe shows DeletedDate",
    ),
    ResourceCalls(
        "aws_secretsmanager_secret_version (its value)", "management",
        "internal/service/secretsmanager/secret_version.go", "commit 0042e8ea0de293c6cd8b003f89f7f4d2fb5fcf31",
        create=("secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue", "secretsmanager:GetSecretValue"),
        refresh=("secretsmanager:GetSecretValue",),
        delete=("secretsmanager:GetSecretValue",),
        note="delete cannot remove AWSCURRENT; it only waits (GetSecretValue) and leaves the value to the secret's deletion",
    ),
    ResourceCalls(
        "aws_secretsmanager_secret (the config secret)", "management",
        "internal/service/secretsmanager/secret.go", "commit 00c21cedec069dd27093b175baf15bac6d4b30fe",
        create=("secretsmanager:CreateSecret", "secretsmanager:DescribeSecret", "secretsmanager:DescribeSecret",
                "secretsmanager:GetResourcePolicy"),
        refresh=("secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"),
        delete=("secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret"),
        config_secret=True,
    ),
    ResourceCalls(
        "aws_secretsmanager_secret_version (config value)", "management",
        "internal/service/secretsmanager/secret_version.go", "commit 0042e8ea0de293c6cd8b003f89f7f4d2fb5fcf31",
        create=("secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue", "secretsmanager:GetSecretValue"),
        refresh=("secretsmanager:GetSecretValue",),
        delete=("secretsmanager:GetSecretValue",),
        config_secret=True,
    ),
    ResourceCalls(
        "aws_iot_thing.maestro_agent", "regional", "internal/service/iot/thing.go",
        "aws-sdk-go-v2 version (findThingByName)",
        create=("iot:CreateThing", "iot:DescribeThing"),
        refresh=("iot:DescribeThing",),
        delete=("iot:DeleteThing",),
    ),
    ResourceCalls(
        "aws_iot_policy.maestro_agent", "regional", "internal/service/iot/policy.go",
        "commit 01606926a0c0ab9174aec440f976a48b0baee722",
        create=("iot:CreatePolicy", "iot:GetPolicy", "iot:ListTagsForResource"),
        refresh=("iot:GetPolicy", "iot:ListTagsForResource"),
        delete=("iot:ListPolicyVersions", "iot:DeletePolicy"),
        note="@Tags(identifierAttribute=arn) and Read sets no tags, so the tagging interceptor "
             "(internal/provider/sdkv2/tags_interceptor.go, commit 2c53338d0ee302f0b27030251ca3abdcb2ef75d1) lists them",
    ),
    ResourceCalls(
        "aws_iot_certificate.maestro_agent", "regional", "internal/service/iot/certificate.go",
        "commit 00a35305dc1b297a6fcdecdfbba33f1e63c3da39",
        create=("iot:CreateKeysAndCertificate", "iot:DescribeCertificate"),
        refresh=("iot:DescribeCertificate",),
        delete=("iot:UpdateCertificate", "iot:DeleteCertificate"),
        note="active = true: delete deactivates first",
    ),
    ResourceCalls(
        "aws_iot_policy_attachment.maestro_agent", "regional", "internal/service/iot/policy_attachment.go",
        "commit 01f431114674c27cf790fafb67ac274bf8f765e1",
        create=("iot:AttachPolicy", "iot:ListAttachedPolicies"),
        refresh=("iot:ListAttachedPolicies",),
        delete=("iot:DetachPolicy",),
    ),
    ResourceCalls(
        "aws_iot_thing_principal_attachment.maestro_agent", "regional",
        "internal/service/iot/thing_principal_attachment.go", "commit 0e4b256e435cf8eb0c81a77c577b92a92050b899",
        create=("iot:AttachThingPrincipal", "iot:ListThingPrincipalsV2"),
        refresh=("iot:ListThingPrincipalsV2",),
        delete=("iot:DetachThingPrincipal",),
    ),
)

# ConfigureProvider (internal/conns/config.go, the version that skips credential validation in
# GetAwsConfig "to avoid duplicate calls to STS"): AssumeRole when assume_role is set (our
# benchmark's providers assume a role in each account, so the old ones are counted the same
# way), then one GetCallerIdentity for the account ID. Once per provider configuration and CLI
# graph walk: `plan` walks once, `apply` twice (plan, apply) and `destroy` three times (a
# refreshing normal plan, the destroy plan, the apply: Context.destroyPlan in
# hashicorp/terraform internal/terraform/context_plan.go; OpenTofu does the same), which is also
# what the emulator counts for our provider.
PROVIDER_CONFIGURE = ("sts:AssumeRole", "sts:GetCallerIdentity")
PROVIDER_CONFIGURATIONS = 2  # regional and management
WALKS = {"create": 2, "refresh (no-op plan)": 1, "destroy": 3}


def per_agent(step: str, with_config_secret: bool = True) -> Counter[str]:
    """Calls per agent for one step, by `service:Action`."""
    return Counter(call for resource in OLD_AGENT if with_config_secret or not resource.config_secret
                   for call in resource.calls(step))


def per_run(step: str) -> Counter[str]:
    """Calls per CLI run that do not depend on the number of agents."""
    return Counter({call: PROVIDER_CONFIGURATIONS * WALKS[step] for call in PROVIDER_CONFIGURE})


def by_service(calls: dict[str, float]) -> Counter[str]:
    out: Counter[str] = Counter()
    for op, n in calls.items():
        out[op.split(":", 1)[0]] += n
    return out


def print_old_modules() -> None:
    print(f"AWS calls per agent of the seeds' hand-written modules on terraform-provider-aws, counted from "
          f"the source of {AWS_PROVIDER_REPO} (not run: it cannot be built here).")
    print(f"  {'resource':<52} {'account':<11} {'create':>6} {'refresh':>7} {'destroy':>7}  (destroy = refresh + delete)")
    for r in OLD_AGENT:
        print(f"  {r.address:<52} {r.account:<11} {len(r.create):>6} {len(r.refresh):>7} {len(r.calls('destroy')):>7}")
    totals = [sum(per_agent(step).values()) for step in STEPS]
    print(f"  {'per agent':<52} {'':<11} {totals[0]:>6} {totals[1]:>7} {totals[2]:>7}")
    without = [sum(per_agent(step, with_config_secret=False).values()) for step in STEPS]
    print(f"  {'per agent without the config secret':<52} {'':<11} {without[0]:>6} {without[1]:>7} {without[2]:>7}")
    fixed = [sum(per_run(step).values()) for step in STEPS]
    print(f"  {'per run, regardless of agents':<52} {'(STS)':<11} {fixed[0]:>6} {fixed[1]:>7} {fixed[2]:>7}"
          "  (2 providers × AssumeRole + GetCallerIdentity, per CLI walk)")
    print("  sources:")
    for r in OLD_AGENT:
        print(f"    {r.address}: {r.source} ({r.version})" + (f"; {r.note}" if r.note else ""))


def print_comparison(ours_per_agent: dict[str, dict[str, float]], ours_per_run: dict[str, float]) -> None:
    """Our measured figures beside the old modules' counted ones.

    `ours_per_agent` maps a step to our per-agent calls by `service:Action`; `ours_per_run` maps
    a step to our calls per run regardless of agents.
    """
    print("\nPer agent: the Maestro provider (measured at the emulator) beside the hand-written modules "
          "on terraform-provider-aws (counted from its source).")
    services = sorted({s for step in STEPS for s in by_service(per_agent(step))}
                      | {s for step in STEPS for s in by_service(ours_per_agent.get(step, {}))})
    header = f"  {'step':<22} {'ours':>6} {'old':>5} {'ours/old':>9}   " + "  ".join(f"{s:>18}" for s in services)
    print(header)
    print("  " + "-" * (len(header) - 2))
    for step in STEPS:
        ours = ours_per_agent.get(step, {})
        old = per_agent(step)
        ours_total, old_total = sum(ours.values()), sum(old.values())
        ours_services, old_services = by_service(ours), by_service(old)
        cells = "  ".join(f"{f'{ours_services[s]:.0f} / {old_services[s]}':>18}" for s in services)
        ratio = f"{ours_total / old_total:.2f}" if old_total else "-"
        print(f"  {step:<22} {ours_total:>6.0f} {old_total:>5} {ratio:>9}   {cells}")
    print("  (service cells: ours / old; old counts the config secret, which our identity writes too)")
    print("  without the old config secret: " + "; ".join(
        f"{step} ours/old {sum(ours_per_agent.get(step, {}).values()):.0f}/{sum(per_agent(step, False).values())}"
        for step in STEPS))
    print("  per run, regardless of agents: " + "; ".join(
        f"{step} ours {ours_per_run.get(step, 0):.0f}, old {sum(per_run(step).values())}" for step in STEPS))


if __name__ == "__main__":
    print_old_modules()
