"""The registry documentation in docs/, in the layout tfplugindocs (hashicorp/terraform-plugin-docs)
generates, read into a shape that can be compared with the provider schema
(`tofu providers schema -json` / `terraform providers schema -json`), and rendered from it.

A page is hand-written prose around sections generated from the schema, exactly as
tfplugindocs' `schemamd` package writes them:

    ## Schema

    ### Required

    - `consumer_id` (String) Maestro consumer name ... Forces replacement.

    ### Optional

    - `assume_role` (Block, Optional) Assume an IAM role ... (see [below for nested schema](#nestedblock--assume_role))
    - `certificate_grace_period_hours` (Number) Hours a certificate ... Defaults to `24`.

    ### Read-Only

    - `previous_certificates` (List of Object) Certificates ... (see [below for nested schema](#nestedatt--previous_certificates))

    <a id="nestedatt--previous_certificates"></a>
    ### Nested Schema for `previous_certificates`

    Read-Only:

    - `certificate_arn` (String)

Attributes and blocks are grouped as tfplugindocs groups them (Required; Optional, which
includes optional+computed; Read-Only, computed only), sorted by name inside a group. The
parenthesis holds the type and the schema's flags (`Sensitive`, `Deprecated`, `Write-only`; for a
block `Block[ List|Set|Map], Required|Optional|Read-only[, Min: n][, Max: n]`); then comes the
schema's description, verbatim. Objects (object-typed attributes, collections of objects, nested
attributes, blocks) get a `### Nested Schema for` section, anchored as tfplugindocs anchors it
(`nestedatt--`, `nestedobjatt--`, `nestedblock--`).

Two facts the schema JSON does not carry end the description, in this order and only there:
`Defaults to `value`.` (what an argument left out becomes; a `<name>` in it stands for that
argument's value) and `Forces replacement.` (changing it replaces the resource). A description
that already says `Defaults to` needs no default marker. A member of an object type has no
description in the schema; its line may carry one written by hand.

A resource with an identity schema documents it as tfplugindocs does, inside `## Import`:

    ### Identity Schema

    #### Required

    - `consumer_id` (String) Maestro consumer name.

A function page shows its signature and arguments as tfplugindocs' `functionmd` renders them:

    ## Signature

    ```text
    agent_binding(consumer_id string, ...) object
    ```

    ## Arguments

    1. `consumer_id` (String) The Maestro consumer name ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import settings

DOCS_DIR = settings.REPO_ROOT / "docs"
EXAMPLES_DIR = settings.REPO_ROOT / "examples"
PROVIDER_PREFIX = f"{settings.PROVIDER_TYPE}_"
RENDERED_PROVIDER_NAME = f"terraform-provider-{settings.PROVIDER_TYPE}"

# Schema kind (as `providers schema -json` names it) -> docs/ subdirectory.
KIND_DIRECTORIES = {
    "resource_schemas": "resources",
    "data_source_schemas": "data-sources",
    "ephemeral_resource_schemas": "ephemeral-resources",
    "functions": "functions",
    "list_resource_schemas": "list-resources",
    "action_schemas": "actions",
}
# Example folders follow the registry generator's convention.
KIND_EXAMPLE_DIRECTORIES = dict(KIND_DIRECTORIES)
# The example file of each kind, as the registry generator names them.
KIND_EXAMPLE_FILES = {
    "resource_schemas": "resource.tf",
    "data_source_schemas": "data-source.tf",
    "ephemeral_resource_schemas": "ephemeral-resource.tf",
    "functions": "function.tf",
    "list_resource_schemas": "list-resource.tfquery.hcl",
    "action_schemas": "action.tf",
}
# The type word tfplugindocs puts in a page's title and page_title (`# name (Resource)`).
KIND_TITLES = {
    "resource_schemas": "Resource",
    "data_source_schemas": "Data Source",
    "ephemeral_resource_schemas": "Ephemeral Resource",
    "functions": "function",
    "list_resource_schemas": "List Resource",
    "action_schemas": "Action",
}
# tfplugindocs' import example files (examples/resources/<type>/).
IMPORT_SCRIPT = "import.sh"
IMPORT_BY_IDENTITY = "import-by-identity.tf"
IMPORT_BY_ID = "import-by-string-id.tf"

GROUPS = ("Required", "Optional", "Read-Only")
WRITE_ONLY_FLAG = "[Write-only](https://developer.hashicorp.com/terraform/language/resources/ephemeral#write-only-arguments)"
WRITE_ONLY_NOTE = ("> **NOTE**: [Write-only arguments](https://developer.hashicorp.com/terraform/language/resources/"
                   "ephemeral#write-only-arguments) are supported in Terraform 1.11 and later.")

# The two markers a description may end with (see the module docstring).
DEFAULT_MARKER = re.compile(r"Defaults to `(?P<value>[^`]*)`\.")
REPLACEMENT_MARKER = "Forces replacement."
TRAILING_MARKERS = re.compile(r"(?:\s*(?:Defaults to `[^`]*`\.|Forces replacement\.))+\s*$")


def normalize(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- types, as tfplugindocs writes them


def type_label(schema_type: Any) -> str:
    """`WriteType`: String, Number, Boolean, Dynamic, List of String, Map of Object, Object, Tuple."""
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


def friendly_type(schema_type: Any) -> str:
    """cty's FriendlyName, which a function signature uses (`string`, `list of string`, `object`)."""
    if isinstance(schema_type, str):
        return schema_type
    kind = schema_type[0]
    if kind in ("list", "set", "map"):
        return f"{kind} of {friendly_type(schema_type[1])}"
    if kind in ("object", "tuple"):
        return kind
    raise ValueError(f"unknown type {schema_type!r}")


def _object_members(schema_type: Any) -> dict[str, Any] | None:
    """The members of an object type, or of the objects a list/set/map holds; None otherwise."""
    if isinstance(schema_type, list):
        if schema_type[0] == "object":
            return schema_type[1]
        if schema_type[0] in ("list", "set", "map"):
            return _object_members(schema_type[1])
    return None


# ---------------------------------------------------------------- the expected rendering


@dataclass
class SchemaEntry:
    """One line the Schema section must have, as tfplugindocs renders it from the schema."""
    path: str            # dotted: `assume_role.role_arn`, `helm_values.global.aws_region`
    kind: str            # attribute | block | member (of an object type) | parameter (of a function)
    group: str           # Required | Optional | Read-Only (a parameter: Required)
    flags: str           # the text inside the parenthesis
    description: str     # the schema's description ("" for object members)
    anchor: str | None = None  # the nested schema this line links to
    sensitive: bool = False
    required: bool = False
    optional: bool = False
    computed: bool = False
    write_only: bool = False
    type: Any = None      # the schema type expression (attributes and members)

    @property
    def is_argument(self) -> bool:
        """Something a configuration sets (what defaults and replacement are about)."""
        return self.kind in ("attribute", "block") and (self.required or self.optional) and "." not in self.path


@dataclass
class NestedSection:
    anchor: str
    path: str
    # The group labels (`Required:` ...) the section lists, in order.
    groups: list[str] = field(default_factory=list)


@dataclass
class RenderedSchema:
    entries: dict[str, SchemaEntry] = field(default_factory=dict)
    sections: dict[str, NestedSection] = field(default_factory=dict)  # by anchor
    lines: list[str] = field(default_factory=list)


def _attribute_group(attribute: dict) -> str | None:
    if attribute.get("required"):
        return "Required"
    if attribute.get("optional"):
        return "Optional"
    if attribute.get("computed"):
        return "Read-Only"
    return None


def _block_is_required(nested: dict) -> bool:
    return (nested.get("min_items") or 0) > 0


def _block_is_optional(nested: dict) -> bool:
    if _block_is_required(nested):
        return False
    inner = nested.get("block") or {}
    if not inner.get("attributes") and not inner.get("block_types"):
        return True
    if any(_block_is_required(b) or _block_is_optional(b) for b in (inner.get("block_types") or {}).values()):
        return True
    return any(a.get("required") or a.get("optional") for a in (inner.get("attributes") or {}).values())


def _block_is_read_only(nested: dict) -> bool:
    if nested.get("min_items") or nested.get("max_items"):
        return False
    inner = nested.get("block") or {}
    if not all(_block_is_read_only(b) for b in (inner.get("block_types") or {}).values()):
        return False
    return all(_attribute_group(a) == "Read-Only" for a in (inner.get("attributes") or {}).values())


def _block_group(nested: dict) -> str | None:
    if _block_is_required(nested):
        return "Required"
    if _block_is_optional(nested):
        return "Optional"
    if _block_is_read_only(nested):
        return "Read-Only"
    return None


def _attribute_flags(attribute: dict) -> str:
    if "nested_type" in attribute:
        nested = attribute["nested_type"]
        mode = nested.get("nesting_mode", "single")
        parts = ["Attributes" + ("" if mode == "single" else f" {mode.capitalize()}")]
        if mode != "single" and nested.get("min_items"):
            parts.append(f"Min: {nested['min_items']}")
        if nested.get("max_items"):
            parts.append(f"Max: {nested['max_items']}")
    else:
        parts = [type_label(attribute["type"])]
    if attribute.get("sensitive"):
        parts.append("Sensitive")
    if attribute.get("deprecated"):
        parts.append("Deprecated")
    if attribute.get("write_only"):
        parts.append(WRITE_ONLY_FLAG)
    return ", ".join(parts)


def _block_flags(nested: dict) -> str:
    mode = nested.get("nesting_mode", "single")
    head = "Block" + ({"single": "", "group": "", "list": " List", "set": " Set", "map": " Map"}[mode])
    parts = [head]
    if mode in ("single", "group"):
        parts.append({"Required": "Required", "Optional": "Optional", "Read-Only": "Read-only"}[_block_group(nested) or "Optional"])
    elif nested.get("min_items"):
        parts.append(f"Min: {nested['min_items']}")
    if nested.get("max_items"):
        parts.append(f"Max: {nested['max_items']}")
    if (nested.get("block") or {}).get("deprecated"):
        parts.append("Deprecated")
    return ", ".join(parts)


def _link(anchor: str) -> str:
    return f" (see [below for nested schema](#{anchor}))"


class _Renderer:
    """A port of tfplugindocs' schemamd.Render: the same groups, order, anchors and blank lines."""

    def __init__(self, markers: dict[str, str] | None = None, member_notes: dict[str, str] | None = None):
        self.out = RenderedSchema()
        self.markers = markers or {}
        self.member_notes = member_notes or {}

    def _line(self, entry: SchemaEntry) -> None:
        if entry.path in self.out.entries:
            raise ValueError(f"two schema entries at {entry.path}")
        self.out.entries[entry.path] = entry
        text = entry.description
        if entry.kind == "member":
            text = self.member_notes.get(entry.path, "")
        else:
            text = " ".join(part for part in (normalize(text), self.markers.get(entry.path, "")) if part)
        line = f"- `{entry.path.split('.')[-1]}` ({entry.flags})" + (f" {text}" if text else "")
        if entry.anchor:
            line += _link(entry.anchor)
        self.out.lines.append(line)

    def block_children(self, parents: list[str], block: dict, root: bool) -> None:
        attributes = block.get("attributes") or {}
        blocks = block.get("block_types") or {}
        grouped: dict[str, list[str]] = {group: [] for group in GROUPS}
        for name in list(attributes) + list(blocks):
            group = _block_group(blocks[name]) if name in blocks else _attribute_group(attributes[name])
            if group is None:
                raise ValueError(f"{'.'.join(parents + [name])}: no tfplugindocs group fits (an optional block whose "
                                 "attributes are all computed must be computed itself)")
            grouped[group].append(name)
        nested: list[tuple[str, str, list[str], Any, str]] = []
        for group in GROUPS:
            names = sorted(grouped[group])
            if not names:
                continue
            self.out.lines += [f"### {group}" if root else f"{group}:", ""]
            if any(attributes.get(n, {}).get("write_only") for n in names):
                self.out.lines += [WRITE_ONLY_NOTE, ""]
            for name in names:
                path = parents + [name]
                dotted = ".".join(path)
                if name in blocks:
                    anchor = "nestedblock--" + "--".join(path)
                    self._line(SchemaEntry(dotted, "block", group, _block_flags(blocks[name]),
                                           blocks[name]["block"].get("description", ""), anchor,
                                           required=group == "Required", optional=group == "Optional"))
                    nested.append((anchor, dotted, path, blocks[name]["block"], "block"))
                    continue
                attribute = attributes[name]
                anchor = None
                if "nested_type" in attribute:
                    anchor = "nestedatt--" + "--".join(path)
                    nested.append((anchor, dotted, path, attribute["nested_type"], "nested:" + group))
                elif _object_members(attribute["type"]) is not None:
                    anchor = "nestedatt--" + "--".join(path)
                    nested.append((anchor, dotted, path, _object_members(attribute["type"]), "object:" + group))
                self._line(SchemaEntry(dotted, "attribute", group, _attribute_flags(attribute),
                                       attribute.get("description", ""), anchor,
                                       sensitive=bool(attribute.get("sensitive")), required=bool(attribute.get("required")),
                                       optional=bool(attribute.get("optional")), computed=bool(attribute.get("computed")),
                                       write_only=bool(attribute.get("write_only")), type=attribute.get("type")))
            self.out.lines.append("")
        self.nested_types(nested)

    def nested_types(self, nested: list[tuple[str, str, list[str], Any, str]]) -> None:
        for anchor, dotted, path, body, how in nested:
            section = NestedSection(anchor, dotted)
            self.out.sections[anchor] = section
            self.out.lines += [f'<a id="{anchor}"></a>', f"### Nested Schema for `{dotted}`", ""]
            before = len(self.out.lines)
            if how == "block":
                self.block_children(path, body, root=False)
            elif how.startswith("object:"):
                self.object_children(path, body, how.split(":", 1)[1])
            else:
                self.nested_attribute_children(path, body, how.split(":", 1)[1])
            own_lines = self.out.lines[before:]
            first_nested = next((i for i, line in enumerate(own_lines) if ANCHOR.match(line)), len(own_lines))
            section.groups = [line[:-1] for line in own_lines[:first_nested] if line.endswith(":") and line[:-1] in GROUPS]
            self.out.lines.append("")

    def object_children(self, parents: list[str], members: dict[str, Any], group: str) -> None:
        self.out.lines += [f"{group}:", ""]
        nested = []
        for name in sorted(members):
            path = parents + [name]
            dotted = ".".join(path)
            anchor = None
            if _object_members(members[name]) is not None:
                anchor = "nestedobjatt--" + "--".join(path)
                nested.append((anchor, dotted, path, _object_members(members[name]), "object:" + group))
            self._line(SchemaEntry(dotted, "member", group, type_label(members[name]), "", anchor, type=members[name]))
        self.out.lines.append("")
        self.nested_types(nested)

    def nested_attribute_children(self, parents: list[str], nested_type: dict, parent_group: str) -> None:
        attributes = nested_type.get("attributes") or {}
        nested = []
        for group in GROUPS:
            names = sorted(n for n in attributes if _attribute_group(attributes[n]) == group)
            if not names:
                continue
            self.out.lines += [f"{group}:", ""]
            for name in names:
                attribute = attributes[name]
                path = parents + [name]
                dotted = ".".join(path)
                anchor = None
                if "nested_type" in attribute:
                    anchor = "nestedatt--" + "--".join(path)
                    nested.append((anchor, dotted, path, attribute["nested_type"], "nested:" + parent_group))
                elif _object_members(attribute["type"]) is not None:
                    anchor = "nestedatt--" + "--".join(path)
                    nested.append((anchor, dotted, path, _object_members(attribute["type"]), "object:" + parent_group))
                self._line(SchemaEntry(dotted, "attribute", group, _attribute_flags(attribute),
                                       attribute.get("description", ""), anchor,
                                       sensitive=bool(attribute.get("sensitive")), required=group == "Required",
                                       optional=group == "Optional", computed=bool(attribute.get("computed")),
                                       write_only=bool(attribute.get("write_only")), type=attribute.get("type")))
            self.out.lines.append("")
        self.nested_types(nested)


def render_schema(block: dict, markers: dict[str, str] | None = None,
                  member_notes: dict[str, str] | None = None) -> RenderedSchema:
    """The `## Schema` section of a block, as tfplugindocs writes it, with our markers and the
    hand-written notes on object members merged in. `lines` is the section's text."""
    renderer = _Renderer(markers, member_notes)
    renderer.out.lines += ["## Schema", ""]
    renderer.block_children([], block, root=True)
    while renderer.out.lines and renderer.out.lines[-1] == "":
        renderer.out.lines.pop()
    return renderer.out


def identity_entries(identity: dict) -> dict[str, SchemaEntry]:
    """A resource identity schema's attributes, grouped by required_for_import/optional_for_import."""
    found = {}
    for name, attribute in (identity.get("attributes") or {}).items():
        group = "Required" if attribute.get("required_for_import") else "Optional" if attribute.get("optional_for_import") else None
        if group is None:
            raise ValueError(f"identity attribute {name} is neither required nor optional for import")
        found[name] = SchemaEntry(name, "attribute", group, type_label(attribute["type"]), attribute.get("description", ""),
                                  required=group == "Required", optional=group == "Optional", type=attribute["type"])
    return found


def render_identity(identity: dict) -> list[str]:
    """`RenderIdentitySchema`: `### Identity Schema`, then `#### Required` / `#### Optional`."""
    entries = identity_entries(identity)
    lines = ["### Identity Schema", ""]
    for group in ("Required", "Optional"):
        names = sorted(n for n, e in entries.items() if e.group == group)
        if names:
            lines += [f"#### {group}", ""]
            lines += [f"- `{n}` ({entries[n].flags})" + (f" {normalize(entries[n].description)}" if entries[n].description else "")
                      for n in names]
            lines.append("")
    while lines[-1] == "":
        lines.pop()
    return lines


def function_parameters(function: dict) -> list[dict]:
    parameters = list(function.get("parameters") or [])
    if function.get("variadic_parameter"):
        parameters.append(dict(function["variadic_parameter"], variadic=True))
    return parameters


def function_signature(name: str, function: dict) -> str:
    """`RenderSignature`: `name(param type, ...) return`, a variadic parameter as `name type...`."""
    parameters = [f"{p['name']} {friendly_type(p['type'])}" for p in function.get("parameters") or []]
    if function.get("variadic_parameter"):
        variadic = function["variadic_parameter"]
        parameters.append(f"{variadic['name']} {friendly_type(variadic['type'])}...")
    return f"{name}({', '.join(parameters)}) {friendly_type(function['return_type'])}"


def function_argument_entries(function: dict) -> dict[str, SchemaEntry]:
    found = {}
    for parameter in function_parameters(function):
        flags = ", ".join((["Variadic"] if parameter.get("variadic") else []) + [type_label(parameter["type"])]
                          + (["Nullable"] if parameter.get("is_nullable") else []))
        found[parameter["name"]] = SchemaEntry(parameter["name"], "parameter", "Required", flags,
                                               parameter.get("description", ""), required=True, type=parameter["type"])
    return found


def render_function_arguments(function: dict) -> list[str]:
    """`RenderArguments` and `RenderVariadicArg`: one numbered line per parameter."""
    return [f"1. `{e.path}` ({e.flags})" + (f" {normalize(e.description)}" if e.description else "")
            for e in function_argument_entries(function).values()]


# ---------------------------------------------------------------- reading a page


ENTRY = re.compile(r"^- `(?P<name>[A-Za-z0-9_]+)` \((?P<flags>(?:[^()]|\([^()]*\))*)\)(?: (?P<rest>.*))?$")
ARGUMENT = re.compile(r"^1\. `(?P<name>[A-Za-z0-9_]+)` \((?P<flags>[^)]*)\)(?: (?P<rest>.*))?$")
NESTED_LINK = re.compile(r"\s*\(see \[below for nested schema\]\(#(?P<anchor>[^)]+)\)\)$")
ANCHOR = re.compile(r'^<a id="(?P<anchor>[^"]+)"></a>$')
NESTED_HEADING = re.compile(r"^### Nested Schema for `(?P<path>[^`]+)`$")


@dataclass
class DocEntry:
    path: str
    group: str | None
    flags: str
    description: str
    anchor: str | None
    line: int


@dataclass
class DocPage:
    path: Path
    text: str
    frontmatter: dict[str, str]
    entries: dict[str, DocEntry] = field(default_factory=dict)
    sections: dict[str, NestedSection] = field(default_factory=dict)   # by anchor
    identity: dict[str, DocEntry] = field(default_factory=dict)
    arguments: dict[str, DocEntry] = field(default_factory=dict)       # a function's
    duplicates: list[str] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)

    def section(self, title: str) -> str:
        """The text of a `## title` section, up to the next `## ` heading."""
        match = re.search(rf"^## {re.escape(title)}\s*$(?P<body>.*?)(?=^## |\Z)", self.text, re.MULTILINE | re.DOTALL)
        return match.group("body") if match else ""

    def headings(self) -> list[str]:
        """The `## ` headings, in order (outside code blocks)."""
        found, fenced = [], False
        for line in self.text.splitlines():
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced and line.startswith("## "):
                found.append(line[3:].strip())
        return found

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


def _split_entry(match: re.Match) -> tuple[str, str, str | None]:
    rest = match.group("rest") or ""
    link = NESTED_LINK.search(rest)
    anchor = link.group("anchor") if link else None
    if link:
        rest = rest[:link.start()]
    return match.group("flags"), rest.strip(), anchor


def read_page(path: Path) -> DocPage:
    text = path.read_text(encoding="utf-8")
    page = DocPage(path, text, _frontmatter(text))
    section: str | None = None      # the `## ` section we are in
    prefix = ""                     # the nested schema's path, with a trailing dot
    group: str | None = None
    pending_anchor: str | None = None
    identity = False
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if line.startswith("## "):
            section, prefix, group, identity, pending_anchor = line[3:].strip(), "", None, False, None
            continue
        if section == "Schema":
            anchor = ANCHOR.match(line)
            if anchor:
                pending_anchor = anchor.group("anchor")
                continue
            heading = NESTED_HEADING.match(line)
            if heading:
                prefix, group = heading.group("path") + ".", None
                if pending_anchor is None:
                    page.bad_lines.append(f"{path.name}:{number}: nested schema heading without an <a id> anchor: {line}")
                else:
                    page.sections[pending_anchor] = NestedSection(pending_anchor, heading.group("path"))
                    pending_anchor = None
                continue
            if line.startswith("### "):
                title = line[4:].strip()
                group = title if title in GROUPS and not prefix else None
                if group is None:
                    page.bad_lines.append(f"{path.name}:{number}: unexpected heading in the Schema section: {line}")
                continue
            if line.rstrip(":") in GROUPS and line.endswith(":"):
                group = line[:-1]
                if prefix:
                    current = next((s for s in page.sections.values() if s.path + "." == prefix), None)
                    if current is not None:
                        current.groups.append(group)
                continue
            if line.startswith("- `"):
                _add_entry(page, page.entries, prefix, group, line, number, ENTRY)
            continue
        if section == "Import":
            if line.startswith("### "):
                identity = line[4:].strip() == "Identity Schema"
                group = None
                continue
            if identity and line.startswith("#### "):
                group = line[5:].strip()
                continue
            if identity and line.startswith("- `"):
                _add_entry(page, page.identity, "", group, line, number, ENTRY)
            continue
        if section == "Arguments" and line.startswith("1. `"):
            _add_entry(page, page.arguments, "", "Required", line, number, ARGUMENT)
    return page


def _add_entry(page: DocPage, into: dict[str, DocEntry], prefix: str, group: str | None, line: str, number: int,
               pattern: re.Pattern) -> None:
    match = pattern.match(line)
    if not match:
        page.bad_lines.append(f"{page.path.name}:{number}: {line}")
        return
    flags, description, anchor = _split_entry(match)
    name = prefix + match.group("name")
    if name in into:
        page.duplicates.append(name)
    into[name] = DocEntry(name, group, flags, description, anchor, number)


# ---------------------------------------------------------------- the markers


def split_markers(page_description: str, schema_description: str) -> tuple[str | None, list[str]]:
    """(what is left once the schema's description is taken off the front, the markers in it).
    The first element is None when the page's description does not start with the schema's."""
    page_text, schema_text = normalize(page_description), normalize(schema_description)
    if not page_text.startswith(schema_text):
        return None, []
    rest = page_text[len(schema_text):].strip()
    markers = re.findall(r"Defaults to `[^`]*`\.|Forces replacement\.", rest)
    leftover = re.sub(r"Defaults to `[^`]*`\.|Forces replacement\.", "", rest).strip()
    return leftover, markers


def trailing_markers(description: str) -> str:
    """The markers at the end of a description as written on a page ('' when none)."""
    match = TRAILING_MARKERS.search(normalize(description))
    return normalize(match.group(0)) if match else ""


def states_default(text: str) -> bool:
    return "Defaults to" in text


def documented_default(text: str) -> str | None:
    """The literal of the last `Defaults to `x`` in a line, if it names one."""
    found = re.findall(r"Defaults to `([^`]*)`", text)
    return found[-1] if found else None


def states_replacement(text: str) -> bool:
    return REPLACEMENT_MARKER in normalize(text)


# ---------------------------------------------------------------- where things are


def short_name(name: str) -> str:
    return name[len(PROVIDER_PREFIX):] if name.startswith(PROVIDER_PREFIX) else name


def page_path(kind: str, name: str) -> Path:
    return DOCS_DIR / KIND_DIRECTORIES[kind] / f"{short_name(name)}.md"


def example_dir(kind: str, name: str) -> Path:
    return EXAMPLES_DIR / KIND_EXAMPLE_DIRECTORIES[kind] / name


def expected_title(kind: str, name: str) -> str:
    """The page's `# ` title as tfplugindocs writes it."""
    if kind == "functions":
        return f"# {KIND_TITLES[kind]}: {name}"
    return f"# {name} ({KIND_TITLES[kind]})"


def expected_page_title(kind: str, name: str) -> str:
    return f"{name} {KIND_TITLES[kind]} - {RENDERED_PROVIDER_NAME}"
