"""Reads the registry documentation in docs/ into a shape that can be compared with the
provider schema (`tofu providers schema -json`).

Pages list attributes as bullet lines in named sections:

    ## Argument Reference
    - `name` (Required, String) Description...
    ### nested_block
    - `inner` (Optional, String) Description...
    ## Attribute Reference
    - `name` (Computed, String) Description...

A `### name` heading inside a reference section scopes the following lines to that block, so
nested attributes are keyed by their path (`assume_role.role_arn`). An attribute the schema
marks sensitive carries the flag `Sensitive`, and only such an attribute does:

    - `private_key_pem` (Computed, String, Sensitive) Description...

A function's page lists its parameters like arguments, with their type as the only flag
(`- `name` (String) Description...`), and shows its signature in a `## Signature` section, in the
registry's notation:

    ## Signature
    ```text
    agent_binding(consumer_id string, topic_prefix string, regional_account_id string, region string) object
    ```
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from . import settings

DOCS_DIR = settings.REPO_ROOT / "docs"
EXAMPLES_DIR = settings.REPO_ROOT / "examples"
PROVIDER_PREFIX = f"{settings.PROVIDER_TYPE}_"

REFERENCE_SECTIONS = ("Argument Reference", "Attribute Reference")
ENTRY = re.compile(r"^- `(?P<name>[A-Za-z0-9_]+)` \((?P<flags>[^)]*)\) (?P<description>.+)$")
FLAG_WORDS = {"Required", "Optional", "Computed", "Block", "Forces replacement", "Sensitive"}

# Schema kind (as `tofu providers schema -json` names it) -> docs/ subdirectory.
KIND_DIRECTORIES = {
    "resource_schemas": "resources",
    "data_source_schemas": "data-sources",
    "ephemeral_resource_schemas": "ephemeral-resources",
    "functions": "functions",
    "list_resource_schemas": "list-resources",
    "action_schemas": "actions",
}
# Example folders follow the registry generator's convention.
KIND_EXAMPLE_DIRECTORIES = {
    "resource_schemas": "resources",
    "data_source_schemas": "data-sources",
    "ephemeral_resource_schemas": "ephemeral-resources",
    "functions": "functions",
    "list_resource_schemas": "list-resources",
    "action_schemas": "actions",
}
# The example file of each kind, as the registry generator names them.
KIND_EXAMPLE_FILES = {
    "resource_schemas": "resource.tf",
    "data_source_schemas": "data-source.tf",
    "ephemeral_resource_schemas": "ephemeral-resource.tf",
    "functions": "function.tf",
    "list_resource_schemas": "list-resource.tfquery.hcl",
    "action_schemas": "action.tf",
}


def normalize(text: str) -> str:
    return " ".join(text.split())


@dataclass
class DocEntry:
    path: str
    section: str
    flags: list[str]
    description: str
    line: int


@dataclass
class DocPage:
    path: Path
    text: str
    frontmatter: dict[str, str]
    entries: dict[str, DocEntry] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)

    def section(self, title: str) -> str:
        """The text of a `## title` section, up to the next `## ` heading."""
        match = re.search(rf"^## {re.escape(title)}\s*$(?P<body>.*?)(?=^## |\Z)", self.text, re.MULTILINE | re.DOTALL)
        return match.group("body") if match else ""

    def fenced_blocks(self, title: str) -> list[tuple[str, str]]:
        """(language, content) of every fenced code block in a `## title` section."""
        return [(m.group(1), m.group(2)) for m in
                re.finditer(r"^```([A-Za-z]*)\n(.*?)^```\s*$", self.section(title), re.MULTILINE | re.DOTALL)]


def _frontmatter(text: str) -> dict[str, str]:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.DOTALL)
    if not match:
        return {}
    found: dict[str, str] = {}
    current = None
    for line in match.group(1).splitlines():
        key = re.match(r"^([a-z_]+):\s*(.*)$", line)
        if key:
            current = key.group(1)
            value = key.group(2).strip()
            found[current] = "" if value in ("|-", "|", ">-", ">") else value.strip('"')
        elif current and line.startswith("  "):
            found[current] = (found[current] + " " + line.strip()).strip()
    return found


def read_page(path: Path) -> DocPage:
    text = path.read_text(encoding="utf-8")
    page = DocPage(path, text, _frontmatter(text))
    section = None
    block_path: list[str] = []
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if line.startswith("## "):
            title = line[3:].strip()
            section = title if title in REFERENCE_SECTIONS else None
            block_path = []
            continue
        if section is None:
            continue
        if line.startswith("### "):
            block_path = [part.strip("` ") for part in line[4:].strip().split(".")]
            continue
        if not line.startswith("- `"):
            continue
        match = ENTRY.match(line)
        if not match:
            page.bad_lines.append(f"{path.name}:{number}: {line}")
            continue
        flags = [flag.strip() for flag in match.group("flags").split(",")]
        name = ".".join([*block_path, match.group("name")])
        if name in page.entries:
            page.duplicates.append(name)
        page.entries[name] = DocEntry(name, section, flags, match.group("description"), number)
    return page


def type_label(schema_type) -> str:
    """The type word the pages use, from a schema type expression."""
    if isinstance(schema_type, str):
        return {"string": "String", "bool": "Boolean", "number": "Number", "dynamic": "Dynamic"}[schema_type]
    kind = schema_type[0]
    if kind in ("list", "set", "map"):
        return f"{kind.capitalize()} of {type_label(schema_type[1])}"
    if kind == "object":
        return "Object"
    if kind == "tuple":
        return "Tuple"
    raise ValueError(f"unknown type {schema_type!r}")


@dataclass
class SchemaEntry:
    path: str
    kind: str  # "attribute", "block" or (a function's) "parameter"
    required: bool
    optional: bool
    computed: bool
    type: str | None
    description: str
    sensitive: bool = False


def schema_entries(block: dict, prefix: str = "") -> dict[str, SchemaEntry]:
    """Every attribute and nested block of a schema block, keyed by dotted path."""
    found: dict[str, SchemaEntry] = {}
    for name, attribute in (block.get("attributes") or {}).items():
        if "nested_type" in attribute:
            raise NotImplementedError("nested attribute types are not documented yet: extend registry_docs")
        found[prefix + name] = SchemaEntry(prefix + name, "attribute", bool(attribute.get("required")),
                                           bool(attribute.get("optional")), bool(attribute.get("computed")),
                                           type_label(attribute["type"]), attribute.get("description", ""),
                                           sensitive=bool(attribute.get("sensitive")))
    for name, nested in (block.get("block_types") or {}).items():
        inner = nested["block"]
        found[prefix + name] = SchemaEntry(prefix + name, "block", bool(nested.get("min_items")), not nested.get("min_items"),
                                           False, None, inner.get("description", ""))
        found.update(schema_entries(inner, prefix + name + "."))
    return found


def expected_flags(entry: SchemaEntry) -> list[str]:
    """The leading flags a documented line must carry for this schema entry."""
    if entry.kind == "block":
        return ["Block", "Required" if entry.required else "Optional"]
    if entry.required:
        head = ["Required"]
    elif entry.optional and entry.computed:
        head = ["Optional", "Computed"]
    elif entry.optional:
        head = ["Optional"]
    else:
        head = ["Computed"]
    return [*head, entry.type or ""]


def expected_section(entry: SchemaEntry) -> str:
    return "Attribute Reference" if entry.kind == "attribute" and not (entry.required or entry.optional) \
        else "Argument Reference"


def sensitivity_problem(entry: SchemaEntry, flags: list[str]) -> str | None:
    """Why the documented flags misstate whether the schema marks the attribute sensitive."""
    if entry.sensitive and "Sensitive" not in flags:
        return "is sensitive in the schema but not flagged `Sensitive`"
    if not entry.sensitive and "Sensitive" in flags:
        return "is flagged `Sensitive` but the schema does not mark it sensitive"
    return None


def signature_type(schema_type) -> str:
    """A type in the registry's function-signature notation (`string`, `list of string`, `object`)."""
    if isinstance(schema_type, str):
        return schema_type
    kind = schema_type[0]
    if kind in ("list", "set", "map"):
        return f"{kind} of {signature_type(schema_type[1])}"
    if kind in ("object", "tuple"):
        return kind
    raise ValueError(f"unknown type {schema_type!r}")


def function_signature(name: str, function: dict) -> str:
    """`name(param type, ...) return`, with a variadic parameter as `...param type`."""
    parameters = [f"{p['name']} {signature_type(p['type'])}" for p in function.get("parameters") or []]
    if function.get("variadic_parameter"):
        variadic = function["variadic_parameter"]
        parameters.append(f"...{variadic['name']} {signature_type(variadic['type'])}")
    return f"{name}({', '.join(parameters)}) {signature_type(function['return_type'])}"


def page_path(kind: str, name: str) -> Path:
    short = name[len(PROVIDER_PREFIX):] if name.startswith(PROVIDER_PREFIX) else name
    return DOCS_DIR / KIND_DIRECTORIES[kind] / f"{short}.md"


def example_dir(kind: str, name: str) -> Path:
    return EXAMPLES_DIR / KIND_EXAMPLE_DIRECTORIES[kind] / name
