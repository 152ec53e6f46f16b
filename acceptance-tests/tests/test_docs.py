"""The registry documentation in docs/ against the schema of the built provider.

The schema (`tofu providers schema -json`, or Terraform's, after `init` through the session's
mirror) is the source of truth: every resource, data source, ephemeral resource and function in
it has a page, every attribute and block of it is listed there with the schema's own
description, and nothing is listed that the schema lacks. A new attribute without
documentation, a renamed one, or a reworded description on one side only fails here. Example
usage and import syntax on each page must be the files under examples/ verbatim, so the
examples the test suite validates are the ones users read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from harness import hcl, settings
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


def function_entries(function: dict[str, Any]) -> dict[str, rd.SchemaEntry]:
    """A function's parameters, documented like arguments: `- \\`name\\` (Type) Description`."""
    found = {}
    parameters = list(function.get("parameters") or [])
    if function.get("variadic_parameter"):
        parameters.append(function["variadic_parameter"])
    for parameter in parameters:
        found[parameter["name"]] = rd.SchemaEntry(parameter["name"], "parameter", True, False, False,
                                                  rd.type_label(parameter["type"]), parameter.get("description", ""))
    return found


def entries_for(kind: str, body: dict[str, Any]) -> dict[str, rd.SchemaEntry]:
    return function_entries(body) if kind == "functions" else rd.schema_entries(body["block"])


def compare(page: rd.DocPage, expected: dict[str, rd.SchemaEntry]) -> list[str]:
    """Every difference between a page's reference lists and the schema entries it documents."""
    problems = [f"{page.path.name}: unparseable reference line: {line}" for line in page.bad_lines]
    problems += [f"{page.path.name}: `{name}` documented twice" for name in page.duplicates]
    for name, entry in sorted(expected.items()):
        documented = page.entries.get(name)
        if documented is None:
            problems.append(f"{page.path.name}: `{name}` is in the schema but not documented")
            continue
        if entry.kind == "parameter":
            want_flags, want_section = [entry.type], "Argument Reference"
        else:
            want_flags, want_section = rd.expected_flags(entry), rd.expected_section(entry)
        if documented.flags[:len(want_flags)] != want_flags:
            problems.append(f"{page.path.name}:{documented.line}: `{name}` is documented as ({', '.join(documented.flags)}), "
                            f"the schema says ({', '.join(want_flags)})")
        unknown = set(documented.flags[len(want_flags):]) - rd.FLAG_WORDS
        if unknown:
            problems.append(f"{page.path.name}:{documented.line}: `{name}` has unknown flags {sorted(unknown)}")
        sensitivity = rd.sensitivity_problem(entry, documented.flags)
        if sensitivity:
            problems.append(f"{page.path.name}:{documented.line}: `{name}` {sensitivity}")
        if documented.section != want_section:
            problems.append(f"{page.path.name}:{documented.line}: `{name}` belongs under '{want_section}', "
                            f"not '{documented.section}'")
        if rd.normalize(documented.description) != rd.normalize(entry.description):
            problems.append(f"{page.path.name}:{documented.line}: `{name}` description differs from the schema\n"
                            f"      page:   {rd.normalize(documented.description)}\n"
                            f"      schema: {rd.normalize(entry.description)}")
    for name in sorted(set(page.entries) - set(expected)):
        problems.append(f"{page.path.name}:{page.entries[name].line}: `{name}` is documented but not in the schema")
    return problems


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


def test_provider_arguments_match_docs_index(provider_schema):
    page = rd.read_page(rd.DOCS_DIR / "index.md")
    problems = compare(page, rd.schema_entries(provider_schema["provider"]["block"]))
    assert not problems, "docs/index.md disagrees with the provider schema:\n  " + "\n  ".join(problems)


def test_every_attribute_is_documented_with_the_schema_description(provider_schema):
    problems = []
    for kind, name, body in schema_objects(provider_schema):
        path = rd.page_path(kind, name)
        if path.is_file():  # a missing page is reported by test_every_schema_object_has_a_page
            problems += compare(rd.read_page(path), entries_for(kind, body))
    assert not problems, "documentation disagrees with the schema:\n  " + "\n  ".join(problems)


def test_pages_have_frontmatter_and_the_schema_description(provider_schema):
    problems = []
    for kind, name, body in schema_objects(provider_schema):
        path = rd.page_path(kind, name)
        if not path.is_file():
            continue
        page = rd.read_page(path)
        for key in ("page_title", "subcategory", "description"):
            if not page.frontmatter.get(key):
                problems.append(f"{path.name}: frontmatter lacks `{key}`")
        if not re.search(rf"^# {re.escape(name)} ", page.text, re.MULTILINE):
            problems.append(f"{path.name}: no `# {name} (...)` title")
        description = body.get("description") if kind == "functions" else body["block"].get("description")
        if description and rd.normalize(description) not in rd.normalize(page.text):
            problems.append(f"{path.name}: the schema's description of {name} is not on the page")
    assert not problems, "\n  ".join(["page problems:", *problems])


def test_function_pages_show_the_signature_and_the_summary(provider_schema):
    """A function page carries the schema's signature (`## Signature`, as the registry renders it:
    parameter names and types, return type) and its summary as the frontmatter description."""
    problems = []
    for name, function in sorted((provider_schema.get("functions") or {}).items()):
        path = rd.page_path("functions", name)
        if not path.is_file():
            continue
        page = rd.read_page(path)
        expected = rd.function_signature(name, function)
        blocks = page.fenced_blocks("Signature")
        if not blocks:
            problems.append(f"{path.name}: no code block under '## Signature'")
        elif blocks[0][1].strip() != expected:
            problems.append(f"{path.name}: signature differs from the schema\n      page:   {blocks[0][1].strip()}\n"
                            f"      schema: {expected}")
        if function.get("summary") and rd.normalize(page.frontmatter.get("description", "")) != rd.normalize(function["summary"]):
            problems.append(f"{path.name}: frontmatter description is not the function's summary "
                            f"({function['summary']!r})")
    assert not problems, "\n  ".join(["function page problems:", *problems])


def test_the_comparison_reports_every_kind_of_disagreement(tmp_path):
    """compare() and the signature check against a page written wrong on purpose, so the checks
    above cannot pass by finding nothing to compare."""
    page_file = tmp_path / "thing.md"
    page_file.write_text("\n".join([
        "---", 'page_title: "x"', "---", "# thing (Ephemeral Resource)",
        "## Argument Reference",
        "- `cluster_id` (Required, String) Management cluster identifier.",
        "- `computed_here` (Computed, String) Listed under the wrong section.",
        "## Attribute Reference",
        "- `private_key_pem` (Computed, String) The key.",
        "- `ca_pem` (Computed, String, Sensitive) The CA.",
        "- `version_id` (Computed, String) A reworded description.",
        "- `stray` (Computed, String) Not in the schema.",
        "- `cluster_id` (Required, String) Twice.",
        "- `broken line without flags",
    ]) + "\n", encoding="utf-8")
    schema = {"attributes": {
        "cluster_id": {"type": "string", "required": True, "description": "Management cluster identifier."},
        "computed_here": {"type": "string", "computed": True, "description": "Listed under the wrong section."},
        "private_key_pem": {"type": "string", "computed": True, "sensitive": True, "description": "The key."},
        "ca_pem": {"type": "string", "computed": True, "description": "The CA."},
        "version_id": {"type": "string", "computed": True, "description": "The secret version read."},
        "secret_name": {"type": "string", "optional": True, "computed": True, "description": "The secret."},
    }}
    problems = "\n".join(compare(rd.read_page(page_file), rd.schema_entries(schema)))
    for expected in ("`secret_name` is in the schema but not documented",
                     "`computed_here` belongs under 'Attribute Reference'",
                     "`private_key_pem` is sensitive in the schema but not flagged `Sensitive`",
                     "`ca_pem` is flagged `Sensitive` but the schema does not mark it sensitive",
                     "`version_id` description differs from the schema",
                     "`stray` is documented but not in the schema",
                     "`cluster_id` documented twice",
                     "unparseable reference line"):
        assert expected in problems, f"not reported: {expected}\n{problems}"

    function = {"parameters": [{"name": "consumer_id", "type": "string", "description": "The consumer."}],
                "variadic_parameter": {"name": "extra", "type": ["list", "string"]},
                "return_type": ["object", {"a": "string"}], "summary": "s", "description": "d"}
    assert rd.function_signature("f", function) == "f(consumer_id string, ...extra list of string) object"
    page_file.write_text("---\n---\n## Argument Reference\n- `consumer_id` (Number) Another text.\n", encoding="utf-8")
    problems = "\n".join(compare(rd.read_page(page_file), function_entries(function)))
    assert "`consumer_id` is documented as (Number), the schema says (String)" in problems, problems
    assert "`consumer_id` description differs from the schema" in problems, problems
    assert "`extra` is in the schema but not documented" in problems, problems


def _example_file(kind: str, name: str, file_name: str) -> Path:
    return rd.example_dir(kind, name) / file_name


def test_example_usage_is_the_example_file(provider_schema):
    problems = []
    pages = [(rd.DOCS_DIR / "index.md", rd.EXAMPLES_DIR / "provider" / "provider.tf")]
    pages += [(rd.page_path(kind, name), _example_file(kind, name, rd.KIND_EXAMPLE_FILES[kind]))
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


def test_import_section_matches_import_sh(provider_schema):
    problems = []
    for name in sorted(provider_schema.get("resource_schemas") or {}):
        page_file = rd.page_path("resource_schemas", name)
        script = _example_file("resource_schemas", name, "import.sh")
        if not page_file.is_file():
            continue
        if not script.is_file():
            problems.append(f"{name}: {script.relative_to(settings.REPO_ROOT)} is missing")
            continue
        page = rd.read_page(page_file)
        blocks = page.fenced_blocks("Import")
        shells = [content for language, content in blocks if language in ("shell", "sh", "bash")]
        if not shells or shells[0].rstrip("\n") != script.read_text(encoding="utf-8").rstrip("\n"):
            problems.append(f"{page_file.name}: the Import section's shell block is not {script.name} verbatim")
        command = IMPORT_COMMAND.search(script.read_text(encoding="utf-8"))
        if not command:
            problems.append(f"{script.relative_to(settings.REPO_ROOT)} has no `tofu import ADDRESS ID` line")
            continue
        address, import_id = command.group("address"), command.group("id").strip("'\"")
        block = re.compile(r'import\s*\{\s*to\s*=\s*' + re.escape(address) + r'\s*id\s*=\s*"' + re.escape(import_id) + r'"\s*\}')
        if not any(language == "terraform" and block.search(content) for language, content in blocks):
            problems.append(f"{page_file.name}: no import block with to = {address} and id = \"{import_id}\" "
                            "(the address and ID of import.sh)")
        for heading in ("IAM permissions",):
            if not page.section(heading).strip():
                problems.append(f"{page_file.name}: no '## {heading}' section")
    assert not problems, "\n  ".join(["import documentation problems:", *problems])


def test_iam_permission_policies_are_valid_json(provider_schema):
    import json
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


REQUIRED_GUIDES = ("architecture.md", "certificate-rotation.md", "migrating-from-modules.md")


def test_guides_exist_and_links_resolve():
    problems = [f"docs/guides/{guide} is missing" for guide in REQUIRED_GUIDES
                if not (rd.DOCS_DIR / "guides" / guide).is_file()]
    for page in sorted(rd.DOCS_DIR.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        if not text.startswith("---\n"):
            problems.append(f"{page.relative_to(settings.REPO_ROOT)}: no frontmatter")
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", text):
            if "://" not in target and not (page.parent / target).resolve().is_file():
                problems.append(f"{page.relative_to(settings.REPO_ROOT)}: link to missing {target}")
    assert not problems, "\n  ".join(["guide problems:", *problems])
