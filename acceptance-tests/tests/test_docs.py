"""The registry documentation in docs/ against the schema and the behaviour of the built provider.

The schema (`tofu providers schema -json`, or Terraform's, after `init` through the session's
mirror) is the source of truth for what a page's generated sections hold: every resource, data
source, ephemeral resource, list resource, action and function in it has a page in the layout
tfplugindocs generates (harness/registry_docs.py), and that page's `## Schema` lists every
attribute and block in the group the schema puts it in (Required, Optional, Read-Only), with
the schema's type, flags and description, and a nested schema section for every object,
collection of objects and block; a resource's `### Identity Schema` is its
`resource_identity_schemas` entry; a function's signature and arguments are the schema's. A new
attribute without documentation, a renamed one, or a reworded description on one side only
fails here. `python -m harness.docs_sync <schema.json>` brings the generated sections back in
line.

What the schema JSON does not say — an argument's default, and whether changing it replaces
the resource — is checked against the provider itself: a plan of a configuration that sets
only the required arguments shows what every optional argument defaults to, and a plan that
changes every argument of applied resources shows which changes replace them.

Example usage and import syntax on each page must be the files under examples/ verbatim, so the
examples the test suite validates are the ones users read. Version claims in the docs, the
README and the examples' `required_version` are checked against a table of the CLI releases
that introduced each feature (taken from the CLIs' changelogs).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import aws_accounts, aws_inspect, hcl, settings
from harness import registry_docs as rd
from harness.tofu_workspace import TofuWorkspace

pytestmark = pytest.mark.acceptance

SCHEMA_KINDS = tuple(rd.KIND_DIRECTORIES)
# OpenTofu 1.12.6 has no list resources or actions: its `providers schema -json` leaves out
# list_resource_schemas and action_schemas (Terraform 1.16.4 reports both), so under OpenTofu
# the pages of those kinds cannot be matched to a schema object and are checked only under
# Terraform (scripts/test runs this file under both).
KINDS_ONLY_TERRAFORM_REPORTS = ("list_resource_schemas", "action_schemas")


def kinds_this_cli_reports() -> tuple[str, ...]:
    if settings.cli().is_terraform:
        return SCHEMA_KINDS
    return tuple(kind for kind in SCHEMA_KINDS if kind not in KINDS_ONLY_TERRAFORM_REPORTS)


@pytest.fixture(scope="module")
def provider_schema(tmp_path_factory, tofu_binary, provider_mirror) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("docs-schema")
    workspace = TofuWorkspace(root, tofu_binary, provider_mirror.cli_config)
    workspace.set_config(hcl.terraform_block())
    workspace.init()
    schemas = workspace.providers_schema()["provider_schemas"]
    assert settings.PROVIDER_SOURCE in schemas, f"schema has providers {sorted(schemas)}"
    return schemas[settings.PROVIDER_SOURCE]


def schema_objects(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, name, schema) of every documented object kind the provider has."""
    return [(kind, name, body) for kind in SCHEMA_KINDS for name, body in sorted((schema.get(kind) or {}).items())]


# ---------------------------------------------------------------- comparing a page with the schema


def compare_entries(page: rd.DocPage, documented: dict[str, rd.DocEntry], expected: dict[str, rd.SchemaEntry],
                    kind: str, where: str) -> list[str]:
    """Every difference between documented lines and the lines the schema renders to."""
    name = page.path.name
    problems = []
    for path, entry in sorted(expected.items()):
        line = documented.get(path)
        if line is None:
            problems.append(f"{name}: `{path}` is in the schema but not documented in {where}")
            continue
        at = f"{name}:{line.line}: `{path}`"
        if line.group != entry.group:
            problems.append(f"{at} is listed under '{line.group}', the schema puts it under '{entry.group}'")
        if line.flags != entry.flags:
            problems.append(f"{at} is documented as ({line.flags}), the schema says ({entry.flags})")
        if entry.sensitive and "Sensitive" not in line.flags.split(", "):
            problems.append(f"{at} is sensitive in the schema but not flagged `Sensitive`")
        if not entry.sensitive and "Sensitive" in line.flags.split(", "):
            problems.append(f"{at} is flagged `Sensitive` but the schema does not mark it sensitive")
        if line.anchor != entry.anchor:
            problems.append(f"{at} links to {line.anchor and '#' + line.anchor}, expected "
                            f"{entry.anchor and '#' + entry.anchor}")
        if entry.kind == "member":
            continue  # object members have no schema description; a hand-written one is welcome
        leftover, markers = rd.split_markers(line.description, entry.description)
        if leftover is None:
            problems.append(f"{at} description differs from the schema\n"
                            f"      page:   {rd.normalize(line.description)}\n"
                            f"      schema: {rd.normalize(entry.description)}")
            continue
        if leftover:
            problems.append(f"{at} has text after the schema's description that is not a marker: {leftover!r}")
        problems += marker_problems(at, entry, markers, kind)
    for path in sorted(set(documented) - set(expected)):
        problems.append(f"{name}:{documented[path].line}: `{path}` is documented but not in the schema")
    return problems


def marker_problems(at: str, entry: rd.SchemaEntry, markers: list[str], kind: str) -> list[str]:
    problems = []
    defaults = [m for m in markers if m.startswith("Defaults to")]
    if defaults and not (entry.optional and entry.kind in ("attribute", "block")):
        problems.append(f"{at} states a default, but only an optional argument has one")
    if len(defaults) > 1 or (defaults and rd.states_default(entry.description)):
        problems.append(f"{at} states its default twice")
    if rd.REPLACEMENT_MARKER in markers and not (kind == "resource_schemas" and entry.is_argument):
        problems.append(f"{at} is marked `Forces replacement.`, which only a resource's argument can be")
    return problems


def compare_schema_section(page: rd.DocPage, block: dict[str, Any], kind: str) -> list[str]:
    """The page's `## Schema` against the block's tfplugindocs rendering: lines, groups, anchors
    and the nested schema sections."""
    rendered = rd.render_schema(block)
    problems = [f"{page.path.name}: unparseable line: {line}" for line in page.bad_lines]
    problems += [f"{page.path.name}: `{path}` documented twice" for path in page.duplicates]
    if "Schema" not in page.headings():
        return problems + [f"{page.path.name}: no '## Schema' section"]
    problems += compare_entries(page, page.entries, rendered.entries, kind, "'## Schema'")
    for anchor, section in sorted(rendered.sections.items()):
        found = page.sections.get(anchor)
        if found is None:
            problems.append(f"{page.path.name}: no nested schema section <a id=\"{anchor}\"> for `{section.path}`")
            continue
        if found.path != section.path:
            problems.append(f"{page.path.name}: section #{anchor} is headed `{found.path}`, expected `{section.path}`")
        if found.groups != section.groups:
            problems.append(f"{page.path.name}: section `{section.path}` has groups {found.groups}, expected {section.groups}")
    for anchor in sorted(set(page.sections) - set(rendered.sections)):
        problems.append(f"{page.path.name}: nested schema section #{anchor} is not in the schema")
    return problems


def compare_identity(page: rd.DocPage, identity: dict[str, Any] | None) -> list[str]:
    if identity is None:
        return [f"{page.path.name}: documents an identity schema the resource does not have"] if page.identity else []
    expected = rd.identity_entries(identity)
    problems = compare_entries(page, page.identity, expected, "identity", "'### Identity Schema'")
    return [p.replace("listed under", "listed under '#### '").replace("puts it under", "puts it under '#### '")
            if "listed under" in p else p for p in problems]


def compare_function(page: rd.DocPage, name: str, function: dict[str, Any]) -> list[str]:
    problems = [f"{page.path.name}: unparseable line: {line}" for line in page.bad_lines]
    problems += [f"{page.path.name}: `{path}` documented twice" for path in page.duplicates]
    expected = rd.function_signature(name, function)
    blocks = page.fenced_blocks("Signature")
    if not blocks:
        problems.append(f"{page.path.name}: no code block under '## Signature'")
    elif blocks[0][1].strip() != expected:
        problems.append(f"{page.path.name}: signature differs from the schema\n      page:   {blocks[0][1].strip()}\n"
                        f"      schema: {expected}")
    problems += compare_entries(page, page.arguments, rd.function_argument_entries(function), "functions", "'## Arguments'")
    order = [p["name"] for p in rd.function_parameters(function)]
    if [n for n in page.arguments if n in order] != [n for n in order if n in page.arguments]:
        problems.append(f"{page.path.name}: arguments are not in the order of the signature {order}")
    if function.get("summary") and rd.normalize(page.frontmatter.get("description", "")) != rd.normalize(function["summary"]):
        problems.append(f"{page.path.name}: frontmatter description is not the function's summary ({function['summary']!r})")
    return problems


# ---------------------------------------------------------------- the schema-derived sections


def test_schema_has_the_provider_and_at_least_one_resource(provider_schema):
    assert provider_schema.get("provider", {}).get("block"), "schema has no provider block"
    assert provider_schema.get("resource_schemas"), "schema lists no resources"


def test_every_schema_object_has_a_page(provider_schema):
    missing = [f"{kind} {name}: expected {rd.page_path(kind, name).relative_to(settings.REPO_ROOT)}"
               for kind, name, _ in schema_objects(provider_schema) if not rd.page_path(kind, name).is_file()]
    assert not missing, "objects without a documentation page:\n  " + "\n  ".join(missing)


def test_no_page_without_a_schema_object(provider_schema):
    known = {rd.page_path(kind, name) for kind, name, _ in schema_objects(provider_schema)}
    directories = [rd.KIND_DIRECTORIES[kind] for kind in kinds_this_cli_reports()]
    stray = [str(path.relative_to(settings.REPO_ROOT))
             for directory in directories if (rd.DOCS_DIR / directory).is_dir()
             for path in sorted((rd.DOCS_DIR / directory).glob("*.md")) if path not in known]
    assert not stray, "pages for objects the provider does not have:\n  " + "\n  ".join(stray)


def test_provider_schema_section_matches_docs_index(provider_schema):
    page = rd.read_page(rd.DOCS_DIR / "index.md")
    problems = compare_schema_section(page, provider_schema["provider"]["block"], "provider")
    assert not problems, "docs/index.md disagrees with the provider schema:\n  " + "\n  ".join(problems)


def test_every_schema_section_matches_the_schema(provider_schema):
    problems = []
    for kind, name, body in schema_objects(provider_schema):
        path = rd.page_path(kind, name)
        if not path.is_file():  # reported by test_every_schema_object_has_a_page
            continue
        page = rd.read_page(path)
        if kind == "functions":
            problems += compare_function(page, name, body)
        else:
            problems += compare_schema_section(page, body["block"], kind)
    assert not problems, "documentation disagrees with the schema:\n  " + "\n  ".join(problems)


def test_identity_schemas_are_documented(provider_schema):
    """Every resource's `### Identity Schema` (inside `## Import`) is its entry in
    `resource_identity_schemas` — the key both CLIs' `providers schema -json` report it under —
    and a resource without one documents none."""
    identities = provider_schema.get("resource_identity_schemas") or {}
    assert identities, "the schema reports no resource_identity_schemas: the provider's GetResourceIdentitySchemas is empty"
    problems = []
    for name in sorted(provider_schema.get("resource_schemas") or {}):
        path = rd.page_path("resource_schemas", name)
        if path.is_file():
            problems += compare_identity(rd.read_page(path), identities.get(name))
    problems += [f"resource_identity_schemas has {name}, which is no resource" for name in sorted(set(identities)
                 - set(provider_schema.get("resource_schemas") or {}))]
    assert not problems, "identity schema problems:\n  " + "\n  ".join(problems)


def test_docs_sync_leaves_the_pages_as_they_are(provider_schema, tmp_path):
    """The generated sections are exactly what harness/docs_sync writes from this schema, so a
    page can always be brought up to date mechanically (and nothing hand-edited there is lost)."""
    from harness import docs_sync
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps({"provider_schemas": {settings.PROVIDER_SOURCE: provider_schema}}))
    pages = [rd.DOCS_DIR / "index.md"] + [rd.page_path(k, n) for k, n, _ in schema_objects(provider_schema)]
    before = {p: p.read_text(encoding="utf-8") for p in pages if p.is_file()}
    try:
        assert docs_sync.main(["--check", str(schema_file)]) == 0, \
            "docs_sync would rewrite pages (run `python -m harness.docs_sync <schema.json>` and review the diff)"
    finally:
        for path, text in before.items():
            if path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- the page around them


def test_pages_follow_the_registry_layout(provider_schema):
    """Frontmatter and title as tfplugindocs writes them, the schema's description under the
    title, Example Usage as the first section, prose next, and the generated sections last:
    `## Schema` (then `## Import` for a resource), or a function's `## Signature` and `## Arguments`."""
    problems = []
    for kind, name, body in schema_objects(provider_schema):
        path = rd.page_path(kind, name)
        if not path.is_file():
            continue
        page = rd.read_page(path)
        for key in ("page_title", "subcategory", "description"):
            if not page.frontmatter.get(key):
                problems.append(f"{path.name}: frontmatter lacks `{key}`")
        if page.frontmatter.get("page_title") != rd.expected_page_title(kind, name):
            problems.append(f"{path.name}: page_title is {page.frontmatter.get('page_title')!r}, "
                            f"expected {rd.expected_page_title(kind, name)!r}")
        title = rd.expected_title(kind, name)
        if not re.search(rf"^{re.escape(title)}$", page.text, re.MULTILINE):
            problems.append(f"{path.name}: no `{title}` title")
        description = body.get("description") if kind == "functions" else body["block"].get("description")
        intro = page.text.split("\n## ", 1)[0]
        if description and rd.normalize(description) not in rd.normalize(intro):
            problems.append(f"{path.name}: the schema's description of {name} is not under the title")
        headings = page.headings()
        if not headings or headings[0] != "Example Usage":
            problems.append(f"{path.name}: the first section is {headings[:1]}, expected 'Example Usage'")
        generated = ["Signature", "Arguments"] if kind == "functions" else \
            ["Schema", "Import"] if kind == "resource_schemas" else ["Schema"]
        has_timeouts = "timeouts" in (body.get("block", {}).get("block_types") or {})
        if ("Timeouts" in headings or "`timeouts`" in page.section("Schema")) and not has_timeouts:
            problems.append(f"{path.name}: documents timeouts, but {name} has no `timeouts` block")
        if headings[-len(generated):] != generated:
            problems.append(f"{path.name}: the last sections are {headings[-len(generated):]}, expected {generated} "
                            "(hand-written prose goes above the generated sections)")
    index = rd.read_page(rd.DOCS_DIR / "index.md")
    if index.headings()[:1] != ["Example Usage"] or index.headings()[-1:] != ["Schema"]:
        problems.append(f"index.md: sections {index.headings()}, expected 'Example Usage' first and 'Schema' last")
    assert not problems, "\n  ".join(["layout problems:", *problems])


# Pages that must warn about a consequence, with the registry's callouts (`~> **NOTE:**`,
# `!> **WARNING:**`, `-> **Note:**`): (page, callout, words the callout must contain).
REQUIRED_CALLOUTS = (
    ("resources/consumer.md", "!> **WARNING:**", ("destroy", "certificate", "disconnect")),
    ("resources/consumer.md", "~> **NOTE:**", ("import", "csr_pem")),
    ("resources/server_identity.md", "!> **WARNING:**", ("destroy", "certificate", "disconnect")),
    ("resources/server_identity.md", "!> **WARNING:**", ("replace", "name")),
    ("resources/server_identity.md", "~> **NOTE:**", ("import", "replace")),
    ("resources/agent_key.md", "~> **NOTE:**", ("recovery", "force_delete_without_recovery")),
    ("resources/agent_key.md", "!> **WARNING:**", ("destroy", "secret", "agent")),
    ("resources/agent_identity.md", "~> **NOTE:**", ("destroy", "config secret", "recovery")),
    ("resources/agent_identity.md", "~> **NOTE:**", ("import", "certificate_pem")),
    ("actions/rotate_agent_key.md", "~> **NOTE:**", ("apply", "rotation")),
    ("guides/certificate-rotation.md", "!> **WARNING:**", ("certificate_grace_period_hours = 0", "disconnect")),
    ("guides/secret-provider-classes.md", "~> **NOTE:**", ("fixed", "maestro/agent-cert")),
    ("guides/first-setup.md", "~> **NOTE:**", ("mount", "AWSCURRENT")),
)
CALLOUT = re.compile(r"^(?P<kind>~> \*\*NOTE:\*\*|!> \*\*WARNING:\*\*|-> \*\*Note:\*\*) (?P<text>.*(?:\n(?!\n).*)*)", re.MULTILINE)


def callouts(text: str) -> list[tuple[str, str]]:
    return [(m.group("kind"), rd.normalize(m.group("text"))) for m in CALLOUT.finditer(text)]


def test_consequences_are_called_out():
    problems = []
    for page, kind, words in REQUIRED_CALLOUTS:
        path = rd.DOCS_DIR / page
        if not path.is_file():
            problems.append(f"docs/{page} is missing")
            continue
        found = [text for k, text in callouts(path.read_text(encoding="utf-8")) if k == kind]
        if not any(all(w.lower() in text.lower() for w in words) for text in found):
            problems.append(f"docs/{page}: no {kind} callout that mentions {list(words)}")
    for path in sorted(rd.DOCS_DIR.rglob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.match(r"^(~>|!>|->) ", line) and not CALLOUT.match(line):
                problems.append(f"{path.relative_to(rd.DOCS_DIR)}: callout not in the registry's form: {line[:60]}")
    assert not problems, "\n  ".join(["callout problems:", *problems])


def test_example_usage_is_the_example_file(provider_schema):
    problems = []
    pages = [(rd.DOCS_DIR / "index.md", rd.EXAMPLES_DIR / "provider" / "provider.tf")]
    pages += [(rd.page_path(kind, name), rd.example_dir(kind, name) / rd.KIND_EXAMPLE_FILES[kind])
              for kind, name, _ in schema_objects(provider_schema)]
    for page_file, example in pages:
        if not page_file.is_file():
            continue
        if not example.is_file():
            problems.append(f"{page_file.name}: example file {example.relative_to(settings.REPO_ROOT)} is missing")
            continue
        blocks = rd.read_page(page_file).fenced_blocks("Example Usage")
        if not blocks:
            problems.append(f"{page_file.name}: no code block under '## Example Usage'")
            continue
        language, content = blocks[0]
        if content.rstrip("\n") != example.read_text(encoding="utf-8").rstrip("\n"):
            problems.append(f"{page_file.name}: the first Example Usage block is not "
                            f"{example.relative_to(settings.REPO_ROOT)} verbatim")
        if language != "terraform":
            problems.append(f"{page_file.name}: Example Usage block is ```{language}, expected ```terraform")
    assert not problems, "\n  ".join(["example usage problems:", *problems])


IMPORT_COMMAND = re.compile(r"^\s*(?:tofu|terraform) import (?P<address>\S+) (?P<id>\S+)\s*$", re.MULTILINE)


def test_import_section_shows_the_example_files(provider_schema):
    """`## Import` holds, verbatim, import-by-identity.tf (resources with an identity), an import
    block by `id` with the address and ID of import.sh, and import.sh, as tfplugindocs includes
    them; and the identity example names every attribute its identity requires."""
    identities = provider_schema.get("resource_identity_schemas") or {}
    problems = []
    for name in sorted(provider_schema.get("resource_schemas") or {}):
        page_file = rd.page_path("resource_schemas", name)
        folder = rd.example_dir("resource_schemas", name)
        if not page_file.is_file():
            continue
        page = rd.read_page(page_file)
        blocks = page.fenced_blocks("Import")
        script = folder / rd.IMPORT_SCRIPT
        if not script.is_file():
            problems.append(f"{name}: {script.relative_to(settings.REPO_ROOT)} is missing")
            continue
        shells = [content for language, content in blocks if language in ("shell", "sh", "bash")]
        if not shells or shells[0].rstrip("\n") != script.read_text(encoding="utf-8").rstrip("\n"):
            problems.append(f"{page_file.name}: the Import section's shell block is not {script.name} verbatim")
        command = IMPORT_COMMAND.search(script.read_text(encoding="utf-8"))
        if not command:
            problems.append(f"{script.relative_to(settings.REPO_ROOT)} has no `tofu import ADDRESS ID` line")
            continue
        address, import_id = command.group("address"), command.group("id").strip("'\"")
        by_id = re.compile(r'import\s*\{\s*to\s*=\s*' + re.escape(address) + r'\s*id\s*=\s*"' + re.escape(import_id) + r'"\s*\}')
        if not any(language == "terraform" and by_id.search(content) for language, content in blocks):
            problems.append(f"{page_file.name}: no import block with to = {address} and id = \"{import_id}\" "
                            "(the address and ID of import.sh)")
        identity_file = folder / rd.IMPORT_BY_IDENTITY
        if name in identities:
            if not identity_file.is_file():
                problems.append(f"{name}: {identity_file.relative_to(settings.REPO_ROOT)} is missing")
                continue
            text = identity_file.read_text(encoding="utf-8")
            if not any(language == "terraform" and content.rstrip("\n") == text.rstrip("\n") for language, content in blocks):
                problems.append(f"{page_file.name}: the Import section does not show {identity_file.name} verbatim")
            required = {n for n, e in rd.identity_entries(identities[name]).items() if e.group == "Required"}
            named = set(re.findall(r"^\s*([a-z_]+)\s*=", text.split("identity", 1)[-1], re.MULTILINE))
            if not re.search(rf"to\s*=\s*{re.escape(address)}\b", text) or required - named:
                problems.append(f"{identity_file.relative_to(settings.REPO_ROOT)}: import by identity must target {address} "
                                f"and set {sorted(required)}")
        elif identity_file.exists():
            problems.append(f"{identity_file.relative_to(settings.REPO_ROOT)}: {name} has no identity schema")
        if not page.section("IAM permissions").strip():
            problems.append(f"{page_file.name}: no '## IAM permissions' section")
    assert not problems, "\n  ".join(["import documentation problems:", *problems])


def test_iam_permission_policies_are_valid_json(provider_schema):
    problems = []
    for kind, name, _ in schema_objects(provider_schema):
        path = rd.page_path(kind, name)
        if kind != "resource_schemas" or not path.is_file():
            continue
        blocks = [content for language, content in rd.read_page(path).fenced_blocks("IAM permissions") if language == "json"]
        if not blocks:
            problems.append(f"{path.name}: no ```json policy under '## IAM permissions'")
            continue
        try:
            policy = json.loads(blocks[0])
        except ValueError as error:
            problems.append(f"{path.name}: IAM policy is not valid JSON: {error}")
            continue
        if policy.get("Version") != "2012-10-17" or not policy.get("Statement"):
            problems.append(f"{path.name}: IAM policy lacks Version 2012-10-17 or statements")
    assert not problems, "\n  ".join(["IAM permission problems:", *problems])


REQUIRED_GUIDES = ("architecture.md", "certificate-rotation.md", "migrating-from-modules.md",
                   "secret-provider-classes.md", "first-setup.md")


def heading_anchors(text: str) -> set[str]:
    """GitHub's and the registry's anchors of a page's headings, and its explicit <a id>s."""
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"^#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def test_guides_exist_and_links_resolve():
    problems = [f"docs/guides/{guide} is missing" for guide in REQUIRED_GUIDES
                if not (rd.DOCS_DIR / "guides" / guide).is_file()]
    for page in sorted(rd.DOCS_DIR.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        if not text.startswith("---\n"):
            problems.append(f"{page.relative_to(settings.REPO_ROOT)}: no frontmatter")
        for target, anchor in re.findall(r"\]\(([^)#\s]*\.md|)(?:#([^)\s]*))?\)", text):
            if "://" in target or (not target and not anchor):
                continue
            resolved = (page.parent / target).resolve() if target else page
            if not resolved.is_file():
                problems.append(f"{page.relative_to(settings.REPO_ROOT)}: link to missing {target}")
            elif anchor and anchor not in heading_anchors(resolved.read_text(encoding="utf-8")):
                problems.append(f"{page.relative_to(settings.REPO_ROOT)}: link to {target or page.name}#{anchor}, "
                                "which has no such heading")
    assert not problems, "\n  ".join(["guide problems:", *problems])


# ---------------------------------------------------------------- version claims


@dataclass(frozen=True)
class Feature:
    """A language feature and the first release of each CLI that accepts it (None: no release
    does), from the CLIs' CHANGELOG.md and configuration decoders (read for this table:
    opentofu/opentofu v1.7.0-v1.12.6, hashicorp/terraform v1.5.0-v1.16)."""
    name: str
    tofu: str | None
    terraform: str | None
    # Lowercase phrases of a sentence that claims a version for this feature, most specific first.
    phrases: tuple[str, ...]


FEATURES = (
    # tofu: CHANGELOG 1.12.0 "import blocks now allow ... the identity argument" (#3671);
    # terraform: CHANGELOG 1.12.0 "import blocks: Now support importing a resource via a new identity attribute".
    Feature("import by identity", "1.12", "1.12", ("`identity`", "resource identity", "by identity", "identity attribute")),
    # `removed` takes `lifecycle { destroy = false }`: OpenTofu from 1.10.0 (configs/removed.go
    # gains lifecycle; 1.7-1.9 only forget and refuse a lifecycle block), Terraform from 1.7.0.
    Feature("removed with lifecycle", "1.10", "1.7", ("destroy = false", "removed")),
    # for_each in import blocks: OpenTofu 1.7.0 (#1492), Terraform 1.7.0 (#33932).
    Feature("import with for_each", "1.7", "1.7", ("for_each",)),
    # import blocks: Terraform 1.5.0; OpenTofu has them from its first release, 1.6.0.
    Feature("import block", "1.6", "1.5", ("import block", "`import` block")),
    # provider-defined functions: OpenTofu 1.7.0 (#1439), Terraform 1.8.0.
    Feature("provider functions", "1.7", "1.8", ("provider::", "function")),
    # ephemeral resources and values: OpenTofu 1.11.0 (#2834), Terraform 1.10.0.
    Feature("ephemeral resources", "1.11", "1.10", ("ephemeral",)),
    # write-only attributes: OpenTofu 1.11.0, Terraform 1.11.0.
    Feature("write-only attributes", "1.11", "1.11", ("write-only",)),
    # list resources, `terraform query` and actions: Terraform 1.14.0; no OpenTofu release (1.12.6).
    Feature("list resources", None, "1.14", ("query", "list resource", "list block")),
    Feature("actions", None, "1.14", ("action",)),
)
VERSION_CLAIM = re.compile(r"(?P<cli>OpenTofu|Terraform)\s+v?(?P<version>\d+\.\d+)(?:\.\d+)?\**\s+(?:and|or)\s+(?:later|newer)")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def prose_sentences(text: str) -> list[tuple[str, list[str]]]:
    """Each sentence of a text's paragraphs (code blocks and headings left out), with the texts a
    claim in it may refer to for its feature: the sentence, its paragraph, the paragraph before
    (a list item's claim is often about what the sentence introducing the list names)."""
    without_code = re.sub(r"^```.*?^```\s*$", "", text, flags=re.MULTILINE | re.DOTALL)
    paragraphs = [rd.normalize(p) for p in re.split(r"\n\s*\n", without_code) if p.strip() and not p.lstrip().startswith("#")]
    found = []
    for index, paragraph in enumerate(paragraphs):
        context = [paragraph] + ([paragraphs[index - 1]] if index else [])
        found += [(sentence, [sentence, *context]) for sentence in re.split(r"(?<=[.;:])\s+(?=[A-Z(`*-])", paragraph)]
    return found


def claimed_feature(context: list[str]) -> Feature | None:
    for text in context:
        lower = text.lower()
        feature = next((f for f in FEATURES if any(p in lower for p in f.phrases)), None)
        if feature:
            return feature
    return None


def claim_problems(label: str, text: str) -> list[str]:
    problems = []
    for sentence, context in prose_sentences(text):
        for claim in VERSION_CLAIM.finditer(sentence):
            feature = claimed_feature(context)
            cli, version = claim.group("cli"), claim.group("version")
            if feature is None:
                problems.append(f"{label}: '{claim.group(0)}' names no feature of the version table: {sentence[:120]}")
                continue
            first = feature.tofu if cli == "OpenTofu" else feature.terraform
            if first is None:
                problems.append(f"{label}: '{claim.group(0)}' for {feature.name}, which no {cli} release has")
            elif _version(version) != _version(first):
                problems.append(f"{label}: '{claim.group(0)}' for {feature.name}, which {cli} has from {first}")
    return problems


def version_claim_sources() -> list[tuple[str, str]]:
    sources = [("README.md", (settings.REPO_ROOT / "README.md").read_text(encoding="utf-8"))]
    sources += [(str(p.relative_to(settings.REPO_ROOT)), p.read_text(encoding="utf-8")) for p in sorted(rd.DOCS_DIR.rglob("*.md"))]
    sources += [(str(p.relative_to(settings.REPO_ROOT)), p.read_text(encoding="utf-8"))
                for p in sorted(rd.EXAMPLES_DIR.rglob("*")) if p.is_file() and p.suffix in (".tf", ".hcl", ".md", ".sh")]
    return sources


def test_version_claims_match_the_cli_changelogs():
    """Every "OpenTofu X.Y and later" / "Terraform X.Y or later" in the README, docs and examples
    is the first release of that CLI with the feature its sentence is about."""
    problems = [p for label, text in version_claim_sources() for p in claim_problems(label, text)]
    assert not problems, "\n  ".join(["version claims the changelogs contradict:", *problems])


# What a configuration uses -> the feature; detected in examples and in docs' terraform blocks.
FEATURE_USES = (
    ("import by identity", re.compile(r"^\s*import\s*\{[^}]*?\bidentity\s*=", re.MULTILINE | re.DOTALL)),
    ("removed with lifecycle", re.compile(r"^\s*removed\s*\{.*?lifecycle\s*\{", re.MULTILINE | re.DOTALL)),
    ("import block", re.compile(r"^\s*import\s*\{", re.MULTILINE)),
    ("provider functions", re.compile(r"provider::")),
    ("ephemeral resources", re.compile(r'^\s*ephemeral\s+"', re.MULTILINE)),
)
REQUIRED_VERSION = re.compile(r'required_version\s*=\s*"(?P<constraint>[^"]+)"')


def lowest_allowed(constraint: str) -> tuple[int, ...] | None:
    """The lowest version a `>= X.Y[.Z]` (or `~> X.Y`) constraint admits."""
    match = re.search(r"(?:>=|~>)\s*(\d+\.\d+(?:\.\d+)?)", constraint)
    return _version(match.group(1)) if match else None


def test_required_version_admits_only_clis_that_accept_the_configuration():
    """An example's `required_version` is checked by OpenTofu and Terraform alike, against their
    own version: it must exclude every release of either CLI that refuses a feature the
    configuration uses."""
    problems = []
    for path in sorted(rd.EXAMPLES_DIR.rglob("*.tf")):
        text = path.read_text(encoding="utf-8")
        declared = REQUIRED_VERSION.search(text)
        folder_text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(path.parent.glob("*.tf")))
        used = [name for name, pattern in FEATURE_USES if pattern.search(folder_text)]
        if declared is None:
            continue
        lowest = lowest_allowed(declared.group("constraint"))
        for name in used:
            feature = next(f for f in FEATURES if f.name == name)
            needed = max(_version(v) for v in (feature.tofu, feature.terraform) if v)
            if lowest is None or lowest < needed:
                problems.append(f"{path.relative_to(settings.REPO_ROOT)}: required_version {declared.group('constraint')!r} "
                                f"admits CLIs without {name} (needs >= {'.'.join(map(str, needed))})")
    assert not problems, "\n  ".join(["required_version problems:", *problems])


# ---------------------------------------------------------------- the self-test


def test_the_comparison_reports_every_kind_of_disagreement(tmp_path):
    """The comparisons above against pages written wrong on purpose, so the checks cannot pass by
    finding nothing to compare."""
    schema = {"attributes": {
        "cluster_id": {"type": "string", "required": True, "description": "Management cluster identifier."},
        "computed_here": {"type": "string", "computed": True, "description": "Listed under the wrong group."},
        "private_key_pem": {"type": "string", "computed": True, "sensitive": True, "description": "The key."},
        "ca_pem": {"type": "string", "computed": True, "description": "The CA."},
        "version_id": {"type": "string", "computed": True, "description": "The secret version read."},
        "secret_name": {"type": "string", "optional": True, "computed": True, "description": "The secret."},
        "window": {"type": "number", "optional": True, "computed": True, "description": "Days. Defaults to `7`."},
        "count": {"type": "number", "optional": True, "description": "How many."},
        "previous": {"type": ["list", ["object", {"certificate_id": "string", "retire_after": "string"}]],
                     "computed": True, "description": "Old certificates."},
        "helm": {"type": ["object", {"global": ["object", {"region": "string"}]}], "computed": True,
                 "description": "Values."},
    }, "block_types": {
        "assume_role": {"nesting_mode": "single", "block": {"description": "Assume a role.", "attributes": {
            "role_arn": {"type": "string", "required": True, "description": "ARN of the role."}}}},
    }}
    rendered = rd.render_schema(schema)
    assert "### Nested Schema for `helm.global`" in rendered.lines and '<a id="nestedobjatt--helm--global"></a>' in rendered.lines
    assert "- `assume_role` (Block, Optional) Assume a role. (see [below for nested schema](#nestedblock--assume_role))" \
        in rendered.lines
    page_file = tmp_path / "thing.md"
    page_file.write_text("\n".join([
        "---", 'page_title: "x"', "---", "# thing (Resource)", "",
        "## Schema", "",
        "### Required", "",
        "- `cluster_id` (String) Management cluster identifier. Forces replacement.",
        "- `computed_here` (String) Listed under the wrong group.", "",
        "### Optional", "",
        "- `secret_name` (String) The secret. Defaults to `x`. Forces replacement. And more.",
        "- `window` (Number) Days. Defaults to `7`. Defaults to `7`.",
        "- `count` (String) How many.", "",
        "### Read-Only", "",
        "- `private_key_pem` (String) The key.",
        "- `ca_pem` (String, Sensitive) The CA.",
        "- `version_id` (String) A reworded description. Defaults to `v`.",
        "- `previous` (List of Object) Old certificates. (see [below for nested schema](#nestedatt--previous))",
        "- `helm` (Object) Values.",
        "- `stray` (String) Not in the schema.",
        "- `cluster_id` (String) Twice.",
        "- `broken line without flags", "",
        '<a id="nestedatt--previous"></a>', "### Nested Schema for `previous`", "",
        "Optional:", "",
        "- `certificate_id` (Number) Hand-written notes are fine.", "",
        '<a id="nestedblock--assume_role"></a>', "### Nested Schema for `assume_role`", "",
        "Required:", "",
        "- `role_arn` (String) ARN of the role.", "",
    ]) + "\n", encoding="utf-8")
    problems = "\n".join(compare_schema_section(rd.read_page(page_file), schema, "data_source_schemas"))
    for expected in ("`computed_here` is listed under 'Required', the schema puts it under 'Read-Only'",
                     "`count` is documented as (String), the schema says (Number)",
                     "`private_key_pem` is sensitive in the schema but not flagged `Sensitive`",
                     "`ca_pem` is flagged `Sensitive` but the schema does not mark it sensitive",
                     "`version_id` description differs from the schema",
                     "`stray` is documented but not in the schema",
                     "`cluster_id` documented twice",
                     "unparseable line",
                     "`secret_name` is marked `Forces replacement.`, which only a resource's argument can be",
                     "`secret_name` has text after the schema's description that is not a marker: 'And more.'",
                     "`window` states its default twice",
                     "`helm` links to None, expected #nestedatt--helm",
                     "`assume_role` is in the schema but not documented",
                     "`previous.retire_after` is in the schema but not documented",
                     "`previous.certificate_id` is listed under 'Optional', the schema puts it under 'Read-Only'",
                     "`previous.certificate_id` is documented as (Number), the schema says (String)",
                     "no nested schema section <a id=\"nestedatt--helm\"> for `helm`",
                     "section `previous` has groups ['Optional'], expected ['Read-Only']"):
        assert expected in problems, f"not reported: {expected}\n{problems}"
    assert "`assume_role.role_arn`" not in problems, problems  # documented right in its section
    assert "Hand-written notes" not in problems, problems

    page_file.write_text("## Schema\n\n### Required\n\n- `secret_name` (String) The secret. Defaults to `x`.\n", encoding="utf-8")
    optional_required = {"attributes": {"secret_name": {"type": "string", "required": True, "description": "The secret."}}}
    problems = "\n".join(compare_schema_section(rd.read_page(page_file), optional_required, "resource_schemas"))
    assert "`secret_name` states a default, but only an optional argument has one" in problems, problems

    identity = {"attributes": {"name": {"type": "string", "required_for_import": True, "description": "Name."}}}
    page_file.write_text("## Import\n\n### Identity Schema\n\n#### Optional\n\n- `name` (Number) Other.\n"
                         "- `extra` (String) Not there.\n", encoding="utf-8")
    problems = "\n".join(compare_identity(rd.read_page(page_file), identity))
    for expected in ("`name` is listed under '#### ' 'Optional'", "`name` is documented as (Number), the schema says (String)",
                     "`name` description differs from the schema", "`extra` is documented but not in the schema"):
        assert expected in problems, f"not reported: {expected}\n{problems}"
    assert "documents an identity schema the resource does not have" in "\n".join(compare_identity(rd.read_page(page_file), None))

    function = {"parameters": [{"name": "consumer_id", "type": "string", "description": "The consumer."},
                               {"name": "region", "type": "string", "description": "The region."}],
                "variadic_parameter": {"name": "extra", "type": ["list", "string"], "description": "More."},
                "return_type": ["object", {"a": "string"}], "summary": "s", "description": "d"}
    assert rd.function_signature("f", function) == "f(consumer_id string, region string, extra list of string...) object"
    assert rd.render_function_arguments(function)[-1] == "1. `extra` (Variadic, List of String) More."
    page_file.write_text("---\ndescription: |-\n  other\n---\n## Signature\n\n```text\nf(consumer_id string) object\n```\n\n"
                         "## Arguments\n\n1. `region` (String) The region.\n1. `consumer_id` (Number) Another text.\n",
                         encoding="utf-8")
    problems = "\n".join(compare_function(rd.read_page(page_file), "f", function))
    for expected in ("signature differs from the schema", "`consumer_id` is documented as (Number), the schema says (String)",
                     "`consumer_id` description differs from the schema", "`extra` is in the schema but not documented",
                     "arguments are not in the order of the signature", "frontmatter description is not the function's summary"):
        assert expected in problems, f"not reported: {expected}\n{problems}"

    assert claim_problems("x", "With OpenTofu 1.5 and later, an import block works.") == \
        ["x: 'OpenTofu 1.5 and later' for import block, which OpenTofu has from 1.6"]
    assert claim_problems("x", "Use a `removed` block with `destroy = false` (OpenTofu 1.7 and later).")
    assert claim_problems("x", "Needs OpenTofu 1.11 and later for ephemeral resources.") == []
    assert "names no feature" in claim_problems("x", "Works with Terraform 1.9 and later.")[0]
    assert claim_problems("x", "Steps use `removed` with `destroy = false`:\n\n- **OpenTofu 1.7 or later** has it.") == \
        ["x: 'OpenTofu 1.7 or later' for removed with lifecycle, which OpenTofu has from 1.10"]
    assert "which no OpenTofu release has" in claim_problems("x", "`terraform query` needs OpenTofu 1.12 or later.")[0]
    assert lowest_allowed(">= 1.6") == (1, 6) and lowest_allowed("~> 1.10.0") == (1, 10, 0)

    # Defaults and replacement against what a plan shows, on a page written wrong on purpose.
    block = {"attributes": {
        "name": {"type": "string", "required": True, "description": "Name."},
        "secret_name": {"type": "string", "optional": True, "computed": True, "description": "Secret."},
        "window": {"type": "number", "optional": True, "computed": True, "description": "Days."},
        "flag": {"type": "bool", "optional": True, "computed": True, "description": "Flag."},
        "prefix": {"type": "string", "optional": True, "computed": True, "description": "Prefix. Defaults to the provider's."},
        "kms": {"type": "string", "optional": True, "description": "Key."},
        "ghost": {"type": "string", "optional": True, "computed": True, "description": "Ghost."},
    }}
    page_file.write_text("\n".join([
        "## Schema", "", "### Required", "", "- `name` (String) Name. Forces replacement.", "",
        "### Optional", "",
        "- `flag` (Boolean) Flag.",
        "- `ghost` (String) Ghost. Defaults to `x`.",
        "- `kms` (String) Key.",
        "- `prefix` (String) Prefix. Defaults to the provider's.",
        "- `secret_name` (String) Secret. Defaults to `<name>/cert`. Forces replacement.",
        "- `window` (Number) Days. Defaults to `8`.",
    ]) + "\n", encoding="utf-8")
    page = rd.read_page(page_file)
    planned = {"name": "n1", "secret_name": "n1/cert", "window": 7, "flag": False, "prefix": "p/q/r", "kms": None}
    problems = "\n".join(default_problems(page, {"name": "n1"}, planned, {"ghost": True}, block))
    for expected in ("`window` says it defaults to `8` (here `8`), the plan fills in `7`",
                     "`flag` states no default, but the plan fills in `false`",
                     "`ghost` says it defaults to `x`, but the plan leaves it unknown"):
        assert expected in problems, f"not reported: {expected}\n{problems}"
    for quiet in ("`secret_name`", "`prefix`", "`kms`", "`name`"):
        assert quiet not in problems, problems
    problems = "\n".join(replacement_problems(page, "thing", [["secret_name"], ["window"]]))
    assert "changing `window` replaces thing, but its line is not marked" in problems, problems
    assert "`name` is marked `Forces replacement.`, but changing it does not replace thing" in problems, problems
    assert "`secret_name`" not in problems, problems
    assert [k for k, _ in callouts("~> **NOTE:** Destroying it\ndisconnects.\n\ntext\n!> **WARNING:** x\n")] == \
        ["~> **NOTE:**", "!> **WARNING:**"]
    assert "disconnects" in callouts("~> **NOTE:** Destroying it\ndisconnects.\n")[0][1]


# ---------------------------------------------------------------- defaults and replacement, from the provider


def make_csr(common_name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


def make_certificate(common_name: str) -> str:
    import datetime
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


RUN = "docs"  # names of this test's objects start with it, apart from every other test's
MANAGEMENT = "maestro.management"
REGIONAL = "maestro.regional"

# The required arguments of each resource and data source, and the provider block it is
# configured with: a plan of exactly this shows every default. A new required argument fails the
# test until it is added here.
MINIMAL = {
    "maestro_agent_key": (MANAGEMENT, {"cluster_id": f"{RUN}-01"}),
    "maestro_consumer": (REGIONAL, {"consumer_id": f"{RUN}-01", "csr_pem": hcl.Raw("maestro_agent_key.this.csr_pem"),
                                    "management_account_id": aws_accounts.MANAGEMENT_ACCOUNT_ID}),
    "maestro_agent_identity": (MANAGEMENT, {"cluster_id": f"{RUN}-01", "regional_account_id": aws_accounts.REGIONAL_ACCOUNT_ID,
                                            "eks_cluster_name": f"{RUN}-mc"}),
    "maestro_server_identity": (REGIONAL, {"name": f"{RUN}-server", "eks_cluster_name": f"{RUN}-rc"}),
}
DATA_MINIMAL = {"maestro_agent_binding": (REGIONAL, {"consumer_id": f"{RUN}-01"})}
# Resources these two tests do not plan, and where their markers are checked instead: a
# registration talks to Maestro, not AWS, and needs exactly one of two API blocks.
CHECKED_ELSEWHERE = {"maestro_consumer_registration": "tests/test_consumer_registration.py::test_only_a_new_name_replaces_the_registration"}
# Arguments the applied resources set beyond the required ones: nothing lingers in a recovery
# window, so the next test can use the names again (the server identity keeps the fixed secret
# names every test with a server uses; import by identity finds its secrets only there).
APPLIED_EXTRA = {
    "maestro_agent_key": {"force_delete_without_recovery": True},
    "maestro_server_identity": {"force_delete_without_recovery": True},
}


# A declared resource policy for a key-bearing secret (the `*secret_resource_policy` arguments).
SECRET_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{aws_accounts.MANAGEMENT_ACCOUNT_ID}:role/docs-reader"},
    "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})


def alternatives() -> dict[str, dict[str, Any]]:
    """Another valid value for every argument of every resource, all changed in one plan after
    apply: the plan's `replace_paths` are then exactly the arguments whose change replaces it."""
    region = aws_accounts.REGION
    return {
        "maestro_agent_key": {
            "cluster_id": f"{RUN}-02", "algorithm": "ECDSA_P384", "force_delete_without_recovery": False,
            "kms_key_id": "alias/docs-other", "recovery_window_in_days": 8, "rotate_after_days": 30,
            "rotation_triggers": {"generation": "2"}, "secret_name": f"{RUN}-02/other-cert", "tags": {"docs": "2"},
            "secret_resource_policy": SECRET_POLICY},
        "maestro_consumer": {
            "consumer_id": f"{RUN}-02", "csr_pem": make_csr(f"{RUN}-02-work-agent"), "management_account_id": "111122223333",
            "topic_prefix": "sources/other/consumers", "cloudevents_client_id": f"{RUN}-02-agent",
            "certificate_grace_period_hours": 1, "tags": {"docs": "2"}},
        "maestro_agent_identity": {
            "cluster_id": f"{RUN}-02", "regional_account_id": "111122223333", "eks_cluster_name": f"{RUN}-mc2",
            "broker_region": "us-west-2", "namespace": "other", "service_account": "other-agent",
            "mqtt_cert_secret_name": f"{RUN}-02/other-cert", "config_secret_name": f"{RUN}-02/other-config",
            "certificate_pem": make_certificate(f"{RUN}-02"), "broker_endpoint": f"other-ats.iot.{region}.amazonaws.com",
            "broker_ca_pem": make_certificate("docs CA"), "recovery_window_in_days": 8, "topic_prefix": "sources/other/consumers",
            "cloudevents_client_id": f"{RUN}-02-agent", "kms_key_arn": f"arn:aws:kms:{region}:{aws_accounts.MANAGEMENT_ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "tags": {"docs": "2"}, "mqtt_cert_secret_resource_policy": SECRET_POLICY},
        "maestro_server_identity": {
            "name": f"{RUN}-server2", "eks_cluster_name": f"{RUN}-rc2", "algorithm": "ECDSA_P384",
            "broker_ca_pem": make_certificate("docs CA"), "certificate_grace_period_hours": 1,
            "certificate_secret_name": f"{RUN}/other-cert", "client_id_prefix": "other", "config_secret_name": f"{RUN}/other-config",
            "db_credentials_secret_arn": f"arn:aws:secretsmanager:{region}:{aws_accounts.REGIONAL_ACCOUNT_ID}:secret:{RUN}/db-AbC123",
            "force_delete_without_recovery": False,
            "kms_key_arn": f"arn:aws:kms:{region}:{aws_accounts.REGIONAL_ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "namespace": "other", "recovery_window_in_days": 8, "rotate_after_days": 30, "rotation_triggers": {"generation": "2"},
            "service_account": "other-server", "shared_subscription_group": "others", "subscription_type": "broadcast",
            "tags": {"docs": "2"}, "topic_prefix": "sources/maestro/others",
            "certificate_secret_resource_policy": SECRET_POLICY},
    }


def config(blocks: dict[str, tuple[str, dict[str, Any]]], data: dict[str, tuple[str, dict[str, Any]]] | None = None) -> str:
    text = [hcl.resource(kind, "this", arguments, provider=provider) for kind, (provider, arguments) in blocks.items()]
    for kind, (provider, arguments) in (data or {}).items():
        body = hcl.attributes({"provider": hcl.Raw(provider), **arguments})
        text.append(f'data "{kind}" "this" {{\n{body}\n}}\n')
    return "\n".join(text)


def shown(value: Any) -> str:
    """A planned value as a page writes it between backticks."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def default_problems(page: rd.DocPage, arguments: dict[str, Any], planned: dict[str, Any],
                     unknown: dict[str, Any], block: dict[str, Any]) -> list[str]:
    """What a page says each optional argument left out of `arguments` defaults to, against what
    the plan filled in (`planned`, with `unknown` its after_unknown)."""
    problems = []
    rendered = rd.render_schema(block)
    for path, entry in sorted(rendered.entries.items()):
        if not (entry.is_argument and entry.optional and entry.kind == "attribute") or path in arguments:
            continue
        line = page.entries.get(path)
        if line is None:
            continue  # reported by test_every_schema_section_matches_the_schema
        at = f"{page.path.name}:{line.line}: `{path}`"
        value, is_unknown = planned.get(path), bool(unknown.get(path))
        literal = rd.documented_default(line.description)
        if literal is not None:
            expected = re.sub(r"<([a-z_]+)>", lambda m: shown(planned.get(m.group(1), m.group(0))), literal)
            if is_unknown or value is None:
                problems.append(f"{at} says it defaults to `{literal}`, but the plan leaves it "
                                f"{'unknown' if is_unknown else 'null'}")
            elif shown(value) != expected:
                problems.append(f"{at} says it defaults to `{literal}` (here `{expected}`), the plan fills in `{shown(value)}`")
        elif value not in (None, {}, []) and not is_unknown and not rd.states_default(line.description):
            problems.append(f"{at} states no default, but the plan fills in `{shown(value)}`: add `Defaults to `...`.`")
    return problems


def replacement_problems(page: rd.DocPage, name: str, replace_paths: list[list[Any]]) -> list[str]:
    """The arguments a page marks `Forces replacement.` against a plan's `replace_paths`, made by
    changing every argument at once."""
    replaced = {path[0] for path in replace_paths if path and isinstance(path[0], str)}
    marked = {path for path, line in page.entries.items() if "." not in path and rd.states_replacement(line.description)}
    return ([f"{page.path.name}: changing `{path}` replaces {name}, but its line is not marked `Forces replacement.`"
             for path in sorted(replaced - marked)]
            + [f"{page.path.name}: `{path}` is marked `Forces replacement.`, but changing it does not replace {name}"
               for path in sorted(marked - replaced)])


def test_documented_defaults_are_what_the_provider_fills_in(provider_schema, config_workspace, management):
    """A plan of a configuration that sets only the required arguments: each optional argument's
    `Defaults to `x`` (with `<name>` standing for that argument's planned value) must be the value
    the plan shows, and an argument the plan fills in must state its default."""
    problems = [f"{name}: required argument `{path}` has no value in MINIMAL" for name, (_, arguments) in MINIMAL.items()
                for path, e in rd.render_schema(provider_schema["resource_schemas"][name]["block"]).entries.items()
                if e.is_argument and e.required and path not in arguments]
    problems += [f"{name}: a resource this test does not plan" for name in provider_schema["resource_schemas"]
                 if name not in MINIMAL and name not in CHECKED_ELSEWHERE]
    assert not problems, "\n  ".join(problems)
    aws_inspect.create_eks_cluster(management, f"{RUN}-mc")
    ws = config_workspace(config(MINIMAL, DATA_MINIMAL))
    plan = ws.plan()
    for kind, blocks, prefix in (("resource_schemas", MINIMAL, ""), ("data_source_schemas", DATA_MINIMAL, "data.")):
        for name, (_, arguments) in blocks.items():
            address = f"{prefix}{name}.this"
            if prefix:
                found = [r for section in ("prior_state", "planned_values")
                         for r in (plan.plan.get(section, {}).get("values", plan.plan.get(section, {}))
                                   .get("root_module", {}).get("resources", []))
                         if r["address"] == address]
                assert found, f"{address} was not read at plan time:\n{plan.describe()}"
                planned, unknown = found[0]["values"], {}
            else:
                change = plan.resource_change(address)["change"]
                planned, unknown = change["after"], change.get("after_unknown") or {}
            problems += default_problems(rd.read_page(rd.page_path(kind, name)), arguments, planned, unknown,
                                         provider_schema[kind][name]["block"])
    assert not problems, "documented defaults disagree with the plan:\n  " + "\n  ".join(problems)


def test_documented_replacements_are_what_the_provider_replaces(provider_schema, make_workspace, provider_preamble,
                                                              management, regional):
    """After apply, one plan changes every argument of every resource: an argument marked
    `Forces replacement.` must be among the plan's `replace_paths`, and every one there must be
    marked. Then the resources with an identity are forgotten and planned back in through import
    blocks by identity, the form the Import sections show (OpenTofu 1.12, Terraform 1.12 and later)."""
    changed = alternatives()
    problems = [f"{name}: argument `{path}` has no alternative value" for name in provider_schema["resource_schemas"]
                if name not in CHECKED_ELSEWHERE
                for path, e in rd.render_schema(provider_schema["resource_schemas"][name]["block"]).entries.items()
                if e.is_argument and path not in changed.get(name, {})]
    assert not problems, "\n  ".join(problems)
    for account, clusters in ((management, (f"{RUN}-mc", f"{RUN}-mc2")), (regional, (f"{RUN}-rc", f"{RUN}-rc2"))):
        for cluster in clusters:
            aws_inspect.create_eks_cluster(account, cluster)
    applied = {name: (provider, {**arguments, **APPLIED_EXTRA.get(name, {})}) for name, (provider, arguments) in MINIMAL.items()}
    ws = make_workspace("ws")
    ws.set_config(provider_preamble + "\n" + config(applied))
    ws.init()
    ws.apply()

    ws.set_config(provider_preamble + "\n" + config({name: (provider, changed[name]) for name, (provider, _) in MINIMAL.items()}))
    plan = ws.plan()
    for name in MINIMAL:
        change = plan.resource_change(f"{name}.this")["change"]
        problems += replacement_problems(rd.read_page(rd.page_path("resource_schemas", name)), name,
                                         change.get("replace_paths") or [])
    assert not problems, "documented replacements disagree with the plan:\n  " + "\n  ".join(problems) + "\n" + plan.describe()

    identities = provider_schema.get("resource_identity_schemas") or {}
    imports = []
    for name in sorted(n for n in MINIMAL if n in identities):
        (attribute,) = identities[name]["attributes"]
        ws.state_rm(f"{name}.this")
        imports.append(f"import {{\n  to = {name}.this\n  identity = {{\n    {attribute} = {hcl.value(applied[name][1][attribute])}\n  }}\n}}\n")
    ws.set_config(provider_preamble + "\n" + config(applied) + "\n" + "\n".join(imports))
    plan = ws.plan()
    importing = {c["address"] for c in plan.resource_changes() if c["change"].get("importing")}
    expected = {f"{n}.this" for n in MINIMAL if n in identities}
    assert importing == expected, f"import by identity planned {sorted(importing)}, expected {sorted(expected)}\n{plan.describe()}"
    ws.apply()
