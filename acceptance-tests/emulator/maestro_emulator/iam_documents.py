"""URL-encode trust policies in IAM ListRoles like every other IAM answer.

IAM returns policy documents percent-encoded (RFC 3986) everywhere, and
moto 5.2.5 does so for GetRole, CreateRole and Get*Policy, but its ListRoles
puts the raw JSON into the XML.  boto3 hides the difference (it decodes
leniently); the Rust SDK hands the string through untouched, so a provider
that percent-decodes it as it must for real AWS would corrupt a document
containing '%' or '+'.  moto's serializer already has a per-field hook for
exactly this, so we only register one more field.
"""

from __future__ import annotations

from moto.core.serialize import url_encode
from moto.iam.responses import IamResponse


def install() -> None:
    IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER[
        "ListRolesResponse.Roles.Role.AssumeRolePolicyDocument"
    ] = url_encode
