"""EKS Pod Identity associations, which moto 5.2.5 does not implement at all.

moto already routes EKS REST calls to ``EKSResponse`` methods by matching the
HTTP method and path against botocore's EKS model, and that model knows the
five Pod Identity operations.  What is missing is (1) Flask URL rules for the
two paths, (2) the response methods and (3) state.  We add exactly those.

Associations are stored on moto's ``Cluster`` object, so they belong to the
right account/region automatically and disappear with the cluster, as they
do in AWS.  Shapes follow botocore's ``eks/2017-11-01/service-2.json`` (the
same model the Rust SDK is generated from).
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import moto.eks.urls as eks_urls
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.eks.exceptions import (
    InvalidParameterException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.eks.models import Cluster, EKSBackend
from moto.eks.responses import EKSResponse

from . import paging
from .iam_consistency import require_role_visible

# The threaded server may run two requests for one cluster at once; the
# duplicate and idempotency checks must see a consistent store.
_LOCK = threading.RLock()

_ID_ALPHABET = string.ascii_lowercase + string.digits
_PATH_RE = re.compile(r"/clusters/([^/]+)/pod-identity-associations(?:/([^/]+))?/?$")


def _new_association_id() -> str:
    # Real IDs look like "a-" followed by 17 lowercase letters/digits.
    return "a-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


@dataclass
class PodIdentityAssociation:
    cluster_name: str
    namespace: str
    service_account: str
    role_arn: str
    association_id: str
    association_arn: str
    tags: dict[str, str]
    created_at: datetime
    modified_at: datetime
    disable_session_tags: bool = False
    target_role_arn: str | None = None
    external_id: str | None = None
    policy: str | None = None
    owner_arn: str | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "clusterName": self.cluster_name,
            "namespace": self.namespace,
            "serviceAccount": self.service_account,
            "roleArn": self.role_arn,
            "associationArn": self.association_arn,
            "associationId": self.association_id,
            "tags": dict(self.tags),
            "createdAt": self.created_at,
            "modifiedAt": self.modified_at,
            "disableSessionTags": self.disable_session_tags,
        }
        for key, value in (
            ("ownerArn", self.owner_arn),
            ("targetRoleArn", self.target_role_arn),
            ("externalId", self.external_id),
            ("policy", self.policy),
        ):
            if value is not None:
                out[key] = value
        return out

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "clusterName": self.cluster_name,
            "namespace": self.namespace,
            "serviceAccount": self.service_account,
            "associationArn": self.association_arn,
            "associationId": self.association_id,
        }
        if self.owner_arn is not None:
            out["ownerArn"] = self.owner_arn
        return out


@dataclass
class _ClusterStore:
    by_id: dict[str, PodIdentityAssociation] = field(default_factory=dict)
    # clientRequestToken -> (request fingerprint, association id)
    create_tokens: dict[str, tuple[Any, str]] = field(default_factory=dict)
    # (association id, clientRequestToken) -> request fingerprint
    update_tokens: dict[tuple[str, str], Any] = field(default_factory=dict)


def _store(cluster: Cluster) -> _ClusterStore:
    store = getattr(cluster, "_maestro_pod_identity", None)
    if store is None:
        store = _ClusterStore()
        cluster._maestro_pod_identity = store  # type: ignore[attr-defined]
    return store


def _not_found(message: str, cluster_name: str | None = None) -> Exception:
    return ResourceNotFoundException(
        clusterName=cluster_name,
        nodegroupName=None,
        fargateProfileName=None,
        addonName=None,
        message=message,
    )


def _invalid_parameter(message: str, cluster_name: str | None = None) -> Exception:
    return InvalidParameterException(
        clusterName=cluster_name,
        nodegroupName=None,
        fargateProfileName=None,
        addonName=None,
        message=message,
    )


def _check_session_policy(policy: str | None, disable_session_tags: bool) -> None:
    # Documented rule: a session policy only works with session tags off
    # (both share the packed session size budget).
    if policy and not disable_session_tags:
        raise _invalid_parameter(
            "disableSessionTags must be true when a policy is specified"
        )


# --------------------------------------------------------------------------
# Backend methods (added to EKSBackend)
# --------------------------------------------------------------------------


def _cluster(backend: EKSBackend, cluster_name: str) -> Cluster:
    cluster = backend.clusters.get(cluster_name)
    if cluster is None:
        raise _not_found(f"No cluster found for name: {cluster_name}.")
    return cluster


def _association(
    backend: EKSBackend, cluster_name: str, association_id: str
) -> tuple[Cluster, PodIdentityAssociation]:
    cluster = _cluster(backend, cluster_name)
    # Real EKS validates the ID's shape before looking it up.
    if len(association_id) != 19:
        raise _invalid_parameter(
            "The parameter associationId should be 19 characters long.", cluster_name
        )
    assoc = _store(cluster).by_id.get(association_id)
    if assoc is None:
        raise _not_found(
            f"No pod identity association found for id: {association_id}.",
            cluster_name,
        )
    return cluster, assoc


def create_pod_identity_association(
    self: EKSBackend,
    cluster_name: str,
    namespace: str,
    service_account: str,
    role_arn: str,
    client_request_token: str | None,
    tags: dict[str, str] | None,
    disable_session_tags: bool | None,
    target_role_arn: str | None,
    policy: str | None,
) -> PodIdentityAssociation:
    with _LOCK:
        cluster = _cluster(self, cluster_name)
        store = _store(cluster)
        for name, value in (
            ("namespace", namespace),
            ("serviceAccount", service_account),
            ("roleArn", role_arn),
        ):
            if not value:
                raise _invalid_parameter(f"{name} is required", cluster_name)
        disable = bool(disable_session_tags)
        target = target_role_arn or None
        policy = policy or None
        tags = dict(tags or {})
        fingerprint = (
            namespace,
            service_account,
            role_arn,
            target,
            disable,
            policy,
            tuple(sorted(tags.items())),
        )

        # A retried request (same token) gets the association it already
        # created instead of a 409, which is what makes client retries safe.
        if client_request_token and client_request_token in store.create_tokens:
            seen_fingerprint, seen_id = store.create_tokens[client_request_token]
            if seen_fingerprint != fingerprint:
                raise InvalidRequestException(
                    clusterName=cluster_name,
                    nodegroupName=None,
                    addonName=None,
                    message="clientRequestToken was already used with different parameters",
                )
            if seen_id in store.by_id:
                return store.by_id[seen_id]

        for existing in store.by_id.values():
            if (
                existing.namespace == namespace
                and existing.service_account == service_account
            ):
                raise ResourceInUseException(
                    clusterName=cluster_name,
                    nodegroupName=None,
                    addonName=None,
                    message=f"Association already exists: {existing.association_id}",
                )

        _check_session_policy(policy, disable)
        require_role_visible(self.account_id, self.region_name, role_arn, cluster_name)

        association_id = _new_association_id()
        while association_id in store.by_id:
            association_id = _new_association_id()
        now = utcnow()
        assoc = PodIdentityAssociation(
            cluster_name=cluster_name,
            namespace=namespace,
            service_account=service_account,
            role_arn=role_arn,
            association_id=association_id,
            association_arn=(
                f"arn:{self.partition}:eks:{self.region_name}:{self.account_id}:"
                f"podidentityassociation/{cluster_name}/{association_id}"
            ),
            tags=tags,
            created_at=now,
            modified_at=now,
            disable_session_tags=disable,
            target_role_arn=target,
            # EKS hands out an external ID for the second hop so the target
            # role's trust policy can pin this association.
            external_id=str(uuid.uuid4()) if target else None,
            policy=policy,
        )
        store.by_id[association_id] = assoc
        if client_request_token:
            store.create_tokens[client_request_token] = (fingerprint, association_id)
        return assoc


def describe_pod_identity_association(
    self: EKSBackend, cluster_name: str, association_id: str
) -> PodIdentityAssociation:
    with _LOCK:
        return _association(self, cluster_name, association_id)[1]


def update_pod_identity_association(
    self: EKSBackend,
    cluster_name: str,
    association_id: str,
    role_arn: str | None,
    client_request_token: str | None,
    disable_session_tags: bool | None,
    target_role_arn: str | None,
    policy: str | None,
) -> PodIdentityAssociation:
    with _LOCK:
        cluster, assoc = _association(self, cluster_name, association_id)
        store = _store(cluster)
        fingerprint = (role_arn, disable_session_tags, target_role_arn, policy)
        token_key = (association_id, client_request_token or "")
        if client_request_token and token_key in store.update_tokens:
            if store.update_tokens[token_key] != fingerprint:
                raise InvalidRequestException(
                    clusterName=cluster_name,
                    nodegroupName=None,
                    addonName=None,
                    message="clientRequestToken was already used with different parameters",
                )
            return assoc

        # Omitted fields keep their value; an empty string clears the
        # optional ones (that is how callers remove a target role or policy).
        new_role = role_arn if role_arn else assoc.role_arn
        new_disable = (
            assoc.disable_session_tags
            if disable_session_tags is None
            else bool(disable_session_tags)
        )
        new_target = (
            assoc.target_role_arn if target_role_arn is None else (target_role_arn or None)
        )
        new_policy = assoc.policy if policy is None else (policy or None)
        _check_session_policy(new_policy, new_disable)
        if role_arn:
            require_role_visible(
                self.account_id, self.region_name, role_arn, cluster_name
            )

        if new_target is None:
            assoc.external_id = None
        elif new_target != assoc.target_role_arn or assoc.external_id is None:
            assoc.external_id = str(uuid.uuid4())
        assoc.role_arn = new_role
        assoc.disable_session_tags = new_disable
        assoc.target_role_arn = new_target
        assoc.policy = new_policy
        assoc.modified_at = utcnow()
        if client_request_token:
            store.update_tokens[token_key] = fingerprint
        return assoc


def delete_pod_identity_association(
    self: EKSBackend, cluster_name: str, association_id: str
) -> PodIdentityAssociation:
    with _LOCK:
        cluster, assoc = _association(self, cluster_name, association_id)
        del _store(cluster).by_id[association_id]
        return assoc


def list_pod_identity_associations(
    self: EKSBackend,
    cluster_name: str,
    namespace: str | None,
    service_account: str | None,
    max_results: int | None,
    next_token: str | None,
) -> tuple[list[PodIdentityAssociation], str | None]:
    with _LOCK:
        cluster = _cluster(self, cluster_name)
        matches = [
            a
            for a in _store(cluster).by_id.values()
            if (not namespace or a.namespace == namespace)
            and (not service_account or a.service_account == service_account)
        ]
        # Pages as paging.py pages EKS (maxResults 1-100, default 100): the token is opaque,
        # belongs to this cluster and these filters, and resumes after the last association
        # ID returned, so one deleted in between never shifts the rest.
        return paging.eks_page(
            {"maxResults": "" if max_results is None else str(max_results), "nextToken": next_token or ""},
            "ListPodIdentityAssociations",
            self.account_id,
            self.region_name,
            matches,
            lambda a: (a.association_id,),
            (cluster_name, namespace or "", service_account or ""),
            cluster_name,
        )


def _find_by_arn(backend: EKSBackend, arn: str) -> PodIdentityAssociation | None:
    for cluster in backend.clusters.values():
        for assoc in _store(cluster).by_id.values():
            if assoc.association_arn == arn:
                return assoc
    return None


def _wrap_tagging(original_tag, original_untag, original_list):  # type: ignore[no-untyped-def]
    # moto's EKS tagging only knows clusters; associations are taggable in
    # AWS (the provider manages tags_all on them), so try them first.
    def tag_resource(self: EKSBackend, resource_arn: str, tags: dict[str, str]) -> None:
        with _LOCK:
            assoc = _find_by_arn(self, resource_arn)
            if assoc is not None:
                assoc.tags.update(tags or {})
                return None
        return original_tag(self, resource_arn, tags)

    def untag_resource(self: EKSBackend, resource_arn: str, tag_keys: list[str]) -> None:
        with _LOCK:
            assoc = _find_by_arn(self, resource_arn)
            if assoc is not None:
                if not isinstance(tag_keys, list):
                    tag_keys = [tag_keys]
                for key in tag_keys:
                    assoc.tags.pop(key, None)
                return None
        return original_untag(self, resource_arn, tag_keys)

    def list_tags_for_resource(self: EKSBackend, resource_arn: str) -> dict[str, str]:
        with _LOCK:
            assoc = _find_by_arn(self, resource_arn)
            if assoc is not None:
                return dict(assoc.tags)
        return original_list(self, resource_arn)

    return tag_resource, untag_resource, list_tags_for_resource


# --------------------------------------------------------------------------
# Response methods (added to EKSResponse)
# --------------------------------------------------------------------------


def _resp_untag(self: EKSResponse) -> ActionResult:
    # UntagResource sends `?tagKeys=a&tagKeys=b`; moto reads only the first value, so a call
    # removing several tags removed one. AWS removes them all.
    keys = self.querystring.get("tagKeys") or []
    self.eks_backend.untag_resource(self._extract_arn_from_path(), list(keys))
    return EmptyResult()


def _pia_request(self: EKSResponse) -> tuple[str, str | None, dict[str, Any]]:
    """Cluster name, association id and JSON body of the current request.

    Parsed here rather than with ``_get_param`` because moto's generic
    parameter lookup falls back to the form-decoded body and even to HTTP
    headers, which can shadow real JSON members.
    """
    match = _PATH_RE.search(self.path)
    if match is None:  # routing guarantees a match; be explicit anyway
        raise _invalid_parameter("malformed pod identity association path")
    cluster_name = unquote(match.group(1))
    association_id = unquote(match.group(2)) if match.group(2) else None
    body: dict[str, Any] = {}
    if self.body:
        try:
            body = json.loads(self.body)
        except ValueError:
            raise _invalid_parameter("request body is not valid JSON", cluster_name)
        if not isinstance(body, dict):
            raise _invalid_parameter("request body must be a JSON object", cluster_name)
    return cluster_name, association_id, body


def _resp_create(self: EKSResponse) -> ActionResult:
    cluster_name, _, body = _pia_request(self)
    assoc = self.eks_backend.create_pod_identity_association(
        cluster_name=cluster_name,
        namespace=body.get("namespace"),
        service_account=body.get("serviceAccount"),
        role_arn=body.get("roleArn"),
        client_request_token=body.get("clientRequestToken"),
        tags=body.get("tags"),
        disable_session_tags=body.get("disableSessionTags"),
        target_role_arn=body.get("targetRoleArn"),
        policy=body.get("policy"),
    )
    return ActionResult({"association": assoc.describe()})


def _resp_describe(self: EKSResponse) -> ActionResult:
    cluster_name, association_id, _ = _pia_request(self)
    assoc = self.eks_backend.describe_pod_identity_association(
        cluster_name=cluster_name, association_id=association_id or ""
    )
    return ActionResult({"association": assoc.describe()})


def _resp_update(self: EKSResponse) -> ActionResult:
    cluster_name, association_id, body = _pia_request(self)
    assoc = self.eks_backend.update_pod_identity_association(
        cluster_name=cluster_name,
        association_id=association_id or "",
        role_arn=body.get("roleArn"),
        client_request_token=body.get("clientRequestToken"),
        disable_session_tags=body.get("disableSessionTags"),
        target_role_arn=body.get("targetRoleArn"),
        policy=body.get("policy"),
    )
    return ActionResult({"association": assoc.describe()})


def _resp_delete(self: EKSResponse) -> ActionResult:
    cluster_name, association_id, _ = _pia_request(self)
    assoc = self.eks_backend.delete_pod_identity_association(
        cluster_name=cluster_name, association_id=association_id or ""
    )
    return ActionResult({"association": assoc.describe()})


def _resp_list(self: EKSResponse) -> ActionResult:
    cluster_name, _, _ = _pia_request(self)
    query = parse_qs(self.parsed_url.query)

    def first(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    raw_max = first("maxResults")
    try:
        max_results = int(raw_max) if raw_max is not None else None
    except ValueError:
        raise _invalid_parameter("maxResults must be a number", cluster_name)
    page, token = self.eks_backend.list_pod_identity_associations(
        cluster_name=cluster_name,
        namespace=first("namespace"),
        service_account=first("serviceAccount"),
        max_results=max_results,
        next_token=first("nextToken"),
    )
    result: dict[str, Any] = {"associations": [a.summary() for a in page]}
    if token is not None:
        result["nextToken"] = token
    return ActionResult(result)


def install() -> None:
    # (1) Flask routes.  moto builds the EKS Flask app from this dict on the
    # first EKS request, so adding entries before serving is enough.
    eks_urls.url_paths.update(
        {
            "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations$": eks_urls.response.dispatch,
            "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations/(?P<associationId>[^/]+)$": eks_urls.response.dispatch,
        }
    )

    # (2) State and behaviour on the backend.
    EKSBackend.create_pod_identity_association = create_pod_identity_association  # type: ignore[attr-defined]
    EKSBackend.describe_pod_identity_association = describe_pod_identity_association  # type: ignore[attr-defined]
    EKSBackend.update_pod_identity_association = update_pod_identity_association  # type: ignore[attr-defined]
    EKSBackend.delete_pod_identity_association = delete_pod_identity_association  # type: ignore[attr-defined]
    EKSBackend.list_pod_identity_associations = list_pod_identity_associations  # type: ignore[attr-defined]
    (
        EKSBackend.tag_resource,  # type: ignore[method-assign]
        EKSBackend.untag_resource,  # type: ignore[method-assign]
        EKSBackend.list_tags_for_resource,  # type: ignore[method-assign]
    ) = _wrap_tagging(
        EKSBackend.tag_resource,
        EKSBackend.untag_resource,
        EKSBackend.list_tags_for_resource,
    )

    # (3) Response methods.  moto dispatches an operation to the method named
    # after it in snake_case (CreatePodIdentityAssociation ->
    # create_pod_identity_association).
    EKSResponse.create_pod_identity_association = _resp_create  # type: ignore[attr-defined]
    EKSResponse.describe_pod_identity_association = _resp_describe  # type: ignore[attr-defined]
    EKSResponse.update_pod_identity_association = _resp_update  # type: ignore[attr-defined]
    EKSResponse.delete_pod_identity_association = _resp_delete  # type: ignore[attr-defined]
    EKSResponse.list_pod_identity_associations = _resp_list  # type: ignore[attr-defined]
    EKSResponse.untag_resource = _resp_untag  # type: ignore[method-assign]
