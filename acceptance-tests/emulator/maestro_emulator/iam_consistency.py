"""How EKS sees IAM roles, including IAM's eventual consistency.

Real EKS refuses a Pod Identity association whose role it cannot find, with
400 InvalidParameterException "Role provided in the request does not exist".
Right after CreateRole the same error appears for a role that *does* exist,
because IAM has not propagated it yet; providers must retry for a while.
moto's IAM is strongly consistent, so without help the provider's retry path
would never run in tests.  When MAESTRO_EMULATOR_IAM_PROPAGATION_SECONDS > 0
a role younger than that is reported missing, exactly like real AWS does.
"""

from __future__ import annotations

from moto.core.utils import utcnow
from moto.eks.exceptions import InvalidParameterException
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

from . import settings

ROLE_MISSING_MESSAGE = "Role provided in the request does not exist"


def _role_missing(cluster_name: str) -> InvalidParameterException:
    return InvalidParameterException(
        clusterName=cluster_name,
        nodegroupName=None,
        fargateProfileName=None,
        addonName=None,
        message=ROLE_MISSING_MESSAGE,
    )


def require_role_visible(
    account_id: str, region_name: str, role_arn: str, cluster_name: str
) -> None:
    """Raise the EKS error real AWS gives when it cannot see ``role_arn``.

    The role must live in the cluster's own account (the association role is
    always same-account; cross-account access goes through targetRoleArn).
    """
    if not role_arn or f":iam::{account_id}:role/" not in role_arn:
        raise _role_missing(cluster_name)
    iam = iam_backends[account_id][get_partition(region_name)]
    try:
        role = iam.get_role_by_arn(role_arn)
    except Exception:
        raise _role_missing(cluster_name)

    delay = settings.iam_propagation_seconds()
    if delay > 0:
        # moto stores create_date as a naive UTC datetime, as utcnow() returns.
        age = (utcnow() - role.create_date).total_seconds()
        if age < delay:
            raise _role_missing(cluster_name)
