"""Small HCL writer for test configurations: values, provider blocks, resource blocks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import aws_accounts, settings

SERVICES_WITH_ENDPOINTS = ("iot", "iam", "eks", "kms", "secretsmanager", "sts")


def string(value: str) -> str:
    """A quoted HCL string; JSON escaping is valid HCL once template sequences are escaped."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def value(item: Any) -> str:
    if item is None:
        return "null"
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (int, float)):
        return json.dumps(item)
    if isinstance(item, str):
        return string(item)
    if isinstance(item, (list, tuple)):
        return "[" + ", ".join(value(element) for element in item) + "]"
    if isinstance(item, dict):
        if not item:
            return "{}"
        return "{ " + ", ".join(f"{string(str(k))} = {value(v)}" for k, v in item.items()) + " }"
    raise TypeError(f"cannot render {type(item).__name__} as HCL")


def attributes(arguments: dict[str, Any], indent: str = "  ") -> str:
    """`name = value` lines; a raw HCL expression can be passed as Raw(...)."""
    lines = []
    for name, item in arguments.items():
        rendered = item.text if isinstance(item, Raw) else value(item)
        lines.append(f"{indent}{name} = {rendered}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Raw:
    """An HCL expression written as-is (references such as `maestro.management`)."""
    text: str


def terraform_block(provider_version: str | None = None) -> str:
    version = provider_version or settings.provider_version()
    return (
        "terraform {\n"
        "  required_providers {\n"
        "    maestro = {\n"
        # Fully qualified: OpenTofu expands a bare "maestro-iac/maestro" to registry.opentofu.org,
        # which is neither the address the provider is published under nor the mirror's host.
        f"      source  = {string(settings.PROVIDER_SOURCE)}\n"
        f"      version = {string(version)}\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


@dataclass
class ProviderConfig:
    """One `provider "maestro"` block. Every field maps to the provider schema in the brief."""
    alias: str
    endpoint_url: str | None
    role_arn: str | None
    region: str = aws_accounts.REGION
    default_tags: dict[str, str] | None = None
    topic_prefix: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        lines = ['provider "maestro" {', f"  alias  = {string(self.alias)}", f"  region = {string(self.region)}"]
        if self.topic_prefix is not None:
            lines.append(f"  topic_prefix = {string(self.topic_prefix)}")
        if self.extra:
            lines.append(attributes(self.extra))
        if self.endpoint_url is not None:
            lines.append("  endpoints {")
            lines.extend(f"    {service} = {string(self.endpoint_url)}" for service in SERVICES_WITH_ENDPOINTS)
            lines.append("  }")
        if self.role_arn is not None:
            lines.append("  assume_role {")
            lines.append(f"    role_arn = {string(self.role_arn)}")
            lines.append("  }")
        if self.default_tags:
            lines.append("  default_tags {")
            lines.append(f"    tags = {value(self.default_tags)}")
            lines.append("  }")
        lines.append("}")
        return "\n".join(lines) + "\n"


DEFAULT_TAGS = {"managed-by": "acceptance"}


def regional_provider(endpoint_url: str) -> ProviderConfig:
    return ProviderConfig("regional", endpoint_url, aws_accounts.REGIONAL_ROLE_ARN)


def management_provider(endpoint_url: str, **overrides: Any) -> ProviderConfig:
    config = ProviderConfig("management", endpoint_url, aws_accounts.MANAGEMENT_ROLE_ARN,
                            default_tags=dict(DEFAULT_TAGS))
    for key, item in overrides.items():
        setattr(config, key, item)
    return config


def standard_providers(endpoint_url: str) -> list[ProviderConfig]:
    return [regional_provider(endpoint_url), management_provider(endpoint_url)]


def preamble(providers: list[ProviderConfig]) -> str:
    """The `terraform` block and the provider blocks every test configuration starts with."""
    return terraform_block() + "\n" + "\n".join(provider.render() for provider in providers) + "\n"


def resource(resource_type: str, name: str, arguments: dict[str, Any], provider: str | None = None) -> str:
    body: dict[str, Any] = {}
    if provider is not None:
        body["provider"] = Raw(provider)
    body.update(arguments)
    return f'resource "{resource_type}" "{name}" {{\n{attributes(body)}\n}}\n'
